//go:build amd64 && !purego

#include "textflag.h"

// Every loop takes n > 0, a multiple of 8, and handles 8 floats per step.
// _CMP_GT_OQ (0x1e) is the predicate of the ReLU masks: y > 0, false for
// NaN.

// func addToAVX2(dst, src *float32, n int)
TEXT ·addToAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX

addloop:
	VMOVUPS (DI), Y0
	VADDPS  (SI), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JNE     addloop
	VZEROUPPER
	RET

// func segStatsAVX2(x *float32, n int, shift float64, out *[2]float64)
TEXT ·segStatsAVX2(SB), NOSPLIT, $0-32
	MOVQ         x+0(FP), SI
	MOVQ         n+8(FP), CX
	VBROADCASTSD shift+16(FP), Y15
	VXORPD       Y0, Y0, Y0 // sums
	VXORPD       Y1, Y1, Y1
	VXORPD       Y2, Y2, Y2 // sums of squares
	VXORPD       Y3, Y3, Y3

statloop:
	VCVTPS2PD   (SI), Y4
	VCVTPS2PD   16(SI), Y5
	VSUBPD      Y15, Y4, Y4
	VSUBPD      Y15, Y5, Y5
	VADDPD      Y4, Y0, Y0
	VADDPD      Y5, Y1, Y1
	VFMADD231PD Y4, Y4, Y2
	VFMADD231PD Y5, Y5, Y3
	ADDQ        $32, SI
	SUBQ        $8, CX
	JNE         statloop

	VADDPD       Y1, Y0, Y0
	VADDPD       Y3, Y2, Y2
	VEXTRACTF128 $1, Y0, X1
	VADDPD       X1, X0, X0
	VHADDPD      X0, X0, X0
	VEXTRACTF128 $1, Y2, X3
	VADDPD       X3, X2, X2
	VHADDPD      X2, X2, X2
	MOVQ         out+24(FP), DI
	VMOVSD       X0, (DI)
	VMOVSD       X2, 8(DI)
	VZEROUPPER
	RET

// func bnAffineAVX2(x, y *float32, n int, mhi, mlo, a, b float32, relu bool)
TEXT ·bnAffineAVX2(SB), NOSPLIT, $0-41
	MOVQ         x+0(FP), SI
	MOVQ         y+8(FP), DI
	MOVQ         n+16(FP), CX
	VBROADCASTSS mhi+24(FP), Y4
	VBROADCASTSS mlo+28(FP), Y5
	VBROADCASTSS a+32(FP), Y6
	VBROADCASTSS b+36(FP), Y7
	VXORPS       Y8, Y8, Y8
	MOVBLZX      relu+40(FP), AX
	TESTL        AX, AX
	JNE          reluloop

affloop:
	VMOVUPS     (SI), Y0
	VSUBPS      Y4, Y0, Y0
	VSUBPS      Y5, Y0, Y0
	VFMADD213PS Y7, Y6, Y0 // Y0 = Y0*a + b
	VMOVUPS     Y0, (DI)
	ADDQ        $32, SI
	ADDQ        $32, DI
	SUBQ        $8, CX
	JNE         affloop
	VZEROUPPER
	RET

reluloop:
	VMOVUPS     (SI), Y0
	VSUBPS      Y4, Y0, Y0
	VSUBPS      Y5, Y0, Y0
	VFMADD213PS Y7, Y6, Y0
	VCMPPS      $0x1e, Y8, Y0, Y1 // Y1 = Y0 > 0
	VANDPS      Y1, Y0, Y0
	VMOVUPS     Y0, (DI)
	ADDQ        $32, SI
	ADDQ        $32, DI
	SUBQ        $8, CX
	JNE         reluloop
	VZEROUPPER
	RET

// func bnGradSumsAVX2(x, dy, y *float32, n int, m float64, out *[2]float64)
TEXT ·bnGradSumsAVX2(SB), NOSPLIT, $0-48
	MOVQ         x+0(FP), SI
	MOVQ         dy+8(FP), DX
	MOVQ         y+16(FP), BX
	MOVQ         n+24(FP), CX
	VBROADCASTSD m+32(FP), Y15
	VXORPS       Y14, Y14, Y14
	VXORPD       Y0, Y0, Y0 // sums of g
	VXORPD       Y1, Y1, Y1
	VXORPD       Y2, Y2, Y2 // sums of g*(x-m)
	VXORPD       Y3, Y3, Y3

sumloop:
	VMOVUPS (DX), Y9
	TESTQ   BX, BX
	JE      sumnomask
	VMOVUPS (BX), Y8
	VCMPPS  $0x1e, Y14, Y8, Y8
	VANDPS  Y8, Y9, Y9
	ADDQ    $32, BX

