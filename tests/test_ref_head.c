/* SPDX-License-Identifier: MIT */
/*
 * The CPU reference of the multi-label head, through the public API: predict against
 * hand-computed values, the train step against a naive computation that holds all
 * N x L logits (and uses the other, algebraically equal, forms of the loss and its
 * gradient), gradients against finite differences in f64, chunking (bitwise identical
 * for every chunk size), dtypes, odd and zero shapes, guards, absent outputs, extremes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "ref_check.h"
#include "sf_internal.h"
#include "testutil.h"

RC_CPU_CTX_FIXTURE
TestSuite(ref_head, .init = open_ctx, .fini = close_ctx);

/* ---- shared helpers ------------------------------------------------------------- */

static unsigned char *data_of(const tu_buf *b)
{
    return (unsigned char *)b->desc.ptr + b->desc.offset;
}

/* Tolerance for an output of `dtype` against a double computed another way: one
 * rounding to the dtype (2 units of roundoff leaves room for the double formulas'
 * own differences), and an absolute floor for results that cancel to near zero. */
static void tolerance(sigfuse_dtype dtype, double *rtol, double *atol)
{
    switch (dtype) {
    case SIGFUSE_F64: *rtol = 1e-12; *atol = 1e-13; break;
    case SIGFUSE_F32: *rtol = 0x1p-23; *atol = 1e-12; break;
    case SIGFUSE_F16: *rtol = 0x1p-10; *atol = 0x1p-24; break;   /* f16 subnormal step */
    case SIGFUSE_BF16: *rtol = 0x1p-7; *atol = 1e-12; break;
    default: *rtol = 0.0; *atol = 0.0; break;
    }
}

static void expect_buf(const char *name, const char *what, const tu_buf *got, const double *want,
                       int64_t n, double rtol, double atol)
{
    cr_assert(tu_guards_ok(got), "%s: %s guards overwritten", name, what);
    for (int64_t i = 0; i < n; i++) {
        double g = tu_get(got, i);
        cr_assert(tu_close(g, want[i], rtol, atol), "%s: %s[%lld] = %.17g, want %.17g", name, what,
                  (long long)i, g, want[i]);
    }
}

static double naive_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

static double naive_softplus(double x)
{
    return x > 0.0 ? x + log1p(exp(-x)) : log1p(exp(x));
}

/* A logit as the op defines it (include/sigfuse.h): a 16-bit head's dot product rounded
 * to its dtype, then the bias, added without another rounding. */
static double naive_logit(sigfuse_dtype dtype, double dot, double bias)
{
    if (dtype == SIGFUSE_F16 || dtype == SIGFUSE_BF16)
        dot = sf_round_to_dtype(dot, dtype);
    return dot + bias;
}

static double *dalloc(int64_t n)
{
    double *p = calloc((size_t)(n > 0 ? n : 1), sizeof(double));
    cr_assert(p != NULL);
    return p;
}

/* ---- predict ---------------------------------------------------------------------- */

/* X [2,3], W [2,3], b [2]: every value exact in f32, so Z is exact and the expected
 * values are closed forms. */
static const double PX[6] = {1.0, 2.0, 3.0, -1.0, 0.5, 2.0};
static const double PW[6] = {0.5, -1.0, 0.25, 1.0, 1.0, -1.0};
static const double PB[2] = {0.25, -0.5};
static const double PZ_NOBIAS[4] = {-0.75, 0.0, -0.5, -2.5};
static const double PZ_BIAS[4] = {-0.5, -0.5, -0.25, -3.0};

enum { P_LOGITS = 1, P_PROBS = 2, P_LABELS = 4 };

static void predict_tiny(bool with_bias, sigfuse_dtype label_dtype, float threshold,
                         unsigned outputs)
{
    char name[96];
    snprintf(name, sizeof name, "predict_f32_n2_d3_l2 bias=%d labels=%s t=%g outputs=%u",
             with_bias, sigfuse_dtype_name(label_dtype), threshold, outputs);
    const double *z = with_bias ? PZ_BIAS : PZ_NOBIAS;
    double want_p[4], want_lab[4];
    for (int e = 0; e < 4; e++) {
        want_p[e] = 1.0 / (1.0 + exp(-z[e]));
        want_lab[e] = want_p[e] > threshold ? 1.0 : 0.0;
    }

    tu_buf x = tu_from(SIGFUSE_F32, 6, PX), w = tu_from(SIGFUSE_F32, 6, PW);
    tu_buf b = tu_from(SIGFUSE_F32, 2, PB);
    tu_buf logits = tu_alloc(SIGFUSE_F32, 4), probs = tu_alloc(SIGFUSE_F32, 4);
    tu_buf labels = tu_alloc(label_dtype, 4);

    sigfuse_head_predict_args a;
    sigfuse_head_predict_args_init(&a);
    a.n = 2;
    a.d = 3;
    a.l = 2;
    a.threshold = threshold;
    a.x = &x.desc;
    a.w = &w.desc;
    a.bias = with_bias ? &b.desc : NULL;
    a.logits = (outputs & P_LOGITS) ? &logits.desc : NULL;
    a.probs = (outputs & P_PROBS) ? &probs.desc : NULL;
    a.labels = (outputs & P_LABELS) ? &labels.desc : NULL;
    size_t ws = 1;
    cr_assert_eq(sigfuse_head_predict_workspace_size(ctx, &a, 0, &ws), SIGFUSE_SUCCESS);
    cr_assert_eq(ws, 0, "%s: the reference predict needs no workspace, says %zu", name, ws);
    sigfuse_status st = sigfuse_head_predict(ctx, &a);
    cr_assert_eq(st, SIGFUSE_SUCCESS, "%s: %s (%s)", name, sigfuse_status_string(st),
                 sigfuse_ctx_last_error(ctx));

    if (outputs & P_LOGITS)
        expect_buf(name, "logits", &logits, z, 4, 0.0, 0.0);
    else
        cr_assert(tu_untouched(&logits), "%s: absent logits written", name);
    if (outputs & P_PROBS)
        expect_buf(name, "probs", &probs, want_p, 4, 0x1p-24, 0.0);
    else
        cr_assert(tu_untouched(&probs), "%s: absent probs written", name);
    if (outputs & P_LABELS)
        expect_buf(name, "labels", &labels, want_lab, 4, 0.0, 0.0);
    else
        cr_assert(tu_untouched(&labels), "%s: absent labels written", name);
    cr_assert(tu_guards_ok(&x) && tu_guards_ok(&w) && tu_guards_ok(&b));

    tu_free(&x), tu_free(&w), tu_free(&b), tu_free(&logits), tu_free(&probs), tu_free(&labels);
}

Test(ref_head, predict_f32_n2_d3_l2_each_output_alone_and_together)
{
    for (int bias = 0; bias < 2; bias++)
        for (unsigned outputs = 1; outputs < 8; outputs++)
            predict_tiny(bias, SIGFUSE_U8, 0.5f, outputs);
}

