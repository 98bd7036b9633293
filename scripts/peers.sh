#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# sigfuse beside PyTorch on the GPU machine: builds sigfuse-bench (CUDA on,
# OpenCL off, tests and examples off), runs it on the CUDA backend with --csv, then runs
# bench/peers.py (PyTorch eager, torch.compile and PyTorch's own fused kernels on the same
# cases, sizes and dtypes) with that CSV, and writes everything to $OUT. Run from the
# repository root:
#
#   scripts/peers.sh [bench/peers.py options]      e.g.  scripts/peers.sh --dtypes f32
#
# --ops and --dtypes are passed on to sigfuse-bench as well (--op / --dtype), so that both
# time the same rows. Files in $OUT (build-peers/out when OUT is unset):
#   environment.txt     GPU, driver, nvcc, torch, triton, commit
#   build.log           configure + build
#   sigfuse.{txt,csv,json}   sigfuse-bench's table and results (with each head's cuBLAS
#                       products alone, head_*_gemms, and its workspace bytes)
#   peers.md            the table: sigfuse us, eager us, compile us, ratios, alt, and for the
#                       heads peak memory (PyTorch's max_memory_allocated; sigfuse's buffers +
#                       workspace; the least an unfused head holds) and sigfuse / its GEMMs
#   peers.{csv,json}    the same with every column (min/max, GB/s, compile time, checks)
#   peers.log           peers.py's progress (one line per row) and warnings
#
# Environment knobs:
#   SIGFUSE_PEERS_BUILD_DIR  build folder (build-peers; ignored by git, kept on a warm machine)
#   SIGFUSE_CSV=FILE         use this sigfuse-bench CSV instead of running sigfuse-bench
#   PEERS_BUDGET=SECONDS     the whole script's time target (default 480): peers.py starts no
#                            new row past it (rows not reached are listed as skipped), and is
#                            stopped at 570 s whatever happens (the device allows 600 s a call)
#   PYTHON                   the Python with torch (default: python3)
#   SIGFUSE_HEAD_CHUNK=R     sigfuse-bench's --head-chunk (default 0: the library's default
#                            chunk, whose workspace is at most PyTorch's N x L logits, so the
#                            heads' memory beside Linear + BCE is what a user gets by default)
#
# Time on an H100 (estimate; nothing here has run on one yet): build about 1 min (9 .cu
# files, cold); sigfuse-bench about 2.5 min for every case (its CPU reference checks
# dominate; bench/NOTES.md has 2.5 min on the 16-core H100 machine), about a third of that per
# dtype (the heads' products-alone rows add 4 timings per dtype, well under a second each); peers.py about 20 s of torch/Triton start-up, then per row (114 rows for 3 dtypes)
# a fraction of a second of eager timing and checks plus 1.5-4 s for torch.compile's
# first call (Dynamo, Inductor, Triton compiling one to a few kernels; forward and
# backward for the fused losses and the head) -- about 4-6 min for all three dtypes.
# The whole run with every dtype is therefore ~8-10 min: PEERS_BUDGET keeps it under
# 8 min and lists what it did not reach. Two calls fit comfortably:
#   scripts/peers.sh --dtypes f32          (~4-5 min cold)
#   scripts/peers.sh --dtypes f16,bf16     (~5-6 min; the build is kept on a warm machine)
# Reps are sigfuse-bench's (20 after 3 warm-up): at these sizes timing is well under
# a second per row, so fewer reps would not buy time; compilation is the cost.
set -u -o pipefail

root=$(pwd)
if [[ ! -f "$root/CMakeLists.txt" || ! -f "$root/bench/peers.py" ]]; then
    echo "peers.sh: run from the sigfuse repository root" >&2
    exit 2
fi
start=$SECONDS
build=${SIGFUSE_PEERS_BUILD_DIR:-build-peers}
out=${OUT:-$build/out}
budget=${PEERS_BUDGET:-480}
python=${PYTHON:-python3}
head_chunk=${SIGFUSE_HEAD_CHUNK:-0}
mkdir -p "$out"

# ---- Arguments: peers.py's, with --ops / --dtypes also given to sigfuse-bench -----------
peers_args=("$@")
bench_filters=()
have_budget=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --ops) [[ $# -ge 2 ]] && bench_filters+=(--op "$2") && shift ;;
        --ops=*) bench_filters+=(--op "${1#--ops=}") ;;
        --dtypes) [[ $# -ge 2 ]] && bench_filters+=(--dtype "$2") && shift ;;
        --dtypes=*) bench_filters+=(--dtype "${1#--dtypes=}") ;;
        --budget | --budget=*) have_budget=1 ;;
    esac
    shift
done

if ! command -v nvcc >/dev/null 2>&1 && [[ -x /usr/local/cuda/bin/nvcc ]]; then
    export PATH="/usr/local/cuda/bin:$PATH"
