/* SPDX-License-Identifier: MIT */
/*
 * The public ops: each describes its sizes, options and buffers to the shared checks
 * (check.c), then hands the checked arguments to the context's backend. Nothing is
 * written before every check has passed.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "check.h"

#define TRY(expr)                                                                                                      \
    do {                                                                                                               \
        sigfuse_status try_status_ = (expr);                                                                           \
        if (try_status_ != SIGFUSE_SUCCESS)                                                                            \
            return try_status_;                                                                                        \
    } while (0)

#define COUNT_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Every entry point starts here: a NULL context has nowhere to put a message. */
static sigfuse_status begin(sigfuse_ctx *ctx)
{
    if (!ctx)
        return SIGFUSE_ERR_NULL_ARGUMENT;
    ctx->message[0] = '\0';
    return SIGFUSE_SUCCESS;
}

static sigfuse_status unsupported(sigfuse_ctx *ctx, const char *op)
{
    return sf_fail(ctx, SIGFUSE_ERR_UNSUPPORTED, "%s: not implemented by the %s backend", op,
                   sigfuse_backend_name(ctx->backend));
}

static sigfuse_status check_reduction(sigfuse_ctx *ctx, const char *op, sigfuse_reduction r, bool allow_none)
{
    if (r == SIGFUSE_REDUCTION_SUM || r == SIGFUSE_REDUCTION_MEAN || (allow_none && r == SIGFUSE_REDUCTION_NONE))
        return SIGFUSE_SUCCESS;
    return sf_fail(ctx, SIGFUSE_ERR_INVALID_OPTION, "%s: reduction has the unknown or unaccepted value %d", op, (int)r);
}

static sigfuse_status check_finite(sigfuse_ctx *ctx, const char *op, const char *name, float v)
{
    if (!isfinite(v))
        return sf_fail(ctx, SIGFUSE_ERR_INVALID_OPTION, "%s: %s must be finite (got %g)", op, name, (double)v);
    return SIGFUSE_SUCCESS;
}

static sigfuse_status need_output(sigfuse_ctx *ctx, const char *op, bool any, const char *names)
{
    if (!any)
        return sf_fail(ctx, SIGFUSE_ERR_INVALID_ARGUMENT, "%s: no output requested (give at least one of %s)", op, names);
    return SIGFUSE_SUCCESS;
}

/* ---- Elementwise ops --------------------------------------------------------------- */

static const char *const ew_names[SF_EW_COUNT] = {
    "sigmoid_forward",  "sigmoid_backward", "log_sigmoid_forward", "log_sigmoid_backward", "silu_forward",
    "silu_backward",    "glu_forward",      "glu_backward",        "swiglu_forward",       "swiglu_backward",
};

/* Names of the inputs and outputs of each elementwise op, in sf_ew_call order. */
static const char *const ew_in_names[SF_EW_COUNT][3] = {
    {"x"}, {"y", "dy"}, {"x"}, {"x", "dy"}, {"x"}, {"x", "dy"},
    {"a", "b"}, {"a", "b", "dy"}, {"a", "b"}, {"a", "b", "dy"},
};

const char *sf_ew_op_name(sf_ew_op op) { return (unsigned)op < SF_EW_COUNT ? ew_names[op] : "unknown"; }

static sigfuse_status run_elementwise(sigfuse_ctx *ctx, sf_ew_call *call)
{
    TRY(begin(ctx));
    const char *op = ew_names[call->op];
    bool two_outputs = call->op == SF_EW_GLU_BWD || call->op == SF_EW_SWIGLU_BWD;
    TRY(sf_check_size(ctx, op, "n", call->n));
    if (call->op == SF_EW_SILU_FWD || call->op == SF_EW_SILU_BWD || call->op == SF_EW_SWIGLU_FWD ||
        call->op == SF_EW_SWIGLU_BWD)
        TRY(check_finite(ctx, op, "beta", call->beta));

    sf_arg args[5];
    int n = 0;
    for (int i = 0; i < 3 && ew_in_names[call->op][i]; i++)
        args[n++] = (sf_arg){ew_in_names[call->op][i], call->in[i], call->n, SF_ROLE_FLOAT, true, "[n]"};
    const int inputs = n;
    if (two_outputs) {
        args[n++] = (sf_arg){"da", call->out[0], call->n, SF_ROLE_FLOAT, false, "[n]"};
        args[n++] = (sf_arg){"db", call->out[1], call->n, SF_ROLE_FLOAT, false, "[n]"};
    } else {
        bool fwd = call->op == SF_EW_SIGMOID_FWD || call->op == SF_EW_LOG_SIGMOID_FWD ||
                   call->op == SF_EW_SILU_FWD || call->op == SF_EW_GLU_FWD || call->op == SF_EW_SWIGLU_FWD;
        args[n++] = (sf_arg){fwd ? "y" : "dx", call->out[0], call->n, SF_ROLE_FLOAT, true, "[n]"};
    }
    sigfuse_dtype dtype;
    TRY(sf_check_buffers(ctx, op, args, n, &dtype));
    TRY(sf_check_overlaps(ctx, op, args, n, inputs, true));
    if (two_outputs)
        TRY(need_output(ctx, op, call->out[0] || call->out[1], "da, db"));
    if (call->n == 0)
        return SIGFUSE_SUCCESS;
    if (!ctx->ops->elementwise)
        return unsupported(ctx, op);
    return ctx->ops->elementwise(ctx, call);
}

