package autograd

import (
	"hallucinator/kernels"
	"hallucinator/tensor"
)

// L2Normalize returns the rows of x [M, N] divided by their Euclidean norms,
// clamped below at eps.
func (tp *Tape) L2Normalize(x *Var, eps float32) *Var {
	checkDims("L2Normalize", "x", x, 2)
	be := tp.b
	y := tp.output(x.Shape()...)
	norms := tp.output(x.Value.Dim(0))
	be.L2NormalizeRows(eps, x.Value, y, norms)
	return tp.Record(y, []*Var{x}, func(dy *tensor.Tensor) {
		tp.overwrite(x, func(dx *tensor.Tensor) { be.L2NormalizeRowsBackward(eps, y, norms, dy, dx) })
	})
}

// SoftmaxCrossEntropy returns the mean over the rows of logits [N, C] of
// -log softmax(row)[label], of shape [1]. labels has N entries in [0, C).
func (tp *Tape) SoftmaxCrossEntropy(logits *Var, labels []int32) *Var {
	checkDims("SoftmaxCrossEntropy", "logits", logits, 2)
	n, c := logits.Value.Dim(0), logits.Value.Dim(1)
	if len(labels) != n {
		panicf("SoftmaxCrossEntropy: %d labels for logits %v", len(labels), logits.Shape())
	}
	for i, l := range labels {
		if l < 0 || int(l) >= c {
			panicf("SoftmaxCrossEntropy: label %d of row %d is outside [0, %d)", l, i, c)
		}
	}
	be := tp.b
	loss := tp.output(1)
	var dl *tensor.Tensor
	if tp.needsGrad(logits) {
		dl = tp.scratch(n, c)
	}
	be.SoftmaxCrossEntropy(logits.Value, labels, loss, dl)
	if dl == nil {
		return tp.Record(loss, nil, nil)
	}
	// The gradient is computed by the forward; backward scales it by the
	// incoming one-element gradient.
	return tp.Record(loss, []*Var{logits}, func(dy *tensor.Tensor) {
		tp.accumulate(logits, tp.timesScalar(dy, dl))
		tp.release(dl)
	})
}

// InfoNCE returns the contrastive loss of p (see kernels.InfoNCEParams),
// shape [1]: q [A, D] anchors and k [B, D] keys are raw features, normalised
// inside; queue [Q, D] holds normalised negatives or is nil and gets no
// gradient. q and k may be the same Var (SimCLR): both gradients go to it.
func (tp *Tape) InfoNCE(q, k *Var, queue *tensor.Tensor, p kernels.InfoNCEParams) *Var {
	checkDims("InfoNCE", "q", q, 2)
	checkDims("InfoNCE", "k", k, 2)
	a, d := q.Value.Dim(0), q.Value.Dim(1)
	b := k.Value.Dim(0)
	if k.Value.Dim(1) != d {
		panicf("InfoNCE: q is %v and k is %v", q.Shape(), k.Shape())
	}
	if queue != nil && (queue.Dims() != 2 || queue.Dim(1) != d) {
		panicf("InfoNCE: queue is %v, want [Q %d]", queue.Shape(), d)
	}
	if len(p.Pos) != a {
		panicf("InfoNCE: %d positives for %d anchors", len(p.Pos), a)
	}
	be := tp.b
	loss := tp.output(1)
	var dq, dk *tensor.Tensor
	same := q == k
	if tp.needsGrad(q) {
		dq = tp.scratch(a, d)
	}
	if tp.needsGrad(k) {
		dk = tp.scratch(b, d)
	}
	kernels.InfoNCE(be, p, q.Value, k.Value, queue, loss, dq, dk)
	if dq == nil && dk == nil {
		return tp.Record(loss, nil, nil)
	}
	if same {
		// The backend wrote the two roles' gradients apart; q gets both.
		be.Add(dq, dk, dq)
		tp.release(dk)
		dk = nil
	}
	// dq and dk go back to the free list once used (release ignores nil).
	return tp.Record(loss, []*Var{q, k}, func(dy *tensor.Tensor) {
		if dq != nil {
			tp.accumulate(q, tp.timesScalar(dy, dq))
		}
		if dk != nil {
			tp.accumulate(k, tp.timesScalar(dy, dk))
		}
		tp.release(dq)
		tp.release(dk)
	})
}
