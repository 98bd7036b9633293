/* SPDX-License-Identifier: MIT */
/*
 * Threads: THREADS threads, each with its own context on the reference and, where
 * it is built and has a device, on OpenCL, run the same ops on their own buffers, REPS
 * times, and must get bitwise the results one thread got first. Run under TSan by
 * scripts/sanitize.sh tsan (zero reports; the reference only there, see main); it is also
 * an ordinary ctest test, and runs under ASan + UBSan in scripts/sanitize.sh asan.
 *
 * Ops: sigmoid forward, silu backward, BCE with logits (sum: loss and gradient), the LSTM
 * cell forward, the GRU cell backward (with bias gradients), the head's train step (with
 * a workspace) and predict, in f32 and bf16. Exit status 0 when every thread matched, 1
 * otherwise.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sigfuse.h"
#ifdef SIGFUSE_WITH_OPENCL
#include <CL/cl.h>

#include "sigfuse_opencl.h"
#endif

#define THREADS 4
#define REPS 3

enum { N = 777, B = 5, H = 13, R = 7, C = 33, HN = 9, HD = 6, HL = 11 };

/* Every input and output of one round of the ops, as host bytes. */
enum {
    X, DY, Y_SIG, DX_SILU,                         /* elementwise, n = N */
    LOGITS, TARGETS, LOSS, DLOGITS,                /* BCE, [R, C] */
    GX4, BIAS4, CPREV, LH, LC,                     /* LSTM forward */
    GX3, GH3, BX3, BH3, HPREV, DH, DGX, DGH, DHP, DBX, DBH, /* GRU backward */
    HX, HW, HB, HT, HLOSS, HDX, HDW, HDB, HPROBS,  /* head */
    NBUF
};

typedef struct spec {
    int64_t count;
    bool output, scalar;
} spec;

#define IN_(n) {n, false, false}
#define OUT_(n) {n, true, false}
#define SCALAR_ {1, true, true}
static const spec specs[NBUF] = {
    [X] = IN_(N), [DY] = IN_(N), [Y_SIG] = OUT_(N), [DX_SILU] = OUT_(N),
    [LOGITS] = IN_(R * C), [TARGETS] = IN_(R * C), [LOSS] = SCALAR_, [DLOGITS] = OUT_(R * C),
    [GX4] = IN_(B * 4 * H), [BIAS4] = IN_(4 * H), [CPREV] = IN_(B * H), [LH] = OUT_(B * H), [LC] = OUT_(B * H),
    [GX3] = IN_(B * 3 * H), [GH3] = IN_(B * 3 * H), [BX3] = IN_(3 * H), [BH3] = IN_(3 * H), [HPREV] = IN_(B * H),
    [DH] = IN_(B * H), [DGX] = OUT_(B * 3 * H), [DGH] = OUT_(B * 3 * H), [DHP] = OUT_(B * H),
    [DBX] = OUT_(3 * H), [DBH] = OUT_(3 * H),
    [HX] = IN_(HN * HD), [HW] = IN_(HL * HD), [HB] = IN_(HL), [HT] = IN_(HN * HL), [HLOSS] = SCALAR_,
    [HDX] = OUT_(HN * HD), [HDW] = OUT_(HL * HD), [HDB] = OUT_(HL), [HPROBS] = OUT_(HN * HL),
};

typedef struct round_out {
    unsigned char *bytes[NBUF];
    size_t size[NBUF];
} round_out;

typedef struct env {
    sigfuse_ctx *ctx;
    sigfuse_dtype dtype;
    sigfuse_buffer desc[NBUF];
    void *host[NBUF];
    size_t bytes[NBUF];
    void *ws;
    sigfuse_buffer ws_desc;
    size_t ws_bytes;
#ifdef SIGFUSE_WITH_OPENCL
    cl_context clctx;
    cl_command_queue queue;
#endif
} env;

static size_t esize(const env *e, int i) { return specs[i].scalar ? 4 : sigfuse_dtype_size(e->dtype); }

static float input_value(int buf, int64_t i)
{
    uint64_t z = (uint64_t)buf * 0x9E3779B97F4A7C15ull + (uint64_t)i * 0xBF58476D1CE4E5B9ull + 12345;
    z = (z ^ (z >> 29)) * 0x94D049BB133111EBull;
    z ^= z >> 32;
    double u = (double)(z & 0xFFFFFF) / 16777216.0;
    if (buf == TARGETS || buf == HT)
        return u < 0.5 ? 0.0f : 1.0f;
    return (float)(u * 8.0 - 4.0);
}

