# SPDX-License-Identifier: MIT
"""Checks sigfuse_torch against PyTorch: values and gradients of bce_with_logits and silu
on every device this build hands to sigfuse (the CPU; CUDA where there is a GPU), every
float dtype, the options (weight, pos_weight, reductions, byte targets), odd shapes,
non-contiguous inputs, a side CUDA stream, infinite logits and bad arguments.

Each value is compared with PyTorch's own function evaluated in float64 on the same
(already rounded) inputs, the truth both libraries approximate; PyTorch's error at the
same dtype is printed beside sigfuse's. torch.autograd.gradcheck checks both backwards
in float64 on the CPU. Prints one line per case and exits 1 if any failed.

    python check.py [--require-cuda]
"""
import argparse
import sys
import zlib

import torch
import torch.nn.functional as F

import sigfuse_torch as S

# Largest error allowed against the float64 truth, relative to |truth| + a tenth of the
# tensor's largest |truth| (so that a gradient near a cancellation, sigmoid(x) ~ y, is
# held to the tensor's scale rather than to its own tiny value): a few roundings of the
# storage dtype (results are rounded once on store; the truth's inputs are the same
# rounded values).
TOL = {torch.float64: 1e-12, torch.float32: 2e-6, torch.float16: 2e-3, torch.bfloat16: 8e-3}
# Half the spacing of the dtype's subnormals: a correctly rounded result may be this far
# from the truth whatever the truth's size (f16 gradients of a MEAN over thousands of
# elements are subnormal; sigfuse's grad_scale exists for that).
SUBNORMAL_HALF_STEP = {torch.float64: 0.0, torch.float32: 2.0**-150, torch.float16: 2.0**-25,
                       torch.bfloat16: 2.0**-134}
