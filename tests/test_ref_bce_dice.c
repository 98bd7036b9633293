/* SPDX-License-Identifier: MIT */
/*
 * The CPU reference of bce_dice (BCE + soft Dice per image), checked through the public
 * API: the formula written out in plain double, bce_with_logits itself when the Dice
 * weight is 0, central finite differences of the loss over every option (smooth,
 * label_smoothing, pos_weight, mask, both weights, SUM / MEAN, dloss_in, grad_scale), and
 * the edges: empty images, smooth 0, no images, a weight of 0 beside an infinite term.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "ref_check.h"
#include "testutil.h"

RC_CPU_CTX_FIXTURE
TestSuite(ref_bce_dice, .init = open_ctx, .fini = close_ctx);

typedef struct dice_problem {
    sigfuse_bce_dice_args a;   /* sizes and options; buffers set per call */
    tu_buf *x, *y, *mask, *pw, *dloss;
} dice_problem;

/* The call with the problem's inputs; any of loss, dx, dice may be NULL. */
static sigfuse_status dice_call(dice_problem *p, tu_buf *loss, tu_buf *dx, tu_buf *dice)
{
    sigfuse_bce_dice_args a = p->a;
    a.logits = &p->x->desc, a.targets = &p->y->desc;
    a.mask = p->mask ? &p->mask->desc : NULL;
    a.pos_weight = p->pw ? &p->pw->desc : NULL;
    a.dloss_in = p->dloss ? &p->dloss->desc : NULL;
    a.loss = loss ? &loss->desc : NULL;
    a.dlogits = dx ? &dx->desc : NULL;
    a.dice = dice ? &dice->desc : NULL;
    return sigfuse_bce_dice(ctx, &a);
}

static void loss_at(sigfuse_ctx *c, void *problem, tu_buf *loss)
{
    (void)c;
    TU_OK(ctx, dice_call(problem, loss, NULL, NULL));
}

static double sig(double x) { return 1.0 / (1.0 + exp(-x)); }

/* The loss as the header writes it, in plain double, and each image's D. */
static double plain_loss(const dice_problem *p, double *dice)
{
    const sigfuse_bce_dice_args *a = &p->a;
    const double eps = (float)a->label_smoothing, s = (float)a->smooth;
    double bce = 0.0, dsum = 0.0;
    int64_t kept = 0;
    for (int64_t r = 0; r < a->images; r++) {
        double inter = 0.0, uni = 0.0;
        for (int64_t c = 0; c < a->pixels; c++) {
            const int64_t i = r * a->pixels + c;
            if (p->mask && tu_get(p->mask, i) == 0.0)
                continue;
            const double x = tu_get(p->x, i), y = tu_get(p->y, i), q = sig(x);
            const double ys = y * (1 - eps) + eps / 2, pw = p->pw ? tu_get(p->pw, c) : 1.0;
            bce += -(pw * ys * log(q) + (1 - ys) * log(1 - q));
            inter += q * y;
            uni += q + y;
            kept++;
        }
        dice[r] = (2 * inter + s) / (uni + s);
        dsum += 1 - dice[r];
    }
    if (a->reduction == SIGFUSE_REDUCTION_MEAN)
        bce /= (double)kept;
    return (float)a->bce_weight * bce + (float)a->dice_weight * dsum / (double)a->images;
}

/* ---- The formula, and finite differences over the options ----------------------------- */

typedef struct dice_case {
    int64_t images, pixels;
    sigfuse_reduction red;
    double wb, wd, smooth, eps, grad_scale;
    bool mask, pos_weight, dloss_in, soft;
} dice_case;

