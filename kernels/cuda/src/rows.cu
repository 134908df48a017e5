// rows.cu: the gather and the scatter-add of rows. Both run one thread per
// element of the output; the scatter reads its sources through a list sorted
// by destination (made on the host), so that every element of y is written by
// one thread adding its sources in their order: no atomics, the same bits as
// the reference.
#include "hal_util.cuh"

namespace {

using hal::kThreads;

// y[r, j] = x[idx[r], j] for r < nr, j < d.
__global__ void gather_rows_kernel(const float* __restrict__ x, const int* __restrict__ idx, float* __restrict__ y,
                                   long long nr, long long d) {
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < nr * d;
         t += (long long)gridDim.x * blockDim.x) {
        const long long r = t / d, j = t - r * d;
        y[t] = x[(long long)idx[r] * d + j];
    }
}

// y[i, j] += x[order[k], j] for k in [start[i], start[i+1]), in that order.
__global__ void scatter_add_rows_kernel(const float* __restrict__ x, const int* __restrict__ order,
                                        const int* __restrict__ start, float* __restrict__ y, long long m,
                                        long long d) {
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < m * d;
         t += (long long)gridDim.x * blockDim.x) {
        const long long i = t / d, j = t - i * d;
        float acc = y[t];
        for (int k = start[i]; k < start[i + 1]; k++) acc += x[(long long)order[k] * d + j];
        y[t] = acc;
    }
}

}  // namespace

extern "C" {

int hal_gather_rows(void* stream, const float* x, const int* idx, float* y, long long nr, long long d) {
    HAL_REQUIRE(nr >= 0 && d >= 0);
    if (nr == 0 || d == 0) return 0;
    HAL_REQUIRE(x != nullptr && idx != nullptr && y != nullptr && nr <= 0x7fffffffffffLL / d);
    HAL_LAUNCH(gather_rows_kernel, hal::blocks_for(nr * d, kThreads), kThreads, 0, hal::stream_of(stream), x, idx, y,
               nr, d);
    return hal::launched();
}

int hal_scatter_add_rows(void* stream, const float* x, const int* order, const int* start, float* y, long long m,
                         long long d) {
    HAL_REQUIRE(m >= 0 && d >= 0);
    if (m == 0 || d == 0) return 0;
    HAL_REQUIRE(x != nullptr && order != nullptr && start != nullptr && y != nullptr && m <= 0x7fffffffffffLL / d);
    HAL_LAUNCH(scatter_add_rows_kernel, hal::blocks_for(m * d, kThreads), kThreads, 0, hal::stream_of(stream), x,
               order, start, y, m, d);
    return hal::launched();
}

}  // extern "C"
