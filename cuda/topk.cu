/* SPDX-License-Identifier: MIT */
/*
 * head_topk and topk_merge on CUDA: not implemented yet. Each answers
 * SIGFUSE_ERR_UNSUPPORTED with a message naming the op, writing nothing.
 */
#include "sf_cuda.h"

size_t sf_cuda_head_topk_workspace(sigfuse_ctx *ctx, const sigfuse_head_topk_args *a, int64_t chunk_rows)
{
    (void)ctx, (void)a, (void)chunk_rows;
    return 0;
}

sigfuse_status sf_cuda_head_topk(sigfuse_ctx *ctx, const sigfuse_head_topk_args *a)
{
    (void)a;
    return sf_fail(ctx, SIGFUSE_ERR_UNSUPPORTED, "head_topk: not implemented by the cuda backend yet");
}

sigfuse_status sf_cuda_topk_merge(sigfuse_ctx *ctx, const sigfuse_topk_merge_args *a)
{
    (void)a;
    return sf_fail(ctx, SIGFUSE_ERR_UNSUPPORTED, "topk_merge: not implemented by the cuda backend yet");
}
