//go:build amd64 && !purego

package blas

import "github.com/klauspost/cpuid/v2"

//go:noescape
func fmaPeakAVX512(iters int)

//go:noescape
func fmaPeakAVX2(iters int)

// peakLoop returns the widest FMA loop this machine runs and the flops of
// one of its iterations, or nil.
func peakLoop() (func(iters int), float64, string) {
	switch {
	case cpuid.CPU.Supports(cpuid.AVX512F):
		return fmaPeakAVX512, 768, "avx512"
	case cpuid.CPU.Supports(cpuid.AVX2, cpuid.FMA3):
		return fmaPeakAVX2, 192, "avx2"
	}
	return nil, 0, ""
}
