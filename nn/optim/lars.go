package optim

import (
	"fmt"

	"hallucinator/kernels"
	"hallucinator/nn"
	"hallucinator/tensor"
)

// LARSConfig configures LARS.
type LARSConfig struct {
	LR, Momentum, WeightDecay float64
	// Eta is the trust coefficient; 0 means 0.001.
	Eta float64
	// ExcludeBiasBN keeps one-dimensional parameters (biases, batch-norm
	// scales and shifts) out of weight decay and of the layer-wise
	// adaptation, as solo-learn's exclude_bias_n_norm.
	ExcludeBiasBN bool
}

// LARS is layer-wise adaptive rate scaling (You et al. 2017) with momentum:
// for each tensor, local = lr*eta*||p|| / (||grad|| + wd*||p||);
// buf = momentum*buf + local*(grad + wd*p); p -= buf (see
// kernels.LARSParams).
type LARS struct {
	base
	cfg     LARSConfig
	exclude []bool
	bufs    []*tensor.Tensor
}

// NewLARS returns a LARS optimiser over params on backend b.
func NewLARS(b kernels.Backend, params []nn.Param, c LARSConfig) (*LARS, error) {
	bs, err := newBase("LARS", b, params, c.LR)
	if err != nil {
		return nil, err
	}
	if c.Eta == 0 {
		c.Eta = 0.001
	}
	switch {
	case !(c.Momentum >= 0 && c.Momentum < 1):
		return nil, fmt.Errorf("optim: LARS: momentum %g must be in [0, 1)", c.Momentum)
	case !(c.WeightDecay >= 0):
		return nil, fmt.Errorf("optim: LARS: weight decay %g must be >= 0", c.WeightDecay)
	case !(c.Eta > 0):
		return nil, fmt.Errorf("optim: LARS: trust coefficient %g must be > 0", c.Eta)
	}
	o := &LARS{base: bs, cfg: c, exclude: make([]bool, len(params)), bufs: make([]*tensor.Tensor, len(params))}
	for i, p := range params {
		o.exclude[i] = c.ExcludeBiasBN && isBiasOrNorm(p)
	}
	return o, nil
}

// Step updates every parameter with a gradient in one backend call.
func (o *LARS) Step() {
	idx := o.active()
	o.steps++
	if len(idx) == 0 {
		return
	}
	ps := make([]*tensor.Tensor, len(idx))
	gs := make([]*tensor.Tensor, len(idx))
	bufs := make([]*tensor.Tensor, len(idx))
	ex := make([]bool, len(idx))
	for k, i := range idx {
		v := o.params[i].V
		if o.bufs[i] == nil {
			o.bufs[i] = o.b.Zeros(v.Value.Shape()...)
		}
		ps[k], gs[k], bufs[k], ex[k] = v.Value, v.Grad, o.bufs[i], o.exclude[i]
	}
	kernels.LARSStep(o.b, kernels.LARSParams{
		LR: float32(o.lr), Momentum: float32(o.cfg.Momentum), WeightDecay: float32(o.cfg.WeightDecay),
		Eta: float32(o.cfg.Eta),
	}, ps, gs, bufs, ex)
}

// State returns the step count and the momentum buffers as
// "momentum_buffer.<param>".
func (o *LARS) State() []nn.NamedTensor {
	return o.stateOf([]nn.NamedTensor{o.stepState()}, "momentum_buffer", o.bufs)
}

// LoadState restores the step count and momentum buffers.
func (o *LARS) LoadState(ts []nn.NamedTensor) error {
	return o.loadMomentum("LARS", ts, o.bufs)
}
