package autograd

import (
	"hallucinator/kernels"
	"hallucinator/tensor"
)

// BatchNorm normalises x ([N, C] or [N, C, H, W]) per channel and applies
// the affine transform gamma, beta [C] (nil gamma means ones, nil beta
// zeros), then a ReLU when p.ReLU is set.
//
// In training mode it uses the batch statistics and updates runMean and
// runVar [C] in place (they are plain tensors, not Vars, and get no
// gradient). In eval mode it uses the running statistics and leaves them
// alone; its backward is the gradient of that fixed affine map.
func (tp *Tape) BatchNorm(x, gamma, beta *Var, runMean, runVar *tensor.Tensor, p kernels.BNParams, training bool) *Var {
	checkDims("BatchNorm", "x", x, 2, 4)
	c := x.Value.Dim(1)
	if gamma != nil {
		checkShape("BatchNorm", "gamma", gamma, c)
	}
	if beta != nil {
		checkShape("BatchNorm", "beta", beta, c)
	}
	checkNumel("BatchNorm", "runMean", runMean, c)
	checkNumel("BatchNorm", "runVar", runVar, c)
	be := tp.b
	gv, bv := tp.affine(gamma, 1, c), tp.affine(beta, 0, c)
	y := tp.output(x.Shape()...)
	xv := x.Value
	if training {
		mean, invstd := tp.output(c), tp.output(c)
		be.BatchNormTrain(p, xv, gv, bv, y, mean, invstd, runMean, runVar)
		return tp.Record(y, []*Var{x, gamma, beta}, func(dy *tensor.Tensor) {
			tp.overwriteAll(func(d []*tensor.Tensor) {
				be.BatchNormBackward(p, xv, y, dy, gv, mean, invstd, d[0], d[1], d[2])
			}, target{v: x}, target{v: gamma, shape: []int{c}}, target{v: beta, shape: []int{c}})
		})
	}
	be.BatchNormInfer(p, xv, gv, bv, runMean, runVar, y)
	if !tp.Recording() || !anyRequires([]*Var{x, gamma, beta}) {
		return tp.Record(y, nil, nil)
	}
	// The backward needs the statistics of this forward even if a training
	// forward updates them before Backward runs.
	rm, rv := tp.output(c), tp.output(c)
	be.Copy(runMean, rm)
	be.Copy(runVar, rv)
	return tp.Record(y, []*Var{x, gamma, beta}, func(dy *tensor.Tensor) {
		// y = relu(gamma*(x-rm)*s + beta) with s = 1/sqrt(rv+eps), a fixed
		// per-channel affine map; BatchNormInfer applies such maps, so it
		// computes every term: dx = gamma*s*dy', xhat = (x-rm)*s,
		// dgamma = sum dy'*xhat, dbeta = sum dy', dy' = dy masked by y > 0.
		lin := p
		lin.ReLU = false
		dyp := dy
		if p.ReLU {
			dyp = tp.scratch(dy.Shape()...)
			be.ReluBackward(y, dy, dyp)
		}
		zeros := tp.scratch(c)
		be.Fill(0, zeros)
		tp.overwrite(x, func(dx *tensor.Tensor) { be.BatchNormInfer(lin, dyp, gv, zeros, zeros, rv, dx) })
		tp.overwrite(gamma, func(dg *tensor.Tensor) {
			ones := tp.scratch(c)
			be.Fill(1, ones)
			xhat := tp.scratch(xv.Shape()...)
			be.BatchNormInfer(lin, xv, ones, zeros, rm, rv, xhat)
			be.Mul(dyp, xhat, xhat)
			be.BiasGrad(xhat, dg)
			tp.release(xhat)
			tp.release(ones)
		})
		tp.overwrite(beta, func(db *tensor.Tensor) { be.BiasGrad(dyp, db) })
		tp.release(zeros)
		if p.ReLU {
			tp.release(dyp)
		}
	})
}

// affine returns v's value, or a [c] tensor filled with fill when v is nil.
func (tp *Tape) affine(v *Var, fill float32, c int) *tensor.Tensor {
	if v != nil {
		return v.Value
	}
	t := tp.output(c)
	tp.b.Fill(fill, t)
	return t
}
