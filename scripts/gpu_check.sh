#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Build sigfuse with the CUDA backend on a GPU machine and check it: the test suite
# (every op on the device against the CPU reference), then compute-sanitizer's memcheck,
# racecheck, initcheck and synccheck over the backend-ops tests (reduced: quick sizes, a
# filter for the slower tools). Run from the repository root:
#
#   scripts/gpu_check.sh
#
# Logs go to $OUT (or build-gpu/logs when OUT is unset). Criterion, which the GPU machine
# lacks, may be carried as unpacked Debian packages in .deb/root (dpkg -x): its headers in
# .deb/root/usr/include, libraries in .deb/root/usr/lib/x86_64-linux-gnu; the examples'
# data in .deb/data (scripts/gpu_carry.sh puts both there). With the data, ctest runs
# the examples on CUDA, and the PyTorch extension (examples/torch_extension) is checked
# against PyTorch on the GPU as a step of its own that fails unless its CUDA path ran.
#
# Environment knobs:
#   SIGFUSE_GPU_BUILD_DIR    build folder (build-gpu)
#   SIGFUSE_GPU_SKIP_BUILD=1 use the build already in that folder (configured with tests
#                            on): no configure, no build (scripts/gpu_run.sh builds first)
#   SIGFUSE_GPU_SUITE=0      skip the device suite (test_backend_ops)
#   SIGFUSE_GPU_CTEST=0      skip the rest of ctest
#   SIGFUSE_TORCH_EXTENSION=0  skip the PyTorch extension step
#                            (all three 0 and SIGFUSE_SANITIZE_TOOLS=memcheck: memcheck alone)
#   SIGFUSE_CTEST_EXCLUDE    more ctest names to leave out, a regex (default: none; the
#                            device suite and the extension, run as steps of their own,
#                            are always left out)
#   SIGFUSE_CTEST_JOBS       ctest's -j (default 1: one test at a time)
#   SIGFUSE_SANITIZE=0       skip compute-sanitizer
#   SIGFUSE_SANITIZE_TOOLS   which compute-sanitizer tools, in order (default:
#                            'memcheck racecheck initcheck synccheck')
#   SIGFUSE_SANITIZE_FILTER  Criterion filter for racecheck/initcheck/synccheck
#                            (default: the f32 tests, 'backend_ops/*_f32')
#   SIGFUSE_MEMCHECK_FILTER  Criterion filter for memcheck (default: every test)
# Exits non-zero when any step fails; every step runs regardless, so one run gives all logs.
set -u -o pipefail

root=$(pwd)
if [[ ! -f "$root/CMakeLists.txt" || ! -d "$root/cuda" ]]; then
    echo "gpu_check.sh: run from the sigfuse repository root" >&2
    exit 2
fi
build=${SIGFUSE_GPU_BUILD_DIR:-build-gpu}
logs=${OUT:-$build/logs}
mkdir -p "$logs"
failures=()

step() {   # step NAME LOGFILE COMMAND...: run, log, remember a failure
    local name=$1 log=$2
    shift 2
    echo "== $name (log: $log)"
    local start=$SECONDS
    "$@" >"$log" 2>&1
    local rc=$?
    echo "   rc=$rc, $((SECONDS - start)) s"
    if [[ $rc -ne 0 ]]; then
        failures+=("$name (rc $rc, $log)")
        tail -n 40 "$log" | sed 's/^/   | /'
    fi
    return $rc
}

cmake_args=(-DCMAKE_BUILD_TYPE=Release -DSIGFUSE_CUDA=ON -DSIGFUSE_OPENCL=OFF -DSIGFUSE_BUILD_TESTS=ON)
if [[ -d "$root/.deb/root/usr" ]]; then
    cmake_args+=("-DCMAKE_PREFIX_PATH=$root/.deb/root/usr")
    export LD_LIBRARY_PATH="$root/.deb/root/usr/lib/x86_64-linux-gnu:$root/.deb/root/usr/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

{
    echo "date: $(date -u +%FT%TZ)"
    # The device machine gets the working tree without .git: say the commit with SIGFUSE_COMMIT.
    echo "commit: ${SIGFUSE_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}"
    nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv 2>&1 || true
    nvcc --version 2>&1 | tail -n 2 || true
    cmake --version 2>&1 | head -n 1 || true
    compute-sanitizer --version 2>&1 | head -n 2 || true
} >"$logs/environment.txt"
cat "$logs/environment.txt"

bin="$build/tests/test_backend_ops"
if [[ "${SIGFUSE_GPU_SKIP_BUILD:-0}" == "1" ]]; then
    echo "== configure, build: skipped (SIGFUSE_GPU_SKIP_BUILD=1: using $build)"
    if [[ ! -x "$bin" ]]; then
        echo "gpu_check.sh: $bin not found: build $build with tests on first" >&2
        exit 1
    fi
