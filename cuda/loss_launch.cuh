/* SPDX-License-Identifier: MIT */
/*
 * Launching the fused logistic-loss pass (loss_kernel.cuh) for bce.cu, focal.cu and
 * asymmetric.cu: the kernel of a call's option set, a view at an element offset split into
 * a scalar head and a vector rest, the kept count of a masked MEAN, and the fixed-order
 * final sum of a reduced loss.
 */
#ifndef SF_CUDA_LOSS_LAUNCH_CUH
#define SF_CUDA_LOSS_LAUNCH_CUH

#include <stdint.h>

#include "dtype.cuh"
#include "launch.cuh"
#include "loss_kernel.cuh"
#include "reduce.cuh"
#include "sf_cuda.h"

/* Launches the element kernel of feature set F over p.n > 0 elements; a reduced loss
 * leaves one partial per block at p.loss_partials, at most max_blocks of them. *blocks:
 * the blocks launched. */
template <typename Op, typename T, typename TY, int V, unsigned F>
sigfuse_status sf_cuda_loss_launch_f(sigfuse_ctx *ctx, Op op, sf_loss_params p, int64_t max_blocks,
                                     unsigned *blocks)
{
    sf_cuda_state *s = sf_cuda_of(ctx);
    unsigned grid = sf_grid_for<sf_loss_kernel<Op, T, TY, V, F>>(s, p.n / V);
    if ((int64_t)grid > max_blocks)
        grid = (unsigned)max_blocks;
    const int64_t threads = (int64_t)grid * SF_BLOCK;
    p.col_step = p.cols > 0 ? (int64_t)((threads * V) % p.cols) : 0;
    sf_loss_kernel<Op, T, TY, V, F><<<grid, SF_BLOCK, 0, s->stream>>>(op, p);
    SF_LAUNCH_CHECK(ctx, "loss kernel launch");
    *blocks = grid;
    return SIGFUSE_SUCCESS;
}

/* The vector kernels: one of the option sets Fs (each with a kernel of its own) where the
 * call's features equal it, else the generic one. */
template <typename Op, typename T, typename TY, unsigned... Fs> struct sf_loss_specialised {
    static sigfuse_status launch(sigfuse_ctx *ctx, unsigned features, Op op, const sf_loss_params &p,
                                 int64_t max_blocks, unsigned *blocks)
    {
        constexpr int V = sf_vec_width<T>();
        sigfuse_status st = SIGFUSE_SUCCESS;
        /* The first Fs equal to features launches its kernel; none: the generic one. */
        const bool hit = ((features == Fs &&
                           (st = sf_cuda_loss_launch_f<Op, T, TY, V, Fs>(ctx, op, p, max_blocks, blocks), true)) ||
                          ...);
        return hit ? st : sf_cuda_loss_launch_f<Op, T, TY, V, SF_LF_GENERIC>(ctx, op, p, max_blocks, blocks);
    }
};

/* p without its first k elements: every per-element pointer moved on, the column of the
 * new element 0 updated (pos_weight itself is per column and stays). */
template <typename T, typename TY> sf_loss_params sf_loss_advance(sf_loss_params p, int64_t k)
{
    auto skip = [k](const void *ptr, size_t size) -> const void * {
        return ptr ? (const char *)ptr + k * (int64_t)size : nullptr;
    };
    p.n -= k;
    p.col0 = p.cols > 0 ? (p.col0 + k) % p.cols : 0;
    p.logits = skip(p.logits, sizeof(T));
    p.targets = skip(p.targets, sizeof(TY));
    p.mask = (const uint8_t *)skip(p.mask, 1);
    p.weight = skip(p.weight, sizeof(T));
    p.dloss_elem = skip(p.dloss_elem, sizeof(T));
    p.loss_elem = (void *)skip(p.loss_elem, sizeof(T));
    p.dlogits = (void *)skip(p.dlogits, sizeof(T));
    p.probs = (void *)skip(p.probs, sizeof(T));
    p.labels = (void *)skip(p.labels, p.labels_u8 ? 1 : sizeof(T));
    return p;
}

/* Every per-element pointer aligned for the vector kernel's accesses of V elements. */
template <typename T, typename TY, int V> bool sf_loss_vectors_fit(const sf_loss_params &p)
{
    bool vec = sf_aligned(p.logits, 16) && sf_aligned(p.targets, V * sizeof(TY));
    vec = vec && (p.mask == nullptr || sf_aligned(p.mask, V));
    const void *vec16[] = {p.weight, p.dloss_elem, p.loss_elem, p.dlogits, p.probs};
    for (const void *q : vec16)
        vec = vec && (q == nullptr || sf_aligned(q, 16));
    if (p.labels)
        vec = vec && sf_aligned(p.labels, p.labels_u8 ? (size_t)V : 16);
    return vec;
}

/* The elements before every pointer is aligned for the vector kernel (fewer than V: a view
 * at an element offset into aligned tensors, such as a slice), so that the rest can take
 * it; -1 when no such count exists (pointers at different offsets). */
template <typename T, typename TY, int V> int64_t sf_loss_head(const sf_loss_params &p)
{
    const uintptr_t a = (uintptr_t)p.logits;
    if (a % sizeof(T) != 0)
        return -1;
    const int64_t head = (int64_t)((16 - a % 16) % 16 / sizeof(T));
    return sf_loss_vectors_fit<T, TY, V>(sf_loss_advance<T, TY>(p, head)) ? head : -1;
}

