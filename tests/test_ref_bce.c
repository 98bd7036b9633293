/* SPDX-License-Identifier: MIT */
/*
 * The CPU reference of bce_with_logits, checked through the public API against values
 * derived by hand, central finite differences in f64, exact limits at extreme logits,
 * and its own f64 results rounded once to each storage dtype.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "sf_internal.h"
#include "testutil.h"

#define LN2 0.69314718055994530942

/* Buffers of one call; a NULL member is passed as absent. */
typedef struct bce_io {
    tu_buf *x, *y, *w, *pw, *dl;
    tu_buf *loss, *dx, *probs, *labels;
} bce_io;

typedef struct bce_opt {
    int64_t rows, cols;
    sigfuse_reduction red;
    double eps, grad_scale, threshold;
} bce_opt;

static bce_opt opt_default(int64_t rows, int64_t cols, sigfuse_reduction red)
{
    bce_opt o = {rows, cols, red, 0.0, 1.0, 0.5};
    return o;
}

static sigfuse_status run_bce(sigfuse_ctx *ctx, const bce_opt *o, const bce_io *io)
{
    sigfuse_bce_args a;
    sigfuse_bce_args_init(&a);
    a.rows = o->rows;
    a.cols = o->cols;
    a.reduction = o->red;
    a.label_smoothing = (float)o->eps;
    a.grad_scale = (float)o->grad_scale;
    a.threshold = (float)o->threshold;
    a.logits = tu_opt_desc(io->x);
    a.targets = tu_opt_desc(io->y);
    a.weight = tu_opt_desc(io->w);
    a.pos_weight = tu_opt_desc(io->pw);
    a.dloss_in = tu_opt_desc(io->dl);
    a.loss = tu_opt_desc(io->loss);
    a.dlogits = tu_opt_desc(io->dx);
    a.probs = tu_opt_desc(io->probs);
    a.labels = tu_opt_desc(io->labels);
    return sigfuse_bce_with_logits(ctx, &a);
}

static void must_run(sigfuse_ctx *ctx, const bce_opt *o, const bce_io *io)
{
    sigfuse_status st = run_bce(ctx, o, io);
    cr_assert_eq(st, SIGFUSE_SUCCESS, "bce_with_logits: %s (%s)", sigfuse_status_string(st),
                 sigfuse_ctx_last_error(ctx));
}

static double sig(double x) { return 1.0 / (1.0 + exp(-x)); }

/* The textbook form, accurate enough for |x| <= 10: a second formula, not a copy. */
static double naive_loss(double x, double y, double w, double p, double eps)
{
    double ys = y * (1 - eps) + eps / 2;
    return -w * (p * ys * log(sig(x)) + (1 - ys) * log(1 - sig(x)));
}

static double naive_grad(double x, double y, double w, double p, double eps)
{
    double ys = y * (1 - eps) + eps / 2;
    return w * ((1 - ys) * sig(x) - p * ys * (1 - sig(x)));
}

/* The small absolute slack absorbs the cancellation in the hand-side formulas
 * (sigmoid(3) - 1 is only good to 1e-16 absolute), not errors of the reference. */
#define EXPECT_CLOSE(got, want, rtol, what, ...)                                          \
    cr_expect(tu_close((got), (want), (rtol), (rtol) > 0 ? 4e-16 : 0.0),                  \
              what ": got %.17g, want %.17g",                                             \
              __VA_ARGS__, (double)(got), (double)(want))

/* ---- Known values ----------------------------------------------------------------- */

Test(ref_bce, ln2_at_zero_f64_1x2)
{
    sigfuse_ctx *ctx = tu_cpu_ctx();
    double xs[] = {0, 0}, ys[] = {0, 1};
    tu_buf x = tu_from(SIGFUSE_F64, 2, xs), y = tu_from(SIGFUSE_F64, 2, ys);
    tu_buf loss = tu_alloc(SIGFUSE_F64, 2), dx = tu_alloc(SIGFUSE_F64, 2);
    tu_buf probs = tu_alloc(SIGFUSE_F64, 2), labels = tu_alloc(SIGFUSE_U8, 2);
    bce_opt o = opt_default(1, 2, SIGFUSE_REDUCTION_NONE);
    must_run(ctx, &o, &(bce_io){.x = &x, .y = &y, .loss = &loss, .dx = &dx, .probs = &probs,
                                .labels = &labels});
    for (int i = 0; i < 2; i++) {
        cr_expect_eq(tu_get(&loss, i), LN2, "loss[%d] = %.17g", i, tu_get(&loss, i));
        cr_expect_eq(tu_get(&dx, i), i == 0 ? 0.5 : -0.5, "dlogits[%d]", i);
        cr_expect_eq(tu_get(&probs, i), 0.5, "probs[%d]", i);
        cr_expect_eq(tu_get(&labels, i), 0.0, "sigmoid(0) = 0.5 is not > 0.5");
    }
    tu_free(&x); tu_free(&y); tu_free(&loss); tu_free(&dx); tu_free(&probs); tu_free(&labels);
    sigfuse_ctx_destroy(ctx);
}

Test(ref_bce, ln2_at_zero_f32_1x2)
{
    sigfuse_ctx *ctx = tu_cpu_ctx();
    double xs[] = {0, 0}, ys[] = {0, 1};
    tu_buf x = tu_from(SIGFUSE_F32, 2, xs), y = tu_from(SIGFUSE_U8, 2, ys);
    tu_buf loss = tu_alloc(SIGFUSE_F32, 1);
    bce_opt o = opt_default(1, 2, SIGFUSE_REDUCTION_SUM);
    must_run(ctx, &o, &(bce_io){.x = &x, .y = &y, .loss = &loss});
    cr_expect_eq(tu_get(&loss, 0), (double)(float)(2 * LN2));
    tu_free(&x); tu_free(&y); tu_free(&loss);
    sigfuse_ctx_destroy(ctx);
}

/* One element per option, against its closed form. */
typedef struct known_case {
    const char *name;
    double x, y, w, p, eps;
} known_case;

