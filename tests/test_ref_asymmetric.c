/* SPDX-License-Identifier: MIT */
/*
 * The CPU reference of the asymmetric loss (ASL), checked through the public API: the
 * authors' formula in plain double at moderate logits, the focal loss without alpha at
 * margin 0 and equal gammas, central finite differences of the loss for gammas in
 * {0, 0.5, 1, 2, 4} and margins {0, 0.05, 0.2} with soft and hard targets, exact limits
 * and finite gradients at saturated and infinite logits, and NaN propagation.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "ref_check.h"
#include "testutil.h"

RC_CPU_CTX_FIXTURE
TestSuite(ref_asymmetric, .init = open_ctx, .fini = close_ctx);

typedef struct asl_opt {
    double gpos, gneg, margin;
} asl_opt;

/* One f64 call over 1 x n from arrays; loss per element (NONE) and dlogits. */
static void asl_eval(const asl_opt *o, int64_t n, const double *xs, const double *ys, double *loss, double *dx)
{
    tu_buf x = tu_from(SIGFUSE_F64, n, xs), y = tu_from(SIGFUSE_F64, n, ys);
    tu_buf l = tu_alloc(SIGFUSE_F64, n), d = tu_alloc(SIGFUSE_F64, n);
    sigfuse_asymmetric_args a;
    sigfuse_asymmetric_args_init(&a);
    a.rows = 1, a.cols = n, a.reduction = SIGFUSE_REDUCTION_NONE;
    a.gamma_pos = (float)o->gpos, a.gamma_neg = (float)o->gneg, a.margin = (float)o->margin;
    a.logits = &x.desc, a.targets = &y.desc, a.loss = &l.desc, a.dlogits = &d.desc;
    TU_OK(ctx, sigfuse_asymmetric(ctx, &a));
    for (int64_t i = 0; i < n; i++) {
        loss[i] = tu_get(&l, i);
        dx[i] = tu_get(&d, i);
    }
    RC_FREE(&x, &y, &l, &d);
}

static double sig(double x) { return 1.0 / (1.0 + exp(-x)); }

/* The formula as the paper writes it, in plain double (fine at moderate logits). */
static double asl_plain(double x, double y, const asl_opt *o)
{
    /* The options as the call stores them, in f32. */
    const double m = (float)o->margin, gp = (float)o->gpos, gn = (float)o->gneg;
    double p = sig(x), pm = fmax(p - m, 0.0);
    return -(y * pow(1.0 - p, gp) * log(p) + (1.0 - y) * pow(pm, gn) * log(1.0 - pm));
}

Test(ref_asymmetric, the_papers_formula_at_moderate_logits_f64_1x8)
{
    const double xs[8] = {-3.0, -1.0, -0.2, 0.0, 0.4, 1.5, 2.5, 4.0};
    const double ys[8] = {1, 0, 1, 0, 0.3, 0, 1, 0.8};
    const asl_opt opts[] = {{0, 4, 0.05}, {1, 4, 0.05}, {0, 0, 0}, {2, 2, 0}, {0.5, 3, 0.2}};
    for (int k = 0; k < 5; k++) {
        double loss[8], dx[8];
        asl_eval(&opts[k], 8, xs, ys, loss, dx);
        for (int i = 0; i < 8; i++) {
            const double want = asl_plain(xs[i], ys[i], &opts[k]);
            cr_expect(tu_close(loss[i], want, 1e-12, 1e-15), "opt %d x = %g y = %g: loss %.17g, want %.17g", k,
                      xs[i], ys[i], loss[i], want);
            /* The derivative of the plain formula, by central differences. */
            const double h = 1e-6;
            const double fd = (asl_plain(xs[i] + h, ys[i], &opts[k]) - asl_plain(xs[i] - h, ys[i], &opts[k])) / (2 * h);
            cr_expect(tu_close(dx[i], fd, 1e-6, 1e-9), "opt %d x = %g y = %g: dlogits %.17g, differences %.17g", k,
                      xs[i], ys[i], dx[i], fd);
        }
    }
}

/* Margin 0 with gamma_pos = gamma_neg = gamma is the focal loss without alpha, for hard
 * targets (with soft ones focal's (1 - p_t)^gamma mixes the two parts; ASL is linear in y). */