static void formula_and_fd_case(const dice_case *k, uint64_t seed)
{
    char name[160];
    snprintf(name, sizeof name, "ref_bce_dice %lldx%lld red=%d wb=%g wd=%g s=%g eps=%g gs=%g mask=%d pw=%d up=%d soft=%d",
             (long long)k->images, (long long)k->pixels, (int)k->red, k->wb, k->wd, k->smooth, k->eps, k->grad_scale,
             k->mask, k->pos_weight, k->dloss_in, k->soft);
    tu_rng rng = tu_rng_seed(seed, name);
    const int64_t n = k->images * k->pixels;
    tu_buf x = tu_alloc(SIGFUSE_F64, n), y = tu_alloc(SIGFUSE_F64, n), m = tu_alloc(SIGFUSE_U8, n);
    tu_buf pw = tu_alloc(SIGFUSE_F64, k->pixels), up = tu_from(SIGFUSE_F64, 1, (double[]){-1.25});
    tu_buf loss = tu_alloc(SIGFUSE_F64, 1), dx = tu_alloc(SIGFUSE_F64, n), dice = tu_alloc(SIGFUSE_F64, k->images);
    tu_fill_uniform(&x, &rng, -6, 6);
    if (k->soft)
        tu_fill_uniform(&y, &rng, 0, 1);
    else
        tu_fill_binary(&y, &rng);
    for (int64_t i = 0; i < n; i++)
        tu_set(&m, i, i % 5 != 2);
    tu_fill_uniform(&pw, &rng, 0.3, 3);
    dice_problem p = {.x = &x, .y = &y, .mask = k->mask ? &m : NULL, .pw = k->pos_weight ? &pw : NULL,
                      .dloss = k->dloss_in ? &up : NULL};
    sigfuse_bce_dice_args_init(&p.a);
    p.a.images = k->images, p.a.pixels = k->pixels, p.a.reduction = k->red;
    p.a.bce_weight = (float)k->wb, p.a.dice_weight = (float)k->wd, p.a.smooth = (float)k->smooth;
    p.a.label_smoothing = (float)k->eps, p.a.grad_scale = (float)k->grad_scale;
    TU_OK(ctx, dice_call(&p, &loss, &dx, &dice));

    double want_dice[64];
    cr_assert(k->images <= 64);
    const double want = plain_loss(&p, want_dice);
    cr_expect(tu_close(tu_get(&loss, 0), want, 1e-12, 1e-15), "%s: loss %.17g, want %.17g", name, tu_get(&loss, 0),
              want);
    for (int64_t r = 0; r < k->images; r++)
        cr_expect(tu_close(tu_get(&dice, r), want_dice[r], 1e-13, 0), "%s: dice[%lld] %.17g, want %.17g", name,
                  (long long)r, tu_get(&dice, r), want_dice[r]);
    tu_expect_loss_fd(name, ctx, loss_at, &p, false, &x, &y, &dx, k->grad_scale, k->dloss_in ? &up : NULL);
    if (k->mask)
        for (int64_t i = 0; i < n; i++)
            if (tu_get(&m, i) == 0.0)
                cr_expect(tu_get(&dx, i) == 0.0, "%s: ignored pixel %lld has gradient %g", name, (long long)i,
                          tu_get(&dx, i));
    RC_FREE(&x, &y, &m, &pw, &up, &loss, &dx, &dice);
}

Test(ref_bce_dice, defaults_mean_f64_3x11)
{
    formula_and_fd_case(&(dice_case){3, 11, SIGFUSE_REDUCTION_MEAN, 1, 1, 1, 0, 1, false, false, false, false}, 1);
}
Test(ref_bce_dice, every_option_mean_f64_4x9)
{
    formula_and_fd_case(&(dice_case){4, 9, SIGFUSE_REDUCTION_MEAN, 0.7, 1.3, 0.5, 0.1, 2.5, true, true, true, true}, 2);
}
Test(ref_bce_dice, every_option_sum_f64_2x17)
{
    formula_and_fd_case(&(dice_case){2, 17, SIGFUSE_REDUCTION_SUM, 0.4, 2, 1, 0.2, 0.5, true, true, true, false}, 3);
}
Test(ref_bce_dice, smooth0_soft_targets_f64_3x8)
{
    formula_and_fd_case(&(dice_case){3, 8, SIGFUSE_REDUCTION_MEAN, 1, 1, 0, 0, 1, false, false, false, true}, 4);
}
Test(ref_bce_dice, dice_alone_f64_5x7)
{
    formula_and_fd_case(&(dice_case){5, 7, SIGFUSE_REDUCTION_MEAN, 0, 1, 1, 0, 1, true, false, true, false}, 5);
}
Test(ref_bce_dice, bce_alone_f64_2x13)
{
    formula_and_fd_case(&(dice_case){2, 13, SIGFUSE_REDUCTION_SUM, 1.5, 0, 1, 0.05, 1, true, true, false, true}, 6);
}
Test(ref_bce_dice, one_pixel_images_f64_9x1)
{
    formula_and_fd_case(&(dice_case){9, 1, SIGFUSE_REDUCTION_MEAN, 1, 1, 1, 0, 1, true, false, false, false}, 7);
}

