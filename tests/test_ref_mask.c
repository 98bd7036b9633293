/* SPDX-License-Identifier: MIT */
/*
 * Ignored targets on the reference, for every loss that takes a mask (bce_with_logits,
 * sigmoid_focal, asymmetric; bce_dice has its own tests): a masked call equals the call
 * on the kept elements alone (loss for SUM and MEAN, dlogits of the kept ones), ignored
 * elements get loss 0 and gradient 0 even where their logits and targets are NaN or
 * infinite, and a tensor with every element ignored gives SUM 0, MEAN NaN, gradients 0.
 * The ops are driven through the catalogue, so each gets the same cases.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "sf_internal.h"
#include "testutil.h"

static sigfuse_ctx *ctx;
static void open_ctx(void) { ctx = tu_cpu_ctx(); }
static void close_ctx(void) { sigfuse_ctx_destroy(ctx); }
TestSuite(ref_mask, .init = open_ctx, .fini = close_ctx);

static int buf_index(sf_op op, const char *name)
{
    for (int i = 0; i < sf_op_infos[op].n_bufs; i++)
        if (strcmp(sf_op_infos[op].bufs[i].name, name) == 0)
            return i;
    cr_assert_fail("%s has no buffer %s", sf_op_name(op), name);
    return -1;
}

/* The op over 1 x n with its default options but the reduction, at grad_scale 2 and
 * upstream 0.5 (one f64 for SUM / MEAN, n of them for NONE). */
static void loss_call(sf_op op, sigfuse_reduction red, int64_t n, const tu_buf *x, const tu_buf *y,
                      const tu_buf *mask, tu_buf *loss, tu_buf *dx)
{
    sf_any_args a;
    sf_op_init(op, &a);
    sf_op_values v;
    sf_op_get(op, &a, &v);
    v.sizes[0] = 1, v.sizes[1] = n;
    const sf_op_info *info = &sf_op_infos[op];
    tu_buf up = tu_alloc(SIGFUSE_F64, red == SIGFUSE_REDUCTION_NONE ? n : 1);
    for (int64_t i = 0; i < up.n; i++)
        tu_set(&up, i, 0.5);
    for (int i = 0; i < info->n_opts; i++) {
        if (info->opts[i].reduction)
            v.opts[i] = red;
        if (strcmp(info->opts[i].name, "grad_scale") == 0)
            v.opts[i] = 2.0;
    }
    v.bufs[buf_index(op, "logits")] = &x->desc;
    v.bufs[buf_index(op, "targets")] = &y->desc;
    v.bufs[buf_index(op, "mask")] = mask ? &mask->desc : NULL;
    v.bufs[buf_index(op, "dloss_in")] = &up.desc;
    v.bufs[buf_index(op, "loss")] = &loss->desc;
    v.bufs[buf_index(op, "dlogits")] = &dx->desc;
    sf_op_set(op, &a, &v);
    TU_OK(ctx, sf_op_call(ctx, op, &a));
    tu_free(&up);
}

static const sf_op masked_ops[] = {SF_OP_bce_with_logits, SF_OP_sigmoid_focal, SF_OP_asymmetric};

/* Masked vs the kept elements alone; the ignored ones hold NaN and inf logits and
 * targets. */
static void equals_kept_alone(sf_op op, sigfuse_reduction red)
{
    enum { N = 41 };
    char name[96];
    snprintf(name, sizeof name, "ref_mask.kept_alone %s red=%d", sf_op_name(op), (int)red);
    tu_rng rng = tu_rng_seed(77, name);
    tu_buf x = tu_alloc(SIGFUSE_F64, N), y = tu_alloc(SIGFUSE_F64, N), m = tu_alloc(SIGFUSE_U8, N);
    tu_fill_uniform(&x, &rng, -12, 12);
    tu_fill_uniform(&y, &rng, 0, 1);
    int64_t kept = 0;
    for (int64_t i = 0; i < N; i++) {
        const bool keep = tu_uniform(&rng, 0, 1) < 0.6;
        ((uint8_t *)tu_data(&m))[i] = keep ? (i % 2 ? 1 : 200) : 0;   /* raw: any nonzero byte keeps */
        if (!keep) {
            tu_set(&x, i, i % 3 == 0 ? NAN : (i % 3 == 1 ? INFINITY : -INFINITY));
            tu_set(&y, i, i % 2 ? NAN : 1.0);
        }
        kept += keep;
    }
    tu_buf kx = tu_alloc(SIGFUSE_F64, kept), ky = tu_alloc(SIGFUSE_F64, kept);
    for (int64_t i = 0, k = 0; i < N; i++)
        if (tu_get(&m, i) != 0.0) {
            tu_set(&kx, k, tu_get(&x, i));
            tu_set(&ky, k, tu_get(&y, i));
            k++;
        }
    const bool none = red == SIGFUSE_REDUCTION_NONE;
    tu_buf l = tu_alloc(SIGFUSE_F64, none ? N : 1), d = tu_alloc(SIGFUSE_F64, N);
    tu_buf kl = tu_alloc(SIGFUSE_F64, none ? kept : 1), kd = tu_alloc(SIGFUSE_F64, kept);
    loss_call(op, red, N, &x, &y, &m, &l, &d);
    loss_call(op, red, kept, &kx, &ky, NULL, &kl, &kd);
    if (!none)
        cr_expect(tu_get(&l, 0) == tu_get(&kl, 0), "%s: loss %.17g, kept alone %.17g", name, tu_get(&l, 0),
                  tu_get(&kl, 0));
    for (int64_t i = 0, k = 0; i < N; i++) {
        if (tu_get(&m, i) == 0.0) {
            cr_expect(tu_get(&d, i) == 0.0 && !signbit(tu_get(&d, i)), "%s: ignored %lld: dlogits %g", name,
                      (long long)i, tu_get(&d, i));
            if (none)
                cr_expect(tu_get(&l, i) == 0.0, "%s: ignored %lld: loss %g", name, (long long)i, tu_get(&l, i));
            continue;
        }
        cr_expect(tu_get(&d, i) == tu_get(&kd, k), "%s: dlogits[%lld] %.17g, kept alone %.17g", name, (long long)i,
                  tu_get(&d, i), tu_get(&kd, k));
        if (none)
            cr_expect(tu_get(&l, i) == tu_get(&kl, k), "%s: loss[%lld]", name, (long long)i);
        k++;
    }
    tu_free(&x), tu_free(&y), tu_free(&m), tu_free(&kx), tu_free(&ky);
    tu_free(&l), tu_free(&d), tu_free(&kl), tu_free(&kd);
}

