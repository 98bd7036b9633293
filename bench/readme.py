#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The README's performance section, generated from a committed sigfuse-bench result.

The section sits between two markers in README.md; the first names the result it was
made from:

    <!-- perf:begin bench/results/h100-2026-11-24-cuda.csv -->
    ...generated...
    <!-- perf:end -->

    bench/readme.py --check README.md        exit 1 if the section differs from what the
                                             named CSV (and the JSON beside it) give
    bench/readme.py --write README.md [CSV]  regenerate it (from CSV, when given, which
                                             then becomes the named result)
    bench/readme.py CSV                      print the section

Standard library only. Each cell is the fraction of the copy bandwidth measured in the
same run, at the largest size the result holds for that op and dtype.
"""
import argparse
import csv
import json
import os
import re
import sys

BEGIN = re.compile(r"<!-- perf:begin (\S+) -->\n")
END = "<!-- perf:end -->"

# README rows: a label and the benchmark ops shown in it (fwd / bwd, or one op).
ROWS = [
    ("sigmoid fwd / bwd", ["sigmoid_forward", "sigmoid_backward"]),
    ("log-sigmoid fwd / bwd", ["log_sigmoid_forward", "log_sigmoid_backward"]),
    ("SiLU fwd / bwd", ["silu_forward", "silu_backward"]),
    ("GLU fwd / bwd", ["glu_forward", "glu_backward"]),
    ("SwiGLU fwd / bwd", ["swiglu_forward", "swiglu_backward"]),
    ("LSTM cell fwd / bwd", ["lstm_cell_forward", "lstm_cell_backward"]),
    ("GRU cell fwd / bwd", ["gru_cell_forward", "gru_cell_backward"]),
    ("BCE loss only / loss + grad", ["bce_with_logits/loss", "bce_with_logits"]),
    ("BCE loss + grad, u8 targets", ["bce_with_logits/u8"]),
    ("BCE + weight + pos_weight", ["bce_with_logits/weighted"]),
    ("sigmoid focal loss + grad", ["sigmoid_focal"]),
]
DTYPES = ["f32", "f16", "bf16"]

# What results written before the benchmark took the API's op names called each case.
OLDER_NAMES = {
    "sigmoid_fwd": "sigmoid_forward", "sigmoid_bwd": "sigmoid_backward",
    "log_sigmoid_fwd": "log_sigmoid_forward", "log_sigmoid_bwd": "log_sigmoid_backward",
    "silu_fwd": "silu_forward", "silu_bwd": "silu_backward", "glu_fwd": "glu_forward", "glu_bwd": "glu_backward",
    "swiglu_fwd": "swiglu_forward", "swiglu_bwd": "swiglu_backward",
    "lstm_fwd": "lstm_cell_forward", "lstm_bwd": "lstm_cell_backward",
    "gru_fwd": "gru_cell_forward", "gru_bwd": "gru_cell_backward",
    "bce_loss": "bce_with_logits/loss", "bce_fused": "bce_with_logits", "bce_fused_u8": "bce_with_logits/u8",
    "bce_fused_weighted": "bce_with_logits/weighted", "focal_fused": "sigmoid_focal",
    "head_train": "head_train_step", "head_train_gemms": "head_train_step_gemms",
}


def load(csv_path):
    with open(csv_path, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("status", "ok") == "ok"]
    for r in rows:
        r["op"] = OLDER_NAMES.get(r["op"], r["op"])
    meta = {}
    json_path = os.path.splitext(csv_path)[0] + ".json"
    if os.path.exists(json_path):
        with open(json_path) as f:
            meta = {k: v for k, v in json.load(f).items() if not isinstance(v, (list, dict))}
    return rows, meta


def largest(rows, op, dtype):
    """The row of op and dtype with the most bytes (the size far beyond L2), or None."""
    mine = [r for r in rows if r["op"] == op and r["dtype"] == dtype]
    return max(mine, key=lambda r: float(r["bytes"] or 0)) if mine else None


def pct(row):
    return f"{float(row['pct_copy']):.0f} %" if row and row.get("pct_copy") else "–"


def section(csv_path):
    rows, meta = load(csv_path)
    stem = os.path.splitext(csv_path)[0]
    copy = next((r for r in rows if r["op"] == "copy"), None)
    backend = rows[0]["backend"] if rows else "?"
    device = meta.get("device") or (rows[0]["device"] if rows else "?")
    out = []
    when = meta.get("date", "?")[:10]
    driver = f" (driver {meta['driver']})" if meta.get("driver") else ""
    out.append(f"Measured with `sigfuse-bench --backend {backend}` on {device}{driver}, {when}, "
               f"commit {meta.get('commit', '?')}: `{stem}.{{txt,csv,json}}`.")
    sizes = []
    for op, label in [("sigmoid_forward", "elementwise"), ("lstm_cell_forward", "cells"), ("bce_with_logits", "losses")]:
        r = largest(rows, op, "f32")
        if r:
            sizes.append(f"{r['size']} {label}")
    if copy:
        out.append(f"Each cell is the fraction of a device-to-device copy measured in the same run "
                   f"({float(copy['gbps']):.0f} GB/s) reached at the largest size ({', '.join(sizes)}), "
                   "counting the fewest bytes the op must move.")
    if os.path.exists(stem + ".svg"):
        out.append("")
        out.append(f"![fraction of copy bandwidth per op and dtype]({stem}.svg)")
    out.append("")
    out.append("| op | " + " | ".join(DTYPES) + " |")
    out.append("|---|" + "---|" * len(DTYPES))
    for label, ops in ROWS:
        if not any(largest(rows, op, dt) for op in ops for dt in DTYPES):
            continue
        cells = [" / ".join(pct(largest(rows, op, dt)) for op in ops) for dt in DTYPES]
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    heads, size = [], None
    for op, label in [("head_train_step", "train step"), ("head_predict", "predict")]:
        for dt in DTYPES:
            r = largest(rows, op, dt)
            if r and r.get("gflops"):
                heads.append(f"{label} {dt} {float(r['gflops']) / 1000:.0f} TFLOP/s")
                size = size or r["size"]
    if heads:
        out.append("")
        out.append(f"Multi-label head at {size}: " + ", ".join(heads) + ".")
    return "\n".join(out) + "\n"


def split(readme_text):
    m = BEGIN.search(readme_text)
    end = readme_text.find(END, m.end()) if m else -1
    if not m or end < 0:
        raise SystemExit(f"README has no '<!-- perf:begin CSV -->' ... '{END}' section")
    return m, end


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("csv", nargs="?", help="a sigfuse-bench CSV (default: the one the README names)")
    ap.add_argument("--check", metavar="README", help="fail if README's section is not what the CSV gives")
    ap.add_argument("--write", metavar="README", help="regenerate README's section")
    args = ap.parse_args()
    readme = args.check or args.write
    if not readme:
        if not args.csv:
            ap.error("give a CSV, or --check / --write README")
        sys.stdout.write(section(args.csv))
        return 0
    with open(readme) as f:
        text = f.read()
    m, end = split(text)
    root = os.path.dirname(os.path.abspath(readme))
    csv_rel = args.csv and os.path.relpath(os.path.abspath(args.csv), root) or m.group(1)
    os.chdir(root)                       # paths in the README are relative to its folder
    want = section(csv_rel)
    if args.check:
        if m.group(1) == csv_rel and text[m.end():end] == want:
            print(f"{readme}: the performance section matches {csv_rel}")
            return 0
        print(f"{readme}: the performance section is not what {csv_rel} gives; "
              f"run: python3 bench/readme.py --write {readme}", file=sys.stderr)
        return 1
    new = text[:m.start()] + f"<!-- perf:begin {csv_rel} -->\n" + want + text[end:]
    with open(readme, "w") as f:
        f.write(new)
    print(f"{readme}: performance section written from {csv_rel}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
