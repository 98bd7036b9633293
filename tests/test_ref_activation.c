/* SPDX-License-Identifier: MIT */
/*
 * The CPU reference's activations (sigmoid, log-sigmoid, SiLU / swish-beta) through the
 * public API: known values and closed forms, backward against central finite differences
 * in f64, exact limits at the extremes, and f32/f16/bf16 results that are the f64 result
 * rounded once, on odd sizes, in place and at byte offsets.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "ref_check.h"
#include "sf_internal.h"
#include "testutil.h"

RC_CPU_CTX_FIXTURE
TestSuite(ref_sigmoid, .init = open_ctx, .fini = close_ctx);
TestSuite(ref_log_sigmoid, .init = open_ctx, .fini = close_ctx);
TestSuite(ref_silu, .init = open_ctx, .fini = close_ctx);
TestSuite(ref_activation, .init = open_ctx, .fini = close_ctx);

typedef enum act { ACT_SIGMOID, ACT_LOG_SIGMOID, ACT_SILU } act;

static const char *act_name(act op)
{
    return op == ACT_SIGMOID ? "sigmoid" : op == ACT_LOG_SIGMOID ? "log_sigmoid" : "silu";
}

static sigfuse_status fwd(sigfuse_ctx *ctx, act op, float beta, int64_t n,
                          const sigfuse_buffer *x, const sigfuse_buffer *y)
{
    switch (op) {
    case ACT_SIGMOID: return sigfuse_sigmoid_forward(ctx, n, x, y);
    case ACT_LOG_SIGMOID: return sigfuse_log_sigmoid_forward(ctx, n, x, y);
    case ACT_SILU: return sigfuse_silu_forward(ctx, n, beta, x, y);
    }
    return SIGFUSE_ERR_INVALID_ARGUMENT;
}

/* `in` is the saved output y for sigmoid and the input x for the others. */
static sigfuse_status bwd(sigfuse_ctx *ctx, act op, float beta, int64_t n,
                          const sigfuse_buffer *in, const sigfuse_buffer *dy,
                          const sigfuse_buffer *dx)
{
    switch (op) {
    case ACT_SIGMOID: return sigfuse_sigmoid_backward(ctx, n, in, dy, dx);
    case ACT_LOG_SIGMOID: return sigfuse_log_sigmoid_backward(ctx, n, in, dy, dx);
    case ACT_SILU: return sigfuse_silu_backward(ctx, n, beta, in, dy, dx);
    }
    return SIGFUSE_ERR_INVALID_ARGUMENT;
}

/* The op in one direction for the shared checks (ref_check.h): in = {x} or {x or y, dy}. */
static sigfuse_status act_run(sigfuse_ctx *ctx, const rc_ew_call *call, int64_t n, const tu_buf *const *in,
                              const tu_buf *const *out)
{
    if (call->backward)
        return bwd(ctx, (act)call->op, call->beta, n, &in[0]->desc, &in[1]->desc, &out[0]->desc);
    return fwd(ctx, (act)call->op, call->beta, n, &in[0]->desc, &out[0]->desc);
}

static rc_ew_call act_call(act op, bool backward, float beta)
{
    rc_ew_call c = {act_name(op), op, backward, beta, backward ? 2 : 1, 1, 1, act_run};
    return c;
}

/* The saved input and dy of the aliasing and offset checks: sigmoid's backward takes its
 * output y, in [0, 1]; the others take x. */
static void random_in_dy(act op, sigfuse_dtype dt, int64_t n, uint64_t seed, tu_buf in_dy[2])
{
    tu_rng rng = tu_rng_seed(seed, act_name(op));
    const double range[2][2] = {{op == ACT_SIGMOID ? 0.0 : -9.0, op == ACT_SIGMOID ? 1.0 : 9.0}, {-2.0, 2.0}};
    rc_random_bufs(in_dy, 2, dt, n, &rng, range);
}

/* ---- Known values -------------------------------------------------------------------- */

typedef struct known { double x, want; } known;

