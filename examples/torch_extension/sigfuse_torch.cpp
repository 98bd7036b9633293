// SPDX-License-Identifier: MIT
// sigfuse_torch: sigfuse's fused losses (BCE with logits, sigmoid focal, asymmetric, BCE +
// Dice, each with an optional mask of ignored targets) and SiLU as PyTorch autograd functions,
// written on PyTorch's C++ side (torch::autograd::Function) over PyTorch's own tensors.
//
// sigfuse never allocates the caller's tensors: PyTorch allocates every output here and
// sigfuse writes into it. On CUDA the kernels are enqueued on PyTorch's current stream,
// so they order with the surrounding PyTorch work without any synchronisation. CPU
// tensors go to sigfuse's CPU reference (double inside; it also takes float64, which is
// what torch.autograd.gradcheck wants).
//
// Gradients flow to the logits / the input only: targets, weight, pos_weight and mask are
// treated as constants, and asking for their gradient is an error rather than a silent
// zero. The backward passes are not themselves differentiable (no double backward).

#include <torch/extension.h>

#include <sigfuse.h>
#ifdef SIGFUSE_TORCH_CUDA
#include <c10/cuda/CUDAStream.h>
#include <sigfuse_cuda.h>
#endif

#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace {

// ---- Contexts -------------------------------------------------------------------------
//
// One sigfuse context per (device, stream). A context reserves scratch for the reduction
// partials of the losses; work still running on one stream may be using it, so two
// streams never share a context. Contexts are not thread-safe, so every call into sigfuse
// holds one lock (the CUDA calls only enqueue, so it is held for microseconds).
// Contexts live as long as the process and are never destroyed: at interpreter exit the
// CUDA runtime may already be torn down, and destroying then would be the crash.

std::mutex sigfuse_lock;

struct Call {
    std::unique_lock<std::mutex> hold;
    sigfuse_ctx *ctx;
};

// The sigfuse error as a Python RuntimeError naming the sigfuse call.
void check(sigfuse_status status, const sigfuse_ctx *ctx, const char *what)
{
    TORCH_CHECK(status == SIGFUSE_SUCCESS, "sigfuse ", what, " failed: ",
                sigfuse_status_string(status), ": ",
                ctx ? sigfuse_ctx_last_error(ctx) : sigfuse_last_create_error());
}

Call context_for(const at::Tensor &t)
{
    std::unique_lock<std::mutex> hold(sigfuse_lock);
    static std::map<std::pair<int64_t, void *>, sigfuse_ctx *> contexts;
    if (t.is_cpu()) {
        auto &ctx = contexts[{-1, nullptr}];
        if (!ctx)
            check(sigfuse_ctx_create(&ctx, SIGFUSE_BACKEND_CPU), nullptr, "ctx_create(cpu)");
        return {std::move(hold), ctx};
    }
#ifdef SIGFUSE_TORCH_CUDA
    if (t.is_cuda()) {
        const int device = t.get_device();
        cudaStream_t stream = c10::cuda::getCurrentCUDAStream(device).stream();
        auto &ctx = contexts[{device, static_cast<void *>(stream)}];
        if (!ctx)
            check(sigfuse_ctx_create_cuda(&ctx, device, stream), nullptr, "ctx_create_cuda");
        return {std::move(hold), ctx};
    }
#endif
    TORCH_CHECK(false, "sigfuse_torch: tensors on ", t.device(),
                " are not supported by this build (CPU",
#ifdef SIGFUSE_TORCH_CUDA
                " and CUDA"
#endif
                " only)");
}

// ---- Tensors as sigfuse buffers ---------------------------------------------------------

sigfuse_dtype dtype_of(const at::Tensor &t, const char *name)
{
    switch (t.scalar_type()) {
    case at::kFloat: return SIGFUSE_F32;
    case at::kHalf: return SIGFUSE_F16;
    case at::kBFloat16: return SIGFUSE_BF16;
    case at::kDouble: return SIGFUSE_F64;   // the CPU reference only; CUDA says unsupported
    case at::kByte:
    case at::kBool: return SIGFUSE_U8;      // one byte each, 0 or 1: read as sigfuse's u8
    default: TORCH_CHECK(false, "sigfuse_torch: ", name, ": dtype ", t.scalar_type(), " is not supported");
    }
}

