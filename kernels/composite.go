package kernels

import (
	"math"

	"hallucinator/tensor"
)

// composite implements the optional capabilities with core methods, for
// backends that have no fused kernel of their own. Each method computes what
// the capability's comment says, in float32 on the device except where a
// comment says otherwise, so its results match the reference to float32
// rounding rather than bit for bit.
type composite struct{ b Backend }

// checkLists panics unless every list has len(params) tensors of params[i]'s
// size and every flag list is nil or has len(params) entries.
func (c composite) checkLists(op string, params []*tensor.Tensor, lists map[string][]*tensor.Tensor, flags map[string][]bool) {
	for i, p := range params {
		if p == nil {
			Panicf(c.b.Name(), "%s: params[%d] is nil", op, i)
		}
	}
	for nm, l := range lists {
		if len(l) != len(params) {
			Panicf(c.b.Name(), "%s: %d %s for %d params", op, len(l), nm, len(params))
		}
		for i, t := range l {
			if t == nil || t.Numel() != params[i].Numel() {
				Panicf(c.b.Name(), "%s: %s[%d] does not match params[%d] of shape %v", op, nm, i, i, params[i].Shape())
			}
		}
	}
	for nm, f := range flags {
		if f != nil && len(f) != len(params) {
			Panicf(c.b.Name(), "%s: %d %s flags for %d params", op, len(f), nm, len(params))
		}
	}
}

// flagAt returns f[i], or def when f is nil.
func flagAt(f []bool, i int, def bool) bool {
	if f == nil {
		return def
	}
	return f[i]
}

// SGDStep: per tensor, g = grad + decay*p in a scratch tensor (grad itself
// when there is no decay), buf = Momentum*buf + g (a copy of g on the first
// step), g = Nesterov ? g + Momentum*buf : buf, p -= LR*g.
func (c composite) SGDStep(p SGDParams, params, grads, bufs []*tensor.Tensor, wd []bool) {
	const op = "SGDStep"
	lists := map[string][]*tensor.Tensor{"grads": grads}
	if p.Momentum != 0 {
		lists["bufs"] = bufs
	}
	c.checkLists(op, params, lists, map[string][]bool{"wd": wd})
	b := c.b
	for i, w := range params {
		g := grads[i]
		decay := p.WeightDecay != 0 && flagAt(wd, i, true)
		// A scratch g is needed when it is changed: decay, or Nesterov.
		if decay || (p.Momentum != 0 && p.Nesterov) {
			s := b.Zeros(g.Shape()...)
			b.Copy(g, s)
			if decay {
				b.Axpy(p.WeightDecay, w, s)
			}
			g = s
		}
		if p.Momentum != 0 {
			buf := bufs[i]
			if p.FirstStep {
				b.Copy(g, buf)
			} else {
				b.Scale(p.Momentum, buf, buf)
				b.Axpy(1, g, buf)
			}
			if p.Nesterov {
				b.Axpy(p.Momentum, buf, g)
			} else {
				g = buf
			}
		}
		b.Axpy(-p.LR, g, w)
	}
}

// LARSStep: the norms of every parameter and gradient in one SumSquares
// each, read back to the host for the local rates; then per tensor
// g = grad + decay*p, buf = Momentum*buf + local*g, p -= buf.
func (c composite) LARSStep(p LARSParams, params, grads, bufs []*tensor.Tensor, exclude []bool) {
	const op = "LARSStep"
	c.checkLists(op, params, map[string][]*tensor.Tensor{"grads": grads, "bufs": bufs}, map[string][]bool{"exclude": exclude})
	if len(params) == 0 {
		return
	}
	b := c.b
	n := len(params)
	sq := b.Zeros(2 * n)
	b.SumSquares(params, sq.Rows(0, n))
	b.SumSquares(grads, sq.Rows(n, 2*n))
	norms := b.ToHost(sq).Data()
	for i, w := range params {
		local, excluded := float64(p.LR), flagAt(exclude, i, false)
		g := grads[i]
		if !excluded {
			pn, gn := math.Sqrt(float64(norms[i])), math.Sqrt(float64(norms[n+i]))
			if pn > 0 && gn > 0 {
				local *= float64(p.Eta) * pn / (gn + float64(p.WeightDecay)*pn)
			}
			if p.WeightDecay != 0 {
				s := b.Zeros(g.Shape()...)
				b.Copy(g, s)
				b.Axpy(p.WeightDecay, w, s)
				g = s
			}
		}
		buf := bufs[i]
		b.Scale(p.Momentum, buf, buf)
		b.Axpy(float32(local), g, buf)
		b.Axpy(-1, buf, w)
	}
}