static sigfuse_status ew(sigfuse_ctx *ctx, sf_ew_op op, int64_t n, float beta, const sigfuse_buffer *in0,
                         const sigfuse_buffer *in1, const sigfuse_buffer *in2, const sigfuse_buffer *out0,
                         const sigfuse_buffer *out1)
{
    sf_ew_call call = {op, n, beta, {in0, in1, in2}, {out0, out1}};
    return run_elementwise(ctx, &call);
}

sigfuse_status sigfuse_sigmoid_forward(sigfuse_ctx *ctx, int64_t n, const sigfuse_buffer *x, const sigfuse_buffer *y)
{
    return ew(ctx, SF_EW_SIGMOID_FWD, n, 1.0f, x, NULL, NULL, y, NULL);
}

sigfuse_status sigfuse_sigmoid_backward(sigfuse_ctx *ctx, int64_t n, const sigfuse_buffer *y,
                                        const sigfuse_buffer *dy, const sigfuse_buffer *dx)
{
    return ew(ctx, SF_EW_SIGMOID_BWD, n, 1.0f, y, dy, NULL, dx, NULL);
}

sigfuse_status sigfuse_log_sigmoid_forward(sigfuse_ctx *ctx, int64_t n, const sigfuse_buffer *x,
                                           const sigfuse_buffer *y)
{
    return ew(ctx, SF_EW_LOG_SIGMOID_FWD, n, 1.0f, x, NULL, NULL, y, NULL);
}

sigfuse_status sigfuse_log_sigmoid_backward(sigfuse_ctx *ctx, int64_t n, const sigfuse_buffer *x,
                                            const sigfuse_buffer *dy, const sigfuse_buffer *dx)
{
    return ew(ctx, SF_EW_LOG_SIGMOID_BWD, n, 1.0f, x, dy, NULL, dx, NULL);
}

sigfuse_status sigfuse_silu_forward(sigfuse_ctx *ctx, int64_t n, float beta, const sigfuse_buffer *x,
                                    const sigfuse_buffer *y)
{
    return ew(ctx, SF_EW_SILU_FWD, n, beta, x, NULL, NULL, y, NULL);
}

sigfuse_status sigfuse_silu_backward(sigfuse_ctx *ctx, int64_t n, float beta, const sigfuse_buffer *x,
                                     const sigfuse_buffer *dy, const sigfuse_buffer *dx)
{
    return ew(ctx, SF_EW_SILU_BWD, n, beta, x, dy, NULL, dx, NULL);
}

sigfuse_status sigfuse_glu_forward(sigfuse_ctx *ctx, int64_t n, const sigfuse_buffer *a, const sigfuse_buffer *b,
                                   const sigfuse_buffer *y)
{
    return ew(ctx, SF_EW_GLU_FWD, n, 1.0f, a, b, NULL, y, NULL);
}

sigfuse_status sigfuse_glu_backward(sigfuse_ctx *ctx, int64_t n, const sigfuse_buffer *a, const sigfuse_buffer *b,
                                    const sigfuse_buffer *dy, const sigfuse_buffer *da, const sigfuse_buffer *db)
{
    return ew(ctx, SF_EW_GLU_BWD, n, 1.0f, a, b, dy, da, db);
}

sigfuse_status sigfuse_swiglu_forward(sigfuse_ctx *ctx, int64_t n, float beta, const sigfuse_buffer *a,
                                      const sigfuse_buffer *b, const sigfuse_buffer *y)
{
    return ew(ctx, SF_EW_SWIGLU_FWD, n, beta, a, b, NULL, y, NULL);
}

sigfuse_status sigfuse_swiglu_backward(sigfuse_ctx *ctx, int64_t n, float beta, const sigfuse_buffer *a,
                                       const sigfuse_buffer *b, const sigfuse_buffer *dy, const sigfuse_buffer *da,
                                       const sigfuse_buffer *db)
{
    return ew(ctx, SF_EW_SWIGLU_BWD, n, beta, a, b, dy, da, db);
}

/* ---- Recurrent cells ----------------------------------------------------------------- */

/* B*H and B*G*H element counts of a cell with G gate blocks. */
static sigfuse_status cell_sizes(sigfuse_ctx *ctx, const char *op, int64_t batch, int64_t hidden, int64_t gates,
                                 int64_t *bh, int64_t *gh, int64_t *bgh)
{
    TRY(sf_check_size(ctx, op, "batch", batch));
    TRY(sf_check_size(ctx, op, "hidden", hidden));
    TRY(sf_check_product(ctx, op, "batch * hidden", batch, hidden, bh));
    TRY(sf_check_product(ctx, op, "gates * hidden", gates, hidden, gh));
    TRY(sf_check_product(ctx, op, "batch * gates * hidden", batch, *gh, bgh));
    return SIGFUSE_SUCCESS;
}

