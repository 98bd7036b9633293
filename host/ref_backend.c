/* SPDX-License-Identifier: MIT */
/*
 * The CPU reference backend: the definition of every op, computing in double on host
 * memory, synchronously. The ops themselves live in host/ref_<family>.c.
 */
#include <stdio.h>
#include <string.h>

#include "sf_internal.h"

static sigfuse_status ref_elementwise(sigfuse_ctx *ctx, const sf_ew_call *call)
{
    switch (call->op) {
    case SF_EW_GLU_FWD:
    case SF_EW_GLU_BWD:
    case SF_EW_SWIGLU_FWD:
    case SF_EW_SWIGLU_BWD: return sf_ref_glu(ctx, call);
    default: return sf_ref_activation(ctx, call);
    }
}

const sf_backend_ops sf_ref_ops = {
    .destroy = NULL,
    .synchronize = NULL,   /* every op has finished when it returns */
    .check_buffer = NULL,
    .elementwise = ref_elementwise,
    .lstm_forward = sf_ref_lstm_forward,
    .lstm_backward = sf_ref_lstm_backward,
    .gru_forward = sf_ref_gru_forward,
    .gru_backward = sf_ref_gru_backward,
    .bce = sf_ref_bce,
    .focal = sf_ref_focal,
    .head_predict_workspace = sf_ref_head_predict_workspace,
    .head_train_workspace = sf_ref_head_train_workspace,
    .head_predict = sf_ref_head_predict,
    .head_train = sf_ref_head_train,
};

sigfuse_status sf_ref_ctx_create(sigfuse_ctx **ctx)
{
    sigfuse_ctx *c = sf_ctx_alloc(SIGFUSE_BACKEND_CPU, SIGFUSE_MEMORY_HOST, &sf_ref_ops);
    if (!c)
        return sf_create_fail(SIGFUSE_ERR_OUT_OF_MEMORY, "cpu: out of memory allocating the context");
    snprintf(c->device_name, sizeof c->device_name, "cpu reference (double)");
    *ctx = c;
    return SIGFUSE_SUCCESS;
}
