// wgmma.cuh: the Hopper (sm_90a) TF32 main loops on warpgroup
// tensor-core instructions (wgmma.mma_async), for the large products of
// hal_gemm and the forward and backward-data convolutions.
//
// This file is compiled only into the PTX module of src/ptx (see
// scripts/build-kernels.sh): the toolkit that builds the library emits the
// PTX, and the driver compiles it for the GPU at run time (jit.cuh), so
// that one library carries both the sm_80/sm_90 mma.sync engine of
// gemm_engine.cuh and this one. (The CPU emulator runs it too, with the
// instructions emulated below.)
//
// Both loops use 256 threads = two warpgroups, each computing 64 rows of
// the block tile, and a 4-stage cp.async pipeline (the engine's Pipeline of
// gemm_engine.cuh, with LAG 2) that keeps two tiles in flight while one
// batch of wgmma runs and the previous one may still be finishing. The
// shared-memory operands of the TF32 instructions must be K-major: rows of
// 32 k values (128 bytes) in the 128-byte swizzled layout, 16-byte chunk c
// of row r stored at chunk c ^ (r % 8), so that 8 rows form one 1024-byte
// swizzle atom (Smem<..., SW128>).
//   - wg_gemm_body (SS): 128 x 256 x 32 tiles, both operands in shared
//     memory, read K-major from global memory 16 bytes at a time (A·B^T).
//   - wg_rs_body (RS): 128 x BN x 32 tiles (BN = 64, 128, 256), A read by
//     the threads into registers from the mma.sync engine's padded tiles, so
//     from any source (M-major matrices, the convolutions' gathers), B in
//     SW128 through the engine's loaders.
//
// TF32: the tensor cores ignore the low 13 mantissa bits of an operand they
// read from shared memory (truncation); the register operand of the RS loop
// is rounded to nearest first, as the mma.sync engine rounds both.
#ifndef HAL_WGMMA_CUH
#define HAL_WGMMA_CUH

#include "gemm_engine.cuh"

namespace dense {

// WgCfg is the SS configuration (wg_gemm_body).
struct WgCfg {
    static constexpr int BM = 128, BN = 256, BK = 32, STAGES = 4, kThreads = 256;
    static constexpr int kAFloats = BM * BK, kBFloats = BN * BK;
    // Dynamic shared memory: the stages plus 1 KiB to align them to a swizzle atom.
    static constexpr int kSmemBytes = STAGES * (kAFloats + kBFloats) * 4 + 1024;
};

// WgRsCfg is the register-A configuration (wg_rs_body): 128 x BN x 32
// block tiles, two warpgroups of 64 x BN, 4 stages; A in the mma.sync
// engine's padded layout (KMAJ or MNMAJ), B in SW128.
template <int BN_>
struct WgRsCfg {
    static constexpr int BM = 128, BN = BN_, BK = 32, STAGES = 4, kThreads = 256;
    static constexpr int kBFloats = BN * BK;
    template <bool AK>
    static constexpr int a_floats() {
        return Smem<BM, BK, AK ? KMAJ : MNMAJ>::kFloats;
    }
    template <bool AK>
    static constexpr int smem_bytes() {
        return STAGES * (kBFloats + a_floats<AK>()) * 4 + 1024;
    }
};

#if defined(__CUDACC__) && !defined(HAL_EMULATE)

// wg_desc is the wgmma shared-memory descriptor of a K-major, 128-byte
// swizzled operand starting at p (1024-byte aligned, or offset along k
// inside its atom): 8-row groups 1024 bytes apart, swizzle mode 1.
__device__ __forceinline__ unsigned wg_smem_offset(const void* p) { return smem_addr(p); }
__device__ __forceinline__ uint64_t wg_desc(const float* p) {
    const uint64_t a = wg_smem_offset(p);
    return ((a & 0x3FFFF) >> 4) | (1ull << 16) | (64ull << 32) | (1ull << 62);
}

__device__ __forceinline__ void wg_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wg_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void wg_wait() {
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
// fence_async_smem orders this thread's shared-memory writes before reads
// by the asynchronous proxy (the wgmma operand fetch).
__device__ __forceinline__ void fence_async_smem() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }

// wgmma_m64n256k8_tf32 is d += a * b for one warpgroup: a 64 x 8 and b
// 256 x 8 (K-major, descriptors da, db), d 64 x 256 in the accumulator
// layout (warp w of the group, lane g*4+t: d[4j], d[4j+1] at row 16w+g,
// columns 8j+2t, 8j+2t+1; d[4j+2], d[4j+3] at row 16w+g+8).
__device__ __forceinline__ void wgmma_m64n256k8_tf32(float (&d)[128], uint64_t da, uint64_t db) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n256k8.f32.tf32.tf32 {"
        "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
        "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
        "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
        "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, "
        "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, "
        "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, "
        "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, "
        "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127}, "
        "%128, %129, p, 1, 1;\n}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
          "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
          "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
          "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]),
          "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]),
          "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),
          "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
          "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]),
          "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]),
          "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]),
          "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]),
          "+f"(d[88]), "+f"(d[89]), "+f"(d[90]), "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]),
          "+f"(d[96]), "+f"(d[97]), "+f"(d[98]), "+f"(d[99]), "+f"(d[100]), "+f"(d[101]), "+f"(d[102]), "+f"(d[103]),
          "+f"(d[104]), "+f"(d[105]), "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]), "+f"(d[110]), "+f"(d[111]),
          "+f"(d[112]), "+f"(d[113]), "+f"(d[114]), "+f"(d[115]), "+f"(d[116]), "+f"(d[117]), "+f"(d[118]), "+f"(d[119]),
          "+f"(d[120]), "+f"(d[121]), "+f"(d[122]), "+f"(d[123]), "+f"(d[124]), "+f"(d[125]), "+f"(d[126]), "+f"(d[127])
        : "l"(da), "l"(db));
}

