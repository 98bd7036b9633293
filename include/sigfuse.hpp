// SPDX-License-Identifier: MIT
/*
 * sigfuse.hpp: a header-only C++17 layer over the C API (sigfuse.h), which stays the
 * product. It adds no op and no behaviour to the library; it makes it pleasant from C++:
 *
 *  - sigfuse::context and sigfuse::workspace own what they create and free it (RAII,
 *    move-only); context::release() / context(sigfuse_ctx*) hand ownership back and forth.
 *    A workspace is allocated with the backend's own runtime (aligned new, cudaMalloc,
 *    clCreateBuffer): the library itself still never allocates caller memory.
 *  - Every call comes in two spellings, same name, caller's choice:
 *        ctx.sigmoid_forward(n, x, y);                     // throws sigfuse::error
 *        auto r = ctx.sigmoid_forward(n, x, y, sigfuse::nothrow);  // sigfuse::result<void>
 *    sigfuse::error and sigfuse::result carry the status and the context's message.
 *  - sigfuse::view is a sigfuse_buffer made from a typed pointer: host_view(ptr),
 *    cuda_view(device_ptr), opencl_view<T>(mem, element_offset); a default view is
 *    "absent" (NULL in the C API). The dtype follows the element type: float f32,
 *    double f64, std::uint8_t u8 (hard targets, labels, a loss's mask of ignored
 *    targets), std::int32_t / std::int64_t i32 / i64 (CSR positives, top-k ids),
 *    sigfuse::f16 / sigfuse::bf16 for 16-bit storage.
 *
 * GPU SDK headers are included only on request, so this header builds anywhere:
 * define SIGFUSE_HPP_CUDA (or include sigfuse_cuda.h first) for context::cuda(), the
 * stream accessors and CUDA workspaces (link CUDA::cudart); define SIGFUSE_HPP_OPENCL
 * (or include sigfuse_opencl.h first) for context::opencl(), opencl_view() and OpenCL
 * workspaces (link OpenCL::OpenCL).
 */
#ifndef SIGFUSE_HPP
#define SIGFUSE_HPP

#include <cstddef>
#include <cstdint>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "sigfuse.h"

#if defined(SIGFUSE_HPP_CUDA) || defined(SIGFUSE_CUDA_H)
#include "sigfuse_cuda.h"
#define SIGFUSE_HPP_HAS_CUDA 1
#endif
#if defined(SIGFUSE_HPP_OPENCL) || defined(SIGFUSE_OPENCL_H)
#include "sigfuse_opencl.h"
#define SIGFUSE_HPP_HAS_OPENCL 1
#endif

namespace sigfuse {

/* ---- Errors ---------------------------------------------------------------------------- */

/* A failed call: its status and the detail the library gave (the context's message, or
 * the thread's creation message for a failed context creation). */
class error : public std::runtime_error {
public:
    error(sigfuse_status status, std::string message)
        : std::runtime_error(describe(status, message)), status_(status), message_(std::move(message))
    {
    }
    sigfuse_status status() const noexcept { return status_; }
    /* The library's detail alone ("targets: dtype u8 is not allowed with ..."); what()
     * also has the status ("sigfuse: invalid dtype: targets: dtype u8 ..."). */
    const std::string &message() const noexcept { return message_; }

private:
    static std::string describe(sigfuse_status status, const std::string &message)
    {
        std::string s = std::string("sigfuse: ") + sigfuse_status_string(status);
        if (!message.empty())
            s += ": " + message;
        return s;
    }
    sigfuse_status status_;
    std::string message_;
};

/* The tag that selects the status-returning spelling of a call. */
struct nothrow_t {
    explicit constexpr nothrow_t() = default;
};
inline constexpr nothrow_t nothrow{};

/* An expected-style outcome: a value, or the status and message of the failure.
 * value() (and * / ->) throw sigfuse::error when there is no value. */
template <class T>
class [[nodiscard]] result {
public:
    result(T value) : value_(std::move(value)) {}
    result(sigfuse_status status, std::string message) : status_(status), message_(std::move(message))
    {
        /* A success without a value would make value() lie. */
        if (status_ == SIGFUSE_SUCCESS)
            status_ = SIGFUSE_ERR_INVALID_ARGUMENT;
    }

