package cuda

import (
	"encoding/binary"
	"math"
	"unsafe"

	"hallucinator/kernels"
	"hallucinator/tensor"
)

// newTensor returns an uninitialised device tensor; allocation failure
// (out of memory even after freeing the cache) panics.
func (b *Backend) newTensor(shape ...int) *tensor.Tensor {
	for _, d := range shape {
		if d < 0 {
			kernels.Panicf(name, "negative dimension in shape %v", shape)
		}
	}
	b.bind()
	s, err := b.alloc.newStorage(tensor.Numel(shape))
	if err != nil {
		panic(err.Error())
	}
	return tensor.New(s, 0, shape...)
}

// ptr returns the device address of t's first element, panicking unless t
// is a contiguous tensor of this backend.
func (b *Backend) ptr(op, arg string, t *tensor.Tensor) dptr {
	if t == nil {
		kernels.Panicf(name, "%s: %s is nil", op, arg)
	}
	s, ok := t.Storage().(*Storage)
	if !ok {
		kernels.Panicf(name, "%s: %s is a %v tensor, want a cuda tensor", op, arg, t.Kind())
	}
	if s.alloc != b.alloc {
		kernels.Panicf(name, "%s: %s belongs to another cuda backend", op, arg)
	}
	if s.blk == nil {
		kernels.Panicf(name, "%s: %s was released", op, arg)
	}
	if !t.IsContiguous() {
		kernels.Panicf(name, "%s: %s is not contiguous (shape %v, strides %v)", op, arg, t.Shape(), t.Strides())
	}
	return s.blk.ptr + uintptr(t.Offset())*4
}

// optPtr is ptr for optional arguments: 0 for nil.
func (b *Backend) optPtr(op, arg string, t *tensor.Tensor) dptr {
	if t == nil {
		return 0
	}
	return b.ptr(op, arg, t)
}

// scratch is a temporary device block for one call's workspace. The caller
// returns it with done after queuing the launches that use it: later reuse
// of the block is ordered after them on the stream.
type scratch struct {
	b   *Backend
	blk *block
}

func (b *Backend) scratch(bytes uint64) scratch {
	if bytes == 0 {
		return scratch{b: b}
	}
	blk, err := b.alloc.get(bytes)
	if err != nil {
		panic(err.Error())
	}
	return scratch{b: b, blk: blk}
}

func (s scratch) ptr() dptr {
	if s.blk == nil {
		return 0
	}
	return s.blk.ptr
}

func (s scratch) done() {
	if s.blk != nil {
		s.b.alloc.put(s.blk)
	}
}

// upload copies host bytes to the backend's staging buffer and returns its
// device address. The buffer is reused by the next upload, which the
// stream orders after the launches of this call.
func (b *Backend) upload(op string, data []byte) dptr {
	if len(data) == 0 {
		return 0
	}
	need := uint64(len(data))
	if b.staging == nil || b.staging.bytes < need {
		if b.staging != nil {
			b.alloc.put(b.staging)
			b.staging = nil
		}
		blk, err := b.alloc.get(max(need, 64<<10))
		if err != nil {
			panic(err.Error())
		}
		b.staging = blk
	}
	b.check(op, b.h.memcpyH2D(b.stream, b.staging.ptr, unsafe.Pointer(&data[0]), need))
	return b.staging.ptr
}

// int32Bytes appends the little-endian bytes of v to dst, padded to 16
// bytes so that arrays packed one after another stay aligned.
func int32Bytes(dst []byte, v []int32) []byte {
	for _, x := range v {
		dst = binary.LittleEndian.AppendUint32(dst, uint32(x))
	}
	for len(dst)%16 != 0 {
		dst = append(dst, 0)
	}
	return dst
}

// Zeros returns a new zero tensor on the device.
func (b *Backend) Zeros(shape ...int) *tensor.Tensor {
	t := b.newTensor(shape...)
	if n := t.Numel(); n > 0 {
		b.check("Zeros", b.h.memset(b.stream, b.ptr("Zeros", "t", t), 0, uint64(n)*4), t)
	}
	return t
}

// FromHost returns a device copy of a host tensor.
func (b *Backend) FromHost(t *tensor.Tensor) *tensor.Tensor {
	if t == nil || t.Kind() != tensor.Host {
		kernels.Panicf(name, "FromHost: want a host tensor")
	}
	src := t.Contiguous().Data()
	d := b.newTensor(t.Shape()...)
	if len(src) > 0 {
		b.check("FromHost", b.h.memcpyH2D(b.stream, b.ptr("FromHost", "t", d), unsafe.Pointer(&src[0]),
			uint64(len(src))*4), d)
	}
	return d
}

// ToHost returns a host copy of a device tensor; it waits for the queued
// work that produces it. After a device error the copy holds NaNs and Sync
// returns the error.
func (b *Backend) ToHost(t *tensor.Tensor) *tensor.Tensor {
	p := b.ptr("ToHost", "t", t)
	out := tensor.Zeros(t.Shape()...)
	dst := out.Data()
	if len(dst) == 0 {
		return out
	}
	b.bind()
	if code := b.h.memcpyD2H(b.stream, unsafe.Pointer(&dst[0]), p, uint64(len(dst))*4); code != codeSuccess {
		b.record("ToHost", code, []*tensor.Tensor{t})
		nan := float32(math.NaN())
		for i := range dst {
			dst[i] = nan
		}
	}
	return out
}

// Copy copies src into dst (same number of elements, device tensors).
func (b *Backend) Copy(src, dst *tensor.Tensor) {
	const op = "Copy"
	s, d := b.ptr(op, "src", src), b.ptr(op, "dst", dst)
	kernels.CheckSameNumel(name, op, src.Numel(), dst)
	b.check(op, b.h.copy(b.stream, s, d, int64(src.Numel())), src, dst)
}

// Fill sets every element of dst to v.
func (b *Backend) Fill(v float32, dst *tensor.Tensor) {
	d := b.ptr("Fill", "dst", dst)
	b.check("Fill", b.h.fill(b.stream, d, int64(dst.Numel()), v), dst)
}
