/* SPDX-License-Identifier: MIT */
/*
 * The op catalogue (host/sf_catalog.h) against itself and against the library: every op
 * it lists is called through sf_op_call on the reference with small sizes, first with
 * every buffer it has (which must succeed and write every output), then broken one
 * argument at a time as the catalogue says it may not be: each required buffer absent,
 * each size negative, each float option NaN, a float buffer of another dtype, every
 * "at least one of" group empty. Each must fail with its status and a message naming the
 * op and the argument, and write nothing. A new op in the catalogue is swept here with
 * no test of its own.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "sf_internal.h"
#include "testutil.h"

/* One call of an op with every buffer allocated, in f32 on the host. */
typedef struct call {
    sf_op op;
    const sf_op_info *info;
    sf_op_values v;
    tu_buf bufs[SF_MAX_BUFS];
    tu_buf ws;
    bool has_ws;
} call;

static void sizes_for(sf_shape shape, int64_t *s)
{
    switch (shape) {
    case SF_SHAPE_EW: s[0] = 7; break;
    case SF_SHAPE_LSTM:
    case SF_SHAPE_GRU: s[0] = 3, s[1] = 5; break;
    case SF_SHAPE_LOSS: s[0] = 3, s[1] = 5; break;
    case SF_SHAPE_HEAD: s[0] = 3, s[1] = 4, s[2] = 5; break;
    case SF_SHAPE_MERGE: s[0] = 3, s[1] = 4, s[2] = 2; break;
    }
}

static sigfuse_ctx *cpu(void)
{
    sigfuse_ctx *ctx = NULL;
    cr_assert_eq(sigfuse_ctx_create(&ctx, SIGFUSE_BACKEND_CPU), SIGFUSE_SUCCESS);
    return ctx;
}

static void call_make(call *c, sf_op op, sigfuse_ctx *ctx)
{
    memset(c, 0, sizeof *c);
    c->op = op;
    c->info = &sf_op_infos[op];
    sf_any_args defaults;
    sf_op_init(op, &defaults);
    sf_op_get(op, &defaults, &c->v);
    sizes_for(c->info->shape, c->v.sizes);
    for (int k = 0; k < c->info->n_sizes; k++)
        if (strcmp(c->info->sizes[k], "k") == 0)
            c->v.sizes[k] = 3;   /* top-k: 3 of the 5 labels */
    int64_t counts[SF_COUNT_KINDS];
    cr_assert(sf_op_counts(op, &c->v, counts, NULL), "%s: counts overflow", c->info->name);
    tu_rng rng = tu_rng_seed(0x5eed + (uint64_t)op, c->info->name);
    for (int i = 0; i < c->info->n_bufs; i++) {
        const sf_buf_info *b = &c->info->bufs[i];
        const sigfuse_dtype dt = b->role == SF_ROLE_MASK ? SIGFUSE_U8 : b->role == SF_ROLE_INDEX ? SIGFUSE_I64 : SIGFUSE_F32;
        c->bufs[i] = tu_alloc(dt, counts[b->count]);
        /* An optional index input is the sparse alternative to dense targets (a head's
         * CSR positives), which its own tests cover: left out here. */
        if (!b->input || (b->role == SF_ROLE_INDEX && b->presence == SF_OPTIONAL))
            continue;
        if (b->role == SF_ROLE_INDEX)   /* merge candidates: ids 0 .. 9 */
            for (int64_t e = 0; e < c->bufs[i].n; e++)
                tu_set(&c->bufs[i], e, (double)(e % 10));
        else if (strcmp(b->name, "targets") == 0 || b->role == SF_ROLE_MASK)
            tu_fill_binary(&c->bufs[i], &rng);
        else
            tu_fill_uniform(&c->bufs[i], &rng, -1.0, 1.0);
        c->v.bufs[i] = &c->bufs[i].desc;
    }
    for (int i = c->info->n_inputs; i < c->info->n_bufs; i++)
        c->v.bufs[i] = &c->bufs[i].desc;
    if (c->info->workspace) {
        sf_any_args a;
        sf_op_set(op, &a, &c->v);
        size_t bytes = 0;
        sigfuse_status st = op == SF_OP_head_predict ? sigfuse_head_predict_workspace_size(ctx, &a.head_predict, 0, &bytes)
                            : op == SF_OP_head_topk  ? sigfuse_head_topk_workspace_size(ctx, &a.head_topk, 0, &bytes)
                                                     : sigfuse_head_train_workspace_size(ctx, &a.head_train, 0, &bytes);
        cr_assert_eq(st, SIGFUSE_SUCCESS, "%s: workspace size: %s", c->info->name, sigfuse_ctx_last_error(ctx));
        c->ws = tu_alloc(SIGFUSE_U8, (int64_t)bytes + 16);
        c->has_ws = true;
        c->v.workspace = &c->ws.desc;
        c->v.workspace_bytes = bytes + 16;
    }
}

static void call_free(call *c)
{
    for (int i = 0; i < c->info->n_bufs; i++)
        tu_free(&c->bufs[i]);
    if (c->has_ws)
        tu_free(&c->ws);
}

