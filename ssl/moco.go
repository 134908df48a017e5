package ssl

import (
	"fmt"
	"math/rand/v2"

	"hallucinator/autograd"
	"hallucinator/dist"
	"hallucinator/kernels"
	"hallucinator/nn"
	"hallucinator/tensor"
)

// MoCo (He et al. 2020; v2: Chen et al. 2020): a query encoder trained by
// InfoNCE against keys from a momentum (EMA) copy of it and a queue of past
// keys. v1 has a linear projection head, v2 an MLP head. With the
// Hallucinator, the queries q (before normalisation) are extrapolated away
// from their normalised keys; the anchors [q; h] share the positives and the
// queue. Each key is enqueued once (twice in Compat, as the released code).
// Batch norm shuffles as multi-device MoCo does (Config.ShuffleBN): both
// encoders normalise in groups, the keys encoded in a random order.
type MoCo struct {
	Cfg          Config
	EncQ, EncK   *nn.ResNet
	HeadQ, HeadK nn.Module
	Hal          *Hallucinator
	// Queue holds QueueSize normalised keys [K, ProjDim]; QueuePtr [1] the
	// next row to write.
	Queue, QueuePtr *tensor.Tensor
	b               kernels.Backend
	// comm, distributed: the ranks (moco_dist.go); keysAll the last step's
	// keys of every rank, for the queue.
	comm    dist.Comm
	keysAll *tensor.Tensor

	last struct {
		q, k, h *autograd.Var
		lambda  float32
		// pending says the keys of the last Loss are not enqueued yet.
		pending bool
	}
}

func newMoCoHead(b kernels.Backend, rng *rand.Rand, c Config, in int) (nn.Module, error) {
	if c.Framework == "mocov1" {
		return nn.NewLinear(b, rng, in, c.ProjDim, true)
	}
	return nn.NewMLP(b, rng, nn.MLPConfig{In: in, Hidden: []int{c.HiddenDim}, Out: c.ProjDim})
}

// NewMoCo builds MoCo v1 or v2 from c (c.Framework "mocov1" or "mocov2").
func NewMoCo(b kernels.Backend, rng *rand.Rand, c Config) (*MoCo, error) {
	if c.QueueSize <= 0 {
		return nil, fmt.Errorf("ssl: MoCo queue size %d, want > 0", c.QueueSize)
	}
	if !(c.Momentum >= 0 && c.Momentum < 1) {
		return nil, fmt.Errorf("ssl: MoCo momentum %v, want in [0, 1)", c.Momentum)
	}
	m := &MoCo{Cfg: c, b: b}
	var err error
	if m.EncQ, err = newEncoder(b, rng, c); err != nil {
		return nil, err
	}
	if m.HeadQ, err = newMoCoHead(b, rng, c, m.EncQ.FeatureDim()); err != nil {
		return nil, err
	}
	if m.EncK, err = newEncoder(b, rng, c); err != nil {
		return nil, err
	}
	if m.HeadK, err = newMoCoHead(b, rng, c, m.EncK.FeatureDim()); err != nil {
		return nil, err
	}
	// The key encoder starts as a copy of the query encoder and is never
	// trained by gradients.
	for i, p := range m.keyParams() {
		q := m.queryParams()[i]
		b.Copy(q.V.Value, p.V.Value)
		p.V.RequiresGrad = false
	}
	if c.Hallucinate {
		if m.Hal, err = NewHallucinator(b, rng, c.ProjDim); err != nil {
			return nil, err
		}
	}
	if c.ShuffleBN > 1 {
		m.EncQ.SetBNGroups(c.ShuffleBN)
		m.EncK.SetBNGroups(c.ShuffleBN)
	}
	// A queue of random unit vectors, as the reference implementation.
	q := tensor.RandN(rng, 0, 1, c.QueueSize, c.ProjDim)
	m.Queue = b.Zeros(c.QueueSize, c.ProjDim)
	norms := b.Zeros(c.QueueSize)
	b.L2NormalizeRows(1e-12, b.FromHost(q), m.Queue, norms)
	m.QueuePtr = b.Zeros(1)
	return m, nil
}

func (m *MoCo) queryParams() []nn.Param {
	return append(prefixed("encoder_q", m.EncQ.Params()), prefixed("head_q", m.HeadQ.Params())...)
}

func (m *MoCo) keyParams() []nn.Param {
	return append(prefixed("encoder_k", m.EncK.Params()), prefixed("head_k", m.HeadK.Params())...)
}

// Name returns "mocov1" or "mocov2".
func (m *MoCo) Name() string { return m.Cfg.Framework }

// Encoder returns the query encoder.
func (m *MoCo) Encoder() *nn.ResNet { return m.EncQ }

// Backend returns the backend the parameters live on.
func (m *MoCo) Backend() kernels.Backend { return m.b }

// Forward embeds images with the query encoder.
func (m *MoCo) Forward(tp *autograd.Tape, x *autograd.Var) *autograd.Var {
	return m.EncQ.Forward(tp, x)
}

// Params returns the trainable parameters: query encoder, head, Hallucinator.
func (m *MoCo) Params() []nn.Param {
	ps := m.queryParams()
	if m.Hal != nil {
		ps = append(ps, prefixed("hallucinator", m.Hal.Params())...)
	}
	return ps
}

// MainParams returns Params.
func (m *MoCo) MainParams() []nn.Param { return m.Params() }

// FixedLRParams returns nil.
func (m *MoCo) FixedLRParams() []nn.Param { return nil }

