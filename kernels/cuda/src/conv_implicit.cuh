// conv_implicit.cuh: the operand sources and epilogues of the implicit-GEMM
// convolutions (conv.cu; see there for the index maps), shared by the
// library and the sm_90a module (ptx/wgmma.cu), which instantiates the
// wgmma engine on them.
#ifndef HAL_CONV_IMPLICIT_CUH
#define HAL_CONV_IMPLICIT_CUH

#include "gemm_engine.cuh"
#include "hal.h"

namespace dense {

// Geometry with the divisors the gathers need.
struct Geom {
    int N, C, H, W, K, R, S, P, Q, sh, sw, ph, pw;
    int RS, PQ, HW;
    FastDiv dRS, dS, dPQ, dQ, dHW, dW, dSh, dSw;

    Geom() = default;
    explicit Geom(const hal_conv_args* a)
        : N(a->n), C(a->c), H(a->h), W(a->w), K(a->k), R(a->r), S(a->s), P(a->p), Q(a->q), sh(a->stride_h),
          sw(a->stride_w), ph(a->pad_h), pw(a->pad_w), RS(a->r * a->s), PQ(a->p * a->q), HW(a->h * a->w),
          dRS(a->r * a->s), dS(a->s), dPQ(a->p * a->q), dQ(a->q), dHW(a->h * a->w), dW(a->w), dSh(a->stride_h),
          dSw(a->stride_w) {}
};

// Cur3 walks a mixed-radix index v = (a*B + b)*C + c in steps of a fixed
// size: decoded once (two FastDivs for v, two for the step), then each step
// is three adds and two carries (b, c stay in range since each digit of the
// step is below its radix).
struct Cur3 {
    int a, b, c, da, db, dc;

    __device__ __forceinline__ static Cur3 make(int v, int step, const FastDiv& dBC, const FastDiv& dC) {
        Cur3 u;
        u.a = dBC.div(v);
        const int bc = v - u.a * dBC.d;
        u.b = dC.div(bc);
        u.c = bc - u.b * dC.d;
        u.da = dBC.div(step);
        const int sbc = step - u.da * dBC.d;
        u.db = dC.div(sbc);
        u.dc = sbc - u.db * dC.d;
        return u;
    }
    // next advances by the step; B and C are the radices.
    __device__ __forceinline__ void next(int B, int C) {
        c += dc;
        b += db;
        a += da;
        if (c >= C) {
            c -= C;
            ++b;
        }
        if (b >= B) {
            b -= B;
            ++a;
        }
    }
};

// Pix is a decoded output pixel (n, p, q) of the forward / backward-filter
// gathers: the offset of image n in x and the top-left input position of
// its receptive field.
struct Pix {
    long long base;
    int hb, wb;
};

__device__ __forceinline__ Pix decode_pix(const Geom& g, int m) {
    const int n = g.dPQ.div(m), pq = m - n * g.PQ;
    const int p = g.dQ.div(pq), q = pq - p * g.Q;
    Pix x;
    x.base = (long long)n * g.C * g.HW;
    x.hb = p * g.sh - g.ph;
    x.wb = q * g.sw - g.pw;
    return x;
}

// x_tap returns the address of x at pixel px through tap (c, r, s) = u and
// clears ok in the padding.
__device__ __forceinline__ const float* x_tap(const float* x, const Geom& g, const Pix& px, const Cur3& u,
                                              bool& ok) {
    const int h = px.hb + u.b, w = px.wb + u.c;
    ok = ok && (unsigned)h < (unsigned)g.H && (unsigned)w < (unsigned)g.W;
    return x + px.base + (long long)u.a * g.HW + (long long)h * g.W + w;
}

// XPatchSrc: the forward's A, element (m = (n,p,q), kk = (c,r,s)) of the
// implicit im2col of x; mn (output pixels) is contiguous in memory.
// Each loader thread keeps one pixel m and walks kk with a cursor.
struct XPatchSrc {
    static constexpr int kMode = STEP;
    static constexpr bool kFastK = false;
    const float* x;
    Geom g;

