/* SPDX-License-Identifier: MIT */
/*
 * The CPU reference's LSTM and GRU cells through the public API: tiny hand-computed cases,
 * every gradient against central finite differences of a random scalar objective in f64,
 * the bias gradient as a row-order sum, extremes, f32/f16/bf16 results equal to the f64
 * result rounded once, optional outputs, aliasing and byte offsets.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "sf_internal.h"
#include "testutil.h"

/* The descriptor of an optional buffer: NULL when the buffer is not in use. */
static const sigfuse_buffer *opt(const tu_buf *b, bool present)
{
    return present ? &b->desc : NULL;
}

/* ==== LSTM ================================================================================ */

/* Every tensor of one LSTM problem; `has_*` say which optional ones are passed. */
typedef struct lstm {
    int64_t B, H;
    bool has_gh, has_bias, has_dh, has_dc;
    tu_buf gx, gh, bias, c_prev, dh, dc;      /* inputs */
    tu_buf h, c, dgates, dc_prev, dbias;      /* outputs */
} lstm;

static lstm lstm_alloc(sigfuse_dtype dt, int64_t B, int64_t H)
{
    lstm p;
    memset(&p, 0, sizeof p);
    p.B = B;
    p.H = H;
    p.has_gh = p.has_bias = p.has_dh = p.has_dc = true;
    p.gx = tu_alloc(dt, B * 4 * H);
    p.gh = tu_alloc(dt, B * 4 * H);
    p.bias = tu_alloc(dt, 4 * H);
    p.c_prev = tu_alloc(dt, B * H);
    p.dh = tu_alloc(dt, B * H);
    p.dc = tu_alloc(dt, B * H);
    p.h = tu_alloc(dt, B * H);
    p.c = tu_alloc(dt, B * H);
    p.dgates = tu_alloc(dt, B * 4 * H);
    p.dc_prev = tu_alloc(dt, B * H);
    p.dbias = tu_alloc(dt, 4 * H);
    return p;
}

#define LSTM_TENSORS 11   /* the first 6 are the inputs */

static void lstm_bufs(lstm *p, tu_buf *list[LSTM_TENSORS])
{
    tu_buf *all[LSTM_TENSORS] = {&p->gx, &p->gh, &p->bias, &p->c_prev, &p->dh, &p->dc,
                                 &p->h, &p->c, &p->dgates, &p->dc_prev, &p->dbias};
    memcpy(list, all, sizeof all);
}

static void lstm_free(lstm *p)
{
    tu_buf *list[LSTM_TENSORS];
    lstm_bufs(p, list);
    for (size_t i = 0; i < LSTM_TENSORS; i++)
        tu_free(list[i]);
}

static void lstm_fill(lstm *p, tu_rng *rng)
{
    tu_fill_uniform(&p->gx, rng, -2.5, 2.5);
    tu_fill_uniform(&p->gh, rng, -1.5, 1.5);
    tu_fill_uniform(&p->bias, rng, -1.0, 1.0);
    tu_fill_uniform(&p->c_prev, rng, -2.0, 2.0);
    tu_fill_uniform(&p->dh, rng, -1.0, 1.0);
    tu_fill_uniform(&p->dc, rng, -1.0, 1.0);
}

static lstm lstm_copy_as(const lstm *src, sigfuse_dtype dt)
{
    lstm p = lstm_alloc(dt, src->B, src->H);
    p.has_gh = src->has_gh;
    p.has_bias = src->has_bias;
    p.has_dh = src->has_dh;
    p.has_dc = src->has_dc;
    tu_free(&p.gx);
    tu_free(&p.gh);
    tu_free(&p.bias);
    tu_free(&p.c_prev);
    tu_free(&p.dh);
    tu_free(&p.dc);
    p.gx = tu_copy_as(&src->gx, dt);
    p.gh = tu_copy_as(&src->gh, dt);
    p.bias = tu_copy_as(&src->bias, dt);
    p.c_prev = tu_copy_as(&src->c_prev, dt);
    p.dh = tu_copy_as(&src->dh, dt);
    p.dc = tu_copy_as(&src->dc, dt);
    return p;
}

static sigfuse_status lstm_fwd(sigfuse_ctx *ctx, lstm *p, bool want_h, bool want_c)
{
    sigfuse_lstm_forward_args a = {
        .batch = p->B, .hidden = p->H,
        .gates_x = &p->gx.desc, .gates_h = opt(&p->gh, p->has_gh), .bias = opt(&p->bias, p->has_bias),
        .c_prev = &p->c_prev.desc, .h = opt(&p->h, want_h), .c = opt(&p->c, want_c)};
    return sigfuse_lstm_cell_forward(ctx, &a);
}

static sigfuse_status lstm_bwd(sigfuse_ctx *ctx, lstm *p, bool want_dgates, bool want_dc_prev,
                               bool want_dbias)
{
    sigfuse_lstm_backward_args a = {
        .batch = p->B, .hidden = p->H,
        .gates_x = &p->gx.desc, .gates_h = opt(&p->gh, p->has_gh), .bias = opt(&p->bias, p->has_bias),
        .c_prev = &p->c_prev.desc, .dh = opt(&p->dh, p->has_dh), .dc = opt(&p->dc, p->has_dc),
        .dgates = opt(&p->dgates, want_dgates), .dc_prev = opt(&p->dc_prev, want_dc_prev),
        .dbias = opt(&p->dbias, want_dbias)};
    return sigfuse_lstm_cell_backward(ctx, &a);
}

