/* SPDX-License-Identifier: MIT */
/*
 * The benchmark's cases: every op of the catalogue (host/sf_catalog.h), some with more
 * than one preset of buffers. What a case passes is a list of catalogue buffer names;
 * its sizes, layout, fewest bytes and call follow from the catalogue, so that a new op
 * is one more row here. s is the element size of the float dtype (4, 2 or 2 bytes).
 */
#define _POSIX_C_SOURCE 200809L   /* strtok_r */

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"

#define COUNT_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

const bench_case bench_cases[] = {
    {"sigmoid_forward", SF_OP_sigmoid_forward, "x y", NULL},
    {"sigmoid_backward", SF_OP_sigmoid_backward, "y dy dx", NULL},
    {"log_sigmoid_forward", SF_OP_log_sigmoid_forward, "x y", NULL},
    {"log_sigmoid_backward", SF_OP_log_sigmoid_backward, "x dy dx", NULL},
    {"silu_forward", SF_OP_silu_forward, "x y", NULL},
    {"silu_backward", SF_OP_silu_backward, "x dy dx", NULL},
    {"glu_forward", SF_OP_glu_forward, "a b y", NULL},
    {"glu_backward", SF_OP_glu_backward, "a b dy da db", NULL},
    {"swiglu_forward", SF_OP_swiglu_forward, "a b y", NULL},
    {"swiglu_backward", SF_OP_swiglu_backward, "a b dy da db", NULL},
    /* Cells with both gate halves and the biases. */
    {"lstm_cell_forward", SF_OP_lstm_cell_forward, "gates_x gates_h bias c_prev h c", NULL},
    {"lstm_cell_backward", SF_OP_lstm_cell_backward, "gates_x gates_h bias c_prev dh dc dgates dc_prev dbias", NULL},
    {"gru_cell_forward", SF_OP_gru_cell_forward, "gates_x gates_h bias_x bias_h h_prev h", NULL},
    {"gru_cell_backward", SF_OP_gru_cell_backward,
     "gates_x gates_h bias_x bias_h h_prev dh dgates_x dgates_h dh_prev dbias_x dbias_h", NULL},
    /* Losses: MEAN over rows x cols; forward only, forward and backward fused, with u8
     * targets, and with soft targets, an element weight and a per-column pos_weight. */
    {"bce_with_logits/loss", SF_OP_bce_with_logits, "logits targets loss", NULL},
    {"bce_with_logits", SF_OP_bce_with_logits, "logits targets loss dlogits", NULL},
    {"bce_with_logits/u8", SF_OP_bce_with_logits, "logits targets:u8 loss dlogits", NULL},
    {"bce_with_logits/weighted", SF_OP_bce_with_logits, "logits targets:soft weight pos_weight loss dlogits", NULL},
    {"sigmoid_focal", SF_OP_sigmoid_focal, "logits targets loss dlogits", NULL},   /* alpha 0.25, gamma 2 */
    {"asymmetric", SF_OP_asymmetric, "logits targets loss dlogits", NULL},   /* gamma+ 0, gamma- 4, margin 0.05 */
    /* Ignored targets: a u8 mask keeping nine elements in ten; the MEAN is over those. */
    {"bce_with_logits/mask", SF_OP_bce_with_logits, "logits targets mask loss dlogits", NULL},
    {"sigmoid_focal/mask", SF_OP_sigmoid_focal, "logits targets mask loss dlogits", NULL},
    {"asymmetric/mask", SF_OP_asymmetric, "logits targets mask loss dlogits", NULL},
    /* Segmentation (bench_case_own_shape: 16 images of 512 x 512 pixels): BCE (MEAN) + soft
     * Dice (smooth 1), the loss, its gradient and each image's Dice; two passes. */
    {"bce_dice", SF_OP_bce_dice, "logits targets loss dlogits dice", NULL},
    /* Heads: rows = N, cols = L labels, d = D features. */
    {"head_predict", SF_OP_head_predict, "x w bias probs", "head_predict_gemms"},
    {"head_train_step", SF_OP_head_train_step, "x w bias targets loss dx dw dbias", "head_train_step_gemms"},
    /* XMC (the backend's xmc sizes): the train step on CSR positives, BENCH_POSITIVES a row
     * with Zipf-like ids (i32); the top BENCH_TOPK labels of each row (i32 ids and their
     * logits); and the merge of BENCH_SHARDS shards' top-k lists. */
    {"head_train_step/sparse", SF_OP_head_train_step, "x w bias pos_offsets pos_labels loss dx dw dbias",
     "head_train_step/sparse_gemms"},
    {"head_topk", SF_OP_head_topk, "x w bias top_labels top_logits", "head_topk_gemms"},
    {"topk_merge", SF_OP_topk_merge, "in_labels in_logits top_labels top_logits", NULL},
};

