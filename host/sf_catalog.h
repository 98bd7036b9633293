/* SPDX-License-Identifier: MIT */
/*
 * The op catalogue: every fact about every public op, written once. The front end's
 * checks (api.c), the backends' dispatch, the device test suite, the benchmark's cases
 * and the C++ layer (scripts/gen_hpp.py writes include/sigfuse.hpp's methods from this
 * file) all read it. Adding an op starts with its lines here.
 *
 * SF_CATALOG(OP) lists the ops, OP(name, family, shape, args):
 *   name    the API's spelling, the only one: sigfuse_<name> is the C call, the OpenCL
 *           and CUDA kernels are named after it, the tests and the benchmark use it;
 *   family  the file that implements it in ref/, cuda/ and opencl/;
 *   shape   how its sizes give its element counts (SF_SHAPE_*: EW, LSTM, GRU, LOSS, HEAD);
 *   args    its C arguments: the public args struct it takes, or sf_ew_args for the
 *           elementwise calls, whose arguments are listed loose (ctx, n, [beta], buffers).
 *
 * SF_FIELDS_<name>(SIZE, OPT, BUF, WS) lists its arguments in the order of the C call or
 * of the args struct:
 *   SIZE(field)                                   an int64_t size, >= 0
 *   OPT(field, type, default, rule)               an option, its default (the args_init
 *                                                 value) and its check (SF_RULE_*)
 *   BUF(field, role, dir, count, shape, presence) a buffer: its dtype rule (sf_role), IN
 *                                                 or OUT, its element count (SF_COUNT_*),
 *                                                 the shape the header states (outputs may
 *                                                 be in place on an input of the same shape;
 *                                                 NULL: never in place), and REQUIRED,
 *                                                 OPTIONAL or ANY (at least one of the op's
 *                                                 ANY buffers of that direction is needed)
 *   WS(field, bytes_field)                        the caller's workspace and its size
 * Inputs come before outputs. The fewest bytes an op moves is each present buffer once:
 * its count times its dtype's size, the workspace excluded (sf_op_min_bytes), times the
 * passes that read it (sf_op_buf_reads): an op of SF_TWO_PASS below that writes a
 * gradient reads its [rows, cols] inputs twice, and a MEAN with a mask and a gradient
 * reads the mask twice (its count first).
 */
#ifndef SF_CATALOG_H
#define SF_CATALOG_H

/* Ops whose gradient needs per-row sums of the whole row first (Dice's I_r, U_r): with
 * dlogits they make two passes, the second reading every [rows, cols] input again. */
#define SF_TWO_PASS(X) X(bce_dice)

#define SF_CATALOG(OP)                                                                                                 \
    OP(sigmoid_forward, activation, EW, sf_ew_args)                                                                    \
    OP(sigmoid_backward, activation, EW, sf_ew_args)                                                                   \
    OP(log_sigmoid_forward, activation, EW, sf_ew_args)                                                                \
    OP(log_sigmoid_backward, activation, EW, sf_ew_args)                                                               \
    OP(silu_forward, activation, EW, sf_ew_args)                                                                       \
    OP(silu_backward, activation, EW, sf_ew_args)                                                                      \
    OP(glu_forward, glu, EW, sf_ew_args)                                                                               \
    OP(glu_backward, glu, EW, sf_ew_args)                                                                              \
    OP(swiglu_forward, glu, EW, sf_ew_args)                                                                            \
    OP(swiglu_backward, glu, EW, sf_ew_args)                                                                           \
    OP(lstm_cell_forward, lstm, LSTM, sigfuse_lstm_forward_args)                                                       \
    OP(lstm_cell_backward, lstm, LSTM, sigfuse_lstm_backward_args)                                                     \
    OP(gru_cell_forward, gru, GRU, sigfuse_gru_forward_args)                                                           \
    OP(gru_cell_backward, gru, GRU, sigfuse_gru_backward_args)                                                         \
    OP(bce_with_logits, bce, LOSS, sigfuse_bce_args)                                                                   \
    OP(sigmoid_focal, focal, LOSS, sigfuse_focal_args)                                                                 \
    OP(asymmetric, asymmetric, LOSS, sigfuse_asymmetric_args)                                                          \
    OP(bce_dice, bce_dice, LOSS, sigfuse_bce_dice_args)                                                                \
    OP(head_predict, head, HEAD, sigfuse_head_predict_args)                                                            \
    OP(head_train_step, head, HEAD, sigfuse_head_train_args)                                                           \
    OP(head_topk, topk, HEAD, sigfuse_head_topk_args)                                                                  \
    OP(topk_merge, topk, MERGE, sigfuse_topk_merge_args)

