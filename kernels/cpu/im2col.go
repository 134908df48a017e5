package cpu

import "math"

// convGeom is the geometry of one convolution: input C x H x W, K filters of
// C x R x S, output K x P x Q, with strides and paddings.
type convGeom struct {
	C, H, W, K, R, S, P, Q int
	sh, sw, ph, pw         int
}

// pointwise reports a 1x1, stride-1, unpadded convolution: the image itself
// is its column matrix.
func (g *convGeom) pointwise() bool {
	return g.R == 1 && g.S == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0
}

// qRange returns the output columns [lo, hi) whose input column
// q*sw - pw + s lies inside [0, W).
func (g *convGeom) qRange(s int) (lo, hi int) {
	// q*sw >= pw - s  and  q*sw <= W - 1 + pw - s
	lo = ceilDiv(g.pw-s, g.sw)
	hi = floorDiv(g.W-1+g.pw-s, g.sw) + 1
	lo = min(max(lo, 0), g.Q)
	hi = max(min(hi, g.Q), lo)
	return lo, hi
}

func floorDiv(a, b int) int {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func ceilDiv(a, b int) int { return -floorDiv(-a, b) }

// pRange returns the output rows [lo, hi) within [p0, p1) whose input row
// p*sh - ph + r lies inside [0, H) (an empty range inside [p0, p1) when
// there are none).
func (g *convGeom) pRange(r, p0, p1 int) (lo, hi int) {
	lo = min(max(ceilDiv(g.ph-r, g.sh), p0), p1)
	hi = max(min(floorDiv(g.H-1+g.ph-r, g.sh)+1, p1), lo)
	return lo, hi
}

// shifted reports whether a row of the column matrix is the input plane
// shifted by a constant offset (stride 1, and Q == W so that output and
// input rows have the same length): then it is copied in one piece and only
// the columns that wrapped around the row ends are fixed up.
func (g *convGeom) shifted() bool { return g.sh == 1 && g.sw == 1 && g.Q == g.W }

// ranges holds, for each filter row r and column s, the output rows and
// columns of a panel whose input cell lies inside the image.
type ranges struct {
	p, q [][2]int
}

// panelRanges computes the ranges for output rows [p0, p1).
func (g *convGeom) panelRanges(p0, p1 int, buf *[2][8][2]int) ranges {
	rg := ranges{p: buf[0][:0], q: buf[1][:0]}
	for r := 0; r < g.R; r++ {
		lo, hi := g.pRange(r, p0, p1)
		rg.p = append(rg.p, [2]int{lo, hi})
	}
	for s := 0; s < g.S; s++ {
		lo, hi := g.qRange(s)
		rg.q = append(rg.q, [2]int{lo, hi})
	}
	return rg
}

// im2colPanel fills col [C*R*S, m*(p1-p0)*Q] with the patches of output
// rows [p0, p1) of the m images at x: row (c*R + r)*S + s, in the columns
// of image i, holds x[i, c, p*sh-ph+r, q*sw-pw+s] (0 in the padding) at
// (p-p0)*Q + q. With a tap table the AVX-512 routes of im2colsimd.go fill
// it.
func (g *convGeom) im2colPanel(x []float32, m, p0, p1 int, col []float32, t *tapTable) {
	chw, hw := g.C*g.H*g.W, g.H*g.W
	if t != nil && m*chw <= math.MaxInt32 {
		g.im2colFast(x, m, p0, p1, col, t)
		return
	}
	w := (p1 - p0) * g.Q
	ld := m * w
	var buf [2][8][2]int
	rg := g.panelRanges(p0, p1, &buf)
	row := 0
	for c := 0; c < g.C; c++ {
		for r := 0; r < g.R; r++ {
			for s := 0; s < g.S; s++ {
				for i := 0; i < m; i++ {
					plane := x[i*chw+c*hw : i*chw+(c+1)*hw]
					g.im2colRow(plane, r, s, p0, p1, rg.p[r], rg.q[s], col[row*ld+i*w:row*ld+(i+1)*w])
				}
				row++
			}
		}
	}
}

// im2colRow fills dst [(p1-p0)*Q] with the tap (r, s) of one input plane
// for output rows [p0, p1); pr and qr are the valid output rows and columns
// of the tap.
func (g *convGeom) im2colRow(plane []float32, r, s, p0, p1 int, pr, qr [2]int, dst []float32) {
	Q := g.Q
	dst = dst[:(p1-p0)*Q]
	pa, pb := pr[0], pr[1]
	qlo, qhi := qr[0], qr[1]
	clear(dst[:(pa-p0)*Q])
	clear(dst[(pb-p0)*Q:])
	if pa >= pb {
		return
	}
	off := s - g.pw // input column of output column q is q*sw + off
	if g.shifted() {
		seg := dst[(pa-p0)*Q : (pb-p0)*Q]
		src := (pa-g.ph+r)*g.W + off // plane index of seg[0]
		lo, hi := max(0, -src), min(len(seg), len(plane)-src)
		copy(seg[lo:hi], plane[src+lo:src+hi])
		// Columns outside [qlo, qhi) read across a row end: zero them.
		zeroCols(seg, Q, qlo, qhi)
		return
	}
	sw := g.sw
	for p := pa; p < pb; p++ {
		seg := dst[(p-p0)*Q : (p-p0+1)*Q]
		ih := p*g.sh - g.ph + r
		if qlo >= qhi {
			clear(seg)
			continue
		}
		clear(seg[:qlo])
		clear(seg[qhi:])
		src := plane[ih*g.W : (ih+1)*g.W]
		if sw == 1 {
			copy(seg[qlo:qhi], src[qlo+off:qhi+off])
			continue
		}
		out := seg[qlo:qhi]
		iw := qlo*sw + off
		for j := range out {
			out[j] = src[iw]
			iw += sw
		}
	}
}

// zeroCols zeroes columns [0, lo) and [hi, q) of seg seen as rows of q.
func zeroCols(seg []float32, q, lo, hi int) {
	for c := 0; c < lo; c++ {
		for i := c; i < len(seg); i += q {
			seg[i] = 0
		}
	}
	for c := hi; c < q; c++ {
		for i := c; i < len(seg); i += q {
			seg[i] = 0
		}
	}
}

// col2imPanel accumulates the column matrix of a panel, col [C*R*S, ld]
// holding m images of (p1-p0)*Q columns each, into the planes of those
// images at dx (the adjoint of im2colPanel). With overwrite, the planes are
// first set rather than accumulated into: by the centre tap, which covers
// every cell once, when the panel is whole same-padded images, else by
// clearing. Entries of col that fall in the padding may be overwritten with
// zeros.
func (g *convGeom) col2imPanel(col []float32, m, p0, p1 int, dx []float32, overwrite bool) {
	chw, hw := g.C*g.H*g.W, g.H*g.W
	w := (p1 - p0) * g.Q
	ld := m * w
	var buf [2][8][2]int
	rg := g.panelRanges(p0, p1, &buf)
	centre := g.shifted() && g.P == g.H && p0 == 0 && p1 == g.P
	for i := 0; i < m; i++ {
		for c := 0; c < g.C; c++ {
			plane := dx[i*chw+c*hw : i*chw+(c+1)*hw]
			first := -1 // the tap that set the plane
			if overwrite {
				if centre {
					first = (c*g.R+g.ph)*g.S + g.pw
					copy(plane, col[first*ld+i*w:first*ld+(i+1)*w])
				} else {
					clear(plane)
				}
			}
			for r := 0; r < g.R; r++ {
				for s := 0; s < g.S; s++ {
					row := (c*g.R+r)*g.S + s
					if row == first {
						continue
					}
					g.col2imRow(col[row*ld+i*w:row*ld+(i+1)*w], r, s, p0, p1, rg.p[r], rg.q[s], plane)
				}
			}
		}
	}
}

// col2imRow accumulates src [(p1-p0)*Q], the tap (r, s) of output rows
// [p0, p1), into one input plane (the adjoint of im2colRow).
func (g *convGeom) col2imRow(src []float32, r, s, p0, p1 int, pr, qr [2]int, plane []float32) {
	Q := g.Q
	pa, pb := pr[0], pr[1]
	qlo, qhi := qr[0], qr[1]
	if pa >= pb || qlo >= qhi {
		return
	}
	off := s - g.pw
	if g.shifted() {
		seg := src[(pa-p0)*Q : (pb-p0)*Q]
		zeroCols(seg, Q, qlo, qhi)
		d := (pa-g.ph+r)*g.W + off
		lo, hi := max(0, -d), min(len(seg), len(plane)-d)
		addTo(plane[d+lo:d+hi], seg[lo:hi])
		return
	}
	for p := pa; p < pb; p++ {
		ih := p*g.sh - g.ph + r
		seg := src[(p-p0)*Q+qlo : (p-p0)*Q+qhi]
		dst := plane[ih*g.W : (ih+1)*g.W]
		if g.sw == 1 {
			addTo(dst[qlo+off:qhi+off], seg)
			continue
		}
		sw := g.sw
		iw := qlo*sw + off
		for _, v := range seg {
			dst[iw] += v
			iw += sw
		}
	}
}
