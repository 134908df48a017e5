package nn

import (
	"fmt"
	"math/rand/v2"

	"hallucinator/kernels"
)

// MLPConfig describes a projection or prediction head: Linear layers of
// sizes In -> Hidden... -> Out with ReLU between them, as the SimCLR, MoCo
// v2 and SimSiam heads are built.
type MLPConfig struct {
	In     int
	Hidden []int // hidden widths; empty for a single Linear
	Out    int
	// HiddenBN puts a BatchNorm1d between each hidden Linear and its ReLU.
	HiddenBN bool
	// LastBN puts a BatchNorm1d after the last Linear (SimSiam's projector).
	LastBN bool
	// LastBNNoAffine makes that last BatchNorm1d affine=False.
	LastBNNoAffine bool
	// BiasBeforeBN keeps the bias of Linear layers followed by a batch norm
	// (which cancels it); by default they have none.
	BiasBeforeBN bool
}

// MLP is a head built from MLPConfig. Its children are named as in the
// equivalent torch.nn.Sequential (Linear, BatchNorm1d, ReLU, Linear, ...),
// so checkpoints match PyTorch's; a ReLU that follows a batch norm is fused
// into it but keeps its index.
type MLP struct {
	*Sequential
	Config MLPConfig
}

// NewMLP returns an MLP with PyTorch's default initialisation.
func NewMLP(b kernels.Backend, rng *rand.Rand, c MLPConfig) (*MLP, error) {
	if err := checkPositive("MLP", "input size", c.In); err != nil {
		return nil, err
	}
	if err := checkPositive("MLP", "output size", c.Out); err != nil {
		return nil, err
	}
	for i, h := range c.Hidden {
		if err := checkPositive("MLP", fmt.Sprintf("hidden size %d", i), h); err != nil {
			return nil, err
		}
	}
	c.Hidden = append([]int(nil), c.Hidden...)
	seq := &Sequential{}
	idx := 0
	add := func(m Module) {
		seq.Append(fmt.Sprint(idx), m)
		idx++
	}
	prev := c.In
	for _, h := range c.Hidden {
		lin, err := NewLinear(b, rng, prev, h, !c.HiddenBN || c.BiasBeforeBN)
		if err != nil {
			return nil, err
		}
		add(lin)
		if c.HiddenBN {
			bn, err := NewBatchNorm1d(b, h, BatchNormOptions{ReLU: true})
			if err != nil {
				return nil, err
			}
			add(bn)
			idx++ // the fused ReLU keeps its index
		} else {
			add(ReLU{})
		}
		prev = h
	}
	lin, err := NewLinear(b, rng, prev, c.Out, !c.LastBN || c.BiasBeforeBN)
	if err != nil {
		return nil, err
	}
	add(lin)
	if c.LastBN {
		bn, err := NewBatchNorm1d(b, c.Out, BatchNormOptions{NoAffine: c.LastBNNoAffine})
		if err != nil {
			return nil, err
		}
		add(bn)
	}
	return &MLP{Sequential: seq, Config: c}, nil
}
