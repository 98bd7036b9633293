/* SPDX-License-Identifier: MIT */
/*
 * The OpenCL backend's contexts: device choice, the caller's queue, the scratch reserved
 * once per context, buffer checks (a cl_mem's size against offset + bytes), the program
 * cache, kernel launches, and the finishing steps of the deterministic reductions.
 *
 * Programs are built lazily, one per (op family, storage dtype), the first time an op of
 * the family runs on the context, and kept until the context is destroyed. Building all
 * 21 at creation would make every context cost seconds of compiler time on drivers that
 * compile from source (PoCL runs LLVM for each), for families most callers never use;
 * the first call of a family pays once instead, and nothing after it builds or allocates.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sf_opencl.h"
#include "sf_opencl_embed.h"

/* ---- Errors --------------------------------------------------------------------------------- */

const char *sf_cl_error_name(cl_int err)
{
    switch (err) {
#define SF_CL_CASE(code) \
    case code: return #code;
        SF_CL_CASE(CL_SUCCESS)
        SF_CL_CASE(CL_DEVICE_NOT_FOUND)
        SF_CL_CASE(CL_DEVICE_NOT_AVAILABLE)
        SF_CL_CASE(CL_COMPILER_NOT_AVAILABLE)
        SF_CL_CASE(CL_MEM_OBJECT_ALLOCATION_FAILURE)
        SF_CL_CASE(CL_OUT_OF_RESOURCES)
        SF_CL_CASE(CL_OUT_OF_HOST_MEMORY)
        SF_CL_CASE(CL_PROFILING_INFO_NOT_AVAILABLE)
        SF_CL_CASE(CL_MEM_COPY_OVERLAP)
        SF_CL_CASE(CL_IMAGE_FORMAT_MISMATCH)
        SF_CL_CASE(CL_IMAGE_FORMAT_NOT_SUPPORTED)
        SF_CL_CASE(CL_BUILD_PROGRAM_FAILURE)
        SF_CL_CASE(CL_MAP_FAILURE)
        SF_CL_CASE(CL_MISALIGNED_SUB_BUFFER_OFFSET)
        SF_CL_CASE(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
        SF_CL_CASE(CL_COMPILE_PROGRAM_FAILURE)
        SF_CL_CASE(CL_LINKER_NOT_AVAILABLE)
        SF_CL_CASE(CL_LINK_PROGRAM_FAILURE)
        SF_CL_CASE(CL_DEVICE_PARTITION_FAILED)
        SF_CL_CASE(CL_KERNEL_ARG_INFO_NOT_AVAILABLE)
        SF_CL_CASE(CL_INVALID_VALUE)
        SF_CL_CASE(CL_INVALID_DEVICE_TYPE)
        SF_CL_CASE(CL_INVALID_PLATFORM)
        SF_CL_CASE(CL_INVALID_DEVICE)
        SF_CL_CASE(CL_INVALID_CONTEXT)
        SF_CL_CASE(CL_INVALID_QUEUE_PROPERTIES)
        SF_CL_CASE(CL_INVALID_COMMAND_QUEUE)
        SF_CL_CASE(CL_INVALID_HOST_PTR)
        SF_CL_CASE(CL_INVALID_MEM_OBJECT)
        SF_CL_CASE(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR)
        SF_CL_CASE(CL_INVALID_IMAGE_SIZE)
        SF_CL_CASE(CL_INVALID_SAMPLER)
        SF_CL_CASE(CL_INVALID_BINARY)
        SF_CL_CASE(CL_INVALID_BUILD_OPTIONS)
        SF_CL_CASE(CL_INVALID_PROGRAM)
        SF_CL_CASE(CL_INVALID_PROGRAM_EXECUTABLE)
        SF_CL_CASE(CL_INVALID_KERNEL_NAME)
        SF_CL_CASE(CL_INVALID_KERNEL_DEFINITION)
        SF_CL_CASE(CL_INVALID_KERNEL)
        SF_CL_CASE(CL_INVALID_ARG_INDEX)
        SF_CL_CASE(CL_INVALID_ARG_VALUE)
        SF_CL_CASE(CL_INVALID_ARG_SIZE)
        SF_CL_CASE(CL_INVALID_KERNEL_ARGS)
        SF_CL_CASE(CL_INVALID_WORK_DIMENSION)
        SF_CL_CASE(CL_INVALID_WORK_GROUP_SIZE)
        SF_CL_CASE(CL_INVALID_WORK_ITEM_SIZE)
        SF_CL_CASE(CL_INVALID_GLOBAL_OFFSET)
        SF_CL_CASE(CL_INVALID_EVENT_WAIT_LIST)
        SF_CL_CASE(CL_INVALID_EVENT)
        SF_CL_CASE(CL_INVALID_OPERATION)
        SF_CL_CASE(CL_INVALID_GL_OBJECT)
        SF_CL_CASE(CL_INVALID_BUFFER_SIZE)
        SF_CL_CASE(CL_INVALID_MIP_LEVEL)
        SF_CL_CASE(CL_INVALID_GLOBAL_WORK_SIZE)
        SF_CL_CASE(CL_INVALID_PROPERTY)
        SF_CL_CASE(CL_INVALID_IMAGE_DESCRIPTOR)
        SF_CL_CASE(CL_INVALID_COMPILER_OPTIONS)
        SF_CL_CASE(CL_INVALID_LINKER_OPTIONS)
        SF_CL_CASE(CL_INVALID_DEVICE_PARTITION_COUNT)
#undef SF_CL_CASE
    /* From cl_ext.h (the ICD loader's "no platform"); spelled out to avoid the header. */
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
    }
    return "unknown OpenCL error";
}

sigfuse_status sf_cl_fail(sigfuse_ctx *ctx, cl_int err, const char *what)
{
    return sf_fail(ctx, SIGFUSE_ERR_BACKEND, "opencl: %s: %s (%d)", what, sf_cl_error_name(err), (int)err);
}

/* ---- Kernel sources and the program cache ------------------------------------------------- */

static const char *const family_files[SF_CL_FAMILY_COUNT] = {
    "activation.cl", "glu.cl", "lstm.cl", "gru.cl", "bce.cl", "focal.cl", "head.cl",
};

static int dtype_slot(sigfuse_dtype dtype)
{
    switch (dtype) {
    case SIGFUSE_F32: return 0;
    case SIGFUSE_F16: return 1;
    case SIGFUSE_BF16: return 2;
    default: return -1;
    }
}

/* One source file's text: from SIGFUSE_OPENCL_KERNEL_DIR when it has the file, else the
 * copy embedded at build time. *owned is set when the text was read here (free it). */
typedef struct cl_source {
    const char *text;
    char *owned;
    char origin[600];
} cl_source;

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long size = ftell(f);
        if (size >= 0 && fseek(f, 0, SEEK_SET) == 0) {
            buf = (char *)malloc((size_t)size + 1);
            if (buf && fread(buf, 1, (size_t)size, f) == (size_t)size) {
                buf[size] = '\0';
            } else {
                free(buf);
                buf = NULL;
            }
        }
    }
    fclose(f);
    return buf;
}

