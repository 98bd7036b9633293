/* SPDX-License-Identifier: MIT */
/*
 * Gated linear units, elementwise over n pairs (a, b) in the program's storage dtype:
 * glu y = a sigma(b) and swiglu y = a swish_beta(b). Forward reads a, b and writes y
 * (3 x dtype bytes per element); backward reads a, b, dy and writes da and/or db (either
 * may be absent: 4 or 5 x dtype bytes per element). Bandwidth-bound; math from sf_math.h
 * in f32. Each kernel is named after its op (common.cl's SF_ELEMENTWISE).
 */

SF_ELEMENTWISE(glu_forward, 2, 1, o[0] = sf_glu_fwd(v[0], v[1]))
SF_ELEMENTWISE(glu_backward, 3, 2, sf_glu_bwd(v[0], v[1], v[2], &o[0], &o[1]))
SF_ELEMENTWISE(swiglu_forward, 2, 1, o[0] = sf_swiglu_fwd(beta, v[0], v[1]))
SF_ELEMENTWISE(swiglu_backward, 3, 2, sf_swiglu_bwd(beta, v[0], v[1], v[2], &o[0], &o[1]))
