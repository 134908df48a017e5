//go:build amd64 && !purego

#include "textflag.h"

// The 8x48 AVX-512 micro-kernel. Accumulators: row i, vector v (16 columns
// each) in Z(8+3i+v). B row p is loaded into Z0..Z2, a[p*8+i] broadcast
// into Z3. SI points at a[p*8], DI at b[p*48] (the packed B row stride is
// always 48 values, whatever the number of columns computed).

#define ROW3(aoff, acc0, acc1, acc2) \
	VBROADCASTSS aoff(SI), Z3; \
	VFMADD231PS  Z0, Z3, acc0; \
	VFMADD231PS  Z1, Z3, acc1; \
	VFMADD231PS  Z2, Z3, acc2

#define STEP3(aoff, boff) \
	VMOVUPS boff(DI), Z0; \
	VMOVUPS boff+64(DI), Z1; \
	VMOVUPS boff+128(DI), Z2; \
	ROW3(aoff, Z8, Z9, Z10); \
	ROW3(aoff+4, Z11, Z12, Z13); \
	ROW3(aoff+8, Z14, Z15, Z16); \
	ROW3(aoff+12, Z17, Z18, Z19); \
	ROW3(aoff+16, Z20, Z21, Z22); \
	ROW3(aoff+20, Z23, Z24, Z25); \
	ROW3(aoff+24, Z26, Z27, Z28); \
	ROW3(aoff+28, Z29, Z30, Z31)

#define ROW2(aoff, acc0, acc1) \
	VBROADCASTSS aoff(SI), Z3; \
	VFMADD231PS  Z0, Z3, acc0; \
	VFMADD231PS  Z1, Z3, acc1

#define STEP2(aoff, boff) \
	VMOVUPS boff(DI), Z0; \
	VMOVUPS boff+64(DI), Z1; \
	ROW2(aoff, Z8, Z9); \
	ROW2(aoff+4, Z11, Z12); \
	ROW2(aoff+8, Z14, Z15); \
	ROW2(aoff+12, Z17, Z18); \
	ROW2(aoff+16, Z20, Z21); \
	ROW2(aoff+20, Z23, Z24); \
	ROW2(aoff+24, Z26, Z27); \
	ROW2(aoff+28, Z29, Z30)

#define STEP1(aoff, boff) \
	VMOVUPS          boff(DI), Z0; \
	VFMADD231PS.BCST aoff(SI), Z0, Z8; \
	VFMADD231PS.BCST aoff+4(SI), Z0, Z11; \
	VFMADD231PS.BCST aoff+8(SI), Z0, Z14; \
	VFMADD231PS.BCST aoff+12(SI), Z0, Z17; \
	VFMADD231PS.BCST aoff+16(SI), Z0, Z20; \
	VFMADD231PS.BCST aoff+20(SI), Z0, Z23; \
	VFMADD231PS.BCST aoff+24(SI), Z0, Z26; \
	VFMADD231PS.BCST aoff+28(SI), Z0, Z29

// STEP3 reading B row p from the source matrix at R8 (row stride R9 bytes,
// last vector masked by K1) and storing it packed at boff(DI).
#define FSTEP3(aoff, boff) \
	PREFETCHT0 (R8)(R10*1); \
	PREFETCHT0 64(R8)(R10*1); \
	PREFETCHT0 128(R8)(R10*1); \
	VMOVUPS   (R8), Z0; \
	VMOVUPS   64(R8), Z1; \
	VMOVUPS.Z 128(R8), K1, Z2; \
	ADDQ      R9, R8; \
	VMOVUPS   Z0, boff(DI); \
	VMOVUPS   Z1, boff+64(DI); \
	VMOVUPS   Z2, boff+128(DI); \
	ROW3(aoff, Z8, Z9, Z10); \
	ROW3(aoff+4, Z11, Z12, Z13); \
	ROW3(aoff+8, Z14, Z15, Z16); \
	ROW3(aoff+12, Z17, Z18, Z19); \
	ROW3(aoff+16, Z20, Z21, Z22); \
	ROW3(aoff+20, Z23, Z24, Z25); \
	ROW3(aoff+24, Z26, Z27, Z28); \
	ROW3(aoff+28, Z29, Z30, Z31)

// Row stores at R11; the last vector of each row is masked by K1. The LD
// forms first add beta*C (beta in Z0). NEXT moves to the next row and stops
// after the rows asked for (R13).
#define LD3(acc0, acc1, acc2) \
	VFMADD231PS (R11), Z0, acc0; \
	VFMADD231PS 64(R11), Z0, acc1; \
	VFMADD231PS 128(R11), Z0, K1, acc2

