/* SPDX-License-Identifier: MIT */
/*
 * The reference of issue 15's ops, through the public API: the train step's CSR
 * positives give bitwise the dense form's results; label shards' dw and dbias are bitwise
 * the one-shard rows, and their dx and loss sum to the one-shard ones within the rounding
 * of the split sums; head_topk equals a full sort of the logits; the merge of shards' lists
 * equals the one-shard list; every kind of bad CSR and a shard past total_labels are
 * refused with a message and nothing written; topk_metrics on hand-counted lists.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "ref_check.h"
#include "sf_internal.h"
#include "testutil.h"

RC_CPU_CTX_FIXTURE
TestSuite(ref_xmc, .init = open_ctx, .fini = close_ctx);

typedef struct head {
    int64_t n, d, l;
    tu_buf x, w, bias, pw, off, ids, dense;
} head;

/* A head in f64 with random CSR positives (0 to 4 a row) and their dense u8 form. */
static head make_head(int64_t n, int64_t d, int64_t l, sigfuse_dtype idt, uint64_t seed)
{
    head h = {.n = n, .d = d, .l = l};
    tu_rng rng = tu_rng_seed(seed, "ref_xmc.head");
    h.x = tu_alloc(SIGFUSE_F64, n * d), h.w = tu_alloc(SIGFUSE_F64, l * d);
    h.bias = tu_alloc(SIGFUSE_F64, l), h.pw = tu_alloc(SIGFUSE_F64, l);
    tu_fill_uniform(&h.x, &rng, -1, 1);
    tu_fill_uniform(&h.w, &rng, -1, 1);
    tu_fill_uniform(&h.bias, &rng, -0.5, 0.5);
    tu_fill_uniform(&h.pw, &rng, 0.5, 3);
    h.dense = tu_alloc(SIGFUSE_U8, n * l);
    memset(tu_data(&h.dense), 0, (size_t)(n * l));
    int64_t nnz = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < l; j++)
            if (tu_uniform(&rng, 0, 1) < 3.0 / (double)l) {
                tu_set(&h.dense, i * l + j, 1);
                nnz++;
            }
    h.off = tu_alloc(idt, n + 1), h.ids = tu_alloc(idt, nnz);
    int64_t at = 0;
    tu_set(&h.off, 0, 0);
    for (int64_t i = 0; i < n; i++) {
        for (int64_t j = 0; j < l; j++)
            if (tu_get(&h.dense, i * l + j) != 0.0)
                tu_set(&h.ids, at++, (double)j);
        tu_set(&h.off, i + 1, (double)at);
    }
    return h;
}

static void free_head(head *h)
{
    RC_FREE(&h->x, &h->w, &h->bias, &h->pw, &h->off, &h->ids, &h->dense);
}

typedef struct outs {
    tu_buf loss, dx, dw, db, ws;
} outs;

static sigfuse_status train(sigfuse_head_train_args *a, outs *o)
{
    o->loss = tu_alloc(SIGFUSE_F64, 1), o->dx = tu_alloc(SIGFUSE_F64, a->n * a->d);
    o->dw = tu_alloc(SIGFUSE_F64, a->l * a->d), o->db = tu_alloc(SIGFUSE_F64, a->l);
    a->loss = &o->loss.desc, a->dx = &o->dx.desc, a->dw = &o->dw.desc, a->dbias = &o->db.desc;
    size_t bytes = 0;
    sigfuse_status st = sigfuse_head_train_workspace_size(ctx, a, 0, &bytes);
    o->ws = tu_alloc(SIGFUSE_U8, (int64_t)bytes);
    a->workspace = &o->ws.desc, a->workspace_bytes = bytes;
    return st == SIGFUSE_SUCCESS ? sigfuse_head_train_step(ctx, a) : st;
}

static void free_outs(outs *o) { RC_FREE(&o->loss, &o->dx, &o->dw, &o->db, &o->ws); }