sumnomask:
	VCVTPS2PD    X9, Y4
	VEXTRACTF128 $1, Y9, X9
	VCVTPS2PD    X9, Y5
	VCVTPS2PD    (SI), Y6
	VCVTPS2PD    16(SI), Y7
	VSUBPD       Y15, Y6, Y6
	VSUBPD       Y15, Y7, Y7
	VADDPD       Y4, Y0, Y0
	VADDPD       Y5, Y1, Y1
	VFMADD231PD  Y6, Y4, Y2
	VFMADD231PD  Y7, Y5, Y3
	ADDQ         $32, SI
	ADDQ         $32, DX
	SUBQ         $8, CX
	JNE          sumloop

	VADDPD       Y1, Y0, Y0
	VADDPD       Y3, Y2, Y2
	VEXTRACTF128 $1, Y0, X1
	VADDPD       X1, X0, X0
	VHADDPD      X0, X0, X0
	VEXTRACTF128 $1, Y2, X3
	VADDPD       X3, X2, X2
	VHADDPD      X2, X2, X2
	MOVQ         out+40(FP), DI
	VMOVSD       X0, (DI)
	VMOVSD       X2, 8(DI)
	VZEROUPPER
	RET

// func bnGradApplyAVX2(x, dy, y, dx *float32, n int, ka, kb, kc float64)
TEXT ·bnGradApplyAVX2(SB), NOSPLIT, $0-64
	MOVQ         x+0(FP), SI
	MOVQ         dy+8(FP), DX
	MOVQ         y+16(FP), BX
	MOVQ         dx+24(FP), DI
	MOVQ         n+32(FP), CX
	VBROADCASTSD ka+40(FP), Y13
	VBROADCASTSD kb+48(FP), Y12
	VBROADCASTSD kc+56(FP), Y11
	VXORPS       Y14, Y14, Y14

applyloop:
	VMOVUPS (DX), Y9
	TESTQ   BX, BX
	JE      applynomask
	VMOVUPS (BX), Y8
	VCMPPS  $0x1e, Y14, Y8, Y8
	VANDPS  Y8, Y9, Y9
	ADDQ    $32, BX

applynomask:
	VCVTPS2PD    X9, Y4
	VEXTRACTF128 $1, Y9, X9
	VCVTPS2PD    X9, Y5
	VCVTPS2PD    (SI), Y6
	VCVTPS2PD    16(SI), Y7
	VMOVAPD      Y11, Y0
	VMOVAPD      Y11, Y1
	VFMADD231PD  Y6, Y12, Y0 // kc + kb*x
	VFMADD231PD  Y7, Y12, Y1
	VFMADD231PD  Y4, Y13, Y0 // + ka*g
	VFMADD231PD  Y5, Y13, Y1
	VCVTPD2PSY   Y0, X0
	VCVTPD2PSY   Y1, X1
	VINSERTF128  $1, X1, Y0, Y0
	VMOVUPS      Y0, (DI)
	ADDQ         $32, SI
	ADDQ         $32, DX
	ADDQ         $32, DI
	SUBQ         $8, CX
	JNE          applyloop
	VZEROUPPER
	RET

// func maskPosAVX2(y, dy, dst *float32, n int)
TEXT ·maskPosAVX2(SB), NOSPLIT, $0-32
	MOVQ   y+0(FP), SI
	MOVQ   dy+8(FP), DX
	MOVQ   dst+16(FP), DI
	MOVQ   n+24(FP), CX
	VXORPS Y15, Y15, Y15

maskloop:
	VMOVUPS (SI), Y0
	VCMPPS  $0x1e, Y15, Y0, Y0
	VANDPS  (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	SUBQ    $8, CX
	JNE     maskloop
	VZEROUPPER
	RET

// func addAVX2(a, b, dst *float32, n int)
TEXT ·addAVX2(SB), NOSPLIT, $0-32
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DX
	MOVQ dst+16(FP), DI
	MOVQ n+24(FP), CX

addvloop:
	VMOVUPS (SI), Y0
	VADDPS  (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	SUBQ    $8, CX
	JNE     addvloop
	VZEROUPPER
	RET

// func axpyAVX2(alpha float32, x, y *float32, n int)
TEXT ·axpyAVX2(SB), NOSPLIT, $0-32
	VBROADCASTSS alpha+0(FP), Y15
	MOVQ         x+8(FP), SI
	MOVQ         y+16(FP), DI
	MOVQ         n+24(FP), CX

axpyloop:
	VMOVUPS     (DI), Y0
	VFMADD231PS (SI), Y15, Y0 // y += alpha*x
	VMOVUPS     Y0, (DI)
	ADDQ        $32, SI
	ADDQ        $32, DI
	SUBQ        $8, CX
	JNE         axpyloop
	VZEROUPPER
	RET
