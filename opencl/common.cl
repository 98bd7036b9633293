/* SPDX-License-Identifier: MIT */
/*
 * Prepended to every sigfuse OpenCL program (after kernels/sf_math.h): loads and stores
 * of the program's storage dtype (SF_DTYPE, set with -D when the program is built), one
 * element or 4 at a time, u8 targets and labels, the kernels' buffer parameters, the walk
 * of an elementwise pass and the elementwise kernels themselves, the reductions'
 * accumulator (double, or a compensated float pair), the fixed-tree work-group sum and
 * the integer one of counts, the losses' shared parameters and mask, and the kernels that
 * finish the deterministic reductions (8 bytes per partial) and count a mask.
 */

#ifndef SF_DTYPE
#error "SF_DTYPE must be defined (1 f32, 2 f16, 3 bf16) when the program is built"
#endif

/* ---- Storage ------------------------------------------------------------------------------ */

/* f32 as float; f16 through vload_half / vstore_half_rte, which OpenCL 1.2 provides
 * without cl_khr_fp16 (half may only be pointed at, never computed with); bf16 as the top
 * 16 bits of an f32, rounded to nearest even by hand on store. sf_ld4 / sf_st4 move the 4
 * elements from i (the 4-wide path: vload4 / vstore4 and their half and ushort forms),
 * each converted exactly as sf_ld / sf_st convert one. Every NaN is stored as the one
 * quiet NaN of the dtype (SF_NAN_BITS): the sign and payload of a NaN that arithmetic
 * makes are the compiler's choice and differ between its scalar and vector code (and the
 * driver's scalar and vector half conversions differ too), so that both paths give the
 * same bits. sf_round_storage(v): v rounded to the storage dtype, as a float. */
#if SF_DTYPE == 1
#define SF_T float
SF_FN float sf_ld(global const float *p, ulong i) { return p[i]; }
SF_FN void sf_st(global float *p, ulong i, float v) { p[i] = isnan(v) ? NAN : v; }
SF_FN void sf_ld4(global const float *p, ulong i, float *v) { vstore4(vload4(0, p + i), 0, v); }
SF_FN void sf_st4(global float *p, ulong i, const float *v)
{
    vstore4((float4)(isnan(v[0]) ? NAN : v[0], isnan(v[1]) ? NAN : v[1], isnan(v[2]) ? NAN : v[2],
                     isnan(v[3]) ? NAN : v[3]),
            0, p + i);
}
SF_FN float sf_round_storage(float v) { return v; }
#elif SF_DTYPE == 2
#define SF_T half
#define SF_NAN_BITS 0x7e00u
SF_FN float sf_ld(global const half *p, ulong i) { return vload_half(0, p + i); }
SF_FN void sf_st(global half *p, ulong i, float v)
{
    ushort h;
    vstore_half_rte(v, 0, (private half *)&h);
    ((global ushort *)p)[i] = isnan(v) ? SF_NAN_BITS : h;
}
SF_FN void sf_ld4(global const half *p, ulong i, float *v) { vstore4(vload_half4(0, p + i), 0, v); }
SF_FN void sf_st4(global half *p, ulong i, const float *v)
{
    ushort h[4];
    vstore_half4_rte(vload4(0, v), 0, (private half *)h);
    for (int k = 0; k < 4; k++)
        h[k] = isnan(v[k]) ? SF_NAN_BITS : h[k];
    vstore4(vload4(0, h), 0, (global ushort *)p + i);
}
SF_FN float sf_round_storage(float v)
{
    ushort h;
    vstore_half_rte(v, 0, (private half *)&h);
    return vload_half(0, (private const half *)&h);
}
#elif SF_DTYPE == 3
#define SF_T ushort
#define SF_NAN_BITS 0x7fc0u
SF_FN float sf_ld(global const ushort *p, ulong i) { return as_float((uint)p[i] << 16); }
/* The bf16 nearest v, ties to even. */
SF_FN ushort sf_bf16_bits(float v)
{
    /* (Truncation could clear every mantissa bit left and make an infinity.) */
    if (isnan(v))
        return SF_NAN_BITS;
    /* Adding 0x7fff plus the lowest kept bit rounds to nearest, ties to even, and carries
     * into the exponent (up to infinity) exactly as a hardware rounding would. */
    uint u = as_uint(v);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (ushort)(u >> 16);
}
SF_FN void sf_st(global ushort *p, ulong i, float v) { p[i] = sf_bf16_bits(v); }
SF_FN void sf_ld4(global const ushort *p, ulong i, float *v)
{
    vstore4(as_float4(convert_uint4(vload4(0, p + i)) << 16), 0, v);
}
SF_FN void sf_st4(global ushort *p, ulong i, const float *v)
{
    vstore4((ushort4)(sf_bf16_bits(v[0]), sf_bf16_bits(v[1]), sf_bf16_bits(v[2]), sf_bf16_bits(v[3])), 0, p + i);
}
SF_FN float sf_round_storage(float v) { return as_float((uint)sf_bf16_bits(v) << 16); }
#else
#error "SF_DTYPE must be 1 (f32), 2 (f16) or 3 (bf16)"
#endif

