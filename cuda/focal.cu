/* SPDX-License-Identifier: MIT */
/*
 * Sigmoid focal loss (RetinaNet) over [rows, cols], fused: one pass reads logits and
 * targets (and mask) once and writes the loss (elements or block partials) and/or dlogits.
 * Loss + gradient moves 12 B per element in f32 (bf16: 6 B, bf16 + u8 targets: 5 B; a mask
 * 1 B more). Budget
 * (docs/design.md, Performance): 7.75 SASS instructions per byte on the H200; gamma = 2
 * (RetinaNet's) has kernels of its own whose q^gamma is one product, not a pow.
 * Target: >= 90 % of the device copy rate.
 */
#include <type_traits>

#include "sf_math.h"

#include "dtype.cuh"
#include "loss_kernel.cuh"
#include "loss_launch.cuh"
#include "sf_cuda.h"

namespace {

/* Gamma2: gamma is 2, a constant the power folds into (sf_pow_unit's tests vanish).
 * U8: u8 targets, always 0 or 1. Grad16: the gradient is stored in 16 bits. Hard targets
 * (u8, or float targets of a vector that are all 0 or 1: hard_split) take sf_focal_hard_*
 * (the gradient alone, gamma 2, 16 bits: sf_focal2_hard_grad16), selections with no
 * division; soft ones
 * sf_focal_parts, whose gradient can be NaN where its loss is finite (a 0 * inf in
 * ratio * CE), hence grad_needs_limits. */
template <bool Gamma2, bool U8, bool Grad16> struct focal_op {
    float alpha, gamma;
    float at_zero, at_one;   /* sf_focal_signed_alpha at t = 0 and 1, from prepare */
    float alpha_one;         /* alpha_t at y = 1 (-at_one), for the soft form of gamma 2 */
    static constexpr bool grad_needs_limits = true;   /* soft targets only (above) */
    static constexpr bool hard_split = true;
    /* Before the loop: with alpha's test (alpha < 0: no alpha term) inside it, nvcc made
     * two copies of the loop, one for either answer, and each kept more registers. */
    __device__ void prepare()
    {
        at_zero = sf_focal_signed_alpha(alpha, 0);
        at_one = sf_focal_signed_alpha(alpha, 1);
        alpha_one = sf_focal_alpha_t(alpha, 1.0f);
    }
    template <bool Loss, bool, bool, bool Hard>
    __device__ void apply(float x, float y, float, float, float *loss, float *grad, float *sig) const
    {
        const float g = Gamma2 ? 2.0f : gamma;
        *sig = 0.0f;   /* the focal loss has no probabilities output */
        const int t = y != 0.0f;
        if (Hard && Loss) {
            sf_focal_hard_parts(x, t, t ? at_one : at_zero, g, 0, loss, grad);
        } else if (Hard && Gamma2 && Grad16) {   /* within a 16-bit ulp, without a fallback */
            *loss = 0.0f;
            *grad = sf_focal2_hard_grad16(x, t, t ? at_one : at_zero);
        } else if (Hard) {   /* exact without a fallback */
            *loss = 0.0f;
            *grad = sf_focal_hard_grad(x, t, t ? at_one : at_zero, g);
        } else {
            if (Gamma2)   /* no division: sf_focal2_loss_grad_plain */
                sf_focal2_loss_grad_plain(x, y, alpha_one, at_zero, loss, grad);
            else
                sf_focal_parts(x, y, alpha, g, 0, loss, grad);
            if (!Loss)   /* the kernel tests the gradient alone (grad_needs_limits) */
                *loss = 0.0f;
        }
    }
    template <bool>
    __device__ void limits(float x, float y, float, float, float *loss, float *grad) const
    {
        const float g = Gamma2 ? 2.0f : gamma;
        if (U8)
            sf_focal_hard_parts(x, y != 0.0f, y != 0.0f ? at_one : at_zero, g, 1, loss, grad);
        else
            sf_focal_parts(x, y, alpha, g, 1, loss, grad);
    }
};

constexpr unsigned train = SF_LF_LOSS_SUM | SF_LF_GRAD;

template <typename T, typename TY, bool Gamma2> sigfuse_status run(sigfuse_ctx *ctx, const sigfuse_focal_args *a)
{
    sf_loss_params p = sf_loss_params_of(a);
    p.threshold = 0.5f;
    /* Grad16: the gradient is stored in 16 bits (f16, bf16), where sf_focal2_hard_grad16
     * is within the dtype's accuracy. */
    using op = focal_op<Gamma2, std::is_same_v<TY, uint8_t>, Gamma2 && sizeof(T) == 2>;
    /* gamma = 2: training (reduced loss and gradient, also with ignored targets) and the
     * gradient alone get kernels of their own; any other gamma runs the generic kernel,
     * which calls pow. */
    using kernels = std::conditional_t<Gamma2, sf_loss_specialised<op, T, TY, train, SF_LF_GRAD, train | SF_LF_MASK>,
                                       sf_loss_specialised<op, T, TY>>;
    return sf_cuda_loss_launch<op, T, TY, kernels>(ctx, op{a->alpha, a->gamma, 0.0f, 0.0f, 0.0f}, p, a->reduction,
                                                  sf_loss_scalar_of(a));
}

} // namespace

sigfuse_status sf_cuda_sigmoid_focal(sigfuse_ctx *ctx, const sigfuse_focal_args *a)
{
    const bool g2 = a->gamma == 2.0f;
    return sf_cuda_dispatch_targets(ctx, "sigmoid_focal", a->logits->dtype, a->targets->dtype, [&](auto t, auto ty) {
        return g2 ? run<decltype(t), decltype(ty), true>(ctx, a) : run<decltype(t), decltype(ty), false>(ctx, a);
    });
}