sigfuse_status sigfuse_lstm_cell_forward(sigfuse_ctx *ctx, const sigfuse_lstm_forward_args *a)
{
    static const char op[] = "lstm_cell_forward";
    TRY(begin(ctx));
    if (!a)
        return sf_fail(ctx, SIGFUSE_ERR_NULL_ARGUMENT, "%s: args is NULL", op);
    int64_t bh, gh, bgh;
    TRY(cell_sizes(ctx, op, a->batch, a->hidden, 4, &bh, &gh, &bgh));
    const sf_arg args[] = {
        {"gates_x", a->gates_x, bgh, SF_ROLE_FLOAT, true, "[batch, 4 hidden]"},
        {"gates_h", a->gates_h, bgh, SF_ROLE_FLOAT, false, "[batch, 4 hidden]"},
        {"bias", a->bias, gh, SF_ROLE_FLOAT, false, "[4 hidden]"},
        {"c_prev", a->c_prev, bh, SF_ROLE_FLOAT, true, "[batch, hidden]"},
        {"h", a->h, bh, SF_ROLE_FLOAT, false, "[batch, hidden]"},
        {"c", a->c, bh, SF_ROLE_FLOAT, false, "[batch, hidden]"},
    };
    sigfuse_dtype dtype;
    TRY(sf_check_buffers(ctx, op, args, COUNT_OF(args), &dtype));
    TRY(sf_check_overlaps(ctx, op, args, COUNT_OF(args), 4, true));   /* 4 inputs, then h, c */
    TRY(need_output(ctx, op, a->h || a->c, "h, c"));
    if (bh == 0)
        return SIGFUSE_SUCCESS;
    return ctx->ops->lstm_forward ? ctx->ops->lstm_forward(ctx, a) : unsupported(ctx, op);
}

sigfuse_status sigfuse_lstm_cell_backward(sigfuse_ctx *ctx, const sigfuse_lstm_backward_args *a)
{
    static const char op[] = "lstm_cell_backward";
    TRY(begin(ctx));
    if (!a)
        return sf_fail(ctx, SIGFUSE_ERR_NULL_ARGUMENT, "%s: args is NULL", op);
    int64_t bh, gh, bgh;
    TRY(cell_sizes(ctx, op, a->batch, a->hidden, 4, &bh, &gh, &bgh));
    const sf_arg args[] = {
        {"gates_x", a->gates_x, bgh, SF_ROLE_FLOAT, true, "[batch, 4 hidden]"},
        {"gates_h", a->gates_h, bgh, SF_ROLE_FLOAT, false, "[batch, 4 hidden]"},
        {"bias", a->bias, gh, SF_ROLE_FLOAT, false, "[4 hidden]"},
        {"c_prev", a->c_prev, bh, SF_ROLE_FLOAT, true, "[batch, hidden]"},
        {"dh", a->dh, bh, SF_ROLE_FLOAT, false, "[batch, hidden]"},
        {"dc", a->dc, bh, SF_ROLE_FLOAT, false, "[batch, hidden]"},
        {"dgates", a->dgates, bgh, SF_ROLE_FLOAT, false, "[batch, 4 hidden]"},
        {"dc_prev", a->dc_prev, bh, SF_ROLE_FLOAT, false, "[batch, hidden]"},
        {"dbias", a->dbias, gh, SF_ROLE_FLOAT, false, "[4 hidden]"},
    };
    sigfuse_dtype dtype;
    TRY(sf_check_buffers(ctx, op, args, COUNT_OF(args), &dtype));
    TRY(sf_check_overlaps(ctx, op, args, COUNT_OF(args), 6, true));   /* 6 inputs, then dgates.. */
    if (!a->dh && !a->dc)
        return sf_fail(ctx, SIGFUSE_ERR_NULL_ARGUMENT, "%s: dh and dc are both absent (give at least one)", op);
    TRY(need_output(ctx, op, a->dgates || a->dc_prev || a->dbias, "dgates, dc_prev, dbias"));
    /* With no rows the bias gradient is still written (zeros), so only skip when
     * nothing at all is touched. */
    if (bh == 0 && !(a->dbias && gh > 0))
        return SIGFUSE_SUCCESS;
    return ctx->ops->lstm_backward ? ctx->ops->lstm_backward(ctx, a) : unsupported(ctx, op);
}

