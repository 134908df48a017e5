package blas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
)

// guard fills the parts of a buffer that are not matrix elements; a write
// there, or a read that reaches the result, shows up.
var guard = float32(math.NaN())

// matrix is a row-major rows x cols matrix with leading dimension ld stored
// at offset off of data; every other element of data is a guard.
type matrix struct {
	rows, cols, ld, off int
	data                []float32
}

func newMatrix(rng *rand.Rand, rows, cols, pad, off int, fill func() float32) matrix {
	ld := max(1, cols+pad)
	n := off + off
	if rows > 0 {
		n += (rows-1)*ld + cols
	}
	mt := matrix{rows: rows, cols: cols, ld: ld, off: off, data: make([]float32, n)}
	for i := range mt.data {
		mt.data[i] = guard
	}
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			mt.data[off+i*ld+j] = fill()
		}
	}
	return mt
}

func (mt matrix) at(i, j int) float32 { return mt.data[mt.off+i*mt.ld+j] }

func (mt matrix) slice() []float32 { return mt.data[mt.off:] }

func (mt matrix) inside(idx int) bool {
	idx -= mt.off
	if idx < 0 || mt.rows == 0 {
		return false
	}
	i, j := idx/mt.ld, idx%mt.ld
	return i < mt.rows && j < mt.cols
}

// refGemm is C = alpha*op(A)*op(B) + beta*C in float64, with the bound
// |alpha|*sum|a*b| + |beta*c| of each element for the error check.
func refGemm(transA, transB bool, m, n, k int, alpha float32, a matrix, b matrix, beta float32, c matrix) (want, scale []float64) {
	// op(A) as m rows of k and op(B) as n columns of k, contiguous.
	opA := make([]float64, m*k)
	opBT := make([]float64, n*k)
	for i := 0; i < m; i++ {
		for p := 0; p < k; p++ {
			if transA {
				opA[i*k+p] = float64(a.at(p, i))
			} else {
				opA[i*k+p] = float64(a.at(i, p))
			}
		}
	}
	for j := 0; j < n; j++ {
		for p := 0; p < k; p++ {
			if transB {
				opBT[j*k+p] = float64(b.at(j, p))
			} else {
				opBT[j*k+p] = float64(b.at(p, j))
			}
		}
	}
	want = make([]float64, m*n)
	scale = make([]float64, m*n)
	for i := 0; i < m; i++ {
		ai := opA[i*k : i*k+k]
		for j := 0; j < n; j++ {
			bj := opBT[j*k : j*k+k]
			var s, abs float64
			for p, av := range ai {
				v := av * bj[p]
				s += v
				abs += math.Abs(v)
			}
			w := float64(alpha) * s
			sc := math.Abs(float64(alpha)) * abs
			if beta != 0 {
				w += float64(beta) * float64(c.at(i, j))
				sc += math.Abs(float64(beta) * float64(c.at(i, j)))
			}
			want[i*n+j] = w
			scale[i*n+j] = sc
		}
	}
	return want, scale
}

type gemmCase struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	padA, padB     int
	padC           int
}

func (tc gemmCase) String() string {
	t := func(b bool) string {
		if b {
			return "T"
		}
		return "N"
	}
	return fmt.Sprintf("%s%s/m=%d,n=%d,k=%d/alpha=%g,beta=%g/pad=%d,%d,%d",
		t(tc.transA), t(tc.transB), tc.m, tc.n, tc.k, tc.alpha, tc.beta, tc.padA, tc.padB, tc.padC)
}

// gemmInputs is one product's operands, C with its guards, and the
// float64 reference result.
type gemmInputs struct {
	tc          gemmCase
	exact       bool
	a, b, c     matrix
	want, scale []float64
}