static int fail(const char *what, sigfuse_status st, const env *e)
{
    fprintf(stderr, "threads: %s: %s (%s)\n", what, sigfuse_status_string(st),
            e && e->ctx ? sigfuse_ctx_last_error(e->ctx) : sigfuse_last_create_error());
    return 1;
}

/* Buffers of one thread: host memory on the reference, cl_mem on OpenCL. */
static int setup(env *e, sigfuse_backend backend, sigfuse_dtype dtype)
{
    memset(e, 0, sizeof *e);
    e->dtype = dtype;
    sigfuse_status st = sigfuse_ctx_create(&e->ctx, backend);
    if (st)
        return fail("sigfuse_ctx_create", st, NULL);
#ifdef SIGFUSE_WITH_OPENCL
    if (backend == SIGFUSE_BACKEND_OPENCL) {
        sigfuse_opencl_get_queue(e->ctx, &e->queue);
        clGetCommandQueueInfo(e->queue, CL_QUEUE_CONTEXT, sizeof e->clctx, &e->clctx, NULL);
    }
#endif
    for (int i = 0; i < NBUF; i++) {
        sigfuse_dtype dt = specs[i].scalar ? SIGFUSE_F32 : dtype;
        e->bytes[i] = (size_t)specs[i].count * esize(e, i);
        e->host[i] = malloc(e->bytes[i]);
        unsigned char *h = (unsigned char *)e->host[i];
        for (int64_t k = 0; k < specs[i].count; k++) {
            float v = specs[i].output ? 0.0f : input_value(i, k);
            if (dt == SIGFUSE_BF16) {
                uint16_t b = sigfuse_float_to_bf16(v);
                memcpy(h + 2 * k, &b, 2);
            } else {
                memcpy(h + 4 * k, &v, 4);
            }
        }
        if (backend == SIGFUSE_BACKEND_CPU) {
            e->desc[i] = sigfuse_host_buffer(e->host[i], dt);
        } else {
#ifdef SIGFUSE_WITH_OPENCL
            cl_int err;
            cl_mem m = clCreateBuffer(e->clctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, e->bytes[i], e->host[i], &err);
            if (err != CL_SUCCESS) {
                fprintf(stderr, "threads: clCreateBuffer: %d\n", (int)err);
                return 1;
            }
            e->desc[i] = sigfuse_opencl_buffer(m, 0, dt);
#endif
        }
    }
    return 0;
}

static void teardown(env *e)
{
    for (int i = 0; i < NBUF; i++) {
#ifdef SIGFUSE_WITH_OPENCL
        if (e->desc[i].memory == SIGFUSE_MEMORY_OPENCL)
            clReleaseMemObject((cl_mem)e->desc[i].ptr);
#endif
        free(e->host[i]);
    }
#ifdef SIGFUSE_WITH_OPENCL
    if (e->ws_desc.memory == SIGFUSE_MEMORY_OPENCL && e->ws_desc.ptr)
        clReleaseMemObject((cl_mem)e->ws_desc.ptr);
#endif
    free(e->ws);
    sigfuse_ctx_destroy(e->ctx);
}

#define TRY(what, expr)                                  \
    do {                                                 \
        sigfuse_status st_ = (expr);                     \
        if (st_ != SIGFUSE_SUCCESS)                      \
            return fail(what, st_, e);                   \
    } while (0)

/* The head's shape and parameters (bias NULL or not), the fields its train step and its
 * predict both take. */
#define SET_HEAD(args, bufs, with_bias)                                                           \
    ((args).n = HN, (args).d = HD, (args).l = HL, (args).x = &(bufs)[HX], (args).w = &(bufs)[HW], \
     (args).bias = (with_bias) ? &(bufs)[HB] : NULL)

