/* SPDX-License-Identifier: MIT */
/*
 * sigfuse: fused sigmoid-family kernels (activations, losses, multi-label heads,
 * recurrent gates), forward and backward, behind one C API with three backends:
 * the CPU reference (the definition of every op), CUDA and OpenCL.
 *
 * This header needs no GPU SDK and is clean C99 and C++. Backend-specific context
 * creation lives in sigfuse_cuda.h and sigfuse_opencl.h.
 *
 * Conventions shared by every op:
 *  - Every call returns a sigfuse_status; the context keeps a message describing the
 *    last failure (sigfuse_ctx_last_error). A failing call writes no output.
 *  - Memory belongs to the caller. A buffer is described by sigfuse_buffer: where it
 *    lives (host, CUDA device, OpenCL cl_mem + byte offset) and its element dtype.
 *    Optional inputs and outputs are passed as NULL descriptor pointers ("absent").
 *  - Shapes are row-major [rows, cols]; per-column vectors have cols elements.
 *  - Sizes are int64_t; zero-sized ops succeed and touch nothing (their buffers may
 *    then hold NULL pointers), except what does not shrink with the size: a reduced
 *    loss over an empty tensor is still written (SUM 0, MEAN NaN), and a bias gradient
 *    over zero rows is written as zeros.
 *  - In place: for the activations, GLU/SwiGLU, the losses and the recurrent cells an
 *    output may be the very buffer (same start, size and dtype) of an input of the same
 *    shape and role as this header states them: y on x; dx on dy; da on a; c on c_prev,
 *    h on h_prev, dgates on gates_x, dbias on bias; dlogits, probs or a loss of NONE on
 *    logits, weight or dloss_in ([rows, cols] floats; not on targets). Equal bytes are not
 *    enough: c [batch, hidden] on bias [4 hidden] at batch = 4 is rejected. A reduced
 *    scalar (loss, dloss_in) is never in place. The heads' outputs and workspace must not
 *    overlap their inputs at all. Partial overlaps and outputs sharing memory are never
 *    allowed. All of this is checked (SIGFUSE_ERR_INVALID_ARGUMENT, naming both buffers
 *    and their shapes), except between two different cl_mem handles, whose sharing
 *    (sub-buffers) is not visible.
 *  - Work is ordered on the context's stream/queue; no op synchronises the host unless
 *    it is the CPU backend (which runs synchronously).
 */
#ifndef SIGFUSE_H
#define SIGFUSE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SIGFUSE_VERSION_MAJOR 0
#define SIGFUSE_VERSION_MINOR 1
#define SIGFUSE_VERSION_PATCH 0
/* One number that grows with every release: major*10000 + minor*100 + patch. */
#define SIGFUSE_VERSION_NUMBER \
    (SIGFUSE_VERSION_MAJOR * 10000 + SIGFUSE_VERSION_MINOR * 100 + SIGFUSE_VERSION_PATCH)

#if defined(_WIN32) && defined(SIGFUSE_SHARED_BUILD)
#define SIGFUSE_API __declspec(dllexport)
#elif defined(__GNUC__)
#define SIGFUSE_API __attribute__((visibility("default")))
#else
#define SIGFUSE_API
#endif

/* Status codes. The numbers are part of the ABI and never change once published. */
typedef enum sigfuse_status {
    SIGFUSE_SUCCESS = 0,
    SIGFUSE_ERR_NULL_ARGUMENT = 1,       /* a required pointer or buffer is NULL */
    SIGFUSE_ERR_INVALID_SIZE = 2,        /* a size is negative, or a byte count overflows */
    SIGFUSE_ERR_INVALID_DTYPE = 3,       /* a buffer's dtype is not accepted by the op */
    SIGFUSE_ERR_INVALID_OPTION = 4,      /* an option is out of range (label smoothing, gamma...) */
    SIGFUSE_ERR_WRONG_MEMORY = 5,        /* a buffer lives in memory the context's backend cannot use */
    SIGFUSE_ERR_INVALID_ARGUMENT = 6,    /* any other bad argument (no output requested, bad enum...) */
    SIGFUSE_ERR_NOT_BUILT = 7,           /* the backend was not compiled into this library */
    SIGFUSE_ERR_NO_DEVICE = 8,           /* the backend is built but no usable device was found */
    SIGFUSE_ERR_UNSUPPORTED = 9,         /* the backend does not implement this op or option */
    SIGFUSE_ERR_OUT_OF_MEMORY = 10,      /* an allocation of the library's own failed */
    SIGFUSE_ERR_INSUFFICIENT_WORKSPACE = 11, /* the caller's workspace is smaller than the op needs */
    SIGFUSE_ERR_BACKEND = 12,            /* the CUDA / cuBLAS / OpenCL / CLBlast runtime reported an error */
    SIGFUSE_ERR_PROGRAM_BUILD = 13       /* an OpenCL program failed to build (the message has the log) */
} sigfuse_status;

/* A short fixed description of a status ("invalid dtype"); never NULL. */
SIGFUSE_API const char *sigfuse_status_string(sigfuse_status status);

/* The library's version as "major.minor.patch", and its number (SIGFUSE_VERSION_NUMBER
 * of the library actually loaded, which may differ from the header's). */
SIGFUSE_API const char *sigfuse_version(void);
SIGFUSE_API int sigfuse_version_number(void);

