// SPDX-License-Identifier: MIT
// The C++ layer (include/sigfuse.hpp): RAII contexts and workspaces, both error
// spellings (sigfuse::error and sigfuse::result), typed views, and a few ops on the CPU
// reference checked against closed forms. With the OpenCL backend built, the same layer
// runs on PoCL through cl_mem views and an OpenCL workspace; with CUDA built, context
// creation is checked to fail cleanly (or succeed) without a device.
// Rerun one case with --filter 'hpp/<name>'.
#ifdef SIGFUSE_WITH_CUDA
#define SIGFUSE_HPP_CUDA
#endif
#ifdef SIGFUSE_WITH_OPENCL
#define SIGFUSE_HPP_OPENCL
#endif
#include "sigfuse.hpp"

#include <cmath>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include <criterion/criterion.h>

namespace {

// Ownership is the point of context and workspace: copying one would free twice.
static_assert(!std::is_copy_constructible_v<sigfuse::context>);
static_assert(!std::is_copy_assignable_v<sigfuse::context>);
static_assert(std::is_nothrow_move_constructible_v<sigfuse::context>);
static_assert(!std::is_copy_constructible_v<sigfuse::workspace>);
static_assert(std::is_nothrow_move_assignable_v<sigfuse::workspace>);
static_assert(sigfuse::dtype_v<const float> == SIGFUSE_F32);
static_assert(sigfuse::dtype_v<sigfuse::bf16> == SIGFUSE_BF16);

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

bool near(double got, double want, double tol) { return std::fabs(got - want) <= tol * (1.0 + std::fabs(want)); }

// A head's sizes and parameters: the fields its predict and train arguments share.
template <class HeadArgs>
void set_head(HeadArgs &a, std::int64_t n, std::int64_t d, std::int64_t l, sigfuse::view x, sigfuse::view w,
              sigfuse::view bias)
{
    a.n = n, a.d = d, a.l = l;
    a.x = x, a.w = w, a.bias = bias;
}

} // namespace

Test(hpp, context_raii_and_accessors)
{
    sigfuse::context ctx = sigfuse::context::cpu();
    cr_assert(static_cast<bool>(ctx));
    cr_expect_eq(ctx.backend(), SIGFUSE_BACKEND_CPU);
    cr_expect_eq(ctx.memory(), SIGFUSE_MEMORY_HOST);
    cr_expect(!ctx.device_name().empty());

    // Moving transfers ownership; the moved-from context is empty and calls on it fail
    // the way the C API fails on NULL, not with a crash.
    sigfuse_ctx *raw = ctx.get();
    sigfuse::context moved = std::move(ctx);
    cr_expect_eq(moved.get(), raw);
    cr_expect_not(static_cast<bool>(ctx));
    float x = 0.0f, y = -1.0f;
    sigfuse::result<void> r = ctx.sigmoid_forward(1, sigfuse::host_view(&x), sigfuse::host_view(&y), sigfuse::nothrow);
    cr_expect_eq(r.status(), SIGFUSE_ERR_NULL_ARGUMENT);
    cr_expect_eq(y, -1.0f);

    // release() and the adopting constructor hand ownership across the C boundary.
    sigfuse_ctx *c = moved.release();
    cr_expect_not(static_cast<bool>(moved));
    cr_expect_eq(sigfuse_ctx_backend(c), SIGFUSE_BACKEND_CPU);
    sigfuse::context adopted(c);
    cr_expect_eq(adopted.get(), c);

    // Move assignment destroys the context it replaces (ASan/valgrind would see a leak).
    adopted = sigfuse::context::cpu();
    cr_expect_neq(adopted.get(), nullptr);
    adopted = sigfuse::context();
    cr_expect_null(adopted.get());
}

Test(hpp, views_typed_absent_and_sliced)
{
    std::vector<float> f(8);
    std::vector<double> d(2);
    std::vector<std::uint8_t> u(3);
    std::vector<sigfuse::f16> h(4);
    const std::vector<float> cf(2);

    cr_expect_eq(sigfuse::host_view(f).dtype(), SIGFUSE_F32);
    cr_expect_eq(sigfuse::host_view(cf).dtype(), SIGFUSE_F32);
    cr_expect_eq(sigfuse::host_view(d).dtype(), SIGFUSE_F64);
    cr_expect_eq(sigfuse::host_view(u).dtype(), SIGFUSE_U8);
    cr_expect_eq(sigfuse::host_view(h).dtype(), SIGFUSE_F16);
    cr_expect_eq(sigfuse::host_view(f).memory(), SIGFUSE_MEMORY_HOST);
    cr_expect_eq(sigfuse::host_view(h.data(), SIGFUSE_BF16).dtype(), SIGFUSE_BF16);

    sigfuse::view v = sigfuse::host_view(f);
    cr_expect_eq(v.get()->ptr, static_cast<void *>(f.data()));
    cr_expect_eq(v.slice(3).get()->offset, 3 * sizeof(float));
    cr_expect_eq(v.slice(3).get()->ptr, static_cast<void *>(f.data()));

    // A CUDA view is plain data: it can be made (not used) without the CUDA SDK.
    sigfuse::view cv = sigfuse::cuda_view(reinterpret_cast<float *>(0x1000));
    cr_expect_eq(cv.memory(), SIGFUSE_MEMORY_CUDA);

    cr_expect_not(sigfuse::absent.present());
    cr_expect_null(sigfuse::view().get());
    cr_expect_null(sigfuse::absent.get());
}

