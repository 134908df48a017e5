// wgmma.cu: the kernels of the sm_90a PTX module (wgmma.cuh).
// scripts/build-kernels.sh compiles this file to PTX only and embeds it in
// the library; jit.cuh has the driver compile it on Hopper GPUs and
// launches the kernels by name (its table kWgKernels lists them, with the
// shared memory each needs).
//
//   wgmma_gemm_tn            C = alpha * A B^T + beta * C, A [m][k] and B [n][k]
//                            (both K-major; batched by strides)
//   wgmma_gemm_nn            C^T = op(B)^T op(A)^T for C = A B with B [k][n]: op(B)^T
//                            in registers, A [m][k] in shared memory, C stored transposed
//   wgmma_gemm_tt            C = op(A) B^T with op(A) M-major (A [k][m], in registers)
//   wgmma_conv_fwd_n<BN>     the forward convolution (conv.cu), BN = 64, 128, 256
//   wgmma_conv_dgrad_n<BN>   the backward-data convolution, one class of pixels
//                            per batch index
#include "../conv_implicit.cuh"
#include "../wgmma.cuh"

using namespace dense;

extern "C" __global__ void __launch_bounds__(WgCfg::kThreads, 1)
    wgmma_gemm_tn(GemmArgs<DenseSrc<true>, DenseSrc<true>, GemmEpi> p) {
    wg_gemm_body(p);
}

#define WGMMA_RS_KERNEL(name, BN, ASrc, BSrc, Epi)                                                     \
    extern "C" __global__ void __launch_bounds__(WgRsCfg<BN>::kThreads, 1)                     \
        name(GemmArgs<ASrc, BSrc, Epi> p) {                                                     \
        wg_rs_body<BN>(p);                                                                      \
    }

WGMMA_RS_KERNEL(wgmma_gemm_nn, 256, DenseSrc<false>, DenseSrc<true>, GemmEpiT)
WGMMA_RS_KERNEL(wgmma_gemm_tt, 256, DenseSrc<false>, DenseSrc<true>, GemmEpi)
WGMMA_RS_KERNEL(wgmma_conv_fwd_n64, 64, XPatchSrc, DenseSrc<true>, NchwEpi)
WGMMA_RS_KERNEL(wgmma_conv_fwd_n128, 128, XPatchSrc, DenseSrc<true>, NchwEpi)
WGMMA_RS_KERNEL(wgmma_conv_fwd_n256, 256, XPatchSrc, DenseSrc<true>, NchwEpi)
WGMMA_RS_KERNEL(wgmma_conv_dgrad_n64, 64, DyPatchSrc, WTapSrc, DxEpi)
WGMMA_RS_KERNEL(wgmma_conv_dgrad_n128, 128, DyPatchSrc, WTapSrc, DxEpi)
WGMMA_RS_KERNEL(wgmma_conv_dgrad_n256, 256, DyPatchSrc, WTapSrc, DxEpi)
