/* SPDX-License-Identifier: MIT */
/*
 * Extreme multi-label classification with a head sharded by label over processes.
 *
 * Data (generated, the same for every seed on every number of ranks): inputs f ~ N(0, I_F);
 * a planted model scores every label, s_j(f) = tau * w*_j . f + zipf_j with w*_j ~ N(0, I/F)
 * and zipf_j = -log(1 + freq_rank(j)) (a Zipf prior, the frequency ranks a fixed random
 * permutation of the ids so that frequent labels land on every shard); each row gets m
 * positives (m uniform in 1..5) drawn from softmax(s) without replacement (Plackett-Luce,
 * what the Gumbel top-m trick samples). The planted model's own ranking (top-k of s) is the
 * stated ceiling for P@k; the labels most frequent in the training rows, the same list for
 * every row, are the floor a model that learned only the biases reaches.
 *
 * Model: X = relu(A f + a) [N, H] (A replicated on every rank, on the host), then the head
 * Z = X W^T + b with W [total_labels, H] sharded by label: rank r holds the labels
 * [r L / R, (r + 1) L / R). Each step every rank takes the same batch, runs
 * sigfuse_head_train_step on its shard with the batch's CSR positives (global ids, i64),
 * and the engine sums dX and the loss over the ranks: MPI_Allreduce (cpu, opencl) or
 * ncclAllReduce on the context's stream (cuda, built with NCCL). Each rank then updates
 * its own shard (Adam, on the host) and A from the summed dX (the same on every rank).
 * MEAN divides by N * total_labels; grad_scale = total_labels makes G the per-row mean
 * over the batch of the per-row sum over labels, as XMC losses are usually taken.
 * Evaluation: sigfuse_head_topk per shard, the shards' lists gathered (MPI_Allgather or
 * ncclAllGather), sigfuse_topk_merge, sigfuse_topk_metrics (P@1, P@5, R@5).
 *
 * Usage: mpirun -np R xmc [--backend cpu|opencl|cuda] [--labels L] [--features F]
 *          [--hidden H] [--train N] [--test T] [--batch B] [--epochs E] [--lr LR]
 *          [--seed S] [--tau TAU] [--report-every K] [--out FILE] [--min-p1 P]
 * Rank 0 prints the loss curve and the metrics and, with --out, writes them and the merged
 * top-5 lists (ids and logits) for xmc_compare. Exit status: 0, 1 when P@1 stays under
 * --min-p1 (or on an error), 77 when the backend has no device here (ctest's "skipped").
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "example_backend.h"
#include "example_util.h"
#include "sigfuse.h"

#ifdef SIGFUSE_XMC_NCCL
#include <cuda_runtime_api.h>
#include <nccl.h>

#include "sigfuse_cuda.h"
#endif

enum { MAX_POS = 5, K = 5 };

/* ---- Options ------------------------------------------------------------------------------ */

typedef struct opts {
    const char *backend, *out;
    int64_t labels;
    int features, hidden, train, test, batch, epochs, report_every;
    double lr, tau, min_p1;
    uint64_t seed;
} opts;

static void usage(void)
{
    example_die("usage: mpirun -np R xmc [--backend cpu|opencl|cuda] [--labels L] [--features F] "
                "[--hidden H] [--train N] [--test T] [--batch B] [--epochs E] [--lr LR] [--seed S] "
                "[--tau TAU] [--report-every K] [--out FILE] [--min-p1 P]");
}

static opts parse(int argc, char **argv)
{
    opts o = {.backend = example_backend_default(), .out = NULL, .labels = 20000, .features = 8,
              .hidden = 16, .train = 1280, .test = 300, .batch = 32, .epochs = 1, .report_every = 10,
              .lr = 1e-2, .tau = 4.0, .min_p1 = 0.0, .seed = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            usage();
        i++;
        if (!strcmp(a, "--backend")) o.backend = v;
        else if (!strcmp(a, "--out")) o.out = v;
        else if (!strcmp(a, "--labels")) o.labels = atoll(v);
        else if (!strcmp(a, "--features")) o.features = atoi(v);
        else if (!strcmp(a, "--hidden")) o.hidden = atoi(v);
        else if (!strcmp(a, "--train")) o.train = atoi(v);
        else if (!strcmp(a, "--test")) o.test = atoi(v);
        else if (!strcmp(a, "--batch")) o.batch = atoi(v);
        else if (!strcmp(a, "--epochs")) o.epochs = atoi(v);
        else if (!strcmp(a, "--report-every")) o.report_every = atoi(v);
        else if (!strcmp(a, "--lr")) o.lr = atof(v);
        else if (!strcmp(a, "--tau")) o.tau = atof(v);
        else if (!strcmp(a, "--min-p1")) o.min_p1 = atof(v);
        else if (!strcmp(a, "--seed")) o.seed = strtoull(v, NULL, 10);
        else usage();
    }
    if (o.labels < K || o.features < 1 || o.hidden < 1 || o.train < 1 || o.test < 1 || o.batch < 1 ||
        o.epochs < 1 || o.report_every < 1)
        usage();
    return o;
}

