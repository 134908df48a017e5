// infonce.cu: the fused contrastive loss (kernels.InfoNCEParams) with its
// gradients, tiled so that the similarity matrix never sits in memory.
//
// Columns of anchor i: c < B is key c, c >= B is queue row c-B. Column kinds:
// the positive pos[i] (always in); with in-batch negatives every other key
// except self[i] and (twins) keys with key_id == anchor_id[i]; every queue
// row. S_ic = <q^_i, col_c> / T with q^, k^ the rows over max(||row||, 1e-12).
//
//   1. normalise: q^ [A,D], k^ [B,D], norms, into the workspace (a warp a row).
//   2. lse: per 64-anchor block and split of the columns, 64x64 similarity
//      tiles (exact FP32, register tiled), an online max / sum-exp per row;
//      the positive's logit is kept.
//   3. loss: the splits merged in order: lse_i; loss = mean(lse_i - S_i,pos)
//      (one block, fixed-order sum: deterministic).
//   4. dq^: tiles recomputed; P_ic = (exp(S_ic - lse_i) - [c == pos_i]) / (A T)
//      on included columns; dq^_i += sum_c P_ic col_c, per column split into a
//      partial buffer.
//   5. dk^: the transposed tiles (64 keys x 64 anchors): dk^_j += sum_i P_ij q^_i,
//      per anchor split into a partial buffer.
//   6. finalise: partials summed in order, then through the normalisation:
//      dx = (g - x^ <x^, g>) / norm, or g / norm where the norm was clamped.
// Every sum has a fixed order, so results are bitwise reproducible.
#include <math.h>

#include "hal_util.cuh"
#include "hal.h"

namespace {

using namespace dense;

constexpr int TI = 64;         // tile rows and columns
constexpr int DK = 32;         // feature chunk of the similarity tiles
constexpr int DCH = 128;       // feature chunk of the gradient accumulators (grid z)
constexpr int LDT = TI + 4;    // stride of the transposed tiles in shared memory
constexpr int LDD = DCH + 4;   // stride of the feature chunk tiles
constexpr int kTarget = 264;   // blocks to aim for (two waves of a large GPU)
constexpr int kMaxSplit = 64;  // most splits of the columns
constexpr float kEps = 1e-12f;

// Plan fixes the splits and the workspace layout from the arguments alone,
// so that hal_infonce_workspace and hal_infonce agree.
struct Plan {
    int A, B, Q, D, NC;
    int RB, NT, SF, TPS;  // anchor blocks, column tiles, column splits, tiles per split
    int KB, AT, SK, TPA;  // key blocks, anchor tiles, anchor splits, tiles per split
    int DC;               // feature chunks
    size_t o_qhat, o_khat, o_qn, o_kn, o_lse, o_spos, o_pm, o_ps, o_dqp, o_dkp, total;  // in floats

    static void split(int blocks, int tiles, int& s, int& per) {
        s = ceil_div(kTarget, blocks);
        if (s > tiles) s = tiles;
        if (s > kMaxSplit) s = kMaxSplit;
        if (s < 1) s = 1;
        per = ceil_div(tiles, s);
        s = ceil_div(tiles, per);
    }
    explicit Plan(const hal_infonce_args* a) : A(a->a), B(a->b), Q(a->q), D(a->d), NC(a->b + a->q) {
        RB = ceil_div(A, TI);
        NT = ceil_div(NC, TI);
        split(RB, NT, SF, TPS);
        KB = ceil_div(B, TI);
        AT = ceil_div(A, TI);
        split(KB, AT, SK, TPA);
        DC = ceil_div(D, DCH);
        size_t o = 0;
        auto take = [&o](size_t n) {
            const size_t at = o;
            o += (n + 3) / 4 * 4;  // keep every region 16-byte aligned
            return at;
        };
        o_qhat = take((size_t)A * D);
        o_khat = take((size_t)B * D);
        o_qn = take(A);
        o_kn = take(B);
        o_lse = take(A);
        o_spos = take(A);
        o_pm = take((size_t)SF * A);
        o_ps = take((size_t)SF * A);
        o_dqp = take((size_t)SF * A * D);
        o_dkp = take((size_t)SK * B * D);
        total = o;
    }
};

// Ctx is what the tile kernels read.
struct Ctx {
    const float* qhat;
    const float* khat;
    const float* queue;
    const int* pos;
    const int* self;
    const int* aid;
    const int* kid;
    const float* lse;
    int A, B, NC, D;
    float invT;
    int inb, twins;