Test(ref_bce, options_weight_pos_weight_smoothing_f64_1x1)
{
    sigfuse_ctx *ctx = tu_cpu_ctx();
    const known_case cases[] = {
        /* w scales both terms: 2.5 log(1 + e) and 2.5 sigmoid(1). */
        {"weight", 1.0, 0.0, 2.5, 1.0, 0.0},
        /* pos_weight scales only the positive term: 3 log(1 + e^2) at x = -2, y = 1. */
        {"pos_weight", -2.0, 1.0, 1.0, 3.0, 0.0},
        {"pos_weight_negative_unaffected", 1.5, 0.0, 1.0, 3.0, 0.0},
        {"pos_weight_zero", -3.0, 1.0, 1.0, 0.0, 0.0},
        /* eps = 0.25 (exact in f32, as the API passes it) turns y = 1 into 0.875. */
        {"label_smoothing", 2.0, 1.0, 1.0, 1.0, 0.25},
        {"label_smoothing_y0", 2.0, 0.0, 1.0, 1.0, 0.25},
        {"soft_target", 0.7, 0.3, 1.0, 1.0, 0.0},
        /* eps = 0.125: y = 0.8 becomes 0.8 * 0.875 + 0.0625 = 0.7625. */
        {"all", -1.25, 0.8, 0.5, 2.0, 0.125},
    };
    const double hand_loss[] = {
        2.5 * log(1 + exp(1.0)),
        3.0 * log(1 + exp(2.0)),
        log(1 + exp(1.5)),
        0.0,
        0.125 * log(1 + exp(2.0)) + 0.875 * log(1 + exp(-2.0)),
        0.875 * log(1 + exp(2.0)) + 0.125 * log(1 + exp(-2.0)),
        0.7 * log(1 + exp(0.7)) + 0.3 * log(1 + exp(-0.7)),
        0.5 * (0.2375 * log(1 + exp(-1.25)) + 2.0 * 0.7625 * log(1 + exp(1.25))),
    };
    const double hand_grad[] = {
        2.5 / (1 + exp(-1.0)),
        -3.0 / (1 + exp(-2.0)),
        1 / (1 + exp(-1.5)),
        0.0,
        1 / (1 + exp(-2.0)) - 0.875,
        1 / (1 + exp(-2.0)) - 0.125,
        1 / (1 + exp(-0.7)) - 0.3,
        0.5 * (0.2375 / (1 + exp(1.25)) - 2.0 * 0.7625 / (1 + exp(-1.25))),
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const known_case *c = &cases[k];
        tu_buf x = tu_from(SIGFUSE_F64, 1, &c->x), y = tu_from(SIGFUSE_F64, 1, &c->y);
        tu_buf w = tu_from(SIGFUSE_F64, 1, &c->w), pw = tu_from(SIGFUSE_F64, 1, &c->p);
        tu_buf loss = tu_alloc(SIGFUSE_F64, 1), dx = tu_alloc(SIGFUSE_F64, 1);
        bce_opt o = opt_default(1, 1, SIGFUSE_REDUCTION_NONE);
        o.eps = c->eps;
        must_run(ctx, &o, &(bce_io){.x = &x, .y = &y, .w = &w, .pw = &pw, .loss = &loss, .dx = &dx});
        EXPECT_CLOSE(tu_get(&loss, 0), hand_loss[k], 1e-14, "%s loss", c->name);
        EXPECT_CLOSE(tu_get(&dx, 0), hand_grad[k], 1e-14, "%s dlogits", c->name);
        tu_free(&x); tu_free(&y); tu_free(&w); tu_free(&pw); tu_free(&loss); tu_free(&dx);
    }
    sigfuse_ctx_destroy(ctx);
}

/* Label smoothing uses eps as the float the API receives: 0.2f, not 0.2. */
Test(ref_bce, label_smoothing_float_eps_f64_1x1)
{
    sigfuse_ctx *ctx = tu_cpu_ctx();
    double xv = 2.0, yv = 1.0, eps = (double)0.2f;
    tu_buf x = tu_from(SIGFUSE_F64, 1, &xv), y = tu_from(SIGFUSE_F64, 1, &yv);
    tu_buf dx = tu_alloc(SIGFUSE_F64, 1);
    bce_opt o = opt_default(1, 1, SIGFUSE_REDUCTION_NONE);
    o.eps = eps;
    must_run(ctx, &o, &(bce_io){.x = &x, .y = &y, .dx = &dx});
    EXPECT_CLOSE(tu_get(&dx, 0), sig(2.0) - (1 - eps / 2), 1e-14, "%s", "dlogits");
    tu_free(&x); tu_free(&y); tu_free(&dx);
    sigfuse_ctx_destroy(ctx);
}

/* pos_weight is per column: the same logit and target in each column of a 3x5 tensor
 * give the column's own weight. */
static void pos_weight_case(sigfuse_dtype dt)
{
    sigfuse_ctx *ctx = tu_cpu_ctx();
    enum { R = 3, C = 5 };
    const double pws[C] = {0.5, 1.0, 2.0, 3.0, 0.0};
    double xs[R * C], ys[R * C];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) {
            xs[r * C + c] = (double)(r - 1);   /* -1, 0, 1: exact in every dtype */
            ys[r * C + c] = (double)((r + c) % 2);
        }
    tu_buf x = tu_from(dt, R * C, xs), y = tu_from(dt, R * C, ys), pw = tu_from(dt, C, pws);
    tu_buf loss = tu_alloc(dt, R * C), dx = tu_alloc(dt, R * C);
    bce_opt o = opt_default(R, C, SIGFUSE_REDUCTION_NONE);
    must_run(ctx, &o, &(bce_io){.x = &x, .y = &y, .pw = &pw, .loss = &loss, .dx = &dx});
    for (int i = 0; i < R * C; i++) {
        double xv = xs[i], p = pws[i % C];
        double want_l = ys[i] ? p * log(1 + exp(-xv)) : log(1 + exp(xv));
        double want_g = ys[i] ? -p / (1 + exp(xv)) : 1 / (1 + exp(-xv));
        double rtol = dt == SIGFUSE_F64 ? 1e-14 : 0.0;
        if (dt != SIGFUSE_F64) {
            want_l = sf_round_to_dtype(want_l, dt);
            want_g = sf_round_to_dtype(want_g, dt);
        }
        EXPECT_CLOSE(tu_get(&loss, i), want_l, rtol, "loss[%d]", i);
        EXPECT_CLOSE(tu_get(&dx, i), want_g, rtol, "dlogits[%d]", i);
    }
    tu_free(&x); tu_free(&y); tu_free(&pw); tu_free(&loss); tu_free(&dx);
    sigfuse_ctx_destroy(ctx);
}

Test(ref_bce, pos_weight_f32_3x5) { pos_weight_case(SIGFUSE_F32); }
Test(ref_bce, pos_weight_f64_3x5) { pos_weight_case(SIGFUSE_F64); }

/* Reductions, grad_scale and upstream gradients on a 2x3 tensor whose per-element loss
 * and gradient are the closed forms sum_e and g_e. */
static const double red_x[6] = {-2.0, -0.5, 0.0, 0.25, 1.0, 3.0};
static const double red_y[6] = {1.0, 0.0, 1.0, 0.5, 0.0, 1.0};

static double elem_loss(int i) { return naive_loss(red_x[i], red_y[i], 1, 1, 0); }
static double elem_grad(int i) { return sig(red_x[i]) - red_y[i]; }

