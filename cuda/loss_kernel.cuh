/* SPDX-License-Identifier: MIT */
/*
 * The kernel of the fused logistic-loss pass shared by bce.cu, focal.cu and asymmetric.cu: its
 * parameters, the option sets that get a kernel of their own (enum sf_loss_feature,
 * which bench/sass.py reads), the loads it widens in place, and the kernel itself. Its
 * launchers are in loss_launch.cuh.
 */
#ifndef SF_CUDA_LOSS_KERNEL_CUH
#define SF_CUDA_LOSS_KERNEL_CUH

#include <stdint.h>

#include "dtype.cuh"
#include "reduce.cuh"
#include "sf_cuda.h"
#include "sf_math.h"

/* One pass over logits and targets gives any subset of: the loss (per element, or
 * per-block partials of its sum), the gradient times the upstream gradient, sigma(x),
 * and labels. Per-element math comes from an Op:
 *   template <bool Loss, bool Smooth, bool PosWeight, bool Hard>
 *   __device__ void apply(float x, float y, float w, float p, float *loss, float *grad,
 *                         float *sig) const;
 *   template <bool Smooth>
 *   __device__ void limits(float x, float y, float w, float p, float *loss, float *grad) const;
 *   static constexpr bool grad_needs_limits, hard_split;
 *   __device__ void prepare();   (once per thread, before the loop: values of the options)
 * with w (element weight) and p (pos_weight of the column) 1 where absent, sig the
 * sigma(x) its terms already hold (read only for the probabilities and labels), Loss
 * whether the loss is wanted, Smooth whether label smoothing applies, PosWeight whether
 * p may differ from 1, and Hard whether the target is 0 or 1 (u8 targets; float targets
 * of a vector that are all 0 or 1, for an Op with hard_split). apply forms the loss with
 * fast forms, exact wherever that loss is finite; limits gives the exact loss and
 * gradient where it is not (an infinite or NaN input, a 0 * inf limit) and, for an Op
 * with grad_needs_limits and soft targets, where the gradient is NaN. The kernel tests a
 * vector's V elements at once and takes limits only for a vector that needs them: one
 * test and a branch not taken per vector on finite inputs, instead of per element. */
struct sf_loss_params {
    int64_t n;
    int64_t cols;
    int64_t col0;              /* column of element 0 (a launch over the rest of a tensor) */
    int64_t col_step;          /* (threads in the grid * V) % cols: column advance per pass */
    const void *logits;
    const void *targets;       /* T or u8 */
    const uint8_t *mask;       /* u8, [n], 0: ignored (loss 0, gradient 0) */
    const void *weight;        /* T, [n] */
    const void *pos_weight;    /* T, [cols] */
    const void *dloss_elem;    /* T, [n] (reduction NONE) */
    const float *dloss_scalar; /* f32, [1] (SUM / MEAN) */
    void *loss_elem;           /* T, [n] (NONE) */
    double *loss_partials;     /* [gridDim.x] (SUM / MEAN) */
    void *dlogits;             /* T */
    void *probs;               /* T */
    void *labels;              /* T or u8 */
    int labels_u8;
    int smooth;                /* label smoothing > 0 */
    float grad_scale;
    double mean_count;         /* rows * cols for MEAN, 1 otherwise */
    const unsigned long long *mean_count_dev; /* MEAN with a mask: the kept count, counted on
                                                 the device before the kernel (else NULL) */
    float threshold;
};

/* What a loss kernel does, fixed at compile time so that its common path is straight-line
 * code: the instructions bench/sass.py counts are the ones each element issues. The option
 * sets that training and evaluation use get a kernel of their own (sf_loss_features_of);
 * every other set runs SF_LF_GENERIC, which tests each option at run time. A specialised
 * kernel with SF_LF_POS_WEIGHT reads pos_weight as one vector per vector of elements, so
 * the launcher picks it only where that is possible (sf_loss_pos_weight_vectors). */
