/* SPDX-License-Identifier: MIT */
/*
 * sigfuse per-element math, shared by the CUDA kernels (cuda/, .cu) and the OpenCL
 * kernels (opencl/, .cl): one definition of each idea, in f32, in the stable forms the
 * CPU reference (ref/, in double) defines. Plain C99/OpenCL C: float math only,
 * no C++, no pointers to anything but private floats.
 *
 *   sigma(x) for x < 0 as e^x / (1 + e^x) (exp of a non-positive number only);
 *   1 - sigma(x) as sigma(-x);  softplus(x) = max(x, 0) + log1p(e^-|x|);
 *   1 - tanh(x)^2 as sech(x)^2 (no cancellation once tanh rounds to +-1).
 * Never compiled with fast-math: the limits at +-inf and NaN propagation are part of the
 * contract (tests/test_backend_ops.c checks them against the reference).
 */
#ifndef SF_MATH_H
#define SF_MATH_H

#if defined(__CUDACC__)
#define SF_FN __device__ __forceinline__
#define SF_EXP(x) expf(x)
#define SF_FMA(a, b, c) fmaf(a, b, c)
#define SF_FABS(x) fabsf(x)
#define SF_TANH(x) tanhf(x)
#define SF_POW(x, y) powf(x, y)
#define SF_COPYSIGN(x, y) copysignf(x, y)
#define SF_ISNAN(x) isnan(x)
#define SF_ISINF(x) isinf(x)
#define SF_LOG(x) logf(x)
#define SF_LOG1P(x) log1pf(x)
#elif defined(__OPENCL_VERSION__)
/* static: under C99 inline rules a plain `inline` function has no external definition,
 * and an OpenCL compiler that declines to inline it (-cl-opt-disable) fails to link. */
#define SF_FN static inline
#define SF_EXP(x) exp(x)
#define SF_FMA(a, b, c) fma(a, b, c)
#define SF_FABS(x) fabs(x)
#define SF_TANH(x) tanh(x)
#define SF_POW(x, y) pow(x, y)
#define SF_COPYSIGN(x, y) copysign(x, y)
#define SF_ISNAN(x) isnan(x)
#define SF_ISINF(x) isinf(x)
#define SF_LOG(x) log(x)
#define SF_LOG1P(x) log1p(x)
#else
/* Plain C host (a unit test of this header may include it directly). */
#include <math.h>
#define SF_FN static inline
#define SF_EXP(x) expf(x)
#define SF_FMA(a, b, c) fmaf(a, b, c)
#define SF_FABS(x) fabsf(x)
#define SF_TANH(x) tanhf(x)
#define SF_POW(x, y) powf(x, y)
#define SF_COPYSIGN(x, y) copysignf(x, y)
#define SF_ISNAN(x) isnan(x)
#define SF_ISINF(x) isinf(x)
#define SF_LOG(x) logf(x)
#define SF_LOG1P(x) log1pf(x)
#endif

/* 1 / d for d in [1, 2] (or NaN), the denominator 1 + e^-|x| of every sigmoid here.
 * On CUDA the fast path of the IEEE division, which gives the correctly rounded quotient
 * for every d in that range: the hardware reciprocal (within 1 ulp) and one Newton step,
 * the same instructions as the division's, without the range test, branch and slow-path
 * call a general division carries (about half of its instructions). Elsewhere a plain
 * division. */
#if defined(__CUDACC__)
SF_FN float sf_rcp_unit(float d)
{
    float r;
    asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(d));
    return fmaf(r, -fmaf(d, r, -1.0f), r);
}
#else
SF_FN float sf_rcp_unit(float d) { return 1.0f / d; }
#endif

/* num / q for q in [0, 1] (the focal loss's p (1 - p) / q), 1 where q = 0. On CUDA the
 * hardware reciprocal of q 2^64 and one Newton step (the reciprocal's approximation
 * flushes subnormals; q 2^64 is normal for every q >= 2^-149), without the range tests,
 * branches and slow-path call of a general division in every element; elsewhere a
 * division. num 2^64 cannot overflow: num <= 1/4 here. */
#if defined(__CUDACC__)
SF_FN float sf_ratio_unit(float num, float q)
{
    float qs = q * 0x1p64f;
    float r;
    asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(qs));
    r = fmaf(r, -fmaf(qs, r, -1.0f), r);
    float v = (num * 0x1p64f) * r;
    return q == 0.0f ? 1.0f : v;
}
#else
SF_FN float sf_ratio_unit(float num, float q) { return q == 0.0f ? 1.0f : num / q; }
#endif

/* log1p(e) for e in [0, 1] only (the tail log1p(e^-|x|) of softplus), NaN in, NaN out.
 * e + e^2 q(e), q a degree-8 polynomial fitted to (log1p(e) - e) / e^2 on [0, 1]
 * (mpmath chebyfit; |error of q| < 2.94e-8), evaluated with explicit fma so that every
 * backend rounds the same way. Checked over every float in [0, 1] against log1p in double:
 * at most 1.43 ulp (glibc's log1pf: 1.29; CUDA documents 1 for its log1pf). Ten
 * multiply-adds against the ~30 instructions and the special-case branch of a general
 * log1pf (in the losses, which issue more instructions per element than the memory
 * rate leaves room for: bench/NOTES.md). The leading e is exact, so tiny tails keep their
 * relative accuracy. */
SF_FN float sf_log1p_unit(float e)
{
    float q = -4.466211423e-03f;
    q = SF_FMA(q, e, 2.522405423e-02f);
    q = SF_FMA(q, e, -6.675772369e-02f);
    q = SF_FMA(q, e, 1.156184524e-01f);
    q = SF_FMA(q, e, -1.584756523e-01f);
    q = SF_FMA(q, e, 1.985410601e-01f);
    q = SF_FMA(q, e, -2.498652637e-01f);
    q = SF_FMA(q, e, 3.333284259e-01f);
    q = SF_FMA(q, e, -4.999999702e-01f);
    return SF_FMA(e * e, q, e);
}

/* ---- The logistic function and its relatives --------------------------------------- */

