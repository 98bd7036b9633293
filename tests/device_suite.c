/* SPDX-License-Identifier: MIT */
/*
 * The device-vs-reference suite (device_suite.h): the case engine, each op family's
 * inputs and output magnitudes, and the sweeps.
 *
 * Accuracy, in ulps of the storage dtype against double truth (docs/design.md, Numerics).
 * The reference runs on f64 copies of the very inputs the device gets (already rounded to
 * the dtype), so its outputs are the truth in double. Each output element is held to
 *  - f32: |got - truth| <= 4 ulp_f32(m), m the magnitude at which the element's f32
 *    evaluation rounds: |truth| where it is well conditioned; the largest term where
 *    terms cancel (a BCE / focal gradient with soft or smoothed targets, silu' near its
 *    zero, GLU / SwiGLU db, a cell's c or h whose terms cancel); sum |terms| carried
 *    through |f'| where a sum is rounded before a function or many terms are summed (a
 *    cell's pre-activation gates_x + gates_h + bias, beta x when not exact in f32, loss
 *    sums, bias gradients, the head's products): 4 ulp times the condition number.
 *    ulp_f32 of a subnormal is 2^-149 (the long formulas of testutil.c have their own).
 *  - f16 / bf16: the rounding of an f32 value within that bound, +-1 ulp of the format.
 *  - inf and NaN exactly where the truth has them; u8 exactly (and 0 or 1 bytes);
 *    thresholded labels may differ only where sigma is within f32 error of the threshold.
 * m per element comes from testutil's tu_scale_* (one per op, mirroring its formula); the
 * worst element per op, dtype and output is logged at the end of each test.
 */
#include "device_suite.h"

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "sf_internal.h"

#define COUNT_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define BIG_N ((int64_t)(1 << 20) + 3)

/* ====================================================================================
 * Tests, devices, buffers
 * ==================================================================================== */

bool ds_quick(void)
{
    const char *q = getenv("SIGFUSE_TEST_QUICK");
    return q && *q && strcmp(q, "0") != 0;
}

uint64_t ds_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;   /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

void ds_open(ds_env *e, sigfuse_backend b, const char *test)
{
    memset(e, 0, sizeof *e);
    snprintf(e->test, sizeof e->test, "%s", test);
    if (!kit_present(b)) {
        char why[128];
        snprintf(why, sizeof why, "skipped: no %s device%s", b == SIGFUSE_BACKEND_CUDA ? "CUDA" : "OpenCL",
                 sigfuse_backend_available(b) == SIGFUSE_ERR_NOT_BUILT
                     ? (b == SIGFUSE_BACKEND_CUDA ? " (the CUDA backend is not built)"
                                                  : " (the OpenCL backend is not built)")
                     : "");
        fprintf(stderr, "%s: %s\n", test, why);
        cr_skip_test("%s", why);
    }
    sigfuse_status st = kit_open(&e->dev, b, 0);
    cr_assert(st == SIGFUSE_SUCCESS, "%s: %s", test, kit_error());
    e->cpu = tu_cpu_ctx();
    cr_log_info("%s: %s device: %s", test, e->dev.name, sigfuse_ctx_device_name(e->dev.ctx));
}

const char *ds_open_test(ds_env *e, sigfuse_backend b, const char *what, sigfuse_dtype dtype)
{
    char test[128];
    snprintf(test, sizeof test, "%s_%s_%s", what, kit_backend_name(b), sigfuse_dtype_name(dtype));
    ds_open(e, b, test);
    return e->test;
}

/* The sizes an op's shape gives its counts by (n; rows, cols; n, d, l): what callers pass.
 * An op's further sizes (a head's nnz, label_offset, ...) keep their defaults. */
static int shape_sizes(sf_shape shape)
{
    switch (shape) {
    case SF_SHAPE_EW: return 1;
    case SF_SHAPE_LSTM:
    case SF_SHAPE_GRU:
    case SF_SHAPE_LOSS: return 2;
    case SF_SHAPE_HEAD:
    case SF_SHAPE_MERGE: return 3;
    }
    return 0;
}

void ds_args(sf_op op, void *args, const int64_t *sizes, ...)
{
    const sf_op_info *info = &sf_op_infos[op];
    sf_op_values v;
    sf_op_init(op, args);
    sf_op_get(op, args, &v);
    for (int k = 0; k < shape_sizes(info->shape) && k < info->n_sizes; k++)
        v.sizes[k] = sizes[k];
    va_list ap;
    va_start(ap, sizes);
    for (const char *name = va_arg(ap, const char *); name; name = va_arg(ap, const char *)) {
        const sigfuse_buffer *b = va_arg(ap, const sigfuse_buffer *);
        int i = 0;
        while (i < info->n_bufs && strcmp(info->bufs[i].name, name) != 0)
            i++;
        cr_assert(i < info->n_bufs, "%s has no buffer %s", info->name, name);
        v.bufs[i] = b;
    }
    va_end(ap);
    sf_op_set(op, args, &v);
}

void ds_close(ds_env *e)
{
    tu_ulp_report();   /* the worst element per op, dtype and output of this test */
    kit_close(&e->dev);
    sigfuse_ctx_destroy(e->cpu);
    e->cpu = NULL;
}

kit_buf ds_buf(kit_dev *d, sigfuse_dtype dtype, int64_t n, int misalign)
{
    kit_buf b;
    cr_assert(kit_buf_alloc(d, &b, dtype, n, misalign), "%s: %lld %s elements: %s", d->name, (long long)n,
              sigfuse_dtype_name(dtype), kit_error());
    return b;
}

void ds_upload(kit_buf *b, const tu_buf *src)
{
    tu_buf conv = tu_copy_as(src, b->desc.dtype);   /* exact: src holds values of that dtype */
    cr_assert(kit_buf_upload(b, tu_data(&conv)), "%s: upload: %s", b->dev->name, kit_error());
    tu_free(&conv);
}

tu_buf ds_download(const kit_buf *b)
{
    tu_buf h = tu_alloc(b->desc.dtype, (int64_t)(b->bytes / sigfuse_dtype_size(b->desc.dtype)));
    cr_assert(kit_buf_download(b, tu_data(&h)), "%s: download: %s", b->dev->name, kit_error());
    return h;
}

bool ds_guards_ok(const kit_buf *b)
{
    bool guards = false;
    cr_assert(kit_buf_check(b, &guards, NULL), "%s: download: %s", b->dev->name, kit_error());
    return guards;
}

bool ds_untouched(const kit_buf *b)
{
    bool guards = false, untouched = false;
    cr_assert(kit_buf_check(b, &guards, &untouched), "%s: download: %s", b->dev->name, kit_error());
    return guards && untouched;
}

/* ====================================================================================
 * The engine: a case's buffers, in the op's catalogue order
 * ==================================================================================== */

typedef struct slot {
    bool used, output;
    int alias;                 /* output: the input whose device buffer it is, else -1 */
    int misalign;              /* elements; -1: the case's */
    sigfuse_dtype dtype;
    int64_t n;
    tu_buf host;               /* input values (dtype), or the reference's output (f64: the truth) */
    tu_buf ref;                /* an input as the reference gets it (f64, or u8) */
    tu_buf got;                /* the device's output */
    kit_buf dev;               /* its device buffer; an output not asked for gets one too */
    double *scale;             /* output: each element's magnitude m (zeros: |truth|) */
    bool describe;             /* output: name the same-sized (and per-column) inputs */
    /* Labels: either label is right where sigma(z) lies within the window of the threshold:
     * at most tie_eps, at most 8 ulp of max(sigma, tie_scale). */
    const double *tie_prob, *tie_scale;
    double tie_threshold, tie_eps;
} slot;

typedef struct dcase {
    char name[400];
    const ds_spec *c;
    ds_env *e;
    sf_op op;
    const sf_op_info *info;
    sf_op_values v;
    int64_t counts[SF_COUNT_KINDS];
    slot s[SF_MAX_BUFS];
    tu_rng rng;
    tu_buf ws_host;
    kit_buf ws_dev;
    bool has_ws_host, has_ws_dev;
    double *owned[2];          /* arrays the case frees at the end (tie probabilities) */
} dcase;

typedef union any_args {
    sf_ew_args ew;
    sigfuse_lstm_forward_args lstm_f;
    sigfuse_lstm_backward_args lstm_b;
    sigfuse_gru_forward_args gru_f;
    sigfuse_gru_backward_args gru_b;
    sigfuse_bce_args bce;
    sigfuse_focal_args focal;
    sigfuse_head_predict_args head_p;
    sigfuse_head_train_args head_t;
} any_args;

static sigfuse_dtype host_dtype(sigfuse_dtype dt) { return dt == SIGFUSE_U8 ? SIGFUSE_U8 : SIGFUSE_F64; }

static int find_slot(const dcase *tc, const char *name)
{
    for (int i = 0; i < tc->info->n_bufs; i++)
        if (strcmp(tc->info->bufs[i].name, name) == 0)
            return i;
    return -1;
}

/* The slot of a buffer the op has (NULL when the case left it out). */
static slot *slot_named(dcase *tc, const char *name)
{
    int i = find_slot(tc, name);
    return i >= 0 && tc->s[i].used ? &tc->s[i] : NULL;
}

static tu_buf *in_buf(dcase *tc, const char *name)
{
    slot *s = slot_named(tc, name);
    return s ? &s->host : NULL;
}

/* Element i of an input, or `absent` when the case has no such input. */
static double in_at(dcase *tc, const char *name, int64_t i, double absent)
{
    const tu_buf *b = in_buf(tc, name);
    return b ? tu_get(b, i) : absent;
}

static double *out_scale(dcase *tc, const char *name)
{
    slot *s = slot_named(tc, name);
    return s && s->output ? s->scale : NULL;
}

/* The spec's field for an optional input (a bool: bias also for GRU's bias_x) or an
 * option (a float: label_smoothing is eps); NULL for any other name. */
static const void *spec_field(const ds_spec *c, const char *name)
{
    static const struct {
        const char *name;
        size_t field;
    } fields[] = {
        {"gates_h", offsetof(ds_spec, gates_h)},       {"bias", offsetof(ds_spec, bias)},
        {"bias_x", offsetof(ds_spec, bias)},           {"bias_h", offsetof(ds_spec, bias_h)},
        {"weight", offsetof(ds_spec, weight)},         {"pos_weight", offsetof(ds_spec, pos_weight)},
        {"dloss_in", offsetof(ds_spec, dloss)},        {"beta", offsetof(ds_spec, beta)},
        {"label_smoothing", offsetof(ds_spec, eps)},   {"grad_scale", offsetof(ds_spec, grad_scale)},
        {"threshold", offsetof(ds_spec, threshold)},   {"alpha", offsetof(ds_spec, alpha)},
        {"gamma", offsetof(ds_spec, gamma)},           {"gamma_pos", offsetof(ds_spec, gamma)},
        {"gamma_neg", offsetof(ds_spec, gamma_neg)},   {"margin", offsetof(ds_spec, margin)},
        {"smooth", offsetof(ds_spec, smooth)},         {"bce_weight", offsetof(ds_spec, bce_weight)},
        {"dice_weight", offsetof(ds_spec, dice_weight)}, {"mask", offsetof(ds_spec, mask)},
    };
    for (int k = 0; k < COUNT_OF(fields); k++)
        if (!strcmp(name, fields[k].name))
            return (const char *)c + fields[k].field;
    return NULL;
}

/* Whether an optional input is in the case (LSTM backward's dh and dc by `grads`). */
static bool input_present(const ds_spec *c, sf_op op, const char *name)
{
    const void *f = spec_field(c, name);
    if (f)
        return *(const bool *)f;
    if (!strcmp(name, "targets"))   /* a head's dense targets; its CSR has cases of its own */
        return true;
    if (op == SF_OP_lstm_cell_backward && (!strcmp(name, "dh") || !strcmp(name, "dc")))
        return c->grads != (!strcmp(name, "dh") ? 2u : 1u);
    return false;
}

/* An option's value (the reduction as a number). */
static double opt_value(const ds_spec *c, const char *name)
{
    const void *f = spec_field(c, name);
    cr_assert(f || !strcmp(name, "reduction"), "no option %s in the case", name);
    return f ? (double)*(const float *)f : (double)c->red;
}

static const char *red_name(sigfuse_reduction r)
{
    return r == SIGFUSE_REDUCTION_NONE ? "none" : r == SIGFUSE_REDUCTION_SUM ? "sum" : "mean";
}

static const char *targets_name(ds_targets k)
{
    return k == T_BINARY ? "binary" : k == T_SOFT ? "soft" : k == T_U8 ? "u8" : "mixed";
}

static bool wants(const ds_spec *c, int k) { return c->outs == DS_ALL || (c->outs >> k) & 1u; }