else
    if ! step configure "$logs/configure.log" cmake -S . -B "$build" "${cmake_args[@]}"; then
        echo "gpu_check.sh: configure failed" >&2
        exit 1
    fi
    # The library and the device suite must build; the rest (other tests, benchmarks) is
    # built next and a failure there is reported without stopping the device checks.
    if ! step build-backend-ops "$logs/build-backend-ops.log" cmake --build "$build" -j "$(nproc)" \
        --target test_backend_ops; then
        echo "gpu_check.sh: build failed" >&2
        exit 1
    fi
    step build-all "$logs/build.log" cmake --build "$build" -j "$(nproc)"
    cat "$logs/build-backend-ops.log" "$logs/build.log" | grep -n -i "warning" >"$logs/build-warnings.txt" || true
    if [[ -s "$logs/build-warnings.txt" ]]; then
        echo "   build warnings: $(wc -l <"$logs/build-warnings.txt") lines (build-warnings.txt)"
    fi
fi

# The device suite first, verbose (each case's seed is logged), then everything else
# ctest knows (reference and API tests; the install check needs a compiler toolchain
# only and runs too).
if [[ "${SIGFUSE_GPU_SUITE:-1}" != "0" ]]; then
    step backend-ops "$logs/test_backend_ops.log" "$bin" --verbose=1 --full-stats
    grep -E "^\[(SKIP|FAIL)\]|Synthesis|skipped:" "$logs/test_backend_ops.log" >"$logs/test_backend_ops.summary.txt" || true
fi
# The examples' data, carried (the machine cannot fetch it): the breast cancer CSV where
# its fixture looks first, Fashion-MNIST's .gz files through the variable its script reads.
bc_csv=$build/examples/breast_cancer/data/breast_cancer.csv
if [[ -f "$root/.deb/data/breast_cancer.csv" ]]; then
    mkdir -p "$(dirname "$bc_csv")" && cp "$root/.deb/data/breast_cancer.csv" "$bc_csv"
fi
if [[ -d "$root/.deb/data/fashion-mnist" ]]; then
    export FASHION_MNIST_GZ_DIR=$root/.deb/data/fashion-mnist
fi
if [[ "${SIGFUSE_GPU_CTEST:-1}" != "0" ]]; then
    exclude='^(test_backend_ops|torch_extension)$'
    [[ -n "${SIGFUSE_CTEST_EXCLUDE:-}" ]] && exclude="$exclude|${SIGFUSE_CTEST_EXCLUDE}"
    step ctest "$logs/ctest.log" ctest --test-dir "$build" --output-on-failure -j "${SIGFUSE_CTEST_JOBS:-1}" \
        -E "$exclude"
fi
if [[ "${SIGFUSE_TORCH_EXTENSION:-1}" != "0" ]]; then
    step torch-extension "$logs/torch_extension.log" sh "$root/examples/torch_extension/run.sh" --build-dir "$build" \
        --data "$bc_csv" --require-cuda
fi

if [[ "${SIGFUSE_SANITIZE:-1}" != "0" ]]; then
    if command -v compute-sanitizer >/dev/null 2>&1; then
        # Quick sizes (no 2^20+3 or 2^31 cases) and one test process at a time; the
        # sanitizer follows Criterion's worker processes (--target-processes all).
        export SIGFUSE_TEST_QUICK=1
        san=(compute-sanitizer --target-processes all --error-exitcode 1 --print-limit 50)
        all_filter=${SIGFUSE_MEMCHECK_FILTER:-'backend_ops/*_cuda_*'}
        filter=${SIGFUSE_SANITIZE_FILTER:-'backend_ops/*_cuda_f32'}
        for tool in ${SIGFUSE_SANITIZE_TOOLS:-memcheck racecheck initcheck synccheck}; do
            case $tool in
                memcheck) step memcheck "$logs/memcheck.log" "${san[@]}" --tool memcheck "$bin" --jobs 1 \
                    --filter "$all_filter" ;;
                racecheck) step racecheck "$logs/racecheck.log" "${san[@]}" --tool racecheck --racecheck-report all \
                    "$bin" --jobs 1 --filter "$filter" ;;
                initcheck | synccheck) step "$tool" "$logs/$tool.log" "${san[@]}" --tool "$tool" "$bin" --jobs 1 \
                    --filter "$filter" ;;
                *) failures+=("unknown SIGFUSE_SANITIZE_TOOLS entry: $tool") ;;
            esac
        done
        unset SIGFUSE_TEST_QUICK
    else
        failures+=("compute-sanitizer not found on PATH")
    fi
fi

echo
if [[ ${#failures[@]} -gt 0 ]]; then
    echo "gpu_check.sh: ${#failures[@]} step(s) failed:"
    printf '  - %s\n' "${failures[@]}"
    exit 1
fi
echo "gpu_check.sh: all steps passed (logs in $logs)"
