// f1_check.cu: checks hal_gemm, the convolutions, hal_infonce and the
// Hallucinator against plain CPU references (double accumulation) on awkward
// sizes and real ones, with guard values around every output, and times the
// GEMM against cuBLAS when built with -DHAL_CUBLAS -lcublas.
//
// GPU build (from kernels/cuda/src):
//   nvcc -O3 -std=c++17 -gencode arch=compute_90,code=sm_90 -o f1_check test/f1_check.cu
//        gemm.cu conv.cu infonce.cu hallucinator.cu
//   with the cuBLAS comparison add -DHAL_CUBLAS -lcublas (or, self-contained,
//   -DHAL_CUBLAS -lcublas_static -lcublasLt_static -lculibos).
// CPU emulation build (no GPU; smaller sizes, no timing):
//   g++ -O2 -std=c++20 -DHAL_EMULATE -x c++ -o f1_check_emu test/f1_check.cu
//        gemm.cu conv.cu infonce.cu hallucinator.cu
// Run: ./f1_check [quick] [filter]; prints PASS/FAIL lines with the largest
// error and ends with "f1_check: N passed, M failed" (exit status 1 on failure).
#ifdef HAL_EMULATE
#include "../emulator.cuh"
#else
#include <cuda_runtime.h>
#endif
#ifdef HAL_CUBLAS
#include <cublas_v2.h>
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

