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
// The transforms are vectorised over 16 consecutive tiles, which may span
// several tile rows (small planes). For that, an input plane is first
// copied into four zero-padded "streams" whose tile t reads its patch at 2t
// (plus 2*tw for its lower two rows): ev and od hold the even and odd rows
// of the padded plane (input rows 2i-1 and 2i for tile row i), 2*tw columns
// from input column -1; ev2 and od2 the same from input column 1. Planes of
// fewer than 64 tiles are laid out a chunk of images at a time instead (the
// lower rows in four more streams), so that each transform runs once per
// channel over the whole chunk. The output transform writes its 2x2 tiles
// likewise into even and odd output rows of 2*tw columns, then copied into
// y. Both run in AVX-512 assembly (winograd_amd64.s), as do the stream
// copies of planes up to 16 columns wide; winoInGeneric and winoOutGeneric
// are the transforms' Go twins.
//
// Winograd changes the rounding: the transforms add and subtract up to 16
// terms. The largest error seen against the reference backend, relative to
// the largest output, is 4.7e-7 forward and backward data and 6.5e-7 for the
// backward filter (winograd_test.go), where im2col+SGEMM gives ~1e-7.

const (
	// winoMinC, winoMinK, winoMinPlane, winoBigPlane and winoMinWork gate
	// the Winograd path (useWinograd): C >= 32, K >= 32 and a plane of at
	// least 16 pixels, and then either at least 144 pixels or C*K*H*W >=
	// 2^19 (the transforms cost per plane, the products per C*K). Measured
	// single-thread GFLOP/s of the direct convolution's flops, im2col+SGEMM
	// (or the backward filter's own paths) -> Winograd, forward / backward
	// data / backward filter, C = K, batch 128, best of 8 alternating runs
	// on a shared 2-core Zen 5 (noise ~10 %):
	//
	//	64ch 32x32   139 -> 244   134 -> 235   141 -> 183
	//	128ch 16x16  171 -> 293   166 -> 301   131 -> 247
	//	256ch 8x8    171 -> 274   172 -> 259   181 -> 243
	//	512ch 4x4    150 -> 220   160 -> 193   170 -> 240
	//	256ch 4x4    172 -> 202   161 -> 189   172 -> 197
	//	256ch 7x7    167 -> 204   159 -> 203   169 -> 189
	//	128ch 7x7    143 -> 169   152 -> 161   105 -> 145
	//	96ch 8x8     165 -> 189   161 -> 186   147 -> 179
	//	64ch 14x14   152 -> 225   148 -> 218   123 -> 166
	//	32ch 28x28   121 -> 191   120 -> 188   134 -> 172
	//	32ch 14x14   127 -> 159   131 -> 161   112 -> 144
	//	32ch 12x12   139 -> 186   135 -> 159   125 -> 149     (gate on above)
	//	128ch 4x4    136 -> 112   145 -> 132   123 -> 141     (gate off below)
	//	64ch 8x8     156 -> 155   147 -> 148   135 -> 128
	//	48ch 8x8     145 -> 134   133 -> 134   130 -> 109
	//	48ch 7x7     141 -> 151   132 -> 151   113 -> 127
	//	64ch 7x7     140 -> 124   135 -> 113    98 ->  91
	//	32ch 8x8     138 -> 113   134 -> 105   120 ->  90
	//	32ch 7x7     105 ->  92   107 ->  91    82 ->  79
	//	64ch 4x4     122 -> 113   121 -> 117   100 ->  96
	//
	// The width-8 Fashion-MNIST network (8-64 channels at 28x28 down to
	// 4x4: 32 channels at 7x7 and 64 at 4x4 at most) never takes this path,
	// so its results keep their bits.
	winoMinC     = 32
	winoMinK     = 32
	winoMinPlane = 16
	winoBigPlane = 144
	winoMinWork  = 1 << 19

	// winoTiles is the number of tiles a chunk aims for, in whole images:
	// the SGEMMs pack U[xi] once per chunk, which wants wide chunks, while
	// the transformed chunk (16*C*T values) is best kept near the caches.
	// Measured (fwd, one thread, best of 8): T = 256, 384, 512 and 1024
	// within the noise of one another but for 1024 a little slower.
	winoTiles = 512
)

