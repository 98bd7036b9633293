/* SPDX-License-Identifier: MIT */
/*
 * The multi-label head on OpenCL: predict and the fused train step. The products go to
 * CLBlast in f32 (SGEMM); f16 and bf16 storage is converted to f32 chunk by chunk in the
 * caller's workspace first, because CLBlast's half path needs cl_khr_fp16 (PoCL has none)
 * and bf16 it has not at all. Everything else is head.cl's.
 *
 * The train step walks row chunks as large as the workspace allows: Z = Xc W^T (CLBlast),
 * Z + b becomes G in place with the chunk's loss partials (head.cl), then db += colsum(G),
 * dW += G^T Xc and dXc = G W. The loss and db accumulate in double (float pairs without
 * cl_khr_fp64: common.cl's sf_acc) in the workspace, dW in f32 (CLBlast's beta = 1), in a
 * fixed order, chunk after chunk on one queue: bitwise the same on every run for a given
 * workspace size (a different chunk size changes dW's rounding, within the stated
 * tolerance).
 *
 * Sparse positives (CSR) are checked on the host first (one blocking readback per call,
 * labels.c's check), then head.cl finds each logit's target by a binary search of its
 * row's ids; a label shard's MEAN divides by N x total_labels. head_topk (topk.c) reuses
 * the chunked logits (sf_cl_head_logits).
 */
#include <stdlib.h>

#include <clblast_c.h>

#include "sf_opencl.h"

/* ---- Workspace layout ------------------------------------------------------------------------ */

static size_t sat_add(size_t a, size_t b) { return b > SIZE_MAX - a ? SIZE_MAX : a + b; }
static size_t sat_mul(size_t a, size_t b) { return a != 0 && b > SIZE_MAX / a ? SIZE_MAX : a * b; }

#define NONE SIZE_MAX

/* What the workspace of one call holds, as float offsets from its start (16-byte aligned
 * regions: multiples of 4 floats), plus CLBlast's temporary region in bytes. */
typedef struct head_layout {
    size_t acc;         /* the loss accumulator, one sf_acc (train with loss) */
    size_t db;          /* [L] sf_acc: the dbias accumulator (train with dbias) */
    size_t z;           /* [c, L]: Z, then G in place */
    size_t w32;         /* [L, D] W in f32 (f16 / bf16 only) */
    size_t x32;         /* [c, D] the chunk's X in f32 (f16 / bf16) */
    size_t dx32;        /* [c, D] the chunk's dX in f32 (f16 / bf16, train with dx) */
    size_t dw32;        /* [L, D] dW accumulator (f16 / bf16, train with dw) */
    size_t temp;        /* byte offset of CLBlast's temporary buffer region */
    size_t temp_bytes;  /* its size (0: CLBlast needs none for these shapes) */
    size_t bytes;       /* all of it; SIZE_MAX when the count overflows */
} head_layout;

typedef struct head_shape {
    sigfuse_dtype dtype;
    uint64_t d, l;
    bool train, dx, dw, db;
} head_shape;

/* The temporary buffer CLBlast wants for the chunk's products (0 when its direct kernel
 * serves them, as it does for small ones); a failed query counts as 0, in which case
 * CLBlast allocates its own. */
static size_t gemm_temp_bytes(sigfuse_ctx *ctx, const head_shape *h, uint64_t c)
{
    sf_cl_state *s = sf_cl_of(ctx);
    const size_t D = (size_t)h->d, L = (size_t)h->l, C = (size_t)c;
    if (C == 0 || D == 0 || L == 0)
        return 0;
    size_t worst = 0, t;
    const CLBlastLayout rm = CLBlastLayoutRowMajor;
    const CLBlastTranspose no = CLBlastTransposeNo, yes = CLBlastTransposeYes;
    t = 0;
    if (CLBlastSGemmTempBufferSize(rm, no, yes, C, L, D, 0, D, 0, D, 0, L, &s->queue, &t) == CLBlastSuccess &&
        t > worst)
        worst = t;
    if (h->train && h->dw) {
        t = 0;
        if (CLBlastSGemmTempBufferSize(rm, yes, no, L, D, C, 0, L, 0, D, 0, D, &s->queue, &t) == CLBlastSuccess &&
            t > worst)
            worst = t;
    }
    if (h->train && h->dx) {
        t = 0;
        if (CLBlastSGemmTempBufferSize(rm, no, no, C, D, L, 0, L, 0, D, 0, D, &s->queue, &t) == CLBlastSuccess &&
            t > worst)
            worst = t;
    }
    return worst;
}

/* The layout for chunks of c rows; with_temp = false leaves CLBlast's region out (the
 * cheap first guess of pick_chunk). No chunk, no workspace. */
