/* SPDX-License-Identifier: MIT */
/*
 * The table of benchmark cases: every op of the catalogue, each with its buffers (and
 * the range its inputs are drawn from), the fewest bytes it must move, and a small
 * function that calls it. s is the element size of the float dtype (4, 2 or 2 bytes).
 */
#include <math.h>

#include "bench.h"

#define COUNT_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

void bench_mean(const bench_shape *s, sigfuse_reduction *reduction, float *grad_scale)
{
    if (s->rows == s->total_rows) {
        *reduction = SIGFUSE_REDUCTION_MEAN;
        *grad_scale = 1.0f;
    } else {
        *reduction = SIGFUSE_REDUCTION_SUM;
        *grad_scale = (float)(1.0 / ((double)s->total_rows * (double)s->cols));
    }
}

/* ---- Buffer descriptions ---------------------------------------------------------------- */

static bench_buf in_rows(const char *name, int64_t per_row, double lo, double hi)
{
    return (bench_buf){name, false, SPAN_ROWS, per_row, KIND_FLOAT, false, lo, hi};
}

static bench_buf in_fixed(const char *name, int64_t count, double lo, double hi)
{
    return (bench_buf){name, false, SPAN_FIXED, count, KIND_FLOAT, false, lo, hi};
}

/* Hard targets, 0 or 1, in the float dtype or in u8. */
static bench_buf in_binary(const char *name, int64_t per_row, bench_kind kind)
{
    return (bench_buf){name, false, SPAN_ROWS, per_row, kind, true, 0.0, 1.0};
}

static bench_buf out_rows(const char *name, int64_t per_row)
{
    return (bench_buf){name, true, SPAN_ROWS, per_row, KIND_FLOAT, false, 0.0, 0.0};
}

static bench_buf out_sum(const char *name, int64_t count)
{
    return (bench_buf){name, true, SPAN_SUM, count, KIND_FLOAT, false, 0.0, 0.0};
}

/* A loss reduced to one f32 (MEAN). */
static bench_buf out_loss(void)
{
    return (bench_buf){"loss", true, SPAN_MEAN, 1, KIND_F32, false, 0.0, 0.0};
}

/* Input ranges: logits as a classifier produces them; pre-activation gates somewhat
 * narrower; upstream gradients of order one. */
#define LOGIT -8.0, 8.0
#define GATE -4.0, 4.0
#define GRAD -1.0, 1.0

/* ---- Activations: rows = n elements ------------------------------------------------------ */

/* y = sigmoid(x): x + y = 2ns */
static int sigmoid_fwd_layout(const bench_shape *s, bench_buf *b)
{
    (void)s;
    b[0] = in_rows("x", 1, LOGIT);
    b[1] = out_rows("y", 1);
    return 2;
}
static sigfuse_status sigmoid_fwd_run(sigfuse_ctx *ctx, const bench_shape *s, const sigfuse_buffer *b,
                                      const sigfuse_buffer *ws, size_t ws_bytes)
{
    (void)ws, (void)ws_bytes;
    return sigfuse_sigmoid_forward(ctx, s->rows, &b[0], &b[1]);
}

/* dx from the saved output y: y + dy + dx = 3ns */
static int sigmoid_bwd_layout(const bench_shape *s, bench_buf *b)
{
    (void)s;
    b[0] = in_rows("y", 1, 0.0003, 0.9997);   /* sigmoid of LOGIT */
    b[1] = in_rows("dy", 1, GRAD);
    b[2] = out_rows("dx", 1);
    return 3;
}
static sigfuse_status sigmoid_bwd_run(sigfuse_ctx *ctx, const bench_shape *s, const sigfuse_buffer *b,
                                      const sigfuse_buffer *ws, size_t ws_bytes)
{
    (void)ws, (void)ws_bytes;
    return sigfuse_sigmoid_backward(ctx, s->rows, &b[0], &b[1], &b[2]);
}

/* The activations whose forward is x -> y and backward x, dy -> dx: 2ns and 3ns. */
static int unary_fwd_layout(const bench_shape *s, bench_buf *b)
{
    (void)s;
    b[0] = in_rows("x", 1, LOGIT);
    b[1] = out_rows("y", 1);
    return 2;
}
static int unary_bwd_layout(const bench_shape *s, bench_buf *b)
{
    (void)s;
    b[0] = in_rows("x", 1, LOGIT);
    b[1] = in_rows("dy", 1, GRAD);
    b[2] = out_rows("dx", 1);
    return 3;
}

