/* SPDX-License-Identifier: MIT */
/*
 * Fused asymmetric loss (ASL) over a [rows, cols] tensor in one pass: the loss (per
 * element, or one partial of its sum per work-group) and/or the gradient times the
 * upstream gradient, ignored elements (mask 0) giving 0. Bytes per element as the focal
 * loss's: logits and targets read once (plus the mask, plus dloss_in for NONE), each
 * requested output written once: 2 x dtype + 1 up to 5 x dtype + 1. One exp, one log1p,
 * two pow and (with a margin) one more log per element: sf_asl_loss_grad in f32.
 */

/* The kernel's buffers (common.cl's SF_LOSS_PARAMS) and options. */
typedef struct asl_bufs {
    global const SF_T *x, *up;
    global const uchar *y, *mask;
    global SF_T *loss, *dl;
    int y_u8, want_loss;
    float gpos, gneg, margin, scale;
} asl_bufs;

/* Elements i .. i + span - 1 (span 4 or 1); the losses go into *acc in order and the
 * kept elements are counted in *kept_n (an ignored one's loss and gradient: 0). */
SF_FN void asl_span(const asl_bufs *b, ulong i, int span, sf_acc *acc, ulong *kept_n)
{
    float xv[4], yv[4], uv[4], le[4], g[4];
    int kept[4];
    sf_ldw_kept(b->mask, i, span, kept);
    sf_ldw(b->x, i, span, xv);
    sf_ldw_target(b->y, b->y_u8, i, span, yv);
    if (b->up)
        sf_ldw(b->up, i, span, uv);
    for (int k = 0; k < span; k++) {
        sf_asl_loss_grad(xv[k], yv[k], b->gpos, b->gneg, b->margin, &le[k], &g[k]);
        if (b->want_loss) {
            le[k] = kept[k] ? le[k] : 0.0f;
            *acc = sf_acc_add(*acc, le[k]);
        }
        g[k] = kept[k] ? g[k] * (b->scale * (b->up ? uv[k] : 1.0f)) : 0.0f;
        *kept_n += (ulong)kept[k];
    }
    if (b->loss)
        sf_stw(b->loss, i, span, le);
    if (b->dl)
        sf_stw(b->dl, i, span, g);
}

kernel void asymmetric(SF_LOSS_PARAMS, float gamma_pos, float gamma_neg, float margin)
{
    SF_LOSS_OPEN
    const asl_bufs b = {x, up, y, mask, loss, dl, y_u8, loss || part, gamma_pos, gamma_neg, margin,
                        sf_loss_scale(grad_scale, ups, ups_off, kept_n, denom)};
    sf_acc acc = sf_acc_zero();
    ulong kept = 0;
    SF_FOR_SPANS(n, vec, i, span, asl_span(&b, i, span, &acc, &kept));
    sf_loss_close(acc, part, kept, kept_part, tmp);
}