#define ST3(acc0, acc1, acc2) \
	VMOVUPS acc0, (R11); \
	VMOVUPS acc1, 64(R11); \
	VMOVUPS acc2, K1, 128(R11)

#define LD2(acc0, acc1) \
	VFMADD231PS (R11), Z0, acc0; \
	VFMADD231PS 64(R11), Z0, K1, acc1

#define ST2(acc0, acc1) \
	VMOVUPS acc0, (R11); \
	VMOVUPS acc1, K1, 64(R11)

#define LD1(acc0) \
	VFMADD231PS (R11), Z0, K1, acc0

#define ST1(acc0) \
	VMOVUPS acc0, K1, (R11)

#define NEXT \
	ADDQ BX, R11; \
	DECQ R13; \
	JZ   done

// func sgemmKernel8x48AVX512(kc int, a, b, c *float32, ldc int, beta float32, load bool, rows, cols int, bsrc *float32, ldb int)
TEXT ·sgemmKernel8x48AVX512(SB), NOSPLIT, $0-80
	// K1 masks the last 16-column vector: its low ((cols-1)&15)+1 lanes.
	MOVQ  cols+56(FP), CX
	MOVQ  CX, R14
	DECQ  CX
	ANDQ  $15, CX
	INCQ  CX
	MOVL  $1, AX
	SHLL  CX, AX
	DECL  AX
	KMOVW AX, K1

	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), BX
	SHLQ $2, BX
	MOVQ rows+48(FP), R13

	// Warm the C tile while the products run.
	MOVQ DX, R11
	MOVQ $8, R12

prefetch:
	PREFETCHT0 (R11)
	PREFETCHT0 64(R11)
	PREFETCHT0 128(R11)
	ADDQ       BX, R11
	DECQ       R12
	JNZ        prefetch

	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15
	VPXORD Z16, Z16, Z16
	VPXORD Z17, Z17, Z17
	VPXORD Z18, Z18, Z18
	VPXORD Z19, Z19, Z19
	VPXORD Z20, Z20, Z20
	VPXORD Z21, Z21, Z21
	VPXORD Z22, Z22, Z22
	VPXORD Z23, Z23, Z23
	VPXORD Z24, Z24, Z24
	VPXORD Z25, Z25, Z25
	VPXORD Z26, Z26, Z26
	VPXORD Z27, Z27, Z27
	VPXORD Z28, Z28, Z28
	VPXORD Z29, Z29, Z29
	VPXORD Z30, Z30, Z30
	VPXORD Z31, Z31, Z31

	MOVQ CX, R12
	SHRQ $2, R12
	ANDQ $3, CX
	MOVQ bsrc+64(FP), R8
	TESTQ R8, R8
	JNZ  fused3
	CMPQ R14, $32
	JGT  loop3
	CMPQ R14, $16
	JGT  loop2
	JMP  loop1

// 48 columns (three vectors), four steps at a time, then the rest.
loop3:
	TESTQ R12, R12
	JZ    tail3
	STEP3(0, 0)
	STEP3(32, 192)
	STEP3(64, 384)
	STEP3(96, 576)
	ADDQ  $128, SI
	ADDQ  $768, DI
	DECQ  R12
	JMP   loop3

tail3:
	TESTQ CX, CX
	JZ    store3
	STEP3(0, 0)
	ADDQ  $32, SI
	ADDQ  $192, DI
	DECQ  CX
	JMP   tail3

// 48 columns (cols > 32) with B read from its source and packed on the way.
fused3:
	MOVQ ldb+72(FP), R9
	SHLQ $2, R9
	MOVQ R9, R10
	SHLQ $3, R10

floop3:
	TESTQ R12, R12
	JZ    ftail3
	FSTEP3(0, 0)
	FSTEP3(32, 192)
	FSTEP3(64, 384)
	FSTEP3(96, 576)
	ADDQ  $128, SI
	ADDQ  $768, DI
	DECQ  R12
	JMP   floop3

ftail3:
	TESTQ CX, CX
	JZ    store3
	FSTEP3(0, 0)
	ADDQ  $32, SI
	ADDQ  $192, DI
	DECQ  CX
	JMP   ftail3

// 32 columns.
loop2:
	TESTQ R12, R12
	JZ    tail2
	STEP2(0, 0)
	STEP2(32, 192)
	STEP2(64, 384)
	STEP2(96, 576)
	ADDQ  $128, SI
	ADDQ  $768, DI
	DECQ  R12
	JMP   loop2

