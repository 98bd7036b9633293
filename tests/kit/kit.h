/* SPDX-License-Identifier: MIT */
/*
 * The kit: memory on a sigfuse backend's device, the same calls whichever backend it is
 * (the host for the cpu reference, CUDA, OpenCL), for the tests, the benchmark and the
 * examples. No test framework: every call returns false (NULL, 0) on failure and leaves
 * the reason in kit_error().
 *
 * A kit_dev is a sigfuse context on the backend's default device (sigfuse_ctx_create) and
 * what its memory needs: the OpenCL context, the CUDA or OpenCL stream / queue the
 * transfers are ordered with. With KIT_TIMED it makes a stream (CUDA: non-blocking) or a
 * queue (OpenCL: in order, profiling) of its own and the context on it, so that the timer
 * can bound the work enqueued between its start and stop (events).
 *
 * Memory is a handle: a host pointer, a CUDA device pointer or a cl_mem. Transfers to and
 * from the host are blocking and come after the work already enqueued on the context
 * (the OpenCL ones follow whatever queue the context has now, in order or not); fills and
 * copies are enqueued. A view is the sigfuse_buffer of a byte offset into a handle: the
 * address in ptr (`plain`, host and CUDA) or the handle with the offset field (always for
 * a cl_mem).
 *
 * kit_buf is a guarded allocation: KIT_GUARD_BYTES of guard pattern on both sides of the
 * data, which starts `misalign` elements past that (64-byte aligned) boundary and is
 * poisoned (every byte 0xFF: NaN in the float dtypes) until written.
 */
#ifndef SIGFUSE_KIT_H
#define SIGFUSE_KIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sigfuse.h"
#ifdef SIGFUSE_WITH_OPENCL
#include "sigfuse_opencl.h"
#endif
#ifdef SIGFUSE_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kit_ops kit_ops;

typedef struct kit_dev {
    sigfuse_backend backend;
    const char *name;     /* "cpu", "cuda", "opencl" */
    sigfuse_ctx *ctx;     /* the context the memory is ordered with; the kit destroys it */
    const kit_ops *ops;
    void *state;          /* the backend's own */
} kit_dev;

/* kit_open's flags. */
enum { KIT_TIMED = 1 };

/* The backend's name ("cpu", "cuda", "opencl"), and the backend of a name (0 if none). */
const char *kit_backend_name(sigfuse_backend b);
sigfuse_backend kit_backend_by_name(const char *name);
/* Whether the library has the backend with a device, and this program its memory. */
bool kit_present(sigfuse_backend b);
/* Open a device: SIGFUSE_SUCCESS, or the failure (SIGFUSE_ERR_NOT_BUILT also when this
 * program was built without the backend's runtime; SIGFUSE_ERR_NO_DEVICE) with its
 * message in kit_error(). d is zeroed first, so kit_close may follow any outcome. */
sigfuse_status kit_open(kit_dev *d, sigfuse_backend b, unsigned flags);
void kit_close(kit_dev *d);
/* Why the last failing kit call on this thread failed. */
const char *kit_error(void);

/* A handle to `bytes` bytes (at least 1, aligned to 64), or NULL. */
void *kit_alloc(kit_dev *d, size_t bytes);
void kit_free(kit_dev *d, void *h);
/* Host to device at byte `off` of h, and back (blocking). */
bool kit_upload(kit_dev *d, void *h, size_t off, const void *src, size_t bytes);
bool kit_download(kit_dev *d, const void *h, size_t off, void *dst, size_t bytes);
/* Every byte of [off, off + bytes) of h set to `byte`, and a copy between two handles
 * (or within one, not overlapping); both enqueued. */
bool kit_fill(kit_dev *d, void *h, size_t off, int byte, size_t bytes);
bool kit_copy(kit_dev *d, void *dst, size_t dst_off, const void *src, size_t src_off, size_t bytes);
/* Byte `off` of a handle of backend b, as sigfuse takes it: ptr + off when plain (but
 * for a cl_mem), else the handle and the offset field. */
sigfuse_buffer kit_view(sigfuse_backend b, const void *h, size_t off, sigfuse_dtype dtype, bool plain);
/* Wait for everything enqueued on the context. */
bool kit_sync(kit_dev *d);
/* Free device memory (0: unknown, as on the host and OpenCL) and the last-level cache
 * that timed work must not hit in (0: none to rotate past). */
size_t kit_free_bytes(kit_dev *d);
size_t kit_cache_bytes(kit_dev *d);
/* Time the work enqueued between start and stop (stop waits for it). KIT_TIMED devices. */
bool kit_timer_start(kit_dev *d);
bool kit_timer_stop(kit_dev *d, double *seconds);

#ifdef SIGFUSE_WITH_OPENCL
/* The OpenCL context of the device, and the queue its sigfuse context has now. */
cl_context kit_opencl_context(const kit_dev *d);
cl_command_queue kit_opencl_queue(const kit_dev *d);
#endif
#ifdef SIGFUSE_WITH_CUDA
/* The stream its sigfuse context enqueues on (NULL: the legacy default stream). */
cudaStream_t kit_cuda_stream(const kit_dev *d);
#endif

/* The next number of a splitmix64 stream at *state: the same inputs on every platform. */
static inline uint64_t kit_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* ---- Guarded buffers ------------------------------------------------------------------ */

#define KIT_GUARD_BYTES 64
#define KIT_GUARD_BYTE 0x5A
#define KIT_POISON_BYTE 0xFF

typedef struct kit_buf {
    kit_dev *dev;
    void *h;
    size_t data_off;      /* where the data starts in h */
    size_t bytes, total;  /* data bytes; all of h */
    sigfuse_buffer desc;  /* the data's view: plain when misalign is 0 */
} kit_buf;

/* n elements `misalign` elements past a guard, the guards written, the data poisoned. */
bool kit_buf_alloc(kit_dev *d, kit_buf *b, sigfuse_dtype dtype, int64_t n, int misalign);
void kit_buf_free(kit_buf *b);
/* The data from the host (b->bytes bytes); the whole allocation is written, the guards
 * again with it (oclgrind's uninitialised-value tracking loses a buffer written at an
 * offset). */
bool kit_buf_upload(kit_buf *b, const void *src);
bool kit_buf_download(const kit_buf *b, void *dst);
/* The data poisoned again (enqueued). */
bool kit_buf_poison(kit_buf *b);
/* Whether the guards hold their pattern, and (untouched may be NULL) the data its poison. */
bool kit_buf_check(const kit_buf *b, bool *guards_ok, bool *untouched);

#ifdef __cplusplus
}
#endif

#endif /* SIGFUSE_KIT_H */
