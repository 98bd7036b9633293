/* SPDX-License-Identifier: MIT */
/*
 * What the launchers of the fused losses (bce.c, focal.c, asymmetric.c) share: one pass
 * over the elements whose kernel starts with the same arguments (common.cl's
 * SF_LOSS_PARAMS), on the 4-wide path when every per-element buffer's offset is a
 * multiple of 4; a reduced loss adds one single-group kernel that sums the per-group
 * partials in a fixed order (no atomics: bitwise repeatable). A MEAN with a mask divides
 * by the kept count, an integer: counted by the loss kernel itself when only the loss is
 * wanted, else by a count pass before it, since every gradient needs the count.
 */
#include <string.h>

#include "sf_opencl.h"

sigfuse_status sf_cl_loss_begin(sigfuse_ctx *ctx, sf_cl_family family, sf_cl_kernel kernel, const sf_cl_loss_io *io,
                                const sigfuse_buffer *const *more, int n_more, sf_cl_loss *p)
{
    sf_cl_state *s = sf_cl_of(ctx);
    memset(p, 0, sizeof *p);
    p->family = family;
    p->dtype = io->logits->dtype;
    p->n = (uint64_t)io->rows * (uint64_t)io->cols;
    p->reduction = io->reduction;
    p->loss = io->loss;
    p->mask = io->mask;
    SF_TRY(sf_cl_begin(ctx, family, p->dtype, kernel, &p->l));
    const bool reduced = io->reduction != SIGFUSE_REDUCTION_NONE;
    p->partials = reduced && io->loss;
    const bool masked_mean = io->mask && io->reduction == SIGFUSE_REDUCTION_MEAN;
    p->counted = masked_mean && io->dlogits && p->n > 0;
    p->count_parts = masked_mean && !p->counted && p->partials && p->n > 0;
    /* dloss_in and loss are per element for NONE, scalars otherwise. */
    const sigfuse_buffer *up = reduced ? NULL : io->dloss_in, *ups = reduced ? io->dloss_in : NULL;
    const sigfuse_buffer *loss = reduced ? NULL : io->loss;
    bool vec = sf_cl_vec4(io->logits) && sf_cl_vec4(io->targets) && sf_cl_vec4(io->mask) && sf_cl_vec4(up) &&
               sf_cl_vec4(loss) && sf_cl_vec4(io->dlogits);
    for (int i = 0; i < n_more; i++)
        vec = vec && sf_cl_vec4(more[i]);
    p->groups = p->n > 0 ? sf_cl_groups(s, sf_cl_span_items(p->n, vec), p->l.local) : 0;

    const sigfuse_buffer kept_n = sf_cl_scratch_at(s, SF_CL_SCRATCH_KEPT);
    const sigfuse_buffer kept_part = sf_cl_scratch_at(s, SF_CL_SCRATCH_COUNTS);
    sf_cl_launch *l = &p->l;
    sf_cl_arg_buf(l, io->logits);
    sf_cl_arg_u8_or_float(l, io->targets);
    sf_cl_arg_buf(l, io->mask);
    sf_cl_arg_buf(l, up);
    sf_cl_arg_buf(l, ups);
    sf_cl_arg_buf(l, loss);
    sf_cl_arg_mem(l, p->partials ? s->scratch : NULL);
    sf_cl_arg_buf(l, io->dlogits);
    sf_cl_arg_buf(l, p->counted ? &kept_n : NULL);
    sf_cl_arg_buf(l, p->count_parts ? &kept_part : NULL);
    sf_cl_arg_u64(l, p->n);
    sf_cl_arg_int(l, vec);
    sf_cl_arg_f32(l, io->grad_scale);
    sf_cl_arg_u64(l, io->reduction == SIGFUSE_REDUCTION_MEAN ? p->n : 1);
    sf_cl_arg_local_accs(l, l->local);
    return SIGFUSE_SUCCESS;
}

sigfuse_status sf_cl_loss_run(sigfuse_ctx *ctx, sf_cl_loss *p)
{
    if (p->counted)
        SF_TRY(sf_cl_count_kept(ctx, p->family, p->dtype, p->mask, p->n));
    if (p->n > 0) {
        /* The scratch may still be read by the previous op's finishing kernel, or the
         * count just written may be read here. */
        if (p->partials || p->counted || p->count_parts)
            SF_TRY(sf_cl_barrier(ctx));
        SF_TRY(sf_cl_enqueue_1d(&p->l, p->groups));
    }
    if (!p->partials)
        return SIGFUSE_SUCCESS;
    /* The kept count of a MEAN with a mask: the count pass's total, or the kernel's
     * per-group counts (none over no elements: 0 / n = 0 / 0 = NaN, as without a mask). */
    const uint64_t kept_slot = p->counted ? SF_CL_SCRATCH_KEPT : SF_CL_SCRATCH_COUNTS;
    const size_t kept_parts = p->counted ? 1 : p->count_parts ? p->groups : 0;
    return sf_cl_finish_loss(ctx, p->family, p->dtype, p->groups, p->reduction, p->n, kept_slot, kept_parts, p->loss);
}
