package autograd

import (
	"slices"

	"hallucinator/tensor"
)

// GatherRows returns the rows idx of x: row r of the result is row idx[r] of
// x (x of any shape, its rows along the first dimension). Indices may repeat
// and leave rows out; the gradient of a row of x is the sum of the gradients
// of its copies (kernels.Backend.ScatterAddRows).
func (tp *Tape) GatherRows(x *Var, idx []int32) *Var {
	if x == nil || x.Value == nil || x.Value.Dims() == 0 {
		panicf("GatherRows: x must be a tensor of at least one dimension")
	}
	idx = slices.Clone(idx) // the backward reads them after the caller may have changed its slice
	be := tp.b
	y := tp.output(append([]int{len(idx)}, x.Shape()[1:]...)...)
	be.GatherRows(x.Value, idx, y)
	return tp.Record(y, []*Var{x}, func(dy *tensor.Tensor) {
		tp.accumulate(x, part{add: func(dx *tensor.Tensor) { be.ScatterAddRows(dy, idx, dx) }})
	})
}
