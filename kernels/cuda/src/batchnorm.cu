// batchnorm.cu: batch normalisation over x [n, c, hw]: the training forward
// (per-channel statistics in one pass of double sums over a fixed partition
// of each channel, then a per-channel finish that writes the saved statistics
// and updates the running ones, then the affine transform with the optional
// fused ReLU), the inference forward, and the backward (two per-channel sums,
// then dx). Deterministic: no atomics.
#include "hal_util.cuh"

namespace {

using hal::kThreads;

// Values of one channel per block of the statistics passes (spatial layout).
constexpr long long kPerBlock = 8192;
constexpr int kMaxSplits = 128;
// Rows per block of the statistics passes when hw == 1 ([n, c] layout).
constexpr int kRowsPerBlock = 256;
constexpr int kRowLanes = 8;

// splits returns the number of blocks that share the values of one channel.
int splits_for(const hal_bn_args* a) {
    long long s;
    if (a->hw == 1)
        s = ((long long)a->n + kRowsPerBlock - 1) / kRowsPerBlock;
    else
        s = ((long long)a->n * a->hw + kPerBlock - 1) / kPerBlock;
    if (s < 1) s = 1;
    if (s > kMaxSplits) s = kMaxSplits;
    return (int)s;
}

bool args_ok(const hal_bn_args* a) {
    return a != nullptr && a->n >= 1 && a->c >= 1 && a->hw >= 1 && (long long)a->n * a->hw <= 0x7fffffffLL &&
           (long long)a->n * a->c * a->hw <= (1LL << 40) && a->eps >= 0.f &&
           (a->hw == 1 || a->c <= 65535);
}

// What a statistics pass sums per value: the forward sums x and x^2; the
// backward sums g and g*xhat, with g = dy masked by y > 0 when relu.
struct FwdTerms {
    const float* x;
    __device__ void operator()(long long i, int /*c*/, double& s0, double& s1) const {
        const double v = x[i];
        s0 += v;
        s1 += v * v;
    }
};
struct BwdTerms {
    const float *x, *y, *dy, *mean, *invstd;
    bool relu;
    __device__ void operator()(long long i, int c, double& s0, double& s1) const {
        float g = dy[i];
        if (relu && !(y[i] > 0.f)) g = 0.f;
        const double xhat = ((double)x[i] - mean[c]) * invstd[c];
        s0 += g;
        s1 += g * xhat;
    }
};

// Spatial layout: block (split, channel) sums its contiguous share of the
// m = n*hw values of the channel; part [splits, c, 2].
template <class T>
__global__ void stats_spatial(T terms, int n, int c, int hw, int splits, double* __restrict__ part) {
    __shared__ double sh[32];
    const int ch = blockIdx.y, sp = blockIdx.x;
    const int m = n * hw;
    const int len = (m + splits - 1) / splits;
    const int lo = sp * len, hi = min(m, lo + len);
    double s0 = 0, s1 = 0;
    for (int j = lo + threadIdx.x; j < hi; j += blockDim.x) {
        const int o = j / hw, i = j - o * hw;
        terms(((long long)o * c + ch) * hw + i, ch, s0, s1);
    }
    s0 = hal::block_sum(s0, sh);
    s1 = hal::block_sum(s1, sh);
    if (threadIdx.x == 0) {
        double* p = part + ((long long)sp * c + ch) * 2;
        p[0] = s0;
        p[1] = s1;
    }
}

// [n, c] layout: block (32, kRowLanes) owns 32 channels and rows
// [split*kRowsPerBlock, ...); part [splits, c, 2].
template <class T>
__global__ void stats_rows(T terms, int n, int c, double* __restrict__ part) {
    __shared__ double sh0[kRowLanes][33], sh1[kRowLanes][33];
    const int ch = blockIdx.x * 32 + threadIdx.x, sp = blockIdx.y;
    const int lo = sp * kRowsPerBlock, hi = min(n, lo + kRowsPerBlock);
    double s0 = 0, s1 = 0;
    if (ch < c)
        for (int r = lo + threadIdx.y; r < hi; r += kRowLanes) terms((long long)r * c + ch, ch, s0, s1);
    sh0[threadIdx.y][threadIdx.x] = s0;
    sh1[threadIdx.y][threadIdx.x] = s1;
    __syncthreads();
    for (int s = kRowLanes / 2; s > 0; s >>= 1) {
        if (threadIdx.y < s) {
            sh0[threadIdx.y][threadIdx.x] += sh0[threadIdx.y + s][threadIdx.x];
            sh1[threadIdx.y][threadIdx.x] += sh1[threadIdx.y + s][threadIdx.x];
        }
        __syncthreads();
    }
    if (threadIdx.y == 0 && ch < c) {
        double* p = part + ((long long)sp * c + ch) * 2;
        p[0] = sh0[0][threadIdx.x];
        p[1] = sh1[0][threadIdx.x];
    }
}

template <class T>
void launch_stats(T terms, const hal_bn_args* a, int splits, double* part, cudaStream_t s) {
    if (a->hw == 1) {
        dim3 grid((a->c + 31) / 32, splits), block(32, kRowLanes);
        HAL_LAUNCH(stats_rows<T>, grid, block, 0, s, terms, a->n, a->c, part);
    } else {
        dim3 grid(splits, a->c);
        HAL_LAUNCH(stats_spatial<T>, grid, kThreads, 0, s, terms, a->n, a->c, a->hw, splits, part);
    }
}

// Forward finish, one thread per channel: adds the splits in order, writes
// mean and invstd, updates the running statistics, and leaves the double
// mean and invstd in part[ch*2], part[ch*2+1] (slots only this thread
// reads) for the normalisation.
__global__ void fwd_finish(double* __restrict__ part, int splits, int c, long long m, float eps,
                           float momentum, float* __restrict__ save_mean, float* __restrict__ save_invstd,
                           float* __restrict__ run_mean, float* __restrict__ run_var) {
    const int ch = blockIdx.x * blockDim.x + threadIdx.x;
    if (ch >= c) return;
    double s0 = 0, s1 = 0;
    for (int sp = 0; sp < splits; ++sp) {
        s0 += part[((long long)sp * c + ch) * 2];
        s1 += part[((long long)sp * c + ch) * 2 + 1];
    }
    const double mean = s0 / (double)m;
    double var = s1 / (double)m - mean * mean;
    if (var < 0) var = 0;
    const double invstd = 1.0 / sqrt(var + (double)eps);
    save_mean[ch] = (float)mean;
    save_invstd[ch] = (float)invstd;
    part[(long long)ch * 2] = mean;
    part[(long long)ch * 2 + 1] = invstd;
    const double mom = momentum;
    const double unbiased = var * (double)m / (double)(m - 1);
    run_mean[ch] = (float)((1 - mom) * (double)run_mean[ch] + mom * mean);
    run_var[ch] = (float)((1 - mom) * (double)run_var[ch] + mom * unbiased);
}

// Backward finish: dbeta = sum g, dgamma = sum g*xhat; the double sums stay
// in part[ch*2], part[ch*2+1] for dx.
__global__ void bwd_finish(double* __restrict__ part, int splits, int c, float* __restrict__ dgamma,
                           float* __restrict__ dbeta) {
    const int ch = blockIdx.x * blockDim.x + threadIdx.x;
    if (ch >= c) return;
    double s0 = 0, s1 = 0;
    for (int sp = 0; sp < splits; ++sp) {
        s0 += part[((long long)sp * c + ch) * 2];
        s1 += part[((long long)sp * c + ch) * 2 + 1];
    }
    dbeta[ch] = (float)s0;
    dgamma[ch] = (float)s1;
    part[(long long)ch * 2] = s0;
    part[(long long)ch * 2 + 1] = s1;
}

// Per-element passes: f(i, channel) for every element of [n, c, hw]; the
// channel is i / hw % c in index type I (32-bit when the size allows).
template <class I, class F>
struct PerElement {
    F f;
    I total, hw, c;
};

template <class P>
__global__ void per_element(P p) {
    for (auto i = (decltype(p.total))blockIdx.x * blockDim.x + threadIdx.x; i < p.total;
         i += (decltype(p.total))gridDim.x * blockDim.x)
        p.f((long long)i, (int)((i / p.hw) % p.c));
}

template <class F>
void launch_per_element(F f, const hal_bn_args* a, cudaStream_t s) {
    const long long total = (long long)a->n * a->c * a->hw;
    const int blocks = hal::blocks_for(total, kThreads);
    if (total <= 0x7fffffffLL) {
        typedef PerElement<unsigned, F> P;
        HAL_LAUNCH(per_element<P>, blocks, kThreads, 0, s, P{f, (unsigned)total, (unsigned)a->hw, (unsigned)a->c});
    } else {
        typedef PerElement<unsigned long long, F> P;
        HAL_LAUNCH(per_element<P>, blocks, kThreads, 0, s,
                   P{f, (unsigned long long)total, (unsigned long long)a->hw, (unsigned long long)a->c});
    }
}

// y = gamma*(x-mean)*invstd + beta, then ReLU; stats [c, 2] holds the
// double mean and invstd.
struct TrainApply {
    const float *x, *gamma, *beta;
    const double* stats;
    float* y;
    bool relu;
    __device__ void operator()(long long i, int c) const {
        const double mean = stats[2 * c], invstd = stats[2 * c + 1];
        float o = (float)(((double)x[i] - mean) * (invstd * gamma[c]) + beta[c]);
        if (relu && !(o > 0.f)) o = 0.f;
        y[i] = o;
    }
};

// y = gamma*(x-run_mean)/sqrt(run_var+eps) + beta, then ReLU.
struct InferApply {
    const float *x, *gamma, *beta, *rm, *rv;
    float* y;
    float eps;
    bool relu;
    __device__ void operator()(long long i, int c) const {
        const float scale = gamma[c] / sqrtf(rv[c] + eps);
        float o = (x[i] - rm[c]) * scale + beta[c];
        if (relu && !(o > 0.f)) o = 0.f;
        y[i] = o;
    }
};

// dx = gamma*invstd*(g - dbeta/m - xhat*dgamma/m), in double: for small
// batches the bracket cancels to a few ulps of its terms. sums [c, 2] holds
// the double dbeta and dgamma.
struct BwdApply {
    const float *x, *y, *dy, *gamma, *mean, *invstd;
    const double* sums;
    float* dx;
    double inv_m;
    bool relu;
    __device__ void operator()(long long i, int c) const {
        float g = dy[i];
        if (relu && !(y[i] > 0.f)) g = 0.f;
        const double is = invstd[c];
        const double xhat = ((double)x[i] - mean[c]) * is;
        dx[i] = (float)(gamma[c] * is * (g - sums[2 * c] * inv_m - xhat * sums[2 * c + 1] * inv_m));
    }
};

}  // namespace