static void check_known(act op, float beta, bool backward, const known *k, size_t count,
                        double rtol)
{
    int64_t n = (int64_t)count;
    tu_buf x = tu_alloc(SIGFUSE_F64, n), dy = tu_alloc(SIGFUSE_F64, n);
    tu_buf out = tu_alloc(SIGFUSE_F64, n);
    for (int64_t i = 0; i < n; i++) {
        tu_set(&x, i, k[i].x);
        tu_set(&dy, i, 1.0);
    }
    if (backward)
        TU_OK(ctx, bwd(ctx, op, beta, n, &x.desc, &dy.desc, &out.desc));
    else
        TU_OK(ctx, fwd(ctx, op, beta, n, &x.desc, &out.desc));
    for (int64_t i = 0; i < n; i++)
        cr_expect(tu_close(tu_get(&out, i), k[i].want, rtol, 0.0),
                  "%s %s beta=%g x=%.17g: got %.17g want %.17g", act_name(op),
                  backward ? "backward" : "forward", beta, k[i].x, tu_get(&out, i), k[i].want);
    RC_FREE(&x, &dy, &out);
}

/* The wanted values come from 50-digit arithmetic (mpmath). */
Test(ref_sigmoid, forward_known_values_f64_n6)
{
    static const known k[] = {{0.0, 0.5},
                              {1.0, 0.73105857863000487925},
                              {-1.0, 0.26894142136999512075},
                              {2.0, 0.88079707797788244406},
                              {-3.5, 0.029312230751356318865},
                              {-30.0, 9.357622968839299e-14}};
    check_known(ACT_SIGMOID, 1.0f, false, k, sizeof k / sizeof k[0], 1e-15);
}

/* sigmoid backward takes y: at y = 0.5 the derivative is 1/4, at y = 0 and 1 it is 0. */
Test(ref_sigmoid, backward_known_values_f64_n4)
{
    static const known k[] = {{0.5, 0.25}, {0.0, 0.0}, {1.0, 0.0}, {0.25, 0.1875}};
    check_known(ACT_SIGMOID, 1.0f, true, k, sizeof k / sizeof k[0], 0.0);
}

Test(ref_log_sigmoid, forward_known_values_f64_n8)
{
    static const known k[] = {{0.0, -0.69314718055994530942},
                              {1.0, -0.31326168751822283405},
                              {-1.0, -1.313261687518222834},
                              {3.0, -0.048587351573742058759},
                              {20.0, -2.0611536203143807032e-9},
                              {40.0, -4.2483542552915889863e-18},
                              {-40.0, -40.0},
                              {-1e4, -1e4}};
    check_known(ACT_LOG_SIGMOID, 1.0f, false, k, sizeof k / sizeof k[0], 1e-15);
}

Test(ref_log_sigmoid, backward_known_values_f64_n4)
{
    static const known k[] = {{0.0, 0.5},
                              {1.0, 0.26894142136999512075},
                              {-1.0, 0.73105857863000487925},
                              {30.0, 9.357622968839299e-14}};
    check_known(ACT_LOG_SIGMOID, 1.0f, true, k, sizeof k / sizeof k[0], 1e-15);
}

/* -1e4 must come out as exactly -1e4 in f32, too (log1p(e^-1e4) vanishes). */
Test(ref_log_sigmoid, forward_minus_1e4_exact_f32_n1)
{
    double v = -1e4;
    tu_buf x = tu_from(SIGFUSE_F32, 1, &v), y = tu_alloc(SIGFUSE_F32, 1);
    TU_OK(ctx, sigfuse_log_sigmoid_forward(ctx, 1, &x.desc, &y.desc));
    cr_assert_eq(tu_get(&y, 0), -1e4);
    RC_FREE(&x, &y);
}

Test(ref_silu, forward_known_values_f64_beta1_n4)
{
    static const known k[] = {{0.0, 0.0},
                              {1.0, 0.73105857863000487925},
                              {-1.0, -0.26894142136999512075},
                              {2.0, 1.7615941559557648881}};
    check_known(ACT_SILU, 1.0f, false, k, sizeof k / sizeof k[0], 1e-15);
}

Test(ref_silu, backward_known_values_f64_beta1_n4)
{
    static const known k[] = {{0.0, 0.5},
                              {1.0, 0.92767051187148673179},
                              {-1.0, 0.072329488128513268211},
                              {2.0, 1.0907842487848954788}};
    check_known(ACT_SILU, 1.0f, true, k, sizeof k / sizeof k[0], 1e-15);
}

