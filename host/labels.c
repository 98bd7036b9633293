/* SPDX-License-Identifier: MIT */
/*
 * Label ids, on the host: the check of a head's CSR positives (every backend runs it, the
 * devices on host copies, so that each gives the same message), the order head_topk and
 * topk_merge rank by, and precision@k / recall@k of top-k lists.
 */
#include <math.h>
#include <stdio.h>

#include "sf_internal.h"

bool sf_csr_error(const sigfuse_buffer *offsets, const sigfuse_buffer *labels, int64_t n, int64_t nnz,
                  int64_t total_labels, char *msg, size_t size)
{
    int64_t prev_end = 0;
    const double first = sf_host_load(offsets, 0);
    if (first != 0.0) {
        snprintf(msg, size, "pos_offsets[0] = %.0f; it must be 0", first);
        return true;
    }
    for (int64_t i = 0; i < n; i++) {
        const int64_t end = (int64_t)sf_host_load(offsets, i + 1);
        if (end < prev_end || end > nnz) {
            snprintf(msg, size, "pos_offsets[%lld] = %lld %s", (long long)(i + 1), (long long)end,
                     end < prev_end ? "is below the offset before it" : "is past nnz");
            return true;
        }
        int64_t last = -1;
        for (int64_t j = prev_end; j < end; j++) {
            const int64_t id = (int64_t)sf_host_load(labels, j);
            if (id < 0 || id >= total_labels) {
                snprintf(msg, size, "pos_labels[%lld] = %lld (row %lld) is outside [0, total_labels = %lld)",
                         (long long)j, (long long)id, (long long)i, (long long)total_labels);
                return true;
            }
            if (id <= last) {
                snprintf(msg, size, "pos_labels[%lld] = %lld (row %lld) does not increase on %lld", (long long)j,
                         (long long)id, (long long)i, (long long)last);
                return true;
            }
            last = id;
        }
        prev_end = end;
    }
    if (prev_end != nnz) {
        snprintf(msg, size, "pos_offsets[%lld] = %lld; it must be nnz = %lld", (long long)n, (long long)prev_end,
                 (long long)nnz);
        return true;
    }
    return false;
}

/* Larger logits first, NaN after every number, then the smaller id; pads (id -1) last. */
bool sf_topk_before(double a, int64_t ia, double b, int64_t ib)
{
    if ((ia < 0) != (ib < 0))
        return ib < 0;
    if (isnan(a) != isnan(b))
        return isnan(b);
    if (!isnan(a) && a != b)
        return a > b;
    return ia < ib;
}

uint32_t sf_bit_length(uint64_t v)
{
    uint32_t b = 0;
    while (v) {
        b++;
        v >>= 1;
    }
    return b;
}

sigfuse_status sigfuse_topk_metrics(int64_t n, int64_t k, const int64_t *top_labels, const int64_t *pos_offsets,
                                    const int64_t *pos_labels, double *precision_at_k, double *recall_at_k)
{
    if (n < 0 || k < 1)
        return SIGFUSE_ERR_INVALID_SIZE;
    if ((n > 0 && (!top_labels || !pos_offsets)) || !precision_at_k || !recall_at_k)
        return SIGFUSE_ERR_NULL_ARGUMENT;
    if (n > 0 && pos_offsets[n] > pos_offsets[0] && !pos_labels)
        return SIGFUSE_ERR_NULL_ARGUMENT;
    double precision = 0.0, recall = 0.0;
    int64_t rows_with_positives = 0;
    for (int64_t i = 0; i < n; i++) {
        const int64_t lo = pos_offsets[i], hi = pos_offsets[i + 1];
        if (hi < lo)
            return SIGFUSE_ERR_INVALID_SIZE;
        int64_t hits = 0;
        for (int64_t t = 0; t < k; t++) {
            const int64_t id = top_labels[i * k + t];
            for (int64_t j = lo; id >= 0 && j < hi; j++)
                if (pos_labels[j] == id) {
                    hits++;
                    break;
                }
        }
        precision += (double)hits / (double)k;
        if (hi > lo) {
            recall += (double)hits / (double)(hi - lo);
            rows_with_positives++;
        }
    }
    *precision_at_k = n > 0 ? precision / (double)n : NAN;
    *recall_at_k = rows_with_positives > 0 ? recall / (double)rows_with_positives : NAN;
    return SIGFUSE_SUCCESS;
}
