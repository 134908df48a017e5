package autograd_test

import (
	"testing"

	"hallucinator/autograd"
	"hallucinator/kernels"
	"hallucinator/kernels/cpu/ref"
	"hallucinator/tensor"
)

func TestDetachGivesNoGradient(t *testing.T) {
	tp := autograd.NewTape(ref.New())
	a := autograd.NewVar(randn(4000, 3, 4), true)
	b := autograd.NewVar(randn(4001, 3, 4), true)
	d := tp.Detach(a)
	if d.RequiresGrad || d.Value != a.Value {
		t.Fatalf("Detach: RequiresGrad %v, same value %v", d.RequiresGrad, d.Value == a.Value)
	}
	tp.Backward(tp.Sum(tp.Mul(d, b)))
	if a.HasGrad() {
		t.Error("a detached Var's source got a gradient")
	}
	if !b.HasGrad() {
		t.Fatal("b got no gradient")
	}
	assertClose(t, "db", b.Grad.Data(), f64(a.Value), 0)
}

func TestNoGradRecordsNothing(t *testing.T) {
	tp := autograd.NewTape(ref.New())
	x := autograd.NewVar(randn(4100, 2, 3), true)
	w := autograd.NewVar(randn(4101, 4, 3), true)
	var y *autograd.Var
	tp.NoGrad(func() {
		y = tp.Sum(tp.Relu(tp.Linear(x, w, nil)))
		if tp.Recording() {
			t.Error("Recording inside NoGrad")
		}
	})
	if !tp.Recording() {
		t.Error("not Recording after NoGrad")
	}
	if y.RequiresGrad {
		t.Fatal("an op inside NoGrad requires a gradient")
	}
	tp.Backward(y)
	if x.HasGrad() || w.HasGrad() {
		t.Fatal("gradients from a NoGrad computation")
	}
	// Recording resumes: the same computation now reaches both.
	tp.Backward(tp.Sum(tp.Linear(x, w, nil)))
	if !x.HasGrad() || !w.HasGrad() {
		t.Fatal("no gradients after NoGrad ended")
	}
}

// TestUsedTwice checks that a Var used twice in one computation gets the
// sum of both uses' gradients, and that Backward calls accumulate until
// ZeroGrad.
func TestUsedTwice(t *testing.T) {
	be := ref.New()
	x := randn(4200, 5)
	xv := autograd.NewVar(x, true)
	tp := autograd.NewTape(be)
	// y = sum(x*x + 3x): dy/dx = 2x + 3.
	tp.Backward(tp.Sum(tp.Add(tp.Mul(xv, xv), tp.Scale(3, xv))))
	want := f64(x)
	for i := range want {
		want[i] = 2*want[i] + 3
	}
	assertClose(t, "grad", xv.Grad.Data(), want, 1e-6)
	tp.Backward(tp.Sum(tp.Scale(2, xv)))
	for i := range want {
		want[i] += 2
	}
	assertClose(t, "accumulated grad", xv.Grad.Data(), want, 1e-6)
	autograd.ZeroGrad([]*autograd.Var{xv})
	if xv.HasGrad() {
		t.Fatal("HasGrad after ZeroGrad")
	}
	tp.Backward(tp.Sum(tp.Scale(-1, xv)))
	for i := range want {
		want[i] = -1
	}
	assertClose(t, "grad after ZeroGrad", xv.Grad.Data(), want, 0)
}

func TestBackwardNonScalarPanics(t *testing.T) {
	tp := autograd.NewTape(ref.New())
	x := autograd.NewVar(randn(4300, 2, 2), true)
	mustPanic(t, "autograd: Backward", func() { tp.Backward(tp.Relu(x)) })
}

// TestIntermediateGradientsReleased checks that Backward leaves gradients
// only on leaves.
func TestIntermediateGradientsReleased(t *testing.T) {
	tp := autograd.NewTape(ref.New())
	x := autograd.NewVar(randn(4400, 3, 3), true)
	h := tp.Mul(x, x)
	loss := tp.Sum(h)
	tp.Backward(loss)
	if h.Grad != nil || loss.Grad != nil {
		t.Error("intermediate gradients kept after Backward")
	}
	if !x.HasGrad() {
		t.Error("leaf has no gradient")
	}
}

