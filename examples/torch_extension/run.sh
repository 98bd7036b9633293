#!/bin/sh
# Builds the sigfuse_torch PyTorch extension against a built sigfuse and runs its checks
# (check.py: values and gradients against PyTorch) and its training loop (train.py).
#   usage: run.sh [--build-dir DIR] [--data breast_cancer.csv] [--require-cuda]
# --build-dir: sigfuse's CMake build folder (default: build/; configured and built here
#   if it holds no libsigfuse.so); the extension is built into DIR/torch_extension.
# --data: the breast cancer CSV (default: fetched by examples/breast_cancer/get_data.sh).
# --require-cuda: fail unless the CUDA path ran (use it on a GPU machine).
# The Python is $PYTHON, else the first of python3, /usr/bin/python3 that has PyTorch
# (Debian: apt-get install python3-torch python3-dev); without one it exits 77 (skipped).
set -eu
# SPDX-License-Identifier: MIT

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=$repo/build
data=
require_cuda=
while [ $# -gt 0 ]; do
  case $1 in
    --build-dir) build=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --require-cuda) require_cuda=--require-cuda; shift ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

python=
for candidate in ${PYTHON:-} python3 /usr/bin/python3; do
  if "$candidate" -c "import torch" >/dev/null 2>&1; then
    python=$candidate
    break
  fi
done
if [ -z "$python" ]; then
  echo "run.sh: skipped: no Python with PyTorch (set PYTHON, or apt-get install python3-torch python3-dev)"
  exit 77
fi

if [ ! -e "$build/libsigfuse.so" ]; then
  echo "run.sh: building sigfuse in $build"
  cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" -j --target sigfuse
fi
build=$(cd "$build" && pwd)

out=$build/torch_extension
mkdir -p "$out"
echo "run.sh: building the extension with $python ($("$python" -c 'import torch; print("PyTorch", torch.__version__)'))"
# From inside $out so that setuptools leaves nothing in the source tree.
(cd "$out" && SIGFUSE_INCLUDE_DIR=$repo/include SIGFUSE_LIBRARY_DIR=$build \
  "$python" "$here/setup.py" -q build_ext --build-lib "$out" --build-temp "$out/tmp") >"$out/build.log" 2>&1 || {
  cat "$out/build.log" >&2
  echo "run.sh: building the extension failed (log above, and in $out/build.log)" >&2
  exit 1
}

if [ -z "$data" ]; then
  data=$out/breast_cancer.csv
  sh "$repo/examples/breast_cancer/get_data.sh" "$data"
fi

cd "$out"
export PYTHONPATH="$out${PYTHONPATH:+:$PYTHONPATH}"
"$python" "$here/check.py" $require_cuda
# train.py's device defaults to SIGFUSE_BACKEND; a backend with no PyTorch tensors
# (opencl, set for the C examples) falls back to PyTorch's default device here.
device=
case ${SIGFUSE_BACKEND:-} in
  cpu|cuda|'') ;;
  *) echo "run.sh: SIGFUSE_BACKEND=$SIGFUSE_BACKEND has no PyTorch tensors; training on PyTorch's default device"
     unset SIGFUSE_BACKEND ;;
esac
[ -n "$require_cuda" ] && device="--device cuda"
"$python" "$here/train.py" --data "$data" $device