static head_layout layout(sigfuse_ctx *ctx, const head_shape *h, uint64_t c, bool with_temp)
{
    head_layout o;
    o.acc = o.db = o.z = o.w32 = o.x32 = o.dx32 = o.dw32 = NONE;
    o.temp = 0;
    o.temp_bytes = 0;
    o.bytes = 0;
    if (c == 0)
        return o;
    const size_t D = (size_t)h->d, L = (size_t)h->l, C = (size_t)c;
    const bool wide = h->dtype != SIGFUSE_F32;
    const size_t acc_floats = SF_CL_ACC_BYTES / sizeof(float);
    size_t f = 0;
#define REGION(field, count)                                                                     \
    do {                                                                                         \
        o.field = f;                                                                             \
        f = sat_add(f, sat_mul(sat_add((count), 3) / 4, 4));                                     \
    } while (0)
    if (h->train)
        REGION(acc, acc_floats);
    if (h->train && h->db)
        REGION(db, sat_mul(L, acc_floats));
    REGION(z, sat_mul(C, L));
    if (wide) {
        REGION(w32, sat_mul(L, D));
        REGION(x32, sat_mul(C, D));
        if (h->train && h->dx)
            REGION(dx32, sat_mul(C, D));
        if (h->train && h->dw)
            REGION(dw32, sat_mul(L, D));
    }
#undef REGION
    o.bytes = sat_mul(f, sizeof(float));
    if (with_temp && o.bytes != SIZE_MAX) {
        o.temp_bytes = gemm_temp_bytes(ctx, h, c);
        if (o.temp_bytes > 0) {
            /* A sub-buffer must start at a multiple of CL_DEVICE_MEM_BASE_ADDR_ALIGN, which
             * the caller's 16-byte-aligned offset may miss by up to that much. */
            o.temp = o.bytes;
            o.bytes = sat_add(o.bytes, sat_add(sf_cl_of(ctx)->base_align, o.temp_bytes));
        }
    }
    return o;
}

/* The largest chunk (1 <= c <= n) whose layout fits in `bytes`. The layout grows with c,
 * so a bisection finds it. The api has checked that c = 1 fits; this checks again rather
 * than overrun a caller's buffer should a caller skip that layer. */
static sigfuse_status pick_chunk(sigfuse_ctx *ctx, const head_shape *h, uint64_t n, size_t bytes, uint64_t *chunk,
                                 head_layout *out)
{
    const size_t minimum = layout(ctx, h, 1, true).bytes;
    if (minimum > bytes)
        return sf_fail(ctx, SIGFUSE_ERR_INSUFFICIENT_WORKSPACE,
                       "opencl: the head needs a workspace of at least %zu bytes, got %zu", minimum, bytes);
    uint64_t lo = 1, hi = n;
    /* Without CLBlast's region first: plain arithmetic, and the answer bounds the real one. */
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo + 1) / 2;
        if (layout(ctx, h, mid, false).bytes <= bytes)
            lo = mid;
        else
            hi = mid - 1;
    }
    head_layout full = layout(ctx, h, lo, true);
    if (full.bytes > bytes) {
        uint64_t top = lo;
        lo = 1;
        hi = top;
        while (lo < hi) {
            uint64_t mid = lo + (hi - lo + 1) / 2;
            if (layout(ctx, h, mid, true).bytes <= bytes)
                lo = mid;
            else
                hi = mid - 1;
        }
        full = layout(ctx, h, lo, true);
    }
    *out = full;
    *chunk = lo;
    return SIGFUSE_SUCCESS;
}

static head_shape predict_shape(const sigfuse_head_predict_args *a)
{
    head_shape h = {a->x->dtype, (uint64_t)a->d, (uint64_t)a->l, false, false, false, false};
    return h;
}

static head_shape train_shape(const sigfuse_head_train_args *a)
{
    head_shape h = {a->x->dtype, (uint64_t)a->d, (uint64_t)a->l, true, a->dx != NULL, a->dw != NULL,
                    a->dbias != NULL};
    return h;
}

size_t sf_cl_head_predict_workspace(sigfuse_ctx *ctx, const sigfuse_head_predict_args *a, int64_t chunk_rows)
{
    head_shape h = predict_shape(a);
    return layout(ctx, &h, a->l > 0 ? (uint64_t)chunk_rows : 0, true).bytes;
}

size_t sf_cl_head_train_step_workspace(sigfuse_ctx *ctx, const sigfuse_head_train_args *a, int64_t chunk_rows)
{
    head_shape h = train_shape(a);
    return layout(ctx, &h, a->l > 0 ? (uint64_t)chunk_rows : 0, true).bytes;
}

