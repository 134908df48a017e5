package bench

import (
	"fmt"
	"testing"

	"hallucinator/autograd"
	"hallucinator/kernels/cpu"
	"hallucinator/nn/optim"
	"hallucinator/ssl"
	"hallucinator/tensor"
)

// BenchmarkSimCLRStep times one SimCLR training step on the CPU backend:
// two views of a batch of 32x32x3 images through a ResNet-18 with the CIFAR
// stem and the projection head (512-512-128), NT-Xent at temperature 0.5,
// backward, and SGD with momentum and weight decay. It reports pairs/s (one
// pair is an image's two views), the figure bench/torch_cpu_step.py prints
// for PyTorch on the same machine.
//
// BenchmarkSimCLRStep/b128_w64 is the full-width network of the paper's
// CIFAR protocol at batch 128; b128_w8 is the Fashion-MNIST preset of
// cmd/train (width 8, 28x28x1) with and without the Hallucinator. The tape
// recycles op outputs from step to step as ssl.Trainer's does; the
// _fresh case allocates them anew each step, for comparison.
func BenchmarkSimCLRStep(b *testing.B) {
	for _, tc := range []struct {
		batch, width, chans, hw int
		hal, fresh              bool
	}{
		{batch: 128, width: 64, chans: 3, hw: 32},
		{batch: 128, width: 8, chans: 1, hw: 28},
		{batch: 128, width: 8, chans: 1, hw: 28, fresh: true},
		{batch: 128, width: 8, chans: 1, hw: 28, hal: true},
	} {
		name := fmt.Sprintf("b%d_w%d", tc.batch, tc.width)
		if tc.chans == 1 {
			name += "_fmnist"
		}
		if tc.hal {
			name += "_hal"
		}
		if tc.fresh {
			name += "_fresh"
		}
		b.Run(name, func(b *testing.B) {
			be := cpu.New(cpu.Options{})
			defer be.Close()
			rng := tensor.NewRand(4)
			cfg := ssl.DefaultConfig("simclr")
			cfg.Width, cfg.InChannels, cfg.Hallucinate = tc.width, tc.chans, tc.hal
			fw, err := ssl.New(be, rng, cfg)
			if err != nil {
				b.Fatal(err)
			}
			opt, err := optim.NewSGD(be, fw.MainParams(), optim.SGDConfig{LR: 0.06, Momentum: 0.9, WeightDecay: 5e-4})
			if err != nil {
				b.Fatal(err)
			}
			v1 := autograd.NewVar(tensor.RandN(rng, 0, 1, tc.batch, tc.chans, tc.hw, tc.hw), false)
			v2 := autograd.NewVar(tensor.RandN(rng, 0, 1, tc.batch, tc.chans, tc.hw, tc.hw), false)
			tp := autograd.NewTape(be)
			tp.SetRecycling(!tc.fresh)
			step := func() {
				tp.Recycle()
				opt.ZeroGrad()
				tp.Backward(fw.Loss(tp, v1, v2, rng))
				opt.Step()
				fw.AfterStep()
			}
			step() // warm-up: buffers, momentum
			b.ResetTimer()
			for range b.N {
				step()
			}
			b.ReportMetric(float64(tc.batch*b.N)/b.Elapsed().Seconds(), "pairs/s")
		})
	}
}
