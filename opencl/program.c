/* SPDX-License-Identifier: MIT */
/*
 * The kernel sources and the program cache: each program is its family's .cl file after
 * sf_math.h and common.cl; a kernel is created from it by name the first time it is
 * launched, and found by its id (sf_cl_kernel) from then on.
 *
 * Programs are built lazily, one per (op family, storage dtype), the first time an op of
 * the family runs on the context, and kept until the context is destroyed. Building all
 * 21 at creation would make every context cost seconds of compiler time on drivers that
 * compile from source (PoCL runs LLVM for each), for families most callers never use;
 * the first call of a family pays once instead, and nothing after it builds or allocates.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sf_opencl.h"
#include "sf_opencl_embed.h"

#define SF_CL_FAMILY_FILE_(f) #f ".cl",
static const char *const family_files[SF_CL_FAMILY_COUNT] = {SF_CL_FAMILIES(SF_CL_FAMILY_FILE_)};
#undef SF_CL_FAMILY_FILE_

#define SF_CL_HELPER_NAME_(name) #name,
static const char *const helper_names[] = {SF_CL_HELPER_KERNELS(SF_CL_HELPER_NAME_)};
#undef SF_CL_HELPER_NAME_

const char *sf_cl_kernel_name(sf_cl_kernel k)
{
    if ((unsigned)k < SF_OP_COUNT)
        return sf_op_infos[k].name;   /* an op's kernel is spelt as the op */
    return (unsigned)k < SF_CL_KERNEL_COUNT ? helper_names[k - SF_OP_COUNT] : "unknown";
}

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

void sf_cl_release_program(sf_cl_program *p)
{
    for (int k = 0; k < SF_CL_KERNEL_COUNT; k++)
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
     * and the stable forms of sf_math.h are part of the contract. The reductions sum in
     * double where the device has cl_khr_fp64 (common.cl); SIGFUSE_OPENCL_FP64=0, a
     * development switch, gives them the float pairs of a device without it. */
    const char *fp64 = getenv("SIGFUSE_OPENCL_FP64");
    char options[128];
    snprintf(options, sizeof options, "-cl-std=CL1.2 -DSF_DTYPE=%d%s", dtype_slot(dtype) + 1,
             fp64 && strcmp(fp64, "0") == 0 ? " -DSF_NO_FP64" : "");
    cl_int err = clBuildProgram(program, 1, &s->device, options, NULL, NULL);
    if (err != CL_SUCCESS) {
        st = build_failure(ctx, program, err, family_files[family], dtype);
        clReleaseProgram(program);
        return st;
    }

    memset(p, 0, sizeof *p);
    p->program = program;
    return SIGFUSE_SUCCESS;
}

/* Kernel k from a built program, with the work-group size it is launched with: the
 * largest power of two within SF_CL_MAX_LOCAL, the kernel's and the device's limits. */
static sigfuse_status create_kernel(sigfuse_ctx *ctx, sf_cl_family family, sf_cl_program *p, sf_cl_kernel k)
{
    sf_cl_state *s = sf_cl_of(ctx);
    cl_int err;
    cl_kernel kernel = clCreateKernel(p->program, sf_cl_kernel_name(k), &err);
    if (err == CL_INVALID_KERNEL_NAME)
        return sf_fail(ctx, SIGFUSE_ERR_BACKEND, "opencl: kernel %s is missing from %s", sf_cl_kernel_name(k),
                       family_files[family]);
    if (err != CL_SUCCESS)
        return sf_cl_fail(ctx, err, "clCreateKernel");
    size_t kernel_max = 0;
    err = clGetKernelWorkGroupInfo(kernel, s->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof kernel_max, &kernel_max,
                                   NULL);
    if (err != CL_SUCCESS) {
        clReleaseKernel(kernel);
        return sf_cl_fail(ctx, err, "clGetKernelWorkGroupInfo");
    }
    size_t local = SF_CL_MAX_LOCAL;
    if (kernel_max < local)
        local = kernel_max;
    if (s->max_local < local)
        local = s->max_local;
    if (s->max_items[0] < local)
        local = s->max_items[0];
    p->kernels[k] = kernel;
    p->local[k] = sf_cl_pow2_floor(local > 0 ? local : 1);
    return SIGFUSE_SUCCESS;
}

sigfuse_status sf_cl_begin(sigfuse_ctx *ctx, sf_cl_family family, sigfuse_dtype dtype, sf_cl_kernel kernel,
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
    if (!p->kernels[kernel])
        SF_TRY(create_kernel(ctx, family, p, kernel));
    memset(launch, 0, sizeof *launch);
    launch->ctx = ctx;
    launch->kernel = p->kernels[kernel];
    launch->name = sf_cl_kernel_name(kernel);
    launch->local = p->local[kernel];
    return SIGFUSE_SUCCESS;
}
