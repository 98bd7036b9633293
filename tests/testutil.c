#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "sf_internal.h"

#define GUARD_PATTERN 0x5A
#define POISON_BYTE 0xFF

tu_buf tu_alloc_offset(sigfuse_dtype dtype, int64_t n, size_t offset_bytes)
{
    tu_buf b;
    memset(&b, 0, sizeof b);
    b.dtype = dtype;
    b.n = n;
    b.bytes = (size_t)n * sigfuse_dtype_size(dtype);
    size_t total = offset_bytes + TU_GUARD_BYTES + b.bytes + TU_GUARD_BYTES;
    b.base = (unsigned char *)malloc(total);
    cr_assert(b.base != NULL, "out of memory allocating %zu bytes", total);
    /* Layout: [offset_bytes of filler][front guard][data][back guard]; the descriptor's
     * ptr is the allocation start and its offset skips filler and front guard. */
    memset(b.base, GUARD_PATTERN, total);
    b.desc.memory = SIGFUSE_MEMORY_HOST;
    b.desc.dtype = dtype;
    b.desc.ptr = b.base;
    b.desc.offset = offset_bytes + TU_GUARD_BYTES;
    memset(b.base + b.desc.offset, POISON_BYTE, b.bytes);
    return b;
}

tu_buf tu_alloc(sigfuse_dtype dtype, int64_t n)
{
    tu_buf b = tu_alloc_offset(dtype, n, 0);
    /* The plain form passes the data address in ptr with offset 0. */
    b.desc.ptr = b.base + b.desc.offset;
    b.desc.offset = 0;
    return b;
}

static unsigned char *data_start(const tu_buf *b)
{
    return (unsigned char *)b->desc.ptr + b->desc.offset;
}

void *tu_data(const tu_buf *b) { return data_start(b); }

void tu_free(tu_buf *b)
{
    free(b->base);
    b->base = NULL;
}

void tu_poison(tu_buf *b) { memset(data_start(b), POISON_BYTE, b->bytes); }

double tu_get(const tu_buf *b, int64_t i) { return sf_host_load(&b->desc, i); }

void tu_set(tu_buf *b, int64_t i, double v) { sf_host_store(&b->desc, i, v); }

void tu_set_all(tu_buf *b, const double *values)
{
    for (int64_t i = 0; i < b->n; i++)
        tu_set(b, i, values[i]);
}

bool tu_guards_ok(const tu_buf *b)
{
    const unsigned char *front = data_start(b) - TU_GUARD_BYTES;
    const unsigned char *back = data_start(b) + b->bytes;
    for (size_t i = 0; i < TU_GUARD_BYTES; i++)
        if (front[i] != GUARD_PATTERN || back[i] != GUARD_PATTERN)
            return false;
    return true;
}

bool tu_untouched(const tu_buf *b)
{
    const unsigned char *d = data_start(b);
    for (size_t i = 0; i < b->bytes; i++)
        if (d[i] != POISON_BYTE)
            return false;
    return tu_guards_ok(b);
}

tu_buf tu_from(sigfuse_dtype dtype, int64_t n, const double *values)
{
    tu_buf b = tu_alloc(dtype, n);
    tu_set_all(&b, values);
    return b;
}

tu_rng tu_rng_seed(uint64_t seed, const char *case_name)
{
    cr_log_info("%s: seed %llu", case_name, (unsigned long long)seed);
    tu_rng r = {seed};
    return r;
}