    bool ok() const noexcept { return status_ == SIGFUSE_SUCCESS; }
    explicit operator bool() const noexcept { return ok(); }
    sigfuse_status status() const noexcept { return status_; }
    const std::string &message() const noexcept { return message_; }
    /* The failure as an exception object (to throw or to keep). */
    sigfuse::error error() const { return sigfuse::error(status_, message_); }

    T &value() &
    {
        check();
        return *value_;
    }
    const T &value() const &
    {
        check();
        return *value_;
    }
    T &&value() &&
    {
        check();
        return std::move(*value_);
    }
    T &operator*() & { return value(); }
    const T &operator*() const & { return value(); }
    T &&operator*() && { return std::move(*this).value(); }
    T *operator->() { return &value(); }
    const T *operator->() const { return &value(); }
    template <class U>
    T value_or(U &&fallback) const &
    {
        return ok() ? *value_ : static_cast<T>(std::forward<U>(fallback));
    }
    template <class U>
    T value_or(U &&fallback) &&
    {
        return ok() ? std::move(*value_) : static_cast<T>(std::forward<U>(fallback));
    }

private:
    void check() const
    {
        if (!ok())
            throw error();
    }
    sigfuse_status status_ = SIGFUSE_SUCCESS;
    std::string message_;
    std::optional<T> value_;
};

template <>
class [[nodiscard]] result<void> {
public:
    result() = default;
    result(sigfuse_status status, std::string message) : status_(status), message_(std::move(message)) {}

    bool ok() const noexcept { return status_ == SIGFUSE_SUCCESS; }
    explicit operator bool() const noexcept { return ok(); }
    sigfuse_status status() const noexcept { return status_; }
    const std::string &message() const noexcept { return message_; }
    sigfuse::error error() const { return sigfuse::error(status_, message_); }
    /* Throws sigfuse::error on failure; the throwing spelling of every call is this. */
    void value() const
    {
        if (!ok())
            throw error();
    }

private:
    sigfuse_status status_ = SIGFUSE_SUCCESS;
    std::string message_;
};

/* ---- Views over caller memory ------------------------------------------------------------ */

/* 16-bit storage formats as distinct element types, so that a pointer's type names its
 * dtype (both would be std::uint16_t otherwise). Same size and layout as the bits. */
struct f16 {
    std::uint16_t bits;
};
struct bf16 {
    std::uint16_t bits;
};
static_assert(sizeof(f16) == 2 && sizeof(bf16) == 2, "16-bit storage types must be 2 bytes");

/* dtype_v<T>: the sigfuse dtype of an element type (const or not). */
template <class T>
struct dtype_of;
template <>
struct dtype_of<float> : std::integral_constant<sigfuse_dtype, SIGFUSE_F32> {};
template <>
struct dtype_of<double> : std::integral_constant<sigfuse_dtype, SIGFUSE_F64> {};
template <>
struct dtype_of<std::uint8_t> : std::integral_constant<sigfuse_dtype, SIGFUSE_U8> {};
template <>
struct dtype_of<std::int32_t> : std::integral_constant<sigfuse_dtype, SIGFUSE_I32> {};
template <>
struct dtype_of<std::int64_t> : std::integral_constant<sigfuse_dtype, SIGFUSE_I64> {};
template <>
struct dtype_of<f16> : std::integral_constant<sigfuse_dtype, SIGFUSE_F16> {};
template <>
struct dtype_of<bf16> : std::integral_constant<sigfuse_dtype, SIGFUSE_BF16> {};
template <class T>
inline constexpr sigfuse_dtype dtype_v = dtype_of<std::remove_cv_t<T>>::value;

/* A sigfuse_buffer, or "absent". Views do not own memory and are cheap to copy. */
class view {
public:
    view() noexcept : buf_(), present_(false) {}
    explicit view(const sigfuse_buffer &buffer) noexcept : buf_(buffer), present_(true) {}

    bool present() const noexcept { return present_; }
    explicit operator bool() const noexcept { return present_; }
    /* What the C API takes: the descriptor's address, or NULL when absent. Valid while
     * this view lives. */
    const sigfuse_buffer *get() const noexcept { return present_ ? &buf_ : nullptr; }
    const sigfuse_buffer &buffer() const noexcept { return buf_; }
    sigfuse_dtype dtype() const noexcept { return buf_.dtype; }
    sigfuse_memory memory() const noexcept { return buf_.memory; }

