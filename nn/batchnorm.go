package nn

import (
	"fmt"

	"hallucinator/autograd"
	"hallucinator/dist"
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
	// Groups > 1 normalises a training batch in that many groups of
	// samples, sample i in group i mod Groups (ghost batch norm, as
	// PyTorch code does it with a [N/G, G*C, ...] view): the one-device
	// form of batch norm split across devices, which MoCo's shuffling BN
	// needs. The running statistics move by the mean of the groups'
	// statistics. Evaluation mode ignores it.
	Groups int
	// Sync, when it holds more than one rank, makes training-mode forwards
	// normalise with the statistics of the global batch, the union of every
	// rank's batch (synchronised batch norm, as PyTorch's SyncBatchNorm):
	// each such forward and its backward are collectives that every rank
	// must run in the same order, with inputs of the same shape. The
	// running statistics move by the global statistics, so they stay
	// identical across ranks. A failed collective panics with a *CommError.
	// Nil (or one rank): this rank's batch alone. See SetSyncBN.
	Sync dist.Comm

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
		if m.synced() {
			return m.syncForward(tp, x)
		}
		if m.Groups > 1 {
			return m.groupedForward(tp, x)
		}
	}
	return tp.BatchNorm(x, m.Weight, m.Bias, m.RunningMean, m.RunningVar, m.P, m.Training)
}

// groupedForward normalises x in m.Groups interleaved groups: x seen as
// [N/G, G*C, ...] is a batch norm over G*C channels with gamma and beta
// tiled G times.
func (m *BatchNorm) groupedForward(tp *autograd.Tape, x *autograd.Var) *autograd.Var {
	s := x.Shape()
	g := m.Groups
	if s[0]%g != 0 {
		panic(fmt.Sprintf("nn: BatchNorm%dd(%d) in %d groups applied to a batch of %d, not a multiple", m.dims/2, m.C, g, s[0]))
	}
	gs := append([]int{s[0] / g, g * m.C}, s[2:]...)
	tile := func(v *autograd.Var) *autograd.Var {
		row := tp.Reshape(v, 1, m.C)
		rows := make([]*autograd.Var, g)
		for i := range rows {
			rows[i] = row
		}
		return tp.Reshape(tp.ConcatRows(rows...), g*m.C)
	}
	// Momentum 1 leaves each group's batch statistics in rm and rv.
	rm, rv := m.b.Zeros(g*m.C), m.b.Zeros(g*m.C)
	p := m.P
	p.Momentum = 1
	y := tp.BatchNorm(tp.Reshape(x, gs...), tile(m.Weight), tile(m.Bias), rm, rv, p, true)
	mom := m.P.Momentum
	sum := m.b.Zeros(m.C)
	for _, st := range [][2]*tensor.Tensor{{rm, m.RunningMean}, {rv, m.RunningVar}} {
		m.b.SumRows(st[0].Reshape(g, m.C), sum)
		m.b.Scale(1-mom, st[1], st[1])
		m.b.Axpy(mom/float32(g), sum, st[1])
	}
	return tp.Reshape(y, s...)
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
