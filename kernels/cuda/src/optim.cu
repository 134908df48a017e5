// optim.cu: one-launch optimiser steps over many tensors (SGD with momentum,
// Nesterov and weight decay; LARS; AdamW) and the EMA of a target network.
// Each kernel walks a hal_mt_tensor list, one block per chunk of
// HAL_MT_CHUNK elements (see hal.h). LARS first reduces the per-tensor norms
// (reduce.cu's first level, then a per-tensor finish) through its workspace.
#include "hal_util.cuh"

namespace {

using hal::kThreads;

__global__ void sgd_kernel(const hal_mt_tensor* __restrict__ list, int count, hal_sgd_args a) {
    __shared__ int sh_t;
    const hal::MTChunk c = hal::mt_chunk(list, count, &sh_t);
    const hal_mt_tensor e = list[c.t];
    const float wd = e.flag ? a.weight_decay : 0.f;
    const bool mom = a.momentum != 0.f;
    for (long long i = c.begin + threadIdx.x; i < c.end; i += blockDim.x) {
        const float p = e.p[i];
        float g = e.g[i] + wd * p;
        if (mom) {
            const float b = a.first_step ? g : a.momentum * e.m[i] + g;
            e.m[i] = b;
            g = a.nesterov ? g + a.momentum * b : b;
        }
        e.p[i] = p - a.lr * g;
    }
}

// LARS first level: part[2b] = sum p^2, part[2b+1] = sum grad^2 of chunk b
// (0 for excluded entries, which need no norms).
__global__ void lars_norms(const hal_mt_tensor* __restrict__ list, int count, double* __restrict__ part) {
    __shared__ int sh_t;
    __shared__ double sh[32];
    const hal::MTChunk c = hal::mt_chunk(list, count, &sh_t);
    const hal_mt_tensor e = list[c.t];
    double ap = 0, ag = 0;
    if (!e.flag)
        for (long long i = c.begin + threadIdx.x; i < c.end; i += blockDim.x) {
            const float p = e.p[i], g = e.g[i];
            ap += (double)p * p;
            ag += (double)g * g;
        }
    ap = hal::block_sum(ap, sh);
    ag = hal::block_sum(ag, sh);
    if (threadIdx.x == 0) {
        part[2 * (long long)blockIdx.x] = ap;
        part[2 * (long long)blockIdx.x + 1] = ag;
    }
}

// LARS per-tensor finish: local[t] = lr * eta*||p|| / (||g|| + wd*||p||),
// or lr when excluded or either norm is 0. One block per entry.
__global__ void lars_local(const hal_mt_tensor* __restrict__ list, const double* __restrict__ part,
                           double* __restrict__ local, hal_lars_args a) {
    __shared__ double sh[32];
    const int t = blockIdx.x;
    const hal_mt_tensor e = list[t];
    const int k = (int)((e.n + HAL_MT_CHUNK - 1) / HAL_MT_CHUNK);
    double sp = 0, sg = 0;
    if (!e.flag)
        for (int i = threadIdx.x; i < k; i += blockDim.x) {
            sp += part[2 * (long long)(e.chunk_start + i)];
            sg += part[2 * (long long)(e.chunk_start + i) + 1];
        }
    sp = hal::block_sum(sp, sh);
    sg = hal::block_sum(sg, sh);
    if (threadIdx.x == 0) {
        double lr = a.lr;
        if (!e.flag) {
            const double pn = sqrt(sp), gn = sqrt(sg);
            if (pn > 0 && gn > 0) lr *= (double)a.eta * pn / (gn + (double)a.weight_decay * pn);
        }
        local[t] = lr;
    }
}

// LARS update: g = grad (+ wd*p unless excluded); buf = momentum*buf +
// local*g; p -= buf (p -= local*g without a buffer).
__global__ void lars_update(const hal_mt_tensor* __restrict__ list, int count, const double* __restrict__ local,
                            hal_lars_args a) {
    __shared__ int sh_t;
    const hal::MTChunk c = hal::mt_chunk(list, count, &sh_t);
    const hal_mt_tensor e = list[c.t];
    const float lr = (float)local[c.t];
    const float wd = e.flag ? 0.f : a.weight_decay;
    for (long long i = c.begin + threadIdx.x; i < c.end; i += blockDim.x) {
        const float p = e.p[i];
        const float g = e.g[i] + wd * p;
        float step = lr * g;
        if (e.m != nullptr) {
            step = a.momentum * e.m[i] + step;
            e.m[i] = step;
        }
        e.p[i] = p - step;
    }
}

__global__ void adamw_kernel(const hal_mt_tensor* __restrict__ list, int count, hal_adamw_args a) {
    __shared__ int sh_t;
    const hal::MTChunk c = hal::mt_chunk(list, count, &sh_t);
    const hal_mt_tensor e = list[c.t];
    const float decay = e.flag ? 1.f - a.lr * a.weight_decay : 1.f;
    const float inv_bc1 = 1.f / a.bias_correction1, inv_bc2 = 1.f / a.bias_correction2;
    const float b1 = a.beta1, b2 = a.beta2;
    for (long long i = c.begin + threadIdx.x; i < c.end; i += blockDim.x) {
        const float g = e.g[i];
        const float m = b1 * e.m[i] + (1.f - b1) * g;
        const float v = b2 * e.v[i] + (1.f - b2) * g * g;
        e.m[i] = m;
        e.v[i] = v;
        e.p[i] = e.p[i] * decay - a.lr * (m * inv_bc1) / (sqrtf(v * inv_bc2) + a.eps);
    }
}

__global__ void ema_kernel(const hal_mt_tensor* __restrict__ list, int count, float decay) {
    __shared__ int sh_t;
    const hal::MTChunk c = hal::mt_chunk(list, count, &sh_t);
    const hal_mt_tensor e = list[c.t];
    const float keep = 1.f - decay;
    for (long long i = c.begin + threadIdx.x; i < c.end; i += blockDim.x) e.p[i] = decay * e.p[i] + keep * e.g[i];
}

}  // namespace

