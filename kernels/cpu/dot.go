package cpu

// The backward filter of a convolution reduces over output pixels, which are
// contiguous in both of its operands (dY rows and column-matrix rows): an
// outer-product GEMM would have to transpose one of them while packing. The
// dot-product tiles here read both in place, 4 rows of each at a time, with
// the reduction in vector lanes.

// gemmNT accumulates C[i][j] += sum over t < n of A[i][t] * B[j][t] for
// i < m, j < k (A rows of stride lda, B rows of stride ldb, C row-major with
// stride ldc).
func gemmNT(m, k, n int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m == 0 || k == 0 || n == 0 {
		return
	}
	_ = a[(m-1)*lda+n-1]
	_ = b[(k-1)*ldb+n-1]
	_ = c[(m-1)*ldc+k-1]
	boff := make([]int, k)
	for j := range boff {
		boff[j] = j * ldb
	}
	gemmNTOff(m, k, n, a, lda, b, boff, c, ldc)
}

// dot32 returns the dot product of x and y accumulated in float32.
func dot32(x, y []float32) float32 {
	y = y[:len(x)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += x[i] * y[i]
		s1 += x[i+1] * y[i+1]
		s2 += x[i+2] * y[i+2]
		s3 += x[i+3] * y[i+3]
	}
	for ; i < len(x); i++ {
		s0 += x[i] * y[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// gemmNTOff is gemmNT with B row j starting at b[boff[j]]: C[i][j] +=
// sum over t < n of A[i][t] * b[boff[j]+t]. It runs 4x4 tiles (in assembly
// where the processor allows), padding the last columns to a whole tile,
// and the last m%4 rows in Go.
func gemmNTOff(m, k, n int, a []float32, lda int, b []float32, boff []int, c []float32, ldc int) {
	if m == 0 || k == 0 || n == 0 {
		return
	}
	_ = a[(m-1)*lda+n-1]
	_ = c[(m-1)*ldc+k-1]
	for _, o := range boff[:k] {
		_ = b[o+n-1]
	}
	m4, k4 := m&^3, k&^3
	// B rows are taken in blocks of about 256 KiB, which stay in the L2
	// cache while every block of 4 A rows runs against them.
	jb := max(4, (1<<16)/n&^3)
	for j0 := 0; j0 < k4; j0 += jb {
		j1 := min(j0+jb, k4)
		for i := 0; i < m4; i += 4 {
			for j := j0; j < j1; j += 4 {
				dotTile4x4Off(a[i*lda:], lda, b, (*[4]int)(boff[j:j+4]), n, c[i*ldc+j:], ldc)
			}
		}
	}
	// The last k%4 columns: a full tile whose extra B rows repeat the last
	// one, into a scratch tile of which the valid columns are added.
	if k4 < k && m4 > 0 {
		var off [4]int
		for j := range off {
			off[j] = boff[min(k4+j, k-1)]
		}
		for i := 0; i < m4; i += 4 {
			var tile [16]float32
			dotTile4x4Off(a[i*lda:], lda, b, &off, n, tile[:], 4)
			for r := 0; r < 4; r++ {
				for j := 0; j < k-k4; j++ {
					c[(i+r)*ldc+k4+j] += tile[r*4+j]
				}
			}
		}
	}
	// The last m%4 rows.
	for i := m4; i < m; i++ {
		for j := 0; j < k; j++ {
			c[i*ldc+j] += dot32(a[i*lda:i*lda+n], b[boff[j]:boff[j]+n])
		}
	}
}

// dotTile4x4Off accumulates the 4x4 tile C[i][j] += sum over t < n of
// A[i][t]*b[off[j]+t].
func dotTile4x4Off(a []float32, lda int, b []float32, off *[4]int, n int, c []float32, ldc int) {
	_ = a[3*lda+n-1]
	_ = c[3*ldc+3]
	for _, o := range off {
		_ = b[o+n-1]
	}
	if hasAVX512 {
		dotTile4x4OffAVX512(&a[0], lda, &b[0], off, n, &c[0], ldc)
		return
	}
	dotTile4x4OffGeneric(a, lda, b, off, n, c, ldc)
}

func dotTile4x4OffGeneric(a []float32, lda int, b []float32, boff *[4]int, n int, c []float32, ldc int) {
	for i := 0; i < 4; i++ {
		for j := 0; j < 4; j++ {
			c[i*ldc+j] += dot32(a[i*lda:i*lda+n], b[boff[j]:boff[j]+n])
		}
	}
}
