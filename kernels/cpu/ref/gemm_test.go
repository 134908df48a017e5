package ref

import (
	"fmt"
	"math"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"

	"hallucinator/tensor"
)

// gonumGemm returns alpha*op(a) op(b) + beta*c computed by gonum in float64.
func gonumGemm(transA, transB bool, m, n, k int, alpha float64, a, b []float32, beta float64, c []float32) []float64 {
	tr := func(t bool) blas.Transpose {
		if t {
			return blas.Trans
		}
		return blas.NoTrans
	}
	ga := blas64.General{Rows: m, Cols: k, Stride: k, Data: f64(a)}
	if transA {
		ga = blas64.General{Rows: k, Cols: m, Stride: m, Data: f64(a)}
	}
	gb := blas64.General{Rows: k, Cols: n, Stride: n, Data: f64(b)}
	if transB {
		gb = blas64.General{Rows: n, Cols: k, Stride: k, Data: f64(b)}
	}
	gc := blas64.General{Rows: m, Cols: n, Stride: n, Data: f64(c)}
	blas64.Gemm(tr(transA), tr(transB), alpha, ga, gb, beta, gc)
	return gc.Data
}

func TestGemmAgainstGonum(t *testing.T) {
	rng := tensor.NewRand(1)
	b := New()
	sizes := [][3]int{{1, 1, 1}, {1, 7, 13}, {13, 1, 7}, {7, 13, 1}, {31, 67, 13}, {64, 33, 129}}
	scalars := [][2]float32{{1, 0}, {-0.7, 0}, {1.3, 1}, {0.5, -2.25}}
	for _, sz := range sizes {
		m, n, k := sz[0], sz[1], sz[2]
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				for _, ab := range scalars {
					t.Run(fmt.Sprintf("M=%d,N=%d,K=%d,tA=%v,tB=%v,alpha=%v,beta=%v", m, n, k, ta, tb, ab[0], ab[1]), func(t *testing.T) {
						as, bs := []int{m, k}, []int{k, n}
						if ta {
							as = []int{k, m}
						}
						if tb {
							bs = []int{n, k}
						}
						x, y, c := rnd(rng, as...), rnd(rng, bs...), rnd(rng, m, n)
						want := gonumGemm(ta, tb, m, n, k, float64(ab[0]), x.Data(), y.Data(), float64(ab[1]), c.Data())
						if ab[1] == 0 {
							for i := range c.Data() {
								c.Data()[i] = float32(math.NaN())
							}
						}
						b.Gemm(ta, tb, ab[0], x, y, ab[1], c)
						checkClose(t, "C", c.Data(), want, 1e-6)
					})
				}
			}
		}
	}
}

func TestGemmBatched(t *testing.T) {
	rng := tensor.NewRand(2)
	b := New()
	const batch, m, n, k = 3, 5, 7, 11
	for _, ta := range []bool{false, true} {
		for _, tb := range []bool{false, true} {
			as, bs := []int{batch, m, k}, []int{batch, k, n}
			if ta {
				as = []int{batch, k, m}
			}
			if tb {
				bs = []int{batch, n, k}
			}
			x, y, c := rnd(rng, as...), rnd(rng, bs...), rnd(rng, batch, m, n)
			var want []float64
			for i := 0; i < batch; i++ {
				want = append(want, gonumGemm(ta, tb, m, n, k, 0.75, x.Data()[i*m*k:(i+1)*m*k],
					y.Data()[i*k*n:(i+1)*k*n], 0.5, c.Data()[i*m*n:(i+1)*m*n])...)
			}
			b.GemmBatched(ta, tb, 0.75, x, y, 0.5, c)
			checkClose(t, fmt.Sprintf("tA=%v,tB=%v", ta, tb), c.Data(), want, 1e-6)
		}
	}
}

func TestGemmRowViews(t *testing.T) {
	// Operands that are row views with an offset into a larger storage.
	rng := tensor.NewRand(3)
	big := rnd(rng, 20, 6)
	a, bm, c := big.Rows(1, 4), big.Rows(5, 11), big.Rows(12, 15) // [3,6] [6,6] [3,6]
	want := gonumGemm(false, false, 3, 6, 6, 1, a.Data(), bm.Data(), 0, c.Data())
	before := append([]float32(nil), big.Data()...)
	New().Gemm(false, false, 1, a, bm, 0, c)
	checkClose(t, "C", c.Data(), want, 1e-6)
	for i, v := range big.Data() {
		if (i < 12*6 || i >= 15*6) && v != before[i] {
			t.Fatalf("element %d outside C changed", i)
		}
	}
}

func TestGemmShapePanics(t *testing.T) {
	b := New()
	for _, tc := range []struct {
		name    string
		a, bb   []int
		c       []int
		transA  bool
		wantMsg string
	}{
		{"inner", []int{2, 3}, []int{4, 5}, []int{2, 5}, false, "ref: Gemm"},
		{"out", []int{2, 3}, []int{3, 5}, []int{2, 4}, false, "ref: Gemm"},
		{"trans", []int{2, 3}, []int{3, 5}, []int{2, 5}, true, "ref: Gemm"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if s, ok := r.(string); !ok || len(s) < len(tc.wantMsg) || s[:len(tc.wantMsg)] != tc.wantMsg {
					t.Fatalf("panic %v, want a message starting with %q", r, tc.wantMsg)
				}
			}()
			b.Gemm(tc.transA, false, 1, tensor.Zeros(tc.a...), tensor.Zeros(tc.bb...), 0, tensor.Zeros(tc.c...))
		})
	}
}
