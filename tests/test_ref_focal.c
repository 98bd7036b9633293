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

#include "ref_check.h"
#include "sf_internal.h"
#include "testutil.h"

#define LN2 0.69314718055994530942

RC_CPU_CTX_FIXTURE
TestSuite(ref_focal, .init = open_ctx, .fini = close_ctx);

/* A call from its options and buffers (a NULL member is absent; ref_check.h). */
static void must_focal(const rc_loss_opt *o, const rc_loss_io *io) { rc_loss_must_run(ctx, RC_FOCAL, o, io); }

/* BCE with its defaults but for the reduction, for the gamma = 0 comparison. */
static void must_bce(int64_t rows, int64_t cols, sigfuse_reduction red, tu_buf *x, tu_buf *y, tu_buf *loss,
                     tu_buf *dx)
{
    const rc_loss_opt o = rc_bce_opt(rows, cols, red);
    rc_loss_must_run(ctx, RC_BCE, &o, &(rc_loss_io){.x = x, .y = y, .loss = loss, .dx = dx});
}

static double sig(double x) { return 1.0 / (1.0 + exp(-x)); }

/* ---- Known values ------------------------------------------------------------------- */

/* gamma = 0 without alpha is BCE, bit for bit, extremes included. */
static void equals_bce_case(sigfuse_dtype dt, sigfuse_dtype tdt, sigfuse_reduction red, bool soft)
{
    char name[96];
    snprintf(name, sizeof name, "ref_focal.equals_bce %s targets=%s red=%d soft=%d 9x7", sigfuse_dtype_name(dt),
             sigfuse_dtype_name(tdt), (int)red, soft);
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
    rc_loss_opt o = rc_focal_opt(R, C, red, -1.0, 0.0);
    must_focal(&o, &(rc_loss_io){.x = &x, .y = &y, .loss = &fl, .dx = &fd});
    must_bce(R, C, red, &x, &y, &bl, &bd);
    cr_expect(memcmp(tu_data(&fl), tu_data(&bl), fl.bytes) == 0, "%s: loss differs from BCE", name);
    cr_expect(memcmp(tu_data(&fd), tu_data(&bd), fd.bytes) == 0, "%s: dlogits differs from BCE", name);
    for (int64_t i = 0; i < N; i++)
        if (tu_get(&fd, i) != tu_get(&bd, i)) {
            cr_log_error("%s: first difference at %lld: %.17g vs %.17g (x = %g)", name, (long long)i,
                         tu_get(&fd, i), tu_get(&bd, i), tu_get(&x, i));
            break;
        }
    RC_FREE(&x, &y, &fl, &fd, &bl, &bd);
}

Test(ref_focal, gamma0_no_alpha_is_bce_none_f64_9x7) { equals_bce_case(SIGFUSE_F64, SIGFUSE_F64, SIGFUSE_REDUCTION_NONE, false); }
Test(ref_focal, gamma0_no_alpha_is_bce_soft_none_f64_9x7) { equals_bce_case(SIGFUSE_F64, SIGFUSE_F64, SIGFUSE_REDUCTION_NONE, true); }
Test(ref_focal, gamma0_no_alpha_is_bce_sum_f32_9x7) { equals_bce_case(SIGFUSE_F32, SIGFUSE_F32, SIGFUSE_REDUCTION_SUM, true); }
Test(ref_focal, gamma0_no_alpha_is_bce_mean_u8_bf16_9x7) { equals_bce_case(SIGFUSE_BF16, SIGFUSE_U8, SIGFUSE_REDUCTION_MEAN, false); }

Test(ref_focal, gamma0_no_alpha_ln2_at_zero_f64_1x2)
{
    const double xs[] = {0, 0}, ys[] = {0, 1};
    double loss[2], dx[2];
    const rc_loss_opt o = rc_focal_opt(1, 2, SIGFUSE_REDUCTION_NONE, -1.0, 0.0);
    rc_loss_eval_f64(ctx, RC_FOCAL, &o, 2, xs, ys, loss, dx);
    cr_expect_eq(loss[0], LN2);
    cr_expect_eq(loss[1], LN2);
    cr_expect_eq(dx[0], 0.5);
    cr_expect_eq(dx[1], -0.5);
}

