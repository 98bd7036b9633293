/* SPDX-License-Identifier: MIT */
/*
 * Internal to the OpenCL backend: the context's state (backend.c), error reporting
 * (errors.c), the program cache (program.c), kernel-argument, grid and launch helpers
 * (launch.c), and the deterministic reductions' finishing steps (reduce.c), shared by the
 * launchers of each op family: activation.c, glu.c (through elementwise.c), lstm.c, gru.c,
 * bce.c, focal.c, asymmetric.c (through loss.c), bce_dice.c, head.c and topk.c, the files of the same names as in cuda/ and
 * ref/, each with its kernels in <family>.cl.
 *
 * Rules every op follows: all work goes to the context's queue and nothing waits for it
 * (only synchronize calls clFinish); nothing is allocated per call; a buffer is passed to
 * a kernel as its cl_mem plus an element offset; floating-point sums accumulate in double
 * (a compensated float pair where the device has no cl_khr_fp64) and run in a fixed tree
 * into the scratch reserved at creation (no atomics), so a result is bitwise the same on
 * every run on the same device.
 */
#ifndef SF_OPENCL_H
#define SF_OPENCL_H

#include <stdbool.h>
#include <stdint.h>

#include "sigfuse_opencl.h"
#include "sf_internal.h"

/* The op families of the catalogue (sf_op_info.family): one program each, from its .cl
 * file, per storage dtype, built on first use. */
#define SF_CL_FAMILIES(F) F(activation) F(glu) F(lstm) F(gru) F(bce) F(focal) F(asymmetric) F(bce_dice) F(head) F(topk)

typedef enum sf_cl_family {
#define SF_CL_FAMILY_ENUM_(f) SF_CL_FAMILY_##f,
    SF_CL_FAMILIES(SF_CL_FAMILY_ENUM_)
#undef SF_CL_FAMILY_ENUM_
    SF_CL_FAMILY_COUNT
} sf_cl_family;

/* The kernels that are no op's own: the finishing steps of the reductions and the mask's
 * count pass, which every program has (common.cl), the later passes of BCE + Dice
 * (bce_dice.cl), and the head's steps around CLBlast's products (head.cl). */
#define SF_CL_HELPER_KERNELS(K)                                                                                        \
    K(sf_finish_loss) K(sf_finish_cols) K(sf_count_kept) K(sf_finish_count) K(bce_dice_rows) K(bce_dice_fold)        \
    K(bce_dice_grad) K(head_to_f32) K(head_from_f32) K(head_train_step_loss) K(head_train_step_dbias)

/* Every kernel by id: first one per op, named as the op (sf_op_infos[op].name; the
 * heads' is their elementwise step), with the op's value (SF_CL_KERNEL_x == SF_OP_x),
 * then the helpers. */
typedef enum sf_cl_kernel {
#define SF_CL_OP_KERNEL_(name, family, shape, args) SF_CL_KERNEL_##name,
#define SF_CL_HELPER_KERNEL_(name) SF_CL_KERNEL_##name,
    SF_CATALOG(SF_CL_OP_KERNEL_) SF_CL_HELPER_KERNELS(SF_CL_HELPER_KERNEL_)
#undef SF_CL_OP_KERNEL_
#undef SF_CL_HELPER_KERNEL_
    SF_CL_KERNEL_COUNT
} sf_cl_kernel;

/* The kernel's name in the .cl sources. */
const char *sf_cl_kernel_name(sf_cl_kernel k);

#define SF_CL_DTYPE_COUNT 3    /* f32, f16, bf16 */

/* A program and the kernels taken from it, each created the first time it is launched
 * and kept: a launch finds its kernel by id, never by name. */
typedef struct sf_cl_program {
    cl_program program;                   /* NULL until built */
    cl_kernel kernels[SF_CL_KERNEL_COUNT];  /* NULL until first used (or not in this program) */
    size_t local[SF_CL_KERNEL_COUNT];       /* the work-group size each is launched with */
} sf_cl_program;

/* Work-groups per compute unit for the grid-stride kernels: 8 x 256 work-items fill an
 * NVIDIA SM's 2048 resident threads; on a CPU device (PoCL) it is 8 tasks per core. */
#define SF_CL_GROUPS_PER_CU 8
/* Upper bound on work-groups of any reducing kernel: the loss partials region of the
 * scratch holds this many accumulators. */
#define SF_CL_MAX_GROUPS 1024
/* Largest work-group used: a power of two every OpenCL device accepts for these kernels
 * (1.2 guarantees 1; real devices give 256 or more; the kernel's own limit also caps it). */
