/* SPDX-License-Identifier: MIT */
/*
 * The per-element math the CUDA and OpenCL kernels share (kernels/sf_math.h), compiled
 * here as plain C and checked against double precision: the hand-written log1p of the
 * softplus tail over a sweep of every float in [0, 1], the branch-free 0 * inf limit,
 * softplus / log-sigmoid over the whole float line, and the focal loss's power.
 * The backends' own tests check the same functions inside the kernels, against the
 * reference, at the end of each op.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The hardware approximations that sf_math.h takes for gradients stored in 16 bits
 * (SF_EXP2_APPROX, SF_RCP_APPROX: MUFU.EX2 and MUFU.RCP on CUDA), modelled on the host:
 * off by model_sign times twice their bounds (2^a: 2 ulp, flushed to 0 below 2^-126, as
 * ex2.approx.ftz; 1 / d: 1 ulp), or exact for model_sign = 0. */
static int model_sign;
static float model_ex2(float a)
{
    const double r = exp2((double)a);
    return r < 0x1p-126 ? 0.0f : (float)(r * (1.0 + model_sign * 0x1p-21));
}
static float model_rcp(float d) { return (float)(1.0 / (double)d * (1.0 + model_sign * 0x1p-22)); }
#define SF_EXP2_APPROX(a) model_ex2(a)
#define SF_RCP_APPROX(d) model_rcp(d)

#include "../kernels/sf_math.h"

