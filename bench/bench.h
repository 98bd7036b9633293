/* SPDX-License-Identifier: MIT */
/*
 * sigfuse-bench: what the driver (bench_main.c and the files bench_internal.h names), the
 * table of cases (cases.c) and the backends' tables (bench_device.c: their memory and
 * clock, the kit's, and the cpu table; bench_cuda.c, bench_opencl.c) share.
 */
#ifndef SIGFUSE_BENCH_H
#define SIGFUSE_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sf_catalog.h"
#include "kit.h"
#include "sigfuse.h"

/* ---- Cases ----------------------------------------------------------------------------
 * A case is one op with fixed options. It describes its buffers for a shape (layout) and
 * calls the op on them (run). The driver generates the inputs, checks the outputs
 * against the CPU reference and times the call. */

typedef enum bench_family {
    FAMILY_ELEMENTWISE,   /* rows = n elements, cols = 1 */
    FAMILY_LOSS,          /* rows x cols logits */
    FAMILY_CELL,          /* rows = batch B, cols = hidden H */
    FAMILY_HEAD           /* rows = N, cols = L labels, d = D features */
} bench_family;

/* The problem a call works on. `rows` is what the driver may split: the reference runs
 * on pieces of the rows in parallel, and a head too large for the reference is checked
 * on its first rows. A piece (rows < total_rows) sums its loss where the whole takes
 * the MEAN, and scales its gradients as the whole MEAN would (see bench_mean). */
typedef struct bench_shape {
    int64_t rows;
    int64_t cols;
    int64_t d;
    int64_t total_rows;
    int64_t kept;   /* what a MEAN over the whole divides by: the mask's nonzero bytes
                       (bench_instance_init counts them); 0: total_rows * cols */
} bench_shape;

typedef enum bench_span {
    SPAN_ROWS,    /* `count` elements per row: [rows, count] */
    SPAN_FIXED,   /* `count` elements shared by every row (bias, pos_weight, W) */
    SPAN_SUM,     /* output of `count` elements summed over the rows (dbias, dW) */
    SPAN_MEAN,    /* output of `count` elements averaged over rows * cols, or over the
                     elements a mask keeps (a MEAN loss) */
    SPAN_OFFSETS  /* rows + 1 CSR offsets of `count` (BENCH_POSITIVES) entries a row: the
                     first r + 1 of them are the offsets of any piece of r rows, so that a
                     piece of the rows reads them from the start, not at its first row */
} bench_span;

typedef enum bench_kind {
    KIND_FLOAT,   /* the row's float dtype (f32, f16, bf16) */
    KIND_U8,      /* u8 (targets, a mask) */
    KIND_F32,     /* always f32 (a reduced loss) */
    KIND_INDEX    /* i32: label ids, CSR offsets (the reference's copy is i32 too) */
} bench_kind;

/* How an input's elements are drawn (bench_data.c); outputs: GEN_DRAW. */
typedef enum bench_gen {
    GEN_DRAW,          /* each element alone: binary or uniform in [lo, hi] */
    GEN_CSR_OFFSETS,   /* row r starts at r * BENCH_POSITIVES */
    GEN_CSR_LABELS,    /* BENCH_POSITIVES ids a row in [0, L), strictly increasing, drawn
                          log-uniformly (Zipf: label j about as often as 1 / (j + 1)) */
    GEN_LIST_LABELS,   /* topk_merge's shards' lists: distinct global ids ... */
    GEN_LIST_LOGITS    /* ... with logits in [lo, hi], each list best first */
} bench_gen;

/* The sparse (XMC) rows: positives a row, k of the top-k, shards of topk_merge. XMC sets
 * have a few positives a row (Amazon-670K about 5.4, Wiki-500K about 4.8). */
#define BENCH_POSITIVES 5
#define BENCH_TOPK 10
#define BENCH_SHARDS 8

typedef struct bench_buf {
    const char *name;
    bool output;
    bench_span span;
    int64_t count;          /* per row (SPAN_ROWS) or in all */
    bench_kind kind;
    bool binary;            /* inputs: 0 or 1 at random; else uniform in [lo, hi] */
    double lo, hi;          /* binary: hi is the chance of a 1 (0.5: the top bit of the draw) */
    int reads;              /* passes of the timed call that read it (sf_op_buf_reads): its
                               bytes count that many times among the fewest */
    bench_gen gen;          /* inputs: how its elements are drawn */
} bench_buf;

#define BENCH_MAX_BUFS 12

/* A case: one op of the catalogue (host/sf_catalog.h) with the buffers it is given and
 * how its inputs are drawn (cases.c). Its sizes, options, layout and call all follow from
 * the catalogue: the functions below read it. */
