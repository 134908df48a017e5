// hallucinator.cu: the fused Hallucinator (extrapolation + 3-layer MLP),
// forward and backward, as products on the engine of gemm_engine.cuh with fused
// prologues and epilogues.
//
// Forward, x, k [N, D], W1, W2 [2D, 2D], W3 [D, 2D]:
//   u  = [x, x + lambda*(x - k)]        never stored: computed by layer 1's loader
//   h1 = relu(u W1^T + b1)  -> act[:, 0:2D]   bias + ReLU in the epilogue
//   h2 = relu(h1 W2^T + b2) -> act[:, 2D:4D]
//   out = h2 W3^T + b3      [N, D]
// Backward, from dout [N, D] (workspace: dh2, dh1 [N, 2D]):
//   dh2 = (dout W3) * [h2 > 0]     dW3 = dout^T h2    db3 = colsum(dout)
//   dh1 = (dh2 W2) * [h1 > 0]      dW2 = dh2^T h1     db2 = colsum(dh2)
//   dx  = dh1 (W1[:, :D] + (1+lambda) W1[:, D:])   (the loader folds W1's halves)
//   dk  = -lambda dh1 W1[:, D:]
//   dW1 = dh1^T u  (u recomputed by the loader)     db1 = colsum(dh1)
// Bias gradients are column sums in a fixed order (deterministic); split-K
// weight gradients are deterministic too.
#include "gemm_engine.cuh"
#include "hal.h"

namespace {

using namespace dense;

// USrc is u = [x, x + lambda*(x - k)] [N, 2D] computed on the fly. As the A
// operand (AsA) element (mn = i, kk = c); as B element (mn = c, kk = i).
template <bool AsA>
struct USrc {
    static constexpr int kMode = VALUE;
    static constexpr bool kFastK = AsA;
    const float* x;
    const float* k;
    int d;
    float lambda;

    __device__ __forceinline__ USrc bind(int) const { return *this; }
    __device__ __forceinline__ float value(int mn, int kk) const {
        const int i = AsA ? mn : kk, c = AsA ? kk : mn;
        if (c < d) return __ldg(x + (long long)i * d + c);
        const long long o = (long long)i * d + (c - d);
        const float xv = __ldg(x + o), kv = __ldg(k + o);
        return xv + lambda * (xv - kv);
    }
};

// W1FoldSrc is the B operand of dx: element (mn = c < D, kk = j < 2D) =
// W1[j, c] + (1 + lambda) W1[j, D + c].
struct W1FoldSrc {
    static constexpr int kMode = VALUE;
    static constexpr bool kFastK = false;
    const float* w1;
    int d;
    float lambda;

    __device__ __forceinline__ W1FoldSrc bind(int) const { return *this; }
    __device__ __forceinline__ float value(int c, int j) const {
        const float* row = w1 + (long long)j * 2 * d;
        return __ldg(row + c) + (1.f + lambda) * __ldg(row + d + c);
    }
};

// OutEpi stores into y [m, ld] (first n columns): mode 0: alpha*v; 1: v +
// bias[c]; 2: relu(v + bias[c]); 3: v where mask[r*ldm + c] > 0, else 0.
template <int MODE>
struct OutEpi {
    float* y;
    long long ld;
    int m, n;
    float alpha;
    const float* bias;
    const float* mask;
    long long ldm;

