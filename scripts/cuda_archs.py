#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""List the GPU architectures a built library carries, and fail without the required ones.

A plain CMake build must carry sm_90 machine code (H100/H200) and PTX for newer GPUs; a
build that silently fell back to nvcc's own default (sm_75 machine code, compute_75 PTX)
runs on a Hopper GPU only through the driver's JIT of old PTX, with no Hopper instruction
used. cuobjdump reads the fat binary: from the CUDA install, or fetched from PyPI the way
bench/sass.py fetches it (its find_tools).

Usage: scripts/cuda_archs.py LIBRARY [--require-sass 90] [--require-ptx]
Exit 0 when every requirement holds, 1 otherwise, 77 (skipped) when cuobjdump cannot be had.
"""
import argparse
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench"))


def listing(cuobjdump, flag, lib):
    out = subprocess.run([cuobjdump, flag, lib], capture_output=True, text=True)
    # cuobjdump exits non-zero when the file holds no entry of that kind.
    return sorted(set(int(a) for a in re.findall(r"\.sm_(\d+)[a-z]?\.(?:cubin|ptx)", out.stdout)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("library")
    ap.add_argument("--require-sass", type=int, action="append", default=[],
                    help="an SM architecture whose machine code must be present (repeatable)")
    ap.add_argument("--require-ptx", action="store_true",
                    help="PTX at least as new as the newest required machine code must be present")
    args = ap.parse_args()
    try:
        import sass
        cuobjdump = sass.find_tools(sass.find_nvcc())["cuobjdump"]
    except (SystemExit, OSError, subprocess.CalledProcessError, IndexError) as e:   # no nvcc, or no PyPI to fetch
        # cuobjdump from (anything else is a bug of this script, and fails)
        print(f"cuda_archs.py: skipped: cuobjdump not available ({e})")
        return 77
    sass_archs = listing(cuobjdump, "--list-elf", args.library)
    ptx_archs = listing(cuobjdump, "--list-ptx", args.library)
    print(f"{args.library}: machine code for sm_{', sm_'.join(map(str, sass_archs)) or ' (none)'}; "
          f"PTX for compute_{', compute_'.join(map(str, ptx_archs)) or ' (none)'}")
    problems = [f"no sm_{a} machine code" for a in args.require_sass if a not in sass_archs]
    if args.require_ptx and args.require_sass and not any(p >= max(args.require_sass) for p in ptx_archs):
        problems.append(f"no PTX of compute_{max(args.require_sass)} or newer for newer GPUs")
    for p in problems:
        print(f"cuda_archs.py: FAIL: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
