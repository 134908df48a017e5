package ssl

import (
	"math"
	"math/rand/v2"

	"hallucinator/autograd"
	"hallucinator/kernels"
	"hallucinator/nn"
	"hallucinator/tensor"
)

// BYOL (Grill et al. 2020): an online network (encoder, projector
// Linear-BN-ReLU-Linear, predictor of the same shape) predicts the
// projection of the other view by a target network, an exponential moving
// average of the online encoder and projector that gets no gradients. The
// loss is 2 - 2cos(p1, stopgrad(zt2)) + 2 - 2cos(p2, stopgrad(zt1)), each
// term the mean over the batch. The target's momentum rises from
// Config.Momentum to 1 on a cosine over the run (Tau), from the position the
// Trainer gives (SetProgress).
//
// With the Hallucinator BYOL does what SimSiam does, the other framework
// without negatives: each prediction p1, p2 is extrapolated away from the
// other view's prediction (one lambda each, one shared MLP), and [p; h] is
// compared with [zt; zt]. The Hallucinator's MLP is always trained with the
// encoder (there is no released BYOL code for Compat to follow; Compat does
// not change BYOL).
type BYOL struct {
	Cfg  Config
	Enc  *nn.ResNet
	Proj *nn.MLP
	Pred *nn.MLP
	// EncT and ProjT are the target network.
	EncT  *nn.ResNet
	ProjT *nn.MLP
	Hal   *Hallucinator
	b     kernels.Backend
	// step and total are the position of the step in flight (SetProgress).
	step, total int
	four        *autograd.Var // the constant of the loss
	lastStats   StepStats
	last        struct{ p1, zt2, h1 *autograd.Var }
}

func newBYOLHead(b kernels.Backend, rng *rand.Rand, in, hidden, out int) (*nn.MLP, error) {
	return nn.NewMLP(b, rng, nn.MLPConfig{In: in, Hidden: []int{hidden}, Out: out, HiddenBN: true})
}

// NewBYOL builds BYOL from c: projector and predictor have c.HiddenDim and
// c.PredHidden hidden units and c.ProjDim outputs; the target starts as a
// copy of the online encoder and projector.
func NewBYOL(b kernels.Backend, rng *rand.Rand, c Config) (*BYOL, error) {
	enc, err := newEncoder(b, rng, c)
	if err != nil {
		return nil, err
	}
	s := &BYOL{Cfg: c, Enc: enc, b: b}
	if s.Proj, err = newBYOLHead(b, rng, enc.FeatureDim(), c.HiddenDim, c.ProjDim); err != nil {
		return nil, err
	}
	if s.Pred, err = newBYOLHead(b, rng, c.ProjDim, c.PredHidden, c.ProjDim); err != nil {
		return nil, err
	}
	if c.Hallucinate {
		if s.Hal, err = NewHallucinator(b, rng, c.ProjDim); err != nil {
			return nil, err
		}
	}
	if s.EncT, err = newEncoder(b, rng, c); err != nil {
		return nil, err
	}
	if s.ProjT, err = newBYOLHead(b, rng, s.EncT.FeatureDim(), c.HiddenDim, c.ProjDim); err != nil {
		return nil, err
	}
	on := s.onlineParams()
	for i, p := range s.targetParams() {
		b.Copy(on[i].V.Value, p.V.Value)
		p.V.RequiresGrad = false
	}
	s.four = autograd.NewVar(b.FromHost(tensor.FromSlice([]float32{4}, 1)), false)
	return s, nil
}

// onlineParams are the online encoder and projector, in the order of
// targetParams.
func (s *BYOL) onlineParams() []nn.Param {
	return collect([]part{{"encoder", s.Enc}, {"projector", s.Proj}})
}

func (s *BYOL) targetParams() []nn.Param {
	return collect([]part{{"target_encoder", s.EncT}, {"target_projector", s.ProjT}})
}

// Name returns "byol".
func (s *BYOL) Name() string { return "byol" }

// Encoder returns the online encoder.
func (s *BYOL) Encoder() *nn.ResNet { return s.Enc }

// Backend returns the backend the parameters live on.
func (s *BYOL) Backend() kernels.Backend { return s.b }

// Forward embeds images with the online encoder.
func (s *BYOL) Forward(tp *autograd.Tape, x *autograd.Var) *autograd.Var {
	return s.Enc.Forward(tp, x)
}

// Params returns the trainable parameters: online encoder, projector,
// predictor and the Hallucinator.
func (s *BYOL) Params() []nn.Param {
	ps := collect([]part{{"encoder", s.Enc}, {"projector", s.Proj}, {"predictor", s.Pred}})
	if s.Hal != nil {
		ps = append(ps, prefixed("hallucinator", s.Hal.Params())...)
	}
	return ps
}

