/* SPDX-License-Identifier: MIT */
/*
 * The CPU reference's gated units (glu, swiglu with beta) through the public API: known
 * values, backward against central finite differences in f64, limits at the extremes,
 * f32/f16/bf16 results equal to the f64 result rounded once on odd sizes, in place, at
 * byte offsets, and backward with only one of da / db.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "ref_check.h"
#include "sf_internal.h"
#include "testutil.h"

RC_CPU_CTX_FIXTURE
TestSuite(ref_glu, .init = open_ctx, .fini = close_ctx);
TestSuite(ref_swiglu, .init = open_ctx, .fini = close_ctx);

typedef enum gate { GATE_GLU, GATE_SWIGLU } gate;

static const char *gate_name(gate op) { return op == GATE_GLU ? "glu" : "swiglu"; }

static sigfuse_status fwd(sigfuse_ctx *ctx, gate op, float beta, int64_t n,
                          const sigfuse_buffer *a, const sigfuse_buffer *b,
                          const sigfuse_buffer *y)
{
    if (op == GATE_GLU)
        return sigfuse_glu_forward(ctx, n, a, b, y);
    return sigfuse_swiglu_forward(ctx, n, beta, a, b, y);
}

static sigfuse_status bwd(sigfuse_ctx *ctx, gate op, float beta, int64_t n,
                          const sigfuse_buffer *a, const sigfuse_buffer *b,
                          const sigfuse_buffer *dy, const sigfuse_buffer *da,
                          const sigfuse_buffer *db)
{
    if (op == GATE_GLU)
        return sigfuse_glu_backward(ctx, n, a, b, dy, da, db);
    return sigfuse_swiglu_backward(ctx, n, beta, a, b, dy, da, db);
}

/* The op in one direction for the shared checks (ref_check.h): a, b [, dy] -> y | da, db. */
static sigfuse_status gate_run(sigfuse_ctx *ctx, const rc_ew_call *call, int64_t n, const tu_buf *const *in,
                               const tu_buf *const *out)
{
    if (call->backward)
        return bwd(ctx, (gate)call->op, call->beta, n, &in[0]->desc, &in[1]->desc, &in[2]->desc, &out[0]->desc,
                   &out[1]->desc);
    return fwd(ctx, (gate)call->op, call->beta, n, &in[0]->desc, &in[1]->desc, &out[0]->desc);
}

/* a in [-4, 4), b in [-b_width, b_width), dy in [-2, 2), drawn in that order from `seed`. */
static void random_abdy(gate op, sigfuse_dtype dt, int64_t n, uint64_t seed, double b_width, tu_buf abdy[3])
{
    tu_rng rng = tu_rng_seed(seed, gate_name(op));
    const double range[3][2] = {{-4.0, 4.0}, {-b_width, b_width}, {-2.0, 2.0}};
    rc_random_bufs(abdy, 3, dt, n, &rng, range);
}

/* y, da and db of the op at beta on abdy (freshly allocated in its dtype). */
static void solve(gate op, float beta, int64_t n, const tu_buf abdy[3], tu_buf y_da_db[3])
{
    for (int k = 0; k < 3; k++)
        y_da_db[k] = tu_alloc(abdy[0].dtype, n);
    TU_OK(ctx, fwd(ctx, op, beta, n, &abdy[0].desc, &abdy[1].desc, &y_da_db[0].desc));
    TU_OK(ctx, bwd(ctx, op, beta, n, &abdy[0].desc, &abdy[1].desc, &abdy[2].desc, &y_da_db[1].desc,
                   &y_da_db[2].desc));
}

/* ---- Known values ----------------------------------------------------------------------- */

/* One (a, b, dy) triple and the wanted y, da, db (50-digit arithmetic). */
typedef struct known { double a, b, dy, y, da, db; } known;

