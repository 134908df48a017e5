package cpu

import (
	"fmt"
	"testing"

	"hallucinator/kernels"
	"hallucinator/tensor"
)

// convCases cover the lowering's paths: pointwise (no copy), one image per
// chunk (direct output), several images per chunk (gather/scatter), strides,
// paddings larger than the filter's half, the 7x7 stem, rectangular
// filters and inputs.
var convCases = []struct {
	n, c, h, w, k, r, s int
	p                   kernels.ConvParams
}{
	{1, 1, 1, 1, 1, 1, 1, kernels.ConvParams{StrideH: 1, StrideW: 1}},
	{2, 3, 5, 7, 4, 3, 3, kernels.ConvParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}},
	{3, 5, 9, 9, 7, 3, 3, kernels.ConvParams{StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}},
	{2, 4, 8, 8, 6, 1, 1, kernels.ConvParams{StrideH: 2, StrideW: 2}},                     // 1x1 downsample
	{3, 6, 7, 5, 5, 1, 1, kernels.ConvParams{StrideH: 1, StrideW: 1}},                     // pointwise
	{1, 13, 31, 31, 17, 1, 1, kernels.ConvParams{StrideH: 1, StrideW: 1}},                 // pointwise, big plane
	{2, 3, 23, 23, 8, 7, 7, kernels.ConvParams{StrideH: 2, StrideW: 2, PadH: 3, PadW: 3}}, // 7x7 stem
	{2, 2, 6, 6, 3, 3, 3, kernels.ConvParams{StrideH: 1, StrideW: 1, PadH: 3, PadW: 3}},   // pad 3 > half filter
	{1, 3, 11, 13, 5, 3, 5, kernels.ConvParams{StrideH: 3, StrideW: 2, PadH: 0, PadW: 2}},
	{5, 7, 4, 4, 9, 3, 3, kernels.ConvParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}},     // many images per chunk
	{67, 8, 4, 4, 16, 3, 3, kernels.ConvParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}},   // several chunks, ragged last
	{2, 1, 28, 28, 16, 3, 3, kernels.ConvParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}},  // Fashion-MNIST stem
	{2, 16, 33, 33, 16, 3, 3, kernels.ConvParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}}, // one image per chunk
	{1, 4, 5, 5, 3, 5, 5, kernels.ConvParams{StrideH: 1, StrideW: 1}},                       // output 1x1
	{3, 160, 24, 23, 4, 3, 3, kernels.ConvParams{StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}},
	{1, 64, 40, 39, 2, 3, 3, kernels.ConvParams{StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}},  // row panels, stride 2
	{2, 100, 17, 19, 3, 3, 3, kernels.ConvParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 0}}, // row panels, not shifted
	{3, 5, 24, 21, 11, 3, 5, kernels.ConvParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 2}},  // grid: odd K, 3x5, two chunks
	{1, 9, 14, 14, 20, 3, 3, kernels.ConvParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}},  // grid, one image
	{4, 3, 17, 16, 8, 5, 5, kernels.ConvParams{StrideH: 1, StrideW: 1, PadH: 2, PadW: 2}},   // grid, 5x5
	{3, 5, 30, 31, 6, 3, 3, kernels.ConvParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}},   // rows of 17..32
	{2, 3, 9, 11, 4, 5, 5, kernels.ConvParams{StrideH: 1, StrideW: 1}},                      // unpadded, not shifted
	{3, 7, 9, 8, 5, 1, 1, kernels.ConvParams{StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}},     // 1x1 in the padding
	{2, 6, 10, 9, 4, 3, 3, kernels.ConvParams{StrideH: 2, StrideW: 1, PadH: 1, PadW: 2}},    // mixed strides
	{1, 3, 5, 6, 2, 3, 3, kernels.ConvParams{StrideH: 1, StrideW: 1, PadH: 2, PadW: 2}},     // taps all in the padding
}

func TestConvAgainstRef(t *testing.T) {
	for _, paths := range []convPaths{{}, {noGrid: true}, {noGrid: true, noDot: true}, {noFlip: true},
		{noFastIm2col: true}, {noFlip: true, noFastIm2col: true}} {
		t.Run(fmt.Sprintf("%+v", paths), func(t *testing.T) { testConvAgainstRef(t, paths) })
	}
}

