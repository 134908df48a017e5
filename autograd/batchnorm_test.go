package autograd_test

import (
	"fmt"
	"math"
	"testing"

	"hallucinator/autograd"
	"hallucinator/kernels"
	"hallucinator/kernels/cpu/ref"
	"hallucinator/tensor"
)

// naiveBN returns the pre-ReLU output of batch normalisation in float64,
// with the batch statistics (training) or the given running ones, and the
// batch mean and unbiased variance per channel.
func naiveBN(x, gamma, beta, rm, rv *tensor.Tensor, eps float64, training bool) (z, mean, uvar []float64) {
	shape := x.Shape()
	n, c := shape[0], shape[1]
	inner := tensor.Numel(shape[2:])
	xd := x.Data()
	z = make([]float64, len(xd))
	mean, uvar = make([]float64, c), make([]float64, c)
	for ch := 0; ch < c; ch++ {
		var s, ss float64
		for i := 0; i < n; i++ {
			for j := 0; j < inner; j++ {
				s += float64(xd[(i*c+ch)*inner+j])
			}
		}
		cnt := float64(n * inner)
		mu := s / cnt
		for i := 0; i < n; i++ {
			for j := 0; j < inner; j++ {
				d := float64(xd[(i*c+ch)*inner+j]) - mu
				ss += d * d
			}
		}
		mean[ch], uvar[ch] = mu, ss/(cnt-1)
		m, v := mu, ss/cnt
		if !training {
			m, v = float64(rm.At(ch)), float64(rv.At(ch))
		}
		inv := 1 / math.Sqrt(v+eps)
		for i := 0; i < n; i++ {
			for j := 0; j < inner; j++ {
				k := (i*c+ch)*inner + j
				z[k] = float64(gamma.At(ch))*(float64(xd[k])-m)*inv + float64(beta.At(ch))
			}
		}
	}
	return z, mean, uvar
}

// bnCase draws inputs for a batch-norm test; with relu, it redraws until
// every pre-activation is at least margin away from the ReLU's kink.
func bnCase(t *testing.T, seed uint64, shape []int, relu, training bool, margin float64) (x, gamma, beta, rm, rv *tensor.Tensor) {
	t.Helper()
	c := shape[1]
	for s := seed; s < seed+200; s++ {
		x = tensor.RandN(tensor.NewRand(s), 0.3, 1.7, shape...)
		gamma = tensor.RandU(tensor.NewRand(s+1000), 0.5, 1.5, c)
		beta = randScaled(s+2000, 0.5, c)
		rm = randScaled(s+3000, 0.5, c)
		rv = tensor.RandU(tensor.NewRand(s+4000), 0.5, 2, c)
		if !relu {
			return
		}
		z, _, _ := naiveBN(x, gamma, beta, rm, rv, 1e-5, training)
		ok := true
		for _, v := range z {
			if math.Abs(v) < margin {
				ok = false
				break
			}
		}
		if ok {
			return
		}
	}
	t.Fatalf("no inputs away from the ReLU kink for shape %v", shape)
	return
}

var bnCases = []struct {
	shape []int
	relu  bool
}{
	{[]int{3, 1}, false},
	{[]int{7, 3}, false},
	{[]int{5, 4}, true},
	{[]int{3, 2, 4, 5}, false},
	{[]int{2, 3, 3, 2}, true},
	{[]int{1, 2, 5, 3}, false},
}

func TestBatchNormForward(t *testing.T) {
	be := ref.New()
	for i, c := range bnCases {
		for _, training := range []bool{true, false} {
			t.Run(fmt.Sprintf("%v,relu=%v,training=%v", c.shape, c.relu, training), func(t *testing.T) {
				x, gamma, beta, rm, rv := bnCase(t, uint64(500+i), c.shape, false, training, 0)
				p := kernels.BNParams{Eps: 1e-5, Momentum: 0.1, ReLU: c.relu}
				z, mean, uvar := naiveBN(x, gamma, beta, rm, rv, 1e-5, training)
				if c.relu {
					for k := range z {
						z[k] = math.Max(z[k], 0)
					}
				}
				rm0, rv0 := f64(rm), f64(rv)
				rmT, rvT := rm.Clone(), rv.Clone()
				tp := autograd.NewTape(be)
				y := tp.BatchNorm(autograd.NewVar(x, true), autograd.NewVar(gamma, true), autograd.NewVar(beta, true), rmT, rvT, p, training)
				assertClose(t, "BatchNorm", y.Value.Data(), z, 1e-5)
				if training {
					for ch := range rm0 {
						rm0[ch] = 0.9*rm0[ch] + 0.1*mean[ch]
						rv0[ch] = 0.9*rv0[ch] + 0.1*uvar[ch]
					}
				}
				assertClose(t, "running mean", rmT.Data(), rm0, 1e-5)
				assertClose(t, "running var", rvT.Data(), rv0, 1e-5)
			})
		}
	}
}

