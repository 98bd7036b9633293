/* SPDX-License-Identifier: MIT */
/* The reference tests' shared checks (ref_check.h). */
#include "ref_check.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

void rc_free_bufs(tu_buf *const *bufs, size_t count)
{
    for (size_t i = 0; i < count; i++)
        tu_free(bufs[i]);
}

void rc_random_bufs(tu_buf *bufs, int count, sigfuse_dtype dt, int64_t n, tu_rng *rng, const double (*range)[2])
{
    for (int k = 0; k < count; k++) {
        bufs[k] = tu_alloc(dt, n);
        tu_fill_uniform(&bufs[k], rng, range[k][0], range[k][1]);
    }
}

/* ---- Elementwise ops ------------------------------------------------------------------ */

enum { EW_MAX_INPUTS = 3, EW_MAX_OUTPUTS = 2 };

void rc_check_ew_dtype(sigfuse_ctx *ctx, const rc_ew_call *call, sigfuse_dtype dt, int64_t n, uint64_t seed,
                       const double (*range)[2])
{
    char what[96];
    snprintf(what, sizeof what, "%s %s %s n=%lld beta=%g", call->name, call->backward ? "backward" : "forward",
             sigfuse_dtype_name(dt), (long long)n, call->beta);
    tu_rng rng = tu_rng_seed(seed, what);
    tu_buf in[EW_MAX_INPUTS], in64[EW_MAX_INPUTS], out[EW_MAX_OUTPUTS], out64[EW_MAX_OUTPUTS];
    const tu_buf *in_p[EW_MAX_INPUTS], *in64_p[EW_MAX_INPUTS], *out_p[EW_MAX_OUTPUTS], *out64_p[EW_MAX_OUTPUTS];
    rc_random_bufs(in, call->inputs, dt, n, &rng, range);
    for (int k = 0; k < call->inputs; k++) {
        in64[k] = tu_copy_as(&in[k], SIGFUSE_F64);
        in_p[k] = &in[k];
        in64_p[k] = &in64[k];
    }
    for (int k = 0; k < call->max_outputs; k++) {
        out[k] = tu_alloc(dt, n);
        out64[k] = tu_alloc(SIGFUSE_F64, n);
        out_p[k] = &out[k];
        out64_p[k] = &out64[k];
    }
    TU_OK(ctx, call->run(ctx, call, n, in_p, out_p));
    TU_OK(ctx, call->run(ctx, call, n, in64_p, out64_p));
    for (int k = call->outputs; k < call->max_outputs; k++)
        cr_assert(tu_untouched(&out[k]), "%s: wrote output %d, which the call does not take", what, k);
    bool untouched = true, guards = true;
    for (int k = 0; k < call->max_outputs; k++)
        untouched = untouched && tu_untouched(&out[k]);
    if (n == 0)
        cr_assert(untouched, "%s: wrote something", what);
    for (int k = 0; k < call->outputs; k++)
        tu_assert_rounded(&out[k], &out64[k], what);
    for (int k = 0; k < call->inputs; k++)
        guards = guards && tu_guards_ok(&in[k]);
    cr_assert(guards, "%s: input guard overwritten", what);
    for (int k = 0; k < call->inputs; k++)
        RC_FREE(&in[k], &in64[k]);
    for (int k = 0; k < call->max_outputs; k++)
        RC_FREE(&out[k], &out64[k]);
}

