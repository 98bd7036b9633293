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

#include "ref_check.h"
#include "sf_internal.h"
#include "testutil.h"

#define LN2 0.69314718055994530942

RC_CPU_CTX_FIXTURE
TestSuite(ref_bce, .init = open_ctx, .fini = close_ctx);

/* A call from its options and buffers (a NULL member is absent; ref_check.h). */
static void must_run(const rc_loss_opt *o, const rc_loss_io *io) { rc_loss_must_run(ctx, RC_BCE, o, io); }

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
    double xs[] = {0, 0}, ys[] = {0, 1};
    tu_buf x = tu_from(SIGFUSE_F64, 2, xs), y = tu_from(SIGFUSE_F64, 2, ys);
    tu_buf loss = tu_alloc(SIGFUSE_F64, 2), dx = tu_alloc(SIGFUSE_F64, 2);
    tu_buf probs = tu_alloc(SIGFUSE_F64, 2), labels = tu_alloc(SIGFUSE_U8, 2);
    rc_loss_opt o = rc_bce_opt(1, 2, SIGFUSE_REDUCTION_NONE);
    must_run(&o, &(rc_loss_io){.x = &x, .y = &y, .loss = &loss, .dx = &dx, .probs = &probs,
                                .labels = &labels});
    for (int i = 0; i < 2; i++) {
        cr_expect_eq(tu_get(&loss, i), LN2, "loss[%d] = %.17g", i, tu_get(&loss, i));
        cr_expect_eq(tu_get(&dx, i), i == 0 ? 0.5 : -0.5, "dlogits[%d]", i);
        cr_expect_eq(tu_get(&probs, i), 0.5, "probs[%d]", i);
        cr_expect_eq(tu_get(&labels, i), 0.0, "sigmoid(0) = 0.5 is not > 0.5");
    }
    RC_FREE(&x, &y, &loss, &dx, &probs, &labels);
}

Test(ref_bce, ln2_at_zero_f32_1x2)
{
    double xs[] = {0, 0}, ys[] = {0, 1};
    tu_buf x = tu_from(SIGFUSE_F32, 2, xs), y = tu_from(SIGFUSE_U8, 2, ys);
    tu_buf loss = tu_alloc(SIGFUSE_F32, 1);
    rc_loss_opt o = rc_bce_opt(1, 2, SIGFUSE_REDUCTION_SUM);
    must_run(&o, &(rc_loss_io){.x = &x, .y = &y, .loss = &loss});
    cr_expect_eq(tu_get(&loss, 0), (double)(float)(2 * LN2));
    RC_FREE(&x, &y, &loss);
}

/* One element per option, against its closed form. */
typedef struct known_case {
    const char *name;
    double x, y, w, p, eps;
} known_case;

Test(ref_bce, options_weight_pos_weight_smoothing_f64_1x1)
{
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
        rc_loss_opt o = rc_bce_opt(1, 1, SIGFUSE_REDUCTION_NONE);
        o.eps = c->eps;
        must_run(&o, &(rc_loss_io){.x = &x, .y = &y, .w = &w, .pw = &pw, .loss = &loss, .dx = &dx});
        EXPECT_CLOSE(tu_get(&loss, 0), hand_loss[k], 1e-14, "%s loss", c->name);
        EXPECT_CLOSE(tu_get(&dx, 0), hand_grad[k], 1e-14, "%s dlogits", c->name);
        RC_FREE(&x, &y, &w, &pw, &loss, &dx);
    }
}

/* Label smoothing uses eps as the float the API receives: 0.2f, not 0.2. */
Test(ref_bce, label_smoothing_float_eps_f64_1x1)
{
    double xv = 2.0, yv = 1.0, eps = (double)0.2f;
    tu_buf x = tu_from(SIGFUSE_F64, 1, &xv), y = tu_from(SIGFUSE_F64, 1, &yv);
    tu_buf dx = tu_alloc(SIGFUSE_F64, 1);
    rc_loss_opt o = rc_bce_opt(1, 1, SIGFUSE_REDUCTION_NONE);
    o.eps = eps;
    must_run(&o, &(rc_loss_io){.x = &x, .y = &y, .dx = &dx});
    EXPECT_CLOSE(tu_get(&dx, 0), sig(2.0) - (1 - eps / 2), 1e-14, "%s", "dlogits");
    RC_FREE(&x, &y, &dx);
}

