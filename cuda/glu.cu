/* SPDX-License-Identifier: MIT */
/*
 * Gated linear units over n pairs (a, b): glu y = a sigma(b), swiglu y = a b sigma(beta b),
 * forward and backward (da, db each optional). Forward moves 3 elements per pair (12 B
 * f32, 6 B f16/bf16), backward up to 5 (20 B f32). Budget (docs/design.md, Performance):
 * 7.75 SASS instructions per byte on the H200. Target: >= 90 % of the device copy rate.
 */
#include "sf_math.h"

#include "dtype.cuh"
#include "elementwise.cuh"
#include "sf_cuda.h"

namespace {

struct glu_fwd {   /* in: a, b */
    static constexpr int NIN = 2, NOUT = 1;
    __device__ void operator()(const float *in, float *out) const { out[0] = sf_glu_fwd(in[0], in[1]); }
};
struct glu_bwd {   /* in: a, b, dy; out: da, db */
    static constexpr int NIN = 3, NOUT = 2;
    __device__ void operator()(const float *in, float *out) const
    {
        sf_glu_bwd(in[0], in[1], in[2], &out[0], &out[1]);
    }
};
struct swiglu_fwd {
    static constexpr int NIN = 2, NOUT = 1;
    float beta;
    __device__ void operator()(const float *in, float *out) const { out[0] = sf_swiglu_fwd(beta, in[0], in[1]); }
};
struct swiglu_bwd {
    static constexpr int NIN = 3, NOUT = 2;
    float beta;
    __device__ void operator()(const float *in, float *out) const
    {
        sf_swiglu_bwd(beta, in[0], in[1], in[2], &out[0], &out[1]);
    }
};

template <typename T> sigfuse_status run(sigfuse_ctx *ctx, const sf_ew_call *c)
{
    switch (c->op) {
    case SF_OP_glu_forward: return sf_cuda_launch_ew<glu_fwd, T>(ctx, glu_fwd{}, c->n, c->in, c->out);
    case SF_OP_glu_backward: return sf_cuda_launch_ew<glu_bwd, T>(ctx, glu_bwd{}, c->n, c->in, c->out);
    case SF_OP_swiglu_forward: return sf_cuda_launch_ew<swiglu_fwd, T>(ctx, swiglu_fwd{c->beta}, c->n, c->in, c->out);
    case SF_OP_swiglu_backward: return sf_cuda_launch_ew<swiglu_bwd, T>(ctx, swiglu_bwd{c->beta}, c->n, c->in, c->out);
    default: break;
    }
    return sf_fail(ctx, SIGFUSE_ERR_UNSUPPORTED, "cuda: %s is not a gated unit", sf_op_name(c->op));
}

} // namespace

sigfuse_status sf_cuda_glu(sigfuse_ctx *ctx, const sf_ew_call *call)
{
    return sf_cuda_dispatch(ctx, sf_op_name(call->op), call->in[0]->dtype, [&](auto tag) {
        return run<decltype(tag)>(ctx, call);
    });
}
