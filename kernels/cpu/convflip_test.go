package cpu

import (
	"fmt"
	"testing"

	"hallucinator/kernels"
	"hallucinator/tensor"
)

// TestConvBackwardDataFlipped checks the backward data pass of stride-1
// convolutions against the reference, on the forward path with flipped
// filters and, for comparison, on col2im. flip says which route the
// backend takes by default.
func TestConvBackwardDataFlipped(t *testing.T) {
	cases := []struct {
		n, c, h, w, k, r, s, ph, pw int
		flip                        bool
	}{
		{1, 5, 5, 7, 3, 3, 3, 1, 1, true},      // odd channels, non-square
		{7, 5, 9, 6, 3, 3, 3, 1, 1, true},      // batch 7, fewer filters than channels
		{7, 1, 8, 8, 1, 3, 3, 1, 1, true},      // one channel, one filter
		{1, 9, 11, 13, 9, 5, 5, 2, 2, true},    // 5x5 same
		{2, 6, 9, 7, 6, 5, 5, 0, 0, true},      // 5x5 unpadded
		{3, 6, 8, 10, 5, 5, 5, 1, 2, true},     // 5x5, pad 1 x 2
		{1, 11, 6, 7, 11, 3, 3, 0, 0, true},    // unpadded 3x3
		{2, 5, 7, 9, 4, 3, 3, 2, 2, true},      // pad 2 = R-1
		{7, 5, 4, 4, 5, 3, 5, 1, 2, true},      // rectangular filter
		{1, 13, 28, 28, 13, 3, 3, 1, 1, true},  // rows of 28
		{7, 11, 14, 14, 11, 3, 3, 1, 1, true},  // rows of 14, several images per panel
		{7, 17, 4, 4, 17, 3, 3, 1, 1, true},    // 4x4 planes
		{3, 3, 40, 37, 3, 3, 3, 1, 1, true},    // rows of 37
		{2, 100, 17, 19, 90, 3, 3, 1, 0, true}, // row panels
		{1, 3, 6, 5, 7, 1, 1, 0, 0, false},     // pointwise: its own SGEMM
		{7, 7, 5, 9, 7, 1, 3, 0, 1, true},      // 1x3
		{2, 3, 10, 9, 16, 3, 3, 1, 1, false},   // more filters than channels: col2im
		{1, 7, 9, 5, 8, 3, 3, 1, 1, false},     // one filter more than channels: col2im
		{2, 4, 6, 6, 3, 3, 3, 3, 3, false},     // pad 3 > R-1: col2im
		{1, 5, 1, 1, 6, 1, 1, 0, 0, false},     // 1x1 image, pointwise
		{3, 9, 2, 3, 4, 2, 2, 1, 1, true},      // even filter, pad R-1
	}
	b, r := newTestBackends(t)
	rng := tensor.NewRand(11)
	for _, tc := range cases {
		cp := kernels.ConvParams{StrideH: 1, StrideW: 1, PadH: tc.ph, PadW: tc.pw}
		p, q := cp.OutSize(tc.h, tc.w, tc.r, tc.s)
		name := fmt.Sprintf("n%d_c%d_%dx%d_k%d_%dx%d_p%dx%d", tc.n, tc.c, tc.h, tc.w, tc.k, tc.r, tc.s, tc.ph, tc.pw)
		t.Run(name, func(t *testing.T) {
			g, _ := convSetup("test", cp, []int{tc.n, tc.c, tc.h, tc.w}, []int{tc.k, tc.c, tc.r, tc.s}, []int{tc.n, tc.k, p, q})
			_, ok := g.flipped()
			if got := ok && !g.pointwise() && b.useFlip(&g); got != tc.flip {
				t.Fatalf("flipped route taken: %v, want %v", got, tc.flip)
			}
			w := randT(rng, tc.k, tc.c, tc.r, tc.s)
			dy := randT(rng, tc.n, tc.k, p, q)
			want := tensor.Zeros(tc.n, tc.c, tc.h, tc.w)
			r.Conv2dBackwardData(cp, dy, w, want)
			for _, paths := range []convPaths{{}, {noFastIm2col: true}, {noFlip: true}} {
				b.paths = paths
				// Twice: the second call reuses the scratch buffers.
				for rep := 0; rep < 2; rep++ {
					got := nanT(tc.n, tc.c, tc.h, tc.w)
					b.Conv2dBackwardData(cp, dy, w, got)
					check(t, fmt.Sprintf("%+v", paths), got, want, 1e-5)
				}
			}
			b.paths = convPaths{}
		})
	}
}

// TestFlippedGeometry checks that the flipped convolution of every
// stride-1 geometry whose padding allows it is H x W, and that the others
// have none.
func TestFlippedGeometry(t *testing.T) {
	for _, sh := range []int{1, 2} {
		for r := 1; r <= 5; r++ {
			for s := 1; s <= 4; s++ {
				for ph := 0; ph <= 4; ph++ {
					for pw := 0; pw <= 3; pw++ {
						for _, hw := range [][2]int{{5, 7}, {8, 4}, {13, 13}} {
							g := convGeom{C: 3, H: hw[0], W: hw[1], K: 4, R: r, S: s, sh: sh, sw: 1, ph: ph, pw: pw}
							g.P, g.Q = kernels.ConvParams{StrideH: sh, StrideW: 1, PadH: ph, PadW: pw}.OutSize(g.H, g.W, r, s)
							fg, ok := g.flipped()
							if want := sh == 1 && ph <= r-1 && pw <= s-1; ok != want {
								t.Fatalf("%+v: flipped ok=%v, want %v", g, ok, want)
							}
							if !ok {
								continue
							}
							p, q := kernels.ConvParams{StrideH: 1, StrideW: 1, PadH: fg.ph, PadW: fg.pw}.OutSize(fg.H, fg.W, r, s)
							if fg.P != g.H || fg.Q != g.W || p != g.H || q != g.W || fg.C != g.K || fg.K != g.C {
								t.Fatalf("%+v: flipped %+v, output %dx%d", g, fg, p, q)
							}
						}
					}
				}
			}
		}
	}
}

// TestFlipFilters checks wf[c, k, r, s] = w[k, c, R-1-r, S-1-s] entry by
// entry, on one thread and on two.
func TestFlipFilters(t *testing.T) {
	b, _ := newTestBackends(t)
	rng := tensor.NewRand(12)
	for _, sz := range [][4]int{{3, 5, 3, 3}, {7, 2, 5, 1}, {1, 1, 1, 1}, {64, 129, 3, 3}} {
		k, c, r, s := sz[0], sz[1], sz[2], sz[3]
		g := convGeom{C: c, K: k, R: r, S: s}
		w := randT(rng, k, c, r, s).Data()
		wf := make([]float32, len(w))
		b.flipFilters(&g, w, wf)
		for ki := 0; ki < k; ki++ {
			for ci := 0; ci < c; ci++ {
				for ri := 0; ri < r; ri++ {
					for si := 0; si < s; si++ {
						got := wf[((ci*k+ki)*r+ri)*s+si]
						want := w[((ki*c+ci)*r+r-1-ri)*s+s-1-si]
						if got != want {
							t.Fatalf("%v: wf[%d,%d,%d,%d] = %v, want %v", sz, ci, ki, ri, si, got, want)
						}
					}
				}
			}
		}
	}
}
