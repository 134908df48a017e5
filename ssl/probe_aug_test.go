package ssl

import (
	"context"
	"testing"

	"hallucinator/kernels/cpu"
	"hallucinator/ssl/data"
	"hallucinator/tensor"
)

// brightDark is a data set whose two classes survive crops and flips:
// bright images and dark ones.
func brightDark(n int, seed uint64) *data.Dataset {
	rng := tensor.NewRand(seed)
	ds := &data.Dataset{N: n, C: 1, H: 12, W: 12, NumClasses: 2, Pixels: make([]uint8, n*144), Labels: make([]int32, n)}
	for i := 0; i < n; i++ {
		ds.Labels[i] = int32(i % 2)
		for j := 0; j < 144; j++ {
			ds.Pixels[i*144+j] = uint8(30 + 120*(i%2) + rng.IntN(80))
		}
	}
	return ds
}

func TestLinearProbeAugmented(t *testing.T) {
	be := cpu.New(cpu.Options{Threads: 2})
	defer be.Close()
	c := tinyConfig("simclr", false)
	c.Width = 4
	fw, err := New(be, tensor.NewRand(3), c)
	if err != nil {
		t.Fatal(err)
	}
	train, eval := brightDark(96, 1), brightDark(40, 2)
	norm := data.Normalize{Mean: []float64{0.5}, Std: []float64{0.25}}
	pc := AugmentedProbeConfig{Epochs: 4, BatchSize: 16, LR: 0.5, Momentum: 0.9, Milestones: []int{3}, MinScale: 0.3, Seed: 5, Workers: 2}
	var done []int
	ctx := context.Background()
	res, err := LinearProbeAugmented(ctx, be, fw, train, eval, norm, pc, func(e int) { done = append(done, e) })
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Curve) != 4 || len(done) != 4 || done[3] != 4 || res.Last != res.Curve[3] || res.Best < res.Last {
		t.Fatalf("result %+v, progress %v", res, done)
	}
	if res.Last < 0.9 {
		t.Errorf("accuracy %v on bright against dark images, want >= 0.9 (curve %v)", res.Last, res.Curve)
	}
	again, err := LinearProbeAugmented(ctx, be, fw, train, eval, norm, pc, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range again.Curve {
		if again.Curve[i] != res.Curve[i] {
			t.Fatalf("not reproducible: %v then %v", res.Curve, again.Curve)
		}
	}
	bad := pc
	bad.MinScale = 0
	if _, err := LinearProbeAugmented(ctx, be, fw, train, eval, norm, bad, nil); err == nil {
		t.Error("crops from 0 accepted")
	}
}
