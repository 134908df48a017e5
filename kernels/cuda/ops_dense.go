package cuda

import (
	"hallucinator/kernels"
	"hallucinator/tensor"
)

// dims panics unless t is non-nil with n dimensions.
func dims(op, arg string, t *tensor.Tensor, n int) {
	if t == nil {
		kernels.Panicf(name, "%s: %s is nil", op, arg)
	}
	if t.Dims() != n {
		kernels.Panicf(name, "%s: %s has shape %v, want %d dimensions", op, arg, t.Shape(), n)
	}
}

// gemmDims returns M, N, K of C = op(A) op(B) from the (per-batch) shapes,
// panicking when they do not fit.
func gemmDims(op string, transA, transB bool, as, bs, cs []int) (m, n, k int) {
	m, k = as[0], as[1]
	if transA {
		m, k = k, m
	}
	kb, n := bs[0], bs[1]
	if transB {
		kb, n = n, kb
	}
	if kb != k || cs[0] != m || cs[1] != n {
		kernels.Panicf(name, "%s: op(A) is [%d %d], op(B) is [%d %d], C is %v (transA=%v transB=%v)",
			op, m, k, kb, n, cs, transA, transB)
	}
	return m, n, k
}

// gemmArgsFor fills hal_gemm_args for row-major A, B, C stored densely.
func (b *Backend) gemmArgsFor(transA, transB bool, m, n, k, batch int, alpha, beta float32) gemmArgs {
	lda, ldb := k, n
	if transA {
		lda = m
	}
	if transB {
		ldb = k
	}
	return gemmArgs{
		TransA: b2i(transA), TransB: b2i(transB), M: int32(m), N: int32(n), K: int32(k),
		Lda: int32(max(lda, 1)), Ldb: int32(max(ldb, 1)), Ldc: int32(max(n, 1)), Batch: int32(max(batch, 1)),
		StrideA: int64(m) * int64(k), StrideB: int64(k) * int64(n), StrideC: int64(m) * int64(n),
		Alpha: alpha, Beta: beta, TF32: b2i(b.tf32),
	}
}

// Gemm: C = alpha * op(A) op(B) + beta * C.
func (b *Backend) Gemm(transA, transB bool, alpha float32, a, bm *tensor.Tensor, beta float32, c *tensor.Tensor) {
	const op = "Gemm"
	dims(op, "A", a, 2)
	dims(op, "B", bm, 2)
	dims(op, "C", c, 2)
	m, n, k := gemmDims(op, transA, transB, a.Shape(), bm.Shape(), c.Shape())
	pa, pb, pc := b.ptr(op, "A", a), b.ptr(op, "B", bm), b.ptr(op, "C", c)
	args := b.gemmArgsFor(transA, transB, m, n, k, 1, alpha, beta)
	b.bind()
	b.check(op, b.h.gemm(b.stream, pa, pb, pc, &args), a, bm, c)
}

// GemmBatched is Gemm on 3-D tensors [batch, ., .].
func (b *Backend) GemmBatched(transA, transB bool, alpha float32, a, bm *tensor.Tensor, beta float32, c *tensor.Tensor) {
	const op = "GemmBatched"
	dims(op, "A", a, 3)
	dims(op, "B", bm, 3)
	dims(op, "C", c, 3)
	batch := a.Dim(0)
	if bm.Dim(0) != batch || c.Dim(0) != batch {
		kernels.Panicf(name, "%s: batch sizes %d, %d, %d differ", op, batch, bm.Dim(0), c.Dim(0))
	}
	m, n, k := gemmDims(op, transA, transB, a.Shape()[1:], bm.Shape()[1:], c.Shape()[1:])
	pa, pb, pc := b.ptr(op, "A", a), b.ptr(op, "B", bm), b.ptr(op, "C", c)
	if batch == 0 {
		return
	}
	args := b.gemmArgsFor(transA, transB, m, n, k, batch, alpha, beta)
	b.bind()
	b.check(op, b.h.gemm(b.stream, pa, pb, pc, &args), a, bm, c)
}

