package autograd

import (
	"fmt"

	"hallucinator/tensor"
)

// This file holds the two ways in which an op's backward hands the tape the
// gradient of one of its inputs; every op uses one of them for each input,
// and nothing else writes a gradient:
//
//   - overwrite: the op's kernel writes the whole gradient, every element of
//     a destination whose contents are arbitrary. The destination is the
//     input's gradient buffer itself when the input has no gradient yet in
//     this pass, else a scratch buffer that the tape then adds in (Axpy) and
//     takes back. A kernel that may write its result over the op's output
//     gradient (dx may alias dy) can get that buffer as its destination,
//     which then becomes the input's gradient (see donate).
//   - accumulate: the op's kernel adds its part into the input's gradient,
//     which the tape zero-fills first when the input has no gradient yet,
//     unless the part can also store itself into a fresh buffer (a Gemm with
//     beta 0, a copy: part.set) or is a tensor that the tape may take as the
//     gradient instead of copying it (part.src, see donate).
//
// The choice between the cases is the tape's alone, so that an op cannot
// read a fresh buffer's arbitrary contents, forget to add a scratch buffer
// in or to give it back, or copy where a buffer could be given away. Each
// case runs fixed kernels: an op's gradients do not depend on whether the
// tape reuses buffers (TestReuseIsBitIdentical).

// takesGrad reports whether v takes a gradient in a backward pass.
func takesGrad(v *Var) bool { return v != nil && v.RequiresGrad }

// ensureGrad gives v a gradient buffer when it has none: for an
// intermediate Var (one made by a recorded op) a buffer of the free list,
// whose contents are arbitrary, else a new zero tensor that v keeps.
func (tp *Tape) ensureGrad(v *Var) {
	if v.Grad != nil {
		return
	}
	if v.node != nil {
		v.Grad = tp.scratch(v.Value.Shape()...)
		v.ownGrad = true
		return
	}
	v.Grad = tp.b.Zeros(v.Value.Shape()...)
}

// claim gives v, whose gradient is empty in this pass, a gradient buffer
// (of arbitrary contents for an intermediate Var) and marks it written: the
// caller then stores the whole gradient into v.Grad.
func (tp *Tape) claim(v *Var) {
	tp.ensureGrad(v)
	v.gradOK = true
}

// target is one gradient that an overwriting kernel writes (see
// overwriteAll).
type target struct {
	// v is the input whose gradient the kernel writes, or nil when the
	// op's argument is nil and its kernel writes a gradient anyway.
	v *Var
	// shape is the shape of the destination when v is nil (otherwise v's).
	shape []int
	// optional says that the kernel accepts nil for this gradient: it gets
	// nil when v needs no gradient, instead of a scratch buffer to write in
	// vain.
	optional bool
	// over, when not nil, is the output gradient of the node whose backward
	// runs, and the kernel may write this gradient over it: when the tape
	// can give that buffer to v (see donate), it is the destination.
	over *tensor.Tensor
}

// fate is what becomes of an overwriting kernel's destination once it ran.
type fate int

const (
	inPlace     fate = iota // v's own gradient buffer, or nil: nothing to do
	addScratch              // a scratch buffer: added to v's gradient, then released
	dropScratch             // a scratch buffer for a gradient nobody needs: released
)

// dest returns the destination of one target and its fate.
func (tp *Tape) dest(t target) (*tensor.Tensor, fate) {
	v := t.v
	switch {
	case t.over != nil && tp.donate(v, t.over):
		return v.Grad, inPlace
	case takesGrad(v) && !v.gradOK:
		tp.claim(v)
		return v.Grad, inPlace
	case takesGrad(v):
		return tp.scratch(v.Value.Shape()...), addScratch
	case t.optional:
		return nil, inPlace
	case v != nil:
		return tp.scratch(v.Value.Shape()...), dropScratch
	}
	return tp.scratch(t.shape...), dropScratch
}

// settle meets the fate of a destination of dest once the kernel wrote it.
func (tp *Tape) settle(v *Var, dst *tensor.Tensor, f fate) {
	switch f {
	case addScratch:
		tp.b.Axpy(1, dst, v.Grad)
		tp.release(dst)
	case dropScratch:
		tp.release(dst)
	}
}

// overwrite delivers the gradient of v that write computes whole: write
// must store every element of dst, whose contents are arbitrary. Nothing
// is called when v needs no gradient.
func (tp *Tape) overwrite(v *Var, write func(dst *tensor.Tensor)) {
	if !takesGrad(v) {
		return
	}
	dst, f := tp.dest(target{v: v})
	write(dst)
	tp.settle(v, dst, f)
}

