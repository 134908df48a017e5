package cpu

// Winograd F(2x2, 3x3) (Lavin and Gray, 2016) for 3x3 stride-1 pad-1
// convolutions. The output is cut into 2x2 tiles (th x tw per image, the
// last row and column of tiles partial when P or Q is odd); each tile reads
// the 4x4 input patch at (2i-1, 2j-1) and
//
//	Y = A^T [ sum over c of (G g G^T) .* (B^T d B) ] A
//
// with the 16 products of each patch, summed over the channels, computed
// as 16 SGEMMs: M[xi] [K, T] = U[xi] [K, C] * V[xi] [C, T] for the T tiles
// of a chunk of images, U = G g G^T the transformed filters (once per call)
// and V = B^T d B the transformed inputs. That is 16 multiply-adds per tile
// and (c, k) where the direct convolution takes 36: 2.25 times fewer. The
// backward data pass of such a convolution is a forward one of the same
// shape (convflip.go) and runs here too; the backward filter pass runs on
// the same tiles (winofilter.go).
//
// The transforms are vectorised over 16 consecutive tiles of an image plane,
// which may span several tile rows (small planes). For that, an input plane
// is first copied into four zero-padded "streams" whose tile t reads its
// patch at 2t (plus 2*tw for its lower two rows): ev and od hold the even
// and odd rows of the padded plane (input rows 2i-1 and 2i for tile row i),
// 2*tw columns from input column -1; ev2 and od2 the same from input column
// 1. The output transform writes its 2x2 tiles likewise into even and odd
// output rows of 2*tw columns, then copied into y. Both run in AVX-512
// assembly (winograd_amd64.s); winoInGeneric and winoOutGeneric are their
// Go twins.
//
// Winograd changes the rounding: the transforms add and subtract up to 9
// terms, so the error grows by a small factor (observed max relative error
// against the float64-accumulating reference ~2e-6, see winograd_test.go).

const (
	// winoMinC, winoMinK and winoMinPlane gate the Winograd path
	// (useWinograd). Measured single-thread GFLOP/s of the direct
	// convolution's flops, im2col+SGEMM -> Winograd, forward / backward
	// data, C = K, batch 128, best of 8 alternating runs on a shared 2-core
	// Zen 5 (noise ~10 %):
	//
	//	64ch 32x32   126 -> 221   125 -> 224
	//	128ch 16x16  163 -> 295   164 -> 274
	//	256ch 8x8    162 -> 192   156 -> 192
	//	48ch 8x8     110 -> 137   144 -> 144
	//	32ch 28x28   115 -> 175   117 -> 176
	//	32ch 14x14   114 -> 159   110 -> 138
	//	32ch 7x7     121 -> 117   127 -> 108
	//	128ch 7x7    140 -> 172   137 -> 151
	//	256ch 7x7    148 -> 146   160 -> 162
	//	64ch 4x4     138 ->  89   131 ->  84
	//	256ch 4x4    152 -> 121   146 -> 118
	//	512ch 4x4    153 -> 154   142 -> 148
	//
	// Planes under 8x8 lose or break even: each plane pays a call of each
	// transform for only a few tiles. The width-8 Fashion-MNIST network
	// (8-64 channels at 28x28 down to 4x4; at most 32 channels at 7x7 and
	// above) never takes this path, so its results keep their bits.
	winoMinC     = 32
	winoMinK     = 32
	winoMinPlane = 64

	// winoTiles is the number of tiles a chunk aims for, in whole images:
	// the SGEMMs pack U[xi] once per chunk, which wants wide chunks, while
	// the transformed chunk (16*C*T values) is best kept near the caches.
	// Measured (fwd, one thread, best of 8): T = 256, 384, 512 and 1024
	// within the noise of one another but for 1024 a little slower.
	winoTiles = 512
)

