/* SPDX-License-Identifier: MIT */
/*
 * CPU reference of sigfuse_sigmoid_focal (torchvision's sigmoid_focal_loss): the
 * definition every device backend is checked against. It computes in double, one
 * element at a time, and rounds once when it stores.
 *
 * Element (r, c), x = logits, y = targets:
 *   p = ref_sigmoid(x);  q = 1 - p_t = y ref_sigmoid(-x) + (1 - y) ref_sigmoid(x)  (no cancellation)
 *   CE = (1 - y) ref_softplus(x) + y ref_softplus(-x)   (a zero coefficient times inf is 0)
 *   alpha_t = alpha y + (1 - alpha)(1 - y), or 1 when alpha < 0
 *   loss_e = alpha_t q^gamma CE                  (pow(0, 0) = 1)
 *   grad_e = alpha_t q^gamma [(p - y) - gamma ratio (2y - 1) CE],
 *            with p - y computed as (1 - y) ref_sigmoid(x) - y ref_sigmoid(-x)
 *   ratio = ref_sigmoid(x) ref_sigmoid(-x) / q when q > 0, else 1 (its limit for hard labels)
 * The gradient follows from dCE/dx = p - y and d(q^gamma)/dx = -gamma q^(gamma-1)
 * p (1 - p)(2y - 1): factoring q^gamma out leaves p(1-p)/q <= 1, which stays finite
 * for any gamma >= 0 where q^(gamma-1) alone would overflow. ratio * CE is 0 when ratio
 * is 0 (x = +-inf, where CE is inf). NaN anywhere propagates.
 * Upstream gradient, reductions and the loss dtype are as for BCE (ref/bce.c):
 * dlogits = grad_e * grad_scale * dloss_in (element for NONE, scalar for SUM / MEAN)
 * / (rows * cols for MEAN); SUM is the double row-major sum, MEAN that sum / (rows *
 * cols) (NaN for no elements); the reduced loss is not scaled by grad_scale. The mask as
 * for BCE: loss and gradient 0 where it is 0, MEAN over the elements kept.
 */
#include <math.h>

#include "ref_loss.h"
#include "ref_math.h"
#include "sf_internal.h"

sigfuse_status sf_ref_sigmoid_focal(sigfuse_ctx *ctx, const sigfuse_focal_args *a)
{
    (void)ctx;
    const int64_t n = a->rows * a->cols;
    const double alpha = a->alpha;
    const double gamma = a->gamma;
    const int64_t count = ref_loss_count(a->mask, n);
    const double scale = ref_loss_scale(a->reduction, a->grad_scale, a->dloss_in, count);

    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        /* All inputs of element i are loaded before its outputs are stored, so an output
         * may share memory with an input of its own dtype. */
        const double x = sf_host_load(a->logits, i);
        const double y = sf_host_load(a->targets, i);
        const double up = ref_loss_upstream(a->reduction, a->dloss_in, i);
        const bool kept = ref_kept(a->mask, i);
        const double p = ref_sigmoid(x);
        const double pn = ref_sigmoid(-x);   /* 1 - p without cancellation */
        const double q = y * pn + (1.0 - y) * p;
        const double ce = ref_mul_limit(1.0 - y, ref_softplus(x)) + ref_mul_limit(y, ref_softplus(-x));
        const double alpha_t = alpha < 0.0 ? 1.0 : alpha * y + (1.0 - alpha) * (1.0 - y);
        const double mod = pow(q, gamma);

        if (a->loss != NULL)
            ref_loss_put(a->reduction, a->loss, i, kept ? ref_mul_limit(alpha_t, ref_mul_limit(mod, ce)) : 0.0, &sum);
        if (a->dlogits != NULL) {
            /* q == 0 needs a hard label at a saturated logit (y = 1, p = 1 or y = 0,
             * p = 0); there p(1-p)/q tends to 1. Elsewhere p(1-p) <= min(p, 1-p) <= q
             * for y in [0, 1], so the quotient cannot overflow. */
            double ratio = q == 0.0 ? 1.0 : (p * pn) / q;
            /* p - y as (1 - y) p - y (1 - p): for y = 1 at a large logit, p - 1 would
             * round to 0 where the true value is -e^-x. */
            double d = (1.0 - y) * p - y * pn;
            double inner = d - gamma * ref_mul_limit(ratio, ce) * (2.0 * y - 1.0);
            double g = alpha_t * mod * inner;
            sf_host_store(a->dlogits, i, kept ? g * (scale * up) : 0.0);
        }
    }

    ref_loss_finish(a->reduction, a->loss, count, sum);
    return SIGFUSE_SUCCESS;
}
