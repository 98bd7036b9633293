/*
 * Reference gated linear units, elementwise over pairs (a, b) in double:
 * glu y = a sigma(b) and swiglu y = a swish_beta(b) = a b sigma(beta b), forward and
 * backward (da and db each optional).
 */
#include <math.h>

#include "sf_internal.h"

/* The scalar helpers below are the same definitions as in ref_activation.c (kept static
 * there and here so that each reference file reads on its own). */

/* Only ever exponentiates a non-positive number: no overflow, no lost tail. */
static double sigma(double x)
{
    if (x >= 0.0)
        return 1.0 / (1.0 + exp(-x));
    double e = exp(x);   /* also reached by NaN, which then propagates */
    return e / (1.0 + e);
}

/* beta * x, except that 0 * +-inf is taken as 0: swish-0 is x / 2 at every x, infinities
 * included (a NaN x still gives NaN). */
static double scaled(double beta, double x)
{
    return (beta == 0.0 && isinf(x)) ? 0.0 : beta * x;
}

/* x sigma(beta x), with the limit 0 (sign of x) where sigma is exactly 0 at infinite x. */
static double swish(double beta, double x)
{
    double s = sigma(scaled(beta, x));
    if (s == 0.0 && isinf(x))
        return copysign(0.0, x);
    return x * s;
}

/* sigma(bx) + bx sigma(bx) sigma(-bx), the last term taken as its limit 0 when the
 * product of the sigmas is exactly 0 (|bx| = inf would otherwise give inf * 0). */
static double swish_grad(double beta, double x)
{
    double bx = scaled(beta, x);
    double s = sigma(bx);
    double t = s * sigma(-bx);
    return s + (t == 0.0 ? 0.0 : bx * t);
}

sigfuse_status sf_ref_glu(sigfuse_ctx *ctx, const sf_ew_call *call)
{
    const sigfuse_buffer *a_buf = call->in[0], *b_buf = call->in[1], *dy_buf = call->in[2];
    const sigfuse_buffer *out0 = call->out[0], *out1 = call->out[1];
    const double beta = call->beta;
    const int64_t n = call->n;

    /* Every input of element i is loaded before anything of element i is stored, so an
     * output may alias any input. */
    switch (call->op) {
    case SF_EW_GLU_FWD:
        for (int64_t i = 0; i < n; i++) {
            double a = sf_host_load(a_buf, i), b = sf_host_load(b_buf, i);
            sf_host_store(out0, i, a * sigma(b));
        }
        return SIGFUSE_SUCCESS;
    case SF_EW_GLU_BWD:
        for (int64_t i = 0; i < n; i++) {
            double a = sf_host_load(a_buf, i), b = sf_host_load(b_buf, i);
            double dy = sf_host_load(dy_buf, i);
            double s = sigma(b);
            if (out0)
                sf_host_store(out0, i, dy * s);
            if (out1)
                sf_host_store(out1, i, dy * a * (s * sigma(-b)));
        }
        return SIGFUSE_SUCCESS;
    case SF_EW_SWIGLU_FWD:
        for (int64_t i = 0; i < n; i++) {
            double a = sf_host_load(a_buf, i), b = sf_host_load(b_buf, i);
            sf_host_store(out0, i, a * swish(beta, b));
        }
        return SIGFUSE_SUCCESS;
    case SF_EW_SWIGLU_BWD:
        for (int64_t i = 0; i < n; i++) {
            double a = sf_host_load(a_buf, i), b = sf_host_load(b_buf, i);
            double dy = sf_host_load(dy_buf, i);
            if (out0)
                sf_host_store(out0, i, dy * swish(beta, b));
            if (out1)
                sf_host_store(out1, i, dy * a * swish_grad(beta, b));
        }
        return SIGFUSE_SUCCESS;
    default:
        return sf_fail(ctx, SIGFUSE_ERR_UNSUPPORTED,
                       "reference glu: %s is not a gated unit", sf_ew_op_name(call->op));
    }
}
