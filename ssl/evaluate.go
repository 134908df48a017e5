package ssl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"hallucinator/kernels"
	"hallucinator/nn"
	"hallucinator/ssl/data"
	"hallucinator/tensor"
)

// EvalData are the labelled images an evaluation reads.
type EvalData struct {
	// Train is the labelled training set: the kNN's memory bank and the
	// linear probe's training data.
	Train *data.Dataset
	// Eval is the set the accuracies are measured on: the validation split
	// during training and for every choice of settings, the test split once,
	// at the end.
	Eval *data.Dataset
	// Split names Eval in the summary ("val" or "test").
	Split string
	// Norm is the normalisation of both.
	Norm data.Normalize
}

// EvalConfig configures Evaluate. The zero value is the kNN monitor alone
// (DefaultKNN, no probe, no raw-pixel baseline, no alignment).
type EvalConfig struct {
	// KNN is the monitor's kNN (zero: DefaultKNN).
	KNN KNNConfig
	// Ks are more neighbour counts, reported in KNNByK (one similarity
	// pass serves them all).
	Ks []int
	// RawPixels adds the same kNN on the normalised pixels: the baseline
	// an encoder must beat.
	RawPixels bool
	// Probe, when set, trains a linear probe on the frozen features.
	Probe *ProbeConfig
	// AugmentedProbe, when set, trains the paper's linear probe on the
	// features of augmented images as well (LinearProbeAugmented).
	AugmentedProbe *AugmentedProbeConfig
	// AlignImages is the number of Eval images (the first ones) whose two
	// augmented views (data.SSLView) measure alignment and uniformity; 0
	// leaves them out.
	AlignImages int
	// Seed draws the views of the alignment (Seed+7, as the command's runs
	// always have).
	Seed uint64
	// Batch is the embedding batch size (0: 256).
	Batch int
	// Progress, when set, is called as the work advances.
	Progress func(EvalProgress)
}

// EvalProgress reports the advance of Evaluate: Done of Total units (images
// or epochs) of the stage named by Stage.
type EvalProgress struct {
	Stage       string // "embed train", "embed val", "kNN", "raw-pixel kNN", "linear probe", "augmented probe", "alignment"
	Done, Total int
}

// EvalSummary is the result of Evaluate. Accuracies are fractions in [0, 1].
type EvalSummary struct {
	Split  string // the split the figures are on
	Images int    // its number of images
	KNN    float64
	// KNNByK holds the accuracy at each of EvalConfig.Ks.
	KNNByK map[int]float64
	// KNNRawPixels and KNNRawPixelsByK are the raw-pixel baseline (with
	// EvalConfig.RawPixels).
	KNNRawPixels    float64
	KNNRawPixelsByK map[int]float64
	// Probe is the linear probe's accuracy by epoch (nil without one).
	Probe *ProbeResult
	// AugmentedProbe is the augmented probe's (nil without one).
	AugmentedProbe *ProbeResult
	// Alignment and Uniformity (Wang and Isola 2020) of the normalised
	// features of two views, with EvalConfig.AlignImages.
	Alignment, Uniformity float64
	// EffectiveRank is RankMe of the Eval features.
	EffectiveRank float64
	// Features are the Eval images' features [N, D] (host), for plots and
	// further analysis.
	Features *tensor.Tensor
	Duration time.Duration
}

