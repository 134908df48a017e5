// gemm_engine.cuh: the GEMM engine behind hal_gemm, the implicit-GEMM
// convolutions and the fused Hallucinator MLP.
//
// One main loop, two kinds of inner product:
//   - TF32 tensor cores: mma.sync.m16n8k8 (operands rounded to nearest TF32
//     as they leave shared memory, by one integer add: see tf32_bits).
//     Large products use 256x128x32 block tiles of 64x64 warp tiles (or
//     256x64x32 of 64x32 when n <= 64) with a 3-stage cp.async pipeline;
//     smaller ones 128x128x16 or 64x64x16 block tiles, 64x32 / 32x32 warp
//     tiles, 4 stages.
//   - exact FP32 on the SIMT cores: 128x128x8 or 64x64x8 block tiles, 8x8 or
//     4x4 outputs per thread, the same pipeline.
// What the product reads and writes is pluggable:
//   - a source says where element (mn, k) of an operand lives (A: mn = row m;
//     B: mn = column n). DenseSrc is a strided matrix (copied 16 bytes at a
//     time when aligned); a GATHER source computes an address and a validity
//     (the convolutions' implicit im2col); a STEP source is a gather whose
//     loader decodes one index per thread once per tile and walks the other
//     with a cursor (adds and compares, no division); a VALUE source
//     computes the value itself (the Hallucinator's extrapolated input).
//   - an epilogue receives pairs of adjacent results (row m, columns n, n+1)
//     and stores them (alpha/beta, bias + ReLU, ReLU masks, NCHW scatter).
// Problems with few output tiles split the reduction across blocks: each
// split writes its partial tile to a workspace from cudaMallocAsync, and a
// second kernel sums the splits in a fixed order and hands the sums to the
// epilogue, so results are deterministic.
//
// Shared-memory tiles are stored either k-contiguous (KMAJ: [mn][BK+8]) or
// mn-contiguous (MNMAJ: [BK][MN+4]); the paddings make every fragment read
// and every loader write free of bank conflicts. Inside each group of 8 k the
// tensor-core fragments use k order (0,4,1,5,2,6,3,7) -> (0..7), the same for
// A and B, so that a thread's two k values are adjacent in a KMAJ tile.
#ifndef HAL_GEMM_ENGINE_CUH
#define HAL_GEMM_ENGINE_CUH

#include "hal_util.cuh"

namespace dense {

enum Layout { KMAJ = 0, MNMAJ = 1, SW128 = 2 };
enum SrcMode { COPY = 0, GATHER = 1, VALUE = 2, STEP = 3 };

// Smem is the shared-memory tile of one operand: MN x BK elements. SW128
// (BK = 32 only) is the wgmma engine's K-major layout: rows of 32 floats,
// 16-byte chunk c of row mn stored at chunk c ^ (mn % 8) (wgmma.cuh).
template <int MN, int BK, int LAYOUT>
struct Smem {
    static_assert(LAYOUT != SW128 || BK == 32, "dense: SW128 tiles are 32 wide");
    static constexpr int kLd = LAYOUT == KMAJ ? BK + 8 : LAYOUT == MNMAJ ? MN + 4 : 32;
    static constexpr int kFloats = LAYOUT == KMAJ ? MN * kLd : LAYOUT == MNMAJ ? BK * kLd : MN * 32;
    __device__ __forceinline__ static int at(int mn, int k) {
        return LAYOUT == KMAJ    ? mn * kLd + k
               : LAYOUT == MNMAJ ? k * kLd + mn
                                 : mn * 32 + ((((k >> 2) ^ (mn & 7)) << 2) | (k & 3));
    }
};

// DenseSrc is a strided matrix operand: element (mn, k) is p[mn*ld + k] when
// FastK, else p[k*ld + mn]; batch b starts at p + b*stride. vec (set by the
// host) allows 16-byte copies: p 16-byte aligned, ld and stride multiples
// of 4.
template <bool FastK>
struct DenseSrc {
    static constexpr int kMode = COPY;
    static constexpr bool kFastK = FastK;
    const float* p;
    long long ld, stride;
    int vec;

