//go:build amd64 && !purego

#include "textflag.h"

// func gatherAVX512(dst, src *float32, idx *int32, n int)
// dst[j] = src[idx[j]] where idx[j] >= 0, else 0, for j < n; n > 0. Two
// gathers of 16 per step, then one, then a masked tail. A lane with a
// negative index is masked off and reads nothing.
TEXT ·gatherAVX512(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), DX
	MOVQ idx+16(FP), SI
	MOVQ n+24(FP), CX
	CMPQ CX, $32
	JLT  one

two:
	VMOVDQU32  (SI), Z1
	VMOVDQU32  64(SI), Z3
	VPMOVD2M   Z1, K1
	VPMOVD2M   Z3, K3
	KNOTW      K1, K1
	KNOTW      K3, K3
	VPXORD     Z0, Z0, Z0
	VPXORD     Z2, Z2, Z2
	VGATHERDPS (DX)(Z1*4), K1, Z0
	VGATHERDPS (DX)(Z3*4), K3, Z2
	VMOVUPS    Z0, (DI)
	VMOVUPS    Z2, 64(DI)
	ADDQ       $128, SI
	ADDQ       $128, DI
	SUBQ       $32, CX
	CMPQ       CX, $32
	JGE        two

one:
	CMPQ CX, $16
	JLT  tail
	VMOVDQU32  (SI), Z1
	VPMOVD2M   Z1, K1
	KNOTW      K1, K1
	VPXORD     Z0, Z0, Z0
	VGATHERDPS (DX)(Z1*4), K1, Z0
	VMOVUPS    Z0, (DI)
	ADDQ       $64, SI
	ADDQ       $64, DI
	SUBQ       $16, CX

tail:
	TESTQ CX, CX
	JEQ   done
	MOVL  $1, AX
	SHLL  CX, AX
	DECL  AX
	KMOVW AX, K2
	VMOVDQU32.Z (SI), K2, Z1
	VPMOVD2M    Z1, K1
	KNOTW       K1, K1
	KANDW       K2, K1, K1
	VPXORD      Z0, Z0, Z0
	VGATHERDPS  (DX)(Z1*4), K1, Z0
	VMOVUPS     Z0, K2, (DI)

done:
	VZEROUPPER
	RET

// func tapRowsAVX512(dst, src *float32, co, w, q, lead, valid, trail, imgs, imgSrc int, lmask uint32)
// For each of imgs images (src advancing imgSrc floats each): lead rows of
// q zeros, then valid rows of q values loaded at src+co (the lanes of
// lmask; the others 0, never read), src advancing w floats a row, then
// trail rows of q zeros; dst advances q floats a row. q <= 32: each row is
// two masked 16-lane halves.
TEXT ·tapRowsAVX512(SB), NOSPLIT, $0-84
	MOVQ  dst+0(FP), DI
	MOVQ  src+8(FP), SI
	MOVQ  co+16(FP), AX
	LEAQ  (SI)(AX*4), SI
	MOVQ  w+24(FP), R8
	SHLQ  $2, R8
	MOVQ  q+32(FP), CX
	MOVQ  CX, R9
	SHLQ  $2, R9
	MOVQ  $1, AX
	SHLQ  CX, AX
	DECQ  AX
	KMOVW AX, K2
	SHRQ  $16, AX
	KMOVW AX, K4
	MOVL  lmask+80(FP), AX
	KMOVW AX, K1
	SHRL  $16, AX
	KMOVW AX, K3
	MOVQ  lead+40(FP), R10
	MOVQ  valid+48(FP), R11
	MOVQ  trail+56(FP), R12
	MOVQ  imgs+64(FP), R13
	MOVQ  imgSrc+72(FP), R14
	SHLQ  $2, R14
	VPXORD Z0, Z0, Z0
	CMPQ  CX, $16
	JGT   wide

narrow:
	MOVQ  R10, BX
	TESTQ BX, BX
	JEQ   nvalid

nlead:
	VMOVUPS Z0, K2, (DI)
	ADDQ    R9, DI
	DECQ    BX
	JNE     nlead

nvalid:
	MOVQ  SI, DX
	MOVQ  R11, BX
	TESTQ BX, BX
	JEQ   ntrail

nrow:
	VMOVUPS.Z (DX), K1, Z1
	VMOVUPS   Z1, K2, (DI)
	ADDQ      R8, DX
	ADDQ      R9, DI
	DECQ      BX
	JNE       nrow

ntrail:
	MOVQ  R12, BX
	TESTQ BX, BX
	JEQ   nnext

ntz:
	VMOVUPS Z0, K2, (DI)
	ADDQ    R9, DI
	DECQ    BX
	JNE     ntz

nnext:
	ADDQ R14, SI
	DECQ R13
	JNE  narrow
	VZEROUPPER
	RET

wide:
	MOVQ  R10, BX
	TESTQ BX, BX
	JEQ   wvalid

wlead:
	VMOVUPS Z0, K2, (DI)
	VMOVUPS Z0, K4, 64(DI)
	ADDQ    R9, DI
	DECQ    BX
	JNE     wlead

wvalid:
	MOVQ  SI, DX
	MOVQ  R11, BX
	TESTQ BX, BX
	JEQ   wtrail

