/* SPDX-License-Identifier: MIT */
/*
 * The OpenCL backend against the CPU reference: every op, dtype and option runs on the
 * same inputs through an OpenCL context (device buffers with guard regions and poisoned
 * outputs, at byte offsets) and through a CPU context (host copies), and the results are
 * compared with per-dtype tolerances. Plus the backend's own contract: context creation
 * and queues, bad cl_mem handles and offsets, bitwise-repeatable reductions and program
 * build failures with their log.
 *
 * Case names say op, backend, dtype and shape ("sigmoid_forward(opencl, f16, n=1023,
 * offset=1)"); every random input logs its seed. Without an OpenCL device each test says
 * "skipped: no OpenCL device". Rerun one test with --filter 'opencl_ew/sigmoid_forward_f16'.
 *
 * Accuracy, in ulps of the storage dtype against double truth (docs/design.md, Numerics): the
 * reference runs on f64 copies of the very inputs the device gets (already rounded to the
 * dtype), and each output element is held to
 *  - f32: |got - truth| <= 4 ulp_f32(m), where m is the magnitude at which the element's
 *    f32 evaluation rounds: |truth| where it is well conditioned; the largest term where
 *    terms cancel (a BCE / focal gradient with soft or smoothed targets, silu' near its
 *    zero at beta x = -1.28, GLU / SwiGLU db, an LSTM c or GRU h whose two terms cancel);
 *    sum |terms| carried through |f'| where the device rounds a sum before a function
 *    (a cell's pre-activation gates_x + gates_h + bias, beta x when not exact in f32) or
 *    sums many terms (a loss sum, bias gradients, the head's products): 4 ulp times the
 *    condition number. Subnormal results: ulp 2^-149, so a subnormal intermediate that
 *    loses bits shows.
 *  - f16 / bf16: the rounding of an f32 value within that bound, +-1 ulp of the format
 *    (round_to_dtype(truth) +-1 where m = |truth|).
 *  - inf and NaN exactly where the truth has them, u8 outputs exactly; a thresholded label
 *    may differ only where sigma is within its f32 bound of the threshold.
 * The magnitudes m come from testutil's tu_scale_* (one function per op, mirroring its
 * formula in tu_mag arithmetic). Each test logs the worst element per op, dtype and output
 * ("... dlogits worst 3.1 ulp (limit 4) at [17]: got ... truth ... (x=17 y=1)"), and every
 * failure is such a line.
 */
/* setenv, mkdtemp: POSIX, which strict C11 leaves out. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "sigfuse_opencl.h"
#include "sf_internal.h"
#include "testutil.h"

/* ---- Contexts -------------------------------------------------------------------------- */

typedef struct env {
    sigfuse_ctx *ocl;
    sigfuse_ctx *cpu;
    cl_command_queue queue;
    cl_context context;
} env;

static env env_open(void)
{
    if (sigfuse_backend_available(SIGFUSE_BACKEND_OPENCL) != SIGFUSE_SUCCESS)
        cr_skip_test("skipped: no OpenCL device");
    env e;
    memset(&e, 0, sizeof e);
    sigfuse_status st = sigfuse_ctx_create(&e.ocl, SIGFUSE_BACKEND_OPENCL);
    cr_assert_eq(st, SIGFUSE_SUCCESS, "opencl context: %s", sigfuse_last_create_error());
    e.cpu = tu_cpu_ctx();
    cr_assert_eq(sigfuse_opencl_get_queue(e.ocl, &e.queue), SIGFUSE_SUCCESS);
    cr_assert_eq(clGetCommandQueueInfo(e.queue, CL_QUEUE_CONTEXT, sizeof e.context, &e.context, NULL), CL_SUCCESS);
    cr_log_info("opencl device: %s", sigfuse_ctx_device_name(e.ocl));
    return e;
}

/* Whether the driver tells handle kinds apart (a cl_mem passed as a queue and the
 * reverse). The OpenCL spec leaves such a mix-up undefined: PoCL answers it (and the
 * library's cross-checks then catch it), NVIDIA's driver may crash or accept it. */
static bool driver_checks_handle_kinds(env *e)
{
    cl_device_id dev;
    cl_platform_id platform;
    char name[256] = "";
    clGetCommandQueueInfo(e->queue, CL_QUEUE_DEVICE, sizeof dev, &dev, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_PLATFORM, sizeof platform, &platform, NULL);
    clGetPlatformInfo(platform, CL_PLATFORM_NAME, sizeof name - 1, name, NULL);
    if (strstr(name, "Portable Computing Language") != NULL)
        return true;
    cr_log_warn("platform \"%s\": wrong-kind handle cases not run (undefined behaviour for this driver)", name);
    return false;
}

static void env_close(env *e)
{
    tu_ulp_report();   /* the worst element per op, dtype and output of this test */
    sigfuse_ctx_destroy(e->ocl);
    sigfuse_ctx_destroy(e->cpu);
}

/* ---- Device buffers with guards ---------------------------------------------------------- */

#define GUARD_BYTES 64
#define GUARD_BYTE 0x5A
#define POISON_BYTE 0xFF

/* A cl_mem laid out as [guard][offset filler][data][guard]; the descriptor points at the
 * data through its byte offset. Every byte starts as the guard pattern, the data as
 * poison (NaN in every float dtype). */
typedef struct dbuf {
    cl_mem mem;
    sigfuse_buffer desc;
    size_t bytes;     /* data bytes */
    size_t total;
} dbuf;

static dbuf d_alloc(env *e, sigfuse_dtype dtype, int64_t n, int offset_elems)
{
    dbuf d;
    memset(&d, 0, sizeof d);
    size_t elem = sigfuse_dtype_size(dtype);
    size_t start = GUARD_BYTES + (size_t)offset_elems * elem;
    d.bytes = (size_t)n * elem;
    d.total = start + d.bytes + GUARD_BYTES;
    unsigned char *init = malloc(d.total);
    cr_assert(init);
    memset(init, GUARD_BYTE, d.total);
    memset(init + start, POISON_BYTE, d.bytes);
    cl_int err;
    d.mem = clCreateBuffer(e->context, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, d.total, init, &err);
    cr_assert_eq(err, CL_SUCCESS, "clCreateBuffer(%zu): %d", d.total, err);
    free(init);
    d.desc = sigfuse_opencl_buffer(d.mem, start, dtype);
    return d;
}

static void d_free(dbuf *d)
{
    if (d->mem)
        clReleaseMemObject(d->mem);
    d->mem = NULL;
}

/* Writes the whole cl_mem (guards included) rather than the data range alone: oclgrind
 * 21.10's uninitialised-value tracking loses track of a buffer written at an offset, and
 * scripts/oclgrind.sh runs these tests under it. */
static void d_upload(env *e, dbuf *d, const tu_buf *h)
{
    if (d->bytes == 0)
        return;
    unsigned char *all = malloc(d->total);
    cr_assert(all);
    memset(all, GUARD_BYTE, d->total);
    /* An f64 host side is stored in the device's dtype (exactly: it holds such values). */
    tu_buf conv = tu_copy_as(h, d->desc.dtype);
    memcpy(all + d->desc.offset, tu_data(&conv), d->bytes);
    tu_free(&conv);
    cl_int err = clEnqueueWriteBuffer(e->queue, d->mem, CL_TRUE, 0, d->total, all, 0, NULL, NULL);
    cr_assert_eq(err, CL_SUCCESS, "clEnqueueWriteBuffer: %d", err);
    free(all);
}

/* The whole cl_mem back: the data as a host buffer (the caller frees it), and whether
 * the guards survived. Waits for the queue (a blocking read). */
static tu_buf d_download(env *e, const dbuf *d, bool *guards_ok)
{
    unsigned char *all = malloc(d->total);
    cr_assert(all);
    /* A blocking read waits for earlier commands only on an in-order queue. */
    cr_assert_eq(clFinish(e->queue), CL_SUCCESS);
    cl_int err = clEnqueueReadBuffer(e->queue, d->mem, CL_TRUE, 0, d->total, all, 0, NULL, NULL);
    cr_assert_eq(err, CL_SUCCESS, "clEnqueueReadBuffer: %d", err);
    *guards_ok = true;
    for (size_t i = 0; i < d->desc.offset; i++)
        *guards_ok = *guards_ok && all[i] == GUARD_BYTE;
    for (size_t i = d->desc.offset + d->bytes; i < d->total; i++)
        *guards_ok = *guards_ok && all[i] == GUARD_BYTE;
    int64_t n = (int64_t)(d->bytes / sigfuse_dtype_size(d->desc.dtype));
    tu_buf h = tu_alloc(d->desc.dtype, n);
    if (d->bytes)
        memcpy(tu_data(&h), all + d->desc.offset, d->bytes);
    free(all);
    return h;
}

/* Whether the data and guards are exactly as d_alloc left them (the op wrote nothing). */
static bool d_untouched(env *e, const dbuf *d)
{
    bool guards;
    tu_buf h = d_download(e, d, &guards);
    bool same = guards;
    const unsigned char *p = tu_data(&h);
    for (size_t i = 0; i < d->bytes; i++)
        same = same && p[i] == POISON_BYTE;
    tu_free(&h);
    return same;
}

/* ---- Tensors: a host copy (reference) beside a device copy (opencl) ---------------------- */

/* h is the reference's side: f64 (u8 for u8 tensors) holding exactly the values the
 * device has in dtype dt. */
typedef struct tens {
    tu_buf h;
    dbuf d;
    sigfuse_dtype dt;
} tens;

static sigfuse_dtype host_dtype(sigfuse_dtype dt) { return dt == SIGFUSE_U8 ? SIGFUSE_U8 : SIGFUSE_F64; }

/* An input: random values (already rounded to the dtype) on host and device. */
static tens t_in(env *e, sigfuse_dtype dt, int64_t n, int off, tu_rng *r, double lo, double hi)
{
    tens t;
    tu_buf s = tu_alloc(dt, n);   /* drawn in dt, so rounded to it */
    if (dt == SIGFUSE_U8)
        tu_fill_binary(&s, r);
    else
        tu_fill_uniform(&s, r, lo, hi);
    t.h = tu_copy_as(&s, host_dtype(dt));
    tu_free(&s);
    t.dt = dt;
    t.d = d_alloc(e, dt, n, off);
    d_upload(e, &t.d, &t.h);
    return t;
}

/* An output: poisoned on both sides. */
static tens t_out(env *e, sigfuse_dtype dt, int64_t n, int off)
{
    tens t;
    t.h = tu_alloc(host_dtype(dt), n);
    t.dt = dt;
    t.d = d_alloc(e, dt, n, off);
    return t;
}

/* A second input holding src's reference values (its host side) on host and device. */
static tens t_copy(env *e, const tens *src)
{
    tens t;
    t.h = tu_alloc(src->h.dtype, src->h.n);
    memcpy(tu_data(&t.h), tu_data(&src->h), t.h.bytes);
    t.dt = src->dt;
    t.d = d_alloc(e, src->dt, src->h.n, 0);
    d_upload(e, &t.d, &t.h);
    return t;
}

/* Element i of an input, rounded to its dtype on both sides. */
static void t_set(env *e, tens *t, int64_t i, double v, bool upload)
{
    tu_set(&t->h, i, sf_round_to_dtype(v, t->dt));
    if (upload)
        d_upload(e, &t->d, &t->h);
}

static void t_free(tens *t)
{
    if (!t)
        return;
    tu_free(&t->h);
    d_free(&t->d);
}

static const sigfuse_buffer *H(tens *t) { return t ? &t->h.desc : NULL; }
static const sigfuse_buffer *D(tens *t) { return t ? &t->d.desc : NULL; }

/* ---- Comparison ---------------------------------------------------------------------------- */

/* Compare the device output with the truth (t->h) in ulps (the rules at the top; scale:
 * each element's magnitude, NULL for |truth|; ins names the inputs for the message). Also
 * fails when the guards were overwritten. */
static void t_check(env *e, tens *t, const double *scale, const tu_inputs *ins, const char *what,
                    const char *case_name)
{
    bool guards;
    tu_buf got = d_download(e, &t->d, &guards);
    cr_expect(guards, "%s: %s: a guard region around the output was overwritten", case_name, what);
    tu_expect_ulp(case_name, what, &got, &t->h, scale, ins ? tu_describe_inputs : NULL, ins);
    tu_free(&got);
}

/* Thresholded labels (u8 or float 0/1) exactly, except where the probability sigma(z)
 * lies within 4 ulp of its f32 bound (prob_scale, NULL: sigma itself) of the threshold,
 * where either label is right. probs: the truth sigma(z) per element. */
static void t_check_labels(env *e, tens *t, const double *probs, const double *prob_scale, double threshold,
                           const char *case_name)
{
    bool guards;
    tu_buf got = d_download(e, &t->d, &guards);
    cr_expect(guards, "%s: labels: a guard region around the output was overwritten", case_name);
    int64_t bad = 0;
    for (int64_t i = 0; i < t->h.n; i++) {
        double g = tu_get(&got, i), w = tu_get(&t->h, i);
        double m = prob_scale ? fmax(prob_scale[i], probs[i]) : probs[i];
        if (g != w && !(fabs(probs[i] - threshold) <= 8.0 * tu_ulp32(m)) && bad++ < 3)
            cr_expect(false, "%s: labels[%lld] = %g, truth %g (sigma %.9g, threshold %.9g)", case_name, (long long)i,
                      g, w, probs[i], threshold);
    }
    cr_expect(bad <= 3, "%s: labels: %lld differ", case_name, (long long)bad);
    tu_free(&got);
}

/* A per-element array of magnitudes (freed by the caller). */
static double *scales(int64_t n)
{
    double *p = calloc((size_t)(n > 0 ? n : 1), sizeof *p);
    cr_assert(p);
    return p;
}

static void must(sigfuse_ctx *ctx, sigfuse_status st, const char *case_name, const char *backend)
{
    cr_assert_eq(st, SIGFUSE_SUCCESS, "%s: %s backend: %s (%s)", case_name, backend, sigfuse_status_string(st),
                 sigfuse_ctx_last_error(ctx));
}

/* A seed that differs per case but is fixed from run to run. */
static uint64_t case_seed(const char *name)
{
    uint64_t h = 1469598103934665603ull;   /* FNV-1a */
    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return h;
}

static const char *dt_name(sigfuse_dtype dt) { return sigfuse_dtype_name(dt); }

/* Values every op must get right at the edges: infinities, NaN, zeros, subnormals, the
 * logits where sigma rounds to 1 in f32 (|x| >= 17) and where e^-|x| leaves the normal
 * range (87.3), the f32 subnormal range (to 103.3) and underflows (|x| >= 104), and
 * beyond. A subnormal input reads as a subnormal in f32 and as 0 in f16 / bf16 (rounded
 * on the way in, on both sides). */
static const double extremes[] = {
    INFINITY, -INFINITY, NAN, 1e4,   -1e4,  0.0,   -0.0, 88.7,   -88.7, 20.0,   -20.0, 1e-3,  15.0,  -15.0,
    17.0,     -17.0,     30.0, -30.0, 87.0,  -87.0, 90.0, -90.0, 100.0, -100.0, 104.0, -104.0, 110.0, -110.0,
    1e-40,    -1e-40,    1e-45, 5.5,  -5.5,  88.72, -88.72, 103.0, -103.0,
};
#define N_EXTREMES ((int64_t)(sizeof extremes / sizeof extremes[0]))

static void put_extremes(env *e, tens *t, int64_t n)
{
    for (int64_t i = 0; i < n && i < N_EXTREMES; i++)
        t_set(e, t, i, extremes[i], false);
    d_upload(e, &t->d, &t->h);
}

/* Losses: every extreme logit with a target of 1, then with 0, then with the random
 * target already there (soft targets: the cancellation side). */
static void put_loss_extremes(env *e, tens *x, tens *y, int64_t n)
{
    for (int64_t j = 0; j < N_EXTREMES; j++)
        for (int k = 0; k < 3; k++) {
            int64_t i = k * N_EXTREMES + j;
            if (i >= n)
                continue;
            t_set(e, x, i, extremes[j], false);
            if (k < 2)
                t_set(e, y, i, k == 0 ? 1.0 : 0.0, false);
        }
    d_upload(e, &x->d, &x->h);
    d_upload(e, &y->d, &y->h);
}

