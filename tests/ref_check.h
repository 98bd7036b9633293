/* SPDX-License-Identifier: MIT */
/*
 * What the reference backend's tests (tests/test_ref_*.c) share beyond testutil.h: the
 * storage-dtype Test families.
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

/* ---- Elementwise ops ------------------------------------------------------------------ */

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

#endif