/* Hand case: B = H = 1 with every input present (wanted values from 50-digit arithmetic). */
Test(ref_lstm, hand_computed_f64_b1_h1)
{
    sigfuse_ctx *ctx = tu_cpu_ctx();
    lstm p = lstm_alloc(SIGFUSE_F64, 1, 1);
    const double gx[4] = {0.5, -0.25, 1.0, 2.0}, gh[4] = {0.125, 0.5, -0.75, -1.0};
    const double bias[4] = {0.25, 1.0, 0.5, 0.0}, c_prev = -0.5, dh = 0.75, dc = -0.25;
    tu_set_all(&p.gx, gx);
    tu_set_all(&p.gh, gh);
    tu_set_all(&p.bias, bias);
    tu_set(&p.c_prev, 0, c_prev);
    tu_set(&p.dh, 0, dh);
    tu_set(&p.dc, 0, dc);
    TU_OK(ctx, lstm_fwd(ctx, &p, true, true));
    TU_OK(ctx, lstm_bwd(ctx, &p, true, true, true));
    const double rtol = 1e-14;
    cr_expect(tu_close(tu_get(&p.c, 0), 0.059628690453964524699, rtol, 0), "c %.17g", tu_get(&p.c, 0));
    cr_expect(tu_close(tu_get(&p.h, 0), 0.043540474026750332209, rtol, 0), "h %.17g", tu_get(&p.h, 0));
    const double dg[4] = {0.039085558777560760202, -0.025649718931193011539,
                          0.12478112232951066182, 0.0087823777289081919761};
    for (int64_t k = 0; k < 4; k++) {
        cr_expect(tu_close(tu_get(&p.dgates, k), dg[k], rtol, 0), "dgates[%lld] %.17g want %.17g",
                  (long long)k, tu_get(&p.dgates, k), dg[k]);
        cr_expect(tu_close(tu_get(&p.dbias, k), dg[k], rtol, 0), "dbias[%lld]", (long long)k);
    }
    cr_expect(tu_close(tu_get(&p.dc_prev, 0), 0.23035206952711641692, rtol, 0), "dc_prev %.17g",
              tu_get(&p.dc_prev, 0));
    lstm_free(&p);
    sigfuse_ctx_destroy(ctx);
}

/* With all pre-activations 0 every sigmoid is 1/2 and tanh(g) = 0, so c = c_prev / 2 and
 * h = tanh(c_prev / 2) / 2; gates_h and bias absent. */
Test(ref_lstm, zero_gates_closed_form_f64_b2_h3)
{
    sigfuse_ctx *ctx = tu_cpu_ctx();
    lstm p = lstm_alloc(SIGFUSE_F64, 2, 3);
    p.has_gh = p.has_bias = false;
    const double c_prev[6] = {-3.0, -1.0, 0.0, 0.5, 2.0, 7.0};
    for (int64_t k = 0; k < p.gx.n; k++)
        tu_set(&p.gx, k, 0.0);
    tu_set_all(&p.c_prev, c_prev);
    TU_OK(ctx, lstm_fwd(ctx, &p, true, true));
    for (int64_t k = 0; k < 6; k++) {
        cr_expect_eq(tu_get(&p.c, k), 0.5 * c_prev[k]);
        cr_expect(tu_close(tu_get(&p.h, k), 0.5 * tanh(0.5 * c_prev[k]), 1e-15, 0), "h[%lld]",
                  (long long)k);
    }
    lstm_free(&p);
    sigfuse_ctx_destroy(ctx);
}

/* L = sum(dh h) + sum(dc c) over the forward's outputs (absent dh / dc: that term is 0). */
static double lstm_objective(sigfuse_ctx *ctx, lstm *p)
{
    TU_OK(ctx, lstm_fwd(ctx, p, true, true));
    double sum = 0.0;
    for (int64_t k = 0; k < p->B * p->H; k++) {
        if (p->has_dh)
            sum += tu_get(&p->dh, k) * tu_get(&p->h, k);
        if (p->has_dc)
            sum += tu_get(&p->dc, k) * tu_get(&p->c, k);
    }
    return sum;
}

/* Each element of `in` moved by +-h: the central difference of L against grad[k]. */
static void fd_against(sigfuse_ctx *ctx, void *problem, double (*objective)(sigfuse_ctx *, void *),
                       tu_buf *in, const tu_buf *grad, const char *what)
{
    for (int64_t k = 0; k < in->n; k++) {
        double x = tu_get(in, k), h = tu_fd_step(x);
        tu_set(in, k, x + h);
        double lp = objective(ctx, problem);
        double xp = tu_get(in, k);
        tu_set(in, k, x - h);
        double lm = objective(ctx, problem);
        double xm = tu_get(in, k);
        tu_set(in, k, x);
        double fd = (lp - lm) / (xp - xm);
        cr_assert(tu_close(tu_get(grad, k), fd, 1e-6, 1e-9),
                  "d L / d %s[%lld]: backward %.17g, finite difference %.17g", what, (long long)k,
                  tu_get(grad, k), fd);
    }
}

static double lstm_objective_v(sigfuse_ctx *ctx, void *p) { return lstm_objective(ctx, (lstm *)p); }

static void check_lstm_fd(bool has_gh, bool has_bias, bool has_dh, bool has_dc, uint64_t seed)
{
    sigfuse_ctx *ctx = tu_cpu_ctx();
    tu_rng rng = tu_rng_seed(seed, "lstm finite differences");
    lstm p = lstm_alloc(SIGFUSE_F64, 3, 5);
    lstm_fill(&p, &rng);
    p.has_gh = has_gh;
    p.has_bias = has_bias;
    p.has_dh = has_dh;
    p.has_dc = has_dc;
    TU_OK(ctx, lstm_bwd(ctx, &p, true, true, true));
    fd_against(ctx, &p, lstm_objective_v, &p.gx, &p.dgates, "gates_x");
    if (has_gh)
        fd_against(ctx, &p, lstm_objective_v, &p.gh, &p.dgates, "gates_h");
    /* dbias is the gradient of the bias whether or not one was passed (bias 0). */
    if (!has_bias)
        for (int64_t k = 0; k < p.bias.n; k++)
            tu_set(&p.bias, k, 0.0);
    p.has_bias = true;
    fd_against(ctx, &p, lstm_objective_v, &p.bias, &p.dbias, "bias");
    p.has_bias = has_bias;
    fd_against(ctx, &p, lstm_objective_v, &p.c_prev, &p.dc_prev, "c_prev");
    lstm_free(&p);
    sigfuse_ctx_destroy(ctx);
}

Test(ref_lstm, backward_finite_difference_f64_b3_h5) { check_lstm_fd(true, true, true, true, 41); }
Test(ref_lstm, backward_finite_difference_no_gates_h_no_bias_f64_b3_h5) { check_lstm_fd(false, false, true, true, 42); }
Test(ref_lstm, backward_finite_difference_dh_only_f64_b3_h5) { check_lstm_fd(true, true, true, false, 43); }
Test(ref_lstm, backward_finite_difference_dc_only_f64_b3_h5) { check_lstm_fd(true, false, false, true, 44); }

