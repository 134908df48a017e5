package ref

import (
	"math"

	"hallucinator/kernels"
	"hallucinator/tensor"
)

// poolCheck validates x [N,C,H,W] and y [N,C,P,Q] of a max pool and returns
// N*C, H, W, P, Q.
func poolCheck(op string, pp kernels.PoolParams, x, y *tensor.Tensor) (nc, h, w, p, q int) {
	dims(op, "x", x, 4)
	if pp.KH < 1 || pp.KW < 1 || pp.StrideH < 1 || pp.StrideW < 1 || pp.PadH < 0 || pp.PadW < 0 ||
		pp.PadH >= pp.KH || pp.PadW >= pp.KW {
		kernels.Panicf(name, "%s: bad parameters %+v", op, pp)
	}
	xs := x.Shape()
	h, w = xs[2], xs[3]
	if h+2*pp.PadH < pp.KH || w+2*pp.PadW < pp.KW {
		kernels.Panicf(name, "%s: window %dx%d larger than the padded %dx%d input", op, pp.KH, pp.KW, h+2*pp.PadH, w+2*pp.PadW)
	}
	p, q = pp.OutSize(h, w)
	kernels.CheckShape(name, op, "y", y, xs[0], xs[1], p, q)
	return xs[0] * xs[1], h, w, p, q
}

// argmax returns the index in plane (h x w) of the first row-major maximum
// of the window of output cell (p, q), padded cells counting as -Inf, and
// that maximum.
func argmax(pp kernels.PoolParams, plane []float32, h, w, p, q int) (int, float32) {
	best, at := float32(math.Inf(-1)), -1
	for r := 0; r < pp.KH; r++ {
		ih := p*pp.StrideH - pp.PadH + r
		if ih < 0 || ih >= h {
			continue
		}
		for s := 0; s < pp.KW; s++ {
			iw := q*pp.StrideW - pp.PadW + s
			if iw < 0 || iw >= w {
				continue
			}
			if v := plane[ih*w+iw]; at < 0 || v > best {
				best, at = v, ih*w+iw
			}
		}
	}
	return at, best
}

// MaxPool2d: y = max over each window of x, padded cells never winning.
// Padding must be smaller than the window.
func (*Backend) MaxPool2d(pp kernels.PoolParams, x, y *tensor.Tensor) {
	nc, h, w, p, q := poolCheck("MaxPool2d", pp, x, y)
	xs, ys := host("MaxPool2d", "x", x), host("MaxPool2d", "y", y)
	for i := 0; i < nc; i++ {
		plane := xs[i*h*w : (i+1)*h*w]
		for oh := 0; oh < p; oh++ {
			for ow := 0; ow < q; ow++ {
				_, ys[(i*p+oh)*q+ow] = argmax(pp, plane, h, w, oh, ow)
			}
		}
	}
}

// MaxPool2dBackward: dx = dy routed to the first (row-major) position of
// each window's maximum of x; cells that are no window's maximum get 0 and
// cells that are the maximum of several windows get the sum. y is the
// forward output; the maximum positions are found again from x.
func (*Backend) MaxPool2dBackward(pp kernels.PoolParams, x, y, dy, dx *tensor.Tensor) {
	const op = "MaxPool2dBackward"
	nc, h, w, p, q := poolCheck(op, pp, x, y)
	kernels.CheckShape(name, op, "dy", dy, y.Shape()...)
	kernels.CheckShape(name, op, "dx", dx, x.Shape()...)
	xs, gs, ds := host(op, "x", x), host(op, "dy", dy), host(op, "dx", dx)
	acc := make([]float64, h*w)
	for i := 0; i < nc; i++ {
		clear(acc)
		plane := xs[i*h*w : (i+1)*h*w]
		for oh := 0; oh < p; oh++ {
			for ow := 0; ow < q; ow++ {
				at, _ := argmax(pp, plane, h, w, oh, ow)
				acc[at] += float64(gs[(i*p+oh)*q+ow])
			}
		}
		for j, v := range acc {
			ds[i*h*w+j] = float32(v)
		}
	}
}

// GlobalAvgPool: y [N, C] = mean over H, W of x [N, C, H, W].
func (*Backend) GlobalAvgPool(x, y *tensor.Tensor) {
	dims("GlobalAvgPool", "x", x, 4)
	sh := x.Shape()
	kernels.CheckShape(name, "GlobalAvgPool", "y", y, sh[0], sh[1])
	xs, ys := host("GlobalAvgPool", "x", x), host("GlobalAvgPool", "y", y)
	hw := sh[2] * sh[3]
	for i := range ys {
		var s float64
		for _, v := range xs[i*hw : (i+1)*hw] {
			s += float64(v)
		}
		ys[i] = float32(s / float64(hw))
	}
}

// GlobalAvgPoolBackward: dx [N,C,H,W] = dy [N,C] / (H*W) broadcast.
func (*Backend) GlobalAvgPoolBackward(dy, dx *tensor.Tensor) {
	dims("GlobalAvgPoolBackward", "dx", dx, 4)
	sh := dx.Shape()
	kernels.CheckShape(name, "GlobalAvgPoolBackward", "dy", dy, sh[0], sh[1])
	gs, ds := host("GlobalAvgPoolBackward", "dy", dy), host("GlobalAvgPoolBackward", "dx", dx)
	hw := sh[2] * sh[3]
	for i, g := range gs {
		v := float32(float64(g) / float64(hw))
		for j := range ds[i*hw : (i+1)*hw] {
			ds[i*hw+j] = v
		}
	}
}