#define SF_CL_MAX_LOCAL 256
/* An accumulator of the reductions (common.cl's sf_acc): a double, or a float pair
 * (hi, lo) where the device has no cl_khr_fp64; 8 bytes either way. */
#define SF_CL_ACC_BYTES 8
/* The scratch reserved at creation, in accumulators (2 MiB): loss partials plus row-chunk
 * partials of the bias gradients (chunks x columns). */
#define SF_CL_SCRATCH_ACCS (256u * 1024u)
/* Where the losses keep their reductions in the scratch, in accumulators: the per-group
 * partials of the loss sum from 0, the per-group kept counts of a mask from
 * SF_CL_SCRATCH_COUNTS (integers), their total at SF_CL_SCRATCH_KEPT, and the room of
 * BCE + Dice's per-image sums from SF_CL_SCRATCH_LOSS_END (bce_dice.c). */
#define SF_CL_SCRATCH_COUNTS SF_CL_MAX_GROUPS
#define SF_CL_SCRATCH_KEPT (2u * SF_CL_MAX_GROUPS)
#define SF_CL_SCRATCH_LOSS_END (2u * SF_CL_MAX_GROUPS + 1u)

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
    size_t scratch_accs;
    sf_cl_program programs[SF_CL_FAMILY_COUNT][SF_CL_DTYPE_COUNT];
} sf_cl_state;

static inline sf_cl_state *sf_cl_of(const sigfuse_ctx *ctx) { return (sf_cl_state *)ctx->impl; }

/* The scratch from accumulator `slot` on, as a buffer of 8-byte elements: passed with
 * sf_cl_arg_buf, a kernel gets it as a pointer plus its offset in accumulators. */
static inline sigfuse_buffer sf_cl_scratch_at(const sf_cl_state *s, uint64_t slot)
{
    sigfuse_buffer b = {SIGFUSE_MEMORY_OPENCL, SIGFUSE_F64, (void *)s->scratch, (size_t)(slot * SF_CL_ACC_BYTES)};
    return b;
}

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

/* Kernel `kernel` of `family`'s program for `dtype` (f32, f16 or bf16), building the
 * program on first use (SIGFUSE_ERR_PROGRAM_BUILD with the compiler's log if that fails)
 * and creating the kernel on its first launch. */
sigfuse_status sf_cl_begin(sigfuse_ctx *ctx, sf_cl_family family, sigfuse_dtype dtype, sf_cl_kernel kernel,
                           sf_cl_launch *launch);
/* Release a program's kernels and program and zero it (the context's destroy). */
void sf_cl_release_program(sf_cl_program *p);

/* ---- Launches (launch.c) ----------------------------------------------------------------- */

/* A buffer: its cl_mem (NULL when absent) and its offset in elements of its dtype. */
void sf_cl_arg_buf(sf_cl_launch *l, const sigfuse_buffer *b);
/* A target or label buffer: as sf_cl_arg_buf, then whether it is u8 (else the float dtype). */
void sf_cl_arg_u8_or_float(sf_cl_launch *l, const sigfuse_buffer *b);
/* A cl_mem of the library's own (the scratch) or the workspace, alone: the kernels that
 * take one get their offsets as separate arguments. */
void sf_cl_arg_mem(sf_cl_launch *l, cl_mem mem);
void sf_cl_arg_u64(sf_cl_launch *l, uint64_t v);
void sf_cl_arg_u32(sf_cl_launch *l, uint32_t v);
void sf_cl_arg_int(sf_cl_launch *l, int v);
void sf_cl_arg_f32(sf_cl_launch *l, float v);
/* A local-memory array of one accumulator (SF_CL_ACC_BYTES) per work-item. */
void sf_cl_arg_local_accs(sf_cl_launch *l, size_t count);
/* A local-memory array of `bytes` bytes. */
void sf_cl_arg_local_bytes(sf_cl_launch *l, size_t bytes);

/* Element offset of a buffer (its byte offset over its element size). */
uint64_t sf_cl_elem_offset(const sigfuse_buffer *b);
/* Whether a buffer of an elementwise pass allows its 4-wide path: absent, or its element
 * offset a multiple of 4. A pass takes the path when all of its buffers allow it. */
bool sf_cl_vec4(const sigfuse_buffer *b);
/* The work-items a pass over n elements keeps busy (common.cl's SF_FOR_SPANS): one per
 * 4-element vector on the 4-wide path (the n % 4 tail goes to the first ones), one per
 * element otherwise. */
uint64_t sf_cl_span_items(uint64_t n, bool vec);

