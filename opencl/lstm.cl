/* SPDX-License-Identifier: MIT */
/*
 * LSTM cell (PyTorch gate order i, f, g, o) on [B, 4H] pre-activation gates, forward and
 * backward (recomputing the cell). Forward reads 4 gates (x2 with the hidden half), c_prev
 * and writes h and/or c: 7 to 11 x dtype bytes per hidden unit. Backward reads the same
 * plus dh / dc and writes dgates (4), dc_prev and per-chunk bias partials: up to 16 x dtype.
 * Work-items walk columns j (dimension 0, coalesced) and rows r = chunk, chunk + chunks...
 */

/* The four gates' pre-activations at (row, j), row = r 4H + j: the input half, the hidden
 * half if present, the bias of column j (b, 0 where absent). */
SF_FN void lstm_gates(global const SF_T *gx, global const SF_T *gh, ulong row, ulong H, const float *b, float *a)
{
    for (int g = 0; g < 4; g++) {
        float v = sf_ld(gx, row + g * H);
        if (gh)
            v += sf_ld(gh, row + g * H);
        a[g] = v + b[g];
    }
}

/* The bias of column j's four gates (0 where absent). */
SF_FN void lstm_bias(global const SF_T *bias, ulong H, ulong j, float *b)
{
    for (int g = 0; g < 4; g++)
        b[g] = bias ? sf_ld(bias, g * H + j) : 0.0f;
}

kernel void lstm_cell_forward(SF_IN(gx), SF_IN(gh), SF_IN(bias), SF_IN(cp), SF_OUT(h), SF_OUT(c), ulong B, ulong H)
{
    SF_OPEN(gx, gh, bias, cp, h, c)
    for (ulong j = get_global_id(0); j < H; j += get_global_size(0)) {
        float b[4], a[4];
        lstm_bias(bias, H, j, b);
        for (ulong r = get_global_id(1); r < B; r += get_global_size(1)) {
            const ulong k = r * H + j;
            float cv, hv;
            lstm_gates(gx, gh, r * 4 * H + j, H, b, a);
            /* c_prev[k] is read before c[k] is written: c may alias c_prev. */
            sf_lstm_fwd(a[0], a[1], a[2], a[3], sf_ld(cp, k), &cv, &hv);
            if (c)
                sf_st(c, k, cv);
            if (h)
                sf_st(h, k, hv);
        }
    }
}

/* Bias gradient: with one row chunk (get_global_size(1) == 1) each work-item owns whole
 * columns and writes dbias itself; with more, part[chunk * 4H + g * H + j] receives the
 * chunk's sum and sf_finish_cols adds the chunks in order. Either way the sums run in a
 * fixed order, in sf_acc: deterministic. */
kernel void lstm_cell_backward(SF_IN(gx), SF_IN(gh), SF_IN(bias), SF_IN(cp), SF_IN(dh), SF_IN(dc), SF_OUT(dg),
                               SF_OUT(dcp), SF_OUT(db), global sf_acc *part, ulong B, ulong H)
{
    SF_OPEN(gx, gh, bias, cp, dh, dc, dg, dcp, db)
    const ulong chunk = get_global_id(1), chunks = get_global_size(1);
    for (ulong j = get_global_id(0); j < H; j += get_global_size(0)) {
        float b[4], a[4];
        lstm_bias(bias, H, j, b);
        sf_acc sum[4] = {sf_acc_zero(), sf_acc_zero(), sf_acc_zero(), sf_acc_zero()};
        for (ulong r = chunk; r < B; r += chunks) {
            const ulong row = r * 4 * H + j, k = r * H + j;
            float d[4], dcpv;
            lstm_gates(gx, gh, row, H, b, a);
            /* Every input of (r, j) is read before its outputs are written: dgates may
             * alias gates_x and dc_prev may alias c_prev. */
            sf_lstm_bwd(a[0], a[1], a[2], a[3], sf_ld(cp, k), dh ? sf_ld(dh, k) : 0.0f, dc ? sf_ld(dc, k) : 0.0f,
                        &d[0], &d[1], &d[2], &d[3], &dcpv);
            for (int g = 0; g < 4; g++) {
                if (dg)
                    sf_st(dg, row + g * H, d[g]);
                sum[g] = sf_acc_add(sum[g], d[g]);
            }
            if (dcp)
                sf_st(dcp, k, dcpv);
        }
        sf_put_col_sums(part, chunk * 4 * H, db, H, j, 4, sum);
    }
}
