package cpu

import (
	"fmt"
	"math"
	"testing"

	"hallucinator/kernels"
	"hallucinator/tensor"
)

func TestGemmAgainstRef(t *testing.T) {
	b, r := newTestBackends(t)
	rng := tensor.NewRand(3)
	for _, s := range [][3]int{{1, 1, 1}, {7, 13, 31}, {67, 5, 128}, {129, 257, 33}, {3, 4, 0}} {
		for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
			m, n, k := s[0], s[1], s[2]
			t.Run(fmt.Sprintf("%dx%dx%d_t%v", m, n, k, tr), func(t *testing.T) {
				as, bs := []int{m, k}, []int{k, n}
				if tr[0] {
					as = []int{k, m}
				}
				if tr[1] {
					bs = []int{n, k}
				}
				a, bm := randT(rng, as...), randT(rng, bs...)
				// beta == 0 must ignore NaN in C.
				c, cr := nanT(m, n), tensor.Zeros(m, n)
				b.Gemm(tr[0], tr[1], 1.5, a, bm, 0, c)
				r.Gemm(tr[0], tr[1], 1.5, a, bm, 0, cr)
				check(t, "beta=0", c, cr, 1e-5)
				c0 := randT(rng, m, n)
				c, cr = c0.Clone(), c0.Clone()
				b.Gemm(tr[0], tr[1], -0.5, a, bm, 0.75, c)
				r.Gemm(tr[0], tr[1], -0.5, a, bm, 0.75, cr)
				check(t, "beta=0.75", c, cr, 1e-5)
			})
		}
	}
	a, bm := randT(rng, 3, 5, 7), randT(rng, 3, 9, 7)
	c, cr := nanT(3, 5, 9), tensor.Zeros(3, 5, 9)
	b.GemmBatched(false, true, 1, a, bm, 0, c)
	r.GemmBatched(false, true, 1, a, bm, 0, cr)
	check(t, "GemmBatched", c, cr, 1e-5)
}

func TestBatchNormAgainstRef(t *testing.T) {
	b, r := newTestBackends(t)
	rng := tensor.NewRand(4)
	for _, shape := range [][]int{{2, 1}, {7, 13}, {64, 300}, {2, 3, 1, 1}, {3, 5, 7, 7}, {16, 33, 8, 8}} {
		for _, relu := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v_relu%v", shape, relu), func(t *testing.T) {
				p := kernels.BNParams{Eps: 1e-5, Momentum: 0.1, ReLU: relu}
				c := shape[1]
				x := randT(rng, shape...)
				// A large common offset on one channel checks the variance
				// does not cancel.
				xd := x.Data()
				inner := tensor.Numel(shape[2:])
				for i := 0; i < shape[0]; i++ {
					for j := 0; j < inner; j++ {
						xd[(i*c)*inner+j] += 100
					}
				}
				gamma, beta := randT(rng, c), randT(rng, c)
				rm0, rv0 := randT(rng, c), randT(rng, c)
				for i, v := range rv0.Data() {
					rv0.Data()[i] = float32(math.Abs(float64(v)))
				}
				y, sm, si, rm, rv := nanT(shape...), nanT(c), nanT(c), rm0.Clone(), rv0.Clone()
				yr, smr, sir, rmr, rvr := tensor.Zeros(shape...), tensor.Zeros(c), tensor.Zeros(c), rm0.Clone(), rv0.Clone()
				b.BatchNormTrain(p, x, gamma, beta, y, sm, si, rm, rv)
				r.BatchNormTrain(p, x, gamma, beta, yr, smr, sir, rmr, rvr)
				check(t, "y", y, yr, 1e-5)
				check(t, "saveMean", sm, smr, 1e-6)
				check(t, "saveInvstd", si, sir, 1e-5)
				check(t, "runMean", rm, rmr, 1e-6)
				check(t, "runVar", rv, rvr, 1e-5)

				yi, yir := nanT(shape...), tensor.Zeros(shape...)
				b.BatchNormInfer(p, x, gamma, beta, rm0, rv0, yi)
				r.BatchNormInfer(p, x, gamma, beta, rm0, rv0, yir)
				check(t, "infer", yi, yir, 1e-5)

				dy := randT(rng, shape...)
				dx, dg, db := nanT(shape...), nanT(c), nanT(c)
				dxr, dgr, dbr := tensor.Zeros(shape...), tensor.Zeros(c), tensor.Zeros(c)
				b.BatchNormBackward(p, x, yr, dy, gamma, smr, sir, dx, dg, db)
				r.BatchNormBackward(p, x, yr, dy, gamma, smr, sir, dxr, dgr, dbr)
				// dx is a difference of terms of size gamma*invstd*dy; with
				// few values per channel it nearly cancels, so its error is
				// measured against that size.
				var scale, diff float64
				for i, v := range dx.Data() {
					ch := (i / inner) % c
					scale = math.Max(scale, math.Abs(float64(gamma.Data()[ch]*sir.Data()[ch]*dy.Data()[i])))
					diff = math.Max(diff, math.Abs(float64(v-dxr.Data()[i])))
				}
				if math.IsNaN(diff) || diff > 1e-5*scale {
					t.Errorf("dx: error %.3g > 1e-5 * %.3g", diff, scale)
				}
				check(t, "dgamma", dg, dgr, 1e-5)
				check(t, "dbeta", db, dbr, 1e-5)
			})
		}
	}
}