/* alpha = 0.25, gamma = 2 by hand. For y = 1: loss = a (1-p)^2 (-log p) and
 * dloss/dx = a (1-p)^2 [2 p log p - (1 - p)]; for y = 0 (alpha_t = 1 - a):
 * loss = (1-a) p^2 (-log(1-p)) and dloss/dx = (1-a) p^2 [2 (1-p)(-log(1-p)) + p]. */
Test(ref_focal, hand_alpha025_gamma2_f64_1x4)
{
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
    double loss[4], dx[4], mean;
    rc_loss_opt o = rc_focal_opt(1, 4, SIGFUSE_REDUCTION_NONE, a, 2.0);
    rc_loss_eval_f64(ctx, RC_FOCAL, &o, 4, xs, ys, loss, dx);
    for (int i = 0; i < 4; i++) {
        cr_expect(tu_close(loss[i], want_l[i], 1e-13, 0), "loss[%d] = %.17g, want %.17g", i, loss[i], want_l[i]);
        cr_expect(tu_close(dx[i], want_g[i], 1e-13, 0), "dlogits[%d] = %.17g, want %.17g", i, dx[i], want_g[i]);
    }
    /* The first value written out, as a number a reader can check with a calculator:
     * 0.25 * 0.2689414213699951^2 * 0.31326168751822286. */
    cr_expect(tu_close(loss[0], 0.005664514377116832, 1e-14, 0), "loss[0] = %.17g", loss[0]);
    o.red = SIGFUSE_REDUCTION_MEAN;
    rc_loss_eval_f64(ctx, RC_FOCAL, &o, 4, xs, ys, &mean, NULL);
    cr_expect(tu_close(mean, (want_l[0] + want_l[1] + want_l[2] + want_l[3]) / 4, 1e-13, 0));
}

/* Soft targets by hand at alpha = 0.5 (alpha_t = 0.5 whatever y), gamma = 1:
 * p_t = p y + (1-p)(1-y), loss = 0.5 (1 - p_t) CE. */
Test(ref_focal, hand_soft_target_alpha05_gamma1_f64_1x2)
{
    const double xs[2] = {0.5, -1.5}, ys[2] = {0.3, 0.9};
    double loss[2];
    const rc_loss_opt o = rc_focal_opt(1, 2, SIGFUSE_REDUCTION_NONE, 0.5, 1.0);
    rc_loss_eval_f64(ctx, RC_FOCAL, &o, 2, xs, ys, loss, NULL);
    for (int i = 0; i < 2; i++) {
        double p = sig(xs[i]), yv = ys[i];
        double pt = p * yv + (1 - p) * (1 - yv);
        double ce = -(yv * log(p) + (1 - yv) * log(1 - p));
        double want = 0.5 * (1 - pt) * ce;
        cr_expect(tu_close(loss[i], want, 1e-13, 0), "loss[%d] = %.17g, want %.17g", i, loss[i], want);
    }
}

/* Reductions, grad_scale and upstream gradients on the upstream problem (ref_check.h): the
 * reduced results are the NONE ones (alpha 0.25, gamma 2) combined as documented, the
 * gradient within 1e-15, the loss exactly. */
static void upstream_case(sigfuse_reduction red, double grad_scale, bool with_dloss)
{
    double el[6], eg[6];
    const rc_loss_opt base = rc_focal_opt(2, 3, SIGFUSE_REDUCTION_NONE, 0.25, 2.0);
    rc_loss_eval_f64(ctx, RC_FOCAL, &base, 6, rc_upstream_x, rc_upstream_y, el, eg);
    rc_loss_opt o = rc_focal_opt(2, 3, red, 0.25, 2.0);
    o.grad_scale = grad_scale;
    rc_loss_upstream_case(ctx, RC_FOCAL, &o, with_dloss, el, eg, 1e-15, 0.0, 0.0);
}

