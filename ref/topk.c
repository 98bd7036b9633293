/* SPDX-License-Identifier: MIT */
/*
 * CPU reference of head_topk and topk_merge: the definition the device backends are
 * checked against. A row's candidates are ranked by sf_topk_before (larger logit first,
 * NaN after every number, then the smaller id; pads last) and the best k kept by
 * insertion. head_topk ranks the logit as the head would store it: Z of
 * sf_ref_head_logit rounded once to the logits' dtype (f32 too), so that an f32 device,
 * whose logits are f32 values, is ranked on the same values up to its own rounding.
 */
#include <math.h>
#include <stdlib.h>

#include "ref_math.h"
#include "sf_internal.h"

typedef struct entry {
    double logit;
    int64_t id;
} entry;

/* Insert (logit, id) into the sorted best[0 .. *count) of at most k entries. */
static void keep_best(entry *best, int64_t k, int64_t *count, double logit, int64_t id)
{
    int64_t at = *count < k ? *count : k;
    if (at == k && !sf_topk_before(logit, id, best[k - 1].logit, best[k - 1].id))
        return;
    if (at == k)
        at = k - 1;
    while (at > 0 && sf_topk_before(logit, id, best[at - 1].logit, best[at - 1].id)) {
        best[at] = best[at - 1];
        at--;
    }
    best[at] = (entry){logit, id};
    if (*count < k)
        (*count)++;
}

/* Row i's k entries into the outputs, pads (id -1, logit -inf, probability 0) after the
 * count found. */
static void store_row(const entry *best, int64_t count, int64_t k, int64_t i, const sigfuse_buffer *labels,
                      const sigfuse_buffer *logits, const sigfuse_buffer *probs)
{
    for (int64_t t = 0; t < k; t++) {
        const bool real = t < count;
        const int64_t e = i * k + t;
        sf_host_store(labels, e, real ? (double)best[t].id : -1.0);
        if (logits)
            sf_host_store(logits, e, real ? best[t].logit : -INFINITY);
        if (probs)
            sf_host_store(probs, e, real ? ref_sigmoid(best[t].logit) : 0.0);
    }
}

size_t sf_ref_head_topk_workspace(sigfuse_ctx *ctx, const sigfuse_head_topk_args *a, int64_t chunk_rows)
{
    (void)ctx, (void)a, (void)chunk_rows;
    return 0;   /* each logit is ranked as soon as it is computed */
}

sigfuse_status sf_ref_head_topk(sigfuse_ctx *ctx, const sigfuse_head_topk_args *a)
{
    const sigfuse_dtype dt = a->x->dtype;
    entry *best = malloc((size_t)(a->k > 0 ? a->k : 1) * sizeof *best);
    if (!best)
        return sf_fail(ctx, SIGFUSE_ERR_OUT_OF_MEMORY, "head_topk: no host memory for k = %lld entries",
                       (long long)a->k);
    /* No features and no bias: every logit is 0, so the first k ids win (equal logits by
     * id), whatever L is (an L of 2^40 labels would otherwise be walked row by row). */
    const int64_t walk = a->d == 0 && !a->bias && a->l > a->k ? a->k : a->l;
    for (int64_t i = 0; i < a->n; i++) {
        int64_t count = 0;
        for (int64_t j = 0; j < walk; j++) {
            const double z = sf_round_to_dtype(sf_ref_head_logit(a->x, a->w, a->bias, a->d, i, j, dt), dt);
            keep_best(best, a->k, &count, z, a->label_offset + j);
        }
        store_row(best, count, a->k, i, a->top_labels, a->top_logits, a->top_probs);
    }
    free(best);
    return SIGFUSE_SUCCESS;
}

sigfuse_status sf_ref_topk_merge(sigfuse_ctx *ctx, const sigfuse_topk_merge_args *a)
{
    entry *best = malloc((size_t)(a->k > 0 ? a->k : 1) * sizeof *best);
    if (!best)
        return sf_fail(ctx, SIGFUSE_ERR_OUT_OF_MEMORY, "topk_merge: no host memory for k = %lld entries",
                       (long long)a->k);
    const int64_t block = a->n * a->k;
    for (int64_t i = 0; i < a->n; i++) {
        int64_t count = 0;
        for (int64_t s = 0; s < a->shards; s++)
            for (int64_t t = 0; t < a->k; t++) {
                const int64_t e = s * block + i * a->k + t;
                const int64_t id = (int64_t)sf_host_load(a->in_labels, e);
                if (id >= 0)   /* a shard's pads stay pads */
                    keep_best(best, a->k, &count, sf_host_load(a->in_logits, e), id);
            }
        store_row(best, count, a->k, i, a->top_labels, a->top_logits, a->top_probs);
    }
    free(best);
    return SIGFUSE_SUCCESS;
}
