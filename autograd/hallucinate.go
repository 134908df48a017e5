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
	out := tp.output(n, d)
	xv, kv, w1v, w2v, w3v := x.Value, k.Value, w1.Value, w2.Value, w3.Value
	kernels.HallucinatorForward(be, lambda, xv, kv, w1v, b1.Value, w2v, b2.Value, w3v, b3.Value, act, out)
	return tp.Record(out, []*Var{x, k, w1, b1, w2, b2, w3, b3}, func(dout *tensor.Tensor) {
		// dk may be nil: the kernel then skips it.
		tp.overwriteAll(func(g []*tensor.Tensor) {
			kernels.HallucinatorBackward(be, lambda, xv, kv, w1v, w2v, w3v, act, dout,
				g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7])
		}, target{v: x}, target{v: k, optional: true}, target{v: w1}, target{v: b1},
			target{v: w2}, target{v: b2}, target{v: w3}, target{v: b3})
		tp.release(act)
	})
}
