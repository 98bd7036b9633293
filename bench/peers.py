#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""
sigfuse's benchmark cases timed with PyTorch: eager, torch.compile, and where PyTorch has
one, its own fused kernel for the op ("alt"), at the sizes and dtypes of sigfuse-bench's
CUDA defaults (bench/bench_cuda.c, bench/cases.c), beside sigfuse's times read from a
sigfuse-bench CSV. Runs on the GPU machine (torch with CUDA, Triton); `--device cpu
--quick` is a smoke test on tiny sizes.

    python3 bench/peers.py --sigfuse sigfuse.csv --csv peers.csv --json peers.json

Method, as sigfuse-bench's:
  * inputs drawn uniformly in the ranges cases.c draws them from (logits in [-8, 8],
    gates in [-4, 4], gradients in [-1, 1], hard 0/1 targets, ...), stored in the dtype;
  * each implementation is first checked on one set of inputs: every output finite and
    within a per-dtype tolerance of a float64 reference computed from the same (rounded)
    inputs (closed forms, independent of the torch ops timed, for the activations, BCE and
    the head; the cells' and focal loss's reference is their formula evaluated in float64).
    An implementation that fails its check is not timed;
  * after 3 warm-up calls, R timed calls (20 on CUDA by default), each between two
    torch.cuda.Event records; the median is reported. Calls rotate over copies of the
    inputs so that the copies together are at least twice the L2 cache (at most 64), as
    sigfuse-bench's do; outputs are allocated by PyTorch's caching allocator as in use;
  * peak memory (CUDA): the bytes of one set of inputs plus the most
    torch.cuda.max_memory_allocated rises, after torch.cuda.reset_peak_memory_stats, during
    one call on it (outputs and temporaries: for the head's Linear + BCE, the N x L logits,
    their gradient and BCE's temporaries). sigfuse's figure beside it is its buffers (the
    CSV's byte count, which for the head is exactly its inputs and outputs) plus the
    workspace its head was given (the CSV's workspace_bytes, from the size query). Neither
    counts the cuBLAS workspace of a handle (PyTorch's is allocated at the first product,
    before the measured call; sigfuse's is the context's, 32 MiB). "least unfused" is the
    same buffers plus the CSV's unfused_bytes: the N x L logits and their N x L gradient in
    the dtype, which any unfused Linear + BCE holds at once.

Implementations (see LEGEND below for each op):
  eager    the PyTorch ops a user writes (F.*, torch.sigmoid, the cell math in torch ops),
           or for the activations' backward the aten op autograd itself runs;
  compile  torch.compile(that same function, mode=--compile-mode (default "default"; not
           max-autotune unless asked), dynamic=False, fullgraph=True when it can). For the
           fused losses and the head's train step, the forward is compiled and the
           gradient taken with torch.autograd.grad, so AOTAutograd compiles the backward,
           as in a compiled training step;
  alt      another PyTorch form of the op where there is one: for GLU, a * sigmoid(b) and
           autograd's ops for it on a and b (eager and compile use F.glu and its backward
           aten.glu_backward on one [2, n] tensor holding a and b), and the fused cell kernels
           that nn.LSTMCell / nn.GRUCell (torch._VF.lstm_cell / gru_cell) use on CUDA after
           their GEMMs: aten._thnn_fused_lstm_cell / _thnn_fused_gru_cell and their
           backwards (which read the workspace saved by the fused forward instead of
           recomputing from the gates). torch._VF.lstm_cell / gru_cell themselves take x,
           h and the weights and include the two GEMMs, so they are not timed: sigfuse's
           cell ops take the gate pre-activations.

The peers, and where each is: F.binary_cross_entropy_with_logits forward + backward
without (bce_with_logits, bce_with_logits/u8) and with weight and pos_weight (bce_with_logits/weighted), and
forward only (bce_with_logits/loss); torchvision's sigmoid_focal_loss (sigmoid_focal); torch.sigmoid,
F.logsigmoid, F.silu (forward, and the aten backward autograd runs); F.glu; SwiGLU
(a * F.silu(b)); the LSTM / GRU cells (eager and compiled cell math, and the fused kernels
torch._VF.lstm_cell / gru_cell run after their GEMMs as alt); Linear + BCE for the head
(head_train_step) and Linear + sigmoid (head_predict), with time and peak memory. For the head,
sigfuse's CSV also gives its time over its cuBLAS products alone (vs_gemms).

Ratios are PyTorch time / sigfuse time: above 1 means sigfuse is faster.
"""
import argparse
import csv
import datetime
import gc
import json
import math
import os
import platform
import statistics
import sys
import time
import traceback

import torch
import torch.nn.functional as F

# ---- Sizes (bench/bench_cuda.c, bench/bench_main.c's quick_sizes) ----------------------------

CUDA_SIZES = {
    "elementwise": [1 << 20, 1 << 26],
    "cell": [(4096, 4096)],                              # (B, H)
    "head": [(8192, 2048, 4096), (2048, 1024, 1024)],    # (N, D, L)
}
QUICK_SIZES = {"elementwise": [3003], "cell": [(5, 37)], "head": [(13, 40, 24)]}

DTYPES = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}
ESIZE = {"f32": 4, "f16": 2, "bf16": 2}
# Check tolerance, relative to the larger of |ref| and the tensor's largest |ref| (the
# same idea as sigfuse-bench's); plus an absolute floor for f16's subnormal grid, where
# MEAN gradients of 2^26 logits land (below 2^-24, they round to 0 or one subnormal step).
TOL = {"f32": 1e-4, "f16": 1e-2, "bf16": 5e-2}
FLOOR = {"f32": 0.0, "f16": 2.0 ** -24, "bf16": 0.0}

LOGIT, GATE, GRAD = (-8.0, 8.0), (-4.0, 4.0), (-1.0, 1.0)


def is_pow2(n):
    return n > 0 and n & (n - 1) == 0


def loss_cols(total):
    """Labels as columns: the largest divisor of total up to 1024 (bench/bench_data.c)."""
    cols = min(total, 1024)
    while total % cols:
        cols -= 1
    return cols


def shapes(family, sizes):
    """(label, rows, cols, d) as sigfuse-bench names and shapes them."""
    out = []
    if family in ("elementwise", "loss"):
        for total in sizes["elementwise"]:
            if family == "loss":
                cols = loss_cols(total)
                out.append(("%dx%d" % (total // cols, cols), total // cols, cols, 0))
            else:
                label = "n=2^%d" % (total.bit_length() - 1) if is_pow2(total) else "n=%d" % total
                out.append((label, total, 1, 0))
    elif family == "cell":
        for b, h in sizes["cell"]:
            out.append(("B=%d,H=%d" % (b, h), b, h, 0))
    else:
        for n, d, l in sizes["head"]:
            out.append(("N=%d,D=%d,L=%d" % (n, d, l), n, l, d))
    return out


# ---- Inputs --------------------------------------------------------------------------------------


class Maker:
    """Inputs drawn from a seeded generator on the device, in the case's ranges."""

    def __init__(self, device, dtype, seed):
        self.device, self.dtype = device, dtype
        self.gen = torch.Generator(device=device)
        self.gen.manual_seed(seed)

    def uniform(self, shape, lo, hi):
        t = torch.rand(shape, generator=self.gen, device=self.device, dtype=torch.float32)
        return (t * (hi - lo) + lo).to(self.dtype)

    def binary(self, shape, u8=False):
        t = torch.rand(shape, generator=self.gen, device=self.device, dtype=torch.float32) < 0.5
        return t.to(torch.uint8 if u8 else self.dtype)


# ---- float64 references ----------------------------------------------------------------------------


def r_sig(x):
    return 1.0 / (1.0 + torch.exp(-x))


def r_softplus(x):
    return torch.clamp(x, min=0) + torch.log1p(torch.exp(-torch.abs(x)))


def r_bce(x, t, w=None, pw=None):
    """Mean BCE-with-logits and its gradient, closed form in float64."""
    c = 1.0 + (pw - 1.0) * t if pw is not None else torch.ones_like(x)
    l = (1.0 - t) * x + c * r_softplus(-x)
    g = (1.0 - t) - c * r_sig(-x)
    if w is not None:
        l, g = l * w, g * w
    n = x.numel()
    return l.sum() / n, g / n


# ---- The cell math, in torch ops (eager implementation, and float64 reference) ----------------------


def lstm_forward_math(gx, gh, bias, c_prev):
    g = gx + gh + bias
    i, f, gg, o = g.chunk(4, 1)
    c = torch.sigmoid(f) * c_prev + torch.sigmoid(i) * torch.tanh(gg)
    h = torch.sigmoid(o) * torch.tanh(c)
    return h, c


def lstm_backward_math(gx, gh, bias, c_prev, dh, dc):
    g = gx + gh + bias
    i, f, gg, o = g.chunk(4, 1)
    i, f, gg, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(gg), torch.sigmoid(o)
    c = f * c_prev + i * gg
    tc = torch.tanh(c)
    dcc = dc + dh * o * (1 - tc * tc)
    d_o = dh * tc * o * (1 - o)
    d_i = dcc * gg * i * (1 - i)
    d_f = dcc * c_prev * f * (1 - f)
    d_g = dcc * i * (1 - gg * gg)
    dgates = torch.cat([d_i, d_f, d_g, d_o], 1)
    return dgates, dcc * f, dgates.sum(0)


def gru_forward_math(gx, gh, bx, bh, h_prev):
    ir, iz, i_n = (gx + bx).chunk(3, 1)
    hr, hz, h_n = (gh + bh).chunk(3, 1)
    r = torch.sigmoid(ir + hr)
    z = torch.sigmoid(iz + hz)
    n = torch.tanh(i_n + r * h_n)
    return (n + z * (h_prev - n),)   # = (1 - z) n + z h_prev, as PyTorch writes it


def gru_backward_math(gx, gh, bx, bh, h_prev, dh):
    ir, iz, i_n = (gx + bx).chunk(3, 1)
    hr, hz, h_n = (gh + bh).chunk(3, 1)
    r = torch.sigmoid(ir + hr)
    z = torch.sigmoid(iz + hz)
    n = torch.tanh(i_n + r * h_n)
    d_n = dh * (1 - z) * (1 - n * n)
    d_z = dh * (h_prev - n) * z * (1 - z)
    d_r = d_n * h_n * r * (1 - r)
    dgx = torch.cat([d_r, d_z, d_n], 1)
    dgh = torch.cat([d_r, d_z, d_n * r], 1)
    return dgx, dgh, dh * z, dgx.sum(0), dgh.sum(0)


def focal_math(x, t, alpha=0.25, gamma=2.0):
    """torchvision.ops.sigmoid_focal_loss (reduction "mean"), line for line."""
    p = torch.sigmoid(x)
    ce_loss = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    p_t = p * t + (1 - p) * (1 - t)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        alpha_t = alpha * t + (1 - alpha) * (1 - t)
        loss = alpha_t * loss
    return loss.mean()


try:   # torchvision's own, when it is installed
    from torchvision.ops import sigmoid_focal_loss as _tv_focal

    def focal_loss(x, t):
        return _tv_focal(x, t, alpha=0.25, gamma=2.0, reduction="mean")

    FOCAL_SOURCE = "torchvision.ops.sigmoid_focal_loss"
except Exception:   # noqa: BLE001 (no torchvision, or one built for another torch)
    focal_loss = focal_math
    FOCAL_SOURCE = "torchvision's sigmoid_focal_loss formula, inlined (torchvision not importable)"


def _ls_buffer(x):
    # aten.log_sigmoid_backward's buffer: unused on CUDA (empty), needed on the CPU.
    return x.new_empty(0) if x.is_cuda else torch.ops.aten.log_sigmoid_forward(x)[1]


# ---- The cases ------------------------------------------------------------------------------------
#
# Each case: family; inputs (name, maker); kind "plain" (fn returns the outputs) or
# "grad" (fn returns the loss, the gradients wrt `wrt` are taken with autograd); eager fn;
# optional alt (name, prep, fn); a float64 reference; sigfuse-bench's byte formula.


def elementwise_inputs(*spec):
    return lambda m, rows, cols, d: {k: m.uniform((rows,), *r) for k, r in spec}


def cell_inputs(k, spec):
    def make(m, rows, cols, d):
        out = {}
        for name, width, rng, fixed in spec:
            shape = (width * cols,) if fixed else (rows, width * cols)
            out[name] = m.uniform(shape, *rng)
        return out
    return make


def loss_inputs(weighted=False, u8=False):
    def make(m, rows, cols, d):
        out = {"logits": m.uniform((rows, cols), *LOGIT)}
        if weighted:
            out["targets"] = m.uniform((rows, cols), 0.0, 1.0)
            out["weight"] = m.uniform((rows, cols), 0.5, 2.0)
            out["pos_weight"] = m.uniform((cols,), 0.5, 4.0)
        else:
            out["targets"] = m.binary((rows, cols), u8=u8)
        return out
    return make


def head_inputs(train):
    def make(m, rows, cols, d):
        w = 2.0 / math.sqrt(d)
        out = {"x": m.uniform((rows, d), -1.0, 1.0), "w": m.uniform((cols, d), -w, w),
               "bias": m.uniform((cols,), -1.0, 1.0)}
        if train:
            out["targets"] = m.binary((rows, cols))
        return out
    return make


def lstm_alt_fwd_prep(inp):
    return {"zeros": torch.zeros_like(inp["bias"])}


def lstm_alt_fwd(inp, extra):
    hy, cy, _ = torch.ops.aten._thnn_fused_lstm_cell(inp["gates_x"], inp["gates_h"], inp["c_prev"],
                                                     inp["bias"], extra["zeros"])
    return hy, cy


def lstm_alt_bwd_prep(inp):
    z = torch.zeros_like(inp["bias"])
    _, cy, ws = torch.ops.aten._thnn_fused_lstm_cell(inp["gates_x"], inp["gates_h"], inp["c_prev"], inp["bias"], z)
    return {"cy": cy, "ws": ws}


def lstm_alt_bwd(inp, extra):
    return torch.ops.aten._thnn_fused_lstm_cell_backward_impl(inp["dh"], inp["dc"], inp["c_prev"], extra["cy"],
                                                              extra["ws"], True)


def gru_alt_fwd(inp, extra):
    hy, _ = torch.ops.aten._thnn_fused_gru_cell(inp["gates_x"], inp["gates_h"], inp["h_prev"], inp["bias_x"],
                                                inp["bias_h"])
    return (hy,)


def gru_alt_bwd_prep(inp):
    _, ws = torch.ops.aten._thnn_fused_gru_cell(inp["gates_x"], inp["gates_h"], inp["h_prev"], inp["bias_x"],
                                                inp["bias_h"])
    return {"ws": ws}


def gru_alt_bwd(inp, extra):
    return torch.ops.aten._thnn_fused_gru_cell_backward(inp["dh"], extra["ws"], True)


def glu_inputs(with_dy):
    """GLU's a (gates' range) and b (logits' range) as one [2, n] tensor, the form F.glu
    splits (sigfuse reads a and b as two buffers of n: the same bytes)."""
    def make(m, rows, cols, d):
        out = {"ab": torch.stack([m.uniform((rows,), *GATE), m.uniform((rows,), *LOGIT)])}
        if with_dy:
            out["dy"] = m.uniform((rows,), *GRAD)
        return out
    return make


def glu_bwd_split(dy, a, b):
    """Autograd's ops for a * sigmoid(b): da = dy * s, db = sigmoid_backward(dy * a, s)."""
    s = torch.sigmoid(b)
    return dy * s, torch.ops.aten.sigmoid_backward(dy * a, s)


def head_ref_train(x, w, bias, targets):
    z = x @ w.t() + bias
    loss, g = r_bce(z, targets)
    return loss, g @ w, g.t() @ x, g.sum(0)


LSTM_FWD_IN = [("gates_x", 4, GATE, False), ("gates_h", 4, GATE, False), ("bias", 4, (-1.0, 1.0), True),
               ("c_prev", 1, (-2.0, 2.0), False)]
LSTM_BWD_IN = LSTM_FWD_IN + [("dh", 1, GRAD, False), ("dc", 1, GRAD, False)]
GRU_FWD_IN = [("gates_x", 3, GATE, False), ("gates_h", 3, GATE, False), ("bias_x", 3, (-1.0, 1.0), True),
              ("bias_h", 3, (-1.0, 1.0), True), ("h_prev", 1, (-1.0, 1.0), False)]
GRU_BWD_IN = GRU_FWD_IN + [("dh", 1, GRAD, False)]

CASES = [
    dict(name="sigmoid_forward", family="elementwise", make=elementwise_inputs(("x", LOGIT)), kind="plain",
         fn=lambda x: (torch.sigmoid(x),), eager="torch.sigmoid(x)",
         ref=lambda x: (r_sig(x),), bytes=lambda n, c, d, s: 2 * n * s),
    dict(name="sigmoid_backward", family="elementwise",
         make=elementwise_inputs(("y", (0.0003, 0.9997)), ("dy", GRAD)), kind="plain",
         fn=lambda y, dy: (torch.ops.aten.sigmoid_backward(dy, y),), eager="aten.sigmoid_backward(dy, y) (what autograd runs)",
         ref=lambda y, dy: (dy * y * (1 - y),), bytes=lambda n, c, d, s: 3 * n * s),
    dict(name="log_sigmoid_forward", family="elementwise", make=elementwise_inputs(("x", LOGIT)), kind="plain",
         fn=lambda x: (F.logsigmoid(x),), eager="F.logsigmoid(x)",
         ref=lambda x: (-r_softplus(-x),), bytes=lambda n, c, d, s: 2 * n * s),
    dict(name="log_sigmoid_backward", family="elementwise", make=elementwise_inputs(("x", LOGIT), ("dy", GRAD)),
         kind="plain", fn=lambda x, dy: (torch.ops.aten.log_sigmoid_backward(dy, x, _ls_buffer(x)),),
         eager="aten.log_sigmoid_backward(dy, x, buffer) (what autograd runs; buffer empty on CUDA)",
         ref=lambda x, dy: (dy * r_sig(-x),), bytes=lambda n, c, d, s: 3 * n * s),
    dict(name="silu_forward", family="elementwise", make=elementwise_inputs(("x", LOGIT)), kind="plain",
         fn=lambda x: (F.silu(x),), eager="F.silu(x)",
         ref=lambda x: (x * r_sig(x),), bytes=lambda n, c, d, s: 2 * n * s),
    dict(name="silu_backward", family="elementwise", make=elementwise_inputs(("x", LOGIT), ("dy", GRAD)), kind="plain",
         fn=lambda x, dy: (torch.ops.aten.silu_backward(dy, x),), eager="aten.silu_backward(dy, x) (what autograd runs)",
         ref=lambda x, dy: (dy * (r_sig(x) + x * r_sig(x) * r_sig(-x)),), bytes=lambda n, c, d, s: 3 * n * s),
    dict(name="glu_forward", family="elementwise", make=glu_inputs(False), kind="plain",
         fn=lambda ab: (F.glu(ab, dim=0).view(-1),), eager="F.glu(ab, dim=0), ab = [a; b] as one [2, n] tensor",
         alt=("a * torch.sigmoid(b) on a = ab[0], b = ab[1]", None,
              lambda inp, e: (inp["ab"][0] * torch.sigmoid(inp["ab"][1]),)),
         ref=lambda ab: (ab[0] * r_sig(ab[1]),), bytes=lambda n, c, d, s: 3 * n * s),
    dict(name="glu_backward", family="elementwise", make=glu_inputs(True), kind="plain",
         fn=lambda ab, dy: tuple(torch.ops.aten.glu_backward(dy.view(1, -1), ab, 0).unbind(0)),
         eager="aten.glu_backward(dy, ab, 0) on ab = [a; b], [2, n] (what autograd runs for F.glu)",
         alt=("s = sigmoid(b); da = dy*s; db = aten.sigmoid_backward(dy*a, s) (autograd's ops for a*sigmoid(b))",
              None, lambda inp, e: glu_bwd_split(inp["dy"], inp["ab"][0], inp["ab"][1])),
         ref=lambda ab, dy: (dy * r_sig(ab[1]), dy * ab[0] * r_sig(ab[1]) * r_sig(-ab[1])),
         bytes=lambda n, c, d, s: 5 * n * s),
    dict(name="swiglu_forward", family="elementwise", make=elementwise_inputs(("a", GATE), ("b", LOGIT)), kind="plain",
         fn=lambda a, b: (a * F.silu(b),), eager="a * F.silu(b)",
         ref=lambda a, b: (a * b * r_sig(b),), bytes=lambda n, c, d, s: 3 * n * s),
    dict(name="swiglu_backward", family="elementwise",
         make=elementwise_inputs(("a", GATE), ("b", LOGIT), ("dy", GRAD)), kind="plain",
         fn=lambda a, b, dy: (dy * F.silu(b), torch.ops.aten.silu_backward(dy * a, b)),
         eager="da = dy*F.silu(b); db = aten.silu_backward(dy*a, b) (autograd's ops for a*silu(b))",
         ref=lambda a, b, dy: (dy * b * r_sig(b), dy * a * (r_sig(b) + b * r_sig(b) * r_sig(-b))),
         bytes=lambda n, c, d, s: 5 * n * s),
    dict(name="lstm_cell_forward", family="cell", make=cell_inputs(4, LSTM_FWD_IN), kind="plain",
         fn=lstm_forward_math, eager="the cell math in torch ops (add, chunk, sigmoid, tanh, mul)",
         alt=("aten._thnn_fused_lstm_cell (nn.LSTMCell's CUDA kernel; also writes a [B,4H] workspace)",
              lstm_alt_fwd_prep, lstm_alt_fwd),
         ref=lstm_forward_math, bytes=lambda b, h, d, s: (11 * b * h + 4 * h) * s),
    dict(name="lstm_cell_backward", family="cell", make=cell_inputs(4, LSTM_BWD_IN), kind="plain",
         fn=lstm_backward_math, eager="closed-form cell backward in torch ops (recomputes the gates, as sigfuse)",
         alt=("aten._thnn_fused_lstm_cell_backward_impl (reads the forward's saved workspace and cy)",
              lstm_alt_bwd_prep, lstm_alt_bwd),
         ref=lstm_backward_math, bytes=lambda b, h, d, s: (16 * b * h + 8 * h) * s),
    dict(name="gru_cell_forward", family="cell", make=cell_inputs(3, GRU_FWD_IN), kind="plain",
         fn=gru_forward_math, eager="the cell math in torch ops",
         alt=("aten._thnn_fused_gru_cell (nn.GRUCell's CUDA kernel; also writes a [B,5H] workspace)", None,
              gru_alt_fwd),
         ref=gru_forward_math, bytes=lambda b, h, d, s: (8 * b * h + 6 * h) * s),
    dict(name="gru_cell_backward", family="cell", make=cell_inputs(3, GRU_BWD_IN), kind="plain",
         fn=gru_backward_math, eager="closed-form cell backward in torch ops (recomputes the gates, as sigfuse)",
         alt=("aten._thnn_fused_gru_cell_backward (reads the forward's saved workspace)", gru_alt_bwd_prep,
              gru_alt_bwd),
         ref=gru_backward_math, bytes=lambda b, h, d, s: (15 * b * h + 12 * h) * s),
    dict(name="bce_with_logits/loss", family="loss", make=loss_inputs(), kind="plain",
         fn=lambda logits, targets: (F.binary_cross_entropy_with_logits(logits, targets),),
         eager="F.binary_cross_entropy_with_logits(x, t) (mean), no grad",
         ref=lambda logits, targets: (r_bce(logits, targets)[0],), bytes=lambda r, c, d, s: 2 * r * c * s + 4),
    dict(name="bce_with_logits", family="loss", make=loss_inputs(), kind="grad", wrt=("logits",),
         fn=lambda logits, targets: F.binary_cross_entropy_with_logits(logits, targets),
         eager="loss = F.binary_cross_entropy_with_logits(x, t); autograd.grad(loss, x)",
         ref=lambda logits, targets: r_bce(logits, targets), bytes=lambda r, c, d, s: 3 * r * c * s + 4),
    dict(name="bce_with_logits/u8", family="loss", make=loss_inputs(u8=True), kind="grad", wrt=("logits",),
         fn=lambda logits, targets: F.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype)),
         eager="as bce_with_logits with t.to(x.dtype) from u8 targets (BCE needs float targets)",
         ref=lambda logits, targets: r_bce(logits, targets), bytes=lambda r, c, d, s: (2 * s + 1) * r * c + 4),
    dict(name="bce_with_logits/weighted", family="loss", make=loss_inputs(weighted=True), kind="grad", wrt=("logits",),
         fn=lambda logits, targets, weight, pos_weight: F.binary_cross_entropy_with_logits(
             logits, targets, weight=weight, pos_weight=pos_weight),
         eager="F.binary_cross_entropy_with_logits(x, t, weight=w, pos_weight=pw) (soft t); autograd.grad wrt x",
         ref=lambda logits, targets, weight, pos_weight: r_bce(logits, targets, weight, pos_weight),
         bytes=lambda r, c, d, s: 4 * r * c * s + c * s + 4),
    dict(name="sigmoid_focal", family="loss", make=loss_inputs(), kind="grad", wrt=("logits",),
         fn=lambda logits, targets: focal_loss(logits, targets),
         eager="sigmoid_focal_loss(x, t, alpha=0.25, gamma=2, mean) [%s]; autograd.grad wrt x" % FOCAL_SOURCE,
         ref="autograd", ref_fn=focal_math, bytes=lambda r, c, d, s: 3 * r * c * s + 4),
    dict(name="head_predict", family="head", make=head_inputs(False), kind="plain",
         fn=lambda x, w, bias: (torch.sigmoid(F.linear(x, w, bias)),), eager="torch.sigmoid(F.linear(x, W, b))",
         ref=lambda x, w, bias: (r_sig(x @ w.t() + bias),),
         bytes=lambda n, l, d, s: (n * d + l * d + l + n * l) * s),
    dict(name="head_train_step", family="head", make=head_inputs(True), kind="grad", wrt=("x", "w", "bias"),
         fn=lambda x, w, bias, targets: F.binary_cross_entropy_with_logits(F.linear(x, w, bias), targets),
         eager="loss = F.binary_cross_entropy_with_logits(F.linear(x, W, b), t); autograd.grad wrt x, W, b",
         ref=head_ref_train, bytes=lambda n, l, d, s: (2 * n * d + 2 * l * d + 2 * l + n * l) * s + 4),
]
CASE_NAMES = [c["name"] for c in CASES]

