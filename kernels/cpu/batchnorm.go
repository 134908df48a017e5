package cpu

import (
	"math"

	"hallucinator/kernels"
	"hallucinator/tensor"
)

// Batch normalisation sees x as [N, C, inner] (inner = H*W, or 1 for
// [N, C]). With inner > 1 the work is split over channels, each channel's
// N segments being contiguous; with inner == 1 it is split over blocks of
// channels and runs along the rows. Statistics are accumulated in float64
// in one pass, shifted by the channel's first element so that a large mean
// does not cancel the variance.

// bnDims checks x against the [C] tensors and returns N, C, inner.
func bnDims(op string, x *tensor.Tensor, cs ...*tensor.Tensor) (n, c, inner int) {
	s := x.Shape()
	if len(s) < 2 {
		kernels.Panicf(name, "%s: x has shape %v, want [N, C, ...]", op, s)
	}
	n, c = s[0], s[1]
	inner = tensor.Numel(s[2:])
	for i, t := range cs {
		if t == nil || t.Numel() != c {
			kernels.Panicf(name, "%s: per-channel argument %d does not have %d elements", op, i, c)
		}
	}
	return n, c, inner
}

// bnStatsPlanes accumulates, for channels [lo, hi) of x [N, C, inner], the
// mean and biased variance into mean and variance (indexed from lo), each
// channel's sums shifted by its first element. It reads x in memory order
// (image by image, the channels' planes of each, rather than channel by
// channel across the batch, whose planes lie a whole image apart and defeat
// the prefetcher), adding each channel's segments in image order.
func bnStatsPlanes(x []float32, n, C, inner, lo, hi int, mean, variance []float64) {
	w := hi - lo
	sum, sq := mean[:w], variance[:w]
	clear(sum)
	clear(sq)
	cnt := n * inner
	if cnt == 0 {
		return
	}
	for i := 0; i < n; i++ {
		for c := lo; c < hi; c++ {
			s, q := segStats(x[(i*C+c)*inner:(i*C+c+1)*inner], float64(x[c*inner]))
			sum[c-lo] += s
			sq[c-lo] += q
		}
	}
	for j := range sum {
		m := sum[j] / float64(cnt)
		v := sq[j]/float64(cnt) - m*m
		sum[j] = float64(x[(lo+j)*inner]) + m
		sq[j] = max(v, 0)
	}
}

// splitMean returns m as a float32 pair whose sum is m to about 48 bits.
func splitMean(m float64) (hi, lo float32) {
	hi = float32(m)
	return hi, float32(m - float64(hi))
}

// bnStatsRows accumulates, for channels [lo, hi) of x [N, C], the mean and
// biased variance into mean and variance (indexed from lo).
func bnStatsRows(x []float32, n, C, lo, hi int, mean, variance []float64) {
	w := hi - lo
	shift := x[lo:hi]
	sum := mean[:w]
	sq := variance[:w]
	clear(sum)
	clear(sq)
	for i := 0; i < n; i++ {
		row := x[i*C+lo : i*C+hi]
		for j, v := range row {
			d := float64(v) - float64(shift[j])
			sum[j] += d
			sq[j] += d * d
		}
	}
	inv := 1 / float64(max(n, 1))
	for j := range sum {
		m := sum[j] * inv
		sum[j] = float64(shift[j]) + m
		sq[j] = max(sq[j]*inv-m*m, 0)
	}
}

