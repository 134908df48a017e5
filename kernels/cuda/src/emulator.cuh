// emulator.cuh: a small CPU emulator of the CUDA features the kernels use,
// so that the library (scripts/build-kernels.sh emu) and the checks of
// test/ (gemm_check.cu, conv_check.cu, infonce_check.cu, halluc_check.cu)
// run on a machine without a GPU (built with g++ -DHAL_EMULATE, never by
// nvcc).
//
// Every thread of a block is a ucontext fiber on one OS thread; blocks run
// one after the other. __syncthreads and the warp-wide operations (shuffles,
// mma.sync) are barriers among the fibers; mma.sync follows the PTX fragment
// layout of m16n8k8 TF32 exactly, and cvt.rna.tf32 rounds as the hardware
// does. cp.async copies are queued per thread and performed only when
// cp.async.wait_group retires their group, so a read of shared memory before
// the matching wait sees stale data, as it may on a GPU. Device memory is
// host memory; streams and events are synchronous.
#ifndef HAL_EMULATOR_CUH
#define HAL_EMULATOR_CUH

#ifndef HAL_EMULATE
#error "emulator.cuh is for the CPU emulation build only"
#endif

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <vector>

using std::max;
using std::min;

// ------------------------------------------------------------ language --
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))
#define __launch_bounds__(...)

struct dim3 {
    unsigned x, y, z;
    dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
struct alignas(8) float2 {
    float x, y;
};
struct alignas(16) float4 {
    float x, y, z, w;
};

inline dim3 threadIdx, blockIdx, blockDim, gridDim;

// ------------------------------------------------------------ runtime --
enum cudaError {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorLaunchFailure = 719,
};
typedef enum cudaError cudaError_t;
typedef struct emu_stream* cudaStream_t;
typedef struct emu_event* cudaEvent_t;
enum cudaDeviceAttr { cudaDevAttrMultiProcessorCount = 16, cudaDevAttrMaxSharedMemoryPerBlockOptin = 97 };
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };
enum cudaMemcpyKind {
    cudaMemcpyHostToHost = 0,
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3,
    cudaMemcpyDefault = 4
};

namespace emu {

constexpr size_t kDynSmem = 232448;  // as much as an H100 block can opt in to

struct Fiber {
    ucontext_t ctx;
    std::vector<char> stack;
    bool done = false;
    int waiting = 0;  // 0 runnable, 1 at __syncthreads, 2 at a warp barrier
    // cp.async: committed groups and the open one.
    struct Copy {
        void* dst;
        const void* src;
        int bytes;
        bool valid;
    };
    std::vector<std::vector<Copy>> groups;
    std::vector<Copy> open;
};

struct State {
    std::vector<Fiber> fibers;
    ucontext_t sched;
    int cur = 0;
    int nthreads = 0;
    int block_arrived = 0;
    std::vector<int> warp_arrived;
    std::function<void()> body;
    // Warp exchange buffers: shuffles and mma fragments.
    std::vector<float> xf;     // [warp][32]
    std::vector<unsigned> xa;  // [warp][32][4]
    std::vector<unsigned> xb;  // [warp][32][2]
    std::vector<float> xc;     // [warp][32][4]
    alignas(16) char smem[kDynSmem];
    int sms = 132;
};

inline State& st() {
    static State* s = [] {
        State* n = new State;
        if (const char* e = getenv("HAL_EMU_SMS")) n->sms = atoi(e);
        return n;
    }();
    return *s;
}

inline void yield_to_sched() {
    State& s = st();
    swapcontext(&s.fibers[s.cur].ctx, &s.sched);
}

inline void fiber_entry() {
    State& s = st();
    s.body();
    s.fibers[s.cur].done = true;
    // returning resumes uc_link (the scheduler)
}

inline void block_barrier() {
    State& s = st();
    s.fibers[s.cur].waiting = 1;
    s.block_arrived++;
    yield_to_sched();
}

inline void warp_barrier() {
    State& s = st();
    s.fibers[s.cur].waiting = 2;
    s.warp_arrived[s.cur / 32]++;
    yield_to_sched();
}

inline int lane() { return st().cur % 32; }
inline int warp() { return st().cur / 32; }

// run_block runs every thread of the current block to completion.
inline void run_block(int nthreads) {
    State& s = st();
    s.nthreads = nthreads;
    s.fibers.resize(nthreads);
    const int nwarps = (nthreads + 31) / 32;
    s.warp_arrived.assign(nwarps, 0);
    s.xf.assign(nwarps * 32, 0.f);
    s.xa.assign(nwarps * 32 * 4, 0u);
    s.xb.assign(nwarps * 32 * 2, 0u);
    s.xc.assign(nwarps * 32 * 4, 0.f);
    s.block_arrived = 0;
    for (int i = 0; i < nthreads; ++i) {
        Fiber& f = s.fibers[i];
        f.stack.resize(256 << 10);
        f.done = false;
        f.waiting = 0;
        f.groups.clear();
        f.open.clear();
        getcontext(&f.ctx);
        f.ctx.uc_stack.ss_sp = f.stack.data();
        f.ctx.uc_stack.ss_size = f.stack.size();
        f.ctx.uc_link = &s.sched;
        makecontext(&f.ctx, fiber_entry, 0);
    }
    for (;;) {
        bool ran = false;
        for (int i = 0; i < nthreads; ++i) {
            Fiber& f = s.fibers[i];
            if (f.done || f.waiting) continue;
            s.cur = i;
            threadIdx = dim3(i % blockDim.x, (i / blockDim.x) % blockDim.y, i / (blockDim.x * blockDim.y));
            swapcontext(&s.sched, &f.ctx);
            ran = true;
        }
        int live = 0;
        for (int i = 0; i < nthreads; ++i) live += !s.fibers[i].done;
        if (live == 0) break;
        bool released = false;
        if (s.block_arrived > 0 && s.block_arrived == live) {
            for (auto& f : s.fibers)
                if (f.waiting == 1) f.waiting = 0;
            s.block_arrived = 0;
            released = true;
        }
        for (int w = 0; w < nwarps; ++w) {
            int wl = 0;
            for (int i = w * 32; i < nthreads && i < w * 32 + 32; ++i) wl += !s.fibers[i].done;
            if (s.warp_arrived[w] > 0 && s.warp_arrived[w] == wl) {
                for (int i = w * 32; i < nthreads && i < w * 32 + 32; ++i)
                    if (s.fibers[i].waiting == 2) s.fibers[i].waiting = 0;
                s.warp_arrived[w] = 0;
                released = true;
            }
        }
        if (!ran && !released) {
            fprintf(stderr, "emu: deadlock (block %u,%u,%u: %d live threads, %d at __syncthreads)\n", blockIdx.x,
                    blockIdx.y, blockIdx.z, live, s.block_arrived);
            abort();
        }
    }
}

template <class... P, class... A>
void launch(void (*kern)(P...), dim3 grid, dim3 block, size_t shmem, A... args) {
    if (shmem > kDynSmem) {
        fprintf(stderr, "emu: %zu bytes of dynamic shared memory\n", shmem);
        abort();
    }
    State& s = st();
    gridDim = grid;
    blockDim = block;
    const int nthreads = (int)(block.x * block.y * block.z);
    s.body = [&]() { kern(args...); };
    for (unsigned z = 0; z < grid.z; ++z)
        for (unsigned y = 0; y < grid.y; ++y)
            for (unsigned x = 0; x < grid.x; ++x) {
                blockIdx = dim3(x, y, z);
                memset(s.smem, 0xcd, shmem);  // garbage, as on a GPU
                run_block(nthreads);
            }
}

}  // namespace emu