/* w elements (4, or 1: a constant at every call) from element i: the 4-wide form or the
 * scalar one. */
SF_FN void sf_ldw(global const SF_T *p, ulong i, int w, float *v)
{
    if (w == 4)
        sf_ld4(p, i, v);
    else
        v[0] = sf_ld(p, i);
}

SF_FN void sf_stw(global SF_T *p, ulong i, int w, const float *v)
{
    if (w == 4)
        sf_st4(p, i, v);
    else
        sf_st(p, i, v[0]);
}

/* Targets (float dtype or u8: any non-zero byte is 1) and labels (u8 or float dtype);
 * both arrive as uchar pointers with a flag, so that one kernel serves both forms. */
SF_FN void sf_ldw_target(global const uchar *p, int is_u8, ulong i, int w, float *v)
{
    if (!is_u8) {
        sf_ldw((global const SF_T *)p, i, w, v);
    } else if (w == 4) {
        const uchar4 b = vload4(0, p + i);
        v[0] = b.s0 != 0 ? 1.0f : 0.0f;
        v[1] = b.s1 != 0 ? 1.0f : 0.0f;
        v[2] = b.s2 != 0 ? 1.0f : 0.0f;
        v[3] = b.s3 != 0 ? 1.0f : 0.0f;
    } else {
        v[0] = p[i] != 0 ? 1.0f : 0.0f;
    }
}

SF_FN float sf_ld_target(global const uchar *p, int is_u8, ulong i)
{
    float v;
    sf_ldw_target(p, is_u8, i, 1, &v);
    return v;
}

SF_FN void sf_stw_label(global uchar *p, int is_u8, ulong i, int w, const float *v)
{
    if (!is_u8)
        sf_stw((global SF_T *)p, i, w, v);
    else if (w == 4)
        vstore4((uchar4)((uchar)(v[0] != 0.0f), (uchar)(v[1] != 0.0f), (uchar)(v[2] != 0.0f), (uchar)(v[3] != 0.0f)),
                0, p + i);
    else
        p[i] = v[0] != 0.0f ? 1 : 0;
}

SF_FN void sf_st_label(global uchar *p, int is_u8, ulong i, float v) { sf_stw_label(p, is_u8, i, 1, &v); }

/* ---- Buffer parameters -------------------------------------------------------------------- */

/* A buffer arrives as its cl_mem (NULL when absent) plus an element offset (sub-buffers
 * would need CL_DEVICE_MEM_BASE_ADDR_ALIGN-aligned offsets, which callers' byte offsets do
 * not have): SF_IN(x) and SF_OUT(x) are the two parameters, x and x_off; a target or label
 * buffer (SF_IN_U8, SF_OUT_U8) adds x_u8, whether it holds u8 (else the float dtype,
 * whose element size its offset counts in). SF_OPEN(x, y, ...) and SF_OPEN_U8(...), the
 * first lines of a kernel, point each at its view's first element (NULL stays NULL). */
#define SF_IN(p) global const SF_T *p, ulong p##_off
#define SF_OUT(p) global SF_T *p, ulong p##_off
#define SF_IN_U8(p) global const uchar *p, ulong p##_off, int p##_u8
#define SF_OUT_U8(p) global uchar *p, ulong p##_off, int p##_u8

#define SF_AT(base, off) ((base) ? (base) + (off) : 0)
#define SF_AT_U8(base, off, u8) ((base) ? (base) + (off) * ((u8) ? 1 : sizeof(SF_T)) : 0)

