//go:build amd64 && !purego

package blas

import "github.com/klauspost/cpuid/v2"

// sgemmKernel8x48AVX512 is the AVX-512 micro-kernel. With bsrc nil it is
//
//	for i < rows, j < cols: // rows in 1..8, cols in 1..48
//		s := sum over p < kc of a[p*8+i] * b[p*48+j]
//		if load { c[i*ldc+j] = s + beta*c[i*ldc+j] } else { c[i*ldc+j] = s }
//
// computing only ceil(cols/16) vectors of 16 columns and writing the last
// one with a mask. With bsrc set (cols > 32), the B row p is read from
// bsrc[p*ldb:p*ldb+cols] instead and stored to b[p*48:] on the way, so that
// later calls find it packed. kc >= 1.
//
//go:noescape
func sgemmKernel8x48AVX512(kc int, a, b, c *float32, ldc int, beta float32, load bool, rows, cols int, bsrc *float32, ldb int)

// sgemmKernel6x16AVX2 is the AVX2+FMA micro-kernel for a full tile:
//
//	for i < 6, j < 16:
//		s := sum over p < kc of a[p*6+i] * b[p*16+j]
//		if load { c[i*ldc+j] = s + beta*c[i*ldc+j] } else { c[i*ldc+j] = s }
//
// kc >= 1.
//
//go:noescape
func sgemmKernel6x16AVX2(kc int, a, b, c *float32, ldc int, beta float32, load bool)

// transpose8x16AVX512 transposes blocks of 8 rows x 16 steps:
//
//	for b < blocks, i < 8, p < 16:
//		dst[(16*b+p)*dstStride+i] = alpha * src[i*srcStride+16*b+p]
//
//go:noescape
func transpose8x16AVX512(dst *float32, dstStride int, src *float32, srcStride int, blocks int, alpha float32)

func transpose8AVX512(dst []float32, dstStride int, src []float32, srcStride, kc int, alpha float32) {
	if kc%16 != 0 || kc <= 0 || dstStride < 8 || srcStride < kc {
		panic("blas: transpose8 out of range")
	}
	_ = dst[(kc-1)*dstStride+7]
	_ = src[7*srcStride+kc-1]
	transpose8x16AVX512(&dst[0], dstStride, &src[0], srcStride, kc/16, alpha)
}

func kernel8x48AVX512(kc int, a, b, c []float32, ldc int, beta float32, load bool) {
	_ = a[kc*8-1]
	_ = b[kc*48-1]
	_ = c[7*ldc+47]
	sgemmKernel8x48AVX512(kc, &a[0], &b[0], &c[0], ldc, beta, load, 8, 48, nil, 0)
}

func partial8x48AVX512(kc int, a, b, c []float32, ldc int, beta float32, load bool, rows, cols int) {
	if rows < 1 || rows > 8 || cols < 1 || cols > 48 {
		panic("blas: partial tile out of range")
	}
	_ = a[kc*8-1]
	_ = b[kc*48-1]
	_ = c[(rows-1)*ldc+cols-1]
	sgemmKernel8x48AVX512(kc, &a[0], &b[0], &c[0], ldc, beta, load, rows, cols, nil, 0)
}

func fused8x48AVX512(kc int, a, b, c []float32, ldc int, beta float32, load bool, rows, cols int, bsrc []float32, ldb int) {
	if rows < 1 || rows > 8 || cols <= 32 || cols > 48 || ldb < cols {
		panic("blas: fused tile out of range")
	}
	_ = a[kc*8-1]
	_ = b[kc*48-1]
	_ = c[(rows-1)*ldc+cols-1]
	_ = bsrc[(kc-1)*ldb+cols-1]
	sgemmKernel8x48AVX512(kc, &a[0], &b[0], &c[0], ldc, beta, load, rows, cols, &bsrc[0], ldb)
}

func kernel6x16AVX2(kc int, a, b, c []float32, ldc int, beta float32, load bool) {
	_ = a[kc*6-1]
	_ = b[kc*16-1]
	_ = c[5*ldc+15]
	sgemmKernel6x16AVX2(kc, &a[0], &b[0], &c[0], ldc, beta, load)
}

var (
	avx512Kernel = &microKernel{
		name: "avx512",
		mr:   8, nr: 48,
		kc: 256, mc: 2048, nc: 480,
		fn:      kernel8x48AVX512,
		partial: partial8x48AVX512,
		fused:   fused8x48AVX512,

		transpose8: transpose8AVX512,
	}
	avx2Kernel = &microKernel{
		name: "avx2",
		mr:   6, nr: 16,
		kc: 256, mc: 1536, nc: 384,
		fn: kernel6x16AVX2,
	}
)

// kernels returns the micro-kernels this machine can run, best first.
func kernels() []*microKernel {
	var ks []*microKernel
	if cpuid.CPU.Supports(cpuid.AVX512F, cpuid.AVX512VL) {
		ks = append(ks, avx512Kernel)
	}
	if cpuid.CPU.Supports(cpuid.AVX2, cpuid.FMA3) {
		ks = append(ks, avx2Kernel)
	}
	return append(ks, genericKernel)
}
