/* SPDX-License-Identifier: MIT */
/*
 * The finishing steps of the deterministic reductions: one launch each that sums, in a
 * fixed order, the partials the op's kernels left in the context's scratch.
 */
#include "sf_opencl.h"

sigfuse_status sf_cl_finish_loss(sigfuse_ctx *ctx, sf_cl_family family, sigfuse_dtype dtype, size_t groups,
                                 sigfuse_reduction reduction, double count, const sigfuse_buffer *out)
{
    sf_cl_state *s = sf_cl_of(ctx);
    sf_cl_launch l;
    SF_TRY(sf_cl_begin(ctx, family, dtype, "sf_finish_loss", &l));
    SF_TRY(sf_cl_barrier(ctx));
    sf_cl_arg_mem(&l, s->scratch);
    sf_cl_arg_u32(&l, (uint32_t)groups);
    sf_cl_arg_int(&l, reduction == SIGFUSE_REDUCTION_MEAN);
    sf_cl_arg_f32(&l, (float)count);
    sf_cl_arg_buf(&l, out);
    sf_cl_arg_local_floats(&l, l.local);
    return sf_cl_enqueue_1d(&l, 1);
}

sigfuse_status sf_cl_finish_cols(sigfuse_ctx *ctx, sf_cl_family family, sigfuse_dtype dtype, uint64_t part_off,
                                 size_t chunks, uint64_t pitch, uint64_t cols, const sigfuse_buffer *out)
{
    sf_cl_state *s = sf_cl_of(ctx);
    sf_cl_launch l;
    SF_TRY(sf_cl_begin(ctx, family, dtype, "sf_finish_cols", &l));
    SF_TRY(sf_cl_barrier(ctx));
    sf_cl_arg_mem(&l, s->scratch);
    sf_cl_arg_u64(&l, part_off);
    sf_cl_arg_u32(&l, (uint32_t)chunks);
    sf_cl_arg_u64(&l, pitch);
    sf_cl_arg_u64(&l, cols);
    sf_cl_arg_buf(&l, out);
    return sf_cl_enqueue_1d(&l, sf_cl_groups(s, cols, l.local));
}