Test(ref_head, predict_f32_n2_d3_l2_labels_at_thresholds_u8_and_f32)
{
    /* sigmoid(0) = 0.5 exactly: not above 0.5, so no label; 0 and 1 give all / none. */
    static const float thresholds[] = {0.0f, 0.3f, 0.35f, 0.4f, 0.5f, 0.49f, 1.0f};
    for (int bias = 0; bias < 2; bias++)
        for (size_t t = 0; t < sizeof thresholds / sizeof thresholds[0]; t++) {
            predict_tiny(bias, SIGFUSE_U8, thresholds[t], P_LABELS);
            predict_tiny(bias, SIGFUSE_F32, thresholds[t], P_LABELS);
            predict_tiny(bias, SIGFUSE_U8, thresholds[t], P_LABELS | P_PROBS);
        }
}

Test(ref_head, predict_f32_n2_d3_l2_hand_labels)
{
    /* Spelled out once so the threshold rule is not only checked against itself:
     * sigmoid of {-0.75, 0, -0.5, -2.5} is {0.321, 0.5, 0.378, 0.076}. */
    tu_buf x = tu_from(SIGFUSE_F32, 6, PX), w = tu_from(SIGFUSE_F32, 6, PW);
    tu_buf labels = tu_alloc(SIGFUSE_U8, 4);
    sigfuse_head_predict_args a;
    sigfuse_head_predict_args_init(&a);
    cr_assert(a.threshold == 0.5f, "default threshold %g", a.threshold);
    a.n = 2, a.d = 3, a.l = 2;
    a.x = &x.desc, a.w = &w.desc, a.labels = &labels.desc;
    static const struct { float t; double want[4]; } cases[] = {
        {0.5f, {0, 0, 0, 0}}, {0.4f, {0, 1, 0, 0}}, {0.35f, {0, 1, 1, 0}},
        {0.3f, {1, 1, 1, 0}}, {0.05f, {1, 1, 1, 1}}, {0.0f, {1, 1, 1, 1}}, {1.0f, {0, 0, 0, 0}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        a.threshold = cases[c].t;
        tu_poison(&labels);
        cr_assert_eq(sigfuse_head_predict(ctx, &a), SIGFUSE_SUCCESS);
        expect_buf("predict hand labels", "labels", &labels, cases[c].want, 4, 0.0, 0.0);
    }
    tu_free(&x), tu_free(&w), tu_free(&labels);
}

/* Random predict against a naive loop, over dtypes and odd / zero shapes. */
static void predict_random(sigfuse_dtype dtype, int64_t n, int64_t d, int64_t l, bool with_bias,
                           sigfuse_dtype label_dtype, uint64_t seed)
{
    char name[128];
    snprintf(name, sizeof name, "predict_%s_n%lld_d%lld_l%lld bias=%d labels=%s",
             sigfuse_dtype_name(dtype), (long long)n, (long long)d, (long long)l, with_bias,
             sigfuse_dtype_name(label_dtype));
    tu_rng rng = tu_rng_seed(seed, name);
    tu_buf x = tu_alloc_offset(dtype, n * d, 8), w = tu_alloc(dtype, l * d);
    tu_buf b = tu_alloc(dtype, l);
    tu_fill_uniform(&x, &rng, -2.0, 2.0);
    tu_fill_uniform(&w, &rng, -1.0, 1.0);
    tu_fill_uniform(&b, &rng, -1.0, 1.0);
    tu_buf logits = tu_alloc(dtype, n * l), probs = tu_alloc_offset(dtype, n * l, 8);
    tu_buf labels = tu_alloc(label_dtype, n * l);

    double *z = dalloc(n * l), *p = dalloc(n * l), *lab = dalloc(n * l);
    const float threshold = 0.375f;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < l; j++) {
            double s = 0.0;
            for (int64_t k = 0; k < d; k++)
                s += tu_get(&x, i * d + k) * tu_get(&w, j * d + k);
            s = naive_logit(dtype, s, with_bias ? tu_get(&b, j) : 0.0);
            z[i * l + j] = s;
            p[i * l + j] = naive_sigmoid(s);
            lab[i * l + j] = p[i * l + j] > threshold ? 1.0 : 0.0;
        }

    sigfuse_head_predict_args a;
    sigfuse_head_predict_args_init(&a);
    a.n = n, a.d = d, a.l = l, a.threshold = threshold;
    a.x = &x.desc, a.w = &w.desc, a.bias = with_bias ? &b.desc : NULL;
    a.logits = &logits.desc, a.probs = &probs.desc, a.labels = &labels.desc;
    sigfuse_status st = sigfuse_head_predict(ctx, &a);
    cr_assert_eq(st, SIGFUSE_SUCCESS, "%s: %s (%s)", name, sigfuse_status_string(st),
                 sigfuse_ctx_last_error(ctx));
    double rtol, atol;
    tolerance(dtype, &rtol, &atol);
    expect_buf(name, "logits", &logits, z, n * l, rtol, atol);
    expect_buf(name, "probs", &probs, p, n * l, rtol, atol);
    expect_buf(name, "labels", &labels, lab, n * l, 0.0, 0.0);
    cr_assert(tu_guards_ok(&x) && tu_guards_ok(&w) && tu_guards_ok(&b), "%s: input guards", name);

    free(z), free(p), free(lab);
    tu_free(&x), tu_free(&w), tu_free(&b), tu_free(&logits), tu_free(&probs), tu_free(&labels);
}

static const int64_t SHAPES[] = {0, 1, 7, 33};
#define NSHAPES 4

static void predict_sweep(sigfuse_dtype dtype, uint64_t seed)
{
    int c = 0;
    for (int a = 0; a < NSHAPES; a++)
        for (int b = 0; b < NSHAPES; b++)
            for (int e = 0; e < NSHAPES; e++, c++)
                predict_random(dtype, SHAPES[a], SHAPES[b], SHAPES[e], c % 2 == 0,
                               c % 3 == 0 ? dtype : SIGFUSE_U8, seed + (uint64_t)c);
}

Test(ref_head, predict_f32_shapes_n_d_l_in_0_1_7_33) { predict_sweep(SIGFUSE_F32, 1000); }
Test(ref_head, predict_f16_shapes_n_d_l_in_0_1_7_33) { predict_sweep(SIGFUSE_F16, 2000); }
Test(ref_head, predict_bf16_shapes_n_d_l_in_0_1_7_33) { predict_sweep(SIGFUSE_BF16, 3000); }

/* ---- train step: a case, its buffers, the naive computation ------------------------ */

typedef struct head_case {
    sigfuse_dtype dtype;          /* x, w, bias, pos_weight, dx, dw, dbias */
    sigfuse_dtype target_dtype;   /* u8 or dtype */
    int64_t n, d, l;
    sigfuse_reduction reduction;
    float grad_scale;
    bool bias, pos_weight;
    bool soft_targets;            /* float targets uniform in [0, 1] instead of 0/1 */
    double x_range, w_range;      /* inputs uniform in [-range, range) */
    size_t offset;                /* byte offset put in every descriptor (0: none) */
    uint64_t seed;
} head_case;

static head_case default_case(sigfuse_dtype dtype, int64_t n, int64_t d, int64_t l)
{
    head_case c;
    memset(&c, 0, sizeof c);
    c.dtype = dtype;
    c.target_dtype = dtype;
    c.n = n, c.d = d, c.l = l;
    c.reduction = SIGFUSE_REDUCTION_MEAN;
    c.grad_scale = 1.0f;
    c.bias = true;
    c.pos_weight = true;
    c.soft_targets = true;
    c.x_range = 1.5;
    c.w_range = 1.0;
    c.seed = 42;
    return c;
}

