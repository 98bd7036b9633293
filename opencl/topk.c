/* SPDX-License-Identifier: MIT */
/*
 * head_topk and topk_merge on OpenCL (kernels in topk.cl). head_topk walks the head's row
 * chunks of logits (head.c's sf_cl_head_logits: CLBlast's Z = X W^T in the workspace, as
 * head_predict computes them) and runs head_topk on each chunk: a work-group a row
 * selects the row's k best of Z + b. topk_merge runs its kernel once over the rows, a
 * work-group a row selecting the k best of the shards x k candidates.
 *
 * Each row's chosen are sorted in local memory, 8 bytes an entry padded to a power of
 * 2, so k is limited by the device's local memory: 4096 on a device with 48 KiB (NVIDIA
 * GPUs), more on PoCL's CPU devices; a larger k is refused as unsupported, naming the
 * limit. A candidate's place in its row is kept in 32 bits: head_topk takes L and the
 * merge shards x k up to 2^32 - 1.
 */
#include "sf_opencl.h"

/* The local memory the kernels hold besides the sort's entries: the 256-bin histogram
 * (1 KiB) and the row's state (64 bytes), with room for what a driver adds to them. */
#define TOPK_OWN_LOCAL 2048u

/* A sort entry: topk.cl's local ulong (a chosen candidate's place, ranked by its key). */
#define TOPK_ENTRY_BYTES 8u

/* The most candidates a row may have: places below 2^32 - 1, which marks the sort's pads. */
#define TOPK_MAX_CANDIDATES 0xffffffffu

/* The sort's entries for the chosen of a row (at most k of m candidates): the power of 2
 * at or above their number (1 for none), if the device's local memory holds them. */
static sigfuse_status sort_entries(sigfuse_ctx *ctx, const char *op, int64_t k, uint64_t m, uint32_t *entries)
{
    sf_cl_state *s = sf_cl_of(ctx);
    cl_ulong local = 0;
    cl_int err = clGetDeviceInfo(s->device, CL_DEVICE_LOCAL_MEM_SIZE, sizeof local, &local, NULL);
    if (err != CL_SUCCESS)
        return sf_cl_fail(ctx, err, "clGetDeviceInfo(CL_DEVICE_LOCAL_MEM_SIZE)");
    uint64_t most = 0;   /* entries the device holds: a power of 2 (0: none) */
    if (local >= TOPK_OWN_LOCAL + TOPK_ENTRY_BYTES) {
        uint64_t room = (local - TOPK_OWN_LOCAL) / TOPK_ENTRY_BYTES;
        most = 1;
        /* At most 2^30: the sort's doubling block size stays within 32 bits. */
        while (most <= room / 2 && most < ((uint64_t)1 << 30))
            most *= 2;
    }
    const uint64_t chosen = (uint64_t)k < m ? (uint64_t)k : m;
    uint64_t p = 1;
    while (p < chosen)
        p *= 2;
    if (p > most)
        return sf_fail(ctx, SIGFUSE_ERR_UNSUPPORTED,
                       "%s: k = %lld; the opencl backend selects at most %llu a row on \"%s\" (the sort of the chosen "
                       "sits in its %llu bytes of local memory)",
                       op, (long long)k, (unsigned long long)most, ctx->device_name, (unsigned long long)local);
    *entries = (uint32_t)p;
    return SIGFUSE_SUCCESS;
}

/* ---- head_topk ------------------------------------------------------------------------------ */

typedef struct head_call {
    const sigfuse_head_topk_args *a;
    uint32_t entries, id_bits;
} head_call;

/* The rows r0 .. r0 + rows - 1 from their logits at float offset z_off of z (z NULL
 * when L = 0: every place a pad). */
static sigfuse_status head_rows(sigfuse_ctx *ctx, void *user, cl_mem z, uint64_t z_off, uint64_t r0, uint64_t rows)
{
    const head_call *h = (const head_call *)user;
    const sigfuse_head_topk_args *a = h->a;
    sf_cl_launch l;
    SF_TRY(sf_cl_begin(ctx, SF_CL_FAMILY_topk, a->x->dtype, SF_CL_KERNEL_head_topk, &l));
    sf_cl_arg_mem(&l, z);
    sf_cl_arg_u64(&l, z_off);
    sf_cl_arg_u64(&l, rows);
    sf_cl_arg_u64(&l, (uint64_t)a->l);
    sf_cl_arg_buf(&l, a->bias);
    sf_cl_arg_buf(&l, a->top_labels);
    sf_cl_arg_int(&l, a->top_labels->dtype == SIGFUSE_I64);
    sf_cl_arg_buf(&l, a->top_logits);
    sf_cl_arg_buf(&l, a->top_probs);
    sf_cl_arg_u64(&l, (uint64_t)a->k);
    sf_cl_arg_u64(&l, (uint64_t)a->label_offset);
    sf_cl_arg_u64(&l, r0);
    sf_cl_arg_u32(&l, h->id_bits);
    sf_cl_arg_local_bytes(&l, (size_t)h->entries * TOPK_ENTRY_BYTES);
    sf_cl_arg_u32(&l, h->entries);
    /* A work-group a row. */
    return sf_cl_enqueue_1d(&l, sf_cl_groups(sf_cl_of(ctx), rows * l.local, l.local));
}

