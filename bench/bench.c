/* SPDX-License-Identifier: MIT */
/*
 * sigfuse-bench: times every op of the catalogue (cases.c) on every backend present,
 * after checking its output against the CPU reference, and prints op, dtype, size,
 * backend, median time, GB/s of the fewest bytes the op must move, and the percentage of
 * a copy measured in the same run (device to device; a host memcpy for the cpu reference).
 *
 * For each case, dtype and size:
 *  1. inputs are drawn on the host from a fixed-seed generator (every element a pure
 *     function of seed, buffer and index) and rounded to their dtype;
 *  2. the reference computes the outputs in double from f64 copies of those inputs,
 *     its rows split over threads (a piece sums its loss; the pieces are added up);
 *     a head too large for that is checked on its first rows only;
 *  3. the backend runs on uploaded inputs with poisoned outputs, twice: the first run must
 *     write every output element and match the reference within a tolerance per dtype,
 *     the second must repeat the first bit for bit;
 *  4. after a warm-up, R timed reps; reps rotate over copies of the buffers when one set
 *     would fit twice in the device's last-level cache, so that no rep hits in it.
 *
 * A head's row is followed by a row timing its matrix products alone (cuBLAS on cuda,
 * CLBlast on opencl: the backend's head_gemms) on the same buffers and row chunks, and by
 * a line with the head's time as a multiple of theirs and its workspace beside what an
 * unfused head must hold (docs/design.md, Performance).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "sf_internal.h" /* sf_host_load / sf_host_store / sf_round_to_dtype: any dtype on the host */

#ifdef SIGFUSE_BENCH_HAVE_COMMIT_H
#include "bench_commit.h"
#endif
#ifndef SIGFUSE_BENCH_COMMIT
#define SIGFUSE_BENCH_COMMIT "unknown"
#endif

#define COUNT_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Every input element is a function of this seed, its buffer and its index. */
#define BENCH_SEED 0x5eedf00dULL
/* Work (elements touched plus flops) the reference may do per case; past it, a case is
 * checked on its first rows (only the CUDA heads come near). The reference costs tens of
 * ns per element and several per flop of a head on one core, so this budget keeps the
 * whole default CUDA run, checks included, to a few minutes (bench/NOTES.md has the
 * times). */
#ifndef REF_BUDGET   /* (both overridable, to test the splitting on tiny sizes) */
#define REF_BUDGET 1073741824.0
#endif
/* Smallest work worth a thread of its own. */
#ifndef PIECE_GRAIN
#define PIECE_GRAIN 1048576.0
#endif
#define MAX_THREADS 64
/* Copies of one case's buffers that reps rotate over, at most. */
#define MAX_SETS 64
/* Largest workspace the heads get; larger needs mean smaller chunks. */
#define WORKSPACE_CAP ((size_t)1 << 30)
/* Every byte of a poisoned output: a NaN in f32, f16 and bf16 no kernel produces. */
#define POISON 0xFF

/* ---- Errors and threads -------------------------------------------------------------------- */

/* Shorter than a row's note, which quotes it after a few words. */
static char error_message[400];

bool bench_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error_message, sizeof error_message, fmt, ap);
    va_end(ap);
    return false;
}

const char *bench_last_error(void) { return error_message; }

static int thread_count = 1;

typedef void (*piece_fn)(void *arg, int piece, int64_t begin, int64_t end);

typedef struct piece_task {
    piece_fn fn;
    void *arg;
    int piece;
    int64_t begin, end;
} piece_task;

static void *piece_main(void *p)
{
    piece_task *t = p;
    t->fn(t->arg, t->piece, t->begin, t->end);
    return NULL;
}

/* How many pieces n items of `cost` each are worth: at least PIECE_GRAIN of work each. */
static int pieces_for(int64_t n, double cost)
{
    double want = (double)n * cost / PIECE_GRAIN;
    int pieces = want >= thread_count ? thread_count : (int)want;
    if ((int64_t)pieces > n)
        pieces = (int)n;
    return pieces < 1 ? 1 : pieces;
}

/* Run fn on `pieces` contiguous ranges of [0, n), in parallel. */
static void run_pieces(int pieces, int64_t n, piece_fn fn, void *arg)
{
    piece_task task[MAX_THREADS];
    pthread_t thread[MAX_THREADS];
    bool started[MAX_THREADS] = {false};
    for (int p = 0; p < pieces; p++)
        task[p] = (piece_task){fn, arg, p, n * p / pieces, n * (p + 1) / pieces};
    for (int p = 1; p < pieces; p++)
        started[p] = pthread_create(&thread[p], NULL, piece_main, &task[p]) == 0;
    piece_main(&task[0]);
    for (int p = 1; p < pieces; p++) {
        if (started[p])
            pthread_join(thread[p], NULL);
        else
            piece_main(&task[p]);
    }
}

/* ---- The CPU backend's memory: the host ---------------------------------------------------- */

static bool cpu_open(void **state, sigfuse_ctx **ctx)
{
    *state = calloc(1, sizeof(struct timespec));
    if (!*state)
        return bench_fail("out of host memory");
    sigfuse_status st = sigfuse_ctx_create(ctx, SIGFUSE_BACKEND_CPU);
    if (st != SIGFUSE_SUCCESS)
        return bench_fail("%s", sigfuse_last_create_error());
    return true;
}
static void cpu_close(void *state) { free(state); }
static size_t cpu_cache_bytes(void *state)
{
    (void)state;
    return 0;   /* the reference is compute-bound: nothing to gain from rotating buffers */
}
static void *cpu_alloc(void *state, size_t bytes)
{
    (void)state;
    void *p = malloc(bytes ? bytes : 1);
    if (!p)
        bench_fail("cannot allocate %zu bytes of host memory", bytes);
    return p;
}
static void cpu_free(void *state, void *ptr)
{
    (void)state;
    free(ptr);
}
static bool cpu_copy(void *state, void *dst, const void *src, size_t bytes)
{
    (void)state;
    memcpy(dst, src, bytes);
    return true;
}
static bool cpu_fill(void *state, void *dst, int byte, size_t bytes)
{
    (void)state;
    memset(dst, byte, bytes);
    return true;
}
static bool cpu_sync(void *state)
{
    (void)state;
    return true;
}
static bool cpu_timer_start(void *state)
{
    clock_gettime(CLOCK_MONOTONIC, (struct timespec *)state);
    return true;
}
static bool cpu_timer_stop(void *state, double *seconds)
{
    struct timespec now, *start = state;
    clock_gettime(CLOCK_MONOTONIC, &now);
    *seconds = (double)(now.tv_sec - start->tv_sec) + 1e-9 * (double)(now.tv_nsec - start->tv_nsec);
    return true;
}

static const bench_backend cpu_backend = {
    .name = "cpu",
    .backend = SIGFUSE_BACKEND_CPU,
    .reps = 5,
    .warmup = 1,
    /* A host memcpy past the last-level cache: the reference's rows then have a %copy
     * too (how far the definition, computing in double, is from moving its bytes at copy
     * speed), and bench/plot.py can draw a cpu run. */
    .copy_bytes = (size_t)256 << 20,
    /* Small: the reference computes in double and is slow. */
    .sizes = {.elementwise = {1 << 16, 1 << 20}, .cell = {{64, 1024}}, .head = {{256, 256, 64}}},
    .open = cpu_open,
    .close = cpu_close,
    .cache_bytes = cpu_cache_bytes,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .buffer = sigfuse_host_buffer,
    .upload = cpu_copy,
    .download = cpu_copy,
    .fill = cpu_fill,
    .copy = cpu_copy,
    .sync = cpu_sync,
    .timer_start = cpu_timer_start,
    .timer_stop = cpu_timer_stop,
};

