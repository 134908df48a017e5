package optim

import (
	"fmt"

	"hallucinator/kernels"
	"hallucinator/nn"
	"hallucinator/tensor"
)

// SGDConfig configures SGD as torch.optim.SGD with dampening 0.
type SGDConfig struct {
	LR, Momentum, WeightDecay float64
	Nesterov                  bool
	// NoDecayBiasBN turns weight decay off for one-dimensional parameters:
	// biases and batch-norm scales and shifts.
	NoDecayBiasBN bool
}

// SGD is stochastic gradient descent with optional momentum (heavy-ball or
// Nesterov) and L2 weight decay: g = grad + wd*p; buf = momentum*buf + g;
// g = nesterov ? g + momentum*buf : buf; p -= lr*g.
type SGD struct {
	base
	cfg  SGDConfig
	wd   []bool
	bufs []*tensor.Tensor // momentum buffers, allocated on a parameter's first step
}

// NewSGD returns an SGD optimiser over params on backend b.
func NewSGD(b kernels.Backend, params []nn.Param, c SGDConfig) (*SGD, error) {
	bs, err := newBase("SGD", b, params, c.LR)
	if err != nil {
		return nil, err
	}
	switch {
	case !(c.Momentum >= 0 && c.Momentum < 1):
		return nil, fmt.Errorf("optim: SGD: momentum %g must be in [0, 1)", c.Momentum)
	case !(c.WeightDecay >= 0):
		return nil, fmt.Errorf("optim: SGD: weight decay %g must be >= 0", c.WeightDecay)
	case c.Nesterov && c.Momentum == 0:
		return nil, fmt.Errorf("optim: SGD: Nesterov momentum needs a momentum > 0")
	}
	o := &SGD{base: bs, cfg: c, wd: make([]bool, len(params)), bufs: make([]*tensor.Tensor, len(params))}
	for i, p := range params {
		o.wd[i] = !(c.NoDecayBiasBN && isBiasOrNorm(p))
	}
	return o, nil
}

// Step updates every parameter with a gradient in one backend call.
func (o *SGD) Step() {
	idx := o.active()
	o.steps++
	if len(idx) == 0 {
		return
	}
	ps := make([]*tensor.Tensor, len(idx))
	gs := make([]*tensor.Tensor, len(idx))
	wd := make([]bool, len(idx))
	var bufs []*tensor.Tensor
	if o.cfg.Momentum != 0 {
		bufs = make([]*tensor.Tensor, len(idx))
	}
	for k, i := range idx {
		v := o.params[i].V
		ps[k], gs[k], wd[k] = v.Value, v.Grad, o.wd[i]
		if bufs != nil {
			if o.bufs[i] == nil {
				// A zero buffer makes the first update buf = g, as torch's.
				o.bufs[i] = o.b.Zeros(v.Value.Shape()...)
			}
			bufs[k] = o.bufs[i]
		}
	}
	kernels.SGDStep(o.b, kernels.SGDParams{
		LR: float32(o.lr), Momentum: float32(o.cfg.Momentum), WeightDecay: float32(o.cfg.WeightDecay),
		Nesterov: o.cfg.Nesterov,
	}, ps, gs, bufs, wd)
}

// State returns the step count and the momentum buffers as
// "momentum_buffer.<param>".
func (o *SGD) State() []nn.NamedTensor {
	return o.stateOf([]nn.NamedTensor{o.stepState()}, "momentum_buffer", o.bufs)
}

// LoadState restores the step count and momentum buffers.
func (o *SGD) LoadState(ts []nn.NamedTensor) error {
	return o.loadMomentum("SGD", ts, o.bufs)
}
