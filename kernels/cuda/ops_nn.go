package cuda

import (
	"math"

	"hallucinator/kernels"
	"hallucinator/tensor"
)

// --- bias ---

// biasShape returns outer, C, inner of y seen as [outer, C, inner].
func biasShape(op string, y *tensor.Tensor) (outer, c, inner int) {
	if y == nil || y.Dims() < 2 {
		kernels.Panicf(name, "%s: y needs at least 2 dimensions", op)
	}
	sh := y.Shape()
	return sh[0], sh[1], tensor.Numel(sh[2:])
}

// BiasAdd: y[o, c, i] += b[c].
func (b *Backend) BiasAdd(bias, y *tensor.Tensor) {
	const op = "BiasAdd"
	outer, c, inner := biasShape(op, y)
	kernels.CheckSameNumel(name, op, c, bias)
	pb, py := b.ptr(op, "b", bias), b.ptr(op, "y", y)
	b.bind()
	b.check(op, b.h.biasAdd(b.stream, pb, py, int64(outer), c, int64(inner)), bias, y)
}

// BiasGrad: db[c] = sum over outer and inner of dy[o, c, i].
func (b *Backend) BiasGrad(dy, db *tensor.Tensor) {
	const op = "BiasGrad"
	outer, c, inner := biasShape(op, dy)
	kernels.CheckSameNumel(name, op, c, db)
	pdy, pdb := b.ptr(op, "dy", dy), b.ptr(op, "db", db)
	b.bind()
	b.check(op, b.h.biasGrad(b.stream, pdy, pdb, int64(outer), c, int64(inner)), dy, db)
}

// --- batch normalisation ---

// bnArgsFor checks x ([N, C] or [N, C, ...]) and the per-channel tensors.
func bnArgsFor(op string, p kernels.BNParams, x *tensor.Tensor, names []string, chans ...*tensor.Tensor) bnArgs {
	if x == nil || x.Dims() < 2 {
		kernels.Panicf(name, "%s: x needs shape [N, C] or [N, C, H, W]", op)
	}
	sh := x.Shape()
	n, c, hw := sh[0], sh[1], tensor.Numel(sh[2:])
	for i, t := range chans {
		kernels.CheckShape(name, op, names[i], t, c)
	}
	return bnArgs{N: int32(n), C: int32(c), HW: int32(hw), Eps: p.Eps, Momentum: p.Momentum, Relu: b2i(p.ReLU)}
}

// empty reports whether a batch-norm problem has no values at all.
func (a *bnArgs) empty() bool { return a.N == 0 || a.C == 0 || a.HW == 0 }

// BatchNormTrain normalises with batch statistics and updates the running
// ones.
func (b *Backend) BatchNormTrain(p kernels.BNParams, x, gamma, beta, y, saveMean, saveInvstd, runMean, runVar *tensor.Tensor) {
	const op = "BatchNormTrain"
	a := bnArgsFor(op, p, x, []string{"gamma", "beta", "saveMean", "saveInvstd", "runMean", "runVar"},
		gamma, beta, saveMean, saveInvstd, runMean, runVar)
	kernels.CheckShape(name, op, "y", y, x.Shape()...)
	if int(a.N)*int(a.HW) < 2 {
		kernels.Panicf(name, "%s: %d value per channel (shape %v), need at least 2", op, int(a.N)*int(a.HW), x.Shape())
	}
	px, pg, pb, py := b.ptr(op, "x", x), b.ptr(op, "gamma", gamma), b.ptr(op, "beta", beta), b.ptr(op, "y", y)
	psm, psi := b.ptr(op, "saveMean", saveMean), b.ptr(op, "saveInvstd", saveInvstd)
	prm, prv := b.ptr(op, "runMean", runMean), b.ptr(op, "runVar", runVar)
	if a.C == 0 {
		return
	}
	b.bind()
	ws := b.scratch(b.h.bnWorkspace(&a))
	defer ws.done()
	b.check(op, b.h.bnFwdTrain(b.stream, px, pg, pb, py, psm, psi, prm, prv, ws.ptr(), &a),
		x, gamma, beta, y, saveMean, saveInvstd, runMean, runVar)
}

