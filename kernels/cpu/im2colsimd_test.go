package cpu

import (
	"fmt"
	"math"
	"testing"

	"hallucinator/kernels"
	"hallucinator/tensor"
)

// TestIm2colFast checks the AVX-512 routes of im2colPanel (or their Go
// twins on other processors) against im2colRow, value for value, for every
// panel of output rows [p0, p1) of 1 and 3 images, with one tap table
// reused across the panels as the convolutions do.
func TestIm2colFast(t *testing.T) {
	geoms := []struct {
		c, h, w, r, s, sh, sw, ph, pw int
	}{
		{3, 7, 7, 3, 3, 1, 1, 1, 1},   // shifted, short rows
		{2, 28, 28, 3, 3, 1, 1, 1, 1}, // rows of 28, shifted (a span)
		{1, 5, 16, 3, 3, 1, 1, 1, 1},  // rows of exactly 16
		{2, 6, 17, 3, 3, 1, 1, 1, 1},  // rows of 17
		{2, 6, 17, 3, 3, 1, 1, 1, 0},  // rows of 15, not shifted
		{2, 5, 30, 3, 3, 1, 1, 0, 0},  // rows of 28, not shifted
		{1, 5, 18, 3, 3, 1, 1, 1, 0},  // rows of 16, not shifted
		{1, 4, 34, 3, 3, 1, 1, 1, 0},  // rows of 32, not shifted
		{2, 9, 37, 5, 5, 1, 1, 2, 2},  // 5x5 same, rows of 37
		{1, 4, 32, 3, 3, 1, 1, 1, 1},  // rows of exactly 32
		{3, 9, 11, 5, 5, 1, 1, 0, 0},  // unpadded, not shifted
		{2, 6, 7, 3, 5, 1, 1, 2, 0},   // padding taller than wide
		{2, 3, 4, 3, 3, 1, 1, 2, 2},   // padding of R-1 all round
		{2, 4, 40, 3, 3, 1, 1, 1, 0},  // rows of 38, not shifted: im2colRow
		{3, 9, 9, 3, 3, 2, 2, 1, 1},   // stride 2
		{2, 11, 13, 3, 5, 3, 2, 0, 2}, // strides 3 x 2
		{4, 8, 9, 1, 1, 2, 2, 0, 0},   // 1x1 stride 2
		{2, 7, 6, 1, 1, 2, 2, 1, 1},   // 1x1 stride 2 in the padding
		{1, 23, 23, 7, 7, 2, 2, 3, 3}, // 7x7 stem
		{2, 5, 5, 3, 3, 1, 2, 1, 1},   // stride 1 x 2
		{1, 40, 33, 3, 3, 1, 1, 1, 1}, // rows of 33, shifted
		{2, 12, 10, 4, 2, 2, 1, 3, 1}, // even filter, pad R-1
		{5, 1, 1, 1, 1, 1, 1, 0, 0},   // 1x1 image
		{1, 2, 2, 2, 2, 1, 1, 1, 1},   // 2x2 filter on a 2x2 image
		{3, 16, 16, 3, 3, 2, 2, 1, 1}, // stride 2 to 8x8
		{2, 14, 14, 3, 3, 1, 1, 1, 1}, // rows of 14
		{1, 33, 31, 3, 3, 1, 2, 1, 1}, // stride 1 x 2, rows of 16
	}
	b, _ := newTestBackends(t)
	rng := tensor.NewRand(21)
	for _, gc := range geoms {
		g := convGeom{C: gc.c, H: gc.h, W: gc.w, R: gc.r, S: gc.s, sh: gc.sh, sw: gc.sw, ph: gc.ph, pw: gc.pw}
		cp := kernels.ConvParams{StrideH: gc.sh, StrideW: gc.sw, PadH: gc.ph, PadW: gc.pw}
		g.P, g.Q = cp.OutSize(g.H, g.W, g.R, g.S)
		t.Run(fmt.Sprintf("%+v", gc), func(t *testing.T) {
			wantTaps := !g.pointwise() && (g.sh != 1 || g.sw != 1 || g.shifted() || g.Q <= tapRowsMaxQ)
			if got := b.newTaps(&g) != nil; hasAVX512 && got != wantTaps {
				t.Fatalf("AVX-512 route chosen: %v, want %v", got, wantTaps)
			}
			for _, m := range []int{1, 3} {
				x := randT(rng, m+1, g.C, g.H, g.W).Data() // one more image: reads must stay in the panel
				taps := &tapTable{}
				for p0 := 0; p0 < g.P; p0++ {
					for p1 := p0 + 1; p1 <= g.P; p1++ {
						n := g.C * g.R * g.S * m * (p1 - p0) * g.Q
						want := make([]float32, n)
						g.im2colPanel(x, m, p0, p1, want, nil)
						got := make([]float32, n+1)
						for i := range got {
							got[i] = float32(math.NaN())
						}
						got[n] = 42
						g.im2colPanel(x[:m*g.C*g.H*g.W], m, p0, p1, got[:n], taps)
						if got[n] != 42 {
							t.Fatalf("m %d rows [%d, %d): wrote past the column matrix", m, p0, p1)
						}
						for i := range want {
							if got[i] != want[i] && !(math.IsNaN(float64(got[i])) && math.IsNaN(float64(want[i]))) {
								t.Fatalf("m %d rows [%d, %d): col[%d] = %v, want %v", m, p0, p1, i, got[i], want[i])
							}
						}
					}
				}
			}
		})
	}
}

