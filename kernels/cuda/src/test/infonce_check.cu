// infonce_check.cu: checks the fused InfoNCE (hal_infonce, infonce.cu): the
// loss and both gradients against a double reference, with queues, in-batch
// negatives, twins, self indices, a shared q and k and a zero row, that two
// runs agree bit for bit, and times MoCo's sizes. Build and run: see check.h.

#include "check.h"

namespace {

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
#ifndef HAL_EMULATE
// bench_infonce times MoCo's loss with gradients.
void bench_infonce(Rng& rng) {
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
}

#endif

}  // namespace

int main(int argc, char** argv) {
    return run_checks("infonce_check", argc, argv, [](Report& rep, Rng& rng, bool quick, const char* engine) {
        (void)engine;
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
#ifndef HAL_EMULATE
        if (!quick && rep.want("bench")) {
            bench_infonce(rng);
        }
#endif
    });
}