// BatchNormInfer normalises with the running statistics.
func (b *Backend) BatchNormInfer(p kernels.BNParams, x, gamma, beta, runMean, runVar, y *tensor.Tensor) {
	const op = "BatchNormInfer"
	a := bnArgsFor(op, p, x, []string{"gamma", "beta", "runMean", "runVar"}, gamma, beta, runMean, runVar)
	kernels.CheckShape(name, op, "y", y, x.Shape()...)
	px, pg, pb, py := b.ptr(op, "x", x), b.ptr(op, "gamma", gamma), b.ptr(op, "beta", beta), b.ptr(op, "y", y)
	prm, prv := b.ptr(op, "runMean", runMean), b.ptr(op, "runVar", runVar)
	if a.empty() {
		return
	}
	b.bind()
	b.check(op, b.h.bnFwdInfer(b.stream, px, pg, pb, prm, prv, py, &a), x, gamma, beta, runMean, runVar, y)
}

// BatchNormBackward computes dx, dgamma, dbeta of a training-mode forward.
func (b *Backend) BatchNormBackward(p kernels.BNParams, x, y, dy, gamma, saveMean, saveInvstd, dx, dgamma, dbeta *tensor.Tensor) {
	const op = "BatchNormBackward"
	a := bnArgsFor(op, p, x, []string{"gamma", "saveMean", "saveInvstd", "dgamma", "dbeta"},
		gamma, saveMean, saveInvstd, dgamma, dbeta)
	kernels.CheckShape(name, op, "dy", dy, x.Shape()...)
	kernels.CheckShape(name, op, "dx", dx, x.Shape()...)
	var py dptr
	if p.ReLU {
		kernels.CheckShape(name, op, "y", y, x.Shape()...)
		py = b.ptr(op, "y", y)
	}
	px, pdy, pg := b.ptr(op, "x", x), b.ptr(op, "dy", dy), b.ptr(op, "gamma", gamma)
	psm, psi := b.ptr(op, "saveMean", saveMean), b.ptr(op, "saveInvstd", saveInvstd)
	pdx, pdg, pdb := b.ptr(op, "dx", dx), b.ptr(op, "dgamma", dgamma), b.ptr(op, "dbeta", dbeta)
	if a.C == 0 {
		return
	}
	b.bind()
	if a.N == 0 || a.HW == 0 {
		// No values: the sums are zero.
		b.check(op, b.h.fill(b.stream, pdg, int64(a.C), 0), dgamma)
		b.check(op, b.h.fill(b.stream, pdb, int64(a.C), 0), dbeta)
		return
	}
	ws := b.scratch(b.h.bnWorkspace(&a))
	defer ws.done()
	b.check(op, b.h.bnBwd(b.stream, px, py, pdy, pg, psm, psi, pdx, pdg, pdb, ws.ptr(), &a),
		x, y, dy, gamma, saveMean, saveInvstd, dx, dgamma, dbeta)
}

// --- activations and pooling ---

// Relu: y = max(x, 0). y may alias x.
func (b *Backend) Relu(x, y *tensor.Tensor) {
	const op = "Relu"
	px, py := b.ptr(op, "x", x), b.ptr(op, "y", y)
	kernels.CheckSameNumel(name, op, x.Numel(), y)
	b.bind()
	b.check(op, b.h.relu(b.stream, px, py, int64(x.Numel())), x, y)
}

// ReluBackward: dx = dy where y > 0, else 0. dx may alias dy.
func (b *Backend) ReluBackward(y, dy, dx *tensor.Tensor) {
	const op = "ReluBackward"
	py, pdy, pdx := b.ptr(op, "y", y), b.ptr(op, "dy", dy), b.ptr(op, "dx", dx)
	kernels.CheckSameNumel(name, op, y.Numel(), dy, dx)
	b.bind()
	b.check(op, b.h.reluBwd(b.stream, py, pdy, pdx, int64(y.Numel())), y, dy, dx)
}

