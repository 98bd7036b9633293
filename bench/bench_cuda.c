/*
 * The CUDA backend's memory and clock for sigfuse-bench: device 0, one non-blocking
 * stream that the sigfuse context enqueues on, and a pair of events around each rep.
 * C code on the CUDA runtime's C API.
 */
#include <stdlib.h>

#include <cuda_runtime_api.h>

#include "bench.h"
#include "sigfuse_cuda.h"

typedef struct cuda_state {
    int device;
    cudaStream_t stream;
    cudaEvent_t start, stop;
    size_t l2_bytes;
} cuda_state;

static bool check(cudaError_t err, const char *what)
{
    if (err == cudaSuccess)
        return true;
    return bench_fail("%s: %s (%s)", what, cudaGetErrorName(err), cudaGetErrorString(err));
}

static void cuda_close(void *state)
{
    cuda_state *s = state;
    if (!s)
        return;
    if (s->start)
        cudaEventDestroy(s->start);
    if (s->stop)
        cudaEventDestroy(s->stop);
    if (s->stream)
        cudaStreamDestroy(s->stream);
    free(s);
}

static bool cuda_open(void **state, sigfuse_ctx **ctx)
{
    cuda_state *s = calloc(1, sizeof *s);
    *state = s;
    *ctx = NULL;
    if (!s)
        return bench_fail("out of host memory");
    int l2 = 0;
    if (!check(cudaSetDevice(s->device), "cudaSetDevice") ||
        !check(cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking), "cudaStreamCreate") ||
        !check(cudaEventCreate(&s->start), "cudaEventCreate") || !check(cudaEventCreate(&s->stop), "cudaEventCreate") ||
        !check(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, s->device), "cudaDeviceGetAttribute")) {
        return false;
    }
    s->l2_bytes = l2 > 0 ? (size_t)l2 : 0;
    sigfuse_status st = sigfuse_ctx_create_cuda(ctx, s->device, s->stream);
    if (st != SIGFUSE_SUCCESS)
        return bench_fail("%s", sigfuse_last_create_error());
    return true;
}

static size_t cuda_cache_bytes(void *state) { return ((cuda_state *)state)->l2_bytes; }

static void *cuda_alloc(void *state, size_t bytes)
{
    (void)state;
    void *p = NULL;
    if (!check(cudaMalloc(&p, bytes ? bytes : 1), "cudaMalloc"))
        return NULL;
    return p;
}

static void cuda_free(void *state, void *ptr)
{
    (void)state;
    cudaFree(ptr);
}

static bool cuda_upload(void *state, void *dst, const void *host_src, size_t bytes)
{
    cuda_state *s = state;
    return check(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, s->stream), "upload") &&
           check(cudaStreamSynchronize(s->stream), "upload");
}

static bool cuda_download(void *state, void *host_dst, const void *src, size_t bytes)
{
    cuda_state *s = state;
    return check(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, s->stream), "download") &&
           check(cudaStreamSynchronize(s->stream), "download");
}

static bool cuda_fill(void *state, void *dst, int byte, size_t bytes)
{
    return check(cudaMemsetAsync(dst, byte, bytes, ((cuda_state *)state)->stream), "cudaMemsetAsync");
}

static bool cuda_copy(void *state, void *dst, const void *src, size_t bytes)
{
    return check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, ((cuda_state *)state)->stream),
                 "cudaMemcpyAsync");
}

static bool cuda_sync(void *state)
{
    return check(cudaStreamSynchronize(((cuda_state *)state)->stream), "cudaStreamSynchronize");
}

static bool cuda_timer_start(void *state)
{
    cuda_state *s = state;
    return check(cudaEventRecord(s->start, s->stream), "cudaEventRecord");
}

static bool cuda_timer_stop(void *state, double *seconds)
{
    cuda_state *s = state;
    float ms = 0.0f;
    if (!check(cudaEventRecord(s->stop, s->stream), "cudaEventRecord") ||
        !check(cudaEventSynchronize(s->stop), "cudaEventSynchronize") ||
        !check(cudaEventElapsedTime(&ms, s->start, s->stop), "cudaEventElapsedTime"))
        return false;
    *seconds = 1e-3 * (double)ms;
    return true;
}

const bench_backend bench_cuda_backend = {
    .name = "cuda",
    .backend = SIGFUSE_BACKEND_CUDA,
    .reps = 20,
    .warmup = 3,
    .copy_bytes = (size_t)1 << 30,
    /* 2^20 elements is launch-bound; 2^26 (256 MiB in f32) is many times the 50 MB L2 of
     * an H100. The head's large shape is an extreme-classification layer. */
    .sizes = {.elementwise = {1 << 20, 1 << 26},
              .cell = {{4096, 4096}},
              .head = {{8192, 2048, 4096}, {2048, 1024, 1024}}},
    .open = cuda_open,
    .close = cuda_close,
    .cache_bytes = cuda_cache_bytes,
    .alloc = cuda_alloc,
    .free = cuda_free,
    .buffer = sigfuse_cuda_buffer,
    .upload = cuda_upload,
    .download = cuda_download,
    .fill = cuda_fill,
    .copy = cuda_copy,
    .sync = cuda_sync,
    .timer_start = cuda_timer_start,
    .timer_stop = cuda_timer_stop,
};
