/* SPDX-License-Identifier: MIT */
/*
 * The OpenCL backend's contexts: the caller's queue, the device's facts, the scratch
 * reserved once per context, buffer checks (a cl_mem's size against offset + bytes), the
 * backend's table of functions (one per family or op, in the files named as the
 * families), and the default device chosen from the environment.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sf_opencl.h"

/* ---- Context life ----------------------------------------------------------------------------- */

static void destroy(sigfuse_ctx *ctx)
{
    sf_cl_state *s = sf_cl_of(ctx);
    if (!s)
        return;
    for (int f = 0; f < SF_CL_FAMILY_COUNT; f++)
        for (int d = 0; d < SF_CL_DTYPE_COUNT; d++)
            sf_cl_release_program(&s->programs[f][d]);
    if (s->scratch)
        clReleaseMemObject(s->scratch);
    if (s->queue)
        clReleaseCommandQueue(s->queue);
    if (s->context)
        clReleaseContext(s->context);
    free(s);
    ctx->impl = NULL;
}

static sigfuse_status synchronize(sigfuse_ctx *ctx)
{
    cl_int err = clFinish(sf_cl_of(ctx)->queue);
    return err == CL_SUCCESS ? SIGFUSE_SUCCESS : sf_cl_fail(ctx, err, "clFinish");
}

/* The cl_mem must be a live buffer of the context's OpenCL context that holds
 * offset + bytes; the check costs two host-side queries and no device work. */
static sigfuse_status check_buffer(sigfuse_ctx *ctx, const char *op, const char *name, const sigfuse_buffer *buf,
                                   size_t bytes)
{
    sf_cl_state *s = sf_cl_of(ctx);
    cl_mem mem = (cl_mem)buf->ptr;
    cl_mem_object_type type = 0;
    cl_int err = clGetMemObjectInfo(mem, CL_MEM_TYPE, sizeof type, &type, NULL);
    if (err != CL_SUCCESS)
        return sf_fail(ctx, SIGFUSE_ERR_INVALID_ARGUMENT, "%s: %s: %p is not a valid cl_mem (clGetMemObjectInfo: %s)",
                       op, name, buf->ptr, sf_cl_error_name(err));
    /* Drivers check a handle's liveness, not always its kind (PoCL answers for a queue
     * passed as a cl_mem); a type other than buffer catches both images and such mix-ups. */
    if (type != CL_MEM_OBJECT_BUFFER)
        return sf_fail(ctx, SIGFUSE_ERR_INVALID_ARGUMENT,
                       "%s: %s: %p is not a cl_mem buffer (CL_MEM_TYPE is %#x: an image, or another kind of handle)",
                       op, name, buf->ptr, (unsigned)type);
    cl_context owner = NULL;
    size_t size = 0;
    err = clGetMemObjectInfo(mem, CL_MEM_CONTEXT, sizeof owner, &owner, NULL);
    if (err == CL_SUCCESS)
        err = clGetMemObjectInfo(mem, CL_MEM_SIZE, sizeof size, &size, NULL);
    if (err != CL_SUCCESS)
        return sf_fail(ctx, SIGFUSE_ERR_INVALID_ARGUMENT, "%s: %s: clGetMemObjectInfo failed: %s", op, name,
                       sf_cl_error_name(err));
    if (owner != s->context)
        return sf_fail(ctx, SIGFUSE_ERR_INVALID_ARGUMENT,
                       "%s: %s: the cl_mem belongs to another OpenCL context than the sigfuse context's queue", op, name);
    if (buf->offset > size || bytes > size - buf->offset)
        return sf_fail(ctx, SIGFUSE_ERR_INVALID_ARGUMENT,
                       "%s: %s: offset %zu + %zu bytes runs past the end of its cl_mem of %zu bytes", op, name, buf->offset,
                       bytes, size);
    return SIGFUSE_SUCCESS;
}

#define OPENCL_ENTRY_(name, family, shape, args) SF_OP_ENTRY_##shape(name, sf_cl_##name)

static const sf_backend_ops opencl_ops = {
    .destroy = destroy,
    .wait = synchronize,
    .check_buffer = check_buffer,
    .activation = sf_cl_activation,
    .glu = sf_cl_glu,
    SF_CATALOG(OPENCL_ENTRY_)
    .head_predict_workspace = sf_cl_head_predict_workspace,
    .head_train_step_workspace = sf_cl_head_train_step_workspace,
    .head_topk_workspace = sf_cl_head_topk_workspace,
};

