//go:build amd64 && !purego

#include "textflag.h"

// DEINT loads the 32 values at ptr and splits them into the even lanes
// (de) and the odd lanes (do). Z30, Z31: the even and odd permutations.
#define DEINT(ptr, de, do) \
	VMOVUPS   (ptr), de;       \
	VMOVUPS   64(ptr), Z16;    \
	VMOVAPS   de, do;          \
	VPERMT2PS Z16, Z30, de;    \
	VPERMT2PS Z16, Z31, do

// BT applies B^T to x0..x3: x0-x2, x1+x2, x2-x1, x1-x3.
#define BT(x0, x1, x2, x3) \
	VSUBPS  x2, x0, x0;  \
	VSUBPS  x3, x1, x3;  \
	VADDPS  x2, x1, Z17; \
	VSUBPS  x1, x2, x2;  \
	VMOVAPS Z17, x1

// AT applies A^T to x0..x3 into x0, x1: x0+x1+x2, x1-x2-x3.
#define AT(x0, x1, x2, x3) \
	VADDPS x1, x0, x0; \
	VSUBPS x2, x1, x1; \
	VADDPS x2, x0, x0; \
	VSUBPS x3, x1, x1

// func winoInAVX512(v *float32, vs int, s *[8]*float32, n int)
// The streams s: ev, od, ev2, od2 of rows a = 0, 1 of the patches, then of
// rows a = 2, 3.
TEXT ·winoInAVX512(SB), NOSPLIT, $0-32
	MOVQ v+0(FP), DI
	MOVQ vs+8(FP), R8
	SHLQ $2, R8
	MOVQ s+16(FP), R9
	MOVQ 0(R9), AX
	MOVQ 8(R9), BX
	MOVQ 16(R9), CX
	MOVQ 24(R9), DX
	MOVQ 32(R9), SI
	MOVQ 40(R9), R11
	MOVQ 48(R9), R12
	MOVQ 56(R9), R13
	MOVQ n+24(FP), R10
	VMOVDQU32 ·winoIdx+0(SB), Z30
	VMOVDQU32 ·winoIdx+64(SB), Z31

inloop:
	TESTQ  R10, R10
	JLE    indone
	KXNORW K1, K1, K1
	CMPQ   R10, $16
	JGE    inbody
	LEAQ   ·winoMasks(SB), R9
	KMOVW  (R9)(R10*2), K1

inbody:
	DEINT(AX, Z0, Z1)
	DEINT(CX, Z2, Z3)
	DEINT(BX, Z4, Z5)
	DEINT(DX, Z6, Z7)
	DEINT(SI, Z8, Z9)
	DEINT(R12, Z10, Z11)
	DEINT(R11, Z12, Z13)
	DEINT(R13, Z14, Z15)
	BT(Z0, Z4, Z8, Z12)
	BT(Z1, Z5, Z9, Z13)
	BT(Z2, Z6, Z10, Z14)
	BT(Z3, Z7, Z11, Z15)
	BT(Z0, Z1, Z2, Z3)
	BT(Z4, Z5, Z6, Z7)
	BT(Z8, Z9, Z10, Z11)
	BT(Z12, Z13, Z14, Z15)
	MOVQ    DI, R14
	VMOVUPS Z0, K1, (R14)
	ADDQ    R8, R14
	VMOVUPS Z1, K1, (R14)
	ADDQ    R8, R14
	VMOVUPS Z2, K1, (R14)
	ADDQ    R8, R14
	VMOVUPS Z3, K1, (R14)
	ADDQ    R8, R14
	VMOVUPS Z4, K1, (R14)
	ADDQ    R8, R14
	VMOVUPS Z5, K1, (R14)
	ADDQ    R8, R14
	VMOVUPS Z6, K1, (R14)
	ADDQ    R8, R14
	VMOVUPS Z7, K1, (R14)
	ADDQ    R8, R14
	VMOVUPS Z8, K1, (R14)
	ADDQ    R8, R14
	VMOVUPS Z9, K1, (R14)
	ADDQ    R8, R14
	VMOVUPS Z10, K1, (R14)
	ADDQ    R8, R14
	VMOVUPS Z11, K1, (R14)
	ADDQ    R8, R14
	VMOVUPS Z12, K1, (R14)
	ADDQ    R8, R14
	VMOVUPS Z13, K1, (R14)
	ADDQ    R8, R14
	VMOVUPS Z14, K1, (R14)
	ADDQ    R8, R14
	VMOVUPS Z15, K1, (R14)
	ADDQ    $64, DI
	ADDQ    $128, AX
	ADDQ    $128, BX
	ADDQ    $128, CX
	ADDQ    $128, DX
	ADDQ    $128, SI
	ADDQ    $128, R11
	ADDQ    $128, R12
	ADDQ    $128, R13
	SUBQ    $16, R10
	JMP     inloop

