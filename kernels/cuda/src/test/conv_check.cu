// conv_check.cu: checks the implicit-GEMM convolutions (conv.cu,
// conv_implicit.cuh): forward, backward data and backward filter (and its
// determinism) in both precisions on odd strides, paddings and sizes, the
// Hopper engine's register-A kernels when it is the default, and times a
// ResNet layer. Build and run: see check.h.

#include "check.h"

namespace {

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
#ifndef HAL_EMULATE
// bench_conv times a ResNet-18 CIFAR layer, batch 256, in both precisions.
void bench_conv(Rng& rng) {
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
}

#endif

}  // namespace

int main(int argc, char** argv) {
    return run_checks("conv_check", argc, argv, [](Report& rep, Rng& rng, bool quick, const char* engine) {
        if (rep.want("wgmma") && strncmp(engine, "wgmma", 5) == 0) {
            printf("=== conv with HAL_WGMMA=force\n");
            setenv("HAL_WGMMA", "force", 1);
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
#ifndef HAL_EMULATE
        if (!quick && rep.want("bench")) {
            bench_conv(rng);
        }
#endif
    });
}