static float f_of_bits(uint32_t b)
{
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

static uint32_t bits_of(float f)
{
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

/* The unit in the last place of an f32 of magnitude m, at least 2^-149 (also for m = 0,
 * where ilogb would give INT_MIN). */
static double f32_unit(double m)
{
    int ex = 0;
    frexp(m, &ex);
    double u = ldexp(1.0, ex - 24);
    return m > 0.0 && u > 0x1p-149 ? u : 0x1p-149;
}

/* |got - want| in units of the last place of the float nearest want. */
static double ulps(float got, double want)
{
    int ex = 0;
    frexp(want, &ex);
    double u = ldexp(1.0, ex - 24);
    if (u < 0x1p-149)
        u = 0x1p-149;
    return fabs((double)got - want) / u;
}

/* The largest error seen so far and where: keep_worst takes each point's. */
typedef struct worst {
    double d;
    float at;
} worst;

static void keep_worst(worst *w, double d, float x)
{
    if (d > w->d) {
        w->d = d;
        w->at = x;
    }
}

/* The worst of err(x) over every 97th float of either sign, zero to the largest finite. */
static worst worst_over_every_97th_float(double (*err)(float x))
{
    worst w = {0.0, 0.0f};
    for (uint64_t b = 0; b < 0x7f800000u; b += 97)
        for (int sign = 0; sign < 2; sign++) {
            const float x = f_of_bits((uint32_t)b | (sign ? 0x80000000u : 0u));
            keep_worst(&w, err(x), x);
        }
    return w;
}

/* Every 17th float of [0, 1] (63 million), plus the worst point of an exhaustive run
 * (0x1.f2ccf2p-1: 1.43 ulp) and the ends. SF_MATH_STRIDE=1 in the environment makes it
 * that exhaustive run (about 30 s); 1.5 ulp is its bound rounded up. */
Test(sf_math, log1p_unit_within_1_5_ulp_on_the_unit_interval)
{
    const uint32_t one = bits_of(1.0f);
    const char *env_stride = getenv("SF_MATH_STRIDE");
    const uint32_t stride = env_stride && atoi(env_stride) > 0 ? (uint32_t)atoi(env_stride) : 17;
    worst w = {0.0, 0.0f};
    for (uint32_t b = 0; b <= one; b += stride) {
        float e = f_of_bits(b);
        keep_worst(&w, ulps(sf_log1p_unit(e), log1p((double)e)), e);
    }
    const float points[] = {0x1.f2ccf2p-1f, 1.0f, 0x1p-149f, 0x1p-126f, 0x1p-24f, 0.5f};
    for (size_t i = 0; i < sizeof points / sizeof points[0]; i++)
        keep_worst(&w, ulps(sf_log1p_unit(points[i]), log1p((double)points[i])), points[i]);
    cr_expect(w.d <= 1.5, "sf_log1p_unit: %.3f ulp at e = %a", w.d, (double)w.at);
    cr_expect(bits_of(sf_log1p_unit(0.0f)) == 0u, "log1p(+0) must be +0");
    cr_expect(isnan(sf_log1p_unit(NAN)), "NaN must propagate");
}

/* The 0 * inf limit without branches: same values as the spelled-out rule. */
Test(sf_math, mul_limit_takes_zero_times_infinity_as_zero_and_keeps_nan)
{
    const float inf = INFINITY;
    const struct {
        float a, b, want;   /* want NaN: expect NaN */
    } cases[] = {
        {0.0f, inf, 0.0f},  {inf, 0.0f, 0.0f},  {-0.0f, -inf, 0.0f}, {-inf, 0.0f, 0.0f},
        {0.0f, NAN, NAN},   {NAN, 0.0f, NAN},   {inf, NAN, NAN},     {NAN, NAN, NAN},
        {inf, inf, inf},    {-inf, 2.0f, -inf}, {2.0f, 3.0f, 6.0f},  {0.0f, -5.0f, 0.0f},
        {1e30f, 1e30f, inf}, {0.5f, 0x1p-149f, 0.0f},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        float got = sf_mul_limit(cases[i].a, cases[i].b);
        if (isnan(cases[i].want))
            cr_expect(isnan(got), "mul_limit(%g, %g) = %g, want NaN", (double)cases[i].a, (double)cases[i].b,
                      (double)got);
        else
            cr_expect(got == cases[i].want, "mul_limit(%g, %g) = %g, want %g", (double)cases[i].a,
                      (double)cases[i].b, (double)got, (double)cases[i].want);
    }
}

/* softplus(x) = max(x, 0) + log1p(e^-|x|) and log sigma(x) = -softplus(-x) over every
 * 97th float of either sign, against double. The f32 exp and the tail add up to a few
 * ulp; 4 is the bound. Infinities give the exact limits. */
static double softplus_error(float x)
{
    double xd = x;
    double want = (xd > 0 ? xd : 0.0) + log1p(exp(-fabs(xd)));
    double d = ulps(sf_softplus(x), want), dl = ulps(sf_log_sigmoid(-x), -want);
    return dl > d ? dl : d;
}

Test(sf_math, softplus_and_log_sigmoid_within_4_ulp_everywhere)
{
    const worst w = worst_over_every_97th_float(softplus_error);
    cr_expect(w.d <= 4.0, "softplus: %.3f ulp at x = %a", w.d, (double)w.at);
    cr_expect(sf_softplus(INFINITY) == INFINITY);
    cr_expect(sf_softplus(-INFINITY) == 0.0f);
    cr_expect(sf_log_sigmoid(INFINITY) == 0.0f);
    cr_expect(sf_log_sigmoid(-INFINITY) == -INFINITY);
    cr_expect(isnan(sf_softplus(NAN)));
}

/* sech^2(x) = 1 - tanh(x)^2 as m (2 - m) over every 97th float of either sign, against
 * double: the f32 exp, the reciprocal and three roundings stay under 5 ulp (4.5 seen on
 * a sample of [2^-12, 40]); the limits at +-inf and 0 are exact. Subnormal results (|x|
 * past 44) are held to the same count of 2^-149 (ulps()). */
static double tanh_grad_error(float x)
{
    double c = cosh((double)x);
    return ulps(sf_tanh_grad(x), 1.0 / (c * c));
}

Test(sf_math, tanh_grad_within_5_ulp_everywhere)
{
    const worst w = worst_over_every_97th_float(tanh_grad_error);
    cr_log_info("sf_tanh_grad: worst %.3f ulp at x = %a", w.d, (double)w.at);
    cr_expect(w.d <= 5.0, "sf_tanh_grad: %.3f ulp at x = %a", w.d, (double)w.at);
    cr_expect(sf_tanh_grad(0.0f) == 1.0f);
    cr_expect(sf_tanh_grad(INFINITY) == 0.0f && sf_tanh_grad(-INFINITY) == 0.0f);
    cr_expect(isnan(sf_tanh_grad(NAN)));
}

/* q^gamma: gamma 2 and 1 are exact products (one rounding), others are pow's. */
Test(sf_math, pow_unit_rounds_once_for_gamma_two_and_one)
{
    for (int i = 0; i <= 1000; i++) {
        float q = (float)i / 1000.0f;
        cr_expect(sf_pow_unit(q, 2.0f) == (float)((double)q * (double)q), "q = %g", (double)q);
        cr_expect(sf_pow_unit(q, 1.0f) == q);
        cr_expect(ulps(sf_pow_unit(q, 2.5f), pow((double)q, 2.5)) <= 2.0, "q = %g", (double)q);
        cr_expect(sf_pow_unit(q, 0.0f) == 1.0f);
    }
    cr_expect(isnan(sf_pow_unit(NAN, 2.0f)));
}

/* The same float, zero's sign included, or both NaN. */
static int same_value(float a, float b)
{
    return (isnan(a) && isnan(b)) || (a == b && signbit(a) == signbit(b));
}

/* Two floats agree: the same value (either zero sign), both NaN, or within 2 ulp (the
 * plain products of the fast path may be contracted into fma by a compiler where the
 * limits' products round one by one). */
static int agree(float a, float b)
{
    if (isnan(a) || isnan(b))
        return isnan(a) && isnan(b);
    if (a == b)
        return 1;
    if (isinf(a) || isinf(b))
        return 0;
    double m = fabs((double)a) > fabs((double)b) ? fabs((double)a) : fabs((double)b);
    return ulps(a, (double)b) <= 2.0 || fabs((double)a - (double)b) <= m * 0x1p-22;
}

/* The values every input of the loss functions takes below: zeros, ordinary values,
 * saturating logits (|x| >= 104 makes the softplus tail 0), huge, infinite, NaN and the
 * smallest subnormal. */
static const float loss_inputs[] = {0.0f, -0.0f, 1.0f, -1.0f, 0.5f, 2.0f, -3.0f, 1e30f, -1e30f,
                                    200.0f, -200.0f, INFINITY, -INFINITY, NAN, 0x1p-149f};
#define N_LOSS_INPUTS (sizeof loss_inputs / sizeof loss_inputs[0])

/* sf_bce_loss_grad takes plain products and falls back to the 0 * inf limits only where
 * they give NaN. Over every combination of the inputs above for x, y', w and p its loss
 * must be what the limits give everywhere (the definition before that fast path), and the
 * gradient unchanged. */
Test(sf_math, bce_fast_path_gives_the_limits_loss_on_every_special_input)
{
    int bad = 0;
    for (size_t ix = 0; ix < N_LOSS_INPUTS; ix++)
        for (size_t iy = 0; iy < N_LOSS_INPUTS; iy++)
            for (size_t iw = 0; iw < N_LOSS_INPUTS; iw++)
                for (size_t ip = 0; ip < N_LOSS_INPUTS; ip++) {
                    const float x = loss_inputs[ix], ys = loss_inputs[iy], w = loss_inputs[iw],
                                p = loss_inputs[ip];
                    float s, sn, sp, spn, loss, grad, sig;
                    sf_logit_terms(x, &s, &sn, &sp, &spn);
                    const float neg = 1.0f - ys, pos = p * ys;
                    const float want = sf_mul_limit(w, sf_mul_limit(neg, sp) + sf_mul_limit(pos, spn));
                    const float want_grad = w * (neg * s - pos * sn);
                    sf_bce_loss_grad(x, ys, w, p, &loss, &grad, &sig);
                    if (!agree(loss, want) || !agree(grad, want_grad) || !agree(sig, sf_sigmoid(x))) {
                        if (bad++ < 10)
                            cr_log_error("bce(x=%g, y'=%g, w=%g, p=%g): loss %g grad %g, want %g %g", (double)x,
                                         (double)ys, (double)w, (double)p, (double)loss, (double)grad,
                                         (double)want, (double)want_grad);
                    }
                }
    cr_expect(bad == 0, "%d combinations differ", bad);
    /* The limits themselves, through the fast path's fallback. */
    float loss, grad, sig;
    sf_bce_loss_grad(INFINITY, 1.0f, 1.0f, 1.0f, &loss, &grad, &sig);
    cr_expect(loss == 0.0f && grad == 0.0f, "x = +inf, y = 1: loss %g grad %g", (double)loss, (double)grad);
    sf_bce_loss_grad(-INFINITY, 0.0f, 1.0f, 1.0f, &loss, &grad, &sig);
    cr_expect(loss == 0.0f && grad == 0.0f, "x = -inf, y = 0: loss %g grad %g", (double)loss, (double)grad);
    sf_bce_loss_grad(-INFINITY, 1.0f, 1.0f, 1.0f, &loss, &grad, &sig);
    cr_expect(loss == INFINITY && grad == -1.0f, "x = -inf, y = 1: loss %g grad %g", (double)loss, (double)grad);
}

/* The shorter forms of the BCE loss: without pos_weight (p = 1) and with hard targets (u8).
 * Over every combination of the special inputs, each must give what the limits give (the
 * definition) for the loss and the plain products for the gradient, with its fallback
 * taken where its own loss is not finite. */
Test(sf_math, bce_unit_and_hard_forms_give_the_limits_loss_on_every_special_input)
{
    int bad = 0;
    for (size_t ix = 0; ix < N_LOSS_INPUTS; ix++)
        for (size_t iy = 0; iy < N_LOSS_INPUTS; iy++)
            for (size_t iw = 0; iw < N_LOSS_INPUTS; iw++) {
                const float x = loss_inputs[ix], ys = loss_inputs[iy], w = loss_inputs[iw];
                float s, sn, sp, spn, loss, grad, sig;
                sf_logit_terms(x, &s, &sn, &sp, &spn);
                const float want = sf_bce_loss_limits(x, ys, w, 1.0f);
                const float want_grad = w * ((1.0f - ys) * s - ys * sn);
                sf_bce_unit_loss_grad(x, ys, w, &loss, &grad, &sig);
                /* Targets outside [0, 1]: the terms of the plain form cancel (x = 0, y' = 1e30:
                 * 0 where the value is ln 2); there the bound is 4 ulp of the largest term. */
                const double largest = fabs((double)w) * (fabs(1.0 - (double)ys) * sp + fabs((double)ys) * spn);
                const bool cancels = (ys < 0.0f || ys > 1.0f) && isfinite(loss) && isfinite(want) &&
                                     fabs((double)loss - (double)want) <= 4.0 * largest * 0x1p-23;
                if ((!agree(loss, want) && !cancels) || !agree(grad, want_grad) || !agree(sig, s)) {
                    if (bad++ < 10)
                        cr_log_error("bce unit(x=%g, y'=%g, w=%g): loss %g grad %g, want %g %g", (double)x,
                                     (double)ys, (double)w, (double)loss, (double)grad, (double)want,
                                     (double)want_grad);
                }
                for (int t = 0; t <= 1; t++) {
                    const float p = ys;   /* pos_weight over the same special values */
                    const float want_h = sf_bce_loss_limits(x, (float)t, w, p);
                    const float want_hg = w * ((1.0f - (float)t) * s - (p * (float)t) * sn);
                    sf_bce_hard_loss_grad(x, t, w, p, &loss, &grad, &sig);
                    if (!agree(loss, want_h) || !agree(grad, want_hg) || !agree(sig, s)) {
                        if (bad++ < 10)
                            cr_log_error("bce hard(x=%g, t=%d, w=%g, p=%g): loss %g grad %g, want %g %g", (double)x,
                                         t, (double)w, (double)p, (double)loss, (double)grad, (double)want_h,
                                         (double)want_hg);
                    }
                    /* The CUDA loss kernels' selection form: the same values as the hard form's
                     * plain products (NaN where they are NaN), which the limits then replace. */
                    float lp, gp, sgp, ls, gs, sgs;
                    sf_bce_hard_loss_grad_plain(x, t, w, p, &lp, &gp, &sgp);
                    sf_bce_hard_sel_loss_grad_plain(x, t, w, p, &ls, &gs, &sgs);
                    if (!same_value(lp, ls) || !same_value(gp, gs) || !same_value(sgp, sgs)) {
                        if (bad++ < 10)
                            cr_log_error("bce hard_sel(x=%g, t=%d, w=%g, p=%g): %g %g %g, hard form %g %g %g",
                                         (double)x, t, (double)w, (double)p, (double)ls, (double)gs, (double)sgs,
                                         (double)lp, (double)gp, (double)sgp);
                    }
                }
            }
    cr_expect(bad == 0, "%d combinations differ", bad);
}

/* The same for the focal loss, over x, y and alpha, at gamma 2 (RetinaNet's), 0, 1 and 1.5. */
Test(sf_math, focal_fast_path_gives_the_limits_loss_on_every_special_input)
{
    const float gammas[] = {2.0f, 0.0f, 1.0f, 1.5f};
    const float alphas[] = {0.25f, -1.0f, 0.0f, 1.0f};
    int bad = 0;
    for (size_t ig = 0; ig < 4; ig++)
        for (size_t ia = 0; ia < 4; ia++)
            for (size_t ix = 0; ix < N_LOSS_INPUTS; ix++)
                for (size_t iy = 0; iy < N_LOSS_INPUTS; iy++) {
                    const float x = loss_inputs[ix], y = loss_inputs[iy], alpha = alphas[ia], gamma = gammas[ig];
                    float s, sn, sp, spn, loss, grad;
                    sf_logit_terms(x, &s, &sn, &sp, &spn);
                    const float q = y * sn + (1.0f - y) * s;
                    const float ce = sf_mul_limit(1.0f - y, sp) + sf_mul_limit(y, spn);
                    const float at = sf_focal_alpha_t(alpha, y);
                    const float qg = sf_pow_unit(q, gamma);
                    const float want = sf_mul_limit(at, sf_mul_limit(qg, ce));
                    const float ratio = q == 0.0f ? 1.0f : (s * sn) / q;
                    const float inner = ((1.0f - y) * s - y * sn) - gamma * sf_mul_limit(ratio, ce) * (2.0f * y - 1.0f);
                    const float want_grad = at * qg * inner;
                    sf_focal_loss_grad(x, y, alpha, gamma, &loss, &grad);
                    if (!agree(loss, want) || !agree(grad, want_grad)) {
                        if (bad++ < 10)
                            cr_log_error("focal(x=%g, y=%g, alpha=%g, gamma=%g): loss %g grad %g, want %g %g",
                                         (double)x, (double)y, (double)alpha, (double)gamma, (double)loss,
                                         (double)grad, (double)want, (double)want_grad);
                    }
                }
    cr_expect(bad == 0, "%d combinations differ", bad);
}

/* ---- Against double, where the f32 forms used to lose digits ------------------------- */

static double sigma_d(double x) { return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x)); }
static double softplus_d(double x) { return (x > 0 ? x : 0.0) + log1p(exp(-fabs(x))); }

