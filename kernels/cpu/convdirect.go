package cpu

// Stride-1 convolutions with "same" padding (R = 2*PadH+1, S = 2*PadW+1,
// so P = H and Q = W) need no column matrix at all for their backward
// filter. Zero-pad each image plane to Hp x Wp (Hp = H+2*PadH, Wp =
// W+2*PadW) and lay the planes of m images of a channel end to end; on that
// flat grid, output pixel o = i*Hp*Wp + p*Wp + q reads tap (r, s) at
// o + r*Wp + s for every channel. With dY written on the same grid (zeros on
// the grid cells that are not outputs),
//
//	dW[k, c, r, s] = sum over o of dYgrid[k, o] * Xpad[c, o + r*Wp + s]
//
// a dot product of two contiguous rows: the dot-product tiles read the
// padded planes in place, at one offset per (c, r, s).

// sameConv reports the geometry of the grid formulation.
func (g *convGeom) sameConv() bool {
	return g.sh == 1 && g.sw == 1 && g.R == 2*g.ph+1 && g.S == 2*g.pw+1
}

// gridLen returns the padded plane size Hp*Wp and the tail every padded row
// of channels needs past its m planes (the reach of the last tap).
func (g *convGeom) gridLen() (plane, tail int) {
	wp := g.W + 2*g.pw
	return (g.H + 2*g.ph) * wp, (g.R-1)*wp + g.S - 1
}

// padPlanes writes the m images at x [m, C, H, W] into xp [C, ld] as
// zero-padded Hp x Wp planes laid end to end, zeroing the tail after them.
func (g *convGeom) padPlanes(x []float32, m int, xp []float32, ld int) {
	plane, _ := g.gridLen()
	wp := g.W + 2*g.pw
	hw := g.H * g.W
	for c := 0; c < g.C; c++ {
		row := xp[c*ld : (c+1)*ld]
		for i := 0; i < m; i++ {
			dst := row[i*plane : (i+1)*plane]
			src := x[(i*g.C+c)*hw : (i*g.C+c+1)*hw]
			clear(dst[:g.ph*wp+g.pw])
			for h := 0; h < g.H; h++ {
				o := (h+g.ph)*wp + g.pw
				copy(dst[o:o+g.W], src[h*g.W:(h+1)*g.W])
				end := o + wp
				if h == g.H-1 {
					end = plane
				}
				clear(dst[o+g.W : end])
			}
		}
		clear(row[m*plane:])
	}
}

// gridOutputs writes the m images of t [m, K, P, Q] into tg [K, m*Hp*Wp]
// on the grid, with zeros on the cells that are not outputs.
func (g *convGeom) gridOutputs(t []float32, m int, tg []float32) {
	plane, _ := g.gridLen()
	wp := g.W + 2*g.pw
	pq := g.P * g.Q
	n := m * plane
	for k := 0; k < g.K; k++ {
		row := tg[k*n : (k+1)*n]
		for i := 0; i < m; i++ {
			dst := row[i*plane : (i+1)*plane]
			src := t[(i*g.K+k)*pq : (i*g.K+k+1)*pq]
			for p := 0; p < g.P; p++ {
				copy(dst[p*wp:p*wp+g.Q], src[p*g.Q:(p+1)*g.Q])
				clear(dst[p*wp+g.Q : (p+1)*wp])
			}
			clear(dst[g.P*wp:])
		}
	}
}

// gridOffsets returns the start, in a padded row of channels of stride ld,
// of the row of tap (c, r, s) for every (c, r, s) in order.
func (g *convGeom) gridOffsets(ld int) []int {
	wp := g.W + 2*g.pw
	off := make([]int, 0, g.C*g.R*g.S)
	for c := 0; c < g.C; c++ {
		for r := 0; r < g.R; r++ {
			for s := 0; s < g.S; s++ {
				off = append(off, c*ld+r*wp+s)
			}
		}
	}
	return off
}

// filterGradGrid accumulates into dst [K, C*R*S] the filter gradient of the
// images [lo, hi) of a same-padded stride-1 convolution, m images at a time.
func (b *Backend) filterGradGrid(g *convGeom, x, dy []float32, lo, hi, m int, dst []float32) {
	plane, tail := g.gridLen()
	chw, kpq, crs := g.C*g.H*g.W, g.K*g.P*g.Q, g.C*g.R*g.S
	ld := m*plane + tail
	xp := b.scratch(g.C * ld)
	defer b.release(xp)
	dyg := b.scratch(g.K * m * plane)
	defer b.release(dyg)
	off := g.gridOffsets(ld)
	for n0 := lo; n0 < hi; n0 += m {
		mm := min(m, hi-n0)
		ldm := mm*plane + tail
		if ldm != ld {
			off = g.gridOffsets(ldm)
		}
		g.padPlanes(x[n0*chw:], mm, xp, ldm)
		g.gridOutputs(dy[n0*kpq:], mm, dyg)
		gemmNTOff(g.K, crs, mm*plane, dyg, mm*plane, xp, off, dst, crs)
	}
}

// useGrid reports whether a backward filter runs on the grid: the assembly
// tiles are there, the geometry allows it, and the padding cells of the grid
// (which the dot products run over for nothing) stay a small part of the
// work. (The same formulation serves the forward pass and backward data,
// with the filters broadcast against input read in place; measured, it did
// not beat im2col and the packed SGEMM there, so those keep the SGEMM.)
// It also copies x and dY onto the grid, (C+K) values per cell where the
// column matrix has C*R*S: with few channels (a stem) that saves nothing.
func (b *Backend) useGrid(g *convGeom) bool {
	plane, _ := g.gridLen()
	return hasAVX512 && !b.paths.noGrid && g.sameConv() && 4*g.P*g.Q >= 3*plane &&
		g.C*g.R*g.S >= 2*(g.C+g.K)
}