static sigfuse_head_train_args args_of(head *h, bool sparse)
{
    sigfuse_head_train_args a;
    sigfuse_head_train_args_init(&a);
    a.n = h->n, a.d = h->d, a.l = h->l, a.grad_scale = 0.75f;
    a.x = &h->x.desc, a.w = &h->w.desc, a.bias = &h->bias.desc, a.pos_weight = &h->pw.desc;
    if (sparse)
        a.pos_offsets = &h->off.desc, a.pos_labels = &h->ids.desc, a.nnz = h->ids.n;
    else
        a.targets = &h->dense.desc;
    return a;
}

Test(ref_xmc, csr_positives_equal_dense_targets_bitwise_f64)
{
    for (int k = 0; k < 2; k++) {
        head h = make_head(9, 5, 37, k ? SIGFUSE_I32 : SIGFUSE_I64, 1 + k);
        sigfuse_head_train_args ad = args_of(&h, false), as = args_of(&h, true);
        ad.reduction = as.reduction = k ? SIGFUSE_REDUCTION_SUM : SIGFUSE_REDUCTION_MEAN;
        outs od, os;
        TU_OK(ctx, train(&ad, &od));
        TU_OK(ctx, train(&as, &os));
        cr_expect(tu_bytes_equal(&od.loss, &os.loss) && tu_bytes_equal(&od.dx, &os.dx) &&
                      tu_bytes_equal(&od.dw, &os.dw) && tu_bytes_equal(&od.db, &os.db),
                  "ids %s: sparse and dense differ (loss %.17g vs %.17g)", k ? "i32" : "i64", tu_get(&os.loss, 0),
                  tu_get(&od.loss, 0));
        free_outs(&od), free_outs(&os), free_head(&h);
    }
}

/* Shards of 1, 5 and the rest of 23 labels: dw, dbias bitwise the one-shard rows; dx and
 * the loss summed over the shards within rounding of the split sums. */
Test(ref_xmc, label_shards_sum_to_the_whole_f64)
{
    head h = make_head(11, 6, 23, SIGFUSE_I64, 3);
    sigfuse_head_train_args whole = args_of(&h, true);
    outs ow;
    TU_OK(ctx, train(&whole, &ow));
    const int64_t cuts[] = {0, 1, 6, 23};
    double loss = 0.0, dx[66] = {0};
    for (int s = 0; s < 3; s++) {
        const int64_t lo = cuts[s], ls = cuts[s + 1] - cuts[s];
        sigfuse_head_train_args a = whole;
        sigfuse_buffer w = h.w.desc, b = h.bias.desc, p = h.pw.desc;
        w.ptr = (double *)w.ptr + lo * h.d, b.ptr = (double *)b.ptr + lo, p.ptr = (double *)p.ptr + lo;
        a.l = ls, a.w = &w, a.bias = &b, a.pos_weight = &p, a.label_offset = lo, a.total_labels = h.l;
        outs o;
        TU_OK(ctx, train(&a, &o));
        loss += tu_get(&o.loss, 0);
        for (int64_t t = 0; t < h.n * h.d; t++)
            dx[t] += tu_get(&o.dx, t);
        for (int64_t t = 0; t < ls * h.d; t++)
            cr_expect(tu_get(&o.dw, t) == tu_get(&ow.dw, lo * h.d + t), "shard %d: dw[%lld]", s, (long long)t);
        for (int64_t t = 0; t < ls; t++)
            cr_expect(tu_get(&o.db, t) == tu_get(&ow.db, lo + t), "shard %d: dbias[%lld]", s, (long long)t);
        free_outs(&o);
    }
    cr_expect(tu_close(loss, tu_get(&ow.loss, 0), 1e-13, 0), "loss %.17g vs %.17g", loss, tu_get(&ow.loss, 0));
    for (int64_t t = 0; t < h.n * h.d; t++)
        cr_expect(tu_close(dx[t], tu_get(&ow.dx, t), 1e-12, 1e-15), "dx[%lld] %.17g vs %.17g", (long long)t, dx[t],
                  tu_get(&ow.dx, t));
    free_outs(&ow), free_head(&h);
}

