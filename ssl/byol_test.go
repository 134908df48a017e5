package ssl

import (
	"context"
	"math"
	"testing"

	"hallucinator/autograd"
	"hallucinator/kernels/cpu"
	"hallucinator/kernels/cpu/ref"
	"hallucinator/ssl/data"
	"hallucinator/tensor"
)

// byolByHand returns sum over both directions of mean_i (2 - 2cos(a_i, b_i)),
// in float64, for a [2n, d] predictions (with the hallucinated rows after
// them when h is not nil) and z [2n, d] target projections.
func byolByHand(p, z, h1, h2 *tensor.Tensor) float64 {
	n, d := p.Dim(0)/2, p.Dim(1)
	cos := func(ai int, at *tensor.Tensor, bi int, bt *tensor.Tensor) float64 {
		var ab, aa, bb float64
		for j := 0; j < d; j++ {
			x, y := float64(at.At(ai, j)), float64(bt.At(bi, j))
			ab += x * y
			aa += x * x
			bb += y * y
		}
		return ab / math.Sqrt(aa) / math.Sqrt(bb)
	}
	total := 0.0
	for dir := 0; dir < 2; dir++ {
		po, zo := dir*n, (1-dir)*n // p1 against zt2, then p2 against zt1
		hs := h1
		if dir == 1 {
			hs = h2
		}
		var s float64
		rows := n
		for i := 0; i < n; i++ {
			s += 2 - 2*cos(po+i, p, zo+i, z)
			if hs != nil {
				s += 2 - 2*cos(i, hs, zo+i, z)
			}
		}
		if hs != nil {
			rows = 2 * n
		}
		total += s / float64(rows)
	}
	return total
}

// TestBYOLLossByHand checks the loss against 2 - 2cos of the online
// predictions and the target projections computed from the modules one by
// one, with and without the Hallucinator, and that swapping the views
// leaves it unchanged.
func TestBYOLLossByHand(t *testing.T) {
	be := ref.New()
	const n = 4
	rng := tensor.NewRand(21)
	x1 := tensor.RandN(rng, 0, 1, n, 1, 12, 12)
	x2 := tensor.RandN(rng, 0, 1, n, 1, 12, 12)
	for _, hal := range []bool{false, true} {
		s, err := NewBYOL(be, tensor.NewRand(3), tinyConfig("byol", hal))
		if err != nil {
			t.Fatal(err)
		}
		s.SetTraining(true)
		// Let the target differ from the online network, as after training.
		for _, p := range s.targetParams() {
			d := p.V.Value.Data()
			for i := range d {
				d[i] += 0.05 * float32(math.Sin(float64(i)))
			}
		}
		loss := func(a, b *tensor.Tensor) float64 {
			tp := autograd.NewTape(be)
			return float64(s.Loss(tp, autograd.NewVar(a, false), autograd.NewVar(b, false), tensor.NewRand(9)).Value.Data()[0])
		}
		got := loss(x1, x2)
		tp := autograd.NewTape(be)
		x := tp.ConcatRows(autograd.NewVar(x1, false), autograd.NewVar(x2, false))
		p := s.Pred.Forward(tp, s.Proj.Forward(tp, s.Enc.Forward(tp, x))).Value
		z := s.ProjT.Forward(tp, s.EncT.Forward(tp, x)).Value
		var h1, h2 *tensor.Tensor
		if hal {
			lr := tensor.NewRand(9)
			l1, l2 := SampleLambda(lr), SampleLambda(lr)
			p1, p2 := autograd.NewVar(p.Rows(0, n).Clone(), false), autograd.NewVar(p.Rows(n, 2*n).Clone(), false)
			h1 = s.Hal.Hallucinate(tp, p1, p2, l1).Value
			h2 = s.Hal.Hallucinate(tp, p2, p1, l2).Value
		}
		want := byolByHand(p, z, h1, h2)
		if math.Abs(got-want) > 1e-5*(1+math.Abs(want)) {
			t.Fatalf("hallucinate %v: loss %v, by hand %v", hal, got, want)
		}
		if !(want > 0.01 && want < 8) {
			t.Fatalf("hallucinate %v: loss %v out of (0, 8)", hal, want)
		}
		if !hal {
			if sw := loss(x2, x1); math.Abs(sw-got) > 1e-5*(1+math.Abs(got)) {
				t.Fatalf("loss %v with the views swapped, %v", sw, got)
			}
		}
	}
}

func TestBYOLTau(t *testing.T) {
	for _, tc := range []struct {
		base     float32
		k, total int
		want     float64
	}{
		{0.99, 0, 100, 0.99}, {0.99, 50, 100, 0.995}, {0.99, 100, 100, 1},
		{0.996, 0, 1000, 0.996}, {0.996, 500, 1000, 0.998}, {0.996, 1000, 1000, 1},
		{0.99, 25, 100, 1 - 0.01*(math.Cos(math.Pi/4)+1)/2},
		{0.99, 7, 0, 0.99}, // no schedule
	} {
		if got := BYOLTau(tc.base, tc.k, tc.total); math.Abs(float64(got)-tc.want) > 1e-7 {
			t.Errorf("tau(base %v, %d of %d) = %v, want %v", tc.base, tc.k, tc.total, got, tc.want)
		}
	}
	prev := float32(0)
	for k := 0; k <= 40; k++ {
		tau := BYOLTau(0.9, k, 40)
		if tau < prev {
			t.Fatalf("tau falls at step %d: %v after %v", k, tau, prev)
		}
		prev = tau
	}
}

