/* SPDX-License-Identifier: MIT */
/* The kit on the host: the cpu reference's memory (malloc) and the monotonic clock. */
#define _POSIX_C_SOURCE 200809L

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kit_internal.h"

/* The state: the timer's start. */
static sigfuse_status host_open(kit_dev *d, unsigned flags)
{
    (void)flags;
    return kit_default_ctx(d);
}

static void host_close(kit_dev *d) { (void)d; }

static void *host_alloc(kit_dev *d, size_t bytes)
{
    (void)d;
    void *p = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!p)
        kit_fail("cannot allocate %zu bytes of host memory", bytes);
    return p;
}

static void host_free(kit_dev *d, void *h)
{
    (void)d;
    free(h);
}

static bool host_upload(kit_dev *d, void *h, size_t off, const void *src, size_t bytes)
{
    (void)d;
    memcpy((char *)h + off, src, bytes);
    return true;
}

static bool host_download(kit_dev *d, const void *h, size_t off, void *dst, size_t bytes)
{
    (void)d;
    memcpy(dst, (const char *)h + off, bytes);
    return true;
}

static bool host_fill(kit_dev *d, void *h, size_t off, int byte, size_t bytes)
{
    (void)d;
    memset((char *)h + off, byte, bytes);
    return true;
}

static bool host_copy(kit_dev *d, void *dst, size_t dst_off, const void *src, size_t src_off, size_t bytes)
{
    (void)d;
    memmove((char *)dst + dst_off, (const char *)src + src_off, bytes);
    return true;
}

static bool host_sync(kit_dev *d)
{
    (void)d;
    return true;   /* the cpu backend runs synchronously */
}

static size_t host_zero(kit_dev *d)
{
    (void)d;
    return 0;   /* unknown free memory; the reference is compute-bound: no cache to rotate past */
}

static bool host_timer_start(kit_dev *d)
{
    clock_gettime(CLOCK_MONOTONIC, (struct timespec *)d->state);
    return true;
}

static bool host_timer_stop(kit_dev *d, double *seconds)
{
    struct timespec now, *start = d->state;
    clock_gettime(CLOCK_MONOTONIC, &now);
    *seconds = (double)(now.tv_sec - start->tv_sec) + 1e-9 * (double)(now.tv_nsec - start->tv_nsec);
    return true;
}

const kit_ops kit_host_ops = {
    sizeof(struct timespec), host_open, host_close, host_alloc, host_free, host_upload, host_download, host_fill,
    host_copy, host_sync,  host_zero,  host_zero, host_timer_start, host_timer_stop,
};
