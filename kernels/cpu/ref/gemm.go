package ref

import (
	"hallucinator/kernels"
	"hallucinator/tensor"
)

// gemmDims returns M, N, K of C = op(A) op(B) for 2-D shapes, panicking on
// a mismatch.
func gemmDims(op string, transA, transB bool, as, bs, cs []int) (m, n, k int) {
	m, k = as[0], as[1]
	if transA {
		m, k = k, m
	}
	kb, n := bs[0], bs[1]
	if transB {
		kb, n = n, kb
	}
	if kb != k || cs[0] != m || cs[1] != n {
		kernels.Panicf(name, "%s: op(A) is [%d %d], op(B) is [%d %d], C is %v (transA=%v transB=%v)",
			op, m, k, kb, n, cs, transA, transB)
	}
	return m, n, k
}

// gemm computes c = alpha*op(a) op(b) + beta*c on row-major slices, with
// op(a) [m, k] and op(b) [k, n]. Operands are first copied into float64
// rows (op(a) row by row, op(b) column by column) so that every entry is a
// float64 dot product of two contiguous vectors. c is not read when beta is
// 0.
func gemm(transA, transB bool, m, n, k int, alpha float32, a, b []float32, beta float32, c []float32) {
	ar := make([]float64, m*k) // op(A) [m, k]
	for i := 0; i < m; i++ {
		for p := 0; p < k; p++ {
			if transA {
				ar[i*k+p] = float64(a[p*m+i])
			} else {
				ar[i*k+p] = float64(a[i*k+p])
			}
		}
	}
	bc := make([]float64, n*k) // op(B)^T [n, k]
	for j := 0; j < n; j++ {
		for p := 0; p < k; p++ {
			if transB {
				bc[j*k+p] = float64(b[j*k+p])
			} else {
				bc[j*k+p] = float64(b[p*n+j])
			}
		}
	}
	for i := 0; i < m; i++ {
		ai := ar[i*k : (i+1)*k]
		for j := 0; j < n; j++ {
			v := float64(alpha) * dot(ai, bc[j*k:(j+1)*k])
			if beta != 0 {
				v += float64(beta) * float64(c[i*n+j])
			}
			c[i*n+j] = float32(v)
		}
	}
}

// Gemm: C = alpha * op(A) op(B) + beta * C with op(X) = X or X^T; op(A) is
// [M, K], op(B) is [K, N], C is [M, N]. When beta is 0, C is not read.
func (*Backend) Gemm(transA, transB bool, alpha float32, a, b *tensor.Tensor, beta float32, c *tensor.Tensor) {
	dims("Gemm", "A", a, 2)
	dims("Gemm", "B", b, 2)
	dims("Gemm", "C", c, 2)
	m, n, k := gemmDims("Gemm", transA, transB, a.Shape(), b.Shape(), c.Shape())
	gemm(transA, transB, m, n, k, alpha, host("Gemm", "A", a), host("Gemm", "B", b), beta, host("Gemm", "C", c))
}

// GemmBatched is Gemm on 3-D tensors [batch, ., .], one product per batch
// index.
func (*Backend) GemmBatched(transA, transB bool, alpha float32, a, b *tensor.Tensor, beta float32, c *tensor.Tensor) {
	dims("GemmBatched", "A", a, 3)
	dims("GemmBatched", "B", b, 3)
	dims("GemmBatched", "C", c, 3)
	batch := a.Dim(0)
	if b.Dim(0) != batch || c.Dim(0) != batch {
		kernels.Panicf(name, "GemmBatched: batch sizes %d, %d, %d differ", batch, b.Dim(0), c.Dim(0))
	}
	m, n, k := gemmDims("GemmBatched", transA, transB, a.Shape()[1:], b.Shape()[1:], c.Shape()[1:])
	as, bs, cs := host("GemmBatched", "A", a), host("GemmBatched", "B", b), host("GemmBatched", "C", c)
	for i := 0; i < batch; i++ {
		gemm(transA, transB, m, n, k, alpha, as[i*m*k:(i+1)*m*k], bs[i*k*n:(i+1)*k*n], beta, cs[i*m*n:(i+1)*m*n])
	}
}

// dot returns the inner product of two float64 vectors of equal length,
// summed in four interleaved partial sums (independent additions run in
// parallel).
func dot(a, b []float64) float64 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}
