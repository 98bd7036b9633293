#!/usr/bin/env python3
"""Count the machine instructions of every CUDA kernel, without a GPU.

Compiles each cuda/*.cu for one architecture (sm_90 by default) with nvcc -cubin, the
flags the library is built with, disassembles it with cuobjdump/nvdisasm and prints per
kernel: registers, static instructions, the body of its hottest loop (the longest
backward branch: the grid-stride loop of the flat kernels) and that body per element
where the elements one pass handles (V, times U for sf_ew_kernel) are in its name. Also the special-function (MUFU),
double (D*, F2F.F64) and call/branch-sync instructions of the loop, and `unguarded`: the
loop per element without the blocks that a conditional branch to the end of a
BSSY/BSYNC region jumps over. That is the common path where those blocks are rare slow
paths set apart by nvcc (the losses' 0 * inf limits: bench/NOTES.md); where they are the
choices of a call (focal's gamma = 2, 1 or pow), it is no path at all.

Why: the losses' times on an H100 did not depend on the bytes they move, so they are
bound by instructions issued per element (bench/NOTES.md). A static count is no timing,
but it is what a change to the per-element math changes, and it can be taken here.

cuobjdump and nvdisasm are not in every CUDA install (Debian's toolkit here has neither);
when they are missing, their wheels (nvidia-cuda-cuobjdump, nvidia-cuda-nvdisasm) are
fetched from PyPI into a cache folder. Usage:
    python3 bench/sass.py [--arch 90] [--filter loss] [--csv out.csv]
"""
import argparse
import csv
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.path.join(os.path.expanduser("~"), ".cache", "sigfuse-sass")


def find_nvcc():
    for cand in (shutil.which("nvcc"), "/usr/local/cuda/bin/nvcc"):
        if cand and os.path.exists(cand):
            return cand
    sys.exit("sass.py: nvcc not found (PATH or /usr/local/cuda/bin)")


def find_tools():
    """cuobjdump and nvdisasm: from PATH, the CUDA install, or PyPI wheels in CACHE."""
    cuda_bin = os.path.dirname(find_nvcc())
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
                subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, pkg],
                               check=True)
                wheel = glob.glob(os.path.join(tmp, pkg.replace("-", "_") + "-*.whl"))[0]
                with zipfile.ZipFile(wheel) as z:
                    member = next(m for m in z.namelist() if m.endswith("/bin/" + tool))
                    dest = os.path.join(CACHE, "bin", tool)
                    with z.open(member) as src, open(dest, "wb") as out:
                        shutil.copyfileobj(src, out)
                    os.chmod(dest, 0o755)
                found[tool] = dest
    return found


def compile_cubin(nvcc, src, arch, out):
    cmd = [nvcc, "-std=c++17", "-O3", f"-arch=sm_{arch}", "-cubin", "-o", out,
           "-I" + os.path.join(ROOT, "include"), "-I" + os.path.join(ROOT, "host"),
           "-I" + os.path.join(ROOT, "kernels"), "-DSIGFUSE_WITH_CUDA=1", "-DSIGFUSE_SHARED_BUILD=1", src]
    subprocess.run(cmd, check=True)


INSN = re.compile(r"/\*([0-9a-f]{4,})\*/\s+(@!?U?P[T0-9]+\s+)?([A-Z][A-Z0-9_.]*)([^;]*);")


def demangle(names):
    out = subprocess.run(["c++filt"], input="\n".join(names), capture_output=True, text=True)
    if out.returncode != 0:
        return names
    return out.stdout.split("\n")[: len(names)]


def short_name(full):
    """void sf_loss_kernel<(anonymous namespace)::bce_op, float, float, 4>(...) ->
    sf_loss_kernel<bce_op, f32, f32, 4>"""
    name = full.replace("(anonymous namespace)::", "")
    for long, short in (("__nv_bfloat16", "bf16"), ("__half", "f16"), ("unsigned char", "u8"), ("float", "f32")):
        name = name.replace(long, short)
    m = re.match(r"(?:void )?([\w:]+(?:<.*>)?)\(", name)
    return m.group(1) if m else name