/* Storage dtypes. Devices compute in f32, the reference in double; f16 and bf16 are
 * storage formats rounded to nearest even on store. u8 is accepted for targets (0 or 1;
 * any non-zero byte reads as 1) and for thresholded-label outputs only.
 * f64 is accepted by the CPU reference backend only (to check gradients in double);
 * the device backends answer SIGFUSE_ERR_UNSUPPORTED for it. */
typedef enum sigfuse_dtype {
    SIGFUSE_F32 = 1,
    SIGFUSE_F16 = 2,
    SIGFUSE_BF16 = 3,
    SIGFUSE_U8 = 4,
    SIGFUSE_F64 = 5,
    SIGFUSE_I32 = 6,   /* label ids and CSR offsets (sparse heads, top-k) */
    SIGFUSE_I64 = 7
} sigfuse_dtype;

/* Size in bytes of one element of the dtype (0 for an unknown value). */
SIGFUSE_API size_t sigfuse_dtype_size(sigfuse_dtype dtype);
/* "f32", "f16", "bf16", "u8", "f64", "i32", "i64", or "unknown". */
SIGFUSE_API const char *sigfuse_dtype_name(sigfuse_dtype dtype);

/* Conversions between float and the 16-bit storage formats, as the library does them:
 * round to nearest, ties to even; NaN stays NaN, overflow goes to infinity. */
SIGFUSE_API uint16_t sigfuse_float_to_f16(float v);
SIGFUSE_API float sigfuse_f16_to_float(uint16_t bits);
SIGFUSE_API uint16_t sigfuse_float_to_bf16(float v);
SIGFUSE_API float sigfuse_bf16_to_float(uint16_t bits);

/* Where a buffer's memory lives. */
typedef enum sigfuse_memory {
    SIGFUSE_MEMORY_HOST = 1,   /* ordinary host memory (the CPU backend) */
    SIGFUSE_MEMORY_CUDA = 2,   /* a CUDA device pointer */
    SIGFUSE_MEMORY_OPENCL = 3  /* a cl_mem handle plus a byte offset */
} sigfuse_memory;

/* A caller-owned buffer: the address of element 0 is `ptr` + `offset` bytes for host
 * and CUDA memory, and byte `offset` inside the cl_mem `ptr` for OpenCL. Build one with
 * the constructors below (or sigfuse_opencl_buffer in sigfuse_opencl.h). */
typedef struct sigfuse_buffer {
    sigfuse_memory memory;
    sigfuse_dtype dtype;
    void *ptr;
    size_t offset;
} sigfuse_buffer;

static inline sigfuse_buffer sigfuse_host_buffer(const void *ptr, sigfuse_dtype dtype)
{
    sigfuse_buffer b;
    b.memory = SIGFUSE_MEMORY_HOST;
    b.dtype = dtype;
    b.ptr = (void *)ptr;
    b.offset = 0;
    return b;
}

static inline sigfuse_buffer sigfuse_cuda_buffer(const void *device_ptr, sigfuse_dtype dtype)
{
    sigfuse_buffer b;
    b.memory = SIGFUSE_MEMORY_CUDA;
    b.dtype = dtype;
    b.ptr = (void *)device_ptr;
    b.offset = 0;
    return b;
}

/* Backends. */
typedef enum sigfuse_backend {
    SIGFUSE_BACKEND_CPU = 1,
    SIGFUSE_BACKEND_CUDA = 2,
    SIGFUSE_BACKEND_OPENCL = 3
} sigfuse_backend;

/* "cpu", "cuda", "opencl", or "unknown". */
SIGFUSE_API const char *sigfuse_backend_name(sigfuse_backend backend);

/* SIGFUSE_SUCCESS when the backend is built and has a device, else
 * SIGFUSE_ERR_NOT_BUILT or SIGFUSE_ERR_NO_DEVICE. Never crashes. */
SIGFUSE_API sigfuse_status sigfuse_backend_available(sigfuse_backend backend);

/* A context owns a backend, a device and a stream/queue, plus any small scratch the
 * backend reserves once (e.g. reduction partials). Contexts are not thread-safe: use
 * one per thread (or serialise calls). */
typedef struct sigfuse_ctx sigfuse_ctx;

/* Create a context on the given backend's default device (device index 0 for CUDA with
 * the legacy default stream; for OpenCL the platform/device named by SIGFUSE_OPENCL_*
 * environment variables, else the first GPU, else the first device). On failure *ctx
 * is set to NULL. Backend-specific creators with a caller's stream or queue are in
 * sigfuse_cuda.h and sigfuse_opencl.h. */
SIGFUSE_API sigfuse_status sigfuse_ctx_create(sigfuse_ctx **ctx, sigfuse_backend backend);
/* Destroying NULL is a no-op. Does not free any caller memory. */
SIGFUSE_API void sigfuse_ctx_destroy(sigfuse_ctx *ctx);
SIGFUSE_API sigfuse_backend sigfuse_ctx_backend(const sigfuse_ctx *ctx);
/* The memory kind the context's buffers must use. */
SIGFUSE_API sigfuse_memory sigfuse_ctx_memory(const sigfuse_ctx *ctx);
/* A description of the device ("cpu reference", "NVIDIA H100 80GB HBM3"...). */
SIGFUSE_API const char *sigfuse_ctx_device_name(const sigfuse_ctx *ctx);
/* The detail of the last call on this context if it failed ("" if it succeeded), naming
 * the op and the argument: "bce_with_logits: targets: dtype u8 is not allowed with
 * label_smoothing > 0". A failed context creation has no context: its message is
 * sigfuse_last_create_error(). */
