package cpu

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"hallucinator/kernels"
	"hallucinator/tensor"
)

// benchLayer is one convolution + batch norm of a ResNet, with its buffers.
type benchLayer struct {
	cp                    kernels.ConvParams
	x, w, y, z            *tensor.Tensor // input, filter, conv output, BN output
	dz, dy, dx, dw        *tensor.Tensor
	gamma, beta, mean, is *tensor.Tensor
	rm, rv, dg, db        *tensor.Tensor
	relu                  bool
}

func newBenchLayer(x *tensor.Tensor, k, r, stride int, relu bool) *benchLayer {
	rng := tensor.NewRand(uint64(k*r + stride))
	s := x.Shape()
	cp := kernels.ConvParams{StrideH: stride, StrideW: stride, PadH: r / 2, PadW: r / 2}
	p, q := cp.OutSize(s[2], s[3], r, r)
	return &benchLayer{
		cp: cp, x: x, w: tensor.RandN(rng, 0, 0.1, k, s[1], r, r),
		y: tensor.Zeros(s[0], k, p, q), z: tensor.Zeros(s[0], k, p, q),
		dz: tensor.RandN(rng, 0, 1, s[0], k, p, q), dy: tensor.Zeros(s[0], k, p, q),
		dx: tensor.Zeros(s...), dw: tensor.Zeros(k, s[1], r, r),
		gamma: tensor.Ones(k), beta: tensor.Zeros(k), mean: tensor.Zeros(k), is: tensor.Zeros(k),
		rm: tensor.Zeros(k), rv: tensor.Ones(k), dg: tensor.Zeros(k), db: tensor.Zeros(k), relu: relu,
	}
}

// BenchmarkResNet18Layers runs the convolutions and batch norms of one
// training step (forward and backward) of a ResNet-18 on 28x28 images, the
// Fashion-MNIST workload: width 16 at batch 128, and width 8 at batch 256
// (the two views of a SimCLR batch of 128), with and without the
// convolution paths of convflip.go and im2colsimd.go. It reports images/s and
// processor time per step.
func BenchmarkResNet18Layers(b *testing.B) {
	for _, tc := range []struct{ width, n int }{{16, 128}, {8, 256}} {
		for _, paths := range []convPaths{{}, {noFlip: true, noFastIm2col: true}} {
			b.Run(fmt.Sprintf("w%d_n%d/flip=%v,fastim2col=%v", tc.width, tc.n, !paths.noFlip, !paths.noFastIm2col), func(b *testing.B) {
				benchResNet18Layers(b, tc.width, tc.n, paths)
			})
		}
	}
}

func benchResNet18Layers(b *testing.B, width, n int, paths convPaths) {
	be := New(Options{})
	defer be.Close()
	be.paths = paths
	rng := tensor.NewRand(1)
	in := tensor.RandN(rng, 0, 1, n, 1, 28, 28)
	var layers []*benchLayer
	add := func(x *tensor.Tensor, k, r, stride int, relu bool) *tensor.Tensor {
		l := newBenchLayer(x, k, r, stride, relu)
		layers = append(layers, l)
		return l.z
	}
	x := add(in, width, 3, 1, true)
	for _, st := range []struct{ k, stride int }{{width, 1}, {2 * width, 2}, {4 * width, 2}, {8 * width, 2}} {
		for blk := 0; blk < 2; blk++ {
			stride := 1
			if blk == 0 {
				stride = st.stride
			}
			h := add(x, st.k, 3, stride, true)
			out := add(h, st.k, 3, 1, false)
			if stride != 1 {
				add(x, st.k, 1, stride, false)
			}
			x = out
		}
	}
	p := kernels.BNParams{Eps: 1e-5, Momentum: 0.1}
	step := func() {
		for _, l := range layers {
			be.Conv2d(l.cp, l.x, l.w, l.y)
			p.ReLU = l.relu
			be.BatchNormTrain(p, l.y, l.gamma, l.beta, l.z, l.mean, l.is, l.rm, l.rv)
		}
		for i := len(layers) - 1; i >= 0; i-- {
			l := layers[i]
			p.ReLU = l.relu
			be.BatchNormBackward(p, l.y, l.z, l.dz, l.gamma, l.mean, l.is, l.dy, l.dg, l.db)
			be.Conv2dBackwardFilter(l.cp, l.x, l.dy, l.dw)
			if i > 0 {
				be.Conv2dBackwardData(l.cp, l.dy, l.w, l.dx)
			}
		}
	}
	step()
	cpu0 := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		step()
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "images/s")
	// Processor time is steadier than wall time on a shared machine.
	b.ReportMetric((cpuTime()-cpu0).Seconds()*1e3/float64(b.N), "cpu-ms/step")
}

// cpuTime returns the user + system time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkConvPaths times each convolution path on one thread (processor
// time), on the width-16 and width-8 Fashion-MNIST shapes at batch 32.
func BenchmarkConvPaths(b *testing.B) {
	for _, s := range [][3]int{{1, 28, 16}, {16, 28, 16}, {32, 14, 32}, {64, 7, 64},
		{8, 28, 8}, {16, 14, 16}, {32, 7, 32}, {64, 4, 64}} {
		c, hw, k := s[0], s[1], s[2]
		const n = 32
		rng := tensor.NewRand(3)
		cp := kernels.ConvParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}
		x, w := tensor.RandN(rng, 0, 1, n, c, hw, hw), tensor.RandN(rng, 0, 1, k, c, 3, 3)
		y, dy := tensor.Zeros(n, k, hw, hw), tensor.RandN(rng, 0, 1, n, k, hw, hw)
		dx, dw := tensor.Zeros(n, c, hw, hw), tensor.Zeros(k, c, 3, 3)
		flops := 2 * float64(n*k*hw*hw*c*9)
		for _, paths := range []convPaths{{}, {noGrid: true}, {noGrid: true, noDot: true}, {noFlip: true},
			{noFastIm2col: true}} {
			be := New(Options{Threads: 1})
			be.paths = paths
			for _, op := range []struct {
				name string
				f    func()
			}{
				{"fwd", func() { be.Conv2d(cp, x, w, y) }},
				{"bwd-data", func() { be.Conv2dBackwardData(cp, dy, w, dx) }},
				{"bwd-filter", func() { be.Conv2dBackwardFilter(cp, x, dy, dw) }},
			} {
				b.Run(fmt.Sprintf("c%d_%dx%d_k%d/grid=%v,dot=%v,flip=%v,fastim2col=%v/%s", c, hw, hw, k,
					!paths.noGrid, !paths.noDot, !paths.noFlip, !paths.noFastIm2col, op.name), func(b *testing.B) {
					op.f()
					c0 := cpuTime()
					for b.Loop() {
						op.f()
					}
					b.ReportMetric(flops*float64(b.N)/(cpuTime()-c0).Seconds()/1e9, "GFLOP/s-cpu")
				})
			}
			be.Close()
		}
	}
}
