// Package optim holds the optimisers that update nn parameters from their
// gradients (SGD with momentum and Nesterov, LARS, AdamW), each one backend
// call over all parameters per step, and learning-rate schedules (warm-up
// with cosine decay, step decay, constant). Optimiser state exports as named
// tensors for safetensors checkpoints, so a run resumes exactly.
package optim

import (
	"fmt"
	"strings"

	"hallucinator/autograd"
	"hallucinator/kernels"
	"hallucinator/nn"
	"hallucinator/tensor"
)

// Optimizer updates a fixed list of parameters from their gradients.
type Optimizer interface {
	// Step updates every parameter that has a gradient since the last
	// ZeroGrad; parameters without one are left alone (and their state
	// does not advance).
	Step()
	// LR returns the learning rate the next Step uses.
	LR() float64
	// SetLR sets the learning rate (a schedule calls it before each Step).
	SetLR(lr float64)
	// ZeroGrad clears the gradients of the parameters.
	ZeroGrad()
	// Params returns the parameters, in order.
	Params() []nn.Param
	// State returns host copies of the optimiser's state, named after the
	// parameters, for checkpoints.
	State() []nn.NamedTensor
	// LoadState restores state written by State. Unknown names, shape
	// mismatches and non-finite values are errors, and then nothing is
	// changed.
	LoadState(ts []nn.NamedTensor) error
}

// base holds what every optimiser shares.
type base struct {
	b      kernels.Backend
	params []nn.Param
	index  map[string]int
	lr     float64
	steps  int // number of Step calls
}

func newBase(op string, b kernels.Backend, params []nn.Param, lr float64) (base, error) {
	if b == nil {
		return base{}, fmt.Errorf("optim: %s: nil backend", op)
	}
	if !(lr >= 0) {
		return base{}, fmt.Errorf("optim: %s: learning rate %g must be >= 0", op, lr)
	}
	idx := make(map[string]int, len(params))
	seen := make(map[*autograd.Var]string, len(params))
	for i, p := range params {
		if p.V == nil || p.V.Value == nil {
			return base{}, fmt.Errorf("optim: %s: parameter %d (%q) is nil", op, i, p.Name)
		}
		if p.Name == "" || strings.ContainsAny(p.Name, " ") {
			return base{}, fmt.Errorf("optim: %s: parameter %d has a bad name %q", op, i, p.Name)
		}
		if _, dup := idx[p.Name]; dup {
			return base{}, fmt.Errorf("optim: %s: two parameters named %q", op, p.Name)
		}
		if other, dup := seen[p.V]; dup {
			return base{}, fmt.Errorf("optim: %s: parameter %q is the same Var as %q", op, p.Name, other)
		}
		idx[p.Name] = i
		seen[p.V] = p.Name
	}
	return base{b: b, params: append([]nn.Param(nil), params...), index: idx, lr: lr}, nil
}

// LR returns the learning rate of the next step.
func (o *base) LR() float64 { return o.lr }

// SetLR sets the learning rate of the next steps.
func (o *base) SetLR(lr float64) { o.lr = lr }

// ZeroGrad clears the gradients of the parameters.
func (o *base) ZeroGrad() { autograd.ZeroGrad(nn.Vars(o.params)) }

// Params returns the parameters.
func (o *base) Params() []nn.Param { return o.params }

// Steps returns the number of Step calls made (or restored by LoadState).
func (o *base) Steps() int { return o.steps }

// active returns the indices of the parameters that have a gradient.
func (o *base) active() []int {
	var idx []int
	for i, p := range o.params {
		if p.V.HasGrad() {
			idx = append(idx, i)
		}
	}
	return idx
}

// isBiasOrNorm reports whether a parameter is one-dimensional: a bias or a
// batch-norm scale or shift, which are usually kept out of weight decay.
func isBiasOrNorm(p nn.Param) bool { return p.V.Value.Dims() <= 1 }

// stepName names the scalar count of Step calls in State.
const stepName = "step"

func (o *base) stepState() nn.NamedTensor {
	return nn.NamedTensor{Name: stepName, DType: "I64", T: tensor.Full(float32(o.steps))}
}

// stateLoader validates named state tensors against the parameters before
// anything is changed.
type stateLoader struct {
	o      *base
	steps  int
	bySlot map[string]map[int]*tensor.Tensor // slot prefix -> param index -> host tensor
}

// parse checks every tensor: "step" or "<slot>.<param name>" with slot in
// slots (with scalar[slot] true, a one-element tensor; else the shape of
// the parameter).
func (o *base) parseState(op string, ts []nn.NamedTensor, slots []string, scalar map[string]bool) (*stateLoader, error) {
	if err := nn.CheckFinite(ts); err != nil {
		return nil, fmt.Errorf("optim: %s state: %w", op, err)
	}
	l := &stateLoader{o: o, steps: o.steps, bySlot: map[string]map[int]*tensor.Tensor{}}
	for _, s := range slots {
		l.bySlot[s] = map[int]*tensor.Tensor{}
	}
	for _, nt := range ts {
		if nt.Name == stepName {
			if nt.T.Numel() != 1 {
				return nil, fmt.Errorf("optim: %s state: %q has shape %v, want a scalar", op, nt.Name, nt.T.Shape())
			}
			l.steps = int(nt.T.Contiguous().Data()[0])
			continue
		}
		slot, pname, ok := strings.Cut(nt.Name, ".")
		m, known := l.bySlot[slot]
		if !ok || !known {
			return nil, fmt.Errorf("optim: %s state: unexpected tensor %q", op, nt.Name)
		}
		i, ok := o.index[pname]
		if !ok {
			return nil, fmt.Errorf("optim: %s state: tensor %q names no parameter", op, nt.Name)
		}
		want := o.params[i].V.Value.Shape()
		if scalar[slot] {
			if nt.T.Numel() != 1 {
				return nil, fmt.Errorf("optim: %s state: %q has shape %v, want a scalar", op, nt.Name, nt.T.Shape())
			}
		} else if !tensor.EqualShape(nt.T.Shape(), want) {
			return nil, fmt.Errorf("optim: %s state: %q has shape %v, want %v", op, nt.Name, nt.T.Shape(), want)
		}
		m[i] = nt.T
	}
	return l, nil
}

// device returns a copy on the optimiser's backend of a host tensor.
func (l *stateLoader) device(t *tensor.Tensor) *tensor.Tensor {
	return l.o.b.FromHost(t.Contiguous())
}

// stateOf appends host copies of the non-nil buffers as "<slot>.<name>".
func (o *base) stateOf(out []nn.NamedTensor, slot string, bufs []*tensor.Tensor) []nn.NamedTensor {
	for i, t := range bufs {
		if t != nil {
			out = append(out, nn.NamedTensor{Name: slot + "." + o.params[i].Name, T: o.b.ToHost(t)})
		}
	}
	return out
}

// loadMomentum restores the step count and the momentum buffers of an
// optimiser whose only state is "momentum_buffer" (SGD, LARS); a parameter
// without a saved buffer starts from none.
func (o *base) loadMomentum(op string, ts []nn.NamedTensor, bufs []*tensor.Tensor) error {
	l, err := o.parseState(op, ts, []string{"momentum_buffer"}, nil)
	if err != nil {
		return err
	}
	o.steps = l.steps
	for i := range bufs {
		bufs[i] = nil
		if t, ok := l.bySlot["momentum_buffer"][i]; ok {
			bufs[i] = l.device(t)
		}
	}
	return nil
}