const int bench_case_count = COUNT_OF(bench_cases);

double bench_mean_count(const bench_shape *s)
{
    return s->kept > 0 ? (double)s->kept : (double)s->total_rows * (double)s->cols;
}

void bench_mean(const bench_shape *s, sigfuse_reduction *reduction, float *grad_scale)
{
    if (s->rows == s->total_rows) {
        *reduction = SIGFUSE_REDUCTION_MEAN;
        *grad_scale = 1.0f;
    } else {
        *reduction = SIGFUSE_REDUCTION_SUM;
        *grad_scale = (float)(1.0 / bench_mean_count(s));
    }
}

/* bce_dice's Dice term is the mean over the images (rows) of the call: a piece of the
 * rows would average over its own. topk_merge's lists are laid out shard by shard
 * ([shards, N, k]): a piece of the rows is not a piece of the buffer. */
bool bench_case_splits(const bench_case *c) { return c->op != SF_OP_bce_dice && c->op != SF_OP_topk_merge; }

static bool case_sparse(const bench_case *c) { return strstr(c->buffers, "pos_labels") != NULL; }

bool bench_case_xmc(const bench_case *c)
{
    return c->op == SF_OP_head_topk || c->op == SF_OP_topk_merge || (c->op == SF_OP_head_train_step && case_sparse(c));
}

/* What PyTorch's unfused equivalent holds at once, in one place (the formula the output
 * quotes, and the bytes it gives). s: the float dtype's size.
 *   head_train_step/sparse: Linear + BCEWithLogits on dense [N, L] float targets made from
 *     the CSR: the logits, the dense targets and the logits' gradient (N x L each), X, dX
 *     [N, D], W, dW [L, D], b, db [L] and the loss; PyTorch's temporaries come on top.
 *   head_topk: torch.topk(F.linear(x, W, b), k): the logits N x L, X, W, b and the top k's
 *     values (s) and int64 indices (8 bytes) a row. */
static const char *const peer_formula_sparse =
    "s(3NL + 2ND + 2LD + 2L) + 4: Linear + BCEWithLogits with dense [N, L] targets holds the logits, "
    "the dense targets and the logits' gradient (N x L each), X, dX, W, dW, b, db and the loss";
static const char *const peer_formula_topk =
    "s(NL + ND + LD + L) + Nk(s + 8): torch.topk(F.linear(x, W, b), k) holds the N x L logits, X, W, b and "
    "the k values and int64 indices a row";

double bench_case_peer_bytes(const bench_case *c, const bench_shape *sh, sigfuse_dtype dtype)
{
    const double s = (double)sigfuse_dtype_size(dtype);
    const double n = (double)sh->rows, d = (double)sh->d, l = (double)sh->cols, k = BENCH_TOPK;
    if (c->op == SF_OP_head_train_step && case_sparse(c))
        return s * (3.0 * n * l + 2.0 * n * d + 2.0 * l * d + 2.0 * l) + 4.0;
    if (c->op == SF_OP_head_topk)
        return s * (n * l + n * d + l * d + l) + n * k * (s + 8.0);
    return NAN;
}