extern "C" {

size_t hal_bn_workspace(const hal_bn_args* a) {
    if (!args_ok(a)) return 0;
    return (size_t)splits_for(a) * (size_t)a->c * 2 * sizeof(double);
}

int hal_bn_fwd_train(void* stream, const float* x, const float* gamma, const float* beta, float* y,
                     float* save_mean, float* save_invstd, float* run_mean, float* run_var, void* workspace,
                     const hal_bn_args* a) {
    HAL_REQUIRE(args_ok(a) && (long long)a->n * a->hw >= 2);
    HAL_REQUIRE(x && gamma && beta && y && save_mean && save_invstd && run_mean && run_var && workspace);
    cudaStream_t s = hal::stream_of(stream);
    const int splits = splits_for(a);
    double* part = static_cast<double*>(workspace);
    launch_stats(FwdTerms{x}, a, splits, part, s);
    HAL_LAUNCH(fwd_finish, (a->c + kThreads - 1) / kThreads, kThreads, 0, s, part, splits, a->c,
               (long long)a->n * a->hw,
                                                                    a->eps, a->momentum, save_mean, save_invstd,
                                                                    run_mean, run_var);
    launch_per_element(TrainApply{x, gamma, beta, part, y, a->relu != 0}, a, s);
    return hal::launched();
}

int hal_bn_fwd_infer(void* stream, const float* x, const float* gamma, const float* beta, const float* run_mean,
                     const float* run_var, float* y, const hal_bn_args* a) {
    HAL_REQUIRE(args_ok(a));
    HAL_REQUIRE(x && gamma && beta && run_mean && run_var && y);
    launch_per_element(InferApply{x, gamma, beta, run_mean, run_var, y, a->eps, a->relu != 0}, a,
                       hal::stream_of(stream));
    return hal::launched();
}

int hal_bn_bwd(void* stream, const float* x, const float* y, const float* dy, const float* gamma,
               const float* save_mean, const float* save_invstd, float* dx, float* dgamma, float* dbeta,
               void* workspace, const hal_bn_args* a) {
    HAL_REQUIRE(args_ok(a));
    HAL_REQUIRE(x && dy && gamma && save_mean && save_invstd && dx && dgamma && dbeta && workspace);
    HAL_REQUIRE(!a->relu || y != nullptr);
    cudaStream_t s = hal::stream_of(stream);
    const int splits = splits_for(a);
    double* part = static_cast<double*>(workspace);
    const bool relu = a->relu != 0;
    launch_stats(BwdTerms{x, y, dy, save_mean, save_invstd, relu}, a, splits, part, s);
    HAL_LAUNCH(bwd_finish, (a->c + kThreads - 1) / kThreads, kThreads, 0, s, part, splits, a->c, dgamma, dbeta);
    const double inv_m = 1.0 / ((double)a->n * a->hw);
    launch_per_element(BwdApply{x, y, dy, gamma, save_mean, save_invstd, part, dx, inv_m, relu}, a, s);
    return hal::launched();
}

}  // extern "C"
