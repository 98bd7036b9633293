/* SPDX-License-Identifier: MIT */
/*
 * Storage formats: f16 and bf16 conversions round to nearest even with one rounding
 * from double, keep NaN and infinities, overflow to infinity, handle subnormals, and
 * every 16-bit pattern survives a round trip.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <criterion/criterion.h>

#include "sf_internal.h"
#include "testutil.h"

Test(dtype, f16_known_encodings)
{
    struct { float v; uint16_t bits; } cases[] = {
        {1.0f, 0x3c00}, {-2.0f, 0xc000}, {0.5f, 0x3800}, {65504.0f, 0x7bff},
        {65519.0f, 0x7bff},                 /* below the halfway point to 65536: stays finite */
        {65520.0f, 0x7c00},                 /* the tie rounds to even, which is past the max: inf */
        {0x1p-24f, 0x0001},                 /* smallest subnormal */
        {0x1p-25f, 0x0000},                 /* half of it: tie to even (zero) */
        {0x3p-25f, 0x0002},                 /* 1.5 ulp: tie to even (2 ulp) */
        {0x1p-14f, 0x0400},                 /* smallest normal */
        {1.0f + 0x1p-11f, 0x3c00},          /* tie between 1 and 1+2^-10: even is 1 */
        {1.0f + 0x3p-11f, 0x3c02},          /* tie between 1+2^-10 and 1+2^-9: even is the latter */
        {INFINITY, 0x7c00}, {-INFINITY, 0xfc00}, {-0.0f, 0x8000}, {1e-10f, 0x0000},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        cr_expect_eq(sigfuse_float_to_f16(cases[i].v), cases[i].bits, "f16(%a) = %#06x, want %#06x",
                     (double)cases[i].v, sigfuse_float_to_f16(cases[i].v), cases[i].bits);
    cr_expect(isnan(sigfuse_f16_to_float(sigfuse_float_to_f16(NAN))));
    cr_expect_eq(sigfuse_f16_to_float(0x0001), 0x1p-24f);
    cr_expect_eq(sigfuse_f16_to_float(0x7bff), 65504.0f);
}

Test(dtype, bf16_known_encodings)
{
    struct { float v; uint16_t bits; } cases[] = {
        {1.0f, 0x3f80}, {-2.0f, 0xc000}, {1.0f + 0x1p-8f, 0x3f80}, {1.0f + 0x3p-8f, 0x3f82},
        {INFINITY, 0x7f80}, {3.3895314e38f, 0x7f7f}, {FLT_MAX, 0x7f80},
        {0x1p-133f, 0x0001},                /* smallest bf16 subnormal */
        {-0.0f, 0x8000},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        cr_expect_eq(sigfuse_float_to_bf16(cases[i].v), cases[i].bits, "bf16(%a) = %#06x, want %#06x",
                     (double)cases[i].v, sigfuse_float_to_bf16(cases[i].v), cases[i].bits);
    cr_expect(isnan(sigfuse_bf16_to_float(sigfuse_float_to_bf16(NAN))));
}

Test(dtype, every_16_bit_pattern_round_trips)
{
    for (uint32_t b = 0; b <= 0xffff; b++) {
        float h = sigfuse_f16_to_float((uint16_t)b);
        float g = sigfuse_bf16_to_float((uint16_t)b);
        if (isnan(h))
            cr_assert(isnan(sigfuse_f16_to_float(sigfuse_float_to_f16(h))));
        else
            cr_assert_eq(sigfuse_float_to_f16(h), b, "f16 %#06x", b);
        if (isnan(g))
            cr_assert(isnan(sigfuse_bf16_to_float(sigfuse_float_to_bf16(g))));
        else
            cr_assert_eq(sigfuse_float_to_bf16(g), b, "bf16 %#06x", b);
    }
}

Test(dtype, reference_rounds_once_from_double)
{
    /* Just above the bf16 tie 1 + 2^-8: one rounding goes up; going through f32 first
     * would land exactly on the tie and go down to 1. */
    double v = 1.0 + 0x1p-8 + 0x1p-30;
    cr_expect_eq(sf_round_to_dtype(v, SIGFUSE_BF16), 1.0 + 0x1p-7);
    cr_expect_eq(sf_round_to_dtype(1.0 + 0x1p-11 + 0x1p-40, SIGFUSE_F16), 1.0 + 0x1p-10);
    tu_buf b = tu_alloc(SIGFUSE_BF16, 1), h = tu_alloc(SIGFUSE_F16, 1), f = tu_alloc(SIGFUSE_F32, 1);
    tu_set(&b, 0, v);
    cr_expect_eq(tu_get(&b, 0), 1.0 + 0x1p-7);
    tu_set(&h, 0, 1e6);
    cr_expect(isinf(tu_get(&h, 0)));
    tu_set(&f, 0, 0.1);
    cr_expect_eq(tu_get(&f, 0), (double)0.1f);
    cr_expect(tu_guards_ok(&b) && tu_guards_ok(&h) && tu_guards_ok(&f));
    tu_free(&b), tu_free(&h), tu_free(&f);
}

Test(dtype, u8_reads_nonzero_as_one)
{
    tu_buf u = tu_alloc(SIGFUSE_U8, 3);
    unsigned char *p = (unsigned char *)u.desc.ptr;
    p[0] = 0, p[1] = 1, p[2] = 200;
    cr_expect_eq(tu_get(&u, 0), 0.0);
    cr_expect_eq(tu_get(&u, 1), 1.0);
    cr_expect_eq(tu_get(&u, 2), 1.0);
    tu_set(&u, 0, 0.75);
    cr_expect_eq(p[0], 1);
    tu_free(&u);
}