// newInputs draws the operands of tc. With exact set they are small
// integers whose products and sums are exact in float32, and the result
// must match to the bit. When beta is 0, C starts as NaN.
func newInputs(rng *rand.Rand, tc gemmCase, exact bool) *gemmInputs {
	fill := func() float32 { return float32(rng.NormFloat64()) }
	if exact {
		fill = func() float32 { return float32(rng.IntN(9) - 4) }
	}
	ar, ac := tc.m, tc.k
	if tc.transA {
		ar, ac = ac, ar
	}
	br, bc := tc.k, tc.n
	if tc.transB {
		br, bc = bc, br
	}
	in := &gemmInputs{tc: tc, exact: exact}
	in.a = newMatrix(rng, ar, ac, tc.padA, 3, fill)
	in.b = newMatrix(rng, br, bc, tc.padB, 5, fill)
	in.c = newMatrix(rng, tc.m, tc.n, tc.padC, 7, fill)
	if tc.beta == 0 {
		for i := 0; i < tc.m; i++ {
			for j := 0; j < tc.n; j++ {
				in.c.data[in.c.off+i*in.c.ld+j] = float32(math.NaN())
			}
		}
	}
	in.want, in.scale = refGemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, in.a, in.b, tc.beta, in.c)
	return in
}

// check runs the product on p and fails the test on any difference.
func (in *gemmInputs) check(t *testing.T, p *Pool) {
	t.Helper()
	if err := in.verify(p); err != nil {
		t.Fatal(err)
	}
}

// verify runs the product on p, on a copy of C, and compares it with the
// reference; the guards around C must be untouched.
func (in *gemmInputs) verify(p *Pool) error {
	tc := in.tc
	c := in.c
	c.data = append([]float32(nil), in.c.data...)
	p.Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, in.a.slice(), in.a.ld, in.b.slice(), in.b.ld, tc.beta, c.slice(), c.ld)

	for idx, v := range c.data {
		if !c.inside(idx) && math.Float32bits(v) != math.Float32bits(in.c.data[idx]) {
			return fmt.Errorf("%s %v: guard at index %d overwritten with %g", p.Kernel(), tc, idx, v)
		}
	}
	tol := 1e-5 * math.Sqrt(float64(max(tc.k, 1)))
	var first error
	bad := 0
	for i := 0; i < tc.m; i++ {
		for j := 0; j < tc.n; j++ {
			got := float64(c.at(i, j))
			w := in.want[i*tc.n+j]
			ok := got == w
			if !in.exact {
				ok = math.Abs(got-w) <= tol*in.scale[i*tc.n+j]
			}
			if !ok {
				if first == nil {
					first = fmt.Errorf("C[%d][%d] = %g, want %g (bound %g)", i, j, got, w, tol*in.scale[i*tc.n+j])
				}
				bad++
			}
		}
	}
	if bad > 0 {
		return fmt.Errorf("%s %v: %d wrong elements, first %v", p.Kernel(), tc, bad, first)
	}
	return nil
}

// runCase draws the inputs of tc and checks the product on p.
func runCase(t *testing.T, p *Pool, rng *rand.Rand, tc gemmCase, exact bool) {
	t.Helper()
	newInputs(rng, tc, exact).check(t, p)
}

// testKernels returns every micro-kernel this machine runs, and for those
// that pack B on the fly, a copy that packs it beforehand ("/packed").
func testKernels() []*microKernel {
	var ks []*microKernel
	for _, k := range kernels() {
		ks = append(ks, k)
		if k.fused != nil {
			packed := *k
			packed.name += "/packed"
			packed.fused = nil
			ks = append(ks, &packed)
		}
	}
	return ks
}

// testPools returns a pool for every micro-kernel this machine runs, with
// two workers so that the parallel split is exercised on any machine, and
// one with the best kernel that splits C in one part per worker and never
// shares the packed op(A) ("/unshared").
func testPools(t *testing.T) []*Pool {
	var pools []*Pool
	for _, k := range testKernels() {
		p := newPoolKernel(2, k)
		t.Cleanup(p.Close)
		pools = append(pools, p)
	}
	k := *bestKernel()
	k.name += "/unshared"
	p := newPoolKernel(2, &k)
	p.partsPerWorker, p.maxSharedA = 1, 0
	t.Cleanup(p.Close)
	return append(pools, p)
}

var transCombos = [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}}

func TestSgemmSmallExact(t *testing.T) {
	sizes := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 16, 17, 24, 31, 40}
	for _, p := range testPools(t) {
		t.Run(p.Kernel(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			for _, tr := range transCombos {
				for _, m := range sizes {
					for _, n := range sizes {
						for _, k := range sizes {
							beta := []float32{0, 1, -1, 2}[rng.IntN(4)]
							tc := gemmCase{transA: tr[0], transB: tr[1], m: m, n: n, k: k,
								alpha: 1, beta: beta, padA: rng.IntN(3), padB: rng.IntN(3), padC: rng.IntN(3)}
							runCase(t, p, rng, tc, true)
						}
					}
				}
			}
		})
	}
}

