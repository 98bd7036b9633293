/* SPDX-License-Identifier: MIT */
/*
 * Launchers of the elementwise ops: activations (activation.cl) and gated linear units
 * (glu.cl). Each is one grid-stride kernel over n elements on the context's queue.
 */
#include "sf_opencl.h"

typedef struct ew_kernel {
    sf_cl_family family;
    const char *name;
    bool has_beta;
} ew_kernel;

static const ew_kernel ew_kernels[SF_OP_COUNT] = {
    [SF_OP_sigmoid_forward] = {SF_CL_ACTIVATION, "sigmoid_fwd", false},
    [SF_OP_sigmoid_backward] = {SF_CL_ACTIVATION, "sigmoid_bwd", false},
    [SF_OP_log_sigmoid_forward] = {SF_CL_ACTIVATION, "log_sigmoid_fwd", false},
    [SF_OP_log_sigmoid_backward] = {SF_CL_ACTIVATION, "log_sigmoid_bwd", false},
    [SF_OP_silu_forward] = {SF_CL_ACTIVATION, "silu_fwd", true},
    [SF_OP_silu_backward] = {SF_CL_ACTIVATION, "silu_bwd", true},
    [SF_OP_glu_forward] = {SF_CL_GLU, "glu_fwd", false},
    [SF_OP_glu_backward] = {SF_CL_GLU, "glu_bwd", false},
    [SF_OP_swiglu_forward] = {SF_CL_GLU, "swiglu_fwd", true},
    [SF_OP_swiglu_backward] = {SF_CL_GLU, "swiglu_bwd", true},
};

static sigfuse_status launch(sigfuse_ctx *ctx, const sf_ew_call *call)
{
    if ((unsigned)call->op >= SF_OP_COUNT)
        return sf_fail(ctx, SIGFUSE_ERR_INVALID_ARGUMENT, "opencl: unknown elementwise op %d", (int)call->op);
    const ew_kernel *k = &ew_kernels[call->op];
    const bool two_outputs = call->op == SF_OP_glu_backward || call->op == SF_OP_swiglu_backward;
    const sigfuse_dtype dtype = call->in[0]->dtype;

    sf_cl_launch l;
    SF_TRY(sf_cl_begin(ctx, k->family, dtype, k->name, &l));
    for (int i = 0; i < 3 && call->in[i]; i++)
        sf_cl_arg_buf(&l, call->in[i]);
    sf_cl_arg_buf(&l, call->out[0]);
    if (two_outputs)
        sf_cl_arg_buf(&l, call->out[1]);
    sf_cl_arg_u64(&l, (uint64_t)call->n);
    if (k->has_beta)
        sf_cl_arg_f32(&l, call->beta);
    return sf_cl_enqueue_1d(&l, sf_cl_groups(sf_cl_of(ctx), (uint64_t)call->n, l.local));
}

sigfuse_status sf_cl_activation(sigfuse_ctx *ctx, const sf_ew_call *call) { return launch(ctx, call); }
sigfuse_status sf_cl_glu(sigfuse_ctx *ctx, const sf_ew_call *call) { return launch(ctx, call); }
