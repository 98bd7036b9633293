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
forward only (bce_with_logits/loss); torchvision's sigmoid_focal_loss (sigmoid_focal); the
authors' AsymmetricLoss (asymmetric); BCE + soft Dice in torch ops (bce_dice, 16 images of
512 x 512); each loss times a u8 mask, summed over its count (the /mask rows); torch.sigmoid,
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

from peers_cases import (CASE_NAMES, CASES, CUDA_SIZES, DTYPES, ESIZE, FLOOR, FOCAL_SOURCE, QUICK_SIZES, TOL, Maker,
                         case_shapes, shapes)

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
            for label, rows_, cols, d in case_shapes(case, sizes, sizes == CUDA_SIZES):
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
            if case["family"] in ("head", "xmc"):
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