inline void __syncthreads() { emu::block_barrier(); }

inline float __shfl_xor_sync(unsigned, float v, int o) {
    auto& s = emu::st();
    const int w = emu::warp(), l = emu::lane();
    s.xf[w * 32 + l] = v;
    emu::warp_barrier();
    const float r = s.xf[w * 32 + (l ^ o)];
    emu::warp_barrier();
    return r;
}

template <class T>
inline T __ldg(const T* p) {
    return *p;
}
inline float __int_as_float(int i) {
    float f;
    memcpy(&f, &i, 4);
    return f;
}

inline cudaError_t cudaGetLastError() { return cudaSuccess; }
inline cudaError_t cudaPeekAtLastError() { return cudaSuccess; }
inline const char* cudaGetErrorString(cudaError_t e) { return e == cudaSuccess ? "no error" : "error"; }
inline cudaError_t cudaGetDevice(int* d) {
    *d = 0;
    return cudaSuccess;
}
inline cudaError_t cudaSetDevice(int) { return cudaSuccess; }
inline cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr a, int) {
    *v = a == cudaDevAttrMaxSharedMemoryPerBlockOptin ? (int)emu::kDynSmem : emu::st().sms;
    return cudaSuccess;
}
template <class F>
inline cudaError_t cudaFuncSetAttribute(F, cudaFuncAttribute, int v) {
    return v <= (int)emu::kDynSmem ? cudaSuccess : cudaErrorInvalidValue;
}
inline cudaError_t cudaMalloc(void** p, size_t n) {
    *p = aligned_alloc(256, (n + 255) / 256 * 256 + 256);
    return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}
inline cudaError_t cudaFree(void* p) {
    free(p);
    return cudaSuccess;
}
inline cudaError_t cudaMallocAsync(void** p, size_t n, cudaStream_t) { return cudaMalloc(p, n); }
inline cudaError_t cudaFreeAsync(void* p, cudaStream_t) { return cudaFree(p); }
inline cudaError_t cudaMemcpy(void* d, const void* s, size_t n, cudaMemcpyKind) {
    memcpy(d, s, n);
    return cudaSuccess;
}
inline cudaError_t cudaMemcpyAsync(void* d, const void* s, size_t n, cudaMemcpyKind, cudaStream_t = nullptr) {
    memcpy(d, s, n);
    return cudaSuccess;
}
inline cudaError_t cudaMemset(void* d, int v, size_t n) {
    memset(d, v, n);
    return cudaSuccess;
}
inline cudaError_t cudaMemsetAsync(void* d, int v, size_t n, cudaStream_t = nullptr) { return cudaMemset(d, v, n); }
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }

