#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs the build in $1 into a temporary prefix, then builds and runs a consumer
# through find_package(sigfuse) (shared and static) and through pkg-config.
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
cmake -S "$src/tests/install_consumer" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/consumer" >/dev/null
LD_LIBRARY_PATH="$tmp/prefix/lib:$tmp/prefix/lib64:${LD_LIBRARY_PATH:-}" "$tmp/consumer/consumer"
"$tmp/consumer/consumer_static"
pc_dir=$(dirname "$(find "$tmp/prefix" -name sigfuse.pc | head -1)")
flags=$(PKG_CONFIG_PATH="$pc_dir" pkg-config --cflags --libs sigfuse)
cc "$src/tests/install_consumer/main.c" $flags -lm -o "$tmp/pc_consumer"
LD_LIBRARY_PATH="$tmp/prefix/lib:$tmp/prefix/lib64:${LD_LIBRARY_PATH:-}" "$tmp/pc_consumer"
echo "install check: find_package (shared, static) and pkg-config consumers ran"
