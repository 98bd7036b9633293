/* SPDX-License-Identifier: MIT */
/*
 * The CPU reference of sigmoid_focal, checked through the public API: it reduces to BCE
 * at gamma = 0 without alpha, matches hand-computed values, matches central finite
 * differences in f64 for gamma in {0, 0.5, 1, 2, 5}, keeps exact limits and finite
 * values at saturated logits for every gamma in [0, 5], and its f64 results rounded once
 * are what each storage dtype receives.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "sf_internal.h"
#include "testutil.h"

#define LN2 0.69314718055994530942

typedef struct focal_io {
    tu_buf *x, *y, *dl, *loss, *dx;
} focal_io;

typedef struct focal_opt {
    int64_t rows, cols;
    sigfuse_reduction red;
    double alpha, gamma, grad_scale;
} focal_opt;

static focal_opt fopt(int64_t rows, int64_t cols, sigfuse_reduction red, double alpha, double gamma)
{
    focal_opt o = {rows, cols, red, alpha, gamma, 1.0};
    return o;
}

static void must_focal(sigfuse_ctx *ctx, const focal_opt *o, const focal_io *io)
{
    sigfuse_focal_args a;
    sigfuse_focal_args_init(&a);
    a.rows = o->rows;
    a.cols = o->cols;
    a.reduction = o->red;
    a.alpha = (float)o->alpha;
    a.gamma = (float)o->gamma;
    a.grad_scale = (float)o->grad_scale;
    a.logits = tu_opt_desc(io->x);
    a.targets = tu_opt_desc(io->y);
    a.dloss_in = tu_opt_desc(io->dl);
    a.loss = tu_opt_desc(io->loss);
    a.dlogits = tu_opt_desc(io->dx);
    sigfuse_status st = sigfuse_sigmoid_focal(ctx, &a);
    cr_assert_eq(st, SIGFUSE_SUCCESS, "sigmoid_focal: %s (%s)", sigfuse_status_string(st),
                 sigfuse_ctx_last_error(ctx));
}

static void must_bce(sigfuse_ctx *ctx, int64_t rows, int64_t cols, sigfuse_reduction red, tu_buf *x, tu_buf *y,
                     tu_buf *loss, tu_buf *dx)
{
    sigfuse_bce_args a;
    sigfuse_bce_args_init(&a);
    a.rows = rows;
    a.cols = cols;
    a.reduction = red;
    a.logits = &x->desc;
    a.targets = &y->desc;
    a.loss = tu_opt_desc(loss);
    a.dlogits = tu_opt_desc(dx);
    sigfuse_status st = sigfuse_bce_with_logits(ctx, &a);
    cr_assert_eq(st, SIGFUSE_SUCCESS, "bce_with_logits: %s (%s)", sigfuse_status_string(st),
                 sigfuse_ctx_last_error(ctx));
}

static double sig(double x) { return 1.0 / (1.0 + exp(-x)); }

/* ---- Known values ------------------------------------------------------------------- */

/* gamma = 0 without alpha is BCE, bit for bit, extremes included. */
static void equals_bce_case(sigfuse_dtype dt, sigfuse_dtype tdt, sigfuse_reduction red, bool soft)
{
    char name[96];
    snprintf(name, sizeof name, "ref_focal.equals_bce %s targets=%s red=%d soft=%d 9x7", sigfuse_dtype_name(dt),
             sigfuse_dtype_name(tdt), (int)red, soft);
    sigfuse_ctx *ctx = tu_cpu_ctx();
    tu_rng rng = tu_rng_seed(21, name);
    enum { R = 9, C = 7, N = R * C };
    const bool none = red == SIGFUSE_REDUCTION_NONE;
    const sigfuse_dtype lossdt = none ? dt : (dt == SIGFUSE_F64 ? SIGFUSE_F64 : SIGFUSE_F32);
    const int64_t nloss = none ? N : 1;
    tu_buf x = tu_alloc(dt, N), y = tu_alloc(tdt, N);
    tu_buf fl = tu_alloc(lossdt, nloss), fd = tu_alloc(dt, N), bl = tu_alloc(lossdt, nloss), bd = tu_alloc(dt, N);
    tu_fill_uniform(&x, &rng, -30, 30);
    if (soft)
        tu_fill_uniform(&y, &rng, 0, 1);
    else
        tu_fill_binary(&y, &rng);
    const double specials[] = {INFINITY, -INFINITY, 1e4, -1e4, 88.7, -88.7, 0.0};
    for (int i = 0; i < 7; i++)
        tu_set(&x, i, specials[i]);
    focal_opt o = fopt(R, C, red, -1.0, 0.0);
    must_focal(ctx, &o, &(focal_io){.x = &x, .y = &y, .loss = &fl, .dx = &fd});
    must_bce(ctx, R, C, red, &x, &y, &bl, &bd);
    cr_expect(memcmp(tu_data(&fl), tu_data(&bl), fl.bytes) == 0, "%s: loss differs from BCE", name);
    cr_expect(memcmp(tu_data(&fd), tu_data(&bd), fd.bytes) == 0, "%s: dlogits differs from BCE", name);
    for (int64_t i = 0; i < N; i++)
        if (tu_get(&fd, i) != tu_get(&bd, i)) {
            cr_log_error("%s: first difference at %lld: %.17g vs %.17g (x = %g)", name, (long long)i,
                         tu_get(&fd, i), tu_get(&bd, i), tu_get(&x, i));
            break;
        }
    tu_free(&x); tu_free(&y); tu_free(&fl); tu_free(&fd); tu_free(&bl); tu_free(&bd);
    sigfuse_ctx_destroy(ctx);
}