enum sf_loss_feature : unsigned {
    SF_LF_WEIGHT = 1u,        /* element weight [n] */
    SF_LF_POS_WEIGHT = 2u,    /* pos_weight [cols] */
    SF_LF_UPSTREAM = 4u,      /* dloss_in per element (NONE) */
    SF_LF_LOSS_ELEM = 8u,     /* loss per element (NONE) */
    SF_LF_LOSS_SUM = 16u,     /* per-block partials of the loss (SUM / MEAN) */
    SF_LF_GRAD = 32u,         /* dlogits */
    SF_LF_PROBS = 64u,        /* sigma(x) */
    SF_LF_LABELS = 128u,      /* thresholded labels */
    SF_LF_LABELS_U8 = 256u,   /* ... stored as u8 */
    SF_LF_SMOOTH = 512u,      /* label smoothing > 0 */
    SF_LF_MASK = 1024u,       /* u8 mask [n]: ignored elements */
    SF_LF_GENERIC = 32768u,   /* all of the above decided at run time */
};

/* The feature bits of a call. */
inline unsigned sf_loss_features_of(const sf_loss_params &p)
{
    return (p.weight ? SF_LF_WEIGHT : 0u) | (p.pos_weight ? SF_LF_POS_WEIGHT : 0u) |
           (p.dloss_elem ? SF_LF_UPSTREAM : 0u) | (p.loss_elem ? SF_LF_LOSS_ELEM : 0u) |
           (p.loss_partials ? SF_LF_LOSS_SUM : 0u) | (p.dlogits ? SF_LF_GRAD : 0u) | (p.probs ? SF_LF_PROBS : 0u) |
           (p.labels ? SF_LF_LABELS : 0u) | (p.labels && p.labels_u8 ? SF_LF_LABELS_U8 : 0u) |
           (p.smooth ? SF_LF_SMOOTH : 0u) | (p.mask ? SF_LF_MASK : 0u);
}

template <bool B> struct sf_bool {
    static constexpr bool value = B;
};

/* V values of T from element i as floats. bf16 is the top half of an f32, so a pair in a
 * 32-bit word widens with one instruction each (w << 16, w & 0xffff0000) where the
 * conversion of the upper half took two (a byte permute, then the shift). */
template <typename T> constexpr bool sf_is_bf16 = false;
template <> constexpr bool sf_is_bf16<__nv_bfloat16> = true;

template <typename T, int V>
__device__ __forceinline__ void sf_loss_load(const T *p, int64_t i, float (&out)[V])
{
    if constexpr (sf_is_bf16<T> && V % 2 == 0) {
        const sf_vec<uint32_t, V / 2> raw = *reinterpret_cast<const sf_vec<uint32_t, V / 2> *>(p + i);
#pragma unroll
        for (int k = 0; k < V; k += 2) {
            out[k] = __uint_as_float(raw.v[k / 2] << 16);
            out[k + 1] = __uint_as_float(raw.v[k / 2] & 0xffff0000u);
        }
    } else {
        sf_load<T, V>(p, i, out);
    }
}

/* V values of an optional per-element input from element i, 1 where it is absent (has). */
template <typename T, int V>
__device__ __forceinline__ void sf_loss_load_or_one(bool has, const T *p, int64_t i, float (&out)[V])
{
    if (has)
        sf_loss_load<T, V>(p, i, out);
    else
#pragma unroll
        for (int k = 0; k < V; k++)
            out[k] = 1.0f;
}

/* V targets from element i as floats. u8 targets (hard labels: 0, or 1 for any other
 * byte) are read as 32-bit words and each byte is tested in its place, one instruction
 * that leaves the predicate y != 0 the ops select with, instead of extracting each byte
 * first. */
template <typename TY, int V>
__device__ __forceinline__ void sf_loss_load_targets(const TY *p, int64_t i, float (&y)[V])
{
    if constexpr (sizeof(TY) == 1 && V % 4 == 0) {
        const sf_vec<uint32_t, V / 4> raw = *reinterpret_cast<const sf_vec<uint32_t, V / 4> *>(p + i);
#pragma unroll
        for (int k = 0; k < V; k++)
            y[k] = (raw.v[k / 4] & (0xffu << (8 * (k % 4)))) != 0u ? 1.0f : 0.0f;
    } else {
        sf_loss_load<TY, V>(p, i, y);
    }
}

/* V mask bytes from element i, each tested in its place (as sf_loss_load_targets does),
 * true where the element is kept. */
