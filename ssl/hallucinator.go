package ssl

import (
	"fmt"
	"math/rand/v2"

	"hallucinator/autograd"
	"hallucinator/kernels"
	"hallucinator/nn"
)

// LambdaMax is the upper end of the extrapolation strength: lambda ~ U(0,
// LambdaMax), one draw per training step.
const LambdaMax = 0.1

// Hallucinator makes an extra, harder positive in feature space: the
// asymmetric extrapolation xt = x + lambda*(x - k) of an anchor feature x
// away from its positive k, smoothed by a learned MLP on [x, xt]:
// Linear(2d, 2d) -> ReLU -> Linear(2d, 2d) -> ReLU -> Linear(2d, d). Its
// state names follow the equivalent torch.nn.Sequential ("0", "2", "4").
type Hallucinator struct {
	Dim        int
	L1, L2, L3 *nn.Linear
	b          kernels.Backend
}

// NewHallucinator returns a Hallucinator for d-dimensional features with
// PyTorch's default Linear initialisation.
func NewHallucinator(b kernels.Backend, rng *rand.Rand, d int) (*Hallucinator, error) {
	if d <= 0 {
		return nil, fmt.Errorf("ssl: hallucinator feature size %d, want > 0", d)
	}
	h := &Hallucinator{Dim: d, b: b}
	var err error
	if h.L1, err = nn.NewLinear(b, rng, 2*d, 2*d, true); err != nil {
		return nil, err
	}
	if h.L2, err = nn.NewLinear(b, rng, 2*d, 2*d, true); err != nil {
		return nil, err
	}
	if h.L3, err = nn.NewLinear(b, rng, 2*d, d, true); err != nil {
		return nil, err
	}
	return h, nil
}

// Hallucinate returns the hallucinated features [N, d] of anchors x away
// from their positives k, both [N, d], with extrapolation strength lambda.
// Gradients flow to x, to k when it requires one, and to the MLP.
func (h *Hallucinator) Hallucinate(tp *autograd.Tape, x, k *autograd.Var, lambda float32) *autograd.Var {
	return tp.Hallucinate(x, k, h.L1.Weight, h.L1.Bias, h.L2.Weight, h.L2.Bias, h.L3.Weight, h.L3.Bias, lambda)
}

// Params returns the MLP's parameters named "0.weight" ... "4.bias".
func (h *Hallucinator) Params() []nn.Param {
	var ps []nn.Param
	for i, l := range []*nn.Linear{h.L1, h.L2, h.L3} {
		ps = append(ps,
			nn.Param{Name: fmt.Sprintf("%d.weight", 2*i), V: l.Weight},
			nn.Param{Name: fmt.Sprintf("%d.bias", 2*i), V: l.Bias})
	}
	return ps
}

// SampleLambda draws the step's extrapolation strength, U(0, LambdaMax).
func SampleLambda(rng *rand.Rand) float32 { return LambdaMax * rng.Float32() }
