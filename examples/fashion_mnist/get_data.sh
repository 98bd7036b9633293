#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Puts Fashion-MNIST (Zalando, MIT licence) into DEST for the fashion_mnist example: the
# four gzipped IDX files of Debian's dataset-fashion-mnist package, and beside each its
# decompressed copy, which is what the program reads (so that it needs no zlib).
#
# Usage: get_data.sh DEST
# Where the .gz files come from, first found wins:
#   1. $FASHION_MNIST_GZ_DIR, a folder holding the four .gz files (for machines with no
#      package manager: carry them there);
#   2. the installed package (dpkg -L dataset-fashion-mnist);
#   3. as root: apt-get update, then apt-get install dataset-fashion-mnist;
#   4. not root: apt-get download of the .deb, unpacked with dpkg -x into a temp folder.
# Running it again when DEST is complete does nothing. Exit 0 on success, 1 with a
# message saying what to do when the data cannot be had.
set -euo pipefail

if [ $# -ne 1 ] || [ "$1" = -h ] || [ "$1" = --help ]; then
  echo "usage: $0 DEST   (puts the Fashion-MNIST IDX files into DEST)" >&2
  exit 2
fi
dest=$1
pkg=dataset-fashion-mnist
files=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)
# Decompressed sizes: 16-byte image headers + 28*28 bytes per image, 8-byte label headers.
sizes=(47040016 60008 7840016 10008)

fail() {
  echo "get_data.sh: $*" >&2
  exit 1
}

complete() {
  local i
  for i in "${!files[@]}"; do
    [ -f "$dest/${files[$i]}" ] || return 1
    [ "$(stat -c %s "$dest/${files[$i]}")" = "${sizes[$i]}" ] || return 1
  done
}

mkdir -p "$dest"
if complete; then
  echo "get_data.sh: Fashion-MNIST already in $dest"
  exit 0
fi

has_all_gz() {
  local f
  for f in "${files[@]}"; do [ -f "$1/$f.gz" ] || return 1; done
}

# The folder of the installed package's .gz files, if it is installed.
installed_dir() {
  dpkg -s "$pkg" >/dev/null 2>&1 || return 1
  local f
  f=$(dpkg -L "$pkg" | grep -m1 '/train-images-idx3-ubyte\.gz$') || return 1
  dirname "$f"
}

tmp=""
cleanup() { [ -z "$tmp" ] || rm -rf "$tmp"; }
trap cleanup EXIT

src=""
link=1   # link to files that outlive this script, copy those from the temp folder
if [ -n "${FASHION_MNIST_GZ_DIR:-}" ]; then
  has_all_gz "$FASHION_MNIST_GZ_DIR" ||
    fail "FASHION_MNIST_GZ_DIR=$FASHION_MNIST_GZ_DIR does not hold ${files[*]/%/.gz}"
  src=$FASHION_MNIST_GZ_DIR
elif src=$(installed_dir); then
  :
elif ! command -v apt-get >/dev/null; then
  fail "no apt-get here: install the Debian package $pkg, or set FASHION_MNIST_GZ_DIR to a" \
       "folder holding ${files[*]/%/.gz}"
elif [ "$(id -u)" = 0 ]; then
  echo "get_data.sh: installing $pkg (about 31 MB)"
  apt-get update -qq || fail "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$pkg" ||
    fail "apt-get install $pkg failed (is a Debian bookworm or later main archive in the sources?)"
  src=$(installed_dir) || fail "$pkg is installed but holds no train-images-idx3-ubyte.gz"
else
  echo "get_data.sh: not root: downloading $pkg with apt-get download (about 31 MB)"
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -qq "$pkg") ||
    fail "apt-get download $pkg failed: the package lists may be stale (run apt-get update as" \
         "root) or the archive unreachable; or set FASHION_MNIST_GZ_DIR"
  dpkg -x "$tmp"/"$pkg"_*.deb "$tmp/root" || fail "dpkg -x of the downloaded $pkg failed"
  f=$(find "$tmp/root" -name train-images-idx3-ubyte.gz | head -n1)
  [ -n "$f" ] || fail "the downloaded $pkg holds no train-images-idx3-ubyte.gz"
  src=$(dirname "$f")
  link=0
fi
has_all_gz "$src" || fail "$src does not hold all of ${files[*]/%/.gz}"

for f in "${files[@]}"; do
  rm -f "$dest/$f.gz"
  if [ "$link" = 1 ]; then
    ln -s "$(cd "$src" && pwd)/$f.gz" "$dest/$f.gz"
  else
    cp "$src/$f.gz" "$dest/$f.gz"
  fi
  # Through a temporary name, so that an interrupted run never leaves a file that
  # passes for complete.
  gzip -dc "$dest/$f.gz" >"$dest/$f.part" || fail "cannot decompress $src/$f.gz"
  mv "$dest/$f.part" "$dest/$f"
done
complete || fail "the files in $dest do not have the expected sizes (${sizes[*]} bytes)"
echo "get_data.sh: Fashion-MNIST in $dest (from $src)"
