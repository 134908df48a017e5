package cpu

import "hallucinator/kernels"

// im2colRow fills a row of the column matrix in pieces: it is called once
// per tap, channel and image, clears the padding rows, copies a shifted
// plane and zeroes the columns that wrapped round a row end in a second,
// strided pass, or copies row by row (a strided loop for strides). For
// small planes (a 4x4 plane has 16 values) the fixed costs dominate, and
// even for large ones the second pass costs. With AVX-512 the column matrix
// is filled by one of three routes instead, each one call per row (c, r, s)
// of it for all the images of the panel:
//
//   - stride 1 with Q == W (every "same" convolution; tapSpan): the valid
//     output rows of a tap read one contiguous span of the input plane,
//     shifted, except for the columns that wrap round a row end, which
//     must be zeros; the span is copied 16 values at a time by masked
//     loads that leave those columns out, the mask of each 16 columns (the
//     same for every channel, filter row r and image) taken from a table;
//   - other stride-1 convolutions with output rows of at most 32
//     (tapRows): each output row of a tap is one or two masked loads of the
//     input row it reads, the lanes in the padding left out;
//   - strides (gather): gathers through a table that holds for each tap
//     (r, s) and each column of the panel the offset of the input cell it
//     reads from the start of channel 0 of the panel's first image, or -1
//     in the padding; the offsets do not depend on the channel.
//
// The col2im of strided convolutions (their backward data pass) runs on the
// same table: for one tap, distinct columns read distinct input cells, so
// each row of the column matrix is added into its plane by 16-lane
// gathers, adds and scatters with no two lanes colliding.
//
// The tables are built once for all the panels of a task that share their
// image count and output rows. Stride-1 convolutions with wider rows that
// are not shifted copies (unpadded ones on large images) keep im2colRow,
// whose row copies are then long.

// tapRowsMaxQ is the widest output row that tapRows takes.
const tapRowsMaxQ = 32

// tapTable holds the tables of one panel shape.
type tapTable struct {
	built     bool     // whether the tables hold the panel below
	m, p0, p1 int      // the panel: m images, output rows [p0, p1)
	idx       []int32  // gather: [R*S][m*(p1-p0)*Q] offsets, -1 in the padding
	masks     []uint16 // tapSpan: [S][ceil((p1-p0)*Q/16)] column masks
}

// fastIm2col reports whether the column matrices of g are filled by the
// AVX-512 routes: the processor has them, the path is on, and g needs a
// column matrix that one of the routes fills.
func (b *Backend) fastIm2col(g *convGeom) bool {
	if !hasAVX512 || b.paths.noFastIm2col || g.pointwise() {
		return false
	}
	return g.sh != 1 || g.sw != 1 || g.shifted() || g.Q <= tapRowsMaxQ
}

// fastCol2im reports whether the col2im of g scatter-adds through a gather
// table: the processor has AVX-512, the path is on, and g is strided (the
// backward data pass of other convolutions is the forward convolution of
// convflip.go, or a col2im whose shifted rows are added in one piece).
func (b *Backend) fastCol2im(g *convGeom) bool {
	return hasAVX512 && !b.paths.noFastIm2col && (g.sh != 1 || g.sw != 1)
}

// newTaps returns an empty tap table when g's panels are filled by the
// AVX-512 routes, else nil (im2colPanel then runs im2colRow).
func (b *Backend) newTaps(g *convGeom) *tapTable {
	if b.fastIm2col(g) {
		return &tapTable{}
	}
	return nil
}

// build fills t for m images and output rows [p0, p1) of g, unless it
// already holds them.
func (t *tapTable) build(g *convGeom, m, p0, p1 int) {
	w := (p1 - p0) * g.Q
	ld := m * w
	if t.built && t.m == m && t.p0 == p0 && t.p1 == p1 {
		return
	}
	t.built, t.m, t.p0, t.p1 = true, m, p0, p1
	var buf [2][8][2]int
	rg := g.panelRanges(p0, p1, &buf)
	if g.shifted() {
		// Bit b of masks[s*nm+j] says whether column (16j+b) % Q of a row
		// of tap s reads inside the image.
		nm := (w + 15) / 16
		if n := g.S * nm; cap(t.masks) >= n {
			t.masks = t.masks[:n]
			clear(t.masks)
		} else {
			t.masks = make([]uint16, n)
		}
		for s := 0; s < g.S; s++ {
			qa, qb := rg.q[s][0], rg.q[s][1]
			for k := 0; k < w; k++ {
				if q := k % g.Q; q >= qa && q < qb {
					t.masks[s*nm+k/16] |= 1 << (k % 16)
				}
			}
		}
		return
	}
	if n := g.R * g.S * ld; cap(t.idx) >= n {
		t.idx = t.idx[:n]
	} else {
		t.idx = make([]int32, n)
	}
	chw := g.C * g.H * g.W
	for r := 0; r < g.R; r++ {
		pa, pb := rg.p[r][0], rg.p[r][1]
		for s := 0; s < g.S; s++ {
			qa, qb := rg.q[s][0], rg.q[s][1]
			row := t.idx[(r*g.S+s)*ld : (r*g.S+s+1)*ld]
			for i := 0; i < m; i++ {
				for p := p0; p < p1; p++ {
					seg := row[i*w+(p-p0)*g.Q : i*w+(p-p0+1)*g.Q]
					if p < pa || p >= pb {
						for q := range seg {
							seg[q] = -1
						}
						continue
					}
					base := i*chw + (p*g.sh-g.ph+r)*g.W - g.pw + s
					for q := range seg {
						if q < qa || q >= qb {
							seg[q] = -1
						} else {
							seg[q] = int32(base + q*g.sw)
						}
					}
				}
			}
		}
	}
}

