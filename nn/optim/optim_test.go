package optim

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"hallucinator/autograd"
	"hallucinator/kernels"
	"hallucinator/kernels/cpu/ref"
	"hallucinator/nn"
	"hallucinator/tensor"
)

// params returns parameters of awkward shapes (a matrix, a bias-like
// vector, a 4-D filter, a single element) with random values.
func params(seed uint64) []nn.Param {
	rng := tensor.NewRand(seed)
	shapes := []struct {
		name  string
		shape []int
	}{{"fc.weight", []int{7, 13}}, {"fc.bias", []int{7}}, {"conv.weight", []int{3, 2, 3, 3}}, {"bn.weight", []int{1}}}
	ps := make([]nn.Param, len(shapes))
	for i, s := range shapes {
		ps[i] = nn.Param{Name: s.name, V: autograd.NewVar(tensor.RandN(rng, 0, 1, s.shape...), true)}
	}
	return ps
}

// setGrads gives every parameter with has[i] true a fresh random gradient
// (through the tape, as Backward would) and clears the others.
func setGrads(b kernels.Backend, ps []nn.Param, seed uint64, has func(i int) bool) [][]float64 {
	rng := tensor.NewRand(seed)
	autograd.ZeroGrad(nn.Vars(ps))
	tp := autograd.NewTape(b)
	gs := make([][]float64, len(ps))
	for i, p := range ps {
		g := tensor.RandN(rng, 0, 0.5, p.V.Value.Shape()...)
		if has == nil || has(i) {
			tp.Accumulate(p.V, g)
			gs[i] = f64(g)
		}
	}
	return gs
}

func f64(t *tensor.Tensor) []float64 {
	d := t.Contiguous().Data()
	out := make([]float64, len(d))
	for i, v := range d {
		out[i] = float64(v)
	}
	return out
}

func snapshot(ps []nn.Param) [][]float64 {
	out := make([][]float64, len(ps))
	for i, p := range ps {
		out[i] = f64(p.V.Value)
	}
	return out
}

func compare(t *testing.T, what string, ps []nn.Param, want [][]float64, tol float64) {
	t.Helper()
	for i, p := range ps {
		got := f64(p.V.Value)
		var diff, scale float64
		for j := range got {
			diff = math.Max(diff, math.Abs(got[j]-want[i][j]))
			scale = math.Max(scale, math.Abs(want[i][j]))
		}
		if diff > tol*scale {
			t.Fatalf("%s: %s: max difference %.3g (relative %.3g) from torch's formula", what, p.Name, diff, diff/scale)
		}
	}
}