// MainParams returns Params.
func (s *BYOL) MainParams() []nn.Param { return s.Params() }

// FixedLRParams returns nil.
func (s *BYOL) FixedLRParams() []nn.Param { return nil }

// Buffers returns the batch-norm statistics of both networks and the
// target's weights.
func (s *BYOL) Buffers() []nn.Buffer {
	bs := prefixedBuffers("encoder", s.Enc.Buffers())
	bs = append(bs, prefixedBuffers("projector", s.Proj.Buffers())...)
	bs = append(bs, prefixedBuffers("predictor", s.Pred.Buffers())...)
	for _, p := range s.targetParams() {
		bs = append(bs, nn.Buffer{Name: p.Name, T: p.V.Value})
	}
	bs = append(bs, prefixedBuffers("target_encoder", s.EncT.Buffers())...)
	return append(bs, prefixedBuffers("target_projector", s.ProjT.Buffers())...)
}

// SetTraining switches batch norm of both networks.
func (s *BYOL) SetTraining(t bool) {
	s.Enc.SetTraining(t)
	s.Proj.SetTraining(t)
	s.Pred.SetTraining(t)
	s.EncT.SetTraining(t)
	s.ProjT.SetTraining(t)
}

// SetProgress says that the step in flight is step (from 0) of total.
func (s *BYOL) SetProgress(step, total int) { s.step, s.total = step, total }

// Tau returns the target momentum of the step in flight:
// 1 - (1-Momentum)(cos(pi k/K)+1)/2 at step k of K; Momentum when no
// position was given (SetProgress, total 0).
func (s *BYOL) Tau() float32 { return BYOLTau(s.Cfg.Momentum, s.step, s.total) }

// BYOLTau is BYOL's target momentum at step k of total: base at k = 0,
// rising to 1 at k = total on a cosine; base when total <= 0.
func BYOLTau(base float32, k, total int) float32 {
	if total <= 0 {
		return base
	}
	f := (math.Cos(math.Pi*float64(k)/float64(total)) + 1) / 2
	return float32(1 - (1-float64(base))*f)
}

// Loss records the symmetric BYOL loss.
func (s *BYOL) Loss(tp *autograd.Tape, v1, v2 *autograd.Var, rng *rand.Rand) *autograd.Var {
	n := v1.Shape()[0]
	x := tp.ConcatRows(v1, v2)
	p := s.Pred.Forward(tp, s.Proj.Forward(tp, s.Enc.Forward(tp, x)))
	var zt *autograd.Var
	tp.NoGrad(func() { zt = s.ProjT.Forward(tp, s.EncT.Forward(tp, x)) })
	p1, p2 := tp.Rows(p, 0, n), tp.Rows(p, n, 2*n)
	zt1, zt2 := tp.Rows(zt, 0, n), tp.Rows(zt, n, 2*n)
	s.last.p1, s.last.zt2, s.last.h1 = p1, zt2, nil
	s.lastStats = StepStats{}
	var a, b *autograd.Var
	if s.Hal == nil {
		a, b = negCosine(tp, p1, zt2), negCosine(tp, p2, zt1)
	} else {
		l1, l2 := SampleLambda(rng), SampleLambda(rng)
		h1 := s.Hal.Hallucinate(tp, p1, p2, l1)
		h2 := s.Hal.Hallucinate(tp, p2, p1, l2)
		s.last.h1 = h1
		s.lastStats.Lambda = l1
		a = negCosine(tp, tp.ConcatRows(p1, h1), tp.ConcatRows(zt2, zt2))
		b = negCosine(tp, tp.ConcatRows(p2, h2), tp.ConcatRows(zt1, zt1))
	}
	// (2 - 2cos_a) + (2 - 2cos_b) = 4 + 2(-cos_a - cos_b).
	return tp.Add(s.four, tp.Scale(2, tp.Add(a, b)))
}

// AfterStep moves the target towards the online encoder and projector with
// the step's momentum Tau.
func (s *BYOL) AfterStep() {
	tg, on := s.targetParams(), s.onlineParams()
	dst := make([]*tensor.Tensor, len(tg))
	src := make([]*tensor.Tensor, len(tg))
	for i := range tg {
		dst[i], src[i] = tg[i].V.Value, on[i].V.Value
	}
	kernels.EMA(s.b, s.Tau(), dst, src)
}

// Stats returns the last step's similarities of the online predictions to
// the other view's target projections.
func (s *BYOL) Stats() StepStats {
	st := s.lastStats
	if s.last.p1 == nil {
		return st
	}
	st.PosCos = MeanRowCosine(s.b, s.last.p1.Value, s.last.zt2.Value)
	if s.last.h1 != nil {
		st.HalCos = MeanRowCosine(s.b, s.last.h1.Value, s.last.zt2.Value)
	}
	return st
}