static int one_round(env *e, round_out *out)
{
    const sigfuse_buffer *d = e->desc;
    TRY("sigmoid_forward", sigfuse_sigmoid_forward(e->ctx, N, &d[X], &d[Y_SIG]));
    TRY("silu_backward", sigfuse_silu_backward(e->ctx, N, 1.5f, &d[X], &d[DY], &d[DX_SILU]));

    sigfuse_bce_args bce;
    sigfuse_bce_args_init(&bce);
    bce.rows = R;
    bce.cols = C;
    bce.reduction = SIGFUSE_REDUCTION_SUM;
    bce.logits = &d[LOGITS];
    bce.targets = &d[TARGETS];
    bce.loss = &d[LOSS];
    bce.dlogits = &d[DLOGITS];
    TRY("bce_with_logits", sigfuse_bce_with_logits(e->ctx, &bce));

    sigfuse_lstm_forward_args lf = {B, H, &d[GX4], NULL, &d[BIAS4], &d[CPREV], &d[LH], &d[LC]};
    TRY("lstm_cell_forward", sigfuse_lstm_cell_forward(e->ctx, &lf));

    sigfuse_gru_backward_args gb = {B, H, &d[GX3], &d[GH3], &d[BX3], &d[BH3], &d[HPREV], &d[DH],
                                    &d[DGX], &d[DGH], &d[DHP], &d[DBX], &d[DBH]};
    TRY("gru_cell_backward", sigfuse_gru_cell_backward(e->ctx, &gb));

    sigfuse_head_train_args ht;
    sigfuse_head_train_args_init(&ht);
    SET_HEAD(ht, d, true);
    ht.targets = &d[HT];
    ht.loss = &d[HLOSS];
    ht.dx = &d[HDX];
    ht.dw = &d[HDW];
    ht.dbias = &d[HDB];
    if (!e->ws_bytes) {
        size_t pneed = 0;
        sigfuse_head_predict_args q;
        sigfuse_head_predict_args_init(&q);
        SET_HEAD(q, d, false);
        q.probs = &d[HPROBS];
        TRY("head_train_workspace_size", sigfuse_head_train_workspace_size(e->ctx, &ht, 4, &e->ws_bytes));
        TRY("head_predict_workspace_size", sigfuse_head_predict_workspace_size(e->ctx, &q, 4, &pneed));
        if (pneed > e->ws_bytes)
            e->ws_bytes = pneed;
        if (e->ws_bytes) {
            if (sigfuse_ctx_backend(e->ctx) == SIGFUSE_BACKEND_CPU) {
                e->ws = aligned_alloc(64, (e->ws_bytes + 63) / 64 * 64);
                e->ws_desc = sigfuse_host_buffer(e->ws, SIGFUSE_U8);
            } else {
#ifdef SIGFUSE_WITH_OPENCL
                cl_int err;
                cl_mem m = clCreateBuffer(e->clctx, CL_MEM_READ_WRITE, e->ws_bytes, NULL, &err);
                e->ws_desc = sigfuse_opencl_buffer(m, 0, SIGFUSE_U8);
#endif
            }
        }
    }
    ht.workspace = e->ws_bytes ? &e->ws_desc : NULL;
    ht.workspace_bytes = e->ws_bytes;
    TRY("head_train_step", sigfuse_head_train_step(e->ctx, &ht));

    sigfuse_head_predict_args hp;
    sigfuse_head_predict_args_init(&hp);
    SET_HEAD(hp, d, true);
    hp.probs = &d[HPROBS];
    size_t pws = 0;
    TRY("head_predict_workspace_size", sigfuse_head_predict_workspace_size(e->ctx, &hp, 4, &pws));
    if (pws) {   /* the train step's workspace is free again: reuse it when it is large enough */
        if (pws > e->ws_bytes) {
            fprintf(stderr, "threads: head_predict needs %zu workspace bytes, more than the train step's %zu\n", pws,
                    e->ws_bytes);
            return 1;
        }
        hp.workspace = &e->ws_desc;
        hp.workspace_bytes = e->ws_bytes;
    }
    TRY("head_predict", sigfuse_head_predict(e->ctx, &hp));
    TRY("synchronize", sigfuse_ctx_synchronize(e->ctx));

    for (int i = 0; i < NBUF; i++) {
        if (!specs[i].output)
            continue;
        out->size[i] = e->bytes[i];
        out->bytes[i] = (unsigned char *)malloc(e->bytes[i]);
        if (e->desc[i].memory == SIGFUSE_MEMORY_HOST) {
            memcpy(out->bytes[i], e->host[i], e->bytes[i]);
        } else {
#ifdef SIGFUSE_WITH_OPENCL
            cl_int err = clEnqueueReadBuffer(e->queue, (cl_mem)e->desc[i].ptr, CL_TRUE, 0, e->bytes[i], out->bytes[i],
                                             0, NULL, NULL);
            if (err != CL_SUCCESS) {
                fprintf(stderr, "threads: clEnqueueReadBuffer: %d\n", (int)err);
                return 1;
            }
#endif
        }
    }
    return 0;
}

