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
 *    double f64, std::uint8_t u8, sigfuse::f16 / sigfuse::bf16 for 16-bit storage.
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

/* Argument sets of the struct-taking ops: the C structs with views in place of buffer
 * pointers (a default view is absent) and the C defaults (sigfuse_*_args_init). c_args()
 * gives the C struct, whose buffer pointers point into this object: keep it alive. */
// BEGIN GENERATED args (scripts/gen_hpp.py, from host/sf_catalog.h)
struct lstm_forward_args {
    std::int64_t batch = 0, hidden = 0;
    view gates_x, gates_h, bias, c_prev;   /* inputs */
    view h, c;   /* outputs */

    sigfuse_lstm_forward_args c_args() const noexcept
    {
        sigfuse_lstm_forward_args a{};
        a.batch = batch;
        a.hidden = hidden;
        a.gates_x = gates_x.get();
        a.gates_h = gates_h.get();
        a.bias = bias.get();
        a.c_prev = c_prev.get();
        a.h = h.get();
        a.c = c.get();
        return a;
    }
};

struct lstm_backward_args {
    std::int64_t batch = 0, hidden = 0;
    view gates_x, gates_h, bias, c_prev, dh, dc;   /* inputs */
    view dgates, dc_prev, dbias;   /* outputs */

    sigfuse_lstm_backward_args c_args() const noexcept
    {
        sigfuse_lstm_backward_args a{};
        a.batch = batch;
        a.hidden = hidden;
        a.gates_x = gates_x.get();
        a.gates_h = gates_h.get();
        a.bias = bias.get();
        a.c_prev = c_prev.get();
        a.dh = dh.get();
        a.dc = dc.get();
        a.dgates = dgates.get();
        a.dc_prev = dc_prev.get();
        a.dbias = dbias.get();
        return a;
    }
};

struct gru_forward_args {
    std::int64_t batch = 0, hidden = 0;
    view gates_x, gates_h, bias_x, bias_h, h_prev;   /* inputs */
    view h;   /* outputs */

    sigfuse_gru_forward_args c_args() const noexcept
    {
        sigfuse_gru_forward_args a{};
        a.batch = batch;
        a.hidden = hidden;
        a.gates_x = gates_x.get();
        a.gates_h = gates_h.get();
        a.bias_x = bias_x.get();
        a.bias_h = bias_h.get();
        a.h_prev = h_prev.get();
        a.h = h.get();
        return a;
    }
};

struct gru_backward_args {
    std::int64_t batch = 0, hidden = 0;
    view gates_x, gates_h, bias_x, bias_h, h_prev, dh;   /* inputs */
    view dgates_x, dgates_h, dh_prev, dbias_x, dbias_h;   /* outputs */

    sigfuse_gru_backward_args c_args() const noexcept
    {
        sigfuse_gru_backward_args a{};
        a.batch = batch;
        a.hidden = hidden;
        a.gates_x = gates_x.get();
        a.gates_h = gates_h.get();
        a.bias_x = bias_x.get();
        a.bias_h = bias_h.get();
        a.h_prev = h_prev.get();
        a.dh = dh.get();
        a.dgates_x = dgates_x.get();
        a.dgates_h = dgates_h.get();
        a.dh_prev = dh_prev.get();
        a.dbias_x = dbias_x.get();
        a.dbias_h = dbias_h.get();
        return a;
    }
};

struct bce_args {
    std::int64_t rows = 0, cols = 0;
    sigfuse_reduction reduction = SIGFUSE_REDUCTION_MEAN;
    float label_smoothing = 0.0f;
    float grad_scale = 1.0f;
    float threshold = 0.5f;
    view logits, targets, weight, pos_weight, dloss_in;   /* inputs */
    view loss, dlogits, probs, labels;   /* outputs */

