package ref

import (
	"fmt"
	"math"
	"testing"

	"hallucinator/kernels"
	"hallucinator/tensor"
)

func TestMaxPoolHandCaseTies(t *testing.T) {
	x := tensor.FromSlice([]float32{
		1, 3, 3, 0,
		2, 3, 1, 1,
		0, 0, 5, 5,
		4, 0, 5, 2,
	}, 1, 1, 4, 4)
	p := kernels.PoolParams{KH: 2, KW: 2, StrideH: 2, StrideW: 2}
	y := garbage(1, 1, 2, 2)
	b := New()
	b.MaxPool2d(p, x, y)
	checkClose(t, "y", y.Data(), []float64{3, 3, 4, 5}, 0)
	dx := garbage(1, 1, 4, 4)
	b.MaxPool2dBackward(p, x, y, tensor.FromSlice([]float32{10, 20, 30, 40}, 1, 1, 2, 2), dx)
	checkClose(t, "dx", dx.Data(), []float64{
		0, 10, 20, 0,
		0, 0, 0, 0,
		0, 0, 40, 0,
		30, 0, 0, 0,
	}, 0)
}

var poolCases = []struct {
	n, c, h, w int
	p          kernels.PoolParams
}{
	{1, 1, 1, 1, kernels.PoolParams{KH: 1, KW: 1, StrideH: 1, StrideW: 1}},
	{2, 3, 16, 16, kernels.PoolParams{KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}},
	{1, 2, 7, 9, kernels.PoolParams{KH: 2, KW: 2, StrideH: 2, StrideW: 2}},
	{2, 2, 5, 6, kernels.PoolParams{KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}},
	{1, 3, 6, 11, kernels.PoolParams{KH: 2, KW: 3, StrideH: 1, StrideW: 2, PadH: 1, PadW: 0}},
}

func TestMaxPoolNegativeInputsAndPadding(t *testing.T) {
	// All inputs negative: a padding that counted as 0 would win.
	rng := tensor.NewRand(11)
	for _, tc := range poolCases {
		t.Run(fmt.Sprintf("%dx%dx%dx%d,%+v", tc.n, tc.c, tc.h, tc.w, tc.p), func(t *testing.T) {
			x := rnd(rng, tc.n, tc.c, tc.h, tc.w)
			for i, v := range x.Data() {
				x.Data()[i] = -float32(math.Abs(float64(v)))
			}
			p, q := tc.p.OutSize(tc.h, tc.w)
			y := garbage(tc.n, tc.c, p, q)
			New().MaxPool2d(tc.p, x, y)
			var want []float64
			for i := 0; i < tc.n*tc.c; i++ {
				for a := 0; a < p; a++ {
					for bq := 0; bq < q; bq++ {
						var vals []float64
						for r := 0; r < tc.p.KH; r++ {
							for s := 0; s < tc.p.KW; s++ {
								ih, iw := a*tc.p.StrideH-tc.p.PadH+r, bq*tc.p.StrideW-tc.p.PadW+s
								if ih >= 0 && ih < tc.h && iw >= 0 && iw < tc.w {
									vals = append(vals, float64(x.Data()[(i*tc.h+ih)*tc.w+iw]))
								}
							}
						}
						mx := math.Inf(-1)
						for _, v := range vals {
							mx = math.Max(mx, v)
						}
						want = append(want, mx)
					}
				}
			}
			checkClose(t, "y", y.Data(), want, 0)
		})
	}
}

func TestMaxPoolBackwardFiniteDifferences(t *testing.T) {
	rng := tensor.NewRand(12)
	b := New()
	for _, tc := range poolCases {
		t.Run(fmt.Sprintf("%dx%dx%dx%d,%+v", tc.n, tc.c, tc.h, tc.w, tc.p), func(t *testing.T) {
			x := rnd(rng, tc.n, tc.c, tc.h, tc.w)
			p, q := tc.p.OutSize(tc.h, tc.w)
			y := garbage(tc.n, tc.c, p, q)
			b.MaxPool2d(tc.p, x, y)
			r := randWeights(rng, y.Numel())
			dy := tensor.Zeros(y.Shape()...)
			for i := range r {
				dy.Data()[i] = float32(r[i])
			}
			dx := garbage(x.Shape()...)
			b.MaxPool2dBackward(tc.p, x, y, dy, dx)
			loss := func() float64 { b.MaxPool2d(tc.p, x, y); return weighted(r, y.Data()) }
			// A step that moves a window's maximum to another cell crosses
			// a kink: the routing, and so the gradient, changes. Such
			// coordinates are skipped.
			dx2 := garbage(x.Shape()...)
			gradCheck(t, "dx", x.Data(), dx.Data(), loss, 200, 1e-4, func() bool {
				b.MaxPool2dBackward(tc.p, x, y, dy, dx2)
				for i, v := range dx2.Data() {
					if v != dx.Data()[i] {
						return true
					}
				}
				return false
			})
		})
	}
}

func TestGlobalAvgPool(t *testing.T) {
	rng := tensor.NewRand(13)
	b := New()
	for _, sh := range [][]int{{1, 1, 1, 1}, {2, 3, 5, 7}, {4, 16, 4, 4}} {
		x := rnd(rng, sh...)
		y := garbage(sh[0], sh[1])
		b.GlobalAvgPool(x, y)
		hw := sh[2] * sh[3]
		want := make([]float64, sh[0]*sh[1])
		for i := range want {
			for _, v := range x.Data()[i*hw : (i+1)*hw] {
				want[i] += float64(v) / float64(hw)
			}
		}
		checkClose(t, fmt.Sprint("y ", sh), y.Data(), want, 1e-6)
		// Adjoint: <gap(x), dy> = <x, gapBackward(dy)>.
		dy, dx := rnd(rng, sh[0], sh[1]), garbage(sh...)
		b.GlobalAvgPoolBackward(dy, dx)
		l, scale := inner(y.Data(), dy.Data())
		r, _ := inner(x.Data(), dx.Data())
		if math.Abs(l-r) > 1e-6*scale {
			t.Errorf("%v: <y,dy> = %.8g, <x,dx> = %.8g", sh, l, r)
		}
		for i, v := range dx.Data() {
			if v != float32(float64(dy.Data()[i/hw])/float64(hw)) {
				t.Fatalf("%v: dx[%d] = %v", sh, i, v)
			}
		}
	}
}