sigfuse_status sigfuse_gru_cell_forward(sigfuse_ctx *ctx, const sigfuse_gru_forward_args *a)
{
    static const char op[] = "gru_cell_forward";
    TRY(begin(ctx));
    if (!a)
        return sf_fail(ctx, SIGFUSE_ERR_NULL_ARGUMENT, "%s: args is NULL", op);
    int64_t bh, gh, bgh;
    TRY(cell_sizes(ctx, op, a->batch, a->hidden, 3, &bh, &gh, &bgh));
    const sf_arg args[] = {
        {"gates_x", a->gates_x, bgh, SF_ROLE_FLOAT, true, "[batch, 3 hidden]"},
        {"gates_h", a->gates_h, bgh, SF_ROLE_FLOAT, true, "[batch, 3 hidden]"},
        {"bias_x", a->bias_x, gh, SF_ROLE_FLOAT, false, "[3 hidden]"},
        {"bias_h", a->bias_h, gh, SF_ROLE_FLOAT, false, "[3 hidden]"},
        {"h_prev", a->h_prev, bh, SF_ROLE_FLOAT, true, "[batch, hidden]"},
        {"h", a->h, bh, SF_ROLE_FLOAT, true, "[batch, hidden]"},
    };
    sigfuse_dtype dtype;
    TRY(sf_check_buffers(ctx, op, args, COUNT_OF(args), &dtype));
    TRY(sf_check_overlaps(ctx, op, args, COUNT_OF(args), 5, true));   /* 5 inputs, then h */
    if (bh == 0)
        return SIGFUSE_SUCCESS;
    return ctx->ops->gru_forward ? ctx->ops->gru_forward(ctx, a) : unsupported(ctx, op);
}

sigfuse_status sigfuse_gru_cell_backward(sigfuse_ctx *ctx, const sigfuse_gru_backward_args *a)
{
    static const char op[] = "gru_cell_backward";
    TRY(begin(ctx));
    if (!a)
        return sf_fail(ctx, SIGFUSE_ERR_NULL_ARGUMENT, "%s: args is NULL", op);
    int64_t bh, gh, bgh;
    TRY(cell_sizes(ctx, op, a->batch, a->hidden, 3, &bh, &gh, &bgh));
    const sf_arg args[] = {
        {"gates_x", a->gates_x, bgh, SF_ROLE_FLOAT, true, "[batch, 3 hidden]"},
        {"gates_h", a->gates_h, bgh, SF_ROLE_FLOAT, true, "[batch, 3 hidden]"},
        {"bias_x", a->bias_x, gh, SF_ROLE_FLOAT, false, "[3 hidden]"},
        {"bias_h", a->bias_h, gh, SF_ROLE_FLOAT, false, "[3 hidden]"},
        {"h_prev", a->h_prev, bh, SF_ROLE_FLOAT, true, "[batch, hidden]"},
        {"dh", a->dh, bh, SF_ROLE_FLOAT, true, "[batch, hidden]"},
        {"dgates_x", a->dgates_x, bgh, SF_ROLE_FLOAT, false, "[batch, 3 hidden]"},
        {"dgates_h", a->dgates_h, bgh, SF_ROLE_FLOAT, false, "[batch, 3 hidden]"},
        {"dh_prev", a->dh_prev, bh, SF_ROLE_FLOAT, false, "[batch, hidden]"},
        {"dbias_x", a->dbias_x, gh, SF_ROLE_FLOAT, false, "[3 hidden]"},
        {"dbias_h", a->dbias_h, gh, SF_ROLE_FLOAT, false, "[3 hidden]"},
    };
    sigfuse_dtype dtype;
    TRY(sf_check_buffers(ctx, op, args, COUNT_OF(args), &dtype));
    TRY(sf_check_overlaps(ctx, op, args, COUNT_OF(args), 6, true));   /* 6 inputs, then dgates_x.. */
    TRY(need_output(ctx, op, a->dgates_x || a->dgates_h || a->dh_prev || a->dbias_x || a->dbias_h,
                    "dgates_x, dgates_h, dh_prev, dbias_x, dbias_h"));
    if (bh == 0 && !((a->dbias_x || a->dbias_h) && gh > 0))
        return SIGFUSE_SUCCESS;
    return ctx->ops->gru_backward ? ctx->ops->gru_backward(ctx, a) : unsupported(ctx, op);
}

/* ---- Losses ---------------------------------------------------------------------------- */

void sigfuse_bce_args_init(sigfuse_bce_args *args)
{
    if (!args)
        return;
    memset(args, 0, sizeof *args);
    args->reduction = SIGFUSE_REDUCTION_MEAN;
    args->grad_scale = 1.0f;
    args->threshold = 0.5f;
}

void sigfuse_focal_args_init(sigfuse_focal_args *args)
{
    if (!args)
        return;
    memset(args, 0, sizeof *args);
    args->reduction = SIGFUSE_REDUCTION_MEAN;
    args->alpha = 0.25f;
    args->gamma = 2.0f;
    args->grad_scale = 1.0f;
}

