package profile

import (
	"fmt"

	"hallucinator/kernels"
	"hallucinator/tensor"
)

// The wrapper has every capability (each forwarded through the dispatch
// function, fused or composite as the wrapped backend allows).
var _ kernels.Full = (*Backend)(nil)

func (p *Backend) Name() string            { return p.in.Name() }
func (p *Backend) Kind() tensor.DeviceKind { return p.in.Kind() }
func (p *Backend) Caps() kernels.Caps      { return p.in.Caps() }
func (p *Backend) Close() error            { return p.in.Close() }
func (p *Backend) Sync() error             { return p.in.Sync() }
func (p *Backend) Zeros(shape ...int) *tensor.Tensor {
	t0 := p.begin()
	t := p.in.Zeros(shape...)
	p.end(t0, "Zeros", "memory", dims(t), 0, nbytes(t))
	return t
}

func (p *Backend) FromHost(t *tensor.Tensor) *tensor.Tensor {
	t0 := p.begin()
	r := p.in.FromHost(t)
	p.end(t0, "FromHost", "memory", dims(t), 0, nbytes(t))
	return r
}

func (p *Backend) ToHost(t *tensor.Tensor) *tensor.Tensor {
	t0 := p.begin()
	r := p.in.ToHost(t)
	p.end(t0, "ToHost", "memory", dims(t), 0, nbytes(t))
	return r
}

func (p *Backend) Copy(src, dst *tensor.Tensor) {
	t0 := p.begin()
	p.in.Copy(src, dst)
	p.end(t0, "Copy", "memory", dims(dst), 0, nbytes(src, dst))
}

func (p *Backend) Fill(v float32, dst *tensor.Tensor) {
	t0 := p.begin()
	p.in.Fill(v, dst)
	p.end(t0, "Fill", "memory", dims(dst), 0, nbytes(dst))
}

// gemmShape returns M, N, K of op(A) op(B) for 2-D a and b.
func gemmShape(transA, transB bool, a, b *tensor.Tensor) (m, n, k int) {
	as, bs := a.Shape(), b.Shape()
	m, k = as[len(as)-2], as[len(as)-1]
	if transA {
		m, k = k, m
	}
	n = bs[len(bs)-1]
	if transB {
		n = bs[len(bs)-2]
	}
	return m, n, k
}

func tn(transA, transB bool) string {
	s := []byte("NN")
	if transA {
		s[0] = 'T'
	}
	if transB {
		s[1] = 'T'
	}
	return string(s)
}

func (p *Backend) Gemm(transA, transB bool, alpha float32, a, b *tensor.Tensor, beta float32, c *tensor.Tensor) {
	t0 := p.begin()
	p.in.Gemm(transA, transB, alpha, a, b, beta, c)
	m, n, k := gemmShape(transA, transB, a, b)
	p.end(t0, "Gemm", "gemm", fmt.Sprintf("%s %dx%dx%d", tn(transA, transB), m, n, k), 2*float64(m)*float64(n)*float64(k), nbytes(a, b, c))
}

func (p *Backend) GemmBatched(transA, transB bool, alpha float32, a, b *tensor.Tensor, beta float32, c *tensor.Tensor) {
	t0 := p.begin()
	p.in.GemmBatched(transA, transB, alpha, a, b, beta, c)
	m, n, k := gemmShape(transA, transB, a, b)
	batch := a.Shape()[0]
	p.end(t0, "GemmBatched", "gemm", fmt.Sprintf("%s %dx(%dx%dx%d)", tn(transA, transB), batch, m, n, k),
		2*float64(batch)*float64(m)*float64(n)*float64(k), nbytes(a, b, c))
}

// conv describes a convolution and counts its multiply-adds (the same for
// each of the three passes).
func conv(p kernels.ConvParams, x, w *tensor.Tensor) (string, float64) {
	xs, ws := x.Shape(), w.Shape()
	pp, q := p.OutSize(xs[2], xs[3], ws[2], ws[3])
	flops := 2 * float64(xs[0]) * float64(ws[0]) * float64(xs[1]) * float64(ws[2]*ws[3]) * float64(pp*q)
	return fmt.Sprintf("%s k%d %dx%d s%d", dims(x), ws[0], ws[2], ws[3], p.StrideH), flops
}

