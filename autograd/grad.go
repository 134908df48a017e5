package autograd

import (
	"fmt"

	"hallucinator/tensor"
)

// This file holds the helpers the ops' backward closures share to deliver
// gradients into their inputs without extra copies where the backend allows,
// and without new buffers where the tape's free list has one (see
// freelist.go).

// gradBuf returns the buffer into which a backward writes the gradient of v,
// and whether it must accumulate into it (true) or overwrite every element
// (false; the contents are then arbitrary). It returns nil when v needs no
// gradient. After the call v's gradient counts as present, so the caller
// must write the buffer.
func (tp *Tape) gradBuf(v *Var) (g *tensor.Tensor, accumulate bool) {
	if v == nil || !v.RequiresGrad {
		return nil, false
	}
	tp.ensureGrad(v)
	if v.gradOK {
		return v.Grad, true
	}
	v.gradOK = true
	return v.Grad, false
}

// accumulateScaled adds alpha*g to the gradient of v. When g is the whole
// output gradient of the node whose backward runs and alpha is 1, v may take
// that buffer as its gradient instead of a copy (see donate): the caller
// must not write g afterwards.
func (tp *Tape) accumulateScaled(v *Var, alpha float32, g *tensor.Tensor) {
	if alpha == 1 && tp.donate(v, g) {
		return
	}
	dst, acc := tp.gradBuf(v)
	switch {
	case dst == nil:
	case acc:
		tp.b.Axpy(alpha, g, dst)
	case alpha == 1:
		tp.b.Copy(g, dst)
	default:
		tp.b.Scale(alpha, g, dst)
	}
}

// donate makes g, the output gradient of the node whose backward runs, the
// gradient of v, and reports whether it did. It does so only when the tape
// owns that buffer (tp.cur), g is all of it (not a view of some rows), no
// input took it yet, v is an intermediate Var (made by a recorded op, so
// that the buffer goes back to the free list after v's own node ran) whose
// gradient is still empty and unallocated, and v is not an input of the
// node twice (the second accumulation would write the buffer it reads).
// The node's output then gives up the buffer (tp.donated).
func (tp *Tape) donate(v *Var, g *tensor.Tensor) bool {
	cur := tp.cur
	if cur == nil || tp.donated || v == nil || !v.RequiresGrad || v.node == nil || v.Grad != nil || v.gradOK {
		return false
	}
	if g.Storage() != cur.Storage() || g.Offset() != 0 || g.Numel() != cur.Numel() || !g.IsContiguous() {
		return false
	}
	uses := 0
	for _, in := range tp.curNode.inputs {
		if in == v {
			uses++
		}
	}
	if uses != 1 {
		return false
	}
	if !tensor.EqualShape(g.Shape(), v.Value.Shape()) {
		g = g.Reshape(v.Value.Shape()...)
	}
	v.Grad, v.gradOK, v.ownGrad = g, true, true
	tp.donated = true
	return true
}

// gradInPlace returns g, the output gradient of the node whose backward
// runs, as the gradient buffer of v, for an op whose backend backward may
// write its result over g (dx may alias dy); the caller then overwrites it
// with v's gradient. It returns nil, and changes nothing, unless donate
// would give g to v.
func (tp *Tape) gradInPlace(v *Var, g *tensor.Tensor) *tensor.Tensor {
	if !tp.donate(v, g) {
		return nil
	}
	return v.Grad
}

// accumulateTimesScalar adds s[0]*g to the gradient of v, where s is a
// one-element tensor on the device (an op's output gradient), without reading
// s on the host: a product of g as a column by s as a 1x1 matrix.
func (tp *Tape) accumulateTimesScalar(v *Var, s, g *tensor.Tensor) {
	dst, acc := tp.gradBuf(v)
	if dst == nil {
		return
	}
	var beta float32
	if acc {
		beta = 1
	}
	n := g.Numel()
	tp.b.Gemm(false, false, 1, g.Reshape(n, 1), s.Reshape(1, 1), beta, dst.Reshape(n, 1))
}

// gradOf is GradOf with the scratch tensor taken from the free list
// (arbitrary contents): the caller overwrites it, accumulates it and
// releases it.
func (tp *Tape) gradOf(v *Var) (g *tensor.Tensor, fresh bool) {
	if v == nil || !v.RequiresGrad {
		return nil, false
	}
	tp.ensureGrad(v)
	if !v.gradOK {
		v.gradOK = true
		return v.Grad, true
	}
	return tp.scratch(v.Value.Shape()...), false
}

// writeGrad calls write with a buffer of v's shape to overwrite with a
// gradient of v (every element: its contents are arbitrary), and adds that
// gradient to v's. It does nothing when v needs no gradient.
func (tp *Tape) writeGrad(v *Var, write func(dst *tensor.Tensor)) {
	g, fresh := tp.gradOf(v)
	if g == nil {
		return
	}
	write(g)
	if !fresh {
		tp.Accumulate(v, g)
		tp.release(g)
	}
}

// gradOut is one output buffer of a backend backward that computes several
// gradients at once.
type gradOut struct {
	v     *Var
	g     *tensor.Tensor
	fresh bool
}

// gradTarget returns a buffer for a gradient of v, to be overwritten: v's
// own gradient buffer when it is empty, else a scratch tensor (also when v
// needs no gradient and the backend wants an output anyway). shape is v's
// shape (v may be nil).
func (tp *Tape) gradTarget(v *Var, shape ...int) gradOut {
	g, fresh := tp.gradOf(v)
	if g == nil {
		return gradOut{g: tp.scratch(shape...)}
	}
	return gradOut{v: v, g: g, fresh: fresh}
}

// finish adds the gradients written into scratch buffers to their Vars and
// gives the scratch buffers back.
func (tp *Tape) finish(outs ...gradOut) {
	for _, o := range outs {
		if o.g == nil || o.fresh {
			continue
		}
		if o.v != nil {
			tp.Accumulate(o.v, o.g)
		}
		tp.release(o.g)
	}
}

// needsGrad reports whether an op being recorded now must compute the
// gradient of v.
func (tp *Tape) needsGrad(v *Var) bool {
	return tp.Recording() && v != nil && v.RequiresGrad
}

// panicf panics with a message prefixed by the package name.
func panicf(format string, args ...any) {
	panic("autograd: " + fmt.Sprintf(format, args...))
}

// checkDims panics unless v is non-nil and has one of the given numbers of
// dimensions.
func checkDims(op, arg string, v *Var, dims ...int) {
	if v == nil || v.Value == nil {
		panicf("%s: %s is nil", op, arg)
	}
	for _, d := range dims {
		if v.Value.Dims() == d {
			return
		}
	}
	panicf("%s: %s has shape %v, want %v dimensions", op, arg, v.Shape(), dims)
}

// checkShape panics unless v is non-nil with exactly the given shape.
func checkShape(op, arg string, v *Var, shape ...int) {
	if v == nil || v.Value == nil {
		panicf("%s: %s is nil", op, arg)
	}
	if !tensor.EqualShape(v.Shape(), shape) {
		panicf("%s: %s has shape %v, want %v", op, arg, v.Shape(), shape)
	}
}

// checkNumel panics unless t is non-nil with n elements.
func checkNumel(op, arg string, t *tensor.Tensor, n int) {
	if t == nil {
		panicf("%s: %s is nil", op, arg)
	}
	if t.Numel() != n {
		panicf("%s: %s has shape %v, want %d elements", op, arg, t.Shape(), n)
	}
}
