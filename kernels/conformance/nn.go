package conformance

import (
	"fmt"
	"testing"

	"hallucinator/kernels"
	"hallucinator/tensor"
)

// convCase is one convolution: x [N,C,H,W], w [K,C,R,S].
type convCase struct {
	n, c, h, w, k, r, s int
	p                   kernels.ConvParams
}

func (cc convCase) String() string {
	return fmt.Sprintf("N=%d,C=%d,H=%d,W=%d,K=%d,R=%d,S=%d,stride=%dx%d,pad=%dx%d",
		cc.n, cc.c, cc.h, cc.w, cc.k, cc.r, cc.s, cc.p.StrideH, cc.p.StrideW, cc.p.PadH, cc.p.PadW)
}

func convP(stride, pad int) kernels.ConvParams {
	return kernels.ConvParams{StrideH: stride, StrideW: stride, PadH: pad, PadW: pad}
}

var convCases = []convCase{
	{1, 1, 1, 1, 1, 1, 1, convP(1, 0)},
	{2, 3, 7, 9, 5, 3, 3, convP(1, 1)},
	{3, 5, 13, 11, 7, 3, 3, convP(2, 1)},
	{2, 7, 8, 8, 13, 1, 1, convP(2, 0)},
	{2, 3, 17, 17, 4, 7, 7, convP(2, 3)},
	{1, 2, 6, 10, 3, 2, 3, kernels.ConvParams{StrideH: 1, StrideW: 3, PadH: 0, PadW: 2}},
	{1, 3, 5, 5, 2, 5, 5, convP(1, 0)},
	{2, 3, 4, 4, 2, 3, 3, convP(3, 2)},
	{1, 31, 5, 3, 1, 3, 3, convP(1, 1)},
	// ResNet-18 on CIFAR: the stem, a 3x3 block convolution, a stride-2
	// convolution and its 1x1 shortcut.
	{2, 3, 32, 32, 64, 3, 3, convP(1, 1)},
	{2, 64, 32, 32, 64, 3, 3, convP(1, 1)},
	{2, 64, 32, 32, 128, 3, 3, convP(2, 1)},
	{2, 64, 32, 32, 128, 1, 1, convP(2, 0)},
}

// conv checks Conv2d, Conv2dBackwardData and Conv2dBackwardFilter.
func (s *suite) conv(t *testing.T) {
	for _, cc := range convCases {
		p, q := cc.p.OutSize(cc.h, cc.w, cc.r, cc.s)
		s.run(t, "Forward/"+cc.String(), func(c *kcase) {
			x, w, y := c.in("x", cc.n, cc.c, cc.h, cc.w), c.in("w", cc.k, cc.c, cc.r, cc.s), c.out("y", cc.n, cc.k, p, q)
			y.tol(longSum(cc.c * cc.r * cc.s))
			s.ref.Conv2d(cc.p, x.ref, w.ref, y.ref)
			s.b.Conv2d(cc.p, x.dev, w.dev, y.dev)
		})
		s.run(t, "BackwardData/"+cc.String(), func(c *kcase) {
			dy, w, dx := c.in("dy", cc.n, cc.k, p, q), c.in("w", cc.k, cc.c, cc.r, cc.s), c.out("dx", cc.n, cc.c, cc.h, cc.w)
			dx.tol(longSum(cc.k * cc.r * cc.s))
			s.ref.Conv2dBackwardData(cc.p, dy.ref, w.ref, dx.ref)
			s.b.Conv2dBackwardData(cc.p, dy.dev, w.dev, dx.dev)
		})
		s.run(t, "BackwardFilter/"+cc.String(), func(c *kcase) {
			x, dy, dw := c.in("x", cc.n, cc.c, cc.h, cc.w), c.in("dy", cc.n, cc.k, p, q), c.out("dw", cc.k, cc.c, cc.r, cc.s)
			dw.tol(longSum(cc.n * p * q))
			s.ref.Conv2dBackwardFilter(cc.p, x.ref, dy.ref, dw.ref)
			s.b.Conv2dBackwardFilter(cc.p, x.dev, dy.dev, dw.dev)
		})
	}
}