static void case_name(const head_case *c, const char *tag, char *out, size_t size)
{
    snprintf(out, size, "train_%s_n%lld_d%lld_l%lld %s targets=%s %s scale=%g bias=%d pw=%d",
             sigfuse_dtype_name(c->dtype), (long long)c->n, (long long)c->d, (long long)c->l,
             tag, sigfuse_dtype_name(c->target_dtype),
             c->reduction == SIGFUSE_REDUCTION_SUM ? "sum" : "mean", c->grad_scale, c->bias,
             c->pos_weight);
}

typedef struct head_bufs {
    tu_buf x, w, bias, targets, pos_weight;
    tu_buf loss, dx, dw, dbias;
} head_bufs;

static sigfuse_dtype loss_dtype(sigfuse_dtype dtype)
{
    return dtype == SIGFUSE_F64 ? SIGFUSE_F64 : SIGFUSE_F32;
}

static void make_bufs(const head_case *c, head_bufs *b, const char *name)
{
    tu_rng rng = tu_rng_seed(c->seed, name);
    const int64_t n = c->n, d = c->d, l = c->l;
    b->x = tu_alloc_offset(c->dtype, n * d, c->offset);
    b->w = tu_alloc_offset(c->dtype, l * d, c->offset);
    b->bias = tu_alloc_offset(c->dtype, l, c->offset);
    b->targets = tu_alloc_offset(c->target_dtype, n * l, c->offset);
    b->pos_weight = tu_alloc_offset(c->dtype, l, c->offset);
    b->loss = tu_alloc_offset(loss_dtype(c->dtype), 1, c->offset);
    b->dx = tu_alloc_offset(c->dtype, n * d, c->offset);
    b->dw = tu_alloc_offset(c->dtype, l * d, c->offset);
    b->dbias = tu_alloc_offset(c->dtype, l, c->offset);
    tu_fill_uniform(&b->x, &rng, -c->x_range, c->x_range);
    tu_fill_uniform(&b->w, &rng, -c->w_range, c->w_range);
    tu_fill_uniform(&b->bias, &rng, -1.0, 1.0);
    tu_fill_uniform(&b->pos_weight, &rng, 0.25, 3.0);
    if (c->soft_targets && c->target_dtype != SIGFUSE_U8)
        tu_fill_uniform(&b->targets, &rng, 0.0, 1.0);
    else
        tu_fill_binary(&b->targets, &rng);
}

static void free_bufs(head_bufs *b)
{
    tu_free(&b->x), tu_free(&b->w), tu_free(&b->bias), tu_free(&b->targets);
    tu_free(&b->pos_weight), tu_free(&b->loss), tu_free(&b->dx), tu_free(&b->dw);
    tu_free(&b->dbias);
}

enum { O_LOSS = 1, O_DX = 2, O_DW = 4, O_DBIAS = 8, O_ALL = 15 };

static sigfuse_head_train_args make_args(const head_case *c, head_bufs *b, unsigned outputs)
{
    sigfuse_head_train_args a;
    sigfuse_head_train_args_init(&a);
    a.n = c->n, a.d = c->d, a.l = c->l;
    a.reduction = c->reduction;
    a.grad_scale = c->grad_scale;
    a.x = &b->x.desc;
    a.w = &b->w.desc;
    a.bias = c->bias ? &b->bias.desc : NULL;
    a.targets = &b->targets.desc;
    a.pos_weight = c->pos_weight ? &b->pos_weight.desc : NULL;
    a.loss = (outputs & O_LOSS) ? &b->loss.desc : NULL;
    a.dx = (outputs & O_DX) ? &b->dx.desc : NULL;
    a.dw = (outputs & O_DW) ? &b->dw.desc : NULL;
    a.dbias = (outputs & O_DBIAS) ? &b->dbias.desc : NULL;
    return a;
}

static size_t ws_size(sigfuse_ctx *ctx, const sigfuse_head_train_args *a, int64_t chunk_rows)
{
    size_t bytes = 0;
    sigfuse_status st = sigfuse_head_train_workspace_size(ctx, a, chunk_rows, &bytes);
    cr_assert_eq(st, SIGFUSE_SUCCESS, "workspace size: %s (%s)", sigfuse_status_string(st),
                 sigfuse_ctx_last_error(ctx));
    return bytes;
}

/* Run the train step with a fresh workspace of `bytes` bytes (poisoned, guarded). */
static sigfuse_status run_train(sigfuse_ctx *ctx, sigfuse_head_train_args *a, size_t bytes)
{
    tu_buf ws = tu_alloc(SIGFUSE_U8, (int64_t)bytes);
    a->workspace = &ws.desc;
    a->workspace_bytes = bytes;
    sigfuse_status st = sigfuse_head_train_step(ctx, a);
    cr_assert(tu_guards_ok(&ws), "workspace guards overwritten");
    tu_free(&ws);
    a->workspace = NULL;
    return st;
}

/* A case's name (case_name with `tag`), its buffers and its train args over `outputs`;
 * the args point into *b, which must stay where it is. */
static sigfuse_head_train_args open_case(const head_case *c, const char *tag, char name[192], head_bufs *b,
                                         unsigned outputs)
{
    case_name(c, tag, name, 192);
    make_bufs(c, b, name);
    return make_args(c, b, outputs);
}

typedef struct naive_out {
    double loss;
    double *dx, *dw, *dbias;
} naive_out;

/* All N x L logits at once, and the loss and gradient in their other form:
 *   loss = (1 - y) z + lw softplus(-z),  dloss/dz = (1 - y) - lw sigmoid(-z),
 *   lw = 1 + (p - 1) y. */
static naive_out naive_train(const head_case *c, const head_bufs *b)
{
    const int64_t n = c->n, d = c->d, l = c->l;
    double *z = dalloc(n * l), *g = dalloc(n * l);
    naive_out o = {0.0, dalloc(n * d), dalloc(l * d), dalloc(l)};
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < l; j++) {
            double s = 0.0;
            for (int64_t k = 0; k < d; k++)
                s += tu_get(&b->x, i * d + k) * tu_get(&b->w, j * d + k);
            z[i * l + j] = naive_logit(c->dtype, s, c->bias ? tu_get(&b->bias, j) : 0.0);
        }
    const double count = (double)n * (double)l;
    const bool mean = c->reduction == SIGFUSE_REDUCTION_MEAN;
    double loss = 0.0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < l; j++) {
            const double zz = z[i * l + j];
            const double y = tu_get(&b->targets, i * l + j);
            const double p = c->pos_weight ? tu_get(&b->pos_weight, j) : 1.0;
            const double lw = 1.0 + (p - 1.0) * y;
            loss += (1.0 - y) * zz + lw * naive_softplus(-zz);
            double grad = (1.0 - y) - lw * naive_sigmoid(-zz);
            grad *= c->grad_scale;
            if (mean)
                grad /= count;
            g[i * l + j] = grad;
        }
    o.loss = mean ? (count > 0 ? loss / count : NAN) : loss;
    for (int64_t i = 0; i < n; i++)
        for (int64_t k = 0; k < d; k++)
            for (int64_t j = 0; j < l; j++)
                o.dx[i * d + k] += g[i * l + j] * tu_get(&b->w, j * d + k);
    for (int64_t j = 0; j < l; j++)
        for (int64_t k = 0; k < d; k++)
            for (int64_t i = 0; i < n; i++)
                o.dw[j * d + k] += g[i * l + j] * tu_get(&b->x, i * d + k);
    for (int64_t j = 0; j < l; j++)
        for (int64_t i = 0; i < n; i++)
            o.dbias[j] += g[i * l + j];
    free(z);
    free(g);
    return o;
}