RC_LOSS_UPSTREAM_TESTS(ref_focal, upstream_case)
Test(ref_focal, dloss_in_scalar_sum_grad_scale_f64_2x3) { upstream_case(SIGFUSE_REDUCTION_SUM, -0.5, true); }
Test(ref_focal, dloss_in_scalar_mean_f64_2x3) { upstream_case(SIGFUSE_REDUCTION_MEAN, 2.0, true); }

/* alpha = 1 zeroes the negatives, alpha = 0 the positives, even at infinite CE. */
Test(ref_focal, alpha_bounds_zero_weight_f64_1x4)
{
    const double xs[4] = {INFINITY, 2.0, -INFINITY, -2.0}, ys[4] = {0, 0, 1, 1};
    for (int k = 0; k < 2; k++) {
        double loss[4], dx[4];
        const rc_loss_opt o = rc_focal_opt(1, 4, SIGFUSE_REDUCTION_NONE, k == 0 ? 1.0 : 0.0, 2.0);
        rc_loss_eval_f64(ctx, RC_FOCAL, &o, 4, xs, ys, loss, dx);
        for (int i = k * 2; i < k * 2 + 2; i++) {
            cr_expect_eq(loss[i], 0.0, "alpha %d: loss[%d] = %g", 1 - k, i, loss[i]);
            cr_expect_eq(dx[i], 0.0, "alpha %d: dlogits[%d] = %g", 1 - k, i, dx[i]);
        }
    }
}

/* ---- Gradients against central finite differences, in f64 ----------------------------- */

typedef struct fd_case {
    int64_t rows, cols;
    sigfuse_reduction red;
    double alpha, gamma, grad_scale;
    bool dloss_in, soft_targets;
} fd_case;