// bnShapes are the inputs of batch normalisation: [N, C] and [N, C, H, W].
var bnShapes = [][]int{{2, 1}, {7, 13}, {256, 512}, {2, 3, 5, 7}, {3, 4, 1, 1}, {4, 64, 8, 8}, {2, 64, 32, 32}}

// bnState returns gamma, beta and plausible running statistics for c
// channels (the variance positive).
func bnState(c *kcase, ch int) (gamma, beta, runMean, runVar *tensor.Tensor) {
	gamma, beta, runMean, runVar = RandTensor(c.rng, ch), RandTensor(c.rng, ch), RandTensor(c.rng, ch), RandTensor(c.rng, ch)
	for i, v := range runVar.Data() {
		if v < 0 {
			runVar.Data()[i] = -v
		}
	}
	return gamma, beta, runMean, runVar
}

// bnInput returns x with a per-channel offset and scale, so that the
// statistics are not those of the raw random values.
func bnInput(c *kcase, sh []int) *tensor.Tensor {
	x := RandTensor(c.rng, sh...)
	ch, inner := sh[1], tensor.Numel(sh[2:])
	for i := range x.Data() {
		k := (i / inner) % ch
		x.Data()[i] = x.Data()[i]*float32(1+k%3) + float32(k%5) - 2
	}
	return x
}

// bnTrain checks BatchNormTrain, with and without the fused ReLU.
func (s *suite) bnTrain(t *testing.T) {
	for _, sh := range bnShapes {
		for _, relu := range []bool{false, true} {
			s.run(t, fmt.Sprintf("x=%v,relu=%v", sh, relu), func(c *kcase) {
				p := kernels.BNParams{Eps: 1e-5, Momentum: 0.1, ReLU: relu}
				ch, m := sh[1], tensor.Numel(sh)/sh[1]
				g, b, rm, rv := bnState(c, ch)
				x := c.inT("x", bnInput(c, sh))
				gamma, beta := c.inT("gamma", g), c.inT("beta", b)
				y, sm, si := c.out("y", sh...), c.out("saveMean", ch), c.out("saveInvstd", ch)
				runMean, runVar := c.outT("runMean", rm), c.outT("runVar", rv)
				for _, o := range []*pair{y, sm, si, runMean, runVar} {
					o.tol(longSum(m))
				}
				s.ref.BatchNormTrain(p, x.ref, gamma.ref, beta.ref, y.ref, sm.ref, si.ref, runMean.ref, runVar.ref)
				s.b.BatchNormTrain(p, x.dev, gamma.dev, beta.dev, y.dev, sm.dev, si.dev, runMean.dev, runVar.dev)
			})
		}
	}
}

// bnInfer checks BatchNormInfer.
func (s *suite) bnInfer(t *testing.T) {
	for _, sh := range bnShapes {
		for _, relu := range []bool{false, true} {
			s.run(t, fmt.Sprintf("x=%v,relu=%v", sh, relu), func(c *kcase) {
				p := kernels.BNParams{Eps: 1e-3, Momentum: 0.1, ReLU: relu}
				g, b, rm, rv := bnState(c, sh[1])
				x, gamma, beta := c.inT("x", bnInput(c, sh)), c.inT("gamma", g), c.inT("beta", b)
				runMean, runVar, y := c.inT("runMean", rm), c.inT("runVar", rv), c.out("y", sh...)
				s.ref.BatchNormInfer(p, x.ref, gamma.ref, beta.ref, runMean.ref, runVar.ref, y.ref)
				s.b.BatchNormInfer(p, x.dev, gamma.dev, beta.dev, runMean.dev, runVar.dev, y.dev)
			})
		}
	}
}