// useWinograd reports whether the forward convolution g runs on the
// Winograd path: a 3x3 stride-1 pad-1 convolution with the AVX-512
// transforms, enough channels and filters for the SGEMMs to dominate the
// transforms, and planes large enough to fill the tiles.
func (b *Backend) useWinograd(g *convGeom) bool {
	if !hasAVX512 || b.paths.noWinograd || g.R != 3 || g.S != 3 || g.sh != 1 || g.sw != 1 || g.ph != 1 || g.pw != 1 {
		return false
	}
	return b.paths.winogradAll || g.C >= winoMinC && g.K >= winoMinK && g.H*g.W >= winoMinPlane
}

// winoFilters writes u [16, K, C] = G g G^T for the filters w [K, C, 3, 3].
func (b *Backend) winoFilters(g *convGeom, w, u []float32) {
	kc := g.K * g.C
	b.parallel(g.K, g.C*64, func(lo, hi int) {
		for k := lo; k < hi; k++ {
			ws := w[k*g.C*9 : (k+1)*g.C*9]
			var dst [16][]float32
			for xi := range dst {
				dst[xi] = u[xi*kc+k*g.C : xi*kc+(k+1)*g.C]
			}
			for c := 0; c < g.C; c++ {
				f := (*[9]float32)(ws[c*9 : c*9+9])
				// Gg (4x3), by columns.
				t00, t01, t02 := f[0], f[1], f[2]
				t10 := 0.5 * (f[0] + f[3] + f[6])
				t11 := 0.5 * (f[1] + f[4] + f[7])
				t12 := 0.5 * (f[2] + f[5] + f[8])
				t20 := 0.5 * (f[0] - f[3] + f[6])
				t21 := 0.5 * (f[1] - f[4] + f[7])
				t22 := 0.5 * (f[2] - f[5] + f[8])
				t30, t31, t32 := f[6], f[7], f[8]
				// (Gg) G^T, by rows.
				dst[0][c], dst[1][c], dst[2][c], dst[3][c] = t00, 0.5*(t00+t01+t02), 0.5*(t00-t01+t02), t02
				dst[4][c], dst[5][c], dst[6][c], dst[7][c] = t10, 0.5*(t10+t11+t12), 0.5*(t10-t11+t12), t12
				dst[8][c], dst[9][c], dst[10][c], dst[11][c] = t20, 0.5*(t20+t21+t22), 0.5*(t20-t21+t22), t22
				dst[12][c], dst[13][c], dst[14][c], dst[15][c] = t30, 0.5*(t30+t31+t32), 0.5*(t30-t31+t32), t32
			}
		}
	})
}

// winoTuneT, when positive, replaces winoTiles (tuning runs).
var winoTuneT = 0

// winoPlan is the tiling of one Winograd call.
type winoPlan struct {
	th, tw int // tiles per column and row of an image
	tpi    int // tiles per image
	l      int // stream row length, 2*tw
	nb     int // images per chunk
	tasks  int
}

// winoSlack is the padding after each stream: the kernels read and write
// whole 32-value vectors past the last tile.
const winoSlack = 64

func (b *Backend) winoPlan(g *convGeom, n int) winoPlan {
	th, tw := (g.P+1)/2, (g.Q+1)/2
	wp := winoPlan{th: th, tw: tw, tpi: th * tw, l: 2 * tw}
	nb := max(1, winoTiles/wp.tpi)
	if winoTuneT > 0 {
		nb = max(1, winoTuneT/wp.tpi)
	}
	nb = min(nb, n)
	// At least one chunk per worker when the batch allows.
	if per := (n + b.threads - 1) / b.threads; nb > per {
		nb = per
	}
	wp.nb = nb
	chunks := (n + nb - 1) / nb
	wp.tasks = min(b.threads, chunks)
	return wp
}

// streamLen is the length of one input stream (th+1 rows) with its slack.
func (wp *winoPlan) streamLen() int { return (wp.th+1)*wp.l + winoSlack }