static void check_known(gate op, float beta, const known *k, size_t count, double rtol)
{
    const int64_t n = (int64_t)count;
    tu_buf a = tu_alloc(SIGFUSE_F64, n), b = tu_alloc(SIGFUSE_F64, n), dy = tu_alloc(SIGFUSE_F64, n);
    tu_buf y = tu_alloc(SIGFUSE_F64, n), da = tu_alloc(SIGFUSE_F64, n), db = tu_alloc(SIGFUSE_F64, n);
    for (int64_t i = 0; i < n; i++) {
        tu_set(&a, i, k[i].a);
        tu_set(&b, i, k[i].b);
        tu_set(&dy, i, k[i].dy);
    }
    TU_OK(ctx, fwd(ctx, op, beta, n, &a.desc, &b.desc, &y.desc));
    TU_OK(ctx, bwd(ctx, op, beta, n, &a.desc, &b.desc, &dy.desc, &da.desc, &db.desc));
    for (int64_t i = 0; i < n; i++) {
        cr_expect(tu_close(tu_get(&y, i), k[i].y, rtol, 0.0), "%s(%g, %g): y %.17g want %.17g",
                  gate_name(op), k[i].a, k[i].b, tu_get(&y, i), k[i].y);
        cr_expect(tu_close(tu_get(&da, i), k[i].da, rtol, 0.0), "%s(%g, %g): da %.17g want %.17g",
                  gate_name(op), k[i].a, k[i].b, tu_get(&da, i), k[i].da);
        cr_expect(tu_close(tu_get(&db, i), k[i].db, rtol, 0.0), "%s(%g, %g): db %.17g want %.17g",
                  gate_name(op), k[i].a, k[i].b, tu_get(&db, i), k[i].db);
    }
    RC_FREE(&a, &b, &dy, &y, &da, &db);
}

Test(ref_glu, known_values_f64_n3)
{
    static const known k[] = {
        /* b = 0: sigma = 1/2, sigma sigma(-b) = 1/4 */
        {2.0, 0.0, 1.0, 1.0, 0.5, 0.5},
        {3.0, 1.0, 2.0, 2.1931757358900146378, 2.0 * 0.73105857863000487925,
         1.1796715994488911152},
        {-4.0, 0.0, -0.5, -2.0, -0.25, 0.5},
    };
    check_known(GATE_GLU, 1.0f, k, sizeof k / sizeof k[0], 1e-15);
}

Test(ref_swiglu, known_values_f64_beta1_n2)
{
    static const known k[] = {
        {2.0, 1.5, -0.5, 2.4527234285809309788, -0.5 * 1.2263617142904654894,
         -1.0412941542991429444},
        /* b = 0: silu(0) = 0, silu'(0) = 1/2 */
        {3.0, 0.0, 2.0, 0.0, 0.0, 3.0},
    };
    check_known(GATE_SWIGLU, 1.0f, k, sizeof k / sizeof k[0], 1e-15);
}

/* beta = 0: y = a b / 2, da = dy b / 2, db = dy a / 2. */
Test(ref_swiglu, known_values_f64_beta0_n2)
{
    static const known k[] = {{2.0, 3.0, 1.0, 3.0, 1.5, 1.0}, {-1.0, 5.0, 4.0, -2.5, 10.0, -2.0}};
    check_known(GATE_SWIGLU, 0.0f, k, sizeof k / sizeof k[0], 0.0);
}

/* ---- Backward against central finite differences of the forward, in f64 ----------------- */

/* What the differences hold fixed: the op, beta, the other input. */
typedef struct gate_problem {
    gate op;
    float beta;
    const tu_buf *a, *b;
    bool wrt_b;   /* moving b (else a) */
} gate_problem;

static void gate_forward_at(sigfuse_ctx *ctx, const void *problem, const tu_buf *moved, tu_buf *out)
{
    const gate_problem *p = problem;
    const tu_buf *a = p->wrt_b ? p->a : moved, *b = p->wrt_b ? moved : p->b;
    TU_OK(ctx, fwd(ctx, p->op, p->beta, moved->n, &a->desc, &b->desc, &out->desc));
}

