package cuda

import (
	"hallucinator/kernels"
	"hallucinator/tensor"
)

// GatherRows: y[r] = x[idx[r]], x seen as [M, D], y as [len(idx), D]: one
// device copy per row.
func (b *Backend) GatherRows(x *tensor.Tensor, idx []int32, y *tensor.Tensor) {
	d, _ := kernels.CheckRows(name, "GatherRows", x, idx, y, false)
	if d == 0 {
		return
	}
	xr, yr := x.Reshape(x.Dim(0), d), y.Reshape(len(idx), d)
	for r, i := range idx {
		b.Copy(xr.Rows(int(i), int(i)+1), yr.Rows(r, r+1))
	}
}

// ScatterAddRows: y[idx[r]] += x[r] in the order of r, x seen as
// [len(idx), D], y as [M, D]: one device axpy per row.
func (b *Backend) ScatterAddRows(x *tensor.Tensor, idx []int32, y *tensor.Tensor) {
	d, m := kernels.CheckRows(name, "ScatterAddRows", x, idx, y, true)
	if d == 0 {
		return
	}
	xr, yr := x.Reshape(len(idx), d), y.Reshape(m, d)
	for r, i := range idx {
		b.Axpy(1, xr.Rows(r, r+1), yr.Rows(int(i), int(i)+1))
	}
}