// A view of a contiguous tensor's memory (the caller keeps the tensor alive).
sigfuse_buffer buffer_of(const at::Tensor &t, const char *name)
{
    const sigfuse_dtype dt = dtype_of(t, name);
    return t.is_cpu() ? sigfuse_host_buffer(t.data_ptr(), dt) : sigfuse_cuda_buffer(t.data_ptr(), dt);
}

void same_device(const at::Tensor &a, const at::Tensor &b, const char *name)
{
    TORCH_CHECK(a.device() == b.device(), "sigfuse_torch: ", name, " is on ", b.device(),
                " but the input is on ", a.device());
}

// ---- SiLU ---------------------------------------------------------------------------------

at::Tensor run_silu_forward(const at::Tensor &x_in)
{
    const at::Tensor x = x_in.contiguous();
    at::Tensor y = at::empty_like(x);
    const sigfuse_buffer xb = buffer_of(x, "input"), yb = buffer_of(y, "output");
    Call call = context_for(x);
    check(sigfuse_silu_forward(call.ctx, x.numel(), 1.0f, &xb, &yb), call.ctx, "silu_forward");
    return y;
}

at::Tensor run_silu_backward(const at::Tensor &x_in, const at::Tensor &dy_in)
{
    const at::Tensor x = x_in.contiguous(), dy = dy_in.to(x.scalar_type()).contiguous();
    at::Tensor dx = at::empty_like(x);
    const sigfuse_buffer xb = buffer_of(x, "input"), dyb = buffer_of(dy, "grad_output"),
                         dxb = buffer_of(dx, "grad_input");
    Call call = context_for(x);
    check(sigfuse_silu_backward(call.ctx, x.numel(), 1.0f, &xb, &dyb, &dxb), call.ctx, "silu_backward");
    return dx;
}

struct SiLU : public torch::autograd::Function<SiLU> {
    static at::Tensor forward(torch::autograd::AutogradContext *ctx, const at::Tensor &x)
    {
        ctx->save_for_backward({x});
        return run_silu_forward(x);
    }
    static torch::autograd::tensor_list backward(torch::autograd::AutogradContext *ctx,
                                                 torch::autograd::tensor_list grads)
    {
        return {run_silu_backward(ctx->get_saved_variables()[0], grads[0])};
    }
};

// ---- The losses ------------------------------------------------------------------------------
//
// BCE with logits, the sigmoid focal loss, the asymmetric loss and BCE + Dice share one
// autograd function: the logits are viewed as [rows, cols] (cols the last dimension, 1 for
// a scalar, so that pos_weight is per column exactly as PyTorch broadcasts it; for
// bce_dice, rows the first dimension, the images, and cols everything after it, the
// pixels). The forward computes only the loss; the backward runs sigfuse once more with
// PyTorch's incoming gradient as the upstream gradient, so nothing beyond the inputs is
// kept between the two (the same bytes as saving the gradient from the forward, without
// the memory). A mask (bool or uint8, the logits' shape, 0 / False: ignored) goes to
// sigfuse as its u8 mask.

enum LossOp : int64_t { LOSS_BCE, LOSS_FOCAL, LOSS_ASYMMETRIC, LOSS_BCE_DICE };
const char *const loss_names[] = {"bce_with_logits", "sigmoid_focal", "asymmetric", "bce_dice"};

sigfuse_reduction reduction_of(const std::string &reduction)
{
    if (reduction == "none")
        return SIGFUSE_REDUCTION_NONE;
    if (reduction == "sum")
        return SIGFUSE_REDUCTION_SUM;
    TORCH_CHECK(reduction == "mean", "sigfuse_torch: reduction must be 'none', 'mean' or 'sum', not '",
                reduction, "'");
    return SIGFUSE_REDUCTION_MEAN;
}

