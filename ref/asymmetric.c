/* SPDX-License-Identifier: MIT */
/*
 * CPU reference of sigfuse_asymmetric (ASL, Ridnik et al. 2021): the definition every
 * device backend is checked against. It computes in double, one element at a time, and
 * rounds once when it stores.
 *
 * Element (r, c), x = logits, y = targets, m = margin:
 *   p = ref_sigmoid(x), 1 - p = ref_sigmoid(-x), -log p = ref_softplus(-x)
 *   positive part:  L+ = (1 - p)^g+ softplus(-x)
 *                   dL+/dx = -(1 - p)^g+ [g+ p softplus(-x) + (1 - p)]
 *   negative part:  p_m = max(p - m, 0), L = -log(1 - p_m) (softplus(x) when m = 0,
 *                   else -log1p(-p_m)), L- = p_m^g- L
 *                   dL-/dx = p_m^g- p (1 - p) [g- L / p_m + 1 / (1 - p_m)] where p > m
 *                   (L / p_m -> 1 as p_m -> 0), 0 where p <= m
 *   loss_e = y L+ + (1 - y) L-,  grad_e = y dL+/dx + (1 - y) dL-/dx
 * A zero coefficient times an infinite part is 0; p softplus(-x) and (1 - p) softplus(x)
 * are 0 at the logit where the softplus is infinite (their limits), so the gradient is
 * finite everywhere; pow(0, 0) = 1. NaN anywhere propagates.
 * Upstream gradient, reductions, the loss dtype and the mask are as for the focal loss
 * (ref/focal.c, ref_loss.h).
 */
#include <math.h>

#include "ref_loss.h"
#include "ref_math.h"
#include "sf_internal.h"

/* a * b where b is bounded wherever a is finite: 0 where a is infinite and b is 0 (the
 * limit of p softplus(-x) at x = -inf, of (1 - p) softplus(x) at x = +inf). */
static double bounded_product(double a, double b)
{
    return (isinf(a) && b == 0.0) ? 0.0 : a * b;
}

sigfuse_status sf_ref_asymmetric(sigfuse_ctx *ctx, const sigfuse_asymmetric_args *a)
{
    (void)ctx;
    const int64_t n = a->rows * a->cols;
    const double gpos = a->gamma_pos, gneg = a->gamma_neg, m = a->margin;
    const int64_t count = ref_loss_count(a->mask, n);
    const double scale = ref_loss_scale(a->reduction, a->grad_scale, a->dloss_in, count);

    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        /* All inputs of element i are loaded before its outputs are stored (in place). */
        const double x = sf_host_load(a->logits, i);
        const double y = sf_host_load(a->targets, i);
        const double up = ref_loss_upstream(a->reduction, a->dloss_in, i);
        const bool kept = ref_kept(a->mask, i);
        const double p = ref_sigmoid(x), pn = ref_sigmoid(-x);
        const double spn = ref_softplus(-x);

        const double qp = pow(pn, gpos);
        const double lpos = ref_mul_limit(qp, spn);
        const double dpos = -qp * (gpos * bounded_product(spn, p) + pn);

        double lneg, dneg;
        if (m == 0.0) {
            const double sp = ref_softplus(x);
            const double qn = pow(p, gneg);
            lneg = ref_mul_limit(qn, sp);
            dneg = qn * (gneg * bounded_product(sp, pn) + p);
        } else {
            const double d = p - m;
            const double pm = d < 0.0 ? 0.0 : d;   /* NaN stays NaN */
            const double l = -log1p(-pm);
            const double qn = pow(pm, gneg);
            const double ratio = pm > 0.0 ? l / pm : 1.0;
            lneg = qn * l;
            dneg = d > 0.0 ? qn * (p * pn) * (gneg * ratio + 1.0 / (1.0 - pm)) : (isnan(d) ? d : 0.0);
        }

        if (a->loss != NULL) {
            const double le = ref_mul_limit(y, lpos) + ref_mul_limit(1.0 - y, lneg);
            ref_loss_put(a->reduction, a->loss, i, kept ? le : 0.0, &sum);
        }
        if (a->dlogits != NULL) {
            const double g = y * dpos + (1.0 - y) * dneg;
            sf_host_store(a->dlogits, i, kept ? g * (scale * up) : 0.0);
        }
    }

    ref_loss_finish(a->reduction, a->loss, count, sum);
    return SIGFUSE_SUCCESS;
}