uint64_t tu_next(tu_rng *r)
{
    uint64_t z = (r->state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double tu_uniform(tu_rng *r, double lo, double hi)
{
    double u = (double)(tu_next(r) >> 11) * 0x1.0p-53;   /* 53 random bits in [0, 1) */
    return lo + (hi - lo) * u;
}

void tu_fill_uniform(tu_buf *b, tu_rng *r, double lo, double hi)
{
    for (int64_t i = 0; i < b->n; i++)
        tu_set(b, i, tu_uniform(r, lo, hi));
}

void tu_fill_binary(tu_buf *b, tu_rng *r)
{
    for (int64_t i = 0; i < b->n; i++)
        tu_set(b, i, (double)(tu_next(r) >> 63));
}

bool tu_close(double got, double want, double rtol, double atol)
{
    if (isnan(want) || isnan(got))
        return isnan(want) && isnan(got);
    if (isinf(want) || isinf(got))
        return got == want;
    return fabs(got - want) <= atol + rtol * fabs(want);
}

sigfuse_ctx *tu_cpu_ctx(void)
{
    sigfuse_ctx *ctx = NULL;
    sigfuse_status st = sigfuse_ctx_create(&ctx, SIGFUSE_BACKEND_CPU);
    cr_assert(st == SIGFUSE_SUCCESS && ctx != NULL, "cpu context: %s", sigfuse_status_string(st));
    return ctx;
}

bool tu_same(double a, double b) { return (isnan(a) && isnan(b)) || a == b; }

tu_buf tu_copy_as(const tu_buf *src, sigfuse_dtype dtype)
{
    tu_buf b = tu_alloc(dtype, src->n);
    for (int64_t i = 0; i < src->n; i++)
        tu_set(&b, i, tu_get(src, i));
    return b;
}

const sigfuse_buffer *tu_opt_desc(const tu_buf *b) { return b ? &b->desc : NULL; }

tu_buf tu_alloc_kth(sigfuse_dtype dtype, int64_t n, bool offsets, int k)
{
    return offsets ? tu_alloc_offset(dtype, n, sigfuse_dtype_size(dtype) * (size_t)(1 + 3 * k)) : tu_alloc(dtype, n);
}

bool tu_bytes_equal(const tu_buf *x, const tu_buf *y)
{
    return x->bytes == y->bytes && memcmp(data_start(x), data_start(y), x->bytes) == 0;
}

void tu_assert_rounded(const tu_buf *got, const tu_buf *want, const char *what)
{
    cr_assert(tu_guards_ok(got), "%s: guard overwritten", what);
    for (int64_t i = 0; i < got->n; i++) {
        double g = tu_get(got, i), w = sf_round_to_dtype(tu_get(want, i), got->dtype);
        cr_assert(tu_same(g, w), "%s[%lld] (%s): got %.17g, want %.17g", what, (long long)i,
                  sigfuse_dtype_name(got->dtype), g, w);
    }
}

void tu_expect_rounded(const tu_buf *got, const tu_buf *want, const char *what, const char *name)
{
    for (int64_t i = 0; i < got->n; i++) {
        double w = sf_round_to_dtype(tu_get(want, i), got->dtype);
        double g = tu_get(got, i);
        if (!tu_same(g, w)) {
            cr_expect(false, "%s: %s[%lld] = %.17g, want %.17g", name, what, (long long)i, g, w);
            return;   /* one message per output is enough */
        }
    }
    cr_expect(tu_guards_ok(got), "%s: %s guards", name, what);
}

void tu_assert_bitwise(const tu_buf *got, const tu_buf *want, const char *what)
{
    cr_assert(tu_guards_ok(got), "%s: guard overwritten", what);
    cr_assert(tu_bytes_equal(got, want), "%s: results differ", what);
}

double tu_fd_step(double x) { return 1e-6 * fmax(1.0, fabs(x)); }

void tu_expect_loss_fd(const char *name, sigfuse_ctx *ctx, tu_loss_at loss_at, void *problem, bool elementwise,
                       tu_buf *x, const tu_buf *y, const tu_buf *dx, double grad_scale, const tu_buf *dloss_in)
{
    const int64_t n = x->n, nloss = elementwise ? n : 1;
    tu_buf lp = tu_alloc(SIGFUSE_F64, nloss), lm = tu_alloc(SIGFUSE_F64, nloss);
    double *x0 = malloc((size_t)n * sizeof *x0), *h = malloc((size_t)n * sizeof *h);
    cr_assert(x0 && h);
    for (int64_t i = 0; i < n; i++) {
        x0[i] = tu_get(x, i);
        h[i] = tu_fd_step(x0[i]);
    }
    int64_t passes = elementwise ? 1 : n;
    for (int64_t k = 0; k < passes; k++) {
        for (int64_t i = 0; i < n; i++)
            if (elementwise || i == k)
                tu_set(x, i, x0[i] + h[i]);
        loss_at(ctx, problem, &lp);
        for (int64_t i = 0; i < n; i++)
            if (elementwise || i == k)
                tu_set(x, i, x0[i] - h[i]);
        loss_at(ctx, problem, &lm);
        for (int64_t i = 0; i < n; i++)
            tu_set(x, i, x0[i]);
        for (int64_t i = 0; i < n; i++) {
            if (!elementwise && i != k)
                continue;
            int64_t li = elementwise ? i : 0;
            double fp = tu_get(&lp, li), fm = tu_get(&lm, li);
            double factor = grad_scale * (dloss_in ? tu_get(dloss_in, li) : 1.0);
            /* The actual step is (x0 + h) - (x0 - h) as rounded to double. */
            double step = (x0[i] + h[i]) - (x0[i] - h[i]);
            double fd = factor * (fp - fm) / step;
            double got = tu_get(dx, i);
            /* Central differences: truncation ~h^2, far below 1e-6; rounding ~1e-16 |f| / h. */
            double tol = 1e-6 * fabs(fd) + 2e-14 * (fabs(fp) + fabs(fm) + 1.0) / step * fabs(factor) + 1e-13;
            cr_expect(fabs(got - fd) <= tol, "%s: dlogits[%lld] = %.15g, finite difference %.15g (x = %g, y = %g)",
                      name, (long long)i, got, fd, x0[i], tu_get(y, i));
        }
    }
    free(x0);
    free(h);
    tu_free(&lp);
    tu_free(&lm);
}
