package ref

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"hallucinator/tensor"
)

// halluParams holds the Hallucinator's weights for feature size d.
type halluParams struct{ w1, b1, w2, b2, w3, b3 *tensor.Tensor }

func newHalluParams(rng *rand.Rand, d int) halluParams {
	sc := func(t *tensor.Tensor, s float32) *tensor.Tensor {
		for i := range t.Data() {
			t.Data()[i] *= s
		}
		return t
	}
	// Weights scaled like a fan-in initialisation, so activations stay O(1).
	s := 2 / float32(math.Sqrt(float64(2*d)))
	return halluParams{
		w1: sc(rnd(rng, 2*d, 2*d), s), b1: sc(rnd(rng, 2*d), 0.1),
		w2: sc(rnd(rng, 2*d, 2*d), s), b2: sc(rnd(rng, 2*d), 0.1),
		w3: sc(rnd(rng, d, 2*d), s), b3: sc(rnd(rng, d), 0.1),
	}
}

func TestHallucinatorForwardComposed(t *testing.T) {
	rng := tensor.NewRand(18)
	b := New()
	for _, tc := range []struct {
		n, d   int
		lambda float32
	}{{1, 1, 0.05}, {7, 5, 0.1}, {32, 128, 0.03}} {
		t.Run(fmt.Sprintf("N=%d,D=%d", tc.n, tc.d), func(t *testing.T) {
			n, d := tc.n, tc.d
			hp := newHalluParams(rng, d)
			x, k := rnd(rng, n, d), rnd(rng, n, d)
			act, out := garbage(n, 4*d), garbage(n, d)
			b.HallucinatorForward(tc.lambda, x, k, hp.w1, hp.b1, hp.w2, hp.b2, hp.w3, hp.b3, act, out)
			// The same from primitives.
			xt := tensor.Zeros(n, d)
			b.Sub(x, k, xt)
			b.Scale(tc.lambda, xt, xt)
			b.Add(x, xt, xt)
			u := tensor.Zeros(n, 2*d)
			for i := 0; i < n; i++ {
				copy(u.Data()[i*2*d:], x.Data()[i*d:(i+1)*d])
				copy(u.Data()[i*2*d+d:], xt.Data()[i*d:(i+1)*d])
			}
			layer := func(in, w, bias *tensor.Tensor, relu bool) *tensor.Tensor {
				o := tensor.Zeros(n, w.Dim(0))
				b.Gemm(false, true, 1, in, w, 0, o)
				b.BiasAdd(bias, o)
				if relu {
					b.Relu(o, o)
				}
				return o
			}
			h1 := layer(u, hp.w1, hp.b1, true)
			h2 := layer(h1, hp.w2, hp.b2, true)
			o := layer(h2, hp.w3, hp.b3, false)
			checkClose(t, "out", out.Data(), f64(o.Data()), 1e-5)
			var a1, a2 []float64
			for i := 0; i < n; i++ {
				a1 = append(a1, f64(act.Data()[i*4*d:i*4*d+2*d])...)
				a2 = append(a2, f64(act.Data()[i*4*d+2*d:(i+1)*4*d])...)
			}
			checkClose(t, "act h1", toF32(a1), f64(h1.Data()), 1e-5)
			checkClose(t, "act h2", toF32(a2), f64(h2.Data()), 1e-5)
		})
	}
}

func toF32(x []float64) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(v)
	}
	return out
}

func TestHallucinatorBackwardFiniteDifferences(t *testing.T) {
	rng := tensor.NewRand(19)
	b := New()
	for _, tc := range []struct {
		n, d   int
		lambda float32
	}{{1, 2, 0.5}, {7, 5, 0.9}, {4, 16, 0.3}} { // large lambdas keep dk well above the rounding noise
		t.Run(fmt.Sprintf("N=%d,D=%d", tc.n, tc.d), func(t *testing.T) {
			n, d := tc.n, tc.d
			hp := newHalluParams(rng, d)
			x, k := rnd(rng, n, d), rnd(rng, n, d)
			act, out := garbage(n, 4*d), garbage(n, d)
			fwd := func() { b.HallucinatorForward(tc.lambda, x, k, hp.w1, hp.b1, hp.w2, hp.b2, hp.w3, hp.b3, act, out) }
			fwd()
			r := randWeights(rng, n*d)
			dout := tensor.Zeros(n, d)
			for i := range r {
				dout.Data()[i] = float32(r[i])
			}
			dx, dk := garbage(n, d), garbage(n, d)
			dw1, db1, dw2, db2 := garbage(2*d, 2*d), garbage(2*d), garbage(2*d, 2*d), garbage(2*d)
			dw3, db3 := garbage(d, 2*d), garbage(d)
			b.HallucinatorBackward(tc.lambda, x, k, hp.w1, hp.w2, hp.w3, act, dout, dx, dk, dw1, db1, dw2, db2, dw3, db3)
			// dk may be nil; the others are unchanged then.
			dx2 := garbage(n, d)
			b.HallucinatorBackward(tc.lambda, x, k, hp.w1, hp.w2, hp.w3, act, dout, dx2, nil, dw1.Clone(), db1.Clone(), dw2.Clone(), db2.Clone(), dw3.Clone(), db3.Clone())
			checkClose(t, "dx without dk", dx2.Data(), f64(dx.Data()), 0)
			mask := make([]bool, n*4*d)
			for i, v := range act.Data() {
				mask[i] = v > 0
			}
			loss := func() float64 { fwd(); return weighted(r, out.Data()) }
			kink := func() bool {
				for i, v := range act.Data() {
					if (v > 0) != mask[i] {
						return true
					}
				}
				return false
			}
			for _, g := range []struct {
				name    string
				x, grad *tensor.Tensor
			}{{"dx", x, dx}, {"dk", k, dk}, {"dw1", hp.w1, dw1}, {"db1", hp.b1, db1}, {"dw2", hp.w2, dw2},
				{"db2", hp.b2, db2}, {"dw3", hp.w3, dw3}, {"db3", hp.b3, db3}} {
				gradCheck(t, g.name, g.x.Data(), g.grad.Data(), loss, 60, 3e-3, kink)
			}
		})
	}
}
