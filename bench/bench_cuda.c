/* SPDX-License-Identifier: MIT */
/*
 * The CUDA backend's table for sigfuse-bench: device 0, memory and events the kit's on a
 * non-blocking stream that the sigfuse context enqueues on (bench_device.c); and the
 * head's cuBLAS products alone, on a handle of our own set up as the library's. C code on
 * the CUDA runtime's and cuBLAS's C APIs.
 */
#include <stdint.h>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "bench.h"
#include "sigfuse_cuda.h"

/* The cuBLAS workspace the library gives its handle (SF_CUBLAS_WORKSPACE_BYTES in
 * cuda/backend.cu): cuBLAS's algorithm choice depends on it, so the baseline has the same. */
#define CUBLAS_WORKSPACE_BYTES ((size_t)32 << 20)

/* For the head's products alone. */
typedef struct cuda_gemms {
    cublasHandle_t cublas;
    void *cublas_workspace;
} cuda_gemms;

static bool check(cudaError_t err, const char *what)
{
    if (err == cudaSuccess)
        return true;
    return bench_fail("%s: %s (%s)", what, cudaGetErrorName(err), cudaGetErrorString(err));
}

static bool check_cublas(cublasStatus_t st, const char *what)
{
    if (st == CUBLAS_STATUS_SUCCESS)
        return true;
    return bench_fail("%s: %s", what, cublasGetStatusString(st));
}

static void gemms_release(void *p)
{
    cuda_gemms *g = p;
    if (g->cublas)
        cublasDestroy(g->cublas);
    if (g->cublas_workspace)
        cudaFree(g->cublas_workspace);
}

static bool cuda_open(void **state, sigfuse_ctx **ctx)
{
    if (!bench_device_open(SIGFUSE_BACKEND_CUDA, sizeof(cuda_gemms), gemms_release, state, ctx))
        return false;
    bench_device *s = *state;
    cuda_gemms *g = s->gemms;
    /* As cuda/backend.cu sets up the library's handle: default math mode (IEEE f32, no
     * TF32), the stream, and a fixed workspace of the same size. */
    return check(cudaMalloc(&g->cublas_workspace, CUBLAS_WORKSPACE_BYTES), "cudaMalloc of the cuBLAS workspace") &&
           check_cublas(cublasCreate(&g->cublas), "cublasCreate") &&
           check_cublas(cublasSetMathMode(g->cublas, CUBLAS_DEFAULT_MATH), "cublasSetMathMode") &&
           check_cublas(cublasSetStream(g->cublas, kit_cuda_stream(&s->dev)), "cublasSetStream") &&
           check_cublas(cublasSetWorkspace(g->cublas, g->cublas_workspace, CUBLAS_WORKSPACE_BYTES),
                        "cublasSetWorkspace");
}

/* ---- The head's products alone ---------------------------------------------------------------
 * What cuda/head.cu runs per chunk of rows, call for call: cublasGemmEx_64 with f32
 * accumulation (CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT), operands and the logits Z in the
 * storage dtype, the gradient G in place of Z; for f16/bf16 dW accumulates in f32
 * (converted at the end, which is not a product). Row-major matrices are column-major
 * transposes, as there. */

#define SCRATCH_ALIGN ((size_t)256)

static size_t align_up(size_t v) { return (v + SCRATCH_ALIGN - 1) / SCRATCH_ALIGN * SCRATCH_ALIGN; }

/* The scratch, as the op's workspace: Z [chunk, L] in the storage dtype (G in place), then
 * for f16/bf16 (train) the f32 dW accumulator [L, D]. */
typedef struct gemm_scratch {
    size_t z, dw_acc, total;
} gemm_scratch;

static gemm_scratch scratch_layout(const bench_head_gemms *g)
{
    const bool narrow = g->dtype != SIGFUSE_F32;
    const size_t cl = (size_t)g->chunk * (size_t)g->l;
    gemm_scratch o = {0, 0, 0};
    o.dw_acc = align_up(cl * sigfuse_dtype_size(g->dtype));
    o.total = o.dw_acc + (narrow && g->train ? align_up((size_t)g->l * (size_t)g->d * sizeof(float)) : 0);
    return o;
}

static bool cuda_head_gemms_prepare(void *state, const bench_head_gemms *g, size_t *scratch_bytes)
{
    (void)state;
    *scratch_bytes = scratch_layout(g).total;
    return true;
}

