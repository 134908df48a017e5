package cpu

// The backward filter pass of a 3x3 stride-1 pad-1 convolution on the
// Winograd tiles of winograd.go. The forward pass computes, for each tile,
// Y = A^T [sum over c of U .* V] A with U = G g G^T; its gradient with
// respect to g, summed over the tiles, is
//
//	dW[k, c] = G^T [ sum over tiles of (A dY A^T)[k] .* V[c] ] G
//
// exactly (a linear map and its transpose), so that, per chunk of images,
// the 2x2 tiles of dy are transformed to dM = A dY A^T [16][K][T] (read
// through the output streams of winograd.go, winoDy), the inputs to V as
// in the forward pass, and 16 SGEMMs accumulate dU[xi] [K, C] += dM[xi]
// V[xi]^T, summing over the tiles (on the dot-product tiles of dot.go with
// few filters and channels). Each task keeps its own dU, added in
// task order at the end; G^T dU G then gives dW.

// winoDotMax is the largest K and C for which the products dM V^T run on
// the dot-product tiles of dot.go rather than the SGEMM, which packs both
// operands with a transpose and fills its 48-column tiles poorly with few
// columns. Measured (one thread, batch 128, best of 6), GFLOP/s of the
// direct convolution, im2col -> Winograd with the SGEMM / the dot tiles:
// 64ch 32x32 123 -> 135 / 154, 64ch 8x8 135 -> 152 / 173, 32ch 28x28
// 110 -> 97 / 127, 128ch 16x16 113 -> 200 / 177, 128ch 8x8 142 -> 201 / 178,
// 256ch 8x8 187 -> 226 / 203, 256ch 16x16 189 -> 289 / 250.
const winoDotMax = 64

// winogradFilter computes dw [K, C, 3, 3] from x [n, C, H, W] and dy [n, K,
// P, Q] for the geometry g (3x3, stride 1, pad 1).
func (b *Backend) winogradFilter(g convGeom, n int, xd, dyd, dwd []float32) {
	chw, kpq := g.C*g.H*g.W, g.K*g.P*g.Q
	kc := g.K * g.C
	wp := b.winoPlan(&g, n)
	chunks := (n + wp.nb - 1) / wp.nb
	dot := hasAVX512 && !b.paths.noDot && g.K <= winoDotMax && g.C <= winoDotMax
	partial := make([][]float32, wp.tasks)
	for t := range partial {
		partial[t] = b.scratch(16 * kc)
		defer b.release(partial[t])
	}
	b.runTasks(wp.tasks, func(t int) {
		du := partial[t]
		maxT := wp.nb * wp.tpi
		v := b.scratch(16 * g.C * maxT)
		defer b.release(v)
		dm := b.scratch(16 * g.K * maxT)
		defer b.release(dm)
		st := b.winoStreams(&wp)
		defer b.release(st.buf)
		beta := float32(0)
		for ch := t * chunks / wp.tasks; ch < (t+1)*chunks/wp.tasks; ch++ {
			n0 := ch * wp.nb
			nb := min(wp.nb, n-n0)
			tt := nb * wp.tpi
			cs, ks := g.C*tt, g.K*tt
			for c := 0; c < g.C; c++ {
				wp.inputs(&g, st, xd[n0*chw:], nb, c, v[c*tt:], cs)
			}
			for k := 0; k < g.K; k++ {
				wp.gradOutputs(&g, st, dyd[n0*kpq:], nb, k, dm[k*tt:], ks)
			}
			if dot && beta == 0 {
				clear(du)
			}
			for xi := 0; xi < 16; xi++ {
				if dot {
					gemmNT(g.K, g.C, tt, dm[xi*ks:], tt, v[xi*cs:], tt, du[xi*kc:], g.C)
					continue
				}
				b.sgemm(false, true, g.K, g.C, tt, 1, dm[xi*ks:], tt, v[xi*cs:], tt, beta, du[xi*kc:], g.C)
			}
			beta = 1
		}
	})
	du := partial[0]
	for t := 1; t < wp.tasks; t++ {
		addTo(du, partial[t])
	}
	b.winoFilterGrad(&g, du, dwd)
}

