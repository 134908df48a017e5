//go:build amd64 && !purego

#include "textflag.h"

// func transpose8x16AVX512(dst *float32, dstStride int, src *float32, srcStride int, blocks int, alpha float32)
//
// For each of blocks blocks b, rows i < 8 and steps p < 16:
//
//	dst[(16*b+p)*dstStride+i] = alpha * src[i*srcStride+16*b+p]
TEXT ·transpose8x16AVX512(SB), NOSPLIT, $0-44
	MOVQ         dst+0(FP), R8
	MOVQ         dstStride+8(FP), R9
	SHLQ         $2, R9                  // R9 = S, the dst row stride in bytes
	MOVQ         src+16(FP), SI
	MOVQ         srcStride+24(FP), BX
	SHLQ         $2, BX
	LEAQ         (BX)(BX*2), R14         // 3 source rows
	LEAQ         (SI)(BX*4), DX          // source row 4
	MOVQ         blocks+32(FP), CX
	VBROADCASTSS alpha+40(FP), Z31
	MOVQ         R9, R12
	SHLQ         $2, R12                 // 4S
	LEAQ         (R12)(R12*2), R13       // 12S
	MOVQ         R9, R10
	SHLQ         $4, R10                 // 16S: one block of dst

	TESTQ CX, CX
	JZ    done

loop:
	VMULPS (SI), Z31, Z0
	VMULPS (SI)(BX*1), Z31, Z1
	VMULPS (SI)(BX*2), Z31, Z2
	VMULPS (SI)(R14*1), Z31, Z3
	VMULPS (DX), Z31, Z4
	VMULPS (DX)(BX*1), Z31, Z5
	VMULPS (DX)(BX*2), Z31, Z6
	VMULPS (DX)(R14*1), Z31, Z7

	// Pairs of rows: per 128-bit lane l, t(2m) holds rows 2m, 2m+1 at
	// steps 4l, 4l+1 and t(2m+1) at steps 4l+2, 4l+3.
	VUNPCKLPS Z1, Z0, Z8
	VUNPCKHPS Z1, Z0, Z9
	VUNPCKLPS Z3, Z2, Z10
	VUNPCKHPS Z3, Z2, Z11
	VUNPCKLPS Z5, Z4, Z12
	VUNPCKHPS Z5, Z4, Z13
	VUNPCKLPS Z7, Z6, Z14
	VUNPCKHPS Z7, Z6, Z15

	// Quads: Z(16+q), lane l, holds rows 0..3 at step 4l+q; Z(20+q) rows 4..7.
	VUNPCKLPD Z10, Z8, Z16
	VUNPCKHPD Z10, Z8, Z17
	VUNPCKLPD Z11, Z9, Z18
	VUNPCKHPD Z11, Z9, Z19
	VUNPCKLPD Z14, Z12, Z20
	VUNPCKHPD Z14, Z12, Z21
	VUNPCKLPD Z15, Z13, Z22
	VUNPCKHPD Z15, Z13, Z23

	// Step q, 4+q, 8+q, 12+q: join lane l of the two halves and store.
	MOVQ R8, AX

#define STEPS(lo, hi) \
	VSHUFF32X4    $0x44, hi, lo, Z24; \
	VSHUFF32X4    $0xD8, Z24, Z24, Z25; \
	VSHUFF32X4    $0xEE, hi, lo, Z26; \
	VSHUFF32X4    $0xD8, Z26, Z26, Z27; \
	VMOVUPS       Y25, (AX); \
	VEXTRACTF64X4 $1, Z25, (AX)(R12*1); \
	VMOVUPS       Y27, (AX)(R12*2); \
	VEXTRACTF64X4 $1, Z27, (AX)(R13*1); \
	ADDQ          R9, AX

	STEPS(Z16, Z20)
	STEPS(Z17, Z21)
	STEPS(Z18, Z22)
	STEPS(Z19, Z23)

	ADDQ $64, SI
	ADDQ $64, DX
	ADDQ R10, R8
	DECQ CX
	JNZ  loop

done:
	VZEROUPPER
	RET
