// check.h: what the kernel families' checks share (gemm_check.cu,
// conv_check.cu, infonce_check.cu, halluc_check.cu, one program each, as in
// llm.c's dev/cuda): a seeded RNG, the PASS/FAIL report, device buffers with
// guard values around every output, error measures against double
// references, a timer, and run_checks, the main of every check.
//
// Each check tests one family against plain CPU references (double
// accumulation) on awkward sizes and real ones and, in a full GPU run, times
// it. Build one from kernels/cuda/src, with the sources of its family (every
// one takes gemm.cu for hal_gemm_engine):
//   GPU (add -DHAL_WGMMA_PTX -I<dir of wgmma_ptx.h> -ldl for the sm_90a engine,
//   as scripts/gpu-check.sh does):
//     nvcc -O3 -std=c++17 -gencode arch=compute_90,code=sm_90 -o gemm_check test/gemm_check.cu gemm.cu
//     nvcc ... -o conv_check test/conv_check.cu conv.cu gemm.cu
//     nvcc ... -o infonce_check test/infonce_check.cu infonce.cu gemm.cu
//     nvcc ... -o halluc_check test/halluc_check.cu hallucinator.cu gemm.cu
//   gemm_check compares the GEMM with cuBLAS when built with -DHAL_CUBLAS
//   -lcublas (or, self-contained, -DHAL_CUBLAS -lcublas_static
//   -lcublasLt_static -lculibos).
//   CPU emulation (no GPU; smaller sizes, no timing), for example:
//     g++ -O2 -std=c++20 -DHAL_EMULATE -x c++ -o gemm_check_emu test/gemm_check.cu gemm.cu
// Run: ./gemm_check [quick|full] [filter]; prints PASS/FAIL lines with the
// largest error and ends with "gemm_check: N passed, M failed" (exit status 1
// on failure). scripts/gpu-check.sh run builds and runs all four.
#ifndef HAL_TEST_CHECK_H
#define HAL_TEST_CHECK_H

#ifdef HAL_EMULATE
#include "../emulator.cuh"
#else
#include <cuda_runtime.h>
#endif

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <string>
#include <vector>

#include "../hal.h"

namespace {


constexpr float kGuard = -7777.25f;
constexpr size_t kG = 64;  // guard floats on each side of a device buffer (keeps 256-byte alignment)

struct Rng {
    uint64_t s;
    explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
    uint32_t next() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        return (uint32_t)(s >> 11);
    }
    float uni() { return (float)((next() & 0xffffff) / 8388608.0 - 1.0); }  // [-1, 1)
    int below(int n) { return (int)(next() % (uint32_t)n); }
    std::vector<float> vec(size_t n) {
        std::vector<float> v(n);
        for (auto& x : v) x = uni();
        return v;
    }
};

struct Report {
    int pass = 0, fail = 0;
    std::string filter;
    bool want(const char* name) const { return filter.empty() || strstr(name, filter.c_str()) != nullptr; }
    void check(bool ok, const char* fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        printf("%s ", ok ? "PASS" : "FAIL");
        vprintf(fmt, ap);
        printf("\n");
        va_end(ap);
        fflush(stdout);
        (ok ? pass : fail)++;
    }
};

inline void die(cudaError_t e, const char* what) {
    if (e != cudaSuccess) {
        fprintf(stderr, "check: %s: %s\n", what, cudaGetErrorString(e));
        exit(2);
    }
}