# ---- Running one implementation -----------------------------------------------------------------------


class Skip(Exception):
    pass


def short_error(e, limit=200):
    lines = [ln for ln in str(e).strip().splitlines() if ln.strip()]
    msg = "%s: %s" % (type(e).__name__, lines[0]) if lines else type(e).__name__
    return msg if len(msg) <= limit else msg[:limit - 3] + "..."


def make_call(case, fn, names, alt=False):
    """A function of one input set (dict, with '_extra' for alt) returning a tuple of outputs."""
    if alt:
        return lambda inp: fn(inp, inp["_extra"])
    if case["kind"] == "plain":
        def call(inp):
            with torch.no_grad():
                return fn(*[inp[k] for k in names])
        return call
    wrt = case["wrt"]

    def call(inp):
        loss = fn(*[inp[k] for k in names])
        grads = torch.autograd.grad(loss, [inp[k] for k in wrt])
        return (loss.detach(),) + tuple(grads)
    return call


def reference(case, inp):
    names = [k for k in inp if not k.startswith("_")]
    x64 = {k: inp[k].detach().to(torch.float64) for k in names}
    if case.get("ref") == "autograd":
        leaves = {k: (v.requires_grad_(True) if k in case["wrt"] else v) for k, v in x64.items()}
        loss = case["ref_fn"](*[leaves[k] for k in names])
        grads = torch.autograd.grad(loss, [leaves[k] for k in case["wrt"]])
        return (loss.detach(),) + tuple(g.detach() for g in grads)
    with torch.no_grad():
        return tuple(case["ref"](*[x64[k] for k in names]))