/* ---- Elementwise ops ------------------------------------------------------------------------ */

typedef enum ew_kind {
    EW_SIGMOID_FWD, EW_SIGMOID_BWD, EW_LOG_SIGMOID_FWD, EW_LOG_SIGMOID_BWD, EW_SILU_FWD, EW_SILU_BWD,
    EW_GLU_FWD, EW_GLU_BWD, EW_SWIGLU_FWD, EW_SWIGLU_BWD,
} ew_kind;

static const char *const ew_names[] = {
    "sigmoid_forward", "sigmoid_backward", "log_sigmoid_forward", "log_sigmoid_backward", "silu_forward",
    "silu_backward",   "glu_forward",      "glu_backward",        "swiglu_forward",       "swiglu_backward",
};
static const int ew_inputs[] = {1, 2, 1, 2, 1, 2, 2, 3, 2, 3};

/* Runs op on one backend: in[0..2] inputs, out0 / out1 outputs (H or D descriptors). */
static sigfuse_status ew_run(sigfuse_ctx *ctx, ew_kind op, int64_t n, float beta, const sigfuse_buffer *const *in,
                             const sigfuse_buffer *o0, const sigfuse_buffer *o1)
{
    switch (op) {
    case EW_SIGMOID_FWD: return sigfuse_sigmoid_forward(ctx, n, in[0], o0);
    case EW_SIGMOID_BWD: return sigfuse_sigmoid_backward(ctx, n, in[0], in[1], o0);
    case EW_LOG_SIGMOID_FWD: return sigfuse_log_sigmoid_forward(ctx, n, in[0], o0);
    case EW_LOG_SIGMOID_BWD: return sigfuse_log_sigmoid_backward(ctx, n, in[0], in[1], o0);
    case EW_SILU_FWD: return sigfuse_silu_forward(ctx, n, beta, in[0], o0);
    case EW_SILU_BWD: return sigfuse_silu_backward(ctx, n, beta, in[0], in[1], o0);
    case EW_GLU_FWD: return sigfuse_glu_forward(ctx, n, in[0], in[1], o0);
    case EW_GLU_BWD: return sigfuse_glu_backward(ctx, n, in[0], in[1], in[2], o0, o1);
    case EW_SWIGLU_FWD: return sigfuse_swiglu_forward(ctx, n, beta, in[0], in[1], o0);
    case EW_SWIGLU_BWD: return sigfuse_swiglu_backward(ctx, n, beta, in[0], in[1], in[2], o0, o1);
    }
    return SIGFUSE_ERR_INVALID_ARGUMENT;
}

/* outs: bit 0 = first output, bit 1 = second (glu / swiglu backward: da, db). */
static void ew_case(env *e, ew_kind op, sigfuse_dtype dt, int64_t n, int off, float beta, int outs, bool extreme)
{
    char name[160];
    snprintf(name, sizeof name, "%s(opencl, %s, n=%lld, offset=%d, beta=%g%s%s)", ew_names[op], dt_name(dt),
             (long long)n, off, (double)beta, outs == 1 && ew_inputs[op] == 3 ? ", da only" : "",
             outs == 2 ? ", db only" : "");
    if (extreme)
        strncat(name, " extremes", sizeof name - strlen(name) - 1);
    tu_rng r = tu_rng_seed(case_seed(name), name);

    tens in[3];
    const sigfuse_buffer *hin[3] = {0}, *din[3] = {0};
    /* The argument of the sigmoid: x, or b of GLU / SwiGLU. */
    const int sig_arg = op == EW_GLU_FWD || op == EW_GLU_BWD || op == EW_SWIGLU_FWD || op == EW_SWIGLU_BWD ? 1 : 0;
    for (int k = 0; k < ew_inputs[op]; k++) {
        /* The saved output of sigmoid lies in [0, 1]; everything else spans the region
         * where sigma bends and then some. */
        bool prob = op == EW_SIGMOID_BWD && k == 0;
        in[k] = t_in(e, dt, n, off, &r, prob ? 0.0 : -8.0, prob ? 1.0 : 8.0);
        if (extreme && !prob)
            put_extremes(e, &in[k], n);
        /* Then x in [-110, -80]: x sigma(x) and its derivative in the f32 subnormal range. */
        if (extreme && !prob && k == sig_arg) {
            for (int64_t i = N_EXTREMES; i < n && i < N_EXTREMES + 256; i++)
                t_set(e, &in[k], i, tu_uniform(&r, -110.0, -80.0), false);
            d_upload(e, &in[k].d, &in[k].h);
        }
        hin[k] = H(&in[k]);
        din[k] = D(&in[k]);
    }
    tens o0 = t_out(e, dt, n, off), o1 = t_out(e, dt, n, off);
    bool two = ew_inputs[op] == 3;
    tens *p0 = (outs & 1) || !two ? &o0 : NULL;
    tens *p1 = two && (outs & 2) ? &o1 : NULL;

    must(e->cpu, ew_run(e->cpu, op, n, beta, hin, H(p0), H(p1)), name, "cpu");
    must(e->ocl, ew_run(e->ocl, op, n, beta, din, D(p0), D(p1)), name, "opencl");
    static const char *const in_names[][3] = {
        {"x"}, {"y", "dy"}, {"x"}, {"x", "dy"}, {"x"}, {"x", "dy"},
        {"a", "b"}, {"a", "b", "dy"}, {"a", "b"}, {"a", "b", "dy"},
    };
    tu_inputs ins = {0};
    for (int k = 0; k < ew_inputs[op]; k++)
        tu_inputs_add(&ins, in_names[op][k], &in[k].h, 0, 0, 0, 0);
    double *m0 = scales(n), *m1 = scales(n);
    for (int64_t i = 0; i < n; i++) {
        double v[3] = {0};
        for (int k = 0; k < ew_inputs[op]; k++)
            v[k] = tu_get(&in[k].h, i);
        m0[i] = tu_scale_ew((int)op, (double)beta, v, 0);
        m1[i] = two ? tu_scale_ew((int)op, (double)beta, v, 1) : 0.0;
    }
    if (p0)
        t_check(e, p0, m0, &ins, two ? "da" : "out", name);
    if (p1)
        t_check(e, p1, m1, &ins, "db", name);
    free(m0);
    free(m1);
    /* An absent output is never written. */
    if (two && !p0)
        cr_expect(d_untouched(e, &o0.d), "%s: absent da was written", name);
    if (two && !p1)
        cr_expect(d_untouched(e, &o1.d), "%s: absent db was written", name);
    for (int k = 0; k < ew_inputs[op]; k++)
        t_free(&in[k]);
    t_free(&o0);
    t_free(&o1);
}

static const int64_t ew_sizes[] = {0, 1, 7, 1023, 4097};
#define BIG_N ((int64_t)(1 << 20) + 3)

static void ew_suite(ew_kind op, sigfuse_dtype dt, bool big)
{
    env e = env_open();
    const bool has_beta = op == EW_SILU_FWD || op == EW_SILU_BWD || op == EW_SWIGLU_FWD || op == EW_SWIGLU_BWD;
    const float betas[] = {1.0f, 1.702f, 0.0f, -0.5f};
    const int nbeta = has_beta ? 4 : 1;
    const int out_sets = ew_inputs[op] == 3 ? 3 : 1;
    for (size_t s = 0; s < sizeof ew_sizes / sizeof ew_sizes[0]; s++)
        for (int off = 0; off <= 1; off++)
            ew_case(&e, op, dt, ew_sizes[s], off, 1.0f, 3, false);
    for (int b = 0; b < nbeta; b++)
        ew_case(&e, op, dt, 1023, 1, betas[b], 3, true);
    for (int o = 1; o <= out_sets && out_sets > 1; o++)
        ew_case(&e, op, dt, 4097, 0, 1.3f, o, false);
    if (big)
        ew_case(&e, op, dt, BIG_N, 1, 1.0f, 3, false);
    env_close(&e);
}