Test(hpp, activations_on_cpu)
{
    auto ctx = sigfuse::context::cpu();
    std::vector<float> x{-3.0f, -0.5f, 0.0f, 2.0f, 40.0f}, y(5), dy(5, 1.0f), dx(5);
    const auto n = static_cast<std::int64_t>(x.size());

    ctx.sigmoid_forward(n, sigfuse::host_view(x), sigfuse::host_view(y));
    for (std::size_t i = 0; i < x.size(); i++)
        cr_expect(near(y[i], sigmoid(x[i]), 1e-6), "sigmoid(%g) = %g", x[i], y[i]);
    ctx.sigmoid_backward(n, sigfuse::host_view(y), sigfuse::host_view(dy), sigfuse::host_view(dx));
    for (std::size_t i = 0; i < x.size(); i++)
        cr_expect(near(dx[i], y[i] * (1.0 - y[i]), 1e-6), "sigmoid'(%g) = %g", x[i], dx[i]);

    ctx.silu_forward(n, 1.0f, sigfuse::host_view(x), sigfuse::host_view(y));
    for (std::size_t i = 0; i < x.size(); i++)
        cr_expect(near(y[i], x[i] * sigmoid(x[i]), 1e-6), "silu(%g) = %g", x[i], y[i]);

    // A slice runs the op on part of a buffer: only elements 1..2 change.
    std::vector<float> out(5, -7.0f);
    ctx.sigmoid_forward(2, sigfuse::host_view(x).slice(1), sigfuse::host_view(out).slice(1));
    cr_expect_eq(out[0], -7.0f);
    cr_expect(near(out[1], sigmoid(-0.5), 1e-6));
    cr_expect_eq(out[2], 0.5f);
    cr_expect_eq(out[3], -7.0f);

    // GLU with one of its two gradients absent.
    std::vector<float> a{1.0f, 2.0f}, b{0.0f, 1.0f}, g(2), da(2, -1.0f);
    ctx.glu_forward(2, sigfuse::host_view(a), sigfuse::host_view(b), sigfuse::host_view(g));
    cr_expect(near(g[1], 2.0 * sigmoid(1.0), 1e-6));
    std::vector<float> ones(2, 1.0f);
    ctx.glu_backward(2, sigfuse::host_view(a), sigfuse::host_view(b), sigfuse::host_view(ones),
                     sigfuse::host_view(da), sigfuse::absent);
    cr_expect(near(da[0], 0.5, 1e-6));
}

Test(hpp, bce_error_as_exception)
{
    auto ctx = sigfuse::context::cpu();
    std::vector<float> logits{0.0f, 1.0f}, loss(1, -1.0f);
    std::vector<std::uint8_t> targets{0, 1};
    sigfuse::bce_args a;
    a.rows = 1;
    a.cols = 2;
    a.label_smoothing = 0.1f;   // u8 targets are refused with smoothing: a known failure
    a.logits = sigfuse::host_view(logits);
    a.targets = sigfuse::host_view(targets);
    a.loss = sigfuse::host_view(loss);

    bool thrown = false;
    try {
        ctx.bce_with_logits(a);
    } catch (const sigfuse::error &e) {
        thrown = true;
        cr_expect_eq(e.status(), SIGFUSE_ERR_INVALID_DTYPE, "status %d (%s)", e.status(), e.what());
        // The exception carries the context's message, and what() adds the status.
        const std::string last = ctx.last_error();
        cr_expect(e.message() == last, "message \"%s\", context \"%s\"", e.message().c_str(), last.c_str());
        cr_expect(e.message().find("targets") != std::string::npos, "message: %s", e.message().c_str());
        cr_expect(std::string(e.what()).find(sigfuse_status_string(SIGFUSE_ERR_INVALID_DTYPE)) != std::string::npos,
                  "what: %s", e.what());
    }
    cr_expect(thrown, "no sigfuse::error for u8 targets with label smoothing");
    cr_expect_eq(loss[0], -1.0f, "a failed call wrote its output");

    // It is a std::exception too: generic handlers see it.
    cr_expect_throw(ctx.bce_with_logits(a), std::runtime_error);
}