// AdamWStep copies each parameter, gradient and moment to the host, updates
// them there in float64 as the reference does, and copies the results back:
// the core has no element-wise square root. A backend reaches device speed
// by implementing AdamWBackend.
func (c composite) AdamWStep(p AdamWParams, params, grads, m, v []*tensor.Tensor, wd []bool) {
	const op = "AdamWStep"
	if p.Step < 1 {
		Panicf(c.b.Name(), "%s: step %d, want >= 1", op, p.Step)
	}
	c.checkLists(op, params, map[string][]*tensor.Tensor{"grads": grads, "m": m, "v": v}, map[string][]bool{"wd": wd})
	b := c.b
	b1, b2 := float64(p.Beta1), float64(p.Beta2)
	bc1 := 1 - math.Pow(b1, float64(p.Step))
	bc2 := 1 - math.Pow(b2, float64(p.Step))
	lr, eps := float64(p.LR), float64(p.Eps)
	for i := range params {
		ph, mh, vh := b.ToHost(params[i]), b.ToHost(m[i]), b.ToHost(v[i])
		ps, gs, ms, vs := ph.Data(), b.ToHost(grads[i]).Data(), mh.Data(), vh.Data()
		decay := 0.0
		if flagAt(wd, i, true) {
			decay = float64(p.WeightDecay)
		}
		for j := range ps {
			g := float64(gs[j])
			pv := float64(ps[j]) * (1 - lr*decay)
			mv := b1*float64(ms[j]) + (1-b1)*g
			vv := b2*float64(vs[j]) + (1-b2)*g*g
			pv -= lr * (mv / bc1) / (math.Sqrt(vv/bc2) + eps)
			ps[j], ms[j], vs[j] = float32(pv), float32(mv), float32(vv)
		}
		b.Copy(b.FromHost(ph), params[i])
		b.Copy(b.FromHost(mh), m[i])
		b.Copy(b.FromHost(vh), v[i])
	}
}

// EMA: target = decay*target, then target += (1-decay)*source.
func (c composite) EMA(decay float32, target, source []*tensor.Tensor) {
	c.checkLists("EMA", target, map[string][]*tensor.Tensor{"source": source}, nil)
	for i, t := range target {
		c.b.Scale(decay, t, t)
		c.b.Axpy(1-decay, source[i], t)
	}
}

// normEps is the clamp of the row norms InfoNCE divides by, as the
// reference's (torch.nn.functional.normalize's).
const normEps = 1e-12

