// Command train pre-trains an encoder with a self-supervised framework
// (SimCLR, MoCo v1/v2, SimSiam, BYOL), with or without the Hallucinator, then
// evaluates it with a kNN monitor and a linear probe. It writes the run's
// configuration, metrics (JSON lines), checkpoints, a summary and PNG plots
// to its output directory, and resumes an interrupted run with -resume.
//
//	go run ./cmd/train                         # ~10 minutes on a CPU: Fashion-MNIST, SimCLR + Hallucinator
//	go run ./cmd/train -framework mocov2 -hallucinate=false -epochs 5
//	go run ./cmd/train -resume runs/simclr-20260101-120000
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"hallucinator/dist"
	"hallucinator/kernels"
	"hallucinator/kernels/auto"
	"hallucinator/nn"
	"hallucinator/ssl"
	"hallucinator/ssl/data"
	"hallucinator/tensor"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	default:
		fmt.Fprintln(os.Stderr, "train:", err)
		os.Exit(1)
	}
}

const (
	configFile     = "config.json"
	metricsFile    = "metrics.jsonl"
	checkpointFile = "checkpoint.safetensors"
	summaryFile    = "summary.json"
	errorFile      = "error.txt"
)

// hooks let tests act between the steps of a run.
type hooks struct {
	// afterStep runs after every training step, once its metrics are
	// written.
	afterStep func(ssl.StepInfo)
	// evaluated runs after every evaluation with the split it read
	// ("val" or "test").
	evaluated func(split string)
}

// seen reports an evaluation of split to the hook, if any.
func (h hooks) seen(split string) {
	if h.evaluated != nil {
		h.evaluated(split)
	}
}

// run is the whole command; it returns instead of exiting so that tests can
// call it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "export" {
		return runExport(args[1:], stdout, stderr)
	}
	return runWith(ctx, args, stdout, stderr, hooks{})
}

func runWith(ctx context.Context, args []string, stdout, stderr io.Writer, h hooks) (err error) {
	defer recoverPanic(&err)
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if o.NProc > 1 {
		if _, launched := dist.FromEnv(); !launched {
			return launchLocal(args, o.NProc, stdout, stderr)
		}
	}
	dist0, nproc := o.Dist, o.NProc
	if o.Resume != "" {
		if o, err = resumeOptions(o); err != nil {
			return err
		}
	}
	o.Dist, o.NProc = dist0, nproc
	comm, err := communicator(o)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := comm.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	if comm.Size() > 1 {
		o.comm = comm
		if comm.Rank() != 0 {
			// One process writes the run's files and shows progress.
			o.Quiet = true
			stdout = io.Discard
		}
	}
	be, err := auto.New(o.Device)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := be.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("closing the %s backend: %w", be.Name(), cerr)
		}
	}()
	o.applyPreset(be.Caps().Accelerator)
	if o.comm != nil && be.Caps().Accelerator {
		return fmt.Errorf("-dist mpi trains on host tensors: on %s it needs NCCL, which this build cannot open yet (use -device cpu)", be.Name())
	}
	if o.comm != nil && o.comm.Rank() != 0 {
		return train(ctx, be, o, stdout, stderr, h)
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return err
	}
	// The run directory keeps why a run stopped, for runs whose standard
	// error is not kept; a run that goes on or ends well removes it.
	errPath := filepath.Join(o.Out, errorFile)
	if err := os.Remove(errPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.WriteFile(errPath, []byte("train: "+err.Error()+"\n"), 0o644)
		}
	}()
	defer recoverPanic(&err) // before the error is written
	return train(ctx, be, o, stdout, stderr, h)
}

// recoverPanic turns a panic of the goroutine into the error *err, with the
// stack, so that the run directory's error.txt says what happened.
func recoverPanic(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("internal error (please report it with this message): panic: %v\n%s", r, debug.Stack())
	}
}

