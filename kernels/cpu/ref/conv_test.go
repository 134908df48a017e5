package ref

import (
	"fmt"
	"math"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"

	"hallucinator/kernels"
	"hallucinator/tensor"
)

// convCase is one convolution shape.
type convCase struct {
	n, c, h, w, k, r, s int
	p                   kernels.ConvParams
}

func (cc convCase) String() string {
	return fmt.Sprintf("N=%d,C=%d,H=%d,W=%d,K=%d,R=%d,S=%d,stride=%dx%d,pad=%dx%d",
		cc.n, cc.c, cc.h, cc.w, cc.k, cc.r, cc.s, cc.p.StrideH, cc.p.StrideW, cc.p.PadH, cc.p.PadW)
}

var convCases = []convCase{
	{1, 1, 1, 1, 1, 1, 1, kernels.ConvParams{StrideH: 1, StrideW: 1}},
	{2, 3, 7, 9, 5, 3, 3, kernels.ConvParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}},
	{2, 3, 13, 11, 4, 3, 3, kernels.ConvParams{StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}},
	{1, 4, 8, 8, 6, 1, 1, kernels.ConvParams{StrideH: 2, StrideW: 2}},
	{2, 3, 17, 17, 4, 7, 7, kernels.ConvParams{StrideH: 2, StrideW: 2, PadH: 3, PadW: 3}},
	{1, 2, 6, 10, 3, 2, 3, kernels.ConvParams{StrideH: 1, StrideW: 3, PadH: 0, PadW: 2}},
	{1, 2, 5, 5, 2, 5, 5, kernels.ConvParams{StrideH: 1, StrideW: 1}},
	{2, 3, 4, 4, 2, 3, 3, kernels.ConvParams{StrideH: 3, StrideW: 3, PadH: 2, PadW: 2}},
}

func TestConv2dHandCase(t *testing.T) {
	x := tensor.FromSlice([]float32{1, 2, 3, 4, 5, 6, 7, 8, 9}, 1, 1, 3, 3)
	w := tensor.FromSlice([]float32{1, 0, 0, -1}, 1, 1, 2, 2)
	for _, tc := range []struct {
		p    kernels.ConvParams
		want []float64
	}{
		{kernels.ConvParams{StrideH: 1, StrideW: 1}, []float64{-4, -4, -4, -4}},
		{kernels.ConvParams{StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}, []float64{-1, -3, -7, -4}},
	} {
		y := garbage(1, 1, 2, 2)
		New().Conv2d(tc.p, x, w, y)
		checkClose(t, fmt.Sprintf("%+v", tc.p), y.Data(), tc.want, 0)
	}
}

func TestConv2d1x1IsGemm(t *testing.T) {
	// A 1x1 stride-1 convolution of image n is W [K, C] times x[n] [C, H*W].
	rng := tensor.NewRand(4)
	b := New()
	const n, c, h, w, k = 3, 13, 5, 7, 11
	x, wt := rnd(rng, n, c, h, w), rnd(rng, k, c, 1, 1)
	y := garbage(n, k, h, w)
	b.Conv2d(kernels.ConvParams{StrideH: 1, StrideW: 1}, x, wt, y)
	for i := 0; i < n; i++ {
		want := tensor.Zeros(k, h*w)
		b.Gemm(false, false, 1, wt.Reshape(k, c), x.Rows(i, i+1).Reshape(c, h*w), 0, want)
		checkClose(t, fmt.Sprintf("image %d", i), y.Rows(i, i+1).Data(), f64(want.Data()), 1e-6)
	}
}

