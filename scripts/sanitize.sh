#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The sanitizer and fuzzing checks, each a clang build of its own (CUDA off,
# no benchmark or examples) under ROOT (default: $SANITIZE_DIR or build-sanitize):
#
#   build-asan  configure and build ROOT/asan: the library and every test with
#               -fsanitize=address,undefined (no recovery), plus the libFuzzer target
#   asan        run the CPU and OpenCL suites (every tests/test_*), alloc_faults and
#               threads_check in that build: any ASan, UBSan or LeakSanitizer report
#               fails (PoCL needs ASAN_OPTIONS=protect_shadow_gap=0)
#   fuzz        run tests/fuzz/fuzz_api for FUZZ_RUNS executions (default 10^6) on the
#               reference from the committed seed corpus (tests/fuzz/corpus, read only;
#               new inputs go to ROOT/fuzz-corpus); fails on a crash, a failed check, or
#               fewer executions than asked ("Done N runs")
#   tsan        build ROOT/tsan with -fsanitize=thread and run threads_check (threads
#               with their own contexts) on the reference: any report fails. Not OpenCL:
#               PoCL's worker threads spin under TSan (one round did not end in 5 min);
#               the OpenCL threads run in the plain and the ASan builds instead
#   all         all of the above, in that order
#
# Usage: scripts/sanitize.sh [build-asan|asan|fuzz|tsan|all] [ROOT]
# Each step prints how long it took. ctest runs them from scripts/test.sh's build as
# sanitize_asan_build, sanitize_asan_suites, sanitize_fuzz and sanitize_tsan_threads.
set -euo pipefail
step=${1:-all}
root=${2:-${SANITIZE_DIR:-build-sanitize}}
cd "$(dirname "$0")/.."
src=$(pwd)
case "$root" in /*) ;; *) root="$OLDPWD/$root" ;; esac
mkdir -p "$root"
jobs=${JOBS:-$(nproc)}
[ "$jobs" -gt 2 ] || jobs=2
fuzz_runs=${FUZZ_RUNS:-1000000}
supp="$src/tests/reliability"

if ! command -v clang >/dev/null; then
  echo "sanitize.sh: clang is not installed (Debian: apt-get install clang libclang-rt-dev)" >&2
  exit 2
fi

export ASAN_OPTIONS="protect_shadow_gap=0:detect_leaks=1:halt_on_error=1:abort_on_error=0:${ASAN_OPTIONS:-}"
# The suites: full stacks at malloc, so that LeakSanitizer's suppressions can see that a
# block was allocated inside the OpenCL stack (its frames lack frame pointers). Not for
# the fuzzer, where unwinding every malloc would take most of its time.
suite_asan_options="fast_unwind_on_malloc=0:$ASAN_OPTIONS"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0:${LSAN_OPTIONS:-}"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$supp/tsan.supp:${TSAN_OPTIONS:-}"

configure() {   # configure DIR SANITIZER-FLAGS [cmake args...]; CXX_EXTRA: C++ only
  local dir=$1 flags=$2 cxx="$2 ${CXX_EXTRA:-}"
  shift 2
  cmake -S "$src" -B "$dir" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
    -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$cxx" \
    -DCMAKE_EXE_LINKER_FLAGS="$flags" -DCMAKE_SHARED_LINKER_FLAGS="$flags" \
    -DSIGFUSE_CUDA=OFF -DSIGFUSE_BUILD_BENCH=OFF -DSIGFUSE_BUILD_EXAMPLES=OFF \
    -DSIGFUSE_SANITIZER_TESTS=OFF -DSIGFUSE_WERROR=OFF "$@" >"$dir.configure.log" 2>&1 ||
    { cat "$dir.configure.log"; return 1; }
}

# Any sanitizer report in a log fails the step, whatever the exit statuses said.
no_reports() {
  if grep -nE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|WARNING: ThreadSanitizer|SUMMARY: (AddressSanitizer|UndefinedBehaviorSanitizer|ThreadSanitizer|LeakSanitizer)' "$1" | head -20; then
    echo "sanitize.sh: sanitizer reports in $1" >&2
    return 1
  fi
}

asan_flags="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"

build_asan() {
  configure "$root/asan" "$asan_flags" -DSIGFUSE_FUZZ=ON
  cmake --build "$root/asan" -j"$jobs" >"$root/asan.build.log" 2>&1 || { tail -50 "$root/asan.build.log"; return 1; }
}

run_asan() {
  [ -x "$root/asan/tests/alloc_faults" ] || build_asan
  local log="$root/asan.ctest.log" rc=0
  (cd "$root/asan" && ASAN_OPTIONS=$suite_asan_options ctest --output-on-failure -j"$jobs" -R '^(test_.*|alloc_faults|threads_check)$') >"$log" 2>&1 || rc=$?
  grep -E 'tests passed|tests failed|Test +#|Total Test time' "$log" || true
  [ $rc -eq 0 ] || { cat "$log" | tail -80; return 1; }
  no_reports "$root/asan/Testing/Temporary/LastTest.log"
}

run_fuzz() {
  [ -x "$root/asan/tests/fuzz_api" ] || build_asan
  rm -rf "$root/fuzz-corpus" "$root/fuzz-artifacts"
  mkdir -p "$root/fuzz-corpus" "$root/fuzz-artifacts"
  local log="$root/fuzz.log" rc=0
  "$root/asan/tests/fuzz_api" -runs="$fuzz_runs" -max_len=64 -timeout=20 -rss_limit_mb=4096 \
    -print_final_stats=1 -artifact_prefix="$root/fuzz-artifacts/" \
    "$root/fuzz-corpus" "$src/tests/fuzz/corpus" >"$log" 2>&1 || rc=$?
  grep -E '^(INFO: seed corpus|Done [0-9]+ runs|stat::)' "$log" || true
  if [ $rc -ne 0 ]; then
    grep -vE '^#[0-9]+' "$log" | tail -60
    echo "sanitize.sh: the fuzzer failed (status $rc); the input is in $root/fuzz-artifacts" >&2
    return 1
  fi
  local done
  done=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -1)
  if [ -z "$done" ] || [ "$done" -lt "$fuzz_runs" ]; then
    echo "sanitize.sh: the fuzzer ran ${done:-no} executions, fewer than $fuzz_runs" >&2
    return 1
  fi
  no_reports "$log"
}

run_tsan() {
  configure "$root/tsan" "-fsanitize=thread -fno-omit-frame-pointer"
  cmake --build "$root/tsan" -j"$jobs" --target threads_check >"$root/tsan.build.log" 2>&1 ||
    { tail -50 "$root/tsan.build.log"; return 1; }
  local log="$root/tsan.log" rc=0
  "$root/tsan/tests/threads_check" --no-opencl >"$log" 2>&1 || rc=$?
  cat "$log" | grep -v '^ ' | head -40
  [ $rc -eq 0 ] || { echo "sanitize.sh: threads_check under TSan failed (status $rc)" >&2; return 1; }
  no_reports "$log"
}

timed() {
  local name=$1 t0=$SECONDS
  shift
  echo "== sanitize.sh $name"
  "$@"
  echo "== sanitize.sh $name: passed in $((SECONDS - t0)) s"
}

case "$step" in
  build-asan) timed build-asan build_asan ;;
  asan) timed asan run_asan ;;
  fuzz) timed fuzz run_fuzz ;;
  tsan) timed tsan run_tsan ;;
  all)
    timed build-asan build_asan
    timed asan run_asan
    timed fuzz run_fuzz
    timed tsan run_tsan
    ;;
  *) echo "usage: scripts/sanitize.sh [build-asan|asan|fuzz|tsan|all] [ROOT]" >&2; exit 2 ;;
esac