// BatchNormTrain normalises with batch statistics, fusing the ReLU and the
// running-statistics update.
func (b *Backend) BatchNormTrain(p kernels.BNParams, x, gamma, beta, y, saveMean, saveInvstd, runMean, runVar *tensor.Tensor) {
	const op = "BatchNormTrain"
	n, C, inner := bnDims(op, x, gamma, beta, saveMean, saveInvstd, runMean, runVar)
	kernels.CheckSameNumel(name, op, x.Numel(), y)
	xd, yd := data(op, x), data(op, y)
	gd, bd := data(op, gamma), data(op, beta)
	sm, si := data(op, saveMean), data(op, saveInvstd)
	rm, rv := data(op, runMean), data(op, runVar)
	cnt := n * inner
	if cnt < 2 {
		kernels.Panicf(name, "%s: %d value per channel (shape %v), need at least 2", op, cnt, x.Shape())
	}
	update := func(c int, mean, variance float64) (mhi, mlo, a, b float32) {
		invstd := 1 / math.Sqrt(variance+float64(p.Eps))
		sm[c], si[c] = float32(mean), float32(invstd)
		unbiased := variance
		if cnt > 1 {
			unbiased = variance * float64(cnt) / float64(cnt-1)
		}
		mom := float64(p.Momentum)
		rm[c] = float32((1-mom)*float64(rm[c]) + mom*mean)
		rv[c] = float32((1-mom)*float64(rv[c]) + mom*unbiased)
		mhi, mlo = splitMean(mean)
		return mhi, mlo, float32(float64(gd[c]) * invstd), bd[c]
	}
	if inner == 1 {
		b.parallel(C, 4*n, func(lo, hi int) {
			mean := make([]float64, hi-lo)
			variance := make([]float64, hi-lo)
			bnStatsRows(xd, n, C, lo, hi, mean, variance)
			mh, ml := make([]float32, hi-lo), make([]float32, hi-lo)
			a, bb := make([]float32, hi-lo), make([]float32, hi-lo)
			for j := range a {
				mh[j], ml[j], a[j], bb[j] = update(lo+j, mean[j], variance[j])
			}
			for i := 0; i < n; i++ {
				xr, yr := xd[i*C+lo:i*C+hi], yd[i*C+lo:i*C+hi]
				for j, v := range xr {
					o := (v-mh[j]-ml[j])*a[j] + bb[j]
					if p.ReLU {
						o = max(o, 0)
					}
					yr[j] = o
				}
			}
		})
		return
	}
	b.parallel(C, 3*n*inner, func(lo, hi int) {
		w := hi - lo
		mean, variance := make([]float64, w), make([]float64, w)
		bnStatsPlanes(xd, n, C, inner, lo, hi, mean, variance)
		mh, ml := make([]float32, w), make([]float32, w)
		a, bb := make([]float32, w), make([]float32, w)
		for j := range a {
			mh[j], ml[j], a[j], bb[j] = update(lo+j, mean[j], variance[j])
		}
		// In memory order: image by image, the task's channels of each.
		for i := 0; i < n; i++ {
			for c := lo; c < hi; c++ {
				o := (i*C + c) * inner
				bnAffine(xd[o:o+inner], yd[o:o+inner], mh[c-lo], ml[c-lo], a[c-lo], bb[c-lo], p.ReLU)
			}
		}
	})
}

// BatchNormInfer normalises with the running statistics.
func (b *Backend) BatchNormInfer(p kernels.BNParams, x, gamma, beta, runMean, runVar, y *tensor.Tensor) {
	const op = "BatchNormInfer"
	n, C, inner := bnDims(op, x, gamma, beta, runMean, runVar)
	kernels.CheckSameNumel(name, op, x.Numel(), y)
	xd, yd := data(op, x), data(op, y)
	gd, bd := data(op, gamma), data(op, beta)
	rm, rv := data(op, runMean), data(op, runVar)
	a := make([]float32, C)
	for c := range a {
		a[c] = float32(float64(gd[c]) / math.Sqrt(float64(rv[c])+float64(p.Eps)))
	}
	b.parallel(n*C, inner, func(lo, hi int) {
		for j := lo; j < hi; j++ {
			c := j % C
			bnAffine(xd[j*inner:(j+1)*inner], yd[j*inner:(j+1)*inner], rm[c], 0, a[c], bd[c], p.ReLU)
		}
	})
}