Test(hpp, bce_expected_style)
{
    auto ctx = sigfuse::context::cpu();
    std::vector<float> logits{-2.0f, 0.0f, 3.0f}, targets{0.0f, 1.0f, 1.0f}, loss(1), grad(3), probs(3);
    sigfuse::bce_args a;
    cr_expect_eq(a.reduction, SIGFUSE_REDUCTION_MEAN);   // the C defaults
    cr_expect_eq(a.grad_scale, 1.0f);
    cr_expect_eq(a.threshold, 0.5f);
    a.rows = 1;
    a.cols = 3;
    a.reduction = SIGFUSE_REDUCTION_SUM;
    a.logits = sigfuse::host_view(logits);
    a.targets = sigfuse::host_view(targets);
    a.loss = sigfuse::host_view(loss);
    a.dlogits = sigfuse::host_view(grad);
    a.probs = sigfuse::host_view(probs);

    sigfuse::result<void> r = ctx.bce_with_logits(a, sigfuse::nothrow);
    cr_assert(r.ok(), "%s", r.message().c_str());
    cr_expect(static_cast<bool>(r));
    cr_expect(r.message().empty());
    double want = std::log1p(std::exp(-2.0)) + std::log(2.0) + std::log1p(std::exp(-3.0));
    cr_expect(near(loss[0], want, 1e-6), "loss %g want %g", loss[0], want);
    for (int i = 0; i < 3; i++) {
        cr_expect(near(grad[i], sigmoid(logits[i]) - targets[i], 1e-6), "grad[%d] = %g", i, grad[i]);
        cr_expect(near(probs[i], sigmoid(logits[i]), 1e-6));
    }

    // No output requested: a status and a message, nothing thrown until value().
    sigfuse::bce_args none = a;
    none.loss = none.dlogits = none.probs = sigfuse::absent;
    sigfuse::result<void> bad = ctx.bce_with_logits(none, sigfuse::nothrow);
    cr_expect_not(bad.ok());
    cr_expect_eq(bad.status(), SIGFUSE_ERR_INVALID_ARGUMENT, "status %d: %s", bad.status(), bad.message().c_str());
    cr_expect(!bad.message().empty());
    cr_expect_eq(bad.error().status(), bad.status());
    cr_expect_throw(bad.value(), sigfuse::error);

    // A result with a value: the workspace size query.
    sigfuse::head_train_args h;
    set_head(h, 1, 1, 1, sigfuse::host_view(logits), sigfuse::host_view(logits), sigfuse::absent);
    h.targets = sigfuse::host_view(logits);
    h.loss = sigfuse::host_view(loss);
    sigfuse::result<std::size_t> size = ctx.head_train_workspace_size(h, 0, sigfuse::nothrow);
    cr_expect(size.ok(), "%s", size.message().c_str());
    h.reduction = SIGFUSE_REDUCTION_NONE;   // the head refuses NONE
    sigfuse::result<std::size_t> bad_size = ctx.head_train_workspace_size(h, 0, sigfuse::nothrow);
    cr_expect_not(bad_size.ok());
    cr_expect_eq(bad_size.value_or(12345u), 12345u);
    cr_expect_throw((void)*bad_size, sigfuse::error);
}

Test(hpp, context_creation_failures)
{
    // An unknown backend: the thread's creation message travels with the failure. 0 names
    // no backend yet lies within the enum's range (1..3 need two bits): a cast to a value
    // past that range, such as 99, is undefined behaviour in C++ (not in C).
    sigfuse::result<sigfuse::context> r = sigfuse::context::create(static_cast<sigfuse_backend>(0), sigfuse::nothrow);
    cr_expect_not(r.ok());
    cr_expect_eq(r.status(), SIGFUSE_ERR_INVALID_ARGUMENT);
    cr_expect(r.message().find("backend") != std::string::npos, "message: %s", r.message().c_str());
    cr_expect_throw(sigfuse::context::create(static_cast<sigfuse_backend>(0)), sigfuse::error);

    // CUDA: built without it, or built with no device here; either way a status, no crash.
    sigfuse::result<sigfuse::context> cuda = sigfuse::context::create(SIGFUSE_BACKEND_CUDA, sigfuse::nothrow);
    sigfuse_status avail = sigfuse::backend_available(SIGFUSE_BACKEND_CUDA);
    if (avail == SIGFUSE_SUCCESS) {
        cr_expect(cuda.ok(), "%s", cuda.message().c_str());
        cr_expect_eq(cuda->backend(), SIGFUSE_BACKEND_CUDA);
    } else {
        cr_expect_eq(cuda.status(), avail, "create: %d, available: %d", cuda.status(), avail);
        cr_expect(!cuda.message().empty());
    }
#ifdef SIGFUSE_HPP_HAS_CUDA
    sigfuse::result<sigfuse::context> on_stream = sigfuse::context::cuda(0, nullptr, sigfuse::nothrow);
    cr_expect_eq(on_stream.ok(), avail == SIGFUSE_SUCCESS, "%s", on_stream.message().c_str());
#endif
}