template <int V>
__device__ __forceinline__ void sf_loss_load_mask(const uint8_t *p, int64_t i, bool (&kept)[V])
{
    if constexpr (V % 4 == 0) {
        const sf_vec<uint32_t, V / 4> raw = *reinterpret_cast<const sf_vec<uint32_t, V / 4> *>(p + i);
#pragma unroll
        for (int k = 0; k < V; k++)
            kept[k] = (raw.v[k / 4] & (0xffu << (8 * (k % 4)))) != 0u;
    } else {
#pragma unroll
        for (int k = 0; k < V; k++)
            kept[k] = p[i + k] != 0;
    }
}

/* An element's limits (Op::limits), called, not inlined: the limits sit in a branch that
 * finite inputs never take, but inlined into the loop their registers counted against the
 * whole loop (and fewer blocks fit an SM); a call keeps them out of the hot path. */
template <typename Op, bool Smooth>
__device__ __noinline__ float2 sf_loss_limits_call(const Op &op, float x, float y, float w, float pw)
{
    float2 r;
    op.template limits<Smooth>(x, y, w, pw, &r.x, &r.y);
    return r;
}

template <typename Op, typename T, typename TY, int V, unsigned F>
__global__ void __launch_bounds__(SF_BLOCK) sf_loss_kernel(Op op, sf_loss_params p)
{
    constexpr bool generic = (F & SF_LF_GENERIC) != 0;
    /* Each option: a constant in a specialised kernel, a test of p in the generic one. */
    const bool has_w = generic ? p.weight != nullptr : (F & SF_LF_WEIGHT) != 0;
    const bool has_pw = generic ? p.pos_weight != nullptr : (F & SF_LF_POS_WEIGHT) != 0;
    const bool has_up = generic ? p.dloss_elem != nullptr : (F & SF_LF_UPSTREAM) != 0;
    const bool loss_elem = generic ? p.loss_elem != nullptr : (F & SF_LF_LOSS_ELEM) != 0;
    const bool loss_sum = generic ? p.loss_partials != nullptr : (F & SF_LF_LOSS_SUM) != 0;
    const bool grad = generic ? p.dlogits != nullptr : (F & SF_LF_GRAD) != 0;
    const bool probs = generic ? p.probs != nullptr : (F & SF_LF_PROBS) != 0;
    const bool labels = generic ? p.labels != nullptr : (F & SF_LF_LABELS) != 0;
    const bool labels_u8 = generic ? p.labels_u8 != 0 : (F & SF_LF_LABELS_U8) != 0;
    const bool has_mask = generic ? p.mask != nullptr : (F & SF_LF_MASK) != 0;
    const bool want_loss = loss_elem || loss_sum;
    /* A NaN gradient sends a vector to the limits only where the Op's can be NaN with a
     * finite loss and the gradient is wanted: a test of what is not stored would keep its
     * arithmetic on the common path (the loss alone of BCE kept its gradient). */
    const bool test_grad = Op::grad_needs_limits && grad;

    op.prepare();
    __shared__ double warp_sums[32];
    const T *x_ptr = (const T *)p.logits;
    const TY *y_ptr = (const TY *)p.targets;
    const T *w_ptr = (const T *)p.weight;
    const T *pw_ptr = (const T *)p.pos_weight;
    const T *up_ptr = (const T *)p.dloss_elem;
    T *le_ptr = (T *)p.loss_elem;
    T *dl_ptr = (T *)p.dlogits;
    T *pr_ptr = (T *)p.probs;

    /* The scalar upstream gradient folds into one factor, in double like the reference:
     * grad_scale * dloss_in / (rows * cols for MEAN). */
    float scale = p.grad_scale;
    if (grad) {
        double sc = (double)p.grad_scale;
        if (p.dloss_scalar)
            sc *= (double)*p.dloss_scalar;
        /* MEAN with a mask divides by the kept count (all ignored: inf, never applied). */
        const double count = has_mask && p.mean_count_dev ? (double)*p.mean_count_dev : p.mean_count;
        scale = (float)(sc / count);
    }
    /* The limits of one element, where its fast forms gave a loss that is not finite. */
    auto exact = [&](float x, float y, float w, float pw, float *lo, float *g) {
        const float2 r = sf_loss_limits_call<Op, generic || (F & SF_LF_SMOOTH) != 0>(op, x, y, w, pw);
        *lo = r.x;
        *g = r.y;
    };
    /* One element's math, with the options the kernel has; hard: its target is 0 or 1. */
    auto element = [&](auto hard, float x, float y, float w, float pw, float *lo, float *g, float *sig) {
        constexpr bool h = decltype(hard)::value;
        if (generic) {
            if (want_loss && has_pw)
                op.template apply<true, true, true, h>(x, y, w, pw, lo, g, sig);
            else if (want_loss)
                op.template apply<true, true, false, h>(x, y, w, pw, lo, g, sig);
            else
                op.template apply<false, true, true, h>(x, y, w, pw, lo, g, sig);
        } else {
            op.template apply<((F & (SF_LF_LOSS_ELEM | SF_LF_LOSS_SUM)) != 0), ((F & SF_LF_SMOOTH) != 0),
                              ((F & SF_LF_POS_WEIGHT) != 0), h>(x, y, w, pw, lo, g, sig);
        }
    };
    /* u8 targets are hard; float targets are, a vector at a time, for an Op with a form of
     * its own for them (Op::hard_split). */
    constexpr bool u8_targets = sizeof(TY) == 1;
    constexpr bool split = Op::hard_split && !u8_targets;

    double acc = 0.0;
    const int64_t nvec = p.n / V;
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    const int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    int64_t col = has_pw && t < nvec ? (p.col0 + t * V) % p.cols : 0;
    /* The specialised kernels walk the column in 32 bits (sf_loss_pos_weight_vectors): an
     * add, a compare and a select a pass instead of their 64-bit pairs. */
    uint32_t col32 = (uint32_t)col;
    const uint32_t step32 = (uint32_t)p.col_step, cols32 = (uint32_t)p.cols;

    for (int64_t iv = t; iv < nvec; iv += stride) {
        const int64_t i0 = iv * V;
        float x[V], y[V], w[V], pw[V], up[V];
        bool kept[V];
        sf_loss_load<T, V>(x_ptr, i0, x);
        sf_loss_load_targets<TY, V>(y_ptr, i0, y);
        if (has_mask)
            sf_loss_load_mask<V>(p.mask, i0, kept);
        sf_loss_load_or_one<T, V>(has_w, w_ptr, i0, w);
        sf_loss_load_or_one<T, V>(has_up, up_ptr, i0, up);
        if (has_pw) {
            if (generic) {   /* any cols: element by element, wrapping at the row's end */
                int64_t c = col;
#pragma unroll
                for (int k = 0; k < V; k++) {
                    pw[k] = sf_to_float(pw_ptr[c]);
                    if (++c == p.cols)
                        c = 0;
                }
                col += p.col_step;
                if (col >= p.cols)
                    col -= p.cols;
            } else {   /* the vector of columns col .. col + V - 1, all in the row */
                sf_loss_load<T, V>(pw_ptr, col32, pw);
                col32 += step32;
                if (col32 >= cols32)
                    col32 -= cols32;
            }
        } else {
#pragma unroll
            for (int k = 0; k < V; k++)
                pw[k] = 1.0f;
        }
        float lo[V], g[V], sig[V], lab[V];
        float vec_loss = 0.0f;   /* this vector's V losses in f32, then one double add:
                                    a conversion and a double add per vector, not per element */
        /* The vector's math (hard: every target 0 or 1), then the limits where needed. */
        auto vector = [&](auto hard) {
            constexpr bool h = decltype(hard)::value;
            const bool tests_grad = test_grad && !h;   /* hard forms: a NaN gradient has a loss that is not finite */
            float vec_grad = 0.0f;
#pragma unroll
            for (int k = 0; k < V; k++) {
                element(hard, x[k], y[k], w[k], pw[k], &lo[k], &g[k], &sig[k]);
                if (has_mask) {   /* selects: an ignored NaN or inf input leaks into nothing */
                    lo[k] = kept[k] ? lo[k] : 0.0f;
                    g[k] = kept[k] ? g[k] : 0.0f;
                }
                vec_loss += lo[k];
                if (tests_grad)
                    vec_grad += g[k];
            }
            /* rare: an infinite or NaN input, 0 * inf. The gradient alone (no loss: lo is 0)
             * is tested where the Op's can be NaN (tests_grad), a vector at a time. */
            if ((want_loss || tests_grad) && !sf_finite(tests_grad ? vec_loss + vec_grad : vec_loss)) {
                vec_loss = 0.0f;
#pragma unroll
                for (int k = 0; k < V; k++) {
                    if (!sf_finite(tests_grad ? lo[k] + g[k] : lo[k]))
                        exact(x[k], y[k], w[k], pw[k], &lo[k], &g[k]);
                    vec_loss += lo[k];
                }
            }
        };
        if (split) {
            /* y (y - 1) is exactly 0 just for y = 0 and 1 (the fma rounds once; never -0), so
             * the OR of its bits over the vector is 0 just when every target is hard. Tested
             * as a float, like the other rare paths. */
            unsigned soft_bits = 0u;
#pragma unroll
            for (int k = 0; k < V; k++)
                soft_bits |= __float_as_uint(fmaf(y[k], y[k], -y[k]));
            if (__uint_as_float(soft_bits) == 0.0f)
                vector(sf_bool<true>{});
            else
                vector(sf_bool<false>{});
        } else {
            vector(sf_bool<u8_targets>{});
        }
#pragma unroll
        for (int k = 0; k < V; k++) {
            g[k] = has_up ? g[k] * (scale * up[k]) : g[k] * scale;
            if (has_mask)   /* again after the scale: dloss_in may be NaN where ignored */
                g[k] = kept[k] ? g[k] : 0.0f;
        }
        if (loss_sum)
            acc += (double)vec_loss;
        if (labels)
#pragma unroll
            for (int k = 0; k < V; k++)
                lab[k] = sig[k] > p.threshold ? 1.0f : 0.0f;
        if (loss_elem)
            sf_store<T, V>(le_ptr, i0, lo);
        if (grad)
            sf_store<T, V>(dl_ptr, i0, g);
        if (probs)
            sf_store<T, V>(pr_ptr, i0, sig);
        if (labels) {
            if (labels_u8)
                sf_store<uint8_t, V>((uint8_t *)p.labels, i0, lab);
            else
                sf_store<T, V>((T *)p.labels, i0, lab);
        }
    }
    if (V > 1) {   /* the n % V tail */
        const int64_t i = nvec * V + t;
        if (i < p.n) {
            const float x = sf_to_float(x_ptr[i]);
            const float y = sf_to_float(y_ptr[i]);
            const float w = has_w ? sf_to_float(w_ptr[i]) : 1.0f;
            const float pw = has_pw ? sf_to_float(pw_ptr[(p.col0 + i) % p.cols]) : 1.0f;
            const float up = has_up ? sf_to_float(up_ptr[i]) : 1.0f;
            const bool kept = !has_mask || p.mask[i] != 0;
            float lo, g, pr;
            element(sf_bool<u8_targets>{}, x, y, w, pw, &lo, &g, &pr);   /* float targets: the soft form */
            lo = kept ? lo : 0.0f;
            g = kept ? g : 0.0f;
            if ((want_loss || (test_grad && !u8_targets)) && !sf_finite(test_grad && !u8_targets ? lo + g : lo))
                exact(x, y, w, pw, &lo, &g);
            if (loss_sum)
                acc += (double)lo;
            if (loss_elem)
                le_ptr[i] = sf_from_float<T>(lo);
            if (grad)
                dl_ptr[i] = sf_from_float<T>(kept ? g * (scale * up) : 0.0f);
            if (probs)
                pr_ptr[i] = sf_from_float<T>(pr);
            if (labels)
                sf_store_label<T>(p.labels, labels_u8, i, pr, p.threshold);
        }
    }
    if (loss_sum) {
        double total = sf_block_sum(acc, warp_sums);
        if (threadIdx.x == 0)
            p.loss_partials[blockIdx.x] = total;
    }
}

#endif /* SF_CUDA_LOSS_KERNEL_CUH */
