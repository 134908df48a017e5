// Package cuda is the CUDA backend: a kernels.Backend whose tensors live in
// GPU memory and whose methods launch the hand-written kernels of
// libhalcuda.so (built from kernels/cuda/src by `make kernels`). The library
// is opened with dlopen at run time, so a plain `go build` needs no CUDA;
// New reports a clear error when the library or a GPU is missing.
//
// Work goes on one stream per Backend; device memory comes from a caching
// allocator. Methods of kernels.Backend cannot return errors: the first
// device error is recorded with the kernel's name and shapes and returned by
// Sync. A Backend is not safe for concurrent use.
//
// On Hopper GPUs (compute capability 9.0) the large TF32 GEMMs and the
// forward and backward-data convolutions run on warpgroup (wgmma) kernels
// that the driver compiles from PTX embedded in the library, once per
// process; elsewhere, and with the environment variable HAL_WGMMA=0, they
// run on the mma.sync kernels. HAL_WGMMA=force uses the wgmma kernels for
// every size.
package cuda

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"hallucinator/kernels"
	"hallucinator/tensor"
)

// name prefixes every panic message of this package.
const name = "cuda"

// Options configures New.
type Options struct {
	// Device is the CUDA device ordinal.
	Device int
	// FP32 turns TF32 tensor-core arithmetic off for GEMM, convolution and
	// the Hallucinator's MLP, so that they multiply in full float32 (TF32,
	// the default, rounds the inputs of each product to 10 mantissa bits;
	// the wgmma kernels truncate their shared-memory operand instead).
	FP32 bool
}

// DeviceInfo describes the GPU a Backend runs on.
type DeviceInfo struct {
	Ordinal        int
	Name           string
	Major, Minor   int // compute capability
	SMs            int
	TotalMemory    uint64
	DriverVersion  int // CUDA driver API version, e.g. 13000
	RuntimeVersion int // version of the CUDA runtime linked into the library
	Library        string
}

func (d DeviceInfo) String() string {
	return fmt.Sprintf("%s (device %d, sm_%d%d, %d SMs, %.1f GiB, driver %d.%d, runtime %d.%d)", d.Name, d.Ordinal,
		d.Major, d.Minor, d.SMs, float64(d.TotalMemory)/(1<<30), d.DriverVersion/1000, d.DriverVersion%1000/10,
		d.RuntimeVersion/1000, d.RuntimeVersion%1000/10)
}

// Backend is the CUDA backend. Make one with New; Close it when done.
type Backend struct {
	h      hal
	dev    int
	tf32   bool
	info   DeviceInfo
	stream uintptr
	start  uintptr // events for Time
	end    uintptr
	alloc  *allocator

	// staging is a device buffer, reused by every call, for the small
	// host-side arguments (int32 index arrays, multi-tensor lists) that a
	// kernel reads: one upload per call, ordered on the stream before the
	// launch that reads it and after the launches that read it before.
	staging *block

	errMu sync.Mutex
	err   error // the first device error (sticky)

	closed bool
}

// New loads the kernel library, checks that a GPU answers and returns a
// backend on o.Device. The error says what is missing and how to fix it.
func New(o Options) (*Backend, error) {
	h, path, err := loadLibrary()
	if err != nil {
		return nil, err
	}
	b, err := newBackend(h, o)
	if err != nil {
		return nil, err
	}
	b.info.Library = path
	return b, nil
}

// newBackend sets up a backend over a loaded library.
func newBackend(h hal, o Options) (*Backend, error) {
	var n int32
	if code := h.deviceCount(&n); code != codeSuccess {
		name, msg := errorText(h, code)
		return nil, fmt.Errorf("%w: the CUDA driver does not answer (%s: %s); is an NVIDIA GPU with its driver "+
			"installed?", ErrNoDevice, name, msg)
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: the driver reports no devices", ErrNoDevice)
	}
	if o.Device < 0 || o.Device >= int(n) {
		return nil, fmt.Errorf("%w: device %d requested, %d present", ErrNoDevice, o.Device, n)
	}
	if code := h.init(o.Device); code != codeSuccess {
		name, msg := errorText(h, code)
		return nil, fmt.Errorf("%w: cannot initialise device %d: %s: %s", ErrNoDevice, o.Device, name, msg)
	}
	var p deviceProps
	if code := h.devicePropsGet(o.Device, &p); code != codeSuccess {
		_, msg := errorText(h, code)
		return nil, fmt.Errorf("cuda: device %d properties: %s", o.Device, msg)
	}
	if p.Major < 8 {
		return nil, fmt.Errorf("%w: %s has compute capability %d.%d; the kernels need 8.0 or later (Ampere)",
			ErrNoDevice, p.name(), p.Major, p.Minor)
	}
	var drv, rt int32
	h.driverVersion(&drv)
	h.runtimeVersion(&rt)
	b := &Backend{
		h: h, dev: o.Device, tf32: !o.FP32,
		info: DeviceInfo{Ordinal: o.Device, Name: p.name(), Major: int(p.Major), Minor: int(p.Minor),
			SMs: int(p.SMCount), TotalMemory: p.TotalMem, DriverVersion: int(drv), RuntimeVersion: int(rt)},
		alloc: newAllocator(h),
	}
	var err error
	if code := h.streamCreate(&b.stream); code != codeSuccess {
		_, msg := errorText(h, code)
		err = fmt.Errorf("cuda: creating a stream: %s", msg)
	} else if code := h.eventCreate(&b.start); code != codeSuccess {
		_, msg := errorText(h, code)
		err = fmt.Errorf("cuda: creating an event: %s", msg)
	} else if code := h.eventCreate(&b.end); code != codeSuccess {
		_, msg := errorText(h, code)
		err = fmt.Errorf("cuda: creating an event: %s", msg)
	}
	if err != nil {
		b.destroy()
		return nil, err
	}
	return b, nil
}

