// elementwise.cu: fill, copy, add, sub, mul, scale, axpy, ReLU and its
// backward, and the bias add. One grid-stride kernel template per arity; a
// float4 path when every pointer is 16-byte aligned, a scalar path (and the
// scalar tail) otherwise. Outputs may alias inputs element for element.
#include "hal_util.cuh"

namespace {

using hal::kThreads;

struct FillOp {
    float v;
    __device__ float operator()() const { return v; }
};
struct ScaleOp {
    float s;
    __device__ float operator()(float a) const { return s * a; }
};
struct ReluOp {
    // NaN maps to 0, as in the reference (x > 0 is false).
    __device__ float operator()(float a) const { return a > 0.f ? a : 0.f; }
};
struct AddOp {
    __device__ float operator()(float a, float b) const { return a + b; }
};
struct SubOp {
    __device__ float operator()(float a, float b) const { return a - b; }
};
struct MulOp {
    __device__ float operator()(float a, float b) const { return a * b; }
};
// AxpyOp(x, y) = y + alpha*x.
struct AxpyOp {
    float alpha;
    __device__ float operator()(float x, float y) const { return y + alpha * x; }
};
// ReluBwdOp(y, dy) = y > 0 ? dy : 0.
struct ReluBwdOp {
    __device__ float operator()(float y, float dy) const { return y > 0.f ? dy : 0.f; }
};

__device__ __forceinline__ long long gtid() { return (long long)blockIdx.x * blockDim.x + threadIdx.x; }
__device__ __forceinline__ long long gstride() { return (long long)gridDim.x * blockDim.x; }

// y [n] = op().
template <class Op>
__global__ void map0(Op op, float* __restrict__ y, long long n, bool vec) {
    long long i = gtid();
    const long long st = gstride();
    if (vec) {
        const long long n4 = n >> 2;
        float4* y4 = reinterpret_cast<float4*>(y);
        for (long long j = i; j < n4; j += st) y4[j] = make_float4(op(), op(), op(), op());
        i += n4 << 2;
    }
    for (; i < n; i += st) y[i] = op();
}

// y [n] = op(a); y may equal a.
template <class Op>
__global__ void map1(Op op, const float* a, float* y, long long n, bool vec) {
    long long i = gtid();
    const long long st = gstride();
    if (vec) {
        const long long n4 = n >> 2;
        const float4* a4 = reinterpret_cast<const float4*>(a);
        float4* y4 = reinterpret_cast<float4*>(y);
        for (long long j = i; j < n4; j += st) {
            float4 v = a4[j];
            y4[j] = make_float4(op(v.x), op(v.y), op(v.z), op(v.w));
        }
        i += n4 << 2;
    }
    for (; i < n; i += st) y[i] = op(a[i]);
}

// y [n] = op(a, b); y may equal a or b.
template <class Op>
__global__ void map2(Op op, const float* a, const float* b, float* y, long long n, bool vec) {
    long long i = gtid();
    const long long st = gstride();
    if (vec) {
        const long long n4 = n >> 2;
        const float4* a4 = reinterpret_cast<const float4*>(a);
        const float4* b4 = reinterpret_cast<const float4*>(b);
        float4* y4 = reinterpret_cast<float4*>(y);
        for (long long j = i; j < n4; j += st) {
            float4 u = a4[j], v = b4[j];
            y4[j] = make_float4(op(u.x, v.x), op(u.y, v.y), op(u.z, v.z), op(u.w, v.w));
        }
        i += n4 << 2;
    }
    for (; i < n; i += st) y[i] = op(a[i], b[i]);
}

// The scalar tail starts at 4*(n/4) for the threads that did the vector
// part, so every thread must agree on vec; it does (a kernel argument).
inline int grid_for(long long n, bool vec) { return hal::blocks_for(vec ? (n + 3) / 4 : n, kThreads); }

template <class Op>
int launch0(void* stream, Op op, float* y, long long n) {
    HAL_REQUIRE(n >= 0);
    if (n == 0) return 0;
    HAL_REQUIRE(y != nullptr);
    bool vec = hal::aligned16(y);
    HAL_LAUNCH(map0<Op>, grid_for(n, vec), kThreads, 0, hal::stream_of(stream), op, y, n, vec);
    return hal::launched();
}

template <class Op>
int launch1(void* stream, Op op, const float* a, float* y, long long n) {
    HAL_REQUIRE(n >= 0);
    if (n == 0) return 0;
    HAL_REQUIRE(a != nullptr && y != nullptr);
    bool vec = hal::aligned16(a) && hal::aligned16(y);
    HAL_LAUNCH(map1<Op>, grid_for(n, vec), kThreads, 0, hal::stream_of(stream), op, a, y, n, vec);
    return hal::launched();
}

template <class Op>
int launch2(void* stream, Op op, const float* a, const float* b, float* y, long long n) {
    HAL_REQUIRE(n >= 0);
    if (n == 0) return 0;
    HAL_REQUIRE(a != nullptr && b != nullptr && y != nullptr);
    bool vec = hal::aligned16(a) && hal::aligned16(b) && hal::aligned16(y);
    HAL_LAUNCH(map2<Op>, grid_for(n, vec), kThreads, 0, hal::stream_of(stream), op, a, b, y, n, vec);
    return hal::launched();
}

// y [outer, c, inner] += b [c], one thread per element; idx / inner % c in
// 32-bit arithmetic when the sizes allow it.
template <class I>
__global__ void bias_add_kernel(const float* __restrict__ b, float* __restrict__ y, I total, I c, I inner) {
    for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (I)gridDim.x * blockDim.x)
        y[i] += b[(i / inner) % c];
}

}  // namespace

