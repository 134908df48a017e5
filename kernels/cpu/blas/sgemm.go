package blas

import "fmt"

// gemmScratch holds one worker's packing buffers for a micro-kernel.
type gemmScratch struct {
	a    []float32 // mc x kc of op(A), in mr-row micro-panels
	b    []float32 // kc x nc of B, in nr-column micro-panels
	edge []float32 // one mr x nr tile for partial tiles at the edges of C
}

func newGemmScratch(k *microKernel) *gemmScratch {
	mcUp := (k.mc + k.mr - 1) / k.mr * k.mr
	return &gemmScratch{
		a:    make([]float32, mcUp*k.kc),
		b:    make([]float32, k.kc*k.nc),
		edge: make([]float32, k.mr*k.nr),
	}
}

// parallelMinFlops is the size of product below which Sgemm stays on the
// calling goroutine: waking a worker costs more than it saves.
const parallelMinFlops = 1 << 20

// partsPerWorker is how many parts of C Sgemm makes per worker, at most;
// there is more than one per worker only when each keeps at least
// minPartRows rows (op(B) is packed again for each, on the fly),
// minPartCols columns (op(A) is packed again for each) or, when op(A) is
// packed once and shared, minPartSharedCols columns.
const (
	partsPerWorker    = 4
	minPartRows       = 256
	minPartCols       = 1024
	minPartSharedCols = 384
)

// maxSharedA bounds, in values, the packed copy of op(A) that the parts of
// a column split share.
const maxSharedA = 4 << 20

// Sgemm computes C = alpha*op(A)*op(B) + beta*C, all matrices row-major:
// op(A) is m x k (A itself is k x m when transA is set), op(B) is k x n (B is
// n x k when transB is set) and C is m x n. lda, ldb and ldc are the row
// strides in elements. When beta is 0, C is only written, never read (NaN in
// C does not propagate); when alpha is 0 or k is 0, A and B are not read.
// Elements of c outside the m x n matrix are never touched. Sgemm panics,
// with a message that starts with "blas:", on a negative size, a leading
// dimension too small for its matrix, or a slice too short.
func (p *Pool) Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
	b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkSgemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	p.sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func checkSgemm(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("blas: negative size m=%d n=%d k=%d", m, n, k))
	}
	checkMatrix("A", transA, m, k, a, lda)
	checkMatrix("B", transB, k, n, b, ldb)
	checkMatrix("C", false, m, n, c, ldc)
}

// checkMatrix checks a row-major matrix of rows x cols (cols x rows when
// trans is set) against its leading dimension and slice.
func checkMatrix(name string, trans bool, rows, cols int, s []float32, ld int) {
	if trans {
		rows, cols = cols, rows
	}
	if ld < max(1, cols) {
		panic(fmt.Sprintf("blas: ld%s=%d < %d", lowerName(name), ld, max(1, cols)))
	}
	if rows == 0 || cols == 0 {
		return
	}
	if need := (rows-1)*ld + cols; len(s) < need {
		panic(fmt.Sprintf("blas: len(%s)=%d < %d for a %dx%d matrix with ld=%d",
			lowerName(name), len(s), need, rows, cols, ld))
	}
}

func lowerName(name string) string { return string(rune(name[0]) + 'a' - 'A') }

// scaleC sets C = beta*C, writing zeros without reading C when beta is 0.
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// sgemm runs the blocked product with the pool's micro-kernel. C is split
// into ranges of rows (or of columns, when C is wider than tall), at least
// one per worker; each part runs the whole blocked loop nest on its range
// with its own packing buffers, so the workers never wait for one another.
// For a column split op(A) is packed once beforehand and shared.
func (p *Pool) sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
	b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	kern := p.kern
	g := gemm{kern: kern, transA: transA, transB: transB, m: m, n: n, k: k,
		alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc}

	// Splitting the rows makes every part pack all of op(B) (on the fly,
	// while computing), splitting the columns all of op(A), unless it is
	// packed once beforehand and shared: split the longer side.
	byRows := m >= n
	mUp := ceilDiv(m, kern.mr) * kern.mr
	shareA := !byRows && mUp*k <= p.maxSharedA
	unit, size, minPart := kern.nr, n, minPartCols
	if byRows {
		unit, size, minPart = kern.mr, m, minPartRows
	} else if shareA {
		minPart = minPartSharedCols
	}
	units := ceilDiv(size, unit)
	parts := min(p.workers, units)
	if 2*float64(m)*float64(n)*float64(k) < parallelMinFlops {
		parts = 1
	} else if parts == p.workers {
		// Several parts per worker, handed out as workers free up, keep
		// every core busy when some are slowed by other work, as long as
		// the parts stay large enough for any duplicated packing not to
		// matter.
		for mult := p.partsPerWorker; mult > 1; mult /= 2 {
			if size/(parts*mult) >= minPart {
				parts *= mult
				break
			}
		}
	}
	if shareA && parts > 1 {
		buf := p.sharedA.Get().(*[]float32)
		if cap(*buf) < mUp*k {
			*buf = make([]float32, mUp*k)
		}
		defer p.sharedA.Put(buf)
		g.packedA, g.mUp = (*buf)[:mUp*k], mUp
		g.packAllA(p)
	}
	run := func(part int) {
		s := p.scratch.Get().(*gemmScratch)
		lo, hi := part*units/parts*unit, min(size, (part+1)*units/parts*unit)
		if byRows {
			g.run(s, lo, hi, 0, n)
		} else {
			g.run(s, 0, m, lo, hi)
		}
		p.scratch.Put(s)
	}
	if parts == 1 {
		run(0)
		return
	}
	p.parallel(parts, parts, func(lo, hi int) {
		for part := lo; part < hi; part++ {
			run(part)
		}
	})
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// gemm is one Sgemm call, split into ranges of C computed independently.
type gemm struct {
	kern           *microKernel
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int

	// packedA, when set, holds all of alpha*op(A) packed: for the kc-deep
	// slice starting at p0, mUp/mr micro-panels of kc*mr values from
	// packedA[p0*mUp:].
	packedA []float32
	mUp     int
}

