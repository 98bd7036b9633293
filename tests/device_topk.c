/* SPDX-License-Identifier: MIT */
/*
 * Issue 15's ops on a device against the reference (device_suite.h):
 *  - head_topk: each row's labels equal the reference's, but where two logits tie
 *    within the rounding of the GEMM (8 ulp of sum |x w| + |b|, log2 d deep, and one
 *    16-bit ulp for 16-bit heads), where either order is right; ids unique, in the shard
 *    or -1 pads exactly where the reference pads; logits and probabilities within that
 *    rounding. Exact ties (copied rows of W), NaN logits, l < k, chunked workspaces,
 *    i32 and i64 ids, a shard at a large label_offset.
 *  - topk_merge: a pure selection, so labels and logits bitwise the reference's.
 *  - head_train_step with CSR positives: the same loss and gradients as the dense u8
 *    targets on the same device; S label shards summing to the one-shard dx and loss
 *    (their dw and dbias the rows of the one-shard ones); bad CSR and a shard past
 *    total_labels refused with nothing written.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "device_suite.h"
#include "sf_internal.h"

static void free_tus(tu_buf *const *b, size_t count)
{
    for (size_t i = 0; i < count; i++)
        tu_free(b[i]);
}
#define RC_FREE_TU(...) \
    free_tus((tu_buf *const[]){__VA_ARGS__}, sizeof((tu_buf *const[]){__VA_ARGS__}) / sizeof(tu_buf *))

static kit_buf up_buf(ds_env *e, const tu_buf *h)
{
    kit_buf b = ds_buf(&e->dev, h->dtype, h->n, 0);
    ds_upload(&b, h);
    return b;
}

static tu_buf down(const kit_buf *b)
{
    tu_buf h = ds_download(b);
    cr_expect(ds_guards_ok(b), "guards of a device output");
    return h;
}

/* The tie window of logit (i, j): the GEMM's rounding of sum |x w| + |b|, log2 d deep,
 * and for 16-bit heads one ulp of the stored value. */
static double tie_window(const tu_buf *x, const tu_buf *w, const tu_buf *bias, int64_t d, int64_t i, int64_t j,
                         sigfuse_dtype dt, double z)
{
    if (isinf(z))   /* an infinite bias: the logit is exact, and so is its place */
        return 0.0;
    double m = bias ? fabs(tu_get(bias, j)) : 0.0;
    for (int64_t t = 0; t < d; t++)
        m += fabs(tu_get(x, i * d + t) * tu_get(w, j * d + t));
    double tol = 8.0 * tu_ulp32(m * fmax(1.0, log2((double)(d + 1))));
    if (dt == SIGFUSE_F16 || dt == SIGFUSE_BF16)
        tol += ldexp(fabs(z) + m, dt == SIGFUSE_F16 ? -10 : -7);
    return tol;
}

/* ---- head_topk ------------------------------------------------------------------------- */

typedef struct topk_case {
    int64_t n, d, l, k, offset, chunk;
    sigfuse_dtype ids;
    bool ties, nans;
    bool may_refuse;   /* a k past what some backends select: SIGFUSE_ERR_UNSUPPORTED naming k, or right */
} topk_case;