/* A queue's context and device, and whether it runs commands out of order (then
 * dependent launches need barriers). Drivers check that a handle is alive, not always
 * that it is a queue (PoCL answers for a cl_mem passed as one, with a garbage device),
 * so the device must also be one of the context's: a mixed-up handle fails here instead
 * of crashing later. */
static cl_int queue_facts(cl_command_queue queue, cl_context *context, cl_device_id *device, bool *out_of_order)
{
    cl_command_queue_properties props = 0;
    cl_int err = clGetCommandQueueInfo(queue, CL_QUEUE_CONTEXT, sizeof *context, context, NULL);
    if (err == CL_SUCCESS)
        err = clGetCommandQueueInfo(queue, CL_QUEUE_DEVICE, sizeof *device, device, NULL);
    if (err == CL_SUCCESS)
        err = clGetCommandQueueInfo(queue, CL_QUEUE_PROPERTIES, sizeof props, &props, NULL);
    if (err != CL_SUCCESS)
        return err;
    *out_of_order = (props & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE) != 0;
    cl_device_id devices[64];
    size_t bytes = 0;
    err = clGetContextInfo(*context, CL_CONTEXT_DEVICES, sizeof devices, devices, &bytes);
    if (err != CL_SUCCESS)
        return CL_INVALID_COMMAND_QUEUE;
    for (size_t i = 0; i < bytes / sizeof devices[0] && i < 64; i++)
        if (devices[i] == *device)
            return CL_SUCCESS;
    return CL_INVALID_COMMAND_QUEUE;
}

/* A sigfuse context on (context, device, queue): takes a reference on each of the
 * context and queue (the caller keeps its own), reads the device's facts and reserves
 * the scratch. On failure nothing is retained. */
static sigfuse_status make_ctx(sigfuse_ctx **out, cl_context context, cl_device_id device, cl_command_queue queue,
                               bool out_of_order)
{
    sigfuse_ctx *ctx = sf_ctx_alloc(SIGFUSE_BACKEND_OPENCL, SIGFUSE_MEMORY_OPENCL, &opencl_ops);
    sf_cl_state *s = (sf_cl_state *)calloc(1, sizeof *s);
    if (!ctx || !s) {
        free(ctx);
        free(s);
        return sf_create_fail(SIGFUSE_ERR_OUT_OF_MEMORY, "opencl: out of memory allocating the context");
    }
    ctx->impl = s;
    clRetainContext(context);
    clRetainCommandQueue(queue);
    s->context = context;
    s->device = device;
    s->queue = queue;
    s->out_of_order = out_of_order;

    cl_uint align_bits = 0;
    cl_int err = clGetDeviceInfo(device, CL_DEVICE_NAME, sizeof ctx->device_name - 1, ctx->device_name, NULL);
    if (err == CL_SUCCESS)
        err = clGetDeviceInfo(device, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof s->compute_units, &s->compute_units,
                              NULL);
    if (err == CL_SUCCESS)
        err = clGetDeviceInfo(device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof s->max_local, &s->max_local, NULL);
    if (err == CL_SUCCESS)
        err = clGetDeviceInfo(device, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof align_bits, &align_bits, NULL);
    size_t items[3] = {1, 1, 1};
    if (err == CL_SUCCESS)
        err = clGetDeviceInfo(device, CL_DEVICE_MAX_WORK_ITEM_SIZES, sizeof items, items, NULL);
    if (err != CL_SUCCESS) {
        sigfuse_ctx_destroy(ctx);
        return sf_create_fail(SIGFUSE_ERR_BACKEND, "opencl: clGetDeviceInfo failed: %s (%d)", sf_cl_error_name(err),
                              (int)err);
    }
    if (s->compute_units < 1)
        s->compute_units = 1;
    if (s->max_local < 1)
        s->max_local = 1;
    s->base_align = align_bits >= 8 ? align_bits / 8 : 1;
    s->max_items[0] = items[0] > 0 ? items[0] : 1;
    s->max_items[1] = items[1] > 0 ? items[1] : 1;

    s->scratch_accs = SF_CL_SCRATCH_ACCS;
    s->scratch = clCreateBuffer(context, CL_MEM_READ_WRITE, s->scratch_accs * SF_CL_ACC_BYTES, NULL, &err);
    if (err != CL_SUCCESS) {
        s->scratch = NULL;
        char name[256];
        snprintf(name, sizeof name, "%s", ctx->device_name);
        sigfuse_ctx_destroy(ctx);
        return sf_create_fail(SIGFUSE_ERR_BACKEND, "opencl: reserving %zu bytes of scratch on %s: %s (%d)",
                              (size_t)SF_CL_SCRATCH_ACCS * SF_CL_ACC_BYTES, name, sf_cl_error_name(err),
                              (int)err);
    }
    *out = ctx;
    return SIGFUSE_SUCCESS;
}

