# SPDX-License-Identifier: Apache-2.0
"""Instruction-count gate: run bench/callgrind_workload.py under callgrind and compare each hot
function's inclusive instruction count with bench/baselines/callgrind.json.

Instruction counts are deterministic for a given binary and input (unlike times on a shared
machine), so a regression beyond the tolerance fails the build.

One valgrind process runs every section with --instr-atstart=no: Python's start-up, the imports and
building the inputs run uninstrumented, the workload switches instrumentation on only around each
measured call and dumps each section's counts to a file of its own (client requests from
bench/callgrind_requests.c, compiled here into a temporary library: needs a C compiler and
valgrind's headers, both installed by `make sysdeps`).

    python bench/callgrind_gate.py            # check (exit 1 on regression)
    python bench/callgrind_gate.py --update   # write the baseline after an intended change
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.callgrind_workload import SCALING  # noqa: E402  (the scaling sections and their units)

BASELINE = ROOT / "bench" / "baselines" / "callgrind.json"
# workload section -> {function (substring of the Cython-generated C symbol) -> gate name}; each
# section's counts are dumped apart, so venues sharing a C helper (FrameParser._bench_frames) count apart
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
    "bybit": {
        "_bench_frames": "bybit orderbook.50 frame (u) -> book x256 (20 levels each)",
    },
    # trade-id dedupe, O(1) per trade whatever the order of ids (ext/feed.pyx seen_trade): the three
    # cases in one section, their sum
    "trade-ids-all": {"_bench_seen_trades": "trade-id dedupe x30000 (in order, after one absurd id, "
                                            "runs of 16 shuffled: 10000 each)"},
}
# the scaling cases (bench/bench_scaling.py), one section each: their counts are divided by their
# units of work (levels applied, frames) so sizes compare
FUNCS.update({section: {func: name} for section, (func, name, _, _) in SCALING.items()})
# a strategy's reads of a 20-level book through its BookHandle (ext/view.pyx), each a call of the
# bound method from C: counts include the call and the result made and dropped. Last, so the
# sections before run on the heap they always had
FUNCS["view"] = {
    "_bench_best_pair": "view: best_bid() + best_ask() x10000 each (20-level book)",
    "_bench_best_px": "view: best_bid_px() x10000 (20-level book)",
    "_bench_top_cached": "view: top(5) x10000, book unchanged (cached texts)",
    "_bench_top_changing": "view: top(5) x10000, 5 new sizes a side before each (formatting)",
}
TOLERANCE = 0.10
"""beyond this either way the gate fails: slower is a regression; faster means the baseline is stale
and would let a regression of that size through (run --update with the change that earned it)"""
# (name, frames) pairs whose per-frame counts must stay within a ratio: a venue's checked book frame
# against Binance's unchecked one, same level count per frame
VENUE_RATIOS = [# the CRC32 over 50 levels is a fixed cost on top of the path both share: as that path gets
                # cheaper the ratio grows (x1.50 at 25.9k / 17.2k instructions per frame)
                (("okx books frame -> checked book x256 (20 levels each, CRC32 of 50 levels)", 256),
                 ("binance depth frame -> book x255 (20 levels each)", 255), 1.55),
                (("okx books frame as sent since Aug 2026 (no checksum) -> book x256 (20 levels each)", 256),
                 ("binance depth frame -> book x255 (20 levels each)", 255), 1.5),
                (("binanceusdm depth frame (pu, T) -> book x255 (20 levels each)", 255),
                 ("binance depth frame -> book x255 (20 levels each)", 255), 1.1),
                # Bybit's delta through the generic wire parser (topic dispatch, the type field,
                # u == the book's u + 1): measured x1.13 per frame
                (("bybit orderbook.50 frame (u) -> book x256 (20 levels each)", 256),
                 ("binance depth frame -> book x255 (20 levels each)", 255), 1.24)]

# (section, against section, limit): growth as the work grows, per unit of work (SCALING's units:
# levels applied, frames). Each limit is the ratio measured with the sorted-array book x1.1, so the
# growth of today is the guard; a structure that grows less should tighten them.
SCALE_RATIOS = [("depth-spread-200", "depth-spread-20", 2.11),        # measured x1.91
                ("depth-spread-1000", "depth-spread-20", 3.56),       # x3.23
                ("depth-spread-5000", "depth-spread-20", 47.3),       # x43.0
                ("depth-spread-50000", "depth-spread-20", 522),       # x475
                ("depth-top-50000", "depth-top-20", 2.11),            # x1.92
                ("symbols-100", "symbols-1", 1.17),                   # x1.065
                ("symbols-10000", "symbols-1", 1.22),                 # x1.107
                ("frame-size-1000", "frame-size-20", 0.951)]          # x0.864


def per_unit(counts: dict[str, int], section: str) -> float:
    """A scaling section's count per unit of work."""
    _, name, units, _ = SCALING[section]
    return counts[name] / units


