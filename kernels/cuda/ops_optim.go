package cuda

import (
	"math"

	"hallucinator/kernels"
	"hallucinator/tensor"
)

// launchMT uploads a multi-tensor list and runs launch on it, recording a
// device error under op.
func (b *Backend) launchMT(op string, l *mtList, launch func(list dptr) int, ts ...[]*tensor.Tensor) {
	if l.count == 0 || l.nchunks == 0 {
		return
	}
	b.bind()
	list := b.upload(op, l.bytes())
	var all []*tensor.Tensor
	code := launch(list)
	if code != codeSuccess {
		for _, t := range ts {
			all = append(all, t...)
		}
	}
	b.check(op, code, all...)
	for _, t := range ts {
		keepAlive(t)
	}
}

// SGDStep updates params with SGDParams in one launch over every tensor.
func (b *Backend) SGDStep(p kernels.SGDParams, params, grads, bufs []*tensor.Tensor, wd []bool) {
	const op = "SGDStep"
	lists := map[string][]*tensor.Tensor{"grads": grads}
	if p.Momentum != 0 {
		lists["bufs"] = bufs
	}
	checkLists(op, params, lists, map[string][]bool{"wd": wd})
	l := newMTList(len(params))
	for i, t := range params {
		e := mtTensor{P: b.ptr(op, "params[i]", t), G: b.ptr(op, "grads[i]", grads[i]), N: int64(t.Numel()),
			Flag: flag(wd, i, true)}
		if p.Momentum != 0 {
			e.M = b.ptr(op, "bufs[i]", bufs[i])
		}
		l.add(e)
	}
	args := sgdArgs{LR: p.LR, Momentum: p.Momentum, WeightDecay: p.WeightDecay, Nesterov: b2i(p.Nesterov),
		FirstStep: b2i(p.FirstStep)}
	b.launchMT(op, l, func(list dptr) int { return b.h.sgd(b.stream, list, l.count, l.nchunks, &args) },
		params, grads, bufs)
}

// LARSStep updates params with LARSParams: norms, local rates and the
// update in three launches over every tensor.
func (b *Backend) LARSStep(p kernels.LARSParams, params, grads, bufs []*tensor.Tensor, exclude []bool) {
	const op = "LARSStep"
	checkLists(op, params, map[string][]*tensor.Tensor{"grads": grads, "bufs": bufs},
		map[string][]bool{"exclude": exclude})
	l := newMTList(len(params))
	for i, t := range params {
		l.add(mtTensor{P: b.ptr(op, "params[i]", t), G: b.ptr(op, "grads[i]", grads[i]), M: b.ptr(op, "bufs[i]", bufs[i]),
			N: int64(t.Numel()), Flag: flag(exclude, i, false)})
	}
	args := larsArgs{LR: p.LR, Momentum: p.Momentum, WeightDecay: p.WeightDecay, Eta: p.Eta}
	b.launchMT(op, l, func(list dptr) int {
		ws := b.scratch(b.h.mtWorkspace(l.count, l.nchunks))
		defer ws.done()
		return b.h.lars(b.stream, list, l.count, l.nchunks, ws.ptr(), &args)
	}, params, grads, bufs)
}

// AdamWStep updates params with AdamWParams in one launch.
func (b *Backend) AdamWStep(p kernels.AdamWParams, params, grads, m, v []*tensor.Tensor, wd []bool) {
	const op = "AdamWStep"
	if p.Step < 1 {
		kernels.Panicf(name, "%s: step %d, want >= 1", op, p.Step)
	}
	checkLists(op, params, map[string][]*tensor.Tensor{"grads": grads, "m": m, "v": v}, map[string][]bool{"wd": wd})
	l := newMTList(len(params))
	for i, t := range params {
		l.add(mtTensor{P: b.ptr(op, "params[i]", t), G: b.ptr(op, "grads[i]", grads[i]), M: b.ptr(op, "m[i]", m[i]),
			V: b.ptr(op, "v[i]", v[i]), N: int64(t.Numel()), Flag: flag(wd, i, true)})
	}
	bc1 := 1 - math.Pow(float64(p.Beta1), float64(p.Step))
	bc2 := 1 - math.Pow(float64(p.Beta2), float64(p.Step))
	args := adamwArgs{LR: p.LR, Beta1: p.Beta1, Beta2: p.Beta2, Eps: p.Eps, WeightDecay: p.WeightDecay,
		BiasCorrection1: float32(bc1), BiasCorrection2: float32(bc2)}
	b.launchMT(op, l, func(list dptr) int { return b.h.adamw(b.stream, list, l.count, l.nchunks, &args) },
		params, grads, m, v)
}

// EMA: target = decay*target + (1-decay)*source, one launch for all pairs.
func (b *Backend) EMA(decay float32, target, source []*tensor.Tensor) {
	const op = "EMA"
	checkLists(op, target, map[string][]*tensor.Tensor{"source": source}, nil)
	l := newMTList(len(target))
	for i, t := range target {
		l.add(mtTensor{P: b.ptr(op, "target[i]", t), G: b.ptr(op, "source[i]", source[i]), N: int64(t.Numel())})
	}
	b.launchMT(op, l, func(list dptr) int { return b.h.ema(b.stream, list, l.count, l.nchunks, decay) },
		target, source)
}
