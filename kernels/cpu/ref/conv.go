package ref

import (
	"hallucinator/kernels"
	"hallucinator/tensor"
)

// convShape holds the sizes of one convolution: x [N,C,H,W], w [K,C,R,S],
// y [N,K,P,Q].
type convShape struct {
	n, c, h, w, k, r, s, p, q int
}

// convCheck validates x (or dx), w (or dw) and y (or dy) of a convolution
// and returns their sizes.
func convCheck(op string, cp kernels.ConvParams, x, w, y *tensor.Tensor) convShape {
	dims(op, "x", x, 4)
	dims(op, "w", w, 4)
	dims(op, "y", y, 4)
	if cp.StrideH < 1 || cp.StrideW < 1 || cp.PadH < 0 || cp.PadW < 0 {
		kernels.Panicf(name, "%s: bad parameters %+v", op, cp)
	}
	xs, ws := x.Shape(), w.Shape()
	sh := convShape{n: xs[0], c: xs[1], h: xs[2], w: xs[3], k: ws[0], r: ws[2], s: ws[3]}
	if ws[1] != sh.c {
		kernels.Panicf(name, "%s: x has shape %v but w has shape %v", op, xs, ws)
	}
	if sh.h+2*cp.PadH < sh.r || sh.w+2*cp.PadW < sh.s {
		kernels.Panicf(name, "%s: filter %dx%d larger than the padded %dx%d input", op, sh.r, sh.s, sh.h+2*cp.PadH, sh.w+2*cp.PadW)
	}
	sh.p, sh.q = cp.OutSize(sh.h, sh.w, sh.r, sh.s)
	kernels.CheckShape(name, op, "y", y, sh.n, sh.k, sh.p, sh.q)
	return sh
}

// span returns the range [lo, hi) of the out output positions o whose tap
// reads the input index o*stride - pad + tap inside [0, n).
func span(n, out, stride, pad, tap int) (lo, hi int) {
	for lo < out && lo*stride-pad+tap < 0 {
		lo++
	}
	hi = out
	for hi > lo && (hi-1)*stride-pad+tap >= n {
		hi--
	}
	return lo, hi
}

// Conv2d: y = conv(x, w), x [N,C,H,W], w [K,C,R,S], y [N,K,P,Q]:
// y[n,k,p,q] = sum over c, r, s of x[n, c, p*StrideH-PadH+r,
// q*StrideW-PadW+s] * w[k,c,r,s], padded cells being 0.
func (*Backend) Conv2d(cp kernels.ConvParams, x, w, y *tensor.Tensor) {
	sh := convCheck("Conv2d", cp, x, w, y)
	xs, ws, ys := host("Conv2d", "x", x), host("Conv2d", "w", w), host("Conv2d", "y", y)
	acc := make([]float64, sh.p*sh.q) // y[n, k] in float64
	for n := 0; n < sh.n; n++ {
		for k := 0; k < sh.k; k++ {
			clear(acc)
			for c := 0; c < sh.c; c++ {
				plane := xs[(n*sh.c+c)*sh.h*sh.w : (n*sh.c+c+1)*sh.h*sh.w]
				for r := 0; r < sh.r; r++ {
					for s := 0; s < sh.s; s++ {
						wv := float64(ws[((k*sh.c+c)*sh.r+r)*sh.s+s])
						plo, phi := span(sh.h, sh.p, cp.StrideH, cp.PadH, r)
						qlo, qhi := span(sh.w, sh.q, cp.StrideW, cp.PadW, s)
						for p := plo; p < phi; p++ {
							ih := p*cp.StrideH - cp.PadH + r
							row, out := plane[ih*sh.w:(ih+1)*sh.w], acc[p*sh.q:(p+1)*sh.q]
							for q := qlo; q < qhi; q++ {
								out[q] += wv * float64(row[q*cp.StrideW-cp.PadW+s])
							}
						}
					}
				}
			}
			dst := ys[(n*sh.k+k)*sh.p*sh.q : (n*sh.k+k+1)*sh.p*sh.q]
			for i, v := range acc {
				dst[i] = float32(v)
			}
		}
	}
}