static void check_fd(gate op, float beta, uint64_t seed)
{
    char what[64];
    snprintf(what, sizeof what, "%s beta=%g", gate_name(op), beta);
    tu_rng rng = tu_rng_seed(seed, what);
    const int64_t n = 101;
    const double range[3][2] = {{-4.0, 4.0}, {-8.0, 8.0}, {-2.0, 2.0}};
    tu_buf abdy[3];
    rc_random_bufs(abdy, 3, SIGFUSE_F64, n, &rng, range);
    const tu_buf *a = &abdy[0], *b = &abdy[1], *dy = &abdy[2];
    tu_buf da = tu_alloc(SIGFUSE_F64, n), db = tu_alloc(SIGFUSE_F64, n);
    static const double fixed_b[] = {0.0, 0.5, -0.5, 3.0, -3.0, 20.0, -20.0};
    for (size_t i = 0; i < sizeof fixed_b / sizeof fixed_b[0]; i++)
        tu_set(&abdy[1], (int64_t)i, fixed_b[i]);
    TU_OK(ctx, bwd(ctx, op, beta, n, &a->desc, &b->desc, &dy->desc, &da.desc, &db.desc));
    const gate_problem wrt_a = {op, beta, a, b, false}, wrt_b = {op, beta, a, b, true};
    rc_assert_elementwise_fd(what, ctx, gate_forward_at, &wrt_a, "a", a, dy, &da, "b", b);
    rc_assert_elementwise_fd(what, ctx, gate_forward_at, &wrt_b, "b", b, dy, &db, "a", a);
    RC_FREE(&abdy[0], &abdy[1], &abdy[2], &da, &db);
}

Test(ref_glu, backward_finite_difference_f64_n101) { check_fd(GATE_GLU, 1.0f, 21); }
Test(ref_swiglu, backward_finite_difference_f64_beta1_n101) { check_fd(GATE_SWIGLU, 1.0f, 22); }
Test(ref_swiglu, backward_finite_difference_f64_beta1p702_n101) { check_fd(GATE_SWIGLU, 1.702f, 23); }
Test(ref_swiglu, backward_finite_difference_f64_beta0_n101) { check_fd(GATE_SWIGLU, 0.0f, 24); }
Test(ref_swiglu, backward_finite_difference_f64_betaneg1p25_n101) { check_fd(GATE_SWIGLU, -1.25f, 25); }

/* ---- Extremes ---------------------------------------------------------------------------- */

/* a = 2, dy = 1 and an extreme b: y, da, db of glu and of swiglu (beta 1). The infinities
 * are the exact limits; the finite values come from 50-digit arithmetic. */
typedef struct extreme { double b, glu_y, glu_da, glu_db, sw_y, sw_da, sw_db; } extreme;

static const extreme extremes[] = {
    {INFINITY, 2.0, 1.0, 0.0, INFINITY, INFINITY, 2.0},
    {-INFINITY, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0},
    {1e4, 2.0, 1.0, 0.0, 2e4, 1e4, 2.0},
    {-1e4, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0},
    {88.7, 2.0, 1.0, 6.013252643127666e-39, 177.4, 88.7, 2.0},
    {-88.7, 6.013252643127666e-39, 3.006626321563833e-39, 6.013252643127666e-39,
     -5.33375509445424e-37, -2.66687754722712e-37, -5.273622568022963e-37},
};

Test(ref_glu, extremes_f64_n6)
{
    const int64_t n = sizeof extremes / sizeof extremes[0];
    tu_buf a = tu_alloc(SIGFUSE_F64, n), b = tu_alloc(SIGFUSE_F64, n), dy = tu_alloc(SIGFUSE_F64, n);
    tu_buf y = tu_alloc(SIGFUSE_F64, n), da = tu_alloc(SIGFUSE_F64, n), db = tu_alloc(SIGFUSE_F64, n);
    for (int64_t i = 0; i < n; i++) {
        tu_set(&a, i, 2.0);
        tu_set(&b, i, extremes[i].b);
        tu_set(&dy, i, 1.0);
    }
    for (int op = GATE_GLU; op <= GATE_SWIGLU; op++) {
        TU_OK(ctx, fwd(ctx, (gate)op, 1.0f, n, &a.desc, &b.desc, &y.desc));
        TU_OK(ctx, bwd(ctx, (gate)op, 1.0f, n, &a.desc, &b.desc, &dy.desc, &da.desc, &db.desc));
        for (int64_t i = 0; i < n; i++) {
            const extreme *e = &extremes[i];
            double wy = op == GATE_GLU ? e->glu_y : e->sw_y;
            double wda = op == GATE_GLU ? e->glu_da : e->sw_da;
            double wdb = op == GATE_GLU ? e->glu_db : e->sw_db;
            cr_expect(tu_close(tu_get(&y, i), wy, 1e-14, 0.0), "%s b=%g: y %.17g want %.17g",
                      gate_name((gate)op), e->b, tu_get(&y, i), wy);
            cr_expect(tu_close(tu_get(&da, i), wda, 1e-14, 0.0), "%s b=%g: da %.17g want %.17g",
                      gate_name((gate)op), e->b, tu_get(&da, i), wda);
            cr_expect(tu_close(tu_get(&db, i), wdb, 1e-14, 0.0), "%s b=%g: db %.17g want %.17g",
                      gate_name((gate)op), e->b, tu_get(&db, i), wdb);
        }
    }
    RC_FREE(&a, &b, &dy, &y, &da, &db);
}