    __device__ __forceinline__ XPatchSrc bind(int) const { return *this; }
    __device__ __forceinline__ const float* safe() const { return x; }
    __device__ __forceinline__ Pix fix(int m) const { return decode_pix(g, m); }
    template <int STEP_>
    __device__ __forceinline__ Cur3 cur(int kk) const {
        return Cur3::make(kk, STEP_, g.dRS, g.dS);
    }
    template <int STEP_>
    __device__ __forceinline__ void next(Cur3& u) const {
        u.next(g.R, g.S);
    }
    __device__ __forceinline__ const float* at(const Pix& px, const Cur3& u, bool& ok) const {
        return x_tap(x, g, px, u, ok);
    }
};

// Backward data with stride (sh, sw) splits dx into sh*sw classes of pixels,
// (h + ph) % sh == ah and (w + pw) % sw == aw: a pixel of class (ah, aw) is
// reached only through the taps r = ah + i*sh, s = aw + iw*sw, and through
// tap (i, iw) pixel (h0 + j*sh, w0 + jw*sw) reads dy at p = bh + j - i,
// q = bw + jw - iw. Each class is an implicit GEMM of its own (the batch
// index of the engine), so no work is spent on the taps that miss the
// stride; with stride 1 there is one class, the whole convolution.
// SubGeom is one class; DgGeom the class-independent sizes: M =
// N*Hm*Wm (n,j,jw), K = K*Rm*Sm (k,i,iw), Hm = ceil(H/sh), Rm = ceil(R/sh).
struct SubGeom {
    int h0, w0, hc, wc;  // first pixel, pixels per column / row of the class
    int ah, aw, rc, sc;  // first tap, taps of the class
    int bh, bw;          // dy position of pixel (h0, w0) through tap (ah, aw)
};

struct DgGeom {
    Geom g;
    int Hm, Wm, Rm, Sm, HWm, RSm;
    FastDiv dHWm, dWm, dRSm, dSm;

    DgGeom() = default;
    explicit DgGeom(const Geom& geom)
        : g(geom), Hm(ceil_div(geom.H, geom.sh)), Wm(ceil_div(geom.W, geom.sw)), Rm(ceil_div(geom.R, geom.sh)),
          Sm(ceil_div(geom.S, geom.sw)), HWm(Hm * Wm), RSm(Rm * Sm), dHWm(Hm * Wm), dWm(Wm), dRSm(Rm * Sm),
          dSm(Sm) {}

    // sub returns class b = ah*sw + aw.
    __host__ __device__ __forceinline__ SubGeom sub(int b) const {
        SubGeom c;
        c.ah = b / g.sw;
        c.aw = b - c.ah * g.sw;
        c.h0 = ((c.ah - g.ph) % g.sh + g.sh) % g.sh;
        c.w0 = ((c.aw - g.pw) % g.sw + g.sw) % g.sw;
        c.hc = c.h0 < g.H ? (g.H - c.h0 + g.sh - 1) / g.sh : 0;
        c.wc = c.w0 < g.W ? (g.W - c.w0 + g.sw - 1) / g.sw : 0;
        c.rc = c.ah < g.R ? (g.R - c.ah + g.sh - 1) / g.sh : 0;
        c.sc = c.aw < g.S ? (g.S - c.aw + g.sw - 1) / g.sw : 0;
        c.bh = (c.h0 + g.ph - c.ah) / g.sh;  // exact, >= 0
        c.bw = (c.w0 + g.pw - c.aw) / g.sw;
        return c;
    }
};

// DyPatchSrc: backward data's A for one class, element (m = (n,j,jw),
// kk = (k,i,iw)) = dy[n, k, bh+j-i, bw+jw-iw] when the pixel, the tap and
// the dy position exist, else 0. mn (pixels) is contiguous in dy.
// Each loader thread keeps one pixel m and walks kk with a cursor.
struct DyPatchSrc {
    static constexpr int kMode = STEP;
    static constexpr bool kFastK = false;
    const float* dy;
    DgGeom d;
    SubGeom c;