/* ---- Launch helpers ---------------------------------------------------------------------------- */

/* A matrix operand: a cl_mem and an offset in floats (CLBlast's unit). */
typedef struct operand {
    cl_mem mem;
    size_t off;
} operand;

static operand buf_operand(const sigfuse_buffer *b, uint64_t plus)
{
    operand o = {(cl_mem)b->ptr, (size_t)(sf_cl_elem_offset(b) + plus)};
    return o;
}

static const char *clblast_name(CLBlastStatusCode st)
{
    switch (st) {
    case CLBlastSuccess: return "CLBlastSuccess";
    case CLBlastOpenCLCompilerNotAvailable: return "CLBlastOpenCLCompilerNotAvailable";
    case CLBlastTempBufferAllocFailure: return "CLBlastTempBufferAllocFailure";
    case CLBlastOpenCLOutOfResources: return "CLBlastOpenCLOutOfResources";
    case CLBlastOpenCLOutOfHostMemory: return "CLBlastOpenCLOutOfHostMemory";
    case CLBlastOpenCLBuildProgramFailure: return "CLBlastOpenCLBuildProgramFailure";
    case CLBlastInvalidValue: return "CLBlastInvalidValue";
    case CLBlastInvalidCommandQueue: return "CLBlastInvalidCommandQueue";
    case CLBlastInvalidMemObject: return "CLBlastInvalidMemObject";
    case CLBlastInvalidLocalThreadsTotal: return "CLBlastInvalidLocalThreadsTotal";
    case CLBlastNotImplemented: return "CLBlastNotImplemented";
    case CLBlastInvalidMatrixA: return "CLBlastInvalidMatrixA";
    case CLBlastInvalidMatrixB: return "CLBlastInvalidMatrixB";
    case CLBlastInvalidMatrixC: return "CLBlastInvalidMatrixC";
    case CLBlastInvalidDimension: return "CLBlastInvalidDimension";
    case CLBlastInvalidLeadDimA: return "CLBlastInvalidLeadDimA";
    case CLBlastInvalidLeadDimB: return "CLBlastInvalidLeadDimB";
    case CLBlastInvalidLeadDimC: return "CLBlastInvalidLeadDimC";
    case CLBlastInsufficientMemoryA: return "CLBlastInsufficientMemoryA";
    case CLBlastInsufficientMemoryB: return "CLBlastInsufficientMemoryB";
    case CLBlastInsufficientMemoryC: return "CLBlastInsufficientMemoryC";
    case CLBlastInsufficientMemoryTemp: return "CLBlastInsufficientMemoryTemp";
    case CLBlastInvalidLocalMemUsage: return "CLBlastInvalidLocalMemUsage";
    case CLBlastDatabaseError: return "CLBlastDatabaseError";
    case CLBlastUnknownError: return "CLBlastUnknownError";
    case CLBlastUnexpectedError: return "CLBlastUnexpectedError";
    default: break;
    }
    return "another CLBlast status (see clblast_c.h)";
}

/* C[m, n] = A B (+ beta C), row-major f32, with op(A) and op(B) transposed as asked. */
static sigfuse_status gemm(sigfuse_ctx *ctx, const char *what, bool ta, bool tb, size_t m, size_t n, size_t k,
                           operand A, size_t lda, operand B, size_t ldb, float beta, operand C, size_t ldc,
                           cl_mem temp)
{
    sf_cl_state *s = sf_cl_of(ctx);
    SF_TRY(sf_cl_barrier(ctx));
    const CLBlastTranspose opa = ta ? CLBlastTransposeYes : CLBlastTransposeNo;
    const CLBlastTranspose opb = tb ? CLBlastTransposeYes : CLBlastTransposeNo;
    CLBlastStatusCode st;
    if (temp)
        st = CLBlastSgemmWithTempBuffer(CLBlastLayoutRowMajor, opa, opb, m, n, k, 1.0f, A.mem, A.off, lda, B.mem, B.off,
                                        ldb, beta, C.mem, C.off, ldc, &s->queue, NULL, temp);
    else
        st = CLBlastSgemm(CLBlastLayoutRowMajor, opa, opb, m, n, k, 1.0f, A.mem, A.off, lda, B.mem, B.off, ldb, beta,
                          C.mem, C.off, ldc, &s->queue, NULL);
    if (st != CLBlastSuccess)
        return sf_fail(ctx, SIGFUSE_ERR_BACKEND, "opencl: CLBlast SGEMM for %s (%zu x %zu x %zu) failed: %s (%d)", what,
                       m, n, k, clblast_name(st), (int)st);
    return sf_cl_barrier(ctx);
}