func TestBatchNormGrad(t *testing.T) {
	for i, c := range bnCases {
		for _, training := range []bool{true, false} {
			t.Run(fmt.Sprintf("%v,relu=%v,training=%v", c.shape, c.relu, training), func(t *testing.T) {
				// A finite-difference step of 1e-3 relative keeps the
				// perturbed pre-activations on their side of the kink.
				x, gamma, beta, rm, rv := bnCase(t, uint64(600+i), c.shape, c.relu, training, 0.02)
				p := kernels.BNParams{Eps: 1e-5, Momentum: 0.1, ReLU: c.relu}
				gradCheck(t, func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var {
					return tp.BatchNorm(in[0], in[1], in[2], rm, rv, p, training)
				}, autograd.GradCheckOptions{Step: 1e-3, Seed: uint64(i)}, x, gamma, beta)
			})
		}
	}
}

// TestBatchNormNoAffine checks nil gamma and beta (ones and zeros).
func TestBatchNormNoAffine(t *testing.T) {
	for _, training := range []bool{true, false} {
		x, _, _, rm, rv := bnCase(t, 700, []int{4, 3, 2, 2}, false, training, 0)
		p := kernels.BNParams{Eps: 1e-5, Momentum: 0.1}
		gradCheck(t, func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var {
			return tp.BatchNorm(in[0], nil, nil, rm, rv, p, training)
		}, autograd.GradCheckOptions{Seed: 7}, x)
	}
}

// TestBatchNormEvalKeepsStatistics checks that the eval backward uses the
// statistics of its forward even when a training forward changes them
// before Backward.
func TestBatchNormEvalKeepsStatistics(t *testing.T) {
	be := ref.New()
	x, gamma, beta, rm, rv := bnCase(t, 800, []int{6, 3}, false, false, 0)
	p := kernels.BNParams{Eps: 1e-5, Momentum: 0.5}
	r := randn(801, 6, 3)
	grad := func(disturb bool) []float32 {
		rmT, rvT := rm.Clone(), rv.Clone()
		tp := autograd.NewTape(be)
		xv := autograd.NewVar(x, true)
		y := tp.BatchNorm(xv, autograd.NewVar(gamma, false), autograd.NewVar(beta, false), rmT, rvT, p, false)
		if disturb {
			tp.BatchNorm(autograd.NewVar(randn(802, 6, 3), false), nil, nil, rmT, rvT, p, true)
		}
		tp.BackwardWith(y, r)
		return xv.Grad.Clone().Data()
	}
	want, got := grad(false), grad(true)
	assertClose(t, "dx", got, f64(tensor.FromSlice(want, len(want))), 1e-7)
}

func TestBatchNormBadShapes(t *testing.T) {
	tp := autograd.NewTape(ref.New())
	p := kernels.BNParams{Eps: 1e-5}
	x := autograd.NewVar(tensor.Zeros(2, 3, 4), true)
	mustPanic(t, "autograd: BatchNorm", func() { tp.BatchNorm(x, nil, nil, tensor.Zeros(3), tensor.Zeros(3), p, true) })
	x = autograd.NewVar(tensor.Zeros(2, 3), true)
	mustPanic(t, "autograd: BatchNorm", func() {
		tp.BatchNorm(x, autograd.NewVar(tensor.Zeros(4), true), nil, tensor.Zeros(3), tensor.Zeros(3), p, true)
	})
	mustPanic(t, "autograd: BatchNorm", func() { tp.BatchNorm(x, nil, nil, tensor.Zeros(2), tensor.Zeros(3), p, true) })
}
