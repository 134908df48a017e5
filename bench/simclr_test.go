package bench

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"hallucinator/autograd"
	"hallucinator/kernels"
	"hallucinator/kernels/cpu"
	"hallucinator/kernels/cpu/blas"
	"hallucinator/kernels/profile"
	"hallucinator/nn/optim"
	"hallucinator/ssl"
	"hallucinator/tensor"
)

// BenchmarkSimCLRStep times one SimCLR training step on the CPU backend:
// two views of a batch of images through a ResNet-18 and the projection head
// (512-512-128), NT-Xent, backward, and SGD with momentum and weight decay.
// It reports pairs/s (one pair is an image's two views), the figure
// bench/torch_cpu_step.py prints for PyTorch on the same machine, and the
// step's rate as a fraction of the FMA peak of GOMAXPROCS threads
// (blas.MeasurePeak) when it can be measured.
//
// b{32,64,128,256}_w64 is the full-width network of the paper's CIFAR
// protocol (32x32x3, CIFAR stem); b{...}_w8_fmnist is the Fashion-MNIST
// preset of cmd/train (width 8, 28x28x1), at b128 also with the Hallucinator
// (_hal) and with op outputs allocated anew each step (_fresh) instead of
// recycled by the tape as ssl.Trainer does.
func BenchmarkSimCLRStep(b *testing.B) {
	var cases []stepCase
	for _, batch := range []int{32, 64, 128, 256} {
		cases = append(cases, stepCase{batch: batch, width: 64, chans: 3, hw: 32},
			stepCase{batch: batch, width: 8, chans: 1, hw: 28})
	}
	cases = append(cases, stepCase{batch: 128, width: 8, chans: 1, hw: 28, fresh: true},
		stepCase{batch: 128, width: 8, chans: 1, hw: 28, hal: true})
	peak := map[int]float64{}
	flops := map[string]float64{} // per case, counted once
	for _, tc := range cases {
		b.Run(tc.name(), func(b *testing.B) {
			be := cpu.New(cpu.Options{})
			defer be.Close()
			st := newStep(b, be, tc, flops)
			st.run() // warm-up: buffers, momentum
			b.ResetTimer()
			for range b.N {
				st.run()
			}
			sec := b.Elapsed().Seconds()
			b.ReportMetric(float64(tc.batch*b.N)/sec, "pairs/s")
			threads := runtime.GOMAXPROCS(0)
			if _, ok := peak[threads]; !ok {
				b.StopTimer()
				if pk, err := blas.MeasurePeak(threads, 200*time.Millisecond); err == nil {
					peak[threads] = pk.GFLOPS
				}
			}
			if pk := peak[threads]; pk > 0 {
				b.ReportMetric(st.flops*float64(b.N)/sec/1e9/pk, "of-peak")
			}
		})
	}
}

// BenchmarkSimCLRStepProfile runs the steps of BenchmarkSimCLRStep's
// b128_w64 and b128_w8_fmnist through profile.Wrap and logs where the time
// goes, by pass and by op, against the FMA peak and the memory bandwidth
// measured in the same run (run it with -benchtime 3x or more).
func BenchmarkSimCLRStepProfile(b *testing.B) {
	for _, tc := range []stepCase{{batch: 128, width: 64, chans: 3, hw: 32}, {batch: 128, width: 8, chans: 1, hw: 28}} {
		b.Run(tc.name(), func(b *testing.B) {
			inner := cpu.New(cpu.Options{})
			defer inner.Close()
			be := profile.Wrap(inner, profile.Options{})
			st := newStep(b, be, tc, nil)
			st.run()
			be.Reset()
			b.ResetTimer()
			for range b.N {
				st.run()
			}
			b.StopTimer()
			b.ReportMetric(float64(tc.batch*b.N)/b.Elapsed().Seconds(), "pairs/s")
			m := profile.Machine{BandwidthGBs: profile.MeasureBandwidth(inner, 5)}
			if pk, err := blas.MeasurePeak(runtime.GOMAXPROCS(0), 200*time.Millisecond); err == nil {
				m.PeakGFLOPS = pk.GFLOPS
			}
			var sb strings.Builder
			fmt.Fprintf(&sb, "%s, %d threads, peak %.0f GFLOP/s, bandwidth %.1f GB/s, per step:\n",
				tc.name(), runtime.GOMAXPROCS(0), m.PeakGFLOPS, m.BandwidthGBs)
			if err := be.Report().Write(&sb, m, b.N, 40); err != nil {
				b.Fatal(err)
			}
			b.Log(sb.String())
		})
	}
}

type stepCase struct {
	batch, width, chans, hw int
	hal, fresh              bool
}

func (tc stepCase) name() string {
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
	return name
}

// step is one training step of a stepCase on a backend.
type step struct {
	run   func()
	flops float64 // the convolutions' and products' arithmetic per step
}

// newStep builds the step of tc on be. With flops set it also counts the
// step's arithmetic, once per case (flops keeps the counts).
func newStep(b *testing.B, be kernels.Backend, tc stepCase, flops map[string]float64) step {
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
	run := func() {
		tp.Recycle()
		opt.ZeroGrad()
		tp.Backward(fw.Loss(tp, v1, v2, rng))
		opt.Step()
		fw.AfterStep()
	}
	if flops == nil {
		return step{run: run}
	}
	if _, ok := flops[tc.name()]; !ok {
		// Count the step's arithmetic through the profiler.
		pb := profile.Wrap(be, profile.Options{})
		fw2, err := ssl.New(pb, tensor.NewRand(4), cfg)
		if err != nil {
			b.Fatal(err)
		}
		tp2 := autograd.NewTape(pb)
		pb.Reset()
		tp2.Backward(fw2.Loss(tp2, v1, v2, tensor.NewRand(5)))
		for _, e := range pb.Report().Entries {
			flops[tc.name()] += e.Flops
		}
	}
	return step{run: run, flops: flops[tc.name()]}
}