static sigfuse_status log_sigmoid_fwd_run(sigfuse_ctx *ctx, const bench_shape *s, const sigfuse_buffer *b,
                                          const sigfuse_buffer *ws, size_t ws_bytes)
{
    (void)ws, (void)ws_bytes;
    return sigfuse_log_sigmoid_forward(ctx, s->rows, &b[0], &b[1]);
}
static sigfuse_status log_sigmoid_bwd_run(sigfuse_ctx *ctx, const bench_shape *s, const sigfuse_buffer *b,
                                          const sigfuse_buffer *ws, size_t ws_bytes)
{
    (void)ws, (void)ws_bytes;
    return sigfuse_log_sigmoid_backward(ctx, s->rows, &b[0], &b[1], &b[2]);
}
static sigfuse_status silu_fwd_run(sigfuse_ctx *ctx, const bench_shape *s, const sigfuse_buffer *b,
                                   const sigfuse_buffer *ws, size_t ws_bytes)
{
    (void)ws, (void)ws_bytes;
    return sigfuse_silu_forward(ctx, s->rows, 1.0f, &b[0], &b[1]);
}
static sigfuse_status silu_bwd_run(sigfuse_ctx *ctx, const bench_shape *s, const sigfuse_buffer *b,
                                   const sigfuse_buffer *ws, size_t ws_bytes)
{
    (void)ws, (void)ws_bytes;
    return sigfuse_silu_backward(ctx, s->rows, 1.0f, &b[0], &b[1], &b[2]);
}

/* ---- Gated linear units: rows = n pairs ----------------------------------------------------- */

/* a, b -> y: 3ns */
static int gate_fwd_layout(const bench_shape *s, bench_buf *b)
{
    (void)s;
    b[0] = in_rows("a", 1, GATE);
    b[1] = in_rows("b", 1, LOGIT);
    b[2] = out_rows("y", 1);
    return 3;
}
/* a, b, dy -> da, db: 5ns */
static int gate_bwd_layout(const bench_shape *s, bench_buf *b)
{
    (void)s;
    b[0] = in_rows("a", 1, GATE);
    b[1] = in_rows("b", 1, LOGIT);
    b[2] = in_rows("dy", 1, GRAD);
    b[3] = out_rows("da", 1);
    b[4] = out_rows("db", 1);
    return 5;
}

static sigfuse_status glu_fwd_run(sigfuse_ctx *ctx, const bench_shape *s, const sigfuse_buffer *b,
                                  const sigfuse_buffer *ws, size_t ws_bytes)
{
    (void)ws, (void)ws_bytes;
    return sigfuse_glu_forward(ctx, s->rows, &b[0], &b[1], &b[2]);
}
static sigfuse_status glu_bwd_run(sigfuse_ctx *ctx, const bench_shape *s, const sigfuse_buffer *b,
                                  const sigfuse_buffer *ws, size_t ws_bytes)
{
    (void)ws, (void)ws_bytes;
    return sigfuse_glu_backward(ctx, s->rows, &b[0], &b[1], &b[2], &b[3], &b[4]);
}
static sigfuse_status swiglu_fwd_run(sigfuse_ctx *ctx, const bench_shape *s, const sigfuse_buffer *b,
                                     const sigfuse_buffer *ws, size_t ws_bytes)
{
    (void)ws, (void)ws_bytes;
    return sigfuse_swiglu_forward(ctx, s->rows, 1.0f, &b[0], &b[1], &b[2]);
}
static sigfuse_status swiglu_bwd_run(sigfuse_ctx *ctx, const bench_shape *s, const sigfuse_buffer *b,
                                     const sigfuse_buffer *ws, size_t ws_bytes)
{
    (void)ws, (void)ws_bytes;
    return sigfuse_swiglu_backward(ctx, s->rows, 1.0f, &b[0], &b[1], &b[2], &b[3], &b[4]);
}

/* ---- Recurrent cells: rows = B, cols = H, with both gate halves and the biases ----------- */

