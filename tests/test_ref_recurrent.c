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

#include "ref_check.h"
#include "sf_internal.h"
#include "testutil.h"

RC_CPU_CTX_FIXTURE
TestSuite(ref_lstm, .init = open_ctx, .fini = close_ctx);
TestSuite(ref_gru, .init = open_ctx, .fini = close_ctx);

/* The descriptor of an optional buffer: NULL when the buffer is not in use. */
static const sigfuse_buffer *opt(const tu_buf *b, bool present)
{
    return present ? &b->desc : NULL;
}

/* ==== One problem of either cell ========================================================== */

/* Each cell's tensors in one order: its six inputs, the forward's outputs, the backward's,
 * the bias gradients last. The shared checks below walk them by these indices. */
#define CELL_INPUTS 6
#define CELL_MAX_TENSORS 12

enum { LSTM_GATES_X, LSTM_GATES_H, LSTM_BIAS, LSTM_C_PREV, LSTM_DH, LSTM_DC,
       LSTM_H, LSTM_C, LSTM_DGATES, LSTM_DC_PREV, LSTM_DBIAS, LSTM_TENSORS };
enum { GRU_GATES_X, GRU_GATES_H, GRU_BIAS_X, GRU_BIAS_H, GRU_H_PREV, GRU_DH,
       GRU_H, GRU_DGATES_X, GRU_DGATES_H, GRU_DH_PREV, GRU_DBIAS_X, GRU_DBIAS_H, GRU_TENSORS };

typedef struct cell_kind cell_kind;

/* Every tensor of one problem, by name (p.lstm.c_prev, p.gru.dh_prev) or in the order
 * above (p.t[i]). */
typedef struct cell {
    const cell_kind *kind;
    int64_t B, H;
    bool given[CELL_INPUTS];   /* each input passed, or NULL (gates_h, the biases, dh, dc may be) */
    union {
        tu_buf t[CELL_MAX_TENSORS];
        struct { tu_buf gx, gh, bias, c_prev, dh, dc, h, c, dgates, dc_prev, dbias; } lstm;
        struct { tu_buf gx, gh, bx, bh, h_prev, dh, h, dgx, dgh, dh_prev, dbx, dbh; } gru;
    };
} cell;

/* The names and t[] are the same buffers only while no padding comes between the names. */
_Static_assert(sizeof(((cell *)0)->lstm) == LSTM_TENSORS * sizeof(tu_buf), "lstm names = t[]");
_Static_assert(sizeof(((cell *)0)->gru) == GRU_TENSORS * sizeof(tu_buf), "gru names = t[]");

/* A tensor's elements: (B if PER_ROW) x (gates if GATED) x H. */
enum { PER_ROW = 1, GATED = 2 };

/* What the shared checks need to know of a cell. */
struct cell_kind {
    const char *name;                       /* "lstm", "gru": in messages and seed logs */
    int64_t gates;                          /* gate blocks per unit: 4 (i f g o), 3 (r z n) */
    size_t tensors;                         /* how many of t[] it uses */
    size_t first_gradient;                  /* t[CELL_INPUTS .. first_gradient): forward outputs */
    size_t first_bias_gradient;             /* t[first_bias_gradient .. tensors): bias gradients */
    const char *names[CELL_MAX_TENSORS];
    unsigned shape[CELL_MAX_TENSORS];
    double fill_width[CELL_INPUTS];         /* random inputs: uniform in [-w, w) */
    size_t upstream[2];                     /* each forward output's gradient input (dh, dc) */
    size_t fd_checks;                       /* the inputs the finite differences move, in order */
    size_t fd_input[5], fd_gradient[5];
    size_t bias_row_gradient[2];            /* the per-row gradient each bias gradient sums */
    uint64_t dtype_seed;
    sigfuse_status (*forward)(sigfuse_ctx *ctx, cell *p);    /* every forward output */
    sigfuse_status (*backward)(sigfuse_ctx *ctx, cell *p);   /* every gradient */
    sigfuse_status (*only)(sigfuse_ctx *ctx, cell *p, size_t output);   /* that output alone */
};

static int64_t cell_numel(const cell_kind *k, size_t i, int64_t B, int64_t H)
{
    return (k->shape[i] & PER_ROW ? B : 1) * (k->shape[i] & GATED ? k->gates : 1) * H;
}

/* Every tensor allocated (poisoned), every input given. */
static cell cell_alloc(const cell_kind *k, sigfuse_dtype dt, int64_t B, int64_t H)
{
    cell p;
    memset(&p, 0, sizeof p);
    p.kind = k;
    p.B = B;
    p.H = H;
    for (size_t i = 0; i < CELL_INPUTS; i++)
        p.given[i] = true;
    for (size_t i = 0; i < k->tensors; i++)
        p.t[i] = tu_alloc(dt, cell_numel(k, i, B, H));
    return p;
}

static void cell_free(cell *p)
{
    for (size_t i = 0; i < p->kind->tensors; i++)
        tu_free(&p->t[i]);
}

/* A problem with random inputs from `seed` (logged with `what`). */
static cell cell_random(const cell_kind *k, sigfuse_dtype dt, int64_t B, int64_t H, uint64_t seed,
                        const char *what)
{
    tu_rng rng = tu_rng_seed(seed, what);
    cell p = cell_alloc(k, dt, B, H);
    for (size_t i = 0; i < CELL_INPUTS; i++)
        tu_fill_uniform(&p.t[i], &rng, -k->fill_width[i], k->fill_width[i]);
    return p;
}

/* The same, with the forward and the backward run on it (every output written). */
static cell cell_solved(const cell_kind *k, sigfuse_dtype dt, int64_t B, int64_t H,
                        uint64_t seed, const char *what)
{
    cell p = cell_random(k, dt, B, H, seed, what);
    TU_OK(ctx, k->forward(ctx, &p));
    TU_OK(ctx, k->backward(ctx, &p));
    return p;
}

