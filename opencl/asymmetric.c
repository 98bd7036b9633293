/* SPDX-License-Identifier: MIT */
/*
 * Launcher of asymmetric (asymmetric.cl): the loss pass of loss.c, with the two focusing
 * exponents and the negatives' margin.
 */
#include "sf_opencl.h"

sigfuse_status sf_cl_asymmetric(sigfuse_ctx *ctx, const sigfuse_asymmetric_args *a)
{
    const sf_cl_loss_io io = {a->rows,    a->cols, a->reduction, a->grad_scale, a->logits,
                              a->targets, a->mask, a->dloss_in,  a->loss,       a->dlogits};
    sf_cl_loss p;
    SF_TRY(sf_cl_loss_begin(ctx, SF_CL_FAMILY_asymmetric, SF_CL_KERNEL_asymmetric, &io, NULL, 0, &p));
    sf_cl_arg_f32(&p.l, a->gamma_pos);
    sf_cl_arg_f32(&p.l, a->gamma_neg);
    sf_cl_arg_f32(&p.l, a->margin);
    return sf_cl_loss_run(ctx, &p);
}