static void free_naive(naive_out *o)
{
    free(o->dx), free(o->dw), free(o->dbias);
}

static void expect_inputs_intact(const char *name, const head_bufs *b)
{
    cr_assert(tu_guards_ok(&b->x) && tu_guards_ok(&b->w) && tu_guards_ok(&b->bias) &&
                  tu_guards_ok(&b->targets) && tu_guards_ok(&b->pos_weight),
              "%s: input guards overwritten", name);
}

/* Compare the outputs named in `outputs` with the naive result; the others must be
 * untouched. A reference value that is NaN cannot be told from the NaN poison, so the
 * loss is preset to a number first: NaN afterwards means it was written. */
static void check_train(const head_case *c, const char *tag, int64_t chunk_rows,
                        unsigned outputs)
{
    char name[192];
    head_bufs b;
    sigfuse_head_train_args a = open_case(c, tag, name, &b, outputs);
    naive_out want = naive_train(c, &b);
    if (outputs & O_LOSS)
        tu_set(&b.loss, 0, 12345.0);
    sigfuse_status st = run_train(ctx, &a, ws_size(ctx, &a, chunk_rows));
    cr_assert_eq(st, SIGFUSE_SUCCESS, "%s: %s (%s)", name, sigfuse_status_string(st),
                 sigfuse_ctx_last_error(ctx));

    double rtol, atol;
    tolerance(c->dtype, &rtol, &atol);
    double lrtol, latol;
    tolerance(loss_dtype(c->dtype), &lrtol, &latol);
    if (outputs & O_LOSS)
        expect_buf(name, "loss", &b.loss, &want.loss, 1, lrtol, latol);
    else
        cr_assert(tu_untouched(&b.loss), "%s: absent loss written", name);
    if (outputs & O_DX)
        expect_buf(name, "dx", &b.dx, want.dx, c->n * c->d, rtol, atol);
    else
        cr_assert(tu_untouched(&b.dx), "%s: absent dx written", name);
    if (outputs & O_DW)
        expect_buf(name, "dw", &b.dw, want.dw, c->l * c->d, rtol, atol);
    else
        cr_assert(tu_untouched(&b.dw), "%s: absent dw written", name);
    if (outputs & O_DBIAS)
        expect_buf(name, "dbias", &b.dbias, want.dbias, c->l, rtol, atol);
    else
        cr_assert(tu_untouched(&b.dbias), "%s: absent dbias written", name);
    expect_inputs_intact(name, &b);

    free_naive(&want);
    free_bufs(&b);
}

/* The logits of a 16-bit head: its dot product rounded to the dtype, the bias added after
 * (include/sigfuse.h). X = (1, 1), W = (1, h) with h half an ulp of 1 below the tie (bf16
 * 2^-9, f16 2^-12): the dot product 1 + h rounds to 1. With bias b = h the logit is then
 * 1 + h: not the exact 1 + 2h, nor round(1 + 2h) = 1 (a tie to even, what rounding the
 * bias into the sum would give). f32 keeps 1 + h and 1 + 2h. The loss at target 0 is
 * softplus(z), which tells these apart in f32. */
static void rounded_logit_case(sigfuse_dtype dtype, bool with_bias)
{
    char name[96];
    snprintf(name, sizeof name, "train_%s_n1_d2_l1 rounded dot product bias=%d", sigfuse_dtype_name(dtype),
             with_bias);
    const double h = dtype == SIGFUSE_F16 ? 0x1p-12 : 0x1p-9;
    const double xs[2] = {1.0, 1.0}, ws[2] = {1.0, h}, bs[1] = {h}, ys[1] = {0.0};
    double z = dtype == SIGFUSE_F32 ? 1.0 + h : 1.0;
    if (with_bias)
        z += h;
    const double want = naive_softplus(z);
    tu_buf x = tu_from(dtype, 2, xs), w = tu_from(dtype, 2, ws), b = tu_from(dtype, 1, bs);
    tu_buf y = tu_from(dtype, 1, ys), loss = tu_alloc(SIGFUSE_F32, 1);
    sigfuse_head_train_args a;
    sigfuse_head_train_args_init(&a);
    a.n = 1, a.d = 2, a.l = 1;
    a.reduction = SIGFUSE_REDUCTION_SUM;
    a.x = &x.desc, a.w = &w.desc, a.bias = with_bias ? &b.desc : NULL, a.targets = &y.desc;
    a.loss = &loss.desc;
    size_t bytes = ws_size(ctx, &a, 0);
    sigfuse_status st = run_train(ctx, &a, bytes);
    cr_assert_eq(st, SIGFUSE_SUCCESS, "%s: %s (%s)", name, sigfuse_status_string(st), sigfuse_ctx_last_error(ctx));
    expect_buf(name, "loss", &loss, &want, 1, 0x1p-23, 0.0);
    /* The other definitions are more than the tolerance away. */
    const double unrounded = naive_softplus(1.0 + (with_bias ? 2.0 : 1.0) * h);
    if (dtype != SIGFUSE_F32)
        cr_assert(fabs(want - unrounded) > 0x1p-20, "%s: the case does not tell the definitions apart", name);
    tu_free(&x), tu_free(&w), tu_free(&b), tu_free(&y), tu_free(&loss);
}

Test(ref_head, train_bf16_f16_n1_d2_l1_dot_product_rounded_to_dtype_then_bias)
{
    const sigfuse_dtype dts[3] = {SIGFUSE_BF16, SIGFUSE_F16, SIGFUSE_F32};
    for (int k = 0; k < 3; k++) {
        rounded_logit_case(dts[k], false);
        rounded_logit_case(dts[k], true);
    }
}

/* ---- train step against the naive computation -------------------------------------- */

Test(ref_head, train_f32_n9_d6_l5_sum_mean_bias_posweight_targets)
{
    for (int red = 0; red < 2; red++)
        for (int bias = 0; bias < 2; bias++)
            for (int pw = 0; pw < 2; pw++)
                for (int u8 = 0; u8 < 2; u8++) {
                    head_case c = default_case(SIGFUSE_F32, 9, 6, 5);
                    c.reduction = red ? SIGFUSE_REDUCTION_SUM : SIGFUSE_REDUCTION_MEAN;
                    c.bias = bias;
                    c.pos_weight = pw;
                    c.target_dtype = u8 ? SIGFUSE_U8 : SIGFUSE_F32;
                    c.seed = 100u + (uint64_t)(red * 8 + bias * 4 + pw * 2 + u8);
                    check_train(&c, "chunk2", 2, O_ALL);
                    check_train(&c, "chunkN", 0, O_ALL);
                }
}