SIGFUSE_API const char *sigfuse_ctx_last_error(const sigfuse_ctx *ctx);
/* The message of the last failed sigfuse_ctx_create* call on this thread. */
SIGFUSE_API const char *sigfuse_last_create_error(void);
/* Wait until all work enqueued through the context has finished. */
SIGFUSE_API sigfuse_status sigfuse_ctx_synchronize(sigfuse_ctx *ctx);

/* ------------------------------------------------------------------------------------
 * Activations, elementwise over n elements. x, y, dy, dx share one float dtype.
 * Backward of sigmoid takes the saved output y; the others take the input x.
 * ------------------------------------------------------------------------------------ */

/* y = sigmoid(x) */
SIGFUSE_API sigfuse_status sigfuse_sigmoid_forward(sigfuse_ctx *ctx, int64_t n,
                                                   const sigfuse_buffer *x,
                                                   const sigfuse_buffer *y);
/* dx = dy * y * (1 - y) */
SIGFUSE_API sigfuse_status sigfuse_sigmoid_backward(sigfuse_ctx *ctx, int64_t n,
                                                    const sigfuse_buffer *y,
                                                    const sigfuse_buffer *dy,
                                                    const sigfuse_buffer *dx);
/* y = log(sigmoid(x)) = -softplus(-x) */
SIGFUSE_API sigfuse_status sigfuse_log_sigmoid_forward(sigfuse_ctx *ctx, int64_t n,
                                                       const sigfuse_buffer *x,
                                                       const sigfuse_buffer *y);
/* dx = dy * sigmoid(-x) */
SIGFUSE_API sigfuse_status sigfuse_log_sigmoid_backward(sigfuse_ctx *ctx, int64_t n,
                                                        const sigfuse_buffer *x,
                                                        const sigfuse_buffer *dy,
                                                        const sigfuse_buffer *dx);
/* Swish-beta: y = x * sigmoid(beta * x); beta = 1 is SiLU. beta must be finite. */
SIGFUSE_API sigfuse_status sigfuse_silu_forward(sigfuse_ctx *ctx, int64_t n, float beta,
                                                const sigfuse_buffer *x,
                                                const sigfuse_buffer *y);
/* dx = dy * (sigmoid(beta x) + beta x sigmoid(beta x) sigmoid(-beta x)) */
SIGFUSE_API sigfuse_status sigfuse_silu_backward(sigfuse_ctx *ctx, int64_t n, float beta,
                                                 const sigfuse_buffer *x,
                                                 const sigfuse_buffer *dy,
                                                 const sigfuse_buffer *dx);

/* ------------------------------------------------------------------------------------
 * Gated linear units, elementwise over n pairs (a, b) in two dense tensors of one dtype.
 * glu: y = a * sigmoid(b).  swiglu: y = a * b * sigmoid(beta * b) (beta = 1: SwiGLU).
 * ------------------------------------------------------------------------------------ */
SIGFUSE_API sigfuse_status sigfuse_glu_forward(sigfuse_ctx *ctx, int64_t n,
                                               const sigfuse_buffer *a,
                                               const sigfuse_buffer *b,
                                               const sigfuse_buffer *y);
/* da = dy * sigmoid(b); db = dy * a * sigmoid(b) * sigmoid(-b). da or db may be absent
 * (NULL) but not both. */
SIGFUSE_API sigfuse_status sigfuse_glu_backward(sigfuse_ctx *ctx, int64_t n,
                                                const sigfuse_buffer *a,
                                                const sigfuse_buffer *b,
                                                const sigfuse_buffer *dy,
                                                const sigfuse_buffer *da,
                                                const sigfuse_buffer *db);
SIGFUSE_API sigfuse_status sigfuse_swiglu_forward(sigfuse_ctx *ctx, int64_t n, float beta,
                                                  const sigfuse_buffer *a,
                                                  const sigfuse_buffer *b,
                                                  const sigfuse_buffer *y);
/* da = dy * silu_beta(b); db = dy * a * silu_beta'(b). da or db may be absent, not both. */
SIGFUSE_API sigfuse_status sigfuse_swiglu_backward(sigfuse_ctx *ctx, int64_t n, float beta,
                                                   const sigfuse_buffer *a,
                                                   const sigfuse_buffer *b,
                                                   const sigfuse_buffer *dy,
                                                   const sigfuse_buffer *da,
                                                   const sigfuse_buffer *db);

/* ------------------------------------------------------------------------------------
 * Recurrent cells (PyTorch conventions). All tensors share one float dtype.
 * ------------------------------------------------------------------------------------ */

/* LSTM cell, gate order i, f, g, o along the 4H columns of each row.
 * pre = gates_x + gates_h (if present) + bias (if present, broadcast over rows);
 * c = sigmoid(f) c_prev + sigmoid(i) tanh(g);  h = sigmoid(o) tanh(c). */
