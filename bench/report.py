# SPDX-License-Identifier: Apache-2.0
"""Markdown table of a pytest-benchmark JSON run: per group, each row's min time and its ratio to
the group's venuelink row (the first row whose name does not start with an alternative's prefix).

    make bench BENCH_ARGS=--benchmark-json=/tmp/bench.json
    .venv/bin/python bench/report.py /tmp/bench.json
"""
from __future__ import annotations

import json
import sys
from collections import defaultdict

ALTERNATIVES = ("test_msgspec", "test_orjson", "test_sorteddict", "test_order_book", "test_python", "test_time",
                "test_alt", "test_ref")


def fmt(s: float) -> str:
    if s < 1e-6:
        return f"{s * 1e9:.0f} ns"
    if s < 1e-3:
        return f"{s * 1e6:.2f} us"
    return f"{s * 1e3:.2f} ms"


def main(path: str) -> None:
    data = json.load(open(path))
    groups: dict[str, list] = defaultdict(list)
    for b in data["benchmarks"]:
        groups[b["group"] or b["name"]].append(b)
    print("| group | benchmark | min | median | vs venuelink |")
    print("|---|---|---|---|---|")
    for g in sorted(groups):
        rows = sorted(groups[g], key=lambda b: b["stats"]["min"])
        ours = [b for b in rows if not b["name"].startswith(ALTERNATIVES)]
        ref = ours[0]["stats"]["min"] if ours else rows[0]["stats"]["min"]
        for b in rows:
            st = b["stats"]
            print(f"| {g} | {b['name'].removeprefix('test_')} | {fmt(st['min'])} | {fmt(st['median'])} | "
                  f"{st['min'] / ref:.2f}x |")


if __name__ == "__main__":
    main(sys.argv[1])
