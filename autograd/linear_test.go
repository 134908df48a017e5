package autograd_test

import (
	"fmt"
	"testing"

	"hallucinator/autograd"
	"hallucinator/kernels/cpu/ref"
	"hallucinator/tensor"
)

var matMulCases = []struct {
	m, k, n        int
	transA, transB bool
}{
	{1, 1, 1, false, false},
	{3, 5, 7, false, false},
	{4, 1, 6, false, true},
	{7, 3, 2, true, false},
	{5, 6, 3, true, true},
	{11, 13, 1, false, true},
}

// opShape returns the stored shape of an operand whose op is [r, c].
func opShape(r, c int, trans bool) []int {
	if trans {
		return []int{c, r}
	}
	return []int{r, c}
}

func TestMatMulForward(t *testing.T) {
	be := ref.New()
	for i, c := range matMulCases {
		t.Run(fmt.Sprintf("m=%d,k=%d,n=%d,tA=%v,tB=%v", c.m, c.k, c.n, c.transA, c.transB), func(t *testing.T) {
			a := randn(uint64(10+i), opShape(c.m, c.k, c.transA)...)
			b := randn(uint64(20+i), opShape(c.k, c.n, c.transB)...)
			tp := autograd.NewTape(be)
			y := tp.MatMul(autograd.NewVar(a, false), autograd.NewVar(b, false), c.transA, c.transB)
			want, m, n := naiveMatMul(a, b, c.transA, c.transB)
			if !tensor.EqualShape(y.Shape(), []int{m, n}) {
				t.Fatalf("shape %v, want [%d %d]", y.Shape(), m, n)
			}
			assertClose(t, "MatMul", y.Value.Data(), want, 1e-5)
		})
	}
}

func TestMatMulGrad(t *testing.T) {
	for i, c := range matMulCases {
		t.Run(fmt.Sprintf("m=%d,k=%d,n=%d,tA=%v,tB=%v", c.m, c.k, c.n, c.transA, c.transB), func(t *testing.T) {
			a := randn(uint64(30+i), opShape(c.m, c.k, c.transA)...)
			b := randn(uint64(40+i), opShape(c.k, c.n, c.transB)...)
			gradCheck(t, func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var {
				return tp.MatMul(in[0], in[1], c.transA, c.transB)
			}, autograd.GradCheckOptions{Seed: uint64(i)}, a, b)
		})
	}
}

// TestMatMulSameVar checks a product of a Var with itself (x x^T and x^T x),
// where both gradients accumulate into the one Var.
func TestMatMulSameVar(t *testing.T) {
	for _, c := range []struct {
		rows, cols     int
		transA, transB bool
	}{{3, 5, false, true}, {7, 2, true, false}, {4, 4, false, false}, {6, 6, true, true}} {
		t.Run(fmt.Sprintf("%dx%d,tA=%v,tB=%v", c.rows, c.cols, c.transA, c.transB), func(t *testing.T) {
			gradCheck(t, func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var {
				return tp.MatMul(in[0], in[0], c.transA, c.transB)
			}, autograd.GradCheckOptions{Seed: 3}, randn(uint64(c.rows*c.cols), c.rows, c.cols))
		})
	}
}

func TestMatMulBadShapes(t *testing.T) {
	tp := autograd.NewTape(ref.New())
	a := autograd.NewVar(tensor.Zeros(3, 4), true)
	b := autograd.NewVar(tensor.Zeros(5, 2), true)
	mustPanic(t, "autograd: MatMul", func() { tp.MatMul(a, b, false, false) })
	mustPanic(t, "autograd: MatMul", func() { tp.MatMul(a, autograd.NewVar(tensor.Zeros(4), true), false, false) })
}

func TestLinear(t *testing.T) {
	be := ref.New()
	for i, c := range []struct {
		n, in, out int
		bias       bool
	}{{1, 1, 1, true}, {3, 5, 7, true}, {8, 3, 2, false}, {2, 13, 11, true}, {5, 1, 9, false}} {
		t.Run(fmt.Sprintf("n=%d,in=%d,out=%d,bias=%v", c.n, c.in, c.out, c.bias), func(t *testing.T) {
			x := randn(uint64(50+i), c.n, c.in)
			w := randn(uint64(60+i), c.out, c.in)
			b := randn(uint64(70+i), c.out)
			f := func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var {
				if c.bias {
					return tp.Linear(in[0], in[1], in[2])
				}
				return tp.Linear(in[0], in[1], nil)
			}
			// Forward against x w^T + b.
			tp := autograd.NewTape(be)
			y := f(tp, []*autograd.Var{autograd.NewVar(x, false), autograd.NewVar(w, false), autograd.NewVar(b, false)})
			want, _, _ := naiveMatMul(x, w, false, true)
			if c.bias {
				for r := 0; r < c.n; r++ {
					for o := 0; o < c.out; o++ {
						want[r*c.out+o] += float64(b.At(o))
					}
				}
			}
			assertClose(t, "Linear", y.Value.Data(), want, 1e-5)
			inputs := []*tensor.Tensor{x, w}
			if c.bias {
				inputs = append(inputs, b)
			}
			gradCheck(t, f, autograd.GradCheckOptions{Seed: uint64(i)}, inputs...)
		})
	}
}
