/* SPDX-License-Identifier: MIT */
/* The kit on CUDA: device 0, cudaMalloc'd memory, transfers on the context's stream, and a
 * pair of events for the timer. With KIT_TIMED, a non-blocking stream of the kit's own. */
#include <cuda_runtime_api.h>

#include "kit_internal.h"
#include "sigfuse_cuda.h"

typedef struct cuda_state {
    cudaStream_t own;       /* KIT_TIMED: the stream the context was made on */
    cudaEvent_t event[2];   /* the timer's start and stop */
    size_t l2_bytes;
} cuda_state;

/* A failure is cleared (cudaGetLastError) so that the next call does not report it again. */
static bool check(cudaError_t err, const char *what)
{
    return err == cudaSuccess ||
           (cudaGetLastError(), kit_fail("%s: %s (%s)", what, cudaGetErrorName(err), cudaGetErrorString(err)));
}

cudaStream_t kit_cuda_stream(const kit_dev *d)
{
    cudaStream_t s = NULL;
    if (sigfuse_cuda_get_stream(d->ctx, &s) != SIGFUSE_SUCCESS)
        s = NULL;
    return s;
}

static sigfuse_status cuda_open(kit_dev *d, unsigned flags)
{
    cuda_state *s = d->state;
    int l2 = 0;
    if (!check(cudaSetDevice(0), "cudaSetDevice") ||
        !check(cudaEventCreate(&s->event[0]), "cudaEventCreate") ||
        !check(cudaEventCreate(&s->event[1]), "cudaEventCreate") ||
        !check(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, 0), "cudaDeviceGetAttribute") ||
        ((flags & KIT_TIMED) && !check(cudaStreamCreateWithFlags(&s->own, cudaStreamNonBlocking), "cudaStreamCreate")))
        return SIGFUSE_ERR_BACKEND;
    s->l2_bytes = l2 > 0 ? (size_t)l2 : 0;
    return (flags & KIT_TIMED) ? kit_made_ctx(d, sigfuse_ctx_create_cuda(&d->ctx, 0, s->own)) : kit_default_ctx(d);
}

static void cuda_close(kit_dev *d)
{
    cuda_state *s = d->state;
    for (int k = 0; k < 2; k++)
        if (s->event[k])
            cudaEventDestroy(s->event[k]);
    if (s->own)
        cudaStreamDestroy(s->own);
}

static void *cuda_alloc(kit_dev *d, size_t bytes)
{
    (void)d;
    void *p = NULL;
    if (!check(cudaMalloc(&p, bytes), "cudaMalloc"))
        return NULL;
    return p;
}

static void cuda_free(kit_dev *d, void *h)
{
    (void)d;
    cudaFree(h);
}

static bool cuda_upload(kit_dev *d, void *h, size_t off, const void *src, size_t bytes)
{
    cudaStream_t s = kit_cuda_stream(d);
    return check(cudaMemcpyAsync((char *)h + off, src, bytes, cudaMemcpyHostToDevice, s), "upload") &&
           check(cudaStreamSynchronize(s), "upload");
}

static bool cuda_download(kit_dev *d, const void *h, size_t off, void *dst, size_t bytes)
{
    cudaStream_t s = kit_cuda_stream(d);
    return check(cudaMemcpyAsync(dst, (const char *)h + off, bytes, cudaMemcpyDeviceToHost, s), "download") &&
           check(cudaStreamSynchronize(s), "download");
}

static bool cuda_fill(kit_dev *d, void *h, size_t off, int byte, size_t bytes)
{
    return check(cudaMemsetAsync((char *)h + off, byte, bytes, kit_cuda_stream(d)), "cudaMemsetAsync");
}

static bool cuda_copy(kit_dev *d, void *dst, size_t dst_off, const void *src, size_t src_off, size_t bytes)
{
    return check(cudaMemcpyAsync((char *)dst + dst_off, (const char *)src + src_off, bytes, cudaMemcpyDeviceToDevice,
                                 kit_cuda_stream(d)),
                 "cudaMemcpyAsync");
}

static bool cuda_sync(kit_dev *d) { return check(cudaStreamSynchronize(kit_cuda_stream(d)), "cudaStreamSynchronize"); }

static size_t cuda_free_bytes(kit_dev *d)
{
    (void)d;
    size_t free_b = 0, total = 0;
    return check(cudaMemGetInfo(&free_b, &total), "cudaMemGetInfo") ? free_b : 0;
}

static size_t cuda_cache_bytes(kit_dev *d) { return ((cuda_state *)d->state)->l2_bytes; }

static bool cuda_timer_start(kit_dev *d)
{
    return check(cudaEventRecord(((cuda_state *)d->state)->event[0], kit_cuda_stream(d)), "cudaEventRecord");
}

static bool cuda_timer_stop(kit_dev *d, double *seconds)
{
    cuda_state *s = d->state;
    float ms = 0.0f;
    if (!check(cudaEventRecord(s->event[1], kit_cuda_stream(d)), "cudaEventRecord") ||
        !check(cudaEventSynchronize(s->event[1]), "cudaEventSynchronize") ||
        !check(cudaEventElapsedTime(&ms, s->event[0], s->event[1]), "cudaEventElapsedTime"))
        return false;
    *seconds = 1e-3 * (double)ms;
    return true;
}

const kit_ops kit_cuda_ops = {
    sizeof(cuda_state), cuda_open, cuda_close, cuda_alloc, cuda_free, cuda_upload, cuda_download, cuda_fill,
    cuda_copy, cuda_sync, cuda_free_bytes, cuda_cache_bytes, cuda_timer_start, cuda_timer_stop,
};
