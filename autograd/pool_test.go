package autograd_test

import (
	"fmt"
	"testing"

	"hallucinator/autograd"
	"hallucinator/kernels"
	"hallucinator/kernels/cpu/ref"
	"hallucinator/tensor"
)

func TestMaxPool2dGrad(t *testing.T) {
	for i, c := range []struct {
		x []int
		p kernels.PoolParams
	}{
		{[]int{1, 1, 2, 2}, kernels.PoolParams{KH: 2, KW: 2, StrideH: 2, StrideW: 2}},
		{[]int{2, 3, 7, 9}, kernels.PoolParams{KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}},
		{[]int{1, 2, 5, 6}, kernels.PoolParams{KH: 2, KW: 3, StrideH: 1, StrideW: 2}},
		{[]int{3, 1, 4, 4}, kernels.PoolParams{KH: 3, KW: 2, StrideH: 1, StrideW: 1, PadH: 1, PadW: 0}},
	} {
		t.Run(fmt.Sprintf("x=%v,%+v", c.x, c.p), func(t *testing.T) {
			// Values a step of 0.5 apart and a finite-difference step of
			// 1e-3 relative: no window's maximum changes place.
			x := distinct(uint64(1000+i), c.x...)
			gradCheck(t, func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var {
				y := tp.MaxPool2d(in[0], c.p)
				P, Q := c.p.OutSize(c.x[2], c.x[3])
				if !tensor.EqualShape(y.Shape(), []int{c.x[0], c.x[1], P, Q}) {
					t.Fatalf("shape %v, want [%d %d %d %d]", y.Shape(), c.x[0], c.x[1], P, Q)
				}
				return y
			}, autograd.GradCheckOptions{Step: 1e-3, Seed: uint64(i)}, x)
		})
	}
}

func TestMaxPool2dBadParams(t *testing.T) {
	tp := autograd.NewTape(ref.New())
	x := autograd.NewVar(tensor.Zeros(1, 1, 4, 4), true)
	mustPanic(t, "autograd: MaxPool2d", func() { tp.MaxPool2d(x, kernels.PoolParams{KH: 2, KW: 2}) })
	mustPanic(t, "autograd: MaxPool2d", func() { tp.MaxPool2d(x, kernels.PoolParams{KH: 5, KW: 5, StrideH: 1, StrideW: 1}) })
	mustPanic(t, "autograd: MaxPool2d", func() {
		tp.MaxPool2d(autograd.NewVar(tensor.Zeros(4, 4), true), kernels.PoolParams{KH: 2, KW: 2, StrideH: 1, StrideW: 1})
	})
}

func TestGlobalAvgPool(t *testing.T) {
	be := ref.New()
	for i, shape := range [][]int{{1, 1, 1, 1}, {2, 3, 4, 5}, {3, 2, 7, 1}, {1, 5, 3, 3}} {
		t.Run(fmt.Sprint(shape), func(t *testing.T) {
			x := randn(uint64(1100+i), shape...)
			f := func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var { return tp.GlobalAvgPool(in[0]) }
			y := f(autograd.NewTape(be), []*autograd.Var{autograd.NewVar(x, false)})
			hw := shape[2] * shape[3]
			want := make([]float64, shape[0]*shape[1])
			for j, v := range x.Data() {
				want[j/hw] += float64(v) / float64(hw)
			}
			assertClose(t, "GlobalAvgPool", y.Value.Data(), want, 1e-5)
			gradCheck(t, f, autograd.GradCheckOptions{Seed: uint64(i)}, x)
		})
	}
}