static void reduction_case(sigfuse_reduction red, double grad_scale, bool with_dloss)
{
    sigfuse_ctx *ctx = tu_cpu_ctx();
    const double dls[6] = {1.5, -2.0, 0.25, 4.0, -0.5, 3.0};
    const double dscalar = 0.75;
    tu_buf x = tu_from(SIGFUSE_F64, 6, red_x), y = tu_from(SIGFUSE_F64, 6, red_y);
    tu_buf dl = red == SIGFUSE_REDUCTION_NONE ? tu_from(SIGFUSE_F64, 6, dls)
                                              : tu_from(SIGFUSE_F32, 1, &dscalar);
    int64_t nloss = red == SIGFUSE_REDUCTION_NONE ? 6 : 1;
    tu_buf loss = tu_alloc(SIGFUSE_F64, nloss), dx = tu_alloc(SIGFUSE_F64, 6);
    bce_opt o = opt_default(2, 3, red);
    o.grad_scale = grad_scale;
    must_run(ctx, &o, &(bce_io){.x = &x, .y = &y, .dl = with_dloss ? &dl : NULL, .loss = &loss,
                                .dx = &dx});
    double sum = 0;
    for (int i = 0; i < 6; i++)
        sum += elem_loss(i);
    for (int i = 0; i < 6; i++) {
        double up = grad_scale;
        if (with_dloss)
            up *= red == SIGFUSE_REDUCTION_NONE ? dls[i] : dscalar;
        if (red == SIGFUSE_REDUCTION_MEAN)
            up /= 6;
        EXPECT_CLOSE(tu_get(&dx, i), elem_grad(i) * up, 1e-14, "dlogits[%d]", i);
        if (red == SIGFUSE_REDUCTION_NONE)   /* grad_scale and dloss_in never scale the loss */
            EXPECT_CLOSE(tu_get(&loss, i), elem_loss(i), 1e-14, "loss[%d]", i);
    }
    if (red == SIGFUSE_REDUCTION_SUM)
        EXPECT_CLOSE(tu_get(&loss, 0), sum, 1e-14, "%s", "sum");
    if (red == SIGFUSE_REDUCTION_MEAN)
        EXPECT_CLOSE(tu_get(&loss, 0), sum / 6, 1e-14, "%s", "mean");
    tu_free(&x); tu_free(&y); tu_free(&dl); tu_free(&loss); tu_free(&dx);
    sigfuse_ctx_destroy(ctx);
}

Test(ref_bce, reduction_none_f64_2x3) { reduction_case(SIGFUSE_REDUCTION_NONE, 1.0, false); }
Test(ref_bce, reduction_sum_f64_2x3) { reduction_case(SIGFUSE_REDUCTION_SUM, 1.0, false); }
Test(ref_bce, reduction_mean_f64_2x3) { reduction_case(SIGFUSE_REDUCTION_MEAN, 1.0, false); }
Test(ref_bce, grad_scale_none_f64_2x3) { reduction_case(SIGFUSE_REDUCTION_NONE, 3.0, false); }
Test(ref_bce, grad_scale_mean_f64_2x3) { reduction_case(SIGFUSE_REDUCTION_MEAN, -0.5, false); }
Test(ref_bce, dloss_in_tensor_none_f64_2x3) { reduction_case(SIGFUSE_REDUCTION_NONE, 1.0, true); }
Test(ref_bce, dloss_in_scalar_sum_f64_2x3) { reduction_case(SIGFUSE_REDUCTION_SUM, 1.0, true); }
Test(ref_bce, dloss_in_scalar_mean_grad_scale_f64_2x3) { reduction_case(SIGFUSE_REDUCTION_MEAN, 2.0, true); }

Test(ref_bce, dloss_in_scalar_f64_sum_f64_2x3)
{
    /* On the reference an f64 op may take its scalar upstream gradient as f64 too. */
    sigfuse_ctx *ctx = tu_cpu_ctx();
    double d = 0.1;   /* not an f32 value: shows the f64 is read as is */
    tu_buf x = tu_from(SIGFUSE_F64, 6, red_x), y = tu_from(SIGFUSE_F64, 6, red_y);
    tu_buf dl = tu_from(SIGFUSE_F64, 1, &d), dx = tu_alloc(SIGFUSE_F64, 6);
    bce_opt o = opt_default(2, 3, SIGFUSE_REDUCTION_SUM);
    must_run(ctx, &o, &(bce_io){.x = &x, .y = &y, .dl = &dl, .dx = &dx});
    for (int i = 0; i < 6; i++)
        EXPECT_CLOSE(tu_get(&dx, i), elem_grad(i) * 0.1, 1e-14, "dlogits[%d]", i);
    tu_free(&x); tu_free(&y); tu_free(&dl); tu_free(&dx);
    sigfuse_ctx_destroy(ctx);
}

/* probs and labels, each label dtype, at several thresholds; the logits are exact in
 * every dtype and sigmoid(x) sits clearly on one side of each threshold, except at
 * x = 0 with threshold 0.5 where "greater than" must say 0. */
static void probs_labels_case(sigfuse_dtype dt, sigfuse_dtype label_dt)
{
    sigfuse_ctx *ctx = tu_cpu_ctx();
    enum { N = 8 };
    const double xs[N] = {-INFINITY, -4.0, -1.0, -0.25, 0.0, 0.5, 2.0, INFINITY};
    const double ths[] = {0.5, 0.3, 0.0, 1.0, 0.9};
    double zeros[N] = {0};
    tu_buf x = tu_from(dt, N, xs), y = tu_from(dt, N, zeros);
    tu_buf probs = tu_alloc(dt, N), labels = tu_alloc(label_dt, N);
    for (size_t t = 0; t < sizeof ths / sizeof ths[0]; t++) {
        tu_poison(&probs);
        tu_poison(&labels);
        bce_opt o = opt_default(2, 4, SIGFUSE_REDUCTION_NONE);
        o.threshold = ths[t];
        must_run(ctx, &o, &(bce_io){.x = &x, .y = &y, .probs = &probs, .labels = &labels});
        for (int i = 0; i < N; i++) {
            double s = isinf(xs[i]) ? (xs[i] > 0 ? 1.0 : 0.0) : sig(xs[i]);
            double want_p = dt == SIGFUSE_F64 ? s : sf_round_to_dtype(s, dt);
            EXPECT_CLOSE(tu_get(&probs, i), want_p, dt == SIGFUSE_F64 ? 1e-15 : 0.0,
                         "probs[%d] threshold %g", i, ths[t]);
            double want_l = s > (double)(float)ths[t] ? 1.0 : 0.0;
            cr_expect_eq(tu_get(&labels, i), want_l, "labels[%d] threshold %g: x = %g", i, ths[t], xs[i]);
            if (label_dt == SIGFUSE_U8) {
                uint8_t byte = ((const uint8_t *)labels.desc.ptr)[i];
                cr_expect(byte == 0 || byte == 1, "u8 label byte %d is %u", i, byte);
            }
        }
        cr_expect(tu_guards_ok(&probs) && tu_guards_ok(&labels));
    }
    tu_free(&x); tu_free(&y); tu_free(&probs); tu_free(&labels);
    sigfuse_ctx_destroy(ctx);
}

