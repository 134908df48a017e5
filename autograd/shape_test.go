package autograd_test

import (
	"fmt"
	"testing"

	"hallucinator/autograd"
	"hallucinator/kernels/cpu/ref"
	"hallucinator/tensor"
)

func TestReshape(t *testing.T) {
	be := ref.New()
	for i, c := range []struct{ from, to []int }{
		{[]int{6}, []int{2, 3}},
		{[]int{2, 3, 4}, []int{4, -1}},
		{[]int{5, 7}, []int{35, 1}},
		{[]int{1, 1}, []int{1}},
	} {
		t.Run(fmt.Sprintf("%v->%v", c.from, c.to), func(t *testing.T) {
			x := randn(uint64(1500+i), c.from...)
			w := randn(uint64(1600+i), x.Numel())
			// The reshaped view feeds an op whose gradient depends on the
			// position of each element.
			f := func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var {
				y := tp.Reshape(in[0], c.to...)
				return tp.Mul(tp.Reshape(y, -1), autograd.NewVar(w, false))
			}
			y := autograd.NewTape(be).Reshape(autograd.NewVar(x, false), c.to...)
			if y.Value.Numel() != x.Numel() || y.Value.Storage() != x.Storage() {
				t.Fatalf("Reshape is not a view of the same elements")
			}
			gradCheck(t, f, autograd.GradCheckOptions{Seed: uint64(i)}, x)
		})
	}
}

func TestConcatRows(t *testing.T) {
	be := ref.New()
	for i, rows := range [][]int{{1}, {2, 3}, {4, 0, 1, 5}, {3, 3, 3}} {
		for _, inner := range [][]int{{5}, {2, 3}} {
			t.Run(fmt.Sprintf("rows=%v,inner=%v", rows, inner), func(t *testing.T) {
				var inputs []*tensor.Tensor
				var want []float64
				for j, r := range rows {
					x := randn(uint64(1700+10*i+j), append([]int{r}, inner...)...)
					inputs = append(inputs, x)
					want = append(want, f64(x)...)
				}
				f := func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var { return tp.ConcatRows(in...) }
				vars := make([]*autograd.Var, len(inputs))
				for j, x := range inputs {
					vars[j] = autograd.NewVar(x, false)
				}
				y := f(autograd.NewTape(be), vars)
				total := 0
				for _, r := range rows {
					total += r
				}
				if !tensor.EqualShape(y.Shape(), append([]int{total}, inner...)) {
					t.Fatalf("shape %v, want [%d %v]", y.Shape(), total, inner)
				}
				assertClose(t, "ConcatRows", y.Value.Data(), want, 0)
				gradCheck(t, f, autograd.GradCheckOptions{Seed: uint64(i)}, inputs...)
			})
		}
	}
}

// TestConcatRowsRepeated concatenates a Var with itself and another: the
// repeated Var gets the sum of both slices' gradients.
func TestConcatRowsRepeated(t *testing.T) {
	gradCheck(t, func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var {
		return tp.ConcatRows(in[0], in[1], in[0])
	}, autograd.GradCheckOptions{Seed: 1}, randn(1800, 3, 4), randn(1801, 2, 4))
}

func TestConcatRowsBadShapes(t *testing.T) {
	tp := autograd.NewTape(ref.New())
	mustPanic(t, "autograd: ConcatRows", func() {
		tp.ConcatRows(autograd.NewVar(tensor.Zeros(2, 3), true), autograd.NewVar(tensor.Zeros(2, 4), true))
	})
	mustPanic(t, "autograd: ConcatRows", func() { tp.ConcatRows() })
}

func TestRows(t *testing.T) {
	be := ref.New()
	for i, c := range []struct {
		shape  []int
		lo, hi int
	}{
		{[]int{1, 3}, 0, 1},
		{[]int{7, 3}, 2, 5},
		{[]int{5, 2, 3}, 0, 5},
		{[]int{6, 4}, 5, 6},
		{[]int{4}, 1, 3},
	} {
		t.Run(fmt.Sprintf("%v[%d:%d]", c.shape, c.lo, c.hi), func(t *testing.T) {
			x := randn(uint64(1900+i), c.shape...)
			f := func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var { return tp.Rows(in[0], c.lo, c.hi) }
			y := f(autograd.NewTape(be), []*autograd.Var{autograd.NewVar(x, false)})
			inner := x.Numel() / c.shape[0]
			assertClose(t, "Rows", y.Value.Data(), f64(x)[c.lo*inner:c.hi*inner], 0)
			gradCheck(t, f, autograd.GradCheckOptions{Seed: uint64(i)}, x)
		})
	}
}

// TestRowsOverlapping takes overlapping and disjoint row ranges of one Var
// and combines them: every range's gradient lands in its rows, and
// overlapping rows get the sum.
func TestRowsOverlapping(t *testing.T) {
	gradCheck(t, func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var {
		a := tp.Rows(in[0], 0, 4)
		b := tp.Rows(in[0], 2, 6)
		c := tp.Rows(in[0], 6, 7)
		return tp.ConcatRows(tp.Mul(a, b), c)
	}, autograd.GradCheckOptions{Seed: 2}, randn(2000, 7, 3))
}

func TestRowsOutOfRange(t *testing.T) {
	tp := autograd.NewTape(ref.New())
	x := autograd.NewVar(tensor.Zeros(3, 2), true)
	mustPanic(t, "autograd: Rows", func() { tp.Rows(x, 2, 4) })
	mustPanic(t, "autograd: Rows", func() { tp.Rows(x, 2, 1) })
}
