#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Everything a GPU session does, in one call of at most 8 minutes: on an
# H100/H200 machine with only what it has (nvcc, CMake, PyTorch with Triton,
# compute-sanitizer, cuobjdump; no package manager; Criterion only if carried in .deb by
# scripts/gpu_carry.sh). Run from the repository root:
#
#   SIGFUSE_COMMIT=$(git rev-parse --short HEAD) scripts/gpu_run.sh
#
# (the device machine gets the working tree without .git: name the commit, with a "-dirty"
# suffix when the tree has uncommitted changes). Steps, in order, each timed, logged and
# bounded by its own limit; every step runs even when an earlier one failed, but none
# starts past the run's budget (GPU_RUN_BUDGET, like peers.sh's PEERS_BUDGET):
#
#   step          limit  estimate (H100/H200, 16 cores; from peers.sh, bench/NOTES.md and the
#                                  H100 gpu_check.sh run of 2026-11-24)
#   environment     10 s    ~3 s   date, commit, nvidia-smi, nvcc, cmake, torch, triton
#   configure       20 s    ~7 s   plain `cmake -DCMAKE_BUILD_TYPE=Release` (no
#                                  CMAKE_CUDA_ARCHITECTURES: sm_90 + compute_90), as a user
#   build           75 s   ~25 s   everything (9 .cu files; 16 s in Nov., more templates now)
#   cuda_archs      10 s    ~2 s   the ctest: the library carries sm_90 SASS and PTX
#   suite          100 s   ~76 s   test_backend_ops through scripts/gpu_check.sh (its CUDA cases: the old
#                                  suite's ~66 s plus the cases merged in from the OpenCL suite)
#   ctest           45 s   ~45 s   the rest of ctest (gpu_check.sh, -j4; the clang sanitizer
#                                  builds, sass_budget, cuda_archs and the PyTorch extension
#                                  left out: static or CPU-only, CI runs them)
#   memcheck        40 s   ~25 s   compute-sanitizer memcheck, SIGFUSE_TEST_QUICK=1, the
#                                  CUDA f32 and bf16 cases (43 s for all dtypes in Nov.)
#   bench          105 s  ~100 s   sigfuse-bench --backend cuda --dtype f32,bf16 at its
#                                  large (default) sizes: 2.5 min for 3 dtypes in Nov.,
#                                  mostly the CPU reference's checks of every row
#   peers           95 s   ~80 s   scripts/peers.sh on that CSV: eager and torch.compile
#                                  for bce_with_logits, bce_with_logits/weighted, sigmoid_focal, silu_forward,
#                                  silu_backward, lstm_cell_forward, lstm_cell_backward, head_train_step in f32 and bf16
#                                  (elementwise and losses at 2^26 only): 18 rows, ~20 s of
#                                  start-up then 1.5-4 s each, mostly torch.compile
#   total          505 s  ~365 s   under GPU_RUN_BUDGET (450 s) plus packing (~5 s): the
#                                  budget cuts the last step short before the limits would
#
# Nothing here has run on a GPU yet: the estimates are the only timing known. Results:
#   $SIGFUSE_GPU_RUN_DIR/results/NAME/   (build-gpu-run/results/NAME; NAME is
#       <device>-<date>-gpu-run, e.g. h200-2026-12-02-gpu-run) with summary.txt (each
#       step's rc, seconds, limit, note; the key lines), environment.txt, gpu_run.log (this
#       script's output), configure.log, build.log, build-warnings.txt, cuda_archs.log,
#       gpu-check/ (test_backend_ops.log and .summary.txt, ctest.log), sanitizer/
#       (memcheck.log), sigfuse-bench.{txt,csv,json,svg}, peers/ (peers.md/.csv/.json,
#       peers.log, environment.txt). Commit it as is: copy the folder to bench/results/.
#       Logs over 4 MiB are gzipped.
#   $OUT/ (default build-gpu-run/out): at most 8 flat files, what the device tool brings
#       back: summary.txt, NAME.tar.gz (the whole folder: `tar xzf NAME.tar.gz -C
#       bench/results`), gpu_run.log, environment.txt, sigfuse-bench.csv, peers.md,
#       test_backend_ops.summary.txt. Rewritten after every step, so a run cut short still
#       brings back what it did.
#
# Without a CUDA device (no GPU listed by nvidia-smi, or SIGFUSE_GPU_RUN_CPU=1) it is a
# rehearsal: configure, build and cuda_archs as above; the suite runs and its CUDA cases
# report "skipped: no CUDA device"; ctest runs (leaving out the OpenCL suites and the
# examples' data fetches, SIGFUSE_GPU_RUN_CPU_EXCLUDE); memcheck is "skipped: no CUDA
# device"; the bench runs --backend cpu --quick (f32, bf16) and the peers --device cpu
# --quick with eager and alt (torch.compile on a CPU takes minutes; SIGFUSE_GPU_RUN_CPU_COMPILE=1
# adds it), so the CSV join, the checks and every file of the layout are exercised. Limits
# are 3x and the budget 900 s there (two shared cores).
#
# Environment knobs:
#   OUT                     where the files that come back go (build-gpu-run/out)
#   SIGFUSE_GPU_RUN_DIR     build, caches and results (build-gpu-run; ignored by git)
#   SIGFUSE_COMMIT          the commit to record (default: git, else "unknown")
#   GPU_RUN_BUDGET=SECONDS  no step starts past it, and each is cut at what is left (450)
#   SIGFUSE_GPU_RUN_CPU=1   the CPU rehearsal even where a GPU is present
#   SIGFUSE_GPU_RUN_CMAKE_ARGS  more configure arguments (default none)
#   SIGFUSE_GPU_RUN_JOBS    build jobs (nproc)
#   SIGFUSE_GPU_RUN_TORCH_EXT=1  also build and check the PyTorch extension (gpu_check.sh's
#                           step; ~1 min of C++ compilation, so left out of the 8 minutes)
#   SIGFUSE_MEMCHECK_FILTER Criterion filter for memcheck ('backend_ops/*_cuda_@(f32|bf16)*')
#   PEERS_OPS, PEERS_DTYPES the peers' cases and dtypes (the list above; f32,bf16)
#   PYTHON                  the Python with torch (default: python3, else /usr/bin/python3)
# Exit status: 0 when every step that ran passed, 1 otherwise (summary.txt says which).
set -u -o pipefail

