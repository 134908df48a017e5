// pool.cu: max pooling (forward, and a deterministic gather backward that
// routes each window's gradient to the first row-major position of its
// maximum) and global average pooling (forward and backward).
#include "hal_util.cuh"

namespace {

using hal::kThreads;

bool pool_ok(const hal_pool_args* a) {
    if (a == nullptr) return false;
    if (a->n < 0 || a->c < 0 || a->h < 1 || a->w < 1 || a->kh < 1 || a->kw < 1 || a->stride_h < 1 ||
        a->stride_w < 1 || a->pad_h < 0 || a->pad_w < 0 || a->pad_h >= a->kh || a->pad_w >= a->kw)
        return false;
    if (a->h + 2 * a->pad_h < a->kh || a->w + 2 * a->pad_w < a->kw) return false;
    return a->p == (a->h + 2 * a->pad_h - a->kh) / a->stride_h + 1 &&
           a->q == (a->w + 2 * a->pad_w - a->kw) / a->stride_w + 1;
}

// window_argmax returns the plane index of the first row-major maximum of
// the window of output cell (oh, ow), padded cells never winning (every
// window holds a real cell because pad < kernel), and writes the maximum.
__device__ __forceinline__ int window_argmax(const float* __restrict__ plane, const hal_pool_args& a, int oh,
                                             int ow, float* best_out) {
    float best = 0.f;
    int at = -1;
    const int h0 = oh * a.stride_h - a.pad_h, w0 = ow * a.stride_w - a.pad_w;
    for (int r = 0; r < a.kh; ++r) {
        const int ih = h0 + r;
        if (ih < 0 || ih >= a.h) continue;
        for (int s = 0; s < a.kw; ++s) {
            const int iw = w0 + s;
            if (iw < 0 || iw >= a.w) continue;
            const float v = plane[ih * a.w + iw];
            if (at < 0 || v > best) {
                best = v;
                at = ih * a.w + iw;
            }
        }
    }
    *best_out = best;
    return at;
}

// One thread per output cell.
__global__ void maxpool_fwd(const float* __restrict__ x, float* __restrict__ y, hal_pool_args a, long long total) {
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        const int ow = (int)(i % a.q);
        const long long t = i / a.q;
        const int oh = (int)(t % a.p);
        const long long plane = t / a.p;
        float best;
        window_argmax(x + plane * a.h * a.w, a, oh, ow, &best);
        y[i] = best;
    }
}

// One thread per input cell: sums dy over the windows that contain the cell
// and whose first maximum it is, in a fixed order.
__global__ void maxpool_bwd(const float* __restrict__ x, const float* __restrict__ y, const float* __restrict__ dy,
                            float* __restrict__ dx, hal_pool_args a, long long total) {
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        const int iw = (int)(i % a.w);
        const long long t = i / a.w;
        const int ih = (int)(t % a.h);
        const long long plane = t / a.h;
        const float* xp = x + plane * a.h * a.w;
        const float* yp = y + plane * a.p * a.q;
        const float* gp = dy + plane * a.p * a.q;
        const float v = xp[ih * a.w + iw];
        // Windows oh with oh*sh - ph <= ih <= oh*sh - ph + kh - 1.
        const int hn = ih + a.pad_h - a.kh + 1, wn = iw + a.pad_w - a.kw + 1;
        const int oh0 = max(0, hn <= 0 ? 0 : (hn + a.stride_h - 1) / a.stride_h);
        const int oh1 = min(a.p - 1, (ih + a.pad_h) / a.stride_h);
        const int ow0 = max(0, wn <= 0 ? 0 : (wn + a.stride_w - 1) / a.stride_w);
        const int ow1 = min(a.q - 1, (iw + a.pad_w) / a.stride_w);
        float acc = 0.f;
        for (int oh = oh0; oh <= oh1; ++oh)
            for (int ow = ow0; ow <= ow1; ++ow) {
                // A cell below the window's maximum cannot be its argmax.
                if (v < yp[oh * a.q + ow]) continue;
                float best;
                if (window_argmax(xp, a, oh, ow, &best) == ih * a.w + iw) acc += gp[oh * a.q + ow];
            }
        dx[i] = acc;
    }
}