/* pos_weight read a vector at a time: every vector of elements starts at a column that is
 * a multiple of V and ends in the same row (cols % V == 0, col0 % V == 0), at a 16-byte
 * boundary of pos_weight; the column walked in 32 bits (cols < 2^31, so col + col_step
 * cannot wrap). */
template <typename T, int V> bool sf_loss_pos_weight_vectors(const sf_loss_params &p)
{
    return p.cols % V == 0 && p.col0 % V == 0 && p.cols <= INT32_MAX && sf_aligned(p.pos_weight, 16);
}

/* The fields of a call's sf_loss_params that every logistic loss's args (sigfuse_bce_args,
 * sigfuse_focal_args, sigfuse_asymmetric_args) give the same way: the [rows, cols] logits,
 * targets and mask, dloss_in and
 * the loss per element (NONE) or as scalars (SUM, MEAN), dlogits, grad_scale and the
 * mean's count; the loss's own options are the caller's to set, the rest stay 0. */
template <typename Args> sf_loss_params sf_loss_params_of(const Args *a)
{
    const bool reduced = a->reduction != SIGFUSE_REDUCTION_NONE;
    sf_loss_params p = {};
    p.n = a->rows * a->cols;
    p.cols = a->cols;
    p.logits = sf_dptr(a->logits);
    p.targets = sf_dptr(a->targets);
    p.mask = (const uint8_t *)sf_dptr(a->mask);
    p.dloss_elem = reduced ? nullptr : sf_dptr(a->dloss_in);
    p.dloss_scalar = reduced ? (const float *)sf_dptr(a->dloss_in) : nullptr;
    p.loss_elem = reduced ? nullptr : sf_dptr(a->loss);
    p.dlogits = sf_dptr(a->dlogits);
    p.grad_scale = a->grad_scale;
    p.mean_count = a->reduction == SIGFUSE_REDUCTION_MEAN ? (double)p.n : 1.0;
    return p;
}

/* The f32 scalar a reduced loss (SUM, MEAN) is written to; NULL for NONE (per element). */
template <typename Args> float *sf_loss_scalar_of(const Args *a)
{
    return a->reduction != SIGFUSE_REDUCTION_NONE ? (float *)sf_dptr(a->loss) : nullptr;
}

/* The fused pass for a [rows, cols] loss: a view at an element offset runs its first few
 * elements (fewer than a vector) through the scalar kernel and the rest through a vector
 * kernel (Specialised's, or the generic one); pointers at different offsets take the
 * scalar kernel throughout. A reduced loss then sums both launches' partials, the scalar
 * one's first, in one fixed-order final pass. MEAN with a mask first counts the kept
 * elements into the last double of the scratch (an integer, so any order gives the same
 * count), which the kernels' gradient scale and the final pass read on the device. */
template <typename Op, typename T, typename TY, typename Specialised>
sigfuse_status sf_cuda_loss_launch(sigfuse_ctx *ctx, Op op, sf_loss_params p, sigfuse_reduction reduction,
                                   float *loss_scalar)
{
    constexpr int V = sf_vec_width<T>();
    sf_cuda_state *s = sf_cuda_of(ctx);
    double *scratch = loss_scalar != nullptr ? s->scratch : nullptr;
    unsigned long long *kept = sf_cuda_kept_slot(s);
    const int64_t max_blocks = (int64_t)s->scratch_doubles - 1;   /* the last one: kept */
    int64_t partials = 0;
    const bool counted = p.mask != nullptr && reduction == SIGFUSE_REDUCTION_MEAN;
    if (counted) {
        SF_TRY(sf_cuda_mask_count(ctx, p.mask, p.n, kept));
        p.mean_count_dev = kept;
    }
    if (p.n > 0) {
        const int64_t head = sf_loss_head<T, TY, V>(p);
        const int64_t scalar_n = head < 0 || head > p.n ? p.n : head;
        if (scalar_n > 0) {
            sf_loss_params q = p;
            q.n = scalar_n;
            q.loss_partials = scratch;
            unsigned blocks = 0;
            SF_TRY((sf_cuda_loss_launch_f<Op, T, TY, 1, SF_LF_GENERIC>(ctx, op, q, max_blocks, &blocks)));
            partials = blocks;
        }
        if (p.n > scalar_n) {
            sf_loss_params q = sf_loss_advance<T, TY>(p, scalar_n);
            q.loss_partials = scratch ? scratch + partials : nullptr;
            unsigned features = sf_loss_features_of(q);
            if ((features & SF_LF_POS_WEIGHT) && !sf_loss_pos_weight_vectors<T, V>(q))
                features |= SF_LF_GENERIC;   /* no specialised kernel: the generic one */
            unsigned blocks = 0;
            SF_TRY(Specialised::launch(ctx, features, op, q, max_blocks - partials, &blocks));
            partials += blocks;
        }
    }
    if (loss_scalar != nullptr)
        return sf_cuda_finish_loss_kept(ctx, s->scratch, partials, reduction, p.mean_count,
                                        counted ? kept : nullptr, loss_scalar);
    return SIGFUSE_SUCCESS;
}

#endif /* SF_CUDA_LOSS_LAUNCH_CUH */