// useWinograd reports whether the convolution g runs its passes on the
// Winograd path: a 3x3 stride-1 pad-1 convolution with the AVX-512
// transforms, and enough pixels, channels and filters for the SGEMMs to
// outweigh the transforms.
func (b *Backend) useWinograd(g *convGeom) bool {
	if !hasAVX512 || b.paths.noWinograd || g.R != 3 || g.S != 3 || g.sh != 1 || g.sw != 1 || g.ph != 1 || g.pw != 1 {
		return false
	}
	hw := g.H * g.W
	return b.paths.winogradAll || g.C >= winoMinC && g.K >= winoMinK && hw >= winoMinPlane &&
		(hw >= winoBigPlane || g.C*g.K*hw >= winoMinWork)
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
	th, tw int  // tiles per column and row of an image
	tpi    int  // tiles per image
	l      int  // stream row length, 2*tw
	nb     int  // images per chunk
	tasks  int  // worker tasks
	multi  bool // streams of whole chunks (small planes), else of one image
	sl     int  // length of one stream
}

// winoSlack is the padding after each stream: the kernels read and write
// whole 32-value vectors past the last tile.
const winoSlack = 64

// winoMultiTiles: planes of fewer tiles are transformed a chunk at a time
// (one call of each transform per channel, not per image and channel).
const winoMultiTiles = 64

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
	// The whole-chunk streams are filled in assembly only.
	wp.multi = hasAVX512 && g.W <= 16 && wp.tpi < winoMultiTiles
	if wp.multi {
		wp.sl = nb*th*wp.l + winoSlack
	} else {
		wp.sl = (th+1)*wp.l + winoSlack
	}
	return wp
}

// winoStreams are a task's streams. Per image, the input streams are ev,
// od, ev2, od2 of th+1 rows, rows a = 2, 3 of the patches read one row
// further; per chunk (multi), eight streams of th rows per image, ev, od,
// ev2, od2 of rows a = 0, 1 and then of rows a = 2, 3, so that tile t of
// the chunk reads all of them at 2t. The output streams yev, yod are the
// first two.
type winoStreams struct {
	s   [8][]float32
	buf []float32
}

func (b *Backend) winoStreams(wp *winoPlan) *winoStreams {
	st := &winoStreams{}
	ns := 4
	if wp.multi {
		ns = 8
	}
	st.buf = b.scratch(ns * wp.sl)
	for i := range st.s {
		if i < ns {
			st.s[i] = st.buf[i*wp.sl : (i+1)*wp.sl]
		} else {
			st.s[i] = st.s[i-4][wp.l:]
		}
	}
	return st
}

// ptrs returns the streams' first elements for the assembly.
func (st *winoStreams) ptrs() *[8]*float32 {
	var p [8]*float32
	for i, s := range st.s {
		p[i] = &s[0]
	}
	return &p
}

// inputs writes V for channel c of the nb images of a chunk from x [nb, C,
// H, W]: value xi of tile t of image i at v[xi*vs+i*tpi+t].
func (wp *winoPlan) inputs(g *convGeom, st *winoStreams, x []float32, nb, c int, v []float32, vs int) {
	hw, chw := g.H*g.W, g.C*g.H*g.W
	if wp.multi {
		n1 := min(g.W, wp.l-1)
		m1, m2 := uint16(1<<n1-1), uint16(1<<(g.W-1)-1)
		s := &st.s
		for i := 0; i < nb; i++ {
			xp := x[i*chw+c*hw : i*chw+(c+1)*hw]
			o := i * wp.th * wp.l
			_ = s[0][o+wp.th*wp.l+15]
			for j := 1; j < 8; j++ {
				_ = s[j][:len(s[0])]
			}
			winoFillAVX512(&xp[0], g.H, g.W, &s[0][o], &s[1][o], &s[2][o], &s[3][o], wp.l, wp.th, 0, m1, m2)
			winoFillAVX512(&xp[0], g.H, g.W, &s[4][o], &s[5][o], &s[6][o], &s[7][o], wp.l, wp.th, 1, m1, m2)
		}
		winoIn(v, vs, st, nb*wp.tpi)
		return
	}
	for i := 0; i < nb; i++ {
		wp.fill(g, x[i*chw+c*hw:i*chw+(c+1)*hw], st)
		winoIn(v[i*wp.tpi:], vs, st, wp.tpi)
	}
}