func TestElementwiseAgainstRef(t *testing.T) {
	b, r := newTestBackends(t)
	rng := tensor.NewRand(5)
	for _, n := range []int{1, 7, 99, 1 << 15, 100003} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			x, y := randT(rng, n), randT(rng, n)
			type binop func(a, c, dst *tensor.Tensor)
			for _, op := range []struct {
				name string
				f, g binop
			}{
				{"Add", b.Add, r.Add}, {"Sub", b.Sub, r.Sub}, {"Mul", b.Mul, r.Mul},
				{"ReluBackward", b.ReluBackward, r.ReluBackward},
				{"Scale", func(a, _, d *tensor.Tensor) { b.Scale(-1.5, a, d) }, func(a, _, d *tensor.Tensor) { r.Scale(-1.5, a, d) }},
				{"Relu", func(a, _, d *tensor.Tensor) { b.Relu(a, d) }, func(a, _, d *tensor.Tensor) { r.Relu(a, d) }},
			} {
				got, want := nanT(n), tensor.Zeros(n)
				op.f(x, y, got)
				op.g(x, y, want)
				check(t, op.name, got, want, 0)
				// In place: dst aliases the first input.
				got = x.Clone()
				op.f(got, y, got)
				check(t, op.name+" in place", got, want, 0)
			}
			got, want := y.Clone(), y.Clone()
			b.Axpy(0.3, x, got)
			r.Axpy(0.3, x, want)
			check(t, "Axpy", got, want, 1e-6) // fused multiply-add rounds once
			s, sr := nanT(1), tensor.Zeros(1)
			b.Sum(x, s)
			r.Sum(x, sr)
			check(t, "Sum", s, sr, 1e-6)
			f := nanT(n)
			b.Fill(2.5, f)
			check(t, "Fill", f, tensor.Full(2.5, n), 0)
			b.Copy(x, f)
			check(t, "Copy", f, x, 0)
		})
	}
}

func TestReductionsAgainstRef(t *testing.T) {
	b, r := newTestBackends(t)
	rng := tensor.NewRand(6)
	for _, s := range [][]int{{1, 1}, {3, 7}, {513, 300}, {4, 3, 5, 5}, {128, 1000}} {
		t.Run(fmt.Sprint(s), func(t *testing.T) {
			x := randT(rng, s...)
			m, n := s[0], tensor.Numel(s[1:])
			got, want := nanT(n), tensor.Zeros(n)
			b.SumRows(x, got)
			r.SumRows(x, want)
			check(t, "SumRows", got, want, 1e-6)
			got, want = nanT(m), tensor.Zeros(m)
			b.SumCols(x, got)
			r.SumCols(x, want)
			check(t, "SumCols", got, want, 1e-6)
			bias := randT(rng, s[1])
			yg, yw := x.Clone(), x.Clone()
			b.BiasAdd(bias, yg)
			r.BiasAdd(bias, yw)
			check(t, "BiasAdd", yg, yw, 0)
			db, dbr := nanT(s[1]), tensor.Zeros(s[1])
			b.BiasGrad(x, db)
			r.BiasGrad(x, dbr)
			check(t, "BiasGrad", db, dbr, 1e-6)
		})
	}
	xs := []*tensor.Tensor{randT(rng, 3), randT(rng, 100000), randT(rng, 7, 7), randT(rng, 1)}
	got, want := nanT(4), tensor.Zeros(4)
	b.SumSquares(xs, got)
	r.SumSquares(xs, want)
	check(t, "SumSquares", got, want, 1e-6)
}

