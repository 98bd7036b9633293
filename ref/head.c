/* SPDX-License-Identifier: MIT */
/*
 * CPU reference of the multi-label head: predict, and the fused BCE-with-logits train
 * step. Everything is computed in double, but for the one rounding that defines a 16-bit
 * head: its logits' dot products are rounded to the storage dtype (logit()). The train
 * step walks rows in chunks like the device backends do, but every sum (loss, dW, dbias,
 * and each dX element) runs in row order, then label order, then feature order, so the
 * result is bitwise the same for any chunk size the workspace allows: the chunking is
 * checked, not just imitated.
 */
#include <math.h>
#include <stdint.h>

#include "ref_math.h"
#include "sf_internal.h"

/* coef * ref_softplus(...), where a zero coefficient cancels an infinite softplus: the loss
 * takes its limit at infinite logits instead of IEEE's 0 * inf = NaN. NaN still
 * propagates, through either factor. */
static double weighted(double coef, double sp)
{
    if (coef == 0.0 && isinf(sp))
        return 0.0;
    return coef * sp;
}

/* Z[i, j] = X[i, :] . W[j, :] + b[j]. For f16 / bf16 heads (head = the op's dtype) the dot
 * product is rounded to that dtype first, as a 16-bit Linear without bias returns it (f32
 * accumulation, one rounding of the result; include/sigfuse.h), and the bias is added to
 * that value without a second rounding. f32 and f64 keep the dot product as it is. */
double sf_ref_head_logit(const sigfuse_buffer *x, const sigfuse_buffer *w, const sigfuse_buffer *bias, int64_t d,
                         int64_t i, int64_t j, sigfuse_dtype head)
{
    double s = 0.0;
    for (int64_t k = 0; k < d; k++)
        s += sf_host_load(x, i * d + k) * sf_host_load(w, j * d + k);
    if (head == SIGFUSE_F16 || head == SIGFUSE_BF16)
        s = sf_round_to_dtype(s, head);
    if (bias)
        s += sf_host_load(bias, j);
    return s;
}

size_t sf_ref_head_predict_workspace(sigfuse_ctx *ctx, const sigfuse_head_predict_args *a,
                                     int64_t chunk_rows)
{
    (void)ctx;
    (void)a;
    (void)chunk_rows;
    return 0;   /* each logit is consumed as soon as it is computed */
}

sigfuse_status sf_ref_head_predict(sigfuse_ctx *ctx, const sigfuse_head_predict_args *a)
{
    return sf_ref_head_predict_as(ctx, a, a->x->dtype);
}

sigfuse_status sf_ref_head_predict_as(sigfuse_ctx *ctx, const sigfuse_head_predict_args *a, sigfuse_dtype head)
{
    (void)ctx;
    const double threshold = a->threshold;
    for (int64_t i = 0; i < a->n; i++) {
        for (int64_t j = 0; j < a->l; j++) {
            const double z = sf_ref_head_logit(a->x, a->w, a->bias, a->d, i, j, head);
            const double p = ref_sigmoid(z);
            const int64_t e = i * a->l + j;
            if (a->logits)
                sf_host_store(a->logits, e, z);
            if (a->probs)
                sf_host_store(a->probs, e, p);
            if (a->labels)
                sf_host_store(a->labels, e, p > threshold ? 1.0 : 0.0);
        }
    }
    return SIGFUSE_SUCCESS;
}

/* Byte counts saturate at SIZE_MAX rather than wrap, so an impossible request can never
 * look satisfiable. */
static size_t sat_mul(size_t a, size_t b)
{
    if (a != 0 && b > SIZE_MAX / a)
        return SIZE_MAX;
    return a * b;
}

static size_t sat_add(size_t a, size_t b)
{
    return b > SIZE_MAX - a ? SIZE_MAX : a + b;
}

/* Doubles that do not depend on the chunk: the dW (L x D), dbias (L) and loss (1)
 * accumulators. They live in the workspace so that nothing is allocated per call. */
static size_t accumulator_doubles(int64_t d, int64_t l)
{
    return sat_add(sat_add(sat_mul((size_t)l, (size_t)d), (size_t)l), 1);
}

size_t sf_ref_head_train_step_workspace(sigfuse_ctx *ctx, const sigfuse_head_train_args *a,
                                   int64_t chunk_rows)
{
    (void)ctx;
    const size_t rows = chunk_rows > 0 ? (size_t)chunk_rows : 0;
    const size_t doubles = sat_add(sat_mul(rows, (size_t)a->l), accumulator_doubles(a->d, a->l));
    return sat_mul(doubles, sizeof(double));
}

sigfuse_status sf_ref_head_train_step(sigfuse_ctx *ctx, const sigfuse_head_train_args *a)
{
    return sf_ref_head_train_step_as(ctx, a, a->x->dtype);
}

