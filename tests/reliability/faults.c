/* SPDX-License-Identifier: MIT */
/*
 * Faults: allocation failure inside the library, and contexts created and
 * destroyed 10^4 times, leaking nothing.
 *
 * This program is linked with -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free
 * against the static library, so that every allocation of the library's own code (and
 * of this file) goes through the wrappers below, while those of libc, the OpenCL driver
 * and CLBlast (shared libraries) do not. While armed, the wrappers count allocations,
 * fail the k-th one, and keep the set of live blocks:
 *   - for k = 0, 1, ... each creator (cpu, the default OpenCL device, OpenCL on a
 *     caller's queue) fails its k-th allocation: it must answer
 *     SIGFUSE_ERR_OUT_OF_MEMORY with a message, set *ctx to NULL and leave no block live
 *     (nor an OpenCL reference taken: the cl_context's and queue's reference counts
 *     come back); the loop ends at the first k past the creator's last allocation,
 *     where it must succeed;
 *   - the same for an op's first call on OpenCL (which builds a program, reading kernel
 *     files when SIGFUSE_OPENCL_KERNEL_DIR is set): SUCCESS (with the right output) or
 *     OUT_OF_MEMORY, nothing live after the context is destroyed;
 *   - 10^4 contexts created and destroyed on the reference and on a caller's OpenCL
 *     queue (some running an op, so that programs are built and released), 100 on the
 *     default OpenCL device: no block live and the reference counts back where they were.
 * Under ASan (scripts/sanitize.sh asan) LeakSanitizer checks the whole process as well.
 * Usage: alloc_faults [opencl-kernel-dir]. Exit 0 when every check passed.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sigfuse.h"
#ifdef SIGFUSE_WITH_OPENCL
#include <CL/cl.h>

#include "sigfuse_opencl.h"
#endif

/* ---- The wrapped allocator ------------------------------------------------------------ */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);

static int armed;
static long allocs, fail_at = -1, failed;
#define MAX_LIVE 65536
static void *live[MAX_LIVE];
static long nlive;

static void track(void *p)
{
    if (p && nlive < MAX_LIVE)
        live[nlive++] = p;
}

static void untrack(void *p)
{
    for (long i = nlive - 1; i >= 0; i--)
        if (live[i] == p) {
            live[i] = live[--nlive];
            return;
        }
}

static int inject(void)
{
    if (!armed)
        return 0;
    if (allocs++ == fail_at) {
        failed++;
        return 1;
    }
    return 0;
}

void *__wrap_malloc(size_t n)
{
    if (inject())
        return NULL;
    void *p = __real_malloc(n);
    if (armed)
        track(p);
    return p;
}

void *__wrap_calloc(size_t n, size_t m)
{
    if (inject())
        return NULL;
    void *p = __real_calloc(n, m);
    if (armed)
        track(p);
    return p;
}

void *__wrap_realloc(void *old, size_t n)
{
    if (inject())
        return NULL;
    void *p = __real_realloc(old, n);
    if (p) {
        untrack(old);
        if (armed)
            track(p);
    }
    return p;
}

void __wrap_free(void *p)
{
    if (p)
        untrack(p);
    __real_free(p);
}

static void arm(long k)
{
    allocs = 0;
    failed = 0;
    fail_at = k;
    nlive = 0;
    armed = 1;
}

static void disarm(void) { armed = 0; }

/* ---- Checks ------------------------------------------------------------------------------ */

static int failures;

#define CHECK(cond, ...)                                \
    do {                                                \
        if (!(cond)) {                                  \
            fprintf(stderr, "alloc_faults: FAILED: ");  \
            fprintf(stderr, __VA_ARGS__);               \
            fprintf(stderr, "\n");                      \
            failures++;                                 \
        }                                               \
    } while (0)

typedef sigfuse_status (*creator)(sigfuse_ctx **ctx, void *arg);

static sigfuse_status create_cpu(sigfuse_ctx **ctx, void *arg)
{
    (void)arg;
    return sigfuse_ctx_create(ctx, SIGFUSE_BACKEND_CPU);
}

#ifdef SIGFUSE_WITH_OPENCL
static sigfuse_status create_cl_default(sigfuse_ctx **ctx, void *arg)
{
    (void)arg;
    return sigfuse_ctx_create(ctx, SIGFUSE_BACKEND_OPENCL);
}

static sigfuse_status create_cl_queue(sigfuse_ctx **ctx, void *arg)
{
    return sigfuse_ctx_create_opencl(ctx, (cl_command_queue)arg);
}

typedef struct cl_env {
    cl_context context;
    cl_command_queue queue;
} cl_env;

static cl_uint refs_context(cl_context c)
{
    cl_uint r = 0;
    clGetContextInfo(c, CL_CONTEXT_REFERENCE_COUNT, sizeof r, &r, NULL);
    return r;
}

