package blas

// microKernel is a register-blocked inner kernel and the cache blocking that
// suits it. fn computes one mr x nr tile of C from a packed A micro-panel
// (kc steps of mr values, a[p*mr+i] = alpha*op(A)[i][p]) and a packed B
// micro-panel (kc steps of nr values, b[p*nr+j] = op(B)[p][j]):
//
//	for i < mr, j < nr:
//		s := sum over p < kc of a[p*mr+i] * b[p*nr+j]
//		if load { c[i*ldc+j] = s + beta*c[i*ldc+j] } else { c[i*ldc+j] = s }
//
// When load is false C is only written, never read. fn may assume kc >= 1,
// len(a) >= kc*mr, len(b) >= kc*nr and len(c) >= (mr-1)*ldc+nr.
type microKernel struct {
	name   string
	mr, nr int
	// kc: depth of one packed block; mc: rows of op(A) packed at a time
	// (a multiple of mr); nc: columns of op(B) packed at a time (a multiple
	// of nr, sized so that a kc x nc block of B stays in L2 while mr x kc of
	// A stays in L1).
	kc, mc, nc int
	fn         func(kc int, a, b, c []float32, ldc int, beta float32, load bool)
	// partial, when set, is fn for the first rows x cols of a tile at the
	// edge of C, writing nothing else; without it such tiles go through a
	// scratch tile.
	partial func(kc int, a, b, c []float32, ldc int, beta float32, load bool, rows, cols int)
	// fused, when set, is partial for cols > nr-16 that reads op(B) from
	// the row-major source bsrc (kc rows of cols values, row stride ldb)
	// and writes the packed micro-panel to b while computing, so that B is
	// read from memory once, in the pass that also uses it.
	fused func(kc int, a, b, c []float32, ldc int, beta float32, load bool, rows, cols int, bsrc []float32, ldb int)
	// transpose8, when set, speeds up packing where a stored row becomes
	// a column of the panel.
	transpose8 transposer
}

// transposer transposes eight rows of src into dst, kc a multiple of 16:
//
//	for i < 8, p < kc: dst[p*dstStride+i] = alpha * src[i*srcStride+p]
type transposer func(dst []float32, dstStride int, src []float32, srcStride, kc int, alpha float32)

// genericKernel is the pure-Go micro-kernel, compiled on every platform.
var genericKernel = &microKernel{
	name: "generic",
	mr:   4, nr: 4,
	kc: 256, mc: 1024, nc: 256,
	fn: kernel4x4Generic,
}

// kernel4x4Generic is the 4x4 pure-Go micro-kernel (see microKernel). It
// makes two passes over the panels, two rows at a time, so that the
// accumulators and operands fit in the sixteen floating-point registers.
func kernel4x4Generic(kc int, a, b, c []float32, ldc int, beta float32, load bool) {
	a = a[:kc*4]
	b = b[:kc*4]
	for i := 0; i < 4; i += 2 {
		var c00, c01, c02, c03 float32
		var c10, c11, c12, c13 float32
		for p := 0; p < len(a); p += 4 {
			ap := a[p+i : p+i+2 : p+i+2]
			bp := b[p : p+4 : p+4]
			a0, a1 := ap[0], ap[1]
			b0, b1, b2, b3 := bp[0], bp[1], bp[2], bp[3]
			c00 += a0 * b0
			c01 += a0 * b1
			c02 += a0 * b2
			c03 += a0 * b3
			c10 += a1 * b0
			c11 += a1 * b1
			c12 += a1 * b2
			c13 += a1 * b3
		}
		r0 := c[i*ldc : i*ldc+4 : i*ldc+4]
		r1 := c[(i+1)*ldc : (i+1)*ldc+4 : (i+1)*ldc+4]
		if load {
			c00 += beta * r0[0]
			c01 += beta * r0[1]
			c02 += beta * r0[2]
			c03 += beta * r0[3]
			c10 += beta * r1[0]
			c11 += beta * r1[1]
			c12 += beta * r1[2]
			c13 += beta * r1[3]
		}
		r0[0], r0[1], r0[2], r0[3] = c00, c01, c02, c03
		r1[0], r1[1], r1[2], r1[3] = c10, c11, c12, c13
	}
}

// bestKernel returns the fastest micro-kernel this machine can run.
func bestKernel() *microKernel { return kernels()[0] }
