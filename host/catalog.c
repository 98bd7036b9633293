/* SPDX-License-Identifier: MIT */
/*
 * The op catalogue's lists (sf_catalog.h) expanded into what code reads: a table of
 * facts per op, and per op the few functions that need its C argument type (reading,
 * writing and defaulting its args). Everything else works from the table. Calling an op
 * by its id is catalog_call.c's, above the public calls.
 */
#include <math.h>
#include <string.h>

#include "sf_internal.h"

/* ---- The table ---------------------------------------------------------------------------- */

#define SKIP_SIZE_(f)
#define SKIP_OPT_(f, type, fallback, rule)
#define SKIP_BUF_(f, role, dir, count, shape, presence)
#define SKIP_WS_(f, bytes)

#define SIZE_NAME_(f) #f,
#define OPT_INFO_(f, type, fallback, rule) {#f, IS_REDUCTION_##type, (double)(fallback), SF_RULE_##rule},
#define IS_REDUCTION_float false
#define IS_REDUCTION_sigfuse_reduction true
#define BUF_INFO_(f, role, dir, count, shape, presence)                                                                \
    {#f, SF_ROLE_##role, IS_INPUT_##dir, SF_COUNT_##count, shape, SF_##presence},
#define IS_INPUT_IN true
#define IS_INPUT_OUT false
#define ONE_SIZE_(f) +1
#define ONE_OPT_(f, type, fallback, rule) +1
#define ONE_BUF_(f, role, dir, count, shape, presence) +1
#define ONE_INPUT_(f, role, dir, count, shape, presence) +IS_INPUT_##dir
#define HAS_WS_(f, bytes) || true

#define OP_INFO_(op_, family_, shape_, args_)                                                                          \
    [SF_OP_##op_] = {                                                                                                 \
        .name = #op_,                                                                                                 \
        .family = #family_,                                                                                            \
        .shape = SF_SHAPE_##shape_,                                                                                    \
        .args_size = sizeof(args_),                                                                                     \
        .n_sizes = 0 SF_FIELDS_##op_(ONE_SIZE_, SKIP_OPT_, SKIP_BUF_, SKIP_WS_),                                      \
        .n_opts = 0 SF_FIELDS_##op_(SKIP_SIZE_, ONE_OPT_, SKIP_BUF_, SKIP_WS_),                                       \
        .n_bufs = 0 SF_FIELDS_##op_(SKIP_SIZE_, SKIP_OPT_, ONE_BUF_, SKIP_WS_),                                       \
        .n_inputs = 0 SF_FIELDS_##op_(SKIP_SIZE_, SKIP_OPT_, ONE_INPUT_, SKIP_WS_),                                   \
        .workspace = false SF_FIELDS_##op_(SKIP_SIZE_, SKIP_OPT_, SKIP_BUF_, HAS_WS_),                                \
        .sizes = {SF_FIELDS_##op_(SIZE_NAME_, SKIP_OPT_, SKIP_BUF_, SKIP_WS_)},                                       \
        .opts = {SF_FIELDS_##op_(SKIP_SIZE_, OPT_INFO_, SKIP_BUF_, SKIP_WS_)},                                        \
        .bufs = {SF_FIELDS_##op_(SKIP_SIZE_, SKIP_OPT_, BUF_INFO_, SKIP_WS_)},                                        \
    },

const sf_op_info sf_op_infos[SF_OP_COUNT] = {SF_CATALOG(OP_INFO_)};

const char *sf_op_name(sf_op op) { return (unsigned)op < SF_OP_COUNT ? sf_op_infos[op].name : "unknown"; }

sf_op sf_op_by_name(const char *name)
{
    for (int op = 0; op < SF_OP_COUNT; op++)
        if (name && strcmp(sf_op_infos[op].name, name) == 0)
            return (sf_op)op;
    return SF_OP_COUNT;
}

/* ---- Per op: read, write and call its args ---------------------------------------------------- */

#define GET_SIZE_(f) v->sizes[ns++] = p->f;
#define GET_OPT_(f, type, fallback, rule) v->opts[no++] = (double)p->f;
#define GET_BUF_(f, role, dir, count, shape, presence) v->bufs[nb++] = p->f;
#define GET_WS_(f, bytes) v->workspace = p->f, v->workspace_bytes = p->bytes;
#define SET_SIZE_(f) p->f = v->sizes[ns++];
#define SET_OPT_(f, type, fallback, rule) p->f = (type)v->opts[no++];
#define SET_BUF_(f, role, dir, count, shape, presence) p->f = v->bufs[nb++];
#define SET_WS_(f, bytes) p->f = v->workspace, p->bytes = v->workspace_bytes;
#define INIT_OPT_(f, type, fallback, rule) p->f = fallback;

#define OP_FUNCTIONS_(name, family, shape, args)                                                                       \
    static void get_##name(const void *a, sf_op_values *v)                                                             \
    {                                                                                                                  \
        const args *p = (const args *)a;                                                                               \
        int ns = 0, no = 0, nb = 0;                                                                                    \
        SF_FIELDS_##name(GET_SIZE_, GET_OPT_, GET_BUF_, GET_WS_);                                                      \
        (void)ns, (void)no, (void)nb;                                                                                  \
    }                                                                                                                  \
    static void set_##name(void *a, const sf_op_values *v)                                                             \
    {                                                                                                                  \
        args *p = (args *)a;                                                                                           \
        int ns = 0, no = 0, nb = 0;                                                                                    \
        SF_FIELDS_##name(SET_SIZE_, SET_OPT_, SET_BUF_, SET_WS_);                                                      \
        (void)ns, (void)no, (void)nb;                                                                                  \
    }                                                                                                                  \
    static void init_##name(void *a)                                                                                   \
    {                                                                                                                  \
        args *p = (args *)a;                                                                                           \
        memset(p, 0, sizeof *p);                                                                                       \
        SF_FIELDS_##name(SKIP_SIZE_, INIT_OPT_, SKIP_BUF_, SKIP_WS_);                                                  \
    }

SF_CATALOG(OP_FUNCTIONS_)

typedef struct op_functions {
    void (*get)(const void *args, sf_op_values *v);
    void (*set)(void *args, const sf_op_values *v);
    void (*init)(void *args);
} op_functions;

#define OP_FUNCTION_ROW_(name, family, shape, args) [SF_OP_##name] = {get_##name, set_##name, init_##name},
static const op_functions functions[SF_OP_COUNT] = {SF_CATALOG(OP_FUNCTION_ROW_)};

void sf_op_get(sf_op op, const void *args, sf_op_values *v)
{
    memset(v, 0, sizeof *v);
    functions[op].get(args, v);
}

void sf_op_set(sf_op op, void *args, const sf_op_values *v) { functions[op].set(args, v); }
void sf_op_init(sf_op op, void *args) { functions[op].init(args); }

/* ---- Counts and bytes ------------------------------------------------------------------------ */

/* The op's reduction, or SUM for an op without one (its loss, if any, is one scalar).
 * Only NONE matters to the counts, so a value outside the enum (which the API refuses)
 * reads as reduced, with no conversion of an out-of-range double. */
static sigfuse_reduction reduction_of(sf_op op, const sf_op_values *v)
{
    const sf_op_info *info = &sf_op_infos[op];
    for (int i = 0; i < info->n_opts; i++)
        if (info->opts[i].reduction)
            return v->opts[i] == SIGFUSE_REDUCTION_NONE ? SIGFUSE_REDUCTION_NONE : SIGFUSE_REDUCTION_SUM;
    return SIGFUSE_REDUCTION_SUM;
}

/* The op's size of that name, 0 if it has none. */
static int64_t size_named(sf_op op, const sf_op_values *v, const char *name)
{
    for (int i = 0; i < sf_op_infos[op].n_sizes; i++)
        if (strcmp(sf_op_infos[op].sizes[i], name) == 0)
            return v->sizes[i];
    return 0;
}

static bool mul(const char *what, int64_t a, int64_t b, int64_t *out, sf_overflow *overflow)
{
    if (a != 0 && b > INT64_MAX / a) {
        if (overflow)
            *overflow = (sf_overflow){what, a, b};
        return false;
    }
    *out = a * b;
    return true;
}

bool sf_op_counts(sf_op op, const sf_op_values *v, int64_t c[SF_COUNT_KINDS], sf_overflow *of)
{
    for (int k = 0; k < SF_COUNT_KINDS; k++)
        c[k] = 0;
    c[SF_COUNT_ONE] = 1;
    const int64_t *s = v->sizes;
    switch (sf_op_infos[op].shape) {
    case SF_SHAPE_EW: c[SF_COUNT_N] = s[0]; return true;
    case SF_SHAPE_LSTM:
    case SF_SHAPE_GRU: {
        const int64_t gates = sf_op_infos[op].shape == SF_SHAPE_LSTM ? 4 : 3;
        return mul("batch * hidden", s[0], s[1], &c[SF_COUNT_BH], of) &&
               mul("gates * hidden", gates, s[1], &c[SF_COUNT_GH], of) &&
               mul("batch * gates * hidden", s[0], c[SF_COUNT_GH], &c[SF_COUNT_BGH], of);
    }
    case SF_SHAPE_LOSS:
        c[SF_COUNT_ROWS] = s[0];
        c[SF_COUNT_COLS] = s[1];
        if (!mul("rows * cols", s[0], s[1], &c[SF_COUNT_TOTAL], of))
            return false;
        c[SF_COUNT_LOSS] = reduction_of(op, v) == SIGFUSE_REDUCTION_NONE ? c[SF_COUNT_TOTAL] : 1;
        return true;
    case SF_SHAPE_HEAD: {
        c[SF_COUNT_L] = s[2];
        c[SF_COUNT_NNZ] = size_named(op, v, "nnz");
        if (!mul("n * k", s[0], size_named(op, v, "k"), &c[SF_COUNT_NK], of))
            return false;
        if (s[0] == INT64_MAX) {
            if (of)
                *of = (sf_overflow){"n + 1", s[0], 1};
            return false;
        }
        c[SF_COUNT_N1] = s[0] + 1;
        return mul("n * d", s[0], s[1], &c[SF_COUNT_ND], of) && mul("l * d", s[2], s[1], &c[SF_COUNT_LD], of) &&
               mul("n * l", s[0], s[2], &c[SF_COUNT_NL], of);
    }
    case SF_SHAPE_MERGE:
        return mul("n * k", s[0], s[1], &c[SF_COUNT_NK], of) &&
               mul("shards * n * k", s[2], c[SF_COUNT_NK], &c[SF_COUNT_SNK], of);
    }
    return false;
}

sf_role sf_op_buf_role(sf_op op, const sf_op_values *v, int i)
{
    const sf_role r = sf_op_infos[op].bufs[i].role;
    if (r != SF_ROLE_LOSS)
        return r;
    return reduction_of(op, v) == SIGFUSE_REDUCTION_NONE ? SF_ROLE_FLOAT : SF_ROLE_SCALAR;
}

const char *sf_op_buf_shape(sf_op op, const sf_op_values *v, int i)
{
    const sf_buf_info *b = &sf_op_infos[op].bufs[i];
    if (b->count != SF_COUNT_LOSS)
        return b->shape;
    return reduction_of(op, v) == SIGFUSE_REDUCTION_NONE ? "[rows, cols]" : "[]";
}

#define TWO_PASS_(op_) [SF_OP_##op_] = true,
static const bool two_pass[SF_OP_COUNT] = {SF_TWO_PASS(TWO_PASS_)};

int sf_op_buf_reads(sf_op op, const sf_op_values *v, int i)
{
    const sf_op_info *info = &sf_op_infos[op];
    const sf_buf_info *b = &info->bufs[i];
    if (!v->bufs[i])
        return 0;
    if (!b->input)
        return 1;
    bool gradient = false, mean = false;
    for (int k = info->n_inputs; k < info->n_bufs; k++)
        gradient = gradient || (strcmp(info->bufs[k].name, "dlogits") == 0 && v->bufs[k]);
    for (int k = 0; k < info->n_opts; k++)
        mean = mean || (info->opts[k].reduction && v->opts[k] == SIGFUSE_REDUCTION_MEAN);
    if (gradient && two_pass[op] && b->count == SF_COUNT_TOTAL)
        return 2;
    if (gradient && mean && b->role == SF_ROLE_MASK)
        return 2;
    return 1;
}

double sf_op_min_bytes(sf_op op, const sf_op_values *v)
{
    const sf_op_info *info = &sf_op_infos[op];
    int64_t counts[SF_COUNT_KINDS];
    if (!sf_op_counts(op, v, counts, NULL))
        return NAN;
    double bytes = 0.0;
    for (int i = 0; i < info->n_bufs; i++)
        if (v->bufs[i])
            bytes += (double)sf_op_buf_reads(op, v, i) * (double)counts[info->bufs[i].count] *
                     (double)sigfuse_dtype_size(v->bufs[i]->dtype);
    return bytes;
}
