// runtime.cu: the runtime entry points of hal.h: device discovery and
// properties, memory, copies, streams, events and error strings. Each is a
// thin wrapper over the CUDA runtime (linked statically) that checks its
// arguments and returns the cudaError_t code.
#include <string.h>

#include "hal_abi.h"
#include "hal_util.cuh"

#ifdef HAL_EMULATE
// The runtime calls that the CPU emulator (emulator.cuh) lacks: one device
// whose memory is host memory, streams that are synchronous.
namespace {
struct cudaDeviceProp {
    char name[256];
    int major, minor, multiProcessorCount, maxThreadsPerBlock;
    size_t totalGlobalMem, sharedMemPerBlockOptin;
};
constexpr unsigned cudaStreamNonBlocking = 1;
char emu_stream;
cudaError_t cudaGetDeviceCount(int* n) {
    *n = 1;
    return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int device) {
    if (device != 0) return cudaErrorInvalidValue;
    memset(p, 0, sizeof(*p));
    strcpy(p->name, "CPU emulator (emulator.cuh)");
    p->major = 9;
    p->multiProcessorCount = 132;
    p->maxThreadsPerBlock = 1024;
    p->totalGlobalMem = (size_t)16 << 30;
    p->sharedMemPerBlockOptin = 227 << 10;
    return cudaSuccess;
}
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total) {
    *free_bytes = *total = (size_t)16 << 30;
    return cudaSuccess;
}
cudaError_t cudaDriverGetVersion(int* v) {
    *v = 0;
    return cudaSuccess;
}
cudaError_t cudaRuntimeGetVersion(int* v) {
    *v = 0;
    return cudaSuccess;
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned) {
    *s = (cudaStream_t)(void*)&emu_stream;
    return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t) { return cudaSuccess; }
const char* cudaGetErrorName(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    default: return "cudaErrorUnknown";
    }
}
}  // namespace
#endif

extern "C" {

int hal_abi_version(void) { return HAL_ABI_VERSION; }

unsigned long long hal_abi_hash(void) { return HAL_ABI_HASH; }

int hal_device_count(int* count) {
    HAL_REQUIRE(count != nullptr);
    *count = 0;
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        cudaGetLastError();  // do not leave the error sticky for later calls
        return (int)e;
    }
    *count = n;
    return 0;
}

int hal_init(int device) {
    int n = 0;
    HAL_TRY(cudaGetDeviceCount(&n));
    HAL_REQUIRE(device >= 0 && device < n);
    HAL_TRY(cudaSetDevice(device));
    // cudaFree(0) creates the primary context now rather than at the first
    // allocation, so that a broken driver is reported here.
    HAL_TRY(cudaFree(0));
    return 0;
}

int hal_set_device(int device) { return (int)cudaSetDevice(device); }

int hal_device_props_get(int device, hal_device_props* props) {
    HAL_REQUIRE(props != nullptr);
    cudaDeviceProp p;
    HAL_TRY(cudaGetDeviceProperties(&p, device));
    memset(props, 0, sizeof(*props));
    size_t len = strnlen(p.name, sizeof(p.name));
    if (len > sizeof(props->name) - 1) len = sizeof(props->name) - 1;
    memcpy(props->name, p.name, len);
    props->major = p.major;
    props->minor = p.minor;
    props->sm_count = p.multiProcessorCount;
    props->max_threads_per_block = p.maxThreadsPerBlock;
    props->total_mem = p.totalGlobalMem;
    props->shared_per_block = p.sharedMemPerBlockOptin;
    return 0;
}

int hal_mem_info(size_t* free_bytes, size_t* total_bytes) {
    HAL_REQUIRE(free_bytes != nullptr && total_bytes != nullptr);
    return (int)cudaMemGetInfo(free_bytes, total_bytes);
}

int hal_driver_version(int* version) {
    HAL_REQUIRE(version != nullptr);
    return (int)cudaDriverGetVersion(version);
}