static void head_topk_case(ds_env *e, sigfuse_dtype dt, const topk_case *c)
{
    char name[200];
    snprintf(name, sizeof name, "head_topk(backend=%s,dtype=%s,n=%lld,d=%lld,l=%lld,k=%lld,label_offset=%lld,ids=%s,"
             "chunk_rows=%lld%s%s)", e->dev.name, sigfuse_dtype_name(dt), (long long)c->n, (long long)c->d,
             (long long)c->l, (long long)c->k, (long long)c->offset, sigfuse_dtype_name(c->ids), (long long)c->chunk,
             c->ties ? ",ties" : "", c->nans ? ",nan" : "");
    tu_rng rng = tu_rng_seed(ds_hash(name), name);
    const int64_t n = c->n, d = c->d, l = c->l, k = c->k;
    tu_buf x = tu_alloc(dt, n * d), w = tu_alloc(dt, l * d), bias = tu_alloc(dt, l);
    tu_fill_uniform(&x, &rng, -1.0, 1.0);
    tu_fill_uniform(&w, &rng, -1.0, 1.0);
    tu_fill_uniform(&bias, &rng, -0.5, 0.5);
    for (int64_t j = 1; c->ties && j < l; j += 7) {   /* exact ties: label j is label j - 1 again */
        for (int64_t t = 0; t < d; t++)
            tu_set(&w, j * d + t, tu_get(&w, (j - 1) * d + t));
        tu_set(&bias, j, tu_get(&bias, j - 1));
    }
    /* NaN, and with it the other extremes: +-inf logits (a real -inf still ranks before
     * every pad) and the two zeros (equal, so ranked by id). */
    for (int64_t j = 5; c->nans && j < l; j += 11)
        tu_set(&bias, j, NAN);
    for (int64_t j = 3; c->nans && j < l; j += 13)
        tu_set(&bias, j, j % 2 ? INFINITY : -INFINITY);
    for (int64_t j = 2; c->nans && d == 0 && j < l; j += 9)
        tu_set(&bias, j, j % 2 ? 0.0 : -0.0);

    /* The reference, on host buffers of the same dtype. */
    tu_buf rl = tu_alloc(c->ids, n * k), rz = tu_alloc(dt, n * k), rp = tu_alloc(dt, n * k);
    sigfuse_head_topk_args a;
    sigfuse_head_topk_args_init(&a);
    a.n = n, a.d = d, a.l = l, a.k = k, a.label_offset = c->offset;
    a.x = &x.desc, a.w = &w.desc, a.bias = &bias.desc;
    a.top_labels = &rl.desc, a.top_logits = &rz.desc, a.top_probs = &rp.desc;
    TU_OK(e->cpu, sigfuse_head_topk(e->cpu, &a));

    kit_buf dx = up_buf(e, &x), dw = up_buf(e, &w), db = up_buf(e, &bias);
    kit_buf dl = ds_buf(&e->dev, c->ids, n * k, 0), dz = ds_buf(&e->dev, dt, n * k, 0),
            dp = ds_buf(&e->dev, dt, n * k, 1);
    a.x = &dx.desc, a.w = &dw.desc, a.bias = &db.desc;
    a.top_labels = &dl.desc, a.top_logits = &dz.desc, a.top_probs = &dp.desc;
    size_t bytes = 0;
    TU_OK(e->dev.ctx, sigfuse_head_topk_workspace_size(e->dev.ctx, &a, c->chunk, &bytes));
    kit_buf ws = ds_buf(&e->dev, SIGFUSE_U8, (int64_t)(bytes > 0 ? bytes : 1), 0);
    a.workspace = bytes > 0 ? &ws.desc : NULL;
    a.workspace_bytes = bytes;
    sigfuse_status st = sigfuse_head_topk(e->dev.ctx, &a);
    if (c->may_refuse && st == SIGFUSE_ERR_UNSUPPORTED) {
        const char *why = sigfuse_ctx_last_error(e->dev.ctx);
        cr_expect(strstr(why, "head_topk") && strstr(why, "k = "), "%s: refused without naming op and k: %s", name,
                  why);
        cr_expect(ds_untouched(&dl) && ds_untouched(&dz) && ds_untouched(&dp), "%s: refused, yet wrote", name);
        cr_log_info("%s: unsupported (%s)", name, why);
        RC_FREE_TU(&x, &w, &bias, &rl, &rz, &rp);
        kit_buf_free(&dx), kit_buf_free(&dw), kit_buf_free(&db), kit_buf_free(&dl), kit_buf_free(&dz);
        kit_buf_free(&dp), kit_buf_free(&ws);
        return;
    }
    cr_assert_eq(st, SIGFUSE_SUCCESS, "%s: %s", name, sigfuse_ctx_last_error(e->dev.ctx));
    tu_buf gl = down(&dl), gz = down(&dz), gp = down(&dp);

    int64_t bad = 0;
    for (int64_t i = 0; i < n && bad < 10; i++)
        for (int64_t t = 0; t < k && bad < 10; t++) {
            const int64_t e_ = i * k + t;
            const int64_t got = (int64_t)tu_get(&gl, e_), want = (int64_t)tu_get(&rl, e_);
            if (want < 0 || got < 0) {   /* pads exactly where the reference pads */
                if (got != want || tu_get(&gz, e_) != -INFINITY || tu_get(&gp, e_) != 0.0) {
                    cr_log_error("%s: row %lld place %lld: id %lld (logit %g, prob %g), want pad/id %lld", name,
                                 (long long)i, (long long)t, (long long)got, tu_get(&gz, e_), tu_get(&gp, e_),
                                 (long long)want);
                    bad++;
                }
                continue;
            }
            const int64_t jg = got - c->offset, jw = want - c->offset;
            if (jg < 0 || jg >= l) {
                cr_log_error("%s: row %lld place %lld: id %lld is not in the shard", name, (long long)i,
                             (long long)t, (long long)got);
                bad++;
                continue;
            }
            for (int64_t u = 0; u < t; u++)
                if ((int64_t)tu_get(&gl, i * k + u) == got) {
                    cr_log_error("%s: row %lld: id %lld twice", name, (long long)i, (long long)got);
                    bad++;
                }
            const double zg = sf_ref_head_logit(&x.desc, &w.desc, &bias.desc, d, i, jg, dt);
            const double zw = sf_ref_head_logit(&x.desc, &w.desc, &bias.desc, d, i, jw, dt);
            const double tg = tie_window(&x, &w, &bias, d, i, jg, dt, zg);
            const double tw = tie_window(&x, &w, &bias, d, i, jw, dt, zw);
            const bool same = got == want || (isnan(zg) ? false : fabs(zg - zw) <= tg + tw);
            const double lz = tu_get(&gz, e_), lp = tu_get(&gp, e_), sp = tu_sigmoid_d(zg);
            const bool logit_ok = isnan(zg) ? isnan(lz) : isinf(zg) ? lz == zg : fabs(lz - zg) <= tg;
            const bool prob_ok = isnan(zg) ? isnan(lp)
                                           : fabs(lp - sp) <= 0.25 * tg + 4.0 * tu_ulp32(sp) +
                                                                   (dt == SIGFUSE_F32 ? 0.0 : ldexp(sp, dt == SIGFUSE_F16 ? -10 : -7));
            if (!same || !logit_ok || !prob_ok) {
                cr_log_error("%s: row %lld place %lld: id %lld (z %.9g, got logit %.9g prob %.9g), reference id %lld "
                             "(z %.9g), window %.3g", name, (long long)i, (long long)t, (long long)got, zg, lz, lp,
                             (long long)want, zw, tg + tw);
                bad++;
            }
        }
    cr_expect(bad == 0, "%s: %lld places differ (the first logged)", name, (long long)bad);
    RC_FREE_TU(&x, &w, &bias, &rl, &rz, &rp, &gl, &gz, &gp);
    kit_buf_free(&dx), kit_buf_free(&dw), kit_buf_free(&db), kit_buf_free(&dl), kit_buf_free(&dz);
    kit_buf_free(&dp), kit_buf_free(&ws);
}