// poolArgsFor validates a max pool's parameters and shapes.
func poolArgsFor(op string, pp kernels.PoolParams, x, y *tensor.Tensor) poolArgs {
	dims(op, "x", x, 4)
	if pp.KH < 1 || pp.KW < 1 || pp.StrideH < 1 || pp.StrideW < 1 || pp.PadH < 0 || pp.PadW < 0 ||
		pp.PadH >= pp.KH || pp.PadW >= pp.KW {
		kernels.Panicf(name, "%s: bad parameters %+v", op, pp)
	}
	xs := x.Shape()
	n, c, h, w := xs[0], xs[1], xs[2], xs[3]
	if h+2*pp.PadH < pp.KH || w+2*pp.PadW < pp.KW {
		kernels.Panicf(name, "%s: window %dx%d larger than the padded %dx%d input", op, pp.KH, pp.KW,
			h+2*pp.PadH, w+2*pp.PadW)
	}
	p, q := pp.OutSize(h, w)
	kernels.CheckShape(name, op, "y", y, n, c, p, q)
	return poolArgs{N: int32(n), C: int32(c), H: int32(h), W: int32(w), P: int32(p), Q: int32(q), Kh: int32(pp.KH),
		Kw: int32(pp.KW), StrideH: int32(pp.StrideH), StrideW: int32(pp.StrideW), PadH: int32(pp.PadH),
		PadW: int32(pp.PadW)}
}

// MaxPool2d: y = max over each window of x.
func (b *Backend) MaxPool2d(p kernels.PoolParams, x, y *tensor.Tensor) {
	const op = "MaxPool2d"
	a := poolArgsFor(op, p, x, y)
	px, py := b.ptr(op, "x", x), b.ptr(op, "y", y)
	b.bind()
	b.check(op, b.h.maxpoolFwd(b.stream, px, py, &a), x, y)
}

// MaxPool2dBackward: dx = dy routed to the first maximum of each window.
func (b *Backend) MaxPool2dBackward(p kernels.PoolParams, x, y, dy, dx *tensor.Tensor) {
	const op = "MaxPool2dBackward"
	a := poolArgsFor(op, p, x, y)
	kernels.CheckShape(name, op, "dy", dy, y.Shape()...)
	kernels.CheckShape(name, op, "dx", dx, x.Shape()...)
	px, py, pdy, pdx := b.ptr(op, "x", x), b.ptr(op, "y", y), b.ptr(op, "dy", dy), b.ptr(op, "dx", dx)
	b.bind()
	b.check(op, b.h.maxpoolBwd(b.stream, px, py, pdy, pdx, &a), x, y, dy, dx)
}

// GlobalAvgPool: y [N, C] = mean over H, W of x [N, C, H, W].
func (b *Backend) GlobalAvgPool(x, y *tensor.Tensor) {
	const op = "GlobalAvgPool"
	dims(op, "x", x, 4)
	sh := x.Shape()
	kernels.CheckShape(name, op, "y", y, sh[0], sh[1])
	px, py := b.ptr(op, "x", x), b.ptr(op, "y", y)
	nc, hw := sh[0]*sh[1], sh[2]*sh[3]
	if nc == 0 {
		return
	}
	b.bind()
	if hw == 0 {
		// The mean of no values, as the reference computes it: 0/0.
		b.check(op, b.h.fill(b.stream, py, int64(nc), float32(math.NaN())), y)
		return
	}
	b.check(op, b.h.globalAvgpoolFwd(b.stream, px, py, int64(nc), hw), x, y)
}

// GlobalAvgPoolBackward: dx = dy / (H*W) broadcast.
func (b *Backend) GlobalAvgPoolBackward(dy, dx *tensor.Tensor) {
	const op = "GlobalAvgPoolBackward"
	dims(op, "dx", dx, 4)
	sh := dx.Shape()
	kernels.CheckShape(name, op, "dy", dy, sh[0], sh[1])
	pdy, pdx := b.ptr(op, "dy", dy), b.ptr(op, "dx", dx)
	nc, hw := sh[0]*sh[1], sh[2]*sh[3]
	if nc == 0 || hw == 0 {
		return
	}
	b.bind()
	b.check(op, b.h.globalAvgpoolBwd(b.stream, pdy, pdx, int64(nc), hw), dy, dx)
}

// --- element-wise ---

