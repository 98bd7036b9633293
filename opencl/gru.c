/* SPDX-License-Identifier: MIT */
/*
 * Launchers of the GRU cell (gru.cl), forward and backward: one cell kernel each
 * (cell.c); backward sums the 3H columns of dbias_x and of dbias_h over the rows.
 */
#include "sf_opencl.h"

sigfuse_status sf_cl_gru_cell_forward(sigfuse_ctx *ctx, const sigfuse_gru_forward_args *a)
{
    const sigfuse_buffer *const bufs[] = {a->gates_x, a->gates_h, a->bias_x, a->bias_h, a->h_prev, a->h};
    return sf_cl_cell_run(ctx, SF_CL_FAMILY_gru, SF_CL_KERNEL_gru_cell_forward, 3, a->batch, a->hidden, bufs, 6, NULL,
                          0);
}

sigfuse_status sf_cl_gru_cell_backward(sigfuse_ctx *ctx, const sigfuse_gru_backward_args *a)
{
    const sigfuse_buffer *const bufs[] = {a->gates_x,  a->gates_h,  a->bias_x,  a->bias_h,  a->h_prev, a->dh,
                                          a->dgates_x, a->dgates_h, a->dh_prev, a->dbias_x, a->dbias_h};
    const sigfuse_buffer *const dbias[] = {a->dbias_x, a->dbias_h};
    return sf_cl_cell_run(ctx, SF_CL_FAMILY_gru, SF_CL_KERNEL_gru_cell_backward, 3, a->batch, a->hidden, bufs, 11,
                          dbias, 2);
}
