package cpu

import (
	"math"
	"testing"

	"hallucinator/tensor"
)

// TestSIMDAgainstGeneric runs each vector loop against its plain Go twin on
// every length 0..99 and a few long ones, at offsets that misalign the
// slices, with guard values after the outputs.
func TestSIMDAgainstGeneric(t *testing.T) {
	if !hasAVX2 {
		t.Skip("no AVX2+FMA on this machine: only the generic loops run")
	}
	rng := tensor.NewRand(12)
	lengths := []int{1000, 4097}
	for n := 0; n < 100; n++ {
		lengths = append(lengths, n)
	}
	const guard = 12345
	for _, n := range lengths {
		for _, off := range []int{0, 1, 3} {
			buf := func() []float32 {
				s := randT(rng, off+n+4).Data()
				return s[off : off+n : off+n+4]
			}
			x, dy, y := buf(), buf(), buf()
			if n > 0 {
				y[n/2] = 0 // the mask of an exact zero
			}
			withGuard := func(s []float32) []float32 {
				full := s[:n+4]
				for i := n; i < n+4; i++ {
					full[i] = guard
				}
				return s
			}
			checkGuard := func(what string, s []float32) {
				for _, v := range s[n : n+4] {
					if v != guard {
						t.Fatalf("%s n=%d off=%d: wrote past the end", what, n, off)
					}
				}
			}
			near := func(what string, got, want float64) {
				if math.Abs(got-want) > 1e-12*math.Max(1, math.Abs(want)) {
					t.Errorf("%s n=%d off=%d: got %v, want %v", what, n, off, got, want)
				}
			}

			d1, d2 := withGuard(buf()), withGuard(buf())
			copy(d1, y)
			copy(d2, y)
			addTo(d1, x)
			addToGeneric(d2, x)
			for i := range d1 {
				if d1[i] != d2[i] {
					t.Fatalf("addTo n=%d off=%d: element %d differs", n, off, i)
				}
			}
			checkGuard("addTo", d1[:n:n+4])

			s1, q1 := segStats(x, 0.25)
			s2, q2 := segStatsGeneric(x, 0.25)
			near("segStats sum", s1, s2)
			near("segStats squares", q1, q2)

			for _, relu := range []bool{false, true} {
				o1, o2 := withGuard(buf()), withGuard(buf())
				bnAffine(x, o1, 0.5, 1e-6, 1.5, -0.25, relu)
				bnAffineGeneric(x, o2, 0.5, 1e-6, 1.5, -0.25, relu)
				if e := relErr(o1, o2); e > 1e-6 {
					t.Errorf("bnAffine relu=%v n=%d off=%d: relative error %g", relu, n, off, e)
				}
				checkGuard("bnAffine", o1[:n:n+4])
			}

			o1, o2 := withGuard(buf()), withGuard(buf())
			maskPosSlice(y, dy, o1)
			for i, v := range y {
				o2[i] = maskPos(v, dy[i])
			}
			if e := relErr(o1, o2); e != 0 {
				t.Errorf("maskPosSlice n=%d off=%d: relative error %g", n, off, e)
			}
			checkGuard("maskPosSlice", o1[:n:n+4])
			add(x, dy, o1)
			addGeneric(x, dy, o2)
			if e := relErr(o1, o2); e != 0 {
				t.Errorf("add n=%d off=%d: relative error %g", n, off, e)
			}
			checkGuard("add", o1[:n:n+4])
			copy(o1, y)
			copy(o2, y)
			axpy(-0.3, x, o1)
			axpyGeneric(-0.3, x, o2)
			if e := relErr(o1, o2); e > 1e-6 {
				t.Errorf("axpy n=%d off=%d: relative error %g", n, off, e)
			}
			checkGuard("axpy", o1[:n:n+4])

			for _, mask := range [][]float32{nil, y} {
				a1, b1 := bnGradSums(x, dy, mask, 0.125)
				a2, b2 := bnGradSumsGeneric(x, dy, mask, 0.125)
				near("bnGradSums g", a1, a2)
				near("bnGradSums gx", b1, b2)
				o1, o2 := withGuard(buf()), withGuard(buf())
				bnGradApply(x, dy, mask, o1, 1.5, -0.75, 0.0625)
				bnGradApplyGeneric(x, dy, mask, o2, 1.5, -0.75, 0.0625)
				if e := relErr(o1, o2); e > 1e-6 {
					t.Errorf("bnGradApply n=%d off=%d: relative error %g", n, off, e)
				}
				checkGuard("bnGradApply", o1[:n:n+4])
			}
		}
	}
}
