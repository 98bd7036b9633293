/* SPDX-License-Identifier: MIT */
/*
 * Fused binary cross-entropy with logits over a [rows, cols] tensor in one pass: any
 * subset of the loss (per element, or one partial of its sum per work-group), the
 * gradient times the upstream gradient, sigma(x) and thresholded labels. Bytes per
 * element: logits and targets read once (plus weight, plus dloss_in for NONE), each
 * requested output written once: from 2 x dtype + 1 (u8 targets, reduced loss) up to
 * 8 x dtype (every input and output). Bandwidth-bound; math from sf_math.h in f32.
 */

/* loss (per element, NONE) and part (per-group partials, SUM / MEAN) are never both
 * set; ups is the scalar upstream gradient of a reduced loss, up the per-element one of
 * NONE. The column of element i (for pos_weight) advances by col_step = global size %
 * cols per pass of the grid-stride loop, which spares a 64-bit modulo per element. */
kernel void bce_fused(global const SF_T *x, ulong x_off,
                      global const uchar *y, ulong y_off, int y_u8,
                      global const SF_T *w, ulong w_off,
                      global const SF_T *pw, ulong pw_off,
                      global const SF_T *up, ulong up_off,
                      global const float *ups, ulong ups_off,
                      global SF_T *loss, ulong loss_off,
                      global float *part,
                      global SF_T *dl, ulong dl_off,
                      global SF_T *pr, ulong pr_off,
                      global uchar *lab, ulong lab_off, int lab_u8,
                      ulong n, ulong cols, ulong col_step, float eps, float grad_scale, float denom,
                      float threshold, local float *tmp)
{
    x += x_off;
    y = sf_target_at(y, y_u8, y_off);
    w = SF_AT(w, w_off);
    pw = SF_AT(pw, pw_off);
    up = SF_AT(up, up_off);
    loss = SF_AT(loss, loss_off);
    dl = SF_AT(dl, dl_off);
    pr = SF_AT(pr, pr_off);
    lab = sf_label_at(lab, lab_u8, lab_off);
    const int want_loss = loss || part;

    /* grad_scale x dloss_in / (rows * cols for MEAN); read before any store, so that an
     * output may share memory with an input. */
    float scale = grad_scale;
    if (ups)
        scale *= ups[ups_off];
    scale /= denom;

    float acc = 0.0f;
    ulong col = pw ? get_global_id(0) % cols : 0;
    SF_FOR_EACH(i, n) {
        const float xv = sf_ld(x, i);
        const float yv = sf_ld_target(y, y_u8, i);
        const float ys = sf_smooth_target(yv, eps);
        const float wv = w ? sf_ld(w, i) : 1.0f;
        const float pv = pw ? sf_ld(pw, col) : 1.0f;
        const float uv = up ? sf_ld(up, i) : 1.0f;
        float le, g, s;   /* s = sigma(x), from the same exponential as the loss and gradient */
        if (want_loss) {   /* one exp, one log1p for all */
            if (y_u8)      /* hard targets (never smoothed): selections */
                sf_bce_hard_loss_grad(xv, yv != 0.0f, wv, pv, &le, &g, &s);
            else if (pw)
                sf_bce_pw_loss_grad(xv, ys, wv, pv, &le, &g, &s);
            else           /* p = 1: the shorter form of the loss */
                sf_bce_unit_loss_grad(xv, ys, wv, &le, &g, &s);
            if (loss)
                sf_st(loss, i, le);
            acc += le;
        } else {
            g = sf_bce_grad(xv, ys, wv, pv, &s);
        }
        if (dl)
            sf_st(dl, i, g * (scale * uv));
        if (pr || lab) {
            if (pr)
                sf_st(pr, i, s);
            if (lab)
                sf_st_label(lab, lab_u8, i, s > threshold ? 1.0f : 0.0f);
        }
        if (pw) {
            col += col_step;
            if (col >= cols)
                col -= cols;
        }
    }
    if (part) {
        const float s = sf_group_sum(acc, tmp);
        if (get_local_id(0) == 0)
            part[get_group_id(0)] = s;
    }
}