/* The backends in the order they are run; NULL table: not built into this bench. */
static const struct {
    const char *name;
    sigfuse_backend backend;
    const bench_backend *table;
} backends[] = {
    {"cpu", SIGFUSE_BACKEND_CPU, &cpu_backend},
#ifdef SIGFUSE_WITH_CUDA
    {"cuda", SIGFUSE_BACKEND_CUDA, &bench_cuda_backend},
#else
    {"cuda", SIGFUSE_BACKEND_CUDA, NULL},
#endif
#ifdef SIGFUSE_WITH_OPENCL
    {"opencl", SIGFUSE_BACKEND_OPENCL, &bench_opencl_backend},
#else
    {"opencl", SIGFUSE_BACKEND_OPENCL, NULL},
#endif
};

/* ---- Options ----------------------------------------------------------------------------------- */

static const sigfuse_dtype all_dtypes[] = {SIGFUSE_F32, SIGFUSE_F16, SIGFUSE_BF16};

static struct {
    bool backend[COUNT_OF(backends)];
    bool any_backend;
    const char *op[32];
    int op_count;
    bool dtype[COUNT_OF(all_dtypes)];
    bool any_dtype;
    int64_t size;
    int64_t head_chunk;   /* rows per chunk of the heads' workspace; 0: the library's default (within WORKSPACE_CAP) */
    int reps;
    const char *csv, *json;
    bool quick;
} opt;

static const bench_sizes quick_sizes = {
    /* Odd sizes, so that tails past any vector width are checked too. */
    .elementwise = {3003}, .cell = {{5, 37}}, .head = {{13, 40, 24}}};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sigfuse-bench [options]\n"
            "Checks every op against the CPU reference, then times it.\n"
            "  --backend B   cpu, cuda or opencl (repeatable, or a comma list); default: all available\n"
            "  --op NAME     only cases whose name contains NAME (repeatable, or a comma list);\n"
            "                a case's exact name selects that case only\n"
            "  --dtype D     f32, f16 or bf16 (repeatable, or a comma list); default: all three\n"
            "  --size N      elementwise and loss cases on N elements instead of the defaults\n"
            "  --head-chunk R  give the heads a workspace for chunks of R rows (default: the\n"
            "                library's, at most an unfused head's N x L logits, within 1 GiB);\n"
            "                less workspace, more and smaller matrix products\n"
            "  --reps R      timed repetitions (default: 20 on cuda, 10 on opencl, 5 on cpu)\n"
            "  --csv FILE    also write the results as CSV\n"
            "  --json FILE   also write the results as JSON (with device, date and commit)\n"
            "  --quick       tiny sizes and 3 reps (CI: checks every op runs and is right)\n"
            "  --list        list the cases with their byte counts, and the backends\n"
            "  --help        this text\n"
            "Each head row is followed by a row timing its matrix products alone (cuBLAS on cuda,\n"
            "CLBlast on opencl; same shapes, types and chunks) and by a line with the head's time\n"
            "as a multiple of theirs and its workspace beside what an unfused head holds at once.\n"
            "Exit status: 0 when every row passed its check, 1 when one failed, 2 for bad usage.\n");
}

static bool parse_list(const char *value, bool (*add)(const char *item))
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", value);
    for (char *save = NULL, *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save))
        if (!add(item))
            return false;
    return true;
}

static bool add_backend(const char *name)
{
    for (int i = 0; i < COUNT_OF(backends); i++)
        if (strcmp(name, backends[i].name) == 0) {
            opt.backend[i] = opt.any_backend = true;
            return true;
        }
    fprintf(stderr, "sigfuse-bench: unknown backend '%s' (cpu, cuda, opencl)\n", name);
    return false;
}

static bool add_dtype(const char *name)
{
    for (int i = 0; i < COUNT_OF(all_dtypes); i++)
        if (strcmp(name, sigfuse_dtype_name(all_dtypes[i])) == 0) {
            opt.dtype[i] = opt.any_dtype = true;
            return true;
        }
    fprintf(stderr, "sigfuse-bench: unknown dtype '%s' (f32, f16, bf16)\n", name);
    return false;
}

static bool add_op(const char *name)
{
    if (opt.op_count == COUNT_OF(opt.op)) {
        fprintf(stderr, "sigfuse-bench: too many --op filters\n");
        return false;
    }
    char *copy = malloc(strlen(name) + 1);
    if (!copy)
        return false;
    strcpy(copy, name);
    opt.op[opt.op_count++] = copy;
    return true;
}

static bool parse_count(const char *flag, const char *value, int64_t lo, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(value, &end, 0);
    if (errno || *end || v < lo) {
        fprintf(stderr, "sigfuse-bench: %s wants an integer >= %lld, not '%s'\n", flag, (long long)lo, value);
        return false;
    }
    *out = v;
    return true;
}

static bool case_selected(const bench_case *c)
{
    if (opt.op_count == 0)
        return true;
    for (int i = 0; i < opt.op_count; i++) {
        bool exact = false;
        for (int k = 0; k < bench_case_count; k++)
            exact = exact || strcmp(bench_cases[k].name, opt.op[i]) == 0;
        if (exact ? strcmp(c->name, opt.op[i]) == 0 : strstr(c->name, opt.op[i]) != NULL)
            return true;
    }
    return false;
}

/* ---- Buffers of a case ---------------------------------------------------------------------------- */

static sigfuse_dtype buf_dtype(const bench_buf *b, sigfuse_dtype dtype)
{
    return b->kind == KIND_U8 ? SIGFUSE_U8 : b->kind == KIND_F32 ? SIGFUSE_F32 : dtype;
}

/* The reference computes in f64; u8 targets stay u8 and the loss scalar may be f64. */
static sigfuse_dtype ref_dtype(const bench_buf *b) { return b->kind == KIND_U8 ? SIGFUSE_U8 : SIGFUSE_F64; }

static int64_t buf_count(const bench_buf *b, int64_t rows) { return b->span == SPAN_ROWS ? rows * b->count : b->count; }

/* One case at one dtype and shape: its inputs, and what the reference says. */
typedef struct instance {
    const bench_case *c;
    sigfuse_dtype dtype;
    bench_shape shape;            /* the timed problem */
    bench_buf buf[BENCH_MAX_BUFS];
    int nbuf;
    int64_t check_rows;           /* rows the reference computes: all, or the first ones */
    void *host[BENCH_MAX_BUFS];   /* inputs in their dtype, every row (outputs: NULL) */
    void *ref[BENCH_MAX_BUFS];    /* inputs (f64, u8) and reference outputs (f64), check_rows rows */
    double bytes, flops;
    double row_cost;              /* the reference's work per row: elements touched + flops */
} instance;

static void instance_free(instance *in)
{
    for (int i = 0; i < in->nbuf; i++) {
        free(in->host[i]);
        free(in->ref[i]);
        in->host[i] = in->ref[i] = NULL;
    }
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
        double v = g->buf->binary ? (double)(h >> 63)
                                  : g->buf->lo + (g->buf->hi - g->buf->lo) * ((double)(h >> 11) * 0x1p-53);
        sf_host_store(&g->host, e, v);
        if (e < g->ref_count)   /* exactly the stored value: the dtype's rounding is part of the input */
            sf_host_store(&g->ref, e, sf_host_load(&g->host, e));
    }
}

/* Layout, byte count, and the inputs on the host. */
static bool instance_init(instance *in, const bench_case *c, sigfuse_dtype dtype, const bench_shape *shape)
{
    memset(in, 0, sizeof *in);
    in->c = c;
    in->dtype = dtype;
    in->shape = *shape;
    in->nbuf = c->layout(shape, in->buf);
    in->flops = c->flops ? c->flops(shape) : 0.0;

    in->row_cost = in->flops / (double)(shape->rows ? shape->rows : 1);
    for (int i = 0; i < in->nbuf; i++) {
        const bench_buf *b = &in->buf[i];
        in->bytes += (double)buf_count(b, shape->rows) * (double)sigfuse_dtype_size(buf_dtype(b, dtype));
        if (b->span == SPAN_ROWS)
            in->row_cost += (double)b->count;
    }
    in->check_rows = shape->rows;
    if ((double)shape->rows * in->row_cost > REF_BUDGET)
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
        run_pieces(pieces_for(count, 64.0), count, gen_piece, &g);
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
    if (st == SIGFUSE_SUCCESS && in->c->workspace)
        st = in->c->workspace(ctx, &s, b, 0, &ws_bytes);
    if (st == SIGFUSE_SUCCESS && ws_bytes > 0 && !(ws = malloc(ws_bytes)))
        st = SIGFUSE_ERR_OUT_OF_MEMORY;
    sigfuse_buffer wsb = sigfuse_host_buffer(ws, SIGFUSE_U8);
    if (st == SIGFUSE_SUCCESS)
        st = in->c->run(ctx, &s, b, ws ? &wsb : NULL, ws_bytes);
    job->status[piece] = st;
    snprintf(job->message[piece], sizeof job->message[piece], "%s", ctx ? sigfuse_ctx_last_error(ctx) : "");
    free(ws);
    sigfuse_ctx_destroy(ctx);
}

