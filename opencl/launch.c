/* SPDX-License-Identifier: MIT */
/*
 * Kernel arguments and launches: arguments appended in order with the first failure kept,
 * the choice of an elementwise pass's 4-wide path, grid and work-group sizes, the
 * enqueue, and barriers on out-of-order queues.
 */
#include <stdio.h>

#include "sf_opencl.h"

static void set_arg(sf_cl_launch *l, size_t size, const void *value)
{
    if (l->err == CL_SUCCESS) {
        cl_int err = clSetKernelArg(l->kernel, l->next, size, value);
        if (err != CL_SUCCESS) {
            l->err = err;
            l->bad_arg = l->next;
        }
    }
    l->next++;
}

uint64_t sf_cl_elem_offset(const sigfuse_buffer *b)
{
    return b ? (uint64_t)(b->offset / sigfuse_dtype_size(b->dtype)) : 0;
}

void sf_cl_arg_buf(sf_cl_launch *l, const sigfuse_buffer *b)
{
    cl_mem mem = b ? (cl_mem)b->ptr : NULL;
    /* A NULL cl_mem arrives in the kernel as a NULL pointer: how absent buffers are told. */
    set_arg(l, sizeof(cl_mem), mem ? (const void *)&mem : NULL);
    sf_cl_arg_u64(l, sf_cl_elem_offset(b));
}

void sf_cl_arg_u8_or_float(sf_cl_launch *l, const sigfuse_buffer *b)
{
    sf_cl_arg_buf(l, b);
    sf_cl_arg_int(l, b && b->dtype == SIGFUSE_U8);
}

void sf_cl_arg_mem(sf_cl_launch *l, cl_mem mem) { set_arg(l, sizeof(cl_mem), mem ? (const void *)&mem : NULL); }

/* A scalar argument in the kernel's OpenCL type. */
#define SF_CL_ARG_SCALAR_(name, c_type, cl_type)                                                                       \
    void sf_cl_arg_##name(sf_cl_launch *l, c_type v)                                                                   \
    {                                                                                                                  \
        cl_type u = (cl_type)v;                                                                                        \
        set_arg(l, sizeof u, &u);                                                                                      \
    }
SF_CL_ARG_SCALAR_(u64, uint64_t, cl_ulong)
SF_CL_ARG_SCALAR_(u32, uint32_t, cl_uint)
SF_CL_ARG_SCALAR_(int, int, cl_int)
SF_CL_ARG_SCALAR_(f32, float, cl_float)
#undef SF_CL_ARG_SCALAR_

void sf_cl_arg_local_accs(sf_cl_launch *l, size_t count) { set_arg(l, count * SF_CL_ACC_BYTES, NULL); }
void sf_cl_arg_local_bytes(sf_cl_launch *l, size_t bytes) { set_arg(l, bytes, NULL); }

bool sf_cl_vec4(const sigfuse_buffer *b) { return sf_cl_elem_offset(b) % 4 == 0; }

uint64_t sf_cl_span_items(uint64_t n, bool vec) { return vec ? (n + 3) / 4 : n; }

size_t sf_cl_groups(const sf_cl_state *s, uint64_t items, size_t local)
{
    uint64_t want = (items + local - 1) / local;
    uint64_t cap = (uint64_t)s->compute_units * SF_CL_GROUPS_PER_CU;
    if (cap > SF_CL_MAX_GROUPS)
        cap = SF_CL_MAX_GROUPS;
    if (want > cap)
        want = cap;
    return want < 1 ? 1 : (size_t)want;
}

sf_cl_grid2 sf_cl_grid_2d(const sf_cl_state *s, size_t local, uint64_t cols, uint64_t rows)
{
    sf_cl_grid2 g;
    size_t x = 1;
    while (x * 2 <= local && x < 64 && x < cols && x * 2 <= s->max_items[0])
        x *= 2;
    size_t y = local / x;
    if (y > s->max_items[1])
        y = sf_cl_pow2_floor(s->max_items[1]);
    g.lx = x;
    g.ly = y;
    const uint64_t cap = (uint64_t)s->compute_units * SF_CL_GROUPS_PER_CU;
    uint64_t gx = (cols + x - 1) / x, gy = (rows + y - 1) / y;
    gx = gx > cap ? cap : gx < 1 ? 1 : gx;
    gy = gy > cap / gx ? cap / gx : gy;
    g.gx = (size_t)gx;
    g.gy = gy < 1 ? 1 : (size_t)gy;
    return g;
}

static sigfuse_status check_args(sf_cl_launch *l)
{
    if (l->err != CL_SUCCESS) {
        char what[128];
        snprintf(what, sizeof what, "clSetKernelArg(%s, argument %u)", l->name, (unsigned)l->bad_arg);
        return sf_cl_fail(l->ctx, l->err, what);
    }
    return SIGFUSE_SUCCESS;
}

static sigfuse_status enqueue(sf_cl_launch *l, cl_uint dims, const size_t *global, const size_t *local)
{
    SF_TRY(check_args(l));
    sf_cl_state *s = sf_cl_of(l->ctx);
    cl_int err = clEnqueueNDRangeKernel(s->queue, l->kernel, dims, NULL, global, local, 0, NULL, NULL);
    if (err != CL_SUCCESS) {
        char what[128];
        snprintf(what, sizeof what, "clEnqueueNDRangeKernel(%s)", l->name);
        return sf_cl_fail(l->ctx, err, what);
    }
    return SIGFUSE_SUCCESS;
}

sigfuse_status sf_cl_enqueue_1d(sf_cl_launch *l, size_t groups)
{
    size_t global = groups * l->local;
    return enqueue(l, 1, &global, &l->local);
}

sigfuse_status sf_cl_enqueue_2d(sf_cl_launch *l, const sf_cl_grid2 *g)
{
    size_t global[2] = {g->gx * g->lx, g->gy * g->ly};
    size_t local[2] = {g->lx, g->ly};
    return enqueue(l, 2, global, local);
}

sigfuse_status sf_cl_barrier(sigfuse_ctx *ctx)
{
    sf_cl_state *s = sf_cl_of(ctx);
    if (!s->out_of_order)
        return SIGFUSE_SUCCESS;
    cl_int err = clEnqueueBarrierWithWaitList(s->queue, 0, NULL, NULL);
    return err == CL_SUCCESS ? SIGFUSE_SUCCESS : sf_cl_fail(ctx, err, "clEnqueueBarrierWithWaitList");
}
