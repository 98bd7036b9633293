/* SPDX-License-Identifier: MIT */
/*
 * Launchers of the GRU cell (gru.cl), forward and backward, on the 2-D grid of lstm.c:
 * dimension 0 the H hidden units, dimension 1 the row chunks; the two bias gradients sum
 * their columns over rows in a fixed order, per chunk into the scratch and then across
 * chunks in sf_finish_cols, or directly when there is a single chunk.
 */
#include "sf_opencl.h"

sigfuse_status sf_cl_gru_cell_forward(sigfuse_ctx *ctx, const sigfuse_gru_forward_args *a)
{
    sf_cl_launch l;
    SF_TRY(sf_cl_begin(ctx, SF_CL_FAMILY_gru, a->gates_x->dtype, SF_CL_KERNEL_gru_cell_forward, &l));
    const uint64_t B = (uint64_t)a->batch, H = (uint64_t)a->hidden;
    const sf_cl_grid2 g = sf_cl_grid_2d(sf_cl_of(ctx), l.local, H, B);
    sf_cl_arg_buf(&l, a->gates_x);
    sf_cl_arg_buf(&l, a->gates_h);
    sf_cl_arg_buf(&l, a->bias_x);
    sf_cl_arg_buf(&l, a->bias_h);
    sf_cl_arg_buf(&l, a->h_prev);
    sf_cl_arg_buf(&l, a->h);
    sf_cl_arg_u64(&l, B);
    sf_cl_arg_u64(&l, H);
    return sf_cl_enqueue_2d(&l, &g);
}

sigfuse_status sf_cl_gru_cell_backward(sigfuse_ctx *ctx, const sigfuse_gru_backward_args *a)
{
    sf_cl_state *s = sf_cl_of(ctx);
    const sigfuse_dtype dtype = a->gates_x->dtype;
    sf_cl_launch l;
    SF_TRY(sf_cl_begin(ctx, SF_CL_FAMILY_gru, dtype, SF_CL_KERNEL_gru_cell_backward, &l));
    const uint64_t B = (uint64_t)a->batch, H = (uint64_t)a->hidden;
    const bool want_bias = a->dbias_x || a->dbias_h;
    /* Each chunk keeps both bias sums, x then h: 6H accumulators. */
    const sf_cl_grid2 g = sf_cl_colsum_grid(s, l.local, B, H, want_bias ? 6 * H : 0);
    const size_t chunks = g.gy * g.ly;
    const bool partials = want_bias && chunks > 1;
    if (partials)
        SF_TRY(sf_cl_barrier(ctx));   /* the scratch may still be read by the previous op */
    sf_cl_arg_buf(&l, a->gates_x);
    sf_cl_arg_buf(&l, a->gates_h);
    sf_cl_arg_buf(&l, a->bias_x);
    sf_cl_arg_buf(&l, a->bias_h);
    sf_cl_arg_buf(&l, a->h_prev);
    sf_cl_arg_buf(&l, a->dh);
    sf_cl_arg_buf(&l, a->dgates_x);
    sf_cl_arg_buf(&l, a->dgates_h);
    sf_cl_arg_buf(&l, a->dh_prev);
    sf_cl_arg_buf(&l, a->dbias_x);
    sf_cl_arg_buf(&l, a->dbias_h);
    sf_cl_arg_mem(&l, partials ? s->scratch : NULL);
    sf_cl_arg_u64(&l, B);
    sf_cl_arg_u64(&l, H);
    SF_TRY(sf_cl_enqueue_2d(&l, &g));
    if (partials && a->dbias_x)
        SF_TRY(sf_cl_finish_cols(ctx, SF_CL_FAMILY_gru, dtype, 0, chunks, 6 * H, 3 * H, a->dbias_x));
    if (partials && a->dbias_h)
        SF_TRY(sf_cl_finish_cols(ctx, SF_CL_FAMILY_gru, dtype, 3 * H, chunks, 6 * H, 3 * H, a->dbias_h));
    return SIGFUSE_SUCCESS;
}
