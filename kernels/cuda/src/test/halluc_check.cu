// halluc_check.cu: checks the Hallucinator's fused forward and backward
// (hal_halluc_fwd, hal_halluc_bwd, hallucinator.cu) in both precisions
// against a double reference, dk present and absent, and times MoCo's
// sizes. Build and run: see check.h.

#include "check.h"

namespace {

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
#ifndef HAL_EMULATE
// bench_halluc times the Hallucinator at MoCo sizes.
void bench_halluc(Rng& rng) {
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
    return run_checks("halluc_check", argc, argv, [](Report& rep, Rng& rng, bool quick, const char* engine) {
        (void)engine;
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
            bench_halluc(rng);
        }
#endif
    });
}
