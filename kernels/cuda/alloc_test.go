package cuda

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestSizeClass(t *testing.T) {
	prev := uint64(0)
	for _, n := range []uint64{1, 4, 255, 256, 257, 1000, 4095, 4096, 4097, 5000, 6143, 8191, 8192, 1 << 20,
		1<<20 + 1, 3<<20 + 7, 1<<33 - 1} {
		c := sizeClass(n)
		if c < n || c%minBlock != 0 || c < prev {
			t.Errorf("sizeClass(%d) = %d", n, c)
		}
		if n > 4096 && float64(c) > 1.25*float64(n) {
			t.Errorf("sizeClass(%d) = %d wastes more than a fifth", n, c)
		}
		if sizeClass(c) != c {
			t.Errorf("sizeClass(sizeClass(%d)) = %d, want %d", n, sizeClass(c), c)
		}
		prev = c
	}
}

func TestAllocatorReuse(t *testing.T) {
	b, f := fakeBackend(t, 1<<30)
	x := b.Zeros(100, 37)
	p := x.Storage().(*Storage).Ptr()
	st := b.MemStats()
	if st.InUse != sizeClass(100*37*4) {
		t.Fatalf("InUse %d after one tensor of class %d", st.InUse, sizeClass(100*37*4))
	}
	b.Release(x)
	if st := b.MemStats(); st.InUse != 0 || st.Cached != sizeClass(100*37*4) {
		t.Fatalf("after Release: %+v", st)
	}
	mallocs := f.mallocs
	y := b.Zeros(37, 100)
	if y.Storage().(*Storage).Ptr() != p || f.mallocs != mallocs {
		t.Fatal("a tensor of the same size class did not reuse the cached block")
	}
	b.Release(y)
	b.Release(y) // twice is harmless
	if st := b.MemStats(); st.InUse != 0 {
		t.Fatalf("double Release counted twice: %+v", st)
	}
}

// TestAllocatorOutOfMemory: a miss that does not fit frees the cache and
// succeeds; one that cannot fit panics with the figures.
func TestAllocatorOutOfMemory(t *testing.T) {
	b, f := fakeBackend(t, 1<<20)
	// The staging buffer and the events take nothing from the fake; fill
	// most of the device with one tensor, cache it, then ask for another
	// class.
	x := b.Zeros(600 << 8) // 600 KiB
	b.Release(x)
	y := b.Zeros(700 << 8) // 700 KiB: fits only once x's block is freed
	if f.frees != 1 {
		t.Fatalf("%d blocks freed to make room, want 1", f.frees)
	}
	mustPanic(t, "cannot allocate", func() { b.Zeros(1 << 20) })
	runtime.KeepAlive(y)
}

// TestAllocatorCleanup: the block of an unreachable tensor goes back to the
// cache without Release.
func TestAllocatorCleanup(t *testing.T) {
	b, _ := fakeBackend(t, 1<<30)
	func() {
		x := b.Zeros(1000)
		_ = x
	}()
	deadline := time.Now().Add(5 * time.Second)
	for b.MemStats().InUse != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("block of an unreachable tensor not returned: %+v", b.MemStats())
		}
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	if st := b.MemStats(); st.Cached == 0 {
		t.Fatalf("returned block not cached: %+v", st)
	}
}

func TestAllocatorClose(t *testing.T) {
	b, f := fakeBackend(t, 1<<30)
	x := b.Zeros(10)
	b.Release(b.Zeros(20))
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if len(f.live) != 1 {
		t.Fatalf("%d blocks live after Close, want only the live tensor's", len(f.live))
	}
	b.Release(x)
	if len(f.live) != 0 {
		t.Fatalf("a tensor released after Close was not freed")
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "after Close") {
			t.Errorf("allocation after Close: %v", r)
		}
	}()
	b.Zeros(3)
}