/* sigma(x) and sigma(-x) = 1 - sigma(x) from one exponential. */
SF_FN void sf_sigmoid_pair(float x, float *s, float *sn)
{
    float e = SF_EXP(-SF_FABS(x));
    float big = sf_rcp_unit(1.0f + e);   /* sigma(|x|) */
    float small = e * big;           /* sigma(-|x|) */
    int nonneg = x >= 0.0f;          /* NaN: both come out NaN */
    *s = nonneg ? big : small;
    *sn = nonneg ? small : big;
}

/* sigma(x) and sigma(-x) as s * ks and sn * ksn, each factor pair without a subnormal
 * intermediate. Past |x| = 64 the small one of the two, e^-|x| to f32 precision (1 + e^-|x|
 * rounds to 1 beyond |x| = 17), comes back as e^(64 - |x|), with SF_EXP_M64 as its scale
 * (the other scale is 1). Below |x| = 87 e^-|x| itself would be subnormal with fewer
 * digits than a product formed from it keeps (x sigma(x) at x = -100 is -3.7e-42, 11 bits
 * where e^-100 has 5), so the ops that multiply a sigma apply the scale last. 64 - |x| is
 * exact for |x| in [64, 128]; past 128 every product that uses the small factor underflows
 * for the inputs and upstream gradients of f32 (|x e^x| < 2^-149 from |x| = 108 on), so its
 * rounding does not matter. NaN and +-inf as in sf_sigmoid_pair. */
#define SF_EXP_M64 1.60381089e-28f   /* e^-64, correctly rounded */
SF_FN void sf_sigmoid_pair_scaled(float x, float *s, float *sn, float *ks, float *ksn)
{
    float ax = SF_FABS(x);
    int far = ax > 64.0f;
    float k = far ? SF_EXP_M64 : 1.0f;
    float e = SF_EXP((far ? 64.0f : 0.0f) - ax);   /* e^-|x| / k */
    float big = sf_rcp_unit(SF_FMA(e, k, 1.0f));    /* sigma(|x|): 1 + e^-|x| */
    float small = e * big;                          /* sigma(-|x|) / k */
    int nonneg = x >= 0.0f;
    *s = nonneg ? big : small;
    *sn = nonneg ? small : big;
    *ks = nonneg ? 1.0f : k;
    *ksn = nonneg ? k : 1.0f;
}

/* sigma(x); NaN propagates, +-inf give exactly 1 and 0 (the unused half of the pair
 * costs nothing once inlined). */
SF_FN float sf_sigmoid(float x)
{
    float s, sn;
    sf_sigmoid_pair(x, &s, &sn);
    return s;
}

/* softplus(x) = log(1 + e^x). Not fmax(x, 0): fmax(NaN, 0) is 0 (the NaN survives
 * through the log1p term anyway, but the reference spells it this way). */
SF_FN float sf_softplus(float x)
{
    return (x > 0.0f ? x : 0.0f) + sf_log1p_unit(SF_EXP(-SF_FABS(x)));
}

/* log(sigma(x)) = -softplus(-x). */
SF_FN float sf_log_sigmoid(float x) { return -sf_softplus(-x); }

/* 1 - tanh(x)^2 = (1 - tanh|x|)(1 + tanh|x|) = m (2 - m), m = 1 - tanh|x| = 2t / (1 + t)
 * with t = e^-2|x|: no cancellation for large |x|, no overflow of cosh, and no general
 * division (1 + t is in [1, 2]). Over every 7th float in [2^-12, 40] against sech^2 in
 * double: at most 4.5 ulp (4 t / (1 + t)^2 with its division: 4.9). */
SF_FN float sf_tanh_grad(float x)
{
    float t = SF_EXP(-2.0f * SF_FABS(x));
    float m = 2.0f * (t * sf_rcp_unit(1.0f + t));
    return m * (2.0f - m);
}

/* a * b where a zero factor wins over an infinite one (the exact limit of a term whose
 * coefficient is 0), while NaN in either factor propagates. Without branches: the product
 * is NaN exactly when a factor is NaN or for 0 * inf, and only the latter becomes 0. */
SF_FN float sf_mul_limit(float a, float b)
{
    float r = a * b;
    return (SF_ISNAN(r) && !SF_ISNAN(a) && !SF_ISNAN(b)) ? 0.0f : r;
}

/* ---- Swish / SiLU -------------------------------------------------------------------- */

/* beta * x, except that 0 * +-inf is taken as 0: swish-0 is x / 2 at every x, infinities
 * included (a NaN x still gives NaN). */
SF_FN float sf_scaled(float beta, float x) { return (beta == 0.0f && SF_ISINF(x)) ? 0.0f : beta * x; }

/* x sigma(beta x) = m * k (sf_sigmoid_pair_scaled's scale: the caller multiplies by k
 * last); where sigma is exactly 0 at infinite x the limit is 0 (sign of x). */
SF_FN float sf_swish_scaled(float beta, float x, float *k)
{
    float s, sn, ksn;
    sf_sigmoid_pair_scaled(sf_scaled(beta, x), &s, &sn, k, &ksn);
    if (s == 0.0f && SF_ISINF(x))
        return SF_COPYSIGN(0.0f, x);
    return x * s;
}

/* d/dx x sigma(bx) = sigma(bx) + bx sigma(bx) sigma(-bx) = g * k. The last term is taken
 * as its limit 0 when the product of the sigmas is exactly 0 (|bx| = inf). With bx < -64
 * both terms carry the scale of sigma(bx); with bx > 64 the second one's scale is applied
 * at once (it is below 2^-80 of the first). */
SF_FN float sf_swish_grad_scaled(float beta, float x, float *k)
{
    float bx = sf_scaled(beta, x);
    float s, sn, ksn;
    sf_sigmoid_pair_scaled(bx, &s, &sn, k, &ksn);
    float t = s * sn;
    return s + (t == 0.0f ? 0.0f : bx * t * ksn);
}

/* ---- Elementwise ops (one function per op, the kernels only move bytes) ------------- */

