/* SPDX-License-Identifier: MIT */
/*
 * What the reference backend's tests (tests/test_ref_*.c) share beyond testutil.h: the
 * storage-dtype Test families, freeing a list of buffers, the elementwise ops' checks (one
 * call against the same call on f64 copies of its inputs, the backward against central
 * differences of the forward), and one harness for the two losses (bce_with_logits,
 * sigmoid_focal), whose checks have the same shape: finite differences of the loss, the
 * f64 result rounded once to each storage dtype, every subset of the outputs.
 */
#ifndef SIGFUSE_REF_CHECK_H
#define SIGFUSE_REF_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "testutil.h"

/* In a test file: `ctx`, the CPU context of the running test, made and destroyed around
 * each test of the suites declared with TestSuite(name, .init = open_ctx, .fini =
 * close_ctx) (Criterion runs every test in a process of its own). */
#define RC_CPU_CTX_FIXTURE                                  \
    static sigfuse_ctx *ctx;                                \
    static void open_ctx(void) { ctx = tu_cpu_ctx(); }      \
    static void close_ctx(void) { sigfuse_ctx_destroy(ctx); }

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

/* ---- The losses: bce_with_logits and sigmoid_focal -------------------------------------- */

typedef enum rc_loss_op { RC_BCE, RC_FOCAL } rc_loss_op;

/* A loss call's options; each op reads its own (BCE: eps, threshold; focal: alpha, gamma). */
typedef struct rc_loss_opt {
    int64_t rows, cols;
    sigfuse_reduction red;
    double eps, grad_scale, threshold;
    double alpha, gamma;
} rc_loss_opt;

/* The API's defaults: BCE without smoothing, grad_scale 1, threshold 0.5; focal with
 * grad_scale 1 at the given alpha and gamma. */
rc_loss_opt rc_bce_opt(int64_t rows, int64_t cols, sigfuse_reduction red);
rc_loss_opt rc_focal_opt(int64_t rows, int64_t cols, sigfuse_reduction red, double alpha, double gamma);

/* A call's buffers; a NULL member is absent (focal takes x, y, dl, loss and dx). */
typedef struct rc_loss_io {
    tu_buf *x, *y, *w, *pw, *dl;
    tu_buf *loss, *dx, *probs, *labels;
} rc_loss_io;

sigfuse_status rc_loss_run(sigfuse_ctx *ctx, rc_loss_op op, const rc_loss_opt *o, const rc_loss_io *io);
/* The same, stopping the test unless it succeeds. */
void rc_loss_must_run(sigfuse_ctx *ctx, rc_loss_op op, const rc_loss_opt *o, const rc_loss_io *io);

/* dlogits against central differences of the loss (tu_expect_loss_fd), in f64, on random
 * logits in [-8, 8), targets soft (uniform in [0, 1)) or 0/1, BCE's weight in [0.1, 2.5)
 * and pos_weight in [0.2, 4), dloss_in in [-2, 2), each passed or not as the flags say.
 * name: the seed's log line and the messages. */
void rc_loss_fd_check(sigfuse_ctx *ctx, rc_loss_op op, const rc_loss_opt *o, bool weight, bool pos_weight,
                      bool dloss_in, bool soft_targets, uint64_t seed, const char *name);

/* Every output of the op in dtype dt (o's options; targets u8 or dt, BCE's labels u8 or
 * dt, each buffer at its own byte offset when `offsets`) equal to the f64 call on the same
 * inputs rounded once; the empty reductions' values; the inputs' guards. */
void rc_loss_dtype_case(sigfuse_ctx *ctx, rc_loss_op op, sigfuse_dtype dt, const rc_loss_opt *o, bool u8_targets,
                        bool u8_labels, bool offsets, const char *name);

/* Every non-empty subset of the op's outputs (BCE: loss, dlogits, probs, labels; focal:
 * loss, dlogits) gives the bytes of all of them at once and leaves the others untouched,
 * on random inputs with an infinite logit of either sign. */
