package ref

import (
	"math"

	"hallucinator/kernels"
	"hallucinator/tensor"
)

// L2NormalizeRows: y[i] = x[i] / max(||x[i]||, eps) for x [M, N]; writes the
// clamped norms to norms [M]. y may not alias x.
func (*Backend) L2NormalizeRows(eps float32, x, y, norms *tensor.Tensor) {
	const op = "L2NormalizeRows"
	dims(op, "x", x, 2)
	m, n := x.Dim(0), x.Dim(1)
	kernels.CheckShape(name, op, "y", y, m, n)
	kernels.CheckShape(name, op, "norms", norms, m)
	xs, ys, ns := host(op, "x", x), host(op, "y", y), host(op, "norms", norms)
	for i := 0; i < m; i++ {
		row := xs[i*n : (i+1)*n]
		nrm := math.Max(math.Sqrt(sumSquares(row)), float64(eps))
		for j, v := range row {
			ys[i*n+j] = float32(float64(v) / nrm)
		}
		ns[i] = float32(nrm)
	}
}

// L2NormalizeRowsBackward: dx from y, norms and dy, row by row:
// dx = (dy - y * <y, dy>) / norm, or dy / norm where the norm was clamped
// to eps.
func (*Backend) L2NormalizeRowsBackward(eps float32, y, norms, dy, dx *tensor.Tensor) {
	const op = "L2NormalizeRowsBackward"
	dims(op, "y", y, 2)
	m, n := y.Dim(0), y.Dim(1)
	kernels.CheckShape(name, op, "norms", norms, m)
	kernels.CheckShape(name, op, "dy", dy, m, n)
	kernels.CheckShape(name, op, "dx", dx, m, n)
	ys, ns, gs, ds := host(op, "y", y), host(op, "norms", norms), host(op, "dy", dy), host(op, "dx", dx)
	for i := 0; i < m; i++ {
		yr, gr, dr := ys[i*n:(i+1)*n], gs[i*n:(i+1)*n], ds[i*n:(i+1)*n]
		l2normBackward(yr, gr, float64(ns[i]), ns[i] <= eps, dr)
	}
}

// l2normBackward writes into d the gradient w.r.t. x of y = x/norm given
// dy = g: (g - y<y,g>)/norm, or g/norm when the norm was clamped. d may
// alias g.
func l2normBackward(y, g []float32, norm float64, clamped bool, d []float32) {
	var dot float64
	if !clamped {
		for j, v := range y {
			dot += float64(v) * float64(g[j])
		}
	}
	for j, v := range y {
		d[j] = float32((float64(g[j]) - float64(v)*dot) / norm)
	}
}

// SoftmaxCrossEntropy: loss [1] = mean over rows of -log softmax(logits
// [N, C])[label]; dlogits (may be nil) = (softmax - onehot)/N. Labels must
// lie in [0, C).
func (*Backend) SoftmaxCrossEntropy(logits *tensor.Tensor, labels []int32, loss, dlogits *tensor.Tensor) {
	const op = "SoftmaxCrossEntropy"
	dims(op, "logits", logits, 2)
	n, c := logits.Dim(0), logits.Dim(1)
	if len(labels) != n {
		kernels.Panicf(name, "%s: %d labels for %d rows", op, len(labels), n)
	}
	kernels.CheckShape(name, op, "loss", loss, 1)
	ls, out := host(op, "logits", logits), host(op, "loss", loss)
	var ds []float32
	if dlogits != nil {
		kernels.CheckShape(name, op, "dlogits", dlogits, n, c)
		ds = host(op, "dlogits", dlogits)
	}
	var total float64
	for i := 0; i < n; i++ {
		lab := int(labels[i])
		if lab < 0 || lab >= c {
			kernels.Panicf(name, "%s: label %d of row %d out of [0, %d)", op, lab, i, c)
		}
		row := ls[i*c : (i+1)*c]
		mx := math.Inf(-1)
		for _, v := range row {
			mx = math.Max(mx, float64(v))
		}
		var z float64
		for _, v := range row {
			z += math.Exp(float64(v) - mx)
		}
		lse := mx + math.Log(z)
		total += lse - float64(row[lab])
		if ds != nil {
			for j, v := range row {
				g := math.Exp(float64(v) - lse)
				if j == lab {
					g--
				}
				ds[i*c+j] = float32(g / float64(n))
			}
		}
	}
	out[0] = float32(total / float64(n))
}