    __device__ __forceinline__ OutEpi bind(int, int) const { return *this; }
    __device__ __forceinline__ float f(int r, int c, float v) const {
        if constexpr (MODE == 0) return alpha * v;
        if constexpr (MODE == 1) return v + bias[c];
        if constexpr (MODE == 2) return fmaxf(v + bias[c], 0.f);
        if constexpr (MODE == 3) return mask[(long long)r * ldm + c] > 0.f ? v : 0.f;
        return v;
    }
    __device__ __forceinline__ void store2(int r, int c, float v0, float v1) const {
        if (r >= m) return;
        float* d = y + (long long)r * ld + c;
        if (c < n) d[0] = f(r, c, v0);
        if (c + 1 < n) d[1] = f(r, c + 1, v1);
    }
};

template <int MODE>
OutEpi<MODE> out_epi(float* y, long long ld, int m, int n, float alpha = 1.f, const float* bias = nullptr,
                     const float* mask = nullptr, long long ldm = 0) {
    OutEpi<MODE> e;
    e.y = y;
    e.ld = ld;
    e.m = m;
    e.n = n;
    e.alpha = alpha;
    e.bias = bias;
    e.mask = mask;
    e.ldm = ldm;
    return e;
}

template <class A, class B, class E>
GemmProblem<A, B, E> problem(int m, int n, int k, const A& a, const B& b, const E& e) {
    GemmProblem<A, B, E> p;
    p.m = m;
    p.n = n;
    p.k = k;
    p.batch = 1;
    p.a = a;
    p.b = b;
    p.epi = e;
    return p;
}

// colsum_kernel: out[c] = sum over rows of x[r*ld + c], deterministic: 8 row
// phases per column, then a fixed-order sum of the phases.
__global__ void colsum_kernel(const float* __restrict__ x, int rows, int cols, long long ld,
                              float* __restrict__ out) {
    __shared__ float part[8][33];
    const int c = blockIdx.x * 32 + threadIdx.x;
    float s = 0.f;
    if (c < cols)
        for (int r = threadIdx.y; r < rows; r += 8) s += x[(long long)r * ld + c];
    part[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y == 0 && c < cols) {
        float t = 0.f;
#pragma unroll
        for (int i = 0; i < 8; ++i) t += part[i][threadIdx.x];
        out[c] = t;
    }
}

cudaError_t colsum(cudaStream_t st, const float* x, int rows, int cols, long long ld, float* out) {
    HAL_LAUNCH(colsum_kernel, ceil_div(cols, 32), dim3(32, 8), 0, st, x, rows, cols, ld, out);
    return cudaGetLastError();
}

bool sizes_ok(const hal_halluc_args* a) {
    if (a == nullptr || a->n < 1 || a->d < 1) return false;
    const long long lim = 0x7fffffffLL - 1024;
    return (long long)a->n * 4 * a->d <= lim && 4LL * a->d * a->d <= lim;
}

}  // namespace

extern "C" size_t hal_halluc_workspace(const hal_halluc_args* a) {
    if (!sizes_ok(a)) return 0;
    return (size_t)2 * a->n * 2 * a->d * sizeof(float);  // dh2, dh1 [N, 2D]
}

extern "C" int hal_halluc_fwd(void* stream, const float* x, const float* k, const float* w1, const float* b1,
                              const float* w2, const float* b2, const float* w3, const float* b3, float* act,
                              float* out, void* workspace, const hal_halluc_args* a) {
    (void)workspace;
    if (!sizes_ok(a) || !x || !k || !w1 || !b1 || !w2 || !b2 || !w3 || !b3 || !act || !out)
        return (int)cudaErrorInvalidValue;
    const cudaStream_t st = (cudaStream_t)stream;
    const bool tf32 = a->tf32 != 0;
    const int n = a->n, d = a->d, d2 = 2 * a->d;
    USrc<true> u;
    u.x = x;
    u.k = k;
    u.d = d;
    u.lambda = a->lambda;
    // h1 = relu(u W1^T + b1): B(mn = j, kk = c) = W1[j, c].
    HAL_TRY(run_gemm(st, tf32, problem(n, d2, d2, u, dense_src<true>(w1, d2, 0), out_epi<2>(act, 4 * d, n, d2, 1.f, b1))));
    // h2 = relu(h1 W2^T + b2).
    HAL_TRY(run_gemm(st, tf32,
                    problem(n, d2, d2, dense_src<true>(act, 4 * d, 0), dense_src<true>(w2, d2, 0),
                            out_epi<2>(act + d2, 4 * d, n, d2, 1.f, b2))));
    // out = h2 W3^T + b3.
    return (int)run_gemm(st, tf32,
                         problem(n, d, d2, dense_src<true>(act + d2, 4 * d, 0), dense_src<true>(w3, d2, 0),
                                 out_epi<1>(out, d, n, d, 1.f, b3)));
}

