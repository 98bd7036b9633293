/* SPDX-License-Identifier: MIT */
/*
 * GRU cell (PyTorch GRUCell: blocks r, z, n) on [B, 3H] input and hidden projections,
 * forward and backward (recomputing the cell). Forward reads 6 projections and h_prev and
 * writes h: 8 x dtype bytes per hidden unit. Backward also reads dh and writes dgates_x
 * (3), dgates_h (3), dh_prev and per-chunk bias partials: up to 15 x dtype bytes.
 * Work-items walk columns j (dimension 0, coalesced) and rows r = chunk, chunk + chunks...
 */

/* The biases of column j's three blocks, input (cx) and hidden (ch) side, 0 where absent. */
SF_FN void gru_bias(global const SF_T *bx, global const SF_T *bh, ulong H, ulong j, float *cx, float *ch)
{
    for (int g = 0; g < 3; g++) {
        cx[g] = bx ? sf_ld(bx, g * H + j) : 0.0f;
        ch[g] = bh ? sf_ld(bh, g * H + j) : 0.0f;
    }
}

/* The cell's pre-activations at (row, j), row = r 3H + j: a[0] = r's and a[1] = z's
 * (both halves and biases), a[2] = n's input half, a[3] = n's hidden half. */
SF_FN void gru_pre(global const SF_T *gx, global const SF_T *gh, ulong row, ulong H, const float *cx,
                   const float *ch, float *a)
{
    a[0] = (sf_ld(gx, row) + cx[0]) + (sf_ld(gh, row) + ch[0]);
    a[1] = (sf_ld(gx, row + H) + cx[1]) + (sf_ld(gh, row + H) + ch[1]);
    a[2] = sf_ld(gx, row + 2 * H) + cx[2];
    a[3] = sf_ld(gh, row + 2 * H) + ch[2];
}

kernel void gru_cell_forward(SF_IN(gx), SF_IN(gh), SF_IN(bx), SF_IN(bh), SF_IN(hp), SF_OUT(h), ulong B, ulong H)
{
    SF_OPEN(gx, gh, bx, bh, hp, h)
    for (ulong j = get_global_id(0); j < H; j += get_global_size(0)) {
        float cx[3], ch[3], a[4];
        gru_bias(bx, bh, H, j, cx, ch);
        for (ulong r = get_global_id(1); r < B; r += get_global_size(1)) {
            const ulong k = r * H + j;
            gru_pre(gx, gh, r * 3 * H + j, H, cx, ch, a);
            /* h_prev[k] is read before h[k] is written: h may alias h_prev. */
            sf_st(h, k, sf_gru_fwd(a[0], a[1], a[2], a[3], sf_ld(hp, k)));
        }
    }
}

/* Bias gradients as in lstm_cell_backward: one row chunk writes dbias_x / dbias_h
 * directly; more write part[chunk * 6H + (0 | 3H) + g * H + j] for sf_finish_cols. */
kernel void gru_cell_backward(SF_IN(gx), SF_IN(gh), SF_IN(bx), SF_IN(bh), SF_IN(hp), SF_IN(dh), SF_OUT(dgx),
                              SF_OUT(dgh), SF_OUT(dhp), SF_OUT(dbx), SF_OUT(dbh), global sf_acc *part, ulong B,
                              ulong H)
{
    SF_OPEN(gx, gh, bx, bh, hp, dh, dgx, dgh, dhp, dbx, dbh)
    const ulong chunk = get_global_id(1), chunks = get_global_size(1);
    for (ulong j = get_global_id(0); j < H; j += get_global_size(0)) {
        float cx[3], ch[3], a[4];
        gru_bias(bx, bh, H, j, cx, ch);
        sf_acc sx[3] = {sf_acc_zero(), sf_acc_zero(), sf_acc_zero()};
        sf_acc sh[3] = {sf_acc_zero(), sf_acc_zero(), sf_acc_zero()};
        for (ulong r = chunk; r < B; r += chunks) {
            const ulong row = r * 3 * H + j, k = r * H + j;
            float dx[3], dy[3], dhpv;
            gru_pre(gx, gh, row, H, cx, ch, a);
            /* Every input of (r, j) is read before its outputs are written, so outputs may
             * alias inputs of the same shape. */
            sf_gru_bwd(a[0], a[1], a[2], a[3], sf_ld(hp, k), sf_ld(dh, k), &dx[0], &dx[1], &dx[2], &dy[2], &dhpv);
            dy[0] = dx[0];
            dy[1] = dx[1];
            for (int g = 0; g < 3; g++) {
                if (dgx)
                    sf_st(dgx, row + g * H, dx[g]);
                if (dgh)
                    sf_st(dgh, row + g * H, dy[g]);
                sx[g] = sf_acc_add(sx[g], dx[g]);
                sh[g] = sf_acc_add(sh[g], dy[g]);
            }
            if (dhp)
                sf_st(dhp, k, dhpv);
        }
        sf_put_col_sums(part, chunk * 6 * H, dbx, H, j, 3, sx);
        sf_put_col_sums(part, chunk * 6 * H + 3 * H, dbh, H, j, 3, sh);
    }
}