/* ---- Random numbers keyed by (seed, stream, index): the same on any number of ranks ----- */

static example_rng rng_for(uint64_t seed, uint64_t stream, uint64_t index)
{
    example_rng r = {seed * 0x9E3779B97F4A7C15ull ^ (stream << 56) ^ index};
    example_rng_next(&r);
    return r;
}

static double normal(example_rng *r)
{
    double u = 1.0 - example_rng_uniform(r), v = example_rng_uniform(r);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

enum { STREAM_WSTAR = 1, STREAM_ROW, STREAM_PERM, STREAM_A, STREAM_W, STREAM_SHUFFLE };

/* ---- The data ----------------------------------------------------------------------------- */

typedef struct data {
    int rows, F;
    float *f;          /* [rows, F] */
    int64_t *pos;      /* [rows, MAX_POS] sorted ids, -1 after the row's m */
    int64_t *planted;  /* [rows, K] the planted model's top-K by s (the ceiling) */
} data;

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Rows [first, first + rows) of the stream; this rank makes every R-th row and the
 * gather (a sum where the other ranks hold zeros, a max where they hold -1) completes
 * them: exact, so the data do not depend on R. */
static data make_data(const opts *o, const float *wstar, const float *zipf, int first, int rows, int rank,
                      int ranks)
{
    const int F = o->features;
    const int64_t L = o->labels;
    data d = {rows, F, NULL, NULL, NULL};
    d.f = (float *)example_xcalloc((size_t)rows * F, sizeof(float));
    d.pos = (int64_t *)example_xcalloc((size_t)rows * MAX_POS, sizeof(int64_t));
    d.planted = (int64_t *)example_xcalloc((size_t)rows * K, sizeof(int64_t));
    for (size_t i = 0; i < (size_t)rows * MAX_POS; i++)
        d.pos[i] = -1;
    for (size_t i = 0; i < (size_t)rows * K; i++)
        d.planted[i] = -1;
    double *cum = (double *)example_xcalloc((size_t)L, sizeof(double));
    float *s = (float *)example_xcalloc((size_t)L, sizeof(float));
    for (int i = rank; i < rows; i += ranks) {
        example_rng r = rng_for(o->seed, STREAM_ROW, (uint64_t)(first + i));
        float *fi = d.f + (size_t)i * F;
        for (int c = 0; c < F; c++)
            fi[c] = (float)normal(&r);
        double smax = -INFINITY;
        for (int64_t j = 0; j < L; j++) {
            const float *wj = wstar + (size_t)j * F;
            float acc = 0.0f;
            for (int c = 0; c < F; c++)
                acc += wj[c] * fi[c];
            s[j] = (float)o->tau * acc + zipf[j];
            smax = s[j] > smax ? s[j] : smax;
        }
        double total = 0.0;
        for (int64_t j = 0; j < L; j++) {
            total += exp(s[j] - smax);
            cum[j] = total;
        }
        /* m draws from softmax(s) without replacement: a repeat is drawn again. */
        int m = 1 + (int)(example_rng_uniform(&r) * MAX_POS);
        int64_t *p = d.pos + (size_t)i * MAX_POS;
        for (int got = 0; got < m;) {
            double u = example_rng_uniform(&r) * total;
            int64_t lo = 0, hi = L - 1;
            while (lo < hi) {
                int64_t mid = (lo + hi) / 2;
                if (cum[mid] > u) hi = mid;
                else lo = mid + 1;
            }
            int dup = 0;
            for (int q = 0; q < got; q++)
                dup |= p[q] == lo;
            if (!dup)
                p[got++] = lo;
        }
        qsort(p, (size_t)m, sizeof *p, cmp_i64);
        /* The planted top-K by s (larger first, equal by smaller id, as head_topk orders). */
        int64_t *t = d.planted + (size_t)i * K;
        for (int64_t j = 0; j < L; j++) {
            int q = K;
            while (q > 0 && (t[q - 1] < 0 || s[j] > s[t[q - 1]]))
                q--;
            if (q < K) {
                memmove(t + q + 1, t + q, sizeof *t * (size_t)(K - 1 - q));
                t[q] = j;
            }
        }
    }
    free(cum);
    free(s);
    MPI_Allreduce(MPI_IN_PLACE, d.f, rows * F, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, d.pos, rows * MAX_POS, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, d.planted, rows * K, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD);
    return d;
}

static void data_free(data *d)
{
    free(d->f);
    free(d->pos);
    free(d->planted);
}

/* CSR of the given rows (i64 offsets and global ids, as head_train_step and topk_metrics
 * take them); returns nnz. */
static int64_t csr_of(const data *d, const int *rows, int n, int64_t *offsets, int64_t *labels)
{
    int64_t nnz = 0;
    offsets[0] = 0;
    for (int i = 0; i < n; i++) {
        const int64_t *p = d->pos + (size_t)rows[i] * MAX_POS;
        for (int q = 0; q < MAX_POS && p[q] >= 0; q++)
            labels[nnz++] = p[q];
        offsets[i + 1] = nnz;
    }
    return nnz;
}

/* ---- Device memory and the engine ------------------------------------------------------------
 * cpu and opencl: the examples' backend layer, and MPI on host copies. cuda with NCCL: one
 * GPU per rank on a node (the local rank picks it), cudaMalloc'd memory, NCCL collectives
 * on the stream the sigfuse context enqueues on, so the sums follow the head's work with
 * no host round trip. */

typedef struct dev {
    sigfuse_backend backend;
    sigfuse_ctx *ctx;
    example_device ex;   /* cpu, opencl */
    int nccl;
#ifdef SIGFUSE_XMC_NCCL
    cudaStream_t stream;
    ncclComm_t comm;
#endif
} dev;

typedef struct mem {
    void *ptr;
    size_t bytes;
} mem;

#ifdef SIGFUSE_XMC_NCCL
static void cuda_check(cudaError_t e, const char *what)
{
    if (e != cudaSuccess)
        example_die("%s: %s", what, cudaGetErrorString(e));
}
static void nccl_check(ncclResult_t r, const char *what)
{
    if (r != ncclSuccess)
        example_die("%s: %s", what, ncclGetErrorString(r));
}
#endif

/* 0, or EXAMPLE_EXIT_SKIP / 1 with a message. */
static int dev_open(dev *d, const char *name, int rank, int ranks)
{
    memset(d, 0, sizeof *d);
#ifdef SIGFUSE_XMC_NCCL
    if (!strcmp(name, "cuda")) {
        MPI_Comm node;
        int local = 0, count = 0;
        MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node);
        MPI_Comm_rank(node, &local);
        MPI_Comm_free(&node);
        if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
            fprintf(stderr, "%s: no CUDA device\n", example_program);
            return EXAMPLE_EXIT_SKIP;
        }
        int device = local % count;
        cuda_check(cudaSetDevice(device), "cudaSetDevice");
        cuda_check(cudaStreamCreateWithFlags(&d->stream, cudaStreamNonBlocking), "cudaStreamCreate");
        sigfuse_status st = sigfuse_ctx_create_cuda(&d->ctx, device, d->stream);
        if (st != SIGFUSE_SUCCESS) {
            fprintf(stderr, "%s: sigfuse_ctx_create_cuda: %s: %s\n", example_program, sigfuse_status_string(st),
                    sigfuse_last_create_error());
            return st == SIGFUSE_ERR_NOT_BUILT || st == SIGFUSE_ERR_NO_DEVICE ? EXAMPLE_EXIT_SKIP : 1;
        }
        ncclUniqueId id;
        if (rank == 0)
            nccl_check(ncclGetUniqueId(&id), "ncclGetUniqueId");
        MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD);
        nccl_check(ncclCommInitRank(&d->comm, ranks, id, rank), "ncclCommInitRank");
        d->backend = SIGFUSE_BACKEND_CUDA;
        d->nccl = 1;
        return 0;
    }
