/* SPDX-License-Identifier: MIT */
/* The kit's calls (kit.h): the backend's entry, and the guarded buffers on top of them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kit_internal.h"

static _Thread_local char last_error[KIT_ERROR_BYTES];

char *kit_error_buffer(void) { return last_error; }
const char *kit_error(void) { return last_error; }

static const struct {
    sigfuse_backend backend;
    const char *name;
    const kit_ops *ops;   /* NULL: this program was built without the backend's runtime */
} backends[] = {
    {SIGFUSE_BACKEND_CPU, "cpu", &kit_host_ops},
#ifdef SIGFUSE_WITH_CUDA
    {SIGFUSE_BACKEND_CUDA, "cuda", &kit_cuda_ops},
#else
    {SIGFUSE_BACKEND_CUDA, "cuda", NULL},
#endif
#ifdef SIGFUSE_WITH_OPENCL
    {SIGFUSE_BACKEND_OPENCL, "opencl", &kit_opencl_ops},
#else
    {SIGFUSE_BACKEND_OPENCL, "opencl", NULL},
#endif
};
#define N_BACKENDS ((int)(sizeof backends / sizeof backends[0]))

static int backend_index(sigfuse_backend b)
{
    for (int i = 0; i < N_BACKENDS; i++)
        if (backends[i].backend == b)
            return i;
    return -1;
}

const char *kit_backend_name(sigfuse_backend b)
{
    int i = backend_index(b);
    return i < 0 ? "unknown" : backends[i].name;
}

sigfuse_backend kit_backend_by_name(const char *name)
{
    for (int i = 0; i < N_BACKENDS; i++)
        if (name && strcmp(backends[i].name, name) == 0)
            return backends[i].backend;
    return (sigfuse_backend)0;
}

bool kit_present(sigfuse_backend b)
{
    int i = backend_index(b);
    return i >= 0 && backends[i].ops && sigfuse_backend_available(b) == SIGFUSE_SUCCESS;
}

sigfuse_status kit_made_ctx(kit_dev *d, sigfuse_status st)
{
    if (st != SIGFUSE_SUCCESS)
        kit_fail("backend %s: %s: %s", d->name, sigfuse_status_string(st), sigfuse_last_create_error());
    return st;
}

sigfuse_status kit_default_ctx(kit_dev *d) { return kit_made_ctx(d, sigfuse_ctx_create(&d->ctx, d->backend)); }

sigfuse_status kit_open(kit_dev *d, sigfuse_backend b, unsigned flags)
{
    memset(d, 0, sizeof *d);
    int i = backend_index(b);
    if (i < 0) {
        kit_fail("unknown backend %d", (int)b);
        return SIGFUSE_ERR_INVALID_ARGUMENT;
    }
    d->backend = b;
    d->name = backends[i].name;
    /* The library's verdict first: a backend it lacks is NOT_BUILT whatever this program has. */
    sigfuse_status st = sigfuse_backend_available(b);
    if (st != SIGFUSE_SUCCESS) {
        kit_fail("backend %s: %s", d->name, sigfuse_status_string(st));
        return st;
    }
    if (!backends[i].ops) {
        kit_fail("backend %s: this program was built without %s", d->name, d->name);
        return SIGFUSE_ERR_NOT_BUILT;
    }
    d->ops = backends[i].ops;
    d->state = calloc(1, d->ops->state_bytes);
    if (!d->state) {
        kit_fail("out of host memory");
        return SIGFUSE_ERR_OUT_OF_MEMORY;
    }
    st = d->ops->open(d, flags);
    if (st != SIGFUSE_SUCCESS)
        kit_close(d);
    return st;
}

void kit_close(kit_dev *d)
{
    /* The context first: it may still use the stream or queue the backend's state holds. */
    sigfuse_ctx_destroy(d->ctx);
    d->ctx = NULL;
    if (d->ops && d->state)
        d->ops->close(d);
    free(d->state);
    d->ops = NULL;
    d->state = NULL;
}

void *kit_alloc(kit_dev *d, size_t bytes) { return d->ops->alloc(d, bytes ? bytes : 1); }

void kit_free(kit_dev *d, void *h)
{
    if (h)
        d->ops->free(d, h);
}

bool kit_upload(kit_dev *d, void *h, size_t off, const void *src, size_t bytes)
{
    return bytes == 0 || d->ops->upload(d, h, off, src, bytes);
}

bool kit_download(kit_dev *d, const void *h, size_t off, void *dst, size_t bytes)
{
    return bytes == 0 || d->ops->download(d, h, off, dst, bytes);
}

bool kit_fill(kit_dev *d, void *h, size_t off, int byte, size_t bytes)
{
    return bytes == 0 || d->ops->fill(d, h, off, byte, bytes);
}