fi
# Inductor's and Triton's caches in the build folder: a second call on a warm machine
# (other dtypes, or rows a first call did not reach) reuses what the first compiled.
case "$build" in /*) cache="$build" ;; *) cache="$root/$build" ;; esac
export TORCHINDUCTOR_CACHE_DIR="$cache/inductor-cache"
export TRITON_CACHE_DIR="$cache/triton-cache"

{
    echo "date: $(date -u +%FT%TZ)"
    # The device machine gets the working tree without .git: say the commit with SIGFUSE_COMMIT.
    echo "commit: ${SIGFUSE_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}"
    echo "arguments: ${peers_args[*]:-(none)}"
    echo "sigfuse-bench head chunk: ${head_chunk} rows (SIGFUSE_HEAD_CHUNK; 0: the library default)"
    nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv 2>&1 || true
    nvcc --version 2>&1 | tail -n 2 || true
    cmake --version 2>&1 | head -n 1 || true
    "$python" -c 'import sys, torch; print("python", sys.version.split()[0]); print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())' 2>&1 || true
    "$python" -c 'import triton; print("triton", triton.__version__)' 2>&1 || true
    "$python" -c 'import torchvision; print("torchvision", torchvision.__version__)' 2>/dev/null || echo "torchvision: not importable (peers.py inlines its focal loss)"
} >"$out/environment.txt"
cat "$out/environment.txt"

status=0

# ---- sigfuse-bench ------------------------------------------------------------------------
if [[ -n "${SIGFUSE_CSV:-}" ]]; then
    echo "== sigfuse-bench: using $SIGFUSE_CSV"
    cp "$SIGFUSE_CSV" "$out/sigfuse.csv"
else
    echo "== build (log: $out/build.log)"
    t=$SECONDS
    if ! { cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DSIGFUSE_CUDA=ON -DSIGFUSE_OPENCL=OFF \
            -DSIGFUSE_BUILD_TESTS=OFF -DSIGFUSE_BUILD_EXAMPLES=OFF &&
           cmake --build "$build" --target sigfuse_bench -j "$(nproc)"; } >"$out/build.log" 2>&1; then
        tail -n 40 "$out/build.log" | sed 's/^/   | /'
        echo "peers.sh: the build failed" >&2
        exit 1
    fi
    echo "   $((SECONDS - t)) s"
    [[ "$head_chunk" != 0 ]] && bench_filters+=(--head-chunk "$head_chunk")
    echo "== sigfuse-bench --backend cuda ${bench_filters[*]:-} (log: $out/sigfuse.txt)"
    t=$SECONDS
    "$build/bench/sigfuse-bench" --backend cuda ${bench_filters[@]+"${bench_filters[@]}"} \
        --csv "$out/sigfuse.csv" --json "$out/sigfuse.json" >"$out/sigfuse.txt" 2>&1
    rc=$?
    echo "   rc=$rc, $((SECONDS - t)) s"
    if [[ $rc -ne 0 ]]; then
        status=1
        grep -E "FAILED|unsupported|cannot" "$out/sigfuse.txt" | head -n 20 | sed 's/^/   | /'
        tail -n 5 "$out/sigfuse.txt" | sed 's/^/   | /'
    fi
    if [[ ! -s "$out/sigfuse.csv" ]]; then
        echo "peers.sh: sigfuse-bench wrote no CSV; peers.py runs without sigfuse's times" >&2
    fi
fi

# ---- peers.py -------------------------------------------------------------------------------
elapsed=$((SECONDS - start))
left=$((budget - elapsed - 20))          # 20 s for the last row and the table
(( left < 30 )) && left=30
hard=$((570 - elapsed))
(( hard < 60 )) && hard=60
extra=()
[[ $have_budget -eq 0 ]] && extra+=(--budget "$left")
[[ -s "$out/sigfuse.csv" ]] && extra+=(--sigfuse "$out/sigfuse.csv")
echo "== bench/peers.py ${peers_args[*]:-} (budget ${left} s, stopped at ${hard} s; log: $out/peers.log)"
t=$SECONDS
timeout --signal=TERM --kill-after=10 "$hard" "$python" bench/peers.py ${extra[@]+"${extra[@]}"} \
    --csv "$out/peers.csv" --json "$out/peers.json" --md "$out/peers.md" \
    ${peers_args[@]+"${peers_args[@]}"} 2>"$out/peers.log"
rc=$?
echo "   rc=$rc, $((SECONDS - t)) s"
if [[ $rc -ne 0 ]]; then
    status=1
    [[ $rc -eq 124 || $rc -eq 137 ]] && echo "peers.py was stopped at ${hard} s: peers.csv/json hold the rows it finished" >&2
    tail -n 15 "$out/peers.log" | sed 's/^/   | /'
fi
grep -E "^# peers.py:" "$out/peers.log" || true
echo "peers.sh: done in $((SECONDS - start)) s; results in $out"
exit "$status"