// kcStep is the depth of the slices the sum over k is cut into.
func (g *gemm) kcStep() int { return split(g.k, g.kern.kc, 1) }

// packAllA fills g.packedA, its micro-panels split across the workers.
func (g *gemm) packAllA(p *Pool) {
	mr := g.kern.mr
	kcStep := g.kcStep()
	p.Parallel(g.mUp/mr, func(lo, hi int) {
		r0, r1 := lo*mr, min(g.m, hi*mr)
		for p0 := 0; p0 < g.k; p0 += kcStep {
			kc := min(kcStep, g.k-p0)
			packA(g.packedA[p0*g.mUp+r0*kc:], g.transA, g.a, g.lda, r0, p0, r1-r0, kc, mr, g.alpha, g.kern.transpose8)
		}
	})
}

// split returns the step that cuts n into ceil(n/max) nearly equal blocks,
// rounded up to a multiple of unit.
func split(n, max, unit int) int {
	blocks := ceilDiv(n, max)
	return ceilDiv(ceilDiv(n, blocks), unit) * unit
}

// run computes C[r0:r1, c0:c1]. Loop nest, outermost first: blocks of at
// most mc rows of op(A); kc-deep slices of the sum, packing that row block
// of op(A) once; blocks of at most nc columns, packing kc x nc of op(B) to
// stay in L2; mr-row micro-panels of A (in L1 across the next loop);
// nr-column micro-panels of B; the micro-kernel.
func (g *gemm) run(s *gemmScratch, r0, r1, c0, c1 int) {
	kern := g.kern
	mr, nr := kern.mr, kern.nr
	kcStep := g.kcStep()
	mcStep := split(r1-r0, kern.mc, mr)
	ncStep := split(c1-c0, kern.nc, nr)
	// Without a transpose, the micro-kernel packs B itself while it
	// computes the first row micro-panel (ir == 0), reading op(B) once;
	// the narrow last panel of a block, which it cannot, is packed first.
	fuse := kern.fused != nil && !g.transB
	for i0 := r0; i0 < r1; i0 += mcStep {
		mc := min(mcStep, r1-i0)
		for p0 := 0; p0 < g.k; p0 += kcStep {
			kc := min(kcStep, g.k-p0)
			load, beta := true, float32(1)
			if p0 == 0 {
				load, beta = g.beta != 0, g.beta
			}
			ablock := s.a
			if g.packedA != nil {
				ablock = g.packedA[p0*g.mUp+i0*kc:]
			} else {
				packA(ablock, g.transA, g.a, g.lda, i0, p0, mc, kc, mr, g.alpha, kern.transpose8)
			}
			for j0 := c0; j0 < c1; j0 += ncStep {
				nc := min(ncStep, c1-j0)
				if !fuse {
					packB(s.b, g.transB, g.b, g.ldb, p0, j0, kc, nc, nr, kern.transpose8)
				}
				for ir := 0; ir < mc; ir += mr {
					ap := ablock[ir*kc : (ir+mr)*kc]
					rows := min(mr, mc-ir)
					for jr := 0; jr < nc; jr += nr {
						bp := s.b[jr*kc : (jr+nr)*kc]
						cols := min(nr, nc-jr)
						off := (i0+ir)*g.ldc + j0 + jr
						if fuse && ir == 0 {
							src := g.b[p0*g.ldb+j0+jr:]
							if cols > nr-16 {
								kern.fused(kc, ap, bp, g.c[off:], g.ldc, beta, load, rows, cols, src, g.ldb)
								continue
							}
							packRows(bp, src, g.ldb, kc, cols, nr, 1)
						}
						if rows == mr && cols == nr {
							kern.fn(kc, ap, bp, g.c[off:], g.ldc, beta, load)
							continue
						}
						if kern.partial != nil {
							kern.partial(kc, ap, bp, g.c[off:], g.ldc, beta, load, rows, cols)
							continue
						}
						kern.fn(kc, ap, bp, s.edge, nr, 0, false)
						mergeEdge(g.c[off:], g.ldc, s.edge, nr, rows, cols, beta, load)
					}
				}
			}
		}
	}
}

// mergeEdge writes a rows x cols corner of tile into c: c = tile + beta*c,
// or c = tile without reading c when load is false.
func mergeEdge(c []float32, ldc int, tile []float32, ldt, rows, cols int, beta float32, load bool) {
	for i := 0; i < rows; i++ {
		dst := c[i*ldc : i*ldc+cols]
		src := tile[i*ldt : i*ldt+cols]
		if !load {
			copy(dst, src)
			continue
		}
		for j, v := range src {
			dst[j] = v + beta*dst[j]
		}
	}
}