Test(ref_head, train_f32_n37_d13_l5_chunk4_grad_scale)
{
    static const float scales[] = {1.0f, 0.5f, -2.0f, 0.0f, 1024.0f};
    for (size_t s = 0; s < sizeof scales / sizeof scales[0]; s++)
        for (int red = 0; red < 2; red++) {
            head_case c = default_case(SIGFUSE_F32, 37, 13, 5);
            c.grad_scale = scales[s];
            c.reduction = red ? SIGFUSE_REDUCTION_SUM : SIGFUSE_REDUCTION_MEAN;
            c.target_dtype = (s % 2) ? SIGFUSE_U8 : SIGFUSE_F32;
            c.seed = 200u + s;
            check_train(&c, "chunk4", 4, O_ALL);
        }
}

Test(ref_head, train_f32_n7_d5_l3_absent_outputs_untouched)
{
    for (unsigned outputs = 1; outputs <= O_ALL; outputs++) {
        head_case c = default_case(SIGFUSE_F32, 7, 5, 3);
        c.seed = 300u + outputs;
        check_train(&c, "subset", 3, outputs);
    }
}

Test(ref_head, train_f32_n5_d4_l3_u8_targets_any_nonzero_byte_is_one)
{
    head_case c = default_case(SIGFUSE_F32, 5, 4, 3);
    c.target_dtype = SIGFUSE_U8;
    char name[192];
    head_bufs b;
    sigfuse_head_train_args a = open_case(&c, "bytes", name, &b, O_ALL);
    unsigned char *t = data_of(&b.targets);
    for (int64_t e = 0; e < c.n * c.l; e++)
        t[e] = (unsigned char)((e % 3 == 0) ? 0 : (e % 3 == 1 ? 1 : 0x80 + e));
    cr_assert_eq(run_train(ctx, &a, ws_size(ctx, &a, 2)), SIGFUSE_SUCCESS);
    float got[4 + 20 + 12 + 3];
    memcpy(got, data_of(&b.loss), 4);
    memcpy(got + 1, data_of(&b.dx), 20 * 4);
    memcpy(got + 21, data_of(&b.dw), 12 * 4);
    memcpy(got + 33, data_of(&b.dbias), 3 * 4);
    for (int64_t e = 0; e < c.n * c.l; e++)
        t[e] = t[e] ? 1 : 0;
    tu_poison(&b.loss), tu_poison(&b.dx), tu_poison(&b.dw), tu_poison(&b.dbias);
    cr_assert_eq(run_train(ctx, &a, ws_size(ctx, &a, 2)), SIGFUSE_SUCCESS);
    cr_assert(memcmp(got, data_of(&b.loss), 4) == 0 && memcmp(got + 1, data_of(&b.dx), 80) == 0 &&
                  memcmp(got + 21, data_of(&b.dw), 48) == 0 &&
                  memcmp(got + 33, data_of(&b.dbias), 12) == 0,
              "%s: a target byte > 1 did not read as 1", name);
    free_bufs(&b);
}

/* ---- gradients against central finite differences, in f64 ------------------------- */

static double loss_only(sigfuse_ctx *ctx, const head_case *c, head_bufs *b)
{
    sigfuse_head_train_args a = make_args(c, b, O_LOSS);
    sigfuse_status st = run_train(ctx, &a, ws_size(ctx, &a, 2));
    cr_assert_eq(st, SIGFUSE_SUCCESS, "loss: %s (%s)", sigfuse_status_string(st),
                 sigfuse_ctx_last_error(ctx));
    return tu_get(&b->loss, 0);
}

/* d(loss)/d(param) by central differences, times the gradient scale the op applies. */
static void fd_check(const char *name, sigfuse_ctx *ctx, const head_case *c, head_bufs *b,
                     tu_buf *param, const tu_buf *grad, int64_t count, const char *what)
{
    const double h = 1e-5;
    for (int64_t e = 0; e < count; e++) {
        const double v = tu_get(param, e);
        tu_set(param, e, v + h);
        const double up = loss_only(ctx, c, b);
        tu_set(param, e, v - h);
        const double down = loss_only(ctx, c, b);
        tu_set(param, e, v);
        const double fd = (up - down) / (2.0 * h) * c->grad_scale;
        const double got = tu_get(grad, e);
        cr_assert(tu_close(got, fd, 1e-6, 1e-9), "%s: %s[%lld] = %.12g, finite difference %.12g",
                  name, what, (long long)e, got, fd);
    }
}

/* dx, dw (and dbias) of the case with `seed` against central differences of its loss. */
static void fd_case(head_case c, uint64_t seed)
{
    c.seed = seed;
    char name[192];
    head_bufs b;
    sigfuse_head_train_args a = open_case(&c, "finite-differences", name, &b, O_ALL);
    cr_assert_eq(run_train(ctx, &a, ws_size(ctx, &a, 2)), SIGFUSE_SUCCESS, "%s: %s", name,
                 sigfuse_ctx_last_error(ctx));
    fd_check(name, ctx, &c, &b, &b.x, &b.dx, c.n * c.d, "dx");
    fd_check(name, ctx, &c, &b, &b.w, &b.dw, c.l * c.d, "dw");
    if (c.bias)
        fd_check(name, ctx, &c, &b, &b.bias, &b.dbias, c.l, "dbias");
    free_bufs(&b);
}

Test(ref_head, train_f64_n4_d3_l5_finite_differences_mean_soft_targets) { fd_case(default_case(SIGFUSE_F64, 4, 3, 5), 400); }

Test(ref_head, train_f64_n5_d4_l3_finite_differences_sum_u8_scale)
{
    head_case c = default_case(SIGFUSE_F64, 5, 4, 3);
    c.reduction = SIGFUSE_REDUCTION_SUM, c.target_dtype = SIGFUSE_U8, c.grad_scale = 0.75f;
    c.x_range = c.w_range = 2.0;
    fd_case(c, 401);
}

Test(ref_head, train_f64_n3_d2_l4_finite_differences_no_posweight)
{
    head_case c = default_case(SIGFUSE_F64, 3, 2, 4);
    c.pos_weight = false, c.reduction = SIGFUSE_REDUCTION_SUM;
    fd_case(c, 402);
}

/* ---- chunking ----------------------------------------------------------------------- */

typedef struct snapshot {
    unsigned char *bytes[4];
    size_t size[4];
} snapshot;

static snapshot take(const head_bufs *b)
{
    const tu_buf *outs[4] = {&b->loss, &b->dx, &b->dw, &b->dbias};
    snapshot s;
    for (int o = 0; o < 4; o++) {
        s.size[o] = outs[o]->bytes;
        s.bytes[o] = malloc(s.size[o] + 1);
        cr_assert(s.bytes[o] != NULL);
        memcpy(s.bytes[o], data_of(outs[o]), s.size[o]);
    }
    return s;
}

static void drop(snapshot *s)
{
    for (int o = 0; o < 4; o++)
        free(s->bytes[o]);
}