    sigfuse_bce_args c_args() const noexcept
    {
        sigfuse_bce_args a{};
        a.rows = rows;
        a.cols = cols;
        a.reduction = reduction;
        a.label_smoothing = label_smoothing;
        a.grad_scale = grad_scale;
        a.threshold = threshold;
        a.logits = logits.get();
        a.targets = targets.get();
        a.weight = weight.get();
        a.pos_weight = pos_weight.get();
        a.dloss_in = dloss_in.get();
        a.loss = loss.get();
        a.dlogits = dlogits.get();
        a.probs = probs.get();
        a.labels = labels.get();
        return a;
    }
};

struct focal_args {
    std::int64_t rows = 0, cols = 0;
    sigfuse_reduction reduction = SIGFUSE_REDUCTION_MEAN;
    float alpha = 0.25f;
    float gamma = 2.0f;
    float grad_scale = 1.0f;
    view logits, targets, dloss_in;   /* inputs */
    view loss, dlogits;   /* outputs */

    sigfuse_focal_args c_args() const noexcept
    {
        sigfuse_focal_args a{};
        a.rows = rows;
        a.cols = cols;
        a.reduction = reduction;
        a.alpha = alpha;
        a.gamma = gamma;
        a.grad_scale = grad_scale;
        a.logits = logits.get();
        a.targets = targets.get();
        a.dloss_in = dloss_in.get();
        a.loss = loss.get();
        a.dlogits = dlogits.get();
        return a;
    }
};

struct head_predict_args {
    std::int64_t n = 0, d = 0, l = 0;
    float threshold = 0.5f;
    view x, w, bias;   /* inputs */
    view logits, probs, labels;   /* outputs */
    view workspace;   /* or set_workspace(ws) */
    std::size_t workspace_bytes = 0;

    inline void set_workspace(const sigfuse::workspace &ws) noexcept;
    sigfuse_head_predict_args c_args() const noexcept
    {
        sigfuse_head_predict_args a{};
        a.n = n;
        a.d = d;
        a.l = l;
        a.threshold = threshold;
        a.x = x.get();
        a.w = w.get();
        a.bias = bias.get();
        a.logits = logits.get();
        a.probs = probs.get();
        a.labels = labels.get();
        a.workspace = workspace.get();
        a.workspace_bytes = workspace_bytes;
        return a;
    }
};

struct head_train_args {
    std::int64_t n = 0, d = 0, l = 0;
    sigfuse_reduction reduction = SIGFUSE_REDUCTION_MEAN;
    float grad_scale = 1.0f;
    view x, w, bias, targets, pos_weight;   /* inputs */
    view loss, dx, dw, dbias;   /* outputs */
    view workspace;   /* or set_workspace(ws) */
    std::size_t workspace_bytes = 0;

    inline void set_workspace(const sigfuse::workspace &ws) noexcept;
    sigfuse_head_train_args c_args() const noexcept
    {
        sigfuse_head_train_args a{};
        a.n = n;
        a.d = d;
        a.l = l;
        a.reduction = reduction;
        a.grad_scale = grad_scale;
        a.x = x.get();
        a.w = w.get();
        a.bias = bias.get();
        a.targets = targets.get();
        a.pos_weight = pos_weight.get();
        a.loss = loss.get();
        a.dx = dx.get();
        a.dw = dw.get();
        a.dbias = dbias.get();
        a.workspace = workspace.get();
        a.workspace_bytes = workspace_bytes;
        return a;
    }
};
// END GENERATED args

/* Owns a sigfuse_ctx. An empty context (default-constructed or moved from) is allowed:
 * calls on it fail with SIGFUSE_ERR_NULL_ARGUMENT like the C API's on NULL. */
class context {
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

