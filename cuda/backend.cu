/* SPDX-License-Identifier: MIT */
/*
 * The CUDA backend: contexts (device, the caller's stream, a cuBLAS handle with its own
 * workspace, and the reduction scratch, all set up once here so that ops allocate
 * nothing and can be captured into a CUDA graph), error reporting, and the table of ops
 * the host layer dispatches to. The ops live in one file per family (activation.cu,
 * glu.cu, lstm.cu, gru.cu, bce.cu, focal.cu, asymmetric.cu, bce_dice.cu, head.cu).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sf_cuda.h"
#include "reduce.cuh"

/* Reduction partials: one double per block of a flat kernel (at most SMs x 8 blocks, 1056
 * on a 132-SM sm_90 part) or per (row chunk, column) of a cell's bias gradient. 4 MiB holds 512 Ki. */
#define SF_SCRATCH_BYTES ((size_t)4 << 20)
/* cuBLAS's own workspace, handed over so that it never allocates inside a captured op.
 * 32 MiB is what the cuBLAS documentation recommends for Hopper (4 MiB before it). */
#define SF_CUBLAS_WORKSPACE_BYTES ((size_t)32 << 20)

sigfuse_status sf_cuda_fail(sigfuse_ctx *ctx, cudaError_t err, const char *what)
{
    return sf_fail(ctx, SIGFUSE_ERR_BACKEND, "cuda: %s failed: %s (%s)", what, cudaGetErrorName(err),
                   cudaGetErrorString(err));
}

sigfuse_status sf_cublas_fail(sigfuse_ctx *ctx, cublasStatus_t st, const char *what)
{
    return sf_fail(ctx, SIGFUSE_ERR_BACKEND, "cublas: %s failed: %s (%d)", what, cublasGetStatusString(st),
                   (int)st);
}

/* ---- Final pass of a reduced loss ------------------------------------------------------- */

__global__ void __launch_bounds__(SF_BLOCK) sf_finish_loss_kernel(const double *partials, int64_t count, int mean,
                                                                  double mean_count, const unsigned long long *kept,
                                                                  float *out)
{
    __shared__ double warp_sums[32];
    double v = 0.0;
    for (int64_t i = threadIdx.x; i < count; i += blockDim.x)
        v += partials[i];
    double total = sf_block_sum(v, warp_sums);
    if (threadIdx.x == 0) {
        const double n = kept ? (double)*kept : mean_count;
        *out = (float)(mean ? total / n : total);   /* MEAN of nothing: 0 / 0 = NaN */
    }
}

sigfuse_status sf_cuda_finish_loss_kept(sigfuse_ctx *ctx, const double *partials, int64_t count,
                                        sigfuse_reduction reduction, double mean_count,
                                        const unsigned long long *kept, float *out)
{
    sf_cuda_state *s = sf_cuda_of(ctx);
    sf_finish_loss_kernel<<<1, SF_BLOCK, 0, s->stream>>>(partials, count, reduction == SIGFUSE_REDUCTION_MEAN,
                                                         mean_count, kept, out);
    SF_LAUNCH_CHECK(ctx, "loss final-sum kernel launch");
    return SIGFUSE_SUCCESS;
}

sigfuse_status sf_cuda_finish_loss(sigfuse_ctx *ctx, const double *partials, int64_t count,
                                   sigfuse_reduction reduction, double mean_count, float *out)
{
    return sf_cuda_finish_loss_kept(ctx, partials, count, reduction, mean_count, nullptr, out);
}

/* ---- Kept count of a mask ------------------------------------------------------------------ */

/* Nonzero bytes of a 32-bit word: __vcmpne4 sets each such byte to 0xff. */
__device__ __forceinline__ unsigned sf_nonzero_bytes(unsigned w)
{
    return (unsigned)__popc(__vcmpne4(w, 0u)) >> 3;
}

/* The mask at any byte offset: its bytes before the first 16-byte boundary (head) and after
 * the last whole 16 bytes (tail) one a thread, the rest 16 bytes a thread. */
