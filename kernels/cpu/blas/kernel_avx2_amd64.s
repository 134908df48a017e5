//go:build amd64 && !purego

#include "textflag.h"

// The 6x16 AVX2+FMA micro-kernel. Accumulators: row i, vector v (8 columns
// each) in Y(4+2i+v). B row p is loaded into Y0, Y1, a[p*6+i] broadcast into
// Y2. SI points at a[p*6], DI at b[p*16].

#define ROW(aoff, acc0, acc1) \
	VBROADCASTSS aoff(SI), Y2; \
	VFMADD231PS  Y0, Y2, acc0; \
	VFMADD231PS  Y1, Y2, acc1

#define STEP(aoff, boff) \
	VMOVUPS boff(DI), Y0; \
	VMOVUPS boff+32(DI), Y1; \
	ROW(aoff, Y4, Y5); \
	ROW(aoff+4, Y6, Y7); \
	ROW(aoff+8, Y8, Y9); \
	ROW(aoff+12, Y10, Y11); \
	ROW(aoff+16, Y12, Y13); \
	ROW(aoff+20, Y14, Y15)

// C row at R11: c = acc + beta*c (beta in Y3), then the next row.
#define LDROW(acc0, acc1) \
	VFMADD231PS (R11), Y3, acc0; \
	VFMADD231PS 32(R11), Y3, acc1; \
	VMOVUPS     acc0, (R11); \
	VMOVUPS     acc1, 32(R11); \
	ADDQ        BX, R11

#define STROW(acc0, acc1) \
	VMOVUPS acc0, (R11); \
	VMOVUPS acc1, 32(R11); \
	ADDQ    BX, R11

// func sgemmKernel6x16AVX2(kc int, a, b, c *float32, ldc int, beta float32, load bool)
TEXT ·sgemmKernel6x16AVX2(SB), NOSPLIT, $0-45
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), BX
	SHLQ $2, BX

	MOVQ DX, R11
	MOVQ $6, R12

prefetch:
	PREFETCHT0 (R11)
	PREFETCHT0 60(R11)
	ADDQ       BX, R11
	DECQ       R12
	JNZ        prefetch

	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	VXORPS Y12, Y12, Y12
	VXORPS Y13, Y13, Y13
	VXORPS Y14, Y14, Y14
	VXORPS Y15, Y15, Y15

	MOVQ CX, R12
	SHRQ $2, R12
	ANDQ $3, CX

loop4:
	TESTQ R12, R12
	JZ    tail
	STEP(0, 0)
	STEP(24, 64)
	STEP(48, 128)
	STEP(72, 192)
	ADDQ  $96, SI
	ADDQ  $256, DI
	DECQ  R12
	JMP   loop4

tail:
	TESTQ CX, CX
	JZ    store
	STEP(0, 0)
	ADDQ  $24, SI
	ADDQ  $64, DI
	DECQ  CX
	JMP   tail

store:
	MOVQ         DX, R11
	CMPB         load+44(FP), $0
	JEQ          write
	VBROADCASTSS beta+40(FP), Y3
	LDROW(Y4, Y5)
	LDROW(Y6, Y7)
	LDROW(Y8, Y9)
	LDROW(Y10, Y11)
	LDROW(Y12, Y13)
	LDROW(Y14, Y15)
	VZEROUPPER
	RET

write:
	STROW(Y4, Y5)
	STROW(Y6, Y7)
	STROW(Y8, Y9)
	STROW(Y10, Y11)
	STROW(Y12, Y13)
	STROW(Y14, Y15)
	VZEROUPPER
	RET