    // BEGIN GENERATED methods (scripts/gen_hpp.py, from host/sf_catalog.h)
    /* -- Activations: n elements; x, y, dy, dx of one float dtype. -- */
    result<void> sigmoid_forward(std::int64_t n, const view &x, const view &y, nothrow_t)
    {
        return finish(sigfuse_sigmoid_forward(ctx_, n, x.get(), y.get()));
    }
    void sigmoid_forward(std::int64_t n, const view &x, const view &y) { sigmoid_forward(n, x, y, nothrow).value(); }
    result<void> sigmoid_backward(std::int64_t n, const view &y, const view &dy, const view &dx, nothrow_t)
    {
        return finish(sigfuse_sigmoid_backward(ctx_, n, y.get(), dy.get(), dx.get()));
    }
    void sigmoid_backward(std::int64_t n, const view &y, const view &dy, const view &dx)
    {
        sigmoid_backward(n, y, dy, dx, nothrow).value();
    }
    result<void> log_sigmoid_forward(std::int64_t n, const view &x, const view &y, nothrow_t)
    {
        return finish(sigfuse_log_sigmoid_forward(ctx_, n, x.get(), y.get()));
    }
    void log_sigmoid_forward(std::int64_t n, const view &x, const view &y)
    {
        log_sigmoid_forward(n, x, y, nothrow).value();
    }
    result<void> log_sigmoid_backward(std::int64_t n, const view &x, const view &dy, const view &dx, nothrow_t)
    {
        return finish(sigfuse_log_sigmoid_backward(ctx_, n, x.get(), dy.get(), dx.get()));
    }
    void log_sigmoid_backward(std::int64_t n, const view &x, const view &dy, const view &dx)
    {
        log_sigmoid_backward(n, x, dy, dx, nothrow).value();
    }
    result<void> silu_forward(std::int64_t n, float beta, const view &x, const view &y, nothrow_t)
    {
        return finish(sigfuse_silu_forward(ctx_, n, beta, x.get(), y.get()));
    }
    void silu_forward(std::int64_t n, float beta, const view &x, const view &y)
    {
        silu_forward(n, beta, x, y, nothrow).value();
    }
    result<void> silu_backward(std::int64_t n, float beta, const view &x, const view &dy, const view &dx, nothrow_t)
    {
        return finish(sigfuse_silu_backward(ctx_, n, beta, x.get(), dy.get(), dx.get()));
    }
    void silu_backward(std::int64_t n, float beta, const view &x, const view &dy, const view &dx)
    {
        silu_backward(n, beta, x, dy, dx, nothrow).value();
    }

    /* -- GLU / SwiGLU: n pairs (a, b); da or db may be absent, not both. -- */
    result<void> glu_forward(std::int64_t n, const view &a, const view &b, const view &y, nothrow_t)
    {
        return finish(sigfuse_glu_forward(ctx_, n, a.get(), b.get(), y.get()));
    }
    void glu_forward(std::int64_t n, const view &a, const view &b, const view &y)
    {
        glu_forward(n, a, b, y, nothrow).value();
    }
    result<void> glu_backward(std::int64_t n, const view &a, const view &b, const view &dy, const view &da, const view &db, nothrow_t)
    {
        return finish(sigfuse_glu_backward(ctx_, n, a.get(), b.get(), dy.get(), da.get(), db.get()));
    }
    void glu_backward(std::int64_t n, const view &a, const view &b, const view &dy, const view &da, const view &db)
    {
        glu_backward(n, a, b, dy, da, db, nothrow).value();
    }
    result<void> swiglu_forward(std::int64_t n, float beta, const view &a, const view &b, const view &y, nothrow_t)
    {
        return finish(sigfuse_swiglu_forward(ctx_, n, beta, a.get(), b.get(), y.get()));
    }
    void swiglu_forward(std::int64_t n, float beta, const view &a, const view &b, const view &y)
    {
        swiglu_forward(n, beta, a, b, y, nothrow).value();
    }
    result<void> swiglu_backward(std::int64_t n, float beta, const view &a, const view &b, const view &dy, const view &da, const view &db, nothrow_t)
    {
        return finish(sigfuse_swiglu_backward(ctx_, n, beta, a.get(), b.get(), dy.get(), da.get(), db.get()));
    }
    void swiglu_backward(std::int64_t n, float beta, const view &a, const view &b, const view &dy, const view &da, const view &db)
    {
        swiglu_backward(n, beta, a, b, dy, da, db, nothrow).value();
    }

