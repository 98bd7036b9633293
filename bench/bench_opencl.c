/* SPDX-License-Identifier: MIT */
/*
 * The OpenCL backend's table for sigfuse-bench: the device the library picks by default
 * (SIGFUSE_OPENCL_PLATFORM / SIGFUSE_OPENCL_DEVICE, else the first GPU, else the first
 * device), memory and markers the kit's on an in-order profiling queue of the bench's own
 * (bench_device.c); and the head's CLBlast products alone.
 */

#include <string.h>

#include <clblast_c.h>

#include "bench.h"
#include "sigfuse_opencl.h"

/* For the head's products alone: CLBlast's temporary buffer. */
typedef struct opencl_gemms {
    cl_mem temp;
    size_t temp_bytes;
    bool use_temp;   /* this problem's products want it (the op passes one only then) */
} opencl_gemms;

static bool check(cl_int err, const char *what)
{
    if (err == CL_SUCCESS)
        return true;
    return bench_fail("%s: OpenCL error %d", what, (int)err);
}

static void gemms_release(void *p)
{
    opencl_gemms *g = p;
    if (g->temp)
        clReleaseMemObject(g->temp);
}

static bool opencl_open(void **state, sigfuse_ctx **ctx)
{
    return bench_device_open(SIGFUSE_BACKEND_OPENCL, sizeof(opencl_gemms), gemms_release, state, ctx);
}

/* An OpenCL CPU device (PoCL) gets the XMC rows at the CPU reference's sizes: at the GPU
 * ones each train step is some 400 GFLOP, minutes a row on a CPU. */
static void opencl_device_sizes(sigfuse_ctx *ctx, bench_sizes *sizes)
{
    cl_command_queue queue = NULL;
    cl_device_id device = NULL;
    cl_device_type type = 0;
    if (sigfuse_opencl_get_queue(ctx, &queue) != SIGFUSE_SUCCESS ||
        clGetCommandQueueInfo(queue, CL_QUEUE_DEVICE, sizeof device, &device, NULL) != CL_SUCCESS ||
        clGetDeviceInfo(device, CL_DEVICE_TYPE, sizeof type, &type, NULL) != CL_SUCCESS)
        return;
    if (type & CL_DEVICE_TYPE_CPU)
        memcpy(sizes->xmc, bench_cpu_backend.sizes.xmc, sizeof sizes->xmc);
}

static sigfuse_buffer opencl_buffer(const void *ptr, sigfuse_dtype dtype)
{
    return kit_view(SIGFUSE_BACKEND_OPENCL, ptr, 0, dtype, false);
}

/* ---- The head's products alone -------------------------------------------------------------------
 * What opencl/head.c runs per chunk of rows: CLBlast SGEMM, row-major, alpha 1 (the head
 * scales its gradient in its epilogue). f16 and bf16 are converted to f32 copies in the
 * workspace first (CLBlast has no bf16, and its f16 needs cl_khr_fp16), so for them every
 * operand lives in f32 in the scratch; the conversions are not products and not timed
 * here. f32 reads X and W and writes dX and dW in the caller's buffers, as the op does. */

/* The scratch, in floats, as the op's workspace: Z [chunk, L] (G in place); for f16/bf16
 * also W [L, D], X [chunk, D], (train) dX [chunk, D] and dW [L, D] in f32. */
typedef struct gemm_scratch {
    size_t z, w, x, dx, dw, floats;
} gemm_scratch;

static gemm_scratch scratch_layout(const bench_head_gemms *g)
{
    const size_t C = (size_t)g->chunk, D = (size_t)g->d, L = (size_t)g->l;
    const bool wide = g->dtype != SIGFUSE_F32;   /* stored narrower than the f32 products */
    gemm_scratch o = {0, 0, 0, 0, 0, C * L};
    if (wide) {
        o.w = o.floats;
        o.x = o.w + L * D;
        o.dx = o.x + C * D;
        o.dw = o.dx + (g->train ? C * D : 0);
        o.floats = o.dw + (g->train ? L * D : 0);
    }
    return o;
}

/* A matrix operand: a buffer and an offset in floats (CLBlast's unit). */
typedef struct operand {
    cl_mem mem;
    size_t off;
} operand;

/* The temporary buffer CLBlast wants for the chunk's products, as the op's workspace
 * holds one (0: none). */
static size_t clblast_temp_bytes(cl_command_queue q, const bench_head_gemms *g)
{
    const size_t C = (size_t)g->chunk, D = (size_t)g->d, L = (size_t)g->l;
    const CLBlastLayout rm = CLBlastLayoutRowMajor;
    const CLBlastTranspose no = CLBlastTransposeNo, yes = CLBlastTransposeYes;
    size_t worst = 0, t = 0;
    if (CLBlastSGemmTempBufferSize(rm, no, yes, C, L, D, 0, D, 0, D, 0, L, &q, &t) == CLBlastSuccess &&
        t > worst)
        worst = t;
    if (g->train) {
        t = 0;
        if (CLBlastSGemmTempBufferSize(rm, yes, no, L, D, C, 0, L, 0, D, 0, D, &q, &t) == CLBlastSuccess &&
            t > worst)
            worst = t;
        t = 0;
        if (CLBlastSGemmTempBufferSize(rm, no, no, C, D, L, 0, L, 0, D, 0, D, &q, &t) == CLBlastSuccess &&
            t > worst)
            worst = t;
    }
    return worst;
}

