package cpu

import (
	"math"

	"hallucinator/kernels"
	"hallucinator/tensor"
)

// Optimiser steps cut all parameters into fixed blocks and update the blocks
// in parallel, so that one call over many small tensors and a few large ones
// keeps every worker busy.

// checkLists panics unless every list matches params element for element
// and every flag slice is nil or as long as params; it returns the data of
// the lists in the same order.
func checkLists(op string, params []*tensor.Tensor, lists [][]*tensor.Tensor, flags ...[]bool) [][][]float32 {
	out := make([][][]float32, len(lists)+1)
	out[0] = make([][]float32, len(params))
	for i, t := range params {
		if t == nil {
			kernels.Panicf(name, "%s: params[%d] is nil", op, i)
		}
		out[0][i] = data(op, t)
	}
	for l, ts := range lists {
		if len(ts) != len(params) {
			kernels.Panicf(name, "%s: list %d has %d tensors for %d params", op, l+1, len(ts), len(params))
		}
		out[l+1] = make([][]float32, len(ts))
		for i, t := range ts {
			if t == nil || t.Numel() != params[i].Numel() {
				kernels.Panicf(name, "%s: tensor %d of list %d does not match params[%d] of shape %v", op, i, l+1, i, params[i].Shape())
			}
			out[l+1][i] = data(op, t)
		}
	}
	for _, f := range flags {
		if f != nil && len(f) != len(params) {
			kernels.Panicf(name, "%s: %d flags for %d params", op, len(f), len(params))
		}
	}
	return out
}

func flag(f []bool, i int, def bool) bool {
	if f == nil {
		return def
	}
	return f[i]
}

// SGDStep updates params in place as torch.optim.SGD does.
func (b *Backend) SGDStep(p kernels.SGDParams, params, grads, bufs []*tensor.Tensor, wd []bool) {
	const op = "SGDStep"
	lists := [][]*tensor.Tensor{grads}
	if p.Momentum != 0 {
		lists = append(lists, bufs)
	}
	d := checkLists(op, params, lists, wd)
	bl := makeBlocks(len(params), func(i int) int { return len(d[0][i]) }, nil)
	b.runBlocks(bl, func(_ int, k tensorBlock) {
		ps, gs := d[0][k.t][k.lo:k.hi], d[1][k.t][k.lo:k.hi]
		decay := float32(0)
		if flag(wd, k.t, true) {
			decay = p.WeightDecay
		}
		if p.Momentum == 0 {
			for j, g := range gs {
				ps[j] -= p.LR * (g + decay*ps[j])
			}
			return
		}
		bs := d[2][k.t][k.lo:k.hi]
		for j, g0 := range gs {
			g := g0 + decay*ps[j]
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
			ps[j] -= p.LR * g
		}
	})
}

// LARSStep updates params with layer-wise adaptive rates: the norms of
// every tensor are reduced in parallel first, then all blocks are updated.
func (b *Backend) LARSStep(p kernels.LARSParams, params, grads, bufs []*tensor.Tensor, exclude []bool) {
	const op = "LARSStep"
	d := checkLists(op, params, [][]*tensor.Tensor{grads, bufs}, exclude)
	n := len(params)
	adapt := func(i int) bool { return !flag(exclude, i, false) }
	pn := b.sumSquaresOf(n, func(i int) []float32 { return d[0][i] }, adapt)
	gn := b.sumSquaresOf(n, func(i int) []float32 { return d[1][i] }, adapt)
	lrs := make([]float32, n)
	decays := make([]float32, n)
	for i := range lrs {
		local := float64(p.LR)
		if adapt(i) {
			decays[i] = p.WeightDecay
			a, g := math.Sqrt(pn[i]), math.Sqrt(gn[i])
			if a > 0 && g > 0 {
				local *= float64(p.Eta) * a / (g + float64(p.WeightDecay)*a)
			}
		}
		lrs[i] = float32(local)
	}
	bl := makeBlocks(n, func(i int) int { return len(d[0][i]) }, nil)
	b.runBlocks(bl, func(_ int, k tensorBlock) {
		ps, gs, bs := d[0][k.t][k.lo:k.hi], d[1][k.t][k.lo:k.hi], d[2][k.t][k.lo:k.hi]
		lr, decay := lrs[k.t], decays[k.t]
		for j, g0 := range gs {
			g := g0 + decay*ps[j]
			bs[j] = p.Momentum*bs[j] + lr*g
			ps[j] -= bs[j]
		}
	})
}

// AdamWStep updates params as torch.optim.AdamW does, in float64 per
// element.
func (b *Backend) AdamWStep(p kernels.AdamWParams, params, grads, m, v []*tensor.Tensor, wd []bool) {
	const op = "AdamWStep"
	if p.Step < 1 {
		kernels.Panicf(name, "%s: step %d, want >= 1", op, p.Step)
	}
	d := checkLists(op, params, [][]*tensor.Tensor{grads, m, v}, wd)
	b1, b2 := float64(p.Beta1), float64(p.Beta2)
	bc1 := 1 - math.Pow(b1, float64(p.Step))
	bc2 := 1 - math.Pow(b2, float64(p.Step))
	lr, eps := float64(p.LR), float64(p.Eps)
	bl := makeBlocks(len(params), func(i int) int { return len(d[0][i]) }, nil)
	b.runBlocks(bl, func(_ int, k tensorBlock) {
		ps, gs := d[0][k.t][k.lo:k.hi], d[1][k.t][k.lo:k.hi]
		ms, vs := d[2][k.t][k.lo:k.hi], d[3][k.t][k.lo:k.hi]
		decay := 0.0
		if flag(wd, k.t, true) {
			decay = float64(p.WeightDecay)
		}
		keep := 1 - lr*decay
		for j, g32 := range gs {
			g := float64(g32)
			pv := float64(ps[j]) * keep
			mv := b1*float64(ms[j]) + (1-b1)*g
			vv := b2*float64(vs[j]) + (1-b2)*g*g
			pv -= lr * (mv / bc1) / (math.Sqrt(vv/bc2) + eps)
			ps[j], ms[j], vs[j] = float32(pv), float32(mv), float32(vv)
		}
	})
}

// EMA updates target = decay*target + (1-decay)*source for each pair.
func (b *Backend) EMA(decay float32, target, source []*tensor.Tensor) {
	d := checkLists("EMA", target, [][]*tensor.Tensor{source})
	dd := float64(decay)
	bl := makeBlocks(len(target), func(i int) int { return len(d[0][i]) }, nil)
	b.runBlocks(bl, func(_ int, k tensorBlock) {
		ts, ss := d[0][k.t][k.lo:k.hi], d[1][k.t][k.lo:k.hi]
		for j, s := range ss {
			ts[j] = float32(dd*float64(ts[j]) + (1-dd)*float64(s))
		}
	})
}
