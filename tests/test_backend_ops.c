/* SPDX-License-Identifier: MIT */
/*
 * Every op x dtype x option on every device backend present, against the CPU reference
 * (the model is ggml's test-backend-ops). Each case draws its inputs from a seed derived
 * from its name (logged), runs the reference on host memory and the backend on device
 * memory, and compares output by output with the tolerance written next to the case.
 * Device outputs are poisoned before the run (0xFF bytes: NaN in the float dtypes) and
 * sit between guard regions that must survive; sizes include 0, 1, 7, 1023, 4097 and
 * 2^20 + 3, views 16-byte aligned and offset by one element, extremes (+-inf, NaN, +-1e4,
 * +-88.7, subnormals). Reductions are run twice and must agree bitwise.
 *
 * A test is named <op>_<backend>_<dtype>; every failure message starts with the case name
 * (op, backend, dtype, shape, options), e.g.
 *   bce_with_logits(backend=cuda,dtype=bf16,shape=[17,241],red=sum,targets=u8,...,view=+1)
 * Re-run one test with --filter 'backend_ops/bce_with_logits_cuda_bf16'.
 * A backend with no device here reports each of its tests as skipped ("skipped: no CUDA
 * device"), never as passed. SIGFUSE_TEST_QUICK=1 in the environment drops the large
 * sizes and thins the sweeps to a few shapes (for compute-sanitizer runs).
 *
 * Adding a backend (OpenCL): fill in a backend_mem table (alloc / upload / download /
 * fill / copy / view / release) and add BACKEND_TESTS(<name>) at the end of this file.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "sf_internal.h"
#include "testutil.h"

#ifdef SIGFUSE_WITH_CUDA
#include <cuda_runtime_api.h>

#include "sigfuse_cuda.h"
#endif

/* ====================================================================================
 * Device memory, per backend
 * ==================================================================================== */

typedef struct backend_mem {
    const char *name;            /* as in case names: "cuda" */
    sigfuse_backend backend;
    const char *absent;          /* the skip message when there is no device */
    bool (*present)(void);
    void *(*alloc)(size_t bytes);   /* NULL on failure */
    void (*release)(void *h);
    bool (*upload)(void *h, size_t off, const void *src, size_t bytes);
    bool (*download)(void *h, size_t off, void *dst, size_t bytes);
    bool (*fill)(void *h, size_t off, int byte, size_t bytes);
    bool (*copy)(void *h, size_t dst_off, size_t src_off, size_t bytes);   /* within one allocation */
    /* A descriptor of byte `off` of h: `plain` puts the address in ptr (offset 0), else
     * ptr is the allocation and offset says where (exercising the offset field). */
    sigfuse_buffer (*view)(void *h, size_t off, sigfuse_dtype dtype, bool plain);
    size_t (*free_bytes)(void);
} backend_mem;

