// Package tensor is the float32 tensor of the engine: a shape, row-major strides
// and an offset into a Storage that lives on a Device. It knows nothing of how
// arithmetic is done; that is the job of a kernels.Backend.
package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
)

// DeviceKind says where a storage's memory lives.
type DeviceKind int

const (
	// Host is ordinary Go memory.
	Host DeviceKind = iota
	// CUDA is memory on an NVIDIA GPU.
	CUDA
)

func (k DeviceKind) String() string {
	switch k {
	case Host:
		return "cpu"
	case CUDA:
		return "cuda"
	}
	return fmt.Sprintf("DeviceKind(%d)", int(k))
}

// Storage is a flat array of float32 values on some device. Host storage is a
// *HostStorage; device storages are implemented by the backends that own them.
type Storage interface {
	// Kind says which device the memory is on.
	Kind() DeviceKind
	// Len is the number of float32 elements.
	Len() int
}

// HostStorage is storage in Go memory.
type HostStorage struct {
	Data []float32
}

// Kind returns Host.
func (s *HostStorage) Kind() DeviceKind { return Host }

// Len returns len(s.Data).
func (s *HostStorage) Len() int { return len(s.Data) }

// Tensor is an n-dimensional view of a Storage. Tensors made by this package
// are contiguous and row-major; views keep the storage and change the shape,
// strides or offset.
type Tensor struct {
	shape   []int
	strides []int
	offset  int
	storage Storage
}

// Numel is the number of elements of a shape (1 for a scalar shape).
func Numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

func checkShape(shape []int) {
	for _, d := range shape {
		if d < 0 {
			panic(fmt.Sprintf("tensor: negative dimension in shape %v", shape))
		}
	}
}

func rowMajor(shape []int) []int {
	st := make([]int, len(shape))
	s := 1
	for i := len(shape) - 1; i >= 0; i-- {
		st[i] = s
		s *= shape[i]
	}
	return st
}

// New returns a contiguous tensor of the given shape over a storage whose
// length is at least offset+Numel(shape).
func New(s Storage, offset int, shape ...int) *Tensor {
	checkShape(shape)
	n := Numel(shape)
	if offset < 0 || offset+n > s.Len() {
		panic(fmt.Sprintf("tensor: shape %v at offset %d does not fit a storage of %d elements", shape, offset, s.Len()))
	}
	sh := append([]int(nil), shape...)
	return &Tensor{shape: sh, strides: rowMajor(sh), offset: offset, storage: s}
}

// Zeros returns a host tensor of zeros.
func Zeros(shape ...int) *Tensor {
	checkShape(shape)
	return New(&HostStorage{Data: make([]float32, Numel(shape))}, 0, shape...)
}

// Full returns a host tensor filled with v.
func Full(v float32, shape ...int) *Tensor {
	t := Zeros(shape...)
	d := t.Data()
	for i := range d {
		d[i] = v
	}
	return t
}

// Ones returns a host tensor of ones.
func Ones(shape ...int) *Tensor { return Full(1, shape...) }

// FromSlice returns a host tensor that uses data as its storage (no copy).
// It panics if len(data) is not the number of elements of shape.
func FromSlice(data []float32, shape ...int) *Tensor {
	checkShape(shape)
	if len(data) != Numel(shape) {
		panic(fmt.Sprintf("tensor: %d values for shape %v", len(data), shape))
	}
	return New(&HostStorage{Data: data}, 0, shape...)
}

// RandN returns a host tensor of normal samples with the given mean and
// standard deviation, drawn from rng.
func RandN(rng *rand.Rand, mean, std float32, shape ...int) *Tensor {
	t := Zeros(shape...)
	d := t.Data()
	for i := range d {
		d[i] = mean + std*float32(rng.NormFloat64())
	}
	return t
}

// RandU returns a host tensor of samples uniform in [lo, hi), drawn from rng.
func RandU(rng *rand.Rand, lo, hi float32, shape ...int) *Tensor {
	t := Zeros(shape...)
	d := t.Data()
	for i := range d {
		d[i] = lo + (hi-lo)*rng.Float32()
	}
	return t
}