// TestSGDMatchesTorch runs 5 steps and compares with torch.optim.SGD's
// update written out: d = g + wd*p; buf = d (first step) or
// momentum*buf + d; d = nesterov ? d + momentum*buf : buf; p -= lr*d.
func TestSGDMatchesTorch(t *testing.T) {
	b := ref.New()
	for _, tc := range []struct {
		name string
		cfg  SGDConfig
	}{
		{"plain", SGDConfig{LR: 0.1}},
		{"momentum", SGDConfig{LR: 0.05, Momentum: 0.9, WeightDecay: 1e-2}},
		{"nesterov-nodecay-bn", SGDConfig{LR: 0.3, Momentum: 0.8, WeightDecay: 5e-2, Nesterov: true, NoDecayBiasBN: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps := params(1)
			o, err := NewSGD(b, ps, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			want := snapshot(ps)
			bufs := make([][]float64, len(ps)) // nil until a parameter's first step
			lrs := []float64{tc.cfg.LR, tc.cfg.LR / 2, tc.cfg.LR, 0.01, tc.cfg.LR}
			for step, lr := range lrs {
				// Parameter 2 has no gradient at steps 0 and 2: it is
				// skipped, and its momentum starts at step 1.
				has := func(i int) bool { return i != 2 || (step != 0 && step != 2) }
				gs := setGrads(b, ps, uint64(10+step), has)
				o.SetLR(lr)
				o.Step()
				for i, p := range ps {
					if gs[i] == nil {
						continue
					}
					wd := tc.cfg.WeightDecay
					if tc.cfg.NoDecayBiasBN && p.V.Value.Dims() == 1 {
						wd = 0
					}
					first := bufs[i] == nil
					if first {
						bufs[i] = make([]float64, len(want[i]))
					}
					for j := range want[i] {
						d := gs[i][j] + wd*want[i][j]
						if tc.cfg.Momentum != 0 {
							if first {
								bufs[i][j] = d
							} else {
								bufs[i][j] = tc.cfg.Momentum*bufs[i][j] + d
							}
							if tc.cfg.Nesterov {
								d += tc.cfg.Momentum * bufs[i][j]
							} else {
								d = bufs[i][j]
							}
						}
						want[i][j] -= lr * d
					}
				}
				compare(t, "SGD", ps, want, 1e-5)
			}
			if o.Steps() != len(lrs) {
				t.Fatalf("Steps %d, want %d", o.Steps(), len(lrs))
			}
		})
	}
}

// TestLARSMatchesFormula runs 4 steps against the update written out:
// for tensors not excluded, local = lr*eta*||p||/(||g|| + wd*||p||) and
// d = g + wd*p; excluded tensors use lr and d = g; buf = m*buf + local*d;
// p -= buf.
func TestLARSMatchesFormula(t *testing.T) {
	b := ref.New()
	for _, tc := range []struct {
		name string
		cfg  LARSConfig
	}{
		{"all-adapted", LARSConfig{LR: 0.5, Momentum: 0.9, WeightDecay: 1e-4, Eta: 0.02}},
		{"exclude-bias-bn", LARSConfig{LR: 1.5, Momentum: 0.9, WeightDecay: 1e-3, ExcludeBiasBN: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps := params(2)
			o, err := NewLARS(b, ps, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			eta := tc.cfg.Eta
			if eta == 0 {
				eta = 0.001
			}
			want := snapshot(ps)
			bufs := make([][]float64, len(ps))
			for step := range 4 {
				gs := setGrads(b, ps, uint64(20+step), func(i int) bool { return i != 0 || step != 1 })
				lr := tc.cfg.LR * float64(step+1) / 4
				o.SetLR(lr)
				o.Step()
				for i, p := range ps {
					if gs[i] == nil {
						continue
					}
					if bufs[i] == nil {
						bufs[i] = make([]float64, len(want[i]))
					}
					local, wd := lr, tc.cfg.WeightDecay
					if tc.cfg.ExcludeBiasBN && p.V.Value.Dims() == 1 {
						wd = 0
					} else {
						var pn, gn float64
						for j := range want[i] {
							pn += want[i][j] * want[i][j]
							gn += gs[i][j] * gs[i][j]
						}
						pn, gn = math.Sqrt(pn), math.Sqrt(gn)
						local = lr * eta * pn / (gn + wd*pn)
					}
					for j := range want[i] {
						bufs[i][j] = tc.cfg.Momentum*bufs[i][j] + local*(gs[i][j]+wd*want[i][j])
						want[i][j] -= bufs[i][j]
					}
				}
				compare(t, "LARS", ps, want, 1e-5)
			}
		})
	}
}

// TestAdamWMatchesTorch runs 5 steps against torch.optim.AdamW written out,
// with per-parameter step counts (a parameter without a gradient keeps its
// count).
func TestAdamWMatchesTorch(t *testing.T) {
	b := ref.New()
	for _, tc := range []struct {
		name string
		cfg  AdamWConfig
	}{
		{"defaults", AdamWConfig{LR: 1e-2}},
		{"decay", AdamWConfig{LR: 3e-3, Beta1: 0.8, Beta2: 0.99, Eps: 1e-6, WeightDecay: 0.05, NoDecayBiasBN: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps := params(3)
			o, err := NewAdamW(b, ps, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			b1, b2, eps := tc.cfg.Beta1, tc.cfg.Beta2, tc.cfg.Eps
			if b1 == 0 {
				b1, b2, eps = 0.9, 0.999, 1e-8
			}
			want := snapshot(ps)
			m := make([][]float64, len(ps))
			v := make([][]float64, len(ps))
			count := make([]int, len(ps))
			for step := range 5 {
				gs := setGrads(b, ps, uint64(30+step), func(i int) bool { return i != 1 || step == 2 || step == 4 })
				lr := tc.cfg.LR * (1 + float64(step)/2)
				o.SetLR(lr)
				o.Step()
				for i, p := range ps {
					if gs[i] == nil {
						continue
					}
					if m[i] == nil {
						m[i], v[i] = make([]float64, len(want[i])), make([]float64, len(want[i]))
					}
					count[i]++
					wd := tc.cfg.WeightDecay
					if tc.cfg.NoDecayBiasBN && p.V.Value.Dims() == 1 {
						wd = 0
					}
					bc1 := 1 - math.Pow(b1, float64(count[i]))
					bc2 := 1 - math.Pow(b2, float64(count[i]))
					for j := range want[i] {
						g := gs[i][j]
						want[i][j] *= 1 - lr*wd
						m[i][j] = b1*m[i][j] + (1-b1)*g
						v[i][j] = b2*v[i][j] + (1-b2)*g*g
						want[i][j] -= lr * (m[i][j] / bc1) / (math.Sqrt(v[i][j]/bc2) + eps)
					}
				}
				compare(t, "AdamW", ps, want, 2e-5)
			}
		})
	}
}

// TestStateRoundTrip checks that an optimiser restored from a file
// continues exactly as the original.
func TestStateRoundTrip(t *testing.T) {
	b := ref.New()
	mk := map[string]func(ps []nn.Param) (Optimizer, error){
		"sgd": func(ps []nn.Param) (Optimizer, error) {
			return NewSGD(b, ps, SGDConfig{LR: 0.1, Momentum: 0.9, Nesterov: true, WeightDecay: 1e-3})
		},
		"lars": func(ps []nn.Param) (Optimizer, error) {
			return NewLARS(b, ps, LARSConfig{LR: 0.3, Momentum: 0.9, WeightDecay: 1e-4, ExcludeBiasBN: true})
		},
		"adamw": func(ps []nn.Param) (Optimizer, error) {
			return NewAdamW(b, ps, AdamWConfig{LR: 1e-2, WeightDecay: 0.01})
		},
	}
	for name, ctor := range mk {
		t.Run(name, func(t *testing.T) {
			psA := params(4)
			a, err := ctor(psA)
			if err != nil {
				t.Fatal(err)
			}
			for step := range 3 {
				setGrads(b, psA, uint64(step), func(i int) bool { return i != 3 })
				a.Step()
			}
			path := filepath.Join(t.TempDir(), "opt.safetensors")
			if err := Save(path, a, map[string]string{"epoch": "3"}); err != nil {
				t.Fatal(err)
			}
			// A fresh optimiser over a copy of the parameters.
			psB := params(4)
			for i := range psB {
				copy(psB[i].V.Value.Data(), psA[i].V.Value.Data())
			}
			c, err := ctor(psB)
			if err != nil {
				t.Fatal(err)
			}
			meta, err := Load(path, c)
			if err != nil {
				t.Fatal(err)
			}
			if meta["epoch"] != "3" {
				t.Fatalf("metadata %v", meta)
			}
			for step := 3; step < 6; step++ {
				setGrads(b, psA, uint64(step), nil)
				setGrads(b, psB, uint64(step), nil)
				a.Step()
				c.Step()
			}
			compare(t, "resumed", psB, snapshot(psA), 0)
			if sa, sc := len(a.State()), len(c.State()); sa != sc {
				t.Fatalf("state sizes %d and %d", sa, sc)
			}
		})
	}
}

func TestLoadStateErrors(t *testing.T) {
	b := ref.New()
	ps := params(5)
	o, err := NewSGD(b, ps, SGDConfig{LR: 0.1, Momentum: 0.9})
	if err != nil {
		t.Fatal(err)
	}
	good := tensor.Full(1.5, 7)
	for name, ts := range map[string][]nn.NamedTensor{
		"unknown-slot":  {{Name: "exp_avg.fc.bias", T: good}},
		"unknown-param": {{Name: "momentum_buffer.fc.nothing", T: good}},
		"no-slot":       {{Name: "fc", T: good}},
		"bad-shape":     {{Name: "momentum_buffer.fc.bias", T: tensor.Full(1, 8)}},
		"bad-step":      {{Name: "step", T: tensor.Full(1, 2)}},
	} {
		err := o.LoadState(ts)
		if err == nil {
			t.Errorf("%s: no error", name)
		} else if !strings.HasPrefix(err.Error(), "optim: ") {
			t.Errorf("%s: error %q lacks the package prefix", name, err)
		}
	}
	a, _ := NewAdamW(b, ps, AdamWConfig{LR: 1})
	if err := a.LoadState([]nn.NamedTensor{{Name: "exp_avg.fc.bias", T: good}}); err == nil {
		t.Error("AdamW accepted exp_avg without exp_avg_sq and step")
	}
}

func TestConfigErrors(t *testing.T) {
	b := ref.New()
	ps := params(6)
	dup := append(params(7)[:1], nn.Param{Name: "fc.weight", V: ps[1].V})
	same := []nn.Param{ps[0], {Name: "other", V: ps[0].V}}
	errs := map[string]error{}
	_, errs["sgd lr"] = NewSGD(b, ps, SGDConfig{LR: -1})
	_, errs["sgd momentum"] = NewSGD(b, ps, SGDConfig{LR: 1, Momentum: 1})
	_, errs["sgd nesterov"] = NewSGD(b, ps, SGDConfig{LR: 1, Nesterov: true})
	_, errs["sgd wd"] = NewSGD(b, ps, SGDConfig{LR: 1, WeightDecay: -1})
	_, errs["sgd nil backend"] = NewSGD(nil, ps, SGDConfig{LR: 1})
	_, errs["sgd dup name"] = NewSGD(b, dup, SGDConfig{LR: 1})
	_, errs["sgd same var"] = NewSGD(b, same, SGDConfig{LR: 1})
	_, errs["sgd nil var"] = NewSGD(b, []nn.Param{{Name: "x"}}, SGDConfig{LR: 1})
	_, errs["lars eta"] = NewLARS(b, ps, LARSConfig{LR: 1, Eta: -1})
	_, errs["lars momentum"] = NewLARS(b, ps, LARSConfig{LR: 1, Momentum: -0.1})
	_, errs["adamw beta"] = NewAdamW(b, ps, AdamWConfig{LR: 1, Beta1: 1})
	_, errs["adamw eps"] = NewAdamW(b, ps, AdamWConfig{LR: 1, Eps: -1})
	_, errs["adamw lr NaN"] = NewAdamW(b, ps, AdamWConfig{LR: math.NaN()})
	for name, err := range errs {
		if err == nil {
			t.Errorf("%s: no error", name)
		} else if !strings.HasPrefix(err.Error(), "optim: ") {
			t.Errorf("%s: error %q lacks the package prefix", name, err)
		}
	}
}

func TestSchedules(t *testing.T) {
	wc := WarmupCosine{Base: 1, Final: 0.1, WarmupStart: 0.2, WarmupSteps: 4, TotalSteps: 14}
	step := StepDecay{Base: 2, Milestones: []int{3, 6}, Gamma: 0.1}
	for _, tc := range []struct {
		name string
		s    Schedule
		at   int
		want float64
	}{
		{"warmup-start", wc, 0, 0.2},
		{"warmup-mid", wc, 2, 0.6},
		{"peak", wc, 4, 1},
		{"cosine-half", wc, 9, 0.55},
		{"cosine-fifth", wc, 6, 0.1 + 0.9*0.5*(1+math.Cos(math.Pi*0.2))},
		{"end", wc, 14, 0.1},
		{"after", wc, 100, 0.1},
		{"negative", wc, -3, 0.2},
		{"step-before", step, 2, 2},
		{"step-first", step, 3, 0.2},
		{"step-second", step, 6, 0.02},
		{"constant", Constant{Value: 0.3}, 1000, 0.3},
		{"no-cosine", WarmupCosine{Base: 1, WarmupSteps: 5, TotalSteps: 5}, 7, 1},
	} {
		if got := tc.s.LR(tc.at); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%s: LR(%d) = %g, want %g", tc.name, tc.at, got, tc.want)
		}
	}
	// Monotone decay after the warm-up.
	prev := math.Inf(1)
	for s := 4; s <= 14; s++ {
		if lr := wc.LR(s); lr > prev {
			t.Fatalf("cosine not decreasing at step %d", s)
		} else {
			prev = lr
		}
	}
}

func ExampleNewSGD() {
	b := ref.New()
	w := autograd.NewVar(tensor.FromSlice([]float32{1, -2}, 2), true)
	opt, err := NewSGD(b, []nn.Param{{Name: "w", V: w}}, SGDConfig{LR: 0.1, Momentum: 0.9})
	if err != nil {
		panic(err)
	}
	sched := WarmupCosine{Base: 0.1, WarmupSteps: 1, TotalSteps: 3}
	tp := autograd.NewTape(b)
	for step := range 3 {
		opt.ZeroGrad()
		loss := tp.Sum(tp.Mul(w, w)) // gradient 2w
		tp.Backward(loss)
		opt.SetLR(sched.LR(step))
		opt.Step()
		fmt.Printf("step %d lr %.3f w %.4f\n", step, opt.LR(), w.Value.Data())
	}
	// Output:
	// step 0 lr 0.000 w [1.0000 -2.0000]
	// step 1 lr 0.100 w [0.6200 -1.2400]
	// step 2 lr 0.050 w [0.3870 -0.7740]
}