    __device__ __forceinline__ DenseSrc bind(int b) const {
        DenseSrc s = *this;
        s.p += (long long)b * stride;
        return s;
    }
    __device__ __forceinline__ const float* addr(int mn, int k) const {
        return FastK ? p + (long long)mn * ld + k : p + (long long)k * ld + mn;
    }
    __device__ __forceinline__ const float* safe() const { return p; }
};

// dense_src builds a DenseSrc and decides whether 16-byte copies are safe.
template <bool FastK>
inline DenseSrc<FastK> dense_src(const float* p, long long ld, long long stride) {
    DenseSrc<FastK> s;
    s.p = p;
    s.ld = ld;
    s.stride = stride;
    s.vec = ((uintptr_t)p % 16 == 0) && ld % 4 == 0 && stride % 4 == 0;
    return s;
}

// load_tile issues the loads of one MN x BK operand tile whose corner is
// (mn0, k0) into shared memory s; elements outside [0, mn_ext) x [0, k_ext)
// (or that the source marks invalid) become 0.
template <int MN, int BK, int THREADS, int LAYOUT, class Src>
__device__ __forceinline__ void load_tile(float* s, const Src& src, int mn0, int k0, int mn_ext, int k_ext,
                                          int tid) {
    using S = Smem<MN, BK, LAYOUT>;
    if constexpr (Src::kMode == COPY && LAYOUT != SW128 && ((LAYOUT == KMAJ) == Src::kFastK)) {
        // The tile is stored as it lies in memory: chunks of 4 along the
        // contiguous dimension, 16 bytes at a time when aligned and inside.
        constexpr int F = LAYOUT == KMAJ ? BK : MN;
        constexpr int CPR = F / 4;
        constexpr int CHUNKS = MN * BK / 4;
        static_assert(F % 4 == 0, "dense: tile not a multiple of 4");
        if constexpr (CHUNKS % THREADS == 0 && THREADS % CPR == 0) {
            // A tile wholly inside an aligned operand (the common case): one
            // base address per thread, 16-byte copies, no bounds.
            if (src.vec && mn0 + MN <= mn_ext && k0 + BK <= k_ext) {
                constexpr int STEP = THREADS / CPR;  // slow rows per pass
                const int slow = tid / CPR, fast = (tid % CPR) * 4;
                const int mn = LAYOUT == KMAJ ? slow : fast, k = LAYOUT == KMAJ ? fast : slow;
                const float* g = src.addr(mn0 + mn, k0 + k);
                const long long gstep = LAYOUT == KMAJ ? src.addr(STEP, 0) - src.addr(0, 0)
                                                       : src.addr(0, STEP) - src.addr(0, 0);
                float* d = s + S::at(mn, k);
                constexpr int DSTEP = STEP * S::kLd;  // S::at(STEP, 0) (KMAJ) or S::at(0, STEP) (MNMAJ)
#pragma unroll
                for (int i = 0; i < CHUNKS / THREADS; ++i) cp_async16(d + i * DSTEP, g + i * gstep, true);
                return;
            }
        }
        // Edge, partial or unaligned tiles: not unrolled, so that none of
        // their addresses stay live across the main loop.
#pragma unroll 1
        for (int i = 0; i < (CHUNKS + THREADS - 1) / THREADS; ++i) {
            const int c = tid + i * THREADS;
            if (CHUNKS % THREADS == 0 || c < CHUNKS) {
                const int slow = c / CPR, fast = (c % CPR) * 4;
                const int mn = LAYOUT == KMAJ ? slow : fast, k = LAYOUT == KMAJ ? fast : slow;
                const int gmn = mn0 + mn, gk = k0 + k;
                const int gs = LAYOUT == KMAJ ? gmn : gk, gf = LAYOUT == KMAJ ? gk : gmn;
                const int es = LAYOUT == KMAJ ? mn_ext : k_ext, ef = LAYOUT == KMAJ ? k_ext : mn_ext;
                float* d = s + S::at(mn, k);
                if (gs < es && gf + 4 <= ef && src.vec) {
                    cp_async16(d, src.addr(gmn, gk), true);
                } else {
#pragma unroll
                    for (int e = 0; e < 4; ++e) {
                        const bool ok = gs < es && gf + e < ef;
                        const int em = LAYOUT == KMAJ ? gmn : gmn + e, ek = LAYOUT == KMAJ ? gk + e : gk;
                        cp_async4(d + e, ok ? src.addr(em, ek) : src.safe(), ok);
                    }
                }
            }
        }
    } else if constexpr (Src::kMode == STEP) {
        // Element by element with the same thread mapping as below, for a
        // source whose index decoding is split: each thread's index along
        // the source's contiguous dimension is fixed within the tile
        // (decoded once, src.fix), the other advances by a constant stride
        // (a cursor, src.cur / src.next: adds and compares, no division).
        constexpr int PER = MN * BK / THREADS;
        constexpr int FIXN = Src::kFastK ? BK : MN;
        static_assert(PER * THREADS == MN * BK, "dense: tile not divisible among threads");
        static_assert(THREADS % FIXN == 0, "dense: bad loader mapping");
        constexpr int STRIDE = THREADS / FIXN;
        const int fl = tid % FIXN, v0 = tid / FIXN;
        const int gfix = (Src::kFastK ? k0 : mn0) + fl;
        const bool fix_ok = gfix < (Src::kFastK ? k_ext : mn_ext);
        const int gv0 = (Src::kFastK ? mn0 : k0) + v0;
        const int vext = Src::kFastK ? mn_ext : k_ext;
        const auto fx = src.fix(gfix);
        auto cu = src.template cur<STRIDE>(gv0);
#pragma unroll
        for (int i = 0; i < PER; ++i) {
            const int v = v0 + i * STRIDE;
            bool ok = fix_ok && gv0 + i * STRIDE < vext;
            const float* g = src.at(fx, cu, ok);
            const int mn = Src::kFastK ? v : fl, k = Src::kFastK ? fl : v;
            cp_async4(s + S::at(mn, k), ok ? g : src.safe(), ok);
            if (i + 1 < PER) src.template next<STRIDE>(cu);
        }
    } else {
        // Element by element; consecutive threads walk the source's
        // contiguous dimension so that global reads coalesce.
        constexpr int PER = MN * BK / THREADS;
        static_assert(PER * THREADS == MN * BK, "dense: tile not divisible among threads");
        static_assert(Src::kFastK ? THREADS % BK == 0 : THREADS % MN == 0, "dense: bad loader mapping");
#pragma unroll
        for (int i = 0; i < PER; ++i) {
            int mn, k;
            if constexpr (Src::kFastK) {
                k = tid % BK;
                mn = tid / BK + i * (THREADS / BK);
            } else {
                mn = tid % MN;
                k = tid / MN + i * (THREADS / MN);
            }
            const int gmn = mn0 + mn, gk = k0 + k;
            bool ok = gmn < mn_ext && gk < k_ext;
            float* d = s + S::at(mn, k);
            if constexpr (Src::kMode == VALUE) {
                *d = ok ? src.value(gmn, gk) : 0.f;
            } else if constexpr (Src::kMode == GATHER) {
                const float* g = src.gather(gmn, gk, ok);
                cp_async4(d, ok ? g : src.safe(), ok);
            } else {
                cp_async4(d, ok ? src.addr(gmn, gk) : src.safe(), ok);
            }
        }
    }
}

// raster maps a linear block index to an output tile, walking groups of 8
// tile rows column by column so that concurrent blocks share A and B in L2.
__device__ __forceinline__ void raster(int id, int tiles_m, int tiles_n, int& tm, int& tn) {
    constexpr int G = 8;
    const int per_group = G * tiles_n;
    const int group = id / per_group;
    const int first = group * G;
    const int rows = min(tiles_m - first, G);
    const int r = id - group * per_group;
    tm = first + r % rows;
    tn = r / rows;
}

// GemmArgs is what every engine kernel receives: sizes, the split of the
// reduction, the sources and the epilogue.
template <class ASrc, class BSrc, class Epi>
struct GemmArgs {
    int m, n, k;
    int tiles_m, tiles_n;
    int splits, ktiles_per_split;
    int batch0;  // first batch index of this launch (grid z covers at most 65535 batch x split pairs)
    ASrc a;
    BSrc b;
    Epi epi;
};

// ------------------------------------------------------------ epilogue --

// GemmEpi writes alpha*v + beta*C into C [m, ldc] of batch b (C + b*stride).
struct GemmEpi {
    float* c;
    long long ldc, stride;
    int m, n;
    float alpha, beta;

