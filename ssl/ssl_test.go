package ssl

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"hallucinator/autograd"
	"hallucinator/kernels"
	"hallucinator/kernels/cpu/ref"
	"hallucinator/nn"
	"hallucinator/ssl/data"
	"hallucinator/tensor"
)

// tinyConfig is a framework small enough to train in a test on ref.
func tinyConfig(fw string, hal bool) Config {
	c := DefaultConfig(fw)
	c.Width, c.InChannels, c.ProjDim, c.HiddenDim, c.PredHidden, c.QueueSize = 2, 1, 8, 16, 4, 24
	c.Hallucinate = hal
	return c
}

// TestHallucinatedRowsFollowFormula checks the Hallucinator's output against
// the formula MLP([x, x + lambda*(x-k)]) computed by hand.
func TestHallucinatedRowsFollowFormula(t *testing.T) {
	be := ref.New()
	rng := tensor.NewRand(3)
	for _, tc := range []struct {
		n, d   int
		lambda float32
	}{{1, 3, 0}, {5, 7, 0.05}, {13, 16, 0.1}} {
		h, err := NewHallucinator(be, rng, tc.d)
		if err != nil {
			t.Fatal(err)
		}
		x := tensor.RandN(rng, 0, 1, tc.n, tc.d)
		k := tensor.RandN(rng, 0, 1, tc.n, tc.d)
		tp := autograd.NewTape(be)
		out := h.Hallucinate(tp, autograd.NewVar(x, true), autograd.NewVar(k, false), tc.lambda).Value.Data()
		lin := func(l *nn.Linear, in []float64) []float64 {
			w, b := l.Weight.Value.Data(), l.Bias.Value.Data()
			o := make([]float64, l.Out)
			for i := range o {
				o[i] = float64(b[i])
				for j, v := range in {
					o[i] += float64(w[i*l.In+j]) * v
				}
			}
			return o
		}
		relu := func(v []float64) []float64 {
			for i := range v {
				v[i] = math.Max(v[i], 0)
			}
			return v
		}
		for i := 0; i < tc.n; i++ {
			u := make([]float64, 2*tc.d)
			for j := 0; j < tc.d; j++ {
				xv, kv := float64(x.At(i, j)), float64(k.At(i, j))
				u[j] = xv
				u[tc.d+j] = xv + float64(tc.lambda)*(xv-kv)
			}
			want := lin(h.L3, relu(lin(h.L2, relu(lin(h.L1, u)))))
			for j, w := range want {
				got := float64(out[i*tc.d+j])
				if math.Abs(got-w) > 1e-5*(1+math.Abs(w)) {
					t.Fatalf("n=%d d=%d lambda=%v: row %d col %d = %v, want %v", tc.n, tc.d, tc.lambda, i, j, got, w)
				}
			}
		}
	}
}

func TestSampleLambdaRange(t *testing.T) {
	rng := tensor.NewRand(1)
	var lo, hi float32 = 1, 0
	for range 10000 {
		l := SampleLambda(rng)
		lo, hi = min(lo, l), max(hi, l)
	}
	if lo < 0 || hi >= LambdaMax || lo > 0.001 || hi < 0.099 {
		t.Fatalf("lambda range [%v, %v], want to fill [0, %v)", lo, hi, LambdaMax)
	}
}

// TestNTXentMasks checks the anchor/positive/mask layout of NT-Xent with and
// without twins.
func TestNTXentMasks(t *testing.T) {
	p := ntXentParams(0.5, 3, 4, true)
	wantPos := []int32{6, 7, 8, 9, 10, 11, 0, 1, 2, 3, 4, 5}
	for i, w := range wantPos {
		if p.Pos[i] != w || p.Self[i] != int32(i) || p.AnchorID[i] != int32(i%3) {
			t.Fatalf("row %d: pos %d self %d id %d", i, p.Pos[i], p.Self[i], p.AnchorID[i])
		}
	}
	if !p.Twins || !p.InBatchNegatives {
		t.Fatal("twins or in-batch negatives off")
	}
	if c := ntXentParams(0.5, 3, 4, false); c.Twins || c.AnchorID != nil {
		t.Fatal("compat params mask twins")
	}
}

