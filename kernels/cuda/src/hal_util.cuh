// hal_util.cuh: the helpers every kernel file shares.
//
// For every file: the CPU emulator's stand-ins (HAL_EMULATE, emulator.cuh),
// HAL_LAUNCH, and HAL_TRY, which returns the error of a runtime call from the
// calling function (an int entry point or a cudaError_t helper).
//
// namespace hal, for the runtime, element-wise, reduction, batch-norm, pool,
// loss, optimiser and row kernels: argument checks that return
// cudaErrorInvalidValue, the launch status, grid sizing, warp and block sums
// (fixed order, so results are deterministic) and the lookup of a chunk in a
// multi-tensor list.
//
// namespace dense, for the dense engine (gemm_engine.cuh, conv_implicit.cuh,
// wgmma.cuh, jit.cuh: gemm.cu, conv.cu, hallucinator.cu) and the fused
// InfoNCE (infonce.cu): ceil_div, the device's multiprocessors and shared
// memory, fast division by a loop invariant, and inline-PTX wrappers for
// cp.async and the TF32 mma.sync.
#ifndef HAL_UTIL_CUH
#define HAL_UTIL_CUH

#ifdef HAL_EMULATE
// The CPU emulation build (g++ -DHAL_EMULATE, see emulator.cuh): kernels run
// as fibers on the host so that the whole library can be tested without a
// GPU.
#include <algorithm>

#include "emulator.cuh"
using std::max;
using std::min;
inline float4 make_float4(float x, float y, float z, float w) {
    float4 v;
    v.x = x;
    v.y = y;
    v.z = z;
    v.w = w;
    return v;
}
// The emulator shuffles floats; a double goes as its two 32-bit halves.
inline double __shfl_xor_sync(unsigned mask, double v, int o) {
    uint64_t bits;
    memcpy(&bits, &v, 8);
    const float lo = __int_as_float((int)(uint32_t)bits), hi = __int_as_float((int)(uint32_t)(bits >> 32));
    const float rlo = __shfl_xor_sync(mask, lo, o), rhi = __shfl_xor_sync(mask, hi, o);
    uint32_t a, b;
    memcpy(&a, &rlo, 4);
    memcpy(&b, &rhi, 4);
    bits = (uint64_t)a | ((uint64_t)b << 32);
    memcpy(&v, &bits, 8);
    return v;
}
#define HAL_DEVICE_CODE 1
#define HAL_LAUNCH(kern, grid, block, shmem, stream, ...) emu::launch(kern, grid, block, shmem, __VA_ARGS__)
#else
#include <cuda_runtime.h>
#ifdef __CUDACC__
#define HAL_DEVICE_CODE 1
#endif
// HAL_LAUNCH launches kern on grid x block threads with shmem bytes of
// dynamic shared memory on stream.
#define HAL_LAUNCH(kern, grid, block, shmem, stream, ...) kern<<<grid, block, shmem, stream>>>(__VA_ARGS__)
#endif
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "hal.h"

