package autograd

import "hallucinator/tensor"

// MatMul returns op(a) op(b), where op(X) is X or its transpose: op(a) is
// [M, K], op(b) is [K, N] and the result [M, N]. a and b may be the same Var
// (a Gram matrix, for instance).
func (tp *Tape) MatMul(a, b *Var, transA, transB bool) *Var {
	checkDims("MatMul", "a", a, 2)
	checkDims("MatMul", "b", b, 2)
	m, ka := a.Value.Dim(0), a.Value.Dim(1)
	if transA {
		m, ka = ka, m
	}
	kb, n := b.Value.Dim(0), b.Value.Dim(1)
	if transB {
		kb, n = n, kb
	}
	if ka != kb {
		panicf("MatMul: op(a) is [%d %d] and op(b) is [%d %d] (a %v, b %v, transA %v, transB %v)",
			m, ka, kb, n, a.Shape(), b.Shape(), transA, transB)
	}
	be := tp.b
	y := tp.output(m, n)
	be.Gemm(transA, transB, 1, a.Value, b.Value, 0, y)
	av, bv := a.Value, b.Value
	return tp.Record(y, []*Var{a, b}, func(dy *tensor.Tensor) {
		// C = op(A) op(B); the four cases of dA and dB, each one Gemm that
		// accumulates (beta 1) when the gradient already holds a value.
		tp.accumulate(a, withBeta(func(g *tensor.Tensor, beta float32) {
			switch {
			case !transA && !transB: // dA = dC B^T
				be.Gemm(false, true, 1, dy, bv, beta, g)
			case !transA && transB: // dA = dC B
				be.Gemm(false, false, 1, dy, bv, beta, g)
			case transA && !transB: // dA = B dC^T
				be.Gemm(false, true, 1, bv, dy, beta, g)
			default: // dA = B^T dC^T
				be.Gemm(true, true, 1, bv, dy, beta, g)
			}
		}))
		tp.accumulate(b, withBeta(func(g *tensor.Tensor, beta float32) {
			switch {
			case !transA && !transB: // dB = A^T dC
				be.Gemm(true, false, 1, av, dy, beta, g)
			case !transA && transB: // dB = dC^T A
				be.Gemm(true, false, 1, dy, av, beta, g)
			case transA && !transB: // dB = A dC
				be.Gemm(false, false, 1, av, dy, beta, g)
			default: // dB = dC^T A^T
				be.Gemm(true, true, 1, dy, av, beta, g)
			}
		}))
	})
}

// Linear returns x w^T + b, the fully connected layer in PyTorch's layout:
// x [N, in], w [out, in], b [out] or nil; the result is [N, out].
func (tp *Tape) Linear(x, w, b *Var) *Var {
	checkDims("Linear", "x", x, 2)
	checkDims("Linear", "w", w, 2)
	n, in := x.Value.Dim(0), x.Value.Dim(1)
	out := w.Value.Dim(0)
	if w.Value.Dim(1) != in {
		panicf("Linear: x is %v and w is %v, want w [out, %d]", x.Shape(), w.Shape(), in)
	}
	if b != nil {
		checkShape("Linear", "b", b, out)
	}
	be := tp.b
	y := tp.output(n, out)
	be.Gemm(false, true, 1, x.Value, w.Value, 0, y)
	if b != nil {
		be.BiasAdd(b.Value, y)
	}
	xv, wv := x.Value, w.Value
	return tp.Record(y, []*Var{x, w, b}, func(dy *tensor.Tensor) {
		tp.accumulate(x, withBeta(func(dx *tensor.Tensor, beta float32) { // dx [N, in] = dy w
			be.Gemm(false, false, 1, dy, wv, beta, dx)
		}))
		tp.accumulate(w, withBeta(func(dw *tensor.Tensor, beta float32) { // dw [out, in] = dy^T x
			be.Gemm(true, false, 1, dy, xv, beta, dw)
		}))
		tp.overwrite(b, func(db *tensor.Tensor) { be.BiasGrad(dy, db) })
	})
}