/* The reference's outputs for the first check_rows rows, into in->ref. */
static bool reference(instance *in)
{
    ref_job *job = calloc(1, sizeof *job);
    if (!job)
        return bench_fail("out of host memory");
    job->in = in;
    job->whole = in->shape;
    job->whole.rows = in->check_rows;
    job->pieces = pieces_for(in->check_rows, in->row_cost);

    bool ok = true;
    for (int p = 0; p < job->pieces && job->pieces > 1; p++)
        for (int i = 0; i < in->nbuf; i++)
            if (in->buf[i].output && in->buf[i].span != SPAN_ROWS)
                ok = ok && (job->partial[p][i] = malloc((size_t)in->buf[i].count * sizeof(double)));
    if (!ok) {
        bench_fail("out of host memory for the reference's partial sums");
    } else {
        run_pieces(job->pieces, in->check_rows, ref_piece, job);
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
                sum /= (double)job->whole.total_rows * (double)job->whole.cols;
            out[e] = sum;
        }
    }
    for (int p = 0; p < job->pieces; p++)
        for (int i = 0; i < in->nbuf; i++)
            free(job->partial[p][i]);
    free(job);
    return ok;
}

/* ---- Checking a backend's outputs ------------------------------------------------------------------- */

/* Tolerance of an output element: |got - ref| <= rel |ref| + abs. The storage formats
 * allow 2 ulp (f16: 2 * 2^-10, bf16: 2 * 2^-7), and f16 two steps of its subnormals
 * (2 * 2^-24), where MEAN gradients of large problems land; f32 allows for f32 compute
 * against the reference's double. The rest of the absolute part is relative to the
 * output's largest element (cancellation in f32 is relative to the terms, not the
 * result), so that small outputs such as MEAN gradients are still checked. Matrix
 * products (cuBLAS may reorder sums, use TF32) are checked relative to the output's norm. */
static void tolerance(const instance *in, sigfuse_dtype dtype, double norm, double *rel, double *abs)
{
    const double ulps = dtype == SIGFUSE_F16 ? 2e-3 : dtype == SIGFUSE_BF16 ? 1.6e-2 : 1e-4;
    const double subnormals = dtype == SIGFUSE_F16 ? 0x1p-23 : 0.0;
    if (in->c->gemm) {
        *rel = 0.0;
        *abs = fmax(1e-2, ulps) * norm + subnormals;
    } else {
        *rel = ulps;
        *abs = 1e-5 * norm + subnormals;
    }
}

typedef struct compare_job {
    sigfuse_buffer got;
    const double *ref;
    double rel, abs;
    int64_t first_bad[MAX_THREADS];
    int64_t bad[MAX_THREADS];
} compare_job;

static bool close_enough(double got, double want, double rel, double abs)
{
    return got == want || fabs(got - want) <= rel * fabs(want) + abs;   /* NaN fails */
}

static void compare_piece(void *arg, int piece, int64_t begin, int64_t end)
{
    compare_job *job = arg;
    job->first_bad[piece] = -1;
    job->bad[piece] = 0;
    for (int64_t e = begin; e < end; e++) {
        double want = sf_round_to_dtype(job->ref[e], job->got.dtype);
        if (!close_enough(sf_host_load(&job->got, e), want, job->rel, job->abs)) {
            if (job->first_bad[piece] < 0)
                job->first_bad[piece] = e;
            job->bad[piece]++;
        }
    }
}

/* Compare `count` elements of a downloaded output with the reference. */
static bool compare_output(const instance *in, const bench_buf *b, const void *got, sigfuse_dtype dtype,
                           const double *ref, int64_t count, char *note, size_t note_size)
{
    double norm = 0.0;
    for (int64_t e = 0; e < count; e++)
        norm = fmax(norm, fabs(ref[e]));
    if (norm == 0.0 && count > 0) {
        snprintf(note, note_size, "%s: the reference output is all zeros (a case that checks nothing)", b->name);
        return false;
    }
    compare_job job = {sigfuse_host_buffer(got, dtype), ref, 0.0, 0.0, {0}, {0}};
    tolerance(in, dtype, norm, &job.rel, &job.abs);
    int pieces = pieces_for(count, 16.0);
    run_pieces(pieces, count, compare_piece, &job);
    int64_t first = -1, bad = 0;
    for (int p = 0; p < pieces; p++) {
        if (first < 0)
            first = job.first_bad[p];
        bad += job.bad[p];
    }
    if (first < 0)
        return true;
    double want = sf_round_to_dtype(ref[first], dtype);
    snprintf(note, note_size, "%s[%lld] = %.9g, reference %.9g (tolerance %.3g); %lld of %lld elements differ",
             b->name, (long long)first, sf_host_load(&job.got, first), want,
             job.rel * fabs(want) + job.abs, (long long)bad, (long long)count);
    return false;
}

/* Index of the first element whose bytes are all still the poison, or -1. */
static int64_t first_poisoned(const unsigned char *p, int64_t count, size_t elem)
{
    for (int64_t e = 0; e < count; e++) {
        size_t k = 0;
        while (k < elem && p[(size_t)e * elem + k] == POISON)
            k++;
        if (k == elem)
            return e;
    }
    return -1;
}

/* ---- Running a case on a backend --------------------------------------------------------------------- */

typedef struct session {
    const bench_backend *be;
    void *state;
    sigfuse_ctx *ctx;
    char device[256];
    int reps, warmup;
    double copy_gbps;   /* 0: not measured */
} session;

typedef struct device_set {
    void *ptr[BENCH_MAX_BUFS];
} device_set;

typedef enum verdict { VERDICT_OK, VERDICT_FAILED, VERDICT_UNSUPPORTED } verdict;

static verdict from_status(const session *se, const char *what, sigfuse_status st, char *note, size_t note_size)
{
    if (st == SIGFUSE_ERR_UNSUPPORTED || st == SIGFUSE_ERR_NOT_BUILT) {
        snprintf(note, note_size, "%s", sigfuse_ctx_last_error(se->ctx));
        return VERDICT_UNSUPPORTED;
    }
    snprintf(note, note_size, "%s: %s (%s)", what, sigfuse_status_string(st), sigfuse_ctx_last_error(se->ctx));
    return VERDICT_FAILED;
}

static void describe(const session *se, const instance *in, const device_set *set, sigfuse_buffer *b)
{
    for (int i = 0; i < in->nbuf; i++)
        b[i] = se->be->buffer(set->ptr[i], buf_dtype(&in->buf[i], in->dtype));
}

static size_t buf_bytes(const instance *in, int i, int64_t rows)
{
    return (size_t)buf_count(&in->buf[i], rows) * sigfuse_dtype_size(buf_dtype(&in->buf[i], in->dtype));
}

/* Run at shape `run` on set 0 twice, outputs poisoned each time. The first run must write
 * every output element it owns and match the reference on the first check_rows rows
 * (reduced outputs too when `check_reduced`); the second must give the same bits. */
