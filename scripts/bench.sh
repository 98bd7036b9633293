#!/usr/bin/env bash
# The benchmark in one command. On a fresh Debian 12 machine it installs the packages the
# build needs (when root and apt-get exist; elsewhere, e.g. on a GPU machine without a
# package manager, it uses what is there), configures a Release build in build/, builds
# sigfuse-bench, and runs it on the best backend present: cuda, else opencl, else cpu.
#
#   scripts/bench.sh [--save] [sigfuse-bench options...]
#   scripts/bench.sh --help      (this text and sigfuse-bench's options; builds nothing)
#
# Options other than --save go to sigfuse-bench (see below); with a --backend among
# them, that choice is kept. --save also writes the results to
# bench/results/<device>-<date>.csv and .json, and, where python3 is, their chart
# (bench/plot.py) as .svg beside them. Set SIGFUSE_BUILD_DIR to build elsewhere.
# The exit status is sigfuse-bench's: non-zero when a row failed its check.
set -euo pipefail
# SPDX-License-Identifier: MIT

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${SIGFUSE_BUILD_DIR:-$root/build}"

# ---- --help, before any package or build step ---------------------------------------------
# One text each, in one place: the script's part is the comment above, sigfuse-bench's is
# its usage() in bench/bench_main.c, read from the source (the string literals between
# "static void usage" and its closing brace, one line each), so it needs no build and
# reads the same as `sigfuse-bench --help` (ctest bench_sh_help compares the two).
usage() {
  awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "${BASH_SOURCE[0]}"
  echo
  echo "sigfuse-bench's options (bench/bench_main.c):"
  awk '/^static void usage\(FILE \*f\)/ { on = 1; next }
       on && /^}/ { exit }
       on && match($0, /".*\\n"/) {
         line = substr($0, RSTART + 1, RLENGTH - 4)
         gsub(/\\"/, "\"", line); gsub(/\\\\/, "\\", line)
         print line
       }' "$root/bench/bench_main.c"
}
for arg in "$@"; do
  case "$arg" in
    --help|-h) usage; exit 0 ;;
  esac
done

save=0
have_backend=0
args=()
for arg in "$@"; do
  case "$arg" in
    --save) save=1 ;;
    --backend|--backend=*) have_backend=1; args+=("$arg") ;;
    *) args+=("$arg") ;;
  esac
done

log() { echo "bench.sh: $*" >&2; }

# ---- Packages -------------------------------------------------------------------------
packages=(build-essential cmake libcriterion-dev pocl-opencl-icd ocl-icd-opencl-dev libclblast-dev)
# A package counts as present when dpkg has it, or (for the tools) when the tool is on
# PATH whatever installed it (a pip cmake, a compiler outside dpkg).
present() {
  case "$1" in
    build-essential) command -v cc >/dev/null 2>&1 && command -v make >/dev/null 2>&1 && return 0 ;;
    cmake) command -v cmake >/dev/null 2>&1 && return 0 ;;
  esac
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}
install_packages() {
  if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-query >/dev/null 2>&1; then
    log "no apt-get here: building with what is installed"
    return 0
  fi
  local missing=() pkg
  for pkg in "${packages[@]}"; do
    present "$pkg" || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    return 0
  fi
  if [ "$(id -u)" -ne 0 ]; then
    log "not root: not installing ${missing[*]}; building with what is installed"
    return 0
  fi
  log "installing ${missing[*]}"
  # A machine without a network (a GPU machine) still builds with what it has.
  if ! { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"; }; then
    log "could not install ${missing[*]}; building with what is installed"
  fi
}
install_packages

for tool in cmake cc; do
  command -v "$tool" >/dev/null 2>&1 || { log "$tool is missing: install it (Debian: build-essential cmake)"; exit 1; }
done

# ---- Build ----------------------------------------------------------------------------
# Each backend is asked for explicitly (a build folder remembers an earlier answer):
# CUDA where nvcc is (often installed outside PATH), OpenCL where its headers and CLBlast's
# are, the tests where Criterion is (the benchmark needs none of them).
if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH="/usr/local/cuda/bin:$PATH"
fi
has_header() { [ -e "/usr/include/$1" ] || [ -e "/usr/local/include/$1" ]; }
cuda=OFF
if command -v nvcc >/dev/null 2>&1; then cuda=ON; fi
opencl=OFF
if has_header CL/cl.h && has_header clblast_c.h; then opencl=ON; fi
tests=OFF
if has_header criterion/criterion.h; then tests=ON; fi
log "configuring $build: CUDA $cuda, OpenCL $opencl, tests $tests"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release \
  -DSIGFUSE_CUDA="$cuda" -DSIGFUSE_OPENCL="$opencl" -DSIGFUSE_BUILD_TESTS="$tests"
cmake --build "$build" --target sigfuse_bench -j "$(nproc 2>/dev/null || echo 2)"
bench="$build/bench/sigfuse-bench"

# ---- Run --------------------------------------------------------------------------------
if [ "$have_backend" -eq 0 ]; then
  available="$("$bench" --list | awk '$2 == "available" && !/not built/ {print $1}')"
  backend=cpu
  for candidate in opencl cuda; do   # the last one present wins
    if grep -qx "$candidate" <<<"$available"; then
      backend="$candidate"
    fi
  done
  log "running on the $backend backend"
  args=(--backend "$backend" ${args[@]+"${args[@]}"})
fi

if [ "$save" -eq 0 ]; then
  exec "$bench" ${args[@]+"${args[@]}"}
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
status=0
"$bench" ${args[@]+"${args[@]}"} --csv "$tmp/results.csv" --json "$tmp/results.json" || status=$?
if [ ! -s "$tmp/results.json" ]; then
  log "sigfuse-bench wrote no results (exit status $status)"
  exit "$status"
fi
# The JSON's device line, as sigfuse-bench writes it: '  "device": "NVIDIA H100 80GB HBM3",'
device="$(sed -n 's/^  "device": "\(.*\)",$/\1/p' "$tmp/results.json" | head -n 1)"
slug="$(printf '%s' "${device:-unknown}" | sed 's/ *(.*)$//' | tr '[:upper:]' '[:lower:]' | sed -e 's/[^a-z0-9]\{1,\}/-/g' -e 's/^-//' -e 's/-$//')"
stamp="$(date -u +%Y%m%d-%H%M%S)"
mkdir -p "$root/bench/results"
out="$root/bench/results/${slug:-unknown}-$stamp"
cp "$tmp/results.csv" "$out.csv"
cp "$tmp/results.json" "$out.json"
log "results in ${out#"$root"/}.csv and .json"
# The chart is a convenience: without python3, or if plot.py fails, the results still stand.
if command -v python3 >/dev/null 2>&1; then
  if python3 "$root/bench/plot.py" "$out.csv" --out "$out.svg" >&2; then
    log "chart in ${out#"$root"/}.svg"
  else
    log "could not draw ${out#"$root"/}.svg (bench/plot.py failed); the CSV and JSON are saved"
  fi
else
  log "no python3: no chart (run bench/plot.py ${out#"$root"/}.csv later)"
fi
if [ "$status" -ne 0 ]; then
  log "some rows FAILED (exit status $status): the saved results say which"
fi
exit "$status"