bool kit_copy(kit_dev *d, void *dst, size_t dst_off, const void *src, size_t src_off, size_t bytes)
{
    return bytes == 0 || d->ops->copy(d, dst, dst_off, src, src_off, bytes);
}

sigfuse_buffer kit_view(sigfuse_backend b, const void *h, size_t off, sigfuse_dtype dtype, bool plain)
{
    sigfuse_buffer v = b == SIGFUSE_BACKEND_CUDA ? sigfuse_cuda_buffer(h, dtype) : sigfuse_host_buffer(h, dtype);
    if (b == SIGFUSE_BACKEND_OPENCL) {
        v.memory = SIGFUSE_MEMORY_OPENCL;   /* sigfuse_opencl_buffer, without the CL headers */
        plain = false;
    }
    if (plain)
        v.ptr = (char *)v.ptr + off;
    else
        v.offset = off;
    return v;
}

bool kit_sync(kit_dev *d) { return d->ops->sync(d); }
size_t kit_free_bytes(kit_dev *d) { return d->ops->free_bytes(d); }
size_t kit_cache_bytes(kit_dev *d) { return d->ops->cache_bytes(d); }
bool kit_timer_start(kit_dev *d) { return d->ops->timer_start(d); }
bool kit_timer_stop(kit_dev *d, double *seconds) { return d->ops->timer_stop(d, seconds); }

/* ---- Guarded buffers ------------------------------------------------------------------ */

bool kit_buf_alloc(kit_dev *d, kit_buf *b, sigfuse_dtype dtype, int64_t n, int misalign)
{
    memset(b, 0, sizeof *b);
    const size_t elem = sigfuse_dtype_size(dtype);
    b->dev = d;
    b->data_off = KIT_GUARD_BYTES + (size_t)misalign * elem;
    b->bytes = (size_t)n * elem;
    b->total = b->data_off + b->bytes + KIT_GUARD_BYTES;
    b->h = kit_alloc(d, b->total);
    if (!b->h)
        return false;
    b->desc = kit_view(d->backend, b->h, b->data_off, dtype, misalign == 0);
    /* Written from the host: oclgrind takes the bytes of an enqueued fill as uninitialised.
     * Past 64 MiB (no case oclgrind runs) fills, which need no host copy. */
    if (b->total > ((size_t)64 << 20))
        return kit_fill(d, b->h, 0, KIT_GUARD_BYTE, b->total) && kit_buf_poison(b);
    unsigned char *all = malloc(b->total);
    if (!all)
        return kit_fail("out of host memory (%zu bytes)", b->total);
    memset(all, KIT_GUARD_BYTE, b->total);
    memset(all + b->data_off, KIT_POISON_BYTE, b->bytes);
    bool ok = kit_upload(d, b->h, 0, all, b->total);
    free(all);
    return ok;
}

void kit_buf_free(kit_buf *b)
{
    if (b->h)
        kit_free(b->dev, b->h);
    b->h = NULL;
}

bool kit_buf_upload(kit_buf *b, const void *src)
{
    unsigned char *all = malloc(b->total);
    if (!all)
        return kit_fail("out of host memory (%zu bytes)", b->total);
    memset(all, KIT_GUARD_BYTE, b->total);
    if (b->bytes)
        memcpy(all + b->data_off, src, b->bytes);
    bool ok = kit_upload(b->dev, b->h, 0, all, b->total);
    free(all);
    return ok;
}

bool kit_buf_download(const kit_buf *b, void *dst) { return kit_download(b->dev, b->h, b->data_off, dst, b->bytes); }

bool kit_buf_poison(kit_buf *b) { return kit_fill(b->dev, b->h, b->data_off, KIT_POISON_BYTE, b->bytes); }

static bool all_bytes(const unsigned char *p, size_t n, unsigned char v)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != v)
            return false;
    return true;
}

bool kit_buf_check(const kit_buf *b, bool *guards_ok, bool *untouched)
{
    /* The guards alone when the data does not matter (two small reads of a large buffer). */
    const size_t back = b->data_off + b->bytes, span = untouched ? b->total : b->data_off;
    unsigned char *all = malloc(untouched ? b->total : b->data_off + KIT_GUARD_BYTES);
    if (!all)
        return kit_fail("out of host memory (%zu bytes)", b->total);
    bool ok = kit_download(b->dev, b->h, 0, all, span) &&
              (untouched || kit_download(b->dev, b->h, back, all + span, KIT_GUARD_BYTES));
    if (ok) {
        const unsigned char *tail = untouched ? all + back : all + span;
        *guards_ok = all_bytes(all, b->data_off, KIT_GUARD_BYTE) && all_bytes(tail, KIT_GUARD_BYTES, KIT_GUARD_BYTE);
        if (untouched)
            *untouched = all_bytes(all + b->data_off, b->bytes, KIT_POISON_BYTE);
    }
    free(all);
    return ok;
}