    /* The view that starts `first` elements further (host, CUDA and OpenCL alike: the
     * C descriptor's byte offset moves). */
    view slice(std::int64_t first) const noexcept
    {
        view v = *this;
        v.buf_.offset += static_cast<std::size_t>(first) * sigfuse_dtype_size(buf_.dtype);
        return v;
    }

private:
    sigfuse_buffer buf_;
    bool present_;
};

inline const view absent{};

/* Host memory (the cpu backend's). */
template <class T>
view host_view(T *ptr) noexcept
{
    return view(sigfuse_host_buffer(ptr, dtype_v<T>));
}
template <class T, class A>
view host_view(std::vector<T, A> &v) noexcept
{
    return host_view(v.data());
}
template <class T, class A>
view host_view(const std::vector<T, A> &v) noexcept
{
    return host_view(v.data());
}
/* Untyped host memory with an explicit dtype (e.g. std::uint16_t bits as f16). */
inline view host_view(const void *ptr, sigfuse_dtype dtype) noexcept
{
    return view(sigfuse_host_buffer(ptr, dtype));
}

/* A CUDA device pointer. Needs no CUDA header: the descriptor is plain data. */
template <class T>
view cuda_view(T *device_ptr) noexcept
{
    return view(sigfuse_cuda_buffer(device_ptr, dtype_v<T>));
}
inline view cuda_view(const void *device_ptr, sigfuse_dtype dtype) noexcept
{
    return view(sigfuse_cuda_buffer(device_ptr, dtype));
}

#ifdef SIGFUSE_HPP_HAS_OPENCL
/* Elements of type T inside `mem`, starting at element `element_offset` (the C API's
 * offset is in bytes; this one counts elements of T). */
template <class T>
view opencl_view(cl_mem mem, std::size_t element_offset = 0) noexcept
{
    return view(sigfuse_opencl_buffer(mem, element_offset * sizeof(T), dtype_v<T>));
}
/* Untyped: a byte offset and an explicit dtype, as in the C API. */
inline view opencl_view(cl_mem mem, std::size_t byte_offset, sigfuse_dtype dtype) noexcept
{
    return view(sigfuse_opencl_buffer(mem, byte_offset, dtype));
}
#endif

/* ---- Argument sets and contexts ---------------------------------------------------------- */

class workspace;

} // namespace sigfuse

/* The argument structs of the struct-taking ops and every op's two spellings, generated
 * from the op catalogue (scripts/gen_hpp.py): sigfuse::*_args and detail::ops, which
 * context derives from. */
#include "sigfuse_ops.hpp"

namespace sigfuse {

/* Owns a sigfuse_ctx. An empty context (default-constructed or moved from) is allowed:
 * calls on it fail with SIGFUSE_ERR_NULL_ARGUMENT like the C API's on NULL. */
class context : public detail::ops<context> {
public:
    context() noexcept = default;
    /* Adopt a context made by the C API; it is destroyed with this object. */
    explicit context(sigfuse_ctx *adopt) noexcept : ctx_(adopt) {}
    ~context() { sigfuse_ctx_destroy(ctx_); }
    context(const context &) = delete;
    context &operator=(const context &) = delete;
    context(context &&other) noexcept : ctx_(other.release()) {}
    context &operator=(context &&other) noexcept
    {
        if (this != &other) {
            sigfuse_ctx_destroy(ctx_);
            ctx_ = other.release();
        }
        return *this;
    }

