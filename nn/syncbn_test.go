package nn

import (
	"sync"
	"testing"
	"time"

	"hallucinator/autograd"
	"hallucinator/dist"
	"hallucinator/kernels"
	"hallucinator/kernels/cpu"
	"hallucinator/kernels/cpu/ref"
	"hallucinator/tensor"
)

// TestSyncBatchNorm checks that W ranks of a synchronised batch norm, each
// with its slice of the batch, give the output, running statistics and input
// gradient of one batch norm over the whole batch, and gamma and beta
// gradients that sum to its.
func TestSyncBatchNorm(t *testing.T) {
	fast := cpu.New(cpu.Options{})
	defer fast.Close()
	for _, b := range []kernels.Backend{ref.New(), fast} {
		t.Run(b.Name(), func(t *testing.T) { testSyncBatchNorm(t, b) })
	}
}

func testSyncBatchNorm(t *testing.T, b kernels.Backend) {
	for _, tc := range []struct {
		name   string
		shape  []int
		ranks  int
		relu   bool
		affine bool
	}{
		{"2d", []int{12, 3, 5, 3}, 4, false, true},
		{"2d-relu", []int{6, 5, 2, 3}, 3, true, true},
		{"1d", []int{14, 7}, 2, false, true},
		{"1d-relu", []int{15, 2}, 3, true, true},
		{"1d-noaffine", []int{8, 4}, 2, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := tensor.NewRand(9)
			n, c, w := tc.shape[0], tc.shape[1], tc.ranks
			opt := BatchNormOptions{ReLU: tc.relu, NoAffine: !tc.affine}
			gamma, beta := randT(rng, 1, c), randT(rng, 1, c)
			newBN := func() *BatchNorm {
				bn, err := newBatchNorm(b, c, len(tc.shape), opt)
				if err != nil {
					t.Fatal(err)
				}
				if tc.affine {
					copy(bn.Weight.Value.Data(), gamma.Data())
					copy(bn.Bias.Value.Data(), beta.Data())
				}
				return bn
			}
			x := tensor.RandN(rng, 1.5, 2, tc.shape...)
			r := randT(rng, 1, tc.shape...)

			// One batch norm over the whole batch, two steps.
			one := newBN()
			var wantY *tensor.Tensor
			xv := autograd.NewVar(x.Clone(), true)
			for range 2 {
				autograd.ZeroGrad([]*autograd.Var{xv, one.Weight, one.Bias})
				tp := autograd.NewTape(b)
				y := one.Forward(tp, xv)
				tp.Backward(tp.Sum(tp.Mul(y, constVar(r))))
				wantY = y.Value.Clone()
			}

			comms := dist.NewGroup(w, 10*time.Second)
			bns := make([]*BatchNorm, w)
			ys, dxs := make([]*tensor.Tensor, w), make([]*tensor.Tensor, w)
			per := n / w
			var wg sync.WaitGroup
			for rk := range w {
				bns[rk] = newBN()
				SetSyncBN(comms[rk], bns[rk])
				wg.Add(1)
				go func() {
					defer wg.Done()
					bn := bns[rk]
					xr := autograd.NewVar(x.Rows(rk*per, (rk+1)*per).Clone(), true)
					rr := r.Rows(rk*per, (rk+1)*per).Clone()
					for range 2 {
						autograd.ZeroGrad([]*autograd.Var{xr, bn.Weight, bn.Bias})
						tp := autograd.NewTape(b)
						y := bn.Forward(tp, xr)
						tp.Backward(tp.Sum(tp.Mul(y, constVar(rr))))
						ys[rk], dxs[rk] = y.Value.Clone(), xr.Grad.Clone()
					}
				}()
			}
			wg.Wait()
			const tol = 1e-5
			for rk := range w {
				lo, hi := rk*per, (rk+1)*per
				checkClose(t, "y", ys[rk], f64(wantY.Rows(lo, hi)), tol)
				checkClose(t, "dx", dxs[rk], f64(xv.Grad.Rows(lo, hi)), tol)
				checkClose(t, "running mean", bns[rk].RunningMean, f64(one.RunningMean), tol)
				checkClose(t, "running var", bns[rk].RunningVar, f64(one.RunningVar), tol)
				checkClose(t, "batches", bns[rk].NumBatchesTracked, f64(one.NumBatchesTracked), 0)
			}
			if tc.affine {
				dg, db := tensor.Zeros(c), tensor.Zeros(c)
				for rk := range w {
					for i := range c {
						dg.Data()[i] += bns[rk].Weight.Grad.Data()[i]
						db.Data()[i] += bns[rk].Bias.Grad.Data()[i]
					}
				}
				checkClose(t, "dgamma", dg, f64(one.Weight.Grad), tol)
				checkClose(t, "dbeta", db, f64(one.Bias.Grad), tol)
			}
		})
	}
}
