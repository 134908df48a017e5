package cuda

import (
	"fmt"
	"sync"
	"unsafe"
)

// fakeHAL is a stand-in for the kernel library in tests that need no GPU:
// device memory is host memory handed out as addresses, kernels are not
// run (they return code, 0 unless set). Methods it does not override panic
// through the nil embedded interface.
type fakeHAL struct {
	hal

	mu       sync.Mutex
	capacity uint64 // bytes the device can hold
	used     uint64
	next     dptr
	live     map[dptr]uint64
	mem      map[dptr][]byte
	mallocs  int
	frees    int
	code     int // returned by every kernel
	launches []string
	uploads  [][]byte
}

func newFakeHAL(capacity uint64) *fakeHAL {
	return &fakeHAL{capacity: capacity, next: 1 << 20, live: map[dptr]uint64{}, mem: map[dptr][]byte{}}
}

func (f *fakeHAL) deviceCount(n *int32) int { *n = 1; return 0 }
func (f *fakeHAL) init(int) int             { return 0 }
func (f *fakeHAL) setDevice(int) int        { return 0 }
func (f *fakeHAL) devicePropsGet(_ int, p *deviceProps) int {
	*p = deviceProps{Major: 9, SMCount: 132, TotalMem: f.capacity}
	copy(p.Name[:], "Fake GPU")
	return 0
}
func (f *fakeHAL) driverVersion(v *int32) int  { *v = 13000; return 0 }
func (f *fakeHAL) runtimeVersion(v *int32) int { *v = 11080; return 0 }
func (f *fakeHAL) streamCreate(s *uintptr) int { *s = 0x57; return 0 }
func (f *fakeHAL) streamDestroy(uintptr) int   { return 0 }
func (f *fakeHAL) streamSync(uintptr) int      { return 0 }
func (f *fakeHAL) eventCreate(e *uintptr) int  { *e = 0xe1; return 0 }
func (f *fakeHAL) eventDestroy(uintptr) int    { return 0 }
func (f *fakeHAL) eventRecord(uintptr, uintptr) int {
	return 0
}
func (f *fakeHAL) eventElapsed(ms *float32, _, _ uintptr) int { *ms = 1.5; return 0 }
func (f *fakeHAL) errorName(code int) string {
	return map[int]string{1: "cudaErrorInvalidValue", 2: "cudaErrorMemoryAllocation"}[code]
}
func (f *fakeHAL) errorString(code int) string {
	return map[int]string{1: "invalid argument", 2: "out of memory"}[code]
}

func (f *fakeHAL) malloc(ptr *uintptr, bytes uint64) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.used+bytes > f.capacity {
		return codeOutOfMemory
	}
	p := f.next
	f.next += dptr(bytes+255) &^ 255
	f.used += bytes
	f.live[p] = bytes
	f.mem[p] = make([]byte, bytes)
	f.mallocs++
	*ptr = p
	return 0
}

func (f *fakeHAL) free(p dptr) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	bytes, ok := f.live[p]
	if !ok {
		panic(fmt.Sprintf("fake: free of unknown pointer %#x", p))
	}
	delete(f.live, p)
	delete(f.mem, p)
	f.used -= bytes
	f.frees++
	return 0
}

// at returns the host bytes behind device address p (inside a live block).
func (f *fakeHAL) at(p dptr, n uint64) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	for base, size := range f.live {
		if p >= base && uint64(p-base)+n <= size {
			return f.mem[base][p-base : uint64(p-base)+n]
		}
	}
	panic(fmt.Sprintf("fake: %d bytes at %#x are outside every block", n, p))
}

func (f *fakeHAL) memcpyH2D(_ uintptr, dst dptr, src unsafe.Pointer, bytes uint64) int {
	data := unsafe.Slice((*byte)(src), bytes)
	copy(f.at(dst, bytes), data)
	f.uploads = append(f.uploads, append([]byte(nil), data...))
	return 0
}

func (f *fakeHAL) memcpyD2H(_ uintptr, dst unsafe.Pointer, src dptr, bytes uint64) int {
	copy(unsafe.Slice((*byte)(dst), bytes), f.at(src, bytes))
	return 0
}

func (f *fakeHAL) memset(_ uintptr, dst dptr, value int, bytes uint64) int {
	b := f.at(dst, bytes)
	for i := range b {
		b[i] = byte(value)
	}
	return 0
}

func (f *fakeHAL) launch(name string) int {
	f.launches = append(f.launches, name)
	return f.code
}

func (f *fakeHAL) relu(uintptr, dptr, dptr, int64) int { return f.launch("relu") }
func (f *fakeHAL) fill(uintptr, dptr, int64, float32) int {
	return f.launch("fill")
}
func (f *fakeHAL) sgd(_ uintptr, _ dptr, count, nchunks int, _ *sgdArgs) int {
	return f.launch(fmt.Sprintf("sgd %d %d", count, nchunks))
}
func (f *fakeHAL) softmaxCEWorkspace(n, c int) uint64 { return uint64(n) * 8 }
func (f *fakeHAL) softmaxCE(uintptr, dptr, dptr, dptr, dptr, int, int, dptr) int {
	return f.launch("softmaxCE")
}
