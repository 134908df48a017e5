package autograd_test

import (
	"fmt"
	"math"
	"testing"

	"hallucinator/autograd"
	"hallucinator/kernels"
	"hallucinator/kernels/cpu/ref"
	"hallucinator/tensor"
)

// normRows returns the rows of x [M, N] divided by max(norm, eps), in
// float64.
func normRows(x *tensor.Tensor, eps float64) [][]float64 {
	m, n := x.Dim(0), x.Dim(1)
	out := make([][]float64, m)
	for i := range out {
		var ss float64
		for j := 0; j < n; j++ {
			ss += float64(x.At(i, j)) * float64(x.At(i, j))
		}
		nrm := math.Max(math.Sqrt(ss), eps)
		out[i] = make([]float64, n)
		for j := range out[i] {
			out[i][j] = float64(x.At(i, j)) / nrm
		}
	}
	return out
}

func TestL2Normalize(t *testing.T) {
	be := ref.New()
	for i, c := range []struct {
		m, n int
		eps  float32
		std  float32
	}{
		{1, 1, 1e-12, 1},
		{3, 5, 1e-12, 1},
		{7, 2, 1e-8, 2},
		{4, 16, 1e-12, 0.3},
		// Norms of about 0.3 against eps 1.5 and about 3 against it: some
		// rows clamped, some not, all far from the boundary.
		{6, 9, 1.5, 0},
	} {
		t.Run(fmt.Sprintf("%dx%d,eps=%g", c.m, c.n, c.eps), func(t *testing.T) {
			var x *tensor.Tensor
			if c.std > 0 {
				x = randScaled(uint64(2100+i), c.std, c.m, c.n)
			} else {
				x = randn(uint64(2100+i), c.m, c.n)
				for r := 0; r < c.m; r++ {
					s := float32(0.1)
					if r%2 == 1 {
						s = 1
					}
					for j := 0; j < c.n; j++ {
						x.Set(s*x.At(r, j), r, j)
					}
				}
			}
			f := func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var { return tp.L2Normalize(in[0], c.eps) }
			y := f(autograd.NewTape(be), []*autograd.Var{autograd.NewVar(x, false)})
			var want []float64
			for _, r := range normRows(x, float64(c.eps)) {
				want = append(want, r...)
			}
			assertClose(t, "L2Normalize", y.Value.Data(), want, 1e-5)
			gradCheck(t, f, autograd.GradCheckOptions{Seed: uint64(i)}, x)
		})
	}
}

func TestSoftmaxCrossEntropy(t *testing.T) {
	be := ref.New()
	for i, c := range []struct{ n, c int }{{1, 1}, {1, 2}, {5, 3}, {7, 10}, {3, 17}} {
		t.Run(fmt.Sprintf("%dx%d", c.n, c.c), func(t *testing.T) {
			x := randScaled(uint64(2200+i), 2, c.n, c.c)
			rng := tensor.NewRand(uint64(2300 + i))
			labels := make([]int32, c.n)
			for j := range labels {
				labels[j] = int32(rng.IntN(c.c))
			}
			f := func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var {
				return tp.SoftmaxCrossEntropy(in[0], labels)
			}
			y := f(autograd.NewTape(be), []*autograd.Var{autograd.NewVar(x, true)})
			var want float64
			for r := 0; r < c.n; r++ {
				mx := math.Inf(-1)
				for j := 0; j < c.c; j++ {
					mx = math.Max(mx, float64(x.At(r, j)))
				}
				var s float64
				for j := 0; j < c.c; j++ {
					s += math.Exp(float64(x.At(r, j)) - mx)
				}
				want += (mx + math.Log(s) - float64(x.At(r, int(labels[r])))) / float64(c.n)
			}
			if !tensor.EqualShape(y.Shape(), []int{1}) {
				t.Fatalf("shape %v, want [1]", y.Shape())
			}
			assertClose(t, "loss", y.Value.Data(), []float64{want}, 1e-5)
			gradCheck(t, f, autograd.GradCheckOptions{Seed: uint64(i)}, x)
		})
	}
}

func TestSoftmaxCrossEntropyBadLabels(t *testing.T) {
	tp := autograd.NewTape(ref.New())
	x := autograd.NewVar(tensor.Zeros(2, 3), true)
	mustPanic(t, "autograd: SoftmaxCrossEntropy", func() { tp.SoftmaxCrossEntropy(x, []int32{0}) })
	mustPanic(t, "autograd: SoftmaxCrossEntropy", func() { tp.SoftmaxCrossEntropy(x, []int32{0, 3}) })
	mustPanic(t, "autograd: SoftmaxCrossEntropy", func() { tp.SoftmaxCrossEntropy(x, []int32{-1, 0}) })
}

