package nn

import (
	"math"
	"strings"
	"testing"

	"hallucinator/autograd"
	"hallucinator/kernels/cpu/ref"
	"hallucinator/tensor"
)

func TestLinearForward(t *testing.T) {
	b := ref.New()
	for _, tc := range []struct {
		n, in, out int
		bias       bool
	}{{1, 1, 1, true}, {3, 7, 5, true}, {13, 31, 2, false}, {64, 67, 33, true}} {
		rng := tensor.NewRand(uint64(tc.n*1000 + tc.in))
		l, err := NewLinear(b, rng, tc.in, tc.out, tc.bias)
		if err != nil {
			t.Fatal(err)
		}
		// PyTorch's init bound 1/sqrt(in).
		bound := 1 / math.Sqrt(float64(tc.in))
		for _, p := range l.Params() {
			for _, v := range p.V.Value.Data() {
				if math.Abs(float64(v)) > bound {
					t.Fatalf("%s %v: init value %g outside +-%g", p.Name, tc, v, bound)
				}
			}
		}
		x := randT(rng, 1, tc.n, tc.in)
		tp := autograd.NewTape(b)
		y := l.Forward(tp, constVar(x))
		w := l.Weight.Value.Data()
		want := make([]float64, tc.n*tc.out)
		for i := range tc.n {
			for o := range tc.out {
				s := 0.0
				if tc.bias {
					s = float64(l.Bias.Value.Data()[o])
				}
				for k := range tc.in {
					s += float64(x.At(i, k)) * float64(w[o*tc.in+k])
				}
				want[i*tc.out+o] = s
			}
		}
		checkClose(t, "Linear", y.Value, want, 1e-5)
		if got := len(l.Params()); got != 1+btoi(tc.bias) {
			t.Fatalf("Linear with bias=%v has %d params", tc.bias, got)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestConv2dForward(t *testing.T) {
	b := ref.New()
	for _, tc := range []struct {
		name                   string
		n, c, h, w, k, r, s, p int
		bias                   bool
	}{
		{"3x3p1", 2, 3, 7, 5, 4, 3, 1, 1, true},
		{"1x1s2", 3, 5, 9, 9, 2, 1, 2, 0, false},
		{"7x7s2p3", 1, 2, 11, 13, 3, 7, 2, 3, true},
		{"3x3s2p1", 2, 1, 6, 6, 5, 3, 2, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := tensor.NewRand(7)
			m, err := NewConv2d(b, rng, Conv2dConfig{In: tc.c, Out: tc.k, Kernel: tc.r, Stride: tc.s, Pad: tc.p, Bias: tc.bias})
			if err != nil {
				t.Fatal(err)
			}
			x := randT(rng, 1, tc.n, tc.c, tc.h, tc.w)
			y := m.Forward(autograd.NewTape(b), constVar(x)).Value
			P, Q := (tc.h+2*tc.p-tc.r)/tc.s+1, (tc.w+2*tc.p-tc.r)/tc.s+1
			if !tensor.EqualShape(y.Shape(), []int{tc.n, tc.k, P, Q}) {
				t.Fatalf("output shape %v, want %v", y.Shape(), []int{tc.n, tc.k, P, Q})
			}
			w := m.Weight.Value
			var want []float64
			for n := range tc.n {
				for k := range tc.k {
					for i := range P {
						for j := range Q {
							s := 0.0
							if tc.bias {
								s = float64(m.Bias.Value.Data()[k])
							}
							for c := range tc.c {
								for u := range tc.r {
									for v := range tc.r {
										hi, wi := i*tc.s-tc.p+u, j*tc.s-tc.p+v
										if hi >= 0 && hi < tc.h && wi >= 0 && wi < tc.w {
											s += float64(x.At(n, c, hi, wi)) * float64(w.At(k, c, u, v))
										}
									}
								}
							}
							want = append(want, s)
						}
					}
				}
			}
			checkClose(t, "Conv2d", y, want, 1e-5)
		})
	}
}

func TestBatchNormTrainEval(t *testing.T) {
	b := ref.New()
	for _, tc := range []struct {
		name  string
		shape []int
		relu  bool
	}{{"1d", []int{9, 5}, false}, {"2d", []int{3, 4, 5, 7}, false}, {"2d-relu", []int{2, 3, 3, 3}, true}, {"1d-relu", []int{17, 2}, true}} {
		t.Run(tc.name, func(t *testing.T) {
			rng := tensor.NewRand(11)
			c := tc.shape[1]
			var bn *BatchNorm
			var err error
			if len(tc.shape) == 2 {
				bn, err = NewBatchNorm1d(b, c, BatchNormOptions{ReLU: tc.relu})
			} else {
				bn, err = NewBatchNorm2d(b, c, BatchNormOptions{ReLU: tc.relu})
			}
			if err != nil {
				t.Fatal(err)
			}
			copy(bn.Weight.Value.Data(), randT(rng, 1, c).Data())
			copy(bn.Bias.Value.Data(), randT(rng, 1, c).Data())
			x := tensor.RandN(rng, 2, 3, tc.shape...)
			n := tc.shape[0]
			inner := x.Numel() / (n * c)
			at := func(i, ch, j int) float64 { return float64(x.Data()[(i*c+ch)*inner+j]) }
			mean, vb := make([]float64, c), make([]float64, c)
			for ch := range c {
				for i := range n {
					for j := range inner {
						mean[ch] += at(i, ch, j)
					}
				}
				mean[ch] /= float64(n * inner)
				for i := range n {
					for j := range inner {
						d := at(i, ch, j) - mean[ch]
						vb[ch] += d * d
					}
				}
				vb[ch] /= float64(n * inner)
			}
			affine := func(stat, variance []float64) []float64 {
				out := make([]float64, x.Numel())
				for i := range n {
					for ch := range c {
						g, be := float64(bn.Weight.Value.Data()[ch]), float64(bn.Bias.Value.Data()[ch])
						for j := range inner {
							v := g*(at(i, ch, j)-stat[ch])/math.Sqrt(variance[ch]+1e-5) + be
							if tc.relu {
								v = math.Max(v, 0)
							}
							out[(i*c+ch)*inner+j] = v
						}
					}
				}
				return out
			}
			tp := autograd.NewTape(b)
			for step := 1; step <= 2; step++ {
				y := bn.Forward(tp, constVar(x))
				checkClose(t, "train output", y.Value, affine(mean, vb), 1e-5)
				if got := bn.NumBatchesTracked.Data()[0]; got != float32(step) {
					t.Fatalf("num_batches_tracked %g after %d steps", got, step)
				}
			}
			// Two updates with momentum 0.1 from (0, 1).
			m := float64(n * inner)
			wantRM, wantRV := make([]float64, c), make([]float64, c)
			for ch := range c {
				wantRM[ch] = 0.19 * mean[ch]
				wantRV[ch] = 0.81 + 0.19*vb[ch]*m/(m-1)
			}
			checkClose(t, "running_mean", bn.RunningMean, wantRM, 1e-5)
			checkClose(t, "running_var", bn.RunningVar, wantRV, 1e-5)
			bn.SetTraining(false)
			y := bn.Forward(tp, constVar(x))
			checkClose(t, "eval output", y.Value, affine(wantRM, wantRV), 1e-5)
			if got := bn.NumBatchesTracked.Data()[0]; got != 2 {
				t.Fatalf("eval forward changed num_batches_tracked to %g", got)
			}
		})
	}
}

func TestBatchNormNoAffine(t *testing.T) {
	bn, err := NewBatchNorm1d(ref.New(), 6, BatchNormOptions{NoAffine: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(bn.Params()) != 0 {
		t.Fatalf("affine=False batch norm has params %v", paramNames(bn.Params()))
	}
	if err := sameStrings(bufferNames(bn.Buffers()), []string{"running_mean", "running_var", "num_batches_tracked"}); err != nil {
		t.Fatal(err)
	}
	rng := tensor.NewRand(3)
	x := autograd.NewVar(tensor.RandN(rng, 1, 2, 8, 6), true)
	tp := autograd.NewTape(ref.New())
	y := bn.Forward(tp, x)
	tp.Backward(tp.Sum(tp.Mul(y, constVar(randT(rng, 1, 8, 6)))))
	if bn.Weight.HasGrad() || bn.Bias.HasGrad() || !x.HasGrad() {
		t.Fatal("affine=False: gradient reached the constant scale/shift or missed the input")
	}
}

func TestSequentialAndMLPNames(t *testing.T) {
	b := ref.New()
	rng := tensor.NewRand(1)
	for _, tc := range []struct {
		name    string
		cfg     MLPConfig
		params  []string
		buffers []string
	}{
		{"linear", MLPConfig{In: 5, Out: 3}, []string{"0.weight", "0.bias"}, nil},
		{"simclr", MLPConfig{In: 8, Hidden: []int{8}, Out: 4}, []string{"0.weight", "0.bias", "2.weight", "2.bias"}, nil},
		{"simsiam-projector", MLPConfig{In: 8, Hidden: []int{16, 16}, Out: 4, HiddenBN: true, LastBN: true, LastBNNoAffine: true},
			[]string{"0.weight", "1.weight", "1.bias", "3.weight", "4.weight", "4.bias", "6.weight"},
			[]string{"1.running_mean", "1.running_var", "1.num_batches_tracked", "4.running_mean", "4.running_var",
				"4.num_batches_tracked", "7.running_mean", "7.running_var", "7.num_batches_tracked"}},
		{"moco-v2-bias", MLPConfig{In: 6, Hidden: []int{7}, Out: 3, HiddenBN: true, BiasBeforeBN: true},
			[]string{"0.weight", "0.bias", "1.weight", "1.bias", "3.weight", "3.bias"},
			[]string{"1.running_mean", "1.running_var", "1.num_batches_tracked"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := NewMLP(b, rng, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := sameStrings(paramNames(m.Params()), tc.params); err != nil {
				t.Fatal("params:", err)
			}
			if err := sameStrings(bufferNames(m.Buffers()), tc.buffers); err != nil {
				t.Fatal("buffers:", err)
			}
			x := randT(rng, 1, 5, tc.cfg.In)
			y := m.Forward(autograd.NewTape(b), constVar(x))
			if !tensor.EqualShape(y.Shape(), []int{5, tc.cfg.Out}) {
				t.Fatalf("output shape %v", y.Shape())
			}
		})
	}
}

func TestMLPMatchesComposition(t *testing.T) {
	// The fused BN+ReLU of an MLP equals Linear -> BN -> ReLU -> Linear
	// computed step by step.
	b := ref.New()
	rng := tensor.NewRand(5)
	m, err := NewMLP(b, rng, MLPConfig{In: 7, Hidden: []int{11}, Out: 3, HiddenBN: true})
	if err != nil {
		t.Fatal(err)
	}
	_, m0 := m.At(0)
	_, m1 := m.At(1)
	_, m2 := m.At(2)
	lin1, bn, lin2 := m0.(*Linear), m1.(*BatchNorm), m2.(*Linear)
	copy(bn.Bias.Value.Data(), randT(rng, 0.5, 11).Data())
	x := constVar(randT(rng, 1, 6, 7))
	tp := autograd.NewTape(b)
	got := m.Forward(tp, x).Value
	ref2, err := NewBatchNorm1d(b, 11, BatchNormOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ref2.Weight, ref2.Bias = bn.Weight, bn.Bias
	h := ReLU{}.Forward(tp, ref2.Forward(tp, lin1.Forward(tp, x)))
	checkClose(t, "MLP", got, f64(lin2.Forward(tp, h).Value), 1e-6)
}

func TestConfigErrors(t *testing.T) {
	b := ref.New()
	rng := tensor.NewRand(1)
	errs := map[string]error{}
	_, errs["linear in 0"] = NewLinear(b, rng, 0, 3, true)
	_, errs["linear out -1"] = NewLinear(b, rng, 3, -1, true)
	_, errs["conv kernel 0"] = NewConv2d(b, rng, Conv2dConfig{In: 1, Out: 1})
	_, errs["conv stride -1"] = NewConv2d(b, rng, Conv2dConfig{In: 1, Out: 1, Kernel: 3, Stride: -1})
	_, errs["conv pad -1"] = NewConv2d(b, rng, Conv2dConfig{In: 1, Out: 1, Kernel: 3, Pad: -1})
	_, errs["bn 0"] = NewBatchNorm2d(b, 0, BatchNormOptions{})
	_, errs["bn momentum 2"] = NewBatchNorm1d(b, 3, BatchNormOptions{Momentum: 2})
	_, errs["bn eps -1"] = NewBatchNorm1d(b, 3, BatchNormOptions{Eps: -1})
	_, errs["pool pad"] = NewMaxPool2d(3, 2, 2)
	_, errs["pool stride 0"] = NewMaxPool2d(3, 0, 1)
	_, errs["mlp hidden 0"] = NewMLP(b, rng, MLPConfig{In: 3, Hidden: []int{4, 0}, Out: 2})
	_, errs["mlp out 0"] = NewMLP(b, rng, MLPConfig{In: 3})
	_, errs["resnet width -1"] = NewResNet18(b, rng, ResNetConfig{Width: -1})
	_, errs["resnet in -3"] = NewResNet34(b, rng, ResNetConfig{InChannels: -3})
	_, errs["resnet classes -1"] = NewResNet18(b, rng, ResNetConfig{NumClasses: -1})
	_, errs["resnet stem"] = NewResNet18(b, rng, ResNetConfig{Stem: Stem(9)})
	for name, err := range errs {
		if err == nil {
			t.Errorf("%s: no error", name)
		} else if !strings.HasPrefix(err.Error(), "nn: ") {
			t.Errorf("%s: error %q lacks the package prefix", name, err)
		}
	}
}

func TestShapePanics(t *testing.T) {
	b := ref.New()
	rng := tensor.NewRand(1)
	lin, _ := NewLinear(b, rng, 4, 2, true)
	conv, _ := NewConv2d(b, rng, Conv2dConfig{In: 3, Out: 2, Kernel: 3})
	bn, _ := NewBatchNorm2d(b, 3, BatchNormOptions{})
	for name, f := range map[string]func(){
		"linear":  func() { lin.Forward(autograd.NewTape(b), constVar(tensor.Ones(2, 5))) },
		"conv":    func() { conv.Forward(autograd.NewTape(b), constVar(tensor.Ones(1, 2, 5, 5))) },
		"conv-hw": func() { conv.Forward(autograd.NewTape(b), constVar(tensor.Ones(1, 3, 2, 5))) },
		"bn":      func() { bn.Forward(autograd.NewTape(b), constVar(tensor.Ones(2, 3))) },
	} {
		func() {
			defer func() {
				r := recover()
				if r == nil {
					t.Errorf("%s: no panic", name)
				} else if !strings.HasPrefix(r.(string), "nn: ") {
					t.Errorf("%s: panic %q lacks the package prefix", name, r)
				}
			}()
			f()
		}()
	}
}

// TestBatchNormGroups checks ghost batch norm against separate batch norms
// of each group (samples i with i mod G = g): outputs, gradients of the
// input, scale and shift, and the running statistics.
func TestBatchNormGroups(t *testing.T) {
	b := ref.New()
	for _, tc := range []struct {
		name   string
		shape  []int
		groups int
		relu   bool
	}{{"2d", []int{12, 3, 5, 3}, 4, false}, {"2d-relu", []int{9, 5, 2, 3}, 3, true}, {"1d", []int{14, 7}, 2, false}, {"1d-relu", []int{15, 2}, 5, true}} {
		t.Run(tc.name, func(t *testing.T) {
			rng := tensor.NewRand(5)
			n, c, g := tc.shape[0], tc.shape[1], tc.groups
			newBN := func() *BatchNorm {
				bn, err := newBatchNorm(b, c, len(tc.shape), BatchNormOptions{ReLU: tc.relu})
				if err != nil {
					t.Fatal(err)
				}
				return bn
			}
			gamma, beta := randT(rng, 1, c), randT(rng, 1, c)
			bn := newBN()
			bn.Groups = g
			copy(bn.Weight.Value.Data(), gamma.Data())
			copy(bn.Bias.Value.Data(), beta.Data())
			x := tensor.RandN(rng, 1.5, 2, tc.shape...)
			r := randT(rng, 1, tc.shape...)
			xv := autograd.NewVar(x.Clone(), true)
			tp := autograd.NewTape(b)
			y := bn.Forward(tp, xv)
			tp.Backward(tp.Sum(tp.Mul(y, constVar(r))))

			inner := x.Numel() / n
			wantY, wantDX := make([]float64, x.Numel()), make([]float64, x.Numel())
			wantDG, wantDB := make([]float64, c), make([]float64, c)
			wantRM, wantRV := make([]float64, c), make([]float64, c)
			for grp := range g {
				var idx []int
				for i := grp; i < n; i += g {
					idx = append(idx, i)
				}
				sub := func(src *tensor.Tensor) *tensor.Tensor {
					shape := append([]int{len(idx)}, tc.shape[1:]...)
					out := tensor.Zeros(shape...)
					for j, i := range idx {
						copy(out.Data()[j*inner:(j+1)*inner], src.Data()[i*inner:(i+1)*inner])
					}
					return out
				}
				one := newBN()
				copy(one.Weight.Value.Data(), gamma.Data())
				copy(one.Bias.Value.Data(), beta.Data())
				xs := autograd.NewVar(sub(x), true)
				tp2 := autograd.NewTape(b)
				ys := one.Forward(tp2, xs)
				tp2.Backward(tp2.Sum(tp2.Mul(ys, constVar(sub(r)))))
				for j, i := range idx {
					for e := range inner {
						wantY[i*inner+e] = float64(ys.Value.Data()[j*inner+e])
						wantDX[i*inner+e] = float64(xs.Grad.Data()[j*inner+e])
					}
				}
				for ch := range c {
					wantDG[ch] += float64(one.Weight.Grad.Data()[ch])
					wantDB[ch] += float64(one.Bias.Grad.Data()[ch])
					wantRM[ch] += float64(one.RunningMean.Data()[ch]) / float64(g)
					wantRV[ch] += float64(one.RunningVar.Data()[ch]) / float64(g)
				}
			}
			checkClose(t, "output", y.Value, wantY, 1e-5)
			checkClose(t, "dx", xv.Grad, wantDX, 1e-4)
			checkClose(t, "dgamma", bn.Weight.Grad, wantDG, 1e-4)
			checkClose(t, "dbeta", bn.Bias.Grad, wantDB, 1e-4)
			checkClose(t, "running_mean", bn.RunningMean, wantRM, 1e-5)
			checkClose(t, "running_var", bn.RunningVar, wantRV, 1e-5)
			if got := bn.NumBatchesTracked.Data()[0]; got != 1 {
				t.Fatalf("num_batches_tracked %g after one forward", got)
			}
		})
	}
	t.Run("not-a-multiple", func(t *testing.T) {
		bn, _ := NewBatchNorm2d(b, 3, BatchNormOptions{})
		bn.Groups = 4
		defer func() {
			if r := recover(); r == nil || !strings.Contains(r.(string), "not a multiple") {
				t.Fatalf("panic %v, want one about the batch size", r)
			}
		}()
		bn.Forward(autograd.NewTape(b), constVar(tensor.RandN(tensor.NewRand(1), 0, 1, 6, 3, 2, 2)))
	})
}
