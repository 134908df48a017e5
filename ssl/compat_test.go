package ssl

import (
	"context"
	"math"
	"strings"
	"testing"

	"hallucinator/autograd"
	"hallucinator/kernels/cpu/ref"
	"hallucinator/nn"
	"hallucinator/tensor"
)

// releasedNTXent is the released NT_Xent_dist (without its factor T / 0.07)
// on feat1 = [z1; h] and feat2 = [z2; z2], written out: the 4N rows are
// L2-normalised, row i's positive is row i+2N (mod 4N), and its denominator
// sums over every row but itself. With twins, the rows of the same image
// other than the positive are left out of the denominator as well (our
// masking). Rows are [N][D]; the loss is the mean of -log p over 4N rows.
func releasedNTXent(z1, h, z2 [][]float64, temp float64, twins bool) float64 {
	n := len(z1)
	var rows [][]float64
	for _, block := range [][][]float64{z1, h, z2, z2} {
		for _, r := range block {
			norm := 0.0
			for _, v := range r {
				norm += v * v
			}
			norm = math.Sqrt(norm)
			u := make([]float64, len(r))
			for j, v := range r {
				u[j] = v / norm
			}
			rows = append(rows, u)
		}
	}
	logit := func(i, j int) float64 {
		s := 0.0
		for d := range rows[i] {
			s += rows[i][d] * rows[j][d]
		}
		return s / temp
	}
	m := len(rows)
	loss := 0.0
	for i := range m {
		pos := (i + m/2) % m
		denom := 0.0
		for j := range m {
			if j == i || (twins && j != pos && j%n == i%n) {
				continue
			}
			denom += math.Exp(logit(i, j))
		}
		loss -= logit(i, pos) - math.Log(denom)
	}
	return loss / float64(m)
}

func rowsOf(t *tensor.Tensor) [][]float64 {
	r, c := t.Dim(0), t.Dim(1)
	d := t.Data()
	out := make([][]float64, r)
	for i := range out {
		out[i] = make([]float64, c)
		for j := range out[i] {
			out[i][j] = float64(d[i*c+j])
		}
	}
	return out
}

func flat(rows ...[][]float64) []float32 {
	var out []float32
	for _, r := range rows {
		for _, row := range r {
			for _, v := range row {
				out = append(out, float32(v))
			}
		}
	}
	return out
}

func relClose(got, want, tol float64) bool {
	return math.Abs(got-want) <= tol*math.Max(1, math.Abs(want))
}