/* With dice_weight 0 the loss and gradient are bce_with_logits' with the same options. */
Test(ref_bce_dice, dice_weight0_is_bce_with_logits_f64_3x10)
{
    enum { R = 3, C = 10, N = R * C };
    tu_rng rng = tu_rng_seed(8, "ref_bce_dice.is_bce");
    tu_buf x = tu_alloc(SIGFUSE_F64, N), y = tu_alloc(SIGFUSE_F64, N), m = tu_alloc(SIGFUSE_U8, N);
    tu_buf pw = tu_alloc(SIGFUSE_F64, C);
    tu_buf l1 = tu_alloc(SIGFUSE_F64, 1), d1 = tu_alloc(SIGFUSE_F64, N), l2 = tu_alloc(SIGFUSE_F64, 1),
           d2 = tu_alloc(SIGFUSE_F64, N);
    tu_fill_uniform(&x, &rng, -20, 20);
    tu_fill_uniform(&y, &rng, 0, 1);
    tu_fill_binary(&m, &rng);
    tu_fill_uniform(&pw, &rng, 0.5, 2);
    dice_problem p = {.x = &x, .y = &y, .mask = &m, .pw = &pw};
    sigfuse_bce_dice_args_init(&p.a);
    p.a.images = R, p.a.pixels = C, p.a.dice_weight = 0.0f, p.a.label_smoothing = 0.1f, p.a.grad_scale = 3.0f;
    TU_OK(ctx, dice_call(&p, &l1, &d1, NULL));
    sigfuse_bce_args b;
    sigfuse_bce_args_init(&b);
    b.rows = R, b.cols = C, b.label_smoothing = 0.1f, b.grad_scale = 3.0f;
    b.logits = &x.desc, b.targets = &y.desc, b.mask = &m.desc, b.pos_weight = &pw.desc;
    b.loss = &l2.desc, b.dlogits = &d2.desc;
    TU_OK(ctx, sigfuse_bce_with_logits(ctx, &b));
    cr_expect(tu_close(tu_get(&l1, 0), tu_get(&l2, 0), 1e-14, 0), "loss %.17g vs BCE %.17g", tu_get(&l1, 0),
              tu_get(&l2, 0));
    for (int i = 0; i < N; i++)
        cr_expect(tu_close(tu_get(&d1, i), tu_get(&d2, i), 1e-14, 1e-300), "dlogits[%d] %.17g vs BCE %.17g", i,
                  tu_get(&d1, i), tu_get(&d2, i));
    RC_FREE(&x, &y, &m, &pw, &l1, &d1, &l2, &d2);
}

/* ---- Edges ------------------------------------------------------------------------------ */

/* An image whose pixels are all ignored: D = 1 with smooth > 0, NaN with smooth 0 (0/0);
 * its pixels' gradients are 0 either way, and the other images are unaffected. */
Test(ref_bce_dice, empty_images_f64_2x4)
{
    const double xs[8] = {1, -2, 0.5, 3, 0.2, -0.4, 2, -1}, ys[8] = {1, 0, 1, 1, 0, 1, 1, 0};
    tu_buf x = tu_from(SIGFUSE_F64, 8, xs), y = tu_from(SIGFUSE_F64, 8, ys);
    tu_buf m = tu_from(SIGFUSE_U8, 8, (double[]){0, 0, 0, 0, 1, 1, 1, 1});
    for (int s0 = 0; s0 < 2; s0++) {
        tu_buf loss = tu_alloc(SIGFUSE_F64, 1), dx = tu_alloc(SIGFUSE_F64, 8), dice = tu_alloc(SIGFUSE_F64, 2);
        dice_problem p = {.x = &x, .y = &y, .mask = &m};
        sigfuse_bce_dice_args_init(&p.a);
        p.a.images = 2, p.a.pixels = 4, p.a.smooth = s0 ? 0.0f : 1.0f;
        TU_OK(ctx, dice_call(&p, &loss, &dx, &dice));
        if (s0) {
            cr_expect(isnan(tu_get(&dice, 0)) && isnan(tu_get(&loss, 0)), "smooth 0: D %g loss %g", tu_get(&dice, 0),
                      tu_get(&loss, 0));
        } else {
            cr_expect(tu_get(&dice, 0) == 1.0, "smooth 1: D = %g", tu_get(&dice, 0));
            cr_expect(isfinite(tu_get(&loss, 0)));
        }
        for (int i = 0; i < 4; i++)
            cr_expect(tu_get(&dx, i) == 0.0, "smooth %d: ignored pixel %d: %g", !s0, i, tu_get(&dx, i));
        for (int i = 4; i < 8; i++)
            cr_expect(isfinite(tu_get(&dx, i)) && tu_get(&dx, i) != 0.0, "pixel %d: %g", i, tu_get(&dx, i));
        RC_FREE(&loss, &dx, &dice);
    }
    RC_FREE(&x, &y, &m);
}

