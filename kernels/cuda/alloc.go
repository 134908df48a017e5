package cuda

import (
	"fmt"
	"math/bits"
	"runtime"
	"sync"
	"time"

	"hallucinator/tensor"
)

// minBlock is the smallest block the allocator hands out, in bytes (also
// the alignment every block keeps: cudaMalloc aligns to at least 256).
const minBlock = 256

// sizeClass rounds a request up to its class: multiples of 256 bytes up to
// 4 KiB, then four classes per power of two (2^k, 1.25, 1.5, 1.75 times
// 2^k), so that at most a fifth of a block is wasted.
func sizeClass(bytes uint64) uint64 {
	if bytes <= minBlock {
		return minBlock
	}
	if bytes <= 4096 {
		return (bytes + minBlock - 1) / minBlock * minBlock
	}
	k := uint(63 - bits.LeadingZeros64(bytes)) // 2^k <= bytes < 2^(k+1)
	step := uint64(1) << (k - 2)
	return (bytes + step - 1) / step * step
}

// block is one device allocation of the caching allocator.
type block struct {
	ptr   dptr
	bytes uint64 // size class
}

// allocator caches freed device blocks in free lists per size class and
// asks the driver (hal_malloc) only on a miss. When the driver runs out of
// memory it frees the cache, lets the garbage collector return blocks of
// unreachable tensors, and tries again. It is safe for concurrent use
// (cleanups run on their own goroutine).
type allocator struct {
	h hal

	mu       sync.Mutex
	free     map[uint64][]*block
	inUse    uint64 // bytes handed out and not yet returned
	cached   uint64 // bytes in the free lists
	peak     uint64 // largest inUse seen
	mallocs  int    // driver allocations
	closed   bool
	gcWaited time.Duration // how long the last out-of-memory retry waited
}

func newAllocator(h hal) *allocator {
	return &allocator{h: h, free: make(map[uint64][]*block)}
}

// get returns a block of at least bytes bytes (bytes > 0).
func (a *allocator) get(bytes uint64) (*block, error) {
	class := sizeClass(bytes)
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil, fmt.Errorf("cuda: allocation after Close")
	}
	if l := a.free[class]; len(l) > 0 {
		b := l[len(l)-1]
		l[len(l)-1] = nil
		a.free[class] = l[:len(l)-1]
		a.cached -= class
		a.take(class)
		a.mu.Unlock()
		return b, nil
	}
	a.mu.Unlock()

	var p dptr
	code := a.h.malloc(&p, class)
	if code == codeOutOfMemory {
		// Give back what is cached, then what the garbage collector can
		// find, and try again.
		a.trim()
		code = a.h.malloc(&p, class)
		for wait := time.Millisecond; code == codeOutOfMemory && wait <= 64*time.Millisecond; wait *= 4 {
			runtime.GC()
			time.Sleep(wait) // cleanups run on their own goroutine
			a.trim()
			code = a.h.malloc(&p, class)
		}
	}
	if code != codeSuccess {
		a.mu.Lock()
		inUse, cached := a.inUse, a.cached
		a.mu.Unlock()
		_, msg := errorText(a.h, code)
		return nil, fmt.Errorf("cuda: cannot allocate %d bytes (%d in use, %d cached): %s", class, inUse, cached, msg)
	}
	a.mu.Lock()
	a.mallocs++
	a.take(class)
	a.mu.Unlock()
	return &block{ptr: p, bytes: class}, nil
}

// take counts class bytes as handed out; a.mu is held.
func (a *allocator) take(class uint64) {
	a.inUse += class
	if a.inUse > a.peak {
		a.peak = a.inUse
	}
}

// put returns a block to its free list (or to the driver after close).
func (a *allocator) put(b *block) {
	a.mu.Lock()
	a.inUse -= b.bytes
	if a.closed {
		a.mu.Unlock()
		a.h.free(b.ptr)
		return
	}
	a.free[b.bytes] = append(a.free[b.bytes], b)
	a.cached += b.bytes
	a.mu.Unlock()
}

// trim frees every cached block.
func (a *allocator) trim() {
	a.mu.Lock()
	var blocks []*block
	for class, l := range a.free {
		blocks = append(blocks, l...)
		delete(a.free, class)
	}
	a.cached = 0
	a.mu.Unlock()
	for _, b := range blocks {
		a.h.free(b.ptr)
	}
}

// close frees the cache; blocks still in use are freed when returned.
func (a *allocator) close() {
	a.trim()
	a.mu.Lock()
	a.closed = true
	a.mu.Unlock()
}

// MemStats describes the device memory of a Backend's allocator.
type MemStats struct {
	InUse  uint64 // bytes held by live tensors and workspaces
	Cached uint64 // bytes freed to the allocator's cache, not to the driver
	Peak   uint64 // the largest InUse so far
	Allocs int    // driver allocations made (cache misses)
}

func (a *allocator) stats() MemStats {
	a.mu.Lock()
	defer a.mu.Unlock()
	return MemStats{InUse: a.inUse, Cached: a.cached, Peak: a.peak, Allocs: a.mallocs}
}

// Storage is device memory holding float32 values: a block of the caching
// allocator of the Backend that made it. It implements tensor.Storage.
type Storage struct {
	alloc   *allocator
	blk     *block // nil once released
	n       int
	cleanup runtime.Cleanup
}

// Kind returns tensor.CUDA.
func (s *Storage) Kind() tensor.DeviceKind { return tensor.CUDA }

// Len returns the number of float32 elements.
func (s *Storage) Len() int { return s.n }

// Ptr returns the device address of the first element (0 after release).
func (s *Storage) Ptr() uintptr {
	if s.blk == nil {
		return 0
	}
	return s.blk.ptr
}

// newStorage allocates n float32 values; the block goes back to the cache
// when the storage becomes unreachable, or at release.
func (a *allocator) newStorage(n int) (*Storage, error) {
	bytes := uint64(n) * 4
	if bytes == 0 {
		bytes = 4 // every storage owns a real block, so every tensor has an address
	}
	b, err := a.get(bytes)
	if err != nil {
		return nil, err
	}
	s := &Storage{alloc: a, blk: b, n: n}
	s.cleanup = runtime.AddCleanup(s, a.put, b)
	return s, nil
}

// release returns the block now; later uses of the storage panic.
func (s *Storage) release() {
	if s.blk == nil {
		return
	}
	s.cleanup.Stop()
	b := s.blk
	s.blk = nil
	s.alloc.put(b)
}