def check(outs, refs, dtype_name):
    """'' when every output is finite and near the reference; else what is wrong."""
    if len(outs) != len(refs):
        return "%d outputs, reference has %d" % (len(outs), len(refs))
    tol, floor = TOL[dtype_name], FLOOR[dtype_name]
    for k, (o, r) in enumerate(zip(outs, refs)):
        o = o.detach().reshape(-1).to(torch.float64)
        r = r.reshape(-1)
        if o.numel() != r.numel():
            return "output %d has %d elements, reference %d" % (k, o.numel(), r.numel())
        if not bool(torch.isfinite(o).all()):
            return "output %d has %d non-finite elements" % (k, int((~torch.isfinite(o)).sum()))
        scale = float(r.abs().max()) if r.numel() else 0.0
        err = (o - r).abs()
        bound = tol * (r.abs() + scale) + floor
        bad = err > bound
        if bool(bad.any()):
            i = int(torch.argmax((err - bound) / (bound + 1e-300)))
            return "output %d [%d] = %.6g, reference %.6g (%d of %d elements off)" % (
                k, i, float(o[i]), float(r[i]), int(bad.sum()), r.numel())
    return ""


def sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def time_call(call, sets, reps, warmup, device):
    for i in range(warmup):
        call(sets[i % len(sets)])
    sync(device)
    times = []
    if device == "cuda":
        ev = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(reps)]
        for i in range(reps):
            ev[i][0].record()
            call(sets[(warmup + i) % len(sets)])
            ev[i][1].record()
        torch.cuda.synchronize()
        times = [a.elapsed_time(b) * 1e-3 for a, b in ev]
    else:
        for i in range(reps):
            t0 = time.perf_counter()
            call(sets[(warmup + i) % len(sets)])
            times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times), max(times)