    __device__ __forceinline__ GemmEpi bind(int b, int) const {
        GemmEpi e = *this;
        e.c += (long long)b * stride;
        return e;
    }
    __device__ __forceinline__ void put(float* d, float v) const {
        *d = beta == 0.f ? alpha * v : fmaf(alpha, v, beta * *d);
    }
    __device__ __forceinline__ void store2(int r, int col, float v0, float v1) const {
        if (r >= m) return;
        float* d = c + (long long)r * ldc + col;
        if (col < n) put(d, v0);
        if (col + 1 < n) put(d + 1, v1);
    }
};

// GemmEpiT is GemmEpi for a product computed transposed: result (r, col)
// goes to C[col][r]; m and n are the product's rows and columns (C is
// n x m, ldc apart).
struct GemmEpiT : GemmEpi {
    __device__ __forceinline__ GemmEpiT bind(int b, int) const {
        GemmEpiT e = *this;
        e.c += (long long)b * stride;
        return e;
    }
    __device__ __forceinline__ void store2(int r, int col, float v0, float v1) const {
        if (r >= m) return;
        float* d = c + (long long)col * ldc + r;
        if (col < n) put(d, v0);
        if (col + 1 < n) put(d + ldc, v1);
    }
};

// ------------------------------------------------------------ pipeline --

// PipeNop is Pipeline's default hook: nothing.
struct PipeNop {
    __device__ __forceinline__ void operator()() const {}
};

// Pipeline is the cp.async software pipeline of every main loop of the
// engine (tf32_gemm_kernel, simt_gemm_kernel, and wgmma.cuh's wg_gemm_body
// and wg_rs_body, on which the convolutions run): nk k tiles through STAGES
// shared-memory stages, tile t in stage t % STAGES. A main loop is
//
//     using Pipe = Pipeline<STAGES, LAG>;
//     Pipe::start(nk, load);
//     for (int it = 0; it < nk; ++it) {
//         Pipe::step(it, nk, load);
//         ... compute on stage it % STAGES ...
//     }
//     Pipe::finish();
//
// with load(stage, tile) issuing the cp.async copies of k tile `tile` into
// stage `stage` (never committing; called only for tile < nk). The compute
// stays in the loop's own body rather than in a callback, so that its
// accumulators remain plain locals of the kernel: the loops compile to the
// same instructions as when the pipeline was written out in each (a
// compute lambda reorders the accumulators' registers).
//
// LAG is how many stages the computation may still be reading when the
// loads of the next tile are issued: 1 for synchronous inner products (the
// stage being computed on), 2 for wgmma (the previous batch may still be
// running until the compute's own wait). STAGES - LAG tiles are in flight:
// start loads tiles 0 .. STAGES-LAG-1, one group committed per tile (empty
// groups past nk, so that the counts stay uniform); step(it) waits until
// tile it has landed (cp_async_wait<STAGES-LAG-1>: the younger groups may
// still be in flight), runs landed() (wgmma: make the copies visible to the
// async proxy), synchronises the block (every thread's copies of tile it
// are visible, and every thread has finished the compute that read the
// stage about to be refilled, LAG steps ago), loads tile it + STAGES - LAG
// into the stage of tile it - LAG and commits. finish waits for the (empty)
// groups still open (wgmma: after its own wg_wait<0>). Under the emulator
// (emulator.cuh) the copies of a group are performed when a wait retires
// it, so a stage read before its wait sees stale data, as on a GPU.
template <int STAGES, int LAG = 1>
struct Pipeline {
    static_assert(LAG >= 1 && STAGES - LAG >= 1, "dense: bad pipeline depth");
    static constexpr int kAhead = STAGES - LAG;  // tiles in flight