    // col_row is column c's feature row (c < NC).
    __device__ __forceinline__ const float* col_row(int c) const {
        return c < B ? khat + (long long)c * D : queue + (long long)(c - B) * D;
    }
    // kind of column c for anchor i: 0 left out, 1 negative, 2 the positive.
    __device__ __forceinline__ int kind(int i, int c) const {
        if (i >= A || c >= NC) return 0;
        if (c >= B) return 1;
        if (c == pos[i]) return 2;
        if (!inb) return 0;
        if (self != nullptr && c == self[i]) return 0;
        if (twins && kid[c] == aid[i]) return 0;
        return 1;
    }
};

// tile_dot computes acc[ii][jj] = <row(ty*4+ii), col(tx*4+jj)> for a 64x64
// tile; rowp(r) / colp(c) give the feature rows (nullptr: outside, zeros).
// Rs and Cs are [DK][LDT] shared tiles (transposed: feature-major).
template <class RowP, class ColP>
__device__ __forceinline__ void tile_dot(float (&acc)[4][4], const RowP& rowp, const ColP& colp, int D, float* Rs,
                                         float* Cs) {
    const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16, lx = tid % 32, ly = tid / 32;
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = 0.f;
    for (int d0 = 0; d0 < D; d0 += DK) {
        __syncthreads();
        const int d = d0 + lx;
#pragma unroll
        for (int e = 0; e < 8; ++e) {
            const int r = ly + 8 * e;
            const float* p = rowp(r);
            const float* q = colp(r);
            Rs[lx * LDT + r] = (p != nullptr && d < D) ? p[d] : 0.f;
            Cs[lx * LDT + r] = (q != nullptr && d < D) ? q[d] : 0.f;
        }
        __syncthreads();
#pragma unroll 8
        for (int dd = 0; dd < DK; ++dd) {
            const float4 a = *reinterpret_cast<const float4*>(Rs + dd * LDT + ty * 4);
            const float4 b = *reinterpret_cast<const float4*>(Cs + dd * LDT + tx * 4);
            const float av[4] = {a.x, a.y, a.z, a.w}, bv[4] = {b.x, b.y, b.z, b.w};
#pragma unroll
            for (int i = 0; i < 4; ++i)
#pragma unroll
                for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
        }
    }
}

// merge combines two (max, sum-exp) pairs.
__device__ __forceinline__ void merge(float& m, float& s, float m2, float s2) {
    const float mx = fmaxf(m, m2);
    if (mx == -INFINITY) return;  // both empty
    s = (m == -INFINITY ? 0.f : s * expf(m - mx)) + (m2 == -INFINITY ? 0.f : s2 * expf(m2 - mx));
    m = mx;
}

// normalize_kernel: a warp per row of q then k; spos set to NaN (a positive
// index out of range then shows as a NaN loss).
__global__ void normalize_kernel(const float* __restrict__ q, const float* __restrict__ k, int A, int B, int D,
                                 float* __restrict__ qhat, float* __restrict__ khat, float* __restrict__ qn,
                                 float* __restrict__ kn, float* __restrict__ spos) {
    const int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= A + B) return;
    const bool isq = row < A;
    const int r = isq ? row : row - A;
    const float* x = (isq ? q : k) + (long long)r * D;
    float* y = (isq ? qhat : khat) + (long long)r * D;
    float ss = 0.f;
    for (int d = lane; d < D; d += 32) ss = fmaf(x[d], x[d], ss);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
    const float nrm = fmaxf(sqrtf(ss), kEps);
    for (int d = lane; d < D; d += 32) y[d] = x[d] / nrm;
    if (lane == 0) {
        (isq ? qn : kn)[r] = nrm;
        if (isq) spos[r] = __int_as_float(0x7fc00000);
    }
}