/* ---- topk_merge ------------------------------------------------------------------------ */

/* shards lists of [n, k]: shard s's ids from s * 1000, some rows shorter (pads), logits on
 * a grid of 1/8 (ties across shards) with NaN now and then, each list in ranking order. */
static void merge_case(ds_env *e, sigfuse_dtype dt, int64_t n, int64_t k, int64_t shards, sigfuse_dtype ids)
{
    char name[160];
    snprintf(name, sizeof name, "topk_merge(backend=%s,dtype=%s,n=%lld,k=%lld,shards=%lld,ids=%s)", e->dev.name,
             sigfuse_dtype_name(dt), (long long)n, (long long)k, (long long)shards, sigfuse_dtype_name(ids));
    tu_rng rng = tu_rng_seed(ds_hash(name), name);
    const int64_t total = shards * n * k;
    tu_buf il = tu_alloc(ids, total), iz = tu_alloc(dt, total);
    double *zs = malloc(sizeof(double) * (size_t)(k > 0 ? k : 1));
    int64_t *js = malloc(sizeof(int64_t) * (size_t)(k > 0 ? k : 1));
    cr_assert(zs && js);
    for (int64_t s = 0; s < shards; s++)
        for (int64_t i = 0; i < n; i++) {
            const int64_t count = (i + s) % 5 == 0 ? k / 2 : k;
            for (int64_t t = 0; t < count; t++) {   /* distinct ids: t-th of a random start */
                js[t] = s * 1000 + (int64_t)tu_uniform(&rng, 0, 10) * 40 + t;
                zs[t] = tu_uniform(&rng, 0, 1) < 0.05 ? NAN : floor(tu_uniform(&rng, -16, 16)) / 8.0;
            }
            for (int64_t t = 1; t < count; t++)   /* insertion sort into ranking order */
                for (int64_t u = t; u > 0 && sf_topk_before(zs[u], js[u], zs[u - 1], js[u - 1]); u--) {
                    const double z = zs[u];
                    zs[u] = zs[u - 1], zs[u - 1] = z;
                    const int64_t j = js[u];
                    js[u] = js[u - 1], js[u - 1] = j;
                }
            for (int64_t t = 0; t < k; t++) {
                const int64_t at = (s * n + i) * k + t;
                tu_set(&il, at, t < count ? (double)js[t] : -1.0);
                tu_set(&iz, at, t < count ? zs[t] : -INFINITY);
            }
        }
    free(zs), free(js);
    tu_buf rl = tu_alloc(ids, n * k), rz = tu_alloc(dt, n * k), rp = tu_alloc(dt, n * k);
    sigfuse_topk_merge_args a;
    sigfuse_topk_merge_args_init(&a);
    a.n = n, a.k = k, a.shards = shards;
    a.in_labels = &il.desc, a.in_logits = &iz.desc;
    a.top_labels = &rl.desc, a.top_logits = &rz.desc, a.top_probs = &rp.desc;
    TU_OK(e->cpu, sigfuse_topk_merge(e->cpu, &a));
    kit_buf dil = up_buf(e, &il), diz = up_buf(e, &iz);
    kit_buf dl = ds_buf(&e->dev, ids, n * k, 0), dz = ds_buf(&e->dev, dt, n * k, 1), dp = ds_buf(&e->dev, dt, n * k, 0);
    a.in_labels = &dil.desc, a.in_logits = &diz.desc;
    a.top_labels = &dl.desc, a.top_logits = &dz.desc, a.top_probs = &dp.desc;
    sigfuse_status st = sigfuse_topk_merge(e->dev.ctx, &a);
    cr_assert_eq(st, SIGFUSE_SUCCESS, "%s: %s", name, sigfuse_ctx_last_error(e->dev.ctx));
    tu_buf gl = down(&dl), gz = down(&dz), gp = down(&dp);
    cr_expect(tu_bytes_equal(&gl, &rl), "%s: labels differ from the reference", name);
    cr_expect(tu_bytes_equal(&gz, &rz), "%s: logits differ from the reference", name);
    for (int64_t e_ = 0; e_ < n * k; e_++) {
        const double want = tu_get(&rp, e_), got = tu_get(&gp, e_);
        const double tol = 4.0 * tu_ulp32(want) + (dt == SIGFUSE_F32 ? 0.0 : ldexp(want, dt == SIGFUSE_F16 ? -10 : -7));
        if (!(isnan(want) ? isnan(got) : fabs(got - want) <= tol)) {
            cr_expect_fail("%s: probs[%lld] = %.9g, reference %.9g", name, (long long)e_, got, want);
            break;
        }
    }
    RC_FREE_TU(&il, &iz, &rl, &rz, &rp, &gl, &gz, &gp);
    kit_buf_free(&dil), kit_buf_free(&diz), kit_buf_free(&dl), kit_buf_free(&dz), kit_buf_free(&dp);
}

