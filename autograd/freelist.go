package autograd

import (
	"math"

	"hallucinator/tensor"
)

// This file holds the tape's free list: the gradient buffers of
// intermediate Vars and the scratch tensors of backward passes, kept after
// use and handed out again in later passes so that a training step does not
// allocate (and clear) them anew.

// The bounds of a tape's free list: at most maxFreePerSize buffers of one
// element count, and at most maxFreeElems elements in all (1 GiB of
// float32). A backward pass needs few buffers of each size at a time (an
// op's output gradient and those of its inputs), so the list holds about
// the largest set of intermediate gradients alive at once.
//
// With recycling on (SetRecycling) the list also takes back every op output
// of a step at Recycle, so it holds about one step's values and gradients:
// up to maxRecyclePerSize buffers of one size and no bound in all beyond
// what one step allocates (FreeBuffers gives them up).
const (
	maxFreePerSize    = 16
	maxFreeElems      = 1 << 28
	maxRecyclePerSize = 1 << 12
	maxRecycleElems   = 1 << 40
)

// freeList holds contiguous tensors of offset 0 that nothing else uses,
// keyed by their number of elements. newFreeList sets its bounds. The zero
// value keeps nothing, and a tape with it gives no buffer to an input
// either (see enabled): every gradient gets a buffer of its own, the
// behaviour that tests compare against.
type freeList struct {
	bufs     map[int][]*tensor.Tensor
	elems    int // elements held, over all sizes
	maxPer   int
	maxElems int
	// poison fills every buffer handed out with NaN, so that tests catch a
	// caller that reads a buffer before writing all of it.
	poison bool
}

// newFreeList returns an empty free list that keeps at most maxPer buffers
// of one size and maxElems elements in all.
func newFreeList(maxPer, maxElems int) freeList {
	return freeList{bufs: make(map[int][]*tensor.Tensor), maxPer: maxPer, maxElems: maxElems}
}

// enabled reports whether the list keeps buffers at all.
func (f *freeList) enabled() bool { return f.maxPer > 0 && f.maxElems > 0 }

// get removes and returns the buffer of n elements released last, or nil.
func (f *freeList) get(n int) *tensor.Tensor {
	l := f.bufs[n]
	if len(l) == 0 {
		return nil
	}
	t := l[len(l)-1]
	l[len(l)-1] = nil
	f.bufs[n] = l[:len(l)-1]
	f.elems -= n
	return t
}

// put keeps t unless the list is full for its size or in all. It panics
// when t's storage is in the list already: two owners of one buffer would
// overwrite each other's gradients.
func (f *freeList) put(t *tensor.Tensor) {
	n := t.Numel()
	if n == 0 || t.Offset() != 0 || !t.IsContiguous() || !f.enabled() {
		return
	}
	l := f.bufs[n]
	for _, u := range l {
		if u.Storage() == t.Storage() {
			panicf("internal error: gradient buffer of %v released twice", t.Shape())
		}
	}
	if len(l) >= f.maxPer || f.elems+n > f.maxElems {
		return
	}
	f.bufs[n] = append(l, t)
	f.elems += n
}

// clear drops every buffer.
func (f *freeList) clear() {
	clear(f.bufs)
	f.elems = 0
}

// scratch returns a tensor of the given shape for a gradient: a buffer of
// the free list when one of that size is there, else a new one from the
// backend. Its contents are arbitrary: the caller overwrites every element.
func (tp *Tape) scratch(shape ...int) *tensor.Tensor {
	t := tp.free.get(tensor.Numel(shape))
	switch {
	case t == nil:
		t = tp.b.Zeros(shape...)
	case !tensor.EqualShape(t.Shape(), shape):
		t = t.Reshape(shape...)
	}
	if tp.free.poison && t.Numel() > 0 {
		tp.b.Fill(float32(math.NaN()), t)
	}
	return t
}

// output returns a tensor of the given shape for a result of an op's
// forward: the value of its output Var, or a tensor its backward reads
// (BatchNorm's statistics, L2Normalize's norms). Every op takes every such
// tensor here, and its kernel writes every element (outputs are overwritten,
// the backend contract that kernels/conformance checks from NaN garbage).
// Without recycling it is a new zero tensor. With recycling it is a buffer
// of the free list when one of that size is there (arbitrary contents),
// else a new one, and the tape holds it until Recycle.
//
// One policy for all ops, the recycling one: the values of a step die
// together at the next Recycle whatever op made them, so that holding them
// all costs no more memory than allocating them anew (a step's garbage is
// as large, and lives until the collector runs), while reuse saves the
// clearing of new memory, its page faults and the collector's work.
// Scratch tensors that a backward gives back itself (the Hallucinator's
// activations, the gradients that SoftmaxCrossEntropy and InfoNCE compute
// in their forward) are not results: they come from scratch and return to
// the free list as soon as they are used.
func (tp *Tape) output(shape ...int) *tensor.Tensor {
	if !tp.recycle {
		return tp.b.Zeros(shape...)
	}
	t := tp.scratch(shape...)
	tp.held = append(tp.held, t)
	return t
}

// SetRecycling turns the recycling of op outputs on or off. With it on, the
// outputs of every op of the tape (see output) come from the tape's free
// list and belong to the tape until Recycle hands them back: a training
// loop calls Recycle at the start of each step, and from then on nothing
// may use a value the tape's ops made before (the next step's ops
// overwrite their storage). A step then allocates nothing once warm, where
// a new zero tensor per output costs the clearing of its memory (and, for
// large ones, page faults) every step. Turning it off hands back what the
// tape holds and restores the free list's bounds. A tape whose free list
// keeps nothing does not recycle.
func (tp *Tape) SetRecycling(on bool) {
	switch {
	case on && !tp.recycle && tp.free.enabled():
		tp.bounds = [2]int{tp.free.maxPer, tp.free.maxElems}
		tp.free.maxPer, tp.free.maxElems = maxRecyclePerSize, maxRecycleElems
		tp.recycle = true
	case !on && tp.recycle:
		tp.Recycle()
		tp.free.maxPer, tp.free.maxElems = tp.bounds[0], tp.bounds[1]
		tp.recycle = false
	}
}

// Recycle hands the op outputs the tape holds (see SetRecycling) back to
// its free list. The values of Vars those outputs belong to, and any views
// of them, must not be used afterwards. Without recycling it does nothing.
func (tp *Tape) Recycle() {
	for i, t := range tp.held {
		tp.free.put(t)
		tp.held[i] = nil
	}
	tp.held = tp.held[:0]
}

// release gives t back to the free list; nothing may use it afterwards.
// A nil t is ignored.
func (tp *Tape) release(t *tensor.Tensor) {
	if t != nil {
		tp.free.put(t)
	}
}