#define SF_OPEN_ONE_(p) p = SF_AT(p, p##_off);
#define SF_OPEN_ONE_U8_(p) p = SF_AT_U8(p, p##_off, p##_u8);
/* SF_EACH_(F, a, b, ...) is F(a) F(b) ..., for up to 11 arguments. */
#define SF_EACH_1(F, a) F(a)
#define SF_EACH_2(F, a, ...) F(a) SF_EACH_1(F, __VA_ARGS__)
#define SF_EACH_3(F, a, ...) F(a) SF_EACH_2(F, __VA_ARGS__)
#define SF_EACH_4(F, a, ...) F(a) SF_EACH_3(F, __VA_ARGS__)
#define SF_EACH_5(F, a, ...) F(a) SF_EACH_4(F, __VA_ARGS__)
#define SF_EACH_6(F, a, ...) F(a) SF_EACH_5(F, __VA_ARGS__)
#define SF_EACH_7(F, a, ...) F(a) SF_EACH_6(F, __VA_ARGS__)
#define SF_EACH_8(F, a, ...) F(a) SF_EACH_7(F, __VA_ARGS__)
#define SF_EACH_9(F, a, ...) F(a) SF_EACH_8(F, __VA_ARGS__)
#define SF_EACH_10(F, a, ...) F(a) SF_EACH_9(F, __VA_ARGS__)
#define SF_EACH_11(F, a, ...) F(a) SF_EACH_10(F, __VA_ARGS__)
#define SF_COUNT_(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, n, ...) n
#define SF_PASTE_(a, b) a##b
#define SF_CAT_(a, b) SF_PASTE_(a, b)
#define SF_EACH_(F, ...) SF_CAT_(SF_EACH_, SF_COUNT_(__VA_ARGS__, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1))(F, __VA_ARGS__)
#define SF_OPEN(...) SF_EACH_(SF_OPEN_ONE_, __VA_ARGS__)
#define SF_OPEN_U8(...) SF_EACH_(SF_OPEN_ONE_U8_, __VA_ARGS__)

/* ---- Walks ------------------------------------------------------------------------------- */

/* Grid-stride loop over [0, n): a fixed number of work-groups covers any n, with 64-bit
 * indices (n may pass 2^32). */
#define SF_FOR_EACH(i, n) for (ulong i = get_global_id(0); i < (ulong)(n); i += get_global_size(0))

/* The spans of an elementwise pass over [0, n): with vec (every buffer's offset a
 * multiple of 4), work-item t takes the 4-element vectors t, t + G, t + 2G, ... (G
 * work-items in all), then one element of the n % 4 tail if t < n % 4; without, the
 * single elements t, t + G, .... SPAN runs on each with i its first element and w its
 * width (4 or 1, a constant in each copy of SPAN). Every element is read and written by
 * one work-item, its inputs before its outputs: an output may be in place on an input. */
#define SF_FOR_SPANS(n, vec, i, w, SPAN)                                                                               \
    do {                                                                                                               \
        const ulong nv_ = (vec) ? (ulong)(n) / 4 : 0;                                                                  \
        SF_FOR_EACH(v_, nv_) {                                                                                         \
            const ulong i = 4 * v_;                                                                                    \
            const int w = 4;                                                                                           \
            SPAN;                                                                                                      \
        }                                                                                                              \
        for (ulong i_ = 4 * nv_ + get_global_id(0); i_ < (ulong)(n); i_ += get_global_size(0)) {                       \
            const ulong i = i_;                                                                                        \
            const int w = 1;                                                                                           \
            SPAN;                                                                                                      \
        }                                                                                                              \
    } while (0)

/* The elementwise kernel `name` (activation.cl, glu.cl): NIN inputs and NOUT outputs of
 * n elements (elementwise.c passes 3 and 2, the unused ones NULL; an output may be
 * absent), vec (the 4-wide path) and beta (1 for an op without one). OP reads the
 * element's inputs from v[0 .. NIN) and writes its outputs to o[0 .. NOUT), in f32 with
 * sf_math.h's functions. */