// im2colFast is im2colPanel by the AVX-512 routes, with the tables of t.
func (g *convGeom) im2colFast(x []float32, m, p0, p1 int, col []float32, t *tapTable) {
	chw, hw := g.C*g.H*g.W, g.H*g.W
	if len(x) < m*chw {
		kernels.Panicf(name, "im2colFast: input of %d values for %d images of %d", len(x), m, chw)
	}
	ld := m * (p1 - p0) * g.Q
	rs := g.R * g.S
	var buf [2][8][2]int
	rg := g.panelRanges(p0, p1, &buf)
	if g.shifted() {
		t.build(g, m, p0, p1)
		nm := len(t.masks) / g.S
		Q := g.Q
		for c := 0; c < g.C; c++ {
			for r := 0; r < g.R; r++ {
				pa, pb := rg.p[r][0], rg.p[r][1]
				base := c*hw + (pa-g.ph+r)*g.W
				if pa == pb {
					base = 0
				}
				for s := 0; s < g.S; s++ {
					row := ((c*g.R+r)*g.S + s) * ld
					tapSpan(col[row:row+ld], x, base, s-g.pw, (pa-p0)*Q, (pb-pa)*Q, (p1-pb)*Q, m, chw,
						t.masks[s*nm:(s+1)*nm], Q, rg.q[s][0], rg.q[s][1])
				}
			}
		}
		return
	}
	if g.sh == 1 && g.sw == 1 && g.Q <= tapRowsMaxQ {
		for c := 0; c < g.C; c++ {
			for r := 0; r < g.R; r++ {
				pa, pb := rg.p[r][0], rg.p[r][1]
				lead, valid, trail, base := pa-p0, pb-pa, p1-pb, c*hw+(pa-g.ph+r)*g.W
				if valid == 0 {
					lead, trail, base = p1-p0, 0, 0
				}
				for s := 0; s < g.S; s++ {
					row := ((c*g.R+r)*g.S + s) * ld
					tapRows(col[row:row+ld], x, base, s-g.pw, g.W, g.Q, lead, valid, trail, m, chw,
						rg.q[s][0], rg.q[s][1])
				}
			}
		}
		return
	}
	t.build(g, m, p0, p1)
	for c := 0; c < g.C; c++ {
		plane := x[c*hw:]
		for k := 0; k < rs; k++ {
			row := (c*rs + k) * ld
			gather(col[row:row+ld], plane, t.idx[k*ld:(k+1)*ld])
		}
	}
}

// tapRows fills dst with imgs blocks of lead+valid+trail rows of q values:
// lead rows of zeros, then valid rows of which row j holds, at column q',
// x[i*imgSrc + base + j*w + co + q'] for q' in [qa, qb) and 0 elsewhere,
// then trail rows of zeros (block i reads image i). Every value read must
// lie inside x.
func tapRows(dst, x []float32, base, co, w, q, lead, valid, trail, imgs, imgSrc, qa, qb int) {
	n := imgs * (lead + valid + trail) * q
	dst = dst[:n]
	if n == 0 {
		return
	}
	qa, qb = max(qa, 0), min(qb, q)
	if qa >= qb {
		// No column reads the input: every row is zeros.
		lead, valid, trail = lead+valid+trail, 0, 0
	}
	if valid > 0 {
		lo, hi := base+co+qa, (imgs-1)*imgSrc+base+(valid-1)*w+co+qb
		if lo < 0 || hi > len(x) || base < 0 || base >= len(x) {
			kernels.Panicf(name, "tapRows: reads [%d, %d) of %d values from %d", lo, hi, len(x), base)
		}
	}
	if !hasAVX512 || q > tapRowsMaxQ {
		tapRowsGeneric(dst, x, base, co, w, q, lead, valid, trail, imgs, imgSrc, qa, qb)
		return
	}
	if valid == 0 {
		clear(dst)
		return
	}
	// Bits [qa, qb); a shift by 32 gives 0.
	lmask := uint32(1)<<qb - uint32(1)<<qa
	tapRowsAVX512(&dst[0], &x[base], co, w, q, lead, valid, trail, imgs, imgSrc, lmask)
}