/* ---- Activations: n elements, y = f(x) and dx = dy f'(.) ------------------------------------ */

#define SF_FIELDS_sigmoid_forward(SIZE, OPT, BUF, WS)                                                                  \
    SIZE(n)                                                                                                            \
    BUF(x, FLOAT, IN, N, "[n]", REQUIRED)                                                                                   \
    BUF(y, FLOAT, OUT, N, "[n]", REQUIRED)
/* From the saved output y, as PyTorch's sigmoid backward. */
#define SF_FIELDS_sigmoid_backward(SIZE, OPT, BUF, WS)                                                                 \
    SIZE(n)                                                                                                            \
    BUF(y, FLOAT, IN, N, "[n]", REQUIRED)                                                                                   \
    BUF(dy, FLOAT, IN, N, "[n]", REQUIRED)                                                                                  \
    BUF(dx, FLOAT, OUT, N, "[n]", REQUIRED)
#define SF_FIELDS_log_sigmoid_forward SF_FIELDS_sigmoid_forward
#define SF_FIELDS_log_sigmoid_backward(SIZE, OPT, BUF, WS)                                                             \
    SIZE(n)                                                                                                            \
    BUF(x, FLOAT, IN, N, "[n]", REQUIRED)                                                                                   \
    BUF(dy, FLOAT, IN, N, "[n]", REQUIRED)                                                                                  \
    BUF(dx, FLOAT, OUT, N, "[n]", REQUIRED)
#define SF_FIELDS_silu_forward(SIZE, OPT, BUF, WS)                                                                     \
    SIZE(n)                                                                                                            \
    OPT(beta, float, 1.0f, FINITE)                                                                                     \
    BUF(x, FLOAT, IN, N, "[n]", REQUIRED)                                                                                   \
    BUF(y, FLOAT, OUT, N, "[n]", REQUIRED)
#define SF_FIELDS_silu_backward(SIZE, OPT, BUF, WS)                                                                    \
    SIZE(n)                                                                                                            \
    OPT(beta, float, 1.0f, FINITE)                                                                                     \
    BUF(x, FLOAT, IN, N, "[n]", REQUIRED)                                                                                   \
    BUF(dy, FLOAT, IN, N, "[n]", REQUIRED)                                                                                  \
    BUF(dx, FLOAT, OUT, N, "[n]", REQUIRED)

/* ---- Gated linear units: n pairs (a, b), y = a g(b) ---------------------------------------- */

#define SF_FIELDS_glu_forward(SIZE, OPT, BUF, WS)                                                                      \
    SIZE(n)                                                                                                            \
    BUF(a, FLOAT, IN, N, "[n]", REQUIRED)                                                                                   \
    BUF(b, FLOAT, IN, N, "[n]", REQUIRED)                                                                                   \
    BUF(y, FLOAT, OUT, N, "[n]", REQUIRED)
#define SF_FIELDS_glu_backward(SIZE, OPT, BUF, WS)                                                                     \
    SIZE(n)                                                                                                            \
    BUF(a, FLOAT, IN, N, "[n]", REQUIRED)                                                                                   \
    BUF(b, FLOAT, IN, N, "[n]", REQUIRED)                                                                                   \
    BUF(dy, FLOAT, IN, N, "[n]", REQUIRED)                                                                                  \
    BUF(da, FLOAT, OUT, N, "[n]", ANY)                                                                                 \
    BUF(db, FLOAT, OUT, N, "[n]", ANY)