root=$(pwd)
if [[ ! -f "$root/CMakeLists.txt" || ! -f "$root/scripts/gpu_check.sh" ]]; then
    echo "gpu_run.sh: run from the sigfuse repository root" >&2
    exit 2
fi
if ! command -v nvcc >/dev/null 2>&1 && [[ -x /usr/local/cuda/bin/nvcc ]]; then
    export PATH="/usr/local/cuda/bin:$PATH"
fi
start=$SECONDS
run_dir=${SIGFUSE_GPU_RUN_DIR:-build-gpu-run}
case "$run_dir" in /*) ;; *) run_dir="$root/$run_dir" ;; esac
build=$run_dir/build
out=${OUT:-$run_dir/out}
commit=${SIGFUSE_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}
export SIGFUSE_COMMIT=$commit   # sigfuse-bench's JSON and the scripts below record it
day=$(date -u +%F)

# ---- GPU or rehearsal ----------------------------------------------------------------------------
gpu_name=""
if [[ "${SIGFUSE_GPU_RUN_CPU:-0}" != "1" ]] && command -v nvidia-smi >/dev/null 2>&1; then
    gpu_name=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)
fi
if [[ -n "$gpu_name" ]]; then
    mode=gpu
    # "NVIDIA H200" -> h200, "NVIDIA H100 80GB HBM3" -> h100; else the name, simplified.
    tag=$(echo "$gpu_name" | tr 'A-Z' 'a-z' | grep -o -E '\b[a-z]{1,2}[0-9]{2,4}[a-z]?\b' | head -n 1)
    [[ -z "$tag" ]] && tag=$(echo "$gpu_name" | tr 'A-Z ' 'a-z-' | tr -c -d 'a-z0-9-')
    budget=${GPU_RUN_BUDGET:-450}
    scale=1
else
    mode=cpu
    tag=cpu-rehearsal
    budget=${GPU_RUN_BUDGET:-900}
    scale=3
fi
name="$tag-$day-gpu-run"
res=$run_dir/results/$name
rm -rf "$res"
mkdir -p "$res" "$out"
rm -f "$out"/*.tar.gz "$out"/summary.txt
console=$res/gpu_run.log

say() { echo "$*" | tee -a "$console"; }

source "$root/scripts/torch_python.sh"
python=$(torch_python)

# ---- Steps: name, limit, log, command; a line per step in the summary ------------------------------
rows=()       # "name|rc|seconds|limit|note"
failed=0
deb=$root/.deb/root/usr
if [[ -d "$deb" ]]; then   # Criterion carried by scripts/gpu_carry.sh
    export LD_LIBRARY_PATH="$deb/lib/x86_64-linux-gnu:$deb/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

record() {   # record NAME RC SECONDS LIMIT NOTE
    rows+=("$1|$2|$3|$4|$5")
    write_summary
    pack
}

skip() {   # skip NAME WHY
    say "== $1: $2"
    record "$1" - 0 - "$2"
}

step() {   # step NAME LIMIT LOG COMMAND...: run under timeout, log, record
    local name=$1 limit=$(($2 * scale)) log=$3
    shift 3
    local elapsed=$((SECONDS - start))
    local left=$((budget - elapsed))
    if ((left < 5)); then
        skip "$name" "skipped: past the budget (${budget} s)"
        STEP_RC=-1 STEP_NOTE="" STEP_ROW=""
        return 1
    fi
    ((limit > left)) && limit=$left
    say "== $name (limit ${limit} s; log: ${log#"$res"/})"
    local t=$SECONDS
    timeout --signal=TERM --kill-after=10 "$limit" "$@" >"$log" 2>&1
    local rc=$? secs=$((SECONDS - t)) note=""
    if [[ $rc -eq 124 || $rc -eq 137 ]]; then
        note="stopped at its limit (${limit} s)"
    fi
    say "   rc=$rc, ${secs} s${note:+ ($note)}"
    if [[ $rc -ne 0 ]]; then
        failed=$((failed + 1))
        tail -n 15 "$log" | sed 's/^/   | /' | tee -a "$console"
    fi
    STEP_RC=$rc
    STEP_NOTE=$note
    # The caller may add to the note; it records the row with `finish`.
    STEP_ROW="$name|$rc|$secs|$limit"
    return $rc
}

finish() {   # finish [MORE NOTE]: record the last step with its note (unless it was skipped)
    [[ -z "$STEP_ROW" ]] && return 0
    local note=$STEP_NOTE
    [[ -n "${1:-}" ]] && note="${note:+$note; }$1"
    rows+=("$STEP_ROW|$note")
    write_summary
    pack
}

key_lines() {   # the lines worth reading first, from the logs present
    local f
    f=$res/gpu-check/test_backend_ops.summary.txt
    [[ -f $f ]] && grep -h "Synthesis" "$f" | sed 's/^/test_backend_ops: /'
    f=$res/gpu-check/ctest.log
    [[ -f $f ]] && grep -h -E "tests passed|tests failed|^\s+[0-9]+ - " "$f" | sed 's/^/ctest: /'
    f=$res/sanitizer/memcheck.log
    [[ -f $f ]] && grep -h -E "ERROR SUMMARY|Synthesis" "$f" | sed 's/^/memcheck: /'
    f=$res/sigfuse-bench.txt
    [[ -f $f ]] && grep -h -E "^# sigfuse-bench:|^copy |FAILED|cannot" "$f" | head -n 8 | sed 's/^/bench: /'
    f=$res/peers/peers.log
    [[ -f $f ]] && grep -h "^# peers.py:" "$f" | sed 's/^/peers: /'
    return 0
}

write_summary() {
    {
        echo "# scripts/gpu_run.sh: $name, commit $commit, mode $mode${gpu_name:+ ($gpu_name)}"
        echo "# started $(date -u -d "@$run_start" +%FT%TZ), budget ${budget} s, $((SECONDS - start)) s so far"
        printf '%-14s %4s %8s %6s  %s\n' step rc seconds limit note
        local r
        for r in "${rows[@]}"; do
            IFS='|' read -r n c s l t <<<"$r"
            printf '%-14s %4s %8s %6s  %s\n' "$n" "$c" "$s" "$l" "$t"
        done
        echo
        echo "## key lines"
        key_lines
    } >"$res/summary.txt"
}

pack() {   # the folder as one archive, and the files worth reading at once, into $OUT
    local f
    find "$res" -type f -size +4M ! -name '*.gz' -exec gzip -f {} \; 2>/dev/null
    tar czf "$out/$name.tar.gz.tmp" -C "$run_dir/results" "$name" 2>/dev/null &&
        mv "$out/$name.tar.gz.tmp" "$out/$name.tar.gz"
    for f in summary.txt gpu_run.log environment.txt sigfuse-bench.csv peers/peers.md \
        gpu-check/test_backend_ops.summary.txt; do
        [[ -f "$res/$f" ]] && cp "$res/$f" "$out/"
    done
    return 0
}

run_start=$(date -u +%s)
say "# scripts/gpu_run.sh: $name (mode $mode, budget ${budget} s, commit $commit)"
say "# results: $res; files back: $out"

# ---- 1. Environment ---------------------------------------------------------------------------------
environment() {
    echo "date: $(date -u +%FT%TZ)"
    echo "commit: $commit"
    echo "mode: $mode${gpu_name:+ ($gpu_name)}"
    echo "host: $(uname -srm), $(nproc) cores"
    if command -v nvidia-smi >/dev/null 2>&1; then
        nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,clocks.sm,clocks.mem --format=csv 2>&1
    else
        echo "nvidia-smi: not found"
    fi
    nvcc --version 2>&1 | tail -n 2 || true
    cmake --version 2>&1 | head -n 1 || true
    if command -v compute-sanitizer >/dev/null 2>&1; then
        compute-sanitizer --version 2>&1 | head -n 2
    else
        echo "compute-sanitizer: not found"
    fi
    command -v cuobjdump >/dev/null 2>&1 && echo "cuobjdump: $(command -v cuobjdump)"
    [[ -d "$deb" ]] && echo "carried: .deb/root (Criterion)" || echo "carried: no .deb/root (no Criterion unless installed)"
    if [[ -n "$python" ]]; then
        "$python" -c 'import sys, torch; print("python", sys.version.split()[0], sys.executable); print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available()); print("device", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none")' 2>&1
        "$python" -c 'import triton; print("triton", triton.__version__)' 2>/dev/null || echo "triton: not importable"
    else
        echo "python: none with torch"
    fi
}
export -f environment
export commit mode gpu_name deb python
step environment 10 "$res/environment.txt" bash -c environment
finish
tee -a "$console" <"$res/environment.txt"

# ---- 2. Build as a user builds, and the cuda_archs ctest --------------------------------------------
cmake_args=(-DCMAKE_BUILD_TYPE=Release)
[[ -d "$deb" ]] && cmake_args+=("-DCMAKE_PREFIX_PATH=$deb")
# shellcheck disable=SC2206
[[ -n "${SIGFUSE_GPU_RUN_CMAKE_ARGS:-}" ]] && cmake_args+=(${SIGFUSE_GPU_RUN_CMAKE_ARGS})
tests=1
step configure 20 "$res/configure.log" cmake -S . -B "$build" "${cmake_args[@]}"
if [[ $STEP_RC -ne 0 ]] && grep -q -i criterion "$res/configure.log"; then
    finish "no Criterion: tests off (carry it with scripts/gpu_carry.sh)"
    tests=0
    step configure-no-tests 20 "$res/configure-no-tests.log" cmake -S . -B "$build" "${cmake_args[@]}" \
        -DSIGFUSE_BUILD_TESTS=OFF
fi
finish "$(grep -h -E '^-- sigfuse: ' "$res"/configure*.log 2>/dev/null | tail -n 1 | sed 's/^-- //')"
jobs=${SIGFUSE_GPU_RUN_JOBS:-$(nproc)}
if step build 60 "$res/build.log" cmake --build "$build" -j "$jobs"; then
    finish
else
    finish "building the bench and the suite alone next"
    targets=(--target sigfuse_bench)
    [[ $tests -eq 1 ]] && targets+=(--target test_backend_ops)
    step build-core 60 "$res/build-core.log" cmake --build "$build" -j "$jobs" "${targets[@]}"
    finish
fi
grep -h -i "warning" "$res"/build*.log >"$res/build-warnings.txt" 2>/dev/null || true
if [[ $tests -eq 1 ]]; then
    step cuda_archs 10 "$res/cuda_archs.log" ctest --test-dir "$build" -R '^cuda_archs$' --output-on-failure -V
else
    step cuda_archs 10 "$res/cuda_archs.log" "${python:-python3}" scripts/cuda_archs.py "$build/libsigfuse.so" \
        --require-sass 90 --require-ptx
fi
finish "$(grep -h -o -E 'skipped[^"]*|(sm_|compute_)[0-9]+[^ ]*' "$res/cuda_archs.log" | sort -u | tr '\n' ' ')"

# ---- 3. The CUDA suite and the rest of ctest, through gpu_check.sh ----------------------------------
# Criterion runs a binary's tests on every core already: a few ctest entries at a time.
ctest_jobs=4
[[ $mode == cpu ]] && ctest_jobs=2
check=(env SIGFUSE_GPU_BUILD_DIR="$build" SIGFUSE_GPU_SKIP_BUILD=1 SIGFUSE_TORCH_EXTENSION=0 SIGFUSE_SANITIZE=0
    SIGFUSE_CTEST_JOBS=$ctest_jobs)
# Left out: cuda_archs (a step of its own), the clang sanitizer builds and sass_budget (static
# checks that need no GPU and take minutes of compilation; CI runs them).
exclude='cuda_archs|sanitize_.*|sass_budget'
if [[ $mode == cpu ]]; then
    # The OpenCL suites run in CI (PoCL), so do the reference suites, which take minutes on
    # two cores; the bench step runs the quick bench; the examples' data fetches need the network.
    exclude="$exclude|${SIGFUSE_GPU_RUN_CPU_EXCLUDE:-test_opencl|opencl_oclgrind|.*_opencl|test_ref_.*|bench_quick|.*_data|breast_cancer_.*|fashion_mnist_.*}"
fi
if [[ $tests -eq 0 ]]; then
    skip suite "skipped: no Criterion (tests off)"
    skip ctest "skipped: no Criterion (tests off)"
else
    mkdir -p "$res/gpu-check"
    step suite 100 "$res/gpu-check/gpu_check-suite.log" "${check[@]}" SIGFUSE_GPU_CTEST=0 OUT="$res/gpu-check" \
        scripts/gpu_check.sh
    note=$(grep -h "Synthesis" "$res/gpu-check/test_backend_ops.summary.txt" 2>/dev/null | sed 's/^\[====\] //')
    [[ $mode == cpu ]] && grep -q "skipped: no CUDA device" "$res/gpu-check/test_backend_ops.log" 2>/dev/null &&
        note="CUDA cases: skipped: no CUDA device; $note"
    finish "$note"
    step ctest 45 "$res/gpu-check/gpu_check-ctest.log" "${check[@]}" SIGFUSE_GPU_SUITE=0 \
        SIGFUSE_CTEST_EXCLUDE="$exclude" OUT="$res/gpu-check" scripts/gpu_check.sh
    finish "$(grep -h -E 'tests passed' "$res/gpu-check/ctest.log" 2>/dev/null)"
    if [[ "${SIGFUSE_GPU_RUN_TORCH_EXT:-0}" == "1" ]]; then
        step torch-extension 90 "$res/gpu-check/gpu_check-torch.log" "${check[@]}" SIGFUSE_GPU_SUITE=0 \
            SIGFUSE_GPU_CTEST=0 SIGFUSE_TORCH_EXTENSION=1 OUT="$res/gpu-check" scripts/gpu_check.sh
        finish
    fi
fi

# ---- 4. compute-sanitizer memcheck on the small cases -----------------------------------------------
if [[ $mode == cpu ]]; then
    skip memcheck "skipped: no CUDA device"
elif [[ $tests -eq 0 ]]; then
    skip memcheck "skipped: no Criterion (tests off)"
else
    mkdir -p "$res/sanitizer"
    step memcheck 40 "$res/sanitizer/gpu_check-memcheck.log" "${check[@]}" SIGFUSE_GPU_SUITE=0 SIGFUSE_GPU_CTEST=0 \
        SIGFUSE_SANITIZE=1 SIGFUSE_SANITIZE_TOOLS=memcheck \
        SIGFUSE_MEMCHECK_FILTER="${SIGFUSE_MEMCHECK_FILTER:-backend_ops/*_cuda_@(f32|bf16)*}" \
        OUT="$res/sanitizer" scripts/gpu_check.sh
    finish "$(grep -h "ERROR SUMMARY" "$res/sanitizer/memcheck.log" 2>/dev/null | tail -n 1 | sed 's/^=* *//')"
