/* SPDX-License-Identifier: MIT */
/* The examples' backend layer: see example_backend.h. */
#include "example_backend.h"
#include "example_util.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef SIGFUSE_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

/* "program: message" on stderr; returns 1 so that callers can `return fail(...)`. */
static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", example_program);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

const char *example_backend_default(void)
{
    const char *env = getenv("SIGFUSE_BACKEND");
    return env && *env ? env : "cpu";
}

int example_device_open(example_device *d, const char *name, int error_status)
{
    *d = (example_device){0};
    sigfuse_backend b;
    if (!strcmp(name, "cpu"))
        b = SIGFUSE_BACKEND_CPU;
    else if (!strcmp(name, "opencl"))
        b = SIGFUSE_BACKEND_OPENCL;
    else if (!strcmp(name, "cuda"))
        b = SIGFUSE_BACKEND_CUDA;
    else {
        fail("unknown backend \"%s\" (cpu, opencl or cuda)", name);
        return error_status;
    }
    d->backend = b;
    sigfuse_status st = sigfuse_ctx_create(&d->ctx, b);
    if (st != SIGFUSE_SUCCESS) {
        fail("backend %s: %s: %s", name, sigfuse_status_string(st), sigfuse_last_create_error());
        return st == SIGFUSE_ERR_NOT_BUILT || st == SIGFUSE_ERR_NO_DEVICE ? EXAMPLE_EXIT_SKIP : error_status;
    }
#ifdef SIGFUSE_WITH_OPENCL
    if (b == SIGFUSE_BACKEND_OPENCL) {
        st = sigfuse_opencl_get_queue(d->ctx, &d->queue);
        if (st != SIGFUSE_SUCCESS) {
            fail("sigfuse_opencl_get_queue: %s: %s", sigfuse_status_string(st), sigfuse_ctx_last_error(d->ctx));
            return error_status;
        }
        cl_int err = clGetCommandQueueInfo(d->queue, CL_QUEUE_CONTEXT, sizeof d->cl_ctx, &d->cl_ctx, NULL);
        if (err != CL_SUCCESS) {
            fail("clGetCommandQueueInfo(CL_QUEUE_CONTEXT): error %d", (int)err);
            return error_status;
        }
    }
#endif
    /* The library may have the backend while this program was built without its runtime
     * (another build's library on the path): there would be no way to allocate. */
    bool have_memory = b == SIGFUSE_BACKEND_CPU;
#ifdef SIGFUSE_WITH_OPENCL
    have_memory = have_memory || b == SIGFUSE_BACKEND_OPENCL;
#endif
#ifdef SIGFUSE_WITH_CUDA
    have_memory = have_memory || b == SIGFUSE_BACKEND_CUDA;
#endif
    if (!have_memory) {
        fail("this program was built without %s", name);
        return EXAMPLE_EXIT_SKIP;
    }
    return 0;
}

/* ---- example_mem ------------------------------------------------------------------------ */

int example_mem_alloc(example_device *d, size_t bytes, example_mem *m)
{
    /* Rounded up and never 0: aligned_alloc wants a multiple of the alignment and
     * clCreateBuffer refuses 0 bytes. The alignment is what the head's workspace needs;
     * cudaMalloc and clCreateBuffer give more. */
    const size_t a = SIGFUSE_WORKSPACE_ALIGNMENT;
    const size_t size = bytes == 0 ? a : (bytes + a - 1) / a * a;
    m->ptr = NULL;
    m->bytes = bytes;
    switch (d->backend) {
    case SIGFUSE_BACKEND_CPU:
        m->ptr = aligned_alloc(a, size);
        return m->ptr ? 0 : fail("out of memory (%zu bytes)", size);
#ifdef SIGFUSE_WITH_OPENCL
    case SIGFUSE_BACKEND_OPENCL: {
        cl_int err;
        m->ptr = clCreateBuffer(d->cl_ctx, CL_MEM_READ_WRITE, size, NULL, &err);
        return err == CL_SUCCESS ? 0 : fail("clCreateBuffer of %zu bytes: error %d", size, (int)err);
    }
#endif
#ifdef SIGFUSE_WITH_CUDA
    case SIGFUSE_BACKEND_CUDA: {
        cudaError_t err = cudaMalloc(&m->ptr, size);
        return err == cudaSuccess ? 0 : fail("cudaMalloc of %zu bytes: %s", size, cudaGetErrorString(err));
    }
#endif
    default:
        return fail("backend %s: no memory functions in this build", sigfuse_backend_name(d->backend));
    }
}

