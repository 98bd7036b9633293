/*
 * The OpenCL backend's memory and clock for sigfuse-bench: the device the library picks
 * by default (SIGFUSE_OPENCL_PLATFORM / SIGFUSE_OPENCL_DEVICE, else the first GPU, else
 * the first device), one in-order queue with profiling on, and a marker before and after
 * each rep whose completion times bound it.
 */
#include <stdlib.h>

#include "bench.h"
#include "sigfuse_opencl.h"

typedef struct opencl_state {
    cl_context context;
    cl_command_queue queue;
    cl_event start;
    size_t cache_bytes;
} opencl_state;

static bool check(cl_int err, const char *what)
{
    if (err == CL_SUCCESS)
        return true;
    return bench_fail("%s: OpenCL error %d", what, (int)err);
}

static void opencl_close(void *state)
{
    opencl_state *s = state;
    if (!s)
        return;
    if (s->start)
        clReleaseEvent(s->start);
    if (s->queue)
        clReleaseCommandQueue(s->queue);
    if (s->context)
        clReleaseContext(s->context);
    free(s);
}

static bool opencl_open(void **state, sigfuse_ctx **ctx)
{
    opencl_state *s = calloc(1, sizeof *s);
    *state = s;
    *ctx = NULL;
    if (!s)
        return bench_fail("out of host memory");

    /* Let the library choose the device, then make a queue of ours on it that can time. */
    sigfuse_ctx *chooser = NULL;
    cl_command_queue theirs = NULL;
    cl_device_id device = NULL;
    sigfuse_status st = sigfuse_ctx_create(&chooser, SIGFUSE_BACKEND_OPENCL);
    if (st != SIGFUSE_SUCCESS)
        return bench_fail("%s", sigfuse_last_create_error());
    st = sigfuse_opencl_get_queue(chooser, &theirs);
    bool ok = st == SIGFUSE_SUCCESS || bench_fail("sigfuse_opencl_get_queue: %s", sigfuse_status_string(st));
    cl_context context = NULL;
    ok = ok && check(clGetCommandQueueInfo(theirs, CL_QUEUE_CONTEXT, sizeof context, &context, NULL),
                     "clGetCommandQueueInfo") &&
         check(clGetCommandQueueInfo(theirs, CL_QUEUE_DEVICE, sizeof device, &device, NULL), "clGetCommandQueueInfo") &&
         check(clRetainContext(context), "clRetainContext");
    sigfuse_ctx_destroy(chooser);
    if (!ok)
        return false;
    s->context = context;

    cl_int err = CL_SUCCESS;
    s->queue = clCreateCommandQueue(s->context, device, CL_QUEUE_PROFILING_ENABLE, &err);
    if (!check(err, "clCreateCommandQueue"))
        return false;
    cl_ulong cache = 0;
    if (clGetDeviceInfo(device, CL_DEVICE_GLOBAL_MEM_CACHE_SIZE, sizeof cache, &cache, NULL) == CL_SUCCESS)
        s->cache_bytes = (size_t)cache;
    st = sigfuse_ctx_create_opencl(ctx, s->queue);
    if (st != SIGFUSE_SUCCESS)
        return bench_fail("%s", sigfuse_last_create_error());
    return true;
}

static size_t opencl_cache_bytes(void *state) { return ((opencl_state *)state)->cache_bytes; }

static void *opencl_alloc(void *state, size_t bytes)
{
    cl_int err = CL_SUCCESS;
    cl_mem mem = clCreateBuffer(((opencl_state *)state)->context, CL_MEM_READ_WRITE, bytes ? bytes : 1, NULL, &err);
    if (!check(err, "clCreateBuffer"))
        return NULL;
    return (void *)mem;
}

static void opencl_free(void *state, void *ptr)
{
    (void)state;
    clReleaseMemObject((cl_mem)ptr);
}

static sigfuse_buffer opencl_buffer(const void *ptr, sigfuse_dtype dtype)
{
    return sigfuse_opencl_buffer((cl_mem)ptr, 0, dtype);
}

static bool opencl_upload(void *state, void *dst, const void *host_src, size_t bytes)
{
    return check(clEnqueueWriteBuffer(((opencl_state *)state)->queue, (cl_mem)dst, CL_TRUE, 0, bytes, host_src, 0,
                                      NULL, NULL),
                 "clEnqueueWriteBuffer");
}

static bool opencl_download(void *state, void *host_dst, const void *src, size_t bytes)
{
    return check(clEnqueueReadBuffer(((opencl_state *)state)->queue, (cl_mem)src, CL_TRUE, 0, bytes, host_dst, 0,
                                     NULL, NULL),
                 "clEnqueueReadBuffer");
}

static bool opencl_fill(void *state, void *dst, int byte, size_t bytes)
{
    const unsigned char pattern = (unsigned char)byte;
    return check(clEnqueueFillBuffer(((opencl_state *)state)->queue, (cl_mem)dst, &pattern, 1, 0, bytes, 0, NULL,
                                     NULL),
                 "clEnqueueFillBuffer");
}

static bool opencl_copy(void *state, void *dst, const void *src, size_t bytes)
{
    return check(clEnqueueCopyBuffer(((opencl_state *)state)->queue, (cl_mem)src, (cl_mem)dst, 0, 0, bytes, 0, NULL,
                                     NULL),
                 "clEnqueueCopyBuffer");
}

static bool opencl_sync(void *state) { return check(clFinish(((opencl_state *)state)->queue), "clFinish"); }

static bool opencl_timer_start(void *state)
{
    opencl_state *s = state;
    if (s->start) {
        clReleaseEvent(s->start);
        s->start = NULL;
    }
    return check(clEnqueueMarkerWithWaitList(s->queue, 0, NULL, &s->start), "clEnqueueMarkerWithWaitList");
}

static bool opencl_timer_stop(void *state, double *seconds)
{
    opencl_state *s = state;
    cl_event stop = NULL;
    cl_ulong t0 = 0, t1 = 0;
    bool ok = check(clEnqueueMarkerWithWaitList(s->queue, 0, NULL, &stop), "clEnqueueMarkerWithWaitList") &&
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

const bench_backend bench_opencl_backend = {
    .name = "opencl",
    .backend = SIGFUSE_BACKEND_OPENCL,
    .reps = 10,
    .warmup = 2,
    .copy_bytes = (size_t)256 << 20,
    /* Between the CPU reference and CUDA: the device may be a GPU or PoCL on a CPU. */
    .sizes = {.elementwise = {1 << 20, 1 << 24}, .cell = {{1024, 1024}}, .head = {{2048, 1024, 1024}}},
    .open = opencl_open,
    .close = opencl_close,
    .cache_bytes = opencl_cache_bytes,
    .alloc = opencl_alloc,
    .free = opencl_free,
    .buffer = opencl_buffer,
    .upload = opencl_upload,
    .download = opencl_download,
    .fill = opencl_fill,
    .copy = opencl_copy,
    .sync = opencl_sync,
    .timer_start = opencl_timer_start,
    .timer_stop = opencl_timer_stop,
};