// binary runs one of the two-input element-wise entry points.
func (b *Backend) binary(op string, k func(stream uintptr, a, b, y dptr, n int64) int, x, y, dst *tensor.Tensor) {
	px, py, pd := b.ptr(op, "a", x), b.ptr(op, "b", y), b.ptr(op, "dst", dst)
	kernels.CheckSameNumel(name, op, x.Numel(), y, dst)
	b.bind()
	b.check(op, k(b.stream, px, py, pd, int64(x.Numel())), x, y, dst)
}

// Add: dst = a + b.
func (b *Backend) Add(x, y, dst *tensor.Tensor) { b.binary("Add", b.h.add, x, y, dst) }

// Sub: dst = a - b.
func (b *Backend) Sub(x, y, dst *tensor.Tensor) { b.binary("Sub", b.h.sub, x, y, dst) }

// Mul: dst = a * b.
func (b *Backend) Mul(x, y, dst *tensor.Tensor) { b.binary("Mul", b.h.mul, x, y, dst) }

// Scale: dst = s * a.
func (b *Backend) Scale(s float32, x, dst *tensor.Tensor) {
	const op = "Scale"
	px, pd := b.ptr(op, "a", x), b.ptr(op, "dst", dst)
	kernels.CheckSameNumel(name, op, x.Numel(), dst)
	b.bind()
	b.check(op, b.h.scale(b.stream, s, px, pd, int64(x.Numel())), x, dst)
}

// Axpy: y += alpha * x.
func (b *Backend) Axpy(alpha float32, x, y *tensor.Tensor) {
	const op = "Axpy"
	px, py := b.ptr(op, "x", x), b.ptr(op, "y", y)
	kernels.CheckSameNumel(name, op, x.Numel(), y)
	b.bind()
	b.check(op, b.h.axpy(b.stream, alpha, px, py, int64(x.Numel())), x, y)
}

// --- reductions ---

// Sum: dst [1] = sum of all elements of x.
func (b *Backend) Sum(x, dst *tensor.Tensor) {
	const op = "Sum"
	px, pd := b.ptr(op, "x", x), b.ptr(op, "dst", dst)
	kernels.CheckSameNumel(name, op, 1, dst)
	n := int64(x.Numel())
	b.bind()
	ws := b.scratch(b.h.sumWorkspace(n))
	defer ws.done()
	b.check(op, b.h.sum(b.stream, px, n, pd, ws.ptr()), x, dst)
}

// matrix returns the other dimension of x seen as a matrix with one
// dimension n.
func matrix(op string, x *tensor.Tensor, n int) int {
	if n == 0 || x.Numel()%n != 0 {
		kernels.Panicf(name, "%s: x of shape %v is not a matrix with a dimension of %d", op, x.Shape(), n)
	}
	return x.Numel() / n
}

// int32Dims panics unless a matrix fits the kernels' int dimensions.
func int32Dims(op string, m, n int) {
	if m > 1<<31-1 || n > 1<<31-1 {
		kernels.Panicf(name, "%s: dimensions %d x %d exceed the kernels' 32-bit sizes", op, m, n)
	}
}

// SumRows: dst [N] = column sums of x seen as [M, N].
func (b *Backend) SumRows(x, dst *tensor.Tensor) {
	const op = "SumRows"
	px, pd := b.ptr(op, "x", x), b.ptr(op, "dst", dst)
	n := dst.Numel()
	m := matrix(op, x, n)
	int32Dims(op, m, n)
	b.bind()
	b.check(op, b.h.sumRows(b.stream, px, m, n, pd), x, dst)
}

// SumCols: dst [M] = row sums of x seen as [M, N].
func (b *Backend) SumCols(x, dst *tensor.Tensor) {
	const op = "SumCols"
	px, pd := b.ptr(op, "x", x), b.ptr(op, "dst", dst)
	m := dst.Numel()
	n := matrix(op, x, m)
	int32Dims(op, m, n)
	b.bind()
	b.check(op, b.h.sumCols(b.stream, px, m, n, pd), x, dst)
}

