/* SPDX-License-Identifier: MIT */
/* The kit on OpenCL: cl_mem buffers of the context's OpenCL context, transfers on the
 * queue the sigfuse context has now, and markers on a profiling queue for the timer. With
 * KIT_TIMED, an in-order profiling queue of the kit's own on the device the library picks
 * (the sigfuse context holds it: its queue and OpenCL context are the kit's while it lives). */
#include "kit_internal.h"

typedef struct opencl_state {
    cl_event start;
    size_t cache_bytes;
} opencl_state;

static bool check(cl_int err, const char *what)
{
    return err == CL_SUCCESS || kit_fail("%s: OpenCL error %d", what, (int)err);
}

cl_command_queue kit_opencl_queue(const kit_dev *d)
{
    cl_command_queue q = NULL;
    if (sigfuse_opencl_get_queue(d->ctx, &q) != SIGFUSE_SUCCESS)
        q = NULL;
    return q;
}

cl_context kit_opencl_context(const kit_dev *d)
{
    cl_context c = NULL;
    cl_command_queue q = kit_opencl_queue(d);
    if (!q || clGetCommandQueueInfo(q, CL_QUEUE_CONTEXT, sizeof c, &c, NULL) != CL_SUCCESS)
        c = NULL;
    return c;
}

/* An out-of-order queue orders nothing by itself: the kit's commands wait for what came
 * before them (barrier, or clFinish before a blocking transfer) and later ones for them. */
static bool out_of_order(cl_command_queue q)
{
    cl_command_queue_properties p = 0;
    return clGetCommandQueueInfo(q, CL_QUEUE_PROPERTIES, sizeof p, &p, NULL) == CL_SUCCESS &&
           (p & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE);
}

static sigfuse_status opencl_open(kit_dev *d, unsigned flags)
{
    opencl_state *s = d->state;
    sigfuse_status st = kit_default_ctx(d);
    cl_device_id device = NULL;
    if (st != SIGFUSE_SUCCESS)
        return st;
    if (!check(clGetCommandQueueInfo(kit_opencl_queue(d), CL_QUEUE_DEVICE, sizeof device, &device, NULL),
               "clGetCommandQueueInfo"))
        return SIGFUSE_ERR_BACKEND;
    cl_ulong cache = 0;
    if (clGetDeviceInfo(device, CL_DEVICE_GLOBAL_MEM_CACHE_SIZE, sizeof cache, &cache, NULL) == CL_SUCCESS)
        s->cache_bytes = (size_t)cache;
    if (!(flags & KIT_TIMED))
        return SIGFUSE_SUCCESS;
    /* The library chose the device; the timed context runs on a queue of ours on it. */
    cl_int err = CL_SUCCESS;
    cl_command_queue own = clCreateCommandQueue(kit_opencl_context(d), device, CL_QUEUE_PROFILING_ENABLE, &err);
    sigfuse_ctx_destroy(d->ctx);
    d->ctx = NULL;
    if (!check(err, "clCreateCommandQueue"))
        return SIGFUSE_ERR_BACKEND;
    st = kit_made_ctx(d, sigfuse_ctx_create_opencl(&d->ctx, own));
    clReleaseCommandQueue(own);   /* the context's now */
    return st;
}

static void opencl_close(kit_dev *d)
{
    opencl_state *s = d->state;
    if (s->start)
        clReleaseEvent(s->start);
}

static void *opencl_alloc(kit_dev *d, size_t bytes)
{
    cl_int err = CL_SUCCESS;
    cl_mem mem = clCreateBuffer(kit_opencl_context(d), CL_MEM_READ_WRITE, bytes, NULL, &err);
    return check(err, "clCreateBuffer") ? (void *)mem : NULL;
}

static void opencl_free(kit_dev *d, void *h)
{
    (void)d;
    clReleaseMemObject((cl_mem)h);
}

