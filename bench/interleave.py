# SPDX-License-Identifier: Apache-2.0
"""Side-by-side timing that a shared machine cannot bias: the rows of one comparison run in
rounds, and every round runs each row once, in an order rotated from round to round. Load that
comes and goes then hits every row alike, and a ratio between two rows of one run means what it
says. Each row is a callable that processes one batch of inputs (distinct frames, as a venue
sends them) and returns how many it processed.

    rows = [Row("venuelink", run_ours, exact=True), Row("msgspec + order-book", run_peer, exact=False)]
    print(table(interleave(rows, rounds=30)))
"""
from __future__ import annotations

import gc
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class Row:
    name: str
    run: Callable[[], int]
    """processes one batch, returns the number of operations in it"""
    exact: bool
    """keeps prices and sizes exact (fixed point / Decimal), or floats"""
    note: str = ""
    setup: Callable[[], None] | None = None
    """run untimed before each batch (e.g. a snapshot the batch's updates apply to)"""
    per_round_ns: list[float] = field(default_factory=list)
    """time per operation in each round"""

    @property
    def median_ns(self) -> float:
        return statistics.median(self.per_round_ns)

    @property
    def best_ns(self) -> float:
        return min(self.per_round_ns)


def interleave(rows: list[Row], rounds: int = 25, warmup: int = 2, max_s: float = 60.0,
               after_round: Callable[[], None] | None = None) -> list[Row]:
    """Run `rounds` rounds (after `warmup` untimed ones) of every row, GC off while timing; stops
    early, with at least three timed rounds, once `max_s` seconds have passed. A row's `setup`
    runs untimed before each of its batches; `after_round` (untimed) after every round, e.g. to
    check that the rows agree."""
    for _ in range(warmup):
        for r in rows:
            if r.setup is not None:
                r.setup()
            r.run()
    t_end = time.monotonic() + max_s
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for k in range(rounds):
            order = rows[k % len(rows):] + rows[:k % len(rows)]
            for r in order:
                if r.setup is not None:
                    r.setup()
                t0 = time.perf_counter_ns()
                n = r.run()
                dt = time.perf_counter_ns() - t0
                if n <= 0:
                    raise RuntimeError(f"{r.name}: processed nothing")
                r.per_round_ns.append(dt / n)
            if after_round is not None:
                after_round()
            gc.collect()
            if k >= 2 and time.monotonic() > t_end:
                break
    finally:
        if gc_was:
            gc.enable()
    return rows


def fmt_ns(ns: float) -> str:
    if ns < 1000:
        return f"{ns:.0f} ns"
    if ns < 1e6:
        return f"{ns / 1e3:.2f} us"
    return f"{ns / 1e6:.2f} ms"


def table(rows: list[Row], ref: str | None = None, title: str = "per operation") -> str:
    """Markdown: median and best time per operation, operations per second, and each row's time
    as a multiple of the reference row's (the first row unless `ref` names one)."""
    base = next((r for r in rows if r.name == ref), rows[0])
    out = [f"| {title} | median | best | per s | vs {base.name} | exact |", "|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r.name}{(' (' + r.note + ')') if r.note else ''} | {fmt_ns(r.median_ns)} | "
                   f"{fmt_ns(r.best_ns)} | {1e9 / r.median_ns:,.0f} | {r.median_ns / base.median_ns:.2f}x | "
                   f"{'yes' if r.exact else 'no (float)'} |")
    return "\n".join(out)
