package ref

import (
	"math"
	"math/rand/v2"
	"testing"

	"hallucinator/kernels"
	"hallucinator/tensor"
)

// infoNCECase is one configuration of the contrastive loss.
type infoNCECase struct {
	name    string
	a, b, d int
	queue   int // queue rows, 0 for none
	same    bool
	p       kernels.InfoNCEParams
}

// infoNCECases builds the cases of the frameworks (MoCo with hallucinated
// queries, SimCLR's NT-Xent, SimCLR with hallucinated anchors and twins)
// and a random one.
func infoNCECases(rng *rand.Rand) []infoNCECase {
	const n = 5
	seq := func(m int, f func(i int) int32) []int32 {
		s := make([]int32, m)
		for i := range s {
			s[i] = f(i)
		}
		return s
	}
	var cs []infoNCECase
	cs = append(cs, infoNCECase{name: "moco", a: 2 * n, b: n, d: 16, queue: 13,
		p: kernels.InfoNCEParams{Temperature: 0.2, Pos: seq(2*n, func(i int) int32 { return int32(i % n) })}})
	cs = append(cs, infoNCECase{name: "ntxent", a: 2 * n, b: 2 * n, d: 16, same: true,
		p: kernels.InfoNCEParams{Temperature: 0.5, InBatchNegatives: true,
			Pos:  seq(2*n, func(i int) int32 { return int32((i + n) % (2 * n)) }),
			Self: seq(2*n, func(i int) int32 { return int32(i) })}})
	// Anchors [z1; z2; h], keys [z1; z2]: h_i's positive is z2_i and its
	// twin z1_i is no negative.
	cs = append(cs, infoNCECase{name: "twins", a: 3 * n, b: 2 * n, d: 16,
		p: kernels.InfoNCEParams{Temperature: 0.2, InBatchNegatives: true, Twins: true,
			Pos: seq(3*n, func(i int) int32 {
				if i >= n && i < 2*n {
					return int32(i - n)
				}
				return int32(n + i%n)
			}),
			Self: seq(3*n, func(i int) int32 {
				if i < 2*n {
					return int32(i)
				}
				return -1
			}),
			AnchorID: seq(3*n, func(i int) int32 { return int32(i % n) }),
			KeyID:    seq(2*n, func(i int) int32 { return int32(i % n) })}})
	cs = append(cs, infoNCECase{name: "random", a: 7, b: 11, d: 13, queue: 5,
		p: kernels.InfoNCEParams{Temperature: 0.3, InBatchNegatives: true, Twins: true,
			Pos:      seq(7, func(int) int32 { return int32(rng.IntN(11)) }),
			Self:     seq(7, func(int) int32 { return int32(rng.IntN(12) - 1) }),
			AnchorID: seq(7, func(int) int32 { return int32(rng.IntN(4)) }),
			KeyID:    seq(11, func(int) int32 { return int32(rng.IntN(4)) })}})
	cs = append(cs, infoNCECase{name: "tiny", a: 1, b: 1, d: 2, queue: 3,
		p: kernels.InfoNCEParams{Temperature: 0.1, Pos: []int32{0}}})
	return cs
}

// normalized returns the rows of x divided by their norms.
func normalized(b *Backend, x *tensor.Tensor) *tensor.Tensor {
	y := tensor.Zeros(x.Shape()...)
	b.L2NormalizeRows(NormEps, x, y, tensor.Zeros(x.Dim(0)))
	return y
}

