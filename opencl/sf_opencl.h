/* SPDX-License-Identifier: MIT */
/*
 * Internal to the OpenCL backend: the context's state (context.c), error reporting
 * (errors.c), the program cache (program.c), kernel-argument and launch helpers
 * (launch.c), and the deterministic reductions' finishing steps (reduce.c), shared by the
 * launchers of each op family (elementwise.c, loss.c, cell.c, head.c).
 *
 * Rules every op follows: all work goes to the context's queue and nothing waits for it
 * (only synchronize calls clFinish); nothing is allocated per call; a buffer is passed to
 * a kernel as its cl_mem plus an element offset; floating-point sums run in a fixed tree
 * into the scratch reserved at creation (no atomics), so a result is bitwise the same on
 * every run on the same device.
 */
#ifndef SF_OPENCL_H
#define SF_OPENCL_H

#include <stdbool.h>
#include <stdint.h>

#include "sigfuse_opencl.h"
#include "sf_internal.h"

/* One program per op family (one .cl file each) and storage dtype, built on first use. */
typedef enum sf_cl_family {
    SF_CL_ACTIVATION,
    SF_CL_GLU,
    SF_CL_LSTM,
    SF_CL_GRU,
    SF_CL_BCE,
    SF_CL_FOCAL,
    SF_CL_HEAD,
    SF_CL_FAMILY_COUNT
} sf_cl_family;

#define SF_CL_DTYPE_COUNT 3    /* f32, f16, bf16 */
#define SF_CL_MAX_KERNELS 16   /* per program; the largest (head.cl + common.cl) has 8 */

typedef struct sf_cl_program {
    cl_program program;        /* NULL until built */
    cl_uint count;
    cl_kernel kernels[SF_CL_MAX_KERNELS];
    char names[SF_CL_MAX_KERNELS][48];
    size_t local[SF_CL_MAX_KERNELS];   /* work-group size each kernel is launched with */
} sf_cl_program;

/* Work-groups per compute unit for the grid-stride kernels: 8 x 256 work-items fill an
 * NVIDIA SM's 2048 resident threads; on a CPU device (PoCL) it is 8 tasks per core. */
#define SF_CL_GROUPS_PER_CU 8
/* Upper bound on work-groups of any reducing kernel: the loss partials region of the
 * scratch holds this many floats. */
#define SF_CL_MAX_GROUPS 1024
/* Largest work-group used: a power of two every OpenCL device accepts for these kernels
 * (1.2 guarantees 1; real devices give 256 or more; the kernel's own limit also caps it). */
#define SF_CL_MAX_LOCAL 256
/* The scratch reserved at creation, in floats (1 MiB): loss partials plus row-chunk
 * partials of the bias gradients (chunks x columns). */
#define SF_CL_SCRATCH_FLOATS (256u * 1024u)

typedef struct sf_cl_state {
    cl_context context;        /* retained */
    cl_device_id device;
    cl_command_queue queue;    /* retained */
    bool out_of_order;         /* the queue runs commands out of order: barriers needed */
    cl_uint compute_units;
    size_t max_local;          /* CL_DEVICE_MAX_WORK_GROUP_SIZE */
    size_t max_items[2];       /* CL_DEVICE_MAX_WORK_ITEM_SIZES of dimensions 0 and 1 */
    size_t base_align;         /* CL_DEVICE_MEM_BASE_ADDR_ALIGN, in bytes */
    cl_mem scratch;
    size_t scratch_floats;
    sf_cl_program programs[SF_CL_FAMILY_COUNT][SF_CL_DTYPE_COUNT];
} sf_cl_state;

static inline sf_cl_state *sf_cl_of(const sigfuse_ctx *ctx) { return (sf_cl_state *)ctx->impl; }

/* The largest power of two <= v (v >= 1). */
static inline size_t sf_cl_pow2_floor(size_t v)
{
    size_t p = 1;
    while (p <= v / 2)
        p *= 2;
    return p;
}

/* ---- Errors (errors.c) ------------------------------------------------------------------- */

/* "CL_INVALID_MEM_OBJECT", or "unknown OpenCL error" for a code without a name. */
const char *sf_cl_error_name(cl_int err);
/* Record an OpenCL failure as SIGFUSE_ERR_BACKEND: "opencl: <what>: CL_... (code)". */
sigfuse_status sf_cl_fail(sigfuse_ctx *ctx, cl_int err, const char *what);

#define SF_TRY(expr)                                                                            \
    do {                                                                                        \
        sigfuse_status sf_s_ = (expr);                                                          \
        if (sf_s_ != SIGFUSE_SUCCESS)                                                           \
            return sf_s_;                                                                       \
    } while (0)

/* ---- Kernels and launches ---------------------------------------------------------------- */

/* A kernel being prepared for one launch: arguments are appended in order; the first
 * failure is kept and reported by the enqueue. */
typedef struct sf_cl_launch {
    sigfuse_ctx *ctx;
    cl_kernel kernel;
    const char *name;
    size_t local;              /* the kernel's work-group size (a power of two) */
    cl_uint next;              /* index of the next argument */
    cl_int err;
    cl_uint bad_arg;
} sf_cl_launch;

/* ---- Programs (program.c) ---------------------------------------------------------------- */