/* test_opencl's head views: x, bias, targets, logits, labels, loss, dx and dbias one
 * element past alignment, the others aligned. */
static int mixed_view(const char *name)
{
    static const char *const aligned[] = {"w", "pos_weight", "probs", "dw"};
    for (int k = 0; k < COUNT_OF(aligned); k++)
        if (!strcmp(name, aligned[k]))
            return 0;
    return 1;
}

static void appendf(char *buf, size_t size, const char *fmt, ...)
{
    size_t used = strlen(buf);
    va_list ap;
    va_start(ap, fmt);
    if (used < size)
        vsnprintf(buf + used, size - used, fmt, ap);
    va_end(ap);
}

/* The case's name, from the catalogue: op(backend=,dtype=, sizes, options, optional
 * inputs, outputs, flags, view=). */
static void case_name(dcase *tc)
{
    const ds_spec *c = tc->c;
    const sf_op_info *info = tc->info;
    char *nm = tc->name;
    const size_t sz = sizeof tc->name;
    snprintf(nm, sz, "%s(backend=%s,dtype=%s", info->name, tc->e->dev.name, sigfuse_dtype_name(c->dtype));
    if (info->shape == SF_SHAPE_LOSS)
        appendf(nm, sz, ",shape=[%lld,%lld]", (long long)tc->v.sizes[0], (long long)tc->v.sizes[1]);
    else
        for (int k = 0; k < info->n_sizes; k++)
            appendf(nm, sz, ",%s=%lld", info->sizes[k], (long long)tc->v.sizes[k]);
    for (int k = 0; k < info->n_opts; k++) {
        if (info->opts[k].reduction)
            appendf(nm, sz, ",red=%s", red_name((sigfuse_reduction)(int)tc->v.opts[k]));
        else
            appendf(nm, sz, ",%s=%g", info->opts[k].name, tc->v.opts[k]);
    }
    if (find_slot(tc, "targets") >= 0)
        appendf(nm, sz, ",targets=%s", targets_name(c->targets));
    for (int i = 0; i < info->n_inputs; i++)
        if (info->bufs[i].presence != SF_REQUIRED && tc->s[i].used)
            appendf(nm, sz, ",%s", info->bufs[i].name);
    if (c->outs != DS_ALL) {
        appendf(nm, sz, ",out=");
        for (int k = 0, first = 1; info->n_inputs + k < info->n_bufs; k++)
            if (wants(c, k)) {
                appendf(nm, sz, "%s%s", first ? "" : "+", info->bufs[info->n_inputs + k].name);
                first = 0;
            }
    }
    if (find_slot(tc, "labels") >= 0 && wants(c, find_slot(tc, "labels") - info->n_inputs))
        appendf(nm, sz, ",labels=%s", c->labels_u8 ? "u8" : "float");
    if (info->workspace)
        appendf(nm, sz, ",chunk_rows=%lld", (long long)c->chunk);
    appendf(nm, sz, "%s%s%s%s%s", c->in_place ? ",in_place" : "", c->limits ? ",limits" : "",
            c->extremes ? ",extremes" : "", c->draw == DS_LEADING ? ",draw=leading" : "", c->rerun ? ",rerun" : "");
    if (c->mixed_views)
        appendf(nm, sz, ",view=mixed)");
    else if (c->misalign)
        appendf(nm, sz, ",view=+%d)", c->misalign);
    else
        appendf(nm, sz, ",view=aligned)");
}

/* The dtype of buffer i: the case's float dtype, u8 targets or labels, an f32 scalar. */
static sigfuse_dtype buf_dtype(const dcase *tc, int i)
{
    const sigfuse_dtype dt = tc->c->dtype;
    switch (sf_op_buf_role(tc->op, &tc->v, i)) {
    case SF_ROLE_TARGET: return tc->c->targets == T_U8 ? SIGFUSE_U8 : dt;
    case SF_ROLE_LABEL: return tc->c->labels_u8 ? SIGFUSE_U8 : dt;
    case SF_ROLE_SCALAR: return SIGFUSE_F32;
    case SF_ROLE_MASK: return SIGFUSE_U8;
    default: return dt;
    }
}

/* Sizes and options from the spec, every present input (poisoned host buffers of its
 * dtype, for the family to fill) and every output asked for (its magnitudes zeroed). */
static void case_begin(dcase *tc, ds_env *e, const ds_spec *c)
{
    memset(tc, 0, sizeof *tc);
    tc->c = c;
    tc->e = e;
    tc->op = c->op;
    tc->info = &sf_op_infos[c->op];
    const sf_op_info *info = tc->info;
    const int64_t sizes[SF_SHAPE_MERGE + 1][3] = {
        [SF_SHAPE_EW] = {c->n}, [SF_SHAPE_LSTM] = {c->batch, c->hidden}, [SF_SHAPE_GRU] = {c->batch, c->hidden},
        [SF_SHAPE_LOSS] = {c->rows, c->cols}, [SF_SHAPE_HEAD] = {c->n, c->d, c->l},
    };
    for (int k = 0; k < shape_sizes(info->shape) && k < info->n_sizes; k++)
        tc->v.sizes[k] = sizes[info->shape][k];
    for (int k = 0; k < info->n_opts; k++)
        tc->v.opts[k] = opt_value(c, info->opts[k].name);
    for (int k = 0; k < info->n_opts; k++)
        if (!strcmp(info->opts[k].name, "grad_scale"))
            cr_assert(c->grad_scale != 0.0f, "%s: a case with grad_scale 0 (left out of its spec?)", info->name);
    cr_assert(sf_op_counts(c->op, &tc->v, tc->counts, NULL));
    for (int i = 0; i < info->n_bufs; i++) {
        slot *s = &tc->s[i];
        s->alias = -1;
        s->misalign = c->mixed_views ? mixed_view(info->bufs[i].name) : -1;
        s->dtype = buf_dtype(tc, i);
        s->n = tc->counts[info->bufs[i].count];
        s->output = !info->bufs[i].input;
        s->used = s->output ? wants(c, i - info->n_inputs)
                            : info->bufs[i].presence == SF_REQUIRED || input_present(c, c->op, info->bufs[i].name);
    }
    case_name(tc);
    tc->rng = tu_rng_seed(ds_hash(tc->name), tc->name);
    for (int i = 0; i < info->n_bufs; i++) {
        slot *s = &tc->s[i];
        if (s->used && !s->output)
            s->host = tu_alloc(s->dtype, s->n);
        if (s->used && s->output) {
            s->scale = calloc((size_t)(s->n > 0 ? s->n : 1), sizeof(double));
            cr_assert(s->scale);
        }
    }
}

static void case_free(dcase *tc)
{
    for (int i = 0; i < tc->info->n_bufs; i++) {
        slot *s = &tc->s[i];
        if (s->host.base)
            tu_free(&s->host);
        if (s->ref.base)
            tu_free(&s->ref);
        if (s->got.base)
            tu_free(&s->got);
        free(s->scale);
        kit_buf_free(&s->dev);
    }
    if (tc->has_ws_host)
        tu_free(&tc->ws_host);
    if (tc->has_ws_dev)
        kit_buf_free(&tc->ws_dev);
    for (int k = 0; k < COUNT_OF(tc->owned); k++)
        free(tc->owned[k]);
}

/* In place: each output asked for on the first of its inputs in this list (same shape and
 * role, as include/sigfuse.h allows) that the case has and no other output took. */
static void alias_in_place(dcase *tc)
{
    static const char *const pairs[][2] = {
        {"y", "x"},          {"y", "a"},         {"dx", "dy"},           {"da", "dy"},       {"db", "dy"},
        {"c", "c_prev"},     {"h", "h_prev"},    {"dgates", "gates_x"},  {"dc_prev", "dc"},  {"dbias", "bias"},
        {"dgates_x", "gates_x"}, {"dgates_h", "gates_h"}, {"dh_prev", "dh"}, {"dbias_x", "bias_x"},
        {"dbias_h", "bias_h"},
    };
    for (int o = tc->info->n_inputs; o < tc->info->n_bufs; o++) {
        if (!tc->s[o].used)
            continue;
        for (int k = 0; k < COUNT_OF(pairs) && tc->s[o].alias < 0; k++) {
            if (strcmp(pairs[k][0], tc->info->bufs[o].name) != 0)
                continue;
            int i = find_slot(tc, pairs[k][1]);
            bool taken = false;
            for (int p = tc->info->n_inputs; p < tc->info->n_bufs; p++)
                taken |= tc->s[p].alias == i;
            if (i >= 0 && tc->s[i].used && !taken)
                tc->s[o].alias = i;
        }
    }
}

/* The head's workspace for the case's chunk on this context, in its memory (the device
 * one 16 bytes past its allocation's alignment: a backend that wants more alignment must
 * make it itself). A rerun keeps the device one. */
static const sigfuse_buffer *workspace(dcase *tc, bool device, size_t bytes)
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
    if (tc->has_ws_dev && tc->ws_dev.bytes == bytes)
        return &tc->ws_dev.desc;
    if (tc->has_ws_dev)
        kit_buf_free(&tc->ws_dev);
    tc->ws_dev = ds_buf(&tc->e->dev, SIGFUSE_U8, (int64_t)bytes, 16);
    tc->has_ws_dev = true;
    return &tc->ws_dev.desc;
}

/* The op on b[] (slot i's descriptor or NULL), through its catalogue entry. The reference
 * computes a head as one of the case's dtype (its f64 copies round the dot product so). */
static sigfuse_status call(dcase *tc, sigfuse_ctx *ctx, bool device, const sigfuse_buffer *const *b)
{
    sf_op_values v = tc->v;
    for (int i = 0; i < tc->info->n_bufs; i++)
        v.bufs[i] = b[i];
    any_args a;
    sf_op_init(tc->op, &a);
    sf_op_set(tc->op, &a, &v);
    if (!tc->info->workspace)
        return sf_op_call(ctx, tc->op, &a);
    const bool predict = tc->op == SF_OP_head_predict;
    size_t bytes = 0;
    sigfuse_status st = predict ? sigfuse_head_predict_workspace_size(ctx, &a.head_p, tc->c->chunk, &bytes)
                                : sigfuse_head_train_workspace_size(ctx, &a.head_t, tc->c->chunk, &bytes);
    if (st != SIGFUSE_SUCCESS)
        return st;
    v.workspace = workspace(tc, device, bytes);
    v.workspace_bytes = bytes;
    sf_op_set(tc->op, &a, &v);
    if (device)
        return sf_op_call(ctx, tc->op, &a);
    return predict ? sf_ref_head_predict_as(ctx, &a.head_p, tc->c->dtype)
                   : sf_ref_head_train_step_as(ctx, &a.head_t, tc->c->dtype);
}

static int view_of(const dcase *tc, const slot *s) { return s->misalign >= 0 ? s->misalign : tc->c->misalign; }

/* Compare one output in ulps (the rules at the top); labels exactly, but for ties. */
static void compare_slot(dcase *tc, int i)
{
    slot *s = &tc->s[i];
    const unsigned char *raw = (const unsigned char *)tu_data(&s->got);
    if (s->dtype == SIGFUSE_U8)
        for (int64_t k = 0; k < s->n; k++)
            cr_expect(raw[k] <= 1, "%s: %s[%lld] is byte %d, not 0 or 1", tc->name, tc->info->bufs[i].name,
                      (long long)k, raw[k]);
    if (!s->tie_prob) {
        tu_inputs ins = {0};
        for (int k = 0; k < tc->info->n_inputs && s->describe; k++) {
            const slot *in = &tc->s[k];
            const sf_count ck = tc->info->bufs[k].count;
            if (in->used && in->n == s->n)
                tu_inputs_add(&ins, tc->info->bufs[k].name, &in->host, 0, 0, 0, 0);
            else if (in->used && (ck == SF_COUNT_COLS || ck == SF_COUNT_L) && in->n > 0)
                tu_inputs_add(&ins, tc->info->bufs[k].name, &in->host, in->n, 0, 0, 0);   /* per column */
        }
        tu_expect_ulp(tc->name, tc->info->bufs[i].name, &s->got, &s->host, s->scale, ins.n ? tu_describe_inputs : NULL,
                      &ins);
        return;
    }
    int64_t bad = 0;
    for (int64_t k = 0; k < s->n; k++) {
        const double got = tu_get(&s->got, k), want = tu_get(&s->host, k), p = s->tie_prob[k];
        const double m = s->tie_scale ? fmax(s->tie_scale[k], p) : p;
        const double window = fmin(s->tie_eps, 8.0 * tu_ulp32(m));
        if (got != want && !(fabs(p - s->tie_threshold) <= window)) {
            if (bad < 5)
                cr_expect_fail("%s: labels[%lld] = %.9g, truth %.9g (sigma %.9g, threshold %g)", tc->name,
                               (long long)k, got, want, p, s->tie_threshold);
            bad++;
        }
    }
    if (bad > 5)
        cr_expect_fail("%s: labels: %lld of %lld elements differ", tc->name, (long long)bad, (long long)s->n);
}