// InfoNCE: the anchors and keys are normalised, the keys stacked over the
// queue rows, and the logits of every anchor against every key and queue
// row are one product; the keys that InfoNCEParams leaves out of an anchor's
// logits (all but its positive without in-batch negatives, itself, its
// twins) are set to -Inf with one scatter into the logits, so that
// SoftmaxCrossEntropy with the positives as labels is the loss, and its
// gradient, back through the product and the normalisations, the gradients
// of q and k.
func (c composite) InfoNCE(p InfoNCEParams, q, k, queue, loss, dq, dk *tensor.Tensor) {
	const op = "InfoNCE"
	b := c.b
	nm := b.Name()
	if q == nil || k == nil || q.Dims() != 2 || k.Dims() != 2 {
		Panicf(nm, "%s: q and k must be 2-D", op)
	}
	na, d, nb := q.Dim(0), q.Dim(1), k.Dim(0)
	CheckShape(nm, op, "k", k, nb, d)
	CheckShape(nm, op, "loss", loss, 1)
	p.Check(nm, na, nb)
	nq := 0
	if queue != nil {
		if queue.Dims() != 2 {
			Panicf(nm, "%s: queue has shape %v, want 2 dimensions", op, queue.Shape())
		}
		nq = queue.Dim(0)
		CheckShape(nm, op, "queue", queue, nq, d)
	}
	if dq != nil {
		CheckShape(nm, op, "dq", dq, na, d)
	}
	if dk != nil {
		CheckShape(nm, op, "dk", dk, nb, d)
		if dk == dq {
			Panicf(nm, "%s: dq and dk are the same tensor", op)
		}
	}
	cols := nb + nq
	if int64(na)*int64(cols) > math.MaxInt32 {
		Panicf(nm, "%s: %d x %d logits are more than the composite indexes", op, na, cols)
	}
	qn, qnorm := b.Zeros(na, d), b.Zeros(na)
	b.L2NormalizeRows(normEps, q, qn, qnorm)
	keys, knorm := b.Zeros(cols, d), b.Zeros(nb)
	kn := keys.Rows(0, nb)
	b.L2NormalizeRows(normEps, k, kn, knorm)
	if nq > 0 {
		b.Copy(queue, keys.Rows(nb, cols))
	}
	invT := 1 / p.Temperature
	logits := b.Zeros(na, cols)
	b.Gemm(false, true, invT, qn, keys, 0, logits)
	var masked []int32
	for i := range na {
		self := -1
		if p.Self != nil {
			self = int(p.Self[i])
		}
		for j := range nb {
			keep := j == int(p.Pos[i]) ||
				(p.InBatchNegatives && j != self && !(p.Twins && p.KeyID[j] == p.AnchorID[i]))
			if !keep {
				masked = append(masked, int32(i*cols+j))
			}
		}
	}
	if len(masked) > 0 {
		inf := b.Zeros(len(masked), 1)
		b.Fill(float32(math.Inf(-1)), inf)
		b.ScatterAddRows(inf, masked, logits.Reshape(na*cols, 1))
	}
	var dlogits *tensor.Tensor
	if dq != nil || dk != nil {
		dlogits = b.Zeros(na, cols)
	}
	b.SoftmaxCrossEntropy(logits, p.Pos, loss, dlogits)
	if dq != nil {
		dqn := b.Zeros(na, d)
		b.Gemm(false, false, invT, dlogits, keys, 0, dqn)
		b.L2NormalizeRowsBackward(normEps, qn, qnorm, dqn, dq)
	}
	if dk != nil {
		dkeys := b.Zeros(cols, d) // the queue's rows are computed and dropped
		b.Gemm(true, false, invT, dlogits, qn, 0, dkeys)
		b.L2NormalizeRowsBackward(normEps, kn, knorm, dkeys.Rows(0, nb), dk)
	}
}

// interleave returns the row indices that gather [a; b], two stacks of n
// rows, into rows a[0], b[0], a[1], b[1], ...: the rows of [a | b] (feature
// concatenation) seen as [2n, width]. With inverse, the indices that gather
// them back into [a; b].
func interleave(n int, inverse bool) []int32 {
	idx := make([]int32, 2*n)
	for i := range n {
		if inverse {
			idx[i], idx[n+i] = int32(2*i), int32(2*i+1)
		} else {
			idx[2*i], idx[2*i+1] = int32(i), int32(n+i)
		}
	}
	return idx
}

// hallucinatorInput returns u = [x | xt] [N, 2D] with xt = x + lambda*(x - k),
// the feature concatenation made by one gather of the stacked rows [x; xt].
func (c composite) hallucinatorInput(lambda float32, x, k *tensor.Tensor, n, d int) *tensor.Tensor {
	b := c.b
	stack := b.Zeros(2*n, d)
	xt := stack.Rows(n, 2*n)
	b.Copy(x, stack.Rows(0, n))
	b.Sub(x, k, xt)
	b.Scale(lambda, xt, xt)
	b.Add(x, xt, xt)
	u := b.Zeros(2*n, d)
	b.GatherRows(stack, interleave(n, false), u)
	return u.Reshape(n, 2*d)
}