#define SF_FIELDS_swiglu_forward(SIZE, OPT, BUF, WS)                                                                   \
    SIZE(n)                                                                                                            \
    OPT(beta, float, 1.0f, FINITE)                                                                                     \
    BUF(a, FLOAT, IN, N, "[n]", REQUIRED)                                                                                   \
    BUF(b, FLOAT, IN, N, "[n]", REQUIRED)                                                                                   \
    BUF(y, FLOAT, OUT, N, "[n]", REQUIRED)
#define SF_FIELDS_swiglu_backward(SIZE, OPT, BUF, WS)                                                                  \
    SIZE(n)                                                                                                            \
    OPT(beta, float, 1.0f, FINITE)                                                                                     \
    BUF(a, FLOAT, IN, N, "[n]", REQUIRED)                                                                                   \
    BUF(b, FLOAT, IN, N, "[n]", REQUIRED)                                                                                   \
    BUF(dy, FLOAT, IN, N, "[n]", REQUIRED)                                                                                  \
    BUF(da, FLOAT, OUT, N, "[n]", ANY)                                                                                 \
    BUF(db, FLOAT, OUT, N, "[n]", ANY)

/* ---- Recurrent cells: batch B, hidden H; G = 4 gate blocks (LSTM) or 3 (GRU) ----------------- */

#define SF_FIELDS_lstm_cell_forward(SIZE, OPT, BUF, WS)                                                                \
    SIZE(batch)                                                                                                        \
    SIZE(hidden)                                                                                                       \
    BUF(gates_x, FLOAT, IN, BGH, "[batch, 4 hidden]", REQUIRED)                                                             \
    BUF(gates_h, FLOAT, IN, BGH, "[batch, 4 hidden]", OPTIONAL)                                                             \
    BUF(bias, FLOAT, IN, GH, "[4 hidden]", OPTIONAL)                                                                        \
    BUF(c_prev, FLOAT, IN, BH, "[batch, hidden]", REQUIRED)                                                                 \
    BUF(h, FLOAT, OUT, BH, "[batch, hidden]", ANY)                                                                     \
    BUF(c, FLOAT, OUT, BH, "[batch, hidden]", ANY)
#define SF_FIELDS_lstm_cell_backward(SIZE, OPT, BUF, WS)                                                               \
    SIZE(batch)                                                                                                        \
    SIZE(hidden)                                                                                                       \
    BUF(gates_x, FLOAT, IN, BGH, "[batch, 4 hidden]", REQUIRED)                                                             \
    BUF(gates_h, FLOAT, IN, BGH, "[batch, 4 hidden]", OPTIONAL)                                                             \
    BUF(bias, FLOAT, IN, GH, "[4 hidden]", OPTIONAL)                                                                        \
    BUF(c_prev, FLOAT, IN, BH, "[batch, hidden]", REQUIRED)                                                                 \
    BUF(dh, FLOAT, IN, BH, "[batch, hidden]", ANY)                                                                     \
    BUF(dc, FLOAT, IN, BH, "[batch, hidden]", ANY)                                                                     \
    BUF(dgates, FLOAT, OUT, BGH, "[batch, 4 hidden]", ANY)                                                             \
    BUF(dc_prev, FLOAT, OUT, BH, "[batch, hidden]", ANY)                                                               \
    BUF(dbias, FLOAT, OUT, GH, "[4 hidden]", ANY)
#define SF_FIELDS_gru_cell_forward(SIZE, OPT, BUF, WS)                                                                 \
    SIZE(batch)                                                                                                        \
    SIZE(hidden)                                                                                                       \
    BUF(gates_x, FLOAT, IN, BGH, "[batch, 3 hidden]", REQUIRED)                                                             \
    BUF(gates_h, FLOAT, IN, BGH, "[batch, 3 hidden]", REQUIRED)                                                             \
    BUF(bias_x, FLOAT, IN, GH, "[3 hidden]", OPTIONAL)                                                                      \
    BUF(bias_h, FLOAT, IN, GH, "[3 hidden]", OPTIONAL)                                                                      \
    BUF(h_prev, FLOAT, IN, BH, "[batch, hidden]", REQUIRED)                                                                 \
    BUF(h, FLOAT, OUT, BH, "[batch, hidden]", REQUIRED)