/* Element counts of a [rows, cols] loss: the whole tensor and what loss / dloss_in hold. */
static sigfuse_status loss_sizes(sigfuse_ctx *ctx, const char *op, int64_t rows, int64_t cols,
                                 sigfuse_reduction reduction, int64_t *total, int64_t *loss_count, sf_role *loss_role)
{
    TRY(sf_check_size(ctx, op, "rows", rows));
    TRY(sf_check_size(ctx, op, "cols", cols));
    TRY(sf_check_product(ctx, op, "rows * cols", rows, cols, total));
    TRY(check_reduction(ctx, op, reduction, true));
    bool none = reduction == SIGFUSE_REDUCTION_NONE;
    *loss_count = none ? *total : 1;
    *loss_role = none ? SF_ROLE_FLOAT : SF_ROLE_SCALAR;
    return SIGFUSE_SUCCESS;
}

/* Whether a loss call has work: a reduced loss is written even for an empty tensor. */
static bool loss_has_work(int64_t total, sigfuse_reduction reduction, const sigfuse_buffer *loss)
{
    return total > 0 || (loss && reduction != SIGFUSE_REDUCTION_NONE);
}

sigfuse_status sigfuse_bce_with_logits(sigfuse_ctx *ctx, const sigfuse_bce_args *a)
{
    static const char op[] = "bce_with_logits";
    TRY(begin(ctx));
    if (!a)
        return sf_fail(ctx, SIGFUSE_ERR_NULL_ARGUMENT, "%s: args is NULL", op);
    int64_t total, loss_count;
    sf_role loss_role;
    TRY(loss_sizes(ctx, op, a->rows, a->cols, a->reduction, &total, &loss_count, &loss_role));
    const char *loss_shape = a->reduction == SIGFUSE_REDUCTION_NONE ? "[rows, cols]" : "[]";
    const sf_arg args[] = {
        {"logits", a->logits, total, SF_ROLE_FLOAT, true, "[rows, cols]"},
        {"targets", a->targets, total, SF_ROLE_TARGET, true, "[rows, cols]"},
        {"weight", a->weight, total, SF_ROLE_FLOAT, false, "[rows, cols]"},
        {"pos_weight", a->pos_weight, a->cols, SF_ROLE_FLOAT, false, "[cols]"},
        {"dloss_in", a->dloss_in, loss_count, loss_role, false, loss_shape},
        {"loss", a->loss, loss_count, loss_role, false, loss_shape},
        {"dlogits", a->dlogits, total, SF_ROLE_FLOAT, false, "[rows, cols]"},
        {"probs", a->probs, total, SF_ROLE_FLOAT, false, "[rows, cols]"},
        {"labels", a->labels, total, SF_ROLE_LABEL, false, "[rows, cols]"},
    };
    sigfuse_dtype dtype;
    TRY(sf_check_buffers(ctx, op, args, COUNT_OF(args), &dtype));
    TRY(sf_check_overlaps(ctx, op, args, COUNT_OF(args), 5, true));   /* 5 inputs, then loss.. */
    TRY(sf_check_range(ctx, op, "label_smoothing", a->label_smoothing, 0.0, 1.0));
    TRY(sf_check_range(ctx, op, "threshold", a->threshold, 0.0, 1.0));
    TRY(check_finite(ctx, op, "grad_scale", a->grad_scale));
    if (a->targets->dtype == SIGFUSE_U8 && a->label_smoothing > 0.0f)
        return sf_fail(ctx, SIGFUSE_ERR_INVALID_DTYPE, "%s: targets: dtype u8 is not allowed with label_smoothing > 0", op);
    TRY(need_output(ctx, op, a->loss || a->dlogits || a->probs || a->labels, "loss, dlogits, probs, labels"));
    if (!loss_has_work(total, a->reduction, a->loss))
        return SIGFUSE_SUCCESS;
    return ctx->ops->bce ? ctx->ops->bce(ctx, a) : unsupported(ctx, op);
}

sigfuse_status sigfuse_sigmoid_focal(sigfuse_ctx *ctx, const sigfuse_focal_args *a)
{
    static const char op[] = "sigmoid_focal";
    TRY(begin(ctx));
    if (!a)
        return sf_fail(ctx, SIGFUSE_ERR_NULL_ARGUMENT, "%s: args is NULL", op);
    int64_t total, loss_count;
    sf_role loss_role;
    TRY(loss_sizes(ctx, op, a->rows, a->cols, a->reduction, &total, &loss_count, &loss_role));
    const char *loss_shape = a->reduction == SIGFUSE_REDUCTION_NONE ? "[rows, cols]" : "[]";
    const sf_arg args[] = {
        {"logits", a->logits, total, SF_ROLE_FLOAT, true, "[rows, cols]"},
        {"targets", a->targets, total, SF_ROLE_TARGET, true, "[rows, cols]"},
        {"dloss_in", a->dloss_in, loss_count, loss_role, false, loss_shape},
        {"loss", a->loss, loss_count, loss_role, false, loss_shape},
        {"dlogits", a->dlogits, total, SF_ROLE_FLOAT, false, "[rows, cols]"},
    };
    sigfuse_dtype dtype;
    TRY(sf_check_buffers(ctx, op, args, COUNT_OF(args), &dtype));
    TRY(sf_check_overlaps(ctx, op, args, COUNT_OF(args), 3, true));   /* 3 inputs, then loss, dlogits */
    /* alpha < 0 means "no alpha term"; NaN is rejected. */
    if (!(a->alpha <= 1.0f))
        return sf_fail(ctx, SIGFUSE_ERR_INVALID_OPTION, "%s: alpha = %g must be in [0, 1] (or negative: no alpha term)",
                       op, (double)a->alpha);
    if (!(a->gamma >= 0.0f) || !isfinite(a->gamma))
        return sf_fail(ctx, SIGFUSE_ERR_INVALID_OPTION, "%s: gamma = %g must be finite and >= 0", op, (double)a->gamma);
    TRY(check_finite(ctx, op, "grad_scale", a->grad_scale));
    TRY(need_output(ctx, op, a->loss || a->dlogits, "loss, dlogits"));
    if (!loss_has_work(total, a->reduction, a->loss))
        return SIGFUSE_SUCCESS;
    return ctx->ops->focal ? ctx->ops->focal(ctx, a) : unsupported(ctx, op);
}