/* The focal gradient in double from the same closed form as the header's (the reference
 * backend checks that form against finite differences): alpha_t q^gamma [(p - y) -
 * gamma p (1 - p) / q (2y - 1) CE]. Also its largest term, the scale of its rounding. */
static double focal_grad_d(double x, double y, double alpha, double gamma, double *largest)
{
    double s = sigma_d(x), sn = sigma_d(-x);
    double q = y * sn + (1 - y) * s;
    double ce = (1 - y) * softplus_d(x) + y * softplus_d(-x);
    double at = alpha < 0 ? 1.0 : alpha * y + (1 - alpha) * (1 - y);
    double qg = pow(q, gamma);
    double ratio = q == 0 ? 1.0 : s * sn / q;
    double t1 = (1 - y) * s, t2 = y * sn, t3 = gamma * ratio * ce * (2 * y - 1);
    double m = fabs(t1) > fabs(t2) ? fabs(t1) : fabs(t2);
    *largest = fabs(at * qg) * (m > fabs(t3) ? m : fabs(t3));
    return at * qg * ((t1 - t2) - t3);
}

/* Saturated logits with hard targets: (p - y) formed as s - y cancelled to 0 once
 * sigma(x) rounded to 1 (x = 17, y = 1 gave 0 where the gradient is -4.1e-8, and a third
 * off at gamma = 2). The gradient is then a sum of terms of one sign, so it must be
 * accurate relative to itself: 4 ulp plus, for q^gamma, gamma times q's own error (q is
 * sigma(-x), a few ulp). Soft targets: within 4 (+ gamma) ulp of the largest term. */
