/* SPDX-License-Identifier: MIT */
/*
 * The shared argument checks (see check.h). Order of checks within one buffer list:
 * required buffers present, memory kind, dtype, then pointer, byte count and alignment,
 * then the backend's own check (an OpenCL buffer's size against offset + bytes).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "check.h"

static const char *memory_name(sigfuse_memory m)
{
    switch (m) {
    case SIGFUSE_MEMORY_HOST: return "host";
    case SIGFUSE_MEMORY_CUDA: return "cuda";
    case SIGFUSE_MEMORY_OPENCL: return "opencl";
    }
    return "unknown";
}

static bool is_float(sigfuse_dtype d)
{
    return d == SIGFUSE_F32 || d == SIGFUSE_F16 || d == SIGFUSE_BF16 || d == SIGFUSE_F64;
}

sigfuse_status sf_check_size(sigfuse_ctx *ctx, const char *op, const char *name, int64_t v)
{
    if (v < 0)
        return sf_fail(ctx, SIGFUSE_ERR_INVALID_SIZE, "%s: %s is negative (%lld)", op, name, (long long)v);
    return SIGFUSE_SUCCESS;
}

sigfuse_status sf_check_product(sigfuse_ctx *ctx, const char *op, const char *what, int64_t a, int64_t b,
                                int64_t *out)
{
    if (a != 0 && b > INT64_MAX / a)
        return sf_fail(ctx, SIGFUSE_ERR_INVALID_SIZE, "%s: %s = %lld x %lld overflows", op, what, (long long)a,
                       (long long)b);
    *out = a * b;
    return SIGFUSE_SUCCESS;
}

sigfuse_status sf_check_range(sigfuse_ctx *ctx, const char *op, const char *name, float v, double lo, double hi)
{
    if (!(v >= lo && v <= hi))   /* also rejects NaN */
        return sf_fail(ctx, SIGFUSE_ERR_INVALID_OPTION, "%s: %s = %g is outside [%g, %g]", op, name, (double)v, lo,
                       hi);
    return SIGFUSE_SUCCESS;
}

static sigfuse_status check_dtype(sigfuse_ctx *ctx, const char *op, const sf_arg *a, sigfuse_dtype op_dtype)
{
    sigfuse_dtype d = a->buf->dtype;
    bool ok = true;
    const char *want = "";
    switch (a->role) {
    case SF_ROLE_FLOAT:
        ok = d == op_dtype;
        want = "the op's float dtype";
        break;
    case SF_ROLE_TARGET:
    case SF_ROLE_LABEL:
        ok = d == op_dtype || d == SIGFUSE_U8;
        want = "u8 or the op's float dtype";
        break;
    case SF_ROLE_MASK:
        ok = d == SIGFUSE_U8;
        want = "u8";
        break;
    case SF_ROLE_INDEX:
        ok = d == SIGFUSE_I32 || d == SIGFUSE_I64;
        want = "i32 or i64";
        break;
    case SF_ROLE_SCALAR:
        ok = d == SIGFUSE_F32 || (d == SIGFUSE_F64 && op_dtype == SIGFUSE_F64);
        want = op_dtype == SIGFUSE_F64 ? "f32 or f64" : "f32";
        break;
    case SF_ROLE_BYTES:
    case SF_ROLE_LOSS:   /* resolved by the catalogue before any check */
        break;
    }
    if (!ok)
        return sf_fail(ctx, SIGFUSE_ERR_INVALID_DTYPE, "%s: %s has dtype %s; it must be %s (%s)", op, a->name,
                       sigfuse_dtype_name(d), want, sigfuse_dtype_name(op_dtype));
    return SIGFUSE_SUCCESS;
}

sigfuse_status sf_check_buffers(sigfuse_ctx *ctx, const char *op, const sf_arg *args, int n, sigfuse_dtype *dtype)
{
    /* 1. Required buffers present; every present buffer in the context's memory. */
    for (int i = 0; i < n; i++) {
        const sf_arg *a = &args[i];
        if (!a->buf) {
            if (a->required)
                return sf_fail(ctx, SIGFUSE_ERR_NULL_ARGUMENT, "%s: %s is required but absent (NULL)", op, a->name);
            continue;
        }
        if (a->buf->memory != ctx->memory)
            return sf_fail(ctx, SIGFUSE_ERR_WRONG_MEMORY, "%s: %s is %s memory but the context's backend %s uses %s memory",
                           op, a->name, memory_name(a->buf->memory), sigfuse_backend_name(ctx->backend),
                           memory_name(ctx->memory));
        if (sigfuse_dtype_size(a->buf->dtype) == 0)
            return sf_fail(ctx, SIGFUSE_ERR_INVALID_DTYPE, "%s: %s has an unknown dtype value %d", op, a->name,
                           (int)a->buf->dtype);
    }

    /* 2. The op's float dtype comes from its first float buffer; the rest must agree. */
    sigfuse_dtype op_dtype = SIGFUSE_F32;
    for (int i = 0; i < n; i++) {
        if (args[i].buf && args[i].role == SF_ROLE_FLOAT) {
            op_dtype = args[i].buf->dtype;
            if (!is_float(op_dtype))
                return sf_fail(ctx, SIGFUSE_ERR_INVALID_DTYPE, "%s: %s has dtype %s; it must be f32, f16 or bf16", op,
                               args[i].name, sigfuse_dtype_name(op_dtype));
            break;
        }
    }
    for (int i = 0; i < n; i++) {
        if (!args[i].buf)
            continue;
        sigfuse_status st = check_dtype(ctx, op, &args[i], op_dtype);
        if (st)
            return st;
    }
    if (op_dtype == SIGFUSE_F64 && ctx->backend != SIGFUSE_BACKEND_CPU)
        return sf_fail(ctx, SIGFUSE_ERR_UNSUPPORTED, "%s: dtype f64 is supported by the cpu reference backend only", op);

    /* 3. Pointers, byte counts, alignment, then the backend's own view of the buffer. */
    for (int i = 0; i < n; i++) {
        const sf_arg *a = &args[i];
        if (!a->buf || a->count == 0)
            continue;
        size_t elem = a->role == SF_ROLE_BYTES ? 1 : sigfuse_dtype_size(a->buf->dtype);
        if (!a->buf->ptr)
            return sf_fail(ctx, SIGFUSE_ERR_NULL_ARGUMENT, "%s: %s has a NULL pointer but %lld elements", op, a->name,
                           (long long)a->count);
        if ((uint64_t)a->count > SIZE_MAX / elem)
            return sf_fail(ctx, SIGFUSE_ERR_INVALID_SIZE, "%s: %s would span more bytes than size_t holds", op, a->name);
        size_t bytes = (size_t)a->count * elem;
        uintptr_t address = a->buf->memory == SIGFUSE_MEMORY_OPENCL ? (uintptr_t)a->buf->offset
                                                                    : (uintptr_t)a->buf->ptr + a->buf->offset;
        if (address % elem != 0)
            return sf_fail(ctx, SIGFUSE_ERR_INVALID_ARGUMENT, "%s: %s is not aligned to its %zu-byte elements", op,
                           a->name, elem);
        if (ctx->ops->check_buffer) {
            sigfuse_status st = ctx->ops->check_buffer(ctx, op, a->name, a->buf, bytes);
            if (st)
                return st;
        }
    }
    *dtype = op_dtype;
    return SIGFUSE_SUCCESS;
}