func TestPoolsAgainstRef(t *testing.T) {
	b, r := newTestBackends(t)
	rng := tensor.NewRand(7)
	for _, tc := range []struct {
		s  []int
		pp kernels.PoolParams
	}{
		{[]int{2, 3, 8, 8}, kernels.PoolParams{KH: 2, KW: 2, StrideH: 2, StrideW: 2}},
		{[]int{3, 5, 15, 17}, kernels.PoolParams{KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}},
		{[]int{1, 1, 5, 5}, kernels.PoolParams{KH: 3, KW: 2, StrideH: 1, StrideW: 1, PadH: 2, PadW: 1}},
		{[]int{8, 64, 16, 16}, kernels.PoolParams{KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}},
	} {
		t.Run(fmt.Sprint(tc.s, tc.pp), func(t *testing.T) {
			x := randT(rng, tc.s...)
			// Ties: quantise so that windows hold equal maxima.
			for i, v := range x.Data() {
				x.Data()[i] = float32(math.Round(float64(v) * 4))
			}
			p, q := tc.pp.OutSize(tc.s[2], tc.s[3])
			y, yr := nanT(tc.s[0], tc.s[1], p, q), tensor.Zeros(tc.s[0], tc.s[1], p, q)
			b.MaxPool2d(tc.pp, x, y)
			r.MaxPool2d(tc.pp, x, yr)
			check(t, "MaxPool2d", y, yr, 0)
			dy := randT(rng, tc.s[0], tc.s[1], p, q)
			dx, dxr := nanT(tc.s...), tensor.Zeros(tc.s...)
			b.MaxPool2dBackward(tc.pp, x, yr, dy, dx)
			r.MaxPool2dBackward(tc.pp, x, yr, dy, dxr)
			check(t, "MaxPool2dBackward", dx, dxr, 1e-6)
			g, gr := nanT(tc.s[0], tc.s[1]), tensor.Zeros(tc.s[0], tc.s[1])
			b.GlobalAvgPool(x, g)
			r.GlobalAvgPool(x, gr)
			check(t, "GlobalAvgPool", g, gr, 1e-6)
			gdy := randT(rng, tc.s[0], tc.s[1])
			b.GlobalAvgPoolBackward(gdy, dx)
			r.GlobalAvgPoolBackward(gdy, dxr)
			check(t, "GlobalAvgPoolBackward", dx, dxr, 1e-6)
		})
	}
}

func TestLossesAgainstRef(t *testing.T) {
	b, r := newTestBackends(t)
	rng := tensor.NewRand(8)
	for _, s := range [][2]int{{1, 1}, {5, 10}, {300, 129}} {
		t.Run(fmt.Sprint(s), func(t *testing.T) {
			m, n := s[0], s[1]
			x := randT(rng, m, n)
			y, nr := nanT(m, n), nanT(m)
			yr, nrr := tensor.Zeros(m, n), tensor.Zeros(m)
			b.L2NormalizeRows(1e-12, x, y, nr)
			r.L2NormalizeRows(1e-12, x, yr, nrr)
			check(t, "L2NormalizeRows", y, yr, 1e-6)
			check(t, "norms", nr, nrr, 1e-6)
			dy := randT(rng, m, n)
			dx, dxr := nanT(m, n), tensor.Zeros(m, n)
			b.L2NormalizeRowsBackward(1e-12, yr, nrr, dy, dx)
			r.L2NormalizeRowsBackward(1e-12, yr, nrr, dy, dxr)
			check(t, "L2NormalizeRowsBackward", dx, dxr, 1e-6)
			// A clamped row: norm below eps.
			eps := float32(10)
			b.L2NormalizeRows(eps, x, y, nr)
			r.L2NormalizeRows(eps, x, yr, nrr)
			check(t, "clamped", y, yr, 1e-6)
			b.L2NormalizeRowsBackward(eps, yr, nrr, dy, dx)
			r.L2NormalizeRowsBackward(eps, yr, nrr, dy, dxr)
			check(t, "clamped backward", dx, dxr, 1e-6)

			labels := make([]int32, m)
			for i := range labels {
				labels[i] = int32(rng.IntN(n))
			}
			logits := randT(rng, m, n)
			l, lr := nanT(1), tensor.Zeros(1)
			dl, dlr := nanT(m, n), tensor.Zeros(m, n)
			b.SoftmaxCrossEntropy(logits, labels, l, dl)
			r.SoftmaxCrossEntropy(logits, labels, lr, dlr)
			check(t, "SoftmaxCrossEntropy loss", l, lr, 1e-6)
			check(t, "SoftmaxCrossEntropy grad", dl, dlr, 1e-6)
			b.SoftmaxCrossEntropy(logits, labels, l, nil)
			check(t, "SoftmaxCrossEntropy loss only", l, lr, 1e-6)
		})
	}
}

