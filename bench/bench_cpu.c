/* SPDX-License-Identifier: MIT */
/*
 * sigfuse-bench: the CPU reference backend's memory and clock (the host), as the table
 * of functions bench_cuda.c and bench_opencl.c fill for theirs.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_internal.h"

/* ---- The CPU backend's memory: the host ---------------------------------------------------- */

static bool cpu_open(void **state, sigfuse_ctx **ctx)
{
    *state = calloc(1, sizeof(struct timespec));
    if (!*state)
        return bench_fail("out of host memory");
    sigfuse_status st = sigfuse_ctx_create(ctx, SIGFUSE_BACKEND_CPU);
    if (st != SIGFUSE_SUCCESS)
        return bench_fail("%s", sigfuse_last_create_error());
    return true;
}
static void cpu_close(void *state) { free(state); }
static size_t cpu_cache_bytes(void *state)
{
    (void)state;
    return 0;   /* the reference is compute-bound: nothing to gain from rotating buffers */
}
static void *cpu_alloc(void *state, size_t bytes)
{
    (void)state;
    void *p = malloc(bytes ? bytes : 1);
    if (!p)
        bench_fail("cannot allocate %zu bytes of host memory", bytes);
    return p;
}
static void cpu_free(void *state, void *ptr)
{
    (void)state;
    free(ptr);
}
static bool cpu_copy(void *state, void *dst, const void *src, size_t bytes)
{
    (void)state;
    memcpy(dst, src, bytes);
    return true;
}
static bool cpu_fill(void *state, void *dst, int byte, size_t bytes)
{
    (void)state;
    memset(dst, byte, bytes);
    return true;
}
static bool cpu_sync(void *state)
{
    (void)state;
    return true;
}
static bool cpu_timer_start(void *state)
{
    clock_gettime(CLOCK_MONOTONIC, (struct timespec *)state);
    return true;
}
static bool cpu_timer_stop(void *state, double *seconds)
{
    struct timespec now, *start = state;
    clock_gettime(CLOCK_MONOTONIC, &now);
    *seconds = (double)(now.tv_sec - start->tv_sec) + 1e-9 * (double)(now.tv_nsec - start->tv_nsec);
    return true;
}

const bench_backend bench_cpu_backend = {
    .name = "cpu",
    .backend = SIGFUSE_BACKEND_CPU,
    .reps = 5,
    .warmup = 1,
    /* A host memcpy past the last-level cache: the reference's rows then have a %copy
     * too (how far the definition, computing in double, is from moving its bytes at copy
     * speed), and bench/plot.py can draw a cpu run. */
    .copy_bytes = (size_t)256 << 20,
    /* Small: the reference computes in double and is slow. */
    .sizes = {.elementwise = {1 << 16, 1 << 20}, .cell = {{64, 1024}}, .head = {{256, 256, 64}}},
    .open = cpu_open,
    .close = cpu_close,
    .cache_bytes = cpu_cache_bytes,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .buffer = sigfuse_host_buffer,
    .upload = cpu_copy,
    .download = cpu_copy,
    .fill = cpu_fill,
    .copy = cpu_copy,
    .sync = cpu_sync,
    .timer_start = cpu_timer_start,
    .timer_stop = cpu_timer_stop,
};