#define SF_FIELDS_gru_cell_backward(SIZE, OPT, BUF, WS)                                                                \
    SIZE(batch)                                                                                                        \
    SIZE(hidden)                                                                                                       \
    BUF(gates_x, FLOAT, IN, BGH, "[batch, 3 hidden]", REQUIRED)                                                             \
    BUF(gates_h, FLOAT, IN, BGH, "[batch, 3 hidden]", REQUIRED)                                                             \
    BUF(bias_x, FLOAT, IN, GH, "[3 hidden]", OPTIONAL)                                                                      \
    BUF(bias_h, FLOAT, IN, GH, "[3 hidden]", OPTIONAL)                                                                      \
    BUF(h_prev, FLOAT, IN, BH, "[batch, hidden]", REQUIRED)                                                                 \
    BUF(dh, FLOAT, IN, BH, "[batch, hidden]", REQUIRED)                                                                     \
    BUF(dgates_x, FLOAT, OUT, BGH, "[batch, 3 hidden]", ANY)                                                           \
    BUF(dgates_h, FLOAT, OUT, BGH, "[batch, 3 hidden]", ANY)                                                           \
    BUF(dh_prev, FLOAT, OUT, BH, "[batch, hidden]", ANY)                                                               \
    BUF(dbias_x, FLOAT, OUT, GH, "[3 hidden]", ANY)                                                                    \
    BUF(dbias_h, FLOAT, OUT, GH, "[3 hidden]", ANY)

/* ---- Losses over [rows, cols] logits. LOSS counts rows * cols for reduction NONE, else
 * one scalar (role LOSS: the float dtype, or SCALAR when reduced). ------------------------- */

#define SF_FIELDS_bce_with_logits(SIZE, OPT, BUF, WS)                                                                  \
    SIZE(rows)                                                                                                         \
    SIZE(cols)                                                                                                         \
    OPT(reduction, sigfuse_reduction, SIGFUSE_REDUCTION_MEAN, REDUCTION)                                               \
    OPT(label_smoothing, float, 0.0f, UNIT)                                                                            \
    OPT(grad_scale, float, 1.0f, FINITE)                                                                               \
    OPT(threshold, float, 0.5f, UNIT)                                                                                  \
    BUF(logits, FLOAT, IN, TOTAL, "[rows, cols]", REQUIRED)                                                                 \
    BUF(targets, TARGET, IN, TOTAL, "[rows, cols]", REQUIRED)                                                               \
    BUF(mask, MASK, IN, TOTAL, "[rows, cols]", OPTIONAL)                                                                    \
    BUF(weight, FLOAT, IN, TOTAL, "[rows, cols]", OPTIONAL)                                                                 \
    BUF(pos_weight, FLOAT, IN, COLS, "[cols]", OPTIONAL)                                                                    \
    BUF(dloss_in, LOSS, IN, LOSS, "[loss]", OPTIONAL)                                                                       \
    BUF(loss, LOSS, OUT, LOSS, "[loss]", ANY)                                                                          \
    BUF(dlogits, FLOAT, OUT, TOTAL, "[rows, cols]", ANY)                                                               \
    BUF(probs, FLOAT, OUT, TOTAL, "[rows, cols]", ANY)                                                                 \
    BUF(labels, LABEL, OUT, TOTAL, "[rows, cols]", ANY)
#define SF_FIELDS_sigmoid_focal(SIZE, OPT, BUF, WS)                                                                    \
    SIZE(rows)                                                                                                         \
    SIZE(cols)                                                                                                         \
    OPT(reduction, sigfuse_reduction, SIGFUSE_REDUCTION_MEAN, REDUCTION)                                               \
    OPT(alpha, float, 0.25f, ALPHA)                                                                                    \
    OPT(gamma, float, 2.0f, NONNEG)                                                                                    \
    OPT(grad_scale, float, 1.0f, FINITE)                                                                               \
    BUF(logits, FLOAT, IN, TOTAL, "[rows, cols]", REQUIRED)                                                                 \
    BUF(targets, TARGET, IN, TOTAL, "[rows, cols]", REQUIRED)                                                               \
    BUF(mask, MASK, IN, TOTAL, "[rows, cols]", OPTIONAL)                                                                    \
    BUF(dloss_in, LOSS, IN, LOSS, "[loss]", OPTIONAL)                                                                       \
    BUF(loss, LOSS, OUT, LOSS, "[loss]", ANY)                                                                          \
    BUF(dlogits, FLOAT, OUT, TOTAL, "[rows, cols]", ANY)
