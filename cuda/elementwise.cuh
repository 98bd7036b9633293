/* SPDX-License-Identifier: MIT */
/*
 * The elementwise map skeleton of activation.cu and glu.cu: one grid-stride kernel over
 * n elements with 16-byte accesses, instantiated per op functor and dtype, and its
 * launcher, which runs a view's misaligned first elements on the scalar path.
 */
#ifndef SF_CUDA_ELEMENTWISE_CUH
#define SF_CUDA_ELEMENTWISE_CUH

#include <stdint.h>

#include "dtype.cuh"
#include "launch.cuh"
#include "sf_cuda.h"

/* An op is a functor with NIN inputs and NOUT outputs per element:
 *   struct { static constexpr int NIN, NOUT; float beta;
 *            __device__ void operator()(const float *in, float *out) const; } */
template <typename T> struct sf_ew_ptrs {
    const T *in[3];
    T *out[2];   /* an absent output is NULL and skipped */
};

/* Vectors a thread of a one-input op loads before it computes. The loop cannot overlap
 * one pass's loads with the last pass's stores (outputs may alias inputs, so the compiler
 * keeps their order), so the ops with one input, one 16-byte load in flight per thread,
 * fell further short of the copy rate than those with two or three (bench/NOTES.md has
 * the figures): 2 gives them two 16-byte loads in flight per thread too. The ops
 * with more inputs keep 1 (more would cost registers, hence resident threads). Build
 * with -DSF_EW_UNROLL=1 to compare. */
#ifndef SF_EW_UNROLL
#define SF_EW_UNROLL 2
#endif
/* The scalar path (pointers at different offsets from 16-byte alignment) loads one element
 * of each input a pass; 4 passes' loads at once keep as many bytes in flight per thread as
 * the 16-byte path of a 16-bit op has in one of its vectors' halves. */
#ifndef SF_EW_SCALAR_UNROLL
#define SF_EW_SCALAR_UNROLL 4
#endif

template <typename Op, typename T, int V, int U>
__global__ void __launch_bounds__(SF_BLOCK) sf_ew_kernel(Op op, int64_t n, sf_ew_ptrs<T> p)
{
    const int64_t nvec = n / V;
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    const int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    /* Thread t owns vectors t, t + stride, t + 2 stride, ... and takes U of them per pass:
     * all their loads first (kept in storage form: 16-bit inputs take half the registers
     * of floats), then each one's math and store. Every element is read and then written
     * by the same thread, so exact in-place stays safe. */
    for (int64_t iv0 = t; iv0 < nvec; iv0 += U * stride) {
        sf_vec<T, V> raw[U][Op::NIN];
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int64_t iv = iv0 + u * stride;
            if (iv < nvec)
#pragma unroll
                for (int a = 0; a < Op::NIN; a++)
                    raw[u][a] = *reinterpret_cast<const sf_vec<T, V> *>(p.in[a] + iv * V);
        }
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int64_t iv = iv0 + u * stride;
            if (iv >= nvec)
                break;
            float out[Op::NOUT][V];
#pragma unroll
            for (int k = 0; k < V; k++) {
                float xi[Op::NIN], yo[Op::NOUT];
#pragma unroll
                for (int a = 0; a < Op::NIN; a++)
                    xi[a] = sf_to_float(raw[u][a].v[k]);
                op(xi, yo);
#pragma unroll
                for (int o = 0; o < Op::NOUT; o++)
                    out[o][k] = yo[o];
            }
#pragma unroll
            for (int o = 0; o < Op::NOUT; o++)
                if (p.out[o])
                    sf_store<T, V>(p.out[o], iv * V, out[o]);
        }
    }
    if (V > 1) {   /* the n % V tail, one element per thread of the first block */
        const int64_t i = nvec * V + t;
        if (i < n) {
            float xi[Op::NIN], yo[Op::NOUT];
#pragma unroll
            for (int a = 0; a < Op::NIN; a++)
                xi[a] = sf_to_float(p.in[a][i]);
            op(xi, yo);
#pragma unroll
            for (int o = 0; o < Op::NOUT; o++)
                if (p.out[o])
                    p.out[o][i] = sf_from_float<T>(yo[o]);
        }
    }
}

/* The elements before the first 16-byte boundary when every pointer lies the same number
 * of bytes past one (a view at an element offset into aligned tensors: a slice, an odd
 * column), so that the rest can take the 16-byte path; -1 when the pointers disagree. */
template <typename T, int NIN, int NOUT> int64_t sf_common_head(const T *const *in, T *const *out)
{
    int misalign = -1;
    auto agree = [&](const void *ptr) {
        const int m = (int)((uintptr_t)ptr % 16);
        if (misalign < 0)
            misalign = m;
        return m == misalign;
    };
    for (int a = 0; a < NIN; a++)
        if (!agree(in[a]))
            return -1;
    for (int o = 0; o < NOUT; o++)
        if (out[o] && !agree(out[o]))
            return -1;
    return (int64_t)((16 - misalign) % 16) / (int64_t)sizeof(T);
}

/* Launch an elementwise op over n elements: the 16-byte path when every pointer is
 * 16-byte aligned; views that are all equally far from alignment run their first few
 * elements (fewer than a vector) on the scalar path and the rest on the 16-byte one;
 * the scalar path alone otherwise (pointers at different offsets). */
template <typename Op, typename T>
sigfuse_status sf_cuda_launch_ew(sigfuse_ctx *ctx, Op op, int64_t n, const sigfuse_buffer *const *in,
                                 const sigfuse_buffer *const *out)
{
    sf_cuda_state *s = sf_cuda_of(ctx);
    if (n <= 0)
        return SIGFUSE_SUCCESS;
    sf_ew_ptrs<T> p = {};
    for (int a = 0; a < Op::NIN; a++)
        p.in[a] = (const T *)sf_dptr(in[a]);
    for (int o = 0; o < Op::NOUT; o++)
        p.out[o] = (T *)sf_dptr(out[o]);
    constexpr int V = sf_vec_width<T>();
    constexpr int U = Op::NIN == 1 ? SF_EW_UNROLL : 1;
    const int64_t head = sf_common_head<T, Op::NIN, Op::NOUT>(p.in, p.out);
    const int64_t scalar_n = head < 0 ? n : (head < n ? head : n);
    if (scalar_n > 0) {   /* a few head elements, or all of a call whose pointers disagree */
        constexpr int US = SF_EW_SCALAR_UNROLL;
        unsigned grid = sf_grid_for<sf_ew_kernel<Op, T, 1, US>>(s, scalar_n);
        sf_ew_kernel<Op, T, 1, US><<<grid, SF_BLOCK, 0, s->stream>>>(op, scalar_n, p);
        SF_LAUNCH_CHECK(ctx, "elementwise kernel launch");
    }
    if (n > scalar_n) {   /* the aligned rest */
        sf_ew_ptrs<T> q = p;
        for (int a = 0; a < Op::NIN; a++)
            q.in[a] += scalar_n;
        for (int o = 0; o < Op::NOUT; o++)
            if (q.out[o])
                q.out[o] += scalar_n;
        unsigned grid = sf_grid_for<sf_ew_kernel<Op, T, V, U>>(s, (n - scalar_n) / V);
        sf_ew_kernel<Op, T, V, U><<<grid, SF_BLOCK, 0, s->stream>>>(op, n - scalar_n, q);
        SF_LAUNCH_CHECK(ctx, "elementwise kernel launch");
    }
    return SIGFUSE_SUCCESS;
}

#endif /* SF_CUDA_ELEMENTWISE_CUH */