func (p *Backend) Conv2d(cp kernels.ConvParams, x, w, y *tensor.Tensor) {
	t0 := p.begin()
	p.in.Conv2d(cp, x, w, y)
	s, f := conv(cp, x, w)
	p.end(t0, "Conv2d", "conv forward", s, f, nbytes(x, w, y))
}

func (p *Backend) Conv2dBackwardData(cp kernels.ConvParams, dy, w, dx *tensor.Tensor) {
	t0 := p.begin()
	p.in.Conv2dBackwardData(cp, dy, w, dx)
	s, f := conv(cp, dx, w)
	p.end(t0, "Conv2dBackwardData", "conv backward-data", s, f, nbytes(dy, w, dx))
}

func (p *Backend) Conv2dBackwardFilter(cp kernels.ConvParams, x, dy, dw *tensor.Tensor) {
	t0 := p.begin()
	p.in.Conv2dBackwardFilter(cp, x, dy, dw)
	s, f := conv(cp, x, dw)
	p.end(t0, "Conv2dBackwardFilter", "conv backward-filter", s, f, nbytes(x, dy, dw))
}

func (p *Backend) BiasAdd(b, y *tensor.Tensor) {
	t0 := p.begin()
	p.in.BiasAdd(b, y)
	p.end(t0, "BiasAdd", "elementwise", dims(y), 0, nbytes(b, y, y))
}

func (p *Backend) BiasGrad(dy, db *tensor.Tensor) {
	t0 := p.begin()
	p.in.BiasGrad(dy, db)
	p.end(t0, "BiasGrad", "reduction", dims(dy), 0, nbytes(dy, db))
}

func bnName(op string, bp kernels.BNParams) string {
	if bp.ReLU {
		return op + "+ReLU"
	}
	return op
}

func (p *Backend) BatchNormTrain(bp kernels.BNParams, x, gamma, beta, y, saveMean, saveInvstd, runMean, runVar *tensor.Tensor) {
	t0 := p.begin()
	p.in.BatchNormTrain(bp, x, gamma, beta, y, saveMean, saveInvstd, runMean, runVar)
	p.end(t0, bnName("BatchNormTrain", bp), "batchnorm forward", dims(x), 0, nbytes(x, y))
}

func (p *Backend) BatchNormInfer(bp kernels.BNParams, x, gamma, beta, runMean, runVar, y *tensor.Tensor) {
	t0 := p.begin()
	p.in.BatchNormInfer(bp, x, gamma, beta, runMean, runVar, y)
	p.end(t0, bnName("BatchNormInfer", bp), "batchnorm forward", dims(x), 0, nbytes(x, y))
}

func (p *Backend) BatchNormBackward(bp kernels.BNParams, x, y, dy, gamma, saveMean, saveInvstd, dx, dgamma, dbeta *tensor.Tensor) {
	t0 := p.begin()
	p.in.BatchNormBackward(bp, x, y, dy, gamma, saveMean, saveInvstd, dx, dgamma, dbeta)
	yb := y
	if !bp.ReLU {
		yb = nil
	}
	p.end(t0, bnName("BatchNormBackward", bp), "batchnorm backward", dims(x), 0, nbytes(x, yb, dy, dx))
}

func (p *Backend) Relu(x, y *tensor.Tensor) {
	t0 := p.begin()
	p.in.Relu(x, y)
	p.end(t0, "Relu", "elementwise", dims(x), 0, nbytes(x, y))
}

func (p *Backend) ReluBackward(y, dy, dx *tensor.Tensor) {
	t0 := p.begin()
	p.in.ReluBackward(y, dy, dx)
	p.end(t0, "ReluBackward", "elementwise", dims(y), 0, nbytes(y, dy, dx))
}

func (p *Backend) MaxPool2d(pp kernels.PoolParams, x, y *tensor.Tensor) {
	t0 := p.begin()
	p.in.MaxPool2d(pp, x, y)
	p.end(t0, "MaxPool2d", "pooling", dims(x), 0, nbytes(x, y))
}

func (p *Backend) MaxPool2dBackward(pp kernels.PoolParams, x, y, dy, dx *tensor.Tensor) {
	t0 := p.begin()
	p.in.MaxPool2dBackward(pp, x, y, dy, dx)
	p.end(t0, "MaxPool2dBackward", "pooling", dims(x), 0, nbytes(x, y, dy, dx))
}

