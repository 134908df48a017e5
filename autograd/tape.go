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

// Var is a value in a computation: a tensor, its gradient (allocated when
// the first one arrives) and, for results of ops, the node that made it.
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
	// ownGrad says Grad is a buffer of the tape (an intermediate gradient)
	// that goes back to its free list once the Var's node has run.
	ownGrad bool
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
// gradient, delivers the gradients of its inputs. The output gradient is
// valid only during the call: the tape reuses its buffer afterwards.
type node struct {
	out      *Var
	inputs   []*Var
	backward func(gout *tensor.Tensor)
}

// Tape records ops for one forward pass. It is not safe for concurrent use.
// A Tape is reused across steps with Reset.
//
// The gradients of intermediate Vars (results of recorded ops) live only
// while Backward runs. The tape keeps their buffers in a free list, bounded
// in size, and hands them out again in later passes instead of allocating;
// FreeBuffers drops it. Leaf Vars (parameters, inputs) keep their own Grad
// buffers across passes, as ZeroGrad describes.
type Tape struct {
	b      kernels.Backend
	nodes  []*node
	noGrad int
	free   freeList
	// During BackwardWith: the node whose backward runs (curNode), its
	// output gradient when the tape owns that buffer and may give it to one
	// input instead of copying it (cur, see donate), and whether it has
	// (donated).
	curNode *node
	cur     *tensor.Tensor
	donated bool
	// With recycling (SetRecycling), the op outputs taken from the free
	// list since the last Recycle.
	recycle bool
	held    []*tensor.Tensor
	bounds  [2]int // the free list's bounds before recycling
}

// NewTape returns a tape whose ops run on b.
func NewTape(b kernels.Backend) *Tape {
	return &Tape{b: b, free: newFreeList(maxFreePerSize, maxFreeElems)}
}

// Backend returns the backend the tape's ops run on.
func (tp *Tape) Backend() kernels.Backend { return tp.b }

// Reset forgets the recorded ops (gradients of Vars are kept, and so is the
// free list of gradient buffers).
func (tp *Tape) Reset() {
	for i := range tp.nodes {
		tp.nodes[i] = nil
	}
	tp.nodes = tp.nodes[:0]
	tp.curNode, tp.cur, tp.donated = nil, nil, false
}

// FreeBuffers drops the tape's free list of intermediate gradient buffers,
// so that their memory can be reclaimed (for instance after training, or
// before a pass of very different shapes). The tape keeps working and
// allocates again as needed.
//
// With recycling on, the outputs the tape holds stay in use and go back to
// the (now empty) list at the next Recycle.
func (tp *Tape) FreeBuffers() { tp.free.clear() }

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
// output's gradient; it must deliver the inputs' gradients (with Accumulate
// for ops written outside this package, which use Record too) and not keep
// the gradient tensor after it returns (the tape reuses it).
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
// a gradient. g is not kept. It is the accumulate form of grad.go for ops
// written outside this package.
func (tp *Tape) Accumulate(v *Var, g *tensor.Tensor) {
	if v == nil || !v.RequiresGrad {
		return
	}
	if g.Numel() != v.Value.Numel() {
		panic(fmt.Sprintf("autograd: gradient of %d elements for a value of shape %v", g.Numel(), v.Value.Shape()))
	}
	p := tp.scaled(1, g)
	p.src = nil // the caller's tensor: copied, never taken
	tp.accumulate(v, p)
}

// Backward computes the gradients of the scalar loss (a one-element Var)
// with respect to every Var that requires one, accumulating into their Grad,
// and then resets the tape.
func (tp *Tape) Backward(loss *Var) {
	if loss.Value.Numel() != 1 {
		panic(fmt.Sprintf("autograd: Backward of a value of shape %v, want one element", loss.Value.Shape()))
	}
	one := tp.scratch(loss.Value.Shape()...)
	tp.b.Fill(1, one)
	tp.BackwardWith(loss, one)
	tp.release(one)
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
		o := n.out
		if !o.HasGrad() {
			continue
		}
		g := o.Grad
		tp.curNode, tp.cur, tp.donated = n, nil, false
		if o.ownGrad && tp.free.enabled() && g.Offset() == 0 && g.IsContiguous() {
			tp.cur = g
		}
		n.backward(g)
		// Intermediate gradients are not needed after their node ran: the
		// buffer goes back to the free list unless an input took it.
		if o.ownGrad && !tp.donated {
			tp.release(g)
		}
		tp.curNode, tp.cur, tp.donated = nil, nil, false
		o.Grad, o.gradOK, o.ownGrad = nil, false, false
	}
}

// ZeroGrad marks the gradients of vs as empty, keeping their buffers: the
// next accumulation overwrites them.
func ZeroGrad(vs []*Var) {
	for _, v := range vs {
		v.gradOK = false
	}
}