// SumSquares: dst[i] = sum of squares of xs[i].
func (b *Backend) SumSquares(xs []*tensor.Tensor, dst *tensor.Tensor) {
	const op = "SumSquares"
	pd := b.ptr(op, "dst", dst)
	kernels.CheckSameNumel(name, op, len(xs), dst)
	if len(xs) == 0 {
		return
	}
	l := newMTList(len(xs))
	for _, x := range xs {
		l.add(mtTensor{P: b.ptr(op, "xs[i]", x), N: int64(x.Numel())})
	}
	b.bind()
	ws := b.scratch(b.h.mtWorkspace(l.count, l.nchunks))
	defer ws.done()
	list := b.upload(op, l.bytes())
	b.check(op, b.h.sumSquares(b.stream, list, l.count, l.nchunks, pd, ws.ptr()), append(xs, dst)...)
}

// --- normalisation and losses ---

// L2NormalizeRows: y[i] = x[i] / max(||x[i]||, eps); norms [M] the clamped
// norms.
func (b *Backend) L2NormalizeRows(eps float32, x, y, norms *tensor.Tensor) {
	const op = "L2NormalizeRows"
	dims(op, "x", x, 2)
	m, n := x.Dim(0), x.Dim(1)
	kernels.CheckShape(name, op, "y", y, m, n)
	kernels.CheckShape(name, op, "norms", norms, m)
	px, py, pn := b.ptr(op, "x", x), b.ptr(op, "y", y), b.ptr(op, "norms", norms)
	int32Dims(op, m, n)
	b.bind()
	b.check(op, b.h.l2normRows(b.stream, px, py, pn, m, n, eps), x, y, norms)
}

// L2NormalizeRowsBackward: dx from y, norms and dy.
func (b *Backend) L2NormalizeRowsBackward(eps float32, y, norms, dy, dx *tensor.Tensor) {
	const op = "L2NormalizeRowsBackward"
	dims(op, "y", y, 2)
	m, n := y.Dim(0), y.Dim(1)
	kernels.CheckShape(name, op, "norms", norms, m)
	kernels.CheckShape(name, op, "dy", dy, m, n)
	kernels.CheckShape(name, op, "dx", dx, m, n)
	py, pn, pdy, pdx := b.ptr(op, "y", y), b.ptr(op, "norms", norms), b.ptr(op, "dy", dy), b.ptr(op, "dx", dx)
	int32Dims(op, m, n)
	b.bind()
	b.check(op, b.h.l2normRowsBwd(b.stream, py, pn, pdy, pdx, m, n, eps), y, norms, dy, dx)
}

// SoftmaxCrossEntropy: loss [1] = mean over rows of -log softmax at the
// label; dlogits (may be nil) = (softmax - onehot)/N.
func (b *Backend) SoftmaxCrossEntropy(logits *tensor.Tensor, labels []int32, loss, dlogits *tensor.Tensor) {
	const op = "SoftmaxCrossEntropy"
	dims(op, "logits", logits, 2)
	n, c := logits.Dim(0), logits.Dim(1)
	if len(labels) != n {
		kernels.Panicf(name, "%s: %d labels for %d rows", op, len(labels), n)
	}
	kernels.CheckShape(name, op, "loss", loss, 1)
	for i, lab := range labels {
		if lab < 0 || int(lab) >= c {
			kernels.Panicf(name, "%s: label %d of row %d out of [0, %d)", op, lab, i, c)
		}
	}
	if dlogits != nil {
		kernels.CheckShape(name, op, "dlogits", dlogits, n, c)
	}
	pl, ploss, pd := b.ptr(op, "logits", logits), b.ptr(op, "loss", loss), b.optPtr(op, "dlogits", dlogits)
	int32Dims(op, n, c)
	b.bind()
	if n == 0 {
		// The mean over no rows, as the reference computes it: 0/0.
		b.check(op, b.h.fill(b.stream, ploss, 1, float32(math.NaN())), loss)
		return
	}
	ws := b.scratch(b.h.softmaxCEWorkspace(n, c))
	defer ws.done()
	lab := b.upload(op, int32Bytes(nil, labels))
	b.check(op, b.h.softmaxCE(b.stream, pl, lab, ploss, pd, n, c, ws.ptr()), logits, loss, dlogits)
}
