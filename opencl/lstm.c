/* SPDX-License-Identifier: MIT */
/*
 * Launchers of the LSTM cell (lstm.cl), forward and backward: one cell kernel each
 * (cell.c); backward sums dbias's 4H columns over the rows.
 */
#include "sf_opencl.h"

sigfuse_status sf_cl_lstm_cell_forward(sigfuse_ctx *ctx, const sigfuse_lstm_forward_args *a)
{
    const sigfuse_buffer *const bufs[] = {a->gates_x, a->gates_h, a->bias, a->c_prev, a->h, a->c};
    return sf_cl_cell_run(ctx, SF_CL_FAMILY_lstm, SF_CL_KERNEL_lstm_cell_forward, 4, a->batch, a->hidden, bufs, 6,
                          NULL, 0);
}

sigfuse_status sf_cl_lstm_cell_backward(sigfuse_ctx *ctx, const sigfuse_lstm_backward_args *a)
{
    const sigfuse_buffer *const bufs[] = {a->gates_x, a->gates_h, a->bias,    a->c_prev, a->dh,
                                          a->dc,      a->dgates,  a->dc_prev, a->dbias};
    return sf_cl_cell_run(ctx, SF_CL_FAMILY_lstm, SF_CL_KERNEL_lstm_cell_backward, 4, a->batch, a->hidden, bufs, 9,
                          &a->dbias, 1);
}
