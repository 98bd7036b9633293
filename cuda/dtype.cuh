/* SPDX-License-Identifier: MIT */
/*
 * Storage dtypes of the CUDA backend: the storage type of a sigfuse_dtype (the dispatch
 * every op's entry goes through), the conversions to and from f32 of a kernel's loads
 * and stores, and aligned vectors of V elements moved as one access.
 */
#ifndef SF_CUDA_DTYPE_CUH
#define SF_CUDA_DTYPE_CUH

#include <stdint.h>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "sf_cuda.h"

/* Call f(T{}) with T the storage type of a float dtype. */
template <typename F>
sigfuse_status sf_cuda_dispatch(sigfuse_ctx *ctx, const char *op, sigfuse_dtype dtype, F &&f)
{
    switch (dtype) {
    case SIGFUSE_F32: return f(float());
    case SIGFUSE_F16: return f(__half());
    case SIGFUSE_BF16: return f(__nv_bfloat16());
    case SIGFUSE_F64:
        return sf_fail(ctx, SIGFUSE_ERR_UNSUPPORTED,
                       "%s: dtype f64 is supported by the cpu reference backend only, not cuda", op);
    default: break;
    }
    return sf_fail(ctx, SIGFUSE_ERR_INVALID_DTYPE, "%s: dtype %s is not a float dtype the cuda backend stores",
                   op, sigfuse_dtype_name(dtype));
}

/* Call f(T{}, TY{}) with T the storage type of a float dtype and TY that of targets, which
 * are u8 (hard labels) or of the logits' dtype. */
template <typename F>
sigfuse_status sf_cuda_dispatch_targets(sigfuse_ctx *ctx, const char *op, sigfuse_dtype dtype, sigfuse_dtype targets,
                                        F &&f)
{
    return sf_cuda_dispatch(ctx, op, dtype, [&](auto tag) {
        if (targets == SIGFUSE_U8)
            return f(tag, uint8_t());
        return f(tag, tag);
    });
}

__device__ __forceinline__ float sf_to_float(float v) { return v; }
__device__ __forceinline__ float sf_to_float(__half v) { return __half2float(v); }
__device__ __forceinline__ float sf_to_float(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float sf_to_float(uint8_t v) { return v ? 1.0f : 0.0f; }

/* Round to nearest even on store; overflow goes to infinity, NaN stays NaN. */
template <typename T> __device__ __forceinline__ T sf_from_float(float v);
template <> __device__ __forceinline__ float sf_from_float<float>(float v) { return v; }
template <> __device__ __forceinline__ __half sf_from_float<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 sf_from_float<__nv_bfloat16>(float v)
{
    return __float2bfloat16_rn(v);
}
template <> __device__ __forceinline__ uint8_t sf_from_float<uint8_t>(float v) { return v != 0.0f ? 1 : 0; }

/* V elements moved as one aligned access (16 bytes when V * sizeof(T) == 16). */
template <typename T, int V> struct alignas(sizeof(T) * V) sf_vec {
    T v[V];
};

template <typename T, int V>
__device__ __forceinline__ void sf_load(const T *p, int64_t i, float (&out)[V])
{
    sf_vec<T, V> t = *reinterpret_cast<const sf_vec<T, V> *>(p + i);
#pragma unroll
    for (int k = 0; k < V; k++)
        out[k] = sf_to_float(t.v[k]);
}

template <typename T, int V>
__device__ __forceinline__ void sf_store(T *p, int64_t i, const float (&in)[V])
{
    sf_vec<T, V> t;
#pragma unroll
    for (int k = 0; k < V; k++)
        t.v[k] = sf_from_float<T>(in[k]);
    *reinterpret_cast<sf_vec<T, V> *>(p + i) = t;
}

/* Label element i: 1 where sigma > threshold, else 0, in a labels buffer of u8 or of T. */
template <typename T>
__device__ __forceinline__ void sf_store_label(void *labels, bool u8, int64_t i, float sig, float threshold)
{
    const float lab = sig > threshold ? 1.0f : 0.0f;
    if (u8)
        ((uint8_t *)labels)[i] = sf_from_float<uint8_t>(lab);
    else
        ((T *)labels)[i] = sf_from_float<T>(lab);
}

/* Elements of T per 16-byte access. */
template <typename T> constexpr int sf_vec_width() { return (int)(16 / sizeof(T)); }

#endif /* SF_CUDA_DTYPE_CUH */