/* gates_x, gates_h [B,4H], bias [4H], c_prev [B,H] -> h, c [B,H]: (11BH + 4H)s */
static int lstm_fwd_layout(const bench_shape *s, bench_buf *b)
{
    const int64_t h = s->cols;
    b[0] = in_rows("gates_x", 4 * h, GATE);
    b[1] = in_rows("gates_h", 4 * h, GATE);
    b[2] = in_fixed("bias", 4 * h, -1.0, 1.0);
    b[3] = in_rows("c_prev", h, -2.0, 2.0);
    b[4] = out_rows("h", h);
    b[5] = out_rows("c", h);
    return 6;
}
static sigfuse_status lstm_fwd_run(sigfuse_ctx *ctx, const bench_shape *s, const sigfuse_buffer *b,
                                   const sigfuse_buffer *ws, size_t ws_bytes)
{
    (void)ws, (void)ws_bytes;
    const sigfuse_lstm_forward_args a = {s->rows, s->cols, &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]};
    return sigfuse_lstm_cell_forward(ctx, &a);
}

/* gates_x, gates_h [B,4H], bias [4H], c_prev, dh, dc [B,H] -> dgates [B,4H], dc_prev [B,H],
 * dbias [4H]: (16BH + 8H)s */
static int lstm_bwd_layout(const bench_shape *s, bench_buf *b)
{
    const int64_t h = s->cols;
    b[0] = in_rows("gates_x", 4 * h, GATE);
    b[1] = in_rows("gates_h", 4 * h, GATE);
    b[2] = in_fixed("bias", 4 * h, -1.0, 1.0);
    b[3] = in_rows("c_prev", h, -2.0, 2.0);
    b[4] = in_rows("dh", h, GRAD);
    b[5] = in_rows("dc", h, GRAD);
    b[6] = out_rows("dgates", 4 * h);
    b[7] = out_rows("dc_prev", h);
    b[8] = out_sum("dbias", 4 * h);
    return 9;
}
static sigfuse_status lstm_bwd_run(sigfuse_ctx *ctx, const bench_shape *s, const sigfuse_buffer *b,
                                   const sigfuse_buffer *ws, size_t ws_bytes)
{
    (void)ws, (void)ws_bytes;
    const sigfuse_lstm_backward_args a = {s->rows, s->cols, &b[0], &b[1], &b[2], &b[3],
                                          &b[4],   &b[5],   &b[6], &b[7], &b[8]};
    return sigfuse_lstm_cell_backward(ctx, &a);
}

/* gates_x, gates_h [B,3H], bias_x, bias_h [3H], h_prev [B,H] -> h [B,H]: (8BH + 6H)s */
static int gru_fwd_layout(const bench_shape *s, bench_buf *b)
{
    const int64_t h = s->cols;
    b[0] = in_rows("gates_x", 3 * h, GATE);
    b[1] = in_rows("gates_h", 3 * h, GATE);
    b[2] = in_fixed("bias_x", 3 * h, -1.0, 1.0);
    b[3] = in_fixed("bias_h", 3 * h, -1.0, 1.0);
    b[4] = in_rows("h_prev", h, -1.0, 1.0);
    b[5] = out_rows("h", h);
    return 6;
}
static sigfuse_status gru_fwd_run(sigfuse_ctx *ctx, const bench_shape *s, const sigfuse_buffer *b,
                                  const sigfuse_buffer *ws, size_t ws_bytes)
{
    (void)ws, (void)ws_bytes;
    const sigfuse_gru_forward_args a = {s->rows, s->cols, &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]};
    return sigfuse_gru_cell_forward(ctx, &a);
}

/* gates_x, gates_h [B,3H], bias_x, bias_h [3H], h_prev, dh [B,H] -> dgates_x, dgates_h
 * [B,3H], dh_prev [B,H], dbias_x, dbias_h [3H]: (15BH + 12H)s */
static int gru_bwd_layout(const bench_shape *s, bench_buf *b)
{
    const int64_t h = s->cols;
    b[0] = in_rows("gates_x", 3 * h, GATE);
    b[1] = in_rows("gates_h", 3 * h, GATE);
    b[2] = in_fixed("bias_x", 3 * h, -1.0, 1.0);
    b[3] = in_fixed("bias_h", 3 * h, -1.0, 1.0);
    b[4] = in_rows("h_prev", h, -1.0, 1.0);
    b[5] = in_rows("dh", h, GRAD);
    b[6] = out_rows("dgates_x", 3 * h);
    b[7] = out_rows("dgates_h", 3 * h);
    b[8] = out_rows("dh_prev", h);
    b[9] = out_sum("dbias_x", 3 * h);
    b[10] = out_sum("dbias_h", 3 * h);
    return 11;
}
static sigfuse_status gru_bwd_run(sigfuse_ctx *ctx, const bench_shape *s, const sigfuse_buffer *b,
                                  const sigfuse_buffer *ws, size_t ws_bytes)
{
    (void)ws, (void)ws_bytes;
    const sigfuse_gru_backward_args a = {s->rows, s->cols, &b[0], &b[1], &b[2], &b[3], &b[4],
                                         &b[5],   &b[6],   &b[7], &b[8], &b[9], &b[10]};
    return sigfuse_gru_cell_backward(ctx, &a);
}

