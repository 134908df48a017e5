//go:build cgo

package cuda

/*
#cgo LDFLAGS: -ldl
#cgo CFLAGS: -I${SRCDIR}/src
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "hal.h"

// hal_dlopen opens the library at path, writing dlerror's message to err on
// failure.
static void* hal_dlopen(const char* path, char* err, int errlen) {
	void* h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		const char* e = dlerror();
		snprintf(err, errlen, "%s", e ? e : "unknown dlopen error");
	}
	return h;
}

// hal_mt_layout reports the layout of hal_mt_tensor: its size and the
// offsets of n, chunk_start and flag.
static void hal_mt_layout(size_t* out) {
	out[0] = sizeof(hal_mt_tensor);
	out[1] = offsetof(hal_mt_tensor, n);
	out[2] = offsetof(hal_mt_tensor, chunk_start);
	out[3] = offsetof(hal_mt_tensor, flag);
}

// The function table, filled once by dlsym, and one small trampoline per
// entry point (cgo cannot call C function pointers directly). Device
// pointers cross as uintptr_t.
typedef struct {
	__typeof__(hal_gemm)* gemm;
	__typeof__(hal_conv2d_fwd)* conv2d_fwd;
	__typeof__(hal_conv2d_bwd_data)* conv2d_bwd_data;
	__typeof__(hal_conv2d_bwd_filter)* conv2d_bwd_filter;
	__typeof__(hal_infonce_workspace)* infonce_workspace;
	__typeof__(hal_infonce)* infonce;
	__typeof__(hal_halluc_workspace)* halluc_workspace;
	__typeof__(hal_halluc_fwd)* halluc_fwd;
	__typeof__(hal_halluc_bwd)* halluc_bwd;
	__typeof__(hal_abi_version)* abi_version;
	__typeof__(hal_device_count)* device_count;
	__typeof__(hal_init)* init;
	__typeof__(hal_set_device)* set_device;
	__typeof__(hal_device_props_get)* device_props_get;
	__typeof__(hal_mem_info)* mem_info;
	__typeof__(hal_driver_version)* driver_version;
	__typeof__(hal_runtime_version)* runtime_version;
	__typeof__(hal_malloc)* malloc;
	__typeof__(hal_free)* free;
	__typeof__(hal_memcpy)* memcpy;
	__typeof__(hal_memset)* memset;
	__typeof__(hal_stream_create)* stream_create;
	__typeof__(hal_stream_destroy)* stream_destroy;
	__typeof__(hal_stream_sync)* stream_sync;
	__typeof__(hal_device_sync)* device_sync;
	__typeof__(hal_event_create)* event_create;
	__typeof__(hal_event_destroy)* event_destroy;
	__typeof__(hal_event_record)* event_record;
	__typeof__(hal_event_elapsed)* event_elapsed;
	__typeof__(hal_last_error)* last_error;
	__typeof__(hal_error_string)* error_string;
	__typeof__(hal_error_name)* error_name;
	__typeof__(hal_fill)* fill;
	__typeof__(hal_copy)* copy;
	__typeof__(hal_add)* add;
	__typeof__(hal_sub)* sub;
	__typeof__(hal_mul)* mul;
	__typeof__(hal_scale)* scale;
	__typeof__(hal_axpy)* axpy;
	__typeof__(hal_relu)* relu;
	__typeof__(hal_relu_bwd)* relu_bwd;
	__typeof__(hal_bias_add)* bias_add;
	__typeof__(hal_sum_workspace)* sum_workspace;
	__typeof__(hal_sum)* sum;
	__typeof__(hal_sum_rows)* sum_rows;
	__typeof__(hal_sum_cols)* sum_cols;
	__typeof__(hal_bias_grad)* bias_grad;
	__typeof__(hal_mt_workspace)* mt_workspace;
	__typeof__(hal_sum_squares)* sum_squares;
	__typeof__(hal_bn_workspace)* bn_workspace;
	__typeof__(hal_bn_fwd_train)* bn_fwd_train;
	__typeof__(hal_bn_fwd_infer)* bn_fwd_infer;
	__typeof__(hal_bn_bwd)* bn_bwd;
	__typeof__(hal_maxpool_fwd)* maxpool_fwd;
	__typeof__(hal_maxpool_bwd)* maxpool_bwd;
	__typeof__(hal_global_avgpool_fwd)* global_avgpool_fwd;
	__typeof__(hal_global_avgpool_bwd)* global_avgpool_bwd;
	__typeof__(hal_l2norm_rows)* l2norm_rows;
	__typeof__(hal_l2norm_rows_bwd)* l2norm_rows_bwd;
	__typeof__(hal_softmax_ce_workspace)* softmax_ce_workspace;
	__typeof__(hal_softmax_ce)* softmax_ce;
	__typeof__(hal_sgd)* sgd;
	__typeof__(hal_lars)* lars;
	__typeof__(hal_adamw)* adamw;
	__typeof__(hal_ema)* ema;
} hal_fns;

// hal_load fills f from the library handle h; it returns the name of the
// first missing symbol, or NULL.
static const char* hal_load(void* h, hal_fns* f) {
	if (!(f->gemm = (__typeof__(hal_gemm)*)dlsym(h, "hal_gemm"))) return "hal_gemm";
	if (!(f->conv2d_fwd = (__typeof__(hal_conv2d_fwd)*)dlsym(h, "hal_conv2d_fwd"))) return "hal_conv2d_fwd";
	if (!(f->conv2d_bwd_data = (__typeof__(hal_conv2d_bwd_data)*)dlsym(h, "hal_conv2d_bwd_data"))) return "hal_conv2d_bwd_data";
	if (!(f->conv2d_bwd_filter = (__typeof__(hal_conv2d_bwd_filter)*)dlsym(h, "hal_conv2d_bwd_filter"))) return "hal_conv2d_bwd_filter";
	if (!(f->infonce_workspace = (__typeof__(hal_infonce_workspace)*)dlsym(h, "hal_infonce_workspace"))) return "hal_infonce_workspace";
	if (!(f->infonce = (__typeof__(hal_infonce)*)dlsym(h, "hal_infonce"))) return "hal_infonce";
	if (!(f->halluc_workspace = (__typeof__(hal_halluc_workspace)*)dlsym(h, "hal_halluc_workspace"))) return "hal_halluc_workspace";
	if (!(f->halluc_fwd = (__typeof__(hal_halluc_fwd)*)dlsym(h, "hal_halluc_fwd"))) return "hal_halluc_fwd";
	if (!(f->halluc_bwd = (__typeof__(hal_halluc_bwd)*)dlsym(h, "hal_halluc_bwd"))) return "hal_halluc_bwd";
	if (!(f->abi_version = (__typeof__(hal_abi_version)*)dlsym(h, "hal_abi_version"))) return "hal_abi_version";
	if (!(f->device_count = (__typeof__(hal_device_count)*)dlsym(h, "hal_device_count"))) return "hal_device_count";
	if (!(f->init = (__typeof__(hal_init)*)dlsym(h, "hal_init"))) return "hal_init";
	if (!(f->set_device = (__typeof__(hal_set_device)*)dlsym(h, "hal_set_device"))) return "hal_set_device";
	if (!(f->device_props_get = (__typeof__(hal_device_props_get)*)dlsym(h, "hal_device_props_get"))) return "hal_device_props_get";
	if (!(f->mem_info = (__typeof__(hal_mem_info)*)dlsym(h, "hal_mem_info"))) return "hal_mem_info";
	if (!(f->driver_version = (__typeof__(hal_driver_version)*)dlsym(h, "hal_driver_version"))) return "hal_driver_version";
	if (!(f->runtime_version = (__typeof__(hal_runtime_version)*)dlsym(h, "hal_runtime_version"))) return "hal_runtime_version";
	if (!(f->malloc = (__typeof__(hal_malloc)*)dlsym(h, "hal_malloc"))) return "hal_malloc";
	if (!(f->free = (__typeof__(hal_free)*)dlsym(h, "hal_free"))) return "hal_free";
	if (!(f->memcpy = (__typeof__(hal_memcpy)*)dlsym(h, "hal_memcpy"))) return "hal_memcpy";
	if (!(f->memset = (__typeof__(hal_memset)*)dlsym(h, "hal_memset"))) return "hal_memset";
	if (!(f->stream_create = (__typeof__(hal_stream_create)*)dlsym(h, "hal_stream_create"))) return "hal_stream_create";
	if (!(f->stream_destroy = (__typeof__(hal_stream_destroy)*)dlsym(h, "hal_stream_destroy"))) return "hal_stream_destroy";
	if (!(f->stream_sync = (__typeof__(hal_stream_sync)*)dlsym(h, "hal_stream_sync"))) return "hal_stream_sync";
	if (!(f->device_sync = (__typeof__(hal_device_sync)*)dlsym(h, "hal_device_sync"))) return "hal_device_sync";
	if (!(f->event_create = (__typeof__(hal_event_create)*)dlsym(h, "hal_event_create"))) return "hal_event_create";
	if (!(f->event_destroy = (__typeof__(hal_event_destroy)*)dlsym(h, "hal_event_destroy"))) return "hal_event_destroy";
	if (!(f->event_record = (__typeof__(hal_event_record)*)dlsym(h, "hal_event_record"))) return "hal_event_record";
	if (!(f->event_elapsed = (__typeof__(hal_event_elapsed)*)dlsym(h, "hal_event_elapsed"))) return "hal_event_elapsed";
	if (!(f->last_error = (__typeof__(hal_last_error)*)dlsym(h, "hal_last_error"))) return "hal_last_error";
	if (!(f->error_string = (__typeof__(hal_error_string)*)dlsym(h, "hal_error_string"))) return "hal_error_string";
	if (!(f->error_name = (__typeof__(hal_error_name)*)dlsym(h, "hal_error_name"))) return "hal_error_name";
	if (!(f->fill = (__typeof__(hal_fill)*)dlsym(h, "hal_fill"))) return "hal_fill";
	if (!(f->copy = (__typeof__(hal_copy)*)dlsym(h, "hal_copy"))) return "hal_copy";
	if (!(f->add = (__typeof__(hal_add)*)dlsym(h, "hal_add"))) return "hal_add";
	if (!(f->sub = (__typeof__(hal_sub)*)dlsym(h, "hal_sub"))) return "hal_sub";
	if (!(f->mul = (__typeof__(hal_mul)*)dlsym(h, "hal_mul"))) return "hal_mul";
	if (!(f->scale = (__typeof__(hal_scale)*)dlsym(h, "hal_scale"))) return "hal_scale";
	if (!(f->axpy = (__typeof__(hal_axpy)*)dlsym(h, "hal_axpy"))) return "hal_axpy";
	if (!(f->relu = (__typeof__(hal_relu)*)dlsym(h, "hal_relu"))) return "hal_relu";
	if (!(f->relu_bwd = (__typeof__(hal_relu_bwd)*)dlsym(h, "hal_relu_bwd"))) return "hal_relu_bwd";
	if (!(f->bias_add = (__typeof__(hal_bias_add)*)dlsym(h, "hal_bias_add"))) return "hal_bias_add";
	if (!(f->sum_workspace = (__typeof__(hal_sum_workspace)*)dlsym(h, "hal_sum_workspace"))) return "hal_sum_workspace";
	if (!(f->sum = (__typeof__(hal_sum)*)dlsym(h, "hal_sum"))) return "hal_sum";
	if (!(f->sum_rows = (__typeof__(hal_sum_rows)*)dlsym(h, "hal_sum_rows"))) return "hal_sum_rows";
	if (!(f->sum_cols = (__typeof__(hal_sum_cols)*)dlsym(h, "hal_sum_cols"))) return "hal_sum_cols";
	if (!(f->bias_grad = (__typeof__(hal_bias_grad)*)dlsym(h, "hal_bias_grad"))) return "hal_bias_grad";
	if (!(f->mt_workspace = (__typeof__(hal_mt_workspace)*)dlsym(h, "hal_mt_workspace"))) return "hal_mt_workspace";
	if (!(f->sum_squares = (__typeof__(hal_sum_squares)*)dlsym(h, "hal_sum_squares"))) return "hal_sum_squares";
	if (!(f->bn_workspace = (__typeof__(hal_bn_workspace)*)dlsym(h, "hal_bn_workspace"))) return "hal_bn_workspace";
	if (!(f->bn_fwd_train = (__typeof__(hal_bn_fwd_train)*)dlsym(h, "hal_bn_fwd_train"))) return "hal_bn_fwd_train";
	if (!(f->bn_fwd_infer = (__typeof__(hal_bn_fwd_infer)*)dlsym(h, "hal_bn_fwd_infer"))) return "hal_bn_fwd_infer";
	if (!(f->bn_bwd = (__typeof__(hal_bn_bwd)*)dlsym(h, "hal_bn_bwd"))) return "hal_bn_bwd";
	if (!(f->maxpool_fwd = (__typeof__(hal_maxpool_fwd)*)dlsym(h, "hal_maxpool_fwd"))) return "hal_maxpool_fwd";
	if (!(f->maxpool_bwd = (__typeof__(hal_maxpool_bwd)*)dlsym(h, "hal_maxpool_bwd"))) return "hal_maxpool_bwd";
	if (!(f->global_avgpool_fwd = (__typeof__(hal_global_avgpool_fwd)*)dlsym(h, "hal_global_avgpool_fwd"))) return "hal_global_avgpool_fwd";
	if (!(f->global_avgpool_bwd = (__typeof__(hal_global_avgpool_bwd)*)dlsym(h, "hal_global_avgpool_bwd"))) return "hal_global_avgpool_bwd";
	if (!(f->l2norm_rows = (__typeof__(hal_l2norm_rows)*)dlsym(h, "hal_l2norm_rows"))) return "hal_l2norm_rows";
	if (!(f->l2norm_rows_bwd = (__typeof__(hal_l2norm_rows_bwd)*)dlsym(h, "hal_l2norm_rows_bwd"))) return "hal_l2norm_rows_bwd";
	if (!(f->softmax_ce_workspace = (__typeof__(hal_softmax_ce_workspace)*)dlsym(h, "hal_softmax_ce_workspace"))) return "hal_softmax_ce_workspace";
	if (!(f->softmax_ce = (__typeof__(hal_softmax_ce)*)dlsym(h, "hal_softmax_ce"))) return "hal_softmax_ce";
	if (!(f->sgd = (__typeof__(hal_sgd)*)dlsym(h, "hal_sgd"))) return "hal_sgd";
	if (!(f->lars = (__typeof__(hal_lars)*)dlsym(h, "hal_lars"))) return "hal_lars";
	if (!(f->adamw = (__typeof__(hal_adamw)*)dlsym(h, "hal_adamw"))) return "hal_adamw";
	if (!(f->ema = (__typeof__(hal_ema)*)dlsym(h, "hal_ema"))) return "hal_ema";
	return NULL;
}

static int t_gemm(const hal_fns* f, uintptr_t stream, uintptr_t A, uintptr_t B, uintptr_t C, const hal_gemm_args* a) {
	return f->gemm((void*)stream, (const float*)A, (const float*)B, (float*)C, a);
}
static int t_conv2d_fwd(const hal_fns* f, uintptr_t stream, uintptr_t x, uintptr_t w, uintptr_t y, const hal_conv_args* a) {
	return f->conv2d_fwd((void*)stream, (const float*)x, (const float*)w, (float*)y, a);
}
static int t_conv2d_bwd_data(const hal_fns* f, uintptr_t stream, uintptr_t dy, uintptr_t w, uintptr_t dx, const hal_conv_args* a) {
	return f->conv2d_bwd_data((void*)stream, (const float*)dy, (const float*)w, (float*)dx, a);
}
static int t_conv2d_bwd_filter(const hal_fns* f, uintptr_t stream, uintptr_t x, uintptr_t dy, uintptr_t dw, const hal_conv_args* a) {
	return f->conv2d_bwd_filter((void*)stream, (const float*)x, (const float*)dy, (float*)dw, a);
}
static size_t t_infonce_workspace(const hal_fns* f, const hal_infonce_args* a) {
	return f->infonce_workspace(a);
}
static int t_infonce(const hal_fns* f, uintptr_t stream, uintptr_t q, uintptr_t k, uintptr_t queue, uintptr_t pos, uintptr_t self, uintptr_t anchor_id, uintptr_t key_id, uintptr_t loss, uintptr_t dq, uintptr_t dk, uintptr_t workspace, const hal_infonce_args* a) {
	return f->infonce((void*)stream, (const float*)q, (const float*)k, (const float*)queue, (const int*)pos, (const int*)self, (const int*)anchor_id, (const int*)key_id, (float*)loss, (float*)dq, (float*)dk, (void*)workspace, a);
}
static size_t t_halluc_workspace(const hal_fns* f, const hal_halluc_args* a) {
	return f->halluc_workspace(a);
}
static int t_halluc_fwd(const hal_fns* f, uintptr_t stream, uintptr_t x, uintptr_t k, uintptr_t w1, uintptr_t b1, uintptr_t w2, uintptr_t b2, uintptr_t w3, uintptr_t b3, uintptr_t act, uintptr_t out, uintptr_t workspace, const hal_halluc_args* a) {
	return f->halluc_fwd((void*)stream, (const float*)x, (const float*)k, (const float*)w1, (const float*)b1, (const float*)w2, (const float*)b2, (const float*)w3, (const float*)b3, (float*)act, (float*)out, (void*)workspace, a);
}
static int t_halluc_bwd(const hal_fns* f, uintptr_t stream, uintptr_t x, uintptr_t k, uintptr_t w1, uintptr_t w2, uintptr_t w3, uintptr_t act, uintptr_t dout, uintptr_t dx, uintptr_t dk, uintptr_t dw1, uintptr_t db1, uintptr_t dw2, uintptr_t db2, uintptr_t dw3, uintptr_t db3, uintptr_t workspace, const hal_halluc_args* a) {
	return f->halluc_bwd((void*)stream, (const float*)x, (const float*)k, (const float*)w1, (const float*)w2, (const float*)w3, (const float*)act, (const float*)dout, (float*)dx, (float*)dk, (float*)dw1, (float*)db1, (float*)dw2, (float*)db2, (float*)dw3, (float*)db3, (void*)workspace, a);
}
static int t_abi_version(const hal_fns* f) { return f->abi_version(); }
static int t_device_count(const hal_fns* f, int* count) {
	return f->device_count(count);
}
static int t_init(const hal_fns* f, int device) {
	return f->init(device);
}
static int t_set_device(const hal_fns* f, int device) {
	return f->set_device(device);
}
static int t_device_props_get(const hal_fns* f, int device, hal_device_props* props) {
	return f->device_props_get(device, props);
}
static int t_mem_info(const hal_fns* f, size_t* free_bytes, size_t* total_bytes) {
	return f->mem_info(free_bytes, total_bytes);
}
static int t_driver_version(const hal_fns* f, int* version) {
	return f->driver_version(version);
}
static int t_runtime_version(const hal_fns* f, int* version) {
	return f->runtime_version(version);
}
static int t_malloc(const hal_fns* f, uintptr_t* ptr, size_t bytes) {
	return f->malloc((void**)ptr, bytes);
}
static int t_free(const hal_fns* f, uintptr_t ptr) {
	return f->free((void*)ptr);
}
static int t_memset(const hal_fns* f, uintptr_t stream, uintptr_t dst, int value, size_t bytes) {
	return f->memset((void*)stream, (void*)dst, value, bytes);
}
static int t_stream_create(const hal_fns* f, uintptr_t* stream) {
	return f->stream_create((void**)stream);
}
static int t_stream_destroy(const hal_fns* f, uintptr_t stream) {
	return f->stream_destroy((void*)stream);
}
static int t_stream_sync(const hal_fns* f, uintptr_t stream) {
	return f->stream_sync((void*)stream);
}
static int t_device_sync(const hal_fns* f) { return f->device_sync(); }
static int t_event_create(const hal_fns* f, uintptr_t* event) {
	return f->event_create((void**)event);
}
static int t_event_destroy(const hal_fns* f, uintptr_t event) {
	return f->event_destroy((void*)event);
}
static int t_event_record(const hal_fns* f, uintptr_t event, uintptr_t stream) {
	return f->event_record((void*)event, (void*)stream);
}
static int t_event_elapsed(const hal_fns* f, float* ms, uintptr_t start, uintptr_t end) {
	return f->event_elapsed(ms, (void*)start, (void*)end);
}
static int t_last_error(const hal_fns* f) { return f->last_error(); }
static const char* t_error_string(const hal_fns* f, int code) {
	return f->error_string(code);
}
static const char* t_error_name(const hal_fns* f, int code) {
	return f->error_name(code);
}
static int t_fill(const hal_fns* f, uintptr_t stream, uintptr_t y, long long n, float v) {
	return f->fill((void*)stream, (float*)y, n, v);
}
static int t_copy(const hal_fns* f, uintptr_t stream, uintptr_t x, uintptr_t y, long long n) {
	return f->copy((void*)stream, (const float*)x, (float*)y, n);
}
static int t_add(const hal_fns* f, uintptr_t stream, uintptr_t a, uintptr_t b, uintptr_t y, long long n) {
	return f->add((void*)stream, (const float*)a, (const float*)b, (float*)y, n);
}
static int t_sub(const hal_fns* f, uintptr_t stream, uintptr_t a, uintptr_t b, uintptr_t y, long long n) {
	return f->sub((void*)stream, (const float*)a, (const float*)b, (float*)y, n);
}
static int t_mul(const hal_fns* f, uintptr_t stream, uintptr_t a, uintptr_t b, uintptr_t y, long long n) {
	return f->mul((void*)stream, (const float*)a, (const float*)b, (float*)y, n);
}
static int t_scale(const hal_fns* f, uintptr_t stream, float s, uintptr_t a, uintptr_t y, long long n) {
	return f->scale((void*)stream, s, (const float*)a, (float*)y, n);
}
static int t_axpy(const hal_fns* f, uintptr_t stream, float alpha, uintptr_t x, uintptr_t y, long long n) {
	return f->axpy((void*)stream, alpha, (const float*)x, (float*)y, n);
}
static int t_relu(const hal_fns* f, uintptr_t stream, uintptr_t x, uintptr_t y, long long n) {
	return f->relu((void*)stream, (const float*)x, (float*)y, n);
}
static int t_relu_bwd(const hal_fns* f, uintptr_t stream, uintptr_t y, uintptr_t dy, uintptr_t dx, long long n) {
	return f->relu_bwd((void*)stream, (const float*)y, (const float*)dy, (float*)dx, n);
}
static int t_bias_add(const hal_fns* f, uintptr_t stream, uintptr_t b, uintptr_t y, long long outer, int c, long long inner) {
	return f->bias_add((void*)stream, (const float*)b, (float*)y, outer, c, inner);
}
static size_t t_sum_workspace(const hal_fns* f, long long n) {
	return f->sum_workspace(n);
}
static int t_sum(const hal_fns* f, uintptr_t stream, uintptr_t x, long long n, uintptr_t y, uintptr_t workspace) {
	return f->sum((void*)stream, (const float*)x, n, (float*)y, (void*)workspace);
}
static int t_sum_rows(const hal_fns* f, uintptr_t stream, uintptr_t x, int m, int n, uintptr_t y) {
	return f->sum_rows((void*)stream, (const float*)x, m, n, (float*)y);
}
static int t_sum_cols(const hal_fns* f, uintptr_t stream, uintptr_t x, int m, int n, uintptr_t y) {
	return f->sum_cols((void*)stream, (const float*)x, m, n, (float*)y);
}
static int t_bias_grad(const hal_fns* f, uintptr_t stream, uintptr_t dy, uintptr_t db, long long outer, int c, long long inner) {
	return f->bias_grad((void*)stream, (const float*)dy, (float*)db, outer, c, inner);
}
static size_t t_mt_workspace(const hal_fns* f, int count, int nchunks) {
	return f->mt_workspace(count, nchunks);
}
static int t_sum_squares(const hal_fns* f, uintptr_t stream, uintptr_t list, int count, int nchunks, uintptr_t out, uintptr_t workspace) {
	return f->sum_squares((void*)stream, (const hal_mt_tensor*)list, count, nchunks, (float*)out, (void*)workspace);
}
static size_t t_bn_workspace(const hal_fns* f, const hal_bn_args* a) {
	return f->bn_workspace(a);
}
static int t_bn_fwd_train(const hal_fns* f, uintptr_t stream, uintptr_t x, uintptr_t gamma, uintptr_t beta, uintptr_t y, uintptr_t save_mean, uintptr_t save_invstd, uintptr_t run_mean, uintptr_t run_var, uintptr_t workspace, const hal_bn_args* a) {
	return f->bn_fwd_train((void*)stream, (const float*)x, (const float*)gamma, (const float*)beta, (float*)y, (float*)save_mean, (float*)save_invstd, (float*)run_mean, (float*)run_var, (void*)workspace, a);
}
static int t_bn_fwd_infer(const hal_fns* f, uintptr_t stream, uintptr_t x, uintptr_t gamma, uintptr_t beta, uintptr_t run_mean, uintptr_t run_var, uintptr_t y, const hal_bn_args* a) {
	return f->bn_fwd_infer((void*)stream, (const float*)x, (const float*)gamma, (const float*)beta, (const float*)run_mean, (const float*)run_var, (float*)y, a);
}
static int t_bn_bwd(const hal_fns* f, uintptr_t stream, uintptr_t x, uintptr_t y, uintptr_t dy, uintptr_t gamma, uintptr_t save_mean, uintptr_t save_invstd, uintptr_t dx, uintptr_t dgamma, uintptr_t dbeta, uintptr_t workspace, const hal_bn_args* a) {
	return f->bn_bwd((void*)stream, (const float*)x, (const float*)y, (const float*)dy, (const float*)gamma, (const float*)save_mean, (const float*)save_invstd, (float*)dx, (float*)dgamma, (float*)dbeta, (void*)workspace, a);
}
static int t_maxpool_fwd(const hal_fns* f, uintptr_t stream, uintptr_t x, uintptr_t y, const hal_pool_args* a) {
	return f->maxpool_fwd((void*)stream, (const float*)x, (float*)y, a);
}
static int t_maxpool_bwd(const hal_fns* f, uintptr_t stream, uintptr_t x, uintptr_t y, uintptr_t dy, uintptr_t dx, const hal_pool_args* a) {
	return f->maxpool_bwd((void*)stream, (const float*)x, (const float*)y, (const float*)dy, (float*)dx, a);
}
static int t_global_avgpool_fwd(const hal_fns* f, uintptr_t stream, uintptr_t x, uintptr_t y, long long nc, int hw) {
	return f->global_avgpool_fwd((void*)stream, (const float*)x, (float*)y, nc, hw);
}
static int t_global_avgpool_bwd(const hal_fns* f, uintptr_t stream, uintptr_t dy, uintptr_t dx, long long nc, int hw) {
	return f->global_avgpool_bwd((void*)stream, (const float*)dy, (float*)dx, nc, hw);
}
static int t_l2norm_rows(const hal_fns* f, uintptr_t stream, uintptr_t x, uintptr_t y, uintptr_t norms, int m, int n, float eps) {
	return f->l2norm_rows((void*)stream, (const float*)x, (float*)y, (float*)norms, m, n, eps);
}
static int t_l2norm_rows_bwd(const hal_fns* f, uintptr_t stream, uintptr_t y, uintptr_t norms, uintptr_t dy, uintptr_t dx, int m, int n, float eps) {
	return f->l2norm_rows_bwd((void*)stream, (const float*)y, (const float*)norms, (const float*)dy, (float*)dx, m, n, eps);
}
static size_t t_softmax_ce_workspace(const hal_fns* f, int n, int c) {
	return f->softmax_ce_workspace(n, c);
}
static int t_softmax_ce(const hal_fns* f, uintptr_t stream, uintptr_t logits, uintptr_t labels, uintptr_t loss, uintptr_t dlogits, int n, int c, uintptr_t workspace) {
	return f->softmax_ce((void*)stream, (const float*)logits, (const int*)labels, (float*)loss, (float*)dlogits, n, c, (void*)workspace);
}
static int t_sgd(const hal_fns* f, uintptr_t stream, uintptr_t list, int count, int nchunks, const hal_sgd_args* a) {
	return f->sgd((void*)stream, (const hal_mt_tensor*)list, count, nchunks, a);
}
static int t_lars(const hal_fns* f, uintptr_t stream, uintptr_t list, int count, int nchunks, uintptr_t workspace, const hal_lars_args* a) {
	return f->lars((void*)stream, (const hal_mt_tensor*)list, count, nchunks, (void*)workspace, a);
}
static int t_adamw(const hal_fns* f, uintptr_t stream, uintptr_t list, int count, int nchunks, const hal_adamw_args* a) {
	return f->adamw((void*)stream, (const hal_mt_tensor*)list, count, nchunks, a);
}
static int t_ema(const hal_fns* f, uintptr_t stream, uintptr_t list, int count, int nchunks, float decay) {
	return f->ema((void*)stream, (const hal_mt_tensor*)list, count, nchunks, decay);
}
static int t_memcpy_h2d(const hal_fns* f, uintptr_t stream, uintptr_t dst, const void* src, size_t bytes) {
	return f->memcpy((void*)stream, (void*)dst, src, bytes, HAL_H2D, 0);
}
static int t_memcpy_d2h(const hal_fns* f, uintptr_t stream, void* dst, uintptr_t src, size_t bytes) {
	return f->memcpy((void*)stream, dst, (const void*)src, bytes, HAL_D2H, 1);
}
static int t_memcpy_d2d(const hal_fns* f, uintptr_t stream, uintptr_t dst, uintptr_t src, size_t bytes) {
	return f->memcpy((void*)stream, (void*)dst, (const void*)src, bytes, HAL_D2D, 0);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"
)

// cgoAvailable says whether this build can load the kernel library.
const cgoAvailable = true

// cgoLib implements hal over a dlopen'ed libhalcuda.so.
type cgoLib struct {
	handle unsafe.Pointer
	f      *C.hal_fns // C memory, freed by close
}

// openLibrary dlopens path and looks up every entry point of hal.h.
func openLibrary(path string) (hal, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var errbuf [1024]C.char
	h := C.hal_dlopen(cpath, &errbuf[0], C.int(len(errbuf)))
	if h == nil {
		return nil, errors.New(C.GoString(&errbuf[0]))
	}
	f := (*C.hal_fns)(C.calloc(1, C.sizeof_hal_fns))
	if f == nil {
		C.dlclose(h)
		return nil, errors.New("out of host memory")
	}
	if missing := C.hal_load(h, f); missing != nil {
		name := C.GoString(missing)
		C.free(unsafe.Pointer(f))
		C.dlclose(h)
		return nil, fmt.Errorf("%s lacks symbol %s (built from older sources; rebuild it with `make kernels`)", path, name)
	}
	l := &cgoLib{handle: h, f: f}
	if v := l.abiVersion(); v != C.HAL_ABI_VERSION {
		l.close()
		return nil, fmt.Errorf("%s has ABI version %d, this package wants %d (rebuild it with `make kernels`)", path, v, C.HAL_ABI_VERSION)
	}
	return l, nil
}

// mtLayout returns sizeof(hal_mt_tensor) and the offsets of n, chunk_start
// and flag, for the test that checks encodeMT against the C struct.
func mtLayout() [4]int {
	var out [4]C.size_t
	C.hal_mt_layout(&out[0])
	return [4]int{int(out[0]), int(out[1]), int(out[2]), int(out[3])}
}

// close does nothing: the handle stays open (the CUDA runtime linked into
// the library registers exit handlers, and other backends of the process
// share the handle), and so does the function table, which the allocator
// still uses to free the blocks of tensors that outlive their backend.
func (l *cgoLib) close() {}

func b2i(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

func up(p dptr) C.uintptr_t { return C.uintptr_t(p) }

func (l *cgoLib) abiVersion() int { return int(C.t_abi_version(l.f)) }

func (l *cgoLib) deviceCount() (int, int) {
	var n C.int
	code := C.t_device_count(l.f, &n)
	return int(n), int(code)
}

func (l *cgoLib) init(dev int) int      { return int(C.t_init(l.f, C.int(dev))) }
func (l *cgoLib) setDevice(dev int) int { return int(C.t_set_device(l.f, C.int(dev))) }

func (l *cgoLib) props(dev int) (deviceProps, int) {
	var p C.hal_device_props
	code := int(C.t_device_props_get(l.f, C.int(dev), &p))
	if code != 0 {
		return deviceProps{}, code
	}
	return deviceProps{
		name:               C.GoString(&p.name[0]),
		major:              int(p.major),
		minor:              int(p.minor),
		smCount:            int(p.sm_count),
		maxThreadsPerBlock: int(p.max_threads_per_block),
		totalMem:           uint64(p.total_mem),
		sharedPerBlock:     uint64(p.shared_per_block),
	}, 0
}

func (l *cgoLib) memInfo() (free, total uint64, code int) {
	var f, t C.size_t
	code = int(C.t_mem_info(l.f, &f, &t))
	return uint64(f), uint64(t), code
}

func (l *cgoLib) driverVersion() (int, int) {
	var v C.int
	code := C.t_driver_version(l.f, &v)
	return int(v), int(code)
}

func (l *cgoLib) runtimeVersion() (int, int) {
	var v C.int
	code := C.t_runtime_version(l.f, &v)
	return int(v), int(code)
}

func (l *cgoLib) malloc(bytes uint64) (dptr, int) {
	var p C.uintptr_t
	code := C.t_malloc(l.f, &p, C.size_t(bytes))
	return dptr(p), int(code)
}

func (l *cgoLib) free(p dptr) int { return int(C.t_free(l.f, up(p))) }

func (l *cgoLib) memcpyH2D(stream uintptr, dst dptr, src unsafe.Pointer, bytes uint64) int {
	return int(C.t_memcpy_h2d(l.f, C.uintptr_t(stream), up(dst), src, C.size_t(bytes)))
}

func (l *cgoLib) memcpyD2H(stream uintptr, dst unsafe.Pointer, src dptr, bytes uint64) int {
	return int(C.t_memcpy_d2h(l.f, C.uintptr_t(stream), dst, up(src), C.size_t(bytes)))
}

func (l *cgoLib) memcpyD2D(stream uintptr, dst, src dptr, bytes uint64) int {
	return int(C.t_memcpy_d2d(l.f, C.uintptr_t(stream), up(dst), up(src), C.size_t(bytes)))
}

func (l *cgoLib) memset(stream uintptr, dst dptr, value int, bytes uint64) int {
	return int(C.t_memset(l.f, C.uintptr_t(stream), up(dst), C.int(value), C.size_t(bytes)))
}

func (l *cgoLib) streamCreate() (uintptr, int) {
	var s C.uintptr_t
	code := C.t_stream_create(l.f, &s)
	return uintptr(s), int(code)
}

func (l *cgoLib) streamDestroy(s uintptr) int { return int(C.t_stream_destroy(l.f, C.uintptr_t(s))) }
func (l *cgoLib) streamSync(s uintptr) int    { return int(C.t_stream_sync(l.f, C.uintptr_t(s))) }

func (l *cgoLib) eventCreate() (uintptr, int) {
	var e C.uintptr_t
	code := C.t_event_create(l.f, &e)
	return uintptr(e), int(code)
}

func (l *cgoLib) eventDestroy(e uintptr) int { return int(C.t_event_destroy(l.f, C.uintptr_t(e))) }
func (l *cgoLib) eventRecord(e, s uintptr) int {
	return int(C.t_event_record(l.f, C.uintptr_t(e), C.uintptr_t(s)))
}

func (l *cgoLib) eventElapsed(start, end uintptr) (float32, int) {
	var ms C.float
	code := C.t_event_elapsed(l.f, &ms, C.uintptr_t(start), C.uintptr_t(end))
	return float32(ms), int(code)
}

func (l *cgoLib) lastError() int { return int(C.t_last_error(l.f)) }

func (l *cgoLib) errorString(code int) string {
	if s := C.t_error_string(l.f, C.int(code)); s != nil {
		return C.GoString(s)
	}
	return fmt.Sprintf("error %d", code)
}

func (l *cgoLib) errorName(code int) string {
	if s := C.t_error_name(l.f, C.int(code)); s != nil {
		return C.GoString(s)
	}
	return fmt.Sprintf("error %d", code)
}

func (l *cgoLib) gemm(s uintptr, a, b, c dptr, g *gemmArgs) int {
	ca := C.hal_gemm_args{
		transA: C.int(g.transA), transB: C.int(g.transB), m: C.int(g.m), n: C.int(g.n), k: C.int(g.k),
		lda: C.int(g.lda), ldb: C.int(g.ldb), ldc: C.int(g.ldc), batch: C.int(g.batch),
		strideA: C.longlong(g.strideA), strideB: C.longlong(g.strideB), strideC: C.longlong(g.strideC),
		alpha: C.float(g.alpha), beta: C.float(g.beta), tf32: b2i(g.tf32),
	}
	return int(C.t_gemm(l.f, C.uintptr_t(s), up(a), up(b), up(c), &ca))
}

func convC(a *convArgs) C.hal_conv_args {
	return C.hal_conv_args{
		n: C.int(a.n), c: C.int(a.c), h: C.int(a.h), w: C.int(a.w), k: C.int(a.k), r: C.int(a.r), s: C.int(a.s),
		p: C.int(a.p), q: C.int(a.q), stride_h: C.int(a.strideH), stride_w: C.int(a.strideW),
		pad_h: C.int(a.padH), pad_w: C.int(a.padW), tf32: b2i(a.tf32),
	}
}

func (l *cgoLib) conv(dir convDir, s uintptr, in, w, out dptr, a *convArgs) int {
	ca := convC(a)
	switch dir {
	case convFwd:
		return int(C.t_conv2d_fwd(l.f, C.uintptr_t(s), up(in), up(w), up(out), &ca))
	case convBwdData:
		return int(C.t_conv2d_bwd_data(l.f, C.uintptr_t(s), up(in), up(w), up(out), &ca))
	case convBwdFilter:
		return int(C.t_conv2d_bwd_filter(l.f, C.uintptr_t(s), up(in), up(w), up(out), &ca))
	}
	return codeInvalidValue
}

func infonceC(a *infonceArgs) C.hal_infonce_args {
	return C.hal_infonce_args{
		a: C.int(a.a), b: C.int(a.b), q: C.int(a.q), d: C.int(a.d), temperature: C.float(a.temperature),
		in_batch_negatives: b2i(a.inBatchNegatives), twins: b2i(a.twins),
	}
}

func (l *cgoLib) infonceWorkspace(a *infonceArgs) uint64 {
	ca := infonceC(a)
	return uint64(C.t_infonce_workspace(l.f, &ca))
}

func (l *cgoLib) infonce(s uintptr, q, k, queue, pos, self, anchorID, keyID, loss, dq, dk, ws dptr, a *infonceArgs) int {
	ca := infonceC(a)
	return int(C.t_infonce(l.f, C.uintptr_t(s), up(q), up(k), up(queue), up(pos), up(self), up(anchorID), up(keyID),
		up(loss), up(dq), up(dk), up(ws), &ca))
}

func hallucC(a *hallucArgs) C.hal_halluc_args {
	return C.hal_halluc_args{n: C.int(a.n), d: C.int(a.d), lambda: C.float(a.lambda), tf32: b2i(a.tf32)}
}

func (l *cgoLib) hallucWorkspace(a *hallucArgs) uint64 {
	ca := hallucC(a)
	return uint64(C.t_halluc_workspace(l.f, &ca))
}

func (l *cgoLib) hallucFwd(s uintptr, x, k, w1, b1, w2, b2, w3, b3, act, out, ws dptr, a *hallucArgs) int {
	ca := hallucC(a)
	return int(C.t_halluc_fwd(l.f, C.uintptr_t(s), up(x), up(k), up(w1), up(b1), up(w2), up(b2), up(w3), up(b3),
		up(act), up(out), up(ws), &ca))
}

func (l *cgoLib) hallucBwd(s uintptr, x, k, w1, w2, w3, act, dout, dx, dk, dw1, db1, dw2, db2, dw3, db3, ws dptr,
	a *hallucArgs) int {
	ca := hallucC(a)
	return int(C.t_halluc_bwd(l.f, C.uintptr_t(s), up(x), up(k), up(w1), up(w2), up(w3), up(act), up(dout), up(dx),
		up(dk), up(dw1), up(db1), up(dw2), up(db2), up(dw3), up(db3), up(ws), &ca))
}

func (l *cgoLib) fill(s uintptr, y dptr, n int64, v float32) int {
	return int(C.t_fill(l.f, C.uintptr_t(s), up(y), C.longlong(n), C.float(v)))
}

func (l *cgoLib) copy(s uintptr, x, y dptr, n int64) int {
	return int(C.t_copy(l.f, C.uintptr_t(s), up(x), up(y), C.longlong(n)))
}

func (l *cgoLib) binary(op binOp, s uintptr, a, b, y dptr, n int64) int {
	cs, cn := C.uintptr_t(s), C.longlong(n)
	switch op {
	case opAdd:
		return int(C.t_add(l.f, cs, up(a), up(b), up(y), cn))
	case opSub:
		return int(C.t_sub(l.f, cs, up(a), up(b), up(y), cn))
	case opMul:
		return int(C.t_mul(l.f, cs, up(a), up(b), up(y), cn))
	case opReluBwd:
		return int(C.t_relu_bwd(l.f, cs, up(a), up(b), up(y), cn))
	}
	return codeInvalidValue
}

func (l *cgoLib) scale(s uintptr, alpha float32, a, y dptr, n int64) int {
	return int(C.t_scale(l.f, C.uintptr_t(s), C.float(alpha), up(a), up(y), C.longlong(n)))
}

func (l *cgoLib) axpy(s uintptr, alpha float32, x, y dptr, n int64) int {
	return int(C.t_axpy(l.f, C.uintptr_t(s), C.float(alpha), up(x), up(y), C.longlong(n)))
}

func (l *cgoLib) relu(s uintptr, x, y dptr, n int64) int {
	return int(C.t_relu(l.f, C.uintptr_t(s), up(x), up(y), C.longlong(n)))
}

func (l *cgoLib) biasAdd(s uintptr, b, y dptr, outer int64, c int, inner int64) int {
	return int(C.t_bias_add(l.f, C.uintptr_t(s), up(b), up(y), C.longlong(outer), C.int(c), C.longlong(inner)))
}

func (l *cgoLib) sumWorkspace(n int64) uint64 { return uint64(C.t_sum_workspace(l.f, C.longlong(n))) }

func (l *cgoLib) sum(s uintptr, x dptr, n int64, y, ws dptr) int {
	return int(C.t_sum(l.f, C.uintptr_t(s), up(x), C.longlong(n), up(y), up(ws)))
}

func (l *cgoLib) sumRows(s uintptr, x dptr, m, n int, y dptr) int {
	return int(C.t_sum_rows(l.f, C.uintptr_t(s), up(x), C.int(m), C.int(n), up(y)))
}

func (l *cgoLib) sumCols(s uintptr, x dptr, m, n int, y dptr) int {
	return int(C.t_sum_cols(l.f, C.uintptr_t(s), up(x), C.int(m), C.int(n), up(y)))
}

func (l *cgoLib) biasGrad(s uintptr, dy, db dptr, outer int64, c int, inner int64) int {
	return int(C.t_bias_grad(l.f, C.uintptr_t(s), up(dy), up(db), C.longlong(outer), C.int(c), C.longlong(inner)))
}

func (l *cgoLib) mtWorkspace(count, nchunks int) uint64 {
	return uint64(C.t_mt_workspace(l.f, C.int(count), C.int(nchunks)))
}

func (l *cgoLib) sumSquares(s uintptr, list dptr, count, nchunks int, out, ws dptr) int {
	return int(C.t_sum_squares(l.f, C.uintptr_t(s), up(list), C.int(count), C.int(nchunks), up(out), up(ws)))
}

func bnC(a *bnArgs) C.hal_bn_args {
	return C.hal_bn_args{n: C.int(a.n), c: C.int(a.c), hw: C.int(a.hw), eps: C.float(a.eps),
		momentum: C.float(a.momentum), relu: b2i(a.relu)}
}

func (l *cgoLib) bnWorkspace(a *bnArgs) uint64 {
	ca := bnC(a)
	return uint64(C.t_bn_workspace(l.f, &ca))
}

func (l *cgoLib) bnTrain(s uintptr, x, gamma, beta, y, saveMean, saveInvstd, runMean, runVar, ws dptr, a *bnArgs) int {
	ca := bnC(a)
	return int(C.t_bn_fwd_train(l.f, C.uintptr_t(s), up(x), up(gamma), up(beta), up(y), up(saveMean),
		up(saveInvstd), up(runMean), up(runVar), up(ws), &ca))
}

func (l *cgoLib) bnInfer(s uintptr, x, gamma, beta, runMean, runVar, y dptr, a *bnArgs) int {
	ca := bnC(a)
	return int(C.t_bn_fwd_infer(l.f, C.uintptr_t(s), up(x), up(gamma), up(beta), up(runMean), up(runVar), up(y), &ca))
}

func (l *cgoLib) bnBwd(s uintptr, x, y, dy, gamma, saveMean, saveInvstd, dx, dgamma, dbeta, ws dptr, a *bnArgs) int {
	ca := bnC(a)
	return int(C.t_bn_bwd(l.f, C.uintptr_t(s), up(x), up(y), up(dy), up(gamma), up(saveMean), up(saveInvstd),
		up(dx), up(dgamma), up(dbeta), up(ws), &ca))
}

func poolC(a *poolArgs) C.hal_pool_args {
	return C.hal_pool_args{n: C.int(a.n), c: C.int(a.c), h: C.int(a.h), w: C.int(a.w), p: C.int(a.p), q: C.int(a.q),
		kh: C.int(a.kh), kw: C.int(a.kw), stride_h: C.int(a.strideH), stride_w: C.int(a.strideW),
		pad_h: C.int(a.padH), pad_w: C.int(a.padW)}
}

func (l *cgoLib) maxpoolFwd(s uintptr, x, y dptr, a *poolArgs) int {
	ca := poolC(a)
	return int(C.t_maxpool_fwd(l.f, C.uintptr_t(s), up(x), up(y), &ca))
}

func (l *cgoLib) maxpoolBwd(s uintptr, x, y, dy, dx dptr, a *poolArgs) int {
	ca := poolC(a)
	return int(C.t_maxpool_bwd(l.f, C.uintptr_t(s), up(x), up(y), up(dy), up(dx), &ca))
}

func (l *cgoLib) avgpoolFwd(s uintptr, x, y dptr, nc int64, hw int) int {
	return int(C.t_global_avgpool_fwd(l.f, C.uintptr_t(s), up(x), up(y), C.longlong(nc), C.int(hw)))
}

func (l *cgoLib) avgpoolBwd(s uintptr, dy, dx dptr, nc int64, hw int) int {
	return int(C.t_global_avgpool_bwd(l.f, C.uintptr_t(s), up(dy), up(dx), C.longlong(nc), C.int(hw)))
}

func (l *cgoLib) l2norm(s uintptr, x, y, norms dptr, m, n int, eps float32) int {
	return int(C.t_l2norm_rows(l.f, C.uintptr_t(s), up(x), up(y), up(norms), C.int(m), C.int(n), C.float(eps)))
}

func (l *cgoLib) l2normBwd(s uintptr, y, norms, dy, dx dptr, m, n int, eps float32) int {
	return int(C.t_l2norm_rows_bwd(l.f, C.uintptr_t(s), up(y), up(norms), up(dy), up(dx), C.int(m), C.int(n),
		C.float(eps)))
}

func (l *cgoLib) softmaxCEWorkspace(n, c int) uint64 {
	return uint64(C.t_softmax_ce_workspace(l.f, C.int(n), C.int(c)))
}

func (l *cgoLib) softmaxCE(s uintptr, logits, labels, loss, dlogits dptr, n, c int, ws dptr) int {
	return int(C.t_softmax_ce(l.f, C.uintptr_t(s), up(logits), up(labels), up(loss), up(dlogits), C.int(n), C.int(c),
		up(ws)))
}

func (l *cgoLib) sgd(s uintptr, list dptr, count, nchunks int, a *sgdArgs) int {
	ca := C.hal_sgd_args{lr: C.float(a.lr), momentum: C.float(a.momentum), weight_decay: C.float(a.weightDecay),
		nesterov: b2i(a.nesterov), first_step: b2i(a.firstStep)}
	return int(C.t_sgd(l.f, C.uintptr_t(s), up(list), C.int(count), C.int(nchunks), &ca))
}

func (l *cgoLib) lars(s uintptr, list dptr, count, nchunks int, ws dptr, a *larsArgs) int {
	ca := C.hal_lars_args{lr: C.float(a.lr), momentum: C.float(a.momentum), weight_decay: C.float(a.weightDecay),
		eta: C.float(a.eta)}
	return int(C.t_lars(l.f, C.uintptr_t(s), up(list), C.int(count), C.int(nchunks), up(ws), &ca))
}

func (l *cgoLib) adamw(s uintptr, list dptr, count, nchunks int, a *adamwArgs) int {
	ca := C.hal_adamw_args{lr: C.float(a.lr), beta1: C.float(a.beta1), beta2: C.float(a.beta2), eps: C.float(a.eps),
		weight_decay: C.float(a.weightDecay), bias_correction1: C.float(a.biasCorrection1),
		bias_correction2: C.float(a.biasCorrection2)}
	return int(C.t_adamw(l.f, C.uintptr_t(s), up(list), C.int(count), C.int(nchunks), &ca))
}

func (l *cgoLib) ema(s uintptr, list dptr, count, nchunks int, decay float32) int {
	return int(C.t_ema(l.f, C.uintptr_t(s), up(list), C.int(count), C.int(nchunks), C.float(decay)))
}