/* src's shape and given inputs in dtype dt: its inputs rounded to dt, the outputs poisoned. */
static cell cell_copy_as(const cell *src, sigfuse_dtype dt)
{
    cell p = cell_alloc(src->kind, dt, src->B, src->H);
    memcpy(p.given, src->given, sizeof p.given);
    for (size_t i = 0; i < CELL_INPUTS; i++) {
        tu_free(&p.t[i]);
        p.t[i] = tu_copy_as(&src->t[i], dt);
    }
    return p;
}

/* The hand cases' inputs, each from an array (NULL: left as it is). */
static void cell_set_inputs(cell *p, const double *const values[CELL_INPUTS])
{
    for (size_t i = 0; i < CELL_INPUTS; i++)
        if (values[i])
            tu_set_all(&p->t[i], values[i]);
}

/* Row 0 of a gates tensor from one array per gate block (block g holds columns g H ..). */
static void set_gate_blocks(tu_buf *gates, int64_t H, const double *const blocks[], int count)
{
    for (int g = 0; g < count; g++)
        for (int64_t j = 0; j < H; j++)
            tu_set(gates, g * H + j, blocks[g][j]);
}

static void set_constant(tu_buf *b, double v)
{
    for (int64_t k = 0; k < b->n; k++)
        tu_set(b, k, v);
}

/* Outputs t[first .. last) of p are q's (the same call in f64) rounded once; what NULL:
 * each output under its own name. */
static void cell_assert_rounded(const cell *p, const cell *q, size_t first, size_t last, const char *what)
{
    for (size_t i = first; i < last; i++)
        tu_assert_rounded(&p->t[i], &q->t[i], what ? what : p->kind->names[i]);
}

static bool cell_untouched(const cell *p, size_t first, size_t last)
{
    bool untouched = true;
    for (size_t i = first; i < last; i++)
        untouched = untouched && tu_untouched(&p->t[i]);
    return untouched;
}

static void cell_assert_guards(const cell *p, const char *what)
{
    for (size_t i = 0; i < p->kind->tensors; i++)
        cr_assert(tu_guards_ok(&p->t[i]), "%s: guard %zu", what, i);
}

static void cell_assert_inputs_equal(const cell *p, const cell *before)
{
    for (size_t i = 0; i < CELL_INPUTS; i++)
        cr_assert(tu_bytes_equal(&p->t[i], &before->t[i]), "input %s changed", p->kind->names[i]);
}

/* The forward and the backward of p (its inputs set) and of the same inputs in f64:
 * every output equal to the f64 one rounded once. */
static void cell_assert_rounded_like_f64(cell *p)
{
    cell q = cell_copy_as(p, SIGFUSE_F64);
    TU_OK(ctx, p->kind->forward(ctx, p));
    TU_OK(ctx, p->kind->backward(ctx, p));
    TU_OK(ctx, q.kind->forward(ctx, &q));
    TU_OK(ctx, q.kind->backward(ctx, &q));
    cell_assert_rounded(p, &q, CELL_INPUTS, p->kind->tensors, NULL);
    cell_free(&q);
}

/* ---- The checks both cells get --------------------------------------------------------- */

/* L = sum of each forward output times its upstream gradient (dh h + dc c for the LSTM) at
 * the current inputs; an absent dh or dc adds nothing. */
static double cell_objective(cell *p)
{
    const cell_kind *k = p->kind;
    TU_OK(ctx, k->forward(ctx, p));
    double sum = 0.0;
    for (int64_t e = 0; e < p->B * p->H; e++)
        for (size_t o = CELL_INPUTS; o < k->first_gradient; o++) {
            const size_t up = k->upstream[o - CELL_INPUTS];
            if (p->given[up])
                sum += tu_get(&p->t[up], e) * tu_get(&p->t[o], e);
        }
    return sum;
}

/* Each element of `in` moved by +-h: the central difference of L against grad[k]. */
static void fd_against(cell *p, tu_buf *in, const tu_buf *grad, const char *what)
{
    for (int64_t k = 0; k < in->n; k++) {
        double x = tu_get(in, k), h = tu_fd_step(x);
        tu_set(in, k, x + h);
        double lp = cell_objective(p);
        double xp = tu_get(in, k);
        tu_set(in, k, x - h);
        double lm = cell_objective(p);
        double xm = tu_get(in, k);
        tu_set(in, k, x);
        double fd = (lp - lm) / (xp - xm);
        cr_assert(tu_close(tu_get(grad, k), fd, 1e-6, 1e-9),
                  "d L / d %s[%lld]: backward %.17g, finite difference %.17g", what, (long long)k,
                  tu_get(grad, k), fd);
    }
}

/* Every gradient against central differences of L, in f64 at B = 3, H = 5, with the
 * optional inputs `given` says. A bias gradient is the gradient of the bias whether or not
 * one was passed: an absent bias is checked as a zero one; an absent gates_h is skipped. */
static void check_cell_fd(const cell_kind *k, const bool given[CELL_INPUTS], uint64_t seed)
{
    char what[64];
    snprintf(what, sizeof what, "%s finite differences", k->name);
    cell p = cell_random(k, SIGFUSE_F64, 3, 5, seed, what);
    memcpy(p.given, given, sizeof p.given);
    TU_OK(ctx, k->backward(ctx, &p));
    for (size_t c = 0; c < k->fd_checks; c++) {
        const size_t in = k->fd_input[c], grad = k->fd_gradient[c];
        const bool was_given = p.given[in];
        if (!was_given && grad < k->first_bias_gradient)
            continue;
        if (!was_given) {
            set_constant(&p.t[in], 0.0);
            p.given[in] = true;
        }
        fd_against(&p, &p.t[in], &p.t[grad], k->names[in]);
        p.given[in] = was_given;
    }
    cell_free(&p);
}