extern "C" {

int hal_sgd(void* stream, const hal_mt_tensor* list, int count, int nchunks, const hal_sgd_args* a) {
    HAL_REQUIRE(hal::mt_valid(list, count, nchunks) && a != nullptr);
    if (nchunks == 0) return 0;
    HAL_LAUNCH(sgd_kernel, nchunks, kThreads, 0, hal::stream_of(stream), list, count, *a);
    return hal::launched();
}

int hal_lars(void* stream, const hal_mt_tensor* list, int count, int nchunks, void* workspace,
             const hal_lars_args* a) {
    HAL_REQUIRE(hal::mt_valid(list, count, nchunks) && a != nullptr && workspace != nullptr);
    if (nchunks == 0) return 0;
    cudaStream_t s = hal::stream_of(stream);
    double* part = static_cast<double*>(workspace);
    double* local = part + 2 * (size_t)nchunks;
    HAL_LAUNCH(lars_norms, nchunks, kThreads, 0, s, list, count, part);
    HAL_LAUNCH(lars_local, count, kThreads, 0, s, list, part, local, *a);
    HAL_LAUNCH(lars_update, nchunks, kThreads, 0, s, list, count, local, *a);
    return hal::launched();
}

int hal_adamw(void* stream, const hal_mt_tensor* list, int count, int nchunks, const hal_adamw_args* a) {
    HAL_REQUIRE(hal::mt_valid(list, count, nchunks) && a != nullptr);
    HAL_REQUIRE(a->bias_correction1 > 0.f && a->bias_correction2 > 0.f);
    if (nchunks == 0) return 0;
    HAL_LAUNCH(adamw_kernel, nchunks, kThreads, 0, hal::stream_of(stream), list, count, *a);
    return hal::launched();
}

int hal_ema(void* stream, const hal_mt_tensor* list, int count, int nchunks, float decay) {
    HAL_REQUIRE(hal::mt_valid(list, count, nchunks));
    if (nchunks == 0) return 0;
    HAL_LAUNCH(ema_kernel, nchunks, kThreads, 0, hal::stream_of(stream), list, count, decay);
    return hal::launched();
}

}  // extern "C"