// HallucinatorForward: the input concatenation by a gather, each layer a
// product, a bias and a ReLU, and h1 | h2 into act by a second gather.
func (c composite) HallucinatorForward(lambda float32, x, k, w1, b1, w2, b2, w3, b3, act, out *tensor.Tensor) {
	const op = "HallucinatorForward"
	b := c.b
	nm := b.Name()
	n, d := CheckHallucinator(nm, op, x, k, w1, w2, w3, act)
	CheckShape(nm, op, "b1", b1, 2*d)
	CheckShape(nm, op, "b2", b2, 2*d)
	CheckShape(nm, op, "b3", b3, d)
	CheckShape(nm, op, "out", out, n, d)
	u := c.hallucinatorInput(lambda, x, k, n, d)
	h := b.Zeros(2*n, 2*d) // h1 over h2
	h1, h2 := h.Rows(0, n), h.Rows(n, 2*n)
	b.Gemm(false, true, 1, u, w1, 0, h1)
	b.BiasAdd(b1, h1)
	b.Relu(h1, h1)
	b.Gemm(false, true, 1, h1, w2, 0, h2)
	b.BiasAdd(b2, h2)
	b.Relu(h2, h2)
	b.Gemm(false, true, 1, h2, w3, 0, out)
	b.BiasAdd(b3, out)
	b.GatherRows(h, interleave(n, false), act.Reshape(2*n, 2*d))
}

// HallucinatorBackward: h1 and h2 back out of act by a gather, each layer's
// gradients by products, BiasGrad and ReluBackward, the input's gradient
// split into those of x and xt by a gather, and xt's carried to x and k.
func (c composite) HallucinatorBackward(lambda float32, x, k, w1, w2, w3, act, dout, dx, dk, dw1, db1, dw2, db2, dw3, db3 *tensor.Tensor) {
	const op = "HallucinatorBackward"
	b := c.b
	nm := b.Name()
	n, d := CheckHallucinator(nm, op, x, k, w1, w2, w3, act)
	CheckHallucinatorGrads(nm, op, n, d, dout, dx, dk, dw1, db1, dw2, db2, dw3, db3)
	h := b.Zeros(2*n, 2*d)
	b.GatherRows(act.Reshape(2*n, 2*d), interleave(n, true), h)
	h1, h2 := h.Rows(0, n), h.Rows(n, 2*n)
	b.Gemm(true, false, 1, dout, h2, 0, dw3)
	b.BiasGrad(dout, db3)
	dh2 := b.Zeros(n, 2*d)
	b.Gemm(false, false, 1, dout, w3, 0, dh2)
	b.ReluBackward(h2, dh2, dh2)
	b.Gemm(true, false, 1, dh2, h1, 0, dw2)
	b.BiasGrad(dh2, db2)
	dh1 := b.Zeros(n, 2*d)
	b.Gemm(false, false, 1, dh2, w2, 0, dh1)
	b.ReluBackward(h1, dh1, dh1)
	u := c.hallucinatorInput(lambda, x, k, n, d)
	b.Gemm(true, false, 1, dh1, u, 0, dw1)
	b.BiasGrad(dh1, db1)
	du := b.Zeros(n, 2*d)
	b.Gemm(false, false, 1, dh1, w1, 0, du)
	split := b.Zeros(2*n, d) // d/dx over d/dxt
	b.GatherRows(du.Reshape(2*n, d), interleave(n, true), split)
	dxt := split.Rows(n, 2*n)
	b.Copy(split.Rows(0, n), dx)
	b.Axpy(1+lambda, dxt, dx)
	if dk != nil {
		b.Scale(-lambda, dxt, dk)
	}
}