Test(hpp, gru_cell_forward_backward)
{
    // B = 1, H = 1: r, z, n by hand.
    auto ctx = sigfuse::context::cpu();
    std::vector<float> gx{0.3f, -0.2f, 0.5f}, gh{-0.1f, 0.4f, 0.7f}, h_prev{0.25f}, h(1);
    // The cells' argument structs are aggregates: batch, hidden, then the views in the C
    // struct's order (here gates_x, gates_h, bias_x, bias_h absent, h_prev, h).
    sigfuse::gru_forward_args f{1, 1, sigfuse::host_view(gx), sigfuse::host_view(gh), {}, {},
                                sigfuse::host_view(h_prev), sigfuse::host_view(h)};
    ctx.gru_cell_forward(f);
    double r = sigmoid(0.3 - 0.1), z = sigmoid(-0.2 + 0.4), nn = std::tanh(0.5 + r * 0.7);
    cr_expect(near(h[0], (1 - z) * nn + z * 0.25, 1e-6), "h %g", h[0]);

    std::vector<float> dh{1.0f}, dgx(3), dgh(3), dh_prev(1);
    // The forward's inputs, dh; dgates_x, dgates_h, dh_prev (the bias gradients absent).
    sigfuse::gru_backward_args b{f.batch, f.hidden, f.gates_x, f.gates_h, f.bias_x, f.bias_h, f.h_prev,
                                 sigfuse::host_view(dh), sigfuse::host_view(dgx), sigfuse::host_view(dgh),
                                 sigfuse::host_view(dh_prev), {}, {}};
    ctx.gru_cell_backward(b);
    cr_expect(near(dh_prev[0], z, 1e-6), "dh_prev %g want z = %g", dh_prev[0], z);
    cr_expect(near(dgh[2], dgx[2] * r, 1e-6), "the n block of dgates_h is r times dgates_x's");

    // A bad size is a status, and nothing is written.
    b.hidden = -1;
    dh_prev[0] = -9.0f;
    sigfuse::result<void> bad = ctx.gru_cell_backward(b, sigfuse::nothrow);
    cr_expect_eq(bad.status(), SIGFUSE_ERR_INVALID_SIZE, "%s", bad.message().c_str());
    cr_expect_eq(dh_prev[0], -9.0f);
    cr_expect_throw(ctx.gru_cell_backward(b), sigfuse::error);
}

Test(hpp, head_train_with_workspace)
{
    // Logistic regression as a head (L = 1) with a workspace the size query asks for.
    auto ctx = sigfuse::context::cpu();
    const std::int64_t n = 4, d = 2;
    std::vector<float> x{1, 0, 0, 1, 1, 1, -1, 2}, w{0.5f, -0.25f}, bias{0.1f}, y{1, 0, 1, 0};
    std::vector<float> loss(1), dw(2), db(1);
    sigfuse::head_train_args a;
    set_head(a, n, d, 1, sigfuse::host_view(x), sigfuse::host_view(w), sigfuse::host_view(bias));
    a.targets = sigfuse::host_view(y);
    a.loss = sigfuse::host_view(loss);
    a.dw = sigfuse::host_view(dw);
    a.dbias = sigfuse::host_view(db);

    const std::size_t need = ctx.head_train_workspace_size(a, 2);
    sigfuse::workspace ws = sigfuse::workspace::allocate(ctx, need);
    cr_expect_eq(ws.bytes(), need);
    cr_expect_eq(ws.view().present(), need > 0);
    if (need > 0)
        cr_expect_eq(reinterpret_cast<std::uintptr_t>(ws.view().get()->ptr) % SIGFUSE_WORKSPACE_ALIGNMENT, 0u);
    a.set_workspace(ws);
    ctx.head_train_step(a);

    double want_loss = 0, want_dw[2] = {0, 0}, want_db = 0;
    for (int i = 0; i < n; i++) {
        double z = x[2 * i] * w[0] + x[2 * i + 1] * w[1] + bias[0];
        double p = sigmoid(z);
        want_loss += -(y[i] * std::log(p) + (1 - y[i]) * std::log1p(-p));
        double g = (p - y[i]) / n;   // MEAN over n * l
        want_dw[0] += g * x[2 * i];
        want_dw[1] += g * x[2 * i + 1];
        want_db += g;
    }
    want_loss /= n;
    cr_expect(near(loss[0], want_loss, 1e-5), "loss %g want %g", loss[0], want_loss);
    cr_expect(near(dw[0], want_dw[0], 1e-5) && near(dw[1], want_dw[1], 1e-5), "dw %g %g", dw[0], dw[1]);
    cr_expect(near(db[0], want_db, 1e-5), "db %g want %g", db[0], want_db);

    // Too small a workspace: the expected-style call says so.
    if (need > 1) {
        a.workspace_bytes = 1;
        sigfuse::result<void> r = ctx.head_train_step(a, sigfuse::nothrow);
        cr_expect_eq(r.status(), SIGFUSE_ERR_INSUFFICIENT_WORKSPACE, "%s", r.message().c_str());
    }

    // Workspaces move like contexts; zero bytes is an empty one with an absent view.
    sigfuse::workspace moved = std::move(ws);
    cr_expect_eq(moved.bytes(), need);
    cr_expect_eq(ws.bytes(), 0u);
    sigfuse::workspace empty = sigfuse::workspace::allocate(ctx, 0);
    cr_expect_not(empty.view().present());
}