struct emu_event {
    std::chrono::steady_clock::time_point t;
};
inline cudaError_t cudaEventCreate(cudaEvent_t* e) {
    *e = new emu_event;
    return cudaSuccess;
}
inline cudaError_t cudaEventDestroy(cudaEvent_t e) {
    delete e;
    return cudaSuccess;
}
inline cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t = nullptr) {
    e->t = std::chrono::steady_clock::now();
    return cudaSuccess;
}
inline cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }
inline cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t a, cudaEvent_t b) {
    *ms = std::chrono::duration<float, std::milli>(b->t - a->t).count();
    return cudaSuccess;
}

// ----------------------------------------------- the dense engine's device helpers --
namespace dense {

inline float* dyn_smem() { return reinterpret_cast<float*>(emu::st().smem); }

inline void cp_async16(void* smem, const void* gmem, bool valid) {
    if ((uintptr_t)smem % 16 || (valid && (uintptr_t)gmem % 16)) {
        fprintf(stderr, "emu: misaligned cp.async of 16 bytes (%p <- %p)\n", smem, gmem);
        abort();
    }
    emu::st().fibers[emu::st().cur].open.push_back({smem, gmem, 16, valid});
}
inline void cp_async4(void* smem, const void* gmem, bool valid) {
    if ((uintptr_t)smem % 4 || (valid && (uintptr_t)gmem % 4)) {
        fprintf(stderr, "emu: misaligned cp.async of 4 bytes\n");
        abort();
    }
    emu::st().fibers[emu::st().cur].open.push_back({smem, gmem, 4, valid});
}
inline void cp_async_commit() {
    auto& f = emu::st().fibers[emu::st().cur];
    f.groups.push_back(f.open);
    f.open.clear();
}
template <int N>
inline void cp_async_wait() {
    auto& f = emu::st().fibers[emu::st().cur];
    while ((int)f.groups.size() > N) {
        for (auto& c : f.groups.front()) {
            if (c.valid)
                memcpy(c.dst, c.src, c.bytes);
            else
                memset(c.dst, 0, c.bytes);
        }
        f.groups.erase(f.groups.begin());
    }
}

// to_tf32: cvt.rna.tf32.f32, round to nearest with ties away from zero, the
// low 13 bits cleared.
inline unsigned to_tf32(float x) {
    unsigned u;
    memcpy(&u, &x, 4);
    if ((u & 0x7f800000u) == 0x7f800000u) return u;  // Inf, NaN
    u += 0x1000u;
    return u & 0xffffe000u;
}

// tf32_bits: the bits of x plus half a TF32 ulp (mma_tf32 drops the low 13
// bits, as the tensor cores do).
inline unsigned tf32_bits(float x) {
    unsigned u;
    memcpy(&u, &x, 4);
    return u + 0x1000u;
}

// mma_tf32: the warp's m16n8k8 product from the lanes' fragments (PTX ISA,
// "Matrix Fragments for mma.m16n8k8" with .tf32); the tensor cores read only
// the top 19 bits of each operand register.
inline void mma_tf32(float (&d)[4], const unsigned (&a)[4], const unsigned (&b)[2]) {
    auto& s = emu::st();
    const int w = emu::warp(), l = emu::lane();
    for (int i = 0; i < 4; ++i) s.xa[(w * 32 + l) * 4 + i] = a[i];
    for (int i = 0; i < 2; ++i) s.xb[(w * 32 + l) * 2 + i] = b[i];
    emu::warp_barrier();
    auto A = [&](int r, int c) {  // a0:(g,t) a1:(g+8,t) a2:(g,t+4) a3:(g+8,t+4)
        const int ln = (r % 8) * 4 + c % 4, reg = (r >= 8 ? 1 : 0) + (c >= 4 ? 2 : 0);
        const unsigned u = s.xa[(w * 32 + ln) * 4 + reg] & 0xffffe000u;
        float f;
        memcpy(&f, &u, 4);
        return f;
    };
    auto B = [&](int k, int n) {  // b0:(t,g) b1:(t+4,g)
        const int ln = n * 4 + k % 4, reg = k >= 4 ? 1 : 0;
        const unsigned u = s.xb[(w * 32 + ln) * 2 + reg] & 0xffffe000u;
        float f;
        memcpy(&f, &u, 4);
        return f;
    };
    const int g = l >> 2, t = l & 3;
    float out[4];
    for (int i = 0; i < 4; ++i) {
        const int r = g + (i >= 2 ? 8 : 0), c = 2 * t + (i & 1);
        double acc = d[i];
        for (int k = 0; k < 8; ++k) acc += (double)A(r, k) * (double)B(k, c);
        out[i] = (float)acc;
    }
    emu::warp_barrier();
    for (int i = 0; i < 4; ++i) d[i] = out[i];
}

}  // namespace dense

#endif  // HAL_EMULATOR_CUH
