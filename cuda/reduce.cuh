/* SPDX-License-Identifier: MIT */
/*
 * Deterministic reductions of the CUDA backend: a block's sum in a fixed tree, column
 * sums of per-block partials in a fixed order, and the final pass of a reduced loss
 * (defined in backend.cu). No atomics, so a sum is bitwise the same on every run on the
 * same device.
 */
#ifndef SF_CUDA_REDUCE_CUH
#define SF_CUDA_REDUCE_CUH

#include <stdint.h>

#include "dtype.cuh"
#include "launch.cuh"
#include "sf_cuda.h"

/* Sum of v over a block (1-D or 2-D) whose size is a multiple of 32, in a fixed tree;
 * the result is valid in the thread of linear index 0. `warp_sums` holds 32 doubles of
 * shared memory. Every thread of the block must call it. */
__device__ __forceinline__ double sf_block_sum(double v, double *warp_sums)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_down_sync(0xffffffffu, v, o);
    /* Hardware warps are runs of 32 in the linear index (x fastest, then y). */
    const int lin = (int)(threadIdx.y * blockDim.x + threadIdx.x);
    const int lane = lin & 31, warp = lin >> 5;
    const int warps = (blockDim.x * blockDim.y) >> 5;
    if (lane == 0)
        warp_sums[warp] = v;
    __syncthreads();
    v = 0.0;
    if (warp == 0) {
        v = lane < warps ? warp_sums[lane] : 0.0;
#pragma unroll
        for (int o = 16; o > 0; o >>= 1)
            v += __shfl_down_sync(0xffffffffu, v, o);
    }
    __syncthreads();   /* warp_sums may be reused right after */
    return v;
}

/* out[c] = sum over r = 0..rows-1, in order, of part[r * pitch + c] (times scale). */
template <typename T>
__global__ void sf_colsum_finish_kernel(const double *part, int64_t rows, int64_t pitch, int64_t cols,
                                        double scale, T *out)
{
    for (int64_t c = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; c < cols;
         c += (int64_t)gridDim.x * blockDim.x) {
        double s = 0.0;
        for (int64_t r = 0; r < rows; r++)
            s += part[r * pitch + c];
        out[c] = sf_from_float<T>((float)(s * scale));
    }
}

/* Writes the reduced loss: the fixed-order sum of count partials, divided by
 * mean_count for MEAN (0 / 0 = NaN for an empty tensor). One tiny launch. */
sigfuse_status sf_cuda_finish_loss(sigfuse_ctx *ctx, const double *partials, int64_t count,
                                   sigfuse_reduction reduction, double mean_count, float *out);

/* The same, MEAN dividing by *kept (counted on the device: sf_cuda_mask_count) where kept
 * is not NULL. */
sigfuse_status sf_cuda_finish_loss_kept(sigfuse_ctx *ctx, const double *partials, int64_t count,
                                        sigfuse_reduction reduction, double mean_count,
                                        const unsigned long long *kept, float *out);

/* *count = the nonzero bytes of mask[0, n) (the elements a loss's mask keeps), on the
 * context's stream: a memset and one kernel whose blocks add their integer counts (an
 * integer sum, the same in any order). */
sigfuse_status sf_cuda_mask_count(sigfuse_ctx *ctx, const uint8_t *mask, int64_t n, unsigned long long *count);

/* Where a masked MEAN keeps its count during one op: the scratch's last double, short of
 * which the loss ops' partials stop. */
static inline unsigned long long *sf_cuda_kept_slot(sf_cuda_state *s)
{
    return (unsigned long long *)(s->scratch + s->scratch_doubles - 1);
}

/* Launches sf_colsum_finish_kernel<T> on the context's stream. */
template <typename T>
sigfuse_status sf_cuda_colsum_finish(sigfuse_ctx *ctx, const double *part, int64_t rows, int64_t pitch,
                                     int64_t cols, double scale, T *out)
{
    sf_cuda_state *s = sf_cuda_of(ctx);
    if (cols <= 0)
        return SIGFUSE_SUCCESS;
    const unsigned grid = sf_grid_for<sf_colsum_finish_kernel<T>>(s, cols);   /* one wave, a thread a column */
    sf_colsum_finish_kernel<T><<<grid, SF_BLOCK, 0, s->stream>>>(part, rows, pitch, cols, scale, out);
    SF_LAUNCH_CHECK(ctx, "column-sum kernel launch");
    return SIGFUSE_SUCCESS;
}

#endif /* SF_CUDA_REDUCE_CUH */
