/* SPDX-License-Identifier: MIT */
/*
 * The backend layer the examples share: a context chosen by name (--backend, else
 * SIGFUSE_BACKEND, else cpu), and memory in that backend (host arrays, CUDA device memory
 * or cl_mem) with blocking copies to and from the host, so that each example's training
 * loop reads the same on all three backends.
 *
 * Two levels:
 *  - example_mem: an allocation and its copies; every call returns 0, or prints why it
 *    failed (prefixed with example_program) and returns non-zero;
 *  - example_mirror: a float host array with its copy where the context's ops need it
 *    (the host array itself on cpu); failures print and exit(1).
 *
 * The memory is the kit's (tests/kit/kit.h). Copies are blocking and ordered after the ops
 * already enqueued on the context's stream or queue, so the host sees finished results
 * and may change its arrays as soon as a copy returns.
 */
#ifndef SIGFUSE_EXAMPLE_BACKEND_H
#define SIGFUSE_EXAMPLE_BACKEND_H

#include <stddef.h>

#include "kit.h"
#include "sigfuse.h"

/* ctest's SKIP_RETURN_CODE: the backend is not built or has no device here. */
enum { EXAMPLE_EXIT_SKIP = 77 };

/* The context (ctx is kit.ctx) and the kit's device its memory comes from. */
typedef struct example_device {
    sigfuse_ctx *ctx;
    sigfuse_backend backend;
    kit_dev kit;
} example_device;

/* SIGFUSE_BACKEND when set and not empty, else "cpu": the default of --backend. */
const char *example_backend_default(void);

/* The backend by name (cpu, opencl or cuda). Returns 0 with d->ctx made; else, with a
 * message, EXAMPLE_EXIT_SKIP when the backend is not built, has no device, or this
 * program was built without its runtime (no way to allocate), and error_status on any
 * other failure (an unknown name included). */
int example_device_open(example_device *d, const char *name, int error_status);
/* The context and the device's own state (its context is destroyed too). */
void example_device_close(example_device *d);

/* ---- example_mem: an allocation in the backend's memory ------------------------------- */

typedef struct example_mem {
    void *ptr;      /* host pointer, CUDA device pointer or cl_mem */
    size_t bytes;
} example_mem;

/* At least `bytes` bytes (never 0), aligned to at least SIGFUSE_WORKSPACE_ALIGNMENT, so
 * that any allocation can serve as a workspace. */
int example_mem_alloc(example_device *d, size_t bytes, example_mem *m);
/* NULL-safe; leaves m->ptr NULL. */
void example_mem_free(example_device *d, example_mem *m);
/* Host to backend memory at a byte offset, and back. */
int example_mem_write(example_device *d, const example_mem *m, size_t offset, const void *src, size_t bytes);
int example_mem_read(example_device *d, const example_mem *m, size_t offset, void *dst, size_t bytes);
/* The descriptor sigfuse takes for `m` from byte `offset` on. */
sigfuse_buffer example_mem_buffer(const example_device *d, const example_mem *m, size_t offset, sigfuse_dtype dtype);

/* ---- example_mirror: a host float array mirrored where the ops need it ----------------- */

typedef struct example_mirror {
    float *host;
    sigfuse_buffer dev;   /* element 0 of the copy sigfuse works on */
    example_mem mem;      /* that copy's allocation (none on cpu: dev is host) */
    size_t n;
} example_mirror;

void example_mirror_init(example_device *d, example_mirror *m, size_t n);
/* Elements [first, first + count) of the mirror, as sigfuse sees them. */
sigfuse_buffer example_mirror_at(const example_mirror *m, size_t first);
/* Copies elements [first, first + count) host to device (push) or back (pull); nothing
 * to do on cpu. */
void example_mirror_push(example_device *d, example_mirror *m, size_t first, size_t count);
void example_mirror_pull(example_device *d, example_mirror *m, size_t first, size_t count);
void example_mirror_free(example_device *d, example_mirror *m);

#endif