#define SF_FIELDS_asymmetric(SIZE, OPT, BUF, WS)                                                                       \
    SIZE(rows)                                                                                                         \
    SIZE(cols)                                                                                                         \
    OPT(reduction, sigfuse_reduction, SIGFUSE_REDUCTION_MEAN, REDUCTION)                                               \
    OPT(gamma_pos, float, 0.0f, NONNEG)                                                                                \
    OPT(gamma_neg, float, 4.0f, NONNEG)                                                                                \
    OPT(margin, float, 0.05f, UNIT)                                                                                    \
    OPT(grad_scale, float, 1.0f, FINITE)                                                                               \
    BUF(logits, FLOAT, IN, TOTAL, "[rows, cols]", REQUIRED)                                                            \
    BUF(targets, TARGET, IN, TOTAL, "[rows, cols]", REQUIRED)                                                          \
    BUF(mask, MASK, IN, TOTAL, "[rows, cols]", OPTIONAL)                                                               \
    BUF(dloss_in, LOSS, IN, LOSS, "[loss]", OPTIONAL)                                                                  \
    BUF(loss, LOSS, OUT, LOSS, "[loss]", ANY)                                                                          \
    BUF(dlogits, FLOAT, OUT, TOTAL, "[rows, cols]", ANY)
/* Sizes images, pixels: the LOSS shape's rows and cols. Its loss is always reduced. */
#define SF_FIELDS_bce_dice(SIZE, OPT, BUF, WS)                                                                         \
    SIZE(images)                                                                                                       \
    SIZE(pixels)                                                                                                       \
    OPT(reduction, sigfuse_reduction, SIGFUSE_REDUCTION_MEAN, REDUCED)                                                 \
    OPT(bce_weight, float, 1.0f, FINITE)                                                                               \
    OPT(dice_weight, float, 1.0f, FINITE)                                                                              \
    OPT(smooth, float, 1.0f, NONNEG)                                                                                   \
    OPT(label_smoothing, float, 0.0f, UNIT)                                                                            \
    OPT(grad_scale, float, 1.0f, FINITE)                                                                               \
    BUF(logits, FLOAT, IN, TOTAL, "[images, pixels]", REQUIRED)                                                        \
    BUF(targets, TARGET, IN, TOTAL, "[images, pixels]", REQUIRED)                                                      \
    BUF(mask, MASK, IN, TOTAL, "[images, pixels]", OPTIONAL)                                                           \
    BUF(pos_weight, FLOAT, IN, COLS, "[pixels]", OPTIONAL)                                                             \
    BUF(dloss_in, SCALAR, IN, ONE, "[]", OPTIONAL)                                                                     \
    BUF(loss, SCALAR, OUT, ONE, "[]", ANY)                                                                             \
    BUF(dlogits, FLOAT, OUT, TOTAL, "[images, pixels]", ANY)                                                           \
    BUF(dice, FLOAT, OUT, ROWS, "[images]", ANY)

/* ---- Multi-label heads: X [n, d], W [l, d], logits Z = X W^T + bias [n, l]. Nothing a head
 * writes may overlap anything else (shape NULL): it reads X and W while it writes. -------- */

