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

/* A CPU reference context (aborts the test on failure). */
sigfuse_ctx *tu_cpu_ctx(void);

#ifdef __cplusplus
}
#endif

#endif