#define SF_ELEMENTWISE(name, NIN, NOUT, OP)                                                                            \
    SF_FN void name##_span(global const SF_T *const *in, global SF_T *const *out, ulong i, int w, float beta)          \
    {                                                                                                                  \
        float x_[NIN][4], y_[NOUT][4];                                                                                 \
        for (int a_ = 0; a_ < NIN; a_++)                                                                               \
            sf_ldw(in[a_], i, w, x_[a_]);                                                                              \
        for (int k_ = 0; k_ < w; k_++) {                                                                               \
            float v[NIN], o[NOUT];                                                                                     \
            for (int a_ = 0; a_ < NIN; a_++)                                                                           \
                v[a_] = x_[a_][k_];                                                                                    \
            OP;                                                                                                        \
            for (int b_ = 0; b_ < NOUT; b_++)                                                                          \
                y_[b_][k_] = o[b_];                                                                                    \
        }                                                                                                              \
        for (int b_ = 0; b_ < NOUT; b_++)                                                                              \
            if (out[b_])                                                                                               \
                sf_stw(out[b_], i, w, y_[b_]);                                                                         \
    }                                                                                                                  \
    kernel void name(SF_IN(in0), SF_IN(in1), SF_IN(in2), SF_OUT(out0), SF_OUT(out1), ulong n, int vec, float beta)    \
    {                                                                                                                  \
        SF_OPEN(in0, in1, in2, out0, out1)                                                                             \
        global const SF_T *const in[3] = {in0, in1, in2};                                                              \
        global SF_T *const out[2] = {out0, out1};                                                                      \
        SF_FOR_SPANS(n, vec, i, w, name##_span(in, out, i, w, beta));                                                  \
    }

/* ---- Accumulators and the fixed-tree sums --------------------------------------------------- */

/* sf_acc, what every reduction sums in: a double where the device has cl_khr_fp64, else
 * (or with -DSF_NO_FP64, for tests) a float pair hi + lo kept exact by two-sums, about 48
 * significant bits; 8 bytes either way (the scratch's and workspace's unit). Terms arrive
 * as floats; sf_acc_float rounds the sum to f32 once, sf_acc_div gives sum / d. */
#if defined(cl_khr_fp64) && !defined(SF_NO_FP64)
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
typedef double sf_acc;
#define SF_ACC_DOUBLE 1
SF_FN sf_acc sf_acc_zero(void) { return 0.0; }
SF_FN sf_acc sf_acc_add(sf_acc a, float v) { return a + (double)v; }
SF_FN sf_acc sf_acc_merge(sf_acc a, sf_acc b) { return a + b; }
SF_FN float sf_acc_float(sf_acc a) { return (float)a; }
SF_FN float sf_acc_div(sf_acc a, ulong d) { return (float)(a / (double)d); }
SF_FN sf_acc sf_acc_neg(sf_acc a) { return -a; }
SF_FN float sf_acc_quot(sf_acc a, sf_acc b) { return (float)(a / b); }
SF_FN float sf_scale_div(float grad_scale, float up, ulong d)
{
    return (float)((double)grad_scale * (double)up / (double)d);
}
#else
typedef float2 sf_acc;   /* (hi, lo) */
/* s + e = a + b exactly (Knuth's two-sum); an infinite or NaN s keeps e = 0, so that the
 * pair stays that value. */
SF_FN float2 sf_two_sum(float a, float b)
{
    const float s = a + b, bb = s - a;
    const float e = (a - (s - bb)) + (b - bb);
    return (float2)(s, isfinite(s) ? e : 0.0f);
}
SF_FN sf_acc sf_acc_zero(void) { return (float2)(0.0f, 0.0f); }
SF_FN sf_acc sf_acc_merge(sf_acc a, sf_acc b)
{
    const float2 s = sf_two_sum(a.x, b.x);
    return sf_two_sum(s.x, s.y + (a.y + b.y));
}
SF_FN sf_acc sf_acc_add(sf_acc a, float v) { return sf_acc_merge(a, (float2)(v, 0.0f)); }
SF_FN float sf_acc_float(sf_acc a) { return a.x + a.y; }
/* (hi + lo) / d for a count d (exact as the pair dh + dl up to 2^48): the quotient of hi,
 * corrected by the remainder hi - q dh (exact through fma), lo and q dl. */
SF_FN float sf_acc_div(sf_acc a, ulong d)
{
    const float dh = (float)d, dl = (float)((long)d - (long)dh);
    const float q = a.x / dh;
    if (!isfinite(q))
        return q;   /* 0 / 0 (an empty MEAN), or an infinite or NaN sum */
    return q + ((fma(-q, dh, a.x) + a.y) - q * dl) / dh;
}
SF_FN float sf_scale_div(float grad_scale, float up, ulong d) { return grad_scale * up / (float)d; }
SF_FN sf_acc sf_acc_neg(sf_acc a) { return -a; }
/* a / b of two pairs: the quotient of the high parts, corrected by the remainder
 * a - q b (its leading product exact through fma), as sf_acc_div does for a count. */
SF_FN float sf_acc_quot(sf_acc a, sf_acc b)
{
    const float q = a.x / b.x;
    if (!isfinite(q) || b.x == 0.0f)
        return q;
    return q + ((fma(-q, b.x, a.x) + a.y) - q * b.y) / b.x;
}
#endif

/* Sum of v over a 1-D work-group in a fixed tree (the local size is a power of two);
 * the result is valid in work-item 0. Every work-item must call it. */
SF_FN sf_acc sf_group_sum(sf_acc v, local sf_acc *tmp)
{
    const uint lid = get_local_id(0);
    tmp[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint s = get_local_size(0) / 2; s > 0; s >>= 1) {
        if (lid < s)
            tmp[lid] = sf_acc_merge(tmp[lid], tmp[lid + s]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    return tmp[0];
}

/* A grid-stride kernel's per-group partial: the work-group's fixed-tree sum of each
 * work-item's acc, into part[group] (when part is set; every work-item must call it). */
SF_FN void sf_put_partial(sf_acc acc, global sf_acc *part, local sf_acc *tmp)
{
    if (!part)
        return;
    const sf_acc s = sf_group_sum(acc, tmp);
    if (get_local_id(0) == 0)
        part[get_group_id(0)] = s;
}

/* Sum of an integer count over a 1-D work-group, in tmp (one accumulator per work-item,
 * reused as ulong): exact in any order. The result is valid in work-item 0; as after
 * sf_group_sum, a barrier must come between it and the next use of tmp. */
SF_FN ulong sf_group_count(ulong v, local sf_acc *tmp_acc)
{
    local ulong *tmp = (local ulong *)tmp_acc;
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

/* A grid-stride kernel's per-group count of kept elements, into part[group] (when part
 * is set; every work-item must call it). */
SF_FN void sf_put_count(ulong kept, global ulong *part, local sf_acc *tmp)
{
    if (!part)
        return;
    const ulong c = sf_group_count(kept, tmp);
    if (get_local_id(0) == 0)
        part[get_group_id(0)] = c;
}

/* The integer sum of count partials by one work-group (valid in work-item 0). */
SF_FN ulong sf_sum_counts(global const ulong *part, uint count, local sf_acc *tmp)
{
    ulong c = 0;
    for (uint i = get_local_id(0); i < count; i += get_local_size(0))
        c += part[i];
    return sf_group_count(c, tmp);
}

/* The fixed-order sum of count partials by one work-group (valid in work-item 0). */
SF_FN sf_acc sf_sum_partials(global const sf_acc *part, uint count, local sf_acc *tmp)
{
    sf_acc s = sf_acc_zero();
    for (uint i = get_local_id(0); i < count; i += get_local_size(0))
        s = sf_acc_merge(s, part[i]);
    return sf_group_sum(s, tmp);
}

/* G column sums of a cell's bias gradient at column j: with part (several row chunks),
 * into part[base + g * H + j] for sf_finish_cols; else (one chunk: this work-item saw
 * every row) into db[g * H + j] directly, when db is set. */
SF_FN void sf_put_col_sums(global sf_acc *part, ulong base, global SF_T *db, ulong H, ulong j, int G,
                           const sf_acc *sums)
{
    for (int g = 0; g < G; g++) {
        if (part)
            part[base + g * H + j] = sums[g];
        else if (db)
            sf_st(db, g * H + j, sf_acc_float(sums[g]));
    }
}

/* ---- Ignored targets: the u8 mask ------------------------------------------------------------ */

/* w mask bytes from element i (4 or 1, as sf_ldw) as kept flags (byte non-zero); every
 * element is kept where there is no mask. */
SF_FN void sf_ldw_kept(global const uchar *m, ulong i, int w, int *kept)
{
    if (!m) {
        for (int k = 0; k < w; k++)
            kept[k] = 1;
    } else if (w == 4) {
        const uchar4 b = vload4(0, m + i);
        kept[0] = b.s0 != 0;
        kept[1] = b.s1 != 0;
        kept[2] = b.s2 != 0;
        kept[3] = b.s3 != 0;
    } else {
        kept[0] = m[i] != 0;
    }
}

/* ---- The fused losses' parameters (bce.cl, focal.cl, asymmetric.cl; loss.c sets them) ----- */

/* x the logits, y the targets, mask the optional u8 mask (0: ignored), up the
 * per-element upstream gradient of a loss that is not reduced, ups the f32 scalar one of
 * a reduced loss, loss the per-element loss (NONE) and part the per-group partials of its
 * sum (SUM / MEAN; never both set), dl the gradient; n elements, vec the 4-wide path,
 * denom rows * cols for MEAN (else 1), tmp one accumulator per work-item. A MEAN with a
 * mask divides by the kept count instead: with a gradient, kept_n holds it (the count
 * pass of loss.c ran first); without, kept_part takes this kernel's per-group counts for
 * sf_finish_loss (one read of the mask). */
#define SF_LOSS_PARAMS                                                                                                 \
    SF_IN(x), SF_IN_U8(y), global const uchar *mask, ulong mask_off, SF_IN(up), global const float *ups,             \
        ulong ups_off, SF_OUT(loss), global sf_acc *part, SF_OUT(dl), global const ulong *kept_n, ulong kept_n_off,   \
        global ulong *kept_part, ulong kept_part_off, ulong n, int vec, float grad_scale, ulong denom,                 \
        local sf_acc *tmp
#define SF_LOSS_OPEN                                                                                                   \
    SF_OPEN(x, up, loss, dl, mask, kept_n, kept_part)                                                                  \
    SF_OPEN_U8(y)

/* The factor of every gradient: grad_scale x dloss_in / (the MEAN's count, else 1), in
 * double where there is one (as CUDA and the reference form it); read before any store,
 * so that an output may share memory with an input. */
SF_FN float sf_loss_scale(float grad_scale, global const float *ups, ulong ups_off, global const ulong *kept_n,
                          ulong denom)
{
    return sf_scale_div(grad_scale, ups ? ups[ups_off] : 1.0f, kept_n ? kept_n[0] : denom);
}

/* The end of every loss kernel: its group's partial of the loss sum and, when asked, of
 * the kept count. */
SF_FN void sf_loss_close(sf_acc acc, global sf_acc *part, ulong kept, global ulong *kept_part, local sf_acc *tmp)
{
    sf_put_partial(acc, part, tmp);
    /* Outside any branch: PoCL hangs on a barrier that opens a conditional block. */
    barrier(CLK_LOCAL_MEM_FENCE);
    sf_put_count(kept, kept_part, tmp);
}

/* ---- Finishing kernels of the reductions --------------------------------------------------- */

/* The reduced loss: one work-group sums `count` per-group partials in a fixed order and
 * writes sum / denom (denom 1 for SUM, rows * cols for MEAN: 0 / 0 = NaN for an empty
 * tensor) as one f32. A MEAN with a mask passes its kept count instead, as kept_count
 * integer partials at kept (one: the count pass's total; several: the loss kernel's). */
kernel void sf_finish_loss(global const sf_acc *part, uint count, ulong denom, global const ulong *kept,
                           ulong kept_off, uint kept_count, global float *out, ulong out_off, local sf_acc *tmp)
{
    const sf_acc s = sf_sum_partials(part, count, tmp);
    barrier(CLK_LOCAL_MEM_FENCE);
    if (kept)
        denom = sf_sum_counts(kept + kept_off, kept_count, tmp);
    if (get_local_id(0) == 0)
        out[out_off] = sf_acc_div(s, denom);
}

/* The count pass of a MEAN with a mask and a gradient: each group's count of non-zero
 * bytes into part[group] (integers: exact, the same in any order). */
kernel void sf_count_kept(global const uchar *mask, ulong mask_off, ulong n, int vec, global ulong *part,
                          ulong part_off, local sf_acc *tmp)
{
    mask += mask_off;
    ulong c = 0;
    SF_FOR_SPANS(n, vec, i, w, {
        int kept[4];
        sf_ldw_kept(mask, i, w, kept);
        for (int k = 0; k < w; k++)
            c += (ulong)kept[k];
    });
    sf_put_count(c, part + part_off, tmp);
}

/* The total of `count` count partials, by one work-group. */
kernel void sf_finish_count(global const ulong *part, ulong part_off, uint count, global ulong *out, ulong out_off,
                            local sf_acc *tmp)
{
    const ulong c = sf_sum_counts(part + part_off, count, tmp);
    if (get_local_id(0) == 0)
        out[out_off] = c;
}

/* Column sums (bias gradients): out[c] = sum over k < chunks, in order, of
 * part[part_off + k * pitch + c], stored in the dtype. */
kernel void sf_finish_cols(global const sf_acc *part, ulong part_off, uint chunks, ulong pitch, ulong cols,
                           SF_OUT(out))
{
    SF_OPEN(out)
    part += part_off;
    SF_FOR_EACH(c, cols) {
        sf_acc s = sf_acc_zero();
        for (uint k = 0; k < chunks; k++)
            s = sf_acc_merge(s, part[k * pitch + c]);
        sf_st(out, c, sf_acc_float(s));
    }
}
