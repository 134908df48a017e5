/* hal.h: the C ABI of libhalcuda.so, the CUDA kernel library of the engine, and the one hand-written list
 * of it: the Go bindings (kernels/cuda/hal_gen.go, hal_cgo_gen.go) and the ABI hash (hal_abi.h) are
 * generated from this file by `go generate ./kernels/cuda` (kernels/cuda/internal/halgen), and a test
 * fails while they are out of date. Adding an entry point: declare it here, define it in a .cu file, run
 * go generate, then call the new method of the Go `hal` interface.
 *
 * Conventions (every entry point):
 *   - extern "C"; returns int, a cudaError_t code (0 = success), after
 *     validating its arguments (cudaErrorInvalidValue = 1 when they cannot be
 *     implemented) and launching on the given stream (void* = cudaStream_t;
 *     NULL is the default stream); launches are checked with
 *     cudaGetLastError().
 *   - Pointers are device pointers (or, as void*, opaque stream and event handles) unless marked HAL_HOST,
 *     which goes first in the parameter: `HAL_HOST int* count`. Argument structs (hal_*_args) are passed by
 *     host pointer and need no mark.
 *   - Row-major everything, NCHW images. Buffer shapes are written in [].
 *   - Outputs never alias inputs unless the comment says so.
 *
 * The generator reads a small subset of C: integer #defines named HAL_*, `typedef struct {...} hal_*;`
 * (fields of int, unsigned int, long long, unsigned long long, size_t, float, double, char arrays and
 * pointers) and prototypes of hal_* functions returning a scalar, void or const char*; anything else is an
 * error naming the line. Any change of the declarations (not of comments or spacing) changes HAL_ABI_HASH,
 * which the Go loader checks before it resolves any other symbol: rebuild the library
 * (scripts/build-kernels.sh) after go generate.
 */
#ifndef HAL_H
#define HAL_H

#include <stddef.h>

/* HAL_HOST marks a pointer parameter to host memory (empty for the compilers; read by the generator). */
#define HAL_HOST

