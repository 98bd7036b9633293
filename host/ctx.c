/* SPDX-License-Identifier: MIT */
/*
 * Contexts, statuses, versions and error messages. A backend that is not compiled in
 * answers SIGFUSE_ERR_NOT_BUILT through the stubs at the end of this file, so the
 * backend headers' functions always exist in the library.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sf_internal.h"
/* The backend headers where built: the compiler checks the creators below against them. */
#ifdef SIGFUSE_WITH_CUDA
#include "sigfuse_cuda.h"
#endif
#ifdef SIGFUSE_WITH_OPENCL
#include "sigfuse_opencl.h"
#endif

#define SF_STRINGIFY2(x) #x
#define SF_STRINGIFY(x) SF_STRINGIFY2(x)

const char *sigfuse_version(void)
{
    return SF_STRINGIFY(SIGFUSE_VERSION_MAJOR) "." SF_STRINGIFY(SIGFUSE_VERSION_MINOR) "." SF_STRINGIFY(
        SIGFUSE_VERSION_PATCH);
}

int sigfuse_version_number(void) { return SIGFUSE_VERSION_NUMBER; }

const char *sigfuse_status_string(sigfuse_status status)
{
    switch (status) {
    case SIGFUSE_SUCCESS: return "success";
    case SIGFUSE_ERR_NULL_ARGUMENT: return "a required argument is NULL";
    case SIGFUSE_ERR_INVALID_SIZE: return "invalid size";
    case SIGFUSE_ERR_INVALID_DTYPE: return "invalid dtype";
    case SIGFUSE_ERR_INVALID_OPTION: return "option out of range";
    case SIGFUSE_ERR_WRONG_MEMORY: return "buffer in the wrong kind of memory for this context";
    case SIGFUSE_ERR_INVALID_ARGUMENT: return "invalid argument";
    case SIGFUSE_ERR_NOT_BUILT: return "backend not built into this library";
    case SIGFUSE_ERR_NO_DEVICE: return "no device for this backend";
    case SIGFUSE_ERR_UNSUPPORTED: return "not supported by this backend";
    case SIGFUSE_ERR_OUT_OF_MEMORY: return "out of memory";
    case SIGFUSE_ERR_INSUFFICIENT_WORKSPACE: return "workspace too small";
    case SIGFUSE_ERR_BACKEND: return "backend runtime error";
    case SIGFUSE_ERR_PROGRAM_BUILD: return "OpenCL program build failed";
    }
    return "unknown status";
}

const char *sigfuse_backend_name(sigfuse_backend backend)
{
    switch (backend) {
    case SIGFUSE_BACKEND_CPU: return "cpu";
    case SIGFUSE_BACKEND_CUDA: return "cuda";
    case SIGFUSE_BACKEND_OPENCL: return "opencl";
    }
    return "unknown";
}

sigfuse_status sf_vfail(sigfuse_ctx *ctx, sigfuse_status status, const char *fmt, va_list ap)
{
    if (ctx)
        vsnprintf(ctx->message, sizeof ctx->message, fmt, ap);
    return status;
}

sigfuse_status sf_fail(sigfuse_ctx *ctx, sigfuse_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sf_vfail(ctx, status, fmt, ap);
    va_end(ap);
    return status;
}

/* Context creation has no context to hold its message: keep it per thread. */
static _Thread_local char create_message[SF_MESSAGE_SIZE];

sigfuse_status sf_create_fail(sigfuse_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(create_message, sizeof create_message, fmt, ap);
    va_end(ap);
    return status;
}

const char *sigfuse_last_create_error(void) { return create_message; }

sigfuse_ctx *sf_ctx_alloc(sigfuse_backend backend, sigfuse_memory memory, const sf_backend_ops *ops)
{
    sigfuse_ctx *ctx = (sigfuse_ctx *)calloc(1, sizeof *ctx);
    if (!ctx)
        return NULL;
    ctx->backend = backend;
    ctx->memory = memory;
    ctx->ops = ops;
    return ctx;
}

sigfuse_status sigfuse_backend_available(sigfuse_backend backend)
{
    switch (backend) {
    case SIGFUSE_BACKEND_CPU: return SIGFUSE_SUCCESS;
    case SIGFUSE_BACKEND_CUDA: return sf_cuda_available();
    case SIGFUSE_BACKEND_OPENCL: return sf_opencl_available();
    }
    return SIGFUSE_ERR_INVALID_ARGUMENT;
}

