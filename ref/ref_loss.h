/* SPDX-License-Identifier: MIT */
/*
 * What the reference losses (ref/bce.c, ref/focal.c) share around their per-element
 * math: the upstream-gradient scale, and the reduction of the loss.
 *   dlogits_e = grad_e * (scale * upstream_e), where scale = grad_scale * dloss_in (its
 *   single element for SUM / MEAN; 1 when absent), divided by n for MEAN, and upstream_e
 *   = dloss_in[e] for NONE (1 when absent or reduced).
 *   loss: NONE stores loss_e at e; SUM is the double sum of loss_e in element order (0 for
 *   no elements), MEAN that sum / n (NaN for no elements), stored as the one element.
 *   With a mask, n is the number of elements kept (nonzero mask bytes), and an ignored
 *   element has loss 0 and gradient 0 whatever its inputs hold.
 */
#ifndef SF_REF_LOSS_H
#define SF_REF_LOSS_H

#include "sf_internal.h"

/* Whether element i counts: there is no mask, or its byte is nonzero. */
static inline bool ref_kept(const sigfuse_buffer *mask, int64_t i)
{
    return mask == NULL || sf_host_load(mask, i) != 0.0;
}

/* What MEAN divides by: n, or the number of elements the mask keeps. */
static inline int64_t ref_loss_count(const sigfuse_buffer *mask, int64_t n)
{
    if (mask == NULL)
        return n;
    int64_t kept = 0;
    for (int64_t i = 0; i < n; i++)
        kept += ref_kept(mask, i);
    return kept;
}

/* The scale common to every element. Called before any output is written, so that
 * nothing the loop stores (an output may alias dloss_in) can change it. */
static inline double ref_loss_scale(sigfuse_reduction reduction, float grad_scale, const sigfuse_buffer *dloss_in,
                                    int64_t n)
{
    double scale = grad_scale;
    if (reduction != SIGFUSE_REDUCTION_NONE && dloss_in != NULL)
        scale *= sf_host_load(dloss_in, 0);
    if (reduction == SIGFUSE_REDUCTION_MEAN)
        scale /= (double)n;
    return scale;
}

/* Element i's own upstream gradient: dloss_in[i] for NONE, else 1. */
static inline double ref_loss_upstream(sigfuse_reduction reduction, const sigfuse_buffer *dloss_in, int64_t i)
{
    return (reduction == SIGFUSE_REDUCTION_NONE && dloss_in != NULL) ? sf_host_load(dloss_in, i) : 1.0;
}

/* Element i's loss: stored at i for NONE, added to *sum otherwise. */
static inline void ref_loss_put(sigfuse_reduction reduction, const sigfuse_buffer *loss, int64_t i, double le,
                                double *sum)
{
    if (reduction != SIGFUSE_REDUCTION_NONE)
        *sum += le;
    else
        sf_host_store(loss, i, le);
}

/* The reduced loss, after the loop: written even with no elements (SUM 0, MEAN 0/0 =
 * NaN), since the reduced loss has its one element then too. Nothing for NONE. */
static inline void ref_loss_finish(sigfuse_reduction reduction, const sigfuse_buffer *loss, int64_t n, double sum)
{
    if (reduction != SIGFUSE_REDUCTION_NONE && loss != NULL)
        sf_host_store(loss, 0, reduction == SIGFUSE_REDUCTION_MEAN ? sum / (double)n : sum);
}

#endif