Test(ref_mask, equals_the_kept_elements_alone_f64_1x41)
{
    for (int o = 0; o < 3; o++)
        for (int red = SIGFUSE_REDUCTION_NONE; red <= SIGFUSE_REDUCTION_MEAN; red++)
            equals_kept_alone(masked_ops[o], (sigfuse_reduction)red);
}

/* Every element ignored: SUM 0, MEAN NaN (as over no elements), every gradient 0. */
Test(ref_mask, all_ignored_sum0_mean_nan_gradients0_f64_1x9)
{
    enum { N = 9 };
    tu_buf x = tu_alloc(SIGFUSE_F64, N), y = tu_alloc(SIGFUSE_F64, N), m = tu_alloc(SIGFUSE_U8, N);
    tu_buf l = tu_alloc(SIGFUSE_F64, 1), d = tu_alloc(SIGFUSE_F64, N);
    tu_rng rng = tu_rng_seed(78, "ref_mask.all_ignored");
    tu_fill_uniform(&x, &rng, -5, 5);
    tu_fill_binary(&y, &rng);
    for (int i = 0; i < N; i++)
        tu_set(&m, i, 0);
    for (int o = 0; o < 3; o++) {
        loss_call(masked_ops[o], SIGFUSE_REDUCTION_SUM, N, &x, &y, &m, &l, &d);
        cr_expect(tu_get(&l, 0) == 0.0, "%s: SUM %g", sf_op_name(masked_ops[o]), tu_get(&l, 0));
        loss_call(masked_ops[o], SIGFUSE_REDUCTION_MEAN, N, &x, &y, &m, &l, &d);
        cr_expect(isnan(tu_get(&l, 0)), "%s: MEAN %g", sf_op_name(masked_ops[o]), tu_get(&l, 0));
        for (int i = 0; i < N; i++)
            cr_expect(tu_get(&d, i) == 0.0, "%s: dlogits[%d] %g", sf_op_name(masked_ops[o]), i, tu_get(&d, i));
    }
    tu_free(&x), tu_free(&y), tu_free(&m), tu_free(&l), tu_free(&d);
}

/* BCE's probabilities and labels are written for ignored elements too. */
Test(ref_mask, bce_probs_and_labels_ignore_the_mask_f64_1x4)
{
    tu_buf x = tu_from(SIGFUSE_F64, 4, (double[]){-1, 0.5, 2, -3}), y = tu_from(SIGFUSE_F64, 4, (double[]){0, 1, 1, 0});
    tu_buf m = tu_from(SIGFUSE_U8, 4, (double[]){0, 0, 1, 1});
    tu_buf pr = tu_alloc(SIGFUSE_F64, 4), lab = tu_alloc(SIGFUSE_U8, 4);
    sigfuse_bce_args b;
    sigfuse_bce_args_init(&b);
    b.rows = 1, b.cols = 4, b.logits = &x.desc, b.targets = &y.desc, b.mask = &m.desc;
    b.probs = &pr.desc, b.labels = &lab.desc;
    TU_OK(ctx, sigfuse_bce_with_logits(ctx, &b));
    for (int i = 0; i < 4; i++) {
        const double s = 1.0 / (1.0 + exp(-tu_get(&x, i)));
        cr_expect(tu_close(tu_get(&pr, i), s, 1e-15, 0), "probs[%d] %g", i, tu_get(&pr, i));
        cr_expect(tu_get(&lab, i) == (s > 0.5), "labels[%d]", i);
    }
    tu_free(&x), tu_free(&y), tu_free(&m), tu_free(&pr), tu_free(&lab);
}
