#!/bin/sh
# SPDX-License-Identifier: MIT
# Fetch scikit-learn's copy of the Wisconsin breast cancer data (breast_cancer.csv) from
# Debian's python3-sklearn WITHOUT installing it (it would pull in numpy, scipy and more):
# apt-get download the .deb into a temporary folder, unpack it with dpkg -x, copy the CSV.
#   usage: get_data.sh DEST.csv        (does nothing when DEST.csv is already there)
# Needs apt-get and dpkg (Debian, Ubuntu) and a network connection; fails with a message
# saying so otherwise. Run as root with no package lists, it runs apt-get update once.
set -eu

if [ $# -ne 1 ]; then
  echo "usage: $0 DEST.csv" >&2
  exit 2
fi
dest=$1
member=usr/lib/python3/dist-packages/sklearn/datasets/data/breast_cancer.csv
# scikit-learn's header: samples, features, the names of targets 0 and 1.
header='569,30,malignant,benign'

if [ -s "$dest" ] && [ "$(head -n 1 "$dest" | tr -d '\r')" = "$header" ]; then
  echo "get_data.sh: $dest is already there"
  exit 0
fi

fail() {
  echo "get_data.sh: $*" >&2
  echo "get_data.sh: could not get breast_cancer.csv. It comes from Debian's python3-sklearn" >&2
  echo "  (apt-get download python3-sklearn; dpkg -x python3-sklearn_*.deb x;" >&2
  echo "   cp x/$member $dest)," >&2
  echo "  or from scikit-learn's sources (sklearn/datasets/data/breast_cancer.csv)." >&2
  exit 1
}

command -v apt-get >/dev/null 2>&1 || fail "apt-get is not available (not a Debian/Ubuntu system)"
command -v dpkg >/dev/null 2>&1 || fail "dpkg is not available"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# apt drops root to the _apt user for downloads, which cannot write to a private temporary
# folder; as root, download as root instead of warning about it.
apt_opts=
[ "$(id -u)" = 0 ] && apt_opts="-o APT::Sandbox::User=root"

download() {
  # shellcheck disable=SC2086  # apt_opts is empty or two words
  (cd "$tmp" && apt-get download $apt_opts python3-sklearn) >"$tmp/apt.log" 2>&1
}

echo "get_data.sh: downloading python3-sklearn (about 2 MB) to extract breast_cancer.csv"
if ! download; then
  # A fresh container has no package lists: only root can fetch them.
  if [ "$(id -u)" = 0 ] && grep -qE "Unable to locate package|has no installation candidate" "$tmp/apt.log"; then
    echo "get_data.sh: no package lists; running apt-get update"
    apt-get update -qq >"$tmp/update.log" 2>&1 || { cat "$tmp/update.log" >&2; fail "apt-get update failed (no network?)"; }
    download || { cat "$tmp/apt.log" >&2; fail "apt-get download python3-sklearn failed (no network?)"; }
  else
    cat "$tmp/apt.log" >&2
    fail "apt-get download python3-sklearn failed (no network, or no package lists: run apt-get update as root)"
  fi
fi

deb=$(find "$tmp" -maxdepth 1 -name 'python3-sklearn_*.deb' | head -n 1)
[ -n "$deb" ] || fail "apt-get download left no python3-sklearn_*.deb"
dpkg -x "$deb" "$tmp/x" || fail "dpkg -x $deb failed"
csv=$tmp/x/$member
[ -s "$csv" ] || fail "$(basename "$deb") has no $member"
[ "$(head -n 1 "$csv" | tr -d '\r')" = "$header" ] || fail "unexpected header in $member: $(head -n 1 "$csv")"

mkdir -p "$(dirname "$dest")"
# Copy then rename: an interrupted run never leaves a half-written file that looks done.
cp "$csv" "$dest.part"
mv "$dest.part" "$dest"
echo "get_data.sh: wrote $dest ($(($(wc -l <"$dest") - 1)) patients, from $(basename "$deb"))"