SF_FN float sf_sigmoid_bwd(float y, float dy) { return dy * y * (1.0f - y); }
/* The ops below multiply a sigma, which past |x| = 64 can be subnormal or near it: they
 * take sf_sigmoid_pair_scaled's forms and apply its scales last, so that outputs in the
 * subnormal range, and outputs that a large factor brings back from it, keep their
 * digits. Straight-line code (selects, no branch), so the instructions of the common path
 * are the ones bench/sass.py counts. */
SF_FN float sf_log_sigmoid_bwd(float x, float dy)
{
    float s, sn, ks, ksn;
    sf_sigmoid_pair_scaled(-x, &s, &sn, &ks, &ksn);
    return (dy * s) * ks;
}

SF_FN float sf_silu_fwd(float beta, float x)
{
    float k;
    float m = sf_swish_scaled(beta, x, &k);
    return m * k;
}

SF_FN float sf_silu_bwd(float beta, float x, float dy)
{
    float k;
    float g = sf_swish_grad_scaled(beta, x, &k);
    return (dy * g) * k;
}

SF_FN float sf_glu_fwd(float a, float b)
{
    float s, sn, ks, ksn;
    sf_sigmoid_pair_scaled(b, &s, &sn, &ks, &ksn);
    return (a * s) * ks;
}

/* da = dy sigma(b), db = dy a sigma(b) sigma(-b) (one of the two scales is 1). */
SF_FN void sf_glu_bwd(float a, float b, float dy, float *da, float *db)
{
    float s, sn, ks, ksn;
    sf_sigmoid_pair_scaled(b, &s, &sn, &ks, &ksn);
    *da = (dy * s) * ks;
    *db = (dy * a * (s * sn)) * (ks * ksn);
}

SF_FN float sf_swiglu_fwd(float beta, float a, float b)
{
    float k;
    float m = sf_swish_scaled(beta, b, &k);
    return (a * m) * k;
}

/* da = dy swish(b), db = dy a swish'(b). */
SF_FN void sf_swiglu_bwd(float beta, float a, float b, float dy, float *da, float *db)
{
    float k, kg;
    float m = sf_swish_scaled(beta, b, &k);
    float g = sf_swish_grad_scaled(beta, b, &kg);
    *da = (dy * m) * k;
    *db = (dy * a * g) * kg;
}

/* ---- Binary cross-entropy with logits ------------------------------------------------ */

/* Smoothed target y' = y (1 - eps) + eps / 2. */
SF_FN float sf_smooth_target(float y, float eps) { return y * (1.0f - eps) + 0.5f * eps; }

/* Everything a logistic loss needs from one logit: sigma(x), sigma(-x), softplus(x) and
 * softplus(-x), from one exponential and one logarithm (the two softplus share the tail
 * log1p(e^-|x|)). With each term calling its own, 3 exp + 2 log1p per element, the losses
 * are bound by these special functions rather than by memory (bench/NOTES.md, tuning log,
 * has the times before and after). Same values as sf_sigmoid_pair and sf_softplus; NaN
 * propagates to all four. */
SF_FN float sf_logit_tail(float x, float *big, float *small)
{
    float e = SF_EXP(-SF_FABS(x));
    *big = sf_rcp_unit(1.0f + e);   /* sigma(|x|) */
    *small = e * *big;              /* sigma(-|x|) */
    return sf_log1p_unit(e);        /* log1p(e^-|x|), the tail both softplus share */
}

SF_FN void sf_logit_terms(float x, float *s, float *sn, float *sp, float *spn)
{
    float big, small;
    float tail = sf_logit_tail(x, &big, &small);
    int nonneg = x >= 0.0f;
    *s = nonneg ? big : small;
    *sn = nonneg ? small : big;
    *sp = (x > 0.0f ? x : 0.0f) + tail;
    *spn = (x < 0.0f ? -x : 0.0f) + tail;
}

/* loss_e = w [(1 - y') softplus(x) + p y' softplus(-x)] (0 * inf = 0) and
 * grad_e = w [(1 - y') sigma(x) - p y' sigma(-x)] together, and sigma(x) itself (the
 * probabilities output: same value as sf_sigmoid, without a second exponential).
 * sf_bce_loss_grad_plain forms the loss with plain products: exact wherever it is not
 * NaN (NaN propagates through every product and sum, so a loss that is not NaN met no
 * 0 * inf and no NaN factor, where sf_mul_limit is the plain product); the gradient is
 * exact everywhere (both sigmas are bounded). Where its loss is NaN, sf_bce_loss_limits
 * gives the loss through the limits. A kernel may test a whole vector's losses at once
 * and take the limits only for a vector that needs them. */
SF_FN void sf_bce_loss_grad_plain(float x, float ys, float w, float p, float *loss, float *grad, float *sig)
{
    float s, sn, sp, spn;
    sf_logit_terms(x, &s, &sn, &sp, &spn);
    float neg = 1.0f - ys, pos = p * ys;
    *loss = w * (neg * sp + pos * spn);
    *grad = w * (neg * s - pos * sn);
    *sig = s;
}

SF_FN float sf_bce_loss_limits(float x, float ys, float w, float p)
{
    float s, sn, sp, spn;
    sf_logit_terms(x, &s, &sn, &sp, &spn);
    return sf_mul_limit(w, sf_mul_limit(1.0f - ys, sp) + sf_mul_limit(p * ys, spn));
}

/* Both, element by element: a NaN input, or 0 * inf at an infinite logit, target or
 * weight, takes the limits (one test and a branch not taken on finite inputs). */
SF_FN void sf_bce_loss_grad(float x, float ys, float w, float p, float *loss, float *grad, float *sig)
{
    sf_bce_loss_grad_plain(x, ys, w, p, loss, grad, sig);
    if (SF_ISNAN(*loss))
        *loss = sf_bce_loss_limits(x, ys, w, p);
}

/* A loss that is finite (not inf, not NaN): where a fast form's loss is not, the kernels
 * take the limits instead. */
SF_FN int sf_finite(float v) { return SF_FABS(v) < INFINITY; }

