/* SPDX-License-Identifier: MIT */
/*
 * Argument checking shared by every backend: each public op describes its sizes,
 * buffers and options, and these helpers reject bad ones with the exact status and a
 * message naming the op and the argument, before anything is dispatched or written.
 */
#ifndef SF_CHECK_H
#define SF_CHECK_H

#include "sf_internal.h"

/* sf_role: sf_catalog.h. */
typedef struct sf_arg {
    const char *name;
    const sigfuse_buffer *buf;
    int64_t count;      /* elements (bytes for SF_ROLE_BYTES) the op touches */
    sf_role role;
    bool required;
    /* The shape as the op's header states it ("[batch, hidden]"): an output may be in place
     * on an input only when both state the same shape. NULL: never in place. */
    const char *shape;
} sf_arg;

/* Check n buffers; on success *dtype is the op's float dtype (f32 if none is present). */
sigfuse_status sf_check_buffers(sigfuse_ctx *ctx, const char *op, const sf_arg *args, int n,
                                sigfuse_dtype *dtype);

/* Overlaps, after sf_check_buffers: args[first_output .. n) are outputs. An output that
 * shares any byte with another present buffer fails with SIGFUSE_ERR_INVALID_ARGUMENT,
 * except, when allow_in_place, an output that is exactly an input of the same shape and
 * role (same memory, start, byte length, dtype, sf_role and shape string; not a reduced
 * scalar): equal bytes alone are not enough (c on bias at batch = 4, hidden = 1 are both
 * 16 bytes, but later rows would read a bias that earlier rows overwrote). Overlaps
 * across two different cl_mem handles (sub-buffers of one parent) cannot be seen and are
 * not checked. */
sigfuse_status sf_check_overlaps(sigfuse_ctx *ctx, const char *op, const sf_arg *args, int n, int first_output,
                                 bool allow_in_place);

/* Sizes: each must be >= 0. */
sigfuse_status sf_check_size(sigfuse_ctx *ctx, const char *op, const char *name, int64_t v);
/* out = a * b, failing with SIGFUSE_ERR_INVALID_SIZE when it overflows int64. */
sigfuse_status sf_check_product(sigfuse_ctx *ctx, const char *op, const char *what, int64_t a,
                                int64_t b, int64_t *out);
/* A float option that must be finite and within [lo, hi]. */
sigfuse_status sf_check_range(sigfuse_ctx *ctx, const char *op, const char *name, float v, double lo,
                              double hi);

#endif
