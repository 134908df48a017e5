package autograd

import (
	"hallucinator/kernels"
	"hallucinator/tensor"
)

// Conv2d returns the 2-D convolution of x [N, C, H, W] with the filters
// w [K, C, R, S] (no bias, groups 1), of shape [N, K, P, Q] as given by
// p.OutSize.
func (tp *Tape) Conv2d(x, w *Var, p kernels.ConvParams) *Var {
	checkDims("Conv2d", "x", x, 4)
	checkDims("Conv2d", "w", w, 4)
	xs, ws := x.Shape(), w.Shape()
	if xs[1] != ws[1] {
		panicf("Conv2d: x %v has %d channels and w %v has %d", xs, xs[1], ws, ws[1])
	}
	if p.StrideH < 1 || p.StrideW < 1 || p.PadH < 0 || p.PadW < 0 {
		panicf("Conv2d: bad parameters %+v", p)
	}
	if xs[2]+2*p.PadH < ws[2] || xs[3]+2*p.PadW < ws[3] {
		panicf("Conv2d: filter %v larger than the padded input %v (%+v)", ws, xs, p)
	}
	P, Q := p.OutSize(xs[2], xs[3], ws[2], ws[3])
	be := tp.b
	y := tp.output(xs[0], ws[0], P, Q)
	be.Conv2d(p, x.Value, w.Value, y)
	xv, wv := x.Value, w.Value
	return tp.Record(y, []*Var{x, w}, func(dy *tensor.Tensor) {
		tp.overwrite(x, func(dx *tensor.Tensor) { be.Conv2dBackwardData(p, dy, wv, dx) })
		tp.overwrite(w, func(dw *tensor.Tensor) { be.Conv2dBackwardFilter(p, xv, dy, dw) })
	})
}

// BiasAdd returns x with b [C] added along dimension 1 of x ([N, C] or
// [N, C, H, W]; any x of at least two dimensions).
func (tp *Tape) BiasAdd(x, b *Var) *Var {
	if x == nil || x.Value == nil || x.Value.Dims() < 2 {
		panicf("BiasAdd: x must have at least two dimensions")
	}
	checkShape("BiasAdd", "b", b, x.Value.Dim(1))
	be := tp.b
	y := tp.output(x.Shape()...)
	be.Copy(x.Value, y)
	be.BiasAdd(b.Value, y)
	return tp.Record(y, []*Var{x, b}, func(dy *tensor.Tensor) {
		tp.accumulate(x, tp.scaled(1, dy))
		tp.overwrite(b, func(db *tensor.Tensor) { be.BiasGrad(dy, db) })
	})
}
