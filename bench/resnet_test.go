package bench

import (
	"fmt"
	"testing"

	"hallucinator/autograd"
	"hallucinator/kernels"
	"hallucinator/kernels/cpu"
	"hallucinator/kernels/cpu/ref"
	"hallucinator/nn"
	"hallucinator/nn/optim"
	"hallucinator/tensor"
)

// resnetStep is one benchmarked training configuration of a ResNet-18 with
// the CIFAR stem.
type resnetStep struct {
	backend      string
	batch, width int
	chans, hw    int
	name         string // sub-benchmark name after the backend; "" for b<batch>_w<width>
	newBackend   func() (kernels.Backend, func())
}

func cpuBackend() (kernels.Backend, func()) {
	b := cpu.New(cpu.Options{})
	return b, func() { b.Close() }
}

func refBackend() (kernels.Backend, func()) { return ref.New(), func() {} }

// BenchmarkResNet18Step times one training step (forward, cross-entropy,
// backward and a Nesterov SGD step over all parameters) of a ResNet-18 with
// the CIFAR stem on a batch of 32x32x3 images, and on the 28x28x1 batches
// of the Fashion-MNIST training test, reporting images/s.
func BenchmarkResNet18Step(b *testing.B) {
	for _, tc := range []resnetStep{
		{backend: "cpu", batch: 32, width: 64, chans: 3, hw: 32, newBackend: cpuBackend},
		{backend: "cpu", batch: 32, width: 16, chans: 3, hw: 32, newBackend: cpuBackend},
		{backend: "cpu", batch: 128, width: 16, chans: 1, hw: 28, name: "b128_w16_fmnist", newBackend: cpuBackend},
		{backend: "ref", batch: 8, width: 8, chans: 3, hw: 32, newBackend: refBackend},
	} {
		name := tc.name
		if name == "" {
			name = fmt.Sprintf("b%d_w%d", tc.batch, tc.width)
		}
		b.Run(tc.backend+"/"+name, func(b *testing.B) {
			be, closeFn := tc.newBackend()
			defer closeFn()
			m, err := nn.NewResNet18(be, tensor.NewRand(1), nn.ResNetConfig{
				Width: tc.width, Stem: nn.StemCIFAR, InChannels: tc.chans, NumClasses: 10})
			if err != nil {
				b.Fatal(err)
			}
			opt, err := optim.NewSGD(be, m.Params(), optim.SGDConfig{LR: 0.05, Momentum: 0.9, Nesterov: true, WeightDecay: 5e-4})
			if err != nil {
				b.Fatal(err)
			}
			rng := tensor.NewRand(2)
			x := autograd.NewVar(be.FromHost(tensor.RandN(rng, 0, 1, tc.batch, tc.chans, tc.hw, tc.hw)), false)
			labels := make([]int32, tc.batch)
			for i := range labels {
				labels[i] = int32(rng.IntN(10))
			}
			tp := autograd.NewTape(be)
			step := func() {
				opt.ZeroGrad()
				tp.Backward(tp.SoftmaxCrossEntropy(m.Forward(tp, x), labels))
				opt.Step()
				if err := be.Sync(); err != nil {
					b.Fatal(err)
				}
			}
			step() // warm-up: buffers, momentum
			b.ResetTimer()
			for range b.N {
				step()
			}
			b.ReportMetric(float64(tc.batch*b.N)/b.Elapsed().Seconds(), "images/s")
		})
	}
}