    template <class Load>
    __device__ __forceinline__ static void start(int nk, Load&& load) {
#pragma unroll
        for (int s = 0; s < kAhead; ++s) {
            if (s < nk) load(s, s);
            cp_async_commit();
        }
    }

    template <class Load, class Landed = PipeNop>
    __device__ __forceinline__ static void step(int it, int nk, Load&& load, Landed&& landed = Landed()) {
        cp_async_wait<kAhead - 1>();
        landed();
        __syncthreads();
        {
            const int nt = it + kAhead;
            if (nt < nk) load(nt % STAGES, nt);
            cp_async_commit();
        }
    }

    __device__ __forceinline__ static void finish() { cp_async_wait<0>(); }
};

// ---------------------------------------------------------------- TF32 --

// Tf32Cfg describes a tensor-core configuration: BM x BN x BK block tile,
// WM x WN warps, STAGES-deep pipeline.
template <int BM_, int BN_, int BK_, int WM_, int WN_, int STAGES_, int MINB_>
struct Tf32Cfg {
    static constexpr int BM = BM_, BN = BN_, BK = BK_, WM = WM_, WN = WN_, STAGES = STAGES_, MINB = MINB_;
    static constexpr int kThreads = WM * WN * 32;
    static constexpr int WTM = BM / WM, WTN = BN / WN;
    static constexpr int MI = WTM / 16, NI = WTN / 8;
    static_assert(WTM % 16 == 0 && WTN % 8 == 0 && BK % 8 == 0, "dense: bad TF32 tile");
    template <bool AK, bool BK_K>
    static constexpr size_t smem_bytes() {
        return (size_t)STAGES *
               (Smem<BM, BK, AK ? KMAJ : MNMAJ>::kFloats + Smem<BN, BK, BK_K ? KMAJ : MNMAJ>::kFloats) *
               sizeof(float);
    }
};

// Tf32Huge and Tf32Tall need up to 180 KiB of shared memory (H100 class);
// run_gemm uses them only where the device allows it.
using Tf32Huge = Tf32Cfg<256, 128, 32, 4, 2, 3, 1>;
using Tf32Tall = Tf32Cfg<256, 64, 32, 4, 2, 3, 1>;
using Tf32Big = Tf32Cfg<128, 128, 16, 2, 4, 4, 2>;
using Tf32Small = Tf32Cfg<64, 64, 16, 2, 2, 4, 4>;

template <class Cfg, class ASrc, class BSrc, class Epi>
__global__ void __launch_bounds__(Cfg::kThreads, Cfg::MINB) tf32_gemm_kernel(GemmArgs<ASrc, BSrc, Epi> p) {
    constexpr int BM = Cfg::BM, BN = Cfg::BN, BK = Cfg::BK, STAGES = Cfg::STAGES, T = Cfg::kThreads;
    constexpr int LA = ASrc::kFastK ? KMAJ : MNMAJ, LB = BSrc::kFastK ? KMAJ : MNMAJ;
    using SA = Smem<BM, BK, LA>;
    using SB = Smem<BN, BK, LB>;
    float* smem = dyn_smem();
    float* sA = smem;
    float* sB = smem + STAGES * SA::kFloats;

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

    const int warp = tid / 32, lane = tid % 32, g = lane >> 2, t = lane & 3;
    const int wm = warp / Cfg::WN, wn = warp % Cfg::WN;

    float acc[Cfg::MI][Cfg::NI][4];
#pragma unroll
    for (int i = 0; i < Cfg::MI; ++i)
#pragma unroll
        for (int j = 0; j < Cfg::NI; ++j)
#pragma unroll
            for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.f;

    auto load = [&](int st, int kt) {
        const int k0 = (kt0 + kt) * BK;
        load_tile<BM, BK, T, LA>(sA + st * SA::kFloats, a, m0, k0, p.m, p.k, tid);
        load_tile<BN, BK, T, LB>(sB + st * SB::kFloats, b, n0, k0, p.n, p.k, tid);
    };
    using Pipe = Pipeline<STAGES>;
    Pipe::start(nk, load);
    for (int it = 0; it < nk; ++it) {
        Pipe::step(it, nk, load);
        const float* cA = sA + (it % STAGES) * SA::kFloats;
        const float* cB = sB + (it % STAGES) * SB::kFloats;
#pragma unroll
        for (int kk = 0; kk < BK; kk += 8) {
            const int kq = kk + 2 * t;
            // B fragments of the whole warp tile, then one A fragment at a
            // time (fewer live registers).
            unsigned bf[Cfg::NI][2];
#pragma unroll
            for (int j = 0; j < Cfg::NI; ++j) {
                const int c = wn * Cfg::WTN + j * 8 + g;
                if constexpr (LB == KMAJ) {
                    const float2 v = *reinterpret_cast<const float2*>(cB + SB::at(c, kq));
                    bf[j][0] = tf32_bits(v.x);
                    bf[j][1] = tf32_bits(v.y);
                } else {
                    bf[j][0] = tf32_bits(cB[SB::at(c, kq)]);
                    bf[j][1] = tf32_bits(cB[SB::at(c, kq + 1)]);
                }
            }
#pragma unroll
            for (int i = 0; i < Cfg::MI; ++i) {
                const int r = wm * Cfg::WTM + i * 16 + g;
                unsigned af[4];
                if constexpr (LA == KMAJ) {
                    const float2 lo = *reinterpret_cast<const float2*>(cA + SA::at(r, kq));
                    const float2 hi = *reinterpret_cast<const float2*>(cA + SA::at(r + 8, kq));
                    af[0] = tf32_bits(lo.x);
                    af[1] = tf32_bits(hi.x);
                    af[2] = tf32_bits(lo.y);
                    af[3] = tf32_bits(hi.y);
                } else {
                    af[0] = tf32_bits(cA[SA::at(r, kq)]);
                    af[1] = tf32_bits(cA[SA::at(r + 8, kq)]);
                    af[2] = tf32_bits(cA[SA::at(r, kq + 1)]);
                    af[3] = tf32_bits(cA[SA::at(r + 8, kq + 1)]);
                }
#pragma unroll
                for (int j = 0; j < Cfg::NI; ++j) mma_tf32(acc[i][j], af, bf[j]);
            }
        }
    }
    Pipe::finish();

    const Epi epi = p.epi.bind(batch, split);
#pragma unroll
    for (int i = 0; i < Cfg::MI; ++i)
#pragma unroll
        for (int j = 0; j < Cfg::NI; ++j) {
            const int r = m0 + wm * Cfg::WTM + i * 16 + g;
            const int c = n0 + wn * Cfg::WTN + j * 8 + 2 * t;
            epi.store2(r, c, acc[i][j][0], acc[i][j][1]);
            epi.store2(r + 8, c, acc[i][j][2], acc[i][j][3]);
        }
}

// ---------------------------------------------------------------- FP32 --

// SimtCfg describes an exact FP32 configuration: BM x BN x 8 block tile,
// 16 x 16 threads each computing (BM/16) x (BN/16) outputs in 4x4 quadrants
// 64 rows / columns apart.
template <int BM_, int BN_, int STAGES_, int MINB_>
struct SimtCfg {
    static constexpr int BM = BM_, BN = BN_, BK = 8, STAGES = STAGES_, MINB = MINB_;
    static constexpr int kThreads = 256;
    static constexpr int TM = BM / 16, TN = BN / 16;
    static_assert(BM % 64 == 0 && BN % 64 == 0, "dense: bad SIMT tile");
    template <bool, bool>
    static constexpr size_t smem_bytes() {
        return (size_t)STAGES * (Smem<BM, BK, MNMAJ>::kFloats + Smem<BN, BK, MNMAJ>::kFloats) * sizeof(float);
    }
};

using SimtBig = SimtCfg<128, 128, 3, 2>;
using SimtSmall = SimtCfg<64, 64, 3, 3>;

template <class Cfg, class ASrc, class BSrc, class Epi>
__global__ void __launch_bounds__(Cfg::kThreads, Cfg::MINB) simt_gemm_kernel(GemmArgs<ASrc, BSrc, Epi> p) {
    constexpr int BM = Cfg::BM, BN = Cfg::BN, BK = Cfg::BK, STAGES = Cfg::STAGES, T = Cfg::kThreads;
    constexpr int TM = Cfg::TM, TN = Cfg::TN;
    using SA = Smem<BM, BK, MNMAJ>;
    using SB = Smem<BN, BK, MNMAJ>;
    float* smem = dyn_smem();
    float* sA = smem;
    float* sB = smem + STAGES * SA::kFloats;

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
    const int tx = tid % 16, ty = tid / 16;

    float acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = 0.f;

    auto load = [&](int st, int kt) {
        const int k0 = (kt0 + kt) * BK;
        load_tile<BM, BK, T, MNMAJ>(sA + st * SA::kFloats, a, m0, k0, p.m, p.k, tid);
        load_tile<BN, BK, T, MNMAJ>(sB + st * SB::kFloats, b, n0, k0, p.n, p.k, tid);
    };
    using Pipe = Pipeline<STAGES>;
    Pipe::start(nk, load);
    for (int it = 0; it < nk; ++it) {
        Pipe::step(it, nk, load);
        const float* cA = sA + (it % STAGES) * SA::kFloats;
        const float* cB = sB + (it % STAGES) * SB::kFloats;
#pragma unroll
        for (int k = 0; k < BK; ++k) {
            float av[TM], bv[TN];
#pragma unroll
            for (int h = 0; h < TM / 4; ++h) {
                const float4 v = *reinterpret_cast<const float4*>(cA + SA::at(h * 64 + ty * 4, k));
                av[h * 4 + 0] = v.x;
                av[h * 4 + 1] = v.y;
                av[h * 4 + 2] = v.z;
                av[h * 4 + 3] = v.w;
            }
#pragma unroll
            for (int h = 0; h < TN / 4; ++h) {
                const float4 v = *reinterpret_cast<const float4*>(cB + SB::at(h * 64 + tx * 4, k));
                bv[h * 4 + 0] = v.x;
                bv[h * 4 + 1] = v.y;
                bv[h * 4 + 2] = v.z;
                bv[h * 4 + 3] = v.w;
            }
#pragma unroll
            for (int i = 0; i < TM; ++i)
#pragma unroll
                for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
        }
    }
    Pipe::finish();

    const Epi epi = p.epi.bind(batch, split);
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; j += 2) {
            const int r = m0 + (i / 4) * 64 + ty * 4 + i % 4;
            const int c = n0 + (j / 4) * 64 + tx * 4 + j % 4;
            epi.store2(r, c, acc[i][j], acc[i][j + 1]);
        }
}

