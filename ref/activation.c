/* SPDX-License-Identifier: MIT */
/*
 * Reference activations: sigmoid, log-sigmoid and SiLU / swish-beta, forward and
 * backward, elementwise in double. This is the definition the device backends are
 * measured against, so it keeps exact limits at +-inf and propagates NaN.
 */
#include <math.h>

#include "ref_math.h"
#include "sf_internal.h"

sigfuse_status sf_ref_activation(sigfuse_ctx *ctx, const sf_ew_call *call)
{
    const sigfuse_buffer *in0 = call->in[0], *in1 = call->in[1], *out = call->out[0];
    const double beta = call->beta;
    const int64_t n = call->n;

    /* Each element's inputs are loaded before its output is stored, which is all that
     * in-place use (out aliasing an input) needs. */
    switch (call->op) {
    case SF_OP_sigmoid_forward:
        for (int64_t i = 0; i < n; i++)
            sf_host_store(out, i, ref_sigmoid(sf_host_load(in0, i)));
        return SIGFUSE_SUCCESS;
    case SF_OP_sigmoid_backward:
        /* From the saved output alone: y (1 - y) is the definition, so where y has
         * rounded to 0 or 1 the gradient is 0 even though sigma'(x) is not. */
        for (int64_t i = 0; i < n; i++) {
            double y = sf_host_load(in0, i), dy = sf_host_load(in1, i);
            sf_host_store(out, i, dy * y * (1.0 - y));
        }
        return SIGFUSE_SUCCESS;
    case SF_OP_log_sigmoid_forward:
        for (int64_t i = 0; i < n; i++)
            sf_host_store(out, i, -ref_softplus(-sf_host_load(in0, i)));
        return SIGFUSE_SUCCESS;
    case SF_OP_log_sigmoid_backward:
        for (int64_t i = 0; i < n; i++) {
            double x = sf_host_load(in0, i), dy = sf_host_load(in1, i);
            sf_host_store(out, i, dy * ref_sigmoid(-x));
        }
        return SIGFUSE_SUCCESS;
    case SF_OP_silu_forward:
        for (int64_t i = 0; i < n; i++)
            sf_host_store(out, i, ref_swish(beta, sf_host_load(in0, i)));
        return SIGFUSE_SUCCESS;
    case SF_OP_silu_backward:
        for (int64_t i = 0; i < n; i++) {
            double x = sf_host_load(in0, i), dy = sf_host_load(in1, i);
            sf_host_store(out, i, dy * ref_swish_grad(beta, x));
        }
        return SIGFUSE_SUCCESS;
    default:
        return sf_fail(ctx, SIGFUSE_ERR_UNSUPPORTED,
                       "reference activation: %s is not an activation", sf_op_name(call->op));
    }
}