// lse_kernel: grid (anchor blocks, column splits); partial max / sum-exp of
// each anchor row over the split's columns into pm, ps [split][A].
__global__ void __launch_bounds__(256) lse_kernel(Ctx c, int NT, int TPS, float* __restrict__ pm,
                                                  float* __restrict__ ps, float* __restrict__ spos) {
    __shared__ __align__(16) float Rs[DK * LDT];
    __shared__ __align__(16) float Cs[DK * LDT];
    const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
    const int r0 = blockIdx.x * TI, split = blockIdx.y;
    const int t0 = split * TPS, t1 = min(NT, t0 + TPS);
    float m[4], s[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) m[i] = -INFINITY, s[i] = 0.f;
    auto rowp = [&](int r) -> const float* {
        const int i = r0 + r;
        return i < c.A ? c.qhat + (long long)i * c.D : nullptr;
    };
    for (int t = t0; t < t1; ++t) {
        const int c0 = t * TI;
        auto colp = [&](int j) -> const float* {
            const int cc = c0 + j;
            return cc < c.NC ? c.col_row(cc) : nullptr;
        };
        float acc[4][4];
        tile_dot(acc, rowp, colp, c.D, Rs, Cs);
#pragma unroll
        for (int ii = 0; ii < 4; ++ii) {
            const int i = r0 + ty * 4 + ii;
#pragma unroll
            for (int jj = 0; jj < 4; ++jj) {
                const int cc = c0 + tx * 4 + jj;
                const int kd = c.kind(i, cc);
                if (kd == 0) continue;
                const float v = acc[ii][jj] * c.invT;
                if (kd == 2) spos[i] = v;
                if (v > m[ii]) {
                    s[ii] = s[ii] * expf(m[ii] - v) + 1.f;
                    m[ii] = v;
                } else {
                    s[ii] += expf(v - m[ii]);
                }
            }
        }
    }
    // The 16 threads of a row group are one half-warp.
#pragma unroll
    for (int ii = 0; ii < 4; ++ii) {
#pragma unroll
        for (int o = 8; o > 0; o >>= 1) {
            const float m2 = __shfl_xor_sync(0xffffffffu, m[ii], o);
            const float s2 = __shfl_xor_sync(0xffffffffu, s[ii], o);
            merge(m[ii], s[ii], m2, s2);
        }
        const int i = r0 + ty * 4 + ii;
        if (tx == 0 && i < c.A) {
            pm[(long long)split * c.A + i] = m[ii];
            ps[(long long)split * c.A + i] = s[ii];
        }
    }
}

// loss_kernel: one block; lse_i from the splits in order, loss = mean of
// lse_i - S_i,pos with a fixed-order sum.
__global__ void __launch_bounds__(256) loss_kernel(const float* __restrict__ pm, const float* __restrict__ ps,
                                                   int SF, int A, const float* __restrict__ spos,
                                                   float* __restrict__ lse, float* __restrict__ loss) {
    __shared__ double part[256];
    double acc = 0.0;
    for (int i = threadIdx.x; i < A; i += blockDim.x) {
        float m = -INFINITY, s = 0.f;
        for (int k = 0; k < SF; ++k) merge(m, s, pm[(long long)k * A + i], ps[(long long)k * A + i]);
        const float l = m + logf(s);
        lse[i] = l;
        acc += (double)l - (double)spos[i];
    }
    part[threadIdx.x] = acc;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w >>= 1) {
        if ((int)threadIdx.x < w) part[threadIdx.x] += part[threadIdx.x + w];
        __syncthreads();
    }
    if (threadIdx.x == 0) loss[0] = (float)(part[0] / A);
}