// wgmma_rs is d += a * b for one warpgroup with A from registers: a is the
// warp's m16k8 TF32 fragment of its 16 rows (a0: row g, k t; a1: row g+8,
// k t; a2: row g, k t+4; a3: row g+8, k t+4; the low 13 bits ignored), b
// N x 8 K-major in shared memory (descriptor db), d 64 x N in the
// accumulator layout of wgmma_m64n256k8_tf32.
template <int N>
__device__ __forceinline__ void wgmma_rs(float (&d)[N / 2], const unsigned (&a)[4], uint64_t db);

template <>
__device__ __forceinline__ void wgmma_rs<64>(float (&d)[32], const unsigned (&a)[4], uint64_t db) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n64k8.f32.tf32.tf32 {"
        "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
        "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, "
        "{%32, %33, %34, %35}, %36, p, 1, 1;\n}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
          "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
          "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
          "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db));
}

template <>
__device__ __forceinline__ void wgmma_rs<128>(float (&d)[64], const unsigned (&a)[4], uint64_t db) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n128k8.f32.tf32.tf32 {"
        "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
        "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
        "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
        "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, "
        "{%64, %65, %66, %67}, %68, p, 1, 1;\n}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
          "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
          "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
          "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]),
          "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]),
          "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),
          "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
          "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db));
}

template <>
__device__ __forceinline__ void wgmma_rs<256>(float (&d)[128], const unsigned (&a)[4], uint64_t db) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n256k8.f32.tf32.tf32 {"
        "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
        "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
        "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
        "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, "
        "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, "
        "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, "
        "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, "
        "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127}, "
        "{%128, %129, %130, %131}, %132, p, 1, 1;\n}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
          "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
          "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
          "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]),
          "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]),
          "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),
          "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
          "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]),
          "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]),
          "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]),
          "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]),
          "+f"(d[88]), "+f"(d[89]), "+f"(d[90]), "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]),
          "+f"(d[96]), "+f"(d[97]), "+f"(d[98]), "+f"(d[99]), "+f"(d[100]), "+f"(d[101]), "+f"(d[102]), "+f"(d[103]),
          "+f"(d[104]), "+f"(d[105]), "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]), "+f"(d[110]), "+f"(d[111]),
          "+f"(d[112]), "+f"(d[113]), "+f"(d[114]), "+f"(d[115]), "+f"(d[116]), "+f"(d[117]), "+f"(d[118]), "+f"(d[119]),
          "+f"(d[120]), "+f"(d[121]), "+f"(d[122]), "+f"(d[123]), "+f"(d[124]), "+f"(d[125]), "+f"(d[126]), "+f"(d[127])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db));
}

#elif defined(HAL_EMULATE)

