package autograd_test

import (
	"fmt"
	"testing"

	"hallucinator/autograd"
	"hallucinator/kernels/cpu/ref"
)

func TestGatherRows(t *testing.T) {
	be := ref.New()
	for i, c := range []struct {
		shape []int
		idx   []int32
	}{
		{[]int{4, 3}, []int32{2, 0, 3, 1}},       // a permutation
		{[]int{5, 2, 2}, []int32{1, 1, 4, 1, 0}}, // repeats, row 2 and 3 left out
		{[]int{3}, []int32{2}},                   // one element a row
		{[]int{6, 7}, []int32{}},                 // nothing gathered
	} {
		t.Run(fmt.Sprintf("%v/%v", c.shape, c.idx), func(t *testing.T) {
			x := randn(uint64(2100+i), c.shape...)
			y := autograd.NewTape(be).GatherRows(autograd.NewVar(x, false), c.idx)
			d := x.Numel() / c.shape[0]
			var want []float64
			for _, r := range c.idx {
				want = append(want, f64(x)[int(r)*d:(int(r)+1)*d]...)
			}
			assertClose(t, "GatherRows", y.Value.Data(), want, 0)
			if len(c.idx) == 0 {
				return
			}
			w := randn(uint64(2200+i), y.Value.Numel())
			f := func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var {
				g := tp.GatherRows(in[0], c.idx)
				// Twice, so that the gradient accumulates into x's.
				g2 := tp.GatherRows(in[0], c.idx)
				return tp.Add(tp.Mul(tp.Reshape(g, -1), autograd.NewVar(w, false)), tp.Reshape(g2, -1))
			}
			gradCheck(t, f, autograd.GradCheckOptions{Seed: uint64(i)}, x)
		})
	}
}
