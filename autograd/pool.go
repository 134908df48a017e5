package autograd

import (
	"hallucinator/kernels"
	"hallucinator/tensor"
)

// MaxPool2d returns the maximum over each window of x [N, C, H, W], of shape
// [N, C, P, Q] as given by p.OutSize. The gradient goes to the first
// (row-major) maximum of each window.
func (tp *Tape) MaxPool2d(x *Var, p kernels.PoolParams) *Var {
	checkDims("MaxPool2d", "x", x, 4)
	xs := x.Shape()
	if p.KH < 1 || p.KW < 1 || p.StrideH < 1 || p.StrideW < 1 || p.PadH < 0 || p.PadW < 0 ||
		p.PadH >= p.KH || p.PadW >= p.KW {
		panicf("MaxPool2d: bad parameters %+v", p)
	}
	if xs[2]+2*p.PadH < p.KH || xs[3]+2*p.PadW < p.KW {
		panicf("MaxPool2d: window %dx%d larger than the padded input %v (%+v)", p.KH, p.KW, xs, p)
	}
	P, Q := p.OutSize(xs[2], xs[3])
	be := tp.b
	y := tp.output(xs[0], xs[1], P, Q)
	be.MaxPool2d(p, x.Value, y)
	xv := x.Value
	return tp.Record(y, []*Var{x}, func(dy *tensor.Tensor) {
		tp.overwrite(x, func(dx *tensor.Tensor) { be.MaxPool2dBackward(p, xv, y, dy, dx) })
	})
}

// GlobalAvgPool returns the mean over H and W of x [N, C, H, W], as [N, C].
func (tp *Tape) GlobalAvgPool(x *Var) *Var {
	checkDims("GlobalAvgPool", "x", x, 4)
	be := tp.b
	y := tp.output(x.Value.Dim(0), x.Value.Dim(1))
	be.GlobalAvgPool(x.Value, y)
	return tp.Record(y, []*Var{x}, func(dy *tensor.Tensor) {
		tp.overwrite(x, func(dx *tensor.Tensor) { be.GlobalAvgPoolBackward(dy, dx) })
	})
}
