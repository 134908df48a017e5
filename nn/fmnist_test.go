package nn_test

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"hallucinator/autograd"
	"hallucinator/kernels"
	"hallucinator/kernels/cpu"
	"hallucinator/nn"
	"hallucinator/nn/optim"
	"hallucinator/ssl/data"
	"hallucinator/tensor"
)

// Fashion-MNIST normalisation (mean and standard deviation of the
// training pixels in [0, 1]).
const fmnistMean, fmnistStd = 0.2860, 0.3530

func fmnistDir() string {
	if d := os.Getenv("FASHION_MNIST_DIR"); d != "" {
		return d
	}
	return "/usr/share/datasets/fashion-mnist"
}

// loadFMNIST loads both splits, or skips the test when the files are absent.
func loadFMNIST(t *testing.T) (train, test *data.Dataset) {
	t.Helper()
	dir := fmnistDir()
	if m, _ := filepath.Glob(filepath.Join(dir, "train-images-idx3-ubyte*")); len(m) == 0 {
		t.Skipf("Fashion-MNIST not found in %s (install Debian's dataset-fashion-mnist with `make data`, or set FASHION_MNIST_DIR)", dir)
	}
	var err error
	if train, err = data.LoadFashionMNIST(dir, true); err != nil {
		t.Fatal(err)
	}
	if test, err = data.LoadFashionMNIST(dir, false); err != nil {
		t.Fatal(err)
	}
	if train.N != 60000 || test.N != 10000 || train.C != 1 || train.H != 28 || train.W != 28 {
		t.Fatalf("unexpected Fashion-MNIST sizes: train %d, test %d, %dx%dx%d", train.N, test.N, train.C, train.H, train.W)
	}
	return train, test
}

// batchOf writes the normalised images idx of d into x (NCHW) and returns
// their labels.
func batchOf(d *data.Dataset, idx []int, x []float32) []int32 {
	per := d.C * d.H * d.W
	labels := make([]int32, len(idx))
	for k, i := range idx {
		src := d.Pixels[i*per : (i+1)*per]
		dst := x[k*per : (k+1)*per]
		for j, p := range src {
			dst[j] = (float32(p)/255 - fmnistMean) / fmnistStd
		}
		labels[k] = d.Labels[i]
	}
	return labels
}

// accuracy evaluates m in eval mode on every image of d.
func accuracy(b kernels.Backend, m nn.Module, d *data.Dataset, batch int) float64 {
	m.SetTraining(false)
	defer m.SetTraining(true)
	tp := autograd.NewTape(b)
	per := d.C * d.H * d.W
	host := make([]float32, batch*per)
	correct := 0
	for lo := 0; lo < d.N; lo += batch {
		hi := min(lo+batch, d.N)
		idx := make([]int, hi-lo)
		for i := range idx {
			idx[i] = lo + i
		}
		labels := batchOf(d, idx, host)
		x := b.FromHost(tensor.FromSlice(host[:len(idx)*per], len(idx), d.C, d.H, d.W))
		tp.NoGrad(func() {
			logits := b.ToHost(m.Forward(tp, autograd.NewVar(x, false)).Value)
			nc := logits.Dim(1)
			ld := logits.Data()
			for i, l := range labels {
				best := 0
				for c := 1; c < nc; c++ {
					if ld[i*nc+c] > ld[i*nc+best] {
						best = c
					}
				}
				if best == int(l) {
					correct++
				}
			}
		})
		tp.Reset()
	}
	return float64(correct) / float64(d.N)
}

// TestFashionMNISTResNet18 trains a ResNet-18 (CIFAR stem, width 16) on the
// 60,000 Fashion-MNIST training images for one epoch on the CPU backend and
// requires at least 87 % accuracy on the 10,000 test images.
func TestFashionMNISTResNet18(t *testing.T) {
	if testing.Short() {
		t.Skip("one epoch of Fashion-MNIST training; skipped with -short")
	}
	train, test := loadFMNIST(t)
	b := cpu.New(cpu.Options{})
	defer b.Close()
	const (
		seed  = 1
		batch = 128
		width = 16
	)
	m, err := nn.NewResNet18(b, tensor.NewRand(seed), nn.ResNetConfig{Width: width, Stem: nn.StemCIFAR, InChannels: 1, NumClasses: 10})
	if err != nil {
		t.Fatal(err)
	}
	opt, err := optim.NewSGD(b, m.Params(), optim.SGDConfig{LR: 0.1, Momentum: 0.9, Nesterov: true, WeightDecay: 5e-4, NoDecayBiasBN: true})
	if err != nil {
		t.Fatal(err)
	}
	steps := train.N / batch // drop the last partial batch
	sched := optim.WarmupCosine{Base: 0.2, Final: 0, WarmupStart: 0.02, WarmupSteps: steps / 10, TotalSteps: steps}
	rng := rand.New(rand.NewPCG(seed, 2))
	perm := rng.Perm(train.N)
	per := train.C * train.H * train.W
	host := make([]float32, batch*per)
	tp := autograd.NewTape(b)
	start := time.Now()
	last, lastStep := start, 0
	var runLoss float64
	for s := range steps {
		labels := batchOf(train, perm[s*batch:(s+1)*batch], host)
		x := autograd.NewVar(b.FromHost(tensor.FromSlice(host, batch, train.C, train.H, train.W)), false)
		opt.ZeroGrad()
		loss := tp.SoftmaxCrossEntropy(m.Forward(tp, x), labels)
		tp.Backward(loss)
		opt.SetLR(sched.LR(s))
		opt.Step()
		runLoss += float64(b.ToHost(loss.Value).Data()[0])
		if (s+1)%100 == 0 || s == steps-1 {
			now := time.Now()
			n := s + 1 - lastStep
			t.Logf("step %d/%d  loss %.4f  lr %.4f  %.0f images/s", s+1, steps, runLoss/float64(n), sched.LR(s),
				float64(n*batch)/now.Sub(last).Seconds())
			last, lastStep, runLoss = now, s+1, 0
		}
	}
	trainTime := time.Since(start)
	acc := accuracy(b, m, test, 500)
	t.Logf("trained %d images in %v (%.0f images/s); test accuracy %.2f %% (evaluated in %v)",
		steps*batch, trainTime.Round(time.Second), float64(steps*batch)/trainTime.Seconds(), 100*acc,
		(time.Since(start) - trainTime).Round(time.Second))
	if acc < 0.87 {
		t.Fatalf("test accuracy %.2f %% after one epoch, want >= 87 %%", 100*acc)
	}
}