const char *bench_case_peer_formula(const bench_case *c)
{
    if (c->op == SF_OP_head_train_step && case_sparse(c))
        return peer_formula_sparse;
    return c->op == SF_OP_head_topk ? peer_formula_topk : NULL;
}

/* k of a top-k case: topk_merge's shape has it as its cols (its rows are N). */
static int64_t k_of(const bench_case *c, const bench_shape *s) { return c->op == SF_OP_topk_merge ? s->cols : BENCH_TOPK; }

/* bce_dice's rows are images: a batch of 16 of 512 x 512 pixels, a U-Net's at a common
 * training resolution, whatever the backend's sizes (4 Mi elements: between the cpu's and
 * the devices' defaults). */
bool bench_case_own_shape(const bench_case *c, int64_t *rows, int64_t *cols)
{
    if (c->op != SF_OP_bce_dice)
        return false;
    *rows = 16, *cols = 512 * 512;
    return true;
}

bench_family bench_case_family(const bench_case *c)
{
    switch (sf_op_infos[c->op].shape) {
    case SF_SHAPE_EW: return FAMILY_ELEMENTWISE;
    case SF_SHAPE_LSTM:
    case SF_SHAPE_GRU: return FAMILY_CELL;
    case SF_SHAPE_LOSS: return FAMILY_LOSS;
    case SF_SHAPE_HEAD: return FAMILY_HEAD;
    case SF_SHAPE_MERGE: return FAMILY_ELEMENTWISE;   /* no matrix product; its shapes are the xmc ones */
    }
    return FAMILY_ELEMENTWISE;
}

bool bench_case_gemm(const bench_case *c) { return bench_case_family(c) == FAMILY_HEAD; }
bool bench_case_gemms_train(const bench_case *c) { return c->op == SF_OP_head_train_step; }

/* ---- Inputs ---------------------------------------------------------------------------- */

/* Logits as a classifier produces them; pre-activation gates somewhat narrower; upstream
 * gradients of order one. */
typedef struct input_range {
    const char *name;
    double lo, hi;
} input_range;

static const input_range input_ranges[] = {
    {"x", -8.0, 8.0},       {"logits", -8.0, 8.0},   {"b", -8.0, 8.0},      {"a", -4.0, 4.0},
    {"gates_x", -4.0, 4.0}, {"gates_h", -4.0, 4.0},  {"dy", -1.0, 1.0},     {"dh", -1.0, 1.0},
    {"dc", -1.0, 1.0},      {"bias", -1.0, 1.0},     {"bias_x", -1.0, 1.0}, {"bias_h", -1.0, 1.0},
    {"h_prev", -1.0, 1.0},  {"c_prev", -2.0, 2.0},   {"weight", 0.5, 2.0},  {"pos_weight", 0.5, 4.0},
    {"y", 0.0003, 0.9997},   /* sigmoid of a logit in [-8, 8] */
};