/* Extremes in a and b together in a storage dtype: NaN in any input gives NaN in every
 * output that depends on it, finite inputs give finite outputs (where the true value is
 * finite), and every result is the f64 result rounded once. */
static void check_extremes_dtype(sigfuse_dtype dt)
{
    static const double bs[] = {INFINITY, -INFINITY, NAN, 1e4, -1e4, 88.7, -88.7, 1e-40, 0.0, 1.0};
    static const double as[] = {3.0, -2.0, 1e4, -1e4, 1e-40, NAN};
    const int64_t nb = sizeof bs / sizeof bs[0], na = sizeof as / sizeof as[0], n = na * nb;
    tu_buf a = tu_alloc(dt, n), b = tu_alloc(dt, n), dy = tu_alloc(dt, n);
    for (int64_t i = 0; i < na; i++)
        for (int64_t j = 0; j < nb; j++) {
            tu_set(&a, i * nb + j, as[i]);
            tu_set(&b, i * nb + j, bs[j]);
            tu_set(&dy, i * nb + j, (i + j) % 2 ? 1.5 : -1.0);
        }
    tu_buf a64 = tu_copy_as(&a, SIGFUSE_F64), b64 = tu_copy_as(&b, SIGFUSE_F64), dy64 = tu_copy_as(&dy, SIGFUSE_F64);
    tu_buf y = tu_alloc(dt, n), da = tu_alloc(dt, n), db = tu_alloc(dt, n);
    tu_buf y64 = tu_alloc(SIGFUSE_F64, n), da64 = tu_alloc(SIGFUSE_F64, n), db64 = tu_alloc(SIGFUSE_F64, n);
    for (int op = GATE_GLU; op <= GATE_SWIGLU; op++) {
        tu_poison(&y);
        tu_poison(&da);
        tu_poison(&db);
        TU_OK(ctx, fwd(ctx, (gate)op, 1.0f, n, &a.desc, &b.desc, &y.desc));
        TU_OK(ctx, bwd(ctx, (gate)op, 1.0f, n, &a.desc, &b.desc, &dy.desc, &da.desc, &db.desc));
        TU_OK(ctx, fwd(ctx, (gate)op, 1.0f, n, &a64.desc, &b64.desc, &y64.desc));
        TU_OK(ctx, bwd(ctx, (gate)op, 1.0f, n, &a64.desc, &b64.desc, &dy64.desc, &da64.desc, &db64.desc));
        tu_assert_rounded(&y, &y64, gate_name((gate)op));
        tu_assert_rounded(&da, &da64, gate_name((gate)op));
        tu_assert_rounded(&db, &db64, gate_name((gate)op));
        for (int64_t k = 0; k < n; k++) {
            double av = tu_get(&a, k), bv = tu_get(&b, k);
            if (isnan(bv)) {
                cr_expect(isnan(tu_get(&y, k)) && isnan(tu_get(&da, k)) && isnan(tu_get(&db, k)),
                          "%s a=%g b=NaN", gate_name((gate)op), av);
            } else if (isnan(av)) {   /* da does not depend on a */
                cr_expect(isnan(tu_get(&y, k)) && isnan(tu_get(&db, k)) && !isnan(tu_get(&da, k)),
                          "%s a=NaN b=%g", gate_name((gate)op), bv);
            } else if (isfinite(bv)) {
                /* f16 tops out at 65504: there, finite is only owed where |a b| fits. */
                if (dt != SIGFUSE_F16 || fabs(av * bv) < 65504.0)
                    cr_expect(isfinite(tu_get(&y, k)) && isfinite(tu_get(&da, k)) &&
                                  isfinite(tu_get(&db, k)),
                              "%s a=%g b=%g: not finite", gate_name((gate)op), av, bv);
            }
        }
    }
    RC_FREE(&a, &b, &dy, &a64, &b64, &dy64, &y, &da, &db, &y64, &da64, &db64);
}

