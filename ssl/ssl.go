// Package ssl holds the self-supervised frameworks (SimCLR, MoCo v1/v2,
// SimSiam, BYOL), the Hallucinator that any of them can switch on, and the
// tools to evaluate what they learn (kNN monitor, linear probe, alignment and
// uniformity). Every framework is one small interface: a loss on a batch of
// two views, an update after the optimiser step, and the encoder to evaluate.
package ssl

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"hallucinator/autograd"
	"hallucinator/kernels"
	"hallucinator/nn"
)

// Framework is a self-supervised method. As an nn.Module its Params are
// every trainable tensor (encoder, heads, Hallucinator), its Buffers every
// other piece of state that a checkpoint must hold (batch-norm statistics,
// momentum encoder, queue), and Forward embeds images with the encoder.
type Framework interface {
	nn.Module
	// Name is the framework's name, e.g. "simclr".
	Name() string
	// Loss records the training loss of two views v1, v2 [N, C, H, W] of the
	// same images on the tape; rng draws the step's random numbers (the
	// Hallucinator's lambda). A Trainer's tape recycles op outputs
	// (autograd.Tape.SetRecycling): the values Loss makes stay valid until
	// the next step's Loss, so what must outlive a step (MoCo's keys in
	// its queue) is copied.
	Loss(tp *autograd.Tape, v1, v2 *autograd.Var, rng *rand.Rand) *autograd.Var
	// AfterStep runs after the optimiser step (momentum encoder, queue). A
	// framework whose update depends on the position in the run (BYOL's
	// momentum schedule) implements Scheduled as well.
	AfterStep()
	// Encoder is the backbone whose features are evaluated.
	Encoder() *nn.ResNet
	// FixedLRParams are parameters trained at a constant learning rate
	// (SimSiam's predictor with FixPredLR); they are not in MainParams.
	FixedLRParams() []nn.Param
	// MainParams are the parameters under the learning-rate schedule.
	MainParams() []nn.Param
	// Stats returns the last step's diagnostics (positive-pair cosine
	// similarity with and without hallucination, lambda).
	Stats() StepStats
}

// Scheduled is a Framework that needs the position of the step in flight
// (BYOL's target momentum). The Trainer calls SetProgress before each step's
// Loss with the global step (from 0) and the run's total number of steps;
// the position comes from the Trainer's epoch and step, which checkpoints
// hold, so a resumed run follows the same schedule. A framework used without
// a Trainer, or wrapped in a type that hides the method, sees total 0.
type Scheduled interface {
	SetProgress(step, total int)
}

// StepStats are diagnostics of one training step, read from the device only
// when asked for.
type StepStats struct {
	Lambda float32
	// PosCos is the mean cosine similarity of the anchor and its positive;
	// HalCos that of the hallucinated feature and the positive (0 when the
	// Hallucinator is off).
	PosCos, HalCos float64
}

// Config chooses and configures a framework.
type Config struct {
	// Framework is one of "simclr", "mocov1", "mocov2", "simsiam", "byol".
	Framework string
	// Hallucinate switches the Hallucinator on.
	Hallucinate bool
	// Compat reproduces the released code's behaviour: twins counted as
	// negatives (SimCLR), keys enqueued twice (MoCo), the Hallucinator's MLP
	// left out of the optimiser with a fixed predictor lr (SimSiam); nothing
	// for BYOL.
	Compat bool
	// Backbone.
	Depth      int // 18 or 34
	Width      int // base channels (64 in the paper)
	InChannels int
	Stem       nn.Stem
	// Heads.
	ProjDim    int // projection output (128; SimSiam 512)
	HiddenDim  int // projection hidden width (512; SimSiam's projector has two hidden layers)
	PredHidden int // predictor hidden width (SimSiam 128, BYOL 512)
	// Loss.
	Temperature float32
	QueueSize   int // MoCo
	// Momentum is MoCo's key-encoder momentum, and BYOL's target momentum
	// at the start of the run (it rises to 1 on a cosine, BYOLTau).
	Momentum  float32
	FixPredLR bool // SimSiam
	// ShuffleBN is the number of batch-norm groups of MoCo's shuffling BN
	// (He et al. 2020, section 3.3), on one device: both encoders normalise
	// a batch in this many groups of samples (BatchNorm.Groups), and the key
	// encoder sees the batch in a random order, so that a query and its key
	// are normalised among different images. Without it a query can find
	// its key, the only key of the current batch, by the batch statistics
	// the two share. The batch size must be a multiple of it; 0 or 1: off.
	ShuffleBN int

	// The released code's architecture and loss, which the "paper" preset
	// selects (PresetFor); all off by default.

	// ZeroInitResidual starts every residual block as the identity (the
	// scale of its last batch norm at zero), as the official SimSiam's
	// ResNet does.
	ZeroInitResidual bool
	// ProjNoBN builds SimCLR's projector without its hidden batch norm,
	// Linear-ReLU-Linear, as the released DDP_simclr.py does.
	ProjNoBN bool
	// ProjLastBNNoAffine ends SimSiam's projector in a batch norm without
	// learned scale and shift, as the official recipe does.
	ProjLastBNNoAffine bool
	// LossScale multiplies SimCLR's loss (0 means 1): the released
	// NT_Xent_dist multiplies it by T / 0.07, its base temperature.
	LossScale float32
}

