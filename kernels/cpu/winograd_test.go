package cpu

import (
	"fmt"
	"math"
	"testing"

	"hallucinator/kernels"
	"hallucinator/tensor"
)

// winoCases are awkward shapes for the Winograd path: odd planes (partial
// tiles), planes of one pixel, one tile row, tails of fewer than 16 tiles,
// few and odd channels, single images and odd batches; planes transformed
// a chunk at a time (up to 16 columns and 63 tiles) and an image at a time,
// with the streams copied in assembly (up to 16 columns) or in Go.
var winoCases = []struct{ n, c, h, w, k int }{
	{1, 3, 7, 9, 5},
	{5, 3, 13, 13, 33},
	{1, 1, 1, 1, 1},
	{2, 33, 1, 1, 7},
	{5, 64, 7, 9, 33},
	{1, 33, 13, 13, 64},
	{3, 8, 2, 2, 16},
	{2, 16, 1, 9, 3},
	{2, 5, 9, 1, 4},
	{5, 64, 8, 8, 64},
	{2, 32, 32, 32, 32},
	{1, 17, 34, 31, 19},
	{3, 64, 4, 4, 128},
	{2, 40, 16, 15, 36},
	{3, 6, 3, 30, 5},
	{2, 3, 5, 37, 4},
}

// TestWinogradAgainstRef checks the forward, backward data and backward
// filter passes of the Winograd path (forced on every shape) against the
// reference. F(2x2, 3x3) rounds differently from a direct sum: the
// tolerance grows with the square root of the terms summed, about 6 times
// the largest error seen, which is logged.
func TestWinogradAgainstRef(t *testing.T) {
	if !hasAVX512 {
		t.Skip("Winograd runs with AVX-512 only")
	}
	b, r := newTestBackends(t)
	rng := tensor.NewRand(7)
	cp := kernels.ConvParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}
	var worst, worstF float64
	for _, tc := range winoCases {
		// The backward filter's products on the dot-product tiles and on
		// the SGEMM.
		for _, paths := range []convPaths{{winogradAll: true}, {winogradAll: true, noDot: true}} {
			b.paths = paths
			t.Run(fmt.Sprintf("n%d_c%d_%dx%d_k%d/dot=%v", tc.n, tc.c, tc.h, tc.w, tc.k, !paths.noDot), func(t *testing.T) {
				x := randT(rng, tc.n, tc.c, tc.h, tc.w)
				w := randT(rng, tc.k, tc.c, 3, 3)
				dy := randT(rng, tc.n, tc.k, tc.h, tc.w)
				// The error of a sum of 9*C terms grows like its square
				// root: seen at most 1.6e-8 times that (4.7e-7 at 64
				// channels).
				tol := max(1e-6, 1e-7*math.Sqrt(float64(9*max(tc.c, tc.k))))
				for rep := 0; rep < 2; rep++ {
					y, yr := nanT(tc.n, tc.k, tc.h, tc.w), tensor.Zeros(tc.n, tc.k, tc.h, tc.w)
					b.Conv2d(cp, x, w, y)
					r.Conv2d(cp, x, w, yr)
					e := relErr(y.Data(), yr.Data())
					worst = math.Max(worst, e)
					if e > tol {
						t.Errorf("Conv2d: relative error %.3g > %.3g", e, tol)
					}
					dx, dxr := nanT(tc.n, tc.c, tc.h, tc.w), tensor.Zeros(tc.n, tc.c, tc.h, tc.w)
					b.Conv2dBackwardData(cp, dy, w, dx)
					r.Conv2dBackwardData(cp, dy, w, dxr)
					e = relErr(dx.Data(), dxr.Data())
					worst = math.Max(worst, e)
					if e > tol {
						t.Errorf("Conv2dBackwardData: relative error %.3g > %.3g", e, tol)
					}
					dw, dwr := nanT(tc.k, tc.c, 3, 3), tensor.Zeros(tc.k, tc.c, 3, 3)
					b.Conv2dBackwardFilter(cp, x, dy, dw)
					r.Conv2dBackwardFilter(cp, x, dy, dwr)
					e = relErr(dw.Data(), dwr.Data())
					worstF = math.Max(worstF, e)
					// A sum over n*H*W pixels: seen at most 4.8e-9 times the
					// square root of 9*n*H*W (6.5e-7 for 2 images of 32x32).
					if tolF := max(1e-6, 3e-8*math.Sqrt(float64(9*tc.n*tc.h*tc.w))); e > tolF {
						t.Errorf("Conv2dBackwardFilter: relative error %.3g > %.3g", e, tolF)
					}
				}
			})
		}
	}
	t.Logf("largest relative error %.3g (forward and backward data), %.3g (backward filter)", worst, worstF)
}