/* The byte range [*lo, *hi) a present, non-empty buffer covers: addresses for host and
 * CUDA memory, offsets inside its cl_mem for OpenCL. False when it covers nothing. */
static bool byte_range(const sf_arg *a, uintptr_t *lo, uintptr_t *hi)
{
    if (!a->buf || a->count == 0)
        return false;
    size_t elem = a->role == SF_ROLE_BYTES ? 1 : sigfuse_dtype_size(a->buf->dtype);
    *lo = a->buf->memory == SIGFUSE_MEMORY_OPENCL ? (uintptr_t)a->buf->offset : (uintptr_t)a->buf->ptr + a->buf->offset;
    *hi = *lo + (uintptr_t)a->count * elem;   /* sf_check_buffers has bounded count * elem */
    return true;
}

static const char *role_name(sf_role r)
{
    switch (r) {
    case SF_ROLE_FLOAT: return "float tensor";
    case SF_ROLE_TARGET: return "target tensor";
    case SF_ROLE_LABEL: return "label tensor";
    case SF_ROLE_SCALAR: return "reduced scalar";
    case SF_ROLE_MASK: return "mask";
    case SF_ROLE_INDEX: return "index tensor";
    case SF_ROLE_BYTES: return "workspace";
    case SF_ROLE_LOSS: return "loss";
    }
    return "buffer";
}

sigfuse_status sf_check_overlaps(sigfuse_ctx *ctx, const char *op, const sf_arg *args, int n, int first_output,
                                 bool allow_in_place)
{
    for (int o = first_output; o < n; o++) {
        uintptr_t olo, ohi;
        if (!byte_range(&args[o], &olo, &ohi))
            continue;
        for (int i = 0; i < n; i++) {
            uintptr_t lo, hi;
            if (i == o || !byte_range(&args[i], &lo, &hi))
                continue;
            /* Two OpenCL buffers can only overlap inside the same cl_mem. */
            if (args[i].buf->memory == SIGFUSE_MEMORY_OPENCL && args[i].buf->ptr != args[o].buf->ptr)
                continue;
            if (hi <= olo || ohi <= lo)
                continue;
            bool input = i < first_output;
            bool same_bytes = lo == olo && hi == ohi && args[i].buf->dtype == args[o].buf->dtype;
            bool same_shape = args[i].shape && args[o].shape && strcmp(args[i].shape, args[o].shape) == 0 &&
                              args[i].role == args[o].role;
            /* A reduced scalar (loss, dloss_in) is read and written by different kernels. */
            bool scalar = args[i].role == SF_ROLE_SCALAR || args[o].role == SF_ROLE_SCALAR;
            if (allow_in_place && input && same_bytes && same_shape && !scalar)
                continue;
            const char *why = !input ? "two outputs must not share memory"
                              : !allow_in_place ? "this op's outputs must not overlap its inputs"
                              : same_bytes && scalar ? "a reduced scalar must not share memory with an output"
                              : same_bytes ? "in place needs an input of the same shape and role, not only the same bytes"
                                           : "an output may be the very buffer of an input of the same shape and dtype, "
                                             "never overlap one partly";
            if (input && allow_in_place && same_bytes && !scalar)
                return sf_fail(ctx, SIGFUSE_ERR_INVALID_ARGUMENT, "%s: %s overlaps %s (%s: %s is a %s %s, %s a %s %s)",
                               op, args[o].name, args[i].name, why, args[o].name, args[o].shape ? args[o].shape : "",
                               role_name(args[o].role), args[i].name, args[i].shape ? args[i].shape : "",
                               role_name(args[i].role));
            return sf_fail(ctx, SIGFUSE_ERR_INVALID_ARGUMENT, "%s: %s overlaps %s (%s)", op, args[o].name,
                           args[i].name, why);
        }
    }
    return SIGFUSE_SUCCESS;
}
