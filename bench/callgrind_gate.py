# SPDX-License-Identifier: Apache-2.0
"""Instruction-count gate: run bench/callgrind_workload.py under callgrind and compare each hot
function's inclusive instruction count with bench/baselines/callgrind.json.

Instruction counts are deterministic for a given binary and input (unlike times on a shared
machine), so a regression beyond the tolerance fails the build.

    python bench/callgrind_gate.py            # check (exit 1 on regression)
    python bench/callgrind_gate.py --update   # write the baseline after an intended change
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "bench" / "baselines" / "callgrind.json"
# workload section -> {function (substring of the Cython-generated C symbol) -> gate name}; one
# valgrind run per section, so venues sharing a C helper (FrameParser._bench_frames) count apart
FUNCS = {
    "core": {
        "_bench_parse": "decimal.parse x1000",
        "apply_many": "book.apply_many x10000 (within 50 levels of the top)",
        "_bench_acquire": "ratelimit.acquire x10000 (3 buckets)",
        "_bench_record": "histogram.record x10000",
        "_bench_frames": "binance depth frame -> book x255 (20 levels each)",
        "_bench_new_levels": "book: 20000 new levels, each worse than all (linear, not quadratic)",
    },
    "okx": {
        "_bench_frames": "okx books frame -> checked book x256 (20 levels each, CRC32 of 50 levels)",
    },
    "okx-nock": {
        "_bench_frames": "okx books frame as sent since Aug 2026 (no checksum) -> book x256 (20 levels each)",
    },
    "usdm": {
        "_bench_frames": "binanceusdm depth frame (pu, T) -> book x255 (20 levels each)",
    },
    # trade-id dedupe, O(1) per trade whatever the order of ids (ext/feed.pyx seen_trade): the three
    # cases in one run (one valgrind start), their sum
    "trade-ids-all": {"_bench_seen_trades": "trade-id dedupe x30000 (in order, after one absurd id, "
                                            "runs of 16 shuffled: 10000 each)"},
}
TOLERANCE = 0.10
"""beyond this either way the gate fails: slower is a regression; faster means the baseline is stale
and would let a regression of that size through (run --update with the change that earned it)"""
# (name, frames) pairs whose per-frame counts must stay within a ratio: a venue's checked book frame
# against Binance's unchecked one, same level count per frame
VENUE_RATIOS = [(("okx books frame -> checked book x256 (20 levels each, CRC32 of 50 levels)", 256),
                 ("binance depth frame -> book x255 (20 levels each)", 255), 1.5),
                (("okx books frame as sent since Aug 2026 (no checksum) -> book x256 (20 levels each)", 256),
                 ("binance depth frame -> book x255 (20 levels each)", 255), 1.5),
                (("binanceusdm depth frame (pu, T) -> book x255 (20 levels each)", 255),
                 ("binance depth frame -> book x255 (20 levels each)", 255), 1.1)]


def _measure(section: str, funcs: dict[str, str]) -> dict[str, int]:
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "cg.out")
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--dump-instr=no",
               *[f"--toggle-collect=*{f}*" for f in funcs], sys.executable, "bench/callgrind_workload.py", section]
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        subprocess.run(cmd, cwd=ROOT, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        ann = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", out],
                             check=True, capture_output=True, text=True).stdout
    counts: dict[str, int] = {}
    for line in ann.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\(.*?\)\s+(\S.*)$", line) or re.match(r"\s*([\d,]+)\s+(\S.*)$", line)
        if not m:
            continue
        n, sym = int(m.group(1).replace(",", "")), m.group(2)
        for f, name in funcs.items():
            # the Python wrapper (__pyx_pw_) is the entry point toggled on; take the largest match
            if f in sym and "__pyx_pw_" in sym:
                counts[name] = max(counts.get(name, 0), n)
    return counts


def measure() -> dict[str, int]:
    counts: dict[str, int] = {}
    for section, funcs in FUNCS.items():
        counts.update(_measure(section, funcs))
    return counts


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--update", action="store_true", help="write the measured counts as the new baseline")
    args = ap.parse_args()
    got = measure()
    missing = [n for funcs in FUNCS.values() for n in funcs.values() if n not in got]
    if missing:
        print(f"callgrind gate: no count for {missing}", file=sys.stderr)
        return 2
    if args.update or not BASELINE.exists():
        BASELINE.write_text(json.dumps(got, indent=2, sort_keys=True) + "\n")
        print(f"callgrind gate: baseline written to {BASELINE}")
        return 0
    base = json.loads(BASELINE.read_text())
    bad = 0
    for name, n in sorted(got.items()):
        ref = base.get(name)
        ratio = n / ref if ref else float("inf")
        flag = "REGRESSION" if ratio > 1 + TOLERANCE else "STALE" if ratio < 1 - TOLERANCE else "ok"
        bad += flag != "ok"
        print(f"{flag:>10}  {name:<55} {n:>12,} instr  (baseline {ref or 0:>12,}, x{ratio:.3f})")
        if flag == "STALE":
            print(f"{'':>10}  faster than the baseline by more than {TOLERANCE:.0%}: run "
                  f"`python bench/callgrind_gate.py --update` so the gate catches the next regression")
    for (a, na), (b, nb), limit in VENUE_RATIOS:
        r = (got[a] / na) / (got[b] / nb)
        flag = "ok" if r <= limit else "TOO SLOW"
        bad += flag != "ok"
        print(f"{flag:>10}  per frame: {a.split(' ->')[0]} / {b.split(' ->')[0]} = x{r:.2f} (limit x{limit:g})")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