def elements_per_pass(name):
    """The product of the trailing integer template arguments: V for the loss kernel,
    V and the unroll U for the elementwise one (sf_ew_kernel<op, T, V, U>)."""
    m = re.search(r"((?:,\s*\d+)+)>$", name)
    if not m:
        return None
    prod = 1
    for v in re.findall(r"\d+", m.group(1)):
        prod *= int(v)
    return prod


def analyse(sass, regs):
    rows = []
    for chunk in re.split(r"\n\s*Function : ", sass)[1:]:
        mangled = chunk.split("\n", 1)[0].strip()
        insns = [(int(a, 16), op, rest) for a, _, op, rest in INSN.findall(chunk) if op != "NOP"]
        predicated = {int(a, 16) for a, pred, op, _ in INSN.findall(chunk) if pred}
        lo, hi = None, None
        for addr, op, rest in insns:
            if op.startswith("BRA"):
                t = re.search(r"0x([0-9a-f]+)", rest)
                if t and int(t.group(1), 16) < addr and (lo is None or addr - int(t.group(1), 16) > hi - lo):
                    lo, hi = int(t.group(1), 16), addr
        body = [i for i in insns if lo is not None and lo <= i[0] <= hi] or insns
        count = lambda pred: sum(1 for _, op, _ in body if pred(op))
        # Blocks a conditional forward branch to a BSYNC jumps over (see the docstring).
        bsync = {a for a, op, _ in body if op.startswith("BSYNC")}
        guarded = 0
        for addr, op, rest in body:
            t = re.search(r"0x([0-9a-f]+)", rest)
            target = int(t.group(1), 16) if t else -1
            if op.startswith("BRA") and addr in predicated and target > addr and target in bsync:
                guarded += sum(1 for b in body if addr < b[0] < target)
        rows.append({
            "mangled": mangled,
            "regs": regs.get(mangled, ""),
            "static": len(insns),
            "loop": len(body) if lo is not None else "",
            "mufu": count(lambda op: op.startswith("MUFU")),
            "fp64": count(lambda op: op[:4] in ("DADD", "DMUL", "DFMA") or op.startswith("F2F.F64")),
            "calls_syncs": count(lambda op: op.startswith(("CALL", "BSSY", "BSYNC"))),
            "guarded": guarded,
        })
    names = demangle([r["mangled"] for r in rows])
    for r, n in zip(rows, names):
        r["kernel"] = short_name(n)
        v = elements_per_pass(r["kernel"])
        r["per_element"] = round(r["loop"] / v, 1) if v and r["loop"] != "" else ""
        r["unguarded"] = round((r["loop"] - r["guarded"]) / v, 1) if v and r["loop"] != "" else ""
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", default="90", help="SM architecture to compile for (default 90: H100)")
    ap.add_argument("--filter", default="", help="only kernels whose short name contains this")
    ap.add_argument("--csv", help="also write the rows to this CSV file")
    args = ap.parse_args()
    nvcc = find_nvcc()
    tools = find_tools()
    env = dict(os.environ, PATH=os.path.dirname(tools["nvdisasm"]) + os.pathsep + os.environ.get("PATH", ""))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for src in sorted(glob.glob(os.path.join(ROOT, "cuda", "*.cu"))):
            cubin = os.path.join(tmp, os.path.basename(src) + ".cubin")
            compile_cubin(nvcc, src, args.arch, cubin)
            sass = subprocess.run([tools["cuobjdump"], "-sass", cubin], env=env, check=True,
                                  capture_output=True, text=True).stdout
            res = subprocess.run([tools["cuobjdump"], "-res-usage", cubin], env=env, check=True,
                                 capture_output=True, text=True).stdout
            regs = dict(re.findall(r"Function (\S+):\s*\n\s*REG:(\d+)", res))
            for r in analyse(sass, regs):
                r["file"] = os.path.basename(src)
                if args.filter in r["kernel"]:
                    rows.append(r)
    cols = ["file", "kernel", "regs", "static", "loop", "per_element", "unguarded", "mufu", "fp64", "calls_syncs"]
    print(f"sm_{args.arch}; loop = static instructions of the longest backward branch (NOPs left out); "
          "per_element = loop / (V * U), the elements one pass of the loop handles")
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r[c]) for c in cols) + " |")
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)


if __name__ == "__main__":
    main()
