package autograd_test

import (
	"fmt"
	"testing"

	"hallucinator/autograd"
	"hallucinator/kernels/cpu/ref"
	"hallucinator/tensor"
)

var elementShapes = [][]int{{1}, {7}, {3, 5}, {2, 3, 4}, {1, 11, 1, 3}}

func TestElementwise(t *testing.T) {
	be := ref.New()
	ops := []struct {
		name string
		f    func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var
		want func(a, b float64) float64
	}{
		{"Add", func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var { return tp.Add(in[0], in[1]) },
			func(a, b float64) float64 { return a + b }},
		{"Sub", func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var { return tp.Sub(in[0], in[1]) },
			func(a, b float64) float64 { return a - b }},
		{"Mul", func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var { return tp.Mul(in[0], in[1]) },
			func(a, b float64) float64 { return a * b }},
		{"Scale", func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var { return tp.Scale(-2.5, in[0]) },
			func(a, b float64) float64 { return -2.5 * a }},
	}
	for k, op := range ops {
		for i, shape := range elementShapes {
			t.Run(fmt.Sprintf("%s/%v", op.name, shape), func(t *testing.T) {
				a := randn(uint64(1200+10*k+i), shape...)
				b := randn(uint64(1300+10*k+i), shape...)
				y := op.f(autograd.NewTape(be), []*autograd.Var{autograd.NewVar(a, false), autograd.NewVar(b, false)})
				if !tensor.EqualShape(y.Shape(), shape) {
					t.Fatalf("shape %v, want %v", y.Shape(), shape)
				}
				want := make([]float64, len(a.Data()))
				for j := range want {
					want[j] = op.want(float64(a.Data()[j]), float64(b.Data()[j]))
				}
				assertClose(t, op.name, y.Value.Data(), want, 1e-6)
				gradCheck(t, op.f, autograd.GradCheckOptions{Seed: uint64(i)}, a, b)
			})
		}
	}
}

func TestElementwiseShapeMismatch(t *testing.T) {
	tp := autograd.NewTape(ref.New())
	a := autograd.NewVar(tensor.Zeros(2, 3), true)
	b := autograd.NewVar(tensor.Zeros(3, 2), true)
	mustPanic(t, "autograd: Add", func() { tp.Add(a, b) })
	mustPanic(t, "autograd: Sub", func() { tp.Sub(a, b) })
	mustPanic(t, "autograd: Mul", func() { tp.Mul(a, b) })
}

func TestReductions(t *testing.T) {
	be := ref.New()
	for i, shape := range elementShapes {
		x := randn(uint64(1400+i), shape...)
		var sum float64
		for _, v := range x.Data() {
			sum += float64(v)
		}
		n := float64(x.Numel())
		t.Run(fmt.Sprintf("Sum/%v", shape), func(t *testing.T) {
			f := func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var { return tp.Sum(in[0]) }
			y := f(autograd.NewTape(be), []*autograd.Var{autograd.NewVar(x, false)})
			if !tensor.EqualShape(y.Shape(), []int{1}) {
				t.Fatalf("shape %v, want [1]", y.Shape())
			}
			assertClose(t, "Sum", y.Value.Data(), []float64{sum}, 1e-5)
			gradCheck(t, f, autograd.GradCheckOptions{Seed: uint64(i)}, x)
		})
		t.Run(fmt.Sprintf("Mean/%v", shape), func(t *testing.T) {
			f := func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var { return tp.Mean(in[0]) }
			y := f(autograd.NewTape(be), []*autograd.Var{autograd.NewVar(x, false)})
			assertClose(t, "Mean", y.Value.Data(), []float64{sum / n}, 1e-5)
			gradCheck(t, f, autograd.GradCheckOptions{Seed: uint64(i)}, x)
		})
		t.Run(fmt.Sprintf("RowSum/%v", shape), func(t *testing.T) {
			f := func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var { return tp.RowSum(in[0]) }
			y := f(autograd.NewTape(be), []*autograd.Var{autograd.NewVar(x, false)})
			m := shape[0]
			want := make([]float64, m)
			for j, v := range x.Data() {
				want[j/(x.Numel()/m)] += float64(v)
			}
			assertClose(t, "RowSum", y.Value.Data(), want, 1e-5)
			gradCheck(t, f, autograd.GradCheckOptions{Seed: uint64(i)}, x)
		})
	}
}

// TestResidualAdd checks the gradients of residual connections, where the
// tape hands an Add's output gradient buffer to one of its inputs: both
// branches computed, the shortcut also feeding the branch (on either side of
// the Add), one Var on both sides, a leaf shortcut, Subs (the second input's
// gradient is scaled by -1, never handed over), and a chain of blocks.
func TestResidualAdd(t *testing.T) {
	type fn = func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var
	// branch is a small non-linear layer: (h w)^2 elementwise times h.
	branch := func(tp *autograd.Tape, h, w *autograd.Var) *autograd.Var {
		y := tp.Linear(h, w, nil)
		return tp.Mul(tp.Mul(y, y), h)
	}
	for _, tc := range []struct {
		name string
		f    fn
	}{
		{"both branches", func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var {
			return tp.Add(branch(tp, in[0], in[1]), tp.Linear(in[0], in[2], nil))
		}},
		{"shortcut feeds the branch", func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var {
			h := tp.Linear(in[0], in[1], nil)
			return tp.Add(branch(tp, h, in[2]), h)
		}},
		{"shortcut first", func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var {
			h := tp.Linear(in[0], in[1], nil)
			return tp.Add(h, branch(tp, h, in[2]))
		}},
		{"same Var on both sides", func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var {
			h := tp.Linear(in[0], in[1], nil)
			return tp.Mul(tp.Add(h, h), tp.Linear(h, in[2], nil))
		}},
		{"leaf shortcut", func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var {
			return tp.Add(branch(tp, in[0], in[1]), in[0])
		}},
		{"Sub", func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var {
			h := tp.Linear(in[0], in[1], nil)
			return tp.Sub(branch(tp, h, in[2]), h)
		}},
		{"Sub from a leaf", func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var {
			return tp.Sub(in[0], branch(tp, in[0], in[1]))
		}},
		{"chain", func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var {
			h := tp.Linear(in[0], in[1], nil)
			for range 3 {
				h = tp.Add(branch(tp, h, in[2]), h)
			}
			return tp.Reshape(h, -1)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := randScaled(1500, 0.5, 5, 7)
			w1 := randScaled(1501, 0.4, 7, 7)
			w2 := randScaled(1502, 0.4, 7, 7)
			gradCheck(t, tc.f, autograd.GradCheckOptions{Seed: 15}, x, w1, w2)
		})
	}
}
