package cuda

import "unsafe"

// dptr is a device address. Device memory is never Go memory, so it is held
// as an integer.
type dptr = uintptr

// Copy directions, as HAL_H2D, HAL_D2H, HAL_D2D of hal.h.
const (
	h2d = 1
	d2h = 2
	d2d = 3
)

// Error codes of the CUDA runtime that the Go side tests for.
const (
	codeSuccess      = 0
	codeInvalidValue = 1
	codeOutOfMemory  = 2
)

// mtChunk is HAL_MT_CHUNK: the elements per block of the multi-tensor kernels.
const mtChunk = 4096

// mtEntrySize is sizeof(hal_mt_tensor): p, g, m, v (8 bytes each), n (8),
// chunk_start (4), flag (4).
const mtEntrySize = 48

// The argument structs mirror those of hal.h field for field; the cgo layer
// converts them.

type gemmArgs struct {
	transA, transB, m, n, k, lda, ldb, ldc, batch int
	strideA, strideB, strideC                     int64
	alpha, beta                                   float32
	tf32                                          bool
}

type convArgs struct {
	n, c, h, w, k, r, s, p, q, strideH, strideW, padH, padW int
	tf32                                                    bool
}

type infonceArgs struct {
	a, b, q, d              int
	temperature             float32
	inBatchNegatives, twins bool
}

type hallucArgs struct {
	n, d   int
	lambda float32
	tf32   bool
}

type bnArgs struct {
	n, c, hw      int
	eps, momentum float32
	relu          bool
}

type poolArgs struct {
	n, c, h, w, p, q, kh, kw, strideH, strideW, padH, padW int
}

type sgdArgs struct {
	lr, momentum, weightDecay float32
	nesterov, firstStep       bool
}

type larsArgs struct {
	lr, momentum, weightDecay, eta float32
}

type adamwArgs struct {
	lr, beta1, beta2, eps, weightDecay, biasCorrection1, biasCorrection2 float32
}

// deviceProps is hal_device_props.
type deviceProps struct {
	name               string
	major, minor       int
	smCount            int
	maxThreadsPerBlock int
	totalMem           uint64
	sharedPerBlock     uint64
}

// binOp selects one of the two-input element-wise entry points.
type binOp int

const (
	opAdd binOp = iota
	opSub
	opMul
	opReluBwd
)

// convDir selects one of the three convolution entry points.
type convDir int

const (
	convFwd convDir = iota
	convBwdData
	convBwdFilter
)

// hal is the kernel library seen from Go: one method per entry point of
// kernels/cuda/src/hal.h, returning the cudaError_t code (0 = success) where
// the C function does. The cgo build implements it with dlopen; tests may
// substitute a fake for the allocator and error paths.
type hal interface {
	abiVersion() int
	deviceCount() (int, int)
	init(dev int) int
	setDevice(dev int) int
	props(dev int) (deviceProps, int)
	memInfo() (free, total uint64, code int)
	driverVersion() (int, int)
	runtimeVersion() (int, int)
	malloc(bytes uint64) (dptr, int)
	free(p dptr) int
	memcpyH2D(stream uintptr, dst dptr, src unsafe.Pointer, bytes uint64) int
	memcpyD2H(stream uintptr, dst unsafe.Pointer, src dptr, bytes uint64) int
	memcpyD2D(stream uintptr, dst, src dptr, bytes uint64) int
	memset(stream uintptr, dst dptr, value int, bytes uint64) int
	streamCreate() (uintptr, int)
	streamDestroy(s uintptr) int
	streamSync(s uintptr) int
	eventCreate() (uintptr, int)
	eventDestroy(e uintptr) int
	eventRecord(e, s uintptr) int
	eventElapsed(start, end uintptr) (float32, int)
	lastError() int
	errorString(code int) string
	errorName(code int) string

	gemm(s uintptr, a, b, c dptr, args *gemmArgs) int
	conv(dir convDir, s uintptr, in, w, out dptr, args *convArgs) int
	infonceWorkspace(args *infonceArgs) uint64
	infonce(s uintptr, q, k, queue, pos, self, anchorID, keyID, loss, dq, dk, ws dptr, args *infonceArgs) int
	hallucWorkspace(args *hallucArgs) uint64
	hallucFwd(s uintptr, x, k, w1, b1, w2, b2, w3, b3, act, out, ws dptr, args *hallucArgs) int
	hallucBwd(s uintptr, x, k, w1, w2, w3, act, dout, dx, dk, dw1, db1, dw2, db2, dw3, db3, ws dptr,
		args *hallucArgs) int

	fill(s uintptr, y dptr, n int64, v float32) int
	copy(s uintptr, x, y dptr, n int64) int
	binary(op binOp, s uintptr, a, b, y dptr, n int64) int
	scale(s uintptr, alpha float32, a, y dptr, n int64) int
	axpy(s uintptr, alpha float32, x, y dptr, n int64) int
	relu(s uintptr, x, y dptr, n int64) int
	biasAdd(s uintptr, b, y dptr, outer int64, c int, inner int64) int

	sumWorkspace(n int64) uint64
	sum(s uintptr, x dptr, n int64, y, ws dptr) int
	sumRows(s uintptr, x dptr, m, n int, y dptr) int
	sumCols(s uintptr, x dptr, m, n int, y dptr) int
	biasGrad(s uintptr, dy, db dptr, outer int64, c int, inner int64) int
	mtWorkspace(count, nchunks int) uint64
	sumSquares(s uintptr, list dptr, count, nchunks int, out, ws dptr) int

	bnWorkspace(args *bnArgs) uint64
	bnTrain(s uintptr, x, gamma, beta, y, saveMean, saveInvstd, runMean, runVar, ws dptr, args *bnArgs) int
	bnInfer(s uintptr, x, gamma, beta, runMean, runVar, y dptr, args *bnArgs) int
	bnBwd(s uintptr, x, y, dy, gamma, saveMean, saveInvstd, dx, dgamma, dbeta, ws dptr, args *bnArgs) int

	maxpoolFwd(s uintptr, x, y dptr, args *poolArgs) int
	maxpoolBwd(s uintptr, x, y, dy, dx dptr, args *poolArgs) int
	avgpoolFwd(s uintptr, x, y dptr, nc int64, hw int) int
	avgpoolBwd(s uintptr, dy, dx dptr, nc int64, hw int) int

	l2norm(s uintptr, x, y, norms dptr, m, n int, eps float32) int
	l2normBwd(s uintptr, y, norms, dy, dx dptr, m, n int, eps float32) int
	softmaxCEWorkspace(n, c int) uint64
	softmaxCE(s uintptr, logits, labels, loss, dlogits dptr, n, c int, ws dptr) int

	sgd(s uintptr, list dptr, count, nchunks int, args *sgdArgs) int
	lars(s uintptr, list dptr, count, nchunks int, ws dptr, args *larsArgs) int
	adamw(s uintptr, list dptr, count, nchunks int, args *adamwArgs) int
	ema(s uintptr, list dptr, count, nchunks int, decay float32) int

	// close releases the library handle.
	close()
}
