/* SPDX-License-Identifier: MIT */
/*
 * LSTM cell (gate order i, f, g, o), forward and backward, one thread per (row, unit).
 * Forward with both projections and a bias moves 11 elements per (row, unit) (44 B f32),
 * backward up to 16. Budget (docs/design.md, Performance): 7.75 SASS instructions per
 * byte on the H200. dbias: per-(row chunk, column) partials in the context scratch, summed
 * in a fixed order by a second small kernel (none when one chunk covers all rows).
 * Target: ~90 % of copy.
 */
#include "sf_math.h"

#include "dtype.cuh"
#include "launch.cuh"
#include "reduce.cuh"
#include "sf_cuda.h"
#include "tile.cuh"

namespace {

struct lstm_fwd_params {
    int64_t B, H;
    const void *gx, *gh, *bias, *c_prev;
    void *h, *c;
};

/* One row's inputs at unit j, in storage form (16-bit ones take half the registers of
 * floats while a thread holds SF_CELL_ROWS rows of them). */
template <typename T> struct lstm_row_in {
    T gx[4], gh[4], cp, dh, dc;
};

/* Loads row r's inputs at unit j (gh, dh, dc only where present), with indices of type I
 * (int32_t where every index fits: one multiply-add an address, not a 64-bit pair). */
template <typename T, typename I>
__device__ __forceinline__ void lstm_load(const T *gx, const T *gh, const T *cprev, const T *dh, const T *dc, I r,
                                          I H, I j, lstm_row_in<T> &in)
{
    const I row = r * 4 * H + j, k = r * H + j;
#pragma unroll
    for (int g = 0; g < 4; g++) {
        in.gx[g] = gx[row + g * H];
        if (gh)
            in.gh[g] = gh[row + g * H];
    }
    in.cp = cprev[k];
    if (dh)
        in.dh = dh[k];
    if (dc)
        in.dc = dc[k];
}

/* The gate pre-activations: gates_x (+ gates_h) + bias. */
template <typename T>
__device__ __forceinline__ void lstm_preact(const lstm_row_in<T> &in, bool has_gh, const float (&b4)[4],
                                            float (&a)[4])
{
#pragma unroll
    for (int g = 0; g < 4; g++) {
        float v = sf_to_float(in.gx[g]);
        if (has_gh)
            v += sf_to_float(in.gh[g]);
        a[g] = v + b4[g];
    }
}

/* At least 5 blocks an SM (48 registers, no spills): holding SF_CELL_ROWS = 2 rows, nvcc
 * would take 55-56 registers and fit 4 (nvcc -Xptxas -v, sm_90). */
template <typename T>
__global__ void __launch_bounds__(SF_BLOCK, SF_MIN_BLOCKS(5)) lstm_fwd_kernel(lstm_fwd_params p)
{
    const T *gx = (const T *)p.gx, *gh = (const T *)p.gh, *bias = (const T *)p.bias;
    const T *cprev = (const T *)p.c_prev;
    T *h_out = (T *)p.h, *c_out = (T *)p.c;
    const int64_t H = p.H;
    for (int64_t j0 = (int64_t)blockIdx.x * blockDim.x; j0 < H; j0 += (int64_t)gridDim.x * blockDim.x) {
        const int64_t j = j0 + threadIdx.x;
        if (j >= H)
            continue;
        float b4[4];
        sf_cell_biases<4>(bias, H, j, b4);
        sf_tile_rows<SF_CELL_ROWS, lstm_row_in<T>>(
            p.B,
            [&](int64_t r, lstm_row_in<T> &in) { lstm_load<T, int64_t>(gx, gh, cprev, nullptr, nullptr, r, H, j, in); },
            [&](int64_t r, const lstm_row_in<T> &in) {
                const int64_t k = r * H + j;
                float a[4];
                lstm_preact(in, gh != nullptr, b4, a);
                float c, h;
                sf_lstm_fwd(a[0], a[1], a[2], a[3], sf_to_float(in.cp), &c, &h);
                if (c_out)
                    c_out[k] = sf_from_float<T>(c);
                if (h_out)
                    h_out[k] = sf_from_float<T>(h);
            });
    }
}

struct lstm_bwd_params {
    int64_t B, H;
    const void *gx, *gh, *bias, *c_prev, *dh, *dc;
    void *dgates, *dc_prev;
    void *dbias;        /* written directly when gridDim.y == 1 */
    double *partials;   /* [gridDim.y][4H] otherwise */
};

/* At least 3 blocks an SM: at 4 (64 registers) nvcc spilled on the common path; 3 still
 * hold two rows of 16 elements for 768 threads, more bytes in flight than the device
 * needs (bench/sass.py's bytes_in_flight_per_sm). I: the index type, int32_t when the
 * gate tensors' 4 B H elements fit in it (the addresses of the 16 loads and stores a row
 * are then single multiply-adds), int64_t otherwise. */
template <typename T, typename I>
__global__ void __launch_bounds__(SF_BLOCK, SF_MIN_BLOCKS(3)) lstm_bwd_kernel(lstm_bwd_params p)
{
    __shared__ double col[4][SF_BLOCK];
    const T *gx = (const T *)p.gx, *gh = (const T *)p.gh, *bias = (const T *)p.bias;
    const T *cprev = (const T *)p.c_prev, *dh_in = (const T *)p.dh, *dc_in = (const T *)p.dc;
    T *dgates = (T *)p.dgates, *dcp_out = (T *)p.dc_prev;
    const int64_t H = p.H;
    const bool sums = p.dbias != nullptr;
    const int tid = threadIdx.y * blockDim.x + threadIdx.x;
    /* The loop over column tiles is uniform across the block (it depends on blockIdx
     * only), so the barriers inside it are reached by every thread. */
    for (int64_t j0 = (int64_t)blockIdx.x * blockDim.x; j0 < H; j0 += (int64_t)gridDim.x * blockDim.x) {
        const int64_t j = j0 + threadIdx.x;
        double acc[4] = {0.0, 0.0, 0.0, 0.0};
        if (j < H) {
            float b4[4];
            sf_cell_biases<4>(bias, H, j, b4);
            /* Rows in increasing order, so the sums' order is that of one row at a time. */
            sf_tile_rows<SF_CELL_ROWS, lstm_row_in<T>>(
                p.B,
                [&](int64_t r, lstm_row_in<T> &in) {
                    lstm_load<T, I>(gx, gh, cprev, dh_in, dc_in, (I)r, (I)H, (I)j, in);
                },
                [&](int64_t r, const lstm_row_in<T> &in) {
                    const I row = (I)r * 4 * (I)H + (I)j, k = (I)r * (I)H + (I)j;
                    float a[4];
                    lstm_preact(in, gh != nullptr, b4, a);
                    const float dh = dh_in ? sf_to_float(in.dh) : 0.0f;
                    const float dc = dc_in ? sf_to_float(in.dc) : 0.0f;
                    float d[4], dcp;
                    sf_lstm_bwd(a[0], a[1], a[2], a[3], sf_to_float(in.cp), dh, dc, &d[0], &d[1], &d[2], &d[3], &dcp);
                    if (dgates)
#pragma unroll
                        for (int g = 0; g < 4; g++)
                            dgates[row + g * (I)H] = sf_from_float<T>(d[g]);
                    if (dcp_out)
                        dcp_out[k] = sf_from_float<T>(dcp);
#pragma unroll
                    for (int g = 0; g < 4; g++)
                        acc[g] += (double)d[g];
                });
        }
        if (!sums)
            continue;
        /* Column sums over this block's rows: fixed order over threadIdx.y. */
#pragma unroll
        for (int g = 0; g < 4; g++)
            col[g][tid] = acc[g];
        __syncthreads();
        if (threadIdx.y == 0 && j < H) {
            for (int g = 0; g < 4; g++) {
                double s = 0.0;
                for (unsigned y = 0; y < blockDim.y; y++)
                    s += col[g][y * blockDim.x + threadIdx.x];
                if (gridDim.y == 1)
                    ((T *)p.dbias)[g * H + j] = sf_from_float<T>((float)s);
                else
                    p.partials[(int64_t)blockIdx.y * 4 * H + g * H + j] = s;
            }
        }
        __syncthreads();
    }
}

template <typename T> sigfuse_status fwd(sigfuse_ctx *ctx, const sigfuse_lstm_forward_args *a)
{
    sf_cuda_state *s = sf_cuda_of(ctx);
    if (a->batch == 0 || a->hidden == 0)
        return SIGFUSE_SUCCESS;
    lstm_fwd_params p = {a->batch, a->hidden, sf_dptr(a->gates_x), sf_dptr(a->gates_h), sf_dptr(a->bias),
                         sf_dptr(a->c_prev), sf_dptr(a->h), sf_dptr(a->c)};
    sf_tile_geom g = sf_tile_for(s, sf_blocks_per_sm<lstm_fwd_kernel<T>>(s->device, SF_BLOCK), a->batch, a->hidden, 0);
    lstm_fwd_kernel<T><<<g.grid, g.block, 0, s->stream>>>(p);
    SF_LAUNCH_CHECK(ctx, "lstm_cell_forward kernel launch");
    return SIGFUSE_SUCCESS;
}

template <typename T> sigfuse_status bwd(sigfuse_ctx *ctx, const sigfuse_lstm_backward_args *a)
{
    sf_cuda_state *s = sf_cuda_of(ctx);
    const int64_t B = a->batch, H = a->hidden;
    if (H == 0)
        return SIGFUSE_SUCCESS;
    if (B == 0) {   /* no rows: the bias gradient is an empty sum */
        if (a->dbias)
            SF_CUDA_TRY(ctx, cudaMemsetAsync(sf_dptr(a->dbias), 0, (size_t)(4 * H) * sizeof(T), s->stream));
        return SIGFUSE_SUCCESS;
    }
    lstm_bwd_params p = {B, H, sf_dptr(a->gates_x), sf_dptr(a->gates_h), sf_dptr(a->bias), sf_dptr(a->c_prev),
                         sf_dptr(a->dh), sf_dptr(a->dc), sf_dptr(a->dgates), sf_dptr(a->dc_prev),
                         sf_dptr(a->dbias), s->scratch};
    /* The geometry depends on the kernel, so on (B, H) only: the sums stay deterministic. */
    const bool narrow = B <= INT32_MAX / 4 / H;   /* 4 B H fits in int32_t */
    const int blocks = narrow ? sf_blocks_per_sm<lstm_bwd_kernel<T, int32_t>>(s->device, SF_BLOCK)
                              : sf_blocks_per_sm<lstm_bwd_kernel<T, int64_t>>(s->device, SF_BLOCK);
    sf_tile_geom g = sf_tile_for(s, blocks, B, H, a->dbias ? 4 * H : 0);
    if (narrow)
        lstm_bwd_kernel<T, int32_t><<<g.grid, g.block, 0, s->stream>>>(p);
    else
        lstm_bwd_kernel<T, int64_t><<<g.grid, g.block, 0, s->stream>>>(p);
    SF_LAUNCH_CHECK(ctx, "lstm_cell_backward kernel launch");
    if (a->dbias && g.grid.y > 1)
        return sf_cuda_colsum_finish<T>(ctx, s->scratch, g.grid.y, 4 * H, 4 * H, 1.0, (T *)sf_dptr(a->dbias));
    return SIGFUSE_SUCCESS;
}

} // namespace

sigfuse_status sf_cuda_lstm_cell_forward(sigfuse_ctx *ctx, const sigfuse_lstm_forward_args *a)
{
    return sf_cuda_dispatch(ctx, "lstm_cell_forward", a->gates_x->dtype, [&](auto tag) {
        return fwd<decltype(tag)>(ctx, a);
    });
}

sigfuse_status sf_cuda_lstm_cell_backward(sigfuse_ctx *ctx, const sigfuse_lstm_backward_args *a)
{
    return sf_cuda_dispatch(ctx, "lstm_cell_backward", a->gates_x->dtype, [&](auto tag) {
        return bwd<decltype(tag)>(ctx, a);
    });
}