Test(ref_bce, probs_labels_u8_f32_2x4) { probs_labels_case(SIGFUSE_F32, SIGFUSE_U8); }
Test(ref_bce, probs_labels_float_f32_2x4) { probs_labels_case(SIGFUSE_F32, SIGFUSE_F32); }
Test(ref_bce, probs_labels_float_bf16_2x4) { probs_labels_case(SIGFUSE_BF16, SIGFUSE_BF16); }
Test(ref_bce, probs_labels_u8_f16_2x4) { probs_labels_case(SIGFUSE_F16, SIGFUSE_U8); }
Test(ref_bce, probs_labels_float_f64_2x4) { probs_labels_case(SIGFUSE_F64, SIGFUSE_F64); }

Test(ref_bce, labels_nan_is_zero_f32_1x3)
{
    sigfuse_ctx *ctx = tu_cpu_ctx();
    const double xs[3] = {NAN, NAN, NAN}, ys[3] = {0, 1, 0};
    tu_buf x = tu_from(SIGFUSE_F32, 3, xs), y = tu_from(SIGFUSE_F32, 3, ys);
    tu_buf labels = tu_alloc(SIGFUSE_U8, 3), probs = tu_alloc(SIGFUSE_F32, 3);
    bce_opt o = opt_default(1, 3, SIGFUSE_REDUCTION_NONE);
    o.threshold = 0.0;
    must_run(ctx, &o, &(bce_io){.x = &x, .y = &y, .probs = &probs, .labels = &labels});
    for (int i = 0; i < 3; i++) {
        cr_expect_eq(((const uint8_t *)labels.desc.ptr)[i], 0);
        cr_expect(isnan(tu_get(&probs, i)));
    }
    cr_expect(!tu_untouched(&probs), "a NaN was written, not left as poison");
    tu_free(&x); tu_free(&y); tu_free(&labels); tu_free(&probs);
    sigfuse_ctx_destroy(ctx);
}

/* Random moderate inputs in f64 against the textbook formula. */
Test(ref_bce, naive_formula_all_options_f64_9x7)
{
    sigfuse_ctx *ctx = tu_cpu_ctx();
    tu_rng rng = tu_rng_seed(11, "ref_bce.naive_formula_all_options_f64_9x7");
    enum { R = 9, C = 7, N = R * C };
    tu_buf x = tu_alloc(SIGFUSE_F64, N), y = tu_alloc(SIGFUSE_F64, N), w = tu_alloc(SIGFUSE_F64, N);
    tu_buf pw = tu_alloc(SIGFUSE_F64, C), loss = tu_alloc(SIGFUSE_F64, N), dx = tu_alloc(SIGFUSE_F64, N);
    tu_fill_uniform(&x, &rng, -10, 10);
    tu_fill_uniform(&y, &rng, 0, 1);
    tu_fill_uniform(&w, &rng, 0, 3);
    tu_fill_uniform(&pw, &rng, 0, 4);
    bce_opt o = opt_default(R, C, SIGFUSE_REDUCTION_NONE);
    o.eps = (double)0.15f;
    must_run(ctx, &o, &(bce_io){.x = &x, .y = &y, .w = &w, .pw = &pw, .loss = &loss, .dx = &dx});
    for (int i = 0; i < N; i++) {
        double xv = tu_get(&x, i), yv = tu_get(&y, i), wv = tu_get(&w, i), pv = tu_get(&pw, i % C);
        /* log(1 - sigmoid(x)) loses digits near sigmoid = 1: the naive side is the weak one. */
        EXPECT_CLOSE(tu_get(&loss, i), naive_loss(xv, yv, wv, pv, o.eps), 1e-10, "loss[%d] x=%g", i, xv);
        cr_expect(tu_close(tu_get(&dx, i), naive_grad(xv, yv, wv, pv, o.eps), 1e-10, 1e-14),
                  "dlogits[%d] x=%g: %.17g vs %.17g", i, xv, tu_get(&dx, i),
                  naive_grad(xv, yv, wv, pv, o.eps));
    }
    tu_free(&x); tu_free(&y); tu_free(&w); tu_free(&pw); tu_free(&loss); tu_free(&dx);
    sigfuse_ctx_destroy(ctx);
}

/* ---- Gradients against central finite differences, in f64 -------------------------- */

typedef struct fd_case {
    int64_t rows, cols;
    sigfuse_reduction red;
    double eps, grad_scale;
    bool weight, pos_weight, dloss_in, soft_targets;
} fd_case;

/* A call's inputs, for tu_expect_loss_fd to evaluate the loss at moved logits. */
typedef struct bce_loss_problem {
    const bce_opt *o;
    bce_io io;
} bce_loss_problem;

static void bce_loss_at(sigfuse_ctx *ctx, void *problem, tu_buf *loss)
{
    bce_loss_problem *p = problem;
    bce_io io = p->io;
    io.loss = loss;
    must_run(ctx, p->o, &io);
}

/* The objective is grad_scale * sum_e dloss_in_e * loss_e (NONE) or grad_scale *
 * dloss_in * loss (SUM / MEAN); its derivative in x_i is what dlogits must hold
 * (tu_expect_loss_fd). */
