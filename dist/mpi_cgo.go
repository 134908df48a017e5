//go:build cgo

package dist

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

// The shim's functions (dist/mpi/halmpi.c), found with dlsym.
static struct {
	int (*abi)(void);
	int (*init)(int*, int*, int*, char*, int);
	int (*finalize)(void);
	void (*error_string)(int, char*, int);
	void (*abort_job)(int);
	void (*cancel)(long);
	int (*agree)(const int64_t*, int64_t*, double, long);
	int (*allreduce)(float*, int64_t, int, double, long);
	int (*bcast)(float*, int64_t, int, double, long);
	int (*allgather)(const float*, float*, int64_t, double, long);
	int (*reduce_scatter)(const float*, float*, int64_t, int, double, long);
	int (*barrier)(double, long);
	int (*bench_allreduce)(float*, int64_t, int, double*);
} halmpi;

// halmpi_open opens the shim at path (RTLD_GLOBAL: MPI's own plugins may
// look for its symbols) and finds its functions; on failure it writes why
// to err and returns 0.
static int halmpi_open(const char* path, char* err, int errlen) {
	void* h = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
	if (!h) {
		const char* e = dlerror();
		snprintf(err, errlen, "%s", e ? e : "unknown dlopen error");
		return 0;
	}
#define SYM(field, name) \
	if (!(*(void**)&halmpi.field = dlsym(h, name))) { snprintf(err, errlen, "%s: no symbol %s", path, name); dlclose(h); return 0; }
	SYM(abi, "halmpi_abi")
	SYM(init, "halmpi_init")
	SYM(finalize, "halmpi_finalize")
	SYM(error_string, "halmpi_error_string")
	SYM(abort_job, "halmpi_abort")
	SYM(cancel, "halmpi_cancel")
	SYM(agree, "halmpi_agree")
	SYM(allreduce, "halmpi_allreduce")
	SYM(bcast, "halmpi_bcast")
	SYM(allgather, "halmpi_allgather")
	SYM(reduce_scatter, "halmpi_reduce_scatter")
	SYM(barrier, "halmpi_barrier")
	SYM(bench_allreduce, "halmpi_bench_allreduce")
#undef SYM
	return 1;
}

static int c_abi(void) { return halmpi.abi(); }
static int c_init(int* r, int* s, int* p, char* v, int n) { return halmpi.init(r, s, p, v, n); }
static int c_finalize(void) { return halmpi.finalize(); }
static void c_error_string(int c, char* b, int n) { halmpi.error_string(c, b, n); }
static void c_abort(int c) { halmpi.abort_job(c); }
static void c_cancel(long g) { halmpi.cancel(g); }
static int c_agree(const int64_t* d, int64_t* a, double t, long g) { return halmpi.agree(d, a, t, g); }
static int c_allreduce(float* b, int64_t n, int avg, double t, long g) { return halmpi.allreduce(b, n, avg, t, g); }
static int c_bcast(float* b, int64_t n, int root, double t, long g) { return halmpi.bcast(b, n, root, t, g); }
static int c_allgather(const float* s, float* r, int64_t n, double t, long g) { return halmpi.allgather(s, r, n, t, g); }
static int c_reduce_scatter(const float* s, float* r, int64_t n, int avg, double t, long g) { return halmpi.reduce_scatter(s, r, n, avg, t, g); }
static int c_barrier(double t, long g) { return halmpi.barrier(t, g); }
static int c_bench_allreduce(float* b, int64_t n, int iters, double* sec) { return halmpi.bench_allreduce(b, n, iters, sec); }
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"unsafe"
)

const mpiCgo = true

var mpiShimLoaded bool

func mpiLoaded() bool { return mpiShimLoaded }

func mpiDlopen(path string) error {
	if mpiShimLoaded {
		return nil
	}
	// UCX, MPICH's transport in Debian, catches SIGSEGV and friends to
	// print backtraces unless told not to, and reads its settings when it is
	// loaded: Go's runtime must keep those signals (a nil dereference is a
	// Go panic).
	if os.Getenv("UCX_HANDLE_ERRORS") == "" {
		os.Setenv("UCX_HANDLE_ERRORS", "none")
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var errbuf [1024]C.char
	if C.halmpi_open(cpath, &errbuf[0], C.int(len(errbuf))) == 0 {
		return errors.New(C.GoString(&errbuf[0]))
	}
	mpiShimLoaded = true
	return nil
}

func mpiShimABI() int { return int(C.c_abi()) }

func mpiInit() (rank, size int, version string, err error) {
	var r, s, provided C.int
	var vbuf [8192]C.char
	rc := C.c_init(&r, &s, &provided, &vbuf[0], C.int(len(vbuf)))
	if rc != 0 {
		if rc == mpiNotInit {
			return 0, 0, "", errors.New("dist: MPI was finalized; it cannot be initialized again")
		}
		return 0, 0, "", fmt.Errorf("dist: MPI initialization failed: %s", mpiErrorString(int(rc)))
	}
	// MPI_THREAD_SERIALIZED is 2 in MPICH's ABI.
	if provided < 2 {
		return 0, 0, "", fmt.Errorf("dist: MPI provides thread level %d; Go calls MPI from any thread and needs MPI_THREAD_SERIALIZED", provided)
	}
	return int(r), int(s), C.GoString(&vbuf[0]), nil
}

func mpiFinalize() int { return int(C.c_finalize()) }

func mpiErrorString(code int) string {
	var buf [1024]C.char
	C.c_error_string(C.int(code), &buf[0], C.int(len(buf)))
	return C.GoString(&buf[0])
}

func mpiAbort(code int) { C.c_abort(C.int(code)) }

func mpiCancel(gen int64) { C.c_cancel(C.long(gen)) }

func fptr(d []float32) *C.float {
	if len(d) == 0 {
		return nil
	}
	return (*C.float)(unsafe.Pointer(&d[0]))
}

func addr(d []float32) uintptr { return uintptr(unsafe.Pointer(&d[0])) }

func mpiAgree(desc [4]int64, all []int64, timeout float64, gen int64) int {
	return int(C.c_agree((*C.int64_t)(unsafe.Pointer(&desc[0])), (*C.int64_t)(unsafe.Pointer(&all[0])), C.double(timeout), C.long(gen)))
}

func mpiAllReduce(d []float32, avg int, timeout float64, gen int64) int {
	return int(C.c_allreduce(fptr(d), C.int64_t(len(d)), C.int(avg), C.double(timeout), C.long(gen)))
}

func mpiBroadcast(d []float32, root int, timeout float64, gen int64) int {
	return int(C.c_bcast(fptr(d), C.int64_t(len(d)), C.int(root), C.double(timeout), C.long(gen)))
}

func mpiAllGather(s, r []float32, timeout float64, gen int64) int {
	return int(C.c_allgather(fptr(s), fptr(r), C.int64_t(len(s)), C.double(timeout), C.long(gen)))
}

func mpiReduceScatter(s, r []float32, avg int, timeout float64, gen int64) int {
	return int(C.c_reduce_scatter(fptr(s), fptr(r), C.int64_t(len(r)), C.int(avg), C.double(timeout), C.long(gen)))
}

func mpiBarrier(timeout float64, gen int64) int {
	return int(C.c_barrier(C.double(timeout), C.long(gen)))
}

func mpiBenchAllReduce(buf []float32, iters int) (float64, int) {
	var sec C.double
	rc := C.c_bench_allreduce(fptr(buf), C.int64_t(len(buf)), C.int(iters), &sec)
	return float64(sec), int(rc)
}
