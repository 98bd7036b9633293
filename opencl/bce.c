/* SPDX-License-Identifier: MIT */
/*
 * Launcher of bce_with_logits (bce.cl): the loss pass of loss.c, with the element weight,
 * pos_weight, sigma(x) and labels of its own.
 */
#include "sf_opencl.h"

sigfuse_status sf_cl_bce_with_logits(sigfuse_ctx *ctx, const sigfuse_bce_args *a)
{
    const sf_cl_loss_io io = {a->rows,    a->cols, a->reduction, a->grad_scale, a->logits,
                              a->targets, a->mask, a->dloss_in,  a->loss,       a->dlogits};
    /* pos_weight is per column, read element by element on either path. */
    const sigfuse_buffer *const more[] = {a->weight, a->probs, a->labels};
    sf_cl_loss p;
    SF_TRY(sf_cl_loss_begin(ctx, SF_CL_FAMILY_bce, SF_CL_KERNEL_bce_with_logits, &io, more, 3, &p));
    sf_cl_arg_buf(&p.l, a->weight);
    sf_cl_arg_buf(&p.l, a->pos_weight);
    sf_cl_arg_buf(&p.l, a->probs);
    sf_cl_arg_u8_or_float(&p.l, a->labels);
    sf_cl_arg_u64(&p.l, (uint64_t)a->cols);
    sf_cl_arg_f32(&p.l, a->label_smoothing);
    sf_cl_arg_f32(&p.l, a->threshold);
    return sf_cl_loss_run(ctx, &p);
}