/* Every bad CSR, and a shard past total_labels: a status, a message naming the argument,
 * nothing written. */
Test(ref_xmc, bad_csr_and_shards_are_refused_and_write_nothing_f64)
{
    head h = make_head(6, 3, 10, SIGFUSE_I64, 4);
    struct {
        const char *what, *names;
        sigfuse_status st;
    } cases[] = {
        {"id past total_labels", "pos_labels", SIGFUSE_ERR_INVALID_ARGUMENT},
        {"negative id", "pos_labels", SIGFUSE_ERR_INVALID_ARGUMENT},
        {"negative offset", "pos_offsets", SIGFUSE_ERR_INVALID_ARGUMENT},
        {"unsorted ids", "pos_labels", SIGFUSE_ERR_INVALID_ARGUMENT},
        {"duplicate ids", "pos_labels", SIGFUSE_ERR_INVALID_ARGUMENT},
        {"last offset not nnz", "pos_offsets", SIGFUSE_ERR_INVALID_ARGUMENT},
        {"shard past total_labels", "total_labels", SIGFUSE_ERR_INVALID_SIZE},
        {"label_offset without total_labels", "label_offset", SIGFUSE_ERR_INVALID_SIZE},
        {"targets and CSR", "targets", SIGFUSE_ERR_INVALID_ARGUMENT},
        {"pos_labels of another dtype", "pos_labels", SIGFUSE_ERR_INVALID_DTYPE},
    };
    /* Ids of one row, to break. */
    tu_buf ids = tu_from(SIGFUSE_I64, 4, (double[]){1, 4, 7, 2}), off = tu_from(SIGFUSE_I64, 7, (double[]){0, 3, 3, 4, 4, 4, 4});
    tu_buf ids32 = tu_from(SIGFUSE_I32, 4, (double[]){1, 4, 7, 2});
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        tu_buf bi = tu_copy_as(&ids, SIGFUSE_I64), bo = tu_copy_as(&off, SIGFUSE_I64);
        sigfuse_head_train_args a = args_of(&h, true);
        a.pos_offsets = &bo.desc, a.pos_labels = &bi.desc, a.nnz = 4;
        switch (k) {
        case 0: tu_set(&bi, 2, 10); break;
        case 1: tu_set(&bi, 0, -3); break;
        case 2: tu_set(&bo, 2, -1); break;
        case 3: tu_set(&bi, 1, 0); break;
        case 4: tu_set(&bi, 1, 1); break;
        case 5: a.nnz = 3; break;
        case 6: a.label_offset = 2, a.total_labels = 11; break;
        case 7: a.label_offset = 2; break;
        case 8: a.targets = &h.dense.desc; break;
        case 9: a.pos_labels = &ids32.desc; break;
        }
        outs o;
        o.loss = tu_alloc(SIGFUSE_F64, 1), o.dx = tu_alloc(SIGFUSE_F64, h.n * h.d);
        o.dw = tu_alloc(SIGFUSE_F64, h.l * h.d), o.db = tu_alloc(SIGFUSE_F64, h.l), o.ws = tu_alloc(SIGFUSE_U8, 1 << 16);
        a.loss = &o.loss.desc, a.dx = &o.dx.desc, a.dw = &o.dw.desc, a.dbias = &o.db.desc;
        a.workspace = &o.ws.desc, a.workspace_bytes = 1 << 16;
        const sigfuse_status st = sigfuse_head_train_step(ctx, &a);
        const char *msg = sigfuse_ctx_last_error(ctx);
        cr_expect_eq(st, cases[k].st, "%s: status %s (%s)", cases[k].what, sigfuse_status_string(st), msg);
        cr_expect(strstr(msg, "head_train_step") && strstr(msg, cases[k].names), "%s: message \"%s\"", cases[k].what,
                  msg);
        cr_expect(tu_untouched(&o.loss) && tu_untouched(&o.dx) && tu_untouched(&o.dw) && tu_untouched(&o.db),
                  "%s: an output was written", cases[k].what);
        free_outs(&o);
        RC_FREE(&bi, &bo);
    }
    RC_FREE(&ids, &off, &ids32);
    free_head(&h);
}

