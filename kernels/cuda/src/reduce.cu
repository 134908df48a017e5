// reduce.cu: sums. The sum of a whole tensor (two levels through a
// workspace), column sums and row sums of a matrix, the bias gradient, and
// the sums of squares of many tensors in one launch. Every reduction uses a
// fixed partition and a fixed tree, so results are identical from run to run
// (no atomics).
#include "hal_util.cuh"

namespace {

using hal::kThreads;

// The most first-level blocks of hal_sum (the workspace holds one double each).
constexpr int kSumBlocks = 1024;
constexpr int kSumFinalThreads = 1024;

// partial[blockIdx.x] = sum of the block's grid-stride share of x [n].
__global__ void sum_partial(const float* __restrict__ x, long long n, double* __restrict__ partial) {
    __shared__ double sh[32];
    double acc = 0;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        acc += x[i];
    acc = hal::block_sum(acc, sh);
    if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

// y [1] = sum of partial [k]; one block.
__global__ void sum_final(const double* __restrict__ partial, int k, float* __restrict__ y) {
    __shared__ double sh[32];
    double acc = 0;
    for (int i = threadIdx.x; i < k; i += blockDim.x) acc += partial[i];
    acc = hal::block_sum(acc, sh);
    if (threadIdx.x == 0) y[0] = (float)acc;
}

// Column sums of x [m, n]: block (32, kRowLanes) owns 32 columns; lane
// (tx, ty) sums rows ty, ty+kRowLanes, ... of column tx; the lanes of a
// column are then added in a fixed order through shared memory.
constexpr int kRowLanes = 16;
__global__ void col_sums(const float* __restrict__ x, int m, int n, float* __restrict__ y) {
    __shared__ float sh[kRowLanes][33];
    const int j = blockIdx.x * 32 + threadIdx.x;
    float acc = 0.f;
    if (j < n)
        for (int i = threadIdx.y; i < m; i += kRowLanes) acc += x[(long long)i * n + j];
    sh[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    // Tree over the kRowLanes partials of each column.
    for (int s = kRowLanes / 2; s > 0; s >>= 1) {
        if (threadIdx.y < s) sh[threadIdx.y][threadIdx.x] += sh[threadIdx.y + s][threadIdx.x];
        __syncthreads();
    }
    if (threadIdx.y == 0 && j < n) y[j] = sh[0][threadIdx.x];
}

// Row sums of x [m, n], one warp per row (short rows).
__global__ void row_sums_warp(const float* __restrict__ x, int m, int n, float* __restrict__ y) {
    const int lane = threadIdx.x & 31;
    const long long row = (long long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (row >= m) return;  // whole warps leave together
    const float* r = x + row * n;
    float acc = 0.f;
    for (int j = lane; j < n; j += 32) acc += r[j];
    acc = hal::warp_sum(acc);
    if (lane == 0) y[row] = acc;
}

// Row sums of x [m, n], one block per row (long rows).
__global__ void row_sums_block(const float* __restrict__ x, int n, float* __restrict__ y) {
    __shared__ float sh[32];
    const float* r = x + (long long)blockIdx.x * n;
    float acc = 0.f;
    for (int j = threadIdx.x; j < n; j += blockDim.x) acc += r[j];
    acc = hal::block_sum(acc, sh);
    if (threadIdx.x == 0) y[blockIdx.x] = acc;
}

// db [c] = sum over o, i of dy [outer, c, inner]; one block per channel.
__global__ void bias_grad_kernel(const float* __restrict__ dy, long long outer, int c, long long inner,
                                 float* __restrict__ db) {
    __shared__ float sh[32];
    const int ch = blockIdx.x;
    const long long per = outer * inner;
    float acc = 0.f;
    for (long long j = threadIdx.x; j < per; j += blockDim.x) {
        const long long o = j / inner, i = j - o * inner;
        acc += dy[(o * c + ch) * inner + i];
    }
    acc = hal::block_sum(acc, sh);
    if (threadIdx.x == 0) db[ch] = acc;
}

// First level of the multi-tensor sums of squares: for the block's chunk,
// part[2*b] = sum of p^2 and, when with_g, part[2*b+1] = sum of g^2.
__global__ void mt_sumsq_partial(const hal_mt_tensor* __restrict__ list, int count, bool with_g,
                                 double* __restrict__ part) {
    __shared__ int sh_t;
    __shared__ double sh[32];
    const hal::MTChunk c = hal::mt_chunk(list, count, &sh_t);
    const float* p = list[c.t].p;
    const float* g = list[c.t].g;
    double ap = 0, ag = 0;
    for (long long i = c.begin + threadIdx.x; i < c.end; i += blockDim.x) {
        const float v = p[i];
        ap += (double)v * v;
        if (with_g) {
            const float w = g[i];
            ag += (double)w * w;
        }
    }
    ap = hal::block_sum(ap, sh);
    if (with_g) ag = hal::block_sum(ag, sh);
    if (threadIdx.x == 0) {
        part[2 * (long long)blockIdx.x] = ap;
        part[2 * (long long)blockIdx.x + 1] = ag;
    }
}

// Second level: out[t] = sum of part[2*b + which] over the chunks of entry
// t; one block per entry.
__global__ void mt_sumsq_final(const hal_mt_tensor* __restrict__ list, const double* __restrict__ part,
                               float* __restrict__ out) {
    __shared__ double sh[32];
    const int t = blockIdx.x;
    const int first = list[t].chunk_start;
    const int k = (int)((list[t].n + HAL_MT_CHUNK - 1) / HAL_MT_CHUNK);
    double acc = 0;
    for (int i = threadIdx.x; i < k; i += blockDim.x) acc += part[2 * (long long)(first + i)];
    acc = hal::block_sum(acc, sh);
    if (threadIdx.x == 0) out[t] = (float)acc;
}

}  // namespace

extern "C" {

size_t hal_sum_workspace(long long n) {
    (void)n;
    return kSumBlocks * sizeof(double);
}

int hal_sum(void* stream, const float* x, long long n, float* y, void* workspace) {
    HAL_REQUIRE(n >= 0 && y != nullptr && workspace != nullptr);
    HAL_REQUIRE(n == 0 || x != nullptr);
    cudaStream_t s = hal::stream_of(stream);
    long long blocks = (n + kThreads * 8LL - 1) / (kThreads * 8LL);
    if (blocks < 1) blocks = 1;
    if (blocks > kSumBlocks) blocks = kSumBlocks;
    double* part = static_cast<double*>(workspace);
    HAL_LAUNCH(sum_partial, (int)blocks, kThreads, 0, s, x, n, part);
    HAL_LAUNCH(sum_final, 1, kSumFinalThreads, 0, s, part, (int)blocks, y);
    return hal::launched();
}

int hal_sum_rows(void* stream, const float* x, int m, int n, float* y) {
    HAL_REQUIRE(m >= 0 && n >= 0);
    if (n == 0) return 0;
    HAL_REQUIRE(x != nullptr || m == 0);
    HAL_REQUIRE(y != nullptr);
    dim3 block(32, kRowLanes);
    HAL_LAUNCH(col_sums, (n + 31) / 32, block, 0, hal::stream_of(stream), x, m, n, y);
    return hal::launched();
}

int hal_sum_cols(void* stream, const float* x, int m, int n, float* y) {
    HAL_REQUIRE(m >= 0 && n >= 0);
    if (m == 0) return 0;
    HAL_REQUIRE(y != nullptr);
    HAL_REQUIRE(x != nullptr || n == 0);
    cudaStream_t s = hal::stream_of(stream);
    if (n <= 2048) {
        const int warps = kThreads / 32;
        HAL_LAUNCH(row_sums_warp, (m + warps - 1) / warps, kThreads, 0, s, x, m, n, y);
    } else {
        HAL_LAUNCH(row_sums_block, m, kThreads, 0, s, x, n, y);
    }
    return hal::launched();
}

int hal_bias_grad(void* stream, const float* dy, float* db, long long outer, int c, long long inner) {
    HAL_REQUIRE(outer >= 0 && c >= 0 && inner >= 0);
    if (c == 0) return 0;
    HAL_REQUIRE(db != nullptr);
    HAL_REQUIRE(dy != nullptr || outer == 0 || inner == 0);
    if (inner == 1 && outer <= 0x7fffffffLL) return hal_sum_rows(stream, dy, (int)outer, c, db);
    HAL_LAUNCH(bias_grad_kernel, c, kThreads, 0, hal::stream_of(stream), dy, outer, c, inner, db);
    return hal::launched();
}

size_t hal_mt_workspace(int count, int nchunks) {
    if (count < 0 || nchunks < 0) return 0;
    return (2 * (size_t)nchunks + (size_t)count) * sizeof(double);
}

int hal_sum_squares(void* stream, const hal_mt_tensor* list, int count, int nchunks, float* out,
                    void* workspace) {
    HAL_REQUIRE(hal::mt_valid(list, count, nchunks) && out != nullptr && workspace != nullptr);
    cudaStream_t s = hal::stream_of(stream);
    double* part = static_cast<double*>(workspace);
    if (nchunks > 0) HAL_LAUNCH(mt_sumsq_partial, nchunks, kThreads, 0, s, list, count, false, part);
    HAL_LAUNCH(mt_sumsq_final, count, kThreads, 0, s, list, part, out);
    return hal::launched();
}

}  // extern "C"