void rc_assert_elementwise_fd(const char *what, sigfuse_ctx *ctx, rc_forward_at forward, const void *problem,
                              const char *in_name, const tu_buf *in, const tu_buf *dy, const tu_buf *grad,
                              const char *other_name, const tu_buf *other)
{
    const int64_t n = in->n;
    tu_buf plus = tu_alloc(SIGFUSE_F64, n), minus = tu_alloc(SIGFUSE_F64, n);
    tu_buf y_plus = tu_alloc(SIGFUSE_F64, n), y_minus = tu_alloc(SIGFUSE_F64, n);
    for (int64_t i = 0; i < n; i++) {
        double v = tu_get(in, i), h = tu_fd_step(v);
        tu_set(&plus, i, v + h);
        tu_set(&minus, i, v - h);
    }
    forward(ctx, problem, &plus, &y_plus);
    forward(ctx, problem, &minus, &y_minus);
    for (int64_t i = 0; i < n; i++) {
        double fd = tu_get(dy, i) * (tu_get(&y_plus, i) - tu_get(&y_minus, i)) /
                    (tu_get(&plus, i) - tu_get(&minus, i));
        char others[64] = "";
        if (other)
            snprintf(others, sizeof others, " %s=%.17g", other_name, tu_get(other, i));
        cr_assert(tu_close(tu_get(grad, i), fd, 1e-6, 1e-9),
                  "%s %s=%.17g%s [%lld]: d%s %.17g, finite difference %.17g", what, in_name, tu_get(in, i),
                  others, (long long)i, in_name, tu_get(grad, i), fd);
    }
    RC_FREE(&plus, &minus, &y_plus, &y_minus);
}

/* ---- The losses ---------------------------------------------------------------------- */

rc_loss_opt rc_bce_opt(int64_t rows, int64_t cols, sigfuse_reduction red)
{
    rc_loss_opt o = {rows, cols, red, 0.0, 1.0, 0.5, 0.0, 0.0};
    return o;
}

rc_loss_opt rc_focal_opt(int64_t rows, int64_t cols, sigfuse_reduction red, double alpha, double gamma)
{
    rc_loss_opt o = {rows, cols, red, 0.0, 1.0, 0.5, alpha, gamma};
    return o;
}

static const char *loss_op_name(rc_loss_op op) { return op == RC_BCE ? "bce_with_logits" : "sigmoid_focal"; }

/* The fields sigfuse_bce_args and sigfuse_focal_args share, from o and io (the options as
 * the floats the API takes). */
#define SET_LOSS_ARGS(a, o, io)                                                                      \
    ((a).rows = (o)->rows, (a).cols = (o)->cols, (a).reduction = (o)->red,                           \
     (a).grad_scale = (float)(o)->grad_scale, (a).logits = tu_opt_desc((io)->x),                     \
     (a).targets = tu_opt_desc((io)->y), (a).dloss_in = tu_opt_desc((io)->dl),                       \
     (a).loss = tu_opt_desc((io)->loss), (a).dlogits = tu_opt_desc((io)->dx))

sigfuse_status rc_loss_run(sigfuse_ctx *ctx, rc_loss_op op, const rc_loss_opt *o, const rc_loss_io *io)
{
    if (op == RC_FOCAL) {
        sigfuse_focal_args a;
        sigfuse_focal_args_init(&a);
        SET_LOSS_ARGS(a, o, io);
        a.alpha = (float)o->alpha;
        a.gamma = (float)o->gamma;
        return sigfuse_sigmoid_focal(ctx, &a);
    }
    sigfuse_bce_args a;
    sigfuse_bce_args_init(&a);
    SET_LOSS_ARGS(a, o, io);
    a.label_smoothing = (float)o->eps;
    a.threshold = (float)o->threshold;
    a.weight = tu_opt_desc(io->w);
    a.pos_weight = tu_opt_desc(io->pw);
    a.probs = tu_opt_desc(io->probs);
    a.labels = tu_opt_desc(io->labels);
    return sigfuse_bce_with_logits(ctx, &a);
}

void rc_loss_must_run(sigfuse_ctx *ctx, rc_loss_op op, const rc_loss_opt *o, const rc_loss_io *io)
{
    sigfuse_status st = rc_loss_run(ctx, op, o, io);
    cr_assert_eq(st, SIGFUSE_SUCCESS, "%s: %s (%s)", loss_op_name(op), sigfuse_status_string(st),
                 sigfuse_ctx_last_error(ctx));
}

/* The buffers of a call in rc_loss_io's order, inputs first; focal takes five of them. */
enum { S_X, S_Y, S_W, S_PW, S_DL, S_LOSS, S_DX, S_PROBS, S_LABELS, N_SLOTS };
static const char *const slot_names[N_SLOTS] = {"logits", "targets", "weight", "pos_weight", "dloss_in",
                                                "loss", "dlogits", "probs", "labels"};

