//go:build amd64 && !purego

package cpu

import "github.com/klauspost/cpuid/v2"

// hasAVX2 reports AVX2 and FMA, which the assembly loops use; hasAVX512
// reports AVX-512 F, VL and DQ, which the dot-product tile uses.
var (
	hasAVX2   = cpuid.CPU.Supports(cpuid.AVX2, cpuid.FMA3)
	hasAVX512 = cpuid.CPU.Supports(cpuid.AVX512F, cpuid.AVX512VL, cpuid.AVX512DQ)
)

// The assembly loops take n > 0, a multiple of 8. Each doc comment gives
// the Go loop it replaces (see simd.go).

// addToAVX2 is addToGeneric: dst[i] += src[i] for i < n.
//
//go:noescape
func addToAVX2(dst, src *float32, n int)

// segStatsAVX2 is segStatsGeneric: out[0] = sum of x[i]-shift, out[1] = sum
// of (x[i]-shift)^2, for i < n, in float64.
//
//go:noescape
func segStatsAVX2(x *float32, n int, shift float64, out *[2]float64)

// bnAffineAVX2 is bnAffineGeneric: y[i] = (x[i]-mhi-mlo)*a + b, then
// max(., 0) when relu, for i < n (the multiply-add fused).
//
//go:noescape
func bnAffineAVX2(x, y *float32, n int, mhi, mlo, a, b float32, relu bool)

// bnGradSumsAVX2 is bnGradSumsGeneric: with g[i] = dy[i] (0 where y is not
// nil and !(y[i] > 0)), out[0] = sum of g[i], out[1] = sum of
// g[i]*(x[i]-m), for i < n, in float64.
//
//go:noescape
func bnGradSumsAVX2(x, dy, y *float32, n int, m float64, out *[2]float64)

// bnGradApplyAVX2 is bnGradApplyGeneric: dx[i] = float32(ka*g[i] +
// kb*x[i] + kc) in float64, g as for bnGradSumsAVX2, for i < n.
//
//go:noescape
func bnGradApplyAVX2(x, dy, y, dx *float32, n int, ka, kb, kc float64)

// dotTile4x4OffAVX512 is dotTile4x4OffGeneric: c[i*ldc+j] += sum over t <
// n of a[i*lda+t]*b[boff[j]+t] for i, j < 4; n > 0.
//
//go:noescape
func dotTile4x4OffAVX512(a *float32, lda int, b *float32, boff *[4]int, n int, c *float32, ldc int)

// maskPosAVX2 is maskPosSlice's loop: dst[i] = dy[i] where y[i] > 0, else
// 0 (NaN y included), for i < n.
//
//go:noescape
func maskPosAVX2(y, dy, dst *float32, n int)

// addAVX2 is addGeneric: dst[i] = a[i] + b[i] for i < n.
//
//go:noescape
func addAVX2(a, b, dst *float32, n int)

// axpyAVX2 is axpyGeneric: y[i] += alpha*x[i] for i < n (fused).
//
//go:noescape
func axpyAVX2(alpha float32, x, y *float32, n int)