func tapRowsGeneric(dst, x []float32, base, co, w, q, lead, valid, trail, imgs, imgSrc, qa, qb int) {
	k := 0
	for i := 0; i < imgs; i++ {
		clear(dst[k : k+lead*q])
		k += lead * q
		for j := 0; j < valid; j++ {
			row := dst[k : k+q]
			src := i*imgSrc + base + j*w + co
			for c := range row {
				if c >= qa && c < qb {
					row[c] = x[src+c]
				} else {
					row[c] = 0
				}
			}
			k += q
		}
		clear(dst[k : k+trail*q])
		k += trail * q
	}
}

// tapSpan fills dst with imgs blocks of lead+span+trail values: lead
// zeros, then span values of which value k is x[i*imgSrc + base + co + k]
// where bit k%16 of masks[k/16] is set and 0 elsewhere, then trail zeros
// (block i reads image i). span is a whole number of rows of q, and the
// masks select at most columns [qa, qb) of each row: every value read
// must lie inside x.
func tapSpan(dst, x []float32, base, co, lead, span, trail, imgs, imgSrc int, masks []uint16, q, qa, qb int) {
	n := imgs * (lead + span + trail)
	dst = dst[:n]
	if n == 0 {
		return
	}
	if span == 0 || qa >= qb {
		clear(dst)
		return
	}
	masks = masks[:(span+15)/16]
	lo, hi := base+co+max(qa, 0), (imgs-1)*imgSrc+base+co+span-q+min(qb, q)
	if lo < 0 || hi > len(x) || base < 0 || base >= len(x) || span%q != 0 {
		kernels.Panicf(name, "tapSpan: reads [%d, %d) of %d values from %d, span %d of rows of %d", lo, hi, len(x), base, span, q)
	}
	if !hasAVX512 {
		tapSpanGeneric(dst, x, base, co, lead, span, trail, imgs, imgSrc, masks)
		return
	}
	tapSpanAVX512(&dst[0], &x[base], co, lead, span, trail, imgs, imgSrc, &masks[0])
}

func tapSpanGeneric(dst, x []float32, base, co, lead, span, trail, imgs, imgSrc int, masks []uint16) {
	k := 0
	for i := 0; i < imgs; i++ {
		clear(dst[k : k+lead])
		k += lead
		src := i*imgSrc + base + co
		for j := 0; j < span; j++ {
			if masks[j/16]&(1<<(j%16)) != 0 {
				dst[k+j] = x[src+j]
			} else {
				dst[k+j] = 0
			}
		}
		k += span
		clear(dst[k : k+trail])
		k += trail
	}
}

// gather sets dst[j] = src[idx[j]] where idx[j] >= 0, else 0. The caller
// guarantees every index is below len(src).
func gather(dst, src []float32, idx []int32) {
	dst = dst[:len(idx)]
	if len(idx) == 0 {
		return
	}
	if hasAVX512 {
		gatherAVX512(&dst[0], &src[0], &idx[0], len(idx))
		return
	}
	gatherGeneric(dst, src, idx)
}

func gatherGeneric(dst, src []float32, idx []int32) {
	dst = dst[:len(idx)]
	for j, o := range idx {
		if o >= 0 {
			dst[j] = src[o]
		} else {
			dst[j] = 0
		}
	}
}

// col2imFast is col2imPanel by scatter-adds through the gather table of t
// (strided convolutions; see fastCol2im): col [C*R*S, m*(p1-p0)*Q] is
// added into the planes of the m images at dx, which are cleared first
// with overwrite.
func (g *convGeom) col2imFast(col []float32, m, p0, p1 int, dx []float32, overwrite bool, t *tapTable) {
	chw, hw := g.C*g.H*g.W, g.H*g.W
	if len(dx) < m*chw {
		kernels.Panicf(name, "col2imFast: output of %d values for %d images of %d", len(dx), m, chw)
	}
	if overwrite {
		clear(dx[:m*chw])
	}
	t.build(g, m, p0, p1)
	ld := m * (p1 - p0) * g.Q
	rs := g.R * g.S
	for c := 0; c < g.C; c++ {
		plane := dx[c*hw:]
		for k := 0; k < rs; k++ {
			row := (c*rs + k) * ld
			scatterAdd(plane, col[row:row+ld], t.idx[k*ld:(k+1)*ld])
		}
	}
}

// scatterAdd adds src[j] into dst[idx[j]] where idx[j] >= 0. The indices
// that are not negative must be distinct and below len(dst).
func scatterAdd(dst, src []float32, idx []int32) {
	src = src[:len(idx)]
	if len(idx) == 0 {
		return
	}
	if hasAVX512 {
		scatterAddAVX512(&dst[0], &src[0], &idx[0], len(idx))
		return
	}
	scatterAddGeneric(dst, src, idx)
}

func scatterAddGeneric(dst, src []float32, idx []int32) {
	src = src[:len(idx)]
	for j, o := range idx {
		if o >= 0 {
			dst[o] += src[j]
		}
	}
}