// The emulator's side of the instructions above: shared-memory "addresses"
// are offsets from the start of the block's shared memory; the descriptor is
// decoded and the 128-byte swizzle applied to the address bits as the PTX
// ISA describes it, each operand truncated to TF32 as the tensor cores do.
inline unsigned wg_smem_offset(const void* p) {
    return (unsigned)((const char*)p - (const char*)dyn_smem());
}
inline uint64_t wg_desc(const float* p) {
    const uint64_t a = wg_smem_offset(p);
    return ((a & 0x3FFFF) >> 4) | (1ull << 16) | (64ull << 32) | (1ull << 62);
}
inline void wg_fence() {}
inline void wg_commit() {}
template <int N>
inline void wg_wait() {}
inline void fence_async_smem() {}
inline float wg_operand(uint64_t desc, int row, int kin) {
    const unsigned start = (unsigned)(desc & 0x3FFF) << 4, sbo = (unsigned)((desc >> 32) & 0x3FFF) << 4;
    if ((desc >> 62) != 1) {
        fprintf(stderr, "emu: wgmma descriptor without 128-byte swizzle\n");
        abort();
    }
    unsigned addr = start + (unsigned)(row / 8) * sbo + (unsigned)(row % 8) * 128 + (unsigned)kin * 4;
    addr ^= ((addr >> 7) & 7) << 4;
    unsigned u;
    memcpy(&u, (const char*)dyn_smem() + addr, 4);
    u &= 0xffffe000u;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
inline void wgmma_m64n256k8_tf32(float (&d)[128], uint64_t da, uint64_t db) {
    const int w = (threadIdx.x >> 5) & 3, l = threadIdx.x & 31, g = l >> 2, t = l & 3;
    for (int j = 0; j < 32; ++j)
        for (int e = 0; e < 4; ++e) {
            const int row = 16 * w + g + (e >= 2 ? 8 : 0), col = 8 * j + 2 * t + (e & 1);
            double acc = d[4 * j + e];
            for (int k = 0; k < 8; ++k) acc += (double)wg_operand(da, row, k) * (double)wg_operand(db, col, k);
            d[4 * j + e] = (float)acc;
        }
}

template <int N>
inline void wgmma_rs(float (&d)[N / 2], const unsigned (&a)[4], uint64_t db) {
    auto& s = emu::st();
    const int w = emu::warp(), l = emu::lane(), g = l >> 2, t = l & 3;
    for (int i = 0; i < 4; ++i) s.xa[(w * 32 + l) * 4 + i] = a[i];
    emu::warp_barrier();
    auto A = [&](int r, int c) {  // the warp's 16 x 8 fragment, as in mma_tf32
        const int ln = (r % 8) * 4 + c % 4, reg = (r >= 8 ? 1 : 0) + (c >= 4 ? 2 : 0);
        const unsigned u = s.xa[(w * 32 + ln) * 4 + reg] & 0xffffe000u;
        float f;
        memcpy(&f, &u, 4);
        return f;
    };
    float out[N / 2];
    for (int j = 0; j < N / 8; ++j)
        for (int e = 0; e < 4; ++e) {
            const int row = g + (e >= 2 ? 8 : 0), col = 8 * j + 2 * t + (e & 1);
            double acc = d[4 * j + e];
            for (int k = 0; k < 8; ++k) acc += (double)A(row, k) * (double)wg_operand(db, col, k);
            out[4 * j + e] = (float)acc;
        }
    emu::warp_barrier();
    for (int i = 0; i < N / 2; ++i) d[i] = out[i];
}

#endif  // __CUDACC__ && !HAL_EMULATE / HAL_EMULATE

#if (defined(__CUDACC__) && !defined(HAL_EMULATE)) || defined(HAL_EMULATE)

// wg_load issues the copies of one R x 32 tile of a K-major dense operand
// src, corner (mn0, k0), into the swizzled tile s, 16 bytes at a time;
// elements outside [0, mn_ext) x [0, k_ext) become 0.
template <int R, int T, class Src>
__device__ __forceinline__ void wg_load(float* s, const Src& src, int mn0, int k0, int mn_ext, int k_ext, int tid) {
    static_assert(Src::kFastK, "dense: the wgmma engine reads K-major operands");
    constexpr int CHUNKS = R * 8;  // 16-byte chunks, 8 per row
    static_assert(CHUNKS % T == 0, "dense: bad wgmma loader");
    if (src.vec && mn0 + R <= mn_ext && k0 + 32 <= k_ext) {
#pragma unroll
        for (int i = 0; i < CHUNKS / T; ++i) {
            const int c = tid + i * T, r = c >> 3, kc = c & 7;
            cp_async16(s + r * 32 + ((kc ^ (r & 7)) << 2), src.addr(mn0 + r, k0 + 4 * kc), true);
        }
        return;
    }
#pragma unroll 1
    for (int i = 0; i < CHUNKS / T; ++i) {
        const int c = tid + i * T, r = c >> 3, kc = c & 7;
        float* d = s + r * 32 + ((kc ^ (r & 7)) << 2);
        const int gm = mn0 + r, gk = k0 + 4 * kc;
        if (gm < mn_ext && gk + 4 <= k_ext && src.vec) {
            cp_async16(d, src.addr(gm, gk), true);
        } else {
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                const bool ok = gm < mn_ext && gk + e < k_ext;
                cp_async4(d + e, ok ? src.addr(gm, gk + e) : src.safe(), ok);
            }
        }
    }
}