typedef struct sigfuse_lstm_forward_args {
    int64_t batch;                   /* B */
    int64_t hidden;                  /* H */
    const sigfuse_buffer *gates_x;   /* [B, 4H] input projection (required) */
    const sigfuse_buffer *gates_h;   /* [B, 4H] hidden projection (optional) */
    const sigfuse_buffer *bias;      /* [4H] (optional) */
    const sigfuse_buffer *c_prev;    /* [B, H] (required) */
    const sigfuse_buffer *h;         /* [B, H] output (optional) */
    const sigfuse_buffer *c;         /* [B, H] output (optional; h or c required) */
} sigfuse_lstm_forward_args;

/* Backward from the same inputs (the cell is recomputed, nothing else is saved).
 * dh and dc are the gradients reaching h and c (either may be absent, not both).
 * dgates is the gradient of pre (equal for gates_x, gates_h and each row of bias);
 * dbias = sum over rows of dgates, in a fixed order (deterministic). */
typedef struct sigfuse_lstm_backward_args {
    int64_t batch;
    int64_t hidden;
    const sigfuse_buffer *gates_x;   /* [B, 4H] (required) */
    const sigfuse_buffer *gates_h;   /* [B, 4H] (optional) */
    const sigfuse_buffer *bias;      /* [4H] (optional) */
    const sigfuse_buffer *c_prev;    /* [B, H] (required) */
    const sigfuse_buffer *dh;        /* [B, H] (optional) */
    const sigfuse_buffer *dc;        /* [B, H] (optional) */
    const sigfuse_buffer *dgates;    /* [B, 4H] output (optional) */
    const sigfuse_buffer *dc_prev;   /* [B, H] output (optional) */
    const sigfuse_buffer *dbias;     /* [4H] output (optional); at least one output */
} sigfuse_lstm_backward_args;

SIGFUSE_API sigfuse_status sigfuse_lstm_cell_forward(sigfuse_ctx *ctx,
                                                     const sigfuse_lstm_forward_args *args);
SIGFUSE_API sigfuse_status sigfuse_lstm_cell_backward(sigfuse_ctx *ctx,
                                                      const sigfuse_lstm_backward_args *args);

/* GRU cell, blocks r, z, n along the 3H columns of each row:
 * gi = gates_x + bias_x, gh = gates_h + bias_h (biases optional, [3H]);
 * r = sigmoid(gi_r + gh_r), z = sigmoid(gi_z + gh_z), n = tanh(gi_n + r gh_n),
 * h = (1 - z) n + z h_prev. */
typedef struct sigfuse_gru_forward_args {
    int64_t batch;
    int64_t hidden;
    const sigfuse_buffer *gates_x;   /* [B, 3H] (required) */
    const sigfuse_buffer *gates_h;   /* [B, 3H] (required) */
    const sigfuse_buffer *bias_x;    /* [3H] (optional) */
    const sigfuse_buffer *bias_h;    /* [3H] (optional) */
    const sigfuse_buffer *h_prev;    /* [B, H] (required) */
    const sigfuse_buffer *h;         /* [B, H] output (required) */
} sigfuse_gru_forward_args;

/* Backward: dgates_x and dgates_h differ in the n block (dgates_h_n = dgates_x_n * r).
 * dbias_x / dbias_h are row sums of dgates_x / dgates_h (deterministic).
 * dh_prev is only the direct part dh * z: the part through the hidden projection,
 * dgates_h W_hh, is the caller's product to add (as for gates_h itself). */
typedef struct sigfuse_gru_backward_args {
    int64_t batch;
    int64_t hidden;
    const sigfuse_buffer *gates_x;   /* [B, 3H] (required) */
    const sigfuse_buffer *gates_h;   /* [B, 3H] (required) */
    const sigfuse_buffer *bias_x;    /* [3H] (optional) */
    const sigfuse_buffer *bias_h;    /* [3H] (optional) */
    const sigfuse_buffer *h_prev;    /* [B, H] (required) */
    const sigfuse_buffer *dh;        /* [B, H] (required) */
    const sigfuse_buffer *dgates_x;  /* [B, 3H] output (optional) */
    const sigfuse_buffer *dgates_h;  /* [B, 3H] output (optional) */
    const sigfuse_buffer *dh_prev;   /* [B, H] output (optional) */
    const sigfuse_buffer *dbias_x;   /* [3H] output (optional) */
    const sigfuse_buffer *dbias_h;   /* [3H] output (optional); at least one output */
} sigfuse_gru_backward_args;

SIGFUSE_API sigfuse_status sigfuse_gru_cell_forward(sigfuse_ctx *ctx,
                                                    const sigfuse_gru_forward_args *args);
SIGFUSE_API sigfuse_status sigfuse_gru_cell_backward(sigfuse_ctx *ctx,
                                                     const sigfuse_gru_backward_args *args);

/* ------------------------------------------------------------------------------------
 * Losses. One fused call computes any subset of loss, gradient, probabilities and
 * thresholded labels in one pass over logits and targets.
 * ------------------------------------------------------------------------------------ */

typedef enum sigfuse_reduction {
    SIGFUSE_REDUCTION_NONE = 0,   /* loss is [rows, cols] in the logits' dtype */
    SIGFUSE_REDUCTION_SUM = 1,    /* loss is one f32 (f64 for f64 ops on the reference) */
    SIGFUSE_REDUCTION_MEAN = 2    /* likewise: the sum divided by rows * cols (NaN if 0);
                                     with a mask, by the elements kept (NaN if none) */
} sigfuse_reduction;