def peak_call(call, inp, device):
    """Bytes of the inputs plus the most the call allocates above what was allocated before
    it (outputs and temporaries): the memory one call needs."""
    if device != "cuda":
        return None
    sync(device)
    inputs = sum(t.numel() * t.element_size() for t in _tensors(inp))
    before = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    out = call(inp)
    sync(device)
    peak = torch.cuda.max_memory_allocated() - before + inputs
    del out
    return peak


def _tensors(inp):
    for k, v in inp.items():
        if isinstance(v, dict):
            yield from _tensors(v)
        elif isinstance(v, torch.Tensor):
            yield v


# ---- One case at one dtype and size --------------------------------------------------------------------


def copy_set(case, inp):
    out = {}
    for k, v in inp.items():
        if k == "_extra":
            continue
        v = v.detach().clone()
        if case["kind"] == "grad" and k in case["wrt"]:
            v.requires_grad_(True)
        out[k] = v
    return out


def run_row(case, dtype_name, label, rows, cols, d, args, l2_bytes, compiler):
    device = args.device
    dtype = DTYPES[dtype_name]
    s = ESIZE[dtype_name]
    nbytes = case["bytes"](rows, cols, d, s)
    row = dict(op=case["name"], dtype=dtype_name, size=label, rows=rows, cols=cols, d=d, bytes=nbytes)
    notes = []
    names = None

    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
    m = Maker(device, dtype, seed=0x5EEDF00D + CASE_NAMES.index(case["name"]))
    set0 = copy_set(case, case["make"](m, rows, cols, d))
    names = list(set0.keys())
    refs = reference(case, set0)

    want = math.ceil(2.0 * l2_bytes / nbytes) if l2_bytes else 1
    nsets = max(1, min(64, want))
    row["sets"] = nsets
    row["reps"] = args.reps

    impls = []
    if "eager" in args.impls:
        impls.append(("eager", lambda: make_call(case, case["fn"], names)))
    if "compile" in args.impls:
        impls.append(("compile", lambda: compiler(case, names)))
    if "alt" in args.impls and case.get("alt"):
        row["alt"] = case["alt"][0]
        impls.append(("alt", lambda: make_call(case, case["alt"][2], names, alt=True)))

    sets = [set0]
    for impl, build in impls:
        t0 = time.perf_counter()
        try:
            if impl == "alt":
                prep = case["alt"][1]
                set0["_extra"] = prep(set0) if prep else {}
            call = build()
            if call is None:
                raise Skip("not available")
            outs = call(set0)   # compiles, for compile
            sync(device)
            row[impl + "_first_s"] = round(time.perf_counter() - t0, 3)
            bad = check(outs, refs, dtype_name)
            del outs
            if bad:
                row[impl + "_check"] = bad
                notes.append("%s check FAILED (not timed): %s" % (impl, bad))
                continue
            row[impl + "_check"] = "ok"
            pk = peak_call(call, set0, device)
            if pk is not None:
                row[impl + "_peak_mib"] = round(pk / 2 ** 20, 1)
            if getattr(call, "fell_back", False):
                notes.append("compile: graph break, compiled without fullgraph")
            # The other input sets, made once (alt gets its own prepared extras per set).
            while len(sets) < nsets:
                try:
                    sets.append(copy_set(case, set0))
                except torch.cuda.OutOfMemoryError:
                    notes.append("out of memory at %d input sets" % len(sets))
                    nsets = row["sets"] = len(sets)
                    break
            if impl == "alt" and prep:
                for st in sets[1:]:
                    st["_extra"] = prep(st)
            elif impl == "alt":
                for st in sets[1:]:
                    st["_extra"] = {}
            med, lo, hi = time_call(call, sets, args.reps, args.warmup, device)
            row[impl + "_us"] = med * 1e6
            row[impl + "_min_us"] = lo * 1e6
            row[impl + "_max_us"] = hi * 1e6
            row[impl + "_gbps"] = nbytes / med * 1e-9
        except Skip as e:
            notes.append("%s: %s" % (impl, e))
        except NotImplementedError:   # e.g. the fused cell kernels have no CPU version
            notes.append("%s: not implemented on %s" % (impl, device))
            if args.verbose:
                traceback.print_exc()
        except Exception as e:   # noqa: BLE001 (report and go on: one row must not end the run)
            notes.append("%s failed: %s" % (impl, short_error(e)))
            row[impl + "_error"] = short_error(e)
            if args.verbose:
                traceback.print_exc()
        finally:
            for st in sets:
                st.pop("_extra", None)
            if device == "cuda":
                torch.cuda.empty_cache()
    row["note"] = "; ".join(notes)
    del sets, set0, refs
    return row


