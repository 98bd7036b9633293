/* SPDX-License-Identifier: MIT */
/*
 * Reference gated linear units, elementwise over pairs (a, b) in double:
 * glu y = a ref_sigmoid(b) and swiglu y = a swish_beta(b) = a b ref_sigmoid(beta b), forward and
 * backward (da and db each optional).
 */
#include <math.h>

#include "ref_math.h"
#include "sf_internal.h"

/* The scalar forms (ref_sigmoid and the rest) come from ref_math.h, shared with
 * ref/activation.c, so that each stable form has one definition in the reference. */

sigfuse_status sf_ref_glu(sigfuse_ctx *ctx, const sf_ew_call *call)
{
    const sigfuse_buffer *a_buf = call->in[0], *b_buf = call->in[1], *dy_buf = call->in[2];
    const sigfuse_buffer *out0 = call->out[0], *out1 = call->out[1];
    const double beta = call->beta;
    const int64_t n = call->n;

    /* Every input of element i is loaded before anything of element i is stored, so an
     * output may alias any input. */
    switch (call->op) {
    case SF_OP_glu_forward:
        for (int64_t i = 0; i < n; i++) {
            double a = sf_host_load(a_buf, i), b = sf_host_load(b_buf, i);
            sf_host_store(out0, i, a * ref_sigmoid(b));
        }
        return SIGFUSE_SUCCESS;
    case SF_OP_glu_backward:
        for (int64_t i = 0; i < n; i++) {
            double a = sf_host_load(a_buf, i), b = sf_host_load(b_buf, i);
            double dy = sf_host_load(dy_buf, i);
            double s = ref_sigmoid(b);
            if (out0)
                sf_host_store(out0, i, dy * s);
            if (out1)
                sf_host_store(out1, i, dy * a * (s * ref_sigmoid(-b)));
        }
        return SIGFUSE_SUCCESS;
    case SF_OP_swiglu_forward:
        for (int64_t i = 0; i < n; i++) {
            double a = sf_host_load(a_buf, i), b = sf_host_load(b_buf, i);
            sf_host_store(out0, i, a * ref_swish(beta, b));
        }
        return SIGFUSE_SUCCESS;
    case SF_OP_swiglu_backward:
        for (int64_t i = 0; i < n; i++) {
            double a = sf_host_load(a_buf, i), b = sf_host_load(b_buf, i);
            double dy = sf_host_load(dy_buf, i);
            if (out0)
                sf_host_store(out0, i, dy * ref_swish(beta, b));
            if (out1)
                sf_host_store(out1, i, dy * a * ref_swish_grad(beta, b));
        }
        return SIGFUSE_SUCCESS;
    default:
        return sf_fail(ctx, SIGFUSE_ERR_UNSUPPORTED,
                       "reference glu: %s is not a gated unit", sf_op_name(call->op));
    }
}