Test(sf_math, focal_gradient_keeps_its_digits_at_saturated_logits)
{
    const float xs[] = {-104.0f, -100.0f, -88.7f, -30.0f, -17.0f, -15.0f, -5.0f, -0.5f, 0.0f,
                        0.5f,    5.0f,    15.0f,  17.0f,  30.0f,  88.7f,  100.0f, 104.0f};
    const float ys[] = {0.0f, 1.0f, 0.25f, 0.5f, 0.9f};
    const float gammas[] = {0.0f, 0.5f, 1.0f, 2.0f, 5.0f};
    const float alphas[] = {-1.0f, 0.25f};
    double worst = 0.0;
    char worst_case[160] = "";
    for (size_t ix = 0; ix < sizeof xs / sizeof xs[0]; ix++)
        for (size_t iy = 0; iy < sizeof ys / sizeof ys[0]; iy++)
            for (size_t ig = 0; ig < 5; ig++)
                for (size_t ia = 0; ia < 2; ia++) {
                    const float x = xs[ix], y = ys[iy], g = gammas[ig], a = alphas[ia];
                    float loss, grad;
                    sf_focal_loss_grad(x, y, a, g, &loss, &grad);
                    double largest;
                    double want = focal_grad_d(x, y, a, g, &largest);
                    bool hard = y == 0.0f || y == 1.0f;
                    double unit_of_largest = f32_unit(largest);
                    double d = hard ? ulps(grad, want) : fabs((double)grad - want) / unit_of_largest;
                    double bound = 4.0 + g;
                    cr_expect(d <= bound, "focal'(x=%g, y=%g, alpha=%g, gamma=%g) = %.9g, truth %.9g: %.2f ulp > %g",
                              (double)x, (double)y, (double)a, (double)g, (double)grad, want, d, bound);
                    if (d > worst) {
                        worst = d;
                        snprintf(worst_case, sizeof worst_case, "x=%g y=%g alpha=%g gamma=%g: %.9g vs %.9g",
                                 (double)x, (double)y, (double)a, (double)g, (double)grad, want);
                    }
                }
    cr_log_info("focal gradient: worst %.2f ulp at %s", worst, worst_case);
    float loss, grad;
    sf_focal_loss_grad(17.0f, 1.0f, -1.0f, 0.0f, &loss, &grad);
    cr_expect(grad < 0.0f, "x = 17, y = 1, gamma = 0: the gradient is -4.14e-8, got %g", (double)grad);
}

