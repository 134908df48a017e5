// Package autograd is a minimal reverse-mode automatic differentiation over
// tensors. A Tape records the operations of one forward pass on a
// kernels.Backend; Backward walks them in reverse and accumulates gradients
// into the Vars that require them. Each op's forward and backward are written
// side by side, one file per op family, and checked by finite differences
// (see GradCheck).
package autograd

import (
	"fmt"

	"hallucinator/kernels"
	"hallucinator/tensor"
)

// Var is a value in a computation: a tensor, its gradient (allocated on
// first accumulation) and, for results of ops, the node that made it.
type Var struct {
	Value        *tensor.Tensor
	Grad         *tensor.Tensor
	RequiresGrad bool
	// Name is optional, for messages and checkpoints.
	Name string
	node *node
	// gradOK says Grad holds this pass's gradient; ZeroGrad clears it and
	// keeps the buffer for reuse.
	gradOK bool
}

// HasGrad reports whether Grad holds a gradient accumulated since the last
// ZeroGrad.
func (v *Var) HasGrad() bool { return v.Grad != nil && v.gradOK }

// NewVar wraps a tensor. Parameters pass requiresGrad = true.
func NewVar(t *tensor.Tensor, requiresGrad bool) *Var {
	return &Var{Value: t, RequiresGrad: requiresGrad}
}

// Shape is the shape of the value.
func (v *Var) Shape() []int { return v.Value.Shape() }

// node is one recorded op: its output and a closure that, given the output's
// gradient, accumulates the gradients of its inputs.
type node struct {
	out      *Var
	inputs   []*Var
	backward func(gout *tensor.Tensor)
}

// Tape records ops for one forward pass. It is not safe for concurrent use.
// A Tape is reused across steps with Reset.
type Tape struct {
	b      kernels.Backend
	nodes  []*node
	noGrad int
}

// NewTape returns a tape whose ops run on b.
func NewTape(b kernels.Backend) *Tape { return &Tape{b: b} }

// Backend returns the backend the tape's ops run on.
func (tp *Tape) Backend() kernels.Backend { return tp.b }

// Reset forgets the recorded ops (gradients of Vars are kept).
func (tp *Tape) Reset() {
	for i := range tp.nodes {
		tp.nodes[i] = nil
	}
	tp.nodes = tp.nodes[:0]
}

// NoGrad runs f with recording turned off: ops inside produce Vars that do
// not require gradients.
func (tp *Tape) NoGrad(f func()) {
	tp.noGrad++
	defer func() { tp.noGrad-- }()
	f()
}

// Recording reports whether ops are being recorded.
func (tp *Tape) Recording() bool { return tp.noGrad == 0 }

// anyRequires reports whether any input requires a gradient.
func anyRequires(in []*Var) bool {
	for _, v := range in {
		if v != nil && v.RequiresGrad {
			return true
		}
	}
	return false
}

// Record makes the output Var of an op. When recording is on and an input
// requires a gradient, backward is kept and called during Backward with the
// output's gradient; it must accumulate into the inputs with Accumulate.
// Ops written outside this package use Record too.
func (tp *Tape) Record(value *tensor.Tensor, inputs []*Var, backward func(gout *tensor.Tensor)) *Var {
	out := &Var{Value: value}
	if tp.Recording() && anyRequires(inputs) {
		out.RequiresGrad = true
		n := &node{out: out, inputs: inputs, backward: backward}
		out.node = n
		tp.nodes = append(tp.nodes, n)
	}
	return out
}

// Accumulate adds g into v.Grad (allocating it on first use) when v requires
// a gradient. g is not kept.
func (tp *Tape) Accumulate(v *Var, g *tensor.Tensor) {
	if v == nil || !v.RequiresGrad {
		return
	}
	if g.Numel() != v.Value.Numel() {
		panic(fmt.Sprintf("autograd: gradient of %d elements for a value of shape %v", g.Numel(), v.Value.Shape()))
	}
	if v.Grad == nil {
		v.Grad = tp.b.Zeros(v.Value.Shape()...)
	}
	if !v.gradOK {
		tp.b.Copy(g, v.Grad)
		v.gradOK = true
		return
	}
	tp.b.Axpy(1, g, v.Grad)
}

// GradOf returns the gradient buffer of v for an op's backward to write into
// directly: when v has no gradient yet, a fresh tensor that becomes v.Grad
// (with fresh = true: overwrite it); else a scratch tensor the caller must
// Accumulate. It returns nil when v needs no gradient.
func (tp *Tape) GradOf(v *Var) (g *tensor.Tensor, fresh bool) {
	if v == nil || !v.RequiresGrad {
		return nil, false
	}
	if v.Grad == nil {
		v.Grad = tp.b.Zeros(v.Value.Shape()...)
	}
	if !v.gradOK {
		v.gradOK = true
		return v.Grad, true
	}
	return tp.b.Zeros(v.Value.Shape()...), false
}

// Backward computes the gradients of the scalar loss (a one-element Var)
// with respect to every Var that requires one, accumulating into their Grad,
// and then resets the tape.
func (tp *Tape) Backward(loss *Var) {
	if loss.Value.Numel() != 1 {
		panic(fmt.Sprintf("autograd: Backward of a value of shape %v, want one element", loss.Value.Shape()))
	}
	one := tp.b.Zeros(loss.Value.Shape()...)
	tp.b.Fill(1, one)
	tp.BackwardWith(loss, one)
}

// BackwardWith is Backward with a given output gradient (same shape as out).
func (tp *Tape) BackwardWith(out *Var, gout *tensor.Tensor) {
	defer tp.Reset()
	if !out.RequiresGrad {
		return
	}
	tp.Accumulate(out, gout)
	for i := len(tp.nodes) - 1; i >= 0; i-- {
		n := tp.nodes[i]
		if !n.out.HasGrad() {
			continue
		}
		n.backward(n.out.Grad)
		// Intermediate gradients are not needed after their node ran.
		n.out.Grad, n.out.gradOK = nil, false
	}
}

// ZeroGrad marks the gradients of vs as empty, keeping their buffers: the
// next accumulation overwrites them.
func ZeroGrad(vs []*Var) {
	for _, v := range vs {
		v.gradOK = false
	}
}