Test(ref_focal, gamma0_no_alpha_is_bce_none_f64_9x7) { equals_bce_case(SIGFUSE_F64, SIGFUSE_F64, SIGFUSE_REDUCTION_NONE, false); }
Test(ref_focal, gamma0_no_alpha_is_bce_soft_none_f64_9x7) { equals_bce_case(SIGFUSE_F64, SIGFUSE_F64, SIGFUSE_REDUCTION_NONE, true); }
Test(ref_focal, gamma0_no_alpha_is_bce_sum_f32_9x7) { equals_bce_case(SIGFUSE_F32, SIGFUSE_F32, SIGFUSE_REDUCTION_SUM, true); }
Test(ref_focal, gamma0_no_alpha_is_bce_mean_u8_bf16_9x7) { equals_bce_case(SIGFUSE_BF16, SIGFUSE_U8, SIGFUSE_REDUCTION_MEAN, false); }

Test(ref_focal, gamma0_no_alpha_ln2_at_zero_f64_1x2)
{
    sigfuse_ctx *ctx = tu_cpu_ctx();
    double xs[] = {0, 0}, ys[] = {0, 1};
    tu_buf x = tu_from(SIGFUSE_F64, 2, xs), y = tu_from(SIGFUSE_F64, 2, ys);
    tu_buf loss = tu_alloc(SIGFUSE_F64, 2), dx = tu_alloc(SIGFUSE_F64, 2);
    focal_opt o = fopt(1, 2, SIGFUSE_REDUCTION_NONE, -1.0, 0.0);
    must_focal(ctx, &o, &(focal_io){.x = &x, .y = &y, .loss = &loss, .dx = &dx});
    cr_expect_eq(tu_get(&loss, 0), LN2);
    cr_expect_eq(tu_get(&loss, 1), LN2);
    cr_expect_eq(tu_get(&dx, 0), 0.5);
    cr_expect_eq(tu_get(&dx, 1), -0.5);
    tu_free(&x); tu_free(&y); tu_free(&loss); tu_free(&dx);
    sigfuse_ctx_destroy(ctx);
}

/* alpha = 0.25, gamma = 2 by hand. For y = 1: loss = a (1-p)^2 (-log p) and
 * dloss/dx = a (1-p)^2 [2 p log p - (1 - p)]; for y = 0 (alpha_t = 1 - a):
 * loss = (1-a) p^2 (-log(1-p)) and dloss/dx = (1-a) p^2 [2 (1-p)(-log(1-p)) + p]. */
Test(ref_focal, hand_alpha025_gamma2_f64_1x4)
{
    sigfuse_ctx *ctx = tu_cpu_ctx();
    const double a = 0.25;
    const double xs[4] = {1.0, -2.0, 0.5, 3.0}, ys[4] = {1, 0, 1, 0};
    double want_l[4], want_g[4];
    for (int i = 0; i < 4; i++) {
        double p = sig(xs[i]);
        if (ys[i] == 1) {
            want_l[i] = a * (1 - p) * (1 - p) * -log(p);
            want_g[i] = a * (1 - p) * (1 - p) * (2 * p * log(p) - (1 - p));
        } else {
            want_l[i] = (1 - a) * p * p * -log(1 - p);
            want_g[i] = (1 - a) * p * p * (2 * (1 - p) * -log(1 - p) + p);
        }
    }
    tu_buf x = tu_from(SIGFUSE_F64, 4, xs), y = tu_from(SIGFUSE_F64, 4, ys);
    tu_buf loss = tu_alloc(SIGFUSE_F64, 4), dx = tu_alloc(SIGFUSE_F64, 4), sum = tu_alloc(SIGFUSE_F64, 1);
    focal_opt o = fopt(1, 4, SIGFUSE_REDUCTION_NONE, a, 2.0);
    must_focal(ctx, &o, &(focal_io){.x = &x, .y = &y, .loss = &loss, .dx = &dx});
    for (int i = 0; i < 4; i++) {
        cr_expect(tu_close(tu_get(&loss, i), want_l[i], 1e-13, 0), "loss[%d] = %.17g, want %.17g", i,
                  tu_get(&loss, i), want_l[i]);
        cr_expect(tu_close(tu_get(&dx, i), want_g[i], 1e-13, 0), "dlogits[%d] = %.17g, want %.17g", i,
                  tu_get(&dx, i), want_g[i]);
    }
    /* The first value written out, as a number a reader can check with a calculator:
     * 0.25 * 0.2689414213699951^2 * 0.31326168751822286. */
    cr_expect(tu_close(tu_get(&loss, 0), 0.005664514377116832, 1e-14, 0), "loss[0] = %.17g", tu_get(&loss, 0));
    o.red = SIGFUSE_REDUCTION_MEAN;
    must_focal(ctx, &o, &(focal_io){.x = &x, .y = &y, .loss = &sum});
    cr_expect(tu_close(tu_get(&sum, 0), (want_l[0] + want_l[1] + want_l[2] + want_l[3]) / 4, 1e-13, 0));
    tu_free(&x); tu_free(&y); tu_free(&loss); tu_free(&dx); tu_free(&sum);
    sigfuse_ctx_destroy(ctx);
}

