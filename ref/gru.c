/* SPDX-License-Identifier: MIT */
/*
 * Reference GRU cell (PyTorch GRUCell: blocks r, z, n along the 3H columns of a row),
 * forward and backward in double. Backward recomputes the cell and gives the gradients
 * of both projections (they differ in the n block), dh_prev and both bias gradients.
 */
#include <math.h>

#include "ref_math.h"
#include "sf_internal.h"

static double load_or_zero(const sigfuse_buffer *b, int64_t i)
{
    return b ? sf_host_load(b, i) : 0.0;
}

/* The cell at one (row, j), from its inputs; every derived quantity backward needs. */
typedef struct gru_point {
    double gh_n;      /* hidden projection of the n block, bias included */
    double ar, az, an;/* pre-activations of r, z, n */
    double r, z, n, h_prev;
} gru_point;

static gru_point gru_eval(const sigfuse_buffer *gx, const sigfuse_buffer *gh,
                          const sigfuse_buffer *h_prev, int64_t H, int64_t r, int64_t j,
                          const double bx[3], const double bh[3])
{
    const int64_t row = r * 3 * H;
    gru_point p;
    double gi_r = sf_host_load(gx, row + j) + bx[0];
    double gi_z = sf_host_load(gx, row + H + j) + bx[1];
    double gi_n = sf_host_load(gx, row + 2 * H + j) + bx[2];
    double gh_r = sf_host_load(gh, row + j) + bh[0];
    double gh_z = sf_host_load(gh, row + H + j) + bh[1];
    p.gh_n = sf_host_load(gh, row + 2 * H + j) + bh[2];
    p.h_prev = sf_host_load(h_prev, r * H + j);
    p.ar = gi_r + gh_r;
    p.az = gi_z + gh_z;
    p.r = ref_sigmoid(p.ar);
    p.z = ref_sigmoid(p.az);
    p.an = gi_n + p.r * p.gh_n;
    p.n = tanh(p.an);
    return p;
}

static void load_biases(const sigfuse_buffer *bias, int64_t H, int64_t j, double out[3])
{
    for (int k = 0; k < 3; k++)
        out[k] = load_or_zero(bias, k * H + j);
}

sigfuse_status sf_ref_gru_cell_forward(sigfuse_ctx *ctx, const sigfuse_gru_forward_args *a)
{
    (void)ctx;
    const int64_t B = a->batch, H = a->hidden;
    for (int64_t r = 0; r < B; r++) {
        for (int64_t j = 0; j < H; j++) {
            double bx[3], bh[3];
            load_biases(a->bias_x, H, j, bx);
            load_biases(a->bias_h, H, j, bh);
            gru_point p = gru_eval(a->gates_x, a->gates_h, a->h_prev, H, r, j, bx, bh);
            /* 1 - z as ref_sigmoid(-az): exact where z is close to 1. */
            sf_host_store(a->h, r * H + j, ref_sigmoid(-p.az) * p.n + p.z * p.h_prev);
        }
    }
    return SIGFUSE_SUCCESS;
}

sigfuse_status sf_ref_gru_cell_backward(sigfuse_ctx *ctx, const sigfuse_gru_backward_args *a)
{
    (void)ctx;
    const int64_t B = a->batch, H = a->hidden;
    /* Column-outer, row-inner: each bias gradient is a running sum in row order with no
     * scratch. Element (r, j) reads only its own three columns and [r, j] of the [B, H]
     * tensors before writing the same places, and the biases of column j are read before
     * their gradients are written, so outputs may alias inputs. */
    for (int64_t j = 0; j < H; j++) {
        double bx[3], bh[3];
        load_biases(a->bias_x, H, j, bx);
        load_biases(a->bias_h, H, j, bh);
        double sum_x[3] = {0.0, 0.0, 0.0}, sum_h[3] = {0.0, 0.0, 0.0};
        for (int64_t r = 0; r < B; r++) {
            const int64_t row = r * 3 * H, k = r * H + j;
            gru_point p = gru_eval(a->gates_x, a->gates_h, a->h_prev, H, r, j, bx, bh);
            double dh = sf_host_load(a->dh, k);

            double dn = dh * ref_sigmoid(-p.az);              /* dh (1 - z) */
            double dz = dh * (p.h_prev - p.n);
            double dan = dn * ref_tanh_grad(p.an);
            double dar = dan * p.gh_n * (p.r * ref_sigmoid(-p.ar));
            double daz = dz * (p.z * ref_sigmoid(-p.az));
            double dx[3] = {dar, daz, dan};
            double dhh[3] = {dar, daz, dan * p.r};

            if (a->dgates_x)
                for (int b = 0; b < 3; b++)
                    sf_host_store(a->dgates_x, row + b * H + j, dx[b]);
            if (a->dgates_h)
                for (int b = 0; b < 3; b++)
                    sf_host_store(a->dgates_h, row + b * H + j, dhh[b]);
            if (a->dh_prev)
                sf_host_store(a->dh_prev, k, dh * p.z);
            for (int b = 0; b < 3; b++) {
                sum_x[b] += dx[b];
                sum_h[b] += dhh[b];
            }
        }
        if (a->dbias_x)
            for (int b = 0; b < 3; b++)
                sf_host_store(a->dbias_x, b * H + j, sum_x[b]);
        if (a->dbias_h)
            for (int b = 0; b < 3; b++)
                sf_host_store(a->dbias_h, b * H + j, sum_h[b]);
    }
    return SIGFUSE_SUCCESS;
}