// wg_gemm_body computes one 128 x 256 output tile per block (grid x over
// the tiles in raster order, z over the batch) and hands the results to the
// epilogue in pairs, as tf32_gemm_kernel does. splits must be 1.
template <class ASrc, class BSrc, class Epi>
__device__ __forceinline__ void wg_gemm_body(const GemmArgs<ASrc, BSrc, Epi>& p) {
    constexpr int BM = WgCfg::BM, BN = WgCfg::BN, BK = WgCfg::BK, S = WgCfg::STAGES, T = WgCfg::kThreads;
    float* base = dyn_smem();
    float* sA = base + ((1024 - (wg_smem_offset(base) & 1023)) & 1023) / 4;
    float* sB = sA + S * WgCfg::kAFloats;

    const int tid = threadIdx.x;
    int tm, tn;
    raster(blockIdx.x, p.tiles_m, p.tiles_n, tm, tn);
    const int batch = p.batch0 + (int)blockIdx.z;
    const ASrc a = p.a.bind(batch);
    const BSrc b = p.b.bind(batch);
    const int m0 = tm * BM, n0 = tn * BN;
    const int nk = ceil_div(p.k, BK);
    const int wg = tid >> 7;

    float acc[128];
#pragma unroll
    for (int i = 0; i < 128; ++i) acc[i] = 0.f;

    // The engine's pipeline (gemm_engine.cuh) with LAG 2: step it waits for
    // tile it (one younger group may still be in flight), makes every
    // thread's copies visible to the tensor cores, and refills the stage read
    // by batch it-2, which has completed in both warpgroups (each waited for
    // it, wg_wait<1>, before this step's barrier).
    using Pipe = Pipeline<S, 2>;
    auto load = [&](int st, int kt) {
        wg_load<BM, T>(sA + st * WgCfg::kAFloats, a, m0, kt * BK, p.m, p.k, tid);
        wg_load<BN, T>(sB + st * WgCfg::kBFloats, b, n0, kt * BK, p.n, p.k, tid);
    };
    auto landed = [] { fence_async_smem(); };
    Pipe::start(nk, load);
    for (int it = 0; it < nk; ++it) {
        Pipe::step(it, nk, load, landed);
        const int st = it % S;
        const uint64_t da = wg_desc(sA + st * WgCfg::kAFloats + wg * 64 * 32);
        const uint64_t db = wg_desc(sB + st * WgCfg::kBFloats);
        wg_fence();
#pragma unroll
        for (int kk = 0; kk < BK / 8; ++kk) wgmma_m64n256k8_tf32(acc, da + 2 * kk, db + 2 * kk);  // +32 bytes per k8
        wg_commit();
        wg_wait<1>();
    }
    wg_wait<0>();
    Pipe::finish();

    const Epi epi = p.epi.bind(batch, 0);
    const int lane = tid & 31, g = lane >> 2, t = lane & 3;
    const int r = m0 + wg * 64 + ((tid >> 5) & 3) * 16 + g;
#pragma unroll
    for (int j = 0; j < 32; ++j) {
        const int c = n0 + 8 * j + 2 * t;
        epi.store2(r, c, acc[4 * j], acc[4 * j + 1]);
        epi.store2(r + 8, c, acc[4 * j + 2], acc[4 * j + 3]);
    }
}


// wg_load_b issues the copies of one BN x 32 tile of the B operand into the
// SW128 tile s: wg_load for a dense K-major matrix, the engine's generic
// loaders (gemm_engine.cuh) for the convolutions' gathers.
template <int BN, int T, class Src>
__device__ __forceinline__ void wg_load_b(float* s, const Src& src, int n0, int k0, int n_ext, int k_ext, int tid) {
    if constexpr (Src::kMode == COPY)
        wg_load<BN, T>(s, src, n0, k0, n_ext, k_ext, tid);
    else
        load_tile<BN, 32, T, SW128>(s, src, n0, k0, n_ext, k_ext, tid);
}