__global__ void __launch_bounds__(SF_BLOCK) sf_mask_count_kernel(const uint8_t *mask, int64_t n,
                                                                 unsigned long long *count)
{
    __shared__ unsigned long long warp_counts[SF_BLOCK / 32];
    int64_t head = (int64_t)((16 - (uintptr_t)mask % 16) % 16);
    if (head > n)
        head = n;
    const int64_t nvec = (n - head) / 16, tail0 = head + nvec * 16;
    const uint4 *body = reinterpret_cast<const uint4 *>(mask + head);
    const int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    unsigned long long c = 0;
    for (int64_t v = t; v < nvec; v += stride) {
        const uint4 w = body[v];
        c += sf_nonzero_bytes(w.x) + sf_nonzero_bytes(w.y) + sf_nonzero_bytes(w.z) + sf_nonzero_bytes(w.w);
    }
    if (t < head)
        c += mask[t] != 0;
    if (tail0 + t < n)
        c += mask[tail0 + t] != 0;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        c += __shfl_down_sync(0xffffffffu, c, o);
    if ((threadIdx.x & 31) == 0)
        warp_counts[threadIdx.x >> 5] = c;
    __syncthreads();
    if (threadIdx.x == 0) {
        unsigned long long b = 0;
        for (int w = 0; w < SF_BLOCK / 32; w++)
            b += warp_counts[w];
        atomicAdd(count, b);   /* integers: the total does not depend on the order */
    }
}

sigfuse_status sf_cuda_mask_count(sigfuse_ctx *ctx, const uint8_t *mask, int64_t n, unsigned long long *count)
{
    sf_cuda_state *s = sf_cuda_of(ctx);
    SF_CUDA_TRY(ctx, cudaMemsetAsync(count, 0, sizeof *count, s->stream));
    if (n <= 0)
        return SIGFUSE_SUCCESS;
    const unsigned grid = sf_grid_for<sf_mask_count_kernel>(s, (n + 15) / 16);
    sf_mask_count_kernel<<<grid, SF_BLOCK, 0, s->stream>>>(mask, n, count);
    SF_LAUNCH_CHECK(ctx, "mask count kernel launch");
    return SIGFUSE_SUCCESS;
}

/* ---- Streams ------------------------------------------------------------------------------ */

static bool is_special_stream(cudaStream_t stream)
{
    return stream == nullptr || stream == cudaStreamLegacy || stream == cudaStreamPerThread;
}

/* A caller's stream must belong to the context's device. Returns 0 when it does (or when
 * the runtime cannot tell, e.g. an older driver), 1 when it is not a valid stream, 2 when
 * it is on another device (*other set). */
static int stream_problem(int device, cudaStream_t stream, int *other, cudaError_t *why)
{
    if (is_special_stream(stream))
        return 0;
#if CUDART_VERSION >= 12080   /* cudaStreamGetDevice appeared in CUDA 12.8 */
    int dev = -1;
    cudaError_t e = cudaStreamGetDevice(stream, &dev);
    *why = e;
    if (e == cudaSuccess) {
        *other = dev;
        return dev == device ? 0 : 2;
    }
    cudaGetLastError();
    if (e == cudaErrorInvalidResourceHandle || e == cudaErrorContextIsDestroyed || e == cudaErrorInvalidValue)
        return 1;
    return 0;
#else
    (void)device, (void)other, (void)why;
    return 0;
#endif
}

/* ---- Context lifetime ---------------------------------------------------------------------- */

static void release_state(sf_cuda_state *s)
{
    if (!s)
        return;
    sf_device_scope scope;
    if (scope.enter(s->device) == cudaSuccess) {
        if (s->cublas)
            cublasDestroy(s->cublas);
        /* cudaFree waits for work still using these buffers on any stream. */
        if (s->cublas_workspace)
            cudaFree(s->cublas_workspace);
        if (s->scratch)
            cudaFree(s->scratch);
    }
    cudaGetLastError();
    free(s);
}

static void cuda_destroy(sigfuse_ctx *ctx)
{
    release_state(sf_cuda_of(ctx));
    ctx->impl = nullptr;
}

static sigfuse_status cuda_synchronize(sigfuse_ctx *ctx)
{
    sf_cuda_state *s = sf_cuda_of(ctx);
    SF_CUDA_ENTER(ctx, s);
    SF_CUDA_TRY(ctx, cudaStreamSynchronize(s->stream));
    return SIGFUSE_SUCCESS;
}

extern "C" sigfuse_status sf_cuda_available(void)
{
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        cudaGetLastError();   /* no driver, or no device: both mean "not here" */
        return SIGFUSE_ERR_NO_DEVICE;
    }
    return count > 0 ? SIGFUSE_SUCCESS : SIGFUSE_ERR_NO_DEVICE;
}

/* Creation failed at `what`: release what exists and record the message. */
static sigfuse_status create_failed(sigfuse_ctx *ctx, sf_cuda_state *s, sigfuse_status st, const char *what,
                                    const char *detail)
{
    release_state(s);
    free(ctx);
    return sf_create_fail(st, "cuda: %s: %s", what, detail);
}

