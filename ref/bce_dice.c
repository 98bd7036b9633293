/* SPDX-License-Identifier: MIT */
/*
 * CPU reference of sigfuse_bce_dice (BCE + soft Dice over [images, pixels]): the
 * definition every device backend is checked against. It computes in double and rounds
 * once when it stores.
 *
 * Image r, its kept pixels j (mask nonzero, or every pixel), x = logits, y = targets:
 *   p_j = ref_sigmoid(x_j);  I = sum p_j y_j;  U = sum p_j + sum y_j  (row order, double)
 *   D_r = (2 I + smooth) / (U + smooth)
 * BCE_j and dBCE_j/dx are ref/bce.c's element (pos_weight, label_smoothing; no weight),
 * reduced over the kept pixels of the tensor: SUM, or MEAN by their count (NaN for none).
 *   loss = bce_weight * BCE + dice_weight * (1 / images) sum_r (1 - D_r)
 *   dlogits_j = grad_scale * dloss_in * (bce_weight * dBCE_j/dx / (count for MEAN)
 *               - dice_weight / images * (2 y_j - D_r) p_j (1 - p_j) / (U_r + smooth))
 * An ignored pixel's gradient is 0; a weight of 0 leaves its term out entirely (no
 * 0 * inf, no 0 * NaN). Images = 0: the Dice mean is 0 / 0 = NaN.
 * The sums are taken before any output is stored, so dlogits may be in place on logits.
 */
#include <math.h>
#include <stdlib.h>

#include "ref_loss.h"
#include "ref_math.h"
#include "sf_internal.h"

/* One pixel's BCE loss and gradient (ref/bce.c's element with w = 1). */
static void bce_element(double x, double y, double eps, double pw, double *loss, double *grad)
{
    const double ys = y * (1.0 - eps) + 0.5 * eps;
    const double neg = 1.0 - ys, pos = pw * ys;
    *loss = ref_mul_limit(neg, ref_softplus(x)) + ref_mul_limit(pos, ref_softplus(-x));
    *grad = neg * ref_sigmoid(x) - pos * ref_sigmoid(-x);
}

sigfuse_status sf_ref_bce_dice(sigfuse_ctx *ctx, const sigfuse_bce_dice_args *a)
{
    const int64_t rows = a->images, cols = a->pixels, n = rows * cols;
    const double eps = a->label_smoothing, smooth = a->smooth;
    const double wb = a->bce_weight, wd = a->dice_weight;
    const int64_t count = ref_loss_count(a->mask, n);
    /* The BCE term's gradient scale (ref_loss.h), and the factor of the whole gradient. */
    const double up = a->dloss_in != NULL ? sf_host_load(a->dloss_in, 0) : 1.0;
    const double bce_scale = a->reduction == SIGFUSE_REDUCTION_MEAN ? 1.0 / (double)count : 1.0;
    const double scale = (double)a->grad_scale * up;

    /* First pass: each image's D and 1 / (U + smooth), and the BCE sum. */
    double *dice = rows > 0 ? malloc((size_t)rows * 2 * sizeof(double)) : NULL;
    if (rows > 0 && dice == NULL)
        return sf_fail(ctx, SIGFUSE_ERR_OUT_OF_MEMORY, "bce_dice: no host memory for %lld image sums",
                       (long long)rows);
    double bce_sum = 0.0, dice_sum = 0.0;
    for (int64_t r = 0; r < rows; r++) {
        double inter = 0.0, uni = 0.0;
        for (int64_t c = 0; c < cols; c++) {
            const int64_t i = r * cols + c;
            if (!ref_kept(a->mask, i))
                continue;
            const double x = sf_host_load(a->logits, i), y = sf_host_load(a->targets, i);
            const double p = ref_sigmoid(x);
            inter += p * y;
            uni += p + y;
            if (wb != 0.0) {
                double le, g;
                bce_element(x, y, eps, a->pos_weight ? sf_host_load(a->pos_weight, c) : 1.0, &le, &g);
                bce_sum += le;
            }
        }
        dice[2 * r] = (2.0 * inter + smooth) / (uni + smooth);
        dice[2 * r + 1] = 1.0 / (uni + smooth);
        dice_sum += 1.0 - dice[2 * r];
    }

    /* Second pass: the gradient, then the per-image outputs and the loss. */
    if (a->dlogits != NULL) {
        const double kd = wd / (double)rows;
        for (int64_t i = 0; i < n; i++) {
            const int64_t r = i / cols, c = i % cols;
            const double x = sf_host_load(a->logits, i), y = sf_host_load(a->targets, i);
            double g = 0.0;
            if (ref_kept(a->mask, i)) {
                if (wb != 0.0) {
                    double le, gb;
                    bce_element(x, y, eps, a->pos_weight ? sf_host_load(a->pos_weight, c) : 1.0, &le, &gb);
                    g += wb * gb * bce_scale;
                }
                if (wd != 0.0)
                    g -= kd * (2.0 * y - dice[2 * r]) * (ref_sigmoid(x) * ref_sigmoid(-x)) * dice[2 * r + 1];
                g *= scale;
            }
            sf_host_store(a->dlogits, i, g);
        }
    }
    if (a->dice != NULL)
        for (int64_t r = 0; r < rows; r++)
            sf_host_store(a->dice, r, dice[2 * r]);
    if (a->loss != NULL) {
        const double bce = a->reduction == SIGFUSE_REDUCTION_MEAN ? bce_sum / (double)count : bce_sum;
        double loss = 0.0;
        if (wb != 0.0)
            loss += wb * bce;
        if (wd != 0.0)
            loss += wd * (dice_sum / (double)rows);
        sf_host_store(a->loss, 0, loss);
    }
    free(dice);
    return SIGFUSE_SUCCESS;
}
