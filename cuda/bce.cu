/* SPDX-License-Identifier: MIT */
/*
 * BCE with logits over [rows, cols], fused: one pass reads logits, targets (weight,
 * pos_weight, dloss_in, mask) once and writes any of loss (elements or block partials),
 * dlogits, sigmoid, labels. Loss + gradient moves 12 B per element in f32 (bf16: 6 B, bf16
 * + u8 targets: 5 B; a mask adds 1 B, and MEAN with a mask 1 B more for its count). Budget (docs/design.md, Performance): 7.75 SASS instructions per byte
 * on the H200, so the training kernels' common path is straight-line code
 * (sf_loss_kernel's feature sets).
 * Target: >= 90 % of the device copy rate.
 */
#include "sf_math.h"

#include "dtype.cuh"
#include "loss_kernel.cuh"
#include "loss_launch.cuh"
#include "sf_cuda.h"

namespace {

/* Hard targets (u8: 0 or 1, never smoothed: the API refuses label smoothing with them)
 * through sf_bce_hard_sel_loss_grad_plain, selections with no products with the target;
 * float targets through the forms that share the softplus tail, sf_bce_unit_* (p = 1) and
 * sf_bce_pw_* (pos_weight). */
struct bce_op {
    float eps;   /* label smoothing */
    static constexpr bool grad_needs_limits = false;   /* both sigmas are bounded */
    static constexpr bool hard_split = false;          /* the p = 1 form is as short */
    __device__ void prepare() {}
    template <bool Loss, bool Smooth, bool PosWeight, bool Hard>
    __device__ void apply(float x, float y, float w, float p, float *loss, float *grad, float *sig) const
    {
        const float ys = Smooth && !Hard ? sf_smooth_target(y, eps) : y;
        if (Hard && Loss && !PosWeight)
            sf_bce_hard_sel_loss_grad_plain(x, y != 0.0f, w, p, loss, grad, sig);
        else if (Hard && Loss)   /* t's predicate stays live for p_t: fewer predicates live at once */
            sf_bce_hard_loss_grad_plain(x, y != 0.0f, w, p, loss, grad, sig);
        else if (Loss && PosWeight)
            sf_bce_pw_loss_grad_plain(x, ys, w, p, loss, grad, sig);
        else if (Loss)
            sf_bce_unit_loss_grad_plain(x, ys, w, loss, grad, sig);
        if (!Loss) {
            *loss = 0.0f;
            *grad = sf_bce_grad(x, ys, w, p, sig);   /* no logarithm needed */
        }
    }
    template <bool Smooth>
    __device__ void limits(float x, float y, float w, float p, float *loss, float *) const
    {
        *loss = sf_bce_loss_limits(x, Smooth ? sf_smooth_target(y, eps) : y, w, p);
    }
};

/* The option sets of training (the loss reduced and its gradient; with pos_weight, an
 * element weight, or ignored targets) and of evaluation (the reduced loss alone), and a
 * gradient alone. */
constexpr unsigned train = SF_LF_LOSS_SUM | SF_LF_GRAD;
template <typename T, typename TY>
using bce_kernels = sf_loss_specialised<bce_op, T, TY, train, train | SF_LF_POS_WEIGHT, train | SF_LF_WEIGHT,
                                        SF_LF_GRAD, SF_LF_LOSS_SUM, train | SF_LF_MASK>;

template <typename T, typename TY> sigfuse_status run(sigfuse_ctx *ctx, const sigfuse_bce_args *a)
{
    sf_loss_params p = sf_loss_params_of(a);
    p.weight = sf_dptr(a->weight);
    p.pos_weight = sf_dptr(a->pos_weight);
    p.probs = sf_dptr(a->probs);
    p.labels = sf_dptr(a->labels);
    p.labels_u8 = a->labels && a->labels->dtype == SIGFUSE_U8;
    p.smooth = a->label_smoothing > 0.0f;
    p.threshold = a->threshold;
    return sf_cuda_loss_launch<bce_op, T, TY, bce_kernels<T, TY>>(ctx, bce_op{a->label_smoothing}, p, a->reduction,
                                                                 sf_loss_scalar_of(a));
}

} // namespace

sigfuse_status sf_cuda_bce_with_logits(sigfuse_ctx *ctx, const sigfuse_bce_args *a)
{
    return sf_cuda_dispatch_targets(ctx, "bce_with_logits", a->logits->dtype, a->targets->dtype,
                                    [&](auto tag, auto ytag) { return run<decltype(tag), decltype(ytag)>(ctx, a); });
}
