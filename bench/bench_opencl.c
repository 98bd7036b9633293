/* SPDX-License-Identifier: MIT */
/*
 * The OpenCL backend's memory and clock for sigfuse-bench: the device the library picks
 * by default (SIGFUSE_OPENCL_PLATFORM / SIGFUSE_OPENCL_DEVICE, else the first GPU, else
 * the first device), one in-order queue with profiling on, and a marker before and after
 * each rep whose completion times bound it; and the head's CLBlast products alone.
 */
#include <stdlib.h>

#include <clblast_c.h>

#include "bench.h"
#include "sigfuse_opencl.h"

typedef struct opencl_state {
    cl_context context;
    cl_command_queue queue;
    cl_event start;
    size_t cache_bytes;
    cl_mem gemm_temp;   /* CLBlast's temporary buffer for the head's products alone */
    size_t gemm_temp_bytes;
    bool gemm_use_temp;  /* this problem's products want it (the op passes one only then) */
} opencl_state;

static bool check(cl_int err, const char *what)
{
    if (err == CL_SUCCESS)
        return true;
    return bench_fail("%s: OpenCL error %d", what, (int)err);
}

static void opencl_close(void *state)
{
    opencl_state *s = state;
    if (!s)
        return;
    if (s->gemm_temp)
        clReleaseMemObject(s->gemm_temp);
    if (s->start)
        clReleaseEvent(s->start);
    if (s->queue)
        clReleaseCommandQueue(s->queue);
    if (s->context)
        clReleaseContext(s->context);
    free(s);
}

static bool opencl_open(void **state, sigfuse_ctx **ctx)
{
    opencl_state *s = calloc(1, sizeof *s);
    *state = s;
    *ctx = NULL;
    if (!s)
        return bench_fail("out of host memory");

    /* Let the library choose the device, then make a queue of ours on it that can time. */
    sigfuse_ctx *chooser = NULL;
    cl_command_queue theirs = NULL;
    cl_device_id device = NULL;
    sigfuse_status st = sigfuse_ctx_create(&chooser, SIGFUSE_BACKEND_OPENCL);
    if (st != SIGFUSE_SUCCESS)
        return bench_fail("%s", sigfuse_last_create_error());
    st = sigfuse_opencl_get_queue(chooser, &theirs);
    bool ok = st == SIGFUSE_SUCCESS || bench_fail("sigfuse_opencl_get_queue: %s", sigfuse_status_string(st));
    cl_context context = NULL;
    ok = ok && check(clGetCommandQueueInfo(theirs, CL_QUEUE_CONTEXT, sizeof context, &context, NULL),
                     "clGetCommandQueueInfo") &&
         check(clGetCommandQueueInfo(theirs, CL_QUEUE_DEVICE, sizeof device, &device, NULL), "clGetCommandQueueInfo") &&
         check(clRetainContext(context), "clRetainContext");
    sigfuse_ctx_destroy(chooser);
    if (!ok)
        return false;
    s->context = context;

    cl_int err = CL_SUCCESS;
    s->queue = clCreateCommandQueue(s->context, device, CL_QUEUE_PROFILING_ENABLE, &err);
    if (!check(err, "clCreateCommandQueue"))
        return false;
    cl_ulong cache = 0;
    if (clGetDeviceInfo(device, CL_DEVICE_GLOBAL_MEM_CACHE_SIZE, sizeof cache, &cache, NULL) == CL_SUCCESS)
        s->cache_bytes = (size_t)cache;
    st = sigfuse_ctx_create_opencl(ctx, s->queue);
    if (st != SIGFUSE_SUCCESS)
        return bench_fail("%s", sigfuse_last_create_error());
    return true;
}

static size_t opencl_cache_bytes(void *state) { return ((opencl_state *)state)->cache_bytes; }

static void *opencl_alloc(void *state, size_t bytes)
{
    cl_int err = CL_SUCCESS;
    cl_mem mem = clCreateBuffer(((opencl_state *)state)->context, CL_MEM_READ_WRITE, bytes ? bytes : 1, NULL, &err);
    if (!check(err, "clCreateBuffer"))
        return NULL;
    return (void *)mem;
}