    // Px is a decoded pixel (n, j, jw): the offset of image n in dy, its dy
    // position through tap (0, 0) and whether the class has the pixel.
    struct Px {
        long long base;
        int pb, qb;
        bool in;
    };

    __device__ __forceinline__ DyPatchSrc bind(int b) const {
        DyPatchSrc s = *this;
        s.c = d.sub(b);
        return s;
    }
    __device__ __forceinline__ const float* safe() const { return dy; }
    __device__ __forceinline__ Px fix(int m) const {
        const int n = d.dHWm.div(m), jj = m - n * d.HWm;
        const int j = d.dWm.div(jj), jw = jj - j * d.Wm;
        Px x;
        x.base = (long long)n * d.g.K * d.g.PQ;
        x.pb = c.bh + j;
        x.qb = c.bw + jw;
        x.in = j < c.hc && jw < c.wc;
        return x;
    }
    template <int STEP_>
    __device__ __forceinline__ Cur3 cur(int kk) const {
        return Cur3::make(kk, STEP_, d.dRSm, d.dSm);
    }
    template <int STEP_>
    __device__ __forceinline__ void next(Cur3& u) const {
        u.next(d.Rm, d.Sm);
    }
    // at: u = (k, i, iw).
    __device__ __forceinline__ const float* at(const Px& px, const Cur3& u, bool& ok) const {
        const int p = px.pb - u.b, q = px.qb - u.c;
        ok = ok && px.in && u.b < c.rc && u.c < c.sc && (unsigned)p < (unsigned)d.g.P &&
             (unsigned)q < (unsigned)d.g.Q;
        return dy + px.base + (long long)u.a * d.g.PQ + (long long)p * d.g.Q + q;
    }
};

// WTapSrc: backward data's B for one class, element (mn = c, kk = (k,i,iw))
// = w[k, c, ah + i*sh, aw + iw*sw] (0 for the taps the class lacks).
// Each loader thread keeps one kk (decoded once) and walks the channels.
struct WTapSrc {
    static constexpr int kMode = STEP;
    static constexpr bool kFastK = true;
    const float* w;
    DgGeom d;
    SubGeom c;

    // Tap is a decoded kk: the offset of w[k, 0, ah + i*sh, aw + iw*sw] and
    // whether the class has the tap.
    struct Tap {
        long long off;
        bool in;
    };

    __device__ __forceinline__ WTapSrc bind(int b) const {
        WTapSrc s = *this;
        s.c = d.sub(b);
        return s;
    }
    __device__ __forceinline__ const float* safe() const { return w; }
    __device__ __forceinline__ Tap fix(int kk) const {
        const int k = d.dRSm.div(kk), ii = kk - k * d.RSm;
        const int i = d.dSm.div(ii), iw = ii - i * d.Sm;
        Tap t;
        t.in = i < c.rc && iw < c.sc;
        t.off = (long long)k * d.g.C * d.g.RS + (long long)(c.ah + i * d.g.sh) * d.g.S + c.aw + iw * d.g.sw;
        return t;
    }
    template <int STEP_>
    __device__ __forceinline__ int cur(int ch) const {
        return ch;
    }
    template <int STEP_>
    __device__ __forceinline__ void next(int& ch) const {
        ch += STEP_;
    }
    __device__ __forceinline__ const float* at(const Tap& t, int ch, bool& ok) const {
        ok = ok && t.in;
        return w + t.off + (long long)ch * d.g.RS;
    }
};

// DxEpi scatters one class's GEMM result (row m = (n,j,jw), column = c)
// into dx [N,C,H,W] at pixel (h0 + j*sh, w0 + jw*sw).
struct DxEpi {
    float* dx;
    DgGeom d;
    SubGeom c;
    int m;