extern const sf_backend_ops sf_cuda_ops;

extern "C" sigfuse_status sf_cuda_ctx_create(sigfuse_ctx **out, int device, void *stream_ptr)
{
    cudaStream_t stream = (cudaStream_t)stream_ptr;
    if (out)
        *out = nullptr;
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return sf_create_fail(SIGFUSE_ERR_NO_DEVICE, "cuda: no usable CUDA device: %s (%s)", cudaGetErrorName(e),
                              cudaGetErrorString(e));
    }
    if (count == 0)
        return sf_create_fail(SIGFUSE_ERR_NO_DEVICE, "cuda: no CUDA device is visible");
    if (device < 0)
        return sf_create_fail(SIGFUSE_ERR_INVALID_ARGUMENT, "cuda: device index %d is negative", device);
    if (device >= count)
        return sf_create_fail(SIGFUSE_ERR_NO_DEVICE, "cuda: device index %d does not exist (%d device%s visible)",
                              device, count, count == 1 ? " is" : "s are");

    sf_device_scope scope;
    e = scope.enter(device);
    if (e != cudaSuccess)
        return sf_create_fail(SIGFUSE_ERR_NO_DEVICE, "cuda: cannot use device %d: %s (%s)", device,
                              cudaGetErrorName(e), cudaGetErrorString(e));

    int other = -1;
    cudaError_t why = cudaSuccess;
    switch (stream_problem(device, stream, &other, &why)) {
    case 1:
        return sf_create_fail(SIGFUSE_ERR_INVALID_ARGUMENT, "cuda: stream %p is not a valid CUDA stream (%s)",
                              stream_ptr, cudaGetErrorName(why));
    case 2:
        return sf_create_fail(SIGFUSE_ERR_INVALID_ARGUMENT, "cuda: stream %p belongs to device %d, not device %d",
                              stream_ptr, other, device);
    default: break;
    }

    sigfuse_ctx *ctx = sf_ctx_alloc(SIGFUSE_BACKEND_CUDA, SIGFUSE_MEMORY_CUDA, &sf_cuda_ops);
    sf_cuda_state *s = (sf_cuda_state *)calloc(1, sizeof *s);
    if (!ctx || !s) {
        free(s);
        free(ctx);
        return sf_create_fail(SIGFUSE_ERR_OUT_OF_MEMORY, "cuda: out of host memory allocating the context");
    }
    s->device = device;
    s->stream = stream;
    ctx->impl = s;

    cudaDeviceProp prop;
    e = cudaGetDeviceProperties(&prop, device);
    if (e != cudaSuccess)
        return create_failed(ctx, s, SIGFUSE_ERR_NO_DEVICE, "cudaGetDeviceProperties", cudaGetErrorString(e));
    s->sm_count = prop.multiProcessorCount > 0 ? prop.multiProcessorCount : 1;
    snprintf(ctx->device_name, sizeof ctx->device_name, "%.200s (cuda device %d, sm_%d%d)", prop.name, device,
             prop.major, prop.minor);

    /* A device whose architecture the library was not compiled for would fail at the first
     * launch; say so now, with the reason. */
    cudaFuncAttributes attr;
    e = cudaFuncGetAttributes(&attr, sf_finish_loss_kernel);
    if (e != cudaSuccess) {
        cudaGetLastError();
        char detail[256];
        snprintf(detail, sizeof detail, "%s (%s): this library has no kernels for sm_%d%d (rebuild with "
                 "CMAKE_CUDA_ARCHITECTURES including %d%d)", cudaGetErrorName(e), cudaGetErrorString(e),
                 prop.major, prop.minor, prop.major, prop.minor);
        return create_failed(ctx, s, SIGFUSE_ERR_NO_DEVICE, ctx->device_name, detail);
    }

    e = cudaMalloc((void **)&s->scratch, SF_SCRATCH_BYTES);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return create_failed(ctx, s, SIGFUSE_ERR_OUT_OF_MEMORY, "cudaMalloc of the reduction scratch",
                             cudaGetErrorString(e));
    }
    s->scratch_doubles = SF_SCRATCH_BYTES / sizeof(double);
    e = cudaMalloc(&s->cublas_workspace, SF_CUBLAS_WORKSPACE_BYTES);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return create_failed(ctx, s, SIGFUSE_ERR_OUT_OF_MEMORY, "cudaMalloc of the cuBLAS workspace",
                             cudaGetErrorString(e));
    }
    s->cublas_workspace_bytes = SF_CUBLAS_WORKSPACE_BYTES;

    cublasStatus_t cs = cublasCreate(&s->cublas);
    if (cs != CUBLAS_STATUS_SUCCESS) {
        s->cublas = nullptr;
        return create_failed(ctx, s, cs == CUBLAS_STATUS_ALLOC_FAILED ? SIGFUSE_ERR_OUT_OF_MEMORY : SIGFUSE_ERR_BACKEND,
                             "cublasCreate", cublasGetStatusString(cs));
    }
    /* Plain f32 products stay IEEE f32 (no TF32), as the head's tolerances assume. */
    cs = cublasSetMathMode(s->cublas, CUBLAS_DEFAULT_MATH);
    if (cs == CUBLAS_STATUS_SUCCESS)
        cs = cublasSetStream(s->cublas, s->stream);
    if (cs == CUBLAS_STATUS_SUCCESS)
        cs = cublasSetWorkspace(s->cublas, s->cublas_workspace, s->cublas_workspace_bytes);
    if (cs != CUBLAS_STATUS_SUCCESS)
        return create_failed(ctx, s, SIGFUSE_ERR_BACKEND, "cuBLAS set-up", cublasGetStatusString(cs));

    *out = ctx;
    return SIGFUSE_SUCCESS;
}