namespace hal {

// HAL_REQUIRE returns cudaErrorInvalidValue from the calling entry point
// unless cond holds.
#define HAL_REQUIRE(cond)                                           \
    do {                                                            \
        if (!(cond)) return (int)cudaErrorInvalidValue;             \
    } while (0)

// HAL_TRY returns the error of a runtime call from the calling function
// unless it is cudaSuccess: as an int from an entry point, as the
// cudaError_t itself from a helper that returns one.
#define HAL_TRY(expr)                                     \
    do {                                                  \
        cudaError_t hal_err_ = (expr);                    \
        if (hal_err_ != cudaSuccess) return hal_err_;     \
    } while (0)

// launched returns the status of the launches just made (cudaGetLastError).
inline int launched() { return (int)cudaGetLastError(); }

inline cudaStream_t stream_of(void* s) { return (cudaStream_t)s; }

// Threads per block of the one-dimensional kernels.
constexpr int kThreads = 256;
// The most blocks a grid-stride kernel launches.
constexpr long long kMaxBlocks = 8192;

// blocks_for returns the number of blocks for a grid-stride loop over n work
// items of per_block items per block, between 1 and kMaxBlocks.
inline int blocks_for(long long n, long long per_block) {
    long long b = (n + per_block - 1) / per_block;
    if (b < 1) b = 1;
    if (b > kMaxBlocks) b = kMaxBlocks;
    return (int)b;
}

// aligned16 reports whether a pointer is 16-byte aligned (float4 access).
inline bool aligned16(const void* p) { return ((uintptr_t)p & 15) == 0; }

#ifdef HAL_DEVICE_CODE

// warp_sum returns the sum of v over the 32 lanes of a full warp, in every
// lane (butterfly order, identical in every run).
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ double warp_sum(double v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// block_sum returns the sum of v over a one-dimensional block whose size is a
// multiple of 32 (at most 1024), in every thread. sh is a __shared__ array of
// at least 32 elements; consecutive calls may reuse it. Every thread of the
// block must call it.
template <class T>
__device__ __forceinline__ T block_sum(T v, T* sh) {
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    const int nw = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads();  // sh may still be read by a previous call
    if (lane == 0) sh[wid] = v;
    __syncthreads();
    if (wid == 0) {
        T t = lane < nw ? sh[lane] : T(0);
        t = warp_sum(t);
        if (lane == 0) sh[0] = t;
    }
    __syncthreads();
    return sh[0];
}

// block_max is block_sum with max.
__device__ __forceinline__ float block_max(float v, float* sh) {
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    const int nw = blockDim.x >> 5;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    __syncthreads();
    if (lane == 0) sh[wid] = v;
    __syncthreads();
    if (wid == 0) {
        float t = lane < nw ? sh[lane] : -INFINITY;
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) t = fmaxf(t, __shfl_xor_sync(0xffffffffu, t, o));
        if (lane == 0) sh[0] = t;
    }
    __syncthreads();
    return sh[0];
}

// mt_find returns the index of the entry of a multi-tensor list that owns
// chunk b: the largest i with list[i].chunk_start <= b (entries without
// elements own no chunk and are skipped by construction).
__device__ __forceinline__ int mt_find(const hal_mt_tensor* list, int count, int b) {
    int lo = 0, hi = count - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) >> 1;
        if (list[mid].chunk_start <= b)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

// MTChunk is the part of one entry a block of a multi-tensor kernel owns.
struct MTChunk {
    int t;            // entry index
    long long begin;  // first element
    long long end;    // one past the last element
};

// mt_chunk finds the entry and element range of this block's chunk; every
// thread of the block must call it (it synchronises). sh_t is a __shared__ int.
__device__ __forceinline__ MTChunk mt_chunk(const hal_mt_tensor* list, int count, int* sh_t) {
    if (threadIdx.x == 0) *sh_t = mt_find(list, count, (int)blockIdx.x);
    __syncthreads();
    MTChunk c;
    c.t = *sh_t;
    const long long n = list[c.t].n;
    c.begin = (long long)((int)blockIdx.x - list[c.t].chunk_start) * HAL_MT_CHUNK;
    c.end = c.begin + HAL_MT_CHUNK < n ? c.begin + HAL_MT_CHUNK : n;
    return c;
}

#endif  // HAL_DEVICE_CODE

// mt_valid checks the list arguments every multi-tensor entry point takes.
inline bool mt_valid(const hal_mt_tensor* list, int count, int nchunks) {
    return list != nullptr && count > 0 && nchunks >= 0 && nchunks <= 0x7fffffff;
}

}  // namespace hal

namespace dense {

// ceil_div returns ceil(a / b) for a >= 0, b > 0.
template <class T>
__host__ __device__ __forceinline__ T ceil_div(T a, T b) {
    return (a + b - 1) / b;
}

// sm_count returns the number of multiprocessors of the current device.
inline cudaError_t sm_count(int* n) {
    int dev = 0;
    HAL_TRY(cudaGetDevice(&dev));
    return cudaDeviceGetAttribute(n, cudaDevAttrMultiProcessorCount, dev);
}

// smem_optin returns the most dynamic shared memory one block of the
// current device may opt in to, in bytes.
inline cudaError_t smem_optin(int* n) {
    int dev = 0;
    HAL_TRY(cudaGetDevice(&dev));
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

#endif  // HAL_UTIL_CUH
