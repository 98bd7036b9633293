/* SPDX-License-Identifier: MIT */
/*
 * sigfuse CUDA interop: contexts on a caller's device and stream.
 * Device pointers go into sigfuse_cuda_buffer() (declared in sigfuse.h).
 * In a library built without CUDA these functions exist and return
 * SIGFUSE_ERR_NOT_BUILT.
 */
#ifndef SIGFUSE_CUDA_H
#define SIGFUSE_CUDA_H

#include <cuda_runtime_api.h>

#include "sigfuse.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Create a context on CUDA device `device` that enqueues all work on `stream`
 * (0 / NULL: the legacy default stream). The stream stays the caller's: the context
 * never destroys it. The context reserves its small fixed scratch (reduction partials)
 * here, so ops allocate nothing afterwards and can be captured into a CUDA graph (all
 * but head_train_step on CSR positives, which reads the CSR back for its check). */
SIGFUSE_API sigfuse_status sigfuse_ctx_create_cuda(sigfuse_ctx **ctx, int device,
                                                   cudaStream_t stream);
/* Change the stream later work is enqueued on (the device stays the same). */
SIGFUSE_API sigfuse_status sigfuse_cuda_set_stream(sigfuse_ctx *ctx, cudaStream_t stream);
SIGFUSE_API sigfuse_status sigfuse_cuda_get_stream(const sigfuse_ctx *ctx, cudaStream_t *stream);

#ifdef __cplusplus
}
#endif

#endif /* SIGFUSE_CUDA_H */