/* Ignored targets (every loss below): `mask` is an optional u8 tensor of the logits'
 * shape; a 0 byte marks an element whose target is unknown. An ignored element's loss and
 * gradient are exactly 0 whatever its logit and target hold (NaN and inf included), it is
 * left out of SUM, and MEAN divides by the number of nonzero mask bytes, counted exactly
 * (an integer count: the same on every backend and run); MEAN over a tensor whose elements
 * are all ignored is NaN, as over an empty one. probs and labels are written for every
 * element. A mask rather than a reserved target value, because: it works the same for
 * float and u8 targets (a u8 target has no spare value every user would agree on); a NaN
 * target stays an error that propagates instead of silently meaning "ignore"; and one mask
 * serves every loss of a batch. It costs one byte an element, read once (twice for MEAN
 * with a gradient: the count comes first). */

/* Binary cross-entropy with logits, as in PyTorch, plus label smoothing:
 *   y' = y (1 - eps) + eps / 2
 *   loss = w [(1 - y') softplus(x) + pos_weight y' softplus(-x)]
 *   dloss/dx = w [(1 - y') sigmoid(x) - pos_weight y' sigmoid(-x)]
 * -inf / +inf logits give the exact limits; NaN propagates.
 * The gradient written to dlogits is dloss/dx times the upstream gradient: grad_scale
 * times dloss_in (when present), and divided by rows * cols for MEAN.
 * dtypes: logits, weight, pos_weight, dlogits, probs and a NONE loss share one float
 * dtype; targets have it too or are u8 (0/1; not allowed with label_smoothing > 0);
 * labels are u8 or that float dtype (1 where sigmoid(x) > threshold, else 0; NaN: 0).
 * Targets are meant to lie in [0, 1] (soft targets allowed); they are not checked, and
 * values outside follow the formulas. */
typedef struct sigfuse_bce_args {
    int64_t rows;
    int64_t cols;
    sigfuse_reduction reduction;
    float label_smoothing;           /* eps in [0, 1] */
    float grad_scale;                /* multiplies the gradient; finite (1 by default).
                                        With f16 storage and MEAN over many elements the
                                        gradients fall below f16's smallest subnormal
                                        (6e-8): scale them up here and down in the optimiser */
    float threshold;                 /* for labels, in [0, 1] (0.5 by default) */
    const sigfuse_buffer *logits;    /* [rows, cols] (required) */
    const sigfuse_buffer *targets;   /* [rows, cols] (required) */
    const sigfuse_buffer *mask;      /* [rows, cols] u8, 0: ignored (optional; above) */
    const sigfuse_buffer *weight;    /* [rows, cols] element weight (optional) */
    const sigfuse_buffer *pos_weight;/* [cols] (optional) */
    const sigfuse_buffer *dloss_in;  /* upstream gradient (optional): [rows, cols] in the
                                        logits' dtype for NONE, one f32 for SUM/MEAN
                                        (f64 for f64 ops on the reference) */
    const sigfuse_buffer *loss;      /* output (optional) */
    const sigfuse_buffer *dlogits;   /* output [rows, cols] (optional) */
    const sigfuse_buffer *probs;     /* output [rows, cols] sigmoid(x) (optional) */
    const sigfuse_buffer *labels;    /* output [rows, cols] (optional); one output needed */
} sigfuse_bce_args;

/* Fill args with the defaults: zero sizes, MEAN, no smoothing, grad_scale 1,
 * threshold 0.5, every buffer absent. */
SIGFUSE_API void sigfuse_bce_args_init(sigfuse_bce_args *args);
SIGFUSE_API sigfuse_status sigfuse_bce_with_logits(sigfuse_ctx *ctx, const sigfuse_bce_args *args);

/* Sigmoid focal loss (RetinaNet / torchvision):
 *   p = sigmoid(x), p_t = p y + (1 - p)(1 - y), alpha_t = alpha y + (1 - alpha)(1 - y)
 *   loss = alpha_t (1 - p_t)^gamma BCE(x, y)        (alpha < 0: alpha_t = 1)
 * Finite forward and backward at saturated logits for any gamma >= 0.
 * dtypes as for BCE (targets float or u8). */
typedef struct sigfuse_focal_args {
    int64_t rows;
    int64_t cols;
    sigfuse_reduction reduction;
    float alpha;                     /* in [0, 1], or negative for no alpha term (0.25 default) */
    float gamma;                     /* >= 0, finite (2 by default) */
    float grad_scale;                /* as for BCE (1 by default) */
    const sigfuse_buffer *logits;    /* [rows, cols] (required) */
    const sigfuse_buffer *targets;   /* [rows, cols] (required) */
    const sigfuse_buffer *mask;      /* [rows, cols] u8, 0: ignored (optional) */
    const sigfuse_buffer *dloss_in;  /* as for BCE (optional) */
    const sigfuse_buffer *loss;      /* output (optional) */
    const sigfuse_buffer *dlogits;   /* output (optional); one output needed */
} sigfuse_focal_args;

SIGFUSE_API void sigfuse_focal_args_init(sigfuse_focal_args *args);
SIGFUSE_API sigfuse_status sigfuse_sigmoid_focal(sigfuse_ctx *ctx, const sigfuse_focal_args *args);

