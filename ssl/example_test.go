package ssl_test

import (
	"context"
	"fmt"

	"hallucinator/kernels/cpu"
	"hallucinator/kernels/cpu/ref"
	"hallucinator/ssl"
	"hallucinator/ssl/data"
	"hallucinator/tensor"
)

// Example pre-trains a small SimCLR + Hallucinator encoder for a few steps
// on an in-memory data set, then embeds images with it, as a program that
// embeds the library would.
func Example() {
	be := cpu.New(cpu.Options{})
	defer be.Close()

	// A data set of 64 random 1x16x16 images in two classes.
	rng := tensor.NewRand(1)
	ds := &data.Dataset{N: 64, C: 1, H: 16, W: 16, NumClasses: 2,
		Pixels: make([]uint8, 64*16*16), Labels: make([]int32, 64)}
	for i := range ds.Pixels {
		ds.Pixels[i] = uint8(rng.IntN(256))
	}
	for i := range ds.Labels {
		ds.Labels[i] = int32(i % 2)
	}

	// The encoder and its framework: SimCLR with the Hallucinator on.
	c := ssl.DefaultConfig("simclr")
	c.Width, c.InChannels, c.Hallucinate = 4, 1, true
	fw, err := ssl.New(be, tensor.NewRand(2), c)
	if err != nil {
		panic(err)
	}

	// Two augmented views per image, and a short run.
	norm := data.Normalize{Mean: []float64{0.5}, Std: []float64{0.25}}
	view := data.SSLView(16, norm, false)
	anchor := data.AnchorView(16, norm, false, 0.25, 0.75, 0.1)
	tr, err := ssl.NewTrainer(be, fw, ds, ssl.TrainConfig{Epochs: 1, BatchSize: 16, LR: 0.1, Momentum: 0.9,
		Seed: 3, Views: [2]data.Transform{anchor, view}, MaxSteps: 3})
	if err != nil {
		panic(err)
	}
	steps := 0
	if err := tr.RunEpoch(context.Background(), func(s ssl.StepInfo) { steps++ }); err != nil {
		panic(err)
	}

	// Embed every image with the trained encoder.
	feats, err := ssl.Embed(context.Background(), be, fw, ds, norm, 32)
	if err != nil {
		panic(err)
	}
	fmt.Println("steps:", steps)
	fmt.Println("features:", feats.Shape())
	// Output:
	// steps: 3
	// features: [64 32]
}

// The kNN monitor at several neighbour counts at once: the similarities and
// neighbours are found once, for the largest k. Here two train points per
// class lie near the test points' class, and one odd point near each test
// point carries the other label: one neighbour is fooled, three are not.
func ExampleKNNAccuracyByK() {
	train := tensor.FromSlice([]float32{
		1, 0.02, // class 0
		1, 0.3, // class 0
		0.05, 1, // class 1
		0.3, 1, // class 1
		1, 0.01, // class 1, next to the class-0 test point
		0.01, 1, // class 0, next to the class-1 test point
	}, 6, 2)
	test := tensor.FromSlice([]float32{1, 0, 0, 1}, 2, 2)
	acc, err := ssl.KNNAccuracyByK(context.Background(), ref.New(), []int{1, 3}, 0.1,
		train, []int32{0, 0, 1, 1, 1, 0}, test, []int32{0, 1}, 2)
	fmt.Println(acc, err)
	// Output:
	// [0 1] <nil>
}

// The effective rank (RankMe) of embeddings: rows spread over three
// orthogonal directions count as three, rows along one direction as one.
func ExampleEffectiveRank() {
	spread := []float32{
		3, 0, 0,
		0, -3, 0,
		0, 0, 3,
		0, 3, 0,
		-3, 0, 0,
		0, 0, -3,
	}
	collapsed := []float32{
		1, 2, 2,
		-2, -4, -4,
		0.5, 1, 1,
	}
	r1, _ := ssl.EffectiveRank(spread, 3)
	r2, _ := ssl.EffectiveRank(collapsed, 3)
	fmt.Printf("%.2f %.2f\n", r1, r2)
	// Output:
	// 3.00 1.00
}
