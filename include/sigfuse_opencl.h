/* SPDX-License-Identifier: MIT */
/*
 * sigfuse OpenCL interop: contexts on a caller's command queue, and cl_mem buffers.
 * In a library built without OpenCL these functions exist and return
 * SIGFUSE_ERR_NOT_BUILT.
 */
#ifndef SIGFUSE_OPENCL_H
#define SIGFUSE_OPENCL_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#ifdef __APPLE__
#include <OpenCL/cl.h>
#else
#include <CL/cl.h>
#endif

#include "sigfuse.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A buffer at byte `offset` inside `mem`. */
static inline sigfuse_buffer sigfuse_opencl_buffer(cl_mem mem, size_t offset, sigfuse_dtype dtype)
{
    sigfuse_buffer b;
    b.memory = SIGFUSE_MEMORY_OPENCL;
    b.dtype = dtype;
    b.ptr = (void *)mem;
    b.offset = offset;
    return b;
}

/* Create a context that enqueues all work on the caller's `queue`, using its OpenCL
 * context and device. The queue is retained while the context lives. Kernels are built
 * once per (context, device) and cached. */
SIGFUSE_API sigfuse_status sigfuse_ctx_create_opencl(sigfuse_ctx **ctx, cl_command_queue queue);
/* Change the queue (it must belong to the same OpenCL context and device). */
SIGFUSE_API sigfuse_status sigfuse_opencl_set_queue(sigfuse_ctx *ctx, cl_command_queue queue);
/* The queue is the context's (not retained for the caller). */
SIGFUSE_API sigfuse_status sigfuse_opencl_get_queue(const sigfuse_ctx *ctx, cl_command_queue *queue);

#ifdef __cplusplus
}
#endif

#endif /* SIGFUSE_OPENCL_H */