/* Run the reference and the device, then compare every output. */
static void case_run(dcase *tc)
{
    const sf_op_info *info = tc->info;
    kit_dev *dev = &tc->e->dev;
    const sigfuse_buffer *hb[SF_MAX_BUFS] = {0}, *db[SF_MAX_BUFS] = {0};

    /* The reference, on host memory in f64 (the truth), each output in its own buffer. */
    for (int i = 0; i < info->n_bufs; i++) {
        slot *s = &tc->s[i];
        if (!s->used)
            continue;
        if (s->output)
            s->host = tu_alloc(host_dtype(s->dtype), s->n);
        else
            s->ref = tu_copy_as(&s->host, host_dtype(s->dtype));
        hb[i] = s->output ? &s->host.desc : &s->ref.desc;
    }
    sigfuse_status st = call(tc, tc->e->cpu, false, hb);
    cr_assert(st == SIGFUSE_SUCCESS, "%s: the cpu reference failed: %s: %s", tc->name, sigfuse_status_string(st),
              sigfuse_ctx_last_error(tc->e->cpu));

    /* The device: inputs uploaded; outputs poisoned, an in-place one holding its input's
     * values in the one buffer the op gets in both places; outputs not asked for poisoned
     * too, and not passed. */
    for (int i = 0; i < info->n_bufs; i++) {
        slot *s = &tc->s[i];
        bool taken = false;
        for (int o = info->n_inputs; o < info->n_bufs; o++)
            taken |= tc->s[o].used && tc->s[o].alias == i;
        if (taken || (!s->output && !s->used))
            continue;
        s->dev = ds_buf(dev, s->dtype, s->n, view_of(tc, s));
        if (s->output && s->alias >= 0) {
            ds_upload(&s->dev, &tc->s[s->alias].host);
            db[s->alias] = &s->dev.desc;
        } else if (!s->output) {
            ds_upload(&s->dev, &s->host);
        }
        if (s->used)
            db[i] = &s->dev.desc;
    }
    st = call(tc, dev->ctx, true, db);
    cr_assert(st == SIGFUSE_SUCCESS, "%s: %s", tc->name, sigfuse_ctx_last_error(dev->ctx));
    st = sigfuse_ctx_synchronize(dev->ctx);
    cr_assert(st == SIGFUSE_SUCCESS, "%s: synchronize: %s", tc->name, sigfuse_ctx_last_error(dev->ctx));

    for (int i = info->n_inputs; i < info->n_bufs; i++) {
        slot *s = &tc->s[i];
        if (!s->used) {
            cr_expect(ds_untouched(&s->dev), "%s: %s was not asked for but written", tc->name, info->bufs[i].name);
            continue;
        }
        s->got = ds_download(&s->dev);
        cr_expect(ds_guards_ok(&s->dev), "%s: %s: a guard byte around the output was overwritten", tc->name,
                  info->bufs[i].name);
        compare_slot(tc, i);
    }
    if (tc->has_ws_dev)
        cr_expect(ds_guards_ok(&tc->ws_dev), "%s: a guard byte around the workspace was overwritten", tc->name);
}

/* Run the device again on the same buffers, the outputs poisoned first: every output
 * must come out bitwise the same (deterministic reductions). */
static void case_rerun_bitwise(dcase *tc)
{
    const sf_op_info *info = tc->info;
    const sigfuse_buffer *db[SF_MAX_BUFS] = {0};
    for (int i = 0; i < info->n_bufs; i++) {
        if (tc->s[i].used && tc->s[i].output && tc->s[i].alias >= 0)
            return;   /* in place: a rerun would start from other inputs */
        if (tc->s[i].used)
            db[i] = &tc->s[i].dev.desc;
    }
    for (int i = info->n_inputs; i < info->n_bufs; i++)
        if (tc->s[i].used)
            cr_assert(kit_buf_poison(&tc->s[i].dev), "%s", kit_error());
    sigfuse_ctx *ctx = tc->e->dev.ctx;
    sigfuse_status st = call(tc, ctx, true, db);
    cr_assert(st == SIGFUSE_SUCCESS, "%s (rerun): %s", tc->name, sigfuse_ctx_last_error(ctx));
    cr_assert(sigfuse_ctx_synchronize(ctx) == SIGFUSE_SUCCESS);
    for (int i = info->n_inputs; i < info->n_bufs; i++) {
        if (!tc->s[i].used)
            continue;
        tu_buf again = ds_download(&tc->s[i].dev);
        cr_expect(tu_bytes_equal(&tc->s[i].got, &again), "%s: %s differs bitwise between two runs", tc->name,
                  info->bufs[i].name);
        tu_free(&again);
    }
}

/* ====================================================================================
 * Inputs
 * ==================================================================================== */

/* DS_SPREAD's extremes, scattered: infinities, NaN, saturating and overflowing logits
 * (e^88.7 is near FLT_MAX), zeros of both signs, an f32 subnormal. */
static const double spread_extremes[] = {
    INFINITY, -INFINITY, NAN,  1e4,    -1e4, 88.7,  -88.7, 0.0,   -0.0,  1e-40,  20.0,  -20.0,  17.3,  -103.5, 15.0,
    -15.0,    17.0,      -17.0, 30.0, -30.0, 87.0,  -87.0, 90.0,  -90.0, 100.0, -100.0, 104.0, -104.0, 110.0,  -110.0};

/* DS_LEADING's, from element 0: infinities, NaN, zeros, subnormals, the logits where sigma
 * rounds to 1 in f32 (|x| >= 17) and where e^-|x| leaves the normal range (87.3), the f32
 * subnormal range (to 103.3) and underflows (|x| >= 104), and beyond. A subnormal input
 * reads as a subnormal in f32 and as 0 in f16 / bf16 (rounded on the way in, on both
 * sides). */
static const double leading_extremes[] = {
    INFINITY, -INFINITY, NAN,  1e4,   -1e4, 0.0,   -0.0, 88.7,   -88.7, 20.0,   -20.0, 1e-3,  15.0,  -15.0,
    17.0,     -17.0,     30.0, -30.0, 87.0, -87.0, 90.0, -90.0,  100.0, -100.0, 104.0, -104.0, 110.0, -110.0,
    1e-40,    -1e-40,    1e-45, 5.5,  -5.5, 88.72, -88.72, 103.0, -103.0,
};
#define N_LEADING COUNT_OF(leading_extremes)

void ds_put_extremes(tu_buf *b, ds_draw draw)
{
    if (draw == DS_LEADING) {
        for (int64_t i = 0; i < b->n && i < N_LEADING; i++)
            tu_set(b, i, leading_extremes[i]);
        return;
    }
    for (int j = 0; j < COUNT_OF(spread_extremes) && b->n > 0; j++)
        tu_set(b, (int64_t)(((uint64_t)j * 977u + 3u) % (uint64_t)b->n), spread_extremes[j]);
}

/* A present input uniform in [lo, hi) (0 / 1 at random in u8). */
static tu_buf *draw(dcase *tc, const char *name, double lo, double hi)
{
    tu_buf *b = in_buf(tc, name);
    if (b && b->dtype == SIGFUSE_U8)
        tu_fill_binary(b, &tc->rng);
    else if (b)
        tu_fill_uniform(b, &tc->rng, lo, hi);
    return b;
}

/* x sigma(x) and its derivative in the f32 subnormal range: count values in [-110, -80]. */
static void put_subnormal_stretch(dcase *tc, tu_buf *b, int64_t from, int64_t count)
{
    for (int64_t k = from; k < b->n && k < from + count; k++)
        tu_set(b, k, tu_uniform(&tc->rng, -110.0, -80.0));
}

/* ====================================================================================
 * Elementwise ops (activations, GLU, SwiGLU): the catalogue's inputs and outputs
 * ==================================================================================== */

static void ew_fill(dcase *tc)
{
    const ds_spec *c = tc->c;
    const sf_op_info *info = tc->info;
    const int64_t n = tc->counts[SF_COUNT_N];
    for (int i = 0; i < info->n_inputs; i++) {
        const char *nm = info->bufs[i].name;
        tu_buf *b = &tc->s[i].host;
        const bool sig_arg = !strcmp(nm, "x") || !strcmp(nm, "b");   /* the sigmoid's argument */
        if (tc->op == SF_OP_sigmoid_backward && !strcmp(nm, "y")) {
            tu_fill_uniform(b, &tc->rng, 0.0, 1.0);   /* a saved sigmoid output */
            static const double ys[] = {0.0, 1.0, NAN, 0.5, 1e-30};
            for (int k = 0; k < 5 && k < n && c->draw == DS_SPREAD; k++)
                tu_set(b, (k * 131 + 1) % n, ys[k]);
        } else if (c->draw == DS_LEADING) {
            tu_fill_uniform(b, &tc->rng, -8.0, 8.0);
            if (c->extremes)
                ds_put_extremes(b, DS_LEADING);
            if (c->extremes && sig_arg)
                put_subnormal_stretch(tc, b, N_LEADING, 256);
        } else if (!sig_arg) {
            tu_fill_uniform(b, &tc->rng, !strcmp(nm, "a") ? -2.0 : -1.0, !strcmp(nm, "a") ? 2.0 : 1.0);
        } else {
            tu_fill_uniform(b, &tc->rng, -8.0, 8.0);
            if (c->extremes) {
                put_subnormal_stretch(tc, b, n / 2, 64);
                ds_put_extremes(b, DS_SPREAD);
            }
        }
    }
    for (int64_t i = 0; i < n; i++) {
        double v[3] = {0.0, 0.0, 0.0};
        for (int k = 0; k < info->n_inputs; k++)
            v[k] = tu_get(&tc->s[k].host, i);
        for (int o = info->n_inputs, k = 0; o < info->n_bufs; o++, k++)
            if (tc->s[o].used)
                tc->s[o].scale[i] = tu_scale_ew((int)tc->op, (double)c->beta, v, k);
    }
    for (int o = info->n_inputs; o < info->n_bufs; o++)
        tc->s[o].describe = true;
}

/* ====================================================================================
 * Losses: BCE with logits and sigmoid focal
 * ==================================================================================== */

/* sigma(logit) per element, for excusing label ties at the threshold. */
static double *tie_probs(const tu_buf *x)
{
    double *p = (double *)malloc(sizeof(double) * (size_t)(x->n > 0 ? x->n : 1));
    cr_assert(p);
    for (int64_t i = 0; i < x->n; i++)
        p[i] = tu_sigmoid_d(tu_get(x, i));
    return p;
}

/* Whether element i counts (no mask, or a nonzero byte). */
static bool kept_at(dcase *tc, int64_t i)
{
    const tu_buf *m = in_buf(tc, "mask");
    return m == NULL || tu_get(m, i) != 0.0;
}

/* The mask, when the case has one: about a third of the elements ignored, bytes other
 * than 1 among those kept, and among the ignored NaN and infinite logits and NaN float
 * targets, which must not reach any output. The elements kept (all without a mask). */
static int64_t mask_fill(dcase *tc, tu_buf *x, tu_buf *y)
{
    tu_buf *m = in_buf(tc, "mask");
    if (!m)
        return x->n;
    int64_t kept = 0;
    for (int64_t i = 0; i < m->n; i++) {
        const bool keep = tu_uniform(&tc->rng, 0.0, 1.0) >= 1.0 / 3.0;
        ((uint8_t *)tu_data(m))[i] = keep ? (i % 4 == 0 ? 255 : 1) : 0;   /* raw: any nonzero byte keeps */
        kept += keep;
        if (keep || i % 3 == 0)
            continue;
        tu_set(x, i, i % 3 == 1 ? NAN : (i % 2 ? INFINITY : -INFINITY));
        if (y->dtype != SIGFUSE_U8 && i % 5 == 0)
            tu_set(y, i, NAN);
    }
    return kept;
}