REQUESTS_C = ROOT / "bench" / "callgrind_requests.c"


class GateError(Exception):
    """The gate could not measure (as opposed to a measured regression)."""


def _build_requests(d: str) -> str:
    """Compile the client-request helper into d; return the library's path."""
    so = os.path.join(d, "callgrind_requests.so")
    cc = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")
    p = subprocess.run([*cc, "-O2", "-shared", "-fPIC", "-o", so, str(REQUESTS_C)], capture_output=True, text=True)
    if p.returncode:
        raise GateError(f"cannot compile {REQUESTS_C.relative_to(ROOT)} (a C compiler and valgrind's "
                        f"headers are needed: make sysdeps):\n{p.stderr}")
    return so


def _counts(dump: str, funcs: dict[str, str]) -> dict[str, int]:
    ann = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", dump],
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
    # every section's functions toggle collection in every section (one process): as before within
    # core, a gated function must not call another, or the inner one would switch counting off
    toggles = sorted({f for funcs in FUNCS.values() for f in funcs})
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "cg.out")
        env = {**os.environ, "PYTHONHASHSEED": "0", "VL_CALLGRIND_REQUESTS": _build_requests(d)}
        cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
               "--dump-instr=no", *[f"--toggle-collect=*{f}*" for f in toggles],
               sys.executable, "bench/callgrind_workload.py", *FUNCS]
        p = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if p.returncode:
            raise GateError(f"the workload failed under valgrind (exit {p.returncode}):\n{p.stderr[-4000:]}")
        # cg.out.<n>, one per section, each described by the section name the workload dumped it with
        dumps: dict[str, str] = {}
        for f in os.listdir(d):
            if f.startswith("cg.out."):
                path = os.path.join(d, f)
                with open(path) as fh:
                    head = fh.read(4096)
                m = re.search(r"^desc: Trigger: Client Request: (.+)$", head, re.M)
                if m:
                    dumps[m.group(1).strip()] = path
        counts: dict[str, int] = {}
        for section, funcs in FUNCS.items():
            if section not in dumps:
                raise GateError(f"no callgrind dump for section {section!r} (got {sorted(dumps)})")
            counts.update(_counts(dumps[section], funcs))
    return counts


def compare(got: dict[str, int], base: dict[str, int]) -> tuple[list[str], int]:
    """The report lines and the number of failures: each count against its baseline, then the
    per-frame ratios between venues (VENUE_RATIOS) and the growth ratios (SCALE_RATIOS)."""
    lines, bad = [], 0
    for name, n in sorted(got.items()):
        ref = base.get(name)
        ratio = n / ref if ref else float("inf")
        flag = "REGRESSION" if ratio > 1 + TOLERANCE else "STALE" if ratio < 1 - TOLERANCE else "ok"
        bad += flag != "ok"
        lines.append(f"{flag:>10}  {name:<55} {n:>12,} instr  (baseline {ref or 0:>12,}, x{ratio:.3f})")
        if flag == "STALE":
            lines.append(f"{'':>10}  faster than the baseline by more than {TOLERANCE:.0%}: run "
                         f"`python bench/callgrind_gate.py --update` so the gate catches the next regression")
    for (a, na), (b, nb), limit in VENUE_RATIOS:
        r = (got[a] / na) / (got[b] / nb)
        flag = "ok" if r <= limit else "TOO SLOW"
        bad += flag != "ok"
        lines.append(f"{flag:>10}  per frame: {a.split(' ->')[0]} / {b.split(' ->')[0]} = x{r:.2f} (limit x{limit:g})")
    for a, b, limit in SCALE_RATIOS:
        pa, pb = per_unit(got, a), per_unit(got, b)
        r = pa / pb
        flag = "ok" if r <= limit else "TOO SLOW"
        bad += flag != "ok"
        lines.append(f"{flag:>10}  per {SCALING[a][3]}: {a} / {b} = {pa:,.0f} / {pb:,.0f} instr = x{r:.3g} "
                     f"(limit x{limit:g})")
    return lines, bad


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--update", action="store_true", help="write the measured counts as the new baseline")
    args = ap.parse_args()
    try:
        got = measure()
    except GateError as e:
        print(f"callgrind gate: {e}", file=sys.stderr)
        return 2
    missing = [n for funcs in FUNCS.values() for n in funcs.values() if n not in got]
    if missing:
        print(f"callgrind gate: no count for {missing}", file=sys.stderr)
        return 2
    if args.update or not BASELINE.exists():
        BASELINE.write_text(json.dumps(got, indent=2, sort_keys=True) + "\n")
        print(f"callgrind gate: baseline written to {BASELINE}")
        return 0
    lines, bad = compare(got, json.loads(BASELINE.read_text()))
    print("\n".join(lines))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
