/* SPDX-License-Identifier: MIT */
/*
 * Launchers of the fused losses: bce_with_logits (bce.cl) and sigmoid_focal (focal.cl).
 * One pass over the elements; a reduced loss adds one single-group kernel that sums the
 * per-group partials in a fixed order (no atomics: bitwise repeatable).
 */
#include "sf_opencl.h"

/* What both losses share: sizes, reduction, and where the loss goes. */
typedef struct loss_plan {
    uint64_t n;
    bool reduced;
    size_t groups;      /* of the element kernel; 0 when there are no elements */
    float denom;        /* rows * cols for MEAN, else 1 */
} loss_plan;

static loss_plan plan_loss(sigfuse_ctx *ctx, int64_t rows, int64_t cols, sigfuse_reduction red, size_t local)
{
    loss_plan p;
    p.n = (uint64_t)rows * (uint64_t)cols;
    p.reduced = red != SIGFUSE_REDUCTION_NONE;
    p.groups = p.n > 0 ? sf_cl_groups(sf_cl_of(ctx), p.n, local) : 0;
    p.denom = red == SIGFUSE_REDUCTION_MEAN ? (float)p.n : 1.0f;
    return p;
}

/* The target and label buffers go to the kernel as bytes plus an "is u8" flag. */
static void arg_u8_or_float(sf_cl_launch *l, const sigfuse_buffer *b)
{
    sf_cl_arg_buf(l, b);
    sf_cl_arg_int(l, b && b->dtype == SIGFUSE_U8);
}

sigfuse_status sf_cl_bce_with_logits(sigfuse_ctx *ctx, const sigfuse_bce_args *a)
{
    sf_cl_state *s = sf_cl_of(ctx);
    const sigfuse_dtype dtype = a->logits->dtype;
    sf_cl_launch l;
    SF_TRY(sf_cl_begin(ctx, SF_CL_BCE, dtype, "bce_fused", &l));
    const loss_plan p = plan_loss(ctx, a->rows, a->cols, a->reduction, l.local);
    const bool partials = p.reduced && a->loss;

    if (p.n > 0) {
        /* The scratch may still be read by the previous op's finishing kernel. */
        if (partials)
            SF_TRY(sf_cl_barrier(ctx));
        sf_cl_arg_buf(&l, a->logits);
        arg_u8_or_float(&l, a->targets);
        sf_cl_arg_buf(&l, a->weight);
        sf_cl_arg_buf(&l, a->pos_weight);
        sf_cl_arg_buf(&l, p.reduced ? NULL : a->dloss_in);
        sf_cl_arg_buf(&l, p.reduced ? a->dloss_in : NULL);
        sf_cl_arg_buf(&l, p.reduced ? NULL : a->loss);
        sf_cl_arg_mem(&l, partials ? s->scratch : NULL);
        sf_cl_arg_buf(&l, a->dlogits);
        sf_cl_arg_buf(&l, a->probs);
        arg_u8_or_float(&l, a->labels);
        const uint64_t cols = (uint64_t)a->cols;
        sf_cl_arg_u64(&l, p.n);
        sf_cl_arg_u64(&l, cols);
        sf_cl_arg_u64(&l, (uint64_t)(p.groups * l.local) % cols);
        sf_cl_arg_f32(&l, a->label_smoothing);
        sf_cl_arg_f32(&l, a->grad_scale);
        sf_cl_arg_f32(&l, p.denom);
        sf_cl_arg_f32(&l, a->threshold);
        sf_cl_arg_local_floats(&l, l.local);
        SF_TRY(sf_cl_enqueue_1d(&l, p.groups));
    }
    if (partials)
        return sf_cl_finish_loss(ctx, SF_CL_BCE, dtype, p.groups, a->reduction, (double)p.n, a->loss);
    return SIGFUSE_SUCCESS;
}

sigfuse_status sf_cl_sigmoid_focal(sigfuse_ctx *ctx, const sigfuse_focal_args *a)
{
    sf_cl_state *s = sf_cl_of(ctx);
    const sigfuse_dtype dtype = a->logits->dtype;
    sf_cl_launch l;
    SF_TRY(sf_cl_begin(ctx, SF_CL_FOCAL, dtype, "focal_fused", &l));
    const loss_plan p = plan_loss(ctx, a->rows, a->cols, a->reduction, l.local);
    const bool partials = p.reduced && a->loss;

    if (p.n > 0) {
        if (partials)
            SF_TRY(sf_cl_barrier(ctx));
        sf_cl_arg_buf(&l, a->logits);
        arg_u8_or_float(&l, a->targets);
        sf_cl_arg_buf(&l, p.reduced ? NULL : a->dloss_in);
        sf_cl_arg_buf(&l, p.reduced ? a->dloss_in : NULL);
        sf_cl_arg_buf(&l, p.reduced ? NULL : a->loss);
        sf_cl_arg_mem(&l, partials ? s->scratch : NULL);
        sf_cl_arg_buf(&l, a->dlogits);
        sf_cl_arg_u64(&l, p.n);
        sf_cl_arg_f32(&l, a->alpha);
        sf_cl_arg_f32(&l, a->gamma);
        sf_cl_arg_f32(&l, a->grad_scale);
        sf_cl_arg_f32(&l, p.denom);
        sf_cl_arg_local_floats(&l, l.local);
        SF_TRY(sf_cl_enqueue_1d(&l, p.groups));
    }
    if (partials)
        return sf_cl_finish_loss(ctx, SF_CL_FOCAL, dtype, p.groups, a->reduction, (double)p.n, a->loss);
    return SIGFUSE_SUCCESS;
}