// convArgsFor validates a convolution's shapes like the reference and
// returns hal_conv_args.
func (b *Backend) convArgsFor(op string, cp kernels.ConvParams, x, w, y *tensor.Tensor) convArgs {
	dims(op, "x", x, 4)
	dims(op, "w", w, 4)
	dims(op, "y", y, 4)
	if cp.StrideH < 1 || cp.StrideW < 1 || cp.PadH < 0 || cp.PadW < 0 {
		kernels.Panicf(name, "%s: bad parameters %+v", op, cp)
	}
	xs, ws := x.Shape(), w.Shape()
	n, c, h, wd, k, r, s := xs[0], xs[1], xs[2], xs[3], ws[0], ws[2], ws[3]
	if ws[1] != c {
		kernels.Panicf(name, "%s: x has shape %v but w has shape %v", op, xs, ws)
	}
	if h+2*cp.PadH < r || wd+2*cp.PadW < s {
		kernels.Panicf(name, "%s: filter %dx%d larger than the padded %dx%d input", op, r, s, h+2*cp.PadH,
			wd+2*cp.PadW)
	}
	p, q := cp.OutSize(h, wd, r, s)
	kernels.CheckShape(name, op, "y", y, n, k, p, q)
	return convArgs{N: int32(n), C: int32(c), H: int32(h), W: int32(wd), K: int32(k), R: int32(r), S: int32(s),
		P: int32(p), Q: int32(q), StrideH: int32(cp.StrideH), StrideW: int32(cp.StrideW), PadH: int32(cp.PadH),
		PadW: int32(cp.PadW), TF32: b2i(b.tf32)}
}

// Conv2d: y = conv(x, w).
func (b *Backend) Conv2d(p kernels.ConvParams, x, w, y *tensor.Tensor) {
	const op = "Conv2d"
	a := b.convArgsFor(op, p, x, w, y)
	px, pw, py := b.ptr(op, "x", x), b.ptr(op, "w", w), b.ptr(op, "y", y)
	b.bind()
	b.check(op, b.h.conv2dFwd(b.stream, px, pw, py, &a), x, w, y)
}

// Conv2dBackwardData: dx from dy and w.
func (b *Backend) Conv2dBackwardData(p kernels.ConvParams, dy, w, dx *tensor.Tensor) {
	const op = "Conv2dBackwardData"
	a := b.convArgsFor(op, p, dx, w, dy)
	pdy, pw, pdx := b.ptr(op, "dy", dy), b.ptr(op, "w", w), b.ptr(op, "dx", dx)
	b.bind()
	b.check(op, b.h.conv2dBwdData(b.stream, pdy, pw, pdx, &a), dy, w, dx)
}

// Conv2dBackwardFilter: dw from x and dy.
func (b *Backend) Conv2dBackwardFilter(p kernels.ConvParams, x, dy, dw *tensor.Tensor) {
	const op = "Conv2dBackwardFilter"
	a := b.convArgsFor(op, p, x, dw, dy)
	px, pdy, pdw := b.ptr(op, "x", x), b.ptr(op, "dy", dy), b.ptr(op, "dw", dw)
	b.bind()
	b.check(op, b.h.conv2dBwdFilter(b.stream, px, pdy, pdw, &a), x, dy, dw)
}

// InfoNCE: the fused contrastive loss of kernels.InfoNCEParams.
func (b *Backend) InfoNCE(p kernels.InfoNCEParams, q, k, queue, loss, dq, dk *tensor.Tensor) {
	const op = "InfoNCE"
	dims(op, "q", q, 2)
	dims(op, "k", k, 2)
	na, d, nb := q.Dim(0), q.Dim(1), k.Dim(0)
	kernels.CheckShape(name, op, "k", k, nb, d)
	kernels.CheckShape(name, op, "loss", loss, 1)
	p.Check(name, na, nb)
	nq := 0
	if queue != nil {
		dims(op, "queue", queue, 2)
		nq = queue.Dim(0)
		kernels.CheckShape(name, op, "queue", queue, nq, d)
	}
	if dq != nil && dq == dk {
		kernels.Panicf(name, "%s: dq and dk are the same tensor", op)
	}
	if dq != nil {
		kernels.CheckShape(name, op, "dq", dq, na, d)
	}
	if dk != nil {
		kernels.CheckShape(name, op, "dk", dk, nb, d)
	}
	pq, pk, pqu := b.ptr(op, "q", q), b.ptr(op, "k", k), b.optPtr(op, "queue", queue)
	ploss, pdq, pdk := b.ptr(op, "loss", loss), b.optPtr(op, "dq", dq), b.optPtr(op, "dk", dk)

	// The index arrays go up packed in one upload: pos | self | anchor | key.
	var buf []byte
	buf = int32Bytes(buf, p.Pos)
	offSelf := len(buf)
	if p.Self != nil {
		buf = int32Bytes(buf, p.Self)
	}
	offAnchor := len(buf)
	if p.Twins {
		buf = int32Bytes(buf, p.AnchorID)
	}
	offKey := len(buf)
	if p.Twins {
		buf = int32Bytes(buf, p.KeyID)
	}
	args := infonceArgs{A: int32(na), B: int32(nb), Q: int32(nq), D: int32(d), Temperature: p.Temperature,
		InBatchNegatives: b2i(p.InBatchNegatives), Twins: b2i(p.Twins)}
	b.bind()
	ws := b.scratch(b.h.infonceWorkspace(&args))
	defer ws.done()
	base := b.upload(op, buf)
	at := func(off int, present bool) dptr {
		if !present || base == 0 {
			return 0
		}
		return base + uintptr(off)
	}
	code := b.h.infonce(b.stream, pq, pk, pqu, at(0, na > 0), at(offSelf, p.Self != nil), at(offAnchor, p.Twins),
		at(offKey, p.Twins), ploss, pdq, pdk, ws.ptr(), &args)
	b.check(op, code, q, k, queue, loss, dq, dk)
}

