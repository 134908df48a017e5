package ref

import (
	"fmt"
	"math"
	"testing"

	"hallucinator/tensor"
)

func TestL2NormalizeRows(t *testing.T) {
	rng := tensor.NewRand(14)
	b := New()
	const eps = 1e-3
	for _, sh := range [][2]int{{1, 1}, {7, 13}, {5, 128}} {
		t.Run(fmt.Sprint(sh), func(t *testing.T) {
			m, n := sh[0], sh[1]
			x := rnd(rng, m, n)
			// The last row is tiny: its norm is clamped to eps.
			tiny := x.Data()[(m-1)*n:]
			for j := range tiny {
				tiny[j] *= 1e-5 / float32(n)
			}
			y, norms := garbage(m, n), garbage(m)
			b.L2NormalizeRows(eps, x, y, norms)
			for i := 0; i < m; i++ {
				var ss float64
				for _, v := range x.Data()[i*n : (i+1)*n] {
					ss += float64(v) * float64(v)
				}
				want := math.Max(math.Sqrt(ss), eps)
				checkClose(t, "norm", norms.Data()[i:i+1], []float64{want}, 1e-6)
				wy := f64(x.Data()[i*n : (i+1)*n])
				for j := range wy {
					wy[j] /= want
				}
				checkClose(t, fmt.Sprint("row ", i), y.Data()[i*n:(i+1)*n], wy, 1e-6)
			}
			if norms.Data()[m-1] != eps {
				t.Fatalf("tiny row: norm %v, want the clamp %v", norms.Data()[m-1], eps)
			}
			r := randWeights(rng, m*n)
			dy := tensor.Zeros(m, n)
			for i := range r {
				dy.Data()[i] = float32(r[i])
			}
			dx := garbage(m, n)
			b.L2NormalizeRowsBackward(eps, y, norms, dy, dx)
			loss := func() float64 { b.L2NormalizeRows(eps, x, y, norms); return weighted(r, y.Data()) }
			// The clamped row is linear in x: dx = dy/eps exactly. Check the
			// other rows by differences (the tiny row's step would unclamp it).
			wantTiny := f64(dy.Data()[(m-1)*n:])
			for j := range wantTiny {
				wantTiny[j] /= float64(float32(eps))
			}
			checkClose(t, "clamped row", dx.Data()[(m-1)*n:], wantTiny, 1e-7)
			if m > 1 {
				gradCheck(t, "dx", x.Data()[:(m-1)*n], dx.Data()[:(m-1)*n], loss, 100, 2e-3, nil)
			}
		})
	}
}

func TestSoftmaxCrossEntropy(t *testing.T) {
	rng := tensor.NewRand(16)
	b := New()
	for _, tc := range []struct {
		n, c  int
		scale float32
	}{{1, 1, 1}, {7, 13, 1}, {64, 10, 5}, {3, 1000, 80}} {
		t.Run(fmt.Sprintf("N=%d,C=%d,scale=%v", tc.n, tc.c, tc.scale), func(t *testing.T) {
			logits := rnd(rng, tc.n, tc.c)
			for i := range logits.Data() {
				logits.Data()[i] *= tc.scale
			}
			labels := make([]int32, tc.n)
			for i := range labels {
				labels[i] = int32(rng.IntN(tc.c))
			}
			loss, dl := garbage(1), garbage(tc.n, tc.c)
			b.SoftmaxCrossEntropy(logits, labels, loss, dl)
			// Direct: log-sum-exp with the largest logit factored out.
			var want float64
			for i := 0; i < tc.n; i++ {
				row := f64(logits.Data()[i*tc.c : (i+1)*tc.c])
				mx := row[0]
				for _, v := range row {
					mx = math.Max(mx, v)
				}
				var z float64
				for _, v := range row {
					z += math.Exp(v - mx)
				}
				want += (math.Log(z) + mx - row[labels[i]]) / float64(tc.n)
			}
			checkClose(t, "loss", loss.Data(), []float64{want}, 1e-6)
			loss2 := garbage(1)
			b.SoftmaxCrossEntropy(logits, labels, loss2, nil)
			if loss2.Data()[0] != loss.Data()[0] {
				t.Fatalf("loss without gradient %v, with %v", loss2.Data()[0], loss.Data()[0])
			}
			if tc.c > 1 && tc.scale < 10 {
				gradCheck(t, "dlogits", logits.Data(), dl.Data(), func() float64 {
					b.SoftmaxCrossEntropy(logits, labels, loss2, nil)
					return float64(loss2.Data()[0])
				}, 100, 5e-3, nil)
			}
			// Rows of the gradient sum to 0.
			for i := 0; i < tc.n; i++ {
				var s float64
				for _, v := range dl.Data()[i*tc.c : (i+1)*tc.c] {
					s += float64(v)
				}
				if math.Abs(s) > 1e-6 {
					t.Fatalf("row %d of dlogits sums to %g", i, s)
				}
			}
		})
	}
}