/* Soft targets by hand at alpha = 0.5 (alpha_t = 0.5 whatever y), gamma = 1:
 * p_t = p y + (1-p)(1-y), loss = 0.5 (1 - p_t) CE. */
Test(ref_focal, hand_soft_target_alpha05_gamma1_f64_1x2)
{
    sigfuse_ctx *ctx = tu_cpu_ctx();
    const double xs[2] = {0.5, -1.5}, ys[2] = {0.3, 0.9};
    tu_buf x = tu_from(SIGFUSE_F64, 2, xs), y = tu_from(SIGFUSE_F64, 2, ys), loss = tu_alloc(SIGFUSE_F64, 2);
    focal_opt o = fopt(1, 2, SIGFUSE_REDUCTION_NONE, 0.5, 1.0);
    must_focal(ctx, &o, &(focal_io){.x = &x, .y = &y, .loss = &loss});
    for (int i = 0; i < 2; i++) {
        double p = sig(xs[i]), yv = ys[i];
        double pt = p * yv + (1 - p) * (1 - yv);
        double ce = -(yv * log(p) + (1 - yv) * log(1 - p));
        double want = 0.5 * (1 - pt) * ce;
        cr_expect(tu_close(tu_get(&loss, i), want, 1e-13, 0), "loss[%d] = %.17g, want %.17g", i, tu_get(&loss, i),
                  want);
    }
    tu_free(&x); tu_free(&y); tu_free(&loss);
    sigfuse_ctx_destroy(ctx);
}

/* Reductions, grad_scale and upstream gradients: the reduced results are the NONE ones
 * combined as documented. */
static void upstream_case(sigfuse_reduction red, double grad_scale, bool with_dloss)
{
    sigfuse_ctx *ctx = tu_cpu_ctx();
    enum { N = 6 };
    const double xs[N] = {-2.0, -0.5, 0.0, 0.25, 1.0, 3.0}, ys[N] = {1, 0, 1, 0.5, 0, 1};
    const double dls[N] = {1.5, -2.0, 0.25, 4.0, -0.5, 3.0}, dscalar = 0.75;
    const bool none = red == SIGFUSE_REDUCTION_NONE;
    tu_buf x = tu_from(SIGFUSE_F64, N, xs), y = tu_from(SIGFUSE_F64, N, ys);
    tu_buf dl = none ? tu_from(SIGFUSE_F64, N, dls) : tu_from(SIGFUSE_F32, 1, &dscalar);
    tu_buf el = tu_alloc(SIGFUSE_F64, N), eg = tu_alloc(SIGFUSE_F64, N);
    tu_buf loss = tu_alloc(SIGFUSE_F64, none ? N : 1), dx = tu_alloc(SIGFUSE_F64, N);
    focal_opt base = fopt(2, 3, SIGFUSE_REDUCTION_NONE, 0.25, 2.0);
    must_focal(ctx, &base, &(focal_io){.x = &x, .y = &y, .loss = &el, .dx = &eg});
    focal_opt o = fopt(2, 3, red, 0.25, 2.0);
    o.grad_scale = grad_scale;
    must_focal(ctx, &o, &(focal_io){.x = &x, .y = &y, .dl = with_dloss ? &dl : NULL, .loss = &loss, .dx = &dx});
    double sum = 0;
    for (int i = 0; i < N; i++) {
        sum += tu_get(&el, i);
        double up = grad_scale * (with_dloss ? (none ? dls[i] : dscalar) : 1.0) / (red == SIGFUSE_REDUCTION_MEAN ? N : 1);
        cr_expect(tu_close(tu_get(&dx, i), tu_get(&eg, i) * up, 1e-15, 0), "dlogits[%d] = %.17g, want %.17g", i,
                  tu_get(&dx, i), tu_get(&eg, i) * up);
        if (none)   /* neither grad_scale nor dloss_in scales the loss */
            cr_expect_eq(tu_get(&loss, i), tu_get(&el, i));
    }
    if (red == SIGFUSE_REDUCTION_SUM)
        cr_expect_eq(tu_get(&loss, 0), sum);
    if (red == SIGFUSE_REDUCTION_MEAN)
        cr_expect_eq(tu_get(&loss, 0), sum / N);
    tu_free(&x); tu_free(&y); tu_free(&dl); tu_free(&el); tu_free(&eg); tu_free(&loss); tu_free(&dx);
    sigfuse_ctx_destroy(ctx);
}

