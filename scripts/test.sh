#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The README's test command. On a fresh Debian 12 machine it installs the Debian
# packages the build and the tests need, configures (CUDA when nvcc is present, OpenCL
# when the headers are), builds with warnings as errors, and runs every test with ctest.
# Usage: scripts/test.sh [extra ctest arguments]   (BUILD_DIR=... to choose the folder)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}

packages=(build-essential cmake pkg-config libcriterion-dev pocl-opencl-icd ocl-icd-opencl-dev
          opencl-headers libclblast-dev oclgrind dataset-fashion-mnist
          python3-torch libtorch-dev pybind11-dev python3-dev python3-setuptools ninja-build
          clang libclang-rt-dev libopenmpi-dev openmpi-bin)
# (clang and its sanitizer/libFuzzer runtimes: the sanitize_* ctest tests, which run
# scripts/sanitize.sh: ASan+UBSan suites, the TSan threads test, the fuzzer.)
# (python3-torch and the rest of that line: the PyTorch extension example, built and
# checked against PyTorch on the CPU by examples/torch_extension/run.sh. PyTorch's C++
# headers are in libtorch-dev and pybind11-dev, which python3-torch only recommends.)
# (libopenmpi-dev and openmpi-bin: examples/xmc, the label-sharded head over MPI ranks;
# its ctest entries run mpirun, which needs OMPI_ALLOW_RUN_AS_ROOT* as root: they set it.)
# (The breast cancer example fetches its CSV from python3-sklearn's .deb without
# installing it: examples/breast_cancer/get_data.sh.)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "== installing: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  else
    echo "== missing packages (install them, as root): ${missing[*]}" >&2
  fi
fi

# The CUDA toolkit installs outside the default PATH.
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH=/usr/local/cuda/bin:$PATH
fi
cuda=OFF
command -v nvcc >/dev/null && cuda=ON

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSIGFUSE_CUDA=$cuda -DSIGFUSE_WERROR=ON
cmake --build "$build" -j"$(nproc)"
cd "$build"
ctest --output-on-failure -j"$(nproc)" "$@"
# ctest keeps a passing test's output to itself: show the fuzzer's own summary line
# ("Done N runs in S second(s)") in this log too.
if [ -f sanitize/fuzz.log ]; then
  grep -h "Done [0-9]* runs" sanitize/fuzz.log || true
fi
