/* SPDX-License-Identifier: MIT */
/*
 * Launcher of bce_dice (bce_dice.cl). Each image's pixels are cut into K chunks of equal
 * length, one row of a work-group's work-items each, with K chosen so that the chunks fill
 * the device (many small images: one chunk each, several images to a work-group; a few
 * huge ones: many chunks each) and each work-item gets a few pixels; the per-(image, chunk) sums and each image's D sit in the
 * scratch, so images go through in batches that fit it, the loss carried from batch to
 * batch in a fixed order. The layout is a pure function of (images, pixels, device):
 * the sums, and with them every output, are bitwise the same on every run.
 *
 * Scratch, in accumulators from SF_CL_SCRATCH_LOSS_END: the running loss totals (2), the
 * rows pass's group pairs (2 SF_CL_MAX_GROUPS), then per batch image its (D, factor)
 * pair (1) and the 3 sums of each of its K chunks.
 */
#include "sf_opencl.h"

#define TOTALS SF_CL_SCRATCH_LOSS_END
#define GROUP_PAIRS (TOTALS + 2u)
#define PER_IMAGE (GROUP_PAIRS + 2u * SF_CL_MAX_GROUPS)
/* Pixels per work-item at least, before an image is split further: enough that the
 * three tree sums at the end of a chunk cost little against the walk. */
#define PIXELS_PER_ITEM 4u

typedef struct dice_layout {
    uint64_t chunks;   /* K chunks per image */
    uint64_t chunk;    /* pixels per chunk (the last one may have fewer) */
    size_t lx, ly;     /* work-group: work-items per chunk x images, powers of two */
    uint64_t batch;    /* images per batch */
} dice_layout;

static dice_layout layout(const sf_cl_state *s, size_t local, uint64_t images, uint64_t pixels)
{
    dice_layout d;
    const uint64_t target = (uint64_t)s->compute_units * SF_CL_GROUPS_PER_CU;
    const uint64_t most = (pixels + PIXELS_PER_ITEM * local - 1) / (PIXELS_PER_ITEM * local);
    const uint64_t fill = images > 0 ? (target + images - 1) / images : 1;
    uint64_t k = most < fill ? most : fill;
    k = k < 1 ? 1 : k > SF_CL_MAX_GROUPS ? SF_CL_MAX_GROUPS : k;
    d.chunk = (pixels + k - 1) / k;
    d.chunks = d.chunk > 0 ? (pixels + d.chunk - 1) / d.chunk : 1;
    d.lx = d.chunk >= local ? local : sf_cl_pow2_floor(d.chunk > 0 ? (size_t)d.chunk : 1);
    /* Images fill the rest of the group, as many as there are. */
    d.ly = 1;
    while (d.lx * d.ly * 2 <= local && d.ly * 2 <= s->max_items[1] && d.ly < images)
        d.ly *= 2;
    const uint64_t fit = (s->scratch_accs - PER_IMAGE) / (3 * d.chunks + 1);
    d.batch = images < fit ? images : fit;
    return d;
}

typedef struct dice_call {
    const sigfuse_bce_dice_args *a;
    sigfuse_dtype dtype;
    dice_layout d;
    bool mean, counted, want_loss;
    uint64_t count;    /* MEAN's count where it is known on the host */
} dice_call;

/* The (D, factor) pairs of the batch's images: floats, the kernels' offset counts them. */
static sigfuse_buffer image_pairs(const sf_cl_state *s)
{
    sigfuse_buffer q = sf_cl_scratch_at(s, PER_IMAGE);
    q.dtype = SIGFUSE_F32;
    return q;
}

/* The grid of passes 1 and 3 over images [row0, row0 + rows): the K chunks along
 * dimension 0, the images along 1 (the last group's rows past them idle). */
static sf_cl_grid2 chunk_grid(const dice_layout *d, uint64_t rows)
{
    const sf_cl_grid2 g = {d->lx, d->ly, (size_t)d->chunks, (size_t)((rows + d->ly - 1) / d->ly)};
    return g;
}

