#!/usr/bin/env python3
"""Writes the seed corpus of tests/fuzz/fuzz_api.c into tests/fuzz/corpus/ (or argv[1]).

Each seed is one call in the fuzzer's input layout (see fuzz_api.c): op, flags, three
sizes, dtype, reduction, three options, chunk_rows, workspace mode and aux, fill mode,
an 8-byte value seed, then (mode, aux, aux2) per buffer slot. Every op gets plain calls
in each dtype at small odd sizes, with optional buffers absent, in place, with bad
options and with too-small workspaces; a few seeds are in-place cases that once passed
wrongly (an output on an input of another shape spanning the same bytes).
"""
import os
import sys

OPS = ["sigmoid_f", "sigmoid_b", "logsig_f", "logsig_b", "silu_f", "silu_b", "glu_f", "glu_b",
       "swiglu_f", "swiglu_b", "lstm_f", "lstm_b", "gru_f", "gru_b", "bce", "focal",
       "hp_ws", "ht_ws", "hp", "ht"]
NSLOTS = [2, 3, 2, 3, 2, 3, 3, 5, 3, 5, 6, 9, 6, 11, 9, 5, 7, 10, 7, 10]
PRESENT, ABSENT, ALIAS = 0, 9, 11


def seed(op, sizes=(3, 2, 2), dtype=0, red=0, opts=(0, 0, 0), chunk=0, ws=(0, 0), fill=0,
         vseed=1, slots=None, flags=0):
    k = OPS.index(op)
    b = bytearray([k, flags, *sizes, dtype, red, *opts, chunk, *ws, fill])
    b += int(vseed).to_bytes(8, "little")
    sl = slots or {}
    for i in range(NSLOTS[k]):
        b += bytes(sl.get(i, (PRESENT, 0, 0)))
    return bytes(b)


def all_seeds():
    out = {}
    for op in OPS:
        for dt, name in enumerate(["f32", "f16", "bf16", "f64"]):
            out[f"{op}-{name}"] = seed(op, dtype=dt, vseed=dt + 7)
        out[f"{op}-zero"] = seed(op, sizes=(0, 3, 2))
        out[f"{op}-opt-absent"] = seed(op, slots={i: (ABSENT, 0, 0) for i in range(2, NSLOTS[OPS.index(op)])})
    # Elementwise: in place (the output on its first input), bad beta.
    for op in ["sigmoid_f", "logsig_f", "silu_f"]:
        out[f"{op}-inplace"] = seed(op, sizes=(5, 0, 0), slots={1: (ALIAS, 0, 0)})
    for op in ["sigmoid_b", "logsig_b", "silu_b", "glu_f", "swiglu_f"]:
        out[f"{op}-inplace"] = seed(op, sizes=(5, 0, 0), slots={2: (ALIAS, 1, 0)})
    for op in ["glu_b", "swiglu_b"]:
        out[f"{op}-inplace"] = seed(op, sizes=(5, 0, 0), slots={3: (ALIAS, 0, 0), 4: (ALIAS, 1, 0)})
        out[f"{op}-partial"] = seed(op, sizes=(5, 0, 0), slots={3: (ALIAS, 2, 1)})
    out["silu_f-beta-nan"] = seed("silu_f", opts=(5, 0, 0))
    out["swiglu_b-beta-2"] = seed("swiglu_b", opts=(4, 0, 0))
    # Cells: c = c_prev, h = h_prev in place; the overlap rule's cases (an output on the bias).
    out["lstm_f-c-inplace"] = seed("lstm_f", slots={5: (ALIAS, 3, 0)})
    out["lstm_f-c-on-bias-B4H1"] = seed("lstm_f", sizes=(4, 1, 0), slots={5: (ALIAS, 2, 0)})
    out["lstm_b-dc_prev-inplace"] = seed("lstm_b", slots={7: (ALIAS, 3, 0)})
    out["lstm_b-dbias-on-bias"] = seed("lstm_b", sizes=(1, 2, 0), slots={8: (ALIAS, 2, 0)})
    out["gru_f-h-inplace"] = seed("gru_f", slots={5: (ALIAS, 4, 0)})
    out["gru_f-h-on-bias_x-B3H1"] = seed("gru_f", sizes=(3, 1, 0), slots={5: (ALIAS, 2, 0)})
    out["gru_b-dh_prev-inplace"] = seed("gru_b", slots={8: (ALIAS, 4, 0)})
    # Losses: reductions, options, in place on the logits.
    for r, name in [(1, "sum"), (2, "none")]:
        out[f"bce-{name}"] = seed("bce", red=r)
        out[f"focal-{name}"] = seed("focal", red=r)
    out["bce-smooth-u8"] = seed("bce", opts=(1, 0, 0), vseed=8)
    out["bce-dlogits-inplace"] = seed("bce", red=2, slots={6: (ALIAS, 0, 0)})
    out["bce-loss-none-inplace"] = seed("bce", red=2, slots={5: (ALIAS, 0, 0)})
    out["bce-thresh-bad"] = seed("bce", opts=(0, 0, 4))
    out["focal-gamma-5"] = seed("focal", opts=(0, 2, 0))
    out["focal-alpha-neg"] = seed("focal", opts=(1, 0, 0))
    out["focal-dlogits-inplace"] = seed("focal", red=2, slots={4: (ALIAS, 0, 0)})
    # Heads: the smallest and largest workspace, one too small, queries per chunk.
    for op in ["hp", "ht"]:
        out[f"{op}-ws-min"] = seed(op, sizes=(4, 3, 5), ws=(0, 0))
        out[f"{op}-ws-max"] = seed(op, sizes=(4, 3, 5), ws=(4, 0))
        out[f"{op}-ws-small"] = seed(op, sizes=(4, 3, 5), ws=(2, 0))
        out[f"{op}-sum"] = seed(op, sizes=(5, 2, 3), red=1)
    for op in ["hp_ws", "ht_ws"]:
        for ch in range(10):
            out[f"{op}-chunk{ch}"] = seed(op, sizes=(5, 3, 4), chunk=ch)
    # Sizes that overflow or are negative.
    out["lstm_f-overflow"] = seed("lstm_f", sizes=(227, 227, 0))
    out["bce-negative"] = seed("bce", sizes=(224, 3, 0))
    out["ht-huge-n"] = seed("ht", sizes=(233, 0, 0))
    out["sigmoid_f-null-ctx"] = seed("sigmoid_f", flags=61)
    out["lstm_b-null-args"] = seed("lstm_b", flags=62)
    out["hp_ws-null-bytes"] = seed("hp_ws", flags=63)
    return out


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus")
    os.makedirs(d, exist_ok=True)
    for name, data in sorted(all_seeds().items()):
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
    print(f"{len(all_seeds())} seeds in {d}")


if __name__ == "__main__":
    main()