// Buffers returns the batch-norm statistics of both encoders, the key
// encoder's weights, the queue and its pointer.
func (m *MoCo) Buffers() []nn.Buffer {
	bs := append(prefixedBuffers("encoder_q", m.EncQ.Buffers()), prefixedBuffers("head_q", m.HeadQ.Buffers())...)
	for _, p := range m.keyParams() {
		bs = append(bs, nn.Buffer{Name: p.Name, T: p.V.Value})
	}
	bs = append(bs, prefixedBuffers("encoder_k", m.EncK.Buffers())...)
	bs = append(bs, prefixedBuffers("head_k", m.HeadK.Buffers())...)
	return append(bs, nn.Buffer{Name: "queue", T: m.Queue}, nn.Buffer{Name: "queue_ptr", T: m.QueuePtr})
}

// SetTraining switches batch norm of both encoders.
func (m *MoCo) SetTraining(t bool) {
	m.EncQ.SetTraining(t)
	m.HeadQ.SetTraining(t)
	m.EncK.SetTraining(t)
	m.HeadK.SetTraining(t)
}

// Loss records InfoNCE of the queries of v1 against the keys of v2 and the
// queue.
func (m *MoCo) Loss(tp *autograd.Tape, v1, v2 *autograd.Var, rng *rand.Rand) *autograd.Var {
	n := v1.Shape()[0]
	q := m.HeadQ.Forward(tp, m.EncQ.Forward(tp, v1))
	var k *autograd.Var
	tp.NoGrad(func() {
		if m.comm != nil {
			k, m.keysAll = m.distKeys(tp, v2, rng)
			return
		}
		if g := m.Cfg.ShuffleBN; g > 1 && m.EncK.BN1.Training {
			if n%g != 0 {
				panic(fmt.Sprintf("ssl: MoCo batch of %d images in %d shuffling batch-norm groups", n, g))
			}
			// Shuffling BN: encode the keys in a random order (and so in
			// other groups than their queries), then restore the order.
			perm := rng.Perm(n)
			ks := m.HeadK.Forward(tp, m.EncK.Forward(tp, autograd.NewVar(permuteRows(m.b, v2.Value, perm, false), false)))
			k = tp.L2Normalize(autograd.NewVar(permuteRows(m.b, ks.Value, perm, true), false), 1e-12)
			return
		}
		k = tp.L2Normalize(m.HeadK.Forward(tp, m.EncK.Forward(tp, v2)), 1e-12)
	})
	m.last.q, m.last.k, m.last.h, m.last.lambda, m.last.pending = q, k, nil, 0, true
	p := kernels.InfoNCEParams{Temperature: m.Cfg.Temperature}
	anchors := q
	if m.Hal != nil {
		lambda := SampleLambda(rng)
		h := m.Hal.Hallucinate(tp, q, k, lambda)
		m.last.h, m.last.lambda = h, lambda
		anchors = tp.ConcatRows(q, h)
	}
	p.Pos = rowIndex(anchors.Shape()[0], n)
	return tp.InfoNCE(anchors, k, m.Queue, p)
}

// checkBatch says whether n images make a batch MoCo can train on.
func (m *MoCo) checkBatch(n int) error {
	if g := m.Cfg.ShuffleBN; g > 1 && n%g != 0 {
		return fmt.Errorf("ssl: MoCo's shuffling batch norm splits a batch in %d groups; batch size %d is not a multiple of it", g, n)
	}
	return nil
}

// permuteRows returns a new tensor whose row i is row perm[i] of x, or with
// inverse, whose row perm[i] is row i of x: one gather of rows.
func permuteRows(b kernels.Backend, x *tensor.Tensor, perm []int, inverse bool) *tensor.Tensor {
	idx := make([]int32, len(perm))
	for i, p := range perm {
		if inverse {
			idx[p] = int32(i)
		} else {
			idx[i] = int32(p)
		}
	}
	y := b.Zeros(x.Shape()...)
	b.GatherRows(x, idx, y)
	return y
}

// AfterStep moves the key encoder towards the query encoder and enqueues
// the step's keys.
func (m *MoCo) AfterStep() {
	kp, qp := m.keyParams(), m.queryParams()
	dst := make([]*tensor.Tensor, len(kp))
	src := make([]*tensor.Tensor, len(kp))
	for i := range kp {
		dst[i], src[i] = kp[i].V.Value, qp[i].V.Value
	}
	kernels.EMA(m.b, m.Cfg.Momentum, dst, src)
	if m.comm != nil && m.Cfg.ShuffleBN > 1 {
		m.averageBNStats()
	}
	if !m.last.pending {
		return
	}
	keys := m.last.k.Value
	if m.comm != nil {
		keys = m.keysAll
	}
	m.enqueue(keys)
	if m.Cfg.Compat && m.Hal != nil {
		m.enqueue(keys) // the released code pushes [k; k]
	}
	m.last.pending = false
}

// enqueue writes keys into the ring buffer at QueuePtr, wrapping around.
func (m *MoCo) enqueue(k *tensor.Tensor) {
	size := m.Queue.Dim(0)
	ptr := int(m.b.ToHost(m.QueuePtr).Data()[0])
	for lo := 0; lo < k.Dim(0); {
		n := min(k.Dim(0)-lo, size-ptr)
		m.b.Copy(k.Rows(lo, lo+n), m.Queue.Rows(ptr, ptr+n))
		lo += n
		ptr = (ptr + n) % size
	}
	m.b.Fill(float32(ptr), m.QueuePtr)
}

// Stats returns the last step's positive-pair similarities.
func (m *MoCo) Stats() StepStats {
	st := StepStats{Lambda: m.last.lambda}
	if m.last.q == nil || m.last.k == nil {
		return st
	}
	st.PosCos = MeanRowCosine(m.b, m.last.q.Value, m.last.k.Value)
	if m.last.h != nil {
		st.HalCos = MeanRowCosine(m.b, m.last.h.Value, m.last.k.Value)
	}
	return st
}
