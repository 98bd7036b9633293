/* SPDX-License-Identifier: MIT */
/*
 * Activations, elementwise in f32/f16/bf16: sigmoid, log-sigmoid, swish-beta (SiLU),
 * forward from x, backward from (y or x, dy). Moves 2 elements (forward) or 3 (backward)
 * per element: 8 / 12 B in f32, 4 / 6 B in f16/bf16. The math is far under the compute
 * roof, so the time is those bytes at the device copy rate: the target is >= 90 % of it
 * (16-byte accesses, one grid-stride kernel). Budget (docs/design.md, Performance): 7.75
 * SASS instructions per byte on the H200.
 */
#include "sf_math.h"

#include "dtype.cuh"
#include "elementwise.cuh"
#include "sf_cuda.h"

namespace {

struct sigmoid_fwd {
    static constexpr int NIN = 1, NOUT = 1;
    __device__ void operator()(const float *in, float *out) const { out[0] = sf_sigmoid(in[0]); }
};
struct sigmoid_bwd {   /* in: y, dy */
    static constexpr int NIN = 2, NOUT = 1;
    __device__ void operator()(const float *in, float *out) const { out[0] = sf_sigmoid_bwd(in[0], in[1]); }
};
struct log_sigmoid_fwd {
    static constexpr int NIN = 1, NOUT = 1;
    __device__ void operator()(const float *in, float *out) const { out[0] = sf_log_sigmoid(in[0]); }
};
struct log_sigmoid_bwd {   /* in: x, dy */
    static constexpr int NIN = 2, NOUT = 1;
    __device__ void operator()(const float *in, float *out) const { out[0] = sf_log_sigmoid_bwd(in[0], in[1]); }
};
struct silu_fwd {
    static constexpr int NIN = 1, NOUT = 1;
    float beta;
    __device__ void operator()(const float *in, float *out) const { out[0] = sf_silu_fwd(beta, in[0]); }
};
struct silu_bwd {   /* in: x, dy */
    static constexpr int NIN = 2, NOUT = 1;
    float beta;
    __device__ void operator()(const float *in, float *out) const { out[0] = sf_silu_bwd(beta, in[0], in[1]); }
};

template <typename T> sigfuse_status run(sigfuse_ctx *ctx, const sf_ew_call *c)
{
    switch (c->op) {
    case SF_OP_sigmoid_forward: return sf_cuda_launch_ew<sigmoid_fwd, T>(ctx, sigmoid_fwd{}, c->n, c->in, c->out);
    case SF_OP_sigmoid_backward: return sf_cuda_launch_ew<sigmoid_bwd, T>(ctx, sigmoid_bwd{}, c->n, c->in, c->out);
    case SF_OP_log_sigmoid_forward:
        return sf_cuda_launch_ew<log_sigmoid_fwd, T>(ctx, log_sigmoid_fwd{}, c->n, c->in, c->out);
    case SF_OP_log_sigmoid_backward:
        return sf_cuda_launch_ew<log_sigmoid_bwd, T>(ctx, log_sigmoid_bwd{}, c->n, c->in, c->out);
    case SF_OP_silu_forward: return sf_cuda_launch_ew<silu_fwd, T>(ctx, silu_fwd{c->beta}, c->n, c->in, c->out);
    case SF_OP_silu_backward: return sf_cuda_launch_ew<silu_bwd, T>(ctx, silu_bwd{c->beta}, c->n, c->in, c->out);
    default: break;
    }
    return sf_fail(ctx, SIGFUSE_ERR_UNSUPPORTED, "cuda: %s is not an activation", sf_op_name(c->op));
}

} // namespace

sigfuse_status sf_cuda_activation(sigfuse_ctx *ctx, const sf_ew_call *call)
{
    return sf_cuda_dispatch(ctx, sf_op_name(call->op), call->in[0]->dtype, [&](auto tag) {
        return run<decltype(tag)>(ctx, call);
    });
}