/* No images: MEAN's BCE and the Dice mean are 0/0. Images of no pixels: D = 1. */
Test(ref_bce_dice, no_images_and_no_pixels_f64)
{
    tu_buf x = tu_alloc(SIGFUSE_F64, 0), y = tu_alloc(SIGFUSE_F64, 0), loss = tu_alloc(SIGFUSE_F64, 1);
    tu_buf dice = tu_alloc(SIGFUSE_F64, 3);
    dice_problem p = {.x = &x, .y = &y};
    sigfuse_bce_dice_args_init(&p.a);
    TU_OK(ctx, dice_call(&p, &loss, NULL, NULL));
    cr_expect(isnan(tu_get(&loss, 0)), "no images: loss %g", tu_get(&loss, 0));
    p.a.images = 3, p.a.pixels = 0, p.a.reduction = SIGFUSE_REDUCTION_SUM;
    TU_OK(ctx, dice_call(&p, &loss, NULL, &dice));
    cr_expect(tu_get(&loss, 0) == 0.0, "no pixels, SUM: loss %g", tu_get(&loss, 0));
    for (int r = 0; r < 3; r++)
        cr_expect(tu_get(&dice, r) == 1.0, "no pixels: D[%d] = %g", r, tu_get(&dice, r));
    RC_FREE(&x, &y, &loss, &dice);
}

/* A weight of 0 leaves its term out: an infinite BCE (a positive at -inf) with
 * bce_weight 0 gives the Dice loss, finite. */
Test(ref_bce_dice, weight0_leaves_an_infinite_term_out_f64_1x3)
{
    tu_buf x = tu_from(SIGFUSE_F64, 3, (double[]){-INFINITY, 1, 2}), y = tu_from(SIGFUSE_F64, 3, (double[]){1, 0, 1});
    tu_buf loss = tu_alloc(SIGFUSE_F64, 1), dx = tu_alloc(SIGFUSE_F64, 3);
    dice_problem p = {.x = &x, .y = &y};
    sigfuse_bce_dice_args_init(&p.a);
    p.a.images = 1, p.a.pixels = 3;
    TU_OK(ctx, dice_call(&p, &loss, &dx, NULL));
    cr_expect(tu_get(&loss, 0) == INFINITY, "both terms: %g", tu_get(&loss, 0));
    p.a.bce_weight = 0.0f;
    TU_OK(ctx, dice_call(&p, &loss, &dx, NULL));
    cr_expect(isfinite(tu_get(&loss, 0)), "Dice alone: %g", tu_get(&loss, 0));
    for (int i = 0; i < 3; i++)
        cr_expect(isfinite(tu_get(&dx, i)), "Dice alone: dlogits[%d] = %g", i, tu_get(&dx, i));
    RC_FREE(&x, &y, &loss, &dx);
}

/* The results rounded once to each storage dtype from the f64 call on the same inputs. */
static void dtype_case(sigfuse_dtype dt, bool u8_targets)
{
    enum { R = 3, C = 37, N = R * C };
    char name[96];
    snprintf(name, sizeof name, "ref_bce_dice.dtype %s u8=%d", sigfuse_dtype_name(dt), u8_targets);
    tu_rng rng = tu_rng_seed(9, name);
    tu_buf x = tu_alloc(dt, N), y = tu_alloc(u8_targets ? SIGFUSE_U8 : dt, N), m = tu_alloc(SIGFUSE_U8, N);
    tu_fill_uniform(&x, &rng, -10, 10);
    if (u8_targets)
        tu_fill_binary(&y, &rng);
    else
        tu_fill_uniform(&y, &rng, 0, 1);
    tu_fill_binary(&m, &rng);
    tu_buf x64 = tu_copy_as(&x, SIGFUSE_F64), y64 = tu_copy_as(&y, SIGFUSE_F64);
    tu_buf l = tu_alloc(SIGFUSE_F32, 1), d = tu_alloc(dt, N), dc = tu_alloc(dt, R);
    tu_buf l64 = tu_alloc(SIGFUSE_F64, 1), d64 = tu_alloc(SIGFUSE_F64, N), dc64 = tu_alloc(SIGFUSE_F64, R);
    dice_problem p = {.x = &x, .y = &y, .mask = &m};
    sigfuse_bce_dice_args_init(&p.a);
    p.a.images = R, p.a.pixels = C, p.a.dice_weight = 0.5f;
    TU_OK(ctx, dice_call(&p, &l, &d, &dc));
    p.x = &x64, p.y = &y64;
    TU_OK(ctx, dice_call(&p, &l64, &d64, &dc64));
    tu_expect_rounded(&l, &l64, "loss", name);
    tu_expect_rounded(&d, &d64, "dlogits", name);
    tu_expect_rounded(&dc, &dc64, "dice", name);
    RC_FREE(&x, &y, &m, &x64, &y64, &l, &d, &dc, &l64, &d64, &dc64);
}

Test(ref_bce_dice, rounded_once_f32_3x37) { dtype_case(SIGFUSE_F32, false); }
Test(ref_bce_dice, rounded_once_f16_u8_targets_3x37) { dtype_case(SIGFUSE_F16, true); }
Test(ref_bce_dice, rounded_once_bf16_3x37) { dtype_case(SIGFUSE_BF16, false); }