void die(cudaError_t e, const char* what) {
    if (e != cudaSuccess) {
        fprintf(stderr, "f1_check: %s: %s\n", what, cudaGetErrorString(e));
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
double max_scaled_err(const std::vector<float>& got, const std::vector<double>& ref,
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
double max_rel_err(const std::vector<float>& got, const std::vector<double>& ref) {
    double mx = 0, e = 0;
    for (double v : ref) mx = std::max(mx, fabs(v));
    mx = std::max(mx, 1e-30);
    for (size_t i = 0; i < ref.size(); ++i) {
        if (!std::isfinite(got[i])) return INFINITY;
        e = std::max(e, fabs(got[i] - ref[i]) / mx);
    }
    return e;
}

// ================================================================ GEMM ==

struct GemmCase {
    int m, n, k, batch;
    float alpha, beta;
    int pad;       // extra leading-dimension elements
    bool misalign; // pointers one float past 16-byte alignment
};

// test_gemm runs every transpose and both precisions on one case; the
// reference is computed once on the logical op(A), op(B).
void test_gemm(Report& rep, Rng& rng, const GemmCase& c) {
    const int m = c.m, n = c.n, k = c.k, nb = c.batch;
    std::vector<float> opA((size_t)nb * m * k), opB((size_t)nb * k * n), C0((size_t)nb * m * (n + c.pad));
    for (auto& v : opA) v = rng.uni();
    for (auto& v : opB) v = rng.uni();
    for (auto& v : C0) v = c.beta == 0.f ? NAN : rng.uni();
    const int ldc = n + c.pad;
    std::vector<double> ref((size_t)nb * m * n), scale((size_t)nb * m * n);
    for (int b = 0; b < nb; ++b)
        for (int i = 0; i < m; ++i)
            for (int j = 0; j < n; ++j) {
                double s = 0, a = 0;
                const float* ar = &opA[((size_t)b * m + i) * k];
                for (int l = 0; l < k; ++l) {
                    const double p = (double)ar[l] * opB[((size_t)b * k + l) * n + j];
                    s += p;
                    a += fabs(p);
                }
                const size_t o = ((size_t)b * m + i) * n + j;
                const double cv = c.beta == 0.f ? 0.0 : (double)c.beta * C0[((size_t)b * m + i) * ldc + j];
                ref[o] = c.alpha * s + cv;
                scale[o] = fabs(c.alpha) * a + fabs(cv) + 1e-30;
            }
    for (int tA = 0; tA < 2; ++tA)
        for (int tB = 0; tB < 2; ++tB) {
            const int lda = (tA ? m : k) + c.pad, ldb = (tB ? k : n) + c.pad;
            const long long sA = (long long)(tA ? k : m) * lda + (nb > 1 ? 3 : 0);
            const long long sB = (long long)(tB ? n : k) * ldb + (nb > 1 ? 5 : 0);
            const long long sC = (long long)m * ldc + (nb > 1 ? 1 : 0);
            const int off = c.misalign ? 1 : 0;
            std::vector<float> hA(sA * nb + off, 0.5f), hB(sB * nb + off, 0.5f), hC(sC * nb + off, 0.25f);
            for (int b = 0; b < nb; ++b) {
                for (int i = 0; i < m; ++i)
                    for (int l = 0; l < k; ++l) {
                        const float v = opA[((size_t)b * m + i) * k + l];
                        hA[off + b * sA + (tA ? (size_t)l * lda + i : (size_t)i * lda + l)] = v;
                    }
                for (int l = 0; l < k; ++l)
                    for (int j = 0; j < n; ++j) {
                        const float v = opB[((size_t)b * k + l) * n + j];
                        hB[off + b * sB + (tB ? (size_t)j * ldb + l : (size_t)l * ldb + j)] = v;
                    }
                for (int i = 0; i < m; ++i)
                    for (int j = 0; j < ldc; ++j) hC[off + b * sC + (size_t)i * ldc + j] = C0[((size_t)b * m + i) * ldc + j];
            }
            for (int tf32 = 0; tf32 < 2; ++tf32) {
                DBuf dA(hA.size()), dB(hB.size()), dC(hC.size());
                dA.up(hA);
                dB.up(hB);
                dC.up(hC);
                hal_gemm_args a = {tA, tB, m, n, k, lda, ldb, ldc, nb, sA, sB, sC, c.alpha, c.beta, tf32};
                const int rc = hal_gemm(nullptr, dA.p() + off, dB.p() + off, dC.p() + off, &a);
                const std::vector<float> out = dC.down();
                std::vector<float> got((size_t)nb * m * n);
                bool untouched = true;  // padding columns and gaps keep their values
                for (int b = 0; b < nb; ++b)
                    for (int i = 0; i < m; ++i)
                        for (int j = 0; j < ldc; ++j) {
                            const size_t at = off + b * sC + (size_t)i * ldc + j;
                            if (j < n)
                                got[((size_t)b * m + i) * n + j] = out[at];
                            else if (!(out[at] == hC[at] || (std::isnan(out[at]) && std::isnan(hC[at]))))
                                untouched = false;
                        }
                const double err = max_scaled_err(got, ref, scale);
                const double tol = tf32 ? 2e-3 : 1e-5;
                rep.check(rc == 0 && err <= tol && dC.guards_ok() && untouched,
                          "gemm m=%d n=%d k=%d batch=%d tA=%d tB=%d tf32=%d alpha=%g beta=%g pad=%d misalign=%d "
                          "rc=%d maxerr=%.3g tol=%.0e",
                          m, n, k, nb, tA, tB, tf32, c.alpha, c.beta, c.pad, (int)c.misalign, rc, err, tol);
            }
        }
}

void test_gemm_invalid(Report& rep) {
    DBuf d(16);
    hal_gemm_args ok = {0, 0, 2, 2, 2, 2, 2, 2, 1, 0, 0, 0, 1.f, 0.f, 0};
    struct {
        const char* what;
        hal_gemm_args a;
    } bad[] = {
        {"m<0", {0, 0, -1, 2, 2, 2, 2, 2, 1, 0, 0, 0, 1.f, 0.f, 0}},
        {"lda<k", {0, 0, 2, 2, 3, 2, 2, 2, 1, 0, 0, 0, 1.f, 0.f, 0}},
        {"ldc<n", {0, 0, 2, 3, 2, 2, 3, 2, 1, 0, 0, 0, 1.f, 0.f, 0}},
        {"batch=0", {0, 0, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 1.f, 0.f, 0}},
        {"transA=2", {2, 0, 2, 2, 2, 2, 2, 2, 1, 0, 0, 0, 1.f, 0.f, 0}},
    };
    for (auto& b : bad) {
        const int rc = hal_gemm(nullptr, d.p(), d.p(), d.p() + 8, &b.a);
        rep.check(rc == (int)cudaErrorInvalidValue, "gemm rejects %s (rc=%d)", b.what, rc);
    }
    rep.check(hal_gemm(nullptr, d.p(), d.p(), d.p() + 8, &ok) == 0, "gemm accepts a valid 2x2x2");
}

// ======================================================== convolution ==

struct ConvCase {
    int n, c, h, w, k, r, s, sh, sw, ph, pw;
};

hal_conv_args conv_args(const ConvCase& c, int tf32) {
    hal_conv_args a;
    a.n = c.n;
    a.c = c.c;
    a.h = c.h;
    a.w = c.w;
    a.k = c.k;
    a.r = c.r;
    a.s = c.s;
    a.p = (c.h + 2 * c.ph - c.r) / c.sh + 1;
    a.q = (c.w + 2 * c.pw - c.s) / c.sw + 1;
    a.stride_h = c.sh;
    a.stride_w = c.sw;
    a.pad_h = c.ph;
    a.pad_w = c.pw;
    a.tf32 = tf32;
    return a;
}

void test_conv(Report& rep, Rng& rng, const ConvCase& c) {
    const hal_conv_args a0 = conv_args(c, 0);
    const int P = a0.p, Q = a0.q;
    const size_t nx = (size_t)c.n * c.c * c.h * c.w, nw = (size_t)c.k * c.c * c.r * c.s, ny = (size_t)c.n * c.k * P * Q;
    const std::vector<float> x = rng.vec(nx), w = rng.vec(nw), dy = rng.vec(ny);
    std::vector<double> y(ny, 0), ys(ny, 0), dx(nx, 0), dxs(nx, 0), dw(nw, 0), dws(nw, 0);
    for (int n = 0; n < c.n; ++n)
        for (int k = 0; k < c.k; ++k)
            for (int p = 0; p < P; ++p)
                for (int q = 0; q < Q; ++q) {
                    const size_t yo = (((size_t)n * c.k + k) * P + p) * Q + q;
                    for (int ch = 0; ch < c.c; ++ch)
                        for (int r = 0; r < c.r; ++r) {
                            const int ih = p * c.sh - c.ph + r;
                            if (ih < 0 || ih >= c.h) continue;
                            for (int s = 0; s < c.s; ++s) {
                                const int iw = q * c.sw - c.pw + s;
                                if (iw < 0 || iw >= c.w) continue;
                                const size_t xo = (((size_t)n * c.c + ch) * c.h + ih) * c.w + iw;
                                const size_t wo = (((size_t)k * c.c + ch) * c.r + r) * c.s + s;
                                y[yo] += (double)x[xo] * w[wo];
                                ys[yo] += fabs((double)x[xo] * w[wo]);
                                dx[xo] += (double)dy[yo] * w[wo];
                                dxs[xo] += fabs((double)dy[yo] * w[wo]);
                                dw[wo] += (double)dy[yo] * x[xo];
                                dws[wo] += fabs((double)dy[yo] * x[xo]);
                            }
                        }
                }
    for (auto* v : {&ys, &dxs, &dws})
        for (auto& s : *v) s += 1e-30;
    for (int tf32 = 0; tf32 < 2; ++tf32) {
        const hal_conv_args a = conv_args(c, tf32);
        const double tol = tf32 ? 2e-3 : 1e-5;
        DBuf dX(nx), dW(nw), dY(ny), gX(nx), gW(nw), gY(ny);
        dX.up(x);
        dW.up(w);
        dY.up(dy);
        int rc = hal_conv2d_fwd(nullptr, dX.p(), dW.p(), gY.p(), &a);
        double e = max_scaled_err(gY.down(), y, ys);
        rep.check(rc == 0 && e <= tol && gY.guards_ok(),
                  "conv_fwd n=%d c=%d h=%d w=%d k=%d r=%d s=%d stride=%d,%d pad=%d,%d tf32=%d rc=%d maxerr=%.3g", c.n, c.c,
                  c.h, c.w, c.k, c.r, c.s, c.sh, c.sw, c.ph, c.pw, tf32, rc, e);
        rc = hal_conv2d_bwd_data(nullptr, dY.p(), dW.p(), gX.p(), &a);
        e = max_scaled_err(gX.down(), dx, dxs);
        rep.check(rc == 0 && e <= tol && gX.guards_ok(),
                  "conv_bwd_data n=%d c=%d h=%d w=%d k=%d r=%d s=%d stride=%d,%d pad=%d,%d tf32=%d rc=%d maxerr=%.3g",
                  c.n, c.c, c.h, c.w, c.k, c.r, c.s, c.sh, c.sw, c.ph, c.pw, tf32, rc, e);
        rc = hal_conv2d_bwd_filter(nullptr, dX.p(), dY.p(), gW.p(), &a);
        const std::vector<float> first = gW.down();
        e = max_scaled_err(first, dw, dws);
        // Determinism: a second run gives the same bits.
        const int rc2 = hal_conv2d_bwd_filter(nullptr, dX.p(), dY.p(), gW.p(), &a);
        const bool same = gW.down() == first;
        rep.check(rc == 0 && rc2 == 0 && e <= tol && gW.guards_ok() && same,
                  "conv_bwd_filter n=%d c=%d h=%d w=%d k=%d r=%d s=%d stride=%d,%d pad=%d,%d tf32=%d rc=%d maxerr=%.3g "
                  "deterministic=%d",
                  c.n, c.c, c.h, c.w, c.k, c.r, c.s, c.sh, c.sw, c.ph, c.pw, tf32, rc, e, (int)same);
    }
}

void test_conv_invalid(Report& rep) {
    DBuf d(64);
    hal_conv_args a = conv_args({1, 1, 4, 4, 1, 3, 3, 1, 1, 1, 1}, 0);
    a.p = 5;  // inconsistent output size
    rep.check(hal_conv2d_fwd(nullptr, d.p(), d.p(), d.p(), &a) == (int)cudaErrorInvalidValue, "conv rejects a wrong P");
    a = conv_args({1, 1, 4, 4, 1, 3, 3, 1, 1, 1, 1}, 0);
    a.stride_h = 0;
    rep.check(hal_conv2d_bwd_data(nullptr, d.p(), d.p(), d.p(), &a) == (int)cudaErrorInvalidValue,
              "conv rejects stride 0");
}

// ============================================================ InfoNCE ==

struct NceCase {
    int A, B, Q, D;
    float T;
    int inb, twins, self;  // self: 0 none (NULL), 1 some anchors with a self index
    int grads;             // bit 0: dq, bit 1: dk
    bool same;             // q and k the same buffer (A == B)
    bool zero_row;         // q row 0 all zeros (clamped norm)
};

void test_infonce(Report& rep, Rng& rng, const NceCase& c) {
    const int A = c.A, B = c.B, Q = c.Q, D = c.D;
    std::vector<float> q = rng.vec((size_t)A * D), k = c.same ? q : rng.vec((size_t)B * D), qu = rng.vec((size_t)Q * D);
    if (c.zero_row)
        for (int d = 0; d < D; ++d) q[d] = 0.f;
    if (c.same) k = q;
    for (int r = 0; r < Q; ++r) {  // queue rows normalised, as the semantics assume
        double s = 0;
        for (int d = 0; d < D; ++d) s += (double)qu[(size_t)r * D + d] * qu[(size_t)r * D + d];
        for (int d = 0; d < D; ++d) qu[(size_t)r * D + d] = (float)(qu[(size_t)r * D + d] / std::max(sqrt(s), 1e-12));
    }
    std::vector<int> pos(A), self(A, -1), aid(A), kid(B);
    for (int i = 0; i < A; ++i) {
        pos[i] = rng.below(B);
        if (c.self && rng.below(3) != 0) self[i] = rng.below(B);
        aid[i] = rng.below(std::max(B / 2, 1));
    }
    for (int j = 0; j < B; ++j) kid[j] = rng.below(std::max(B / 2, 1));

    // Reference (as the plain-Go one), in double.
    auto norm = [&](const std::vector<float>& x, int m, std::vector<double>& y, std::vector<double>& nr) {
        y.assign((size_t)m * D, 0);
        nr.assign(m, 0);
        for (int i = 0; i < m; ++i) {
            double s = 0;
            for (int d = 0; d < D; ++d) s += (double)x[(size_t)i * D + d] * x[(size_t)i * D + d];
            nr[i] = std::max(sqrt(s), 1e-12);
            for (int d = 0; d < D; ++d) y[(size_t)i * D + d] = x[(size_t)i * D + d] / nr[i];
        }
    };
    std::vector<double> qn, qnr, kn, knr;
    norm(q, A, qn, qnr);
    norm(k, B, kn, knr);
    std::vector<double> gq((size_t)A * D, 0), gk((size_t)B * D, 0);
    const double invT = 1.0 / c.T;
    double total = 0;
    std::vector<int> cols;
    std::vector<double> lg;
    for (int i = 0; i < A; ++i) {
        cols.assign(1, pos[i]);
        if (c.inb)
            for (int j = 0; j < B; ++j) {
                if (j == pos[i] || j == (c.self ? self[i] : -1) || (c.twins && kid[j] == aid[i])) continue;
                cols.push_back(j);
            }
        lg.clear();
        auto dot = [&](const double* a, const double* b) {
            double s = 0;
            for (int d = 0; d < D; ++d) s += a[d] * b[d];
            return s;
        };
        std::vector<double> qud((size_t)D);
        for (int j : cols) lg.push_back(dot(&qn[(size_t)i * D], &kn[(size_t)j * D]) * invT);
        for (int r = 0; r < Q; ++r) {
            double s = 0;
            for (int d = 0; d < D; ++d) s += qn[(size_t)i * D + d] * qu[(size_t)r * D + d];
            lg.push_back(s * invT);
        }
        double mx = -INFINITY, z = 0;
        for (double v : lg) mx = std::max(mx, v);
        for (double v : lg) z += exp(v - mx);
        const double lse = mx + log(z);
        total += lse - lg[0];
        for (size_t cc = 0; cc < lg.size(); ++cc) {
            double g = exp(lg[cc] - lse) - (cc == 0 ? 1 : 0);
            g *= invT / A;
            if (cc < cols.size()) {
                const int j = cols[cc];
                for (int d = 0; d < D; ++d) {
                    gk[(size_t)j * D + d] += g * qn[(size_t)i * D + d];
                    gq[(size_t)i * D + d] += g * kn[(size_t)j * D + d];
                }
            } else {
                const int r = (int)(cc - cols.size());
                for (int d = 0; d < D; ++d) gq[(size_t)i * D + d] += g * qu[(size_t)r * D + d];
            }
        }
    }
    const double loss = total / A;
    auto back = [&](const std::vector<double>& y, const std::vector<double>& nr, const std::vector<double>& g, int m) {
        std::vector<double> dx((size_t)m * D);
        for (int i = 0; i < m; ++i) {
            double dt = 0;
            if (nr[i] > 1e-12)
                for (int d = 0; d < D; ++d) dt += y[(size_t)i * D + d] * g[(size_t)i * D + d];
            for (int d = 0; d < D; ++d) dx[(size_t)i * D + d] = (g[(size_t)i * D + d] - y[(size_t)i * D + d] * dt) / nr[i];
        }
        return dx;
    };
    const std::vector<double> rdq = back(qn, qnr, gq, A), rdk = back(kn, knr, gk, B);

    hal_infonce_args a = {A, B, Q, D, c.T, c.inb, c.twins};
    const size_t wsb = hal_infonce_workspace(&a);
    DBuf dQ((size_t)A * D), dK((size_t)B * D), dQu(std::max<size_t>((size_t)Q * D, 1)), dL(1), gQ((size_t)A * D),
        gK((size_t)B * D), ws(wsb / sizeof(float) + 4);
    dQ.up(q);
    dK.up(k);
    if (Q) dQu.up(qu);
    IBuf iPos(pos), iSelf(self), iAid(aid), iKid(kid);
    const float* kp = c.same ? dQ.p() : dK.p();
    float* gq_p = (c.grads & 1) ? gQ.p() : nullptr;
    float* gk_p = (c.grads & 2) ? gK.p() : nullptr;
    auto run = [&]() {
        return hal_infonce(nullptr, dQ.p(), kp, Q ? dQu.p() : nullptr, iPos.p, c.self ? iSelf.p : nullptr,
                           c.twins ? iAid.p : nullptr, c.twins ? iKid.p : nullptr, dL.p(), gq_p, gk_p, ws.p(), &a);
    };
    const int rc = run();
    const std::vector<float> l1 = dL.down(), q1 = gQ.down(), k1 = gK.down();
    const int rc2 = run();
    const bool same = dL.down() == l1 && gQ.down() == q1 && gK.down() == k1;
    const double el = fabs(l1[0] - loss) / std::max(fabs(loss), 1e-3);
    const double eq = (c.grads & 1) ? max_rel_err(q1, rdq) : 0, ek = (c.grads & 2) ? max_rel_err(k1, rdk) : 0;
    const bool guards = dL.guards_ok() && gQ.guards_ok() && gK.guards_ok() && ws.guards_ok();
    rep.check(rc == 0 && rc2 == 0 && el <= 2e-5 && eq <= 1e-4 && ek <= 1e-4 && guards && same,
              "infonce A=%d B=%d Q=%d D=%d T=%g inb=%d twins=%d self=%d grads=%d same=%d zero_row=%d rc=%d loss=%.6f "
              "ref=%.6f errloss=%.2g errdq=%.2g errdk=%.2g deterministic=%d",
              A, B, Q, D, c.T, c.inb, c.twins, c.self, c.grads, (int)c.same, (int)c.zero_row, rc, l1[0], loss, el, eq,
              ek, (int)same);
}

// ======================================================= Hallucinator ==

void test_halluc(Report& rep, Rng& rng, int n, int d, int tf32) {
    const int d2 = 2 * d;
    const float lambda = 0.0731f;
    const std::vector<float> x = rng.vec((size_t)n * d), k = rng.vec((size_t)n * d), dout = rng.vec((size_t)n * d);
    std::vector<float> w1 = rng.vec((size_t)d2 * d2), w2 = rng.vec((size_t)d2 * d2), w3 = rng.vec((size_t)d * d2);
    std::vector<float> b1 = rng.vec(d2), b2 = rng.vec(d2), b3 = rng.vec(d);
    const float sc = 1.f / sqrtf((float)d2);  // keep activations O(1)
    for (auto* w : {&w1, &w2, &w3})
        for (auto& v : *w) v *= sc;
    // Reference forward.
    std::vector<double> u((size_t)n * d2), act((size_t)n * 2 * d2), out((size_t)n * d);
    for (int i = 0; i < n; ++i)
        for (int c = 0; c < d; ++c) {
            const double xv = x[(size_t)i * d + c], kv = k[(size_t)i * d + c];
            u[(size_t)i * d2 + c] = xv;
            u[(size_t)i * d2 + d + c] = xv + lambda * (xv - kv);
        }
    auto layer = [&](const std::vector<double>& in, int ldi, int offi, const std::vector<float>& W,
                     const std::vector<float>& b, int nout, int nin, bool relu, std::vector<double>& o, int ldo,
                     int offo) {
        for (int i = 0; i < n; ++i)
            for (int j = 0; j < nout; ++j) {
                double s = b[j];
                for (int c = 0; c < nin; ++c) s += in[(size_t)i * ldi + offi + c] * W[(size_t)j * nin + c];
                o[(size_t)i * ldo + offo + j] = relu ? std::max(s, 0.0) : s;
            }
    };
    layer(u, d2, 0, w1, b1, d2, d2, true, act, 2 * d2, 0);
    layer(act, 2 * d2, 0, w2, b2, d2, d2, true, act, 2 * d2, d2);
    layer(act, 2 * d2, d2, w3, b3, d, d2, false, out, d, 0);
    const double tol = tf32 ? 5e-3 : 2e-5;
    hal_halluc_args a = {n, d, lambda, tf32};
    DBuf dx_((size_t)n * d), dk_((size_t)n * d), dW1(w1.size()), dW2(w2.size()), dW3(w3.size()), dB1(d2), dB2(d2),
        dB3(d), dAct((size_t)n * 2 * d2), dOut((size_t)n * d), ws(hal_halluc_workspace(&a) / sizeof(float) + 4);
    dx_.up(x);
    dk_.up(k);
    dW1.up(w1);
    dW2.up(w2);
    dW3.up(w3);
    dB1.up(b1);
    dB2.up(b2);
    dB3.up(b3);
    int rc = hal_halluc_fwd(nullptr, dx_.p(), dk_.p(), dW1.p(), dB1.p(), dW2.p(), dB2.p(), dW3.p(), dB3.p(), dAct.p(),
                            dOut.p(), ws.p(), &a);
    const double ea = max_rel_err(dAct.down(), act), eo = max_rel_err(dOut.down(), out);
    rep.check(rc == 0 && ea <= tol && eo <= tol && dAct.guards_ok() && dOut.guards_ok(),
              "halluc_fwd n=%d d=%d tf32=%d rc=%d err_act=%.3g err_out=%.3g", n, d, tf32, rc, ea, eo);

    // Reference backward from the reference activations (the GPU backward is
    // fed the same act, so the ReLU masks agree).
    std::vector<float> actf(act.size());
    for (size_t i = 0; i < act.size(); ++i) actf[i] = (float)act[i];
    std::vector<double> h1((size_t)n * d2), h2((size_t)n * d2);
    for (int i = 0; i < n; ++i)
        for (int j = 0; j < d2; ++j) {
            h1[(size_t)i * d2 + j] = actf[(size_t)i * 2 * d2 + j];
            h2[(size_t)i * d2 + j] = actf[(size_t)i * 2 * d2 + d2 + j];
        }
    std::vector<double> dh2((size_t)n * d2), dh1((size_t)n * d2), du((size_t)n * d2);
    std::vector<double> gw3(w3.size(), 0), gw2(w2.size(), 0), gw1(w1.size(), 0), gb3(d, 0), gb2(d2, 0), gb1(d2, 0);
    std::vector<double> gx((size_t)n * d), gk((size_t)n * d);
    for (int i = 0; i < n; ++i)
        for (int j = 0; j < d2; ++j) {
            double s = 0;
            for (int e = 0; e < d; ++e) s += (double)dout[(size_t)i * d + e] * w3[(size_t)e * d2 + j];
            dh2[(size_t)i * d2 + j] = h2[(size_t)i * d2 + j] > 0 ? s : 0;
        }
    for (int i = 0; i < n; ++i)
        for (int j = 0; j < d2; ++j) {
            double s = 0;
            for (int l = 0; l < d2; ++l) s += dh2[(size_t)i * d2 + l] * w2[(size_t)l * d2 + j];
            dh1[(size_t)i * d2 + j] = h1[(size_t)i * d2 + j] > 0 ? s : 0;
        }
    for (int i = 0; i < n; ++i)
        for (int j = 0; j < d2; ++j) {
            double s = 0;
            for (int l = 0; l < d2; ++l) s += dh1[(size_t)i * d2 + l] * w1[(size_t)l * d2 + j];
            du[(size_t)i * d2 + j] = s;
        }
    for (int i = 0; i < n; ++i) {
        for (int e = 0; e < d; ++e) {
            gb3[e] += dout[(size_t)i * d + e];
            for (int j = 0; j < d2; ++j) gw3[(size_t)e * d2 + j] += (double)dout[(size_t)i * d + e] * h2[(size_t)i * d2 + j];
        }
        for (int j = 0; j < d2; ++j) {
            gb2[j] += dh2[(size_t)i * d2 + j];
            gb1[j] += dh1[(size_t)i * d2 + j];
            for (int l = 0; l < d2; ++l) {
                gw2[(size_t)j * d2 + l] += dh2[(size_t)i * d2 + j] * h1[(size_t)i * d2 + l];
                gw1[(size_t)j * d2 + l] += dh1[(size_t)i * d2 + j] * u[(size_t)i * d2 + l];
            }
        }
        for (int c = 0; c < d; ++c) {
            gx[(size_t)i * d + c] = du[(size_t)i * d2 + c] + (1.0 + lambda) * du[(size_t)i * d2 + d + c];
            gk[(size_t)i * d + c] = -(double)lambda * du[(size_t)i * d2 + d + c];
        }
    }
    for (int with_dk = 0; with_dk < 2; ++with_dk) {
        DBuf dAct2(actf.size()), dDout(dout.size()), gX((size_t)n * d), gK((size_t)n * d), gW1(w1.size()),
            gW2(w2.size()), gW3(w3.size()), gB1(d2), gB2(d2), gB3(d);
        dAct2.up(actf);
        dDout.up(dout);
        rc = hal_halluc_bwd(nullptr, dx_.p(), dk_.p(), dW1.p(), dW2.p(), dW3.p(), dAct2.p(), dDout.p(), gX.p(),
                            with_dk ? gK.p() : nullptr, gW1.p(), gB1.p(), gW2.p(), gB2.p(), gW3.p(), gB3.p(), ws.p(), &a);
        const double e[8] = {max_rel_err(gX.down(), gx),
                             with_dk ? max_rel_err(gK.down(), gk) : 0.0,
                             max_rel_err(gW1.down(), gw1),
                             max_rel_err(gB1.down(), gb1),
                             max_rel_err(gW2.down(), gw2),
                             max_rel_err(gB2.down(), gb2),
                             max_rel_err(gW3.down(), gw3),
                             max_rel_err(gB3.down(), gb3)};
        double emax = 0;
        for (double v : e) emax = std::max(emax, v);
        bool guards = gX.guards_ok() && gK.guards_ok() && gW1.guards_ok() && gW2.guards_ok() && gW3.guards_ok() &&
                      gB1.guards_ok() && gB2.guards_ok() && gB3.guards_ok() && ws.guards_ok();
        if (!with_dk) guards = guards && gK.down()[0] == kGuard;  // dk NULL: not written
        rep.check(rc == 0 && emax <= tol && guards,
                  "halluc_bwd n=%d d=%d tf32=%d dk=%d rc=%d err dx=%.2g dk=%.2g dw1=%.2g db1=%.2g dw2=%.2g db2=%.2g "
                  "dw3=%.2g db3=%.2g",
                  n, d, tf32, with_dk, rc, e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7]);
    }
}

// ============================================================= timing ==

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

// mma_peak_kernel issues independent m16n8k8 TF32 mma.sync instructions (8
// accumulators per warp) from registers: the instruction's peak rate.
__global__ void mma_peak_kernel(float* out, int iters) {
    unsigned a[4] = {threadIdx.x, threadIdx.x + 1, threadIdx.x + 2, threadIdx.x + 3}, b[2] = {threadIdx.x, 7};
    float d[8][4] = {};
    for (int i = 0; i < iters; ++i)
#pragma unroll
        for (int j = 0; j < 8; ++j)
            asm volatile(
                "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                "{%0,%1,%2,%3};\n"
                : "+f"(d[j][0]), "+f"(d[j][1]), "+f"(d[j][2]), "+f"(d[j][3])
                : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
    float s = 0;
    for (int j = 0; j < 8; ++j) s += d[j][0] + d[j][1] + d[j][2] + d[j][3];
    if (s == 12345.f) out[0] = s;
}

void bench_mma_peak() {
    int dev = 0, sms = 0;
    cudaGetDevice(&dev);
    cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
    DBuf out(1);
    const int iters = 4096, blocks = sms * 4, threads = 256;
    const float ms = time_ms([&] { mma_peak_kernel<<<blocks, threads>>>(out.p(), iters); }, 5);
    const double flop = 2.0 * 16 * 8 * 8 * 8 * (double)iters * blocks * (threads / 32);
    printf("TIME mma.sync m16n8k8 tf32 peak: %.1f TFLOP/s\n", flop / ms / 1e9);
}

// bench_gemm times one layout of a TF32 and an FP32 product: ours (for TF32
// both engines, the mma.sync one with HAL_WGMMA=0) and cuBLAS.
void bench_gemm(Report& rep, Rng& rng, int m, int n, int k, int tB) {
    DBuf A((size_t)m * k), B((size_t)k * n), C((size_t)m * n);
    const std::vector<float> ha = rng.vec((size_t)m * k), hb = rng.vec((size_t)k * n);
    A.up(ha);
    B.up(hb);
    const double flop = 2.0 * m * n * k;
    const char* lay = tB ? "NT" : "NN";
    for (int tf32 = 0; tf32 < 2; ++tf32) {
        for (int eng = 0; eng < 1 + tf32; ++eng) {
            if (tf32 && eng == 0) setenv("HAL_WGMMA", "0", 1);
            hal_gemm_args a = {0, tB, m, n, k, k, tB ? k : n, n, 1, 0, 0, 0, 1.f, 0.f, tf32};
            int rc = 0;
            const float ms = time_ms([&] { rc |= hal_gemm(nullptr, A.p(), B.p(), C.p(), &a); }, 10);
            unsetenv("HAL_WGMMA");
            // Spot-check 256 entries against double (B read as stored: [k][n] or [n][k]).
            const std::vector<float> hc = C.down();
            double err = 0;
            for (int t = 0; t < 256; ++t) {
                const int i = rng.below(m), j = rng.below(n);
                double s = 0, sa = 0;
                for (int l = 0; l < k; ++l) {
                    const double bv = tB ? hb[(size_t)j * k + l] : hb[(size_t)l * n + j];
                    s += (double)ha[(size_t)i * k + l] * bv;
                    sa += fabs((double)ha[(size_t)i * k + l] * bv);
                }
                err = std::max(err, fabs(hc[(size_t)i * n + j] - s) / sa);
            }
            const double tol = tf32 ? 2e-3 : 1e-5;
            const char* engine = !tf32 ? "simt" : eng == 0 ? "mma.sync" : "default";
            printf("TIME gemm %s %dx%dx%d %s %s: %.3f ms, %.1f TFLOP/s\n", lay, m, n, k, tf32 ? "tf32" : "fp32",
                   engine, ms, flop / ms / 1e9);
            rep.check(rc == 0 && err <= tol, "gemm_bench %s %dx%dx%d tf32=%d %s spot maxerr=%.3g", lay, m, n, k,
                      tf32, engine, err);
        }
#ifdef HAL_CUBLAS
        cublasHandle_t h;
        cublasCreate(&h);
        cublasSetMathMode(h, tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH);
        const float one = 1.f, zero = 0.f;
        // Row-major C = A op(B) is column-major C^T = op(B)^T A^T.
        const float cms = time_ms(
            [&] {
                cublasSgemm(h, tB ? CUBLAS_OP_T : CUBLAS_OP_N, CUBLAS_OP_N, n, m, k, &one, B.p(), tB ? k : n, A.p(),
                            k, &zero, C.p(), n);
            },
            10);
        printf("TIME cublas %s %dx%dx%d %s: %.3f ms, %.1f TFLOP/s\n", lay, m, n, k, tf32 ? "tf32" : "fp32", cms,
               flop / cms / 1e9);
        cublasDestroy(h);
#endif
    }
}

void bench_rest(Rng& rng) {
    {  // a ResNet-18 CIFAR layer, batch 256
        const ConvCase c = {256, 128, 16, 16, 128, 3, 3, 1, 1, 1, 1};
        for (int tf32 = 0; tf32 < 2; ++tf32) {
            const hal_conv_args a = conv_args(c, tf32);
            DBuf x((size_t)c.n * c.c * c.h * c.w), w((size_t)c.k * c.c * 9), y((size_t)c.n * c.k * a.p * a.q);
            x.up(rng.vec(x.n));
            w.up(rng.vec(w.n));
            y.up(rng.vec(y.n));
            const double flop = 2.0 * c.n * c.k * a.p * a.q * c.c * 9;
            for (int eng = tf32 ? 0 : 1; eng < 2; ++eng) {
                if (eng == 0) setenv("HAL_WGMMA", "0", 1);
                const float f = time_ms([&] { hal_conv2d_fwd(nullptr, x.p(), w.p(), y.p(), &a); }, 5);
                const float bd = time_ms([&] { hal_conv2d_bwd_data(nullptr, y.p(), w.p(), x.p(), &a); }, 5);
                const float bf = time_ms([&] { hal_conv2d_bwd_filter(nullptr, x.p(), y.p(), w.p(), &a); }, 5);
                unsetenv("HAL_WGMMA");
                printf("TIME conv 256x128x16x16 k=128 3x3 %s %s: fwd %.3f ms (%.1f TF/s), bwd_data %.3f ms (%.1f), "
                       "bwd_filter %.3f ms (%.1f)\n",
                       tf32 ? "tf32" : "fp32", !tf32 ? "simt" : eng == 0 ? "mma.sync" : "default", f, flop / f / 1e9,
                       bd, flop / bd / 1e9, bf, flop / bf / 1e9);
            }
        }
    }
    {  // MoCo: 2N = 512 anchors (with hallucinated rows), 256 keys, queue 65536, 128-d
        hal_infonce_args a = {512, 256, 65536, 128, 0.2f, 0, 0};
        DBuf q(512 * 128), k(256 * 128), qu((size_t)65536 * 128), l(1), dq(512 * 128), dk(256 * 128),
            ws(hal_infonce_workspace(&a) / 4 + 4);
        q.up(rng.vec(q.n));
        k.up(rng.vec(k.n));
        qu.up(rng.vec(qu.n));
        std::vector<int> pos(512);
        for (int i = 0; i < 512; ++i) pos[i] = i % 256;
        IBuf ip(pos);
        const float ms = time_ms(
            [&] {
                hal_infonce(nullptr, q.p(), k.p(), qu.p(), ip.p, nullptr, nullptr, nullptr, l.p(), dq.p(), dk.p(), ws.p(),
                            &a);
            },
            5);
        printf("TIME infonce A=512 B=256 Q=65536 D=128 with gradients: %.3f ms\n", ms);
    }
    {  // the Hallucinator at MoCo sizes
        for (int tf32 = 0; tf32 < 2; ++tf32) {
            const int n = 512, d = 128;
            hal_halluc_args a = {n, d, 0.05f, tf32};
            DBuf x(n * d), k(n * d), w1(4 * d * d), w2(4 * d * d), w3(2 * d * d), b1(2 * d), b2(2 * d), b3(d),
                act(n * 4 * d), out(n * d), ws(hal_halluc_workspace(&a) / 4 + 4), g1(4 * d * d), g2(4 * d * d),
                g3(2 * d * d), c1(2 * d), c2(2 * d), c3(d), dx(n * d), dk(n * d);
            for (DBuf* b : {&x, &k, &w1, &w2, &w3, &b1, &b2, &b3, &out}) b->up(rng.vec(b->n));
            const float f = time_ms(
                [&] {
                    hal_halluc_fwd(nullptr, x.p(), k.p(), w1.p(), b1.p(), w2.p(), b2.p(), w3.p(), b3.p(), act.p(),
                                   out.p(), ws.p(), &a);
                },
                10);
            const float b = time_ms(
                [&] {
                    hal_halluc_bwd(nullptr, x.p(), k.p(), w1.p(), w2.p(), w3.p(), act.p(), out.p(), dx.p(), dk.p(),
                                   g1.p(), c1.p(), g2.p(), c2.p(), g3.p(), c3.p(), ws.p(), &a);
                },
                10);
            printf("TIME halluc n=512 d=128 %s: fwd %.3f ms, bwd %.3f ms\n", tf32 ? "tf32" : "fp32", f, b);
        }
    }
}
#endif

}  // namespace

int main(int argc, char** argv) {
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

    if (rep.want("gemm")) {
        test_gemm_invalid(rep);
        const std::vector<int> dims = quick ? std::vector<int>{1, 7, 31, 66} : std::vector<int>{1, 7, 31, 127, 257};
        for (int m : dims)
            for (int n : dims)
                for (int k : dims) test_gemm(rep, rng, {m, n, k, 1, 1.f, 0.f, 0, false});
        std::vector<GemmCase> extra = {
            {33, 17, 0, 1, 1.f, 0.5f, 0, false},      // k = 0: C = beta*C
            {45, 37, 29, 3, 0.5f, 1.5f, 3, false},    // batched, strides, padded ld, beta
            {37, 29, 41, 2, -1.f, 0.f, 1, true},      // misaligned pointers, odd ld
            {5, 3, 3000, 1, 1.f, 0.f, 0, false},      // split-K
            {130, 129, 67, 1, 2.f, -1.f, 0, false},   // edge tiles of every size
            {300, 140, 96, 1, 1.f, 0.f, 0, false},    // whole 256x128x32 tiles (HAL_EMU_SMS=1 picks them)
            {290, 64, 100, 1, 1.f, 0.5f, 0, false},   // 256x64 tiles, a partial k tile
            {66, 65, 4099, 1, 1.f, 0.5f, 0, false},   // long k, m, n > 64: 128x128 tiles split
        };
        if (!quick) {
            extra.push_back({1000, 1000, 1000, 1, 1.f, 0.f, 0, false});
            extra.push_back({1000, 257, 1000, 2, 1.f, 0.5f, 4, false});
            extra.push_back({64, 64, 65536, 1, 1.f, 0.f, 0, false});  // split-K, long
            extra.push_back({300, 200, 100, 5, 1.f, 0.f, 0, true});
            extra.push_back({2049, 513, 127, 1, 1.f, 0.f, 0, false});
            extra.push_back({3, 5, 4, 70000, 1.f, 0.f, 0, false});  // more batches than one grid holds
        }
        for (const auto& c : extra) test_gemm(rep, rng, c);
    }
    if (rep.want("wgmma") && strncmp(engine, "wgmma", 5) == 0) {
        // The Hopper engine on every shape (it otherwise takes large products only).
        printf("=== gemm with HAL_WGMMA=force\n");
        setenv("HAL_WGMMA", "force", 1);
        const std::vector<int> dims = quick ? std::vector<int>{1, 130} : std::vector<int>{1, 7, 127, 257};
        for (int m : dims)
            for (int n : dims)
                for (int k : {1, 31, 100}) test_gemm(rep, rng, {m, n, k, 1, 1.f, 0.f, 0, false});
        const std::vector<GemmCase> cs = {
            {45, 37, 29, 3, 0.5f, 1.5f, 3, false},  {37, 29, 41, 2, -1.f, 0.f, 1, true},
            {130, 129, 67, 1, 2.f, -1.f, 0, false}, {300, 520, 96, 1, 1.f, 0.f, 0, false},
            {1000, 257, 1000, 2, 1.f, 0.5f, 4, false}, {300, 200, 100, 5, 1.f, 0.f, 0, true},
            {2049, 513, 127, 1, 1.f, 0.f, 0, false}, {256, 512, 4099, 1, 1.f, 0.5f, 0, false},
        };
        for (const auto& c : cs) test_gemm(rep, rng, c);
        if (!quick) test_gemm(rep, rng, {3, 5, 4, 70000, 1.f, 0.f, 0, false});  // more batches than one grid holds
        // Forward and backward-data convolutions (register-A kernels, BN = 64, 128, 256).
        std::vector<ConvCase> cc = {
            {2, 3, 7, 5, 4, 3, 3, 1, 1, 1, 1},     {3, 5, 9, 11, 70, 3, 3, 2, 2, 1, 1},
            {1, 3, 31, 17, 5, 5, 3, 2, 1, 2, 1},   {2, 3, 10, 11, 4, 2, 3, 3, 2, 2, 3},
            {2, 9, 12, 12, 130, 3, 3, 1, 1, 1, 1}, {1, 40, 8, 8, 17, 1, 1, 2, 2, 0, 0},
        };
        if (!quick) {
            cc.push_back({4, 64, 32, 32, 64, 3, 3, 1, 1, 1, 1});     // ResNet-18 layer 1
            cc.push_back({8, 128, 16, 16, 256, 3, 3, 2, 2, 1, 1});   // downsampling 3x3
            cc.push_back({8, 64, 32, 32, 128, 1, 1, 2, 2, 0, 0});    // downsampling 1x1 shortcut
            cc.push_back({5, 3, 32, 32, 64, 3, 3, 1, 1, 1, 1});      // CIFAR stem
            cc.push_back({16, 256, 8, 8, 512, 3, 3, 1, 1, 1, 1});    // layer 4 width
            cc.push_back({2, 3, 127, 129, 17, 7, 7, 2, 2, 3, 3});    // ImageNet-like stem, odd sizes
        }
        for (const auto& c : cc) test_conv(rep, rng, c);
        unsetenv("HAL_WGMMA");
    }
    if (rep.want("conv")) {
        test_conv_invalid(rep);
        std::vector<ConvCase> cs = {
            {1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0}, {2, 3, 7, 5, 4, 3, 3, 1, 1, 1, 1}, {3, 5, 9, 11, 7, 3, 3, 2, 2, 1, 1},
            {2, 4, 8, 8, 6, 1, 1, 2, 2, 0, 0}, {1, 3, 31, 17, 5, 5, 3, 2, 1, 2, 1}, {2, 7, 13, 13, 31, 7, 7, 2, 2, 3, 3},
            {1, 2, 5, 5, 3, 3, 3, 3, 3, 0, 0},
            {2, 3, 10, 11, 4, 2, 3, 3, 2, 2, 3},  // stride > taps (pixel classes with no tap), pad >= stride
            {1, 2, 2, 9, 3, 1, 2, 4, 3, 1, 1},    // stride > image
        };
        if (!quick) {
            cs.push_back({5, 3, 32, 32, 64, 3, 3, 1, 1, 1, 1});     // CIFAR stem
            cs.push_back({4, 64, 32, 32, 64, 3, 3, 1, 1, 1, 1});    // ResNet-18 layer 1
            cs.push_back({8, 128, 16, 16, 256, 3, 3, 2, 2, 1, 1});  // downsampling 3x3
            cs.push_back({8, 64, 32, 32, 128, 1, 1, 2, 2, 0, 0});   // downsampling 1x1 shortcut
            cs.push_back({2, 3, 127, 129, 17, 7, 7, 2, 2, 3, 3});   // ImageNet-like stem, odd sizes
            cs.push_back({64, 64, 8, 8, 64, 3, 3, 1, 1, 1, 1});     // long bwd-filter reduction
            cs.push_back({17, 9, 16, 16, 67, 3, 3, 1, 1, 1, 1});    // bwd filter: 128x128 tiles split
        } else {
            cs.push_back({2, 16, 12, 12, 20, 3, 3, 1, 1, 1, 1});
        }
        for (const auto& c : cs) test_conv(rep, rng, c);
    }
    if (rep.want("infonce")) {
        std::vector<NceCase> cs = {
            {1, 1, 0, 1, 0.5f, 1, 0, 0, 3, false, false},
            {7, 5, 0, 3, 0.2f, 1, 0, 1, 3, false, false},
            {7, 7, 0, 31, 0.5f, 1, 1, 1, 3, true, false},      // q and k the same tensor
            {31, 31, 0, 17, 0.1f, 1, 1, 0, 1, false, true},    // dq only, a zero row
            {66, 70, 0, 65, 0.5f, 1, 0, 1, 2, false, false},   // dk only
            {13, 9, 127, 33, 0.07f, 0, 0, 0, 3, false, false}, // MoCo-like: queue, no in-batch negatives
            {9, 9, 0, 8, 0.2f, 0, 0, 0, 0, false, false},      // loss only, positives only
            {70, 20, 50, 130, 0.3f, 1, 1, 1, 3, false, false}, // two feature chunks, queue and keys mixed
        };
        if (!quick) {
            cs.push_back({257, 127, 1000, 128, 0.2f, 0, 0, 0, 3, false, false});
            cs.push_back({130, 65, 4097, 64, 0.5f, 1, 1, 1, 3, false, false});
            cs.push_back({1000, 500, 0, 257, 0.5f, 1, 1, 1, 3, false, false});
            cs.push_back({768, 512, 0, 128, 0.5f, 1, 1, 1, 3, false, false});    // SimCLR with hallucination
            cs.push_back({512, 256, 16384, 128, 0.2f, 0, 0, 0, 3, false, false}); // MoCo with hallucination
            cs.push_back({127, 127, 0, 1000, 0.3f, 1, 0, 1, 3, false, false});    // wide features
        }
        for (const auto& c : cs) test_infonce(rep, rng, c);
    }
    if (rep.want("halluc")) {
        std::vector<std::pair<int, int>> cs = {{1, 1}, {7, 3}, {31, 17}, {66, 64}};
        if (!quick) {
            cs.push_back({127, 64});
            cs.push_back({257, 128});
            cs.push_back({512, 128});
            cs.push_back({1000, 5});
            cs.push_back({64, 512});
        }
        for (const auto& c : cs)
            for (int tf32 = 0; tf32 < 2; ++tf32) test_halluc(rep, rng, c.first, c.second, tf32);
    }
#ifndef HAL_EMULATE
    if (!quick && rep.want("bench")) {
        bench_mma_peak();
        bench_gemm(rep, rng, 4096, 4096, 4096, 0);
        bench_gemm(rep, rng, 4096, 4096, 4096, 1);
        bench_gemm(rep, rng, 2048, 2048, 2048, 0);
        bench_gemm(rep, rng, 8192, 8192, 1024, 0);
        bench_rest(rng);
    }
#endif
    printf("f1_check: %d passed, %d failed\n", rep.pass, rep.fail);
    return rep.fail == 0 ? 0 : 1;
}