/* The reference keeps no state of its own: its context is the table and a name. */
static sigfuse_status ref_ctx_create(sigfuse_ctx **ctx)
{
    sigfuse_ctx *c = sf_ctx_alloc(SIGFUSE_BACKEND_CPU, SIGFUSE_MEMORY_HOST, &sf_ref_ops);
    if (!c)
        return sf_create_fail(SIGFUSE_ERR_OUT_OF_MEMORY, "cpu: out of memory allocating the context");
    snprintf(c->device_name, sizeof c->device_name, "cpu reference (double)");
    *ctx = c;
    return SIGFUSE_SUCCESS;
}

sigfuse_status sigfuse_ctx_create(sigfuse_ctx **ctx, sigfuse_backend backend)
{
    create_message[0] = '\0';
    if (!ctx)
        return sf_create_fail(SIGFUSE_ERR_NULL_ARGUMENT, "ctx: the output pointer is NULL");
    *ctx = NULL;
    switch (backend) {
    case SIGFUSE_BACKEND_CPU: return ref_ctx_create(ctx);
    case SIGFUSE_BACKEND_CUDA: return sf_cuda_ctx_create(ctx, 0, NULL);
    case SIGFUSE_BACKEND_OPENCL: return sf_opencl_ctx_create_default(ctx);
    }
    return sf_create_fail(SIGFUSE_ERR_INVALID_ARGUMENT, "backend: unknown value %d", (int)backend);
}

void sigfuse_ctx_destroy(sigfuse_ctx *ctx)
{
    if (!ctx)
        return;
    if (ctx->ops && ctx->ops->destroy)
        ctx->ops->destroy(ctx);
    free(ctx);
}

sigfuse_backend sigfuse_ctx_backend(const sigfuse_ctx *ctx) { return ctx ? ctx->backend : (sigfuse_backend)0; }

sigfuse_memory sigfuse_ctx_memory(const sigfuse_ctx *ctx) { return ctx ? ctx->memory : (sigfuse_memory)0; }

const char *sigfuse_ctx_device_name(const sigfuse_ctx *ctx) { return ctx ? ctx->device_name : ""; }

const char *sigfuse_ctx_last_error(const sigfuse_ctx *ctx)
{
    return ctx ? ctx->message : "ctx: NULL context";
}

sigfuse_status sigfuse_ctx_synchronize(sigfuse_ctx *ctx)
{
    if (!ctx)
        return SIGFUSE_ERR_NULL_ARGUMENT;
    ctx->message[0] = '\0';
    return ctx->ops->wait ? ctx->ops->wait(ctx) : SIGFUSE_SUCCESS;
}

/* ---- Backend-specific creators, exported whatever was built. Their stream and queue
 * parameters are written with the SDKs' own struct tags (cudaStream_t is
 * `struct CUstream_st *`, cl_command_queue is `struct _cl_command_queue *`), so that this
 * file needs neither SDK and still defines exactly what sigfuse_cuda.h and
 * sigfuse_opencl.h declare (checked where a backend is built: its header is included). */

struct CUstream_st;
struct _cl_command_queue;

SIGFUSE_API sigfuse_status sigfuse_ctx_create_cuda(sigfuse_ctx **ctx, int device, struct CUstream_st *stream);
SIGFUSE_API sigfuse_status sigfuse_cuda_set_stream(sigfuse_ctx *ctx, struct CUstream_st *stream);
SIGFUSE_API sigfuse_status sigfuse_cuda_get_stream(const sigfuse_ctx *ctx, struct CUstream_st **stream);
SIGFUSE_API sigfuse_status sigfuse_ctx_create_opencl(sigfuse_ctx **ctx, struct _cl_command_queue *queue);
SIGFUSE_API sigfuse_status sigfuse_opencl_set_queue(sigfuse_ctx *ctx, struct _cl_command_queue *queue);
SIGFUSE_API sigfuse_status sigfuse_opencl_get_queue(const sigfuse_ctx *ctx, struct _cl_command_queue **queue);

sigfuse_status sigfuse_ctx_create_cuda(sigfuse_ctx **ctx, int device, struct CUstream_st *stream)
{
    create_message[0] = '\0';
    if (!ctx)
        return sf_create_fail(SIGFUSE_ERR_NULL_ARGUMENT, "ctx: the output pointer is NULL");
    *ctx = NULL;
    return sf_cuda_ctx_create(ctx, device, stream);
}

