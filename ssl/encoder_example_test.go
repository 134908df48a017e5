package ssl_test

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"os"
	"path/filepath"

	"hallucinator/kernels/cpu"
	"hallucinator/ssl"
	"hallucinator/ssl/data"
	"hallucinator/tensor"
)

// ExampleLoadEncoder trains a tiny encoder for one step, saves the
// checkpoint as cmd/train does, then loads the encoder alone and embeds an
// image.Image with it, as a program that uses a trained encoder would.
func ExampleLoadEncoder() {
	be := cpu.New(cpu.Options{})
	defer be.Close()

	// 32 random 1x16x16 images.
	rng := tensor.NewRand(1)
	ds := &data.Dataset{N: 32, C: 1, H: 16, W: 16, NumClasses: 1,
		Pixels: make([]uint8, 32*16*16), Labels: make([]int32, 32)}
	for i := range ds.Pixels {
		ds.Pixels[i] = uint8(rng.IntN(256))
	}
	c := ssl.DefaultConfig("simclr")
	c.Width, c.InChannels = 4, 1
	fw, err := ssl.New(be, tensor.NewRand(2), c)
	if err != nil {
		panic(err)
	}
	norm := data.Normalize{Mean: []float64{0.5}, Std: []float64{0.25}}
	view := data.SSLView(16, norm, false)
	tr, err := ssl.NewTrainer(be, fw, ds, ssl.TrainConfig{Epochs: 1, BatchSize: 16, LR: 0.1, Momentum: 0.9,
		Seed: 3, Views: [2]data.Transform{view, view}, MaxSteps: 1, Norm: norm})
	if err != nil {
		panic(err)
	}
	if err := tr.RunEpoch(context.Background(), nil); err != nil {
		panic(err)
	}
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	ckpt := filepath.Join(dir, "checkpoint.safetensors")
	if err := tr.Save(ckpt, nil); err != nil {
		panic(err)
	}

	// Later, in another program: the checkpoint says how to build the
	// encoder and how to prepare its input.
	enc, err := ssl.LoadEncoder(ckpt, be)
	if err != nil {
		panic(err)
	}
	img := image.NewRGBA(image.Rect(0, 0, 40, 30)) // any size and color model
	for y := 0; y < 30; y++ {
		for x := 0; x < 40; x++ {
			img.Set(x, y, color.RGBA{R: uint8(6 * x), G: uint8(8 * y), B: 90, A: 255})
		}
	}
	feats, err := enc.Embed(context.Background(), []image.Image{img})
	if err != nil {
		panic(err)
	}
	i := enc.Info
	fmt.Printf("%s width %d, %s stem, %d channel(s) of %dx%d, normalised by mean %v std %v\n",
		i.Arch, i.Width, i.Stem, i.InChannels, i.ImageSize, i.ImageSize, enc.Norm.Mean, enc.Norm.Std)
	fmt.Println("features:", feats.Shape())
	// Output:
	// resnet18 width 4, cifar stem, 1 channel(s) of 16x16, normalised by mean [0.5] std [0.25]
	// features: [1 32]
}