/* PoCL holds a reference to a queue while commands on it are in flight and drops it a
 * little after they finish (seen once: 2 before a run of contexts, 1 after, with no
 * reference of sigfuse's left): wait for the queue, then for the count to hold still for
 * a few milliseconds. */
static cl_uint refs_queue(cl_command_queue q)
{
    clFinish(q);
    cl_uint r = 0, prev = 0;
    int still = 0;
    for (int tries = 0; tries < 500 && still < 3; tries++) {
        clGetCommandQueueInfo(q, CL_QUEUE_REFERENCE_COUNT, sizeof r, &r, NULL);
        still = tries > 0 && r == prev ? still + 1 : 0;
        prev = r;
        const struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    return r;
}

static int cl_setup(cl_env *e)
{
    cl_platform_id platform;
    cl_device_id device;
    cl_uint n = 0;
    if (clGetPlatformIDs(1, &platform, &n) != CL_SUCCESS || n == 0)
        return 0;
    if (clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, 1, &device, &n) != CL_SUCCESS || n == 0)
        return 0;
    cl_int err;
    e->context = clCreateContext(NULL, 1, &device, NULL, NULL, &err);
    if (err != CL_SUCCESS)
        return 0;
    e->queue = clCreateCommandQueue(e->context, device, 0, &err);
    return err == CL_SUCCESS;
}

/* sigmoid_forward of 5 values on an OpenCL context; SUCCESS only with the right values. */
static sigfuse_status cl_sigmoid(sigfuse_ctx *ctx, cl_env *e)
{
    float x[5] = {-2, -1, 0, 1, 2}, y[5] = {0};
    cl_int err;
    cl_mem mx = clCreateBuffer(e->context, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, sizeof x, x, &err);
    cl_mem my = clCreateBuffer(e->context, CL_MEM_READ_WRITE, sizeof y, NULL, &err);
    sigfuse_buffer bx = sigfuse_opencl_buffer(mx, 0, SIGFUSE_F32), by = sigfuse_opencl_buffer(my, 0, SIGFUSE_F32);
    sigfuse_status st = sigfuse_sigmoid_forward(ctx, 5, &bx, &by);
    if (st == SIGFUSE_SUCCESS)
        st = sigfuse_ctx_synchronize(ctx);
    if (st == SIGFUSE_SUCCESS) {
        clEnqueueReadBuffer(e->queue, my, CL_TRUE, 0, sizeof y, y, 0, NULL, NULL);
        CHECK(y[2] == 0.5f && y[4] > 0.88f && y[4] < 0.881f, "opencl sigmoid gave %g %g", (double)y[2], (double)y[4]);
    }
    clReleaseMemObject(mx);
    clReleaseMemObject(my);
    return st;
}
#endif

/* Fail each allocation of a creator in turn. */
static void creator_faults(const char *name, creator make, void *arg, void *cl)
{
    int ooms = 0;
    for (long k = 0; k < 1000; k++) {
#ifdef SIGFUSE_WITH_OPENCL
        cl_env *e = (cl_env *)cl;
        cl_uint rc = e ? refs_context(e->context) : 0, rq = e ? refs_queue(e->queue) : 0;
#else
        (void)cl;
#endif
        sigfuse_ctx *ctx = (sigfuse_ctx *)(uintptr_t)1;
        arm(k);
        sigfuse_status st = make(&ctx, arg);
        long injected = failed;
        if (st == SIGFUSE_SUCCESS)
            sigfuse_ctx_destroy(ctx);
        disarm();
        if (!injected) {
            CHECK(st == SIGFUSE_SUCCESS, "%s: %s with no allocation failing", name, sigfuse_status_string(st));
            printf("alloc_faults: %s: %ld allocations; failing each gave OUT_OF_MEMORY (%d), then success\n", name,
                   allocs, ooms);
            break;
        }
        CHECK(st == SIGFUSE_ERR_OUT_OF_MEMORY, "%s: allocation %ld failing gave %s, not OUT_OF_MEMORY", name, k,
              sigfuse_status_string(st));
        CHECK(st == SIGFUSE_SUCCESS || ctx == NULL, "%s: allocation %ld failing left *ctx set", name, k);
        CHECK(strstr(sigfuse_last_create_error(), "out of memory") != NULL,
              "%s: allocation %ld failing: message \"%s\" does not say out of memory", name, k,
              sigfuse_last_create_error());
        CHECK(nlive == 0, "%s: allocation %ld failing leaked %ld blocks", name, k, nlive);
#ifdef SIGFUSE_WITH_OPENCL
        if (e)
            CHECK(refs_context(e->context) == rc && refs_queue(e->queue) == rq,
                  "%s: allocation %ld failing kept a reference (context %u -> %u, queue %u -> %u)", name, k, rc,
                  refs_context(e->context), rq, refs_queue(e->queue));
#endif
        ooms += st == SIGFUSE_ERR_OUT_OF_MEMORY;
    }
}