// TestWinogradTransforms checks the assembly transforms against their Go
// twins, bit for bit, on tails of every length.
func TestWinogradTransforms(t *testing.T) {
	if !hasAVX512 {
		t.Skip("no AVX-512")
	}
	rng := tensor.NewRand(3)
	for _, tw := range []int{1, 2, 3, 4, 8, 16, 17} {
		for _, th := range []int{1, 2, 3, 5} {
			wp := winoPlan{th: th, tw: tw, tpi: th * tw, l: 2 * tw}
			n := wp.tpi
			sl := (th+1)*wp.l + winoSlack
			buf := randT(rng, 8*sl).Data()
			st := &winoStreams{}
			for i := range st.s {
				st.s[i] = buf[i*sl : (i+1)*sl]
			}
			ev, od := st.s[0], st.s[1]
			vs := n + 5
			v1, v2 := nanT(16*vs).Data(), nanT(16*vs).Data()
			winoInAVX512(&v1[0], vs, st.ptrs(), n)
			winoInGeneric(v2, vs, &st.s, n)
			for i := range v1 {
				if math.Float32bits(v1[i]) != math.Float32bits(v2[i]) {
					t.Fatalf("tw %d th %d: winoIn differs at %d: %v, %v", tw, th, i, v1[i], v2[i])
				}
			}
			m := randT(rng, 16*vs).Data()
			y1, y2 := nanT(2*sl).Data(), nanT(2*sl).Data()
			winoOutAVX512(&y1[0], &y1[sl], &m[0], vs, n)
			winoOutGeneric(y1[:sl], y1[sl:], m, vs, n) // same values in place: only compare the first 2n
			winoOutGeneric(y2[:sl], y2[sl:], m, vs, n)
			for i := 0; i < 2*n; i++ {
				for _, o := range []int{0, sl} {
					if math.Float32bits(y1[o+i]) != math.Float32bits(y2[o+i]) {
						t.Fatalf("tw %d th %d: winoOut differs at %d", tw, th, o+i)
					}
				}
			}
			d1, d2 := nanT(16*vs).Data(), nanT(16*vs).Data()
			winoDyAVX512(&d1[0], vs, &ev[0], &od[0], n)
			winoDyGeneric(d2, vs, ev, od, n)
			for i := range d1 {
				if math.Float32bits(d1[i]) != math.Float32bits(d2[i]) {
					t.Fatalf("tw %d th %d: winoDy differs at %d: %v, %v", tw, th, i, d1[i], d2[i])
				}
			}
		}
	}
}

// BenchmarkConv3x3 times the 3x3 stride-1 pad-1 convolutions of a CIFAR
// ResNet-18 (batch 128) on one thread, with and without Winograd, in
// GFLOP/s of the direct convolution (2*N*K*C*9*P*Q) per processor second.
func BenchmarkConv3x3(b *testing.B) {
	for _, s := range [][2]int{{64, 32}, {128, 16}, {256, 8}, {512, 4}} {
		c, hw := s[0], s[1]
		const n = 128
		rng := tensor.NewRand(3)
		cp := kernels.ConvParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}
		x, w := tensor.RandN(rng, 0, 1, n, c, hw, hw), tensor.RandN(rng, 0, 1, c, c, 3, 3)
		y, dy := tensor.Zeros(n, c, hw, hw), tensor.RandN(rng, 0, 1, n, c, hw, hw)
		dx, dw := tensor.Zeros(n, c, hw, hw), tensor.Zeros(c, c, 3, 3)
		flops := 2 * float64(n*c*c*9*hw*hw)
		for _, paths := range []convPaths{{}, {noWinograd: true}} {
			be := New(Options{Threads: 1})
			be.paths = paths
			for _, op := range []struct {
				name string
				f    func()
			}{
				{"fwd", func() { be.Conv2d(cp, x, w, y) }},
				{"bwd-data", func() { be.Conv2dBackwardData(cp, dy, w, dx) }},
				{"bwd-filter", func() { be.Conv2dBackwardFilter(cp, x, dy, dw) }},
			} {
				b.Run(fmt.Sprintf("c%d_%dx%d/winograd=%v/%s", c, hw, hw, !paths.noWinograd, op.name), func(b *testing.B) {
					op.f()
					c0 := cpuTime()
					for b.Loop() {
						op.f()
					}
					b.ReportMetric(flops*float64(b.N)/(cpuTime()-c0).Seconds()/1e9, "GFLOP/s-cpu")
				})
			}
			be.Close()
		}
	}
}

// TestWinogradGate checks that the width-8 Fashion-MNIST ResNet-18 (28x28
// inputs, 8-64 channels), whose published results must keep their bits,
// never takes the Winograd path, while the CIFAR ResNet-18's 3x3 layers
// (32x32 inputs, width 64) all do.
func TestWinogradGate(t *testing.T) {
	if !hasAVX512 {
		t.Skip("Winograd runs with AVX-512 only")
	}
	b := New(Options{Threads: 1})
	defer b.Close()
	geom := func(c, hw, k int) convGeom {
		return convGeom{C: c, H: hw, W: hw, K: k, R: 3, S: 3, P: hw, Q: hw, sh: 1, sw: 1, ph: 1, pw: 1}
	}
	for _, s := range [][3]int{{1, 28, 8}, {8, 28, 8}, {16, 14, 16}, {32, 7, 32}, {64, 4, 64}} {
		g := geom(s[0], s[1], s[2])
		fg, _ := g.flipped()
		if b.useWinograd(&g) || b.useWinograd(&fg) {
			t.Errorf("width 8: %dch %dx%d -> %d on the Winograd path", s[0], s[1], s[1], s[2])
		}
	}
	for _, s := range [][3]int{{64, 32, 64}, {128, 16, 128}, {256, 8, 256}, {512, 4, 512}} {
		g := geom(s[0], s[1], s[2])
		if !b.useWinograd(&g) {
			t.Errorf("CIFAR: %dch %dx%d -> %d not on the Winograd path", s[0], s[1], s[1], s[2])
		}
	}
}