func TestInfoNCEAgainstRef(t *testing.T) {
	b, r := newTestBackends(t)
	rng := tensor.NewRand(9)
	for _, tc := range []struct {
		a, nb, q, d    int
		inBatch, twins bool
		self, shared   bool
	}{
		{1, 1, 0, 3, false, false, false, false},
		{4, 4, 7, 5, false, false, false, false},             // MoCo: positive + queue
		{16, 16, 0, 8, true, false, true, true},              // SimCLR: q == k with self
		{24, 16, 0, 8, true, true, false, false},             // hallucinated rows with twins
		{12, 12, 5000, 16, true, true, true, false},          // long queue: several anchor blocks
		{64, 64, 3000, 128, false, false, false, false},      // MoCo, D = 128
		{2*37 + 1, 2*37 + 1, 0, 31, true, false, true, true}, // odd sizes
	} {
		t.Run(fmt.Sprintf("%+v", tc), func(t *testing.T) {
			q := randT(rng, tc.a, tc.d)
			k := randT(rng, tc.nb, tc.d)
			if tc.shared {
				k = q
			}
			var queue *tensor.Tensor
			if tc.q > 0 {
				queue = randT(rng, tc.q, tc.d)
				qn := tensor.Zeros(tc.q, tc.d)
				r.L2NormalizeRows(1e-12, queue, qn, tensor.Zeros(tc.q))
				queue = qn
			}
			p := kernels.InfoNCEParams{Temperature: 0.2, InBatchNegatives: tc.inBatch, Twins: tc.twins}
			p.Pos = make([]int32, tc.a)
			for i := range p.Pos {
				p.Pos[i] = int32((i + tc.nb/2) % tc.nb)
			}
			if tc.self {
				p.Self = make([]int32, tc.a)
				for i := range p.Self {
					p.Self[i] = int32(i % tc.nb)
					if i%5 == 4 {
						p.Self[i] = -1
					}
				}
			}
			if tc.twins {
				p.AnchorID, p.KeyID = make([]int32, tc.a), make([]int32, tc.nb)
				for i := range p.AnchorID {
					p.AnchorID[i] = int32(i % 6)
				}
				for j := range p.KeyID {
					p.KeyID[j] = int32(j % 6)
				}
			}
			l, lr := nanT(1), tensor.Zeros(1)
			dq, dqr := nanT(tc.a, tc.d), tensor.Zeros(tc.a, tc.d)
			dk, dkr := nanT(tc.nb, tc.d), tensor.Zeros(tc.nb, tc.d)
			b.InfoNCE(p, q, k, queue, l, dq, dk)
			r.InfoNCE(p, q, k, queue, lr, dqr, dkr)
			check(t, "loss", l, lr, 1e-5)
			check(t, "dq", dq, dqr, 2e-5)
			check(t, "dk", dk, dkr, 2e-5)
			b.InfoNCE(p, q, k, queue, l, nil, nil)
			check(t, "loss without gradients", l, lr, 1e-5)
			b.InfoNCE(p, q, k, queue, l, nil, dk)
			check(t, "dk alone", dk, dkr, 2e-5)
		})
	}
}

func TestHallucinatorAgainstRef(t *testing.T) {
	b, r := newTestBackends(t)
	rng := tensor.NewRand(10)
	for _, s := range [][2]int{{1, 1}, {7, 5}, {256, 128}} {
		t.Run(fmt.Sprint(s), func(t *testing.T) {
			n, d := s[0], s[1]
			h := 2 * d
			x, k := randT(rng, n, d), randT(rng, n, d)
			w1, b1 := randT(rng, h, h), randT(rng, h)
			w2, b2 := randT(rng, h, h), randT(rng, h)
			w3, b3 := randT(rng, d, h), randT(rng, d)
			for _, w := range []*tensor.Tensor{w1, w2, w3} {
				b.Scale(float32(1/math.Sqrt(float64(h))), w, w)
			}
			act, out := nanT(n, 4*d), nanT(n, d)
			actr, outr := tensor.Zeros(n, 4*d), tensor.Zeros(n, d)
			lambda := float32(0.07)
			b.HallucinatorForward(lambda, x, k, w1, b1, w2, b2, w3, b3, act, out)
			r.HallucinatorForward(lambda, x, k, w1, b1, w2, b2, w3, b3, actr, outr)
			check(t, "act", act, actr, 1e-5)
			check(t, "out", out, outr, 1e-5)
			dout := randT(rng, n, d)
			grads := func() []*tensor.Tensor {
				return []*tensor.Tensor{nanT(n, d), nanT(n, d), nanT(h, h), nanT(h), nanT(h, h), nanT(h), nanT(d, h), nanT(d)}
			}
			g, gr := grads(), grads()
			b.HallucinatorBackward(lambda, x, k, w1, w2, w3, actr, dout, g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7])
			r.HallucinatorBackward(lambda, x, k, w1, w2, w3, actr, dout, gr[0], gr[1], gr[2], gr[3], gr[4], gr[5], gr[6], gr[7])
			for i, nm := range []string{"dx", "dk", "dw1", "db1", "dw2", "db2", "dw3", "db3"} {
				check(t, nm, g[i], gr[i], 1e-5)
			}
		})
	}
}

