# SPDX-License-Identifier: MIT
"""Checks sigfuse_torch against PyTorch: values and gradients of bce_with_logits,
sigmoid_focal, asymmetric, bce_dice and silu on every device this build hands to sigfuse
(the CPU; CUDA where there is a GPU), every float dtype, the options (weight, pos_weight,
reductions, byte targets, alpha / gamma, gamma_pos / gamma_neg / margin, smooth,
label_smoothing, the loss weights, a mask of ignored targets, all of them ignored), odd
shapes, non-contiguous inputs, a side CUDA stream, saturated and infinite logits and bad
arguments. The losses torchvision and PyTorch lack (asymmetric, bce_dice, any mask) are
compared with their formulas written in torch ops (ref_* below).

Each value is compared with PyTorch's own function evaluated in float64 on the same
(already rounded) inputs, the truth both libraries approximate; PyTorch's error at the
same dtype is printed beside sigfuse's. torch.autograd.gradcheck checks both backwards
in float64 on the CPU. Prints one line per case and exits 1 if any failed.

    python check.py [--require-cuda]
"""
import argparse
import math
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


# ---- The other losses, and ignored targets: the same losses written in PyTorch ----------------------
#
# Each reference takes sigfuse_torch's arguments and is the formula of include/sigfuse.h in
# torch ops, evaluated in float64, its gradient by autograd. Ignored elements are replaced
# by 0 with torch.where before any math, so that their NaN / inf neither reaches the loss
# nor the gradient (where's backward gives them exactly 0, as sigfuse does).


def as_f32(v):
    return torch.tensor(v, dtype=torch.float32).item()


def softplus64(x):
    """softplus(x) = -log sigmoid(-x): F.logsigmoid is exact in value and gradient at any
    finite logit and at the infinite ones (F.softplus switches to x past 20)."""
    return -F.logsigmoid(-x)


def masked(mask, *tensors):
    if mask is None:
        return tensors
    keep = mask.bool()
    return tuple(torch.where(keep, t, torch.zeros((), dtype=t.dtype, device=t.device)) for t in tensors)


def reduce_loss(le, mask, reduction):
    if mask is not None:
        le = torch.where(mask.bool(), le, torch.zeros((), dtype=le.dtype, device=le.device))
    if reduction == "none":
        return le
    total = le.sum()
    if reduction == "sum":
        return total
    count = mask.bool().sum().to(le.dtype) if mask is not None else torch.tensor(float(le.numel()), dtype=le.dtype)
    return total / count


def ref_bce(x, t, weight=None, pos_weight=None, reduction="mean", mask=None):
    x, t = masked(mask, x, t)
    le = F.binary_cross_entropy_with_logits(x, t, weight=weight, pos_weight=pos_weight, reduction="none")
    return reduce_loss(le, mask, reduction)


def ref_focal(x, t, alpha=0.25, gamma=2.0, reduction="mean", mask=None):
    """torchvision.ops.sigmoid_focal_loss's lines, with softplus in place of its BCE call
    (the same value; finite where BCE is at saturated logits)."""
    alpha, gamma = as_f32(alpha), as_f32(gamma)
    x, t = masked(mask, x, t)
    p = torch.sigmoid(x)
    ce = (1 - t) * softplus64(x) + t * softplus64(-x)
    p_t = p * t + (1 - p) * (1 - t)
    le = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        le = (alpha * t + (1 - alpha) * (1 - t)) * le
    return reduce_loss(le, mask, reduction)


def ref_asymmetric(x, t, gamma_pos=0.0, gamma_neg=4.0, margin=0.05, reduction="mean", mask=None):
    """ASL: -[y (1-p)^g+ log p + (1-y) p_m^g- log(1-p_m)], p_m = max(p - margin, 0), with
    1 - p = sigmoid(-x), -log p = softplus(-x), and -log(1 - p) = softplus(x) at margin 0."""
    gamma_pos, gamma_neg, margin = as_f32(gamma_pos), as_f32(gamma_neg), as_f32(margin)   # sigfuse's f32 options
    x, t = masked(mask, x, t)
    p = torch.sigmoid(x)
    pos = torch.sigmoid(-x) ** gamma_pos * softplus64(-x)
    if margin == 0:
        neg = p ** gamma_neg * softplus64(x)
    else:
        pm = torch.clamp(p - margin, min=0)
        neg = pm ** gamma_neg * -torch.log1p(-pm)
    return reduce_loss(t * pos + (1 - t) * neg, mask, reduction)


