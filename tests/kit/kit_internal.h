/* SPDX-License-Identifier: MIT */
/* The kit's backends (kit_host.c, kit_cuda.c, kit_opencl.c) behind kit.c's calls. */
#ifndef SIGFUSE_KIT_INTERNAL_H
#define SIGFUSE_KIT_INTERNAL_H

#include "kit.h"

/* Each entry is called with bytes > 0; open fills d->ctx and d->state. */
struct kit_ops {
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

/* Set kit_error() (printf-style) and return false. */
bool kit_fail(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* The context on the backend's default device, or a failure status with the message. */
sigfuse_status kit_default_ctx(kit_dev *d);

#endif