Test(ref_silu, known_values_f64_beta2_betaneg1_beta1p5_beta0)
{
    static const known f2[] = {{1.0, 0.88079707797788244406}};
    static const known b2[] = {{1.0, 1.0907842487848954788}};
    static const known fm1[] = {{1.0, 0.26894142136999512075}};
    static const known bm1[] = {{1.0, 0.072329488128513268211}};
    static const known f15[] = {{-2.0, -0.094851746355133561758}};
    static const known b15[] = {{-2.0, -0.088104106015169617069}};
    /* beta = 0: y = x / 2 and dy/dx = 1/2 everywhere, infinities included. */
    static const known f0[] = {{3.0, 1.5}, {-7.0, -3.5}, {INFINITY, INFINITY}, {-INFINITY, -INFINITY}};
    static const known b0[] = {{3.0, 0.5}, {-7.0, 0.5}, {INFINITY, 0.5}, {-INFINITY, 0.5}};
    check_known(ACT_SILU, 2.0f, false, f2, 1, 1e-15);
    check_known(ACT_SILU, 2.0f, true, b2, 1, 1e-15);
    check_known(ACT_SILU, -1.0f, false, fm1, 1, 1e-15);
    check_known(ACT_SILU, -1.0f, true, bm1, 1, 1e-15);
    check_known(ACT_SILU, 1.5f, false, f15, 1, 1e-15);
    check_known(ACT_SILU, 1.5f, true, b15, 1, 1e-15);
    check_known(ACT_SILU, 0.0f, false, f0, 4, 0.0);
    check_known(ACT_SILU, 0.0f, true, b0, 4, 0.0);
}

/* Against closed forms written differently from the reference (1 / (1 + e^-x) at every
 * x, the plain log), on random f64 inputs. */
Test(ref_activation, forward_closed_forms_f64_n1023)
{
    tu_rng rng = tu_rng_seed(1001, "ref_activation closed forms");
    const int64_t n = 1023;
    const float beta = 1.75f;
    tu_buf x = tu_alloc(SIGFUSE_F64, n), y = tu_alloc(SIGFUSE_F64, n);
    tu_fill_uniform(&x, &rng, -10.0, 10.0);
    for (int op = ACT_SIGMOID; op <= ACT_SILU; op++) {
        TU_OK(ctx, fwd(ctx, (act)op, beta, n, &x.desc, &y.desc));
        for (int64_t i = 0; i < n; i++) {
            double v = tu_get(&x, i), want;
            if (op == ACT_SIGMOID)
                want = 1.0 / (1.0 + exp(-v));
            else if (op == ACT_LOG_SIGMOID)
                want = -log(1.0 + exp(-v));
            else
                want = v / (1.0 + exp(-(double)beta * v));
            /* log(1 + t) loses ~1e-12 relative where t is small (x near +10). */
            cr_assert(tu_close(tu_get(&y, i), want, 1e-10, 0.0), "%s(%.17g): got %.17g want %.17g",
                      act_name((act)op), v, tu_get(&y, i), want);
        }
    }
    RC_FREE(&x, &y);
}

/* ---- Backward against central finite differences of the forward, in f64 --------------- */

/* What the differences hold fixed: the op and beta. */
typedef struct act_problem {
    act op;
    float beta;
} act_problem;

static void act_forward_at(sigfuse_ctx *ctx, const void *problem, const tu_buf *moved, tu_buf *out)
{
    const act_problem *p = problem;
    TU_OK(ctx, fwd(ctx, p->op, p->beta, moved->n, &moved->desc, &out->desc));
}