// winoFilterGrad writes dw [K, C, 3, 3] = G^T dU G from du [16, K, C].
func (b *Backend) winoFilterGrad(g *convGeom, du, dw []float32) {
	kc := g.K * g.C
	b.parallel(g.K, g.C*64, func(lo, hi int) {
		for k := lo; k < hi; k++ {
			var src [16][]float32
			for xi := range src {
				src[xi] = du[xi*kc+k*g.C : xi*kc+(k+1)*g.C]
			}
			dst := dw[k*g.C*9 : (k+1)*g.C*9]
			for c := 0; c < g.C; c++ {
				// Rows: G^T applied to each column b of dU (4 -> 3).
				var t [3][4]float32
				for j := 0; j < 4; j++ {
					u0, u1, u2, u3 := src[j][c], src[4+j][c], src[8+j][c], src[12+j][c]
					t[0][j] = u0 + 0.5*(u1+u2)
					t[1][j] = 0.5 * (u1 - u2)
					t[2][j] = 0.5*(u1+u2) + u3
				}
				f := (*[9]float32)(dst[c*9 : c*9+9])
				for r := 0; r < 3; r++ {
					u0, u1, u2, u3 := t[r][0], t[r][1], t[r][2], t[r][3]
					f[3*r] = u0 + 0.5*(u1+u2)
					f[3*r+1] = 0.5 * (u1 - u2)
					f[3*r+2] = 0.5*(u1+u2) + u3
				}
			}
		}
	})
}

// gradOutputs writes dM for channel k of the nb images of a chunk from dy
// [nb, K, P, Q]: value xi of tile t of image i at dm[xi*ms+i*tpi+t].
func (wp *winoPlan) gradOutputs(g *convGeom, st *winoStreams, dy []float32, nb, k int, dm []float32, ms int) {
	pq, kpq := g.P*g.Q, g.K*g.P*g.Q
	yev, yod := st.s[0], st.s[1]
	if wp.multi {
		for i := 0; i < nb; i++ {
			o := i * wp.th * wp.l
			wp.fillDy(g, dy[i*kpq+k*pq:i*kpq+(k+1)*pq], yev[o:], yod[o:])
		}
		winoDy(dm, ms, yev, yod, nb*wp.tpi)
		return
	}
	for i := 0; i < nb; i++ {
		wp.fillDy(g, dy[i*kpq+k*pq:i*kpq+(k+1)*pq], yev, yod)
		winoDy(dm[i*wp.tpi:], ms, yev, yod, wp.tpi)
	}
}

// fillDy writes the plane dy [P, Q] into the output streams: row 2r at
// yev+r*l, row 2r+1 at yod+r*l, zero-padded to l values and past P.
func (wp *winoPlan) fillDy(g *convGeom, dy, yev, yod []float32) {
	if hasAVX512 && g.Q <= 16 {
		_ = dy[g.P*g.Q-1]
		_ = yev[wp.th*wp.l+15]
		_ = yod[wp.th*wp.l+15]
		winoFillDyAVX512(&dy[0], &yev[0], &yod[0], g.P, g.Q, wp.l, uint16(1<<g.Q-1))
		return
	}
	q, l := g.Q, wp.l
	for r := 0; r < wp.th; r++ {
		e, o := yev[r*l:(r+1)*l], yod[r*l:(r+1)*l]
		copy(e, dy[2*r*q:(2*r+1)*q])
		clear(e[q:])
		if 2*r+1 < g.P {
			copy(o, dy[(2*r+1)*q:(2*r+2)*q])
			clear(o[q:])
		} else {
			clear(o)
		}
	}
}

// winoDy writes dM = A dY A^T of the n tiles of the output streams yev,
// yod: value xi of tile t at dm[xi*ms+t].
func winoDy(dm []float32, ms int, yev, yod []float32, n int) {
	_ = dm[15*ms+n-1]
	_ = yev[2*n+winoSlack-1]
	_ = yod[2*n+winoSlack-1]
	if hasAVX512 {
		winoDyAVX512(&dm[0], ms, &yev[0], &yod[0], n)
		return
	}
	winoDyGeneric(dm, ms, yev, yod, n)
}

func winoDyGeneric(dm []float32, ms int, yev, yod []float32, n int) {
	for t := 0; t < n; t++ {
		y00, y01, y10, y11 := yev[2*t], yev[2*t+1], yod[2*t], yod[2*t+1]
		z := [4][2]float32{{y00, y01}, {y00 + y10, y01 + y11}, {y00 - y10, y01 - y11}, {0 - y10, 0 - y11}}
		for a := 0; a < 4; a++ {
			z0, z1 := z[a][0], z[a][1]
			dm[(4*a)*ms+t] = z0
			dm[(4*a+1)*ms+t] = z0 + z1
			dm[(4*a+2)*ms+t] = z0 - z1
			dm[(4*a+3)*ms+t] = 0 - z1
		}
	}
}
