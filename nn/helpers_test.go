package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"hallucinator/autograd"
	"hallucinator/tensor"
)

// randT returns a host tensor of normal samples (never zeros).
func randT(rng *rand.Rand, std float32, shape ...int) *tensor.Tensor {
	return tensor.RandN(rng, 0, std, shape...)
}

// relErr returns max|got-want| / max(max|want|, tiny).
func relErr(got, want []float64) float64 {
	var diff, scale float64
	for i := range want {
		diff = math.Max(diff, math.Abs(got[i]-want[i]))
		scale = math.Max(scale, math.Abs(want[i]))
	}
	return diff / math.Max(scale, 1e-30)
}

func f64(t *tensor.Tensor) []float64 {
	d := t.Contiguous().Data()
	out := make([]float64, len(d))
	for i, v := range d {
		out[i] = float64(v)
	}
	return out
}

func checkClose(t *testing.T, what string, got *tensor.Tensor, want []float64, tol float64) {
	t.Helper()
	g := f64(got)
	if len(g) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(g), len(want))
	}
	if e := relErr(g, want); !(e <= tol) {
		t.Fatalf("%s: relative error %.3g > %.3g", what, e, tol)
	}
}

// constVar wraps a host tensor as an input that needs no gradient.
func constVar(t *tensor.Tensor) *autograd.Var { return autograd.NewVar(t, false) }

func names[T any](xs []T, name func(T) string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = name(x)
	}
	return out
}

func paramNames(ps []Param) []string   { return names(ps, func(p Param) string { return p.Name }) }
func bufferNames(bs []Buffer) []string { return names(bs, func(b Buffer) string { return b.Name }) }

func sameStrings(a, b []string) error {
	if len(a) != len(b) {
		return fmt.Errorf("%d names %v, want %d %v", len(a), a, len(b), b)
	}
	for i := range a {
		if a[i] != b[i] {
			return fmt.Errorf("name %d is %q, want %q (got %v)", i, a[i], b[i], a)
		}
	}
	return nil
}