Test(ref_focal, reduction_sum_f64_2x3) { upstream_case(SIGFUSE_REDUCTION_SUM, 1.0, false); }
Test(ref_focal, reduction_mean_f64_2x3) { upstream_case(SIGFUSE_REDUCTION_MEAN, 1.0, false); }
Test(ref_focal, grad_scale_none_f64_2x3) { upstream_case(SIGFUSE_REDUCTION_NONE, 3.0, false); }
Test(ref_focal, dloss_in_tensor_none_f64_2x3) { upstream_case(SIGFUSE_REDUCTION_NONE, 1.0, true); }
Test(ref_focal, dloss_in_scalar_sum_grad_scale_f64_2x3) { upstream_case(SIGFUSE_REDUCTION_SUM, -0.5, true); }
Test(ref_focal, dloss_in_scalar_mean_f64_2x3) { upstream_case(SIGFUSE_REDUCTION_MEAN, 2.0, true); }

/* alpha = 1 zeroes the negatives, alpha = 0 the positives, even at infinite CE. */
Test(ref_focal, alpha_bounds_zero_weight_f64_1x4)
{
    sigfuse_ctx *ctx = tu_cpu_ctx();
    const double xs[4] = {INFINITY, 2.0, -INFINITY, -2.0}, ys[4] = {0, 0, 1, 1};
    tu_buf x = tu_from(SIGFUSE_F64, 4, xs), y = tu_from(SIGFUSE_F64, 4, ys);
    tu_buf loss = tu_alloc(SIGFUSE_F64, 4), dx = tu_alloc(SIGFUSE_F64, 4);
    for (int k = 0; k < 2; k++) {
        focal_opt o = fopt(1, 4, SIGFUSE_REDUCTION_NONE, k == 0 ? 1.0 : 0.0, 2.0);
        must_focal(ctx, &o, &(focal_io){.x = &x, .y = &y, .loss = &loss, .dx = &dx});
        for (int i = k * 2; i < k * 2 + 2; i++) {
            cr_expect_eq(tu_get(&loss, i), 0.0, "alpha %d: loss[%d] = %g", 1 - k, i, tu_get(&loss, i));
            cr_expect_eq(tu_get(&dx, i), 0.0, "alpha %d: dlogits[%d] = %g", 1 - k, i, tu_get(&dx, i));
        }
    }
    tu_free(&x); tu_free(&y); tu_free(&loss); tu_free(&dx);
    sigfuse_ctx_destroy(ctx);
}

/* ---- Gradients against central finite differences, in f64 ----------------------------- */

typedef struct fd_case {
    int64_t rows, cols;
    sigfuse_reduction red;
    double alpha, gamma, grad_scale;
    bool dloss_in, soft_targets;
} fd_case;

/* A call's inputs, for tu_expect_loss_fd to evaluate the loss at moved logits. */
typedef struct focal_loss_problem {
    const focal_opt *o;
    focal_io io;
} focal_loss_problem;

static void focal_loss_at(sigfuse_ctx *ctx, void *problem, tu_buf *loss)
{
    focal_loss_problem *p = problem;
    focal_io io = p->io;
    io.loss = loss;
    must_focal(ctx, p->o, &io);
}

/* The objective is grad_scale * dloss_in . loss (tu_expect_loss_fd, as in test_ref_bce.c). */
static void fd_check(const fd_case *c, uint64_t seed)
{
    char name[160];
    snprintf(name, sizeof name, "ref_focal.fd red=%d alpha=%g gamma=%g scale=%g dl=%d soft=%d %lldx%lld",
             (int)c->red, c->alpha, c->gamma, c->grad_scale, c->dloss_in, c->soft_targets, (long long)c->rows,
             (long long)c->cols);
    sigfuse_ctx *ctx = tu_cpu_ctx();
    tu_rng rng = tu_rng_seed(seed, name);
    const int64_t n = c->rows * c->cols;
    const bool none = c->red == SIGFUSE_REDUCTION_NONE;
    const int64_t nloss = none ? n : 1;
    tu_buf x = tu_alloc(SIGFUSE_F64, n), y = tu_alloc(SIGFUSE_F64, n), dl = tu_alloc(SIGFUSE_F64, nloss);
    tu_buf dx = tu_alloc(SIGFUSE_F64, n);
    tu_fill_uniform(&x, &rng, -8, 8);
    if (c->soft_targets)
        tu_fill_uniform(&y, &rng, 0, 1);
    else
        tu_fill_binary(&y, &rng);
    tu_fill_uniform(&dl, &rng, -2, 2);
    focal_opt o = fopt(c->rows, c->cols, c->red, c->alpha, c->gamma);
    o.grad_scale = c->grad_scale;
    focal_io io = {.x = &x, .y = &y, .dl = c->dloss_in ? &dl : NULL, .dx = &dx};
    must_focal(ctx, &o, &io);

    focal_loss_problem prob = {&o, {.x = &x, .y = &y}};
    tu_expect_loss_fd(name, ctx, focal_loss_at, &prob, none, &x, &y, &dx, c->grad_scale, c->dloss_in ? &dl : NULL);
    tu_free(&x); tu_free(&y); tu_free(&dl); tu_free(&dx);
    sigfuse_ctx_destroy(ctx);
}

