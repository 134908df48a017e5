//go:build cgo

package bench

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>

typedef void (*sgemm_fn)(int order, int transA, int transB, int m, int n, int k,
	float alpha, const float *a, int lda, const float *b, int ldb,
	float beta, float *c, int ldc);
typedef void (*set_threads_fn)(int n);

static void *ob_open(const char *name) { return dlopen(name, RTLD_NOW | RTLD_LOCAL); }
static const char *ob_error(void) { return dlerror(); }
static void *ob_sym(void *h, const char *name) { return dlsym(h, name); }

static void ob_sgemm(void *fn, int transA, int transB, int m, int n, int k,
	float alpha, const float *a, int lda, const float *b, int ldb,
	float beta, float *c, int ldc) {
	// 101: CblasRowMajor; 111: CblasNoTrans; 112: CblasTrans.
	((sgemm_fn)fn)(101, transA ? 112 : 111, transB ? 112 : 111, m, n, k,
		alpha, a, lda, b, ldb, beta, c, ldc);
}

static void ob_set_threads(void *fn, int n) { ((set_threads_fn)fn)(n); }
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	"github.com/klauspost/cpuid/v2"
)

// openBLASLib is the shared object dlopen looks for (Debian's
// libopenblas0-pthread provides it).
const openBLASLib = "libopenblas.so.0"

// openBLAS is OpenBLAS's cblas_sgemm reached through dlopen.
type openBLAS struct {
	sgemm unsafe.Pointer
}

// loadOpenBLAS opens OpenBLAS and sets its thread count. Unless
// OPENBLAS_CORETYPE says otherwise, OpenBLAS is asked for its AVX-512
// (SkylakeX) kernels on a CPU that has the instructions they use: Debian's
// OpenBLAS 0.3.21 does not know recent AMD cores and would fall back to its
// AVX2 (Haswell) kernels, a weaker baseline than the library can be.
func loadOpenBLAS(threads int) (*openBLAS, error) {
	if os.Getenv("OPENBLAS_CORETYPE") == "" &&
		cpuid.CPU.Supports(cpuid.AVX512F, cpuid.AVX512BW, cpuid.AVX512DQ, cpuid.AVX512VL, cpuid.AVX512CD) {
		os.Setenv("OPENBLAS_CORETYPE", "SkylakeX")
	}
	name := C.CString(openBLASLib)
	defer C.free(unsafe.Pointer(name))
	h := C.ob_open(name)
	if h == nil {
		return nil, fmt.Errorf("dlopen %s: %s", openBLASLib, C.GoString(C.ob_error()))
	}
	sym := func(s string) unsafe.Pointer {
		cs := C.CString(s)
		defer C.free(unsafe.Pointer(cs))
		return C.ob_sym(h, cs)
	}
	o := &openBLAS{sgemm: sym("cblas_sgemm")}
	if o.sgemm == nil {
		return nil, errors.New(openBLASLib + " has no cblas_sgemm")
	}
	if set := sym("openblas_set_num_threads"); set != nil {
		C.ob_set_threads(set, C.int(threads))
	}
	return o, nil
}

// Sgemm is cblas_sgemm in row-major order, with the argument order of
// blas.Pool.Sgemm.
func (o *openBLAS) Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
	b []float32, ldb int, beta float32, c []float32, ldc int) {
	C.ob_sgemm(o.sgemm, cbool(transA), cbool(transB), C.int(m), C.int(n), C.int(k),
		C.float(alpha), (*C.float)(unsafe.Pointer(&a[0])), C.int(lda),
		(*C.float)(unsafe.Pointer(&b[0])), C.int(ldb),
		C.float(beta), (*C.float)(unsafe.Pointer(&c[0])), C.int(ldc))
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}
