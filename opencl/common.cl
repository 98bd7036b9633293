/* SPDX-License-Identifier: MIT */
/*
 * Prepended to every sigfuse OpenCL program (after kernels/sf_math.h): loads and stores
 * of the program's storage dtype (SF_DTYPE, set with -D when the program is built),
 * u8 targets and labels, the fixed-tree work-group sum, and the two finishing kernels of
 * the deterministic reductions. Finishing moves 4 bytes per partial (a few KiB a call).
 */

#ifndef SF_DTYPE
#error "SF_DTYPE must be defined (1 f32, 2 f16, 3 bf16) when the program is built"
#endif

/* Storage: f32 as float; f16 through vload_half / vstore_half_rte, which OpenCL 1.2
 * provides without cl_khr_fp16 (half may only be pointed at, never computed with); bf16
 * as the top 16 bits of an f32, rounded to nearest even by hand on store.
 * sf_round_storage(v): v rounded to the storage dtype, as a float. */
#if SF_DTYPE == 1
#define SF_T float
SF_FN float sf_ld(global const float *p, ulong i) { return p[i]; }
SF_FN void sf_st(global float *p, ulong i, float v) { p[i] = v; }
SF_FN float sf_round_storage(float v) { return v; }
#elif SF_DTYPE == 2
#define SF_T half
SF_FN float sf_ld(global const half *p, ulong i) { return vload_half(0, p + i); }
SF_FN void sf_st(global half *p, ulong i, float v) { vstore_half_rte(v, 0, p + i); }
SF_FN float sf_round_storage(float v)
{
    ushort h;
    vstore_half_rte(v, 0, (private half *)&h);
    return vload_half(0, (private const half *)&h);
}
#elif SF_DTYPE == 3
#define SF_T ushort
SF_FN float sf_ld(global const ushort *p, ulong i) { return as_float((uint)p[i] << 16); }
/* The bf16 nearest v, ties to even. */
SF_FN ushort sf_bf16_bits(float v)
{
    uint u = as_uint(v);
    /* Truncation could clear every mantissa bit left and make an infinity; set the quiet
     * bit instead. */
    if (isnan(v))
        return (ushort)((u >> 16) | 0x0040u);
    /* Adding 0x7fff plus the lowest kept bit rounds to nearest, ties to even, and carries
     * into the exponent (up to infinity) exactly as a hardware rounding would. */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (ushort)(u >> 16);
}
SF_FN void sf_st(global ushort *p, ulong i, float v) { p[i] = sf_bf16_bits(v); }
SF_FN float sf_round_storage(float v) { return as_float((uint)sf_bf16_bits(v) << 16); }
#else
#error "SF_DTYPE must be 1 (f32), 2 (f16) or 3 (bf16)"
#endif

/* A buffer argument arrives as its cl_mem (NULL when absent) plus an element offset;
 * sub-buffers would need CL_DEVICE_MEM_BASE_ADDR_ALIGN-aligned offsets, which callers'
 * byte offsets do not have. */
#define SF_AT(base, off) ((base) ? (base) + (off) : 0)

/* Targets (float dtype or u8: any non-zero byte is 1) and labels (u8 or float dtype);
 * both arrive as uchar pointers with a flag, so that one kernel serves both forms. */
SF_FN float sf_ld_target(global const uchar *p, int is_u8, ulong i)
{
    return is_u8 ? (p[i] != 0 ? 1.0f : 0.0f) : sf_ld((global const SF_T *)p, i);
}

SF_FN void sf_st_label(global uchar *p, int is_u8, ulong i, float v)
{
    if (is_u8)
        p[i] = v != 0.0f ? 1 : 0;
    else
        sf_st((global SF_T *)p, i, v);
}

/* The element offset of a target or label buffer is in its own elements: 1 byte for
 * u8, the dtype's size otherwise. */
SF_FN global const uchar *sf_target_at(global const uchar *base, int is_u8, ulong off)
{
    if (!base)
        return 0;
    return is_u8 ? base + off : (global const uchar *)((global const SF_T *)base + off);
}

SF_FN global uchar *sf_label_at(global uchar *base, int is_u8, ulong off)
{
    if (!base)
        return 0;
    return is_u8 ? base + off : (global uchar *)((global SF_T *)base + off);
}

/* Grid-stride loop over [0, n): a fixed number of work-groups covers any n, with 64-bit
 * indices (n may pass 2^32). */
#define SF_FOR_EACH(i, n) for (ulong i = get_global_id(0); i < (ulong)(n); i += get_global_size(0))

/* Sum of v over a 1-D work-group in a fixed tree (the local size is a power of two);
 * the result is valid in work-item 0. Every work-item must call it. */
SF_FN float sf_group_sum(float v, local float *tmp)
{
    const uint lid = get_local_id(0);
    tmp[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint s = get_local_size(0) / 2; s > 0; s >>= 1) {
        if (lid < s)
            tmp[lid] += tmp[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    return tmp[0];
}

/* The reduced loss: one work-group sums `count` per-group partials in a fixed order and
 * writes sum (SUM) or sum / denom (MEAN; 0 / 0 = NaN for an empty tensor) as one f32. */
kernel void sf_finish_loss(global const float *part, uint count, int mean, float denom,
                           global float *out, ulong out_off, local float *tmp)
{
    float s = 0.0f;
    for (uint i = get_local_id(0); i < count; i += get_local_size(0))
        s += part[i];
    s = sf_group_sum(s, tmp);
    if (get_local_id(0) == 0)
        out[out_off] = mean ? s / denom : s;
}

/* Column sums (bias gradients): out[c] = sum over k < chunks, in order, of
 * part[part_off + k * pitch + c], stored in the dtype. */
kernel void sf_finish_cols(global const float *part, ulong part_off, uint chunks, ulong pitch, ulong cols,
                           global SF_T *out, ulong out_off)
{
    part += part_off;
    out += out_off;
    SF_FOR_EACH(c, cols) {
        float s = 0.0f;
        for (uint k = 0; k < chunks; k++)
            s += part[k * pitch + c];
        sf_st(out, c, s);
    }
}