static void opencl_free(void *state, void *ptr)
{
    (void)state;
    clReleaseMemObject((cl_mem)ptr);
}

static sigfuse_buffer opencl_buffer(const void *ptr, sigfuse_dtype dtype)
{
    return sigfuse_opencl_buffer((cl_mem)ptr, 0, dtype);
}

static bool opencl_upload(void *state, void *dst, const void *host_src, size_t bytes)
{
    return check(clEnqueueWriteBuffer(((opencl_state *)state)->queue, (cl_mem)dst, CL_TRUE, 0, bytes, host_src, 0,
                                      NULL, NULL),
                 "clEnqueueWriteBuffer");
}

static bool opencl_download(void *state, void *host_dst, const void *src, size_t bytes)
{
    return check(clEnqueueReadBuffer(((opencl_state *)state)->queue, (cl_mem)src, CL_TRUE, 0, bytes, host_dst, 0,
                                     NULL, NULL),
                 "clEnqueueReadBuffer");
}

static bool opencl_fill(void *state, void *dst, int byte, size_t bytes)
{
    const unsigned char pattern = (unsigned char)byte;
    return check(clEnqueueFillBuffer(((opencl_state *)state)->queue, (cl_mem)dst, &pattern, 1, 0, bytes, 0, NULL,
                                     NULL),
                 "clEnqueueFillBuffer");
}

static bool opencl_copy(void *state, void *dst, const void *src, size_t bytes)
{
    return check(clEnqueueCopyBuffer(((opencl_state *)state)->queue, (cl_mem)src, (cl_mem)dst, 0, 0, bytes, 0, NULL,
                                     NULL),
                 "clEnqueueCopyBuffer");
}

static bool opencl_sync(void *state) { return check(clFinish(((opencl_state *)state)->queue), "clFinish"); }

static bool opencl_timer_start(void *state)
{
    opencl_state *s = state;
    if (s->start) {
        clReleaseEvent(s->start);
        s->start = NULL;
    }
    return check(clEnqueueMarkerWithWaitList(s->queue, 0, NULL, &s->start), "clEnqueueMarkerWithWaitList");
}