/* The same loss and gradient without pos_weight (p = 1), fewer operations: (1 - y')
 * softplus(x) + y' softplus(-x) = tail + max(x, 0) - y' x (softplus(x) - softplus(-x) = x),
 * formed as tail + fma(-y', x, max(x, 0)): the product is exact inside the fma and, for y'
 * in [0, 1], both remaining terms are >= 0, so it rounds no more than the plain form (which
 * rounds 1 - y', two products and two sums). Where its loss is not finite (an infinite
 * logit, target or weight, a NaN, or 0 * inf at y' = 0 or 1 and an infinite logit)
 * sf_bce_loss_limits(x, y', w, 1) gives it, as for the plain form; where it is finite it is
 * the plain form's value but for rounding. */
SF_FN void sf_bce_unit_loss_grad_plain(float x, float ys, float w, float *loss, float *grad, float *sig)
{
    float big, small;
    float tail = sf_logit_tail(x, &big, &small);
    int nonneg = x >= 0.0f;
    float s = nonneg ? big : small, sn = nonneg ? small : big;
    *loss = w * (tail + SF_FMA(-ys, x, x > 0.0f ? x : 0.0f));
    *grad = w * ((1.0f - ys) * s - ys * sn);
    *sig = s;
}

SF_FN void sf_bce_unit_loss_grad(float x, float ys, float w, float *loss, float *grad, float *sig)
{
    sf_bce_unit_loss_grad_plain(x, ys, w, loss, grad, sig);
    if (!sf_finite(*loss))
        *loss = sf_bce_loss_limits(x, ys, w, 1.0f);
}

/* The same loss and gradient with pos_weight p, fewer operations than the plain form:
 * the two softplus share the tail and one of max(x, 0), max(-x, 0) is 0, so
 *   (1 - y') softplus(x) + p y' softplus(-x) = c |x| + (1 - y' + p y') tail,
 * c = x >= 0 ? 1 - y' : p y', formed as fma(c, |x|, lw tail). For y' in [0, 1] and p >= 0
 * every term is >= 0 (no cancellation: not the (1 - y') x + lw softplus(-x) of the
 * definition, whose terms cancel for x < 0), and it rounds no more often than the plain
 * form's two softplus, two products and sum. Where its loss is not finite (an infinite
 * logit, target, weight or pos_weight, a NaN, 0 * inf at c = 0 and an infinite logit)
 * sf_bce_loss_limits(x, y', w, p) gives it; where it is finite it is the plain form's value
 * but for rounding. Gradient and sigma as sf_bce_loss_grad_plain. */
SF_FN void sf_bce_pw_loss_grad_plain(float x, float ys, float w, float p, float *loss, float *grad, float *sig)
{
    float big, small;
    float tail = sf_logit_tail(x, &big, &small);
    int nonneg = x >= 0.0f;
    float s = nonneg ? big : small, sn = nonneg ? small : big;
    float neg = 1.0f - ys, pos = p * ys;
    float c = nonneg ? neg : pos;
    *loss = w * SF_FMA(c, SF_FABS(x), (neg + pos) * tail);
    *grad = w * (neg * s - pos * sn);
    *sig = s;
}

SF_FN void sf_bce_pw_loss_grad(float x, float ys, float w, float p, float *loss, float *grad, float *sig)
{
    sf_bce_pw_loss_grad_plain(x, ys, w, p, loss, grad, sig);
    if (!sf_finite(*loss))
        *loss = sf_bce_loss_limits(x, ys, w, p);
}

/* A hard target t (0 or 1: u8 targets, which take no smoothing), where the loss and the
 * gradient are selections: with x' = t ? -x : x and p_t = t ? p : 1,
 *   loss = w (p_t softplus(x')) = w (p_t (tail + max(x', 0))),
 *   grad = t ? -w (p sigma(-x)) : w sigma(x)   (w (p_t sigma(x')) with its sign),
 * the definition's products in its order, without 1 - y and the products with the target.
 * At t = 0 p_t is p 0 + 1: 1, but NaN where p is NaN or infinite, as p y' with y' = 0 is
 * in the definition (a plain product and sum, which a compiler folds where p is the
 * constant 1 of a kernel without pos_weight; an fma there was not folded). Where the loss is not finite (an infinite logit with w p_t = 0 or
 * infinite, a NaN) sf_bce_loss_limits(x, t, w, p) gives it. */
SF_FN void sf_bce_hard_loss_grad_plain(float x, int t, float w, float p, float *loss, float *grad, float *sig)
{
    float big, small;
    float tail = sf_logit_tail(x, &big, &small);
    float xt = t ? -x : x;
    float st = xt >= 0.0f ? big : small;   /* sigma(x') */
    float pt = t ? p : p * 0.0f + 1.0f;
    *loss = w * (pt * (tail + (xt > 0.0f ? xt : 0.0f)));
    float g = w * (pt * st);
    *grad = t ? -g : g;
    *sig = x >= 0.0f ? big : small;
}

SF_FN void sf_bce_hard_loss_grad(float x, int t, float w, float p, float *loss, float *grad, float *sig)
{
    sf_bce_hard_loss_grad_plain(x, t, w, p, loss, grad, sig);
    if (!sf_finite(*loss))
        *loss = sf_bce_loss_limits(x, t ? 1.0f : 0.0f, w, p);
}

/* The values of sf_bce_hard_loss_grad_plain (NaN where it gives NaN), with x' >= 0 tested
 * on x itself, (x >= 0) != t (one comparison that folds the target in; x = +-0 gives
 * sigma 1/2 either way), and max(x', 0) as |x| there: no x' formed. The loss kernels' form
 * (cuda/bce.cu, opencl/bce.cl). */
SF_FN void sf_bce_hard_sel_loss_grad_plain(float x, int t, float w, float p, float *loss, float *grad, float *sig)
{
    float big, small;
    float tail = sf_logit_tail(x, &big, &small);
    int up = (x >= 0.0f) != (t != 0);
    float st = up ? big : small;   /* sigma(x') */
    float pt = t ? p : p * 0.0f + 1.0f;
    *loss = w * (pt * (tail + (up ? SF_FABS(x) : 0.0f)));
    float g = w * (pt * st);
    *grad = t ? -g : g;
    *sig = x >= 0.0f ? big : small;
}