// DBuf is a device float buffer of n elements with guard values on both sides.
struct DBuf {
    float* base = nullptr;
    size_t n = 0;
    explicit DBuf(size_t count) : n(count) {
        die(cudaMalloc((void**)&base, (n + 2 * kG) * sizeof(float)), "cudaMalloc");
        std::vector<float> g(n + 2 * kG, kGuard);
        die(cudaMemcpy(base, g.data(), g.size() * sizeof(float), cudaMemcpyHostToDevice), "memcpy");
    }
    DBuf(const DBuf&) = delete;
    DBuf& operator=(const DBuf&) = delete;
    ~DBuf() { cudaFree(base); }
    float* p() const { return base + kG; }
    void up(const std::vector<float>& h) {
        die(cudaMemcpy(p(), h.data(), std::min(h.size(), n) * sizeof(float), cudaMemcpyHostToDevice), "up");
    }
    std::vector<float> down() const {
        std::vector<float> h(n);
        die(cudaDeviceSynchronize(), "sync");
        die(cudaMemcpy(h.data(), p(), n * sizeof(float), cudaMemcpyDeviceToHost), "down");
        return h;
    }
    bool guards_ok() const {
        std::vector<float> h(n + 2 * kG);
        die(cudaMemcpy(h.data(), base, h.size() * sizeof(float), cudaMemcpyDeviceToHost), "guards");
        for (size_t i = 0; i < kG; ++i)
            if (h[i] != kGuard || h[kG + n + i] != kGuard) return false;
        return true;
    }
};

struct IBuf {
    int* p = nullptr;
    explicit IBuf(const std::vector<int>& h) {
        die(cudaMalloc((void**)&p, std::max<size_t>(h.size(), 1) * sizeof(int)), "cudaMalloc");
        if (!h.empty()) die(cudaMemcpy(p, h.data(), h.size() * sizeof(int), cudaMemcpyHostToDevice), "up");
    }
    IBuf(const IBuf&) = delete;
    IBuf& operator=(const IBuf&) = delete;
    ~IBuf() { cudaFree(p); }
};

// max_scaled_err returns max |got - ref| / scale[i] (NaN or Inf in got: +Inf).
inline double max_scaled_err(const std::vector<float>& got, const std::vector<double>& ref,
                             const std::vector<double>& scale) {
    double e = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
        if (!std::isfinite(got[i])) return INFINITY;
        const double s = std::max(scale[i], 1e-30);
        e = std::max(e, fabs(got[i] - ref[i]) / s);
    }
    return e;
}

// max_rel_err returns max |got - ref| / max |ref| over a tensor.
inline double max_rel_err(const std::vector<float>& got, const std::vector<double>& ref) {
    double mx = 0, e = 0;
    for (double v : ref) mx = std::max(mx, fabs(v));
    mx = std::max(mx, 1e-30);
    for (size_t i = 0; i < ref.size(); ++i) {
        if (!std::isfinite(got[i])) return INFINITY;
        e = std::max(e, fabs(got[i] - ref[i]) / mx);
    }
    return e;
}
#ifndef HAL_EMULATE
// time_ms returns the mean milliseconds of fn over iters runs after a warm-up.
template <class F>
float time_ms(F fn, int iters) {
    fn();
    cudaEvent_t a, b;
    cudaEventCreate(&a);
    cudaEventCreate(&b);
    cudaEventRecord(a);
    for (int i = 0; i < iters; ++i) fn();
    cudaEventRecord(b);
    cudaEventSynchronize(b);
    float ms = 0;
    cudaEventElapsedTime(&ms, a, b);
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    return ms / iters;
}

#endif

// run_checks is the main of a check program: it reads the arguments (quick,
// full, or a filter on the case names), prints the GEMM engine, calls
// run(rep, rng, quick, engine) and prints "name: N passed, M failed"; it
// returns the exit status, 1 when a check failed.
template <class F>
int run_checks(const char* name, int argc, char** argv, F run) {
    Report rep;
    bool quick = false;
#ifdef HAL_EMULATE
    quick = true;
#endif
    for (int i = 1; i < argc; ++i) {
        if (!strcmp(argv[i], "quick"))
            quick = true;
        else if (!strcmp(argv[i], "full"))
            quick = false;
        else
            rep.filter = argv[i];
    }
    Rng rng(20230723);
    char engine[1200] = "";
    hal_gemm_engine(engine, sizeof engine);
    printf("gemm engine: %s\n", engine);
    run(rep, rng, quick, (const char*)engine);
    printf("%s: %d passed, %d failed\n", name, rep.pass, rep.fail);
    return rep.fail == 0 ? 0 : 1;
}

}  // namespace

#endif  // HAL_TEST_CHECK_H