// BatchNormBackward computes dx, dgamma and dbeta of a training-mode
// forward. With xhat = (x-mean)*invstd and g = dy (masked by y > 0 when
// p.ReLU): dbeta = sum g, dgamma = sum g*xhat, and
// dx = gamma*invstd*(g - dbeta/cnt - xhat*dgamma/cnt).
func (b *Backend) BatchNormBackward(p kernels.BNParams, x, y, dy, gamma, saveMean, saveInvstd, dx, dgamma, dbeta *tensor.Tensor) {
	const op = "BatchNormBackward"
	n, C, inner := bnDims(op, x, gamma, saveMean, saveInvstd, dgamma, dbeta)
	kernels.CheckSameNumel(name, op, x.Numel(), dy, dx)
	xd, dyd, dxd := data(op, x), data(op, dy), data(op, dx)
	var yd []float32
	if p.ReLU {
		kernels.CheckSameNumel(name, op, x.Numel(), y)
		yd = data(op, y)
	}
	gd, sm, si := data(op, gamma), data(op, saveMean), data(op, saveInvstd)
	dgd, dbd := data(op, dgamma), data(op, dbeta)
	cnt := float64(n * inner)
	// coefs turns the sums of g and g*(x-mean) of channel c into dgamma,
	// dbeta and the coefficients of dx = ka*g + kb*(x-mean) + kc.
	coefs := func(c int, sg, sgx float64) (ka, kb, kc float64) {
		invstd := float64(si[c])
		db := sg
		dg := sgx * invstd
		dbd[c], dgd[c] = float32(db), float32(dg)
		if cnt == 0 {
			return 0, 0, 0
		}
		a := float64(gd[c]) * invstd
		mdb, mdg := db/cnt, dg/cnt
		return a, -a * invstd * mdg, -a * mdb
	}
	if inner == 1 {
		b.parallel(C, 6*n, func(lo, hi int) {
			w := hi - lo
			sg := make([]float64, w)
			sgx := make([]float64, w)
			for i := 0; i < n; i++ {
				o := i*C + lo
				xr, gr := xd[o:o+w], dyd[o:o+w]
				for j, g := range gr {
					if p.ReLU {
						g = maskPos(yd[o+j], g)
					}
					sg[j] += float64(g)
					sgx[j] += float64(g) * (float64(xr[j]) - float64(sm[lo+j]))
				}
			}
			ka, kb, kc := make([]float64, w), make([]float64, w), make([]float64, w)
			for j := range ka {
				ka[j], kb[j], kc[j] = coefs(lo+j, sg[j], sgx[j])
			}
			for i := 0; i < n; i++ {
				o := i*C + lo
				xr, gr, dr := xd[o:o+w], dyd[o:o+w], dxd[o:o+w]
				for j := range dr {
					g := gr[j]
					if p.ReLU {
						g = maskPos(yd[o+j], g)
					}
					dr[j] = float32(ka[j]*float64(g) + kb[j]*(float64(xr[j])-float64(sm[lo+j])) + kc[j])
				}
			}
		})
		return
	}
	// Both passes in memory order, image by image (see bnStatsPlanes); each
	// channel's sums add its segments in image order as before.
	b.parallel(C, 5*n*inner, func(lo, hi int) {
		w := hi - lo
		sg, sgx := make([]float64, w), make([]float64, w)
		seg := func(i, c int) (x, dy, y []float32) {
			o := (i*C + c) * inner
			if p.ReLU {
				y = yd[o : o+inner]
			}
			return xd[o : o+inner], dyd[o : o+inner], y
		}
		for i := 0; i < n; i++ {
			for c := lo; c < hi; c++ {
				x, dy, y := seg(i, c)
				a, bx := bnGradSums(x, dy, y, sm[c])
				sg[c-lo] += a
				sgx[c-lo] += bx
			}
		}
		ka, kb, kc := make([]float64, w), make([]float64, w), make([]float64, w)
		for j := range ka {
			ka[j], kb[j], kc[j] = coefs(lo+j, sg[j], sgx[j])
			kc[j] -= kb[j] * float64(sm[lo+j])
		}
		for i := 0; i < n; i++ {
			for c := lo; c < hi; c++ {
				x, dy, y := seg(i, c)
				o := (i*C + c) * inner
				bnGradApply(x, dy, y, dxd[o:o+inner], ka[c-lo], kb[c-lo], kc[c-lo])
			}
		}
	})
}