/* head_topk against a full sort of the logits it ranks (stable by id), with exact ties
 * and NaN; and the merge of three shards' lists equal to the one-shard list. */
static int cmp_entry(const void *pa, const void *pb)
{
    const double *a = pa, *b = pb;   /* (logit, id) pairs */
    return sf_topk_before(a[0], (int64_t)a[1], b[0], (int64_t)b[1]) ? -1 : 1;
}

Test(ref_xmc, topk_is_a_full_sort_and_shards_merge_to_the_whole_f32)
{
    enum { N = 13, D = 6, L = 200, K = 7 };
    tu_rng rng = tu_rng_seed(5, "ref_xmc.topk");
    tu_buf x = tu_alloc(SIGFUSE_F32, N * D), w = tu_alloc(SIGFUSE_F32, L * D), b = tu_alloc(SIGFUSE_F32, L);
    tu_fill_uniform(&x, &rng, -1, 1);
    tu_fill_uniform(&w, &rng, -1, 1);
    tu_fill_uniform(&b, &rng, -1, 1);
    for (int j = 3; j < L; j += 9) {   /* ties and NaN */
        for (int t = 0; t < D; t++)
            tu_set(&w, j * D + t, tu_get(&w, (j - 1) * D + t));
        tu_set(&b, j, tu_get(&b, j - 1));
    }
    tu_set(&b, 17, NAN);
    tu_buf tl = tu_alloc(SIGFUSE_I64, N * K), tz = tu_alloc(SIGFUSE_F32, N * K), tp = tu_alloc(SIGFUSE_F32, N * K);
    sigfuse_head_topk_args a;
    sigfuse_head_topk_args_init(&a);
    a.n = N, a.d = D, a.l = L, a.k = K, a.label_offset = 100;
    a.x = &x.desc, a.w = &w.desc, a.bias = &b.desc, a.top_labels = &tl.desc, a.top_logits = &tz.desc,
    a.top_probs = &tp.desc;
    TU_OK(ctx, sigfuse_head_topk(ctx, &a));
    double all[L][2];
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < L; j++) {
            all[j][0] = sf_round_to_dtype(sf_ref_head_logit(&x.desc, &w.desc, &b.desc, D, i, j, SIGFUSE_F32), SIGFUSE_F32);
            all[j][1] = 100 + j;
        }
        qsort(all, L, sizeof all[0], cmp_entry);
        for (int t = 0; t < K; t++) {
            cr_expect_eq((int64_t)tu_get(&tl, i * K + t), (int64_t)all[t][1], "row %d place %d", i, t);
            cr_expect(tu_same(tu_get(&tz, i * K + t), all[t][0]), "row %d place %d: logit", i, t);
        }
    }
    /* Shards [0, 50), [50, 51), [51, 200): their lists merged are the one-shard list. */
    const int cuts[] = {0, 50, 51, 200};
    tu_buf ml = tu_alloc(SIGFUSE_I64, 3 * N * K), mz = tu_alloc(SIGFUSE_F32, 3 * N * K);
    for (int s = 0; s < 3; s++) {
        sigfuse_head_topk_args p = a;
        sigfuse_buffer ws = w.desc, bs = b.desc, ol = ml.desc, oz = mz.desc;
        ws.ptr = (float *)ws.ptr + cuts[s] * D, bs.ptr = (float *)bs.ptr + cuts[s];
        ol.ptr = (int64_t *)ol.ptr + s * N * K, oz.ptr = (float *)oz.ptr + s * N * K;
        p.l = cuts[s + 1] - cuts[s], p.label_offset = 100 + cuts[s];
        p.w = &ws, p.bias = &bs, p.top_labels = &ol, p.top_logits = &oz, p.top_probs = NULL;
        TU_OK(ctx, sigfuse_head_topk(ctx, &p));
    }
    tu_buf gl = tu_alloc(SIGFUSE_I64, N * K), gz = tu_alloc(SIGFUSE_F32, N * K), gp = tu_alloc(SIGFUSE_F32, N * K);
    sigfuse_topk_merge_args m;
    sigfuse_topk_merge_args_init(&m);
    m.n = N, m.k = K, m.shards = 3, m.in_labels = &ml.desc, m.in_logits = &mz.desc;
    m.top_labels = &gl.desc, m.top_logits = &gz.desc, m.top_probs = &gp.desc;
    TU_OK(ctx, sigfuse_topk_merge(ctx, &m));
    cr_expect(tu_bytes_equal(&gl, &tl) && tu_bytes_equal(&gz, &tz) && tu_bytes_equal(&gp, &tp),
              "merged shards differ from the one-shard list");
    RC_FREE(&x, &w, &b, &tl, &tz, &tp, &ml, &mz, &gl, &gz, &gp);
}

