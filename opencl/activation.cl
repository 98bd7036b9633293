/* SPDX-License-Identifier: MIT */
/*
 * Activations, elementwise over n elements in the program's storage dtype: sigmoid,
 * log-sigmoid and SiLU / swish-beta, forward (read x, write y: 2 x dtype bytes per
 * element) and backward (read y or x and dy, write dx: 3 x dtype bytes per element).
 * Bandwidth-bound: the math is sf_math.h's, in f32.
 */

kernel void sigmoid_fwd(global const SF_T *x, ulong x_off, global SF_T *y, ulong y_off, ulong n)
{
    x += x_off;
    y += y_off;
    SF_FOR_EACH(i, n)
        sf_st(y, i, sf_sigmoid(sf_ld(x, i)));
}

kernel void sigmoid_bwd(global const SF_T *y, ulong y_off, global const SF_T *dy, ulong dy_off,
                        global SF_T *dx, ulong dx_off, ulong n)
{
    y += y_off;
    dy += dy_off;
    dx += dx_off;
    SF_FOR_EACH(i, n)
        sf_st(dx, i, sf_sigmoid_bwd(sf_ld(y, i), sf_ld(dy, i)));
}

kernel void log_sigmoid_fwd(global const SF_T *x, ulong x_off, global SF_T *y, ulong y_off, ulong n)
{
    x += x_off;
    y += y_off;
    SF_FOR_EACH(i, n)
        sf_st(y, i, sf_log_sigmoid(sf_ld(x, i)));
}

kernel void log_sigmoid_bwd(global const SF_T *x, ulong x_off, global const SF_T *dy, ulong dy_off,
                            global SF_T *dx, ulong dx_off, ulong n)
{
    x += x_off;
    dy += dy_off;
    dx += dx_off;
    SF_FOR_EACH(i, n)
        sf_st(dx, i, sf_log_sigmoid_bwd(sf_ld(x, i), sf_ld(dy, i)));
}

kernel void silu_fwd(global const SF_T *x, ulong x_off, global SF_T *y, ulong y_off, ulong n, float beta)
{
    x += x_off;
    y += y_off;
    SF_FOR_EACH(i, n)
        sf_st(y, i, sf_silu_fwd(beta, sf_ld(x, i)));
}

kernel void silu_bwd(global const SF_T *x, ulong x_off, global const SF_T *dy, ulong dy_off,
                     global SF_T *dx, ulong dx_off, ulong n, float beta)
{
    x += x_off;
    dy += dy_off;
    dx += dx_off;
    SF_FOR_EACH(i, n)
        sf_st(dx, i, sf_silu_bwd(beta, sf_ld(x, i), sf_ld(dy, i)));
}
