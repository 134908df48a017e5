package conformance

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"hallucinator/kernels"
	"hallucinator/tensor"
)

// l2Shapes are the [M, N] inputs of the row normalisation.
var l2Shapes = [][2]int{{1, 1}, {7, 13}, {3, 1031}, {256, 128}, {128, 2048}}

// l2Input returns x [m, n] whose last row (when m > 1) is so small that its
// norm is clamped to eps.
func l2Input(c *kcase, m, n int, eps float32) *tensor.Tensor {
	x := RandTensor(c.rng, m, n)
	if m > 1 {
		row := x.Data()[(m-1)*n:]
		for j := range row {
			row[j] *= eps / float32(4*n)
		}
	}
	return x
}

const l2Eps = 1e-6

// l2norm checks L2NormalizeRows.
func (s *suite) l2norm(t *testing.T) {
	for _, sh := range l2Shapes {
		s.run(t, fmt.Sprintf("M=%d,N=%d", sh[0], sh[1]), func(c *kcase) {
			x := c.inT("x", l2Input(c, sh[0], sh[1], l2Eps))
			y, norms := c.out("y", sh[0], sh[1]), c.out("norms", sh[0])
			norms.tol(longSum(sh[1]))
			s.ref.L2NormalizeRows(l2Eps, x.ref, y.ref, norms.ref)
			s.b.L2NormalizeRows(l2Eps, x.dev, y.dev, norms.dev)
		})
	}
}

// l2normBackward checks L2NormalizeRowsBackward on the reference forward.
func (s *suite) l2normBackward(t *testing.T) {
	for _, sh := range l2Shapes {
		s.run(t, fmt.Sprintf("M=%d,N=%d", sh[0], sh[1]), func(c *kcase) {
			m, n := sh[0], sh[1]
			yh, nh := tensor.Zeros(m, n), tensor.Zeros(m)
			s.ref.L2NormalizeRows(l2Eps, l2Input(c, m, n, l2Eps), yh, nh)
			y, norms := c.inT("y", yh), c.inT("norms", nh)
			dy, dx := c.in("dy", m, n), c.out("dx", m, n).tol(longSum(n))
			s.ref.L2NormalizeRowsBackward(l2Eps, y.ref, norms.ref, dy.ref, dx.ref)
			s.b.L2NormalizeRowsBackward(l2Eps, y.dev, norms.dev, dy.dev, dx.dev)
		})
	}
}

// softmaxCE checks SoftmaxCrossEntropy with and without the gradient.
func (s *suite) softmaxCE(t *testing.T) {
	for _, tc := range []struct {
		n, c  int
		scale float32
	}{{1, 1, 1}, {1, 7, 1}, {7, 13, 3}, {256, 10, 5}, {256, 1000, 20}, {67, 2, 50}} {
		for _, grad := range []bool{true, false} {
			s.run(t, fmt.Sprintf("N=%d,C=%d,scale=%g,grad=%v", tc.n, tc.c, tc.scale, grad), func(c *kcase) {
				lh := RandTensor(c.rng, tc.n, tc.c)
				for i := range lh.Data() {
					lh.Data()[i] *= tc.scale
				}
				labels := make([]int32, tc.n)
				for i := range labels {
					labels[i] = int32(c.rng.IntN(tc.c))
				}
				logits, loss := c.inT("logits", lh), c.out("loss", 1).tol(longSum(tc.n))
				if !grad {
					s.ref.SoftmaxCrossEntropy(logits.ref, labels, loss.ref, nil)
					s.b.SoftmaxCrossEntropy(logits.dev, labels, loss.dev, nil)
					return
				}
				dl := c.out("dlogits", tc.n, tc.c).tol(longSum(tc.c))
				s.ref.SoftmaxCrossEntropy(logits.ref, labels, loss.ref, dl.ref)
				s.b.SoftmaxCrossEntropy(logits.dev, labels, loss.dev, dl.dev)
			})
		}
	}
}

// nceCase is one configuration of InfoNCE: a anchors, b keys (the same
// tensor as the anchors when same), d features, queue rows.
type nceCase struct {
	name           string
	a, b, d, queue int
	same           bool
	p              kernels.InfoNCEParams
}

func seq(n int, f func(i int) int32) []int32 {
	s := make([]int32, n)
	for i := range s {
		s[i] = f(i)
	}
	return s
}