func TestOptimisersAgainstRef(t *testing.T) {
	b, r := newTestBackends(t)
	rng := tensor.NewRand(11)
	shapes := [][]int{{3}, {64, 3, 3, 3}, {100003}, {1}}
	mk := func() []*tensor.Tensor {
		var ts []*tensor.Tensor
		for _, s := range shapes {
			ts = append(ts, randT(rng, s...))
		}
		return ts
	}
	clone := func(ts []*tensor.Tensor) []*tensor.Tensor {
		out := make([]*tensor.Tensor, len(ts))
		for i, t := range ts {
			out[i] = t.Clone()
		}
		return out
	}
	checkAll := func(t *testing.T, what string, got, want []*tensor.Tensor) {
		t.Helper()
		for i := range got {
			check(t, fmt.Sprintf("%s[%d]", what, i), got[i], want[i], 1e-6)
		}
	}
	params, grads, bufs, m, v := mk(), mk(), mk(), mk(), mk()
	for i := range v {
		b.Mul(v[i], v[i], v[i])
	}
	wd := []bool{true, false, true, true}
	for _, sp := range []kernels.SGDParams{
		{LR: 0.1, Momentum: 0.9, WeightDecay: 1e-4, Nesterov: true},
		{LR: 0.1, Momentum: 0.9, WeightDecay: 1e-4, FirstStep: true},
		{LR: 0.05},
	} {
		p1, b1, p2, b2 := clone(params), clone(bufs), clone(params), clone(bufs)
		b.SGDStep(sp, p1, grads, b1, wd)
		r.SGDStep(sp, p2, grads, b2, wd)
		checkAll(t, fmt.Sprintf("SGD %+v params", sp), p1, p2)
		checkAll(t, fmt.Sprintf("SGD %+v bufs", sp), b1, b2)
	}
	lp := kernels.LARSParams{LR: 0.3, Momentum: 0.9, WeightDecay: 1e-4, Eta: 0.02}
	p1, b1, p2, b2 := clone(params), clone(bufs), clone(params), clone(bufs)
	b.LARSStep(lp, p1, grads, b1, []bool{false, false, true, false})
	r.LARSStep(lp, p2, grads, b2, []bool{false, false, true, false})
	checkAll(t, "LARS params", p1, p2)
	checkAll(t, "LARS bufs", b1, b2)
	ap := kernels.AdamWParams{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.05, Step: 3}
	p1, m1, v1 := clone(params), clone(m), clone(v)
	p2, m2, v2 := clone(params), clone(m), clone(v)
	b.AdamWStep(ap, p1, grads, m1, v1, wd)
	r.AdamWStep(ap, p2, grads, m2, v2, wd)
	checkAll(t, "AdamW params", p1, p2)
	checkAll(t, "AdamW m", m1, m2)
	checkAll(t, "AdamW v", v1, v2)
	p1, p2 = clone(params), clone(params)
	b.EMA(0.99, p1, grads)
	r.EMA(0.99, p2, grads)
	checkAll(t, "EMA", p1, p2)
}

func TestMaskPos(t *testing.T) {
	inf := float32(math.Inf(1))
	nan := float32(math.NaN())
	negZero := float32(math.Copysign(0, -1))
	for _, y := range []float32{0, negZero, 1e-45, -1e-45, 1, -1, 3e38, -3e38, inf, -inf, nan, -nan} {
		got := maskPos(y, 2.5)
		want := float32(0)
		if y > 0 {
			want = 2.5
		}
		if got != want {
			t.Errorf("maskPos(%g, 2.5) = %g, want %g", y, got, want)
		}
	}
}
