/* SPDX-License-Identifier: MIT */
/*
 * BCE + soft Dice over [images, pixels] in three passes (bce_dice.c runs them on a batch
 * of images at a time): bce_dice sums each (image, chunk of pixels) with one work-group
 * (p y, p + y and the BCE loss of the kept pixels), bce_dice_rows finishes each image
 * (D, the Dice gradient's factor, the dice output) and the images' part of the loss,
 * bce_dice_fold carries the loss across batches and writes it, and bce_dice_grad writes
 * the gradient. Bytes per pixel: logits and targets (plus the mask) read twice, dlogits
 * written once: 4 x dtype + 2 (u8 targets, no mask) up to 5 x dtype + 2 (mask).
 */

/* A pixel's target as given (the Dice term) and smoothed (the BCE term). */
SF_FN float bce_dice_pw(global const SF_T *pw, ulong j) { return pw ? sf_ld(pw, j) : 1.0f; }

/* Sum of v over dimension 0 of the work-group in a fixed tree, in tmp (this row of
 * work-items' part of the local array: get_local_size(0), a power of two); valid in the
 * row's work-item 0. Every work-item of the group calls it (the barriers are the
 * group's). */
SF_FN sf_acc bce_dice_row_sum(sf_acc v, local sf_acc *tmp)
{
    const uint lid = get_local_id(0);
    tmp[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint s = get_local_size(0) / 2; s > 0; s >>= 1) {
        if (lid < s)
            tmp[lid] = sf_acc_merge(tmp[lid], tmp[lid + s]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    return tmp[0];
}

/* The three sums of one (image, chunk): on a grid of K chunks x the batch's images, a
 * work-group is lx work-items along the pixels of a chunk by ly images (many small
 * images share a group, a large one has lx = the group). Each work-item walks every
 * lx-th pixel of chunk k of image row0 + r from its id, then a fixed tree per sum along
 * the row of work-items; its first work-item stores them at part[3 (r K + k) + 0 .. 2]:
 * sum p y, sum p + sum y, sum BCE (0 without want_bce). Rows past the batch (the last
 * group's) walk nothing and store nothing. */
kernel void bce_dice(SF_IN(x), SF_IN_U8(y), global const uchar *mask, ulong mask_off, SF_IN(pw), ulong pixels,
                     ulong rows, ulong row0, ulong chunk, float eps, int want_bce, global sf_acc *part,
                     ulong part_off, local sf_acc *tmp)
{
    SF_OPEN(x, pw, mask, part)
    SF_OPEN_U8(y)
    const ulong r = get_global_id(1), k = get_group_id(0);
    const ulong base = (row0 + r) * pixels;
    const ulong end = r < rows ? min((k + 1) * chunk, pixels) : 0;
    sf_acc inter = sf_acc_zero(), uni = sf_acc_zero(), bce = sf_acc_zero();
    for (ulong j = k * chunk + get_local_id(0); j < end; j += get_local_size(0)) {
        const ulong i = base + j;
        if (mask && !mask[i])
            continue;
        const float xv = sf_ld(x, i), yv = sf_ld_target(y, y_u8, i);
        float s;
        if (want_bce) {
            float le, g;
            if (y_u8)
                sf_bce_hard_loss_grad(xv, yv != 0.0f, 1.0f, bce_dice_pw(pw, j), &le, &g, &s);
            else if (pw)
                sf_bce_pw_loss_grad(xv, sf_smooth_target(yv, eps), 1.0f, sf_ld(pw, j), &le, &g, &s);
            else
                sf_bce_unit_loss_grad(xv, sf_smooth_target(yv, eps), 1.0f, &le, &g, &s);
            bce = sf_acc_add(bce, le);
        } else {
            s = sf_sigmoid(xv);
        }
        inter = sf_acc_add(inter, s * yv);
        uni = sf_acc_add(sf_acc_add(uni, s), yv);
    }
    /* Each sum leaves its result in the row's tmp[0]; its work-item 0 takes it before the
     * barrier that opens the next one lets tmp be overwritten. */
    local sf_acc *row_tmp = tmp + get_local_id(1) * get_local_size(0);
    const sf_acc si = bce_dice_row_sum(inter, row_tmp);
    barrier(CLK_LOCAL_MEM_FENCE);
    const sf_acc su = bce_dice_row_sum(uni, row_tmp);
    barrier(CLK_LOCAL_MEM_FENCE);
    const sf_acc sb = bce_dice_row_sum(bce, row_tmp);
    if (get_local_id(0) == 0 && r < rows) {
        global sf_acc *out = part + 3 * (r * get_num_groups(0) + k);
        out[0] = si;
        out[1] = su;
        out[2] = sb;
    }
}

/* Each image r < rows of the batch, grid-stride: its chunks' sums in order, then
 *   D = (2 I + smooth) / (U + smooth),  kd / (U + smooth)  (kd = dice_weight / images,
 *   as the pair kd_hi + kd_lo),  1 - D = (U - 2 I) / (U + smooth)
 * each rounded once from the accumulators, D and the Dice gradient's factor into q[2 r, 2 r + 1]
 * (for bce_dice_grad) and D into dice[row0 + r]. With gp set, the group's fixed-tree sums
 * of the images' BCE sums and 1 - D go to gp[2 group + 0, 1]. */
kernel void bce_dice_rows(global const sf_acc *part, ulong part_off, uint chunks, ulong rows, ulong row0,
                          float smooth, float kd_hi, float kd_lo, global float *q, ulong q_off, SF_OUT(dice),
                          global sf_acc *gp, ulong gp_off, local sf_acc *tmp)
{
    SF_OPEN(part, q, dice, gp)
    const sf_acc kd = sf_acc_add(sf_acc_add(sf_acc_zero(), kd_hi), kd_lo);
    sf_acc bce = sf_acc_zero(), term = sf_acc_zero();
    SF_FOR_EACH(r, rows) {
        global const sf_acc *pr = part + 3 * r * chunks;
        sf_acc inter = sf_acc_zero(), uni = sf_acc_zero(), b = sf_acc_zero();
        for (uint k = 0; k < chunks; k++) {
            inter = sf_acc_merge(inter, pr[3 * k]);
            uni = sf_acc_merge(uni, pr[3 * k + 1]);
            b = sf_acc_merge(b, pr[3 * k + 2]);
        }
        const sf_acc twice = sf_acc_merge(inter, inter);
        const sf_acc den = sf_acc_add(uni, smooth);
        const float d = sf_acc_quot(sf_acc_add(twice, smooth), den);
        q[2 * r] = d;
        q[2 * r + 1] = sf_acc_quot(kd, den);
        if (dice)
            sf_st(dice, row0 + r, d);
        bce = sf_acc_merge(bce, b);
        term = sf_acc_add(term, sf_acc_quot(sf_acc_merge(uni, sf_acc_neg(twice)), den));
    }
    if (!gp)
        return;
    const sf_acc sb = sf_group_sum(bce, tmp);
    barrier(CLK_LOCAL_MEM_FENCE);
    const sf_acc st = sf_group_sum(term, tmp);
    if (get_local_id(0) == 0) {
        gp[2 * get_group_id(0)] = sb;
        gp[2 * get_group_id(0) + 1] = st;
    }
}

/* One work-group: the batch's `groups` pairs from gp summed in order and added to the
 * running totals tot[0, 1] (set by the first batch); after the last batch the loss,
 *   bce_weight * (BCE sum, / count for MEAN) + dice_weight * (sum of 1 - D) / images,
 * a zero weight leaving its term out; count is kept_n[0] where the mask's count pass ran. */
kernel void bce_dice_fold(global const sf_acc *gp, ulong gp_off, uint groups, global sf_acc *tot, ulong tot_off,
                          int first, int last, float bce_weight, float dice_weight, int mean,
                          global const ulong *kept_n, ulong kept_n_off, ulong count, ulong images,
                          global float *out, ulong out_off, local sf_acc *tmp)
{
    SF_OPEN(gp, tot, kept_n)
    sf_acc b = sf_acc_zero(), t = sf_acc_zero();
    for (uint g = get_local_id(0); g < groups; g += get_local_size(0)) {
        b = sf_acc_merge(b, gp[2 * g]);
        t = sf_acc_merge(t, gp[2 * g + 1]);
    }
    b = sf_group_sum(b, tmp);
    barrier(CLK_LOCAL_MEM_FENCE);
    t = sf_group_sum(t, tmp);
    if (get_local_id(0) != 0)
        return;
    if (!first) {
        b = sf_acc_merge(tot[0], b);
        t = sf_acc_merge(tot[1], t);
    }
    if (!last) {
        tot[0] = b;
        tot[1] = t;
        return;
    }
    const float bce = mean ? sf_acc_div(b, kept_n ? kept_n[0] : count) : sf_acc_float(b);
    const float dice = sf_acc_div(t, images);
    /* Each term rounded once, then their sum once (in double where there is one). */
#ifdef SF_ACC_DOUBLE
    double loss = 0.0;
    if (bce_weight != 0.0f)
        loss += (double)bce_weight * (double)bce;
    if (dice_weight != 0.0f)
        loss += (double)dice_weight * (double)dice;
    out[out_off] = (float)loss;
#else
    float loss = 0.0f;
    if (bce_weight != 0.0f)
        loss = bce_weight * bce;
    if (dice_weight != 0.0f)
        loss = fma(dice_weight, dice, loss);
    out[out_off] = loss;
#endif
}

/* The gradient on bce_dice's grid: pixel j of image row0 + r, kept,
 *   g = grad_scale dloss_in (cb dBCE/dx + sf_dice_grad(y, p, 1 - p, D_r, k_r))
 * with cb = bce_weight (/ count for MEAN), each term only where its weight is not 0; an
 * ignored pixel's gradient is 0. Every input of a pixel is read before its gradient is
 * stored (dl may be in place on x). */
kernel void bce_dice_grad(SF_IN(x), SF_IN_U8(y), global const uchar *mask, ulong mask_off, SF_IN(pw), SF_OUT(dl),
                          global const float *q, ulong q_off, ulong pixels, ulong rows, ulong row0, ulong chunk,
                          float eps,
                          float bce_weight, float dice_weight, int mean, global const ulong *kept_n,
                          ulong kept_n_off, ulong count, global const float *ups, ulong ups_off, float grad_scale)
{
    SF_OPEN(x, pw, dl, mask, q, kept_n)
    SF_OPEN_U8(y)
    const ulong r = get_global_id(1), k = get_group_id(0);
    if (r >= rows)
        return;
    const ulong base = (row0 + r) * pixels;
    const ulong end = min((k + 1) * chunk, pixels);
    const float scale = sf_scale_div(grad_scale, ups ? ups[ups_off] : 1.0f, 1);
    const float cb = mean ? sf_scale_div(bce_weight, 1.0f, kept_n ? kept_n[0] : count) : bce_weight;
    const float d = q[2 * r], kr = q[2 * r + 1];
    for (ulong j = k * chunk + get_local_id(0); j < end; j += get_local_size(0)) {
        const ulong i = base + j;
        const int kept = !mask || mask[i];
        const float xv = sf_ld(x, i), yv = sf_ld_target(y, y_u8, i);
        float g = 0.0f;
        if (kept) {
            float s, sn;
            if (bce_weight != 0.0f)
                g = cb * sf_bce_grad(xv, sf_smooth_target(yv, eps), 1.0f, bce_dice_pw(pw, j), &s);
            if (dice_weight != 0.0f) {
                sf_sigmoid_pair(xv, &s, &sn);
                g += sf_dice_grad(yv, s, sn, d, kr);
            }
            g *= scale;
        }
        sf_st(dl, i, g);
    }
}