#ifdef SIGFUSE_WITH_CUDA
static bool cuda_present(void)
{
    static int cached = -1;
    if (cached < 0)
        cached = sigfuse_backend_available(SIGFUSE_BACKEND_CUDA) == SIGFUSE_SUCCESS;
    return cached == 1;
}
static void *cuda_alloc(size_t bytes)
{
    void *p = NULL;
    if (cudaMalloc(&p, bytes ? bytes : 1) != cudaSuccess) {
        cudaGetLastError();
        return NULL;
    }
    return p;
}
static void cuda_release(void *h) { cudaFree(h); }
static bool cuda_upload(void *h, size_t off, const void *src, size_t bytes)
{
    return bytes == 0 || cudaMemcpy((char *)h + off, src, bytes, cudaMemcpyHostToDevice) == cudaSuccess;
}
static bool cuda_download(void *h, size_t off, void *dst, size_t bytes)
{
    return bytes == 0 || cudaMemcpy(dst, (char *)h + off, bytes, cudaMemcpyDeviceToHost) == cudaSuccess;
}
static bool cuda_fill(void *h, size_t off, int byte, size_t bytes)
{
    return bytes == 0 || (cudaMemset((char *)h + off, byte, bytes) == cudaSuccess &&
                          cudaDeviceSynchronize() == cudaSuccess);
}
static bool cuda_copy(void *h, size_t dst_off, size_t src_off, size_t bytes)
{
    return bytes == 0 || (cudaMemcpy((char *)h + dst_off, (char *)h + src_off, bytes, cudaMemcpyDeviceToDevice) ==
                              cudaSuccess &&
                          cudaDeviceSynchronize() == cudaSuccess);
}
static sigfuse_buffer cuda_view(void *h, size_t off, sigfuse_dtype dtype, bool plain)
{
    sigfuse_buffer b = sigfuse_cuda_buffer(h, dtype);
    if (plain)
        b.ptr = (char *)h + off;
    else
        b.offset = off;
    return b;
}
static size_t cuda_free_bytes(void)
{
    size_t free_b = 0, total = 0;
    if (cudaMemGetInfo(&free_b, &total) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return free_b;
}
static const backend_mem cuda_mem = {
    "cuda", SIGFUSE_BACKEND_CUDA, "skipped: no CUDA device", cuda_present, cuda_alloc, cuda_release, cuda_upload,
    cuda_download, cuda_fill, cuda_copy, cuda_view, cuda_free_bytes,
};
#else
static bool never(void) { return false; }
static const backend_mem cuda_mem = {
    "cuda", SIGFUSE_BACKEND_CUDA, "skipped: no CUDA device (the CUDA backend is not built)", never,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
};
#endif

#ifdef SIGFUSE_TEST_SELFCHECK
/* The harness checking itself: the CPU reference as a "device" on host memory (compile
 * with -DSIGFUSE_TEST_SELFCHECK). Every case must pass exactly; it exercises the slots,
 * aliasing, guards, poison, workspaces and reruns without a GPU. */
static bool host_present(void) { return true; }
static void *host_alloc(size_t bytes) { return malloc(bytes ? bytes : 1); }
static void host_release(void *h) { free(h); }
static bool host_upload(void *h, size_t off, const void *src, size_t bytes)
{
    memcpy((char *)h + off, src, bytes);
    return true;
}
static bool host_download(void *h, size_t off, void *dst, size_t bytes)
{
    memcpy(dst, (char *)h + off, bytes);
    return true;
}
static bool host_fill(void *h, size_t off, int byte, size_t bytes)
{
    memset((char *)h + off, byte, bytes);
    return true;
}
static bool host_copy(void *h, size_t dst_off, size_t src_off, size_t bytes)
{
    memmove((char *)h + dst_off, (char *)h + src_off, bytes);
    return true;
}
static sigfuse_buffer host_view(void *h, size_t off, sigfuse_dtype dtype, bool plain)
{
    sigfuse_buffer b = sigfuse_host_buffer(h, dtype);
    if (plain)
        b.ptr = (char *)h + off;
    else
        b.offset = off;
    return b;
}
static size_t host_free_bytes(void) { return 0; }
static const backend_mem host_mem = {
    "host", SIGFUSE_BACKEND_CPU, "", host_present, host_alloc, host_release, host_upload,
    host_download, host_fill, host_copy, host_view, host_free_bytes,
};
#endif

/* Start of every test: skip (reported as skipped, not passed) when the backend has no
 * device here. */
static void need_backend(const backend_mem *be, const char *test)
{
    if (!be->present()) {
        fprintf(stderr, "%s: %s\n", test, be->absent);
        cr_skip_test("%s", be->absent);
    }
}

static sigfuse_ctx *backend_ctx(const backend_mem *be)
{
    sigfuse_ctx *ctx = NULL;
    sigfuse_status st = sigfuse_ctx_create(&ctx, be->backend);
    cr_assert(st == SIGFUSE_SUCCESS && ctx, "%s context: %s: %s", be->name, sigfuse_status_string(st),
              sigfuse_last_create_error());
    return ctx;
}

static bool quick(void)
{
    const char *q = getenv("SIGFUSE_TEST_QUICK");
    return q && *q && strcmp(q, "0") != 0;
}

/* In quick mode, only the shapes whose index is in the mask run (bit i: index i). */
static bool shape_runs(size_t index, unsigned quick_mask)
{
    return !quick() || (quick_mask >> index) & 1u;
}

/* ---- Guarded device buffers ---------------------------------------------------------- */

#define GUARD 64
#define GUARD_BYTE 0x5A
#define POISON_BYTE 0xFF

typedef struct dev_buf {
    const backend_mem *be;
    void *h;
    size_t data_off, bytes, total;
    sigfuse_buffer desc;
} dev_buf;

/* n elements, `misalign` elements past a 16-byte boundary (GUARD keeps the allocation's
 * alignment), guards around them, the elements poisoned. */
static dev_buf dev_alloc(const backend_mem *be, sigfuse_dtype dtype, int64_t n, int misalign)
{
    dev_buf d;
    memset(&d, 0, sizeof d);
    d.be = be;
    size_t elem = sigfuse_dtype_size(dtype);
    d.data_off = GUARD + (size_t)misalign * elem;
    d.bytes = (size_t)n * elem;
    d.total = d.data_off + d.bytes + GUARD;
    d.h = be->alloc(d.total);
    cr_assert(d.h != NULL, "%s: out of device memory allocating %zu bytes", be->name, d.total);
    cr_assert(be->fill(d.h, 0, GUARD_BYTE, d.total) && be->fill(d.h, d.data_off, POISON_BYTE, d.bytes),
              "%s: fill failed", be->name);
    d.desc = be->view(d.h, d.data_off, dtype, misalign == 0);
    return d;
}

static void dev_free(dev_buf *d)
{
    if (d->h)
        d->be->release(d->h);
    d->h = NULL;
}

static void dev_upload(dev_buf *d, const tu_buf *src)
{
    const char *p = (const char *)src->desc.ptr + src->desc.offset;
    cr_assert(d->be->upload(d->h, d->data_off, p, src->bytes), "%s: upload failed", d->be->name);
}

static void dev_download(dev_buf *d, tu_buf *dst)
{
    char *p = (char *)dst->desc.ptr + dst->desc.offset;
    cr_assert(d->be->download(d->h, d->data_off, p, dst->bytes), "%s: download failed", d->be->name);
}

static bool dev_guards_ok(dev_buf *d)
{
    unsigned char front[GUARD + 16], back[GUARD];
    size_t nfront = d->data_off;
    cr_assert(nfront <= sizeof front);
    cr_assert(d->be->download(d->h, 0, front, nfront) && d->be->download(d->h, d->data_off + d->bytes, back, GUARD),
              "%s: download failed", d->be->name);
    for (size_t i = 0; i < nfront; i++)
        if (front[i] != GUARD_BYTE)
            return false;
    for (size_t i = 0; i < GUARD; i++)
        if (back[i] != GUARD_BYTE)
            return false;
    return true;
}

/* ====================================================================================
 * Accuracy, in ulps of the storage dtype against double truth (docs/design.md, Numerics)
 *
 * The reference runs on f64 copies of the very inputs the backend gets (already rounded
 * to the dtype), so its outputs are the truth in double. Each output element is held to
 *  - f32: |got - truth| <= 4 ulp_f32(m), m the magnitude at which the element's f32
 *    evaluation rounds: |truth| where it is well conditioned; the largest term where
 *    terms cancel (a BCE / focal gradient with soft or smoothed targets, silu' near its
 *    zero, GLU / SwiGLU db, a cell's c or h whose terms cancel); sum |terms| carried
 *    through |f'| where a sum is rounded before a function or many terms are summed (a
 *    cell's pre-activation gates_x + gates_h + bias, beta x when not exact in f32, loss
 *    sums, bias gradients, the head's products): 4 ulp times the condition number.
 *    ulp_f32 of a subnormal is 2^-149.
 *  - f16 / bf16: the rounding of an f32 value within that bound, +-1 ulp of the format.
 *  - inf and NaN exactly where the truth has them; u8 exactly (and 0 or 1 bytes);
 *    thresholded labels may differ only where sigma is within f32 error of the threshold.
 * m per element comes from testutil's tu_scale_* (one per op, mirroring its formula);
 * the worst element per op, dtype and output is logged at the end of each test.
 * ==================================================================================== */

static sigfuse_dtype host_dtype(sigfuse_dtype dt) { return dt == SIGFUSE_U8 ? SIGFUSE_U8 : SIGFUSE_F64; }

/* ====================================================================================
 * Cases: named slots of host (reference) and device buffers
 * ==================================================================================== */

enum { MAX_SLOTS = 14 };

typedef struct slot {
    const char *name;
    bool used, output;
    int alias;                 /* output: index of the input it shares memory with, else -1 */
    sigfuse_dtype dtype;
    int64_t n;
    tu_buf host;               /* input values (dtype), or the reference's output (f64: the truth) */
    tu_buf ref;                /* an input as the reference gets it (f64, or u8) */
    tu_buf got;                /* the backend's output */
    dev_buf dev;
    double *scale;             /* output: each element's magnitude m (NULL: |truth|) */
    bool describe;             /* output: element i reads element i of each same-sized input */
    const double *tie_prob;    /* labels: sigma of the logit, to excuse a tie at threshold */
    double tie_threshold, tie_eps;
} slot;

typedef struct tcase {
    char name[400];
    const backend_mem *be;
    sigfuse_ctx *cpu, *dev;
    int misalign;
    slot s[MAX_SLOTS];
    /* Scratch the op functions may allocate (head workspaces). */
    tu_buf ws_host;
    dev_buf ws_dev;
    bool has_ws_host, has_ws_dev;
    int64_t ws_chunk;
    size_t ws_offset;          /* byte offset of the device workspace view */
} tcase;

/* An op call: b[i] is slot i's descriptor or NULL; `device` says which context. */
typedef sigfuse_status (*op_fn)(tcase *tc, sigfuse_ctx *ctx, bool device, const void *opts,
                                const sigfuse_buffer *const *b);

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ull;   /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static void case_begin(tcase *tc, const backend_mem *be, sigfuse_ctx *cpu, sigfuse_ctx *dev, int misalign)
{
    memset(tc, 0, sizeof *tc);
    tc->be = be;
    tc->cpu = cpu;
    tc->dev = dev;
    tc->misalign = misalign;
    for (int i = 0; i < MAX_SLOTS; i++)
        tc->s[i].alias = -1;
}

static tu_rng case_rng(const tcase *tc) { return tu_rng_seed(hash_name(tc->name), tc->name); }

static tu_buf *case_input(tcase *tc, int i, const char *name, sigfuse_dtype dtype, int64_t n)
{
    slot *s = &tc->s[i];
    s->name = name;
    s->used = true;
    s->output = false;
    s->dtype = dtype;
    s->n = n;
    s->host = tu_alloc(dtype, n);
    return &s->host;
}

/* An output; returns its magnitudes, zeroed, for the case to fill. */
static double *case_output(tcase *tc, int i, const char *name, sigfuse_dtype dtype, int64_t n)
{
    slot *s = &tc->s[i];
    s->name = name;
    s->used = true;
    s->output = true;
    s->dtype = dtype;
    s->n = n;
    s->scale = calloc((size_t)(n > 0 ? n : 1), sizeof(double));
    cr_assert(s->scale);
    return s->scale;
}

static double in_at(const tcase *tc, int slot_index, int64_t i, double absent)
{
    return tc->s[slot_index].used ? tu_get(&tc->s[slot_index].host, i) : absent;
}

static void case_free(tcase *tc)
{
    for (int i = 0; i < MAX_SLOTS; i++) {
        slot *s = &tc->s[i];
        if (!s->used)
            continue;
        if (s->host.base)
            tu_free(&s->host);
        if (s->ref.base)
            tu_free(&s->ref);
        free(s->scale);
        s->scale = NULL;
        if (s->got.base)
            tu_free(&s->got);
        dev_free(&s->dev);
    }
    if (tc->has_ws_host)
        tu_free(&tc->ws_host);
    if (tc->has_ws_dev)
        dev_free(&tc->ws_dev);
    tc->has_ws_host = tc->has_ws_dev = false;
}

/* Compare one output in ulps (the rules above); labels exactly, but for ties. */
static void compare_slot(tcase *tc, slot *s)
{
    if (!s->tie_prob) {
        tu_inputs ins = {0};
        for (int k = 0; k < MAX_SLOTS && s->describe; k++)
            if (tc->s[k].used && !tc->s[k].output && tc->s[k].n == s->n)
                tu_inputs_add(&ins, tc->s[k].name, &tc->s[k].host, 0, 0, 0, 0);
        if (s->dtype == SIGFUSE_U8)
            for (int64_t i = 0; i < s->n; i++) {
                unsigned char raw = ((const unsigned char *)s->got.desc.ptr + s->got.desc.offset)[i];
                cr_expect(raw <= 1, "%s: %s[%lld] is byte %d, not 0 or 1", tc->name, s->name, (long long)i, raw);
            }
        tu_expect_ulp(tc->name, s->name, &s->got, &s->host, s->scale, ins.n ? tu_describe_inputs : NULL, &ins);
        return;
    }
    int64_t bad = 0;
    for (int64_t i = 0; i < s->n; i++) {
        double got = tu_get(&s->got, i), want = tu_get(&s->host, i);
        bool ok = got == want;
        if (s->dtype == SIGFUSE_U8) {
            unsigned char raw = ((const unsigned char *)s->got.desc.ptr + s->got.desc.offset)[i];
            ok = ok && raw <= 1;
        }
        if (!ok && fabs(s->tie_prob[i] - s->tie_threshold) <= s->tie_eps)
            ok = true;   /* sigma(x) within rounding of the threshold: either label is right */
        if (!ok) {
            if (bad < 5)
                cr_expect_fail("%s: %s[%lld] = %.9g, truth %.9g (sigma %.9g, threshold %g)", tc->name, s->name,
                               (long long)i, got, want, s->tie_prob[i], s->tie_threshold);
            bad++;
        }
    }
    if (bad > 5)
        cr_expect_fail("%s: %s: %lld of %lld elements differ", tc->name, s->name, (long long)bad, (long long)s->n);
}

/* Run the op on the reference and on the backend, then compare every output. */
static void case_run(tcase *tc, op_fn fn, const void *opts)
{
    const sigfuse_buffer *hb[MAX_SLOTS] = {0}, *db[MAX_SLOTS] = {0};

    /* Reference, on host memory in f64 (the truth). An aliased output starts as a copy of
     * its input, and the op sees that one buffer in both places (in-place use). */
    for (int i = 0; i < MAX_SLOTS; i++) {
        slot *s = &tc->s[i];
        if (s->used && !s->output)
            s->ref = tu_copy_as(&s->host, host_dtype(s->dtype));
    }
    for (int i = 0; i < MAX_SLOTS; i++) {
        slot *s = &tc->s[i];
        if (!s->used)
            continue;
        if (!s->output) {
            hb[i] = &s->ref.desc;
        } else if (s->alias >= 0) {
            s->host = tu_copy_as(&tc->s[s->alias].ref, host_dtype(s->dtype));
            hb[i] = hb[s->alias] = &s->host.desc;
        } else {
            s->host = tu_alloc(host_dtype(s->dtype), s->n);
            hb[i] = &s->host.desc;
        }
    }
    for (int i = 0; i < MAX_SLOTS; i++)   /* aliases override their inputs */
        if (tc->s[i].used && tc->s[i].output && tc->s[i].alias >= 0)
            hb[tc->s[i].alias] = &tc->s[i].host.desc;
    sigfuse_status st = fn(tc, tc->cpu, false, opts, hb);
    cr_assert(st == SIGFUSE_SUCCESS, "%s: the cpu reference failed: %s: %s", tc->name, sigfuse_status_string(st),
              sigfuse_ctx_last_error(tc->cpu));

    /* Backend, on its memory. */
    for (int i = 0; i < MAX_SLOTS; i++) {
        slot *s = &tc->s[i];
        if (!s->used)
            continue;
        if (!s->output) {
            bool aliased = false;
            for (int o = 0; o < MAX_SLOTS; o++)
                aliased |= tc->s[o].used && tc->s[o].output && tc->s[o].alias == i;
            if (aliased)
                continue;
            s->dev = dev_alloc(tc->be, s->dtype, s->n, tc->misalign);
            dev_upload(&s->dev, &s->host);
            db[i] = &s->dev.desc;
        } else {
            s->dev = dev_alloc(tc->be, s->dtype, s->n, tc->misalign);
            if (s->alias >= 0) {
                dev_upload(&s->dev, &tc->s[s->alias].host);
                db[s->alias] = &s->dev.desc;
            }
            db[i] = &s->dev.desc;
        }
    }
    st = fn(tc, tc->dev, true, opts, db);
    cr_assert(st == SIGFUSE_SUCCESS, "%s: %s", tc->name, sigfuse_ctx_last_error(tc->dev));
    st = sigfuse_ctx_synchronize(tc->dev);
    cr_assert(st == SIGFUSE_SUCCESS, "%s: synchronize: %s", tc->name, sigfuse_ctx_last_error(tc->dev));

    for (int i = 0; i < MAX_SLOTS; i++) {
        slot *s = &tc->s[i];
        if (!s->used || !s->output)
            continue;
        s->got = tu_alloc(s->dtype, s->n);
        dev_download(&s->dev, &s->got);
        cr_expect(dev_guards_ok(&s->dev), "%s: %s: a guard byte around the output was overwritten", tc->name,
                  s->name);
        compare_slot(tc, s);
    }
    if (tc->has_ws_dev)
        cr_expect(dev_guards_ok(&tc->ws_dev), "%s: a guard byte around the workspace was overwritten", tc->name);
}

/* Slot i's device output as downloaded after case_run, for reruns. */
static void download_again(tcase *tc, int i, tu_buf *dst)
{
    *dst = tu_alloc(tc->s[i].dtype, tc->s[i].n);
    dev_download(&tc->s[i].dev, dst);
}

static bool same_bytes(const tu_buf *a, const tu_buf *b)
{
    return a->bytes == b->bytes && memcmp((const char *)a->desc.ptr + a->desc.offset,
                                          (const char *)b->desc.ptr + b->desc.offset, a->bytes) == 0;
}

/* Run the backend again on the same device buffers; the listed outputs must come out
 * bitwise the same (deterministic reductions). */
static void case_rerun_bitwise(tcase *tc, op_fn fn, const void *opts, const int *outs, int nouts)
{
    const sigfuse_buffer *db[MAX_SLOTS] = {0};
    for (int i = 0; i < MAX_SLOTS; i++)
        if (tc->s[i].used && tc->s[i].dev.h)
            db[i] = &tc->s[i].dev.desc;
    for (int i = 0; i < MAX_SLOTS; i++)
        if (tc->s[i].used && tc->s[i].output && tc->s[i].alias >= 0)
            return;   /* in place: a rerun would start from other inputs */
    tu_buf first[MAX_SLOTS];
    for (int k = 0; k < nouts; k++)
        download_again(tc, outs[k], &first[k]);
    for (int k = 0; k < nouts; k++)
        cr_assert(tc->be->fill(tc->s[outs[k]].dev.h, tc->s[outs[k]].dev.data_off, POISON_BYTE,
                               tc->s[outs[k]].dev.bytes));
    sigfuse_status st = fn(tc, tc->dev, true, opts, db);
    cr_assert(st == SIGFUSE_SUCCESS, "%s (rerun): %s", tc->name, sigfuse_ctx_last_error(tc->dev));
    cr_assert(sigfuse_ctx_synchronize(tc->dev) == SIGFUSE_SUCCESS);
    for (int k = 0; k < nouts; k++) {
        tu_buf again;
        download_again(tc, outs[k], &again);
        cr_expect(same_bytes(&first[k], &again), "%s: %s differs bitwise between two runs", tc->name,
                  tc->s[outs[k]].name);
        tu_free(&again);
        tu_free(&first[k]);
    }
}

/* ---- Inputs --------------------------------------------------------------------------- */

/* The values that break naive formulas: infinities, NaN, saturating and overflowing
 * logits (e^88.7 is near FLT_MAX), zeros of both signs, an f32 subnormal. */
static const double extremes[] = {INFINITY, -INFINITY, NAN,  1e4,   -1e4,  88.7,  -88.7,  0.0,  -0.0, 1e-40,
                                  20.0,     -20.0,     17.3, -103.5, 15.0,  -15.0, 17.0,   -17.0, 30.0, -30.0,
                                  87.0,     -87.0,     90.0, -90.0,  100.0, -100.0, 104.0, -104.0, 110.0, -110.0};
#define N_EXTREMES ((int)(sizeof extremes / sizeof extremes[0]))

static void put_extremes(tu_buf *b)
{
    if (b->n == 0)
        return;
    for (int j = 0; j < N_EXTREMES; j++)
        tu_set(b, (int64_t)(((uint64_t)j * 977u + 3u) % (uint64_t)b->n), extremes[j]);
}

static const char *dt_name(sigfuse_dtype d) { return sigfuse_dtype_name(d); }

static const int64_t ew_sizes[] = {0, 1, 7, 1023, 4097};
#define BIG_N ((int64_t)(1 << 20) + 3)

/* ====================================================================================
 * Elementwise ops (activations, GLU, SwiGLU)
 * ==================================================================================== */

typedef struct ew_opts {
    sf_op op;
    int64_t n;
    float beta;
    bool da, db;   /* glu / swiglu backward: which outputs */
} ew_opts;

/* Slots: 0..2 inputs in sf_ew_call order, 3..4 outputs. */
static sigfuse_status ew_call(tcase *tc, sigfuse_ctx *ctx, bool device, const void *opts,
                              const sigfuse_buffer *const *b)
{
    (void)tc, (void)device;
    const ew_opts *o = (const ew_opts *)opts;
    switch (o->op) {
    case SF_OP_sigmoid_forward: return sigfuse_sigmoid_forward(ctx, o->n, b[0], b[3]);
    case SF_OP_sigmoid_backward: return sigfuse_sigmoid_backward(ctx, o->n, b[0], b[1], b[3]);
    case SF_OP_log_sigmoid_forward: return sigfuse_log_sigmoid_forward(ctx, o->n, b[0], b[3]);
    case SF_OP_log_sigmoid_backward: return sigfuse_log_sigmoid_backward(ctx, o->n, b[0], b[1], b[3]);
    case SF_OP_silu_forward: return sigfuse_silu_forward(ctx, o->n, o->beta, b[0], b[3]);
    case SF_OP_silu_backward: return sigfuse_silu_backward(ctx, o->n, o->beta, b[0], b[1], b[3]);
    case SF_OP_glu_forward: return sigfuse_glu_forward(ctx, o->n, b[0], b[1], b[3]);
    case SF_OP_glu_backward: return sigfuse_glu_backward(ctx, o->n, b[0], b[1], b[2], b[3], b[4]);
    case SF_OP_swiglu_forward: return sigfuse_swiglu_forward(ctx, o->n, o->beta, b[0], b[1], b[3]);
    case SF_OP_swiglu_backward: return sigfuse_swiglu_backward(ctx, o->n, o->beta, b[0], b[1], b[2], b[3], b[4]);
    default: return SIGFUSE_ERR_INVALID_ARGUMENT;
    }
}

static int ew_inputs(sf_op op)
{
    switch (op) {
    case SF_OP_sigmoid_forward:
    case SF_OP_log_sigmoid_forward:
    case SF_OP_silu_forward: return 1;
    case SF_OP_glu_backward:
    case SF_OP_swiglu_backward: return 3;
    default: return 2;
    }
}

static bool ew_has_beta(sf_op op)
{
    return op == SF_OP_silu_forward || op == SF_OP_silu_backward || op == SF_OP_swiglu_forward || op == SF_OP_swiglu_backward;
}

static bool ew_two_outputs(sf_op op) { return op == SF_OP_glu_backward || op == SF_OP_swiglu_backward; }

/* in_place: output 0 aliases the input it replaces (x for forward, dy for backward). */
static void ew_case(const backend_mem *be, sigfuse_ctx *cpu, sigfuse_ctx *dev, sf_op op, sigfuse_dtype dt,
                    int64_t n, int misalign, float beta, bool da, bool db, bool in_place, bool rerun)
{
    static const char *const in_names[SF_OP_COUNT][3] = {
        {"x"}, {"y", "dy"}, {"x"}, {"x", "dy"}, {"x"}, {"x", "dy"},
        {"a", "b"}, {"a", "b", "dy"}, {"a", "b"}, {"a", "b", "dy"},
    };
    tcase tc;
    case_begin(&tc, be, cpu, dev, misalign);
    char beta_s[32] = "";
    if (ew_has_beta(op))
        snprintf(beta_s, sizeof beta_s, ",beta=%g", (double)beta);
    snprintf(tc.name, sizeof tc.name, "%s(backend=%s,dtype=%s,n=%lld%s%s%s,view=%s)", sf_op_name(op), be->name,
             dt_name(dt), (long long)n, beta_s,
             ew_two_outputs(op) ? (da && db ? ",out=da+db" : da ? ",out=da" : ",out=db") : "",
             in_place ? ",in_place" : "", misalign ? "+1" : "aligned");
    tu_rng rng = case_rng(&tc);
    const int nin = ew_inputs(op);
    for (int i = 0; i < nin; i++) {
        tu_buf *b = case_input(&tc, i, in_names[op][i], dt, n);
        const char *nm = in_names[op][i];
        if (op == SF_OP_sigmoid_backward && i == 0) {
            tu_fill_uniform(b, &rng, 0.0, 1.0);   /* a saved sigmoid output */
            static const double ys[] = {0.0, 1.0, NAN, 0.5, 1e-30};
            for (int k = 0; k < 5 && k < n; k++)
                tu_set(b, (k * 131 + 1) % n, ys[k]);
        } else if (strcmp(nm, "dy") == 0) {
            tu_fill_uniform(b, &rng, -1.0, 1.0);
        } else if (strcmp(nm, "a") == 0) {
            tu_fill_uniform(b, &rng, -2.0, 2.0);
        } else {
            tu_fill_uniform(b, &rng, -8.0, 8.0);
            /* x, or b: the argument of the sigmoid; a stretch in [-110, -80] puts x sigma(x)
             * and its derivative in the f32 subnormal range. */
            for (int64_t k = n / 2; k < n && k < n / 2 + 64; k++)
                tu_set(b, k, tu_uniform(&rng, -110.0, -80.0));
            put_extremes(b);
        }
    }
    double *m0 = NULL, *m1 = NULL;
    if (ew_two_outputs(op)) {
        if (da)
            m0 = case_output(&tc, 3, "da", dt, n);
        if (db)
            m1 = case_output(&tc, 4, "db", dt, n);
    } else {
        m0 = case_output(&tc, 3, op == SF_OP_sigmoid_forward || op == SF_OP_log_sigmoid_forward || op == SF_OP_silu_forward ||
                                         op == SF_OP_glu_forward || op == SF_OP_swiglu_forward
                                     ? "y"
                                     : "dx",
                         dt, n);
    }
    for (int64_t i = 0; i < n; i++) {
        double v[3] = {in_at(&tc, 0, i, 0.0), in_at(&tc, 1, i, 0.0), in_at(&tc, 2, i, 0.0)};
        if (m0)
            m0[i] = tu_scale_ew((int)op, (double)beta, v, 0);
        if (m1)
            m1[i] = tu_scale_ew((int)op, (double)beta, v, 1);
    }
    tc.s[3].describe = tc.s[4].describe = true;
    if (in_place) {
        bool fwd = nin == 1 || op == SF_OP_glu_forward || op == SF_OP_swiglu_forward;
        tc.s[ew_two_outputs(op) && !da ? 4 : 3].alias = fwd ? 0 : nin - 1;
    }
    ew_opts o = {op, n, beta, da, db};
    case_run(&tc, ew_call, &o);
    if (rerun) {
        int outs[2], k = 0;
        if (!ew_two_outputs(op) || da)
            outs[k++] = 3;
        if (ew_two_outputs(op) && db)
            outs[k++] = 4;
        case_rerun_bitwise(&tc, ew_call, &o, outs, k);
    }
    case_free(&tc);
}

static void ew_tests(const backend_mem *be, int which, sigfuse_dtype dt)
{
    const sf_op op = (sf_op)which;
    char test[128];
    snprintf(test, sizeof test, "%s_%s_%s", sf_op_name(op), be->name, dt_name(dt));
    need_backend(be, test);
    sigfuse_ctx *cpu = tu_cpu_ctx(), *dev = backend_ctx(be);
    const float betas[] = {1.0f, 0.0f, 1.702f, -0.5f};
    const int nbeta = ew_has_beta(op) ? 4 : 1;
    const int nout = ew_two_outputs(op) ? 3 : 1;
    for (size_t si = 0; si < sizeof ew_sizes / sizeof ew_sizes[0]; si++)
        for (int mis = 0; mis < 2 && shape_runs(si, 0x0bu /* 0, 1, 1023 */); mis++)
            for (int bi = 0; bi < nbeta; bi++)
                for (int oi = 0; oi < nout; oi++) {
                    bool da = oi != 2, db = oi != 1;
                    ew_case(be, cpu, dev, op, dt, ew_sizes[si], mis, betas[bi], da, db, false, false);
                }
    /* In place, both views. */
    for (int mis = 0; mis < 2; mis++)
        ew_case(be, cpu, dev, op, dt, 1023, mis, 1.0f, true, true, true, false);
    /* The large size for a few ops (the vector path over many grid-stride passes). */
    if (!quick() && (op == SF_OP_sigmoid_forward || op == SF_OP_silu_backward || op == SF_OP_glu_backward ||
                     op == SF_OP_swiglu_forward))
        for (int mis = 0; mis < 2; mis++)
            ew_case(be, cpu, dev, op, dt, BIG_N, mis, 1.0f, true, true, false, mis == 0);
    sigfuse_ctx_destroy(dev);
    sigfuse_ctx_destroy(cpu);
    tu_ulp_report();   /* the worst element per op, dtype and output of this test */
}

/* ====================================================================================
 * Losses: BCE with logits and sigmoid focal
 * ==================================================================================== */

typedef struct shape2 {
    int64_t rows, cols;
} shape2;

/* {9, 64}: cols a multiple of every vector width, where the CUDA kernels read pos_weight a
 * vector at a time. */
static const shape2 loss_shapes[] = {{0, 5}, {3, 0}, {1, 1}, {1, 7}, {7, 1}, {31, 33}, {17, 241}, {4097, 1}, {9, 64}};

static const char *red_name(sigfuse_reduction r)
{
    return r == SIGFUSE_REDUCTION_NONE ? "none" : r == SIGFUSE_REDUCTION_SUM ? "sum" : "mean";
}

/* Slots shared by both losses. */
enum { L_X, L_Y, L_W, L_PW, L_DL, L_LOSS, L_DX, L_PROBS, L_LABELS };

/* T_MIXED: binary with every 11th target soft, so that some vectors of a CUDA kernel are
 * all 0 or 1 (focal's hard-target form) and others are not. */
typedef enum targets_kind { T_BINARY, T_SOFT, T_U8, T_MIXED } targets_kind;
static const char *targets_name(targets_kind k)
{
    return k == T_BINARY ? "binary" : k == T_SOFT ? "soft" : k == T_U8 ? "u8" : "mixed";
}

typedef struct bce_set {
    targets_kind targets;
    bool weight, pos_weight, dloss;
    float eps, grad_scale, threshold;
    bool loss, dlogits, probs, labels, labels_u8;
    bool extremes;
} bce_set;

/* Each option set runs with each reduction: together they give every option (weight,
 * pos_weight, smoothing, upstream gradient, grad_scale, threshold, each output alone and
 * together, u8 and float targets and labels) and the limits at extreme logits. */
static const bce_set bce_sets[] = {
    /* targets  w      pw     dl     eps   gs    thr   loss   dx     probs  labels u8lab  ext */
    {T_BINARY, false, false, false, 0.0f, 1.0f, 0.5f, true, true, true, true, true, false},
    {T_SOFT, true, true, true, 0.1f, 0.5f, 0.3f, true, true, true, true, false, false},
    {T_U8, false, true, true, 0.0f, 2.0f, 0.5f, true, true, false, false, false, false},
    {T_SOFT, true, false, false, 0.2f, 1.0f, 0.5f, true, false, false, false, false, false},
    {T_U8, true, true, false, 0.0f, 1.0f, 0.7f, false, true, true, true, true, false},
    {T_BINARY, true, true, true, 0.05f, 1.0f, 0.5f, true, true, true, true, false, true},
    {T_U8, false, false, false, 0.0f, 1.0f, 0.5f, true, true, false, false, false, true},
    /* the CUDA specialised sets with extremes: training with pos_weight (float and u8
     * targets), with a weight, and the reduced loss alone */
    {T_BINARY, false, true, false, 0.0f, 1.0f, 0.5f, true, true, false, false, false, true},
    {T_U8, false, true, false, 0.0f, 1.0f, 0.5f, true, true, false, false, false, true},
    {T_U8, true, false, false, 0.0f, 1.0f, 0.5f, true, true, false, false, false, true},
    {T_SOFT, false, false, false, 0.0f, 1.0f, 0.5f, true, false, false, false, false, true},
    {T_U8, false, false, false, 0.0f, 1.0f, 0.5f, true, false, false, false, false, true},
    /* training with pos_weight and soft targets (sf_bce_pw_*), with extremes */
    {T_SOFT, false, true, false, 0.0f, 1.0f, 0.5f, true, true, false, false, false, true},
};

typedef struct loss_opts {
    int64_t rows, cols;
    sigfuse_reduction red;
    float eps, grad_scale, threshold;
    float alpha, gamma;   /* focal */
} loss_opts;

static sigfuse_status bce_call(tcase *tc, sigfuse_ctx *ctx, bool device, const void *opts,
                               const sigfuse_buffer *const *b)
{
    (void)tc, (void)device;
    const loss_opts *o = (const loss_opts *)opts;
    sigfuse_bce_args a;
    sigfuse_bce_args_init(&a);
    a.rows = o->rows;
    a.cols = o->cols;
    a.reduction = o->red;
    a.label_smoothing = o->eps;
    a.grad_scale = o->grad_scale;
    a.threshold = o->threshold;
    a.logits = b[L_X];
    a.targets = b[L_Y];
    a.weight = b[L_W];
    a.pos_weight = b[L_PW];
    a.dloss_in = b[L_DL];
    a.loss = b[L_LOSS];
    a.dlogits = b[L_DX];
    a.probs = b[L_PROBS];
    a.labels = b[L_LABELS];
    return sigfuse_bce_with_logits(ctx, &a);
}

static sigfuse_status focal_call(tcase *tc, sigfuse_ctx *ctx, bool device, const void *opts,
                                 const sigfuse_buffer *const *b)
{
    (void)tc, (void)device;
    const loss_opts *o = (const loss_opts *)opts;
    sigfuse_focal_args a;
    sigfuse_focal_args_init(&a);
    a.rows = o->rows;
    a.cols = o->cols;
    a.reduction = o->red;
    a.alpha = o->alpha;
    a.gamma = o->gamma;
    a.grad_scale = o->grad_scale;
    a.logits = b[L_X];
    a.targets = b[L_Y];
    a.dloss_in = b[L_DL];
    a.loss = b[L_LOSS];
    a.dlogits = b[L_DX];
    return sigfuse_sigmoid_focal(ctx, &a);
}

static double sigmoid_d(double x)
{
    if (x >= 0.0)
        return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

/* Inputs common to both losses: logits (extremes optional), targets, dloss_in. */
static void loss_inputs(tcase *tc, tu_rng *rng, sigfuse_dtype dt, int64_t rows, int64_t cols, targets_kind tk,
                        bool extremes_in, bool dloss, sigfuse_reduction red)
{
    const int64_t n = rows * cols;
    tu_buf *x = case_input(tc, L_X, "logits", dt, n);
    tu_fill_uniform(x, rng, -8.0, 8.0);
    if (extremes_in)
        put_extremes(x);
    tu_buf *y = case_input(tc, L_Y, "targets", tk == T_U8 ? SIGFUSE_U8 : dt, n);
    if (tk == T_SOFT) {
        tu_fill_uniform(y, rng, 0.0, 1.0);
    } else {
        tu_fill_binary(y, rng);
        for (int64_t i = 5; tk == T_MIXED && i < n; i += 11)
            tu_set(y, i, 0.3);
    }
    if (dloss) {
        if (red == SIGFUSE_REDUCTION_NONE) {
            tu_fill_uniform(case_input(tc, L_DL, "dloss_in", dt, n), rng, -1.0, 1.0);
        } else {
            tu_buf *dl = case_input(tc, L_DL, "dloss_in", SIGFUSE_F32, 1);
            tu_set(dl, 0, 0.75);
        }
    }
}

/* sigma(logit) per element, for excusing label ties at the threshold. */
static double *tie_probs(const tu_buf *x)
{
    double *p = (double *)malloc(sizeof(double) * (size_t)(x->n > 0 ? x->n : 1));
    cr_assert(p);
    for (int64_t i = 0; i < x->n; i++)
        p[i] = sigmoid_d(tu_get(x, i));
    return p;
}

/* The factor a loss gradient carries: grad_scale, the upstream gradient (its element, or
 * the scalar of a reduced loss), 1/n for MEAN. */
static double loss_grad_factor(const tcase *tc, double grad_scale, int64_t i, int64_t n, sigfuse_reduction red)
{
    double f = grad_scale;
    if (tc->s[L_DL].used)
        f *= tu_get(&tc->s[L_DL].host, red == SIGFUSE_REDUCTION_NONE ? i : 0);
    if (red == SIGFUSE_REDUCTION_MEAN && n > 0)
        f /= (double)n;
    return fabs(f);
}

/* The loss and dlogits outputs with their magnitudes: elementwise as they are; a reduced
 * loss (one f32) at the sum of its terms' magnitudes (4 ulp times the sum's condition
 * number, 1 for terms >= 0), divided by n for MEAN. */
static void loss_outputs(tcase *tc, sigfuse_dtype dt, int64_t n, sigfuse_reduction red, bool loss, bool dlogits,
                         const double *lm, const double *gm)
{
    if (loss) {
        if (red == SIGFUSE_REDUCTION_NONE) {
            memcpy(case_output(tc, L_LOSS, "loss", dt, n), lm, sizeof(double) * (size_t)n);
            tc->s[L_LOSS].describe = true;
        } else {
            double *m = case_output(tc, L_LOSS, "loss", SIGFUSE_F32, 1);
            for (int64_t i = 0; i < n; i++)
                m[0] += lm[i];
            if (red == SIGFUSE_REDUCTION_MEAN && n > 0)
                m[0] /= (double)n;
        }
    }
    if (dlogits) {
        memcpy(case_output(tc, L_DX, "dlogits", dt, n), gm, sizeof(double) * (size_t)n);
        tc->s[L_DX].describe = true;
    }
}

static void bce_case(const backend_mem *be, sigfuse_ctx *cpu, sigfuse_ctx *dev, sigfuse_dtype dt, shape2 sh,
                     sigfuse_reduction red, const bce_set *o, int misalign, bool rerun)
{
    tcase tc;
    case_begin(&tc, be, cpu, dev, misalign);
    snprintf(tc.name, sizeof tc.name,
             "bce_with_logits(backend=%s,dtype=%s,shape=[%lld,%lld],red=%s,targets=%s%s%s%s,eps=%g,grad_scale=%g,"
             "threshold=%g,out=%s%s%s%s%s,view=%s)",
             be->name, dt_name(dt), (long long)sh.rows, (long long)sh.cols, red_name(red), targets_name(o->targets),
             o->weight ? ",weight" : "", o->pos_weight ? ",pos_weight" : "", o->dloss ? ",dloss_in" : "",
             (double)o->eps, (double)o->grad_scale, (double)o->threshold, o->loss ? "loss" : "",
             o->dlogits ? "+dlogits" : "", o->probs ? "+probs" : "",
             o->labels ? (o->labels_u8 ? "+labels_u8" : "+labels") : "", o->extremes ? ",extremes" : "",
             misalign ? "+1" : "aligned");
    tu_rng rng = case_rng(&tc);
    const int64_t n = sh.rows * sh.cols;
    loss_inputs(&tc, &rng, dt, sh.rows, sh.cols, o->targets, o->extremes, o->dloss, red);
    double wmax = 1.0, pmax = 1.0;
    if (o->weight) {
        tu_buf *w = case_input(&tc, L_W, "weight", dt, n);
        tu_fill_uniform(w, &rng, 0.0, 2.0);
        for (int64_t i = 0; i < n; i += 5)
            tu_set(w, i, 0.0);   /* w = 0 meets infinite logits: the loss is 0, not NaN */
        wmax = 2.0;
    }
    if (o->pos_weight) {
        tu_fill_uniform(case_input(&tc, L_PW, "pos_weight", dt, sh.cols), &rng, 0.5, 3.0);
        pmax = 3.0;
    }
    (void)wmax, (void)pmax;
    double *lm = calloc((size_t)(n > 0 ? n : 1), sizeof(double)), *gm = calloc((size_t)(n > 0 ? n : 1), sizeof(double));
    cr_assert(lm && gm);
    for (int64_t i = 0; i < n; i++) {
        tu_scale_bce(in_at(&tc, L_X, i, 0.0), in_at(&tc, L_Y, i, 0.0), in_at(&tc, L_W, i, 1.0),
                     tc.s[L_PW].used ? tu_get(&tc.s[L_PW].host, i % sh.cols) : 1.0, (double)o->eps, &lm[i], &gm[i]);
        gm[i] *= loss_grad_factor(&tc, (double)o->grad_scale, i, n, red);
    }
    loss_outputs(&tc, dt, n, red, o->loss, o->dlogits, lm, gm);
    free(lm);
    free(gm);
    if (o->probs)
        case_output(&tc, L_PROBS, "probs", dt, n);
    tc.s[L_PROBS].describe = true;
    double *ties = NULL;
    if (o->labels) {
        case_output(&tc, L_LABELS, "labels", o->labels_u8 ? SIGFUSE_U8 : dt, n);
        ties = tie_probs(&tc.s[L_X].host);
        tc.s[L_LABELS].tie_prob = ties;
        tc.s[L_LABELS].tie_threshold = o->threshold;
        tc.s[L_LABELS].tie_eps = 8.0 * tu_ulp32(o->threshold);   /* f32 sigma vs the double one */
    }
    loss_opts lo = {sh.rows, sh.cols, red, o->eps, o->grad_scale, o->threshold, 0.0f, 0.0f};
    case_run(&tc, bce_call, &lo);
    if (rerun) {
        int outs[4], k = 0;
        if (o->loss)
            outs[k++] = L_LOSS;
        if (o->dlogits)
            outs[k++] = L_DX;
        case_rerun_bitwise(&tc, bce_call, &lo, outs, k);
    }
    case_free(&tc);
    free(ties);
}

static void bce_tests(const backend_mem *be, int unused, sigfuse_dtype dt)
{
    (void)unused;
    char test[128];
    snprintf(test, sizeof test, "bce_with_logits_%s_%s", be->name, dt_name(dt));
    need_backend(be, test);
    sigfuse_ctx *cpu = tu_cpu_ctx(), *dev = backend_ctx(be);
    const sigfuse_reduction reds[] = {SIGFUSE_REDUCTION_NONE, SIGFUSE_REDUCTION_SUM, SIGFUSE_REDUCTION_MEAN};
    for (size_t si = 0; si < sizeof loss_shapes / sizeof loss_shapes[0]; si++)
        for (int ri = 0; ri < 3 && shape_runs(si, 0x129u /* [0,5] [1,7] [31,33] [9,64] */); ri++)
            for (size_t oi = 0; oi < sizeof bce_sets / sizeof bce_sets[0]; oi++)
                for (int mis = 0; mis < 2; mis++)
                    bce_case(be, cpu, dev, dt, loss_shapes[si], reds[ri], &bce_sets[oi], mis, false);
    if (!quick()) {
        /* Large: many grid-stride passes, the column walk of pos_weight over wide rows, and
         * a bitwise-equal second run of the reduced loss. */
        const shape2 big[] = {{1, BIG_N}, {1021, 1027}};
        for (int b = 0; b < 2; b++)
            for (int ri = 1; ri < 3; ri++)
                bce_case(be, cpu, dev, dt, big[b], reds[ri], &bce_sets[1], b, true);
        bce_case(be, cpu, dev, dt, big[1], SIGFUSE_REDUCTION_NONE, &bce_sets[4], 0, false);
    }
    sigfuse_ctx_destroy(dev);
    sigfuse_ctx_destroy(cpu);
    tu_ulp_report();   /* the worst element per op, dtype and output of this test */
}

typedef struct focal_set {
    targets_kind targets;
    float alpha, gamma, grad_scale;
    bool dloss, loss, dlogits, extremes;
} focal_set;

static const focal_set focal_sets[] = {
    /* targets  alpha  gamma  gs    dl     loss   dx     ext */
    {T_BINARY, 0.25f, 2.0f, 1.0f, false, true, true, false},
    {T_SOFT, -1.0f, 0.0f, 0.5f, true, true, true, false},
    {T_U8, 0.5f, 4.5f, 1.0f, true, true, true, false},
    {T_SOFT, 0.75f, 1.5f, 2.0f, false, false, true, false},
    {T_BINARY, 0.25f, 2.0f, 1.0f, false, true, false, false},
    {T_U8, 0.25f, 5.0f, 1.0f, false, true, true, true},
    {T_SOFT, -1.0f, 2.0f, 1.0f, true, true, true, true},
    {T_BINARY, -1.0f, 0.0f, 1.0f, false, true, true, true},   /* the saturated hard-target gradient */
    {T_BINARY, 0.25f, 1.0f, 1.0f, false, true, true, true},
    {T_U8, -1.0f, 0.5f, 1.0f, false, true, true, true},
    {T_SOFT, 0.25f, 5.0f, 1.0f, false, true, true, true},
    /* gamma 2: the CUDA training and gradient kernels, hard and mixed targets */
    {T_MIXED, 0.25f, 2.0f, 1.0f, false, true, true, true},
    {T_MIXED, -1.0f, 2.0f, 1.0f, false, false, true, false},
    {T_BINARY, 0.25f, 2.0f, 1.0f, false, false, true, true},
    {T_U8, 0.25f, 2.0f, 1.0f, false, false, true, true},
    {T_U8, 0.75f, 2.0f, 1.0f, false, true, true, true},
    /* gamma 2 with soft targets (sf_focal2_*: no division), training and the gradient
     * alone; the u8 gradient alone without alpha and scaled (16 bits: sf_focal2_hard_grad16) */
    {T_SOFT, 0.25f, 2.0f, 1.0f, false, true, true, true},
    {T_SOFT, 0.25f, 2.0f, 0.5f, false, false, true, true},
    {T_U8, -1.0f, 2.0f, 2.0f, false, false, true, true},
};

static void focal_case(const backend_mem *be, sigfuse_ctx *cpu, sigfuse_ctx *dev, sigfuse_dtype dt, shape2 sh,
                       sigfuse_reduction red, const focal_set *o, int misalign, bool rerun)
{
    tcase tc;
    case_begin(&tc, be, cpu, dev, misalign);
    snprintf(tc.name, sizeof tc.name,
             "sigmoid_focal(backend=%s,dtype=%s,shape=[%lld,%lld],red=%s,targets=%s,alpha=%g,gamma=%g,"
             "grad_scale=%g%s,out=%s%s%s,view=%s)",
             be->name, dt_name(dt), (long long)sh.rows, (long long)sh.cols, red_name(red), targets_name(o->targets),
             (double)o->alpha, (double)o->gamma, (double)o->grad_scale, o->dloss ? ",dloss_in" : "",
             o->loss ? "loss" : "", o->dlogits ? "+dlogits" : "", o->extremes ? ",extremes" : "",
             misalign ? "+1" : "aligned");
    tu_rng rng = case_rng(&tc);
    const int64_t n = sh.rows * sh.cols;
    loss_inputs(&tc, &rng, dt, sh.rows, sh.cols, o->targets, o->extremes, o->dloss, red);
    double *lm = calloc((size_t)(n > 0 ? n : 1), sizeof(double)), *gm = calloc((size_t)(n > 0 ? n : 1), sizeof(double));
    cr_assert(lm && gm);
    for (int64_t i = 0; i < n; i++) {
        tu_scale_focal(in_at(&tc, L_X, i, 0.0), in_at(&tc, L_Y, i, 0.0), (double)o->alpha, (double)o->gamma, &lm[i],
                       &gm[i]);
        gm[i] *= loss_grad_factor(&tc, (double)o->grad_scale, i, n, red);
    }
    loss_outputs(&tc, dt, n, red, o->loss, o->dlogits, lm, gm);
    free(lm);
    free(gm);
    loss_opts lo = {sh.rows, sh.cols, red, 0.0f, o->grad_scale, 0.5f, o->alpha, o->gamma};
    case_run(&tc, focal_call, &lo);
    if (rerun) {
        int outs[2], k = 0;
        if (o->loss)
            outs[k++] = L_LOSS;
        if (o->dlogits)
            outs[k++] = L_DX;
        case_rerun_bitwise(&tc, focal_call, &lo, outs, k);
    }
    case_free(&tc);
}

static void focal_tests(const backend_mem *be, int unused, sigfuse_dtype dt)
{
    (void)unused;
    char test[128];
    snprintf(test, sizeof test, "sigmoid_focal_%s_%s", be->name, dt_name(dt));
    need_backend(be, test);
    sigfuse_ctx *cpu = tu_cpu_ctx(), *dev = backend_ctx(be);
    const sigfuse_reduction reds[] = {SIGFUSE_REDUCTION_NONE, SIGFUSE_REDUCTION_SUM, SIGFUSE_REDUCTION_MEAN};
    for (size_t si = 0; si < sizeof loss_shapes / sizeof loss_shapes[0]; si++)
        for (int ri = 0; ri < 3 && shape_runs(si, 0x129u /* [0,5] [1,7] [31,33] [9,64] */); ri++)
            for (size_t oi = 0; oi < sizeof focal_sets / sizeof focal_sets[0]; oi++)
                for (int mis = 0; mis < 2; mis++)
                    focal_case(be, cpu, dev, dt, loss_shapes[si], reds[ri], &focal_sets[oi], mis, false);
    if (!quick())
        for (int ri = 1; ri < 3; ri++)
            focal_case(be, cpu, dev, dt, (shape2){1021, 1027}, reds[ri], &focal_sets[0], ri - 1, true);
    sigfuse_ctx_destroy(dev);
    sigfuse_ctx_destroy(cpu);
    tu_ulp_report();   /* the worst element per op, dtype and output of this test */
}

/* ====================================================================================
 * Recurrent cells
 * ==================================================================================== */

static const shape2 cell_shapes[] = {{0, 5}, {4, 0}, {1, 1}, {7, 3}, {3, 7}, {33, 31}, {4097, 3}, {2, 1023}};

typedef struct cell_opts {
    int64_t batch, hidden;
} cell_opts;

/* LSTM slots. */
enum { C_GX, C_GH, C_BIAS, C_CPREV, C_DH, C_DC, C_H, C_C, C_DGATES, C_DCPREV, C_DBIAS };

static sigfuse_status lstm_fwd_call(tcase *tc, sigfuse_ctx *ctx, bool device, const void *opts,
                                    const sigfuse_buffer *const *b)
{
    (void)tc, (void)device;
    const cell_opts *o = (const cell_opts *)opts;
    sigfuse_lstm_forward_args a = {o->batch, o->hidden, b[C_GX], b[C_GH], b[C_BIAS], b[C_CPREV], b[C_H], b[C_C]};
    return sigfuse_lstm_cell_forward(ctx, &a);
}

static sigfuse_status lstm_bwd_call(tcase *tc, sigfuse_ctx *ctx, bool device, const void *opts,
                                    const sigfuse_buffer *const *b)
{
    (void)tc, (void)device;
    const cell_opts *o = (const cell_opts *)opts;
    sigfuse_lstm_backward_args a = {o->batch,   o->hidden,    b[C_GX],   b[C_GH],     b[C_BIAS], b[C_CPREV],
                                    b[C_DH],    b[C_DC],      b[C_DGATES], b[C_DCPREV], b[C_DBIAS]};
    return sigfuse_lstm_cell_backward(ctx, &a);
}

/* The LSTM outputs' magnitudes from the case's inputs (tu_scale_lstm per row and unit;
 * dbias sums its column's dgates magnitudes). Slots not in the case are NULL. */
static void lstm_scales(const tcase *tc, int64_t B, int64_t H, double *mh, double *mc, double *mdg, double *mdcp,
                        double *mdb)
{
    for (int64_t b = 0; b < B; b++)
        for (int64_t j = 0; j < H; j++) {
            tu_lstm_in in;
            memset(&in, 0, sizeof in);
            for (int k = 0; k < 4; k++) {
                int64_t g = b * 4 * H + k * H + j;
                in.gx[k] = in_at(tc, C_GX, g, 0.0);
                in.gh[k] = in_at(tc, C_GH, g, 0.0);
                in.b[k] = in_at(tc, C_BIAS, k * H + j, 0.0);
            }
            in.has_h = tc->s[C_GH].used;
            in.has_b = tc->s[C_BIAS].used;
            in.cp = in_at(tc, C_CPREV, b * H + j, 0.0);
            in.dh = in_at(tc, C_DH, b * H + j, 0.0);
            in.dc = in_at(tc, C_DC, b * H + j, 0.0);
            double c, h, dg[4], dcp;
            tu_scale_lstm(&in, &c, &h, dg, &dcp);
            if (mh)
                mh[b * H + j] = h;
            if (mc)
                mc[b * H + j] = c;
            if (mdcp)
                mdcp[b * H + j] = dcp;
            for (int k = 0; k < 4; k++) {
                if (mdg)
                    mdg[b * 4 * H + k * H + j] = dg[k];
                if (mdb)
                    mdb[k * H + j] += dg[k];
            }
        }
}

static double *out_scale(tcase *tc, int i) { return tc->s[i].used ? tc->s[i].scale : NULL; }

static void cell_gates(tcase *tc, tu_rng *rng, int slot, const char *name, sigfuse_dtype dt, int64_t n,
                       bool extremes_in)
{
    tu_buf *g = case_input(tc, slot, name, dt, n);
    tu_fill_uniform(g, rng, -4.0, 4.0);
    if (extremes_in)
        put_extremes(g);
}

/* variant: bit 0 gates_h, bit 1 bias, bit 2 extremes; outputs chosen by `outs`. */
static void lstm_case(const backend_mem *be, sigfuse_ctx *cpu, sigfuse_ctx *dev, sigfuse_dtype dt, shape2 sh,
                      bool backward, int variant, int outs, int misalign, bool in_place, bool rerun)
{
    const int64_t B = sh.rows, H = sh.cols;
    const bool gh = variant & 1, bias = variant & 2, ext = variant & 4;
    tcase tc;
    case_begin(&tc, be, cpu, dev, misalign);
    tu_rng rng;
    if (!backward) {
        snprintf(tc.name, sizeof tc.name,
                 "lstm_cell_forward(backend=%s,dtype=%s,batch=%lld,hidden=%lld%s%s%s,out=%s%s,view=%s)", be->name,
                 dt_name(dt), (long long)B, (long long)H, gh ? ",gates_h" : "", bias ? ",bias" : "",
                 ext ? ",extremes" : "", outs & 1 ? "h" : "", outs & 2 ? (in_place ? "+c=c_prev" : "+c") : "",
                 misalign ? "+1" : "aligned");
    } else {
        snprintf(tc.name, sizeof tc.name,
                 "lstm_cell_backward(backend=%s,dtype=%s,batch=%lld,hidden=%lld%s%s%s,in=%s,out=%s%s%s%s,view=%s)",
                 be->name, dt_name(dt), (long long)B, (long long)H, gh ? ",gates_h" : "", bias ? ",bias" : "",
                 ext ? ",extremes" : "", (outs >> 3) == 1 ? "dh" : (outs >> 3) == 2 ? "dc" : "dh+dc",
                 outs & 1 ? "dgates" : "", outs & 2 ? "+dc_prev" : "", outs & 4 ? "+dbias" : "",
                 in_place ? ",each_in_place" : "", misalign ? "+1" : "aligned");
    }
    rng = case_rng(&tc);
    cell_gates(&tc, &rng, C_GX, "gates_x", dt, B * 4 * H, ext);
    if (gh)
        cell_gates(&tc, &rng, C_GH, "gates_h", dt, B * 4 * H, false);
    if (bias)
        tu_fill_uniform(case_input(&tc, C_BIAS, "bias", dt, 4 * H), &rng, -1.0, 1.0);
    tu_fill_uniform(case_input(&tc, C_CPREV, "c_prev", dt, B * H), &rng, -2.0, 2.0);
    if (!backward) {
        if (outs & 1)
            case_output(&tc, C_H, "h", dt, B * H);
        if (outs & 2) {
            case_output(&tc, C_C, "c", dt, B * H);
            if (in_place)
                tc.s[C_C].alias = C_CPREV;
        }
        lstm_scales(&tc, B, H, out_scale(&tc, C_H), out_scale(&tc, C_C), NULL, NULL, NULL);
        cell_opts o = {B, H};
        case_run(&tc, lstm_fwd_call, &o);
    } else {
        const int grads = outs >> 3;   /* 1: dh, 2: dc, 0 or 3: both */
        if (grads != 2)
            tu_fill_uniform(case_input(&tc, C_DH, "dh", dt, B * H), &rng, -1.0, 1.0);
        if (grads != 1)
            tu_fill_uniform(case_input(&tc, C_DC, "dc", dt, B * H), &rng, -1.0, 1.0);
        if (outs & 1)
            case_output(&tc, C_DGATES, "dgates", dt, B * 4 * H);
        if (outs & 2)
            case_output(&tc, C_DCPREV, "dc_prev", dt, B * H);
        if (outs & 4)
            case_output(&tc, C_DBIAS, "dbias", dt, 4 * H);
        lstm_scales(&tc, B, H, NULL, NULL, out_scale(&tc, C_DGATES), out_scale(&tc, C_DCPREV),
                    out_scale(&tc, C_DBIAS));
        /* In place: every output in the very buffer of its same-shape input at once. */
        if (in_place && (outs & 1))
            tc.s[C_DGATES].alias = C_GX;
        if (in_place && (outs & 2) && grads != 1)
            tc.s[C_DCPREV].alias = C_DC;
        if (in_place && (outs & 4) && bias)
            tc.s[C_DBIAS].alias = C_BIAS;
        cell_opts o = {B, H};
        case_run(&tc, lstm_bwd_call, &o);
        if (rerun && (outs & 4)) {
            int r[1] = {C_DBIAS};
            case_rerun_bitwise(&tc, lstm_bwd_call, &o, r, 1);
        }
    }
    case_free(&tc);
}

static void lstm_tests(const backend_mem *be, int backward, sigfuse_dtype dt)
{
    char test[128];
    snprintf(test, sizeof test, "lstm_cell_%s_%s_%s", backward ? "backward" : "forward", be->name, dt_name(dt));
    need_backend(be, test);
    sigfuse_ctx *cpu = tu_cpu_ctx(), *dev = backend_ctx(be);
    /* Forward: outs bit 0 h, bit 1 c. Backward: bits 0..2 dgates, dc_prev, dbias; bits 3..4
     * which upstream gradients (1 dh, 2 dc, 3 both). */
    const int fwd_outs[] = {3, 1, 2};
    const int bwd_outs[] = {7 | 24, 1 | 8, 6 | 16, 4 | 24, 2 | 24};
    const int nouts = backward ? 5 : 3;
    for (size_t si = 0; si < sizeof cell_shapes / sizeof cell_shapes[0]; si++)
        for (int variant = 0; variant < 8 && shape_runs(si, 0x29u /* [0,5] [7,3] [33,31] */); variant++)
            for (int oi = 0; oi < nouts; oi++)
                for (int mis = 0; mis < 2; mis++) {
                    if (variant & 4 && (oi > 0 || mis))
                        continue;   /* extremes: one output set per shape is enough */
                    if (quick() && variant != 0 && variant != 3 && variant != 7)
                        continue;
                    lstm_case(be, cpu, dev, dt, cell_shapes[si], backward, variant,
                              backward ? bwd_outs[oi] : fwd_outs[oi], mis, false, false);
                }
    for (int mis = 0; mis < 2; mis++)
        lstm_case(be, cpu, dev, dt, (shape2){33, 31}, backward, 3, backward ? 7 | 24 : 3, mis, true, false);
    /* In place with many row chunks (the bias gradient through partials and a finish pass). */
    lstm_case(be, cpu, dev, dt, (shape2){300, 5}, backward, 3, backward ? 7 | 24 : 3, 0, true, false);
    if (!quick()) {
        lstm_case(be, cpu, dev, dt, (shape2){1024, 257}, backward, 3, backward ? 7 | 24 : 3, 0, false, backward);
        lstm_case(be, cpu, dev, dt, (shape2){65537, 2}, backward, 3, backward ? 7 | 24 : 3, 1, false, backward);
    }
    sigfuse_ctx_destroy(dev);
    sigfuse_ctx_destroy(cpu);
    tu_ulp_report();   /* the worst element per op, dtype and output of this test */
}

/* GRU slots. */
enum { G_GX, G_GH, G_BX, G_BH, G_HPREV, G_DH, G_H, G_DGX, G_DGH, G_DHPREV, G_DBX, G_DBH };

static sigfuse_status gru_fwd_call(tcase *tc, sigfuse_ctx *ctx, bool device, const void *opts,
                                   const sigfuse_buffer *const *b)
{
    (void)tc, (void)device;
    const cell_opts *o = (const cell_opts *)opts;
    sigfuse_gru_forward_args a = {o->batch, o->hidden, b[G_GX], b[G_GH], b[G_BX], b[G_BH], b[G_HPREV], b[G_H]};
    return sigfuse_gru_cell_forward(ctx, &a);
}

static sigfuse_status gru_bwd_call(tcase *tc, sigfuse_ctx *ctx, bool device, const void *opts,
                                   const sigfuse_buffer *const *b)
{
    (void)tc, (void)device;
    const cell_opts *o = (const cell_opts *)opts;
    sigfuse_gru_backward_args a = {o->batch, o->hidden, b[G_GX],  b[G_GH],     b[G_BX],  b[G_BH], b[G_HPREV],
                                   b[G_DH],  b[G_DGX],  b[G_DGH], b[G_DHPREV], b[G_DBX], b[G_DBH]};
    return sigfuse_gru_cell_backward(ctx, &a);
}

/* The GRU outputs' magnitudes (tu_scale_gru per row and unit; the bias gradients sum
 * their column's). */
static void gru_scales(const tcase *tc, int64_t B, int64_t H, double *mh, double *mdgx, double *mdgh, double *mdhp,
                       double *mdbx, double *mdbh)
{
    for (int64_t b = 0; b < B; b++)
        for (int64_t j = 0; j < H; j++) {
            tu_gru_in in;
            memset(&in, 0, sizeof in);
            for (int k = 0; k < 3; k++) {
                int64_t g = b * 3 * H + k * H + j;
                in.gi[k] = in_at(tc, G_GX, g, 0.0);
                in.gh[k] = in_at(tc, G_GH, g, 0.0);
                in.bx[k] = in_at(tc, G_BX, k * H + j, 0.0);
                in.bh[k] = in_at(tc, G_BH, k * H + j, 0.0);
            }
            in.has_bx = tc->s[G_BX].used;
            in.has_bh = tc->s[G_BH].used;
            in.hp = in_at(tc, G_HPREV, b * H + j, 0.0);
            in.dh = in_at(tc, G_DH, b * H + j, 0.0);
            double h, dgx[3], dgh[3], dhp;
            tu_scale_gru(&in, &h, dgx, dgh, &dhp);
            if (mh)
                mh[b * H + j] = h;
            if (mdhp)
                mdhp[b * H + j] = dhp;
            for (int k = 0; k < 3; k++) {
                if (mdgx)
                    mdgx[b * 3 * H + k * H + j] = dgx[k];
                if (mdgh)
                    mdgh[b * 3 * H + k * H + j] = dgh[k];
                if (mdbx)
                    mdbx[k * H + j] += dgx[k];
                if (mdbh)
                    mdbh[k * H + j] += dgh[k];
            }
        }
}

/* variant: bit 0 bias_x, bit 1 bias_h, bit 2 extremes. Backward outs: bits 0..4 dgates_x,
 * dgates_h, dh_prev, dbias_x, dbias_h. */
static void gru_case(const backend_mem *be, sigfuse_ctx *cpu, sigfuse_ctx *dev, sigfuse_dtype dt, shape2 sh,
                     bool backward, int variant, int outs, int misalign, bool in_place, bool rerun)
{
    const int64_t B = sh.rows, H = sh.cols;
    const bool bx = variant & 1, bh = variant & 2, ext = variant & 4;
    tcase tc;
    case_begin(&tc, be, cpu, dev, misalign);
    if (!backward)
        snprintf(tc.name, sizeof tc.name, "gru_cell_forward(backend=%s,dtype=%s,batch=%lld,hidden=%lld%s%s%s%s,view=%s)",
                 be->name, dt_name(dt), (long long)B, (long long)H, bx ? ",bias_x" : "", bh ? ",bias_h" : "",
                 ext ? ",extremes" : "", in_place ? ",h=h_prev" : "", misalign ? "+1" : "aligned");
    else
        snprintf(tc.name, sizeof tc.name,
                 "gru_cell_backward(backend=%s,dtype=%s,batch=%lld,hidden=%lld%s%s%s,out=%s%s%s%s%s%s,view=%s)",
                 be->name, dt_name(dt), (long long)B, (long long)H, bx ? ",bias_x" : "", bh ? ",bias_h" : "",
                 ext ? ",extremes" : "", outs & 1 ? "dgates_x" : "", outs & 2 ? "+dgates_h" : "",
                 outs & 4 ? "+dh_prev" : "", outs & 8 ? "+dbias_x" : "", outs & 16 ? "+dbias_h" : "",
                 in_place ? ",each_in_place" : "", misalign ? "+1" : "aligned");
    tu_rng rng = case_rng(&tc);
    cell_gates(&tc, &rng, G_GX, "gates_x", dt, B * 3 * H, ext);
    cell_gates(&tc, &rng, G_GH, "gates_h", dt, B * 3 * H, false);
    if (bx)
        tu_fill_uniform(case_input(&tc, G_BX, "bias_x", dt, 3 * H), &rng, -1.0, 1.0);
    if (bh)
        tu_fill_uniform(case_input(&tc, G_BH, "bias_h", dt, 3 * H), &rng, -1.0, 1.0);
    tu_fill_uniform(case_input(&tc, G_HPREV, "h_prev", dt, B * H), &rng, -1.0, 1.0);
    cell_opts o = {B, H};
    if (!backward) {
        case_output(&tc, G_H, "h", dt, B * H);
        if (in_place)
            tc.s[G_H].alias = G_HPREV;
        gru_scales(&tc, B, H, out_scale(&tc, G_H), NULL, NULL, NULL, NULL, NULL);
        case_run(&tc, gru_fwd_call, &o);
    } else {
        tu_fill_uniform(case_input(&tc, G_DH, "dh", dt, B * H), &rng, -1.0, 1.0);
        if (outs & 1)
            case_output(&tc, G_DGX, "dgates_x", dt, B * 3 * H);
        if (outs & 2)
            case_output(&tc, G_DGH, "dgates_h", dt, B * 3 * H);
        if (outs & 4)
            case_output(&tc, G_DHPREV, "dh_prev", dt, B * H);
        if (outs & 8)
            case_output(&tc, G_DBX, "dbias_x", dt, 3 * H);
        if (outs & 16)
            case_output(&tc, G_DBH, "dbias_h", dt, 3 * H);
        gru_scales(&tc, B, H, NULL, out_scale(&tc, G_DGX), out_scale(&tc, G_DGH), out_scale(&tc, G_DHPREV),
                   out_scale(&tc, G_DBX), out_scale(&tc, G_DBH));
        /* In place: every output in the very buffer of its same-shape input at once. */
        if (in_place && (outs & 1))
            tc.s[G_DGX].alias = G_GX;
        if (in_place && (outs & 2))
            tc.s[G_DGH].alias = G_GH;
        if (in_place && (outs & 4))
            tc.s[G_DHPREV].alias = G_DH;
        if (in_place && (outs & 8) && bx)
            tc.s[G_DBX].alias = G_BX;
        if (in_place && (outs & 16) && bh)
            tc.s[G_DBH].alias = G_BH;
        case_run(&tc, gru_bwd_call, &o);
        if (rerun && (outs & 24)) {
            int r[2], k = 0;
            if (outs & 8)
                r[k++] = G_DBX;
            if (outs & 16)
                r[k++] = G_DBH;
            case_rerun_bitwise(&tc, gru_bwd_call, &o, r, k);
        }
    }
    case_free(&tc);
}

static void gru_tests(const backend_mem *be, int backward, sigfuse_dtype dt)
{
    char test[128];
    snprintf(test, sizeof test, "gru_cell_%s_%s_%s", backward ? "backward" : "forward", be->name, dt_name(dt));
    need_backend(be, test);
    sigfuse_ctx *cpu = tu_cpu_ctx(), *dev = backend_ctx(be);
    const int bwd_outs[] = {31, 1, 2, 4, 8, 16, 24, 7};
    const int nouts = backward ? 8 : 1;
    for (size_t si = 0; si < sizeof cell_shapes / sizeof cell_shapes[0]; si++)
        for (int variant = 0; variant < 8 && shape_runs(si, 0x29u /* [0,5] [7,3] [33,31] */); variant++)
            for (int oi = 0; oi < nouts; oi++)
                for (int mis = 0; mis < 2; mis++) {
                    if (variant & 4 && (oi > 0 || mis))
                        continue;
                    if (quick() && variant != 0 && variant != 3 && variant != 7)
                        continue;
                    gru_case(be, cpu, dev, dt, cell_shapes[si], backward, variant, backward ? bwd_outs[oi] : 0, mis,
                             false, false);
                }
    for (int mis = 0; mis < 2; mis++)
        gru_case(be, cpu, dev, dt, (shape2){33, 31}, backward, 3, 31, mis, true, false);
    gru_case(be, cpu, dev, dt, (shape2){300, 5}, backward, 3, 31, 0, true, false);   /* many row chunks */
    if (!quick()) {
        gru_case(be, cpu, dev, dt, (shape2){1024, 257}, backward, 3, 31, 0, false, backward);
        gru_case(be, cpu, dev, dt, (shape2){65537, 2}, backward, 3, 31, 1, false, backward);
    }
    sigfuse_ctx_destroy(dev);
    sigfuse_ctx_destroy(cpu);
    tu_ulp_report();   /* the worst element per op, dtype and output of this test */
}

/* ====================================================================================
 * Multi-label heads
 * ==================================================================================== */

typedef struct shape3 {
    int64_t n, d, l;
} shape3;

/* L = 8 and 24: multiples of the CUDA epilogues' vector of 8 16-bit labels (4 f32), which
 * the odd L leave to their one-label kernels. */
static const shape3 head_shapes[] = {{0, 4, 3},   {5, 0, 3},     {5, 4, 0},      {1, 1, 1}, {7, 5, 3},
                                     {33, 17, 9}, {100, 64, 37}, {257, 33, 129}, {9, 5, 8}, {65, 33, 24}};

enum { H_X, H_W, H_BIAS, H_Y, H_PW, H_LOGITS, H_PROBS, H_LABELS, H_LOSS, H_DX, H_DW, H_DBIAS };

typedef struct head_opts {
    int64_t n, d, l;
    float threshold;
    sigfuse_reduction red;
    float grad_scale;
    int64_t chunk;          /* rows per chunk the workspace is sized for (0: all) */
    sigfuse_dtype dtype;    /* the head's: the f64 reference computes a head of this dtype */
} head_opts;

/* Size the workspace for o->chunk rows on this context, allocate it in the context's
 * memory (the device one 16 bytes past its allocation's alignment: a backend that wants
 * more alignment must make it itself) and return it. */
static const sigfuse_buffer *head_workspace(tcase *tc, bool device, size_t bytes)
{
    if (bytes == 0)
        return NULL;
    if (!device) {
        if (tc->has_ws_host)
            tu_free(&tc->ws_host);
        tc->ws_host = tu_alloc(SIGFUSE_U8, (int64_t)bytes);
        tc->has_ws_host = true;
        return &tc->ws_host.desc;
    }
    if (tc->has_ws_dev)
        dev_free(&tc->ws_dev);
    tc->ws_dev = dev_alloc(tc->be, SIGFUSE_U8, (int64_t)bytes, 16);
    tc->has_ws_dev = true;
    return &tc->ws_dev.desc;
}

static sigfuse_status head_predict_call(tcase *tc, sigfuse_ctx *ctx, bool device, const void *opts,
                                        const sigfuse_buffer *const *b)
{
    const head_opts *o = (const head_opts *)opts;
    sigfuse_head_predict_args a;
    sigfuse_head_predict_args_init(&a);
    a.n = o->n;
    a.d = o->d;
    a.l = o->l;
    a.threshold = o->threshold;
    a.x = b[H_X];
    a.w = b[H_W];
    a.bias = b[H_BIAS];
    a.logits = b[H_LOGITS];
    a.probs = b[H_PROBS];
    a.labels = b[H_LABELS];
    size_t bytes = 0;
    sigfuse_status st = sigfuse_head_predict_workspace_size(ctx, &a, o->chunk, &bytes);
    if (st != SIGFUSE_SUCCESS)
        return st;
    if (device && tc->has_ws_dev && tc->ws_dev.bytes == bytes) {
        a.workspace = &tc->ws_dev.desc;   /* a rerun keeps its workspace */
    } else {
        a.workspace = head_workspace(tc, device, bytes);
    }
    a.workspace_bytes = bytes;
    return device ? sigfuse_head_predict(ctx, &a) : sf_ref_head_predict_as(ctx, &a, o->dtype);
}

static sigfuse_status head_train_call(tcase *tc, sigfuse_ctx *ctx, bool device, const void *opts,
                                      const sigfuse_buffer *const *b)
{
    const head_opts *o = (const head_opts *)opts;
    sigfuse_head_train_args a;
    sigfuse_head_train_args_init(&a);
    a.n = o->n;
    a.d = o->d;
    a.l = o->l;
    a.reduction = o->red;
    a.grad_scale = o->grad_scale;
    a.x = b[H_X];
    a.w = b[H_W];
    a.bias = b[H_BIAS];
    a.targets = b[H_Y];
    a.pos_weight = b[H_PW];
    a.loss = b[H_LOSS];
    a.dx = b[H_DX];
    a.dw = b[H_DW];
    a.dbias = b[H_DBIAS];
    size_t bytes = 0;
    sigfuse_status st = sigfuse_head_train_workspace_size(ctx, &a, o->chunk, &bytes);
    if (st != SIGFUSE_SUCCESS)
        return st;
    if (device && tc->has_ws_dev && tc->ws_dev.bytes == bytes)
        a.workspace = &tc->ws_dev.desc;
    else
        a.workspace = head_workspace(tc, device, bytes);
    a.workspace_bytes = bytes;
    return device ? sigfuse_head_train_step(ctx, &a) : sf_ref_head_train_step_as(ctx, &a, o->dtype);
}

/* The significant bits of the gradient G as the head's products read it: CUDA feeds them
 * G in the storage dtype (f16: 11, bf16: 8), other backends in f32. (A 16-bit head's logits
 * are rounded to its dtype on every backend: tu_scale_head allows for that.) */
static int head_g_bits(const backend_mem *be, sigfuse_dtype dt)
{
    if (be->backend != SIGFUSE_BACKEND_CUDA || dt == SIGFUSE_F32)
        return 24;
    return dt == SIGFUSE_F16 ? 11 : 8;
}

static void head_inputs(tcase *tc, tu_rng *rng, sigfuse_dtype dt, shape3 sh, bool bias)
{
    tu_fill_uniform(case_input(tc, H_X, "x", dt, sh.n * sh.d), rng, -1.0, 1.0);
    tu_fill_uniform(case_input(tc, H_W, "w", dt, sh.l * sh.d), rng, -1.0, 1.0);
    if (bias)
        tu_fill_uniform(case_input(tc, H_BIAS, "bias", dt, sh.l), rng, -0.5, 0.5);
}

/* sigma(z) of each logit, in double, for excusing label ties: z as the op defines it
 * (a 16-bit head's dot product rounded to its dtype, then the bias). */
static double *head_probs(tcase *tc, shape3 sh, sigfuse_dtype dt)
{
    double *p = (double *)malloc(sizeof(double) * (size_t)(sh.n * sh.l > 0 ? sh.n * sh.l : 1));
    cr_assert(p);
    for (int64_t i = 0; i < sh.n; i++)
        for (int64_t j = 0; j < sh.l; j++) {
            double z = 0.0;
            for (int64_t k = 0; k < sh.d; k++)
                z += tu_get(&tc->s[H_X].host, i * sh.d + k) * tu_get(&tc->s[H_W].host, j * sh.d + k);
            if (dt == SIGFUSE_F16 || dt == SIGFUSE_BF16)
                z = sf_round_to_dtype(z, dt);
            if (tc->s[H_BIAS].used)
                z += tu_get(&tc->s[H_BIAS].host, j);
            p[i * sh.l + j] = sigmoid_d(z);
        }
    return p;
}

/* outs: bit 0 logits, 1 probs, 2 labels (u8), 3 labels (float). */
static void head_predict_case(const backend_mem *be, sigfuse_ctx *cpu, sigfuse_ctx *dev, sigfuse_dtype dt, shape3 sh,
                              bool bias, int outs, int64_t chunk, int misalign)
{
    tcase tc;
    case_begin(&tc, be, cpu, dev, misalign);
    snprintf(tc.name, sizeof tc.name,
             "head_predict(backend=%s,dtype=%s,n=%lld,d=%lld,l=%lld%s,out=%s%s%s%s,chunk_rows=%lld,view=%s)", be->name,
             dt_name(dt), (long long)sh.n, (long long)sh.d, (long long)sh.l, bias ? ",bias" : "",
             outs & 1 ? "logits" : "", outs & 2 ? "+probs" : "", outs & 4 ? "+labels_u8" : "",
             outs & 8 ? "+labels" : "", (long long)chunk, misalign ? "+1" : "aligned");
    tu_rng rng = case_rng(&tc);
    head_inputs(&tc, &rng, dt, sh, bias);
    const int64_t nl = sh.n * sh.l;
    double *ties = NULL;
    /* The magnitudes: tu_scale_head (the GEMM rounds z at sum |x w| + |b|, log2 d deep). */
    double *mz = (outs & 1) ? case_output(&tc, H_LOGITS, "logits", dt, nl) : NULL;
    double *mp = (outs & 2) ? case_output(&tc, H_PROBS, "probs", dt, nl) : NULL;
    tu_scale_head(&tc.s[H_X].host, &tc.s[H_W].host, tc.s[H_BIAS].used ? &tc.s[H_BIAS].host : NULL, NULL, NULL, sh.n,
                  sh.d, sh.l, dt, 1.0, false, 24, mz, mp, NULL, NULL, NULL, NULL);
    if (outs & 12) {
        case_output(&tc, H_LABELS, "labels", outs & 4 ? SIGFUSE_U8 : dt, nl);
        ties = head_probs(&tc, sh, dt);
        tc.s[H_LABELS].tie_prob = ties;
        tc.s[H_LABELS].tie_threshold = 0.4;
        /* sigma(z) carries z's GEMM rounding: sigma' <= 1/4 times 4 ulp of d + 1 terms of
         * size <= 1, log2 d deep; 16-bit inputs are exact, the output is not rounded first.
         * A 16-bit head's dot product (|dot| <= d) may round to the neighbour of the
         * reference's from d = 2 on: one 16-bit ulp of it, at most d 2^-7 (bf16) or d 2^-10
         * (f16), through sigma' <= 1/4 (tu_scale_head widens the other outputs alike). */
        tc.s[H_LABELS].tie_eps = 8.0 * tu_ulp32(0.25 * (double)(sh.d + 1) * fmax(1.0, log2((double)(sh.d + 1))));
        if ((dt == SIGFUSE_F16 || dt == SIGFUSE_BF16) && sh.d >= 2)
            tc.s[H_LABELS].tie_eps += 0.25 * ldexp((double)sh.d, dt == SIGFUSE_F16 ? -10 : -7);
    }
    head_opts o = {sh.n, sh.d, sh.l, 0.4f, SIGFUSE_REDUCTION_MEAN, 1.0f, chunk, dt};
    case_run(&tc, head_predict_call, &o);
    case_free(&tc);
    free(ties);
}

/* outs: bit 0 loss, 1 dx, 2 dw, 3 dbias. targets: 0 binary float, 1 soft, 2 u8. limits:
 * every third column's bias is -inf (+inf) with targets 0 (1) there, logits whose fast
 * loss is 0 * inf (NaN) and whose loss is the limit 0 and gradient 0: the CUDA epilogues'
 * limits path, with the totals still finite. The magnitudes are those of a bias of 0
 * there (a bound: those logits add nothing exactly). */
static void head_train_case(const backend_mem *be, sigfuse_ctx *cpu, sigfuse_ctx *dev, sigfuse_dtype dt, shape3 sh,
                            sigfuse_reduction red, bool bias, bool pw, targets_kind tk, float grad_scale, int outs,
                            int64_t chunk, int misalign, bool rerun, bool limits)
{
    tcase tc;
    case_begin(&tc, be, cpu, dev, misalign);
    snprintf(tc.name, sizeof tc.name,
             "head_train_step(backend=%s,dtype=%s,n=%lld,d=%lld,l=%lld,red=%s,targets=%s%s%s,grad_scale=%g,"
             "out=%s%s%s%s,chunk_rows=%lld,view=%s%s)",
             be->name, dt_name(dt), (long long)sh.n, (long long)sh.d, (long long)sh.l, red_name(red),
             targets_name(tk), bias ? ",bias" : "", pw ? ",pos_weight" : "", (double)grad_scale, outs & 1 ? "loss" : "",
             outs & 2 ? "+dx" : "", outs & 4 ? "+dw" : "", outs & 8 ? "+dbias" : "", (long long)chunk,
             misalign ? "+1" : "aligned", limits ? ",limits" : "");
    tu_rng rng = case_rng(&tc);
    head_inputs(&tc, &rng, dt, sh, bias);
    const int64_t nl = sh.n * sh.l;
    tu_buf *y = case_input(&tc, H_Y, "targets", tk == T_U8 ? SIGFUSE_U8 : dt, nl);
    if (tk == T_SOFT)
        tu_fill_uniform(y, &rng, 0.0, 1.0);
    else
        tu_fill_binary(y, &rng);
    if (pw)
        tu_fill_uniform(case_input(&tc, H_PW, "pos_weight", dt, sh.l), &rng, 0.5, 3.0);
    tu_buf mag_bias = {0};   /* limits: the bias the magnitudes are taken at */
    if (limits) {
        mag_bias = tu_alloc(dt, sh.l);
        for (int64_t j = 0; j < sh.l; j++) {
            const bool lim = j % 3 == 1, up = j % 6 == 4;
            tu_set(&mag_bias, j, lim ? 0.0 : tu_get(&tc.s[H_BIAS].host, j));
            if (lim) {
                tu_set(&tc.s[H_BIAS].host, j, up ? INFINITY : -INFINITY);
                for (int64_t i = 0; i < sh.n; i++)
                    tu_set(y, i * sh.l + j, up ? 1.0 : 0.0);
            }
        }
    }
    head_opts o = {sh.n, sh.d, sh.l, 0.5f, red, grad_scale, chunk, dt};
    double *ml = (outs & 1) ? case_output(&tc, H_LOSS, "loss", SIGFUSE_F32, 1) : NULL;
    double *mdx = (outs & 2) ? case_output(&tc, H_DX, "dx", dt, sh.n * sh.d) : NULL;
    double *mdw = (outs & 4) ? case_output(&tc, H_DW, "dw", dt, sh.l * sh.d) : NULL;
    double *mdb = (outs & 8) ? case_output(&tc, H_DBIAS, "dbias", dt, sh.l) : NULL;
    const bool mean = red == SIGFUSE_REDUCTION_MEAN;
    const double f = fabs((double)grad_scale) / (mean && nl > 0 ? (double)nl : 1.0);
    tu_scale_head(&tc.s[H_X].host, &tc.s[H_W].host,
                  limits ? &mag_bias : tc.s[H_BIAS].used ? &tc.s[H_BIAS].host : NULL, &tc.s[H_Y].host,
                  tc.s[H_PW].used ? &tc.s[H_PW].host : NULL, sh.n, sh.d, sh.l, dt, f, mean, head_g_bits(be, dt),
                  NULL, NULL, ml, mdx, mdw, mdb);
    if (limits)
        tu_free(&mag_bias);
    case_run(&tc, head_train_call, &o);
    if (limits && ml)   /* the case's point: a finite total through the limits */
        cr_expect(isfinite(tu_get(&tc.s[H_LOSS].host, 0)), "%s: the reference loss is %g", tc.name,
                  tu_get(&tc.s[H_LOSS].host, 0));
    if (rerun) {
        int r[4], k = 0;
        for (int s = H_LOSS; s <= H_DBIAS; s++)
            if (tc.s[s].used)
                r[k++] = s;
        case_rerun_bitwise(&tc, head_train_call, &o, r, k);
    }
    case_free(&tc);
}

static void head_tests(const backend_mem *be, int train, sigfuse_dtype dt)
{
    char test[128];
    snprintf(test, sizeof test, "head_%s_%s_%s", train ? "train_step" : "predict", be->name, dt_name(dt));
    need_backend(be, test);
    sigfuse_ctx *cpu = tu_cpu_ctx(), *dev = backend_ctx(be);
    const int64_t chunks[] = {1, 7, 0};
    for (size_t si = 0; si < sizeof head_shapes / sizeof head_shapes[0]; si++)
        for (int ci = 0; ci < 3 && shape_runs(si, 0x333u /* [0,4,3] [5,0,3] [7,5,3] [33,17,9] [9,5,8] [65,33,24] */);
             ci++)
            for (int mis = 0; mis < 2; mis++) {
                const shape3 sh = head_shapes[si];
                if (!train) {
                    const int outs[] = {1 | 2 | 4, 2, 8};
                    for (int oi = 0; oi < 3; oi++)
                        head_predict_case(be, cpu, dev, dt, sh, oi != 1, outs[oi], chunks[ci], mis);
                } else {
                    head_train_case(be, cpu, dev, dt, sh, SIGFUSE_REDUCTION_MEAN, true, true, T_BINARY, 1.0f, 15,
                                    chunks[ci], mis, false, false);
                    head_train_case(be, cpu, dev, dt, sh, SIGFUSE_REDUCTION_SUM, false, false, T_U8, 0.5f, 15,
                                    chunks[ci], mis, false, false);
                    head_train_case(be, cpu, dev, dt, sh, SIGFUSE_REDUCTION_MEAN, true, false, T_SOFT, 2.0f,
                                    1 << (ci + mis), chunks[ci], mis, false, false);
                    if (ci < 2 && !mis)   /* with and without pos_weight: both fast forms' limits */
                        head_train_case(be, cpu, dev, dt, sh, SIGFUSE_REDUCTION_SUM, true, ci == 0,
                                        ci == 0 ? T_BINARY : T_SOFT, 1.0f, 15, chunks[ci], mis, false, true);
                }
            }
    if (!quick()) {
        const shape3 big = {2051, 256, 520};   /* L a multiple of 8: the vector epilogues */
        if (!train)
            head_predict_case(be, cpu, dev, dt, big, true, 1 | 2 | 4, 300, 0);
        else
            head_train_case(be, cpu, dev, dt, big, SIGFUSE_REDUCTION_MEAN, true, true, T_U8, 1.0f, 15, 300, 0, true,
                            false);
    }
    sigfuse_ctx_destroy(dev);
    sigfuse_ctx_destroy(cpu);
    tu_ulp_report();   /* the worst element per op, dtype and output of this test */
}

/* ====================================================================================
 * Arguments a device context must refuse
 * ==================================================================================== */

static void bad_argument_tests(const backend_mem *be, int unused, sigfuse_dtype dt)
{
    (void)unused;
    char test[128];
    snprintf(test, sizeof test, "bad_arguments_%s_%s", be->name, dt_name(dt));
    need_backend(be, test);
    if (be->backend == SIGFUSE_BACKEND_CPU)
        cr_skip_test("host memory and f64 are the cpu backend's own");
    sigfuse_ctx *dev = backend_ctx(be);
    const int64_t n = 64;
    dev_buf x = dev_alloc(be, dt, n, 0), y = dev_alloc(be, dt, n, 0);
    tu_buf hx = tu_alloc(dt, n);
    tu_fill_uniform(&hx, &(tu_rng){7}, -1.0, 1.0);

    /* A host pointer given to a device context. */
    sigfuse_status st = sigfuse_sigmoid_forward(dev, n, &hx.desc, &y.desc);
    cr_expect_eq(st, SIGFUSE_ERR_WRONG_MEMORY, "sigmoid_forward(backend=%s,dtype=%s): host x: got %s (%s)", be->name,
                 dt_name(dt), sigfuse_status_string(st), sigfuse_ctx_last_error(dev));
    /* f64 is the reference's alone. */
    sigfuse_buffer x64 = x.desc, y64 = y.desc;
    x64.dtype = y64.dtype = SIGFUSE_F64;
    st = sigfuse_sigmoid_forward(dev, n / 8, &x64, &y64);
    cr_expect_eq(st, SIGFUSE_ERR_UNSUPPORTED, "sigmoid_forward(backend=%s,dtype=f64): got %s (%s)", be->name,
                 sigfuse_status_string(st), sigfuse_ctx_last_error(dev));
    cr_expect(strlen(sigfuse_ctx_last_error(dev)) > 0);
    /* A workspace smaller than one row needs. */
    sigfuse_head_train_args a;
    sigfuse_head_train_args_init(&a);
    a.n = 4;
    a.d = 4;
    a.l = 4;
    a.x = &x.desc;
    a.w = &x.desc;
    a.dx = &y.desc;
    size_t bytes = 0;
    dev_buf tgt = dev_alloc(be, SIGFUSE_U8, 16, 0);
    a.targets = &tgt.desc;
    cr_assert_eq(sigfuse_head_train_workspace_size(dev, &a, 1, &bytes), SIGFUSE_SUCCESS, "%s",
                 sigfuse_ctx_last_error(dev));
    if (bytes > 0) {
        a.workspace = &y.desc;
        a.workspace_bytes = bytes - 1;
        st = sigfuse_head_train_step(dev, &a);
        cr_expect_eq(st, SIGFUSE_ERR_INSUFFICIENT_WORKSPACE, "head_train_step(backend=%s): got %s", be->name,
                     sigfuse_status_string(st));
    }
    tu_buf out = tu_alloc(dt, n);
    dev_download(&y, &out);
    cr_expect(tu_untouched(&out), "%s: a refused call wrote its output", test);
    cr_expect(dev_guards_ok(&y));
    tu_free(&out);
    tu_free(&hx);
    dev_free(&tgt);
    dev_free(&x);
    dev_free(&y);
    sigfuse_ctx_destroy(dev);
}

/* ====================================================================================
 * In place means the same shape and role
 * ==================================================================================== */

/* An output on an input of another shape that spans the same bytes (LSTM c on bias at
 * B = 4, H = 1: 16 bytes each; GRU h on bias_x at B = 3, H = 1) is refused with
 * INVALID_ARGUMENT naming both buffers, and nothing is written. (The same-shape cases,
 * c = c_prev, h = h_prev and the backward's, run in lstm_tests / gru_tests.) */
static void in_place_shape_tests(const backend_mem *be, int unused, sigfuse_dtype dt)
{
    (void)unused;
    char test[128];
    snprintf(test, sizeof test, "in_place_shapes_%s_%s", be->name, dt_name(dt));
    need_backend(be, test);
    sigfuse_ctx *dev = backend_ctx(be);
    tu_rng rng = tu_rng_seed(hash_name(test), test);
    tu_buf hg = tu_alloc(dt, 16), hb = tu_alloc(dt, 4), hc = tu_alloc(dt, 4), back = tu_alloc(dt, 4);
    tu_fill_uniform(&hg, &rng, -2.0, 2.0);
    tu_fill_uniform(&hb, &rng, -1.0, 1.0);
    tu_fill_uniform(&hc, &rng, -1.0, 1.0);
    dev_buf g = dev_alloc(be, dt, 16, 0), b = dev_alloc(be, dt, 4, 0), c = dev_alloc(be, dt, 4, 0);
    dev_buf h = dev_alloc(be, dt, 4, 0);
    dev_upload(&g, &hg);
    dev_upload(&b, &hb);
    dev_upload(&c, &hc);

    sigfuse_lstm_forward_args la = {4, 1, &g.desc, NULL, &b.desc, &c.desc, &h.desc, &b.desc};
    sigfuse_status st = sigfuse_lstm_cell_forward(dev, &la);
    const char *msg = sigfuse_ctx_last_error(dev);
    cr_expect_eq(st, SIGFUSE_ERR_INVALID_ARGUMENT, "lstm_cell_forward(backend=%s,dtype=%s,batch=4,hidden=1,c=bias): "
                 "got %s (%s)", be->name, dt_name(dt), sigfuse_status_string(st), msg);
    cr_expect(tu_names_buffer(msg, "c") && tu_names_buffer(msg, "bias"), "%s: the message names c and bias: %s", test, msg);
    cr_assert_eq(sigfuse_ctx_synchronize(dev), SIGFUSE_SUCCESS);
    dev_download(&b, &back);
    cr_expect(tu_bytes_equal(&back, &hb) && dev_guards_ok(&b), "%s: lstm c on bias wrote bias", test);
    tu_buf hh = tu_alloc(dt, 4);
    dev_download(&h, &hh);
    cr_expect(tu_untouched(&hh) && dev_guards_ok(&h), "%s: lstm c on bias wrote h", test);

    /* GRU, B = 3, H = 1: h on bias_x (3 elements each); the first 9 of g as both gates. */
    dev_buf bx = dev_alloc(be, dt, 3, 0);
    tu_buf hbx = tu_alloc(dt, 3), bxback = tu_alloc(dt, 3);
    tu_fill_uniform(&hbx, &rng, -1.0, 1.0);
    dev_upload(&bx, &hbx);
    sigfuse_buffer hp = c.desc;   /* h_prev: 3 of c_prev's elements */
    sigfuse_gru_forward_args ga = {3, 1, &g.desc, &g.desc, &bx.desc, NULL, &hp, &bx.desc};
    st = sigfuse_gru_cell_forward(dev, &ga);
    msg = sigfuse_ctx_last_error(dev);
    cr_expect_eq(st, SIGFUSE_ERR_INVALID_ARGUMENT, "gru_cell_forward(backend=%s,dtype=%s,batch=3,hidden=1,h=bias_x): "
                 "got %s (%s)", be->name, dt_name(dt), sigfuse_status_string(st), msg);
    cr_expect(tu_names_buffer(msg, "h") && tu_names_buffer(msg, "bias_x"), "%s: the message names h and bias_x: %s", test,
              msg);
    dev_download(&bx, &bxback);
    cr_expect(tu_bytes_equal(&bxback, &hbx) && dev_guards_ok(&bx), "%s: gru h on bias_x wrote bias_x", test);

    tu_free(&hg), tu_free(&hb), tu_free(&hc), tu_free(&back), tu_free(&hh), tu_free(&hbx), tu_free(&bxback);
    dev_free(&g), dev_free(&b), dev_free(&c), dev_free(&h), dev_free(&bx);
    sigfuse_ctx_destroy(dev);
}

/* ====================================================================================
 * Past 2^31 elements: int64 indexing end to end
 * ==================================================================================== */

static void huge_sigmoid_test(const backend_mem *be, int unused, sigfuse_dtype dt)
{
    (void)unused;
    const int64_t n = ((int64_t)1 << 31) + 17;
    char test[128];
    snprintf(test, sizeof test, "sigmoid_forward_%s_%s_n%lld", be->name, dt_name(dt), (long long)n);
    need_backend(be, test);
    const size_t elem = sigfuse_dtype_size(dt), bytes = (size_t)n * elem;
    const size_t need = 2 * (bytes + 2 * GUARD) + ((size_t)1 << 30);   /* x, y and 1 GiB to spare */
    if (quick() || !be->free_bytes || be->free_bytes() < need) {
        fprintf(stderr, "%s: skipped: needs %zu bytes of free device memory%s\n", test, need,
                quick() ? " (and SIGFUSE_TEST_QUICK is set)" : "");
        cr_skip_test("needs %zu bytes of free device memory", need);
    }
    sigfuse_ctx *cpu = tu_cpu_ctx(), *dev = backend_ctx(be);
    char name[256];
    snprintf(name, sizeof name, "sigmoid_forward(backend=%s,dtype=%s,n=%lld)", be->name, dt_name(dt), (long long)n);

    /* x repeats a random pattern of P elements (P odd: no alignment with vectors or
     * blocks); y is checked against the reference of that pattern. */
    const int64_t P = ((int64_t)1 << 24) + 3;
    tu_rng rng = tu_rng_seed(hash_name(name), name);
    tu_buf px = tu_alloc(dt, P), py = tu_alloc(SIGFUSE_F64, P);   /* py: the truth, in double */
    tu_fill_uniform(&px, &rng, -12.0, 12.0);
    put_extremes(&px);
    tu_buf px64 = tu_copy_as(&px, SIGFUSE_F64);
    cr_assert_eq(sigfuse_sigmoid_forward(cpu, P, &px64.desc, &py.desc), SIGFUSE_SUCCESS);
    tu_free(&px64);

    dev_buf x = dev_alloc(be, dt, n, 0), y = dev_alloc(be, dt, n, 0);
    cr_assert(be->upload(x.h, x.data_off, px.desc.ptr, (size_t)P * elem));
    for (int64_t k = P; k < n; k *= 2) {   /* doubling copies: x[k + j] = x[j], k a multiple of P */
        int64_t len = k < n - k ? k : n - k;
        cr_assert(be->copy(x.h, x.data_off + (size_t)k * elem, x.data_off, (size_t)len * elem));
    }
    sigfuse_status st = sigfuse_sigmoid_forward(dev, n, &x.desc, &y.desc);
    cr_assert_eq(st, SIGFUSE_SUCCESS, "%s: %s", name, sigfuse_ctx_last_error(dev));
    cr_assert_eq(sigfuse_ctx_synchronize(dev), SIGFUSE_SUCCESS, "%s: %s", name, sigfuse_ctx_last_error(dev));

    /* Check whole windows (start, across 2^31, end) and scattered single elements, in ulps
     * (sigma is well conditioned: 4 ulp of f32, the 16-bit rounding +-1). */
    const int64_t W = (int64_t)1 << 20;
    const int64_t starts[] = {0, ((int64_t)1 << 31) - W, n - W};
    tu_buf win = tu_alloc(dt, W), truth = tu_alloc(SIGFUSE_F64, W);
    int64_t bad = 0;
    char what[64];
    for (int w = 0; w < 3; w++) {
        cr_assert(be->download(y.h, y.data_off + (size_t)starts[w] * elem, win.desc.ptr, (size_t)W * elem));
        for (int64_t i = 0; i < W; i++)
            tu_set(&truth, i, tu_get(&py, (starts[w] + i) % P));
        snprintf(what, sizeof what, "y[%lld + i]", (long long)starts[w]);
        bad += tu_expect_ulp(name, what, &win, &truth, NULL, NULL, NULL);
    }
    tu_buf one = tu_alloc(dt, 4096), one_truth = tu_alloc(SIGFUSE_F64, 4096);
    for (int k = 0; k < 4096; k++) {
        int64_t g = (int64_t)(tu_next(&rng) % (uint64_t)n);
        cr_assert(be->download(y.h, y.data_off + (size_t)g * elem, (char *)one.desc.ptr + (size_t)k * elem, elem));
        tu_set(&one_truth, k, tu_get(&py, g % P));
    }
    bad += tu_expect_ulp(name, "y (4096 sampled)", &one, &one_truth, NULL, NULL, NULL);
    tu_free(&truth);
    tu_free(&one_truth);
    tu_ulp_report();
    cr_expect(bad == 0, "%s: %lld sampled elements differ", name, (long long)bad);
    cr_expect(dev_guards_ok(&y), "%s: a guard byte around y was overwritten", name);
    tu_free(&one);
    tu_free(&win);
    tu_free(&px);
    tu_free(&py);
    dev_free(&x);
    dev_free(&y);
    sigfuse_ctx_destroy(dev);
    sigfuse_ctx_destroy(cpu);
    tu_ulp_report();   /* the worst element per op, dtype and output of this test */
}

/* ====================================================================================
 * CUDA only: streams, graphs, device indices
 * ==================================================================================== */

#ifdef SIGFUSE_WITH_CUDA
static void cuda_only(void)
{
    if (!cuda_present()) {
        fprintf(stderr, "%s\n", cuda_mem.absent);
        cr_skip_test("%s", cuda_mem.absent);
    }
}

/* A BCE call captured into a CUDA graph and replayed gives bitwise what a direct call
 * gives: the op allocates nothing and never waits on the host. */
Test(backend_ops, bce_with_logits_cuda_f32_graph_capture)
{
    cuda_only();
    const int64_t rows = 513, cols = 1031, n = rows * cols;
    const char *name = "bce_with_logits(backend=cuda,dtype=f32,shape=[513,1031],red=sum,graph_capture)";
    cudaStream_t stream;
    cr_assert_eq(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
    sigfuse_ctx *ctx = NULL;
    cr_assert_eq(sigfuse_ctx_create_cuda(&ctx, 0, stream), SIGFUSE_SUCCESS, "%s", sigfuse_last_create_error());
    tu_rng rng = tu_rng_seed(hash_name(name), name);
    tu_buf hx = tu_alloc(SIGFUSE_F32, n), hy = tu_alloc(SIGFUSE_F32, n);
    tu_fill_uniform(&hx, &rng, -6.0, 6.0);
    tu_fill_binary(&hy, &rng);
    dev_buf x = dev_alloc(&cuda_mem, SIGFUSE_F32, n, 0), y = dev_alloc(&cuda_mem, SIGFUSE_F32, n, 0);
    dev_buf loss1 = dev_alloc(&cuda_mem, SIGFUSE_F32, 1, 0), loss2 = dev_alloc(&cuda_mem, SIGFUSE_F32, 1, 0);
    dev_buf g1 = dev_alloc(&cuda_mem, SIGFUSE_F32, n, 0), g2 = dev_alloc(&cuda_mem, SIGFUSE_F32, n, 0);
    dev_upload(&x, &hx);
    dev_upload(&y, &hy);

    sigfuse_bce_args a;
    sigfuse_bce_args_init(&a);
    a.rows = rows;
    a.cols = cols;
    a.reduction = SIGFUSE_REDUCTION_SUM;
    a.logits = &x.desc;
    a.targets = &y.desc;
    a.loss = &loss1.desc;
    a.dlogits = &g1.desc;
    cr_assert_eq(sigfuse_bce_with_logits(ctx, &a), SIGFUSE_SUCCESS, "%s", sigfuse_ctx_last_error(ctx));
    cr_assert_eq(sigfuse_ctx_synchronize(ctx), SIGFUSE_SUCCESS);

    a.loss = &loss2.desc;
    a.dlogits = &g2.desc;
    cudaGraph_t graph;
    cudaGraphExec_t exec;
    cr_assert_eq(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), cudaSuccess);
    sigfuse_status st = sigfuse_bce_with_logits(ctx, &a);
    cr_assert_eq(cudaStreamEndCapture(stream, &graph), cudaSuccess, "%s: capture failed", name);
    cr_assert_eq(st, SIGFUSE_SUCCESS, "%s: %s", name, sigfuse_ctx_last_error(ctx));
    cr_assert_eq(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
    for (int rep = 0; rep < 3; rep++)
        cr_assert_eq(cudaGraphLaunch(exec, stream), cudaSuccess);
    cr_assert_eq(cudaStreamSynchronize(stream), cudaSuccess);

    tu_buf l1 = tu_alloc(SIGFUSE_F32, 1), l2 = tu_alloc(SIGFUSE_F32, 1);
    tu_buf d1 = tu_alloc(SIGFUSE_F32, n), d2 = tu_alloc(SIGFUSE_F32, n);
    dev_download(&loss1, &l1);
    dev_download(&loss2, &l2);
    dev_download(&g1, &d1);
    dev_download(&g2, &d2);
    cr_expect(same_bytes(&l1, &l2), "%s: loss %.9g (direct) vs %.9g (graph)", name, tu_get(&l1, 0), tu_get(&l2, 0));
    cr_expect(same_bytes(&d1, &d2), "%s: dlogits differ between the direct call and the graph", name);
    cr_expect(isfinite(tu_get(&l1, 0)) && tu_get(&l1, 0) > 0.0, "%s: loss %g", name, tu_get(&l1, 0));

    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
    tu_free(&l1);
    tu_free(&l2);
    tu_free(&d1);
    tu_free(&d2);
    tu_free(&hx);
    tu_free(&hy);
    dev_free(&x);
    dev_free(&y);
    dev_free(&loss1);
    dev_free(&loss2);
    dev_free(&g1);
    dev_free(&g2);
    sigfuse_ctx_destroy(ctx);
    cudaStreamDestroy(stream);
}

/* Device indices, streams and their round trip. */
Test(backend_ops, context_cuda_devices_and_streams)
{
    cuda_only();
    int count = 0;
    cr_assert_eq(cudaGetDeviceCount(&count), cudaSuccess);
    sigfuse_ctx *ctx = (sigfuse_ctx *)0x1;
    sigfuse_status st = sigfuse_ctx_create_cuda(&ctx, count, NULL);
    cr_expect(st == SIGFUSE_ERR_NO_DEVICE || st == SIGFUSE_ERR_INVALID_ARGUMENT, "device %d of %d: got %s", count,
              count, sigfuse_status_string(st));
    cr_expect_null(ctx);
    cr_expect(strstr(sigfuse_last_create_error(), "device") != NULL, "message: %s", sigfuse_last_create_error());
    st = sigfuse_ctx_create_cuda(&ctx, -1, NULL);
    cr_expect(st == SIGFUSE_ERR_NO_DEVICE || st == SIGFUSE_ERR_INVALID_ARGUMENT, "device -1: got %s",
              sigfuse_status_string(st));
    cr_expect_null(ctx);

    cudaStream_t s1, s2, got = NULL;
    cr_assert_eq(cudaStreamCreate(&s1), cudaSuccess);
    cr_assert_eq(cudaStreamCreate(&s2), cudaSuccess);
    cr_assert_eq(sigfuse_ctx_create_cuda(&ctx, 0, s1), SIGFUSE_SUCCESS, "%s", sigfuse_last_create_error());
    cr_expect_eq(sigfuse_ctx_backend(ctx), SIGFUSE_BACKEND_CUDA);
    cr_expect_eq(sigfuse_ctx_memory(ctx), SIGFUSE_MEMORY_CUDA);
    cr_expect(strlen(sigfuse_ctx_device_name(ctx)) > 0);
    cr_expect_eq(sigfuse_cuda_get_stream(ctx, &got), SIGFUSE_SUCCESS);
    cr_expect_eq(got, s1);
    cr_expect_eq(sigfuse_cuda_set_stream(ctx, s2), SIGFUSE_SUCCESS, "%s", sigfuse_ctx_last_error(ctx));
    cr_expect_eq(sigfuse_cuda_get_stream(ctx, &got), SIGFUSE_SUCCESS);
    cr_expect_eq(got, s2);
    cr_expect_eq(sigfuse_cuda_get_stream(ctx, NULL), SIGFUSE_ERR_NULL_ARGUMENT);
    cr_expect_eq(sigfuse_cuda_set_stream(NULL, s2), SIGFUSE_ERR_NULL_ARGUMENT);

    /* Work goes where the stream says: an op on s2, then synchronize. */
    dev_buf x = dev_alloc(&cuda_mem, SIGFUSE_F32, 1000, 0), y = dev_alloc(&cuda_mem, SIGFUSE_F32, 1000, 0);
    tu_buf hx = tu_alloc(SIGFUSE_F32, 1000);
    for (int i = 0; i < 1000; i++)
        tu_set(&hx, i, 0.0);
    dev_upload(&x, &hx);
    cr_expect_eq(sigfuse_sigmoid_forward(ctx, 1000, &x.desc, &y.desc), SIGFUSE_SUCCESS);
    cr_expect_eq(sigfuse_ctx_synchronize(ctx), SIGFUSE_SUCCESS);
    dev_download(&y, &hx);
    cr_expect_eq(tu_get(&hx, 999), 0.5);

    /* A CPU context has no stream. */
    sigfuse_ctx *cpu = tu_cpu_ctx();
    cr_expect_eq(sigfuse_cuda_set_stream(cpu, s2), SIGFUSE_ERR_INVALID_ARGUMENT);
    cr_expect_eq(sigfuse_cuda_get_stream(cpu, &got), SIGFUSE_ERR_INVALID_ARGUMENT);
    sigfuse_ctx_destroy(cpu);

    tu_free(&hx);
    dev_free(&x);
    dev_free(&y);
    sigfuse_ctx_destroy(ctx);
    cudaStreamDestroy(s1);
    cudaStreamDestroy(s2);
}
#endif

/* ====================================================================================
 * The test table: one Test per op x backend x dtype
 * ==================================================================================== */

#define DTYPE_TESTS(B, name, fn, arg)                                                          \
    Test(backend_ops, name##_##B##_f32) { fn(&B##_mem, arg, SIGFUSE_F32); }                    \
    Test(backend_ops, name##_##B##_f16) { fn(&B##_mem, arg, SIGFUSE_F16); }                    \
    Test(backend_ops, name##_##B##_bf16) { fn(&B##_mem, arg, SIGFUSE_BF16); }

#define BACKEND_TESTS(B)                                                                       \
    DTYPE_TESTS(B, sigmoid_forward, ew_tests, SF_OP_sigmoid_forward)                               \
    DTYPE_TESTS(B, sigmoid_backward, ew_tests, SF_OP_sigmoid_backward)                              \
    DTYPE_TESTS(B, log_sigmoid_forward, ew_tests, SF_OP_log_sigmoid_forward)                       \
    DTYPE_TESTS(B, log_sigmoid_backward, ew_tests, SF_OP_log_sigmoid_backward)                      \
    DTYPE_TESTS(B, silu_forward, ew_tests, SF_OP_silu_forward)                                     \
    DTYPE_TESTS(B, silu_backward, ew_tests, SF_OP_silu_backward)                                    \
    DTYPE_TESTS(B, glu_forward, ew_tests, SF_OP_glu_forward)                                       \
    DTYPE_TESTS(B, glu_backward, ew_tests, SF_OP_glu_backward)                                      \
    DTYPE_TESTS(B, swiglu_forward, ew_tests, SF_OP_swiglu_forward)                                 \
    DTYPE_TESTS(B, swiglu_backward, ew_tests, SF_OP_swiglu_backward)                                \
    DTYPE_TESTS(B, bce_with_logits, bce_tests, 0)                                              \
    DTYPE_TESTS(B, sigmoid_focal, focal_tests, 0)                                              \
    DTYPE_TESTS(B, lstm_cell_forward, lstm_tests, 0)                                           \
    DTYPE_TESTS(B, lstm_cell_backward, lstm_tests, 1)                                          \
    DTYPE_TESTS(B, gru_cell_forward, gru_tests, 0)                                             \
    DTYPE_TESTS(B, gru_cell_backward, gru_tests, 1)                                            \
    DTYPE_TESTS(B, head_predict, head_tests, 0)                                                \
    DTYPE_TESTS(B, head_train_step, head_tests, 1)                                             \
    DTYPE_TESTS(B, bad_arguments, bad_argument_tests, 0)                                       \
    DTYPE_TESTS(B, in_place_shapes, in_place_shape_tests, 0)                                   \
    Test(backend_ops, sigmoid_forward_##B##_bf16_n2147483665, .timeout = 600)                  \
    {                                                                                          \
        huge_sigmoid_test(&B##_mem, 0, SIGFUSE_BF16);                                          \
    }

BACKEND_TESTS(cuda)
#ifdef SIGFUSE_TEST_SELFCHECK
BACKEND_TESTS(host)
#endif