// train pre-trains and evaluates the run o in its directory.
func train(ctx context.Context, be kernels.Backend, o *options, stdout, stderr io.Writer, h hooks) error {
	// In a data-parallel run rank 0 writes the run's files; every rank
	// trains and evaluates (the ranks hold the same state).
	rank0 := o.comm == nil || o.comm.Rank() == 0
	if rank0 {
		if n, err := removeTemporaries(o.Out); err != nil {
			return err
		} else if n > 0 {
			fmt.Fprintf(stdout, "removed %d temporary file(s) left by an interrupted run in %s\n", n, o.Out)
		}
	}
	if o.comm != nil {
		fmt.Fprintf(stdout, "data-parallel over %d processes (MPI), %d images of the batch each\n", o.comm.Size(), o.Batch/o.comm.Size())
	}
	fmt.Fprintf(stdout, "device %s, %s%s on %s, ResNet-%d width %d, %d epochs of batch %d, output %s\n",
		be.Name(), o.Framework, halSuffix(o), o.Dataset, o.Depth, o.Width, o.Epochs, o.Batch, o.Out)

	sets, err := loadData(o)
	if err != nil {
		return err
	}
	fw, tr, err := build(be, o, sets)
	if err != nil {
		return err
	}
	ckpt := filepath.Join(o.Out, checkpointFile)
	resumed := false
	if o.Resume != "" {
		if _, err := os.Stat(ckpt); errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintf(stdout, "%s has no checkpoint (the run stopped before its first): starting it from the beginning\n", o.Out)
		} else if _, err := tr.Load(ckpt); err != nil {
			return fmt.Errorf("resuming: %w", err)
		} else {
			resumed = true
			fmt.Fprintf(stdout, "resumed at epoch %d step %d\n", tr.Epoch+1, tr.Step)
		}
	}
	// A resumed run keeps the configuration it was started with, but for
	// the number of epochs of an extended one.
	if o.extendFrom > 0 {
		fmt.Fprintf(stdout, "extending the run from %d to %d epochs: the steps left follow the learning-rate schedule of %d epochs\n", o.extendFrom, o.Epochs, o.Epochs)
	}
	if rank0 && (o.Resume == "" || o.extendFrom > 0) {
		c := *o
		c.Resume = ""
		if err := writeJSON(filepath.Join(o.Out, configFile), &c); err != nil {
			return err
		}
	}
	// The metrics of steps after the checkpoint are written again as the
	// run repeats them.
	keep := -1 // nothing, for a run that starts from the beginning
	if resumed {
		keep = tr.Epoch*tr.StepsPerEpoch() + tr.Step
	}
	metricsOut := io.Discard
	if rank0 {
		if err := truncateMetrics(filepath.Join(o.Out, metricsFile), keep, tr.StepsPerEpoch()); err != nil {
			return err
		}
		mw, err := os.OpenFile(filepath.Join(o.Out, metricsFile), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer mw.Close()
		metricsOut = mw
	}
	enc := json.NewEncoder(metricsOut)

	save := func() error {
		if !rank0 {
			return nil
		}
		if err := tr.Save(ckpt, map[string]string{"config": mustJSON(o)}); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
		return nil
	}
	interrupted := func(err error) error {
		if serr := save(); serr != nil {
			return errors.Join(err, serr)
		}
		return fmt.Errorf("interrupted at epoch %d step %d; checkpoint written, continue with -resume %s", tr.Epoch+1, tr.Step, o.Out)
	}
	// With a validation split nothing reads the test split until the final
	// evaluation: it is out of reach until then.
	var held *data.Dataset
	if sets.Val != nil {
		held, sets.Test = sets.Test, nil
	}
	pb := newProgress(stderr)
	if o.Quiet {
		pb = newProgress(io.Discard)
	}
	start := time.Now()
	totalSteps := o.Epochs * tr.StepsPerEpoch()
	doneAtStart := tr.Epoch*tr.StepsPerEpoch() + tr.Step
	for !tr.Done() {
		epoch := tr.Epoch
		var lossSum float64
		var lossN int
		epStart := time.Now()
		err := tr.RunEpoch(ctx, func(s ssl.StepInfo) {
			done := s.GlobalStep
			if s.Skipped {
				fmt.Fprintf(stdout, "epoch %d step %d skipped: loss %g, gradient norm %g (%d skipped so far)\n", s.Epoch+1, s.Step, s.Loss, s.GradNorm, tr.Skipped)
				_ = enc.Encode(map[string]any{"type": "skip", "epoch": s.Epoch + 1, "step": s.Step, "global_step": done,
					"loss": fmt.Sprint(s.Loss), "grad_norm": fmt.Sprint(s.GradNorm)})
			} else {
				lossSum += s.Loss
				lossN++
			}
			rate := float64(s.Images) * float64(s.Step) / s.Elapsed.Seconds()
			perStep := time.Since(start) / time.Duration(max(done-doneAtStart, 1))
			pb.update(fmt.Sprintf("epoch %d/%d", s.Epoch+1, o.Epochs), done, totalSteps, s.Loss, rate, perStep*time.Duration(totalSteps-done))
			if !s.Skipped && (s.Step%20 == 0 || s.Step == s.StepsPerEpoch) {
				st := fw.Stats()
				_ = enc.Encode(map[string]any{"type": "step", "epoch": s.Epoch + 1, "step": s.Step, "global_step": done,
					"loss": s.Loss, "lr": s.LR, "grad_norm": s.GradNorm, "pos_cos": st.PosCos, "hal_cos": st.HalCos, "lambda": st.Lambda,
					"time_s": time.Since(start).Seconds()})
			}
			if h.afterStep != nil {
				h.afterStep(s)
			}
		})
		pb.done()
		if err != nil {
			if ctx.Err() != nil {
				return interrupted(err)
			}
			return err
		}
		rec := map[string]any{"type": "epoch", "epoch": epoch + 1, "loss": lossSum / float64(max(lossN, 1)),
			"epoch_s": time.Since(epStart).Seconds(), "time_s": time.Since(start).Seconds()}
		if o.EvalEvery > 0 && (epoch+1)%o.EvalEvery == 0 && !tr.Done() {
			acc, rank, err := knn(ctx, be, o, fw, sets, pb, h)
			if err != nil {
				if ctx.Err() != nil {
					return interrupted(err)
				}
				return err
			}
			rec["knn"], rec["effective_rank"] = acc, rank
			rec["knn_split"] = "test"
			if sets.Val != nil {
				rec["knn_split"] = "val"
			}
			fmt.Fprintf(stdout, "epoch %d: loss %.4f, kNN %.2f %%, effective rank %.1f\n", epoch+1, rec["loss"], 100*acc, rank)
		} else {
			fmt.Fprintf(stdout, "epoch %d: loss %.4f (%.0f s)\n", epoch+1, rec["loss"], rec["epoch_s"])
		}
		_ = enc.Encode(rec)
		if (epoch+1)%o.CkptEvery == 0 || tr.Done() {
			if err := save(); err != nil {
				return err
			}
		}
	}
	trainTime := time.Since(start)
	if !rank0 {
		return nil // rank 0 evaluates and writes the results
	}
	if held != nil {
		sets.Test = held // read once, now
	}
	sum, err := evaluate(ctx, be, o, fw, sets, pb, h)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted during the final evaluation (training is complete and checkpointed); evaluate with -resume %s", o.Out)
		}
		return err
	}
	sum.PretrainSeconds = trainTime.Seconds()
	sum.SkippedSteps = tr.Skipped
	if doneAtStart == totalSteps {
		// A finished run evaluated again keeps its pre-training time.
		if raw, err := os.ReadFile(filepath.Join(o.Out, summaryFile)); err == nil {
			var prev summary
			if json.Unmarshal(raw, &prev) == nil {
				sum.PretrainSeconds = prev.PretrainSeconds
				trainTime = time.Duration(prev.PretrainSeconds * float64(time.Second))
			}
		}
	}
	_ = enc.Encode(map[string]any{"type": "final", "knn": sum.KNN, "linear_last": sum.LinearLast, "linear_best": sum.LinearBest,
		"alignment": sum.Alignment, "uniformity": sum.Uniformity, "effective_rank": sum.EffectiveRank})
	if err := writeJSON(filepath.Join(o.Out, summaryFile), sum); err != nil {
		return err
	}
	if err := plots(o.Out); err != nil {
		return fmt.Errorf("plots: %w", err)
	}
	if ks, _ := parseKs(o.KNNKs); len(ks) > 0 {
		line := "kNN by k (raw pixels):"
		for _, k := range ks {
			key := strconv.Itoa(k)
			line += fmt.Sprintf(" %d: %.2f %% (%.2f %%)", k, 100*sum.KNNByK[key], 100*sum.KNNRawPixelsByK[key])
		}
		fmt.Fprintln(stdout, line)
	}
	if o.ProbeAug {
		fmt.Fprintf(stdout, "linear probe on augmented images (the paper's): %.2f %% (best epoch %.2f %%)\n", 100*sum.LinearAugLast, 100*sum.LinearAugBest)
	}
	if sets.Val != nil {
		fmt.Fprintf(stdout, "validation (%d images held out of training): kNN %.2f %%, linear %.2f %%; test, read once:\n", sets.Val.N, 100*sum.ValKNN, 100*sum.ValLinearLast)
	}
	fmt.Fprintf(stdout, "%s%s: kNN %.2f %% (raw pixels %.2f %%), linear %.2f %%, alignment %.3f, uniformity %.3f, effective rank %.1f, pre-training %s\n",
		o.Framework, halSuffix(o), 100*sum.KNN, 100*sum.KNNRawPixels, 100*sum.LinearLast, sum.Alignment, sum.Uniformity, sum.EffectiveRank,
		trainTime.Round(time.Second))
	return nil
}