// TestCompatSimCLRTwinsAsNegatives checks that Compat gives the released
// NT-Xent with the Hallucinator, in which an anchor's hallucinated twin and
// the duplicate of its positive count among its negatives, and that without
// Compat those rows are masked: first on fixed vectors (N = 2, D = 4)
// through the loss SimCLR records, then through SimCLR.Loss itself, against
// the loss written out by hand from the projections it made.
func TestCompatSimCLRTwinsAsNegatives(t *testing.T) {
	be := ref.New()
	z1 := [][]float64{{1, 0.5, -0.2, 0.3}, {-0.4, 1, 0.8, 0}}
	h := [][]float64{{0.9, 0.6, -0.1, 0.2}, {-0.3, 0.7, 1, 0.1}}
	z2 := [][]float64{{0.8, 0.2, 0, 0.5}, {0, 1.2, 0.6, -0.3}}
	const temp = 0.5
	released, masked := releasedNTXent(z1, h, z2, temp, false), releasedNTXent(z1, h, z2, temp, true)
	if math.Abs(released-masked) < 0.05 {
		t.Fatalf("released %.6f and masked %.6f losses too close to tell apart", released, masked)
	}
	for _, tc := range []struct {
		name       string
		compat     bool
		want, not  float64
		wantString string
	}{
		{"compat: twins are negatives", true, released, masked, "released"},
		{"default: twins masked", false, masked, released, "masked"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tp := autograd.NewTape(be)
			all := autograd.NewVar(tensor.FromSlice(flat(z1, h, z2, z2), 8, 4), true)
			got := float64(tp.InfoNCE(all, all, nil, ntXentParams(temp, 2, 4, !tc.compat)).Value.Data()[0])
			t.Logf("fixed vectors: loss %.6f, %s by hand %.6f, the other %.6f", got, tc.wantString, tc.want, tc.not)
			if !relClose(got, tc.want, 1e-5) {
				t.Errorf("fixed vectors: loss %.6f, want the %s %.6f (the other is %.6f)", got, tc.wantString, tc.want, tc.not)
			}

			// Through SimCLR.Loss: 3 images.
			c := tinyConfig("simclr", true)
			c.Compat = tc.compat
			s, err := NewSimCLR(be, tensor.NewRand(11), c)
			if err != nil {
				t.Fatal(err)
			}
			rng := tensor.NewRand(12)
			v1 := autograd.NewVar(tensor.RandN(rng, 0, 1, 3, 1, 12, 12), false)
			v2 := autograd.NewVar(tensor.RandN(rng, 0, 1, 3, 1, 12, 12), false)
			l := float64(s.Loss(autograd.NewTape(be), v1, v2, tensor.NewRand(13)).Value.Data()[0])
			pz1, ph, pz2 := rowsOf(s.last.z1.Value.Clone()), rowsOf(s.last.h.Value.Clone()), rowsOf(s.last.z2.Value.Clone())
			want := releasedNTXent(pz1, ph, pz2, float64(c.Temperature), !tc.compat)
			other := releasedNTXent(pz1, ph, pz2, float64(c.Temperature), tc.compat)
			t.Logf("SimCLR.Loss: %.6f, %s by hand %.6f, the other %.6f", l, tc.wantString, want, other)
			if !relClose(l, want, 1e-5) {
				t.Errorf("SimCLR.Loss %.6f, want the %s %.6f (the other is %.6f)", l, tc.wantString, want, other)
			}
			if relClose(want, other, 1e-3) {
				t.Errorf("released %.6f and masked %.6f losses too close to tell apart", want, other)
			}
		})
	}
}

// TestCompatMoCoDoubleEnqueue checks the queue after MoCo steps: with the
// Hallucinator and Compat each step's keys are written twice in a row, as
// the released code enqueues [k; k]; otherwise (and without the Hallucinator,
// where the released code enqueues k) once. The queue is compared row by row
// with the ring buffer replayed by hand, wrap-around included.
func TestCompatMoCoDoubleEnqueue(t *testing.T) {
	be := ref.New()
	const n, size, steps = 4, 24, 4
	for _, tc := range []struct {
		name        string
		hal, compat bool
		copies      int // times each key is enqueued
		wantPtr     int
	}{
		{"hallucinator, compat", true, true, 2, (steps * 2 * n) % size},
		{"hallucinator", true, false, 1, steps * n % size},
		{"no hallucinator, compat", false, true, 1, steps * n % size},
		{"no hallucinator", false, false, 1, steps * n % size},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tinyConfig("mocov2", tc.hal)
			c.Compat, c.QueueSize, c.ShuffleBN = tc.compat, size, 0
			m, err := NewMoCo(be, tensor.NewRand(21), c)
			if err != nil {
				t.Fatal(err)
			}
			want := rowsOf(m.Queue.Clone())
			ptr := 0
			rng := tensor.NewRand(22)
			for step := range steps {
				v1 := autograd.NewVar(tensor.RandN(rng, 0, 1, n, 1, 12, 12), false)
				v2 := autograd.NewVar(tensor.RandN(rng, 0, 1, n, 1, 12, 12), false)
				m.Loss(autograd.NewTape(be), v1, v2, rng)
				keys := rowsOf(m.last.k.Value.Clone())
				m.AfterStep()
				for range tc.copies {
					for _, k := range keys {
						want[ptr] = k
						ptr = (ptr + 1) % size
					}
				}
				if got := int(m.QueuePtr.Data()[0]); got != ptr {
					t.Fatalf("step %d: queue pointer %d, want %d", step+1, got, ptr)
				}
				if step == 0 {
					// The rows after the first keys: their duplicate in
					// Compat, the initial random keys otherwise.
					q := rowsOf(m.Queue.Clone())
					dup := true
					for i := range n {
						for j := range q[i] {
							dup = dup && q[n+i][j] == q[i][j]
						}
					}
					if dup != (tc.copies == 2) {
						t.Errorf("after one step rows %d-%d duplicate rows 0-%d: %v, want %v", n, 2*n-1, n-1, dup, tc.copies == 2)
					}
				}
			}
			if ptr != tc.wantPtr {
				t.Fatalf("replayed pointer %d, want %d", ptr, tc.wantPtr)
			}
			got := rowsOf(m.Queue.Clone())
			for i := range want {
				for j := range want[i] {
					if got[i][j] != want[i][j] {
						t.Fatalf("after %d steps queue row %d col %d = %g, want %g", steps, i, j, got[i][j], want[i][j])
					}
				}
			}
			t.Logf("after %d steps of %d keys: pointer %d", steps, n, ptr)
		})
	}
}