// y [nc] = mean of x [nc, hw]: one warp per row.
__global__ void avg_rows_warp(const float* __restrict__ x, long long nc, int hw, float* __restrict__ y) {
    const int lane = threadIdx.x & 31;
    const long long row = (long long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (row >= nc) return;
    const float* r = x + row * hw;
    float acc = 0.f;
    for (int j = lane; j < hw; j += 32) acc += r[j];
    acc = hal::warp_sum(acc);
    if (lane == 0) y[row] = acc / (float)hw;
}

// The same with one block per row (large planes).
__global__ void avg_rows_block(const float* __restrict__ x, int hw, float* __restrict__ y) {
    __shared__ float sh[32];
    const float* r = x + (long long)blockIdx.x * hw;
    float acc = 0.f;
    for (int j = threadIdx.x; j < hw; j += blockDim.x) acc += r[j];
    acc = hal::block_sum(acc, sh);
    if (threadIdx.x == 0) y[blockIdx.x] = acc / (float)hw;
}

// dx [nc, hw] = dy [nc] / hw.
__global__ void avg_bwd(const float* __restrict__ dy, float* __restrict__ dx, long long total, int hw) {
    const float inv = 1.f / (float)hw;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x)
        dx[i] = dy[i / hw] * inv;
}

}  // namespace

extern "C" {

int hal_maxpool_fwd(void* stream, const float* x, float* y, const hal_pool_args* a) {
    HAL_REQUIRE(pool_ok(a));
    const long long total = (long long)a->n * a->c * a->p * a->q;
    if (total == 0) return 0;
    HAL_REQUIRE(x != nullptr && y != nullptr);
    HAL_LAUNCH(maxpool_fwd, hal::blocks_for(total, kThreads), kThreads, 0, hal::stream_of(stream), x, y, *a, total);
    return hal::launched();
}

int hal_maxpool_bwd(void* stream, const float* x, const float* y, const float* dy, float* dx,
                    const hal_pool_args* a) {
    HAL_REQUIRE(pool_ok(a));
    const long long total = (long long)a->n * a->c * a->h * a->w;
    if (total == 0) return 0;
    HAL_REQUIRE(x != nullptr && y != nullptr && dy != nullptr && dx != nullptr);
    HAL_LAUNCH(maxpool_bwd, hal::blocks_for(total, kThreads), kThreads, 0, hal::stream_of(stream), x, y, dy, dx, *a,
                                                                                            total);
    return hal::launched();
}

int hal_global_avgpool_fwd(void* stream, const float* x, float* y, long long nc, int hw) {
    HAL_REQUIRE(nc >= 0 && hw >= 1);
    if (nc == 0) return 0;
    HAL_REQUIRE(x != nullptr && y != nullptr);
    cudaStream_t s = hal::stream_of(stream);
    if (hw <= 2048 || nc > 0x7fffffffLL) {
        const int warps = kThreads / 32;
        const long long blocks = (nc + warps - 1) / warps;
        HAL_REQUIRE(blocks <= 0x7fffffffLL);
        HAL_LAUNCH(avg_rows_warp, (unsigned)blocks, kThreads, 0, s, x, nc, hw, y);
    } else {
        HAL_LAUNCH(avg_rows_block, (unsigned)nc, kThreads, 0, s, x, hw, y);
    }
    return hal::launched();
}

int hal_global_avgpool_bwd(void* stream, const float* dy, float* dx, long long nc, int hw) {
    HAL_REQUIRE(nc >= 0 && hw >= 1);
    if (nc == 0) return 0;
    HAL_REQUIRE(dy != nullptr && dx != nullptr);
    const long long total = nc * hw;
    HAL_LAUNCH(avg_bwd, hal::blocks_for(total, kThreads), kThreads, 0, hal::stream_of(stream), dy, dx, total, hw);
    return hal::launched();
}

}  // extern "C"
