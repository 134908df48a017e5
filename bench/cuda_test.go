package bench

import (
	"fmt"
	"os"
	"testing"
	"time"

	"hallucinator/autograd"
	"hallucinator/kernels"
	"hallucinator/kernels/cpu/ref"
	"hallucinator/kernels/cuda"
	"hallucinator/nn/optim"
	"hallucinator/ssl"
	"hallucinator/tensor"
)

// The CUDA benchmarks: BenchmarkCUDA<Op>/<key>. Each reports ms/op (device
// time per operation, synchronised at the end of the loop) and a
// throughput. bench/torch_ref.py times the same operations in PyTorch under
// the same keys, and scripts/gpu-check.sh prints the ratios.

// cudaBackend returns a CUDA backend or skips the benchmark with the reason.
func cudaBackend(b *testing.B, fp32 bool) *cuda.Backend {
	b.Helper()
	be, err := cuda.New(cuda.Options{FP32: fp32})
	if err != nil {
		if os.Getenv("HALLUCINATOR_REQUIRE_GPU") != "" {
			b.Fatalf("no CUDA backend (HALLUCINATOR_REQUIRE_GPU is set): %v", err)
		}
		b.Skipf("no CUDA backend: %v", err)
	}
	b.Cleanup(func() {
		if err := be.Close(); err != nil {
			b.Errorf("Close: %v", err)
		}
	})
	return be
}

// runCUDA times op: one warm-up call, then the benchmark loop, synchronised
// before and after. It reports ms/op and, when work > 0, work/1e9 per
// second under unit.
func runCUDA(b *testing.B, be kernels.Backend, work float64, unit string, op func()) {
	b.Helper()
	op()
	if err := be.Sync(); err != nil {
		b.Fatal(err)
	}
	// A classic b.N loop: the timer runs until the Sync after it returns,
	// so queued kernels are counted (b.Loop would stop it before the Sync).
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		op()
	}
	if err := be.Sync(); err != nil {
		b.Fatal(err)
	}
	sec := time.Since(start).Seconds()
	b.ReportMetric(sec*1e3/float64(b.N), "ms/op")
	if work > 0 {
		b.ReportMetric(work*float64(b.N)/sec/1e9, unit)
	}
}

// randDev returns a device tensor of normal samples; tensors of more than
// 2^24 elements (timing only) are filled with a constant instead, to keep
// the host from generating gigabytes of samples.
func randDev(be kernels.Backend, rng interface{ NormFloat64() float64 }, std float32, shape ...int) *tensor.Tensor {
	if tensor.Numel(shape) > 1<<24 {
		t := be.Zeros(shape...)
		be.Fill(std/8, t)
		return t
	}
	h := tensor.Zeros(shape...)
	d := h.Data()
	for i := range d {
		d[i] = std * float32(rng.NormFloat64())
	}
	return be.FromHost(h)
}

// cudaSgemmShapes are square products and the im2col shapes of a CIFAR
// ResNet-18 at batch 512 (M = output pixels, N = filters, K = C*R*S).
var cudaSgemmShapes = [][3]int{
	{1024, 1024, 1024}, {2048, 2048, 2048}, {4096, 4096, 4096},
	{524288, 64, 576}, {131072, 128, 1152}, {8192, 512, 4608},
}

// BenchmarkCUDASgemm: C = A*B, BenchmarkCUDASgemm/<cuda-fp32|cuda-tf32>/<m>x<n>x<k>.
func BenchmarkCUDASgemm(b *testing.B) {
	for _, mode := range []string{"cuda-fp32", "cuda-tf32"} {
		b.Run(mode, func(b *testing.B) {
			be := cudaBackend(b, mode == "cuda-fp32")
			rng := tensor.NewRand(1)
			for _, s := range cudaSgemmShapes {
				m, n, k := s[0], s[1], s[2]
				b.Run(fmt.Sprintf("%dx%dx%d", m, n, k), func(b *testing.B) {
					x, w, y := randDev(be, rng, 1, m, k), randDev(be, rng, 1, k, n), be.Zeros(m, n)
					defer func() { be.Release(x); be.Release(w); be.Release(y) }()
					runCUDA(b, be, 2*float64(m)*float64(n)*float64(k), "GFLOP/s", func() {
						be.Gemm(false, false, 1, x, w, 0, y)
					})
				})
			}
		})
	}
}

// cudaConvShapes are the convolutions of a ResNet-18 with the CIFAR stem at
// batch 512.
var cudaConvShapes = []convShape{
	{512, 3, 32, 32, 64, 3, 1, 1},    // stem
	{512, 64, 32, 32, 64, 3, 1, 1},   // layer1
	{512, 64, 32, 32, 128, 3, 2, 1},  // layer2.0.conv1
	{512, 64, 32, 32, 128, 1, 2, 0},  // layer2.0.downsample
	{512, 128, 16, 16, 128, 3, 1, 1}, // layer2
	{512, 256, 8, 8, 256, 3, 1, 1},   // layer3
	{512, 512, 4, 4, 512, 3, 1, 1},   // layer4
}