Test(ref_glu, extremes_f32_n60) { check_extremes_dtype(SIGFUSE_F32); }
Test(ref_glu, extremes_f16_n60) { check_extremes_dtype(SIGFUSE_F16); }
Test(ref_glu, extremes_bf16_n60) { check_extremes_dtype(SIGFUSE_BF16); }

/* ---- Storage dtypes on odd sizes ---------------------------------------------------------- */

/* a in [-5, 5), b in [-12, 12), dy in [-3, 3). */
static void check_dtype_case(gate op, bool backward, sigfuse_dtype dt, int64_t n, float beta)
{
    const rc_ew_call call = {gate_name(op), op, backward, beta, backward ? 3 : 2, backward ? 2 : 1, 2, gate_run};
    const double range[3][2] = {{-5.0, 5.0}, {-12.0, 12.0}, {-3.0, 3.0}};
    rc_check_ew_dtype(ctx, &call, dt, n, 0x91u + (uint64_t)n * 131u + (uint64_t)dt * 17u + (uint64_t)op, range);
}

RC_ELEMENTWISE_DTYPE_TESTS(ref_glu, check_dtype_case, GATE_GLU)
RC_ELEMENTWISE_DTYPE_TESTS(ref_swiglu, check_dtype_case, GATE_SWIGLU)

Test(ref_swiglu, forward_bf16_beta1p702_n1023) { check_dtype_case(GATE_SWIGLU, false, SIGFUSE_BF16, 1023, 1.702f); }
Test(ref_swiglu, backward_f16_betaneg0p5_n1023) { check_dtype_case(GATE_SWIGLU, true, SIGFUSE_F16, 1023, -0.5f); }

/* ---- Optional outputs --------------------------------------------------------------------- */

/* Backward with only db (then only da): the one requested equals the full call's, and the
 * inputs are left exactly as they were. */
static void check_one_output(gate op, sigfuse_dtype dt)
{
    const int64_t n = 255;
    tu_buf abdy[3];
    random_abdy(op, dt, n, 31 + (uint64_t)op, 6.0, abdy);
    const tu_buf *a = &abdy[0], *b = &abdy[1], *dy = &abdy[2];
    tu_buf a0 = tu_copy_as(a, dt), b0 = tu_copy_as(b, dt), dy0 = tu_copy_as(dy, dt);
    tu_buf da = tu_alloc(dt, n), db = tu_alloc(dt, n), da1 = tu_alloc(dt, n), db1 = tu_alloc(dt, n);
    TU_OK(ctx, bwd(ctx, op, 1.0f, n, &a->desc, &b->desc, &dy->desc, &da.desc, &db.desc));
    TU_OK(ctx, bwd(ctx, op, 1.0f, n, &a->desc, &b->desc, &dy->desc, NULL, &db1.desc));
    tu_assert_bitwise(&db1, &db, "db alone");
    TU_OK(ctx, bwd(ctx, op, 1.0f, n, &a->desc, &b->desc, &dy->desc, &da1.desc, NULL));
    tu_assert_bitwise(&da1, &da, "da alone");
    cr_assert(tu_bytes_equal(a, &a0) && tu_bytes_equal(b, &b0) && tu_bytes_equal(dy, &dy0),
              "an input changed");
    cr_assert(tu_guards_ok(a) && tu_guards_ok(b) && tu_guards_ok(dy));
    RC_FREE(&abdy[0], &abdy[1], &abdy[2], &a0, &b0, &dy0, &da, &db, &da1, &db1);
}

Test(ref_glu, backward_one_output_f32_n255) { check_one_output(GATE_GLU, SIGFUSE_F32); }
Test(ref_swiglu, backward_one_output_bf16_n255) { check_one_output(GATE_SWIGLU, SIGFUSE_BF16); }

/* ---- In place and at byte offsets ---------------------------------------------------------- */

/* Outputs aliasing inputs give the out-of-place results bit for bit: y over a, y over b,
 * (da, db) over (a, b), (db, da) over (a, b), and da over dy. */