func TestSgemmShapes(t *testing.T) {
	type shape struct{ m, n, k int }
	shapes := []shape{
		{7, 13, 31}, {13, 7, 67}, {31, 67, 13}, {67, 127, 257}, {127, 31, 257},
		{257, 127, 67}, {47, 48, 49}, {48, 96, 8}, {97, 95, 300}, {8, 1000, 3},
		{1024, 67, 31}, {31, 1024, 67}, {13, 7, 1024}, {129, 529, 260}, {16, 4200, 20}, {1100, 9, 200},
	}
	alphaBeta := [][2]float32{{1, 0}, {-0.5, 0}, {1, 1}, {2.5, -1.5}, {0.3, 0.7}}
	for _, p := range testPools(t) {
		t.Run(p.Kernel(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 4))
			for _, s := range shapes {
				for _, tr := range transCombos {
					ab := alphaBeta[rng.IntN(len(alphaBeta))]
					tc := gemmCase{transA: tr[0], transB: tr[1], m: s.m, n: s.n, k: s.k,
						alpha: ab[0], beta: ab[1], padA: rng.IntN(20), padB: rng.IntN(20), padC: rng.IntN(20)}
					runCase(t, p, rng, tc, false)
				}
			}
		})
	}
}

func TestSgemmLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("large product skipped in short mode")
	}
	rng := rand.New(rand.NewPCG(5, 6))
	tc := gemmCase{m: 1024, n: 1024, k: 1024, alpha: 1.5, beta: 0.5, padA: 3, padB: 1, padC: 1}
	tc.transA, tc.transB = rng.IntN(2) == 0, rng.IntN(2) == 0
	in := newInputs(rng, tc, false)
	for _, p := range testPools(t) {
		in.check(t, p)
	}
}

