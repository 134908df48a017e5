package bench

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	gblas "gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"

	"hallucinator/kernels/cpu/blas"
)

// sgemmFunc is the shape shared by every single-precision GEMM compared
// here: row-major C = alpha*op(A)*op(B) + beta*C.
type sgemmFunc func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
	b []float32, ldb int, beta float32, c []float32, ldc int)

// sgemmImpls returns the implementations to compare, each with a reason
// when it cannot run here.
func sgemmImpls(pool *blas.Pool) []struct {
	name string
	fn   sgemmFunc
	skip string
} {
	gonumImpl := gonum.Implementation{}
	gonumFn := func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
		bb []float32, ldb int, beta float32, c []float32, ldc int) {
		gonumImpl.Sgemm(gonumTrans(transA), gonumTrans(transB), m, n, k, alpha, a, lda, bb, ldb, beta, c, ldc)
	}
	var obFn sgemmFunc
	skip := ""
	if ob, err := loadOpenBLAS(pool.Workers()); err != nil {
		skip = "OpenBLAS unavailable: " + err.Error()
	} else {
		obFn = ob.Sgemm
	}
	return []struct {
		name string
		fn   sgemmFunc
		skip string
	}{
		{"cpu", pool.Sgemm, ""},
		{"gonum", gonumFn, ""},
		{"openblas", obFn, skip},
	}
}

func gonumTrans(t bool) gblas.Transpose {
	if t {
		return gblas.Trans
	}
	return gblas.NoTrans
}

// benchSgemm times one m x n x k product and reports GFLOP/s.
func benchSgemm(b *testing.B, fn sgemmFunc, transA, transB bool, m, n, k int) {
	rng := rand.New(rand.NewPCG(1, 2))
	randSlice := func(n int) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = rng.Float32()*2 - 1
		}
		return s
	}
	a, bm, c := randSlice(m*k), randSlice(k*n), randSlice(m*n)
	lda, ldb := k, n
	if transA {
		lda = m
	}
	if transB {
		ldb = k
	}
	fn(transA, transB, m, n, k, 1, a, lda, bm, ldb, 0, c, n) // warm up
	best := time.Duration(1 << 62)
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		fn(transA, transB, m, n, k, 1, a, lda, bm, ldb, 0, c, n)
		best = min(best, time.Since(t0))
	}
	flops := 2 * float64(m) * float64(n) * float64(k)
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	// The fastest single product: on a machine shared with other work, the
	// one least disturbed by it.
	b.ReportMetric(flops/best.Seconds()/1e9, "best-GFLOP/s")
}

// sgemmShapes are square products and the products ResNet-18's CIFAR
// convolutions lower to with the batch folded in (M = output channels,
// N = batch*P*Q, K = C*R*S, batch 32).
var sgemmShapes = [][3]int{
	{256, 256, 256}, {512, 512, 512}, {1024, 1024, 1024}, {2048, 2048, 2048},
	{64, 32768, 576}, {128, 8192, 1152}, {256, 2048, 2304}, {512, 512, 4608},
}

// BenchmarkSgemm compares C = A*B (no transposes) across implementations:
// BenchmarkSgemm/<impl>/<m>x<n>x<k>.
func BenchmarkSgemm(b *testing.B) {
	pool := blas.NewPool(0)
	defer pool.Close()
	for _, impl := range sgemmImpls(pool) {
		b.Run(impl.name, func(b *testing.B) {
			if impl.skip != "" {
				b.Skip(impl.skip)
			}
			for _, s := range sgemmShapes {
				b.Run(fmt.Sprintf("%dx%dx%d", s[0], s[1], s[2]), func(b *testing.B) {
					benchSgemm(b, impl.fn, false, false, s[0], s[1], s[2])
				})
			}
		})
	}
}

// BenchmarkSgemmTrans times every transpose combination at 1024^3, as the
// backward passes of linear and convolution layers use them:
// BenchmarkSgemmTrans/<impl>/<NN|NT|TN|TT>.
func BenchmarkSgemmTrans(b *testing.B) {
	pool := blas.NewPool(0)
	defer pool.Close()
	for _, impl := range sgemmImpls(pool) {
		b.Run(impl.name, func(b *testing.B) {
			if impl.skip != "" {
				b.Skip(impl.skip)
			}
			for _, tr := range []string{"NN", "NT", "TN", "TT"} {
				b.Run(tr, func(b *testing.B) {
					benchSgemm(b, impl.fn, tr[0] == 'T', tr[1] == 'T', 1024, 1024, 1024)
				})
			}
		})
	}
}

// TestOpenBLASAgrees checks the OpenBLAS binding against blas.Pool on a small
// product, so that the benchmark compares like with like.
func TestOpenBLASAgrees(t *testing.T) {
	ob, err := loadOpenBLAS(1)
	if err != nil {
		t.Skip("OpenBLAS unavailable: " + err.Error())
	}
	pool := blas.NewPool(1)
	defer pool.Close()
	rng := rand.New(rand.NewPCG(3, 4))
	const m, n, k = 13, 17, 19
	for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
		a := make([]float32, m*k)
		bm := make([]float32, k*n)
		for i := range a {
			a[i] = float32(rng.IntN(7) - 3)
		}
		for i := range bm {
			bm[i] = float32(rng.IntN(7) - 3)
		}
		lda, ldb := k, n
		if tr[0] {
			lda = m
		}
		if tr[1] {
			ldb = k
		}
		want := make([]float32, m*n)
		got := make([]float32, m*n)
		pool.Sgemm(tr[0], tr[1], m, n, k, 1, a, lda, bm, ldb, 0, want, n)
		ob.Sgemm(tr[0], tr[1], m, n, k, 1, a, lda, bm, ldb, 0, got, n)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("trans=%v: C[%d] = %g from OpenBLAS, %g from blas.Pool", tr, i, got[i], want[i])
			}
		}
	}
}