// bnBackward checks BatchNormBackward on the statistics and output of the
// reference forward.
func (s *suite) bnBackward(t *testing.T) {
	for _, sh := range bnShapes {
		for _, relu := range []bool{false, true} {
			s.run(t, fmt.Sprintf("x=%v,relu=%v", sh, relu), func(c *kcase) {
				p := kernels.BNParams{Eps: 1e-5, Momentum: 0.1, ReLU: relu}
				ch, m := sh[1], tensor.Numel(sh)/sh[1]
				g, b, rm, rv := bnState(c, ch)
				xh := bnInput(c, sh)
				yh, smh, sih := tensor.Zeros(sh...), tensor.Zeros(ch), tensor.Zeros(ch)
				s.ref.BatchNormTrain(p, xh, g, b, yh, smh, sih, rm, rv)
				x, y, dy, gamma := c.inT("x", xh), c.inT("y", yh), c.in("dy", sh...), c.inT("gamma", g)
				sm, si := c.inT("saveMean", smh), c.inT("saveInvstd", sih)
				dx, dg, db := c.out("dx", sh...), c.out("dgamma", ch), c.out("dbeta", ch)
				for _, o := range []*pair{dx, dg, db} {
					o.tol(longSum(m))
				}
				s.ref.BatchNormBackward(p, x.ref, y.ref, dy.ref, gamma.ref, sm.ref, si.ref, dx.ref, dg.ref, db.ref)
				s.b.BatchNormBackward(p, x.dev, y.dev, dy.dev, gamma.dev, sm.dev, si.dev, dx.dev, dg.dev, db.dev)
			})
		}
	}
}

// relu checks Relu, also in place.
func (s *suite) relu(t *testing.T) {
	for _, n := range ewSizes {
		s.run(t, fmt.Sprintf("n=%d", n), func(c *kcase) {
			x, y := c.in("x", n), c.out("y", n)
			s.ref.Relu(x.ref, y.ref)
			s.b.Relu(x.dev, y.dev)
		})
		s.run(t, fmt.Sprintf("n=%d/y=x", n), func(c *kcase) {
			x := c.out("x (y)", n)
			s.ref.Relu(x.ref, x.ref)
			s.b.Relu(x.dev, x.dev)
		})
	}
}

// reluBackward checks ReluBackward on y = relu(x) (exact zeros included),
// also in place.
func (s *suite) reluBackward(t *testing.T) {
	for _, n := range ewSizes {
		s.run(t, fmt.Sprintf("n=%d", n), func(c *kcase) {
			yh := RandTensor(c.rng, n)
			s.ref.Relu(yh, yh)
			y, dy, dx := c.inT("y", yh), c.in("dy", n), c.out("dx", n)
			s.ref.ReluBackward(y.ref, dy.ref, dx.ref)
			s.b.ReluBackward(y.dev, dy.dev, dx.dev)
		})
		s.run(t, fmt.Sprintf("n=%d/dx=dy", n), func(c *kcase) {
			yh := RandTensor(c.rng, n)
			s.ref.Relu(yh, yh)
			y, dy := c.inT("y", yh), c.out("dy (dx)", n)
			s.ref.ReluBackward(y.ref, dy.ref, dy.ref)
			s.b.ReluBackward(y.dev, dy.dev, dy.dev)
		})
	}
}

// poolCase is one max pool: x [N,C,H,W].
type poolCase struct {
	n, c, h, w int
	p          kernels.PoolParams
}

func (pc poolCase) String() string {
	return fmt.Sprintf("N=%d,C=%d,H=%d,W=%d,window=%dx%d,stride=%dx%d,pad=%dx%d", pc.n, pc.c, pc.h, pc.w,
		pc.p.KH, pc.p.KW, pc.p.StrideH, pc.p.StrideW, pc.p.PadH, pc.p.PadW)
}