func halSuffix(o *options) string {
	switch {
	case o.Hallucinate && o.Compat:
		return " + Hallucinator (compat)"
	case o.Hallucinate:
		return " + Hallucinator"
	}
	return ""
}

// resumeOptions reads the configuration of the run in o.Resume; the device,
// workers and progress flags of this invocation still apply.
func resumeOptions(cur *options) (*options, error) {
	path := filepath.Join(cur.Resume, configFile)
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("resuming: %w", err)
	}
	o, err := parseConfig(raw)
	if err != nil {
		return nil, fmt.Errorf("resuming: %s: %w", path, err)
	}
	// Fixed here, before the preset, so that a run that predates a
	// preset's choice keeps what auto meant for it.
	o.resolveAnchorCrop()
	// A flag given with -resume must agree with the run's setting, except
	// those that say where and how it runs, the final evaluation's
	// neighbour counts, and a larger -epochs, which extends the run.
	var st options
	stored, _ := newFlagSet(&st, new(string), io.Discard)
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, fmt.Errorf("resuming: %s: %w", path, err)
	}
	st.resolveAnchorCrop()
	var changed []string
	for name := range cur.set {
		switch name {
		case "resume", "device", "workers", "quiet", "knn-ks", "epochs", "config", "dist", "nproc-per-node":
			continue
		}
		if was, now := stored.Lookup(name).Value.String(), cur.flags.Lookup(name).Value.String(); was != now {
			changed = append(changed, fmt.Sprintf("-%s %s (the run's: %s)", name, now, was))
		}
	}
	if len(changed) > 0 {
		slices.Sort(changed)
		return nil, fmt.Errorf("-resume %s keeps the run's settings, but %s differ; start a new run with -config %s and these flags instead",
			cur.Resume, strings.Join(changed, ", "), path)
	}
	if cur.set["epochs"] && cur.Epochs != o.Epochs {
		if cur.Epochs < o.Epochs {
			return nil, fmt.Errorf("-resume %s -epochs %d: the run has %d epochs and cannot be shortened", cur.Resume, cur.Epochs, o.Epochs)
		}
		o.extendFrom, o.Epochs = o.Epochs, cur.Epochs
	}
	o.Resume, o.Out = cur.Resume, cur.Resume
	o.Device, o.Workers, o.Quiet = cur.Device, cur.Workers, cur.Quiet
	if cur.KNNKs != "" {
		o.KNNKs = cur.KNNKs // more neighbour counts for the final evaluation
	}
	return o, nil
}