static const double fd_gammas[5] = {0.0, 0.5, 1.0, 2.0, 5.0};

static void fd_gamma_sweep(double alpha, bool soft, uint64_t seed)
{
    for (int g = 0; g < 5; g++)
        fd_check(&(fd_case){5, 7, SIGFUSE_REDUCTION_NONE, alpha, fd_gammas[g], 1.0, false, soft}, seed + (uint64_t)g);
}

Test(ref_focal, fd_gammas_alpha025_hard_none_f64_5x7) { fd_gamma_sweep(0.25, false, 200); }
Test(ref_focal, fd_gammas_alpha025_soft_none_f64_5x7) { fd_gamma_sweep(0.25, true, 210); }
Test(ref_focal, fd_gammas_no_alpha_hard_none_f64_5x7) { fd_gamma_sweep(-1.0, false, 220); }
Test(ref_focal, fd_gammas_no_alpha_soft_none_f64_5x7) { fd_gamma_sweep(-1.0, true, 230); }
Test(ref_focal, fd_gammas_alpha09_soft_none_f64_5x7) { fd_gamma_sweep(0.9, true, 240); }
Test(ref_focal, fd_grad_scale_dloss_in_none_f64_5x7)
{
    for (int g = 0; g < 5; g++)
        fd_check(&(fd_case){5, 7, SIGFUSE_REDUCTION_NONE, 0.25, fd_gammas[g], -1.5, true, true}, 250 + (uint64_t)g);
}
Test(ref_focal, fd_sum_dloss_in_f64_3x4)
{
    for (int g = 0; g < 5; g++)
        fd_check(&(fd_case){3, 4, SIGFUSE_REDUCTION_SUM, 0.25, fd_gammas[g], 2.0, true, g % 2 == 0}, 260 + (uint64_t)g);
}
Test(ref_focal, fd_mean_f64_4x3)
{
    for (int g = 0; g < 5; g++)
        fd_check(&(fd_case){4, 3, SIGFUSE_REDUCTION_MEAN, -1.0, fd_gammas[g], 0.5, g % 2 == 1, g % 2 == 1},
                 270 + (uint64_t)g);
}

/* ---- Extremes ------------------------------------------------------------------------- */

typedef struct extreme_want {
    double loss, grad, rtol;   /* rtol 0: exact */
} extreme_want;

/* Closed forms for hard labels at x in {+-inf, +-1e4, +-x88, +-subnormal, NaN}; a0 / a1
 * are alpha_t for y = 0 / 1; x88 is 88.7 as the dtype stores it. A subnormal logit has
 * sigmoid 1/2 (up to 3e-8 for f16's, far below f16's rounding). */
static extreme_want extreme_closed_form(double x, double y, double g, double a0, double a1, double x88)
{
    const double e = exp(-x88);
    extreme_want w = {NAN, NAN, 0};
    double at = y == 1 ? a1 : a0;
    double s = y == 1 ? -1.0 : 1.0;   /* the sign of the gradient */
    if (isnan(x))
        return w;
    if (isinf(x) || fabs(x) >= 1e4 - 16) {
        /* e^-|x| is 0 in double: exact values. */
        bool wrong = (x > 0) == (y == 0);   /* confidently wrong: CE is |x| */
        if (wrong) {
            w.loss = at * fabs(x);
            w.grad = at * s;
            w.rtol = isinf(x) ? 0 : 1e-15;
        } else {
            w.loss = 0;
            w.grad = 0;
        }
        return w;
    }
    if (fabs(x) == x88) {
        bool wrong = (x > 0) == (y == 0);
        if (wrong) {
            /* q = 1 - e, CE = |x| + e: loss ~ at |x|, grad ~ at s (1 + g e |x|). */
            w.loss = at * pow(1 - e, g) * (x88 + e);
            w.grad = at * s;
            w.rtol = 1e-14;
        } else {
            /* q = e / (1 + e), CE ~ e: loss ~ at q^g e, grad ~ s at q^g (1 + g) e. */
            double q = e / (1 + e);
            w.loss = at * pow(q, g) * e;
            w.grad = s * at * pow(q, g) * (1 + g) * e;
            w.rtol = 1e-12;
        }
        return w;
    }
    /* Subnormal logits: p = q = 1/2, CE = ln 2, ratio 1/2. */
    w.loss = at * pow(0.5, g) * LN2;
    w.grad = s * at * pow(0.5, g) * (0.5 + 0.5 * g * LN2);
    w.rtol = 1e-14;
    return w;
}

