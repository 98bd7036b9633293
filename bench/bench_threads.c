/* SPDX-License-Identifier: MIT */
/*
 * sigfuse-bench: the last failure's message, and the host threads the generator, the
 * reference and the comparisons split their rows over.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

#include "bench_internal.h"

/* Smallest work worth a thread of its own (overridable, to test the splitting on tiny
 * sizes). */
#ifndef PIECE_GRAIN
#define PIECE_GRAIN 1048576.0
#endif

/* ---- Errors and threads -------------------------------------------------------------------- */

/* Shorter than a row's note, which quotes it after a few words. */
static char error_message[400];

bool bench_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error_message, sizeof error_message, fmt, ap);
    va_end(ap);
    return false;
}

const char *bench_last_error(void) { return error_message; }

int bench_thread_count = 1;


typedef struct piece_task {
    piece_fn fn;
    void *arg;
    int piece;
    int64_t begin, end;
} piece_task;

static void *piece_main(void *p)
{
    piece_task *t = p;
    t->fn(t->arg, t->piece, t->begin, t->end);
    return NULL;
}

/* How many pieces n items of `cost` each are worth: at least PIECE_GRAIN of work each. */
int bench_pieces_for(int64_t n, double cost)
{
    double want = (double)n * cost / PIECE_GRAIN;
    int pieces = want >= bench_thread_count ? bench_thread_count : (int)want;
    if ((int64_t)pieces > n)
        pieces = (int)n;
    return pieces < 1 ? 1 : pieces;
}

/* Run fn on `pieces` contiguous ranges of [0, n), in parallel. */
void bench_run_pieces(int pieces, int64_t n, piece_fn fn, void *arg)
{
    piece_task task[MAX_THREADS];
    pthread_t thread[MAX_THREADS];
    bool started[MAX_THREADS] = {false};
    for (int p = 0; p < pieces; p++)
        task[p] = (piece_task){fn, arg, p, n * p / pieces, n * (p + 1) / pieces};
    for (int p = 1; p < pieces; p++)
        started[p] = pthread_create(&thread[p], NULL, piece_main, &task[p]) == 0;
    piece_main(&task[0]);
    for (int p = 1; p < pieces; p++) {
        if (started[p])
            pthread_join(thread[p], NULL);
        else
            piece_main(&task[p]);
    }
}