// ----------------------------------------------------------- split-K --

// PartialEpi stores the raw partial products of one split into the
// workspace [splits][batch][m][n].
struct PartialEpi {
    float* ws;
    int m, n, batch;

    __device__ __forceinline__ PartialEpi bind(int b, int split) const {
        PartialEpi e = *this;
        e.ws += ((long long)split * batch + b) * m * n;
        return e;
    }
    __device__ __forceinline__ void store2(int r, int c, float v0, float v1) const {
        if (r >= m) return;
        float* d = ws + (long long)r * n + c;
        if (c < n) d[0] = v0;
        if (c + 1 < n) d[1] = v1;
    }
};

// splitk_reduce sums the splits of the workspace in order and passes the
// sums to the real epilogue. One thread per pair of columns.
template <class Epi>
__global__ void splitk_reduce_kernel(const float* __restrict__ ws, int splits, int batch, int m, int n, Epi epi) {
    const long long pairs = (n + 1) / 2;
    const long long total = (long long)batch * m * pairs;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)gridDim.x * blockDim.x) {
        const int b = (int)(idx / ((long long)m * pairs));
        const long long rem = idx - (long long)b * m * pairs;
        const int r = (int)(rem / pairs), c = (int)(rem % pairs) * 2;
        float v0 = 0.f, v1 = 0.f;
        for (int s = 0; s < splits; ++s) {
            const float* src = ws + (((long long)s * batch + b) * m + r) * n + c;
            v0 += src[0];
            if (c + 1 < n) v1 += src[1];
        }
        epi.bind(b, 0).store2(r, c, v0, v1);
    }
}