    __device__ __forceinline__ DxEpi bind(int b, int) const {
        DxEpi e = *this;
        e.c = d.sub(b);
        return e;
    }
    __device__ __forceinline__ void store2(int r, int col, float v0, float v1) const {
        if (r >= m) return;
        const int n = d.dHWm.div(r), jj = r - n * d.HWm;
        const int j = d.dWm.div(jj), jw = jj - j * d.Wm;
        if (j >= c.hc || jw >= c.wc) return;
        const long long plane = (long long)d.g.H * d.g.W;
        float* o = dx + ((long long)n * d.g.C + col) * plane + (long long)(c.h0 + j * d.g.sh) * d.g.W + c.w0 +
                   jw * d.g.sw;
        if (col < d.g.C) o[0] = v0;
        if (col + 1 < d.g.C) o[plane] = v1;
    }
};

// DyRowSrc: backward filter's A, element (mn = k, kk = (n,p,q)) = dy[n,k,p,q].
// Each loader thread keeps one kk (decoded once) and walks the channels k.
struct DyRowSrc {
    static constexpr int kMode = STEP;
    static constexpr bool kFastK = true;
    const float* dy;
    Geom g;

    __device__ __forceinline__ DyRowSrc bind(int) const { return *this; }
    __device__ __forceinline__ const float* safe() const { return dy; }
    // fix returns the offset of dy[n, 0, p, q] for kk = (n, p, q).
    __device__ __forceinline__ long long fix(int kk) const {
        const int n = g.dPQ.div(kk), pq = kk - n * g.PQ;
        return (long long)n * g.K * g.PQ + pq;
    }
    template <int STEP_>
    __device__ __forceinline__ int cur(int k) const {
        return k;
    }
    template <int STEP_>
    __device__ __forceinline__ void next(int& k) const {
        k += STEP_;
    }
    __device__ __forceinline__ const float* at(long long off, int k, bool&) const {
        return dy + off + (long long)k * g.PQ;
    }
};

// XTapSrc: backward filter's B, element (mn = (c,r,s), kk = (n,p,q)) =
// x[n, c, p*sh-ph+r, q*sw-pw+s] (0 in the padding).
// Each loader thread keeps one pixel kk (decoded once) and walks (c,r,s)
// with a cursor.
struct XTapSrc {
    static constexpr int kMode = STEP;
    static constexpr bool kFastK = true;
    const float* x;
    Geom g;

    __device__ __forceinline__ XTapSrc bind(int) const { return *this; }
    __device__ __forceinline__ const float* safe() const { return x; }
    __device__ __forceinline__ Pix fix(int kk) const { return decode_pix(g, kk); }
    template <int STEP_>
    __device__ __forceinline__ Cur3 cur(int crs) const {
        return Cur3::make(crs, STEP_, g.dRS, g.dS);
    }
    template <int STEP_>
    __device__ __forceinline__ void next(Cur3& u) const {
        u.next(g.R, g.S);
    }
    __device__ __forceinline__ const float* at(const Pix& px, const Cur3& u, bool& ok) const {
        return x_tap(x, g, px, u, ok);
    }
};

// NchwEpi scatters the GEMM result (row m = (n, pixel), column = channel)
// into an NCHW tensor with `pix` pixels per channel plane.
struct NchwEpi {
    float* y;
    int m, n, pix;
    FastDiv dpix;

    __device__ __forceinline__ NchwEpi bind(int, int) const { return *this; }
    __device__ __forceinline__ void store2(int r, int col, float v0, float v1) const {
        if (r >= m) return;
        const int img = dpix.div(r), px = r - img * pix;
        float* d = y + ((long long)img * n + col) * pix + px;
        if (col < n) d[0] = v0;
        if (col + 1 < n) d[pix] = v1;
    }
};

// RowEpi stores into a dense row-major [m, n] matrix.
struct RowEpi {
    float* y;
    int m, n;

    __device__ __forceinline__ RowEpi bind(int, int) const { return *this; }
    __device__ __forceinline__ void store2(int r, int col, float v0, float v1) const {
        if (r >= m) return;
        float* d = y + (long long)r * n + col;
        if (col < n) d[0] = v0;
        if (col + 1 < n) d[1] = v1;
    }
};

}  // namespace dense

#endif  // HAL_CONV_IMPLICIT_CUH