// twoViewData is a tiny labelled data set of 1x12x12 images.
func twoViewData(n int) *data.Dataset {
	rng := tensor.NewRand(9)
	ds := &data.Dataset{N: n, C: 1, H: 12, W: 12, NumClasses: 2, Pixels: make([]uint8, n*144), Labels: make([]int32, n)}
	for i := 0; i < n; i++ {
		ds.Labels[i] = int32(i % 2)
		for j := 0; j < 144; j++ {
			v := 40 + rng.IntN(60)
			if (i%2 == 0) == (j%12 < 6) {
				v += 120
			}
			ds.Pixels[i*144+j] = uint8(v)
		}
	}
	return ds
}

func tinyTrainConfig() TrainConfig {
	norm := data.Normalize{Mean: []float64{0.5}, Std: []float64{0.25}}
	view := data.NewPipeline(data.NewRandomResizedCrop(12, [2]float64{0.5, 1}), data.RandomHorizontalFlip{P: 0.5}, norm)
	return TrainConfig{Epochs: 2, BatchSize: 8, LR: 0.05, FinalLR: 0.005, Momentum: 0.9, WeightDecay: 1e-4,
		Seed: 5, Workers: 2, Views: [2]data.Transform{view, view}, MaxSteps: 2}
}

// TestFrameworksTrainAndResume runs every framework with and without the
// Hallucinator for two epochs, and checks that the same run without
// recycling op outputs, and stopping after the first epoch, saving and
// resuming into a fresh trainer, give the same parameters.
func TestFrameworksTrainAndResume(t *testing.T) {
	ds := twoViewData(24)
	for _, fw := range []string{"simclr", "mocov1", "mocov2", "simsiam", "byol"} {
		for _, hal := range []bool{false, true} {
			name := fw
			if hal {
				name += "+hal"
			}
			t.Run(name, func(t *testing.T) {
				be := ref.New()
				build := func() *Trainer {
					f, err := New(be, tensor.NewRand(11), tinyConfig(fw, hal))
					if err != nil {
						t.Fatal(err)
					}
					tr, err := NewTrainer(be, f, ds, tinyTrainConfig())
					if err != nil {
						t.Fatal(err)
					}
					return tr
				}
				ctx := context.Background()
				full := build()
				var losses []float64
				for !full.Done() {
					if err := full.RunEpoch(ctx, func(s StepInfo) { losses = append(losses, s.Loss) }); err != nil {
						t.Fatal(err)
					}
				}
				for _, l := range losses {
					if math.IsNaN(l) || math.IsInf(l, 0) {
						t.Fatalf("loss %v", l)
					}
				}
				st := full.FW.Stats()
				if hal && st.HalCos == 0 {
					t.Fatalf("stats %+v: no hallucination similarity", st)
				}
				// The trainer's tape recycles op outputs; one that does not
				// trains to the same bits and reports the same last stats.
				plain := build()
				plain.tp.SetRecycling(false)
				for !plain.Done() {
					if err := plain.RunEpoch(ctx, nil); err != nil {
						t.Fatal(err)
					}
				}
				assertSameState(t, be, full.FW, plain.FW)
				if pst := plain.FW.Stats(); pst != st {
					t.Fatalf("stats with recycling %+v, without %+v", st, pst)
				}
				first := build()
				if err := first.RunEpoch(ctx, nil); err != nil {
					t.Fatal(err)
				}
				path := filepath.Join(t.TempDir(), "ckpt.safetensors")
				if err := first.Save(path, nil); err != nil {
					t.Fatal(err)
				}
				resumed := build()
				if _, err := resumed.Load(path); err != nil {
					t.Fatal(err)
				}
				if resumed.Epoch != 1 || resumed.Step != 0 {
					t.Fatalf("resumed at %d/%d", resumed.Epoch, resumed.Step)
				}
				if err := resumed.RunEpoch(ctx, nil); err != nil {
					t.Fatal(err)
				}
				assertSameState(t, be, full.FW, resumed.FW)
			})
		}
	}
}