static bool opencl_timer_stop(void *state, double *seconds)
{
    opencl_state *s = state;
    cl_event stop = NULL;
    cl_ulong t0 = 0, t1 = 0;
    bool ok = check(clEnqueueMarkerWithWaitList(s->queue, 0, NULL, &stop), "clEnqueueMarkerWithWaitList") &&
              check(clWaitForEvents(1, &stop), "clWaitForEvents") &&
              check(clGetEventProfilingInfo(s->start, CL_PROFILING_COMMAND_END, sizeof t0, &t0, NULL),
                    "clGetEventProfilingInfo") &&
              check(clGetEventProfilingInfo(stop, CL_PROFILING_COMMAND_END, sizeof t1, &t1, NULL),
                    "clGetEventProfilingInfo");
    if (stop)
        clReleaseEvent(stop);
    if (ok)
        *seconds = 1e-9 * (double)(t1 - t0);
    return ok;
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
static size_t clblast_temp_bytes(opencl_state *s, const bench_head_gemms *g)
{
    const size_t C = (size_t)g->chunk, D = (size_t)g->d, L = (size_t)g->l;
    const CLBlastLayout rm = CLBlastLayoutRowMajor;
    const CLBlastTranspose no = CLBlastTransposeNo, yes = CLBlastTransposeYes;
    size_t worst = 0, t = 0;
    if (CLBlastSGemmTempBufferSize(rm, no, yes, C, L, D, 0, D, 0, D, 0, L, &s->queue, &t) == CLBlastSuccess &&
        t > worst)
        worst = t;
    if (g->train) {
        t = 0;
        if (CLBlastSGemmTempBufferSize(rm, yes, no, L, D, C, 0, L, 0, D, 0, D, &s->queue, &t) == CLBlastSuccess &&
            t > worst)
            worst = t;
        t = 0;
        if (CLBlastSGemmTempBufferSize(rm, no, no, C, D, L, 0, L, 0, D, 0, D, &s->queue, &t) == CLBlastSuccess &&
            t > worst)
            worst = t;
    }
    return worst;
}

static bool opencl_head_gemms_prepare(void *state, const bench_head_gemms *g, size_t *scratch_bytes)
{
    opencl_state *s = state;
    *scratch_bytes = scratch_layout(g).floats * sizeof(float);
    /* CLBlast's temporaries in a buffer of ours (the op's are a sub-buffer of its workspace). */
    const size_t temp = clblast_temp_bytes(s, g);
    s->gemm_use_temp = temp > 0;
    if (temp > s->gemm_temp_bytes) {
        if (s->gemm_temp)
            clReleaseMemObject(s->gemm_temp);
        cl_int err = CL_SUCCESS;
        s->gemm_temp = clCreateBuffer(s->context, CL_MEM_READ_WRITE, temp, NULL, &err);
        s->gemm_temp_bytes = err == CL_SUCCESS ? temp : 0;
        if (!check(err, "clCreateBuffer for CLBlast's temporaries"))
            return false;
    }
    return true;
}

/* C[m, n] = A B (+ beta C), row-major f32, op(A), op(B) transposed as asked (head.c's gemm()). */
static bool gemm(opencl_state *s, bool ta, bool tb, size_t m, size_t n, size_t k, operand A, size_t lda, operand B,
                 size_t ldb, float beta, operand C, size_t ldc)
{
    const CLBlastTranspose opa = ta ? CLBlastTransposeYes : CLBlastTransposeNo;
    const CLBlastTranspose opb = tb ? CLBlastTransposeYes : CLBlastTransposeNo;
    CLBlastStatusCode st;
    if (s->gemm_use_temp)
        st = CLBlastSgemmWithTempBuffer(CLBlastLayoutRowMajor, opa, opb, m, n, k, 1.0f, A.mem, A.off, lda, B.mem,
                                        B.off, ldb, beta, C.mem, C.off, ldc, &s->queue, NULL, s->gemm_temp);
    else
        st = CLBlastSgemm(CLBlastLayoutRowMajor, opa, opb, m, n, k, 1.0f, A.mem, A.off, lda, B.mem, B.off, ldb, beta,
                          C.mem, C.off, ldc, &s->queue, NULL);
    if (st != CLBlastSuccess)
        return bench_fail("CLBlast SGEMM (%zu x %zu x %zu) failed: status %d", m, n, k, (int)st);
    return true;
}

static bool opencl_head_gemms(void *state, const bench_head_gemms *g, void *scratch, const void *x, const void *w,
                              void *dx, void *dw)
{
    opencl_state *s = state;
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
    .name = "opencl",
    .backend = SIGFUSE_BACKEND_OPENCL,
    .reps = 10,
    .warmup = 2,
    .copy_bytes = (size_t)256 << 20,
    /* Between the CPU reference and CUDA: the device may be a GPU or PoCL on a CPU. */
    .sizes = {.elementwise = {1 << 20, 1 << 24}, .cell = {{1024, 1024}}, .head = {{2048, 1024, 1024}}},
    .open = opencl_open,
    .close = opencl_close,
    .cache_bytes = opencl_cache_bytes,
    .alloc = opencl_alloc,
    .free = opencl_free,
    .buffer = opencl_buffer,
    .upload = opencl_upload,
    .download = opencl_download,
    .fill = opencl_fill,
    .copy = opencl_copy,
    .sync = opencl_sync,
    .timer_start = opencl_timer_start,
    .timer_stop = opencl_timer_stop,
    .gemm_library = "CLBlast",
    .head_gemms_prepare = opencl_head_gemms_prepare,
    .head_gemms = opencl_head_gemms,
};