/* grad_e = w [(1 - y') sigma(x) - p y' sigma(-x)]; both sigmas are bounded, so plain
 * products cannot meet 0 * inf. Also gives sigma(x), as sf_bce_loss_grad does. */
SF_FN float sf_bce_grad(float x, float ys, float w, float p, float *sig)
{
    float s, sn;
    sf_sigmoid_pair(x, &s, &sn);
    float neg = 1.0f - ys, pos = p * ys;
    *sig = s;
    return w * (neg * s - pos * sn);
}

/* ---- Sigmoid focal loss (RetinaNet) -------------------------------------------------- */

/* alpha_t = alpha y + (1 - alpha)(1 - y), or 1 when alpha < 0 (no alpha term). */
SF_FN float sf_focal_alpha_t(float alpha, float y)
{
    return alpha < 0.0f ? 1.0f : alpha * y + (1.0f - alpha) * (1.0f - y);
}

/* q^gamma for q in [0, 1]. gamma = 2 (RetinaNet's) and 1 multiply, which rounds once
 * where pow is within a few ulp and costs ~40 instructions; other gammas call pow. gamma is
 * one value for the whole call, so the choice never splits a warp. */
SF_FN float sf_pow_unit(float q, float gamma)
{
    if (gamma == 2.0f)
        return q * q;
    if (gamma == 1.0f)
        return q;
    return SF_POW(q, gamma);
}

/* q = 1 - p_t = y sigma(-x) + (1 - y) sigma(x) (no cancellation);
 * CE = (1 - y) softplus(x) + y softplus(-x) (0 * inf = 0);
 * loss_e = alpha_t q^gamma CE;
 * grad_e = alpha_t q^gamma [(p - y) - gamma ratio (2y - 1) CE], ratio = p(1-p)/q (1 where
 * q = 0: hard label at a saturated logit). Factoring q^gamma out keeps it finite for any
 * gamma >= 0 where q^(gamma-1) alone would overflow; ratio * CE is 0 when ratio is 0.
 * Both from one exponential, one logarithm and one power. */
SF_FN void sf_focal_parts(float x, float y, float alpha, float gamma, int limits, float *loss, float *grad)
{
    float s, sn, sp, spn;
    sf_logit_terms(x, &s, &sn, &sp, &spn);
    float q = y * sn + (1.0f - y) * s;
    float at = sf_focal_alpha_t(alpha, y);
    float qg = sf_pow_unit(q, gamma);
    float ratio = sf_ratio_unit(s * sn, q);
    float ce, l, rce;
    if (!limits) {
        ce = (1.0f - y) * sp + y * spn;
        l = at * (qg * ce);
        rce = ratio * ce;
    } else {
        ce = sf_mul_limit(1.0f - y, sp) + sf_mul_limit(y, spn);
        l = sf_mul_limit(at, sf_mul_limit(qg, ce));
        rce = sf_mul_limit(ratio, ce);
    }
    *loss = l;
    /* p - y as (1 - y) sigma(x) - y sigma(-x): the same value without the cancellation of
     * s - y once s rounds to 1 (x = 17, y = 1: -4.1e-8, not 0). */
    float inner = ((1.0f - y) * s - y * sn) - gamma * rce * (2.0f * y - 1.0f);
    *grad = at * qg * inner;
}

/* Plain products first (limits = 0: loss or gradient NaN where a 0 * inf limit applies,
 * since a NaN in ce reaches both), the limits (limits = 1) where that gives NaN; as for
 * BCE, a kernel may instead test a whole vector at once and call the limits there. */
SF_FN void sf_focal_loss_grad(float x, float y, float alpha, float gamma, float *loss, float *grad)
{
    sf_focal_parts(x, y, alpha, gamma, 0, loss, grad);
    if (SF_ISNAN(*loss + *grad))
        sf_focal_parts(x, y, alpha, gamma, 1, loss, grad);
}

/* gamma = 2 (RetinaNet's), any target: q^2 ratio = q p (1 - p), so the gradient
 *   grad_e = alpha_t q [q (p - y) - 2 (2y - 1) p (1 - p) CE]
 * takes no division and no q = 0 case (the factor q is 0 there, as q^2 ratio is). The
 * same terms as sf_focal_parts otherwise. alpha_t as a1 y + a0 (1 - y), with
 * a1 = alpha_t(1) and a0 = alpha_t(0) (sf_focal_alpha_t; loop invariants in a kernel): for
 * alpha < 0 both are 1, and y + (1 - y) rounds to exactly 1 for y in [0, 1] (1 - y is exact
 * for y >= 1/2 and within 2^-25 below, and 1 + d with |d| <= 2^-25 rounds to 1). Plain
 * products: where loss or gradient is NaN (a 0 * inf limit, a NaN input)
 * sf_focal_parts(x, y, alpha, 2, 1, ...) gives both. */
SF_FN void sf_focal2_loss_grad_plain(float x, float y, float a1, float a0, float *loss, float *grad)
{
    float s, sn, sp, spn;
    sf_logit_terms(x, &s, &sn, &sp, &spn);
    float ny = 1.0f - y;
    float q = y * sn + ny * s;
    float at = a1 * y + a0 * ny;
    float ce = ny * sp + y * spn;
    *loss = at * ((q * q) * ce);
    float pmy = ny * s - y * sn;   /* p - y without the cancellation of s - y */
    float inner = q * pmy - (4.0f * y - 2.0f) * ((s * sn) * ce);
    *grad = (at * q) * inner;
}

SF_FN void sf_focal2_loss_grad(float x, float y, float alpha, float *loss, float *grad)
{
    sf_focal2_loss_grad_plain(x, y, sf_focal_alpha_t(alpha, 1.0f), sf_focal_alpha_t(alpha, 0.0f), loss, grad);
    if (SF_ISNAN(*loss + *grad))
        sf_focal_parts(x, y, alpha, 2.0f, 1, loss, grad);
}