static sigfuse_status call_run(sigfuse_ctx *ctx, const call *c, const sf_op_values *v)
{
    sf_any_args a;
    sf_op_init(c->op, &a);
    sf_op_set(c->op, &a, v);
    return sf_op_call(ctx, c->op, &a);
}

static void poison_outputs(call *c)
{
    for (int i = c->info->n_inputs; i < c->info->n_bufs; i++)
        tu_poison(&c->bufs[i]);
}

/* A broken call: the status, a message naming op and argument, no output written. */
static void expect_refused(sigfuse_ctx *ctx, call *c, const sf_op_values *v, sigfuse_status want, const char *arg)
{
    poison_outputs(c);
    const sigfuse_status st = call_run(ctx, c, v);
    const char *msg = sigfuse_ctx_last_error(ctx);
    cr_expect_eq(st, want, "%s with %s broken: status %s, want %s (%s)", c->info->name, arg,
                 sigfuse_status_string(st), sigfuse_status_string(want), msg);
    cr_expect(strstr(msg, c->info->name) != NULL, "%s: the message does not name the op: %s", c->info->name, msg);
    cr_expect(strstr(msg, arg) != NULL, "%s: the message does not name %s: %s", c->info->name, arg, msg);
    for (int i = c->info->n_inputs; i < c->info->n_bufs; i++)
        cr_expect(tu_untouched(&c->bufs[i]) && tu_guards_ok(&c->bufs[i]), "%s with %s broken wrote %s",
                  c->info->name, arg, c->info->bufs[i].name);
}

Test(catalog, names_are_unique_and_found)
{
    for (int op = 0; op < SF_OP_COUNT; op++) {
        cr_expect_eq(sf_op_by_name(sf_op_name((sf_op)op)), (sf_op)op, "%s", sf_op_name((sf_op)op));
        const sf_op_info *info = &sf_op_infos[op];
        cr_expect(info->n_inputs > 0 && info->n_inputs < info->n_bufs, "%s: inputs, then outputs", info->name);
        for (int i = 0; i < info->n_bufs; i++)
            cr_expect_eq(info->bufs[i].input, i < info->n_inputs, "%s: %s is out of order", info->name,
                         info->bufs[i].name);
    }
    cr_expect_eq(sf_op_by_name("sigmoid_fwd"), SF_OP_COUNT, "old spellings are gone");
}

/* The public *_args_init functions give the catalogue's defaults. */
Test(catalog, args_init_gives_the_catalogue_defaults)
{
    sigfuse_bce_args bce;
    sigfuse_focal_args focal;
    sigfuse_head_predict_args predict;
    sigfuse_head_train_args train;
    sigfuse_bce_args_init(&bce);
    sigfuse_focal_args_init(&focal);
    sigfuse_head_predict_args_init(&predict);
    sigfuse_head_train_args_init(&train);
    const struct {
        sf_op op;
        const void *args;
    } inits[] = {{SF_OP_bce_with_logits, &bce},
                 {SF_OP_sigmoid_focal, &focal},
                 {SF_OP_head_predict, &predict},
                 {SF_OP_head_train_step, &train}};
    for (size_t k = 0; k < sizeof inits / sizeof inits[0]; k++) {
        sf_op_values v;
        sf_op_get(inits[k].op, inits[k].args, &v);
        const sf_op_info *info = &sf_op_infos[inits[k].op];
        for (int i = 0; i < info->n_opts; i++)
            cr_expect_eq(v.opts[i], info->opts[i].fallback, "%s: %s", info->name, info->opts[i].name);
    }
    cr_expect_eq(bce.threshold, 0.5f);
    cr_expect_eq(focal.gamma, 2.0f);
    cr_expect_eq(train.reduction, SIGFUSE_REDUCTION_MEAN);
}

/* Runs check(ctx, c) on a fresh call of every op of the catalogue. */
static void for_each_op(void (*check)(sigfuse_ctx *ctx, call *c))
{
    sigfuse_ctx *ctx = cpu();
    for (int op = 0; op < SF_OP_COUNT; op++) {
        call c;
        call_make(&c, (sf_op)op, ctx);
        check(ctx, &c);
        call_free(&c);
    }
    sigfuse_ctx_destroy(ctx);
}

static void runs_whole(sigfuse_ctx *ctx, call *c)
{
    poison_outputs(c);
    const sigfuse_status st = call_run(ctx, c, &c->v);
    cr_expect_eq(st, SIGFUSE_SUCCESS, "%s: %s", c->info->name, sigfuse_ctx_last_error(ctx));
    for (int i = c->info->n_inputs; i < c->info->n_bufs; i++) {
        const tu_buf *b = &c->bufs[i];
        for (int64_t e = 0; e < b->n; e++)
            cr_expect(!isnan(tu_get(b, e)), "%s: %s[%lld] was not written", c->info->name, c->info->bufs[i].name,
                      (long long)e);
        cr_expect(tu_guards_ok(b), "%s: %s's guards", c->info->name, c->info->bufs[i].name);
    }
    const double bytes = sf_op_min_bytes(c->op, &c->v);
    cr_expect(bytes > 0.0 && isfinite(bytes), "%s: fewest bytes %g", c->info->name, bytes);
}

