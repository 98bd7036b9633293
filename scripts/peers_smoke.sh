#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/peers.py on the CPU at --quick sizes, beside sigfuse-bench's cpu rows: the ctest
# `peers_smoke`. peers.py is meant for the GPU machine, and without this test nothing would
# run it before a session with a GPU does. Here it builds every case's inputs, runs PyTorch
# eager and the "alt" forms, checks them against its float64 references, reads sigfuse's
# CSV and writes the joined table. It times nothing worth reading (wall clock, tiny sizes).
#
#   scripts/peers_smoke.sh BUILD_DIR      (BUILD_DIR holds bench/sigfuse-bench)
#
# Exit 77 (ctest: skipped) when no Python with torch is found (PYTHON, python3,
# /usr/bin/python3: Debian's python3-torch lives in the system Python). torch.compile is
# left out: Debian 12's torch 1.13 has none, and Inductor on a CPU needs minutes.
# f16 is left out: torch's CPU kernels lack most f16 ops (sigmoid_cpu, addmm on Half).
set -euo pipefail
build=${1:?usage: peers_smoke.sh BUILD_DIR}
root="$(cd "$(dirname "$0")/.." && pwd)"

source "$root/scripts/torch_python.sh"
python=$(torch_python)
if [[ -z "$python" ]]; then
    echo "peers_smoke: skipped: no Python with torch (set PYTHON)"
    exit 77
fi

out="$build/peers-smoke"
rm -rf "$out"
mkdir -p "$out"
"$build/bench/sigfuse-bench" --quick --backend cpu --dtype f32,bf16 --csv "$out/sigfuse.csv" >"$out/sigfuse.txt"
set +e
"$python" "$root/bench/peers.py" --device cpu --quick --impls eager,alt --dtypes f32,bf16 \
    --sigfuse "$out/sigfuse.csv" --sigfuse-backend cpu \
    --csv "$out/peers.csv" --json "$out/peers.json" --md "$out/peers.md" >"$out/peers.out" 2>"$out/peers.log"
rc=$?
set -e
if [[ $rc -ne 0 ]]; then
    echo "peers_smoke: peers.py exited $rc"
    grep -E "failed|Error|error" "$out/peers.log" | head -n 20 || true
    tail -n 15 "$out/peers.log"
    exit 1
fi

# The join, read back: every case peers.py knows, in both dtypes, with sigfuse's time and
# PyTorch's eager time and check; the heads also with sigfuse's memory beside PyTorch's.
"$python" - "$out/peers.csv" "$out/peers.json" <<'EOF'
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1])))
meta = json.load(open(sys.argv[2]))
bad = []
ops = sorted({r["op"] for r in rows})
for r in rows:
    name = "%s %s %s" % (r["op"], r["dtype"], r["size"])
    for key in ("sigfuse_us", "eager_us", "eager_per_sigfuse"):
        if not r[key]:
            bad.append("%s: no %s" % (name, key))
    if r["eager_check"] != "ok":
        bad.append("%s: eager check %r" % (name, r["eager_check"]))
    if r["op"].startswith("head_") and not r["sigfuse_peak_mib"]:
        bad.append("%s: no sigfuse_peak_mib" % name)
if {r["dtype"] for r in rows} != {"f32", "bf16"}:
    bad.append("dtypes %s, expected f32 and bf16" % sorted({r["dtype"] for r in rows}))
# The peers' list: every op family must be there (the case list lives in peers.py).
for want in ("sigmoid_forward", "silu_backward", "glu_forward", "swiglu_backward", "lstm_cell_backward", "gru_cell_forward",
             "bce_with_logits", "bce_with_logits/weighted", "sigmoid_focal", "head_train_step", "head_predict"):
    if want not in ops:
        bad.append("no %s rows" % want)
if not isinstance(meta, dict):
    bad.append("peers.json is not an object")
for b in bad:
    print("peers_smoke:", b)
print("peers_smoke: %d rows, %d ops, %d problems" % (len(rows), len(ops), len(bad)))
sys.exit(1 if bad else 0)
EOF
