package autograd

import "hallucinator/tensor"

// sameShape panics unless a and b are non-nil with equal shapes.
func sameShape(op string, a, b *Var) {
	if a == nil || a.Value == nil || b == nil || b.Value == nil {
		panicf("%s: nil operand", op)
	}
	if !a.Value.SameShape(b.Value) {
		panicf("%s: shapes %v and %v differ", op, a.Shape(), b.Shape())
	}
}

// Add returns a + b element-wise (same shapes, no broadcasting).
func (tp *Tape) Add(a, b *Var) *Var {
	sameShape("Add", a, b)
	y := tp.output(a.Shape()...)
	tp.b.Add(a.Value, b.Value, y)
	return tp.Record(y, []*Var{a, b}, func(dy *tensor.Tensor) {
		tp.accumulate(a, tp.scaled(1, dy))
		tp.accumulate(b, tp.scaled(1, dy))
	})
}

// Sub returns a - b element-wise (same shapes, no broadcasting).
func (tp *Tape) Sub(a, b *Var) *Var {
	sameShape("Sub", a, b)
	y := tp.output(a.Shape()...)
	tp.b.Sub(a.Value, b.Value, y)
	return tp.Record(y, []*Var{a, b}, func(dy *tensor.Tensor) {
		tp.accumulate(a, tp.scaled(1, dy))
		tp.accumulate(b, tp.scaled(-1, dy))
	})
}

// Mul returns a * b element-wise (same shapes, no broadcasting).
func (tp *Tape) Mul(a, b *Var) *Var {
	sameShape("Mul", a, b)
	be := tp.b
	y := tp.output(a.Shape()...)
	be.Mul(a.Value, b.Value, y)
	av, bv := a.Value, b.Value
	return tp.Record(y, []*Var{a, b}, func(dy *tensor.Tensor) {
		tp.overwrite(a, func(da *tensor.Tensor) { be.Mul(dy, bv, da) })
		tp.overwrite(b, func(db *tensor.Tensor) { be.Mul(dy, av, db) })
	})
}

// Scale returns s * a.
func (tp *Tape) Scale(s float32, a *Var) *Var {
	if a == nil || a.Value == nil {
		panicf("Scale: a is nil")
	}
	y := tp.output(a.Shape()...)
	tp.b.Scale(s, a.Value, y)
	return tp.Record(y, []*Var{a}, func(dy *tensor.Tensor) {
		tp.accumulate(a, tp.scaled(s, dy))
	})
}

// Sum returns the sum of all elements of x, of shape [1].
func (tp *Tape) Sum(x *Var) *Var {
	if x == nil || x.Value == nil {
		panicf("Sum: x is nil")
	}
	be := tp.b
	y := tp.output(1)
	be.Sum(x.Value, y)
	n := x.Value.Numel()
	return tp.Record(y, []*Var{x}, func(dy *tensor.Tensor) {
		// dx = dy[0] everywhere: BiasAdd broadcasts the one-element dy over
		// x seen as [n, 1], adding to what is there.
		tp.accumulate(x, part{add: func(dx *tensor.Tensor) {
			if n > 0 {
				be.BiasAdd(dy, dx.Reshape(n, 1))
			}
		}})
	})
}

// Mean returns the mean of all elements of x, of shape [1].
func (tp *Tape) Mean(x *Var) *Var {
	if x == nil || x.Value == nil {
		panicf("Mean: x is nil")
	}
	n := x.Value.Numel()
	if n == 0 {
		panicf("Mean: x %v has no elements", x.Shape())
	}
	return tp.Scale(1/float32(n), tp.Sum(x))
}

// RowSum returns the sums of the rows of x [M, N], of shape [M]. (A tensor
// of more dimensions is seen as [M, rest].)
func (tp *Tape) RowSum(x *Var) *Var {
	if x == nil || x.Value == nil || x.Value.Dims() < 1 {
		panicf("RowSum: x must have at least one dimension")
	}
	be := tp.b
	m := x.Value.Dim(0)
	n := 0
	if m > 0 {
		n = x.Value.Numel() / m
	}
	y := tp.output(m)
	be.SumCols(x.Value.Reshape(m, n), y)
	return tp.Record(y, []*Var{x}, func(dy *tensor.Tensor) {
		// dx[i, j] = dy[i]: BiasAdd of dy along dimension 1 of x seen as
		// [1, M, N].
		tp.accumulate(x, part{add: func(dx *tensor.Tensor) {
			if m*n > 0 {
				be.BiasAdd(dy, dx.Reshape(1, m, n))
			}
		}})
	})
}