static void extremes_case(sigfuse_dtype dt, double alpha)
{
    const double gammas[] = {0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.5, 5.0};
    const double sub = dt == SIGFUSE_F64 ? 4.9406564584124654e-324
                     : dt == SIGFUSE_F32 ? 1.401298464324817e-45
                     : dt == SIGFUSE_F16 ? 5.9604644775390625e-08
                                         : 9.183549615799121e-41;
    const double big = sf_round_to_dtype(1e4, dt);   /* bf16 holds 9984 */
    const double x88 = dt == SIGFUSE_F64 ? 88.7 : sf_round_to_dtype(88.7, dt);
    const double xv[] = {INFINITY, -INFINITY, big, -big, x88, -x88, sub, -sub, NAN};
    enum { NX = sizeof xv / sizeof xv[0], N = 2 * NX };
    double xs[N], ys[N];
    for (int i = 0; i < N; i++) {
        xs[i] = xv[i % NX];
        ys[i] = i < NX ? 0.0 : 1.0;
    }
    const double a0 = alpha < 0 ? 1.0 : 1.0 - (double)(float)alpha, a1 = alpha < 0 ? 1.0 : (double)(float)alpha;
    sigfuse_ctx *ctx = tu_cpu_ctx();
    tu_buf x = tu_from(dt, N, xs), y = tu_from(dt, N, ys), loss = tu_alloc(dt, N), dx = tu_alloc(dt, N);
    for (size_t gi = 0; gi < sizeof gammas / sizeof gammas[0]; gi++) {
        const double g = gammas[gi];
        tu_poison(&loss);
        tu_poison(&dx);
        focal_opt o = fopt(2, NX, SIGFUSE_REDUCTION_NONE, alpha, g);
        must_focal(ctx, &o, &(focal_io){.x = &x, .y = &y, .loss = &loss, .dx = &dx});
        for (int i = 0; i < N; i++) {
            extreme_want w = extreme_closed_form(xs[i], ys[i], g, a0, a1, x88);
            double wl = dt == SIGFUSE_F64 ? w.loss : sf_round_to_dtype(w.loss, dt);
            double wg = dt == SIGFUSE_F64 ? w.grad : sf_round_to_dtype(w.grad, dt);
            double rtol = dt == SIGFUSE_F64 ? w.rtol : 0.0;
            double gl = tu_get(&loss, i), gg = tu_get(&dx, i);
            cr_expect(tu_close(gl, wl, rtol, 0), "%s alpha=%g gamma=%g x=%g y=%g: loss %.17g, want %.17g",
                      sigfuse_dtype_name(dt), alpha, g, xs[i], ys[i], gl, wl);
            cr_expect(tu_close(gg, wg, rtol, 0), "%s alpha=%g gamma=%g x=%g y=%g: dlogits %.17g, want %.17g",
                      sigfuse_dtype_name(dt), alpha, g, xs[i], ys[i], gg, wg);
            if (!isnan(xs[i]) && isfinite(xs[i]))
                cr_expect(isfinite(gl) && isfinite(gg), "%s gamma=%g x=%g y=%g: not finite", sigfuse_dtype_name(dt),
                          g, xs[i], ys[i]);
        }
    }
    tu_free(&x); tu_free(&y); tu_free(&loss); tu_free(&dx);
    sigfuse_ctx_destroy(ctx);
}

Test(ref_focal, extremes_alpha025_f64_2x9) { extremes_case(SIGFUSE_F64, 0.25); }
Test(ref_focal, extremes_no_alpha_f64_2x9) { extremes_case(SIGFUSE_F64, -1.0); }
Test(ref_focal, extremes_alpha025_f32_2x9) { extremes_case(SIGFUSE_F32, 0.25); }
Test(ref_focal, extremes_no_alpha_f16_2x9) { extremes_case(SIGFUSE_F16, -1.0); }
Test(ref_focal, extremes_alpha075_bf16_2x9) { extremes_case(SIGFUSE_BF16, 0.75); }

/* Finite everywhere the truth is finite: a dense sweep of gamma in [0, 5] at +-1e4 and
 * across the logits where q^(gamma - 1) would overflow in a naive form. */
Test(ref_focal, finite_saturated_gamma_sweep_f64_1x12)
{
    sigfuse_ctx *ctx = tu_cpu_ctx();
    const double xs[12] = {1e4, -1e4, 1e4, -1e4, 700, -700, 700, -700, 745, -745, 745, -745};
    const double ys[12] = {0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1};
    tu_buf x = tu_from(SIGFUSE_F64, 12, xs), y = tu_from(SIGFUSE_F64, 12, ys);
    tu_buf loss = tu_alloc(SIGFUSE_F64, 12), dx = tu_alloc(SIGFUSE_F64, 12);
    for (int k = 0; k <= 50; k++) {
        double g = (double)(float)(0.1 * k);
        focal_opt o = fopt(1, 12, SIGFUSE_REDUCTION_NONE, 0.25, g);
        must_focal(ctx, &o, &(focal_io){.x = &x, .y = &y, .loss = &loss, .dx = &dx});
        for (int i = 0; i < 12; i++)
            cr_expect(isfinite(tu_get(&loss, i)) && isfinite(tu_get(&dx, i)),
                      "gamma=%g x=%g y=%g: loss %g dlogits %g", g, xs[i], ys[i], tu_get(&loss, i), tu_get(&dx, i));
    }
    tu_free(&x); tu_free(&y); tu_free(&loss); tu_free(&dx);
    sigfuse_ctx_destroy(ctx);
}

/* Soft targets at infinite logits: the loss is +inf, the gradient its finite limit
 * alpha_t q^gamma (p - y) (the gamma term's p(1-p) CE tends to 0). */
