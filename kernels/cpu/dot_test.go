package cpu

import (
	"fmt"
	"math"
	"testing"

	"hallucinator/tensor"
)

// TestGemmNT checks the dot-product GEMM (assembly tiles where available,
// Go edges) against a float64 loop, on sizes with edges in every dimension
// and with strides larger than the rows, guards around C untouched.
func TestGemmNT(t *testing.T) {
	rng := tensor.NewRand(13)
	for _, s := range [][3]int{{1, 1, 1}, {4, 4, 16}, {4, 4, 15}, {5, 7, 17}, {16, 144, 784}, {16, 9, 3136}, {13, 31, 67}, {8, 4, 1}, {3, 3, 100}} {
		m, k, n := s[0], s[1], s[2]
		t.Run(fmt.Sprintf("%dx%dx%d", m, k, n), func(t *testing.T) {
			lda, ldb, ldc := n+3, n+5, k+2
			a := randT(rng, m*lda).Data()
			b := randT(rng, k*ldb).Data()
			c := randT(rng, m*ldc+1).Data()
			want := make([]float64, len(c))
			for i := range c {
				want[i] = float64(c[i])
			}
			for i := 0; i < m; i++ {
				for j := 0; j < k; j++ {
					var s float64
					for p := 0; p < n; p++ {
						s += float64(a[i*lda+p]) * float64(b[j*ldb+p])
					}
					want[i*ldc+j] += s
				}
			}
			gemmNT(m, k, n, a, lda, b, ldb, c, ldc)
			for i := range c {
				inside := i < m*ldc && i%ldc < k
				if !inside && c[i] != float32(want[i]) {
					t.Fatalf("element %d outside C changed", i)
				}
				if e := math.Abs(float64(c[i]) - want[i]); e > 1e-5*math.Sqrt(float64(n)) {
					t.Fatalf("element %d: got %v, want %v", i, c[i], want[i])
				}
			}
			// With explicit row offsets (here a permutation of B's rows).
			boff := make([]int, k)
			for j := range boff {
				boff[j] = ((j * 7) % k) * ldb
			}
			c2 := make([]float32, len(c))
			gemmNTOff(m, k, n, a, lda, b, boff, c2, ldc)
			for i := 0; i < m; i++ {
				for j := 0; j < k; j++ {
					var s float64
					for p := 0; p < n; p++ {
						s += float64(a[i*lda+p]) * float64(b[boff[j]+p])
					}
					if e := math.Abs(float64(c2[i*ldc+j]) - s); e > 1e-5*math.Sqrt(float64(n)) {
						t.Fatalf("gemmNTOff (%d, %d): got %v, want %v", i, j, c2[i*ldc+j], s)
					}
				}
			}
			// The generic tile agrees with the assembly one.
			if m >= 4 && k >= 4 {
				c1 := make([]float32, 4*ldc)
				c2 := make([]float32, 4*ldc)
				off := (*[4]int)(boff[:4])
				dotTile4x4Off(a, lda, b, off, n, c1, ldc)
				dotTile4x4OffGeneric(a, lda, b, off, n, c2, ldc)
				if e := relErr(c1, c2); e > 1e-5 {
					t.Fatalf("tile: relative error %g", e)
				}
			}
		})
	}
}

// BenchmarkPanelFilterGemm compares, on one thread, the two ways of
// computing one panel of a backward filter, dW += dY col^T: the dot-product
// tiles and the packed SGEMM (which transposes col while packing). Shapes
// are K x C*R*S x columns; GFLOP/s counts processor time.
func BenchmarkPanelFilterGemm(b *testing.B) {
	be := New(Options{Threads: 1})
	defer be.Close()
	rng := tensor.NewRand(14)
	for _, s := range [][3]int{{16, 9, 2352}, {16, 144, 784}, {16, 144, 2352}, {32, 288, 784}, {32, 288, 2048}, {64, 576, 256}, {64, 576, 1024}, {64, 576, 2048}, {128, 1152, 256}, {128, 1152, 1024}, {512, 4608, 256}} {
		m, k, n := s[0], s[1], s[2]
		a, bm, c := randT(rng, m*n).Data(), randT(rng, k*n).Data(), make([]float32, m*k)
		for _, impl := range []string{"dot", "sgemm"} {
			b.Run(fmt.Sprintf("%s/%dx%dx%d", impl, m, k, n), func(b *testing.B) {
				c0 := cpuTime()
				for b.Loop() {
					if impl == "dot" {
						gemmNT(m, k, n, a, n, bm, n, c, k)
					} else {
						be.sgemm(false, true, m, k, n, 1, a, n, bm, n, 1, c, k)
					}
				}
				b.ReportMetric(2*float64(m*k*n)*float64(b.N)/(cpuTime()-c0).Seconds()/1e9, "GFLOP/s-cpu")
			})
		}
	}
}