var poolCases = []poolCase{
	{1, 1, 1, 1, kernels.PoolParams{KH: 1, KW: 1, StrideH: 1, StrideW: 1}},
	{1, 3, 7, 9, kernels.PoolParams{KH: 2, KW: 2, StrideH: 2, StrideW: 2}},
	{2, 5, 6, 5, kernels.PoolParams{KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}},
	{1, 3, 6, 11, kernels.PoolParams{KH: 2, KW: 3, StrideH: 1, StrideW: 2, PadH: 1, PadW: 0}},
	{2, 64, 32, 32, kernels.PoolParams{KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}}, // ResNet stem
}

// poolInput returns x with values from a small set, all negative in half
// the planes: windows hold ties (the first maximum must win) and a padding
// counted as 0 would win.
func poolInput(c *kcase, sh ...int) *tensor.Tensor {
	x := tensor.Zeros(sh...)
	hw := sh[2] * sh[3]
	for i := range x.Data() {
		v := float32(c.rng.IntN(4)) + 0.5
		if (i/hw)%2 == 0 {
			v = -v
		}
		x.Data()[i] = v
	}
	return x
}

// maxPool checks MaxPool2d.
func (s *suite) maxPool(t *testing.T) {
	for _, pc := range poolCases {
		s.run(t, pc.String(), func(c *kcase) {
			p, q := pc.p.OutSize(pc.h, pc.w)
			x, y := c.inT("x", poolInput(c, pc.n, pc.c, pc.h, pc.w)), c.out("y", pc.n, pc.c, p, q)
			s.ref.MaxPool2d(pc.p, x.ref, y.ref)
			s.b.MaxPool2d(pc.p, x.dev, y.dev)
		})
	}
}

// maxPoolBackward checks MaxPool2dBackward on inputs with ties.
func (s *suite) maxPoolBackward(t *testing.T) {
	for _, pc := range poolCases {
		s.run(t, pc.String(), func(c *kcase) {
			p, q := pc.p.OutSize(pc.h, pc.w)
			xh, yh := poolInput(c, pc.n, pc.c, pc.h, pc.w), tensor.Zeros(pc.n, pc.c, p, q)
			s.ref.MaxPool2d(pc.p, xh, yh)
			x, y, dy, dx := c.inT("x", xh), c.inT("y", yh), c.in("dy", pc.n, pc.c, p, q), c.out("dx", pc.n, pc.c, pc.h, pc.w)
			s.ref.MaxPool2dBackward(pc.p, x.ref, y.ref, dy.ref, dx.ref)
			s.b.MaxPool2dBackward(pc.p, x.dev, y.dev, dy.dev, dx.dev)
		})
	}
}

var avgPoolShapes = [][]int{{1, 1, 1, 1}, {2, 3, 5, 7}, {4, 512, 4, 4}, {2, 64, 32, 32}}

// avgPool checks GlobalAvgPool.
func (s *suite) avgPool(t *testing.T) {
	for _, sh := range avgPoolShapes {
		s.run(t, fmt.Sprintf("x=%v", sh), func(c *kcase) {
			x, y := c.in("x", sh...), c.out("y", sh[0], sh[1])
			y.tol(longSum(sh[2] * sh[3]))
			s.ref.GlobalAvgPool(x.ref, y.ref)
			s.b.GlobalAvgPool(x.dev, y.dev)
		})
	}
}

// avgPoolBackward checks GlobalAvgPoolBackward.
func (s *suite) avgPoolBackward(t *testing.T) {
	for _, sh := range avgPoolShapes {
		s.run(t, fmt.Sprintf("dx=%v", sh), func(c *kcase) {
			dy, dx := c.in("dy", sh[0], sh[1]), c.out("dx", sh...)
			s.ref.GlobalAvgPoolBackward(dy.ref, dx.ref)
			s.b.GlobalAvgPoolBackward(dy.dev, dx.dev)
		})
	}
}