#define SF_FIELDS_head_predict(SIZE, OPT, BUF, WS)                                                                     \
    SIZE(n)                                                                                                            \
    SIZE(d)                                                                                                            \
    SIZE(l)                                                                                                            \
    OPT(threshold, float, 0.5f, UNIT)                                                                                  \
    BUF(x, FLOAT, IN, ND, NULL, REQUIRED)                                                                                   \
    BUF(w, FLOAT, IN, LD, NULL, REQUIRED)                                                                                   \
    BUF(bias, FLOAT, IN, L, NULL, OPTIONAL)                                                                                 \
    BUF(logits, FLOAT, OUT, NL, NULL, ANY)                                                                             \
    BUF(probs, FLOAT, OUT, NL, NULL, ANY)                                                                              \
    BUF(labels, LABEL, OUT, NL, NULL, ANY)                                                                             \
    WS(workspace, workspace_bytes)
/* The train step's targets are dense (targets) or CSR (pos_offsets, pos_labels): exactly
 * one of the two (api.c's check_pairs), the CSR's ids checked by the backend before it
 * writes. label_offset and total_labels place a shard in the label space (sigfuse.h). */
#define SF_FIELDS_head_train_step(SIZE, OPT, BUF, WS)                                                                  \
    SIZE(n)                                                                                                            \
    SIZE(d)                                                                                                            \
    SIZE(l)                                                                                                            \
    SIZE(nnz)                                                                                                          \
    SIZE(label_offset)                                                                                                 \
    SIZE(total_labels)                                                                                                 \
    OPT(reduction, sigfuse_reduction, SIGFUSE_REDUCTION_MEAN, REDUCED)                                                 \
    OPT(grad_scale, float, 1.0f, FINITE)                                                                               \
    BUF(x, FLOAT, IN, ND, NULL, REQUIRED)                                                                                   \
    BUF(w, FLOAT, IN, LD, NULL, REQUIRED)                                                                                   \
    BUF(bias, FLOAT, IN, L, NULL, OPTIONAL)                                                                                 \
    BUF(targets, TARGET, IN, NL, NULL, OPTIONAL)                                                                            \
    BUF(pos_weight, FLOAT, IN, L, NULL, OPTIONAL)                                                                           \
    BUF(pos_offsets, INDEX, IN, N1, NULL, OPTIONAL)                                                                    \
    BUF(pos_labels, INDEX, IN, NNZ, NULL, OPTIONAL)                                                                    \
    BUF(loss, SCALAR, OUT, ONE, NULL, ANY)                                                                             \
    BUF(dx, FLOAT, OUT, ND, NULL, ANY)                                                                                 \
    BUF(dw, FLOAT, OUT, LD, NULL, ANY)                                                                                 \
    BUF(dbias, FLOAT, OUT, L, NULL, ANY)                                                                               \
    WS(workspace, workspace_bytes)

/* Top-k over a head's labels, and the merge of the shards' lists: counts NK = n * k and
 * SNK = shards * n * k. */
#define SF_FIELDS_head_topk(SIZE, OPT, BUF, WS)                                                                        \
    SIZE(n)                                                                                                            \
    SIZE(d)                                                                                                            \
    SIZE(l)                                                                                                            \
    SIZE(k)                                                                                                            \
    SIZE(label_offset)                                                                                                 \
    BUF(x, FLOAT, IN, ND, NULL, REQUIRED)                                                                              \
    BUF(w, FLOAT, IN, LD, NULL, REQUIRED)                                                                              \
    BUF(bias, FLOAT, IN, L, NULL, OPTIONAL)                                                                            \
    BUF(top_labels, INDEX, OUT, NK, NULL, REQUIRED)                                                                    \
    BUF(top_logits, FLOAT, OUT, NK, NULL, OPTIONAL)                                                                    \
    BUF(top_probs, FLOAT, OUT, NK, NULL, OPTIONAL)                                                                     \
    WS(workspace, workspace_bytes)
#define SF_FIELDS_topk_merge(SIZE, OPT, BUF, WS)                                                                       \
    SIZE(n)                                                                                                            \
    SIZE(k)                                                                                                            \
    SIZE(shards)                                                                                                       \
    BUF(in_labels, INDEX, IN, SNK, NULL, REQUIRED)                                                                     \
    BUF(in_logits, FLOAT, IN, SNK, NULL, REQUIRED)                                                                     \
    BUF(top_labels, INDEX, OUT, NK, NULL, REQUIRED)                                                                    \
    BUF(top_logits, FLOAT, OUT, NK, NULL, OPTIONAL)                                                                    \
    BUF(top_probs, FLOAT, OUT, NK, NULL, OPTIONAL)