/* The same for a hard target t (0 or 1: u8 targets, or float targets that are all 0 or 1),
 * where q, alpha_t, CE and the ratio are selections and no division is left. With
 * x' = t ? -x : x (the logit of the wrong class):
 *   q = sigma(x'), ratio = sigma(-x') (p (1 - p) / q at y = t is exactly the other sigma),
 *   CE = softplus(x') = tail + max(x', 0),
 *   loss = alpha_t q^gamma CE,  grad = -+alpha_t q^gamma (q + gamma ratio CE), - for t = 1.
 * The gradient's sign rides on alpha_t: ats = t ? -alpha_t : alpha_t (sf_focal_signed_alpha,
 * loop-invariant per t), the loss takes |ats|. sf_focal_hard_terms gives aqs = ats q^gamma,
 * q, ratio and CE. */
SF_FN float sf_focal_signed_alpha(float alpha, int t)
{
    return t ? -sf_focal_alpha_t(alpha, 1.0f) : sf_focal_alpha_t(alpha, 0.0f);
}

SF_FN void sf_focal_hard_terms(float x, int t, float ats, float gamma, float *aqs, float *q, float *ratio, float *ce)
{
    float big, small;
    float tail = sf_logit_tail(x, &big, &small);
    /* up: x' >= 0, tested on x itself ((x >= 0) != t: one comparison that folds the target
     * in, no x' formed; x = +-0 gives sigma 1/2 either way), and then max(x', 0) = |x|.
     * NaN: both sigmas and the tail come out NaN. */
    int up = (x >= 0.0f) != (t != 0);
    *q = up ? big : small;
    *ratio = up ? small : big;
    *ce = tail + (up ? SF_FABS(x) : 0.0f);
    *aqs = ats * sf_pow_unit(*q, gamma);
}

/* limits = 0: plain products. Only at x' = +inf can a 0 * inf arise (ratio = 0 and, for
 * alpha_t = 0, aqs = 0, against CE = inf), and there the loss is inf or NaN: a kernel that
 * takes the limits (limits = 1) wherever its loss is not finite needs no test of the
 * gradient. */
SF_FN void sf_focal_hard_parts(float x, int t, float ats, float gamma, int limits, float *loss, float *grad)
{
    float aqs, q, ratio, ce;
    sf_focal_hard_terms(x, t, ats, gamma, &aqs, &q, &ratio, &ce);
    float l, rce;
    if (!limits) {
        l = SF_FABS(aqs) * ce;
        rce = ratio * ce;
    } else {
        l = sf_mul_limit(SF_FABS(aqs), ce);
        rce = sf_mul_limit(ratio, ce);
    }
    *loss = l;
    *grad = aqs * SF_FMA(gamma, rce, q);
}

/* The gradient alone, exact everywhere without a fallback: CE is taken at most FLT_MAX in
 * ratio * CE, so that at x' = +inf (ratio 0, CE inf) the product is its limit 0. */
SF_FN float sf_focal_hard_grad(float x, int t, float ats, float gamma)
{
    float aqs, q, ratio, ce;
    sf_focal_hard_terms(x, t, ats, gamma, &aqs, &q, &ratio, &ce);
    return aqs * SF_FMA(gamma, ratio * (ce < 0x1.fffffep127f ? ce : 0x1.fffffep127f), q);
}

SF_FN void sf_focal_hard_loss_grad(float x, int t, float alpha, float gamma, float *loss, float *grad)
{
    const float ats = sf_focal_signed_alpha(alpha, t);
    sf_focal_hard_parts(x, t, ats, gamma, 0, loss, grad);
    if (!sf_finite(*loss))
        sf_focal_hard_parts(x, t, ats, gamma, 1, loss, grad);
}

/* ---- Asymmetric loss (ASL) ------------------------------------------------------------ */

/* One element of the asymmetric loss, p = sigma(x), p_m = max(p - m, 0):
 *   loss_e = y (1 - p)^g+ softplus(-x) + (1 - y) p_m^g- L,   L = -log(1 - p_m)
 *   grad_e = -y (1 - p)^g+ [g+ p softplus(-x) + (1 - p)]
 *            + (1 - y) p_m^g- [g- p (1 - p) L / p_m + p (1 - p) / (1 - p_m)]   (p > m)
 * In logit space: 1 - p = sigma(-x), -log p = softplus(-x); margin 0 takes L = softplus(x)
 * and 1 - p_m = sigma(-x), so the negative's bracket is p^g- [g- sigma(-x) softplus(x) + p]
 * with no division. With a margin, 1 - p_m = sigma(-x) + m (no cancellation as p -> 1)
 * and L is -log1p(-p_m) while p_m < 1/2 (where log(1 - p_m) would lose L's relative
 * accuracy), -log(sigma(-x) + m) above; L / p_m is 1 at p_m = 0, its limit. The products
 * p softplus(-x) and sigma(-x) softplus(x) are bounded (< 0.28) and 0 at the infinite
 * logit where softplus is inf (sf_mul_limit), so the gradient is finite for every x and
 * every gamma >= 0; the loss is inf only where it truly is (y > 0 at x = -inf, y < 1 at
 * x = +inf without a margin). NaN propagates: p_m keeps a NaN (no fmax). */