#else
    (void)rank;
    (void)ranks;
#endif
    int st = example_device_open(&d->ex, name, 1);
    if (st)
        return st;
    d->backend = d->ex.backend;
    d->ctx = d->ex.ctx;
    return 0;
}

static void dev_close(dev *d)
{
#ifdef SIGFUSE_XMC_NCCL
    if (d->nccl) {
        ncclCommDestroy(d->comm);
        sigfuse_ctx_destroy(d->ctx);
        cudaStreamDestroy(d->stream);
        return;
    }
#endif
    example_device_close(&d->ex);
}

static mem mem_alloc(dev *d, size_t bytes)
{
    mem m = {NULL, bytes};
#ifdef SIGFUSE_XMC_NCCL
    if (d->nccl) {
        cuda_check(cudaMalloc(&m.ptr, bytes ? bytes : 1), "cudaMalloc");
        return m;
    }
#endif
    example_mem em;
    if (example_mem_alloc(&d->ex, bytes, &em))
        exit(1);
    m.ptr = em.ptr;
    return m;
}

static void mem_free(dev *d, mem *m)
{
#ifdef SIGFUSE_XMC_NCCL
    if (d->nccl) {
        cudaFree(m->ptr);
        m->ptr = NULL;
        return;
    }
#endif
    example_mem em = {m->ptr, m->bytes};
    example_mem_free(&d->ex, &em);
    m->ptr = NULL;
}

