/* SPDX-License-Identifier: MIT */
/*
 * Activations, elementwise over n elements in the program's storage dtype: sigmoid,
 * log-sigmoid and SiLU / swish-beta, forward (read x, write y: 2 x dtype bytes per
 * element) and backward (read y or x and dy, write dx: 3 x dtype bytes per element).
 * Bandwidth-bound: the math is sf_math.h's, in f32. Each kernel is named after its op
 * and takes its buffers in the catalogue's order (common.cl's SF_ELEMENTWISE).
 */

SF_ELEMENTWISE(sigmoid_forward, 1, 1, o[0] = sf_sigmoid(v[0]))
/* From the saved output y. */
SF_ELEMENTWISE(sigmoid_backward, 2, 1, o[0] = sf_sigmoid_bwd(v[0], v[1]))
SF_ELEMENTWISE(log_sigmoid_forward, 1, 1, o[0] = sf_log_sigmoid(v[0]))
SF_ELEMENTWISE(log_sigmoid_backward, 2, 1, o[0] = sf_log_sigmoid_bwd(v[0], v[1]))
SF_ELEMENTWISE(silu_forward, 1, 1, o[0] = sf_silu_fwd(beta, v[0]))
SF_ELEMENTWISE(silu_backward, 2, 1, o[0] = sf_silu_bwd(beta, v[0], v[1]))