static verdict check_run(const session *se, const instance *in, const device_set *set, const bench_shape *run,
                         bool check_reduced, const sigfuse_buffer *ws, size_t ws_bytes, char *note,
                         size_t note_size)
{
    const bench_backend *be = se->be;
    sigfuse_buffer b[BENCH_MAX_BUFS];
    describe(se, in, set, b);
    void *got[2][BENCH_MAX_BUFS] = {{NULL}};
    verdict v = VERDICT_OK;

    for (int pass = 0; pass < 2 && v == VERDICT_OK; pass++) {
        for (int i = 0; i < in->nbuf && v == VERDICT_OK; i++)
            if (in->buf[i].output && !be->fill(se->state, set->ptr[i], POISON, buf_bytes(in, i, in->shape.rows))) {
                snprintf(note, note_size, "poisoning %s: %s", in->buf[i].name, bench_last_error());
                v = VERDICT_FAILED;
            }
        if (v != VERDICT_OK || !be->sync(se->state)) {
            if (v == VERDICT_OK)
                snprintf(note, note_size, "%s", bench_last_error());
            v = VERDICT_FAILED;
            break;
        }
        sigfuse_status st = in->c->run(se->ctx, run, b, ws, ws_bytes);
        if (st == SIGFUSE_SUCCESS)
            st = sigfuse_ctx_synchronize(se->ctx);
        if (st != SIGFUSE_SUCCESS) {
            v = from_status(se, in->c->name, st, note, note_size);
            break;
        }
        for (int i = 0; i < in->nbuf && v == VERDICT_OK; i++) {
            const bench_buf *bb = &in->buf[i];
            if (!bb->output)
                continue;
            const size_t bytes = buf_bytes(in, i, run->rows);
            if (!(got[pass][i] = malloc(bytes + 1))) {
                snprintf(note, note_size, "out of host memory for %s", bb->name);
                v = VERDICT_FAILED;
            } else if (!be->download(se->state, got[pass][i], set->ptr[i], bytes)) {
                snprintf(note, note_size, "downloading %s: %s", bb->name, bench_last_error());
                v = VERDICT_FAILED;
            }
        }
        if (v != VERDICT_OK)
            break;

        for (int i = 0; i < in->nbuf && v == VERDICT_OK; i++) {
            const bench_buf *bb = &in->buf[i];
            if (!bb->output)
                continue;
            const sigfuse_dtype dt = buf_dtype(bb, in->dtype);
            const int64_t count = buf_count(bb, run->rows);
            if (pass == 1) {
                if (memcmp(got[0][i], got[1][i], buf_bytes(in, i, run->rows)) != 0) {
                    snprintf(note, note_size, "%s differs between two runs on the same inputs", bb->name);
                    v = VERDICT_FAILED;
                }
                continue;
            }
            int64_t e = first_poisoned(got[0][i], count, sigfuse_dtype_size(dt));
            if (e >= 0) {
                snprintf(note, note_size, "%s[%lld] was never written (of %lld elements)", bb->name, (long long)e,
                         (long long)count);
                v = VERDICT_FAILED;
            } else if (bb->span == SPAN_ROWS || check_reduced) {
                if (!compare_output(in, bb, got[0][i], dt, in->ref[i], buf_count(bb, in->check_rows), note,
                                    note_size))
                    v = VERDICT_FAILED;
            }
        }
    }
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < in->nbuf; i++)
            free(got[pass][i]);
    return v;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One row of the results. */
typedef struct result {
    const char *backend;
    char device[256];
    const char *op;
    const char *dtype;
    char size[48];
    bench_shape shape;
    double bytes, flops;
    int reps, sets;
    double median, min, max;   /* seconds; NAN when not timed */
    double gbps, pct_copy, gflops;
    /* Heads (NAN or 0 elsewhere): the median of their products alone and this row's time
     * as a multiple of it; the workspace the op was given, the rows per chunk it walks
     * with it, and the bytes an unfused head holds at once (see unfused_bytes). */
    double gemms_s, vs_gemms;
    double workspace_bytes, unfused_bytes;
    int64_t chunk_rows;
    const char *status;        /* "ok", "FAILED", "unsupported" */
    char note[512];
    char rerun[256];
} result;

static void result_init(result *r, const session *se, const char *op, const char *dtype, const char *size)
{
    memset(r, 0, sizeof *r);
    r->backend = se->be->name;
    snprintf(r->device, sizeof r->device, "%s", se->device);
    r->op = op;
    r->dtype = dtype;
    snprintf(r->size, sizeof r->size, "%s", size);
    r->median = r->min = r->max = r->gbps = r->pct_copy = r->gflops = NAN;
    r->gemms_s = r->vs_gemms = r->workspace_bytes = r->unfused_bytes = NAN;
}

/* Time `reps` calls of fn after `warmup`; call i gets i (for rotating buffers). fn
 * reports its failures through bench_fail. */
typedef bool (*timed_fn)(void *arg, int i);

static bool time_reps(const session *se, timed_fn fn, void *arg, int reps, int warmup, result *r)
{
    double *t = malloc(sizeof(double) * (size_t)reps);
    if (!t)
        return bench_fail("out of host memory");
    bool ok = true;
    for (int i = 0; i < warmup && ok; i++)
        ok = fn(arg, i);
    ok = ok && se->be->sync(se->state);
    for (int i = 0; i < reps && ok; i++)
        ok = se->be->timer_start(se->state) && fn(arg, warmup + i) && se->be->timer_stop(se->state, &t[i]);
    if (!ok) {
        free(t);
        return false;
    }
    qsort(t, (size_t)reps, sizeof *t, compare_doubles);
    r->reps = reps;
    r->min = t[0];
    r->max = t[reps - 1];
    r->median = reps % 2 ? t[reps / 2] : 0.5 * (t[reps / 2 - 1] + t[reps / 2]);
    free(t);
    return true;
}

typedef struct case_call {
    const session *se;
    const instance *in;
    sigfuse_buffer b[MAX_SETS][BENCH_MAX_BUFS];
    int sets;
    const sigfuse_buffer *ws;
    size_t ws_bytes;
} case_call;

static bool call_case(void *arg, int i)
{
    case_call *cc = arg;
    sigfuse_status st = cc->in->c->run(cc->se->ctx, &cc->in->shape, cc->b[i % cc->sets], cc->ws, cc->ws_bytes);
    if (st != SIGFUSE_SUCCESS)
        return bench_fail("%s (%s)", sigfuse_status_string(st), sigfuse_ctx_last_error(cc->se->ctx));
    return true;
}

/* Workspace for the op on this backend: the library's default chunk (at most an unfused
 * head's logits), or with --head-chunk what chunks of that many rows need; within
 * WORKSPACE_CAP either way. */
static sigfuse_status workspace_bytes(const session *se, const instance *in, const device_set *set, size_t *bytes)
{
    *bytes = 0;
    if (!in->c->workspace)
        return SIGFUSE_SUCCESS;
    sigfuse_buffer b[BENCH_MAX_BUFS];
    describe(se, in, set, b);
    sigfuse_status st = in->c->workspace(se->ctx, &in->shape, b, opt.head_chunk, bytes);
    if (st == SIGFUSE_SUCCESS && *bytes > WORKSPACE_CAP) {
        const int64_t asked = opt.head_chunk > 0 && opt.head_chunk < in->shape.rows ? opt.head_chunk : in->shape.rows;
        int64_t chunk = (int64_t)((double)asked * (double)WORKSPACE_CAP / (double)*bytes);
        st = in->c->workspace(se->ctx, &in->shape, b, chunk > 1 ? chunk : 1, bytes);
    }
    return st;
}

/* ---- A head's products alone ------------------------------------------------------------------------ */

/* The rows per chunk a head walks with ws_bytes of workspace: the largest chunk whose size
 * query fits, found the way the backends find it (pick_chunk in cuda/head.cu and
 * opencl/head.c: a bisection, the size growing with the chunk). */