/* dbias[col] is the sum of dgates[row][col] taken in row order, in double. */
Test(ref_lstm, dbias_is_row_order_sum_f64_b7_h3)
{
    sigfuse_ctx *ctx = tu_cpu_ctx();
    tu_rng rng = tu_rng_seed(45, "lstm dbias");
    lstm p = lstm_alloc(SIGFUSE_F64, 7, 3);
    lstm_fill(&p, &rng);
    TU_OK(ctx, lstm_bwd(ctx, &p, true, false, true));
    for (int64_t col = 0; col < 12; col++) {
        double sum = 0.0;
        for (int64_t r = 0; r < 7; r++)
            sum += tu_get(&p.dgates, r * 12 + col);
        cr_expect_eq(tu_get(&p.dbias, col), sum, "dbias[%lld]", (long long)col);
    }
    lstm_free(&p);
    sigfuse_ctx_destroy(ctx);
}

/* Saturated and non-finite pre-activations, one per column (dh = dc = 1). */
Test(ref_lstm, extremes_f32_b1_h6)
{
    sigfuse_ctx *ctx = tu_cpu_ctx();
    const double I = INFINITY;
    /* columns j:         0     1     2       3    4    5 */
    const double gi[6] = {I,    -I,   1e4,    NAN, 0.0, 0.0};
    const double gf[6] = {-I,   I,    -1e4,   0.0, 0.0, 0.0};
    const double gg[6] = {I,    -1e4, 88.7,   0.0, 0.0, 0.0};
    const double go[6] = {I,    -I,   -88.7,  0.0, 0.0, 0.0};
    const double cp[6] = {5.0,  3.0,  -2.0,   1.0, NAN, I};
    lstm p = lstm_alloc(SIGFUSE_F32, 1, 6);
    p.has_gh = p.has_bias = false;
    for (int64_t j = 0; j < 6; j++) {
        tu_set(&p.gx, j, gi[j]);
        tu_set(&p.gx, 6 + j, gf[j]);
        tu_set(&p.gx, 12 + j, gg[j]);
        tu_set(&p.gx, 18 + j, go[j]);
        tu_set(&p.c_prev, j, cp[j]);
        tu_set(&p.dh, j, 1.0);
        tu_set(&p.dc, j, 1.0);
    }
    lstm q = lstm_copy_as(&p, SIGFUSE_F64);
    TU_OK(ctx, lstm_fwd(ctx, &p, true, true));
    TU_OK(ctx, lstm_bwd(ctx, &p, true, true, true));
    TU_OK(ctx, lstm_fwd(ctx, &q, true, true));
    TU_OK(ctx, lstm_bwd(ctx, &q, true, true, true));
    tu_assert_rounded(&p.h, &q.h, "h");
    tu_assert_rounded(&p.c, &q.c, "c");
    tu_assert_rounded(&p.dgates, &q.dgates, "dgates");
    tu_assert_rounded(&p.dc_prev, &q.dc_prev, "dc_prev");
    tu_assert_rounded(&p.dbias, &q.dbias, "dbias");

    /* The limits: c = sigma(f) c_prev + sigma(i) tanh(g) with each factor 0 or 1. */
    cr_expect_eq(tu_get(&p.c, 0), 1.0);
    cr_expect_eq(tu_get(&p.h, 0), (double)(float)tanh(1.0));
    cr_expect_eq(tu_get(&p.c, 1), 3.0);
    cr_expect_eq(tu_get(&p.h, 1), 0.0);
    cr_expect_eq(tu_get(&p.c, 2), 1.0);
    cr_expect(tu_get(&p.h, 2) > 0.0 && tu_get(&p.h, 2) < 1e-38, "h[2] = %g (an f32 subnormal)",
              tu_get(&p.h, 2));
    cr_expect(isnan(tu_get(&p.c, 3)) && isnan(tu_get(&p.h, 3)));
    cr_expect(isnan(tu_get(&p.c, 4)) && isnan(tu_get(&p.h, 4)));
    cr_expect(tu_get(&p.c, 5) == INFINITY && tu_get(&p.h, 5) == 0.5);
    /* Saturated columns: finite gradients, every gate's own derivative 0. */
    for (int64_t j = 0; j < 3; j++) {
        for (int64_t g = 0; g < 4; g++)
            cr_expect(isfinite(tu_get(&p.dgates, g * 6 + j)), "dgates gate %lld col %lld = %g",
                      (long long)g, (long long)j, tu_get(&p.dgates, g * 6 + j));
        cr_expect(isfinite(tu_get(&p.dc_prev, j)));
    }
    cr_expect_eq(tu_get(&p.dc_prev, 0), 0.0);
    cr_expect_eq(tu_get(&p.dc_prev, 1), 1.0);
    for (int64_t g = 0; g < 4; g++) {
        cr_expect(isnan(tu_get(&p.dgates, g * 6 + 3)), "NaN i: dgates gate %lld", (long long)g);
        cr_expect(isnan(tu_get(&p.dgates, g * 6 + 4)), "NaN c_prev: dgates gate %lld", (long long)g);
    }
    /* c = inf: tanh'(c) = 0, so dc_total = dc = 1 and dc_prev = sigma(0) = 1/2. */
    cr_expect_eq(tu_get(&p.dc_prev, 5), 0.5);
    cr_expect_eq(tu_get(&p.dgates, 18 + 5), 0.25);   /* d_o = dh tanh(inf) / 4 */
    lstm_free(&p);
    lstm_free(&q);
    sigfuse_ctx_destroy(ctx);
}

/* A storage dtype: forward and backward equal the f64 run on the same inputs rounded once,
 * every output element written, guards intact. */