static void fd_check(const fd_case *c, uint64_t seed)
{
    char name[160];
    snprintf(name, sizeof name, "ref_bce.fd red=%d eps=%g scale=%g w=%d pw=%d dl=%d soft=%d %lldx%lld",
             (int)c->red, c->eps, c->grad_scale, c->weight, c->pos_weight, c->dloss_in,
             c->soft_targets, (long long)c->rows, (long long)c->cols);
    sigfuse_ctx *ctx = tu_cpu_ctx();
    tu_rng rng = tu_rng_seed(seed, name);
    const int64_t n = c->rows * c->cols;
    const bool none = c->red == SIGFUSE_REDUCTION_NONE;
    const int64_t nloss = none ? n : 1;
    tu_buf x = tu_alloc(SIGFUSE_F64, n), y = tu_alloc(SIGFUSE_F64, n), w = tu_alloc(SIGFUSE_F64, n);
    tu_buf pw = tu_alloc(SIGFUSE_F64, c->cols), dl = tu_alloc(SIGFUSE_F64, nloss);
    tu_buf dx = tu_alloc(SIGFUSE_F64, n);
    tu_fill_uniform(&x, &rng, -8, 8);
    if (c->soft_targets)
        tu_fill_uniform(&y, &rng, 0, 1);
    else
        tu_fill_binary(&y, &rng);
    tu_fill_uniform(&w, &rng, 0.1, 2.5);
    tu_fill_uniform(&pw, &rng, 0.2, 4);
    tu_fill_uniform(&dl, &rng, -2, 2);
    bce_opt o = opt_default(c->rows, c->cols, c->red);
    o.eps = c->eps;
    o.grad_scale = c->grad_scale;
    bce_io io = {.x = &x, .y = &y, .w = c->weight ? &w : NULL, .pw = c->pos_weight ? &pw : NULL,
                 .dl = c->dloss_in ? &dl : NULL, .dx = &dx};
    must_run(ctx, &o, &io);

    bce_loss_problem prob = {&o, io};
    prob.io.dx = NULL;
    prob.io.dl = NULL;
    tu_expect_loss_fd(name, ctx, bce_loss_at, &prob, none, &x, &y, &dx, c->grad_scale, c->dloss_in ? &dl : NULL);
    tu_free(&x); tu_free(&y); tu_free(&w); tu_free(&pw); tu_free(&dl); tu_free(&dx);
    sigfuse_ctx_destroy(ctx);
}

Test(ref_bce, fd_plain_none_f64_6x7)
{
    fd_check(&(fd_case){6, 7, SIGFUSE_REDUCTION_NONE, 0, 1, false, false, false, false}, 101);
}
Test(ref_bce, fd_soft_targets_none_f64_6x7)
{
    fd_check(&(fd_case){6, 7, SIGFUSE_REDUCTION_NONE, 0, 1, false, false, false, true}, 102);
}
Test(ref_bce, fd_weight_none_f64_6x7)
{
    fd_check(&(fd_case){6, 7, SIGFUSE_REDUCTION_NONE, 0, 1, true, false, false, true}, 103);
}
Test(ref_bce, fd_pos_weight_none_f64_6x7)
{
    fd_check(&(fd_case){6, 7, SIGFUSE_REDUCTION_NONE, 0, 1, false, true, false, false}, 104);
}
Test(ref_bce, fd_label_smoothing_none_f64_6x7)
{
    fd_check(&(fd_case){6, 7, SIGFUSE_REDUCTION_NONE, 0.125, 1, false, false, false, false}, 105);
}
Test(ref_bce, fd_grad_scale_dloss_in_none_f64_6x7)
{
    fd_check(&(fd_case){6, 7, SIGFUSE_REDUCTION_NONE, 0, -2.5, false, false, true, true}, 106);
}
Test(ref_bce, fd_all_options_none_f64_6x7)
{
    fd_check(&(fd_case){6, 7, SIGFUSE_REDUCTION_NONE, 0.3, 0.75, true, true, true, true}, 107);
}
Test(ref_bce, fd_sum_f64_3x4)
{
    fd_check(&(fd_case){3, 4, SIGFUSE_REDUCTION_SUM, 0, 1, false, false, false, false}, 108);
}
Test(ref_bce, fd_mean_f64_3x4)
{
    fd_check(&(fd_case){3, 4, SIGFUSE_REDUCTION_MEAN, 0, 1, false, false, false, true}, 109);
}
Test(ref_bce, fd_all_options_sum_f64_3x4)
{
    fd_check(&(fd_case){3, 4, SIGFUSE_REDUCTION_SUM, 0.2, 1.5, true, true, true, true}, 110);
}
Test(ref_bce, fd_all_options_mean_f64_4x3)
{
    fd_check(&(fd_case){4, 3, SIGFUSE_REDUCTION_MEAN, 0.05, -3, true, true, true, false}, 111);
}

/* ---- Extremes ------------------------------------------------------------------------ */

/* Exact values (or limits) for y in {0, 1}, w = 1, p = 1; `tol` 0 means bit-exact. */
typedef struct extreme_case {
    double x, y;
    double loss, grad, tol;
} extreme_case;

static void extremes_case(sigfuse_dtype dt, double pos_weight)
{
    const double p = pos_weight;
    const double sub = dt == SIGFUSE_F64 ? 4.9406564584124654e-324
                     : dt == SIGFUSE_F32 ? 1.401298464324817e-45
                     : dt == SIGFUSE_F16 ? 5.9604644775390625e-08
                                         : 9.183549615799121e-41;   /* bf16's smallest */
    const double bigr = sf_round_to_dtype(1e4, dt);   /* bf16 holds 9984 */
    const double x88 = dt == SIGFUSE_F64 ? 88.7 : sf_round_to_dtype(88.7, dt);
    const double e88 = exp(-x88);
    const extreme_case cases[] = {
        {INFINITY, 0, INFINITY, 1.0, 0},
        {INFINITY, 1, 0.0, 0.0, 0},
        {-INFINITY, 0, 0.0, 0.0, 0},
        {-INFINITY, 1, INFINITY, -p, 0},        /* PyTorch: NaN */
        {bigr, 0, bigr, 1.0, 1e-15},
        {bigr, 1, 0.0, 0.0, 0},               /* e^-1e4 underflows: 0 is the rounded truth */
        {-bigr, 0, 0.0, 0.0, 0},
        {-bigr, 1, p * bigr, -p, 1e-15},
        {x88, 0, x88 + e88, 1.0, 1e-15},
        {x88, 1, p * e88, -p * e88, 1e-12},
        {-x88, 0, e88, e88, 1e-12},
        {-x88, 1, p * x88, -p, 1e-15},
        {sub, 0, LN2, 0.5, 1e-15},
        {-sub, 1, p * LN2, -0.5 * p, 1e-15},
        {NAN, 0, NAN, NAN, 0},
        {NAN, 1, NAN, NAN, 0},
        {0.0, NAN, NAN, NAN, 0},
    };
    enum { N = sizeof cases / sizeof cases[0] };
    double xs[N], ys[N], pws[N];
    for (int i = 0; i < N; i++) {
        xs[i] = cases[i].x;
        ys[i] = cases[i].y;
        pws[i] = p;
    }
    sigfuse_ctx *ctx = tu_cpu_ctx();
    tu_buf x = tu_from(dt, N, xs), y = tu_from(dt, N, ys), pw = tu_from(dt, N, pws);
    tu_buf loss = tu_alloc(dt, N), dx = tu_alloc(dt, N), probs = tu_alloc(dt, N);
    bce_opt o = opt_default(1, N, SIGFUSE_REDUCTION_NONE);
    must_run(ctx, &o, &(bce_io){.x = &x, .y = &y, .pw = &pw, .loss = &loss, .dx = &dx, .probs = &probs});
    for (int i = 0; i < N; i++) {
        const extreme_case *c = &cases[i];
        double wl = dt == SIGFUSE_F64 ? c->loss : sf_round_to_dtype(c->loss, dt);
        double wg = dt == SIGFUSE_F64 ? c->grad : sf_round_to_dtype(c->grad, dt);
        double tol = dt == SIGFUSE_F64 ? c->tol : 0.0;
        double gl = tu_get(&loss, i), gg = tu_get(&dx, i);
        cr_expect(tu_close(gl, wl, tol, 0.0), "%s p=%g x=%g y=%g: loss %.17g, want %.17g",
                  sigfuse_dtype_name(dt), p, c->x, c->y, gl, wl);
        cr_expect(tu_close(gg, wg, tol, 0.0), "%s p=%g x=%g y=%g: dlogits %.17g, want %.17g",
                  sigfuse_dtype_name(dt), p, c->x, c->y, gg, wg);
        if (!isnan(c->x) && !isnan(c->y))
            cr_expect(!isnan(tu_get(&probs, i)), "probs at x=%g", c->x);
    }
    tu_free(&x); tu_free(&y); tu_free(&pw); tu_free(&loss); tu_free(&dx); tu_free(&probs);
    sigfuse_ctx_destroy(ctx);
}

