package main

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"hallucinator/kernels/cpu"
	"hallucinator/ssl"
	"hallucinator/ssl/data"
	"hallucinator/tensor"
)

// halves draws an image whose left (class 0) or right (class 1) half is
// bright, with noise.
func halves(rng interface{ IntN(int) int }, class, size int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			v := 40 + rng.IntN(60)
			if (x < size/2) == (class == 0) {
				v += 120
			}
			img.Set(x, y, color.RGBA{uint8(v), uint8(v), uint8(v), 255})
		}
	}
	return img
}

// tinyCheckpoint trains a tiny encoder on 12x12 gray halves for one step
// and saves it as cmd/train does.
func tinyCheckpoint(t *testing.T) string {
	t.Helper()
	be := cpu.New(cpu.Options{Threads: 1})
	rng := tensor.NewRand(1)
	ds := &data.Dataset{N: 32, C: 1, H: 12, W: 12, NumClasses: 2, Pixels: make([]uint8, 32*144), Labels: make([]int32, 32)}
	for i := 0; i < ds.N; i++ {
		ds.Labels[i] = int32(i % 2)
		img := halves(rng, i%2, 12)
		for j := 0; j < 144; j++ {
			ds.Pixels[i*144+j] = img.Pix[4*j]
		}
	}
	c := ssl.DefaultConfig("simclr")
	c.Width, c.InChannels, c.ProjDim, c.HiddenDim = 2, 1, 8, 16
	fw, err := ssl.New(be, tensor.NewRand(2), c)
	if err != nil {
		t.Fatal(err)
	}
	norm := data.Normalize{Mean: []float64{0.4}, Std: []float64{0.3}}
	view := data.SSLView(12, norm, false)
	tr, err := ssl.NewTrainer(be, fw, ds, ssl.TrainConfig{Epochs: 1, BatchSize: 16, LR: 0.1, Momentum: 0.9,
		Seed: 3, Workers: 1, Views: [2]data.Transform{view, view}, MaxSteps: 1, Norm: norm})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.RunEpoch(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := tr.Save(filepath.Join(dir, "checkpoint.safetensors"), nil); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestEmbedFolder(t *testing.T) {
	run0 := tinyCheckpoint(t)
	root := t.TempDir()
	rng := tensor.NewRand(5)
	for _, split := range []string{"train", "val"} {
		for class, name := range []string{"left", "right"} {
			dir := filepath.Join(root, split, name)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 10; i++ {
				f, err := os.Create(filepath.Join(dir, string(rune('a'+i))+".png"))
				if err != nil {
					t.Fatal(err)
				}
				if err := png.Encode(f, halves(rng, class, 20)); err != nil {
					t.Fatal(err)
				}
				f.Close()
			}
		}
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-ckpt", run0, "-images", root, "-device", "cpu", "-k", "5"}, &out, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"resnet18 width 2 (cifar stem), 1-channel 12x12 images, 16 features", "embedded 20 + 20 images", "kNN accuracy (k=5, t=0.1): "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if err := run(context.Background(), []string{"-ckpt", filepath.Join(root, "none")}, &out, &out); err == nil {
		t.Error("a missing checkpoint was accepted")
	}
}

func TestEmbedFashionMNIST(t *testing.T) {
	if _, err := data.LoadFashionMNIST(data.FashionMNISTDir(), false); err != nil {
		t.Skipf("Fashion-MNIST not available: %v", err)
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-ckpt", tinyCheckpoint(t), "-device", "cpu", "-train", "64", "-test", "32", "-k", "5"}, &out, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "embedded 64 + 32 images") || !strings.Contains(out.String(), "kNN accuracy") {
		t.Errorf("output:\n%s", out.String())
	}
}