void example_mem_free(example_device *d, example_mem *m)
{
    if (!m->ptr)
        return;
    switch (d->backend) {
#ifdef SIGFUSE_WITH_OPENCL
    case SIGFUSE_BACKEND_OPENCL:
        clReleaseMemObject((cl_mem)m->ptr);
        break;
#endif
#ifdef SIGFUSE_WITH_CUDA
    case SIGFUSE_BACKEND_CUDA:
        cudaFree(m->ptr);
        break;
#endif
    default:
        free(m->ptr);
    }
    m->ptr = NULL;
}

int example_mem_write(example_device *d, const example_mem *m, size_t offset, const void *src, size_t bytes)
{
    if (bytes == 0)
        return 0;
    switch (d->backend) {
#ifdef SIGFUSE_WITH_OPENCL
    case SIGFUSE_BACKEND_OPENCL: {
        cl_int err = clEnqueueWriteBuffer(d->queue, (cl_mem)m->ptr, CL_TRUE, offset, bytes, src, 0, NULL, NULL);
        return err == CL_SUCCESS ? 0 : fail("clEnqueueWriteBuffer: error %d", (int)err);
    }
#endif
#ifdef SIGFUSE_WITH_CUDA
    case SIGFUSE_BACKEND_CUDA: {
        cudaError_t err = cudaMemcpy((char *)m->ptr + offset, src, bytes, cudaMemcpyHostToDevice);
        return err == cudaSuccess ? 0 : fail("cudaMemcpy to the device: %s", cudaGetErrorString(err));
    }
#endif
    default:
        memcpy((char *)m->ptr + offset, src, bytes);
        return 0;
    }
}

int example_mem_read(example_device *d, const example_mem *m, size_t offset, void *dst, size_t bytes)
{
    if (bytes == 0)
        return 0;
    switch (d->backend) {
#ifdef SIGFUSE_WITH_OPENCL
    case SIGFUSE_BACKEND_OPENCL: {
        cl_int err = clEnqueueReadBuffer(d->queue, (cl_mem)m->ptr, CL_TRUE, offset, bytes, dst, 0, NULL, NULL);
        return err == CL_SUCCESS ? 0 : fail("clEnqueueReadBuffer: error %d", (int)err);
    }
#endif
#ifdef SIGFUSE_WITH_CUDA
    case SIGFUSE_BACKEND_CUDA: {
        cudaError_t err = cudaMemcpy(dst, (const char *)m->ptr + offset, bytes, cudaMemcpyDeviceToHost);
        return err == cudaSuccess ? 0 : fail("cudaMemcpy to the host: %s", cudaGetErrorString(err));
    }
#endif
    default:
        memcpy(dst, (const char *)m->ptr + offset, bytes);
        return 0;
    }
}

sigfuse_buffer example_mem_buffer(const example_device *d, const example_mem *m, size_t offset, sigfuse_dtype dtype)
{
    switch (d->backend) {
#ifdef SIGFUSE_WITH_OPENCL
    case SIGFUSE_BACKEND_OPENCL:
        return sigfuse_opencl_buffer((cl_mem)m->ptr, offset, dtype);
#endif
    case SIGFUSE_BACKEND_CUDA:
        return sigfuse_cuda_buffer((char *)m->ptr + offset, dtype);
    default:
        return sigfuse_host_buffer((char *)m->ptr + offset, dtype);
    }
}

/* ---- example_mirror --------------------------------------------------------------------- */

void example_mirror_init(example_device *d, example_mirror *m, size_t n)
{
    memset(m, 0, sizeof *m);
    m->host = (float *)example_xcalloc(n, sizeof(float));
    m->n = n;
    if (d->backend == SIGFUSE_BACKEND_CPU) {
        m->dev = sigfuse_host_buffer(m->host, SIGFUSE_F32);
        return;
    }
    if (example_mem_alloc(d, n * sizeof(float), &m->mem))
        exit(1);
    m->dev = example_mem_buffer(d, &m->mem, 0, SIGFUSE_F32);
}

sigfuse_buffer example_mirror_at(const example_mirror *m, size_t first)
{
    sigfuse_buffer b = m->dev;
    b.offset += first * sizeof(float);
    return b;
}

void example_mirror_push(example_device *d, example_mirror *m, size_t first, size_t count)
{
    if (d->backend != SIGFUSE_BACKEND_CPU &&
        example_mem_write(d, &m->mem, first * sizeof(float), m->host + first, count * sizeof(float)))
        exit(1);
}

void example_mirror_pull(example_device *d, example_mirror *m, size_t first, size_t count)
{
    if (d->backend != SIGFUSE_BACKEND_CPU &&
        example_mem_read(d, &m->mem, first * sizeof(float), m->host + first, count * sizeof(float)))
        exit(1);
}

void example_mirror_free(example_device *d, example_mirror *m)
{
    example_mem_free(d, &m->mem);
    free(m->host);
    memset(m, 0, sizeof *m);
}