Test(ref_bce, extremes_f64_1x17) { extremes_case(SIGFUSE_F64, 1.0); }
Test(ref_bce, extremes_pos_weight_f64_1x17) { extremes_case(SIGFUSE_F64, 2.5); }
Test(ref_bce, extremes_f32_1x17) { extremes_case(SIGFUSE_F32, 1.0); }
Test(ref_bce, extremes_pos_weight_f32_1x17) { extremes_case(SIGFUSE_F32, 0.75); }
Test(ref_bce, extremes_f16_1x17) { extremes_case(SIGFUSE_F16, 1.0); }
Test(ref_bce, extremes_bf16_1x17) { extremes_case(SIGFUSE_BF16, 1.0); }

/* A zero coefficient wins over an infinite softplus; NaN still wins over zero. */
Test(ref_bce, zero_times_inf_limits_f64_1x6)
{
    sigfuse_ctx *ctx = tu_cpu_ctx();
    /* w = 0 against an infinite bracket, pos_weight 0 against softplus(+inf), a zero
     * (1 - y') against softplus(+inf), and NaN weights that must not become 0. */
    const double xs[6] = {INFINITY, -INFINITY, INFINITY, -INFINITY, 1.0, INFINITY};
    const double ys[6] = {0, 1, 1, 0, 1, 0};
    const double ws[6] = {0, 1, 0, 0, NAN, NAN};
    const double pws[6] = {1, 0, 1, 1, 1, 1};
    tu_buf x = tu_from(SIGFUSE_F64, 6, xs), y = tu_from(SIGFUSE_F64, 6, ys);
    tu_buf w = tu_from(SIGFUSE_F64, 6, ws), pw = tu_from(SIGFUSE_F64, 6, pws);
    tu_buf loss = tu_alloc(SIGFUSE_F64, 6), dx = tu_alloc(SIGFUSE_F64, 6);
    bce_opt o = opt_default(1, 6, SIGFUSE_REDUCTION_NONE);
    must_run(ctx, &o, &(bce_io){.x = &x, .y = &y, .w = &w, .pw = &pw, .loss = &loss, .dx = &dx});
    const double want_loss[6] = {0, 0, 0, 0, NAN, NAN};
    const double want_grad[6] = {0, 0, 0, 0, NAN, NAN};
    for (int i = 0; i < 6; i++) {
        cr_expect(tu_close(tu_get(&loss, i), want_loss[i], 0, 0), "loss[%d] = %g", i, tu_get(&loss, i));
        cr_expect(tu_close(tu_get(&dx, i), want_grad[i], 0, 0), "dlogits[%d] = %g", i, tu_get(&dx, i));
    }
    tu_free(&x); tu_free(&y); tu_free(&w); tu_free(&pw); tu_free(&loss); tu_free(&dx);

    double xi = INFINITY, yi = 1.0;
    tu_buf x1 = tu_from(SIGFUSE_F64, 1, &xi), y1 = tu_from(SIGFUSE_F64, 1, &yi);
    tu_buf l1 = tu_alloc(SIGFUSE_F64, 1), d1 = tu_alloc(SIGFUSE_F64, 1);
    o = opt_default(1, 1, SIGFUSE_REDUCTION_NONE);
    o.eps = 1.0;   /* y' = 1/2: both terms live, one of them infinite */
    must_run(ctx, &o, &(bce_io){.x = &x1, .y = &y1, .loss = &l1, .dx = &d1});
    cr_expect_eq(tu_get(&l1, 0), INFINITY);
    cr_expect_eq(tu_get(&d1, 0), 0.5);
    tu_free(&x1); tu_free(&y1); tu_free(&l1); tu_free(&d1);
    sigfuse_ctx_destroy(ctx);
}

/* A reduced loss over extremes: inf where one term is inf, NaN where one is NaN. */
Test(ref_bce, extremes_reduced_f32_1x4)
{
    sigfuse_ctx *ctx = tu_cpu_ctx();
    const double xs[4] = {1e4, -1e4, INFINITY, 0};
    const double ys[4] = {0, 1, 1, 1};
    tu_buf x = tu_from(SIGFUSE_F32, 4, xs), y = tu_from(SIGFUSE_F32, 4, ys);
    tu_buf loss = tu_alloc(SIGFUSE_F32, 1);
    bce_opt o = opt_default(1, 4, SIGFUSE_REDUCTION_MEAN);
    must_run(ctx, &o, &(bce_io){.x = &x, .y = &y, .loss = &loss});
    cr_expect_eq(tu_get(&loss, 0), (double)(float)((2e4 + LN2) / 4));
    tu_set(&x, 2, -INFINITY);
    must_run(ctx, &o, &(bce_io){.x = &x, .y = &y, .loss = &loss});
    cr_expect_eq(tu_get(&loss, 0), INFINITY);
    tu_set(&x, 3, NAN);
    must_run(ctx, &o, &(bce_io){.x = &x, .y = &y, .loss = &loss});
    cr_expect(isnan(tu_get(&loss, 0)));
    tu_free(&x); tu_free(&y); tu_free(&loss);
    sigfuse_ctx_destroy(ctx);
}

/* ---- Storage dtypes: the f64 result rounded once --------------------------------------- */

static sigfuse_dtype reduced_dtype(sigfuse_dtype dt) { return dt == SIGFUSE_F64 ? SIGFUSE_F64 : SIGFUSE_F32; }

