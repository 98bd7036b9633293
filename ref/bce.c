/* SPDX-License-Identifier: MIT */
/*
 * CPU reference of sigfuse_bce_with_logits: the definition every device backend is
 * checked against. It computes in double, one element at a time, and rounds once when
 * it stores.
 *
 * Element (r, c), x = logits, y = targets, eps = label_smoothing:
 *   y' = y (1 - eps) + eps / 2;  p = pos_weight[c] (1 if absent);  w = weight (1 if absent)
 *   loss_e = w [(1 - y') ref_softplus(x) + p y' ref_softplus(-x)]
 *   grad_e = w [(1 - y') ref_sigmoid(x) - p y' ref_sigmoid(-x)]
 * A zero coefficient times an infinite softplus is 0 (the exact limit: x = +inf with
 * y' = 1 gives loss 0, and w = 0 gives 0), while NaN anywhere propagates. x = -inf with
 * y' = 1 gives loss +inf (PyTorch: NaN) and gradient -p w.
 * Upstream gradient: scale = grad_scale * dloss_in (the element dloss_in[r, c] for NONE,
 * its single element for SUM / MEAN; 1 when absent), divided by rows * cols for MEAN;
 * dlogits = grad_e * scale.
 * loss: NONE: loss[r, c] = loss_e in the logits' dtype. SUM: one element, the double sum
 * of loss_e in row-major order (0 for no elements); MEAN: that sum / (rows * cols), NaN
 * for no elements. The reduced loss is f32 (f64 for f64 logits); grad_scale does not
 * scale it.
 * probs = ref_sigmoid(x); labels = 1 where ref_sigmoid(x) > threshold, else 0 (NaN gives 0).
 * mask: an ignored element's loss and gradient are 0 and MEAN divides by the elements kept
 * (ref_loss.h); its probs and labels are written as for any other.
 */
#include <math.h>

#include "ref_loss.h"
#include "ref_math.h"
#include "sf_internal.h"

sigfuse_status sf_ref_bce_with_logits(sigfuse_ctx *ctx, const sigfuse_bce_args *a)
{
    (void)ctx;
    const int64_t cols = a->cols;
    const int64_t n = a->rows * a->cols;
    const double eps = a->label_smoothing;
    const double threshold = a->threshold;
    const int64_t count = ref_loss_count(a->mask, n);
    const double scale = ref_loss_scale(a->reduction, a->grad_scale, a->dloss_in, count);

    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        /* Every input of element i is loaded before any output of it is stored, so an
         * output may share memory with an input of its own dtype. */
        const double x = sf_host_load(a->logits, i);
        const double y = sf_host_load(a->targets, i);
        const double w = a->weight != NULL ? sf_host_load(a->weight, i) : 1.0;
        const double p = a->pos_weight != NULL ? sf_host_load(a->pos_weight, i % cols) : 1.0;
        const double up = ref_loss_upstream(a->reduction, a->dloss_in, i);
        const bool kept = ref_kept(a->mask, i);
        const double ys = y * (1.0 - eps) + 0.5 * eps;
        const double neg = 1.0 - ys;   /* coefficient of ref_softplus(x) */
        const double pos = p * ys;     /* coefficient of ref_softplus(-x) */
        const double s = ref_sigmoid(x);
        const double sn = ref_sigmoid(-x);

        if (a->loss != NULL) {
            double le = ref_mul_limit(w, ref_mul_limit(neg, ref_softplus(x)) + ref_mul_limit(pos, ref_softplus(-x)));
            if (!kept)
                le = 0.0;
            ref_loss_put(a->reduction, a->loss, i, le, &sum);
        }
        if (a->dlogits != NULL) {
            /* Both sigmoids are bounded: with finite weights no 0 * inf can arise here. */
            double g = w * (neg * s - pos * sn);
            sf_host_store(a->dlogits, i, kept ? g * (scale * up) : 0.0);
        }
        if (a->probs != NULL)
            sf_host_store(a->probs, i, s);
        if (a->labels != NULL)
            sf_host_store(a->labels, i, s > threshold ? 1.0 : 0.0);
    }

    ref_loss_finish(a->reduction, a->loss, count, sum);
    return SIGFUSE_SUCCESS;
}
