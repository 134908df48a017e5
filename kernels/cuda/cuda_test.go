// The GPU tests (conformance, allocator, errors, timing) run when the
// library loads and a device answers, and skip otherwise (fail, with
// HALLUCINATOR_REQUIRE_GPU set). Without a GPU they can run on the CPU
// emulator of kernels/cuda/src/emulator.cuh:
//
//	scripts/build-kernels.sh emu
//	HALLUCINATOR_CUDA_LIB=$PWD/build/libhalcuda_emu.so go test -run 'TestConformanceFP32' ./kernels/cuda
//
// (every kernel runs as host fibers, so this takes minutes). The other tests
// use a fake library (fake_test.go) and always run.

package cuda

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"hallucinator/kernels"
	"hallucinator/kernels/conformance"
	"hallucinator/tensor"
)

// RequireGPUEnv names the environment variable that, when set, turns the
// skip of the GPU tests (no library or no device) into a failure; the GPU
// check sets it.
const RequireGPUEnv = "HALLUCINATOR_REQUIRE_GPU"

// gpu returns a backend on the real library and GPU, or skips the test with
// the reason.
func gpu(t *testing.T, o Options) *Backend {
	t.Helper()
	b, err := New(o)
	if err != nil {
		if os.Getenv(RequireGPUEnv) != "" {
			t.Fatalf("no CUDA backend (%s is set): %v", RequireGPUEnv, err)
		}
		t.Skipf("no CUDA backend: %v", err)
	}
	t.Logf("device: %v, library %s", b.Info(), b.Info().Library)
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

func TestConformance(t *testing.T) {
	b := gpu(t, Options{})
	// TF32 rounds each GEMM operand to 10 mantissa bits (unit roundoff
	// 2^-11); the Hallucinator chains three such GEMMs, whose errors add up to
	// about 1.5e-3 of the output scale, so TF32 results get 2e-3.
	conformance.Run(t, b, conformance.Options{Tol: 2e-3})
	if err := b.Sync(); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	st := b.MemStats()
	t.Logf("memory: %+v", st)
}

// TestConformanceFP32 runs the suite with TF32 off, where every path is
// float32 arithmetic and the bound is tighter.
func TestConformanceFP32(t *testing.T) {
	b := gpu(t, Options{FP32: true})
	conformance.Run(t, b, conformance.Options{Tol: 1e-4})
}

// TestDeviceErrorIsSticky makes a kernel fail on the GPU (an argument the
// library rejects) and checks that Sync reports it with the op's name.
func TestDeviceErrorIsSticky(t *testing.T) {
	b, err := New(Options{})
	if err != nil {
		if os.Getenv(RequireGPUEnv) != "" {
			t.Fatal(err)
		}
		t.Skipf("no CUDA backend: %v", err)
	}
	x := b.FromHost(tensor.Ones(3, 4))
	// A pooling window larger than its input is refused by the library's
	// can_implement check; the Go check is bypassed by calling the library
	// directly with a bad argument struct.
	a := poolArgs{N: 1, C: 1, H: 3, W: 4, P: 9, Q: 9, Kh: 2, Kw: 2, StrideH: 1, StrideW: 1}
	b.check("MaxPool2d", b.h.maxpoolFwd(b.stream, b.ptr("t", "x", x), b.ptr("t", "x", x), &a), x)
	err = b.Sync()
	var ke *KernelError
	if !errors.As(err, &ke) || ke.Op != "MaxPool2d" || ke.Code != codeInvalidValue {
		t.Fatalf("Sync = %v, want an invalid-value KernelError of MaxPool2d", err)
	}
	b.Fill(1, x) // later work succeeds; the error stays
	if err2 := b.Sync(); err2 != err {
		t.Fatalf("second Sync = %v, want the first error again", err2)
	}
	if err2 := b.Close(); err2 != err {
		t.Fatalf("Close = %v, want the recorded error", err2)
	}
}

// TestGPUAllocator checks the caching allocator on the device: a released
// block is reused, the cache can be trimmed, and the counts add up.
func TestGPUAllocator(t *testing.T) {
	b := gpu(t, Options{})
	x := b.Zeros(1000, 257)
	p := x.Storage().(*Storage).Ptr()
	before := b.MemStats()
	b.Release(x)
	y := b.Zeros(1000, 257)
	if y.Storage().(*Storage).Ptr() != p {
		t.Errorf("a released block of the same class was not reused")
	}
	if got := b.MemStats(); got.Allocs != before.Allocs || got.InUse != before.InUse {
		t.Errorf("stats after reuse %+v, before %+v", got, before)
	}
	b.Release(y)
	b.TrimCache()
	if st := b.MemStats(); st.Cached != 0 {
		t.Errorf("cache holds %d bytes after TrimCache", st.Cached)
	}
	free, total, err := b.MemInfo()
	if err != nil || free == 0 || free > total {
		t.Errorf("MemInfo = %d, %d, %v", free, total, err)
	}
}

func TestTimeOnGPU(t *testing.T) {
	b := gpu(t, Options{})
	x := b.Zeros(1 << 20)
	ms, err := b.Time(func() {
		for range 10 {
			b.Scale(2, x, x)
		}
	})
	if err != nil || ms <= 0 {
		t.Fatalf("Time = %v ms, %v", ms, err)
	}
}

// TestMissingLibrary: a library path that does not exist gives an error
// that says how to build the library.
func TestMissingLibrary(t *testing.T) {
	t.Setenv(LibraryEnv, filepath.Join(t.TempDir(), "nowhere", libName))
	b, err := New(Options{})
	if err == nil {
		b.Close()
		t.Fatal("New succeeded without a library")
	}
	if !cgoAvailable {
		if !strings.Contains(err.Error(), "CGO_ENABLED=0") {
			t.Fatalf("error %q does not say cgo is off", err)
		}
		return
	}
	var le *LibraryError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "make kernels") ||
		!strings.Contains(err.Error(), "nowhere") {
		t.Fatalf("error %q: want a LibraryError naming the path and `make kernels`", err)
	}
}