// TestTapRows checks tapRows (the assembly where the processor has it)
// against its Go twin for row widths around the 16-lane halves, lanes
// clipped on either side, rows of zeros before and after, and several
// images; it also checks that nothing past the rows is written.
func TestTapRows(t *testing.T) {
	rng := tensor.NewRand(22)
	for _, q := range []int{1, 3, 4, 7, 15, 16, 17, 28, 31, 32, 33, 40} {
		for _, clip := range [][2]int{{0, 0}, {1, 0}, {0, 1}, {2, 2}, {1, 3}} {
			for _, rows := range [][3]int{{0, 5, 0}, {1, 3, 2}, {2, 1, 0}, {0, 1, 3}, {3, 0, 0}} {
				for _, imgs := range []int{1, 3} {
					lead, valid, trail := rows[0], rows[1], rows[2]
					w := q + 3                       // input rows longer than the output rows
					co := -clip[0]                   // lanes before the row are clipped
					qa, qb := clip[0], q-clip[1]     // valid lanes
					base := 2*w + 1                  // some input before the first row read
					imgSrc := base + (valid+2)*w + 5 // and after the last
					x := randT(rng, imgs*imgSrc).Data()
					n := imgs * (lead + valid + trail) * q
					want := make([]float32, n)
					tapRowsGeneric(want, x, base, co, w, q, lead, valid, trail, imgs, imgSrc, qa, qb)
					got := make([]float32, n+1)
					for i := range got {
						got[i] = float32(math.NaN())
					}
					got[n] = 42
					tapRows(got[:n], x, base, co, w, q, lead, valid, trail, imgs, imgSrc, qa, qb)
					name := fmt.Sprintf("q %d clip %v rows %v imgs %d", q, clip, rows, imgs)
					if got[n] != 42 {
						t.Fatalf("%s: wrote past the rows", name)
					}
					for i := range want {
						if got[i] != want[i] {
							t.Fatalf("%s: dst[%d] = %v, want %v", name, i, got[i], want[i])
						}
					}
					// The twin itself: row 0 of the first valid row.
					if valid > 0 && qb > qa {
						if v := want[lead*q+qa]; v != x[base+co+qa] {
							t.Fatalf("%s: generic row starts with %v, want %v", name, v, x[base+co+qa])
						}
					}
				}
			}
		}
	}
}

// TestTapSpan checks tapSpan (the assembly where the processor has it)
// against its Go twin for spans around the 16-lane steps, runs of zeros
// before and after of any length, masks that drop columns on either side
// of each row, and several images; it also checks that nothing past the
// blocks is written, from destinations at every alignment.
func TestTapSpan(t *testing.T) {
	rng := tensor.NewRand(24)
	for _, q := range []int{1, 4, 7, 13, 16, 28, 33} {
		for _, clip := range [][2]int{{0, 0}, {1, 0}, {0, 1}, {1, 1}, {2, 3}} {
			qa, qb := clip[0], q-clip[1]
			if qa >= qb {
				continue
			}
			for _, rows := range [][3]int{{0, 1, 0}, {1, 3, 2}, {2, 5, 0}, {0, 2, 3}, {3, 0, 1}} {
				for _, imgs := range []int{1, 4} {
					lead, span, trail := rows[0]*q, rows[1]*q, rows[2]*q
					masks := make([]uint16, (span+15)/16)
					for k := 0; k < span; k++ {
						if c := k % q; c >= qa && c < qb {
							masks[k/16] |= 1 << (k % 16)
						}
					}
					co := -qa
					base := q + 2
					imgSrc := base + span + q + 3
					x := randT(rng, imgs*imgSrc).Data()
					n := imgs * (lead + span + trail)
					off := (q + imgs + rows[0]) % 16 // where dst starts in a 64-byte line
					buf := make([]float32, off+n+1)
					for i := range buf {
						buf[i] = float32(math.NaN())
					}
					buf[off+n] = 42
					got := buf[off : off+n+1]
					tapSpan(got[:n], x, base, co, lead, span, trail, imgs, imgSrc, masks, q, qa, qb)
					name := fmt.Sprintf("q %d clip %v rows %v imgs %d", q, clip, rows, imgs)
					if got[n] != 42 {
						t.Fatalf("%s: wrote past the blocks", name)
					}
					for i := 0; i < off; i++ {
						if !math.IsNaN(float64(buf[i])) {
							t.Fatalf("%s: wrote before the blocks", name)
						}
					}
					want := make([]float32, n)
					tapSpanGeneric(want, x, base, co, lead, span, trail, imgs, imgSrc, masks)
					for i := 0; i < imgs; i++ {
						blk := i * (lead + span + trail)
						for k := 0; k < lead+span+trail; k++ {
							w := float32(0)
							if j := k - lead; j >= 0 && j < span && j%q >= qa && j%q < qb {
								w = x[i*imgSrc+base+co+j]
							}
							if got[blk+k] != w || want[blk+k] != w {
								t.Fatalf("%s: image %d value %d = %v (generic %v), want %v", name, i, k, got[blk+k], want[blk+k], w)
							}
						}
					}
				}
			}
		}
	}
}