/* Zero bytes are +0 in every float dtype. */
static sigfuse_status fill_zero(sigfuse_ctx *ctx, cl_mem mem, size_t offset_bytes, size_t bytes)
{
    if (bytes == 0)
        return SIGFUSE_SUCCESS;
    const cl_uchar zero = 0;
    cl_int err = clEnqueueFillBuffer(sf_cl_of(ctx)->queue, mem, &zero, 1, offset_bytes, bytes, 0, NULL, NULL);
    return err == CL_SUCCESS ? SIGFUSE_SUCCESS : sf_cl_fail(ctx, err, "clEnqueueFillBuffer");
}

static sigfuse_status fill_zero_buf(sigfuse_ctx *ctx, const sigfuse_buffer *b, uint64_t count)
{
    return fill_zero(ctx, (cl_mem)b->ptr, b->offset, (size_t)count * sigfuse_dtype_size(b->dtype));
}

/* dst = src over n elements, one of them f32 in the workspace and the other the storage
 * dtype: head_to_f32 or head_from_f32. */
static sigfuse_status convert(sigfuse_ctx *ctx, sf_cl_kernel kernel, sigfuse_dtype dtype, operand src, uint64_t n,
                              operand dst)
{
    if (n == 0)
        return SIGFUSE_SUCCESS;
    sf_cl_launch l;
    SF_TRY(sf_cl_begin(ctx, SF_CL_FAMILY_head, dtype, kernel, &l));
    sf_cl_arg_mem(&l, src.mem);
    sf_cl_arg_u64(&l, src.off);
    sf_cl_arg_u64(&l, n);
    sf_cl_arg_mem(&l, dst.mem);
    sf_cl_arg_u64(&l, dst.off);
    return sf_cl_enqueue_1d(&l, sf_cl_groups(sf_cl_of(ctx), n, l.local));
}

static sigfuse_status to_f32(sigfuse_ctx *ctx, sigfuse_dtype dtype, operand src, uint64_t n, operand dst)
{
    return convert(ctx, SF_CL_KERNEL_head_to_f32, dtype, src, n, dst);
}

static sigfuse_status from_f32(sigfuse_ctx *ctx, sigfuse_dtype dtype, operand src, uint64_t n, operand dst)
{
    return convert(ctx, SF_CL_KERNEL_head_from_f32, dtype, src, n, dst);
}

/* The call's view of its workspace: the cl_mem, the float offset of the layout's start,
 * and a sub-buffer for CLBlast's temporaries when it needs one. */
typedef struct ws_view {
    cl_mem mem;
    size_t off;
    cl_mem temp;
} ws_view;

/* A sub-buffer is a handle on existing memory, not an allocation of device memory; when
 * the driver refuses one (the workspace is itself a sub-buffer), CLBlast allocates its own
 * temporaries instead, which is slower but correct. */
static ws_view open_workspace(sigfuse_ctx *ctx, const sigfuse_buffer *ws, const head_layout *lay)
{
    ws_view v = {NULL, 0, NULL};
    if (!ws || lay->bytes == 0)
        return v;
    v.mem = (cl_mem)ws->ptr;
    v.off = ws->offset / sizeof(float);
    if (lay->temp_bytes > 0) {
        const size_t align = sf_cl_of(ctx)->base_align;
        size_t origin = ws->offset + lay->temp;
        origin = (origin + align - 1) / align * align;
        cl_buffer_region region = {origin, lay->temp_bytes};
        cl_int err;
        v.temp = clCreateSubBuffer(v.mem, CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION, &region, &err);
        if (err != CL_SUCCESS)
            v.temp = NULL;
    }
    return v;
}

static void close_workspace(ws_view *v)
{
    /* Released at once: the driver keeps it alive until the queued products finish. */
    if (v->temp)
        clReleaseMemObject(v->temp);
    v->temp = NULL;
}

static operand ws_at(const ws_view *v, size_t region, size_t plus)
{
    operand o = {v->mem, v->off + region + plus};
    return o;
}

/* ---- Predict ------------------------------------------------------------------------------------- */

/* W in f32 for the products: the caller's f32 W, or a 16-bit one converted into the
 * workspace once per call. */
static sigfuse_status weights_f32(sigfuse_ctx *ctx, const sigfuse_buffer *wb, uint64_t count, const head_layout *lay,
                                  const ws_view *ws, operand *w)
{
    if (wb->dtype == SIGFUSE_F32) {
        *w = buf_operand(wb, 0);
        return SIGFUSE_SUCCESS;
    }
    *w = ws_at(ws, lay->w32, 0);
    return to_f32(ctx, wb->dtype, buf_operand(wb, 0), count, *w);
}

