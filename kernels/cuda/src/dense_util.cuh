// dense_util.cuh: small device helpers shared by the dense kernels (gemm.cu,
// conv.cu, hallucinator.cu) and the fused InfoNCE (infonce.cu): inline-PTX
// wrappers for cp.async and the TF32 mma.sync, fast division by a loop
// invariant, and the error-returning launch helpers.
#ifndef HAL_DENSE_UTIL_CUH
#define HAL_DENSE_UTIL_CUH

#ifdef HAL_EMULATE
#include "emulator.cuh"  // the CPU emulator of the test harness
#else
#include <cuda_runtime.h>
#endif
#include <stdint.h>

// DENSE_LAUNCH launches kern on grid x block threads with shmem bytes of
// dynamic shared memory on stream (the emulator runs it on the CPU).
#ifdef HAL_EMULATE
#define DENSE_LAUNCH(kern, grid, block, shmem, stream, ...) emu::launch(kern, grid, block, shmem, __VA_ARGS__)
#else
#define DENSE_LAUNCH(kern, grid, block, shmem, stream, ...) kern<<<grid, block, shmem, stream>>>(__VA_ARGS__)
#endif

namespace dense {

// DENSE_TRY returns the cudaError_t of expr from the calling function unless it
// is cudaSuccess.
#define DENSE_TRY(expr)                                  \
    do {                                              \
        cudaError_t dense_err_ = (expr);                 \
        if (dense_err_ != cudaSuccess) return dense_err_;   \
    } while (0)

// ceil_div returns ceil(a / b) for a >= 0, b > 0.
template <class T>
__host__ __device__ __forceinline__ T ceil_div(T a, T b) {
    return (a + b - 1) / b;
}

// sm_count returns the number of multiprocessors of the current device.
inline cudaError_t sm_count(int* n) {
    int dev = 0;
    DENSE_TRY(cudaGetDevice(&dev));
    return cudaDeviceGetAttribute(n, cudaDevAttrMultiProcessorCount, dev);
}

// smem_optin returns the most dynamic shared memory one block of the
// current device may opt in to, in bytes.
inline cudaError_t smem_optin(int* n) {
    int dev = 0;
    DENSE_TRY(cudaGetDevice(&dev));
    return cudaDeviceGetAttribute(n, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev);
}

// FastDiv divides non-negative ints below 2^31 by a fixed positive divisor
// with one multiply-high and one shift (Granlund & Montgomery), as the
// implicit-GEMM gathers decode indices on every tile.
struct FastDiv {
    int d;
    unsigned mul, shr;

    FastDiv() = default;
    // FastDiv(d) prepares division by d >= 1.
    __host__ explicit FastDiv(int divisor) : d(divisor), mul(0), shr(0) {
        if (d > 1) {
            unsigned l = 0;  // ceil(log2(d))
            while ((1u << l) < (unsigned)d) ++l;
            unsigned p = 31 + l;
            mul = (unsigned)(((1ull << p) + (unsigned)d - 1) / (unsigned)d);
            shr = p - 32;
        }
    }
    // div returns n / d for 0 <= n < 2^31.
    __host__ __device__ __forceinline__ int div(int n) const {
        if (d == 1) return n;
#ifdef __CUDA_ARCH__
        return (int)(__umulhi((unsigned)n, mul) >> shr);
#else
        return (int)((unsigned)(((unsigned long long)(unsigned)n * mul) >> 32) >> shr);
#endif
    }
};

#if defined(__CUDACC__) && !defined(HAL_EMULATE)

// dyn_smem returns the block's dynamic shared memory.
__device__ __forceinline__ float* dyn_smem() {
    extern __shared__ __align__(16) float hal_dyn_smem[];
    return hal_dyn_smem;
}

// smem_addr converts a generic pointer to shared memory into the 32-bit
// shared-window address the PTX instructions take.
__device__ __forceinline__ unsigned smem_addr(const void* p) {
    return (unsigned)__cvta_generic_to_shared(p);
}

// cp_async16 copies 16 bytes from global to shared memory asynchronously;
// when !valid nothing is read and the 16 bytes are zero-filled. Both
// addresses must be 16-byte aligned.
__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, bool valid) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(smem)), "l"(gmem),
                 "r"(valid ? 16 : 0)
                 : "memory");
}

// cp_async4 copies one float asynchronously (zero-filled when !valid).
__device__ __forceinline__ void cp_async4(void* smem, const void* gmem, bool valid) {
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(smem_addr(smem)), "l"(gmem),
                 "r"(valid ? 4 : 0)
                 : "memory");
}

// cp_async_commit closes the group of copies issued since the last commit.
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }

// cp_async_wait waits until at most N committed groups are still in flight.
template <int N>
__device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

// to_tf32 rounds x to TF32 (round to nearest, ties away), low bits cleared.
__device__ __forceinline__ unsigned to_tf32(float x) {
    unsigned r;
    asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(r) : "f"(x));
    return r;
}

// tf32_bits returns x as a TF32 operand of mma.sync in one integer add: the
// bits of x plus half a TF32 ulp. The tensor cores ignore the low 13 bits of
// a TF32 operand, so for every finite x (and +-Inf) the operand they see is
// exactly cvt.rna.tf32.f32(x): round to nearest, ties away from zero.
__device__ __forceinline__ unsigned tf32_bits(float x) { return __float_as_uint(x) + 0x1000u; }

// mma_tf32 is d += a * b for one m16n8k8 TF32 tile of a warp: a is the
// row-major 16x8 fragment, b the column-major 8x8 one (TF32 operands: the
// low 13 bits of each are ignored), d the 16x8 FP32 accumulator (c0,c1:
// row g, columns 2t, 2t+1; c2,c3: row g+8).
__device__ __forceinline__ void mma_tf32(float (&d)[4], const unsigned (&a)[4], const unsigned (&b)[2]) {
    asm volatile(
        "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

#endif  // __CUDACC__ && !HAL_EMULATE

}  // namespace dense

#endif  // HAL_DENSE_UTIL_CUH
