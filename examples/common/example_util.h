/* SPDX-License-Identifier: MIT */
/*
 * Small helpers the examples share: messages that name the program, allocation that
 * cannot return NULL, a portable random stream and a clock.
 */
#ifndef SIGFUSE_EXAMPLE_UTIL_H
#define SIGFUSE_EXAMPLE_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "sigfuse.h"

/* The program's name, prefixed to every message ("example" until main sets it). */
extern const char *example_program;

/* "program: message" on stderr, then exit(1). */
_Noreturn void example_die(const char *fmt, ...);
/* Dies unless st is SIGFUSE_SUCCESS: "program: what: status: the context's last error". */
void example_check(sigfuse_ctx *ctx, sigfuse_status st, const char *what);
/* calloc of at least one element; dies when out of memory. */
void *example_xcalloc(size_t n, size_t size);

/* splitmix64: the same numbers on every platform for a seed, unlike rand(). */
typedef struct example_rng {
    uint64_t s;
} example_rng;

uint64_t example_rng_next(example_rng *r);
/* 53 random bits in [0, 1). */
double example_rng_uniform(example_rng *r);

/* Wall-clock seconds (for durations). */
double example_now_s(void);

#endif
