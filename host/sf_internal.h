/* SPDX-License-Identifier: MIT */
/*
 * Internal: what the host side shares with the backends. A backend is a table of
 * functions (sf_backend_ops) that receives arguments already checked by host/check.c;
 * a NULL entry means "not implemented" and the caller gets SIGFUSE_ERR_UNSUPPORTED.
 */
#ifndef SF_INTERNAL_H
#define SF_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>

#include "sf_catalog.h"
#include "sigfuse.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An elementwise call as the backends receive it: the op's inputs and outputs in the
 * catalogue's order (sf_catalog.h); absent optional outputs are NULL. */
typedef struct sf_ew_call {
    sf_op op;
    int64_t n;
    float beta;                     /* silu / swiglu only (1 for the others) */
    const sigfuse_buffer *in[3];
    const sigfuse_buffer *out[2];
} sf_ew_call;

/* A backend's entry for each op that is not elementwise is a field of sf_backend_ops named
 * as the op, taking the op's args struct. A backend's table fills them all with
 * SF_CATALOG(ENTRY), where its ENTRY(name, family, shape, args) is
 * SF_OP_ENTRY_##shape(name, <its function for the op>) (the backends call theirs
 * sf_<backend>_<op>), so that a new op in the catalogue needs no line in any table. */
#define SF_OP_ENTRY_FIELD_(name, family, shape, args) SF_OP_ENTRY_FIELD_##shape(name, args)
#define SF_OP_ENTRY_FIELD_EW(name, args)
#define SF_OP_ENTRY_FIELD_STRUCT_(name, args) sigfuse_status (*name)(sigfuse_ctx *ctx, const args *a);
#define SF_OP_ENTRY_FIELD_LSTM SF_OP_ENTRY_FIELD_STRUCT_
#define SF_OP_ENTRY_FIELD_GRU SF_OP_ENTRY_FIELD_STRUCT_
#define SF_OP_ENTRY_FIELD_LOSS SF_OP_ENTRY_FIELD_STRUCT_
#define SF_OP_ENTRY_FIELD_HEAD SF_OP_ENTRY_FIELD_STRUCT_
#define SF_OP_ENTRY_FIELD_MERGE SF_OP_ENTRY_FIELD_STRUCT_
/* A backend declares its functions for those ops alike: SF_CATALOG(DECL), its DECL being
 * SF_OP_DECL_##shape(<its function for the op>, args). */
#define SF_OP_DECL_EW(fn, args)
#define SF_OP_DECL_STRUCT_(fn, args) sigfuse_status fn(sigfuse_ctx *ctx, const args *a);
#define SF_OP_DECL_LSTM SF_OP_DECL_STRUCT_
#define SF_OP_DECL_GRU SF_OP_DECL_STRUCT_
#define SF_OP_DECL_LOSS SF_OP_DECL_STRUCT_
#define SF_OP_DECL_HEAD SF_OP_DECL_STRUCT_
#define SF_OP_DECL_MERGE SF_OP_DECL_STRUCT_
#define SF_OP_ENTRY_EW(name, fn)
#define SF_OP_ENTRY_STRUCT_(name, fn) .name = fn,
#define SF_OP_ENTRY_LSTM SF_OP_ENTRY_STRUCT_
#define SF_OP_ENTRY_GRU SF_OP_ENTRY_STRUCT_
#define SF_OP_ENTRY_LOSS SF_OP_ENTRY_STRUCT_
#define SF_OP_ENTRY_HEAD SF_OP_ENTRY_STRUCT_
#define SF_OP_ENTRY_MERGE SF_OP_ENTRY_STRUCT_

typedef struct sf_backend_ops {
    void (*destroy)(sigfuse_ctx *ctx);
    /* Wait for everything enqueued on the context's stream or queue; NULL: nothing to wait for. */
    sigfuse_status (*wait)(sigfuse_ctx *ctx);
    /* Extra per-buffer check (e.g. a cl_mem's size against offset + bytes); may be NULL.
     * Its messages start with the op's and the buffer's names. */
    sigfuse_status (*check_buffer)(sigfuse_ctx *ctx, const char *op, const char *name,
                                   const sigfuse_buffer *buf, size_t bytes);

    /* One entry per elementwise family (the catalogue's family of each elementwise op),
     * then one per other op of the catalogue, named as the op is. */
    sigfuse_status (*activation)(sigfuse_ctx *ctx, const sf_ew_call *call);
    sigfuse_status (*glu)(sigfuse_ctx *ctx, const sf_ew_call *call);
    SF_CATALOG(SF_OP_ENTRY_FIELD_)

    /* Workspace bytes for chunks of chunk_rows rows: 1 <= chunk_rows <= n, or chunk_rows
     * == 0 when n == 0. SIZE_MAX when the count overflows size_t. */
    size_t (*head_predict_workspace)(sigfuse_ctx *ctx, const sigfuse_head_predict_args *a,
                                     int64_t chunk_rows);
    size_t (*head_train_step_workspace)(sigfuse_ctx *ctx, const sigfuse_head_train_args *a,
                                        int64_t chunk_rows);
    size_t (*head_topk_workspace)(sigfuse_ctx *ctx, const sigfuse_head_topk_args *a, int64_t chunk_rows);
} sf_backend_ops;

#define SF_MESSAGE_SIZE 2048

struct sigfuse_ctx {
    sigfuse_backend backend;
    sigfuse_memory memory;
    const sf_backend_ops *ops;
    void *impl;                         /* the backend's own state */
    char device_name[256];
    char message[SF_MESSAGE_SIZE];      /* last failure, "" after a successful call */
};