/* Work-groups for a grid-stride kernel over `items` work-items of work: enough to cover
 * it, at most SF_CL_GROUPS_PER_CU per compute unit and SF_CL_MAX_GROUPS, at least 1. A
 * pure function of (items, local, device), which is what makes the reductions
 * deterministic. */
size_t sf_cl_groups(const sf_cl_state *s, uint64_t items, size_t local);

/* The 2-D grid of a [rows, cols] walk (dimension 0 the columns, 1 the rows): a work-group
 * of at most `local` work-items, up to 64 columns side by side (whole 128-byte lines of
 * 16-bit data on a GPU) and rows across the rest, within the device's per-dimension
 * limits (both powers of two); then enough work-groups to cover the columns and as many
 * rows as fit, at most SF_CL_GROUPS_PER_CU per compute unit in all, at least 1 each way. */
typedef struct sf_cl_grid2 {
    size_t lx, ly;   /* work-group: columns x rows */
    size_t gx, gy;   /* work-groups along each */
} sf_cl_grid2;
sf_cl_grid2 sf_cl_grid_2d(const sf_cl_state *s, size_t local, uint64_t cols, uint64_t rows);

sigfuse_status sf_cl_enqueue_1d(sf_cl_launch *l, size_t groups);
sigfuse_status sf_cl_enqueue_2d(sf_cl_launch *l, const sf_cl_grid2 *g);

/* Order two dependent commands on an out-of-order queue (a no-op on an in-order one). */
sigfuse_status sf_cl_barrier(sigfuse_ctx *ctx);

/* ---- Deterministic reductions (reduce.c) ------------------------------------------------- */

/* The grid of a [rows, cols] walk that also sums its columns over rows (sf_cl_grid_2d),
 * with its row chunks (get_global_size(1) = gy * ly: one partial sum per chunk and column)
 * capped so that accs_per_chunk accumulators per chunk fit in the scratch (0: no sums).
 * A pure function of (rows, cols, local, device): the chunking of the sums, and with it
 * their rounding, is the same on every run. */
sf_cl_grid2 sf_cl_colsum_grid(const sf_cl_state *s, size_t local, uint64_t rows, uint64_t cols,
                              uint64_t accs_per_chunk);

/* Write the reduced loss from `groups` partials at the start of the scratch: their
 * fixed-order sum (SUM) or that sum / count (MEAN), as one f32 into `out`. With
 * kept_parts > 0 a MEAN divides instead by the integer sum of the kept_parts counts in
 * the scratch from accumulator kept_slot (a mask's kept count). */
sigfuse_status sf_cl_finish_loss(sigfuse_ctx *ctx, sf_cl_family family, sigfuse_dtype dtype, size_t groups,
                                 sigfuse_reduction reduction, uint64_t count, uint64_t kept_slot, size_t kept_parts,
                                 const sigfuse_buffer *out);
/* The count pass of a mask over n elements: the number of its non-zero bytes, an exact
 * integer, into the scratch at SF_CL_SCRATCH_KEPT (with per-group counts at
 * SF_CL_SCRATCH_COUNTS on the way). */
sigfuse_status sf_cl_count_kept(sigfuse_ctx *ctx, sf_cl_family family, sigfuse_dtype dtype,
                                const sigfuse_buffer *mask, uint64_t n);
/* out[c] = sum over k < chunks, in order, of scratch[part_off + k * pitch + c], c < cols
 * (offsets in accumulators). */
sigfuse_status sf_cl_finish_cols(sigfuse_ctx *ctx, sf_cl_family family, sigfuse_dtype dtype, uint64_t part_off,
                                 size_t chunks, uint64_t pitch, uint64_t cols, const sigfuse_buffer *out);

/* ---- What the families' launchers share --------------------------------------------------- */

/* An elementwise op (activation.c, glu.c): its kernel, named as the op, over call->n
 * elements (elementwise.c). */
sigfuse_status sf_cl_elementwise(sigfuse_ctx *ctx, const sf_ew_call *call);

/* A recurrent cell's kernel (lstm.c, gru.c; cell.c), op `kernel` of `family` with
 * gates (4 LSTM, 3 GRU) x hidden columns per row: its n_bufs buffers in order (bufs[0]
 * gates_x, whose dtype is the op's), then (backward: n_dbias > 0) the scratch for the bias
 * partials, then B and H, on the [B, H] walk of sf_cl_colsum_grid. dbias lists the op's
 * bias gradients (absent ones NULL), each of gates x H columns; their per-chunk sums lie
 * side by side in the scratch, chunk after chunk, and with several chunks sf_finish_cols
 * adds them up. */