// im2colConv computes the convolution in float64 through an explicit
// im2col matrix and gonum's Gemm.
func im2colConv(cc convCase, x, w []float32) []float64 {
	p, q := cc.p.OutSize(cc.h, cc.w, cc.r, cc.s)
	crs := cc.c * cc.r * cc.s
	out := make([]float64, 0, cc.n*cc.k*p*q)
	wm := blas64.General{Rows: cc.k, Cols: crs, Stride: crs, Data: f64(w)}
	for n := 0; n < cc.n; n++ {
		cols := make([]float64, crs*p*q)
		for c := 0; c < cc.c; c++ {
			for r := 0; r < cc.r; r++ {
				for s := 0; s < cc.s; s++ {
					row := (c*cc.r+r)*cc.s + s
					for i := 0; i < p; i++ {
						for j := 0; j < q; j++ {
							ih, iw := i*cc.p.StrideH-cc.p.PadH+r, j*cc.p.StrideW-cc.p.PadW+s
							if ih >= 0 && ih < cc.h && iw >= 0 && iw < cc.w {
								cols[row*p*q+i*q+j] = float64(x[((n*cc.c+c)*cc.h+ih)*cc.w+iw])
							}
						}
					}
				}
			}
		}
		ym := blas64.General{Rows: cc.k, Cols: p * q, Stride: p * q, Data: make([]float64, cc.k*p*q)}
		blas64.Gemm(blas.NoTrans, blas.NoTrans, 1, wm, blas64.General{Rows: crs, Cols: p * q, Stride: p * q, Data: cols}, 0, ym)
		out = append(out, ym.Data...)
	}
	return out
}

func TestConv2dAgainstIm2col(t *testing.T) {
	rng := tensor.NewRand(5)
	for _, cc := range convCases {
		t.Run(cc.String(), func(t *testing.T) {
			x, w := rnd(rng, cc.n, cc.c, cc.h, cc.w), rnd(rng, cc.k, cc.c, cc.r, cc.s)
			p, q := cc.p.OutSize(cc.h, cc.w, cc.r, cc.s)
			y := garbage(cc.n, cc.k, p, q)
			New().Conv2d(cc.p, x, w, y)
			checkClose(t, "y", y.Data(), im2colConv(cc, x.Data(), w.Data()), 1e-6)
		})
	}
}

// inner returns the float64 inner product and the sum of |terms|.
func inner(a, b []float32) (s, abs float64) {
	for i, v := range a {
		t := float64(v) * float64(b[i])
		s += t
		abs += math.Abs(t)
	}
	return s, abs
}

func TestConv2dBackwardAdjoint(t *testing.T) {
	// <conv(x, w), dy> = <x, dX(dy, w)> = <w, dW(x, dy)>.
	rng := tensor.NewRand(6)
	b := New()
	for _, cc := range convCases {
		t.Run(cc.String(), func(t *testing.T) {
			p, q := cc.p.OutSize(cc.h, cc.w, cc.r, cc.s)
			x, w, dy := rnd(rng, cc.n, cc.c, cc.h, cc.w), rnd(rng, cc.k, cc.c, cc.r, cc.s), rnd(rng, cc.n, cc.k, p, q)
			y, dx, dw := garbage(cc.n, cc.k, p, q), garbage(cc.n, cc.c, cc.h, cc.w), garbage(cc.k, cc.c, cc.r, cc.s)
			b.Conv2d(cc.p, x, w, y)
			b.Conv2dBackwardData(cc.p, dy, w, dx)
			b.Conv2dBackwardFilter(cc.p, x, dy, dw)
			lhs, scale := inner(y.Data(), dy.Data())
			rx, _ := inner(x.Data(), dx.Data())
			rw, _ := inner(w.Data(), dw.Data())
			if math.Abs(lhs-rx) > 1e-6*scale || math.Abs(lhs-rw) > 1e-6*scale {
				t.Fatalf("<y,dy> = %.8g, <x,dx> = %.8g, <w,dw> = %.8g", lhs, rx, rw)
			}
		})
	}
}

func TestConv2dBackwardDataUnreadCells(t *testing.T) {
	// Stride 2 with a 1x1 filter reads only even cells: the others get 0.
	rng := tensor.NewRand(7)
	p := kernels.ConvParams{StrideH: 2, StrideW: 2}
	w, dy := rnd(rng, 3, 2, 1, 1), rnd(rng, 1, 3, 3, 3)
	dx := garbage(1, 2, 5, 6)
	New().Conv2dBackwardData(p, dy, w, dx)
	for c := 0; c < 2; c++ {
		for h := 0; h < 5; h++ {
			for x := 0; x < 6; x++ {
				v := dx.At(0, c, h, x)
				if (h%2 == 1 || x%2 == 1) && v != 0 {
					t.Fatalf("dx[%d,%d,%d] = %v, want 0", c, h, x, v)
				}
				if h%2 == 0 && x%2 == 0 && v == 0 {
					t.Fatalf("dx[%d,%d,%d] = 0", c, h, x)
				}
			}
		}
	}
}