/* The gamma = 2 form without the division (sf_focal2_loss_grad, the soft path of the
 * CUDA gamma-2 kernels and of OpenCL at gamma 2) against double, beside the general form
 * at gamma 2 (sf_focal_loss_grad): every 1/64 of [-110, 110] over soft and hard targets
 * and alpha with and without its term, the loss in ulps of itself (a product of terms >= 0)
 * and the gradient in ulps of its largest term (hard targets: of itself), as above. The
 * general form is off by up to ~13 ulp there (the errors of sigma, squared in q^2, and of
 * the soft target's terms; the two forms round differently point by point), so the check
 * is that the new one is no worse over the sweep, and within the 12 ulp the backend suites
 * allow the focal loss (tests/testutil.c, long_formulas) at every point. At the special
 * inputs it gives the general form's values, NaN and inf included. */
Test(sf_math, focal_gamma_two_form_no_worse_than_the_general_form)
{
    const float ys[] = {0.0f, 1.0f, 0.25f, 0.5f, 0.9f, 0.999f, 1e-3f, 0x1p-149f};
    const float alphas[] = {-1.0f, 0.25f, 0.0f, 1.0f};
    double worst[2][2] = {{0}};   /* [general, gamma-2 form][loss, gradient] */
    for (int i = 0; i <= 220 * 64; i++) {
        const float x = -110.0f + (float)i / 64.0f;
        for (size_t iy = 0; iy < sizeof ys / sizeof ys[0]; iy++)
            for (size_t ia = 0; ia < 4; ia++) {
                const float y = ys[iy], a = alphas[ia];
                double largest;
                const double want_g = focal_grad_d(x, y, a, 2.0, &largest);
                const double s = sigma_d(x), sn = sigma_d(-(double)x), yd = y;
                const double q = yd * sn + (1 - yd) * s;
                const double at = a < 0 ? 1.0 : a * yd + (1 - (double)a) * (1 - yd);
                const double want_l = at * q * q * ((1 - yd) * softplus_d(x) + yd * softplus_d(-(double)x));
                const bool hard = y == 0.0f || y == 1.0f;
                const double unit = f32_unit(largest);
                double d[2][2];
                for (int form = 0; form < 2; form++) {
                    float loss, grad;
                    if (form)
                        sf_focal2_loss_grad(x, y, a, &loss, &grad);
                    else
                        sf_focal_loss_grad(x, y, a, 2.0f, &loss, &grad);
                    d[form][0] = ulps(loss, want_l);
                    d[form][1] = hard ? ulps(grad, want_g) : fabs((double)grad - want_g) / unit;
                    worst[form][0] = fmax(worst[form][0], d[form][0]);
                    worst[form][1] = fmax(worst[form][1], d[form][1]);
                }
                cr_expect(d[1][0] <= 12.0 && d[1][1] <= 12.0,
                          "focal2(x=%a, y=%a, alpha=%g): loss %.2f ulp (general form %.2f), gradient %.2f ulp (%.2f)",
                          (double)x, (double)y, (double)a, d[1][0], d[0][0], d[1][1], d[0][1]);
            }
    }
    cr_log_info("focal gamma 2: loss worst %.2f ulp (general form %.2f), gradient %.2f ulp (general form %.2f)",
                worst[1][0], worst[0][0], worst[1][1], worst[0][1]);
    cr_expect(worst[1][0] <= worst[0][0] && worst[1][1] <= worst[0][1]);
    int bad = 0;
    for (size_t ia = 0; ia < 4; ia++)
        for (size_t ix = 0; ix < N_LOSS_INPUTS; ix++)
            for (size_t iy = 0; iy < sizeof ys / sizeof ys[0]; iy++) {
                const float x = loss_inputs[ix], y = ys[iy], a = alphas[ia];
                float l1, g1, l2, g2;
                sf_focal_loss_grad(x, y, a, 2.0f, &l1, &g1);
                sf_focal2_loss_grad(x, y, a, &l2, &g2);
                if (!agree(l1, l2) || !agree(g1, g2)) {
                    if (bad++ < 10)
                        cr_log_error("focal(x=%a, y=%a, alpha=%g): general %a %a, gamma-2 form %a %a", (double)x,
                                     (double)y, (double)a, (double)l1, (double)g1, (double)l2, (double)g2);
                }
            }
    cr_expect(bad == 0, "%d combinations differ", bad);
}