// overwriteAll is overwrite for a kernel that writes several gradients at
// once, or that may write over the op's output gradient (target.over):
// write gets one destination per target, in order, and must store every
// element of each (nil ones aside). A target whose Var needs no gradient
// gets a scratch buffer, or nil when it is optional. Nothing is called when
// no target's Var needs a gradient.
func (tp *Tape) overwriteAll(write func(dst []*tensor.Tensor), ts ...target) {
	needed := false
	for _, t := range ts {
		needed = needed || takesGrad(t.v)
	}
	if !needed {
		return
	}
	dst := make([]*tensor.Tensor, len(ts))
	fates := make([]fate, len(ts))
	for i, t := range ts {
		dst[i], fates[i] = tp.dest(t)
	}
	write(dst)
	for i, t := range ts {
		tp.settle(t.v, dst[i], fates[i])
	}
}

// part is an op's contribution to the gradient of one input (see
// accumulate).
type part struct {
	// add adds the part into dst, the input's gradient buffer.
	add func(dst *tensor.Tensor)
	// set, when not nil, stores the part into dst, whose contents are
	// arbitrary: for a kernel that can overwrite where it would add (a
	// Gemm with beta 0, a copy instead of an Axpy), which saves the zero
	// fill. Without it a fresh gradient is zero-filled and added to.
	set func(dst *tensor.Tensor)
	// src, when not nil, is a tensor equal to the part: the output gradient
	// of the node whose backward runs, or a view of it, which the tape may
	// take as the input's gradient instead of storing a copy (see donate).
	// The op must not write it afterwards.
	src *tensor.Tensor
}

// accumulate adds the part p to the gradient of v: into v's gradient when
// it holds one, else into a fresh one as p allows (taking p.src, calling
// p.set, or zero-filling and calling p.add). Nothing is called when v needs
// no gradient.
func (tp *Tape) accumulate(v *Var, p part) {
	switch {
	case !takesGrad(v):
		return
	case v.gradOK:
		p.add(v.Grad)
		return
	case p.src != nil && tp.donate(v, p.src):
		return
	}
	tp.claim(v)
	if p.set != nil {
		p.set(v.Grad)
		return
	}
	if v.Grad.Numel() > 0 {
		tp.b.Fill(0, v.Grad)
	}
	p.add(v.Grad)
}

// scaled is the part alpha*g, g holding as many elements as the input (the
// output gradient, or a reshape or row view of it). With alpha 1, g may
// become the input's gradient.
func (tp *Tape) scaled(alpha float32, g *tensor.Tensor) part {
	be := tp.b
	p := part{add: func(dst *tensor.Tensor) { be.Axpy(alpha, g, dst) }}
	if alpha == 1 {
		p.set = func(dst *tensor.Tensor) { be.Copy(g, dst) }
		p.src = g
	} else {
		p.set = func(dst *tensor.Tensor) { be.Scale(alpha, g, dst) }
	}
	return p
}

// timesScalar is the part s[0]*g, where s is a one-element tensor on the
// device (an op's output gradient), computed without reading s on the
// host: a product of g as a column by s as a 1x1 matrix.
func (tp *Tape) timesScalar(s, g *tensor.Tensor) part {
	be := tp.b
	n := g.Numel()
	return withBeta(func(dst *tensor.Tensor, beta float32) {
		be.Gemm(false, false, 1, g.Reshape(n, 1), s.Reshape(1, 1), beta, dst.Reshape(n, 1))
	})
}

// withBeta is the part that a kernel with a BLAS-style beta computes:
// f(dst, beta) stores the part plus beta*dst into dst, and with beta 0
// does not read dst.
func withBeta(f func(dst *tensor.Tensor, beta float32)) part {
	return part{
		add: func(dst *tensor.Tensor) { f(dst, 1) },
		set: func(dst *tensor.Tensor) { f(dst, 0) },
	}
}

// donate makes g, the output gradient of the node whose backward runs, the
// gradient of v, and reports whether it did. It does so only when the tape
// owns that buffer (tp.cur), g is all of it (not a view of some rows), no
// input took it yet, v is an intermediate Var (made by a recorded op, so
// that the buffer goes back to the free list after v's own node ran) whose
// gradient is still empty and unallocated, and v is not an input of the
// node twice (the second delivery would write the buffer it reads).
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