static void check_lstm_dtype(bool backward, sigfuse_dtype dt, int64_t B, int64_t H)
{
    sigfuse_ctx *ctx = tu_cpu_ctx();
    char what[96];
    snprintf(what, sizeof what, "lstm %s %s B=%lld H=%lld", backward ? "backward" : "forward",
             sigfuse_dtype_name(dt), (long long)B, (long long)H);
    tu_rng rng = tu_rng_seed(0x1517u + (uint64_t)(B * 1000 + H) + (uint64_t)dt * 7u, what);
    lstm p = lstm_alloc(dt, B, H);
    lstm_fill(&p, &rng);
    lstm q = lstm_copy_as(&p, SIGFUSE_F64);
    if (backward) {
        TU_OK(ctx, lstm_bwd(ctx, &p, true, true, true));
        TU_OK(ctx, lstm_bwd(ctx, &q, true, true, true));
        tu_assert_rounded(&p.dgates, &q.dgates, what);
        tu_assert_rounded(&p.dc_prev, &q.dc_prev, what);
        tu_assert_rounded(&p.dbias, &q.dbias, what);
        if (B == 0)
            for (int64_t k = 0; k < 4 * H; k++)
                cr_assert_eq(tu_get(&p.dbias, k), 0.0, "%s: dbias of no rows is 0", what);
        cr_assert(tu_untouched(&p.h) && tu_untouched(&p.c), "%s: wrote a forward output", what);
    } else {
        TU_OK(ctx, lstm_fwd(ctx, &p, true, true));
        TU_OK(ctx, lstm_fwd(ctx, &q, true, true));
        tu_assert_rounded(&p.h, &q.h, what);
        tu_assert_rounded(&p.c, &q.c, what);
        cr_assert(tu_untouched(&p.dgates) && tu_untouched(&p.dbias), "%s: wrote a gradient", what);
    }
    tu_buf *list[LSTM_TENSORS];
    lstm_bufs(&p, list);
    for (size_t i = 0; i < LSTM_TENSORS; i++)
        cr_assert(tu_guards_ok(list[i]), "%s: guard %zu", what, i);
    lstm_free(&p);
    lstm_free(&q);
    sigfuse_ctx_destroy(ctx);
}