    /* The backend's default device and stream/queue (sigfuse_ctx_create). */
    static result<context> create(sigfuse_backend backend, nothrow_t)
    {
        sigfuse_ctx *c = nullptr;
        sigfuse_status st = sigfuse_ctx_create(&c, backend);
        return created(st, c);
    }
    static context create(sigfuse_backend backend) { return create(backend, nothrow).value(); }
    static context cpu() { return create(SIGFUSE_BACKEND_CPU); }

#ifdef SIGFUSE_HPP_HAS_CUDA
    /* CUDA device `device`, enqueuing on the caller's `stream` (which stays the caller's). */
    static result<context> cuda(int device, cudaStream_t stream, nothrow_t)
    {
        sigfuse_ctx *c = nullptr;
        sigfuse_status st = sigfuse_ctx_create_cuda(&c, device, stream);
        return created(st, c);
    }
    static context cuda(int device = 0, cudaStream_t stream = nullptr) { return cuda(device, stream, nothrow).value(); }
    cudaStream_t cuda_stream() const
    {
        cudaStream_t s = nullptr;
        finish(sigfuse_cuda_get_stream(ctx_, &s)).value();
        return s;
    }
    result<void> set_cuda_stream(cudaStream_t stream, nothrow_t) { return finish(sigfuse_cuda_set_stream(ctx_, stream)); }
    void set_cuda_stream(cudaStream_t stream) { set_cuda_stream(stream, nothrow).value(); }
#endif

#ifdef SIGFUSE_HPP_HAS_OPENCL
    /* The caller's command queue (retained by the library while the context lives). */
    static result<context> opencl(cl_command_queue queue, nothrow_t)
    {
        sigfuse_ctx *c = nullptr;
        sigfuse_status st = sigfuse_ctx_create_opencl(&c, queue);
        return created(st, c);
    }
    static context opencl(cl_command_queue queue) { return opencl(queue, nothrow).value(); }
    cl_command_queue opencl_queue() const
    {
        cl_command_queue q = nullptr;
        finish(sigfuse_opencl_get_queue(ctx_, &q)).value();
        return q;
    }
    /* The OpenCL context of the queue: where buffers for this context are made. */
    cl_context opencl_context() const
    {
        cl_context c = nullptr;
        cl_int err = clGetCommandQueueInfo(opencl_queue(), CL_QUEUE_CONTEXT, sizeof c, &c, nullptr);
        if (err != CL_SUCCESS)
            throw sigfuse::error(SIGFUSE_ERR_BACKEND,
                                 "clGetCommandQueueInfo(CL_QUEUE_CONTEXT) failed: " + std::to_string(err));
        return c;
    }
    result<void> set_opencl_queue(cl_command_queue queue, nothrow_t)
    {
        return finish(sigfuse_opencl_set_queue(ctx_, queue));
    }
    void set_opencl_queue(cl_command_queue queue) { set_opencl_queue(queue, nothrow).value(); }
#endif

    sigfuse_ctx *get() const noexcept { return ctx_; }
    /* Give up ownership: the caller destroys the returned context. */
    sigfuse_ctx *release() noexcept
    {
        sigfuse_ctx *c = ctx_;
        ctx_ = nullptr;
        return c;
    }
    explicit operator bool() const noexcept { return ctx_ != nullptr; }

    sigfuse_backend backend() const noexcept { return sigfuse_ctx_backend(ctx_); }
    sigfuse_memory memory() const noexcept { return sigfuse_ctx_memory(ctx_); }
    std::string device_name() const { return sigfuse_ctx_device_name(ctx_); }
    std::string last_error() const { return sigfuse_ctx_last_error(ctx_); }

    result<void> synchronize(nothrow_t) { return finish(sigfuse_ctx_synchronize(ctx_)); }
    void synchronize() { synchronize(nothrow).value(); }

    /* Every op, in two spellings: detail::ops (sigfuse_ops.hpp). */


    /* -- The heads' workspace size queries: they read everything but the workspace. -- */
    result<std::size_t> head_predict_workspace_size(const head_predict_args &a, std::int64_t chunk_rows, nothrow_t)
    {
        const sigfuse_head_predict_args c = a.c_args();
        std::size_t bytes = 0;
        const sigfuse_status st = sigfuse_head_predict_workspace_size(ctx_, &c, chunk_rows, &bytes);
        return sized(st, bytes);
    }
    std::size_t head_predict_workspace_size(const head_predict_args &a, std::int64_t chunk_rows = 0)
    {
        return head_predict_workspace_size(a, chunk_rows, nothrow).value();
    }
    result<std::size_t> head_train_workspace_size(const head_train_args &a, std::int64_t chunk_rows, nothrow_t)
    {
        const sigfuse_head_train_args c = a.c_args();
        std::size_t bytes = 0;
        const sigfuse_status st = sigfuse_head_train_workspace_size(ctx_, &c, chunk_rows, &bytes);
        return sized(st, bytes);
    }
    std::size_t head_train_workspace_size(const head_train_args &a, std::int64_t chunk_rows = 0)
    {
        return head_train_workspace_size(a, chunk_rows, nothrow).value();
    }
    result<std::size_t> head_topk_workspace_size(const head_topk_args &a, std::int64_t chunk_rows, nothrow_t)
    {
        const sigfuse_head_topk_args c = a.c_args();
        std::size_t bytes = 0;
        const sigfuse_status st = sigfuse_head_topk_workspace_size(ctx_, &c, chunk_rows, &bytes);
        return sized(st, bytes);
    }
    std::size_t head_topk_workspace_size(const head_topk_args &a, std::int64_t chunk_rows = 0)
    {
        return head_topk_workspace_size(a, chunk_rows, nothrow).value();
    }

private:
    friend class detail::ops<context>;
    static result<context> created(sigfuse_status st, sigfuse_ctx *c)
    {
        if (st != SIGFUSE_SUCCESS) {
            sigfuse_ctx_destroy(c);   /* NULL on failure by contract; harmless either way */
            return result<context>(st, sigfuse_last_create_error());
        }
        return result<context>(context(c));
    }
    result<void> finish(sigfuse_status st) const
    {
        if (st == SIGFUSE_SUCCESS)
            return {};
        return result<void>(st, sigfuse_ctx_last_error(ctx_));
    }
    /* bytes must be read after the call that writes it: never pass both as arguments of
     * one call (their evaluation order is unspecified). */
    result<std::size_t> sized(sigfuse_status st, std::size_t bytes) const
    {
        if (st == SIGFUSE_SUCCESS)
            return result<std::size_t>(bytes);
        return result<std::size_t>(st, sigfuse_ctx_last_error(ctx_));
    }

