/* SPDX-License-Identifier: MIT */
/*
 * Launchers of the recurrent cells: lstm_cell (lstm.cl) and gru_cell (gru.cl), forward
 * and backward. The kernels run on a 2-D grid: dimension 0 walks the H hidden units
 * (coalesced loads of each gate block), dimension 1 the row chunks; a bias gradient sums
 * its column over rows in a fixed order, per chunk into the scratch and then across
 * chunks in sf_finish_cols, or directly when there is a single chunk.
 */
#include "sf_opencl.h"

typedef struct cell_geom {
    size_t lx, ly;      /* work-group: hidden units x rows */
    size_t gx, gy;      /* work-groups along each */
} cell_geom;

/* A pure function of (B, H, device, kernel): the chunking of the bias sums, and with it
 * their rounding, is the same on every run. partial_per_chunk is the scratch floats one
 * row chunk needs (0: no bias gradient); chunks are capped so that all of them fit. */
static cell_geom geometry(const sf_cl_state *s, size_t local, uint64_t B, uint64_t H, uint64_t partial_per_chunk)
{
    cell_geom g;
    sf_cl_local_2d(s, local, H, &g.lx, &g.ly);
    uint64_t cap = (uint64_t)s->compute_units * SF_CL_GROUPS_PER_CU;
    uint64_t gx = (H + g.lx - 1) / g.lx;
    if (gx > cap)
        gx = cap;
    if (gx < 1)
        gx = 1;
    uint64_t gy = (B + g.ly - 1) / g.ly;
    uint64_t cap_y = cap / gx;
    if (gy > cap_y)
        gy = cap_y;
    if (gy < 1)
        gy = 1;
    if (partial_per_chunk > 0) {
        uint64_t fit = s->scratch_floats / partial_per_chunk;
        if (gy * g.ly > fit) {
            if (fit >= g.ly) {
                gy = fit / g.ly;
            } else {
                /* Very wide layers: fewer rows per group; with no room at all, one chunk
                 * whose work-items write the bias gradient themselves. */
                gy = 1;
                size_t ly = 1;
                while (ly * 2 <= fit)
                    ly *= 2;
                g.ly = ly;
            }
        }
    }
    g.gx = (size_t)gx;
    g.gy = (size_t)gy;
    return g;
}

sigfuse_status sf_cl_lstm_cell_forward(sigfuse_ctx *ctx, const sigfuse_lstm_forward_args *a)
{
    sf_cl_launch l;
    SF_TRY(sf_cl_begin(ctx, SF_CL_LSTM, a->gates_x->dtype, "lstm_fwd", &l));
    const uint64_t B = (uint64_t)a->batch, H = (uint64_t)a->hidden;
    cell_geom g = geometry(sf_cl_of(ctx), l.local, B, H, 0);
    sf_cl_arg_buf(&l, a->gates_x);
    sf_cl_arg_buf(&l, a->gates_h);
    sf_cl_arg_buf(&l, a->bias);
    sf_cl_arg_buf(&l, a->c_prev);
    sf_cl_arg_buf(&l, a->h);
    sf_cl_arg_buf(&l, a->c);
    sf_cl_arg_u64(&l, B);
    sf_cl_arg_u64(&l, H);
    return sf_cl_enqueue_2d(&l, g.gx, g.gy, g.lx, g.ly);
}

sigfuse_status sf_cl_lstm_cell_backward(sigfuse_ctx *ctx, const sigfuse_lstm_backward_args *a)
{
    sf_cl_state *s = sf_cl_of(ctx);
    const sigfuse_dtype dtype = a->gates_x->dtype;
    sf_cl_launch l;
    SF_TRY(sf_cl_begin(ctx, SF_CL_LSTM, dtype, "lstm_bwd", &l));
    const uint64_t B = (uint64_t)a->batch, H = (uint64_t)a->hidden;
    cell_geom g = geometry(s, l.local, B, H, a->dbias ? 4 * H : 0);
    const size_t chunks = g.gy * g.ly;
    const bool partials = a->dbias && chunks > 1;
    if (partials)
        SF_TRY(sf_cl_barrier(ctx));
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
    SF_TRY(sf_cl_enqueue_2d(&l, g.gx, g.gy, g.lx, g.ly));
    if (partials)
        return sf_cl_finish_cols(ctx, SF_CL_LSTM, dtype, 0, chunks, 4 * H, 4 * H, a->dbias);
    return SIGFUSE_SUCCESS;
}

sigfuse_status sf_cl_gru_cell_forward(sigfuse_ctx *ctx, const sigfuse_gru_forward_args *a)
{
    sf_cl_launch l;
    SF_TRY(sf_cl_begin(ctx, SF_CL_GRU, a->gates_x->dtype, "gru_fwd", &l));
    const uint64_t B = (uint64_t)a->batch, H = (uint64_t)a->hidden;
    cell_geom g = geometry(sf_cl_of(ctx), l.local, B, H, 0);
    sf_cl_arg_buf(&l, a->gates_x);
    sf_cl_arg_buf(&l, a->gates_h);
    sf_cl_arg_buf(&l, a->bias_x);
    sf_cl_arg_buf(&l, a->bias_h);
    sf_cl_arg_buf(&l, a->h_prev);
    sf_cl_arg_buf(&l, a->h);
    sf_cl_arg_u64(&l, B);
    sf_cl_arg_u64(&l, H);
    return sf_cl_enqueue_2d(&l, g.gx, g.gy, g.lx, g.ly);
}

sigfuse_status sf_cl_gru_cell_backward(sigfuse_ctx *ctx, const sigfuse_gru_backward_args *a)
{
    sf_cl_state *s = sf_cl_of(ctx);
    const sigfuse_dtype dtype = a->gates_x->dtype;
    sf_cl_launch l;
    SF_TRY(sf_cl_begin(ctx, SF_CL_GRU, dtype, "gru_bwd", &l));
    const uint64_t B = (uint64_t)a->batch, H = (uint64_t)a->hidden;
    const bool want_bias = a->dbias_x || a->dbias_h;
    /* Each chunk keeps both bias sums, x then h: 6H floats. */
    cell_geom g = geometry(s, l.local, B, H, want_bias ? 6 * H : 0);
    const size_t chunks = g.gy * g.ly;
    const bool partials = want_bias && chunks > 1;
    if (partials)
        SF_TRY(sf_cl_barrier(ctx));
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
    SF_TRY(sf_cl_enqueue_2d(&l, g.gx, g.gy, g.lx, g.ly));
    if (partials && a->dbias_x)
        SF_TRY(sf_cl_finish_cols(ctx, SF_CL_GRU, dtype, 0, chunks, 6 * H, 3 * H, a->dbias_x));
    if (partials && a->dbias_h)
        SF_TRY(sf_cl_finish_cols(ctx, SF_CL_GRU, dtype, 3 * H, chunks, 6 * H, 3 * H, a->dbias_h));
    return SIGFUSE_SUCCESS;
}
