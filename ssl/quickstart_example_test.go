package ssl_test

import (
	"context"
	"fmt"
	"image"

	"hallucinator/kernels/auto"
	"hallucinator/ssl"
	"hallucinator/ssl/data"
	"hallucinator/tensor"
)

// Example_quickStart is the README's quick start with its errors handled:
// pre-train SimCLR with the Hallucinator on Fashion-MNIST at the CPU
// preset, evaluate on the validation split, then load the encoder from its
// checkpoint and embed an image. (It takes the preset's ten minutes, so it
// is compiled but not run by the tests.)
func Example_quickStart() {
	ctx := context.Background()
	be, err := auto.New("auto")
	if err != nil {
		panic(err)
	}
	defer be.Close()
	splits, err := data.Open("fashion-mnist", data.OpenOptions{Val: -1})
	if err != nil {
		panic(err)
	}
	preset, err := ssl.PresetFor("cpu", "simclr", true)
	if err != nil {
		panic(err)
	}
	cfg := ssl.DefaultConfig("simclr")
	cfg.Width, cfg.InChannels, cfg.Hallucinate = preset.Width, splits.Train.C, true
	fw, err := ssl.New(be, tensor.NewRand(1), cfg)
	if err != nil {
		panic(err)
	}
	view := data.SSLView(28, splits.Norm, false)
	tr, err := ssl.NewTrainer(be, fw, splits.Train, ssl.TrainConfig{Epochs: preset.Epochs, BatchSize: preset.Batch,
		LR: preset.LR, Momentum: 0.9, Views: [2]data.Transform{view, view}, Norm: splits.Norm})
	if err != nil {
		panic(err)
	}
	for !tr.Done() {
		if err := tr.RunEpoch(ctx, nil); err != nil {
			panic(err)
		}
	}
	if err := tr.Save("checkpoint.safetensors", nil); err != nil {
		panic(err)
	}
	sum, err := ssl.Evaluate(ctx, be, fw, ssl.EvalData{Train: splits.Train, Eval: splits.Val, Split: "val", Norm: splits.Norm},
		ssl.EvalConfig{Probe: &ssl.DefaultProbe})
	if err != nil {
		panic(err)
	}
	fmt.Printf("kNN %.2f %%, linear %.2f %%\n", 100*sum.KNN, 100*sum.Probe.Last)

	enc, err := ssl.LoadEncoder("checkpoint.safetensors", be)
	if err != nil {
		panic(err)
	}
	img := image.NewGray(image.Rect(0, 0, 28, 28))
	feats, err := enc.Embed(ctx, []image.Image{img})
	if err != nil {
		panic(err)
	}
	fmt.Println(feats.Shape())
}
