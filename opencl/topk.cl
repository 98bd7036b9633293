/* SPDX-License-Identifier: MIT */
/*
 * The kernels of head_topk and topk_merge (topk.c): none yet; both answer "unsupported"
 * on OpenCL.
 */