static void check_fd(act op, float beta, uint64_t seed)
{
    char what[64];
    snprintf(what, sizeof what, "%s beta=%g", act_name(op), beta);
    tu_rng rng = tu_rng_seed(seed, act_name(op));
    const int64_t n = 101;
    const double range[2][2] = {{-8.0, 8.0}, {-2.0, 2.0}};
    tu_buf x_dy[2];
    rc_random_bufs(x_dy, 2, SIGFUSE_F64, n, &rng, range);
    tu_buf *x = &x_dy[0], *dy = &x_dy[1];
    tu_buf y = tu_alloc(SIGFUSE_F64, n), dx = tu_alloc(SIGFUSE_F64, n);
    static const double fixed[] = {0.0, 0.5, -0.5, 3.0, -3.0, 1e-3, -20.0, 20.0};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        tu_set(x, (int64_t)i, fixed[i]);
    if (op == ACT_SIGMOID) {   /* backward from the saved output */
        TU_OK(ctx, fwd(ctx, op, beta, n, &x->desc, &y.desc));
        TU_OK(ctx, bwd(ctx, op, beta, n, &y.desc, &dy->desc, &dx.desc));
    } else {
        TU_OK(ctx, bwd(ctx, op, beta, n, &x->desc, &dy->desc, &dx.desc));
    }
    const act_problem problem = {op, beta};
    rc_assert_elementwise_fd(what, ctx, act_forward_at, &problem, "x", x, dy, &dx, NULL, NULL);
    RC_FREE(x, dy, &y, &dx);
}

Test(ref_sigmoid, backward_finite_difference_f64_n101) { check_fd(ACT_SIGMOID, 1.0f, 11); }
Test(ref_log_sigmoid, backward_finite_difference_f64_n101) { check_fd(ACT_LOG_SIGMOID, 1.0f, 12); }
Test(ref_silu, backward_finite_difference_f64_beta1_n101) { check_fd(ACT_SILU, 1.0f, 13); }
Test(ref_silu, backward_finite_difference_f64_beta1p702_n101) { check_fd(ACT_SILU, 1.702f, 14); }
Test(ref_silu, backward_finite_difference_f64_beta0_n101) { check_fd(ACT_SILU, 0.0f, 15); }
Test(ref_silu, backward_finite_difference_f64_betaneg0p75_n101) { check_fd(ACT_SILU, -0.75f, 16); }

/* ---- Extremes ------------------------------------------------------------------------- */

/* Per input: sigmoid, log_sigmoid, silu (beta 1) and the backward of the last two with
 * dy = 1 (wanted values from 50-digit arithmetic; infinities are the exact limits). */
typedef struct extreme { double x, sig, logsig, silu, dlogsig, dsilu; } extreme;

static const extreme extremes[] = {
    {INFINITY, 1.0, 0.0, INFINITY, 0.0, 1.0},
    {-INFINITY, 0.0, -INFINITY, 0.0, 1.0, 0.0},
    {1e4, 1.0, 0.0, 1e4, 0.0, 1.0},
    {-1e4, 0.0, -1e4, 0.0, 1.0, 0.0},
    {88.7, 1.0, -3.006626321563833e-39, 88.7, 3.006626321563833e-39, 1.0},
    {-88.7, 3.006626321563833e-39, -88.7, -2.66687754722712e-37, 1.0, -2.6368112840114816e-37},
    {0.0, 0.5, -0.69314718055994530942, 0.0, 0.5, 0.5},
};

Test(ref_activation, extremes_f64_n7)
{
    const int64_t n = sizeof extremes / sizeof extremes[0];
    tu_buf x = tu_alloc(SIGFUSE_F64, n), ones = tu_alloc(SIGFUSE_F64, n);
    tu_buf s = tu_alloc(SIGFUSE_F64, n), ls = tu_alloc(SIGFUSE_F64, n), si = tu_alloc(SIGFUSE_F64, n);
    tu_buf dls = tu_alloc(SIGFUSE_F64, n), dsi = tu_alloc(SIGFUSE_F64, n);
    for (int64_t i = 0; i < n; i++) {
        tu_set(&x, i, extremes[i].x);
        tu_set(&ones, i, 1.0);
    }
    TU_OK(ctx, sigfuse_sigmoid_forward(ctx, n, &x.desc, &s.desc));
    TU_OK(ctx, sigfuse_log_sigmoid_forward(ctx, n, &x.desc, &ls.desc));
    TU_OK(ctx, sigfuse_silu_forward(ctx, n, 1.0f, &x.desc, &si.desc));
    TU_OK(ctx, sigfuse_log_sigmoid_backward(ctx, n, &x.desc, &ones.desc, &dls.desc));
    TU_OK(ctx, sigfuse_silu_backward(ctx, n, 1.0f, &x.desc, &ones.desc, &dsi.desc));
    for (int64_t i = 0; i < n; i++) {
        const extreme *e = &extremes[i];
        const struct { const char *name; const tu_buf *got; double want; } cols[] = {
            {"sigmoid", &s, e->sig}, {"log_sigmoid", &ls, e->logsig}, {"silu", &si, e->silu},
            {"log_sigmoid'", &dls, e->dlogsig}, {"silu'", &dsi, e->dsilu}};
        for (size_t c = 0; c < sizeof cols / sizeof cols[0]; c++)
            cr_expect(tu_close(tu_get(cols[c].got, i), cols[c].want, 1e-14, 0.0),
                      "%s(%g): got %.17g want %.17g", cols[c].name, e->x,
                      tu_get(cols[c].got, i), cols[c].want);
    }
    RC_FREE(&x, &ones, &s, &ls, &si, &dls, &dsi);
}

