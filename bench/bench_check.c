/* SPDX-License-Identifier: MIT */
/*
 * sigfuse-bench: checking a backend's outputs: two runs on poisoned outputs, every output
 * element written, within a tolerance of the reference per dtype, the same bits twice.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_internal.h"
#include "sf_internal.h" /* sf_host_load / sf_round_to_dtype: any dtype on the host */

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
    if (bench_case_gemm(in->c)) {
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
    int pieces = bench_pieces_for(count, 16.0);
    bench_run_pieces(pieces, count, compare_piece, &job);
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

static int buf_named(const instance *in, const char *name)
{
    for (int i = 0; i < in->nbuf; i++)
        if (strcmp(in->buf[i].name, name) == 0)
            return i;
    return -1;
}

/* Label ids (top_labels) over `rows` rows: the reference's, or where a head's differ, ids
 * whose logit (from the reference's copies of x, W, b, in double) is within the logits'
 * tolerance of the reference's logit at that place: a tie within what the products may
 * round (a 16-bit head's many equal logits, a device's summation order). topk_merge's
 * lists involve no product: its ids must be the reference's. */
static bool compare_ids(const instance *in, int i, void *const *got, int64_t rows, char *note, size_t note_size)
{
    const bench_buf *b = &in->buf[i];
    const int64_t k = b->count, count = rows * k;
    const sigfuse_buffer g = sigfuse_host_buffer(got[i], SIGFUSE_I32), ref = sigfuse_host_buffer(in->ref[i], SIGFUSE_I32);
    const int lg = buf_named(in, "top_logits"), x = buf_named(in, "x"), w = buf_named(in, "w"), bias = buf_named(in, "bias");
    const bool head = bench_case_gemm(in->c) && lg >= 0 && x >= 0 && w >= 0;
    double rel = 0.0, abs = 0.0;
    if (head) {
        double norm = 0.0;
        for (int64_t e = 0; e < count; e++)
            norm = fmax(norm, fabs(((const double *)in->ref[lg])[e]));
        tolerance(in, in->dtype, norm, &rel, &abs);
    }
    const int64_t d = in->shape.d, l = in->shape.cols;
    int64_t bad = 0, first = -1;
    for (int64_t e = 0; e < count; e++) {
        const int64_t id = (int64_t)sf_host_load(&g, e), want = (int64_t)sf_host_load(&ref, e);
        if (id == want)
            continue;
        bool tie = false;
        if (head && id >= 0 && id < l) {
            const double *xr = (const double *)in->ref[x] + (e / k) * d, *wr = (const double *)in->ref[w] + id * d;
            double z = bias >= 0 ? ((const double *)in->ref[bias])[id] : 0.0, dot = 0.0;
            for (int64_t c = 0; c < d; c++)
                dot += xr[c] * wr[c];
            z += sf_round_to_dtype(dot, in->dtype);
            const double want_z = ((const double *)in->ref[lg])[e];
            tie = close_enough(z, want_z, rel, abs);
        }
        if (!tie) {
            if (first < 0)
                first = e;
            bad++;
        }
    }
    if (first < 0)
        return true;
    snprintf(note, note_size, "%s[%lld] = %lld, reference %lld%s; %lld of %lld ids differ", b->name, (long long)first,
             (long long)sf_host_load(&g, first), (long long)sf_host_load(&ref, first),
             head ? " (and its logit is not the reference's within the tolerance)" : "", (long long)bad,
             (long long)count);
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

/* ---- Running a case on a backend: its checks --------------------------------------------------------- */

verdict bench_from_status(const session *se, const char *what, sigfuse_status st, char *note, size_t note_size)
{
    if (st == SIGFUSE_ERR_UNSUPPORTED || st == SIGFUSE_ERR_NOT_BUILT) {
        snprintf(note, note_size, "%s", sigfuse_ctx_last_error(se->ctx));
        return VERDICT_UNSUPPORTED;
    }
    snprintf(note, note_size, "%s: %s (%s)", what, sigfuse_status_string(st), sigfuse_ctx_last_error(se->ctx));
    return VERDICT_FAILED;
}

void bench_describe(const session *se, const instance *in, const device_set *set, sigfuse_buffer *b)
{
    for (int i = 0; i < in->nbuf; i++)
        b[i] = se->be->buffer(set->ptr[i], buf_dtype(&in->buf[i], in->dtype));
}

/* Run at shape `run` on set 0 twice, outputs poisoned each time. The first run must write
 * every output element it owns and match the reference on the first check_rows rows
 * (reduced outputs too when `check_reduced`); the second must give the same bits. */
verdict bench_check_run(const session *se, const instance *in, const device_set *set, const bench_shape *run,
                        bool check_reduced, const sigfuse_buffer *ws, size_t ws_bytes, char *note,
                        size_t note_size)
{
    const bench_backend *be = se->be;
    sigfuse_buffer b[BENCH_MAX_BUFS];
    bench_describe(se, in, set, b);
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
        sigfuse_status st = bench_case_run(in->c, se->ctx, run, b, ws, ws_bytes);
        if (st == SIGFUSE_SUCCESS)
            st = sigfuse_ctx_synchronize(se->ctx);
        if (st != SIGFUSE_SUCCESS) {
            v = bench_from_status(se, in->c->name, st, note, note_size);
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
            } else if (bb->kind == KIND_INDEX) {
                if (!compare_ids(in, i, got[0], in->check_rows, note, note_size))
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