/* Rows r0 .. r0 + rows - 1 of X in f32 (*x: the caller's, or converted into the
 * workspace) and their logits without bias, Z = X W^T (zeros when D = 0), in the
 * workspace (*z). */
static sigfuse_status chunk_logits(sigfuse_ctx *ctx, const sigfuse_buffer *xb, uint64_t r0, uint64_t rows, uint64_t D,
                                   uint64_t L, operand w, const head_layout *lay, const ws_view *ws, operand *x,
                                   operand *z)
{
    *x = xb->dtype == SIGFUSE_F32 ? buf_operand(xb, r0 * D) : ws_at(ws, lay->x32, 0);
    if (xb->dtype != SIGFUSE_F32)
        SF_TRY(to_f32(ctx, xb->dtype, buf_operand(xb, r0 * D), rows * D, *x));
    *z = ws_at(ws, lay->z, 0);
    if (D > 0)
        return gemm(ctx, "Z = X W^T", false, true, rows, L, D, *x, D, w, D, 0.0f, *z, L, ws->temp);
    return fill_zero(ctx, z->mem, z->off * sizeof(float), rows * L * sizeof(float));
}

/* An op's walk over its row chunks, given the layout, the chunk size and the workspace. */
typedef sigfuse_status (*chunks_fn)(sigfuse_ctx *ctx, const void *args, const head_layout *lay, uint64_t chunk,
                                    const ws_view *ws);

/* Runs an op's chunks in the largest chunk the caller's workspace holds. */
static sigfuse_status run_chunks(sigfuse_ctx *ctx, const head_shape *h, int64_t n, const sigfuse_buffer *workspace,
                                 size_t workspace_bytes, chunks_fn chunks, const void *args)
{
    head_layout lay;
    uint64_t chunk = 0;
    SF_TRY(pick_chunk(ctx, h, (uint64_t)n, workspace ? workspace_bytes : 0, &chunk, &lay));
    ws_view ws = open_workspace(ctx, workspace, &lay);
    sigfuse_status st = chunks(ctx, args, &lay, chunk, &ws);
    close_workspace(&ws);
    return st;
}

static sigfuse_status predict_chunks(sigfuse_ctx *ctx, const void *args, const head_layout *lay, uint64_t chunk,
                                     const ws_view *ws)
{
    const sigfuse_head_predict_args *a = (const sigfuse_head_predict_args *)args;
    sf_cl_state *s = sf_cl_of(ctx);
    const sigfuse_dtype dtype = a->x->dtype;
    const uint64_t N = (uint64_t)a->n, D = (uint64_t)a->d, L = (uint64_t)a->l;
    operand w, x, z;
    SF_TRY(weights_f32(ctx, a->w, L * D, lay, ws, &w));
    for (uint64_t r0 = 0; r0 < N; r0 += chunk) {
        const uint64_t rows = N - r0 < chunk ? N - r0 : chunk;
        SF_TRY(chunk_logits(ctx, a->x, r0, rows, D, L, w, lay, ws, &x, &z));
        /* The outputs from Z + b: a [rows, L] walk, a work-item per label column. */
        sf_cl_launch l;
        SF_TRY(sf_cl_begin(ctx, SF_CL_FAMILY_head, dtype, SF_CL_KERNEL_head_predict, &l));
        sf_cl_arg_mem(&l, z.mem);
        sf_cl_arg_u64(&l, z.off);
        sf_cl_arg_u64(&l, rows);
        sf_cl_arg_u64(&l, L);
        sf_cl_arg_buf(&l, a->bias);
        sf_cl_arg_buf(&l, a->logits);
        sf_cl_arg_buf(&l, a->probs);
        sf_cl_arg_u8_or_float(&l, a->labels);
        sf_cl_arg_u64(&l, r0);
        sf_cl_arg_f32(&l, a->threshold);
        const sf_cl_grid2 g = sf_cl_grid_2d(s, l.local, L, rows);
        SF_TRY(sf_cl_enqueue_2d(&l, &g));
        SF_TRY(sf_cl_barrier(ctx));
    }
    return SIGFUSE_SUCCESS;
}

sigfuse_status sf_cl_head_predict(sigfuse_ctx *ctx, const sigfuse_head_predict_args *a)
{
    const head_shape h = predict_shape(a);
    return run_chunks(ctx, &h, a->n, a->workspace, a->workspace_bytes, predict_chunks, a);
}

/* ---- Logits chunks for other ops (head_topk, topk.c) --------------------------------------------- */