// HallucinatorForward: the extrapolation and the three-layer MLP.
func (b *Backend) HallucinatorForward(lambda float32, x, k, w1, b1, w2, b2, w3, b3, act, out *tensor.Tensor) {
	const op = "HallucinatorForward"
	n, d := kernels.CheckHallucinator(name, op, x, k, w1, w2, w3, act)
	kernels.CheckShape(name, op, "b1", b1, 2*d)
	kernels.CheckShape(name, op, "b2", b2, 2*d)
	kernels.CheckShape(name, op, "b3", b3, d)
	kernels.CheckShape(name, op, "out", out, n, d)
	px, pk := b.ptr(op, "x", x), b.ptr(op, "k", k)
	pw1, pb1, pw2, pb2 := b.ptr(op, "w1", w1), b.ptr(op, "b1", b1), b.ptr(op, "w2", w2), b.ptr(op, "b2", b2)
	pw3, pb3 := b.ptr(op, "w3", w3), b.ptr(op, "b3", b3)
	pact, pout := b.ptr(op, "act", act), b.ptr(op, "out", out)
	args := hallucArgs{N: int32(n), D: int32(d), Lambda: lambda, TF32: b2i(b.tf32)}
	b.bind()
	ws := b.scratch(b.h.hallucWorkspace(&args))
	defer ws.done()
	code := b.h.hallucFwd(b.stream, px, pk, pw1, pb1, pw2, pb2, pw3, pb3, pact, pout, ws.ptr(), &args)
	b.check(op, code, x, k, w1, b1, w2, b2, w3, b3, act, out)
}

// HallucinatorBackward: dx, dk (may be nil) and the weight and bias
// gradients from dout.
func (b *Backend) HallucinatorBackward(lambda float32, x, k, w1, w2, w3, act, dout, dx, dk, dw1, db1, dw2, db2, dw3, db3 *tensor.Tensor) {
	const op = "HallucinatorBackward"
	n, d := kernels.CheckHallucinator(name, op, x, k, w1, w2, w3, act)
	kernels.CheckHallucinatorGrads(name, op, n, d, dout, dx, dk, dw1, db1, dw2, db2, dw3, db3)
	px, pk := b.ptr(op, "x", x), b.ptr(op, "k", k)
	pw1, pw2, pw3 := b.ptr(op, "w1", w1), b.ptr(op, "w2", w2), b.ptr(op, "w3", w3)
	pact, pdout, pdx, pdk := b.ptr(op, "act", act), b.ptr(op, "dout", dout), b.ptr(op, "dx", dx), b.optPtr(op, "dk", dk)
	pdw1, pdb1 := b.ptr(op, "dw1", dw1), b.ptr(op, "db1", db1)
	pdw2, pdb2 := b.ptr(op, "dw2", dw2), b.ptr(op, "db2", db2)
	pdw3, pdb3 := b.ptr(op, "dw3", dw3), b.ptr(op, "db3", db3)
	args := hallucArgs{N: int32(n), D: int32(d), Lambda: lambda, TF32: b2i(b.tf32)}
	b.bind()
	ws := b.scratch(b.h.hallucWorkspace(&args))
	defer ws.done()
	code := b.h.hallucBwd(b.stream, px, pk, pw1, pw2, pw3, pact, pdout, pdx, pdk, pdw1, pdb1, pdw2, pdb2, pdw3, pdb3,
		ws.ptr(), &args)
	b.check(op, code, x, k, w1, w2, w3, act, dout, dx, dk, dw1, db1, dw2, db2, dw3, db3)
}
