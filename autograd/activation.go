package autograd

import "hallucinator/tensor"

// Relu returns max(x, 0) element-wise; its gradient passes where the output
// is positive.
func (tp *Tape) Relu(x *Var) *Var {
	if x == nil || x.Value == nil {
		panicf("Relu: x is nil")
	}
	be := tp.b
	y := tp.output(x.Shape()...)
	be.Relu(x.Value, y)
	return tp.Record(y, []*Var{x}, func(dy *tensor.Tensor) {
		// ReluBackward may mask dy in place: x takes its buffer when it can.
		tp.overwriteAll(func(dx []*tensor.Tensor) { be.ReluBackward(y, dy, dx[0]) }, target{v: x, over: dy})
	})
}