// TestGather checks gather (the assembly where the processor has it)
// against its Go twin for lengths around the 16- and 32-lane steps, with
// indices in the padding (-1) scattered through.
func TestGather(t *testing.T) {
	rng := tensor.NewRand(23)
	src := randT(rng, 97).Data()
	for _, n := range []int{1, 2, 15, 16, 17, 31, 32, 33, 47, 48, 63, 100, 257} {
		idx := make([]int32, n)
		for i := range idx {
			idx[i] = int32(rng.IntN(len(src)+20)) - 20 // about one in six in the padding
			if idx[i] < 0 {
				idx[i] = -1
			}
		}
		want := make([]float32, n)
		gatherGeneric(want, src, idx)
		got := make([]float32, n+1)
		for i := range got {
			got[i] = float32(math.NaN())
		}
		got[n] = 42
		gather(got[:n], src, idx)
		if got[n] != 42 {
			t.Fatalf("n %d: wrote past dst", n)
		}
		for i, o := range idx {
			w := float32(0)
			if o >= 0 {
				w = src[o]
			}
			if want[i] != w || got[i] != w {
				t.Fatalf("n %d: dst[%d] = %v (generic %v), want %v", n, i, got[i], want[i], w)
			}
		}
	}
}

// TestCol2imFast checks the scatter-add col2im of strided convolutions
// against col2imPanel, value for value (both add the taps in the same
// order), for every panel of output rows of 1 and 3 images, setting and
// accumulating into the planes.
func TestCol2imFast(t *testing.T) {
	geoms := []struct {
		c, h, w, r, s, sh, sw, ph, pw int
	}{
		{3, 9, 9, 3, 3, 2, 2, 1, 1},   // stride 2
		{2, 11, 13, 3, 5, 3, 2, 0, 2}, // strides 3 x 2
		{4, 8, 9, 1, 1, 2, 2, 0, 0},   // 1x1 stride 2
		{2, 7, 6, 1, 1, 2, 2, 1, 1},   // 1x1 stride 2 in the padding
		{1, 23, 23, 7, 7, 2, 2, 3, 3}, // 7x7 stem
		{2, 5, 5, 3, 3, 1, 2, 1, 1},   // stride 1 x 2
		{2, 12, 10, 4, 2, 2, 1, 3, 1}, // stride 2 x 1, even filter
		{3, 16, 16, 3, 3, 2, 2, 1, 1}, // stride 2 to 8x8
		{1, 33, 31, 3, 3, 1, 2, 1, 1}, // stride 1 x 2, rows of 16
		{2, 4, 4, 3, 3, 4, 4, 1, 1},   // stride larger than the filter
	}
	b, _ := newTestBackends(t)
	rng := tensor.NewRand(25)
	for _, gc := range geoms {
		g := convGeom{C: gc.c, H: gc.h, W: gc.w, R: gc.r, S: gc.s, sh: gc.sh, sw: gc.sw, ph: gc.ph, pw: gc.pw}
		cp := kernels.ConvParams{StrideH: gc.sh, StrideW: gc.sw, PadH: gc.ph, PadW: gc.pw}
		g.P, g.Q = cp.OutSize(g.H, g.W, g.R, g.S)
		t.Run(fmt.Sprintf("%+v", gc), func(t *testing.T) {
			if got := b.fastCol2im(&g); hasAVX512 && !got {
				t.Fatal("strided convolution without the scatter-add col2im")
			}
			chw := g.C * g.H * g.W
			for _, m := range []int{1, 3} {
				taps := &tapTable{}
				for p0 := 0; p0 < g.P; p0++ {
					for p1 := p0 + 1; p1 <= g.P; p1++ {
						col := randT(rng, g.C*g.R*g.S*m*(p1-p0)*g.Q).Data()
						for _, overwrite := range []bool{true, false} {
							want := randT(rng, m*chw).Data()
							got := make([]float32, m*chw+1)
							copy(got, want)
							got[m*chw] = 42
							g.col2imPanel(col, m, p0, p1, want, overwrite)
							g.col2imFast(col, m, p0, p1, got[:m*chw], overwrite, taps)
							if got[m*chw] != 42 {
								t.Fatalf("m %d rows [%d, %d): wrote past the planes", m, p0, p1)
							}
							for i := range want {
								if got[i] != want[i] {
									t.Fatalf("m %d rows [%d, %d) overwrite %v: dx[%d] = %v, want %v",
										m, p0, p1, overwrite, i, got[i], want[i])
								}
							}
						}
					}
				}
			}
		})
	}
}

