/* SPDX-License-Identifier: MIT */
/*
 * Test helpers shared by every test file: guarded, poisoned buffers in any dtype, a
 * seeded random generator whose seed is printed, and comparisons with tolerances and in
 * ulps against double truth.
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
/* A buffer's elements as a malloc'd array of doubles (the caller frees it). */
double *tu_values(const tu_buf *b);
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

/* ---- Accuracy in ulps (docs/design.md, Numerics) -------------------------------------
 *
 * The device backends compute in f32 from inputs already rounded to the storage dtype; the
 * truth is the reference run on f64 copies of those inputs (double, correctly rounded in
 * practice). Each output element gets a magnitude m >= |truth| from the inputs: the size
 * at which its f32 evaluation rounds. The rules:
 *  - f32: |got - truth| <= 4 ulp_f32(m). m = |truth| where the output is well conditioned;
 *    m = the largest term where terms cancel (4 ulp of the largest term); m = sum |terms|
 *    (times |f'| down a chain) where rounding the inputs of a step alone moves the output
 *    (4 ulp times the condition number sum|terms| / |sum|).
 *  - f16 / bf16: got is the storage format's rounding of a value within the f32 bound of
 *    the truth, +-1 ulp of the format (where m = |truth|: round_to_dtype(truth) +-1 ulp).
 *  - inf and NaN exactly where the truth has them (same sign of inf); a truth past the
 *    format's range must round to the same infinity; u8 exactly.
 *  - ulp_f32 of a subnormal (or zero) is 2^-149.
 * m comes from tu_mag arithmetic below, mirroring each op's formula. */

/* The f32 bound, in ulps of m (docs/design.md, Numerics: 4). */
#define TU_ULP_LIMIT_F32 4.0

/* The f32 bound of one output: TU_ULP_LIMIT_F32, except for the long formulas listed in
 * testutil.c, whose f32 evaluation rounds more often than 4 ulp can hold (each limit
 * there says why). op is the case name up to its "(", what the output's name. */
double tu_ulp_limit_f32(const char *case_name, const char *what);

/* One unit in the last place of |v| in f32 (2^-149 below 2^-126). */
double tu_ulp32(double v);

/* A value with the magnitude at which its f32 evaluation rounds: v the exact value, m the
 * error scale (0: the device has it exactly, e.g. an input). Each operation's result has
 * m = max(|result|, the operands' m carried through): sums carry m_a + m_b (the largest
 * term under cancellation), products max(m_a |b|, |a| m_b), functions |f'(a)| m_a (the
 * condition number). Normalised with max, a well-conditioned chain keeps m = |v|, so its
 * several roundings share the 4 ulp. */
typedef struct tu_mag {
    double v, m;
} tu_mag;
tu_mag tu_m_exact(double v);
tu_mag tu_m_add(tu_mag a, tu_mag b);
tu_mag tu_m_sub(tu_mag a, tu_mag b);
tu_mag tu_m_mul(tu_mag a, tu_mag b);
tu_mag tu_m_div(tu_mag a, tu_mag b);
/* f(a) given f(a) and f'(a). */
tu_mag tu_m_fn(tu_mag a, double fa, double dfa);
tu_mag tu_m_sigmoid(tu_mag a);
tu_mag tu_m_tanh(tu_mag a);
tu_mag tu_m_sech2(tu_mag a);
tu_mag tu_m_softplus(tu_mag a);
tu_mag tu_m_pow(tu_mag a, double gamma);
/* beta * x as the device forms it: exact when the f32 product is (beta 1, 0, -0.5). */
tu_mag tu_m_scaled(double beta, double x);
/* m, with non-finite magnitudes (an inf or NaN input) taken as 0: the truth rules then. */
double tu_m_scale(tu_mag a);

double tu_sigmoid_d(double x);

/* The per-op magnitudes, in one place (the formulas of docs/design.md, Ops, as the
 * kernels evaluate them in f32). Inputs are the values the device holds. */
/* Elementwise: op is an sf_op; in[] its inputs in sf_ew_call order (x | y, dy | a, b,
 * dy); out 0 the first output (y, dx or da), 1 db. */
double tu_scale_ew(int op, double beta, const double *in, int out);
/* BCE, per element, before grad_scale / dloss_in / MEAN's 1/n: *loss, *grad (either may
 * be NULL). eps is label smoothing, w the weight (1 when absent), p the pos_weight. */
