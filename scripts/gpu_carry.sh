#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Gathers what the GPU machine lacks into .deb (ignored by git) so that it can be carried
# there: in .deb/root, Criterion's headers and shared library and the shared libraries it
# needs beyond the C library itself, copied from this (Debian 12) machine; in .deb/data,
# the examples' data (the breast cancer CSV, Fashion-MNIST's four .gz files, ~30 MB),
# which the GPU machine cannot fetch. scripts/gpu_check.sh finds both there.
# The GPU machine has nvcc, CMake and the CUDA libraries, but no package manager.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! dpkg -s libcriterion-dev >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libcriterion-dev
fi
dest=.deb/root/usr
rm -rf .deb && mkdir -p "$dest/include" "$dest/lib/x86_64-linux-gnu"
cp -r /usr/include/criterion "$dest/include/"
lib=$(readlink -f /usr/lib/x86_64-linux-gnu/libcriterion.so)
cp -a /usr/lib/x86_64-linux-gnu/libcriterion.so* "$dest/lib/x86_64-linux-gnu/"
# Every dependency but glibc's own libraries (those the GPU machine has, newer).
ldd "$lib" | awk '/=> \//{print $3}' | grep -v -E '/(libc|libm|libpthread|libdl|librt|libresolv|ld-linux[^/]*)\.so' |
  while read -r so; do cp -L "$so" "$dest/lib/x86_64-linux-gnu/"; done
# The examples' data, through their own scripts (each fetches from Debian's packages).
# Fashion-MNIST's get_data.sh leaves the .gz files (or links to them) beside their
# decompressed copies: only the .gz files travel (the GPU machine decompresses them
# through FASHION_MNIST_GZ_DIR).
mkdir -p .deb/data/fashion-mnist
sh examples/breast_cancer/get_data.sh .deb/data/breast_cancer.csv
bash examples/fashion_mnist/get_data.sh .deb/data/fashion-mnist.idx >/dev/null
cp -L .deb/data/fashion-mnist.idx/*.gz .deb/data/fashion-mnist/   # they may be links
rm -rf .deb/data/fashion-mnist.idx
du -sh .deb .deb/data
