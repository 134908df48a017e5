package ref

import (
	"fmt"
	"math"
	"testing"

	"hallucinator/kernels"
	"hallucinator/tensor"
)

var bnShapes = [][]int{{7, 13}, {2, 3}, {2, 3, 5, 7}, {3, 4, 1, 1}, {1, 5, 3, 3}}

// perChannel returns the values of channel ch of x [N, C, ...].
func perChannel(x *tensor.Tensor, ch int) []float64 {
	n, c := x.Dim(0), x.Dim(1)
	hw := x.Numel() / (n * c)
	var out []float64
	for i := 0; i < n; i++ {
		out = append(out, f64(x.Data()[(i*c+ch)*hw:(i*c+ch+1)*hw])...)
	}
	return out
}

func meanVar(v []float64) (mean, biased float64) {
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	for _, x := range v {
		biased += (x - mean) * (x - mean)
	}
	return mean, biased / float64(len(v))
}

func TestBatchNormTrainStatistics(t *testing.T) {
	rng := tensor.NewRand(8)
	b := New()
	for _, sh := range bnShapes {
		t.Run(fmt.Sprint(sh), func(t *testing.T) {
			c := sh[1]
			x := rnd(rng, sh...)
			// Shift and scale channels so that statistics are not trivial.
			for i := range x.Data() {
				x.Data()[i] = 3*x.Data()[i] + 2
			}
			p := kernels.BNParams{Eps: 1e-5, Momentum: 0.1}
			rm0, rv0 := rnd(rng, c), rnd(rng, c)
			for i := range rv0.Data() {
				rv0.Data()[i] = float32(math.Abs(float64(rv0.Data()[i])))
			}
			rm, rv := rm0.Clone(), rv0.Clone()
			y, sm, si := garbage(sh...), garbage(c), garbage(c)
			b.BatchNormTrain(p, x, tensor.Ones(c), tensor.Zeros(c), y, sm, si, rm, rv)
			for ch := 0; ch < c; ch++ {
				v := perChannel(x, ch)
				mean, biased := meanVar(v)
				m := float64(len(v))
				checkClose(t, "saveMean", sm.Data()[ch:ch+1], []float64{mean}, 1e-6)
				checkClose(t, "saveInvstd", si.Data()[ch:ch+1], []float64{1 / math.Sqrt(biased+1e-5)}, 1e-6)
				checkClose(t, "runMean", rm.Data()[ch:ch+1], []float64{0.9*float64(rm0.Data()[ch]) + 0.1*mean}, 1e-6)
				checkClose(t, "runVar", rv.Data()[ch:ch+1], []float64{0.9*float64(rv0.Data()[ch]) + 0.1*biased*m/(m-1)}, 1e-6)
				ym, yv := meanVar(perChannel(y, ch))
				if math.Abs(ym) > 1e-6 || math.Abs(yv*(biased+1e-5)/biased-1) > 1e-5 {
					t.Errorf("channel %d: output mean %.3g, variance %.8g", ch, ym, yv)
				}
			}
		})
	}
}

func TestBatchNormAffineReLUAndInfer(t *testing.T) {
	rng := tensor.NewRand(9)
	b := New()
	sh := []int{3, 4, 5, 2}
	x, g, be := rnd(rng, sh...), rnd(rng, 4), rnd(rng, 4)
	for _, relu := range []bool{false, true} {
		p := kernels.BNParams{Eps: 1e-3, Momentum: 0.3, ReLU: relu}
		y, sm, si := garbage(sh...), garbage(4), garbage(4)
		b.BatchNormTrain(p, x, g, be, y, sm, si, tensor.Zeros(4), tensor.Ones(4))
		// Inference with running statistics equal to the batch statistics
		// (biased variance) reproduces the training output.
		rv := tensor.Zeros(4)
		for ch := 0; ch < 4; ch++ {
			_, biased := meanVar(perChannel(x, ch))
			rv.Data()[ch] = float32(biased)
		}
		yi := garbage(sh...)
		b.BatchNormInfer(p, x, g, be, sm, rv, yi)
		checkClose(t, fmt.Sprintf("infer relu=%v", relu), yi.Data(), f64(y.Data()), 1e-6)
		want := make([]float64, x.Numel())
		hw := 10
		for i := range want {
			ch := (i / hw) % 4
			v := float64(g.Data()[ch])*(float64(x.Data()[i])-float64(sm.Data()[ch]))*float64(si.Data()[ch]) + float64(be.Data()[ch])
			if relu {
				v = math.Max(v, 0)
			}
			want[i] = v
		}
		checkClose(t, fmt.Sprintf("train relu=%v", relu), y.Data(), want, 1e-6)
	}
}

func TestBatchNormBackwardFiniteDifferences(t *testing.T) {
	rng := tensor.NewRand(10)
	b := New()
	// Two values per channel make the output nearly constant in x and the
	// differences all curvature: the smallest case here has five.
	for _, sh := range [][]int{{7, 13}, {5, 3}, {2, 3, 5, 7}, {5, 4, 1, 1}, {1, 5, 3, 3}} {
		for _, relu := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v,relu=%v", sh, relu), func(t *testing.T) {
				c := sh[1]
				p := kernels.BNParams{Eps: 1e-5, Momentum: 0.1, ReLU: relu}
				x, g, be := rnd(rng, sh...), rnd(rng, c), rnd(rng, c)
				r := randWeights(rng, x.Numel())
				y, sm, si := garbage(sh...), garbage(c), garbage(c)
				forward := func() {
					b.BatchNormTrain(p, x, g, be, y, sm, si, tensor.Zeros(c), tensor.Ones(c))
				}
				forward()
				dy := tensor.Zeros(sh...)
				for i := range r {
					dy.Data()[i] = float32(r[i])
				}
				dx, dg, db := garbage(sh...), garbage(c), garbage(c)
				b.BatchNormBackward(p, x, y, dy, g, sm, si, dx, dg, db)
				mask := append([]float32(nil), y.Data()...)
				loss := func() float64 { forward(); return weighted(r, y.Data()) }
				kink := func() bool {
					for i, v := range y.Data() {
						if (v > 0) != (mask[i] > 0) {
							return true
						}
					}
					return false
				}
				if !relu {
					kink = nil
				}
				gradCheck(t, "dx", x.Data(), dx.Data(), loss, 60, 2e-3, kink)
				gradCheck(t, "dgamma", g.Data(), dg.Data(), loss, 60, 2e-3, kink)
				gradCheck(t, "dbeta", be.Data(), db.Data(), loss, 60, 2e-3, kink)
			})
		}
	}
}
