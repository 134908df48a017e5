package nn

import (
	"fmt"
	"math/rand/v2"

	"hallucinator/autograd"
	"hallucinator/kernels"
)

// Linear is y = x W^T + b with W [Out, In] (PyTorch's layout) and an
// optional bias [Out]. State names: "weight", "bias".
type Linear struct {
	In, Out int
	Weight  *autograd.Var
	Bias    *autograd.Var // nil without bias
	b       kernels.Backend
}

// NewLinear returns a Linear layer initialised as torch.nn.Linear:
// weight and bias uniform in +-1/sqrt(in).
func NewLinear(b kernels.Backend, rng *rand.Rand, in, out int, bias bool) (*Linear, error) {
	if err := checkPositive("Linear", "in features", in); err != nil {
		return nil, err
	}
	if err := checkPositive("Linear", "out features", out); err != nil {
		return nil, err
	}
	l := &Linear{In: in, Out: out, b: b}
	l.Weight = newParam(b, "weight", kaimingUniform(rng, in, out, in))
	if bias {
		l.Bias = newParam(b, "bias", kaimingUniform(rng, in, out))
	}
	return l, nil
}

// Forward maps x [N, In] to [N, Out].
func (l *Linear) Forward(tp *autograd.Tape, x *autograd.Var) *autograd.Var {
	if s := x.Shape(); len(s) != 2 || s[1] != l.In {
		panic(fmt.Sprintf("nn: Linear(%d, %d) applied to an input of shape %v", l.In, l.Out, s))
	}
	return tp.Linear(x, l.Weight, l.Bias)
}

// Params returns weight and, when present, bias.
func (l *Linear) Params() []Param {
	ps := []Param{{Name: "weight", V: l.Weight}}
	if l.Bias != nil {
		ps = append(ps, Param{Name: "bias", V: l.Bias})
	}
	return ps
}

// Buffers returns nothing: Linear has no buffers.
func (l *Linear) Buffers() []Buffer { return nil }

// SetTraining does nothing: Linear behaves the same in both modes.
func (l *Linear) SetTraining(bool) {}

// Backend returns the backend the parameters live on.
func (l *Linear) Backend() kernels.Backend { return l.b }
