package nn

import (
	"fmt"

	"hallucinator/autograd"
	"hallucinator/kernels"
	"hallucinator/tensor"
)

// BatchNormOptions configures a BatchNorm layer. The zero value is
// PyTorch's default: eps 1e-5, momentum 0.1, affine, no ReLU.
type BatchNormOptions struct {
	Eps      float32 // 0: 1e-5
	Momentum float32 // 0: 0.1 (running = (1-m)*running + m*batch)
	// ReLU fuses a ReLU after the normalisation.
	ReLU bool
	// NoAffine drops the learned scale and shift (PyTorch's affine=False):
	// the layer then has no parameters.
	NoAffine bool
}

// BatchNorm normalises each channel of [N, C] (BatchNorm1d) or [N, C, H, W]
// (BatchNorm2d) inputs: with batch statistics in training mode (updating the
// running statistics), with the running statistics in evaluation mode.
// State names: "weight", "bias" (when affine), "running_mean",
// "running_var", "num_batches_tracked".
type BatchNorm struct {
	C int
	// Weight (gamma) and Bias (beta) are the affine parameters [C]; constant
	// ones and zeros that require no gradient when the layer is not affine.
	Weight, Bias *autograd.Var
	// RunningMean and RunningVar [C] start at 0 and 1.
	RunningMean, RunningVar *tensor.Tensor
	// NumBatchesTracked is a scalar counting training-mode forwards.
	NumBatchesTracked *tensor.Tensor
	P                 kernels.BNParams
	Affine            bool
	Training          bool

	dims int // 2 for BatchNorm1d, 4 for BatchNorm2d
	one  *tensor.Tensor
	b    kernels.Backend
}

// NewBatchNorm1d returns a batch norm over [N, C] inputs, in training mode.
func NewBatchNorm1d(b kernels.Backend, c int, o BatchNormOptions) (*BatchNorm, error) {
	return newBatchNorm(b, c, 2, o)
}

// NewBatchNorm2d returns a batch norm over [N, C, H, W] inputs, in
// training mode.
func NewBatchNorm2d(b kernels.Backend, c int, o BatchNormOptions) (*BatchNorm, error) {
	return newBatchNorm(b, c, 4, o)
}

func newBatchNorm(b kernels.Backend, c, dims int, o BatchNormOptions) (*BatchNorm, error) {
	name := fmt.Sprintf("BatchNorm%dd", dims/2)
	if err := checkPositive(name, "channels", c); err != nil {
		return nil, err
	}
	if o.Eps == 0 {
		o.Eps = 1e-5
	}
	if o.Momentum == 0 {
		o.Momentum = 0.1
	}
	if !(o.Eps > 0) || !(o.Momentum > 0 && o.Momentum <= 1) {
		return nil, fmt.Errorf("nn: %s: eps %g must be positive and momentum %g in (0, 1]", name, o.Eps, o.Momentum)
	}
	m := &BatchNorm{
		C: c, Affine: !o.NoAffine, Training: true, dims: dims, b: b,
		P:                 kernels.BNParams{Eps: o.Eps, Momentum: o.Momentum, ReLU: o.ReLU},
		RunningMean:       b.Zeros(c),
		RunningVar:        b.FromHost(tensor.Ones(c)),
		NumBatchesTracked: b.Zeros(),
		one:               b.FromHost(tensor.Ones()),
	}
	m.Weight = autograd.NewVar(b.FromHost(tensor.Ones(c)), m.Affine)
	m.Bias = autograd.NewVar(b.Zeros(c), m.Affine)
	m.Weight.Name, m.Bias.Name = "weight", "bias"
	return m, nil
}

// Forward normalises x; in training mode it also updates the running
// statistics and NumBatchesTracked.
func (m *BatchNorm) Forward(tp *autograd.Tape, x *autograd.Var) *autograd.Var {
	if s := x.Shape(); len(s) != m.dims || s[1] != m.C {
		panic(fmt.Sprintf("nn: BatchNorm%dd(%d) applied to an input of shape %v", m.dims/2, m.C, s))
	}
	if m.Training {
		m.b.Axpy(1, m.one, m.NumBatchesTracked)
	}
	return tp.BatchNorm(x, m.Weight, m.Bias, m.RunningMean, m.RunningVar, m.P, m.Training)
}

// Params returns weight and bias when the layer is affine, else nothing.
func (m *BatchNorm) Params() []Param {
	if !m.Affine {
		return nil
	}
	return []Param{{Name: "weight", V: m.Weight}, {Name: "bias", V: m.Bias}}
}

// Buffers returns the running statistics and the batch counter.
func (m *BatchNorm) Buffers() []Buffer {
	return []Buffer{
		{Name: "running_mean", T: m.RunningMean},
		{Name: "running_var", T: m.RunningVar},
		{Name: "num_batches_tracked", T: m.NumBatchesTracked},
	}
}

// SetTraining selects batch statistics (true) or running statistics.
func (m *BatchNorm) SetTraining(training bool) { m.Training = training }

// Backend returns the backend the tensors live on.
func (m *BatchNorm) Backend() kernels.Backend { return m.b }