// TestNotALibrary: a file that dlopen rejects is reported with dlopen's
// reason.
func TestNotALibrary(t *testing.T) {
	if !cgoAvailable {
		t.Skip("no cgo")
	}
	path := filepath.Join(t.TempDir(), libName)
	if err := os.WriteFile(path, []byte("not a shared object"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(LibraryEnv, path)
	_, err := New(Options{})
	var le *LibraryError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), path) {
		t.Fatalf("error %v: want a LibraryError naming %s", err, path)
	}
}

// TestLibraryResolves opens the library that `make kernels` built, when it
// is there: every symbol of hal.h must resolve, and without a GPU the error
// must say that no device answers (not that the library is broken).
func TestLibraryResolves(t *testing.T) {
	if !cgoAvailable {
		t.Skip("no cgo")
	}
	var found string
	for _, c := range libraryCandidates() {
		if _, err := os.Stat(c); err == nil {
			found = c
			break
		}
	}
	if found == "" {
		t.Skip("build/libhalcuda.so not built (make kernels)")
	}
	h, err := openLibrary(found)
	if err != nil {
		t.Fatalf("openLibrary(%s): %v", found, err)
	}
	if got := h.errorName(codeInvalidValue); got != "cudaErrorInvalidValue" {
		t.Errorf("errorName(1) = %q", got)
	}
	// A workspace query runs host code only.
	if ws := h.mtWorkspace(3, 10); ws != (2*10+3)*8 {
		t.Errorf("mtWorkspace(3, 10) = %d", ws)
	}
	b, err := New(Options{})
	if err == nil {
		b.Close()
		return
	}
	if !errors.Is(err, ErrNoDevice) {
		t.Fatalf("New without a GPU: %v, want ErrNoDevice", err)
	}
	t.Logf("without a GPU: %v", err)
}

// TestMTList checks the host image of a multi-tensor list: chunk starts,
// the chunk count and the bytes of the C array.
func TestMTList(t *testing.T) {
	const size = int(unsafe.Sizeof(mtTensor{}))
	l := newMTList(3)
	l.add(mtTensor{P: 0x1000, G: 0x2000, M: 0x3000, V: 0x4000, N: 2*halMTChunk + 1, Flag: 1})
	l.add(mtTensor{P: 0x5000, N: 0})
	l.add(mtTensor{P: 0x6000, N: 7})
	buf := l.bytes()
	if l.count != 3 || l.nchunks != 4 || len(buf) != 3*size {
		t.Fatalf("list count %d chunks %d bytes %d", l.count, l.nchunks, len(buf))
	}
	le := binary.LittleEndian
	e := buf[2*size:]
	if le.Uint64(e) != 0x6000 || le.Uint64(e[32:]) != 7 || le.Uint32(e[40:]) != 3 || le.Uint32(e[44:]) != 0 {
		t.Errorf("third entry encoded as % x", e[:size])
	}
	e = buf
	if le.Uint64(e[8:]) != 0x2000 || le.Uint64(e[24:]) != 0x4000 || le.Uint32(e[40:]) != 0 || le.Uint32(e[44:]) != 1 {
		t.Errorf("first entry encoded as % x", e[:size])
	}
}

