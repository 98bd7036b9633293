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

#include "sigfuse.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The elementwise ops, all served by one backend entry. */
typedef enum sf_ew_op {
    SF_EW_SIGMOID_FWD,      /* in: x        out: y        */
    SF_EW_SIGMOID_BWD,      /* in: y, dy    out: dx       */
    SF_EW_LOG_SIGMOID_FWD,  /* in: x        out: y        */
    SF_EW_LOG_SIGMOID_BWD,  /* in: x, dy    out: dx       */
    SF_EW_SILU_FWD,         /* in: x        out: y        (beta) */
    SF_EW_SILU_BWD,         /* in: x, dy    out: dx       (beta) */
    SF_EW_GLU_FWD,          /* in: a, b     out: y        */
    SF_EW_GLU_BWD,          /* in: a, b, dy out: da?, db? */
    SF_EW_SWIGLU_FWD,       /* in: a, b     out: y        (beta) */
    SF_EW_SWIGLU_BWD,       /* in: a, b, dy out: da?, db? (beta) */
    SF_EW_COUNT
} sf_ew_op;

/* Name of an elementwise op as the public API spells it ("sigmoid_forward"). */
const char *sf_ew_op_name(sf_ew_op op);

typedef struct sf_ew_call {
    sf_ew_op op;
    int64_t n;
    float beta;                     /* silu / swiglu only */
    const sigfuse_buffer *in[3];    /* inputs in the order listed above; unused: NULL */
    const sigfuse_buffer *out[2];   /* outputs; out[1] is db for *_BWD of glu/swiglu */
} sf_ew_call;

typedef struct sf_backend_ops {
    void (*destroy)(sigfuse_ctx *ctx);
    sigfuse_status (*synchronize)(sigfuse_ctx *ctx);
    /* Extra per-buffer check (e.g. a cl_mem's size against offset + bytes); may be NULL.
     * Its messages start with the op's and the buffer's names. */
    sigfuse_status (*check_buffer)(sigfuse_ctx *ctx, const char *op, const char *name,
                                   const sigfuse_buffer *buf, size_t bytes);

    sigfuse_status (*elementwise)(sigfuse_ctx *ctx, const sf_ew_call *call);
    sigfuse_status (*lstm_forward)(sigfuse_ctx *ctx, const sigfuse_lstm_forward_args *a);
    sigfuse_status (*lstm_backward)(sigfuse_ctx *ctx, const sigfuse_lstm_backward_args *a);
    sigfuse_status (*gru_forward)(sigfuse_ctx *ctx, const sigfuse_gru_forward_args *a);
    sigfuse_status (*gru_backward)(sigfuse_ctx *ctx, const sigfuse_gru_backward_args *a);
    sigfuse_status (*bce)(sigfuse_ctx *ctx, const sigfuse_bce_args *a);
    sigfuse_status (*focal)(sigfuse_ctx *ctx, const sigfuse_focal_args *a);

    /* Workspace bytes for chunks of chunk_rows rows: 1 <= chunk_rows <= n, or chunk_rows
     * == 0 when n == 0. SIZE_MAX when the count overflows size_t. */
    size_t (*head_predict_workspace)(sigfuse_ctx *ctx, const sigfuse_head_predict_args *a,
                                     int64_t chunk_rows);
    size_t (*head_train_workspace)(sigfuse_ctx *ctx, const sigfuse_head_train_args *a,
                                   int64_t chunk_rows);
    sigfuse_status (*head_predict)(sigfuse_ctx *ctx, const sigfuse_head_predict_args *a);
    sigfuse_status (*head_train)(sigfuse_ctx *ctx, const sigfuse_head_train_args *a);
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
extern const sf_backend_ops sf_ref_ops;
sigfuse_status sf_ref_ctx_create(sigfuse_ctx **ctx);

/* Reference ops (host/ref_*.c). */
sigfuse_status sf_ref_activation(sigfuse_ctx *ctx, const sf_ew_call *call); /* sigmoid, log_sigmoid, silu */
sigfuse_status sf_ref_glu(sigfuse_ctx *ctx, const sf_ew_call *call);        /* glu, swiglu */
sigfuse_status sf_ref_lstm_forward(sigfuse_ctx *ctx, const sigfuse_lstm_forward_args *a);
sigfuse_status sf_ref_lstm_backward(sigfuse_ctx *ctx, const sigfuse_lstm_backward_args *a);
sigfuse_status sf_ref_gru_forward(sigfuse_ctx *ctx, const sigfuse_gru_forward_args *a);
sigfuse_status sf_ref_gru_backward(sigfuse_ctx *ctx, const sigfuse_gru_backward_args *a);
sigfuse_status sf_ref_bce(sigfuse_ctx *ctx, const sigfuse_bce_args *a);
sigfuse_status sf_ref_focal(sigfuse_ctx *ctx, const sigfuse_focal_args *a);
size_t sf_ref_head_predict_workspace(sigfuse_ctx *ctx, const sigfuse_head_predict_args *a,
                                     int64_t chunk_rows);
size_t sf_ref_head_train_workspace(sigfuse_ctx *ctx, const sigfuse_head_train_args *a,
                                   int64_t chunk_rows);
sigfuse_status sf_ref_head_predict(sigfuse_ctx *ctx, const sigfuse_head_predict_args *a);
sigfuse_status sf_ref_head_train(sigfuse_ctx *ctx, const sigfuse_head_train_args *a);
/* The same heads as a head of dtype `head` defines them (its logits' dot products rounded
 * to f16 / bf16), whatever the buffers' dtype: the device suites' truth, computed on f64
 * copies of a 16-bit head's inputs. The op itself passes its own dtype. */
sigfuse_status sf_ref_head_predict_as(sigfuse_ctx *ctx, const sigfuse_head_predict_args *a, sigfuse_dtype head);
sigfuse_status sf_ref_head_train_as(sigfuse_ctx *ctx, const sigfuse_head_train_args *a, sigfuse_dtype head);

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