static void expect_u8_bytes(const tu_buf *b, const char *name)
{
    const uint8_t *d = (const uint8_t *)b->desc.ptr + b->desc.offset;
    for (int64_t i = 0; i < b->n; i++)
        if (d[i] > 1) {
            cr_expect(false, "%s: label byte %lld is %u (poison left?)", name, (long long)i, d[i]);
            return;
        }
}

static void dtype_case(sigfuse_dtype dt, int64_t rows, int64_t cols, sigfuse_reduction red, bool u8_targets,
                       bool u8_labels, bool offsets)
{
    char name[160];
    snprintf(name, sizeof name, "ref_bce dtype=%s %lldx%lld red=%d targets=%s labels=%s offsets=%d",
             sigfuse_dtype_name(dt), (long long)rows, (long long)cols, (int)red, u8_targets ? "u8" : "float",
             u8_labels ? "u8" : "float", offsets);
    sigfuse_ctx *ctx = tu_cpu_ctx();
    tu_rng rng = tu_rng_seed((uint64_t)(rows * 1000003 + cols * 101 + red * 7 + dt), name);
    const int64_t n = rows * cols;
    const bool none = red == SIGFUSE_REDUCTION_NONE;
    const sigfuse_dtype tdt = u8_targets ? SIGFUSE_U8 : dt;
    const sigfuse_dtype ldt = u8_labels ? SIGFUSE_U8 : dt;
    const sigfuse_dtype lossdt = none ? dt : reduced_dtype(dt);
    const int64_t nloss = none ? n : 1;

    tu_buf x = tu_alloc_kth(dt, n, offsets, 0), y = tu_alloc_kth(tdt, n, offsets, 1);
    tu_buf w = tu_alloc_kth(dt, n, offsets, 2);
    tu_buf pw = tu_alloc_kth(dt, cols, offsets, 3), dl = tu_alloc_kth(none ? dt : SIGFUSE_F32, nloss, offsets, 4);
    tu_buf loss = tu_alloc_kth(lossdt, nloss, offsets, 5), dx = tu_alloc_kth(dt, n, offsets, 6);
    tu_buf probs = tu_alloc_kth(dt, n, offsets, 7), labels = tu_alloc_kth(ldt, n, offsets, 8);
    tu_fill_uniform(&x, &rng, -12, 12);
    if (u8_targets)
        tu_fill_binary(&y, &rng);
    else
        tu_fill_uniform(&y, &rng, 0, 1);
    tu_fill_uniform(&w, &rng, 0, 2);
    tu_fill_uniform(&pw, &rng, 0.5, 3);
    tu_fill_uniform(&dl, &rng, -1.5, 1.5);
    bce_opt o = opt_default(rows, cols, red);
    o.eps = u8_targets ? 0.0 : 0.1;
    o.grad_scale = 0.5;
    o.threshold = 0.3;
    must_run(ctx, &o, &(bce_io){.x = &x, .y = &y, .w = &w, .pw = &pw, .dl = &dl, .loss = &loss, .dx = &dx,
                                .probs = &probs, .labels = &labels});

    /* The oracle: the same values in f64 (u8 targets and the f32 scalar stay as they are). */
    tu_buf x64 = tu_copy_as(&x, SIGFUSE_F64);
    tu_buf y64 = u8_targets ? tu_copy_as(&y, SIGFUSE_U8) : tu_copy_as(&y, SIGFUSE_F64);
    tu_buf w64 = tu_copy_as(&w, SIGFUSE_F64), pw64 = tu_copy_as(&pw, SIGFUSE_F64);
    tu_buf dl64 = tu_copy_as(&dl, none ? SIGFUSE_F64 : SIGFUSE_F32);
    tu_buf loss64 = tu_alloc(SIGFUSE_F64, nloss), dx64 = tu_alloc(SIGFUSE_F64, n);
    tu_buf probs64 = tu_alloc(SIGFUSE_F64, n), labels64 = tu_alloc(SIGFUSE_U8, n);
    must_run(ctx, &o, &(bce_io){.x = &x64, .y = &y64, .w = &w64, .pw = &pw64, .dl = &dl64, .loss = &loss64,
                                .dx = &dx64, .probs = &probs64, .labels = &labels64});

    tu_expect_rounded(&loss, &loss64, "loss", name);
    tu_expect_rounded(&dx, &dx64, "dlogits", name);
    tu_expect_rounded(&probs, &probs64, "probs", name);
    tu_expect_rounded(&labels, &labels64, "labels", name);
    if (u8_labels)
        expect_u8_bytes(&labels, name);
    if (n == 0 && red == SIGFUSE_REDUCTION_MEAN)
        cr_expect(!tu_untouched(&loss), "%s: the NaN mean of nothing is written, not left as poison", name);
    if (n == 0 && red == SIGFUSE_REDUCTION_SUM)
        cr_expect_eq(tu_get(&loss, 0), 0.0, "%s: the sum of nothing is 0", name);
    const tu_buf *ins[] = {&x, &y, &w, &pw, &dl};
    for (size_t k = 0; k < 5; k++)
        cr_expect(tu_guards_ok(ins[k]), "%s: input %zu guards", name, k);

    tu_buf *all[] = {&x, &y, &w, &pw, &dl, &loss, &dx, &probs, &labels,
                     &x64, &y64, &w64, &pw64, &dl64, &loss64, &dx64, &probs64, &labels64};
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
        tu_free(all[k]);
    sigfuse_ctx_destroy(ctx);
}

static void dtype_sweep(sigfuse_dtype dt, int64_t rows, int64_t cols)
{
    for (int red = 0; red < 3; red++)
        for (int t = 0; t < 2; t++)
            dtype_case(dt, rows, cols, (sigfuse_reduction)red, t == 1, (red + t) % 2 == 0, (red + t) % 2 == 1);
}

