/* SPDX-License-Identifier: MIT */
/*
 * Launcher of sigmoid_focal (focal.cl): the loss pass of loss.c, with alpha and gamma.
 */
#include "sf_opencl.h"

sigfuse_status sf_cl_sigmoid_focal(sigfuse_ctx *ctx, const sigfuse_focal_args *a)
{
    const sf_cl_loss_io io = {a->rows,    a->cols, a->reduction, a->grad_scale, a->logits,
                              a->targets, a->mask, a->dloss_in,  a->loss,       a->dlogits};
    sf_cl_loss p;
    SF_TRY(sf_cl_loss_begin(ctx, SF_CL_FAMILY_focal, SF_CL_KERNEL_sigmoid_focal, &io, NULL, 0, &p));
    sf_cl_arg_f32(&p.l, a->alpha);
    sf_cl_arg_f32(&p.l, a->gamma);
    return sf_cl_loss_run(ctx, &p);
}
