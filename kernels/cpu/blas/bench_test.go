package blas

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// loopBest runs op b.N times and reports, besides the mean, the fastest
// single run ("best-GFLOP/s"): on a machine shared with other processes it
// is the run least disturbed by them.
func loopBest(b *testing.B, flops float64, op func()) {
	best := time.Duration(1 << 62)
	for b.Loop() {
		t0 := time.Now()
		op()
		best = min(best, time.Since(t0))
	}
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	b.ReportMetric(flops/best.Seconds()/1e9, "best-GFLOP/s")
}

// BenchmarkMicroKernel times each micro-kernel alone on panels that stay in
// cache, the ceiling for a whole product on one core.
func BenchmarkMicroKernel(b *testing.B) {
	for _, k := range kernels() {
		b.Run("kernel="+k.name, func(b *testing.B) {
			kc := k.kc
			a := make([]float32, kc*k.mr)
			bp := make([]float32, kc*k.nr*8)
			c := make([]float32, k.mr*k.nr*8)
			for i := range a {
				a[i] = rand.Float32()
			}
			for i := range bp {
				bp[i] = rand.Float32()
			}
			loopBest(b, 2*float64(kc*k.mr*k.nr*8), func() {
				for j := 0; j < 8; j++ {
					k.fn(kc, a, bp[j*kc*k.nr:], c[j*k.nr:], 8*k.nr, 1, true)
				}
			})
		})
	}
}

// BenchmarkSgemmSerial times whole products on one worker per kernel.
func BenchmarkSgemmSerial(b *testing.B) {
	for _, k := range testKernels() {
		p := newPoolKernel(1, k)
		defer p.Close()
		for _, s := range [][3]int{{512, 512, 512}, {1024, 1024, 1024}, {64, 8192, 576}, {512, 512, 4608}} {
			m, n, kk := s[0], s[1], s[2]
			b.Run(fmt.Sprintf("kernel=%s/%dx%dx%d", k.name, m, n, kk), func(b *testing.B) {
				a := make([]float32, m*kk)
				bm := make([]float32, kk*n)
				c := make([]float32, m*n)
				for i := range a {
					a[i] = rand.Float32()
				}
				for i := range bm {
					bm[i] = rand.Float32()
				}
				loopBest(b, 2*float64(m*n*kk), func() {
					p.Sgemm(false, false, m, n, kk, 1, a, kk, bm, n, 0, c, n)
				})
			})
		}
	}
}

// BenchmarkSgemmSerialTrans times each transpose combination at 1024^3 on
// one worker with the best kernel, to see what packing each costs.
func BenchmarkSgemmSerialTrans(b *testing.B) {
	p := newPoolKernel(1, bestKernel())
	defer p.Close()
	const n = 1024
	a := make([]float32, n*n)
	bm := make([]float32, n*n)
	c := make([]float32, n*n)
	for i := range a {
		a[i] = rand.Float32()
		bm[i] = rand.Float32()
	}
	for _, tr := range []string{"NN", "NT", "TN", "TT"} {
		b.Run(tr, func(b *testing.B) {
			loopBest(b, 2*n*n*n, func() {
				p.Sgemm(tr[0] == 'T', tr[1] == 'T', n, n, n, 1, a, n, bm, n, 0, c, n)
			})
		})
	}
}
