/* SPDX-License-Identifier: MIT */
/*
 * sigfuse-bench: the instances of a case (its layout, byte count and inputs drawn on the
 * host), the CPU reference's outputs for them, and the shapes of a family at a
 * backend's sizes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_internal.h"
#include "sf_internal.h" /* sf_host_load / sf_host_store: any dtype on the host */

/* Work (elements touched plus flops) the reference may do per case; past it, a case is
 * checked on its first rows (only the CUDA heads come near). The reference costs tens of
 * ns per element and several per flop of a head on one core, so this budget keeps the
 * whole default CUDA run, checks included, to a few minutes (bench/NOTES.md has the
 * times). */
#ifndef REF_BUDGET   /* (overridable, to test the splitting on tiny sizes) */
#define REF_BUDGET 1073741824.0
#endif

/* ---- Buffers of a case ---------------------------------------------------------------------------- */

/* The reference computes in f64; u8 targets stay u8 and the loss scalar may be f64. */
static sigfuse_dtype ref_dtype(const bench_buf *b)
{
    return b->kind == KIND_U8 ? SIGFUSE_U8 : b->kind == KIND_INDEX ? SIGFUSE_I32 : SIGFUSE_F64;
}

void bench_instance_free(instance *in)
{
    for (int i = 0; i < in->nbuf; i++) {
        free(in->host[i]);
        free(in->ref[i]);
        in->host[i] = in->ref[i] = NULL;
    }
}