// TestScatterAdd checks scatterAdd (the assembly where the processor has
// it) against its Go twin and against the sums themselves, for lengths
// around the 16-lane steps, with distinct indices and some in the padding.
func TestScatterAdd(t *testing.T) {
	rng := tensor.NewRand(26)
	for _, n := range []int{1, 2, 15, 16, 17, 31, 32, 33, 100, 250} {
		perm := rng.Perm(n + 7)
		idx := make([]int32, n)
		for i := range idx {
			idx[i] = int32(perm[i])
			if rng.IntN(6) == 0 {
				idx[i] = -1
			}
		}
		src := randT(rng, n).Data()
		base := randT(rng, n+8).Data()
		want := append([]float32(nil), base...)
		for j, o := range idx {
			if o >= 0 {
				want[o] += src[j]
			}
		}
		for _, f := range []func(dst, src []float32, idx []int32){scatterAdd, scatterAddGeneric} {
			got := append([]float32(nil), base...)
			f(got[:n+7], src, idx)
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("n %d: dst[%d] = %v, want %v", n, i, got[i], want[i])
				}
			}
		}
	}
}

// BenchmarkIm2col times filling the column matrices of a batch of images,
// panel by panel as the forward convolution lays them out, by im2colRow and
// by the AVX-512 routes, on the 3x3 shapes of the width-8 Fashion-MNIST
// ResNet-18 (batch 256) and of a 64-channel 32x32 layer (batch 32) on one
// thread; it reports the column matrices written per second of processor
// time.
func BenchmarkIm2col(b *testing.B) {
	be := New(Options{Threads: 1})
	defer be.Close()
	for _, s := range []struct{ n, c, hw, stride int }{
		{256, 8, 28, 1}, {256, 16, 14, 1}, {256, 32, 7, 1}, {256, 64, 4, 1}, {256, 8, 28, 2}, {256, 16, 14, 2},
		{32, 64, 32, 1},
	} {
		g := convGeom{C: s.c, H: s.hw, W: s.hw, K: s.c, R: 3, S: 3, sh: s.stride, sw: s.stride, ph: 1, pw: 1}
		g.P, g.Q = kernels.ConvParams{StrideH: s.stride, StrideW: s.stride, PadH: 1, PadW: 1}.OutSize(s.hw, s.hw, 3, 3)
		x := tensor.RandN(tensor.NewRand(3), 0, 1, s.n, s.c, s.hw, s.hw).Data()
		pl := be.plan(g, s.n)
		col := make([]float32, s.c*9*pl.cols())
		chw := s.c * s.hw * s.hw
		for _, fast := range []bool{false, true} {
			if fast && !hasAVX512 {
				continue
			}
			name := fmt.Sprintf("n%d_c%d_%dx%d_s%d/nb%d_rows%d/fast=%v", s.n, s.c, s.hw, s.hw, s.stride, pl.nb, pl.rows, fast)
			b.Run(name, func(b *testing.B) {
				var taps *tapTable
				if fast {
					taps = &tapTable{}
				}
				c0 := cpuTime()
				for b.Loop() {
					pl.panels(0, s.n, func(n0, m, p0, p1 int) {
						g.im2colPanel(x[n0*chw:], m, p0, p1, col, taps)
					})
				}
				// Processor time is steadier than wall time on a shared machine.
				b.ReportMetric(float64(s.n*s.c*9*g.P*g.Q*4*b.N)/(cpuTime()-c0).Seconds()/1e9, "GB/s-cpu")
			})
		}
	}
}