#define EW_TESTS(kind, opname, big_f32)                                                       \
    Test(opencl_ew, opname##_f32) { ew_suite(kind, SIGFUSE_F32, big_f32); }                   \
    Test(opencl_ew, opname##_f16) { ew_suite(kind, SIGFUSE_F16, false); }                     \
    Test(opencl_ew, opname##_bf16) { ew_suite(kind, SIGFUSE_BF16, false); }

EW_TESTS(EW_SIGMOID_FWD, sigmoid_forward, true)
EW_TESTS(EW_SIGMOID_BWD, sigmoid_backward, false)
EW_TESTS(EW_LOG_SIGMOID_FWD, log_sigmoid_forward, false)
EW_TESTS(EW_LOG_SIGMOID_BWD, log_sigmoid_backward, false)
EW_TESTS(EW_SILU_FWD, silu_forward, false)
EW_TESTS(EW_SILU_BWD, silu_backward, true)
EW_TESTS(EW_GLU_FWD, glu_forward, false)
EW_TESTS(EW_GLU_BWD, glu_backward, true)
EW_TESTS(EW_SWIGLU_FWD, swiglu_forward, false)
EW_TESTS(EW_SWIGLU_BWD, swiglu_backward, false)

/* One big f16 case: the 16-bit paths at a size past every grid's single pass. */
Test(opencl_ew, sigmoid_forward_f16_big)
{
    env e = env_open();
    ew_case(&e, EW_SIGMOID_FWD, SIGFUSE_F16, BIG_N, 1, 1.0f, 3, false);
    env_close(&e);
}

/* ---- Losses ----------------------------------------------------------------------------------- */

enum {
    OPT_WEIGHT = 1, OPT_POS_WEIGHT = 2, OPT_SMOOTH = 4, OPT_DLOSS = 8, OPT_SCALE = 16,
    OUT_LOSS = 32, OUT_DLOGITS = 64, OUT_PROBS = 128, OUT_LABELS = 256, OPT_U8_TARGETS = 512,
    OPT_FLOAT_LABELS = 1024, OPT_HARD = 2048,   /* hard targets (0 / 1) in the float dtype */
};
#define OUT_ALL (OUT_LOSS | OUT_DLOGITS | OUT_PROBS | OUT_LABELS)

static const char *red_name(sigfuse_reduction r)
{
    return r == SIGFUSE_REDUCTION_NONE ? "none" : r == SIGFUSE_REDUCTION_SUM ? "sum" : "mean";
}

/* The loss outputs' magnitudes from the per-element ones: elementwise as they are; a
 * reduced loss (one element) rounds at the sum of its terms' magnitudes (4 ulp times the
 * sum's condition number, 1 for terms >= 0), divided by n for MEAN. */
static double *loss_scale_of(const double *per_element, int64_t n, sigfuse_reduction red)
{
    if (red == SIGFUSE_REDUCTION_NONE)
        return NULL;
    double *m = scales(1);
    for (int64_t i = 0; i < n; i++)
        m[0] += per_element[i];
    if (red == SIGFUSE_REDUCTION_MEAN && n > 0)
        m[0] /= (double)n;
    return m;
}

/* The factor a loss gradient carries: grad_scale, the upstream gradient (its element, or
 * the scalar of a reduced loss), 1/n for MEAN. */
static double grad_factor(double grad_scale, const tens *dl, int64_t i, int64_t n, sigfuse_reduction red)
{
    double f = grad_scale;
    if (dl)
        f *= tu_get(&dl->h, red == SIGFUSE_REDUCTION_NONE ? i : 0);
    if (red == SIGFUSE_REDUCTION_MEAN && n > 0)
        f /= (double)n;
    return fabs(f);
}

/* Logits in [-10, 10] reach both saturated tails; targets hard (u8 or 0/1) or soft. */
static void bce_case(env *e, sigfuse_dtype dt, int64_t rows, int64_t cols, int off, sigfuse_reduction red, int opts,
                     bool extreme)
{
    const int64_t n = rows * cols;
    const bool reduced = red != SIGFUSE_REDUCTION_NONE;
    char name[200];
    snprintf(name, sizeof name,
             "bce_with_logits(opencl, %s, %lldx%lld, offset=%d, %s%s%s%s%s%s%s%s%s%s)", dt_name(dt), (long long)rows,
             (long long)cols, off, red_name(red), opts & OPT_U8_TARGETS ? ", u8 targets" : "",
             opts & OPT_HARD ? ", hard targets" : "",
             opts & OPT_WEIGHT ? ", weight" : "", opts & OPT_POS_WEIGHT ? ", pos_weight" : "",
             opts & OPT_SMOOTH ? ", smoothing" : "", opts & OPT_DLOSS ? ", dloss_in" : "",
             opts & OPT_SCALE ? ", grad_scale" : "", opts & OPT_FLOAT_LABELS ? ", float labels" : "",
             extreme ? ", extremes" : "");
    tu_rng r = tu_rng_seed(case_seed(name), name);

    tens x = t_in(e, dt, n, off, &r, -10.0, 10.0);
    tens y = (opts & OPT_U8_TARGETS) ? t_in(e, SIGFUSE_U8, n, off, &r, 0, 1)
                                     : t_in(e, dt, n, off, &r, 0.0, 1.0);
    if (opts & OPT_HARD)
        for (int64_t i = 0; i < n; i++)
            t_set(e, &y, i, (double)(tu_next(&r) >> 63), i == n - 1);
    if (extreme)
        put_loss_extremes(e, &x, &y, n);
    tens w, pw, dl;
    tens *pw_p = NULL, *w_p = NULL, *dl_p = NULL;
    if (opts & OPT_WEIGHT) {
        w = t_in(e, dt, n, off, &r, 0.0, 2.0);
        w_p = &w;
    }
    if (opts & OPT_POS_WEIGHT) {
        pw = t_in(e, dt, cols, off, &r, 0.5, 3.0);
        pw_p = &pw;
    }
    if (opts & OPT_DLOSS) {
        dl = reduced ? t_in(e, SIGFUSE_F32, 1, off, &r, -2.0, 2.0) : t_in(e, dt, n, off, &r, -2.0, 2.0);
        dl_p = &dl;
    }
    tens loss = reduced ? t_out(e, SIGFUSE_F32, 1, off) : t_out(e, dt, n, off);
    tens dx = t_out(e, dt, n, off), probs = t_out(e, dt, n, off);
    tens labels = t_out(e, opts & OPT_FLOAT_LABELS ? dt : SIGFUSE_U8, n, off);
    tens *outs[4] = {opts & OUT_LOSS ? &loss : NULL, opts & OUT_DLOGITS ? &dx : NULL, opts & OUT_PROBS ? &probs : NULL,
                     opts & OUT_LABELS ? &labels : NULL};

    sigfuse_bce_args a;
    sigfuse_bce_args_init(&a);
    a.rows = rows;
    a.cols = cols;
    a.reduction = red;
    a.label_smoothing = opts & OPT_SMOOTH ? 0.1f : 0.0f;
    a.grad_scale = opts & OPT_SCALE ? -1.75f : 1.0f;
    a.threshold = 0.375f;
    for (int side = 0; side < 2; side++) {
        const sigfuse_buffer *(*B)(tens *) = side == 0 ? H : D;
        a.logits = B(&x);
        a.targets = B(&y);
        a.weight = B(w_p);
        a.pos_weight = B(pw_p);
        a.dloss_in = B(dl_p);
        a.loss = B(outs[0]);
        a.dlogits = B(outs[1]);
        a.probs = B(outs[2]);
        a.labels = B(outs[3]);
        sigfuse_ctx *c = side == 0 ? e->cpu : e->ocl;
        must(c, sigfuse_bce_with_logits(c, &a), name, side == 0 ? "cpu" : "opencl");
    }
    tu_inputs ins = {0};
    tu_inputs_add(&ins, "x", &x.h, 0, 0, 0, 0);
    tu_inputs_add(&ins, "y", &y.h, 0, 0, 0, 0);
    tu_inputs_add(&ins, "w", w_p ? &w.h : NULL, 0, 0, 0, 0);
    tu_inputs_add(&ins, "pos_weight", pw_p ? &pw.h : NULL, cols, 0, 0, 0);
    tu_inputs_add(&ins, "dloss_in", dl_p && !reduced ? &dl.h : NULL, 0, 0, 0, 0);
    double *lm = scales(n), *gm = scales(n), *sig = scales(n);
    for (int64_t i = 0; i < n; i++) {
        double xi = tu_get(&x.h, i);
        tu_scale_bce(xi, tu_get(&y.h, i), w_p ? tu_get(&w.h, i) : 1.0, pw_p ? tu_get(&pw.h, i % cols) : 1.0,
                     (double)a.label_smoothing, &lm[i], &gm[i]);
        gm[i] *= grad_factor((double)a.grad_scale, dl_p, i, n, red);
        sig[i] = tu_sigmoid_d(xi);
    }
    double *lsum = loss_scale_of(lm, n, red);
    if (outs[0])
        t_check(e, &loss, reduced ? lsum : lm, reduced ? NULL : &ins, "loss", name);
    if (outs[1])
        t_check(e, &dx, gm, &ins, "dlogits", name);
    if (outs[2])
        t_check(e, &probs, NULL, &ins, "probs", name);
    if (outs[3])
        t_check_labels(e, &labels, sig, NULL, (double)a.threshold, name);
    free(lm);
    free(gm);
    free(sig);
    free(lsum);
    for (int k = 0; k < 4; k++)
        if (!outs[k])
            cr_expect(d_untouched(e, &(k == 0 ? &loss : k == 1 ? &dx : k == 2 ? &probs : &labels)->d),
                      "%s: an absent output was written", name);
    t_free(&x);
    t_free(&y);
    t_free(w_p);
    t_free(pw_p);
    t_free(dl_p);
    t_free(&loss);
    t_free(&dx);
    t_free(&probs);
    t_free(&labels);
}

/* Shapes of 0, 1, 7, 1023 and 4097 elements; odd column counts so that rows straddle
 * work-items and pos_weight's column walk wraps. */
static const int64_t loss_shapes[][2] = {{0, 5}, {1, 1}, {1, 7}, {3, 341}, {17, 241}};
#define N_LOSS_SHAPES ((int)(sizeof loss_shapes / sizeof loss_shapes[0]))

static void bce_suite(sigfuse_dtype dt)
{
    env e = env_open();
    const sigfuse_reduction reds[] = {SIGFUSE_REDUCTION_NONE, SIGFUSE_REDUCTION_SUM, SIGFUSE_REDUCTION_MEAN};
    /* Every option alone, and all at once. */
    const int option_sets[] = {
        OUT_ALL,
        OUT_ALL | OPT_U8_TARGETS,
        OUT_ALL | OPT_WEIGHT | OPT_POS_WEIGHT | OPT_SMOOTH | OPT_DLOSS | OPT_SCALE | OPT_FLOAT_LABELS,
        OUT_LOSS | OPT_POS_WEIGHT,
        OUT_DLOGITS | OPT_DLOSS | OPT_U8_TARGETS,
        OUT_PROBS | OUT_LABELS,
    };
    for (int s = 0; s < N_LOSS_SHAPES; s++)
        for (int ri = 0; ri < 3; ri++)
            for (size_t o = 0; o < sizeof option_sets / sizeof option_sets[0]; o++)
                bce_case(&e, dt, loss_shapes[s][0], loss_shapes[s][1], (int)(o % 2), reds[ri], option_sets[o],
                         false);
    /* The extremes with hard (u8 and float) and soft targets, label smoothing, pos_weight,
     * weight. */
    for (int ri = 0; ri < 3; ri++) {
        bce_case(&e, dt, 3, 341, 1, reds[ri], OUT_ALL | OPT_U8_TARGETS | OPT_POS_WEIGHT, true);
        bce_case(&e, dt, 3, 341, 1, reds[ri], OUT_ALL | OPT_WEIGHT | OPT_SMOOTH | OPT_DLOSS, true);
        bce_case(&e, dt, 3, 341, 0, reds[ri], OUT_ALL | OPT_HARD, true);
        bce_case(&e, dt, 3, 341, 0, reds[ri], OUT_ALL | OPT_HARD | OPT_SMOOTH | OPT_POS_WEIGHT | OPT_SCALE, true);
    }
    env_close(&e);
}

Test(opencl_bce, f32) { bce_suite(SIGFUSE_F32); }
Test(opencl_bce, f16) { bce_suite(SIGFUSE_F16); }
Test(opencl_bce, bf16) { bce_suite(SIGFUSE_BF16); }

Test(opencl_bce, f32_big_1x1048579)
{
    env e = env_open();
    bce_case(&e, SIGFUSE_F32, 1, BIG_N, 1, SIGFUSE_REDUCTION_MEAN, OUT_ALL | OPT_POS_WEIGHT | OPT_U8_TARGETS, false);
    bce_case(&e, SIGFUSE_F32, 1021, 1027, 0, SIGFUSE_REDUCTION_SUM, OUT_LOSS | OUT_DLOGITS | OPT_WEIGHT, false);
    env_close(&e);
}

Test(opencl_bce, bf16_big_1x1048579)
{
    env e = env_open();
    bce_case(&e, SIGFUSE_BF16, 1, BIG_N, 1, SIGFUSE_REDUCTION_SUM, OUT_LOSS | OUT_DLOGITS | OPT_POS_WEIGHT, false);
    env_close(&e);
}

static void focal_case(env *e, sigfuse_dtype dt, int64_t rows, int64_t cols, int off, sigfuse_reduction red,
                       float alpha, float gamma, int opts, bool extreme)
{
    const int64_t n = rows * cols;
    const bool reduced = red != SIGFUSE_REDUCTION_NONE;
    char name[200];
    snprintf(name, sizeof name, "sigmoid_focal(opencl, %s, %lldx%lld, offset=%d, %s, alpha=%g, gamma=%g%s%s%s%s%s)",
             dt_name(dt), (long long)rows, (long long)cols, off, red_name(red), (double)alpha, (double)gamma,
             opts & OPT_U8_TARGETS ? ", u8 targets" : "", opts & OPT_HARD ? ", hard targets" : "",
             opts & OPT_DLOSS ? ", dloss_in" : "",
             opts & OPT_SCALE ? ", grad_scale" : "", extreme ? ", extremes" : "");
    tu_rng r = tu_rng_seed(case_seed(name), name);
    tens x = t_in(e, dt, n, off, &r, -10.0, 10.0);
    tens y = (opts & OPT_U8_TARGETS) ? t_in(e, SIGFUSE_U8, n, off, &r, 0, 1) : t_in(e, dt, n, off, &r, 0.0, 1.0);
    if (opts & OPT_HARD)
        for (int64_t i = 0; i < n; i++)
            t_set(e, &y, i, (double)(tu_next(&r) >> 63), i == n - 1);
    if (extreme)
        put_loss_extremes(e, &x, &y, n);
    tens dl;
    tens *dl_p = NULL;
    if (opts & OPT_DLOSS) {
        dl = reduced ? t_in(e, SIGFUSE_F32, 1, off, &r, -2.0, 2.0) : t_in(e, dt, n, off, &r, -2.0, 2.0);
        dl_p = &dl;
    }
    tens loss = reduced ? t_out(e, SIGFUSE_F32, 1, off) : t_out(e, dt, n, off);
    tens dx = t_out(e, dt, n, off);
    tens *lp = opts & OUT_LOSS ? &loss : NULL, *dp = opts & OUT_DLOGITS ? &dx : NULL;

    sigfuse_focal_args a;
    sigfuse_focal_args_init(&a);
    a.rows = rows;
    a.cols = cols;
    a.reduction = red;
    a.alpha = alpha;
    a.gamma = gamma;
    a.grad_scale = opts & OPT_SCALE ? 0.625f : 1.0f;
    for (int side = 0; side < 2; side++) {
        const sigfuse_buffer *(*B)(tens *) = side == 0 ? H : D;
        a.logits = B(&x);
        a.targets = B(&y);
        a.dloss_in = B(dl_p);
        a.loss = B(lp);
        a.dlogits = B(dp);
        sigfuse_ctx *c = side == 0 ? e->cpu : e->ocl;
        must(c, sigfuse_sigmoid_focal(c, &a), name, side == 0 ? "cpu" : "opencl");
    }
    tu_inputs ins = {0};
    tu_inputs_add(&ins, "x", &x.h, 0, 0, 0, 0);
    tu_inputs_add(&ins, "y", &y.h, 0, 0, 0, 0);
    tu_inputs_add(&ins, "dloss_in", dl_p && !reduced ? &dl.h : NULL, 0, 0, 0, 0);
    double *lm = scales(n), *gm = scales(n);
    for (int64_t i = 0; i < n; i++) {
        tu_scale_focal(tu_get(&x.h, i), tu_get(&y.h, i), (double)alpha, (double)gamma, &lm[i], &gm[i]);
        gm[i] *= grad_factor((double)a.grad_scale, dl_p, i, n, red);
    }
    double *lsum = loss_scale_of(lm, n, red);
    if (lp)
        t_check(e, lp, reduced ? lsum : lm, reduced ? NULL : &ins, "loss", name);
    else
        cr_expect(d_untouched(e, &loss.d), "%s: absent loss written", name);
    free(lm);
    free(lsum);
    if (dp)
        t_check(e, dp, gm, &ins, "dlogits", name);
    else
        cr_expect(d_untouched(e, &dx.d), "%s: absent dlogits written", name);
    free(gm);
    t_free(&x);
    t_free(&y);
    t_free(dl_p);
    t_free(&loss);
    t_free(&dx);
}

static void focal_suite(sigfuse_dtype dt)
{
    env e = env_open();
    const sigfuse_reduction reds[] = {SIGFUSE_REDUCTION_NONE, SIGFUSE_REDUCTION_SUM, SIGFUSE_REDUCTION_MEAN};
    const float params[][2] = {{0.25f, 2.0f}, {-1.0f, 0.0f}, {0.75f, 0.5f}, {0.25f, 5.0f}};
    const int option_sets[] = {
        OUT_LOSS | OUT_DLOGITS,
        OUT_LOSS | OUT_DLOGITS | OPT_U8_TARGETS | OPT_DLOSS | OPT_SCALE,
        OUT_DLOGITS | OPT_DLOSS,
        OUT_LOSS | OPT_U8_TARGETS,
    };
    for (int s = 0; s < N_LOSS_SHAPES; s++)
        for (int ri = 0; ri < 3; ri++)
            for (int o = 0; o < 4; o++)
                focal_case(&e, dt, loss_shapes[s][0], loss_shapes[s][1], o % 2, reds[ri], params[o][0], params[o][1],
                           option_sets[o], false);
    /* The extremes: every gamma the header names, alpha absent and present, hard targets
     * (float and u8) and soft ones, each logit of the sweep with y = 1, y = 0 and a random y. */
    const float gammas[] = {0.0f, 0.5f, 1.0f, 2.0f, 5.0f}, alphas[] = {-1.0f, 0.25f};
    const int target_kinds[] = {OPT_HARD, OPT_U8_TARGETS, 0};
    for (int ri = 0; ri < 3; ri++)
        for (int g = 0; g < 5; g++)
            for (int al = 0; al < 2; al++)
                focal_case(&e, dt, 3, 341, (g + al) % 2, reds[ri], alphas[al], gammas[g],
                           OUT_LOSS | OUT_DLOGITS | target_kinds[(g + al + ri) % 3] | (ri == 2 ? OPT_SCALE : 0), true);
    /* The gradient alone with u8 targets: a form of its own, exact without a fallback. */
    for (int g = 0; g < 5; g++)
        focal_case(&e, dt, 3, 341, g % 2, reds[g % 3], alphas[g % 2], gammas[g], OUT_DLOGITS | OPT_U8_TARGETS, true);
    env_close(&e);
}

Test(opencl_focal, f32) { focal_suite(SIGFUSE_F32); }
Test(opencl_focal, f16) { focal_suite(SIGFUSE_F16); }
Test(opencl_focal, bf16) { focal_suite(SIGFUSE_BF16); }

/* ---- Recurrent cells ---------------------------------------------------------------------------- */

enum {
    CELL_GATES_H = 1, CELL_BIAS = 2, CELL_BIAS_H = 4,          /* optional inputs */
    CELL_DH = 8, CELL_DC = 16,                                   /* lstm backward upstream */
    CELL_OUT_A = 32, CELL_OUT_B = 64, CELL_OUT_C = 128,          /* h, c / dgates, dc_prev, dbias ... */
    CELL_OUT_D = 256, CELL_OUT_E = 512,                          /* gru: dbias_x, dbias_h */
};

/* The cells' magnitudes, per element of each output (tu_scale_lstm / tu_scale_gru on the
 * inputs of that row and unit). A bias gradient sums its column of the gate gradients
 * over B rows: its magnitude is the sum of theirs (terms of both signs). */
typedef struct lstm_scales {
    double *h, *c, *dgates, *dcp, *dbias;
} lstm_scales;

static lstm_scales lstm_scales_of(int64_t B, int64_t Hd, const tens *gx, const tens *gh, const tens *bias,
                                  const tens *cp, const tens *dh, const tens *dc)
{
    lstm_scales m = {scales(B * Hd), scales(B * Hd), scales(B * 4 * Hd), scales(B * Hd), scales(4 * Hd)};
    for (int64_t b = 0; b < B; b++)
        for (int64_t j = 0; j < Hd; j++) {
            tu_lstm_in in;
            memset(&in, 0, sizeof in);
            for (int k = 0; k < 4; k++) {
                int64_t g = b * 4 * Hd + k * Hd + j;
                in.gx[k] = tu_get(&gx->h, g);
                in.gh[k] = gh ? tu_get(&gh->h, g) : 0.0;
                in.b[k] = bias ? tu_get(&bias->h, k * Hd + j) : 0.0;
            }
            in.has_h = gh != NULL;
            in.has_b = bias != NULL;
            in.cp = tu_get(&cp->h, b * Hd + j);
            in.dh = dh ? tu_get(&dh->h, b * Hd + j) : 0.0;
            in.dc = dc ? tu_get(&dc->h, b * Hd + j) : 0.0;
            double dg[4];
            tu_scale_lstm(&in, &m.c[b * Hd + j], &m.h[b * Hd + j], dg, &m.dcp[b * Hd + j]);
            for (int k = 0; k < 4; k++) {
                m.dgates[b * 4 * Hd + k * Hd + j] = dg[k];
                m.dbias[k * Hd + j] += dg[k];
            }
        }
    return m;
}

static void lstm_scales_free(lstm_scales *m)
{
    free(m->h), free(m->c), free(m->dgates), free(m->dcp), free(m->dbias);
}

/* The inputs of element i of an LSTM output: [B, H] outputs (h, c, dc_prev) read gate k
 * of their row at b 4H + k H + j; [B, 4H] (dgates) read their own gate and c_prev. */
static tu_inputs lstm_inputs(int64_t Hd, bool per_gate, const tens *gx, const tens *gh, const tens *bias,
                             const tens *cp, const tens *dh, const tens *dc)
{
    tu_inputs ins = {0};
    static const char *const gxn[4] = {"gx_i", "gx_f", "gx_g", "gx_o"}, *const ghn[4] = {"gh_i", "gh_f", "gh_g", "gh_o"};
    if (per_gate) {
        tu_inputs_add(&ins, "gates_x", &gx->h, 0, 0, 0, 0);
        tu_inputs_add(&ins, "gates_h", gh ? &gh->h : NULL, 0, 0, 0, 0);
        tu_inputs_add(&ins, "bias", bias ? &bias->h : NULL, 4 * Hd, 0, 0, 0);
        tu_inputs_add(&ins, "c_prev", &cp->h, 4 * Hd, Hd, Hd, 0);
        tu_inputs_add(&ins, "dh", dh ? &dh->h : NULL, 4 * Hd, Hd, Hd, 0);
        tu_inputs_add(&ins, "dc", dc ? &dc->h : NULL, 4 * Hd, Hd, Hd, 0);
        return ins;
    }
    for (int k = 0; k < 4 && !gh; k++)
        tu_inputs_add(&ins, gxn[k], &gx->h, Hd, 4 * Hd, 0, k * Hd);
    for (int k = 0; k < 2 && gh; k++) {   /* with gates_h: the i and f gates of both (8 at most) */
        tu_inputs_add(&ins, gxn[k], &gx->h, Hd, 4 * Hd, 0, k * Hd);
        tu_inputs_add(&ins, ghn[k], &gh->h, Hd, 4 * Hd, 0, k * Hd);
    }
    tu_inputs_add(&ins, "c_prev", &cp->h, 0, 0, 0, 0);
    tu_inputs_add(&ins, "dh", dh ? &dh->h : NULL, 0, 0, 0, 0);
    tu_inputs_add(&ins, "dc", dc ? &dc->h : NULL, 0, 0, 0, 0);
    return ins;
}

static void cell_name(char *name, size_t size, const char *op, sigfuse_dtype dt, int64_t B, int64_t H, int off,
                      int opts, bool extreme)
{
    snprintf(name, size, "%s(opencl, %s, B=%lld, H=%lld, offset=%d, opts=%#x%s)", op, dt_name(dt), (long long)B,
             (long long)H, off, (unsigned)opts, extreme ? ", extremes" : "");
}

static void lstm_fwd_case(env *e, sigfuse_dtype dt, int64_t B, int64_t Hd, int off, int opts, bool extreme)
{
    char name[200];
    cell_name(name, sizeof name, "lstm_cell_forward", dt, B, Hd, off, opts, extreme);
    tu_rng r = tu_rng_seed(case_seed(name), name);
    tens gx = t_in(e, dt, B * 4 * Hd, off, &r, -4.0, 4.0), gh, bias;
    tens *ghp = NULL, *bp = NULL;
    if (extreme)
        put_extremes(e, &gx, B * 4 * Hd);
    if (opts & CELL_GATES_H) {
        gh = t_in(e, dt, B * 4 * Hd, off, &r, -2.0, 2.0);
        ghp = &gh;
    }
    if (opts & CELL_BIAS) {
        bias = t_in(e, dt, 4 * Hd, off, &r, -1.0, 1.0);
        bp = &bias;
    }
    tens cp = t_in(e, dt, B * Hd, off, &r, -2.0, 2.0);
    tens h = t_out(e, dt, B * Hd, off), c = t_out(e, dt, B * Hd, off);
    tens *hp = opts & CELL_OUT_A ? &h : NULL, *cpp = opts & CELL_OUT_B ? &c : NULL;
    for (int side = 0; side < 2; side++) {
        const sigfuse_buffer *(*Bf)(tens *) = side == 0 ? H : D;
        sigfuse_lstm_forward_args a = {B, Hd, Bf(&gx), Bf(ghp), Bf(bp), Bf(&cp), Bf(hp), Bf(cpp)};
        sigfuse_ctx *ctx = side == 0 ? e->cpu : e->ocl;
        must(ctx, sigfuse_lstm_cell_forward(ctx, &a), name, side == 0 ? "cpu" : "opencl");
    }
    lstm_scales m = lstm_scales_of(B, Hd, &gx, ghp, bp, &cp, NULL, NULL);
    tu_inputs ins = lstm_inputs(Hd, false, &gx, ghp, bp, &cp, NULL, NULL);
    if (hp)
        t_check(e, hp, m.h, &ins, "h", name);
    else
        cr_expect(d_untouched(e, &h.d), "%s: absent h written", name);
    if (cpp)
        t_check(e, cpp, m.c, &ins, "c", name);
    else
        cr_expect(d_untouched(e, &c.d), "%s: absent c written", name);
    lstm_scales_free(&m);
    t_free(&gx);
    t_free(ghp);
    t_free(bp);
    t_free(&cp);
    t_free(&h);
    t_free(&c);
}

static void lstm_bwd_case(env *e, sigfuse_dtype dt, int64_t B, int64_t Hd, int off, int opts, bool extreme)
{
    char name[200];
    cell_name(name, sizeof name, "lstm_cell_backward", dt, B, Hd, off, opts, extreme);
    tu_rng r = tu_rng_seed(case_seed(name), name);
    tens gx = t_in(e, dt, B * 4 * Hd, off, &r, -4.0, 4.0), gh, bias, dh, dc;
    tens *ghp = NULL, *bp = NULL, *dhp = NULL, *dcp = NULL;
    if (extreme)
        put_extremes(e, &gx, B * 4 * Hd);
    if (opts & CELL_GATES_H) {
        gh = t_in(e, dt, B * 4 * Hd, off, &r, -2.0, 2.0);
        ghp = &gh;
    }
    if (opts & CELL_BIAS) {
        bias = t_in(e, dt, 4 * Hd, off, &r, -1.0, 1.0);
        bp = &bias;
    }
    tens cprev = t_in(e, dt, B * Hd, off, &r, -2.0, 2.0);
    if (opts & CELL_DH) {
        dh = t_in(e, dt, B * Hd, off, &r, -1.0, 1.0);
        dhp = &dh;
    }
    if (opts & CELL_DC) {
        dc = t_in(e, dt, B * Hd, off, &r, -1.0, 1.0);
        dcp = &dc;
    }
    tens dg = t_out(e, dt, B * 4 * Hd, off), dcprev = t_out(e, dt, B * Hd, off), db = t_out(e, dt, 4 * Hd, off);
    tens *o[3] = {opts & CELL_OUT_A ? &dg : NULL, opts & CELL_OUT_B ? &dcprev : NULL, opts & CELL_OUT_C ? &db : NULL};
    for (int side = 0; side < 2; side++) {
        const sigfuse_buffer *(*Bf)(tens *) = side == 0 ? H : D;
        sigfuse_lstm_backward_args a = {B,       Hd,       Bf(&gx), Bf(ghp),  Bf(bp),  Bf(&cprev),
                                        Bf(dhp), Bf(dcp), Bf(o[0]), Bf(o[1]), Bf(o[2])};
        sigfuse_ctx *ctx = side == 0 ? e->cpu : e->ocl;
        must(ctx, sigfuse_lstm_cell_backward(ctx, &a), name, side == 0 ? "cpu" : "opencl");
    }
    const char *what[3] = {"dgates", "dc_prev", "dbias"};
    tens *all[3] = {&dg, &dcprev, &db};
    lstm_scales m = lstm_scales_of(B, Hd, &gx, ghp, bp, &cprev, dhp, dcp);
    tu_inputs ins_g = lstm_inputs(Hd, true, &gx, ghp, bp, &cprev, dhp, dcp);
    tu_inputs ins_c = lstm_inputs(Hd, false, &gx, ghp, bp, &cprev, dhp, dcp);
    const double *ms[3] = {m.dgates, m.dcp, m.dbias};
    const tu_inputs *insk[3] = {&ins_g, &ins_c, NULL};
    for (int k = 0; k < 3; k++) {
        if (o[k])
            t_check(e, o[k], ms[k], insk[k], what[k], name);
        else
            cr_expect(d_untouched(e, &all[k]->d), "%s: absent %s written", name, what[k]);
    }
    lstm_scales_free(&m);
    t_free(&gx);
    t_free(ghp);
    t_free(bp);
    t_free(&cprev);
    t_free(dhp);
    t_free(dcp);
    t_free(&dg);
    t_free(&dcprev);
    t_free(&db);
}

/* 1, 21, 1023 and 4097 hidden units in all (B x H), plus an empty batch; 1 x 2304 puts
 * 4H = 9216 bias columns across many work-groups; 300 x 5 gives many row chunks. */
static const int64_t cell_shapes[][2] = {{1, 1}, {7, 3}, {33, 31}, {17, 241}, {300, 5}, {1, 2304}};
#define N_CELL_SHAPES ((int)(sizeof cell_shapes / sizeof cell_shapes[0]))

static void lstm_suite(sigfuse_dtype dt)
{
    env e = env_open();
    const int fwd_sets[] = {CELL_OUT_A | CELL_OUT_B, CELL_GATES_H | CELL_BIAS | CELL_OUT_A | CELL_OUT_B,
                            CELL_BIAS | CELL_OUT_A, CELL_GATES_H | CELL_OUT_B};
    const int bwd_sets[] = {
        CELL_DH | CELL_DC | CELL_OUT_A | CELL_OUT_B | CELL_OUT_C,
        CELL_GATES_H | CELL_BIAS | CELL_DH | CELL_DC | CELL_OUT_A | CELL_OUT_B | CELL_OUT_C,
        CELL_BIAS | CELL_DH | CELL_OUT_C,
        CELL_GATES_H | CELL_DC | CELL_OUT_A | CELL_OUT_B,
    };
    for (int s = 0; s < N_CELL_SHAPES; s++)
        for (int o = 0; o < 4; o++) {
            lstm_fwd_case(&e, dt, cell_shapes[s][0], cell_shapes[s][1], o % 2, fwd_sets[o], false);
            lstm_bwd_case(&e, dt, cell_shapes[s][0], cell_shapes[s][1], o % 2, bwd_sets[o], false);
        }
    lstm_fwd_case(&e, dt, 33, 31, 1, fwd_sets[1], true);
    lstm_bwd_case(&e, dt, 33, 31, 1, bwd_sets[1], true);
    /* An empty batch still writes a zero bias gradient. */
    lstm_bwd_case(&e, dt, 0, 9, 1, CELL_DH | CELL_OUT_C, false);
    env_close(&e);
}

Test(opencl_lstm, f32) { lstm_suite(SIGFUSE_F32); }
Test(opencl_lstm, f16) { lstm_suite(SIGFUSE_F16); }
Test(opencl_lstm, bf16) { lstm_suite(SIGFUSE_BF16); }

typedef struct gru_scales {
    double *h, *dgx, *dgh, *dhp, *dbx, *dbh;
} gru_scales;

static gru_scales gru_scales_of(int64_t B, int64_t Hd, const tens *gi, const tens *gh, const tens *bx,
                                const tens *bh, const tens *hp, const tens *dh)
{
    gru_scales m = {scales(B * Hd), scales(B * 3 * Hd), scales(B * 3 * Hd), scales(B * Hd), scales(3 * Hd),
                    scales(3 * Hd)};
    for (int64_t b = 0; b < B; b++)
        for (int64_t j = 0; j < Hd; j++) {
            tu_gru_in in;
            memset(&in, 0, sizeof in);
            for (int k = 0; k < 3; k++) {
                int64_t g = b * 3 * Hd + k * Hd + j;
                in.gi[k] = tu_get(&gi->h, g);
                in.gh[k] = tu_get(&gh->h, g);
                in.bx[k] = bx ? tu_get(&bx->h, k * Hd + j) : 0.0;
                in.bh[k] = bh ? tu_get(&bh->h, k * Hd + j) : 0.0;
            }
            in.has_bx = bx != NULL;
            in.has_bh = bh != NULL;
            in.hp = tu_get(&hp->h, b * Hd + j);
            in.dh = dh ? tu_get(&dh->h, b * Hd + j) : 0.0;
            double dgx[3], dgh[3];
            tu_scale_gru(&in, &m.h[b * Hd + j], dgx, dgh, &m.dhp[b * Hd + j]);
            for (int k = 0; k < 3; k++) {
                m.dgx[b * 3 * Hd + k * Hd + j] = dgx[k];
                m.dgh[b * 3 * Hd + k * Hd + j] = dgh[k];
                m.dbx[k * Hd + j] += dgx[k];
                m.dbh[k * Hd + j] += dgh[k];
            }
        }
    return m;
}

static void gru_scales_free(gru_scales *m)
{
    free(m->h), free(m->dgx), free(m->dgh), free(m->dhp), free(m->dbx), free(m->dbh);
}

/* The inputs of element i of a GRU output ([B, H]: the r, z, n gates of gates_x and
 * gates_h and h_prev; [B, 3H]: its own gates, h_prev and dh). */
static tu_inputs gru_inputs(int64_t Hd, bool per_gate, const tens *gi, const tens *gh, const tens *hp,
                            const tens *dh)
{
    tu_inputs ins = {0};
    static const char *const gin[3] = {"gx_r", "gx_z", "gx_n"}, *const ghn[3] = {"gh_r", "gh_z", "gh_n"};
    if (per_gate) {
        tu_inputs_add(&ins, "gates_x", &gi->h, 0, 0, 0, 0);
        tu_inputs_add(&ins, "gates_h", &gh->h, 0, 0, 0, 0);
        tu_inputs_add(&ins, "h_prev", &hp->h, 3 * Hd, Hd, Hd, 0);
        tu_inputs_add(&ins, "dh", dh ? &dh->h : NULL, 3 * Hd, Hd, Hd, 0);
        return ins;
    }
    for (int k = 0; k < 3; k++) {
        tu_inputs_add(&ins, gin[k], &gi->h, Hd, 3 * Hd, 0, k * Hd);
        tu_inputs_add(&ins, ghn[k], &gh->h, Hd, 3 * Hd, 0, k * Hd);
    }
    tu_inputs_add(&ins, "h_prev", &hp->h, 0, 0, 0, 0);
    tu_inputs_add(&ins, "dh", dh ? &dh->h : NULL, 0, 0, 0, 0);
    return ins;
}

static void gru_fwd_case(env *e, sigfuse_dtype dt, int64_t B, int64_t Hd, int off, int opts, bool extreme)
{
    char name[200];
    cell_name(name, sizeof name, "gru_cell_forward", dt, B, Hd, off, opts, extreme);
    tu_rng r = tu_rng_seed(case_seed(name), name);
    tens gx = t_in(e, dt, B * 3 * Hd, off, &r, -4.0, 4.0), gh = t_in(e, dt, B * 3 * Hd, off, &r, -2.0, 2.0);
    tens bx, bh;
    tens *bxp = NULL, *bhp = NULL;
    if (extreme)
        put_extremes(e, &gx, B * 3 * Hd);
    if (opts & CELL_BIAS) {
        bx = t_in(e, dt, 3 * Hd, off, &r, -1.0, 1.0);
        bxp = &bx;
    }
    if (opts & CELL_BIAS_H) {
        bh = t_in(e, dt, 3 * Hd, off, &r, -1.0, 1.0);
        bhp = &bh;
    }
    tens hprev = t_in(e, dt, B * Hd, off, &r, -1.0, 1.0), h = t_out(e, dt, B * Hd, off);
    for (int side = 0; side < 2; side++) {
        const sigfuse_buffer *(*Bf)(tens *) = side == 0 ? H : D;
        sigfuse_gru_forward_args a = {B, Hd, Bf(&gx), Bf(&gh), Bf(bxp), Bf(bhp), Bf(&hprev), Bf(&h)};
        sigfuse_ctx *ctx = side == 0 ? e->cpu : e->ocl;
        must(ctx, sigfuse_gru_cell_forward(ctx, &a), name, side == 0 ? "cpu" : "opencl");
    }
    gru_scales m = gru_scales_of(B, Hd, &gx, &gh, bxp, bhp, &hprev, NULL);
    tu_inputs ins = gru_inputs(Hd, false, &gx, &gh, &hprev, NULL);
    t_check(e, &h, m.h, &ins, "h", name);
    gru_scales_free(&m);
    t_free(&gx);
    t_free(&gh);
    t_free(bxp);
    t_free(bhp);
    t_free(&hprev);
    t_free(&h);
}

static void gru_bwd_case(env *e, sigfuse_dtype dt, int64_t B, int64_t Hd, int off, int opts, bool extreme)
{
    char name[200];
    cell_name(name, sizeof name, "gru_cell_backward", dt, B, Hd, off, opts, extreme);
    tu_rng r = tu_rng_seed(case_seed(name), name);
    tens gx = t_in(e, dt, B * 3 * Hd, off, &r, -4.0, 4.0), gh = t_in(e, dt, B * 3 * Hd, off, &r, -2.0, 2.0);
    tens bx, bh;
    tens *bxp = NULL, *bhp = NULL;
    if (extreme)
        put_extremes(e, &gx, B * 3 * Hd);
    if (opts & CELL_BIAS) {
        bx = t_in(e, dt, 3 * Hd, off, &r, -1.0, 1.0);
        bxp = &bx;
    }
    if (opts & CELL_BIAS_H) {
        bh = t_in(e, dt, 3 * Hd, off, &r, -1.0, 1.0);
        bhp = &bh;
    }
    tens hprev = t_in(e, dt, B * Hd, off, &r, -1.0, 1.0), dh = t_in(e, dt, B * Hd, off, &r, -1.0, 1.0);
    tens dgx = t_out(e, dt, B * 3 * Hd, off), dgh = t_out(e, dt, B * 3 * Hd, off), dhprev = t_out(e, dt, B * Hd, off);
    tens dbx = t_out(e, dt, 3 * Hd, off), dbh = t_out(e, dt, 3 * Hd, off);
    tens *all[5] = {&dgx, &dgh, &dhprev, &dbx, &dbh};
    tens *o[5];
    for (int k = 0; k < 5; k++)
        o[k] = (opts & (CELL_OUT_A << k)) ? all[k] : NULL;
    for (int side = 0; side < 2; side++) {
        const sigfuse_buffer *(*Bf)(tens *) = side == 0 ? H : D;
        sigfuse_gru_backward_args a = {B,        Hd,       Bf(&gx),  Bf(&gh),  Bf(bxp),  Bf(bhp), Bf(&hprev),
                                       Bf(&dh),  Bf(o[0]), Bf(o[1]), Bf(o[2]), Bf(o[3]), Bf(o[4])};
        sigfuse_ctx *ctx = side == 0 ? e->cpu : e->ocl;
        must(ctx, sigfuse_gru_cell_backward(ctx, &a), name, side == 0 ? "cpu" : "opencl");
    }
    const char *what[5] = {"dgates_x", "dgates_h", "dh_prev", "dbias_x", "dbias_h"};
    gru_scales m = gru_scales_of(B, Hd, &gx, &gh, bxp, bhp, &hprev, &dh);
    tu_inputs ins_g = gru_inputs(Hd, true, &gx, &gh, &hprev, &dh), ins_h = gru_inputs(Hd, false, &gx, &gh, &hprev, &dh);
    const double *ms[5] = {m.dgx, m.dgh, m.dhp, m.dbx, m.dbh};
    const tu_inputs *insk[5] = {&ins_g, &ins_g, &ins_h, NULL, NULL};
    for (int k = 0; k < 5; k++) {
        if (o[k])
            t_check(e, o[k], ms[k], insk[k], what[k], name);
        else
            cr_expect(d_untouched(e, &all[k]->d), "%s: absent %s written", name, what[k]);
    }
    t_free(&gx);
    t_free(&gh);
    t_free(bxp);
    t_free(bhp);
    t_free(&hprev);
    t_free(&dh);
    for (int k = 0; k < 5; k++)
        t_free(all[k]);
    gru_scales_free(&m);
}

static void gru_suite(sigfuse_dtype dt)
{
    env e = env_open();
    const int fwd_sets[] = {0, CELL_BIAS | CELL_BIAS_H, CELL_BIAS, CELL_BIAS_H};
    const int outs_all = CELL_OUT_A | CELL_OUT_B | CELL_OUT_C | CELL_OUT_D | CELL_OUT_E;
    const int bwd_sets[] = {
        outs_all,
        CELL_BIAS | CELL_BIAS_H | outs_all,
        CELL_BIAS | CELL_OUT_D,
        CELL_BIAS_H | CELL_OUT_B | CELL_OUT_C | CELL_OUT_E,
    };
    for (int s = 0; s < N_CELL_SHAPES; s++)
        for (int o = 0; o < 4; o++) {
            gru_fwd_case(&e, dt, cell_shapes[s][0], cell_shapes[s][1], o % 2, fwd_sets[o], false);
            gru_bwd_case(&e, dt, cell_shapes[s][0], cell_shapes[s][1], o % 2, bwd_sets[o], false);
        }
    gru_fwd_case(&e, dt, 33, 31, 1, fwd_sets[1], true);
    gru_bwd_case(&e, dt, 33, 31, 1, bwd_sets[1], true);
    gru_bwd_case(&e, dt, 0, 9, 1, CELL_OUT_D | CELL_OUT_E, false);
    env_close(&e);
}

/* The header lets a cell's output be the very buffer of a same-shape input. Every output
 * at once in place (LSTM forward: c in c_prev; backward: dgates in gates_x, dc_prev in dc,
 * dbias in bias. GRU forward: h in h_prev; backward: dgates_x in gates_x, dgates_h in
 * gates_h, dh_prev in dh, dbias_x in bias_x, dbias_h in bias_h): the device, in place,
 * must give what the reference gives into separate buffers. */
static void cells_in_place_case(env *e, sigfuse_dtype dt, int64_t B, int64_t Hd)
{
    char name[200];
    snprintf(name, sizeof name, "cells(opencl, %s, B=%lld, H=%lld, every output in place)", dt_name(dt),
             (long long)B, (long long)Hd);
    tu_rng r = tu_rng_seed(case_seed(name), name);
    const int64_t bh = B * Hd;

    /* LSTM: the reference into separate outputs, then the device in place. */
    tens gx = t_in(e, dt, 4 * bh, 0, &r, -4.0, 4.0), gh = t_in(e, dt, 4 * bh, 0, &r, -2.0, 2.0);
    tens bias = t_in(e, dt, 4 * Hd, 0, &r, -1.0, 1.0), cprev = t_in(e, dt, bh, 0, &r, -2.0, 2.0);
    tens dh = t_in(e, dt, bh, 0, &r, -1.0, 1.0), dc = t_in(e, dt, bh, 0, &r, -1.0, 1.0);
    tens h = t_out(e, dt, bh, 0), c = t_out(e, dt, bh, 0);
    tens dg = t_out(e, dt, 4 * bh, 0), dcp = t_out(e, dt, bh, 0), db = t_out(e, dt, 4 * Hd, 0);
    sigfuse_lstm_backward_args rb = {B, Hd, H(&gx), H(&gh), H(&bias), H(&cprev), H(&dh), H(&dc),
                                     H(&dg), H(&dcp), H(&db)};
    must(e->cpu, sigfuse_lstm_cell_backward(e->cpu, &rb), name, "cpu");
    sigfuse_lstm_forward_args rf = {B, Hd, H(&gx), H(&gh), H(&bias), H(&cprev), H(&h), H(&c)};
    must(e->cpu, sigfuse_lstm_cell_forward(e->cpu, &rf), name, "cpu");
    /* The backward first: the forward then overwrites c_prev. */
    sigfuse_lstm_backward_args db_args = {B, Hd, D(&gx), D(&gh), D(&bias), D(&cprev), D(&dh), D(&dc),
                                          D(&gx), D(&dc), D(&bias)};
    must(e->ocl, sigfuse_lstm_cell_backward(e->ocl, &db_args), name, "opencl");
    /* gates_x and bias now hold gradients: the forward reads the reference's copies. */
    tens gx2 = t_copy(e, &gx), bias2 = t_copy(e, &bias);
    sigfuse_lstm_forward_args df = {B, Hd, D(&gx2), D(&gh), D(&bias2), D(&cprev), D(&h), D(&cprev)};
    must(e->ocl, sigfuse_lstm_cell_forward(e->ocl, &df), name, "opencl");
    tens got[] = {{dg.h, gx.d, dt}, {dcp.h, dc.d, dt}, {db.h, bias.d, dt}, {h.h, h.d, dt}, {c.h, cprev.d, dt}};
    const char *what[] = {"lstm dgates (in gates_x)", "lstm dc_prev (in dc)", "lstm dbias (in bias)", "lstm h",
                          "lstm c (in c_prev)"};
    lstm_scales lm = lstm_scales_of(B, Hd, &gx, &gh, &bias, &cprev, &dh, &dc);
    const double *lms[] = {lm.dgates, lm.dcp, lm.dbias, lm.h, lm.c};
    for (int k = 0; k < 5; k++)
        t_check(e, &got[k], lms[k], NULL, what[k], name);
    lstm_scales_free(&lm);
    t_free(&gx), t_free(&gh), t_free(&bias), t_free(&cprev), t_free(&dh), t_free(&dc), t_free(&h), t_free(&c);
    t_free(&dg), t_free(&dcp), t_free(&db), t_free(&gx2), t_free(&bias2);

    /* GRU, the same way. */
    tens gi = t_in(e, dt, 3 * bh, 0, &r, -4.0, 4.0), gg = t_in(e, dt, 3 * bh, 0, &r, -2.0, 2.0);
    tens bx = t_in(e, dt, 3 * Hd, 0, &r, -1.0, 1.0), bhh = t_in(e, dt, 3 * Hd, 0, &r, -1.0, 1.0);
    tens hprev = t_in(e, dt, bh, 0, &r, -1.0, 1.0), gdh = t_in(e, dt, bh, 0, &r, -1.0, 1.0);
    tens hout = t_out(e, dt, bh, 0), dgx = t_out(e, dt, 3 * bh, 0), dgh = t_out(e, dt, 3 * bh, 0);
    tens dhp = t_out(e, dt, bh, 0), dbx = t_out(e, dt, 3 * Hd, 0), dbh = t_out(e, dt, 3 * Hd, 0);
    sigfuse_gru_backward_args grb = {B, Hd, H(&gi), H(&gg), H(&bx), H(&bhh), H(&hprev), H(&gdh),
                                     H(&dgx), H(&dgh), H(&dhp), H(&dbx), H(&dbh)};
    must(e->cpu, sigfuse_gru_cell_backward(e->cpu, &grb), name, "cpu");
    sigfuse_gru_forward_args grf = {B, Hd, H(&gi), H(&gg), H(&bx), H(&bhh), H(&hprev), H(&hout)};
    must(e->cpu, sigfuse_gru_cell_forward(e->cpu, &grf), name, "cpu");
    tens gi2 = t_copy(e, &gi), gg2 = t_copy(e, &gg), bx2 = t_copy(e, &bx), bh2 = t_copy(e, &bhh);
    sigfuse_gru_backward_args gdb = {B, Hd, D(&gi), D(&gg), D(&bx), D(&bhh), D(&hprev), D(&gdh),
                                     D(&gi), D(&gg), D(&gdh), D(&bx), D(&bhh)};
    must(e->ocl, sigfuse_gru_cell_backward(e->ocl, &gdb), name, "opencl");
    sigfuse_gru_forward_args gdf = {B, Hd, D(&gi2), D(&gg2), D(&bx2), D(&bh2), D(&hprev), D(&hprev)};
    must(e->ocl, sigfuse_gru_cell_forward(e->ocl, &gdf), name, "opencl");
    tens ggot[] = {{dgx.h, gi.d, dt}, {dgh.h, gg.d, dt},  {dhp.h, gdh.d, dt},
                   {dbx.h, bx.d, dt}, {dbh.h, bhh.d, dt}, {hout.h, hprev.d, dt}};
    const char *gwhat[] = {"gru dgates_x (in gates_x)", "gru dgates_h (in gates_h)", "gru dh_prev (in dh)",
                           "gru dbias_x (in bias_x)",   "gru dbias_h (in bias_h)",   "gru h (in h_prev)"};
    gru_scales gm = gru_scales_of(B, Hd, &gi, &gg, &bx, &bhh, &hprev, &gdh);
    const double *gms[] = {gm.dgx, gm.dgh, gm.dhp, gm.dbx, gm.dbh, gm.h};
    for (int k = 0; k < 6; k++)
        t_check(e, &ggot[k], gms[k], NULL, gwhat[k], name);
    gru_scales_free(&gm);
    t_free(&gi), t_free(&gg), t_free(&bx), t_free(&bhh), t_free(&hprev), t_free(&gdh), t_free(&hout);
    t_free(&dgx), t_free(&dgh), t_free(&dhp), t_free(&dbx), t_free(&dbh);
    t_free(&gi2), t_free(&gg2), t_free(&bx2), t_free(&bh2);
}

/* Row counts that give one and many row chunks for the bias sums, and a wide row. */
Test(opencl_cells, every_output_in_place)
{
    env e = env_open();
    const int64_t shapes[][2] = {{7, 3}, {300, 5}, {1, 2304}};
    for (int s = 0; s < 3; s++) {
        cells_in_place_case(&e, SIGFUSE_F32, shapes[s][0], shapes[s][1]);
        cells_in_place_case(&e, SIGFUSE_BF16, shapes[s][0], shapes[s][1]);
    }
    env_close(&e);
}

/* In place means the same shape and role: an output on an input of another
 * shape that happens to span the same bytes (LSTM c on bias at B = 4, H = 1: both 16
 * bytes; GRU h on bias_x at B = 3, H = 1: both 12) is refused with INVALID_ARGUMENT, a
 * message naming both buffers, and nothing written, on the device and on the reference. */
Test(opencl_cells, in_place_needs_the_same_shape)
{
    env e = env_open();
    for (int side = 0; side < 2; side++) {
        sigfuse_ctx *ctx = side == 0 ? e.ocl : e.cpu;
        const char *backend = side == 0 ? "opencl" : "cpu";
        const sigfuse_buffer *(*Bf)(tens *) = side == 0 ? D : H;
        tu_rng r = tu_rng_seed(12, "lstm_cell_forward / gru_cell_forward, an output on a same-sized input");

        /* LSTM, B = 4, H = 1: c (4 elements) given bias's buffer (4H = 4 elements). */
        tens gx = t_in(&e, SIGFUSE_F32, 16, 0, &r, -2, 2), bias = t_in(&e, SIGFUSE_F32, 4, 0, &r, -1, 1);
        tens cp = t_in(&e, SIGFUSE_F32, 4, 0, &r, -1, 1), h = t_out(&e, SIGFUSE_F32, 4, 0);
        tu_buf bias_before = tu_copy_as(&bias.h, SIGFUSE_F32);
        sigfuse_lstm_forward_args la = {4, 1, Bf(&gx), NULL, Bf(&bias), Bf(&cp), Bf(&h), Bf(&bias)};
        sigfuse_status st = sigfuse_lstm_cell_forward(ctx, &la);
        const char *msg = sigfuse_ctx_last_error(ctx);
        cr_expect_eq(st, SIGFUSE_ERR_INVALID_ARGUMENT, "lstm_cell_forward(%s, f32, B=4, H=1, c on bias): got %s (%s)",
                     backend, sigfuse_status_string(st), msg);
        cr_expect(tu_names_buffer(msg, "c") && tu_names_buffer(msg, "bias"),
                  "lstm_cell_forward(%s, c on bias): the message names both buffers: %s", backend, msg);
        if (side == 0) {
            bool guards;
            tu_buf now = d_download(&e, &bias.d, &guards);
            cr_expect(guards && tu_bytes_equal(&now, &bias_before), "lstm_cell_forward(opencl, c on bias) wrote bias");
            tu_free(&now);
            cr_expect(d_untouched(&e, &h.d), "lstm_cell_forward(opencl, c on bias) wrote h");
        } else {
            tu_buf now = tu_copy_as(&bias.h, SIGFUSE_F32);
            cr_expect(tu_bytes_equal(&now, &bias_before), "lstm_cell_forward(cpu, c on bias) wrote bias");
            tu_free(&now);
            cr_expect(tu_untouched(&h.h), "lstm_cell_forward(cpu, c on bias) wrote h");
        }
        tu_free(&bias_before);
        t_free(&gx), t_free(&bias), t_free(&cp), t_free(&h);

        /* GRU, B = 3, H = 1: h (3 elements) given bias_x's buffer (3H = 3 elements). */
        tens gi = t_in(&e, SIGFUSE_F32, 9, 0, &r, -2, 2), gh = t_in(&e, SIGFUSE_F32, 9, 0, &r, -2, 2);
        tens bx = t_in(&e, SIGFUSE_F32, 3, 0, &r, -1, 1), hp = t_in(&e, SIGFUSE_F32, 3, 0, &r, -1, 1);
        tu_buf bx_before = tu_copy_as(&bx.h, SIGFUSE_F32);
        sigfuse_gru_forward_args ga = {3, 1, Bf(&gi), Bf(&gh), Bf(&bx), NULL, Bf(&hp), Bf(&bx)};
        st = sigfuse_gru_cell_forward(ctx, &ga);
        msg = sigfuse_ctx_last_error(ctx);
        cr_expect_eq(st, SIGFUSE_ERR_INVALID_ARGUMENT,
                     "gru_cell_forward(%s, f32, B=3, H=1, h on bias_x): got %s (%s)", backend,
                     sigfuse_status_string(st), msg);
        cr_expect(tu_names_buffer(msg, "h") && tu_names_buffer(msg, "bias_x"),
                  "gru_cell_forward(%s, h on bias_x): the message names both buffers: %s", backend, msg);
        if (side == 0) {
            bool guards;
            tu_buf now = d_download(&e, &bx.d, &guards);
            cr_expect(guards && tu_bytes_equal(&now, &bx_before), "gru_cell_forward(opencl, h on bias_x) wrote bias_x");
            tu_free(&now);
        } else {
            tu_buf now = tu_copy_as(&bx.h, SIGFUSE_F32);
            cr_expect(tu_bytes_equal(&now, &bx_before), "gru_cell_forward(cpu, h on bias_x) wrote bias_x");
            tu_free(&now);
        }
        tu_free(&bx_before);
        t_free(&gi), t_free(&gh), t_free(&bx), t_free(&hp);
    }
    env_close(&e);
}

Test(opencl_gru, f32) { gru_suite(SIGFUSE_F32); }
Test(opencl_gru, f16) { gru_suite(SIGFUSE_F16); }
Test(opencl_gru, bf16) { gru_suite(SIGFUSE_BF16); }

/* ---- Multi-label heads ------------------------------------------------------------------------------ */

enum {
    HEAD_BIAS = 1, HEAD_POS_WEIGHT = 2, HEAD_U8 = 4, HEAD_SCALE = 8, HEAD_MEAN = 16,
    HEAD_OUT_A = 32, HEAD_OUT_B = 64, HEAD_OUT_C = 128, HEAD_OUT_D = 256, /* logits probs labels / loss dx dw db */
    HEAD_FLOAT_LABELS = 512,
};

/* A workspace for chunks of chunk_rows rows, 16 bytes into a guarded cl_mem (the api asks
 * for 16-byte alignment; the guards catch writes past what the size query promised). */
static dbuf ws_alloc(env *e, size_t bytes)
{
    return d_alloc(e, SIGFUSE_U8, (int64_t)bytes, 16);
}

static void ws_check(env *e, dbuf *ws, const char *case_name)
{
    bool guards;
    tu_buf h = d_download(e, ws, &guards);
    cr_expect(guards, "%s: the op wrote outside its workspace", case_name);
    tu_free(&h);
}

static void head_predict_case(env *e, sigfuse_dtype dt, int64_t N, int64_t Dd, int64_t L, int64_t chunk, int opts)
{
    char name[220];
    snprintf(name, sizeof name, "head_predict(opencl, %s, N=%lld, D=%lld, L=%lld, chunk_rows=%lld, opts=%#x)",
             dt_name(dt), (long long)N, (long long)Dd, (long long)L, (long long)chunk, (unsigned)opts);
    tu_rng r = tu_rng_seed(case_seed(name), name);
    tens x = t_in(e, dt, N * Dd, 1, &r, -1.0, 1.0), w = t_in(e, dt, L * Dd, 0, &r, -1.0, 1.0), bias;
    tens *bp = NULL;
    if (opts & HEAD_BIAS) {
        bias = t_in(e, dt, L, 1, &r, -1.0, 1.0);
        bp = &bias;
    }
    tens logits = t_out(e, dt, N * L, 1), probs = t_out(e, dt, N * L, 0);
    tens labels = t_out(e, opts & HEAD_FLOAT_LABELS ? dt : SIGFUSE_U8, N * L, 1);
    tens *o[3] = {opts & HEAD_OUT_A ? &logits : NULL, opts & HEAD_OUT_B ? &probs : NULL,
                  opts & HEAD_OUT_C ? &labels : NULL};
    /* The reference writes all three outputs (its probabilities decide which labels may
     * differ: those where sigma(z) lies within f32 error of the threshold). */
    sigfuse_head_predict_args a;
    sigfuse_head_predict_args_init(&a);
    a.n = N;
    a.d = Dd;
    a.l = L;
    a.threshold = 0.625f;
    a.x = H(&x);
    a.w = H(&w);
    a.bias = H(bp);
    a.logits = H(&logits);
    a.probs = H(&probs);
    a.labels = H(&labels);
    size_t ref_ws = 0;
    must(e->cpu, sigfuse_head_predict_workspace_size(e->cpu, &a, 0, &ref_ws), name, "cpu");
    tu_buf ref_space = tu_alloc(SIGFUSE_U8, (int64_t)ref_ws);
    a.workspace = ref_ws ? &ref_space.desc : NULL;
    a.workspace_bytes = ref_ws;
    /* The truth: the reference on f64 copies, as a head of dt defines its logits. */
    must(e->cpu, sf_ref_head_predict_as(e->cpu, &a, dt), name, "cpu");

    a.x = D(&x);
    a.w = D(&w);
    a.bias = D(bp);
    a.logits = D(o[0]);
    a.probs = D(o[1]);
    a.labels = D(o[2]);
    a.workspace = NULL;
    size_t bytes = 0;
    must(e->ocl, sigfuse_head_predict_workspace_size(e->ocl, &a, chunk, &bytes), name, "opencl");
    dbuf ws = ws_alloc(e, bytes);
    a.workspace = &ws.desc;
    a.workspace_bytes = bytes;
    must(e->ocl, sigfuse_head_predict(e->ocl, &a), name, "opencl");

    /* The magnitudes (tu_scale_head: f16 / bf16 inputs are converted to f32 exactly before
     * CLBlast's SGEMM). */
    double *mz = scales(N * L), *mp = scales(N * L), *sig = scales(N * L);
    tu_scale_head(&x.h, &w.h, bp ? &bp->h : NULL, NULL, NULL, N, Dd, L, dt, 1.0, false, 24, mz, mp, NULL, NULL, NULL,
                  NULL);
    for (int64_t i = 0; i < N * L; i++)
        sig[i] = tu_get(&probs.h, i);   /* the reference's sigma(z), in double */
    tu_inputs ins = {0};
    tu_inputs_add(&ins, "bias", bp ? &bp->h : NULL, L, 0, 0, 0);
    if (o[0])
        t_check(e, o[0], mz, &ins, "logits", name);
    if (o[1])
        t_check(e, o[1], mp, &ins, "probs", name);
    if (o[2])
        t_check_labels(e, o[2], sig, mp, (double)a.threshold, name);
    free(mz);
    free(mp);
    free(sig);
    for (int k = 0; k < 3; k++)
        if (!o[k])
            cr_expect(d_untouched(e, &(k == 0 ? &logits : k == 1 ? &probs : &labels)->d), "%s: absent output written",
                      name);
    ws_check(e, &ws, name);
    d_free(&ws);
    tu_free(&ref_space);
    t_free(&x);
    t_free(&w);
    t_free(bp);
    t_free(&logits);
    t_free(&probs);
    t_free(&labels);
}

static void head_train_case(env *e, sigfuse_dtype dt, int64_t N, int64_t Dd, int64_t L, int64_t chunk, int opts)
{
    char name[220];
    snprintf(name, sizeof name, "head_train_step(opencl, %s, N=%lld, D=%lld, L=%lld, chunk_rows=%lld, opts=%#x)",
             dt_name(dt), (long long)N, (long long)Dd, (long long)L, (long long)chunk, (unsigned)opts);
    tu_rng r = tu_rng_seed(case_seed(name), name);
    tens x = t_in(e, dt, N * Dd, 1, &r, -1.0, 1.0), w = t_in(e, dt, L * Dd, 0, &r, -1.0, 1.0), bias, pw;
    tens y = opts & HEAD_U8 ? t_in(e, SIGFUSE_U8, N * L, 1, &r, 0, 1) : t_in(e, dt, N * L, 1, &r, 0.0, 1.0);
    tens *bp = NULL, *pwp = NULL;
    if (opts & HEAD_BIAS) {
        bias = t_in(e, dt, L, 1, &r, -1.0, 1.0);
        bp = &bias;
    }
    if (opts & HEAD_POS_WEIGHT) {
        pw = t_in(e, dt, L, 0, &r, 0.5, 3.0);
        pwp = &pw;
    }
    tens loss = t_out(e, SIGFUSE_F32, 1, 1), dx = t_out(e, dt, N * Dd, 1), dw = t_out(e, dt, L * Dd, 0);
    tens db = t_out(e, dt, L, 1);
    tens *all[4] = {&loss, &dx, &dw, &db};
    tens *o[4];
    for (int k = 0; k < 4; k++)
        o[k] = (opts & (HEAD_OUT_A << k)) ? all[k] : NULL;

    sigfuse_head_train_args a;
    sigfuse_head_train_args_init(&a);
    a.n = N;
    a.d = Dd;
    a.l = L;
    a.reduction = opts & HEAD_MEAN ? SIGFUSE_REDUCTION_MEAN : SIGFUSE_REDUCTION_SUM;
    a.grad_scale = opts & HEAD_SCALE ? -2.5f : 1.0f;
    for (int side = 0; side < 2; side++) {
        const sigfuse_buffer *(*Bf)(tens *) = side == 0 ? H : D;
        sigfuse_ctx *ctx = side == 0 ? e->cpu : e->ocl;
        a.x = Bf(&x);
        a.w = Bf(&w);
        a.bias = Bf(bp);
        a.targets = Bf(&y);
        a.pos_weight = Bf(pwp);
        a.loss = Bf(o[0]);
        a.dx = Bf(o[1]);
        a.dw = Bf(o[2]);
        a.dbias = Bf(o[3]);
        a.workspace = NULL;
        size_t bytes = 0;
        must(ctx, sigfuse_head_train_workspace_size(ctx, &a, side == 0 ? 0 : chunk, &bytes), name,
             side == 0 ? "cpu" : "opencl");
        if (side == 0) {
            tu_buf space = tu_alloc(SIGFUSE_U8, (int64_t)bytes);
            a.workspace = bytes ? &space.desc : NULL;
            a.workspace_bytes = bytes;
            must(ctx, sf_ref_head_train_step_as(ctx, &a, dt), name, "cpu");   /* as a head of dt */
            tu_free(&space);
        } else {
            dbuf ws = ws_alloc(e, bytes);
            a.workspace = bytes ? &ws.desc : NULL;
            a.workspace_bytes = bytes;
            must(ctx, sigfuse_head_train_step(ctx, &a), name, "opencl");
            ws_check(e, &ws, name);
            d_free(&ws);
        }
    }
    /* Magnitudes (tu_scale_head). The OpenCL head keeps G in f32 for the products whatever
     * the storage dtype. */
    const bool mean = opts & HEAD_MEAN;
    const double f = fabs((double)a.grad_scale) / (mean ? (double)(N * L > 0 ? N * L : 1) : 1.0);
    double *ml = scales(1), *mdx = scales(N * Dd), *mdw = scales(L * Dd), *mdb = scales(L);
    tu_scale_head(&x.h, &w.h, bp ? &bp->h : NULL, &y.h, pwp ? &pw.h : NULL, N, Dd, L, dt, f, mean, 24, NULL, NULL, ml,
                  mdx, mdw, mdb);
    const double *ms[4] = {ml, mdx, mdw, mdb};
    const char *what[4] = {"loss", "dx", "dw", "dbias"};
    for (int k = 0; k < 4; k++) {
        if (o[k])
            t_check(e, o[k], ms[k], NULL, what[k], name);
        else
            cr_expect(d_untouched(e, &all[k]->d), "%s: absent %s written", name, what[k]);
    }
    t_free(&x);
    t_free(&w);
    t_free(&y);
    t_free(bp);
    t_free(pwp);
    for (int k = 0; k < 4; k++)
        t_free(all[k]);
    free(ml), free(mdx), free(mdw), free(mdb);
}

/* 1, 15, 1023 and 4097 logits; D from 1 to 64; L = 1 and odd; D = 0 (bias only). */
static const int64_t head_shapes[][3] = {{1, 1, 1}, {5, 7, 3}, {33, 17, 31}, {17, 64, 241}, {6, 0, 5}};
#define N_HEAD_SHAPES ((int)(sizeof head_shapes / sizeof head_shapes[0]))

static void head_suite(sigfuse_dtype dt)
{
    env e = env_open();
    const int pred_sets[] = {
        HEAD_OUT_A | HEAD_OUT_B | HEAD_OUT_C | HEAD_BIAS,
        HEAD_OUT_B | HEAD_OUT_C | HEAD_FLOAT_LABELS,
        HEAD_OUT_A | HEAD_BIAS,
    };
    const int train_outs = HEAD_OUT_A | HEAD_OUT_B | HEAD_OUT_C | HEAD_OUT_D;
    const int train_sets[] = {
        train_outs | HEAD_BIAS | HEAD_MEAN,
        train_outs | HEAD_POS_WEIGHT | HEAD_U8 | HEAD_SCALE,
        HEAD_OUT_A | HEAD_OUT_C | HEAD_BIAS | HEAD_POS_WEIGHT | HEAD_MEAN,
        HEAD_OUT_B | HEAD_OUT_D | HEAD_U8,
    };
    for (int s = 0; s < N_HEAD_SHAPES; s++) {
        const int64_t N = head_shapes[s][0], Dd = head_shapes[s][1], L = head_shapes[s][2];
        /* All rows at once, one row per chunk, and a chunk that leaves a remainder. */
        const int64_t chunks[] = {0, 1, N > 2 ? N / 2 + 1 : 1};
        for (int c = 0; c < 3; c++) {
            head_predict_case(&e, dt, N, Dd, L, chunks[c], pred_sets[c % 3]);
            for (int t = 0; t < 4; t++)
                if ((t + c) % 3 == 0 || c == 0)
                    head_train_case(&e, dt, N, Dd, L, chunks[c], train_sets[t]);
        }
    }
    /* No rows (zero dW and db, loss 0 or NaN) and no labels (zero dX). */
    head_train_case(&e, dt, 0, 4, 3, 0, train_outs | HEAD_BIAS | HEAD_MEAN);
    head_train_case(&e, dt, 0, 4, 3, 0, train_outs);
    head_train_case(&e, dt, 5, 4, 0, 0, train_outs | HEAD_MEAN);
    env_close(&e);
}

Test(opencl_head, f32) { head_suite(SIGFUSE_F32); }
Test(opencl_head, f16) { head_suite(SIGFUSE_F16); }
Test(opencl_head, bf16) { head_suite(SIGFUSE_BF16); }

/* Products past CLBlast's direct-kernel size take its indirect path, which needs a
 * temporary buffer: the op gives it a sub-buffer of the workspace. */
Test(opencl_head, f32_clblast_temp_900x900x900)
{
    env e = env_open();
    head_predict_case(&e, SIGFUSE_F32, 900, 900, 900, 0, HEAD_OUT_A | HEAD_BIAS);
    env_close(&e);
}

/* ---- Contexts and queues ------------------------------------------------------------------------------- */

Test(opencl_ctx, create_from_caller_queue_and_set_get_queue)
{
    env e = env_open();
    cl_device_id dev;
    cr_assert_eq(clGetCommandQueueInfo(e.queue, CL_QUEUE_DEVICE, sizeof dev, &dev, NULL), CL_SUCCESS);
    char dev_name[256];
    cr_assert_eq(clGetDeviceInfo(dev, CL_DEVICE_NAME, sizeof dev_name, dev_name, NULL), CL_SUCCESS);
    cr_expect_str_eq(sigfuse_ctx_device_name(e.ocl), dev_name);
    cr_expect_eq(sigfuse_ctx_backend(e.ocl), SIGFUSE_BACKEND_OPENCL);
    cr_expect_eq(sigfuse_ctx_memory(e.ocl), SIGFUSE_MEMORY_OPENCL);

    /* A context on a queue of the caller's, which the caller then drops: the sigfuse
     * context keeps its own reference. */
    cl_int err;
    cl_command_queue q = clCreateCommandQueue(e.context, dev, 0, &err);
    cr_assert_eq(err, CL_SUCCESS);
    sigfuse_ctx *c = NULL;
    cr_assert_eq(sigfuse_ctx_create_opencl(&c, q), SIGFUSE_SUCCESS, "%s", sigfuse_last_create_error());
    cl_command_queue got = NULL;
    cr_expect_eq(sigfuse_opencl_get_queue(c, &got), SIGFUSE_SUCCESS);
    cr_expect_eq(got, q);
    clReleaseCommandQueue(q);
    tu_rng r = tu_rng_seed(1, "sigmoid_forward(opencl, f32, n=64) on a caller's queue");
    tens x = t_in(&e, SIGFUSE_F32, 64, 0, &r, -5, 5), y = t_out(&e, SIGFUSE_F32, 64, 0);
    must(c, sigfuse_sigmoid_forward(c, 64, D(&x), D(&y)), "caller queue", "opencl");
    must(e.cpu, sigfuse_sigmoid_forward(e.cpu, 64, H(&x), H(&y)), "caller queue", "cpu");
    cr_expect_eq(sigfuse_ctx_synchronize(c), SIGFUSE_SUCCESS);
    t_check(&e, &y, NULL, NULL, "y", "sigmoid_forward(opencl, f32, n=64) on a caller's queue");

    /* Another queue of the same context and device is accepted... */
    cl_command_queue q2 = clCreateCommandQueue(e.context, dev, 0, &err);
    cr_assert_eq(err, CL_SUCCESS);
    cr_expect_eq(sigfuse_opencl_set_queue(c, q2), SIGFUSE_SUCCESS, "%s", sigfuse_ctx_last_error(c));
    cr_expect_eq(sigfuse_opencl_get_queue(c, &got), SIGFUSE_SUCCESS);
    cr_expect_eq(got, q2);
    /* ...one of another OpenCL context is not, nor NULL, nor a handle that is no queue. */
    cl_context other = clCreateContext(NULL, 1, &dev, NULL, NULL, &err);
    cr_assert_eq(err, CL_SUCCESS);
    cl_command_queue q3 = clCreateCommandQueue(other, dev, 0, &err);
    cr_assert_eq(err, CL_SUCCESS);
    cr_expect_eq(sigfuse_opencl_set_queue(c, q3), SIGFUSE_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(sigfuse_ctx_last_error(c), "another OpenCL context") != NULL, "%s", sigfuse_ctx_last_error(c));
    cr_expect_eq(sigfuse_opencl_set_queue(c, NULL), SIGFUSE_ERR_NULL_ARGUMENT);
    if (driver_checks_handle_kinds(&e))
        cr_expect_eq(sigfuse_opencl_set_queue(c, (cl_command_queue)x.d.mem), SIGFUSE_ERR_INVALID_ARGUMENT);
    cr_expect_eq(sigfuse_opencl_get_queue(c, &got), SIGFUSE_SUCCESS);
    cr_expect_eq(got, q2, "a refused queue leaves the context's queue as it was");
    cr_expect_eq(sigfuse_opencl_set_queue(e.cpu, q2), SIGFUSE_ERR_INVALID_ARGUMENT, "not an opencl context");
    clReleaseCommandQueue(q2);
    sigfuse_ctx_destroy(c);
    clReleaseCommandQueue(q3);
    clReleaseContext(other);
    t_free(&x);
    t_free(&y);
    env_close(&e);
}

Test(opencl_ctx, creation_failures_are_statuses)
{
    env e = env_open();
    sigfuse_ctx *c = (sigfuse_ctx *)0x1;
    cr_expect_eq(sigfuse_ctx_create_opencl(&c, NULL), SIGFUSE_ERR_NULL_ARGUMENT);
    cr_expect_null(c);
    cr_expect(strstr(sigfuse_last_create_error(), "queue") != NULL, "%s", sigfuse_last_create_error());
    /* A live OpenCL handle that is not a queue. */
    if (driver_checks_handle_kinds(&e)) {
        cl_int err;
        cl_mem mem = clCreateBuffer(e.context, CL_MEM_READ_WRITE, 64, NULL, &err);
        cr_assert_eq(err, CL_SUCCESS);
        c = (sigfuse_ctx *)0x1;
        cr_expect_eq(sigfuse_ctx_create_opencl(&c, (cl_command_queue)mem), SIGFUSE_ERR_INVALID_ARGUMENT);
        cr_expect_null(c);
        cr_expect(strstr(sigfuse_last_create_error(), "cl_command_queue") != NULL, "%s",
                  sigfuse_last_create_error());
        clReleaseMemObject(mem);
    }
    cr_expect_eq(sigfuse_ctx_create_opencl(NULL, e.queue), SIGFUSE_ERR_NULL_ARGUMENT);
    env_close(&e);
}

Test(opencl_ctx, device_selection_from_environment)
{
    env e = env_open();
    char name[256];
    snprintf(name, sizeof name, "%s", sigfuse_ctx_device_name(e.ocl));
    env_close(&e);

    sigfuse_ctx *c = NULL;
    /* By index, and by a case-changed piece of the name. */
    setenv("SIGFUSE_OPENCL_DEVICE", "0", 1);
    cr_expect_eq(sigfuse_ctx_create(&c, SIGFUSE_BACKEND_OPENCL), SIGFUSE_SUCCESS, "%s", sigfuse_last_create_error());
    sigfuse_ctx_destroy(c);
    char piece[8] = {0};
    for (int i = 0; i < 3 && name[i]; i++)
        piece[i] = (char)((name[i] >= 'a' && name[i] <= 'z') ? name[i] - 32 : name[i]);
    setenv("SIGFUSE_OPENCL_DEVICE", piece, 1);
    c = NULL;
    cr_expect_eq(sigfuse_ctx_create(&c, SIGFUSE_BACKEND_OPENCL), SIGFUSE_SUCCESS, "%s: %s", piece,
                 sigfuse_last_create_error());
    sigfuse_ctx_destroy(c);

    setenv("SIGFUSE_OPENCL_DEVICE", "no such device anywhere", 1);
    c = (sigfuse_ctx *)0x1;
    cr_expect_eq(sigfuse_ctx_create(&c, SIGFUSE_BACKEND_OPENCL), SIGFUSE_ERR_NO_DEVICE);
    cr_expect_null(c);
    cr_expect(strstr(sigfuse_last_create_error(), "SIGFUSE_OPENCL_DEVICE") != NULL, "%s", sigfuse_last_create_error());
    unsetenv("SIGFUSE_OPENCL_DEVICE");

    setenv("SIGFUSE_OPENCL_PLATFORM", "99", 1);
    c = (sigfuse_ctx *)0x1;
    cr_expect_eq(sigfuse_ctx_create(&c, SIGFUSE_BACKEND_OPENCL), SIGFUSE_ERR_NO_DEVICE);
    cr_expect_null(c);
    cr_expect(strstr(sigfuse_last_create_error(), "SIGFUSE_OPENCL_PLATFORM") != NULL, "%s",
              sigfuse_last_create_error());
    setenv("SIGFUSE_OPENCL_PLATFORM", "0", 1);
    c = NULL;
    cr_expect_eq(sigfuse_ctx_create(&c, SIGFUSE_BACKEND_OPENCL), SIGFUSE_SUCCESS, "%s", sigfuse_last_create_error());
    sigfuse_ctx_destroy(c);
    unsetenv("SIGFUSE_OPENCL_PLATFORM");
}

/* An out-of-order queue: the ops that chain kernels (a reduced loss, the bias gradients,
 * the head) put barriers between them. */
Test(opencl_ctx, out_of_order_queue_reductions)
{
    env e = env_open();
    cl_device_id dev;
    cr_assert_eq(clGetCommandQueueInfo(e.queue, CL_QUEUE_DEVICE, sizeof dev, &dev, NULL), CL_SUCCESS);
    cl_command_queue_properties props = 0;
    clGetDeviceInfo(dev, CL_DEVICE_QUEUE_PROPERTIES, sizeof props, &props, NULL);
    if (!(props & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE)) {
        env_close(&e);
        cr_skip_test("skipped: the OpenCL device has no out-of-order queues");
    }
    cl_int err;
    cl_command_queue q = clCreateCommandQueue(e.context, dev, CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE, &err);
    cr_assert_eq(err, CL_SUCCESS);
    cr_assert_eq(sigfuse_opencl_set_queue(e.ocl, q), SIGFUSE_SUCCESS, "%s", sigfuse_ctx_last_error(e.ocl));
    e.queue = q;
    bce_case(&e, SIGFUSE_F32, 17, 241, 1, SIGFUSE_REDUCTION_MEAN, OUT_ALL | OPT_POS_WEIGHT, false);
    lstm_bwd_case(&e, SIGFUSE_F16, 300, 5, 0, CELL_DH | CELL_DC | CELL_OUT_A | CELL_OUT_B | CELL_OUT_C, false);
    head_train_case(&e, SIGFUSE_BF16, 33, 17, 31, 4,
                    HEAD_OUT_A | HEAD_OUT_B | HEAD_OUT_C | HEAD_OUT_D | HEAD_BIAS | HEAD_MEAN);
    env_close(&e);
    clReleaseCommandQueue(q);
}

/* ---- Bad buffers ------------------------------------------------------------------------------------------ */

Test(opencl_buffers, bad_handles_offsets_and_contexts_write_nothing)
{
    env e = env_open();
    tu_rng r = tu_rng_seed(7, "bad buffers");
    const int64_t n = 100;
    tens x = t_in(&e, SIGFUSE_F32, n, 0, &r, -1, 1), y = t_out(&e, SIGFUSE_F32, n, 0);
    sigfuse_status st;

    /* A live handle that is no buffer. */
    const bool kinds = driver_checks_handle_kinds(&e);
    sigfuse_buffer not_mem = sigfuse_opencl_buffer((cl_mem)e.queue, 0, SIGFUSE_F32);
    if (kinds) {
        st = sigfuse_sigmoid_forward(e.ocl, n, &not_mem, D(&y));
        cr_expect_eq(st, SIGFUSE_ERR_INVALID_ARGUMENT, "%s", sigfuse_ctx_last_error(e.ocl));
        cr_expect(strstr(sigfuse_ctx_last_error(e.ocl), "x: ") != NULL, "names the buffer: %s",
                  sigfuse_ctx_last_error(e.ocl));
        cr_expect(d_untouched(&e, &y.d));
    }

    /* Offset + bytes past the end of the cl_mem: one element too many, and an offset past
     * the end altogether. */
    sigfuse_buffer late = x.d.desc;
    late.offset += sizeof(float);
    st = sigfuse_sigmoid_forward(e.ocl, n + GUARD_BYTES / 4, &late, D(&y));
    cr_expect_eq(st, SIGFUSE_ERR_INVALID_ARGUMENT, "%s", sigfuse_ctx_last_error(e.ocl));
    cr_expect(strstr(sigfuse_ctx_last_error(e.ocl), "past the end") != NULL, "%s", sigfuse_ctx_last_error(e.ocl));
    cr_expect(strncmp(sigfuse_ctx_last_error(e.ocl), "sigmoid_forward: x: ", 20) == 0,
              "the message names the op, then the buffer: %s", sigfuse_ctx_last_error(e.ocl));
    sigfuse_buffer y_late = y.d.desc;
    y_late.offset = 1u << 20;
    st = sigfuse_sigmoid_forward(e.ocl, 1, D(&x), &y_late);
    cr_expect_eq(st, SIGFUSE_ERR_INVALID_ARGUMENT, "%s", sigfuse_ctx_last_error(e.ocl));
    cr_expect(strstr(sigfuse_ctx_last_error(e.ocl), "y: ") != NULL, "%s", sigfuse_ctx_last_error(e.ocl));
    cr_expect(d_untouched(&e, &y.d));

    /* A buffer of another OpenCL context. */
    cl_device_id dev;
    clGetCommandQueueInfo(e.queue, CL_QUEUE_DEVICE, sizeof dev, &dev, NULL);
    cl_int err;
    cl_context other = clCreateContext(NULL, 1, &dev, NULL, NULL, &err);
    cr_assert_eq(err, CL_SUCCESS);
    cl_mem foreign = clCreateBuffer(other, CL_MEM_READ_WRITE, n * sizeof(float), NULL, &err);
    cr_assert_eq(err, CL_SUCCESS);
    sigfuse_buffer fb = sigfuse_opencl_buffer(foreign, 0, SIGFUSE_F32);
    st = sigfuse_sigmoid_forward(e.ocl, n, &fb, D(&y));
    cr_expect_eq(st, SIGFUSE_ERR_INVALID_ARGUMENT, "%s", sigfuse_ctx_last_error(e.ocl));
    cr_expect(strncmp(sigfuse_ctx_last_error(e.ocl), "sigmoid_forward: x: ", 20) == 0,
              "the message names the op, then the buffer: %s", sigfuse_ctx_last_error(e.ocl));
    cr_expect(d_untouched(&e, &y.d));

    /* Host memory on an OpenCL context, and f64 (the reference's only). */
    st = sigfuse_sigmoid_forward(e.ocl, n, H(&x), D(&y));
    cr_expect_eq(st, SIGFUSE_ERR_WRONG_MEMORY);
    sigfuse_buffer x64 = sigfuse_opencl_buffer(x.d.mem, 0, SIGFUSE_F64);
    sigfuse_buffer y64 = sigfuse_opencl_buffer(y.d.mem, 0, SIGFUSE_F64);
    st = sigfuse_sigmoid_forward(e.ocl, 8, &x64, &y64);
    cr_expect_eq(st, SIGFUSE_ERR_UNSUPPORTED);
    cr_expect(d_untouched(&e, &y.d));

    /* Overlaps are seen inside one cl_mem (offsets): y one element into x. */
    sigfuse_buffer x_plus1 = x.d.desc;
    x_plus1.offset += sizeof(float);
    st = sigfuse_sigmoid_forward(e.ocl, n - 1, D(&x), &x_plus1);
    cr_expect_eq(st, SIGFUSE_ERR_INVALID_ARGUMENT, "%s", sigfuse_ctx_last_error(e.ocl));
    cr_expect(strstr(sigfuse_ctx_last_error(e.ocl), "overlaps") != NULL && tu_names_buffer(sigfuse_ctx_last_error(e.ocl), "y") &&
                  tu_names_buffer(sigfuse_ctx_last_error(e.ocl), "x"),
              "%s", sigfuse_ctx_last_error(e.ocl));

    /* The same checks guard the structured ops: a loss whose weight runs past its end,
     * a cell whose c_prev is no buffer, a head whose workspace is too short. */
    tens t = t_in(&e, SIGFUSE_U8, n, 0, &r, 0, 1), loss = t_out(&e, SIGFUSE_F32, 1, 0);
    sigfuse_bce_args ba;
    sigfuse_bce_args_init(&ba);
    ba.rows = 10;
    ba.cols = 10;
    ba.logits = D(&x);
    ba.targets = D(&t);
    sigfuse_buffer w_late = x.d.desc;
    w_late.offset += GUARD_BYTES + sizeof(float);
    ba.weight = &w_late;
    ba.loss = D(&loss);
    cr_expect_eq(sigfuse_bce_with_logits(e.ocl, &ba), SIGFUSE_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(sigfuse_ctx_last_error(e.ocl), "weight") != NULL, "%s", sigfuse_ctx_last_error(e.ocl));
    cr_expect(d_untouched(&e, &loss.d));

    sigfuse_lstm_forward_args la = {5, 5, D(&x), NULL, NULL, kinds ? &not_mem : &fb, D(&y), NULL};
    cr_expect_eq(sigfuse_lstm_cell_forward(e.ocl, &la), SIGFUSE_ERR_INVALID_ARGUMENT);
    cr_expect(d_untouched(&e, &y.d));

    sigfuse_head_train_args ha;
    sigfuse_head_train_args_init(&ha);
    ha.n = 10;
    ha.d = 5;
    ha.l = 10;
    ha.x = D(&x);
    ha.w = D(&x);
    ha.targets = D(&t);
    ha.loss = D(&loss);
    size_t need = 0;
    cr_assert_eq(sigfuse_head_train_workspace_size(e.ocl, &ha, 1, &need), SIGFUSE_SUCCESS);
    dbuf ws = ws_alloc(&e, need);
    ha.workspace = &ws.desc;
    ha.workspace_bytes = need - 4;
    cr_expect_eq(sigfuse_head_train_step(e.ocl, &ha), SIGFUSE_ERR_INSUFFICIENT_WORKSPACE);
    ha.workspace_bytes = need + 2 * GUARD_BYTES;   /* more than the cl_mem holds */
    cr_expect_eq(sigfuse_head_train_step(e.ocl, &ha), SIGFUSE_ERR_INVALID_ARGUMENT, "%s",
                 sigfuse_ctx_last_error(e.ocl));
    cr_expect(d_untouched(&e, &loss.d));
    d_free(&ws);

    clReleaseMemObject(foreign);
    clReleaseContext(other);
    t_free(&x);
    t_free(&y);
    t_free(&t);
    t_free(&loss);
    env_close(&e);
}

/* ---- Determinism -------------------------------------------------------------------------------------------- */

/* Reads a device buffer into a malloc'd copy of its bytes. */
static unsigned char *bytes_of(env *e, const dbuf *d)
{
    bool guards;
    tu_buf h = d_download(e, d, &guards);
    unsigned char *copy = malloc(d->bytes + 1);
    memcpy(copy, tu_data(&h), d->bytes);
    tu_free(&h);
    return copy;
}

static void expect_same_bytes(env *e, const dbuf *d, const unsigned char *before, const char *what)
{
    unsigned char *now = bytes_of(e, d);
    cr_expect(memcmp(now, before, d->bytes) == 0, "%s: a second run gave different bits", what);
    free(now);
}

Test(opencl_determinism, reductions_run_twice_are_bitwise_equal)
{
    env e = env_open();
    tu_rng r = tu_rng_seed(42, "determinism");
    /* bce_with_logits(opencl, f32, 1021x1027, sum and mean): the loss and its partials. */
    const int64_t rows = 1021, cols = 1027, n = rows * cols;
    tens x = t_in(&e, SIGFUSE_F32, n, 1, &r, -10, 10), y = t_in(&e, SIGFUSE_F32, n, 1, &r, 0, 1);
    tens loss = t_out(&e, SIGFUSE_F32, 1, 1);
    sigfuse_bce_args a;
    sigfuse_bce_args_init(&a);
    a.rows = rows;
    a.cols = cols;
    a.logits = D(&x);
    a.targets = D(&y);
    a.loss = D(&loss);
    for (int red = SIGFUSE_REDUCTION_SUM; red <= SIGFUSE_REDUCTION_MEAN; red++) {
        a.reduction = (sigfuse_reduction)red;
        must(e.ocl, sigfuse_bce_with_logits(e.ocl, &a), "determinism bce", "opencl");
        unsigned char *first = bytes_of(&e, &loss.d);
        must(e.ocl, sigfuse_bce_with_logits(e.ocl, &a), "determinism bce", "opencl");
        expect_same_bytes(&e, &loss.d, first, red == SIGFUSE_REDUCTION_SUM ? "bce sum" : "bce mean");
        free(first);
    }
    /* sigmoid_focal(opencl, bf16, ...), mean. */
    sigfuse_focal_args fa;
    sigfuse_focal_args_init(&fa);
    fa.rows = rows;
    fa.cols = cols;
    fa.logits = D(&x);
    fa.targets = D(&y);
    fa.loss = D(&loss);
    must(e.ocl, sigfuse_sigmoid_focal(e.ocl, &fa), "determinism focal", "opencl");
    unsigned char *first = bytes_of(&e, &loss.d);
    must(e.ocl, sigfuse_sigmoid_focal(e.ocl, &fa), "determinism focal", "opencl");
    expect_same_bytes(&e, &loss.d, first, "focal mean");
    free(first);

    /* lstm_cell_backward(opencl, f32, B=2048, H=64): dbias over many row chunks. */
    const int64_t B = 2048, Hd = 64;
    tens gx = t_in(&e, SIGFUSE_F32, B * 4 * Hd, 0, &r, -3, 3), cp = t_in(&e, SIGFUSE_F32, B * Hd, 0, &r, -1, 1);
    tens dh = t_in(&e, SIGFUSE_F32, B * Hd, 0, &r, -1, 1), db = t_out(&e, SIGFUSE_F32, 4 * Hd, 0);
    sigfuse_lstm_backward_args la = {B, Hd, D(&gx), NULL, NULL, D(&cp), D(&dh), NULL, NULL, NULL, D(&db)};
    must(e.ocl, sigfuse_lstm_cell_backward(e.ocl, &la), "determinism lstm", "opencl");
    first = bytes_of(&e, &db.d);
    must(e.ocl, sigfuse_lstm_cell_backward(e.ocl, &la), "determinism lstm", "opencl");
    expect_same_bytes(&e, &db.d, first, "lstm dbias");
    free(first);

    /* gru_cell_backward(opencl, f32, B=2048, H=64): both bias gradients (3H of the gates). */
    tens dbx = t_out(&e, SIGFUSE_F32, 3 * Hd, 0), dbh = t_out(&e, SIGFUSE_F32, 3 * Hd, 0);
    sigfuse_gru_backward_args ga = {B, Hd, D(&gx), D(&gx), NULL, NULL, D(&cp), D(&dh), NULL, NULL, NULL, D(&dbx),
                                    D(&dbh)};
    must(e.ocl, sigfuse_gru_cell_backward(e.ocl, &ga), "determinism gru", "opencl");
    unsigned char *fx = bytes_of(&e, &dbx.d), *fh = bytes_of(&e, &dbh.d);
    must(e.ocl, sigfuse_gru_cell_backward(e.ocl, &ga), "determinism gru", "opencl");
    expect_same_bytes(&e, &dbx.d, fx, "gru dbias_x");
    expect_same_bytes(&e, &dbh.d, fh, "gru dbias_h");
    free(fx);
    free(fh);

    /* head_train_step(opencl, f16, N=300, D=40, L=50, chunk_rows=64): loss, dW, db. */
    const int64_t N = 300, Dd = 40, L = 50;
    tens hx = t_in(&e, SIGFUSE_F16, N * Dd, 0, &r, -1, 1), hw = t_in(&e, SIGFUSE_F16, L * Dd, 0, &r, -1, 1);
    tens hy = t_in(&e, SIGFUSE_U8, N * L, 0, &r, 0, 1), hdw = t_out(&e, SIGFUSE_F16, L * Dd, 0);
    tens hdb = t_out(&e, SIGFUSE_F16, L, 0);
    sigfuse_head_train_args ha;
    sigfuse_head_train_args_init(&ha);
    ha.n = N;
    ha.d = Dd;
    ha.l = L;
    ha.x = D(&hx);
    ha.w = D(&hw);
    ha.targets = D(&hy);
    ha.loss = D(&loss);
    ha.dw = D(&hdw);
    ha.dbias = D(&hdb);
    size_t need = 0;
    cr_assert_eq(sigfuse_head_train_workspace_size(e.ocl, &ha, 64, &need), SIGFUSE_SUCCESS);
    dbuf ws = ws_alloc(&e, need);
    ha.workspace = &ws.desc;
    ha.workspace_bytes = need;
    must(e.ocl, sigfuse_head_train_step(e.ocl, &ha), "determinism head", "opencl");
    unsigned char *fl = bytes_of(&e, &loss.d), *fw = bytes_of(&e, &hdw.d), *fb = bytes_of(&e, &hdb.d);
    must(e.ocl, sigfuse_head_train_step(e.ocl, &ha), "determinism head", "opencl");
    expect_same_bytes(&e, &loss.d, fl, "head loss");
    expect_same_bytes(&e, &hdw.d, fw, "head dW");
    expect_same_bytes(&e, &hdb.d, fb, "head dbias");
    free(fl);
    free(fw);
    free(fb);
    d_free(&ws);

    tens *all[] = {&x, &y, &loss, &gx, &cp, &dh, &db, &dbx, &dbh, &hx, &hw, &hy, &hdw, &hdb};
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
        t_free(all[k]);
    env_close(&e);
}

/* ---- Program builds ------------------------------------------------------------------------------------------- */

/* SIGFUSE_OPENCL_KERNEL_DIR pointing at a folder with a broken activation.cl: the first
 * activation reports SIGFUSE_ERR_PROGRAM_BUILD with the compiler's log, writes nothing,
 * and caches nothing (the same context builds the embedded source once the variable is
 * gone). Criterion runs each test in its own process, so the variable stays here. */
Test(opencl_build, broken_kernel_source_gives_program_build_with_log)
{
    env e = env_open();
    char dir[] = "/tmp/sigfuse_cl_XXXXXX";
    cr_assert(mkdtemp(dir) != NULL);
    char path[512];
    snprintf(path, sizeof path, "%s/activation.cl", dir);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs("kernel void sigmoid_fwd(global float *x) { this_is_not_opencl_c; }\n", f);
    fclose(f);
    setenv("SIGFUSE_OPENCL_KERNEL_DIR", dir, 1);

    tu_rng r = tu_rng_seed(3, "program build failure");
    tens x = t_in(&e, SIGFUSE_F32, 16, 0, &r, -1, 1), y = t_out(&e, SIGFUSE_F32, 16, 0);
    sigfuse_status st = sigfuse_sigmoid_forward(e.ocl, 16, D(&x), D(&y));
    const char *msg = sigfuse_ctx_last_error(e.ocl);
    cr_expect_eq(st, SIGFUSE_ERR_PROGRAM_BUILD, "%d: %s", (int)st, msg);
    cr_expect(strstr(msg, "activation.cl") != NULL, "the message names the file: %s", msg);
    cr_expect(strstr(msg, "this_is_not_opencl_c") != NULL, "the message carries the build log: %s", msg);
    cr_expect(d_untouched(&e, &y.d));
    /* Other families still build from their embedded sources. */
    must(e.ocl, sigfuse_glu_forward(e.ocl, 16, D(&x), D(&x), D(&y)), "glu beside a broken activation.cl", "opencl");

    unsetenv("SIGFUSE_OPENCL_KERNEL_DIR");
    remove(path);
    rmdir(dir);
    must(e.ocl, sigfuse_sigmoid_forward(e.ocl, 16, D(&x), D(&y)), "sigmoid after the variable is gone", "opencl");
    must(e.cpu, sigfuse_sigmoid_forward(e.cpu, 16, H(&x), H(&y)), "sigmoid", "cpu");
    t_check(&e, &y, NULL, NULL, "y", "sigmoid_forward(opencl, f32, n=16) after a failed build");
    t_free(&x);
    t_free(&y);
    env_close(&e);
}

/* ---- A small set for scripts/oclgrind.sh --------------------------------------------------------------------- */

/* Every kernel and every path through it (dtypes, absent and present buffers, u8 targets
 * and labels, direct and chunked bias sums, chunked head steps) at sizes small enough for
 * a simulator: scripts/oclgrind.sh runs the opencl_small suite under oclgrind. They
 * pass on any device as ordinary tests too. */
static const sigfuse_dtype all_dtypes[] = {SIGFUSE_F32, SIGFUSE_F16, SIGFUSE_BF16};

Test(opencl_small, elementwise_every_op_and_dtype)
{
    env e = env_open();
    for (int d = 0; d < 3; d++)
        for (int op = EW_SIGMOID_FWD; op <= EW_SWIGLU_BWD; op++) {
            ew_case(&e, (ew_kind)op, all_dtypes[d], 37, 1, 1.5f, 3, true);
            if (ew_inputs[op] == 3) {
                ew_case(&e, (ew_kind)op, all_dtypes[d], 5, 0, 1.0f, 1, false);
                ew_case(&e, (ew_kind)op, all_dtypes[d], 5, 0, 1.0f, 2, false);
            }
        }
    env_close(&e);
}

Test(opencl_small, losses_every_option_and_dtype)
{
    env e = env_open();
    const sigfuse_reduction reds[] = {SIGFUSE_REDUCTION_NONE, SIGFUSE_REDUCTION_SUM, SIGFUSE_REDUCTION_MEAN};
    for (int d = 0; d < 3; d++)
        for (int ri = 0; ri < 3; ri++) {
            bce_case(&e, all_dtypes[d], 3, 11, 1, reds[ri],
                     OUT_ALL | OPT_WEIGHT | OPT_POS_WEIGHT | OPT_SMOOTH | OPT_DLOSS | OPT_SCALE | OPT_FLOAT_LABELS,
                     true);
            bce_case(&e, all_dtypes[d], 4, 5, 0, reds[ri], OUT_ALL | OPT_U8_TARGETS, false);
            bce_case(&e, all_dtypes[d], 4, 5, 0, reds[ri], OUT_LOSS, false);
            focal_case(&e, all_dtypes[d], 3, 11, 1, reds[ri], 0.25f, 2.0f,
                       OUT_LOSS | OUT_DLOGITS | OPT_DLOSS | OPT_SCALE, true);
            focal_case(&e, all_dtypes[d], 4, 5, 0, reds[ri], -1.0f, 0.5f, OUT_LOSS | OUT_DLOGITS | OPT_U8_TARGETS,
                       false);
        }
    env_close(&e);
}

Test(opencl_small, cells_every_option_and_dtype)
{
    env e = env_open();
    for (int d = 0; d < 3; d++) {
        const sigfuse_dtype dt = all_dtypes[d];
        lstm_fwd_case(&e, dt, 3, 5, 1, CELL_GATES_H | CELL_BIAS | CELL_OUT_A | CELL_OUT_B, true);
        lstm_fwd_case(&e, dt, 3, 5, 0, CELL_OUT_A, false);
        /* 3 rows: one chunk, dbias written directly; 70 rows: chunked partials. */
        lstm_bwd_case(&e, dt, 3, 5, 1, CELL_GATES_H | CELL_BIAS | CELL_DH | CELL_DC | CELL_OUT_A | CELL_OUT_B | CELL_OUT_C,
                      true);
        lstm_bwd_case(&e, dt, 70, 3, 0, CELL_DH | CELL_OUT_C, false);
        lstm_bwd_case(&e, dt, 4, 3, 0, CELL_DC | CELL_OUT_A, false);
        gru_fwd_case(&e, dt, 3, 5, 1, CELL_BIAS | CELL_BIAS_H, true);
        gru_fwd_case(&e, dt, 3, 5, 0, 0, false);
        gru_bwd_case(&e, dt, 3, 5, 1,
                     CELL_BIAS | CELL_BIAS_H | CELL_OUT_A | CELL_OUT_B | CELL_OUT_C | CELL_OUT_D | CELL_OUT_E, true);
        gru_bwd_case(&e, dt, 70, 3, 0, CELL_OUT_D | CELL_OUT_E, false);
        gru_bwd_case(&e, dt, 4, 3, 0, CELL_OUT_B | CELL_OUT_C, false);
    }
    env_close(&e);
}

Test(opencl_small, heads_every_option_and_dtype)
{
    env e = env_open();
    const int outs = HEAD_OUT_A | HEAD_OUT_B | HEAD_OUT_C | HEAD_OUT_D;
    for (int d = 0; d < 3; d++) {
        const sigfuse_dtype dt = all_dtypes[d];
        head_predict_case(&e, dt, 9, 5, 7, 4, HEAD_OUT_A | HEAD_OUT_B | HEAD_OUT_C | HEAD_BIAS);
        head_predict_case(&e, dt, 9, 5, 7, 0, HEAD_OUT_B | HEAD_OUT_C | HEAD_FLOAT_LABELS);
        head_train_case(&e, dt, 9, 5, 7, 4, outs | HEAD_BIAS | HEAD_POS_WEIGHT | HEAD_MEAN);
        head_train_case(&e, dt, 9, 5, 7, 0, outs | HEAD_U8 | HEAD_SCALE);
    }
    env_close(&e);
}