// NewRand returns a seeded random source (PCG) for the Rand* constructors.
func NewRand(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// Shape returns the dimensions (do not modify).
func (t *Tensor) Shape() []int { return t.shape }

// Strides returns the strides in elements (do not modify).
func (t *Tensor) Strides() []int { return t.strides }

// Offset returns the offset of the first element in the storage.
func (t *Tensor) Offset() int { return t.offset }

// Storage returns the underlying storage.
func (t *Tensor) Storage() Storage { return t.storage }

// Kind returns the device kind of the storage.
func (t *Tensor) Kind() DeviceKind { return t.storage.Kind() }

// Dims returns the number of dimensions.
func (t *Tensor) Dims() int { return len(t.shape) }

// Dim returns dimension i; negative i counts from the end.
func (t *Tensor) Dim(i int) int {
	if i < 0 {
		i += len(t.shape)
	}
	return t.shape[i]
}

// Numel returns the number of elements.
func (t *Tensor) Numel() int { return Numel(t.shape) }

// IsContiguous reports whether the view is row-major without gaps.
func (t *Tensor) IsContiguous() bool {
	s := 1
	for i := len(t.shape) - 1; i >= 0; i-- {
		if t.shape[i] != 1 && t.strides[i] != s {
			return false
		}
		s *= t.shape[i]
	}
	return true
}

// SameShape reports whether two tensors have equal shapes.
func (t *Tensor) SameShape(u *Tensor) bool { return EqualShape(t.shape, u.shape) }

// EqualShape reports whether two shapes are equal.
func EqualShape(a, b []int) bool {
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

// Data returns the elements of a contiguous host tensor as a slice that
// aliases its storage. It panics for device tensors and non-contiguous views.
func (t *Tensor) Data() []float32 {
	hs, ok := t.storage.(*HostStorage)
	if !ok {
		panic(fmt.Sprintf("tensor: Data of a %v tensor; copy it to the host first", t.storage.Kind()))
	}
	if !t.IsContiguous() {
		panic("tensor: Data of a non-contiguous view; call Contiguous first")
	}
	return hs.Data[t.offset : t.offset+t.Numel() : t.offset+t.Numel()]
}

// Reshape returns a view with a new shape and the same elements. One
// dimension may be -1 and is inferred. The tensor must be contiguous.
func (t *Tensor) Reshape(shape ...int) *Tensor {
	if !t.IsContiguous() {
		panic("tensor: Reshape of a non-contiguous view; call Contiguous first")
	}
	sh := append([]int(nil), shape...)
	infer := -1
	n := 1
	for i, d := range sh {
		switch {
		case d == -1 && infer < 0:
			infer = i
		case d < 0:
			panic(fmt.Sprintf("tensor: bad shape %v in Reshape", shape))
		default:
			n *= d
		}
	}
	if infer >= 0 {
		if n == 0 || t.Numel()%n != 0 {
			panic(fmt.Sprintf("tensor: cannot reshape %v to %v", t.shape, shape))
		}
		sh[infer] = t.Numel() / n
		n *= sh[infer]
	}
	if n != t.Numel() {
		panic(fmt.Sprintf("tensor: cannot reshape %v to %v", t.shape, shape))
	}
	return &Tensor{shape: sh, strides: rowMajor(sh), offset: t.offset, storage: t.storage}
}

// Rows returns the contiguous view of rows [lo, hi) along the first dimension.
func (t *Tensor) Rows(lo, hi int) *Tensor {
	if !t.IsContiguous() || len(t.shape) == 0 {
		panic("tensor: Rows needs a contiguous tensor of at least one dimension")
	}
	if lo < 0 || hi > t.shape[0] || lo > hi {
		panic(fmt.Sprintf("tensor: Rows(%d, %d) of shape %v", lo, hi, t.shape))
	}
	sh := append([]int(nil), t.shape...)
	sh[0] = hi - lo
	return &Tensor{shape: sh, strides: rowMajor(sh), offset: t.offset + lo*t.strides[0], storage: t.storage}
}

// T returns the transposed view of a 2-D tensor (not contiguous).
func (t *Tensor) T() *Tensor {
	if len(t.shape) != 2 {
		panic(fmt.Sprintf("tensor: T of a %d-D tensor", len(t.shape)))
	}
	return &Tensor{
		shape:   []int{t.shape[1], t.shape[0]},
		strides: []int{t.strides[1], t.strides[0]},
		offset:  t.offset, storage: t.storage,
	}
}

// Permute returns a view with the dimensions reordered: dimension i of the
// result is dimension perm[i] of t.
func (t *Tensor) Permute(perm ...int) *Tensor {
	if len(perm) != len(t.shape) {
		panic(fmt.Sprintf("tensor: Permute%v of shape %v", perm, t.shape))
	}
	seen := make([]bool, len(perm))
	sh := make([]int, len(perm))
	st := make([]int, len(perm))
	for i, p := range perm {
		if p < 0 || p >= len(perm) || seen[p] {
			panic(fmt.Sprintf("tensor: bad permutation %v", perm))
		}
		seen[p] = true
		sh[i], st[i] = t.shape[p], t.strides[p]
	}
	return &Tensor{shape: sh, strides: st, offset: t.offset, storage: t.storage}
}

// index returns the storage index of a multi-index.
func (t *Tensor) index(idx []int) int {
	if len(idx) != len(t.shape) {
		panic(fmt.Sprintf("tensor: %d indices for shape %v", len(idx), t.shape))
	}
	off := t.offset
	for i, x := range idx {
		if x < 0 || x >= t.shape[i] {
			panic(fmt.Sprintf("tensor: index %v out of range for shape %v", idx, t.shape))
		}
		off += x * t.strides[i]
	}
	return off
}

func (t *Tensor) hostData() []float32 {
	hs, ok := t.storage.(*HostStorage)
	if !ok {
		panic(fmt.Sprintf("tensor: element access of a %v tensor; copy it to the host first", t.storage.Kind()))
	}
	return hs.Data
}

// At returns the element at a multi-index of a host tensor.
func (t *Tensor) At(idx ...int) float32 { return t.hostData()[t.index(idx)] }

// Set sets the element at a multi-index of a host tensor.
func (t *Tensor) Set(v float32, idx ...int) { t.hostData()[t.index(idx)] = v }

// Contiguous returns t if it is contiguous, else a contiguous host copy.
func (t *Tensor) Contiguous() *Tensor {
	if t.IsContiguous() {
		return t
	}
	src := t.hostData()
	out := Zeros(t.shape...)
	dst := out.Data()
	idx := make([]int, len(t.shape))
	for i := range dst {
		off := t.offset
		for d, x := range idx {
			off += x * t.strides[d]
		}
		dst[i] = src[off]
		for d := len(idx) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < t.shape[d] {
				break
			}
			idx[d] = 0
		}
	}
	return out
}

// Clone returns a contiguous host copy that shares nothing with t.
func (t *Tensor) Clone() *Tensor {
	c := t.Contiguous()
	out := Zeros(t.shape...)
	copy(out.Data(), c.Data())
	return out
}

// HasNaN reports whether a host tensor holds a NaN or an infinity.
func (t *Tensor) HasNaN() bool {
	for _, v := range t.Contiguous().Data() {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return true
		}
	}
	return false
}

// String prints the shape, and the values of host tensors of up to 64
// elements.
func (t *Tensor) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Tensor%v(%v)", t.shape, t.storage.Kind())
	if t.storage.Kind() != Host || t.Numel() > 64 {
		return b.String()
	}
	c := t.Contiguous().Data()
	b.WriteString(" ")
	var rec func(dim, off int)
	rec = func(dim, off int) {
		if dim == len(t.shape) {
			fmt.Fprintf(&b, "%.4g", c[off])
			return
		}
		b.WriteString("[")
		inner := Numel(t.shape[dim+1:])
		for i := 0; i < t.shape[dim]; i++ {
			if i > 0 {
				b.WriteString(" ")
			}
			rec(dim+1, off+i*inner)
		}
		b.WriteString("]")
	}
	rec(0, 0)
	return b.String()
}