#ifdef SIGFUSE_HPP_HAS_OPENCL
Test(hpp, opencl_context_views_and_workspace)
{
    if (sigfuse::backend_available(SIGFUSE_BACKEND_OPENCL) != SIGFUSE_SUCCESS)
        cr_skip_test("skipped: no OpenCL device");
    auto owner = sigfuse::context::create(SIGFUSE_BACKEND_OPENCL);
    cr_expect_eq(owner.memory(), SIGFUSE_MEMORY_OPENCL);
    cl_command_queue queue = owner.opencl_queue();
    cl_context clctx = owner.opencl_context();

    // A second context on the caller's queue (the first one keeps it alive here).
    auto ctx = sigfuse::context::opencl(queue);
    cr_expect_eq(ctx.opencl_queue(), queue);

    std::vector<float> x{-1.0f, 0.0f, 1.0f, 2.0f, 3.0f}, y(5, -1.0f);
    cl_int err = CL_SUCCESS;
    cl_mem mx = clCreateBuffer(clctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, sizeof(float) * 5, x.data(), &err);
    cr_assert_eq(err, CL_SUCCESS);
    cl_mem my = clCreateBuffer(clctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, sizeof(float) * 5, y.data(), &err);
    cr_assert_eq(err, CL_SUCCESS);

    // Elements 1..4 through typed views with an element offset.
    ctx.sigmoid_forward(4, sigfuse::opencl_view<float>(mx, 1), sigfuse::opencl_view<float>(my, 1));
    cr_assert_eq(clEnqueueReadBuffer(queue, my, CL_TRUE, 0, sizeof(float) * 5, y.data(), 0, nullptr, nullptr),
                 CL_SUCCESS);
    cr_expect_eq(y[0], -1.0f);
    for (int i = 1; i < 5; i++)
        cr_expect(near(y[i], sigmoid(x[i]), 1e-5), "y[%d] = %g", i, y[i]);

    // Host memory on an OpenCL context is the wrong memory, reported as such.
    sigfuse::result<void> wrong = ctx.sigmoid_forward(5, sigfuse::host_view(x), sigfuse::host_view(y), sigfuse::nothrow);
    cr_expect_eq(wrong.status(), SIGFUSE_ERR_WRONG_MEMORY, "%s", wrong.message().c_str());

    // An OpenCL workspace, used by the head.
    std::vector<float> hx{1, 0, 0, 1}, hw{0.5f, -0.5f}, hy{1, 0};
    cl_mem bx = clCreateBuffer(clctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, sizeof(float) * 4, hx.data(), &err);
    cl_mem bw = clCreateBuffer(clctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, sizeof(float) * 2, hw.data(), &err);
    cl_mem by = clCreateBuffer(clctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, sizeof(float) * 2, hy.data(), &err);
    cl_mem bl = clCreateBuffer(clctx, CL_MEM_READ_WRITE, sizeof(float), nullptr, &err);
    cr_assert_eq(err, CL_SUCCESS);
    sigfuse::head_train_args a;
    set_head(a, 2, 2, 1, sigfuse::opencl_view<float>(bx), sigfuse::opencl_view<float>(bw), sigfuse::absent);
    a.targets = sigfuse::opencl_view<float>(by);
    a.loss = sigfuse::opencl_view<float>(bl);
    {
        sigfuse::workspace ws = sigfuse::workspace::allocate(ctx, ctx.head_train_workspace_size(a));
        cr_expect_eq(ws.memory(), SIGFUSE_MEMORY_OPENCL);
        a.set_workspace(ws);
        ctx.head_train_step(a);
        ctx.synchronize();
    }
    float loss = 0;
    cr_assert_eq(clEnqueueReadBuffer(queue, bl, CL_TRUE, 0, sizeof loss, &loss, 0, nullptr, nullptr), CL_SUCCESS);
    double want = std::log1p(std::exp(-0.5));   // both rows: softplus(-0.5)
    cr_expect(near(loss, want, 1e-5), "loss %g want %g", loss, want);

    for (cl_mem m : {mx, my, bx, bw, by, bl})
        clReleaseMemObject(m);
}
#endif

