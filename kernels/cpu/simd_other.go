//go:build !amd64 || purego

package cpu

// hasAVX2 and hasAVX512 are false: the plain Go loops run everywhere.
const (
	hasAVX2   = false
	hasAVX512 = false
)

func addToAVX2(dst, src *float32, n int) { panic("cpu: no assembly") }

func segStatsAVX2(x *float32, n int, shift float64, out *[2]float64) { panic("cpu: no assembly") }

func bnAffineAVX2(x, y *float32, n int, mhi, mlo, a, b float32, relu bool) {
	panic("cpu: no assembly")
}

func bnGradSumsAVX2(x, dy, y *float32, n int, m float64, out *[2]float64) {
	panic("cpu: no assembly")
}

func bnGradApplyAVX2(x, dy, y, dx *float32, n int, ka, kb, kc float64) {
	panic("cpu: no assembly")
}

func dotTile4x4OffAVX512(a *float32, lda int, b *float32, boff *[4]int, n int, c *float32, ldc int) {
	panic("cpu: no assembly")
}

func maskPosAVX2(y, dy, dst *float32, n int) { panic("cpu: no assembly") }

func addAVX2(a, b, dst *float32, n int) { panic("cpu: no assembly") }

func axpyAVX2(alpha float32, x, y *float32, n int) { panic("cpu: no assembly") }