#define CELL_SHAPE_CASES(suite, fn, dir, dtname, DT)                                         \
    Test(suite, dir##_##dtname##_b0_h4) { fn(#dir[0] == 'b', DT, 0, 4); }                 \
    Test(suite, dir##_##dtname##_b1_h1) { fn(#dir[0] == 'b', DT, 1, 1); }                 \
    Test(suite, dir##_##dtname##_b7_h3) { fn(#dir[0] == 'b', DT, 7, 3); }                 \
    Test(suite, dir##_##dtname##_b3_h341) { fn(#dir[0] == 'b', DT, 3, 341); }             \
    Test(suite, dir##_##dtname##_b17_h61) { fn(#dir[0] == 'b', DT, 17, 61); }
#define CELL_CASES(suite, fn, dir)                            \
    CELL_SHAPE_CASES(suite, fn, dir, f32, SIGFUSE_F32)        \
    CELL_SHAPE_CASES(suite, fn, dir, f16, SIGFUSE_F16)        \
    CELL_SHAPE_CASES(suite, fn, dir, bf16, SIGFUSE_BF16)

CELL_CASES(ref_lstm, check_lstm_dtype, forward)
CELL_CASES(ref_lstm, check_lstm_dtype, backward)

/* One output at a time gives the same values as all at once; the inputs stay as they were
 * and the outputs not asked for stay untouched. */
Test(ref_lstm, optional_outputs_f32_b5_h7)
{
    sigfuse_ctx *ctx = tu_cpu_ctx();
    tu_rng rng = tu_rng_seed(46, "lstm optional outputs");
    lstm p = lstm_alloc(SIGFUSE_F32, 5, 7);
    lstm_fill(&p, &rng);
    lstm all = lstm_copy_as(&p, SIGFUSE_F32);
    TU_OK(ctx, lstm_fwd(ctx, &all, true, true));
    TU_OK(ctx, lstm_bwd(ctx, &all, true, true, true));
    lstm before = lstm_copy_as(&p, SIGFUSE_F32);

    TU_OK(ctx, lstm_bwd(ctx, &p, false, false, true));
    tu_assert_bitwise(&p.dbias, &all.dbias, "dbias alone");
    cr_assert(tu_untouched(&p.dgates) && tu_untouched(&p.dc_prev), "dbias alone wrote more");
    TU_OK(ctx, lstm_bwd(ctx, &p, false, true, false));
    tu_assert_bitwise(&p.dc_prev, &all.dc_prev, "dc_prev alone");
    cr_assert(tu_untouched(&p.dgates));
    TU_OK(ctx, lstm_fwd(ctx, &p, true, false));
    tu_assert_bitwise(&p.h, &all.h, "h alone");
    cr_assert(tu_untouched(&p.c), "h alone wrote c");
    TU_OK(ctx, lstm_fwd(ctx, &p, false, true));
    tu_assert_bitwise(&p.c, &all.c, "c alone");
    cr_assert(tu_bytes_equal(&p.gx, &before.gx) && tu_bytes_equal(&p.gh, &before.gh) &&
                  tu_bytes_equal(&p.bias, &before.bias) && tu_bytes_equal(&p.c_prev, &before.c_prev) &&
                  tu_bytes_equal(&p.dh, &before.dh) && tu_bytes_equal(&p.dc, &before.dc),
              "an input changed");
    lstm_free(&p);
    lstm_free(&all);
    lstm_free(&before);
    sigfuse_ctx_destroy(ctx);
}

/* The aliasing a recurrence loop uses: c over c_prev (forward), dc_prev over dc
 * (backward), and dgates over gates_x. Each equals the out-of-place result. */
Test(ref_lstm, aliasing_f16_b4_h9)
{
    sigfuse_ctx *ctx = tu_cpu_ctx();
    tu_rng rng = tu_rng_seed(47, "lstm aliasing");
    lstm p = lstm_alloc(SIGFUSE_F16, 4, 9);
    lstm_fill(&p, &rng);
    TU_OK(ctx, lstm_fwd(ctx, &p, true, true));
    TU_OK(ctx, lstm_bwd(ctx, &p, true, true, true));

    lstm w = lstm_copy_as(&p, SIGFUSE_F16);
    sigfuse_lstm_forward_args fa = {.batch = 4, .hidden = 9, .gates_x = &w.gx.desc,
                                    .gates_h = &w.gh.desc, .bias = &w.bias.desc,
                                    .c_prev = &w.c_prev.desc, .h = &w.h.desc, .c = &w.c_prev.desc};
    TU_OK(ctx, sigfuse_lstm_cell_forward(ctx, &fa));
    tu_assert_bitwise(&w.c_prev, &p.c, "c aliasing c_prev");
    tu_assert_bitwise(&w.h, &p.h, "h next to c aliasing c_prev");

    lstm_free(&w);
    w = lstm_copy_as(&p, SIGFUSE_F16);
    sigfuse_lstm_backward_args ba = {.batch = 4, .hidden = 9, .gates_x = &w.gx.desc,
                                     .gates_h = &w.gh.desc, .bias = &w.bias.desc,
                                     .c_prev = &w.c_prev.desc, .dh = &w.dh.desc, .dc = &w.dc.desc,
                                     .dgates = &w.gx.desc, .dc_prev = &w.dc.desc,
                                     .dbias = &w.dbias.desc};
    TU_OK(ctx, sigfuse_lstm_cell_backward(ctx, &ba));
    tu_assert_bitwise(&w.gx, &p.dgates, "dgates aliasing gates_x");
    tu_assert_bitwise(&w.dc, &p.dc_prev, "dc_prev aliasing dc");
    tu_assert_bitwise(&w.dbias, &p.dbias, "dbias with dgates aliasing gates_x");
    lstm_free(&w);
    lstm_free(&p);
    sigfuse_ctx_destroy(ctx);
}

/* Every tensor addressed through desc.offset: the same bits as plain buffers. */
Test(ref_lstm, offsets_bf16_b3_h11)
{
    sigfuse_ctx *ctx = tu_cpu_ctx();
    tu_rng rng = tu_rng_seed(48, "lstm offsets");
    lstm p = lstm_alloc(SIGFUSE_BF16, 3, 11);
    lstm_fill(&p, &rng);
    TU_OK(ctx, lstm_fwd(ctx, &p, true, true));
    TU_OK(ctx, lstm_bwd(ctx, &p, true, true, true));

    lstm o = lstm_alloc(SIGFUSE_BF16, 3, 11);
    tu_buf *plain[LSTM_TENSORS], *dst[LSTM_TENSORS];
    lstm_bufs(&p, plain);
    lstm_bufs(&o, dst);
    for (size_t i = 0; i < LSTM_TENSORS; i++) {
        tu_free(dst[i]);
        *dst[i] = tu_alloc_offset(SIGFUSE_BF16, plain[i]->n, (2 * i + 1) * 2);
        for (int64_t k = 0; k < plain[i]->n && i < 6; k++)   /* the six inputs */
            tu_set(dst[i], k, tu_get(plain[i], k));
    }
    TU_OK(ctx, lstm_fwd(ctx, &o, true, true));
    TU_OK(ctx, lstm_bwd(ctx, &o, true, true, true));
    for (size_t i = 0; i < LSTM_TENSORS; i++)
        tu_assert_bitwise(dst[i], plain[i], "a tensor at an offset");
    lstm_free(&o);
    lstm_free(&p);
    sigfuse_ctx_destroy(ctx);
}

/* ==== GRU ================================================================================= */

typedef struct gru {
    int64_t B, H;
    bool has_bx, has_bh;
    tu_buf gx, gh, bx, bh, h_prev, dh;                   /* inputs */
    tu_buf h, dgx, dgh, dh_prev, dbx, dbh;               /* outputs */
} gru;

#define GRU_TENSORS 12   /* the first 6 are the inputs */

static void gru_bufs(gru *p, tu_buf *list[GRU_TENSORS])
{
    tu_buf *all[GRU_TENSORS] = {&p->gx, &p->gh, &p->bx, &p->bh, &p->h_prev, &p->dh,
                                &p->h, &p->dgx, &p->dgh, &p->dh_prev, &p->dbx, &p->dbh};
    memcpy(list, all, sizeof all);
}

static gru gru_alloc(sigfuse_dtype dt, int64_t B, int64_t H)
{
    gru p;
    memset(&p, 0, sizeof p);
    p.B = B;
    p.H = H;
    p.has_bx = p.has_bh = true;
    tu_buf *list[GRU_TENSORS];
    gru_bufs(&p, list);
    const int64_t sizes[GRU_TENSORS] = {B * 3 * H, B * 3 * H, 3 * H, 3 * H, B * H, B * H,
                                        B * H, B * 3 * H, B * 3 * H, B * H, 3 * H, 3 * H};
    for (size_t i = 0; i < GRU_TENSORS; i++)
        *list[i] = tu_alloc(dt, sizes[i]);
    return p;
}

static void gru_free(gru *p)
{
    tu_buf *list[GRU_TENSORS];
    gru_bufs(p, list);
    for (size_t i = 0; i < GRU_TENSORS; i++)
        tu_free(list[i]);
}

static void gru_fill(gru *p, tu_rng *rng)
{
    tu_fill_uniform(&p->gx, rng, -2.5, 2.5);
    tu_fill_uniform(&p->gh, rng, -2.0, 2.0);
    tu_fill_uniform(&p->bx, rng, -1.0, 1.0);
    tu_fill_uniform(&p->bh, rng, -1.0, 1.0);
    tu_fill_uniform(&p->h_prev, rng, -1.0, 1.0);
    tu_fill_uniform(&p->dh, rng, -1.0, 1.0);
}

static gru gru_copy_as(gru *src, sigfuse_dtype dt)
{
    gru p = gru_alloc(dt, src->B, src->H);
    p.has_bx = src->has_bx;
    p.has_bh = src->has_bh;
    tu_buf *from[GRU_TENSORS], *d[GRU_TENSORS];
    gru_bufs(src, from);
    gru_bufs(&p, d);
    for (size_t i = 0; i < 6; i++) {
        tu_free(d[i]);
        *d[i] = tu_copy_as(from[i], dt);
    }
    return p;
}

static sigfuse_status gru_fwd(sigfuse_ctx *ctx, gru *p)
{
    sigfuse_gru_forward_args a = {
        .batch = p->B, .hidden = p->H, .gates_x = &p->gx.desc, .gates_h = &p->gh.desc,
        .bias_x = opt(&p->bx, p->has_bx), .bias_h = opt(&p->bh, p->has_bh),
        .h_prev = &p->h_prev.desc, .h = &p->h.desc};
    return sigfuse_gru_cell_forward(ctx, &a);
}

/* want: bit 0 dgates_x, 1 dgates_h, 2 dh_prev, 3 dbias_x, 4 dbias_h. */
static sigfuse_status gru_bwd(sigfuse_ctx *ctx, gru *p, unsigned want)
{
    sigfuse_gru_backward_args a = {
        .batch = p->B, .hidden = p->H, .gates_x = &p->gx.desc, .gates_h = &p->gh.desc,
        .bias_x = opt(&p->bx, p->has_bx), .bias_h = opt(&p->bh, p->has_bh),
        .h_prev = &p->h_prev.desc, .dh = &p->dh.desc,
        .dgates_x = opt(&p->dgx, want & 1u), .dgates_h = opt(&p->dgh, want & 2u),
        .dh_prev = opt(&p->dh_prev, want & 4u), .dbias_x = opt(&p->dbx, want & 8u),
        .dbias_h = opt(&p->dbh, want & 16u)};
    return sigfuse_gru_cell_backward(ctx, &a);
}

#define GRU_ALL 31u

/* Hand case: B = H = 1 with both biases (wanted values from 50-digit arithmetic). */
Test(ref_gru, hand_computed_f64_b1_h1)
{
    sigfuse_ctx *ctx = tu_cpu_ctx();
    gru p = gru_alloc(SIGFUSE_F64, 1, 1);
    const double gx[3] = {0.5, -1.0, 0.25}, gh[3] = {-0.25, 0.75, 1.5};
    const double bx[3] = {0.125, 0.0, -0.5}, bh[3] = {0.0, 0.25, 0.5};
    tu_set_all(&p.gx, gx);
    tu_set_all(&p.gh, gh);
    tu_set_all(&p.bx, bx);
    tu_set_all(&p.bh, bh);
    tu_set(&p.h_prev, 0, 0.625);
    tu_set(&p.dh, 0, -1.25);
    TU_OK(ctx, gru_fwd(ctx, &p));
    TU_OK(ctx, gru_bwd(ctx, &p, GRU_ALL));
    const double rtol = 1e-14;
    cr_expect(tu_close(tu_get(&p.h, 0), 0.67903536664859842625, rtol, 0), "h %.17g", tu_get(&p.h, 0));
    const double dgx[3] = {-0.13959921303714685251, 0.033772104155374016404, -0.28912956248944380119};
    const double dgh[3] = {-0.13959921303714685251, 0.033772104155374016404, -0.17135743474682640299};
    for (int64_t k = 0; k < 3; k++) {
        cr_expect(tu_close(tu_get(&p.dgx, k), dgx[k], rtol, 0), "dgates_x[%lld] %.17g",
                  (long long)k, tu_get(&p.dgx, k));
        cr_expect(tu_close(tu_get(&p.dgh, k), dgh[k], rtol, 0), "dgates_h[%lld] %.17g",
                  (long long)k, tu_get(&p.dgh, k));
        cr_expect(tu_close(tu_get(&p.dbx, k), dgx[k], rtol, 0), "dbias_x[%lld]", (long long)k);
        cr_expect(tu_close(tu_get(&p.dbh, k), dgh[k], rtol, 0), "dbias_h[%lld]", (long long)k);
    }
    cr_expect_eq(tu_get(&p.dh_prev, 0), -0.625);   /* dh z with z = sigma(0) */
    gru_free(&p);
    sigfuse_ctx_destroy(ctx);
}

/* z saturated at 1 gives h = h_prev exactly; at 0 it gives h = n = tanh(gi_n + r gh_n). */
Test(ref_gru, saturated_update_gate_f64_b1_h2)
{
    sigfuse_ctx *ctx = tu_cpu_ctx();
    gru p = gru_alloc(SIGFUSE_F64, 1, 2);
    p.has_bx = p.has_bh = false;
    const double gx[6] = {0.0, 0.0, INFINITY, -INFINITY, 0.5, 0.5};
    const double gh[6] = {0.0, 0.0, 0.0, 0.0, 3.0, 3.0};
    tu_set_all(&p.gx, gx);
    tu_set_all(&p.gh, gh);
    tu_set(&p.h_prev, 0, -0.3);
    tu_set(&p.h_prev, 1, 0.7);
    tu_set(&p.dh, 0, 1.0);
    tu_set(&p.dh, 1, 1.0);
    TU_OK(ctx, gru_fwd(ctx, &p));
    TU_OK(ctx, gru_bwd(ctx, &p, GRU_ALL));
    cr_expect_eq(tu_get(&p.h, 0), -0.3);
    cr_expect(tu_close(tu_get(&p.h, 1), tanh(0.5 + 0.5 * 3.0), 1e-15, 0));
    cr_expect_eq(tu_get(&p.dh_prev, 0), 1.0);
    cr_expect_eq(tu_get(&p.dh_prev, 1), 0.0);
    for (int64_t k = 0; k < 6; k++)
        cr_expect(isfinite(tu_get(&p.dgx, k)) && isfinite(tu_get(&p.dgh, k)), "gradient %lld",
                  (long long)k);
    gru_free(&p);
    sigfuse_ctx_destroy(ctx);
}

static double gru_objective(sigfuse_ctx *ctx, void *pv)
{
    gru *p = (gru *)pv;
    TU_OK(ctx, gru_fwd(ctx, p));
    double sum = 0.0;
    for (int64_t k = 0; k < p->B * p->H; k++)
        sum += tu_get(&p->dh, k) * tu_get(&p->h, k);
    return sum;
}

static void check_gru_fd(bool has_bx, bool has_bh, uint64_t seed)
{
    sigfuse_ctx *ctx = tu_cpu_ctx();
    tu_rng rng = tu_rng_seed(seed, "gru finite differences");
    gru p = gru_alloc(SIGFUSE_F64, 3, 5);
    gru_fill(&p, &rng);
    p.has_bx = has_bx;
    p.has_bh = has_bh;
    TU_OK(ctx, gru_bwd(ctx, &p, GRU_ALL));
    fd_against(ctx, &p, gru_objective, &p.gx, &p.dgx, "gates_x");
    fd_against(ctx, &p, gru_objective, &p.gh, &p.dgh, "gates_h");
    fd_against(ctx, &p, gru_objective, &p.h_prev, &p.dh_prev, "h_prev");
    /* The bias gradients hold with or without the bias passed (absent = 0). */
    if (!has_bx)
        for (int64_t k = 0; k < p.bx.n; k++)
            tu_set(&p.bx, k, 0.0);
    if (!has_bh)
        for (int64_t k = 0; k < p.bh.n; k++)
            tu_set(&p.bh, k, 0.0);
    p.has_bx = p.has_bh = true;
    fd_against(ctx, &p, gru_objective, &p.bx, &p.dbx, "bias_x");
    fd_against(ctx, &p, gru_objective, &p.bh, &p.dbh, "bias_h");
    gru_free(&p);
    sigfuse_ctx_destroy(ctx);
}

Test(ref_gru, backward_finite_difference_f64_b3_h5) { check_gru_fd(true, true, 51); }
Test(ref_gru, backward_finite_difference_no_biases_f64_b3_h5) { check_gru_fd(false, false, 52); }
Test(ref_gru, backward_finite_difference_bias_h_only_f64_b3_h5) { check_gru_fd(false, true, 53); }

Test(ref_gru, dbias_is_row_order_sum_f64_b7_h3)
{
    sigfuse_ctx *ctx = tu_cpu_ctx();
    tu_rng rng = tu_rng_seed(54, "gru dbias");
    gru p = gru_alloc(SIGFUSE_F64, 7, 3);
    gru_fill(&p, &rng);
    TU_OK(ctx, gru_bwd(ctx, &p, GRU_ALL));
    for (int64_t col = 0; col < 9; col++) {
        double sx = 0.0, sh = 0.0;
        for (int64_t r = 0; r < 7; r++) {
            sx += tu_get(&p.dgx, r * 9 + col);
            sh += tu_get(&p.dgh, r * 9 + col);
        }
        cr_expect_eq(tu_get(&p.dbx, col), sx, "dbias_x[%lld]", (long long)col);
        cr_expect_eq(tu_get(&p.dbh, col), sh, "dbias_h[%lld]", (long long)col);
    }
    gru_free(&p);
    sigfuse_ctx_destroy(ctx);
}

/* Saturated, infinite and NaN inputs, one per column (dh = 1). */
Test(ref_gru, extremes_f32_b1_h5)
{
    sigfuse_ctx *ctx = tu_cpu_ctx();
    const double I = INFINITY;
    /* columns j:         0     1      2      3    4 */
    const double xr[5] = {I,    -1e4,  88.7,  NAN, 0.0};
    const double xz[5] = {-I,   1e4,   -88.7, 0.0, 0.0};
    const double xn[5] = {I,    -1e4,  0.5,   0.0, 0.0};
    const double hr[5] = {0.0,  0.0,   0.0,   0.0, 0.0};
    const double hz[5] = {0.0,  0.0,   0.0,   0.0, 0.0};
    const double hn[5] = {5.0,  1e4,   -88.7, 0.0, 0.0};
    const double hp[5] = {0.5,  -0.5,  2.0,   1.0, NAN};
    gru p = gru_alloc(SIGFUSE_F32, 1, 5);
    p.has_bx = p.has_bh = false;
    for (int64_t j = 0; j < 5; j++) {
        tu_set(&p.gx, j, xr[j]);
        tu_set(&p.gx, 5 + j, xz[j]);
        tu_set(&p.gx, 10 + j, xn[j]);
        tu_set(&p.gh, j, hr[j]);
        tu_set(&p.gh, 5 + j, hz[j]);
        tu_set(&p.gh, 10 + j, hn[j]);
        tu_set(&p.h_prev, j, hp[j]);
        tu_set(&p.dh, j, 1.0);
    }
    gru q = gru_copy_as(&p, SIGFUSE_F64);
    TU_OK(ctx, gru_fwd(ctx, &p));
    TU_OK(ctx, gru_bwd(ctx, &p, GRU_ALL));
    TU_OK(ctx, gru_fwd(ctx, &q));
    TU_OK(ctx, gru_bwd(ctx, &q, GRU_ALL));
    tu_assert_rounded(&p.h, &q.h, "h");
    tu_assert_rounded(&p.dgx, &q.dgx, "dgates_x");
    tu_assert_rounded(&p.dgh, &q.dgh, "dgates_h");
    tu_assert_rounded(&p.dh_prev, &q.dh_prev, "dh_prev");
    tu_assert_rounded(&p.dbx, &q.dbx, "dbias_x");
    tu_assert_rounded(&p.dbh, &q.dbh, "dbias_h");
    /* Column 0: r = 1, z = 0, n = tanh(inf) = 1: h = 1. Column 1: r = 0, z = 1: h = h_prev.
     * Column 2: r = 1, z ~ 3e-39, n = tanh(0.5 - 88.7). */
    cr_expect_eq(tu_get(&p.h, 0), 1.0);
    cr_expect_eq(tu_get(&p.h, 1), -0.5);
    cr_expect(tu_close(tu_get(&p.h, 2), (double)(float)tanh(0.5 - (double)(float)88.7), 1e-7, 0),
              "h[2] = %.9g", tu_get(&p.h, 2));
    for (int64_t j = 0; j <= 2; j++) {
        cr_expect(isfinite(tu_get(&p.dh_prev, j)));
        for (int64_t b = 0; b < 3; b++)
            cr_expect(isfinite(tu_get(&p.dgx, b * 5 + j)) && isfinite(tu_get(&p.dgh, b * 5 + j)),
                      "column %lld block %lld", (long long)j, (long long)b);
    }
    cr_expect(isnan(tu_get(&p.h, 3)) && isnan(tu_get(&p.dgx, 3)) && isnan(tu_get(&p.dgx, 13)),
              "NaN r propagates");
    cr_expect(isnan(tu_get(&p.h, 4)) && isnan(tu_get(&p.dgx, 5 + 4)), "NaN h_prev propagates");
    gru_free(&p);
    gru_free(&q);
    sigfuse_ctx_destroy(ctx);
}

static void check_gru_dtype(bool backward, sigfuse_dtype dt, int64_t B, int64_t H)
{
    sigfuse_ctx *ctx = tu_cpu_ctx();
    char what[96];
    snprintf(what, sizeof what, "gru %s %s B=%lld H=%lld", backward ? "backward" : "forward",
             sigfuse_dtype_name(dt), (long long)B, (long long)H);
    tu_rng rng = tu_rng_seed(0x6e0u + (uint64_t)(B * 1000 + H) + (uint64_t)dt * 7u, what);
    gru p = gru_alloc(dt, B, H);
    gru_fill(&p, &rng);
    gru q = gru_copy_as(&p, SIGFUSE_F64);
    if (backward) {
        TU_OK(ctx, gru_bwd(ctx, &p, GRU_ALL));
        TU_OK(ctx, gru_bwd(ctx, &q, GRU_ALL));
        tu_assert_rounded(&p.dgx, &q.dgx, what);
        tu_assert_rounded(&p.dgh, &q.dgh, what);
        tu_assert_rounded(&p.dh_prev, &q.dh_prev, what);
        tu_assert_rounded(&p.dbx, &q.dbx, what);
        tu_assert_rounded(&p.dbh, &q.dbh, what);
        if (B == 0)
            for (int64_t k = 0; k < 3 * H; k++)
                cr_assert(tu_get(&p.dbx, k) == 0.0 && tu_get(&p.dbh, k) == 0.0,
                          "%s: bias gradients of no rows are 0", what);
        cr_assert(tu_untouched(&p.h), "%s: wrote h", what);
    } else {
        TU_OK(ctx, gru_fwd(ctx, &p));
        TU_OK(ctx, gru_fwd(ctx, &q));
        tu_assert_rounded(&p.h, &q.h, what);
        cr_assert(tu_untouched(&p.dgx) && tu_untouched(&p.dbh), "%s: wrote a gradient", what);
    }
    tu_buf *list[GRU_TENSORS];
    gru_bufs(&p, list);
    for (size_t i = 0; i < GRU_TENSORS; i++)
        cr_assert(tu_guards_ok(list[i]), "%s: guard %zu", what, i);
    gru_free(&p);
    gru_free(&q);
    sigfuse_ctx_destroy(ctx);
}

CELL_CASES(ref_gru, check_gru_dtype, forward)
CELL_CASES(ref_gru, check_gru_dtype, backward)

/* Only dbias_h, then only dh_prev: the values of the full call, nothing else written, the
 * inputs unchanged. */
Test(ref_gru, optional_outputs_f32_b5_h7)
{
    sigfuse_ctx *ctx = tu_cpu_ctx();
    tu_rng rng = tu_rng_seed(55, "gru optional outputs");
    gru p = gru_alloc(SIGFUSE_F32, 5, 7);
    gru_fill(&p, &rng);
    gru all = gru_copy_as(&p, SIGFUSE_F32);
    TU_OK(ctx, gru_bwd(ctx, &all, GRU_ALL));
    gru before = gru_copy_as(&p, SIGFUSE_F32);

    TU_OK(ctx, gru_bwd(ctx, &p, 16u));
    tu_assert_bitwise(&p.dbh, &all.dbh, "dbias_h alone");
    cr_assert(tu_untouched(&p.dgx) && tu_untouched(&p.dgh) && tu_untouched(&p.dh_prev) &&
                  tu_untouched(&p.dbx),
              "dbias_h alone wrote more");
    TU_OK(ctx, gru_bwd(ctx, &p, 4u));
    tu_assert_bitwise(&p.dh_prev, &all.dh_prev, "dh_prev alone");
    cr_assert(tu_untouched(&p.dgx) && tu_untouched(&p.dgh) && tu_untouched(&p.dbx));
    tu_buf *now[GRU_TENSORS], *b[GRU_TENSORS];
    gru_bufs(&p, now);
    gru_bufs(&before, b);
    for (size_t i = 0; i < 6; i++)
        cr_assert(tu_bytes_equal(now[i], b[i]), "input %zu changed", i);
    gru_free(&p);
    gru_free(&all);
    gru_free(&before);
    sigfuse_ctx_destroy(ctx);
}

/* h over h_prev (forward), dh_prev over dh and both dgates over their gates (backward). */
Test(ref_gru, aliasing_f32_b4_h9)
{
    sigfuse_ctx *ctx = tu_cpu_ctx();
    tu_rng rng = tu_rng_seed(56, "gru aliasing");
    gru p = gru_alloc(SIGFUSE_F32, 4, 9);
    gru_fill(&p, &rng);
    TU_OK(ctx, gru_fwd(ctx, &p));
    TU_OK(ctx, gru_bwd(ctx, &p, GRU_ALL));

    gru w = gru_copy_as(&p, SIGFUSE_F32);
    sigfuse_gru_forward_args fa = {.batch = 4, .hidden = 9, .gates_x = &w.gx.desc,
                                   .gates_h = &w.gh.desc, .bias_x = &w.bx.desc,
                                   .bias_h = &w.bh.desc, .h_prev = &w.h_prev.desc,
                                   .h = &w.h_prev.desc};
    TU_OK(ctx, sigfuse_gru_cell_forward(ctx, &fa));
    tu_assert_bitwise(&w.h_prev, &p.h, "h aliasing h_prev");

    gru_free(&w);
    w = gru_copy_as(&p, SIGFUSE_F32);
    sigfuse_gru_backward_args ba = {.batch = 4, .hidden = 9, .gates_x = &w.gx.desc,
                                    .gates_h = &w.gh.desc, .bias_x = &w.bx.desc,
                                    .bias_h = &w.bh.desc, .h_prev = &w.h_prev.desc,
                                    .dh = &w.dh.desc, .dgates_x = &w.gx.desc,
                                    .dgates_h = &w.gh.desc, .dh_prev = &w.dh.desc,
                                    .dbias_x = &w.dbx.desc, .dbias_h = &w.dbh.desc};
    TU_OK(ctx, sigfuse_gru_cell_backward(ctx, &ba));
    tu_assert_bitwise(&w.gx, &p.dgx, "dgates_x aliasing gates_x");
    tu_assert_bitwise(&w.gh, &p.dgh, "dgates_h aliasing gates_h");
    tu_assert_bitwise(&w.dh, &p.dh_prev, "dh_prev aliasing dh");
    tu_assert_bitwise(&w.dbx, &p.dbx, "dbias_x");
    tu_assert_bitwise(&w.dbh, &p.dbh, "dbias_h");
    gru_free(&w);
    gru_free(&p);
    sigfuse_ctx_destroy(ctx);
}

Test(ref_gru, offsets_f16_b3_h11)
{
    sigfuse_ctx *ctx = tu_cpu_ctx();
    tu_rng rng = tu_rng_seed(57, "gru offsets");
    gru p = gru_alloc(SIGFUSE_F16, 3, 11);
    gru_fill(&p, &rng);
    TU_OK(ctx, gru_fwd(ctx, &p));
    TU_OK(ctx, gru_bwd(ctx, &p, GRU_ALL));

    gru o = gru_alloc(SIGFUSE_F16, 3, 11);
    tu_buf *plain[GRU_TENSORS], *dst[GRU_TENSORS];
    gru_bufs(&p, plain);
    gru_bufs(&o, dst);
    for (size_t i = 0; i < GRU_TENSORS; i++) {
        tu_free(dst[i]);
        *dst[i] = tu_alloc_offset(SIGFUSE_F16, plain[i]->n, (3 * i + 1) * 2);
        for (int64_t k = 0; k < plain[i]->n && i < 6; k++)
            tu_set(dst[i], k, tu_get(plain[i], k));
    }
    TU_OK(ctx, gru_fwd(ctx, &o));
    TU_OK(ctx, gru_bwd(ctx, &o, GRU_ALL));
    for (size_t i = 0; i < GRU_TENSORS; i++)
        tu_assert_bitwise(dst[i], plain[i], "a tensor at an offset");
    gru_free(&o);
    gru_free(&p);
    sigfuse_ctx_destroy(ctx);
}