    /* -- LSTM cells. -- */
    result<void> lstm_cell_forward(const lstm_forward_args &a, nothrow_t)
    {
        const sigfuse_lstm_forward_args c = a.c_args();
        return finish(sigfuse_lstm_cell_forward(ctx_, &c));
    }
    void lstm_cell_forward(const lstm_forward_args &a) { lstm_cell_forward(a, nothrow).value(); }
    result<void> lstm_cell_backward(const lstm_backward_args &a, nothrow_t)
    {
        const sigfuse_lstm_backward_args c = a.c_args();
        return finish(sigfuse_lstm_cell_backward(ctx_, &c));
    }
    void lstm_cell_backward(const lstm_backward_args &a) { lstm_cell_backward(a, nothrow).value(); }

    /* -- GRU cells. -- */
    result<void> gru_cell_forward(const gru_forward_args &a, nothrow_t)
    {
        const sigfuse_gru_forward_args c = a.c_args();
        return finish(sigfuse_gru_cell_forward(ctx_, &c));
    }
    void gru_cell_forward(const gru_forward_args &a) { gru_cell_forward(a, nothrow).value(); }
    result<void> gru_cell_backward(const gru_backward_args &a, nothrow_t)
    {
        const sigfuse_gru_backward_args c = a.c_args();
        return finish(sigfuse_gru_cell_backward(ctx_, &c));
    }
    void gru_cell_backward(const gru_backward_args &a) { gru_cell_backward(a, nothrow).value(); }

    /* -- Binary cross-entropy with logits. -- */
    result<void> bce_with_logits(const bce_args &a, nothrow_t)
    {
        const sigfuse_bce_args c = a.c_args();
        return finish(sigfuse_bce_with_logits(ctx_, &c));
    }
    void bce_with_logits(const bce_args &a) { bce_with_logits(a, nothrow).value(); }

    /* -- Sigmoid focal loss. -- */
    result<void> sigmoid_focal(const focal_args &a, nothrow_t)
    {
        const sigfuse_focal_args c = a.c_args();
        return finish(sigfuse_sigmoid_focal(ctx_, &c));
    }
    void sigmoid_focal(const focal_args &a) { sigmoid_focal(a, nothrow).value(); }

    /* -- Multi-label heads (their workspace size queries are written by hand below). -- */
    result<void> head_predict(const head_predict_args &a, nothrow_t)
    {
        const sigfuse_head_predict_args c = a.c_args();
        return finish(sigfuse_head_predict(ctx_, &c));
    }
    void head_predict(const head_predict_args &a) { head_predict(a, nothrow).value(); }
    result<void> head_train_step(const head_train_args &a, nothrow_t)
    {
        const sigfuse_head_train_args c = a.c_args();
        return finish(sigfuse_head_train_step(ctx_, &c));
    }
    void head_train_step(const head_train_args &a) { head_train_step(a, nothrow).value(); }
    // END GENERATED methods

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

private:
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

/* ---- Small helpers ------------------------------------------------------------------------ */

inline std::string version() { return sigfuse_version(); }
inline const char *status_string(sigfuse_status status) noexcept { return sigfuse_status_string(status); }
/* SIGFUSE_SUCCESS, SIGFUSE_ERR_NOT_BUILT or SIGFUSE_ERR_NO_DEVICE. */
inline sigfuse_status backend_available(sigfuse_backend backend) noexcept
{
    return sigfuse_backend_available(backend);
}

} // namespace sigfuse

#endif /* SIGFUSE_HPP */