#define DTYPE_TESTS(dname, DT)                                                     \
    Test(ref_bce, dtype_##dname##_0x0) { dtype_sweep(DT, 0, 0); }                  \
    Test(ref_bce, dtype_##dname##_0x5) { dtype_sweep(DT, 0, 5); }                  \
    Test(ref_bce, dtype_##dname##_1x1) { dtype_sweep(DT, 1, 1); }                  \
    Test(ref_bce, dtype_##dname##_7x3) { dtype_sweep(DT, 7, 3); }                  \
    Test(ref_bce, dtype_##dname##_33x31) { dtype_sweep(DT, 33, 31); }              \
    Test(ref_bce, dtype_##dname##_1x4097) { dtype_sweep(DT, 1, 4097); }

DTYPE_TESTS(f32, SIGFUSE_F32)
DTYPE_TESTS(f16, SIGFUSE_F16)
DTYPE_TESTS(bf16, SIGFUSE_BF16)

/* ---- Fusion and determinism ---------------------------------------------------------- */

static void subsets_case(sigfuse_dtype dt, sigfuse_reduction red)
{
    char name[96];
    snprintf(name, sizeof name, "ref_bce.subsets %s red=%d 7x3", sigfuse_dtype_name(dt), (int)red);
    sigfuse_ctx *ctx = tu_cpu_ctx();
    tu_rng rng = tu_rng_seed(77, name);
    enum { R = 7, C = 3, N = R * C };
    const bool none = red == SIGFUSE_REDUCTION_NONE;
    tu_buf x = tu_alloc(dt, N), y = tu_alloc(dt, N), w = tu_alloc(dt, N), pw = tu_alloc(dt, C);
    tu_fill_uniform(&x, &rng, -6, 6);
    tu_fill_uniform(&y, &rng, 0, 1);
    tu_fill_uniform(&w, &rng, 0, 2);
    tu_fill_uniform(&pw, &rng, 0.5, 2);
    tu_set(&x, 4, INFINITY);
    tu_set(&x, 5, -INFINITY);
    sigfuse_dtype lossdt = none ? dt : reduced_dtype(dt);
    int64_t nloss = none ? N : 1;
    tu_buf ref[4] = {tu_alloc(lossdt, nloss), tu_alloc(dt, N), tu_alloc(dt, N), tu_alloc(SIGFUSE_U8, N)};
    tu_buf out[4] = {tu_alloc(lossdt, nloss), tu_alloc(dt, N), tu_alloc(dt, N), tu_alloc(SIGFUSE_U8, N)};
    bce_opt o = opt_default(R, C, red);
    o.eps = 0.05;
    o.grad_scale = 1.25;
    must_run(ctx, &o, &(bce_io){.x = &x, .y = &y, .w = &w, .pw = &pw, .loss = &ref[0], .dx = &ref[1],
                                .probs = &ref[2], .labels = &ref[3]});
    static const char *names[4] = {"loss", "dlogits", "probs", "labels"};
    for (int mask = 1; mask < 16; mask++) {
        for (int k = 0; k < 4; k++)
            tu_poison(&out[k]);
        bce_io io = {.x = &x, .y = &y, .w = &w, .pw = &pw};
        io.loss = (mask & 1) ? &out[0] : NULL;
        io.dx = (mask & 2) ? &out[1] : NULL;
        io.probs = (mask & 4) ? &out[2] : NULL;
        io.labels = (mask & 8) ? &out[3] : NULL;
        must_run(ctx, &o, &io);
        for (int k = 0; k < 4; k++) {
            if (mask & (1 << k))
                cr_expect(memcmp(tu_data(&out[k]), tu_data(&ref[k]), ref[k].bytes) == 0 && tu_guards_ok(&out[k]),
                          "%s: %s differs with outputs mask %d", name, names[k], mask);
            else
                cr_expect(tu_untouched(&out[k]), "%s: absent %s was written (mask %d)", name, names[k], mask);
        }
    }
    for (int k = 0; k < 4; k++) {
        tu_free(&ref[k]);
        tu_free(&out[k]);
    }
    tu_free(&x); tu_free(&y); tu_free(&w); tu_free(&pw);
    sigfuse_ctx_destroy(ctx);
}

Test(ref_bce, output_subsets_none_f32_7x3) { subsets_case(SIGFUSE_F32, SIGFUSE_REDUCTION_NONE); }
Test(ref_bce, output_subsets_mean_f32_7x3) { subsets_case(SIGFUSE_F32, SIGFUSE_REDUCTION_MEAN); }
Test(ref_bce, output_subsets_sum_bf16_7x3) { subsets_case(SIGFUSE_BF16, SIGFUSE_REDUCTION_SUM); }

Test(ref_bce, deterministic_mean_f32_33x31)
{
    sigfuse_ctx *ctx = tu_cpu_ctx();
    tu_rng rng = tu_rng_seed(5, "ref_bce.deterministic_mean_f32_33x31");
    enum { N = 33 * 31 };
    tu_buf x = tu_alloc(SIGFUSE_F32, N), y = tu_alloc(SIGFUSE_F32, N);
    tu_buf l1 = tu_alloc(SIGFUSE_F32, 1), l2 = tu_alloc(SIGFUSE_F32, 1);
    tu_buf n1 = tu_alloc(SIGFUSE_F32, N), n2 = tu_alloc(SIGFUSE_F32, N);
    tu_fill_uniform(&x, &rng, -20, 20);
    tu_fill_uniform(&y, &rng, 0, 1);
    bce_opt o = opt_default(33, 31, SIGFUSE_REDUCTION_MEAN);
    must_run(ctx, &o, &(bce_io){.x = &x, .y = &y, .loss = &l1});
    must_run(ctx, &o, &(bce_io){.x = &x, .y = &y, .loss = &l2});
    cr_expect(memcmp(tu_data(&l1), tu_data(&l2), 4) == 0, "mean loss differs between two runs");
    o.red = SIGFUSE_REDUCTION_NONE;
    must_run(ctx, &o, &(bce_io){.x = &x, .y = &y, .loss = &n1});
    must_run(ctx, &o, &(bce_io){.x = &x, .y = &y, .loss = &n2});
    cr_expect(memcmp(tu_data(&n1), tu_data(&n2), n1.bytes) == 0, "elementwise loss differs between two runs");
    tu_free(&x); tu_free(&y); tu_free(&l1); tu_free(&l2); tu_free(&n1); tu_free(&n2);
    sigfuse_ctx_destroy(ctx);
}

/* The sum is the plain row-major double sum: check it against one computed here. */
Test(ref_bce, sum_order_row_major_f64_33x31)
{
    sigfuse_ctx *ctx = tu_cpu_ctx();
    tu_rng rng = tu_rng_seed(6, "ref_bce.sum_order_row_major_f64_33x31");
    enum { N = 33 * 31 };
    tu_buf x = tu_alloc(SIGFUSE_F64, N), y = tu_alloc(SIGFUSE_F64, N);
    tu_buf sum = tu_alloc(SIGFUSE_F64, 1), each = tu_alloc(SIGFUSE_F64, N);
    tu_fill_uniform(&x, &rng, -30, 30);
    tu_fill_binary(&y, &rng);
    bce_opt o = opt_default(33, 31, SIGFUSE_REDUCTION_SUM);
    must_run(ctx, &o, &(bce_io){.x = &x, .y = &y, .loss = &sum});
    o.red = SIGFUSE_REDUCTION_NONE;
    must_run(ctx, &o, &(bce_io){.x = &x, .y = &y, .loss = &each});
    double s = 0;
    for (int i = 0; i < N; i++)
        s += tu_get(&each, i);
    cr_expect_eq(tu_get(&sum, 0), s);
    tu_free(&x); tu_free(&y); tu_free(&sum); tu_free(&each);
    sigfuse_ctx_destroy(ctx);
}
