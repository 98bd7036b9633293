/* SPDX-License-Identifier: MIT */
/*
 * Asymmetric loss (ASL, Ridnik et al. 2021) over [rows, cols], fused through the logistic
 * loss kernel (loss_kernel.cuh): one pass reads logits and targets (and mask) once and
 * writes the loss (elements or block partials) and/or dlogits. Loss + gradient moves 12 B
 * per element in f32 (bf16: 6 B, bf16 + u8 targets: 5 B; a mask 1 B more). Budget
 * (docs/design.md, Performance): 7.75 SASS instructions per byte on the H200; the usual
 * setting (gamma_pos 0, gamma_neg 4, a margin) has kernels of its own with the powers as
 * products (sf_asl04_parts), every other one runs the generic kernel with powf.
 */
#include <type_traits>

#include "sf_math.h"

#include "dtype.cuh"
#include "loss_kernel.cuh"
#include "loss_launch.cuh"
#include "sf_cuda.h"

namespace {

/* Fast: gamma_pos = 0, gamma_neg = 4, a normal margin > 0 (sf_asl04_parts); else
 * sf_asl_loss_grad with the call's options. Hard targets (u8) select the part of their
 * class instead of weighting both by y and 1 - y. The loss of the fast form is plain
 * products, NaN for the 0 * inf of a zero coefficient (y = 0 at x = -inf, y = 1 at +inf
 * without a margin): the kernel then takes sf_asl_loss_grad (limits), exact everywhere.
 * The gradient is bounded wherever the inputs are not NaN, so it needs no limits. */
template <bool Fast> struct asl_op {
    float gpos, gneg, margin;
    static constexpr bool grad_needs_limits = false;
    static constexpr bool hard_split = false;   /* the soft form is two products more */
    __device__ void prepare() {}
    template <bool Loss, bool, bool, bool Hard>
    __device__ void apply(float x, float y, float, float, float *loss, float *grad, float *sig) const
    {
        *sig = 0.0f;   /* no probabilities output */
        if (Fast) {
            float lp, gp, ln, gn;
            sf_asl04_parts(x, margin, &lp, &gp, &ln, &gn);
            if (Hard) {
                const bool t = y != 0.0f;
                *loss = t ? lp : ln;
                *grad = t ? gp : gn;
            } else {
                *loss = y * lp + (1.0f - y) * ln;
                *grad = y * gp + (1.0f - y) * gn;
            }
        } else {
            sf_asl_loss_grad(x, y, gpos, gneg, margin, loss, grad);
        }
        if (!Loss)
            *loss = 0.0f;
    }
    template <bool>
    __device__ void limits(float x, float y, float, float, float *loss, float *grad) const
    {
        sf_asl_loss_grad(x, y, gpos, gneg, margin, loss, grad);
    }
};

constexpr unsigned train = SF_LF_LOSS_SUM | SF_LF_GRAD;

template <typename T, typename TY, bool Fast>
sigfuse_status run(sigfuse_ctx *ctx, const sigfuse_asymmetric_args *a)
{
    sf_loss_params p = sf_loss_params_of(a);
    p.threshold = 0.5f;
    using op = asl_op<Fast>;
    /* The usual setting: training (also with ignored targets) and the gradient alone. */
    using kernels = std::conditional_t<Fast, sf_loss_specialised<op, T, TY, train, SF_LF_GRAD, train | SF_LF_MASK>,
                                       sf_loss_specialised<op, T, TY>>;
    return sf_cuda_loss_launch<op, T, TY, kernels>(ctx, op{a->gamma_pos, a->gamma_neg, a->margin}, p, a->reduction,
                                                  sf_loss_scalar_of(a));
}

} // namespace

sigfuse_status sf_cuda_asymmetric(sigfuse_ctx *ctx, const sigfuse_asymmetric_args *a)
{
    /* A normal margin keeps 1 - p_m = sigma(-x) + m in __fdividef's range (sf_asl04_parts). */
    const bool fast = a->gamma_pos == 0.0f && a->gamma_neg == 4.0f && a->margin >= 0x1p-126f;
    return sf_cuda_dispatch_targets(ctx, "asymmetric", a->logits->dtype, a->targets->dtype, [&](auto t, auto ty) {
        return fast ? run<decltype(t), decltype(ty), true>(ctx, a) : run<decltype(t), decltype(ty), false>(ctx, a);
    });
}