static bool op_takes(rc_loss_op op, int slot)
{
    return op == RC_BCE || slot == S_X || slot == S_Y || slot == S_DL || slot == S_LOSS || slot == S_DX;
}

static rc_loss_io io_of(tu_buf *const slot[N_SLOTS])
{
    rc_loss_io io = {slot[S_X], slot[S_Y], slot[S_W], slot[S_PW], slot[S_DL],
                     slot[S_LOSS], slot[S_DX], slot[S_PROBS], slot[S_LABELS]};
    return io;
}

static sigfuse_dtype reduced_dtype(sigfuse_dtype dt) { return dt == SIGFUSE_F64 ? SIGFUSE_F64 : SIGFUSE_F32; }

/* Targets soft (uniform in [0, 1)) or hard (0 / 1). */
static void fill_targets(tu_buf *y, tu_rng *rng, bool soft)
{
    if (soft)
        tu_fill_uniform(y, rng, 0, 1);
    else
        tu_fill_binary(y, rng);
}

/* A call's inputs, for tu_expect_loss_fd to evaluate the loss at moved logits. */
typedef struct loss_problem {
    rc_loss_op op;
    const rc_loss_opt *o;
    rc_loss_io io;
} loss_problem;

static void loss_at(sigfuse_ctx *ctx, void *problem, tu_buf *loss)
{
    const loss_problem *p = problem;
    rc_loss_io io = p->io;
    io.loss = loss;
    rc_loss_must_run(ctx, p->op, p->o, &io);
}

void rc_loss_fd_check(sigfuse_ctx *ctx, rc_loss_op op, const rc_loss_opt *o, bool weight, bool pos_weight,
                      bool dloss_in, bool soft_targets, uint64_t seed, const char *name)
{
    tu_rng rng = tu_rng_seed(seed, name);
    const int64_t n = o->rows * o->cols;
    const bool none = o->red == SIGFUSE_REDUCTION_NONE;
    tu_buf x = tu_alloc(SIGFUSE_F64, n), y = tu_alloc(SIGFUSE_F64, n), dl = tu_alloc(SIGFUSE_F64, none ? n : 1);
    tu_buf dx = tu_alloc(SIGFUSE_F64, n), w = {0}, pw = {0};
    tu_fill_uniform(&x, &rng, -8, 8);
    fill_targets(&y, &rng, soft_targets);
    if (op == RC_BCE) {   /* drawn whether passed or not: the same values either way */
        w = tu_alloc(SIGFUSE_F64, n);
        pw = tu_alloc(SIGFUSE_F64, o->cols);
        tu_fill_uniform(&w, &rng, 0.1, 2.5);
        tu_fill_uniform(&pw, &rng, 0.2, 4);
    }
    tu_fill_uniform(&dl, &rng, -2, 2);
    rc_loss_io io = {.x = &x, .y = &y, .w = weight ? &w : NULL, .pw = pos_weight ? &pw : NULL,
                     .dl = dloss_in ? &dl : NULL, .dx = &dx};
    rc_loss_must_run(ctx, op, o, &io);

    loss_problem prob = {op, o, io};
    prob.io.dx = NULL;
    prob.io.dl = NULL;
    tu_expect_loss_fd(name, ctx, loss_at, &prob, none, &x, &y, &dx, o->grad_scale, dloss_in ? &dl : NULL);
    RC_FREE(&x, &y, &dl, &dx);
    if (op == RC_BCE)
        RC_FREE(&w, &pw);
}

/* Each label byte 0 or 1 (the first other one is reported). */
static void expect_u8_bytes(const tu_buf *b, const char *name)
{
    const uint8_t *d = (const uint8_t *)b->desc.ptr + b->desc.offset;
    for (int64_t i = 0; i < b->n; i++)
        if (d[i] > 1) {
            cr_expect(false, "%s: label byte %lld is %u (poison left?)", name, (long long)i, d[i]);
            return;
        }
}