// grad_kernel: grid (row blocks, column splits, feature chunks). KEYROWS:
// rows are keys and columns anchors (dk^), else rows are anchors and columns
// keys + queue (dq^). part [split][rows][D] receives sum over the split's
// columns of P(row, col) * col features, for the block's feature chunk.
template <bool KEYROWS>
__global__ void __launch_bounds__(256) grad_kernel(Ctx c, int ntiles, int TPS, float* __restrict__ part) {
    __shared__ __align__(16) float buf[2 * DK * LDT];  // Rs | Cs, or the feature chunk Cd [32][LDD]
    __shared__ __align__(16) float Ps[TI * LDT];       // P transposed: [col][row]
    static_assert(32 * LDD <= 2 * DK * LDT, "dense: infonce feature chunk does not fit");
    float* Rs = buf;
    float* Cs = buf + DK * LDT;
    float* Cd = buf;
    const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
    const int nrows = KEYROWS ? c.B : c.A, ncols = KEYROWS ? c.A : c.NC;
    const int r0 = blockIdx.x * TI, split = blockIdx.y, d0 = blockIdx.z * DCH;
    const int t0 = split * TPS, t1 = min(ntiles, t0 + TPS);
    const float scale = c.invT / (float)c.A;

    float g[4][8];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 8; ++j) g[i][j] = 0.f;

    auto rowp = [&](int r) -> const float* {
        const int i = r0 + r;
        if (i >= nrows) return nullptr;
        return (KEYROWS ? c.khat : c.qhat) + (long long)i * c.D;
    };
    for (int t = t0; t < t1; ++t) {
        const int c0 = t * TI;
        auto colp = [&](int j) -> const float* {
            const int cc = c0 + j;
            if (cc >= ncols) return nullptr;
            return KEYROWS ? c.qhat + (long long)cc * c.D : c.col_row(cc);
        };
        float acc[4][4];
        tile_dot(acc, rowp, colp, c.D, Rs, Cs);
        // P into shared memory (the last tile_dot barrier ordered the
        // previous tile's reads of Ps before these writes).
#pragma unroll
        for (int ii = 0; ii < 4; ++ii) {
            const int r = ty * 4 + ii;
#pragma unroll
            for (int jj = 0; jj < 4; ++jj) {
                const int j = tx * 4 + jj;
                const int anchor = KEYROWS ? c0 + j : r0 + r;
                const int col = KEYROWS ? r0 + r : c0 + j;
                int kd = (KEYROWS && col >= c.B) ? 0 : c.kind(anchor, col);
                float p = 0.f;
                if (kd != 0) {
                    p = expf(acc[ii][jj] * c.invT - c.lse[anchor]);
                    if (kd == 2) p -= 1.f;
                    p *= scale;
                }
                Ps[j * LDT + r] = p;
            }
        }
        // g += P (64 x 64) times the columns' feature chunk (64 x DCH), 32 columns at a time.
#pragma unroll 1
        for (int jh = 0; jh < TI; jh += 32) {
            __syncthreads();
            {
                const int dc = tid % DCH, d = d0 + dc;
#pragma unroll
                for (int e = 0; e < 32 * DCH / 256; ++e) {
                    const int jj = tid / DCH + e * (256 / DCH);
                    const float* p = colp(jh + jj);
                    Cd[jj * LDD + dc] = (p != nullptr && d < c.D) ? p[d] : 0.f;
                }
            }
            __syncthreads();
#pragma unroll 4
            for (int jj = 0; jj < 32; ++jj) {
                const float4 a = *reinterpret_cast<const float4*>(Ps + (jh + jj) * LDT + ty * 4);
                const float4 b0 = *reinterpret_cast<const float4*>(Cd + jj * LDD + tx * 4);
                const float4 b1 = *reinterpret_cast<const float4*>(Cd + jj * LDD + 64 + tx * 4);
                const float av[4] = {a.x, a.y, a.z, a.w};
                const float bv[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
                for (int i = 0; i < 4; ++i)
#pragma unroll
                    for (int j = 0; j < 8; ++j) g[i][j] = fmaf(av[i], bv[j], g[i][j]);
            }
        }
    }
#pragma unroll
    for (int ii = 0; ii < 4; ++ii) {
        const int row = r0 + ty * 4 + ii;
        if (row >= nrows) continue;
        float* dst = part + ((long long)split * nrows + row) * c.D;
#pragma unroll
        for (int j = 0; j < 8; ++j) {
            const int d = d0 + (j / 4) * 64 + tx * 4 + j % 4;
            if (d < c.D) dst[d] = g[ii][j];
        }
    }
}

// finalize_kernel: a warp per row: g = sum of the splits' partials in order,
// then dx = (g - x^ <x^, g>) / norm, or g / norm where the norm was clamped.
__global__ void finalize_kernel(const float* __restrict__ part, int splits, int rows, int D,
                                const float* __restrict__ xhat, const float* __restrict__ norms,
                                float* __restrict__ dx) {
    const int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= rows) return;
    const float* xr = xhat + (long long)row * D;
    float* out = dx + (long long)row * D;
    float dot = 0.f;
    for (int d = lane; d < D; d += 32) {
        float s = 0.f;
        for (int k = 0; k < splits; ++k) s += part[((long long)k * rows + row) * D + d];
        out[d] = s;
        dot = fmaf(xr[d], s, dot);
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, o);
    const float nrm = norms[row];
    if (!(nrm > kEps)) dot = 0.f;
    for (int d = lane; d < D; d += 32) out[d] = (out[d] - xr[d] * dot) / nrm;
}