// BenchmarkCUDAConv2d: BenchmarkCUDAConv2d/<shape>/<fwd|bwd-data|bwd-filter>,
// TF32 (as PyTorch's cuDNN default).
func BenchmarkCUDAConv2d(b *testing.B) {
	be := cudaBackend(b, false)
	rng := tensor.NewRand(2)
	for _, s := range cudaConvShapes {
		b.Run(s.String(), func(b *testing.B) {
			cp := s.params()
			p, q := cp.OutSize(s.h, s.w, s.r, s.r)
			x := randDev(be, rng, 1, s.n, s.c, s.h, s.w)
			w := randDev(be, rng, 0.1, s.k, s.c, s.r, s.r)
			dy := randDev(be, rng, 1, s.n, s.k, p, q)
			y, dx, dw := be.Zeros(s.n, s.k, p, q), be.Zeros(s.n, s.c, s.h, s.w), be.Zeros(s.k, s.c, s.r, s.r)
			defer func() {
				for _, t := range []*tensor.Tensor{x, w, dy, y, dx, dw} {
					be.Release(t)
				}
			}()
			for _, op := range []struct {
				name string
				run  func()
			}{
				{"fwd", func() { be.Conv2d(cp, x, w, y) }},
				{"bwd-data", func() { be.Conv2dBackwardData(cp, dy, w, dx) }},
				{"bwd-filter", func() { be.Conv2dBackwardFilter(cp, x, dy, dw) }},
			} {
				b.Run(op.name, func(b *testing.B) { runCUDA(b, be, s.flops(), "GFLOP/s", op.run) })
			}
		})
	}
}

// infoNCECase is one InfoNCE benchmark: a anchors against b keys (in-batch
// negatives, SimCLR) or against a queue (MoCo), dimension d.
type infoNCECase struct {
	name    string
	a, b, q int
	d       int
	inBatch bool
}

var cudaInfoNCECases = []infoNCECase{
	{"simclr_a1024_d128", 1024, 1024, 0, 128, true}, // 2N anchors, batch 512
	{"simclr-hal_a2048_d128", 2048, 1024, 0, 128, true},
	{"moco_a512_q65536_d128", 512, 512, 65536, 128, false},
}

// BenchmarkCUDAInfoNCE times the fused loss with both gradients:
// BenchmarkCUDAInfoNCE/<case>.
func BenchmarkCUDAInfoNCE(b *testing.B) {
	be := cudaBackend(b, false)
	rng := tensor.NewRand(3)
	for _, c := range cudaInfoNCECases {
		b.Run(c.name, func(b *testing.B) {
			q, k := randDev(be, rng, 1, c.a, c.d), randDev(be, rng, 1, c.b, c.d)
			var queue *tensor.Tensor
			if c.q > 0 {
				qh := tensor.RandN(rng, 0, 1, c.q, c.d)
				nrm := tensor.Zeros(c.q)
				ref := tensor.Zeros(c.q, c.d)
				refNormalize(qh, ref, nrm)
				queue = be.FromHost(ref)
			}
			p := kernels.InfoNCEParams{Temperature: 0.2, InBatchNegatives: c.inBatch, Pos: make([]int32, c.a)}
			if c.inBatch {
				p.Self = make([]int32, c.a)
			}
			for i := range p.Pos {
				// SimCLR: rows i and i^1 of the 2N are the two views.
				p.Pos[i] = int32(i % c.b)
				if c.inBatch {
					p.Pos[i] = int32((i ^ 1) % c.b)
					p.Self[i] = int32(i % c.b)
					if p.Self[i] == p.Pos[i] {
						p.Self[i] = -1
					}
				}
			}
			loss, dq, dk := be.Zeros(1), be.Zeros(c.a, c.d), be.Zeros(c.b, c.d)
			logits := float64(c.a) * float64(c.b+c.q)
			runCUDA(b, be, 3*2*logits*float64(c.d), "GFLOP/s", func() { be.InfoNCE(p, q, k, queue, loss, dq, dk) })
		})
	}
}

// refNormalize L2-normalises the rows of x into y on the host.
func refNormalize(x, y, norms *tensor.Tensor) {
	ref.New().L2NormalizeRows(1e-12, x, y, norms)
}

// BenchmarkCUDASimCLRStep times one SimCLR training step (two views of a
// batch of 32x32 images through a ResNet-18 with the CIFAR stem and the
// projection head, NT-Xent, backward, SGD): BenchmarkCUDASimCLRStep/b<batch>.
func BenchmarkCUDASimCLRStep(b *testing.B) {
	const batch = 512
	b.Run(fmt.Sprintf("b%d", batch), func(b *testing.B) {
		be := cudaBackend(b, false)
		rng := tensor.NewRand(4)
		fw, err := ssl.New(be, rng, ssl.DefaultConfig("simclr"))
		if err != nil {
			b.Fatal(err)
		}
		opt, err := optim.NewSGD(be, fw.MainParams(), optim.SGDConfig{LR: 0.06, Momentum: 0.9, WeightDecay: 5e-4})
		if err != nil {
			b.Fatal(err)
		}
		v1 := autograd.NewVar(randDev(be, rng, 1, batch, 3, 32, 32), false)
		v2 := autograd.NewVar(randDev(be, rng, 1, batch, 3, 32, 32), false)
		tp := autograd.NewTape(be)
		runCUDA(b, be, batch, "kimages/s", func() {
			opt.ZeroGrad()
			tp.Backward(fw.Loss(tp, v1, v2, rng))
			opt.Step()
			fw.AfterStep()
		})
	})
}