func testConvAgainstRef(t *testing.T, paths convPaths) {
	b, r := newTestBackends(t)
	b.paths = paths
	rng := tensor.NewRand(1)
	for _, tc := range convCases {
		p, q := tc.p.OutSize(tc.h, tc.w, tc.r, tc.s)
		nameCase := fmt.Sprintf("n%d_c%d_%dx%d_k%d_%dx%d_s%dx%d_p%dx%d", tc.n, tc.c, tc.h, tc.w, tc.k, tc.r, tc.s,
			tc.p.StrideH, tc.p.StrideW, tc.p.PadH, tc.p.PadW)
		t.Run(nameCase, func(t *testing.T) {
			x := randT(rng, tc.n, tc.c, tc.h, tc.w)
			w := randT(rng, tc.k, tc.c, tc.r, tc.s)
			dy := randT(rng, tc.n, tc.k, p, q)
			// Twice, so that the second call runs on reused scratch buffers.
			for rep := 0; rep < 2; rep++ {
				y, yr := nanT(tc.n, tc.k, p, q), tensor.Zeros(tc.n, tc.k, p, q)
				b.Conv2d(tc.p, x, w, y)
				r.Conv2d(tc.p, x, w, yr)
				check(t, "Conv2d", y, yr, 1e-5)

				dx, dxr := nanT(tc.n, tc.c, tc.h, tc.w), tensor.Zeros(tc.n, tc.c, tc.h, tc.w)
				b.Conv2dBackwardData(tc.p, dy, w, dx)
				r.Conv2dBackwardData(tc.p, dy, w, dxr)
				check(t, "Conv2dBackwardData", dx, dxr, 1e-5)

				dw, dwr := nanT(tc.k, tc.c, tc.r, tc.s), tensor.Zeros(tc.k, tc.c, tc.r, tc.s)
				b.Conv2dBackwardFilter(tc.p, x, dy, dw)
				r.Conv2dBackwardFilter(tc.p, x, dy, dwr)
				check(t, "Conv2dBackwardFilter", dw, dwr, 1e-5)
			}
		})
	}
}

// TestConvRowViews runs a convolution on tensors that are row views with an
// offset into larger storages, and checks the storage around them is left
// alone.
func TestConvRowViews(t *testing.T) {
	b, r := newTestBackends(t)
	rng := tensor.NewRand(2)
	cp := kernels.ConvParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}
	big := randT(rng, 7, 3, 6, 6)
	x := big.Rows(2, 5)
	w := randT(rng, 4, 3, 3, 3)
	ybig := tensor.Full(42, 6, 4, 6, 6)
	y := ybig.Rows(1, 4)
	b.Conv2d(cp, x, w, y)
	yr := tensor.Zeros(3, 4, 6, 6)
	r.Conv2d(cp, x.Clone(), w, yr)
	check(t, "Conv2d on views", y.Clone(), yr, 1e-5)
	for _, rows := range [][2]int{{0, 1}, {4, 6}} {
		for _, v := range ybig.Rows(rows[0], rows[1]).Data() {
			if v != 42 {
				t.Fatalf("Conv2d wrote outside its output view (rows %v)", rows)
			}
		}
	}
}

func TestConvBadShapesPanic(t *testing.T) {
	b, _ := newTestBackends(t)
	cp := kernels.ConvParams{StrideH: 1, StrideW: 1}
	for _, f := range []func(){
		func() { b.Conv2d(cp, tensor.Zeros(1, 2, 4, 4), tensor.Zeros(3, 3, 1, 1), tensor.Zeros(1, 3, 4, 4)) },
		func() { b.Conv2d(cp, tensor.Zeros(1, 2, 4, 4), tensor.Zeros(3, 2, 1, 1), tensor.Zeros(1, 3, 3, 4)) },
		func() { b.Conv2d(cp, tensor.Zeros(1, 2, 2, 2), tensor.Zeros(3, 2, 3, 3), tensor.Zeros(1, 3, 1, 1)) },
		func() {
			b.Conv2d(kernels.ConvParams{}, tensor.Zeros(1, 2, 2, 2), tensor.Zeros(3, 2, 1, 1), tensor.Zeros(1, 3, 2, 2))
		},
	} {
		func() {
			defer func() {
				if r := recover(); r == nil {
					t.Error("no panic")
				} else if s, ok := r.(string); !ok || s[:5] != "cpu: " {
					t.Errorf("panic %v does not start with \"cpu: \"", r)
				}
			}()
			f()
		}()
	}
}

func TestIm2colGeometry(t *testing.T) {
	// qRange must agree with a direct scan for every stride, pad and tap.
	for sw := 1; sw <= 3; sw++ {
		for pw := 0; pw <= 3; pw++ {
			for w := 1; w <= 9; w++ {
				for s := 0; s < 5; s++ {
					if w+2*pw < s+1 {
						continue
					}
					g := convGeom{W: w, S: 5, sw: sw, pw: pw}
					g.Q = (w+2*pw-5)/sw + 1
					if g.Q <= 0 {
						continue
					}
					lo, hi := g.qRange(s)
					for q := 0; q < g.Q; q++ {
						iw := q*sw - pw + s
						in := iw >= 0 && iw < w
						if in != (q >= lo && q < hi) {
							t.Fatalf("sw %d pw %d w %d s %d: q %d inside=%v but range [%d,%d)", sw, pw, w, s, q, in, lo, hi)
						}
					}
				}
			}
		}
	}
}