static void loss_fill(dcase *tc)
{
    const ds_spec *c = tc->c;
    const bool leading = c->draw == DS_LEADING, bce = tc->op == SF_OP_bce_with_logits;
    const int64_t n = tc->counts[SF_COUNT_TOTAL], cols = tc->counts[SF_COUNT_COLS];
    const sigfuse_reduction red = c->red;
    tu_buf *x = draw(tc, "logits", leading ? -10.0 : -8.0, leading ? 10.0 : 8.0);
    if (c->extremes && !leading)
        ds_put_extremes(x, DS_SPREAD);
    tu_buf *y = in_buf(tc, "targets");
    if (c->targets == T_SOFT)
        tu_fill_uniform(y, &tc->rng, 0.0, 1.0);
    else
        tu_fill_binary(y, &tc->rng);
    for (int64_t i = 5; c->targets == T_MIXED && i < n; i += 11)
        tu_set(y, i, 0.3);
    /* Every leading extreme logit with a target of 1, then of 0, then with its own. */
    for (int j = 0; c->extremes && leading && j < N_LEADING; j++)
        for (int k = 0; k < 3; k++) {
            const int64_t i = k * N_LEADING + j;
            if (i >= n)
                continue;
            tu_set(x, i, leading_extremes[j]);
            if (k < 2)
                tu_set(y, i, k == 0 ? 1.0 : 0.0);
        }
    tu_buf *w = draw(tc, "weight", 0.0, 2.0);
    for (int64_t i = 0; w && !leading && i < n; i += 5)
        tu_set(w, i, 0.0);   /* w = 0 meets infinite logits: the loss is 0, not NaN */
    const tu_buf *pw = draw(tc, "pos_weight", 0.5, 3.0);
    tu_buf *dl = draw(tc, "dloss_in", leading ? -2.0 : -1.0, leading ? 2.0 : 1.0);
    if (dl && red != SIGFUSE_REDUCTION_NONE && !leading)
        tu_set(dl, 0, 0.75);
    const int64_t kept = mask_fill(tc, x, y);

    /* The magnitudes: per element, the gradient's times the factor it carries (grad_scale,
     * the upstream gradient, 1/n for MEAN); a reduced loss at the sum of its terms' (4 ulp
     * times the sum's condition number, 1 for terms >= 0), over n for MEAN. */
    double *ml = out_scale(tc, "loss"), *mg = out_scale(tc, "dlogits");
    for (int64_t i = 0; i < n; i++) {
        double lm, gm;
        if (!kept_at(tc, i))
            lm = gm = 0.0;   /* exactly 0 */
        else if (bce)
            tu_scale_bce(tu_get(x, i), tu_get(y, i), w ? tu_get(w, i) : 1.0, pw ? tu_get(pw, i % cols) : 1.0,
                         (double)c->eps, &lm, &gm);
        else if (tc->op == SF_OP_asymmetric)
            tu_scale_asymmetric(tu_get(x, i), tu_get(y, i), (double)c->gamma, (double)c->gamma_neg,
                                (double)c->margin, &lm, &gm);
        else
            tu_scale_focal(tu_get(x, i), tu_get(y, i), (double)c->alpha, (double)c->gamma, &lm, &gm);
        double f = (double)c->grad_scale * (dl ? tu_get(dl, red == SIGFUSE_REDUCTION_NONE ? i : 0) : 1.0);
        if (red == SIGFUSE_REDUCTION_MEAN && kept > 0)
            f /= (double)kept;
        if (mg)
            mg[i] = gm * fabs(f);
        if (ml)
            ml[red == SIGFUSE_REDUCTION_NONE ? i : 0] += lm;
    }
    if (ml && red == SIGFUSE_REDUCTION_MEAN && kept > 0)
        ml[0] /= (double)kept;
    for (int i = tc->info->n_inputs; i < tc->info->n_bufs; i++)
        tc->s[i].describe = tc->s[i].n == n;
    slot *labels = slot_named(tc, "labels");
    if (labels) {
        labels->tie_prob = tc->owned[0] = tie_probs(x);
        labels->tie_threshold = c->threshold;
        labels->tie_eps = 8.0 * tu_ulp32(c->threshold);   /* f32 sigma vs the double one */
    }
}

/* bce_dice over [images, pixels]: logits and soft or hard targets as for the losses, the
 * mask, pos_weight and a scalar upstream gradient. The magnitudes: D from two sums of
 * non-negative terms (2 |D|); a pixel's gradient the sum of its BCE term's magnitude
 * (tu_scale_bce, over the kept count for MEAN) and its Dice term's,
 * |dice_weight| / images (2 y + |D|) p (1 - p) / (U + smooth), 3 times for the roundings
 * of D, 1 / (U + smooth) and the product; the loss the BCE terms' sum and
 * |dice_weight| / images sum (1 + 2 |D|), each term's weight times. */
static void put(double *m, int64_t i, double v);

static void dice_fill(dcase *tc)
{
    const ds_spec *c = tc->c;
    const int64_t rows = tc->v.sizes[0], cols = tc->v.sizes[1], n = rows * cols;
    tu_buf *x = draw(tc, "logits", -8.0, 8.0);
    if (c->extremes)
        ds_put_extremes(x, DS_SPREAD);
    tu_buf *y = in_buf(tc, "targets");
    if (c->targets == T_SOFT)
        tu_fill_uniform(y, &tc->rng, 0.0, 1.0);
    else
        tu_fill_binary(y, &tc->rng);
    const tu_buf *pw = draw(tc, "pos_weight", 0.5, 3.0);
    tu_buf *dl = draw(tc, "dloss_in", -1.0, 1.0);
    if (dl)
        tu_set(dl, 0, -0.75);
    const int64_t kept = mask_fill(tc, x, y);
    const double wb = c->bce_weight, wd = c->dice_weight, sm = c->smooth;
    const double f = (double)c->grad_scale * (dl ? -0.75 : 1.0);
    const double bce_div = c->red == SIGFUSE_REDUCTION_MEAN && kept > 0 ? (double)kept : 1.0;
    double *ml = out_scale(tc, "loss"), *mg = out_scale(tc, "dlogits"), *md = out_scale(tc, "dice");
    double loss_m = 0.0;
    for (int64_t r = 0; r < rows; r++) {
        double inter = 0.0, uni = 0.0;
        for (int64_t j = r * cols; j < (r + 1) * cols; j++)
            if (kept_at(tc, j)) {
                const double p = tu_sigmoid_d(tu_get(x, j));
                inter += p * tu_get(y, j);
                uni += p + tu_get(y, j);
            }
        const double d = (2.0 * inter + sm) / (uni + sm), inv = 1.0 / (uni + sm);
        put(md, r, isfinite(d) ? 2.0 * fabs(d) : 0.0);
        if (wd != 0.0)
            loss_m += fabs(wd) / (double)rows * (1.0 + 2.0 * fabs(d));
        for (int64_t j = r * cols; j < (r + 1) * cols; j++) {
            if (!kept_at(tc, j))
                continue;   /* 0 exactly */
            const double xj = tu_get(x, j), yj = tu_get(y, j);
            double lm = 0.0, gm = 0.0;
            tu_scale_bce(xj, yj, 1.0, pw ? tu_get(pw, j % cols) : 1.0, (double)c->eps, &lm, &gm);
            double g = wb != 0.0 ? fabs(wb) * gm / bce_div : 0.0;
            if (wd != 0.0 && isfinite(d))
                g += 3.0 * fabs(wd) / (double)rows * (2.0 * fabs(yj) + fabs(d)) * tu_sigmoid_d(xj) *
                     tu_sigmoid_d(-xj) * inv;
            put(mg, j, g * fabs(f));
            if (wb != 0.0)
                loss_m += fabs(wb) * lm / bce_div;
        }
    }
    put(ml, 0, loss_m);
    for (int i = tc->info->n_inputs; i < tc->info->n_bufs; i++)
        tc->s[i].describe = tc->s[i].n == n;
}

/* ====================================================================================
 * Recurrent cells
 * ==================================================================================== */

/* Magnitude arrays the case may not have (NULL). */
static void put(double *m, int64_t i, double v)
{
    if (m)
        m[i] = v;
}

static void add_to(double *m, int64_t i, double v)
{
    if (m)
        m[i] += v;
}

static double value(const tu_buf *b, int64_t i) { return b ? tu_get(b, i) : 0.0; }

/* A cell's inputs by role (NULL where absent): the gates; bias (LSTM) or bias_x, and
 * bias_h; c_prev or h_prev; the upstream gradients. m: the outputs' magnitudes, by name. */
typedef struct cell_io {
    const tu_buf *gx, *gh, *bx, *bh, *prev, *dh, *dc;
    double *h, *c, *dgates, *dc_prev, *dbias, *dgx, *dgh, *dh_prev, *dbx, *dbh;
    int64_t H;
} cell_io;

/* One (row b, unit j) of an LSTM: tu_scale_lstm; dbias sums its column's dgates. */
static void lstm_unit(const cell_io *io, int64_t b, int64_t j)
{
    const int64_t H = io->H, o = b * H + j;
    tu_lstm_in in = {.has_h = io->gh != NULL, .has_b = io->bx != NULL};
    for (int k = 0; k < 4; k++) {
        in.gx[k] = value(io->gx, b * 4 * H + k * H + j);
        in.gh[k] = value(io->gh, b * 4 * H + k * H + j);
        in.b[k] = value(io->bx, k * H + j);
    }
    in.cp = value(io->prev, o), in.dh = value(io->dh, o), in.dc = value(io->dc, o);
    double c, h, dg[4], dcp;
    tu_scale_lstm(&in, &c, &h, dg, &dcp);
    put(io->h, o, h), put(io->c, o, c), put(io->dc_prev, o, dcp);
    for (int k = 0; k < 4; k++)
        put(io->dgates, b * 4 * H + k * H + j, dg[k]), add_to(io->dbias, k * H + j, dg[k]);
}

/* One (row b, unit j) of a GRU: tu_scale_gru; the bias gradients sum their column's. */
static void gru_unit(const cell_io *io, int64_t b, int64_t j)
{
    const int64_t H = io->H, o = b * H + j;
    tu_gru_in in = {.has_bx = io->bx != NULL, .has_bh = io->bh != NULL, .hp = value(io->prev, o),
                    .dh = value(io->dh, o)};
    for (int k = 0; k < 3; k++) {
        const int64_t g = b * 3 * H + k * H + j;
        in.gi[k] = value(io->gx, g), in.gh[k] = value(io->gh, g);
        in.bx[k] = value(io->bx, k * H + j), in.bh[k] = value(io->bh, k * H + j);
    }
    double h, dgx[3], dgh[3], dhp;
    tu_scale_gru(&in, &h, dgx, dgh, &dhp);
    put(io->h, o, h), put(io->dh_prev, o, dhp);
    for (int k = 0; k < 3; k++) {
        put(io->dgx, b * 3 * H + k * H + j, dgx[k]), put(io->dgh, b * 3 * H + k * H + j, dgh[k]);
        add_to(io->dbx, k * H + j, dgx[k]), add_to(io->dbh, k * H + j, dgh[k]);
    }
}

/* Cell inputs: the gates in [-4, 4] (gates_x with the extremes; gates_h in [-2, 2] when
 * leading), biases in [-1, 1], c_prev in [-2, 2], h_prev and the upstream gradients in
 * [-1, 1], in this order; then the magnitudes per row and unit. */
static void cell_fill(dcase *tc)
{
    const ds_spec *c = tc->c;
    const bool lead = c->draw == DS_LEADING;
    tu_buf *gx = draw(tc, "gates_x", -4.0, 4.0);
    if (c->extremes)
        ds_put_extremes(gx, c->draw);
    static const struct {
        const char *name;
        double hi;
    } rest[] = {{"bias", 1.0},   {"bias_x", 1.0}, {"bias_h", 1.0}, {"c_prev", 2.0},
                {"h_prev", 1.0}, {"dh", 1.0},     {"dc", 1.0}};
    draw(tc, "gates_h", lead ? -2.0 : -4.0, lead ? 2.0 : 4.0);
    for (int k = 0; k < COUNT_OF(rest); k++)
        draw(tc, rest[k].name, -rest[k].hi, rest[k].hi);
    const bool lstm = tc->info->shape == SF_SHAPE_LSTM;
    const cell_io io = {
        gx, in_buf(tc, "gates_h"), in_buf(tc, lstm ? "bias" : "bias_x"), in_buf(tc, "bias_h"),
        in_buf(tc, lstm ? "c_prev" : "h_prev"), in_buf(tc, "dh"), in_buf(tc, "dc"),
        out_scale(tc, "h"), out_scale(tc, "c"), out_scale(tc, "dgates"), out_scale(tc, "dc_prev"),
        out_scale(tc, "dbias"), out_scale(tc, "dgates_x"), out_scale(tc, "dgates_h"), out_scale(tc, "dh_prev"),
        out_scale(tc, "dbias_x"), out_scale(tc, "dbias_h"), tc->v.sizes[1],
    };
    for (int64_t b = 0; b < tc->v.sizes[0]; b++)
        for (int64_t j = 0; j < io.H; j++)
            lstm ? lstm_unit(&io, b, j) : gru_unit(&io, b, j);
}

/* ====================================================================================
 * Multi-label heads
 * ==================================================================================== */

/* The significant bits of the gradient G as the head's products read it: CUDA feeds them
 * G in the storage dtype (f16: 11, bf16: 8), other backends in f32. (A 16-bit head's logits
 * are rounded to its dtype on every backend: tu_scale_head allows for that.) */