sigfuse_status sf_opencl_ctx_create(sigfuse_ctx **ctx, void *queue_ptr)
{
    cl_command_queue queue = (cl_command_queue)queue_ptr;
    if (!queue)
        return sf_create_fail(SIGFUSE_ERR_NULL_ARGUMENT, "opencl: queue is NULL (give a cl_command_queue)");
    cl_context context;
    cl_device_id device;
    bool ooo;
    cl_int err = queue_facts(queue, &context, &device, &ooo);
    if (err != CL_SUCCESS)
        return sf_create_fail(SIGFUSE_ERR_INVALID_ARGUMENT,
                              "opencl: queue %p is not a valid cl_command_queue (clGetCommandQueueInfo: %s)", queue_ptr,
                              sf_cl_error_name(err));
    return make_ctx(ctx, context, device, queue, ooo);
}

sigfuse_status sf_opencl_set_queue(sigfuse_ctx *ctx, void *queue_ptr)
{
    sf_cl_state *s = sf_cl_of(ctx);
    cl_command_queue queue = (cl_command_queue)queue_ptr;
    if (!queue)
        return sf_fail(ctx, SIGFUSE_ERR_NULL_ARGUMENT, "sigfuse_opencl_set_queue: queue is NULL");
    cl_context context;
    cl_device_id device;
    bool ooo;
    cl_int err = queue_facts(queue, &context, &device, &ooo);
    if (err != CL_SUCCESS)
        return sf_fail(ctx, SIGFUSE_ERR_INVALID_ARGUMENT,
                       "sigfuse_opencl_set_queue: %p is not a valid cl_command_queue (clGetCommandQueueInfo: %s)",
                       queue_ptr, sf_cl_error_name(err));
    /* Programs, kernels and the scratch belong to the context and device. */
    if (context != s->context || device != s->device)
        return sf_fail(ctx, SIGFUSE_ERR_INVALID_ARGUMENT,
                       "sigfuse_opencl_set_queue: the queue belongs to another OpenCL %s than the context's",
                       context != s->context ? "context" : "device");
    clRetainCommandQueue(queue);
    clReleaseCommandQueue(s->queue);
    s->queue = queue;
    s->out_of_order = ooo;
    return SIGFUSE_SUCCESS;
}

sigfuse_status sf_opencl_get_queue(const sigfuse_ctx *ctx, void **queue)
{
    *queue = (void *)sf_cl_of(ctx)->queue;
    return SIGFUSE_SUCCESS;
}

/* ---- The default device ----------------------------------------------------------------------- */

/* A selector from the environment matches by index ("1") or by a case-insensitive
 * substring of the name ("nvidia", "pthread"). */
static bool all_digits(const char *v)
{
    if (!*v)
        return false;
    for (; *v; v++)
        if (!isdigit((unsigned char)*v))
            return false;
    return true;
}

static bool name_contains(const char *name, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *p = name; *p; p++) {
        size_t i = 0;
        while (i < n && p[i] && tolower((unsigned char)p[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n)
            return true;
    }
    return n == 0;
}

static bool selects(const char *selector, unsigned index, const char *name)
{
    if (all_digits(selector))
        return strtoul(selector, NULL, 10) == index;
    return name_contains(name, selector);
}

#define SF_CL_MAX_PLATFORMS 16
#define SF_CL_MAX_DEVICES 64

sigfuse_status sf_opencl_available(void)
{
    cl_uint np = 0;
    cl_platform_id platforms[SF_CL_MAX_PLATFORMS];
    if (clGetPlatformIDs(SF_CL_MAX_PLATFORMS, platforms, &np) != CL_SUCCESS || np == 0)
        return SIGFUSE_ERR_NO_DEVICE;
    if (np > SF_CL_MAX_PLATFORMS)
        np = SF_CL_MAX_PLATFORMS;
    for (cl_uint p = 0; p < np; p++) {
        cl_uint nd = 0;
        if (clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd) == CL_SUCCESS && nd > 0)
            return SIGFUSE_SUCCESS;
    }
    return SIGFUSE_ERR_NO_DEVICE;
}

