package autograd_test

import (
	"fmt"
	"testing"

	"hallucinator/autograd"
	"hallucinator/kernels"
	"hallucinator/kernels/cpu/ref"
	"hallucinator/tensor"
)

func TestConv2dGrad(t *testing.T) {
	for i, c := range []struct {
		x, w []int
		p    kernels.ConvParams
	}{
		{[]int{1, 1, 3, 3}, []int{1, 1, 3, 3}, kernels.ConvParams{StrideH: 1, StrideW: 1}},
		{[]int{2, 3, 7, 6}, []int{4, 3, 3, 3}, kernels.ConvParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}},
		{[]int{2, 2, 9, 7}, []int{3, 2, 3, 2}, kernels.ConvParams{StrideH: 2, StrideW: 3, PadH: 1, PadW: 0}},
		{[]int{3, 5, 5, 5}, []int{2, 5, 1, 1}, kernels.ConvParams{StrideH: 2, StrideW: 2}},
		{[]int{1, 2, 4, 5}, []int{3, 2, 5, 5}, kernels.ConvParams{StrideH: 1, StrideW: 1, PadH: 2, PadW: 2}},
	} {
		t.Run(fmt.Sprintf("x=%v,w=%v,%+v", c.x, c.w, c.p), func(t *testing.T) {
			x := randn(uint64(100+i), c.x...)
			w := randScaled(uint64(200+i), 0.5, c.w...)
			gradCheck(t, func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var {
				y := tp.Conv2d(in[0], in[1], c.p)
				P, Q := c.p.OutSize(c.x[2], c.x[3], c.w[2], c.w[3])
				if !tensor.EqualShape(y.Shape(), []int{c.x[0], c.w[0], P, Q}) {
					t.Fatalf("shape %v, want [%d %d %d %d]", y.Shape(), c.x[0], c.w[0], P, Q)
				}
				return y
			}, autograd.GradCheckOptions{Seed: uint64(i)}, x, w)
		})
	}
}

func TestConv2dBadShapes(t *testing.T) {
	tp := autograd.NewTape(ref.New())
	x := autograd.NewVar(tensor.Zeros(1, 3, 5, 5), true)
	one := kernels.ConvParams{StrideH: 1, StrideW: 1}
	mustPanic(t, "autograd: Conv2d", func() { tp.Conv2d(x, autograd.NewVar(tensor.Zeros(2, 4, 3, 3), true), one) })
	mustPanic(t, "autograd: Conv2d", func() { tp.Conv2d(x, autograd.NewVar(tensor.Zeros(2, 3, 7, 7), true), one) })
	mustPanic(t, "autograd: Conv2d", func() { tp.Conv2d(x, autograd.NewVar(tensor.Zeros(2, 3, 3, 3), true), kernels.ConvParams{}) })
}

func TestBiasAdd(t *testing.T) {
	be := ref.New()
	for i, shape := range [][]int{{1, 1}, {5, 3}, {2, 3, 4, 5}, {3, 7, 1, 2}, {4, 2, 3}} {
		t.Run(fmt.Sprint(shape), func(t *testing.T) {
			x := randn(uint64(300+i), shape...)
			b := randn(uint64(400+i), shape[1])
			f := func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var { return tp.BiasAdd(in[0], in[1]) }
			y := f(autograd.NewTape(be), []*autograd.Var{autograd.NewVar(x, false), autograd.NewVar(b, false)})
			want := f64(x)
			inner := tensor.Numel(shape[2:])
			for j := range want {
				want[j] += float64(b.At((j / inner) % shape[1]))
			}
			assertClose(t, "BiasAdd", y.Value.Data(), want, 1e-6)
			gradCheck(t, f, autograd.GradCheckOptions{Seed: uint64(i)}, x, b)
		})
	}
}