int hal_runtime_version(int* version) {
    HAL_REQUIRE(version != nullptr);
    return (int)cudaRuntimeGetVersion(version);
}

int hal_malloc(void** ptr, size_t bytes) {
    HAL_REQUIRE(ptr != nullptr && bytes > 0);
    *ptr = nullptr;
    cudaError_t e = cudaMalloc(ptr, bytes);
    if (e != cudaSuccess) {
        // Out of memory is not sticky; clear it so that the caller may free
        // cached blocks and try again.
        cudaGetLastError();
        *ptr = nullptr;
    }
    return (int)e;
}

int hal_free(void* ptr) {
    if (ptr == nullptr) return 0;
    return (int)cudaFree(ptr);
}

// memcpy_kind copies bytes of kind on stream, waiting for the stream when sync is set.
static int memcpy_kind(void* stream, void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, bool sync) {
    if (bytes == 0) return 0;
    HAL_REQUIRE(dst != nullptr && src != nullptr);
    cudaStream_t s = hal::stream_of(stream);
    HAL_TRY(cudaMemcpyAsync(dst, src, bytes, kind, s));
    if (sync) HAL_TRY(cudaStreamSynchronize(s));
    return 0;
}

int hal_memcpy_h2d(void* stream, void* dst, const void* src, size_t bytes) {
    return memcpy_kind(stream, dst, src, bytes, cudaMemcpyHostToDevice, false);
}

int hal_memcpy_d2h(void* stream, void* dst, const void* src, size_t bytes) {
    return memcpy_kind(stream, dst, src, bytes, cudaMemcpyDeviceToHost, true);
}

int hal_memcpy_d2d(void* stream, void* dst, const void* src, size_t bytes) {
    return memcpy_kind(stream, dst, src, bytes, cudaMemcpyDeviceToDevice, false);
}

int hal_memset(void* stream, void* dst, int value, size_t bytes) {
    if (bytes == 0) return 0;
    HAL_REQUIRE(dst != nullptr);
    return (int)cudaMemsetAsync(dst, value, bytes, hal::stream_of(stream));
}

int hal_stream_create(void** stream) {
    HAL_REQUIRE(stream != nullptr);
    cudaStream_t s = nullptr;
    HAL_TRY(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    *stream = (void*)s;
    return 0;
}

int hal_stream_destroy(void* stream) {
    if (stream == nullptr) return 0;
    return (int)cudaStreamDestroy(hal::stream_of(stream));
}

int hal_stream_sync(void* stream) { return (int)cudaStreamSynchronize(hal::stream_of(stream)); }

int hal_device_sync(void) { return (int)cudaDeviceSynchronize(); }

int hal_event_create(void** event) {
    HAL_REQUIRE(event != nullptr);
    cudaEvent_t e = nullptr;
    HAL_TRY(cudaEventCreate(&e));
    *event = (void*)e;
    return 0;
}

int hal_event_destroy(void* event) {
    if (event == nullptr) return 0;
    return (int)cudaEventDestroy((cudaEvent_t)event);
}

int hal_event_record(void* event, void* stream) {
    HAL_REQUIRE(event != nullptr);
    return (int)cudaEventRecord((cudaEvent_t)event, hal::stream_of(stream));
}

int hal_event_elapsed(float* ms, void* start, void* end) {
    HAL_REQUIRE(ms != nullptr && start != nullptr && end != nullptr);
    HAL_TRY(cudaEventSynchronize((cudaEvent_t)end));
    return (int)cudaEventElapsedTime(ms, (cudaEvent_t)start, (cudaEvent_t)end);
}

int hal_last_error(void) { return (int)cudaGetLastError(); }

const char* hal_error_string(int code) { return cudaGetErrorString((cudaError_t)code); }

const char* hal_error_name(int code) { return cudaGetErrorName((cudaError_t)code); }

}  // extern "C"