bool args_ok(const hal_infonce_args* a) {
    if (a == nullptr || a->a < 1 || a->b < 1 || a->d < 1 || a->q < 0) return false;
    if (!(a->temperature > 0.f) || !isfinite(a->temperature)) return false;
    const long long lim = 0x7fffffffLL - 1024;
    if ((long long)a->b + a->q > lim || (long long)a->a + a->b > lim) return false;
    if ((long long)ceil_div(a->d, DCH) > 65535) return false;
    return true;
}

}  // namespace

extern "C" size_t hal_infonce_workspace(const hal_infonce_args* a) {
    if (!args_ok(a)) return 0;
    return Plan(a).total * sizeof(float);
}

extern "C" int hal_infonce(void* stream, const float* q, const float* k, const float* queue, const int* pos,
                           const int* self, const int* anchor_id, const int* key_id, float* loss, float* dq,
                           float* dk, void* workspace, const hal_infonce_args* a) {
    if (!args_ok(a) || q == nullptr || k == nullptr || pos == nullptr || loss == nullptr || workspace == nullptr)
        return (int)cudaErrorInvalidValue;
    if (a->q > 0 && queue == nullptr) return (int)cudaErrorInvalidValue;
    if (a->twins && (anchor_id == nullptr || key_id == nullptr)) return (int)cudaErrorInvalidValue;
    if (dq != nullptr && dq == dk) return (int)cudaErrorInvalidValue;
    if ((uintptr_t)workspace % sizeof(float) != 0) return (int)cudaErrorInvalidValue;
    const cudaStream_t st = (cudaStream_t)stream;
    const Plan p(a);
    float* ws = (float*)workspace;
    Ctx c;
    c.qhat = ws + p.o_qhat;
    c.khat = ws + p.o_khat;
    c.queue = queue;
    c.pos = pos;
    c.self = self;
    c.aid = anchor_id;
    c.kid = key_id;
    c.lse = ws + p.o_lse;
    c.A = p.A;
    c.B = p.B;
    c.NC = p.NC;
    c.D = p.D;
    c.invT = 1.f / a->temperature;
    c.inb = a->in_batch_negatives != 0;
    c.twins = a->twins != 0;
    float* qn = ws + p.o_qn;
    float* kn = ws + p.o_kn;
    float* spos = ws + p.o_spos;

    HAL_LAUNCH(normalize_kernel, ceil_div(p.A + p.B, 8), 256, 0, st, q, k, p.A, p.B, p.D, ws + p.o_qhat,
              ws + p.o_khat, qn, kn, spos);
    HAL_TRY(cudaGetLastError());
    HAL_LAUNCH(lse_kernel, dim3(p.RB, p.SF), 256, 0, st, c, p.NT, p.TPS, ws + p.o_pm, ws + p.o_ps, spos);
    HAL_TRY(cudaGetLastError());
    HAL_LAUNCH(loss_kernel, 1, 256, 0, st, (const float*)(ws + p.o_pm), (const float*)(ws + p.o_ps), p.SF, p.A,
              (const float*)spos, ws + p.o_lse, loss);
    HAL_TRY(cudaGetLastError());
    if (dq != nullptr) {
        HAL_LAUNCH(grad_kernel<false>, dim3(p.RB, p.SF, p.DC), 256, 0, st, c, p.NT, p.TPS, ws + p.o_dqp);
        HAL_TRY(cudaGetLastError());
        HAL_LAUNCH(finalize_kernel, ceil_div(p.A, 8), 256, 0, st, (const float*)(ws + p.o_dqp), p.SF, p.A, p.D, c.qhat,
                  (const float*)qn, dq);
        HAL_TRY(cudaGetLastError());
    }
    if (dk != nullptr) {
        HAL_LAUNCH(grad_kernel<true>, dim3(p.KB, p.SK, p.DC), 256, 0, st, c, p.AT, p.TPA, ws + p.o_dkp);
        HAL_TRY(cudaGetLastError());
        HAL_LAUNCH(finalize_kernel, ceil_div(p.B, 8), 256, 0, st, (const float*)(ws + p.o_dkp), p.SK, p.B, p.D, c.khat,
                  (const float*)kn, dk);
        HAL_TRY(cudaGetLastError());
    }
    return 0;
}
