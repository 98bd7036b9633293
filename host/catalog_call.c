/* SPDX-License-Identifier: MIT */
/*
 * Any op called by its catalogue id on an args struct (sf_op_call), for code that walks
 * the catalogue: the device test suite and the benchmark. It sits above the public calls
 * (api.c), which themselves read the catalogue (catalog.c), so that no two files call
 * each other.
 */
#include "sf_internal.h"

/* The C call: loose arguments for the elementwise ops (ctx, n, [beta], buffers), the
 * struct for the others. */
#define SKIP_WS_(f, bytes)
#define ARG_SIZE_(f) , p->f
#define ARG_OPT_(f, type, fallback, rule) , p->f
#define ARG_BUF_(f, role, dir, count, shape, presence) , p->f
#define CALL_EW(name) sigfuse_##name(ctx SF_FIELDS_##name(ARG_SIZE_, ARG_OPT_, ARG_BUF_, SKIP_WS_))
#define CALL_STRUCT(name) sigfuse_##name(ctx, p)
#define CALL_LSTM CALL_STRUCT
#define CALL_GRU CALL_STRUCT
#define CALL_LOSS CALL_STRUCT
#define CALL_HEAD CALL_STRUCT
#define CALL_MERGE CALL_STRUCT

#define CASE_(name, family, shape, args)                                                                               \
    case SF_OP_##name: {                                                                                               \
        const args *p = (const args *)a;                                                                               \
        return CALL_##shape(name);                                                                                     \
    }

sigfuse_status sf_op_call(sigfuse_ctx *ctx, sf_op op, const void *a)
{
    switch (op) {
        SF_CATALOG(CASE_)
    case SF_OP_COUNT: break;
    }
    return SIGFUSE_ERR_INVALID_ARGUMENT;
}