// TestSgemmConcurrent runs products from several goroutines at once on one
// pool, and from inside Parallel, as the layers above do.
func TestSgemmConcurrent(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	var ins []*gemmInputs
	for i := 0; i < 6; i++ {
		ins = append(ins, newInputs(rng, gemmCase{m: 61 + i, n: 97, k: 203 - i, alpha: 1, beta: 0,
			transA: i%2 == 1, transB: i%3 == 1}, true))
	}
	p := NewPool(3)
	defer p.Close()
	var wg sync.WaitGroup
	for _, in := range ins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < 3; r++ {
				if err := in.verify(p); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	p.Parallel(len(ins), func(lo, hi int) {
		for _, in := range ins[lo:hi] {
			if err := in.verify(p); err != nil {
				t.Error(err)
			}
		}
	})
}

// TestSgemmZeroSizes checks the degenerate sizes: nothing happens for m or n
// of 0, and k == 0 or alpha == 0 scales C by beta without reading A or B.
func TestSgemmZeroSizes(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, p := range testPools(t) {
		for _, tc := range []gemmCase{
			{m: 0, n: 5, k: 3, alpha: 1, beta: 2},
			{m: 5, n: 0, k: 3, alpha: 1, beta: 2},
			{m: 5, n: 3, k: 0, alpha: 1, beta: 2},
			{m: 5, n: 3, k: 0, alpha: 1, beta: 0, padC: 2},
			{m: 6, n: 9, k: 4, alpha: 0, beta: -3, padC: 1},
			{m: 6, n: 9, k: 4, alpha: 0, beta: 0},
		} {
			runCase(t, p, rng, tc, true)
		}
		// alpha == 0: A and B are not read, so NaN there does not propagate.
		nan := float32(math.NaN())
		ab := []float32{nan, nan, nan, nan, nan, nan}
		c := []float32{1, 2, 3, 4}
		p.Sgemm(false, false, 2, 2, 3, 0, ab, 3, ab, 2, 2, c, 2)
		if c[0] != 2 || c[3] != 8 {
			t.Errorf("%s: alpha=0 gives %v", p.Kernel(), c)
		}
	}
}

func TestSgemmPanics(t *testing.T) {
	p := NewPool(1)
	defer p.Close()
	s := make([]float32, 100)
	for _, tc := range []struct {
		name string
		fn   func()
	}{
		{"negative m", func() { p.Sgemm(false, false, -1, 2, 2, 1, s, 2, s, 2, 0, s, 2) }},
		{"lda", func() { p.Sgemm(false, false, 2, 2, 3, 1, s, 2, s, 2, 0, s, 2) }},
		{"lda trans", func() { p.Sgemm(true, false, 4, 2, 3, 1, s, 3, s, 2, 0, s, 2) }},
		{"ldb", func() { p.Sgemm(false, true, 2, 4, 3, 1, s, 3, s, 2, 0, s, 4) }},
		{"ldc", func() { p.Sgemm(false, false, 2, 4, 3, 1, s, 3, s, 4, 0, s, 3) }},
		{"short a", func() { p.Sgemm(false, false, 11, 2, 10, 1, s, 10, s, 2, 0, s, 2) }},
		{"short c", func() { p.Sgemm(false, false, 2, 60, 1, 1, s, 1, s, 60, 0, s, 60) }},
	} {
		func() {
			defer func() {
				r := recover()
				if msg, ok := r.(string); !ok || len(msg) < 5 || msg[:5] != "blas:" {
					t.Errorf("%s: recovered %v, want a panic starting with blas:", tc.name, r)
				}
			}()
			tc.fn()
		}()
	}
}

// TestMicroKernels calls every micro-kernel directly on random panels,
// with and without loading C, and checks the guard around the tile.
func TestMicroKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, k := range kernels() {
		for _, kc := range []int{1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 64, 255, 256} {
			for _, load := range []bool{false, true} {
				a := make([]float32, kc*k.mr)
				b := make([]float32, kc*k.nr)
				for i := range a {
					a[i] = float32(rng.NormFloat64())
				}
				for i := range b {
					b[i] = float32(rng.NormFloat64())
				}
				ldc := k.nr + 3
				c := make([]float32, k.mr*ldc+1)
				for i := range c {
					c[i] = float32(rng.NormFloat64())
				}
				orig := append([]float32(nil), c...)
				beta := float32(-0.75)
				k.fn(kc, a, b, c, ldc, beta, load)
				for i := 0; i < k.mr; i++ {
					for j := 0; j < ldc; j++ {
						got := c[i*ldc+j]
						if j >= k.nr {
							if got != orig[i*ldc+j] {
								t.Fatalf("%s kc=%d: guard C[%d][%d] changed", k.name, kc, i, j)
							}
							continue
						}
						var s, abs float64
						for p := 0; p < kc; p++ {
							v := float64(a[p*k.mr+i]) * float64(b[p*k.nr+j])
							s += v
							abs += math.Abs(v)
						}
						if load {
							s += float64(beta) * float64(orig[i*ldc+j])
							abs += math.Abs(float64(beta) * float64(orig[i*ldc+j]))
						}
						if math.Abs(float64(got)-s) > 1e-5*math.Sqrt(float64(kc))*abs {
							t.Fatalf("%s kc=%d load=%v: C[%d][%d] = %g, want %g", k.name, kc, load, i, j, got, s)
						}
					}
				}
			}
		}
	}
}

// TestPartialKernels calls every edge micro-kernel directly on each
// rows x cols corner of its tile and checks that nothing else is written.
func TestPartialKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, k := range kernels() {
		if k.partial == nil {
			continue
		}
		for _, kc := range []int{1, 3, 4, 6, 37} {
			a := make([]float32, kc*k.mr)
			b := make([]float32, kc*k.nr)
			for i := range a {
				a[i] = float32(rng.IntN(9) - 4)
			}
			for i := range b {
				b[i] = float32(rng.IntN(9) - 4)
			}
			ldc := k.nr + 5
			for rows := 1; rows <= k.mr; rows++ {
				for cols := 1; cols <= k.nr; cols++ {
					for _, load := range []bool{false, true} {
						c := make([]float32, k.mr*ldc)
						for i := range c {
							c[i] = float32(rng.IntN(9) - 4)
						}
						orig := append([]float32(nil), c...)
						k.partial(kc, a, b, c, ldc, 2, load, rows, cols)
						for i := 0; i < k.mr; i++ {
							for j := 0; j < ldc; j++ {
								want := orig[i*ldc+j]
								if i < rows && j < cols {
									s := float32(0)
									for p := 0; p < kc; p++ {
										s += a[p*k.mr+i] * b[p*k.nr+j]
									}
									if load {
										s += 2 * orig[i*ldc+j]
									}
									want = s
								}
								if c[i*ldc+j] != want {
									t.Fatalf("%s kc=%d rows=%d cols=%d load=%v: C[%d][%d] = %g, want %g",
										k.name, kc, rows, cols, load, i, j, c[i*ldc+j], want)
								}
							}
						}
					}
				}
			}
		}
	}
}