func assertSameState(t *testing.T, be kernels.Backend, a, b nn.Module) {
	t.Helper()
	sa, err := nn.StateTensors(a)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := nn.StateTensors(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(sa) != len(sb) {
		t.Fatalf("%d vs %d state tensors", len(sa), len(sb))
	}
	for i := range sa {
		x, y := sa[i], sb[i]
		xd, yd := x.T.Data(), y.T.Data()
		if x.Name != y.Name || len(xd) != len(yd) {
			t.Fatalf("state %d: %s vs %s", i, x.Name, y.Name)
		}
		for j := range xd {
			if xd[j] != yd[j] {
				t.Fatalf("%s differs at element %d after resume: %v vs %v", x.Name, j, xd[j], yd[j])
			}
		}
	}
}

func TestLoadRejectsOtherFramework(t *testing.T) {
	be := ref.New()
	ds := twoViewData(24)
	mk := func(fw string) *Trainer {
		f, err := New(be, tensor.NewRand(1), tinyConfig(fw, false))
		if err != nil {
			t.Fatal(err)
		}
		tr, err := NewTrainer(be, f, ds, tinyTrainConfig())
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	path := filepath.Join(t.TempDir(), "c.safetensors")
	if err := mk("simclr").Save(path, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := mk("simsiam").Load(path); err == nil {
		t.Fatal("loaded a SimCLR checkpoint into SimSiam")
	}
}

func TestConfigErrors(t *testing.T) {
	be := ref.New()
	for _, c := range []Config{
		{Framework: "barlowtwins", Depth: 18, Width: 4, InChannels: 1, ProjDim: 8, HiddenDim: 8, Temperature: 0.1},
		func() Config { c := tinyConfig("simclr", false); c.Depth = 50; return c }(),
		func() Config { c := tinyConfig("simclr", false); c.Temperature = 0; return c }(),
		func() Config { c := tinyConfig("mocov2", false); c.QueueSize = 0; return c }(),
		func() Config { c := tinyConfig("byol", false); c.Momentum = 1; return c }(),
		func() Config { c := tinyConfig("byol", false); c.PredHidden = 0; return c }(),
	} {
		if _, err := New(be, tensor.NewRand(1), c); err == nil {
			t.Errorf("config %+v accepted", c)
		}
	}
}

// TestMoCoShuffleBN checks that shuffling BN gives each image its own key:
// with one image per group, the keys must equal those of each image encoded
// alone; with two groups, those of the batch encoded in the shuffled order
// and put back, which differ from the keys of the unshuffled batch.
func TestMoCoShuffleBN(t *testing.T) {
	be := ref.New()
	const n = 8
	rng := tensor.NewRand(4)
	v1 := autograd.NewVar(tensor.RandN(rng, 0, 1, n, 1, 12, 12), false)
	v2 := autograd.NewVar(tensor.RandN(rng, 0, 1, n, 1, 12, 12), false)
	keys := func(m *MoCo, x *tensor.Tensor) *tensor.Tensor {
		tp := autograd.NewTape(be)
		return tp.L2Normalize(m.HeadK.Forward(tp, m.EncK.Forward(tp, autograd.NewVar(x, false))), 1e-12).Value
	}
	for _, groups := range []int{n, 2} {
		c := tinyConfig("mocov1", false)
		c.ShuffleBN = groups
		m, err := NewMoCo(be, tensor.NewRand(2), c)
		if err != nil {
			t.Fatal(err)
		}
		m.Loss(autograd.NewTape(be), v1, v2, tensor.NewRand(8))
		got := m.last.k.Value
		want := tensor.Zeros(n, c.ProjDim)
		var plain *tensor.Tensor
		if groups == n {
			m.EncK.SetBNGroups(1)
			for i := range n {
				copy(want.Data()[i*c.ProjDim:], keys(m, v2.Value.Rows(i, i+1).Clone()).Data())
			}
		} else {
			perm := tensor.NewRand(8).Perm(n) // the Loss's first draw
			ks := keys(m, permuteRows(be, v2.Value, perm, false))
			want = permuteRows(be, ks, perm, true)
			plain = keys(m, v2.Value)
		}
		for i, w := range want.Data() {
			if d := math.Abs(float64(got.Data()[i] - w)); d > 1e-5 {
				t.Fatalf("%d groups: key element %d is %g, want %g", groups, i, got.Data()[i], w)
			}
		}
		if plain != nil {
			diff := 0.0
			for i, w := range plain.Data() {
				diff = math.Max(diff, math.Abs(float64(got.Data()[i]-w)))
			}
			if diff < 1e-3 {
				t.Fatalf("%d groups: shuffled keys equal the unshuffled ones (max difference %g)", groups, diff)
			}
		}
	}
	c := tinyConfig("mocov2", false)
	m, err := NewMoCo(be, tensor.NewRand(2), c)
	if err != nil {
		t.Fatal(err)
	}
	tc := tinyTrainConfig()
	tc.BatchSize = 6
	if _, err := NewTrainer(be, m, twoViewData(24), tc); err == nil {
		t.Fatal("batch 6 accepted with 4 shuffling batch-norm groups")
	}
}