NAME = {torch.float64: "f64", torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16"}

results = {"passed": 0, "failed": 0}


def report(name, ok, detail=""):
    results["passed" if ok else "failed"] += 1
    print(f"{'ok  ' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}", flush=True)


def max_err(got, truth, dtype):
    """Largest |got - truth| / (|truth| + scale / 10) over finite truth values, where scale
    is the largest finite |truth|, after forgiving half a subnormal step of the dtype;
    infinities and NaN must match exactly."""
    got, truth = got.double().cpu(), truth.double().cpu()
    finite = torch.isfinite(truth)
    if not torch.equal(torch.isnan(got), torch.isnan(truth)) or not torch.equal(
        got[torch.isinf(truth)], truth[torch.isinf(truth)]
    ):
        return float("inf")
    if not finite.any():
        return 0.0
    scale = truth[finite].abs().max().clamp(min=1e-30)
    diff = ((got[finite] - truth[finite]).abs() - SUBNORMAL_HALF_STEP[dtype]).clamp(min=0)
    diff = diff / (truth[finite].abs() + scale / 10)
    return diff.max().item()


def close(name, got, truth, dtype, torch_err=None):
    err = max_err(got, truth, dtype)
    detail = f"max err {err:.2e} (tol {TOL[dtype]:.0e})"
    if torch_err is not None:
        detail += f", PyTorch {torch_err:.2e}"
    report(name, err <= TOL[dtype], detail)


def bce_case(device, dtype, shape, reduction, weight=False, pos_weight=False, byte_targets=False,
             stream=None):
    # A seed from the case itself, the same in every run (str hashes are salted per process).
    g = torch.Generator().manual_seed(zlib.crc32(repr((shape, reduction, weight, pos_weight)).encode()))
    cols = shape[-1] if shape else 1
    x = (torch.randn(shape, generator=g) * 4).to(dtype)
    if byte_targets:
        t = torch.rand(shape, generator=g) > 0.5
    else:
        t = torch.rand(shape, generator=g).to(dtype)     # soft targets
    w = torch.rand(shape, generator=g).to(dtype) if weight else None
    pw = (torch.rand(cols, generator=g) * 3).to(dtype) if pos_weight else None
    up = torch.randn(shape if reduction == "none" else (), generator=g).to(dtype)

    def run(fn, dt, dev):
        xi = x.to(dev, dt).requires_grad_()
        ti = t.to(dev) if byte_targets else t.to(dev, dt)
        if byte_targets and fn is F.binary_cross_entropy_with_logits:
            ti = ti.to(dt)                               # PyTorch wants float targets
        kw = {"weight": None if w is None else w.to(dev, dt),
              "pos_weight": None if pw is None else pw.to(dev, dt), "reduction": reduction}
        loss = fn(xi, ti, **kw)
        (dx,) = torch.autograd.grad(loss, xi, up.to(dev, dt))
        return loss, dx

    truth_loss, truth_dx = run(F.binary_cross_entropy_with_logits, torch.float64, "cpu")
    if stream is None:
        loss, dx = run(S.bce_with_logits, dtype, device)
    else:
        # Work queued on a side stream: sigfuse must run on PyTorch's current stream.
        with torch.cuda.stream(stream):
            loss, dx = run(S.bce_with_logits, dtype, device)
        stream.synchronize()
    opts = "".join([" weight" if weight else "", " pos_weight" if pos_weight else "",
                    " u8-targets" if byte_targets else "", " side-stream" if stream else ""])
    name = f"bce_with_logits {device} {NAME[dtype]} {list(shape)} {reduction}{opts}"
    try:
        t_loss, t_dx = run(F.binary_cross_entropy_with_logits, dtype, device)
        errs = (max_err(t_loss, truth_loss, dtype), max_err(t_dx, truth_dx, dtype))
    except RuntimeError:                                 # e.g. no f16 kernel on this CPU
        errs = (None, None)
    report(name + " dtype", loss.dtype == dtype and dx.dtype == dtype and loss.shape == truth_loss.shape)
    close(name + " loss", loss, truth_loss, dtype, errs[0])
    close(name + " grad", dx, truth_dx, dtype, errs[1])


def silu_case(device, dtype, shape, transpose=False):
    g = torch.Generator().manual_seed(sum(shape) + transpose)
    x = (torch.randn(shape, generator=g) * 6).to(dtype)
    dy = torch.randn(shape, generator=g).to(dtype)
    if transpose:
        x, dy = x.t(), dy.t()

    def run(fn, dt, dev):
        xi = x.to(dev, dt).requires_grad_()
        y = fn(xi)
        (dx,) = torch.autograd.grad(y, xi, dy.to(dev, dt))
        return y, dx

    truth_y, truth_dx = run(F.silu, torch.float64, "cpu")
    y, dx = run(S.silu, dtype, device)
    try:
        t_y, t_dx = run(F.silu, dtype, device)
        errs = (max_err(t_y, truth_y, dtype), max_err(t_dx, truth_dx, dtype))
    except RuntimeError:
        errs = (None, None)
    name = f"silu {device} {NAME[dtype]} {list(x.shape)}{' transposed' if transpose else ''}"
    report(name + " shape", y.shape == x.shape and y.dtype == dtype)
    close(name + " value", y, truth_y, dtype, errs[0])
    close(name + " grad", dx, truth_dx, dtype, errs[1])


def limits_case(device):
    """Infinite logits: sigfuse gives the exact limits (PyTorch: NaN at x = -inf, y = 1)."""
    x = torch.tensor([-float("inf"), float("inf"), -float("inf"), float("inf"), 100.0, -100.0],
                     device=device, requires_grad=True)
    t = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.0, 1.0], device=device)
    loss = S.bce_with_logits(x, t, reduction="none")
    (dx,) = torch.autograd.grad(loss.sum(), x)
    want_loss = torch.tensor([float("inf"), float("inf"), 0.0, 0.0, 100.0, 100.0])
    want_dx = torch.tensor([-1.0, 1.0, 0.0, 0.0, 1.0, -1.0])
    ok = torch.equal(loss.detach().cpu(), want_loss) and torch.equal(dx.cpu(), want_dx)
    torch_loss = F.binary_cross_entropy_with_logits(x.detach(), t, reduction="none").cpu()
    report(f"bce_with_logits {device} f32 infinite logits", ok,
           f"sigfuse {loss.detach().cpu().tolist()}, PyTorch {torch_loss.tolist()}")