// parseConfig reads the config.json of a run and checks its settings.
func parseConfig(raw []byte) (*options, error) {
	o := &options{Jitter: 0.4} // runs that predate the flag used the paper's jitter
	if err := json.Unmarshal(raw, o); err != nil {
		return nil, err
	}
	if err := o.check(); err != nil {
		return nil, err
	}
	return o, nil
}

// loadData opens the run's data set (data.Open) with its splits,
// normalisation and anchor box.
func loadData(o *options) (*data.Splits, error) {
	// The paper pre-trains STL-10 on its training and unlabelled images.
	unlabeled := o.Preset == "paper" && strings.EqualFold(o.Dataset, "stl10")
	return data.Open(o.Dataset, data.OpenOptions{Dir: o.DataDir, ImageSize: o.ImageSize, Workers: o.Workers,
		TrainSubset: o.TrainSubset, TestSubset: o.TestSubset, Val: o.Val, Unlabeled: unlabeled})
}

func build(be kernels.Backend, o *options, s *data.Splits) (ssl.Framework, *ssl.Trainer, error) {
	c := ssl.DefaultConfig(o.Framework)
	c.Hallucinate, c.Compat = o.Hallucinate, o.Compat
	c.Depth, c.Width, c.InChannels = o.Depth, o.Width, s.Train.C
	c.QueueSize, c.Momentum, c.ShuffleBN = o.Queue, float32(o.KeyMomentum), o.ShuffleBN
	if o.Temperature > 0 {
		c.Temperature = float32(o.Temperature)
	}
	if o.ProjHidden > 0 {
		c.HiddenDim = o.ProjHidden
	}
	if o.ProjDim > 0 {
		c.ProjDim = o.ProjDim
	}
	if o.PredHidden > 0 {
		c.PredHidden = o.PredHidden
	}
	switch {
	case o.Stem != "auto" && o.Stem != "":
		stem, err := nn.ParseStem(o.Stem)
		if err != nil {
			return nil, nil, err
		}
		c.Stem = stem
	case s.Train.H > 64:
		c.Stem = nn.StemImageNet // for large images
	}
	if o.Preset == "paper" {
		p, err := ssl.PresetFor("paper", o.Framework, o.Hallucinate)
		if err != nil {
			return nil, nil, err
		}
		p.Apply(&c)
	}
	fw, err := ssl.New(be, tensor.NewRand(o.Seed), c)
	if err != nil {
		return nil, nil, err
	}
	size := s.Train.H
	blur := size > 64
	scale := [2]float64{o.MinScale, 1}
	plain := data.ViewWithJitter(data.NewRandomResizedCrop(size, scale), size, s.Norm, blur, o.Jitter)
	anchor := data.Transform(plain)
	if o.anchorCrop() {
		box := s.Anchor
		crop := data.NewAnchorResizedCrop(size, scale, box.Lo, box.Hi, box.Alpha)
		crop.Compat = o.Compat // the released placement, biased to the top left
		anchor = data.ViewWithJitter(crop, size, s.Norm, blur, o.Jitter)
	}
	pre, err := s.Pretrain()
	if err != nil {
		return nil, nil, err
	}
	steps := pre.N / o.Batch
	if o.MaxSteps > 0 {
		steps = min(steps, o.MaxSteps)
	}
	tc := ssl.TrainConfig{Epochs: o.Epochs, BatchSize: o.Batch, Optimizer: o.Optimizer, LR: o.LR, FinalLR: o.FinalLR,
		WarmupSteps: int(o.WarmupEp * float64(steps)), Momentum: o.Momentum, WeightDecay: o.WeightDecay,
		Seed: o.Seed, Workers: o.Workers, Views: [2]data.Transform{anchor, plain}, MaxSteps: o.MaxSteps,
		OnNonFinite: o.OnNonFinite, Norm: s.Norm, Comm: o.comm}
	tr, err := ssl.NewTrainer(be, fw, pre, tc)
	if err != nil {
		return nil, nil, err
	}
	return fw, tr, nil
}