/* Fewer labels than k: pads of id -1, logit -inf, probability 0, after the real ones. */
Test(ref_xmc, topk_pads_rows_when_l_is_below_k_f32)
{
    tu_buf x = tu_from(SIGFUSE_F32, 1, (double[]){1}), w = tu_from(SIGFUSE_F32, 2, (double[]){-1, 2});
    tu_buf tl = tu_alloc(SIGFUSE_I32, 4), tz = tu_alloc(SIGFUSE_F32, 4), tp = tu_alloc(SIGFUSE_F32, 4);
    sigfuse_head_topk_args a;
    sigfuse_head_topk_args_init(&a);
    a.n = 1, a.d = 1, a.l = 2, a.k = 4, a.x = &x.desc, a.w = &w.desc;
    a.top_labels = &tl.desc, a.top_logits = &tz.desc, a.top_probs = &tp.desc;
    TU_OK(ctx, sigfuse_head_topk(ctx, &a));
    const double want_l[4] = {1, 0, -1, -1}, want_z[4] = {2, -1, -INFINITY, -INFINITY};
    for (int t = 0; t < 4; t++) {
        cr_expect_eq(tu_get(&tl, t), want_l[t], "label %d", t);
        cr_expect_eq(tu_get(&tz, t), want_z[t], "logit %d", t);
    }
    cr_expect_eq(tu_get(&tp, 3), 0.0);
    RC_FREE(&x, &w, &tl, &tz, &tp);
}

Test(ref_xmc, topk_metrics_hand_counted)
{
    /* Row 0: top {3, 5, 9}, positives {5, 9}: P 2/3, R 1. Row 1: {1, -1, 2}, positives
     * {7}: P 0, R 0. Row 2: no positives: P 0, not in R. */
    const int64_t top[9] = {3, 5, 9, 1, -1, 2, 4, 6, 8}, off[4] = {0, 2, 3, 3}, pos[3] = {5, 9, 7};
    double p, r;
    cr_assert_eq(sigfuse_topk_metrics(3, 3, top, off, pos, &p, &r), SIGFUSE_SUCCESS);
    cr_expect(tu_close(p, (2.0 / 3.0) / 3.0, 1e-15, 0), "P@3 = %g", p);
    cr_expect(tu_close(r, 0.5, 1e-15, 0), "R@3 = %g", r);
    cr_expect_eq(sigfuse_topk_metrics(3, 0, top, off, pos, &p, &r), SIGFUSE_ERR_INVALID_SIZE);
    cr_expect_eq(sigfuse_topk_metrics(3, 3, NULL, off, pos, &p, &r), SIGFUSE_ERR_NULL_ARGUMENT);
}