def error_case(name, fn, must_contain):
    try:
        fn()
    except RuntimeError as e:
        report(f"error {name}", must_contain in str(e), str(e).splitlines()[0])
        return
    report(f"error {name}", False, "no error raised")


def errors(device):
    x = torch.randn(3, 4, device=device)
    error_case(f"{device} target shape", lambda: S.bce_with_logits(x, torch.rand(3, 5, device=device)),
               "targets have shape")
    error_case(f"{device} pos_weight size",
               lambda: S.bce_with_logits(x, torch.rand(3, 4, device=device), pos_weight=torch.rand(3, device=device)),
               "pos_weight has 3 elements")
    error_case(f"{device} reduction", lambda: S.bce_with_logits(x, torch.rand(3, 4, device=device), reduction="avg"),
               "reduction must be")
    error_case(f"{device} target requires grad",
               lambda: S.bce_with_logits(x, torch.rand(3, 4, device=device, requires_grad=True)),
               "must not require grad")
    error_case(f"{device} integer input", lambda: S.silu(torch.arange(4, device=device)), "is not supported")
    if device != "cpu":
        error_case(f"{device} targets on another device",
                   lambda: S.bce_with_logits(x, torch.rand(3, 4)), "targets is on cpu")
        # sigfuse's own status and message come through: devices have no f64 kernels.
        error_case(f"{device} f64 on the GPU", lambda: S.silu(x.double()), "unsupported")


def gradchecks():
    g = torch.Generator().manual_seed(7)
    x = torch.randn(6, 5, dtype=torch.float64, generator=g, requires_grad=True)
    t = torch.rand(6, 5, dtype=torch.float64, generator=g)
    w = torch.rand(6, 5, dtype=torch.float64, generator=g)
    pw = torch.rand(5, dtype=torch.float64, generator=g) * 3
    for red in ("none", "mean", "sum"):
        ok = torch.autograd.gradcheck(lambda z: S.bce_with_logits(z, t, w, pw, reduction=red), (x,))
        report(f"gradcheck bce_with_logits cpu f64 [6, 5] {red} weight pos_weight", ok)
    report("gradcheck silu cpu f64 [6, 5]", torch.autograd.gradcheck(S.silu, (x * 3,)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--require-cuda", action="store_true", help="fail unless the CUDA path ran")
    args = ap.parse_args()

    print(f"sigfuse {S.sigfuse_version()}, PyTorch {torch.__version__}; sigfuse_torch devices: {S.backends()}")
    devices = ["cpu"]
    if torch.cuda.is_available() and S.backends().endswith("cuda"):
        devices.append("cuda")
    elif args.require_cuda:
        print(f"FAIL --require-cuda: torch.cuda.is_available() = {torch.cuda.is_available()}, "
              f"sigfuse_torch devices: {S.backends()}")
        return 1

    shapes = [(2, 3), (37, 129), (5, 1), (3, 0), (), (2, 5, 7)]
    for device in devices:
        dtypes = [torch.float32, torch.bfloat16, torch.float16] + ([torch.float64] if device == "cpu" else [])
        for dtype in dtypes:
            for shape in shapes:
                for red in ("none", "mean", "sum"):
                    bce_case(device, dtype, shape, red)
            bce_case(device, dtype, (37, 129), "mean", weight=True, pos_weight=True)
            bce_case(device, dtype, (37, 129), "none", weight=True)
            bce_case(device, dtype, (37, 129), "sum", pos_weight=True, byte_targets=True)
            for shape in [(1,), (1000,), (33, 65)]:
                silu_case(device, dtype, shape)
            silu_case(device, dtype, (33, 65), transpose=True)
        if device == "cuda":
            side = torch.cuda.Stream()
            bce_case(device, torch.float32, (513, 1000), "mean", weight=True, pos_weight=True, stream=side)
            bce_case(device, torch.bfloat16, (513, 1000), "none", stream=side)
        limits_case(device)
        errors(device)
    gradchecks()

    print(f"{results['passed']} passed, {results['failed']} failed")
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