// Evaluate measures the encoder m (a Framework, or any module whose output
// is the representation) on d: kNN accuracy (and by k), effective rank,
// and as configured the raw-pixel kNN, a linear probe, alignment and
// uniformity. It leaves m in evaluation mode.
func Evaluate(ctx context.Context, be kernels.Backend, m nn.Module, d EvalData, c EvalConfig) (*EvalSummary, error) {
	start := time.Now()
	if d.Train == nil || d.Eval == nil {
		return nil, errors.New("ssl: Evaluate needs a training and an evaluation set")
	}
	if c.KNN.K == 0 {
		c.KNN = DefaultKNN
	}
	if c.Batch == 0 {
		c.Batch = 256
	}
	split := d.Split
	if split == "" {
		split = "eval"
	}
	report := func(stage string, done, total int) {
		if c.Progress != nil {
			c.Progress(EvalProgress{Stage: stage, Done: done, Total: total})
		}
	}
	embedAll := func(ds *data.Dataset, name string) (*tensor.Tensor, error) {
		report("embed "+name, 0, ds.N)
		return embed(ctx, be, m, ds, d.Norm, c.Batch, func(done int) { report("embed "+name, done, ds.N) })
	}
	sum := &EvalSummary{Split: split, Images: d.Eval.N}
	trf, err := embedAll(d.Train, "train")
	if err != nil {
		return nil, err
	}
	evf, err := embedAll(d.Eval, split)
	if err != nil {
		return nil, err
	}
	sum.Features = evf
	if sum.EffectiveRank, err = EffectiveRank(evf.Data(), evf.Dim(1)); err != nil {
		return nil, err
	}
	classes := d.Train.NumClasses
	// The monitor's k first, then the others: one similarity matrix for all.
	ks := append([]int{c.KNN.K}, c.Ks...)
	byK := func(acc []float64) map[int]float64 {
		if len(c.Ks) == 0 {
			return nil
		}
		out := make(map[int]float64, len(c.Ks))
		for i, k := range c.Ks {
			out[k] = acc[1+i]
		}
		return out
	}
	report("kNN", 0, 1)
	acc, err := KNNAccuracyByK(ctx, be, ks, c.KNN.Temperature, trf, d.Train.Labels, evf, d.Eval.Labels, classes)
	if err != nil {
		return nil, err
	}
	report("kNN", 1, 1)
	sum.KNN, sum.KNNByK = acc[0], byK(acc)
	if c.RawPixels {
		report("raw-pixel kNN", 0, 1)
		rawTr, err := pixels(d.Train, d.Norm)
		if err != nil {
			return nil, err
		}
		rawEv, err := pixels(d.Eval, d.Norm)
		if err != nil {
			return nil, err
		}
		if acc, err = KNNAccuracyByK(ctx, be, ks, c.KNN.Temperature, rawTr, d.Train.Labels, rawEv, d.Eval.Labels, classes); err != nil {
			return nil, err
		}
		report("raw-pixel kNN", 1, 1)
		sum.KNNRawPixels, sum.KNNRawPixelsByK = acc[0], byK(acc)
	}
	if c.Probe != nil {
		report("linear probe", 0, c.Probe.Epochs)
		res, err := linearProbe(ctx, be, *c.Probe, trf, d.Train.Labels, evf, d.Eval.Labels, classes,
			func(done int) { report("linear probe", done, c.Probe.Epochs) })
		if err != nil {
			return nil, err
		}
		sum.Probe = &res
	}
	if c.AugmentedProbe != nil {
		report("augmented probe", 0, c.AugmentedProbe.Epochs)
		res, err := LinearProbeAugmented(ctx, be, m, d.Train, d.Eval, d.Norm, *c.AugmentedProbe,
			func(done int) { report("augmented probe", done, c.AugmentedProbe.Epochs) })
		if err != nil {
			return nil, err
		}
		sum.AugmentedProbe = &res
	}
	if c.AlignImages > 0 {
		sub := data.FirstN(d.Eval, c.AlignImages)
		report("alignment", 0, sub.N)
		view := data.SSLView(sub.H, d.Norm, sub.H > 64)
		a, b, err := twoViewEmbeddings(ctx, be, m, sub, view, c.Seed)
		if err != nil {
			return nil, err
		}
		report("alignment", sub.N, sub.N)
		dim := a.Dim(1)
		if sum.Alignment, err = Alignment(a.Data(), b.Data(), dim, 2); err != nil {
			return nil, err
		}
		if sum.Uniformity, err = Uniformity(a.Data(), dim, 2); err != nil {
			return nil, err
		}
	}
	sum.Duration = time.Since(start)
	return sum, nil
}

// pixels returns the normalised pixels of every image of ds as rows.
func pixels(ds *data.Dataset, nm data.Normalize) (*tensor.Tensor, error) {
	idx := make([]int, ds.N)
	for i := range idx {
		idx[i] = i
	}
	x := tensor.Zeros(ds.N, ds.C*ds.H*ds.W)
	if err := FillBatch(ds, nm, idx, x.Data()); err != nil {
		return nil, err
	}
	return x, nil
}

// twoViewEmbeddings embeds two augmented views of every image of ds.
func twoViewEmbeddings(ctx context.Context, be kernels.Backend, m nn.Module, ds *data.Dataset, view data.Transform, seed uint64) (*tensor.Tensor, *tensor.Tensor, error) {
	ld, err := data.NewLoader(ctx, ds, data.LoaderOptions{BatchSize: 250, Views: []data.Transform{view, view}, Seed: seed + 7, Epochs: 1})
	if err != nil {
		return nil, nil, err
	}
	defer ld.Close()
	var fa, fb []float32
	d := 0
	for {
		bt, err := ld.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		for v, dst := range []*[]float32{&fa, &fb} {
			x := tensor.FromSlice(bt.Views[v], bt.N, bt.C, bt.H, bt.W)
			f, err := EmbedBatch(be, m, x)
			if err != nil {
				return nil, nil, err
			}
			d = f.Dim(1)
			*dst = append(*dst, f.Data()...)
		}
		ld.Recycle(bt)
	}
	if d == 0 {
		return nil, nil, fmt.Errorf("ssl: no images to align")
	}
	n := len(fa) / d
	return tensor.FromSlice(fa, n, d), tensor.FromSlice(fb, n, d), nil
}