static int head_g_bits(sigfuse_backend b, sigfuse_dtype dt)
{
    if (b != SIGFUSE_BACKEND_CUDA || dt == SIGFUSE_F32)
        return 24;
    return dt == SIGFUSE_F16 ? 11 : 8;
}

/* sigma(z) of each logit, in double, for excusing label ties: z as the op defines it
 * (a 16-bit head's dot product rounded to its dtype, then the bias). */
static double *head_probs(dcase *tc, int64_t n, int64_t d, int64_t l, sigfuse_dtype dt)
{
    double *p = (double *)malloc(sizeof(double) * (size_t)(n * l > 0 ? n * l : 1));
    cr_assert(p);
    double *x = tu_values(in_buf(tc, "x")), *w = tu_values(in_buf(tc, "w"));
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < l; j++) {
            double z = 0.0;
            for (int64_t k = 0; k < d; k++)
                z += x[i * d + k] * w[j * d + k];
            if (dt == SIGFUSE_F16 || dt == SIGFUSE_BF16)
                z = sf_round_to_dtype(z, dt);
            z += in_at(tc, "bias", j, 0.0);
            p[i * l + j] = tu_sigmoid_d(z);
        }
    free(x);
    free(w);
    return p;
}

/* limits: every third column's bias is -inf (+inf) with targets 0 (1) there, logits whose
 * fast loss is 0 * inf (NaN) and whose loss is the limit 0 and gradient 0: the CUDA
 * epilogues' limits path, with the totals still finite. The magnitudes are those of a bias
 * of 0 there (a bound: those logits add nothing exactly). */
static void head_fill(dcase *tc)
{
    const ds_spec *c = tc->c;
    const sigfuse_dtype dt = c->dtype;
    const int64_t n = tc->v.sizes[0], d = tc->v.sizes[1], l = tc->v.sizes[2], nl = n * l;
    const tu_buf *x = draw(tc, "x", -1.0, 1.0), *w = draw(tc, "w", -1.0, 1.0);
    tu_buf *bias = draw(tc, "bias", c->draw == DS_LEADING ? -1.0 : -0.5, c->draw == DS_LEADING ? 1.0 : 0.5);
    if (tc->op == SF_OP_head_predict) {
        /* The GEMM rounds z at sum |x w| + |b|, log2 d deep. */
        double *mz = out_scale(tc, "logits"), *mp = calloc((size_t)(nl > 0 ? nl : 1), sizeof(double));
        cr_assert(mp);
        tu_scale_head(x, w, bias, NULL, NULL, n, d, l, dt, 1.0, false, 24, mz, mp, NULL, NULL, NULL, NULL);
        if (out_scale(tc, "probs"))
            memcpy(out_scale(tc, "probs"), mp, sizeof(double) * (size_t)nl);
        slot *labels = slot_named(tc, "labels");
        if (labels) {
            labels->tie_prob = tc->owned[0] = head_probs(tc, n, d, l, dt);
            labels->tie_scale = tc->owned[1] = mp;
            labels->tie_threshold = c->threshold;
            /* sigma(z) carries z's GEMM rounding: sigma' <= 1/4 times 4 ulp of d + 1 terms
             * of size <= 1, log2 d deep; 16-bit inputs are exact, the output is not rounded
             * first. A 16-bit head's dot product (|dot| <= d) may round to the neighbour of
             * the reference's from d = 2 on: one 16-bit ulp of it, at most d 2^-7 (bf16) or
             * d 2^-10 (f16), through sigma' <= 1/4 (tu_scale_head widens the others alike). */
            labels->tie_eps = 8.0 * tu_ulp32(0.25 * (double)(d + 1) * fmax(1.0, log2((double)(d + 1))));
            if ((dt == SIGFUSE_F16 || dt == SIGFUSE_BF16) && d >= 2)
                labels->tie_eps += 0.25 * ldexp((double)d, dt == SIGFUSE_F16 ? -10 : -7);
        } else {
            free(mp);
        }
        return;
    }
    tu_buf *y = in_buf(tc, "targets");
    if (c->targets == T_SOFT)
        tu_fill_uniform(y, &tc->rng, 0.0, 1.0);
    else
        tu_fill_binary(y, &tc->rng);
    const tu_buf *pw = draw(tc, "pos_weight", 0.5, 3.0);
    tu_buf mag_bias = {0};   /* limits: the bias the magnitudes are taken at */
    if (c->limits) {
        cr_assert(bias, "%s: limits need the bias", tc->name);
        mag_bias = tu_alloc(dt, l);
        for (int64_t j = 0; j < l; j++) {
            const bool lim = j % 3 == 1, up = j % 6 == 4;
            tu_set(&mag_bias, j, lim ? 0.0 : tu_get(bias, j));
            if (lim) {
                tu_set(bias, j, up ? INFINITY : -INFINITY);
                for (int64_t i = 0; i < n; i++)
                    tu_set(y, i * l + j, up ? 1.0 : 0.0);
            }
        }
    }
    const bool mean = c->red == SIGFUSE_REDUCTION_MEAN;
    const double f = fabs((double)c->grad_scale) / (mean && nl > 0 ? (double)nl : 1.0);
    tu_scale_head(x, w, c->limits ? &mag_bias : bias, y, pw, n, d, l, dt, f, mean,
                  head_g_bits(tc->e->dev.backend, dt), NULL, NULL, out_scale(tc, "loss"), out_scale(tc, "dx"),
                  out_scale(tc, "dw"), out_scale(tc, "dbias"));
    if (c->limits)
        tu_free(&mag_bias);
}

/* ====================================================================================
 * One case
 * ==================================================================================== */

void ds_case(ds_env *e, const ds_spec *c)
{
    dcase tc;
    case_begin(&tc, e, c);
    switch (tc.info->shape) {
    case SF_SHAPE_EW: ew_fill(&tc); break;
    case SF_SHAPE_LOSS: c->op == SF_OP_bce_dice ? dice_fill(&tc) : loss_fill(&tc); break;
    case SF_SHAPE_LSTM:
    case SF_SHAPE_GRU: cell_fill(&tc); break;
    case SF_SHAPE_HEAD: head_fill(&tc); break;
    case SF_SHAPE_MERGE: cr_assert_fail("%s: top-k has checks of its own (topk_sweep)", tc.name); break;
    }
    if (c->in_place)
        alias_in_place(&tc);
    case_run(&tc);
    slot *loss = slot_named(&tc, "loss");
    if (c->limits && loss)   /* the case's point: a finite total through the limits */
        cr_expect(isfinite(tu_get(&loss->host, 0)), "%s: the reference loss is %g", tc.name, tu_get(&loss->host, 0));
    if (c->rerun)
        case_rerun_bitwise(&tc);
    case_free(&tc);
}

/* ====================================================================================
 * The sweeps: test_backend_ops' cases (DS_SPREAD), then test_opencl's (DS_LEADING)
 * ==================================================================================== */

/* In quick mode, only the shapes whose index is in the mask run (bit i: index i). */
static bool shape_runs(int index, unsigned quick_mask) { return !ds_quick() || (quick_mask >> index) & 1u; }

static const sigfuse_reduction reds[] = {SIGFUSE_REDUCTION_NONE, SIGFUSE_REDUCTION_SUM, SIGFUSE_REDUCTION_MEAN};

static void ew_sweep(ds_env *e, sf_op op, sigfuse_dtype dt)
{
    static const int64_t sizes[] = {0, 1, 7, 1023, 4097};
    const sf_op_info *info = &sf_op_infos[op];
    const bool has_beta = info->n_opts > 0, two = info->n_bufs - info->n_inputs == 2;
    /* Every size, view, beta and output set (da, db or both). */
    const float betas[] = {1.0f, 0.0f, 1.702f, -0.5f};
    for (int si = 0; si < COUNT_OF(sizes); si++)
        for (int mis = 0; mis < 2 && shape_runs(si, 0x0bu /* 0, 1, 1023 */); mis++)
            for (int bi = 0; bi < (has_beta ? 4 : 1); bi++)
                for (unsigned outs = 0; outs < (two ? 3u : 1u); outs++)
                    ds_case(e, &(ds_spec){.op = op, .dtype = dt, .n = sizes[si], .beta = betas[bi], .outs = outs,
                                          .misalign = mis, .extremes = true});
    /* In place, both views. */
    for (int mis = 0; mis < 2; mis++)
        ds_case(e, &(ds_spec){.op = op, .dtype = dt, .n = 1023, .beta = 1.0f, .misalign = mis, .extremes = true,
                              .in_place = true});
    /* The large size for a few ops (the vector path over many grid-stride passes). */
    if (!ds_quick() && (op == SF_OP_sigmoid_forward || op == SF_OP_silu_backward || op == SF_OP_glu_backward ||
                        op == SF_OP_swiglu_forward))
        for (int mis = 0; mis < 2; mis++)
            ds_case(e, &(ds_spec){.op = op, .dtype = dt, .n = BIG_N, .beta = 1.0f, .misalign = mis, .extremes = true,
                                  .rerun = mis == 0});

    /* test_opencl's: every size at both views; the extremes at each beta; each output
     * alone; the large size for three ops in f32 and sigmoid in f16. */
    const float ocl_betas[] = {1.0f, 1.702f, 0.0f, -0.5f};
    for (int si = 0; si < COUNT_OF(sizes); si++)
        for (int off = 0; off <= 1; off++)
            ds_case(e, &(ds_spec){.op = op, .dtype = dt, .n = sizes[si], .beta = 1.0f, .misalign = off,
                                  .draw = DS_LEADING});
    for (int b = 0; b < (has_beta ? 4 : 1); b++)
        ds_case(e, &(ds_spec){.op = op, .dtype = dt, .n = 1023, .beta = ocl_betas[b], .misalign = 1, .extremes = true,
                              .draw = DS_LEADING});
    for (unsigned outs = 1; two && outs <= 3; outs++)
        ds_case(e, &(ds_spec){.op = op, .dtype = dt, .n = 4097, .beta = 1.3f, .outs = outs, .draw = DS_LEADING});
    const bool big = (dt == SIGFUSE_F32 && (op == SF_OP_sigmoid_forward || op == SF_OP_silu_backward ||
                                            op == SF_OP_glu_backward)) ||
                     (dt == SIGFUSE_F16 && op == SF_OP_sigmoid_forward);
    if (!ds_quick() && big)
        ds_case(e, &(ds_spec){.op = op, .dtype = dt, .n = BIG_N, .beta = 1.0f, .misalign = 1, .draw = DS_LEADING});
}

/* {9, 64}: cols a multiple of every vector width, where the CUDA kernels read pos_weight a
 * vector at a time. test_opencl's: 0, 1, 7, 1023 and 4097 elements, odd column counts so
 * that rows straddle work-items and pos_weight's column walk wraps. */
typedef struct shape2 {
    int64_t rows, cols;
} shape2;
static const shape2 loss_shapes[] = {{0, 5}, {3, 0}, {1, 1}, {1, 7}, {7, 1}, {31, 33}, {17, 241}, {4097, 1}, {9, 64}};
static const shape2 ocl_loss_shapes[] = {{0, 5}, {1, 1}, {1, 7}, {3, 341}, {17, 241}};

/* Loss outputs, bits in catalogue order. */
enum { O_LOSS = 1, O_DX = 2, O_PROBS = 4, O_LABELS = 8, O_ALL = 15 };

/* A loss case's options (BCE's and focal's: each op reads its own). */
typedef struct loss_set {
    ds_targets targets;
    bool weight, pos_weight, dloss;
    float eps, grad_scale, threshold;
    unsigned outs;
    bool labels_u8, extremes;
    float alpha, gamma;
} loss_set;
/* A BCE set and a focal set, in the order of their tables' columns. */
#define BCE(targets, w, pw, dl, eps, gs, thr, outs, u8lab, ext)                                                        \
    {targets, w, pw, dl, eps, gs, thr, outs, u8lab, ext, 0.0f, 0.0f}
#define FOCAL(targets, alpha, gamma, gs, dl, outs, ext)                                                                \
    {targets, false, false, dl, 0.0f, gs, 0.5f, outs, false, ext, alpha, gamma}

static ds_spec loss_spec(sf_op op, sigfuse_dtype dt, shape2 sh, sigfuse_reduction red, const loss_set *o, int misalign,
                         ds_draw draw, bool rerun)
{
    return (ds_spec){.op = op, .dtype = dt, .rows = sh.rows, .cols = sh.cols, .red = red, .targets = o->targets,
                     .weight = o->weight, .pos_weight = o->pos_weight, .dloss = o->dloss, .eps = o->eps,
                     .grad_scale = o->grad_scale, .threshold = o->threshold, .alpha = o->alpha, .gamma = o->gamma,
                     .outs = o->outs, .labels_u8 = o->labels_u8, .extremes = o->extremes, .misalign = misalign,
                     .draw = draw, .rerun = rerun};
}

