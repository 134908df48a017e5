package blas

import (
	"errors"
	"sync"
	"time"
)

// Peak is a measured single-precision FMA throughput.
type Peak struct {
	// GFLOPS is the rate of all threads together, counting an FMA as two
	// floating-point operations.
	GFLOPS float64
	// Threads is the number of goroutines that ran the loop at once.
	Threads int
	// ISA names the instructions: "avx512" (512-bit VFMADD231PS) or
	// "avx2".
	ISA string
}

// MeasurePeak runs a loop of independent fused multiply-adds, as wide as
// the machine has, on threads goroutines at once for about d, and returns
// their combined rate: the ceiling against which GEMMs and training steps
// are reported as a fraction of the peak. The best of five rounds is kept,
// so a brief interruption by other work does not lower it. It returns an
// error on a machine without AVX2+FMA or AVX-512 (or in a purego build).
func MeasurePeak(threads int, d time.Duration) (Peak, error) {
	loop, flops, isa := peakLoop()
	if loop == nil {
		return Peak{}, errors.New("blas: MeasurePeak needs AVX2+FMA or AVX-512 on amd64")
	}
	if threads < 1 {
		threads = 1
	}
	// Calibrate: iterations for about d/5 on one thread.
	iters := 1 << 16
	for {
		t0 := time.Now()
		loop(iters)
		if el := time.Since(t0); el > 2*time.Millisecond || iters > 1<<30 {
			iters = int(float64(iters) * float64(d/5) / float64(max(el, time.Microsecond)))
			break
		}
		iters *= 4
	}
	iters = max(iters, 1<<12)
	best := 0.0
	for range 5 {
		var wg sync.WaitGroup
		start := make(chan struct{})
		t0 := time.Now()
		for range threads {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				loop(iters)
			}()
		}
		t0 = time.Now()
		close(start)
		wg.Wait()
		rate := float64(threads) * float64(iters) * flops / time.Since(t0).Seconds() / 1e9
		best = max(best, rate)
	}
	return Peak{GFLOPS: best, Threads: threads, ISA: isa}, nil
}