static void input_of(const bench_case *c, const bench_shape *s, const char *name, const char *mod, bench_buf *b)
{
    /* The CSR and the shards' lists: drawn as a whole (bench_data.c, bench_gen). */
    const struct {
        const char *name;
        bench_gen gen;
    } structured[] = {{"pos_offsets", GEN_CSR_OFFSETS},
                      {"pos_labels", GEN_CSR_LABELS},
                      {"in_labels", GEN_LIST_LABELS},
                      {"in_logits", GEN_LIST_LOGITS}};
    for (int i = 0; i < COUNT_OF(structured); i++)
        if (strcmp(name, structured[i].name) == 0) {
            b->gen = structured[i].gen;
            b->lo = -8.0, b->hi = 8.0;   /* the lists' logits */
            return;
        }
    if (strcmp(name, "targets") == 0) {
        const bool soft = strcmp(mod, "soft") == 0;
        b->kind = strcmp(mod, "u8") == 0 ? KIND_U8 : KIND_FLOAT;
        b->binary = !soft;
        b->lo = 0.0, b->hi = soft ? 1.0 : 0.5;
        return;
    }
    if (strcmp(name, "mask") == 0) {
        /* A tenth of the targets unknown, at random: a partly labelled multi-label set
         * (OpenImages-style) or the ignore label of a segmentation. */
        b->kind = KIND_U8, b->binary = true;
        b->lo = 0.0, b->hi = 0.9;
        return;
    }
    if (bench_case_family(c) == FAMILY_HEAD) {
        /* W scaled as a Linear layer's initialisation is, so that logits stay of order one. */
        const double w = 2.0 / sqrt((double)(s->d > 0 ? s->d : 1));
        if (strcmp(name, "x") == 0) {
            b->lo = -1.0, b->hi = 1.0;
            return;
        }
        if (strcmp(name, "w") == 0) {
            b->lo = -w, b->hi = w;
            return;
        }
    }
    for (int i = 0; i < COUNT_OF(input_ranges); i++)
        if (strcmp(input_ranges[i].name, name) == 0) {
            b->lo = input_ranges[i].lo, b->hi = input_ranges[i].hi;
            return;
        }
    b->lo = -1.0, b->hi = 1.0;
}

/* ---- Layout: the catalogue's counts as rows of the shape ---------------------------------- */

/* The catalogue's sizes of a case at a shape: the driver's rows are n, batch, rows or N. */
static void sizes_of(const bench_case *c, const bench_shape *s, sf_op_values *v)
{
    v->sizes[0] = s->rows;
    if (bench_case_family(c) == FAMILY_HEAD) {
        v->sizes[1] = s->d;
        v->sizes[2] = s->cols;
        if (c->op == SF_OP_head_topk)
            v->sizes[3] = BENCH_TOPK;   /* k */
        else if (case_sparse(c))
            v->sizes[3] = s->rows * BENCH_POSITIVES;   /* nnz */
    } else if (c->op == SF_OP_topk_merge) {
        v->sizes[1] = s->cols;   /* k */
        v->sizes[2] = BENCH_SHARDS;
    } else {
        v->sizes[1] = s->cols;
    }
}

/* Where a count lies: per row (with that many elements a row), shared by all rows (a
 * bias, W), or summed over the rows (their gradients). */
static void span_of(const bench_case *c, sf_count count, bool output, int64_t gates, const bench_shape *s,
                    bench_buf *b)
{
    const int64_t h = s->cols;
    switch (count) {
    case SF_COUNT_N: b->span = SPAN_ROWS, b->count = 1; return;
    case SF_COUNT_BH: b->span = SPAN_ROWS, b->count = h; return;
    case SF_COUNT_BGH: b->span = SPAN_ROWS, b->count = gates * h; return;
    case SF_COUNT_TOTAL: b->span = SPAN_ROWS, b->count = s->cols; return;
    case SF_COUNT_ROWS: b->span = SPAN_ROWS, b->count = 1; return;
    case SF_COUNT_ND: b->span = SPAN_ROWS, b->count = s->d; return;
    case SF_COUNT_NL: b->span = SPAN_ROWS, b->count = s->cols; return;
    case SF_COUNT_GH: b->count = gates * h; break;
    case SF_COUNT_COLS:
    case SF_COUNT_L: b->count = s->cols; break;
    case SF_COUNT_LD: b->count = s->cols * s->d; break;
    case SF_COUNT_LOSS:   /* reduced: MEAN over the whole, one f32 */
    case SF_COUNT_ONE: b->span = SPAN_MEAN, b->count = 1, b->kind = KIND_F32; return;
    /* CSR of BENCH_POSITIVES a row: its offsets are rows + 1 (a piece of the rows reads
     * their start, bench_span), its ids that many a row. */
    case SF_COUNT_N1: b->span = SPAN_OFFSETS, b->count = BENCH_POSITIVES; return;
    case SF_COUNT_NNZ: b->span = SPAN_ROWS, b->count = BENCH_POSITIVES; return;
    case SF_COUNT_NK: b->span = SPAN_ROWS, b->count = k_of(c, s); return;
    /* [shards, N, k], shard by shard: the whole buffer for the whole rows only
     * (bench_case_splits says topk_merge does not split). */
    case SF_COUNT_SNK: b->count = BENCH_SHARDS * s->rows * k_of(c, s); break;
    case SF_COUNT_KINDS: break;
    }
    b->span = output ? SPAN_SUM : SPAN_FIXED;
}

