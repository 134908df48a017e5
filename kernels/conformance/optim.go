package conformance

import (
	"fmt"
	"testing"

	"hallucinator/kernels"
	"hallucinator/tensor"
)

// paramShapes are the tensors of one optimiser step: convolution weights,
// batch-norm vectors, a linear layer, odd and tiny sizes.
var paramShapes = [][]int{{64, 3, 3, 3}, {64}, {1}, {10, 512}, {7}, {128, 64, 3, 3}, {13, 31}}

// optimArgs registers one set of tensors per parameter: params and grads
// (grads[zero] all zero, to reach the branches of zero norms; -1 for none)
// and the given number of state buffers. Everything but grads is updated in
// place and compared.
type optimArgs struct {
	params, grads []*pair
	bufs          [][]*pair
}

func newOptimArgs(c *kcase, nbufs, zero int) *optimArgs {
	a := &optimArgs{bufs: make([][]*pair, nbufs)}
	for i, sh := range paramShapes {
		a.params = append(a.params, c.out(fmt.Sprintf("params[%d]", i), sh...).tol(10))
		g := RandTensor(c.rng, sh...)
		if i == zero {
			clear(g.Data())
		}
		a.grads = append(a.grads, c.inT(fmt.Sprintf("grads[%d]", i), g))
		for j := range a.bufs {
			// State as after some steps: the second moment is positive.
			v := RandTensor(c.rng, sh...)
			if j == 1 {
				for k, x := range v.Data() {
					v.Data()[k] = x * x
				}
			}
			a.bufs[j] = append(a.bufs[j], c.outT(fmt.Sprintf("bufs%d[%d]", j, i), v).tol(10))
		}
	}
	return a
}

// refs and devs return one side of a list of pairs.
func refs(ps []*pair) []*tensor.Tensor {
	out := make([]*tensor.Tensor, len(ps))
	for i, p := range ps {
		out[i] = p.ref
	}
	return out
}

func devs(ps []*pair) []*tensor.Tensor {
	out := make([]*tensor.Tensor, len(ps))
	for i, p := range ps {
		out[i] = p.dev
	}
	return out
}

// mask returns flags for the parameters: every third one false.
func mask() []bool {
	m := make([]bool, len(paramShapes))
	for i := range m {
		m[i] = i%3 != 1
	}
	return m
}

// The tolerances of optimisers are relative to the largest parameter; the
// updates themselves are small, so the bound is loosened by 10 (set in
// newOptimArgs) to leave room for the order of float32 operations while
// still catching any wrong term of the update.

// sgd checks SGDStep: plain, with weight decay masks, momentum (first and
// later steps) and Nesterov.
func (s *suite) sgd(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    kernels.SGDParams
		wd   bool
	}{
		{"plain", kernels.SGDParams{LR: 0.1}, false},
		{"decay,mask", kernels.SGDParams{LR: 0.1, WeightDecay: 5e-2}, true},
		{"momentum,first", kernels.SGDParams{LR: 0.05, Momentum: 0.9, WeightDecay: 5e-4, FirstStep: true}, false},
		{"momentum", kernels.SGDParams{LR: 0.05, Momentum: 0.9, WeightDecay: 5e-4}, true},
		{"nesterov", kernels.SGDParams{LR: 0.05, Momentum: 0.9, WeightDecay: 5e-4, Nesterov: true}, false},
		{"nesterov,first,mask", kernels.SGDParams{LR: 0.05, Momentum: 0.8, WeightDecay: 1e-2, Nesterov: true, FirstStep: true}, true},
	} {
		s.run(t, tc.name, func(c *kcase) {
			nb := 1
			if tc.p.Momentum == 0 {
				nb = 0
			}
			a := newOptimArgs(c, nb, -1)
			var wd []bool
			if tc.wd {
				wd = mask()
			}
			var br, bd []*tensor.Tensor
			if nb == 1 {
				br, bd = refs(a.bufs[0]), devs(a.bufs[0])
			}
			s.ref.SGDStep(tc.p, refs(a.params), refs(a.grads), br, wd)
			kernels.SGDStep(s.b, tc.p, devs(a.params), devs(a.grads), bd, wd)
		})
	}
}

// lars checks LARSStep with an exclusion mask and a zero gradient.
func (s *suite) lars(t *testing.T) {
	for _, tc := range []struct {
		name    string
		p       kernels.LARSParams
		exclude bool
	}{
		{"all", kernels.LARSParams{LR: 0.3, Momentum: 0.9, WeightDecay: 1e-4, Eta: 0.02}, false},
		{"exclude", kernels.LARSParams{LR: 0.3, Momentum: 0.9, WeightDecay: 1e-2, Eta: 0.001}, true},
		{"nomomentum", kernels.LARSParams{LR: 1.2, WeightDecay: 1e-2, Eta: 0.02}, true},
	} {
		s.run(t, tc.name, func(c *kcase) {
			a := newOptimArgs(c, 1, 2)
			var ex []bool
			if tc.exclude {
				ex = mask()
				for i := range ex {
					ex[i] = !ex[i]
				}
			}
			s.ref.LARSStep(tc.p, refs(a.params), refs(a.grads), refs(a.bufs[0]), ex)
			kernels.LARSStep(s.b, tc.p, devs(a.params), devs(a.grads), devs(a.bufs[0]), ex)
		})
	}
}

// adamw checks AdamWStep on the first and a later step.
func (s *suite) adamw(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    kernels.AdamWParams
		wd   bool
	}{
		{"step=1", kernels.AdamWParams{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.05, Step: 1}, false},
		{"step=17,mask", kernels.AdamWParams{LR: 1e-2, Beta1: 0.8, Beta2: 0.99, Eps: 1e-6, WeightDecay: 0.1, Step: 17}, true},
	} {
		s.run(t, tc.name, func(c *kcase) {
			a := newOptimArgs(c, 2, -1)
			var wd []bool
			if tc.wd {
				wd = mask()
			}
			s.ref.AdamWStep(tc.p, refs(a.params), refs(a.grads), refs(a.bufs[0]), refs(a.bufs[1]), wd)
			kernels.AdamWStep(s.b, tc.p, devs(a.params), devs(a.grads), devs(a.bufs[0]), devs(a.bufs[1]), wd)
		})
	}
}

// ema checks EMA.
func (s *suite) ema(t *testing.T) {
	for _, decay := range []float32{0.99, 0.5} {
		s.run(t, fmt.Sprintf("decay=%g", decay), func(c *kcase) {
			a := newOptimArgs(c, 0, -1)
			s.ref.EMA(decay, refs(a.params), refs(a.grads))
			kernels.EMA(s.b, decay, devs(a.params), devs(a.grads))
		})
	}
}
