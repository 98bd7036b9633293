/* SPDX-License-Identifier: MIT */
/*
 * Fused binary cross-entropy with logits over a [rows, cols] tensor in one pass: any
 * subset of the loss (per element, or one partial of its sum per work-group), the
 * gradient times the upstream gradient, sigma(x) and thresholded labels; an ignored
 * element (mask 0) has loss and gradient 0. Bytes per element: logits and targets read
 * once (plus the mask, weight, and dloss_in for NONE), each requested output written
 * once: from 2 x dtype + 1 (u8 targets, reduced loss) up to 8 x dtype + 1 (every input
 * and output). Bandwidth-bound; math from sf_math.h in f32.
 */

/* The kernel's buffers (common.cl's SF_LOSS_PARAMS plus its own) and options. */
typedef struct bce_bufs {
    global const SF_T *x, *w, *pw, *up;
    global const uchar *y, *mask;
    global SF_T *loss, *dl, *pr;
    global uchar *lab;
    int y_u8, lab_u8, want_loss;
    ulong cols;
    float eps, scale, threshold;
} bce_bufs;

/* Elements i .. i + span - 1 (span 4 or 1): col is the column of element i (for
 * pos_weight), stepped along the span and wrapped at the row's end; the losses go into
 * *acc in order and the kept elements are counted in *kept_n. An ignored element's loss
 * and gradient are 0 whatever its inputs: selected, never multiplied (NaN * 0 is NaN). */
SF_FN void bce_span(const bce_bufs *b, ulong i, int span, ulong col, sf_acc *acc, ulong *kept_n)
{
    float xv[4], yv[4], wv[4], uv[4], le[4], g[4], s[4], lab[4];
    int kept[4];
    sf_ldw_kept(b->mask, i, span, kept);
    sf_ldw(b->x, i, span, xv);
    sf_ldw_target(b->y, b->y_u8, i, span, yv);
    if (b->w)
        sf_ldw(b->w, i, span, wv);
    if (b->up)
        sf_ldw(b->up, i, span, uv);
    for (int k = 0; k < span; k++) {
        const float ys = sf_smooth_target(yv[k], b->eps);
        const float wk = b->w ? wv[k] : 1.0f;
        const float pk = b->pw ? sf_ld(b->pw, col) : 1.0f;
        /* s = sigma(x), from the same exponential as the loss and gradient */
        if (b->want_loss) {   /* one exp, one log1p for all */
            if (b->y_u8)      /* hard targets (never smoothed): selections */
                sf_bce_hard_loss_grad(xv[k], yv[k] != 0.0f, wk, pk, &le[k], &g[k], &s[k]);
            else if (b->pw)
                sf_bce_pw_loss_grad(xv[k], ys, wk, pk, &le[k], &g[k], &s[k]);
            else              /* p = 1: the shorter form of the loss */
                sf_bce_unit_loss_grad(xv[k], ys, wk, &le[k], &g[k], &s[k]);
            le[k] = kept[k] ? le[k] : 0.0f;
            *acc = sf_acc_add(*acc, le[k]);
        } else {
            g[k] = sf_bce_grad(xv[k], ys, wk, pk, &s[k]);
        }
        g[k] = kept[k] ? g[k] * (b->scale * (b->up ? uv[k] : 1.0f)) : 0.0f;
        *kept_n += (ulong)kept[k];
        lab[k] = s[k] > b->threshold ? 1.0f : 0.0f;
        if (++col == b->cols)
            col = 0;
    }
    if (b->loss)
        sf_stw(b->loss, i, span, le);
    if (b->dl)
        sf_stw(b->dl, i, span, g);
    if (b->pr)
        sf_stw(b->pr, i, span, s);
    if (b->lab)
        sf_stw_label(b->lab, b->lab_u8, i, span, lab);
}

/* The column of each span's first element steps by G span % cols from one span of this
 * work-item to its next (G work-items, spans of `span` elements): one 64-bit modulo per
 * work-item and walk, not per element. */
kernel void bce_with_logits(SF_LOSS_PARAMS, SF_IN(w), SF_IN(pw), SF_OUT(pr), SF_OUT_U8(lab), ulong cols,
                            float eps, float threshold)
{
    SF_LOSS_OPEN
    SF_OPEN(w, pw, pr)
    SF_OPEN_U8(lab)
    const bce_bufs b = {x, w, pw, up, y, mask, loss, dl, pr, lab, y_u8, lab_u8, loss || part, cols, eps,
                        sf_loss_scale(grad_scale, ups, ups_off, kept_n, denom), threshold};
    sf_acc acc = sf_acc_zero();
    ulong kept = 0;
    ulong col = 0, step = 0;
    int col_w = 0;   /* the span width col and step are for */
    SF_FOR_SPANS(n, vec, i, span, {
        if (pw && col_w != span) {
            col = i % cols;
            step = get_global_size(0) * span % cols;
            col_w = span;
        }
        bce_span(&b, i, span, col, &acc, &kept);
        col += step;
        if (col >= cols)
            col -= cols;
    });
    sf_loss_close(acc, part, kept, kept_part, tmp);
}