SF_FN void sf_asl_loss_grad(float x, float y, float gpos, float gneg, float margin, float *loss, float *grad)
{
    float s, sn, sp, spn;
    sf_logit_terms(x, &s, &sn, &sp, &spn);
    /* The positive's part: (1 - p)^g+ times -log p. */
    const float qp = SF_POW(sn, gpos);
    const float lpos = sf_mul_limit(qp, spn);
    const float gpos_e = -qp * SF_FMA(gpos, sf_mul_limit(s, spn), sn);
    float lneg, gneg_e;
    if (margin == 0.0f) {
        const float qn = SF_POW(s, gneg);
        lneg = sf_mul_limit(qn, sp);
        gneg_e = qn * SF_FMA(gneg, sf_mul_limit(sn, sp), s);
    } else {
        const float d = s - margin;
        const float pm = d < 0.0f ? 0.0f : d;   /* NaN stays NaN */
        const float om = sn + margin;           /* 1 - p_m where p > m */
        const float l = pm < 0.5f ? -SF_LOG1P(-pm) : -SF_LOG(om);
        const float qn = SF_POW(pm, gneg);
        const float ratio = pm > 0.0f ? l / pm : 1.0f;
        /* Past x = 64, p (1 - p) falls toward the subnormals, whose rounding the division
         * by 1 - p_m (as small as m) would scale up: there sigma(-x) is taken as
         * e^(64 - x) times e^-64 (sf_sigmoid_pair_scaled) and the scale applied last. */
        float snk = sn, ksn = 1.0f;
        if (x > 64.0f) {
            float s2, ks;
            sf_sigmoid_pair_scaled(x, &s2, &snk, &ks, &ksn);
        }
        const float ssn = s * snk;
        lneg = qn * l;
        /* p_m^g- p (1 - p) [g- L / p_m + 1 / (1 - p_m)]: both bracket terms are positive,
         * one fma. */
        gneg_e = d > 0.0f ? (qn * (ssn * SF_FMA(gneg, ratio, 1.0f / om))) * ksn : (d == d ? 0.0f : d);
    }
    *loss = sf_mul_limit(y, lpos) + sf_mul_limit(1.0f - y, lneg);
    *grad = y * gpos_e + (1.0f - y) * gneg_e;
}

/* ---- BCE + soft Dice ---------------------------------------------------------------------- */

/* The Dice term's gradient at one pixel: -k (2 y - D) p (1 - p), with the image's Dice
 * coefficient D and k = dice_weight / (images (U + smooth)) (sigfuse.h). */
SF_FN float sf_dice_grad(float y, float s, float sn, float dice, float k)
{
    return -k * ((2.0f * y - dice) * (s * sn));
}

/* ---- Gradients stored in 16 bits: approximations well inside a 16-bit ulp ------------- */

/* A gradient stored as f16 or bf16 passes where it is the rounding of a value within the
 * f32 bound of the truth, +-1 ulp of the 16-bit dtype (docs/design.md, Numerics): relative
 * errors of the f32 value up to about 2^-12 cannot move it by more than that 1 ulp (f16
 * values are 2^-11 to 2^-10 apart, relative; bf16 2^-8 to 2^-7), where the terms do not
 * cancel. There the exponential, the reciprocal and the softplus tail need not be f32-exact.
 * SF_EXP2_APPROX(a) is 2^a and SF_RCP_APPROX(d) 1 / d: on CUDA the hardware's (MUFU.EX2:
 * 2 ulp, the CUDA guide's bound for exp2f, results below 2^-126 flushed to 0; MUFU.RCP:
 * 1 ulp, PTX's bound for rcp.approx), elsewhere the library's (a test may define them to
 * model the hardware's errors). */
#if defined(__CUDACC__)
SF_FN float sf_ex2_approx(float a)
{
    float r;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(a));
    return r;
}
SF_FN float sf_rcp_approx(float d)
{
    float r;
    asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(d));
    return r;
}
#define SF_EXP2_APPROX(a) sf_ex2_approx(a)
#define SF_RCP_APPROX(d) sf_rcp_approx(d)
#elif defined(__OPENCL_VERSION__)
#define SF_EXP2_APPROX(a) exp2(a)
#define SF_RCP_APPROX(d) (1.0f / (d))
#else
#ifndef SF_EXP2_APPROX
#define SF_EXP2_APPROX(a) exp2f(a)
#endif
#ifndef SF_RCP_APPROX
#define SF_RCP_APPROX(d) (1.0f / (d))
#endif
#endif

/* log1p(e) for e in [0, 1] to 2^-14.5 of itself: e + e^2 q(e), q of degree 4 (a Chebyshev
 * fit to (log1p(e) - e) / e^2, mpmath, coefficients rounded to f32; with f32 arithmetic at
 * most 4.1e-5 relative over [0, 1]), four multiply-adds fewer than sf_log1p_unit. */
SF_FN float sf_log1p_unit_short(float e)
{
    float q = -3.234715760e-02f;
    q = SF_FMA(q, e, 1.215313300e-01f);
    q = SF_FMA(q, e, -2.267889380e-01f);
    q = SF_FMA(q, e, 3.306711912e-01f);
    q = SF_FMA(q, e, -4.999476373e-01f);
    return SF_FMA(e * e, q, e);
}

/* sf_focal_hard_grad at gamma = 2 for a gradient stored in 16 bits. Its terms are of one
 * sign (no cancellation), so relative errors add up: e^-|x| as 2^(-|x| log2 e) (the rounding
 * of the product moves it by up to |x| 2^-24 ln 2 relative, 1.2e-6 at |x| = 30, past which
 * the gradient of x' < 0, about 3 alpha_t e^-3|x|, is below every 16-bit value), the
 * hardware's 2^a and 1 / d (a few 2^-24), the short tail (2^-14.5): under 2^-14 in all,
 * within the 2^-12 above. Where 2^a flushes to 0 (|x| > 87) the gradient of x' < 0 has long
 * underflowed and that of x' > 0 loses a term below 2^-100 of it. NaN and +-inf as
 * sf_focal_hard_grad. test_sf_math checks it against double with those errors modelled. */
SF_FN float sf_focal2_hard_grad16(float x, int t, float ats)
{
    float ax = SF_FABS(x);
    float e = SF_EXP2_APPROX(ax * -1.442695041f);   /* e^-|x| */
    float big = SF_RCP_APPROX(1.0f + e);            /* sigma(|x|) */
    float small = e * big;                          /* sigma(-|x|) */
    float tail = sf_log1p_unit_short(e);
    int up = (x >= 0.0f) != (t != 0);               /* x' >= 0, as in sf_focal_hard_terms */
    float q = up ? big : small, ratio = up ? small : big;
    float ce = tail + (up ? ax : 0.0f);
    float aqs = ats * (q * q);
    return aqs * SF_FMA(2.0f, ratio * (ce < 0x1.fffffep127f ? ce : 0x1.fffffep127f), q);
}

/* ---- LSTM cell (gate order i, f, g, o; pre-activations ai, af, ag, ao) --------------- */

