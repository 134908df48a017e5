package cpu

// Vector loops of the hot paths (col2im, batch normalisation). Each
// function runs its AVX2+FMA assembly twin (simd_amd64.s) over the largest
// multiple of 8 elements when the processor has it, and the plain Go loop
// (the *Generic function, always compiled and tested) over the rest.

// addTo computes dst[i] += src[i].
func addTo(dst, src []float32) {
	dst = dst[:len(src)]
	if k := len(src) &^ 7; hasAVX2 && k > 0 {
		addToAVX2(&dst[0], &src[0], k)
		dst, src = dst[k:], src[k:]
	}
	addToGeneric(dst, src)
}

func addToGeneric(dst, src []float32) {
	dst = dst[:len(src)]
	i := 0
	for ; i+4 <= len(src); i += 4 {
		d := dst[i : i+4 : i+4]
		s := src[i : i+4 : i+4]
		d[0] += s[0]
		d[1] += s[1]
		d[2] += s[2]
		d[3] += s[3]
	}
	for ; i < len(src); i++ {
		dst[i] += src[i]
	}
}

// segStats returns the sum of x - shift and of its squares, in float64.
func segStats(x []float32, shift float64) (sum, sq float64) {
	if k := len(x) &^ 7; hasAVX2 && k > 0 {
		var out [2]float64
		segStatsAVX2(&x[0], k, shift, &out)
		sum, sq = out[0], out[1]
		x = x[k:]
	}
	s, q := segStatsGeneric(x, shift)
	return sum + s, sq + q
}

func segStatsGeneric(x []float32, shift float64) (sum, sq float64) {
	var s0, s1, q0, q1 float64
	j := 0
	for ; j+2 <= len(x); j += 2 {
		d0, d1 := float64(x[j])-shift, float64(x[j+1])-shift
		s0 += d0
		s1 += d1
		q0 += d0 * d0
		q1 += d1 * d1
	}
	for ; j < len(x); j++ {
		d := float64(x[j]) - shift
		s0 += d
		q0 += d * d
	}
	return s0 + s1, q0 + q1
}

// bnAffine computes y = (x-m)*a + b over one segment, then ReLU when relu.
// The mean is m = mhi + mlo, split so that x - m keeps float64 accuracy when
// x is close to a large mean.
func bnAffine(x, y []float32, mhi, mlo, a, b float32, relu bool) {
	y = y[:len(x)]
	if k := len(x) &^ 7; hasAVX2 && k > 0 {
		bnAffineAVX2(&x[0], &y[0], k, mhi, mlo, a, b, relu)
		x, y = x[k:], y[k:]
	}
	bnAffineGeneric(x, y, mhi, mlo, a, b, relu)
}

func bnAffineGeneric(x, y []float32, mhi, mlo, a, b float32, relu bool) {
	y = y[:len(x)]
	if relu {
		for j, v := range x {
			o := (v-mhi-mlo)*a + b
			y[j] = maskPos(o, o)
		}
		return
	}
	for j, v := range x {
		y[j] = (v-mhi-mlo)*a + b
	}
}

// bnGradSums returns sum g and sum g*(x-m) over one segment in float64, g =
// dy masked by y > 0 when y is not nil.
func bnGradSums(x, dy, y []float32, m float32) (sg, sgx float64) {
	x = x[:len(dy)]
	if y != nil {
		y = y[:len(dy)]
	}
	if k := len(dy) &^ 7; hasAVX2 && k > 0 {
		var out [2]float64
		var yp *float32
		if y != nil {
			yp = &y[0]
		}
		bnGradSumsAVX2(&x[0], &dy[0], yp, k, float64(m), &out)
		sg, sgx = out[0], out[1]
		x, dy = x[k:], dy[k:]
		if y != nil {
			y = y[k:]
		}
	}
	a, b := bnGradSumsGeneric(x, dy, y, m)
	return sg + a, sgx + b
}

