/* SPDX-License-Identifier: MIT */
/*
 * GRU cell (blocks r, z, n), forward and backward, one thread per (row, unit). Forward
 * moves 8 elements per (row, unit) (32 B f32), backward up to 15 (60 B f32). Budget
 * (docs/design.md, Performance): 7.75 SASS instructions per byte on the H200. Bias
 * gradients: per-(row chunk, column) partials in the context scratch, summed in a fixed
 * order by a second small kernel.
 * Target: ~90 % of the device copy rate.
 */
#include "sf_math.h"

#include "dtype.cuh"
#include "launch.cuh"
#include "reduce.cuh"
#include "sf_cuda.h"
#include "tile.cuh"

namespace {

struct gru_fwd_params {
    int64_t B, H;
    const void *gx, *gh, *bx, *bh, *h_prev;
    void *h;
};

/* One row's inputs at unit j, in storage form (16-bit ones take half the registers of
 * floats while a thread holds SF_CELL_ROWS rows of them). */
template <typename T> struct gru_row_in {
    T gx[3], gh[3], hp, dh;
};

/* Loads row r's inputs at unit j (dh only where given). */
template <typename T>
__device__ __forceinline__ void gru_load(const T *gx, const T *gh, const T *hprev, const T *dh, int64_t r,
                                         int64_t H, int64_t j, gru_row_in<T> &in)
{
    const int64_t row = r * 3 * H + j, k = r * H + j;
#pragma unroll
    for (int g = 0; g < 3; g++) {
        in.gx[g] = gx[row + g * H];
        in.gh[g] = gh[row + g * H];
    }
    in.hp = hprev[k];
    if (dh)
        in.dh = dh[k];
}

/* The per-(row, unit) inputs of the cell: ar, az, gi_n, gh_n (biases added as the
 * reference adds them: gi = gx + bx, gh = gh + bh, then ar = gi_r + gh_r). */
template <typename T>
__device__ __forceinline__ void gru_preact(const gru_row_in<T> &in, const float (&bx)[3], const float (&bh)[3],
                                           float *ar, float *az, float *gin, float *ghn)
{
    const float gi_r = sf_to_float(in.gx[0]) + bx[0];
    const float gi_z = sf_to_float(in.gx[1]) + bx[1];
    *gin = sf_to_float(in.gx[2]) + bx[2];
    const float gh_r = sf_to_float(in.gh[0]) + bh[0];
    const float gh_z = sf_to_float(in.gh[1]) + bh[1];
    *ghn = sf_to_float(in.gh[2]) + bh[2];
    *ar = gi_r + gh_r;
    *az = gi_z + gh_z;
}

/* At least 6 blocks an SM (40 registers, no spills): f32 would take 48 and fit 5. */
template <typename T>
__global__ void __launch_bounds__(SF_BLOCK, SF_MIN_BLOCKS(6)) gru_fwd_kernel(gru_fwd_params p)
{
    const T *gx = (const T *)p.gx, *gh = (const T *)p.gh, *hprev = (const T *)p.h_prev;
    T *h_out = (T *)p.h;
    const int64_t H = p.H;
    for (int64_t j0 = (int64_t)blockIdx.x * blockDim.x; j0 < H; j0 += (int64_t)gridDim.x * blockDim.x) {
        const int64_t j = j0 + threadIdx.x;
        if (j >= H)
            continue;
        float bx[3], bh[3];
        sf_cell_biases<3>((const T *)p.bx, H, j, bx);
        sf_cell_biases<3>((const T *)p.bh, H, j, bh);
        sf_tile_rows<SF_CELL_ROWS, gru_row_in<T>>(
            p.B, [&](int64_t r, gru_row_in<T> &in) { gru_load<T>(gx, gh, hprev, nullptr, r, H, j, in); },
            [&](int64_t r, const gru_row_in<T> &in) {
                float ar, az, gin, ghn;
                gru_preact(in, bx, bh, &ar, &az, &gin, &ghn);
                h_out[r * H + j] = sf_from_float<T>(sf_gru_fwd(ar, az, gin, ghn, sf_to_float(in.hp)));
            });
    }
}

struct gru_bwd_params {
    int64_t B, H;
    const void *gx, *gh, *bx, *bh, *h_prev, *dh;
    void *dgx, *dgh, *dh_prev;
    void *dbx, *dbh;    /* written directly when gridDim.y == 1 */
    double *partials;   /* [gridDim.y][6H]: dbias_x (3H) then dbias_h (3H) */
};

template <typename T> __global__ void __launch_bounds__(SF_BLOCK) gru_bwd_kernel(gru_bwd_params p)
{
    __shared__ double col[6][SF_BLOCK];
    const T *gx = (const T *)p.gx, *gh = (const T *)p.gh, *hprev = (const T *)p.h_prev;
    const T *dh_in = (const T *)p.dh;
    T *dgx = (T *)p.dgx, *dgh = (T *)p.dgh, *dhp_out = (T *)p.dh_prev;
    const int64_t H = p.H;
    const bool sums = p.dbx != nullptr || p.dbh != nullptr;
    const int tid = threadIdx.y * blockDim.x + threadIdx.x;
    /* Uniform across the block (depends on blockIdx only): the barriers are safe. */
    for (int64_t j0 = (int64_t)blockIdx.x * blockDim.x; j0 < H; j0 += (int64_t)gridDim.x * blockDim.x) {
        const int64_t j = j0 + threadIdx.x;
        double acc[6] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
        if (j < H) {
            float bx[3], bh[3];
            sf_cell_biases<3>((const T *)p.bx, H, j, bx);
            sf_cell_biases<3>((const T *)p.bh, H, j, bh);
            /* Rows in increasing order, so the sums' order is that of one row at a time. */
            sf_tile_rows<SF_CELL_ROWS, gru_row_in<T>>(
                p.B, [&](int64_t r, gru_row_in<T> &in) { gru_load<T>(gx, gh, hprev, dh_in, r, H, j, in); },
                [&](int64_t r, const gru_row_in<T> &in) {
                    const int64_t row = r * 3 * H + j, k = r * H + j;
                    float ar, az, gin, ghn;
                    gru_preact(in, bx, bh, &ar, &az, &gin, &ghn);
                    float dar, daz, dan, dan_r, dhp;
                    sf_gru_bwd(ar, az, gin, ghn, sf_to_float(in.hp), sf_to_float(in.dh), &dar, &daz, &dan, &dan_r,
                               &dhp);
                    if (dgx) {
                        dgx[row] = sf_from_float<T>(dar);
                        dgx[row + H] = sf_from_float<T>(daz);
                        dgx[row + 2 * H] = sf_from_float<T>(dan);
                    }
                    if (dgh) {
                        dgh[row] = sf_from_float<T>(dar);
                        dgh[row + H] = sf_from_float<T>(daz);
                        dgh[row + 2 * H] = sf_from_float<T>(dan_r);
                    }
                    if (dhp_out)
                        dhp_out[k] = sf_from_float<T>(dhp);
                    acc[0] += (double)dar;
                    acc[1] += (double)daz;
                    acc[2] += (double)dan;
                    acc[5] += (double)dan_r;
                });
        }
        if (!sums)
            continue;
        acc[3] = acc[0];   /* dgates_h equals dgates_x in the r and z blocks */
        acc[4] = acc[1];
#pragma unroll
        for (int g = 0; g < 6; g++)
            col[g][tid] = acc[g];
        __syncthreads();
        if (threadIdx.y == 0 && j < H) {
            for (int g = 0; g < 6; g++) {
                double s = 0.0;
                for (unsigned y = 0; y < blockDim.y; y++)
                    s += col[g][y * blockDim.x + threadIdx.x];
                const int which = g / 3, gate = g % 3;   /* 0: dbias_x, 1: dbias_h */
                if (gridDim.y == 1) {
                    T *out = (T *)(which == 0 ? p.dbx : p.dbh);
                    if (out)
                        out[gate * H + j] = sf_from_float<T>((float)s);
                } else {
                    p.partials[(int64_t)blockIdx.y * 6 * H + g * H + j] = s;
                }
            }
        }
        __syncthreads();
    }
}

template <typename T> sigfuse_status fwd(sigfuse_ctx *ctx, const sigfuse_gru_forward_args *a)
{
    sf_cuda_state *s = sf_cuda_of(ctx);
    if (a->batch == 0 || a->hidden == 0)
        return SIGFUSE_SUCCESS;
    gru_fwd_params p = {a->batch, a->hidden, sf_dptr(a->gates_x), sf_dptr(a->gates_h), sf_dptr(a->bias_x),
                        sf_dptr(a->bias_h), sf_dptr(a->h_prev), sf_dptr(a->h)};
    sf_tile_geom g = sf_tile_for(s, sf_blocks_per_sm<gru_fwd_kernel<T>>(s->device, SF_BLOCK), a->batch, a->hidden, 0);
    gru_fwd_kernel<T><<<g.grid, g.block, 0, s->stream>>>(p);
    SF_LAUNCH_CHECK(ctx, "gru_cell_forward kernel launch");
    return SIGFUSE_SUCCESS;
}

template <typename T> sigfuse_status bwd(sigfuse_ctx *ctx, const sigfuse_gru_backward_args *a)
{
    sf_cuda_state *s = sf_cuda_of(ctx);
    const int64_t B = a->batch, H = a->hidden;
    if (H == 0)
        return SIGFUSE_SUCCESS;
    const bool sums = a->dbias_x || a->dbias_h;
    if (B == 0) {   /* no rows: the bias gradients are empty sums */
        if (a->dbias_x)
            SF_CUDA_TRY(ctx, cudaMemsetAsync(sf_dptr(a->dbias_x), 0, (size_t)(3 * H) * sizeof(T), s->stream));
        if (a->dbias_h)
            SF_CUDA_TRY(ctx, cudaMemsetAsync(sf_dptr(a->dbias_h), 0, (size_t)(3 * H) * sizeof(T), s->stream));
        return SIGFUSE_SUCCESS;
    }
    gru_bwd_params p = {B, H, sf_dptr(a->gates_x), sf_dptr(a->gates_h), sf_dptr(a->bias_x), sf_dptr(a->bias_h),
                        sf_dptr(a->h_prev), sf_dptr(a->dh), sf_dptr(a->dgates_x), sf_dptr(a->dgates_h),
                        sf_dptr(a->dh_prev), sf_dptr(a->dbias_x), sf_dptr(a->dbias_h), s->scratch};
    sf_tile_geom g = sf_tile_for(s, sf_blocks_per_sm<gru_bwd_kernel<T>>(s->device, SF_BLOCK), B, H, sums ? 6 * H : 0);
    gru_bwd_kernel<T><<<g.grid, g.block, 0, s->stream>>>(p);
    SF_LAUNCH_CHECK(ctx, "gru_cell_backward kernel launch");
    if (sums && g.grid.y > 1) {
        if (a->dbias_x)
            SF_TRY(sf_cuda_colsum_finish<T>(ctx, s->scratch, g.grid.y, 6 * H, 3 * H, 1.0, (T *)sf_dptr(a->dbias_x)));
        if (a->dbias_h)
            SF_TRY(sf_cuda_colsum_finish<T>(ctx, s->scratch + 3 * H, g.grid.y, 6 * H, 3 * H, 1.0,
                                            (T *)sf_dptr(a->dbias_h)));
    }
    return SIGFUSE_SUCCESS;
}

} // namespace

sigfuse_status sf_cuda_gru_cell_forward(sigfuse_ctx *ctx, const sigfuse_gru_forward_args *a)
{
    return sf_cuda_dispatch(ctx, "gru_cell_forward", a->gates_x->dtype, [&](auto tag) {
        return fwd<decltype(tag)>(ctx, a);
    });
}

sigfuse_status sf_cuda_gru_cell_backward(sigfuse_ctx *ctx, const sigfuse_gru_backward_args *a)
{
    return sf_cuda_dispatch(ctx, "gru_cell_backward", a->gates_x->dtype, [&](auto tag) {
        return bwd<decltype(tag)>(ctx, a);
    });
}
