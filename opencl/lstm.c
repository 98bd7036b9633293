/* SPDX-License-Identifier: MIT */
/*
 * Launchers of the LSTM cell (lstm.cl), forward and backward. The kernels run on a 2-D
 * grid: dimension 0 walks the H hidden units (coalesced loads of each gate block),
 * dimension 1 the row chunks; the bias gradient sums its column over rows in a fixed
 * order, per chunk into the scratch and then across chunks in sf_finish_cols, or directly
 * when there is a single chunk (sf_cl_colsum_grid, reduce.c).
 */
#include "sf_opencl.h"

sigfuse_status sf_cl_lstm_cell_forward(sigfuse_ctx *ctx, const sigfuse_lstm_forward_args *a)
{
    sf_cl_launch l;
    SF_TRY(sf_cl_begin(ctx, SF_CL_FAMILY_lstm, a->gates_x->dtype, SF_CL_KERNEL_lstm_cell_forward, &l));
    const uint64_t B = (uint64_t)a->batch, H = (uint64_t)a->hidden;
    const sf_cl_grid2 g = sf_cl_grid_2d(sf_cl_of(ctx), l.local, H, B);
    sf_cl_arg_buf(&l, a->gates_x);
    sf_cl_arg_buf(&l, a->gates_h);
    sf_cl_arg_buf(&l, a->bias);
    sf_cl_arg_buf(&l, a->c_prev);
    sf_cl_arg_buf(&l, a->h);
    sf_cl_arg_buf(&l, a->c);
    sf_cl_arg_u64(&l, B);
    sf_cl_arg_u64(&l, H);
    return sf_cl_enqueue_2d(&l, &g);
}

sigfuse_status sf_cl_lstm_cell_backward(sigfuse_ctx *ctx, const sigfuse_lstm_backward_args *a)
{
    sf_cl_state *s = sf_cl_of(ctx);
    const sigfuse_dtype dtype = a->gates_x->dtype;
    sf_cl_launch l;
    SF_TRY(sf_cl_begin(ctx, SF_CL_FAMILY_lstm, dtype, SF_CL_KERNEL_lstm_cell_backward, &l));
    const uint64_t B = (uint64_t)a->batch, H = (uint64_t)a->hidden;
    /* Each chunk keeps the 4H column sums of dbias. */
    const sf_cl_grid2 g = sf_cl_colsum_grid(s, l.local, B, H, a->dbias ? 4 * H : 0);
    const size_t chunks = g.gy * g.ly;
    const bool partials = a->dbias && chunks > 1;
    if (partials)
        SF_TRY(sf_cl_barrier(ctx));   /* the scratch may still be read by the previous op */
    sf_cl_arg_buf(&l, a->gates_x);
    sf_cl_arg_buf(&l, a->gates_h);
    sf_cl_arg_buf(&l, a->bias);
    sf_cl_arg_buf(&l, a->c_prev);
    sf_cl_arg_buf(&l, a->dh);
    sf_cl_arg_buf(&l, a->dc);
    sf_cl_arg_buf(&l, a->dgates);
    sf_cl_arg_buf(&l, a->dc_prev);
    sf_cl_arg_buf(&l, a->dbias);
    sf_cl_arg_mem(&l, partials ? s->scratch : NULL);
    sf_cl_arg_u64(&l, B);
    sf_cl_arg_u64(&l, H);
    SF_TRY(sf_cl_enqueue_2d(&l, &g));
    if (partials)
        return sf_cl_finish_cols(ctx, SF_CL_FAMILY_lstm, dtype, 0, chunks, 4 * H, 4 * H, a->dbias);
    return SIGFUSE_SUCCESS;
}
