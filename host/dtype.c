/* SPDX-License-Identifier: MIT */
/*
 * Storage dtypes: sizes, names, and exact conversions. The reference rounds a double
 * straight to f16/bf16 (one rounding, ties to even) rather than through f32, so that its
 * outputs are the correctly rounded values the device backends are measured against.
 */
#include <math.h>
#include <string.h>

#include "sf_internal.h"

size_t sigfuse_dtype_size(sigfuse_dtype dtype)
{
    switch (dtype) {
    case SIGFUSE_F32: return 4;
    case SIGFUSE_F16: return 2;
    case SIGFUSE_BF16: return 2;
    case SIGFUSE_U8: return 1;
    case SIGFUSE_F64: return 8;
    case SIGFUSE_I32: return 4;
    case SIGFUSE_I64: return 8;
    }
    return 0;
}

const char *sigfuse_dtype_name(sigfuse_dtype dtype)
{
    switch (dtype) {
    case SIGFUSE_F32: return "f32";
    case SIGFUSE_F16: return "f16";
    case SIGFUSE_BF16: return "bf16";
    case SIGFUSE_U8: return "u8";
    case SIGFUSE_F64: return "f64";
    case SIGFUSE_I32: return "i32";
    case SIGFUSE_I64: return "i64";
    }
    return "unknown";
}

/* Round v to a binary format with `digits` significand bits (implicit bit included),
 * smallest normal exponent emin and largest finite value max_finite. Ties go to even
 * because nearbyint follows the default rounding mode. */
static double round_to_format(double v, int digits, int emin, double max_finite)
{
    if (!isfinite(v) || v == 0.0)
        return v;
    int e;
    frexp(v, &e);               /* |v| = m * 2^e, m in [0.5, 1): leading bit is 2^(e-1) */
    int exponent = e - 1;
    if (exponent < emin)
        exponent = emin;        /* subnormals share the smallest normal's quantum */
    double quantum = ldexp(1.0, exponent - (digits - 1));
    double r = nearbyint(v / quantum) * quantum;   /* v / quantum is exact: a power of 2 */
    if (fabs(r) > max_finite)
        return copysign(INFINITY, v);
    return r;
}

#define F16_MAX 65504.0
#define BF16_MAX 3.38953138925153547590e+38 /* (2 - 2^-7) * 2^127 */

double sf_round_to_dtype(double v, sigfuse_dtype dtype)
{
    switch (dtype) {
    case SIGFUSE_F16: return round_to_format(v, 11, -14, F16_MAX);
    case SIGFUSE_BF16: return round_to_format(v, 8, -126, BF16_MAX);
    case SIGFUSE_F32: return (double)(float)v;
    default: return v;
    }
}

static uint32_t float_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float bits_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Encode a value already representable in f16 (or inf/NaN). */
static uint16_t encode_f16(double r)
{
    uint16_t sign = signbit(r) ? 0x8000u : 0u;
    if (isnan(r))
        return (uint16_t)(sign | 0x7e00u);
    double a = fabs(r);
    if (isinf(a))
        return (uint16_t)(sign | 0x7c00u);
    if (a == 0.0)
        return sign;
    int e;
    frexp(a, &e);
    int exponent = e - 1;
    if (exponent < -14)   /* subnormal: a multiple of 2^-24 */
        return (uint16_t)(sign | (uint16_t)ldexp(a, 24));
    uint16_t mantissa = (uint16_t)(ldexp(a, 10 - exponent) - 1024.0);
    return (uint16_t)(sign | (uint16_t)((exponent + 15) << 10) | mantissa);
}

static double decode_f16(uint16_t h)
{
    double sign = (h & 0x8000u) ? -1.0 : 1.0;
    int exponent = (h >> 10) & 0x1f;
    int mantissa = h & 0x3ff;
    if (exponent == 0x1f)
        return mantissa ? NAN : sign * INFINITY;
    if (exponent == 0)
        return sign * ldexp(mantissa, -24);
    return sign * ldexp(mantissa + 1024, exponent - 25);
}

/* Encode a value already representable in bf16: the top half of its f32 bits. */
static uint16_t encode_bf16(double r)
{
    if (isnan(r))
        return (uint16_t)((signbit(r) ? 0x8000u : 0u) | 0x7fc0u);
    return (uint16_t)(float_bits((float)r) >> 16);
}

static double decode_bf16(uint16_t b)
{
    return bits_float((uint32_t)b << 16);
}

uint16_t sigfuse_float_to_f16(float v) { return encode_f16(sf_round_to_dtype(v, SIGFUSE_F16)); }
float sigfuse_f16_to_float(uint16_t bits) { return (float)decode_f16(bits); }
uint16_t sigfuse_float_to_bf16(float v) { return encode_bf16(sf_round_to_dtype(v, SIGFUSE_BF16)); }
float sigfuse_bf16_to_float(uint16_t bits) { return (float)decode_bf16(bits); }

static void *element_address(const sigfuse_buffer *b, int64_t i)
{
    return (char *)b->ptr + b->offset + (size_t)i * sigfuse_dtype_size(b->dtype);
}

double sf_host_load(const sigfuse_buffer *b, int64_t i)
{
    const void *p = element_address(b, i);
    switch (b->dtype) {
    case SIGFUSE_F32: return *(const float *)p;
    case SIGFUSE_F64: return *(const double *)p;
    case SIGFUSE_F16: return decode_f16(*(const uint16_t *)p);
    case SIGFUSE_BF16: return decode_bf16(*(const uint16_t *)p);
    case SIGFUSE_U8: return *(const uint8_t *)p ? 1.0 : 0.0;
    case SIGFUSE_I32: return (double)*(const int32_t *)p;
    case SIGFUSE_I64: return (double)*(const int64_t *)p;   /* exact below 2^53 */
    }
    return NAN;
}

void sf_host_store(const sigfuse_buffer *b, int64_t i, double v)
{
    void *p = element_address(b, i);
    switch (b->dtype) {
    case SIGFUSE_F32: *(float *)p = (float)v; break;
    case SIGFUSE_F64: *(double *)p = v; break;
    case SIGFUSE_F16: *(uint16_t *)p = encode_f16(sf_round_to_dtype(v, SIGFUSE_F16)); break;
    case SIGFUSE_BF16: *(uint16_t *)p = encode_bf16(sf_round_to_dtype(v, SIGFUSE_BF16)); break;
    case SIGFUSE_U8: *(uint8_t *)p = (v != 0.0) ? 1 : 0; break;
    case SIGFUSE_I32: *(int32_t *)p = (int32_t)v; break;
    case SIGFUSE_I64: *(int64_t *)p = (int64_t)v; break;
    }
}
