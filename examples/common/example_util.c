/* SPDX-License-Identifier: MIT */
/* The examples' small helpers: see example_util.h. */
#include "example_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "kit.h"

const char *example_program = "example";

void example_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", example_program);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

void example_check(sigfuse_ctx *ctx, sigfuse_status st, const char *what)
{
    if (st != SIGFUSE_SUCCESS)
        example_die("%s: %s: %s", what, sigfuse_status_string(st), sigfuse_ctx_last_error(ctx));
}

void *example_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        example_die("out of memory (%zu x %zu bytes)", n, size);
    return p;
}

uint64_t example_rng_next(example_rng *r) { return kit_splitmix64(&r->s); }

double example_rng_uniform(example_rng *r) { return (double)(example_rng_next(r) >> 11) * 0x1.0p-53; }

double example_now_s(void)
{
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
