package cpu

import (
	"hallucinator/kernels"
	"hallucinator/tensor"
)

// Reductions accumulate in float64 and split long inputs into fixed blocks
// whose partial sums are combined in block order, so results do not depend
// on the number of threads.

// reduceBlock is the block size of parallel reductions.
const reduceBlock = 1 << 14

// sum64 returns the sum of x in float64.
func sum64(x []float32) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		v := x[i : i+4 : i+4]
		s0 += float64(v[0])
		s1 += float64(v[1])
		s2 += float64(v[2])
		s3 += float64(v[3])
	}
	for ; i < len(x); i++ {
		s0 += float64(x[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// sumSq64 returns the sum of squares of x in float64.
func sumSq64(x []float32) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		v := x[i : i+4 : i+4]
		a, b, c, d := float64(v[0]), float64(v[1]), float64(v[2]), float64(v[3])
		s0 += a * a
		s1 += b * b
		s2 += c * c
		s3 += d * d
	}
	for ; i < len(x); i++ {
		a := float64(x[i])
		s0 += a * a
	}
	return (s0 + s1) + (s2 + s3)
}

// dot64 returns the dot product of x and y in float64.
func dot64(x, y []float32) float64 {
	y = y[:len(x)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		a := x[i : i+4 : i+4]
		b := y[i : i+4 : i+4]
		s0 += float64(a[0]) * float64(b[0])
		s1 += float64(a[1]) * float64(b[1])
		s2 += float64(a[2]) * float64(b[2])
		s3 += float64(a[3]) * float64(b[3])
	}
	for ; i < len(x); i++ {
		s0 += float64(x[i]) * float64(y[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// reduce returns the sum over fixed blocks of f(block), in block order.
func (b *Backend) reduce(n int, f func(lo, hi int) float64) float64 {
	nb := (n + reduceBlock - 1) / reduceBlock
	if nb <= 1 {
		return f(0, n)
	}
	parts := make([]float64, nb)
	b.blocks(n, reduceBlock, func(k, lo, hi int) { parts[k] = f(lo, hi) })
	var s float64
	for _, p := range parts {
		s += p
	}
	return s
}

// Sum writes the sum of all elements of x to dst [1].
func (b *Backend) Sum(x, dst *tensor.Tensor) {
	kernels.CheckSameNumel(name, "Sum", 1, dst)
	xd := data("Sum", x)
	data("Sum", dst)[0] = float32(b.reduce(len(xd), func(lo, hi int) float64 { return sum64(xd[lo:hi]) }))
}

// sumRows writes the column sums of x [m, n] to dst [n].
func (b *Backend) sumRows(x []float32, m, n int, dst []float32) {
	// Columns are split across workers in blocks of whole cache lines.
	const cb = 256
	nb := (n + cb - 1) / cb
	b.parallel(nb, m*cb, func(lo, hi int) {
		var acc [cb]float64
		for k := lo; k < hi; k++ {
			c0, c1 := k*cb, min((k+1)*cb, n)
			a := acc[:c1-c0]
			clear(a)
			for i := 0; i < m; i++ {
				row := x[i*n+c0 : i*n+c1]
				for j, v := range row {
					a[j] += float64(v)
				}
			}
			for j, v := range a {
				dst[c0+j] = float32(v)
			}
		}
	})
}

// asMatrix returns the other dimension of x seen as a matrix one of whose
// dimensions is n (the size of the destination).
func asMatrix(op string, x *tensor.Tensor, n int) int {
	if n == 0 || x.Numel()%n != 0 {
		kernels.Panicf(name, "%s: x of shape %v is not a matrix with a dimension of %d", op, x.Shape(), n)
	}
	return x.Numel() / n
}

// SumRows writes the column sums of x seen as [M, N] to dst [N] (N is dst's
// size).
func (b *Backend) SumRows(x, dst *tensor.Tensor) {
	dd := data("SumRows", dst)
	m := asMatrix("SumRows", x, len(dd))
	b.sumRows(data("SumRows", x), m, len(dd), dd)
}

// SumCols writes the row sums of x seen as [M, N] to dst [M] (M is dst's
// size).
func (b *Backend) SumCols(x, dst *tensor.Tensor) {
	dd := data("SumCols", dst)
	m := len(dd)
	n := asMatrix("SumCols", x, m)
	xd := data("SumCols", x)
	b.parallel(m, n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			dd[i] = float32(sum64(xd[i*n : (i+1)*n]))
		}
	})
}

// tensorBlock is a range [lo, hi) of tensor t in a list, for parallel loops
// over many parameters at once.
type tensorBlock struct{ t, lo, hi int }

// makeBlocks cuts the n lists of sizes size(i) selected by sel (nil: all)
// into blocks of at most reduceBlock elements.
func makeBlocks(n int, size func(i int) int, sel func(i int) bool) []tensorBlock {
	var bl []tensorBlock
	for i := 0; i < n; i++ {
		if sel != nil && !sel(i) {
			continue
		}
		m := size(i)
		for lo := 0; lo < m; lo += reduceBlock {
			bl = append(bl, tensorBlock{i, lo, min(lo+reduceBlock, m)})
		}
	}
	return bl
}

// runBlocks runs f over blocks in parallel.
func (b *Backend) runBlocks(bl []tensorBlock, f func(k int, blk tensorBlock)) {
	b.parallel(len(bl), reduceBlock, func(lo, hi int) {
		for k := lo; k < hi; k++ {
			f(k, bl[k])
		}
	})
}

// sumSquaresOf returns, for each list get(i) of the n selected by sel (nil:
// all), the float64 sum of squares of its elements (0 for the others).
func (b *Backend) sumSquaresOf(n int, get func(i int) []float32, sel func(i int) bool) []float64 {
	out := make([]float64, n)
	bl := makeBlocks(n, func(i int) int { return len(get(i)) }, sel)
	parts := make([]float64, len(bl))
	b.runBlocks(bl, func(k int, blk tensorBlock) { parts[k] = sumSq64(get(blk.t)[blk.lo:blk.hi]) })
	for k, blk := range bl {
		out[blk.t] += parts[k]
	}
	return out
}

// SumSquares writes the sum of squares of each xs[i] to dst[i].
func (b *Backend) SumSquares(xs []*tensor.Tensor, dst *tensor.Tensor) {
	kernels.CheckSameNumel(name, "SumSquares", len(xs), dst)
	ds := make([][]float32, len(xs))
	for i, x := range xs {
		ds[i] = data("SumSquares", x)
	}
	s := b.sumSquaresOf(len(xs), func(i int) []float32 { return ds[i] }, nil)
	dd := data("SumSquares", dst)
	for i, v := range s {
		dd[i] = float32(v)
	}
}
