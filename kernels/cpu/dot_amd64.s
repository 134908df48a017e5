//go:build amd64 && !purego

#include "textflag.h"

// One step of the 4x4 dot-product tile: A rows in Z0-Z3, B rows in Z4-Z7,
// accumulator (i, j) in Z(16+4i+j).
#define FMAS \
	VFMADD231PS Z4, Z0, Z16; \
	VFMADD231PS Z5, Z0, Z17; \
	VFMADD231PS Z6, Z0, Z18; \
	VFMADD231PS Z7, Z0, Z19; \
	VFMADD231PS Z4, Z1, Z20; \
	VFMADD231PS Z5, Z1, Z21; \
	VFMADD231PS Z6, Z1, Z22; \
	VFMADD231PS Z7, Z1, Z23; \
	VFMADD231PS Z4, Z2, Z24; \
	VFMADD231PS Z5, Z2, Z25; \
	VFMADD231PS Z6, Z2, Z26; \
	VFMADD231PS Z7, Z2, Z27; \
	VFMADD231PS Z4, Z3, Z28; \
	VFMADD231PS Z5, Z3, Z29; \
	VFMADD231PS Z6, Z3, Z30; \
	VFMADD231PS Z7, Z3, Z31

// RED adds the lanes of accumulator acc to the float at addr.
#define RED(acc, addr) \
	VMOVAPS       acc, Z8; \
	VEXTRACTF64X4 $1, Z8, Y9; \
	VADDPS        Y9, Y8, Y8; \
	VEXTRACTF128  $1, Y8, X9; \
	VADDPS        X9, X8, X8; \
	VHADDPS       X8, X8, X8; \
	VHADDPS       X8, X8, X8; \
	VADDSS        addr, X8, X8; \
	VMOVSS        X8, addr

// func dotTile4x4OffAVX512(a *float32, lda int, b *float32, boff *[4]int, n int, c *float32, ldc int)
TEXT ·dotTile4x4OffAVX512(SB), NOSPLIT, $0-56
	MOVQ a+0(FP), SI
	MOVQ lda+8(FP), R8
	MOVQ b+16(FP), DI
	MOVQ boff+24(FP), AX
	MOVQ n+32(FP), CX
	SHLQ $2, R8
	LEAQ (R8)(R8*2), R9       // 3*lda
	MOVQ (AX), BX             // B row offsets, in bytes
	MOVQ 8(AX), R10
	MOVQ 16(AX), R11
	MOVQ 24(AX), R12
	SHLQ $2, BX
	SHLQ $2, R10
	SHLQ $2, R11
	SHLQ $2, R12

	VXORPS Z16, Z16, Z16
	VXORPS Z17, Z17, Z17
	VXORPS Z18, Z18, Z18
	VXORPS Z19, Z19, Z19
	VXORPS Z20, Z20, Z20
	VXORPS Z21, Z21, Z21
	VXORPS Z22, Z22, Z22
	VXORPS Z23, Z23, Z23
	VXORPS Z24, Z24, Z24
	VXORPS Z25, Z25, Z25
	VXORPS Z26, Z26, Z26
	VXORPS Z27, Z27, Z27
	VXORPS Z28, Z28, Z28
	VXORPS Z29, Z29, Z29
	VXORPS Z30, Z30, Z30
	VXORPS Z31, Z31, Z31

	SUBQ $16, CX
	JL   otail

oloop:
	VMOVUPS (SI), Z0
	VMOVUPS (SI)(R8*1), Z1
	VMOVUPS (SI)(R8*2), Z2
	VMOVUPS (SI)(R9*1), Z3
	VMOVUPS (DI)(BX*1), Z4
	VMOVUPS (DI)(R10*1), Z5
	VMOVUPS (DI)(R11*1), Z6
	VMOVUPS (DI)(R12*1), Z7
	FMAS
	ADDQ    $64, SI
	ADDQ    $64, DI
	SUBQ    $16, CX
	JGE     oloop

otail:
	ADDQ $16, CX
	JE   oreduce
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K1
	VMOVUPS.Z (SI), K1, Z0
	VMOVUPS.Z (SI)(R8*1), K1, Z1
	VMOVUPS.Z (SI)(R8*2), K1, Z2
	VMOVUPS.Z (SI)(R9*1), K1, Z3
	VMOVUPS.Z (DI)(BX*1), K1, Z4
	VMOVUPS.Z (DI)(R10*1), K1, Z5
	VMOVUPS.Z (DI)(R11*1), K1, Z6
	VMOVUPS.Z (DI)(R12*1), K1, Z7
	FMAS

oreduce:
	MOVQ c+40(FP), DX
	MOVQ ldc+48(FP), R12
	SHLQ $2, R12
	LEAQ (R12)(R12*2), R13
	RED(Z16, (DX))
	RED(Z17, 4(DX))
	RED(Z18, 8(DX))
	RED(Z19, 12(DX))
	RED(Z20, (DX)(R12*1))
	RED(Z21, 4(DX)(R12*1))
	RED(Z22, 8(DX)(R12*1))
	RED(Z23, 12(DX)(R12*1))
	RED(Z24, (DX)(R12*2))
	RED(Z25, 4(DX)(R12*2))
	RED(Z26, 8(DX)(R12*2))
	RED(Z27, 12(DX)(R12*2))
	RED(Z28, (DX)(R13*1))
	RED(Z29, 4(DX)(R13*1))
	RED(Z30, 8(DX)(R13*1))
	RED(Z31, 12(DX)(R13*1))
	VZEROUPPER
	RET