void rc_loss_subsets_case(sigfuse_ctx *ctx, rc_loss_op op, sigfuse_dtype dt, const rc_loss_opt *o, uint64_t seed,
                          const char *name);

/* The sweep's Tests: dtype_<dtname>_<rows>x<cols> for each storage dtype, from an empty
 * tensor to a long row; sweep(dtype, rows, cols) runs the reductions and target kinds. */
#define RC_LOSS_SHAPE_CASES(suite, dir, dtname, DT, sweep)                 \
    Test(suite, dir##_##dtname##_0x0) { sweep(DT, 0, 0); }                 \
    Test(suite, dir##_##dtname##_0x5) { sweep(DT, 0, 5); }                 \
    Test(suite, dir##_##dtname##_1x1) { sweep(DT, 1, 1); }                 \
    Test(suite, dir##_##dtname##_7x3) { sweep(DT, 7, 3); }                 \
    Test(suite, dir##_##dtname##_33x31) { sweep(DT, 33, 31); }             \
    Test(suite, dir##_##dtname##_1x4097) { sweep(DT, 1, 4097); }
#define RC_LOSS_DTYPE_TESTS(suite, sweep) RC_FOR_STORAGE_DTYPES(RC_LOSS_SHAPE_CASES, suite, dtype, sweep)

/* The loss alone (o's reduction), twice on the same random f32-range inputs: logits
 * uniform in [-20, 20) in dt, targets in tdt (u8: 0 / 1, else uniform in [0, 1)), drawn
 * from `seed`; the two results must be the same bytes. */
void rc_loss_expect_deterministic(sigfuse_ctx *ctx, rc_loss_op op, const rc_loss_opt *o, sigfuse_dtype dt,
                                  sigfuse_dtype tdt, uint64_t seed, const char *name);

/* The upstream problem: a 2x3 f64 tensor of these logits and targets. */
extern const double rc_upstream_x[6], rc_upstream_y[6];

/* Reductions, grad_scale and upstream gradients there, against elem_loss / elem_grad (the
 * elementwise loss and gradient at grad_scale 1 without dloss_in): dlogits is elem_grad
 * times grad_scale, times dloss_in (a tensor for NONE, one f32 for SUM / MEAN, when
 * with_dloss), over 6 for MEAN; the loss is elem_loss for NONE (neither scales it), its
 * sum for SUM and mean for MEAN. Each within grad_rtol / loss_rtol relative plus atol. */
void rc_loss_upstream_case(sigfuse_ctx *ctx, rc_loss_op op, const rc_loss_opt *o, bool with_dloss,
                           const double elem_loss[6], const double elem_grad[6], double grad_rtol, double loss_rtol,
                           double atol);

/* The upstream cases both losses get, as Tests of `suite`: check(red, grad_scale, with_dloss). */
#define RC_LOSS_UPSTREAM_TESTS(suite, check)                                                  \
    Test(suite, reduction_sum_f64_2x3) { check(SIGFUSE_REDUCTION_SUM, 1.0, false); }          \
    Test(suite, reduction_mean_f64_2x3) { check(SIGFUSE_REDUCTION_MEAN, 1.0, false); }        \
    Test(suite, grad_scale_none_f64_2x3) { check(SIGFUSE_REDUCTION_NONE, 3.0, false); }       \
    Test(suite, dloss_in_tensor_none_f64_2x3) { check(SIGFUSE_REDUCTION_NONE, 1.0, true); }

/* A 1 x n call in f64 from arrays of logits and targets (o's reduction): the loss (n
 * elements for NONE, else one) into `loss` and dlogits into `dx`; either may be NULL, and
 * is then not asked for. */
void rc_loss_eval_f64(sigfuse_ctx *ctx, rc_loss_op op, const rc_loss_opt *o, int64_t n, const double *xs,
                      const double *ys, double *loss, double *dx);

/* The smallest positive subnormal of a float dtype. */
double rc_smallest_subnormal(sigfuse_dtype dt);

#endif