size_t sf_cl_head_logits_workspace(sigfuse_ctx *ctx, sigfuse_dtype dtype, int64_t d, int64_t l, int64_t chunk_rows)
{
    const head_shape h = {dtype, (uint64_t)d, (uint64_t)l, false, false, false, false};
    return layout(ctx, &h, l > 0 ? (uint64_t)chunk_rows : 0, true).bytes;
}

typedef struct logits_call {
    const sigfuse_buffer *x, *w;
    uint64_t n, d, l;
    sf_cl_logits_fn fn;
    void *user;
} logits_call;

static sigfuse_status logits_chunks(sigfuse_ctx *ctx, const void *args, const head_layout *lay, uint64_t chunk,
                                    const ws_view *ws)
{
    const logits_call *c = (const logits_call *)args;
    operand w, x, z;
    SF_TRY(weights_f32(ctx, c->w, c->l * c->d, lay, ws, &w));
    for (uint64_t r0 = 0; r0 < c->n; r0 += chunk) {
        const uint64_t rows = c->n - r0 < chunk ? c->n - r0 : chunk;
        SF_TRY(chunk_logits(ctx, c->x, r0, rows, c->d, c->l, w, lay, ws, &x, &z));
        SF_TRY(sf_cl_barrier(ctx));
        SF_TRY(c->fn(ctx, c->user, z.mem, z.off, r0, rows));
        SF_TRY(sf_cl_barrier(ctx));
    }
    return SIGFUSE_SUCCESS;
}

sigfuse_status sf_cl_head_logits(sigfuse_ctx *ctx, const sigfuse_buffer *x, const sigfuse_buffer *w, int64_t n,
                                 int64_t d, int64_t l, const sigfuse_buffer *workspace, size_t workspace_bytes,
                                 sf_cl_logits_fn fn, void *user)
{
    const head_shape h = {x->dtype, (uint64_t)d, (uint64_t)l, false, false, false, false};
    const logits_call c = {x, w, (uint64_t)n, (uint64_t)d, (uint64_t)l, fn, user};
    return run_chunks(ctx, &h, n, workspace, workspace_bytes, logits_chunks, &c);
}

/* ---- Train step ------------------------------------------------------------------------------------ */

/* The labels MEAN counts per row: the whole label space's (a shard's total_labels; 0: L). */
static uint64_t label_space(const sigfuse_head_train_args *a)
{
    return a->total_labels > 0 ? (uint64_t)a->total_labels : (uint64_t)a->l;
}

/* The loss partials of this chunk's gradient kernel (count of them; 0 with no chunk)
 * into the accumulator, and on the last chunk the loss itself. */
static sigfuse_status loss_step(sigfuse_ctx *ctx, sigfuse_dtype dtype, size_t count, operand acc, bool first,
                                bool last, const sigfuse_head_train_args *a)
{
    sf_cl_launch l;
    SF_TRY(sf_cl_begin(ctx, SF_CL_FAMILY_head, dtype, SF_CL_KERNEL_head_train_step_loss, &l));
    SF_TRY(sf_cl_barrier(ctx));
    sf_cl_arg_mem(&l, sf_cl_of(ctx)->scratch);
    sf_cl_arg_u32(&l, (uint32_t)count);
    sf_cl_arg_mem(&l, acc.mem);
    sf_cl_arg_u64(&l, acc.off);
    sf_cl_arg_int(&l, first);
    sf_cl_arg_int(&l, last);
    sf_cl_arg_u64(&l, a->reduction == SIGFUSE_REDUCTION_MEAN ? (uint64_t)a->n * label_space(a) : 1);
    sf_cl_arg_buf(&l, a->loss);
    sf_cl_arg_local_accs(&l, l.local);
    return sf_cl_enqueue_1d(&l, 1);   /* one work-group */
}

/* The chunk's G (in place of Z) and, with a->loss, its loss partials in the scratch
 * (*groups of them). */