void rc_loss_dtype_case(sigfuse_ctx *ctx, rc_loss_op op, sigfuse_dtype dt, const rc_loss_opt *o, bool u8_targets,
                        bool u8_labels, bool offsets, const char *name)
{
    tu_rng rng = tu_rng_seed((uint64_t)(o->rows * 1000003 + o->cols * 101 + o->red * 7 + dt), name);
    const int64_t n = o->rows * o->cols;
    const bool none = o->red == SIGFUSE_REDUCTION_NONE;
    const int64_t nloss = none ? n : 1;
    const sigfuse_dtype tdt = u8_targets ? SIGFUSE_U8 : dt, scalar = none ? dt : SIGFUSE_F32;
    const sigfuse_dtype dts[N_SLOTS] = {dt, tdt, dt, dt, scalar, none ? dt : reduced_dtype(dt), dt, dt,
                                        u8_labels ? SIGFUSE_U8 : dt};
    /* The oracle's: f64, but u8 targets and the f32 scalar dloss_in as they are. */
    const sigfuse_dtype dts64[N_SLOTS] = {SIGFUSE_F64, u8_targets ? SIGFUSE_U8 : SIGFUSE_F64, SIGFUSE_F64,
                                          SIGFUSE_F64, none ? SIGFUSE_F64 : SIGFUSE_F32, SIGFUSE_F64,
                                          SIGFUSE_F64, SIGFUSE_F64, SIGFUSE_U8};
    const int64_t counts[N_SLOTS] = {n, n, n, o->cols, nloss, nloss, n, n, n};
    tu_buf b[N_SLOTS], b64[N_SLOTS];
    tu_buf *slot[N_SLOTS] = {NULL}, *slot64[N_SLOTS] = {NULL};
    for (int s = 0, k = 0; s < N_SLOTS; s++)
        if (op_takes(op, s)) {
            b[s] = tu_alloc_kth(dts[s], counts[s], offsets, k++);
            slot[s] = &b[s];
        }
    tu_fill_uniform(&b[S_X], &rng, -12, 12);
    fill_targets(&b[S_Y], &rng, !u8_targets);
    if (op == RC_BCE) {
        tu_fill_uniform(&b[S_W], &rng, 0, 2);
        tu_fill_uniform(&b[S_PW], &rng, 0.5, 3);
    }
    tu_fill_uniform(&b[S_DL], &rng, -1.5, 1.5);
    rc_loss_io io = io_of(slot);
    rc_loss_must_run(ctx, op, o, &io);

    for (int s = 0; s < N_SLOTS; s++)
        if (slot[s]) {
            b64[s] = s < S_LOSS ? tu_copy_as(&b[s], dts64[s]) : tu_alloc(dts64[s], counts[s]);
            slot64[s] = &b64[s];
        }
    rc_loss_io io64 = io_of(slot64);
    rc_loss_must_run(ctx, op, o, &io64);

    for (int s = S_LOSS; s < N_SLOTS; s++)
        if (slot[s])
            tu_expect_rounded(&b[s], &b64[s], slot_names[s], name);
    if (slot[S_LABELS] && u8_labels)
        expect_u8_bytes(&b[S_LABELS], name);
    if (n == 0 && o->red == SIGFUSE_REDUCTION_MEAN)
        cr_expect(!tu_untouched(&b[S_LOSS]), "%s: the NaN mean of nothing is written, not left as poison", name);
    if (n == 0 && o->red == SIGFUSE_REDUCTION_SUM)
        cr_expect_eq(tu_get(&b[S_LOSS], 0), 0.0, "%s: the sum of nothing is 0", name);
    for (int s = 0; s < S_LOSS; s++)
        if (slot[s])
            cr_expect(tu_guards_ok(&b[s]), "%s: input %s guards", name, slot_names[s]);
    for (int s = 0; s < N_SLOTS; s++)
        if (slot[s])
            RC_FREE(&b[s], &b64[s]);
}

