/* SPDX-License-Identifier: MIT */
/*
 * Internal to the CUDA backend, included by every .cu of it: the context's state, the
 * threads of a block, error reporting, the device scope, buffer addresses, and the entry
 * of each op family. What only some files use has a header of its own: dtype.cuh
 * (storage dtypes, vectors), launch.cuh (grid sizing), reduce.cuh (deterministic sums),
 * tile.cuh (row x column tiling), elementwise.cuh (the map skeleton), loss_kernel.cuh and
 * loss_launch.cuh (the fused logistic-loss pass).
 *
 * Rules every op follows: nothing is allocated and the host never waits (ops can be
 * captured into a CUDA graph); indices are int64_t; floating-point sums run in a fixed
 * order into the context's reserved scratch (no atomics), so a result is bitwise the
 * same on every run on the same device.
 */
#ifndef SF_CUDA_H
#define SF_CUDA_H

#include <stdint.h>

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "sf_internal.h"

/* ---- Context state ------------------------------------------------------------------ */

struct sf_cuda_state {
    int device;
    cudaStream_t stream;          /* the caller's; never destroyed here */
    cublasHandle_t cublas;
    void *cublas_workspace;       /* given to cuBLAS so that it allocates nothing itself */
    size_t cublas_workspace_bytes;
    int sm_count;
    double *scratch;              /* reduction partials, reserved once at creation */
    size_t scratch_doubles;
};

static inline sf_cuda_state *sf_cuda_of(sigfuse_ctx *ctx) { return (sf_cuda_state *)ctx->impl; }

/* Threads per block of the flat kernels: 8 blocks fill the 2048 threads of an sm_90 SM. */
#define SF_BLOCK 256

/* The most threads an SM holds (the CUDA C++ Programming Guide's table of compute
 * capabilities): 1024 on sm_75, 1536 on sm_86/87/89/120, 2048 on the rest, sm_90
 * included. A kernel's __launch_bounds__ minimum of resident blocks must fit it, or ptxas
 * ignores it with a warning, so SF_MIN_BLOCKS(n) asks for n blocks of SF_BLOCK threads
 * where they fit and for as many as fit elsewhere. */
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ == 750
#define SF_SM_THREADS 1024
#elif defined(__CUDA_ARCH__) && (__CUDA_ARCH__ == 860 || __CUDA_ARCH__ == 870 || __CUDA_ARCH__ == 890 || \
                                 __CUDA_ARCH__ == 1200)
#define SF_SM_THREADS 1536
#else
#define SF_SM_THREADS 2048
#endif
#define SF_MIN_BLOCKS(n) ((n) * SF_BLOCK <= SF_SM_THREADS ? (n) : SF_SM_THREADS / SF_BLOCK)

/* ---- Errors --------------------------------------------------------------------------- */

/* Record a CUDA / cuBLAS failure on ctx as SIGFUSE_ERR_BACKEND with the runtime's own
 * name and description of the error. */
sigfuse_status sf_cuda_fail(sigfuse_ctx *ctx, cudaError_t err, const char *what);
sigfuse_status sf_cublas_fail(sigfuse_ctx *ctx, cublasStatus_t st, const char *what);

/* Return from the calling op with the failure recorded (fail(ctx, error, what)) when expr,
 * a CUDA or cuBLAS call, gives other than ok. */
#define SF_API_TRY_(type, ok, fail, ctx, expr, what)                                           \
    do {                                                                                       \
        type sf_err_ = (expr);                                                                 \
        if (sf_err_ != (ok))                                                                   \
            return fail((ctx), sf_err_, (what));                                               \
    } while (0)

#define SF_CUDA_TRY(ctx, expr) SF_API_TRY_(cudaError_t, cudaSuccess, sf_cuda_fail, ctx, expr, #expr)
#define SF_CUBLAS_TRY(ctx, expr) SF_API_TRY_(cublasStatus_t, CUBLAS_STATUS_SUCCESS, sf_cublas_fail, ctx, expr, #expr)

