/* SPDX-License-Identifier: MIT */
/*
 * Fused sigmoid focal loss (RetinaNet) over a [rows, cols] tensor in one pass: the loss
 * (per element, or one partial of its sum per work-group) and/or the gradient times the
 * upstream gradient. Bytes per element: logits and targets read once (plus dloss_in for
 * NONE), each requested output written once: 2 x dtype + 1 (u8 targets, reduced loss) up
 * to 5 x dtype. Two exp, two log1p and a pow per element: still bandwidth-bound on GPUs.
 */

/* As bce_fused: loss (NONE) or part (SUM / MEAN partials), ups the scalar upstream
 * gradient of a reduced loss, up the per-element one of NONE. */
kernel void focal_fused(global const SF_T *x, ulong x_off,
                        global const uchar *y, ulong y_off, int y_u8,
                        global const SF_T *up, ulong up_off,
                        global const float *ups, ulong ups_off,
                        global SF_T *loss, ulong loss_off,
                        global float *part,
                        global SF_T *dl, ulong dl_off,
                        ulong n, float alpha, float gamma, float grad_scale, float denom,
                        local float *tmp)
{
    x += x_off;
    y = sf_target_at(y, y_u8, y_off);
    up = SF_AT(up, up_off);
    loss = SF_AT(loss, loss_off);
    dl = SF_AT(dl, dl_off);
    const int want_loss = loss || part;

    float scale = grad_scale;
    if (ups)
        scale *= ups[ups_off];
    scale /= denom;

    float acc = 0.0f;
    SF_FOR_EACH(i, n) {
        const float xv = sf_ld(x, i);
        const float yv = sf_ld_target(y, y_u8, i);
        const float uv = up ? sf_ld(up, i) : 1.0f;
        float le, g;
        if (y_u8 && !want_loss && gamma == 2.0f && sizeof(SF_T) == 2)   /* stored in 16 bits */
            g = sf_focal2_hard_grad16(xv, yv != 0.0f, sf_focal_signed_alpha(alpha, yv != 0.0f));
        else if (y_u8 && !want_loss)   /* hard targets: selections, no division */
            g = sf_focal_hard_grad(xv, yv != 0.0f, sf_focal_signed_alpha(alpha, yv != 0.0f), gamma);
        else if (y_u8)
            sf_focal_hard_loss_grad(xv, yv != 0.0f, alpha, gamma, &le, &g);
        else if (gamma == 2.0f)   /* RetinaNet's: no pow, no division */
            sf_focal2_loss_grad(xv, yv, alpha, &le, &g);
        else
            sf_focal_loss_grad(xv, yv, alpha, gamma, &le, &g);   /* shares exp, log1p, pow */
        if (want_loss) {
            if (loss)
                sf_st(loss, i, le);
            acc += le;
        }
        if (dl)
            sf_st(dl, i, g * (scale * uv));
    }
    if (part) {
        const float s = sf_group_sum(acc, tmp);
        if (get_local_id(0) == 0)
            part[get_group_id(0)] = s;
    }
}