/* pos_weight is per column: the same logit and target in each column of a 3x5 tensor
 * give the column's own weight. */
static void pos_weight_case(sigfuse_dtype dt)
{
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
    rc_loss_opt o = rc_bce_opt(R, C, SIGFUSE_REDUCTION_NONE);
    must_run(&o, &(rc_loss_io){.x = &x, .y = &y, .pw = &pw, .loss = &loss, .dx = &dx});
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
    RC_FREE(&x, &y, &pw, &loss, &dx);
}

Test(ref_bce, pos_weight_f32_3x5) { pos_weight_case(SIGFUSE_F32); }
Test(ref_bce, pos_weight_f64_3x5) { pos_weight_case(SIGFUSE_F64); }

/* Reductions, grad_scale and upstream gradients on the 2x3 upstream problem (ref_check.h),
 * against the closed forms of its per-element loss and gradient. */
static double elem_loss(int i) { return naive_loss(rc_upstream_x[i], rc_upstream_y[i], 1, 1, 0); }
static double elem_grad(int i) { return sig(rc_upstream_x[i]) - rc_upstream_y[i]; }

static void reduction_case(sigfuse_reduction red, double grad_scale, bool with_dloss)
{
    double el[6], eg[6];
    for (int i = 0; i < 6; i++) {
        el[i] = elem_loss(i);
        eg[i] = elem_grad(i);
    }
    rc_loss_opt o = rc_bce_opt(2, 3, red);
    o.grad_scale = grad_scale;
    /* EXPECT_CLOSE's tolerance: 1e-14 relative with 4e-16 absolute slack. */
    rc_loss_upstream_case(ctx, RC_BCE, &o, with_dloss, el, eg, 1e-14, 1e-14, 4e-16);
}

RC_LOSS_UPSTREAM_TESTS(ref_bce, reduction_case)
Test(ref_bce, reduction_none_f64_2x3) { reduction_case(SIGFUSE_REDUCTION_NONE, 1.0, false); }
Test(ref_bce, grad_scale_mean_f64_2x3) { reduction_case(SIGFUSE_REDUCTION_MEAN, -0.5, false); }
Test(ref_bce, dloss_in_scalar_sum_f64_2x3) { reduction_case(SIGFUSE_REDUCTION_SUM, 1.0, true); }
Test(ref_bce, dloss_in_scalar_mean_grad_scale_f64_2x3) { reduction_case(SIGFUSE_REDUCTION_MEAN, 2.0, true); }

Test(ref_bce, dloss_in_scalar_f64_sum_f64_2x3)
{
    /* On the reference an f64 op may take its scalar upstream gradient as f64 too. */
    double d = 0.1;   /* not an f32 value: shows the f64 is read as is */
    tu_buf x = tu_from(SIGFUSE_F64, 6, rc_upstream_x), y = tu_from(SIGFUSE_F64, 6, rc_upstream_y);
    tu_buf dl = tu_from(SIGFUSE_F64, 1, &d), dx = tu_alloc(SIGFUSE_F64, 6);
    rc_loss_opt o = rc_bce_opt(2, 3, SIGFUSE_REDUCTION_SUM);
    must_run(&o, &(rc_loss_io){.x = &x, .y = &y, .dl = &dl, .dx = &dx});
    for (int i = 0; i < 6; i++)
        EXPECT_CLOSE(tu_get(&dx, i), elem_grad(i) * 0.1, 1e-14, "dlogits[%d]", i);
    RC_FREE(&x, &y, &dl, &dx);
}

/* probs and labels, each label dtype, at several thresholds; the logits are exact in
 * every dtype and sigmoid(x) sits clearly on one side of each threshold, except at
 * x = 0 with threshold 0.5 where "greater than" must say 0. */
