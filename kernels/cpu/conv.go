package cpu

import (
	"math"

	"hallucinator/kernels"
	"hallucinator/tensor"
)

// Convolutions are lowered to SGEMM over column panels. A panel is either
// nb whole images or a range of output rows of one image; its column matrix
// col [C*R*S, cols] holds the input patches of its output pixels (im2col),
// and then
//
//	forward:         Y    [K, cols]     = W [K, C*R*S] * col
//	backward data:   dcol [C*R*S, cols] = W^T * dY, then col2im into dx
//	backward filter: dW   [K, C*R*S]   += dY [K, cols] * col^T
//
// Y and dY of a multi-image panel are gathered from / scattered to the NCHW
// layout; a one-image panel reads and writes them in place. Panels are sized
// so that col stays in a core's L2 cache while the SGEMM reads it, but never
// below convColsMin columns (when the batch allows): below that, packing W
// for each panel costs more than the cache saves. The images of the batch
// are split across the workers, each with its own column buffer (its SGEMMs
// run nested in the pool, on the worker itself while the other workers are
// busy); backward filter gives each worker its own partial dW, summed in
// worker order at the end. 1x1 stride-1 unpadded convolutions use the images
// directly as their column matrices, with no copy.
//
// The backward filter reduces over pixels, contiguous in both dY and col:
// with few filters (where packing dominates) it runs on the dot-product
// tiles of dot.go instead of the SGEMM, and same-padded stride-1
// convolutions skip the column matrix altogether (convdirect.go).
//
// The backward data pass of a stride-1 convolution with no more filters
// than channels is the forward convolution of dY with the flipped filters
// (convflip.go): it runs on the forward path, whose SGEMM sums over K*R*S
// rather than K and which needs no scatter-add. With AVX-512, column
// matrices whose rows im2colRow would fill in short pieces (small planes,
// strides) are filled by masked copies and gathers instead, and the col2im
// of strided convolutions scatter-adds (im2colsimd.go). All three passes
// of 3x3 stride-1 pad-1 convolutions with enough channels and pixels run on
// Winograd F(2x2, 3x3) instead (winograd.go, winofilter.go).

const (
	// convCols is the number of GEMM columns a panel aims for.
	convCols = 512
	// convColsMin is the fewest GEMM columns a panel may have when the
	// images allow.
	convColsMin = 256
	// convMaxCol is the column buffer, in elements, a panel stays within
	// unless that leaves it fewer than convColsMin columns.
	convMaxCol = 1 << 17

	// The same for the panels of the backward filter's dot-product tiles.
	convDotCols    = 1024
	convDotColsMin = 512
	convDotMaxCol  = 1 << 19
	// convDotMaxK is the most filters for which the dot-product tiles beat
	// the packed SGEMM (which amortises its packing over more rows).
	convDotMaxK = 128
)

// convSetup checks the shapes of a convolution and returns its geometry and
// batch size.
func convSetup(op string, p kernels.ConvParams, xs, ws, ys []int) (convGeom, int) {
	if len(xs) != 4 || len(ws) != 4 || len(ys) != 4 {
		kernels.Panicf(name, "%s: want 4-D x, w, y, got %v, %v, %v", op, xs, ws, ys)
	}
	if p.StrideH < 1 || p.StrideW < 1 || p.PadH < 0 || p.PadW < 0 {
		kernels.Panicf(name, "%s: bad parameters %+v", op, p)
	}
	g := convGeom{C: xs[1], H: xs[2], W: xs[3], K: ws[0], R: ws[2], S: ws[3],
		sh: p.StrideH, sw: p.StrideW, ph: p.PadH, pw: p.PadW}
	if ws[1] != g.C {
		kernels.Panicf(name, "%s: x %v has %d channels, w %v wants %d", op, xs, g.C, ws, ws[1])
	}
	if g.H+2*g.ph < g.R || g.W+2*g.pw < g.S {
		kernels.Panicf(name, "%s: filter %dx%d larger than the padded %dx%d input", op, g.R, g.S, g.H+2*g.ph, g.W+2*g.pw)
	}
	g.P, g.Q = p.OutSize(g.H, g.W, g.R, g.S)
	want := []int{xs[0], g.K, g.P, g.Q}
	if !tensor.EqualShape(ys, want) {
		kernels.Panicf(name, "%s: y has shape %v, want %v", op, ys, want)
	}
	return g, xs[0]
}