# ---- torch.compile -----------------------------------------------------------------------------------------


def make_compiler(args):
    import torch._dynamo
    cfg = torch._dynamo.config
    for key in ("cache_size_limit", "recompile_limit", "accumulated_cache_size_limit",
                "accumulated_recompile_limit"):
        if hasattr(cfg, key):
            setattr(cfg, key, 4096)

    def compiler(case, names):
        torch._dynamo.reset()   # a fresh cache per row: static shapes, no recompile limits
        opts = dict(mode=None if args.compile_mode == "default" else args.compile_mode, dynamic=False)
        return _FullgraphFallback(case, names, opts)
    return compiler


class _FullgraphFallback:
    """Calls torch.compile(fn, fullgraph=True); if dynamo cannot trace it whole (a graph
    break), compiles it again without fullgraph, once, and says so on stderr and in .fell_back."""

    def __init__(self, case, names, opts):
        self.case, self.names, self.opts = case, names, opts
        self.call = make_call(case, torch.compile(case["fn"], fullgraph=True, **opts), names)
        self.fell_back = False

    def __call__(self, inp):
        try:
            return self.call(inp)
        except Exception as e:   # noqa: BLE001
            if self.fell_back or not type(e).__module__.startswith("torch._dynamo"):
                raise
            import torch._dynamo
            torch._dynamo.reset()
            self.fell_back = True
            print("peers.py: %s: torch.compile(fullgraph=True) failed (%s: %s); compiling without fullgraph"
                  % (self.case["name"], type(e).__name__, str(e).splitlines()[0][:200] if str(e) else ""),
                  file=sys.stderr)
            self.call = make_call(self.case, torch.compile(self.case["fn"], **self.opts), self.names)
            return self.call(inp)