// DefaultConfig returns the paper's settings for a framework on a small data
// set (CIFAR-style ResNet-18).
func DefaultConfig(framework string) Config {
	c := Config{
		Framework: strings.ToLower(framework), Depth: 18, Width: 64, InChannels: 3, Stem: nn.StemCIFAR,
		ProjDim: 128, HiddenDim: 512, PredHidden: 128, Temperature: 0.2, QueueSize: 4096, Momentum: 0.99,
		ShuffleBN: 4,
	}
	switch c.Framework {
	case "simclr":
		c.Temperature = 0.5
	case "simsiam":
		c.ProjDim = 512
		c.FixPredLR = true
	case "byol":
		// The paper's heads (4096 hidden, 256 out) at the widths of the
		// other frameworks' heads here; the predictor has the projector's
		// shape. 0.99 is solo-learn's base momentum on CIFAR (the
		// paper's 0.996 is for ImageNet).
		c.PredHidden = 512
		c.ShuffleBN = 0
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.Depth != 18 && c.Depth != 34:
		return fmt.Errorf("ssl: depth %d, want 18 or 34", c.Depth)
	case c.Width <= 0 || c.InChannels <= 0:
		return fmt.Errorf("ssl: width %d and input channels %d must be positive", c.Width, c.InChannels)
	case c.ProjDim <= 0 || c.HiddenDim <= 0:
		return fmt.Errorf("ssl: projection sizes %d/%d must be positive", c.HiddenDim, c.ProjDim)
	case (c.Framework == "simsiam" || c.Framework == "byol") && c.PredHidden <= 0:
		return fmt.Errorf("ssl: predictor hidden width %d must be positive", c.PredHidden)
	case c.ShuffleBN < 0:
		return fmt.Errorf("ssl: %d shuffling batch-norm groups, want >= 0", c.ShuffleBN)
	case c.Framework == "byol" && !(c.Momentum >= 0 && c.Momentum < 1):
		return fmt.Errorf("ssl: BYOL base momentum %v, want in [0, 1)", c.Momentum)
	case c.Framework != "simsiam" && c.Framework != "byol" && !(c.Temperature > 0):
		return fmt.Errorf("ssl: temperature %v, want > 0", c.Temperature)
	case c.ProjNoBN && c.Framework != "simclr":
		return fmt.Errorf("ssl: a projector without batch norm (ProjNoBN) is SimCLR's, not %s's", c.Framework)
	case c.ProjLastBNNoAffine && c.Framework != "simsiam":
		return fmt.Errorf("ssl: a last batch norm without affine parameters (ProjLastBNNoAffine) is SimSiam's, not %s's", c.Framework)
	case c.LossScale != 0 && c.Framework != "simclr":
		return fmt.Errorf("ssl: a loss scale is SimCLR's, not %s's", c.Framework)
	case c.LossScale < 0 || math.IsNaN(float64(c.LossScale)) || math.IsInf(float64(c.LossScale), 0):
		return fmt.Errorf("ssl: loss scale %v, want a positive number (0: 1)", c.LossScale)
	}
	return nil
}

// New builds the framework that c names, with parameters initialised from
// rng, on backend b.
func New(b kernels.Backend, rng *rand.Rand, c Config) (Framework, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	switch c.Framework {
	case "simclr":
		return NewSimCLR(b, rng, c)
	case "mocov1", "mocov2":
		return NewMoCo(b, rng, c)
	case "simsiam":
		return NewSimSiam(b, rng, c)
	case "byol":
		return NewBYOL(b, rng, c)
	}
	return nil, fmt.Errorf("ssl: unknown framework %q (want simclr, mocov1, mocov2, simsiam or byol)", c.Framework)
}

func newEncoder(b kernels.Backend, rng *rand.Rand, c Config) (*nn.ResNet, error) {
	rc := nn.ResNetConfig{Width: c.Width, Stem: c.Stem, InChannels: c.InChannels, ZeroInitResidual: c.ZeroInitResidual}
	if c.Depth == 34 {
		return nn.NewResNet34(b, rng, rc)
	}
	return nn.NewResNet18(b, rng, rc)
}

// part is a named sub-module of a framework, for Params and Buffers.
type part struct {
	name string
	m    interface {
		Params() []nn.Param
	}
}

func prefixed(prefix string, ps []nn.Param) []nn.Param {
	out := make([]nn.Param, len(ps))
	for i, p := range ps {
		out[i] = nn.Param{Name: prefix + "." + p.Name, V: p.V}
	}
	return out
}

func prefixedBuffers(prefix string, bs []nn.Buffer) []nn.Buffer {
	out := make([]nn.Buffer, len(bs))
	for i, bf := range bs {
		out[i] = nn.Buffer{Name: prefix + "." + bf.Name, T: bf.T}
	}
	return out
}

func collect(parts []part) []nn.Param {
	var ps []nn.Param
	for _, p := range parts {
		if p.m != nil {
			ps = append(ps, prefixed(p.name, p.m.Params())...)
		}
	}
	return ps
}

// rowIndex returns i mod n for i in [0, rows).
func rowIndex(rows, n int) []int32 {
	out := make([]int32, rows)
	for i := range out {
		out[i] = int32(i % n)
	}
	return out
}