tail2:
	TESTQ CX, CX
	JZ    store2
	STEP2(0, 0)
	ADDQ  $32, SI
	ADDQ  $192, DI
	DECQ  CX
	JMP   tail2

// 16 columns.
loop1:
	TESTQ R12, R12
	JZ    tail1
	STEP1(0, 0)
	STEP1(32, 192)
	STEP1(64, 384)
	STEP1(96, 576)
	ADDQ  $128, SI
	ADDQ  $768, DI
	DECQ  R12
	JMP   loop1

tail1:
	TESTQ CX, CX
	JZ    store1
	STEP1(0, 0)
	ADDQ  $32, SI
	ADDQ  $192, DI
	DECQ  CX
	JMP   tail1

store3:
	MOVQ         DX, R11
	VBROADCASTSS beta+40(FP), Z0
	CMPB         load+44(FP), $0
	JEQ          write3
	LD3(Z8, Z9, Z10)
	ST3(Z8, Z9, Z10)
	NEXT
	LD3(Z11, Z12, Z13)
	ST3(Z11, Z12, Z13)
	NEXT
	LD3(Z14, Z15, Z16)
	ST3(Z14, Z15, Z16)
	NEXT
	LD3(Z17, Z18, Z19)
	ST3(Z17, Z18, Z19)
	NEXT
	LD3(Z20, Z21, Z22)
	ST3(Z20, Z21, Z22)
	NEXT
	LD3(Z23, Z24, Z25)
	ST3(Z23, Z24, Z25)
	NEXT
	LD3(Z26, Z27, Z28)
	ST3(Z26, Z27, Z28)
	NEXT
	LD3(Z29, Z30, Z31)
	ST3(Z29, Z30, Z31)
	JMP done

write3:
	ST3(Z8, Z9, Z10)
	NEXT
	ST3(Z11, Z12, Z13)
	NEXT
	ST3(Z14, Z15, Z16)
	NEXT
	ST3(Z17, Z18, Z19)
	NEXT
	ST3(Z20, Z21, Z22)
	NEXT
	ST3(Z23, Z24, Z25)
	NEXT
	ST3(Z26, Z27, Z28)
	NEXT
	ST3(Z29, Z30, Z31)
	JMP done

store2:
	MOVQ         DX, R11
	VBROADCASTSS beta+40(FP), Z0
	CMPB         load+44(FP), $0
	JEQ          write2
	LD2(Z8, Z9)
	ST2(Z8, Z9)
	NEXT
	LD2(Z11, Z12)
	ST2(Z11, Z12)
	NEXT
	LD2(Z14, Z15)
	ST2(Z14, Z15)
	NEXT
	LD2(Z17, Z18)
	ST2(Z17, Z18)
	NEXT
	LD2(Z20, Z21)
	ST2(Z20, Z21)
	NEXT
	LD2(Z23, Z24)
	ST2(Z23, Z24)
	NEXT
	LD2(Z26, Z27)
	ST2(Z26, Z27)
	NEXT
	LD2(Z29, Z30)
	ST2(Z29, Z30)
	JMP done

write2:
	ST2(Z8, Z9)
	NEXT
	ST2(Z11, Z12)
	NEXT
	ST2(Z14, Z15)
	NEXT
	ST2(Z17, Z18)
	NEXT
	ST2(Z20, Z21)
	NEXT
	ST2(Z23, Z24)
	NEXT
	ST2(Z26, Z27)
	NEXT
	ST2(Z29, Z30)
	JMP done

store1:
	MOVQ         DX, R11
	VBROADCASTSS beta+40(FP), Z0
	CMPB         load+44(FP), $0
	JEQ          write1
	LD1(Z8)
	ST1(Z8)
	NEXT
	LD1(Z11)
	ST1(Z11)
	NEXT
	LD1(Z14)
	ST1(Z14)
	NEXT
	LD1(Z17)
	ST1(Z17)
	NEXT
	LD1(Z20)
	ST1(Z20)
	NEXT
	LD1(Z23)
	ST1(Z23)
	NEXT
	LD1(Z26)
	ST1(Z26)
	NEXT
	LD1(Z29)
	ST1(Z29)
	JMP done

write1:
	ST1(Z8)
	NEXT
	ST1(Z11)
	NEXT
	ST1(Z14)
	NEXT
	ST1(Z17)
	NEXT
	ST1(Z20)
	NEXT
	ST1(Z23)
	NEXT
	ST1(Z26)
	NEXT
	ST1(Z29)

done:
	VZEROUPPER
	RET