/* Blocking copies, ordered after the work already on the context's stream / queue. */
static void mem_write(dev *d, const mem *m, size_t off, const void *src, size_t bytes)
{
#ifdef SIGFUSE_XMC_NCCL
    if (d->nccl) {
        cuda_check(cudaMemcpyAsync((char *)m->ptr + off, src, bytes, cudaMemcpyHostToDevice, d->stream), "upload");
        cuda_check(cudaStreamSynchronize(d->stream), "upload");
        return;
    }
#endif
    example_mem em = {m->ptr, m->bytes};
    if (example_mem_write(&d->ex, &em, off, src, bytes))
        exit(1);
}

static void mem_read(dev *d, const mem *m, size_t off, void *dst, size_t bytes)
{
#ifdef SIGFUSE_XMC_NCCL
    if (d->nccl) {
        cuda_check(cudaMemcpyAsync(dst, (const char *)m->ptr + off, bytes, cudaMemcpyDeviceToHost, d->stream),
                   "download");
        cuda_check(cudaStreamSynchronize(d->stream), "download");
        return;
    }
#endif
    example_mem em = {m->ptr, m->bytes};
    if (example_mem_read(&d->ex, &em, off, dst, bytes))
        exit(1);
}

static sigfuse_buffer mem_buf(const dev *d, const mem *m, size_t off, sigfuse_dtype dtype)
{
#ifdef SIGFUSE_XMC_NCCL
    if (d->nccl)
        return sigfuse_cuda_buffer((const char *)m->ptr + off, dtype);
#endif
    example_mem em = {m->ptr, m->bytes};
    return example_mem_buffer(&d->ex, &em, off, dtype);
}

