package cpu

import (
	"math"

	"hallucinator/kernels"
	"hallucinator/tensor"
)

// poolSetup checks a max pool's parameters and shapes and returns N*C, H, W,
// P, Q.
func poolSetup(op string, pp kernels.PoolParams, x, y *tensor.Tensor) (nc, h, w, p, q int) {
	xs := x.Shape()
	if len(xs) != 4 {
		kernels.Panicf(name, "%s: x has shape %v, want [N, C, H, W]", op, xs)
	}
	if pp.KH < 1 || pp.KW < 1 || pp.StrideH < 1 || pp.StrideW < 1 || pp.PadH < 0 || pp.PadW < 0 ||
		pp.PadH >= pp.KH || pp.PadW >= pp.KW {
		kernels.Panicf(name, "%s: bad parameters %+v", op, pp)
	}
	h, w = xs[2], xs[3]
	if h+2*pp.PadH < pp.KH || w+2*pp.PadW < pp.KW {
		kernels.Panicf(name, "%s: window %dx%d larger than the padded %dx%d input", op, pp.KH, pp.KW, h+2*pp.PadH, w+2*pp.PadW)
	}
	p, q = pp.OutSize(h, w)
	kernels.CheckShape(name, op, "y", y, xs[0], xs[1], p, q)
	return xs[0] * xs[1], h, w, p, q
}

// poolArgmax returns the index in plane of the first (row-major) maximum of
// window (oh, ow), and the maximum. Padded cells never win; every window
// holds at least one real cell because padding is smaller than the window.
func poolArgmax(pp *kernels.PoolParams, plane []float32, h, w, oh, ow int) (int, float32) {
	best, at := float32(math.Inf(-1)), -1
	r0, s0 := oh*pp.StrideH-pp.PadH, ow*pp.StrideW-pp.PadW
	rlo, rhi := max(r0, 0), min(r0+pp.KH, h)
	slo, shi := max(s0, 0), min(s0+pp.KW, w)
	for ih := rlo; ih < rhi; ih++ {
		row := plane[ih*w : (ih+1)*w]
		for iw := slo; iw < shi; iw++ {
			if v := row[iw]; at < 0 || v > best {
				best, at = v, ih*w+iw
			}
		}
	}
	return at, best
}

// MaxPool2d computes y = max over each window of x, parallel over planes.
func (b *Backend) MaxPool2d(pp kernels.PoolParams, x, y *tensor.Tensor) {
	nc, h, w, p, q := poolSetup("MaxPool2d", pp, x, y)
	xd, yd := data("MaxPool2d", x), data("MaxPool2d", y)
	b.parallel(nc, p*q*pp.KH*pp.KW, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			plane := xd[i*h*w : (i+1)*h*w]
			out := yd[i*p*q : (i+1)*p*q]
			for oh := 0; oh < p; oh++ {
				for ow := 0; ow < q; ow++ {
					_, out[oh*q+ow] = poolArgmax(&pp, plane, h, w, oh, ow)
				}
			}
		}
	})
}

// MaxPool2dBackward routes dy to the first maximum of each window, parallel
// over planes (each plane of dx is written by one worker).
func (b *Backend) MaxPool2dBackward(pp kernels.PoolParams, x, y, dy, dx *tensor.Tensor) {
	const op = "MaxPool2dBackward"
	nc, h, w, p, q := poolSetup(op, pp, x, y)
	kernels.CheckShape(name, op, "dy", dy, y.Shape()...)
	kernels.CheckShape(name, op, "dx", dx, x.Shape()...)
	xd, gd, dd := data(op, x), data(op, dy), data(op, dx)
	b.parallel(nc, p*q*pp.KH*pp.KW, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			plane := xd[i*h*w : (i+1)*h*w]
			g := gd[i*p*q : (i+1)*p*q]
			out := dd[i*h*w : (i+1)*h*w]
			clear(out)
			for oh := 0; oh < p; oh++ {
				for ow := 0; ow < q; ow++ {
					at, _ := poolArgmax(&pp, plane, h, w, oh, ow)
					out[at] += g[oh*q+ow]
				}
			}
		}
	})
}

// GlobalAvgPool writes y [N, C] = mean over H, W of x [N, C, H, W].
func (b *Backend) GlobalAvgPool(x, y *tensor.Tensor) {
	xs := x.Shape()
	if len(xs) != 4 {
		kernels.Panicf(name, "GlobalAvgPool: x has shape %v, want [N, C, H, W]", xs)
	}
	kernels.CheckShape(name, "GlobalAvgPool", "y", y, xs[0], xs[1])
	xd, yd := data("GlobalAvgPool", x), data("GlobalAvgPool", y)
	hw := xs[2] * xs[3]
	b.parallel(len(yd), hw, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			yd[i] = float32(sum64(xd[i*hw:(i+1)*hw]) / float64(hw))
		}
	})
}

// GlobalAvgPoolBackward writes dx [N, C, H, W] = dy [N, C] / (H*W).
func (b *Backend) GlobalAvgPoolBackward(dy, dx *tensor.Tensor) {
	xs := dx.Shape()
	if len(xs) != 4 {
		kernels.Panicf(name, "GlobalAvgPoolBackward: dx has shape %v, want [N, C, H, W]", xs)
	}
	kernels.CheckShape(name, "GlobalAvgPoolBackward", "dy", dy, xs[0], xs[1])
	gd, dd := data("GlobalAvgPoolBackward", dy), data("GlobalAvgPoolBackward", dx)
	hw := xs[2] * xs[3]
	b.parallel(len(gd), hw, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			v := float32(float64(gd[i]) / float64(hw))
			row := dd[i*hw : (i+1)*hw]
			for j := range row {
				row[j] = v
			}
		}
	})
}