/* The kernel `name` of `family` for `dtype` (f32, f16 or bf16), building the program on
 * first use: SIGFUSE_ERR_PROGRAM_BUILD with the compiler's log if that fails. */
sigfuse_status sf_cl_begin(sigfuse_ctx *ctx, sf_cl_family family, sigfuse_dtype dtype, const char *name,
                           sf_cl_launch *launch);
/* Release a program's kernels and program and zero it (the context's destroy). */
void sf_cl_release_program(sf_cl_program *p);

/* ---- Launches (launch.c) ----------------------------------------------------------------- */

/* A buffer: its cl_mem (NULL when absent) and its offset in elements of its dtype. */
void sf_cl_arg_buf(sf_cl_launch *l, const sigfuse_buffer *b);
/* A cl_mem of the library's own (the scratch) or the workspace, alone: the kernels that
 * take one get their offsets as separate arguments. */
void sf_cl_arg_mem(sf_cl_launch *l, cl_mem mem);
void sf_cl_arg_u64(sf_cl_launch *l, uint64_t v);
void sf_cl_arg_u32(sf_cl_launch *l, uint32_t v);
void sf_cl_arg_int(sf_cl_launch *l, int v);
void sf_cl_arg_f32(sf_cl_launch *l, float v);
/* A local-memory float array of one element per work-item. */
void sf_cl_arg_local_floats(sf_cl_launch *l, size_t count);

/* Work-groups for a grid-stride kernel over `items` work: enough to cover it, at most
 * SF_CL_GROUPS_PER_CU per compute unit and SF_CL_MAX_GROUPS, at least 1. A pure function
 * of (items, local, device), which is what makes the reductions deterministic. */
size_t sf_cl_groups(const sf_cl_state *s, uint64_t items, size_t local);

/* A 2-D work-group of at most `local` work-items for a [rows, cols] walk: up to 64
 * columns side by side (whole 128-byte lines of 16-bit data on a GPU), rows across the
 * rest, within the device's per-dimension limits. Both are powers of two. */
void sf_cl_local_2d(const sf_cl_state *s, size_t local, uint64_t cols, size_t *lx, size_t *ly);

sigfuse_status sf_cl_enqueue_1d(sf_cl_launch *l, size_t groups);
sigfuse_status sf_cl_enqueue_2d(sf_cl_launch *l, size_t groups_x, size_t groups_y, size_t local_x,
                                size_t local_y);

/* Order two dependent commands on an out-of-order queue (a no-op on an in-order one). */
sigfuse_status sf_cl_barrier(sigfuse_ctx *ctx);

/* Element offset of a buffer (its byte offset over its element size). */
uint64_t sf_cl_elem_offset(const sigfuse_buffer *b);

/* ---- Deterministic reductions (reduce.c) ------------------------------------------------- */

/* Write the reduced loss from `groups` partials at the start of the scratch: their
 * fixed-order sum (SUM) or that sum / count (MEAN), as one f32 into `out`. */
sigfuse_status sf_cl_finish_loss(sigfuse_ctx *ctx, sf_cl_family family, sigfuse_dtype dtype, size_t groups,
                                 sigfuse_reduction reduction, double count, const sigfuse_buffer *out);
/* out[c] = sum over k < chunks, in order, of scratch[part_off + k * pitch + c], c < cols. */
sigfuse_status sf_cl_finish_cols(sigfuse_ctx *ctx, sf_cl_family family, sigfuse_dtype dtype, uint64_t part_off,
                                 size_t chunks, uint64_t pitch, uint64_t cols, const sigfuse_buffer *out);

/* ---- The op families --------------------------------------------------------------------- */

sigfuse_status sf_cl_activation(sigfuse_ctx *ctx, const sf_ew_call *call);                    /* elementwise.c */
sigfuse_status sf_cl_glu(sigfuse_ctx *ctx, const sf_ew_call *call);
sigfuse_status sf_cl_lstm_cell_forward(sigfuse_ctx *ctx, const sigfuse_lstm_forward_args *a);      /* cell.c */
sigfuse_status sf_cl_lstm_cell_backward(sigfuse_ctx *ctx, const sigfuse_lstm_backward_args *a);
sigfuse_status sf_cl_gru_cell_forward(sigfuse_ctx *ctx, const sigfuse_gru_forward_args *a);
sigfuse_status sf_cl_gru_cell_backward(sigfuse_ctx *ctx, const sigfuse_gru_backward_args *a);
sigfuse_status sf_cl_bce_with_logits(sigfuse_ctx *ctx, const sigfuse_bce_args *a);                        /* loss.c */
sigfuse_status sf_cl_sigmoid_focal(sigfuse_ctx *ctx, const sigfuse_focal_args *a);
size_t sf_cl_head_predict_workspace(sigfuse_ctx *ctx, const sigfuse_head_predict_args *a, int64_t chunk_rows);
size_t sf_cl_head_train_step_workspace(sigfuse_ctx *ctx, const sigfuse_head_train_args *a, int64_t chunk_rows);
sigfuse_status sf_cl_head_predict(sigfuse_ctx *ctx, const sigfuse_head_predict_args *a);      /* head.c */
sigfuse_status sf_cl_head_train_step(sigfuse_ctx *ctx, const sigfuse_head_train_args *a);

#endif /* SF_OPENCL_H */
