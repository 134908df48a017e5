package blas

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Pool is a fixed set of worker goroutines, created once by NewPool and shared
// by every Parallel and Sgemm call made on it. The calling goroutine always
// takes part in the work, so calls may be nested (a function run by Parallel
// may itself call Parallel or Sgemm) and may come from several goroutines at
// once. A Pool must not be copied.
type Pool struct {
	workers int
	jobs    chan *job // wakes idle workers; never closed while calls run
	closed  atomic.Bool
	once    sync.Once

	kern    *microKernel // the micro-kernel Sgemm uses
	scratch sync.Pool    // *gemmScratch for kern
	sharedA sync.Pool    // *[]float32: op(A) packed for all parts of a call

	// Sgemm's parallel split: partsPerWorker and maxSharedA as the
	// constants of the same names, changed only by tests.
	partsPerWorker, maxSharedA int
}

// NewPool starts a pool of workers goroutines (counting the caller of each
// call as one of them). workers <= 0 means runtime.GOMAXPROCS(0).
func NewPool(workers int) *Pool {
	return newPoolKernel(workers, bestKernel())
}

func newPoolKernel(workers int, k *microKernel) *Pool {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	p := &Pool{workers: workers, kern: k, partsPerWorker: partsPerWorker, maxSharedA: maxSharedA}
	p.scratch.New = func() any { return newGemmScratch(k) }
	p.sharedA.New = func() any { return new([]float32) }
	if workers > 1 {
		p.jobs = make(chan *job, workers)
		for i := 1; i < workers; i++ {
			go worker(p.jobs)
		}
	}
	return p
}

// Workers returns the number of workers, the caller of each call included.
func (p *Pool) Workers() int { return p.workers }

// Kernel returns the name of the micro-kernel Sgemm uses ("avx512", "avx2"
// or "generic").
func (p *Pool) Kernel() string { return p.kern.name }

// Close stops the worker goroutines. Calls made after Close still work but
// run on the calling goroutine alone. Close must not run concurrently with
// other calls on p; calling it twice is harmless.
func (p *Pool) Close() {
	p.once.Do(func() {
		p.closed.Store(true)
		if p.jobs != nil {
			close(p.jobs)
		}
	})
}

func worker(jobs <-chan *job) {
	for j := range jobs {
		j.run()
	}
}

// job is one Parallel call: chunks are claimed with an atomic counter by the
// caller and by any worker that received the job, so the caller can finish
// every chunk alone when the workers are busy.
type job struct {
	fn     func(lo, hi int)
	n      int
	chunks int
	next   atomic.Int64
	wg     sync.WaitGroup

	mu    sync.Mutex
	panic any // first panic raised by fn on a worker
}

func (j *job) run() {
	for {
		c := int(j.next.Add(1) - 1)
		if c >= j.chunks {
			return
		}
		j.runChunk(c)
	}
}

func (j *job) runChunk(c int) {
	defer j.wg.Done()
	defer func() {
		if r := recover(); r != nil {
			j.mu.Lock()
			if j.panic == nil {
				j.panic = r
			}
			j.mu.Unlock()
		}
	}()
	lo := int(int64(c) * int64(j.n) / int64(j.chunks))
	hi := int(int64(c+1) * int64(j.n) / int64(j.chunks))
	j.fn(lo, hi)
}

// Parallel runs fn(lo, hi) over [0, n) split into contiguous chunks across the
// workers and waits. The chunks cover [0, n) exactly once, in no particular
// order; there are at most Workers() of them and none is empty. n <= 0 does
// nothing; n == 1 or a one-worker pool runs fn(0, n) on the caller. A call
// costs about a microsecond more than running fn directly, and the caller
// takes over any chunk no worker has started when it finishes its own, so
// an idle worker that is slow to wake up does not hold it back. A panic in fn
// is raised again on the caller after every chunk has finished.
func (p *Pool) Parallel(n int, fn func(lo, hi int)) {
	p.parallel(n, min(n, p.workers), fn)
}

// parallel is Parallel with an explicit number of chunks, which may exceed
// the number of workers (they are handed out dynamically).
func (p *Pool) parallel(n, chunks int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	chunks = max(1, min(chunks, n))
	if chunks == 1 || p.workers == 1 || p.closed.Load() {
		if chunks == 1 {
			fn(0, n)
			return
		}
		for c := 0; c < chunks; c++ {
			fn(c*n/chunks, (c+1)*n/chunks)
		}
		return
	}
	j := &job{fn: fn, n: n, chunks: chunks}
	j.wg.Add(chunks)
	helpers := min(chunks, p.workers) - 1
wake:
	for i := 0; i < helpers; i++ {
		select {
		case p.jobs <- j:
		default:
			break wake // every worker already has work queued: do it here
		}
	}
	j.run()
	j.wg.Wait()
	if j.panic != nil {
		panic(j.panic)
	}
}