static bool opencl_head_gemms_prepare(void *state, const bench_head_gemms *g, size_t *scratch_bytes)
{
    bench_device *s = state;
    opencl_gemms *o = s->gemms;
    *scratch_bytes = scratch_layout(g).floats * sizeof(float);
    /* CLBlast's temporaries in a buffer of ours (the op's are a sub-buffer of its workspace). */
    const size_t temp = clblast_temp_bytes(kit_opencl_queue(&s->dev), g);
    o->use_temp = temp > 0;
    if (temp > o->temp_bytes) {
        if (o->temp)
            clReleaseMemObject(o->temp);
        cl_int err = CL_SUCCESS;
        o->temp = clCreateBuffer(kit_opencl_context(&s->dev), CL_MEM_READ_WRITE, temp, NULL, &err);
        o->temp_bytes = err == CL_SUCCESS ? temp : 0;
        if (!check(err, "clCreateBuffer for CLBlast's temporaries"))
            return false;
    }
    return true;
}

/* C[m, n] = A B (+ beta C), row-major f32, op(A), op(B) transposed as asked (head.c's gemm()). */
static bool gemm(bench_device *s, bool ta, bool tb, size_t m, size_t n, size_t k, operand A, size_t lda, operand B,
                 size_t ldb, float beta, operand C, size_t ldc)
{
    const opencl_gemms *o = s->gemms;
    cl_command_queue q = kit_opencl_queue(&s->dev);
    const CLBlastTranspose opa = ta ? CLBlastTransposeYes : CLBlastTransposeNo;
    const CLBlastTranspose opb = tb ? CLBlastTransposeYes : CLBlastTransposeNo;
    CLBlastStatusCode st;
    if (o->use_temp)
        st = CLBlastSgemmWithTempBuffer(CLBlastLayoutRowMajor, opa, opb, m, n, k, 1.0f, A.mem, A.off, lda, B.mem,
                                        B.off, ldb, beta, C.mem, C.off, ldc, &q, NULL, o->temp);
    else
        st = CLBlastSgemm(CLBlastLayoutRowMajor, opa, opb, m, n, k, 1.0f, A.mem, A.off, lda, B.mem, B.off, ldb, beta,
                          C.mem, C.off, ldc, &q, NULL);
    if (st != CLBlastSuccess)
        return bench_fail("CLBlast SGEMM (%zu x %zu x %zu) failed: status %d", m, n, k, (int)st);
    return true;
}

static bool opencl_head_gemms(void *state, const bench_head_gemms *g, void *scratch, const void *x, const void *w,
                              void *dx, void *dw)
{
    bench_device *s = state;
    const gemm_scratch lay = scratch_layout(g);
    const bool wide = g->dtype != SIGFUSE_F32;
    const size_t N = (size_t)g->n, D = (size_t)g->d, L = (size_t)g->l;
    cl_mem ws = (cl_mem)scratch;
    if (D == 0)
        return true;   /* the op makes no products then */
    const operand z = {ws, lay.z};
    const operand wm = wide ? (operand){ws, lay.w} : (operand){(cl_mem)w, 0};
    for (size_t r0 = 0; r0 < N; r0 += (size_t)g->chunk) {
        const size_t rows = N - r0 < (size_t)g->chunk ? N - r0 : (size_t)g->chunk;
        const operand xc = wide ? (operand){ws, lay.x} : (operand){(cl_mem)x, r0 * D};
        if (!gemm(s, false, true, rows, L, D, xc, D, wm, D, 0.0f, z, L))   /* Z = X_c W^T */
            return false;
        if (!g->train)
            continue;
        const operand dwm = wide ? (operand){ws, lay.dw} : (operand){(cl_mem)dw, 0};
        const operand dxc = wide ? (operand){ws, lay.dx} : (operand){(cl_mem)dx, r0 * D};
        if (!gemm(s, true, false, L, D, rows, z, L, xc, D, r0 == 0 ? 0.0f : 1.0f, dwm, D) ||   /* dW += G^T X_c */
            !gemm(s, false, false, rows, D, L, z, L, wm, D, 0.0f, dxc, D))                     /* dX_c = G W */
            return false;
    }
    return true;
}

const bench_backend bench_opencl_backend = {
    .name = "opencl", .backend = SIGFUSE_BACKEND_OPENCL, .reps = 10, .warmup = 2,
    .copy_bytes = (size_t)256 << 20,
    /* Between the CPU reference and CUDA: the device may be a GPU or PoCL on a CPU. */
    .sizes = {.elementwise = {1 << 20, 1 << 24}, .cell = {{1024, 1024}}, .head = {{2048, 1024, 1024}},
              /* XMC on the devices OpenCL serves (often a few GiB): 2^17 labels, W 256 MiB in f32. */
              .xmc = {{1024, 512, 131072}}},
    .device_sizes = opencl_device_sizes,
    .open = opencl_open, .buffer = opencl_buffer, BENCH_DEVICE_ENTRIES,
    .gemm_library = "CLBlast",
    .head_gemms_prepare = opencl_head_gemms_prepare,
    .head_gemms = opencl_head_gemms,
};
