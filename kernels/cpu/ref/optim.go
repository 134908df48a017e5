package ref

import (
	"math"

	"hallucinator/kernels"
	"hallucinator/tensor"
)

// checkLists panics unless every list has len(params) entries (nil lists are
// skipped when optional) and every tensor of entry i has params[i]'s size.
func checkLists(op string, params []*tensor.Tensor, lists map[string][]*tensor.Tensor, flags map[string][]bool) {
	for nm, l := range lists {
		if len(l) != len(params) {
			kernels.Panicf(name, "%s: %d %s for %d params", op, len(l), nm, len(params))
		}
		for i, t := range l {
			if t == nil || t.Numel() != params[i].Numel() {
				kernels.Panicf(name, "%s: %s[%d] does not match params[%d] of shape %v", op, nm, i, i, params[i].Shape())
			}
		}
	}
	for nm, f := range flags {
		if f != nil && len(f) != len(params) {
			kernels.Panicf(name, "%s: %d %s flags for %d params", op, len(f), nm, len(params))
		}
	}
}

// flag returns f[i], or def when f is nil.
func flag(f []bool, i int, def bool) bool {
	if f == nil {
		return def
	}
	return f[i]
}

// SGDStep updates params in place as torch.optim.SGD (dampening 0), per
// element: g = grad + WeightDecay*p (no decay where wd[i] is false);
// with Momentum, buf = Momentum*buf + g (buf = g when FirstStep) and
// g = Nesterov ? g + Momentum*buf : buf; then p -= LR*g. bufs are not
// touched (and may be nil) when Momentum is 0.
func (*Backend) SGDStep(p kernels.SGDParams, params, grads, bufs []*tensor.Tensor, wd []bool) {
	const op = "SGDStep"
	lists := map[string][]*tensor.Tensor{"grads": grads}
	if p.Momentum != 0 {
		lists["bufs"] = bufs
	}
	checkLists(op, params, lists, map[string][]bool{"wd": wd})
	for i := range params {
		ps, gs := host(op, "params[i]", params[i]), host(op, "grads[i]", grads[i])
		var bs []float32
		if p.Momentum != 0 {
			bs = host(op, "bufs[i]", bufs[i])
		}
		decay := float32(0)
		if flag(wd, i, true) {
			decay = p.WeightDecay
		}
		for j := range ps {
			g := gs[j] + decay*ps[j]
			if bs != nil {
				if p.FirstStep {
					bs[j] = g
				} else {
					bs[j] = p.Momentum*bs[j] + g
				}
				if p.Nesterov {
					g += p.Momentum * bs[j]
				} else {
					g = bs[j]
				}
			}
			ps[j] -= p.LR * g
		}
	}
}

// LARSStep updates params with kernels.LARSParams. For each tensor not
// excluded: g = grad + WeightDecay*p and the local rate is LR*Eta*||p|| /
// (||grad|| + WeightDecay*||p||), or LR when either norm is 0; excluded
// tensors use g = grad and LR. Then buf = Momentum*buf + local*g and
// p -= buf. Norms are computed in float64.
func (*Backend) LARSStep(p kernels.LARSParams, params, grads, bufs []*tensor.Tensor, exclude []bool) {
	const op = "LARSStep"
	checkLists(op, params, map[string][]*tensor.Tensor{"grads": grads, "bufs": bufs}, map[string][]bool{"exclude": exclude})
	for i := range params {
		ps, gs, bs := host(op, "params[i]", params[i]), host(op, "grads[i]", grads[i]), host(op, "bufs[i]", bufs[i])
		local, decay := float64(p.LR), float32(0)
		if !flag(exclude, i, false) {
			decay = p.WeightDecay
			pn, gn := math.Sqrt(sumSquares(ps)), math.Sqrt(sumSquares(gs))
			if pn > 0 && gn > 0 {
				local *= float64(p.Eta) * pn / (gn + float64(p.WeightDecay)*pn)
			}
		}
		lr := float32(local)
		for j := range ps {
			g := gs[j] + decay*ps[j]
			bs[j] = p.Momentum*bs[j] + lr*g
			ps[j] -= bs[j]
		}
	}
}

// AdamWStep updates params as torch.optim.AdamW, per element:
// p -= LR*WeightDecay*p (skipped where wd[i] is false); m = B1*m + (1-B1)*g;
// v = B2*v + (1-B2)*g*g; p -= LR * (m/(1-B1^Step)) / (sqrt(v/(1-B2^Step)) +
// Eps). Step counts from 1.
func (*Backend) AdamWStep(p kernels.AdamWParams, params, grads, m, v []*tensor.Tensor, wd []bool) {
	const op = "AdamWStep"
	if p.Step < 1 {
		kernels.Panicf(name, "%s: step %d, want >= 1", op, p.Step)
	}
	checkLists(op, params, map[string][]*tensor.Tensor{"grads": grads, "m": m, "v": v}, map[string][]bool{"wd": wd})
	b1, b2 := float64(p.Beta1), float64(p.Beta2)
	bc1 := 1 - math.Pow(b1, float64(p.Step))
	bc2 := 1 - math.Pow(b2, float64(p.Step))
	lr, eps := float64(p.LR), float64(p.Eps)
	for i := range params {
		ps, gs := host(op, "params[i]", params[i]), host(op, "grads[i]", grads[i])
		ms, vs := host(op, "m[i]", m[i]), host(op, "v[i]", v[i])
		decay := 0.0
		if flag(wd, i, true) {
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
	}
}

// EMA: target = decay*target + (1-decay)*source, per pair of tensors.
func (*Backend) EMA(decay float32, target, source []*tensor.Tensor) {
	const op = "EMA"
	checkLists(op, target, map[string][]*tensor.Tensor{"source": source}, nil)
	d := float64(decay)
	for i := range target {
		ts, ss := host(op, "target[i]", target[i]), host(op, "source[i]", source[i])
		for j, s := range ss {
			ts[j] = float32(d*float64(ts[j]) + (1-d)*float64(s))
		}
	}
}