/* NaN in gives NaN out, for every op and direction (sigmoid backward: NaN y). */
Test(ref_activation, nan_propagates_f32_n3)
{
    double xv[3] = {NAN, 1.0, NAN}, dyv[3] = {1.0, NAN, NAN};
    tu_buf x = tu_from(SIGFUSE_F32, 3, xv), dy = tu_from(SIGFUSE_F32, 3, dyv);
    tu_buf out = tu_alloc(SIGFUSE_F32, 3);
    for (int op = ACT_SIGMOID; op <= ACT_SILU; op++) {
        for (int beta_i = 0; beta_i < 3; beta_i++) {
            float beta = beta_i == 0 ? 1.0f : beta_i == 1 ? 0.0f : -2.0f;
            /* The poison is NaN already: zeros make sure a NaN comes from the op. */
            for (int64_t i = 0; i < 3; i++)
                tu_set(&out, i, 0.0);
            TU_OK(ctx, fwd(ctx, (act)op, beta, 3, &x.desc, &out.desc));
            cr_expect(isnan(tu_get(&out, 0)) && !isnan(tu_get(&out, 1)) && isnan(tu_get(&out, 2)),
                      "%s forward beta=%g", act_name((act)op), beta);
            for (int64_t i = 0; i < 3; i++)
                tu_set(&out, i, 0.0);
            TU_OK(ctx, bwd(ctx, (act)op, beta, 3, &x.desc, &dy.desc, &out.desc));
            for (int64_t i = 0; i < 3; i++)
                cr_expect(isnan(tu_get(&out, i)), "%s backward beta=%g [%lld]",
                          act_name((act)op), beta, (long long)i);
        }
    }
    RC_FREE(&x, &dy, &out);
}

/* Limits at +-inf for beta = 2 and beta = -1 (beta < 0 mirrors the curve). */
Test(ref_silu, infinite_limits_f32_beta2_betaneg1)
{
    double xv[2] = {INFINITY, -INFINITY}, ones[2] = {1.0, 1.0};
    tu_buf x = tu_from(SIGFUSE_F32, 2, xv), dy = tu_from(SIGFUSE_F32, 2, ones);
    tu_buf y = tu_alloc(SIGFUSE_F32, 2), dx = tu_alloc(SIGFUSE_F32, 2);
    TU_OK(ctx, sigfuse_silu_forward(ctx, 2, 2.0f, &x.desc, &y.desc));
    TU_OK(ctx, sigfuse_silu_backward(ctx, 2, 2.0f, &x.desc, &dy.desc, &dx.desc));
    cr_expect(tu_get(&y, 0) == INFINITY && tu_get(&y, 1) == 0.0);
    cr_expect(tu_get(&dx, 0) == 1.0 && tu_get(&dx, 1) == 0.0);
    TU_OK(ctx, sigfuse_silu_forward(ctx, 2, -1.0f, &x.desc, &y.desc));
    TU_OK(ctx, sigfuse_silu_backward(ctx, 2, -1.0f, &x.desc, &dy.desc, &dx.desc));
    cr_expect(tu_get(&y, 0) == 0.0 && tu_get(&y, 1) == -INFINITY, "got %g %g", tu_get(&y, 0),
              tu_get(&y, 1));
    cr_expect(tu_get(&dx, 0) == 0.0 && tu_get(&dx, 1) == 1.0, "got %g %g", tu_get(&dx, 0),
              tu_get(&dx, 1));
    RC_FREE(&x, &dy, &y, &dx);
}