/* Whether the device backend answers SIGFUSE_ERR_UNSUPPORTED for the op (a declared
 * "not implemented" is a pass: it says so, writes nothing and is logged), probed with one
 * tiny call: a 1 x 1 head, one label, one positive. */
static bool unsupported(ds_env *e, sf_op op, sigfuse_dtype dt)
{
    kit_buf x = ds_buf(&e->dev, dt, 1, 0), w = ds_buf(&e->dev, dt, 1, 0), z = ds_buf(&e->dev, dt, 1, 0);
    kit_buf ids = ds_buf(&e->dev, SIGFUSE_I64, 2, 0), off = ds_buf(&e->dev, SIGFUSE_I64, 2, 0);
    kit_buf ws = ds_buf(&e->dev, SIGFUSE_U8, 1 << 20, 0);
    tu_buf hx = tu_from(dt, 1, (double[]){0.5}), hi = tu_from(SIGFUSE_I64, 2, (double[]){0, 1});
    ds_upload(&x, &hx), ds_upload(&w, &hx), ds_upload(&ids, &hi), ds_upload(&off, &hi);
    sigfuse_status st;
    if (op == SF_OP_head_topk) {
        sigfuse_head_topk_args a;
        sigfuse_head_topk_args_init(&a);
        a.n = a.d = a.l = a.k = 1, a.x = &x.desc, a.w = &w.desc, a.top_labels = &ids.desc;
        a.workspace = &ws.desc, a.workspace_bytes = 1 << 20;
        st = sigfuse_head_topk(e->dev.ctx, &a);
    } else if (op == SF_OP_topk_merge) {
        sigfuse_topk_merge_args a;
        sigfuse_topk_merge_args_init(&a);
        a.n = a.k = a.shards = 1, a.in_labels = &off.desc, a.in_logits = &x.desc, a.top_labels = &ids.desc;
        st = sigfuse_topk_merge(e->dev.ctx, &a);
    } else {
        sigfuse_head_train_args a;
        sigfuse_head_train_args_init(&a);
        a.n = a.d = a.l = 1, a.x = &x.desc, a.w = &w.desc, a.pos_offsets = &off.desc, a.pos_labels = &ids.desc;
        a.nnz = 1, a.dx = &z.desc, a.workspace = &ws.desc, a.workspace_bytes = 1 << 20;
        st = sigfuse_head_train_step(e->dev.ctx, &a);
    }
    const bool lacks = st == SIGFUSE_ERR_UNSUPPORTED;
    if (lacks)
        cr_log_info("%s on %s: unsupported (%s)", sf_op_name(op), e->dev.name, sigfuse_ctx_last_error(e->dev.ctx));
    tu_free(&hx), tu_free(&hi);
    kit_buf_free(&x), kit_buf_free(&w), kit_buf_free(&z), kit_buf_free(&ids), kit_buf_free(&off), kit_buf_free(&ws);
    return lacks;
}