Test(hpp, remaining_ops_on_cpu)
{
    // Every wrapper not used above, once, against a closed form: each C++ argument set
    // must reach the C struct field for field.
    auto ctx = sigfuse::context::cpu();
    std::vector<float> x{0.0f, 1.5f}, y(2), dy{1.0f, 1.0f}, dx(2);
    ctx.log_sigmoid_forward(2, sigfuse::host_view(x), sigfuse::host_view(y));
    cr_expect(near(y[0], -std::log(2.0), 1e-6) && near(y[1], std::log(sigmoid(1.5)), 1e-6));
    ctx.log_sigmoid_backward(2, sigfuse::host_view(x), sigfuse::host_view(dy), sigfuse::host_view(dx));
    cr_expect(near(dx[1], sigmoid(-1.5), 1e-6));
    ctx.silu_backward(2, 1.0f, sigfuse::host_view(x), sigfuse::host_view(dy), sigfuse::host_view(dx));
    cr_expect(near(dx[0], 0.5, 1e-6));   // silu'(0) = 1/2

    std::vector<float> a{2.0f, -1.0f}, b{1.0f, 0.5f}, g(2), da(2), db(2);
    ctx.swiglu_forward(2, 1.0f, sigfuse::host_view(a), sigfuse::host_view(b), sigfuse::host_view(g));
    cr_expect(near(g[0], 2.0 * 1.0 * sigmoid(1.0), 1e-6));
    ctx.swiglu_backward(2, 1.0f, sigfuse::host_view(a), sigfuse::host_view(b), sigfuse::host_view(dy),
                        sigfuse::host_view(da), sigfuse::host_view(db));
    cr_expect(near(da[1], 0.5 * sigmoid(0.5), 1e-6));

    // LSTM, B = 1, H = 1, gates i, f, g, o, with a bias on the forget gate.
    std::vector<float> gates{0.2f, -0.3f, 0.4f, 0.1f}, bias{0.0f, 1.0f, 0.0f, 0.0f}, c_prev{0.5f}, h(1), c(1);
    // gates_x, gates_h absent, bias, c_prev, h, c (see gru_cell_forward_backward).
    sigfuse::lstm_forward_args lf{1, 1, sigfuse::host_view(gates), {}, sigfuse::host_view(bias),
                                  sigfuse::host_view(c_prev), sigfuse::host_view(h), sigfuse::host_view(c)};
    ctx.lstm_cell_forward(lf);
    const double want_c = sigmoid(0.7) * 0.5 + sigmoid(0.2) * std::tanh(0.4);
    cr_expect(near(c[0], want_c, 1e-6), "c %g want %g", c[0], want_c);
    cr_expect(near(h[0], sigmoid(0.1) * std::tanh(want_c), 1e-6));
    std::vector<float> dh{1.0f}, dgates(4), dc_prev(1), dbias(4);
    // The forward's inputs, dh (dc absent); dgates, dc_prev, dbias.
    sigfuse::lstm_backward_args lb{lf.batch, lf.hidden, lf.gates_x, lf.gates_h, lf.bias, lf.c_prev,
                                   sigfuse::host_view(dh), {}, sigfuse::host_view(dgates),
                                   sigfuse::host_view(dc_prev), sigfuse::host_view(dbias)};
    ctx.lstm_cell_backward(lb);
    const double dc = sigmoid(0.1) * (1.0 - std::tanh(want_c) * std::tanh(want_c));
    cr_expect(near(dc_prev[0], dc * sigmoid(0.7), 1e-5), "dc_prev %g", dc_prev[0]);
    for (int k = 0; k < 4; k++)
        cr_expect_eq(dbias[k], dgates[k]);   // one row: the bias gradient is that row

    // Focal loss with gamma = 0 and no alpha term is BCE.
    std::vector<float> logits{-1.0f, 2.0f}, targets{0.0f, 1.0f}, loss(1);
    sigfuse::focal_args f;
    cr_expect_eq(f.gamma, 2.0f);   // the C defaults
    cr_expect_eq(f.alpha, 0.25f);
    f.rows = 1;
    f.cols = 2;
    f.gamma = 0.0f;
    f.alpha = -1.0f;
    f.reduction = SIGFUSE_REDUCTION_SUM;
    f.logits = sigfuse::host_view(logits);
    f.targets = sigfuse::host_view(targets);
    f.loss = sigfuse::host_view(loss);
    ctx.sigmoid_focal(f);
    // BCE(-1, 0) = softplus(-1), BCE(2, 1) = softplus(-2).
    cr_expect(near(loss[0], std::log1p(std::exp(-1.0)) + std::log1p(std::exp(-2.0)), 1e-6), "focal %g", loss[0]);

    // Head predict: Z = X W^T + b, labels as u8, with whatever workspace it asks for.
    std::vector<float> hx{1.0f, 2.0f}, hw{0.5f, -1.0f, 1.0f, 1.0f}, hb{0.0f, -2.0f}, probs(2);
    std::vector<std::uint8_t> labels(2, 9);
    sigfuse::head_predict_args p;
    set_head(p, 1, 2, 2, sigfuse::host_view(hx), sigfuse::host_view(hw), sigfuse::host_view(hb));
    p.probs = sigfuse::host_view(probs);
    p.labels = sigfuse::host_view(labels);
    sigfuse::workspace ws = sigfuse::workspace::allocate(ctx, ctx.head_predict_workspace_size(p));
    p.set_workspace(ws);
    ctx.head_predict(p);
    cr_expect(near(probs[0], sigmoid(-1.5), 1e-6) && near(probs[1], sigmoid(1.0), 1e-6), "probs %g %g", probs[0],
              probs[1]);
    cr_expect(labels[0] == 0 && labels[1] == 1, "labels %d %d", labels[0], labels[1]);
    ctx.synchronize();
    cr_expect_eq(sigfuse::version(), std::string(sigfuse_version()));
}