/* Pass 1 on images [row0, row0 + rows): the chunks' sums. */
static sigfuse_status sums(sigfuse_ctx *ctx, const dice_call *c, uint64_t row0, uint64_t rows)
{
    sf_cl_state *s = sf_cl_of(ctx);
    const sigfuse_bce_dice_args *a = c->a;
    const sigfuse_buffer part = sf_cl_scratch_at(s, PER_IMAGE + c->d.batch);
    const sf_cl_grid2 g = chunk_grid(&c->d, rows);
    sf_cl_launch l;
    SF_TRY(sf_cl_begin(ctx, SF_CL_FAMILY_bce_dice, c->dtype, SF_CL_KERNEL_bce_dice, &l));
    sf_cl_arg_buf(&l, a->logits);
    sf_cl_arg_u8_or_float(&l, a->targets);
    sf_cl_arg_buf(&l, a->mask);
    sf_cl_arg_buf(&l, a->pos_weight);
    sf_cl_arg_u64(&l, (uint64_t)a->pixels);
    sf_cl_arg_u64(&l, rows);
    sf_cl_arg_u64(&l, row0);
    sf_cl_arg_u64(&l, c->d.chunk);
    sf_cl_arg_f32(&l, a->label_smoothing);
    sf_cl_arg_int(&l, c->want_loss && a->bce_weight != 0.0f);
    sf_cl_arg_buf(&l, &part);
    sf_cl_arg_local_accs(&l, c->d.lx * c->d.ly);
    return sf_cl_enqueue_2d(&l, &g);
}

/* Pass 2: each image's D and Dice factor, and (with the loss) the batch's part of it. */
static sigfuse_status finish_rows(sigfuse_ctx *ctx, const dice_call *c, uint64_t row0, uint64_t rows,
                                  size_t *groups)
{
    sf_cl_state *s = sf_cl_of(ctx);
    const sigfuse_bce_dice_args *a = c->a;
    const sigfuse_buffer part = sf_cl_scratch_at(s, PER_IMAGE + c->d.batch);
    const sigfuse_buffer q = image_pairs(s);
    const sigfuse_buffer gp = sf_cl_scratch_at(s, GROUP_PAIRS);
    /* dice_weight / images as a float pair, so that the device's double forms the factor
     * dice_weight / (images (U + smooth)) with one rounding. */
    const double kd = (double)a->dice_weight / (double)a->images;
    const float kd_hi = (float)kd, kd_lo = (float)(kd - (double)kd_hi);
    sf_cl_launch l;
    SF_TRY(sf_cl_begin(ctx, SF_CL_FAMILY_bce_dice, c->dtype, SF_CL_KERNEL_bce_dice_rows, &l));
    *groups = sf_cl_groups(s, rows, l.local);
    sf_cl_arg_buf(&l, &part);
    sf_cl_arg_u32(&l, (uint32_t)c->d.chunks);
    sf_cl_arg_u64(&l, rows);
    sf_cl_arg_u64(&l, row0);
    sf_cl_arg_f32(&l, a->smooth);
    sf_cl_arg_f32(&l, kd_hi);
    sf_cl_arg_f32(&l, kd_lo);
    sf_cl_arg_buf(&l, &q);
    sf_cl_arg_buf(&l, a->dice);
    sf_cl_arg_buf(&l, c->want_loss ? &gp : NULL);
    sf_cl_arg_local_accs(&l, l.local);
    return sf_cl_enqueue_1d(&l, *groups);
}

/* The loss carried across batches (groups pairs of this batch), written after the last. */
static sigfuse_status fold(sigfuse_ctx *ctx, const dice_call *c, size_t groups, bool first, bool last)
{
    sf_cl_state *s = sf_cl_of(ctx);
    const sigfuse_bce_dice_args *a = c->a;
    const sigfuse_buffer gp = sf_cl_scratch_at(s, GROUP_PAIRS), tot = sf_cl_scratch_at(s, TOTALS);
    const sigfuse_buffer kept = sf_cl_scratch_at(s, SF_CL_SCRATCH_KEPT);
    sf_cl_launch l;
    SF_TRY(sf_cl_begin(ctx, SF_CL_FAMILY_bce_dice, c->dtype, SF_CL_KERNEL_bce_dice_fold, &l));
    sf_cl_arg_buf(&l, &gp);
    sf_cl_arg_u32(&l, (uint32_t)groups);
    sf_cl_arg_buf(&l, &tot);
    sf_cl_arg_int(&l, first);
    sf_cl_arg_int(&l, last);
    sf_cl_arg_f32(&l, a->bce_weight);
    sf_cl_arg_f32(&l, a->dice_weight);
    sf_cl_arg_int(&l, c->mean);
    sf_cl_arg_buf(&l, c->counted ? &kept : NULL);
    sf_cl_arg_u64(&l, c->count);
    sf_cl_arg_u64(&l, (uint64_t)a->images);
    sf_cl_arg_buf(&l, a->loss);
    sf_cl_arg_local_accs(&l, l.local);
    return sf_cl_enqueue_1d(&l, 1);   /* one work-group */
}