extern "C" int hal_halluc_bwd(void* stream, const float* x, const float* k, const float* w1, const float* w2,
                              const float* w3, const float* act, const float* dout, float* dx, float* dk,
                              float* dw1, float* db1, float* dw2, float* db2, float* dw3, float* db3,
                              void* workspace, const hal_halluc_args* a) {
    if (!sizes_ok(a) || !x || !k || !w1 || !w2 || !w3 || !act || !dout || !dx || !dw1 || !db1 || !dw2 ||
        !db2 || !dw3 || !db3 || !workspace)
        return (int)cudaErrorInvalidValue;
    const cudaStream_t st = (cudaStream_t)stream;
    const bool tf32 = a->tf32 != 0;
    const int n = a->n, d = a->d, d2 = 2 * a->d;
    const float lambda = a->lambda;
    float* dh2 = (float*)workspace;
    float* dh1 = dh2 + (size_t)n * d2;
    const float* h1 = act;
    const float* h2 = act + d2;

    // dh2 = (dout W3) * [h2 > 0]: B(mn = j, kk = e) = W3[e, j].
    HAL_TRY(run_gemm(st, tf32,
                    problem(n, d2, d, dense_src<true>(dout, d, 0), dense_src<false>(w3, d2, 0),
                            out_epi<3>(dh2, d2, n, d2, 1.f, nullptr, h2, 4 * d))));
    // dW3 = dout^T h2: A(mn = e, kk = i) = dout[i, e]; B(mn = j, kk = i) = h2[i, j].
    HAL_TRY(run_gemm(st, tf32,
                    problem(d, d2, n, dense_src<false>(dout, d, 0), dense_src<false>(h2, 4 * d, 0),
                            out_epi<0>(dw3, d2, d, d2))));
    HAL_TRY(colsum(st, dout, n, d, d, db3));
    // dh1 = (dh2 W2) * [h1 > 0].
    HAL_TRY(run_gemm(st, tf32,
                    problem(n, d2, d2, dense_src<true>(dh2, d2, 0), dense_src<false>(w2, d2, 0),
                            out_epi<3>(dh1, d2, n, d2, 1.f, nullptr, h1, 4 * d))));
    // dW2 = dh2^T h1.
    HAL_TRY(run_gemm(st, tf32,
                    problem(d2, d2, n, dense_src<false>(dh2, d2, 0), dense_src<false>(h1, 4 * d, 0),
                            out_epi<0>(dw2, d2, d2, d2))));
    HAL_TRY(colsum(st, dh2, n, d2, d2, db2));
    // dx = dh1 (W1[:, :D] + (1+lambda) W1[:, D:]).
    W1FoldSrc fold;
    fold.w1 = w1;
    fold.d = d;
    fold.lambda = lambda;
    HAL_TRY(run_gemm(st, tf32, problem(n, d, d2, dense_src<true>(dh1, d2, 0), fold, out_epi<0>(dx, d, n, d))));
    // dk = -lambda dh1 W1[:, D:]: B(mn = c, kk = j) = W1[j, D + c].
    if (dk != nullptr)
        HAL_TRY(run_gemm(st, tf32,
                        problem(n, d, d2, dense_src<true>(dh1, d2, 0), dense_src<false>(w1 + d, d2, 0),
                                out_epi<0>(dk, d, n, d, -lambda))));
    // dW1 = dh1^T u.
    USrc<false> u;
    u.x = x;
    u.k = k;
    u.d = d;
    u.lambda = lambda;
    HAL_TRY(run_gemm(st, tf32,
                    problem(d2, d2, n, dense_src<false>(dh1, d2, 0), u, out_epi<0>(dw1, d2, d2, d2))));
    return (int)colsum(st, dh1, n, d2, d2, db1);
}