// knn is the monitor between epochs: kNN accuracy, and the effective rank
// of the evaluation features.
func knn(ctx context.Context, be kernels.Backend, o *options, fw ssl.Framework, s *data.Splits, pb *progress, h hooks) (acc, rank float64, err error) {
	// The monitor reads the validation split when there is one.
	ev := ssl.EvalData{Train: s.Train, Eval: s.Test, Split: "test", Norm: s.Norm}
	if s.Val != nil {
		ev.Eval, ev.Split = s.Val, "val"
	}
	sum, err := ssl.Evaluate(ctx, be, fw, ev, ssl.EvalConfig{KNN: ssl.KNNConfig{K: o.KNNK, Temperature: 0.1}, Progress: pb.stage})
	pb.done()
	h.seen(ev.Split)
	if err != nil {
		return 0, 0, err
	}
	return sum.KNN, sum.EffectiveRank, nil
}

// summary is the final evaluation of a run.
type summary struct {
	Framework    string  `json:"framework"`
	Hallucinate  bool    `json:"hallucinate"`
	Compat       bool    `json:"compat"`
	KNN          float64 `json:"knn"`
	KNNRawPixels float64 `json:"knn_raw_pixels"`
	// The kNN by the neighbour counts of -knn-ks ("1": ..., "5": ...).
	KNNByK          map[string]float64 `json:"knn_by_k,omitempty"`
	KNNRawPixelsByK map[string]float64 `json:"knn_raw_pixels_by_k,omitempty"`
	LinearLast      float64            `json:"linear_last"`
	// LinearBest is the best epoch of the probe on the test split, the
	// figure the paper reports; it is chosen on test, so it is not a
	// held-out measurement (the command prints only the last epoch).
	LinearBest    float64   `json:"linear_best"`
	LinearCurve   []float64 `json:"linear_curve"`
	Alignment     float64   `json:"alignment"`
	Uniformity    float64   `json:"uniformity"`
	EffectiveRank float64   `json:"effective_rank"`
	// ValKNN and ValLinearLast are the kNN and linear-probe accuracy on the
	// validation split (-val), the figures to choose settings by; the
	// others are on the test split.
	ValKNN        float64 `json:"val_knn,omitempty"`
	ValLinearLast float64 `json:"val_linear_last,omitempty"`
	// The paper's probe on augmented images (-probe-aug), on the test split.
	LinearAugLast   float64   `json:"linear_aug_last,omitempty"`
	LinearAugBest   float64   `json:"linear_aug_best,omitempty"`
	LinearAugCurve  []float64 `json:"linear_aug_curve,omitempty"`
	PretrainSeconds float64   `json:"pretrain_seconds"`
	EvalSeconds     float64   `json:"eval_seconds"`
	// SkippedSteps counts the steps skipped for a non-finite loss or
	// gradient (-on-nonfinite skip).
	SkippedSteps int `json:"skipped_steps"`
}