// The inputs made contiguous and in the shapes sigfuse takes; absent ones stay undefined.
struct LossInputs {
    at::Tensor logits, targets, weight, pos_weight, mask;
    int64_t rows = 0, cols = 0;

    void set_shape(LossOp op)
    {
        if (op == LOSS_BCE_DICE) {   // [images, pixels]
            rows = logits.dim() == 0 ? 1 : logits.size(0);
            cols = rows == 0 ? 0 : logits.numel() / rows;
            return;
        }
        cols = logits.dim() == 0 ? 1 : logits.size(-1);   // [rows, labels]
        rows = cols == 0 ? 0 : logits.numel() / cols;
    }
};

LossInputs loss_inputs(LossOp op, const at::Tensor &logits, const at::Tensor &targets, const at::Tensor &weight,
                       const at::Tensor &pos_weight, const at::Tensor &mask)
{
    LossInputs in;
    in.logits = logits.contiguous();
    in.set_shape(op);
    TORCH_CHECK(targets.sizes() == logits.sizes(), "sigfuse_torch: targets have shape ", targets.sizes(),
                " but the logits have ", logits.sizes());
    same_device(logits, targets, "targets");
    // Float targets in the logits' dtype (sigfuse's rule); bool / uint8 go through as u8.
    const bool byte_targets = targets.scalar_type() == at::kBool || targets.scalar_type() == at::kByte;
    in.targets = (byte_targets ? targets : targets.to(logits.scalar_type())).contiguous();
    if (weight.defined()) {
        same_device(logits, weight, "weight");
        // sigfuse takes a full [rows, cols] weight; broadcast (as PyTorch does) and keep it.
        in.weight = weight.to(logits.scalar_type()).expand(logits.sizes()).contiguous();
    }
    if (pos_weight.defined()) {
        same_device(logits, pos_weight, "pos_weight");
        // One value per column (per pixel for bce_dice), or one for all.
        TORCH_CHECK(pos_weight.numel() == in.cols || pos_weight.numel() == 1, "sigfuse_torch: pos_weight has ",
                    pos_weight.numel(), " elements but the logits have ", in.cols,
                    op == LOSS_BCE_DICE ? " pixels (the elements of an image)"
                                        : " columns (their last dimension)",
                    "; it must have one per column or one in all");
        in.pos_weight = pos_weight.to(logits.scalar_type()).reshape({-1}).expand({in.cols}).contiguous();
    }
    if (mask.defined()) {
        same_device(logits, mask, "mask");
        TORCH_CHECK(mask.sizes() == logits.sizes(), "sigfuse_torch: mask has shape ", mask.sizes(),
                    " but the logits have ", logits.sizes());
        TORCH_CHECK(mask.scalar_type() == at::kBool || mask.scalar_type() == at::kByte,
                    "sigfuse_torch: mask must be bool or uint8 (0: ignored), not ", mask.scalar_type());
        in.mask = mask.contiguous();
    }
    return in;
}

// A buffer for a tensor that may be absent: its address, or NULL.
const sigfuse_buffer *optional_buffer(const at::Tensor &t, const char *name, sigfuse_buffer *storage)
{
    if (!t.defined())
        return nullptr;
    *storage = buffer_of(t, name);
    return storage;
}

