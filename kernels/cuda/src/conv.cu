// conv.cu: 2-D convolutions (groups 1, no dilation) as implicit GEMMs on the
// engine of gemm_engine.cuh; no im2col buffer is ever written, the loaders gather
// the image patches tile by tile (zero outside the padded image).
//
//   forward      y [N,K,P,Q]:  M = N*P*Q (n,p,q)  N = K      K = C*R*S (c,r,s)
//                A(m,kk) = x[n, c, p*sh-ph+r, q*sw-pw+s]     B(kk,k) = w[k, c, r, s]
//   bwd data     dx [N,C,H,W]: one GEMM per class of pixels (h+ph)%sh, (w+pw)%sw
//                (see SubGeom): M = N*ceil(H/sh)*ceil(W/sw)  N = C
//                K = K*ceil(R/sh)*ceil(S/sw), only the taps that reach the class:
//                A(m,kk) = dy[n, k, (h+ph-r)/sh, (w+pw-s)/sw] (0 outside dy)
//                B(kk,c) = w[k, c, r, s]
//   bwd filter   dw [K,C,R,S]: M = K              N = C*R*S  K = N*P*Q (n,p,q)
//                A(k,kk) = dy[n, k, p, q]     B(kk,crs) = x[n, c, p*sh-ph+r, q*sw-pw+s]
//                (the long reduction is split across blocks and summed in a fixed
//                order, so dw is deterministic)
// On Hopper the TF32 forward and backward-data products run on the wgmma
// engine's register-A kernels (wgmma.cuh, jit.cuh) where they suit it.
// Index decoding: each loader thread decodes its fixed index once per tile
// (FastDiv) and walks the other with a cursor (Cur3); every index fits in
// int (checked).
#include "conv_implicit.cuh"
#include "gemm_engine.cuh"
#include "jit.cuh"
#include "hal.h"

namespace {

using namespace dense;

// can_implement checks a convolution's sizes: all positive, the output size
// consistent, every GEMM extent (plus a tile) inside int.
bool can_implement(const hal_conv_args* a, const void* p0, const void* p1, const void* p2) {
    if (a == nullptr || p0 == nullptr || p1 == nullptr || p2 == nullptr) return false;
    if (a->n < 1 || a->c < 1 || a->h < 1 || a->w < 1 || a->k < 1 || a->r < 1 || a->s < 1) return false;
    if (a->stride_h < 1 || a->stride_w < 1 || a->pad_h < 0 || a->pad_w < 0) return false;
    if (a->h + 2 * (long long)a->pad_h < a->r || a->w + 2 * (long long)a->pad_w < a->s) return false;
    if (a->p != (a->h + 2 * a->pad_h - a->r) / a->stride_h + 1) return false;
    if (a->q != (a->w + 2 * a->pad_w - a->s) / a->stride_w + 1) return false;
    const long long lim = 0x7fffffffLL - 1024;
    const long long npq = (long long)a->n * a->p * a->q, nhw = (long long)a->n * a->h * a->w;
    const long long crs = (long long)a->c * a->r * a->s, krs = (long long)a->k * a->r * a->s;
    if (npq > lim || nhw > lim || crs > lim || krs > lim) return false;
    // The taps' offsets from a pixel stay inside int too.
    if ((long long)a->h + a->pad_h + a->r > lim || (long long)a->w + a->pad_w + a->s > lim) return false;
    if ((long long)a->p * a->stride_h + a->r > lim || (long long)a->q * a->stride_w + a->s > lim) return false;
    return true;
}

}  // namespace

extern "C" int hal_conv2d_fwd(void* stream, const float* x, const float* w, float* y, const hal_conv_args* a) {
    if (!can_implement(a, x, w, y)) return (int)cudaErrorInvalidValue;
    const Geom g(a);
    GemmProblem<XPatchSrc, DenseSrc<true>, NchwEpi> pr;
    pr.m = g.N * g.PQ;
    pr.n = g.K;
    pr.k = g.C * g.RS;
    pr.batch = 1;
    pr.a.x = x;
    pr.a.g = g;
    pr.b = dense_src<true>(w, (long long)g.C * g.RS, 0);  // w [K, C*R*S]
    pr.epi.y = y;
    pr.epi.m = pr.m;
    pr.epi.n = g.K;
    pr.epi.pix = g.PQ;
    pr.epi.dpix = FastDiv(g.PQ);
    if (a->tf32) {
        bool done = false;
        const cudaError_t err = wg_try_rs((cudaStream_t)stream, pr, WG_FWD_N64, 1, &done);
        if (done || err != cudaSuccess) return (int)err;
    }
    return (int)run_gemm((cudaStream_t)stream, a->tf32 != 0, pr);
}

extern "C" int hal_conv2d_bwd_data(void* stream, const float* dy, const float* w, float* dx,
                                   const hal_conv_args* a) {
    if (!can_implement(a, dy, w, dx)) return (int)cudaErrorInvalidValue;
    if ((long long)a->stride_h * a->stride_w > 0x3fffffffLL) return (int)cudaErrorInvalidValue;
    const Geom g(a);
    const DgGeom d(g);
    GemmProblem<DyPatchSrc, WTapSrc, DxEpi> pr;
    pr.m = g.N * d.HWm;
    pr.n = g.C;
    pr.k = g.K * d.RSm;
    pr.batch = g.sh * g.sw;  // one class of pixels per batch index
    pr.a.dy = dy;
    pr.a.d = d;
    pr.b.w = w;
    pr.b.d = d;
    pr.epi.dx = dx;
    pr.epi.d = d;
    pr.epi.m = pr.m;
    if (a->tf32) {
        bool done = false;
        // On an H100 the wgmma kernels were 1.5x faster than mma.sync for
        // 128 to 512 channels and up to 10 % slower for 64.
        const cudaError_t err = wg_try_rs((cudaStream_t)stream, pr, WG_DGRAD_N64, 65, &done);
        if (done || err != cudaSuccess) return (int)err;
    }
    return (int)run_gemm((cudaStream_t)stream, a->tf32 != 0, pr);
}

extern "C" int hal_conv2d_bwd_filter(void* stream, const float* x, const float* dy, float* dw,
                                     const hal_conv_args* a) {
    if (!can_implement(a, x, dy, dw)) return (int)cudaErrorInvalidValue;
    const Geom g(a);
    GemmProblem<DyRowSrc, XTapSrc, RowEpi> pr;
    pr.m = g.K;
    pr.n = g.C * g.RS;
    pr.k = g.N * g.PQ;
    pr.batch = 1;
    pr.a.dy = dy;
    pr.a.g = g;
    pr.b.x = x;
    pr.b.g = g;
    pr.epi.y = dw;
    pr.epi.m = g.K;
    pr.epi.n = pr.n;
    return (int)run_gemm((cudaStream_t)stream, a->tf32 != 0, pr);
}
