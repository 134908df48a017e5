package autograd_test

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"hallucinator/autograd"
	"hallucinator/kernels/cpu/ref"
	"hallucinator/tensor"
)

// cube is x^3 element-wise as a custom op, with its backward scaled by
// wrong (1 for the right gradient) and element skip left out (-1: none).
func cube(tp *autograd.Tape, x *autograd.Var, wrong float32, skip int) *autograd.Var {
	be := tp.Backend()
	sq := be.Zeros(x.Shape()...)
	be.Mul(x.Value, x.Value, sq)
	y := be.Zeros(x.Shape()...)
	be.Mul(sq, x.Value, y)
	return tp.Record(y, []*autograd.Var{x}, func(dy *tensor.Tensor) {
		g := be.Zeros(x.Shape()...)
		be.Mul(dy, sq, g)
		be.Scale(3*wrong, g, g)
		if skip >= 0 {
			h := be.ToHost(g)
			h.Data()[skip] = 0
			g = be.FromHost(h)
		}
		tp.Accumulate(x, g)
	})
}

func TestGradCheckCatchesErrors(t *testing.T) {
	x := awayFromZero(3500, 0.2, 4, 5)
	for _, c := range []struct {
		name  string
		wrong float32
		skip  int
		want  string // "" for success
	}{
		{"right", 1, -1, ""},
		{"scaled", 1.1, -1, "input 0 [4 5]"},
		{"sign", -1, -1, "of 20 elements disagree"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := autograd.GradCheck(ref.New(), func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var {
				return cube(tp, in[0], c.wrong, c.skip)
			}, []*tensor.Tensor{x}, autograd.GradCheckOptions{})
			switch {
			case c.want == "" && err != nil:
				t.Fatal(err)
			case c.want != "" && err == nil:
				t.Fatal("GradCheck passed a wrong gradient")
			case c.want != "" && !strings.Contains(err.Error(), c.want):
				t.Fatalf("error %q does not contain %q", err, c.want)
			}
		})
	}
}

// TestGradCheckOneElement drops the gradient of one element at a time. The
// true gradient of sum(x^3 * R) is 3x^2 R with R drawn as documented, so
// the test knows which drops are large enough next to the input's typical
// gradient to be caught, and that the error names the element.
func TestGradCheckOneElement(t *testing.T) {
	const seed, tol = 11, 2e-2
	x := awayFromZero(3500, 0.2, 4, 5)
	r := tensor.RandN(tensor.NewRand(seed), 0, 1, 4, 5)
	g := make([]float64, x.Numel())
	var ss float64
	for j, v := range x.Data() {
		g[j] = 3 * float64(v) * float64(v) * float64(r.Data()[j])
		ss += g[j] * g[j]
	}
	scale := math.Sqrt(ss / float64(len(g)))
	caught := 0
	for j := range g {
		err := autograd.GradCheck(ref.New(), func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var {
			return cube(tp, in[0], 1, j)
		}, []*tensor.Tensor{x}, autograd.GradCheckOptions{Seed: seed, Tol: tol})
		lim := tol * scale
		switch {
		case err == nil && math.Abs(g[j]) > 1.1*lim:
			t.Errorf("element %d: a dropped gradient of %g passed (limit %g)", j, g[j], lim)
		case err != nil && math.Abs(g[j]) < 0.9*lim:
			t.Errorf("element %d: a dropped gradient of %g failed (limit %g): %v", j, g[j], lim, err)
		case err != nil:
			caught++
			if want := fmt.Sprintf("element [%d %d]", j/5, j%5); !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not name %s", err, want)
			}
		}
	}
	if caught == 0 {
		t.Fatal("no dropped element caught")
	}
	t.Logf("%d of %d dropped elements caught", caught, len(g))
}

// TestGradCheckMissingGradient checks that a Detach hiding a real
// dependence is caught: the analytic gradient is zero, the numeric one not.
func TestGradCheckMissingGradient(t *testing.T) {
	err := autograd.GradCheck(ref.New(), func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var {
		return tp.Mul(tp.Detach(in[0]), in[1])
	}, []*tensor.Tensor{randn(3600, 3, 3), randn(3601, 3, 3)}, autograd.GradCheckOptions{})
	if err == nil || !strings.Contains(err.Error(), "input 0") {
		t.Fatalf("error %v, want one naming input 0", err)
	}
}

func TestGradCheckLeavesInputs(t *testing.T) {
	x := randn(3700, 2, 3)
	before := x.Clone()
	if err := autograd.GradCheck(ref.New(), func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var {
		return tp.Mul(in[0], in[0])
	}, []*tensor.Tensor{x}, autograd.GradCheckOptions{}); err != nil {
		t.Fatal(err)
	}
	for i, v := range x.Data() {
		if v != before.Data()[i] {
			t.Fatalf("input changed at %d: %g, was %g", i, v, before.Data()[i])
		}
	}
}

func TestGradCheckBadArguments(t *testing.T) {
	be := ref.New()
	id := func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var { return in[0] }
	if err := autograd.GradCheck(be, id, nil, autograd.GradCheckOptions{}); err == nil {
		t.Error("no error for no inputs")
	}
	if err := autograd.GradCheck(be, id, []*tensor.Tensor{nil}, autograd.GradCheckOptions{}); err == nil {
		t.Error("no error for a nil input")
	}
	nilOut := func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var { return nil }
	if err := autograd.GradCheck(be, nilOut, []*tensor.Tensor{randn(1, 2)}, autograd.GradCheckOptions{}); err == nil {
		t.Error("no error for a nil output")
	}
	// The identity is its own test: its gradient is R itself.
	if err := autograd.GradCheck(be, id, []*tensor.Tensor{randn(2, 3)}, autograd.GradCheckOptions{}); err != nil {
		t.Error(err)
	}
}
