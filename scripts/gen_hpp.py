#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write include/sigfuse_ops.hpp, the op-by-op part of the C++ layer, from the op catalogue.

The catalogue (host/sf_catalog.h) lists every op's arguments once. The C++ layer's
argument structs (views in place of buffer pointers, the catalogue's defaults) and its
methods (each op in two spellings: throwing, and returning sigfuse::result with
sigfuse::nothrow) follow from it mechanically, so they are generated into
include/sigfuse_ops.hpp, which include/sigfuse.hpp (written by hand) includes; its
sigfuse::context derives from the generated sigfuse::detail::ops.

  scripts/gen_hpp.py           rewrite include/sigfuse_ops.hpp
  scripts/gen_hpp.py --check   exit 1 if it differs from what the catalogue gives (a test)
"""
import argparse
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
CATALOG = ROOT / "host" / "sf_catalog.h"
HEADER = ROOT / "include" / "sigfuse_ops.hpp"

# What each family's methods are, said once above them.
FAMILY_NOTES = {
    "activation": "Activations: n elements; x, y, dy, dx of one float dtype.",
    "glu": "GLU / SwiGLU: n pairs (a, b); da or db may be absent, not both.",
    "lstm": "LSTM cells.",
    "gru": "GRU cells.",
    "bce": "Binary cross-entropy with logits.",
    "focal": "Sigmoid focal loss.",
    "asymmetric": "Asymmetric loss (ASL).",
    "bce_dice": "BCE + soft Dice over [images, pixels].",
    "head": "Multi-label heads (their workspace size queries are context's own).",
    "topk": "Top-k labels of a head, and the merge of label shards' lists.",
}


def unwrap(text):
    """The catalogue with its macro continuations joined into single lines."""
    return re.sub(r"\\\n", " ", text)


def parse(text):
    flat = unwrap(text)
    m = re.search(r"#define SF_CATALOG\(OP\)(.*)", flat)
    ops = [dict(name=n, family=f, shape=s, args=a)
           for n, f, s, a in re.findall(r"OP\((\w+), (\w+), (\w+), (\w+)\)", m.group(1))]
    fields, aliases = {}, {}
    for name, body in re.findall(r"#define SF_FIELDS_(\w+)\(SIZE, OPT, BUF, WS\)(.*)", flat):
        items = []
        for kind, inner in re.findall(r"\b(SIZE|OPT|BUF|WS)\(([^()]*)\)", body):
            parts = [p.strip() for p in inner.split(",")]
            items.append((kind, parts))
        fields[name] = items
    for name, target in re.findall(r"#define SF_FIELDS_(\w+) SF_FIELDS_(\w+)\s*$", flat, re.M):
        aliases[name] = target
    for op in ops:
        op["fields"] = fields[aliases.get(op["name"], op["name"])]
    return ops


def cpp_type(c_type):
    return {"float": "float", "sigfuse_reduction": "sigfuse_reduction"}[c_type]


def args_struct(op):
    """The C++ argument struct of a struct-taking op."""
    c_struct = op["args"]
    name = c_struct[len("sigfuse_"):]
    sizes = [p[0] for k, p in op["fields"] if k == "SIZE"]
    opts = [p for k, p in op["fields"] if k == "OPT"]
    ins = [p[0] for k, p in op["fields"] if k == "BUF" and p[2] == "IN"]
    outs = [p[0] for k, p in op["fields"] if k == "BUF" and p[2] == "OUT"]
    ws = [p for k, p in op["fields"] if k == "WS"]
    out = [f"struct {name} {{", f"    std::int64_t {', '.join(s + ' = 0' for s in sizes)};"]
    for field, ctype, default, _rule in opts:
        out.append(f"    {cpp_type(ctype)} {field} = {default};")
    out.append(f"    view {', '.join(ins)};   /* inputs */")
    out.append(f"    view {', '.join(outs)};   /* outputs */")
    for field, bytes_field in ws:
        out.append(f"    view {field};   /* or set_workspace(ws) */")
        out.append(f"    std::size_t {bytes_field} = 0;")
    out.append("")
    if ws:
        out.append("    inline void set_workspace(const sigfuse::workspace &ws) noexcept;")
    out.append(f"    {c_struct} c_args() const noexcept")
    out.append("    {")
    out.append(f"        {c_struct} a{{}};")
    for s in sizes:
        out.append(f"        a.{s} = {s};")
    for field, *_ in opts:
        out.append(f"        a.{field} = {field};")
    for b in ins + outs:
        out.append(f"        a.{b} = {b}.get();")
    for field, bytes_field in ws:
        out.append(f"        a.{field} = {field}.get();")
        out.append(f"        a.{bytes_field} = {bytes_field};")
    out.append("        return a;")
    out.append("    }")
    out.append("};")
    return out


def methods(op):
    """The two spellings of one op."""
    name = op["name"]
    if op["shape"] == "EW":
        params, call = [], ["self().get()"]
        for kind, p in op["fields"]:
            if kind == "SIZE":
                params.append(("std::int64_t", p[0]))
                call.append(p[0])
            elif kind == "OPT":
                params.append((cpp_type(p[1]), p[0]))
                call.append(p[0])
            elif kind == "BUF":
                params.append(("const view &", p[0]))
                call.append(p[0] + ".get()")
        decl = ", ".join(f"{t} {n}" if not t.endswith("&") else f"{t}{n}" for t, n in params)
        names = ", ".join(n for _, n in params)
        body = f"return self().finish(sigfuse_{name}({', '.join(call)}));"
    else:
        struct = op["args"][len("sigfuse_"):]
        decl = f"const {struct} &a"
        names = "a"
        body = f"const {op['args']} c = a.c_args();\n        return self().finish(sigfuse_{name}(self().get(), &c));"
    throwing = f"    void {name}({decl}) {{ {name}({names}, nothrow).value(); }}"
    if len(throwing) > 120:
        throwing = f"    void {name}({decl})\n    {{\n        {name}({names}, nothrow).value();\n    }}"
    return [f"    result<void> {name}({decl}, nothrow_t)", "    {", f"        {body}", "    }", throwing]


PREAMBLE = """// SPDX-License-Identifier: MIT
/*
 * Generated by scripts/gen_hpp.py from the op catalogue (host/sf_catalog.h): do not edit;
 * change the catalogue and run the script (ctest hpp_generated fails while this file is
 * stale). Included by sigfuse.hpp, after its views and before its context: the argument
 * structs of the struct-taking ops (the C structs with views in place of buffer pointers,
 * a default view is absent, and the C defaults; c_args() gives the C struct, whose buffer
 * pointers point into this object: keep it alive), and detail::ops, every op in its two
 * spellings, which sigfuse::context derives from.
 */
#ifndef SIGFUSE_OPS_HPP
#define SIGFUSE_OPS_HPP

#ifndef SIGFUSE_HPP
#error "include sigfuse.hpp, which includes this file"
#endif

namespace sigfuse {
"""

OPS_OPEN = """namespace detail {
/* Context is sigfuse::context: get() is its sigfuse_ctx, finish() turns a status into a
 * result with the context's message. */
template <class Context>
class ops {
public:"""

OPS_CLOSE = """
private:
    const Context &self() const noexcept { return static_cast<const Context &>(*this); }
};
} // namespace detail

} // namespace sigfuse

#endif /* SIGFUSE_OPS_HPP */
"""


def generate(ops):
    out = [PREAMBLE]
    for op in ops:
        if op["shape"] != "EW":
            out += args_struct(op) + [""]
    out.append(OPS_OPEN)
    family = None
    for op in ops:
        if op["family"] != family:
            if family is not None:
                out.append("")
            family = op["family"]
            if family not in FAMILY_NOTES:
                sys.exit(f"gen_hpp.py: family '{family}' (op {op['name']}) has no line in FAMILY_NOTES: add one")
            out.append(f"    /* -- {FAMILY_NOTES[family]} -- */")
        out += methods(op)
    out.append(OPS_CLOSE)
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="fail if include/sigfuse_ops.hpp is not up to date")
    args = ap.parse_args()
    new = generate(parse(CATALOG.read_text()))
    old = HEADER.read_text() if HEADER.exists() else ""
    if args.check:
        if new != old:
            print(f"{HEADER} differs from what {CATALOG} gives; run scripts/gen_hpp.py", file=sys.stderr)
            return 1
        print("sigfuse_ops.hpp is what the catalogue gives")
        return 0
    if new != old:
        HEADER.write_text(new)
        print(f"wrote {HEADER}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