func bnGradSumsGeneric(x, dy, y []float32, m float32) (sg, sgx float64) {
	x = x[:len(dy)]
	m64 := float64(m)
	var a0, a1, b0, b1 float64
	if y != nil {
		y = y[:len(dy)]
		for j, g := range dy {
			g = maskPos(y[j], g)
			a0 += float64(g)
			b0 += float64(g) * (float64(x[j]) - m64)
		}
		return a0, b0
	}
	j := 0
	for ; j+2 <= len(dy); j += 2 {
		g0, g1 := float64(dy[j]), float64(dy[j+1])
		a0 += g0
		a1 += g1
		b0 += g0 * (float64(x[j]) - m64)
		b1 += g1 * (float64(x[j+1]) - m64)
	}
	for ; j < len(dy); j++ {
		a0 += float64(dy[j])
		b0 += float64(dy[j]) * (float64(x[j]) - m64)
	}
	return a0 + a1, b0 + b1
}

// bnGradApply writes dx = ka*g + kb*x + kc over one segment, g = dy masked
// by y > 0 when y is not nil. The terms nearly cancel when a channel is well
// fitted, so they are combined in float64.
func bnGradApply(x, dy, y, dx []float32, ka, kb, kc float64) {
	x = x[:len(dy)]
	dx = dx[:len(dy)]
	if y != nil {
		y = y[:len(dy)]
	}
	if k := len(dy) &^ 7; hasAVX2 && k > 0 {
		var yp *float32
		if y != nil {
			yp = &y[0]
		}
		bnGradApplyAVX2(&x[0], &dy[0], yp, &dx[0], k, ka, kb, kc)
		x, dy, dx = x[k:], dy[k:], dx[k:]
		if y != nil {
			y = y[k:]
		}
	}
	bnGradApplyGeneric(x, dy, y, dx, ka, kb, kc)
}

func bnGradApplyGeneric(x, dy, y, dx []float32, ka, kb, kc float64) {
	x = x[:len(dy)]
	dx = dx[:len(dy)]
	if y != nil {
		y = y[:len(dy)]
		for j, g := range dy {
			dx[j] = float32(ka*float64(maskPos(y[j], g)) + kb*float64(x[j]) + kc)
		}
		return
	}
	for j, g := range dy {
		dx[j] = float32(ka*float64(g) + kb*float64(x[j]) + kc)
	}
}

// maskPosSlice writes dst[i] = g[i] where y[i] > 0, else 0 (NaN y
// included). dst may alias y or g.
func maskPosSlice(y, g, dst []float32) {
	g = g[:len(y)]
	dst = dst[:len(y)]
	if k := len(y) &^ 7; hasAVX2 && k > 0 {
		maskPosAVX2(&y[0], &g[0], &dst[0], k)
		y, g, dst = y[k:], g[k:], dst[k:]
	}
	for i, v := range y {
		dst[i] = maskPos(v, g[i])
	}
}

// add writes dst[i] = a[i] + b[i]; dst may alias a or b.
func add(a, b, dst []float32) {
	b = b[:len(a)]
	dst = dst[:len(a)]
	if k := len(a) &^ 7; hasAVX2 && k > 0 {
		addAVX2(&a[0], &b[0], &dst[0], k)
		a, b, dst = a[k:], b[k:], dst[k:]
	}
	addGeneric(a, b, dst)
}

func addGeneric(a, b, dst []float32) {
	b = b[:len(a)]
	dst = dst[:len(a)]
	for i, v := range a {
		dst[i] = v + b[i]
	}
}

// axpy computes y[i] += alpha*x[i].
func axpy(alpha float32, x, y []float32) {
	y = y[:len(x)]
	if k := len(x) &^ 7; hasAVX2 && k > 0 {
		axpyAVX2(alpha, &x[0], &y[0], k)
		x, y = x[k:], y[k:]
	}
	axpyGeneric(alpha, x, y)
}

func axpyGeneric(alpha float32, x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += alpha * v
	}
}