// convPlan is the panel layout of one convolution call.
type convPlan struct {
	g     convGeom
	n     int // batch size
	nb    int // images per panel (1 when panels are row ranges)
	rows  int // output rows per panel (P when panels are whole images)
	tasks int // number of worker tasks the batch is split into
}

// plan lays out the panels of an SGEMM-lowered convolution.
func (b *Backend) plan(g convGeom, n int) convPlan {
	pl := b.planCols(g, n, convCols, convColsMin, convMaxCol)
	// Each task packs all of W: with few columns in all, one task and the
	// SGEMM's own parallelism do better.
	if n*g.P*g.Q < b.threads*convCols {
		pl.tasks = 1
	}
	return pl
}

// planCols lays out panels of about target columns (at least minCols when
// the images allow) whose column buffer stays within maxCol elements when it
// can, one task per worker.
func (b *Backend) planCols(g convGeom, n, target, minCols, maxCol int) convPlan {
	pq, crs := g.P*g.Q, g.C*g.R*g.S
	pl := convPlan{g: g, n: n, nb: 1, rows: g.P, tasks: max(1, min(b.threads, n))}
	fit := maxCol / crs // columns that fit the buffer
	if pq > max(fit, minCols) {
		pl.rows = min(g.P, max(fit/g.Q, (minCols+g.Q-1)/g.Q, 1))
	} else {
		nb := min((target+pq-1)/pq, max(fit/pq, (minCols+pq-1)/pq))
		pl.nb = max(1, min(nb, n))
	}
	return pl
}

// cols is the largest number of GEMM columns of a panel.
func (pl *convPlan) cols() int { return pl.nb * pl.rows * pl.g.Q }

// taskImages returns the images [lo, hi) of task t.
func (pl *convPlan) taskImages(t int) (lo, hi int) {
	return t * pl.n / pl.tasks, (t + 1) * pl.n / pl.tasks
}

// panels calls f for each panel of images [lo, hi): m images from n0, or
// output rows [p0, p1) of image n0 (m == 1).
func (pl *convPlan) panels(lo, hi int, f func(n0, m, p0, p1 int)) {
	if pl.rows < pl.g.P {
		for i := lo; i < hi; i++ {
			for p0 := 0; p0 < pl.g.P; p0 += pl.rows {
				f(i, 1, p0, min(p0+pl.rows, pl.g.P))
			}
		}
		return
	}
	for n0 := lo; n0 < hi; n0 += pl.nb {
		f(n0, min(pl.nb, hi-n0), 0, pl.g.P)
	}
}

// runTasks runs f(t) for every task t in parallel.
func (b *Backend) runTasks(tasks int, f func(t int)) {
	if tasks == 1 {
		f(0)
		return
	}
	b.pool.Parallel(tasks, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			f(t)
		}
	})
}

// gatherChunk copies the m images of t [m, k, pq] into dst [k, m*pq].
func gatherChunk(t []float32, m, k, pq int, dst []float32) {
	ld := m * pq
	for c := 0; c < k; c++ {
		for i := 0; i < m; i++ {
			copy(dst[c*ld+i*pq:c*ld+(i+1)*pq], t[(i*k+c)*pq:(i*k+c+1)*pq])
		}
	}
}

// scatterChunk copies src [k, m*pq] into the m images of t [m, k, pq].
func scatterChunk(src []float32, m, k, pq int, t []float32) {
	ld := m * pq
	for c := 0; c < k; c++ {
		for i := 0; i < m; i++ {
			copy(t[(i*k+c)*pq:(i*k+c+1)*pq], src[c*ld+i*pq:c*ld+(i+1)*pq])
		}
	}
}

// Conv2d computes y = conv(x, w) by im2col + SGEMM over panels of images.
func (b *Backend) Conv2d(p kernels.ConvParams, x, w, y *tensor.Tensor) {
	g, n := convSetup("Conv2d", p, x.Shape(), w.Shape(), y.Shape())
	b.conv2d(g, n, data("Conv2d", x), data("Conv2d", w), data("Conv2d", y))
}