/* ---- Multi-label heads ----------------------------------------------------------------- */

void sigfuse_head_predict_args_init(sigfuse_head_predict_args *args)
{
    if (!args)
        return;
    memset(args, 0, sizeof *args);
    args->threshold = 0.5f;
}

void sigfuse_head_train_args_init(sigfuse_head_train_args *args)
{
    if (!args)
        return;
    memset(args, 0, sizeof *args);
    args->reduction = SIGFUSE_REDUCTION_MEAN;
    args->grad_scale = 1.0f;
}

/* The workspace's size as an sf_arg count (bytes), clamped to what int64 holds. */
static int64_t workspace_count(size_t bytes) { return bytes > (size_t)INT64_MAX ? INT64_MAX : (int64_t)bytes; }

typedef struct head_counts {
    int64_t nd, ld, nl;
} head_counts;

static sigfuse_status head_sizes(sigfuse_ctx *ctx, const char *op, int64_t n, int64_t d, int64_t l, head_counts *c)
{
    TRY(sf_check_size(ctx, op, "n", n));
    TRY(sf_check_size(ctx, op, "d", d));
    TRY(sf_check_size(ctx, op, "l", l));
    TRY(sf_check_product(ctx, op, "n * d", n, d, &c->nd));
    TRY(sf_check_product(ctx, op, "l * d", l, d, &c->ld));
    TRY(sf_check_product(ctx, op, "n * l", n, l, &c->nl));
    return SIGFUSE_SUCCESS;
}

/* The buffers of a head op, inputs first (HEAD_*_INPUTS of them), then outputs, then the
 * workspace (which only the ops themselves check, after their size queries' checks). */
enum { HEAD_PREDICT_INPUTS = 3, HEAD_PREDICT_ARGS = 7, HEAD_TRAIN_INPUTS = 5, HEAD_TRAIN_ARGS = 10 };

static void head_predict_buffers(const sigfuse_head_predict_args *a, const head_counts *c, sf_arg *args)
{
    const sf_arg list[HEAD_PREDICT_ARGS] = {
        {"x", a->x, c->nd, SF_ROLE_FLOAT, true, NULL},          {"w", a->w, c->ld, SF_ROLE_FLOAT, true, NULL},
        {"bias", a->bias, a->l, SF_ROLE_FLOAT, false, NULL},    {"logits", a->logits, c->nl, SF_ROLE_FLOAT, false, NULL},
        {"probs", a->probs, c->nl, SF_ROLE_FLOAT, false, NULL}, {"labels", a->labels, c->nl, SF_ROLE_LABEL, false, NULL},
        {"workspace", a->workspace, workspace_count(a->workspace_bytes), SF_ROLE_BYTES, false, NULL},
    };
    memcpy(args, list, sizeof list);
}

static void head_train_buffers(const sigfuse_head_train_args *a, const head_counts *c, sf_arg *args)
{
    const sf_arg list[HEAD_TRAIN_ARGS] = {
        {"x", a->x, c->nd, SF_ROLE_FLOAT, true, NULL},
        {"w", a->w, c->ld, SF_ROLE_FLOAT, true, NULL},
        {"bias", a->bias, a->l, SF_ROLE_FLOAT, false, NULL},
        {"targets", a->targets, c->nl, SF_ROLE_TARGET, true, NULL},
        {"pos_weight", a->pos_weight, a->l, SF_ROLE_FLOAT, false, NULL},
        {"loss", a->loss, 1, SF_ROLE_SCALAR, false, NULL},
        {"dx", a->dx, c->nd, SF_ROLE_FLOAT, false, NULL},
        {"dw", a->dw, c->ld, SF_ROLE_FLOAT, false, NULL},
        {"dbias", a->dbias, a->l, SF_ROLE_FLOAT, false, NULL},
        {"workspace", a->workspace, workspace_count(a->workspace_bytes), SF_ROLE_BYTES, false, NULL},
    };
    memcpy(args, list, sizeof list);
}