indone:
	VZEROUPPER
	RET

// func winoOutAVX512(yev, yod, m *float32, ms, n int)
TEXT ·winoOutAVX512(SB), NOSPLIT, $0-40
	MOVQ yev+0(FP), DI
	MOVQ yod+8(FP), SI
	MOVQ m+16(FP), AX
	MOVQ ms+24(FP), R8
	SHLQ $2, R8
	MOVQ n+32(FP), R10
	VMOVDQU32 ·winoIdx+128(SB), Z28
	VMOVDQU32 ·winoIdx+192(SB), Z29

outloop:
	TESTQ  R10, R10
	JLE    outdone
	KXNORW K1, K1, K1
	CMPQ   R10, $16
	JGE    outbody
	LEAQ   ·winoMasks(SB), R9
	KMOVW  (R9)(R10*2), K1

outbody:
	MOVQ      AX, R14
	VMOVUPS.Z (R14), K1, Z0
	ADDQ      R8, R14
	VMOVUPS.Z (R14), K1, Z1
	ADDQ      R8, R14
	VMOVUPS.Z (R14), K1, Z2
	ADDQ      R8, R14
	VMOVUPS.Z (R14), K1, Z3
	ADDQ      R8, R14
	VMOVUPS.Z (R14), K1, Z4
	ADDQ      R8, R14
	VMOVUPS.Z (R14), K1, Z5
	ADDQ      R8, R14
	VMOVUPS.Z (R14), K1, Z6
	ADDQ      R8, R14
	VMOVUPS.Z (R14), K1, Z7
	ADDQ      R8, R14
	VMOVUPS.Z (R14), K1, Z8
	ADDQ      R8, R14
	VMOVUPS.Z (R14), K1, Z9
	ADDQ      R8, R14
	VMOVUPS.Z (R14), K1, Z10
	ADDQ      R8, R14
	VMOVUPS.Z (R14), K1, Z11
	ADDQ      R8, R14
	VMOVUPS.Z (R14), K1, Z12
	ADDQ      R8, R14
	VMOVUPS.Z (R14), K1, Z13
	ADDQ      R8, R14
	VMOVUPS.Z (R14), K1, Z14
	ADDQ      R8, R14
	VMOVUPS.Z (R14), K1, Z15
	AT(Z0, Z4, Z8, Z12)
	AT(Z1, Z5, Z9, Z13)
	AT(Z2, Z6, Z10, Z14)
	AT(Z3, Z7, Z11, Z15)
	AT(Z0, Z1, Z2, Z3)
	AT(Z4, Z5, Z6, Z7)
	VMOVAPS   Z0, Z16
	VPERMT2PS Z1, Z28, Z16
	VPERMT2PS Z1, Z29, Z0
	VMOVUPS   Z16, (DI)
	VMOVUPS   Z0, 64(DI)
	VMOVAPS   Z4, Z17
	VPERMT2PS Z5, Z28, Z17
	VPERMT2PS Z5, Z29, Z4
	VMOVUPS   Z17, (SI)
	VMOVUPS   Z4, 64(SI)
	ADDQ      $64, AX
	ADDQ      $128, DI
	ADDQ      $128, SI
	SUBQ      $16, R10
	JMP       outloop