/* The development switch: a set SIGFUSE_OPENCL_KERNEL_DIR makes every build read the
 * files that folder has (any of sf_math.h, common.cl, <family>.cl) and use the embedded
 * copy for the rest, so that it may point at opencl/ of a checkout (sf_math.h lives in
 * kernels/) and kernels can be edited without rebuilding the library. */
static sigfuse_status load_source(sigfuse_ctx *ctx, const char *name, cl_source *src)
{
    src->text = NULL;
    src->owned = NULL;
    const char *dir = getenv("SIGFUSE_OPENCL_KERNEL_DIR");
    if (dir && *dir) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        src->owned = read_file(path);
        if (src->owned) {
            src->text = src->owned;
            snprintf(src->origin, sizeof src->origin, "%s", path);
            return SIGFUSE_SUCCESS;
        }
    }
    for (int i = 0; i < sf_cl_embedded_count; i++) {
        if (strcmp(sf_cl_embedded_files[i].name, name) == 0) {
            src->text = sf_cl_embedded_files[i].data;
            snprintf(src->origin, sizeof src->origin, "%s (embedded)", name);
            return SIGFUSE_SUCCESS;
        }
    }
    return sf_fail(ctx, SIGFUSE_ERR_BACKEND, "opencl: kernel source %s is missing from the library", name);
}