# ---- sigfuse's results -----------------------------------------------------------------------------------------


def read_sigfuse(path, backend):
    """{(op, dtype, size): row} from a sigfuse-bench CSV (rows with status ok)."""
    out = {}
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            if r.get("status") != "ok" or (backend and r.get("backend") != backend):
                continue
            out[(r["op"], r["dtype"], r["size"])] = r
    return out


def _csv_float(r, key):
    """A number from a sigfuse-bench CSV row; None when the column is empty or absent (a CSV
    written before the head's workspace columns existed)."""
    try:
        return float(r[key]) if r.get(key) not in (None, "") else None
    except ValueError:
        return None


def add_sigfuse_head(row, sr, gemms):
    """sigfuse's memory for a head row: its buffers (inputs + outputs: the CSV's bytes), the
    workspace its head was given, their sum (its peak, to set beside PyTorch's), and the
    least peak of an unfused head (the same buffers plus the N x L logits, and for the
    train step their gradient, held at once); and its time over its products alone
    (cuBLAS on cuda)."""
    mib = 2.0 ** 20
    buffers = float(sr["bytes"])
    row["sigfuse_buffers_mib"] = round(buffers / mib, 1)
    ws = _csv_float(sr, "workspace_bytes")
    if ws is not None:
        row["sigfuse_workspace_mib"] = round(ws / mib, 1)
        row["sigfuse_peak_mib"] = round((buffers + ws) / mib, 1)
        row["sigfuse_chunk_rows"] = sr.get("chunk_rows")
    unfused = _csv_float(sr, "unfused_bytes")
    if unfused is not None:   # the same buffers, plus the logits (and gradient) held at once
        row["unfused_min_peak_mib"] = round((buffers + unfused) / mib, 1)
    if _csv_float(sr, "vs_gemms") is not None:
        row["sigfuse_vs_gemms"] = _csv_float(sr, "vs_gemms")
    if gemms and _csv_float(gemms, "median_s") is not None:
        row["sigfuse_gemms_us"] = _csv_float(gemms, "median_s") * 1e6


# ---- Output ---------------------------------------------------------------------------------------------------------

CSV_COLUMNS = ["op", "dtype", "size", "rows", "cols", "d", "bytes", "sets", "reps",
               "sigfuse_us", "eager_us", "compile_us", "alt_us",
               "eager_per_sigfuse", "compile_per_sigfuse", "alt_per_sigfuse",
               "eager_gbps", "compile_gbps", "alt_gbps", "sigfuse_gbps",
               "eager_min_us", "eager_max_us", "compile_min_us", "compile_max_us", "alt_min_us", "alt_max_us",
               "eager_first_s", "compile_first_s", "alt_first_s",
               "eager_peak_mib", "compile_peak_mib", "alt_peak_mib", "sigfuse_buffers_mib",
               "sigfuse_workspace_mib", "sigfuse_peak_mib", "sigfuse_chunk_rows", "unfused_min_peak_mib",
               "sigfuse_gemms_us", "sigfuse_vs_gemms",
               "eager_check", "compile_check", "alt_check", "eager_error", "compile_error", "alt_error",
               "alt", "seconds", "note"]