typedef struct bench_case {
    const char *name;        /* the op's name, or <op>/<variant> for one of several presets */
    sf_op op;
    /* The buffers it passes, by their catalogue names; "targets:u8" draws 0/1 in u8,
     * "targets:soft" uniform in [0, 1]; the others use cases.c's range for their name. */
    const char *buffers;
    /* Heads: the name of the row that times the op's matrix products alone (NULL: none):
     * the train step's three (Z = X W^T, dW += G^T X, dX = G W) or predict's one. The
     * layout then names its buffers x, w (and dx, dw). */
    const char *gemms_row;
} bench_case;

extern const bench_case bench_cases[];
extern const int bench_case_count;

bench_family bench_case_family(const bench_case *c);
/* Matrix products (cuBLAS / CLBlast): checked relative to each output's norm, reported
 * in GFLOP/s too, and not compared with a copy. */
bool bench_case_gemm(const bench_case *c);
bool bench_case_gemms_train(const bench_case *c);
/* The XMC cases (the train step with CSR positives, head_topk, topk_merge): run at the
 * backend's xmc sizes, not its head sizes. */
bool bench_case_xmc(const bench_case *c);
/* The bytes PyTorch's unfused equivalent holds at once for the case at a shape, as a
 * formula (bench_case_peer_formula says which; NAN where the case has none): for the
 * sparse train step, Linear + BCEWithLogits with dense [N, L] targets. */
double bench_case_peer_bytes(const bench_case *c, const bench_shape *s, sigfuse_dtype dtype);
const char *bench_case_peer_formula(const bench_case *c);
/* Whether the reference may split the case's rows into pieces that sum their loss (see
 * bench_shape): not where the loss averages a term over the rows themselves. */
bool bench_case_splits(const bench_case *c);
/* A loss whose rows are images (bce_dice): the [rows, cols] it runs at the backend's
 * default sizes, in place of cols = the largest divisor of each size up to 1024; at
 * --size n or --quick, rows = the largest divisor of n up to these rows. False: the
 * family's shapes. */
bool bench_case_own_shape(const bench_case *c, int64_t *rows, int64_t *cols);
/* Fill b[] (at most BENCH_MAX_BUFS) and return how many, in the catalogue's order. */
int bench_case_layout(const bench_case *c, const bench_shape *s, bench_buf *b);
/* Floating-point operations of the matrix products, for GFLOP/s (0 if none). */
double bench_case_flops(const bench_case *c, const bench_shape *s);
/* The fewest bytes as a formula for people ("3ns + 4"; s = the float dtype's size);
 * the driver counts the same number from the layout. */
void bench_case_bytes_formula(const bench_case *c, char *out, size_t size);
/* Workspace bytes with chunks of chunk_rows rows (0: the default); 0 when none is needed. */
sigfuse_status bench_case_workspace(const bench_case *c, sigfuse_ctx *ctx, const bench_shape *s,
                                    const sigfuse_buffer *b, int64_t chunk_rows, size_t *bytes);
/* Call the op on buffers laid out as bench_case_layout says. */
sigfuse_status bench_case_run(const bench_case *c, sigfuse_ctx *ctx, const bench_shape *s, const sigfuse_buffer *b,
                              const sigfuse_buffer *workspace, size_t workspace_bytes);

/* ---- Backends ---------------------------------------------------------------------------
 * Everything the driver does with a backend's memory and clock, as a table of functions,
 * so that another backend is one more table. `state` is the table's own: a bench_device,
 * the kit's device on a stream or queue of its own (KIT_TIMED). Functions returning bool
 * report failures through bench_fail. */

typedef struct bench_sizes {
    int64_t elementwise[4];   /* n of the elementwise and loss cases; 0 ends the list */
    int64_t cell[2][2];       /* {B, H}; {0, 0} ends the list */
    int64_t head[2][3];       /* {N, D, L}; zeros end the list */
    int64_t xmc[2][3];        /* {N, D, L} of the XMC cases (topk_merge: N); zeros end the list */
} bench_sizes;

/* The matrix products of one head call, as the backend's head runs them: docs/design.md
 * (Performance) compares the head with the same cuBLAS products alone. Same library, data
 * types, compute type, accumulation and row chunks as the op, on the op's own x, w, dx, dw
 * buffers plus a scratch in place of the op's workspace; no epilogue kernels between. */
typedef struct bench_head_gemms {
    sigfuse_dtype dtype;   /* storage dtype of x, w, dx, dw */
    int64_t n, d, l;       /* X [N, D], W [L, D], Z [N, L] */
    int64_t chunk;         /* rows per chunk, as the op walks them with the same workspace */
    bool train;            /* per chunk Z = X W^T, dW (+)= G^T X, dX = G W; else only Z = X W^T */
} bench_head_gemms;