static void release_program(sf_cl_program *p)
{
    for (cl_uint k = 0; k < p->count; k++)
        if (p->kernels[k])
            clReleaseKernel(p->kernels[k]);
    if (p->program)
        clReleaseProgram(p->program);
    memset(p, 0, sizeof *p);
}

/* Record a failed build with as much of the compiler's log as the message holds. */
static sigfuse_status build_failure(sigfuse_ctx *ctx, cl_program program, cl_int err, const char *file,
                                    sigfuse_dtype dtype)
{
    sf_cl_state *s = sf_cl_of(ctx);
    size_t log_size = 0;
    char *log = NULL;
    if (clGetProgramBuildInfo(program, s->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &log_size) == CL_SUCCESS &&
        log_size > 0) {
        log = (char *)malloc(log_size + 1);
        if (log && clGetProgramBuildInfo(program, s->device, CL_PROGRAM_BUILD_LOG, log_size, log, NULL) ==
                       CL_SUCCESS)
            log[log_size] = '\0';
        else if (log)
            log[0] = '\0';
    }
    sigfuse_status st = sf_fail(ctx, SIGFUSE_ERR_PROGRAM_BUILD,
                                "opencl: building %s for %s on \"%s\" failed (%s); build log:\n%s", file,
                                sigfuse_dtype_name(dtype), ctx->device_name, sf_cl_error_name(err),
                                log && log[0] ? log : "(the driver gave no log)");
    free(log);
    return st;
}

/* The largest power of two <= v (v >= 1). */
static size_t pow2_floor(size_t v)
{
    size_t p = 1;
    while (p <= v / 2)
        p *= 2;
    return p;
}

