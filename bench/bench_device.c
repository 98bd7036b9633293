/* SPDX-License-Identifier: MIT */
/*
 * sigfuse-bench: every backend's memory and clock are the kit's (tests/kit/kit.h), on a
 * stream or queue of the bench's own that can time (KIT_TIMED: CUDA events, OpenCL
 * profiling markers, the host's monotonic clock); and the cpu table, which is nothing
 * else. bench_cuda.c and bench_opencl.c add the head's products alone to theirs.
 */
#include <stdlib.h>

#include "bench.h"

static kit_dev *dev_of(void *state) { return &((bench_device *)state)->dev; }

/* A failed kit call's message as the bench's. */
static bool kit_ok(bool ok) { return ok || bench_fail("%s", kit_error()); }

bool bench_device_open(sigfuse_backend backend, size_t gemms_bytes, void (*gemms_release)(void *gemms), void **state,
                       sigfuse_ctx **ctx)
{
    bench_device *s = calloc(1, sizeof *s);
    *state = s;
    *ctx = NULL;
    if (!s || (gemms_bytes && !(s->gemms = calloc(1, gemms_bytes))))
        return bench_fail("out of host memory");
    s->gemms_release = gemms_release;
    if (!kit_ok(kit_open(&s->dev, backend, KIT_TIMED) == SIGFUSE_SUCCESS))
        return false;
    *ctx = s->dev.ctx;
    return true;
}

void bench_device_close(void *state)
{
    bench_device *s = state;
    if (!s)
        return;
    if (s->gemms && s->gemms_release)
        s->gemms_release(s->gemms);
    free(s->gemms);
    s->dev.ctx = NULL;   /* the driver's now: it destroys it before calling close */
    kit_close(&s->dev);
    free(s);
}

size_t bench_device_cache_bytes(void *state) { return kit_cache_bytes(dev_of(state)); }

void *bench_device_alloc(void *state, size_t bytes)
{
    void *p = kit_alloc(dev_of(state), bytes);
    kit_ok(p != NULL);
    return p;
}

void bench_device_free(void *state, void *ptr) { kit_free(dev_of(state), ptr); }

bool bench_device_upload(void *state, void *dst, const void *host_src, size_t bytes)
{
    return kit_ok(kit_upload(dev_of(state), dst, 0, host_src, bytes));
}

bool bench_device_download(void *state, void *host_dst, const void *src, size_t bytes)
{
    return kit_ok(kit_download(dev_of(state), src, 0, host_dst, bytes));
}

bool bench_device_fill(void *state, void *dst, int byte, size_t bytes)
{
    return kit_ok(kit_fill(dev_of(state), dst, 0, byte, bytes));
}

bool bench_device_copy(void *state, void *dst, const void *src, size_t bytes)
{
    return kit_ok(kit_copy(dev_of(state), dst, 0, src, 0, bytes));
}

bool bench_device_sync(void *state) { return kit_ok(kit_sync(dev_of(state))); }
bool bench_device_timer_start(void *state) { return kit_ok(kit_timer_start(dev_of(state))); }
bool bench_device_timer_stop(void *state, double *seconds) { return kit_ok(kit_timer_stop(dev_of(state), seconds)); }
size_t bench_device_free_bytes(void *state) { return kit_free_bytes(dev_of(state)); }

static bool cpu_open(void **state, sigfuse_ctx **ctx)
{
    return bench_device_open(SIGFUSE_BACKEND_CPU, 0, NULL, state, ctx);
}

const bench_backend bench_cpu_backend = {
    .name = "cpu", .backend = SIGFUSE_BACKEND_CPU, .reps = 5, .warmup = 1,
    /* A host memcpy past the last-level cache: the reference's rows then have a %copy
     * too (how far the definition, computing in double, is from moving its bytes at copy
     * speed), and bench/plot.py can draw a cpu run. */
    .copy_bytes = (size_t)256 << 20,
    /* Small: the reference computes in double and is slow. */
    .sizes = {.elementwise = {1 << 16, 1 << 20}, .cell = {{64, 1024}}, .head = {{256, 256, 64}},
              /* XMC: many labels, few rows (the reference's double loops bound it). */
              .xmc = {{64, 128, 8192}}},
    .open = cpu_open, .buffer = sigfuse_host_buffer, BENCH_DEVICE_ENTRIES,
};