static sigfuse_status check_backend(sigfuse_ctx *ctx, sigfuse_backend want, const char *fn)
{
    if (!ctx)
        return SIGFUSE_ERR_NULL_ARGUMENT;
    ctx->message[0] = '\0';
    if (ctx->backend != want)
        return sf_fail(ctx, SIGFUSE_ERR_INVALID_ARGUMENT, "%s: the context's backend is %s, not %s", fn,
                       sigfuse_backend_name(ctx->backend), sigfuse_backend_name(want));
    return SIGFUSE_SUCCESS;
}

sigfuse_status sigfuse_cuda_set_stream(sigfuse_ctx *ctx, struct CUstream_st *stream)
{
    sigfuse_status st = check_backend(ctx, SIGFUSE_BACKEND_CUDA, "sigfuse_cuda_set_stream");
    return st ? st : sf_cuda_set_stream(ctx, stream);
}

sigfuse_status sigfuse_cuda_get_stream(const sigfuse_ctx *ctx, struct CUstream_st **stream)
{
    if (!stream)
        return SIGFUSE_ERR_NULL_ARGUMENT;
    sigfuse_status st = check_backend((sigfuse_ctx *)ctx, SIGFUSE_BACKEND_CUDA, "sigfuse_cuda_get_stream");
    return st ? st : sf_cuda_get_stream(ctx, (void **)stream);
}

sigfuse_status sigfuse_ctx_create_opencl(sigfuse_ctx **ctx, struct _cl_command_queue *queue)
{
    create_message[0] = '\0';
    if (!ctx)
        return sf_create_fail(SIGFUSE_ERR_NULL_ARGUMENT, "ctx: the output pointer is NULL");
    *ctx = NULL;
    return sf_opencl_ctx_create(ctx, queue);
}

sigfuse_status sigfuse_opencl_set_queue(sigfuse_ctx *ctx, struct _cl_command_queue *queue)
{
    sigfuse_status st = check_backend(ctx, SIGFUSE_BACKEND_OPENCL, "sigfuse_opencl_set_queue");
    return st ? st : sf_opencl_set_queue(ctx, queue);
}

sigfuse_status sigfuse_opencl_get_queue(const sigfuse_ctx *ctx, struct _cl_command_queue **queue)
{
    if (!queue)
        return SIGFUSE_ERR_NULL_ARGUMENT;
    sigfuse_status st = check_backend((sigfuse_ctx *)ctx, SIGFUSE_BACKEND_OPENCL, "sigfuse_opencl_get_queue");
    return st ? st : sf_opencl_get_queue(ctx, (void **)queue);
}

#ifndef SIGFUSE_WITH_CUDA
sigfuse_status sf_cuda_available(void) { return SIGFUSE_ERR_NOT_BUILT; }
sigfuse_status sf_cuda_ctx_create(sigfuse_ctx **ctx, int device, void *stream)
{
    (void)ctx, (void)device, (void)stream;
    return sf_create_fail(SIGFUSE_ERR_NOT_BUILT,
                          "cuda: this sigfuse was built without the CUDA backend (configure with -DSIGFUSE_CUDA=ON)");
}
sigfuse_status sf_cuda_set_stream(sigfuse_ctx *ctx, void *stream)
{
    (void)stream;
    return sf_fail(ctx, SIGFUSE_ERR_NOT_BUILT, "cuda: not built");
}
sigfuse_status sf_cuda_get_stream(const sigfuse_ctx *ctx, void **stream)
{
    (void)ctx, (void)stream;
    return SIGFUSE_ERR_NOT_BUILT;
}
#endif

#ifndef SIGFUSE_WITH_OPENCL
sigfuse_status sf_opencl_available(void) { return SIGFUSE_ERR_NOT_BUILT; }
sigfuse_status sf_opencl_ctx_create_default(sigfuse_ctx **ctx)
{
    (void)ctx;
    return sf_create_fail(SIGFUSE_ERR_NOT_BUILT,
                          "opencl: this sigfuse was built without the OpenCL backend (configure with -DSIGFUSE_OPENCL=ON)");
}
sigfuse_status sf_opencl_ctx_create(sigfuse_ctx **ctx, void *queue)
{
    (void)queue;
    return sf_opencl_ctx_create_default(ctx);
}
sigfuse_status sf_opencl_set_queue(sigfuse_ctx *ctx, void *queue)
{
    (void)queue;
    return sf_fail(ctx, SIGFUSE_ERR_NOT_BUILT, "opencl: not built");
}
sigfuse_status sf_opencl_get_queue(const sigfuse_ctx *ctx, void **queue)
{
    (void)ctx, (void)queue;
    return SIGFUSE_ERR_NOT_BUILT;
}
#endif