static void chunk_case(sigfuse_dtype dtype, int64_t n, int64_t d, int64_t l)
{
    head_case c = default_case(dtype, n, d, l);
    c.seed = 500u + (uint64_t)dtype;
    char name[192];
    head_bufs b;
    sigfuse_head_train_args a = open_case(&c, "chunks", name, &b, O_ALL);

    /* The documented size: one chunk of G plus the dW, dbias and loss accumulators. */
    const size_t fixed = (size_t)(l * d + l + 1) * sizeof(double);
    cr_assert_eq(ws_size(ctx, &a, 1), fixed + (size_t)l * sizeof(double), "%s", name);
    cr_assert_eq(ws_size(ctx, &a, 3), fixed + 3u * (size_t)l * sizeof(double), "%s", name);
    const size_t full = fixed + (size_t)(n * l) * sizeof(double);
    cr_assert_eq(ws_size(ctx, &a, n), full, "%s", name);
    /* The default (0): the largest chunk within an unfused head's N x L logits in the
     * storage dtype; where one row is more than that, the largest whose own part (rows x
     * a row's) is within it, on top of the fixed parts. */
    const size_t unfused = (size_t)(n * l) * sigfuse_dtype_size(dtype);
    const size_t row = (size_t)l * sizeof(double);
    const bool over = fixed + row > unfused;
    size_t default_rows = over ? unfused / row : (unfused - fixed) / row;
    default_rows = default_rows < 1 ? 1 : default_rows > (size_t)n ? (size_t)n : default_rows;
    cr_assert_eq(ws_size(ctx, &a, 0), fixed + default_rows * row, "%s: chunk_rows 0 is the largest chunk within %zu bytes",
                 name, over ? fixed + unfused : unfused);
    cr_assert(ws_size(ctx, &a, 0) <= (over ? fixed + unfused : unfused), "%s: the default holds more than it may",
              name);
    cr_assert_eq(ws_size(ctx, &a, n + 5), full, "%s: chunk_rows > N means all rows", name);

    const size_t sizes[] = {
        ws_size(ctx, &a, 1),
        ws_size(ctx, &a, 3),
        ws_size(ctx, &a, 4) + 5,                     /* between sizes: 4 rows and a spare */
        (ws_size(ctx, &a, 6) + ws_size(ctx, &a, 7)) / 2,
        ws_size(ctx, &a, n - 1),
        full,
        full * 3 + 1,                                /* more than any chunk can use */
    };
    snapshot first;
    memset(&first, 0, sizeof first);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        tu_poison(&b.loss), tu_poison(&b.dx), tu_poison(&b.dw), tu_poison(&b.dbias);
        sigfuse_status st = run_train(ctx, &a, sizes[s]);
        cr_assert_eq(st, SIGFUSE_SUCCESS, "%s: workspace %zu: %s (%s)", name, sizes[s],
                     sigfuse_status_string(st), sigfuse_ctx_last_error(ctx));
        snapshot now = take(&b);
        if (s == 0) {
            first = now;
            continue;
        }
        static const char *what[4] = {"loss", "dx", "dw", "dbias"};
        for (int o = 0; o < 4; o++)
            cr_assert(memcmp(first.bytes[o], now.bytes[o], first.size[o]) == 0,
                      "%s: %s with a %zu-byte workspace differs from chunk_rows 1", name, what[o],
                      sizes[s]);
        drop(&now);
    }
    drop(&first);

    /* And the values are right, not only consistent. */
    naive_out want = naive_train(&c, &b);
    double rtol, atol;
    tolerance(dtype, &rtol, &atol);
    double lrtol, latol;
    tolerance(loss_dtype(dtype), &lrtol, &latol);
    expect_buf(name, "loss", &b.loss, &want.loss, 1, lrtol, latol);
    expect_buf(name, "dx", &b.dx, want.dx, n * d, rtol, atol);
    expect_buf(name, "dw", &b.dw, want.dw, l * d, rtol, atol);
    expect_buf(name, "dbias", &b.dbias, want.dbias, l, rtol, atol);
    free_naive(&want);
    free_bufs(&b);
}

Test(ref_head, train_f32_n37_d13_l5_chunks_1_3_between_n_bitwise)
{
    chunk_case(SIGFUSE_F32, 37, 13, 5);
}

Test(ref_head, train_f64_n37_d13_l5_chunks_1_3_between_n_bitwise)
{
    chunk_case(SIGFUSE_F64, 37, 13, 5);
}

Test(ref_head, train_bf16_n20_d33_l7_chunks_1_3_between_n_bitwise)
{
    chunk_case(SIGFUSE_BF16, 20, 33, 7);
}

/* The default f32 case n x d x l with a workspace of chunk_rows's size, at byte offset
 * ws_offset (0: the plain form), for the checks that the step refuses a workspace. */
typedef struct ws_case {
    const char *name;
    head_bufs b;
    sigfuse_head_train_args a;   /* every output; points into b */
    tu_buf ws;
} ws_case;

static void open_ws_case(ws_case *w, const char *name, int64_t n, int64_t d, int64_t l, int64_t chunk_rows,
                         size_t ws_offset)
{
    const head_case c = default_case(SIGFUSE_F32, n, d, l);
    w->name = name;
    make_bufs(&c, &w->b, name);
    w->a = make_args(&c, &w->b, O_ALL);
    const int64_t bytes = (int64_t)ws_size(ctx, &w->a, chunk_rows);
    w->ws = ws_offset ? tu_alloc_offset(SIGFUSE_U8, bytes, ws_offset) : tu_alloc(SIGFUSE_U8, bytes);
}

static void close_ws_case(ws_case *w)
{
    tu_free(&w->ws);
    free_bufs(&w->b);
}

/* The step given `bytes` of the workspace fails with `want` and writes nothing: every
 * output, and the workspace and its guards, intact. */
static void expect_refused(ws_case *w, size_t bytes, sigfuse_status want)
{
    w->a.workspace = &w->ws.desc;
    w->a.workspace_bytes = bytes;
    sigfuse_status st = sigfuse_head_train_step(ctx, &w->a);
    cr_assert_eq(st, want, "%s: got %s, want %s", w->name, sigfuse_status_string(st),
                 sigfuse_status_string(want));
    cr_assert(strlen(sigfuse_ctx_last_error(ctx)) > 0, "%s: no message", w->name);
    cr_assert(tu_untouched(&w->b.loss) && tu_untouched(&w->b.dx) && tu_untouched(&w->b.dw) &&
                  tu_untouched(&w->b.dbias),
              "%s: a failed call wrote an output", w->name);
    cr_assert(tu_untouched(&w->ws), "%s: a failed call wrote its workspace", w->name);
    expect_inputs_intact(w->name, &w->b);
}

Test(ref_head, train_f32_n37_d13_l5_insufficient_workspace_writes_nothing)
{
    ws_case w;
    open_ws_case(&w, "train_f32_n37_d13_l5 insufficient workspace", 37, 13, 5, 1, 0);
    const size_t one = w.ws.bytes;   /* chunk_rows = 1's size, the smallest */
    expect_refused(&w, one - 1, SIGFUSE_ERR_INSUFFICIENT_WORKSPACE);
    expect_refused(&w, one / 2, SIGFUSE_ERR_INSUFFICIENT_WORKSPACE);
    /* And exactly the chunk_rows = 1 size is enough. */
    w.a.workspace_bytes = one;
    cr_assert_eq(sigfuse_head_train_step(ctx, &w.a), SIGFUSE_SUCCESS, "%s: %s", w.name,
                 sigfuse_ctx_last_error(ctx));
    cr_assert(tu_guards_ok(&w.ws));
    close_ws_case(&w);
}