wrow:
	VMOVUPS.Z (DX), K1, Z1
	VMOVUPS.Z 64(DX), K3, Z2
	VMOVUPS   Z1, K2, (DI)
	VMOVUPS   Z2, K4, 64(DI)
	ADDQ      R8, DX
	ADDQ      R9, DI
	DECQ      BX
	JNE       wrow

wtrail:
	MOVQ  R12, BX
	TESTQ BX, BX
	JEQ   wnext

wtz:
	VMOVUPS Z0, K2, (DI)
	VMOVUPS Z0, K4, 64(DI)
	ADDQ    R9, DI
	DECQ    BX
	JNE     wtz

wnext:
	ADDQ R14, SI
	DECQ R13
	JNE  wide
	VZEROUPPER
	RET

// func tapSpanAVX512(dst, src *float32, co, lead, span, trail, imgs, imgSrc int, masks *uint16)
// For each of imgs images (src advancing imgSrc floats each): lead zeros,
// then span values of which value k is loaded from src+co+k where bit k%16
// of masks[k/16] is set (0 elsewhere, never read), then trail zeros; dst
// advances over all of them.
TEXT ·tapSpanAVX512(SB), NOSPLIT, $0-72
	MOVQ   dst+0(FP), DI
	MOVQ   src+8(FP), SI
	MOVQ   co+16(FP), AX
	LEAQ   (SI)(AX*4), SI
	MOVQ   imgs+48(FP), R13
	MOVQ   imgSrc+56(FP), R14
	SHLQ   $2, R14
	VPXORD Z0, Z0, Z0

spanimg:
	MOVQ lead+24(FP), CX
	CMPQ    CX, $16
	JLT     leadtail

leadloop:
	VMOVUPS Z0, (DI)
	ADDQ    $64, DI
	SUBQ    $16, CX
	CMPQ    CX, $16
	JGE     leadloop

leadtail:
	TESTQ   CX, CX
	JEQ     leaddone
	MOVQ    $1, AX
	SHLQ    CX, AX
	DECQ    AX
	KMOVW   AX, K2
	VMOVUPS Z0, K2, (DI)
	LEAQ    (DI)(CX*4), DI

leaddone:
	MOVQ span+32(FP), BX
	MOVQ SI, DX
	MOVQ masks+64(FP), R8
	CMPQ BX, $16
	JLT  spantail

spanloop:
	KMOVW     (R8), K1
	VMOVUPS.Z (DX), K1, Z1
	VMOVUPS   Z1, (DI)
	ADDQ      $64, DX
	ADDQ      $64, DI
	ADDQ      $2, R8
	SUBQ      $16, BX
	CMPQ      BX, $16
	JGE       spanloop

spantail:
	TESTQ     BX, BX
	JEQ       spandone
	MOVQ      BX, CX
	MOVQ      $1, AX
	SHLQ      CX, AX
	DECQ      AX
	KMOVW     AX, K2
	KMOVW     (R8), K1
	KANDW     K2, K1, K1
	VMOVUPS.Z (DX), K1, Z1
	VMOVUPS   Z1, K2, (DI)
	LEAQ      (DI)(BX*4), DI

spandone:
	MOVQ trail+40(FP), CX
	CMPQ    CX, $16
	JLT     trailtail

trailloop:
	VMOVUPS Z0, (DI)
	ADDQ    $64, DI
	SUBQ    $16, CX
	CMPQ    CX, $16
	JGE     trailloop

trailtail:
	TESTQ   CX, CX
	JEQ     traildone
	MOVQ    $1, AX
	SHLQ    CX, AX
	DECQ    AX
	KMOVW   AX, K2
	VMOVUPS Z0, K2, (DI)
	LEAQ    (DI)(CX*4), DI

traildone:
	ADDQ R14, SI
	DECQ R13
	JNE  spanimg
	VZEROUPPER
	RET

// func scatterAddAVX512(dst, src *float32, idx *int32, n int)
// dst[idx[j]] += src[j] where idx[j] >= 0, for j < n; n > 0. The indices
// of one call are distinct. 16 lanes a step (gather, add, scatter), then a
// masked tail.
TEXT ·scatterAddAVX512(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ idx+16(FP), DX
	MOVQ n+24(FP), CX
	CMPQ CX, $16
	JLT  satail

saloop:
	VMOVDQU32   (DX), Z1
	VPMOVD2M    Z1, K1
	KNOTW       K1, K1
	KMOVW       K1, K2
	VPXORD      Z0, Z0, Z0
	VGATHERDPS  (DI)(Z1*4), K1, Z0
	VADDPS      (SI), Z0, Z0
	VSCATTERDPS Z0, K2, (DI)(Z1*4)
	ADDQ        $64, SI
	ADDQ        $64, DX
	SUBQ        $16, CX
	CMPQ        CX, $16
	JGE         saloop

satail:
	TESTQ       CX, CX
	JEQ         sadone
	MOVL        $1, AX
	SHLL        CX, AX
	DECL        AX
	KMOVW       AX, K3
	VMOVDQU32.Z (DX), K3, Z1
	VMOVUPS.Z   (SI), K3, Z2
	VPMOVD2M    Z1, K1
	KNOTW       K1, K1
	KANDW       K3, K1, K1
	KMOVW       K1, K2
	VPXORD      Z0, Z0, Z0
	VGATHERDPS  (DI)(Z1*4), K1, Z0
	VADDPS      Z2, Z0, Z0
	VSCATTERDPS Z0, K2, (DI)(Z1*4)

sadone:
	VZEROUPPER
	RET