static int64_t head_chunk(const session *se, const instance *in, const device_set *set, size_t ws_bytes)
{
    sigfuse_buffer b[BENCH_MAX_BUFS];
    describe(se, in, set, b);
    size_t need = 0;
    int64_t lo = 1, hi = in->shape.rows;   /* chunk lo fits (the op ran); find the largest */
    if (in->c->workspace(se->ctx, &in->shape, b, hi, &need) == SIGFUSE_SUCCESS && need <= ws_bytes)
        return hi;
    while (hi - lo > 1) {
        const int64_t mid = lo + (hi - lo) / 2;
        if (in->c->workspace(se->ctx, &in->shape, b, mid, &need) == SIGFUSE_SUCCESS && need <= ws_bytes)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* The bytes an unfused head must hold at once besides its inputs and outputs, in the
 * storage dtype: the N x L logits (predict: Linear, then sigmoid), and for the train step
 * their N x L gradient too (Linear + BCE: autograd keeps the logits for the backward and
 * makes their gradient before the products that consume it). A lower bound: PyTorch's
 * BCE also makes temporaries of that size. */
static double unfused_bytes(const instance *in)
{
    const double logits = (double)in->shape.rows * (double)in->shape.cols * (double)sigfuse_dtype_size(in->dtype);
    return in->c->gemms_train ? 2.0 * logits : logits;
}

static int buf_index(const instance *in, const char *name)
{
    for (int i = 0; i < in->nbuf; i++)
        if (strcmp(in->buf[i].name, name) == 0)
            return i;
    return -1;
}

typedef struct gemms_call {
    const session *se;
    const bench_head_gemms *g;
    void *scratch;
    const device_set *set;
    int sets;
    int x, w, dx, dw;   /* the op's buffers (dx, dw: -1 for predict) */
} gemms_call;

static bool call_gemms(void *arg, int i)
{
    const gemms_call *gc = arg;
    const device_set *s = &gc->set[i % gc->sets];
    return gc->se->be->head_gemms(gc->se->state, gc->g, gc->scratch, s->ptr[gc->x], s->ptr[gc->w],
                                  gc->dx >= 0 ? s->ptr[gc->dx] : NULL, gc->dw >= 0 ? s->ptr[gc->dw] : NULL);
}

/* Time the head's products alone into `base`, a row of its own: on the op's buffer sets,
 * rotated as the op's reps rotate, in the op's chunks, the scratch standing in for its
 * workspace. Their outputs are not checked: they are the op's without the epilogue. */
static void time_head_gemms(const session *se, const instance *in, const device_set *set, int sets,
                            const result *r, result *base)
{
    const bench_backend *be = se->be;
    result_init(base, se, in->c->gemms_row, r->dtype, r->size);
    base->shape = in->shape;
    base->bytes = NAN;   /* bound by their flops; no byte count to compare with a copy */
    base->flops = in->flops;
    base->sets = sets;
    snprintf(base->rerun, sizeof base->rerun, "%s", r->rerun);

    const bench_head_gemms g = {in->dtype, in->shape.rows, in->shape.d, in->shape.cols, r->chunk_rows,
                                in->c->gemms_train};
    gemms_call gc = {se, &g, NULL, set, sets, buf_index(in, "x"), buf_index(in, "w"),
                     g.train ? buf_index(in, "dx") : -1, g.train ? buf_index(in, "dw") : -1};
    bool ok = (gc.x >= 0 && gc.w >= 0 && (!g.train || (gc.dx >= 0 && gc.dw >= 0))) ||
              bench_fail("%s: its layout has no x, w (dx, dw) for the products", in->c->name);
    size_t bytes = 0;
    ok = ok && be->head_gemms_prepare(se->state, &g, &bytes);
    /* 0x3c in every byte is finite in every dtype (0.0115 in f32 and bf16, 1.06 in f16): the
     * gradient operand, where the op has its epilogue's output, must not be NaN or
     * subnormal, which some devices compute more slowly. */
    ok = ok && (gc.scratch = be->alloc(se->state, bytes)) != NULL && be->fill(se->state, gc.scratch, 0x3c, bytes) &&
         be->sync(se->state);
    ok = ok && time_reps(se, call_gemms, &gc, se->reps, se->warmup, base);
    if (gc.scratch)
        be->free(se->state, gc.scratch);
    if (!ok) {
        base->status = "FAILED";
        snprintf(base->note, sizeof base->note, "%s products alone: %s", be->gemm_library, bench_last_error());
        return;
    }
    base->status = "ok";
    base->gflops = base->flops / base->median * 1e-9;
    snprintf(base->note, sizeof base->note, "%s products alone (%s) in chunks of %lld rows, as %s runs them",
             be->gemm_library, g.train ? "Z = X W^T, dW += G^T X, dX = G W" : "Z = X W^T", (long long)g.chunk,
             in->c->name);
}

/* Check and time one case; for a head whose backend has its products alone, time those
 * too, into base (base->status stays NULL otherwise). */
static void run_instance(const session *se, instance *in, result *r, result *base)
{
    const bench_backend *be = se->be;
    device_set set[MAX_SETS];
    memset(set, 0, sizeof set);
    int sets = 0;
    void *ws = NULL;
    size_t ws_bytes = 0;
    verdict v = VERDICT_OK;
    char *note = r->note;
    const size_t note_size = sizeof r->note;

    /* Set 0: the inputs uploaded, the outputs allocated. */
    for (int i = 0; i < in->nbuf && v == VERDICT_OK; i++) {
        const size_t bytes = buf_bytes(in, i, in->shape.rows);
        if (!(set[0].ptr[i] = be->alloc(se->state, bytes)) ||
            (!in->buf[i].output && !be->upload(se->state, set[0].ptr[i], in->host[i], bytes))) {
            snprintf(note, note_size, "%s: %s", in->buf[i].name, bench_last_error());
            v = VERDICT_FAILED;
        }
    }
    sets = 1;
    if (v == VERDICT_OK) {
        sigfuse_status st = workspace_bytes(se, in, &set[0], &ws_bytes);
        if (st != SIGFUSE_SUCCESS)
            v = from_status(se, "workspace size", st, note, note_size);
        else if (ws_bytes > 0 && !(ws = be->alloc(se->state, ws_bytes))) {
            snprintf(note, note_size, "workspace: %s", bench_last_error());
            v = VERDICT_FAILED;
        }
    }
    sigfuse_buffer wsb = be->buffer(ws, SIGFUSE_U8);
    const sigfuse_buffer *wsp = ws ? &wsb : NULL;

    /* Check. A problem the reference only did the first rows of is run at that size too
     * (every output checked), then whole (the first rows of the row outputs checked). */
    if (v == VERDICT_OK && in->check_rows < in->shape.rows) {
        bench_shape first = in->shape;
        first.rows = in->check_rows;
        v = check_run(se, in, &set[0], &first, true, wsp, ws_bytes, note, note_size);
    }
    if (v == VERDICT_OK)
        v = check_run(se, in, &set[0], &in->shape, in->check_rows == in->shape.rows, wsp, ws_bytes, note, note_size);

    /* Time, rotating over enough sets that their total is twice the cache. */
    if (v == VERDICT_OK) {
        const size_t cache = be->cache_bytes(se->state);
        const double want = cache ? ceil(2.0 * (double)cache / in->bytes) : 1.0;
        const int target = want > MAX_SETS ? MAX_SETS : (int)want;
        for (; sets < target; sets++) {
            bool ok = true;
            for (int i = 0; i < in->nbuf && ok; i++) {
                const size_t bytes = buf_bytes(in, i, in->shape.rows);
                ok = (set[sets].ptr[i] = be->alloc(se->state, bytes)) != NULL &&
                     (in->buf[i].output || be->copy(se->state, set[sets].ptr[i], set[0].ptr[i], bytes));
            }
            if (!ok) {   /* fewer copies: the row says how many */
                for (int i = 0; i < in->nbuf; i++)
                    if (set[sets].ptr[i])
                        be->free(se->state, set[sets].ptr[i]);
                memset(&set[sets], 0, sizeof set[sets]);
                break;
            }
        }
        case_call *cc = malloc(sizeof *cc);
        if (!cc || !be->sync(se->state)) {
            snprintf(note, note_size, "%s", cc ? bench_last_error() : "out of host memory");
            v = VERDICT_FAILED;
        } else {
            cc->se = se;
            cc->in = in;
            cc->sets = sets;
            cc->ws = wsp;
            cc->ws_bytes = ws_bytes;
            for (int k = 0; k < sets; k++)
                describe(se, in, &set[k], cc->b[k]);
            if (!time_reps(se, call_case, cc, se->reps, se->warmup, r)) {
                snprintf(note, note_size, "timing: %s", bench_last_error());
                v = VERDICT_FAILED;
            }
        }
        free(cc);
    }
    r->sets = sets;

    /* Heads: their workspace beside an unfused head's logits, and their products alone. */
    if (v == VERDICT_OK && in->c->workspace) {
        r->workspace_bytes = (double)ws_bytes;
        r->unfused_bytes = unfused_bytes(in);
        r->chunk_rows = head_chunk(se, in, &set[0], ws_bytes);
        if (in->c->gemms_row && be->head_gemms) {
            time_head_gemms(se, in, set, sets, r, base);
            if (strcmp(base->status, "ok") == 0) {
                r->gemms_s = base->median;
                r->vs_gemms = r->median / base->median;
            }
        }
    }

    for (int k = 0; k < sets; k++)
        for (int i = 0; i < in->nbuf; i++)
            if (set[k].ptr[i])
                be->free(se->state, set[k].ptr[i]);
    if (ws)
        be->free(se->state, ws);
    be->sync(se->state);

    r->status = v == VERDICT_OK ? "ok" : v == VERDICT_FAILED ? "FAILED" : "unsupported";
    if (v == VERDICT_OK) {
        r->gbps = in->bytes / r->median * 1e-9;
        if (se->copy_gbps > 0.0 && !in->c->gemm)
            r->pct_copy = 100.0 * r->gbps / se->copy_gbps;
        if (in->flops > 0.0)
            r->gflops = in->flops / r->median * 1e-9;
        if (in->check_rows < in->shape.rows)
            snprintf(note, note_size, "checked at %lld of %lld rows, then whole on its first %lld rows",
                     (long long)in->check_rows, (long long)in->shape.rows, (long long)in->check_rows);
    }
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
static int family_shapes(bench_family f, const bench_sizes *sz, bench_shape *out, char (*label)[48])
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
            out[n] = (bench_shape){total / cols, cols, 0, total / cols};
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
            out[n] = (bench_shape){sz->cell[i][0], sz->cell[i][1], 0, sz->cell[i][0]};
            snprintf(label[n], 48, "B=%lld,H=%lld", (long long)sz->cell[i][0], (long long)sz->cell[i][1]);
        }
        break;
    case FAMILY_HEAD:
        for (int i = 0; i < COUNT_OF(sz->head) && sz->head[i][0] > 0; i++, n++) {
            out[n] = (bench_shape){sz->head[i][0], sz->head[i][2], sz->head[i][1], sz->head[i][0]};
            snprintf(label[n], 48, "N=%lld,D=%lld,L=%lld", (long long)sz->head[i][0], (long long)sz->head[i][1],
                     (long long)sz->head[i][2]);
        }
        break;
    }
    return n;
}

