package ssl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"

	"hallucinator/autograd"
	"hallucinator/kernels"
	"hallucinator/nn"
	"hallucinator/ssl/data"
	"hallucinator/tensor"
)

// AugmentedProbeConfig configures LinearProbeAugmented, the paper's linear
// evaluation: a linear layer trained on the frozen encoder's features of
// augmented training images (RandomResizedCrop and a horizontal flip), by
// SGD with the learning rate divided by 10 at each milestone.
type AugmentedProbeConfig struct {
	Epochs, BatchSize         int
	LR, Momentum, WeightDecay float64
	Milestones                []int
	// MinScale is the crop's smallest area, a fraction of the image
	// (torchvision's default 0.08).
	MinScale float64
	Seed     uint64
	// Workers build the augmented batches (0: GOMAXPROCS).
	Workers int
}

// PaperProbe is the paper's linear evaluation: 100 epochs of batch 256 at
// lr 10 (on raw features), momentum 0.9, no weight decay, lr x0.1 at epochs
// 60 and 80.
var PaperProbe = AugmentedProbeConfig{Epochs: 100, BatchSize: 256, LR: 10, Momentum: 0.9,
	Milestones: []int{60, 80}, MinScale: 0.08, Seed: 1}

// LinearProbeAugmented trains a linear classifier on the features that the
// frozen encoder m (in evaluation mode, no gradient) gives of augmented
// training images, a new augmentation every epoch, and reports the accuracy
// on the un-augmented eval images after every epoch. It runs the encoder
// over the whole training set each epoch: LinearProbe on features computed
// once is the fast alternative. progress, when set, is called with the
// epochs done.
func LinearProbeAugmented(ctx context.Context, be kernels.Backend, m nn.Module, train, eval *data.Dataset, norm data.Normalize,
	c AugmentedProbeConfig, progress func(done int)) (ProbeResult, error) {
	var res ProbeResult
	if c.Epochs <= 0 || c.BatchSize <= 0 || !(c.LR > 0) || !(c.MinScale > 0 && c.MinScale <= 1) {
		return res, fmt.Errorf("ssl: augmented probe with %d epochs, batch %d, lr %v, crops from %v", c.Epochs, c.BatchSize, c.LR, c.MinScale)
	}
	if train.H != eval.H || train.W != eval.W || train.H == 0 {
		return res, fmt.Errorf("ssl: augmented probe on images of %dx%d and %dx%d; resize them on load", train.H, train.W, eval.H, eval.W)
	}
	classes := train.NumClasses
	for _, l := range train.Labels {
		if l < 0 || int(l) >= classes {
			return res, fmt.Errorf("ssl: augmented probe train label %d outside [0, %d)", l, classes)
		}
	}
	evf, err := Embed(ctx, be, m, eval, norm, 256)
	if err != nil {
		return res, err
	}
	d := evf.Dim(1)
	evDev := be.FromHost(evf)
	rng := tensor.NewRand(c.Seed)
	lin, opt, sched, err := newProbeHead(be, rng, d, classes, train.N, c.BatchSize, c.LR, c.Momentum, c.WeightDecay, c.Milestones)
	if err != nil {
		return res, err
	}
	view := data.NewPipeline(data.NewRandomResizedCrop(train.H, [2]float64{c.MinScale, 1}), data.RandomHorizontalFlip{P: 0.5}, norm)
	ld, err := data.NewLoader(ctx, train, data.LoaderOptions{BatchSize: c.BatchSize, Views: []data.Transform{view},
		Seed: c.Seed, Shuffle: true, Epochs: c.Epochs, Workers: c.Workers})
	if err != nil {
		return res, err
	}
	defer ld.Close()
	enc := autograd.NewTape(be) // the encoder's, recycled batch to batch
	enc.SetRecycling(true)
	tp := autograd.NewTape(be)
	step, epoch := 0, 0
	endEpoch := func() error {
		acc, err := classify(be, tp, lin, evDev, eval.Labels)
		if err != nil {
			return err
		}
		res.Curve = append(res.Curve, acc)
		res.Last = acc
		res.Best = math.Max(res.Best, acc)
		epoch++
		if progress != nil {
			progress(epoch)
		}
		return nil
	}
	for {
		bt, err := ld.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return res, err
		}
		if bt.Epoch > epoch {
			if err := endEpoch(); err != nil {
				return res, err
			}
		}
		enc.Recycle()
		x := tensor.FromSlice(bt.Views[0], bt.N, bt.C, bt.H, bt.W)
		f, err := embedBatch(be, m, enc, x)
		if err != nil {
			return res, err
		}
		opt.SetLR(sched.LR(step))
		opt.ZeroGrad()
		loss := tp.SoftmaxCrossEntropy(lin.Forward(tp, autograd.NewVar(be.FromHost(f), false)), bt.Labels)
		tp.Backward(loss)
		opt.Step()
		step++
		ld.Recycle(bt)
	}
	if epoch < c.Epochs {
		if err := endEpoch(); err != nil {
			return res, err
		}
	}
	return res, nil
}
