package ssl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"hallucinator/autograd"
	"hallucinator/dist"
	"hallucinator/kernels"
	"hallucinator/nn"
	"hallucinator/nn/optim"
	"hallucinator/ssl/data"
	"hallucinator/tensor"
)

// TrainConfig configures pre-training.
type TrainConfig struct {
	Epochs    int
	BatchSize int
	// Optimizer is "sgd" (momentum) or "lars".
	Optimizer   string
	LR, FinalLR float64 // cosine decay from LR to FinalLR
	WarmupSteps int
	Momentum    float64
	WeightDecay float64
	Seed        uint64
	// Workers build augmented batches (0: GOMAXPROCS).
	Workers int
	// Views are the two augmentations (anchor view first).
	Views [2]data.Transform
	// MaxSteps, when positive, stops each epoch after that many steps (for
	// short runs and tests).
	MaxSteps int
	// OnNonFinite says what a step whose loss or gradient norm is NaN or
	// infinite does: "stop" (also when empty) ends training with an error
	// wrapping ErrNonFinite, before the optimiser touches the weights;
	// "skip" leaves the whole state as it was before the step (weights,
	// optimiser state, batch-norm statistics, MoCo's key encoder and
	// queue), counts the step in Skipped and goes on with the next batch,
	// as mixed-precision trainers do; it keeps a copy of the framework's
	// buffers for that, made before each step. After MaxSkipsInARow skipped
	// steps in a row training stops all the same.
	OnNonFinite string
	// Norm is the per-channel normalisation that the views end with, which
	// an encoder's user must apply to its input. Save records it in the
	// checkpoint's MetaEncoder metadata when it is set (one mean and std
	// per channel of the data set); it changes nothing in training.
	Norm data.Normalize
	// Comm, when it holds more than one rank, trains data-parallel over its
	// ranks, one Trainer per rank, each with the same configuration, data
	// set and framework settings (see the comment on data-parallel training
	// in distributed.go, and moco_dist.go for MoCo): BatchSize is the
	// global batch, split evenly over the ranks. The tensors of the
	// backend must be ones the communicator serves (host tensors for MPI
	// and dist.NewGroup). Checkpoints and metrics are the caller's: every
	// rank holds the same state, so only rank 0 should Save, and every rank
	// Loads the same checkpoint. Nil, or one rank: one device.
	Comm dist.Comm
	// LocalBN, distributed, normalises each rank's batch by its own
	// statistics instead of the global batch's (synchronised batch norm,
	// the default), and broadcasts rank 0's batch-norm statistics before
	// every step. MoCo with shuffling batch norm normalises each rank's
	// batch by its own groups either way.
	LocalBN bool
}

// MaxSkipsInARow is how many consecutive non-finite steps OnNonFinite "skip"
// tolerates before it stops training: a run whose every step overflows has
// diverged, and skipping cannot bring it back.
const MaxSkipsInARow = 20

// StepInfo is reported after every training step.
type StepInfo struct {
	Epoch, Step, StepsPerEpoch, GlobalStep int
	Loss, LR                               float64
	// GradNorm is the L2 norm of all the gradients of the step, before
	// the optimiser's weight decay.
	GradNorm float64
	// Skipped says the step was skipped for a non-finite loss or gradient
	// (TrainConfig.OnNonFinite "skip").
	Skipped bool
	// Images is the number of images of the step, over every rank when
	// training is distributed (the global batch).
	Images  int
	Elapsed time.Duration
}

// Trainer runs self-supervised pre-training of a Framework.
type Trainer struct {
	Cfg   TrainConfig
	FW    Framework
	be    kernels.Backend
	ds    *data.Dataset
	opt   optim.Optimizer
	fixed optim.Optimizer // constant-lr group (SimSiam predictor), may be nil
	sched optim.Schedule
	tp    *autograd.Tape
	// Epoch and Step are where the next step starts.
	Epoch, Step int
	// Skipped counts the steps of the run skipped for a non-finite loss or
	// gradient (kept in checkpoints); inARow the latest of them in a row.
	Skipped, inARow int
	steps           int // steps per epoch
	gradSq          *tensor.Tensor
	// saved holds a copy of the framework's buffers from before the step
	// in flight (OnNonFinite "skip").
	saved []*tensor.Tensor
	// comm is Cfg.Comm when it holds more than one rank, else nil; bucket
	// is the flat buffer of the gradients it averages.
	comm   dist.Comm
	bucket *tensor.Tensor
}