void tu_scale_bce(double x, double y, double w, double p, double eps, double *loss, double *grad);
/* The same at a logit the device computed (a head's z, with its magnitude). */
void tu_scale_bce_at(tu_mag x, double y, double w, double p, double eps, tu_mag *loss, tu_mag *grad);
/* Focal, per element (alpha < 0: no alpha term). */
void tu_scale_focal(double x, double y, double alpha, double gamma, double *loss, double *grad);
void tu_scale_asymmetric(double x, double y, double gpos, double gneg, double margin, double *loss, double *grad);
/* LSTM cell, one (row, unit): gates i, f, g, o as the three parts that the device sums
 * (gates_x, gates_h or 0, bias or 0; has_h / has_b say which were given), c_prev, and for
 * the backward dh, dc (0 where absent). Outputs' magnitudes: c, h; di df dg do, dc_prev. */
typedef struct tu_lstm_in {
    double gx[4], gh[4], b[4];
    bool has_h, has_b;
    double cp, dh, dc;
} tu_lstm_in;
void tu_scale_lstm(const tu_lstm_in *in, double *c, double *h, double dgates[4], double *dcp);
/* GRU cell, one (row, unit): gates r, z, n of gi, gh, bias_x, bias_h (0 where absent),
 * h_prev, dh. Outputs: h; dgates_x (r, z, n), dgates_h (r, z, n), dh_prev. */
typedef struct tu_gru_in {
    double gi[3], gh[3], bx[3], bh[3];
    bool has_bx, has_bh;
    double hp, dh;
} tu_gru_in;
void tu_scale_gru(const tu_gru_in *in, double *h, double dgx[3], double dgh[3], double *dhp);

/* Multi-label heads: Z = X W^T + b through an f32 GEMM, then sigma / BCE per logit, then
 * dX = G W, dW = G^T X, dbias = column sums of G (G = the BCE gradient times
 * grad_factor = |grad_scale| / (N L for MEAN)). A product or sum of n terms is rounded at
 * sum |terms|, times log2(n) for n > 2: the GEMM (and the chunked sums) add their terms in
 * an order of their own, rounding each partial sum, and the errors of a blocked or tree
 * order grow with its depth (4 ulp of sum |terms| alone was exceeded, 4.15 ulp at D = 900).
 * g_bits: the significant bits of G as the products read it (24: kept in f32; 11 / 8: stored
 * in f16 / bf16 first). dtype: the head's (the buffers may be f64 copies); for f16 / bf16 z
 * also carries one 16-bit ulp: the device may round its dot product to the neighbour of
 * the reference's. Any output pointer may be NULL; ml is one element. y NULL: predict. */
void tu_scale_head(const tu_buf *x, const tu_buf *w, const tu_buf *bias, const tu_buf *y, const tu_buf *pos_weight,
                   int64_t n, int64_t d, int64_t l, sigfuse_dtype dtype, double grad_factor, bool mean, int g_bits,
                   double *mz, double *mp, double *ml, double *mdx, double *mdw, double *mdb);

/* The comparison of one output. got holds the device's values (storage dtype), truth the
 * reference's (f64, or u8 for labels), scale each element's m (NULL: |truth|). describe
 * (may be NULL) writes the inputs of element i for the message. Each failing element (the
 * first 3) is a cr_expect with a one-line repro; the worst element is kept per op, dtype
 * and output for tu_ulp_report. Returns the number of failing elements. */
typedef void (*tu_describe_fn)(const void *ctx, int64_t i, char *buf, size_t size);
int64_t tu_expect_ulp(const char *case_name, const char *what, const tu_buf *got, const tu_buf *truth,
                      const double *scale, tu_describe_fn describe, const void *describe_ctx);
/* cr_log_info of the worst case per op, dtype and output seen so far in this process
 * (Criterion runs each test in its own), then forgets them. */
void tu_ulp_report(void);

/* A generic describe: up to 8 named inputs, element i of the output reading element
 * ((i / a) * mul + (a ? (i % a) : i) % (mod ? mod : inf) + add) of each (a = 0: i itself;
 * mul = 0 and a = cols: a per-column vector). */
typedef struct tu_in_ref {
    const char *name;
    const tu_buf *b;
    int64_t a, mul, mod, add;
} tu_in_ref;
typedef struct tu_inputs {
    int n;
    tu_in_ref in[8];
} tu_inputs;
void tu_inputs_add(tu_inputs *ins, const char *name, const tu_buf *b, int64_t a, int64_t mul, int64_t mod,
                   int64_t add);
void tu_describe_inputs(const void *ins, int64_t i, char *buf, size_t size);

/* Whether a message names buffer `name` as a word ("c", not the c of "bias_chunk"). */
bool tu_names_buffer(const char *msg, const char *name);

#ifdef __cplusplus
}
#endif

#endif