def fmt(v, spec="%.2f"):
    return "" if v is None or v == "" else spec % v


def markdown(rows, meta):
    lines = ["# sigfuse vs PyTorch (%s, torch %s, %s)" % (meta["device_name"], meta["torch"], meta["date"]), "",
             "Times in microseconds are medians of %d calls after %d warm-up (%s), inputs rotated over copies "
             "that together exceed twice the L2 cache (%s). Ratios = PyTorch time / sigfuse time (> 1: sigfuse "
             "faster). torch.compile: mode %s, dynamic=False. Peak MiB (head rows): one call's inputs + outputs "
             "+ temporaries (torch.cuda.max_memory_allocated); sigfuse: its buffers (inputs + outputs) + the "
             "workspace it was given; least unfused: the same inputs and outputs + the N x L logits (+ their "
             "gradient for head_train_step) in the dtype, what any unfused head holds at once. sigfuse / GEMMs: "
             "sigfuse's time over its GEMM library's products alone (cuBLAS on cuda; sigfuse-bench's "
             "head_*_gemms rows). "
             "alt: another PyTorch form of the op, where there is one (listed below)." % (
                 meta["reps"], meta["warmup"], "CUDA events" if meta["device"] == "cuda" else "wall clock",
                 ("L2 %d MiB" % (meta["l2_bytes"] >> 20) if meta["l2_bytes"] >= 2 ** 20 else
                  "L2 %d bytes" % meta["l2_bytes"]) if meta["l2_bytes"] else "L2 0: no rotation",
                 meta["compile_mode"]), "",
             "| op | dtype | size | sigfuse us | eager us | compile us | eager/sigfuse | compile/sigfuse "
             "| alt us | alt/sigfuse | peak MiB eager / compile / sigfuse / least unfused | sigfuse / GEMMs | notes |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---|"]
    for r in rows:
        peak = ""
        if r["op"].startswith("head"):
            # sigfuse's peak with its workspace; its buffers alone (marked) from a CSV without it.
            mine = fmt(r.get("sigfuse_peak_mib"), "%.0f") or (
                (fmt(r.get("sigfuse_buffers_mib"), "%.0f") + " (buffers only)") if r.get("sigfuse_buffers_mib") else "-")
            peak = "%s / %s / %s / %s" % (fmt(r.get("eager_peak_mib"), "%.0f") or "-",
                                          fmt(r.get("compile_peak_mib"), "%.0f") or "-", mine,
                                          fmt(r.get("unfused_min_peak_mib"), "%.0f") or "-")
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["op"], r["dtype"], r["size"], fmt(r.get("sigfuse_us")), fmt(r.get("eager_us")),
            fmt(r.get("compile_us")), fmt(r.get("eager_per_sigfuse")), fmt(r.get("compile_per_sigfuse")),
            fmt(r.get("alt_us")), fmt(r.get("alt_per_sigfuse")), peak, fmt(r.get("sigfuse_vs_gemms")),
            (r.get("note") or "").replace("|", "/")))
    lines += ["", "Implementations:", ""]
    for c in CASES:
        if any(r["op"] == c["name"] for r in rows):
            alt = ("; alt: " + c["alt"][0]) if c.get("alt") else ""
            lines.append("- %s: eager: %s; compile: torch.compile of the same%s" % (c["name"], c["eager"], alt))
    return "\n".join(lines) + "\n"


def write_outputs(rows, meta, args):
    if args.csv:
        with open(args.csv + ".tmp", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=CSV_COLUMNS, extrasaction="ignore")
            w.writeheader()
            for r in rows:
                w.writerow({k: ("%.6g" % v if isinstance(v, float) else v) for k, v in r.items()})
        os.replace(args.csv + ".tmp", args.csv)
    if args.json:
        legend = {c["name"]: {"eager": c["eager"], "compile": "torch.compile of the eager function"
                              + (" (forward; backward by AOTAutograd via autograd.grad)" if c["kind"] == "grad" else ""),
                              "alt": c["alt"][0] if c.get("alt") else None} for c in CASES}
        with open(args.json + ".tmp", "w") as f:
            json.dump({"meta": meta, "legend": legend, "rows": rows}, f, indent=1)
        os.replace(args.json + ".tmp", args.json)


# ---- Main ----------------------------------------------------------------------------------------------------------------


def parse_args(argv):
    p = argparse.ArgumentParser(description="Time sigfuse-bench's cases with PyTorch eager and torch.compile "
                                "and put sigfuse's times beside them.")
    p.add_argument("--sigfuse", metavar="FILE.csv", help="sigfuse-bench CSV to read sigfuse's times from")
    p.add_argument("--sigfuse-backend", default="cuda", help="which backend's rows of that CSV (default cuda)")
    p.add_argument("--ops", action="append", default=[],
                   help="only cases whose name contains NAME (comma list, repeatable); an exact name selects only it")
    p.add_argument("--dtypes", default="f32,f16,bf16", help="comma list of f32, f16, bf16 (default all)")
    p.add_argument("--impls", default="eager,compile,alt", help="comma list of eager, compile, alt (default all)")
    p.add_argument("--reps", type=int, default=0, help="timed calls (default: 20 on cuda, 5 on cpu, 3 with --quick)")
    p.add_argument("--warmup", type=int, default=3, help="untimed calls before them (default 3)")
    p.add_argument("--device", default="cuda", help="cuda (default) or cpu (smoke tests)")
    p.add_argument("--quick", action="store_true", help="sigfuse-bench's --quick sizes (tiny)")
    p.add_argument("--size", type=int, default=0, help="elementwise and loss cases on N elements (as sigfuse-bench)")
    p.add_argument("--compile-mode", default="default",
                   help="torch.compile mode: default (the default), reduce-overhead or max-autotune")
    p.add_argument("--l2", type=int, default=-1, metavar="BYTES",
                   help="cache size the input copies must exceed twice (default: the GPU's L2; 0 on cpu)")
    p.add_argument("--budget", type=float, default=0.0,
                   help="seconds: start no new row after this long (rows left are listed as skipped)")
    p.add_argument("--csv", help="write the table as CSV")
    p.add_argument("--json", help="write the table and the run's details as JSON")
    p.add_argument("--md", help="also write the markdown table to this file")
    p.add_argument("--verbose", action="store_true", help="tracebacks of failures")
    args = p.parse_args(argv)
    args.ops = [o for a in args.ops for o in a.split(",") if o]
    args.dtypes = [d for d in args.dtypes.split(",") if d]
    args.impls = [i for i in args.impls.split(",") if i]
    for d in args.dtypes:
        if d not in DTYPES:
            p.error("unknown dtype %s" % d)
    for i in args.impls:
        if i not in ("eager", "compile", "alt"):
            p.error("unknown implementation %s" % i)
    if args.device not in ("cuda", "cpu"):
        p.error("--device is cuda or cpu")
    if args.reps <= 0:
        args.reps = 3 if args.quick else 20 if args.device == "cuda" else 5
    if args.quick:
        args.warmup = min(args.warmup, 1)
    return args