static cudaDataType_t cuda_type(sigfuse_dtype dtype)
{
    return dtype == SIGFUSE_F16 ? CUDA_R_16F : dtype == SIGFUSE_BF16 ? CUDA_R_16BF : CUDA_R_32F;
}

/* Column-major C[m, n] = alpha op(A) op(B) + beta C, f32 accumulation (head.cu's gemm()). */
static bool gemm(cuda_gemms *s, cublasOperation_t ta, cublasOperation_t tb, int64_t m, int64_t n, int64_t k,
                 float alpha, const void *A, cudaDataType_t at, int64_t lda, const void *B, cudaDataType_t bt,
                 int64_t ldb, float beta, void *C, cudaDataType_t ct, int64_t ldc)
{
    return check_cublas(cublasGemmEx_64(s->cublas, ta, tb, m, n, k, &alpha, A, at, lda, B, bt, ldb, &beta, C, ct, ldc,
                                        CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                        "cublasGemmEx_64");
}

static bool cuda_head_gemms(void *state, const bench_head_gemms *g, void *scratch, const void *x, const void *w,
                            void *dx, void *dw)
{
    cuda_gemms *s = ((bench_device *)state)->gemms;
    const gemm_scratch lay = scratch_layout(g);
    const bool narrow = g->dtype != SIGFUSE_F32;
    const size_t elem = sigfuse_dtype_size(g->dtype);
    const cudaDataType_t tt = cuda_type(g->dtype);
    const int64_t n = g->n, d = g->d, l = g->l;
    void *z = scratch;
    const void *gmat = z;   /* G replaces Z, as in the op */
    void *dw_acc = narrow ? (void *)((char *)scratch + lay.dw_acc) : dw;
    /* The op's alpha for a MEAN over N x L (its gradient is scaled in the products). */
    const float alpha = (float)(1.0 / ((double)n * (double)l));
    if (d == 0)
        return true;   /* the op makes no products then */
    for (int64_t r0 = 0; r0 < n; r0 += g->chunk) {
        const int64_t rows = n - r0 < g->chunk ? n - r0 : g->chunk;
        const char *xc = (const char *)x + (size_t)(r0 * d) * elem;
        /* Z^T [L, rows] = W (col-major D x L, transposed) X_c^T (col-major D x rows). */
        if (!gemm(s, CUBLAS_OP_T, CUBLAS_OP_N, l, rows, d, 1.0f, w, tt, d, xc, tt, d, 0.0f, z, tt, l))
            return false;
        if (!g->train)
            continue;
        /* dW^T [D, L] (+)= alpha X_c^T G_c, into the f32 accumulator for f16/bf16. */
        if (!gemm(s, CUBLAS_OP_N, CUBLAS_OP_T, d, l, rows, alpha, xc, tt, d, gmat, tt, l, r0 == 0 ? 0.0f : 1.0f,
                  dw_acc, narrow ? CUDA_R_32F : tt, d))
            return false;
        /* dX_c^T [D, rows] = alpha W^T G_c^T. */
        if (!gemm(s, CUBLAS_OP_N, CUBLAS_OP_N, d, rows, l, alpha, w, tt, d, gmat, tt, l, 0.0f,
                  (char *)dx + (size_t)(r0 * d) * elem, tt, d))
            return false;
    }
    return true;
}

const bench_backend bench_cuda_backend = {
    .name = "cuda", .backend = SIGFUSE_BACKEND_CUDA, .reps = 20, .warmup = 3,
    .copy_bytes = (size_t)1 << 30,
    /* 2^20 elements is launch-bound; 2^26 (256 MiB in f32) is many times the 50 MB L2 of
     * an H100. The head's large shape is an extreme-classification layer. */
    .sizes = {.elementwise = {1 << 20, 1 << 26},
              .cell = {{4096, 4096}},
              .head = {{8192, 2048, 4096}, {2048, 1024, 1024}},
              /* Extreme classification: a batch of 4096 768-feature rows (a BERT-base
               * encoder's) over 10^6 labels; W and dW 2.9 GiB each in f32. Skipped where
               * the device has not the memory (bench_backend.free_bytes). */
              .xmc = {{4096, 768, 1000000}}},
    .open = cuda_open, .buffer = sigfuse_cuda_buffer, BENCH_DEVICE_ENTRIES,
    .gemm_library = "cuBLAS",
    .head_gemms_prepare = cuda_head_gemms_prepare,
    .head_gemms = cuda_head_gemms,
};