/* Asymmetric loss (ASL, Ridnik et al. 2021), for multi-label data with many negatives:
 *   p = sigmoid(x), p_m = max(p - margin, 0)
 *   loss = -[y (1 - p)^gamma_pos log(p) + (1 - y) p_m^gamma_neg log(1 - p_m)]
 * Computed in logit space (1 - p = sigmoid(-x), -log p = softplus(-x), and for margin 0
 * -log(1 - p) = softplus(x)), never clamping a log's argument as the authors' code does:
 * finite and exact at saturated logits for any gamma >= 0, and the gradient with it in the
 * same pass. The gradient of a negative is 0 where p <= margin (p_m is flat there).
 * margin = 0 with gamma_pos = gamma_neg = gamma is the focal loss without its alpha term.
 * Reductions, grad_scale, dloss_in, dtypes and the mask as for the focal loss. */
typedef struct sigfuse_asymmetric_args {
    int64_t rows;
    int64_t cols;
    sigfuse_reduction reduction;
    float gamma_pos;                 /* >= 0, finite (0 by default) */
    float gamma_neg;                 /* >= 0, finite (4 by default) */
    float margin;                    /* probability shift of the negatives, in [0, 1]
                                        (0.05 by default) */
    float grad_scale;                /* as for BCE (1 by default) */
    const sigfuse_buffer *logits;    /* [rows, cols] (required) */
    const sigfuse_buffer *targets;   /* [rows, cols] (required) */
    const sigfuse_buffer *mask;      /* [rows, cols] u8, 0: ignored (optional) */
    const sigfuse_buffer *dloss_in;  /* as for BCE (optional) */
    const sigfuse_buffer *loss;      /* output (optional) */
    const sigfuse_buffer *dlogits;   /* output (optional); one output needed */
} sigfuse_asymmetric_args;

SIGFUSE_API void sigfuse_asymmetric_args_init(sigfuse_asymmetric_args *args);
SIGFUSE_API sigfuse_status sigfuse_asymmetric(sigfuse_ctx *ctx, const sigfuse_asymmetric_args *args);

/* BCE + soft Dice, the objective of binary segmentation, over [images, pixels] (a row is
 * one image's pixels, in whatever order the caller flattened them):
 *   per image r, with p = sigmoid(x) and the kept pixels j (mask nonzero, or all):
 *     I_r = sum p_j y_j,  U_r = sum p_j + sum y_j,  D_r = (2 I_r + smooth) / (U_r + smooth)
 *   loss = bce_weight * BCE + dice_weight * (1 / images) sum_r (1 - D_r)
 * BCE is bce_with_logits of the same logits, targets, mask, pos_weight and
 * label_smoothing, reduced by `reduction` (SUM or MEAN); the Dice term takes the targets
 * as given (no smoothing) and is always the mean over images. A weight of 0 leaves its
 * term out (not 0 * inf). With smooth = 0 an image with U_r = 0 (no pixels, all ignored,
 * or every p and y 0) has D_r = 0/0 = NaN, as the formula says; smooth > 0 gives it D = 1.
 * dlogits_j = grad_scale * dloss_in * (bce_weight * dBCE/dx_j
 *             - dice_weight / images * (2 y_j - D_r) p_j (1 - p_j) / (U_r + smooth)),
 * 0 for an ignored pixel. Two passes: the per-image sums first (logits, targets, mask
 * read), then the gradient (read again, dlogits written); the sums are kept in double in
 * a fixed order (bitwise repeatable). dtypes as for BCE; dice is in the logits' dtype. */
typedef struct sigfuse_bce_dice_args {
    int64_t images;
    int64_t pixels;
    sigfuse_reduction reduction;     /* of the BCE term: SUM or MEAN (MEAN by default) */
    float bce_weight;                /* finite (1 by default) */
    float dice_weight;               /* finite (1 by default) */
    float smooth;                    /* >= 0, finite (1 by default) */
    float label_smoothing;           /* eps in [0, 1], of the BCE term (0 by default) */
    float grad_scale;                /* as for BCE (1 by default) */
    const sigfuse_buffer *logits;    /* [images, pixels] (required) */
    const sigfuse_buffer *targets;   /* [images, pixels] (required) */
    const sigfuse_buffer *mask;      /* [images, pixels] u8, 0: ignored (optional) */
    const sigfuse_buffer *pos_weight;/* [pixels] of the BCE term (optional) */
    const sigfuse_buffer *dloss_in;  /* one f32 (f64 for f64 ops on the reference) (optional) */
    const sigfuse_buffer *loss;      /* output: one f32 (f64 likewise) (optional) */
    const sigfuse_buffer *dlogits;   /* output [images, pixels] (optional) */
    const sigfuse_buffer *dice;      /* output [images]: D_r (optional); one output needed */
} sigfuse_bce_dice_args;

SIGFUSE_API void sigfuse_bce_dice_args_init(sigfuse_bce_dice_args *args);
SIGFUSE_API sigfuse_status sigfuse_bce_dice(sigfuse_ctx *ctx, const sigfuse_bce_dice_args *args);

