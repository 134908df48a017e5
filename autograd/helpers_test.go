package autograd_test

import (
	"math"
	"strings"
	"testing"

	"hallucinator/autograd"
	"hallucinator/kernels/cpu/ref"
	"hallucinator/tensor"
)

// randn returns a host tensor of standard normal samples from seed.
func randn(seed uint64, shape ...int) *tensor.Tensor {
	return tensor.RandN(tensor.NewRand(seed), 0, 1, shape...)
}

// randScaled returns normal samples of standard deviation std.
func randScaled(seed uint64, std float32, shape ...int) *tensor.Tensor {
	return tensor.RandN(tensor.NewRand(seed), 0, std, shape...)
}

// awayFromZero returns normal samples pushed at least m away from 0, so
// that finite differences never cross a ReLU's kink.
func awayFromZero(seed uint64, m float32, shape ...int) *tensor.Tensor {
	t := randn(seed, shape...)
	d := t.Data()
	for i, v := range d {
		if v < 0 {
			d[i] = v - m
		} else {
			d[i] = v + m
		}
	}
	return t
}

// distinct returns a random permutation of well separated values (steps of
// 0.5 around 0, never 0), so that max-pool windows have no near ties.
func distinct(seed uint64, shape ...int) *tensor.Tensor {
	n := tensor.Numel(shape)
	perm := tensor.NewRand(seed).Perm(n)
	t := tensor.Zeros(shape...)
	d := t.Data()
	for i, p := range perm {
		d[i] = 0.5 * (float32(p) - float32(n)/2 + 0.25)
	}
	return t
}

// testTol is the GradCheck tolerance of these tests unless they say
// otherwise: the reference backend's gradients agree with finite
// differences to about 1e-3 of their scale, so 5e-3 still catches an error
// of one per cent.
const testTol = 5e-3

// gradCheck runs autograd.GradCheck on the reference backend (with testTol
// when o.Tol is 0) and fails the test with its error.
func gradCheck(t *testing.T, f func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var, o autograd.GradCheckOptions, inputs ...*tensor.Tensor) {
	t.Helper()
	if o.Tol == 0 {
		o.Tol = testTol
	}
	if err := autograd.GradCheck(ref.New(), f, inputs, o); err != nil {
		t.Fatal(err)
	}
}

// assertClose fails unless got and want agree within rtol relative to
// max(|want[i]|, the root mean square of want).
func assertClose(t *testing.T, what string, got []float32, want []float64, rtol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	var ss float64
	for _, w := range want {
		ss += w * w
	}
	rms := 0.0
	if len(want) > 0 {
		rms = math.Sqrt(ss / float64(len(want)))
	}
	for i := range got {
		lim := rtol * math.Max(math.Abs(want[i]), rms)
		if d := math.Abs(float64(got[i]) - want[i]); !(d <= lim) {
			t.Fatalf("%s: element %d is %g, want %g (|diff| %g > %g)", what, i, got[i], want[i], d, lim)
		}
	}
}

// f64 returns a float64 copy of a host tensor's values.
func f64(t *tensor.Tensor) []float64 {
	d := t.Contiguous().Data()
	out := make([]float64, len(d))
	for i, v := range d {
		out[i] = float64(v)
	}
	return out
}

// mustPanic fails unless f panics with a message containing want.
func mustPanic(t *testing.T, want string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Fatalf("no panic, want one containing %q", want)
		}
		msg, _ := r.(string)
		if !strings.Contains(msg, want) {
			t.Fatalf("panic %v, want one containing %q", r, want)
		}
	}()
	f()
}

// naiveMatMul returns op(a) op(b) in float64 for host a, b.
func naiveMatMul(a, b *tensor.Tensor, transA, transB bool) (out []float64, m, n int) {
	at, bt := a, b
	if transA {
		at = a.T()
	}
	if transB {
		bt = b.T()
	}
	m, k, n := at.Dim(0), at.Dim(1), bt.Dim(1)
	out = make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for l := 0; l < k; l++ {
				s += float64(at.At(i, l)) * float64(bt.At(l, j))
			}
			out[i*n+j] = s
		}
	}
	return out, m, n
}