Test(ref_head, train_f32_n7_d5_l3_misaligned_workspace_is_refused)
{
    /* The reference keeps doubles in the workspace; it documents (by failing) that the
     * workspace address must be 8-byte aligned rather than read doubles unaligned. */
    ws_case w;
    open_ws_case(&w, "train_f32_n7_d5_l3 misaligned workspace", 7, 5, 3, 0, 1);
    expect_refused(&w, w.ws.bytes, SIGFUSE_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(sigfuse_ctx_last_error(ctx), "aligned") != NULL, "%s: message \"%s\"", w.name,
              sigfuse_ctx_last_error(ctx));
    close_ws_case(&w);
}

/* ---- dtypes and shapes -------------------------------------------------------------- */

static void train_sweep(sigfuse_dtype dtype, uint64_t seed)
{
    int k = 0;
    for (int a = 0; a < NSHAPES; a++)
        for (int b = 0; b < NSHAPES; b++)
            for (int e = 0; e < NSHAPES; e++, k++) {
                head_case c = default_case(dtype, SHAPES[a], SHAPES[b], SHAPES[e]);
                c.reduction = (k % 2) ? SIGFUSE_REDUCTION_SUM : SIGFUSE_REDUCTION_MEAN;
                c.target_dtype = (k % 3 == 0) ? SIGFUSE_U8 : dtype;
                c.bias = k % 4 != 1;
                c.pos_weight = k % 5 != 2;
                c.grad_scale = (k % 7 == 3) ? 2.5f : 1.0f;
                c.offset = (k % 2) ? 16 : 0;
                c.seed = seed + (uint64_t)k;
                check_train(&c, "chunk3", 3, O_ALL);
            }
}

Test(ref_head, train_f32_shapes_n_d_l_in_0_1_7_33) { train_sweep(SIGFUSE_F32, 6000); }
Test(ref_head, train_f16_shapes_n_d_l_in_0_1_7_33) { train_sweep(SIGFUSE_F16, 7000); }
Test(ref_head, train_bf16_shapes_n_d_l_in_0_1_7_33) { train_sweep(SIGFUSE_BF16, 8000); }
Test(ref_head, train_f64_shapes_n_d_l_in_0_1_7_33) { train_sweep(SIGFUSE_F64, 9000); }

Test(ref_head, train_f32_n0_d4_l3_zero_rows)
{
    /* No rows: dW and dbias are zero, SUM gives 0 and MEAN NaN. */
    for (int red = 0; red < 2; red++) {
        head_case c = default_case(SIGFUSE_F32, 0, 4, 3);
        c.reduction = red ? SIGFUSE_REDUCTION_SUM : SIGFUSE_REDUCTION_MEAN;
        head_bufs b;
        make_bufs(&c, &b, "train_f32_n0_d4_l3");
        sigfuse_head_train_args a = make_args(&c, &b, O_ALL);
        tu_set(&b.loss, 0, 7.0);
        cr_assert_eq(run_train(ctx, &a, ws_size(ctx, &a, 1)), SIGFUSE_SUCCESS, "%s",
                     sigfuse_ctx_last_error(ctx));
        const double zeros[12] = {0};
        expect_buf("train_f32_n0_d4_l3", "dw", &b.dw, zeros, 12, 0.0, 0.0);
        expect_buf("train_f32_n0_d4_l3", "dbias", &b.dbias, zeros, 3, 0.0, 0.0);
        const double want_loss = red ? 0.0 : NAN;
        expect_buf("train_f32_n0_d4_l3", "loss", &b.loss, &want_loss, 1, 0.0, 0.0);
        free_bufs(&b);
    }
}

/* ---- extremes ------------------------------------------------------------------------ */

static void expect_all_finite(const char *name, const char *what, const tu_buf *b)
{
    for (int64_t i = 0; i < b->n; i++)
        cr_assert(isfinite(tu_get(b, i)), "%s: %s[%lld] = %g is not finite", name, what,
                  (long long)i, tu_get(b, i));
}

/* Logits of exactly +-1e4: X rows of +-1, W rows of +-2500 over D = 4. The loss of an
 * element is 0 when the sign agrees with the target and |z| (times p for y = 1) when
 * not; the gradient is 0, 1 or -p before scaling. */
static void extreme_case(sigfuse_dtype dtype, sigfuse_reduction reduction)
{
    head_case c = default_case(dtype, 6, 4, 3);
    c.reduction = reduction;
    c.target_dtype = SIGFUSE_U8;
    c.bias = false;
    char name[192];
    case_name(&c, "logits +-1e4", name, sizeof name);
    head_bufs b;
    make_bufs(&c, &b, name);
    static const double row_sign[6] = {1, -1, 1, 1, -1, -1};
    static const double col_sign[3] = {1, -1, 1};
    for (int64_t i = 0; i < c.n; i++)
        for (int64_t k = 0; k < c.d; k++)
            tu_set(&b.x, i * c.d + k, row_sign[i]);
    for (int64_t j = 0; j < c.l; j++)
        for (int64_t k = 0; k < c.d; k++)
            tu_set(&b.w, j * c.d + k, 2500.0 * col_sign[j]);
    sigfuse_head_train_args a = make_args(&c, &b, O_ALL);
    cr_assert_eq(run_train(ctx, &a, ws_size(ctx, &a, 4)), SIGFUSE_SUCCESS, "%s: %s", name,
                 sigfuse_ctx_last_error(ctx));

    const double count = (double)(c.n * c.l);
    const double mean = reduction == SIGFUSE_REDUCTION_MEAN ? count : 1.0;
    const double z_abs = 4.0 * tu_get(&b.w, 0);   /* 1e4, or 9984 where bf16 rounds 2500 */
    double loss = 0.0;
    double *g = dalloc(c.n * c.l);
    for (int64_t i = 0; i < c.n; i++)
        for (int64_t j = 0; j < c.l; j++) {
            const double z = row_sign[i] * col_sign[j] * z_abs;
            const double y = tu_get(&b.targets, i * c.l + j);
            const double p = tu_get(&b.pos_weight, j);
            if (y == 0.0 && z > 0) {
                loss += z;
                g[i * c.l + j] = 1.0 / mean;
            } else if (y == 1.0 && z < 0) {
                loss += p * -z;
                g[i * c.l + j] = -p / mean;
            }
        }
    const double want_loss = loss / mean;
    double lrtol, latol, rtol, atol;
    tolerance(SIGFUSE_F32, &lrtol, &latol);
    tolerance(dtype, &rtol, &atol);
    expect_buf(name, "loss", &b.loss, &want_loss, 1, lrtol, latol);
    double *db = dalloc(c.l);
    for (int64_t j = 0; j < c.l; j++)
        for (int64_t i = 0; i < c.n; i++)
            db[j] += g[i * c.l + j];
    expect_buf(name, "dbias", &b.dbias, db, c.l, rtol, atol);
    expect_all_finite(name, "dx", &b.dx);
    expect_all_finite(name, "dw", &b.dw);
    naive_out want = naive_train(&c, &b);
    expect_buf(name, "dx", &b.dx, want.dx, c.n * c.d, rtol, atol);
    expect_buf(name, "dw", &b.dw, want.dw, c.l * c.d, rtol, atol);
    free_naive(&want);
    free(db);
    free(g);
    free_bufs(&b);
}