/* Everything but the workspace; shared by the op and its size query. */
static sigfuse_status check_head_predict(sigfuse_ctx *ctx, const char *op, const sigfuse_head_predict_args *a)
{
    if (!a)
        return sf_fail(ctx, SIGFUSE_ERR_NULL_ARGUMENT, "%s: args is NULL", op);
    head_counts c;
    TRY(head_sizes(ctx, op, a->n, a->d, a->l, &c));
    sf_arg args[HEAD_PREDICT_ARGS];
    head_predict_buffers(a, &c, args);
    sigfuse_dtype dtype;
    TRY(sf_check_buffers(ctx, op, args, HEAD_PREDICT_ARGS - 1, &dtype));
    TRY(sf_check_range(ctx, op, "threshold", a->threshold, 0.0, 1.0));
    return need_output(ctx, op, a->logits || a->probs || a->labels, "logits, probs, labels");
}

static sigfuse_status check_head_train(sigfuse_ctx *ctx, const char *op, const sigfuse_head_train_args *a)
{
    if (!a)
        return sf_fail(ctx, SIGFUSE_ERR_NULL_ARGUMENT, "%s: args is NULL", op);
    head_counts c;
    TRY(head_sizes(ctx, op, a->n, a->d, a->l, &c));
    TRY(check_reduction(ctx, op, a->reduction, false));
    sf_arg args[HEAD_TRAIN_ARGS];
    head_train_buffers(a, &c, args);
    sigfuse_dtype dtype;
    TRY(sf_check_buffers(ctx, op, args, HEAD_TRAIN_ARGS - 1, &dtype));
    TRY(check_finite(ctx, op, "grad_scale", a->grad_scale));
    return need_output(ctx, op, a->loss || a->dx || a->dw || a->dbias, "loss, dx, dw, dbias");
}

/* Rows per chunk for the op itself and its size query at chunk_rows = 1: never below 1 unless n is 0. */
static int64_t clamp_chunk(int64_t chunk_rows, int64_t n)
{
    if (chunk_rows <= 0 || chunk_rows > n)
        chunk_rows = n;
    return chunk_rows < 1 && n > 0 ? 1 : chunk_rows;
}

/* A backend's workspace size for chunks of c rows, over either head's args. */
typedef size_t (*workspace_fn)(sigfuse_ctx *ctx, const void *args, int64_t chunk_rows);
static size_t predict_workspace(sigfuse_ctx *ctx, const void *a, int64_t c)
{
    return ctx->ops->head_predict_workspace(ctx, (const sigfuse_head_predict_args *)a, c);
}
static size_t train_workspace(sigfuse_ctx *ctx, const void *a, int64_t c)
{
    return ctx->ops->head_train_workspace(ctx, (const sigfuse_head_train_args *)a, c);
}

/* The rows per chunk a size query means. chunk_rows >= 1: that many (n at most). The
 * default, chunk_rows <= 0: the largest chunk whose workspace is at most the N x L logits
 * an unfused head (Linear, then the loss) holds in the storage dtype, so that the default
 * never costs more memory than the ops it replaces; one row where even one row needs more
 * (the fixed f32 parts of a 16-bit head with few rows). The size grows with the chunk,
 * so a bisection finds it. */