static void loss_run(ds_env *e, sf_op op, sigfuse_dtype dt, shape2 sh, sigfuse_reduction red, const loss_set *o,
                     int misalign, ds_draw draw, bool rerun)
{
    ds_spec c = loss_spec(op, dt, sh, red, o, misalign, draw, rerun);
    ds_case(e, &c);
}

/* Every loss shape x reduction x option set x view (test_backend_ops'). */
static void loss_grid(ds_env *e, sf_op op, sigfuse_dtype dt, const loss_set *sets, int n_sets)
{
    for (int si = 0; si < COUNT_OF(loss_shapes); si++)
        for (int ri = 0; ri < 3 && shape_runs(si, 0x129u /* [0,5] [1,7] [31,33] [9,64] */); ri++)
            for (int oi = 0; oi < n_sets; oi++)
                for (int mis = 0; mis < 2; mis++)
                    loss_run(e, op, dt, loss_shapes[si], reds[ri], &sets[oi], mis, DS_SPREAD, false);
}

static void bce_sweep(ds_env *e, sigfuse_dtype dt)
{
    const sf_op op = SF_OP_bce_with_logits;
    /* Each option set runs with each reduction: together they give every option (weight,
     * pos_weight, smoothing, upstream gradient, grad_scale, threshold, each output alone and
     * together, u8 and float targets and labels) and the limits at extreme logits. */
    static const loss_set sets[] = {
        /* targets  w      pw     dl     eps   gs    thr   outs                       u8lab  ext */
        BCE(T_BINARY, false, false, false, 0.0f, 1.0f, 0.5f, O_ALL, true, false),
        BCE(T_SOFT, true, true, true, 0.1f, 0.5f, 0.3f, O_ALL, false, false),
        BCE(T_U8, false, true, true, 0.0f, 2.0f, 0.5f, O_LOSS | O_DX, false, false),
        BCE(T_SOFT, true, false, false, 0.2f, 1.0f, 0.5f, O_LOSS, false, false),
        BCE(T_U8, true, true, false, 0.0f, 1.0f, 0.7f, O_DX | O_PROBS | O_LABELS, true, false),
        BCE(T_BINARY, true, true, true, 0.05f, 1.0f, 0.5f, O_ALL, false, true),
        BCE(T_U8, false, false, false, 0.0f, 1.0f, 0.5f, O_LOSS | O_DX, false, true),
        /* the CUDA specialised sets with extremes: training with pos_weight (float and u8
         * targets), with a weight, and the reduced loss alone */
        BCE(T_BINARY, false, true, false, 0.0f, 1.0f, 0.5f, O_LOSS | O_DX, false, true),
        BCE(T_U8, false, true, false, 0.0f, 1.0f, 0.5f, O_LOSS | O_DX, false, true),
        BCE(T_U8, true, false, false, 0.0f, 1.0f, 0.5f, O_LOSS | O_DX, false, true),
        BCE(T_SOFT, false, false, false, 0.0f, 1.0f, 0.5f, O_LOSS, false, true),
        BCE(T_U8, false, false, false, 0.0f, 1.0f, 0.5f, O_LOSS, false, true),
        /* training with pos_weight and soft targets (sf_bce_pw_*), with extremes */
        BCE(T_SOFT, false, true, false, 0.0f, 1.0f, 0.5f, O_LOSS | O_DX, false, true),
    };
    loss_grid(e, op, dt, sets, COUNT_OF(sets));
    if (!ds_quick()) {
        /* Large: many grid-stride passes, the column walk of pos_weight over wide rows, and
         * a bitwise-equal second run of the reduced loss. */
        const shape2 big[] = {{1, BIG_N}, {1021, 1027}};
        for (int b = 0; b < 2; b++)
            for (int ri = 1; ri < 3; ri++)
                loss_run(e, op, dt, big[b], reds[ri], &sets[1], b, DS_SPREAD, true);
        loss_run(e, op, dt, big[1], SIGFUSE_REDUCTION_NONE, &sets[4], 0, DS_SPREAD, false);
    }

    /* test_opencl's: every option alone and all at once (threshold 0.375, smoothing 0.1,
     * grad_scale -1.75), views alternating; the extremes with hard (u8 and float) and soft
     * targets, smoothing, pos_weight, weight; large rows and a large square. */
    static const loss_set ocl_sets[] = {
        /* targets  w      pw     dl     eps   gs      thr     outs                u8lab  ext */
        BCE(T_SOFT, false, false, false, 0.0f, 1.0f, 0.375f, O_ALL, true, false),
        BCE(T_U8, false, false, false, 0.0f, 1.0f, 0.375f, O_ALL, true, false),
        BCE(T_SOFT, true, true, true, 0.1f, -1.75f, 0.375f, O_ALL, false, false),
        BCE(T_SOFT, false, true, false, 0.0f, 1.0f, 0.375f, O_LOSS, true, false),
        BCE(T_U8, false, false, true, 0.0f, 1.0f, 0.375f, O_DX, true, false),
        BCE(T_SOFT, false, false, false, 0.0f, 1.0f, 0.375f, O_PROBS | O_LABELS, true, false),
        /* with the extremes, at 3 x 341 */
        BCE(T_U8, false, true, false, 0.0f, 1.0f, 0.375f, O_ALL, true, true),
        BCE(T_SOFT, true, false, true, 0.1f, 1.0f, 0.375f, O_ALL, true, true),
        BCE(T_BINARY, false, false, false, 0.0f, 1.0f, 0.375f, O_ALL, true, true),
        BCE(T_BINARY, false, true, false, 0.1f, -1.75f, 0.375f, O_ALL, true, true),
        /* large */
        BCE(T_U8, false, true, false, 0.0f, 1.0f, 0.375f, O_ALL, true, false),
        BCE(T_SOFT, true, false, false, 0.0f, 1.0f, 0.375f, O_LOSS | O_DX, true, false),
        BCE(T_SOFT, false, true, false, 0.0f, 1.0f, 0.375f, O_LOSS | O_DX, true, false),
    };
    for (int s = 0; s < COUNT_OF(ocl_loss_shapes); s++)
        for (int ri = 0; ri < 3; ri++)
            for (int o = 0; o < 6; o++)
                loss_run(e, op, dt, ocl_loss_shapes[s], reds[ri], &ocl_sets[o], o % 2, DS_LEADING, false);
    for (int ri = 0; ri < 3; ri++)
        for (int o = 6; o < 10; o++)
            loss_run(e, op, dt, (shape2){3, 341}, reds[ri], &ocl_sets[o], o < 8, DS_LEADING, false);
    if (!ds_quick() && dt == SIGFUSE_F32) {
        loss_run(e, op, dt, (shape2){1, BIG_N}, SIGFUSE_REDUCTION_MEAN, &ocl_sets[10], 1, DS_LEADING, false);
        loss_run(e, op, dt, (shape2){1021, 1027}, SIGFUSE_REDUCTION_SUM, &ocl_sets[11], 0, DS_LEADING, false);
    }
    if (!ds_quick() && dt == SIGFUSE_BF16)
        loss_run(e, op, dt, (shape2){1, BIG_N}, SIGFUSE_REDUCTION_SUM, &ocl_sets[12], 1, DS_LEADING, false);
}

static void focal_sweep(ds_env *e, sigfuse_dtype dt)
{
    const sf_op op = SF_OP_sigmoid_focal;
    static const loss_set sets[] = {
        /* targets  alpha  gamma  gs    dl     outs           ext */
        FOCAL(T_BINARY, 0.25f, 2.0f, 1.0f, false, O_LOSS | O_DX, false),
        FOCAL(T_SOFT, -1.0f, 0.0f, 0.5f, true, O_LOSS | O_DX, false),
        FOCAL(T_U8, 0.5f, 4.5f, 1.0f, true, O_LOSS | O_DX, false),
        FOCAL(T_SOFT, 0.75f, 1.5f, 2.0f, false, O_DX, false),
        FOCAL(T_BINARY, 0.25f, 2.0f, 1.0f, false, O_LOSS, false),
        FOCAL(T_U8, 0.25f, 5.0f, 1.0f, false, O_LOSS | O_DX, true),
        FOCAL(T_SOFT, -1.0f, 2.0f, 1.0f, true, O_LOSS | O_DX, true),
        FOCAL(T_BINARY, -1.0f, 0.0f, 1.0f, false, O_LOSS | O_DX, true),   /* the saturated hard-target gradient */
        FOCAL(T_BINARY, 0.25f, 1.0f, 1.0f, false, O_LOSS | O_DX, true),
        FOCAL(T_U8, -1.0f, 0.5f, 1.0f, false, O_LOSS | O_DX, true),
        FOCAL(T_SOFT, 0.25f, 5.0f, 1.0f, false, O_LOSS | O_DX, true),
        /* gamma 2: the CUDA training and gradient kernels, hard and mixed targets */
        FOCAL(T_MIXED, 0.25f, 2.0f, 1.0f, false, O_LOSS | O_DX, true),
        FOCAL(T_MIXED, -1.0f, 2.0f, 1.0f, false, O_DX, false),
        FOCAL(T_BINARY, 0.25f, 2.0f, 1.0f, false, O_DX, true),
        FOCAL(T_U8, 0.25f, 2.0f, 1.0f, false, O_DX, true),
        FOCAL(T_U8, 0.75f, 2.0f, 1.0f, false, O_LOSS | O_DX, true),
        /* gamma 2 with soft targets (sf_focal2_*: no division), training and the gradient
         * alone; the u8 gradient alone without alpha and scaled (16 bits: sf_focal2_hard_grad16) */
        FOCAL(T_SOFT, 0.25f, 2.0f, 1.0f, false, O_LOSS | O_DX, true),
        FOCAL(T_SOFT, 0.25f, 2.0f, 0.5f, false, O_DX, true),
        FOCAL(T_U8, -1.0f, 2.0f, 2.0f, false, O_DX, true),
    };
    loss_grid(e, op, dt, sets, COUNT_OF(sets));
    if (!ds_quick())
        for (int ri = 1; ri < 3; ri++)
            loss_run(e, op, dt, (shape2){1021, 1027}, reds[ri], &sets[0], ri - 1, DS_SPREAD, true);

    /* test_opencl's: four parameter sets (grad_scale 0.625); the extremes at every gamma
     * the header names, alpha absent and present, hard (float and u8) and soft targets,
     * each logit of the sweep with y = 1, y = 0 and a random y; the gradient alone with u8
     * targets (a form of its own, exact without a fallback). */
    static const loss_set ocl_sets[] = {
        FOCAL(T_SOFT, 0.25f, 2.0f, 1.0f, false, O_LOSS | O_DX, false),
        FOCAL(T_U8, -1.0f, 0.0f, 0.625f, true, O_LOSS | O_DX, false),
        FOCAL(T_SOFT, 0.75f, 0.5f, 1.0f, true, O_DX, false),
        FOCAL(T_U8, 0.25f, 5.0f, 1.0f, false, O_LOSS, false),
    };
    for (int s = 0; s < COUNT_OF(ocl_loss_shapes); s++)
        for (int ri = 0; ri < 3; ri++)
            for (int o = 0; o < 4; o++)
                loss_run(e, op, dt, ocl_loss_shapes[s], reds[ri], &ocl_sets[o], o % 2, DS_LEADING, false);
    const float gammas[] = {0.0f, 0.5f, 1.0f, 2.0f, 5.0f}, alphas[] = {-1.0f, 0.25f};
    const ds_targets kinds[] = {T_BINARY, T_U8, T_SOFT};
    for (int ri = 0; ri < 3; ri++)
        for (int g = 0; g < 5; g++)
            for (int al = 0; al < 2; al++) {
                const float gs = ri == 2 ? 0.625f : 1.0f;
                const loss_set o = FOCAL(kinds[(g + al + ri) % 3], alphas[al], gammas[g], gs, false, O_LOSS | O_DX,
                                         true);
                loss_run(e, op, dt, (shape2){3, 341}, reds[ri], &o, (g + al) % 2, DS_LEADING, false);
            }
    for (int g = 0; g < 5; g++) {
        const loss_set o = FOCAL(T_U8, alphas[g % 2], gammas[g], 1.0f, false, O_DX, true);
        loss_run(e, op, dt, (shape2){3, 341}, reds[g % 3], &o, g % 2, DS_LEADING, false);
    }
}

/* Ignored targets on BCE and focal: the mask with each reduction, float and u8 targets,
 * the CUDA specialised sets (training, the loss alone, the gradient alone) and extremes. */
