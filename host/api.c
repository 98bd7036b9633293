/* SPDX-License-Identifier: MIT */
/*
 * The public ops: each describes its sizes, options and buffers to the shared checks
 * (check.c), then hands the checked arguments to the context's backend. Nothing is
 * written before every check has passed.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"

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

/* The value as read from the args (any int the caller's enum held), compared before any
 * conversion back to the enum. */
static sigfuse_status check_reduction(sigfuse_ctx *ctx, const char *op, double r, bool allow_none)
{
    if (r == SIGFUSE_REDUCTION_SUM || r == SIGFUSE_REDUCTION_MEAN || (allow_none && r == SIGFUSE_REDUCTION_NONE))
        return SIGFUSE_SUCCESS;
    return sf_fail(ctx, SIGFUSE_ERR_INVALID_OPTION, "%s: reduction has the unknown or unaccepted value %.0f", op, r);
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

/* ---- Checks every op shares, driven by the catalogue --------------------------------------- */

static sigfuse_status check_option(sigfuse_ctx *ctx, const char *op, const sf_opt_info *o, double value)
{
    const float v = (float)value;
    switch (o->rule) {
    case SF_RULE_FINITE: return check_finite(ctx, op, o->name, v);
    case SF_RULE_UNIT: return sf_check_range(ctx, op, o->name, v, 0.0, 1.0);
    case SF_RULE_ALPHA:
        if (!(v <= 1.0f))   /* negative means "no alpha term"; NaN is rejected */
            return sf_fail(ctx, SIGFUSE_ERR_INVALID_OPTION, "%s: %s = %g must be in [0, 1] (or negative: no %s term)",
                           op, o->name, (double)v, o->name);
        return SIGFUSE_SUCCESS;
    case SF_RULE_NONNEG:
        if (!(v >= 0.0f) || !isfinite(v))
            return sf_fail(ctx, SIGFUSE_ERR_INVALID_OPTION, "%s: %s = %g must be finite and >= 0", op, o->name,
                           (double)v);
        return SIGFUSE_SUCCESS;
    case SF_RULE_REDUCTION:
    case SF_RULE_REDUCED: return check_reduction(ctx, op, value, o->rule == SF_RULE_REDUCTION);
    }
    return SIGFUSE_SUCCESS;
}

/* "a, b" or "a and b": the names of the op's ANY buffers of one direction. */
static bool any_names(const sf_op_info *info, bool input, const char *sep, char *out, size_t size)
{
    out[0] = '\0';
    bool found = false;
    for (int i = 0; i < info->n_bufs; i++) {
        const sf_buf_info *b = &info->bufs[i];
        if (b->presence != SF_ANY || b->input != input)
            continue;
        size_t len = strlen(out);
        snprintf(out + len, size - len, "%s%s", found ? sep : "", b->name);
        found = true;
    }
    return found;
}

static bool any_present(const sf_op_info *info, const sf_op_values *v, bool input)
{
    for (int i = 0; i < info->n_bufs; i++)
        if (info->bufs[i].presence == SF_ANY && info->bufs[i].input == input && v->bufs[i])
            return true;
    return false;
}

/* The index of the op's buffer or option of that name, -1 if it has none. */
static int buf_index(sf_op op, const char *name)
{
    for (int i = 0; i < sf_op_infos[op].n_bufs; i++)
        if (strcmp(sf_op_infos[op].bufs[i].name, name) == 0)
            return i;
    return -1;
}

static int opt_index(sf_op op, const char *name)
{
    for (int i = 0; i < sf_op_infos[op].n_opts; i++)
        if (strcmp(sf_op_infos[op].opts[i].name, name) == 0)
            return i;
    return -1;
}

static int64_t size_value(sf_op op, const sf_op_values *v, const char *name)
{
    for (int i = 0; i < sf_op_infos[op].n_sizes; i++)
        if (strcmp(sf_op_infos[op].sizes[i], name) == 0)
            return v->sizes[i];
    return 0;
}

static const sigfuse_buffer *buf_value(sf_op op, const sf_op_values *v, const char *name)
{
    const int i = buf_index(op, name);
    return i >= 0 ? v->bufs[i] : NULL;
}

/* The train step's targets: dense or CSR (both offsets and ids, of one dtype), not both;
 * the shard inside its label space. */
static sigfuse_status check_head_targets(sigfuse_ctx *ctx, sf_op op, const sf_op_values *v)
{
    const char *name = sf_op_name(op);
    const sigfuse_buffer *dense = buf_value(op, v, "targets"), *off = buf_value(op, v, "pos_offsets"),
                         *ids = buf_value(op, v, "pos_labels");
    if (!dense && !off && !ids)
        return sf_fail(ctx, SIGFUSE_ERR_NULL_ARGUMENT, "%s: no targets (give targets, or pos_offsets and pos_labels)",
                       name);
    if (dense && (off || ids))
        return sf_fail(ctx, SIGFUSE_ERR_INVALID_ARGUMENT,
                       "%s: targets and %s are both given (dense or sparse positives, not both)", name,
                       off ? "pos_offsets" : "pos_labels");
    if (!dense && (!off || !ids))
        return sf_fail(ctx, SIGFUSE_ERR_NULL_ARGUMENT, "%s: %s is absent (sparse positives need pos_offsets and pos_labels)",
                       name, off ? "pos_labels" : "pos_offsets");
    if (off && ids && off->dtype != ids->dtype)
        return sf_fail(ctx, SIGFUSE_ERR_INVALID_DTYPE, "%s: pos_labels has dtype %s; it must be pos_offsets' (%s)", name,
                       sigfuse_dtype_name(ids->dtype), sigfuse_dtype_name(off->dtype));
    const int64_t nnz = size_value(op, v, "nnz"), l = size_value(op, v, "l");
    const int64_t offset = size_value(op, v, "label_offset"), total = size_value(op, v, "total_labels");
    if (!ids && nnz != 0)
        return sf_fail(ctx, SIGFUSE_ERR_INVALID_SIZE, "%s: nnz = %lld without pos_labels", name, (long long)nnz);
    if (total == 0 && offset != 0)
        return sf_fail(ctx, SIGFUSE_ERR_INVALID_SIZE,
                       "%s: label_offset = %lld needs total_labels (0 means this head is the whole label space)", name,
                       (long long)offset);
    if (total != 0 && (offset > total || l > total - offset))
        return sf_fail(ctx, SIGFUSE_ERR_INVALID_SIZE,
                       "%s: the shard [label_offset, label_offset + l) = [%lld, %lld + %lld) runs past total_labels = %lld",
                       name, (long long)offset, (long long)offset, (long long)l, (long long)total);
    if (ids && ids->dtype == SIGFUSE_I32 && (nnz > INT32_MAX || (total ? total : l) > (int64_t)INT32_MAX + 1))
        return sf_fail(ctx, SIGFUSE_ERR_INVALID_DTYPE, "%s: pos_labels: i32 cannot hold nnz = %lld or %lld label ids",
                       name, (long long)nnz, (long long)(total ? total : l));
    return SIGFUSE_SUCCESS;
}

/* Top-k ids: one index dtype throughout, wide enough for the largest id. */
static sigfuse_status check_topk_ids(sigfuse_ctx *ctx, sf_op op, const sf_op_values *v)
{
    const char *name = sf_op_name(op);
    const sigfuse_buffer *out = buf_value(op, v, "top_labels");
    if (op == SF_OP_topk_merge) {
        const sigfuse_buffer *in = buf_value(op, v, "in_labels");
        if (in->dtype != out->dtype)
            return sf_fail(ctx, SIGFUSE_ERR_INVALID_DTYPE, "%s: top_labels has dtype %s; it must be in_labels' (%s)",
                           name, sigfuse_dtype_name(out->dtype), sigfuse_dtype_name(in->dtype));
        return SIGFUSE_SUCCESS;
    }
    const int64_t offset = size_value(op, v, "label_offset"), l = size_value(op, v, "l");
    if (l > INT64_MAX - offset)
        return sf_fail(ctx, SIGFUSE_ERR_INVALID_SIZE, "%s: label_offset + l = %lld + %lld overflows", name,
                       (long long)offset, (long long)l);
    if (out->dtype == SIGFUSE_I32 && offset + l > (int64_t)INT32_MAX + 1)
        return sf_fail(ctx, SIGFUSE_ERR_INVALID_DTYPE, "%s: top_labels: i32 cannot hold ids up to %lld", name,
                       (long long)(offset + l - 1));
    return SIGFUSE_SUCCESS;
}

/* Rules that tie two arguments together, beyond what the catalogue states per argument. */
static sigfuse_status check_pairs(sigfuse_ctx *ctx, sf_op op, const sf_op_values *v)
{
    if (op == SF_OP_head_train_step)
        SF_TRY(check_head_targets(ctx, op, v));
    if (op == SF_OP_head_topk || op == SF_OP_topk_merge)
        SF_TRY(check_topk_ids(ctx, op, v));
    /* u8 targets are hard labels: smoothing them would need a float. */
    const int targets = buf_index(op, "targets"), smoothing = opt_index(op, "label_smoothing");
    if (targets >= 0 && smoothing >= 0 && v->bufs[targets] && v->bufs[targets]->dtype == SIGFUSE_U8 &&
        v->opts[smoothing] > 0.0)
        return sf_fail(ctx, SIGFUSE_ERR_INVALID_DTYPE, "%s: targets: dtype u8 is not allowed with label_smoothing > 0",
                       sf_op_name(op));
    return SIGFUSE_SUCCESS;
}

/* The checked arguments of one call: its values, counts and buffer list (sf_arg order is
 * the catalogue's, inputs first). */
typedef struct checked {
    sf_op_values v;
    int64_t counts[SF_COUNT_KINDS];
    sf_arg args[SF_MAX_BUFS + 1];   /* + the workspace */
    int n_args;
    sigfuse_dtype dtype;
} checked;

static sigfuse_status check_args(sigfuse_ctx *ctx, sf_op op, const char *name, const sf_op_values *v,
                                 checked *c)
{
    const sf_op_info *info = &sf_op_infos[op];
    c->v = *v;
    for (int i = 0; i < info->n_sizes; i++)
        SF_TRY(sf_check_size(ctx, name, info->sizes[i], v->sizes[i]));
    for (int i = 0; i < info->n_opts; i++)   /* the reduction first: counts depend on it */
        if (info->opts[i].reduction)
            SF_TRY(check_option(ctx, name, &info->opts[i], v->opts[i]));
    sf_overflow of;
    if (!sf_op_counts(op, v, c->counts, &of))
        return sf_fail(ctx, SIGFUSE_ERR_INVALID_SIZE, "%s: %s = %lld x %lld overflows", name, of.what,
                       (long long)of.a, (long long)of.b);
    for (int i = 0; i < info->n_bufs; i++) {
        const sf_buf_info *b = &info->bufs[i];
        c->args[i] = (sf_arg){b->name, v->bufs[i], c->counts[b->count], sf_op_buf_role(op, v, i),
                              b->presence == SF_REQUIRED, sf_op_buf_shape(op, v, i)};
    }
    c->n_args = info->n_bufs;
    SF_TRY(sf_check_buffers(ctx, name, c->args, c->n_args, &c->dtype));
    /* Heads check overlaps after their workspace, which takes part in them. */
    if (!info->workspace)
        SF_TRY(sf_check_overlaps(ctx, name, c->args, c->n_args, info->n_inputs, true));
    char names[256];
    if (any_names(info, true, " and ", names, sizeof names) && !any_present(info, v, true))
        return sf_fail(ctx, SIGFUSE_ERR_NULL_ARGUMENT, "%s: %s are both absent (give at least one)", name, names);
    for (int i = 0; i < info->n_opts; i++)
        if (!info->opts[i].reduction)
            SF_TRY(check_option(ctx, name, &info->opts[i], v->opts[i]));
    SF_TRY(check_pairs(ctx, op, v));
    if (any_names(info, false, ", ", names, sizeof names))
        SF_TRY(need_output(ctx, name, any_present(info, v, false), names));
    return SIGFUSE_SUCCESS;
}

/* An op has work when an output it was given has elements: a reduced loss is written
 * even for an empty tensor, a bias gradient (zeros) even for an empty batch. */
static bool has_work(sf_op op, const checked *c)
{
    const sf_op_info *info = &sf_op_infos[op];
    for (int i = info->n_inputs; i < info->n_bufs; i++)
        if (c->v.bufs[i] && c->counts[info->bufs[i].count] > 0)
            return true;
    return false;
}

/* ---- Dispatch: an elementwise op goes to its family's entry, every other op to its own --- */

static sigfuse_status dispatch_ew(sigfuse_ctx *ctx, sf_op op, const checked *c,
                                  sigfuse_status (*family)(sigfuse_ctx *, const sf_ew_call *))
{
    if (!family)
        return unsupported(ctx, sf_op_name(op));
    const sf_op_info *info = &sf_op_infos[op];
    const int beta = opt_index(op, "beta");
    sf_ew_call call = {op, c->v.sizes[0], beta >= 0 ? (float)c->v.opts[beta] : 1.0f, {NULL}, {NULL}};
    for (int i = 0; i < info->n_bufs; i++) {
        if (i < info->n_inputs)
            call.in[i] = c->v.bufs[i];
        else
            call.out[i - info->n_inputs] = c->v.bufs[i];
    }
    return family(ctx, &call);
}

#define DISPATCH_EW_(name, family) \
    case SF_OP_##name: return dispatch_ew(ctx, op, c, ctx->ops->family);
#define DISPATCH_STRUCT_(name, args) \
    case SF_OP_##name: return ctx->ops->name ? ctx->ops->name(ctx, (const args *)a) : unsupported(ctx, #name);
#define DISPATCH_(name, family, shape, args) DISPATCH_##shape(name, family, args)
#define DISPATCH_EW(name, family, args) DISPATCH_EW_(name, family)
#define DISPATCH_LSTM(name, family, args) DISPATCH_STRUCT_(name, args)
#define DISPATCH_GRU(name, family, args) DISPATCH_STRUCT_(name, args)
#define DISPATCH_LOSS(name, family, args) DISPATCH_STRUCT_(name, args)
#define DISPATCH_HEAD(name, family, args) DISPATCH_STRUCT_(name, args)
#define DISPATCH_MERGE(name, family, args) DISPATCH_STRUCT_(name, args)

static sigfuse_status dispatch(sigfuse_ctx *ctx, sf_op op, const void *a, const checked *c)
{
    switch (op) {
        SF_CATALOG(DISPATCH_)
    case SF_OP_COUNT: break;
    }
    return unsupported(ctx, sf_op_name(op));
}

/* Every op but the heads: check, skip when there is nothing to do, dispatch. */
static sigfuse_status run(sigfuse_ctx *ctx, sf_op op, const void *a)
{
    SF_TRY(begin(ctx));
    const char *name = sf_op_name(op);
    if (!a)
        return sf_fail(ctx, SIGFUSE_ERR_NULL_ARGUMENT, "%s: args is NULL", name);
    sf_op_values v;
    sf_op_get(op, a, &v);
    checked c;
    SF_TRY(check_args(ctx, op, name, &v, &c));
    if (!has_work(op, &c))
        return SIGFUSE_SUCCESS;
    return dispatch(ctx, op, a, &c);
}

/* ---- The public calls, one per catalogue entry --------------------------------------------
 * An elementwise call takes its arguments loose, in the catalogue's order, and gathers
 * them into an sf_ew_args; the others hand their args struct on. The heads' calls, which
 * also take a workspace, are below. */

#define SKIP_WS_(f, bytes)
#define PARAM_SIZE_(f) , int64_t f
#define PARAM_OPT_(f, type, fallback, rule) , type f
#define PARAM_BUF_(f, role, dir, count, shape, presence) , const sigfuse_buffer *f
#define GATHER_SIZE_(f) args_.f = f;
#define GATHER_OPT_(f, type, fallback, rule) args_.f = f;
#define GATHER_BUF_(f, role, dir, count, shape, presence) args_.f = f;

#define PUBLIC_EW(name, args)                                                                                          \
    sigfuse_status sigfuse_##name(sigfuse_ctx *ctx SF_FIELDS_##name(PARAM_SIZE_, PARAM_OPT_, PARAM_BUF_, SKIP_WS_))   \
    {                                                                                                                  \
        sf_ew_args args_ = {0};                                                                                        \
        SF_FIELDS_##name(GATHER_SIZE_, GATHER_OPT_, GATHER_BUF_, SKIP_WS_);                                            \
        return run(ctx, SF_OP_##name, &args_);                                                                         \
    }
#define PUBLIC_STRUCT(name, args)                                                                                      \
    sigfuse_status sigfuse_##name(sigfuse_ctx *ctx, const args *a) { return run(ctx, SF_OP_##name, a); }
#define PUBLIC_LSTM PUBLIC_STRUCT
#define PUBLIC_GRU PUBLIC_STRUCT
#define PUBLIC_LOSS PUBLIC_STRUCT
#define PUBLIC_HEAD(name, args) /* below */
#define PUBLIC_MERGE PUBLIC_STRUCT
#define PUBLIC_(name, family, shape, args) PUBLIC_##shape(name, args)

SF_CATALOG(PUBLIC_)

void sigfuse_bce_args_init(sigfuse_bce_args *args)
{
    if (args)
        sf_op_init(SF_OP_bce_with_logits, args);
}

void sigfuse_asymmetric_args_init(sigfuse_asymmetric_args *args)
{
    if (args)
        sf_op_init(SF_OP_asymmetric, args);
}

void sigfuse_bce_dice_args_init(sigfuse_bce_dice_args *args)
{
    if (args)
        sf_op_init(SF_OP_bce_dice, args);
}

void sigfuse_focal_args_init(sigfuse_focal_args *args)
{
    if (args)
        sf_op_init(SF_OP_sigmoid_focal, args);
}

/* ---- Multi-label heads ----------------------------------------------------------------- */

void sigfuse_head_predict_args_init(sigfuse_head_predict_args *args)
{
    if (args)
        sf_op_init(SF_OP_head_predict, args);
}

void sigfuse_head_train_args_init(sigfuse_head_train_args *args)
{
    if (args)
        sf_op_init(SF_OP_head_train_step, args);
}

void sigfuse_head_topk_args_init(sigfuse_head_topk_args *args)
{
    if (args)
        sf_op_init(SF_OP_head_topk, args);
}

void sigfuse_topk_merge_args_init(sigfuse_topk_merge_args *args)
{
    if (args)
        sf_op_init(SF_OP_topk_merge, args);
}

/* The workspace's size as an sf_arg count (bytes), clamped to what int64 holds. */
static int64_t workspace_count(size_t bytes) { return bytes > (size_t)INT64_MAX ? INT64_MAX : (int64_t)bytes; }

/* Everything but the workspace; shared by the op and its size query (named `name`). */
static sigfuse_status check_head(sigfuse_ctx *ctx, sf_op op, const char *name, const void *a, checked *c)
{
    if (!a)
        return sf_fail(ctx, SIGFUSE_ERR_NULL_ARGUMENT, "%s: args is NULL", name);
    sf_op_values v;
    sf_op_get(op, a, &v);
    return check_args(ctx, op, name, &v, c);
}

/* Rows per chunk for the op itself and its size query at chunk_rows = 1: never below 1 unless n is 0. */
static int64_t clamp_chunk(int64_t chunk_rows, int64_t n)
{
    if (chunk_rows <= 0 || chunk_rows > n)
        chunk_rows = n;
    return chunk_rows < 1 && n > 0 ? 1 : chunk_rows;
}

/* A backend's workspace size for chunks of c rows, over either head's args. */
static size_t workspace_of(sigfuse_ctx *ctx, sf_op op, const void *a, int64_t c)
{
    if (op == SF_OP_head_predict)
        return ctx->ops->head_predict_workspace(ctx, (const sigfuse_head_predict_args *)a, c);
    if (op == SF_OP_head_topk)
        return ctx->ops->head_topk_workspace(ctx, (const sigfuse_head_topk_args *)a, c);
    return ctx->ops->head_train_step_workspace(ctx, (const sigfuse_head_train_args *)a, c);
}

static bool has_workspace_query(sigfuse_ctx *ctx, sf_op op)
{
    if (op == SF_OP_head_predict)
        return ctx->ops->head_predict_workspace != NULL;
    if (op == SF_OP_head_topk)
        return ctx->ops->head_topk_workspace != NULL;
    return ctx->ops->head_train_step_workspace != NULL;
}

/* The backend's entry of a head. */
static bool has_head_entry(sigfuse_ctx *ctx, sf_op op)
{
    if (op == SF_OP_head_predict)
        return ctx->ops->head_predict != NULL;
    if (op == SF_OP_head_topk)
        return ctx->ops->head_topk != NULL;
    return ctx->ops->head_train_step != NULL;
}

/* The rows per chunk a size query means. chunk_rows >= 1: that many (n at most). The
 * default, chunk_rows <= 0: the largest chunk whose workspace is at most the N x L logits
 * an unfused head (Linear, then the loss) holds in the storage dtype, so that the default
 * never costs more memory than the ops it replaces. Where even one row needs more (parts
 * that do not grow with the chunk, such as a 16-bit head's f32 copies of W and dW on
 * OpenCL, or the reference's f64 dW: with L >> N they outweigh the logits), the bound is
 * those fixed parts plus the logits: one-row chunks would save at most a chunk's part and
 * turn every product into a matrix-vector one. The fixed parts are what one row needs
 * less a row's part (two rows' size less one row's). The size grows with the chunk, so
 * a bisection finds it. */
static int64_t query_chunk(sigfuse_ctx *ctx, sf_op op, const void *a, int64_t chunk_rows, const checked *c)
{
    const int64_t n = c->v.sizes[0], l = c->v.sizes[2];
    if (chunk_rows > 0 || n == 0)
        return clamp_chunk(chunk_rows, n);
    const size_t elem = sigfuse_dtype_size(c->dtype);
    const size_t unfused = (uint64_t)n > SIZE_MAX / elem / (uint64_t)(l > 0 ? l : 1) ? SIZE_MAX
                                                                                      : (size_t)n * (size_t)l * elem;
    size_t bound = unfused;
    const size_t one = workspace_of(ctx, op, a, 1);
    if (one > unfused && n > 1) {
        const size_t two = workspace_of(ctx, op, a, 2);
        const size_t fixed = two - one < one ? one - (two - one) : 0;
        bound = fixed > SIZE_MAX - unfused ? SIZE_MAX : fixed + unfused;
    }
    int64_t lo = 1, hi = n;
    while (lo < hi) {
        const int64_t mid = lo + (hi - lo + 1) / 2;
        if (workspace_of(ctx, op, a, mid) <= bound)
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
    SF_TRY(sf_check_buffers(ctx, op, &arg, 1, &unused));
    uintptr_t address = ws->memory == SIGFUSE_MEMORY_OPENCL ? (uintptr_t)ws->offset
                                                           : (uintptr_t)ws->ptr + ws->offset;
    if (address % SIGFUSE_WORKSPACE_ALIGNMENT != 0)
        return sf_fail(ctx, SIGFUSE_ERR_INVALID_ARGUMENT, "%s: workspace is not aligned to %d bytes", op,
                       SIGFUSE_WORKSPACE_ALIGNMENT);
    return SIGFUSE_SUCCESS;
}

static sigfuse_status workspace_size(sigfuse_ctx *ctx, sf_op op, const char *name, const void *a,
                                     int64_t chunk_rows, size_t *bytes)
{
    SF_TRY(begin(ctx));
    if (!bytes)
        return sf_fail(ctx, SIGFUSE_ERR_NULL_ARGUMENT, "%s: bytes is NULL", name);
    checked c;
    SF_TRY(check_head(ctx, op, name, a, &c));
    if (!has_workspace_query(ctx, op))
        return unsupported(ctx, name);
    size_t need = workspace_of(ctx, op, a, query_chunk(ctx, op, a, chunk_rows, &c));
    if (need == SIZE_MAX)   /* the backend's way of saying the byte count overflows */
        return sf_fail(ctx, SIGFUSE_ERR_INVALID_SIZE, "%s: the workspace size overflows size_t", name);
    *bytes = need;
    return SIGFUSE_SUCCESS;
}

sigfuse_status sigfuse_head_predict_workspace_size(sigfuse_ctx *ctx, const sigfuse_head_predict_args *a,
                                                   int64_t chunk_rows, size_t *bytes)
{
    return workspace_size(ctx, SF_OP_head_predict, "head_predict_workspace_size", a, chunk_rows, bytes);
}

sigfuse_status sigfuse_head_train_workspace_size(sigfuse_ctx *ctx, const sigfuse_head_train_args *a,
                                                 int64_t chunk_rows, size_t *bytes)
{
    return workspace_size(ctx, SF_OP_head_train_step, "head_train_workspace_size", a, chunk_rows, bytes);
}

/* A head reads X and W while it writes its outputs and workspace chunk by chunk: no
 * output (nor the workspace) may overlap an input or another output, not even exactly. */
static sigfuse_status run_head(sigfuse_ctx *ctx, sf_op op, const void *a)
{
    SF_TRY(begin(ctx));
    const char *name = sf_op_name(op);
    checked c;
    SF_TRY(check_head(ctx, op, name, a, &c));
    if (!has_head_entry(ctx, op) || !has_workspace_query(ctx, op))
        return unsupported(ctx, name);
    const size_t min_bytes = workspace_of(ctx, op, a, clamp_chunk(1, c.v.sizes[0]));
    SF_TRY(check_workspace(ctx, name, c.v.workspace, c.v.workspace_bytes, min_bytes));
    c.args[c.n_args++] = (sf_arg){"workspace", c.v.workspace, workspace_count(c.v.workspace_bytes), SF_ROLE_BYTES,
                                  false, NULL};
    SF_TRY(sf_check_overlaps(ctx, name, c.args, c.n_args, sf_op_infos[op].n_inputs, false));
    /* The train step runs even without outputs of any size: its loss is always one scalar. */
    if (op != SF_OP_head_train_step && !has_work(op, &c))
        return SIGFUSE_SUCCESS;
    return dispatch(ctx, op, a, &c);
}

sigfuse_status sigfuse_head_predict(sigfuse_ctx *ctx, const sigfuse_head_predict_args *a)
{
    return run_head(ctx, SF_OP_head_predict, a);
}

sigfuse_status sigfuse_head_train_step(sigfuse_ctx *ctx, const sigfuse_head_train_args *a)
{
    return run_head(ctx, SF_OP_head_train_step, a);
}

sigfuse_status sigfuse_head_topk_workspace_size(sigfuse_ctx *ctx, const sigfuse_head_topk_args *a, int64_t chunk_rows,
                                                size_t *bytes)
{
    return workspace_size(ctx, SF_OP_head_topk, "head_topk_workspace_size", a, chunk_rows, bytes);
}

sigfuse_status sigfuse_head_topk(sigfuse_ctx *ctx, const sigfuse_head_topk_args *a)
{
    return run_head(ctx, SF_OP_head_topk, a);
}