static int64_t query_chunk(sigfuse_ctx *ctx, workspace_fn ws, const void *a, int64_t chunk_rows, int64_t n,
                           int64_t l, sigfuse_dtype dtype)
{
    if (chunk_rows > 0 || n == 0)
        return clamp_chunk(chunk_rows, n);
    const size_t elem = sigfuse_dtype_size(dtype);
    const size_t unfused = (uint64_t)n > SIZE_MAX / elem / (uint64_t)(l > 0 ? l : 1) ? SIZE_MAX
                                                                                      : (size_t)n * (size_t)l * elem;
    int64_t lo = 1, hi = n;
    while (lo < hi) {
        const int64_t mid = lo + (hi - lo + 1) / 2;
        if (ws(ctx, a, mid) <= unfused)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

/* A workspace, whenever one is given (even where none is needed), is checked like every
 * other buffer: present when needed, in the context's memory, of a known dtype, not NULL
 * when it spans bytes, aligned, and at least the smallest size. */
static sigfuse_status check_workspace(sigfuse_ctx *ctx, const char *op, const sigfuse_buffer *ws, size_t ws_bytes,
                                      size_t min_bytes)
{
    if (!ws && min_bytes == 0)
        return SIGFUSE_SUCCESS;
    if (ws_bytes < min_bytes)
        return sf_fail(ctx, SIGFUSE_ERR_INSUFFICIENT_WORKSPACE,
                       "%s: workspace_bytes = %zu but at least %zu are needed (one row per chunk)", op, ws_bytes,
                       min_bytes);
    const sf_arg arg = {"workspace", ws, workspace_count(ws_bytes), SF_ROLE_BYTES, true, NULL};
    sigfuse_dtype unused;
    TRY(sf_check_buffers(ctx, op, &arg, 1, &unused));
    uintptr_t address = ws->memory == SIGFUSE_MEMORY_OPENCL ? (uintptr_t)ws->offset
                                                           : (uintptr_t)ws->ptr + ws->offset;
    if (address % SIGFUSE_WORKSPACE_ALIGNMENT != 0)
        return sf_fail(ctx, SIGFUSE_ERR_INVALID_ARGUMENT, "%s: workspace is not aligned to %d bytes", op,
                       SIGFUSE_WORKSPACE_ALIGNMENT);
    return SIGFUSE_SUCCESS;
}

sigfuse_status sigfuse_head_predict_workspace_size(sigfuse_ctx *ctx, const sigfuse_head_predict_args *a,
                                                   int64_t chunk_rows, size_t *bytes)
{
    static const char op[] = "head_predict_workspace_size";
    TRY(begin(ctx));
    if (!bytes)
        return sf_fail(ctx, SIGFUSE_ERR_NULL_ARGUMENT, "%s: bytes is NULL", op);
    TRY(check_head_predict(ctx, op, a));
    if (!ctx->ops->head_predict_workspace)
        return unsupported(ctx, op);
    size_t need = ctx->ops->head_predict_workspace(
        ctx, a, query_chunk(ctx, predict_workspace, a, chunk_rows, a->n, a->l, a->x->dtype));
    if (need == SIZE_MAX)   /* the backend's way of saying the byte count overflows */
        return sf_fail(ctx, SIGFUSE_ERR_INVALID_SIZE, "%s: the workspace size overflows size_t", op);
    *bytes = need;
    return SIGFUSE_SUCCESS;
}

sigfuse_status sigfuse_head_train_workspace_size(sigfuse_ctx *ctx, const sigfuse_head_train_args *a,
                                                 int64_t chunk_rows, size_t *bytes)
{
    static const char op[] = "head_train_workspace_size";
    TRY(begin(ctx));
    if (!bytes)
        return sf_fail(ctx, SIGFUSE_ERR_NULL_ARGUMENT, "%s: bytes is NULL", op);
    TRY(check_head_train(ctx, op, a));
    if (!ctx->ops->head_train_workspace)
        return unsupported(ctx, op);
    size_t need = ctx->ops->head_train_workspace(
        ctx, a, query_chunk(ctx, train_workspace, a, chunk_rows, a->n, a->l, a->x->dtype));
    if (need == SIZE_MAX)   /* the backend's way of saying the byte count overflows */
        return sf_fail(ctx, SIGFUSE_ERR_INVALID_SIZE, "%s: the workspace size overflows size_t", op);
    *bytes = need;
    return SIGFUSE_SUCCESS;
}

sigfuse_status sigfuse_head_predict(sigfuse_ctx *ctx, const sigfuse_head_predict_args *a)
{
    static const char op[] = "head_predict";
    TRY(begin(ctx));
    TRY(check_head_predict(ctx, op, a));
    if (!ctx->ops->head_predict || !ctx->ops->head_predict_workspace)
        return unsupported(ctx, op);
    size_t min_bytes = ctx->ops->head_predict_workspace(ctx, a, clamp_chunk(1, a->n));
    TRY(check_workspace(ctx, op, a->workspace, a->workspace_bytes, min_bytes));
    /* The head reads X and W while it writes its outputs and workspace chunk by chunk: no
     * output (nor the workspace) may overlap an input or another output, not even exactly. */
    head_counts c;
    TRY(head_sizes(ctx, op, a->n, a->d, a->l, &c));
    sf_arg args[HEAD_PREDICT_ARGS];
    head_predict_buffers(a, &c, args);
    TRY(sf_check_overlaps(ctx, op, args, HEAD_PREDICT_ARGS, HEAD_PREDICT_INPUTS, false));
    if (a->n == 0 || a->l == 0)
        return SIGFUSE_SUCCESS;
    return ctx->ops->head_predict(ctx, a);
}

sigfuse_status sigfuse_head_train_step(sigfuse_ctx *ctx, const sigfuse_head_train_args *a)
{
    static const char op[] = "head_train_step";
    TRY(begin(ctx));
    TRY(check_head_train(ctx, op, a));
    if (!ctx->ops->head_train || !ctx->ops->head_train_workspace)
        return unsupported(ctx, op);
    size_t min_bytes = ctx->ops->head_train_workspace(ctx, a, clamp_chunk(1, a->n));
    TRY(check_workspace(ctx, op, a->workspace, a->workspace_bytes, min_bytes));
    head_counts c;   /* as for head_predict: nothing written may overlap anything else */
    TRY(head_sizes(ctx, op, a->n, a->d, a->l, &c));
    sf_arg args[HEAD_TRAIN_ARGS];
    head_train_buffers(a, &c, args);
    TRY(sf_check_overlaps(ctx, op, args, HEAD_TRAIN_ARGS, HEAD_TRAIN_INPUTS, false));
    return ctx->ops->head_train(ctx, a);
}