fi

# ---- 5. sigfuse-bench at the large sizes, f32 and bf16 (each row checked before it is timed) ---------
bench=(--backend cuda --dtype f32,bf16)
[[ $mode == cpu ]] && bench=(--backend cpu --dtype f32,bf16 --quick)
if [[ -x "$build/bench/sigfuse-bench" ]]; then
    step bench 105 "$res/sigfuse-bench.txt" "$build/bench/sigfuse-bench" "${bench[@]}" \
        --csv "$res/sigfuse-bench.csv" --json "$res/sigfuse-bench.json"
    note="${bench[*]}"
    [[ $mode == cpu ]] && note="CUDA: skipped: no CUDA device; rehearsal: $note"
    rows_n=0
    [[ -f "$res/sigfuse-bench.csv" ]] && rows_n=$(($(wc -l <"$res/sigfuse-bench.csv") - 1))
    grep -q FAILED "$res/sigfuse-bench.txt" 2>/dev/null && note="$note; some rows FAILED"
    finish "$note; $rows_n rows"
    if [[ -s "$res/sigfuse-bench.csv" ]]; then   # the chart, as bench.sh --save draws it
        timeout 20 "${python:-python3}" bench/plot.py "$res/sigfuse-bench.csv" --out "$res/sigfuse-bench.svg" \
            >>"$console" 2>&1 || say "   (bench/plot.py failed; no chart)"
    fi
