package cpu

import (
	"math"

	"hallucinator/kernels"
	"hallucinator/tensor"
)

// matrix checks that t is 2-D and returns its rows and columns.
func matrix(op, arg string, t *tensor.Tensor) (m, n int) {
	if t == nil || t.Dims() != 2 {
		var s any = "nil"
		if t != nil {
			s = t.Shape()
		}
		kernels.Panicf(name, "%s: %s has shape %v, want 2 dimensions", op, arg, s)
	}
	return t.Dim(0), t.Dim(1)
}

// normalizeRows writes y[i] = x[i] / max(||x[i]||, eps) for the rows
// [lo, hi) of x [., n] and the clamped norms.
func normalizeRows(x, y []float32, n, lo, hi int, eps float32, norms []float32) {
	for i := lo; i < hi; i++ {
		row := x[i*n : (i+1)*n]
		nrm := math.Max(math.Sqrt(sumSq64(row)), float64(eps))
		inv := 1 / nrm
		out := y[i*n : (i+1)*n]
		for j, v := range row {
			out[j] = float32(float64(v) * inv)
		}
		norms[i] = float32(nrm)
	}
}

// normalizeRowsBackward writes dx = (dy - y*<y, dy>)/norm (dy/norm where
// the norm was clamped to eps) for the rows [lo, hi).
func normalizeRowsBackward(y, dy, dx []float32, n, lo, hi int, eps float32, norms []float32) {
	for i := lo; i < hi; i++ {
		yr, gr, dr := y[i*n:(i+1)*n], dy[i*n:(i+1)*n], dx[i*n:(i+1)*n]
		var dot float64
		if norms[i] > eps {
			dot = dot64(yr, gr)
		}
		inv := 1 / float64(norms[i])
		for j, v := range yr {
			dr[j] = float32((float64(gr[j]) - float64(v)*dot) * inv)
		}
	}
}

// L2NormalizeRows writes y[i] = x[i] / max(||x[i]||, eps) and the clamped
// norms, parallel over rows.
func (b *Backend) L2NormalizeRows(eps float32, x, y, norms *tensor.Tensor) {
	const op = "L2NormalizeRows"
	m, n := matrix(op, "x", x)
	kernels.CheckShape(name, op, "y", y, m, n)
	kernels.CheckShape(name, op, "norms", norms, m)
	xd, yd, nd := data(op, x), data(op, y), data(op, norms)
	b.parallel(m, 3*n, func(lo, hi int) { normalizeRows(xd, yd, n, lo, hi, eps, nd) })
}

// L2NormalizeRowsBackward writes dx from y, the norms and dy, parallel over
// rows.
func (b *Backend) L2NormalizeRowsBackward(eps float32, y, norms, dy, dx *tensor.Tensor) {
	const op = "L2NormalizeRowsBackward"
	m, n := matrix(op, "y", y)
	kernels.CheckShape(name, op, "norms", norms, m)
	kernels.CheckShape(name, op, "dy", dy, m, n)
	kernels.CheckShape(name, op, "dx", dx, m, n)
	yd, nd, gd, dd := data(op, y), data(op, norms), data(op, dy), data(op, dx)
	b.parallel(m, 3*n, func(lo, hi int) { normalizeRowsBackward(yd, gd, dd, n, lo, hi, eps, nd) })
}

// logSumExp returns the log of the sum of exp(v) over row, in float64.
func logSumExp(row []float32) float64 {
	mx := math.Inf(-1)
	for _, v := range row {
		mx = math.Max(mx, float64(v))
	}
	var z float64
	for _, v := range row {
		z += math.Exp(float64(v) - mx)
	}
	return mx + math.Log(z)
}

// SoftmaxCrossEntropy writes the mean over rows of -log softmax at the label
// and, when dlogits is not nil, (softmax - onehot)/N; parallel over rows.
func (b *Backend) SoftmaxCrossEntropy(logits *tensor.Tensor, labels []int32, loss, dlogits *tensor.Tensor) {
	const op = "SoftmaxCrossEntropy"
	n, c := matrix(op, "logits", logits)
	if len(labels) != n {
		kernels.Panicf(name, "%s: %d labels for %d rows", op, len(labels), n)
	}
	for i, l := range labels {
		if l < 0 || int(l) >= c {
			kernels.Panicf(name, "%s: label %d of row %d out of [0, %d)", op, l, i, c)
		}
	}
	kernels.CheckShape(name, op, "loss", loss, 1)
	ld := data(op, logits)
	var dd []float32
	if dlogits != nil {
		kernels.CheckShape(name, op, "dlogits", dlogits, n, c)
		dd = data(op, dlogits)
	}
	rowLoss := make([]float64, n)
	invN := 1 / float64(n)
	b.parallel(n, 8*c, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row := ld[i*c : (i+1)*c]
			lse := logSumExp(row)
			lab := int(labels[i])
			rowLoss[i] = lse - float64(row[lab])
			if dd == nil {
				continue
			}
			out := dd[i*c : (i+1)*c]
			for j, v := range row {
				out[j] = float32(math.Exp(float64(v)-lse) * invN)
			}
			out[lab] = float32((math.Exp(float64(row[lab])-lse) - 1) * invN)
		}
	})
	var total float64
	for _, v := range rowLoss {
		total += v
	}
	data(op, loss)[0] = float32(total * invN)
}