sigfuse_status sf_cl_cell_run(sigfuse_ctx *ctx, sf_cl_family family, sf_cl_kernel kernel, int gates, int64_t batch,
                              int64_t hidden, const sigfuse_buffer *const *bufs, int n_bufs,
                              const sigfuse_buffer *const *dbias, int n_dbias);

/* A fused loss pass (bce.c, focal.c, asymmetric.c; loss.c): what the losses pass alike. */
typedef struct sf_cl_loss_io {
    int64_t rows, cols;
    sigfuse_reduction reduction;
    float grad_scale;
    const sigfuse_buffer *logits, *targets, *mask, *dloss_in, *loss, *dlogits;
} sf_cl_loss_io;

typedef struct sf_cl_loss {
    sf_cl_launch l;            /* the op's kernel, with the shared arguments set */
    sf_cl_family family;
    sigfuse_dtype dtype;
    uint64_t n;                /* rows * cols */
    sigfuse_reduction reduction;
    bool partials;             /* a reduced loss is wanted: per-group partials, then their sum */
    bool counted;              /* MEAN with a mask and a gradient: the count pass runs first */
    bool count_parts;          /* MEAN with a mask, loss only: the kernel counts per group */
    const sigfuse_buffer *mask;
    size_t groups;             /* of the element kernel; 0 when there are no elements */
    const sigfuse_buffer *loss;
} sf_cl_loss;

/* Begins a loss pass: the kernel, its grid, and the arguments every loss kernel starts
 * with (common.cl's SF_LOSS_PARAMS). `more` lists the op's other per-element buffers
 * (NULL when absent): with io's, they decide the 4-wide path. The op then appends its
 * own arguments and calls sf_cl_loss_run. */
sigfuse_status sf_cl_loss_begin(sigfuse_ctx *ctx, sf_cl_family family, sf_cl_kernel kernel, const sf_cl_loss_io *io,
                                const sigfuse_buffer *const *more, int n_more, sf_cl_loss *p);
/* Enqueues the pass (when there are elements) and, for a reduced loss, the sum of its
 * partials into the loss. */
sigfuse_status sf_cl_loss_run(sigfuse_ctx *ctx, sf_cl_loss *p);

/* ---- The op families: one file each, named as the family ------------------------------------ */

sigfuse_status sf_cl_activation(sigfuse_ctx *ctx, const sf_ew_call *call);                      /* activation.c */
sigfuse_status sf_cl_glu(sigfuse_ctx *ctx, const sf_ew_call *call);                             /* glu.c */
/* Every other op's, sf_cl_<op>, in the .c of its family. */
#define SF_CL_DECL_(name, family, shape, args) SF_OP_DECL_##shape(sf_cl_##name, args)
SF_CATALOG(SF_CL_DECL_)
size_t sf_cl_head_predict_workspace(sigfuse_ctx *ctx, const sigfuse_head_predict_args *a, int64_t chunk_rows);
size_t sf_cl_head_train_step_workspace(sigfuse_ctx *ctx, const sigfuse_head_train_args *a, int64_t chunk_rows);
size_t sf_cl_head_topk_workspace(sigfuse_ctx *ctx, const sigfuse_head_topk_args *a, int64_t chunk_rows);

/* The head's row chunks of logits for other ops (head.c, used by head_topk in topk.c): Z =
 * X W^T without bias, in f32, chunk by chunk as head_predict computes them (CLBlast; 16-bit
 * X and W converted in the workspace first), in chunks as large as the workspace holds.
 * fn gets each chunk: rows r0 .. r0 + rows - 1 at float offset z_off of z, [rows, L]
 * row-major; what it enqueues runs before the next chunk overwrites them. The workspace
 * for chunks of chunk_rows rows is sf_cl_head_logits_workspace's. */
typedef sigfuse_status (*sf_cl_logits_fn)(sigfuse_ctx *ctx, void *user, cl_mem z, uint64_t z_off, uint64_t r0,
                                          uint64_t rows);
size_t sf_cl_head_logits_workspace(sigfuse_ctx *ctx, sigfuse_dtype dtype, int64_t d, int64_t l, int64_t chunk_rows);
sigfuse_status sf_cl_head_logits(sigfuse_ctx *ctx, const sigfuse_buffer *x, const sigfuse_buffer *w, int64_t n,
                                 int64_t d, int64_t l, const sigfuse_buffer *workspace, size_t workspace_bytes,
                                 sf_cl_logits_fn fn, void *user);

#endif /* SF_OPENCL_H */