def ref_bce_dice(x, t, bce_weight=1.0, dice_weight=1.0, smooth=1.0, label_smoothing=0.0, pos_weight=None,
                 reduction="mean", mask=None):
    """bce_weight * BCE(x, y(1-eps) + eps/2, pos_weight) + dice_weight * mean over images of
    1 - (2 sum p y + smooth) / (sum p + sum y + smooth), over the kept pixels."""
    bce_weight, dice_weight, smooth, label_smoothing = map(as_f32, (bce_weight, dice_weight, smooth, label_smoothing))
    images = x.shape[0] if x.dim() else 1
    pixels = math.prod(x.shape[1:]) if x.dim() else 1
    x, t = masked(mask, x, t)
    xs, ts = x.reshape(images, pixels), t.reshape(images, pixels)
    keep = mask.reshape(images, pixels).bool() if mask is not None else torch.ones_like(xs, dtype=torch.bool)
    zero = torch.zeros((), dtype=x.dtype, device=x.device)
    loss = zero
    if bce_weight != 0:
        ys = ts * (1 - label_smoothing) + label_smoothing / 2
        le = F.binary_cross_entropy_with_logits(xs, ys, pos_weight=pos_weight, reduction="none")
        loss = loss + bce_weight * reduce_loss(le, keep, reduction)
    if dice_weight != 0:
        p = torch.where(keep, torch.sigmoid(xs), zero)
        y = torch.where(keep, ts, zero)
        dice = (2 * (p * y).sum(1) + smooth) / (p.sum(1) + y.sum(1) + smooth)
        loss = loss + dice_weight * (1 - dice).mean()
    return loss


def loss_inputs_for(shape, seed, dtype, byte_targets=False, soft=True, mask=False, scale=4.0):
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(shape, generator=g) * scale).to(dtype)
    if byte_targets:
        t = torch.rand(shape, generator=g) > 0.5
    elif soft:
        t = torch.rand(shape, generator=g).to(dtype)
    else:
        t = (torch.rand(shape, generator=g) > 0.5).to(dtype)
    m = torch.rand(shape, generator=g) > 0.25 if mask else None
    return x, t, m


def loss_compare(name, fn, ref, device, dtype, x, t, reduction, kw, mask=None, up=None, torch_too=True):
    """sigfuse's fn against ref in float64 (and ref at dtype, PyTorch's own error) on the same
    rounded inputs: loss and gradient wrt the logits, upstream gradient `up`."""
    byte_targets = t.dtype == torch.bool

    def run(f, dt, dev, ref_side):
        xi = x.to(dev, dt).requires_grad_()
        ti = t.to(dev) if byte_targets and not ref_side else t.to(dev, dt)
        # sigfuse's options are floats (f32): the truth takes the same rounded values.
        args = {k: (v.to(dev, dt) if torch.is_tensor(v) else as_f32(v) if ref_side else v) for k, v in kw.items()}
        if mask is not None:
            args["mask"] = mask.to(dev)
        loss = f(xi, ti, reduction=reduction, **args)
        u = up if up is not None else torch.ones(loss.shape)
        (dx,) = torch.autograd.grad(loss, xi, u.to(dev, dt))
        return loss.detach(), dx

    truth_loss, truth_dx = run(ref, torch.float64, "cpu", True)
    loss, dx = run(fn, dtype, device, False)
    errs = (None, None)
    if torch_too:
        try:
            t_loss, t_dx = run(ref, dtype, device, True)
            errs = (max_err(t_loss, truth_loss, dtype), max_err(t_dx, truth_dx, dtype))
        except RuntimeError:                             # e.g. no f16 kernel on this CPU
            pass
    name = f"{name} {device} {NAME[dtype]} {list(x.shape)} {reduction}"
    report(name + " dtype", loss.dtype == dtype and dx.dtype == dtype and loss.shape == truth_loss.shape)
    close(name + " loss", loss, truth_loss, dtype, errs[0])
    close(name + " grad", dx, truth_dx, dtype, errs[1])


def opts_text(kw):
    return " ".join(f"{k}={v}" if not torch.is_tensor(v) else k for k, v in kw.items())


