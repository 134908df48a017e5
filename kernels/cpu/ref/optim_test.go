package ref

import (
	"fmt"
	"math"
	"testing"

	"hallucinator/kernels"
	"hallucinator/tensor"
)

// optimState is a set of parameters and their float64 twins updated by the
// hand-written formulas.
type optimState struct {
	params, grads, b1, b2 []*tensor.Tensor
	p, g, s1, s2          [][]float64
}

var optimSizes = []int{1, 7, 31, 130}

func newOptimState(seed uint64) *optimState {
	rng := tensor.NewRand(seed)
	st := &optimState{}
	for _, n := range optimSizes {
		p := rnd(rng, n)
		st.params = append(st.params, p)
		st.p = append(st.p, f64(p.Data()))
		st.grads = append(st.grads, tensor.Zeros(n))
		st.g = append(st.g, make([]float64, n))
		st.b1 = append(st.b1, tensor.Zeros(n))
		st.b2 = append(st.b2, tensor.Zeros(n))
		st.s1 = append(st.s1, make([]float64, n))
		st.s2 = append(st.s2, make([]float64, n))
	}
	return st
}

// newGrads draws fresh gradients (the tensor zeroGrad gets zeros).
func (st *optimState) newGrads(step int, zeroGrad int) {
	rng := tensor.NewRand(uint64(100 + step))
	for i, g := range st.grads {
		copy(g.Data(), rnd(rng, g.Numel()).Data())
		if i == zeroGrad {
			clear(g.Data())
		}
		st.g[i] = f64(g.Data())
	}
}

func (st *optimState) check(t *testing.T, what string) {
	t.Helper()
	for i := range st.params {
		checkClose(t, fmt.Sprintf("%s params[%d]", what, i), st.params[i].Data(), st.p[i], 1e-5)
	}
}

func TestSGDStep(t *testing.T) {
	b := New()
	for _, tc := range []struct {
		name string
		p    kernels.SGDParams
		wd   []bool
	}{
		{"plain", kernels.SGDParams{LR: 0.1}, nil},
		{"decay", kernels.SGDParams{LR: 0.05, WeightDecay: 0.01}, []bool{true, false, true, false}},
		{"momentum", kernels.SGDParams{LR: 0.03, Momentum: 0.9, WeightDecay: 5e-4}, nil},
		{"nesterov", kernels.SGDParams{LR: 0.03, Momentum: 0.8, WeightDecay: 1e-3, Nesterov: true}, []bool{false, true, true, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newOptimState(20)
			// Stale momentum buffers: FirstStep must overwrite them.
			rng := tensor.NewRand(28)
			for i, buf := range st.b1 {
				copy(buf.Data(), rnd(rng, buf.Numel()).Data())
				st.s1[i] = f64(buf.Data())
			}
			for step := 0; step < 4; step++ {
				st.newGrads(step, -1)
				p := tc.p
				p.FirstStep = step == 0
				bufs := st.b1
				if p.Momentum == 0 {
					bufs = nil
				}
				b.SGDStep(p, st.params, st.grads, bufs, tc.wd)
				mom, lr := float64(p.Momentum), float64(p.LR)
				for i := range st.p {
					wd := float64(p.WeightDecay)
					if tc.wd != nil && !tc.wd[i] {
						wd = 0
					}
					for j := range st.p[i] {
						g := st.g[i][j] + wd*st.p[i][j]
						if mom != 0 {
							if step == 0 {
								st.s1[i][j] = g
							} else {
								st.s1[i][j] = mom*st.s1[i][j] + g
							}
							if p.Nesterov {
								g += mom * st.s1[i][j]
							} else {
								g = st.s1[i][j]
							}
						}
						st.p[i][j] -= lr * g
					}
				}
				st.check(t, fmt.Sprint("step ", step))
			}
		})
	}
}

func TestLARSStep(t *testing.T) {
	b := New()
	p := kernels.LARSParams{LR: 0.3, Momentum: 0.9, WeightDecay: 1e-2, Eta: 0.02}
	exclude := []bool{true, false, false, false}
	st := newOptimState(21)
	clear(st.params[3].Data()) // a zero tensor: ||p|| = 0, plain LR
	clear(st.p[3])
	for step := 0; step < 4; step++ {
		st.newGrads(step, 2) // params[2] gets a zero gradient: plain LR
		b.LARSStep(p, st.params, st.grads, st.b1, exclude)
		for i := range st.p {
			local, wd := float64(p.LR), 0.0
			if !exclude[i] {
				wd = float64(p.WeightDecay)
				var pn, gn float64
				for j := range st.p[i] {
					pn += st.p[i][j] * st.p[i][j]
					gn += st.g[i][j] * st.g[i][j]
				}
				pn, gn = math.Sqrt(pn), math.Sqrt(gn)
				if pn != 0 && gn != 0 {
					local *= float64(p.Eta) * pn / (gn + wd*pn)
				}
			}
			for j := range st.p[i] {
				g := st.g[i][j] + wd*st.p[i][j]
				st.s1[i][j] = float64(p.Momentum)*st.s1[i][j] + local*g
				st.p[i][j] -= st.s1[i][j]
			}
		}
		st.check(t, fmt.Sprint("step ", step))
	}
}

func TestAdamWStep(t *testing.T) {
	b := New()
	p := kernels.AdamWParams{LR: 1e-2, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.05}
	wd := []bool{true, false, true, true}
	st := newOptimState(22)
	for step := 1; step <= 4; step++ {
		st.newGrads(step, -1)
		p.Step = step
		b.AdamWStep(p, st.params, st.grads, st.b1, st.b2, wd)
		b1, b2, lr := float64(p.Beta1), float64(p.Beta2), float64(p.LR)
		for i := range st.p {
			for j := range st.p[i] {
				if wd[i] {
					st.p[i][j] -= lr * float64(p.WeightDecay) * st.p[i][j]
				}
				g := st.g[i][j]
				st.s1[i][j] = b1*st.s1[i][j] + (1-b1)*g
				st.s2[i][j] = b2*st.s2[i][j] + (1-b2)*g*g
				mhat := st.s1[i][j] / (1 - math.Pow(b1, float64(step)))
				vhat := st.s2[i][j] / (1 - math.Pow(b2, float64(step)))
				st.p[i][j] -= lr * mhat / (math.Sqrt(vhat) + float64(p.Eps))
			}
		}
		st.check(t, fmt.Sprint("step ", step))
	}
}

func TestEMA(t *testing.T) {
	b := New()
	rng := tensor.NewRand(23)
	var tg, src []*tensor.Tensor
	var want [][]float64
	for _, n := range optimSizes {
		x, y := rnd(rng, n), rnd(rng, n)
		w := make([]float64, n)
		for j := range w {
			w[j] = 0.99*float64(x.Data()[j]) + (1-0.99)*float64(y.Data()[j])
		}
		tg, src, want = append(tg, x), append(src, y), append(want, w)
	}
	b.EMA(0.99, tg, src)
	for i := range tg {
		checkClose(t, fmt.Sprint("target ", i), tg[i].Data(), want[i], 1e-6)
	}
}
