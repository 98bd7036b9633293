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
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

/* Every 17th float of [0, 1] (63 million), plus the worst point of an exhaustive run
 * (0x1.f2ccf2p-1: 1.43 ulp) and the ends. SF_MATH_STRIDE=1 in the environment makes it
 * that exhaustive run (about 30 s); 1.5 ulp is its bound rounded up. */
Test(sf_math, log1p_unit_within_1_5_ulp_on_the_unit_interval)
{
    const uint32_t one = bits_of(1.0f);
    const char *env_stride = getenv("SF_MATH_STRIDE");
    const uint32_t stride = env_stride && atoi(env_stride) > 0 ? (uint32_t)atoi(env_stride) : 17;
    double worst = 0.0;
    float worst_at = 0.0f;
    for (uint32_t b = 0; b <= one; b += stride) {
        float e = f_of_bits(b);
        double d = ulps(sf_log1p_unit(e), log1p((double)e));
        if (d > worst) {
            worst = d;
            worst_at = e;
        }
    }
    const float points[] = {0x1.f2ccf2p-1f, 1.0f, 0x1p-149f, 0x1p-126f, 0x1p-24f, 0.5f};
    for (size_t i = 0; i < sizeof points / sizeof points[0]; i++) {
        double d = ulps(sf_log1p_unit(points[i]), log1p((double)points[i]));
        if (d > worst) {
            worst = d;
            worst_at = points[i];
        }
    }
    cr_expect(worst <= 1.5, "sf_log1p_unit: %.3f ulp at e = %a", worst, (double)worst_at);
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
Test(sf_math, softplus_and_log_sigmoid_within_4_ulp_everywhere)
{
    double worst = 0.0;
    float worst_at = 0.0f;
    for (uint64_t b = 0; b < 0x7f800000u; b += 97) {
        for (int sign = 0; sign < 2; sign++) {
            float x = f_of_bits((uint32_t)b | (sign ? 0x80000000u : 0u));
            double xd = x;
            double want = (xd > 0 ? xd : 0.0) + log1p(exp(-fabs(xd)));
            double d = ulps(sf_softplus(x), want);
            double dl = ulps(sf_log_sigmoid(-x), -want);
            if (dl > d)
                d = dl;
            if (d > worst) {
                worst = d;
                worst_at = x;
            }
        }
    }
    cr_expect(worst <= 4.0, "softplus: %.3f ulp at x = %a", worst, (double)worst_at);
    cr_expect(sf_softplus(INFINITY) == INFINITY);
    cr_expect(sf_softplus(-INFINITY) == 0.0f);
    cr_expect(sf_log_sigmoid(INFINITY) == 0.0f);
    cr_expect(sf_log_sigmoid(-INFINITY) == -INFINITY);
    cr_expect(isnan(sf_softplus(NAN)));
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
                    const float inner = (s - y) - gamma * sf_mul_limit(ratio, ce) * (2.0f * y - 1.0f);
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