outdone:
	VZEROUPPER
	RET

// func winoFillAVX512(x *float32, h, w int, ev, od, ev2, od2 *float32, l, rows, r0 int, m1, m2 uint16)
// fillStreams for w <= 16, from padded row 2*r0 (input row 2*r0-1): each
// stream row is zeroed (16 lanes), then input row r, when 0 <= r < h, is
// stored at ev+1 (the m1 lanes) and, from its column 1, at ev2 (the m2
// lanes).
TEXT ·winoFillAVX512(SB), NOSPLIT, $0-84
	MOVQ  x+0(FP), SI
	MOVQ  h+8(FP), DX
	MOVQ  w+16(FP), R8
	SHLQ  $2, R8
	MOVQ  ev+24(FP), DI
	MOVQ  od+32(FP), R10
	MOVQ  ev2+40(FP), R11
	MOVQ  od2+48(FP), R12
	MOVQ  l+56(FP), R9
	SHLQ  $2, R9
	MOVQ  rows+64(FP), CX
	MOVQ  r0+72(FP), BX
	KMOVW m1+80(FP), K1
	KMOVW m2+82(FP), K2
	SHLQ  $1, BX
	DECQ  BX
	MOVQ  BX, AX
	IMULQ R8, AX
	ADDQ  AX, SI
	VPXORD Z0, Z0, Z0

fillloop:
	VMOVUPS Z0, (DI)
	VMOVUPS Z0, (R11)
	CMPQ    BX, DX
	JAE     fillod
	VMOVUPS.Z (SI), K1, Z1
	VMOVUPS   Z1, K1, 4(DI)
	VMOVUPS.Z 4(SI), K2, Z2
	VMOVUPS   Z2, K2, (R11)

fillod:
	ADDQ    R8, SI
	INCQ    BX
	VMOVUPS Z0, (R10)
	VMOVUPS Z0, (R12)
	CMPQ    BX, DX
	JAE     fillnext
	VMOVUPS.Z (SI), K1, Z1
	VMOVUPS   Z1, K1, 4(R10)
	VMOVUPS.Z 4(SI), K2, Z2
	VMOVUPS   Z2, K2, (R12)

fillnext:
	ADDQ R8, SI
	INCQ BX
	ADDQ R9, DI
	ADDQ R9, R10
	ADDQ R9, R11
	ADDQ R9, R12
	DECQ CX
	JNZ  fillloop
	VZEROUPPER
	RET

// func winoCopyOutAVX512(y, yev, yod *float32, p, q, l int, mq uint16)
// Copies the p rows of the output streams into y [p, q], q <= 16: row 2r
// from yev+r*l, row 2r+1 from yod+r*l (the mq lanes).
TEXT ·winoCopyOutAVX512(SB), NOSPLIT, $0-50
	MOVQ  y+0(FP), DI
	MOVQ  yev+8(FP), SI
	MOVQ  yod+16(FP), AX
	MOVQ  p+24(FP), DX
	MOVQ  q+32(FP), R8
	SHLQ  $2, R8
	MOVQ  l+40(FP), R9
	SHLQ  $2, R9
	KMOVW mq+48(FP), K1

copyloop:
	VMOVUPS.Z (SI), K1, Z1
	VMOVUPS   Z1, K1, (DI)
	ADDQ      R8, DI
	DECQ      DX
	JZ        copydone
	VMOVUPS.Z (AX), K1, Z2
	VMOVUPS   Z2, K1, (DI)
	ADDQ      R8, DI
	ADDQ      R9, SI
	ADDQ      R9, AX
	DECQ      DX
	JNZ       copyloop

copydone:
	VZEROUPPER
	RET