Test(ref_asymmetric, margin0_equal_gammas_is_focal_without_alpha_f64_1x64)
{
    enum { N = 64 };
    tu_rng rng = tu_rng_seed(16, "ref_asymmetric.focal");
    double xs[N], ys[N];
    for (int i = 0; i < N; i++) {
        xs[i] = tu_uniform(&rng, -30, 30);
        ys[i] = (double)(i % 2);
    }
    xs[0] = INFINITY, xs[1] = -INFINITY, xs[2] = 100.0, xs[3] = -100.0;
    const double gammas[] = {0.0, 0.5, 2.0, 3.5};
    for (int g = 0; g < 4; g++) {
        double al[N], ad[N], fl[N], fd[N];
        asl_eval(&(asl_opt){gammas[g], gammas[g], 0.0}, N, xs, ys, al, ad);
        const rc_loss_opt o = rc_focal_opt(1, N, SIGFUSE_REDUCTION_NONE, -1.0, gammas[g]);
        rc_loss_eval_f64(ctx, RC_FOCAL, &o, N, xs, ys, fl, fd);
        for (int i = 0; i < N; i++) {
            cr_expect(tu_close(al[i], fl[i], 1e-12, 1e-300) || (isinf(al[i]) && al[i] == fl[i]),
                      "gamma %g x = %g y = %g: loss %.17g, focal %.17g", gammas[g], xs[i], ys[i], al[i], fl[i]);
            cr_expect(tu_close(ad[i], fd[i], 1e-12, 1e-300), "gamma %g x = %g y = %g: dlogits %.17g, focal %.17g",
                      gammas[g], xs[i], ys[i], ad[i], fd[i]);
        }
    }
}

/* ---- Finite differences ----------------------------------------------------------------- */

typedef struct fd_problem {
    asl_opt o;
    tu_buf *x, *y;
} fd_problem;

static void loss_at(sigfuse_ctx *c, void *problem, tu_buf *loss)
{
    fd_problem *p = problem;
    sigfuse_asymmetric_args a;
    sigfuse_asymmetric_args_init(&a);
    a.rows = 1, a.cols = p->x->n, a.reduction = SIGFUSE_REDUCTION_NONE;
    a.gamma_pos = (float)p->o.gpos, a.gamma_neg = (float)p->o.gneg, a.margin = (float)p->o.margin;
    a.logits = &p->x->desc, a.targets = &p->y->desc, a.loss = &loss->desc;
    TU_OK(c, sigfuse_asymmetric(c, &a));
}

static void fd_case(double gamma, double margin, bool soft)
{
    enum { N = 97 };
    char name[96];
    snprintf(name, sizeof name, "ref_asymmetric.fd gamma=%g margin=%g soft=%d", gamma, margin, soft);
    tu_rng rng = tu_rng_seed(61, name);
    tu_buf x = tu_alloc(SIGFUSE_F64, N), y = tu_alloc(SIGFUSE_F64, N), up = tu_alloc(SIGFUSE_F64, N);
    tu_buf dx = tu_alloc(SIGFUSE_F64, N);
    for (int i = 0; i < N; i++) {
        double v = tu_uniform(&rng, -8, 8);
        /* Away from p = margin, where a negative's loss has a kink for gamma_neg = 0. */
        if (margin > 0.0 && fabs(sig(v) - margin) < 1e-3)
            v += 0.1;
        tu_set(&x, i, v);
    }
    if (soft)
        tu_fill_uniform(&y, &rng, 0, 1);
    else
        tu_fill_binary(&y, &rng);
    tu_fill_uniform(&up, &rng, -2, 2);
    fd_problem p = {{gamma * 0.5, gamma, margin}, &x, &y};
    sigfuse_asymmetric_args a;
    sigfuse_asymmetric_args_init(&a);
    a.rows = 1, a.cols = N, a.reduction = SIGFUSE_REDUCTION_NONE, a.grad_scale = 1.5f;
    a.gamma_pos = (float)p.o.gpos, a.gamma_neg = (float)p.o.gneg, a.margin = (float)margin;
    a.logits = &x.desc, a.targets = &y.desc, a.dloss_in = &up.desc, a.dlogits = &dx.desc;
    TU_OK(ctx, sigfuse_asymmetric(ctx, &a));
    tu_expect_loss_fd(name, ctx, loss_at, &p, true, &x, &y, &dx, 1.5, &up);
    RC_FREE(&x, &y, &up, &dx);
}