typedef struct bench_backend {
    const char *name;
    sigfuse_backend backend;
    int reps, warmup;             /* defaults */
    size_t copy_bytes;            /* size of the copy in its memory to compare with; 0: none */
    bench_sizes sizes;            /* default sizes */
    /* The default sizes for the device the context runs on, where they depend on it
     * (optional; NULL: sizes as they are). */
    void (*device_sizes)(sigfuse_ctx *ctx, bench_sizes *sizes);

    /* Create the state and a sigfuse context that enqueues on it (the driver destroys the
     * context, then calls close). */
    bool (*open)(void **state, sigfuse_ctx **ctx);
    void (*close)(void *state);
    /* Last-level cache that timed reps must not hit in (0: no rotation of buffers). */
    size_t (*cache_bytes)(void *state);
    void *(*alloc)(void *state, size_t bytes);   /* NULL (after bench_fail) when it fails */
    void (*free)(void *state, void *ptr);
    sigfuse_buffer (*buffer)(const void *ptr, sigfuse_dtype dtype);
    bool (*upload)(void *state, void *dst, const void *host_src, size_t bytes);
    bool (*download)(void *state, void *host_dst, const void *src, size_t bytes);
    bool (*fill)(void *state, void *dst, int byte, size_t bytes);
    bool (*copy)(void *state, void *dst, const void *src, size_t bytes);   /* enqueued */
    /* Wait for everything enqueued. */
    bool (*sync)(void *state);
    /* Time the work enqueued between start and stop (stop waits for it). */
    bool (*timer_start)(void *state);
    bool (*timer_stop)(void *state, double *seconds);
    /* Free memory in bytes (0: unknown): a row that needs more is skipped. */
    size_t (*free_bytes)(void *state);

    /* The head's products alone (NULL: none, as on the CPU reference, whose products are
     * loops in double): the library's name for the report; prepare, which says the bytes
     * of scratch they need (where the op keeps the logits, their gradient and its f32
     * copies in its workspace) and sets up anything else once, before the reps; and a
     * function that enqueues every product of one call (dx, dw NULL for predict). */
    const char *gemm_library;
    bool (*head_gemms_prepare)(void *state, const bench_head_gemms *g, size_t *scratch_bytes);
    bool (*head_gemms)(void *state, const bench_head_gemms *g, void *scratch, const void *x, const void *w, void *dx,
                       void *dw);
} bench_backend;

/* A table's state: the kit's device, and what its head products alone keep (released
 * with gemms_release at close, then freed). */
typedef struct bench_device {
    kit_dev dev;
    void *gemms;
    void (*gemms_release)(void *gemms);
} bench_device;

/* The entries every table shares (bench_device.c): the kit's calls on the state's device.
 * open makes gemms_bytes of zeros for the head's products alone (0: none). */
bool bench_device_open(sigfuse_backend backend, size_t gemms_bytes, void (*gemms_release)(void *gemms), void **state,
                       sigfuse_ctx **ctx);
void bench_device_close(void *state);
size_t bench_device_cache_bytes(void *state);
void *bench_device_alloc(void *state, size_t bytes);
void bench_device_free(void *state, void *ptr);
bool bench_device_upload(void *state, void *dst, const void *host_src, size_t bytes);
bool bench_device_download(void *state, void *host_dst, const void *src, size_t bytes);
bool bench_device_fill(void *state, void *dst, int byte, size_t bytes);
bool bench_device_copy(void *state, void *dst, const void *src, size_t bytes);
bool bench_device_sync(void *state);
bool bench_device_timer_start(void *state);
bool bench_device_timer_stop(void *state, double *seconds);
size_t bench_device_free_bytes(void *state);
#define BENCH_DEVICE_ENTRIES                                                                                          \
    .close = bench_device_close, .cache_bytes = bench_device_cache_bytes, .alloc = bench_device_alloc,                \
    .free = bench_device_free, .upload = bench_device_upload, .download = bench_device_download,                       \
    .fill = bench_device_fill, .copy = bench_device_copy, .sync = bench_device_sync,                                   \
    .timer_start = bench_device_timer_start, .timer_stop = bench_device_timer_stop,                                  \
    .free_bytes = bench_device_free_bytes

extern const bench_backend bench_cpu_backend;
#ifdef SIGFUSE_WITH_CUDA
extern const bench_backend bench_cuda_backend;
#endif
#ifdef SIGFUSE_WITH_OPENCL
extern const bench_backend bench_opencl_backend;
#endif

/* Record a failure message (printf-style) and return false. */
bool bench_fail(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
const char *bench_last_error(void);

/* MEAN over the whole problem, or the piece of it that the shape is (see bench_shape). */
void bench_mean(const bench_shape *s, sigfuse_reduction *reduction, float *grad_scale);
/* What that MEAN divides by: the elements kept, or total_rows * cols. */
double bench_mean_count(const bench_shape *s);

#endif /* SIGFUSE_BENCH_H */