// outputs writes channel k of the nb images of a chunk into y [nb, K, P,
// Q] from M: value xi of tile t of image i at m[xi*ms+i*tpi+t].
func (wp *winoPlan) outputs(g *convGeom, st *winoStreams, m []float32, ms, nb, k int, y []float32) {
	pq, kpq := g.P*g.Q, g.K*g.P*g.Q
	yev, yod := st.s[0], st.s[1]
	if wp.multi {
		winoOut(yev, yod, m, ms, nb*wp.tpi)
		for i := 0; i < nb; i++ {
			o := i * wp.th * wp.l
			wp.copyOut(g, y[i*kpq+k*pq:i*kpq+(k+1)*pq], yev[o:], yod[o:])
		}
		return
	}
	for i := 0; i < nb; i++ {
		winoOut(yev, yod, m[i*wp.tpi:], ms, wp.tpi)
		wp.copyOut(g, y[i*kpq+k*pq:i*kpq+(k+1)*pq], yev, yod)
	}
}

// winograd runs the forward convolution g (3x3, stride 1, pad 1) on n
// images: y [n, K, P, Q] = conv(x [n, C, H, W], w [K, C, 3, 3]).
func (b *Backend) winograd(g convGeom, n int, xd, wd, yd []float32) {
	chw, kpq := g.C*g.H*g.W, g.K*g.P*g.Q
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
		st := b.winoStreams(&wp)
		defer b.release(st.buf)
		for ch := t * chunks / wp.tasks; ch < (t+1)*chunks/wp.tasks; ch++ {
			n0 := ch * wp.nb
			nb := min(wp.nb, n-n0)
			tt := nb * wp.tpi
			cs, ks := g.C*tt, g.K*tt
			for c := 0; c < g.C; c++ {
				wp.inputs(&g, st, xd[n0*chw:], nb, c, v[c*tt:], cs)
			}
			for xi := 0; xi < 16; xi++ {
				b.sgemm(false, false, g.K, tt, g.C, 1, u[xi*kc:], g.C, v[xi*cs:], tt, 0, m[xi*ks:], tt)
			}
			for k := 0; k < g.K; k++ {
				wp.outputs(&g, st, m[k*tt:], ks, nb, k, yd[n0*kpq:])
			}
		}
	})
}

// fill writes the four input streams of the plane x [H, W], in assembly
// for planes of up to 16 columns (where a copy per row would cost more than
// the transform). Masked copies of two vectors a row, tried for 17-32
// columns, lost to copy: 64ch 32x32 forward 237 -> 226 GFLOP/s, 32ch 28x28
// 168 -> 160 (one thread, best of 10).
func (wp *winoPlan) fill(g *convGeom, x []float32, st *winoStreams) {
	ev, od, ev2, od2 := st.s[0], st.s[1], st.s[2], st.s[3]
	if hasAVX512 && g.W <= 16 {
		n1 := min(g.W, wp.l-1)
		_ = x[g.H*g.W-1]
		for _, s := range [][]float32{ev, od, ev2, od2} {
			_ = s[wp.sl-1]
		}
		winoFillAVX512(&x[0], g.H, g.W, &ev[0], &od[0], &ev2[0], &od2[0], wp.l, wp.th+1, 0,
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

// winoIn writes the transformed inputs V = B^T d B of the n tiles of the
// streams: value xi of tile t at v[xi*vs+t].
func winoIn(v []float32, vs int, st *winoStreams, n int) {
	_ = v[15*vs+n-1]
	for _, s := range st.s {
		_ = s[2*n+winoSlack-1]
	}
	if hasAVX512 {
		winoInAVX512(&v[0], vs, st.ptrs(), n)
		return
	}
	winoInGeneric(v, vs, &st.s, n)
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

func winoInGeneric(v []float32, vs int, s *[8][]float32, n int) {
	for t := 0; t < n; t++ {
		var d [4][4]float32
		for a := 0; a < 4; a++ {
			e, e2 := s[a%2+4*(a/2)], s[a%2+2+4*(a/2)]
			d[a] = [4]float32{e[2*t], e[2*t+1], e2[2*t], e2[2*t+1]}
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
