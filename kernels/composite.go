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

// InfoNCE awaits the row gather and scatter of the core.
func (c composite) InfoNCE(p InfoNCEParams, q, k, queue, loss, dq, dk *tensor.Tensor) {
	Panicf(c.b.Name(), "InfoNCE: this backend has no fused InfoNCE")
}

// HallucinatorForward awaits the row gather of the core.
func (c composite) HallucinatorForward(lambda float32, x, k, w1, b1, w2, b2, w3, b3, act, out *tensor.Tensor) {
	Panicf(c.b.Name(), "HallucinatorForward: this backend has no fused Hallucinator")
}

// HallucinatorBackward awaits the row gather of the core.
func (c composite) HallucinatorBackward(lambda float32, x, k, w1, w2, w3, act, dout, dx, dk, dw1, db1, dw2, db2, dw3, db3 *tensor.Tensor) {
	Panicf(c.b.Name(), "HallucinatorBackward: this backend has no fused Hallucinator")
}
