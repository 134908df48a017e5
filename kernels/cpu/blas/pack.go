package blas

// packA copies alpha*op(A)[i0:i0+mc, p0:p0+kc] into dst as ceil(mc/mr)
// micro-panels of kc*mr values: panel q holds rows i0+q*mr.. with
// dst[q*kc*mr + p*mr + i] = alpha*op(A)[i0+q*mr+i][p0+p], zero past row mc.
// op(A)[i][p] is a[i*lda+p], or a[p*lda+i] when trans is set.
// t8, when not nil, transposes eight rows at a time (see microKernel).
func packA(dst []float32, trans bool, a []float32, lda, i0, p0, mc, kc, mr int, alpha float32, t8 transposer) {
	for q := 0; q*mr < mc; q++ {
		rows := min(mr, mc-q*mr)
		panel := dst[q*kc*mr : (q+1)*kc*mr]
		if trans {
			// Stored row p0+p holds op(A)[.][p0+p]: rows values side by side.
			packRows(panel, a[p0*lda+i0+q*mr:], lda, kc, rows, mr, alpha)
		} else {
			// Stored row i holds op(A)[i][.]: spread it with stride mr.
			packCols(panel, a[(i0+q*mr)*lda+p0:], lda, kc, rows, mr, alpha, t8)
		}
	}
}

// packB copies op(B)[p0:p0+kc, j0:j0+nc] into dst as ceil(nc/nr)
// micro-panels of kc*nr values: panel q holds columns j0+q*nr.. with
// dst[q*kc*nr + p*nr + j] = op(B)[p0+p][j0+q*nr+j], zero past column nc.
// op(B)[p][j] is b[p*ldb+j], or b[j*ldb+p] when trans is set.
func packB(dst []float32, trans bool, b []float32, ldb, p0, j0, kc, nc, nr int, t8 transposer) {
	for q := 0; q*nr < nc; q++ {
		cols := min(nr, nc-q*nr)
		panel := dst[q*kc*nr : (q+1)*kc*nr]
		if trans {
			packCols(panel, b[(j0+q*nr)*ldb+p0:], ldb, kc, cols, nr, 1, t8)
		} else {
			packRows(panel, b[p0*ldb+j0+q*nr:], ldb, kc, cols, nr, 1)
		}
	}
}

// packRows sets dst[p*w+j] = alpha*src[p*ld+j] for p < kc, j < n, and
// zero for n <= j < w: kc rows of n values, each padded to w.
func packRows(dst, src []float32, ld, kc, n, w int, alpha float32) {
	if n == 8 && w == 8 && alpha == 1 {
		// The common transposed-A panel: eight values per step, moved
		// as one array rather than through copy.
		for p := 0; p < kc; p++ {
			*(*[8]float32)(dst[p*8:]) = *(*[8]float32)(src[p*ld:])
		}
		return
	}
	for p := 0; p < kc; p++ {
		s := src[p*ld : p*ld+n]
		d := dst[p*w : p*w+w]
		if alpha == 1 {
			copy(d, s)
		} else {
			for j, v := range s {
				d[j] = alpha * v
			}
		}
		clear(d[n:])
	}
}

// packCols sets dst[p*w+j] = alpha*src[j*ld+p] for p < kc, j < n, and
// zero for n <= j < w: the transpose of n rows of kc values, padded to w.
// t8, when not nil, does the first kc&^15 steps of each group of eight rows.
func packCols(dst, src []float32, ld, kc, n, w int, alpha float32, t8 transposer) {
	dst = dst[:kc*w]
	j := 0
	if kc16 := kc &^ 15; t8 != nil && kc16 > 0 {
		for ; j+8 <= n; j += 8 {
			t8(dst[j:], w, src[j*ld:], ld, kc16, alpha)
			if kc16 < kc {
				pack4Cols(dst[j:], src[j*ld:], ld, kc16, kc, w, alpha)
				pack4Cols(dst[j+4:], src[(j+4)*ld:], ld, kc16, kc, w, alpha)
			}
		}
	}
	for ; j+4 <= n; j += 4 {
		pack4Cols(dst[j:], src[j*ld:], ld, 0, kc, w, alpha)
	}
	for ; j < n; j++ {
		s := src[j*ld : j*ld+kc]
		for p, v := range s {
			dst[p*w+j] = alpha * v
		}
	}
	for ; j < w; j++ {
		for p := 0; p < kc; p++ {
			dst[p*w+j] = 0
		}
	}
}

// pack4Cols is packCols for four rows of src and steps p0 <= p < kc:
// dst[p*w+j] = alpha*src[j*ld+p] for j < 4.
func pack4Cols(dst, src []float32, ld, p0, kc, w int, alpha float32) {
	s0 := src[p0:kc]
	s1 := src[ld+p0 : ld+kc]
	s2 := src[2*ld+p0 : 2*ld+kc]
	s3 := src[3*ld+p0 : 3*ld+kc]
	s1, s2, s3 = s1[:len(s0)], s2[:len(s0)], s3[:len(s0)]
	if len(dst) < (kc-1)*w+4 {
		panic("blas: pack destination too short")
	}
	dst = dst[p0*w:]
	if alpha == 1 {
		for p := range s0 {
			d := dst[p*w : p*w+4 : p*w+4]
			d[0], d[1], d[2], d[3] = s0[p], s1[p], s2[p], s3[p]
		}
		return
	}
	for p := range s0 {
		d := dst[p*w : p*w+4 : p*w+4]
		d[0], d[1], d[2], d[3] = alpha*s0[p], alpha*s1[p], alpha*s2[p], alpha*s3[p]
	}
}
