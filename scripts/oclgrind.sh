#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs the OpenCL backend's small test set (suite opencl_small of tests/test_opencl.c:
# every kernel, dtype and buffer path at simulator-friendly sizes, CLBlast's products
# included) under oclgrind, with its out-of-bounds checks (always on), API-error checks,
# uninitialised-value tracking and data-race detection, and fails when a test fails or
# oclgrind reports anything. oclgrind itself exits 0 on findings, hence the check of
# what it prints.
# Takes about 25 s on the 2-core development machine (warm or cold: oclgrind compiles
# the kernels itself and keeps no cache).
#
# Usage: scripts/oclgrind.sh [build-dir]   (default: $BUILD_DIR or build; configured with
#        -DSIGFUSE_OPENCL=ON and built). Exit status 77 (ctest's "skipped") when oclgrind
#        is not installed.
set -euo pipefail
build=${1:-${BUILD_DIR:-}}
cd "$(dirname "$0")/.."
# A folder given on the command line is taken from where the script was called.
if [ -n "${1:-}" ]; then build=$(cd "$OLDPWD" && cd "$1" && pwd); fi
build=${build:-build}
exe="$build/tests/test_opencl"

if ! command -v oclgrind >/dev/null; then
  echo "oclgrind.sh: oclgrind is not installed (Debian: apt-get install oclgrind)" >&2
  exit 77
fi
if [ ! -x "$exe" ]; then
  echo "oclgrind.sh: $exe not found (configure with -DSIGFUSE_OPENCL=ON and build first)" >&2
  exit 2
fi

out=$(mktemp)
trap 'rm -f "$out"' EXIT

# oclgrind's findings go to stderr, captured with the tests' output: its --log file would
# be reopened, and so emptied, by every test process Criterion forks. One worker at a time
# keeps the messages whole.
status=0
oclgrind --check-api --uninitialized --data-races \
  "$exe" --jobs 1 --filter 'opencl_small/*' >"$out" 2>&1 || status=$?

# What oclgrind prints: "Invalid read/write ...", "Uninitialized value ...", "Controlflow
# depends on uninitialized value", "Read-write data race ...", "Work-group divergence
# detected", "Oclgrind - OpenCL runtime error detected" (--check-api), and its own errors.
pattern='Invalid (read|write)|[Uu]ninitiali[sz]ed|data race|divergence|Oclgrind'
if grep -qE "$pattern" "$out"; then
  echo "oclgrind.sh: oclgrind reported problems ($(grep -cE "$pattern" "$out") lines); the first ones:" >&2
  grep -E -A 5 "$pattern" "$out" | head -n 60 >&2
  exit 1
fi
grep -v ': seed ' "$out" | tail -n 20
if [ "$status" -ne 0 ]; then
  echo "oclgrind.sh: the tests failed under oclgrind (exit status $status)" >&2
  exit 1
fi
if ! grep -qE 'Tested: [1-9][0-9]* \| Passing: [1-9]' "$out"; then
  echo "oclgrind.sh: no test ran (wrong filter, or every case skipped?)" >&2
  exit 1
fi
echo "oclgrind.sh: clean (out-of-bounds, API errors, uninitialised values, data races)"