sigfuse_status sf_ref_head_train_step_as(sigfuse_ctx *ctx, const sigfuse_head_train_args *a, sigfuse_dtype head)
{
    const int64_t n = a->n, d = a->d, l = a->l;
    const size_t fixed = accumulator_doubles(d, l);
    const int64_t total = a->total_labels > 0 ? a->total_labels : l;
    char why[256];
    if (a->pos_offsets && sf_csr_error(a->pos_offsets, a->pos_labels, n, a->nnz, total, why, sizeof why))
        return sf_fail(ctx, SIGFUSE_ERR_INVALID_ARGUMENT, "head_train_step: %s", why);
    /* Even one row's chunk must fit; the api layer checks this, but the reference
     * should not be the thing that overruns a buffer if a caller skips that layer. */
    const size_t minimum = sat_add(fixed, n > 0 ? (size_t)l : 0);
    const size_t have = a->workspace ? a->workspace_bytes / sizeof(double) : 0;
    if (have < minimum)
        return sf_fail(ctx, SIGFUSE_ERR_INSUFFICIENT_WORKSPACE,
                       "head_train_step: workspace of %zu bytes, the cpu reference needs at "
                       "least %zu",
                       a->workspace ? a->workspace_bytes : (size_t)0,
                       sat_mul(minimum, sizeof(double)));

    /* The workspace is caller memory of any dtype; the reference uses it as doubles, and
     * reading doubles through a misaligned pointer is undefined behaviour in C. */
    char *base = (char *)a->workspace->ptr + a->workspace->offset;
    if ((uintptr_t)base % sizeof(double) != 0)
        return sf_fail(ctx, SIGFUSE_ERR_INVALID_ARGUMENT,
                       "head_train_step: workspace address %p (ptr + offset) is not aligned to "
                       "%zu bytes, as the cpu reference needs",
                       (void *)base, sizeof(double));

    /* The largest chunk the workspace holds, so that more scratch means fewer passes. */
    int64_t chunk = 0;
    if (n > 0) {
        chunk = n;
        if (l > 0) {
            const size_t fit = (have - fixed) / (size_t)l;
            if (fit < (size_t)n)
                chunk = (int64_t)fit;
        }
    }

    double *g = (double *)(void *)base;   /* [chunk, L]: Z, then G, in place */
    double *dw_acc = g + (size_t)chunk * (size_t)l;
    double *db_acc = dw_acc + (size_t)l * (size_t)d;
    double *loss_acc = db_acc + l;
    for (int64_t e = 0; e < l * d; e++)
        dw_acc[e] = 0.0;
    for (int64_t j = 0; j < l; j++)
        db_acc[j] = 0.0;
    *loss_acc = 0.0;

    const bool mean = a->reduction == SIGFUSE_REDUCTION_MEAN;
    const double count = (double)n * (double)total;   /* the whole label space's */
    /* count > 0 whenever a gradient element exists, so the division is always defined
     * where it is used. */
    const double scale = mean && count > 0.0 ? (double)a->grad_scale / count
                                             : (double)a->grad_scale;

    /* Rows have work only with labels, or a dX of D > 0 columns to fill: with l = 0 and
     * d = 0 a walk over a huge n does nothing for a very long time. */
    const bool rows_have_work = l > 0 || (a->dx && d > 0);
    for (int64_t r0 = 0; rows_have_work && r0 < n; r0 += chunk) {
        const int64_t rows = n - r0 < chunk ? n - r0 : chunk;

        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < l; j++)
                g[i * l + j] = sf_ref_head_logit(a->x, a->w, a->bias, d, r0 + i, j, head);

        for (int64_t i = 0; i < rows; i++) {
            /* Sparse positives: the row's ids ascend, so one walk along them meets this
             * shard's labels in order. */
            int64_t next = 0, end = 0;
            if (a->pos_offsets) {
                next = (int64_t)sf_host_load(a->pos_offsets, r0 + i);
                end = (int64_t)sf_host_load(a->pos_offsets, r0 + i + 1);
            }
            for (int64_t j = 0; j < l; j++) {
                const double z = g[i * l + j];
                double y;
                if (a->pos_offsets) {
                    const int64_t id = a->label_offset + j;
                    while (next < end && (int64_t)sf_host_load(a->pos_labels, next) < id)
                        next++;
                    y = next < end && (int64_t)sf_host_load(a->pos_labels, next) == id ? 1.0 : 0.0;
                } else {
                    y = sf_host_load(a->targets, (r0 + i) * l + j);
                }
                const double p = a->pos_weight ? sf_host_load(a->pos_weight, j) : 1.0;
                *loss_acc += weighted(1.0 - y, ref_softplus(z)) + weighted(p * y, ref_softplus(-z));
                const double grad = (1.0 - y) * ref_sigmoid(z) - p * y * ref_sigmoid(-z);
                g[i * l + j] = grad * scale;
            }
        }

        /* dX last: its rows go straight to caller memory, so every read of this chunk's
         * X rows is done before any dX row is written (harmless even if dx aliased x). */
        if (a->dw)
            for (int64_t i = 0; i < rows; i++)
                for (int64_t j = 0; j < l; j++) {
                    const double gij = g[i * l + j];
                    for (int64_t k = 0; k < d; k++)
                        dw_acc[j * d + k] += gij * sf_host_load(a->x, (r0 + i) * d + k);
                }
        if (a->dbias)
            for (int64_t i = 0; i < rows; i++)
                for (int64_t j = 0; j < l; j++)
                    db_acc[j] += g[i * l + j];
        if (a->dx)
            for (int64_t i = 0; i < rows; i++)
                for (int64_t k = 0; k < d; k++) {
                    double s = 0.0;
                    for (int64_t j = 0; j < l; j++)
                        s += g[i * l + j] * sf_host_load(a->w, j * d + k);
                    sf_host_store(a->dx, (r0 + i) * d + k, s);
                }
    }

    if (a->dw)
        for (int64_t e = 0; e < l * d; e++)
            sf_host_store(a->dw, e, dw_acc[e]);
    if (a->dbias)
        for (int64_t j = 0; j < l; j++)
            sf_host_store(a->dbias, j, db_acc[j]);
    if (a->loss) {
        double loss = *loss_acc;
        if (mean)
            loss = count > 0.0 ? loss / count : NAN;
        sf_host_store(a->loss, 0, loss);
    }
    return SIGFUSE_SUCCESS;
}