static void refuses_absent_required(sigfuse_ctx *ctx, call *c)
{
    for (int i = 0; i < c->info->n_bufs; i++) {
        if (c->info->bufs[i].presence != SF_REQUIRED)
            continue;
        sf_op_values v = c->v;
        v.bufs[i] = NULL;
        expect_refused(ctx, c, &v, SIGFUSE_ERR_NULL_ARGUMENT, c->info->bufs[i].name);
    }
}

static void refuses_empty_groups(sigfuse_ctx *ctx, call *c)
{
    for (int input = 0; input < 2; input++) {
        sf_op_values v = c->v;
        const char *first = NULL;
        for (int i = 0; i < c->info->n_bufs; i++)
            if (c->info->bufs[i].presence == SF_ANY && c->info->bufs[i].input == (bool)input) {
                v.bufs[i] = NULL;
                first = first ? first : c->info->bufs[i].name;
            }
        if (first)
            expect_refused(ctx, c, &v, input ? SIGFUSE_ERR_NULL_ARGUMENT : SIGFUSE_ERR_INVALID_ARGUMENT, first);
    }
}

static void refuses_bad_sizes_and_options(sigfuse_ctx *ctx, call *c)
{
    for (int i = 0; i < c->info->n_sizes; i++) {
        sf_op_values v = c->v;
        v.sizes[i] = -1;
        expect_refused(ctx, c, &v, SIGFUSE_ERR_INVALID_SIZE, c->info->sizes[i]);
    }
    for (int i = 0; i < c->info->n_opts; i++) {
        sf_op_values v = c->v;
        v.opts[i] = c->info->opts[i].reduction ? 7.0 : NAN;
        expect_refused(ctx, c, &v, SIGFUSE_ERR_INVALID_OPTION, c->info->opts[i].name);
    }
}

/* A float tensor of another dtype than the op's (f16 among f32). */
static void refuses_other_dtype(sigfuse_ctx *ctx, call *c)
{
    int first = 0;   /* the op's float dtype is its first float buffer's */
    while (first < c->info->n_bufs && sf_op_buf_role(c->op, &c->v, first) != SF_ROLE_FLOAT)
        first++;
    for (int i = first + 1; i < c->info->n_bufs; i++) {
        if (sf_op_buf_role(c->op, &c->v, i) != SF_ROLE_FLOAT)
            continue;
        sigfuse_buffer wrong = c->bufs[i].desc;
        wrong.dtype = SIGFUSE_F16;
        sf_op_values v = c->v;
        v.bufs[i] = &wrong;
        expect_refused(ctx, c, &v, SIGFUSE_ERR_INVALID_DTYPE, c->info->bufs[i].name);
    }
}

/* A mask (u8 only) of a float dtype; an option below its range (a negative gamma,
 * margin, smoothing or label smoothing). */
static void refuses_bad_masks_and_negative_options(sigfuse_ctx *ctx, call *c)
{
    for (int i = 0; i < c->info->n_bufs; i++) {
        if (c->info->bufs[i].role != SF_ROLE_MASK)
            continue;
        const sigfuse_dtype wrong_dtypes[] = {SIGFUSE_F32, SIGFUSE_F16};
        for (int k = 0; k < 2; k++) {
            sigfuse_buffer wrong = c->bufs[i].desc;
            wrong.dtype = wrong_dtypes[k];
            sf_op_values v = c->v;
            v.bufs[i] = &wrong;
            expect_refused(ctx, c, &v, SIGFUSE_ERR_INVALID_DTYPE, c->info->bufs[i].name);
        }
    }
    for (int i = 0; i < c->info->n_opts; i++) {
        const sf_rule rule = c->info->opts[i].rule;
        if (rule != SF_RULE_NONNEG && rule != SF_RULE_UNIT)
            continue;
        const double below[] = {-0.25, -1e-30, -INFINITY};
        for (int k = 0; k < 3; k++) {
            sf_op_values v = c->v;
            v.opts[i] = below[k];
            expect_refused(ctx, c, &v, SIGFUSE_ERR_INVALID_OPTION, c->info->opts[i].name);
        }
    }
}

Test(catalog, every_op_runs_with_every_buffer_and_writes_every_output) { for_each_op(runs_whole); }
Test(catalog, every_required_buffer_absent_is_refused) { for_each_op(refuses_absent_required); }
Test(catalog, every_group_of_which_one_is_needed_empty_is_refused) { for_each_op(refuses_empty_groups); }
Test(catalog, every_size_negative_and_every_float_option_nan_is_refused) { for_each_op(refuses_bad_sizes_and_options); }
Test(catalog, a_float_buffer_of_another_dtype_is_refused) { for_each_op(refuses_other_dtype); }
Test(catalog, a_mask_not_u8_and_an_option_below_its_range_are_refused) { for_each_op(refuses_bad_masks_and_negative_options); }