// TestCompatSimSiamUntrainedHallucinator checks that in Compat with a fixed
// predictor learning rate SimSiam's Hallucinator MLP is out of the optimiser
// and keeps its initial weights after a training step, as in the released
// code (its optimiser gets the encoder and the predictor only), while the
// released code without a fixed predictor lr (model.parameters()) and the
// default train it.
func TestCompatSimSiamUntrainedHallucinator(t *testing.T) {
	be := ref.New()
	ds := twoViewData(24)
	for _, tc := range []struct {
		name              string
		compat, fixPredLR bool
		trained           bool
	}{
		{"compat, fixed predictor lr", true, true, false},
		{"compat, scheduled predictor lr", true, false, true},
		{"fixed predictor lr", false, true, true},
		{"scheduled predictor lr", false, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tinyConfig("simsiam", true)
			c.Compat, c.FixPredLR = tc.compat, tc.fixPredLR
			s, err := NewSimSiam(be, tensor.NewRand(31), c)
			if err != nil {
				t.Fatal(err)
			}
			inMain := false
			for _, p := range append(s.MainParams(), s.FixedLRParams()...) {
				inMain = inMain || strings.HasPrefix(p.Name, "hallucinator.")
			}
			if inMain != tc.trained {
				t.Errorf("hallucinator among the optimised parameters: %v, want %v", inMain, tc.trained)
			}
			snap := func(ps []nn.Param) [][]float32 {
				out := make([][]float32, len(ps))
				for i, p := range ps {
					out[i] = append([]float32(nil), p.V.Value.Data()...)
				}
				return out
			}
			maxDiff := func(a, b [][]float32) float64 {
				d := 0.0
				for i := range a {
					for j := range a[i] {
						d = math.Max(d, math.Abs(float64(a[i][j]-b[i][j])))
					}
				}
				return d
			}
			hal, enc := s.Hal.Params(), s.Enc.Params()
			hal0, enc0 := snap(hal), snap(enc)
			tcfg := tinyTrainConfig()
			tcfg.Epochs, tcfg.MaxSteps = 1, 1
			tr, err := NewTrainer(be, s, ds, tcfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := tr.RunEpoch(context.Background(), nil); err != nil {
				t.Fatal(err)
			}
			dHal, dEnc := maxDiff(hal0, snap(hal)), maxDiff(enc0, snap(enc))
			t.Logf("after one step: hallucinator weights moved by up to %.3g, encoder by %.3g", dHal, dEnc)
			if dEnc == 0 {
				t.Fatal("the encoder did not move: no step taken")
			}
			if (dHal > 0) != tc.trained {
				t.Errorf("hallucinator moved by up to %g; want trained %v", dHal, tc.trained)
			}
		})
	}
}
