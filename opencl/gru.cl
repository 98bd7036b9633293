/* SPDX-License-Identifier: MIT */
/*
 * GRU cell (PyTorch GRUCell: blocks r, z, n) on [B, 3H] input and hidden projections,
 * forward and backward (recomputing the cell). Forward reads 6 projections and h_prev and
 * writes h: 8 x dtype bytes per hidden unit. Backward also reads dh and writes dgates_x
 * (3), dgates_h (3), dh_prev and per-chunk bias partials: up to 15 x dtype bytes.
 * Work-items walk columns j (dimension 0, coalesced) and rows r = chunk, chunk + chunks...
 */

kernel void gru_fwd(global const SF_T *gx, ulong gx_off, global const SF_T *gh, ulong gh_off,
                    global const SF_T *bx, ulong bx_off, global const SF_T *bh, ulong bh_off,
                    global const SF_T *hp, ulong hp_off, global SF_T *h, ulong h_off, ulong B, ulong H)
{
    gx += gx_off;
    gh += gh_off;
    bx = SF_AT(bx, bx_off);
    bh = SF_AT(bh, bh_off);
    hp += hp_off;
    h += h_off;
    for (ulong j = get_global_id(0); j < H; j += get_global_size(0)) {
        float cx[3] = {0.0f, 0.0f, 0.0f}, ch[3] = {0.0f, 0.0f, 0.0f};
        for (int g = 0; g < 3; g++) {
            if (bx)
                cx[g] = sf_ld(bx, g * H + j);
            if (bh)
                ch[g] = sf_ld(bh, g * H + j);
        }
        for (ulong r = get_global_id(1); r < B; r += get_global_size(1)) {
            const ulong row = r * 3 * H + j, k = r * H + j;
            const float ar = (sf_ld(gx, row) + cx[0]) + (sf_ld(gh, row) + ch[0]);
            const float az = (sf_ld(gx, row + H) + cx[1]) + (sf_ld(gh, row + H) + ch[1]);
            const float gin = sf_ld(gx, row + 2 * H) + cx[2];
            const float ghn = sf_ld(gh, row + 2 * H) + ch[2];
            /* h_prev[k] is read before h[k] is written: h may alias h_prev. */
            sf_st(h, k, sf_gru_fwd(ar, az, gin, ghn, sf_ld(hp, k)));
        }
    }
}

/* Bias gradients as in lstm_bwd: one row chunk writes dbias_x / dbias_h directly; more
 * write part[chunk * 6H + (0 | 3H) + g * H + j] for sf_finish_cols. */
kernel void gru_bwd(global const SF_T *gx, ulong gx_off, global const SF_T *gh, ulong gh_off,
                    global const SF_T *bx, ulong bx_off, global const SF_T *bh, ulong bh_off,
                    global const SF_T *hp, ulong hp_off, global const SF_T *dh, ulong dh_off,
                    global SF_T *dgx, ulong dgx_off, global SF_T *dgh, ulong dgh_off,
                    global SF_T *dhp, ulong dhp_off, global SF_T *dbx, ulong dbx_off,
                    global SF_T *dbh, ulong dbh_off, global float *part, ulong B, ulong H)
{
    gx += gx_off;
    gh += gh_off;
    bx = SF_AT(bx, bx_off);
    bh = SF_AT(bh, bh_off);
    hp += hp_off;
    dh += dh_off;
    dgx = SF_AT(dgx, dgx_off);
    dgh = SF_AT(dgh, dgh_off);
    dhp = SF_AT(dhp, dhp_off);
    dbx = SF_AT(dbx, dbx_off);
    dbh = SF_AT(dbh, dbh_off);
    const ulong chunk = get_global_id(1), chunks = get_global_size(1);
    for (ulong j = get_global_id(0); j < H; j += get_global_size(0)) {
        float cx[3] = {0.0f, 0.0f, 0.0f}, ch[3] = {0.0f, 0.0f, 0.0f};
        for (int g = 0; g < 3; g++) {
            if (bx)
                cx[g] = sf_ld(bx, g * H + j);
            if (bh)
                ch[g] = sf_ld(bh, g * H + j);
        }
        float sx[3] = {0.0f, 0.0f, 0.0f}, sh[3] = {0.0f, 0.0f, 0.0f};
        for (ulong r = chunk; r < B; r += chunks) {
            const ulong row = r * 3 * H + j, k = r * H + j;
            const float ar = (sf_ld(gx, row) + cx[0]) + (sf_ld(gh, row) + ch[0]);
            const float az = (sf_ld(gx, row + H) + cx[1]) + (sf_ld(gh, row + H) + ch[1]);
            const float gin = sf_ld(gx, row + 2 * H) + cx[2];
            const float ghn = sf_ld(gh, row + 2 * H) + ch[2];
            float dx[3], dan_r, dhpv;
            /* Every input of (r, j) is read before its outputs are written, so outputs may
             * alias inputs of the same shape. */
            sf_gru_bwd(ar, az, gin, ghn, sf_ld(hp, k), sf_ld(dh, k), &dx[0], &dx[1], &dx[2], &dan_r, &dhpv);
            const float dy[3] = {dx[0], dx[1], dan_r};
            if (dgx)
                for (int g = 0; g < 3; g++)
                    sf_st(dgx, row + g * H, dx[g]);
            if (dgh)
                for (int g = 0; g < 3; g++)
                    sf_st(dgh, row + g * H, dy[g]);
            if (dhp)
                sf_st(dhp, k, dhpv);
            for (int g = 0; g < 3; g++) {
                sx[g] += dx[g];
                sh[g] += dy[g];
            }
        }
        if (part) {
            for (int g = 0; g < 3; g++) {
                part[chunk * 6 * H + g * H + j] = sx[g];
                part[chunk * 6 * H + 3 * H + g * H + j] = sh[g];
            }
        } else {
            for (int g = 0; g < 3; g++) {
                if (dbx)
                    sf_st(dbx, g * H + j, sx[g]);
                if (dbh)
                    sf_st(dbh, g * H + j, sh[g]);
            }
        }
    }
}