/* The extremes in f32, f16, bf16: finite wherever the true value is, and equal to the f64
 * result rounded once (which puts -88.7's tiny sigmoid into f32's subnormals). */
static void check_extremes_dtype(sigfuse_dtype dt)
{
    static const double xs[] = {INFINITY, -INFINITY, NAN, 1e4, -1e4, 88.7, -88.7,
                                1e-40, -1e-40, 1e-5, 0.0, -0.0, 65504.0, -65504.0};
    const int64_t n = sizeof xs / sizeof xs[0];
    tu_buf x = tu_from(dt, n, xs), dy = tu_alloc(dt, n);
    for (int64_t i = 0; i < n; i++)
        tu_set(&dy, i, 1.0);
    tu_buf x64 = tu_copy_as(&x, SIGFUSE_F64), dy64 = tu_copy_as(&dy, SIGFUSE_F64);
    tu_buf out = tu_alloc(dt, n), out64 = tu_alloc(SIGFUSE_F64, n);
    tu_buf y = tu_alloc(dt, n), y64 = tu_alloc(SIGFUSE_F64, n);
    for (int op = ACT_SIGMOID; op <= ACT_SILU; op++) {
        for (int dir = 0; dir < 2; dir++) {
            char what[64];
            snprintf(what, sizeof what, "%s %s", act_name((act)op), dir ? "backward" : "forward");
            tu_poison(&out);
            if (dir == 0) {
                TU_OK(ctx, fwd(ctx, (act)op, 1.0f, n, &x.desc, &out.desc));
                TU_OK(ctx, fwd(ctx, (act)op, 1.0f, n, &x64.desc, &out64.desc));
            } else if (op == ACT_SIGMOID) {
                TU_OK(ctx, fwd(ctx, (act)op, 1.0f, n, &x.desc, &y.desc));
                for (int64_t i = 0; i < n; i++)
                    tu_set(&y64, i, tu_get(&y, i));
                TU_OK(ctx, bwd(ctx, (act)op, 1.0f, n, &y.desc, &dy.desc, &out.desc));
                TU_OK(ctx, bwd(ctx, (act)op, 1.0f, n, &y64.desc, &dy64.desc, &out64.desc));
            } else {
                TU_OK(ctx, bwd(ctx, (act)op, 1.0f, n, &x.desc, &dy.desc, &out.desc));
                TU_OK(ctx, bwd(ctx, (act)op, 1.0f, n, &x64.desc, &dy64.desc, &out64.desc));
            }
            tu_assert_rounded(&out, &out64, what);
            /* Every true value at a finite x is finite and no larger than |x| or 1, so
             * it also fits the dtype. */
            for (int64_t i = 0; i < n; i++) {
                double xi = tu_get(&x, i), o = tu_get(&out, i);
                if (isnan(xi))
                    cr_expect(isnan(o), "%s(NaN) = %g", what, o);
                else if (isfinite(xi))
                    cr_expect(isfinite(o), "%s(%g) = %g is not finite", what, xi, o);
            }
        }
    }
    /* The limits themselves, forward, for beta = 1. */
    TU_OK(ctx, sigfuse_sigmoid_forward(ctx, 2, &x.desc, &out.desc));
    cr_expect(tu_get(&out, 0) == 1.0 && tu_get(&out, 1) == 0.0);
    TU_OK(ctx, sigfuse_log_sigmoid_forward(ctx, 2, &x.desc, &out.desc));
    cr_expect(tu_get(&out, 0) == 0.0 && tu_get(&out, 1) == -INFINITY);
    TU_OK(ctx, sigfuse_silu_forward(ctx, 2, 1.0f, &x.desc, &out.desc));
    cr_expect(tu_get(&out, 0) == INFINITY && tu_get(&out, 1) == 0.0);
    RC_FREE(&x, &dy, &x64, &dy64, &out, &out64, &y, &y64);
}

Test(ref_activation, extremes_f32_n14) { check_extremes_dtype(SIGFUSE_F32); }
Test(ref_activation, extremes_f16_n14) { check_extremes_dtype(SIGFUSE_F16); }
Test(ref_activation, extremes_bf16_n14) { check_extremes_dtype(SIGFUSE_BF16); }

/* A subnormal f32 input: sigmoid 1/2, log_sigmoid -ln 2, silu x/2 (rounded once),
 * both derivatives 1/2. */
