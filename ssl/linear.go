package ssl

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"hallucinator/autograd"
	"hallucinator/kernels"
	"hallucinator/nn"
	"hallucinator/nn/optim"
	"hallucinator/tensor"
)

// ProbeConfig configures the linear probe on frozen features. The paper's
// protocol is 100 epochs of SGD (momentum 0.9, no weight decay) with the
// learning rate divided by 10 at epochs 60 and 80.
type ProbeConfig struct {
	Epochs      int
	BatchSize   int
	LR          float64
	Momentum    float64
	WeightDecay float64
	// Milestones are the epochs at which the learning rate is multiplied by
	// 0.1.
	Milestones []int
	// Standardize scales each feature dimension to zero mean and unit
	// variance over the training set before the linear layer (a batch norm
	// without affine parameters, folded away), which makes one learning rate
	// fit encoders of any width.
	Standardize bool
	Seed        uint64
}

// DefaultProbe is the paper's schedule on standardised features.
var DefaultProbe = ProbeConfig{Epochs: 100, BatchSize: 256, LR: 0.1, Momentum: 0.9,
	Milestones: []int{60, 80}, Standardize: true, Seed: 1}

// ProbeResult holds the test accuracy after each epoch, the last and the
// best.
type ProbeResult struct {
	Curve      []float64
	Last, Best float64
}

// LinearProbe trains a linear classifier on frozen features (host tensors
// [N, D]) and reports its test accuracy after every epoch.
func LinearProbe(ctx context.Context, be kernels.Backend, c ProbeConfig, train *tensor.Tensor, trainLabels []int32,
	test *tensor.Tensor, testLabels []int32, classes int) (ProbeResult, error) {
	return linearProbe(ctx, be, c, train, trainLabels, test, testLabels, classes, nil)
}

// linearProbe is LinearProbe, calling progress (when not nil) with the
// number of epochs done after each.
func linearProbe(ctx context.Context, be kernels.Backend, c ProbeConfig, train *tensor.Tensor, trainLabels []int32,
	test *tensor.Tensor, testLabels []int32, classes int, progress func(done int)) (ProbeResult, error) {
	var res ProbeResult
	if c.Epochs <= 0 || c.BatchSize <= 0 || !(c.LR > 0) {
		return res, fmt.Errorf("ssl: linear probe with %d epochs, batch %d, lr %v", c.Epochs, c.BatchSize, c.LR)
	}
	if train.Dims() != 2 || test.Dims() != 2 || train.Dim(1) != test.Dim(1) ||
		len(trainLabels) != train.Dim(0) || len(testLabels) != test.Dim(0) {
		return res, fmt.Errorf("ssl: linear probe on features %v/%v with %d/%d labels", train.Shape(), test.Shape(), len(trainLabels), len(testLabels))
	}
	for _, l := range trainLabels {
		if l < 0 || int(l) >= classes {
			return res, fmt.Errorf("ssl: linear probe train label %d outside [0, %d)", l, classes)
		}
	}
	n, d := train.Dim(0), train.Dim(1)
	tr, te := train.Clone(), test.Clone()
	if c.Standardize {
		standardize(tr.Data(), te.Data(), d)
	}
	rng := tensor.NewRand(c.Seed)
	lin, opt, sched, err := newProbeHead(be, rng, d, classes, n, c.BatchSize, c.LR, c.Momentum, c.WeightDecay, c.Milestones)
	if err != nil {
		return res, err
	}
	tp := autograd.NewTape(be)
	teDev := be.FromHost(te)
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	xb := make([]float32, c.BatchSize*d)
	yb := make([]int32, c.BatchSize)
	step := 0
	for ep := 0; ep < c.Epochs; ep++ {
		rng.Shuffle(n, func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
		for lo := 0; lo < n; lo += c.BatchSize {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			hi := min(lo+c.BatchSize, n)
			for bi, i := range perm[lo:hi] {
				copy(xb[bi*d:(bi+1)*d], tr.Data()[i*d:(i+1)*d])
				yb[bi] = trainLabels[i]
			}
			x := autograd.NewVar(be.FromHost(tensor.FromSlice(xb[:(hi-lo)*d], hi-lo, d)), false)
			opt.SetLR(sched.LR(step))
			opt.ZeroGrad()
			loss := tp.SoftmaxCrossEntropy(lin.Forward(tp, x), yb[:hi-lo])
			tp.Backward(loss)
			opt.Step()
			step++
		}
		acc, err := classify(be, tp, lin, teDev, testLabels)
		if err != nil {
			return res, err
		}
		res.Curve = append(res.Curve, acc)
		res.Last = acc
		res.Best = math.Max(res.Best, acc)
		if progress != nil {
			progress(ep + 1)
		}
	}
	return res, nil
}

// classify returns the accuracy of lin on features x (on be).
func classify(be kernels.Backend, tp *autograd.Tape, lin *nn.Linear, x *tensor.Tensor, labels []int32) (float64, error) {
	var logits *autograd.Var
	tp.NoGrad(func() { logits = lin.Forward(tp, autograd.NewVar(x, false)) })
	h := be.ToHost(logits.Value)
	if err := be.Sync(); err != nil {
		return 0, err
	}
	return accuracy(h, labels), nil
}

// accuracy is the fraction of rows of logits [N, C] whose argmax is the label.
func accuracy(logits *tensor.Tensor, labels []int32) float64 {
	n, c := logits.Dim(0), logits.Dim(1)
	v := logits.Data()
	correct := 0
	for i := 0; i < n; i++ {
		best := 0
		for j := 1; j < c; j++ {
			if v[i*c+j] > v[i*c+best] {
				best = j
			}
		}
		if int32(best) == labels[i] {
			correct++
		}
	}
	return float64(correct) / float64(n)
}

// standardize scales each column of train and test [.*d] by the train
// column's mean and standard deviation.
func standardize(train, test []float32, d int) {
	n := len(train) / d
	for j := 0; j < d; j++ {
		var s, ss float64
		for i := 0; i < n; i++ {
			v := float64(train[i*d+j])
			s += v
			ss += v * v
		}
		mean := s / float64(n)
		std := math.Sqrt(math.Max(ss/float64(n)-mean*mean, 0)) + 1e-6
		for _, x := range [][]float32{train, test} {
			for i := 0; i+d <= len(x); i += d {
				x[i+j] = float32((float64(x[i+j]) - mean) / std)
			}
		}
	}
}

// newProbeHead returns a probe's linear layer of d inputs and classes
// outputs, its SGD and its learning rate divided by 10 at each milestone
// epoch, for n training images in batches of batch.
func newProbeHead(be kernels.Backend, rng *rand.Rand, d, classes, n, batch int, lr, momentum, wd float64, milestones []int) (*nn.Linear, *optim.SGD, optim.StepDecay, error) {
	lin, err := nn.NewLinear(be, rng, d, classes, true)
	if err != nil {
		return nil, nil, optim.StepDecay{}, err
	}
	opt, err := optim.NewSGD(be, lin.Params(), optim.SGDConfig{LR: lr, Momentum: momentum, WeightDecay: wd})
	if err != nil {
		return nil, nil, optim.StepDecay{}, err
	}
	stepsPerEpoch := (n + batch - 1) / batch
	ms := make([]int, len(milestones))
	for i, m := range milestones {
		ms[i] = m * stepsPerEpoch
	}
	return lin, opt, optim.StepDecay{Base: lr, Milestones: ms, Gamma: 0.1}, nil
}