def selected(name, filters):
    if not filters:
        return True
    for f in filters:
        if f in CASE_NAMES:
            if f == name:
                return True
        elif f in name:
            return True
    return False


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    start = time.perf_counter()
    if args.device == "cuda" and not torch.cuda.is_available():
        print("peers.py: no CUDA device (use --device cpu --quick for a smoke test)", file=sys.stderr)
        return 2

    sizes = dict(QUICK_SIZES if args.quick else CUDA_SIZES)
    if args.size > 0:
        sizes["elementwise"] = [args.size]
    sig = read_sigfuse(args.sigfuse, args.sigfuse_backend) if args.sigfuse else {}

    if args.device == "cuda":
        props = torch.cuda.get_device_properties(0)
        device_name = props.name
        l2 = getattr(props, "L2_cache_size", 0) or 50 * 2 ** 20
    else:
        device_name = "cpu (%s)" % (platform.processor() or platform.machine())
        l2 = 0   # as sigfuse-bench's cpu backend: no rotation
    if args.l2 >= 0:
        l2 = args.l2
    try:
        import triton
        triton_version = triton.__version__
    except Exception:   # noqa: BLE001
        triton_version = None
    meta = dict(date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                device=args.device, device_name=device_name, torch=torch.__version__,
                cuda=torch.version.cuda, triton=triton_version, python=platform.python_version(),
                compile_mode=args.compile_mode, compile_dynamic=False, reps=args.reps, warmup=args.warmup,
                l2_bytes=l2, quick=args.quick, sigfuse_csv=args.sigfuse, focal=FOCAL_SOURCE,
                ratio="PyTorch time / sigfuse time")
    # The matmul settings the head runs under (PyTorch's defaults: no TF32, as sigfuse).
    for key, get in (("allow_tf32_matmul", lambda: torch.backends.cuda.matmul.allow_tf32),
                     ("float32_matmul_precision", torch.get_float32_matmul_precision),
                     ("fp16_reduced_precision_reduction",
                      lambda: torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction),
                     ("bf16_reduced_precision_reduction",
                      lambda: torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction)):
        try:
            meta[key] = get()
        except Exception:   # noqa: BLE001
            meta[key] = None
    print("# peers.py: torch %s (cuda %s, triton %s) on %s; %d reps after %d warm-up; compile mode %s" % (
        torch.__version__, torch.version.cuda, triton_version, device_name, args.reps, args.warmup,
        args.compile_mode), file=sys.stderr)

    compiler = make_compiler(args) if "compile" in args.impls else None
    work = []
    for case in CASES:
        if not selected(case["name"], args.ops):
            continue
        for dt in args.dtypes:
            for label, rows_, cols, d in shapes(case["family"], sizes):
                work.append((case, dt, label, rows_, cols, d))

    rows = []
    for k, (case, dt, label, r_, c_, d_) in enumerate(work):
        elapsed = time.perf_counter() - start
        if args.budget and elapsed > args.budget:
            row = dict(op=case["name"], dtype=dt, size=label, rows=r_, cols=c_, d=d_,
                       note="skipped: past --budget %.0f s" % args.budget)
        else:
            t0 = time.perf_counter()
            try:
                row = run_row(case, dt, label, r_, c_, d_, args, l2, compiler)
            except Exception as e:   # noqa: BLE001 (inputs or the reference failed: out of memory, ...)
                row = dict(op=case["name"], dtype=dt, size=label, rows=r_, cols=c_, d=d_,
                           note="failed: %s" % short_error(e))
                if args.verbose:
                    traceback.print_exc()
                gc.collect()
                if args.device == "cuda":
                    torch.cuda.empty_cache()
            row["seconds"] = round(time.perf_counter() - t0, 2)
        sr = sig.get((case["name"], dt, label))
        if sr:
            row["sigfuse_us"] = float(sr["median_s"]) * 1e6
            row["sigfuse_gbps"] = float(sr["gbps"]) if sr.get("gbps") else None
            if case["family"] == "head":
                add_sigfuse_head(row, sr, sig.get((case["name"] + "_gemms", dt, label)))
            for impl in ("eager", "compile", "alt"):
                if row.get(impl + "_us"):
                    row[impl + "_per_sigfuse"] = row[impl + "_us"] / row["sigfuse_us"]
        elif sig:
            row["note"] = ((row.get("note") or "") + "; no sigfuse row").lstrip("; ")
        rows.append(row)
        print("[%3d/%d %6.0f s] %-18s %-4s %-20s eager %s us, compile %s us, alt %s us, sigfuse %s us%s" % (
            k + 1, len(work), time.perf_counter() - start, case["name"], dt, label, fmt(row.get("eager_us")) or "-",
            fmt(row.get("compile_us")) or "-", fmt(row.get("alt_us")) or "-", fmt(row.get("sigfuse_us")) or "-",
            ("  [" + row["note"] + "]") if row.get("note") else ""), file=sys.stderr, flush=True)
        meta["seconds"] = round(time.perf_counter() - start, 1)
        write_outputs(rows, meta, args)   # after every row: a run cut short keeps what it did

    md = markdown(rows, meta)
    sys.stdout.write(md)
    if args.md:
        with open(args.md, "w") as f:
            f.write(md)
    write_outputs(rows, meta, args)
    # A failed check, or an error in eager or compile (not alt, which may not exist), fails the run.
    failed = [r for r in rows if "FAILED" in (r.get("note") or "") or (r.get("note") or "").startswith("failed")
              or r.get("eager_error") or r.get("compile_error")]
    skipped = [r for r in rows if (r.get("note") or "").startswith("skipped")]
    print("# peers.py: %d rows in %.0f s; %d with a failed check or an error; %d skipped (budget)" % (
        len(rows), time.perf_counter() - start, len(failed), len(skipped)), file=sys.stderr)
    if skipped:
        print("# peers.py: not reached: %s" % ", ".join(sorted({r["op"] for r in skipped})), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