#ifdef __cplusplus
extern "C" {
#endif

/* ======================= dense maths (gemm.cu, conv.cu) ======================= */

typedef struct { int transA, transB, m, n, k, lda, ldb, ldc, batch; long long strideA, strideB, strideC;
                 float alpha, beta; int tf32; } hal_gemm_args;
/* C[b] = alpha*op(A[b])*op(B[b]) + beta*C[b] (beta == 0: C not read), batch >= 1, row-major. */
int hal_gemm(void* stream, const float* A, const float* B, float* C, const hal_gemm_args* a);
/* Writes into buf (host, len bytes) which engine runs the large TF32 products of hal_gemm on the current
   device ("wgmma ..." on Hopper, "mma.sync (reason)" elsewhere). The environment variable HAL_WGMMA=0
   turns the wgmma engine off, HAL_WGMMA=force uses it for every TF32 product. */
int hal_gemm_engine(HAL_HOST char* buf, int len);
typedef struct { int n, c, h, w, k, r, s, p, q, stride_h, stride_w, pad_h, pad_w, tf32; } hal_conv_args;
int hal_conv2d_fwd(void* stream, const float* x, const float* w, float* y, const hal_conv_args* a);
int hal_conv2d_bwd_data(void* stream, const float* dy, const float* w, float* dx, const hal_conv_args* a);
int hal_conv2d_bwd_filter(void* stream, const float* x, const float* dy, float* dw, const hal_conv_args* a);

/* ============================ InfoNCE (infonce.cu) ============================ */

typedef struct { int a, b, q, d; float temperature; int in_batch_negatives, twins; } hal_infonce_args;
/* pos, self (may be NULL), anchor_id, key_id (NULL unless twins) are device int32 arrays. dq, dk may be NULL.
   loss is a device float[1]. workspace of hal_infonce_workspace(a) bytes. */
size_t hal_infonce_workspace(const hal_infonce_args* a);
int hal_infonce(void* stream, const float* q, const float* k, const float* queue, const int* pos,
                const int* self, const int* anchor_id, const int* key_id, float* loss, float* dq, float* dk,
                void* workspace, const hal_infonce_args* a);

/* ======================== the Hallucinator (hallucinator.cu) ======================== */

typedef struct { int n, d; float lambda; int tf32; } hal_halluc_args;
size_t hal_halluc_workspace(const hal_halluc_args* a);
int hal_halluc_fwd(void* stream, const float* x, const float* k, const float* w1, const float* b1,
                   const float* w2, const float* b2, const float* w3, const float* b3, float* act, float* out,
                   void* workspace, const hal_halluc_args* a);
int hal_halluc_bwd(void* stream, const float* x, const float* k, const float* w1, const float* w2,
                   const float* w3, const float* act, const float* dout, float* dx, float* dk /* may be NULL */,
                   float* dw1, float* db1, float* dw2, float* db2, float* dw3, float* db3,
                   void* workspace, const hal_halluc_args* a);

/* ============================== runtime (runtime.cu) ============================== */

typedef struct {
    char name[256];
    int major, minor;        /* compute capability */
    int sm_count;            /* multiprocessors */
    int max_threads_per_block;
    size_t total_mem;        /* bytes of global memory */
    size_t shared_per_block; /* opt-in shared memory per block, bytes */
} hal_device_props;

/* The version of this header's ABI, bumped by hand on changes of meaning; hal_abi_version() returns it.
   hal_abi_hash() returns HAL_ABI_HASH of the generated hal_abi.h, which follows every change of the
   declarations. The loader reads both before resolving any other symbol. */
#define HAL_ABI_VERSION 2
int hal_abi_version(void);
unsigned long long hal_abi_hash(void);
/* count = number of CUDA devices (0 with an error code when no driver answers). */
int hal_device_count(HAL_HOST int* count);
/* Makes device current for the calling thread and creates its context. */
int hal_init(int device);
/* Makes device current for the calling thread (cheap; for callers that move between threads). */
int hal_set_device(int device);
int hal_device_props_get(int device, HAL_HOST hal_device_props* props);
int hal_mem_info(HAL_HOST size_t* free_bytes, HAL_HOST size_t* total_bytes);
int hal_driver_version(HAL_HOST int* version);
int hal_runtime_version(HAL_HOST int* version);
int hal_malloc(HAL_HOST void** ptr, size_t bytes);
int hal_free(void* ptr);
/* Copies bytes from host src to device dst, queued on stream; src may be reused as soon as the call returns. */
int hal_memcpy_h2d(void* stream, void* dst, HAL_HOST const void* src, size_t bytes);
/* Copies bytes from device src to host dst on stream and waits for the stream. */
int hal_memcpy_d2h(void* stream, HAL_HOST void* dst, const void* src, size_t bytes);
/* Copies bytes from device src to device dst, queued on stream. */
int hal_memcpy_d2d(void* stream, void* dst, const void* src, size_t bytes);
/* Sets bytes of dst to the byte value, asynchronously on stream. */
int hal_memset(void* stream, void* dst, int value, size_t bytes);
int hal_stream_create(HAL_HOST void** stream);
int hal_stream_destroy(void* stream);
int hal_stream_sync(void* stream);
int hal_device_sync(void);
int hal_event_create(HAL_HOST void** event);
int hal_event_destroy(void* event);
int hal_event_record(void* event, void* stream);
/* ms = time between two recorded events; waits for end. */
int hal_event_elapsed(HAL_HOST float* ms, void* start, void* end);
/* Returns and clears the last runtime error (cudaGetLastError). */
int hal_last_error(void);
const char* hal_error_string(int code);
const char* hal_error_name(int code);

/* ============================ element-wise (elementwise.cu) ============================ */
/* n is the number of elements; y may alias the inputs of these (not of bias_add's b). */

int hal_fill(void* stream, float* y, long long n, float v);
int hal_copy(void* stream, const float* x, float* y, long long n);
int hal_add(void* stream, const float* a, const float* b, float* y, long long n);  /* y = a + b */
int hal_sub(void* stream, const float* a, const float* b, float* y, long long n);  /* y = a - b */
int hal_mul(void* stream, const float* a, const float* b, float* y, long long n);  /* y = a * b */
int hal_scale(void* stream, float s, const float* a, float* y, long long n);       /* y = s * a */
int hal_axpy(void* stream, float alpha, const float* x, float* y, long long n);    /* y += alpha * x */
int hal_relu(void* stream, const float* x, float* y, long long n);                  /* y = max(x, 0) */
int hal_relu_bwd(void* stream, const float* y, const float* dy, float* dx, long long n); /* dx = y > 0 ? dy : 0 */
/* y [outer, c, inner] += b [c] */
int hal_bias_add(void* stream, const float* b, float* y, long long outer, int c, long long inner);

/* ================================= rows (rows.cu) ================================= */

/* y [nr, d] row r = x row idx[r]; idx is a device int32 array of nr indices, each a row of x. */
int hal_gather_rows(void* stream, const float* x, const int* idx, float* y, long long nr, long long d);
/* y [m, d] row i += the rows order[start[i]] .. order[start[i+1]-1] of x, added in that order; order and
   start (m + 1 entries) are device int32 arrays: the rows of x sorted stably by destination. */
int hal_scatter_add_rows(void* stream, const float* x, const int* order, const int* start, float* y, long long m,
                         long long d);

/* ============================== reductions (reduce.cu) ============================== */

size_t hal_sum_workspace(long long n);
/* y [1] = sum of x [n]; deterministic (fixed partition, two levels). */
int hal_sum(void* stream, const float* x, long long n, float* y, void* workspace);
/* y [n] = column sums of x [m, n] (sum over rows). */
int hal_sum_rows(void* stream, const float* x, int m, int n, float* y);
/* y [m] = row sums of x [m, n] (sum over columns). */
int hal_sum_cols(void* stream, const float* x, int m, int n, float* y);
/* db [c] = sum over outer and inner of dy [outer, c, inner]. */
int hal_bias_grad(void* stream, const float* dy, float* db, long long outer, int c, long long inner);

/* Multi-tensor lists: one launch over many tensors. The list is a device array of count entries; each
   tensor is cut into chunks of HAL_MT_CHUNK elements, one thread block per chunk; chunk_start is the sum
   of ceil(n / HAL_MT_CHUNK) over the earlier entries and nchunks the total over all entries. */
#define HAL_MT_CHUNK 4096
typedef struct {
    float* p;        /* parameter (updated in place) / EMA target / tensor to reduce */
    const float* g;  /* gradient / EMA source */
    float* m;        /* momentum buffer / first moment (may be NULL when unused) */
    float* v;        /* second moment (AdamW only) */
    long long n;     /* elements */
    int chunk_start; /* first chunk of this entry */
    int flag;        /* SGD, AdamW: weight decay on; LARS: excluded from decay and adaptation */
} hal_mt_tensor;

/* Workspace of hal_sum_squares and hal_lars: bytes for the per-chunk partials and per-tensor results. */
size_t hal_mt_workspace(int count, int nchunks);
/* out [count]: out[i] = sum of squares of list[i].p; deterministic. */
int hal_sum_squares(void* stream, const hal_mt_tensor* list, int count, int nchunks, float* out,
                    void* workspace);

/* =============================== batch norm (batchnorm.cu) =============================== */
/* x, y, dy, dx [n, c, hw]; gamma, beta, statistics [c]. relu fuses a ReLU (forward) and masks dy with
   y > 0 (backward). Training statistics: mean and biased variance over n*hw per channel; running stats
   run = (1-momentum)*run + momentum*batch with the unbiased variance for run_var. */
typedef struct { int n, c, hw; float eps, momentum; int relu; } hal_bn_args;
size_t hal_bn_workspace(const hal_bn_args* a);
int hal_bn_fwd_train(void* stream, const float* x, const float* gamma, const float* beta, float* y,
                     float* save_mean, float* save_invstd, float* run_mean, float* run_var, void* workspace,
                     const hal_bn_args* a);
int hal_bn_fwd_infer(void* stream, const float* x, const float* gamma, const float* beta,
                     const float* run_mean, const float* run_var, float* y, const hal_bn_args* a);
int hal_bn_bwd(void* stream, const float* x, const float* y, const float* dy, const float* gamma,
               const float* save_mean, const float* save_invstd, float* dx, float* dgamma, float* dbeta,
               void* workspace, const hal_bn_args* a);

/* ================================== pools (pool.cu) ================================== */

/* x [n, c, h, w], y [n, c, p, q]; padded cells count as -Inf. */
typedef struct { int n, c, h, w, p, q, kh, kw, stride_h, stride_w, pad_h, pad_w; } hal_pool_args;
int hal_maxpool_fwd(void* stream, const float* x, float* y, const hal_pool_args* a);
/* dx = dy routed to the first (row-major) position of each window's maximum; deterministic (gather). */
int hal_maxpool_bwd(void* stream, const float* x, const float* y, const float* dy, float* dx,
                    const hal_pool_args* a);
/* y [nc] = mean of each row of x [nc, hw]. */
int hal_global_avgpool_fwd(void* stream, const float* x, float* y, long long nc, int hw);
/* dx [nc, hw] = dy [nc] / hw broadcast. */
int hal_global_avgpool_bwd(void* stream, const float* dy, float* dx, long long nc, int hw);

/* ============================ normalisation and losses (loss.cu) ============================ */

/* y [m, n] = x / max(||x_row||, eps); norms [m] = the clamped norms. */
int hal_l2norm_rows(void* stream, const float* x, float* y, float* norms, int m, int n, float eps);
/* dx = (dy - y*<y, dy>) / norm, or dy / norm where the norm was clamped to eps. dx may alias dy. */
int hal_l2norm_rows_bwd(void* stream, const float* y, const float* norms, const float* dy, float* dx, int m,
                        int n, float eps);
/* loss [1] = mean over rows of -log softmax(logits [n, c])[labels[i]]; dlogits [n, c] (may be NULL) =
   (softmax - onehot) / n. labels are device int32 in [0, c). */
size_t hal_softmax_ce_workspace(int n, int c);
int hal_softmax_ce(void* stream, const float* logits, const int* labels, float* loss, float* dlogits, int n,
                   int c, void* workspace);

/* ================================ optimisers (optim.cu) ================================ */
/* One launch over a hal_mt_tensor list (see above). */

/* torch.optim.SGD, dampening 0: g = grad + wd*p (flag on); buf = momentum*buf + g (buf = g when
   first_step); g = nesterov ? g + momentum*buf : buf; p -= lr*g. momentum == 0: m unused, p -= lr*g. */
typedef struct { float lr, momentum, weight_decay; int nesterov, first_step; } hal_sgd_args;
int hal_sgd(void* stream, const hal_mt_tensor* list, int count, int nchunks, const hal_sgd_args* a);

/* LARS: per tensor not excluded (flag 0), g = grad + wd*p and local = lr*eta*||p||/(||g||+wd*||p||)
   (lr when either norm is 0); excluded: g = grad, local = lr; buf = momentum*buf + local*g; p -= buf.
   workspace of hal_mt_workspace(count, nchunks) bytes. */
typedef struct { float lr, momentum, weight_decay, eta; } hal_lars_args;
int hal_lars(void* stream, const hal_mt_tensor* list, int count, int nchunks, void* workspace,
             const hal_lars_args* a);

/* torch.optim.AdamW: p -= lr*wd*p (flag on); m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g*g;
   p -= lr * (m/bias_correction1) / (sqrt(v/bias_correction2) + eps), bias_correction_i = 1 - beta_i^step. */
typedef struct { float lr, beta1, beta2, eps, weight_decay, bias_correction1, bias_correction2; } hal_adamw_args;
int hal_adamw(void* stream, const hal_mt_tensor* list, int count, int nchunks, const hal_adamw_args* a);

/* EMA: p = decay*p + (1-decay)*g for every entry. */
int hal_ema(void* stream, const hal_mt_tensor* list, int count, int nchunks, float decay);

#ifdef __cplusplus
}
#endif

#endif /* HAL_H */
