package blas

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// checkCover runs Parallel(n) and checks that every index is visited once,
// in at most Workers() non-empty chunks.
func checkCover(t *testing.T, p *Pool, n int) {
	t.Helper()
	hits := make([]atomic.Int32, max(n, 0))
	var chunks atomic.Int32
	p.Parallel(n, func(lo, hi int) {
		chunks.Add(1)
		if lo >= hi || lo < 0 || hi > n {
			t.Errorf("n=%d: bad chunk [%d, %d)", n, lo, hi)
			return
		}
		for i := lo; i < hi; i++ {
			hits[i].Add(1)
		}
	})
	for i := range hits {
		if h := hits[i].Load(); h != 1 {
			t.Fatalf("workers=%d n=%d: index %d visited %d times", p.Workers(), n, i, h)
		}
	}
	if c := int(chunks.Load()); c > p.Workers() || (n > 0 && c == 0) || (n <= 0 && c != 0) {
		t.Fatalf("workers=%d n=%d: %d chunks", p.Workers(), n, c)
	}
}

func TestParallelCover(t *testing.T) {
	for _, w := range []int{1, 2, 3, 7, 16} {
		p := NewPool(w)
		if p.Workers() != w {
			t.Fatalf("Workers() = %d, want %d", p.Workers(), w)
		}
		for n := -1; n < 100; n++ {
			checkCover(t, p, n)
		}
		checkCover(t, p, 1000003)
		p.Close()
		p.Close()
		// After Close the work still gets done, on the caller.
		checkCover(t, p, 37)
	}
	if p := NewPool(0); p.Workers() != runtime.GOMAXPROCS(0) {
		t.Errorf("NewPool(0).Workers() = %d, want GOMAXPROCS %d", p.Workers(), runtime.GOMAXPROCS(0))
	}
}

// TestParallelNestedConcurrent nests Parallel calls inside Parallel and runs
// several callers at once; it deadlocks or miscounts if the caller does not
// take part in the work.
func TestParallelNestedConcurrent(t *testing.T) {
	p := NewPool(3)
	defer p.Close()
	var wg sync.WaitGroup
	var total atomic.Int64
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < 50; r++ {
				p.Parallel(5, func(lo, hi int) {
					for i := lo; i < hi; i++ {
						p.Parallel(7, func(lo, hi int) { total.Add(int64(hi - lo)) })
					}
				})
			}
		}()
	}
	wg.Wait()
	if got, want := total.Load(), int64(8*50*5*7); got != want {
		t.Fatalf("total = %d, want %d", got, want)
	}
}

func TestParallelPanic(t *testing.T) {
	p := NewPool(4)
	defer p.Close()
	defer func() {
		if r := recover(); r != "boom" {
			t.Fatalf("recovered %v, want boom", r)
		}
		// The pool still works after a panic.
		checkCover(t, p, 50)
	}()
	var done atomic.Int32
	p.Parallel(4, func(lo, hi int) {
		done.Add(1)
		if lo == 3 {
			panic("boom")
		}
	})
	t.Fatal("Parallel did not panic")
}

func BenchmarkParallelSmall(b *testing.B) {
	p := NewPool(0)
	defer p.Close()
	var sink atomic.Int64
	for b.Loop() {
		p.Parallel(p.Workers(), func(lo, hi int) { sink.Add(int64(hi - lo)) })
	}
}