// winograd runs the forward convolution g (3x3, stride 1, pad 1) on n
// images: y [n, K, P, Q] = conv(x [n, C, H, W], w [K, C, 3, 3]).
func (b *Backend) winograd(g convGeom, n int, xd, wd, yd []float32) {
	hw, chw, pq, kpq := g.H*g.W, g.C*g.H*g.W, g.P*g.Q, g.K*g.P*g.Q
	u := b.scratch(16 * g.K * g.C)
	defer b.release(u)
	b.winoFilters(&g, wd, u)
	wp := b.winoPlan(&g, n)
	chunks := (n + wp.nb - 1) / wp.nb
	kc := g.K * g.C
	b.runTasks(wp.tasks, func(t int) {
		maxT := wp.nb * wp.tpi
		v := b.scratch(16 * g.C * maxT)
		defer b.release(v)
		m := b.scratch(16 * g.K * maxT)
		defer b.release(m)
		sl := wp.streamLen()
		st := b.scratch(4 * sl)
		defer b.release(st)
		ev, od, ev2, od2 := st[:sl], st[sl:2*sl], st[2*sl:3*sl], st[3*sl:]
		yev, yod := ev, od // the output streams reuse the input ones
		for ch := t * chunks / wp.tasks; ch < (t+1)*chunks/wp.tasks; ch++ {
			n0 := ch * wp.nb
			nb := min(wp.nb, n-n0)
			tt := nb * wp.tpi
			cs := g.C * tt
			for i := 0; i < nb; i++ {
				for c := 0; c < g.C; c++ {
					x := xd[(n0+i)*chw+c*hw : (n0+i)*chw+(c+1)*hw]
					wp.fill(&g, x, ev, od, ev2, od2)
					winoIn(v[c*tt+i*wp.tpi:], cs, ev, od, ev2, od2, wp.l, wp.tpi)
				}
			}
			ks := g.K * tt
			for xi := 0; xi < 16; xi++ {
				b.sgemm(false, false, g.K, tt, g.C, 1, u[xi*kc:], g.C, v[xi*cs:], tt, 0, m[xi*ks:], tt)
			}
			for i := 0; i < nb; i++ {
				for k := 0; k < g.K; k++ {
					winoOut(yev, yod, m[k*tt+i*wp.tpi:], ks, wp.tpi)
					wp.copyOut(&g, yd[(n0+i)*kpq+k*pq:(n0+i)*kpq+(k+1)*pq], yev, yod)
				}
			}
		}
	})
}

// fill writes the four input streams of the plane x [H, W], in assembly
// for planes of up to 16 columns (where a copy per row would cost more than
// the transform).
func (wp *winoPlan) fill(g *convGeom, x, ev, od, ev2, od2 []float32) {
	if hasAVX512 && g.W <= 16 {
		n1 := min(g.W, wp.l-1)
		_ = x[g.H*g.W-1]
		for _, s := range [][]float32{ev, od, ev2, od2} {
			_ = s[wp.streamLen()-1]
		}
		winoFillAVX512(&x[0], g.H, g.W, &ev[0], &od[0], &ev2[0], &od2[0], wp.l, wp.th+1,
			uint16(1<<n1-1), uint16(1<<(g.W-1)-1))
		return
	}
	wp.fillStreams(g, x, ev, od, ev2, od2)
}

// copyOut copies the output streams into the plane y [P, Q].
func (wp *winoPlan) copyOut(g *convGeom, y, yev, yod []float32) {
	if hasAVX512 && g.Q <= 16 {
		_ = y[g.P*g.Q-1]
		_ = yev[wp.th*wp.l-1]
		_ = yod[wp.th*wp.l-1]
		winoCopyOutAVX512(&y[0], &yev[0], &yod[0], g.P, g.Q, wp.l, uint16(1<<g.Q-1))
		return
	}
	for r := 0; r < wp.th; r++ {
		copy(y[2*r*g.Q:(2*r+1)*g.Q], yev[r*wp.l:])
		if 2*r+1 < g.P {
			copy(y[(2*r+1)*g.Q:(2*r+2)*g.Q], yod[r*wp.l:])
		}
	}
}