func evaluate(ctx context.Context, be kernels.Backend, o *options, fw ssl.Framework, s *data.Splits, pb *progress, h hooks) (*summary, error) {
	more, err := parseKs(o.KNNKs)
	if err != nil {
		return nil, err
	}
	pc := ssl.DefaultProbe
	pc.Epochs, pc.LR, pc.Seed = o.ProbeEpochs, o.ProbeLR, o.Seed
	pc.Milestones = []int{o.ProbeEpochs * 6 / 10, o.ProbeEpochs * 8 / 10}
	// With a validation split, the figures a choice of settings may read.
	var valKNN, valLinear float64
	if s.Val != nil {
		vs, err := ssl.Evaluate(ctx, be, fw, ssl.EvalData{Train: s.Train, Eval: s.Val, Split: "val", Norm: s.Norm},
			ssl.EvalConfig{KNN: ssl.KNNConfig{K: o.KNNK, Temperature: 0.1}, Probe: &pc, Progress: pb.stage})
		pb.done()
		if err != nil {
			return nil, err
		}
		valKNN, valLinear = vs.KNN, vs.Probe.Last
		h.seen("val")
	}
	// The test split, read once. Alignment of two augmented views and
	// uniformity on up to 2000 of its images.
	ev, err := ssl.Evaluate(ctx, be, fw, ssl.EvalData{Train: s.Train, Eval: s.Test, Split: "test", Norm: s.Norm},
		ssl.EvalConfig{KNN: ssl.KNNConfig{K: o.KNNK, Temperature: 0.1}, Ks: more, RawPixels: true, Probe: &pc,
			AugmentedProbe: augProbe(o), AlignImages: 2000, Seed: o.Seed, Progress: pb.stage})
	pb.done()
	if err != nil {
		return nil, err
	}
	h.seen("test")
	if err := writePCAPlot(filepath.Join(o.Out, "embedding.png"), ev.Features.Data(), ev.Features.Dim(1), s.Test.Labels, s.Test.ClassNames); err != nil {
		return nil, fmt.Errorf("embedding plot: %w", err)
	}
	byK := func(m map[int]float64) map[string]float64 {
		if m == nil {
			return nil
		}
		out := make(map[string]float64, len(m))
		for k, v := range m {
			out[strconv.Itoa(k)] = v
		}
		return out
	}
	sum := &summary{Framework: o.Framework, Hallucinate: o.Hallucinate, Compat: o.Compat,
		KNN: ev.KNN, KNNByK: byK(ev.KNNByK), KNNRawPixels: ev.KNNRawPixels, KNNRawPixelsByK: byK(ev.KNNRawPixelsByK),
		LinearLast: ev.Probe.Last, LinearBest: ev.Probe.Best, LinearCurve: ev.Probe.Curve,
		Alignment: ev.Alignment, Uniformity: ev.Uniformity, EffectiveRank: ev.EffectiveRank,
		ValKNN: valKNN, ValLinearLast: valLinear, EvalSeconds: ev.Duration.Seconds()}
	if a := ev.AugmentedProbe; a != nil {
		sum.LinearAugLast, sum.LinearAugBest, sum.LinearAugCurve = a.Last, a.Best, a.Curve
	}
	return sum, nil
}

// augProbe is the paper's augmented probe with -probe-epochs epochs, or nil
// without -probe-aug.
func augProbe(o *options) *ssl.AugmentedProbeConfig {
	if !o.ProbeAug {
		return nil
	}
	pc := ssl.PaperProbe
	pc.Epochs, pc.Seed, pc.Workers = o.ProbeEpochs, o.Seed, o.Workers
	pc.Milestones = []int{o.ProbeEpochs * 6 / 10, o.ProbeEpochs * 8 / 10}
	return &pc
}

func plots(dir string) error {
	return writeRunPlots(dir)
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func writeJSON(path string, v any) error {
	return writeAtomic(path, func(f *os.File) error {
		e := json.NewEncoder(f)
		e.SetIndent("", "  ")
		return e.Encode(v)
	})
}
