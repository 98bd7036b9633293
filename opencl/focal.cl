/* SPDX-License-Identifier: MIT */
/*
 * Fused sigmoid focal loss (RetinaNet) over a [rows, cols] tensor in one pass: the loss
 * (per element, or one partial of its sum per work-group) and/or the gradient times the
 * upstream gradient; an ignored element (mask 0) has loss and gradient 0. Bytes per
 * element: logits and targets read once (plus the mask, and dloss_in for NONE), each
 * requested output written once: 2 x dtype + 1 (u8 targets, reduced loss) up to
 * 5 x dtype + 1. Two exp, two log1p and a pow per element: still bandwidth-bound on GPUs.
 */

/* The kernel's buffers (common.cl's SF_LOSS_PARAMS) and options. */
typedef struct focal_bufs {
    global const SF_T *x, *up;
    global const uchar *y, *mask;
    global SF_T *loss, *dl;
    int y_u8, want_loss;
    float alpha, gamma, scale;
} focal_bufs;

/* Elements i .. i + span - 1 (span 4 or 1); the losses go into *acc in order and the
 * kept elements are counted in *kept_n (an ignored one's loss and gradient: 0). */
SF_FN void focal_span(const focal_bufs *b, ulong i, int span, sf_acc *acc, ulong *kept_n)
{
    float xv[4], yv[4], uv[4], le[4], g[4];
    int kept[4];
    sf_ldw_kept(b->mask, i, span, kept);
    sf_ldw(b->x, i, span, xv);
    sf_ldw_target(b->y, b->y_u8, i, span, yv);
    if (b->up)
        sf_ldw(b->up, i, span, uv);
    const float alpha = b->alpha, gamma = b->gamma;
    for (int k = 0; k < span; k++) {
        const float xk = xv[k], yk = yv[k];
        const int t = yk != 0.0f;
#if SF_DTYPE != 1
        if (b->y_u8 && !b->want_loss && gamma == 2.0f)   /* stored in 16 bits */
            g[k] = sf_focal2_hard_grad16(xk, t, sf_focal_signed_alpha(alpha, t));
        else
#endif
        if (b->y_u8 && !b->want_loss)   /* hard targets: selections, no division */
            g[k] = sf_focal_hard_grad(xk, t, sf_focal_signed_alpha(alpha, t), gamma);
        else if (b->y_u8)
            sf_focal_hard_loss_grad(xk, t, alpha, gamma, &le[k], &g[k]);
        else if (gamma == 2.0f)   /* RetinaNet's: no pow, no division */
            sf_focal2_loss_grad(xk, yk, alpha, &le[k], &g[k]);
        else
            sf_focal_loss_grad(xk, yk, alpha, gamma, &le[k], &g[k]);   /* shares exp, log1p, pow */
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

kernel void sigmoid_focal(SF_LOSS_PARAMS, float alpha, float gamma)
{
    SF_LOSS_OPEN
    const focal_bufs b = {x, up, y, mask, loss, dl, y_u8, loss || part, alpha, gamma,
                          sf_loss_scale(grad_scale, ups, ups_off, kept_n, denom)};
    sf_acc acc = sf_acc_zero();
    ulong kept = 0;
    SF_FOR_SPANS(n, vec, i, span, focal_span(&b, i, span, &acc, &kept));
    sf_loss_close(acc, part, kept, kept_part, tmp);
}
