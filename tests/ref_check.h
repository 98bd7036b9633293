/* SPDX-License-Identifier: MIT */
/*
 * What the reference backend's tests (tests/test_ref_*.c) share beyond testutil.h: the
 * storage-dtype Test families, freeing a list of buffers, and the elementwise ops' checks
 * (one call against the same call on f64 copies of its inputs, the backward against
 * central differences of the forward).
 */
#ifndef SIGFUSE_REF_CHECK_H
#define SIGFUSE_REF_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "testutil.h"

/* Expands CASES(suite, dir, dtname, DT, ...) once per storage dtype (f32, f16, bf16): the
 * sweeps' Test families, named <dir>_<dtname>_<size>; the trailing arguments go to CASES. */
#define RC_FOR_STORAGE_DTYPES(CASES, suite, dir, ...) \
    CASES(suite, dir, f32, SIGFUSE_F32, __VA_ARGS__)   \
    CASES(suite, dir, f16, SIGFUSE_F16, __VA_ARGS__)   \
    CASES(suite, dir, bf16, SIGFUSE_BF16, __VA_ARGS__)

/* tu_free on each buffer of a list: RC_FREE(&x, &y, &loss). */
void rc_free_bufs(tu_buf *const *bufs, size_t count);
#define RC_FREE(...) \
    rc_free_bufs((tu_buf *const[]){__VA_ARGS__}, sizeof((tu_buf *const[]){__VA_ARGS__}) / sizeof(tu_buf *))

/* Allocate count buffers of n elements of dt and fill each with uniform values in
 * [range[k][0], range[k][1]), in order (so the values follow from the seed alone). */
void rc_random_bufs(tu_buf *bufs, int count, sigfuse_dtype dt, int64_t n, tu_rng *rng, const double (*range)[2]);

/* ---- Elementwise ops ------------------------------------------------------------------ */

/* One elementwise op in one direction: in[] its inputs and out[] its outputs in the API's
 * argument order (sigmoid backward: y, dy -> dx; glu backward: a, b, dy -> da, db). */
typedef struct rc_ew_call rc_ew_call;
struct rc_ew_call {
    const char *name;     /* "sigmoid", "glu": in messages */
    int op;               /* the test file's own enum */
    bool backward;
    float beta;
    int inputs, outputs;  /* how many the call takes */
    int max_outputs;      /* the op's outputs in either direction: the rest must stay untouched */
    sigfuse_status (*run)(sigfuse_ctx *ctx, const rc_ew_call *call, int64_t n, const tu_buf *const *in,
                          const tu_buf *const *out);
};

/* The call in dtype dt at size n on random inputs (range[k] for input k, drawn from `seed`)
 * against the same call on f64 copies of them: every output the f64 one rounded once,
 * the outputs the call does not take untouched (all of them for n = 0), the inputs'
 * guards intact. */
void rc_check_ew_dtype(sigfuse_ctx *ctx, const rc_ew_call *call, sigfuse_dtype dt, int64_t n, uint64_t seed,
                       const double (*range)[2]);

/* The sizes an elementwise op is swept over in each storage dtype: empty, one, a short
 * tail and two long odd ones; check(op, backward, dtype, n, beta) runs one case. */
#define RC_ELEMENTWISE_SIZE_CASES(suite, dir, dtname, DT, check, op)                        \
    Test(suite, dir##_##dtname##_n0) { check(op, #dir[0] == 'b', DT, 0, 1.0f); }             \
    Test(suite, dir##_##dtname##_n1) { check(op, #dir[0] == 'b', DT, 1, 1.0f); }             \
    Test(suite, dir##_##dtname##_n7) { check(op, #dir[0] == 'b', DT, 7, 1.0f); }             \
    Test(suite, dir##_##dtname##_n1023) { check(op, #dir[0] == 'b', DT, 1023, 1.0f); }       \
    Test(suite, dir##_##dtname##_n4097) { check(op, #dir[0] == 'b', DT, 4097, 1.0f); }

/* Every (direction, storage dtype, size) Test of one op: forward_f32_n0 .. backward_bf16_n4097. */
#define RC_ELEMENTWISE_DTYPE_TESTS(suite, check, op)                             \
    RC_FOR_STORAGE_DTYPES(RC_ELEMENTWISE_SIZE_CASES, suite, forward, check, op) \
    RC_FOR_STORAGE_DTYPES(RC_ELEMENTWISE_SIZE_CASES, suite, backward, check, op)

/* The forward of an elementwise op with `moved` in place of the input the differences
 * move (the others fixed in `problem`), into `out` (f64). */
typedef void (*rc_forward_at)(sigfuse_ctx *ctx, const void *problem, const tu_buf *moved, tu_buf *out);

/* grad, the backward's gradient for the input `in` at upstream gradient dy, against central
 * differences of the forward: all of `in` moved at once by +-tu_fd_step (the op is
 * elementwise), dy (y+ - y-) / (x+ - x-) within 1e-6 relative and 1e-9 absolute. A mismatch
 * stops the test, naming `what`, the element, in's value and `other`'s (may be NULL). */
void rc_assert_elementwise_fd(const char *what, sigfuse_ctx *ctx, rc_forward_at forward, const void *problem,
                              const char *in_name, const tu_buf *in, const tu_buf *dy, const tu_buf *grad,
                              const char *other_name, const tu_buf *other);

#endif
