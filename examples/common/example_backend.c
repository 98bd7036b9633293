/* SPDX-License-Identifier: MIT */
/* The examples' backend layer: see example_backend.h. */
#include "example_backend.h"
#include "example_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "program: message" on stderr; returns 1 so that callers can `return fail(...)`. */
static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", example_program);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

const char *example_backend_default(void)
{
    const char *env = getenv("SIGFUSE_BACKEND");
    return env && *env ? env : "cpu";
}

int example_device_open(example_device *d, const char *name, int error_status)
{
    *d = (example_device){0};
    sigfuse_backend b = kit_backend_by_name(name);
    if (!b) {
        fail("unknown backend \"%s\" (cpu, opencl or cuda)", name);
        return error_status;
    }
    d->backend = b;
    /* NOT_BUILT also where the library has the backend but this program lacks its runtime
     * (another build's library on the path): there would be no way to allocate. */
    sigfuse_status st = kit_open(&d->kit, b, 0);
    if (st != SIGFUSE_SUCCESS) {
        fail("%s", kit_error());
        return st == SIGFUSE_ERR_NOT_BUILT || st == SIGFUSE_ERR_NO_DEVICE ? EXAMPLE_EXIT_SKIP : error_status;
    }
    d->ctx = d->kit.ctx;
    return 0;
}

void example_device_close(example_device *d)
{
    kit_close(&d->kit);
    d->ctx = NULL;
}

/* ---- example_mem ------------------------------------------------------------------------ */

int example_mem_alloc(example_device *d, size_t bytes, example_mem *m)
{
    m->bytes = bytes;
    m->ptr = kit_alloc(&d->kit, bytes);
    return m->ptr ? 0 : fail("%s", kit_error());
}

void example_mem_free(example_device *d, example_mem *m)
{
    kit_free(&d->kit, m->ptr);
    m->ptr = NULL;
}

int example_mem_write(example_device *d, const example_mem *m, size_t offset, const void *src, size_t bytes)
{
    return kit_upload(&d->kit, m->ptr, offset, src, bytes) ? 0 : fail("%s", kit_error());
}

int example_mem_read(example_device *d, const example_mem *m, size_t offset, void *dst, size_t bytes)
{
    return kit_download(&d->kit, m->ptr, offset, dst, bytes) ? 0 : fail("%s", kit_error());
}

sigfuse_buffer example_mem_buffer(const example_device *d, const example_mem *m, size_t offset, sigfuse_dtype dtype)
{
    return kit_view(d->backend, m->ptr, offset, dtype, true);
}

/* ---- example_mirror --------------------------------------------------------------------- */

void example_mirror_init(example_device *d, example_mirror *m, size_t n)
{
    memset(m, 0, sizeof *m);
    m->host = (float *)example_xcalloc(n, sizeof(float));
    m->n = n;
    if (d->backend == SIGFUSE_BACKEND_CPU) {
        m->dev = sigfuse_host_buffer(m->host, SIGFUSE_F32);
        return;
    }
    if (example_mem_alloc(d, n * sizeof(float), &m->mem))
        exit(1);
    m->dev = example_mem_buffer(d, &m->mem, 0, SIGFUSE_F32);
}

sigfuse_buffer example_mirror_at(const example_mirror *m, size_t first)
{
    sigfuse_buffer b = m->dev;
    b.offset += first * sizeof(float);
    return b;
}

void example_mirror_push(example_device *d, example_mirror *m, size_t first, size_t count)
{
    if (d->backend != SIGFUSE_BACKEND_CPU &&
        example_mem_write(d, &m->mem, first * sizeof(float), m->host + first, count * sizeof(float)))
        exit(1);
}

void example_mirror_pull(example_device *d, example_mirror *m, size_t first, size_t count)
{
    if (d->backend != SIGFUSE_BACKEND_CPU &&
        example_mem_read(d, &m->mem, first * sizeof(float), m->host + first, count * sizeof(float)))
        exit(1);
}

void example_mirror_free(example_device *d, example_mirror *m)
{
    example_mem_free(d, &m->mem);
    free(m->host);
    memset(m, 0, sizeof *m);
}
