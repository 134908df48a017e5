// wgmma.cu: the kernels of the sm_90a PTX module (f1_wgmma.cuh).
// scripts/build-kernels.sh compiles this file to PTX only and embeds it in
// the library; f1_jit.cuh has the driver compile it on Hopper GPUs and
// launches the kernels by name (its table kWgKernels lists them, with the
// shared memory each needs).
//
//   f1_wg_gemm_tn            C = alpha * A B^T + beta * C, A [m][k] and B [n][k]
//                            (both K-major; batched by strides)
//   f1_wg_gemm_nn            C^T = op(B)^T op(A)^T for C = A B with B [k][n]: op(B)^T
//                            in registers, A [m][k] in shared memory, C stored transposed
//   f1_wg_gemm_tt            C = op(A) B^T with op(A) M-major (A [k][m], in registers)
//   f1_wg_conv_fwd_n<BN>     the forward convolution (conv.cu), BN = 64, 128, 256
//   f1_wg_conv_dgrad_n<BN>   the backward-data convolution, one class of pixels
//                            per batch index
#include "../f1_conv.cuh"
#include "../f1_wgmma.cuh"

using namespace f1;

extern "C" __global__ void __launch_bounds__(WgCfg::kThreads, 1)
    f1_wg_gemm_tn(GemmArgs<DenseSrc<true>, DenseSrc<true>, GemmEpi> p) {
    wg_gemm_body(p);
}

#define F1_WG_RS(name, BN, ASrc, BSrc, Epi)                                                     \
    extern "C" __global__ void __launch_bounds__(WgRsCfg<BN>::kThreads, 1)                     \
        name(GemmArgs<ASrc, BSrc, Epi> p) {                                                     \
        wg_rs_body<BN>(p);                                                                      \
    }

F1_WG_RS(f1_wg_gemm_nn, 256, DenseSrc<false>, DenseSrc<true>, GemmEpiT)
F1_WG_RS(f1_wg_gemm_tt, 256, DenseSrc<false>, DenseSrc<true>, GemmEpi)
F1_WG_RS(f1_wg_conv_fwd_n64, 64, XPatchSrc, DenseSrc<true>, NchwEpi)
F1_WG_RS(f1_wg_conv_fwd_n128, 128, XPatchSrc, DenseSrc<true>, NchwEpi)
F1_WG_RS(f1_wg_conv_fwd_n256, 256, XPatchSrc, DenseSrc<true>, NchwEpi)
F1_WG_RS(f1_wg_conv_dgrad_n64, 64, DyPatchSrc, WTapSrc, DxEpi)
F1_WG_RS(f1_wg_conv_dgrad_n128, 128, DyPatchSrc, WTapSrc, DxEpi)
F1_WG_RS(f1_wg_conv_dgrad_n256, 256, DyPatchSrc, WTapSrc, DxEpi)
