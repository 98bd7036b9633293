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
