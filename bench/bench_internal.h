/* SPDX-License-Identifier: MIT */
/*
 * sigfuse-bench: what the driver's files share: the options (bench_main.c), the threads
 * (bench_threads.c), a case's instances and the reference (bench_data.c), the checks
 * (bench_check.c), the timing (bench_run.c) and the rows of the results (bench_output.c).
 */
#ifndef SIGFUSE_BENCH_INTERNAL_H
#define SIGFUSE_BENCH_INTERNAL_H

#include "bench.h"

#define COUNT_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Every input element is a function of this seed, its buffer and its index. */
#define BENCH_SEED 0x5eedf00dULL
#define MAX_THREADS 64
/* Copies of one case's buffers that reps rotate over, at most. */
#define MAX_SETS 64
/* Largest workspace the heads get; larger needs mean smaller chunks. */
#define WORKSPACE_CAP ((size_t)1 << 30)
/* Every byte of a poisoned output: a NaN in f32, f16 and bf16 no kernel produces. */
#define POISON 0xFF

/* ---- Options (bench_main.c) ----------------------------------------------------------------- */

#define BENCH_BACKEND_COUNT 3   /* cpu, cuda, opencl: bench_main.c's table of backends */
#define BENCH_DTYPE_COUNT 3     /* f32, f16, bf16 */

typedef struct bench_options {
    bool backend[BENCH_BACKEND_COUNT];
    bool any_backend;
    const char *op[32];
    int op_count;
    bool dtype[BENCH_DTYPE_COUNT];
    bool any_dtype;
    int64_t size;
    int64_t head_chunk;   /* rows per chunk of the heads' workspace; 0: the library's default (within WORKSPACE_CAP) */
    int reps;
    const char *csv, *json;
    bool quick;
} bench_options;

extern bench_options bench_opt;

/* ---- Threads (bench_threads.c) -------------------------------------------------------------- */

extern int bench_thread_count;

typedef void (*piece_fn)(void *arg, int piece, int64_t begin, int64_t end);

/* How many pieces n items of `cost` each are worth: at least PIECE_GRAIN of work each. */
int bench_pieces_for(int64_t n, double cost);
/* Run fn on `pieces` contiguous ranges of [0, n), in parallel. */
void bench_run_pieces(int pieces, int64_t n, piece_fn fn, void *arg);

/* ---- Buffers and instances of a case (bench_data.c) ---------------------------------------- */

static inline sigfuse_dtype buf_dtype(const bench_buf *b, sigfuse_dtype dtype)
{
    return b->kind == KIND_U8 ? SIGFUSE_U8 : b->kind == KIND_F32 ? SIGFUSE_F32 : b->kind == KIND_INDEX ? SIGFUSE_I32 : dtype;
}

static inline int64_t buf_count(const bench_buf *b, int64_t rows)
{
    return b->span == SPAN_ROWS ? rows * b->count : b->span == SPAN_OFFSETS ? rows + 1 : b->count;
}

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

static inline size_t buf_bytes(const instance *in, int i, int64_t rows)
{
    return (size_t)buf_count(&in->buf[i], rows) * sigfuse_dtype_size(buf_dtype(&in->buf[i], in->dtype));
}

/* Layout, byte count, and the inputs on the host. */
bool bench_instance_init(instance *in, const bench_case *c, sigfuse_dtype dtype, const bench_shape *shape);
void bench_instance_free(instance *in);
/* The reference's outputs for the first check_rows rows, into in->ref. */
bool bench_reference(instance *in);
/* The shapes of a family at a backend's sizes; returns how many. */
int bench_family_shapes(bench_family f, const bench_sizes *sz, bench_shape *out, char (*label)[48]);
/* The shapes of a case: its family's at those sizes, or its own (bench_case's rows, cols)
 * when they are the backend's defaults; returns how many. */
int bench_case_shapes(const bench_case *c, const bench_sizes *sz, bool defaults, bench_shape *out, char (*label)[48]);

/* ---- Running a case on a backend: its checks (bench_check.c) -------------------------------- */

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

verdict bench_from_status(const session *se, const char *what, sigfuse_status st, char *note, size_t note_size);
/* The sigfuse buffers of a device set, in the layout's order. */
void bench_describe(const session *se, const instance *in, const device_set *set, sigfuse_buffer *b);
/* Run at shape `run` on set 0 twice, outputs poisoned each time, and check (see bench_check.c). */
verdict bench_check_run(const session *se, const instance *in, const device_set *set, const bench_shape *run,
                        bool check_reduced, const sigfuse_buffer *ws, size_t ws_bytes, char *note, size_t note_size);

/* ---- Rows of the results (bench_output.c) --------------------------------------------------- */

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
    /* XMC rows (NAN elsewhere): the bytes sigfuse held for the call, counted from the
     * bench's allocations (one set of inputs and outputs plus the workspace it gave the
     * op), and what PyTorch's unfused equivalent holds by bench_case_peer_bytes' formula. */
    double held_bytes, peer_bytes;
    int64_t chunk_rows;
    const char *status;        /* "ok", "FAILED", "unsupported" */
    char note[512];
    char rerun[256];
} result;

extern result *bench_results;
extern int bench_result_count;

void bench_result_init(result *r, const session *se, const char *op, const char *dtype, const char *size);
/* A new row at the end of bench_results (which may move). */
result *bench_new_result(const session *se, const char *op, const char *dtype, const char *size);
void bench_print_header(void);
void bench_print_result(const result *r);
/* The line under a head's rows. */
void bench_print_head_summary(const result *head, const result *gemms, const bench_backend *be, bool train);
/* The memory line under an XMC head's rows (held_bytes beside peer_bytes and its formula). */
void bench_print_memory(const result *head, const char *formula);
bool bench_write_csv(const char *path);
bool bench_write_json(const char *path, const char *device, const char *date, const char *commit);

/* ---- Timing (bench_run.c) ------------------------------------------------------------------- */

/* Check and time one case; for a head whose backend has its products alone, time those
 * too, into base (base->status stays NULL otherwise). */
void bench_run_instance(const session *se, instance *in, result *r, result *base);
/* The copy the rows are compared with, as a row of its own. */
void bench_measure_copy(session *se);

#endif /* SIGFUSE_BENCH_INTERNAL_H */
