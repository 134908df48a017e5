//go:build !amd64 || purego

package cpu

func gatherAVX512(dst, src *float32, idx *int32, n int) { panic("cpu: no assembly") }

func tapRowsAVX512(dst, src *float32, co, w, q, lead, valid, trail, imgs, imgSrc int, lmask uint32) {
	panic("cpu: no assembly")
}

func tapSpanAVX512(dst, src *float32, co, lead, span, trail, imgs, imgSrc int, masks *uint16) {
	panic("cpu: no assembly")
}

func scatterAddAVX512(dst, src *float32, idx *int32, n int) { panic("cpu: no assembly") }