func (p *Backend) GlobalAvgPool(x, y *tensor.Tensor) {
	t0 := p.begin()
	p.in.GlobalAvgPool(x, y)
	p.end(t0, "GlobalAvgPool", "pooling", dims(x), 0, nbytes(x, y))
}

func (p *Backend) GlobalAvgPoolBackward(dy, dx *tensor.Tensor) {
	t0 := p.begin()
	p.in.GlobalAvgPoolBackward(dy, dx)
	p.end(t0, "GlobalAvgPoolBackward", "pooling", dims(dx), 0, nbytes(dy, dx))
}

func (p *Backend) Add(a, b, dst *tensor.Tensor) {
	t0 := p.begin()
	p.in.Add(a, b, dst)
	p.end(t0, "Add", "elementwise", dims(dst), 0, nbytes(a, b, dst))
}

func (p *Backend) Sub(a, b, dst *tensor.Tensor) {
	t0 := p.begin()
	p.in.Sub(a, b, dst)
	p.end(t0, "Sub", "elementwise", dims(dst), 0, nbytes(a, b, dst))
}

func (p *Backend) Mul(a, b, dst *tensor.Tensor) {
	t0 := p.begin()
	p.in.Mul(a, b, dst)
	p.end(t0, "Mul", "elementwise", dims(dst), 0, nbytes(a, b, dst))
}

func (p *Backend) Scale(s float32, a, dst *tensor.Tensor) {
	t0 := p.begin()
	p.in.Scale(s, a, dst)
	p.end(t0, "Scale", "elementwise", dims(dst), 0, nbytes(a, dst))
}

func (p *Backend) Axpy(alpha float32, x, y *tensor.Tensor) {
	t0 := p.begin()
	p.in.Axpy(alpha, x, y)
	p.end(t0, "Axpy", "elementwise", dims(y), 0, nbytes(x, y, y))
}

func (p *Backend) Sum(x, dst *tensor.Tensor) {
	t0 := p.begin()
	p.in.Sum(x, dst)
	p.end(t0, "Sum", "reduction", dims(x), 0, nbytes(x, dst))
}

func (p *Backend) SumRows(x, dst *tensor.Tensor) {
	t0 := p.begin()
	p.in.SumRows(x, dst)
	p.end(t0, "SumRows", "reduction", dims(x), 0, nbytes(x, dst))
}

func (p *Backend) SumCols(x, dst *tensor.Tensor) {
	t0 := p.begin()
	p.in.SumCols(x, dst)
	p.end(t0, "SumCols", "reduction", dims(x), 0, nbytes(x, dst))
}

func (p *Backend) SumSquares(xs []*tensor.Tensor, dst *tensor.Tensor) {
	t0 := p.begin()
	p.in.SumSquares(xs, dst)
	p.end(t0, "SumSquares", "reduction", fmt.Sprintf("%d tensors", len(xs)), 0, nbytes(xs...)+nbytes(dst))
}

func (p *Backend) GatherRows(x *tensor.Tensor, idx []int32, y *tensor.Tensor) {
	t0 := p.begin()
	p.in.GatherRows(x, idx, y)
	p.end(t0, "GatherRows", "rows", dims(y), 0, 2*nbytes(y))
}

func (p *Backend) ScatterAddRows(x *tensor.Tensor, idx []int32, y *tensor.Tensor) {
	t0 := p.begin()
	p.in.ScatterAddRows(x, idx, y)
	p.end(t0, "ScatterAddRows", "rows", dims(x), 0, 3*nbytes(x))
}

func (p *Backend) L2NormalizeRows(eps float32, x, y, norms *tensor.Tensor) {
	t0 := p.begin()
	p.in.L2NormalizeRows(eps, x, y, norms)
	p.end(t0, "L2NormalizeRows", "loss", dims(x), 0, nbytes(x, y, norms))
}

func (p *Backend) L2NormalizeRowsBackward(eps float32, y, norms, dy, dx *tensor.Tensor) {
	t0 := p.begin()
	p.in.L2NormalizeRowsBackward(eps, y, norms, dy, dx)
	p.end(t0, "L2NormalizeRowsBackward", "loss", dims(y), 0, nbytes(y, norms, dy, dx))
}