// destroy releases the stream, events and cached memory.
func (b *Backend) destroy() {
	if b.staging != nil {
		b.alloc.put(b.staging)
		b.staging = nil
	}
	b.alloc.close()
	if b.end != 0 {
		b.h.eventDestroy(b.end)
	}
	if b.start != 0 {
		b.h.eventDestroy(b.start)
	}
	if b.stream != 0 {
		b.h.streamDestroy(b.stream)
	}
	b.start, b.end, b.stream = 0, 0, 0
}

// Close waits for queued work, frees the allocator's cache and the stream,
// and returns the first device error, if any. Tensors still alive keep
// their memory until they are released or collected; the backend must not
// be used afterwards.
func (b *Backend) Close() error {
	if b.closed {
		return nil
	}
	err := b.Sync()
	b.destroy()
	b.closed = true
	return err
}

// Name returns "cuda".
func (b *Backend) Name() string { return name }

// Kind returns tensor.CUDA.
func (b *Backend) Kind() tensor.DeviceKind { return tensor.CUDA }

// Info describes the device.
func (b *Backend) Info() DeviceInfo { return b.info }

// TF32 reports whether GEMM, convolution and the Hallucinator use TF32
// tensor cores.
func (b *Backend) TF32() bool { return b.tf32 }

// MemStats returns the allocator's figures.
func (b *Backend) MemStats() MemStats { return b.alloc.stats() }

// MemInfo returns the free and total device memory as the driver sees it.
func (b *Backend) MemInfo() (free, total uint64, err error) {
	b.bind()
	if code := b.h.memInfo(&free, &total); code != codeSuccess {
		return 0, 0, b.codeErr("MemInfo", code)
	}
	return free, total, nil
}

// TrimCache returns every cached block to the driver.
func (b *Backend) TrimCache() { b.bind(); b.alloc.trim() }

// Release returns the memory of t's storage to the allocator now instead of
// when the garbage collector finds it unreachable. t and every view of the
// same storage must not be used afterwards. Host tensors and nil are
// ignored.
func (b *Backend) Release(t *tensor.Tensor) {
	if t == nil {
		return
	}
	s, ok := t.Storage().(*Storage)
	if !ok {
		return
	}
	if s.alloc != b.alloc {
		kernels.Panicf(name, "Release: tensor %v belongs to another backend", t.Shape())
	}
	s.release()
}

// Sync waits for queued work and returns the first device error, if any.
// Errors are sticky: once one is recorded every later Sync returns it.
func (b *Backend) Sync() error {
	if b.closed {
		return errors.New("cuda: Sync after Close")
	}
	b.bind()
	if code := b.h.streamSync(b.stream); code != codeSuccess {
		b.record("Sync", code, nil)
	}
	b.errMu.Lock()
	defer b.errMu.Unlock()
	return b.err
}

// Time runs f, which queues work on this backend, and returns the device
// time between its first and last queued operation in milliseconds (it
// waits for the work to finish), with any device error.
func (b *Backend) Time(f func()) (float64, error) {
	b.bind()
	if code := b.h.eventRecord(b.start, b.stream); code != codeSuccess {
		return 0, b.codeErr("Time", code)
	}
	f()
	if code := b.h.eventRecord(b.end, b.stream); code != codeSuccess {
		return 0, b.codeErr("Time", code)
	}
	var ms float32
	if code := b.h.eventElapsed(&ms, b.start, b.end); code != codeSuccess {
		return 0, b.codeErr("Time", code)
	}
	if err := b.Sync(); err != nil {
		return 0, err
	}
	return float64(ms), nil
}

// KernelError is a device error recorded by a method of the backend.
type KernelError struct {
	Op     string // the Backend method
	Shapes string // the shapes of its tensor arguments
	Code   int    // the cudaError_t code
	Name   string // e.g. cudaErrorInvalidValue
	Msg    string // the runtime's description
}

func (e *KernelError) Error() string {
	s := fmt.Sprintf("cuda: %s: %s (%s)", e.Op, e.Msg, e.Name)
	if e.Shapes != "" {
		s += " with " + e.Shapes
	}
	return s
}

func (b *Backend) codeErr(op string, code int) error {
	name, msg := errorText(b.h, code)
	return &KernelError{Op: op, Code: code, Name: name, Msg: msg}
}

// record keeps the first device error, naming the op and its arguments'
// shapes.
func (b *Backend) record(op string, code int, ts []*tensor.Tensor) {
	b.errMu.Lock()
	defer b.errMu.Unlock()
	if b.err != nil {
		return
	}
	e := b.codeErr(op, code).(*KernelError)
	var sh []string
	for _, t := range ts {
		if t != nil {
			sh = append(sh, fmt.Sprint(t.Shape()))
		}
	}
	e.Shapes = strings.Join(sh, " ")
	b.err = e
}

// check records a non-zero code returned by op. Passing the tensors also
// keeps them (and their device memory) alive until the launch is queued.
func (b *Backend) check(op string, code int, ts ...*tensor.Tensor) {
	if code != codeSuccess {
		b.record(op, code, ts)
	}
}

// bind makes the backend's device current on this thread when it is not
// device 0 (goroutines move between threads; device 0 is every thread's
// default).
func (b *Backend) bind() {
	if b.dev != 0 {
		if code := b.h.setDevice(b.dev); code != codeSuccess {
			b.record("SetDevice", code, nil)
		}
	}
}

// Backend implements kernels.Backend and every capability.
var _ kernels.Full = (*Backend)(nil)