def new_loss_cases(device, dtype):
    """The mask on BCE and focal; the asymmetric loss and BCE + Dice, every option."""
    shape = (37, 129)
    for red in ("none", "mean", "sum"):
        seed = zlib.crc32(repr(("mask", red)).encode())
        x, t, m = loss_inputs_for(shape, seed, dtype, mask=True)
        pw = (torch.rand(129, generator=torch.Generator().manual_seed(seed)) * 3).to(dtype)
        w = torch.rand(shape, generator=torch.Generator().manual_seed(seed + 1)).to(dtype)
        up = torch.randn(shape if red == "none" else ()).to(dtype)
        loss_compare("bce_with_logits mask", S.bce_with_logits, ref_bce, device, dtype, x, t, red, {}, m, up)
        loss_compare("bce_with_logits mask weight pos_weight", S.bce_with_logits, ref_bce, device, dtype, x, t,
                     red, {"weight": w, "pos_weight": pw}, m, up)
        for alpha, gamma in ((0.25, 2.0), (-1.0, 0.0), (0.75, 4.5)):
            kw = {"alpha": alpha, "gamma": gamma}
            loss_compare(f"sigmoid_focal {opts_text(kw)}", S.sigmoid_focal, ref_focal, device, dtype, x, t, red,
                         kw, None, up)
            loss_compare(f"sigmoid_focal mask {opts_text(kw)}", S.sigmoid_focal, ref_focal, device, dtype, x, t,
                         red, kw, m, up)
        for gp, gn, margin in ((0.0, 4.0, 0.05), (0.0, 4.0, 0.0), (1.0, 4.0, 0.2), (2.0, 2.0, 0.0),
                               (0.0, 0.0, 0.0), (1.5, 3.5, 1.0), (0.5, 1.0, 0.5)):
            kw = {"gamma_pos": gp, "gamma_neg": gn, "margin": margin}
            loss_compare(f"asymmetric {opts_text(kw)}", S.asymmetric, ref_asymmetric, device, dtype, x, t, red, kw,
                         None, up)
            loss_compare(f"asymmetric mask {opts_text(kw)}", S.asymmetric, ref_asymmetric, device, dtype, x, t,
                         red, kw, m, up)
    # Hard targets: bool (sigfuse's u8) and float.
    x, tb, m = loss_inputs_for(shape, 11, dtype, byte_targets=True, mask=True)
    loss_compare("asymmetric u8-targets mask", S.asymmetric, ref_asymmetric, device, dtype, x, tb, "mean", {}, m)
    loss_compare("sigmoid_focal u8-targets mask", S.sigmoid_focal, ref_focal, device, dtype, x, tb, "sum", {}, m)
    loss_compare("bce_with_logits u8-targets mask", S.bce_with_logits, ref_bce, device, dtype, x, tb, "mean", {}, m)
    # Odd shapes.
    for shp in ((2, 3), (5, 1), (3, 0), (), (2, 5, 7)):
        x, t, m = loss_inputs_for(shp, 17, dtype, mask=True)
        for red in ("none", "mean"):
            loss_compare("asymmetric mask", S.asymmetric, ref_asymmetric, device, dtype, x, t, red, {}, m)

    # BCE + Dice over [images, pixels...]: every option.
    images = (4, 16, 16)
    for red in ("mean", "sum"):
        seed = zlib.crc32(repr(("dice", red)).encode())
        x, t, m = loss_inputs_for(images, seed, dtype, soft=False, mask=True)
        pw = (torch.rand(256, generator=torch.Generator().manual_seed(seed)) * 3).to(dtype)
        up = torch.randn(()).to(dtype)
        for kw in ({}, {"smooth": 0.0}, {"smooth": 1e-5, "label_smoothing": 0.1}, {"pos_weight": pw},
                   {"bce_weight": 0.0}, {"dice_weight": 0.0}, {"bce_weight": 0.5, "dice_weight": 2.0, "smooth": 0.0,
                                                              "label_smoothing": 0.2, "pos_weight": pw}):
            loss_compare(f"bce_dice {opts_text(kw)}", S.bce_dice, ref_bce_dice, device, dtype, x, t, red, kw, None,
                         up)
            loss_compare(f"bce_dice mask {opts_text(kw)}", S.bce_dice, ref_bce_dice, device, dtype, x, t, red, kw, m,
                         up)
    x, t, m = loss_inputs_for((3, 50), 5, dtype, soft=True, mask=True)
    loss_compare("bce_dice soft-targets", S.bce_dice, ref_bce_dice, device, dtype, x, t, "mean", {"smooth": 0.5})
    x, tb, m = loss_inputs_for((3, 50), 6, dtype, byte_targets=True, mask=True)
    loss_compare("bce_dice u8-targets mask", S.bce_dice, ref_bce_dice, device, dtype, x, tb, "mean", {}, m)
    for shp in ((1, 1), (0, 5), (3, 0), (7,)):
        x, t, m = loss_inputs_for(shp, 9, dtype, soft=False)
        loss_compare("bce_dice", S.bce_dice, ref_bce_dice, device, dtype, x, t, "mean", {})