void rc_loss_subsets_case(sigfuse_ctx *ctx, rc_loss_op op, sigfuse_dtype dt, const rc_loss_opt *o, uint64_t seed,
                          const char *name)
{
    tu_rng rng = tu_rng_seed(seed, name);
    const int64_t n = o->rows * o->cols;
    const bool none = o->red == SIGFUSE_REDUCTION_NONE, bce = op == RC_BCE;
    tu_buf x = tu_alloc(dt, n), y = tu_alloc(dt, n), w = {0}, pw = {0};
    tu_fill_uniform(&x, &rng, -6, 6);
    tu_fill_uniform(&y, &rng, 0, 1);
    if (bce) {
        w = tu_alloc(dt, n);
        pw = tu_alloc(dt, o->cols);
        tu_fill_uniform(&w, &rng, 0, 2);
        tu_fill_uniform(&pw, &rng, 0.5, 2);
    }
    tu_set(&x, 4, INFINITY);
    tu_set(&x, 5, -INFINITY);
    /* loss, dlogits, probs, labels: as many as the op has */
    const int outputs = bce ? 4 : 2;
    const sigfuse_dtype lossdt = none ? dt : reduced_dtype(dt);
    const int64_t nloss = none ? n : 1;
    tu_buf ref[4], out[4];
    for (int k = 0; k < outputs; k++) {
        const sigfuse_dtype odt = k == 0 ? lossdt : k == 3 ? SIGFUSE_U8 : dt;
        ref[k] = tu_alloc(odt, k == 0 ? nloss : n);
        out[k] = tu_alloc(odt, k == 0 ? nloss : n);
    }
    rc_loss_io io = {.x = &x, .y = &y, .w = bce ? &w : NULL, .pw = bce ? &pw : NULL};
    rc_loss_io all = io;
    all.loss = &ref[0], all.dx = &ref[1], all.probs = bce ? &ref[2] : NULL, all.labels = bce ? &ref[3] : NULL;
    rc_loss_must_run(ctx, op, o, &all);
    for (int mask = 1; mask < 1 << outputs; mask++) {
        for (int k = 0; k < outputs; k++)
            tu_poison(&out[k]);
        io.loss = (mask & 1) ? &out[0] : NULL;
        io.dx = (mask & 2) ? &out[1] : NULL;
        io.probs = (mask & 4) ? &out[2] : NULL;
        io.labels = (mask & 8) ? &out[3] : NULL;
        rc_loss_must_run(ctx, op, o, &io);
        for (int k = 0; k < outputs; k++) {
            if (mask & (1 << k))
                cr_expect(memcmp(tu_data(&out[k]), tu_data(&ref[k]), ref[k].bytes) == 0 && tu_guards_ok(&out[k]),
                          "%s: %s differs with outputs mask %d", name, slot_names[S_LOSS + k], mask);
            else
                cr_expect(tu_untouched(&out[k]), "%s: absent %s was written (mask %d)", name, slot_names[S_LOSS + k],
                          mask);
        }
    }
    for (int k = 0; k < outputs; k++)
        RC_FREE(&ref[k], &out[k]);
    RC_FREE(&x, &y);
    if (bce)
        RC_FREE(&w, &pw);
}

void rc_loss_expect_deterministic(sigfuse_ctx *ctx, rc_loss_op op, const rc_loss_opt *o, sigfuse_dtype dt,
                                  sigfuse_dtype tdt, uint64_t seed, const char *name)
{
    tu_rng rng = tu_rng_seed(seed, name);
    const int64_t n = o->rows * o->cols, nloss = o->red == SIGFUSE_REDUCTION_NONE ? n : 1;
    tu_buf x = tu_alloc(dt, n), y = tu_alloc(tdt, n);
    tu_fill_uniform(&x, &rng, -20, 20);
    fill_targets(&y, &rng, tdt != SIGFUSE_U8);
    const sigfuse_dtype lossdt = nloss == n ? dt : reduced_dtype(dt);
    tu_buf first = tu_alloc(lossdt, nloss), second = tu_alloc(lossdt, nloss);
    rc_loss_must_run(ctx, op, o, &(rc_loss_io){.x = &x, .y = &y, .loss = &first});
    rc_loss_must_run(ctx, op, o, &(rc_loss_io){.x = &x, .y = &y, .loss = &second});
    cr_expect(memcmp(tu_data(&first), tu_data(&second), first.bytes) == 0, "%s: %s loss differs between two runs",
              name, o->red == SIGFUSE_REDUCTION_NONE ? "elementwise" : o->red == SIGFUSE_REDUCTION_SUM ? "sum" : "mean");
    RC_FREE(&x, &y, &first, &second);
}