static void free_round(round_out *o)
{
    for (int i = 0; i < NBUF; i++)
        free(o->bytes[i]);
    memset(o, 0, sizeof *o);
}

typedef struct job {
    sigfuse_backend backend;
    sigfuse_dtype dtype;
    const round_out *expect;
    pthread_barrier_t *start;
    int id, result;
} job;

static int same(const round_out *a, const round_out *b, const char *who, int rep)
{
    for (int i = 0; i < NBUF; i++) {
        if (!specs[i].output)
            continue;
        if (a->size[i] != b->size[i] || memcmp(a->bytes[i], b->bytes[i], a->size[i]) != 0) {
            fprintf(stderr, "threads: %s, round %d: output %d differs from the single-thread result\n", who, rep, i);
            return 0;
        }
    }
    return 1;
}

static void *worker(void *arg)
{
    job *j = (job *)arg;
    char who[96];
    snprintf(who, sizeof who, "thread %d (%s, %s)", j->id, sigfuse_backend_name(j->backend),
             sigfuse_dtype_name(j->dtype));
    env e;
    pthread_barrier_wait(j->start);   /* every thread creates its context at once */
    j->result = setup(&e, j->backend, j->dtype);
    for (int rep = 0; rep < REPS && j->result == 0; rep++) {
        round_out got = {{0}, {0}};
        j->result = one_round(&e, &got);
        if (j->result == 0 && !same(j->expect, &got, who, rep))
            j->result = 1;
        free_round(&got);
    }
    teardown(&e);
    return NULL;
}

static int run_backend(sigfuse_backend backend, sigfuse_dtype dtype)
{
    /* One thread first: the expected bytes. */
    env e;
    round_out expect = {{0}, {0}};
    if (setup(&e, backend, dtype) || one_round(&e, &expect)) {
        teardown(&e);
        return 1;
    }
    teardown(&e);

    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, THREADS);
    pthread_t t[THREADS];
    job jobs[THREADS];
    for (int i = 0; i < THREADS; i++) {
        jobs[i] = (job){backend, dtype, &expect, &start, i, 1};
        if (pthread_create(&t[i], NULL, worker, &jobs[i]) != 0) {
            fprintf(stderr, "threads: pthread_create failed\n");
            return 1;
        }
    }
    int bad = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        bad |= jobs[i].result;
    }
    pthread_barrier_destroy(&start);
    free_round(&expect);
    printf("threads: %s %s: %d threads x %d rounds %s\n", sigfuse_backend_name(backend), sigfuse_dtype_name(dtype),
           THREADS, REPS, bad ? "FAILED" : "bitwise equal to one thread");
    return bad;
}

int main(int argc, char **argv)
{
    /* --no-opencl: the reference only (scripts/sanitize.sh tsan: PoCL's worker threads
     * spin under TSan, a single round takes minutes). */
    bool opencl = !(argc > 1 && strcmp(argv[1], "--no-opencl") == 0);
    int bad = 0;
    setvbuf(stdout, NULL, _IONBF, 0);
    bad |= run_backend(SIGFUSE_BACKEND_CPU, SIGFUSE_F32);
    bad |= run_backend(SIGFUSE_BACKEND_CPU, SIGFUSE_BF16);
    if (!opencl) {
        printf("threads: opencl: skipped (--no-opencl)\n");
    } else if (sigfuse_backend_available(SIGFUSE_BACKEND_OPENCL) == SIGFUSE_SUCCESS) {
        bad |= run_backend(SIGFUSE_BACKEND_OPENCL, SIGFUSE_F32);
        bad |= run_backend(SIGFUSE_BACKEND_OPENCL, SIGFUSE_BF16);
    } else {
        printf("threads: opencl: not available (%s), skipped\n",
               sigfuse_status_string(sigfuse_backend_available(SIGFUSE_BACKEND_OPENCL)));
    }
    return bad;
}