// TestFusedKernels calls every micro-kernel that packs B on the fly
// directly: the tile must be right, nothing else in C written, and the
// packed panel must hold the source rows.
func TestFusedKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	for _, k := range kernels() {
		if k.fused == nil {
			continue
		}
		for _, kc := range []int{1, 2, 5, 8, 33} {
			a := make([]float32, kc*k.mr)
			for i := range a {
				a[i] = float32(rng.IntN(9) - 4)
			}
			for rows := 1; rows <= k.mr; rows++ {
				for cols := k.nr - 15; cols <= k.nr; cols++ {
					ldb := cols + rng.IntN(3)
					// The source ends exactly at the last element used.
					src := make([]float32, (kc-1)*ldb+cols)
					for i := range src {
						src[i] = float32(rng.IntN(9) - 4)
					}
					packed := make([]float32, kc*k.nr)
					ldc := k.nr + 2
					c := make([]float32, k.mr*ldc)
					for i := range c {
						c[i] = float32(rng.IntN(9) - 4)
					}
					orig := append([]float32(nil), c...)
					load := rng.IntN(2) == 0
					k.fused(kc, a, packed, c, ldc, -1, load, rows, cols, src, ldb)
					for p := 0; p < kc; p++ {
						for j := 0; j < cols; j++ {
							if packed[p*k.nr+j] != src[p*ldb+j] {
								t.Fatalf("%s kc=%d cols=%d: packed[%d][%d] = %g, want %g",
									k.name, kc, cols, p, j, packed[p*k.nr+j], src[p*ldb+j])
							}
						}
					}
					for i := 0; i < k.mr; i++ {
						for j := 0; j < ldc; j++ {
							want := orig[i*ldc+j]
							if i < rows && j < cols {
								s := float32(0)
								for p := 0; p < kc; p++ {
									s += a[p*k.mr+i] * src[p*ldb+j]
								}
								if load {
									s -= orig[i*ldc+j]
								}
								want = s
							}
							if c[i*ldc+j] != want {
								t.Fatalf("%s kc=%d rows=%d cols=%d: C[%d][%d] = %g, want %g",
									k.name, kc, rows, cols, i, j, c[i*ldc+j], want)
							}
						}
					}
				}
			}
		}
	}
}

// TestTransposers calls every packing transposer directly and checks each
// value it writes and that it writes nothing else.
func TestTransposers(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	for _, k := range kernels() {
		if k.transpose8 == nil {
			continue
		}
		for _, kc := range []int{16, 32, 48, 160} {
			for _, dstStride := range []int{8, 13, 48} {
				srcStride := kc + rng.IntN(5)
				src := make([]float32, 7*srcStride+kc)
				for i := range src {
					src[i] = float32(rng.NormFloat64())
				}
				dst := make([]float32, (kc-1)*dstStride+8+3)
				for i := range dst {
					dst[i] = guard
				}
				alpha := []float32{1, -0.5, 3}[rng.IntN(3)]
				k.transpose8(dst, dstStride, src, srcStride, kc, alpha)
				for idx, v := range dst {
					p, i := idx/dstStride, idx%dstStride
					if i >= 8 || p >= kc {
						if !math.IsNaN(float64(v)) {
							t.Fatalf("%s kc=%d stride=%d: dst[%d] written", k.name, kc, dstStride, idx)
						}
						continue
					}
					if want := alpha * src[i*srcStride+p]; v != want {
						t.Fatalf("%s kc=%d stride=%d: dst[%d][%d] = %g, want %g", k.name, kc, dstStride, p, i, v, want)
					}
				}
			}
		}
	}
}