/* The focal gradient at gamma 2 for 16-bit outputs (sf_focal2_hard_grad16: the hardware's
 * 2^a and 1 / d, the short tail) against double, with the hardware's errors modelled at
 * twice their bounds either way: within 2^-12 of the truth, relative (inside one f16 ulp,
 * 2^-11 to 2^-10 relative; bf16's is 8 times wider), where the truth is a normal f32, and
 * within 2^-135 (below half of bf16's subnormal spacing) where it is smaller. Every 1/64 of
 * [-110, 110], both targets, alpha with and without its term; the special inputs give
 * sf_focal_hard_grad's values to the same bound, NaN, inf and 0 alike. */
Test(sf_math, focal_gamma_two_16_bit_gradient_within_2_to_the_minus_12)
{
    const float alphas[] = {-1.0f, 0.25f, 0.0f, 1.0f};
    double worst = 0.0;
    char worst_case[160] = "";
    int bad = 0;
    for (model_sign = -1; model_sign <= 1; model_sign++)
        for (int i = 0; i <= 220 * 64 + (int)N_LOSS_INPUTS; i++) {
            const bool special = i > 220 * 64;
            const float x = special ? loss_inputs[i - 220 * 64 - 1] : -110.0f + (float)i / 64.0f;
            for (int t = 0; t <= 1; t++)
                for (size_t ia = 0; ia < 4; ia++) {
                    const float ats = sf_focal_signed_alpha(alphas[ia], t);
                    const float g = sf_focal2_hard_grad16(x, t, ats);
                    double largest;
                    const double want = special ? (double)sf_focal_hard_grad(x, t, ats, 2.0f)
                                                : focal_grad_d(x, t, alphas[ia], 2.0, &largest);
                    bool ok;
                    double rel = 0.0;
                    if (isnan(want) || isinf(want) || want == 0.0)
                        ok = isnan(want) ? isnan(g) : (double)g == want;
                    else if (fabs(want) < 0x1p-126)
                        ok = fabs((double)g - want) <= 0x1p-135;
                    else {
                        rel = fabs((double)g - want) / fabs(want);
                        ok = rel <= 0x1p-12;
                    }
                    if (rel > worst) {
                        worst = rel;
                        snprintf(worst_case, sizeof worst_case, "x=%a t=%d alpha=%g model %+d: %a vs %a", (double)x, t,
                                 (double)alphas[ia], model_sign, (double)g, want);
                    }
                    if (!ok && bad++ < 10)
                        cr_log_error("focal2 16-bit grad(x=%a, t=%d, alpha=%g, model %+d) = %a, want %a", (double)x, t,
                                     (double)alphas[ia], model_sign, (double)g, want);
                }
        }
    model_sign = 0;
    cr_log_info("focal gamma 2, 16-bit gradient: worst %.3g relative (2^%.1f) at %s", worst, log2(worst), worst_case);
    cr_expect(bad == 0, "%d points off", bad);
}

/* x sigma(bx) and its derivative where they are subnormal (x below about -87): formed
 * from a subnormal sigma they lost up to 48 ulp (x = -100). Now within 1 ulp of the
 * subnormal result (2^-149; 4 ulp where it is normal), and a large upstream gradient or GLU operand that brings the
 * product back into the normal range keeps f32 accuracy (4 ulp). Every 1/64 of [-112, -60]. */
static double bound_at(double truth) { return fabs(truth) < 0x1p-126 ? 1.0 : 4.0; }