// TestAccumulatePaths runs every op on a Var that already holds a gradient
// when the op's backward runs (y = f(x) + 0.5 f(x)): each op's accumulating
// path must add, not overwrite.
func TestAccumulatePaths(t *testing.T) {
	type op = func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var
	conv := kernels.ConvParams{StrideH: 2, StrideW: 1, PadH: 1, PadW: 1}
	pool := kernels.PoolParams{KH: 2, KW: 2, StrideH: 2, StrideW: 1}
	bn := kernels.BNParams{Eps: 1e-5, Momentum: 0.1}
	rm, rv := randScaled(1, 0.3, 3), tensor.RandU(tensor.NewRand(2), 0.5, 2, 3)
	hall := hallCase(t, 4500, 3, 2, 0.05, 0.05)
	cases := []struct {
		name   string
		f      op
		inputs []*tensor.Tensor
		step   float64
		tol    float64
	}{
		{"MatMul", func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var { return tp.MatMul(in[0], in[1], false, true) },
			[]*tensor.Tensor{randn(10, 3, 4), randn(11, 5, 4)}, 0, 0},
		{"MatMulTN", func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var { return tp.MatMul(in[0], in[1], true, false) },
			[]*tensor.Tensor{randn(47, 4, 3), randn(48, 4, 5)}, 0, 0},
		{"MatMulNN", func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var {
			return tp.MatMul(in[0], in[1], false, false)
		},
			[]*tensor.Tensor{randn(49, 3, 4), randn(50, 4, 5)}, 0, 0},
		{"MatMulTT", func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var { return tp.MatMul(in[0], in[1], true, true) },
			[]*tensor.Tensor{randn(12, 4, 3), randn(13, 5, 4)}, 0, 0},
		{"Linear", func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var { return tp.Linear(in[0], in[1], in[2]) },
			[]*tensor.Tensor{randn(14, 3, 4), randn(15, 2, 4), randn(16, 2)}, 0, 0},
		{"Conv2d", func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var { return tp.Conv2d(in[0], in[1], conv) },
			[]*tensor.Tensor{randn(17, 2, 2, 5, 4), randScaled(18, 0.5, 3, 2, 3, 3)}, 0, 0},
		{"BiasAdd", func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var { return tp.BiasAdd(in[0], in[1]) },
			[]*tensor.Tensor{randn(19, 2, 3, 2, 2), randn(20, 3)}, 0, 0},
		{"BatchNormTrain", func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var {
			return tp.BatchNorm(in[0], in[1], in[2], rm.Clone(), rv.Clone(), bn, true)
		}, []*tensor.Tensor{randn(21, 4, 3), randn(22, 3), randn(23, 3)}, 0, 0},
		{"BatchNormEval", func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var {
			return tp.BatchNorm(in[0], in[1], in[2], rm, rv, bn, false)
		}, []*tensor.Tensor{randn(24, 2, 3, 2, 1), randn(25, 3), randn(26, 3)}, 0, 0},
		{"Relu", func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var { return tp.Relu(in[0]) },
			[]*tensor.Tensor{awayFromZero(27, 0.1, 4, 3)}, 0, 0},
		{"MaxPool2d", func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var { return tp.MaxPool2d(in[0], pool) },
			[]*tensor.Tensor{distinct(28, 1, 2, 4, 5)}, 1e-3, 0},
		{"GlobalAvgPool", func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var { return tp.GlobalAvgPool(in[0]) },
			[]*tensor.Tensor{randn(29, 2, 3, 2, 3)}, 0, 0},
		{"Add", func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var { return tp.Add(in[0], in[1]) },
			[]*tensor.Tensor{randn(30, 3, 2), randn(31, 3, 2)}, 0, 0},
		{"Sub", func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var { return tp.Sub(in[0], in[1]) },
			[]*tensor.Tensor{randn(32, 3, 2), randn(33, 3, 2)}, 0, 0},
		{"Mul", func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var { return tp.Mul(in[0], in[1]) },
			[]*tensor.Tensor{randn(34, 3, 2), randn(35, 3, 2)}, 0, 0},
		{"Scale", func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var { return tp.Scale(0.7, in[0]) },
			[]*tensor.Tensor{randn(36, 5)}, 0, 0},
		{"Sum", func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var { return tp.Sum(in[0]) },
			[]*tensor.Tensor{randn(37, 2, 3)}, 0, 0},
		{"Mean", func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var { return tp.Mean(in[0]) },
			[]*tensor.Tensor{randn(38, 2, 3)}, 0, 0},
		{"RowSum", func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var { return tp.RowSum(in[0]) },
			[]*tensor.Tensor{randn(39, 4, 3)}, 0, 0},
		{"Reshape", func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var { return tp.Reshape(in[0], 3, 4) },
			[]*tensor.Tensor{randn(40, 2, 6)}, 0, 0},
		{"ConcatRows", func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var { return tp.ConcatRows(in[0], in[1]) },
			[]*tensor.Tensor{randn(41, 2, 3), randn(42, 1, 3)}, 0, 0},
		{"Rows", func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var { return tp.Rows(in[0], 1, 3) },
			[]*tensor.Tensor{randn(43, 4, 3)}, 0, 0},
		{"L2Normalize", func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var { return tp.L2Normalize(in[0], 1e-12) },
			[]*tensor.Tensor{randn(44, 3, 4)}, 0, 0},
		{"SoftmaxCrossEntropy", func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var {
			return tp.SoftmaxCrossEntropy(in[0], []int32{2, 0, 1})
		}, []*tensor.Tensor{randn(45, 3, 4)}, 0, 0},
		{"InfoNCE", func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var {
			return tp.InfoNCE(in[0], in[0], nil, kernels.InfoNCEParams{Temperature: 0.5, Pos: []int32{2, 3, 0, 1},
				Self: []int32{0, 1, 2, 3}, InBatchNegatives: true})
		}, []*tensor.Tensor{randn(46, 4, 3)}, 0, 0},
		{"Hallucinate", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var {
			return tp.Hallucinate(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], 0.05)
		}, hall, 1e-3, 2e-2},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			gradCheck(t, func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var {
				return tp.Add(c.f(tp, in), tp.Scale(0.5, c.f(tp, in)))
			}, autograd.GradCheckOptions{Step: c.step, Tol: c.tol, Seed: uint64(i)}, c.inputs...)
		})
	}
}