const double rc_upstream_x[6] = {-2.0, -0.5, 0.0, 0.25, 1.0, 3.0};
const double rc_upstream_y[6] = {1.0, 0.0, 1.0, 0.5, 0.0, 1.0};

void rc_loss_upstream_case(sigfuse_ctx *ctx, rc_loss_op op, const rc_loss_opt *o, bool with_dloss,
                           const double elem_loss[6], const double elem_grad[6], double grad_rtol, double loss_rtol,
                           double atol)
{
    enum { N = 6 };
    const double dls[N] = {1.5, -2.0, 0.25, 4.0, -0.5, 3.0}, dscalar = 0.75;
    const bool none = o->red == SIGFUSE_REDUCTION_NONE;
    tu_buf x = tu_from(SIGFUSE_F64, N, rc_upstream_x), y = tu_from(SIGFUSE_F64, N, rc_upstream_y);
    tu_buf dl = none ? tu_from(SIGFUSE_F64, N, dls) : tu_from(SIGFUSE_F32, 1, &dscalar);
    tu_buf loss = tu_alloc(SIGFUSE_F64, none ? N : 1), dx = tu_alloc(SIGFUSE_F64, N);
    rc_loss_must_run(ctx, op, o, &(rc_loss_io){.x = &x, .y = &y, .dl = with_dloss ? &dl : NULL, .loss = &loss,
                                               .dx = &dx});
    double sum = 0;
    for (int i = 0; i < N; i++) {
        sum += elem_loss[i];
        const double up = o->grad_scale * (with_dloss ? (none ? dls[i] : dscalar) : 1.0) /
                          (o->red == SIGFUSE_REDUCTION_MEAN ? N : 1);
        cr_expect(tu_close(tu_get(&dx, i), elem_grad[i] * up, grad_rtol, atol), "%s: dlogits[%d] = %.17g, want %.17g",
                  loss_op_name(op), i, tu_get(&dx, i), elem_grad[i] * up);
        if (none)
            cr_expect(tu_close(tu_get(&loss, i), elem_loss[i], loss_rtol, atol), "%s: loss[%d] = %.17g, want %.17g",
                      loss_op_name(op), i, tu_get(&loss, i), elem_loss[i]);
    }
    if (!none) {
        const double want = o->red == SIGFUSE_REDUCTION_SUM ? sum : sum / N;
        cr_expect(tu_close(tu_get(&loss, 0), want, loss_rtol, atol), "%s: reduced loss %.17g, want %.17g",
                  loss_op_name(op), tu_get(&loss, 0), want);
    }
    RC_FREE(&x, &y, &dl, &loss, &dx);
}

void rc_loss_eval_f64(sigfuse_ctx *ctx, rc_loss_op op, const rc_loss_opt *o, int64_t n, const double *xs,
                      const double *ys, double *loss, double *dx)
{
    const int64_t nloss = o->red == SIGFUSE_REDUCTION_NONE ? n : 1;
    tu_buf x = tu_from(SIGFUSE_F64, n, xs), y = tu_from(SIGFUSE_F64, n, ys);
    tu_buf l = tu_alloc(SIGFUSE_F64, nloss), d = tu_alloc(SIGFUSE_F64, n);
    rc_loss_must_run(ctx, op, o, &(rc_loss_io){.x = &x, .y = &y, .loss = loss ? &l : NULL, .dx = dx ? &d : NULL});
    for (int64_t i = 0; i < n; i++) {
        if (loss && i < nloss)
            loss[i] = tu_get(&l, i);
        if (dx)
            dx[i] = tu_get(&d, i);
    }
    RC_FREE(&x, &y, &l, &d);
}

double rc_smallest_subnormal(sigfuse_dtype dt)
{
    return dt == SIGFUSE_F64 ? 4.9406564584124654e-324
         : dt == SIGFUSE_F32 ? 1.401298464324817e-45
         : dt == SIGFUSE_F16 ? 5.9604644775390625e-08
                             : 9.183549615799121e-41;   /* bf16 */
}
