// Package cpu is the fast CPU backend: it implements kernels.Backend on host
// tensors with loops split across one worker pool, the packed SGEMM of
// kernels/cpu/blas (convolutions lowered to it over reused column panels,
// blocked contrastive losses) and AVX2/AVX-512 assembly for the hot loops
// (batch normalisation, dot-product tiles for filter gradients), chosen at
// run time with plain Go twins.
package cpu

import (
	"runtime"
	"sync"

	"hallucinator/kernels"
	"hallucinator/kernels/cpu/blas"
	"hallucinator/tensor"
)

// name prefixes every panic message of this package.
const name = "cpu"

// minParallel is the number of elementary operations below which a loop
// runs on the calling goroutine: handing it to the pool would cost more than
// it saves.
const minParallel = 1 << 14

// maxFree is the number of scratch buffers kept for reuse.
const maxFree = 8

// Options configures New.
type Options struct {
	// Threads is the number of worker goroutines; 0 means
	// runtime.GOMAXPROCS(0).
	Threads int
}

// Backend is the fast CPU backend. It implements every method of
// kernels.Backend and of the capabilities itself (TestNoInheritedMethods):
// a method added to the interface must be added here, not inherited from the
// reference at its speed. A Backend is safe for concurrent use; its scratch
// buffers are shared under a mutex.
type Backend struct {
	pool    *blas.Pool
	threads int

	mu   sync.Mutex
	free [][]float32 // scratch buffers ready for reuse

	paths convPaths // lets tests and benchmarks turn fast paths off
}

// convPaths turns off convolution paths, so that the remaining ones can be
// tested and timed on a machine that would not choose them.
type convPaths struct {
	noGrid       bool // no grid formulation of same-padded stride-1 convolutions
	noDot        bool // no dot-product tiles for the backward filter
	noFlip       bool // no backward data as a forward convolution (convflip.go)
	noFastIm2col bool // no AVX-512 column matrices (im2colsimd.go)
	noWinograd   bool // no Winograd F(2x2, 3x3) for 3x3 stride-1 pad-1 convolutions (winograd.go)
	winogradAll  bool // Winograd for every such convolution, however small (tests)
}

var _ kernels.Full = (*Backend)(nil)

// New returns a CPU backend with its worker pool started. Call Close when
// done with it.
func New(opts Options) *Backend {
	t := opts.Threads
	if t <= 0 {
		t = runtime.GOMAXPROCS(0)
	}
	return &Backend{pool: blas.NewPool(t), threads: t}
}

// Close stops the worker pool and drops the scratch buffers. The backend
// must not be used afterwards; a second Close does nothing. It returns nil:
// the host has no deferred errors.
func (b *Backend) Close() error {
	b.pool.Close()
	b.mu.Lock()
	b.free = nil
	b.mu.Unlock()
	return nil
}

// Caps describes the host: no accelerator, deterministic (every reduction
// has a fixed order, whatever the number of threads), full float32.
func (b *Backend) Caps() kernels.Caps { return kernels.Caps{Deterministic: true} }

// Zeros returns a new host tensor of zeros.
func (b *Backend) Zeros(shape ...int) *tensor.Tensor { return tensor.Zeros(shape...) }

// FromHost returns a contiguous copy of a host tensor.
func (b *Backend) FromHost(t *tensor.Tensor) *tensor.Tensor {
	if t == nil || t.Kind() != tensor.Host {
		kernels.Panicf(name, "FromHost: want a host tensor")
	}
	return t.Clone()
}

// ToHost returns a contiguous copy of a host tensor.
func (b *Backend) ToHost(t *tensor.Tensor) *tensor.Tensor {
	if t == nil || t.Kind() != tensor.Host {
		kernels.Panicf(name, "ToHost: want a host tensor")
	}
	return t.Clone()
}

// Sync returns nil: every method has finished when it returns.
func (b *Backend) Sync() error { return nil }

// Name returns "cpu".
func (b *Backend) Name() string { return name }

// Kind returns tensor.Host.
func (b *Backend) Kind() tensor.DeviceKind { return tensor.Host }

// Threads returns the number of worker goroutines.
func (b *Backend) Threads() int { return b.threads }

// scratch returns a buffer of n elements with undefined contents, reusing a
// released one when one is large enough. Give it back with release.
func (b *Backend) scratch(n int) []float32 {
	b.mu.Lock()
	best := -1
	for i, f := range b.free {
		if cap(f) >= n && (best < 0 || cap(f) < cap(b.free[best])) {
			best = i
		}
	}
	if best >= 0 {
		f := b.free[best]
		last := len(b.free) - 1
		b.free[best] = b.free[last]
		b.free[last] = nil
		b.free = b.free[:last]
		b.mu.Unlock()
		return f[:n]
	}
	b.mu.Unlock()
	return make([]float32, n)
}

// release hands a scratch buffer back for reuse. When the cache is full the
// smallest buffer is dropped.
func (b *Backend) release(s []float32) {
	if cap(s) == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.free) < maxFree {
		b.free = append(b.free, s)
		return
	}
	small := 0
	for i, f := range b.free {
		if cap(f) < cap(b.free[small]) {
			small = i
		}
	}
	if cap(b.free[small]) < cap(s) {
		b.free[small] = s
	}
}

// parallel runs fn over [0, n) split into contiguous ranges across the
// workers, or inline when n*cost (elementary operations) is small.
func (b *Backend) parallel(n, cost int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if n == 1 || b.threads == 1 || n*cost < minParallel {
		fn(0, n)
		return
	}
	b.pool.Parallel(n, fn)
}

// blocks runs fn over [0, n) cut into fixed blocks of size bs (the last one
// shorter), in parallel. Block boundaries do not depend on the number of
// threads, so reductions that combine per-block results in block order are
// deterministic.
func (b *Backend) blocks(n, bs int, fn func(blk, lo, hi int)) {
	nb := (n + bs - 1) / bs
	b.parallel(nb, bs, func(lo, hi int) {
		for k := lo; k < hi; k++ {
			fn(k, k*bs, min((k+1)*bs, n))
		}
	})
}

// data returns the host elements of t, panicking with a clear message for
// nil and device tensors and non-contiguous views.
func data(op string, t *tensor.Tensor) []float32 {
	if t == nil {
		kernels.Panicf(name, "%s: nil tensor", op)
	}
	if t.Kind() != tensor.Host {
		kernels.Panicf(name, "%s: tensor on %v, want host", op, t.Kind())
	}
	if !t.IsContiguous() {
		kernels.Panicf(name, "%s: non-contiguous tensor of shape %v", op, t.Shape())
	}
	return t.Data()
}