/* After a <<<>>> launch: launch errors (bad configuration, no kernel image for this
 * device) surface here; faults inside a kernel surface at the next synchronisation. */
#define SF_LAUNCH_CHECK(ctx, what) SF_API_TRY_(cudaError_t, cudaSuccess, sf_cuda_fail, ctx, cudaGetLastError(), what)

/* Makes the context's device current for the duration of an op and restores the
 * caller's afterwards (a library must not move the calling thread's device). */
class sf_device_scope {
  public:
    sf_device_scope() = default;
    sf_device_scope(const sf_device_scope &) = delete;
    sf_device_scope &operator=(const sf_device_scope &) = delete;
    cudaError_t enter(int device)
    {
        int cur = 0;
        cudaError_t e = cudaGetDevice(&cur);
        if (e != cudaSuccess)
            return e;
        if (cur != device) {
            e = cudaSetDevice(device);
            if (e != cudaSuccess)
                return e;
            prev_ = cur;
        }
        return cudaSuccess;
    }
    ~sf_device_scope()
    {
        if (prev_ >= 0)
            cudaSetDevice(prev_);
    }

  private:
    int prev_ = -1;
};

#define SF_CUDA_ENTER(ctx, state)                                                              \
    sf_device_scope sf_scope_;                                                                 \
    SF_CUDA_TRY((ctx), sf_scope_.enter((state)->device))

/* ---- Buffers ---------------------------------------------------------------------------- */

/* Address of element 0 of a CUDA buffer descriptor (NULL for an absent buffer). */
static inline void *sf_dptr(const sigfuse_buffer *b)
{
    return b ? (void *)((char *)b->ptr + b->offset) : nullptr;
}

static inline bool sf_aligned(const void *p, size_t bytes)
{
    return ((uintptr_t)p % bytes) == 0;
}

/* ---- The op families (one .cu each) --------------------------------------------------------- */

sigfuse_status sf_cuda_activation(sigfuse_ctx *ctx, const sf_ew_call *call);   /* activation.cu */
sigfuse_status sf_cuda_glu(sigfuse_ctx *ctx, const sf_ew_call *call);          /* glu.cu */
/* Every other op's, sf_cuda_<op>, in the .cu of its family. */
#define SF_CUDA_DECL_(name, family, shape, args) SF_OP_DECL_##shape(sf_cuda_##name, args)
SF_CATALOG(SF_CUDA_DECL_)
size_t sf_cuda_head_predict_workspace(sigfuse_ctx *ctx, const sigfuse_head_predict_args *a, int64_t chunk_rows);
size_t sf_cuda_head_train_step_workspace(sigfuse_ctx *ctx, const sigfuse_head_train_args *a, int64_t chunk_rows);
size_t sf_cuda_head_topk_workspace(sigfuse_ctx *ctx, const sigfuse_head_topk_args *a, int64_t chunk_rows);

/* head.cu's chunks of a head's products, for head_topk (topk.cu): the handle bound to the
 * context's stream and workspace; the workspace's 256-aligned base; the bytes of a chunk
 * of `chunk` rows of Z (elem bytes a logit, alignment slack included) and the largest
 * chunk in [1, n] that `bytes` hold (0: not one row); and Z[rows, L] = X[rows, :] W^T in
 * the storage dtype (f32 accumulation, rounded once), into z. */
sigfuse_status sf_cuda_cublas_bind(sigfuse_ctx *ctx);
char *sf_cuda_workspace_base(const sigfuse_buffer *ws);
size_t sf_cuda_head_logits_bytes(size_t elem, int64_t l, int64_t chunk);
int64_t sf_cuda_head_logits_chunk(int64_t n, int64_t l, size_t elem, size_t bytes);
sigfuse_status sf_cuda_head_logits(sigfuse_ctx *ctx, sigfuse_dtype dtype, const void *x, const void *w, int64_t rows,
                                   int64_t d, int64_t l, void *z);

#endif /* SF_CUDA_H */