/* c = sigma(f) c_prev + sigma(i) tanh(g);  h = sigma(o) tanh(c). */
SF_FN void sf_lstm_fwd(float ai, float af, float ag, float ao, float cp, float *c, float *h)
{
    float cc = sf_sigmoid(af) * cp + sf_sigmoid(ai) * SF_TANH(ag);
    *c = cc;
    *h = sf_sigmoid(ao) * SF_TANH(cc);
}

/* Backward from the recomputed cell; dh, dc are 0 where absent.
 *   dc_t = dc + dh sigma(o) sech^2(c);  do = dh tanh(c) sigma(o) sigma(-o)
 *   di = dc_t tanh(g) sigma(i) sigma(-i);  df = dc_t c_prev sigma(f) sigma(-f)
 *   dg = dc_t sigma(i) sech^2(g);  dc_prev = dc_t sigma(f) */
SF_FN void sf_lstm_bwd(float ai, float af, float ag, float ao, float cp, float dh, float dc,
                       float *di, float *df, float *dg, float *d_o, float *dcp)
{
    float si, sin_, sf, sfn, so, son;
    sf_sigmoid_pair(ai, &si, &sin_);
    sf_sigmoid_pair(af, &sf, &sfn);
    sf_sigmoid_pair(ao, &so, &son);
    float tg = SF_TANH(ag);
    float c = sf * cp + si * tg;
    float tc = SF_TANH(c);
    float dct = dc + dh * so * sf_tanh_grad(c);
    *di = dct * tg * (si * sin_);
    *df = dct * cp * (sf * sfn);
    *dg = dct * si * sf_tanh_grad(ag);
    *d_o = dh * tc * (so * son);
    *dcp = dct * sf;
}

/* ---- GRU cell (blocks r, z, n; PyTorch GRUCell) -------------------------------------- */
/* ar = gi_r + gh_r, az = gi_z + gh_z (biases included by the caller), gin = gi_n,
 * ghn = gh_n, hp = h_prev. */

/* h = (1 - z) n + z h_prev with 1 - z as sigma(-az), n = tanh(gi_n + r gh_n). */
SF_FN float sf_gru_fwd(float ar, float az, float gin, float ghn, float hp)
{
    float z, zn;
    sf_sigmoid_pair(az, &z, &zn);
    float n = SF_TANH(gin + sf_sigmoid(ar) * ghn);
    return zn * n + z * hp;
}

/* dn = dh (1 - z), dz = dh (h_prev - n), dh_prev = dh z, dan = dn sech^2(an),
 * dar = dan gh_n r (1 - r), daz = dz z (1 - z); dgx = (dar, daz, dan),
 * dgh = (dar, daz, dan r). */
SF_FN void sf_gru_bwd(float ar, float az, float gin, float ghn, float hp, float dh,
                      float *dar, float *daz, float *dan, float *dan_r, float *dhp)
{
    float r, rn, z, zn;
    sf_sigmoid_pair(ar, &r, &rn);
    sf_sigmoid_pair(az, &z, &zn);
    float an = gin + r * ghn;
    float n = SF_TANH(an);
    float dn = dh * zn;
    float dz = dh * (hp - n);
    float a_n = dn * sf_tanh_grad(an);
    *dan = a_n;
    *dan_r = a_n * r;
    *dar = a_n * ghn * (r * rn);
    *daz = dz * (z * zn);
    *dhp = dh * z;
}

/* ---- CUDA only: fast forms of the CUDA kernels (cuda/asymmetric.cu) -------------------- */

#if defined(__CUDACC__)
/* The two parts of the asymmetric loss at its usual setting, gamma_pos = 0, gamma_neg = 4
 * and a normal margin m > 0 (sf_asl_loss_grad's values but for rounding):
 *   positive: L+ = softplus(-x), dL+/dx = -sigma(-x)   ((1 - p)^0 = 1)
 *   negative: L- = p_m^4 L, dL-/dx = p_m^3 p (1 - p) (4 L + p_m / (1 - p_m))
 * The negative's gradient is sf_asl_loss_grad's p_m^4 [4 p (1 - p) L / p_m + p (1 - p) /
 * (1 - p_m)] with p_m^4 / p_m taken as p_m^3: no L / p_m, so no division by p_m and no
 * test of p_m = 0 (p <= m gives p_m = 0 and the product 0; NaN stays NaN, as p_m keeps it).
 * The powers are products. 1 - p_m = sigma(-x) + m lies in [m, 1 + m], where __fdividef
 * is within 2 ulp (the CUDA C++ Programming Guide: for a divisor in [2^-126, 2^126]).
 * Both parts are exact at x = +-inf but for the 0 * inf of a zero target coefficient,
 * which the caller's limits take (sf_asl_loss_grad). */
SF_FN void sf_asl04_parts(float x, float m, float *lpos, float *gpos, float *lneg, float *gneg)
{
    float big, small;
    const float tail = sf_logit_tail(x, &big, &small);
    const int nonneg = x >= 0.0f;
    const float s = nonneg ? big : small, sn = nonneg ? small : big;
    *lpos = (x < 0.0f ? -x : 0.0f) + tail;   /* softplus(-x) */
    *gpos = -sn;
    const float d = s - m;
    const float pm = d < 0.0f ? 0.0f : d;   /* NaN stays NaN */
    const float om = sn + m;                /* 1 - p_m where p > m (no cancellation as p -> 1) */
    /* -log(1 - p_m) as in sf_asl_loss_grad: log1p while p_m < 1/2, log of om above. */
    const float l = pm < 0.5f ? -log1pf(-pm) : -logf(om);
    const float pm2 = pm * pm;
    *lneg = (pm2 * pm2) * l;
    /* Past x = 64 the bracket (up to about 30) would scale up a subnormal sigma(-x)'s
     * rounding: as in sf_asl_loss_grad, sigma(-x) e^64 there and the scale last. */
    float snk = sn, ksn = 1.0f;
    if (x > 64.0f) {
        float s2, ks;
        sf_sigmoid_pair_scaled(x, &s2, &snk, &ks, &ksn);
    }
    *gneg = ((pm2 * pm) * (s * snk) * SF_FMA(4.0f, l, __fdividef(pm, om))) * ksn;
}
#endif

#endif /* SF_MATH_H */