/* Create and destroy `times` contexts; every `op_every`-th one runs an op first. */
static void create_destroy(const char *name, creator make, void *arg, void *cl, long times, long op_every)
{
#ifdef SIGFUSE_WITH_OPENCL
    cl_env *e = (cl_env *)cl;
    cl_uint rc = e ? refs_context(e->context) : 0, rq = e ? refs_queue(e->queue) : 0;
#else
    (void)cl;
    (void)op_every;
#endif
    long bad = 0;
    arm(-1);
    for (long i = 0; i < times && !bad; i++) {
        sigfuse_ctx *ctx = NULL;
        sigfuse_status st = make(&ctx, arg);
        if (st != SIGFUSE_SUCCESS) {
            CHECK(0, "%s: creation %ld failed: %s (%s)", name, i, sigfuse_status_string(st), sigfuse_last_create_error());
            bad = 1;
            break;
        }
#ifdef SIGFUSE_WITH_OPENCL
        if (e && op_every && i % op_every == 0)
            CHECK(cl_sigmoid(ctx, e) == SIGFUSE_SUCCESS, "%s: op on context %ld failed", name, i);
#endif
        sigfuse_ctx_destroy(ctx);
        if (nlive != 0) {
            CHECK(0, "%s: context %ld left %ld blocks live after destroy", name, i, nlive);
            bad = 1;
        }
    }
    disarm();
#ifdef SIGFUSE_WITH_OPENCL
    if (e)
        CHECK(refs_context(e->context) == rc && refs_queue(e->queue) == rq,
              "%s: reference counts moved (context %u -> %u, queue %u -> %u)", name, rc, refs_context(e->context), rq,
              refs_queue(e->queue));
#endif
    if (!bad)
        printf("alloc_faults: %s: %ld contexts created and destroyed, nothing left live\n", name, times);
}

int main(int argc, char **argv)
{
    creator_faults("cpu ctx_create", create_cpu, NULL, NULL);
    create_destroy("cpu", create_cpu, NULL, NULL, 10000, 0);

#ifdef SIGFUSE_WITH_OPENCL
    cl_env e;
    if (sigfuse_backend_available(SIGFUSE_BACKEND_OPENCL) == SIGFUSE_SUCCESS && cl_setup(&e)) {
        creator_faults("opencl ctx_create (default device)", create_cl_default, NULL, NULL);
        creator_faults("opencl ctx_create_opencl (caller's queue)", create_cl_queue, e.queue, &e);

        /* An op's first call (it builds a program), failing each allocation in turn. */
        if (argc > 1)
            setenv("SIGFUSE_OPENCL_KERNEL_DIR", argv[1], 1);
        for (long k = 0; k < 100; k++) {
            cl_uint rc = refs_context(e.context);
            sigfuse_ctx *ctx = NULL;
            sigfuse_status st = sigfuse_ctx_create_opencl(&ctx, e.queue);
            CHECK(st == SIGFUSE_SUCCESS, "opencl: context for the op test: %s", sigfuse_status_string(st));
            if (st)
                break;
            arm(k);
            nlive = 0;
            st = cl_sigmoid(ctx, &e);
            long injected = failed;
            disarm();
            CHECK(st == SIGFUSE_SUCCESS || st == SIGFUSE_ERR_OUT_OF_MEMORY,
                  "opencl op: allocation %ld failing gave %s (%s)", k, sigfuse_status_string(st),
                  sigfuse_ctx_last_error(ctx));
            armed = 1;   /* count the frees of destroy against this op's blocks */
            sigfuse_ctx_destroy(ctx);
            disarm();
            CHECK(nlive == 0, "opencl op: allocation %ld failing: %ld blocks live after destroy", k, nlive);
            CHECK(refs_context(e.context) == rc, "opencl op: allocation %ld failing kept a context reference", k);
            if (!injected) {
                printf("alloc_faults: opencl first op: %ld allocations (kernel dir %s); each failing one gave "
                       "success or OUT_OF_MEMORY, nothing leaked\n",
                       allocs, argc > 1 ? argv[1] : "unset");
                break;
            }
        }
        unsetenv("SIGFUSE_OPENCL_KERNEL_DIR");

        create_destroy("opencl on a caller's queue", create_cl_queue, e.queue, &e, 10000, 2500);
        create_destroy("opencl default device", create_cl_default, NULL, NULL, 100, 0);
        clReleaseCommandQueue(e.queue);
        clReleaseContext(e.context);
    } else {
        printf("alloc_faults: opencl: no device, skipped\n");
    }
#else
    (void)argc;
    (void)argv;
    printf("alloc_faults: opencl: not built, skipped\n");
#endif
    if (failures)
        fprintf(stderr, "alloc_faults: %d checks failed\n", failures);
    return failures ? 1 : 0;
}
