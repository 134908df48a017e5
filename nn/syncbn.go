package nn

import (
	"context"
	"fmt"

	"hallucinator/autograd"
	"hallucinator/dist"
	"hallucinator/kernels"
	"hallucinator/tensor"
)

// CommError is the panic value of a collective that failed inside a forward
// or backward pass (a synchronised batch norm, an all-gather op), where no
// error can be returned. ssl.Trainer recovers it and returns it as the
// step's error.
type CommError struct {
	Op  string
	Err error
}

func (e *CommError) Error() string { return "nn: " + e.Op + ": " + e.Err.Error() }
func (e *CommError) Unwrap() error { return e.Err }

// SetSyncBN sets the communicator of every batch norm in ms (BatchNorm.Sync)
// to c: batch norms, networks that list theirs (ResNet.BatchNorms) and
// sequences of modules (Sequential, MLP), searched recursively. A nil c, or
// one of a single rank, turns synchronisation off.
func SetSyncBN(c dist.Comm, ms ...Module) {
	for _, m := range ms {
		switch m := m.(type) {
		case *BatchNorm:
			m.Sync = c
		case interface{ BatchNorms() []*BatchNorm }:
			for _, bn := range m.BatchNorms() {
				bn.Sync = c
			}
		case interface {
			Len() int
			At(int) (string, Module)
		}:
			for i := range m.Len() {
				_, sub := m.At(i)
				SetSyncBN(c, sub)
			}
		}
	}
}

// synced reports whether training-mode forwards use the global batch.
func (m *BatchNorm) synced() bool { return m.Sync != nil && m.Sync.Size() > 1 }

// syncForward is a training-mode forward whose statistics are those of the
// batch of every rank of m.Sync (PyTorch's SyncBatchNorm). Every rank must
// call it with an input of the same shape. The statistics are computed in two
// passes, as the backends do: the all-reduced per-channel sum gives the
// mean, then the all-reduced sum of squared deviations from it the biased
// variance. The backward all-reduces the per-channel sums of dy and dy*xhat
// (after the fused ReLU's mask) and computes dx from the global sums; the
// gradients of gamma and beta are this rank's sums, which the data-parallel
// gradient average combines.
func (m *BatchNorm) syncForward(tp *autograd.Tape, x *autograd.Var) *autograd.Var {
	if m.Groups > 1 {
		panic(fmt.Sprintf("nn: BatchNorm%dd(%d): a synchronised batch norm cannot also normalise in %d groups", m.dims/2, m.C, m.Groups))
	}
	be, c, comm := m.b, m.C, m.Sync
	ctx := context.Background()
	s := x.Shape()
	count := float64(s[0] * tensor.Numel(s[2:]) * comm.Size())
	if count < 2 {
		panic(fmt.Sprintf("nn: BatchNorm%dd(%d): %v values per channel in the global batch, need at least 2", m.dims/2, m.C, count))
	}
	allReduce := func(what string, t *tensor.Tensor) {
		if err := comm.AllReduce(ctx, t, dist.Sum); err != nil {
			panic(&CommError{Op: fmt.Sprintf("synchronised BatchNorm%dd(%d) %s", m.dims/2, m.C, what), Err: err})
		}
	}
	ones := be.FromHost(tensor.Ones(c))
	zeros := be.Zeros(c)
	// exact computes per-channel affine maps a*(v-mu)+b: eps 0 over unit
	// variance divides by exactly 1.
	exact := kernels.BNParams{}
	xv := x.Value
	y := be.Zeros(s...)

	mean := be.Zeros(c)
	be.BiasGrad(xv, mean)
	allReduce("sum", mean)
	be.Scale(float32(1/count), mean, mean)
	be.BatchNormInfer(exact, xv, ones, zeros, mean, ones, y) // x - mean
	be.Mul(y, y, y)
	variance := be.Zeros(c)
	be.BiasGrad(y, variance)
	allReduce("sum of squares", variance)
	be.Scale(float32(1/count), variance, variance) // biased

	gv, bv := m.Weight.Value, m.Bias.Value
	be.BatchNormInfer(m.P, xv, gv, bv, mean, variance, y)
	mom := m.P.Momentum
	be.Scale(1-mom, m.RunningMean, m.RunningMean)
	be.Axpy(mom, mean, m.RunningMean)
	be.Scale(1-mom, m.RunningVar, m.RunningVar)
	be.Axpy(float32(float64(mom)*count/(count-1)), variance, m.RunningVar) // unbiased

	return tp.Record(y, []*autograd.Var{x, m.Weight, m.Bias}, func(dy *tensor.Tensor) {
		lin := m.P
		lin.ReLU = false
		dyp := dy
		if m.P.ReLU {
			dyp = be.Zeros(s...)
			be.ReluBackward(y, dy, dyp)
		}
		xhat := be.Zeros(s...)
		be.BatchNormInfer(lin, xv, ones, zeros, mean, variance, xhat)
		// sums holds sum dy' then sum dy'*xhat, each [C].
		sums := be.Zeros(2, c)
		sdy, sdyx := sums.Rows(0, 1).Reshape(c), sums.Rows(1, 2).Reshape(c)
		be.BiasGrad(dyp, sdy)
		tmp := be.Zeros(s...)
		be.Mul(dyp, xhat, tmp)
		be.BiasGrad(tmp, sdyx)
		if m.Affine {
			dbeta, dgamma := be.Zeros(c), be.Zeros(c)
			be.Copy(sdy, dbeta)
			be.Copy(sdyx, dgamma)
			tp.Accumulate(m.Bias, dbeta)
			tp.Accumulate(m.Weight, dgamma)
		}
		allReduce("backward sums", sums)
		be.Scale(float32(1/count), sums, sums)
		// dx = gamma*invstd*(dy' - mean dy' - xhat*mean(dy'*xhat)).
		be.BatchNormInfer(exact, xhat, sdyx, sdy, zeros, ones, tmp)
		be.Sub(dyp, tmp, tmp)
		dx := xhat
		be.BatchNormInfer(lin, tmp, gv, zeros, zeros, variance, dx)
		tp.Accumulate(x, dx)
	})
}