// Conv2dBackwardData: dx = gradient w.r.t. x of conv(x, w) given dy: every
// dy[n,k,p,q] * w[k,c,r,s] is added to the cell dx[n, c, p*StrideH-PadH+r,
// q*StrideW-PadW+s] that the forward read (nothing for padded cells). Input
// cells that no window reads get 0.
func (*Backend) Conv2dBackwardData(cp kernels.ConvParams, dy, w, dx *tensor.Tensor) {
	sh := convCheck("Conv2dBackwardData", cp, dx, w, dy)
	gs, ws, ds := host("Conv2dBackwardData", "dy", dy), host("Conv2dBackwardData", "w", w), host("Conv2dBackwardData", "dx", dx)
	acc := make([]float64, sh.h*sh.w) // dx[n, c] in float64
	for n := 0; n < sh.n; n++ {
		for c := 0; c < sh.c; c++ {
			clear(acc)
			for k := 0; k < sh.k; k++ {
				plane := gs[(n*sh.k+k)*sh.p*sh.q : (n*sh.k+k+1)*sh.p*sh.q]
				for r := 0; r < sh.r; r++ {
					for s := 0; s < sh.s; s++ {
						wv := float64(ws[((k*sh.c+c)*sh.r+r)*sh.s+s])
						plo, phi := span(sh.h, sh.p, cp.StrideH, cp.PadH, r)
						qlo, qhi := span(sh.w, sh.q, cp.StrideW, cp.PadW, s)
						for p := plo; p < phi; p++ {
							ih := p*cp.StrideH - cp.PadH + r
							row, g := acc[ih*sh.w:(ih+1)*sh.w], plane[p*sh.q:(p+1)*sh.q]
							for q := qlo; q < qhi; q++ {
								row[q*cp.StrideW-cp.PadW+s] += wv * float64(g[q])
							}
						}
					}
				}
			}
			dst := ds[(n*sh.c+c)*sh.h*sh.w : (n*sh.c+c+1)*sh.h*sh.w]
			for i, v := range acc {
				dst[i] = float32(v)
			}
		}
	}
}

// Conv2dBackwardFilter: dw = gradient w.r.t. w given x and dy:
// dw[k,c,r,s] = sum over n, p, q of dy[n,k,p,q] * x[n, c, p*StrideH-PadH+r,
// q*StrideW-PadW+s], padded cells being 0.
func (*Backend) Conv2dBackwardFilter(cp kernels.ConvParams, x, dy, dw *tensor.Tensor) {
	sh := convCheck("Conv2dBackwardFilter", cp, x, dw, dy)
	xs, gs, ds := host("Conv2dBackwardFilter", "x", x), host("Conv2dBackwardFilter", "dy", dy), host("Conv2dBackwardFilter", "dw", dw)
	for k := 0; k < sh.k; k++ {
		for c := 0; c < sh.c; c++ {
			for r := 0; r < sh.r; r++ {
				for s := 0; s < sh.s; s++ {
					var acc float64
					plo, phi := span(sh.h, sh.p, cp.StrideH, cp.PadH, r)
					qlo, qhi := span(sh.w, sh.q, cp.StrideW, cp.PadW, s)
					for n := 0; n < sh.n; n++ {
						plane := xs[(n*sh.c+c)*sh.h*sh.w : (n*sh.c+c+1)*sh.h*sh.w]
						for p := plo; p < phi; p++ {
							ih := p*cp.StrideH - cp.PadH + r
							row := plane[ih*sh.w : (ih+1)*sh.w]
							g := gs[((n*sh.k+k)*sh.p+p)*sh.q : ((n*sh.k+k)*sh.p+p+1)*sh.q]
							for q := qlo; q < qhi; q++ {
								acc += float64(g[q]) * float64(row[q*cp.StrideW-cp.PadW+s])
							}
						}
					}
					ds[((k*sh.c+c)*sh.r+r)*sh.s+s] = float32(acc)
				}
			}
		}
	}
}