// STORE4 stores z0, z0+z1, z0-z1, -z1 at R14, R14+R8, ... (mask K1), R14
// advancing past them. Z31 is zero.
#define STORE4(z0, z1) \
	VMOVUPS z0, K1, (R14); \
	ADDQ    R8, R14;       \
	VADDPS  z1, z0, Z20;   \
	VMOVUPS Z20, K1, (R14); \
	ADDQ    R8, R14;       \
	VSUBPS  z1, z0, Z21;   \
	VMOVUPS Z21, K1, (R14); \
	ADDQ    R8, R14;       \
	VSUBPS  z1, Z31, Z22;  \
	VMOVUPS Z22, K1, (R14); \
	ADDQ    R8, R14

// func winoDyAVX512(dm *float32, ms int, yev, yod *float32, n int)
TEXT ·winoDyAVX512(SB), NOSPLIT, $0-40
	MOVQ dm+0(FP), DI
	MOVQ ms+8(FP), R8
	SHLQ $2, R8
	MOVQ yev+16(FP), AX
	MOVQ yod+24(FP), BX
	MOVQ n+32(FP), R10
	VMOVDQU32 ·winoIdx+0(SB), Z29
	VMOVDQU32 ·winoIdx+64(SB), Z30
	VPXORD    Z31, Z31, Z31

dyloop:
	TESTQ  R10, R10
	JLE    dydone
	KXNORW K1, K1, K1
	CMPQ   R10, $16
	JGE    dybody
	LEAQ   ·winoMasks(SB), R9
	KMOVW  (R9)(R10*2), K1

dybody:
	VMOVUPS   (AX), Z0
	VMOVUPS   64(AX), Z16
	VMOVAPS   Z0, Z1
	VPERMT2PS Z16, Z29, Z0
	VPERMT2PS Z16, Z30, Z1
	VMOVUPS   (BX), Z2
	VMOVUPS   64(BX), Z17
	VMOVAPS   Z2, Z3
	VPERMT2PS Z17, Z29, Z2
	VPERMT2PS Z17, Z30, Z3
	VADDPS    Z2, Z0, Z4
	VADDPS    Z3, Z1, Z5
	VSUBPS    Z2, Z0, Z6
	VSUBPS    Z3, Z1, Z7
	VSUBPS    Z2, Z31, Z8
	VSUBPS    Z3, Z31, Z9
	MOVQ      DI, R14
	STORE4(Z0, Z1)
	STORE4(Z4, Z5)
	STORE4(Z6, Z7)
	STORE4(Z8, Z9)
	ADDQ      $64, DI
	ADDQ      $128, AX
	ADDQ      $128, BX
	SUBQ      $16, R10
	JMP       dyloop

dydone:
	VZEROUPPER
	RET

// func winoFillDyAVX512(dy, yev, yod *float32, p, q, l int, mq uint16)
// fillDy for q <= 16: each stream row is zeroed (16 lanes), then the dy row
// stored in its mq lanes.
TEXT ·winoFillDyAVX512(SB), NOSPLIT, $0-50
	MOVQ  dy+0(FP), SI
	MOVQ  yev+8(FP), DI
	MOVQ  yod+16(FP), AX
	MOVQ  p+24(FP), DX
	MOVQ  q+32(FP), R8
	SHLQ  $2, R8
	MOVQ  l+40(FP), R9
	SHLQ  $2, R9
	KMOVW mq+48(FP), K1
	VPXORD Z0, Z0, Z0

fdyloop:
	VMOVUPS   Z0, (DI)
	VMOVUPS   Z0, (AX)
	VMOVUPS.Z (SI), K1, Z1
	VMOVUPS   Z1, K1, (DI)
	ADDQ      R8, SI
	ADDQ      R9, DI
	DECQ      DX
	JZ        fdydone
	VMOVUPS.Z (SI), K1, Z2
	VMOVUPS   Z2, K1, (AX)
	ADDQ      R8, SI
	ADDQ      R9, AX
	DECQ      DX
	JNZ       fdyloop
	VZEROUPPER
	RET

fdydone:
	VMOVUPS Z0, (AX)
	VZEROUPPER
	RET
