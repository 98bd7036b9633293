#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Plot sigfuse-bench results: the fraction of device-copy bandwidth per op and dtype.

    bench/plot.py CSV [CSV...] [--out FILE.svg] [--backend cuda] [--title TEXT]

Reads one or more CSV files written by `sigfuse-bench --csv` and writes one SVG: a
horizontal grouped bar chart, one group per op (at the largest size the file has for
it), one bar per dtype (f32, f16, bf16), with dashed lines at 90 % (the project's
target) and 100 % of the device-to-device copy measured in the same run (a host memcpy
for the cpu reference). Each
(file, backend) pair is a panel of its own, side by side, so a CUDA run and an OpenCL
run on the same GPU read across one row per op.

The device, date and commit come from the JSON that sigfuse-bench writes beside the
CSV (same name, .json) when it is there, else from the CSV's own columns (device, and
date and commit when a CSV carries them). Rows whose pct_copy is empty (the copy
itself, the head's GEMM-bound rows, rows that failed) are skipped, and a note in the
chart says which.

Without --out the SVG goes beside the first CSV (same name, .svg). The script only
uses the Python standard library, and checks that what it wrote parses as XML: the
exit status is 0 when it did, 1 on any error, 2 for bad usage.
"""

import argparse
import csv
import json
import math
import os
import sys
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

TARGET_PCT = 90.0  # the project's target (README, "Performance")
DTYPE_ORDER = ["f32", "f16", "bf16"]
DTYPE_COLORS = {"f32": "#3b6fb6", "f16": "#e08a2c", "bf16": "#3f9e58"}
EXTRA_COLORS = ["#8c61b5", "#c0504d", "#7f7f7f", "#17a2b8"]

# Layout, in SVG user units (px).
BAR_H = 9
BAR_GAP = 1
GROUP_PAD = 10
LABEL_W = 200          # op name and size, left of the first panel
PANEL_W = 470          # plot area of one panel
PANEL_GAP = 60
MARGIN_L = 16
MARGIN_R = 30
FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"


class PlotError(Exception):
    pass


# ---- Reading ----------------------------------------------------------------------------

def read_meta(csv_path):
    """device, date, commit from the JSON beside the CSV, or {} when there is none."""
    json_path = os.path.splitext(csv_path)[0] + ".json"
    if not os.path.isfile(json_path):
        return {}
    try:
        with open(json_path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        print("plot.py: ignoring %s: %s" % (json_path, e), file=sys.stderr)
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: str(data[k]) for k in ("device", "date", "commit") if data.get(k) not in (None, "")}


def to_float(text):
    try:
        v = float(text)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def to_int(text):
    v = to_float(text)
    return int(v) if v is not None else 0


def read_csv(path):
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames:
                raise PlotError("%s is empty" % path)
            missing = [c for c in ("backend", "op", "dtype", "size", "pct_copy") if c not in reader.fieldnames]
            if missing:
                raise PlotError("%s is not a sigfuse-bench CSV: no %s column" % (path, ", ".join(missing)))
            return list(reader)
    except OSError as e:
        raise PlotError("cannot read %s: %s" % (path, e.strerror or e))
    except csv.Error as e:
        raise PlotError("%s: %s" % (path, e))


def short_date(text):
    """2026-11-24T23:04:54Z -> 2026-11-24 23:04 UTC; anything else unchanged."""
    if len(text) >= 16 and text[4] == "-" and text[10] == "T":
        return text[:10] + " " + text[11:16] + (" UTC" if text.endswith("Z") else "")
    return text


def build_panels(paths, backend_filter):
    """One panel per (file, backend): its meta, its bars and what it skipped."""
    panels = []
    for path in paths:
        rows = read_csv(path)
        meta = read_meta(path)
        backends = []
        for r in rows:
            if r["backend"] not in backends:
                backends.append(r["backend"])
        if backend_filter:
            backends = [b for b in backends if b == backend_filter]
        for backend in backends:
            mine = [r for r in rows if r["backend"] == backend]
            panels.append(build_panel(path, backend, mine, meta))
    if not panels:
        raise PlotError("no rows for backend %s in %s" % (backend_filter, ", ".join(paths)) if backend_filter
                        else "no rows in %s" % ", ".join(paths))
    return panels


def elements(r):
    return max(to_int(r.get("rows")), 1) * max(to_int(r.get("cols")), 1) * max(to_int(r.get("d")), 1)


def build_panel(path, backend, rows, meta):
    first = rows[0]
    device = meta.get("device") or first.get("device", "") or "unknown device"
    date = meta.get("date") or first.get("date", "")
    commit = meta.get("commit") or first.get("commit", "")

    skipped = {}            # op -> count of rows without a %copy
    by_op = {}              # op -> list of rows with a %copy, in file order
    for r in rows:
        if r["op"] == "copy":       # the 100 % reference itself
            continue
        if to_float(r["pct_copy"]) is None:
            skipped[r["op"]] = skipped.get(r["op"], 0) + 1
            continue
        by_op.setdefault(r["op"], []).append(r)

    groups = []
    for op, op_rows in by_op.items():
        # The op's largest size: most elements, then most bytes; every dtype at that size.
        big = max(op_rows, key=lambda r: (elements(r), to_float(r.get("bytes")) or 0))
        size = big["size"]
        values = {}
        for r in op_rows:
            if r["size"] == size:
                values[r["dtype"]] = (to_float(r["pct_copy"]), r.get("status", "ok"))
        groups.append({"op": op, "size": size, "values": values})

    copy_gbps = None
    for r in rows:
        if r["op"] == "copy":
            copy_gbps = to_float(r.get("gbps"))
    return {"path": path, "backend": backend, "device": device, "date": date, "commit": commit,
            "groups": groups, "skipped": skipped, "copy_gbps": copy_gbps}


# ---- Drawing ----------------------------------------------------------------------------

class Svg:
    def __init__(self):
        self.parts = []

    def add(self, text):
        self.parts.append(text)

    def text(self, x, y, s, size=12, anchor="start", weight=None, fill="#222", extra="", halo=False):
        attrs = 'x="%.1f" y="%.1f" font-size="%g" text-anchor="%s" fill="%s"' % (x, y, size, anchor, fill)
        if weight:
            attrs += ' font-weight="%s"' % weight
        if halo:  # a white outline under the glyphs, so a dashed line behind stays readable
            attrs += ' stroke="#ffffff" stroke-width="3" stroke-linejoin="round" paint-order="stroke"'
        self.add("<text %s%s>%s</text>" % (attrs, extra, escape(s)))

    def line(self, x1, y1, x2, y2, stroke="#000", width=1, dash=None, extra=""):
        d = ' stroke-dasharray="%s"' % dash if dash else ""
        self.add('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="%g"%s%s/>'
                 % (x1, y1, x2, y2, stroke, width, d, extra))

    def rect(self, x, y, w, h, fill, extra=""):
        self.add('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"%s/>' % (x, y, w, h, fill, extra))


def dtype_list(panels):
    seen = []
    for p in panels:
        for g in p["groups"]:
            for dt in g["values"]:
                if dt not in seen:
                    seen.append(dt)
    ordered = [d for d in DTYPE_ORDER if d in seen] + [d for d in seen if d not in DTYPE_ORDER]
    return ordered


def color_of(dtype, dtypes):
    if dtype in DTYPE_COLORS:
        return DTYPE_COLORS[dtype]
    extras = [d for d in dtypes if d not in DTYPE_COLORS]
    return EXTRA_COLORS[extras.index(dtype) % len(EXTRA_COLORS)]


def panel_heading(p):
    bits = [p["device"]]
    if p["backend"] and p["backend"].lower() not in p["device"].lower():
        bits.append(p["backend"] + " backend")
    return ", ".join(bits)


def panel_detail(p, with_file=True):
    bits = []
    if p["date"]:
        bits.append(short_date(p["date"]))
    if p["commit"]:
        bits.append("commit " + p["commit"])
    if p["copy_gbps"]:
        bits.append("copy %.0f GB/s" % p["copy_gbps"])
    if with_file:
        bits.append(os.path.basename(p["path"]))
    return " \u00b7 ".join(bits)


def skipped_note(panels):
    parts = []
    for p in panels:
        prefix = (panel_heading(p) + ": ") if len(panels) > 1 else ""
        if not p["skipped"]:
            parts.append("%severy row has a %%copy; the copy row itself (the 100 %% reference) is not drawn." % prefix)
            continue
        total = sum(p["skipped"].values())
        ops = ", ".join(p["skipped"])
        parts.append("%sskipped %d row%s with an empty %%copy (%s: not bandwidth-bound, timed in GFLOP/s) "
                     "and the copy row itself (the 100 %% reference)."
                     % (prefix, total, "" if total == 1 else "s", ops))
    return parts


def wrap(text, chars):
    """Greedy word wrap: SVG 1.1 text does not wrap itself."""
    lines, line = [], ""
    for word in text.split(" "):
        if line and len(line) + 1 + len(word) > chars:
            lines.append(line)
            line = word
        else:
            line = (line + " " + word) if line else word
    if line:
        lines.append(line)
    return lines


def render(panels, title):
    dtypes = dtype_list(panels)
    n_bars = len(dtypes)

    # Op groups: the union over the panels, in the order they first appear.
    ops, sizes = [], {}
    for p in panels:
        for g in p["groups"]:
            if g["op"] not in ops:
                ops.append(g["op"])
            sizes.setdefault(g["op"], [])
            if g["size"] not in sizes[g["op"]]:
                sizes[g["op"]].append(g["size"])
    if not ops:
        raise PlotError("no row has a %copy value (a run without a copy row has nothing to compare with): "
                        "nothing to plot")

    vmax = max([v for p in panels for g in p["groups"] for v, _ in g["values"].values()] + [100.0])
    # Past 100 %, with room for the longest bar's value label.
    xmax = max(110.0, math.ceil((vmax + 6.0) / 10.0) * 10.0)

    group_h = n_bars * BAR_H + (n_bars - 1) * BAR_GAP + GROUP_PAD
    plot_h = len(ops) * group_h
    # Vertical layout: title, (one panel) device and detail lines, (several) each panel's
    # heading, then the legend row, then the plot.
    top = 84 if len(panels) == 1 else 44      # below the title block
    head_y = top                              # several panels: their headings start here
    if len(panels) > 1:
        top += 54
    legend_y = top + 12
    plot_top = legend_y + 22
    width = MARGIN_L + LABEL_W + len(panels) * PANEL_W + (len(panels) - 1) * PANEL_GAP + MARGIN_R
    notes = ["Each op at its largest size in the file (under its name). %copy: the fewest bytes the op must "
             "move per second, as a fraction of a device-to-device copy measured in the same run "
             "(on the cpu reference, a host memcpy)."]
    if len(panels) > 1:
        notes[0] += " Where the panels differ, the sizes are listed left to right."
    notes += skipped_note(panels)
    note_lines = []
    for note in notes:
        for i, line in enumerate(wrap(note, int((width - 2 * MARGIN_L) / 6.3))):
            note_lines.append(("Note: " if i == 0 else "      ") + line)
    height = plot_top + plot_h + 50 + 15 * len(note_lines) + 12

    s = Svg()
    s.add('<?xml version="1.0" encoding="UTF-8"?>')
    s.add('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family=%s>'
          % (width, height, width, height, quoteattr(FONT)))
    doc_title = title
    if len(panels) == 1:
        doc_title += " (%s; %s)" % (panel_heading(panels[0]), panel_detail(panels[0]))
    s.add("<title>%s</title>" % escape(doc_title))
    s.rect(0, 0, width, height, "#ffffff")

    # Title and, for one panel, its device / date / commit line.
    s.text(width / 2, 28, title, size=18, anchor="middle", weight="bold")
    if len(panels) == 1:
        s.text(width / 2, 52, panel_heading(panels[0]), size=13, anchor="middle", fill="#333")
        s.text(width / 2, 70, panel_detail(panels[0]), size=12, anchor="middle", fill="#555")

    # Legend, centred above the plot area(s).
    legend_items = [(dt, color_of(dt, dtypes), "bar") for dt in dtypes]
    legend_items += [("%g %% target" % TARGET_PCT, "#c0392b", "dash"), ("100 % = copy", "#444", "dash")]
    item_w = [34 + 7.2 * len(label) for label, _, _ in legend_items]
    lx = MARGIN_L + LABEL_W + (width - MARGIN_L - LABEL_W - MARGIN_R - sum(item_w)) / 2
    ly = legend_y
    for (label, col, kind), w in zip(legend_items, item_w):
        if kind == "bar":
            s.rect(lx, ly - 9, 22, 11, col)
        else:
            s.line(lx, ly - 4, lx + 22, ly - 4, stroke=col, width=2, dash="6,4")
        s.text(lx + 28, ly, label, size=12)
        lx += w

    label_x = MARGIN_L + LABEL_W - 10
    for pi, p in enumerate(panels):
        x0 = MARGIN_L + LABEL_W + pi * (PANEL_W + PANEL_GAP)
        scale = PANEL_W / xmax

        def X(v):
            return x0 + v * scale

        if len(panels) > 1:
            s.text(x0 + PANEL_W / 2, head_y + 14, panel_heading(p), size=13, anchor="middle", weight="bold")
            s.text(x0 + PANEL_W / 2, head_y + 30, panel_detail(p, with_file=False), size=11, anchor="middle",
                   fill="#555")
            s.text(x0 + PANEL_W / 2, head_y + 45, os.path.basename(p["path"]), size=11, anchor="middle",
                   fill="#555")

        # Zebra bands, one per op group, then the grid.
        for gi in range(len(ops)):
            if gi % 2 == 0:
                s.rect(x0, plot_top + gi * group_h, PANEL_W, group_h, "#f3f5f8")
        tick = 10.0
        v = 0.0
        while v <= xmax + 1e-9:
            if v not in (TARGET_PCT, 100.0):
                s.line(X(v), plot_top, X(v), plot_top + plot_h, stroke="#d9dde3", width=1)
            s.line(X(v), plot_top + plot_h, X(v), plot_top + plot_h + 5, stroke="#444")
            s.text(X(v), plot_top + plot_h + 19, "%g %%" % v, size=11, anchor="middle", fill="#333")
            v += tick

        groups = {g["op"]: g for g in p["groups"]}
        labels = []
        for gi, op in enumerate(ops):
            gy = plot_top + gi * group_h + GROUP_PAD / 2
            g = groups.get(op)
            if g is None:
                s.text(X(1), gy + group_h / 2, "not in this run", size=10, fill="#888")
                continue
            for bi, dt in enumerate(dtypes):
                by = gy + bi * (BAR_H + BAR_GAP)
                if dt not in g["values"]:
                    continue
                val, status = g["values"][dt]
                tip = "%s %s (%s): %.1f %% of copy%s" % (op, dt, g["size"], val,
                                                         "" if status == "ok" else ", " + status)
                s.add('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s</title></rect>'
                      % (x0, by, max(val, 0.0) * scale, BAR_H, color_of(dt, dtypes), escape(tip)))
                label = "%.0f" % val + ("" if status == "ok" else " " + status)
                labels.append((X(max(val, 0.0)) + 3, by + BAR_H - 1, label))

        # Target and copy lines over the bars, then the axes.
        s.line(X(TARGET_PCT), plot_top - 4, X(TARGET_PCT), plot_top + plot_h, stroke="#c0392b", width=1.5,
               dash="6,4")
        s.line(X(100.0), plot_top - 4, X(100.0), plot_top + plot_h, stroke="#444", width=1.5, dash="6,4")
        for lx_, ly_, label in labels:
            s.text(lx_, ly_, label, size=9, fill="#222", halo=True)
        s.line(x0, plot_top, x0, plot_top + plot_h, stroke="#444")
        s.line(x0, plot_top + plot_h, x0 + PANEL_W, plot_top + plot_h, stroke="#444")
        copy = "host memcpy" if p["backend"] == "cpu" else "device-to-device copy"
        s.text(x0 + PANEL_W / 2, plot_top + plot_h + 38, "fraction of %s bandwidth (%%)" % copy,
               size=12, anchor="middle")

    # Op labels (shared by the panels): name, then the size it is shown at.
    for gi, op in enumerate(ops):
        cy = plot_top + gi * group_h + group_h / 2
        s.text(label_x, cy - 1, op, size=12, anchor="end", weight="bold", fill="#222")
        s.text(label_x, cy + 12, " / ".join(sizes[op]), size=10, anchor="end", fill="#666")
    s.text(MARGIN_L + 4, plot_top - 8, "op (size)", size=11, fill="#555")

    ny = plot_top + plot_h + 64
    for line in note_lines:
        s.text(MARGIN_L, ny, line, size=11, fill="#555", extra=' xml:space="preserve"')
        ny += 15

    s.add("</svg>")
    return "\n".join(s.parts) + "\n"


# ---- Main -------------------------------------------------------------------------------

def main(argv):
    ap = argparse.ArgumentParser(
        prog="plot.py",
        description="Plot sigfuse-bench CSV results as an SVG bar chart of the fraction of "
                    "device-copy bandwidth per op and dtype (standard library only).")
    ap.add_argument("csv", nargs="+", metavar="CSV", help="sigfuse-bench --csv output (one or more)")
    ap.add_argument("--out", metavar="FILE.svg", help="the SVG to write (default: beside the first CSV, .svg)")
    ap.add_argument("--backend", metavar="NAME", help="plot only this backend's rows (cpu, cuda, opencl)")
    ap.add_argument("--title", metavar="TEXT", help="the chart's title")
    args = ap.parse_args(argv)

    out = args.out or os.path.splitext(args.csv[0])[0] + ".svg"
    try:
        panels = build_panels(args.csv, args.backend)
        title = args.title or "sigfuse: fraction of device-copy bandwidth per op and dtype"
        svg = render(panels, title)
        tmp = out + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(svg)
        try:
            root = ET.parse(tmp).getroot()
        except ET.ParseError as e:
            os.unlink(tmp)
            raise PlotError("the SVG is not well-formed XML: %s" % e)
        if root.tag != "{http://www.w3.org/2000/svg}svg":
            os.unlink(tmp)
            raise PlotError("the SVG's root element is %s, not svg" % root.tag)
        os.replace(tmp, out)
    except PlotError as e:
        print("plot.py: %s" % e, file=sys.stderr)
        return 1
    except OSError as e:
        print("plot.py: cannot write %s: %s" % (out, e.strerror or e), file=sys.stderr)
        return 1
    n = sum(len(p["groups"]) for p in panels)
    print("plot.py: wrote %s (%d op group%s, %d panel%s)" % (out, n, "" if n == 1 else "s",
                                                              len(panels), "" if len(panels) == 1 else "s"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