static void mask_sweep(ds_env *e, sf_op op, sigfuse_dtype dt)
{
    const bool bce = op == SF_OP_bce_with_logits;
    static const loss_set bce_sets[] = {
        BCE(T_BINARY, false, false, false, 0.0f, 1.0f, 0.5f, O_LOSS | O_DX, false, false),
        BCE(T_U8, false, true, true, 0.0f, 2.0f, 0.5f, O_LOSS | O_DX, false, true),
        BCE(T_SOFT, true, true, true, 0.1f, 0.5f, 0.3f, O_ALL, true, true),
        BCE(T_U8, false, false, false, 0.0f, 1.0f, 0.5f, O_LOSS, false, false),
        BCE(T_SOFT, false, false, false, 0.0f, 1.0f, 0.5f, O_DX, false, true),
    };
    static const loss_set focal_sets[] = {
        FOCAL(T_BINARY, 0.25f, 2.0f, 1.0f, false, O_LOSS | O_DX, true),
        FOCAL(T_U8, 0.25f, 2.0f, 1.0f, true, O_LOSS | O_DX, false),
        FOCAL(T_SOFT, -1.0f, 1.5f, 0.5f, true, O_LOSS | O_DX, true),
        FOCAL(T_U8, 0.25f, 2.0f, 1.0f, false, O_DX, true),
    };
    const loss_set *sets = bce ? bce_sets : focal_sets;
    const int n_sets = bce ? COUNT_OF(bce_sets) : COUNT_OF(focal_sets);
    const shape2 shapes[] = {{0, 5}, {1, 1}, {1, 7}, {31, 33}, {9, 64}, {3, 341}};
    for (int si = 0; si < COUNT_OF(shapes); si++)
        for (int ri = 0; ri < 3; ri++)
            for (int oi = 0; oi < n_sets; oi++) {
                ds_spec c = loss_spec(op, dt, shapes[si], reds[ri], &sets[oi], (si + oi) % 2, DS_SPREAD, false);
                c.mask = true;
                ds_case(e, &c);
            }
    if (!ds_quick())
        for (int ri = 1; ri < 3; ri++) {
            ds_spec c = loss_spec(op, dt, (shape2){1021, 1027}, reds[ri], &sets[0], ri - 1, DS_SPREAD, true);
            c.mask = true;
            ds_case(e, &c);
        }
}

/* The asymmetric loss: the usual setting (0, 4, 0.05), margin 0 (logit space), gammas
 * from 0 to 5 with and without a margin, float, soft and u8 targets, each output alone
 * and together, the upstream gradient, the mask, extremes at every reduction. */
typedef struct asl_set {
    ds_targets targets;
    float gpos, gneg, margin, gs;
    bool dloss, mask;
    unsigned outs;
    bool extremes;
} asl_set;

static void asymmetric_sweep(ds_env *e, sigfuse_dtype dt)
{
    const sf_op op = SF_OP_asymmetric;
    static const asl_set sets[] = {
        /* targets  g+    g-    m      gs     dl     mask   outs           ext */
        {T_BINARY, 0.0f, 4.0f, 0.05f, 1.0f, false, false, O_LOSS | O_DX, false},
        {T_U8, 0.0f, 4.0f, 0.05f, 1.0f, false, false, O_LOSS | O_DX, true},
        {T_SOFT, 1.0f, 4.0f, 0.05f, 0.5f, true, false, O_LOSS | O_DX, true},
        {T_BINARY, 0.0f, 4.0f, 0.0f, 1.0f, false, false, O_LOSS | O_DX, true},
        {T_SOFT, 2.0f, 2.0f, 0.0f, 2.0f, true, true, O_LOSS | O_DX, true},
        {T_U8, 0.5f, 3.5f, 0.2f, 1.0f, false, true, O_DX, true},
        {T_MIXED, 0.0f, 0.0f, 0.0f, 1.0f, false, false, O_LOSS | O_DX, true},
        {T_BINARY, 0.0f, 1.0f, 0.1f, 1.0f, false, false, O_LOSS, true},
        {T_U8, 0.0f, 4.0f, 0.05f, 1.0f, false, true, O_LOSS | O_DX, false},
        {T_SOFT, 5.0f, 0.0f, 1.0f, 1.0f, true, false, O_LOSS | O_DX, true},
    };
    for (int si = 0; si < COUNT_OF(loss_shapes); si++)
        for (int ri = 0; ri < 3 && shape_runs(si, 0x129u); ri++)
            for (int oi = 0; oi < COUNT_OF(sets); oi++) {
                const asl_set *o = &sets[oi];
                ds_spec c = {.op = op, .dtype = dt, .rows = loss_shapes[si].rows, .cols = loss_shapes[si].cols,
                             .red = reds[ri], .targets = o->targets, .gamma = o->gpos, .gamma_neg = o->gneg,
                             .margin = o->margin, .grad_scale = o->gs, .dloss = o->dloss, .mask = o->mask,
                             .outs = o->outs, .extremes = o->extremes, .misalign = (si + oi) % 2,
                             .draw = (si + oi) % 3 == 0 ? DS_LEADING : DS_SPREAD};
                ds_case(e, &c);
            }
    if (!ds_quick())
        for (int ri = 1; ri < 3; ri++) {
            ds_spec c = {.op = op, .dtype = dt, .rows = 1021, .cols = 1027, .red = reds[ri], .targets = T_U8,
                         .gamma_neg = 4.0f, .margin = 0.05f, .grad_scale = 1.0f, .mask = ri == 2,
                         .outs = O_LOSS | O_DX, .rerun = true};
            ds_case(e, &c);
        }
}

/* BCE + Dice: many small images and few long ones, a one-pixel image, empty tensors and
 * images; every option (smooth 0 and not, label smoothing, pos_weight, both weights and
 * each alone, SUM and MEAN, the upstream gradient, grad_scale), the mask, each output
 * alone and together, extremes (infinite BCE terms). */
typedef struct dice_set {
    ds_targets targets;
    float smooth, eps, wb, wd, gs;
    bool pos_weight, dloss, mask;
    sigfuse_reduction red;
    unsigned outs;
    bool extremes;
} dice_set;

static void bce_dice_sweep(ds_env *e, sigfuse_dtype dt)
{
    enum { D_LOSS = 1, D_DX = 2, D_DICE = 4, D_ALL = 7 };
    static const dice_set sets[] = {
        /* targets  smooth eps    wb    wd    gs     pw     dl     mask   red                       outs     ext */
        {T_BINARY, 1.0f, 0.0f, 1.0f, 1.0f, 1.0f, false, false, false, SIGFUSE_REDUCTION_MEAN, D_LOSS | D_DX, false},
        {T_U8, 1.0f, 0.0f, 1.0f, 1.0f, 1.0f, false, false, true, SIGFUSE_REDUCTION_MEAN, D_ALL, false},
        {T_SOFT, 0.5f, 0.1f, 0.7f, 1.3f, 2.0f, true, true, true, SIGFUSE_REDUCTION_SUM, D_ALL, false},
        {T_BINARY, 0.0f, 0.0f, 1.0f, 1.0f, 1.0f, false, true, false, SIGFUSE_REDUCTION_MEAN, D_ALL, false},
        {T_U8, 1.0f, 0.0f, 0.0f, 1.0f, 1.0f, false, false, true, SIGFUSE_REDUCTION_MEAN, D_LOSS | D_DX, true},
        {T_SOFT, 1.0f, 0.05f, 1.0f, 0.0f, 0.5f, true, false, false, SIGFUSE_REDUCTION_SUM, D_LOSS | D_DX, false},
        {T_BINARY, 1.0f, 0.0f, 1.0f, 1.0f, 1.0f, true, false, true, SIGFUSE_REDUCTION_MEAN, D_DX, true},
        {T_U8, 2.0f, 0.0f, 1.0f, 1.0f, 1.0f, false, false, false, SIGFUSE_REDUCTION_SUM, D_DICE, false},
        {T_SOFT, 1.0f, 0.0f, 1.0f, 1.0f, 1.0f, false, false, false, SIGFUSE_REDUCTION_MEAN, D_LOSS, true},
    };
    const shape2 shapes[] = {{0, 5}, {3, 0}, {1, 1}, {9, 1}, {4, 7}, {33, 31}, {2, 4097}, {300, 17}};
    for (int si = 0; si < COUNT_OF(shapes); si++)
        for (int oi = 0; oi < COUNT_OF(sets); oi++) {
            const dice_set *o = &sets[oi];
            ds_spec c = {.op = SF_OP_bce_dice, .dtype = dt, .rows = shapes[si].rows, .cols = shapes[si].cols,
                         .red = o->red, .targets = o->targets, .smooth = o->smooth, .eps = o->eps,
                         .bce_weight = o->wb, .dice_weight = o->wd, .grad_scale = o->gs, .pos_weight = o->pos_weight,
                         .dloss = o->dloss, .mask = o->mask, .outs = o->outs, .extremes = o->extremes,
                         .misalign = (si + oi) % 2, .in_place = oi == 2};
            ds_case(e, &c);
        }
    if (!ds_quick()) {
        const shape2 big[] = {{8, 262147}, {100000, 5}};   /* few long images; more images than one batch */
        for (int b = 0; b < 2; b++) {
            ds_spec c = {.op = SF_OP_bce_dice, .dtype = dt, .rows = big[b].rows, .cols = big[b].cols,
                         .red = SIGFUSE_REDUCTION_MEAN, .targets = T_U8, .smooth = 1.0f, .bce_weight = 1.0f,
                         .dice_weight = 1.0f, .grad_scale = 1.0f, .mask = b == 1, .outs = D_ALL, .rerun = true};
            ds_case(e, &c);
        }
    }
}

/* Cell outputs, bits in catalogue order. LSTM forward: h, c; backward: dgates, dc_prev,
 * dbias. GRU backward: dgates_x, dgates_h, dh_prev, dbias_x, dbias_h. */
static const shape2 cell_shapes[] = {{0, 5}, {4, 0}, {1, 1}, {7, 3}, {3, 7}, {33, 31}, {4097, 3}, {2, 1023}};
/* test_opencl's: 1, 21, 1023 and 4097 hidden units in all (B x H); 1 x 2304 puts 4H = 9216
 * bias columns across many work-groups; 300 x 5 gives many row chunks. */
static const shape2 ocl_cell_shapes[] = {{1, 1}, {7, 3}, {33, 31}, {17, 241}, {300, 5}, {1, 2304}};

/* A cell case: the optional inputs as bits (1 gates_h / bias_x... see cell_inputs). */
enum { C_GH = 1, C_BIAS = 2, C_BIAS_H = 4 };

static ds_spec cell_spec(sf_op op, sigfuse_dtype dt, shape2 sh, unsigned ins, unsigned grads, unsigned outs,
                         int misalign, bool extremes, ds_draw draw)
{
    return (ds_spec){.op = op, .dtype = dt, .batch = sh.rows, .hidden = sh.cols, .gates_h = ins & C_GH,
                     .bias = ins & C_BIAS, .bias_h = ins & C_BIAS_H, .grads = grads, .outs = outs,
                     .misalign = misalign, .extremes = extremes, .draw = draw};
}

/* The cells' sweeps: backend_ops' every shape x option x output set x view (the extremes
 * with one output set per shape), in place at both views and with many row chunks, and
 * large; then test_opencl's four option sets per shape, the extremes, an empty batch (a
 * zero bias gradient still written) and every output in place. */
