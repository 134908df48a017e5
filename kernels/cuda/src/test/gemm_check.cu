// gemm_check.cu: checks hal_gemm (gemm.cu, the engines of gemm_engine.cuh
// and wgmma.cuh) in both precisions, every transpose, batched, strided,
// misaligned and split-K, the Hopper engine on every shape when it is the
// default, and times the GEMM against cuBLAS with -DHAL_CUBLAS. Build and run:
// see check.h.

#ifdef HAL_CUBLAS
#include <cublas_v2.h>
#endif

#include "check.h"

namespace {

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
#ifndef HAL_EMULATE
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

#endif

}  // namespace

int main(int argc, char** argv) {
    return run_checks("gemm_check", argc, argv, [](Report& rep, Rng& rng, bool quick, const char* engine) {
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
            unsetenv("HAL_WGMMA");
        }
#ifndef HAL_EMULATE
        if (!quick && rep.want("bench")) {
            bench_mma_peak();
            bench_gemm(rep, rng, 4096, 4096, 4096, 0);
            bench_gemm(rep, rng, 4096, 4096, 4096, 1);
            bench_gemm(rep, rng, 2048, 2048, 2048, 0);
            bench_gemm(rep, rng, 8192, 8192, 1024, 0);
        }
#endif
    });
}
