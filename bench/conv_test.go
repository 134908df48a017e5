package bench

import (
	"fmt"
	"testing"

	"hallucinator/kernels"
	"hallucinator/kernels/cpu"
	"hallucinator/kernels/cpu/ref"
	"hallucinator/tensor"
)

// convShape is one convolution layer: batch n, input c x h x w, k filters of
// r x r, stride and padding.
type convShape struct {
	n, c, h, w, k, r, stride, pad int
}

func (s convShape) String() string {
	return fmt.Sprintf("n%d_c%d_%dx%d_k%d_%dx%d_s%d_p%d", s.n, s.c, s.h, s.w, s.k, s.r, s.r, s.stride, s.pad)
}

func (s convShape) params() kernels.ConvParams {
	return kernels.ConvParams{StrideH: s.stride, StrideW: s.stride, PadH: s.pad, PadW: s.pad}
}

// flops is the multiply-add count of one pass (forward, backward-data or
// backward-filter all do the same work), times 2.
func (s convShape) flops() float64 {
	p, q := s.params().OutSize(s.h, s.w, s.r, s.r)
	return 2 * float64(s.n) * float64(s.k) * float64(p*q) * float64(s.c*s.r*s.r)
}

// convShapes are the convolutions of a ResNet-18 with the CIFAR stem at
// batch 32 (32x32 inputs), and of the width-16 ResNet-18 that trains on
// Fashion-MNIST (28x28, batch 128).
var convShapes = []convShape{
	{32, 3, 32, 32, 64, 3, 1, 1},    // stem
	{32, 64, 32, 32, 64, 3, 1, 1},   // layer1
	{32, 64, 32, 32, 128, 3, 2, 1},  // layer2.0.conv1
	{32, 64, 32, 32, 128, 1, 2, 0},  // layer2.0.downsample
	{32, 128, 16, 16, 128, 3, 1, 1}, // layer2
	{32, 256, 8, 8, 256, 3, 1, 1},   // layer3
	{32, 512, 4, 4, 512, 3, 1, 1},   // layer4
	{128, 1, 28, 28, 16, 3, 1, 1},   // width 16: stem
	{128, 16, 28, 28, 16, 3, 1, 1},  // width 16: layer1
	{128, 32, 14, 14, 32, 3, 1, 1},  // width 16: layer2
	{128, 64, 7, 7, 64, 3, 1, 1},    // width 16: layer3
	{128, 128, 4, 4, 128, 3, 1, 1},  // width 16: layer4
}

// BenchmarkConv2d times the forward, backward-data and backward-filter
// passes of each shape on the cpu backend, and of the stem on the reference,
// reporting GFLOP/s.
func BenchmarkConv2d(b *testing.B) {
	fast := cpu.New(cpu.Options{})
	defer fast.Close()
	backends := []struct {
		be     kernels.Backend
		shapes []convShape
	}{
		{fast, convShapes},
		{ref.New(), convShapes[:1]},
	}
	for _, be := range backends {
		for _, s := range be.shapes {
			p, q := s.params().OutSize(s.h, s.w, s.r, s.r)
			rng := tensor.NewRand(1)
			x := tensor.RandN(rng, 0, 1, s.n, s.c, s.h, s.w)
			w := tensor.RandN(rng, 0, 0.1, s.k, s.c, s.r, s.r)
			y := tensor.Zeros(s.n, s.k, p, q)
			dy := tensor.RandN(rng, 0, 1, s.n, s.k, p, q)
			dx := tensor.Zeros(s.n, s.c, s.h, s.w)
			dw := tensor.Zeros(s.k, s.c, s.r, s.r)
			cp := s.params()
			for _, op := range []struct {
				name string
				run  func()
			}{
				{"fwd", func() { be.be.Conv2d(cp, x, w, y) }},
				{"bwd-data", func() { be.be.Conv2dBackwardData(cp, dy, w, dx) }},
				{"bwd-filter", func() { be.be.Conv2dBackwardFilter(cp, x, dy, dw) }},
			} {
				b.Run(be.be.Name()+"/"+s.String()+"/"+op.name, func(b *testing.B) {
					op.run() // warm up: scratch buffers, caches
					b.ResetTimer()
					for b.Loop() {
						op.run()
					}
					b.ReportMetric(s.flops()*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			}
		}
	}
}