void topk_sweep(ds_env *e, sf_op op, sigfuse_dtype dt)
{
    if (unsupported(e, op, dt))
        return;
    if (op == SF_OP_topk_merge) {
        const int64_t shapes[][3] = {{0, 4, 2}, {1, 1, 1}, {7, 5, 3}, {33, 10, 4}, {100, 32, 8}, {5, 200, 2}};
        for (int s = 0; s < 6; s++)
            merge_case(e, dt, shapes[s][0], shapes[s][1], shapes[s][2], s % 2 ? SIGFUSE_I32 : SIGFUSE_I64);
        return;
    }
    const topk_case cases[] = {
        /* n   d   l     k   offset    chunk ids          ties   nans   may_refuse */
        {0, 4, 3, 2, 0, 0, SIGFUSE_I64, false, false, false},
        {5, 4, 0, 3, 0, 0, SIGFUSE_I64, false, false, false},    /* no labels: every place a pad */
        {7, 5, 3, 5, 0, 0, SIGFUSE_I32, false, false, false},    /* l < k */
        {1, 1, 1, 1, 0, 0, SIGFUSE_I32, false, false, false},
        {33, 17, 100, 5, 0, 1, SIGFUSE_I64, true, true, false},  /* one row a chunk */
        {9, 33, 1000, 10, 1000000, 0, SIGFUSE_I64, true, false, false},
        {64, 16, 4099, 32, 7, 5, SIGFUSE_I32, false, true, false},
        {17, 0, 50, 8, 0, 0, SIGFUSE_I64, true, false, false},   /* d = 0: the bias alone */
        {5, 0, 40, 40, 0, 0, SIGFUSE_I32, false, true, false},   /* ... all of it ranked: +-inf, NaN, +-0 */
        {3, 8, 300, 300, 0, 0, SIGFUSE_I64, false, false, false}, /* k = l */
        /* k past CUDA's 4096 (and past what 48 KiB of OpenCL local memory sorts): done
         * right or refused by name; then k far past l, all but l places pads. */
        {2, 3, 6000, 5000, 0, 0, SIGFUSE_I64, true, true, true},
        {2, 3, 10, 5000, 0, 0, SIGFUSE_I32, false, false, true},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        head_topk_case(e, dt, &cases[c]);
}

/* ---- head_train_step: sparse positives and label shards ------------------------------- */

/* Random CSR positives over `total` labels (0 to 4 a row, sorted, distinct). */
static void make_csr(tu_rng *rng, int64_t n, int64_t total, sigfuse_dtype idt, tu_buf *off, tu_buf *ids)
{
    *off = tu_alloc(idt, n + 1);
    int64_t *tmp = malloc(sizeof(int64_t) * (size_t)(n * 5 + 1));
    cr_assert(tmp);
    int64_t nnz = 0;
    tu_set(off, 0, 0);
    for (int64_t i = 0; i < n; i++) {
        const int64_t want = total > 0 ? (int64_t)tu_uniform(rng, 0, 5) : 0;
        const int64_t start = nnz;
        for (int64_t t = 0; t < want; t++) {
            const int64_t id = (int64_t)tu_uniform(rng, 0, (double)total);
            int64_t at = nnz;
            bool dup = false;
            for (int64_t u = start; u < nnz; u++)
                dup = dup || tmp[u] == id;
            if (dup)
                continue;
            while (at > start && tmp[at - 1] > id) {
                tmp[at] = tmp[at - 1];
                at--;
            }
            tmp[at] = id;
            nnz++;
        }
        tu_set(off, i + 1, (double)nnz);
    }
    *ids = tu_alloc(idt, nnz > 0 ? nnz : 0);
    for (int64_t t = 0; t < nnz; t++)
        tu_set(ids, t, (double)tmp[t]);
    free(tmp);
}

/* One device train step; outputs poisoned device buffers the caller frees. */
typedef struct train_out {
    kit_buf loss, dx, dw, dbias, ws;
} train_out;

static sigfuse_status train_call(ds_env *e, sigfuse_head_train_args *a, train_out *o, sigfuse_dtype dt)
{
    o->loss = ds_buf(&e->dev, SIGFUSE_F32, 1, 0);
    o->dx = ds_buf(&e->dev, dt, a->n * a->d, 0);
    o->dw = ds_buf(&e->dev, dt, a->l * a->d, 0);
    o->dbias = ds_buf(&e->dev, dt, a->l, 0);
    a->loss = &o->loss.desc, a->dx = &o->dx.desc, a->dw = &o->dw.desc, a->dbias = &o->dbias.desc;
    size_t bytes = 0;
    sigfuse_status st = sigfuse_head_train_workspace_size(e->dev.ctx, a, 0, &bytes);
    o->ws = ds_buf(&e->dev, SIGFUSE_U8, (int64_t)(bytes > 0 ? bytes : 1), 0);
    a->workspace = bytes > 0 ? &o->ws.desc : NULL;
    a->workspace_bytes = bytes;
    return st == SIGFUSE_SUCCESS ? sigfuse_head_train_step(e->dev.ctx, a) : st;
}

static void train_free(train_out *o)
{
    kit_buf_free(&o->loss), kit_buf_free(&o->dx), kit_buf_free(&o->dw), kit_buf_free(&o->dbias);
    kit_buf_free(&o->ws);
}

/* got within rtol of the largest |want| of the tensor (16-bit: two of its ulps). */
static void expect_close(const char *name, const char *what, const tu_buf *got, const tu_buf *want, int64_t at,
                         double rtol)
{
    double m = 0.0;
    for (int64_t t = 0; t < want->n; t++)
        m = fmax(m, fabs(tu_get(want, t)));
    const sigfuse_dtype dt = got->dtype;
    const double tol = rtol * m + (dt == SIGFUSE_F32 ? 0.0 : ldexp(m, dt == SIGFUSE_F16 ? -9 : -6)) + 1e-30;
    for (int64_t t = 0; t < want->n; t++) {
        const double g = tu_get(got, at + t), w = tu_get(want, t);
        if (!(fabs(g - w) <= tol)) {
            cr_expect_fail("%s: %s[%lld] = %.9g, want %.9g (tolerance %.3g)", name, what, (long long)t, g, w, tol);
            return;
        }
    }
}

static void sparse_case(ds_env *e, sigfuse_dtype dt, int64_t n, int64_t d, int64_t l, sigfuse_dtype idt,
                        sigfuse_reduction red)
{
    char name[160];
    snprintf(name, sizeof name, "head_train_step(backend=%s,dtype=%s,n=%lld,d=%lld,l=%lld,csr=%s,red=%s)",
             e->dev.name, sigfuse_dtype_name(dt), (long long)n, (long long)d, (long long)l, sigfuse_dtype_name(idt),
             red == SIGFUSE_REDUCTION_MEAN ? "mean" : "sum");
    tu_rng rng = tu_rng_seed(ds_hash(name), name);
    tu_buf x = tu_alloc(dt, n * d), w = tu_alloc(dt, l * d), bias = tu_alloc(dt, l), pw = tu_alloc(dt, l);
    tu_fill_uniform(&x, &rng, -1.0, 1.0);
    tu_fill_uniform(&w, &rng, -1.0, 1.0);
    tu_fill_uniform(&bias, &rng, -0.5, 0.5);
    tu_fill_uniform(&pw, &rng, 0.5, 3.0);
    tu_buf off, ids;
    make_csr(&rng, n, l, idt, &off, &ids);
    tu_buf dense = tu_alloc(SIGFUSE_U8, n * l);
    memset(tu_data(&dense), 0, (size_t)(n * l));
    for (int64_t i = 0; i < n; i++)
        for (int64_t t = (int64_t)tu_get(&off, i); t < (int64_t)tu_get(&off, i + 1); t++)
            tu_set(&dense, i * l + (int64_t)tu_get(&ids, t), 1.0);
    kit_buf kx = up_buf(e, &x), kw = up_buf(e, &w), kb = up_buf(e, &bias), kpw = up_buf(e, &pw);
    kit_buf ky = up_buf(e, &dense), ko = up_buf(e, &off), ki = up_buf(e, &ids);

    sigfuse_head_train_args a;
    sigfuse_head_train_args_init(&a);
    a.n = n, a.d = d, a.l = l, a.reduction = red, a.grad_scale = 1.5f;
    a.x = &kx.desc, a.w = &kw.desc, a.bias = &kb.desc, a.pos_weight = &kpw.desc, a.targets = &ky.desc;
    train_out dense_out, sparse_out;
    cr_assert_eq(train_call(e, &a, &dense_out, dt), SIGFUSE_SUCCESS, "%s dense: %s", name,
                 sigfuse_ctx_last_error(e->dev.ctx));
    sigfuse_head_train_args s = a;
    s.targets = NULL, s.pos_offsets = &ko.desc, s.pos_labels = &ki.desc, s.nnz = ids.n;
    cr_assert_eq(train_call(e, &s, &sparse_out, dt), SIGFUSE_SUCCESS, "%s: %s", name,
                 sigfuse_ctx_last_error(e->dev.ctx));
    tu_buf L1 = down(&dense_out.loss), X1 = down(&dense_out.dx), W1 = down(&dense_out.dw), B1 = down(&dense_out.dbias);
    tu_buf L2 = down(&sparse_out.loss), X2 = down(&sparse_out.dx), W2 = down(&sparse_out.dw), B2 = down(&sparse_out.dbias);
    expect_close(name, "loss (sparse vs dense)", &L2, &L1, 0, 1e-5);
    expect_close(name, "dx (sparse vs dense)", &X2, &X1, 0, 1e-5);
    expect_close(name, "dw (sparse vs dense)", &W2, &W1, 0, 1e-5);
    expect_close(name, "dbias (sparse vs dense)", &B2, &B1, 0, 1e-5);

    /* Three label shards: their dx and loss sum to the one-shard ones, their dw and dbias
     * are its rows. */
    const int64_t cuts[4] = {0, l / 3, (2 * l) / 3, l};
    tu_buf xsum = tu_alloc(SIGFUSE_F64, n * d);
    memset(tu_data(&xsum), 0, sizeof(double) * (size_t)(n * d));
    double loss_sum = 0.0;
    for (int sh = 0; sh < 3; sh++) {
        const int64_t lo = cuts[sh], ls = cuts[sh + 1] - cuts[sh];
        sigfuse_head_train_args p = s;
        sigfuse_buffer wv = kw.desc, bv = kb.desc, pv = kpw.desc;
        const size_t es = sigfuse_dtype_size(dt);
        if (wv.memory == SIGFUSE_MEMORY_OPENCL)
            wv.offset += (size_t)(lo * d) * es, bv.offset += (size_t)lo * es, pv.offset += (size_t)lo * es;
        else
            wv.ptr = (char *)wv.ptr + (size_t)(lo * d) * es, bv.ptr = (char *)bv.ptr + (size_t)lo * es,
            pv.ptr = (char *)pv.ptr + (size_t)lo * es;
        p.l = ls, p.w = &wv, p.bias = &bv, p.pos_weight = &pv;
        p.label_offset = lo, p.total_labels = l;
        train_out o;
        cr_assert_eq(train_call(e, &p, &o, dt), SIGFUSE_SUCCESS, "%s shard %d: %s", name, sh,
                     sigfuse_ctx_last_error(e->dev.ctx));
        tu_buf Ls = down(&o.loss), Xs = down(&o.dx), Ws = down(&o.dw), Bs = down(&o.dbias);
        loss_sum += tu_get(&Ls, 0);
        for (int64_t t = 0; t < n * d; t++)
            tu_set(&xsum, t, tu_get(&xsum, t) + tu_get(&Xs, t));
        char what[64];
        snprintf(what, sizeof what, "shard %d dw (its rows of the one-shard dw)", sh);
        tu_buf Wrows = tu_alloc(dt, ls * d), Brows = tu_alloc(dt, ls);
        for (int64_t t = 0; t < ls * d; t++)
            tu_set(&Wrows, t, tu_get(&W2, lo * d + t));
        for (int64_t t = 0; t < ls; t++)
            tu_set(&Brows, t, tu_get(&B2, lo + t));
        expect_close(name, what, &Ws, &Wrows, 0, 1e-5);
        snprintf(what, sizeof what, "shard %d dbias", sh);
        expect_close(name, what, &Bs, &Brows, 0, 1e-5);
        RC_FREE_TU(&Ls, &Xs, &Ws, &Bs, &Wrows, &Brows);
        train_free(&o);
    }
    tu_buf lsum = tu_alloc(SIGFUSE_F64, 1);
    tu_set(&lsum, 0, loss_sum);
    tu_buf X2d = tu_copy_as(&X2, SIGFUSE_F64), L2d = tu_copy_as(&L2, SIGFUSE_F64);
    expect_close(name, "loss (sum of 3 shards vs 1)", &lsum, &L2d, 0, 1e-5);
    expect_close(name, "dx (sum of 3 shards vs 1)", &xsum, &X2d, 0, dt == SIGFUSE_F32 ? 1e-5 : 1e-2);

    /* Bad CSR, and a shard past total_labels: refused, nothing written. */
    if (n >= 2 && ids.n >= 2) {
        for (int kind = 0; kind < 6; kind++) {
            tu_buf o2 = tu_copy_as(&off, idt), i2 = tu_copy_as(&ids, idt);
            sigfuse_head_train_args b = s;
            const char *what = "";
            switch (kind) {
            case 0: tu_set(&i2, 0, (double)l); what = "an id past total_labels"; break;
            case 1: tu_set(&i2, 0, -1.0); what = "a negative id"; break;
            case 2: tu_set(&o2, 1, -1.0); what = "a negative offset"; break;
            case 3: tu_set(&o2, 0, 1.0); what = "offsets not starting at 0"; break;
            case 4: b.nnz = ids.n - 1; what = "nnz below the last offset"; break;
            case 5:   /* an unsorted row: the first two ids of a row that has two, swapped */
                what = "a row's ids not increasing";
                for (int64_t i = 0; i < n; i++) {
                    const int64_t lo = (int64_t)tu_get(&off, i);
                    if ((int64_t)tu_get(&off, i + 1) - lo >= 2) {
                        const double first = tu_get(&i2, lo);
                        tu_set(&i2, lo, tu_get(&i2, lo + 1));
                        tu_set(&i2, lo + 1, first);
                        break;
                    }
                }
                break;
            }
            kit_buf bo = up_buf(e, &o2), bi = up_buf(e, &i2);
            b.pos_offsets = &bo.desc, b.pos_labels = &bi.desc;
            train_out o;
            const sigfuse_status st = train_call(e, &b, &o, dt);
            cr_expect(st == SIGFUSE_ERR_INVALID_ARGUMENT || st == SIGFUSE_ERR_INVALID_SIZE,
                      "%s: %s: status %s (%s)", name, what, sigfuse_status_string(st),
                      sigfuse_ctx_last_error(e->dev.ctx));
            cr_expect(ds_untouched(&o.loss) && ds_untouched(&o.dx) && ds_untouched(&o.dw) && ds_untouched(&o.dbias),
                      "%s: %s: an output was written", name, what);
            train_free(&o);
            kit_buf_free(&bo), kit_buf_free(&bi);
            RC_FREE_TU(&o2, &i2);
        }
        sigfuse_head_train_args b = s;
        b.label_offset = 1, b.total_labels = l;   /* [1, 1 + l) runs past l */
        train_out o;
        const sigfuse_status st = train_call(e, &b, &o, dt);
        cr_expect_eq(st, SIGFUSE_ERR_INVALID_SIZE, "%s: a shard past total_labels: %s", name,
                     sigfuse_ctx_last_error(e->dev.ctx));
        cr_expect(ds_untouched(&o.loss) && ds_untouched(&o.dx), "%s: a shard past total_labels wrote", name);
        train_free(&o);
    }

    RC_FREE_TU(&x, &w, &bias, &pw, &off, &ids, &dense, &L1, &X1, &W1, &B1, &L2, &X2, &W2, &B2, &xsum, &lsum, &X2d,
               &L2d);
    kit_buf_free(&kx), kit_buf_free(&kw), kit_buf_free(&kb), kit_buf_free(&kpw), kit_buf_free(&ky);
    kit_buf_free(&ko), kit_buf_free(&ki);
    train_free(&dense_out), train_free(&sparse_out);
}

void sparse_head_sweep(ds_env *e, sigfuse_dtype dt)
{
    if (unsupported(e, SF_OP_head_train_step, dt))
        return;
    sparse_case(e, dt, 7, 5, 13, SIGFUSE_I32, SIGFUSE_REDUCTION_MEAN);
    sparse_case(e, dt, 33, 17, 100, SIGFUSE_I64, SIGFUSE_REDUCTION_SUM);
    sparse_case(e, dt, 65, 33, 257, SIGFUSE_I32, SIGFUSE_REDUCTION_MEAN);
}

void xmc_small_sweep(ds_env *e, sigfuse_dtype dt)
{
    if (!unsupported(e, SF_OP_head_train_step, dt)) {
        sparse_case(e, dt, 7, 5, 13, SIGFUSE_I32, SIGFUSE_REDUCTION_MEAN);
        sparse_case(e, dt, 5, 3, 9, SIGFUSE_I64, SIGFUSE_REDUCTION_SUM);
    }
    if (!unsupported(e, SF_OP_head_topk, dt)) {
        const topk_case cases[] = {
            /* n  d  l   k  offset chunk ids          ties  nans */
            {6, 4, 37, 5, 3, 2, SIGFUSE_I32, true, true, false},
            {3, 2, 4, 6, 0, 0, SIGFUSE_I64, false, false, false},   /* l < k: pads */
        };
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
            head_topk_case(e, dt, &cases[c]);
    }
    if (!unsupported(e, SF_OP_topk_merge, dt)) {
        merge_case(e, dt, 4, 3, 3, SIGFUSE_I64);
        merge_case(e, dt, 3, 5, 2, SIGFUSE_I32);
    }
}