static sigfuse_status build_program(sigfuse_ctx *ctx, sf_cl_family family, sigfuse_dtype dtype, sf_cl_program *p)
{
    sf_cl_state *s = sf_cl_of(ctx);
    const char *names[3] = {"sf_math.h", "common.cl", family_files[family]};
    cl_source src[3];
    /* Each part is preceded by a #line naming its file, so that the build log points at
     * the right file and line. */
    char lines[3][64];
    const char *parts[6];
    sigfuse_status st = SIGFUSE_SUCCESS;
    int loaded = 0;
    for (; loaded < 3; loaded++) {
        st = load_source(ctx, names[loaded], &src[loaded]);
        if (st)
            break;
        snprintf(lines[loaded], sizeof lines[loaded], "\n#line 1 \"%s\"\n", names[loaded]);
        parts[2 * loaded] = lines[loaded];
        parts[2 * loaded + 1] = src[loaded].text;
    }
    cl_program program = NULL;
    if (st == SIGFUSE_SUCCESS) {
        cl_int err;
        program = clCreateProgramWithSource(s->context, 6, parts, NULL, &err);
        if (err != CL_SUCCESS)
            st = sf_cl_fail(ctx, err, "clCreateProgramWithSource");
    }
    for (int i = 0; i < loaded; i++)
        free(src[i].owned);
    if (st)
        return st;

    /* No -cl-fast-relaxed-math or -cl-mad-enable: the limits at +-inf, NaN propagation
     * and the stable forms of sf_math.h are part of the contract. */
    char options[128];
    snprintf(options, sizeof options, "-cl-std=CL1.2 -DSF_DTYPE=%d", dtype_slot(dtype) + 1);
    cl_int err = clBuildProgram(program, 1, &s->device, options, NULL, NULL);
    if (err != CL_SUCCESS) {
        st = build_failure(ctx, program, err, family_files[family], dtype);
        clReleaseProgram(program);
        return st;
    }

    memset(p, 0, sizeof *p);
    p->program = program;
    err = clCreateKernelsInProgram(program, SF_CL_MAX_KERNELS, p->kernels, &p->count);
    if (err != CL_SUCCESS) {
        release_program(p);
        return sf_cl_fail(ctx, err, "clCreateKernelsInProgram");
    }
    for (cl_uint k = 0; k < p->count; k++) {
        err = clGetKernelInfo(p->kernels[k], CL_KERNEL_FUNCTION_NAME, sizeof p->names[k], p->names[k], NULL);
        size_t kernel_max = 0;
        if (err == CL_SUCCESS)
            err = clGetKernelWorkGroupInfo(p->kernels[k], s->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof kernel_max,
                                           &kernel_max, NULL);
        if (err != CL_SUCCESS) {
            release_program(p);
            return sf_cl_fail(ctx, err, "clGetKernelInfo");
        }
        size_t local = SF_CL_MAX_LOCAL;
        if (kernel_max < local)
            local = kernel_max;
        if (s->max_local < local)
            local = s->max_local;
        if (s->max_items[0] < local)
            local = s->max_items[0];
        p->local[k] = pow2_floor(local > 0 ? local : 1);
    }
    return SIGFUSE_SUCCESS;
}

sigfuse_status sf_cl_begin(sigfuse_ctx *ctx, sf_cl_family family, sigfuse_dtype dtype, const char *name,
                           sf_cl_launch *launch)
{
    sf_cl_state *s = sf_cl_of(ctx);
    int slot = dtype_slot(dtype);
    if (slot < 0)
        return sf_fail(ctx, SIGFUSE_ERR_UNSUPPORTED, "opencl: dtype %s is not a storage dtype of the opencl backend",
                       sigfuse_dtype_name(dtype));
    sf_cl_program *p = &s->programs[family][slot];
    if (!p->program)
        SF_TRY(build_program(ctx, family, dtype, p));
    for (cl_uint k = 0; k < p->count; k++) {
        if (strcmp(p->names[k], name) == 0) {
            memset(launch, 0, sizeof *launch);
            launch->ctx = ctx;
            launch->kernel = p->kernels[k];
            launch->name = p->names[k];
            launch->local = p->local[k];
            return SIGFUSE_SUCCESS;
        }
    }
    return sf_fail(ctx, SIGFUSE_ERR_BACKEND, "opencl: kernel %s is missing from %s", name, family_files[family]);
}

/* ---- Kernel arguments and launches ----------------------------------------------------------- */

static void set_arg(sf_cl_launch *l, size_t size, const void *value)
{
    if (l->err == CL_SUCCESS) {
        cl_int err = clSetKernelArg(l->kernel, l->next, size, value);
        if (err != CL_SUCCESS) {
            l->err = err;
            l->bad_arg = l->next;
        }
    }
    l->next++;
}

uint64_t sf_cl_elem_offset(const sigfuse_buffer *b)
{
    return b ? (uint64_t)(b->offset / sigfuse_dtype_size(b->dtype)) : 0;
}

void sf_cl_arg_buf(sf_cl_launch *l, const sigfuse_buffer *b)
{
    cl_mem mem = b ? (cl_mem)b->ptr : NULL;
    /* A NULL cl_mem arrives in the kernel as a NULL pointer: how absent buffers are told. */
    set_arg(l, sizeof(cl_mem), mem ? (const void *)&mem : NULL);
    sf_cl_arg_u64(l, sf_cl_elem_offset(b));
}