// One sigfuse call of the loss: the loss (when `loss` is defined) and/or the gradient (when
// `dlogits` is defined) with upstream gradient `upstream` (undefined: 1). opts are the
// op's options in the order of its Python arguments (see the entry points below).
void loss_call(LossOp op, const LossInputs &in, sigfuse_reduction reduction, const std::vector<double> &opts,
               const at::Tensor &upstream, const at::Tensor &loss, const at::Tensor &dlogits)
{
    sigfuse_buffer x = buffer_of(in.logits, "logits"), t = buffer_of(in.targets, "targets");
    sigfuse_buffer w, pw, m, up, l, g;
    const sigfuse_buffer *mask = optional_buffer(in.mask, "mask", &m);
    const sigfuse_buffer *dloss_in = optional_buffer(upstream, "grad_output", &up);
    const sigfuse_buffer *loss_out = optional_buffer(loss, "loss", &l);
    const sigfuse_buffer *grad_out = optional_buffer(dlogits, "grad_input", &g);
    const auto opt = [&](size_t i) { return static_cast<float>(opts.at(i)); };
    Call call = context_for(in.logits);
    sigfuse_status st = SIGFUSE_SUCCESS;
    switch (op) {
    case LOSS_BCE: {
        sigfuse_bce_args a;
        sigfuse_bce_args_init(&a);
        a.rows = in.rows, a.cols = in.cols, a.reduction = reduction;
        a.logits = &x, a.targets = &t, a.mask = mask, a.dloss_in = dloss_in, a.loss = loss_out, a.dlogits = grad_out;
        a.weight = optional_buffer(in.weight, "weight", &w);
        a.pos_weight = optional_buffer(in.pos_weight, "pos_weight", &pw);
        st = sigfuse_bce_with_logits(call.ctx, &a);
        break;
    }
    case LOSS_FOCAL: {
        sigfuse_focal_args a;
        sigfuse_focal_args_init(&a);
        a.rows = in.rows, a.cols = in.cols, a.reduction = reduction;
        a.alpha = opt(0), a.gamma = opt(1);
        a.logits = &x, a.targets = &t, a.mask = mask, a.dloss_in = dloss_in, a.loss = loss_out, a.dlogits = grad_out;
        st = sigfuse_sigmoid_focal(call.ctx, &a);
        break;
    }
    case LOSS_ASYMMETRIC: {
        sigfuse_asymmetric_args a;
        sigfuse_asymmetric_args_init(&a);
        a.rows = in.rows, a.cols = in.cols, a.reduction = reduction;
        a.gamma_pos = opt(0), a.gamma_neg = opt(1), a.margin = opt(2);
        a.logits = &x, a.targets = &t, a.mask = mask, a.dloss_in = dloss_in, a.loss = loss_out, a.dlogits = grad_out;
        st = sigfuse_asymmetric(call.ctx, &a);
        break;
    }
    case LOSS_BCE_DICE: {
        sigfuse_bce_dice_args a;
        sigfuse_bce_dice_args_init(&a);
        a.images = in.rows, a.pixels = in.cols, a.reduction = reduction;
        a.bce_weight = opt(0), a.dice_weight = opt(1), a.smooth = opt(2), a.label_smoothing = opt(3);
        a.logits = &x, a.targets = &t, a.mask = mask, a.dloss_in = dloss_in, a.loss = loss_out, a.dlogits = grad_out;
        a.pos_weight = optional_buffer(in.pos_weight, "pos_weight", &pw);
        st = sigfuse_bce_dice(call.ctx, &a);
        break;
    }
    }
    check(st, call.ctx, loss_names[op]);
}

// A reduced loss is f32 in sigfuse (f64 for f64 logits): that is its buffer dtype.
at::ScalarType reduced_type(const at::Tensor &logits)
{
    return logits.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
}

at::Tensor optional_tensor(const c10::optional<at::Tensor> &t) { return t ? *t : at::Tensor(); }

