//go:build amd64 && !purego

package cpu

// gatherAVX512 is gatherGeneric over n > 0 elements: dst[j] = src[idx[j]]
// where idx[j] >= 0, else 0, for j < n (AVX-512 F and DQ).
//
//go:noescape
func gatherAVX512(dst, src *float32, idx *int32, n int)

// tapRowsAVX512 is tapRowsGeneric with src the element at row offset 0 of
// the first valid row, q <= 32 (AVX-512 F).
//
//go:noescape
func tapRowsAVX512(dst, src *float32, co, w, q, lead, valid, trail, imgs, imgSrc int, lmask uint32)

// tapSpanAVX512 is tapSpanGeneric with src the element at base (AVX-512 F).
//
//go:noescape
func tapSpanAVX512(dst, src *float32, co, lead, span, trail, imgs, imgSrc int, masks *uint16)

// scatterAddAVX512 is scatterAddGeneric over n > 0 elements with distinct
// indices: dst[idx[j]] += src[j] where idx[j] >= 0, for j < n (AVX-512 F
// and DQ).
//
//go:noescape
func scatterAddAVX512(dst, src *float32, idx *int32, n int)