// conv2d runs the forward convolution of geometry g on n images: y [n, K,
// P, Q] = conv(x [n, C, H, W], w [K, C, R, S]).
func (b *Backend) conv2d(g convGeom, n int, xd, wd, yd []float32) {
	pq, crs, chw, kpq := g.P*g.Q, g.C*g.R*g.S, g.C*g.H*g.W, g.K*g.P*g.Q
	if n == 0 || g.K == 0 {
		return
	}
	if crs == 0 {
		clear(yd[:n*kpq])
		return
	}
	if b.useWinograd(&g) {
		b.winograd(g, n, xd, wd, yd)
		return
	}
	pl := b.plan(g, n)
	if g.pointwise() {
		b.runTasks(pl.tasks, func(t int) {
			lo, hi := pl.taskImages(t)
			for i := lo; i < hi; i++ {
				b.sgemm(false, false, g.K, pq, g.C, 1, wd, g.C, xd[i*chw:], pq, 0, yd[i*kpq:], pq)
			}
		})
		return
	}
	b.runTasks(pl.tasks, func(t int) {
		col := b.scratch(crs * pl.cols())
		defer b.release(col)
		var tmp []float32
		if pl.nb > 1 {
			tmp = b.scratch(g.K * pl.cols())
			defer b.release(tmp)
		}
		lo, hi := pl.taskImages(t)
		taps := b.newTaps(&g)
		pl.panels(lo, hi, func(n0, m, p0, p1 int) {
			cols := m * (p1 - p0) * g.Q
			g.im2colPanel(xd[n0*chw:], m, p0, p1, col, taps)
			if m == 1 {
				b.sgemm(false, false, g.K, cols, crs, 1, wd, crs, col, cols, 0, yd[n0*kpq+p0*g.Q:], pq)
				return
			}
			b.sgemm(false, false, g.K, cols, crs, 1, wd, crs, col, cols, 0, tmp, cols)
			scatterChunk(tmp, m, g.K, pq, yd[n0*kpq:])
		})
	})
}

// Conv2dBackwardData computes dx from dy and w. A stride-1 convolution
// whose padding leaves no input cell unread runs as the forward
// convolution of dy with the flipped filters (see flipped); otherwise
// dcol = W^T dY per panel, then col2im.
func (b *Backend) Conv2dBackwardData(p kernels.ConvParams, dy, w, dx *tensor.Tensor) {
	g, n := convSetup("Conv2dBackwardData", p, dx.Shape(), w.Shape(), dy.Shape())
	dyd, wd, dxd := data("Conv2dBackwardData", dy), data("Conv2dBackwardData", w), data("Conv2dBackwardData", dx)
	pq, crs, chw, kpq := g.P*g.Q, g.C*g.R*g.S, g.C*g.H*g.W, g.K*g.P*g.Q
	if n == 0 {
		return
	}
	if fg, ok := g.flipped(); ok && !g.pointwise() && (b.useFlip(&g) || b.useWinograd(&fg)) {
		wf := b.scratch(len(wd))
		defer b.release(wf)
		b.flipFilters(&g, wd, wf)
		b.conv2d(fg, n, dyd, wf, dxd)
		return
	}
	pl := b.plan(g, n)
	if g.pointwise() {
		b.runTasks(pl.tasks, func(t int) {
			lo, hi := pl.taskImages(t)
			for i := lo; i < hi; i++ {
				b.sgemm(true, false, g.C, pq, g.K, 1, wd, g.C, dyd[i*kpq:], pq, 0, dxd[i*chw:], pq)
			}
		})
		return
	}
	b.runTasks(pl.tasks, func(t int) {
		col := b.scratch(crs * pl.cols())
		defer b.release(col)
		var tmp []float32
		if pl.nb > 1 {
			tmp = b.scratch(g.K * pl.cols())
			defer b.release(tmp)
		}
		lo, hi := pl.taskImages(t)
		var taps *tapTable
		if b.fastCol2im(&g) {
			taps = &tapTable{}
		}
		pl.panels(lo, hi, func(n0, m, p0, p1 int) {
			cols := m * (p1 - p0) * g.Q
			dyc, ldy := dyd[n0*kpq+p0*g.Q:], pq
			if m > 1 {
				gatherChunk(dyd[n0*kpq:], m, g.K, pq, tmp)
				dyc, ldy = tmp, cols
			}
			b.sgemm(true, false, crs, cols, g.K, 1, wd, crs, dyc, ldy, 0, col, cols)
			// The first panel of an image sets its planes of dx.
			if taps != nil && m*chw <= math.MaxInt32 {
				g.col2imFast(col, m, p0, p1, dxd[n0*chw:], p0 == 0, taps)
				return
			}
			g.col2imPanel(col, m, p0, p1, dxd[n0*chw:], p0 == 0)
		})
	})
}