/* ---- Losses: rows x cols = n logits, MEAN over all of them ------------------------------- */

/* Forward only: logits, targets -> loss (one f32): 2ns + 4 */
static int bce_loss_layout(const bench_shape *s, bench_buf *b)
{
    b[0] = in_rows("logits", s->cols, LOGIT);
    b[1] = in_binary("targets", s->cols, KIND_FLOAT);
    b[2] = out_loss();
    return 3;
}
static sigfuse_status bce_loss_run(sigfuse_ctx *ctx, const bench_shape *s, const sigfuse_buffer *b,
                                   const sigfuse_buffer *ws, size_t ws_bytes)
{
    (void)ws, (void)ws_bytes;
    sigfuse_bce_args a;
    sigfuse_bce_args_init(&a);
    a.rows = s->rows;
    a.cols = s->cols;
    bench_mean(s, &a.reduction, &a.grad_scale);
    a.logits = &b[0];
    a.targets = &b[1];
    a.loss = &b[2];
    return sigfuse_bce_with_logits(ctx, &a);
}

/* Forward and backward fused: logits, targets -> loss, dlogits: 3ns + 4.
 * With u8 targets: logits + targets + dlogits = (2s + 1)n + 4. */
static int bce_fused_layout(const bench_shape *s, bench_buf *b)
{
    b[0] = in_rows("logits", s->cols, LOGIT);
    b[1] = in_binary("targets", s->cols, KIND_FLOAT);
    b[2] = out_loss();
    b[3] = out_rows("dlogits", s->cols);
    return 4;
}
static int bce_fused_u8_layout(const bench_shape *s, bench_buf *b)
{
    int n = bce_fused_layout(s, b);
    b[1] = in_binary("targets", s->cols, KIND_U8);
    return n;
}
static sigfuse_status bce_fused_run(sigfuse_ctx *ctx, const bench_shape *s, const sigfuse_buffer *b,
                                    const sigfuse_buffer *ws, size_t ws_bytes)
{
    (void)ws, (void)ws_bytes;
    sigfuse_bce_args a;
    sigfuse_bce_args_init(&a);
    a.rows = s->rows;
    a.cols = s->cols;
    bench_mean(s, &a.reduction, &a.grad_scale);
    a.logits = &b[0];
    a.targets = &b[1];
    a.loss = &b[2];
    a.dlogits = &b[3];
    return sigfuse_bce_with_logits(ctx, &a);
}

/* Soft targets, an element weight and a per-column pos_weight:
 * logits, targets, weight [n], pos_weight [cols] -> loss, dlogits: 4ns + cols*s + 4 */
static int bce_weighted_layout(const bench_shape *s, bench_buf *b)
{
    b[0] = in_rows("logits", s->cols, LOGIT);
    b[1] = in_rows("targets", s->cols, 0.0, 1.0);
    b[2] = in_rows("weight", s->cols, 0.5, 2.0);
    b[3] = in_fixed("pos_weight", s->cols, 0.5, 4.0);
    b[4] = out_loss();
    b[5] = out_rows("dlogits", s->cols);
    return 6;
}
static sigfuse_status bce_weighted_run(sigfuse_ctx *ctx, const bench_shape *s, const sigfuse_buffer *b,
                                       const sigfuse_buffer *ws, size_t ws_bytes)
{
    (void)ws, (void)ws_bytes;
    sigfuse_bce_args a;
    sigfuse_bce_args_init(&a);
    a.rows = s->rows;
    a.cols = s->cols;
    bench_mean(s, &a.reduction, &a.grad_scale);
    a.logits = &b[0];
    a.targets = &b[1];
    a.weight = &b[2];
    a.pos_weight = &b[3];
    a.loss = &b[4];
    a.dlogits = &b[5];
    return sigfuse_bce_with_logits(ctx, &a);
}

/* Focal loss forward and backward fused (alpha 0.25, gamma 2): logits, targets -> loss,
 * dlogits: 3ns + 4 */