struct Loss : public torch::autograd::Function<Loss> {
    static at::Tensor forward(torch::autograd::AutogradContext *ctx, const at::Tensor &logits,
                              const at::Tensor &targets, const c10::optional<at::Tensor> &weight,
                              const c10::optional<at::Tensor> &pos_weight, const c10::optional<at::Tensor> &mask,
                              int64_t op, int64_t reduction, std::vector<double> opts)
    {
        const auto lop = static_cast<LossOp>(op);
        const auto red = static_cast<sigfuse_reduction>(reduction);
        const LossInputs in = loss_inputs(lop, logits, targets, optional_tensor(weight), optional_tensor(pos_weight),
                                          optional_tensor(mask));
        at::Tensor loss = red == SIGFUSE_REDUCTION_NONE
                              ? at::empty_like(in.logits)
                              : at::empty({}, in.logits.options().dtype(reduced_type(in.logits)));
        loss_call(lop, in, red, opts, at::Tensor(), loss, at::Tensor());
        ctx->save_for_backward({in.logits, in.targets, in.weight, in.pos_weight, in.mask});
        ctx->saved_data["op"] = op;
        ctx->saved_data["reduction"] = reduction;
        ctx->saved_data["opts"] = opts;
        // PyTorch returns the loss in the logits' dtype; so does this.
        return red == SIGFUSE_REDUCTION_NONE ? loss.view(logits.sizes()) : loss.to(logits.scalar_type());
    }

    static torch::autograd::tensor_list backward(torch::autograd::AutogradContext *ctx,
                                                 torch::autograd::tensor_list grads)
    {
        const auto saved = ctx->get_saved_variables();
        const auto op = static_cast<LossOp>(ctx->saved_data["op"].toInt());
        const auto red = static_cast<sigfuse_reduction>(ctx->saved_data["reduction"].toInt());
        const std::vector<double> opts = ctx->saved_data["opts"].toDoubleVector();
        LossInputs in;
        in.logits = saved[0];
        in.targets = saved[1];
        in.weight = saved[2];
        in.pos_weight = saved[3];
        in.mask = saved[4];
        in.set_shape(op);
        // The upstream gradient: a tensor like the loss for 'none', else one number, which
        // sigfuse reads from device memory (no copy to the host, no synchronisation).
        const at::Tensor upstream = red == SIGFUSE_REDUCTION_NONE
                                        ? grads[0].to(in.logits.scalar_type()).contiguous()
                                        : grads[0].to(reduced_type(in.logits)).contiguous();
        at::Tensor dlogits = at::empty_like(in.logits);
        loss_call(op, in, red, opts, upstream, at::Tensor(), dlogits);
        return {dlogits, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(),
                at::Tensor()};
    }
};

at::Tensor apply_loss(LossOp op, const at::Tensor &logits, const at::Tensor &targets,
                      const c10::optional<at::Tensor> &weight, const c10::optional<at::Tensor> &pos_weight,
                      const c10::optional<at::Tensor> &mask, const std::string &reduction, std::vector<double> opts)
{
    const sigfuse_reduction red = reduction_of(reduction);
    TORCH_CHECK(!targets.requires_grad() && !(weight && weight->requires_grad()) &&
                    !(pos_weight && pos_weight->requires_grad()) && !(mask && mask->requires_grad()),
                "sigfuse_torch.", loss_names[op], ": gradients flow to the logits only; "
                "targets, weight, pos_weight and mask must not require grad (detach them)");
    // Absent tensors stay c10::nullopt: Function::apply takes optionals as inputs that may
    // be missing, while an undefined at::Tensor there is an error in older PyTorch.
    return Loss::apply(logits, targets, weight, pos_weight, mask, static_cast<int64_t>(op),
                       static_cast<int64_t>(red), std::move(opts));
}

// ---- Python entry points ---------------------------------------------------------------------

at::Tensor silu(const at::Tensor &x) { return SiLU::apply(x); }

at::Tensor bce_with_logits(const at::Tensor &logits, const at::Tensor &targets,
                           const c10::optional<at::Tensor> &weight, const c10::optional<at::Tensor> &pos_weight,
                           const std::string &reduction, const c10::optional<at::Tensor> &mask)
{
    return apply_loss(LOSS_BCE, logits, targets, weight, pos_weight, mask, reduction, {});
}

at::Tensor sigmoid_focal(const at::Tensor &logits, const at::Tensor &targets, double alpha, double gamma,
                         const std::string &reduction, const c10::optional<at::Tensor> &mask)
{
    return apply_loss(LOSS_FOCAL, logits, targets, c10::nullopt, c10::nullopt, mask, reduction, {alpha, gamma});
}

