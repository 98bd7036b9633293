/* SPDX-License-Identifier: MIT */
/*
 * Scalar math of the CPU reference, in double: one definition of each stable form,
 * shared by the files of ref/. (The device kernels have their own f32 versions in
 * kernels/sf_math.h; the reference stays independent of them on purpose.)
 */
#ifndef SF_REF_MATH_H
#define SF_REF_MATH_H

#include <math.h>

/* Only ever exponentiates a non-positive number, so it neither overflows nor loses
 * the tiny tail of sigma at very negative x. NaN reaches the second branch and
 * propagates. */
static inline double ref_sigmoid(double x)
{
    if (x >= 0.0)
        return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

/* softplus(x) = log(1 + e^x) without overflow. Not fmax(x, 0): fmax(NaN, 0) is 0, and
 * the NaN must survive explicitly rather than by luck through the log1p term. */
static inline double ref_softplus(double x)
{
    return (x > 0.0 ? x : 0.0) + log1p(exp(-fabs(x)));
}

/* a * b where a zero factor wins over an infinite one: the exact limit of a term whose
 * coefficient is 0 (a loss at an infinite logit). NaN is checked first so that it is
 * never masked. */
static inline double ref_mul_limit(double a, double b)
{
    if (isnan(a) || isnan(b))
        return NAN;
    if (a == 0.0 || b == 0.0)
        return 0.0;
    return a * b;
}

/* 1 - tanh(x)^2 as 1 / cosh(x)^2: the subtraction cancels to 0 once tanh rounds to
 * +-1 (|x| > ~19), while the true value stays representable down to |x| ~ 354. */
static inline double ref_tanh_grad(double x)
{
    double s = 1.0 / cosh(x);
    return s * s;
}

/* beta * x, except that 0 * +-inf is taken as 0: swish-0 is x / 2 at every x, infinities
 * included (a NaN x still gives NaN). */
static inline double ref_scaled(double beta, double x)
{
    return (beta == 0.0 && isinf(x)) ? 0.0 : beta * x;
}

/* x * sigma(beta x). When sigma underflows to exactly 0 at an infinite x the product
 * would be inf * 0; the limit is 0 with the sign of x. */
static inline double ref_swish(double beta, double x)
{
    double s = ref_sigmoid(ref_scaled(beta, x));
    if (s == 0.0 && isinf(x))
        return copysign(0.0, x);
    return x * s;
}

/* d/dx x sigma(bx) = sigma(bx) + bx sigma(bx) sigma(-bx). At |bx| = inf the product
 * sigma(bx) sigma(-bx) is exactly 0 and bx * 0 would be NaN; its limit is 0. */
static inline double ref_swish_grad(double beta, double x)
{
    double bx = ref_scaled(beta, x);
    double s = ref_sigmoid(bx);
    double t = s * ref_sigmoid(-bx);
    return s + (t == 0.0 ? 0.0 : bx * t);
}

#endif
