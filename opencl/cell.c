/* SPDX-License-Identifier: MIT */
/*
 * What the launchers of the recurrent cells (lstm.c, gru.c) share: one kernel on a 2-D
 * grid, dimension 0 the H hidden units (coalesced loads of each gate block), dimension 1
 * the row chunks. A bias gradient sums its columns over rows in a fixed order, per chunk
 * into the scratch and then across chunks in sf_finish_cols, or directly when there is a
 * single chunk (sf_cl_colsum_grid caps the chunks so that their partials fit).
 */
#include "sf_opencl.h"

sigfuse_status sf_cl_cell_run(sigfuse_ctx *ctx, sf_cl_family family, sf_cl_kernel kernel, int gates, int64_t batch,
                              int64_t hidden, const sigfuse_buffer *const *bufs, int n_bufs,
                              const sigfuse_buffer *const *dbias, int n_dbias)
{
    sf_cl_state *s = sf_cl_of(ctx);
    const sigfuse_dtype dtype = bufs[0]->dtype;
    const uint64_t B = (uint64_t)batch, H = (uint64_t)hidden, cols = (uint64_t)gates * H;
    sf_cl_launch l;
    SF_TRY(sf_cl_begin(ctx, family, dtype, kernel, &l));
    /* Each chunk keeps the gates x H column sums of every bias gradient, side by side. */
    bool want_bias = false;
    for (int k = 0; k < n_dbias; k++)
        want_bias = want_bias || dbias[k];
    const sf_cl_grid2 g = sf_cl_colsum_grid(s, l.local, B, H, want_bias ? (uint64_t)n_dbias * cols : 0);
    const size_t chunks = g.gy * g.ly;
    const bool partials = want_bias && chunks > 1;
    if (partials)
        SF_TRY(sf_cl_barrier(ctx));   /* the scratch may still be read by the previous op */
    for (int k = 0; k < n_bufs; k++)
        sf_cl_arg_buf(&l, bufs[k]);
    if (n_dbias > 0)
        sf_cl_arg_mem(&l, partials ? s->scratch : NULL);
    sf_cl_arg_u64(&l, B);
    sf_cl_arg_u64(&l, H);
    SF_TRY(sf_cl_enqueue_2d(&l, &g));
    for (int k = 0; k < n_dbias; k++)
        if (partials && dbias[k])
            SF_TRY(sf_cl_finish_cols(ctx, family, dtype, k * cols, chunks, n_dbias * cols, cols, dbias[k]));
    return SIGFUSE_SUCCESS;
}
