package cpu

import (
	"hallucinator/kernels"
	"hallucinator/tensor"
)

// GatherRows: y[r] = x[idx[r]], x seen as [M, D], y as [len(idx), D]; the
// rows of y are split across the workers.
func (b *Backend) GatherRows(x *tensor.Tensor, idx []int32, y *tensor.Tensor) {
	const op = "GatherRows"
	d, _ := kernels.CheckRows(name, op, x, idx, y, false)
	xs, ys := data(op, x), data(op, y)
	b.parallel(len(idx), d, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			i := int(idx[r])
			copy(ys[r*d:(r+1)*d], xs[i*d:(i+1)*d])
		}
	})
}

// ScatterAddRows: y[idx[r]] += x[r], x seen as [len(idx), D], y as [M, D].
// The rows of x are sorted by destination, stably, so that the workers own
// whole rows of y and add into each in the order of r: the result does not
// depend on the number of threads.
func (b *Backend) ScatterAddRows(x *tensor.Tensor, idx []int32, y *tensor.Tensor) {
	const op = "ScatterAddRows"
	d, m := kernels.CheckRows(name, op, x, idx, y, true)
	xs, ys := data(op, x), data(op, y)
	if len(idx) == 0 || d == 0 {
		return
	}
	order, start := kernels.RowsByDestination(idx, m)
	b.parallel(m, d*max(len(idx)/m, 1), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			dst := ys[i*d : (i+1)*d]
			for _, r := range order[start[i]:start[i+1]] {
				axpyUnit(dst, xs[int(r)*d:(int(r)+1)*d])
			}
		}
	})
}

// axpyUnit adds src to dst element by element.
func axpyUnit(dst, src []float32) {
	for j, v := range src[:len(dst)] {
		dst[j] += v
	}
}