static sigfuse_status focal_fused_run(sigfuse_ctx *ctx, const bench_shape *s, const sigfuse_buffer *b,
                                      const sigfuse_buffer *ws, size_t ws_bytes)
{
    (void)ws, (void)ws_bytes;
    sigfuse_focal_args a;
    sigfuse_focal_args_init(&a);
    a.rows = s->rows;
    a.cols = s->cols;
    bench_mean(s, &a.reduction, &a.grad_scale);
    a.logits = &b[0];
    a.targets = &b[1];
    a.loss = &b[2];
    a.dlogits = &b[3];
    return sigfuse_sigmoid_focal(ctx, &a);
}

/* ---- Multi-label heads: rows = N, cols = L, d = D ------------------------------------------ */

/* W scaled as a Linear layer's initialisation is, so that logits stay of order one. */
static double head_w_range(const bench_shape *s) { return 2.0 / sqrt((double)s->d); }

/* x [N,D], w [L,D], bias [L] -> probs [N,L]: (ND + LD + L + NL)s; 2NDL flops */
static int head_predict_layout(const bench_shape *s, bench_buf *b)
{
    const double w = head_w_range(s);
    b[0] = in_rows("x", s->d, -1.0, 1.0);
    b[1] = in_fixed("w", s->cols * s->d, -w, w);
    b[2] = in_fixed("bias", s->cols, -1.0, 1.0);
    b[3] = out_rows("probs", s->cols);
    return 4;
}
static double head_predict_flops(const bench_shape *s)
{
    return 2.0 * (double)s->rows * (double)s->d * (double)s->cols;
}
static void head_predict_args(const bench_shape *s, const sigfuse_buffer *b, sigfuse_head_predict_args *a)
{
    sigfuse_head_predict_args_init(a);
    a->n = s->rows;
    a->d = s->d;
    a->l = s->cols;
    a->x = &b[0];
    a->w = &b[1];
    a->bias = &b[2];
    a->probs = &b[3];
}
static sigfuse_status head_predict_workspace(sigfuse_ctx *ctx, const bench_shape *s, const sigfuse_buffer *b,
                                             int64_t chunk_rows, size_t *bytes)
{
    sigfuse_head_predict_args a;
    head_predict_args(s, b, &a);
    return sigfuse_head_predict_workspace_size(ctx, &a, chunk_rows, bytes);
}
static sigfuse_status head_predict_run(sigfuse_ctx *ctx, const bench_shape *s, const sigfuse_buffer *b,
                                       const sigfuse_buffer *ws, size_t ws_bytes)
{
    sigfuse_head_predict_args a;
    head_predict_args(s, b, &a);
    a.workspace = ws;
    a.workspace_bytes = ws_bytes;
    return sigfuse_head_predict(ctx, &a);
}

/* x [N,D], w [L,D], bias [L], targets [N,L] -> loss, dx [N,D], dw [L,D], dbias [L]:
 * (2ND + 2LD + 2L + NL)s + 4; 6NDL flops (Z = XW^T, dX = GW, dW = G^T X) */
static int head_train_layout(const bench_shape *s, bench_buf *b)
{
    const double w = head_w_range(s);
    b[0] = in_rows("x", s->d, -1.0, 1.0);
    b[1] = in_fixed("w", s->cols * s->d, -w, w);
    b[2] = in_fixed("bias", s->cols, -1.0, 1.0);
    b[3] = in_binary("targets", s->cols, KIND_FLOAT);
    b[4] = out_loss();
    b[5] = out_rows("dx", s->d);
    b[6] = out_sum("dw", s->cols * s->d);
    b[7] = out_sum("dbias", s->cols);
    return 8;
}
static double head_train_flops(const bench_shape *s) { return 3.0 * head_predict_flops(s); }
static void head_train_args(const bench_shape *s, const sigfuse_buffer *b, sigfuse_head_train_args *a)
{
    sigfuse_head_train_args_init(a);
    a->n = s->rows;
    a->d = s->d;
    a->l = s->cols;
    bench_mean(s, &a->reduction, &a->grad_scale);
    a->x = &b[0];
    a->w = &b[1];
    a->bias = &b[2];
    a->targets = &b[3];
    a->loss = &b[4];
    a->dx = &b[5];
    a->dw = &b[6];
    a->dbias = &b[7];
}
static sigfuse_status head_train_workspace(sigfuse_ctx *ctx, const bench_shape *s, const sigfuse_buffer *b,
                                           int64_t chunk_rows, size_t *bytes)
{
    sigfuse_head_train_args a;
    head_train_args(s, b, &a);
    return sigfuse_head_train_workspace_size(ctx, &a, chunk_rows, bytes);
}
static sigfuse_status head_train_run(sigfuse_ctx *ctx, const bench_shape *s, const sigfuse_buffer *b,
                                     const sigfuse_buffer *ws, size_t ws_bytes)
{
    sigfuse_head_train_args a;
    head_train_args(s, b, &a);
    a.workspace = ws;
    a.workspace_bytes = ws_bytes;
    return sigfuse_head_train_step(ctx, &a);
}