// --------------------------------------------------------------- host --

// GemmProblem is a product C = op(A) op(B) of m x n x k (per batch) with
// its sources and epilogue; run launches it.
template <class ASrc, class BSrc, class Epi>
struct GemmProblem {
    int m, n, k, batch;
    ASrc a;
    BSrc b;
    Epi epi;
};

// launch_cfg launches one configuration with the given epilogue type.
template <class Cfg, bool TF32, class ASrc, class BSrc, class E>
cudaError_t launch_cfg(cudaStream_t st, const GemmProblem<ASrc, BSrc, E>& pr, int splits, int kps) {
    GemmArgs<ASrc, BSrc, E> args;
    args.m = pr.m;
    args.n = pr.n;
    args.k = pr.k;
    args.tiles_m = ceil_div(pr.m, Cfg::BM);
    args.tiles_n = ceil_div(pr.n, Cfg::BN);
    args.splits = splits;
    args.ktiles_per_split = kps;
    args.a = pr.a;
    args.b = pr.b;
    args.epi = pr.epi;
    const long long tiles = (long long)args.tiles_m * args.tiles_n;
    if (tiles > 0x7fffffffLL || splits > 65535) return cudaErrorInvalidValue;
    const size_t smem = Cfg::template smem_bytes<ASrc::kFastK, BSrc::kFastK>();
    void (*kern)(GemmArgs<ASrc, BSrc, E>) = nullptr;
    if constexpr (TF32)
        kern = tf32_gemm_kernel<Cfg, ASrc, BSrc, E>;
    else
        kern = simt_gemm_kernel<Cfg, ASrc, BSrc, E>;
    HAL_TRY(cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    const int per = 65535 / splits;  // batches per launch
    for (int b0 = 0; b0 < pr.batch; b0 += per) {
        const int nb = pr.batch - b0 < per ? pr.batch - b0 : per;
        args.batch0 = b0;
        HAL_LAUNCH(kern, dim3((unsigned)tiles, 1, (unsigned)(nb * splits)), Cfg::kThreads, smem, st, args);
        HAL_TRY(cudaGetLastError());
    }
    return cudaSuccess;
}

// run_cfg picks the split of the reduction for one configuration and
// launches it (with the split-K reduction when it splits).
template <class Cfg, bool TF32, class ASrc, class BSrc, class Epi>
cudaError_t run_cfg(cudaStream_t st, const GemmProblem<ASrc, BSrc, Epi>& pr, int sms, bool allow_split) {
    const long long tiles = (long long)ceil_div(pr.m, Cfg::BM) * ceil_div(pr.n, Cfg::BN) * pr.batch;
    const int ktiles = ceil_div(pr.k, Cfg::BK);
    int splits = 1;
    if (allow_split && tiles < sms && ktiles >= 16) {
        // Enough blocks to fill every resident block slot of the device.
        const long long want = ceil_div<long long>((long long)Cfg::MINB * sms, tiles);
        long long s = want < ktiles / 8 ? want : ktiles / 8;
        if (s > 64) s = 64;
        // Keep the workspace within 256 MiB.
        const long long per = (long long)pr.batch * pr.m * pr.n * (long long)sizeof(float);
        while (s > 1 && s * per > (256LL << 20)) --s;
        splits = (int)(s < 1 ? 1 : s);
    }
    int kps = splits > 1 ? ceil_div(ktiles, splits) : ktiles;
    if (splits > 1) splits = ceil_div(ktiles, kps);
    if (splits > 1) {
        float* ws = nullptr;
        const size_t bytes = (size_t)splits * pr.batch * pr.m * pr.n * sizeof(float);
        if (cudaMallocAsync((void**)&ws, bytes, st) == cudaSuccess) {
            GemmProblem<ASrc, BSrc, PartialEpi> part;
            part.m = pr.m;
            part.n = pr.n;
            part.k = pr.k;
            part.batch = pr.batch;
            part.a = pr.a;
            part.b = pr.b;
            part.epi.ws = ws;
            part.epi.m = pr.m;
            part.epi.n = pr.n;
            part.epi.batch = pr.batch;
            cudaError_t err = launch_cfg<Cfg, TF32>(st, part, splits, kps);
            if (err == cudaSuccess) {
                const long long pairs = (long long)pr.batch * pr.m * ((pr.n + 1) / 2);
                const int threads = 256;
                long long blocks = ceil_div<long long>(pairs, threads);
                if (blocks > 65535LL * 8) blocks = 65535LL * 8;
                HAL_LAUNCH(splitk_reduce_kernel<Epi>, (unsigned)blocks, threads, 0, st, (const float*)ws, splits,
                          pr.batch, pr.m, pr.n, pr.epi);
                err = cudaGetLastError();
            }
            const cudaError_t ferr = cudaFreeAsync(ws, st);
            return err != cudaSuccess ? err : ferr;
        }
        cudaGetLastError();  // the pool could not serve it: clear and run unsplit
        splits = 1;
        kps = ktiles;
    }
    return launch_cfg<Cfg, TF32>(st, pr, 1, kps);
}

// fits_device reports whether configuration Cfg (one block per
// multiprocessor) has output tiles for at least 3/4 of the multiprocessors
// (with fewer, smaller tiles spread wider finish sooner) and whether the
// device has its shared memory.
template <class Cfg, class ASrc, class BSrc, class Epi>
bool fits_device(const GemmProblem<ASrc, BSrc, Epi>& pr, int sms, int optin) {
    const long long tiles = (long long)ceil_div(pr.m, Cfg::BM) * ceil_div(pr.n, Cfg::BN) * pr.batch;
    return 4 * tiles >= 3LL * sms && Cfg::template smem_bytes<ASrc::kFastK, BSrc::kFastK>() <= (size_t)optin;
}

// run_gemm launches a product on stream st: TF32 tensor cores when tf32,
// else exact FP32. TF32 takes 256x128 tiles (256x64 when n <= 64) when
// m > 128 and they nearly fill the device, else 128x128 ones (also, split,
// for long reductions with m, n > 64), else 64x64 ones, with split-K when
// even those are too few; FP32 takes 128x128 or
// 64x64 tiles and split-K. Empty problems launch nothing; k == 0 still runs
// the epilogue (on zeros).
template <class ASrc, class BSrc, class Epi>
cudaError_t run_gemm(cudaStream_t st, bool tf32, const GemmProblem<ASrc, BSrc, Epi>& pr, bool allow_split = true) {
    if (pr.m <= 0 || pr.n <= 0 || pr.batch <= 0) return cudaSuccess;
    int sms = 0;
    HAL_TRY(sm_count(&sms));
    const long long big = (long long)ceil_div(pr.m, 128) * ceil_div(pr.n, 128) * pr.batch;
    const bool small = big < sms;
    if (tf32) {
        int optin = 0;
        HAL_TRY(smem_optin(&optin));
        // 256-row tiles only where they are more than half full.
        if (pr.m > 128 && pr.n <= 64 && fits_device<Tf32Tall>(pr, sms, optin))
            return launch_cfg<Tf32Tall, true>(st, pr, 1, ceil_div(pr.k, Tf32Tall::BK));
        if (pr.m > 128 && pr.n > 64 && fits_device<Tf32Huge>(pr, sms, optin))
            return launch_cfg<Tf32Huge, true>(st, pr, 1, ceil_div(pr.k, Tf32Huge::BK));
        // A long reduction with few output tiles (the convolutions' filter
        // gradients) keeps 128x128 tiles and fills the device by splitting
        // the reduction, rather than shrinking the tiles: half the loads
        // per product. Where m or n is at most 64, 64x64 tiles waste less.
        const bool long_k = allow_split && pr.m > 64 && pr.n > 64 && pr.k >= 4096;
        return small && !long_k ? run_cfg<Tf32Small, true>(st, pr, sms, allow_split)
                                : run_cfg<Tf32Big, true>(st, pr, sms, allow_split);
    }
    return small ? run_cfg<SimtSmall, false>(st, pr, sms, allow_split)
                 : run_cfg<SimtBig, false>(st, pr, sms, allow_split);
}

}  // namespace dense

#endif  // HAL_GEMM_ENGINE_CUH