/* The objective is grad_scale * dloss_in . loss (tu_expect_loss_fd, as in test_ref_bce.c). */
static void fd_check(const fd_case *c, uint64_t seed)
{
    char name[160];
    snprintf(name, sizeof name, "ref_focal.fd red=%d alpha=%g gamma=%g scale=%g dl=%d soft=%d %lldx%lld",
             (int)c->red, c->alpha, c->gamma, c->grad_scale, c->dloss_in, c->soft_targets, (long long)c->rows,
             (long long)c->cols);
    rc_loss_opt o = rc_focal_opt(c->rows, c->cols, c->red, c->alpha, c->gamma);
    o.grad_scale = c->grad_scale;
    rc_loss_fd_check(ctx, RC_FOCAL, &o, false, false, c->dloss_in, c->soft_targets, seed, name);
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
    const double sub = rc_smallest_subnormal(dt);
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
    tu_buf x = tu_from(dt, N, xs), y = tu_from(dt, N, ys), loss = tu_alloc(dt, N), dx = tu_alloc(dt, N);
    for (size_t gi = 0; gi < sizeof gammas / sizeof gammas[0]; gi++) {
        const double g = gammas[gi];
        tu_poison(&loss);
        tu_poison(&dx);
        rc_loss_opt o = rc_focal_opt(2, NX, SIGFUSE_REDUCTION_NONE, alpha, g);
        must_focal(&o, &(rc_loss_io){.x = &x, .y = &y, .loss = &loss, .dx = &dx});
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
    RC_FREE(&x, &y, &loss, &dx);
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
    const double xs[12] = {1e4, -1e4, 1e4, -1e4, 700, -700, 700, -700, 745, -745, 745, -745};
    const double ys[12] = {0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1};
    for (int k = 0; k <= 50; k++) {
        double g = (double)(float)(0.1 * k), loss[12], dx[12];
        const rc_loss_opt o = rc_focal_opt(1, 12, SIGFUSE_REDUCTION_NONE, 0.25, g);
        rc_loss_eval_f64(ctx, RC_FOCAL, &o, 12, xs, ys, loss, dx);
        for (int i = 0; i < 12; i++)
            cr_expect(isfinite(loss[i]) && isfinite(dx[i]), "gamma=%g x=%g y=%g: loss %g dlogits %g", g, xs[i], ys[i],
                      loss[i], dx[i]);
    }
}

/* Soft targets at infinite logits: the loss is +inf, the gradient its finite limit
 * alpha_t q^gamma (p - y) (the gamma term's p(1-p) CE tends to 0). */
Test(ref_focal, soft_target_infinite_logit_f64_1x2)
{
    const double xs[2] = {INFINITY, -INFINITY}, ys[2] = {0.25, 0.25};
    double loss[2], dx[2];
    const rc_loss_opt o = rc_focal_opt(1, 2, SIGFUSE_REDUCTION_NONE, -1.0, 2.0);
    rc_loss_eval_f64(ctx, RC_FOCAL, &o, 2, xs, ys, loss, dx);
    /* x = +inf: q = 1 - y = 0.75, p - y = 0.75; x = -inf: q = y = 0.25, p - y = -0.25. */
    cr_expect_eq(loss[0], INFINITY);
    cr_expect_eq(loss[1], INFINITY);
    cr_expect_eq(dx[0], 0.75 * 0.75 * 0.75);
    cr_expect_eq(dx[1], 0.25 * 0.25 * -0.25);
}

/* ---- Storage dtypes: the f64 result rounded once ------------------------------------------ */

/* alpha 0.25, grad_scale 0.5, targets u8 or the float dtype: rc_loss_dtype_case. */
static void dtype_case(sigfuse_dtype dt, int64_t rows, int64_t cols, sigfuse_reduction red, bool u8_targets,
                       double gamma, bool offsets)
{
    char name[160];
    snprintf(name, sizeof name, "ref_focal dtype=%s %lldx%lld red=%d targets=%s gamma=%g offsets=%d",
             sigfuse_dtype_name(dt), (long long)rows, (long long)cols, (int)red, u8_targets ? "u8" : "float", gamma,
             offsets);
    rc_loss_opt o = rc_focal_opt(rows, cols, red, 0.25, gamma);
    o.grad_scale = 0.5;
    rc_loss_dtype_case(ctx, RC_FOCAL, dt, &o, u8_targets, false, offsets, name);
}

static void dtype_sweep(sigfuse_dtype dt, int64_t rows, int64_t cols)
{
    const double gammas[3] = {2.0, 0.5, 0.0};
    for (int red = 0; red < 3; red++)
        for (int t = 0; t < 2; t++)
            dtype_case(dt, rows, cols, (sigfuse_reduction)red, t == 1, gammas[(red + t) % 3], (red + t) % 2 == 1);
}

RC_LOSS_DTYPE_TESTS(ref_focal, dtype_sweep)

/* ---- Fusion and determinism ------------------------------------------------------------- */

static void subsets_case(sigfuse_dtype dt, sigfuse_reduction red)
{
    char name[96];
    snprintf(name, sizeof name, "ref_focal.subsets %s red=%d 7x3", sigfuse_dtype_name(dt), (int)red);
    rc_loss_opt o = rc_focal_opt(7, 3, red, 0.25, 1.5);
    o.grad_scale = 1.25;
    rc_loss_subsets_case(ctx, RC_FOCAL, dt, &o, 78, name);
}

Test(ref_focal, output_subsets_none_f32_7x3) { subsets_case(SIGFUSE_F32, SIGFUSE_REDUCTION_NONE); }
Test(ref_focal, output_subsets_mean_f16_7x3) { subsets_case(SIGFUSE_F16, SIGFUSE_REDUCTION_MEAN); }

Test(ref_focal, deterministic_sum_f32_33x31)
{
    const rc_loss_opt o = rc_focal_opt(33, 31, SIGFUSE_REDUCTION_SUM, 0.25, 2.0);
    rc_loss_expect_deterministic(ctx, RC_FOCAL, &o, SIGFUSE_F32, SIGFUSE_U8, 9, "ref_focal.deterministic_sum_f32_33x31");
}