static int compare_f64(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static uint64_t mix64(uint64_t z)
{
    /* splitmix64's finaliser: consecutive inputs give independent-looking outputs */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

typedef struct gen_job {
    const bench_buf *buf;
    sigfuse_buffer host;   /* in the storage dtype */
    sigfuse_buffer ref;    /* the reference's copy */
    uint64_t stream;
    int64_t ref_count;
} gen_job;

static void gen_piece(void *arg, int piece, int64_t begin, int64_t end)
{
    (void)piece;
    const gen_job *g = arg;
    for (int64_t e = begin; e < end; e++) {
        uint64_t h = mix64(g->stream + (uint64_t)e * 0x9e3779b97f4a7c15ULL);
        const double u = (double)(h >> 11) * 0x1p-53;
        double v = !g->buf->binary     ? g->buf->lo + (g->buf->hi - g->buf->lo) * u
                   : g->buf->hi == 0.5 ? (double)(h >> 63)
                                       : (double)(u < g->buf->hi);
        sf_host_store(&g->host, e, v);
        if (e < g->ref_count)   /* exactly the stored value: the dtype's rounding is part of the input */
            sf_host_store(&g->ref, e, sf_host_load(&g->host, e));
    }
}

/* ---- Structured inputs: the CSR positives and the shards' top-k lists (bench_gen) ------------ */

static uint64_t draw(uint64_t stream, int64_t e) { return mix64(stream + (uint64_t)e * 0x9e3779b97f4a7c15ULL); }
static double unit(uint64_t h) { return (double)(h >> 11) * 0x1p-53; }

static int cmp_i64(const void *a, const void *b)
{
    const int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Row r's BENCH_POSITIVES ids in [0, labels): log-uniform ranks (P(j) about 1 / (j + 1),
 * the Zipf-like frequencies of XMC labels, the frequent ones first), sorted, bumped to be
 * strictly increasing and held below `labels`. */
static void csr_row(uint64_t stream, int64_t r, int64_t labels, int64_t *id)
{
    const int p = BENCH_POSITIVES;
    for (int j = 0; j < p; j++) {
        const double rank = floor(exp(unit(draw(stream, r * p + j)) * log((double)labels + 1.0))) - 1.0;
        id[j] = rank < 0.0 ? 0 : rank > (double)(labels - 1) ? labels - 1 : (int64_t)rank;
    }
    qsort(id, (size_t)p, sizeof *id, cmp_i64);
    for (int j = 1; j < p; j++)
        if (id[j] <= id[j - 1])
            id[j] = id[j - 1] + 1;
    for (int j = 0; j < p; j++)   /* min of two increasing sequences: still increasing */
        if (id[j] > labels - p + j)
            id[j] = labels - p + j;
}

/* Each shard's list of a row, [shards, N, k]: k logits drawn in [lo, hi], rounded to the
 * dtype, best first; ids distinct over the shards (shard s owns [s 2^26, (s + 1) 2^26)),
 * increasing along a list, so that equal logits are in head_topk's order too. */
static void list_block(const bench_buf *b, uint64_t stream, int64_t block, int64_t k, int64_t n,
                       const sigfuse_buffer *host, double *logit)
{
    for (int64_t j = 0; j < k; j++) {
        sf_host_store(host, block * k + j, b->lo + (b->hi - b->lo) * unit(draw(stream, block * k + j)));
        logit[j] = -sf_host_load(host, block * k + j);
    }
    qsort(logit, (size_t)k, sizeof *logit, compare_f64);
    for (int64_t j = 0; j < k; j++)
        logit[j] = -logit[j];
    (void)n;
}

static bool gen_structured(const instance *in, const bench_buf *b, uint64_t stream, const sigfuse_buffer *host,
                           const sigfuse_buffer *ref, int64_t count, int64_t ref_count)
{
    const int64_t p = BENCH_POSITIVES, k = in->shape.cols, n = in->shape.rows;
    double *logit = NULL;
    if (b->gen == GEN_LIST_LOGITS && !(logit = malloc(sizeof *logit * (size_t)k)))
        return bench_fail("out of host memory");
    int64_t id[BENCH_POSITIVES];
    for (int64_t e = 0; e < count; e++) {
        double v = 0.0;
        switch (b->gen) {
        case GEN_CSR_OFFSETS: v = (double)(e * p); break;
        case GEN_CSR_LABELS:
            if (e % p == 0)
                csr_row(stream, e / p, in->shape.cols, id);
            v = (double)id[e % p];
            break;
        case GEN_LIST_LABELS: v = (double)(((e / k) / n) * ((int64_t)1 << 26) + ((e / k) % n * k + e % k) % ((int64_t)1 << 26)); break;
        case GEN_LIST_LOGITS:
            if (e % k == 0)
                list_block(b, stream, e / k, k, n, host, logit);
            v = logit[e % k];
            break;
        case GEN_DRAW: break;
        }
        sf_host_store(host, e, v);
        if (e < ref_count)
            sf_host_store(ref, e, sf_host_load(host, e));
    }
    free(logit);
    return true;
}

/* Layout, byte count, and the inputs on the host. */
bool bench_instance_init(instance *in, const bench_case *c, sigfuse_dtype dtype, const bench_shape *shape)
{
    memset(in, 0, sizeof *in);
    in->c = c;
    in->dtype = dtype;
    in->shape = *shape;
    in->nbuf = bench_case_layout(c, shape, in->buf);
    in->flops = bench_case_flops(c, shape);

    in->row_cost = in->flops / (double)(shape->rows ? shape->rows : 1);
    for (int i = 0; i < in->nbuf; i++) {
        const bench_buf *b = &in->buf[i];
        in->bytes += (double)b->reads * (double)buf_count(b, shape->rows) * (double)sigfuse_dtype_size(buf_dtype(b, dtype));
        if (b->span == SPAN_ROWS)
            in->row_cost += (double)b->count;
    }
    in->check_rows = shape->rows;
    if ((double)shape->rows * in->row_cost > REF_BUDGET && bench_case_splits(c))
        in->check_rows = (int64_t)fmax(1.0, floor(REF_BUDGET / in->row_cost));

    for (int i = 0; i < in->nbuf; i++) {
        const bench_buf *b = &in->buf[i];
        const int64_t ref_count = buf_count(b, in->check_rows);
        in->ref[i] = malloc((size_t)ref_count * sigfuse_dtype_size(ref_dtype(b)) + 1);
        if (!in->ref[i])
            return bench_fail("cannot allocate the reference's %s", b->name);
        if (b->output)
            continue;
        const int64_t count = buf_count(b, shape->rows);
        in->host[i] = malloc((size_t)count * sigfuse_dtype_size(buf_dtype(b, dtype)) + 1);
        if (!in->host[i])
            return bench_fail("cannot allocate the host copy of %s", b->name);
        gen_job g = {b, sigfuse_host_buffer(in->host[i], buf_dtype(b, dtype)),
                     sigfuse_host_buffer(in->ref[i], ref_dtype(b)), mix64(BENCH_SEED ^ ((uint64_t)(i + 1) << 32)),
                     ref_count};
        if (b->gen != GEN_DRAW) {
            if (!gen_structured(in, b, g.stream, &g.host, &g.ref, count, ref_count))
                return false;
        } else {
            bench_run_pieces(bench_pieces_for(count, 64.0), count, gen_piece, &g);
        }
        /* A MEAN with a mask divides by the elements it keeps: count them once. */
        if (strcmp(b->name, "mask") == 0) {
            const sigfuse_buffer mb = sigfuse_host_buffer(in->host[i], SIGFUSE_U8);
            in->shape.kept = 0;
            for (int64_t e = 0; e < count; e++)
                in->shape.kept += sf_host_load(&mb, e) != 0.0;
        }
    }
    return true;
}

/* ---- The reference ------------------------------------------------------------------------------ */

typedef struct ref_job {
    const instance *in;
    bench_shape whole;                           /* the first check_rows rows of the problem */
    int pieces;
    double *partial[MAX_THREADS][BENCH_MAX_BUFS]; /* each piece's reduced outputs (pieces > 1) */
    sigfuse_status status[MAX_THREADS];
    char message[MAX_THREADS][256];
} ref_job;

static void ref_piece(void *arg, int piece, int64_t begin, int64_t end)
{
    ref_job *job = arg;
    const instance *in = job->in;
    bench_shape s = job->whole;
    s.rows = end - begin;

    sigfuse_buffer b[BENCH_MAX_BUFS];
    for (int i = 0; i < in->nbuf; i++) {
        const bench_buf *bb = &in->buf[i];
        b[i] = sigfuse_host_buffer(in->ref[i], ref_dtype(bb));
        if (bb->span == SPAN_ROWS)
            b[i].offset = (size_t)(begin * bb->count) * sigfuse_dtype_size(ref_dtype(bb));
        else if (bb->output && job->pieces > 1)
            b[i].ptr = job->partial[piece][i];
    }

    sigfuse_ctx *ctx = NULL;
    void *ws = NULL;
    size_t ws_bytes = 0;
    sigfuse_status st = sigfuse_ctx_create(&ctx, SIGFUSE_BACKEND_CPU);
    if (st == SIGFUSE_SUCCESS && sf_op_infos[in->c->op].workspace)
        st = bench_case_workspace(in->c, ctx, &s, b, 0, &ws_bytes);
    if (st == SIGFUSE_SUCCESS && ws_bytes > 0 && !(ws = malloc(ws_bytes)))
        st = SIGFUSE_ERR_OUT_OF_MEMORY;
    sigfuse_buffer wsb = sigfuse_host_buffer(ws, SIGFUSE_U8);
    if (st == SIGFUSE_SUCCESS)
        st = bench_case_run(in->c, ctx, &s, b, ws ? &wsb : NULL, ws_bytes);
    job->status[piece] = st;
    snprintf(job->message[piece], sizeof job->message[piece], "%s", ctx ? sigfuse_ctx_last_error(ctx) : "");
    free(ws);
    sigfuse_ctx_destroy(ctx);
}

/* The reference's outputs for the first check_rows rows, into in->ref. */
bool bench_reference(instance *in)
{
    ref_job *job = calloc(1, sizeof *job);
    if (!job)
        return bench_fail("out of host memory");
    job->in = in;
    job->whole = in->shape;
    job->whole.rows = in->check_rows;
    job->pieces = bench_case_splits(in->c) ? bench_pieces_for(in->check_rows, in->row_cost) : 1;

    bool ok = true;
    for (int p = 0; p < job->pieces && job->pieces > 1; p++)
        for (int i = 0; i < in->nbuf; i++)
            if (in->buf[i].output && in->buf[i].span != SPAN_ROWS)
                ok = ok && (job->partial[p][i] = malloc((size_t)in->buf[i].count * sizeof(double)));
    if (!ok) {
        bench_fail("out of host memory for the reference's partial sums");
    } else {
        bench_run_pieces(job->pieces, in->check_rows, ref_piece, job);
        for (int p = 0; p < job->pieces && ok; p++)
            if (job->status[p] != SIGFUSE_SUCCESS)
                ok = bench_fail("the reference failed: %s (%s)", sigfuse_status_string(job->status[p]),
                                job->message[p]);
    }

    /* Add up the pieces' reduced outputs in piece order; a MEAN over the whole divides
     * once at the end, as the whole would have. */
    const bool whole_problem = job->whole.rows == job->whole.total_rows;
    for (int i = 0; i < in->nbuf && ok && job->pieces > 1; i++) {
        const bench_buf *b = &in->buf[i];
        if (!b->output || b->span == SPAN_ROWS)
            continue;
        double *out = in->ref[i];
        for (int64_t e = 0; e < b->count; e++) {
            double sum = 0.0;
            for (int p = 0; p < job->pieces; p++)
                sum += job->partial[p][i][e];
            if (b->span == SPAN_MEAN && whole_problem)
                sum /= bench_mean_count(&job->whole);
            out[e] = sum;
        }
    }
    for (int p = 0; p < job->pieces; p++)
        for (int i = 0; i < in->nbuf; i++)
            free(job->partial[p][i]);
    free(job);
    return ok;
}

/* ---- Shapes ---------------------------------------------------------------------------------------- */

static bool is_pow2(int64_t n) { return n > 0 && (n & (n - 1)) == 0; }

static int log2_of(int64_t n)
{
    int k = 0;
    while ((int64_t)1 << k < n)
        k++;
    return k;
}

/* The shapes of a family at a backend's sizes; returns how many. */
int bench_family_shapes(bench_family f, const bench_sizes *sz, bench_shape *out, char (*label)[48])
{
    int n = 0;
    switch (f) {
    case FAMILY_ELEMENTWISE:
    case FAMILY_LOSS:
        for (int i = 0; i < COUNT_OF(sz->elementwise) && sz->elementwise[i] > 0; i++) {
            int64_t total = sz->elementwise[i];
            int64_t cols = 1;
            if (f == FAMILY_LOSS)   /* labels as columns: the largest divisor up to 1024 */
                for (cols = total < 1024 ? total : 1024; total % cols; cols--)
                    ;
            out[n] = (bench_shape){total / cols, cols, 0, total / cols, 0};
            if (f == FAMILY_LOSS)
                snprintf(label[n], 48, "%lldx%lld", (long long)(total / cols), (long long)cols);
            else if (is_pow2(total))
                snprintf(label[n], 48, "n=2^%d", log2_of(total));
            else
                snprintf(label[n], 48, "n=%lld", (long long)total);
            n++;
        }
        break;
    case FAMILY_CELL:
        for (int i = 0; i < COUNT_OF(sz->cell) && sz->cell[i][0] > 0; i++, n++) {
            out[n] = (bench_shape){sz->cell[i][0], sz->cell[i][1], 0, sz->cell[i][0], 0};
            snprintf(label[n], 48, "B=%lld,H=%lld", (long long)sz->cell[i][0], (long long)sz->cell[i][1]);
        }
        break;
    case FAMILY_HEAD:
        for (int i = 0; i < COUNT_OF(sz->head) && sz->head[i][0] > 0; i++, n++) {
            out[n] = (bench_shape){sz->head[i][0], sz->head[i][2], sz->head[i][1], sz->head[i][0], 0};
            snprintf(label[n], 48, "N=%lld,D=%lld,L=%lld", (long long)sz->head[i][0], (long long)sz->head[i][1],
                     (long long)sz->head[i][2]);
        }
        break;
    }
    return n;
}

/* The largest divisor of n up to `most`. */
static int64_t divisor_up_to(int64_t n, int64_t most)
{
    int64_t d = n < most ? n : most;
    while (d > 1 && n % d)
        d--;
    return d;
}

/* The shapes of a case: its family's, or its own [rows, cols] (bench_case_own_shape) at the
 * backend's default sizes (`defaults`), or its rows dividing each size. */
int bench_case_shapes(const bench_case *c, const bench_sizes *sz, bool defaults, bench_shape *out, char (*label)[48])
{
    int64_t own_rows, own_cols;
    if (bench_case_xmc(c)) {   /* the backend's xmc sizes; topk_merge: their N, k = BENCH_TOPK */
        int n = 0;
        for (int i = 0; i < COUNT_OF(sz->xmc) && sz->xmc[i][0] > 0; i++, n++) {
            const int64_t rows = sz->xmc[i][0], d = sz->xmc[i][1], l = sz->xmc[i][2];
            if (c->op == SF_OP_topk_merge) {
                out[n] = (bench_shape){rows, BENCH_TOPK, 0, rows, 0};
                snprintf(label[n], 48, "N=%lld,k=%d,shards=%d", (long long)rows, BENCH_TOPK, BENCH_SHARDS);
            } else {
                out[n] = (bench_shape){rows, l, d, rows, 0};
                snprintf(label[n], 48, "N=%lld,D=%lld,L=%lld", (long long)rows, (long long)d, (long long)l);
            }
        }
        return n;
    }
    if (!bench_case_own_shape(c, &own_rows, &own_cols))
        return bench_family_shapes(bench_case_family(c), sz, out, label);
    int n = 0;
    for (int i = 0; i < COUNT_OF(sz->elementwise) && sz->elementwise[i] > 0 && (n == 0 || !defaults); i++) {
        const int64_t total = defaults ? own_rows * own_cols : sz->elementwise[i];
        const int64_t rows = divisor_up_to(total, own_rows);
        out[n] = (bench_shape){rows, total / rows, 0, rows, 0};
        snprintf(label[n], 48, "%lldx%lld", (long long)rows, (long long)(total / rows));
        n++;
    }
    return n;
}