extern "C" {

int hal_fill(void* stream, float* y, long long n, float v) { return launch0(stream, FillOp{v}, y, n); }

int hal_copy(void* stream, const float* x, float* y, long long n) {
    HAL_REQUIRE(n >= 0);
    if (n == 0 || x == y) return 0;
    HAL_REQUIRE(x != nullptr && y != nullptr);
    return (int)cudaMemcpyAsync(y, x, (size_t)n * sizeof(float), cudaMemcpyDeviceToDevice,
                                hal::stream_of(stream));
}

int hal_add(void* stream, const float* a, const float* b, float* y, long long n) {
    return launch2(stream, AddOp{}, a, b, y, n);
}

int hal_sub(void* stream, const float* a, const float* b, float* y, long long n) {
    return launch2(stream, SubOp{}, a, b, y, n);
}

int hal_mul(void* stream, const float* a, const float* b, float* y, long long n) {
    return launch2(stream, MulOp{}, a, b, y, n);
}

int hal_scale(void* stream, float s, const float* a, float* y, long long n) {
    return launch1(stream, ScaleOp{s}, a, y, n);
}

int hal_axpy(void* stream, float alpha, const float* x, float* y, long long n) {
    return launch2(stream, AxpyOp{alpha}, x, y, y, n);
}

int hal_relu(void* stream, const float* x, float* y, long long n) { return launch1(stream, ReluOp{}, x, y, n); }

int hal_relu_bwd(void* stream, const float* y, const float* dy, float* dx, long long n) {
    return launch2(stream, ReluBwdOp{}, y, dy, dx, n);
}

int hal_bias_add(void* stream, const float* b, float* y, long long outer, int c, long long inner) {
    HAL_REQUIRE(outer >= 0 && c >= 0 && inner >= 0);
    if (outer == 0 || c == 0 || inner == 0) return 0;
    HAL_REQUIRE(b != nullptr && y != nullptr);
    const long long total = outer * c * inner;
    HAL_REQUIRE(total / outer / c == inner);  // no overflow
    const int blocks = hal::blocks_for(total, kThreads);
    cudaStream_t s = hal::stream_of(stream);
    if (total <= 0x7fffffffLL)
        HAL_LAUNCH(bias_add_kernel<unsigned>, blocks, kThreads, 0, s, b, y, (unsigned)total, (unsigned)c, (unsigned)inner);
    else
        HAL_LAUNCH(bias_add_kernel<unsigned long long>, blocks, kThreads, 0, s, b, y, (unsigned long long)total, (unsigned long long)c,
                                         (unsigned long long)inner);
    return hal::launched();
}

}  // extern "C"
