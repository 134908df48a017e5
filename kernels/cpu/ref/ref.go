// Package ref is the plain-Go reference implementation of kernels.Backend:
// single-threaded loops over host tensors that follow each method's comment
// literally, accumulating in float64 where that helps. It is slow and
// obviously right; every other backend is tested against it (see
// kernels/conformance) and may embed *Backend to inherit the methods it does
// not accelerate.
package ref

import (
	"hallucinator/kernels"
	"hallucinator/tensor"
)

// name prefixes every panic message of this package.
const name = "ref"

// Backend is the reference backend. It holds no state; the zero value is
// ready to use and one value may be shared by any number of goroutines.
type Backend struct{}

// New returns the reference backend.
func New() *Backend { return &Backend{} }

// Name returns "ref".
func (*Backend) Name() string { return name }

// Kind returns tensor.Host.
func (*Backend) Kind() tensor.DeviceKind { return tensor.Host }

// Caps describes the host: no accelerator, deterministic, full float32.
func (*Backend) Caps() kernels.Caps { return kernels.Caps{Deterministic: true} }

// Close does nothing: the reference backend holds no resources.
func (*Backend) Close() error { return nil }

// host returns the elements of a contiguous host tensor, panicking with a
// package-prefixed message for nil, device or non-contiguous tensors.
func host(op, arg string, t *tensor.Tensor) []float32 {
	if t == nil {
		kernels.Panicf(name, "%s: %s is nil", op, arg)
	}
	if t.Kind() != tensor.Host {
		kernels.Panicf(name, "%s: %s is a %v tensor, want a host tensor", op, arg, t.Kind())
	}
	if !t.IsContiguous() {
		kernels.Panicf(name, "%s: %s is not contiguous (shape %v, strides %v)", op, arg, t.Shape(), t.Strides())
	}
	return t.Data()
}

// dims panics unless t has n dimensions.
func dims(op, arg string, t *tensor.Tensor, n int) {
	if t == nil {
		kernels.Panicf(name, "%s: %s is nil", op, arg)
	}
	if t.Dims() != n {
		kernels.Panicf(name, "%s: %s has shape %v, want %d dimensions", op, arg, t.Shape(), n)
	}
}

// Zeros returns a new host tensor of zeros.
func (*Backend) Zeros(shape ...int) *tensor.Tensor { return tensor.Zeros(shape...) }

// FromHost returns a contiguous copy of a host tensor.
func (*Backend) FromHost(t *tensor.Tensor) *tensor.Tensor {
	if t == nil || t.Kind() != tensor.Host {
		kernels.Panicf(name, "FromHost: want a host tensor")
	}
	return t.Clone()
}

// ToHost returns a contiguous copy of a host tensor.
func (*Backend) ToHost(t *tensor.Tensor) *tensor.Tensor {
	if t == nil || t.Kind() != tensor.Host {
		kernels.Panicf(name, "ToHost: want a host tensor")
	}
	return t.Clone()
}

// Copy copies src into dst; they must have the same number of elements.
func (*Backend) Copy(src, dst *tensor.Tensor) {
	s, d := host("Copy", "src", src), host("Copy", "dst", dst)
	kernels.CheckSameNumel(name, "Copy", len(s), dst)
	copy(d, s)
}

// Fill sets every element of dst to v.
func (*Backend) Fill(v float32, dst *tensor.Tensor) {
	d := host("Fill", "dst", dst)
	for i := range d {
		d[i] = v
	}
}

// Sync returns nil: the reference backend runs synchronously.
func (*Backend) Sync() error { return nil }

// Backend implements kernels.Backend and every capability.
var _ kernels.Full = (*Backend)(nil)