/* Return the status of expr unless it is SIGFUSE_SUCCESS. */
#define SF_TRY(expr)                                                                                                   \
    do {                                                                                                               \
        sigfuse_status sf_try_status_ = (expr);                                                                        \
        if (sf_try_status_ != SIGFUSE_SUCCESS)                                                                         \
            return sf_try_status_;                                                                                     \
    } while (0)

/* Record a failure on ctx (printf-style message) and return status. */
sigfuse_status sf_fail(sigfuse_ctx *ctx, sigfuse_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
sigfuse_status sf_vfail(sigfuse_ctx *ctx, sigfuse_status status, const char *fmt, va_list ap);

/* Record a failure of context creation (no context exists yet). */
sigfuse_status sf_create_fail(sigfuse_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Allocate a zeroed context for a backend; NULL when out of memory. */
sigfuse_ctx *sf_ctx_alloc(sigfuse_backend backend, sigfuse_memory memory,
                          const sf_backend_ops *ops);

/* ---- Host-memory element access, for the reference backend and the tests. ---------
 * Element i of a host buffer as a double (u8: 0 or 1, any non-zero byte reading 1), and
 * a double stored with one rounding (round to nearest even) into the buffer's dtype. */
double sf_host_load(const sigfuse_buffer *b, int64_t i);
void sf_host_store(const sigfuse_buffer *b, int64_t i, double v);
/* Round a double to the nearest f16 / bf16 / f32 value (ties to even), as a double. */
double sf_round_to_dtype(double v, sigfuse_dtype dtype);

/* ---- Backends. Each creator fills ctx->impl, ctx->device_name; the reference never
 * fails except for memory. */
extern const sf_backend_ops sf_ref_ops;   /* ref/backend.c; its contexts are made in ctx.c */

/* Reference ops (ref/<family>.c). */
sigfuse_status sf_ref_activation(sigfuse_ctx *ctx, const sf_ew_call *call); /* sigmoid, log_sigmoid, silu */
sigfuse_status sf_ref_glu(sigfuse_ctx *ctx, const sf_ew_call *call);        /* glu, swiglu */
#define SF_REF_DECL_(name, family, shape, args) SF_OP_DECL_##shape(sf_ref_##name, args)
SF_CATALOG(SF_REF_DECL_)
size_t sf_ref_head_predict_workspace(sigfuse_ctx *ctx, const sigfuse_head_predict_args *a,
                                     int64_t chunk_rows);
size_t sf_ref_head_train_step_workspace(sigfuse_ctx *ctx, const sigfuse_head_train_args *a,
                                   int64_t chunk_rows);
/* Z[i, j] of a head of dtype `head` as the reference defines it (ref/head.c). */
double sf_ref_head_logit(const sigfuse_buffer *x, const sigfuse_buffer *w, const sigfuse_buffer *bias, int64_t d,
                         int64_t i, int64_t j, sigfuse_dtype head);
size_t sf_ref_head_topk_workspace(sigfuse_ctx *ctx, const sigfuse_head_topk_args *a, int64_t chunk_rows);
/* The first error in a head's CSR positives (sigfuse.h: offsets from 0 to nnz, never
 * decreasing; each row's ids strictly increasing, in [0, total_labels)), read from host
 * copies, as a message after "op: " into msg; false when there is none. Every backend
 * checks with it (the devices on their copies), so the messages are the same. */
bool sf_csr_error(const sigfuse_buffer *offsets, const sigfuse_buffer *labels, int64_t n, int64_t nnz,
                  int64_t total_labels, char *msg, size_t size);
/* The order of head_topk and topk_merge: does (logit a, id ia) come before (b, ib)? */
bool sf_topk_before(double a, int64_t ia, double b, int64_t ib);
/* The bits that hold v (0 for 0): the width of a top-k key's id or place field, for the
 * largest of them. */
uint32_t sf_bit_length(uint64_t v);
/* The same heads as a head of dtype `head` defines them (its logits' dot products rounded
 * to f16 / bf16), whatever the buffers' dtype: the device suites' truth, computed on f64
 * copies of a 16-bit head's inputs. The op itself passes its own dtype. */
sigfuse_status sf_ref_head_predict_as(sigfuse_ctx *ctx, const sigfuse_head_predict_args *a, sigfuse_dtype head);
sigfuse_status sf_ref_head_train_step_as(sigfuse_ctx *ctx, const sigfuse_head_train_args *a, sigfuse_dtype head);

/* Device backends: defined in cuda/ and opencl/ when built (SIGFUSE_WITH_CUDA /
 * SIGFUSE_WITH_OPENCL), otherwise the host side answers SIGFUSE_ERR_NOT_BUILT. */
sigfuse_status sf_cuda_available(void);
sigfuse_status sf_cuda_ctx_create(sigfuse_ctx **ctx, int device, void *stream);
sigfuse_status sf_cuda_set_stream(sigfuse_ctx *ctx, void *stream);
sigfuse_status sf_cuda_get_stream(const sigfuse_ctx *ctx, void **stream);
sigfuse_status sf_opencl_available(void);
sigfuse_status sf_opencl_ctx_create_default(sigfuse_ctx **ctx);
sigfuse_status sf_opencl_ctx_create(sigfuse_ctx **ctx, void *queue);
sigfuse_status sf_opencl_set_queue(sigfuse_ctx *ctx, void *queue);
sigfuse_status sf_opencl_get_queue(const sigfuse_ctx *ctx, void **queue);

#ifdef __cplusplus
}
#endif

#endif /* SF_INTERNAL_H */
