/* SPDX-License-Identifier: MIT */
/*
 * Gated linear units, elementwise over n pairs (a, b) in the program's storage dtype:
 * glu y = a sigma(b) and swiglu y = a swish_beta(b). Forward reads a, b and writes y
 * (3 x dtype bytes per element); backward reads a, b, dy and writes da and/or db
 * (4 or 5 x dtype bytes per element). Bandwidth-bound; math from sf_math.h in f32.
 */

kernel void glu_fwd(global const SF_T *a, ulong a_off, global const SF_T *b, ulong b_off,
                    global SF_T *y, ulong y_off, ulong n)
{
    a += a_off;
    b += b_off;
    y += y_off;
    SF_FOR_EACH(i, n)
        sf_st(y, i, sf_glu_fwd(sf_ld(a, i), sf_ld(b, i)));
}

/* da or db may be absent (NULL). */
kernel void glu_bwd(global const SF_T *a, ulong a_off, global const SF_T *b, ulong b_off,
                    global const SF_T *dy, ulong dy_off, global SF_T *da, ulong da_off,
                    global SF_T *db, ulong db_off, ulong n)
{
    a += a_off;
    b += b_off;
    dy += dy_off;
    da = SF_AT(da, da_off);
    db = SF_AT(db, db_off);
    SF_FOR_EACH(i, n) {
        float ga, gb;
        sf_glu_bwd(sf_ld(a, i), sf_ld(b, i), sf_ld(dy, i), &ga, &gb);
        if (da)
            sf_st(da, i, ga);
        if (db)
            sf_st(db, i, gb);
    }
}

kernel void swiglu_fwd(global const SF_T *a, ulong a_off, global const SF_T *b, ulong b_off,
                       global SF_T *y, ulong y_off, ulong n, float beta)
{
    a += a_off;
    b += b_off;
    y += y_off;
    SF_FOR_EACH(i, n)
        sf_st(y, i, sf_swiglu_fwd(beta, sf_ld(a, i), sf_ld(b, i)));
}

kernel void swiglu_bwd(global const SF_T *a, ulong a_off, global const SF_T *b, ulong b_off,
                       global const SF_T *dy, ulong dy_off, global SF_T *da, ulong da_off,
                       global SF_T *db, ulong db_off, ulong n, float beta)
{
    a += a_off;
    b += b_off;
    dy += dy_off;
    da = SF_AT(da, da_off);
    db = SF_AT(db, db_off);
    SF_FOR_EACH(i, n) {
        float ga, gb;
        sf_swiglu_bwd(beta, sf_ld(a, i), sf_ld(b, i), sf_ld(dy, i), &ga, &gb);
        if (da)
            sf_st(da, i, ga);
        if (db)
            sf_st(db, i, gb);
    }
}
