package autograd_test

import (
	"fmt"
	"math"
	"testing"

	"hallucinator/autograd"
	"hallucinator/kernels/cpu/ref"
)

func TestRelu(t *testing.T) {
	be := ref.New()
	for i, shape := range [][]int{{1}, {7}, {3, 5}, {2, 3, 4, 5}, {1, 13, 1, 3}} {
		t.Run(fmt.Sprint(shape), func(t *testing.T) {
			x := awayFromZero(uint64(900+i), 0.05, shape...)
			f := func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var { return tp.Relu(in[0]) }
			y := f(autograd.NewTape(be), []*autograd.Var{autograd.NewVar(x, false)})
			want := f64(x)
			for j := range want {
				want[j] = math.Max(want[j], 0)
			}
			assertClose(t, "Relu", y.Value.Data(), want, 0)
			gradCheck(t, f, autograd.GradCheckOptions{Seed: uint64(i)}, x)
		})
	}
}