    sigfuse_ctx *ctx_ = nullptr;
};

/* ---- Workspaces ------------------------------------------------------------------------- */

/* Scratch in a context's memory, aligned to SIGFUSE_WORKSPACE_ALIGNMENT, freed with this
 * object. Host memory always; CUDA memory (on the current device: call cudaSetDevice
 * first for a context on another one) with SIGFUSE_HPP_CUDA; OpenCL memory (in the
 * queue's cl_context) with SIGFUSE_HPP_OPENCL. Zero bytes give an empty workspace whose
 * view is absent, which is what the heads accept when their size query says 0. */
class workspace {
public:
    workspace() noexcept = default;
    ~workspace() { reset(); }
    workspace(const workspace &) = delete;
    workspace &operator=(const workspace &) = delete;
    workspace(workspace &&o) noexcept : memory_(o.memory_), ptr_(o.ptr_), bytes_(o.bytes_)
    {
        o.ptr_ = nullptr;
        o.bytes_ = 0;
    }
    workspace &operator=(workspace &&o) noexcept
    {
        if (this != &o) {
            reset();
            memory_ = o.memory_;
            ptr_ = o.ptr_;
            bytes_ = o.bytes_;
            o.ptr_ = nullptr;
            o.bytes_ = 0;
        }
        return *this;
    }

    static result<workspace> allocate(const context &ctx, std::size_t bytes, nothrow_t)
    {
        workspace w;
        w.memory_ = ctx.memory();
        if (bytes == 0)
            return result<workspace>(std::move(w));
        switch (w.memory_) {
        case SIGFUSE_MEMORY_HOST:
            w.ptr_ = ::operator new(bytes, std::align_val_t(SIGFUSE_WORKSPACE_ALIGNMENT), std::nothrow);
            if (!w.ptr_)
                return result<workspace>(SIGFUSE_ERR_OUT_OF_MEMORY,
                                         "workspace: " + std::to_string(bytes) + " bytes of host memory");
            break;
        case SIGFUSE_MEMORY_CUDA:
#ifdef SIGFUSE_HPP_HAS_CUDA
        {
            cudaError_t err = cudaMalloc(&w.ptr_, bytes);
            if (err != cudaSuccess) {
                w.ptr_ = nullptr;
                return result<workspace>(SIGFUSE_ERR_OUT_OF_MEMORY, "workspace: cudaMalloc(" + std::to_string(bytes) +
                                                                        "): " + cudaGetErrorString(err));
            }
            break;
        }
#else
            return result<workspace>(SIGFUSE_ERR_UNSUPPORTED,
                                     "workspace: CUDA memory needs sigfuse.hpp with SIGFUSE_HPP_CUDA defined");
#endif
        case SIGFUSE_MEMORY_OPENCL:
#ifdef SIGFUSE_HPP_HAS_OPENCL
        {
            cl_context clctx = nullptr;
            try {
                clctx = ctx.opencl_context();
            } catch (const sigfuse::error &e) {
                return result<workspace>(e.status(), "workspace: " + e.message());
            }
            cl_int err = CL_SUCCESS;
            cl_mem mem = clCreateBuffer(clctx, CL_MEM_READ_WRITE, bytes, nullptr, &err);
            if (err != CL_SUCCESS)
                return result<workspace>(SIGFUSE_ERR_OUT_OF_MEMORY, "workspace: clCreateBuffer(" +
                                                                        std::to_string(bytes) +
                                                                        ") failed: " + std::to_string(err));
            w.ptr_ = mem;
            break;
        }
#else
            return result<workspace>(SIGFUSE_ERR_UNSUPPORTED,
                                     "workspace: OpenCL memory needs sigfuse.hpp with SIGFUSE_HPP_OPENCL defined");
#endif
        default:
            return result<workspace>(SIGFUSE_ERR_NULL_ARGUMENT, "workspace: the context is empty");
        }
        w.bytes_ = bytes;
        return result<workspace>(std::move(w));
    }
    static workspace allocate(const context &ctx, std::size_t bytes) { return allocate(ctx, bytes, nothrow).value(); }