// maskedLoss computes the loss through Gemm and SoftmaxCrossEntropy on the
// logits [A, B+Q] with excluded keys at -Inf.
func maskedLoss(b *Backend, tc infoNCECase, q, k, queue *tensor.Tensor) float64 {
	qn, kn := normalized(b, q), normalized(b, k)
	s := tensor.Zeros(tc.a, tc.b)
	b.Gemm(false, true, 1/tc.p.Temperature, qn, kn, 0, s)
	logits := tensor.Zeros(tc.a, tc.b+tc.queue)
	var sq *tensor.Tensor
	if queue != nil {
		sq = tensor.Zeros(tc.a, tc.queue)
		b.Gemm(false, true, 1/tc.p.Temperature, qn, queue, 0, sq)
	}
	for i := 0; i < tc.a; i++ {
		for j := 0; j < tc.b; j++ {
			keep := int(tc.p.Pos[i]) == j
			if !keep && tc.p.InBatchNegatives {
				keep = (tc.p.Self == nil || int(tc.p.Self[i]) != j) &&
					!(tc.p.Twins && tc.p.KeyID[j] == tc.p.AnchorID[i])
			}
			v := float32(math.Inf(-1))
			if keep {
				v = s.At(i, j)
			}
			logits.Set(v, i, j)
		}
		for r := 0; r < tc.queue; r++ {
			logits.Set(sq.At(i, r), i, tc.b+r)
		}
	}
	loss := tensor.Zeros(1)
	b.SoftmaxCrossEntropy(logits, tc.p.Pos, loss, nil)
	return float64(loss.Data()[0])
}

func TestInfoNCE(t *testing.T) {
	rng := tensor.NewRand(17)
	b := New()
	for _, tc := range infoNCECases(rng) {
		t.Run(tc.name, func(t *testing.T) {
			q := rnd(rng, tc.a, tc.d)
			k := q
			if !tc.same {
				k = rnd(rng, tc.b, tc.d)
			}
			var queue *tensor.Tensor
			if tc.queue > 0 {
				queue = normalized(b, rnd(rng, tc.queue, tc.d))
			}
			loss, dq, dk := garbage(1), garbage(tc.a, tc.d), garbage(tc.b, tc.d)
			b.InfoNCE(tc.p, q, k, queue, loss, dq, dk)
			want := maskedLoss(b, tc, q, k, queue)
			checkClose(t, "loss", loss.Data(), []float64{want}, 2e-6)
			// Gradients alone, and the loss without them.
			l2, dq2 := garbage(1), garbage(tc.a, tc.d)
			b.InfoNCE(tc.p, q, k, queue, l2, dq2, nil)
			checkClose(t, "dq alone", dq2.Data(), f64(dq.Data()), 0)
			b.InfoNCE(tc.p, q, k, queue, l2, nil, nil)
			checkClose(t, "loss alone", l2.Data(), f64(loss.Data()), 0)
			f := func() float64 {
				b.InfoNCE(tc.p, q, k, queue, l2, nil, nil)
				return float64(l2.Data()[0])
			}
			if tc.same {
				// One tensor: its gradient is dq + dk.
				sum := tensor.Zeros(tc.a, tc.d)
				b.Add(dq, dk, sum)
				gradCheck(t, "dq+dk", q.Data(), sum.Data(), f, 80, 5e-3, nil)
				return
			}
			gradCheck(t, "dq", q.Data(), dq.Data(), f, 80, 5e-3, nil)
			gradCheck(t, "dk", k.Data(), dk.Data(), f, 80, 5e-3, nil)
		})
	}
}

func TestInfoNCEPanics(t *testing.T) {
	b := New()
	q, k := tensor.Ones(2, 3), tensor.Ones(2, 3)
	for _, tc := range []struct {
		name string
		p    kernels.InfoNCEParams
	}{
		{"positive out of range", kernels.InfoNCEParams{Temperature: 1, Pos: []int32{0, 2}}},
		{"short positives", kernels.InfoNCEParams{Temperature: 1, Pos: []int32{0}}},
		{"zero temperature", kernels.InfoNCEParams{Pos: []int32{0, 1}}},
		{"twins without ids", kernels.InfoNCEParams{Temperature: 1, Pos: []int32{0, 1}, Twins: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if s, ok := recover().(string); !ok || s[:5] != "ref: " {
					t.Fatalf("want a ref: panic, got %v", s)
				}
			}()
			b.InfoNCE(tc.p, q, k, nil, tensor.Zeros(1), nil, nil)
		})
	}
}