// mocoCase: 2N queries (the second half hallucinated) against N keys, with a
// queue and no in-batch negatives.
func mocoCase(n, d, queue int, temp float32) nceCase {
	return nceCase{name: fmt.Sprintf("moco/N=%d,D=%d,Q=%d", n, d, queue), a: 2 * n, b: n, d: d, queue: queue,
		p: kernels.InfoNCEParams{Temperature: temp, Pos: seq(2*n, func(i int) int32 { return int32(i % n) })}}
}

// ntxentCase: SimCLR's NT-Xent on z = [z1; z2] against itself.
func ntxentCase(n, d int, temp float32) nceCase {
	return nceCase{name: fmt.Sprintf("ntxent/N=%d,D=%d", n, d), a: 2 * n, b: 2 * n, d: d, same: true,
		p: kernels.InfoNCEParams{Temperature: temp, InBatchNegatives: true,
			Pos:  seq(2*n, func(i int) int32 { return int32((i + n) % (2 * n)) }),
			Self: seq(2*n, func(i int) int32 { return int32(i) })}}
}

// twinsCase: SimCLR with the Hallucinator, anchors [z1; z2; h] against keys
// [z1; z2]; h_i's positive is z2_i and its twin z1_i is no negative.
func twinsCase(n, d int, temp float32) nceCase {
	return nceCase{name: fmt.Sprintf("twins/N=%d,D=%d", n, d), a: 3 * n, b: 2 * n, d: d,
		p: kernels.InfoNCEParams{Temperature: temp, InBatchNegatives: true, Twins: true,
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
			KeyID:    seq(2*n, func(i int) int32 { return int32(i % n) })}}
}

// randomCase draws every index at random, Self of -1 and repeated
// identities included.
func randomCase(rng *rand.Rand, a, b, d, queue int) nceCase {
	return nceCase{name: fmt.Sprintf("random/A=%d,B=%d,D=%d,Q=%d", a, b, d, queue), a: a, b: b, d: d, queue: queue,
		p: kernels.InfoNCEParams{Temperature: 0.3, InBatchNegatives: true, Twins: true,
			Pos:      seq(a, func(int) int32 { return int32(rng.IntN(b)) }),
			Self:     seq(a, func(int) int32 { return int32(rng.IntN(b+1) - 1) }),
			AnchorID: seq(a, func(int) int32 { return int32(rng.IntN(4)) }),
			KeyID:    seq(b, func(int) int32 { return int32(rng.IntN(4)) })}}
}

// infoNCE checks InfoNCE on the frameworks' configurations, small and at
// SimCLR/MoCo sizes, with every combination of wanted gradients.
func (s *suite) infoNCE(t *testing.T) {
	rng := tensor.NewRand(7)
	cases := []nceCase{
		mocoCase(1, 1, 3, 0.2), mocoCase(5, 13, 31, 0.07), mocoCase(128, 128, 1024, 0.2),
		ntxentCase(1, 2, 0.5), ntxentCase(7, 13, 0.5), ntxentCase(128, 128, 0.2),
		twinsCase(3, 7, 0.2), twinsCase(128, 128, 0.2),
		randomCase(rng, 13, 7, 31, 0), randomCase(rng, 7, 13, 5, 67),
	}
	for _, tc := range cases {
		for _, grads := range []string{"dq,dk", "dq", "dk", "none"} {
			if (tc.same || tc.a*tc.d > 10000) && grads != "dq,dk" {
				continue // one tensor, or a large case: both gradients only
			}
			s.run(t, tc.name+"/grads="+grads, func(c *kcase) {
				q := c.in("q", tc.a, tc.d)
				k := q
				if !tc.same {
					k = c.in("k", tc.b, tc.d)
				}
				var queue *pair
				if tc.queue > 0 {
					qh := tensor.Zeros(tc.queue, tc.d)
					s.ref.L2NormalizeRows(1e-12, RandTensor(c.rng, tc.queue, tc.d), qh, tensor.Zeros(tc.queue))
					queue = c.inT("queue", qh)
				}
				loss := c.out("loss", 1).tol(longSum(tc.b + tc.queue))
				var dq, dk *pair
				if grads == "dq,dk" || grads == "dq" {
					dq = c.out("dq", tc.a, tc.d).tol(longSum(tc.b + tc.queue))
				}
				if grads == "dq,dk" || grads == "dk" {
					dk = c.out("dk", tc.b, tc.d).tol(longSum(tc.a))
				}
				refOf := func(p *pair) *tensor.Tensor {
					if p == nil {
						return nil
					}
					return p.ref
				}
				devOf := func(p *pair) *tensor.Tensor {
					if p == nil {
						return nil
					}
					return p.dev
				}
				s.ref.InfoNCE(tc.p, q.ref, k.ref, refOf(queue), loss.ref, refOf(dq), refOf(dk))
				kernels.InfoNCE(s.b, tc.p, q.dev, k.dev, devOf(queue), loss.dev, devOf(dq), devOf(dk))
			})
		}
	}
}