/* ---- What the lists above become (host/catalog.c) ------------------------------------------ */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sigfuse.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sf_op {
#define SF_OP_ENUM_(name, family, shape, args) SF_OP_##name,
    SF_CATALOG(SF_OP_ENUM_)
#undef SF_OP_ENUM_
    SF_OP_COUNT
} sf_op;

/* The loose arguments of the elementwise calls, as one struct (each op uses some). */
typedef struct sf_ew_args {
    int64_t n;
    float beta;
    const sigfuse_buffer *x, *y, *dy, *dx, *a, *b, *da, *db;
} sf_ew_args;

/* Room for any op's args struct, for code that handles every op alike. */
typedef union sf_any_args {
    sf_ew_args ew;
    sigfuse_lstm_forward_args lstm_forward;
    sigfuse_lstm_backward_args lstm_backward;
    sigfuse_gru_forward_args gru_forward;
    sigfuse_gru_backward_args gru_backward;
    sigfuse_bce_args bce;
    sigfuse_focal_args focal;
    sigfuse_asymmetric_args asymmetric;
    sigfuse_bce_dice_args bce_dice;
    sigfuse_head_predict_args head_predict;
    sigfuse_head_train_args head_train;
    sigfuse_head_topk_args head_topk;
    sigfuse_topk_merge_args topk_merge;
} sf_any_args;

/* What dtypes a buffer may have, relative to the op's float dtype (the dtype of its
 * first float buffer). */
typedef enum sf_role {
    SF_ROLE_FLOAT,      /* the op's float dtype: f32, f16, bf16 (f64 on the reference) */
    SF_ROLE_TARGET,     /* the op's float dtype or u8 */
    SF_ROLE_LABEL,      /* u8 or the op's float dtype */
    SF_ROLE_SCALAR,     /* f32, or f64 when the op's dtype is f64 (reduced losses) */
    SF_ROLE_MASK,       /* u8 (0: ignored) */
    SF_ROLE_INDEX,      /* i32 or i64 (label ids, CSR offsets) */
    SF_ROLE_BYTES,      /* workspace: any dtype, count is in bytes */
    SF_ROLE_LOSS        /* FLOAT for reduction NONE, else SCALAR */
} sf_role;

typedef enum sf_shape {
    SF_SHAPE_EW,     /* n */
    SF_SHAPE_LSTM,   /* batch, hidden; 4 gate blocks */
    SF_SHAPE_GRU,    /* batch, hidden; 3 gate blocks */
    SF_SHAPE_LOSS,   /* rows, cols */
    SF_SHAPE_HEAD,   /* n, d, l (then the op's own: nnz, k, label_offset, ...) */
    SF_SHAPE_MERGE   /* n, k, shards */
} sf_shape;

/* Element counts, from the sizes by the op's shape (sf_op_counts). */
typedef enum sf_count {
    SF_COUNT_N,       /* n */
    SF_COUNT_BH,      /* batch * hidden */
    SF_COUNT_GH,      /* G * hidden */
    SF_COUNT_BGH,     /* batch * G * hidden */
    SF_COUNT_TOTAL,   /* rows * cols */
    SF_COUNT_COLS,    /* cols */
    SF_COUNT_ROWS,    /* rows */
    SF_COUNT_LOSS,    /* rows * cols for reduction NONE, else 1 */
    SF_COUNT_ND,      /* n * d */
    SF_COUNT_LD,      /* l * d */
    SF_COUNT_NL,      /* n * l */
    SF_COUNT_L,       /* l */
    SF_COUNT_ONE,     /* 1 */
    SF_COUNT_N1,      /* n + 1 (CSR offsets) */
    SF_COUNT_NNZ,     /* nnz */
    SF_COUNT_NK,      /* n * k */
    SF_COUNT_SNK,     /* shards * n * k */
    SF_COUNT_KINDS
} sf_count;

