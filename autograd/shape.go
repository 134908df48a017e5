package autograd

import "hallucinator/tensor"

// Reshape returns a view of x with a new shape (one dimension may be -1);
// its gradient is reshaped back.
func (tp *Tape) Reshape(x *Var, shape ...int) *Var {
	if x == nil || x.Value == nil {
		panicf("Reshape: x is nil")
	}
	y := x.Value.Reshape(shape...)
	return tp.Record(y, []*Var{x}, func(dy *tensor.Tensor) {
		tp.accumulate(x, tp.scaled(1, dy.Reshape(x.Shape()...)))
	})
}

// ConcatRows concatenates its arguments along dimension 0; all must have
// the same dimensions after the first. A Var may appear more than once.
func (tp *Tape) ConcatRows(xs ...*Var) *Var {
	if len(xs) == 0 {
		panicf("ConcatRows: no arguments")
	}
	rows := 0
	for i, x := range xs {
		if x == nil || x.Value == nil || x.Value.Dims() < 1 {
			panicf("ConcatRows: argument %d is nil or a scalar", i)
		}
		if !tensor.EqualShape(x.Shape()[1:], xs[0].Shape()[1:]) {
			panicf("ConcatRows: argument %d has shape %v and argument 0 %v", i, x.Shape(), xs[0].Shape())
		}
		rows += x.Value.Dim(0)
	}
	shape := append([]int{rows}, xs[0].Shape()[1:]...)
	be := tp.b
	y := tp.output(shape...)
	off := 0
	for _, x := range xs {
		n := x.Value.Dim(0)
		if x.Value.Numel() > 0 {
			be.Copy(x.Value, y.Rows(off, off+n))
		}
		off += n
	}
	inputs := append([]*Var(nil), xs...)
	return tp.Record(y, inputs, func(dy *tensor.Tensor) {
		off := 0
		for _, x := range inputs {
			n := x.Value.Dim(0)
			if x.Value.Numel() > 0 {
				tp.accumulate(x, tp.scaled(1, dy.Rows(off, off+n)))
			}
			off += n
		}
	})
}

// Rows returns rows [lo, hi) of x along dimension 0, a view; its gradient
// is scattered back into those rows of x's gradient.
func (tp *Tape) Rows(x *Var, lo, hi int) *Var {
	if x == nil || x.Value == nil || x.Value.Dims() < 1 {
		panicf("Rows: x is nil or a scalar")
	}
	if lo < 0 || hi > x.Value.Dim(0) || lo > hi {
		panicf("Rows(%d, %d) of shape %v", lo, hi, x.Shape())
	}
	be := tp.b
	y := x.Value.Rows(lo, hi)
	empty := hi == lo || y.Numel() == 0
	return tp.Record(y, []*Var{x}, func(dy *tensor.Tensor) {
		// Zero outside the rows; a fresh gradient takes dy by a copy.
		tp.accumulate(x, part{
			add: func(dx *tensor.Tensor) {
				if !empty {
					be.Axpy(1, dy, dx.Rows(lo, hi))
				}
			},
			set: func(dx *tensor.Tensor) {
				be.Fill(0, dx)
				if !empty {
					be.Copy(dy, dx.Rows(lo, hi))
				}
			},
		})
	})
}

// Detach returns a Var with the same value as x that does not require a
// gradient: nothing flows back through it (stop-gradient).
func (tp *Tape) Detach(x *Var) *Var {
	if x == nil || x.Value == nil {
		panicf("Detach: x is nil")
	}
	return tp.Record(x.Value, nil, nil)
}
