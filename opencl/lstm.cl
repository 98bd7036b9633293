/* SPDX-License-Identifier: MIT */
/*
 * LSTM cell (PyTorch gate order i, f, g, o) on [B, 4H] pre-activation gates, forward and
 * backward (recomputing the cell). Forward reads 4 gates (x2 with the hidden half), c_prev
 * and writes h and/or c: 7 to 11 x dtype bytes per hidden unit. Backward reads the same
 * plus dh / dc and writes dgates (4), dc_prev and per-chunk bias partials: up to 16 x dtype.
 * Work-items walk columns j (dimension 0, coalesced) and rows r = chunk, chunk + chunks...
 */

/* Pre-activation of one gate: the input half, the hidden half if present, the bias. */
SF_FN float lstm_pre(global const SF_T *gx, global const SF_T *gh, ulong idx, float bias)
{
    float v = sf_ld(gx, idx);
    if (gh)
        v += sf_ld(gh, idx);
    return v + bias;
}

kernel void lstm_fwd(global const SF_T *gx, ulong gx_off, global const SF_T *gh, ulong gh_off,
                     global const SF_T *bias, ulong bias_off, global const SF_T *cp, ulong cp_off,
                     global SF_T *h, ulong h_off, global SF_T *c, ulong c_off, ulong B, ulong H)
{
    gx += gx_off;
    gh = SF_AT(gh, gh_off);
    bias = SF_AT(bias, bias_off);
    cp += cp_off;
    h = SF_AT(h, h_off);
    c = SF_AT(c, c_off);
    for (ulong j = get_global_id(0); j < H; j += get_global_size(0)) {
        float b[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        if (bias)
            for (int g = 0; g < 4; g++)
                b[g] = sf_ld(bias, g * H + j);
        for (ulong r = get_global_id(1); r < B; r += get_global_size(1)) {
            const ulong row = r * 4 * H + j, k = r * H + j;
            float cv, hv;
            /* c_prev[k] is read before c[k] is written: c may alias c_prev. */
            sf_lstm_fwd(lstm_pre(gx, gh, row, b[0]), lstm_pre(gx, gh, row + H, b[1]),
                        lstm_pre(gx, gh, row + 2 * H, b[2]), lstm_pre(gx, gh, row + 3 * H, b[3]), sf_ld(cp, k),
                        &cv, &hv);
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
 * fixed order: deterministic. */
kernel void lstm_bwd(global const SF_T *gx, ulong gx_off, global const SF_T *gh, ulong gh_off,
                     global const SF_T *bias, ulong bias_off, global const SF_T *cp, ulong cp_off,
                     global const SF_T *dh, ulong dh_off, global const SF_T *dc, ulong dc_off,
                     global SF_T *dg, ulong dg_off, global SF_T *dcp, ulong dcp_off,
                     global SF_T *db, ulong db_off, global float *part, ulong B, ulong H)
{
    gx += gx_off;
    gh = SF_AT(gh, gh_off);
    bias = SF_AT(bias, bias_off);
    cp += cp_off;
    dh = SF_AT(dh, dh_off);
    dc = SF_AT(dc, dc_off);
    dg = SF_AT(dg, dg_off);
    dcp = SF_AT(dcp, dcp_off);
    db = SF_AT(db, db_off);
    const ulong chunk = get_global_id(1), chunks = get_global_size(1);
    for (ulong j = get_global_id(0); j < H; j += get_global_size(0)) {
        float b[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        if (bias)
            for (int g = 0; g < 4; g++)
                b[g] = sf_ld(bias, g * H + j);
        float sum[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        for (ulong r = chunk; r < B; r += chunks) {
            const ulong row = r * 4 * H + j, k = r * H + j;
            float d[4], dcpv;
            /* Every input of (r, j) is read before its outputs are written: dgates may
             * alias gates_x and dc_prev may alias c_prev. */
            sf_lstm_bwd(lstm_pre(gx, gh, row, b[0]), lstm_pre(gx, gh, row + H, b[1]),
                        lstm_pre(gx, gh, row + 2 * H, b[2]), lstm_pre(gx, gh, row + 3 * H, b[3]), sf_ld(cp, k),
                        dh ? sf_ld(dh, k) : 0.0f, dc ? sf_ld(dc, k) : 0.0f, &d[0], &d[1], &d[2], &d[3], &dcpv);
            if (dg)
                for (int g = 0; g < 4; g++)
                    sf_st(dg, row + g * H, d[g]);
            if (dcp)
                sf_st(dcp, k, dcpv);
            for (int g = 0; g < 4; g++)
                sum[g] += d[g];
        }
        if (part) {
            for (int g = 0; g < 4; g++)
                part[chunk * 4 * H + g * H + j] = sum[g];
        } else if (db) {
            for (int g = 0; g < 4; g++)
                sf_st(db, g * H + j, sum[g]);
        }
    }
}