// Conv2dBackwardFilter computes dw = sum over panels of dY col^T; each task
// accumulates its own partial sum, and the partials are added in task order.
func (b *Backend) Conv2dBackwardFilter(p kernels.ConvParams, x, dy, dw *tensor.Tensor) {
	g, n := convSetup("Conv2dBackwardFilter", p, x.Shape(), dw.Shape(), dy.Shape())
	xd, dyd, dwd := data("Conv2dBackwardFilter", x), data("Conv2dBackwardFilter", dy), data("Conv2dBackwardFilter", dw)
	pq, crs, chw, kpq := g.P*g.Q, g.C*g.R*g.S, g.C*g.H*g.W, g.K*g.P*g.Q
	if n == 0 {
		clear(dwd)
		return
	}
	if b.useWinograd(&g) {
		b.winogradFilter(g, n, xd, dyd, dwd)
		return
	}
	// The dot-product tiles reduce over a panel's columns and pay a fixed
	// cost per tile: they want long panels, and one per worker.
	dot := hasAVX512 && !b.paths.noDot && g.K <= convDotMaxK && n >= b.threads && n*pq >= b.threads*convDotColsMin
	pl := b.plan(g, n)
	if dot {
		pl = b.planCols(g, n, convDotCols, convDotColsMin, convDotMaxCol)
	}
	kcrs := g.K * crs
	partial := make([][]float32, pl.tasks)
	partial[0] = dwd
	for t := 1; t < pl.tasks; t++ {
		partial[t] = b.scratch(kcrs)
		defer b.release(partial[t])
	}
	b.runTasks(pl.tasks, func(t int) {
		lo, hi := pl.taskImages(t)
		dst := partial[t]
		// gemm computes dst (+)= dY col^T for one panel, with the
		// dot-product tiles when the processor has them (dst cleared
		// first), else with the packed SGEMM.
		first := true
		gemm := func(dyc []float32, ldy int, col []float32, ldcol, c, cols int) {
			if dot {
				if first {
					clear(dst)
				}
				gemmNT(g.K, c, cols, dyc, ldy, col, ldcol, dst, c)
			} else {
				beta := float32(1)
				if first {
					beta = 0
				}
				b.sgemm(false, true, g.K, c, cols, 1, dyc, ldy, col, ldcol, beta, dst, c)
			}
			first = false
		}
		if g.pointwise() {
			for i := lo; i < hi; i++ {
				gemm(dyd[i*kpq:], pq, xd[i*chw:], pq, g.C, pq)
			}
			return
		}
		if dot && b.useGrid(&g) {
			plane, _ := g.gridLen()
			clear(dst)
			b.filterGradGrid(&g, xd, dyd, lo, hi, max(1, (convDotCols+plane-1)/plane), dst)
			return
		}
		col := b.scratch(crs * pl.cols())
		defer b.release(col)
		var tmp []float32
		if pl.nb > 1 {
			tmp = b.scratch(g.K * pl.cols())
			defer b.release(tmp)
		}
		taps := b.newTaps(&g)
		pl.panels(lo, hi, func(n0, m, p0, p1 int) {
			cols := m * (p1 - p0) * g.Q
			g.im2colPanel(xd[n0*chw:], m, p0, p1, col, taps)
			dyc, ldy := dyd[n0*kpq+p0*g.Q:], pq
			if m > 1 {
				gatherChunk(dyd[n0*kpq:], m, g.K, pq, tmp)
				dyc, ldy = tmp, cols
			}
			gemm(dyc, ldy, col, cols, crs, cols)
		})
	})
	for t := 1; t < pl.tasks; t++ {
		addTo(dwd, partial[t])
	}
}