/* The sum over ranks of `count` floats at byte 0 of m, into host (every rank gets it). */
static void engine_sum(dev *d, const mem *m, float *host, size_t count)
{
#ifdef SIGFUSE_XMC_NCCL
    if (d->nccl) {
        nccl_check(ncclAllReduce(m->ptr, m->ptr, count, ncclFloat, ncclSum, d->comm, d->stream), "ncclAllReduce");
        mem_read(d, m, 0, host, count * sizeof(float));
        return;
    }
#endif
    mem_read(d, m, 0, host, count * sizeof(float));
    MPI_Allreduce(MPI_IN_PLACE, host, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
}

/* Every rank's `bytes` at byte src_off of src, rank after rank, into dst from byte dst_off
 * (an all-gather); the host arrays are the MPI engine's staging. */
static void engine_gather(dev *d, const mem *src, size_t src_off, const mem *dst, size_t dst_off, size_t bytes,
                          void *host_src, void *host_dst)
{
#ifdef SIGFUSE_XMC_NCCL
    if (d->nccl) {
        (void)host_src;
        (void)host_dst;
        nccl_check(ncclAllGather((const char *)src->ptr + src_off, (char *)dst->ptr + dst_off, bytes, ncclChar,
                                 d->comm, d->stream),
                   "ncclAllGather");
        return;
    }
#endif
    int ranks;
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    mem_read(d, src, src_off, host_src, bytes);
    MPI_Allgather(host_src, (int)bytes, MPI_BYTE, host_dst, (int)bytes, MPI_BYTE, MPI_COMM_WORLD);
    mem_write(d, dst, dst_off, host_dst, bytes * (size_t)ranks);
}

/* ---- Adam ------------------------------------------------------------------------------------ */

typedef struct adam {
    float *m, *v;
    size_t n;
    int t;
} adam;

static void adam_init(adam *a, size_t n)
{
    a->m = (float *)example_xcalloc(n, sizeof(float));
    a->v = (float *)example_xcalloc(n, sizeof(float));
    a->n = n;
    a->t = 0;
}

static void adam_step(adam *a, float *p, const float *g, double lr)
{
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
    a->t++;
    const double c1 = 1.0 - pow(b1, a->t), c2 = 1.0 - pow(b2, a->t);
    for (size_t i = 0; i < a->n; i++) {
        a->m[i] = (float)(b1 * a->m[i] + (1.0 - b1) * g[i]);
        a->v[i] = (float)(b2 * a->v[i] + (1.0 - b2) * (double)g[i] * g[i]);
        p[i] -= (float)(lr * (a->m[i] / c1) / (sqrt(a->v[i] / c2) + eps));
    }
}

static void adam_free(adam *a)
{
    free(a->m);
    free(a->v);
}

/* ---- The hidden layer (host) --------------------------------------------------------------- */

/* X = relu(A f + a) for the given rows of d. */
static void hidden_forward(const float *A, const float *a, int H, const data *d, const int *rows, int n, float *X)
{
    const int F = d->F;
    for (int i = 0; i < n; i++) {
        const float *fi = d->f + (size_t)rows[i] * F;
        for (int h = 0; h < H; h++) {
            float s = a[h];
            for (int c = 0; c < F; c++)
                s += A[(size_t)h * F + c] * fi[c];
            X[(size_t)i * H + h] = s > 0.0f ? s : 0.0f;
        }
    }
}

/* ---- Evaluation -------------------------------------------------------------------------------- */

typedef struct metrics {
    double p1, p5, r5;
} metrics;

static metrics metrics_of(int n, const int64_t *top, const int64_t *off, const int64_t *lab)
{
    metrics m;
    int64_t *first = (int64_t *)example_xcalloc((size_t)n, sizeof(int64_t));
    for (int i = 0; i < n; i++)
        first[i] = top[(size_t)i * K];
    double r1;
    if (sigfuse_topk_metrics(n, 1, first, off, lab, &m.p1, &r1) != SIGFUSE_SUCCESS ||
        sigfuse_topk_metrics(n, K, top, off, lab, &m.p5, &m.r5) != SIGFUSE_SUCCESS)
        example_die("sigfuse_topk_metrics failed");
    free(first);
    return m;
}

/* ---- main ----------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    example_program = "xmc";
    MPI_Init(&argc, &argv);
    int rank, ranks;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    const opts o = parse(argc, argv);
    const int F = o.features, H = o.hidden, B = o.batch, T = o.test;
    const int64_t L = o.labels;
    const int64_t lo = (int64_t)rank * L / ranks, hi = (int64_t)(rank + 1) * L / ranks, Ls = hi - lo;
    /* An earlier run's --out file goes first: a run that stops early (no device, an error)
     * must not leave it for xmc_compare to read as this run's. */
    if (rank == 0 && o.out)
        remove(o.out);

    dev d;
    int st = dev_open(&d, o.backend, rank, ranks), worst = 0;
    MPI_Allreduce(&st, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (worst) {   /* every rank leaves the same way, so that mpirun passes the status on */
        if (!st)
            dev_close(&d);
        MPI_Finalize();
        return worst;
    }
    const double t0 = example_now_s();

    /* The planted model, on every rank (L x F normals). */
    float *wstar = (float *)example_xcalloc((size_t)L * F, sizeof(float));
    float *zipf = (float *)example_xcalloc((size_t)L, sizeof(float));
    {
        example_rng r = rng_for(o.seed, STREAM_WSTAR, 0);
        for (size_t i = 0; i < (size_t)L * F; i++)
            wstar[i] = (float)(normal(&r) / sqrt((double)F));
        int64_t *perm = (int64_t *)example_xcalloc((size_t)L, sizeof(int64_t));
        example_rng p = rng_for(o.seed, STREAM_PERM, 0);
        for (int64_t j = 0; j < L; j++)
            perm[j] = j;
        for (int64_t j = L - 1; j > 0; j--) {
            int64_t q = (int64_t)(example_rng_uniform(&p) * (double)(j + 1)), t = perm[j];
            perm[j] = perm[q];
            perm[q] = t;
        }
        for (int64_t rk = 0; rk < L; rk++)
            zipf[perm[rk]] = (float)-log1p((double)rk);
        free(perm);
    }
    data train = make_data(&o, wstar, zipf, 0, o.train, rank, ranks);
    data test = make_data(&o, wstar, zipf, o.train, T, rank, ranks);
    free(wstar);
    free(zipf);
    const double t_data = example_now_s() - t0;

    /* Test CSR, the ceiling (planted top-K) and the floor (most frequent training labels). */
    int *test_rows = (int *)example_xcalloc((size_t)T, sizeof(int));
    for (int i = 0; i < T; i++)
        test_rows[i] = i;
    int64_t *test_off = (int64_t *)example_xcalloc((size_t)T + 1, sizeof(int64_t));
    int64_t *test_lab = (int64_t *)example_xcalloc((size_t)T * MAX_POS, sizeof(int64_t));
    csr_of(&test, test_rows, T, test_off, test_lab);
    metrics ceiling = metrics_of(T, test.planted, test_off, test_lab), floor_m;
    {
        int64_t *count = (int64_t *)example_xcalloc((size_t)L, sizeof(int64_t)), best[K];
        for (size_t i = 0; i < (size_t)o.train * MAX_POS; i++)
            if (train.pos[i] >= 0)
                count[train.pos[i]]++;
        for (int q = 0; q < K; q++) {   /* the K largest counts, equal counts by the smaller id */
            best[q] = -1;
            for (int64_t j = 0; j < L; j++) {
                int taken = 0;
                for (int p = 0; p < q; p++)
                    taken |= best[p] == j;
                if (!taken && (best[q] < 0 || count[j] > count[best[q]]))
                    best[q] = j;
            }
        }
        int64_t *prior = (int64_t *)example_xcalloc((size_t)T * K, sizeof(int64_t));
        for (int i = 0; i < T; i++)
            memcpy(prior + (size_t)i * K, best, sizeof best);
        floor_m = metrics_of(T, prior, test_off, test_lab);
        free(prior);
        free(count);
    }

    /* Parameters: A [H, F] and a [H] replicated; this shard's W [Ls, H] and b [Ls]. Each
     * label's initial row comes from its global id, so any sharding starts the same. */
    const size_t nA = (size_t)H * F + H, nW = (size_t)Ls * H + Ls;
    float *pA = (float *)example_xcalloc(nA, sizeof(float)), *gA = (float *)example_xcalloc(nA, sizeof(float));
    float *pW = (float *)example_xcalloc(nW, sizeof(float)), *gW = (float *)example_xcalloc(nW, sizeof(float));
    float *A = pA, *a = pA + (size_t)H * F, *W = pW, *b = pW + (size_t)Ls * H;
    {
        example_rng r = rng_for(o.seed, STREAM_A, 0);
        for (size_t i = 0; i < (size_t)H * F; i++)
            A[i] = (float)(normal(&r) * sqrt(2.0 / F));
        for (int64_t j = 0; j < Ls; j++) {
            example_rng rw = rng_for(o.seed, STREAM_W, (uint64_t)(lo + j));
            for (int h = 0; h < H; h++)
                W[(size_t)j * H + h] = (float)(normal(&rw) * 0.01);
            b[j] = (float)-log((double)L);   /* sigmoid(b) = 1/L, about a label's share of positives */
        }
    }
    adam optA, optW;
    adam_init(&optA, nA);
    adam_init(&optW, nW);

    /* Device buffers: the shard's parameters (W then b) and gradients (dW then db), a
     * batch's X, CSR and the summed part (dX then the loss), the top-k lists. */
    const int NX = B > T ? B : T;
    mem m_param = mem_alloc(&d, nW * 4), m_grad = mem_alloc(&d, nW * 4);
    mem m_x = mem_alloc(&d, (size_t)NX * H * 4);
    mem m_off = mem_alloc(&d, ((size_t)B + 1) * 8), m_lab = mem_alloc(&d, (size_t)B * MAX_POS * 8);
    mem m_sum = mem_alloc(&d, ((size_t)B * H + 1) * 4);
    mem m_top = mem_alloc(&d, (size_t)T * K * 12);   /* ids (i64) then logits (f32) */
    mem m_all = mem_alloc(&d, (size_t)ranks * T * K * 12), m_merged = mem_alloc(&d, (size_t)T * K * 8);
    sigfuse_buffer bW = mem_buf(&d, &m_param, 0, SIGFUSE_F32), bb = mem_buf(&d, &m_param, (size_t)Ls * H * 4, SIGFUSE_F32);
    sigfuse_buffer bdW = mem_buf(&d, &m_grad, 0, SIGFUSE_F32), bdb = mem_buf(&d, &m_grad, (size_t)Ls * H * 4, SIGFUSE_F32);
    sigfuse_buffer bX = mem_buf(&d, &m_x, 0, SIGFUSE_F32), bdX = mem_buf(&d, &m_sum, 0, SIGFUSE_F32);
    sigfuse_buffer bloss = mem_buf(&d, &m_sum, (size_t)B * H * 4, SIGFUSE_F32);
    sigfuse_buffer boff = mem_buf(&d, &m_off, 0, SIGFUSE_I64), blab = mem_buf(&d, &m_lab, 0, SIGFUSE_I64);

    sigfuse_head_train_args ta;
    sigfuse_head_train_args_init(&ta);
    ta.n = B;
    ta.d = H;
    ta.l = Ls;
    ta.reduction = SIGFUSE_REDUCTION_MEAN;
    ta.grad_scale = (float)L;   /* G = g / B: per row, the sum over all labels */
    ta.x = &bX;
    ta.w = &bW;
    ta.bias = &bb;
    ta.pos_offsets = &boff;
    ta.pos_labels = &blab;
    ta.label_offset = lo;
    ta.total_labels = L;
    ta.loss = &bloss;
    ta.dx = &bdX;
    ta.dw = &bdW;
    ta.dbias = &bdb;
    ta.nnz = 0;   /* the size query below only needs the shapes and valid buffers */
    size_t ws_bytes = 0;
    example_check(d.ctx, sigfuse_head_train_workspace_size(d.ctx, &ta, B, &ws_bytes), "sigfuse_head_train_workspace_size");
    sigfuse_head_topk_args ka;
    sigfuse_head_topk_args_init(&ka);
    sigfuse_buffer btl = mem_buf(&d, &m_top, 0, SIGFUSE_I64), btz = mem_buf(&d, &m_top, (size_t)T * K * 8, SIGFUSE_F32);
    ka.n = T;
    ka.d = H;
    ka.l = Ls;
    ka.k = K;
    ka.label_offset = lo;
    ka.x = &bX;
    ka.w = &bW;
    ka.bias = &bb;
    ka.top_labels = &btl;
    ka.top_logits = &btz;
    size_t ws_topk = 0;
    example_check(d.ctx, sigfuse_head_topk_workspace_size(d.ctx, &ka, 0, &ws_topk), "sigfuse_head_topk_workspace_size");
    mem m_ws = mem_alloc(&d, ws_bytes > ws_topk ? ws_bytes : ws_topk);
    sigfuse_buffer bws = mem_buf(&d, &m_ws, 0, SIGFUSE_U8);
    ta.workspace = &bws;
    ta.workspace_bytes = ws_bytes;
    ka.workspace = &bws;
    ka.workspace_bytes = ws_topk;

    if (rank == 0)
        printf("xmc: backend %s, %d rank%s (engine %s), %lld labels (%lld per shard), F %d, H %d, "
               "%d train / %d test rows, batch %d, %d epoch%s; data %.1f s\n"
               "xmc: test P@1 / P@5 / R@5: planted model (ceiling) %.4f / %.4f / %.4f, "
               "most frequent labels (floor) %.4f / %.4f / %.4f\n",
               o.backend, ranks, ranks > 1 ? "s" : "", d.nccl ? "NCCL" : "MPI", (long long)L, (long long)Ls,
               F, H, o.train, T, B, o.epochs, o.epochs > 1 ? "s" : "", t_data, ceiling.p1, ceiling.p5, ceiling.r5,
               floor_m.p1, floor_m.p5, floor_m.r5);

    FILE *out = NULL;
    if (rank == 0 && o.out && !(out = fopen(o.out, "w")))
        example_die("cannot write %s", o.out);

    float *X = (float *)example_xcalloc((size_t)NX * H, sizeof(float));
    float *sum = (float *)example_xcalloc((size_t)B * H + 1, sizeof(float));
    int64_t *off = (int64_t *)example_xcalloc((size_t)B + 1, sizeof(int64_t));
    int64_t *lab = (int64_t *)example_xcalloc((size_t)B * MAX_POS, sizeof(int64_t));
    int *order = (int *)example_xcalloc((size_t)o.train, sizeof(int));
    for (int i = 0; i < o.train; i++)
        order[i] = i;
    mem_write(&d, &m_param, 0, pW, nW * 4);

    const int steps_per_epoch = o.train / B;
    int step = 0;
    double loss_acc = 0.0;
    for (int e = 0; e < o.epochs; e++) {
        example_rng sh = rng_for(o.seed, STREAM_SHUFFLE, (uint64_t)e);
        for (int i = o.train - 1; i > 0; i--) {
            int q = (int)(example_rng_uniform(&sh) * (i + 1)), t = order[i];
            order[i] = order[q];
            order[q] = t;
        }
        for (int s = 0; s < steps_per_epoch; s++, step++) {
            const int *rows = order + (size_t)s * B;
            hidden_forward(A, a, H, &train, rows, B, X);
            int64_t nnz = csr_of(&train, rows, B, off, lab);
            mem_write(&d, &m_x, 0, X, (size_t)B * H * 4);
            mem_write(&d, &m_off, 0, off, ((size_t)B + 1) * 8);
            mem_write(&d, &m_lab, 0, lab, (size_t)nnz * 8);
            ta.nnz = nnz;
            example_check(d.ctx, sigfuse_head_train_step(d.ctx, &ta), "sigfuse_head_train_step");

            /* The shard's parts of dX and the loss, summed over the ranks. */
            engine_sum(&d, &m_sum, sum, (size_t)B * H + 1);
            const double loss = (double)sum[(size_t)B * H] * (double)L;   /* per row, over all labels */
            loss_acc += loss;

            /* This shard: Adam on W and b. */
            mem_read(&d, &m_grad, 0, gW, nW * 4);
            adam_step(&optW, pW, gW, o.lr);
            mem_write(&d, &m_param, 0, pW, nW * 4);

            /* A and a from the summed dX, through the relu (the same on every rank). */
            memset(gA, 0, nA * sizeof(float));
            for (int i = 0; i < B; i++) {
                const float *fi = train.f + (size_t)rows[i] * F;
                for (int h = 0; h < H; h++) {
                    if (X[(size_t)i * H + h] <= 0.0f)
                        continue;
                    const float g = sum[(size_t)i * H + h];
                    gA[(size_t)H * F + h] += g;
                    for (int c = 0; c < F; c++)
                        gA[(size_t)h * F + c] += g * fi[c];
                }
            }
            adam_step(&optA, pA, gA, o.lr);

            if ((step + 1) % o.report_every == 0) {
                if (rank == 0)
                    printf("step %4d  loss %.6f (per row, this step)  mean of the last %d %.6f\n", step + 1, loss,
                           o.report_every, loss_acc / o.report_every);
                if (out)
                    fprintf(out, "loss %d %.9g\n", step + 1, loss);
                loss_acc = 0.0;
            }
        }
    }
    const double t_train = example_now_s() - t0 - t_data;

    /* Evaluation: per-shard top-K, gathered, merged. */
    hidden_forward(A, a, H, &test, test_rows, T, X);
    mem_write(&d, &m_x, 0, X, (size_t)T * H * 4);
    example_check(d.ctx, sigfuse_head_topk(d.ctx, &ka), "sigfuse_head_topk");
    /* [ranks, T, K] ids, then [ranks, T, K] logits, as topk_merge takes them. */
    char *stage = (char *)example_xcalloc((size_t)ranks * T * K * 12, 1);
    char *stage1 = (char *)example_xcalloc((size_t)T * K * 12, 1);
    engine_gather(&d, &m_top, 0, &m_all, 0, (size_t)T * K * 8, stage1, stage);
    engine_gather(&d, &m_top, (size_t)T * K * 8, &m_all, (size_t)ranks * T * K * 8, (size_t)T * K * 4, stage1, stage);
    sigfuse_buffer bil = mem_buf(&d, &m_all, 0, SIGFUSE_I64);
    sigfuse_buffer biz = mem_buf(&d, &m_all, (size_t)ranks * T * K * 8, SIGFUSE_F32);
    sigfuse_buffer bml = mem_buf(&d, &m_merged, 0, SIGFUSE_I64);
    sigfuse_buffer bmz = mem_buf(&d, &m_top, (size_t)T * K * 8, SIGFUSE_F32);   /* the shard's logits are spent */
    sigfuse_topk_merge_args ma;
    sigfuse_topk_merge_args_init(&ma);
    ma.n = T;
    ma.k = K;
    ma.shards = ranks;
    ma.in_labels = &bil;
    ma.in_logits = &biz;
    ma.top_labels = &bml;
    ma.top_logits = &bmz;
    example_check(d.ctx, sigfuse_topk_merge(d.ctx, &ma), "sigfuse_topk_merge");
    int64_t *top = (int64_t *)example_xcalloc((size_t)T * K, sizeof(int64_t));
    float *topz = (float *)example_xcalloc((size_t)T * K, sizeof(float));
    mem_read(&d, &m_merged, 0, top, (size_t)T * K * 8);
    mem_read(&d, &m_top, (size_t)T * K * 8, topz, (size_t)T * K * 4);
    metrics got = metrics_of(T, top, test_off, test_lab);
    const double t_all = example_now_s() - t0;

    int status = 0;
    if (rank == 0) {
        printf("xmc: test P@1 %.4f  P@5 %.4f  R@5 %.4f (ceiling %.4f / %.4f / %.4f); "
               "train %.1f s, total %.1f s\n",
               got.p1, got.p5, got.r5, ceiling.p1, ceiling.p5, ceiling.r5, t_train, t_all);
        printf("xmc: test row 0: positives");
        for (int64_t q = test_off[0]; q < test_off[1]; q++)
            printf(" %lld", (long long)test_lab[q]);
        printf("; predicted");
        for (int q = 0; q < K; q++)
            printf(" %lld (%.3f)", (long long)top[q], 1.0 / (1.0 + exp(-(double)topz[q])));
        printf("\n");
        if (out) {
            fprintf(out, "metric p1 %.9g\nmetric p5 %.9g\nmetric r5 %.9g\n", got.p1, got.p5, got.r5);
            for (int i = 0; i < T; i++) {
                fprintf(out, "top %d", i);
                for (int q = 0; q < K; q++)
                    fprintf(out, " %lld %.9g", (long long)top[(size_t)i * K + q], topz[(size_t)i * K + q]);
                fprintf(out, "\n");
            }
            fclose(out);
        }
        if (got.p1 < o.min_p1) {
            fprintf(stderr, "xmc: P@1 %.4f is under --min-p1 %.4f\n", got.p1, o.min_p1);
            status = 1;
        }
    }
    MPI_Bcast(&status, 1, MPI_INT, 0, MPI_COMM_WORLD);

    free(top);
    free(topz);
    free(stage);
    free(stage1);
    free(X);
    free(sum);
    free(off);
    free(lab);
    free(order);
    free(test_rows);
    free(test_off);
    free(test_lab);
    free(pA);
    free(gA);
    free(pW);
    free(gW);
    adam_free(&optA);
    adam_free(&optW);
    mem *all[] = {&m_param, &m_grad, &m_x, &m_off, &m_lab, &m_sum, &m_top, &m_all, &m_merged, &m_ws};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        mem_free(&d, all[i]);
    data_free(&train);
    data_free(&test);
    dev_close(&d);
    MPI_Finalize();
    return status;
}
