#!/usr/bin/env bash
# Gathers what the GPU machine lacks into .deb/root (ignored by git) so that it can be
# carried there: Criterion's headers and shared library, and the shared libraries it
# needs beyond the C library itself, copied from this (Debian 12) machine.
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
du -sh .deb