// wg_rs_body is the register-A main loop: A (any source of the engine, in
// the mma.sync engine's padded shared-memory layout) is read into registers
// as m16k8 fragments rounded to TF32, B (K-major, SW128) is read by the
// tensor cores; the convolutions' implicit GEMMs run on it. The k tiles
// alternate between two register buffers, so that the fragments of the
// batch still in flight are never overwritten. Splits of the reduction
// (grid z = batch x split) write through the epilogue as in
// tf32_gemm_kernel.
template <int BN, class ASrc, class BSrc, class Epi>
__device__ __forceinline__ void wg_rs_body(const GemmArgs<ASrc, BSrc, Epi>& p) {
    using Cfg = WgRsCfg<BN>;
    constexpr int BM = Cfg::BM, BK = Cfg::BK, S = Cfg::STAGES, T = Cfg::kThreads;
    constexpr int LA = ASrc::kFastK ? KMAJ : MNMAJ;
    using SA = Smem<BM, BK, LA>;
    float* base = dyn_smem();
    float* sB = base + ((1024 - (wg_smem_offset(base) & 1023)) & 1023) / 4;
    float* sA = sB + S * Cfg::kBFloats;

    const int tid = threadIdx.x;
    int tm, tn;
    raster(blockIdx.x, p.tiles_m, p.tiles_n, tm, tn);
    const int batch = p.batch0 + (int)blockIdx.z / p.splits, split = (int)blockIdx.z % p.splits;
    const ASrc a = p.a.bind(batch);
    const BSrc b = p.b.bind(batch);
    const int m0 = tm * BM, n0 = tn * BN;
    const int ktiles = ceil_div(p.k, BK);
    const int kt0 = split * p.ktiles_per_split;
    const int nk = max(0, min(ktiles, kt0 + p.ktiles_per_split) - kt0);
    const int lane = tid & 31, g = lane >> 2, t = lane & 3;
    const int arow = (tid >> 7) * 64 + ((tid >> 5) & 3) * 16 + g;  // the fragment's first row in the tile

    float acc[BN / 2];
#pragma unroll
    for (int i = 0; i < BN / 2; ++i) acc[i] = 0.f;

    // The same pipeline as wg_gemm_body, its steps unrolled in pairs.
    using Pipe = Pipeline<S, 2>;
    auto load = [&](int st, int kt) {
        const int k0 = (kt0 + kt) * BK;
        load_tile<BM, BK, T, LA>(sA + st * SA::kFloats, a, m0, k0, p.m, p.k, tid);
        wg_load_b<BN, T>(sB + st * Cfg::kBFloats, b, n0, k0, p.n, p.k, tid);
    };
    auto landed = [] { fence_async_smem(); };
    Pipe::start(nk, load);
    unsigned fa[2][BK / 8][4];
    for (int it0 = 0; it0 < nk; it0 += 2) {
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            const int it = it0 + h;
            if (it < nk) {
                Pipe::step(it, nk, load, landed);
                const int st = it % S;
                const float* cA = sA + st * SA::kFloats;
#pragma unroll
                for (int kk = 0; kk < BK / 8; ++kk) {
                    fa[h][kk][0] = tf32_bits(cA[SA::at(arow, 8 * kk + t)]);
                    fa[h][kk][1] = tf32_bits(cA[SA::at(arow + 8, 8 * kk + t)]);
                    fa[h][kk][2] = tf32_bits(cA[SA::at(arow, 8 * kk + t + 4)]);
                    fa[h][kk][3] = tf32_bits(cA[SA::at(arow + 8, 8 * kk + t + 4)]);
                }
                const uint64_t db = wg_desc(sB + st * Cfg::kBFloats);
                wg_fence();
#pragma unroll
                for (int kk = 0; kk < BK / 8; ++kk) wgmma_rs<BN>(acc, fa[h][kk], db + 2 * kk);
                wg_commit();
                wg_wait<1>();
            }
        }
    }
    wg_wait<0>();
    Pipe::finish();

    const Epi epi = p.epi.bind(batch, split);
    const int r = m0 + arow;
#pragma unroll
    for (int j = 0; j < BN / 8; ++j) {
        const int c = n0 + 8 * j + 2 * t;
        epi.store2(r, c, acc[4 * j], acc[4 * j + 1]);
        epi.store2(r + 8, c, acc[4 * j + 2], acc[4 * j + 3]);
    }
}

#ifdef HAL_EMULATE
// wg_emu_kernel is the emulator's stand-in for the kernel of ptx/wgmma.cu.
inline void wg_emu_kernel(GemmArgs<DenseSrc<true>, DenseSrc<true>, GemmEpi> p) { wg_gemm_body(p); }
template <int BN, class ASrc, class BSrc, class Epi>
void wg_rs_emu_kernel(GemmArgs<ASrc, BSrc, Epi> p) {
    wg_rs_body<BN>(p);
}
#endif

#endif

}  // namespace dense

#endif  // HAL_WGMMA_CUH
