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
