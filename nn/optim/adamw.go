package optim

import (
	"fmt"
	"sort"

	"hallucinator/kernels"
	"hallucinator/nn"
	"hallucinator/tensor"
)

// AdamWConfig configures AdamW as torch.optim.AdamW (amsgrad off).
type AdamWConfig struct {
	LR float64
	// Beta1, Beta2 and Eps default to 0.9, 0.999 and 1e-8 when 0.
	Beta1, Beta2, Eps float64
	// WeightDecay is the decoupled decay (p -= lr*wd*p); 0 means none.
	WeightDecay float64
	// NoDecayBiasBN turns weight decay off for one-dimensional parameters.
	NoDecayBiasBN bool
}

// AdamW is Adam with decoupled weight decay (Loshchilov and Hutter). Each
// parameter counts its own steps, as in PyTorch: a parameter without a
// gradient neither moves nor advances its bias correction.
type AdamW struct {
	base
	cfg      AdamWConfig
	wd       []bool
	m, v     []*tensor.Tensor
	paramStp []int
}

// NewAdamW returns an AdamW optimiser over params on backend b.
func NewAdamW(b kernels.Backend, params []nn.Param, c AdamWConfig) (*AdamW, error) {
	bs, err := newBase("AdamW", b, params, c.LR)
	if err != nil {
		return nil, err
	}
	if c.Beta1 == 0 {
		c.Beta1 = 0.9
	}
	if c.Beta2 == 0 {
		c.Beta2 = 0.999
	}
	if c.Eps == 0 {
		c.Eps = 1e-8
	}
	switch {
	case !(c.Beta1 > 0 && c.Beta1 < 1) || !(c.Beta2 > 0 && c.Beta2 < 1):
		return nil, fmt.Errorf("optim: AdamW: betas (%g, %g) must be in (0, 1)", c.Beta1, c.Beta2)
	case !(c.Eps > 0):
		return nil, fmt.Errorf("optim: AdamW: eps %g must be > 0", c.Eps)
	case !(c.WeightDecay >= 0):
		return nil, fmt.Errorf("optim: AdamW: weight decay %g must be >= 0", c.WeightDecay)
	}
	n := len(params)
	o := &AdamW{base: bs, cfg: c, wd: make([]bool, n), m: make([]*tensor.Tensor, n), v: make([]*tensor.Tensor, n), paramStp: make([]int, n)}
	for i, p := range params {
		o.wd[i] = !(c.NoDecayBiasBN && isBiasOrNorm(p))
	}
	return o, nil
}

// Step updates every parameter with a gradient: one backend call per
// distinct per-parameter step count (one call when every parameter gets a
// gradient every step).
func (o *AdamW) Step() {
	idx := o.active()
	o.steps++
	groups := map[int][]int{}
	for _, i := range idx {
		if o.m[i] == nil {
			sh := o.params[i].V.Value.Shape()
			o.m[i], o.v[i] = o.b.Zeros(sh...), o.b.Zeros(sh...)
		}
		o.paramStp[i]++
		groups[o.paramStp[i]] = append(groups[o.paramStp[i]], i)
	}
	steps := make([]int, 0, len(groups))
	for s := range groups {
		steps = append(steps, s)
	}
	sort.Ints(steps)
	for _, s := range steps {
		g := groups[s]
		ps := make([]*tensor.Tensor, len(g))
		gs := make([]*tensor.Tensor, len(g))
		ms := make([]*tensor.Tensor, len(g))
		vs := make([]*tensor.Tensor, len(g))
		wd := make([]bool, len(g))
		for k, i := range g {
			v := o.params[i].V
			ps[k], gs[k], ms[k], vs[k], wd[k] = v.Value, v.Grad, o.m[i], o.v[i], o.wd[i]
		}
		kernels.AdamWStep(o.b, kernels.AdamWParams{
			LR: float32(o.lr), Beta1: float32(o.cfg.Beta1), Beta2: float32(o.cfg.Beta2),
			Eps: float32(o.cfg.Eps), WeightDecay: float32(o.cfg.WeightDecay), Step: s,
		}, ps, gs, ms, vs, wd)
	}
}

// State returns the step count and, per parameter that has taken a step,
// "exp_avg.<param>", "exp_avg_sq.<param>" and the scalar "step.<param>".
func (o *AdamW) State() []nn.NamedTensor {
	out := []nn.NamedTensor{o.stepState()}
	out = o.stateOf(out, "exp_avg", o.m)
	out = o.stateOf(out, "exp_avg_sq", o.v)
	for i, s := range o.paramStp {
		if o.m[i] != nil {
			out = append(out, nn.NamedTensor{Name: "step." + o.params[i].Name, DType: "I64", T: tensor.Full(float32(s))})
		}
	}
	return out
}

// LoadState restores the moments and step counts. A parameter's exp_avg,
// exp_avg_sq and step must be all present or all absent.
func (o *AdamW) LoadState(ts []nn.NamedTensor) error {
	l, err := o.parseState("AdamW", ts, []string{"exp_avg", "exp_avg_sq", "step"}, map[string]bool{"step": true})
	if err != nil {
		return err
	}
	m, v, s := l.bySlot["exp_avg"], l.bySlot["exp_avg_sq"], l.bySlot["step"]
	for i, p := range o.params {
		_, hm := m[i]
		_, hv := v[i]
		st, hs := s[i]
		if hm != hv || hm != hs {
			return fmt.Errorf("optim: AdamW state: parameter %q needs exp_avg, exp_avg_sq and step together", p.Name)
		}
		if hs && st.Contiguous().Data()[0] < 1 {
			return fmt.Errorf("optim: AdamW state: parameter %q has step %g, want >= 1", p.Name, st.Contiguous().Data()[0])
		}
	}
	o.steps = l.steps
	for i := range o.params {
		o.m[i], o.v[i], o.paramStp[i] = nil, nil, 0
		if t, ok := m[i]; ok {
			o.m[i], o.v[i] = l.device(t), l.device(v[i])
			o.paramStp[i] = int(s[i].Contiguous().Data()[0])
		}
	}
	return nil
}