/* Calls f(index in the catalogue, name, modifier) for each buffer of the case's list. */
static int for_each_buffer(const bench_case *c, void (*f)(int, const char *, const char *, void *), void *user)
{
    const sf_op_info *info = &sf_op_infos[c->op];
    char list[256];
    snprintf(list, sizeof list, "%s", c->buffers);
    int n = 0;
    for (char *save = NULL, *tok = strtok_r(list, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        char *colon = strchr(tok, ':');
        const char *mod = "";
        if (colon) {
            *colon = '\0';
            mod = colon + 1;
        }
        for (int i = 0; i < info->n_bufs; i++)
            if (strcmp(info->bufs[i].name, tok) == 0) {
                f(i, tok, mod, user);
                n++;
            }
    }
    return n;
}

static void args_of(const bench_case *c, const bench_shape *s, const sigfuse_buffer *b, const sigfuse_buffer *ws,
                    size_t ws_bytes, sf_any_args *args);

/* The catalogue's values of the case's call at a shape: its options and which buffers it
 * passes (stand-ins, for what depends only on their presence). */
static void values_of(const bench_case *c, const bench_shape *s, sf_op_values *v)
{
    static const sigfuse_buffer stand_in[BENCH_MAX_BUFS];
    sf_any_args args;
    args_of(c, s, stand_in, NULL, 0, &args);
    sf_op_get(c->op, &args, v);
}

typedef struct layout_job {
    const bench_case *c;
    const bench_shape *s;
    const sf_op_values *v;
    bench_buf *b;
    int n;
} layout_job;

static void layout_one(int i, const char *name, const char *mod, void *user)
{
    layout_job *job = user;
    const sf_buf_info *info = &sf_op_infos[job->c->op].bufs[i];
    const int64_t gates = sf_op_infos[job->c->op].shape == SF_SHAPE_LSTM ? 4 : 3;
    bench_buf *b = &job->b[job->n++];
    *b = (bench_buf){info->name, !info->input, SPAN_ROWS, 0, KIND_FLOAT, false, 0.0, 0.0,
                     sf_op_buf_reads(job->c->op, job->v, i), GEN_DRAW};
    (void)name;
    span_of(job->c, info->count, b->output, gates, job->s, b);
    if (info->role == SF_ROLE_INDEX)
        b->kind = KIND_INDEX;
    if (info->input)
        input_of(job->c, job->s, info->name, mod, b);
}

int bench_case_layout(const bench_case *c, const bench_shape *s, bench_buf *b)
{
    sf_op_values v;
    values_of(c, s, &v);
    layout_job job = {c, s, &v, b, 0};
    for_each_buffer(c, layout_one, &job);
    return job.n;
}

double bench_case_flops(const bench_case *c, const bench_shape *s)
{
    if (!bench_case_gemm(c))
        return 0.0;
    const double one = 2.0 * (double)s->rows * (double)s->d * (double)s->cols;   /* Z = X W^T */
    return bench_case_gemms_train(c) ? 3.0 * one : one;
}

/* ---- The fewest bytes as a formula ----------------------------------------------------------- */

/* How a count reads in a formula, for a cell of `gates` blocks. */
static const char *count_symbol(sf_count k, int64_t gates, char *buf, size_t size)
{
    switch (k) {
    case SF_COUNT_N:
    case SF_COUNT_TOTAL: return "n";
    case SF_COUNT_BH: return "BH";
    case SF_COUNT_BGH: snprintf(buf, size, "%lldBH", (long long)gates); return buf;
    case SF_COUNT_GH: snprintf(buf, size, "%lldH", (long long)gates); return buf;
    case SF_COUNT_COLS: return "cols";
    case SF_COUNT_ROWS: return "rows";
    case SF_COUNT_ND: return "ND";
    case SF_COUNT_LD: return "LD";
    case SF_COUNT_NL: return "NL";
    case SF_COUNT_L: return "L";
    case SF_COUNT_N1: return "N+1";
    case SF_COUNT_NNZ: return "nnz";
    case SF_COUNT_NK: return "Nk";
    case SF_COUNT_SNK: return "SNk";
    default: return "1";
    }
}

/* Terms of one kind (the float dtype's, or u8) with their multiplicity. */
typedef struct formula_terms {
    const char *symbol[BENCH_MAX_BUFS];
    int64_t times[BENCH_MAX_BUFS];
    char store[BENCH_MAX_BUFS][16];
    int n;
} formula_terms;

static void add_term(formula_terms *t, const char *sym, int64_t mult)
{
    for (int k = 0; k < t->n; k++)
        if (strcmp(t->symbol[k], sym) == 0) {
            t->times[k] += mult;
            return;
        }
    snprintf(t->store[t->n], sizeof t->store[0], "%s", sym);
    t->symbol[t->n] = t->store[t->n];
    t->times[t->n++] = mult;
}

/* "2n + cols" */
static void print_terms(const formula_terms *t, char *out, size_t size)
{
    out[0] = '\0';
    for (int k = 0; k < t->n; k++) {
        const size_t len = strlen(out);
        const char *sep = k ? " + " : "";
        if (t->times[k] == 1)
            snprintf(out + len, size - len, "%s%s", sep, t->symbol[k]);
        else
            snprintf(out + len, size - len, "%s%lld%s", sep, (long long)t->times[k], t->symbol[k]);
    }
}

typedef struct formula_job {
    const bench_case *c;
    const sf_op_values *v;
    formula_terms floats, u8, index;
    int64_t scalar_bytes;
} formula_job;

static void formula_one(int i, const char *name, const char *mod, void *user)
{
    formula_job *job = user;
    const sf_buf_info *info = &sf_op_infos[job->c->op].bufs[i];
    const int64_t gates = sf_op_infos[job->c->op].shape == SF_SHAPE_LSTM ? 4 : 3;
    const int64_t reads = sf_op_buf_reads(job->c->op, job->v, i);
    (void)name;
    if (info->count == SF_COUNT_LOSS || info->count == SF_COUNT_ONE) {
        job->scalar_bytes += 4 * reads;
        return;
    }
    char buf[16];
    const char *sym = count_symbol(info->count, gates, buf, sizeof buf);
    int64_t mult = reads;
    /* "4BH" is 4 x "BH": terms of one kind add up. */
    if (info->count == SF_COUNT_BGH || info->count == SF_COUNT_GH) {
        mult *= gates;
        sym = info->count == SF_COUNT_BGH ? "BH" : "H";
    }
    if (info->role == SF_ROLE_INDEX)   /* i32 ids and offsets: 4 bytes each */
        add_term(&job->index, sym, mult);
    else
        add_term(strcmp(mod, "u8") == 0 || info->role == SF_ROLE_MASK ? &job->u8 : &job->floats, sym, mult);
}

void bench_case_bytes_formula(const bench_case *c, char *out, size_t size)
{
    bench_shape s = {1, 1, 1, 1, 0};   /* the whole problem: MEAN, as timed */
    sf_op_values v;
    values_of(c, &s, &v);
    formula_job job = {.c = c, .v = &v};
    for_each_buffer(c, formula_one, &job);
    char floats[160], u8[80];
    print_terms(&job.floats, floats, sizeof floats);
    print_terms(&job.u8, u8, sizeof u8);
    if (job.u8.n == 1 && job.floats.n == 1 && strcmp(job.u8.symbol[0], job.floats.symbol[0]) == 0)
        /* u8 and float tensors of one count: "(2s + 1)n" */
        snprintf(out, size, "(%llds + %lld)%s", (long long)job.floats.times[0], (long long)job.u8.times[0],
                 job.u8.symbol[0]);
    else if (job.floats.n == 1 && strchr(floats, ' ') == NULL)
        snprintf(out, size, "%ss%s%s", floats, job.u8.n ? " + " : "", u8);
    else
        snprintf(out, size, "(%s)s%s%s", floats, job.u8.n ? " + " : "", u8);
    if (job.index.n) {
        char index[80];
        print_terms(&job.index, index, sizeof index);
        const size_t len = strlen(out);
        snprintf(out + len, size - len, job.index.n == 1 ? " + 4%s" : " + 4(%s)", index);
    }
    if (job.scalar_bytes) {
        const size_t len = strlen(out);
        snprintf(out + len, size - len, " + %lld", (long long)job.scalar_bytes);
    }
}

/* ---- The call ------------------------------------------------------------------------------- */

typedef struct args_job {
    sf_op_values *v;
    const sigfuse_buffer *b;
    int next;
} args_job;

static void give_buffer(int i, const char *name, const char *mod, void *user)
{
    args_job *job = user;
    (void)name, (void)mod;
    job->v->bufs[i] = &job->b[job->next++];
}

/* The op's args struct: the catalogue's defaults, the shape's sizes, MEAN or its piece's
 * SUM, the case's buffers. */
static void args_of(const bench_case *c, const bench_shape *s, const sigfuse_buffer *b, const sigfuse_buffer *ws,
                    size_t ws_bytes, sf_any_args *args)
{
    const sf_op_info *info = &sf_op_infos[c->op];
    sf_op_init(c->op, args);
    sf_op_values v;
    sf_op_get(c->op, args, &v);
    sizes_of(c, s, &v);
    for (int i = 0; i < info->n_opts; i++)
        if (info->opts[i].reduction || strcmp(info->opts[i].name, "grad_scale") == 0) {
            sigfuse_reduction reduction;
            float grad_scale;
            bench_mean(s, &reduction, &grad_scale);
            v.opts[i] = info->opts[i].reduction ? (double)reduction : (double)grad_scale;
        }
    args_job job = {&v, b, 0};
    for_each_buffer(c, give_buffer, &job);
    v.workspace = ws;
    v.workspace_bytes = ws_bytes;
    sf_op_set(c->op, args, &v);
}

sigfuse_status bench_case_run(const bench_case *c, sigfuse_ctx *ctx, const bench_shape *s, const sigfuse_buffer *b,
                              const sigfuse_buffer *workspace, size_t workspace_bytes)
{
    sf_any_args args;
    args_of(c, s, b, workspace, workspace_bytes, &args);
    return sf_op_call(ctx, c->op, &args);
}

sigfuse_status bench_case_workspace(const bench_case *c, sigfuse_ctx *ctx, const bench_shape *s,
                                    const sigfuse_buffer *b, int64_t chunk_rows, size_t *bytes)
{
    sf_any_args args;
    args_of(c, s, b, NULL, 0, &args);
    switch (c->op) {
    case SF_OP_head_predict: return sigfuse_head_predict_workspace_size(ctx, &args.head_predict, chunk_rows, bytes);
    case SF_OP_head_train_step: return sigfuse_head_train_workspace_size(ctx, &args.head_train, chunk_rows, bytes);
    case SF_OP_head_topk: return sigfuse_head_topk_workspace_size(ctx, &args.head_topk, chunk_rows, bytes);
    default: *bytes = 0; return SIGFUSE_SUCCESS;
    }
}
