package ssl

import (
	"math/rand/v2"

	"hallucinator/autograd"
	"hallucinator/dist"
	"hallucinator/kernels"
	"hallucinator/nn"
)

// SimCLR (Chen et al. 2020): both views through one encoder and an MLP
// projection head, NT-Xent over the 2N projections. With the Hallucinator,
// the view-1 projections z1 are extrapolated away from z2 and smoothed; the
// anchors become [z1; h] against positives [z2; z2], every row of the 4N is
// an anchor, and (unless Compat) an image's twin rows are masked out of its
// negatives.
type SimCLR struct {
	Cfg  Config
	Enc  *nn.ResNet
	Proj *nn.MLP
	Hal  *Hallucinator // nil when off
	b    kernels.Backend
	comm dist.Comm // distributed: negatives from every rank (see ntXent)

	last struct {
		z1, z2, h *autograd.Var
		lambda    float32
	}
}

// NewSimCLR builds SimCLR from c.
func NewSimCLR(b kernels.Backend, rng *rand.Rand, c Config) (*SimCLR, error) {
	enc, err := newEncoder(b, rng, c)
	if err != nil {
		return nil, err
	}
	proj, err := nn.NewMLP(b, rng, nn.MLPConfig{In: enc.FeatureDim(), Hidden: []int{c.HiddenDim}, Out: c.ProjDim, HiddenBN: !c.ProjNoBN})
	if err != nil {
		return nil, err
	}
	s := &SimCLR{Cfg: c, Enc: enc, Proj: proj, b: b}
	if c.Hallucinate {
		if s.Hal, err = NewHallucinator(b, rng, c.ProjDim); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Name returns "simclr".
func (s *SimCLR) Name() string { return "simclr" }

// Encoder returns the backbone.
func (s *SimCLR) Encoder() *nn.ResNet { return s.Enc }

// Backend returns the backend the parameters live on.
func (s *SimCLR) Backend() kernels.Backend { return s.b }

// Forward embeds images with the encoder.
func (s *SimCLR) Forward(tp *autograd.Tape, x *autograd.Var) *autograd.Var {
	return s.Enc.Forward(tp, x)
}

func (s *SimCLR) parts() []part {
	ps := []part{{"encoder", s.Enc}, {"projector", s.Proj}}
	if s.Hal != nil {
		ps = append(ps, part{"hallucinator", s.Hal})
	}
	return ps
}

// Params returns every trainable parameter.
func (s *SimCLR) Params() []nn.Param { return collect(s.parts()) }

// MainParams returns every trainable parameter.
func (s *SimCLR) MainParams() []nn.Param { return s.Params() }

// FixedLRParams returns nil.
func (s *SimCLR) FixedLRParams() []nn.Param { return nil }

// Buffers returns the batch-norm statistics.
func (s *SimCLR) Buffers() []nn.Buffer {
	return append(prefixedBuffers("encoder", s.Enc.Buffers()), prefixedBuffers("projector", s.Proj.Buffers())...)
}

// SetTraining switches batch norm between batch and running statistics.
func (s *SimCLR) SetTraining(t bool) { s.Enc.SetTraining(t); s.Proj.SetTraining(t) }

// AfterStep does nothing for SimCLR.
func (s *SimCLR) AfterStep() {}

// Loss records NT-Xent (with the hallucinated anchors when on).
func (s *SimCLR) Loss(tp *autograd.Tape, v1, v2 *autograd.Var, rng *rand.Rand) *autograd.Var {
	n := v1.Shape()[0]
	z := s.Proj.Forward(tp, s.Enc.Forward(tp, tp.ConcatRows(v1, v2)))
	z1, z2 := tp.Rows(z, 0, n), tp.Rows(z, n, 2*n)
	s.last.z1, s.last.z2, s.last.h, s.last.lambda = z1, z2, nil, 0
	if s.Hal == nil {
		return s.scaled(tp, ntXent(tp, s.comm, z, s.Cfg.Temperature, n, 2, false))
	}
	lambda := SampleLambda(rng)
	h := s.Hal.Hallucinate(tp, z1, z2, lambda)
	s.last.h, s.last.lambda = h, lambda
	all := tp.ConcatRows(z1, h, z2, z2)
	return s.scaled(tp, ntXent(tp, s.comm, all, s.Cfg.Temperature, n, 4, !s.Cfg.Compat))
}

// scaled multiplies the loss by Cfg.LossScale when it is set.
func (s *SimCLR) scaled(tp *autograd.Tape, loss *autograd.Var) *autograd.Var {
	if s.Cfg.LossScale == 0 || s.Cfg.LossScale == 1 {
		return loss
	}
	return tp.Scale(s.Cfg.LossScale, loss)
}

// ntXentParams describes NT-Xent over rows made of `blocks` blocks of n rows
// (one row per image in each): the first half of the blocks are anchors whose
// positives are the same rows of the second half, and the other way round.
// Every row is an anchor; all other rows are negatives except the row itself
// and, with twins, the other rows of the same image.
func ntXentParams(t float32, n, blocks int, twins bool) kernels.InfoNCEParams {
	rows := n * blocks
	half := rows / 2
	p := kernels.InfoNCEParams{Temperature: t, InBatchNegatives: true, Twins: twins,
		Pos: make([]int32, rows), Self: make([]int32, rows)}
	for i := 0; i < rows; i++ {
		p.Pos[i] = int32((i + half) % rows)
		p.Self[i] = int32(i)
	}
	if twins {
		p.AnchorID = rowIndex(rows, n)
		p.KeyID = p.AnchorID
	}
	return p
}

// Stats returns the last step's positive-pair similarities.
func (s *SimCLR) Stats() StepStats {
	st := StepStats{Lambda: s.last.lambda}
	if s.last.z1 == nil {
		return st
	}
	st.PosCos = MeanRowCosine(s.b, s.last.z1.Value, s.last.z2.Value)
	if s.last.h != nil {
		st.HalCos = MeanRowCosine(s.b, s.last.h.Value, s.last.z2.Value)
	}
	return st
}
