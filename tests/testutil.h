/*
 * Test helpers shared by every test file: guarded, poisoned buffers in any dtype, a
 * seeded random generator whose seed is printed, and comparisons with tolerances.
 */
#ifndef SIGFUSE_TESTUTIL_H
#define SIGFUSE_TESTUTIL_H

#include <stdbool.h>
#include <stdint.h>

#include "sigfuse.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A host buffer of n elements with guard bytes on both sides. The elements start out
 * poisoned (every byte 0xFF: NaN in f32/f16/bf16/f64, 255 in u8), the guards hold a
 * fixed pattern that must survive any op. */
typedef struct tu_buf {
    sigfuse_buffer desc;   /* what the op receives (memory HOST, the dtype, ptr, offset) */
    unsigned char *base;   /* start of the allocation (front guard) */
    int64_t n;
    sigfuse_dtype dtype;
    size_t bytes;          /* n * element size */
} tu_buf;

#define TU_GUARD_BYTES 64

/* Allocate (aborts the test on failure). offset_bytes is put into desc.offset instead of
 * ptr (the data still starts after the front guard): it exercises offset handling. The
 * data address is offset_bytes past a 64-byte boundary, so offset_bytes must be a
 * multiple of the element size (the API rejects misaligned elements). */
tu_buf tu_alloc(sigfuse_dtype dtype, int64_t n);
tu_buf tu_alloc_offset(sigfuse_dtype dtype, int64_t n, size_t offset_bytes);
void tu_free(tu_buf *b);
/* Address of element 0. */
void *tu_data(const tu_buf *b);
/* Re-poison every element (guards untouched). */
void tu_poison(tu_buf *b);
/* Element i as a double (u8 as 0/1), and a store with the library's rounding. */
double tu_get(const tu_buf *b, int64_t i);
void tu_set(tu_buf *b, int64_t i, double v);
void tu_set_all(tu_buf *b, const double *values);
/* True when both guards still hold their pattern. */
bool tu_guards_ok(const tu_buf *b);
/* True when every element byte still holds the poison (the op wrote nothing). */
bool tu_untouched(const tu_buf *b);
/* A buffer of n elements from a double array. */
tu_buf tu_from(sigfuse_dtype dtype, int64_t n, const double *values);

/* splitmix64 random numbers. tu_rng_seed logs the seed with the case name so that a
 * failure can be re-run. */
typedef struct tu_rng { uint64_t state; } tu_rng;
tu_rng tu_rng_seed(uint64_t seed, const char *case_name);
uint64_t tu_next(tu_rng *r);
double tu_uniform(tu_rng *r, double lo, double hi);
/* Fill with uniform values in [lo, hi), rounded to the buffer's dtype. */
void tu_fill_uniform(tu_buf *b, tu_rng *r, double lo, double hi);
/* Fill with 0/1 (u8) or 0.0/1.0 (floats) at random. */
void tu_fill_binary(tu_buf *b, tu_rng *r);

/* |got - want| <= atol + rtol |want|, with NaN equal only to NaN and infinities equal
 * only to themselves. */
bool tu_close(double got, double want, double rtol, double atol);

/* NaN equals NaN; -0 equals +0; otherwise ==. */
bool tu_same(double a, double b);
/* A new buffer of `dtype` holding src's values, each stored with the library's rounding
 * (exact when dtype is at least as wide, e.g. any storage dtype to f64). */
tu_buf tu_copy_as(const tu_buf *src, sigfuse_dtype dtype);
/* b's descriptor, or NULL for a NULL b (an optional buffer left out). */
const sigfuse_buffer *tu_opt_desc(const tu_buf *b);
/* The k-th buffer of a call: at a byte offset of (1 + 3k) elements when `offsets` (each
 * aligned to its element, and different per buffer), else a plain tu_alloc. */
tu_buf tu_alloc_kth(sigfuse_dtype dtype, int64_t n, bool offsets, int k);
/* True when both hold the same bytes. */
bool tu_bytes_equal(const tu_buf *x, const tu_buf *y);

/* "Rounded once": got must be want (computed in f64) rounded once to got's dtype, element
 * by element (tu_same; a poisoned, unwritten element is NaN and fails unless want is NaN),
 * with its guards intact. tu_assert_rounded stops the test at the first difference;
 * tu_expect_rounded reports the first one (one message per output) and goes on. */
void tu_assert_rounded(const tu_buf *got, const tu_buf *want, const char *what);
void tu_expect_rounded(const tu_buf *got, const tu_buf *want, const char *what, const char *name);
/* got holds want's bytes exactly, with its guards intact; stops the test otherwise. */
void tu_assert_bitwise(const tu_buf *got, const tu_buf *want, const char *what);

/* The central-difference step for an input x: 1e-6 relative, 1e-6 absolute near 0. */
double tu_fd_step(double x);

/* Writes a loss op's loss at the problem's current logits into `loss` (f64). */
typedef void (*tu_loss_at)(sigfuse_ctx *ctx, void *problem, tu_buf *loss);

/* The losses' gradient check, in f64: dx (dlogits, computed at x) against central
 * differences of the objective grad_scale * dloss_in . loss (dloss_in NULL: all ones).
 * With an elementwise loss (reduction NONE, loss the size of x) every logit moves at
 * once; with a reduced one (one element) one logit moves per pair of calls. x holds its
 * values again afterwards. Each mismatch is a cr_expect naming `name`, the logit and y. */
void tu_expect_loss_fd(const char *name, sigfuse_ctx *ctx, tu_loss_at loss_at, void *problem, bool elementwise,
                       tu_buf *x, const tu_buf *y, const tu_buf *dx, double grad_scale, const tu_buf *dloss_in);

/* Stops the test unless `call` (a sigfuse op on ctx) returns SIGFUSE_SUCCESS. */
#define TU_OK(ctx, call)                                                               \
    do {                                                                               \
        sigfuse_status st_ = (call);                                                   \
        cr_assert_eq(st_, SIGFUSE_SUCCESS, "%s: %s (%s)", #call,                       \
                     sigfuse_status_string(st_), sigfuse_ctx_last_error(ctx));          \
    } while (0)

/* A CPU reference context (aborts the test on failure). */
sigfuse_ctx *tu_cpu_ctx(void);

#ifdef __cplusplus
}
#endif

#endif