/* ---- The table ------------------------------------------------------------------------------ */

const bench_case bench_cases[] = {
    {"sigmoid_fwd", FAMILY_ELEMENTWISE, "2ns", false, sigmoid_fwd_layout, NULL, NULL, sigmoid_fwd_run, NULL, false},
    {"sigmoid_bwd", FAMILY_ELEMENTWISE, "3ns", false, sigmoid_bwd_layout, NULL, NULL, sigmoid_bwd_run, NULL, false},
    {"log_sigmoid_fwd", FAMILY_ELEMENTWISE, "2ns", false, unary_fwd_layout, NULL, NULL, log_sigmoid_fwd_run, NULL,
     false},
    {"log_sigmoid_bwd", FAMILY_ELEMENTWISE, "3ns", false, unary_bwd_layout, NULL, NULL, log_sigmoid_bwd_run, NULL,
     false},
    {"silu_fwd", FAMILY_ELEMENTWISE, "2ns", false, unary_fwd_layout, NULL, NULL, silu_fwd_run, NULL, false},
    {"silu_bwd", FAMILY_ELEMENTWISE, "3ns", false, unary_bwd_layout, NULL, NULL, silu_bwd_run, NULL, false},
    {"glu_fwd", FAMILY_ELEMENTWISE, "3ns", false, gate_fwd_layout, NULL, NULL, glu_fwd_run, NULL, false},
    {"glu_bwd", FAMILY_ELEMENTWISE, "5ns", false, gate_bwd_layout, NULL, NULL, glu_bwd_run, NULL, false},
    {"swiglu_fwd", FAMILY_ELEMENTWISE, "3ns", false, gate_fwd_layout, NULL, NULL, swiglu_fwd_run, NULL, false},
    {"swiglu_bwd", FAMILY_ELEMENTWISE, "5ns", false, gate_bwd_layout, NULL, NULL, swiglu_bwd_run, NULL, false},
    {"lstm_fwd", FAMILY_CELL, "(11BH + 4H)s", false, lstm_fwd_layout, NULL, NULL, lstm_fwd_run, NULL, false},
    {"lstm_bwd", FAMILY_CELL, "(16BH + 8H)s", false, lstm_bwd_layout, NULL, NULL, lstm_bwd_run, NULL, false},
    {"gru_fwd", FAMILY_CELL, "(8BH + 6H)s", false, gru_fwd_layout, NULL, NULL, gru_fwd_run, NULL, false},
    {"gru_bwd", FAMILY_CELL, "(15BH + 12H)s", false, gru_bwd_layout, NULL, NULL, gru_bwd_run, NULL, false},
    {"bce_loss", FAMILY_LOSS, "2ns + 4", false, bce_loss_layout, NULL, NULL, bce_loss_run, NULL, false},
    {"bce_fused", FAMILY_LOSS, "3ns + 4", false, bce_fused_layout, NULL, NULL, bce_fused_run, NULL, false},
    {"bce_fused_u8", FAMILY_LOSS, "(2s + 1)n + 4", false, bce_fused_u8_layout, NULL, NULL, bce_fused_run, NULL, false},
    {"bce_fused_weighted", FAMILY_LOSS, "4ns + cols*s + 4", false, bce_weighted_layout, NULL, NULL,
     bce_weighted_run, NULL, false},
    {"focal_fused", FAMILY_LOSS, "3ns + 4", false, bce_fused_layout, NULL, NULL, focal_fused_run, NULL, false},
    {"head_predict", FAMILY_HEAD, "(ND + LD + L + NL)s", true, head_predict_layout, head_predict_flops,
     head_predict_workspace, head_predict_run, "head_predict_gemms", false},
    {"head_train", FAMILY_HEAD, "(2ND + 2LD + 2L + NL)s + 4", true, head_train_layout, head_train_flops,
     head_train_workspace, head_train_run, "head_train_gemms", true},
};

const int bench_case_count = COUNT_OF(bench_cases);