/* Pass 3 on images [row0, row0 + rows): the gradient, on pass 1's grid. */
static sigfuse_status gradient(sigfuse_ctx *ctx, const dice_call *c, uint64_t row0, uint64_t rows)
{
    sf_cl_state *s = sf_cl_of(ctx);
    const sigfuse_bce_dice_args *a = c->a;
    const sigfuse_buffer q = image_pairs(s);
    const sigfuse_buffer kept = sf_cl_scratch_at(s, SF_CL_SCRATCH_KEPT);
    const sf_cl_grid2 g = chunk_grid(&c->d, rows);
    sf_cl_launch l;
    SF_TRY(sf_cl_begin(ctx, SF_CL_FAMILY_bce_dice, c->dtype, SF_CL_KERNEL_bce_dice_grad, &l));
    sf_cl_arg_buf(&l, a->logits);
    sf_cl_arg_u8_or_float(&l, a->targets);
    sf_cl_arg_buf(&l, a->mask);
    sf_cl_arg_buf(&l, a->pos_weight);
    sf_cl_arg_buf(&l, a->dlogits);
    sf_cl_arg_buf(&l, &q);
    sf_cl_arg_u64(&l, (uint64_t)a->pixels);
    sf_cl_arg_u64(&l, rows);
    sf_cl_arg_u64(&l, row0);
    sf_cl_arg_u64(&l, c->d.chunk);
    sf_cl_arg_f32(&l, a->label_smoothing);
    sf_cl_arg_f32(&l, a->bce_weight);
    sf_cl_arg_f32(&l, a->dice_weight);
    sf_cl_arg_int(&l, c->mean);
    sf_cl_arg_buf(&l, c->counted ? &kept : NULL);
    sf_cl_arg_u64(&l, c->count);
    sf_cl_arg_buf(&l, a->dloss_in);
    sf_cl_arg_f32(&l, a->grad_scale);
    return sf_cl_enqueue_2d(&l, &g);
}

sigfuse_status sf_cl_bce_dice(sigfuse_ctx *ctx, const sigfuse_bce_dice_args *a)
{
    sf_cl_state *s = sf_cl_of(ctx);
    const uint64_t images = (uint64_t)a->images, pixels = (uint64_t)a->pixels, n = images * pixels;
    dice_call c = {a, a->logits->dtype, {0, 0, 1, 1, 0}, a->reduction == SIGFUSE_REDUCTION_MEAN, false, a->loss != NULL,
                   n};
    /* The rows passes are needed for D (the dice output, the Dice term of the loss or
     * gradient) and for the loss's BCE sum; only a gradient without a Dice term skips them. */
    const bool rows_needed = a->dice || a->loss || a->dice_weight != 0.0f;
    /* Passes 1 and 3 share the grid: a work-group both kernels accept. */
    sf_cl_launch sums_k, grad_k;
    SF_TRY(sf_cl_begin(ctx, SF_CL_FAMILY_bce_dice, c.dtype, SF_CL_KERNEL_bce_dice, &sums_k));
    SF_TRY(sf_cl_begin(ctx, SF_CL_FAMILY_bce_dice, c.dtype, SF_CL_KERNEL_bce_dice_grad, &grad_k));
    c.d = layout(s, sums_k.local < grad_k.local ? sums_k.local : grad_k.local, images, pixels);

    /* The BCE term's MEAN over a mask divides by the kept count, which every gradient
     * and the loss need: counted once, first. */
    if (a->mask && c.mean && a->bce_weight != 0.0f && n > 0) {
        SF_TRY(sf_cl_count_kept(ctx, SF_CL_FAMILY_bce_dice, c.dtype, a->mask, n));
        c.counted = true;
    } else if (a->mask) {
        c.count = 0;   /* unused, except over no elements: 0 kept */
    }

    bool first = true;
    for (uint64_t row0 = 0; row0 < images; row0 += c.d.batch) {
        const uint64_t rows = images - row0 < c.d.batch ? images - row0 : c.d.batch;
        size_t groups = 0;
        /* Each pass reads what the one before wrote in the scratch (and the first, what
         * the previous op may still read). */
        if (rows_needed) {
            SF_TRY(sf_cl_barrier(ctx));
            SF_TRY(sums(ctx, &c, row0, rows));
            SF_TRY(sf_cl_barrier(ctx));
            SF_TRY(finish_rows(ctx, &c, row0, rows, &groups));
        }
        if (a->dlogits) {
            SF_TRY(sf_cl_barrier(ctx));
            SF_TRY(gradient(ctx, &c, row0, rows));
        }
        /* After the gradient, which reads dloss_in: the loss may be in place on it. */
        if (a->loss) {
            SF_TRY(sf_cl_barrier(ctx));
            SF_TRY(fold(ctx, &c, groups, first, row0 + rows >= images));
        }
        first = false;
    }
    if (images == 0 && a->loss) {
        SF_TRY(sf_cl_barrier(ctx));
        SF_TRY(fold(ctx, &c, 0, true, true));
    }
    return SIGFUSE_SUCCESS;
}