func (p *Backend) SoftmaxCrossEntropy(logits *tensor.Tensor, labels []int32, loss, dlogits *tensor.Tensor) {
	t0 := p.begin()
	p.in.SoftmaxCrossEntropy(logits, labels, loss, dlogits)
	p.end(t0, "SoftmaxCrossEntropy", "loss", dims(logits), 0, nbytes(logits, dlogits))
}

func (p *Backend) InfoNCE(ip kernels.InfoNCEParams, q, k, queue, loss, dq, dk *tensor.Tensor) {
	t0 := p.begin()
	kernels.InfoNCE(p.in, ip, q, k, queue, loss, dq, dk)
	rows := q.Shape()[0]
	cols := k.Shape()[0]
	if queue != nil {
		cols += queue.Shape()[0]
	}
	d := q.Shape()[1]
	// The logits' product forward and the two of the backward.
	f := 3 * 2 * float64(rows) * float64(cols) * float64(d)
	p.end(t0, "InfoNCE", "loss", fmt.Sprintf("%s vs %d", dims(q), cols), f, nbytes(q, k, queue, dq, dk))
}

func (p *Backend) HallucinatorForward(lambda float32, x, k, w1, b1, w2, b2, w3, b3, act, out *tensor.Tensor) {
	t0 := p.begin()
	kernels.HallucinatorForward(p.in, lambda, x, k, w1, b1, w2, b2, w3, b3, act, out)
	n, d := x.Shape()[0], x.Shape()[1]
	f := 2 * float64(n) * (4*float64(d*d) + 4*float64(d*d) + 2*float64(d*d))
	p.end(t0, "HallucinatorForward", "loss", dims(x), f, nbytes(x, k, w1, w2, w3, act, out))
}

func (p *Backend) HallucinatorBackward(lambda float32, x, k, w1, w2, w3, act, dout, dx, dk, dw1, db1, dw2, db2, dw3, db3 *tensor.Tensor) {
	t0 := p.begin()
	kernels.HallucinatorBackward(p.in, lambda, x, k, w1, w2, w3, act, dout, dx, dk, dw1, db1, dw2, db2, dw3, db3)
	n, d := x.Shape()[0], x.Shape()[1]
	f := 2 * 2 * float64(n) * (4*float64(d*d) + 4*float64(d*d) + 2*float64(d*d))
	p.end(t0, "HallucinatorBackward", "loss", dims(x), f, nbytes(x, k, w1, w2, w3, act, dout, dx, dk, dw1, dw2, dw3))
}

func (p *Backend) SGDStep(sp kernels.SGDParams, params, grads, bufs []*tensor.Tensor, wd []bool) {
	t0 := p.begin()
	kernels.SGDStep(p.in, sp, params, grads, bufs, wd)
	p.end(t0, "SGDStep", "optimiser", fmt.Sprintf("%d tensors", len(params)), 0, nbytes(params...)*2+nbytes(grads...)+2*nbytes(bufs...))
}

func (p *Backend) LARSStep(lp kernels.LARSParams, params, grads, bufs []*tensor.Tensor, exclude []bool) {
	t0 := p.begin()
	kernels.LARSStep(p.in, lp, params, grads, bufs, exclude)
	p.end(t0, "LARSStep", "optimiser", fmt.Sprintf("%d tensors", len(params)), 0, nbytes(params...)*2+nbytes(grads...)+2*nbytes(bufs...))
}

func (p *Backend) AdamWStep(ap kernels.AdamWParams, params, grads, m, v []*tensor.Tensor, wd []bool) {
	t0 := p.begin()
	kernels.AdamWStep(p.in, ap, params, grads, m, v, wd)
	p.end(t0, "AdamWStep", "optimiser", fmt.Sprintf("%d tensors", len(params)), 0, nbytes(params...)*2+nbytes(grads...)+2*nbytes(m...)+2*nbytes(v...))
}

func (p *Backend) EMA(decay float32, target, source []*tensor.Tensor) {
	t0 := p.begin()
	kernels.EMA(p.in, decay, target, source)
	p.end(t0, "EMA", "optimiser", fmt.Sprintf("%d tensors", len(target)), 0, 2*nbytes(target...)+nbytes(source...))
}
