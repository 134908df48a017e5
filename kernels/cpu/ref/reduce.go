package ref

import (
	"hallucinator/kernels"
	"hallucinator/tensor"
)

// Sum: dst [1] = sum of all elements of x (accumulated in float64).
func (*Backend) Sum(x, dst *tensor.Tensor) {
	xs, d := host("Sum", "x", x), host("Sum", "dst", dst)
	kernels.CheckSameNumel(name, "Sum", 1, dst)
	var s float64
	for _, v := range xs {
		s += float64(v)
	}
	d[0] = float32(s)
}

// matrix returns the row count of x seen as a matrix whose other dimension
// is n, panicking when its size is not a multiple of n.
func matrix(op string, x *tensor.Tensor, n int) int {
	if n == 0 || x.Numel()%n != 0 {
		kernels.Panicf(name, "%s: x of shape %v is not a matrix with a dimension of %d", op, x.Shape(), n)
	}
	return x.Numel() / n
}

// SumRows: dst [N] = column sums of x seen as [M, N], N = dst's size.
func (*Backend) SumRows(x, dst *tensor.Tensor) {
	xs, d := host("SumRows", "x", x), host("SumRows", "dst", dst)
	n := len(d)
	m := matrix("SumRows", x, n)
	for j := 0; j < n; j++ {
		var s float64
		for i := 0; i < m; i++ {
			s += float64(xs[i*n+j])
		}
		d[j] = float32(s)
	}
}

// SumCols: dst [M] = row sums of x seen as [M, N], M = dst's size.
func (*Backend) SumCols(x, dst *tensor.Tensor) {
	xs, d := host("SumCols", "x", x), host("SumCols", "dst", dst)
	m := len(d)
	n := matrix("SumCols", x, m)
	for i := 0; i < m; i++ {
		var s float64
		for _, v := range xs[i*n : (i+1)*n] {
			s += float64(v)
		}
		d[i] = float32(s)
	}
}

// SumSquares: dst[i] = sum of squares of xs[i]; dst has len(xs) elements.
func (*Backend) SumSquares(xs []*tensor.Tensor, dst *tensor.Tensor) {
	d := host("SumSquares", "dst", dst)
	kernels.CheckSameNumel(name, "SumSquares", len(xs), dst)
	for i, x := range xs {
		d[i] = float32(sumSquares(host("SumSquares", "xs[i]", x)))
	}
}

// sumSquares returns the sum of squares of v in float64.
func sumSquares(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return s
}

// biasShape returns outer, C, inner of y seen as [outer, C, inner], C being
// y's dimension 1.
func biasShape(op string, y *tensor.Tensor) (outer, c, inner int) {
	if y == nil || y.Dims() < 2 {
		kernels.Panicf(name, "%s: y needs at least 2 dimensions", op)
	}
	sh := y.Shape()
	return sh[0], sh[1], tensor.Numel(sh[2:])
}

// BiasAdd: y[o, c, i] += b[c], y seen as [outer, C, inner] where C is y's
// dimension 1 and inner the product of the dimensions after it.
func (*Backend) BiasAdd(b, y *tensor.Tensor) {
	bs, ys := host("BiasAdd", "b", b), host("BiasAdd", "y", y)
	outer, c, inner := biasShape("BiasAdd", y)
	kernels.CheckSameNumel(name, "BiasAdd", c, b)
	for o := 0; o < outer; o++ {
		for ch := 0; ch < c; ch++ {
			row := ys[(o*c+ch)*inner : (o*c+ch+1)*inner]
			for i := range row {
				row[i] += bs[ch]
			}
		}
	}
}

// BiasGrad: db[c] = sum over outer and inner of dy[o, c, i].
func (*Backend) BiasGrad(dy, db *tensor.Tensor) {
	g, d := host("BiasGrad", "dy", dy), host("BiasGrad", "db", db)
	outer, c, inner := biasShape("BiasGrad", dy)
	kernels.CheckSameNumel(name, "BiasGrad", c, db)
	for ch := 0; ch < c; ch++ {
		var s float64
		for o := 0; o < outer; o++ {
			for _, v := range g[(o*c+ch)*inner : (o*c+ch+1)*inner] {
				s += float64(v)
			}
		}
		d[ch] = float32(s)
	}
}