// NewTrainer prepares pre-training of fw on ds.
func NewTrainer(be kernels.Backend, fw Framework, ds *data.Dataset, c TrainConfig) (*Trainer, error) {
	if c.Epochs <= 0 || c.BatchSize <= 1 {
		return nil, fmt.Errorf("ssl: training for %d epochs with batch %d; want epochs > 0 and batch > 1", c.Epochs, c.BatchSize)
	}
	if !(c.LR > 0) || c.FinalLR < 0 || c.WeightDecay < 0 || c.Momentum < 0 || c.Momentum >= 1 {
		return nil, fmt.Errorf("ssl: bad optimiser settings lr=%v final=%v wd=%v momentum=%v", c.LR, c.FinalLR, c.WeightDecay, c.Momentum)
	}
	switch c.OnNonFinite {
	case "", "stop", "skip":
	default:
		return nil, fmt.Errorf("ssl: OnNonFinite %q, want stop or skip", c.OnNonFinite)
	}
	if ds.N < c.BatchSize {
		return nil, fmt.Errorf("ssl: %d images are fewer than one batch of %d", ds.N, c.BatchSize)
	}
	if bc, ok := fw.(interface{ checkBatch(int) error }); ok {
		if err := bc.checkBatch(c.BatchSize); err != nil {
			return nil, err
		}
	}
	t := &Trainer{Cfg: c, FW: fw, be: be, ds: ds, tp: autograd.NewTape(be)}
	if err := t.setupDist(); err != nil {
		return nil, err
	}
	// A step's activations are dead once the next begins (see step): their
	// buffers serve the next step instead of new, cleared memory.
	t.tp.SetRecycling(true)
	t.steps = ds.N / c.BatchSize
	if c.MaxSteps > 0 {
		t.steps = min(t.steps, c.MaxSteps)
	}
	var err error
	if t.opt, err = newOptimizer(be, fw.MainParams(), c, c.LR); err != nil {
		return nil, err
	}
	if fp := fw.FixedLRParams(); len(fp) > 0 {
		if t.fixed, err = newOptimizer(be, fp, c, c.LR); err != nil {
			return nil, err
		}
	}
	t.sched = optim.WarmupCosine{Base: c.LR, Final: c.FinalLR, WarmupStart: 0,
		WarmupSteps: c.WarmupSteps, TotalSteps: c.Epochs * t.steps}
	return t, nil
}

func newOptimizer(be kernels.Backend, ps []nn.Param, c TrainConfig, lr float64) (optim.Optimizer, error) {
	switch strings.ToLower(c.Optimizer) {
	case "", "sgd":
		return optim.NewSGD(be, ps, optim.SGDConfig{LR: lr, Momentum: c.Momentum, WeightDecay: c.WeightDecay})
	case "lars":
		return optim.NewLARS(be, ps, optim.LARSConfig{LR: lr, Momentum: c.Momentum, WeightDecay: c.WeightDecay, Eta: 0.02, ExcludeBiasBN: true})
	}
	return nil, fmt.Errorf("ssl: unknown optimiser %q (want sgd or lars)", c.Optimizer)
}

// StepsPerEpoch is the number of optimiser steps in an epoch.
func (t *Trainer) StepsPerEpoch() int { return t.steps }

// Done reports whether every epoch has run.
func (t *Trainer) Done() bool { return t.Epoch >= t.Cfg.Epochs }

// ErrNonFinite is returned when a step's loss or gradient norm is NaN or
// infinite and training stops for it.
var ErrNonFinite = errors.New("ssl: loss or gradient is not finite")

// RunEpoch trains from the current position to the end of the epoch,
// calling onStep after each step. On cancellation it stops after the step in
// flight and returns ctx.Err(); Epoch and Step then say where to resume.
func (t *Trainer) RunEpoch(ctx context.Context, onStep func(StepInfo)) error {
	if t.Done() {
		return nil
	}
	ld, err := t.newLoader(ctx)
	if err != nil {
		return err
	}
	defer ld.Close()
	start := time.Now()
	for t.Step < t.steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		b, err := ld.Next()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		info, err := t.stepDist(b)
		ld.Recycle(b)
		if err != nil {
			return err
		}
		t.Step++
		if onStep != nil {
			info.Epoch, info.Step, info.StepsPerEpoch, info.GlobalStep = t.Epoch, t.Step, t.steps, t.Epoch*t.steps+t.Step
			info.Images, info.Elapsed = b.N*t.ranks(), time.Since(start)
			onStep(info)
		}
	}
	t.Epoch++
	t.Step = 0
	return nil
}