/* ------------------------------------------------------------------------------------
 * Multi-label heads: Z = X W^T + b, X [N, D], W [L, D] (a PyTorch Linear), b [L];
 * every one of the L outputs is its own sigmoid.
 * x, w, bias, logits, probs, dx, dw, dbias share one float dtype.
 * f16 / bf16 heads: each dot product X[i, :] . W[j, :] is rounded to the storage dtype
 * (f32 accumulation, one rounding, as a 16-bit PyTorch Linear computes it), b[j] is added
 * to that value in f32, and the sigmoid / BCE is taken of the sum: Z[i, j] =
 * round(X[i, :] . W[j, :]) + b[j]. This is a 16-bit Linear followed by BCEWithLogits,
 * except that PyTorch also rounds the bias into the sum (round(X W^T + b)): the two
 * differ by at most one 16-bit ulp of Z, and not at all without a bias. A device's f32
 * accumulation (its own summation order) may round a dot product to the 16-bit
 * neighbour of the exactly rounded one. f32 heads keep the dot product in f32.
 * ------------------------------------------------------------------------------------ */

typedef struct sigfuse_head_predict_args {
    int64_t n, d, l;
    float threshold;                 /* for labels, in [0, 1] (0.5 by default) */
    const sigfuse_buffer *x;         /* [N, D] (required) */
    const sigfuse_buffer *w;         /* [L, D] (required) */
    const sigfuse_buffer *bias;      /* [L] (optional) */
    const sigfuse_buffer *logits;    /* [N, L] output Z (optional) */
    const sigfuse_buffer *probs;     /* [N, L] output sigmoid(Z) (optional) */
    const sigfuse_buffer *labels;    /* [N, L] output, u8 or float (optional); one needed */
    const sigfuse_buffer *workspace; /* scratch of the context's memory (may be absent
                                        when sigfuse_head_predict_workspace_size says 0) */
    size_t workspace_bytes;
} sigfuse_head_predict_args;

/* One fused training step of BCE-with-logits over the head, without ever holding all
 * N x L logits: rows are walked in chunks that fit the workspace; each chunk's logits
 * become their gradient in place and feed dX = G W and dW += G^T X.
 * Per element (p = pos_weight[l], 1 when absent; no label smoothing, no element weight):
 *   loss_e = (1 - y) softplus(z) + p y softplus(-z),  g = (1 - y) sigmoid(z) - p y sigmoid(-z)
 * loss = sum of loss_e (MEAN: divided by N * L, NaN when N * L = 0), one f32 (f64 for f64
 * ops on the reference); G = g * grad_scale (MEAN: / (N * L)); grad_scale does not scale
 * the loss. dx, dw, dbias are written (not accumulated into): each is optional, and loss
 * or one of them is needed. */
typedef struct sigfuse_head_train_args {
    int64_t n, d, l;
    sigfuse_reduction reduction;     /* SUM or MEAN (MEAN by default) */
    float grad_scale;                /* multiplies the gradients (1 by default) */
    const sigfuse_buffer *x;         /* [N, D] (required) */
    const sigfuse_buffer *w;         /* [L, D] (required) */
    const sigfuse_buffer *bias;      /* [L] (optional) */
    const sigfuse_buffer *targets;   /* [N, L] u8 or the float dtype; or the CSR below */
    const sigfuse_buffer *pos_weight;/* [L] (optional) */
    /* Sparse positives (instead of targets): row i's positive labels are the global ids
     * pos_labels[pos_offsets[i] .. pos_offsets[i + 1]), strictly increasing, each in
     * [0, total_labels); every other label of the row is a negative. pos_offsets [N + 1]
     * starts at 0, never decreases and ends at nnz; both i32 or both i64. Checked before
     * anything is written: on a device the op copies the CSR to the host and waits for it,
     * once per call (so a sparse train step cannot be captured into a CUDA graph). */
    const sigfuse_buffer *pos_offsets;
    const sigfuse_buffer *pos_labels;  /* [nnz] */
    int64_t nnz;
    /* Label shards: this head holds the labels [label_offset, label_offset + L) of a label
     * space of total_labels (0: L, the whole space, with label_offset 0). pos_weight and
     * the outputs are the shard's; MEAN divides by N * total_labels; dx is this shard's
     * part of dX (the sum over the shards is the whole dX, and the loss likewise sums):
     * the caller adds them up with the engine it already runs (NCCL, MPI). */
    int64_t label_offset;
    int64_t total_labels;
    const sigfuse_buffer *loss;      /* one f32 (optional) */
    const sigfuse_buffer *dx;        /* [N, D] (optional) */
    const sigfuse_buffer *dw;        /* [L, D] (optional) */
    const sigfuse_buffer *dbias;     /* [L] (optional) */
    const sigfuse_buffer *workspace; /* scratch of the context's memory (required unless
                                        the size query says 0) */
    size_t workspace_bytes;
} sigfuse_head_train_args;

SIGFUSE_API void sigfuse_head_predict_args_init(sigfuse_head_predict_args *args);
SIGFUSE_API void sigfuse_head_train_args_init(sigfuse_head_train_args *args);

