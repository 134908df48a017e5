package cpu

import (
	"hallucinator/kernels"
	"hallucinator/tensor"
)

// gemmDims returns M, N, K and the leading dimensions of a, b for
// C = op(A) op(B) on 2-D shapes, panicking on mismatches.
func gemmDims(op string, transA, transB bool, as, bs, cs []int) (m, n, k, lda, ldb int) {
	if len(as) != 2 || len(bs) != 2 || len(cs) != 2 {
		kernels.Panicf(name, "%s: want 2-D matrices, got %v, %v, %v", op, as, bs, cs)
	}
	m, k = as[0], as[1]
	if transA {
		m, k = k, m
	}
	kb, nb := bs[0], bs[1]
	if transB {
		kb, nb = nb, kb
	}
	n = nb
	if kb != k || cs[0] != m || cs[1] != n {
		kernels.Panicf(name, "%s: op(A) %dx%d, op(B) %dx%d, C %v do not agree", op, m, k, kb, nb, cs)
	}
	return m, n, k, as[1], bs[1]
}

// sgemm is Pool.Sgemm with the degenerate sizes handled here: k == 0 leaves
// C = beta*C (0 when beta is 0, never reading C).
func (b *Backend) sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, bm []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		for i := 0; i < m; i++ {
			row := c[i*ldc : i*ldc+n]
			if beta == 0 {
				clear(row)
			} else if beta != 1 {
				for j := range row {
					row[j] *= beta
				}
			}
		}
		return
	}
	b.pool.Sgemm(transA, transB, m, n, k, alpha, a, lda, bm, ldb, beta, c, ldc)
}

// Gemm computes C = alpha*op(A)op(B) + beta*C with the packed SGEMM.
func (b *Backend) Gemm(transA, transB bool, alpha float32, a, bt *tensor.Tensor, beta float32, c *tensor.Tensor) {
	m, n, k, lda, ldb := gemmDims("Gemm", transA, transB, a.Shape(), bt.Shape(), c.Shape())
	b.sgemm(transA, transB, m, n, k, alpha, data("Gemm", a), lda, data("Gemm", bt), ldb, beta, data("Gemm", c), n)
}

// GemmBatched is Gemm over the leading batch dimension of 3-D tensors, the
// products split across the workers.
func (b *Backend) GemmBatched(transA, transB bool, alpha float32, a, bt *tensor.Tensor, beta float32, c *tensor.Tensor) {
	as, bs, cs := a.Shape(), bt.Shape(), c.Shape()
	if len(as) != 3 || len(bs) != 3 || len(cs) != 3 || as[0] != bs[0] || as[0] != cs[0] {
		kernels.Panicf(name, "GemmBatched: want 3-D tensors with one batch size, got %v, %v, %v", as, bs, cs)
	}
	m, n, k, lda, ldb := gemmDims("GemmBatched", transA, transB, as[1:], bs[1:], cs[1:])
	ad, bd, cd := data("GemmBatched", a), data("GemmBatched", bt), data("GemmBatched", c)
	sa, sb, sc := as[1]*as[2], bs[1]*bs[2], cs[1]*cs[2]
	// Products split across the workers (each SGEMM nested in the pool).
	b.parallel(as[0], 2*m*n*max(k, 1), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			b.sgemm(transA, transB, m, n, k, alpha, ad[i*sa:(i+1)*sa], lda, bd[i*sb:(i+1)*sb], ldb, beta, cd[i*sc:(i+1)*sc], n)
		}
	})
}
