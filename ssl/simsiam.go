package ssl

import (
	"math/rand/v2"

	"hallucinator/autograd"
	"hallucinator/kernels"
	"hallucinator/nn"
)

// SimSiam (Chen & He 2021): an encoder, a 3-layer projector and a 2-layer
// predictor; the loss is the negative cosine of each view's prediction
// against the stop-gradient projection of the other. With the Hallucinator,
// each prediction p1, p2 is extrapolated away from the other (one lambda
// each, one shared MLP) and [p; h] is compared with [z; z]. The
// Hallucinator's MLP is trained with the encoder unless Compat with FixPredLR
// (the released code leaves it out of the optimiser when the predictor lr is
// fixed).
type SimSiam struct {
	Cfg       Config
	Enc       *nn.ResNet
	Proj      *nn.MLP
	Pred      *nn.MLP
	Hal       *Hallucinator
	b         kernels.Backend
	lastStats StepStats
	last      struct{ p1, z2, h1 *autograd.Var }
}

// NewSimSiam builds SimSiam from c.
func NewSimSiam(b kernels.Backend, rng *rand.Rand, c Config) (*SimSiam, error) {
	enc, err := newEncoder(b, rng, c)
	if err != nil {
		return nil, err
	}
	s := &SimSiam{Cfg: c, Enc: enc, b: b}
	if s.Proj, err = nn.NewMLP(b, rng, nn.MLPConfig{In: enc.FeatureDim(), Hidden: []int{c.HiddenDim, c.HiddenDim}, Out: c.ProjDim,
		HiddenBN: true, LastBN: true, LastBNNoAffine: c.ProjLastBNNoAffine}); err != nil {
		return nil, err
	}
	if s.Pred, err = nn.NewMLP(b, rng, nn.MLPConfig{In: c.ProjDim, Hidden: []int{c.PredHidden}, Out: c.ProjDim, HiddenBN: true}); err != nil {
		return nil, err
	}
	if c.Hallucinate {
		if s.Hal, err = NewHallucinator(b, rng, c.ProjDim); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Name returns "simsiam".
func (s *SimSiam) Name() string { return "simsiam" }

// Encoder returns the backbone.
func (s *SimSiam) Encoder() *nn.ResNet { return s.Enc }

// Backend returns the backend the parameters live on.
func (s *SimSiam) Backend() kernels.Backend { return s.b }

// Forward embeds images with the encoder.
func (s *SimSiam) Forward(tp *autograd.Tape, x *autograd.Var) *autograd.Var {
	return s.Enc.Forward(tp, x)
}

// Params returns every parameter (the Hallucinator's included, also in
// Compat, so that checkpoints hold it).
func (s *SimSiam) Params() []nn.Param {
	ps := collect([]part{{"encoder", s.Enc}, {"projector", s.Proj}, {"predictor", s.Pred}})
	if s.Hal != nil {
		ps = append(ps, prefixed("hallucinator", s.Hal.Params())...)
	}
	return ps
}

// MainParams returns the parameters under the schedule: encoder and
// projector, the predictor unless FixPredLR, and the Hallucinator unless
// Compat with FixPredLR (the released optimiser then gets the encoder and the
// predictor only; without a fixed predictor lr it gets every parameter).
func (s *SimSiam) MainParams() []nn.Param {
	ps := collect([]part{{"encoder", s.Enc}, {"projector", s.Proj}})
	if !s.Cfg.FixPredLR {
		ps = append(ps, prefixed("predictor", s.Pred.Params())...)
	}
	if s.Hal != nil && !(s.Cfg.Compat && s.Cfg.FixPredLR) {
		ps = append(ps, prefixed("hallucinator", s.Hal.Params())...)
	}
	return ps
}

// FixedLRParams returns the predictor when FixPredLR.
func (s *SimSiam) FixedLRParams() []nn.Param {
	if !s.Cfg.FixPredLR {
		return nil
	}
	return prefixed("predictor", s.Pred.Params())
}

// Buffers returns the batch-norm statistics.
func (s *SimSiam) Buffers() []nn.Buffer {
	bs := prefixedBuffers("encoder", s.Enc.Buffers())
	bs = append(bs, prefixedBuffers("projector", s.Proj.Buffers())...)
	return append(bs, prefixedBuffers("predictor", s.Pred.Buffers())...)
}

// SetTraining switches batch norm between batch and running statistics.
func (s *SimSiam) SetTraining(t bool) {
	s.Enc.SetTraining(t)
	s.Proj.SetTraining(t)
	s.Pred.SetTraining(t)
}

// AfterStep does nothing for SimSiam.
func (s *SimSiam) AfterStep() {}

// negCosine is -mean_i cos(p_i, stopgrad(z_i)).
func negCosine(tp *autograd.Tape, p, z *autograd.Var) *autograd.Var {
	pn := tp.L2Normalize(p, 1e-12)
	zn := tp.L2Normalize(tp.Detach(z), 1e-12)
	return tp.Scale(-1, tp.Mean(tp.RowSum(tp.Mul(pn, zn))))
}

// Loss records the symmetric negative-cosine loss.
func (s *SimSiam) Loss(tp *autograd.Tape, v1, v2 *autograd.Var, rng *rand.Rand) *autograd.Var {
	n := v1.Shape()[0]
	z := s.Proj.Forward(tp, s.Enc.Forward(tp, tp.ConcatRows(v1, v2)))
	p := s.Pred.Forward(tp, z)
	z1, z2 := tp.Rows(z, 0, n), tp.Rows(z, n, 2*n)
	p1, p2 := tp.Rows(p, 0, n), tp.Rows(p, n, 2*n)
	s.last.p1, s.last.z2, s.last.h1 = p1, z2, nil
	s.lastStats = StepStats{}
	if s.Hal == nil {
		return tp.Scale(0.5, tp.Add(negCosine(tp, p1, z2), negCosine(tp, p2, z1)))
	}
	l1, l2 := SampleLambda(rng), SampleLambda(rng)
	h1 := s.Hal.Hallucinate(tp, p1, p2, l1)
	h2 := s.Hal.Hallucinate(tp, p2, p1, l2)
	s.last.h1 = h1
	s.lastStats.Lambda = l1
	a := negCosine(tp, tp.ConcatRows(p1, h1), tp.ConcatRows(z2, z2))
	b := negCosine(tp, tp.ConcatRows(p2, h2), tp.ConcatRows(z1, z1))
	return tp.Scale(0.5, tp.Add(a, b))
}

// Stats returns the last step's similarities of predictions to the other
// view's projections.
func (s *SimSiam) Stats() StepStats {
	st := s.lastStats
	if s.last.p1 == nil {
		return st
	}
	st.PosCos = MeanRowCosine(s.b, s.last.p1.Value, s.last.z2.Value)
	if s.last.h1 != nil {
		st.HalCos = MeanRowCosine(s.b, s.last.h1.Value, s.last.z2.Value)
	}
	return st
}
