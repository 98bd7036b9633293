/* SPDX-License-Identifier: MIT */
/*
 * Row x column tiling of the cell kernels (lstm.cu, gru.cu) over [B, k*H] gate tensors:
 * the block and grid of a tile, a pure function of (kernel, B, H, device) so that the
 * bias gradients' column sums are deterministic, and the loop over a thread's rows. The
 * head's epilogues (head.cu) size their tiles of [rows, L] with the same block and grid
 * rules.
 */
#ifndef SF_CUDA_TILE_CUH
#define SF_CUDA_TILE_CUH

#include <stdint.h>

#include "dtype.cuh"

#include "sf_cuda.h"

/* Threads along hidden units (x, coalesced) and rows (y); grid.y row chunks. The same
 * geometry is used for the bias-gradient partials, so it must be a pure function of
 * (kernel, B, H, device): that makes the column sums deterministic.
 * The grid is one wave: as many blocks as the kernel's occupancy lets the device hold at
 * once (blocks_per_sm, from sf_blocks_per_sm), not a fixed 8 an SM. Every block of a
 * tile walks the same number of rows, so with a fixed 8 a kernel that fits 5 or 6 blocks
 * an SM (the LSTM kernels and the GRU backward, by their registers) ran a second wave
 * 30-55 % full. A thread's rows run one after another (a row's loads are issued after the
 * previous row's stores, which may alias them, and those wait for its loads), so a block
 * takes its row count times a row's latency, and that second wave added as much again. */
struct sf_tile_geom {
    dim3 block;
    dim3 grid;
};

/* Rows a thread of a cell kernel loads before it computes any of them. Its rows would
 * otherwise run one after another (above), one row's loads in flight at a time: 11 to 16
 * scalar loads of 2 or 4 bytes. The cells' backward took about as long in f16/bf16 as in
 * f32, for half the bytes: the mark of a latency-bound loop rather than a bandwidth-bound
 * one (bench/NOTES.md has the figures). Each thread still
 * reads and writes only its own rows' elements, so exact in-place stays safe. Build with
 * -DSF_CELL_ROWS=1 to compare. */
#ifndef SF_CELL_ROWS
#define SF_CELL_ROWS 2
#endif

/* The G gate biases of unit j (zeros without a bias). One test of the pointer, then plain
 * loads: a select per load (bias ? load : 0) keeps more registers live. */
template <int G, typename T>
__device__ __forceinline__ void sf_cell_biases(const T *bias, int64_t H, int64_t j, float (&out)[G])
{
    for (int g = 0; g < G; g++)
        out[g] = 0.0f;
    if (bias)
        for (int g = 0; g < G; g++)
            out[g] = sf_to_float(bias[g * H + j]);
}

/* The loop over a thread's rows in the cells' row x column tiled kernels: rows
 * threadIdx.y + blockIdx.y * blockDim.y in steps of the grid's rows. Per pass, load(r, in)
 * for R rows below B into In-typed slots, then body(r, in) for each of them in increasing
 * order (so sums over a thread's rows keep their order). */
template <int R, typename In, typename Load, typename Body>
__device__ __forceinline__ void sf_tile_rows(int64_t B, Load &&load, Body &&body)
{
    const int64_t rstep = (int64_t)gridDim.y * blockDim.y;
    for (int64_t r0 = (int64_t)blockIdx.y * blockDim.y + threadIdx.y; r0 < B; r0 += R * rstep) {
        In in[R];
#pragma unroll
        for (int u = 0; u < R; u++)
            if (r0 + u * rstep < B)
                load(r0 + u * rstep, in[u]);
#pragma unroll
        for (int u = 0; u < R; u++) {
            if (r0 + u * rstep >= B)
                break;
            body(r0 + u * rstep, in[u]);
        }
    }
}

/* Threads of a tile's block along its columns: the power of 2 up to 32 that covers cols
 * (the rest of the SF_BLOCK threads go along rows). */
static inline unsigned sf_tile_block_x(int64_t cols)
{
    unsigned bx = 1;
    while (bx < 32 && (int64_t)bx < cols)
        bx <<= 1;
    return bx;
}

/* The grid's rows of blocks over gx columns of blocks of by rows each: enough for the rows,
 * at most one wave of the kernel's occupancy and 65535, and at most the rows of
 * partial_cols doubles (0: no partials) that the scratch holds; at least 1. */
static inline unsigned sf_tile_grid_rows(const sf_cuda_state *s, int blocks_per_sm, int64_t rows, unsigned by,
                                         int64_t gx, int64_t partial_cols)
{
    int64_t gy = (rows + by - 1) / by;
    int64_t target = (int64_t)s->sm_count * blocks_per_sm;   /* blocks that fill the device once */
    int64_t gy_cap = target / gx;
    if (gy_cap < 1)
        gy_cap = 1;
    if (gy > gy_cap)
        gy = gy_cap;
    if (gy > 65535)
        gy = 65535;
    if (partial_cols > 0) {
        int64_t fit = (int64_t)(s->scratch_doubles / (size_t)partial_cols);
        if (gy > fit)
            gy = fit;
    }
    if (gy < 1)
        gy = 1;
    return (unsigned)gy;
}

static inline sf_tile_geom sf_tile_for(const sf_cuda_state *s, int blocks_per_sm, int64_t rows, int64_t cols,
                                       int64_t partial_cols /* 0: no partials */)
{
    sf_tile_geom g;
    const unsigned bx = sf_tile_block_x(cols), by = SF_BLOCK / bx;
    int64_t gx = (cols + bx - 1) / bx;
    if (gx > 0x7fffffff)
        gx = 0x7fffffff;
    if (gx < 1)
        gx = 1;
    g.block = dim3(bx, by, 1);
    g.grid = dim3((unsigned)gx, sf_tile_grid_rows(s, blocks_per_sm, rows, by, gx, partial_cols), 1);
    return g;
}

#endif /* SF_CUDA_TILE_CUH */