void sf_cl_arg_mem(sf_cl_launch *l, cl_mem mem) { set_arg(l, sizeof(cl_mem), mem ? (const void *)&mem : NULL); }

void sf_cl_arg_u64(sf_cl_launch *l, uint64_t v)
{
    cl_ulong u = (cl_ulong)v;
    set_arg(l, sizeof u, &u);
}

void sf_cl_arg_u32(sf_cl_launch *l, uint32_t v)
{
    cl_uint u = (cl_uint)v;
    set_arg(l, sizeof u, &u);
}

void sf_cl_arg_int(sf_cl_launch *l, int v)
{
    cl_int i = (cl_int)v;
    set_arg(l, sizeof i, &i);
}

void sf_cl_arg_f32(sf_cl_launch *l, float v)
{
    cl_float f = (cl_float)v;
    set_arg(l, sizeof f, &f);
}

void sf_cl_arg_local_floats(sf_cl_launch *l, size_t count) { set_arg(l, count * sizeof(cl_float), NULL); }

size_t sf_cl_groups(const sf_cl_state *s, uint64_t items, size_t local)
{
    uint64_t want = (items + local - 1) / local;
    uint64_t cap = (uint64_t)s->compute_units * SF_CL_GROUPS_PER_CU;
    if (cap > SF_CL_MAX_GROUPS)
        cap = SF_CL_MAX_GROUPS;
    if (want > cap)
        want = cap;
    return want < 1 ? 1 : (size_t)want;
}

void sf_cl_local_2d(const sf_cl_state *s, size_t local, uint64_t cols, size_t *lx, size_t *ly)
{
    size_t x = 1;
    while (x * 2 <= local && x < 64 && x < cols && x * 2 <= s->max_items[0])
        x *= 2;
    size_t y = local / x;
    if (y > s->max_items[1])
        y = pow2_floor(s->max_items[1]);
    *lx = x;
    *ly = y;
}

static sigfuse_status check_args(sf_cl_launch *l)
{
    if (l->err != CL_SUCCESS) {
        char what[128];
        snprintf(what, sizeof what, "clSetKernelArg(%s, argument %u)", l->name, (unsigned)l->bad_arg);
        return sf_cl_fail(l->ctx, l->err, what);
    }
    return SIGFUSE_SUCCESS;
}

static sigfuse_status enqueue(sf_cl_launch *l, cl_uint dims, const size_t *global, const size_t *local)
{
    SF_TRY(check_args(l));
    sf_cl_state *s = sf_cl_of(l->ctx);
    cl_int err = clEnqueueNDRangeKernel(s->queue, l->kernel, dims, NULL, global, local, 0, NULL, NULL);
    if (err != CL_SUCCESS) {
        char what[128];
        snprintf(what, sizeof what, "clEnqueueNDRangeKernel(%s)", l->name);
        return sf_cl_fail(l->ctx, err, what);
    }
    return SIGFUSE_SUCCESS;
}

sigfuse_status sf_cl_enqueue_1d(sf_cl_launch *l, size_t groups)
{
    size_t global = groups * l->local;
    return enqueue(l, 1, &global, &l->local);
}

sigfuse_status sf_cl_enqueue_2d(sf_cl_launch *l, size_t groups_x, size_t groups_y, size_t local_x, size_t local_y)
{
    size_t global[2] = {groups_x * local_x, groups_y * local_y};
    size_t local[2] = {local_x, local_y};
    return enqueue(l, 2, global, local);
}

sigfuse_status sf_cl_barrier(sigfuse_ctx *ctx)
{
    sf_cl_state *s = sf_cl_of(ctx);
    if (!s->out_of_order)
        return SIGFUSE_SUCCESS;
    cl_int err = clEnqueueBarrierWithWaitList(s->queue, 0, NULL, NULL);
    return err == CL_SUCCESS ? SIGFUSE_SUCCESS : sf_cl_fail(ctx, err, "clEnqueueBarrierWithWaitList");
}