sigfuse_status sf_opencl_ctx_create_default(sigfuse_ctx **ctx)
{
    cl_uint np = 0;
    cl_platform_id platforms[SF_CL_MAX_PLATFORMS];
    cl_int err = clGetPlatformIDs(SF_CL_MAX_PLATFORMS, platforms, &np);
    if (err != CL_SUCCESS || np == 0)
        return sf_create_fail(SIGFUSE_ERR_NO_DEVICE,
                              "opencl: no OpenCL platform found (clGetPlatformIDs: %s); install an ICD such as "
                              "pocl-opencl-icd or a GPU driver",
                              err != CL_SUCCESS ? sf_cl_error_name(err) : "0 platforms");
    if (np > SF_CL_MAX_PLATFORMS)
        np = SF_CL_MAX_PLATFORMS;

    const char *want_platform = getenv("SIGFUSE_OPENCL_PLATFORM");
    const char *want_device = getenv("SIGFUSE_OPENCL_DEVICE");
    if (want_platform && !*want_platform)
        want_platform = NULL;
    if (want_device && !*want_device)
        want_device = NULL;

    /* Every device of the chosen platforms, in platform order. */
    cl_platform_id dev_platform[SF_CL_MAX_DEVICES];
    cl_device_id devices[SF_CL_MAX_DEVICES];
    unsigned count = 0;
    bool platform_matched = false;
    for (cl_uint p = 0; p < np; p++) {
        char pname[256] = "";
        clGetPlatformInfo(platforms[p], CL_PLATFORM_NAME, sizeof pname - 1, pname, NULL);
        if (want_platform && !selects(want_platform, p, pname))
            continue;
        platform_matched = true;
        cl_uint nd = 0;
        if (clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, SF_CL_MAX_DEVICES - count, devices + count, &nd) !=
            CL_SUCCESS)
            continue;
        if (nd > SF_CL_MAX_DEVICES - count)
            nd = SF_CL_MAX_DEVICES - count;
        for (cl_uint d = 0; d < nd; d++)
            dev_platform[count + d] = platforms[p];
        count += nd;
    }
    if (want_platform && !platform_matched)
        return sf_create_fail(SIGFUSE_ERR_NO_DEVICE,
                              "opencl: SIGFUSE_OPENCL_PLATFORM=\"%s\" matches none of the %u platforms (give an "
                              "index or part of a platform name)",
                              want_platform, (unsigned)np);

    int chosen = -1;
    if (want_device) {
        for (unsigned d = 0; d < count && chosen < 0; d++) {
            char dname[256] = "";
            clGetDeviceInfo(devices[d], CL_DEVICE_NAME, sizeof dname - 1, dname, NULL);
            if (selects(want_device, d, dname))
                chosen = (int)d;
        }
        if (chosen < 0)
            return sf_create_fail(SIGFUSE_ERR_NO_DEVICE,
                                  "opencl: SIGFUSE_OPENCL_DEVICE=\"%s\" matches none of the %u devices (give an "
                                  "index or part of a device name)",
                                  want_device, count);
    } else {
        for (unsigned d = 0; d < count && chosen < 0; d++) {
            cl_device_type type = 0;
            if (clGetDeviceInfo(devices[d], CL_DEVICE_TYPE, sizeof type, &type, NULL) == CL_SUCCESS &&
                (type & CL_DEVICE_TYPE_GPU))
                chosen = (int)d;
        }
        if (chosen < 0 && count > 0)
            chosen = 0;
    }
    if (chosen < 0)
        return sf_create_fail(SIGFUSE_ERR_NO_DEVICE, "opencl: the OpenCL platforms have no device");

    cl_device_id device = devices[chosen];
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)dev_platform[chosen], 0};
    cl_context context = clCreateContext(props, 1, &device, NULL, NULL, &err);
    if (err != CL_SUCCESS)
        return sf_create_fail(SIGFUSE_ERR_BACKEND, "opencl: clCreateContext: %s (%d)", sf_cl_error_name(err), (int)err);
    cl_command_queue queue = clCreateCommandQueue(context, device, 0, &err);
    if (err != CL_SUCCESS) {
        clReleaseContext(context);
        return sf_create_fail(SIGFUSE_ERR_BACKEND, "opencl: clCreateCommandQueue: %s (%d)", sf_cl_error_name(err),
                              (int)err);
    }
    /* make_ctx takes its own references; drop the creation ones. */
    sigfuse_status st = make_ctx(ctx, context, device, queue, false);
    clReleaseCommandQueue(queue);
    clReleaseContext(context);
    return st;
}