/* Each bias gradient's column is the sum of that column of its per-row gradient, taken in
 * row order in double (B = 7, H = 3). `backward` is the call to check. */
static void check_cell_dbias_row_sum(const cell_kind *k, sigfuse_status (*backward)(sigfuse_ctx *, cell *),
                                     uint64_t seed)
{
    char what[64];
    snprintf(what, sizeof what, "%s dbias", k->name);
    cell p = cell_random(k, SIGFUSE_F64, 7, 3, seed, what);
    TU_OK(ctx, backward(ctx, &p));
    const int64_t cols = k->gates * 3;
    for (size_t b = k->first_bias_gradient; b < k->tensors; b++) {
        const tu_buf *rows = &p.t[k->bias_row_gradient[b - k->first_bias_gradient]];
        for (int64_t col = 0; col < cols; col++) {
            double sum = 0.0;
            for (int64_t r = 0; r < 7; r++)
                sum += tu_get(rows, r * cols + col);
            cr_expect_eq(tu_get(&p.t[b], col), sum, "%s[%lld]", k->names[b], (long long)col);
        }
    }
    cell_free(&p);
}

/* A storage dtype: forward and backward equal the f64 run on the same inputs rounded once,
 * every output element written, nothing else written, guards intact. */
static void check_cell_dtype(const cell_kind *k, bool backward, sigfuse_dtype dt, int64_t B, int64_t H)
{
    char what[96];
    snprintf(what, sizeof what, "%s %s %s B=%lld H=%lld", k->name, backward ? "backward" : "forward",
             sigfuse_dtype_name(dt), (long long)B, (long long)H);
    cell p = cell_random(k, dt, B, H, k->dtype_seed + (uint64_t)(B * 1000 + H) + (uint64_t)dt * 7u, what);
    cell q = cell_copy_as(&p, SIGFUSE_F64);
    if (backward) {
        TU_OK(ctx, k->backward(ctx, &p));
        TU_OK(ctx, k->backward(ctx, &q));
        cell_assert_rounded(&p, &q, k->first_gradient, k->tensors, what);
        if (B == 0)
            for (int64_t e = 0; e < k->gates * H; e++) {
                bool zero = true;
                for (size_t b = k->first_bias_gradient; b < k->tensors; b++)
                    zero = zero && tu_get(&p.t[b], e) == 0.0;
                cr_assert(zero, "%s: bias gradients of no rows are 0 (element %lld)", what, (long long)e);
            }
        cr_assert(cell_untouched(&p, CELL_INPUTS, k->first_gradient), "%s: wrote a forward output", what);
    } else {
        TU_OK(ctx, k->forward(ctx, &p));
        TU_OK(ctx, k->forward(ctx, &q));
        cell_assert_rounded(&p, &q, CELL_INPUTS, k->first_gradient, what);
        cr_assert(cell_untouched(&p, k->first_gradient, k->tensors), "%s: wrote a gradient", what);
    }
    cell_assert_guards(&p, what);
    cell_free(&p);
    cell_free(&q);
}

