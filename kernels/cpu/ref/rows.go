package ref

import (
	"hallucinator/kernels"
	"hallucinator/tensor"
)

// GatherRows: y[r] = x[idx[r]], x seen as [M, D], y as [len(idx), D].
func (*Backend) GatherRows(x *tensor.Tensor, idx []int32, y *tensor.Tensor) {
	const op = "GatherRows"
	d, _ := kernels.CheckRows(name, op, x, idx, y, false)
	xs, ys := host(op, "x", x), host(op, "y", y)
	for r, i := range idx {
		copy(ys[r*d:(r+1)*d], xs[int(i)*d:(int(i)+1)*d])
	}
}

// ScatterAddRows: y[idx[r]] += x[r] in the order of r, x seen as
// [len(idx), D], y as [M, D].
func (*Backend) ScatterAddRows(x *tensor.Tensor, idx []int32, y *tensor.Tensor) {
	const op = "ScatterAddRows"
	d, _ := kernels.CheckRows(name, op, x, idx, y, true)
	xs, ys := host(op, "x", x), host(op, "y", y)
	for r, i := range idx {
		dst := ys[int(i)*d : (int(i)+1)*d]
		for j, v := range xs[r*d : (r+1)*d] {
			dst[j] += v
		}
	}
}