// halluWeights registers the Hallucinator's weights for feature size d as
// inputs, scaled like a fan-in initialisation so activations stay O(1).
func halluWeights(c *kcase, d int) (w1, b1, w2, b2, w3, b3 *pair) {
	scaled := func(name string, f float32, shape ...int) *pair {
		v := RandTensor(c.rng, shape...)
		for i := range v.Data() {
			v.Data()[i] *= f
		}
		return c.inT(name, v)
	}
	f := float32(2 / math.Sqrt(float64(2*d)))
	return scaled("w1", f, 2*d, 2*d), scaled("b1", 0.1, 2*d), scaled("w2", f, 2*d, 2*d), scaled("b2", 0.1, 2*d),
		scaled("w3", f, d, 2*d), scaled("b3", 0.1, d)
}

var halluCases = [][2]int{{1, 1}, {7, 5}, {31, 13}, {256, 128}}

// halluForward checks HallucinatorForward.
func (s *suite) halluForward(t *testing.T) {
	for _, sh := range halluCases {
		s.run(t, fmt.Sprintf("N=%d,D=%d", sh[0], sh[1]), func(c *kcase) {
			n, d := sh[0], sh[1]
			lambda := float32(0.1 * c.rng.Float64())
			x, k := c.in("x", n, d), c.in("k", n, d)
			w1, b1, w2, b2, w3, b3 := halluWeights(c, d)
			act, out := c.out("act", n, 4*d).tol(longSum(2*d)), c.out("out", n, d).tol(longSum(2*d))
			s.ref.HallucinatorForward(lambda, x.ref, k.ref, w1.ref, b1.ref, w2.ref, b2.ref, w3.ref, b3.ref, act.ref, out.ref)
			kernels.HallucinatorForward(s.b, lambda, x.dev, k.dev, w1.dev, b1.dev, w2.dev, b2.dev, w3.dev, b3.dev, act.dev, out.dev)
		})
	}
}

// halluBackward checks HallucinatorBackward on the reference forward's act,
// with and without dk.
func (s *suite) halluBackward(t *testing.T) {
	for _, sh := range halluCases {
		for _, withDK := range []bool{true, false} {
			s.run(t, fmt.Sprintf("N=%d,D=%d,dk=%v", sh[0], sh[1], withDK), func(c *kcase) {
				n, d := sh[0], sh[1]
				lambda := float32(0.1 * c.rng.Float64())
				x, k := c.in("x", n, d), c.in("k", n, d)
				w1, b1, w2, b2, w3, b3 := halluWeights(c, d)
				ah, oh := tensor.Zeros(n, 4*d), tensor.Zeros(n, d)
				s.ref.HallucinatorForward(lambda, x.ref, k.ref, w1.ref, b1.ref, w2.ref, b2.ref, w3.ref, b3.ref, ah, oh)
				act, dout := c.inT("act", ah), c.in("dout", n, d)
				long := longSum(max(n, 2*d))
				dx := c.out("dx", n, d).tol(long)
				var dk *pair
				if withDK {
					dk = c.out("dk", n, d).tol(long)
				}
				dw1, db1 := c.out("dw1", 2*d, 2*d).tol(long), c.out("db1", 2*d).tol(long)
				dw2, db2 := c.out("dw2", 2*d, 2*d).tol(long), c.out("db2", 2*d).tol(long)
				dw3, db3 := c.out("dw3", d, 2*d).tol(long), c.out("db3", d).tol(long)
				var dkr, dkd *tensor.Tensor
				if dk != nil {
					dkr, dkd = dk.ref, dk.dev
				}
				s.ref.HallucinatorBackward(lambda, x.ref, k.ref, w1.ref, w2.ref, w3.ref, act.ref, dout.ref,
					dx.ref, dkr, dw1.ref, db1.ref, dw2.ref, db2.ref, dw3.ref, db3.ref)
				kernels.HallucinatorBackward(s.b, lambda, x.dev, k.dev, w1.dev, w2.dev, w3.dev, act.dev, dout.dev,
					dx.dev, dkd, dw1.dev, db1.dev, dw2.dev, db2.dev, dw3.dev, db3.dev)
			})
		}
	}
}