def all_ignored_cases(device):
    """Every element ignored: MEAN is 0/0 = NaN, SUM is 0, every gradient 0."""
    x = torch.tensor([[float("nan"), float("inf")], [-float("inf"), 3.0]], device=device, requires_grad=True)
    t = torch.tensor([[1.0, 0.0], [1.0, float("nan")]], device=device)
    none = torch.zeros(2, 2, dtype=torch.bool, device=device)
    fns = [("bce_with_logits", lambda r: S.bce_with_logits(x, t, reduction=r, mask=none)),
           ("sigmoid_focal", lambda r: S.sigmoid_focal(x, t, reduction=r, mask=none)),
           ("asymmetric", lambda r: S.asymmetric(x, t, reduction=r, mask=none)),
           ("bce_dice", lambda r: S.bce_dice(x, t, reduction=r, mask=none))]
    for name, f in fns:
        for red in ("mean", "sum"):
            loss = f(red)
            (dx,) = torch.autograd.grad(loss, x)
            # bce_dice with smooth 1: each image's D is 1, its Dice term 0, so the same.
            want = float("nan") if red == "mean" else 0.0
            got = loss.item()
            ok = (math.isnan(got) if math.isnan(want) else got == want) and torch.equal(dx.cpu(), torch.zeros(2, 2))
            report(f"{name} {device} f32 all ignored {red}", ok, f"loss {got}, grad {dx.cpu().tolist()}")
    # Ignored NaN / inf next to kept values: the kept values alone decide.
    mask = torch.tensor([[False, False], [False, True]], device=device)
    t = torch.tensor([[float("nan"), 0.0], [1.0, 0.25]], device=device)
    for name, f, ref in (("asymmetric", S.asymmetric, ref_asymmetric), ("sigmoid_focal", S.sigmoid_focal, ref_focal),
                         ("bce_with_logits", S.bce_with_logits, ref_bce), ("bce_dice", S.bce_dice, ref_bce_dice)):
        loss = f(x, t, mask=mask)
        (dx,) = torch.autograd.grad(loss, x)
        x64 = x.detach().cpu().double().requires_grad_()
        want = ref(x64, t.cpu().double(), mask=mask.cpu())
        (want_dx,) = torch.autograd.grad(want, x64)
        ok = max_err(loss.detach(), want.detach(), torch.float32) <= TOL[torch.float32] and \
            max_err(dx, want_dx, torch.float32) <= TOL[torch.float32]
        report(f"{name} {device} f32 NaN / inf in ignored elements", ok,
               f"loss {loss.item():.6g} (want {want.item():.6g}), grad {dx.cpu().flatten().tolist()}")


SATURATED = [-float("inf"), -1e4, -100.0, -30.0, -17.0, -1e-3, 0.0, 1e-3, 17.0, 30.0, 100.0, 1e4, float("inf")]


