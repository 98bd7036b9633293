/*
 * The OpenCL backend's entry points. Its kernels are not written yet (issue 3): until
 * then a library configured with SIGFUSE_OPENCL=ON compiles and links against OpenCL,
 * and every entry answers SIGFUSE_ERR_NOT_BUILT with a message saying why.
 */
#include "sf_internal.h"

static const char not_yet[] = "opencl: the OpenCL backend's kernels are not implemented in this version";

sigfuse_status sf_opencl_available(void) { return SIGFUSE_ERR_NOT_BUILT; }

sigfuse_status sf_opencl_ctx_create_default(sigfuse_ctx **ctx)
{
    (void)ctx;
    return sf_create_fail(SIGFUSE_ERR_NOT_BUILT, "%s", not_yet);
}

sigfuse_status sf_opencl_ctx_create(sigfuse_ctx **ctx, void *queue)
{
    (void)queue;
    return sf_opencl_ctx_create_default(ctx);
}

sigfuse_status sf_opencl_set_queue(sigfuse_ctx *ctx, void *queue)
{
    (void)queue;
    return sf_fail(ctx, SIGFUSE_ERR_NOT_BUILT, "%s", not_yet);
}

sigfuse_status sf_opencl_get_queue(const sigfuse_ctx *ctx, void **queue)
{
    (void)ctx, (void)queue;
    return SIGFUSE_ERR_NOT_BUILT;
}