// TestBYOLTargetFollowsEMA trains through the Trainer and checks after each
// step that no target parameter has a gradient and that each moved exactly
// to tau*target + (1-tau)*online with the scheduled tau of that step.
func TestBYOLTargetFollowsEMA(t *testing.T) {
	be := ref.New()
	c := tinyConfig("byol", true)
	c.Momentum = 0.9 // large moves
	s, err := NewBYOL(be, tensor.NewRand(4), c)
	if err != nil {
		t.Fatal(err)
	}
	tc := tinyTrainConfig()
	tr, err := NewTrainer(be, s, twoViewData(24), tc)
	if err != nil {
		t.Fatal(err)
	}
	total := tc.Epochs * tr.StepsPerEpoch()
	snap := func() [][]float32 {
		var out [][]float32
		for _, p := range s.targetParams() {
			out = append(out, append([]float32(nil), p.V.Value.Data()...))
		}
		return out
	}
	prev := snap()
	steps := 0
	for !tr.Done() {
		err := tr.RunEpoch(context.Background(), func(info StepInfo) {
			k := info.GlobalStep - 1
			tau := BYOLTau(c.Momentum, k, total)
			if k == 0 && tau != c.Momentum {
				t.Errorf("step 0: tau %v, want the base %v", tau, c.Momentum)
			}
			on := s.onlineParams()
			moved := 0.0
			for i, p := range s.targetParams() {
				if p.V.HasGrad() || p.V.RequiresGrad {
					t.Fatalf("step %d: target %s has a gradient", k, p.Name)
				}
				if !on[i].V.HasGrad() && on[i].V.RequiresGrad {
					t.Fatalf("step %d: online %s has no gradient", k, on[i].Name)
				}
				od := on[i].V.Value.Data()
				for j, v := range p.V.Value.Data() {
					want := float64(tau)*float64(prev[i][j]) + (1-float64(tau))*float64(od[j])
					if math.Abs(float64(v)-want) > 1e-6*(1+math.Abs(want)) {
						t.Fatalf("step %d (tau %v): %s[%d] = %v, want %v", k, tau, p.Name, j, v, want)
					}
					moved = math.Max(moved, math.Abs(float64(v-prev[i][j])))
				}
			}
			if k > 0 && moved == 0 {
				t.Fatalf("step %d: the target did not move", k)
			}
			prev = snap()
			steps++
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if steps != total {
		t.Fatalf("%d steps, want %d", steps, total)
	}
}

// fashionLikeData is a labelled set of 1x28x28 images in ten classes, each
// a noisy copy of a class prototype (random blobs), like Fashion-MNIST.
func fashionLikeData(n int) *data.Dataset {
	rng := tensor.NewRand(17)
	const side = 28
	protos := make([][]float64, 10)
	for c := range protos {
		protos[c] = make([]float64, side*side)
		for range 3 {
			cy, cx, r := 4+rng.IntN(20), 4+rng.IntN(20), 3+rng.IntN(6)
			for y := 0; y < side; y++ {
				for x := 0; x < side; x++ {
					if (y-cy)*(y-cy)+(x-cx)*(x-cx) <= r*r {
						protos[c][y*side+x] = 200
					}
				}
			}
		}
	}
	ds := &data.Dataset{N: n, C: 1, H: side, W: side, NumClasses: 10, Pixels: make([]uint8, n*side*side), Labels: make([]int32, n)}
	for i := 0; i < n; i++ {
		c := i % 10
		ds.Labels[i] = int32(c)
		for j, v := range protos[c] {
			ds.Pixels[i*side*side+j] = uint8(math.Min(255, v+float64(rng.IntN(50))))
		}
	}
	return ds
}

// TestBYOLLearns trains BYOL (and BYOL with the Hallucinator) briefly on
// Fashion-MNIST-like data and checks that the loss falls.
func TestBYOLLearns(t *testing.T) {
	be := cpu.New(cpu.Options{})
	defer be.Close()
	norm := data.Normalize{Mean: []float64{0.3}, Std: []float64{0.3}}
	view := data.NewPipeline(data.NewRandomResizedCrop(28, [2]float64{0.5, 1}), data.RandomHorizontalFlip{P: 0.5}, norm)
	for _, hal := range []bool{false, true} {
		c := tinyConfig("byol", hal)
		c.Width = 4
		s, err := NewBYOL(be, tensor.NewRand(6), c)
		if err != nil {
			t.Fatal(err)
		}
		tc := TrainConfig{Epochs: 3, BatchSize: 32, LR: 0.1, FinalLR: 0.01, Momentum: 0.9, WeightDecay: 1e-4,
			Seed: 2, Workers: 2, Views: [2]data.Transform{view, view}, WarmupSteps: 2}
		tr, err := NewTrainer(be, s, fashionLikeData(320), tc)
		if err != nil {
			t.Fatal(err)
		}
		var losses []float64
		for !tr.Done() {
			if err := tr.RunEpoch(context.Background(), func(i StepInfo) { losses = append(losses, i.Loss) }); err != nil {
				t.Fatal(err)
			}
		}
		mean := func(xs []float64) float64 {
			s := 0.0
			for _, x := range xs {
				s += x
			}
			return s / float64(len(xs))
		}
		first, last := mean(losses[:5]), mean(losses[len(losses)-5:])
		t.Logf("hallucinate %v: loss %.4f over the first 5 steps, %.4f over the last 5 of %d", hal, first, last, len(losses))
		if !(last < 0.8*first) {
			t.Errorf("hallucinate %v: loss %.4f -> %.4f, want a fall of 20%% or more", hal, first, last)
		}
	}
}