else
    skip bench "skipped: no sigfuse-bench (the build failed)"
fi

# ---- 6. The peers: PyTorch eager and torch.compile on the same cases ---------------------------------
ops=${PEERS_OPS:-bce_with_logits,bce_with_logits/weighted,sigmoid_focal,silu_forward,silu_backward,lstm_cell_forward,lstm_cell_backward,head_train_step}
dtypes=${PEERS_DTYPES:-f32,bf16}
peers=(--ops "$ops" --dtypes "$dtypes")
if [[ $mode == gpu ]]; then
    peers+=(--size $((1 << 26)))
else
    impls=eager,alt
    [[ "${SIGFUSE_GPU_RUN_CPU_COMPILE:-0}" == "1" ]] && impls=eager,compile,alt
    peers+=(--device cpu --quick --sigfuse-backend cpu --impls "$impls")
fi
if [[ -z "$python" ]]; then
    skip peers "skipped: no Python with torch"
else
    [[ -f "$res/sigfuse-bench.csv" ]] || : >"$res/sigfuse-bench.csv"
    mkdir -p "$res/peers"
    elapsed=$((SECONDS - start))
    plimit=$((90 * scale))
    ((plimit > budget - elapsed)) && plimit=$((budget - elapsed))
    # peers.sh stops starting rows 20 s before its budget; leave 10 s more for the table.
    step peers 90 "$res/peers/peers.out" env OUT="$res/peers" SIGFUSE_CSV="$res/sigfuse-bench.csv" \
        SIGFUSE_PEERS_BUILD_DIR="$run_dir/peers" PEERS_BUDGET=$((plimit - 10)) PYTHON="$python" \
        scripts/peers.sh "${peers[@]}"
    note="${peers[*]}"
    [[ $mode == cpu ]] && note="CUDA: skipped: no CUDA device; rehearsal: $note"
    tally=$(grep -h -E '^# peers.py: [0-9]+ rows|^peers.py: ' "$res/peers/peers.log" 2>/dev/null | tail -n 1 |
        sed 's/^# peers.py: //')
    finish "$note${tally:+; $tally}"
fi

# ---- 7. The summary ---------------------------------------------------------------------------------
say
say "gpu_run.sh: $failed step(s) failed, $((SECONDS - start)) s; results in $res"
write_summary
pack
cat "$res/summary.txt"
[[ $failed -eq 0 ]]