Test(hpp, masked_losses_on_cpu)
{
    // The new losses' C++ arguments: their defaults are the C args_init's, every field
    // reaches the C struct (the mask too), and their errors come back with a status.
    auto ctx = sigfuse::context::cpu();
    sigfuse_asymmetric_args ca;
    sigfuse_asymmetric_args_init(&ca);
    sigfuse::asymmetric_args a;
    cr_expect(a.gamma_pos == ca.gamma_pos && a.gamma_neg == ca.gamma_neg && a.margin == ca.margin &&
              a.reduction == ca.reduction && a.grad_scale == ca.grad_scale);
    sigfuse_bce_dice_args cd;
    sigfuse_bce_dice_args_init(&cd);
    sigfuse::bce_dice_args d;
    cr_expect(d.bce_weight == cd.bce_weight && d.dice_weight == cd.dice_weight && d.smooth == cd.smooth &&
              d.label_smoothing == cd.label_smoothing && d.reduction == cd.reduction);

    // ASL at gamma_pos 0: a positive's loss is softplus(-x); the masked element (NaN
    // logit) is left out of the SUM.
    std::vector<float> logits{2.0f, std::nanf(""), -1.0f}, targets{1.0f, 1.0f, 1.0f}, loss(1), grad(3);
    std::vector<std::uint8_t> mask{1, 0, 1};
    a.rows = 1;
    a.cols = 3;
    a.reduction = SIGFUSE_REDUCTION_SUM;
    a.logits = sigfuse::host_view(logits);
    a.targets = sigfuse::host_view(targets);
    a.mask = sigfuse::host_view(mask);
    a.loss = sigfuse::host_view(loss);
    a.dlogits = sigfuse::host_view(grad);
    ctx.asymmetric(a);
    const double want = std::log1p(std::exp(-2.0)) + std::log1p(std::exp(1.0));
    cr_expect(near(loss[0], want, 1e-6), "asymmetric %g want %g", loss[0], want);
    cr_expect(grad[1] == 0.0f && near(grad[0], -sigmoid(-2.0), 1e-6), "grad %g %g", grad[0], grad[1]);

    // Every element ignored: MEAN is NaN.
    std::vector<std::uint8_t> none(3, 0);
    a.mask = sigfuse::host_view(none);
    a.reduction = SIGFUSE_REDUCTION_MEAN;
    ctx.asymmetric(a);
    cr_expect(std::isnan(loss[0]), "all ignored: %g", loss[0]);

    // BCE + Dice on one image of two pixels, Dice alone: 1 - (2 p1 + 1) / (p0 + p1 + 1 + 1).
    std::vector<float> x2{0.0f, 1.0f}, y2{0.0f, 1.0f}, dice(1);
    d.images = 1;
    d.pixels = 2;
    d.bce_weight = 0.0f;
    d.logits = sigfuse::host_view(x2);
    d.targets = sigfuse::host_view(y2);
    d.loss = sigfuse::host_view(loss);
    d.dice = sigfuse::host_view(dice);
    ctx.bce_dice(d);
    const double p0 = 0.5, p1 = sigmoid(1.0), D = (2 * p1 + 1) / (p0 + p1 + 1 + 1);
    cr_expect(near(dice[0], D, 1e-6) && near(loss[0], 1.0 - D, 1e-6), "dice %g loss %g want %g", dice[0], loss[0], D);

    // Refused: bce_dice with reduction NONE, a mask of a float dtype.
    d.reduction = SIGFUSE_REDUCTION_NONE;
    sigfuse::result<void> r = ctx.bce_dice(d, sigfuse::nothrow);
    cr_expect_eq(r.status(), SIGFUSE_ERR_INVALID_OPTION, "%s", r.message().c_str());
    std::vector<float> float_mask{1.0f, 1.0f, 1.0f};
    a.mask = sigfuse::host_view(float_mask);
    r = ctx.asymmetric(a, sigfuse::nothrow);
    cr_expect_eq(r.status(), SIGFUSE_ERR_INVALID_DTYPE, "%s", r.message().c_str());
    cr_expect(r.message().find("mask") != std::string::npos, "%s", r.message().c_str());
}