Test(ref_head, train_f32_n6_d4_l3_logits_pm1e4)
{
    extreme_case(SIGFUSE_F32, SIGFUSE_REDUCTION_SUM);
    extreme_case(SIGFUSE_F32, SIGFUSE_REDUCTION_MEAN);
}

Test(ref_head, train_f16_bf16_n6_d4_l3_logits_pm1e4)
{
    extreme_case(SIGFUSE_F16, SIGFUSE_REDUCTION_SUM);
    extreme_case(SIGFUSE_BF16, SIGFUSE_REDUCTION_MEAN);
}

Test(ref_head, train_f32_n17_d7_l5_large_random_weights_finite)
{
    /* |z| up to about 1e4 with mixed signs and soft targets: everything stays finite
     * and still matches the naive forms. */
    for (int red = 0; red < 2; red++) {
        head_case c = default_case(SIGFUSE_F32, 17, 7, 5);
        c.reduction = red ? SIGFUSE_REDUCTION_SUM : SIGFUSE_REDUCTION_MEAN;
        c.x_range = 1.0;
        c.w_range = 1.4e3;
        c.seed = 700u + (uint64_t)red;
        check_train(&c, "weights +-1.4e3", 5, O_ALL);
        c.w_range = 90.0;   /* logits around the f32 exp overflow edge (88.7) */
        check_train(&c, "weights +-90", 5, O_ALL);
    }
}

Test(ref_head, train_f32_n2_d1_l2_infinite_logits_take_limits)
{
    /* bias +inf / -inf makes z infinite: with agreeing targets the loss is exactly 0
     * (the zero coefficient cancels the infinite softplus), with disagreeing targets it
     * is +inf, and the gradients (sigmoids) stay finite. pos_weight 0 cancels too. */
    const char *name = "train_f32_n2_d1_l2 infinite logits";
    const double xv[2] = {1.0, -1.0}, wv[2] = {0.5, 0.5};
    const double bv[2] = {INFINITY, -INFINITY};
    tu_buf x = tu_from(SIGFUSE_F32, 2, xv), w = tu_from(SIGFUSE_F32, 2, wv);
    tu_buf bias = tu_from(SIGFUSE_F32, 2, bv);
    tu_buf loss = tu_alloc(SIGFUSE_F32, 1), dx = tu_alloc(SIGFUSE_F32, 2);
    tu_buf dw = tu_alloc(SIGFUSE_F32, 2), dbias = tu_alloc(SIGFUSE_F32, 2);
    sigfuse_head_train_args a;
    sigfuse_head_train_args_init(&a);
    a.n = 2, a.d = 1, a.l = 2, a.reduction = SIGFUSE_REDUCTION_SUM;
    a.x = &x.desc, a.w = &w.desc, a.bias = &bias.desc;
    a.loss = &loss.desc, a.dx = &dx.desc, a.dw = &dw.desc, a.dbias = &dbias.desc;

    const double agree[4] = {1, 0, 1, 0};
    tu_buf t = tu_from(SIGFUSE_F32, 4, agree);
    a.targets = &t.desc;
    cr_assert_eq(run_train(ctx, &a, ws_size(ctx, &a, 1)), SIGFUSE_SUCCESS);
    const double zero2[2] = {0, 0}, zero1 = 0.0;
    expect_buf(name, "loss (agree)", &loss, &zero1, 1, 0.0, 0.0);
    expect_buf(name, "dx (agree)", &dx, zero2, 2, 0.0, 0.0);
    expect_buf(name, "dw (agree)", &dw, zero2, 2, 0.0, 0.0);
    expect_buf(name, "dbias (agree)", &dbias, zero2, 2, 0.0, 0.0);

    const double disagree[4] = {0, 1, 1, 0};
    tu_set_all(&t, disagree);
    cr_assert_eq(run_train(ctx, &a, ws_size(ctx, &a, 1)), SIGFUSE_SUCCESS);
    const double inf = INFINITY, want_db[2] = {1.0, -1.0};
    expect_buf(name, "loss (disagree)", &loss, &inf, 1, 0.0, 0.0);
    expect_buf(name, "dbias (disagree)", &dbias, want_db, 2, 0.0, 0.0);

    /* pos_weight 0 on the -inf column: its y = 1 term has coefficient 0. */
    const double pwv[2] = {1.0, 0.0}, ones[4] = {1, 1, 1, 1};
    tu_buf pw = tu_from(SIGFUSE_F32, 2, pwv);
    tu_set_all(&t, ones);
    a.pos_weight = &pw.desc;
    cr_assert_eq(run_train(ctx, &a, ws_size(ctx, &a, 1)), SIGFUSE_SUCCESS);
    expect_buf(name, "loss (pos_weight 0)", &loss, &zero1, 1, 0.0, 0.0);

    /* NaN propagates. */
    a.pos_weight = NULL;
    tu_set(&x, 1, NAN);
    tu_set_all(&bias, zero2);
    cr_assert_eq(run_train(ctx, &a, ws_size(ctx, &a, 1)), SIGFUSE_SUCCESS);
    const double nan = NAN;
    expect_buf(name, "loss (NaN input)", &loss, &nan, 1, 0.0, 0.0);

    tu_free(&x), tu_free(&w), tu_free(&bias), tu_free(&loss), tu_free(&dx), tu_free(&dw);
    tu_free(&dbias), tu_free(&t), tu_free(&pw);
}

/* No labels and no features: nothing to walk, however many rows. A huge n used to walk
 * every row doing nothing (the fuzzer found it: minutes for n = 2^40). */
Test(ref_head, train_without_labels_or_features_is_immediate_for_any_n)
{
    float xs[1] = {0}, ts[1] = {0}, loss = -1.0f;
    _Alignas(16) double ws[4];
    sigfuse_buffer x = sigfuse_host_buffer(xs, SIGFUSE_F32), w = sigfuse_host_buffer(xs, SIGFUSE_F32);
    sigfuse_buffer t = sigfuse_host_buffer(ts, SIGFUSE_F32), l = sigfuse_host_buffer(&loss, SIGFUSE_F32);
    sigfuse_buffer wsb = sigfuse_host_buffer(ws, SIGFUSE_U8);
    sigfuse_head_train_args a;
    sigfuse_head_train_args_init(&a);
    a.n = (int64_t)1 << 40, a.d = 0, a.l = 0;
    a.x = &x, a.w = &w, a.targets = &t, a.loss = &l, a.dx = &x;
    a.reduction = SIGFUSE_REDUCTION_SUM;
    a.workspace = &wsb, a.workspace_bytes = sizeof ws;
    cr_assert_eq(sigfuse_head_train_step(ctx, &a), SIGFUSE_SUCCESS, "%s", sigfuse_ctx_last_error(ctx));
    cr_expect_eq(loss, 0.0f, "SUM over no labels is 0");
    a.reduction = SIGFUSE_REDUCTION_MEAN;
    cr_assert_eq(sigfuse_head_train_step(ctx, &a), SIGFUSE_SUCCESS, "%s", sigfuse_ctx_last_error(ctx));
    cr_expect(isnan(loss), "MEAN over no labels is NaN");
}