/* ---- Finishing the deterministic reductions --------------------------------------------------- */

sigfuse_status sf_cl_finish_loss(sigfuse_ctx *ctx, sf_cl_family family, sigfuse_dtype dtype, size_t groups,
                                 sigfuse_reduction reduction, double count, const sigfuse_buffer *out)
{
    sf_cl_state *s = sf_cl_of(ctx);
    sf_cl_launch l;
    SF_TRY(sf_cl_begin(ctx, family, dtype, "sf_finish_loss", &l));
    SF_TRY(sf_cl_barrier(ctx));
    sf_cl_arg_mem(&l, s->scratch);
    sf_cl_arg_u32(&l, (uint32_t)groups);
    sf_cl_arg_int(&l, reduction == SIGFUSE_REDUCTION_MEAN);
    sf_cl_arg_f32(&l, (float)count);
    sf_cl_arg_buf(&l, out);
    sf_cl_arg_local_floats(&l, l.local);
    return sf_cl_enqueue_1d(&l, 1);
}

sigfuse_status sf_cl_finish_cols(sigfuse_ctx *ctx, sf_cl_family family, sigfuse_dtype dtype, uint64_t part_off,
                                 size_t chunks, uint64_t pitch, uint64_t cols, const sigfuse_buffer *out)
{
    sf_cl_state *s = sf_cl_of(ctx);
    sf_cl_launch l;
    SF_TRY(sf_cl_begin(ctx, family, dtype, "sf_finish_cols", &l));
    SF_TRY(sf_cl_barrier(ctx));
    sf_cl_arg_mem(&l, s->scratch);
    sf_cl_arg_u64(&l, part_off);
    sf_cl_arg_u32(&l, (uint32_t)chunks);
    sf_cl_arg_u64(&l, pitch);
    sf_cl_arg_u64(&l, cols);
    sf_cl_arg_buf(&l, out);
    return sf_cl_enqueue_1d(&l, sf_cl_groups(s, cols, l.local));
}

/* ---- Context life ----------------------------------------------------------------------------- */

static void destroy(sigfuse_ctx *ctx)
{
    sf_cl_state *s = sf_cl_of(ctx);
    if (!s)
        return;
    for (int f = 0; f < SF_CL_FAMILY_COUNT; f++)
        for (int d = 0; d < SF_CL_DTYPE_COUNT; d++)
            release_program(&s->programs[f][d]);
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

static const sf_backend_ops opencl_ops = {
    .destroy = destroy,
    .synchronize = synchronize,
    .check_buffer = check_buffer,
    .elementwise = sf_cl_elementwise,
    .lstm_forward = sf_cl_lstm_forward,
    .lstm_backward = sf_cl_lstm_backward,
    .gru_forward = sf_cl_gru_forward,
    .gru_backward = sf_cl_gru_backward,
    .bce = sf_cl_bce,
    .focal = sf_cl_focal,
    .head_predict_workspace = sf_cl_head_predict_workspace,
    .head_train_workspace = sf_cl_head_train_workspace,
    .head_predict = sf_cl_head_predict,
    .head_train = sf_cl_head_train,
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

    s->scratch_floats = SF_CL_SCRATCH_FLOATS;
    s->scratch = clCreateBuffer(context, CL_MEM_READ_WRITE, s->scratch_floats * sizeof(cl_float), NULL, &err);
    if (err != CL_SUCCESS) {
        s->scratch = NULL;
        char name[256];
        snprintf(name, sizeof name, "%s", ctx->device_name);
        sigfuse_ctx_destroy(ctx);
        return sf_create_fail(SIGFUSE_ERR_BACKEND, "opencl: reserving %zu bytes of scratch on %s: %s (%d)",
                              (size_t)SF_CL_SCRATCH_FLOATS * sizeof(cl_float), name, sf_cl_error_name(err),
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
