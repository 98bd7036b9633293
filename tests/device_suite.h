/* SPDX-License-Identifier: MIT */
/*
 * The device-vs-reference suite: one case engine for every op of the catalogue on every
 * device backend (the kit's memory), and the sweeps that test_backend_ops.c runs per op x
 * backend x dtype. test_opencl.c runs a few cases of its own through it too.
 *
 * A case is a ds_spec: the op, its dtype, sizes and options, which optional inputs are
 * there and which outputs are asked for, the views, and how the inputs are drawn. The
 * engine draws the inputs from a seed derived from the case's name (logged), runs the CPU
 * reference on f64 copies of them (out of place: the truth), runs the device on guarded,
 * poisoned kit buffers (in place where the case says so), and compares every output in
 * ulps (testutil's tu_scale_* magnitudes and tu_expect_ulp); outputs not asked for are
 * poisoned device buffers that must stay untouched. Every failure message starts with the
 * case's name, e.g.
 *   bce_with_logits(backend=opencl,dtype=bf16,shape=[17,241],red=sum,targets=u8,...,view=+1)
 */
#ifndef SIGFUSE_DEVICE_SUITE_H
#define SIGFUSE_DEVICE_SUITE_H

#include "kit.h"
#include "sf_catalog.h"
#include "testutil.h"

/* A test's device and the reference. ds_open skips the test (reported as skipped, with
 * "skipped: no CUDA device" or "skipped: no OpenCL device") when the backend has none. */
typedef struct ds_env {
    kit_dev dev;
    sigfuse_ctx *cpu;
    char test[128];   /* the test's name */
} ds_env;

void ds_open(ds_env *e, sigfuse_backend b, const char *test);
/* ds_open for the test named what_<backend>_<dtype>; returns that name. */
const char *ds_open_test(ds_env *e, sigfuse_backend b, const char *what, sigfuse_dtype dtype);
/* Also logs the worst element per op, dtype and output of the test (tu_ulp_report). */
void ds_close(ds_env *e);
/* SIGFUSE_TEST_QUICK set (and not 0): no large sizes, thinner sweeps. */
bool ds_quick(void);
/* FNV-1a of a case's name: its seed. */
uint64_t ds_hash(const char *s);

/* An op's args struct (args: the op's C type) from the catalogue: its defaults, the sizes
 * of the op's shape in order (n; rows, cols; n, d, l: any further size keeps its default),
 * then (buffer name, descriptor) pairs up to a NULL name. */
void ds_args(sf_op op, void *args, const int64_t *sizes, ...);

/* ---- Device buffers that stop the test on a failure ------------------------------------ */

kit_buf ds_buf(kit_dev *d, sigfuse_dtype dtype, int64_t n, int misalign);
/* src's values into b (converted to b's dtype when src is wider, e.g. an f64 host copy). */
void ds_upload(kit_buf *b, const tu_buf *src);
/* b's data as a new host buffer of its dtype. */
tu_buf ds_download(const kit_buf *b);
bool ds_guards_ok(const kit_buf *b);
/* Data still poisoned and guards intact: the op wrote nothing. */
bool ds_untouched(const kit_buf *b);

/* ---- Cases ------------------------------------------------------------------------------ */

/* How the inputs are drawn. SPREAD: test_backend_ops' way (the extremes below scattered
 * over a tensor; logits in [-8, 8], upstream gradients in [-1, 1], a reduced loss's 0.75,
 * every 5th weight 0, gates_h in [-4, 4], a head's bias in [-0.5, 0.5]). LEADING:
 * test_opencl's (its extremes at the start of a tensor, a loss's each with target 1, 0
 * and its random one; logits in [-10, 10], upstream gradients in [-2, 2], gates_h in
 * [-2, 2], a head's bias in [-1, 1]). */
typedef enum ds_draw { DS_SPREAD, DS_LEADING } ds_draw;

/* T_MIXED: binary with every 11th target 0.3. */
typedef enum ds_targets { T_BINARY, T_SOFT, T_U8, T_MIXED } ds_targets;

typedef struct ds_spec {
    sf_op op;
    sigfuse_dtype dtype;
    /* The op's sizes: n (elementwise; heads with d, l), rows x cols, batch x hidden. */
    int64_t n, d, l, rows, cols, batch, hidden;
    /* Options, taken as written (an op uses those of its catalogue entry). */
    float beta, eps, grad_scale, threshold, alpha, gamma;
    float gamma_neg, margin;          /* asymmetric (its gamma_pos is gamma) */
    float smooth, bce_weight, dice_weight;   /* bce_dice */
    sigfuse_reduction red;
    ds_targets targets;
    /* Optional inputs present: gates_h (LSTM), bias (LSTM bias, GRU bias_x, a head's),
     * bias_h (GRU), weight, pos_weight, dloss (dloss_in). */
    bool gates_h, bias, bias_h, weight, pos_weight, dloss;
    bool mask;            /* a loss's mask: about one element in three ignored, with NaN or
                             infinite logits and NaN targets among them */
    unsigned grads;       /* LSTM backward: 1 dh, 2 dc, 3 both */
    unsigned outs;        /* bit k: the op's k-th output in catalogue order; 0: every one */
    bool labels_u8;       /* labels in u8, else in the float dtype */
    int64_t chunk;        /* heads: rows per workspace chunk (0: all) */
    int misalign;         /* views this many elements past alignment (0: plain ptr views) */
    bool mixed_views;     /* heads: test_opencl's views (x, bias, logits, labels... +1) */
    bool extremes;        /* the extreme values in the sigmoid's argument (and a loss's y) */
    bool in_place;        /* each output that may be on its input of the same shape is */
    bool rerun;           /* a second device run must give the same bits */
    bool limits;          /* head_train_step: every third bias +-inf with targets 1 / 0 there */
    ds_draw draw;
} ds_spec;

/* The draw's extreme values into b: scattered over it (DS_SPREAD) or from element 0. */
void ds_put_extremes(tu_buf *b, ds_draw draw);

/* One case (any op of the catalogue). */
void ds_case(ds_env *e, const ds_spec *c);

/* The sweep of one op at one dtype on e's device: test_backend_ops' cases and test_opencl's
 * for that op, the large ones unless ds_quick(). */
void ds_sweep(ds_env *e, sf_op op, sigfuse_dtype dtype);
/* tests/device_topk.c: head_topk and topk_merge against the reference (labels equal but
 * where logits tie within the GEMM's rounding), and the train step's sparse positives
 * and label shards against its dense form on the same device. */
void topk_sweep(ds_env *e, sf_op op, sigfuse_dtype dtype);
void sparse_head_sweep(ds_env *e, sigfuse_dtype dtype);
/* The three at simulator sizes (test_opencl's opencl_small, which oclgrind runs). */
void xmc_small_sweep(ds_env *e, sigfuse_dtype dtype);

/* Every output of the op (the `outs` of a spec). */
#define DS_ALL 0u

#endif