Test(ref_activation, subnormal_input_f32_n2)
{
    double xv[2] = {1e-40, -3e-42}, ones[2] = {1.0, 1.0};
    tu_buf x = tu_from(SIGFUSE_F32, 2, xv), dy = tu_from(SIGFUSE_F32, 2, ones);
    tu_buf y = tu_alloc(SIGFUSE_F32, 2);
    for (int64_t i = 0; i < 2; i++)
        cr_assert(tu_get(&x, i) != 0.0 && fabs(tu_get(&x, i)) < 0x1p-126, "x[%lld] is subnormal",
                  (long long)i);
    TU_OK(ctx, sigfuse_sigmoid_forward(ctx, 2, &x.desc, &y.desc));
    for (int64_t i = 0; i < 2; i++)
        cr_expect_eq(tu_get(&y, i), 0.5);
    TU_OK(ctx, sigfuse_log_sigmoid_forward(ctx, 2, &x.desc, &y.desc));
    for (int64_t i = 0; i < 2; i++)
        cr_expect_eq(tu_get(&y, i), (double)(float)-0.69314718055994530942);
    TU_OK(ctx, sigfuse_silu_forward(ctx, 2, 1.0f, &x.desc, &y.desc));
    for (int64_t i = 0; i < 2; i++)
        cr_expect_eq(tu_get(&y, i), sf_round_to_dtype(tu_get(&x, i) * 0.5, SIGFUSE_F32),
                     "silu(%g) = %g", tu_get(&x, i), tu_get(&y, i));
    TU_OK(ctx, sigfuse_log_sigmoid_backward(ctx, 2, &x.desc, &dy.desc, &y.desc));
    for (int64_t i = 0; i < 2; i++)
        cr_expect_eq(tu_get(&y, i), 0.5);
    TU_OK(ctx, sigfuse_silu_backward(ctx, 2, 1.0f, &x.desc, &dy.desc, &y.desc));
    for (int64_t i = 0; i < 2; i++)
        cr_expect_eq(tu_get(&y, i), 0.5);
    RC_FREE(&x, &dy, &y);
}

/* ---- Storage dtypes on odd sizes: the f64 result rounded once --------------------------- */

/* The input is x, or the saved output y (in [0, 1]) for sigmoid's backward; dy in [-3, 3]. */
static void check_dtype_case(act op, bool backward, sigfuse_dtype dt, int64_t n, float beta)
{
    const rc_ew_call call = act_call(op, backward, beta);
    const bool saved_y = backward && op == ACT_SIGMOID;
    const double range[2][2] = {{saved_y ? 0.0 : -12.0, saved_y ? 1.0 : 12.0}, {-3.0, 3.0}};
    rc_check_ew_dtype(ctx, &call, dt, n, 0x5eed0000u + (uint64_t)n * 31u + (uint64_t)dt * 7u + (uint64_t)op, range);
}

RC_ELEMENTWISE_DTYPE_TESTS(ref_sigmoid, check_dtype_case, ACT_SIGMOID)
RC_ELEMENTWISE_DTYPE_TESTS(ref_log_sigmoid, check_dtype_case, ACT_LOG_SIGMOID)
RC_ELEMENTWISE_DTYPE_TESTS(ref_silu, check_dtype_case, ACT_SILU)

Test(ref_silu, forward_bf16_beta1p702_n1023) { check_dtype_case(ACT_SILU, false, SIGFUSE_BF16, 1023, 1.702f); }
Test(ref_silu, backward_f16_betaneg0p5_n1023) { check_dtype_case(ACT_SILU, true, SIGFUSE_F16, 1023, -0.5f); }

/* Zero elements: success with NULL pointers in the descriptors (sigfuse.h allows it). */
Test(ref_activation, forward_backward_f32_n0_null_pointers)
{
    sigfuse_buffer none = sigfuse_host_buffer(NULL, SIGFUSE_F32);
    for (int op = ACT_SIGMOID; op <= ACT_SILU; op++) {
        TU_OK(ctx, fwd(ctx, (act)op, 1.0f, 0, &none, &none));
        TU_OK(ctx, bwd(ctx, (act)op, 1.0f, 0, &none, &none, &none));
    }
}