Test(sf_math, silu_and_glu_keep_their_digits_in_the_subnormal_range)
{
    double worst_fwd = 0, worst_bwd = 0, worst_big = 0;
    for (int i = 0; i <= 52 * 64; i++) {
        const float x = -112.0f + (float)i / 64.0f;
        const double xd = x;
        /* silu and its derivative, dy = 1 and dy = 0.75 */
        double want = xd * sigma_d(xd);
        double d = ulps(sf_silu_fwd(1.0f, x), want);
        cr_expect(d <= bound_at(want), "silu(%a) = %a, truth %a: %.2f ulp", (double)x, (double)sf_silu_fwd(1.0f, x),
                  want, d);
        worst_fwd = fmax(worst_fwd, d);
        double wg = sigma_d(xd) * (1.0 + xd * sigma_d(-xd));
        d = fmax(ulps(sf_silu_bwd(1.0f, x, 1.0f), wg), ulps(sf_silu_bwd(1.0f, x, 0.75f), 0.75 * wg));
        cr_expect(d <= bound_at(wg), "silu'(%a): %.2f ulp", (double)x, d);
        worst_bwd = fmax(worst_bwd, d);
        /* swiglu with a large a, glu, log-sigmoid backward with a large dy: normal results */
        const float a = 0x1p60f;
        double big = ulps(sf_swiglu_fwd(1.0f, a, x), (double)a * want);
        big = fmax(big, ulps(sf_glu_fwd(a, x), (double)a * sigma_d(xd)));
        big = fmax(big, ulps(sf_log_sigmoid_bwd(-x, a), (double)a * sigma_d(xd)));
        float da, db;
        sf_swiglu_bwd(1.0f, a, x, 1.0f, &da, &db);
        big = fmax(big, fmax(ulps(da, want), ulps(db, (double)a * wg)));
        sf_glu_bwd(a, x, 1.0f, &da, &db);
        big = fmax(big, ulps(db, (double)a * sigma_d(xd) * sigma_d(-xd)));
        sf_glu_bwd(a, -x, 1.0f, &da, &db);
        big = fmax(big, ulps(db, (double)a * sigma_d(xd) * sigma_d(-xd)));
        cr_expect(big <= 4.0, "x = %a: products with a = 2^60 off by %.2f ulp", (double)x, big);
        worst_big = fmax(worst_big, big);
    }
    cr_log_info("silu: worst %.2f ulp, silu' %.2f ulp, scaled products %.2f ulp", worst_fwd, worst_bwd, worst_big);
    cr_expect(sf_silu_fwd(1.0f, -INFINITY) == 0.0f && signbit(sf_silu_fwd(1.0f, -INFINITY)));
    cr_expect(sf_silu_fwd(1.0f, INFINITY) == INFINITY);
    cr_expect(sf_silu_bwd(1.0f, -INFINITY, 1.0f) == 0.0f);
    cr_expect(sf_silu_bwd(1.0f, INFINITY, 1.0f) == 1.0f);
    cr_expect(sf_silu_fwd(0.0f, -INFINITY) == -INFINITY);
    cr_expect(isnan(sf_silu_fwd(1.0f, NAN)) && isnan(sf_silu_bwd(1.0f, NAN, 1.0f)));
}

/* The hard-target focal form (u8 targets, and float targets that are all 0 or 1) is the
 * soft form at y = 0 and 1, with the ratio an exact selection instead of a division: the
 * same values within 2 ulp on ordinary and saturated logits, and the same limits (NaN for
 * NaN) at the special inputs; so is its gradient alone (sf_focal_hard_grad). */
Test(sf_math, focal_hard_targets_agree_with_the_soft_form)
{
    const float gammas[] = {0.0f, 0.5f, 1.0f, 2.0f, 5.0f};
    const float alphas[] = {-1.0f, 0.25f, 0.0f, 1.0f};
    int bad = 0;
    for (size_t ig = 0; ig < 5; ig++)
        for (size_t ia = 0; ia < 4; ia++)
            for (int t = 0; t <= 1; t++) {
                for (size_t ix = 0; ix < N_LOSS_INPUTS + 200; ix++) {
                    const float x = ix < N_LOSS_INPUTS ? loss_inputs[ix] : -110.0f + 1.1f * (float)(ix - N_LOSS_INPUTS);
                    float l1, g1, l2, g2;
                    sf_focal_loss_grad(x, (float)t, alphas[ia], gammas[ig], &l1, &g1);
                    sf_focal_hard_loss_grad(x, t, alphas[ia], gammas[ig], &l2, &g2);
                    /* The gradient alone, without the fallback the loss takes. */
                    const float g3 = sf_focal_hard_grad(x, t, sf_focal_signed_alpha(alphas[ia], t), gammas[ig]);
                    if (!agree(l1, l2) || !agree(g1, g2) || !agree(g1, g3)) {
                        if (bad++ < 10)
                            cr_log_error("focal(x=%a, t=%d, alpha=%g, gamma=%g): soft %a %a, hard %a %a", (double)x, t,
                                         (double)alphas[ia], (double)gammas[ig], (double)l1, (double)g1, (double)l2,
                                         (double)g2);
                    }
                }
            }
    cr_expect(bad == 0, "%d combinations differ", bad);
}

/* Against double: for targets in [0, 1] the loss is a sum of terms >= 0, so each form must
 * be within 4 ulp of the loss itself; the p = 1 form (one fma) and the hard-target form
 * (selections) round no more than the plain products. Every 1/64 of [-120, 120]. */
Test(sf_math, bce_loss_forms_within_4_ulp_of_double)
{
    const float ys[] = {0.0f, 1.0f, 0.25f, 0.5f, 0.9f, 0.999f, 1e-3f};
    double worst_plain = 0.0, worst_unit = 0.0, worst_hard = 0.0;
    for (int i = 0; i <= 240 * 64; i++) {
        const float x = -120.0f + (float)i / 64.0f;
        for (size_t iy = 0; iy < sizeof ys / sizeof ys[0]; iy++) {
            const float y = ys[iy];
            const double truth = (1.0 - y) * softplus_d(x) + (double)y * softplus_d(-(double)x);
            float lp, lu, g, sig;
            sf_bce_loss_grad(x, y, 1.0f, 1.0f, &lp, &g, &sig);
            sf_bce_unit_loss_grad(x, y, 1.0f, &lu, &g, &sig);
            worst_plain = fmax(worst_plain, ulps(lp, truth));
            worst_unit = fmax(worst_unit, ulps(lu, truth));
            cr_expect(ulps(lu, truth) <= 4.0, "bce unit loss(x=%a, y=%g) = %a, truth %a", (double)x, (double)y,
                      (double)lu, truth);
            if (y == 0.0f || y == 1.0f) {
                float lh;
                sf_bce_hard_loss_grad(x, y != 0.0f, 1.0f, 1.0f, &lh, &g, &sig);
                const double gt = y != 0.0f ? -sigma_d(-(double)x) : sigma_d(x);
                worst_hard = fmax(worst_hard, fmax(ulps(lh, truth), ulps(g, gt)));
                cr_expect(ulps(lh, truth) <= 4.0 && ulps(g, gt) <= 4.0, "bce hard(x=%a, t=%g): loss %a grad %a",
                          (double)x, (double)y, (double)lh, (double)g);
            }
        }
    }
    cr_log_info("bce loss: worst plain %.2f ulp, p = 1 form %.2f ulp, hard form (loss and gradient) %.2f ulp",
                worst_plain, worst_unit, worst_hard);
}