static bool opencl_upload(kit_dev *d, void *h, size_t off, const void *src, size_t bytes)
{
    cl_command_queue q = kit_opencl_queue(d);
    return (!out_of_order(q) || check(clFinish(q), "clFinish")) &&
           check(clEnqueueWriteBuffer(q, (cl_mem)h, CL_TRUE, off, bytes, src, 0, NULL, NULL), "clEnqueueWriteBuffer");
}

static bool opencl_download(kit_dev *d, const void *h, size_t off, void *dst, size_t bytes)
{
    cl_command_queue q = kit_opencl_queue(d);
    return (!out_of_order(q) || check(clFinish(q), "clFinish")) &&
           check(clEnqueueReadBuffer(q, (cl_mem)h, CL_TRUE, off, bytes, dst, 0, NULL, NULL), "clEnqueueReadBuffer");
}

/* On an out-of-order queue, a barrier on each side of an enqueued command. */
static bool barrier(cl_command_queue q)
{
    return !out_of_order(q) || check(clEnqueueBarrierWithWaitList(q, 0, NULL, NULL), "clEnqueueBarrierWithWaitList");
}

static bool opencl_fill(kit_dev *d, void *h, size_t off, int byte, size_t bytes)
{
    cl_command_queue q = kit_opencl_queue(d);
    const unsigned char pattern = (unsigned char)byte;
    return barrier(q) &&
           check(clEnqueueFillBuffer(q, (cl_mem)h, &pattern, 1, off, bytes, 0, NULL, NULL), "clEnqueueFillBuffer") &&
           barrier(q);
}

static bool opencl_copy(kit_dev *d, void *dst, size_t dst_off, const void *src, size_t src_off, size_t bytes)
{
    cl_command_queue q = kit_opencl_queue(d);
    return barrier(q) &&
           check(clEnqueueCopyBuffer(q, (cl_mem)src, (cl_mem)dst, src_off, dst_off, bytes, 0, NULL, NULL),
                 "clEnqueueCopyBuffer") &&
           barrier(q);
}

static bool opencl_sync(kit_dev *d) { return check(clFinish(kit_opencl_queue(d)), "clFinish"); }

static size_t opencl_free_bytes(kit_dev *d)
{
    (void)d;
    return 0;   /* OpenCL has no query for it */
}

static size_t opencl_cache_bytes(kit_dev *d) { return ((opencl_state *)d->state)->cache_bytes; }

static bool opencl_timer_start(kit_dev *d)
{
    opencl_state *s = d->state;
    if (s->start) {
        clReleaseEvent(s->start);
        s->start = NULL;
    }
    return check(clEnqueueMarkerWithWaitList(kit_opencl_queue(d), 0, NULL, &s->start), "clEnqueueMarkerWithWaitList");
}

static bool opencl_timer_stop(kit_dev *d, double *seconds)
{
    opencl_state *s = d->state;
    cl_event stop = NULL;
    cl_ulong t0 = 0, t1 = 0;
    bool ok = check(clEnqueueMarkerWithWaitList(kit_opencl_queue(d), 0, NULL, &stop), "clEnqueueMarkerWithWaitList") &&
              check(clWaitForEvents(1, &stop), "clWaitForEvents") &&
              check(clGetEventProfilingInfo(s->start, CL_PROFILING_COMMAND_END, sizeof t0, &t0, NULL),
                    "clGetEventProfilingInfo") &&
              check(clGetEventProfilingInfo(stop, CL_PROFILING_COMMAND_END, sizeof t1, &t1, NULL),
                    "clGetEventProfilingInfo");
    if (stop)
        clReleaseEvent(stop);
    if (ok)
        *seconds = 1e-9 * (double)(t1 - t0);
    return ok;
}

const kit_ops kit_opencl_ops = {
    sizeof(opencl_state), opencl_open, opencl_close, opencl_alloc, opencl_free, opencl_upload, opencl_download,
    opencl_fill, opencl_copy, opencl_sync, opencl_free_bytes, opencl_cache_bytes, opencl_timer_start,
    opencl_timer_stop,
};