Test(hpp, sparse_head_topk_merge_and_metrics)
{
    // An XMC head through the C++ layer: CSR positives (std::int64_t views) give the dense
    // targets' loss and dW; two label shards' top-k lists merge into the whole head's.
    auto ctx = sigfuse::context::cpu();
    const std::int64_t n = 3, d = 2, l = 4, k = 2;
    std::vector<float> x{1, 0, 0, 1, 1, -1}, w{0.5f, -1, 2, 0.25f, -0.5f, 1, 0, 0}, bias{0, 0.1f, -0.2f, 0.3f};
    std::vector<std::int64_t> offsets{0, 1, 1, 3}, ids{2, 0, 3};
    std::vector<float> dense(n * l, 0.0f);
    dense[0 * l + 2] = dense[2 * l + 0] = dense[2 * l + 3] = 1.0f;

    float loss[2];
    std::vector<float> dw[2] = {std::vector<float>(l * d), std::vector<float>(l * d)};
    for (int sparse = 0; sparse < 2; sparse++) {
        sigfuse::head_train_args a;
        set_head(a, n, d, l, sigfuse::host_view(x), sigfuse::host_view(w), sigfuse::host_view(bias));
        if (sparse) {
            a.pos_offsets = sigfuse::host_view(offsets);
            a.pos_labels = sigfuse::host_view(ids);
            a.nnz = 3;
        } else {
            a.targets = sigfuse::host_view(dense);
        }
        a.loss = sigfuse::host_view(&loss[sparse]);
        a.dw = sigfuse::host_view(dw[sparse]);
        sigfuse::workspace ws = sigfuse::workspace::allocate(ctx, ctx.head_train_workspace_size(a));
        a.set_workspace(ws);
        ctx.head_train_step(a);
    }
    cr_expect_eq(loss[0], loss[1], "dense %g, CSR %g", loss[0], loss[1]);
    cr_expect(dw[0] == dw[1], "dW differs between dense and CSR targets");

    // A CSR id out of range: an exception with the op's message.
    std::vector<std::int64_t> bad_ids{2, 0, 4};
    sigfuse::head_train_args b;
    set_head(b, n, d, l, sigfuse::host_view(x), sigfuse::host_view(w), sigfuse::absent);
    b.pos_offsets = sigfuse::host_view(offsets);
    b.pos_labels = sigfuse::host_view(bad_ids);
    b.nnz = 3;
    b.loss = sigfuse::host_view(&loss[0]);
    sigfuse::workspace bws = sigfuse::workspace::allocate(ctx, ctx.head_train_workspace_size(b));
    b.set_workspace(bws);
    const sigfuse::result<void> r = ctx.head_train_step(b, sigfuse::nothrow);
    cr_expect_eq(r.status(), SIGFUSE_ERR_INVALID_ARGUMENT, "%s", r.message().c_str());
    cr_expect(r.message().find("head_train_step") != std::string::npos, "%s", r.message().c_str());

    // Top-2 of the whole head, and of two shards of 2 labels merged.
    std::vector<std::int64_t> whole(n * k), shard_ids(2 * n * k), merged(n * k);
    std::vector<float> whole_logits(n * k), shard_logits(2 * n * k), merged_probs(n * k);
    sigfuse::head_topk_args t;
    set_head(t, n, d, l, sigfuse::host_view(x), sigfuse::host_view(w), sigfuse::host_view(bias));
    t.k = k;
    t.top_labels = sigfuse::host_view(whole);
    t.top_logits = sigfuse::host_view(whole_logits);
    cr_expect_eq(ctx.head_topk_workspace_size(t), 0u);
    ctx.head_topk(t);
    for (std::int64_t s = 0; s < 2; s++) {
        set_head(t, n, d, 2, sigfuse::host_view(x), sigfuse::host_view(w.data() + s * 2 * d),
                 sigfuse::host_view(bias.data() + s * 2));
        t.k = k;
        t.label_offset = 2 * s;
        t.top_labels = sigfuse::host_view(shard_ids.data() + s * n * k);
        t.top_logits = sigfuse::host_view(shard_logits.data() + s * n * k);
        ctx.head_topk(t);
    }
    sigfuse::topk_merge_args m;
    m.n = n, m.k = k, m.shards = 2;
    m.in_labels = sigfuse::host_view(shard_ids);
    m.in_logits = sigfuse::host_view(shard_logits);
    m.top_labels = sigfuse::host_view(merged);
    m.top_probs = sigfuse::host_view(merged_probs);
    ctx.topk_merge(m);
    cr_expect(merged == whole, "merged shards' top-k differs from the whole head's");
    // Row 0: z = (0.5, 2.1, -0.7, 0.3): labels 1 then 0.
    cr_expect(whole[0] == 1 && whole[1] == 0, "row 0: %lld %lld", (long long)whole[0], (long long)whole[1]);
    cr_expect(near(merged_probs[0], sigmoid(2.1), 1e-6), "prob %g", merged_probs[0]);

    // P@2 and R@2 on the host; a negative k is an error, not a number.
    const sigfuse::topk_scores sc = sigfuse::topk_metrics(n, k, whole.data(), offsets.data(), ids.data());
    double hits = 0, recall = 0;
    int rows_with = 0;
    for (std::int64_t i = 0; i < n; i++) {
        int h = 0;
        for (std::int64_t t2 = 0; t2 < k; t2++)
            for (std::int64_t p = offsets[i]; p < offsets[i + 1]; p++)
                h += whole[i * k + t2] == ids[p];
        hits += h;
        if (offsets[i + 1] > offsets[i]) {
            recall += (double)h / (double)(offsets[i + 1] - offsets[i]);
            rows_with++;
        }
    }
    cr_expect(near(sc.precision_at_k, hits / (double)(n * k), 1e-12), "P@k %g", sc.precision_at_k);
    cr_expect(near(sc.recall_at_k, recall / rows_with, 1e-12), "R@k %g", sc.recall_at_k);
    const auto bad = sigfuse::topk_metrics(n, -1, whole.data(), offsets.data(), ids.data(), sigfuse::nothrow);
    cr_expect_not(bad.ok());
    cr_expect_eq(bad.status(), SIGFUSE_ERR_INVALID_SIZE, "%s", bad.message().c_str());
}