/* The asymmetric loss's f32 form against the f64 reference (the same call in f64 on the
 * CPU backend): loss and gradient within the suite's limit for it (tu_ulp_limit_f32) of
 * the magnitude at which their f32 terms round (tu_scale_asymmetric), the exact limits at
 * +-inf, NaN where the reference has it.
 * Every 1/32 of [-110, 110] and the specials, for the usual setting, margin 0, soft and
 * hard targets, integer and fractional gammas. */
#include "testutil.h"

Test(sf_math, asymmetric_within_the_ulp_contract_of_the_reference)
{
    enum { NX = 220 * 32 + 1 + 6 };
    static float xs[NX];
    for (int i = 0; i < 220 * 32 + 1; i++)
        xs[i] = -110.0f + (float)i / 32.0f;
    const float specials[6] = {INFINITY, -INFINITY, NAN, 1e30f, -1e30f, 0x1p-140f};
    memcpy(xs + 220 * 32 + 1, specials, sizeof specials);
    const float opts[][3] = {{0.0f, 4.0f, 0.05f}, {0.0f, 4.0f, 0.0f}, {1.0f, 2.0f, 0.2f},
                             {2.5f, 0.5f, 0.05f}, {0.0f, 0.0f, 0.0f}, {3.0f, 1.0f, 0.5f}};
    const float ys[] = {0.0f, 1.0f, 0.3f, 0.85f};
    sigfuse_ctx *ctx = tu_cpu_ctx();
    double worst = 0.0;
    int bad = 0;
    const double limit = tu_ulp_limit_f32("asymmetric(", "loss");
    for (size_t io = 0; io < sizeof opts / sizeof opts[0]; io++)
        for (size_t iy = 0; iy < sizeof ys / sizeof ys[0]; iy++) {
            tu_buf x = tu_alloc(SIGFUSE_F64, NX), y = tu_alloc(SIGFUSE_F64, NX);
            tu_buf l = tu_alloc(SIGFUSE_F64, NX), d = tu_alloc(SIGFUSE_F64, NX);
            for (int i = 0; i < NX; i++) {
                tu_set(&x, i, xs[i]);
                tu_set(&y, i, ys[iy]);
            }
            sigfuse_asymmetric_args a;
            sigfuse_asymmetric_args_init(&a);
            a.rows = 1, a.cols = NX, a.reduction = SIGFUSE_REDUCTION_NONE;
            a.gamma_pos = opts[io][0], a.gamma_neg = opts[io][1], a.margin = opts[io][2];
            a.logits = &x.desc, a.targets = &y.desc, a.loss = &l.desc, a.dlogits = &d.desc;
            TU_OK(ctx, sigfuse_asymmetric(ctx, &a));
            for (int i = 0; i < NX; i++) {
                float lf, gf;
                sf_asl_loss_grad(xs[i], ys[iy], opts[io][0], opts[io][1], opts[io][2], &lf, &gf);
                double ml, mg;
                tu_scale_asymmetric(xs[i], ys[iy], opts[io][0], opts[io][1], opts[io][2], &ml, &mg);
                const double tl = tu_get(&l, i), tg = tu_get(&d, i);
                const double el = isfinite(tl) ? fabs(lf - tl) / tu_ulp32(ml > 0 ? ml : fabs(tl)) : 0.0;
                const double eg = isfinite(tg) ? fabs(gf - tg) / tu_ulp32(mg > 0 ? mg : fabs(tg)) : 0.0;
                const bool same_special = (isfinite(tl) ? isfinite(lf) : tu_same(lf, tl)) &&
                                          (isfinite(tg) ? isfinite(gf) : tu_same(gf, tg));
                worst = fmax(worst, fmax(el, eg));
                if (!(el <= limit && eg <= limit && same_special) && bad++ < 20)
                    cr_log_error("asl(x=%a, y=%g, g+=%g, g-=%g, m=%g): loss %a vs %a (%.2f ulp), grad %a vs %a (%.2f ulp)",
                                 (double)xs[i], (double)ys[iy], (double)opts[io][0], (double)opts[io][1],
                                 (double)opts[io][2], (double)lf, tl, el, (double)gf, tg, eg);
            }
            tu_free(&x), tu_free(&y), tu_free(&l), tu_free(&d);
        }
    sigfuse_ctx_destroy(ctx);
    cr_log_info("asymmetric: worst %.2f ulp", worst);
    cr_expect(bad == 0, "%d elements outside the contract", bad);
}