extern "C" sigfuse_status sf_cuda_set_stream(sigfuse_ctx *ctx, void *stream_ptr)
{
    sf_cuda_state *s = sf_cuda_of(ctx);
    cudaStream_t stream = (cudaStream_t)stream_ptr;
    SF_CUDA_ENTER(ctx, s);
    int other = -1;
    cudaError_t why = cudaSuccess;
    switch (stream_problem(s->device, stream, &other, &why)) {
    case 1:
        return sf_fail(ctx, SIGFUSE_ERR_INVALID_ARGUMENT, "sigfuse_cuda_set_stream: stream %p is not a valid CUDA "
                       "stream (%s)", stream_ptr, cudaGetErrorName(why));
    case 2:
        return sf_fail(ctx, SIGFUSE_ERR_INVALID_ARGUMENT, "sigfuse_cuda_set_stream: stream %p belongs to device %d, "
                       "but the context is on device %d", stream_ptr, other, s->device);
    default: break;
    }
    /* Work already enqueued stays on the old stream; the caller orders the two streams if
     * they must be (the reduction scratch is shared by both). */
    s->stream = stream;
    return SIGFUSE_SUCCESS;
}

extern "C" sigfuse_status sf_cuda_get_stream(const sigfuse_ctx *ctx, void **stream)
{
    const sf_cuda_state *s = (const sf_cuda_state *)ctx->impl;
    *stream = (void *)s->stream;
    return SIGFUSE_SUCCESS;
}

/* ---- The ops table: each entry makes the context's device current, then runs the op. ----- */

#define SF_CUDA_OP(name, args_t)                                                               \
    static sigfuse_status cuda_##name(sigfuse_ctx *ctx, const args_t *a)                       \
    {                                                                                          \
        SF_CUDA_ENTER(ctx, sf_cuda_of(ctx));                                                   \
        return sf_cuda_##name(ctx, a);                                                         \
    }

SF_CUDA_OP(activation, sf_ew_call)
SF_CUDA_OP(glu, sf_ew_call)
#define CUDA_WRAPPER_(name, family, shape, args) CUDA_WRAPPER_##shape(name, args)
#define CUDA_WRAPPER_EW(name, args)
#define CUDA_WRAPPER_LSTM SF_CUDA_OP
#define CUDA_WRAPPER_GRU SF_CUDA_OP
#define CUDA_WRAPPER_LOSS SF_CUDA_OP
#define CUDA_WRAPPER_HEAD SF_CUDA_OP
#define CUDA_WRAPPER_MERGE SF_CUDA_OP
SF_CATALOG(CUDA_WRAPPER_)

#define CUDA_ENTRY_(name, family, shape, args) SF_OP_ENTRY_##shape(name, cuda_##name)

/* Named as in every backend (nvcc takes C designators in declaration order). */
const sf_backend_ops sf_cuda_ops = {
    .destroy = cuda_destroy,
    .wait = cuda_synchronize,
    .check_buffer = nullptr,   /* a device pointer's extent cannot be checked cheaply */
    .activation = cuda_activation,
    .glu = cuda_glu,
    SF_CATALOG(CUDA_ENTRY_)
    .head_predict_workspace = sf_cuda_head_predict_workspace,
    .head_train_step_workspace = sf_cuda_head_train_step_workspace,
    .head_topk_workspace = sf_cuda_head_topk_workspace,
};