typedef enum sf_rule {
    SF_RULE_FINITE,      /* any finite float */
    SF_RULE_UNIT,        /* finite, in [0, 1] */
    SF_RULE_ALPHA,       /* at most 1; negative means "no alpha term"; not NaN */
    SF_RULE_NONNEG,      /* finite, >= 0 */
    SF_RULE_REDUCTION,   /* NONE, SUM or MEAN */
    SF_RULE_REDUCED      /* SUM or MEAN */
} sf_rule;

typedef enum sf_presence { SF_REQUIRED, SF_OPTIONAL, SF_ANY } sf_presence;

#define SF_MAX_SIZES 6
#define SF_MAX_OPTS 6
#define SF_MAX_BUFS 12

typedef struct sf_buf_info {
    const char *name;
    sf_role role;
    bool input;
    sf_count count;
    const char *shape;   /* NULL: never in place */
    sf_presence presence;
} sf_buf_info;

typedef struct sf_opt_info {
    const char *name;
    bool reduction;      /* a sigfuse_reduction; else a float */
    double fallback;     /* the args_init value */
    sf_rule rule;
} sf_opt_info;

typedef struct sf_op_info {
    const char *name;     /* the API's spelling */
    const char *family;   /* its file in ref/, cuda/, opencl/ */
    sf_shape shape;
    size_t args_size;     /* sizeof its args struct (sf_ew_args for elementwise ops) */
    int n_sizes, n_opts, n_bufs, n_inputs;   /* inputs are bufs[0 .. n_inputs) */
    bool workspace;
    const char *sizes[SF_MAX_SIZES];
    sf_opt_info opts[SF_MAX_OPTS];
    sf_buf_info bufs[SF_MAX_BUFS];
} sf_op_info;

/* An op's arguments in catalogue order, whatever its C form. */
typedef struct sf_op_values {
    int64_t sizes[SF_MAX_SIZES];
    double opts[SF_MAX_OPTS];
    const sigfuse_buffer *bufs[SF_MAX_BUFS];
    const sigfuse_buffer *workspace;
    size_t workspace_bytes;
} sf_op_values;

extern const sf_op_info sf_op_infos[SF_OP_COUNT];

/* The op's name ("unknown" out of range) and the op of a name (SF_OP_COUNT if none). */
const char *sf_op_name(sf_op op);
sf_op sf_op_by_name(const char *name);
/* Read an args struct of the op into values, or write values into one. */
void sf_op_get(sf_op op, const void *args, sf_op_values *v);
void sf_op_set(sf_op op, void *args, const sf_op_values *v);
/* Zero an args struct and give its options their defaults. */
void sf_op_init(sf_op op, void *args);
/* Call the public function of the op on an args struct. */
sigfuse_status sf_op_call(sigfuse_ctx *ctx, sf_op op, const void *args);
/* The element counts of the op's sizes (non-negative), SF_COUNT_KINDS of them. False when a
 * product overflows int64, with which one in *overflow when that is not NULL. The LOSS
 * count follows the op's reduction. */
typedef struct sf_overflow {
    const char *what;   /* "batch * hidden" */
    int64_t a, b;
} sf_overflow;
bool sf_op_counts(sf_op op, const sf_op_values *v, int64_t counts[SF_COUNT_KINDS], sf_overflow *overflow);
/* The fewest bytes a call moves: each present buffer read or written once, an input as
 * many times as the passes that read it. */
double sf_op_min_bytes(sf_op op, const sf_op_values *v);
/* How many passes of the call read buffer i (0 when absent, 1 for an output): 2 for the
 * [rows, cols] inputs of an SF_TWO_PASS op given dlogits, and for the mask of a MEAN
 * given dlogits (the devices count the kept elements before they scale the gradient). */
int sf_op_buf_reads(sf_op op, const sf_op_values *v, int i);
/* The resolved role and shape of buffer i (LOSS follows the reduction). */
sf_role sf_op_buf_role(sf_op op, const sf_op_values *v, int i);
const char *sf_op_buf_shape(sf_op op, const sf_op_values *v, int i);

#ifdef __cplusplus
}
#endif

#endif /* SF_CATALOG_H */
