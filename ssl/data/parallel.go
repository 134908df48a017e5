package data

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// parallelEach runs fn(i) for every i in [0, n) on up to workers goroutines
// (0: GOMAXPROCS), handing out the indices in order, and returns the error
// of the lowest i whose call failed. With stopEarly no index is handed out
// after a call has failed (the calls under way finish).
func parallelEach(n, workers int, stopEarly bool, fn func(i int) error) error {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	errs := make([]error, n)
	var failed atomic.Bool
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if errs[i] = fn(i); errs[i] != nil {
					failed.Store(true)
				}
			}
		}()
	}
	for i := range n {
		if stopEarly && failed.Load() {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
