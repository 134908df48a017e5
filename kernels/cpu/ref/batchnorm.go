package ref

import (
	"math"

	"hallucinator/kernels"
	"hallucinator/tensor"
)

// bnShape returns N, C and the spatial size of x [N, C] or [N, C, H, W]
// (any number of dimensions after C is accepted and treated as spatial).
func bnShape(op string, x *tensor.Tensor) (n, c, hw int) {
	if x == nil || x.Dims() < 2 {
		kernels.Panicf(name, "%s: x needs shape [N, C] or [N, C, H, W]", op)
	}
	sh := x.Shape()
	return sh[0], sh[1], tensor.Numel(sh[2:])
}

// bnChannels panics unless every tensor has shape [c].
func bnChannels(op string, c int, names []string, ts ...*tensor.Tensor) {
	for i, t := range ts {
		kernels.CheckShape(name, op, names[i], t, c)
	}
}

// channel calls f with the offset of every run of hw values of channel ch.
func channel(n, c, hw, ch int, f func(off int)) {
	for i := 0; i < n; i++ {
		f((i*c + ch) * hw)
	}
}

// BatchNormTrain normalises x with its batch statistics: y = gamma*(x-mean)*
// invstd + beta (then ReLU if p.ReLU), statistics per channel over N (and
// H, W). It writes mean and invstd = 1/sqrt(var+eps) (biased var) to
// saveMean, saveInvstd [C] and updates runMean and runVar [C] in place with
// p.Momentum, the running variance taking the unbiased batch variance. Each
// channel needs at least two values.
func (*Backend) BatchNormTrain(p kernels.BNParams, x, gamma, beta, y, saveMean, saveInvstd, runMean, runVar *tensor.Tensor) {
	const op = "BatchNormTrain"
	n, c, hw := bnShape(op, x)
	bnChannels(op, c, []string{"gamma", "beta", "saveMean", "saveInvstd", "runMean", "runVar"},
		gamma, beta, saveMean, saveInvstd, runMean, runVar)
	kernels.CheckShape(name, op, "y", y, x.Shape()...)
	m := n * hw
	if m < 2 {
		kernels.Panicf(name, "%s: %d value per channel (shape %v), need at least 2", op, m, x.Shape())
	}
	xs, ys := host(op, "x", x), host(op, "y", y)
	g, b := host(op, "gamma", gamma), host(op, "beta", beta)
	sm, si := host(op, "saveMean", saveMean), host(op, "saveInvstd", saveInvstd)
	rm, rv := host(op, "runMean", runMean), host(op, "runVar", runVar)
	mom := float64(p.Momentum)
	for ch := 0; ch < c; ch++ {
		var sum float64
		channel(n, c, hw, ch, func(off int) {
			for _, v := range xs[off : off+hw] {
				sum += float64(v)
			}
		})
		mean := sum / float64(m)
		var ss float64
		channel(n, c, hw, ch, func(off int) {
			for _, v := range xs[off : off+hw] {
				d := float64(v) - mean
				ss += d * d
			}
		})
		variance := ss / float64(m)
		invstd := 1 / math.Sqrt(variance+float64(p.Eps))
		scale, shift := float64(g[ch])*invstd, float64(b[ch])
		channel(n, c, hw, ch, func(off int) {
			for i, v := range xs[off : off+hw] {
				o := scale*(float64(v)-mean) + shift
				if p.ReLU && !(o > 0) {
					o = 0
				}
				ys[off+i] = float32(o)
			}
		})
		sm[ch], si[ch] = float32(mean), float32(invstd)
		unbiased := ss / float64(m-1)
		rm[ch] = float32((1-mom)*float64(rm[ch]) + mom*mean)
		rv[ch] = float32((1-mom)*float64(rv[ch]) + mom*unbiased)
	}
}

// BatchNormInfer normalises with the running statistics: y = gamma*(x-
// runMean)/sqrt(runVar+eps) + beta (then ReLU if p.ReLU).
func (*Backend) BatchNormInfer(p kernels.BNParams, x, gamma, beta, runMean, runVar, y *tensor.Tensor) {
	const op = "BatchNormInfer"
	n, c, hw := bnShape(op, x)
	bnChannels(op, c, []string{"gamma", "beta", "runMean", "runVar"}, gamma, beta, runMean, runVar)
	kernels.CheckShape(name, op, "y", y, x.Shape()...)
	xs, ys := host(op, "x", x), host(op, "y", y)
	g, b := host(op, "gamma", gamma), host(op, "beta", beta)
	rm, rv := host(op, "runMean", runMean), host(op, "runVar", runVar)
	for ch := 0; ch < c; ch++ {
		mean := float64(rm[ch])
		scale := float64(g[ch]) / math.Sqrt(float64(rv[ch])+float64(p.Eps))
		shift := float64(b[ch])
		channel(n, c, hw, ch, func(off int) {
			for i, v := range xs[off : off+hw] {
				o := scale*(float64(v)-mean) + shift
				if p.ReLU && !(o > 0) {
					o = 0
				}
				ys[off+i] = float32(o)
			}
		})
	}
}

// BatchNormBackward computes dx, dgamma and dbeta [C] of a training-mode
// forward from x, its saved statistics, gamma and dy. With p.ReLU, dy is
// first masked with y > 0. With xhat = (x-mean)*invstd and M values per
// channel: dbeta = sum dy, dgamma = sum dy*xhat, dx = gamma*invstd*(dy -
// dbeta/M - xhat*dgamma/M).
func (*Backend) BatchNormBackward(p kernels.BNParams, x, y, dy, gamma, saveMean, saveInvstd, dx, dgamma, dbeta *tensor.Tensor) {
	const op = "BatchNormBackward"
	n, c, hw := bnShape(op, x)
	bnChannels(op, c, []string{"gamma", "saveMean", "saveInvstd", "dgamma", "dbeta"},
		gamma, saveMean, saveInvstd, dgamma, dbeta)
	kernels.CheckShape(name, op, "dy", dy, x.Shape()...)
	kernels.CheckShape(name, op, "dx", dx, x.Shape()...)
	var ys []float32
	if p.ReLU {
		kernels.CheckShape(name, op, "y", y, x.Shape()...)
		ys = host(op, "y", y)
	}
	m := float64(n * hw)
	xs, gs, ds := host(op, "x", x), host(op, "dy", dy), host(op, "dx", dx)
	g, sm, si := host(op, "gamma", gamma), host(op, "saveMean", saveMean), host(op, "saveInvstd", saveInvstd)
	dg, db := host(op, "dgamma", dgamma), host(op, "dbeta", dbeta)
	grad := func(i int) float64 {
		if ys != nil && !(ys[i] > 0) {
			return 0
		}
		return float64(gs[i])
	}
	for ch := 0; ch < c; ch++ {
		mean, invstd := float64(sm[ch]), float64(si[ch])
		var sdy, sdyx float64
		channel(n, c, hw, ch, func(off int) {
			for i := off; i < off+hw; i++ {
				d := grad(i)
				sdy += d
				sdyx += d * (float64(xs[i]) - mean) * invstd
			}
		})
		k := float64(g[ch]) * invstd
		channel(n, c, hw, ch, func(off int) {
			for i := off; i < off+hw; i++ {
				xhat := (float64(xs[i]) - mean) * invstd
				ds[i] = float32(k * (grad(i) - sdy/m - xhat*sdyx/m))
			}
		})
		db[ch], dg[ch] = float32(sdy), float32(sdyx)
	}
}