/* ---- Output ---------------------------------------------------------------------------------------------- */

static result *results;
static int result_count, result_capacity;

static result *new_result(const session *se, const char *op, const char *dtype, const char *size)
{
    if (result_count == result_capacity) {
        int cap = result_capacity ? 2 * result_capacity : 64;
        result *grown = realloc(results, sizeof *results * (size_t)cap);
        if (!grown) {
            fprintf(stderr, "sigfuse-bench: out of host memory\n");
            exit(1);
        }
        results = grown;
        result_capacity = cap;
    }
    result *r = &results[result_count++];
    result_init(r, se, op, dtype, size);
    return r;
}

static void print_header(void)
{
    printf("%-18s %-5s %-20s %-7s %12s %9s %7s %9s  %s\n", "op", "dtype", "size", "backend", "median_us", "GB/s",
           "%copy", "GFLOP/s", "status");
}

/* A rate in at most 4 significant digits, without an exponent up to 10^9. */
static void format_rate(char *out, size_t size, double v)
{
    if (!isnan(v))
        snprintf(out, size, v >= 1000.0 ? "%.0f" : "%.4g", v);
}

static void print_result(const result *r)
{
    char t[32] = "", g[32] = "", p[32] = "", f[32] = "";
    if (!isnan(r->median))
        snprintf(t, sizeof t, "%.2f", r->median * 1e6);
    format_rate(g, sizeof g, r->gbps);
    if (!isnan(r->pct_copy))
        snprintf(p, sizeof p, "%.1f%%", r->pct_copy);
    format_rate(f, sizeof f, r->gflops);
    printf("%-18s %-5s %-20s %-7s %12s %9s %7s %9s  %s%s%s\n", r->op, r->dtype, r->size, r->backend, t, g, p, f,
           r->status, r->note[0] ? ": " : "", r->note);
    if (strcmp(r->status, "FAILED") == 0 && r->rerun[0])
        printf("    rerun: %s\n", r->rerun);
    fflush(stdout);
}

/* Bytes in the largest binary unit that keeps a whole part: "224.0 MiB", "9.8 KiB". */
static void format_bytes(char *out, size_t size, double bytes)
{
    static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024.0 && u + 1 < COUNT_OF(unit)) {
        bytes /= 1024.0;
        u++;
    }
    snprintf(out, size, u == 0 ? "%.0f %s" : "%.1f %s", bytes, unit[u]);
}

/* The line under a head's rows: its time as a multiple of its products alone, and its
 * workspace beside the bytes an unfused head holds at once. */