    std::size_t bytes() const noexcept { return bytes_; }
    sigfuse_memory memory() const noexcept { return memory_; }
    /* Bytes as u8; absent when empty. */
    sigfuse::view view() const noexcept
    {
        if (!ptr_)
            return sigfuse::view();
        sigfuse_buffer b;
        b.memory = memory_;
        b.dtype = SIGFUSE_U8;
        b.ptr = ptr_;
        b.offset = 0;
        return sigfuse::view(b);
    }

private:
    void reset() noexcept
    {
        if (ptr_) {
            switch (memory_) {
            case SIGFUSE_MEMORY_HOST:
                ::operator delete(ptr_, std::align_val_t(SIGFUSE_WORKSPACE_ALIGNMENT));
                break;
            case SIGFUSE_MEMORY_CUDA:
#ifdef SIGFUSE_HPP_HAS_CUDA
                cudaFree(ptr_);
#endif
                break;
            case SIGFUSE_MEMORY_OPENCL:
#ifdef SIGFUSE_HPP_HAS_OPENCL
                clReleaseMemObject(static_cast<cl_mem>(ptr_));
#endif
                break;
            }
        }
        ptr_ = nullptr;
        bytes_ = 0;
    }

    sigfuse_memory memory_ = SIGFUSE_MEMORY_HOST;
    void *ptr_ = nullptr;
    std::size_t bytes_ = 0;
};

inline void head_predict_args::set_workspace(const sigfuse::workspace &ws) noexcept
{
    workspace = ws.view();
    workspace_bytes = ws.bytes();
}
inline void head_train_args::set_workspace(const sigfuse::workspace &ws) noexcept
{
    workspace = ws.view();
    workspace_bytes = ws.bytes();
}
inline void head_topk_args::set_workspace(const sigfuse::workspace &ws) noexcept
{
    workspace = ws.view();
    workspace_bytes = ws.bytes();
}

/* ---- Small helpers ------------------------------------------------------------------------ */

/* sigfuse_topk_metrics: P@k and R@k of host top-k lists [n, k] (ids, pads -1) against
 * host CSR positives (pos_offsets [n + 1], pos_labels). */
struct topk_scores {
    double precision_at_k, recall_at_k;
};
inline result<topk_scores> topk_metrics(std::int64_t n, std::int64_t k, const std::int64_t *top_labels,
                                        const std::int64_t *pos_offsets, const std::int64_t *pos_labels, nothrow_t)
{
    topk_scores s{0, 0};
    const sigfuse_status st =
        sigfuse_topk_metrics(n, k, top_labels, pos_offsets, pos_labels, &s.precision_at_k, &s.recall_at_k);
    if (st != SIGFUSE_SUCCESS)
        return result<topk_scores>(st, std::string("topk_metrics: ") + sigfuse_status_string(st));
    return s;
}
inline topk_scores topk_metrics(std::int64_t n, std::int64_t k, const std::int64_t *top_labels,
                                const std::int64_t *pos_offsets, const std::int64_t *pos_labels)
{
    return topk_metrics(n, k, top_labels, pos_offsets, pos_labels, nothrow).value();
}

inline std::string version() { return sigfuse_version(); }
inline const char *status_string(sigfuse_status status) noexcept { return sigfuse_status_string(status); }
/* SIGFUSE_SUCCESS, SIGFUSE_ERR_NOT_BUILT or SIGFUSE_ERR_NO_DEVICE. */
inline sigfuse_status backend_available(sigfuse_backend backend) noexcept
{
    return sigfuse_backend_available(backend);
}

} // namespace sigfuse

#endif /* SIGFUSE_HPP */