static void cell_sweep(ds_env *e, sf_op op, sigfuse_dtype dt)
{
    const bool lstm = op == SF_OP_lstm_cell_forward || op == SF_OP_lstm_cell_backward;
    const bool backward = op == SF_OP_lstm_cell_backward || op == SF_OP_gru_cell_backward;
    /* variant: bit 0 gates_h (LSTM) or bias_x (GRU), bit 1 bias (LSTM) or bias_h (GRU),
     * bit 2 extremes. LSTM backward: {outs, grads}. */
    const unsigned lstm_fwd_outs[] = {3, 1, 2}, gru_bwd_outs[] = {31, 1, 2, 4, 8, 16, 24, 7};
    const unsigned lstm_bwd[][2] = {{7, 3}, {1, 1}, {6, 2}, {4, 3}, {2, 3}};
    const int nouts = !backward ? (lstm ? 3 : 1) : lstm ? 5 : 8;
    for (int si = 0; si < COUNT_OF(cell_shapes); si++)
        for (unsigned variant = 0; variant < 8 && shape_runs(si, 0x29u /* [0,5] [7,3] [33,31] */); variant++)
            for (int oi = 0; oi < nouts; oi++)
                for (int mis = 0; mis < 2; mis++) {
                    if (variant & 4 && (oi > 0 || mis))
                        continue;   /* extremes: one output set per shape is enough */
                    if (ds_quick() && variant != 0 && variant != 3 && variant != 7)
                        continue;
                    const unsigned ins =
                        lstm ? (variant & 3) : (variant & 1 ? C_BIAS : 0) | (variant & 2 ? C_BIAS_H : 0);
                    const unsigned outs = !backward ? (lstm ? lstm_fwd_outs[oi] : DS_ALL)
                                          : lstm    ? lstm_bwd[oi][0]
                                                    : gru_bwd_outs[oi];
                    ds_spec c = cell_spec(op, dt, cell_shapes[si], ins, lstm && backward ? lstm_bwd[oi][1] : 0, outs,
                                          mis, variant & 4, DS_SPREAD);
                    ds_case(e, &c);
                }
    const unsigned both = lstm ? C_GH | C_BIAS : C_BIAS | C_BIAS_H;
    for (int mis = 0; mis < 2; mis++) {
        ds_spec c = cell_spec(op, dt, (shape2){33, 31}, both, 3, DS_ALL, mis, false, DS_SPREAD);
        c.in_place = true;
        ds_case(e, &c);
    }
    /* In place with many row chunks (the bias gradient through partials and a finish pass). */
    ds_spec chunks = cell_spec(op, dt, (shape2){300, 5}, both, 3, DS_ALL, 0, false, DS_SPREAD);
    chunks.in_place = true;
    ds_case(e, &chunks);
    if (!ds_quick()) {
        const shape2 big[] = {{1024, 257}, {65537, 2}};
        for (int b = 0; b < 2; b++) {
            ds_spec c = cell_spec(op, dt, big[b], both, 3, DS_ALL, b, false, DS_SPREAD);
            c.rerun = backward;
            ds_case(e, &c);
        }
    }

    /* test_opencl's sets, views alternating. */
    static const unsigned lstm_f_sets[][2] = {{0, 3}, {C_GH | C_BIAS, 3}, {C_BIAS, 1}, {C_GH, 2}};
    static const unsigned lstm_b_sets[][3] = {{0, 3, 7}, {C_GH | C_BIAS, 3, 7}, {C_BIAS, 1, 4}, {C_GH, 2, 3}};
    static const unsigned gru_f_sets[] = {0, C_BIAS | C_BIAS_H, C_BIAS, C_BIAS_H};
    static const unsigned gru_b_sets[][2] = {{0, 31}, {C_BIAS | C_BIAS_H, 31}, {C_BIAS, 8}, {C_BIAS_H, 2 | 4 | 16}};
    for (int s = 0; s <= COUNT_OF(ocl_cell_shapes); s++)
        for (int o = 0; o < 4; o++) {
            /* the last round: the extremes at 33 x 31 with the second set, one view */
            const bool ext = s == COUNT_OF(ocl_cell_shapes);
            if (ext && o != 1)
                continue;
            const shape2 sh = ext ? (shape2){33, 31} : ocl_cell_shapes[s];
            const int off = ext ? 1 : o % 2;
            ds_spec c;
            if (lstm && !backward)
                c = cell_spec(op, dt, sh, lstm_f_sets[o][0], 0, lstm_f_sets[o][1], off, ext, DS_LEADING);
            else if (lstm)
                c = cell_spec(op, dt, sh, lstm_b_sets[o][0], lstm_b_sets[o][1], lstm_b_sets[o][2], off, ext,
                              DS_LEADING);
            else if (!backward)
                c = cell_spec(op, dt, sh, gru_f_sets[o], 0, DS_ALL, off, ext, DS_LEADING);
            else
                c = cell_spec(op, dt, sh, gru_b_sets[o][0], 0, gru_b_sets[o][1], off, ext, DS_LEADING);
            ds_case(e, &c);
        }
    if (backward) {   /* an empty batch still writes a zero bias gradient */
        ds_spec c = cell_spec(op, dt, (shape2){0, 9}, 0, 1, lstm ? 4 : 8 | 16, 1, false, DS_LEADING);
        ds_case(e, &c);
    }
    /* Every output in place at once: one and many row chunks for the bias sums, a wide row. */
    const shape2 in_place[] = {{7, 3}, {300, 5}, {1, 2304}};
    for (int s = 0; s < 3; s++) {
        ds_spec c = cell_spec(op, dt, in_place[s], both, 3, DS_ALL, 0, false, DS_LEADING);
        c.in_place = true;
        ds_case(e, &c);
    }
}

/* L = 8 and 24: multiples of the CUDA epilogues' vector of 8 16-bit labels (4 f32), which
 * the odd L leave to their one-label kernels. test_opencl's: 1, 15, 1023 and 4097 logits;
 * D from 1 to 64; L = 1 and odd; D = 0 (bias only). */
typedef struct shape3 {
    int64_t n, d, l;
} shape3;
static const shape3 head_shapes[] = {{0, 4, 3},   {5, 0, 3},     {5, 4, 0},      {1, 1, 1}, {7, 5, 3},
                                     {33, 17, 9}, {100, 64, 37}, {257, 33, 129}, {9, 5, 8}, {65, 33, 24}};
static const shape3 ocl_head_shapes[] = {{1, 1, 1}, {5, 7, 3}, {33, 17, 31}, {17, 64, 241}, {6, 0, 5}};

/* Head outputs, bits in catalogue order: predict logits, probs, labels; train loss, dx,
 * dw, dbias. */
static ds_spec head_spec(sf_op op, sigfuse_dtype dt, shape3 sh, int64_t chunk, unsigned outs, int misalign)
{
    return (ds_spec){.op = op, .dtype = dt, .n = sh.n, .d = sh.d, .l = sh.l, .chunk = chunk, .outs = outs,
                     .misalign = misalign, .threshold = 0.4f, .grad_scale = 1.0f, .red = SIGFUSE_REDUCTION_MEAN};
}

static ds_spec ocl_head_spec(sf_op op, sigfuse_dtype dt, shape3 sh, int64_t chunk, unsigned outs)
{
    ds_spec c = head_spec(op, dt, sh, chunk, outs, 0);
    c.mixed_views = true, c.draw = DS_LEADING, c.threshold = 0.625f, c.targets = T_SOFT;
    return c;
}

static void head_sweep(ds_env *e, sf_op op, sigfuse_dtype dt)
{
    const bool train = op == SF_OP_head_train_step;
    const int64_t chunks[] = {1, 7, 0};
    for (int si = 0; si < COUNT_OF(head_shapes); si++)
        for (int ci = 0; ci < 3 && shape_runs(si, 0x333u /* [0,4,3] [5,0,3] [7,5,3] [33,17,9] [9,5,8] [65,33,24] */);
             ci++)
            for (int mis = 0; mis < 2; mis++) {
                const shape3 sh = head_shapes[si];
                if (!train) {
                    /* logits + probs + labels (u8), probs alone without bias, float labels */
                    const unsigned outs[] = {7, 2, 4};
                    for (int oi = 0; oi < 3; oi++) {
                        ds_spec c = head_spec(op, dt, sh, chunks[ci], outs[oi], mis);
                        c.bias = oi != 1;
                        c.labels_u8 = oi == 0;
                        ds_case(e, &c);
                    }
                    continue;
                }
                ds_spec c = head_spec(op, dt, sh, chunks[ci], DS_ALL, mis);
                c.bias = c.pos_weight = true;
                ds_case(e, &c);
                c = head_spec(op, dt, sh, chunks[ci], DS_ALL, mis);
                c.red = SIGFUSE_REDUCTION_SUM, c.targets = T_U8, c.grad_scale = 0.5f;
                ds_case(e, &c);
                c = head_spec(op, dt, sh, chunks[ci], 1u << (ci + mis), mis);
                c.bias = true, c.targets = T_SOFT, c.grad_scale = 2.0f;
                ds_case(e, &c);
                if (ci < 2 && !mis) {   /* with and without pos_weight: both fast forms' limits */
                    c = head_spec(op, dt, sh, chunks[ci], DS_ALL, mis);
                    c.red = SIGFUSE_REDUCTION_SUM, c.bias = true, c.pos_weight = ci == 0;
                    c.targets = ci == 0 ? T_BINARY : T_SOFT, c.limits = true;
                    ds_case(e, &c);
                }
            }
    /* Large, L a multiple of 8 (CUDA's vector epilogues). OpenCL runs it in f32 alone: its
     * head takes f16 and bf16 to the same f32 CLBlast products through f32 copies (the
     * smaller shapes cover those), and the reference's truth at this size is most of the
     * suite's time under the sanitizers on PoCL. */
    if (!ds_quick() && (e->dev.backend != SIGFUSE_BACKEND_OPENCL || dt == SIGFUSE_F32)) {
        ds_spec c = head_spec(op, dt, (shape3){2051, 256, 520}, 300, train ? DS_ALL : 7, 0);
        c.bias = true, c.pos_weight = train, c.targets = T_U8, c.labels_u8 = true, c.rerun = train;
        ds_case(e, &c);
    }

    /* test_opencl's: all rows at once, one row per chunk, and a chunk that leaves a
     * remainder, with its views; threshold 0.625, grad_scale -2.5, soft or u8 targets. */
    static const struct {
        unsigned outs;
        bool bias, labels_u8;
    } pred_sets[] = {{7, true, true}, {6, false, false}, {1, true, true}};
    static const struct {
        unsigned outs;
        bool bias, pw, u8, scale, mean;
    } train_sets[] = {{15, 1, 0, 0, 0, 1}, {15, 0, 1, 1, 1, 0}, {1 | 4, 1, 1, 0, 0, 1}, {2 | 8, 0, 0, 1, 0, 0}};
    for (int s = 0; s < COUNT_OF(ocl_head_shapes); s++) {
        const shape3 sh = ocl_head_shapes[s];
        const int64_t ocl_chunks[] = {0, 1, sh.n > 2 ? sh.n / 2 + 1 : 1};
        for (int ci = 0; ci < 3; ci++)
            for (int t = 0; t < (train ? 4 : 1); t++) {
                if (train && (t + ci) % 3 != 0 && ci != 0)
                    continue;
                ds_spec c = ocl_head_spec(op, dt, sh, ocl_chunks[ci], train ? train_sets[t].outs : pred_sets[ci].outs);
                if (!train) {
                    c.bias = pred_sets[ci].bias, c.labels_u8 = pred_sets[ci].labels_u8;
                } else {
                    c.bias = train_sets[t].bias, c.pos_weight = train_sets[t].pw;
                    c.targets = train_sets[t].u8 ? T_U8 : T_SOFT;
                    c.grad_scale = train_sets[t].scale ? -2.5f : 1.0f;
                    c.red = train_sets[t].mean ? SIGFUSE_REDUCTION_MEAN : SIGFUSE_REDUCTION_SUM;
                }
                ds_case(e, &c);
            }
    }
    /* Products past CLBlast's direct-kernel size take its indirect path, which needs a
     * temporary buffer: the op gives it a sub-buffer of the workspace. */
    if (!train && dt == SIGFUSE_F32 && !ds_quick()) {
        ds_spec c = ocl_head_spec(op, dt, (shape3){900, 900, 900}, 0, 1);
        c.bias = true;
        ds_case(e, &c);
    }
    if (train) {   /* no rows (zero dW and db, loss 0 or NaN) and no labels (zero dX) */
        const struct {
            shape3 sh;
            bool bias, mean;
        } empty[] = {{{0, 4, 3}, true, true}, {{0, 4, 3}, false, false}, {{5, 4, 0}, false, true}};
        for (int k = 0; k < 3; k++) {
            ds_spec c = ocl_head_spec(op, dt, empty[k].sh, 0, DS_ALL);
            c.bias = empty[k].bias;
            c.red = empty[k].mean ? SIGFUSE_REDUCTION_MEAN : SIGFUSE_REDUCTION_SUM;
            ds_case(e, &c);
        }
    }
    if (train)
        sparse_head_sweep(e, dt);
}

void ds_sweep(ds_env *e, sf_op op, sigfuse_dtype dtype)
{
    switch (sf_op_infos[op].shape) {
    case SF_SHAPE_EW: ew_sweep(e, op, dtype); break;
    case SF_SHAPE_LOSS:
        if (op == SF_OP_bce_with_logits)
            bce_sweep(e, dtype);
        else if (op == SF_OP_sigmoid_focal)
            focal_sweep(e, dtype);
        else if (op == SF_OP_asymmetric)
            asymmetric_sweep(e, dtype);
        else
            bce_dice_sweep(e, dtype);
        if (op == SF_OP_bce_with_logits || op == SF_OP_sigmoid_focal)
            mask_sweep(e, op, dtype);
        break;
    case SF_SHAPE_LSTM:
    case SF_SHAPE_GRU: cell_sweep(e, op, dtype); break;
    case SF_SHAPE_HEAD: op == SF_OP_head_topk ? topk_sweep(e, op, dtype) : head_sweep(e, op, dtype); break;
    case SF_SHAPE_MERGE: topk_sweep(e, op, dtype); break;
    }
}