Test(ref_focal, soft_target_infinite_logit_f64_1x2)
{
    sigfuse_ctx *ctx = tu_cpu_ctx();
    const double xs[2] = {INFINITY, -INFINITY}, ys[2] = {0.25, 0.25};
    tu_buf x = tu_from(SIGFUSE_F64, 2, xs), y = tu_from(SIGFUSE_F64, 2, ys);
    tu_buf loss = tu_alloc(SIGFUSE_F64, 2), dx = tu_alloc(SIGFUSE_F64, 2);
    focal_opt o = fopt(1, 2, SIGFUSE_REDUCTION_NONE, -1.0, 2.0);
    must_focal(ctx, &o, &(focal_io){.x = &x, .y = &y, .loss = &loss, .dx = &dx});
    /* x = +inf: q = 1 - y = 0.75, p - y = 0.75; x = -inf: q = y = 0.25, p - y = -0.25. */
    cr_expect_eq(tu_get(&loss, 0), INFINITY);
    cr_expect_eq(tu_get(&loss, 1), INFINITY);
    cr_expect_eq(tu_get(&dx, 0), 0.75 * 0.75 * 0.75);
    cr_expect_eq(tu_get(&dx, 1), 0.25 * 0.25 * -0.25);
    tu_free(&x); tu_free(&y); tu_free(&loss); tu_free(&dx);
    sigfuse_ctx_destroy(ctx);
}

/* ---- Storage dtypes: the f64 result rounded once ------------------------------------------ */

static void dtype_case(sigfuse_dtype dt, int64_t rows, int64_t cols, sigfuse_reduction red, bool u8_targets,
                       double gamma, bool offsets)
{
    char name[160];
    snprintf(name, sizeof name, "ref_focal dtype=%s %lldx%lld red=%d targets=%s gamma=%g offsets=%d",
             sigfuse_dtype_name(dt), (long long)rows, (long long)cols, (int)red, u8_targets ? "u8" : "float", gamma,
             offsets);
    sigfuse_ctx *ctx = tu_cpu_ctx();
    tu_rng rng = tu_rng_seed((uint64_t)(rows * 1000003 + cols * 101 + red * 7 + dt), name);
    const int64_t n = rows * cols;
    const bool none = red == SIGFUSE_REDUCTION_NONE;
    const sigfuse_dtype lossdt = none ? dt : SIGFUSE_F32;
    const int64_t nloss = none ? n : 1;
    tu_buf x = tu_alloc_kth(dt, n, offsets, 0), y = tu_alloc_kth(u8_targets ? SIGFUSE_U8 : dt, n, offsets, 1);
    tu_buf dl = tu_alloc_kth(none ? dt : SIGFUSE_F32, nloss, offsets, 2);
    tu_buf loss = tu_alloc_kth(lossdt, nloss, offsets, 3), dx = tu_alloc_kth(dt, n, offsets, 4);
    tu_fill_uniform(&x, &rng, -12, 12);
    if (u8_targets)
        tu_fill_binary(&y, &rng);
    else
        tu_fill_uniform(&y, &rng, 0, 1);
    tu_fill_uniform(&dl, &rng, -1.5, 1.5);
    focal_opt o = fopt(rows, cols, red, 0.25, gamma);
    o.grad_scale = 0.5;
    must_focal(ctx, &o, &(focal_io){.x = &x, .y = &y, .dl = &dl, .loss = &loss, .dx = &dx});

    tu_buf x64 = tu_copy_as(&x, SIGFUSE_F64), y64 = tu_copy_as(&y, u8_targets ? SIGFUSE_U8 : SIGFUSE_F64);
    tu_buf dl64 = tu_copy_as(&dl, none ? SIGFUSE_F64 : SIGFUSE_F32);
    tu_buf loss64 = tu_alloc(SIGFUSE_F64, nloss), dx64 = tu_alloc(SIGFUSE_F64, n);
    must_focal(ctx, &o, &(focal_io){.x = &x64, .y = &y64, .dl = &dl64, .loss = &loss64, .dx = &dx64});
    tu_expect_rounded(&loss, &loss64, "loss", name);
    tu_expect_rounded(&dx, &dx64, "dlogits", name);
    if (n == 0 && red == SIGFUSE_REDUCTION_MEAN)
        cr_expect(!tu_untouched(&loss), "%s: the NaN mean of nothing is written, not left as poison", name);
    if (n == 0 && red == SIGFUSE_REDUCTION_SUM)
        cr_expect_eq(tu_get(&loss, 0), 0.0, "%s: the sum of nothing is 0", name);
    cr_expect(tu_guards_ok(&x) && tu_guards_ok(&y) && tu_guards_ok(&dl), "%s: input guards", name);
    tu_buf *all[] = {&x, &y, &dl, &loss, &dx, &x64, &y64, &dl64, &loss64, &dx64};
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
        tu_free(all[k]);
    sigfuse_ctx_destroy(ctx);
}

static void dtype_sweep(sigfuse_dtype dt, int64_t rows, int64_t cols)
{
    const double gammas[3] = {2.0, 0.5, 0.0};
    for (int red = 0; red < 3; red++)
        for (int t = 0; t < 2; t++)
            dtype_case(dt, rows, cols, (sigfuse_reduction)red, t == 1, gammas[(red + t) % 3], (red + t) % 2 == 1);
}