#define FD_TESTS(gname, g)                                                                  \
    Test(ref_asymmetric, fd_gamma##gname##_margin0_f64_1x97) { fd_case(g, 0.0, true); }      \
    Test(ref_asymmetric, fd_gamma##gname##_margin005_f64_1x97) { fd_case(g, 0.05, true); }   \
    Test(ref_asymmetric, fd_gamma##gname##_margin02_hard_f64_1x97) { fd_case(g, 0.2, false); }
FD_TESTS(0, 0.0)
FD_TESTS(05, 0.5)
FD_TESTS(1, 1.0)
FD_TESTS(2, 2.0)
FD_TESTS(4, 4.0)

/* SUM and MEAN: the sum of the elements' losses, over n for MEAN, and the gradient
 * scaled by grad_scale * dloss_in / n. */
Test(ref_asymmetric, reductions_and_scalar_upstream_f64_2x3)
{
    const double xs[6] = {-2, -0.5, 0, 0.7, 1.9, 3}, ys[6] = {1, 0, 0.5, 0, 1, 0};
    const asl_opt o = {0, 4, 0.05};
    double el[6], ed[6];
    asl_eval(&o, 6, xs, ys, el, ed);
    for (int red = SIGFUSE_REDUCTION_SUM; red <= SIGFUSE_REDUCTION_MEAN; red++) {
        tu_buf x = tu_from(SIGFUSE_F64, 6, xs), y = tu_from(SIGFUSE_F64, 6, ys), up = tu_from(SIGFUSE_F64, 1,
                                                                                             (double[]){-0.75});
        tu_buf l = tu_alloc(SIGFUSE_F64, 1), d = tu_alloc(SIGFUSE_F64, 6);
        sigfuse_asymmetric_args a;
        sigfuse_asymmetric_args_init(&a);
        a.rows = 2, a.cols = 3, a.reduction = (sigfuse_reduction)red, a.grad_scale = 2.0f;
        a.logits = &x.desc, a.targets = &y.desc, a.dloss_in = &up.desc, a.loss = &l.desc, a.dlogits = &d.desc;
        TU_OK(ctx, sigfuse_asymmetric(ctx, &a));
        const double div = red == SIGFUSE_REDUCTION_MEAN ? 6.0 : 1.0;
        double sum = 0.0;
        for (int i = 0; i < 6; i++) {
            sum += el[i];
            cr_expect(tu_close(tu_get(&d, i), ed[i] * 2.0 * -0.75 / div, 1e-15, 0), "red %d: dlogits[%d]", red, i);
        }
        cr_expect(tu_close(tu_get(&l, 0), sum / div, 1e-15, 0), "red %d: loss %.17g, want %.17g", red, tu_get(&l, 0),
                  sum / div);
        RC_FREE(&x, &y, &up, &l, &d);
    }
}

/* ---- Extremes ------------------------------------------------------------------------------ */

/* Exact limits at infinite logits, finite gradients at every saturated one, for gammas
 * in [0, 5] and margins 0 and 0.05. */
Test(ref_asymmetric, limits_and_finite_gradients_at_saturated_logits_f64)
{
    const double xs[] = {INFINITY, -INFINITY, 1e4, -1e4, 745.0, -745.0, 88.7, -88.7, 40.0, -40.0};
    enum { NX = sizeof xs / sizeof xs[0] };
    for (double g = 0.0; g <= 5.0; g += 0.25)
        for (int mk = 0; mk < 2; mk++) {
            const double margin = mk ? 0.05 : 0.0;
            const asl_opt o = {g, g + 1.0, margin};
            for (int t = 0; t < 3; t++) {
                const double y = t == 2 ? 0.3 : t;
                double ys[NX], loss[NX], dx[NX];
                for (int i = 0; i < NX; i++)
                    ys[i] = y;
                asl_eval(&o, NX, xs, ys, loss, dx);
                for (int i = 0; i < NX; i++) {
                    cr_expect(isfinite(dx[i]), "g %g margin %g y %g x %g: dlogits %g", g, margin, y, xs[i], dx[i]);
                    /* The loss is infinite only where a positive sits at -inf, or a negative
                     * at +inf without a margin. */
                    const bool inf = (xs[i] == -INFINITY && y > 0) || (xs[i] == INFINITY && y < 1 && margin == 0);
                    cr_expect(inf ? loss[i] == INFINITY : isfinite(loss[i]), "g %g margin %g y %g x %g: loss %g", g,
                              margin, y, xs[i], loss[i]);
                }
                if (t == 1) {   /* a positive: 0 at +inf, slope -1 at -inf */
                    cr_expect(loss[0] == 0.0 && dx[0] == 0.0, "positive at +inf: %g %g", loss[0], dx[0]);
                    cr_expect(dx[1] == -1.0, "positive at -inf: slope %g", dx[1]);
                }
                if (t == 0) {   /* a negative: 0 at -inf; at +inf slope 1 (margin 0) or 0 */
                    cr_expect(loss[1] == 0.0 && dx[1] == 0.0, "negative at -inf: %g %g", loss[1], dx[1]);
                    cr_expect(dx[0] == (margin == 0 ? 1.0 : 0.0), "negative at +inf: slope %g", dx[0]);
                    const double m = (float)margin, want = pow(1.0 - m, (float)o.gneg) * -log(m);
                    if (margin > 0)
                        cr_expect(tu_close(loss[0], want, 1e-14, 0), "negative at +inf: %.17g, want %.17g", loss[0],
                                  want);
                }
            }
        }
}

Test(ref_asymmetric, nan_propagates_f64_1x3)
{
    const double xs[3] = {NAN, 1.0, 1.0}, ys[3] = {1.0, NAN, 0.0};
    double loss[3], dx[3];
    asl_eval(&(asl_opt){0, 4, 0.05}, 3, xs, ys, loss, dx);
    cr_expect(isnan(loss[0]) && isnan(dx[0]), "NaN logit: %g %g", loss[0], dx[0]);
    cr_expect(isnan(loss[1]) && isnan(dx[1]), "NaN target: %g %g", loss[1], dx[1]);
    cr_expect(isfinite(loss[2]) && isfinite(dx[2]));
}
