/* SPDX-License-Identifier: MIT */
/*
 * The deterministic reductions' host side: the chunking of a column sum over rows, and
 * the finishing steps, one launch each that sums, in a fixed order, the partials (double,
 * or float pairs: common.cl's sf_acc) the op's kernels left in the context's scratch.
 */
#include "sf_opencl.h"

sf_cl_grid2 sf_cl_colsum_grid(const sf_cl_state *s, size_t local, uint64_t rows, uint64_t cols,
                              uint64_t accs_per_chunk)
{
    sf_cl_grid2 g = sf_cl_grid_2d(s, local, cols, rows);
    if (accs_per_chunk == 0)
        return g;
    const uint64_t fit = s->scratch_accs / accs_per_chunk;
    if ((uint64_t)g.gy * g.ly <= fit)
        return g;
    if (fit >= g.ly) {
        g.gy = (size_t)(fit / g.ly);
    } else {
        /* Very wide layers: fewer rows per group; with no room at all, one chunk whose
         * work-items write the sums themselves. */
        g.gy = 1;
        g.ly = fit >= 1 ? sf_cl_pow2_floor((size_t)fit) : 1;
    }
    return g;
}

sigfuse_status sf_cl_finish_loss(sigfuse_ctx *ctx, sf_cl_family family, sigfuse_dtype dtype, size_t groups,
                                 sigfuse_reduction reduction, uint64_t count, uint64_t kept_slot, size_t kept_parts,
                                 const sigfuse_buffer *out)
{
    sf_cl_state *s = sf_cl_of(ctx);
    const bool mean = reduction == SIGFUSE_REDUCTION_MEAN;
    const sigfuse_buffer kept = sf_cl_scratch_at(s, kept_slot);
    sf_cl_launch l;
    SF_TRY(sf_cl_begin(ctx, family, dtype, SF_CL_KERNEL_sf_finish_loss, &l));
    SF_TRY(sf_cl_barrier(ctx));
    sf_cl_arg_mem(&l, s->scratch);
    sf_cl_arg_u32(&l, (uint32_t)groups);
    sf_cl_arg_u64(&l, mean ? count : 1);
    sf_cl_arg_buf(&l, mean && kept_parts > 0 ? &kept : NULL);
    sf_cl_arg_u32(&l, (uint32_t)kept_parts);
    sf_cl_arg_buf(&l, out);
    sf_cl_arg_local_accs(&l, l.local);
    return sf_cl_enqueue_1d(&l, 1);   /* one work-group */
}

sigfuse_status sf_cl_count_kept(sigfuse_ctx *ctx, sf_cl_family family, sigfuse_dtype dtype,
                                const sigfuse_buffer *mask, uint64_t n)
{
    sf_cl_state *s = sf_cl_of(ctx);
    const bool vec = sf_cl_vec4(mask);
    const sigfuse_buffer parts = sf_cl_scratch_at(s, SF_CL_SCRATCH_COUNTS);
    const sigfuse_buffer total = sf_cl_scratch_at(s, SF_CL_SCRATCH_KEPT);
    sf_cl_launch l;
    SF_TRY(sf_cl_begin(ctx, family, dtype, SF_CL_KERNEL_sf_count_kept, &l));
    const size_t groups = sf_cl_groups(s, sf_cl_span_items(n, vec), l.local);
    SF_TRY(sf_cl_barrier(ctx));   /* the scratch may still be read by the previous op */
    sf_cl_arg_buf(&l, mask);
    sf_cl_arg_u64(&l, n);
    sf_cl_arg_int(&l, vec);
    sf_cl_arg_buf(&l, &parts);
    sf_cl_arg_local_accs(&l, l.local);
    SF_TRY(sf_cl_enqueue_1d(&l, groups));

    SF_TRY(sf_cl_begin(ctx, family, dtype, SF_CL_KERNEL_sf_finish_count, &l));
    SF_TRY(sf_cl_barrier(ctx));
    sf_cl_arg_buf(&l, &parts);
    sf_cl_arg_u32(&l, (uint32_t)groups);
    sf_cl_arg_buf(&l, &total);
    sf_cl_arg_local_accs(&l, l.local);
    return sf_cl_enqueue_1d(&l, 1);   /* one work-group */
}

sigfuse_status sf_cl_finish_cols(sigfuse_ctx *ctx, sf_cl_family family, sigfuse_dtype dtype, uint64_t part_off,
                                 size_t chunks, uint64_t pitch, uint64_t cols, const sigfuse_buffer *out)
{
    sf_cl_state *s = sf_cl_of(ctx);
    sf_cl_launch l;
    SF_TRY(sf_cl_begin(ctx, family, dtype, SF_CL_KERNEL_sf_finish_cols, &l));
    SF_TRY(sf_cl_barrier(ctx));
    sf_cl_arg_mem(&l, s->scratch);
    sf_cl_arg_u64(&l, part_off);
    sf_cl_arg_u32(&l, (uint32_t)chunks);
    sf_cl_arg_u64(&l, pitch);
    sf_cl_arg_u64(&l, cols);
    sf_cl_arg_buf(&l, out);
    return sf_cl_enqueue_1d(&l, sf_cl_groups(s, cols, l.local));   /* a work-item a column */
}