#define DTYPE_TESTS(dname, DT)                                                     \
    Test(ref_focal, dtype_##dname##_0x0) { dtype_sweep(DT, 0, 0); }                \
    Test(ref_focal, dtype_##dname##_0x5) { dtype_sweep(DT, 0, 5); }                \
    Test(ref_focal, dtype_##dname##_1x1) { dtype_sweep(DT, 1, 1); }                \
    Test(ref_focal, dtype_##dname##_7x3) { dtype_sweep(DT, 7, 3); }                \
    Test(ref_focal, dtype_##dname##_33x31) { dtype_sweep(DT, 33, 31); }            \
    Test(ref_focal, dtype_##dname##_1x4097) { dtype_sweep(DT, 1, 4097); }

DTYPE_TESTS(f32, SIGFUSE_F32)
DTYPE_TESTS(f16, SIGFUSE_F16)
DTYPE_TESTS(bf16, SIGFUSE_BF16)

/* ---- Fusion and determinism ------------------------------------------------------------- */

static void subsets_case(sigfuse_dtype dt, sigfuse_reduction red)
{
    char name[96];
    snprintf(name, sizeof name, "ref_focal.subsets %s red=%d 7x3", sigfuse_dtype_name(dt), (int)red);
    sigfuse_ctx *ctx = tu_cpu_ctx();
    tu_rng rng = tu_rng_seed(78, name);
    enum { N = 21 };
    const bool none = red == SIGFUSE_REDUCTION_NONE;
    tu_buf x = tu_alloc(dt, N), y = tu_alloc(dt, N);
    tu_fill_uniform(&x, &rng, -6, 6);
    tu_fill_uniform(&y, &rng, 0, 1);
    tu_set(&x, 4, INFINITY);
    tu_set(&x, 5, -INFINITY);
    sigfuse_dtype lossdt = none ? dt : SIGFUSE_F32;
    int64_t nloss = none ? N : 1;
    tu_buf ref[2] = {tu_alloc(lossdt, nloss), tu_alloc(dt, N)};
    tu_buf out[2] = {tu_alloc(lossdt, nloss), tu_alloc(dt, N)};
    focal_opt o = fopt(7, 3, red, 0.25, 1.5);
    o.grad_scale = 1.25;
    must_focal(ctx, &o, &(focal_io){.x = &x, .y = &y, .loss = &ref[0], .dx = &ref[1]});
    static const char *names[2] = {"loss", "dlogits"};
    for (int mask = 1; mask < 4; mask++) {
        tu_poison(&out[0]);
        tu_poison(&out[1]);
        must_focal(ctx, &o, &(focal_io){.x = &x, .y = &y, .loss = (mask & 1) ? &out[0] : NULL,
                                        .dx = (mask & 2) ? &out[1] : NULL});
        for (int k = 0; k < 2; k++) {
            if (mask & (1 << k))
                cr_expect(memcmp(tu_data(&out[k]), tu_data(&ref[k]), ref[k].bytes) == 0 && tu_guards_ok(&out[k]),
                          "%s: %s differs with outputs mask %d", name, names[k], mask);
            else
                cr_expect(tu_untouched(&out[k]), "%s: absent %s was written (mask %d)", name, names[k], mask);
        }
    }
    tu_free(&ref[0]); tu_free(&ref[1]); tu_free(&out[0]); tu_free(&out[1]);
    tu_free(&x); tu_free(&y);
    sigfuse_ctx_destroy(ctx);
}

Test(ref_focal, output_subsets_none_f32_7x3) { subsets_case(SIGFUSE_F32, SIGFUSE_REDUCTION_NONE); }
Test(ref_focal, output_subsets_mean_f16_7x3) { subsets_case(SIGFUSE_F16, SIGFUSE_REDUCTION_MEAN); }

Test(ref_focal, deterministic_sum_f32_33x31)
{
    sigfuse_ctx *ctx = tu_cpu_ctx();
    tu_rng rng = tu_rng_seed(9, "ref_focal.deterministic_sum_f32_33x31");
    enum { N = 33 * 31 };
    tu_buf x = tu_alloc(SIGFUSE_F32, N), y = tu_alloc(SIGFUSE_U8, N);
    tu_buf l1 = tu_alloc(SIGFUSE_F32, 1), l2 = tu_alloc(SIGFUSE_F32, 1);
    tu_fill_uniform(&x, &rng, -20, 20);
    tu_fill_binary(&y, &rng);
    focal_opt o = fopt(33, 31, SIGFUSE_REDUCTION_SUM, 0.25, 2.0);
    must_focal(ctx, &o, &(focal_io){.x = &x, .y = &y, .loss = &l1});
    must_focal(ctx, &o, &(focal_io){.x = &x, .y = &y, .loss = &l2});
    cr_expect(memcmp(tu_data(&l1), tu_data(&l2), 4) == 0, "sum differs between two runs");
    tu_free(&x); tu_free(&y); tu_free(&l1); tu_free(&l2);
    sigfuse_ctx_destroy(ctx);
}
