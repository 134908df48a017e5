// loss.cu: row L2 normalisation (forward and backward) and the softmax
// cross-entropy with integer labels (loss and gradient in one pass per row,
// then a fixed-order mean). One block per row; the block size follows the
// row length.
#include "hal_util.cuh"

namespace {

// threads_for returns the block size for rows of n values.
int threads_for(int n) {
    if (n <= 64) return 32;
    if (n <= 512) return 128;
    return 256;
}

__global__ void l2norm_fwd(const float* __restrict__ x, float* __restrict__ y, float* __restrict__ norms, int n,
                           float eps) {
    __shared__ float sh[32];
    const long long off = (long long)blockIdx.x * n;
    const float* xr = x + off;
    float ss = 0.f;
    for (int j = threadIdx.x; j < n; j += blockDim.x) ss += xr[j] * xr[j];
    ss = hal::block_sum(ss, sh);
    const float nrm = fmaxf(sqrtf(ss), eps);
    for (int j = threadIdx.x; j < n; j += blockDim.x) y[off + j] = xr[j] / nrm;
    if (threadIdx.x == 0) norms[blockIdx.x] = nrm;
}

// dx = (dy - y*<y, dy>) / norm, or dy / norm for clamped norms; dx may
// alias dy (every dy of the row is read before any dx is written, and each
// thread rewrites only the values it read).
__global__ void l2norm_bwd(const float* __restrict__ y, const float* __restrict__ norms, const float* dy,
                           float* dx, int n, float eps) {
    __shared__ float sh[32];
    const long long off = (long long)blockIdx.x * n;
    const float nrm = norms[blockIdx.x];
    const bool clamped = nrm <= eps;
    float dot = 0.f;
    if (!clamped) {
        for (int j = threadIdx.x; j < n; j += blockDim.x) dot += y[off + j] * dy[off + j];
        dot = hal::block_sum(dot, sh);
    }
    const float inv = 1.f / nrm;
    for (int j = threadIdx.x; j < n; j += blockDim.x) dx[off + j] = (dy[off + j] - y[off + j] * dot) * inv;
}

// Per row: rowloss[i] = logsumexp(row) - row[label]; dlogits row = (softmax -
// onehot) / n when dlogits is not NULL. An out-of-range label gives NaN.
__global__ void softmax_ce_rows(const float* __restrict__ logits, const int* __restrict__ labels,
                                float* __restrict__ dlogits, double* __restrict__ rowloss, int n, int c) {
    __shared__ float sh[32];
    const long long off = (long long)blockIdx.x * c;
    const float* r = logits + off;
    const int lab = labels[blockIdx.x];
    const bool ok = lab >= 0 && lab < c;
    float mx = -INFINITY;
    for (int j = threadIdx.x; j < c; j += blockDim.x) mx = fmaxf(mx, r[j]);
    mx = hal::block_max(mx, sh);
    float z = 0.f;
    for (int j = threadIdx.x; j < c; j += blockDim.x) z += expf(r[j] - mx);
    z = hal::block_sum(z, sh);
    const float lse = mx + logf(z);
    if (threadIdx.x == 0) rowloss[blockIdx.x] = ok ? (double)lse - (double)r[lab] : (double)NAN;
    if (dlogits != nullptr) {
        const float inv_n = 1.f / (float)n;
        for (int j = threadIdx.x; j < c; j += blockDim.x) {
            float g = expf(r[j] - lse);
            if (j == lab) g -= 1.f;
            dlogits[off + j] = ok ? g * inv_n : NAN;
        }
    }
}

// loss [1] = mean of rowloss [n]; one block.
__global__ void mean_final(const double* __restrict__ rowloss, int n, float* __restrict__ loss) {
    __shared__ double sh[32];
    double acc = 0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) acc += rowloss[i];
    acc = hal::block_sum(acc, sh);
    if (threadIdx.x == 0) loss[0] = (float)(acc / n);
}

}  // namespace

extern "C" {

int hal_l2norm_rows(void* stream, const float* x, float* y, float* norms, int m, int n, float eps) {
    HAL_REQUIRE(m >= 0 && n >= 0 && eps >= 0.f);
    if (m == 0) return 0;
    HAL_REQUIRE(x != nullptr || n == 0);
    HAL_REQUIRE(y != nullptr || n == 0);
    HAL_REQUIRE(norms != nullptr);
    HAL_LAUNCH(l2norm_fwd, m, threads_for(n), 0, hal::stream_of(stream), x, y, norms, n, eps);
    return hal::launched();
}

int hal_l2norm_rows_bwd(void* stream, const float* y, const float* norms, const float* dy, float* dx, int m,
                        int n, float eps) {
    HAL_REQUIRE(m >= 0 && n >= 0 && eps >= 0.f);
    if (m == 0 || n == 0) return 0;
    HAL_REQUIRE(y != nullptr && norms != nullptr && dy != nullptr && dx != nullptr);
    HAL_LAUNCH(l2norm_bwd, m, threads_for(n), 0, hal::stream_of(stream), y, norms, dy, dx, n, eps);
    return hal::launched();
}

size_t hal_softmax_ce_workspace(int n, int c) {
    (void)c;
    return n > 0 ? (size_t)n * sizeof(double) : 0;
}

int hal_softmax_ce(void* stream, const float* logits, const int* labels, float* loss, float* dlogits, int n,
                   int c, void* workspace) {
    HAL_REQUIRE(n >= 1 && c >= 1);
    HAL_REQUIRE(logits != nullptr && labels != nullptr && loss != nullptr && workspace != nullptr);
    cudaStream_t s = hal::stream_of(stream);
    double* rowloss = static_cast<double*>(workspace);
    HAL_LAUNCH(softmax_ce_rows, n, threads_for(c), 0, s, logits, labels, dlogits, rowloss, n, c);
    HAL_LAUNCH(mean_final, 1, 1024, 0, s, rowloss, n, loss);
    return hal::launched();
}

}  // extern "C"