// naiveInfoNCE is InfoNCEParams' definition in float64.
func naiveInfoNCE(q, k, queue *tensor.Tensor, p kernels.InfoNCEParams) float64 {
	qn, kn := normRows(q, 1e-12), normRows(k, 1e-12)
	var qu [][]float64
	if queue != nil {
		for r := 0; r < queue.Dim(0); r++ {
			qu = append(qu, f64(queue.Rows(r, r+1)))
		}
	}
	dot := func(a, b []float64) float64 {
		var s float64
		for i := range a {
			s += a[i] * b[i]
		}
		return s
	}
	T := float64(p.Temperature)
	var loss float64
	for i, a := range qn {
		pos := dot(a, kn[p.Pos[i]]) / T
		logits := []float64{pos}
		if p.InBatchNegatives {
			for j, key := range kn {
				if j == int(p.Pos[i]) || (p.Self != nil && j == int(p.Self[i])) ||
					(p.Twins && p.KeyID[j] == p.AnchorID[i]) {
					continue
				}
				logits = append(logits, dot(a, key)/T)
			}
		}
		for _, key := range qu {
			logits = append(logits, dot(a, key)/T)
		}
		mx := math.Inf(-1)
		for _, l := range logits {
			mx = math.Max(mx, l)
		}
		var s float64
		for _, l := range logits {
			s += math.Exp(l - mx)
		}
		loss += mx + math.Log(s) - pos
	}
	return loss / float64(len(qn))
}

func TestInfoNCE(t *testing.T) {
	be := ref.New()
	seq := func(n, off, mod int) []int32 {
		s := make([]int32, n)
		for i := range s {
			s[i] = int32((i + off) % mod)
		}
		return s
	}
	for i, c := range []struct {
		name     string
		a, b, qn int // anchors, keys, queue rows
		d        int
		same     bool // q and k are one Var
		p        kernels.InfoNCEParams
	}{
		{"moco", 5, 5, 7, 8, false, kernels.InfoNCEParams{Temperature: 0.2, Pos: seq(5, 0, 5)}},
		{"moco-hallucinated", 6, 3, 4, 5, false, kernels.InfoNCEParams{Temperature: 0.5, Pos: seq(6, 0, 3)}},
		{"in-batch", 4, 4, 0, 3, false, kernels.InfoNCEParams{Temperature: 0.5, Pos: seq(4, 0, 4), InBatchNegatives: true}},
		{"simclr", 6, 6, 0, 7, true, kernels.InfoNCEParams{Temperature: 0.5, Pos: seq(6, 3, 6), Self: seq(6, 0, 6), InBatchNegatives: true}},
		{"twins", 6, 6, 2, 4, false, kernels.InfoNCEParams{Temperature: 0.3, Pos: seq(6, 0, 6), InBatchNegatives: true,
			Twins: true, AnchorID: seq(6, 0, 3), KeyID: seq(6, 0, 3)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			q := randn(uint64(2400+i), c.a, c.d)
			k := randn(uint64(2500+i), c.b, c.d)
			if c.same {
				k = q
			}
			var queue *tensor.Tensor
			if c.qn > 0 {
				raw := randn(uint64(2600+i), c.qn, c.d)
				queue = tensor.Zeros(c.qn, c.d)
				be.L2NormalizeRows(1e-12, raw, queue, tensor.Zeros(c.qn))
			}
			f := func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var {
				if c.same {
					return tp.InfoNCE(in[0], in[0], queue, c.p)
				}
				return tp.InfoNCE(in[0], in[1], queue, c.p)
			}
			vars := []*autograd.Var{autograd.NewVar(q, true), autograd.NewVar(k, true)}
			y := f(autograd.NewTape(be), vars)
			assertClose(t, "loss", y.Value.Data(), []float64{naiveInfoNCE(q, k, queue, c.p)}, 1e-5)
			inputs := []*tensor.Tensor{q, k}
			if c.same {
				inputs = inputs[:1]
			}
			gradCheck(t, f, autograd.GradCheckOptions{Seed: uint64(i)}, inputs...)
		})
	}
}

// TestInfoNCEKeyWithoutGrad is MoCo's case: the keys come from the momentum
// encoder and need no gradient.
func TestInfoNCEKeyWithoutGrad(t *testing.T) {
	be := ref.New()
	q, k := randn(2700, 4, 6), randn(2701, 4, 6)
	p := kernels.InfoNCEParams{Temperature: 0.2, Pos: []int32{0, 1, 2, 3}, InBatchNegatives: true}
	gradCheck(t, func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var {
		return tp.InfoNCE(in[0], autograd.NewVar(k, false), nil, p)
	}, autograd.GradCheckOptions{Seed: 5}, q)
	tp := autograd.NewTape(be)
	kv := autograd.NewVar(k, false)
	qv := autograd.NewVar(q, true)
	tp.Backward(tp.InfoNCE(qv, kv, nil, p))
	if kv.Grad != nil || !qv.HasGrad() {
		t.Fatalf("key gradient %v, query has gradient %v", kv.Grad, qv.HasGrad())
	}
}