def saturated_cases(device):
    """Saturated and infinite logits with hard and soft targets: the elements where the
    float64 composition in PyTorch is finite (loss and gradient), compared one by one."""
    xs = torch.tensor(SATURATED, dtype=torch.float64)
    x = torch.cat([xs, xs, xs[1:-1]])
    t = torch.cat([torch.zeros(len(xs)), torch.ones(len(xs)), torch.full((len(xs) - 2,), 0.5)]).double()
    cases = [("sigmoid_focal", S.sigmoid_focal, ref_focal, {"alpha": 0.25, "gamma": 2.0}),
             ("sigmoid_focal", S.sigmoid_focal, ref_focal, {"alpha": -1.0, "gamma": 0.5}),
             ("sigmoid_focal", S.sigmoid_focal, ref_focal, {"alpha": 0.25, "gamma": 5.0})]
    for gp, gn, margin in ((0.0, 4.0, 0.05), (0.0, 4.0, 0.0), (1.0, 4.0, 0.2), (2.0, 2.0, 0.0), (0.0, 0.0, 0.0),
                           (0.5, 1.5, 0.0), (1.5, 3.5, 1.0)):
        cases.append(("asymmetric", S.asymmetric, ref_asymmetric,
                      {"gamma_pos": gp, "gamma_neg": gn, "margin": margin}))
    for name, fn, ref, kw in cases:
        x64 = x.clone().requires_grad_()
        le = ref(x64, t, reduction="none", **{k: as_f32(v) for k, v in kw.items()})
        (g,) = torch.autograd.grad(le.sum(), x64)
        keep = torch.isfinite(le.detach()) & torch.isfinite(g)
        xi = x[keep].float().to(device).requires_grad_()
        loss = fn(xi, t[keep].float().to(device), reduction="none", **kw)
        (dx,) = torch.autograd.grad(loss.sum(), xi)
        err = max(max_err(loss.detach(), le.detach()[keep], torch.float32), max_err(dx, g[keep], torch.float32))
        report(f"{name} {device} f32 saturated logits {opts_text(kw)} ({int(keep.sum())} of {len(x)} elements)",
               err <= TOL[torch.float32], f"max err {err:.2e}")
    # BCE + Dice: one image of those logits.
    for kw in ({}, {"smooth": 0.0}, {"label_smoothing": 0.1}):
        x64 = x.clone().reshape(1, -1).requires_grad_()
        keep = torch.isfinite(x)
        want = ref_bce_dice(x64, t.reshape(1, -1), mask=keep.reshape(1, -1), **{k: as_f32(v) for k, v in kw.items()})
        (g,) = torch.autograd.grad(want, x64)
        xi = x.float().reshape(1, -1).to(device).requires_grad_()
        loss = S.bce_dice(xi, t.float().reshape(1, -1).to(device), mask=keep.reshape(1, -1).to(device), **kw)
        (dx,) = torch.autograd.grad(loss, xi)
        err = max(max_err(loss.detach(), want.detach(), torch.float32), max_err(dx, g, torch.float32))
        report(f"bce_dice {device} f32 saturated logits, infinite ones ignored {opts_text(kw)}",
               err <= TOL[torch.float32], f"max err {err:.2e}")


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
    t = torch.rand(3, 4, device=device)
    error_case(f"{device} mask shape", lambda: S.asymmetric(x, t, mask=torch.ones(3, 5, dtype=torch.bool, device=device)),
               "mask has shape")
    error_case(f"{device} float mask", lambda: S.sigmoid_focal(x, t, mask=torch.ones(3, 4, device=device)),
               "mask must be bool or uint8")
    error_case(f"{device} bce_dice reduction none", lambda: S.bce_dice(x, t, reduction="none"), "'mean' or 'sum'")
    error_case(f"{device} bce_dice u8 targets with label_smoothing",
               lambda: S.bce_dice(x, t > 0.5, label_smoothing=0.1), "label_smoothing")
    error_case(f"{device} asymmetric negative gamma", lambda: S.asymmetric(x, t, gamma_neg=-1.0), "gamma_neg")
    error_case(f"{device} bce_dice pos_weight size",
               lambda: S.bce_dice(x, t, pos_weight=torch.rand(3, device=device)), "pos_weight has 3 elements")
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
    m = torch.rand(6, 5, generator=g) > 0.3
    tb = (t > 0.5).double()
    for red in ("none", "mean", "sum"):
        ok = torch.autograd.gradcheck(lambda z: S.sigmoid_focal(z, t, reduction=red, mask=m), (x,))
        report(f"gradcheck sigmoid_focal cpu f64 [6, 5] {red} mask", ok)
        for margin in (0.05, 0.0):
            ok = torch.autograd.gradcheck(lambda z: S.asymmetric(z, t, gamma_pos=1.0, margin=margin, reduction=red,
                                                                 mask=m), (x,))
            report(f"gradcheck asymmetric cpu f64 [6, 5] {red} margin={margin} mask", ok)
    for red in ("mean", "sum"):
        ok = torch.autograd.gradcheck(lambda z: S.bce_dice(z, tb, pos_weight=pw, label_smoothing=0.1, reduction=red,
                                                           mask=m), (x,))
        report(f"gradcheck bce_dice cpu f64 [6, 5] {red} pos_weight label_smoothing mask", ok)


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
            new_loss_cases(device, dtype)
        if device == "cuda":
            side = torch.cuda.Stream()
            bce_case(device, torch.float32, (513, 1000), "mean", weight=True, pos_weight=True, stream=side)
            bce_case(device, torch.bfloat16, (513, 1000), "none", stream=side)
        limits_case(device)
        all_ignored_cases(device)
        saturated_cases(device)
        errors(device)
    gradchecks()

    print(f"{results['passed']} passed, {results['failed']} failed")
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
