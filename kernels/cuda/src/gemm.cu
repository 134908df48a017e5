// gemm.cu: hal_gemm, the batched row-major GEMM
//   C[b] = alpha * op(A[b]) op(B[b]) + beta * C[b]   (beta == 0: C not read)
// on the engine of gemm_engine.cuh: TF32 tensor cores (mma.sync) when args->tf32,
// exact FP32 otherwise; large TF32 products on Hopper run on the wgmma
// engine of wgmma.cuh instead (jit.cuh). Transposes are absorbed by the
// shared-memory loaders: op(A) [m, k] is A [m, lda] (k contiguous) or A^T
// with A [k, lda]; op(B) [k, n] is B [k, ldb] or B^T with B [n, ldb].
#include "gemm_engine.cuh"
#include "jit.cuh"
#include "hal.h"

namespace {

using namespace dense;

template <bool AK, bool BK>
cudaError_t dispatch(cudaStream_t st, const float* A, const float* B, float* C, const hal_gemm_args* a) {
    GemmProblem<DenseSrc<AK>, DenseSrc<BK>, GemmEpi> pr;
    pr.m = a->m;
    pr.n = a->n;
    pr.k = a->k;
    pr.batch = a->batch;
    // A: op(A)(m, k). Not transposed: A[m*lda + k] (k fast); transposed: A[k*lda + m].
    pr.a = dense_src<AK>(A, a->lda, a->strideA);
    // B: op(B)(k, n) read as element (mn = n, k). Not transposed: B[k*ldb + n]; transposed: B[n*ldb + k].
    pr.b = dense_src<BK>(B, a->ldb, a->strideB);
    pr.epi.c = C;
    pr.epi.ldc = a->ldc;
    pr.epi.stride = a->strideC;
    pr.epi.m = a->m;
    pr.epi.n = a->n;
    pr.epi.alpha = a->alpha;
    pr.epi.beta = a->beta;
    if (a->tf32) {
        bool done = false;
        const cudaError_t err = wg_try_gemm(st, pr, &done);
        if (done || err != cudaSuccess) return err;
    }
    return run_gemm(st, a->tf32 != 0, pr);
}

// can_implement checks the arguments of hal_gemm.
bool can_implement(const float* A, const float* B, const float* C, const hal_gemm_args* a) {
    if (a == nullptr) return false;
    if ((a->transA != 0 && a->transA != 1) || (a->transB != 0 && a->transB != 1)) return false;
    if (a->m < 0 || a->n < 0 || a->k < 0 || a->batch < 1) return false;
    if (a->strideA < 0 || a->strideB < 0 || a->strideC < 0) return false;
    if (a->m == 0 || a->n == 0) return true;
    // Leading dimensions: the length of a stored row at least (A and B only when read).
    const int rowA = a->transA ? a->m : a->k, rowB = a->transB ? a->k : a->n;
    if (a->ldc < a->n || C == nullptr) return false;
    if (a->k == 0) return true;  // A and B are not read
    if (a->lda < (rowA > 1 ? rowA : 1) || a->ldb < (rowB > 1 ? rowB : 1)) return false;
    return A != nullptr && B != nullptr;
}

}  // namespace

extern "C" int hal_gemm(void* stream, const float* A, const float* B, float* C, const hal_gemm_args* a) {
    if (!can_implement(A, B, C, a)) return (int)cudaErrorInvalidValue;
    if (a->m == 0 || a->n == 0) return 0;
    const cudaStream_t st = (cudaStream_t)stream;
    if (!a->transA && !a->transB) return (int)dispatch<true, false>(st, A, B, C, a);
    if (!a->transA && a->transB) return (int)dispatch<true, true>(st, A, B, C, a);
    if (a->transA && !a->transB) return (int)dispatch<false, false>(st, A, B, C, a);
    return (int)dispatch<false, true>(st, A, B, C, a);
}

extern "C" int hal_gemm_engine(char* buf, int len) {
    if (buf == nullptr || len <= 0) return (int)cudaErrorInvalidValue;
    dense::wg_engine(buf, len);
    return 0;
}
