package ref

import (
	"math"
	"math/rand/v2"
	"testing"

	"hallucinator/tensor"
)

// rnd returns a host tensor of values in [-1, -0.05] U [0.05, 1].
func rnd(rng *rand.Rand, shape ...int) *tensor.Tensor {
	t := tensor.Zeros(shape...)
	for i := range t.Data() {
		v := 0.05 + 0.95*rng.Float32()
		if rng.IntN(2) == 0 {
			v = -v
		}
		t.Data()[i] = v
	}
	return t
}

// garbage returns a tensor filled with large values no method would write.
func garbage(shape ...int) *tensor.Tensor { return tensor.Full(-1234.5, shape...) }

// relErr is max |got - want| / max(max |want|, 1e-30); NaN in got gives +Inf.
func relErr(got []float32, want []float64) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	var diff, mx float64
	for i, g := range got {
		if math.IsNaN(float64(g)) || math.IsInf(float64(g), 0) {
			return math.Inf(1)
		}
		diff = math.Max(diff, math.Abs(float64(g)-want[i]))
		mx = math.Max(mx, math.Abs(want[i]))
	}
	return diff / math.Max(mx, 1e-30)
}

// f64 converts a float32 slice.
func f64(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

// checkClose fails unless relErr(got, want) <= tol.
func checkClose(t *testing.T, what string, got []float32, want []float64, tol float64) {
	t.Helper()
	if e := relErr(got, want); !(e <= tol) {
		t.Errorf("%s: relative error %.3g > %.3g", what, e, tol)
	}
}

// weighted returns sum_i r[i]*y[i] in float64: a randomly weighted loss.
func weighted(r []float64, y []float32) float64 {
	var s float64
	for i, v := range y {
		s += r[i] * float64(v)
	}
	return s
}

// randWeights returns n weights in [-1, 1).
func randWeights(rng *rand.Rand, n int) []float64 {
	r := make([]float64, n)
	for i := range r {
		r[i] = 2*rng.Float64() - 1
	}
	return r
}

// gradCheck compares the analytic gradient ana of loss with respect to x
// against central differences (step 1e-2 relative) at up to max
// coordinates, in place on x. skip, when not nil, is called after each pair
// of evaluations and reports whether the coordinate crossed a kink (then it
// is not compared). The error is relative to the largest analytic entry.
func gradCheck(t *testing.T, what string, x, ana []float32, loss func() float64, maxN int, tol float64, skip func() bool) {
	t.Helper()
	var scale float64
	for _, v := range ana {
		scale = math.Max(scale, math.Abs(float64(v)))
	}
	if scale == 0 {
		t.Fatalf("%s: analytic gradient is all zero", what)
	}
	step := 1
	if len(x) > maxN {
		step = len(x)/maxN + 1
	}
	checked := 0
	for i := 0; i < len(x); i += step {
		old := x[i]
		h := float32(1e-2 * math.Max(1, math.Abs(float64(old))))
		x[i] = old + h
		lp := loss()
		kink := skip != nil && skip()
		x[i] = old - h
		lm := loss()
		kink = kink || (skip != nil && skip())
		x[i] = old
		if kink {
			continue
		}
		num := (lp - lm) / (float64(old+h) - float64(old-h))
		if d := math.Abs(num - float64(ana[i])); !(d <= tol*scale) {
			t.Errorf("%s[%d]: numeric %.6g, analytic %.6g (scale %.3g)", what, i, num, ana[i], scale)
			return
		}
		checked++
	}
	if checked == 0 {
		t.Fatalf("%s: no coordinate checked", what)
	}
}
