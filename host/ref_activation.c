/*
 * Reference activations: sigmoid, log-sigmoid and SiLU / swish-beta, forward and
 * backward, elementwise in double. This is the definition the device backends are
 * measured against, so it keeps exact limits at +-inf and propagates NaN.
 */
#include <math.h>

#include "sf_internal.h"

/* Only ever exponentiates a non-positive number, so it neither overflows nor loses
 * the tiny tail of sigma at very negative x. */
static double sigma(double x)
{
    if (x >= 0.0)
        return 1.0 / (1.0 + exp(-x));
    double e = exp(x);   /* also reached by NaN, which then propagates */
    return e / (1.0 + e);
}

/* Written with max/log1p so that neither large |x| overflows nor small terms vanish;
 * NaN fails the comparison and still propagates through the log1p term. */
static double softplus(double x)
{
    return (x > 0.0 ? x : 0.0) + log1p(exp(-fabs(x)));
}

/* beta * x, except that 0 * +-inf is taken as 0: swish-0 is x / 2 at every x, infinities
 * included (a NaN x still gives NaN). */
static double scaled(double beta, double x)
{
    return (beta == 0.0 && isinf(x)) ? 0.0 : beta * x;
}

/* x * sigma(beta x). When sigma underflows to exactly 0 at an infinite x the product
 * would be inf * 0; the limit is 0 with the sign of x. */
static double swish(double beta, double x)
{
    double s = sigma(scaled(beta, x));
    if (s == 0.0 && isinf(x))
        return copysign(0.0, x);
    return x * s;
}

/* d/dx x sigma(bx) = sigma(bx) + bx sigma(bx) sigma(-bx). At |bx| = inf the product
 * sigma(bx) sigma(-bx) is exactly 0 and bx * 0 would be NaN; its limit is 0. */
static double swish_grad(double beta, double x)
{
    double bx = scaled(beta, x);
    double s = sigma(bx);
    double t = s * sigma(-bx);
    return s + (t == 0.0 ? 0.0 : bx * t);
}

sigfuse_status sf_ref_activation(sigfuse_ctx *ctx, const sf_ew_call *call)
{
    const sigfuse_buffer *in0 = call->in[0], *in1 = call->in[1], *out = call->out[0];
    const double beta = call->beta;
    const int64_t n = call->n;

    /* Each element's inputs are loaded before its output is stored, which is all that
     * in-place use (out aliasing an input) needs. */
    switch (call->op) {
    case SF_EW_SIGMOID_FWD:
        for (int64_t i = 0; i < n; i++)
            sf_host_store(out, i, sigma(sf_host_load(in0, i)));
        return SIGFUSE_SUCCESS;
    case SF_EW_SIGMOID_BWD:
        /* From the saved output alone: y (1 - y) is the definition, so where y has
         * rounded to 0 or 1 the gradient is 0 even though sigma'(x) is not. */
        for (int64_t i = 0; i < n; i++) {
            double y = sf_host_load(in0, i), dy = sf_host_load(in1, i);
            sf_host_store(out, i, dy * y * (1.0 - y));
        }
        return SIGFUSE_SUCCESS;
    case SF_EW_LOG_SIGMOID_FWD:
        for (int64_t i = 0; i < n; i++)
            sf_host_store(out, i, -softplus(-sf_host_load(in0, i)));
        return SIGFUSE_SUCCESS;
    case SF_EW_LOG_SIGMOID_BWD:
        for (int64_t i = 0; i < n; i++) {
            double x = sf_host_load(in0, i), dy = sf_host_load(in1, i);
            sf_host_store(out, i, dy * sigma(-x));
        }
        return SIGFUSE_SUCCESS;
    case SF_EW_SILU_FWD:
        for (int64_t i = 0; i < n; i++)
            sf_host_store(out, i, swish(beta, sf_host_load(in0, i)));
        return SIGFUSE_SUCCESS;
    case SF_EW_SILU_BWD:
        for (int64_t i = 0; i < n; i++) {
            double x = sf_host_load(in0, i), dy = sf_host_load(in1, i);
            sf_host_store(out, i, dy * swish_grad(beta, x));
        }
        return SIGFUSE_SUCCESS;
    default:
        return sf_fail(ctx, SIGFUSE_ERR_UNSUPPORTED,
                       "reference activation: %s is not an activation", sf_ew_op_name(call->op));
    }
}
