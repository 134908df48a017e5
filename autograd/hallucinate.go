package autograd

import (
	"hallucinator/kernels"
	"hallucinator/tensor"
)

// Hallucinate returns the Hallucinator's output [N, D] for anchor features x
// and the features k of the other view, both [N, D]: the extrapolation
// xt = x + lambda*(x - k), then the MLP on [x, xt]: Linear(2D, 2D), ReLU,
// Linear(2D, 2D), ReLU, Linear(2D, D), with w1, w2 [2D, 2D], w3 [D, 2D] and
// biases b1, b2 [2D], b3 [D] (see kernels.HallucinatorBackend).
// Gradients flow to every argument that requires one, k included.
func (tp *Tape) Hallucinate(x, k, w1, b1, w2, b2, w3, b3 *Var, lambda float32) *Var {
	checkDims("Hallucinate", "x", x, 2)
	n, d := x.Value.Dim(0), x.Value.Dim(1)
	checkShape("Hallucinate", "k", k, n, d)
	checkShape("Hallucinate", "w1", w1, 2*d, 2*d)
	checkShape("Hallucinate", "b1", b1, 2*d)
	checkShape("Hallucinate", "w2", w2, 2*d, 2*d)
	checkShape("Hallucinate", "b2", b2, 2*d)
	checkShape("Hallucinate", "w3", w3, d, 2*d)
	checkShape("Hallucinate", "b3", b3, d)
	be := tp.b
	act := tp.scratch(n, 4*d) // back to the free list after the backward
	out := be.Zeros(n, d)
	xv, kv, w1v, w2v, w3v := x.Value, k.Value, w1.Value, w2.Value, w3.Value
	kernels.HallucinatorForward(be, lambda, xv, kv, w1v, b1.Value, w2v, b2.Value, w3v, b3.Value, act, out)
	return tp.Record(out, []*Var{x, k, w1, b1, w2, b2, w3, b3}, func(dout *tensor.Tensor) {
		dx := tp.gradTarget(x, n, d)
		var dk gradOut
		var dkt *tensor.Tensor
		if k.RequiresGrad {
			dk = tp.gradTarget(k, n, d)
			dkt = dk.g
		}
		dw1 := tp.gradTarget(w1, 2*d, 2*d)
		db1 := tp.gradTarget(b1, 2*d)
		dw2 := tp.gradTarget(w2, 2*d, 2*d)
		db2 := tp.gradTarget(b2, 2*d)
		dw3 := tp.gradTarget(w3, d, 2*d)
		db3 := tp.gradTarget(b3, d)
		kernels.HallucinatorBackward(be, lambda, xv, kv, w1v, w2v, w3v, act, dout,
			dx.g, dkt, dw1.g, db1.g, dw2.g, db2.g, dw3.g, db3.g)
		tp.finish(dx, dk, dw1, db1, dw2, db2, dw3, db3)
		tp.release(act)
	})
}