static void probs_labels_case(sigfuse_dtype dt, sigfuse_dtype label_dt)
{
    enum { N = 8 };
    const double xs[N] = {-INFINITY, -4.0, -1.0, -0.25, 0.0, 0.5, 2.0, INFINITY};
    const double ths[] = {0.5, 0.3, 0.0, 1.0, 0.9};
    double zeros[N] = {0};
    tu_buf x = tu_from(dt, N, xs), y = tu_from(dt, N, zeros);
    tu_buf probs = tu_alloc(dt, N), labels = tu_alloc(label_dt, N);
    for (size_t t = 0; t < sizeof ths / sizeof ths[0]; t++) {
        tu_poison(&probs);
        tu_poison(&labels);
        rc_loss_opt o = rc_bce_opt(2, 4, SIGFUSE_REDUCTION_NONE);
        o.threshold = ths[t];
        must_run(&o, &(rc_loss_io){.x = &x, .y = &y, .probs = &probs, .labels = &labels});
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
    RC_FREE(&x, &y, &probs, &labels);
}

Test(ref_bce, probs_labels_u8_f32_2x4) { probs_labels_case(SIGFUSE_F32, SIGFUSE_U8); }
Test(ref_bce, probs_labels_float_f32_2x4) { probs_labels_case(SIGFUSE_F32, SIGFUSE_F32); }
Test(ref_bce, probs_labels_float_bf16_2x4) { probs_labels_case(SIGFUSE_BF16, SIGFUSE_BF16); }
Test(ref_bce, probs_labels_u8_f16_2x4) { probs_labels_case(SIGFUSE_F16, SIGFUSE_U8); }
Test(ref_bce, probs_labels_float_f64_2x4) { probs_labels_case(SIGFUSE_F64, SIGFUSE_F64); }

Test(ref_bce, labels_nan_is_zero_f32_1x3)
{
    const double xs[3] = {NAN, NAN, NAN}, ys[3] = {0, 1, 0};
    tu_buf x = tu_from(SIGFUSE_F32, 3, xs), y = tu_from(SIGFUSE_F32, 3, ys);
    tu_buf labels = tu_alloc(SIGFUSE_U8, 3), probs = tu_alloc(SIGFUSE_F32, 3);
    rc_loss_opt o = rc_bce_opt(1, 3, SIGFUSE_REDUCTION_NONE);
    o.threshold = 0.0;
    must_run(&o, &(rc_loss_io){.x = &x, .y = &y, .probs = &probs, .labels = &labels});
    for (int i = 0; i < 3; i++) {
        cr_expect_eq(((const uint8_t *)labels.desc.ptr)[i], 0);
        cr_expect(isnan(tu_get(&probs, i)));
    }
    cr_expect(!tu_untouched(&probs), "a NaN was written, not left as poison");
    RC_FREE(&x, &y, &labels, &probs);
}

/* Random moderate inputs in f64 against the textbook formula. */
Test(ref_bce, naive_formula_all_options_f64_9x7)
{
    tu_rng rng = tu_rng_seed(11, "ref_bce.naive_formula_all_options_f64_9x7");
    enum { R = 9, C = 7, N = R * C };
    tu_buf x = tu_alloc(SIGFUSE_F64, N), y = tu_alloc(SIGFUSE_F64, N), w = tu_alloc(SIGFUSE_F64, N);
    tu_buf pw = tu_alloc(SIGFUSE_F64, C), loss = tu_alloc(SIGFUSE_F64, N), dx = tu_alloc(SIGFUSE_F64, N);
    tu_fill_uniform(&x, &rng, -10, 10);
    tu_fill_uniform(&y, &rng, 0, 1);
    tu_fill_uniform(&w, &rng, 0, 3);
    tu_fill_uniform(&pw, &rng, 0, 4);
    rc_loss_opt o = rc_bce_opt(R, C, SIGFUSE_REDUCTION_NONE);
    o.eps = (double)0.15f;
    must_run(&o, &(rc_loss_io){.x = &x, .y = &y, .w = &w, .pw = &pw, .loss = &loss, .dx = &dx});
    for (int i = 0; i < N; i++) {
        double xv = tu_get(&x, i), yv = tu_get(&y, i), wv = tu_get(&w, i), pv = tu_get(&pw, i % C);
        /* log(1 - sigmoid(x)) loses digits near sigmoid = 1: the naive side is the weak one. */
        EXPECT_CLOSE(tu_get(&loss, i), naive_loss(xv, yv, wv, pv, o.eps), 1e-10, "loss[%d] x=%g", i, xv);
        cr_expect(tu_close(tu_get(&dx, i), naive_grad(xv, yv, wv, pv, o.eps), 1e-10, 1e-14),
                  "dlogits[%d] x=%g: %.17g vs %.17g", i, xv, tu_get(&dx, i),
                  naive_grad(xv, yv, wv, pv, o.eps));
    }
    RC_FREE(&x, &y, &w, &pw, &loss, &dx);
}

/* ---- Gradients against central finite differences, in f64 -------------------------- */

typedef struct fd_case {
    int64_t rows, cols;
    sigfuse_reduction red;
    double eps, grad_scale;
    bool weight, pos_weight, dloss_in, soft_targets;
} fd_case;

/* The objective is grad_scale * sum_e dloss_in_e * loss_e (NONE) or grad_scale *
 * dloss_in * loss (SUM / MEAN); its derivative in x_i is what dlogits must hold
 * (tu_expect_loss_fd, through rc_loss_fd_check). */
static void fd_check(const fd_case *c, uint64_t seed)
{
    char name[160];
    snprintf(name, sizeof name, "ref_bce.fd red=%d eps=%g scale=%g w=%d pw=%d dl=%d soft=%d %lldx%lld",
             (int)c->red, c->eps, c->grad_scale, c->weight, c->pos_weight, c->dloss_in,
             c->soft_targets, (long long)c->rows, (long long)c->cols);
    rc_loss_opt o = rc_bce_opt(c->rows, c->cols, c->red);
    o.eps = c->eps;
    o.grad_scale = c->grad_scale;
    rc_loss_fd_check(ctx, RC_BCE, &o, c->weight, c->pos_weight, c->dloss_in, c->soft_targets, seed, name);
}

Test(ref_bce, fd_plain_none_f64_6x7) { fd_check(&(fd_case){6, 7, SIGFUSE_REDUCTION_NONE, 0, 1, false, false, false, false}, 101); }
Test(ref_bce, fd_soft_targets_none_f64_6x7) { fd_check(&(fd_case){6, 7, SIGFUSE_REDUCTION_NONE, 0, 1, false, false, false, true}, 102); }
Test(ref_bce, fd_weight_none_f64_6x7) { fd_check(&(fd_case){6, 7, SIGFUSE_REDUCTION_NONE, 0, 1, true, false, false, true}, 103); }
Test(ref_bce, fd_pos_weight_none_f64_6x7) { fd_check(&(fd_case){6, 7, SIGFUSE_REDUCTION_NONE, 0, 1, false, true, false, false}, 104); }
Test(ref_bce, fd_label_smoothing_none_f64_6x7) { fd_check(&(fd_case){6, 7, SIGFUSE_REDUCTION_NONE, 0.125, 1, false, false, false, false}, 105); }
Test(ref_bce, fd_grad_scale_dloss_in_none_f64_6x7) { fd_check(&(fd_case){6, 7, SIGFUSE_REDUCTION_NONE, 0, -2.5, false, false, true, true}, 106); }
Test(ref_bce, fd_all_options_none_f64_6x7) { fd_check(&(fd_case){6, 7, SIGFUSE_REDUCTION_NONE, 0.3, 0.75, true, true, true, true}, 107); }
Test(ref_bce, fd_sum_f64_3x4) { fd_check(&(fd_case){3, 4, SIGFUSE_REDUCTION_SUM, 0, 1, false, false, false, false}, 108); }
Test(ref_bce, fd_mean_f64_3x4) { fd_check(&(fd_case){3, 4, SIGFUSE_REDUCTION_MEAN, 0, 1, false, false, false, true}, 109); }
Test(ref_bce, fd_all_options_sum_f64_3x4) { fd_check(&(fd_case){3, 4, SIGFUSE_REDUCTION_SUM, 0.2, 1.5, true, true, true, true}, 110); }
Test(ref_bce, fd_all_options_mean_f64_4x3) { fd_check(&(fd_case){4, 3, SIGFUSE_REDUCTION_MEAN, 0.05, -3, true, true, true, false}, 111); }

/* ---- Extremes ------------------------------------------------------------------------ */

/* Exact values (or limits) for y in {0, 1}, w = 1, p = 1; `tol` 0 means bit-exact. */
typedef struct extreme_case {
    double x, y;
    double loss, grad, tol;
} extreme_case;

static void extremes_case(sigfuse_dtype dt, double pos_weight)
{
    const double p = pos_weight;
    const double sub = rc_smallest_subnormal(dt);
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
    tu_buf x = tu_from(dt, N, xs), y = tu_from(dt, N, ys), pw = tu_from(dt, N, pws);
    tu_buf loss = tu_alloc(dt, N), dx = tu_alloc(dt, N), probs = tu_alloc(dt, N);
    rc_loss_opt o = rc_bce_opt(1, N, SIGFUSE_REDUCTION_NONE);
    must_run(&o, &(rc_loss_io){.x = &x, .y = &y, .pw = &pw, .loss = &loss, .dx = &dx, .probs = &probs});
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
    RC_FREE(&x, &y, &pw, &loss, &dx, &probs);
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
    /* w = 0 against an infinite bracket, pos_weight 0 against softplus(+inf), a zero
     * (1 - y') against softplus(+inf), and NaN weights that must not become 0. */
    const double xs[6] = {INFINITY, -INFINITY, INFINITY, -INFINITY, 1.0, INFINITY};
    const double ys[6] = {0, 1, 1, 0, 1, 0};
    const double ws[6] = {0, 1, 0, 0, NAN, NAN};
    const double pws[6] = {1, 0, 1, 1, 1, 1};
    tu_buf x = tu_from(SIGFUSE_F64, 6, xs), y = tu_from(SIGFUSE_F64, 6, ys);
    tu_buf w = tu_from(SIGFUSE_F64, 6, ws), pw = tu_from(SIGFUSE_F64, 6, pws);
    tu_buf loss = tu_alloc(SIGFUSE_F64, 6), dx = tu_alloc(SIGFUSE_F64, 6);
    rc_loss_opt o = rc_bce_opt(1, 6, SIGFUSE_REDUCTION_NONE);
    must_run(&o, &(rc_loss_io){.x = &x, .y = &y, .w = &w, .pw = &pw, .loss = &loss, .dx = &dx});
    const double want_loss[6] = {0, 0, 0, 0, NAN, NAN};
    const double want_grad[6] = {0, 0, 0, 0, NAN, NAN};
    for (int i = 0; i < 6; i++) {
        cr_expect(tu_close(tu_get(&loss, i), want_loss[i], 0, 0), "loss[%d] = %g", i, tu_get(&loss, i));
        cr_expect(tu_close(tu_get(&dx, i), want_grad[i], 0, 0), "dlogits[%d] = %g", i, tu_get(&dx, i));
    }
    RC_FREE(&x, &y, &w, &pw, &loss, &dx);

    double xi = INFINITY, yi = 1.0;
    tu_buf x1 = tu_from(SIGFUSE_F64, 1, &xi), y1 = tu_from(SIGFUSE_F64, 1, &yi);
    tu_buf l1 = tu_alloc(SIGFUSE_F64, 1), d1 = tu_alloc(SIGFUSE_F64, 1);
    o = rc_bce_opt(1, 1, SIGFUSE_REDUCTION_NONE);
    o.eps = 1.0;   /* y' = 1/2: both terms live, one of them infinite */
    must_run(&o, &(rc_loss_io){.x = &x1, .y = &y1, .loss = &l1, .dx = &d1});
    cr_expect_eq(tu_get(&l1, 0), INFINITY);
    cr_expect_eq(tu_get(&d1, 0), 0.5);
    RC_FREE(&x1, &y1, &l1, &d1);
}

/* A reduced loss over extremes: inf where one term is inf, NaN where one is NaN. */
Test(ref_bce, extremes_reduced_f32_1x4)
{
    const double xs[4] = {1e4, -1e4, INFINITY, 0};
    const double ys[4] = {0, 1, 1, 1};
    tu_buf x = tu_from(SIGFUSE_F32, 4, xs), y = tu_from(SIGFUSE_F32, 4, ys);
    tu_buf loss = tu_alloc(SIGFUSE_F32, 1);
    rc_loss_opt o = rc_bce_opt(1, 4, SIGFUSE_REDUCTION_MEAN);
    must_run(&o, &(rc_loss_io){.x = &x, .y = &y, .loss = &loss});
    cr_expect_eq(tu_get(&loss, 0), (double)(float)((2e4 + LN2) / 4));
    tu_set(&x, 2, -INFINITY);
    must_run(&o, &(rc_loss_io){.x = &x, .y = &y, .loss = &loss});
    cr_expect_eq(tu_get(&loss, 0), INFINITY);
    tu_set(&x, 3, NAN);
    must_run(&o, &(rc_loss_io){.x = &x, .y = &y, .loss = &loss});
    cr_expect(isnan(tu_get(&loss, 0)));
    RC_FREE(&x, &y, &loss);
}

/* ---- Storage dtypes: the f64 result rounded once --------------------------------------- */

/* Targets and labels u8 or the float dtype; eps 0.1 (none with u8 targets), grad_scale
 * 0.5, threshold 0.3: rc_loss_dtype_case. */
static void dtype_case(sigfuse_dtype dt, int64_t rows, int64_t cols, sigfuse_reduction red, bool u8_targets,
                       bool u8_labels, bool offsets)
{
    char name[160];
    snprintf(name, sizeof name, "ref_bce dtype=%s %lldx%lld red=%d targets=%s labels=%s offsets=%d",
             sigfuse_dtype_name(dt), (long long)rows, (long long)cols, (int)red, u8_targets ? "u8" : "float",
             u8_labels ? "u8" : "float", offsets);
    rc_loss_opt o = rc_bce_opt(rows, cols, red);
    o.eps = u8_targets ? 0.0 : 0.1;
    o.grad_scale = 0.5;
    o.threshold = 0.3;
    rc_loss_dtype_case(ctx, RC_BCE, dt, &o, u8_targets, u8_labels, offsets, name);
}

static void dtype_sweep(sigfuse_dtype dt, int64_t rows, int64_t cols)
{
    for (int red = 0; red < 3; red++)
        for (int t = 0; t < 2; t++)
            dtype_case(dt, rows, cols, (sigfuse_reduction)red, t == 1, (red + t) % 2 == 0, (red + t) % 2 == 1);
}

RC_LOSS_DTYPE_TESTS(ref_bce, dtype_sweep)

/* ---- Fusion and determinism ---------------------------------------------------------- */

static void subsets_case(sigfuse_dtype dt, sigfuse_reduction red)
{
    char name[96];
    snprintf(name, sizeof name, "ref_bce.subsets %s red=%d 7x3", sigfuse_dtype_name(dt), (int)red);
    rc_loss_opt o = rc_bce_opt(7, 3, red);
    o.eps = 0.05;
    o.grad_scale = 1.25;
    rc_loss_subsets_case(ctx, RC_BCE, dt, &o, 77, name);
}

Test(ref_bce, output_subsets_none_f32_7x3) { subsets_case(SIGFUSE_F32, SIGFUSE_REDUCTION_NONE); }
Test(ref_bce, output_subsets_mean_f32_7x3) { subsets_case(SIGFUSE_F32, SIGFUSE_REDUCTION_MEAN); }
Test(ref_bce, output_subsets_sum_bf16_7x3) { subsets_case(SIGFUSE_BF16, SIGFUSE_REDUCTION_SUM); }

Test(ref_bce, deterministic_mean_f32_33x31)
{
    const char *name = "ref_bce.deterministic_mean_f32_33x31";
    rc_loss_opt o = rc_bce_opt(33, 31, SIGFUSE_REDUCTION_MEAN);
    rc_loss_expect_deterministic(ctx, RC_BCE, &o, SIGFUSE_F32, SIGFUSE_F32, 5, name);
    o.red = SIGFUSE_REDUCTION_NONE;   /* the same inputs, from the same seed */
    rc_loss_expect_deterministic(ctx, RC_BCE, &o, SIGFUSE_F32, SIGFUSE_F32, 5, name);
}

/* The sum is the plain row-major double sum: check it against one computed here. */
Test(ref_bce, sum_order_row_major_f64_33x31)
{
    tu_rng rng = tu_rng_seed(6, "ref_bce.sum_order_row_major_f64_33x31");
    enum { N = 33 * 31 };
    tu_buf x = tu_alloc(SIGFUSE_F64, N), y = tu_alloc(SIGFUSE_F64, N);
    tu_buf sum = tu_alloc(SIGFUSE_F64, 1), each = tu_alloc(SIGFUSE_F64, N);
    tu_fill_uniform(&x, &rng, -30, 30);
    tu_fill_binary(&y, &rng);
    rc_loss_opt o = rc_bce_opt(33, 31, SIGFUSE_REDUCTION_SUM);
    must_run(&o, &(rc_loss_io){.x = &x, .y = &y, .loss = &sum});
    o.red = SIGFUSE_REDUCTION_NONE;
    must_run(&o, &(rc_loss_io){.x = &x, .y = &y, .loss = &each});
    double s = 0;
    for (int i = 0; i < N; i++)
        s += tu_get(&each, i);
    cr_expect_eq(tu_get(&sum, 0), s);
    RC_FREE(&x, &y, &sum, &each);
}