// fakeBackend returns a backend over fakeHAL with capacity bytes of memory.
func fakeBackend(t *testing.T, capacity uint64) (*Backend, *fakeHAL) {
	t.Helper()
	f := newFakeHAL(capacity)
	b, err := newBackend(f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return b, f
}

// mustPanic runs f and checks that it panics with a message starting with
// "cuda: " and containing want.
func mustPanic(t *testing.T, want string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		msg, _ := r.(string)
		if r == nil || !strings.HasPrefix(msg, "cuda: ") || !strings.Contains(msg, want) {
			t.Errorf("panic %v, want a cuda message containing %q", r, want)
		}
	}()
	f()
}

func TestBadArgumentsPanic(t *testing.T) {
	b, _ := fakeBackend(t, 1<<30)
	other, _ := fakeBackend(t, 1<<30)
	x, y := b.Zeros(3, 5), b.Zeros(4, 5)
	mustPanic(t, "Relu: argument 0 has 20 elements, want 15", func() { b.Relu(x, y) })
	mustPanic(t, "Gemm: op(A) is [3 5], op(B) is [4 5]", func() { b.Gemm(false, false, 1, x, y, 0, b.Zeros(3, 5)) })
	mustPanic(t, "want a cuda tensor", func() { b.Relu(tensor.Ones(3, 5), x) })
	mustPanic(t, "belongs to another cuda backend", func() { b.Relu(other.Zeros(3, 5), x) })
	mustPanic(t, "label 7 of row 1 out of [0, 5)", func() {
		b.SoftmaxCrossEntropy(x, []int32{0, 7, 1}, b.Zeros(1), nil)
	})
	mustPanic(t, "BatchNormTrain: gamma has shape [4], want [5]", func() {
		c := b.Zeros(5)
		b.BatchNormTrain(kernels.BNParams{Eps: 1e-5}, x, b.Zeros(4), c, b.Zeros(3, 5), c, c, c, c)
	})
	mustPanic(t, "SGDStep: 1 grads for 2 params", func() {
		b.SGDStep(kernels.SGDParams{LR: 0.1}, []*tensor.Tensor{x, y}, []*tensor.Tensor{x}, nil, nil)
	})
	mustPanic(t, "InfoNCE: positive 9 of anchor 0 out of [0, 4)", func() {
		b.InfoNCE(kernels.InfoNCEParams{Temperature: 0.1, Pos: []int32{9, 0, 1}}, x, y, nil, b.Zeros(1), nil, nil)
	})
	mustPanic(t, "MaxPool2d: bad parameters", func() {
		b.MaxPool2d(kernels.PoolParams{KH: 2, KW: 2, StrideH: 1, StrideW: 1, PadH: 2}, b.Zeros(1, 1, 4, 4), b.Zeros(1, 1, 3, 3))
	})
	b.Release(x)
	mustPanic(t, "x was released", func() { b.Relu(x, x) })
	mustPanic(t, "not contiguous", func() { b.Relu(y.T(), y.T()) })
}

// TestFakeErrorIsSticky checks error recording on the Go side: the first
// failing launch is kept with its op and shapes.
func TestFakeErrorIsSticky(t *testing.T) {
	b, f := fakeBackend(t, 1<<30)
	x := b.Zeros(3, 5)
	if err := b.Sync(); err != nil {
		t.Fatalf("Sync before any error: %v", err)
	}
	f.code = codeInvalidValue
	b.Relu(x, x)
	f.code = codeOutOfMemory
	b.Fill(2, x)
	err := b.Sync()
	var ke *KernelError
	if !errors.As(err, &ke) || ke.Op != "Relu" || ke.Shapes != "[3 5] [3 5]" || ke.Code != codeInvalidValue {
		t.Fatalf("Sync = %#v, want the Relu error with its shapes", err)
	}
	if !strings.Contains(err.Error(), "Relu: invalid argument (cudaErrorInvalidValue) with [3 5] [3 5]") {
		t.Errorf("message %q", err)
	}
}