static sigfuse_status grad_step(sigfuse_ctx *ctx, const sigfuse_head_train_args *a, operand z, uint64_t r0,
                                uint64_t rows, float scale, size_t *groups)
{
    sf_cl_state *s = sf_cl_of(ctx);
    const uint64_t L = (uint64_t)a->l, elems = rows * L;
    sf_cl_launch l;
    SF_TRY(sf_cl_begin(ctx, SF_CL_FAMILY_head, a->x->dtype, SF_CL_KERNEL_head_train_step, &l));
    *groups = sf_cl_groups(s, elems, l.local);
    SF_TRY(sf_cl_barrier(ctx));
    sf_cl_arg_mem(&l, z.mem);
    sf_cl_arg_u64(&l, z.off);
    sf_cl_arg_u64(&l, elems);
    sf_cl_arg_u64(&l, L);
    sf_cl_arg_buf(&l, a->bias);
    sf_cl_arg_u8_or_float(&l, a->targets);
    sf_cl_arg_buf(&l, a->pos_offsets);
    sf_cl_arg_buf(&l, a->pos_labels);
    sf_cl_arg_int(&l, a->pos_offsets && a->pos_offsets->dtype == SIGFUSE_I64);
    sf_cl_arg_u64(&l, (uint64_t)a->label_offset);
    sf_cl_arg_buf(&l, a->pos_weight);
    sf_cl_arg_u64(&l, r0);
    sf_cl_arg_f32(&l, scale);
    sf_cl_arg_mem(&l, a->loss ? s->scratch : NULL);
    sf_cl_arg_local_accs(&l, l.local);
    SF_TRY(sf_cl_enqueue_1d(&l, *groups));
    return sf_cl_barrier(ctx);
}

/* db += the column sums of the chunk's G, into the accumulator; on the last chunk into
 * dbias. */
static sigfuse_status dbias_step(sigfuse_ctx *ctx, const sigfuse_head_train_args *a, operand z, uint64_t rows,
                                 operand acc, bool first, bool last)
{
    const uint64_t L = (uint64_t)a->l;
    sf_cl_launch l;
    SF_TRY(sf_cl_begin(ctx, SF_CL_FAMILY_head, a->x->dtype, SF_CL_KERNEL_head_train_step_dbias, &l));
    sf_cl_arg_mem(&l, z.mem);
    sf_cl_arg_u64(&l, z.off);
    sf_cl_arg_u64(&l, rows);
    sf_cl_arg_u64(&l, L);
    sf_cl_arg_mem(&l, acc.mem);
    sf_cl_arg_u64(&l, acc.off);
    sf_cl_arg_int(&l, first);
    sf_cl_arg_int(&l, last);
    sf_cl_arg_buf(&l, a->dbias);
    return sf_cl_enqueue_1d(&l, sf_cl_groups(sf_cl_of(ctx), L, l.local));   /* a work-item a column */
}

static sigfuse_status train_chunks(sigfuse_ctx *ctx, const void *args, const head_layout *lay, uint64_t chunk,
                                   const ws_view *ws)
{
    const sigfuse_head_train_args *a = (const sigfuse_head_train_args *)args;
    const sigfuse_dtype dtype = a->x->dtype;
    const bool wide = dtype != SIGFUSE_F32;
    const uint64_t N = (uint64_t)a->n, D = (uint64_t)a->d, L = (uint64_t)a->l;
    const double n_l = (double)N * (double)label_space(a);
    /* G = g x grad_scale, divided by N x total_labels for MEAN (only used when there are
     * logits). */
    float scale = a->grad_scale;
    if (a->reduction == SIGFUSE_REDUCTION_MEAN && n_l > 0)
        scale = (float)((double)a->grad_scale / n_l);

    operand w, x, z;
    SF_TRY(weights_f32(ctx, a->w, L * D, lay, ws, &w));
    operand dw_acc = a->dw ? (wide ? ws_at(ws, lay->dw32, 0) : buf_operand(a->dw, 0)) : (operand){NULL, 0};

    for (uint64_t r0 = 0; r0 < N; r0 += chunk) {
        const uint64_t rows = N - r0 < chunk ? N - r0 : chunk;
        const bool first = r0 == 0, last = r0 + rows == N;
        SF_TRY(chunk_logits(ctx, a->x, r0, rows, D, L, w, lay, ws, &x, &z));
        size_t groups;
        SF_TRY(grad_step(ctx, a, z, r0, rows, scale, &groups));
        if (a->loss)
            SF_TRY(loss_step(ctx, dtype, groups, ws_at(ws, lay->acc, 0), first, last, a));
        if (a->dbias)
            SF_TRY(dbias_step(ctx, a, z, rows, ws_at(ws, lay->db, 0), first, last));
        /* dW before dX: the chunk's X rows are all read before any dX row is written. */
        if (a->dw && D > 0)
            SF_TRY(gemm(ctx, "dW += G^T X", true, false, L, D, rows, z, L, x, D, first ? 0.0f : 1.0f, dw_acc, D,
                        ws->temp));
        if (a->dx && D > 0) {
            operand dx = wide ? ws_at(ws, lay->dx32, 0) : buf_operand(a->dx, r0 * D);
            SF_TRY(gemm(ctx, "dX = G W", false, false, rows, D, L, z, L, w, D, 0.0f, dx, D, ws->temp));
            if (wide)
                SF_TRY(from_f32(ctx, dtype, dx, rows * D, buf_operand(a->dx, r0 * D)));
        }
        SF_TRY(sf_cl_barrier(ctx));
    }
    if (wide && a->dw)
        SF_TRY(from_f32(ctx, dtype, dw_acc, L * D, buf_operand(a->dw, 0)));
    return SIGFUSE_SUCCESS;
}

