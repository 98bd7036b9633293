/* SPDX-License-Identifier: MIT */
/*
 * sigfuse-bench: timing a case on a backend (after its checks), a head's matrix products
 * alone, and the copy the rows are compared with.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_internal.h"

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
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
    sigfuse_status st = bench_case_run(cc->in->c, cc->se->ctx, &cc->in->shape, cc->b[i % cc->sets], cc->ws, cc->ws_bytes);
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
    if (!sf_op_infos[in->c->op].workspace)
        return SIGFUSE_SUCCESS;
    sigfuse_buffer b[BENCH_MAX_BUFS];
    bench_describe(se, in, set, b);
    sigfuse_status st = bench_case_workspace(in->c, se->ctx, &in->shape, b, bench_opt.head_chunk, bytes);
    if (st == SIGFUSE_SUCCESS && *bytes > WORKSPACE_CAP) {
        const int64_t asked =
            bench_opt.head_chunk > 0 && bench_opt.head_chunk < in->shape.rows ? bench_opt.head_chunk : in->shape.rows;
        int64_t chunk = (int64_t)((double)asked * (double)WORKSPACE_CAP / (double)*bytes);
        st = bench_case_workspace(in->c, se->ctx, &in->shape, b, chunk > 1 ? chunk : 1, bytes);
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
    bench_describe(se, in, set, b);
    size_t need = 0;
    int64_t lo = 1, hi = in->shape.rows;   /* chunk lo fits (the op ran); find the largest */
    if (bench_case_workspace(in->c, se->ctx, &in->shape, b, hi, &need) == SIGFUSE_SUCCESS && need <= ws_bytes)
        return hi;
    while (hi - lo > 1) {
        const int64_t mid = lo + (hi - lo) / 2;
        if (bench_case_workspace(in->c, se->ctx, &in->shape, b, mid, &need) == SIGFUSE_SUCCESS && need <= ws_bytes)
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
    return bench_case_gemms_train(in->c) ? 2.0 * logits : logits;
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
    bench_result_init(base, se, in->c->gemms_row, r->dtype, r->size);
    base->shape = in->shape;
    base->bytes = NAN;   /* bound by their flops; no byte count to compare with a copy */
    base->flops = in->flops;
    base->sets = sets;
    snprintf(base->rerun, sizeof base->rerun, "%s", r->rerun);

    const bench_head_gemms g = {in->dtype, in->shape.rows, in->shape.d, in->shape.cols, r->chunk_rows,
                                bench_case_gemms_train(in->c)};
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
void bench_run_instance(const session *se, instance *in, result *r, result *base)
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

    /* A problem larger than the device's free memory (where it says) is skipped: its
     * buffers, and a workspace of at most WORKSPACE_CAP or the N x L logits. */
    double held = 0.0;
    for (int i = 0; i < in->nbuf; i++)
        held += (double)buf_bytes(in, i, in->shape.rows);
    const size_t free_bytes = be->free_bytes ? be->free_bytes(se->state) : 0;
    if (free_bytes > 0) {
        const double ws_most = sf_op_infos[in->c->op].workspace ? fmin((double)WORKSPACE_CAP, unfused_bytes(in)) : 0.0;
        if (held + ws_most > (double)free_bytes) {
            snprintf(note, note_size, "skipped: needs %.2f GiB of device memory, %.2f GiB free", (held + ws_most) / 0x1p30,
                     (double)free_bytes / 0x1p30);
            v = VERDICT_UNSUPPORTED;
        }
    }

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
            v = bench_from_status(se, "workspace size", st, note, note_size);
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
        v = bench_check_run(se, in, &set[0], &first, true, wsp, ws_bytes, note, note_size);
    }
    if (v == VERDICT_OK)
        v = bench_check_run(se, in, &set[0], &in->shape, in->check_rows == in->shape.rows, wsp, ws_bytes, note,
                            note_size);

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
                bench_describe(se, in, &set[k], cc->b[k]);
            if (!time_reps(se, call_case, cc, se->reps, se->warmup, r)) {
                snprintf(note, note_size, "timing: %s", bench_last_error());
                v = VERDICT_FAILED;
            }
        }
        free(cc);
    }
    r->sets = sets;

    /* Heads: their workspace beside an unfused head's logits, and their products alone. */
    if (v == VERDICT_OK && sf_op_infos[in->c->op].workspace) {
        r->workspace_bytes = (double)ws_bytes;
        r->unfused_bytes = unfused_bytes(in);
        r->chunk_rows = head_chunk(se, in, &set[0], ws_bytes);
        r->held_bytes = held + (double)ws_bytes;
        r->peer_bytes = bench_case_peer_bytes(in->c, &in->shape, in->dtype);
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
        if (se->copy_gbps > 0.0 && !bench_case_gemm(in->c))
            r->pct_copy = 100.0 * r->gbps / se->copy_gbps;
        if (in->flops > 0.0)
            r->gflops = in->flops / r->median * 1e-9;
        if (in->check_rows < in->shape.rows)
            snprintf(note, note_size, "checked at %lld of %lld rows, then whole on its first %lld rows",
                     (long long)in->check_rows, (long long)in->shape.rows, (long long)in->check_rows);
    }
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
void bench_measure_copy(session *se)
{
    const bench_backend *be = se->be;
    size_t bytes = bench_opt.quick ? (size_t)16 << 20 : be->copy_bytes;
    char size[48];
    snprintf(size, sizeof size, "%zu MiB", bytes >> 20);
    result *r = bench_new_result(se, "copy", "-", size);
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
    bench_print_result(r);
}