at::Tensor asymmetric(const at::Tensor &logits, const at::Tensor &targets, double gamma_pos, double gamma_neg,
                      double margin, const std::string &reduction, const c10::optional<at::Tensor> &mask)
{
    return apply_loss(LOSS_ASYMMETRIC, logits, targets, c10::nullopt, c10::nullopt, mask, reduction,
                      {gamma_pos, gamma_neg, margin});
}

at::Tensor bce_dice(const at::Tensor &logits, const at::Tensor &targets, double bce_weight, double dice_weight,
                    double smooth, double label_smoothing, const c10::optional<at::Tensor> &pos_weight,
                    const std::string &reduction, const c10::optional<at::Tensor> &mask)
{
    TORCH_CHECK(reduction != "none", "sigfuse_torch.bce_dice: reduction must be 'mean' or 'sum' (the loss is one number)");
    return apply_loss(LOSS_BCE_DICE, logits, targets, c10::nullopt, pos_weight, mask, reduction,
                      {bce_weight, dice_weight, smooth, label_smoothing});
}

std::string backends()
{
    std::string s = "cpu";
#ifdef SIGFUSE_TORCH_CUDA
    const sigfuse_status cuda = sigfuse_backend_available(SIGFUSE_BACKEND_CUDA);
    s += cuda == SIGFUSE_SUCCESS ? ", cuda" : std::string(", cuda (") + sigfuse_status_string(cuda) + ")";
#endif
    return s;
}

} // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m)
{
    m.doc() = "sigfuse's fused sigmoid losses (BCE, focal, asymmetric, BCE + Dice) and SiLU as PyTorch autograd "
              "functions";
    m.def("silu", &silu, "y = x * sigmoid(x), like torch.nn.functional.silu", py::arg("input"));
    m.def("bce_with_logits", &bce_with_logits,
          "Like torch.nn.functional.binary_cross_entropy_with_logits; exact limits at infinite logits; "
          "mask (bool / uint8, 0: ignored) leaves elements out, 'mean' over the kept ones",
          py::arg("input"), py::arg("target"), py::arg("weight") = py::none(),
          py::arg("pos_weight") = py::none(), py::arg("reduction") = "mean", py::arg("mask") = py::none());
    m.def("sigmoid_focal", &sigmoid_focal,
          "Like torchvision.ops.sigmoid_focal_loss (alpha < 0: no alpha term); finite at saturated logits",
          py::arg("input"), py::arg("target"), py::arg("alpha") = 0.25, py::arg("gamma") = 2.0,
          py::arg("reduction") = "mean", py::arg("mask") = py::none());
    m.def("asymmetric", &asymmetric,
          "The asymmetric loss (ASL, Ridnik et al. 2021) in logit space: "
          "-[y (1-p)^gamma_pos log p + (1-y) p_m^gamma_neg log(1-p_m)], p_m = max(p - margin, 0)",
          py::arg("input"), py::arg("target"), py::arg("gamma_pos") = 0.0, py::arg("gamma_neg") = 4.0,
          py::arg("margin") = 0.05, py::arg("reduction") = "mean", py::arg("mask") = py::none());
    m.def("bce_dice", &bce_dice,
          "bce_weight * BCE (reduction 'mean' or 'sum') + dice_weight * mean over images (dim 0) of "
          "1 - (2 sum p y + smooth) / (sum p + sum y + smooth)",
          py::arg("input"), py::arg("target"), py::arg("bce_weight") = 1.0, py::arg("dice_weight") = 1.0,
          py::arg("smooth") = 1.0, py::arg("label_smoothing") = 0.0, py::arg("pos_weight") = py::none(),
          py::arg("reduction") = "mean", py::arg("mask") = py::none());
    m.def("sigfuse_version", &sigfuse_version, "the sigfuse library's version");
    m.def("backends", &backends, "the tensor devices this build hands to sigfuse");
}