static void print_head_summary(const result *head, const result *gemms, const bench_backend *be, bool train)
{
    char ws[32], unfused[32], ratio[96];
    format_bytes(ws, sizeof ws, head->workspace_bytes);
    format_bytes(unfused, sizeof unfused, head->unfused_bytes);
    if (gemms && strcmp(gemms->status, "ok") == 0)
        snprintf(ratio, sizeof ratio, "%.2fx the time of its %s products alone", head->vs_gemms, be->gemm_library);
    else if (gemms)
        snprintf(ratio, sizeof ratio, "its %s products alone FAILED", be->gemm_library);
    else
        snprintf(ratio, sizeof ratio, "no products-alone baseline on %s", be->name);
    printf("    %s %s %s: %s; workspace %s (chunks of %lld rows) vs %s for an unfused head's N x L logits%s\n",
           head->op, head->dtype, head->size, ratio, ws, (long long)head->chunk_rows, unfused,
           train ? " and their gradient" : "");
    fflush(stdout);
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static void json_number(FILE *f, double v)
{
    if (isnan(v))
        fputs("null", f);
    else
        fprintf(f, "%.9g", v);
}

/* A count of bytes or flops: whole, without an exponent. */
static void json_count(FILE *f, double v)
{
    if (isnan(v))
        fputs("null", f);
    else
        fprintf(f, "%.0f", v);
}

static void csv_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void csv_number(FILE *f, double v)
{
    if (!isnan(v))
        fprintf(f, "%.9g", v);
}

/* A count of bytes or flops: whole, without an exponent. */
static void csv_count(FILE *f, double v)
{
    if (!isnan(v))
        fprintf(f, "%.0f", v);
}

static bool write_csv(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return false;
    fprintf(f, "backend,device,op,dtype,size,rows,cols,d,bytes,flops,reps,sets,median_s,min_s,max_s,gbps,"
               "pct_copy,gflops,vs_gemms,gemms_s,workspace_bytes,chunk_rows,unfused_bytes,status,note\n");
    for (int i = 0; i < result_count; i++) {
        const result *r = &results[i];
        const char *text[] = {r->backend, r->device, r->op, r->dtype, r->size};
        for (int k = 0; k < COUNT_OF(text); k++) {
            csv_string(f, text[k]);
            fputc(',', f);
        }
        fprintf(f, "%lld,%lld,%lld,", (long long)r->shape.rows, (long long)r->shape.cols, (long long)r->shape.d);
        csv_count(f, r->bytes);
        fputc(',', f);
        csv_count(f, r->flops);
        fprintf(f, ",%d,%d,", r->reps, r->sets);
        const double v[] = {r->median, r->min, r->max, r->gbps, r->pct_copy, r->gflops, r->vs_gemms, r->gemms_s};
        for (int k = 0; k < COUNT_OF(v); k++) {
            csv_number(f, v[k]);
            fputc(',', f);
        }
        csv_count(f, r->workspace_bytes);
        fputc(',', f);
        if (r->chunk_rows > 0)
            fprintf(f, "%lld", (long long)r->chunk_rows);
        fputc(',', f);
        csv_count(f, r->unfused_bytes);
        fprintf(f, ",%s,", r->status);
        csv_string(f, r->note);
        fputc('\n', f);
    }
    return fclose(f) == 0;
}

static bool write_json(const char *path, const char *device, const char *date, const char *commit)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return false;
    fprintf(f, "{\n  \"device\": ");
    json_string(f, device);
    fprintf(f, ",\n  \"date\": ");
    json_string(f, date);
    fprintf(f, ",\n  \"commit\": ");
    json_string(f, commit);
    fprintf(f, ",\n  \"sigfuse_version\": ");
    json_string(f, sigfuse_version());
    fprintf(f, ",\n  \"seed\": %llu,\n  \"quick\": %s,\n  \"rows\": [", (unsigned long long)BENCH_SEED,
            opt.quick ? "true" : "false");
    for (int i = 0; i < result_count; i++) {
        const result *r = &results[i];
        fprintf(f, "%s\n    {\"backend\": ", i ? "," : "");
        json_string(f, r->backend);
        fprintf(f, ", \"device\": ");
        json_string(f, r->device);
        fprintf(f, ", \"op\": ");
        json_string(f, r->op);
        fprintf(f, ", \"dtype\": ");
        json_string(f, r->dtype);
        fprintf(f, ", \"size\": ");
        json_string(f, r->size);
        fprintf(f, ", \"rows\": %lld, \"cols\": %lld, \"d\": %lld, \"bytes\": ", (long long)r->shape.rows,
                (long long)r->shape.cols, (long long)r->shape.d);
        json_count(f, r->bytes);
        fprintf(f, ", \"flops\": ");
        json_count(f, r->flops);
        fprintf(f, ", \"reps\": %d, \"sets\": %d", r->reps, r->sets);
        const char *names[] = {"median_s", "min_s", "max_s", "gbps", "pct_copy", "gflops", "vs_gemms", "gemms_s"};
        const double v[] = {r->median, r->min, r->max, r->gbps, r->pct_copy, r->gflops, r->vs_gemms, r->gemms_s};
        for (int k = 0; k < COUNT_OF(v); k++) {
            fprintf(f, ", \"%s\": ", names[k]);
            json_number(f, v[k]);
        }
        fprintf(f, ", \"workspace_bytes\": ");
        json_count(f, r->workspace_bytes);
        fprintf(f, ", \"chunk_rows\": ");
        json_count(f, r->chunk_rows > 0 ? (double)r->chunk_rows : NAN);
        fprintf(f, ", \"unfused_bytes\": ");
        json_count(f, r->unfused_bytes);
        fprintf(f, ", \"status\": ");
        json_string(f, r->status);
        fprintf(f, ", \"note\": ");
        json_string(f, r->note);
        fputc('}', f);
    }
    fprintf(f, "\n  ]\n}\n");
    return fclose(f) == 0;
}

/* ---- One backend ------------------------------------------------------------------------------------------ */

typedef struct copy_call {
    const session *se;
    void *dst, *src;
    size_t bytes;
} copy_call;

static bool call_copy(void *arg, int i)
{
    const copy_call *cc = arg;
    (void)i;
    return cc->se->be->copy(cc->se->state, cc->dst, cc->src, cc->bytes);
}

/* A copy of copy_bytes in the backend's memory (device to device; host memcpy for the cpu
 * reference): the bandwidth the elementwise rows are compared with. */
static void measure_copy(session *se)
{
    const bench_backend *be = se->be;
    size_t bytes = opt.quick ? (size_t)16 << 20 : be->copy_bytes;
    char size[48];
    snprintf(size, sizeof size, "%zu MiB", bytes >> 20);
    result *r = new_result(se, "copy", "-", size);
    r->bytes = 2.0 * (double)bytes;   /* read + write */
    r->sets = 1;
    void *src = be->alloc(se->state, bytes), *dst = src ? be->alloc(se->state, bytes) : NULL;
    bool ok = dst && be->fill(se->state, src, 0x3c, bytes) && be->sync(se->state);
    if (ok) {
        copy_call cc = {se, dst, src, bytes};
        ok = time_reps(se, call_copy, &cc, se->reps, se->warmup, r);
    }
    if (ok) {
        r->status = "ok";
        r->gbps = r->bytes / r->median * 1e-9;
        r->pct_copy = 100.0;
        se->copy_gbps = r->gbps;
    } else {
        r->status = "FAILED";
        snprintf(r->note, sizeof r->note, "%s", bench_last_error());
    }
    if (dst)
        be->free(se->state, dst);
    if (src)
        be->free(se->state, src);
    print_result(r);
}

static int count_rows(const bench_sizes *sizes)
{
    int rows = 0;
    bench_shape shape[8];
    char label[8][48];
    for (int c = 0; c < bench_case_count; c++)
        if (case_selected(&bench_cases[c]))
            for (int d = 0; d < COUNT_OF(all_dtypes); d++)
                if (!opt.any_dtype || opt.dtype[d])
                    rows += family_shapes(bench_cases[c].family, sizes, shape, label);
    return rows;
}

/* Run every selected case on one backend; returns the number of failed rows, or -1 when
 * the backend could not be opened. */
