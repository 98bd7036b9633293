#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The cases bench/peers.py times with PyTorch: sigfuse-bench's sizes and input ranges, the
float64 references, the cell, focal, asymmetric, BCE + Dice and masked-loss math in torch ops, and one entry per sigfuse-bench
case (named as that case: the op's API name, or <op>/<variant>) with its eager, compiled
and PyTorch-fused ("alt") implementations and its fewest bytes. See peers.py for the
method."""
import math

import torch
import torch.nn.functional as F

# ---- Sizes (bench/bench_cuda.c, bench/bench_main.c's quick_sizes) ----------------------------

CUDA_SIZES = {
    "elementwise": [1 << 20, 1 << 26],
    "cell": [(4096, 4096)],                              # (B, H)
    "head": [(8192, 2048, 4096), (2048, 1024, 1024)],    # (N, D, L)
    "xmc": [(4096, 768, 1000000)],                       # (N, D, L): the sparse train step, head_topk
}
QUICK_SIZES = {"elementwise": [3003], "cell": [(5, 37)], "head": [(13, 40, 24)], "xmc": [(13, 40, 300)]}
# The XMC rows (bench/bench.h): positives a row, k of the top-k, shards of topk_merge.
POSITIVES, TOPK, SHARDS = 5, 10, 8

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


# bce_dice's rows are images: 16 of 512 x 512 pixels at the default sizes (cases.c's
# bench_case_own_shape); else rows = the largest divisor of each size up to 16.
OWN_SHAPES = {"bce_dice": (16, 512 * 512)}


def case_shapes(case, sizes, defaults):
    """(label, rows, cols, d) of one case as sigfuse-bench shapes it."""
    own = OWN_SHAPES.get(case["name"].split("/")[0])
    if own is None:
        return shapes(case["family"], sizes)
    out = []
    for total in ([own[0] * own[1]] if defaults else sizes["elementwise"]):
        rows = min(total, own[0])
        while rows > 1 and total % rows:
            rows -= 1
        out.append(("%dx%d" % (rows, total // rows), rows, total // rows, 0))
    return out


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
    elif family == "merge":   # topk_merge at the xmc sizes' N: rows N, cols k, d the shards
        for n, _d, _l in sizes["xmc"]:
            out.append(("N=%d,k=%d,shards=%d" % (n, TOPK, SHARDS), n, TOPK, SHARDS))
    else:
        for n, d, l in sizes["xmc" if family == "xmc" else "head"]:
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

    def keep(self, shape, p):
        """A u8 mask with a 1 (kept) at the chance p (cases.c: nine in ten)."""
        t = torch.rand(shape, generator=self.gen, device=self.device, dtype=torch.float32) < p
        return t.to(torch.uint8)


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


def loss_inputs(weighted=False, u8=False, mask=False):
    def make(m, rows, cols, d):
        out = {"logits": m.uniform((rows, cols), *LOGIT)}
        if weighted:
            out["targets"] = m.uniform((rows, cols), 0.0, 1.0)
            out["weight"] = m.uniform((rows, cols), 0.5, 2.0)
            out["pos_weight"] = m.uniform((cols,), 0.5, 4.0)
        else:
            out["targets"] = m.binary((rows, cols), u8=u8)
        if mask:
            out["mask"] = m.keep((rows, cols), 0.9)
        return out
    return make


# ---- Ignored targets, the asymmetric loss and BCE + Dice in torch ops --------------------------------


def masked_mean(le, mask):
    """MEAN over the kept elements, as a user writes it: loss * mask summed, over the count."""
    keep = mask.to(le.dtype)
    return (le * keep).sum() / keep.sum()


def bce_masked(x, t, mask):
    return masked_mean(F.binary_cross_entropy_with_logits(x, t, reduction="none"), mask)


def focal_masked(x, t, mask, alpha=0.25, gamma=2.0):
    p = torch.sigmoid(x)
    ce = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    p_t = p * t + (1 - p) * (1 - t)
    le = (alpha * t + (1 - alpha) * (1 - t)) * ce * (1 - p_t) ** gamma
    return masked_mean(le, mask)


def asl_elements(x, t, gamma_pos=0.0, gamma_neg=4.0, clip=0.05, eps=1e-8):
    """The authors' AsymmetricLoss (Alibaba-MIIL/ASL, losses.py) per element, with the
    focusing weight differentiated (disable_torch_grad_focal_loss=False): the true gradient,
    which sigfuse computes; the clamps at eps are inactive for logits in [-8, 8]."""
    xs_pos = torch.sigmoid(x)
    xs_neg = (1 - xs_pos + clip).clamp(max=1)
    los_pos = t * torch.log(xs_pos.clamp(min=eps))
    los_neg = (1 - t) * torch.log(xs_neg.clamp(min=eps))
    pt = xs_pos * t + xs_neg * (1 - t)
    gamma = gamma_pos * t + gamma_neg * (1 - t)
    return -(los_pos + los_neg) * torch.pow(1 - pt, gamma)


def asl_loss(x, t):
    return asl_elements(x, t).mean()


def asl_masked(x, t, mask):
    return masked_mean(asl_elements(x, t), mask)


def bce_dice_loss(x, t, smooth=1.0):
    """BCE (mean) + mean over images of 1 - soft Dice; returns the loss (its dice per image is
    computed on the way, as a segmentation loop logs it)."""
    bce = F.binary_cross_entropy_with_logits(x, t)
    p = torch.sigmoid(x)
    dice = (2 * (p * t).sum(1) + smooth) / (p.sum(1) + t.sum(1) + smooth)
    return bce + (1 - dice).mean()


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


def csr_positives(m, rows, labels):
    """[rows, POSITIVES] int64 ids as sigfuse-bench draws them (bench_data.c's csr_row; not
    the same draws): log-uniform ranks (Zipf-like), sorted, strictly increasing, below labels."""
    u = torch.rand((rows, POSITIVES), generator=m.gen, device=m.device, dtype=torch.float64)
    ids = (torch.exp(u * math.log(labels + 1.0)).floor() - 1).clamp(0, labels - 1).long().sort(dim=1).values
    j = torch.arange(POSITIVES, device=m.device)
    ids = torch.cummax(ids - j, dim=1).values + j          # bumped to strictly increasing
    return torch.minimum(ids, labels - POSITIVES + j)


def dense_targets(pos, labels, dtype):
    """The dense [N, L] 0/1 targets a PyTorch user makes from the positives."""
    return torch.zeros(pos.shape[0], labels, dtype=dtype, device=pos.device).scatter_(1, pos.long(), 1.0)


def sparse_head_inputs(m, rows, cols, d):
    out = head_inputs(False)(m, rows, cols, d)
    out["pos"] = csr_positives(m, rows, cols)
    return out


def _ref_chunk_rows(cols):
    return max(1, (1 << 27) // max(1, cols))   # float64 logits of 1 GiB a chunk


def head_ref_train_sparse(x, w, bias, pos):
    """head_ref_train on the positives, in row chunks (a float64 N x L at once would not fit)."""
    n, l = x.shape[0], w.shape[0]
    loss = torch.zeros((), dtype=x.dtype, device=x.device)
    dx, dw, db = torch.empty_like(x), torch.zeros_like(w), torch.zeros_like(bias)
    step = _ref_chunk_rows(l)
    for r in range(0, n, step):
        z = x[r:r + step] @ w.t() + bias
        t = dense_targets(pos[r:r + step], l, z.dtype)
        loss += (r_softplus(z) - t * z).sum()
        g = (r_sig(z) - t) / (n * l)
        dx[r:r + step] = g @ w
        dw += g.t() @ x[r:r + step]
        db += g.sum(0)
    return loss / (n * l), dx, dw, db


def head_ref_topk(x, w, bias):
    step = _ref_chunk_rows(w.shape[0])
    return (torch.cat([torch.topk(x[r:r + step] @ w.t() + bias, TOPK).values for r in range(0, x.shape[0], step)]),)


def merge_inputs(m, rows, cols, d):
    """The shards' top-k lists, [shards, N, k]: logits best first, distinct ids."""
    logits = m.uniform((d, rows, cols), -8.0, 8.0).sort(dim=2, descending=True).values
    labels = torch.arange(d * rows * cols, device=m.device, dtype=torch.int64).view(d, rows, cols)
    return {"in_labels": labels, "in_logits": logits}


def merge_topk(in_labels, in_logits):
    s, n, k = in_logits.shape
    return (torch.topk(in_logits.permute(1, 0, 2).reshape(n, s * k), k).values,)


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
    dict(name="asymmetric", family="loss", make=loss_inputs(), kind="grad", wrt=("logits",),
         fn=asl_loss, eager="Alibaba-MIIL AsymmetricLoss (gamma_neg=4, gamma_pos=0, clip=0.05) line for line, "
                            "mean; autograd.grad wrt x",
         ref="autograd", ref_fn=asl_loss, bytes=lambda r, c, d, s: 3 * r * c * s + 4),
    dict(name="bce_with_logits/mask", family="loss", make=loss_inputs(mask=True), kind="grad", wrt=("logits",),
         fn=bce_masked, eager="(F.binary_cross_entropy_with_logits(x, t, reduction='none') * m).sum() / m.sum(); "
                              "autograd.grad wrt x",
         ref="autograd", ref_fn=bce_masked, bytes=lambda r, c, d, s: (3 * s + 2) * r * c + 4),
    dict(name="sigmoid_focal/mask", family="loss", make=loss_inputs(mask=True), kind="grad", wrt=("logits",),
         fn=focal_masked, eager="torchvision's sigmoid_focal_loss formula (reduction none) * m, summed / m.sum(); "
                                "autograd.grad wrt x",
         ref="autograd", ref_fn=focal_masked, bytes=lambda r, c, d, s: (3 * s + 2) * r * c + 4),
    dict(name="asymmetric/mask", family="loss", make=loss_inputs(mask=True), kind="grad", wrt=("logits",),
         fn=asl_masked, eager="AsymmetricLoss per element * m, summed / m.sum(); autograd.grad wrt x",
         ref="autograd", ref_fn=asl_masked, bytes=lambda r, c, d, s: (3 * s + 2) * r * c + 4),
    dict(name="bce_dice", family="loss", make=loss_inputs(), kind="grad", wrt=("logits",),
         fn=bce_dice_loss, eager="F.binary_cross_entropy_with_logits(x, t) + (1 - soft Dice per image).mean(), "
                                 "smooth 1; autograd.grad wrt x",
         ref="autograd", ref_fn=bce_dice_loss,
         bytes=lambda r, c, d, s: 5 * r * c * s + r * s + 4),   # two passes: x and t read twice
    dict(name="head_predict", family="head", make=head_inputs(False), kind="plain",
         fn=lambda x, w, bias: (torch.sigmoid(F.linear(x, w, bias)),), eager="torch.sigmoid(F.linear(x, W, b))",
         ref=lambda x, w, bias: (r_sig(x @ w.t() + bias),),
         bytes=lambda n, l, d, s: (n * d + l * d + l + n * l) * s),
    dict(name="head_train_step", family="head", make=head_inputs(True), kind="grad", wrt=("x", "w", "bias"),
         fn=lambda x, w, bias, targets: F.binary_cross_entropy_with_logits(F.linear(x, w, bias), targets),
         eager="loss = F.binary_cross_entropy_with_logits(F.linear(x, W, b), t); autograd.grad wrt x, W, b",
         ref=head_ref_train, bytes=lambda n, l, d, s: (2 * n * d + 2 * l * d + 2 * l + n * l) * s + 4),
    # XMC (the xmc sizes): the dense PyTorch way with CSR positives, which builds the [N, L]
    # targets; bytes are sigfuse's fewest (i32 CSR), as sigfuse-bench counts them.
    dict(name="head_train_step/sparse", family="xmc", make=sparse_head_inputs, kind="grad", wrt=("x", "w", "bias"),
         fn=lambda x, w, bias, pos: F.binary_cross_entropy_with_logits(
             F.linear(x, w, bias), dense_targets(pos, w.shape[0], x.dtype)),
         eager="t = zeros(N, L).scatter_(1, pos, 1); loss = F.binary_cross_entropy_with_logits(F.linear(x, W, b), t); "
               "autograd.grad wrt x, W, b",
         ref=head_ref_train_sparse,
         bytes=lambda n, l, d, s: (2 * n * d + 2 * l * d + 2 * l) * s + 4 * (n + 1 + n * POSITIVES) + 4),
    dict(name="head_topk", family="xmc", make=head_inputs(False), kind="plain",
         fn=lambda x, w, bias: (torch.topk(F.linear(x, w, bias), TOPK).values,),
         eager="torch.topk(F.linear(x, W, b), k) (values checked; the same call makes the indices)",
         ref=head_ref_topk, bytes=lambda n, l, d, s: (n * d + l * d + l + n * TOPK) * s + 4 * n * TOPK),
    dict(name="topk_merge", family="merge", make=merge_inputs, kind="plain", fn=merge_topk,
         eager="torch.topk over each row's shards x k logits (values only; no gather of the ids)",
         ref=merge_topk, bytes=lambda n, k, sh, s: (sh * n * k + n * k) * (s + 4)),
]
CASE_NAMES = [c["name"] for c in CASES]