/* ---- In place and at byte offsets ------------------------------------------------------ */

/* y aliasing x, dx aliasing dy, and dx aliasing the saved input: each equal bit for bit
 * to the out-of-place result. */
static void check_in_place(act op, sigfuse_dtype dt)
{
    const int64_t n = 1023;
    const float beta = 1.25f;
    tu_buf in_dy[2];
    random_in_dy(op, dt, n, 2024 + (uint64_t)op, in_dy);
    const tu_buf *in = &in_dy[0], *dy = &in_dy[1];
    tu_buf want = tu_alloc(dt, n);

    tu_buf work = tu_copy_as(in, dt);
    TU_OK(ctx, fwd(ctx, op, beta, n, &in->desc, &want.desc));
    TU_OK(ctx, fwd(ctx, op, beta, n, &work.desc, &work.desc));
    tu_assert_bitwise(&work, &want, "forward y aliasing x");

    TU_OK(ctx, bwd(ctx, op, beta, n, &in->desc, &dy->desc, &want.desc));
    tu_buf dwork = tu_copy_as(dy, dt);
    TU_OK(ctx, bwd(ctx, op, beta, n, &in->desc, &dwork.desc, &dwork.desc));
    tu_assert_bitwise(&dwork, &want, "backward dx aliasing dy");
    tu_free(&work);
    work = tu_copy_as(in, dt);
    TU_OK(ctx, bwd(ctx, op, beta, n, &work.desc, &dy->desc, &work.desc));
    tu_assert_bitwise(&work, &want, "backward dx aliasing the saved input");
    RC_FREE(&in_dy[0], &in_dy[1], &want, &work, &dwork);
}

Test(ref_sigmoid, in_place_f32_n1023) { check_in_place(ACT_SIGMOID, SIGFUSE_F32); }
Test(ref_log_sigmoid, in_place_bf16_n1023) { check_in_place(ACT_LOG_SIGMOID, SIGFUSE_BF16); }
Test(ref_silu, in_place_f16_n1023) { check_in_place(ACT_SILU, SIGFUSE_F16); }

/* Buffers addressed through desc.offset (a whole number of elements past ptr) give the
 * same results as plain ones, and the guards around them survive. */
static void check_offsets(act op, sigfuse_dtype dt, size_t elements_off)
{
    const int64_t n = 517;
    const size_t off = elements_off * sigfuse_dtype_size(dt);
    tu_buf in_dy[2];
    random_in_dy(op, dt, n, 77 + (uint64_t)op, in_dy);
    const tu_buf *in = &in_dy[0], *dy = &in_dy[1];
    tu_buf in_o = tu_alloc_offset(dt, n, off), dy_o = tu_alloc_offset(dt, n, 2 * off);
    for (int64_t i = 0; i < n; i++) {
        tu_set(&in_o, i, tu_get(in, i));
        tu_set(&dy_o, i, tu_get(dy, i));
    }
    tu_buf want = tu_alloc(dt, n), got = tu_alloc_offset(dt, n, 3 * off);
    TU_OK(ctx, fwd(ctx, op, 1.0f, n, &in->desc, &want.desc));
    TU_OK(ctx, fwd(ctx, op, 1.0f, n, &in_o.desc, &got.desc));
    tu_assert_bitwise(&got, &want, "forward at offsets");
    tu_poison(&got);
    TU_OK(ctx, bwd(ctx, op, 1.0f, n, &in->desc, &dy->desc, &want.desc));
    TU_OK(ctx, bwd(ctx, op, 1.0f, n, &in_o.desc, &dy_o.desc, &got.desc));
    tu_assert_bitwise(&got, &want, "backward at offsets");
    cr_assert(tu_guards_ok(&in_o) && tu_guards_ok(&dy_o));
    RC_FREE(&in_dy[0], &in_dy[1], &in_o, &dy_o, &want, &got);
}

Test(ref_sigmoid, offsets_f16_n517) { check_offsets(ACT_SIGMOID, SIGFUSE_F16, 3); }
Test(ref_log_sigmoid, offsets_f32_n517) { check_offsets(ACT_LOG_SIGMOID, SIGFUSE_F32, 5); }
Test(ref_silu, offsets_bf16_n517) { check_offsets(ACT_SILU, SIGFUSE_BF16, 7); }