/* One Test per (direction, storage dtype, B x H): empty, one unit, odd sizes, a long row. */
#define CELL_SHAPE_CASES(suite, dir, dtname, DT, kind)                                               \
    Test(suite, dir##_##dtname##_b0_h4) { check_cell_dtype(&kind, #dir[0] == 'b', DT, 0, 4); }      \
    Test(suite, dir##_##dtname##_b1_h1) { check_cell_dtype(&kind, #dir[0] == 'b', DT, 1, 1); }      \
    Test(suite, dir##_##dtname##_b7_h3) { check_cell_dtype(&kind, #dir[0] == 'b', DT, 7, 3); }      \
    Test(suite, dir##_##dtname##_b3_h341) { check_cell_dtype(&kind, #dir[0] == 'b', DT, 3, 341); }  \
    Test(suite, dir##_##dtname##_b17_h61) { check_cell_dtype(&kind, #dir[0] == 'b', DT, 17, 61); }
#define CELL_DTYPE_CASES(suite, kind)                                  \
    RC_FOR_STORAGE_DTYPES(CELL_SHAPE_CASES, suite, forward, kind)     \
    RC_FOR_STORAGE_DTYPES(CELL_SHAPE_CASES, suite, backward, kind)

/* Every tensor addressed through desc.offset, tensor i at (stride i + 1) elements: the same
 * bits as plain buffers. */
static void check_cell_offsets(const cell_kind *k, sigfuse_dtype dt, int64_t B, int64_t H, size_t stride,
                               uint64_t seed)
{
    char what[64];
    snprintf(what, sizeof what, "%s offsets", k->name);
    cell p = cell_solved(k, dt, B, H, seed, what);
    cell o = cell_alloc(k, dt, B, H);
    for (size_t i = 0; i < k->tensors; i++) {
        tu_free(&o.t[i]);
        o.t[i] = tu_alloc_offset(dt, p.t[i].n, (stride * i + 1) * sigfuse_dtype_size(dt));
        for (int64_t e = 0; e < p.t[i].n && i < CELL_INPUTS; e++)
            tu_set(&o.t[i], e, tu_get(&p.t[i], e));
    }
    TU_OK(ctx, k->forward(ctx, &o));
    TU_OK(ctx, k->backward(ctx, &o));
    for (size_t i = 0; i < k->tensors; i++)
        tu_assert_bitwise(&o.t[i], &p.t[i], "a tensor at an offset");
    cell_free(&o);
    cell_free(&p);
}

/* One output at a time (outputs[], in order) gives the bits of all of them at once; the
 * outputs not asked for so far stay untouched and the inputs stay as they were. */
static void check_cell_outputs_alone(const cell_kind *k, const size_t *outputs, size_t count, uint64_t seed,
                                     const char *what)
{
    cell p = cell_random(k, SIGFUSE_F32, 5, 7, seed, what);
    cell all = cell_copy_as(&p, SIGFUSE_F32);
    bool asked[CELL_MAX_TENSORS] = {false}, any_forward = false;
    for (size_t s = 0; s < count; s++)
        any_forward = any_forward || outputs[s] < k->first_gradient;
    if (any_forward)
        TU_OK(ctx, k->forward(ctx, &all));
    TU_OK(ctx, k->backward(ctx, &all));
    cell before = cell_copy_as(&p, SIGFUSE_F32);
    for (size_t s = 0; s < count; s++) {
        const size_t o = outputs[s];
        char alone[64];
        snprintf(alone, sizeof alone, "%s alone", k->names[o]);
        asked[o] = true;
        TU_OK(ctx, k->only(ctx, &p, o));
        tu_assert_bitwise(&p.t[o], &all.t[o], alone);
        bool others = false, untouched = true;
        for (size_t i = CELL_INPUTS; i < k->tensors; i++)
            if (!asked[i]) {
                others = true;
                untouched = untouched && tu_untouched(&p.t[i]);
            }
        if (others)
            cr_assert(untouched, "%s wrote an output not asked for", alone);
    }
    cell_assert_inputs_equal(&p, &before);
    cell_free(&p);
    cell_free(&all);
    cell_free(&before);
}

/* An output written over an input (its descriptor replaced by the input's), as a
 * recurrence loop does: the same bits as out of place, for the aliased outputs and the
 * others of the call alike. */
typedef struct cell_alias {
    size_t output, input;
} cell_alias;

static void check_cell_aliasing(const cell_kind *k, sigfuse_dtype dt, uint64_t seed, const cell_alias *forward,
                                size_t n_forward, const cell_alias *backward, size_t n_backward)
{
    char what[64];
    snprintf(what, sizeof what, "%s aliasing", k->name);
    cell p = cell_solved(k, dt, 4, 9, seed, what);
    for (int dir = 0; dir < 2; dir++) {
        const cell_alias *aliases = dir ? backward : forward;
        const size_t n_aliases = dir ? n_backward : n_forward;
        const size_t first = dir ? k->first_gradient : CELL_INPUTS, last = dir ? k->tensors : k->first_gradient;
        cell w = cell_copy_as(&p, dt);
        size_t read_from[CELL_MAX_TENSORS];
        for (size_t o = first; o < last; o++)
            read_from[o] = o;
        for (size_t a = 0; a < n_aliases; a++) {
            w.t[aliases[a].output].desc = w.t[aliases[a].input].desc;
            read_from[aliases[a].output] = aliases[a].input;
        }
        TU_OK(ctx, dir ? k->backward(ctx, &w) : k->forward(ctx, &w));
        for (size_t o = first; o < last; o++) {
            char msg[96];
            if (read_from[o] != o)
                snprintf(msg, sizeof msg, "%s aliasing %s", k->names[o], k->names[read_from[o]]);
            else
                snprintf(msg, sizeof msg, "%s beside the aliased outputs", k->names[o]);
            tu_assert_bitwise(&w.t[read_from[o]], &p.t[o], msg);
        }
        cell_free(&w);
    }
    cell_free(&p);
}

/* ==== LSTM ================================================================================ */

static sigfuse_status lstm_fwd(sigfuse_ctx *ctx, cell *p, bool want_h, bool want_c)
{
    sigfuse_lstm_forward_args a = {
        .batch = p->B, .hidden = p->H, .gates_x = &p->lstm.gx.desc,
        .gates_h = opt(&p->lstm.gh, p->given[LSTM_GATES_H]), .bias = opt(&p->lstm.bias, p->given[LSTM_BIAS]),
        .c_prev = &p->lstm.c_prev.desc, .h = opt(&p->lstm.h, want_h), .c = opt(&p->lstm.c, want_c)};
    return sigfuse_lstm_cell_forward(ctx, &a);
}

static sigfuse_status lstm_bwd(sigfuse_ctx *ctx, cell *p, bool want_dgates, bool want_dc_prev, bool want_dbias)
{
    sigfuse_lstm_backward_args a = {
        .batch = p->B, .hidden = p->H, .gates_x = &p->lstm.gx.desc,
        .gates_h = opt(&p->lstm.gh, p->given[LSTM_GATES_H]), .bias = opt(&p->lstm.bias, p->given[LSTM_BIAS]),
        .c_prev = &p->lstm.c_prev.desc, .dh = opt(&p->lstm.dh, p->given[LSTM_DH]),
        .dc = opt(&p->lstm.dc, p->given[LSTM_DC]), .dgates = opt(&p->lstm.dgates, want_dgates),
        .dc_prev = opt(&p->lstm.dc_prev, want_dc_prev), .dbias = opt(&p->lstm.dbias, want_dbias)};
    return sigfuse_lstm_cell_backward(ctx, &a);
}

static sigfuse_status lstm_forward_all(sigfuse_ctx *ctx, cell *p) { return lstm_fwd(ctx, p, true, true); }
static sigfuse_status lstm_backward_all(sigfuse_ctx *ctx, cell *p) { return lstm_bwd(ctx, p, true, true, true); }
static sigfuse_status lstm_backward_no_dc_prev(sigfuse_ctx *ctx, cell *p) { return lstm_bwd(ctx, p, true, false, true); }

static sigfuse_status lstm_only(sigfuse_ctx *ctx, cell *p, size_t output)
{
    if (output < LSTM_DGATES)
        return lstm_fwd(ctx, p, output == LSTM_H, output == LSTM_C);
    return lstm_bwd(ctx, p, output == LSTM_DGATES, output == LSTM_DC_PREV, output == LSTM_DBIAS);
}

static const cell_kind lstm_cell = {
    .name = "lstm", .gates = 4, .dtype_seed = 0x1517u,
    .tensors = LSTM_TENSORS, .first_gradient = LSTM_DGATES, .first_bias_gradient = LSTM_DBIAS,
    .names = {"gates_x", "gates_h", "bias", "c_prev", "dh", "dc", "h", "c", "dgates", "dc_prev", "dbias"},
    .shape = {PER_ROW | GATED, PER_ROW | GATED, GATED, PER_ROW, PER_ROW, PER_ROW, PER_ROW, PER_ROW,
              PER_ROW | GATED, PER_ROW, GATED},
    .fill_width = {2.5, 1.5, 1.0, 2.0, 1.0, 1.0},
    .upstream = {LSTM_DH, LSTM_DC},
    .fd_checks = 4,
    .fd_input = {LSTM_GATES_X, LSTM_GATES_H, LSTM_BIAS, LSTM_C_PREV},
    .fd_gradient = {LSTM_DGATES, LSTM_DGATES, LSTM_DBIAS, LSTM_DC_PREV},
    .bias_row_gradient = {LSTM_DGATES},
    .forward = lstm_forward_all, .backward = lstm_backward_all, .only = lstm_only,
};

/* Hand case: B = H = 1 with every input present (wanted values from 50-digit arithmetic). */
Test(ref_lstm, hand_computed_f64_b1_h1)
{
    cell p = cell_alloc(&lstm_cell, SIGFUSE_F64, 1, 1);
    const double gx[4] = {0.5, -0.25, 1.0, 2.0}, gh[4] = {0.125, 0.5, -0.75, -1.0};
    const double bias[4] = {0.25, 1.0, 0.5, 0.0}, c_prev = -0.5, dh = 0.75, dc = -0.25;
    cell_set_inputs(&p, (const double *const[CELL_INPUTS]){gx, gh, bias, &c_prev, &dh, &dc});
    TU_OK(ctx, lstm_forward_all(ctx, &p));
    TU_OK(ctx, lstm_backward_all(ctx, &p));
    const double rtol = 1e-14;
    cr_expect(tu_close(tu_get(&p.lstm.c, 0), 0.059628690453964524699, rtol, 0), "c %.17g", tu_get(&p.lstm.c, 0));
    cr_expect(tu_close(tu_get(&p.lstm.h, 0), 0.043540474026750332209, rtol, 0), "h %.17g", tu_get(&p.lstm.h, 0));
    const double dg[4] = {0.039085558777560760202, -0.025649718931193011539,
                          0.12478112232951066182, 0.0087823777289081919761};
    for (int64_t k = 0; k < 4; k++) {
        cr_expect(tu_close(tu_get(&p.lstm.dgates, k), dg[k], rtol, 0), "dgates[%lld] %.17g want %.17g",
                  (long long)k, tu_get(&p.lstm.dgates, k), dg[k]);
        cr_expect(tu_close(tu_get(&p.lstm.dbias, k), dg[k], rtol, 0), "dbias[%lld]", (long long)k);
    }
    cr_expect(tu_close(tu_get(&p.lstm.dc_prev, 0), 0.23035206952711641692, rtol, 0), "dc_prev %.17g",
              tu_get(&p.lstm.dc_prev, 0));
    cell_free(&p);
}

/* With all pre-activations 0 every sigmoid is 1/2 and tanh(g) = 0, so c = c_prev / 2 and
 * h = tanh(c_prev / 2) / 2; gates_h and bias absent. */
Test(ref_lstm, zero_gates_closed_form_f64_b2_h3)
{
    cell p = cell_alloc(&lstm_cell, SIGFUSE_F64, 2, 3);
    p.given[LSTM_GATES_H] = p.given[LSTM_BIAS] = false;
    const double c_prev[6] = {-3.0, -1.0, 0.0, 0.5, 2.0, 7.0};
    set_constant(&p.lstm.gx, 0.0);
    tu_set_all(&p.lstm.c_prev, c_prev);
    TU_OK(ctx, lstm_forward_all(ctx, &p));
    for (int64_t k = 0; k < 6; k++) {
        cr_expect_eq(tu_get(&p.lstm.c, k), 0.5 * c_prev[k]);
        cr_expect(tu_close(tu_get(&p.lstm.h, k), 0.5 * tanh(0.5 * c_prev[k]), 1e-15, 0), "h[%lld]",
                  (long long)k);
    }
    cell_free(&p);
}

static void check_lstm_fd(bool has_gh, bool has_bias, bool has_dh, bool has_dc, uint64_t seed)
{
    const bool given[CELL_INPUTS] = {true, has_gh, has_bias, true, has_dh, has_dc};
    check_cell_fd(&lstm_cell, given, seed);
}

Test(ref_lstm, backward_finite_difference_f64_b3_h5) { check_lstm_fd(true, true, true, true, 41); }
Test(ref_lstm, backward_finite_difference_no_gates_h_no_bias_f64_b3_h5) { check_lstm_fd(false, false, true, true, 42); }
Test(ref_lstm, backward_finite_difference_dh_only_f64_b3_h5) { check_lstm_fd(true, true, true, false, 43); }
Test(ref_lstm, backward_finite_difference_dc_only_f64_b3_h5) { check_lstm_fd(true, false, false, true, 44); }

/* dbias[col] is the sum of dgates[row][col] taken in row order, in double (dc_prev not
 * asked for). */
Test(ref_lstm, dbias_is_row_order_sum_f64_b7_h3) { check_cell_dbias_row_sum(&lstm_cell, lstm_backward_no_dc_prev, 45); }

/* Saturated and non-finite pre-activations, one per column (dh = dc = 1). */
Test(ref_lstm, extremes_f32_b1_h6)
{
    const double I = INFINITY;
    /* columns j:         0     1     2       3    4    5 */
    const double gi[6] = {I,    -I,   1e4,    NAN, 0.0, 0.0};
    const double gf[6] = {-I,   I,    -1e4,   0.0, 0.0, 0.0};
    const double gg[6] = {I,    -1e4, 88.7,   0.0, 0.0, 0.0};
    const double go[6] = {I,    -I,   -88.7,  0.0, 0.0, 0.0};
    const double cp[6] = {5.0,  3.0,  -2.0,   1.0, NAN, I};
    cell p = cell_alloc(&lstm_cell, SIGFUSE_F32, 1, 6);
    p.given[LSTM_GATES_H] = p.given[LSTM_BIAS] = false;
    set_gate_blocks(&p.lstm.gx, 6, (const double *const[]){gi, gf, gg, go}, 4);
    tu_set_all(&p.lstm.c_prev, cp);
    set_constant(&p.lstm.dh, 1.0);
    set_constant(&p.lstm.dc, 1.0);
    cell_assert_rounded_like_f64(&p);

    /* The limits: c = sigma(f) c_prev + sigma(i) tanh(g) with each factor 0 or 1. */
    cr_expect_eq(tu_get(&p.lstm.c, 0), 1.0);
    cr_expect_eq(tu_get(&p.lstm.h, 0), (double)(float)tanh(1.0));
    cr_expect_eq(tu_get(&p.lstm.c, 1), 3.0);
    cr_expect_eq(tu_get(&p.lstm.h, 1), 0.0);
    cr_expect_eq(tu_get(&p.lstm.c, 2), 1.0);
    cr_expect(tu_get(&p.lstm.h, 2) > 0.0 && tu_get(&p.lstm.h, 2) < 1e-38, "h[2] = %g (an f32 subnormal)",
              tu_get(&p.lstm.h, 2));
    cr_expect(isnan(tu_get(&p.lstm.c, 3)) && isnan(tu_get(&p.lstm.h, 3)));
    cr_expect(isnan(tu_get(&p.lstm.c, 4)) && isnan(tu_get(&p.lstm.h, 4)));
    cr_expect(tu_get(&p.lstm.c, 5) == INFINITY && tu_get(&p.lstm.h, 5) == 0.5);
    /* Saturated columns: finite gradients, every gate's own derivative 0. */
    for (int64_t j = 0; j < 3; j++) {
        for (int64_t g = 0; g < 4; g++)
            cr_expect(isfinite(tu_get(&p.lstm.dgates, g * 6 + j)), "dgates gate %lld col %lld = %g",
                      (long long)g, (long long)j, tu_get(&p.lstm.dgates, g * 6 + j));
        cr_expect(isfinite(tu_get(&p.lstm.dc_prev, j)));
    }
    cr_expect_eq(tu_get(&p.lstm.dc_prev, 0), 0.0);
    cr_expect_eq(tu_get(&p.lstm.dc_prev, 1), 1.0);
    for (int64_t g = 0; g < 4; g++) {
        cr_expect(isnan(tu_get(&p.lstm.dgates, g * 6 + 3)), "NaN i: dgates gate %lld", (long long)g);
        cr_expect(isnan(tu_get(&p.lstm.dgates, g * 6 + 4)), "NaN c_prev: dgates gate %lld", (long long)g);
    }
    /* c = inf: tanh'(c) = 0, so dc_total = dc = 1 and dc_prev = sigma(0) = 1/2. */
    cr_expect_eq(tu_get(&p.lstm.dc_prev, 5), 0.5);
    cr_expect_eq(tu_get(&p.lstm.dgates, 18 + 5), 0.25);   /* d_o = dh tanh(inf) / 4 */
    cell_free(&p);
}

CELL_DTYPE_CASES(ref_lstm, lstm_cell)

/* dbias, dc_prev, h, then c alone: each the bits of the call with every output. */
Test(ref_lstm, optional_outputs_f32_b5_h7)
{
    const size_t alone[] = {LSTM_DBIAS, LSTM_DC_PREV, LSTM_H, LSTM_C};
    check_cell_outputs_alone(&lstm_cell, alone, 4, 46, "lstm optional outputs");
}

/* The aliasing a recurrence loop uses: c over c_prev (forward), dc_prev over dc
 * (backward), and dgates over gates_x. */
Test(ref_lstm, aliasing_f16_b4_h9)
{
    const cell_alias forward[] = {{LSTM_C, LSTM_C_PREV}};
    const cell_alias backward[] = {{LSTM_DGATES, LSTM_GATES_X}, {LSTM_DC_PREV, LSTM_DC}};
    check_cell_aliasing(&lstm_cell, SIGFUSE_F16, 47, forward, 1, backward, 2);
}

Test(ref_lstm, offsets_bf16_b3_h11) { check_cell_offsets(&lstm_cell, SIGFUSE_BF16, 3, 11, 2, 48); }

/* ==== GRU ================================================================================= */

static sigfuse_status gru_fwd(sigfuse_ctx *ctx, cell *p)
{
    sigfuse_gru_forward_args a = {
        .batch = p->B, .hidden = p->H, .gates_x = &p->gru.gx.desc, .gates_h = &p->gru.gh.desc,
        .bias_x = opt(&p->gru.bx, p->given[GRU_BIAS_X]), .bias_h = opt(&p->gru.bh, p->given[GRU_BIAS_H]),
        .h_prev = &p->gru.h_prev.desc, .h = &p->gru.h.desc};
    return sigfuse_gru_cell_forward(ctx, &a);
}

/* want: bit 0 dgates_x, 1 dgates_h, 2 dh_prev, 3 dbias_x, 4 dbias_h. */
static sigfuse_status gru_bwd(sigfuse_ctx *ctx, cell *p, unsigned want)
{
    sigfuse_gru_backward_args a = {
        .batch = p->B, .hidden = p->H, .gates_x = &p->gru.gx.desc, .gates_h = &p->gru.gh.desc,
        .bias_x = opt(&p->gru.bx, p->given[GRU_BIAS_X]), .bias_h = opt(&p->gru.bh, p->given[GRU_BIAS_H]),
        .h_prev = &p->gru.h_prev.desc, .dh = &p->gru.dh.desc,
        .dgates_x = opt(&p->gru.dgx, want & 1u), .dgates_h = opt(&p->gru.dgh, want & 2u),
        .dh_prev = opt(&p->gru.dh_prev, want & 4u), .dbias_x = opt(&p->gru.dbx, want & 8u),
        .dbias_h = opt(&p->gru.dbh, want & 16u)};
    return sigfuse_gru_cell_backward(ctx, &a);
}

#define GRU_ALL 31u

static sigfuse_status gru_backward_all(sigfuse_ctx *ctx, cell *p) { return gru_bwd(ctx, p, GRU_ALL); }

/* h is the forward's one output; a gradient alone is its bit of gru_bwd's mask. */
static sigfuse_status gru_only(sigfuse_ctx *ctx, cell *p, size_t output)
{
    return output == GRU_H ? gru_fwd(ctx, p) : gru_bwd(ctx, p, 1u << (output - GRU_DGATES_X));
}

static const cell_kind gru_cell = {
    .name = "gru", .gates = 3, .dtype_seed = 0x6e0u,
    .tensors = GRU_TENSORS, .first_gradient = GRU_DGATES_X, .first_bias_gradient = GRU_DBIAS_X,
    .names = {"gates_x", "gates_h", "bias_x", "bias_h", "h_prev", "dh", "h", "dgates_x", "dgates_h", "dh_prev",
              "dbias_x", "dbias_h"},
    .shape = {PER_ROW | GATED, PER_ROW | GATED, GATED, GATED, PER_ROW, PER_ROW, PER_ROW, PER_ROW | GATED,
              PER_ROW | GATED, PER_ROW, GATED, GATED},
    .fill_width = {2.5, 2.0, 1.0, 1.0, 1.0, 1.0},
    .upstream = {GRU_DH},
    .fd_checks = 5,
    .fd_input = {GRU_GATES_X, GRU_GATES_H, GRU_H_PREV, GRU_BIAS_X, GRU_BIAS_H},
    .fd_gradient = {GRU_DGATES_X, GRU_DGATES_H, GRU_DH_PREV, GRU_DBIAS_X, GRU_DBIAS_H},
    .bias_row_gradient = {GRU_DGATES_X, GRU_DGATES_H},
    .forward = gru_fwd, .backward = gru_backward_all, .only = gru_only,
};

/* Hand case: B = H = 1 with both biases (wanted values from 50-digit arithmetic). */
Test(ref_gru, hand_computed_f64_b1_h1)
{
    cell p = cell_alloc(&gru_cell, SIGFUSE_F64, 1, 1);
    const double gx[3] = {0.5, -1.0, 0.25}, gh[3] = {-0.25, 0.75, 1.5};
    const double bx[3] = {0.125, 0.0, -0.5}, bh[3] = {0.0, 0.25, 0.5}, h_prev = 0.625, dh = -1.25;
    cell_set_inputs(&p, (const double *const[CELL_INPUTS]){gx, gh, bx, bh, &h_prev, &dh});
    TU_OK(ctx, gru_fwd(ctx, &p));
    TU_OK(ctx, gru_backward_all(ctx, &p));
    const double rtol = 1e-14;
    cr_expect(tu_close(tu_get(&p.gru.h, 0), 0.67903536664859842625, rtol, 0), "h %.17g", tu_get(&p.gru.h, 0));
    const double dgx[3] = {-0.13959921303714685251, 0.033772104155374016404, -0.28912956248944380119};
    const double dgh[3] = {-0.13959921303714685251, 0.033772104155374016404, -0.17135743474682640299};
    for (int64_t k = 0; k < 3; k++) {
        cr_expect(tu_close(tu_get(&p.gru.dgx, k), dgx[k], rtol, 0), "dgates_x[%lld] %.17g",
                  (long long)k, tu_get(&p.gru.dgx, k));
        cr_expect(tu_close(tu_get(&p.gru.dgh, k), dgh[k], rtol, 0), "dgates_h[%lld] %.17g",
                  (long long)k, tu_get(&p.gru.dgh, k));
        cr_expect(tu_close(tu_get(&p.gru.dbx, k), dgx[k], rtol, 0), "dbias_x[%lld]", (long long)k);
        cr_expect(tu_close(tu_get(&p.gru.dbh, k), dgh[k], rtol, 0), "dbias_h[%lld]", (long long)k);
    }
    cr_expect_eq(tu_get(&p.gru.dh_prev, 0), -0.625);   /* dh z with z = sigma(0) */
    cell_free(&p);
}

/* z saturated at 1 gives h = h_prev exactly; at 0 it gives h = n = tanh(gi_n + r gh_n). */
Test(ref_gru, saturated_update_gate_f64_b1_h2)
{
    cell p = cell_alloc(&gru_cell, SIGFUSE_F64, 1, 2);
    p.given[GRU_BIAS_X] = p.given[GRU_BIAS_H] = false;
    const double gx[6] = {0.0, 0.0, INFINITY, -INFINITY, 0.5, 0.5};
    const double gh[6] = {0.0, 0.0, 0.0, 0.0, 3.0, 3.0};
    const double h_prev[2] = {-0.3, 0.7}, dh[2] = {1.0, 1.0};
    cell_set_inputs(&p, (const double *const[CELL_INPUTS]){gx, gh, NULL, NULL, h_prev, dh});
    TU_OK(ctx, gru_fwd(ctx, &p));
    TU_OK(ctx, gru_backward_all(ctx, &p));
    cr_expect_eq(tu_get(&p.gru.h, 0), -0.3);
    cr_expect(tu_close(tu_get(&p.gru.h, 1), tanh(0.5 + 0.5 * 3.0), 1e-15, 0));
    cr_expect_eq(tu_get(&p.gru.dh_prev, 0), 1.0);
    cr_expect_eq(tu_get(&p.gru.dh_prev, 1), 0.0);
    for (int64_t k = 0; k < 6; k++)
        cr_expect(isfinite(tu_get(&p.gru.dgx, k)) && isfinite(tu_get(&p.gru.dgh, k)), "gradient %lld",
                  (long long)k);
    cell_free(&p);
}

static void check_gru_fd(bool has_bx, bool has_bh, uint64_t seed)
{
    const bool given[CELL_INPUTS] = {true, true, has_bx, has_bh, true, true};
    check_cell_fd(&gru_cell, given, seed);
}

Test(ref_gru, backward_finite_difference_f64_b3_h5) { check_gru_fd(true, true, 51); }
Test(ref_gru, backward_finite_difference_no_biases_f64_b3_h5) { check_gru_fd(false, false, 52); }
Test(ref_gru, backward_finite_difference_bias_h_only_f64_b3_h5) { check_gru_fd(false, true, 53); }

Test(ref_gru, dbias_is_row_order_sum_f64_b7_h3) { check_cell_dbias_row_sum(&gru_cell, gru_backward_all, 54); }

/* Saturated, infinite and NaN inputs, one per column (dh = 1). */
Test(ref_gru, extremes_f32_b1_h5)
{
    const double I = INFINITY;
    /* columns j:         0     1      2      3    4 */
    const double xr[5] = {I,    -1e4,  88.7,  NAN, 0.0};
    const double xz[5] = {-I,   1e4,   -88.7, 0.0, 0.0};
    const double xn[5] = {I,    -1e4,  0.5,   0.0, 0.0};
    const double hr[5] = {0.0,  0.0,   0.0,   0.0, 0.0};
    const double hz[5] = {0.0,  0.0,   0.0,   0.0, 0.0};
    const double hn[5] = {5.0,  1e4,   -88.7, 0.0, 0.0};
    const double hp[5] = {0.5,  -0.5,  2.0,   1.0, NAN};
    cell p = cell_alloc(&gru_cell, SIGFUSE_F32, 1, 5);
    p.given[GRU_BIAS_X] = p.given[GRU_BIAS_H] = false;
    set_gate_blocks(&p.gru.gx, 5, (const double *const[]){xr, xz, xn}, 3);
    set_gate_blocks(&p.gru.gh, 5, (const double *const[]){hr, hz, hn}, 3);
    tu_set_all(&p.gru.h_prev, hp);
    set_constant(&p.gru.dh, 1.0);
    cell_assert_rounded_like_f64(&p);
    /* Column 0: r = 1, z = 0, n = tanh(inf) = 1: h = 1. Column 1: r = 0, z = 1: h = h_prev.
     * Column 2: r = 1, z ~ 3e-39, n = tanh(0.5 - 88.7). */
    cr_expect_eq(tu_get(&p.gru.h, 0), 1.0);
    cr_expect_eq(tu_get(&p.gru.h, 1), -0.5);
    cr_expect(tu_close(tu_get(&p.gru.h, 2), (double)(float)tanh(0.5 - (double)(float)88.7), 1e-7, 0),
              "h[2] = %.9g", tu_get(&p.gru.h, 2));
    for (int64_t j = 0; j <= 2; j++) {
        cr_expect(isfinite(tu_get(&p.gru.dh_prev, j)));
        for (int64_t b = 0; b < 3; b++)
            cr_expect(isfinite(tu_get(&p.gru.dgx, b * 5 + j)) && isfinite(tu_get(&p.gru.dgh, b * 5 + j)),
                      "column %lld block %lld", (long long)j, (long long)b);
    }
    cr_expect(isnan(tu_get(&p.gru.h, 3)) && isnan(tu_get(&p.gru.dgx, 3)) && isnan(tu_get(&p.gru.dgx, 13)),
              "NaN r propagates");
    cr_expect(isnan(tu_get(&p.gru.h, 4)) && isnan(tu_get(&p.gru.dgx, 5 + 4)), "NaN h_prev propagates");
    cell_free(&p);
}

CELL_DTYPE_CASES(ref_gru, gru_cell)

/* dbias_h alone, then dh_prev alone: the values of the full call. */
Test(ref_gru, optional_outputs_f32_b5_h7)
{
    const size_t alone[] = {GRU_DBIAS_H, GRU_DH_PREV};
    check_cell_outputs_alone(&gru_cell, alone, 2, 55, "gru optional outputs");
}

/* h over h_prev (forward), dh_prev over dh and both dgates over their gates (backward). */
Test(ref_gru, aliasing_f32_b4_h9)
{
    const cell_alias forward[] = {{GRU_H, GRU_H_PREV}};
    const cell_alias backward[] = {{GRU_DGATES_X, GRU_GATES_X}, {GRU_DGATES_H, GRU_GATES_H}, {GRU_DH_PREV, GRU_DH}};
    check_cell_aliasing(&gru_cell, SIGFUSE_F32, 56, forward, 1, backward, 3);
}

Test(ref_gru, offsets_f16_b3_h11) { check_cell_offsets(&gru_cell, SIGFUSE_F16, 3, 11, 3, 57); }