// TestFakeCopies round-trips values through the fake device, with views at
// an offset.
func TestFakeCopies(t *testing.T) {
	b, _ := fakeBackend(t, 1<<30)
	rng := tensor.NewRand(3)
	h := tensor.RandN(rng, 0, 1, 7, 13)
	d := b.FromHost(h)
	back := b.ToHost(d)
	if !equal(back.Data(), h.Data()) {
		t.Fatal("FromHost/ToHost round trip changed values")
	}
	rows := b.ToHost(d.Rows(2, 5))
	if !equal(rows.Data(), h.Data()[2*13:5*13]) {
		t.Fatal("ToHost of a row view does not start at its offset")
	}
	z := b.ToHost(b.Zeros(3, 3))
	for _, v := range z.Data() {
		if v != 0 {
			t.Fatal("Zeros is not zero")
		}
	}
}

func equal(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestFakeUploads checks what goes up to the device for labels and for a
// multi-tensor optimiser step.
func TestFakeUploads(t *testing.T) {
	b, f := fakeBackend(t, 1<<30)
	logits := b.Zeros(3, 5)
	b.SoftmaxCrossEntropy(logits, []int32{4, 0, 2}, b.Zeros(1), nil)
	last := f.uploads[len(f.uploads)-1]
	want := []byte{4, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0}
	if string(last) != string(want) {
		t.Errorf("labels uploaded as % x, want % x", last, want)
	}

	ps := []*tensor.Tensor{b.Zeros(2*halMTChunk + 5), b.Zeros(0), b.Zeros(10)}
	gs := []*tensor.Tensor{b.Zeros(2*halMTChunk + 5), b.Zeros(0), b.Zeros(10)}
	bufs := []*tensor.Tensor{b.Zeros(2*halMTChunk + 5), b.Zeros(0), b.Zeros(10)}
	b.SGDStep(kernels.SGDParams{LR: 0.1, Momentum: 0.9}, ps, gs, bufs, []bool{true, false, false})
	if got := f.launches[len(f.launches)-1]; got != "sgd 3 4" {
		t.Fatalf("launch %q, want sgd over 3 entries and 4 chunks", got)
	}
	list := f.uploads[len(f.uploads)-1]
	le := binary.LittleEndian
	size := int(unsafe.Sizeof(mtTensor{}))
	for i := range ps {
		e := list[i*size:]
		if dptr(le.Uint64(e)) != ps[i].Storage().(*Storage).Ptr() ||
			dptr(le.Uint64(e[8:])) != gs[i].Storage().(*Storage).Ptr() ||
			dptr(le.Uint64(e[16:])) != bufs[i].Storage().(*Storage).Ptr() ||
			int(le.Uint64(e[32:])) != ps[i].Numel() {
			t.Errorf("entry %d encoded as % x", i, e[:size])
		}
	}
	if le.Uint32(list[40:]) != 0 || le.Uint32(list[size+40:]) != 3 || le.Uint32(list[2*size+40:]) != 3 {
		t.Errorf("chunk starts wrong: % x", list)
	}
	if le.Uint32(list[44:]) != 1 || le.Uint32(list[size+44:]) != 0 {
		t.Errorf("weight-decay flags wrong: % x", list)
	}
}

func TestFakeTime(t *testing.T) {
	b, _ := fakeBackend(t, 1<<30)
	ran := false
	ms, err := b.Time(func() { ran = true })
	if !ran || ms != 1.5 || err != nil {
		t.Fatalf("Time = %v, %v (ran %v)", ms, err, ran)
	}
}

func TestNoDeviceErrors(t *testing.T) {
	f := newFakeHAL(1 << 20)
	_, err := newBackend(f, Options{Device: 3})
	if !errors.Is(err, ErrNoDevice) || !strings.Contains(err.Error(), "device 3 requested, 1 present") {
		t.Fatalf("newBackend(device 3) = %v", err)
	}
}