/* No logits at all (N = 0 or L = 0): the sums are empty and the products are zeros. */
static sigfuse_status train_empty(sigfuse_ctx *ctx, const sigfuse_head_train_args *a)
{
    const uint64_t N = (uint64_t)a->n, D = (uint64_t)a->d, L = (uint64_t)a->l;
    if (a->loss)
        SF_TRY(loss_step(ctx, a->x->dtype, 0, (operand){NULL, 0}, true, true, a));
    if (a->dx)
        SF_TRY(fill_zero_buf(ctx, a->dx, N * D));
    if (a->dw)
        SF_TRY(fill_zero_buf(ctx, a->dw, L * D));
    if (a->dbias)
        SF_TRY(fill_zero_buf(ctx, a->dbias, L));
    return SIGFUSE_SUCCESS;
}

/* The CSR positives checked as every backend checks them (labels.c's sf_csr_error, the
 * same message), on host copies: one blocking readback of pos_offsets and pos_labels per
 * call, before anything is enqueued that writes. It waits for the queue's earlier work
 * (which may be what wrote the CSR): the price of refusing a bad CSR with nothing written. */
static sigfuse_status check_csr(sigfuse_ctx *ctx, const sigfuse_head_train_args *a)
{
    sf_cl_state *s = sf_cl_of(ctx);
    const uint64_t n = (uint64_t)a->n, nnz = a->nnz > 0 ? (uint64_t)a->nnz : 0;
    const size_t es_off = sigfuse_dtype_size(a->pos_offsets->dtype);
    const size_t es_lab = a->pos_labels ? sigfuse_dtype_size(a->pos_labels->dtype) : es_off;
    if (n + 1 > SIZE_MAX / es_off || nnz > SIZE_MAX / es_lab)
        return sf_fail(ctx, SIGFUSE_ERR_INVALID_SIZE, "head_train_step: the CSR does not fit in host memory");
    const size_t off_bytes = (size_t)(n + 1) * es_off, lab_bytes = (size_t)nnz * es_lab;
    char *host = (char *)malloc(off_bytes + lab_bytes + 1);
    if (!host)
        return sf_fail(ctx, SIGFUSE_ERR_OUT_OF_MEMORY,
                       "head_train_step: no host memory for the %zu bytes of the CSR check", off_bytes + lab_bytes);
    sigfuse_status st = sf_cl_barrier(ctx);
    cl_int err = CL_SUCCESS;
    if (st == SIGFUSE_SUCCESS)
        err = clEnqueueReadBuffer(s->queue, (cl_mem)a->pos_offsets->ptr, CL_TRUE, a->pos_offsets->offset, off_bytes,
                                  host, 0, NULL, NULL);
    if (st == SIGFUSE_SUCCESS && err == CL_SUCCESS && lab_bytes > 0)
        err = clEnqueueReadBuffer(s->queue, (cl_mem)a->pos_labels->ptr, CL_TRUE, a->pos_labels->offset, lab_bytes,
                                  host + off_bytes, 0, NULL, NULL);
    if (st == SIGFUSE_SUCCESS && err != CL_SUCCESS)
        st = sf_cl_fail(ctx, err, "clEnqueueReadBuffer (the CSR positives)");
    if (st == SIGFUSE_SUCCESS) {
        const sigfuse_buffer off = sigfuse_host_buffer(host, a->pos_offsets->dtype);
        const sigfuse_buffer lab =
            sigfuse_host_buffer(host + off_bytes, a->pos_labels ? a->pos_labels->dtype : a->pos_offsets->dtype);
        char why[256];
        if (sf_csr_error(&off, &lab, a->n, (int64_t)nnz, (int64_t)label_space(a), why, sizeof why))
            st = sf_fail(ctx, SIGFUSE_ERR_INVALID_ARGUMENT, "head_train_step: %s", why);
    }
    free(host);
    return st;
}

sigfuse_status sf_cl_head_train_step(sigfuse_ctx *ctx, const sigfuse_head_train_args *a)
{
    if (a->pos_offsets)
        SF_TRY(check_csr(ctx, a));
    if (a->n == 0 || a->l == 0)
        return train_empty(ctx, a);
    const head_shape h = train_shape(a);
    return run_chunks(ctx, &h, a->n, a->workspace, a->workspace_bytes, train_chunks, a);
}