// fillStreams writes the four input streams of the plane x [H, W].
func (wp *winoPlan) fillStreams(g *convGeom, x, ev, od, ev2, od2 []float32) {
	l, w := wp.l, g.W
	n1 := min(w, l-1) // values of a row from column -1
	for i := 0; i <= wp.th; i++ {
		e, o := ev[i*l:(i+1)*l], od[i*l:(i+1)*l]
		e2, o2 := ev2[i*l:(i+1)*l], od2[i*l:(i+1)*l]
		fill := func(dst, dst2 []float32, r int) {
			if r < 0 || r >= g.H {
				clear(dst)
				clear(dst2)
				return
			}
			row := x[r*w : (r+1)*w]
			dst[0] = 0
			copy(dst[1:], row[:n1])
			clear(dst[1+n1:])
			copy(dst2, row[1:])
			clear(dst2[w-1:])
		}
		fill(e, e2, 2*i-1)
		fill(o, o2, 2*i)
	}
}

// winoIn writes the transformed inputs V = B^T d B of the n tiles of one
// plane's streams: value xi of tile t at v[xi*vs+t].
func winoIn(v []float32, vs int, ev, od, ev2, od2 []float32, l, n int) {
	_ = v[15*vs+n-1]
	if hasAVX512 {
		winoInAVX512(&v[0], vs, &ev[0], &od[0], &ev2[0], &od2[0], l, n)
		return
	}
	winoInGeneric(v, vs, ev, od, ev2, od2, l, n)
}

// winoOut writes the 2x2 outputs Y = A^T m A of the n tiles whose value xi
// is m[xi*ms+t] into the output streams: yev[2t+j] (row 0) and yod[2t+j]
// (row 1), j = 0, 1.
func winoOut(yev, yod, m []float32, ms, n int) {
	_ = m[15*ms+n-1]
	_ = yev[2*n+winoSlack-1]
	_ = yod[2*n+winoSlack-1]
	if hasAVX512 {
		winoOutAVX512(&yev[0], &yod[0], &m[0], ms, n)
		return
	}
	winoOutGeneric(yev, yod, m, ms, n)
}

func winoInGeneric(v []float32, vs int, ev, od, ev2, od2 []float32, l, n int) {
	for t := 0; t < n; t++ {
		var d [4][4]float32
		for a, s := range [4][2][]float32{{ev, ev2}, {od, od2}, {ev[l:], ev2[l:]}, {od[l:], od2[l:]}} {
			d[a] = [4]float32{s[0][2*t], s[0][2*t+1], s[1][2*t], s[1][2*t+1]}
		}
		for b := 0; b < 4; b++ {
			d0, d1, d2, d3 := d[0][b], d[1][b], d[2][b], d[3][b]
			d[0][b], d[1][b], d[2][b], d[3][b] = d0-d2, d1+d2, d2-d1, d1-d3
		}
		for a := 0; a < 4; a++ {
			d0, d1, d2, d3 := d[a][0], d[a][1], d[a][2], d[a][3]
			v[(4*a)*vs+t] = d0 - d2
			v[(4*a+1)*vs+t] = d1 + d2
			v[(4*a+2)*vs+t] = d2 - d1
			v[(4*a+3)*vs+t] = d1 - d3
		}
	}
}

func winoOutGeneric(yev, yod, m []float32, ms, n int) {
	for t := 0; t < n; t++ {
		var s [2][4]float32
		for b := 0; b < 4; b++ {
			m0, m1, m2, m3 := m[b*ms+t], m[(4+b)*ms+t], m[(8+b)*ms+t], m[(12+b)*ms+t]
			s[0][b] = m0 + m1 + m2
			s[1][b] = m1 - m2 - m3
		}
		for u, y := range [2][]float32{yev, yod} {
			y[2*t] = s[u][0] + s[u][1] + s[u][2]
			y[2*t+1] = s[u][1] - s[u][2] - s[u][3]
		}
	}
}

// winoIdx holds the permutations of the transforms: the even and the odd
// lanes of two vectors, and the interleaving of two vectors (low and high
// halves).
var winoIdx = [4][16]int32{
	{0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30},
	{1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31},
	{0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23},
	{8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31},
}

// winoMasks[i] has the low i bits set: the lanes of a tail of i tiles.
var winoMasks = [17]uint16{0, 1, 3, 7, 15, 31, 63, 127, 255, 511, 1023, 2047, 4095, 8191, 16383, 32767, 65535}