static void check_in_place(gate op, sigfuse_dtype dt)
{
    const int64_t n = 1023;
    const float beta = 0.875f;
    tu_buf abdy[3], want[3];
    random_abdy(op, dt, n, 555 + (uint64_t)op, 9.0, abdy);
    solve(op, beta, n, abdy, want);
    const tu_buf *a = &abdy[0], *b = &abdy[1], *dy = &abdy[2], *y = &want[0], *da = &want[1], *db = &want[2];

    tu_buf wa = tu_copy_as(a, dt), wb = tu_copy_as(b, dt), wdy = tu_copy_as(dy, dt);
    TU_OK(ctx, fwd(ctx, op, beta, n, &wa.desc, &b->desc, &wa.desc));
    tu_assert_bitwise(&wa, y, "forward y aliasing a");
    TU_OK(ctx, fwd(ctx, op, beta, n, &a->desc, &wb.desc, &wb.desc));
    tu_assert_bitwise(&wb, y, "forward y aliasing b");
    RC_FREE(&wa, &wb);

    /* (da, db) over (a, b), then over (b, a). */
    for (int swap = 0; swap < 2; swap++) {
        wa = tu_copy_as(a, dt);
        wb = tu_copy_as(b, dt);
        tu_buf *da_over = swap ? &wb : &wa, *db_over = swap ? &wa : &wb;
        TU_OK(ctx, bwd(ctx, op, beta, n, &wa.desc, &wb.desc, &dy->desc, &da_over->desc, &db_over->desc));
        tu_assert_bitwise(da_over, da, swap ? "backward da aliasing b" : "backward da aliasing a");
        tu_assert_bitwise(db_over, db, swap ? "backward db aliasing a" : "backward db aliasing b");
        RC_FREE(&wa, &wb);
    }

    TU_OK(ctx, bwd(ctx, op, beta, n, &a->desc, &b->desc, &wdy.desc, &wdy.desc, NULL));
    tu_assert_bitwise(&wdy, da, "backward da aliasing dy");
    RC_FREE(&abdy[0], &abdy[1], &abdy[2], &want[0], &want[1], &want[2], &wdy);
}

Test(ref_glu, in_place_f16_n1023) { check_in_place(GATE_GLU, SIGFUSE_F16); }
Test(ref_swiglu, in_place_f32_n1023) { check_in_place(GATE_SWIGLU, SIGFUSE_F32); }

/* Every buffer at its own odd element offset: the plain buffers' results bit for bit. */
static void check_offsets(gate op, sigfuse_dtype dt)
{
    const int64_t n = 333;
    const size_t es = sigfuse_dtype_size(dt);
    tu_buf abdy[3], want[3], at[6];
    random_abdy(op, dt, n, 808 + (uint64_t)op, 9.0, abdy);
    solve(op, 1.0f, n, abdy, want);
    for (int k = 0; k < 6; k++)   /* a, b, dy, y, da, db at 1, 3, ... 11 elements */
        at[k] = tu_alloc_offset(dt, n, (size_t)(2 * k + 1) * es);
    for (int64_t i = 0; i < n; i++)
        for (int k = 0; k < 3; k++)
            tu_set(&at[k], i, tu_get(&abdy[k], i));
    TU_OK(ctx, fwd(ctx, op, 1.0f, n, &at[0].desc, &at[1].desc, &at[3].desc));
    TU_OK(ctx, bwd(ctx, op, 1.0f, n, &at[0].desc, &at[1].desc, &at[2].desc, &at[4].desc, &at[5].desc));
    tu_assert_bitwise(&at[3], &want[0], "y at an offset");
    tu_assert_bitwise(&at[4], &want[1], "da at an offset");
    tu_assert_bitwise(&at[5], &want[2], "db at an offset");
    cr_assert(tu_guards_ok(&at[0]) && tu_guards_ok(&at[1]) && tu_guards_ok(&at[2]));
    for (int k = 0; k < 6; k++)
        tu_free(&at[k]);
    RC_FREE(&abdy[0], &abdy[1], &abdy[2], &want[0], &want[1], &want[2]);
}

Test(ref_glu, offsets_bf16_n333) { check_offsets(GATE_GLU, SIGFUSE_BF16); }
Test(ref_swiglu, offsets_f16_n333) { check_offsets(GATE_SWIGLU, SIGFUSE_F16); }