// step runs one optimiser step on a batch of two views.
func (t *Trainer) step(b *data.Batch) (StepInfo, error) {
	global := t.Epoch*t.steps + t.Step
	info := StepInfo{LR: t.sched.LR(global)}
	shape := []int{b.N, b.C, b.H, b.W}
	v1 := autograd.NewVar(t.be.FromHost(tensor.FromSlice(b.Views[0], shape...)), false)
	v2 := autograd.NewVar(t.be.FromHost(tensor.FromSlice(b.Views[1], shape...)), false)
	// One random stream per step, so that a resumed run draws the same.
	rng := rand.New(rand.NewPCG(t.Cfg.Seed^0x5eed, uint64(global)))
	if sc, ok := t.FW.(Scheduled); ok {
		sc.SetProgress(global, t.Cfg.Epochs*t.steps)
	}
	t.FW.SetTraining(true)
	t.tp.Recycle() // the previous step's values, read by Stats until now
	t.opt.ZeroGrad()
	if t.fixed != nil {
		t.fixed.ZeroGrad()
	}
	skip := t.Cfg.OnNonFinite == "skip"
	if skip {
		t.saveBuffers()
	}
	l := t.FW.Loss(t.tp, v1, v2, rng)
	t.tp.Backward(l)
	lv := l.Value
	if t.comm != nil {
		var err error
		if lv, err = t.averageGrads(lv); err != nil {
			return info, err
		}
	}
	sq := t.gradSquares()
	lh := t.be.ToHost(lv).Data()[0]
	if err := t.be.Sync(); err != nil {
		return info, err
	}
	info.Loss = float64(lh)
	for _, v := range sq.Data() {
		info.GradNorm += float64(v)
	}
	info.GradNorm = math.Sqrt(info.GradNorm)
	if !finite(info.Loss) || !finite(info.GradNorm) {
		where := fmt.Sprintf("epoch %d step %d (lr %g, loss %g, gradient norm %g)", t.Epoch+1, t.Step+1, info.LR, info.Loss, info.GradNorm)
		if !skip {
			return info, fmt.Errorf("%w at %s", ErrNonFinite, where)
		}
		t.restoreBuffers()
		t.Skipped++
		t.inARow++
		if t.inARow >= MaxSkipsInARow {
			return info, fmt.Errorf("%w: %d steps in a row, the last at %s", ErrNonFinite, t.inARow, where)
		}
		info.Skipped = true
		return info, nil
	}
	t.inARow = 0
	t.opt.SetLR(info.LR)
	t.opt.Step()
	if t.fixed != nil {
		t.fixed.Step() // constant learning rate
	}
	t.FW.AfterStep()
	return info, nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// saveBuffers copies the framework's buffers (batch-norm statistics, MoCo's
// key encoder and queue), which a forward pass may change, into t.saved.
func (t *Trainer) saveBuffers() {
	bs := t.FW.Buffers()
	if len(t.saved) != len(bs) {
		t.saved = make([]*tensor.Tensor, len(bs))
		for i, b := range bs {
			t.saved[i] = t.be.Zeros(b.T.Shape()...)
		}
	}
	for i, b := range bs {
		t.be.Copy(b.T, t.saved[i])
	}
}

// restoreBuffers undoes what the step in flight did to the buffers.
func (t *Trainer) restoreBuffers() {
	for i, b := range t.FW.Buffers() {
		t.be.Copy(t.saved[i], b.T)
	}
}

// gradSquares returns a host tensor with the sum of the squares of each
// gradient of the step.
func (t *Trainer) gradSquares() *tensor.Tensor {
	var gs []*tensor.Tensor
	for _, o := range []optim.Optimizer{t.opt, t.fixed} {
		if o == nil {
			continue
		}
		for _, p := range o.Params() {
			if p.V.Grad != nil {
				gs = append(gs, p.V.Grad)
			}
		}
	}
	if len(gs) == 0 {
		return tensor.Zeros(1)
	}
	if t.gradSq == nil || t.gradSq.Numel() != len(gs) {
		t.gradSq = t.be.Zeros(len(gs))
	}
	t.be.SumSquares(gs, t.gradSq)
	return t.be.ToHost(t.gradSq)
}

// Checkpoint metadata keys.
const (
	metaEpoch     = "epoch"
	metaStep      = "step"
	metaFramework = "framework"
	metaSkipped   = "skipped_steps"
	optPrefix     = "optimizer."
	fixedPrefix   = "optimizer_fixed."
)

// Save writes the framework's state, the optimisers' state and the position
// to path atomically (one safetensors file), with extra metadata. The
// metadata also describes the encoder under MetaEncoder (architecture, input
// channels, image size and, when TrainConfig.Norm is set, normalisation), so
// that LoadEncoder can use it without the training code.
func (t *Trainer) Save(path string, extra map[string]string) error {
	ts, err := nn.StateTensors(t.FW)
	if err != nil {
		return err
	}
	for _, o := range []struct {
		prefix string
		opt    optim.Optimizer
	}{{optPrefix, t.opt}, {fixedPrefix, t.fixed}} {
		if o.opt == nil {
			continue
		}
		for _, s := range o.opt.State() {
			s.Name = o.prefix + s.Name
			ts = append(ts, s)
		}
	}
	if err := nn.CheckFinite(ts); err != nil {
		return fmt.Errorf("ssl: not writing %s: %w", path, err)
	}
	meta := map[string]string{metaEpoch: strconv.Itoa(t.Epoch), metaStep: strconv.Itoa(t.Step), metaFramework: t.FW.Name(),
		metaSkipped: strconv.Itoa(t.Skipped)}
	if enc := t.FW.Encoder(); enc != nil {
		info := encoderInfo(enc, encoderPrefix(t.FW), t.ds.H, t.Cfg.Norm)
		info.Framework = t.FW.Name()
		if info.Norm != nil && len(info.Norm.Mean) != info.InChannels {
			return fmt.Errorf("ssl: not writing %s: TrainConfig.Norm has %d means for %d-channel images", path, len(info.Norm.Mean), info.InChannels)
		}
		raw, err := json.Marshal(info)
		if err != nil {
			return err
		}
		meta[MetaEncoder] = string(raw)
	}
	for k, v := range extra {
		if _, ok := meta[k]; !ok {
			meta[k] = v
		}
	}
	return nn.WriteSafetensors(path, ts, meta)
}

// Load restores a checkpoint written by Save and returns its metadata.
func (t *Trainer) Load(path string) (map[string]string, error) {
	ts, meta, err := nn.ReadSafetensors(path)
	if err != nil {
		return nil, err
	}
	if meta[metaFramework] != t.FW.Name() {
		return nil, fmt.Errorf("ssl: %s holds a %q checkpoint, this run is %q", path, meta[metaFramework], t.FW.Name())
	}
	var model, opt, fixed []nn.NamedTensor
	for _, x := range ts {
		switch {
		case strings.HasPrefix(x.Name, optPrefix):
			x.Name = strings.TrimPrefix(x.Name, optPrefix)
			opt = append(opt, x)
		case strings.HasPrefix(x.Name, fixedPrefix):
			x.Name = strings.TrimPrefix(x.Name, fixedPrefix)
			fixed = append(fixed, x)
		default:
			model = append(model, x)
		}
	}
	ep, err1 := strconv.Atoi(meta[metaEpoch])
	st, err2 := strconv.Atoi(meta[metaStep])
	if err1 != nil || err2 != nil || ep < 0 || st < 0 || st >= t.steps {
		return nil, fmt.Errorf("ssl: %s: bad position epoch=%q step=%q in its metadata", path, meta[metaEpoch], meta[metaStep])
	}
	skipped := 0
	if v, ok := meta[metaSkipped]; ok {
		if skipped, err = strconv.Atoi(v); err != nil || skipped < 0 {
			return nil, fmt.Errorf("ssl: %s: bad count of skipped steps %q in its metadata", path, v)
		}
	}
	if err := nn.LoadState(t.FW, model); err != nil {
		return nil, fmt.Errorf("ssl: %s: %w", path, err)
	}
	if err := t.opt.LoadState(opt); err != nil {
		return nil, fmt.Errorf("ssl: %s: %w", path, err)
	}
	if t.fixed != nil {
		if err := t.fixed.LoadState(fixed); err != nil {
			return nil, fmt.Errorf("ssl: %s: %w", path, err)
		}
	}
	t.Epoch, t.Step, t.Skipped = ep, st, skipped
	return meta, nil
}
