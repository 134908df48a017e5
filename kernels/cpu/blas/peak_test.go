package blas

import (
	"fmt"
	"testing"
	"time"
)

func TestMeasurePeak(t *testing.T) {
	pk, err := MeasurePeak(2, 20*time.Millisecond)
	if err != nil {
		t.Skip(err)
	}
	if pk.GFLOPS <= 0 || pk.Threads != 2 || pk.ISA == "" {
		t.Fatalf("peak %+v", pk)
	}
}

// BenchmarkPeak reports the FMA peak beside an SGEMM of a size that fits in
// cache: the SGEMM's fraction of the peak (gemm/peak) is at most 1 when the
// peak loop counts its flops right.
func BenchmarkPeak(b *testing.B) {
	for _, threads := range []int{1, 2} {
		b.Run(fmt.Sprintf("threads%d", threads), func(b *testing.B) {
			p := NewPool(threads)
			defer p.Close()
			const n = 512
			a, bm, c := make([]float32, n*n), make([]float32, n*n), make([]float32, n*n)
			for i := range a {
				a[i], bm[i] = float32(i%7), float32(i%5)
			}
			var pk Peak
			var gemm float64
			for range b.N {
				var err error
				if pk, err = MeasurePeak(threads, 100*time.Millisecond); err != nil {
					b.Skip(err)
				}
				t0 := time.Now()
				const reps = 10
				for range reps {
					p.Sgemm(false, false, n, n, n, 1, a, n, bm, n, 0, c, n)
				}
				gemm = reps * 2 * n * n * n / time.Since(t0).Seconds() / 1e9
			}
			b.ReportMetric(pk.GFLOPS, "peak-GFLOP/s")
			b.ReportMetric(gemm, "sgemm512-GFLOP/s")
			b.ReportMetric(gemm/pk.GFLOPS, "gemm/peak")
		})
	}
}