size_t sf_cl_head_topk_workspace(sigfuse_ctx *ctx, const sigfuse_head_topk_args *a, int64_t chunk_rows)
{
    /* The logits' chunks alone: the selection works in local memory. */
    return sf_cl_head_logits_workspace(ctx, a->x->dtype, a->d, a->l, chunk_rows);
}

sigfuse_status sf_cl_head_topk(sigfuse_ctx *ctx, const sigfuse_head_topk_args *a)
{
    if (a->n == 0 || a->k == 0)
        return SIGFUSE_SUCCESS;
    if ((uint64_t)a->l > TOPK_MAX_CANDIDATES - 1)
        return sf_fail(ctx, SIGFUSE_ERR_UNSUPPORTED, "head_topk: l = %lld; the opencl backend takes at most %llu labels",
                       (long long)a->l, (unsigned long long)(TOPK_MAX_CANDIDATES - 1));
    head_call h = {a, 0, sf_bit_length(a->l > 0 ? (uint64_t)(a->l - 1) : 0)};
    SF_TRY(sort_entries(ctx, "head_topk", a->k, (uint64_t)a->l, &h.entries));
    if (a->l == 0)   /* no labels, no logits: every place a pad */
        return head_rows(ctx, &h, NULL, 0, 0, (uint64_t)a->n);
    return sf_cl_head_logits(ctx, a->x, a->w, a->n, a->d, a->l, a->workspace, a->workspace_bytes, head_rows, &h);
}

/* ---- topk_merge ----------------------------------------------------------------------------- */

sigfuse_status sf_cl_topk_merge(sigfuse_ctx *ctx, const sigfuse_topk_merge_args *a)
{
    if (a->n == 0 || a->k == 0)
        return SIGFUSE_SUCCESS;
    if (a->shards > (int64_t)((TOPK_MAX_CANDIDATES - 1) / (uint64_t)a->k))
        return sf_fail(ctx, SIGFUSE_ERR_UNSUPPORTED,
                       "topk_merge: shards x k = %lld x %lld candidates a row; the opencl backend takes at most %llu",
                       (long long)a->shards, (long long)a->k, (unsigned long long)(TOPK_MAX_CANDIDATES - 1));
    const uint64_t m = (uint64_t)a->shards * (uint64_t)a->k;
    uint32_t entries;
    SF_TRY(sort_entries(ctx, "topk_merge", a->k, m, &entries));
    const bool ids64 = a->in_labels->dtype == SIGFUSE_I64;
    sf_cl_launch l;
    SF_TRY(sf_cl_begin(ctx, SF_CL_FAMILY_topk, a->in_logits->dtype, SF_CL_KERNEL_topk_merge, &l));
    sf_cl_arg_buf(&l, a->in_labels);
    sf_cl_arg_buf(&l, a->in_logits);
    sf_cl_arg_u64(&l, (uint64_t)a->n);
    sf_cl_arg_u64(&l, (uint64_t)a->k);
    sf_cl_arg_u64(&l, (uint64_t)a->shards);
    sf_cl_arg_int(&l, ids64);
    sf_cl_arg_buf(&l, a->top_labels);
    sf_cl_arg_buf(&l, a->top_logits);
    sf_cl_arg_buf(&l, a->top_probs);
    sf_cl_arg_u32(&l, ids64 ? 63u : 31u);   /* real ids are not negative */
    sf_cl_arg_u32(&l, sf_bit_length(m > 0 ? m - 1 : 0));
    sf_cl_arg_local_bytes(&l, (size_t)entries * TOPK_ENTRY_BYTES);
    sf_cl_arg_u32(&l, entries);
    return sf_cl_enqueue_1d(&l, sf_cl_groups(sf_cl_of(ctx), (uint64_t)a->n * l.local, l.local));
}
