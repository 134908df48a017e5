package cuda

import (
	"hallucinator/kernels"
	"hallucinator/tensor"
)

// GatherRows: y[r] = x[idx[r]], x seen as [M, D], y as [len(idx), D]: one
// launch, the indices uploaded with it.
func (b *Backend) GatherRows(x *tensor.Tensor, idx []int32, y *tensor.Tensor) {
	const op = "GatherRows"
	d, _ := kernels.CheckRows(name, op, x, idx, y, false)
	px, py := b.ptr(op, "x", x), b.ptr(op, "y", y)
	if d == 0 || len(idx) == 0 {
		return
	}
	b.bind()
	pi := b.upload(op, int32Bytes(nil, idx))
	b.check(op, b.h.gatherRows(b.stream, px, pi, py, int64(len(idx)), int64(d)), x, y)
}

// ScatterAddRows: y[idx[r]] += x[r] in the order of r, x seen as
// [len(idx), D], y as [M, D]. The rows of x are sorted by destination on the
// host (stably), so that the kernel adds each row's sources in order with one
// thread per element of y: no atomics, the reference's bits.
func (b *Backend) ScatterAddRows(x *tensor.Tensor, idx []int32, y *tensor.Tensor) {
	const op = "ScatterAddRows"
	d, m := kernels.CheckRows(name, op, x, idx, y, true)
	px, py := b.ptr(op, "x", x), b.ptr(op, "y", y)
	if d == 0 || len(idx) == 0 {
		return
	}
	order, start := kernels.RowsByDestination(idx, m)
	buf := int32Bytes(nil, order)
	startAt := len(buf)
	buf = int32Bytes(buf, start)
	b.bind()
	po := b.upload(op, buf)
	b.check(op, b.h.scatterAddRows(b.stream, px, po, po+dptr(startAt), py, int64(m), int64(d)), x, y)
}
