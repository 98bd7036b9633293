/* SPDX-License-Identifier: MIT */
/* The kit's backends (kit_host.c, kit_cuda.c, kit_opencl.c) behind kit.c's calls. */
#ifndef SIGFUSE_KIT_INTERNAL_H
#define SIGFUSE_KIT_INTERNAL_H

#include <stdio.h>

#include "kit.h"

/* Each entry is called with bytes > 0. open makes d->ctx; d->state is state_bytes of
 * zeros by then, freed after close. */
struct kit_ops {
    size_t state_bytes;
    sigfuse_status (*open)(kit_dev *d, unsigned flags);
    void (*close)(kit_dev *d);
    void *(*alloc)(kit_dev *d, size_t bytes);
    void (*free)(kit_dev *d, void *h);
    bool (*upload)(kit_dev *d, void *h, size_t off, const void *src, size_t bytes);
    bool (*download)(kit_dev *d, const void *h, size_t off, void *dst, size_t bytes);
    bool (*fill)(kit_dev *d, void *h, size_t off, int byte, size_t bytes);
    bool (*copy)(kit_dev *d, void *dst, size_t dst_off, const void *src, size_t src_off, size_t bytes);
    bool (*sync)(kit_dev *d);
    size_t (*free_bytes)(kit_dev *d);
    size_t (*cache_bytes)(kit_dev *d);
    bool (*timer_start)(kit_dev *d);
    bool (*timer_stop)(kit_dev *d, double *seconds);
};

extern const kit_ops kit_host_ops;
#ifdef SIGFUSE_WITH_CUDA
extern const kit_ops kit_cuda_ops;
#endif
#ifdef SIGFUSE_WITH_OPENCL
extern const kit_ops kit_opencl_ops;
#endif

/* Set kit_error() (printf-style) and give false. */
char *kit_error_buffer(void);
#define KIT_ERROR_BYTES 512
static inline bool kit_failed(int written)
{
    (void)written;
    return false;
}
#define kit_fail(...) kit_failed(snprintf(kit_error_buffer(), KIT_ERROR_BYTES, __VA_ARGS__))
/* st, the status of making d->ctx, with its message when it failed. */
sigfuse_status kit_made_ctx(kit_dev *d, sigfuse_status st);
/* The context on the backend's default device. */
sigfuse_status kit_default_ctx(kit_dev *d);

#endif