static int run_backend(const bench_backend *be, char **device_out)
{
    session se = {be, NULL, NULL, "", 0, 0, 0.0};
    if (!be->open(&se.state, &se.ctx)) {
        fprintf(stderr, "sigfuse-bench: %s: cannot open the backend: %s\n", be->name, bench_last_error());
        sigfuse_ctx_destroy(se.ctx);
        be->close(se.state);
        return -1;
    }
    snprintf(se.device, sizeof se.device, "%s", sigfuse_ctx_device_name(se.ctx));
    se.reps = opt.reps > 0 ? opt.reps : opt.quick ? 3 : be->reps;
    se.warmup = opt.quick ? 1 : be->warmup;
    printf("# %s: %s; %d reps after %d warm-up\n", be->name, se.device, se.reps, se.warmup);
    print_header();
    int failed = 0;
    if (be->copy_bytes > 0) {
        measure_copy(&se);
        failed += strcmp(results[result_count - 1].status, "FAILED") == 0;
    }

    bench_sizes sizes = opt.quick ? quick_sizes : be->sizes;
    if (opt.size > 0) {
        memset(sizes.elementwise, 0, sizeof sizes.elementwise);
        sizes.elementwise[0] = opt.size;
    }
    const int total = count_rows(&sizes);
    int done = 0;
    for (int c = 0; c < bench_case_count; c++) {
        const bench_case *bc = &bench_cases[c];
        if (!case_selected(bc))
            continue;
        for (int d = 0; d < COUNT_OF(all_dtypes); d++) {
            if (opt.any_dtype && !opt.dtype[d])
                continue;
            bench_shape shape[8];
            char label[8][48];
            int shapes = family_shapes(bc->family, &sizes, shape, label);
            for (int k = 0; k < shapes; k++) {
                const char *dtype = sigfuse_dtype_name(all_dtypes[d]);
                if (!opt.quick)
                    fprintf(stderr, "[%s %d/%d] %s %s %s\n", be->name, ++done, total, bc->name, dtype, label[k]);
                result *r = new_result(&se, bc->name, dtype, label[k]);
                r->shape = shape[k];
                int len = snprintf(r->rerun, sizeof r->rerun, "sigfuse-bench --backend %s --op %s --dtype %s%s",
                                   be->name, bc->name, dtype, opt.quick ? " --quick" : "");
                if (bc->family == FAMILY_ELEMENTWISE || bc->family == FAMILY_LOSS)
                    snprintf(r->rerun + len, sizeof r->rerun - (size_t)len, " --size %lld",
                             (long long)(shape[k].rows * shape[k].cols));
                else if (bc->family == FAMILY_HEAD && opt.head_chunk > 0)
                    snprintf(r->rerun + len, sizeof r->rerun - (size_t)len, " --head-chunk %lld",
                             (long long)opt.head_chunk);
                instance in;
                result base;   /* the head's products alone, when run_instance times them */
                base.status = NULL;
                if (!instance_init(&in, bc, all_dtypes[d], &shape[k]) || !reference(&in)) {
                    r->status = "FAILED";
                    snprintf(r->note, sizeof r->note, "%s", bench_last_error());
                } else {
                    run_instance(&se, &in, r, &base);
                }
                r->bytes = in.bytes;
                r->flops = in.flops;
                instance_free(&in);
                failed += strcmp(r->status, "FAILED") == 0;
                print_result(r);
                if (bc->family == FAMILY_HEAD && strcmp(r->status, "ok") == 0) {
                    const result head = *r;   /* new_result may move r */
                    const result *gemms = NULL;
                    if (base.status) {
                        result *row = new_result(&se, base.op, base.dtype, base.size);
                        *row = base;
                        failed += strcmp(row->status, "FAILED") == 0;
                        print_result(row);
                        gemms = row;
                    }
                    print_head_summary(&head, gemms, be, bc->gemms_train);
                }
            }
        }
    }
    *device_out = strdup(se.device);
    sigfuse_ctx_destroy(se.ctx);
    be->close(se.state);
    return failed;
}

/* ---- main --------------------------------------------------------------------------------------------------- */

static void list_cases(void)
{
    printf("cases (s = element size of the dtype; n = rows * cols of a loss):\n");
    for (int c = 0; c < bench_case_count; c++)
        printf("  %-20s %s\n", bench_cases[c].name, bench_cases[c].bytes);
    printf("rows timed beside the heads (not cases of their own):\n");
    for (int c = 0; c < bench_case_count; c++)
        if (bench_cases[c].gemms_row)
            printf("  %-20s %s's matrix products alone (cuda: cuBLAS, opencl: CLBlast)\n", bench_cases[c].gemms_row,
                   bench_cases[c].name);
    printf("backends:\n");
    for (int i = 0; i < COUNT_OF(backends); i++) {
        sigfuse_status st = sigfuse_backend_available(backends[i].backend);
        printf("  %-8s %s%s\n", backends[i].name, st == SIGFUSE_SUCCESS ? "available" : sigfuse_status_string(st),
               st == SIGFUSE_SUCCESS && !backends[i].table ? " (but not built into this bench)" : "");
    }
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = NULL;
        char flag[32];
        const char *eq = strchr(arg, '=');
        snprintf(flag, sizeof flag, "%.*s", eq ? (int)(eq - arg) : (int)strlen(arg), arg);
        bool takes_value = strcmp(flag, "--backend") == 0 || strcmp(flag, "--op") == 0 ||
                           strcmp(flag, "--dtype") == 0 || strcmp(flag, "--size") == 0 ||
                           strcmp(flag, "--reps") == 0 || strcmp(flag, "--csv") == 0 || strcmp(flag, "--json") == 0 ||
                           strcmp(flag, "--head-chunk") == 0;
        if (takes_value) {
            value = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
            if (!value) {
                fprintf(stderr, "sigfuse-bench: %s needs a value\n", flag);
                return 2;
            }
        }
        int64_t v;
        bool ok = true;
        if (strcmp(flag, "--help") == 0 || strcmp(flag, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(flag, "--list") == 0) {
            list_cases();
            return 0;
        } else if (strcmp(flag, "--quick") == 0) {
            opt.quick = true;
        } else if (strcmp(flag, "--backend") == 0) {
            ok = parse_list(value, add_backend);
        } else if (strcmp(flag, "--op") == 0) {
            ok = parse_list(value, add_op);
        } else if (strcmp(flag, "--dtype") == 0) {
            ok = parse_list(value, add_dtype);
        } else if (strcmp(flag, "--size") == 0) {
            ok = parse_count(flag, value, 1, &opt.size);
        } else if (strcmp(flag, "--head-chunk") == 0) {
            ok = parse_count(flag, value, 1, &opt.head_chunk);
        } else if (strcmp(flag, "--reps") == 0) {
            ok = parse_count(flag, value, 1, &v);
            opt.reps = (int)(v > 100000 ? 100000 : v);
        } else if (strcmp(flag, "--csv") == 0) {
            opt.csv = value;
        } else if (strcmp(flag, "--json") == 0) {
            opt.json = value;
        } else {
            fprintf(stderr, "sigfuse-bench: unknown option '%s' (see --help)\n", arg);
            ok = false;
        }
        if (!ok)
            return 2;
    }
    bool any_case = false;
    for (int c = 0; c < bench_case_count; c++)
        any_case = any_case || case_selected(&bench_cases[c]);
    if (!any_case) {
        fprintf(stderr, "sigfuse-bench: no case matches --op (see --list)\n");
        return 2;
    }

    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    thread_count = cores < 1 ? 1 : cores > MAX_THREADS ? MAX_THREADS : (int)cores;

    const char *commit = SIGFUSE_BENCH_COMMIT;
    if (strcmp(commit, "unknown") == 0 && getenv("SIGFUSE_COMMIT") && getenv("SIGFUSE_COMMIT")[0])
        commit = getenv("SIGFUSE_COMMIT");
    char date[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    printf("# sigfuse-bench: sigfuse %s, commit %s, %s, seed %#llx, reference on %d threads\n", sigfuse_version(),
           commit, date, (unsigned long long)BENCH_SEED, thread_count);

    int failed = 0;     /* rows that FAILED */
    bool trouble = false;   /* anything else that should fail the run */
    char *device = NULL;
    for (int i = 0; i < COUNT_OF(backends); i++) {
        const bool asked = opt.backend[i];
        if (opt.any_backend && !asked)
            continue;
        sigfuse_status st = sigfuse_backend_available(backends[i].backend);
        if (st != SIGFUSE_SUCCESS || !backends[i].table) {
            const char *why = st != SIGFUSE_SUCCESS ? sigfuse_status_string(st) : "not built into this bench";
            if (asked) {
                fprintf(stderr, "sigfuse-bench: %s: requested but cannot run: %s\n", backends[i].name, why);
                trouble = true;
            } else {
                printf("# %s: skipped (%s)\n", backends[i].name, why);
            }
            continue;
        }
        char *name = NULL;
        int rows_failed = run_backend(backends[i].table, &name);
        if (rows_failed < 0)
            trouble = true;
        else
            failed += rows_failed;
        if (name) {   /* the JSON's device: the last (most capable) backend run */
            free(device);
            device = name;
        }
    }

    if (opt.csv && !write_csv(opt.csv)) {
        fprintf(stderr, "sigfuse-bench: cannot write %s: %s\n", opt.csv, strerror(errno));
        trouble = true;
    }
    if (opt.json && !write_json(opt.json, device ? device : "none", date, commit)) {
        fprintf(stderr, "sigfuse-bench: cannot write %s: %s\n", opt.json, strerror(errno));
        trouble = true;
    }
    free(device);
    free(results);
    for (int i = 0; i < opt.op_count; i++)
        free((void *)opt.op[i]);
    if (failed)
        fprintf(stderr, "sigfuse-bench: %d row(s) FAILED\n", failed);
    return failed || trouble ? 1 : 0;
}
