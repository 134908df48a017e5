package cpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"hallucinator/kernels/cpu/ref"
	"hallucinator/tensor"
)

// randT returns a tensor of values uniform in +-[0.1, 1] (never near zero).
func randT(rng *rand.Rand, shape ...int) *tensor.Tensor {
	t := tensor.Zeros(shape...)
	d := t.Data()
	for i := range d {
		v := 0.1 + 0.9*rng.Float32()
		if rng.IntN(2) == 0 {
			v = -v
		}
		d[i] = v
	}
	return t
}

// nanT returns a tensor full of NaN, to catch unwritten outputs.
func nanT(shape ...int) *tensor.Tensor { return tensor.Full(float32(math.NaN()), shape...) }

// relErr returns max |got-want| / max |want| (NaN anywhere gives +Inf).
func relErr(got, want []float32) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	var diff, mag float64
	for i, w := range want {
		g := float64(got[i])
		if math.IsNaN(g) || math.IsNaN(float64(w)) {
			return math.Inf(1)
		}
		diff = math.Max(diff, math.Abs(g-float64(w)))
		mag = math.Max(mag, math.Abs(float64(w)))
	}
	return diff / math.Max(mag, 1e-30)
}

// check fails the test when got and want differ by more than tol relative.
func check(t *testing.T, what string, got, want *tensor.Tensor, tol float64) {
	t.Helper()
	if !got.SameShape(want) {
		t.Fatalf("%s: shape %v, want %v", what, got.Shape(), want.Shape())
	}
	if e := relErr(got.Data(), want.Data()); e > tol {
		t.Errorf("%s: relative error %.3g > %.3g", what, e, tol)
	}
}

// newTestBackends returns the backend under test (two threads, so that the
// parallel paths run even on one core) and the reference.
func newTestBackends(t *testing.T) (*Backend, *ref.Backend) {
	t.Helper()
	b := New(Options{Threads: 2})
	t.Cleanup(func() { b.Close() })
	return b, ref.New()
}
