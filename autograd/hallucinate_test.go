package autograd_test

import (
	"fmt"
	"math"
	"testing"

	"hallucinator/autograd"
	"hallucinator/kernels/cpu/ref"
	"hallucinator/tensor"
)

// hallInputs are the arguments of Hallucinate in its order: x, k, w1, b1,
// w2, b2, w3, b3.
type hallInputs []*tensor.Tensor

// naiveHallucinate returns the output [N, D] and the smallest |pre-ReLU|
// value of the two hidden layers, in float64.
func naiveHallucinate(in hallInputs, lambda float64) (out []float64, minPre float64) {
	x, k := in[0], in[1]
	n, d := x.Dim(0), x.Dim(1)
	layer := func(u [][]float64, w, b *tensor.Tensor, relu bool) [][]float64 {
		o, i := w.Dim(0), w.Dim(1)
		res := make([][]float64, len(u))
		for r := range u {
			res[r] = make([]float64, o)
			for a := 0; a < o; a++ {
				s := float64(b.At(a))
				for c := 0; c < i; c++ {
					s += float64(w.At(a, c)) * u[r][c]
				}
				if relu {
					minPre = math.Min(minPre, math.Abs(s))
					s = math.Max(s, 0)
				}
				res[r][a] = s
			}
		}
		return res
	}
	minPre = math.Inf(1)
	u := make([][]float64, n)
	for r := range u {
		u[r] = make([]float64, 2*d)
		for c := 0; c < d; c++ {
			xv, kv := float64(x.At(r, c)), float64(k.At(r, c))
			u[r][c] = xv
			u[r][d+c] = xv + lambda*(xv-kv)
		}
	}
	h := layer(layer(layer(u, in[2], in[3], true), in[4], in[5], true), in[6], in[7], false)
	for _, row := range h {
		out = append(out, row...)
	}
	return out, minPre
}

// hallCase draws inputs whose hidden pre-activations are all at least
// margin away from the ReLU's kink.
func hallCase(t *testing.T, seed uint64, n, d int, lambda, margin float64) hallInputs {
	t.Helper()
	return hallCaseWith(t, seed, n, d, lambda, margin, false)
}

// hallCaseWith is hallCase, with k = x when same is set.
func hallCaseWith(t *testing.T, seed uint64, n, d int, lambda, margin float64, same bool) hallInputs {
	t.Helper()
	for s := seed; s < seed+500; s++ {
		std := float32(1 / math.Sqrt(float64(2*d)))
		in := hallInputs{
			randn(s, n, d), randn(s+1, n, d),
			randScaled(s+2, std, 2*d, 2*d), randScaled(s+3, 0.3, 2*d),
			randScaled(s+4, std, 2*d, 2*d), randScaled(s+5, 0.3, 2*d),
			randScaled(s+6, std, d, 2*d), randScaled(s+7, 0.3, d),
		}
		if same {
			in[1] = in[0]
		}
		if _, m := naiveHallucinate(in, lambda); m >= margin {
			return in
		}
	}
	t.Fatalf("no inputs away from the ReLU kink for n=%d, d=%d", n, d)
	return nil
}

func TestHallucinate(t *testing.T) {
	be := ref.New()
	for i, c := range []struct {
		n, d   int
		lambda float32
	}{{1, 1, 0.05}, {3, 4, 0.1}, {5, 3, 0.02}, {2, 7, 0}} {
		t.Run(fmt.Sprintf("n=%d,d=%d,lambda=%g", c.n, c.d, c.lambda), func(t *testing.T) {
			in := hallCase(t, uint64(2800+100*i), c.n, c.d, float64(c.lambda), 0.03)
			f := func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var {
				return tp.Hallucinate(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], c.lambda)
			}
			vars := make([]*autograd.Var, len(in))
			for j, x := range in {
				vars[j] = autograd.NewVar(x, false)
			}
			y := f(autograd.NewTape(be), vars)
			want, _ := naiveHallucinate(in, float64(c.lambda))
			if !tensor.EqualShape(y.Shape(), []int{c.n, c.d}) {
				t.Fatalf("shape %v, want [%d %d]", y.Shape(), c.n, c.d)
			}
			assertClose(t, "Hallucinate", y.Value.Data(), want, 1e-5)
			// k's gradient is lambda times smaller than x's: its finite
			// differences are noisier, so the default tolerance.
			gradCheck(t, f, autograd.GradCheckOptions{Step: 1e-3, Tol: 2e-2, Seed: uint64(i)}, in...)
		})
	}
}

// TestHallucinateKeyWithoutGrad is MoCo's case: k is the momentum key.
func TestHallucinateKeyWithoutGrad(t *testing.T) {
	in := hallCase(t, 3300, 3, 4, 0.07, 0.03)
	gradCheck(t, func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var {
		k := autograd.NewVar(in[1], false)
		return tp.Hallucinate(v[0], k, v[1], v[2], v[3], v[4], v[5], v[6], 0.07)
	}, autograd.GradCheckOptions{Step: 1e-3, Tol: 2e-2, Seed: 9}, append(hallInputs{in[0]}, in[2:]...)...)
}

// TestHallucinateSameVar passes one Var as both x and k: the two gradients
// add up in it.
func TestHallucinateSameVar(t *testing.T) {
	in := hallCaseWith(t, 3500, 4, 3, 0.08, 0.03, true)
	gradCheck(t, func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var {
		return tp.Hallucinate(v[0], v[0], v[1], v[2], v[3], v[4], v[5], v[6], 0.08)
	}, autograd.GradCheckOptions{Step: 1e-3, Tol: 2e-2, Seed: 4}, append(hallInputs{in[0]}, in[2:]...)...)
}

func TestHallucinateBadShapes(t *testing.T) {
	in := hallCase(t, 3400, 2, 3, 0.05, 0)
	vars := make([]*autograd.Var, len(in))
	for j, x := range in {
		vars[j] = autograd.NewVar(x, true)
	}
	tp := autograd.NewTape(ref.New())
	mustPanic(t, "autograd: Hallucinate: w3", func() {
		tp.Hallucinate(vars[0], vars[1], vars[2], vars[3], vars[4], vars[5], vars[4], vars[7], 0.05)
	})
	mustPanic(t, "autograd: Hallucinate: k", func() {
		tp.Hallucinate(vars[0], autograd.NewVar(tensor.Zeros(3, 3), true), vars[2], vars[3], vars[4], vars[5], vars[6], vars[7], 0.05)
	})
}