/* Workspace needed to run the op with chunks of chunk_rows rows (chunk_rows >= N: all N
 * rows at once). The default, chunk_rows <= 0, is the largest chunk whose workspace is at
 * most the N x L logits an unfused head (Linear, then BCE) holds in the storage dtype, so
 * taking the default never costs more memory than the ops sigfuse replaces, except where
 * even one row needs more: parts that do not grow with the chunk (the f32 copies of W and
 * dW of a 16-bit head on opencl, the f64 dW of the cpu reference, CLBlast's temporary
 * buffer) can outweigh the logits when L >> N. Then the default is the largest chunk
 * within those fixed parts plus the N x L logits, rather than one-row chunks whose
 * products are matrix-vector ones.
 * Memory for speed: the workspace grows with chunk_rows (a chunk's logits: on cuda in the
 * storage dtype, on opencl in f32, whose products CLBlast runs in f32; plus per-backend
 * fixed parts such as an f32 dW for 16-bit heads), and
 * larger chunks mean fewer, larger products; ask for chunk_rows = N (all rows) when the
 * memory is there, or any chunk between. Any workspace at least the size for
 * chunk_rows = 1 works: the op uses the largest chunks that fit what it is given. The
 * query checks args like the op does (its buffers must be valid), and its answer depends
 * on the context's backend and on N, D and L: a workspace sized for one batch serves any
 * smaller batch with the same D and L. A workspace given where none is needed is still
 * checked like any buffer. The workspace's address (pointer + offset) must be a multiple
 * of SIGFUSE_WORKSPACE_ALIGNMENT (malloc, cudaMalloc and clCreateBuffer give that). */
#define SIGFUSE_WORKSPACE_ALIGNMENT 16
SIGFUSE_API sigfuse_status sigfuse_head_predict_workspace_size(sigfuse_ctx *ctx,
                                                               const sigfuse_head_predict_args *args,
                                                               int64_t chunk_rows,
                                                               size_t *bytes);
SIGFUSE_API sigfuse_status sigfuse_head_train_workspace_size(sigfuse_ctx *ctx,
                                                             const sigfuse_head_train_args *args,
                                                             int64_t chunk_rows,
                                                             size_t *bytes);
SIGFUSE_API sigfuse_status sigfuse_head_predict(sigfuse_ctx *ctx,
                                                const sigfuse_head_predict_args *args);
/* Top-k prediction without the N x L probabilities: for each row, the k labels of the
 * largest logits Z = X W^T + b, best first, as global ids (label_offset + j), computed
 * in row chunks that fit the workspace. Order: larger logit first; equal logits by the
 * smaller id; NaN logits after every number (by id). A shard with fewer than k labels
 * pads its rows with id -1 (logit -inf, probability 0), after every real label. 16-bit
 * heads rank the rounded logits they would store (as head_predict). */
typedef struct sigfuse_head_topk_args {
    int64_t n, d, l, k;
    int64_t label_offset;            /* this shard's first global id (0) */
    const sigfuse_buffer *x;         /* [N, D] (required) */
    const sigfuse_buffer *w;         /* [L, D] (required) */
    const sigfuse_buffer *bias;      /* [L] (optional) */
    const sigfuse_buffer *top_labels;/* [N, k] i32 or i64 output (required) */
    const sigfuse_buffer *top_logits;/* [N, k] output (optional; topk_merge needs it) */
    const sigfuse_buffer *top_probs; /* [N, k] output sigmoid(logit) (optional) */
    const sigfuse_buffer *workspace;
    size_t workspace_bytes;
} sigfuse_head_topk_args;

SIGFUSE_API void sigfuse_head_topk_args_init(sigfuse_head_topk_args *args);
/* As for the other heads: chunk_rows <= 0 gives the default (at most the N x L logits an
 * unfused head holds). */
SIGFUSE_API sigfuse_status sigfuse_head_topk_workspace_size(sigfuse_ctx *ctx, const sigfuse_head_topk_args *args,
                                                            int64_t chunk_rows, size_t *bytes);
SIGFUSE_API sigfuse_status sigfuse_head_topk(sigfuse_ctx *ctx, const sigfuse_head_topk_args *args);

/* The global top-k from the shards' lists: in_labels and in_logits hold `shards` blocks
 * of [N, k] (shard s at s * N * k, as an all-gather lays them out); each row's k best of
 * the shards * k candidates in head_topk's order (pads last). */
typedef struct sigfuse_topk_merge_args {
    int64_t n, k, shards;
    const sigfuse_buffer *in_labels; /* [shards, N, k] i32 or i64 (required) */
    const sigfuse_buffer *in_logits; /* [shards, N, k] float (required) */
    const sigfuse_buffer *top_labels;/* [N, k] output, in_labels' dtype (required) */
    const sigfuse_buffer *top_logits;/* [N, k] output (optional) */
    const sigfuse_buffer *top_probs; /* [N, k] output (optional) */
} sigfuse_topk_merge_args;

SIGFUSE_API void sigfuse_topk_merge_args_init(sigfuse_topk_merge_args *args);
SIGFUSE_API sigfuse_status sigfuse_topk_merge(sigfuse_ctx *ctx, const sigfuse_topk_merge_args *args);

/* Precision@k and recall@k of top-k lists against CSR positives, on the host (plain
 * arrays): P@k = |top-k of row ∩ positives| / k averaged over the N rows; R@k the same
 * count over the row's positives, averaged over the rows that have any (NaN if none).
 * Pads (id -1) never match. SIGFUSE_ERR_NULL_ARGUMENT / INVALID_SIZE on bad input. */
SIGFUSE_API sigfuse_status sigfuse_topk_metrics(int64_t n, int64_t k, const int64_t *top_labels,
                                                const int64_t *pos_offsets, const int64_t *pos_labels,
                                                double *precision_at_k, double *recall_at_k);

SIGFUSE_API sigfuse_status sigfuse_head_train_step(sigfuse_ctx *ctx,
                                                   const sigfuse_head_train_args *args);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SIGFUSE_H */
