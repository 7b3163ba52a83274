# SPDX-License-Identifier: Apache-2.0
"""``venuelink soak``: every venue simulated, a strategy placing and cancelling orders at twice each
venue's order-rate limit, random faults from the fault matrix, for minutes; then a JSON report and a
non-zero exit on any violation.

One cycle per venue: inject a random fault (``venuelink.tools.drill.CASES``), trade through it at twice the
limit, end the fault, stop trading, then check (``venuelink.tools.drill.Drill``): every order final and equal
to the venue's ledger, none placed twice, every fill delivered once; every book LIVE and equal to the
venue's; no rate-limit rejection or ban caused by the engine's own traffic. Across the run: resident
memory after warm-up may grow by at most ``--max-rss-growth-mb``, and no event-loop stall may exceed
``--max-stall-ms``.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import faulthandler
import json
import logging
import random
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from venuelink.tools.drill import CASES, Drill, FaultCase, applicable
from venuelink.errors import EngineError
from venuelink.model import Order, OrderRequest, OrderType, Side, TimeInForce
from venuelink.venue import BucketScope
from venuelink.tasks import within

log = logging.getLogger("venuelink.soak")


def order_rate_limit(venue: str) -> float:
    """The venue's tightest per-account order rate over a short window (a minute or less), orders
    per second: the burst a strategy meets first (daily caps are far above a soak's volume)."""
    from venuelink import registry
    spec = registry.create(venue).spec
    rates = [b.limit / b.window_s for b in spec.buckets if b.scope == BucketScope.ACCOUNT and b.window_s <= 60]
    return min(rates) if rates else 10.0


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


@dataclass(slots=True)
class VenueTally:
    venue: str
    order_rate_limit_per_s: float
    attempt_rate_per_s: float
    cycles: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    attempts: int = 0
    placed: int = 0
    refused_by_engine: int = 0        # not sent: budget, breaker or unavailable policy said no
    skipped_inflight: int = 0         # the strategy's own bound on orders in flight
    cancels: int = 0
    fills: int = 0
    trades: int = 0
    resyncs: int = 0
    reconnects: int = 0
    violations: list[str] = field(default_factory=list)


class StallMonitor:
    """Largest lateness of a 10 ms timer: how long the event loop was blocked.

    A stall is also caught in the act: a C-level watchdog (faulthandler, which runs while the GIL is
    held) is re-armed every tick and, when the loop misses `dump_after_s`, writes every thread's
    stack to a temporary file; the first such dump is kept (`stall_stack`) for the report, so a
    stall names the code that caused it. A stall with no stack was not the loop's own doing (the
    process or the machine was not scheduled: compare `cpu_s_during_max` with the stall)."""

    def __init__(self, dump_after_s: float = 1.0) -> None:
        self.max_ms = 0.0
        self.over_100ms = 0
        self.dump_after_s = dump_after_s
        self.stall_stack = ""
        self.cpu_s_during_max = 0.0
        self._task: asyncio.Task | None = None
        self._dump = tempfile.TemporaryFile(mode="w+")

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        faulthandler.cancel_dump_traceback_later()
        self._collect()
        self._dump.close()

    def _collect(self) -> None:
        if self.stall_stack or self._dump.closed:
            return
        self._dump.seek(0)
        self.stall_stack = self._dump.read()[:20000]

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            faulthandler.dump_traceback_later(self.dump_after_s, repeat=False, file=self._dump)
            t, cpu = loop.time(), time.process_time()
            await asyncio.sleep(0.01)
            late = (loop.time() - t - 0.01) * 1000
            if late > self.max_ms:
                self.max_ms = late
                self.cpu_s_during_max = time.process_time() - cpu
            if late > 100:
                self.over_100ms += 1
            if late > self.dump_after_s * 1000:
                self._collect()


async def _strategy(d: Drill, tally: VenueTally, stop: asyncio.Event, rng: random.Random,
                    max_inflight: int = 40) -> None:
    """Orders at ``tally.attempt_rate_per_s``: resting buys far from the book (cancelled a moment
    later) and small marketable orders, alternating sides."""
    assert d.engine is not None
    eng = d.engine
    rt = d.rt
    sym = d.symbols[0]
    inst = rt.adapter.instrument(sym)
    qty = inst.qty_str(max(inst.lot * d.order_qty_lots, inst.min_qty))
    period = 1.0 / tally.attempt_rate_per_s
    inflight: set[asyncio.Task] = set()
    far: str | None = None

    async def one(i: int) -> None:
        nonlocal far
        try:
            if i % 3 == 0:
                side = Side.BUY if i % 2 else Side.SELL
                o = await eng.place(OrderRequest(rt.venue, sym, side, OrderType.MARKET, qty))
            else:
                if far is None or i % 50 == 1:
                    book = await d.admin("GET", f"/book?symbol={inst.venue_symbol}&limit=1")
                    p = inst.px(book["bids"][0][0]) * 8 // 10
                    far = inst.px_str(p - p % inst.tick)
                o = await eng.place(OrderRequest(rt.venue, sym, Side.BUY, OrderType.LIMIT, qty, far, TimeInForce.GTC))
            tally.placed += 1
            if i % 3 != 0:
                await asyncio.sleep(rng.uniform(0.05, 0.5))
                if not o.state.is_final:
                    tally.cancels += 1
                    await eng.cancel(rt.venue, o.client_order_id)
        except EngineError as e:
            tally.refused_by_engine += 1
            log.debug("order refused: %s", e)

    i = 0
    next_t = time.monotonic()
    while not stop.is_set():
        next_t += period
        delay = next_t - time.monotonic()
        if delay > 0:
            try:
                await within(stop.wait(), delay)
                break
            except asyncio.TimeoutError:
                pass
        elif delay < -1.0:
            next_t = time.monotonic()
        tally.attempts += 1
        if len(inflight) >= max_inflight:
            tally.skipped_inflight += 1
            continue
        i += 1
        t = asyncio.ensure_future(one(i))
        inflight.add(t)
        t.add_done_callback(inflight.discard)
    if inflight:
        await asyncio.gather(*inflight, return_exceptions=True)


async def _cycle(d: Drill, case: FaultCase, tally: VenueTally, rng: random.Random, trade_s: float) -> None:
    tgt = d.target()
    before = d.counters()
    n_viol = len(d.violations)
    for ct in d.case_trades.values():
        ct.clear()
    stop = asyncio.Event()
    strat = asyncio.ensure_future(_strategy(d, tally, stop, rng))
    await asyncio.sleep(rng.uniform(0.2, 1.0))
    await d.fault(case.inject(tgt))
    tally.faults[case.name] = tally.faults.get(case.name, 0) + 1
    await asyncio.sleep(max(case.hold_s, trade_s))
    if case.clear is not None:
        await d.fault(case.clear(tgt))
    await asyncio.sleep(1.0)
    stop.set()
    await strat
    out = []
    await d.finish_orders()
    out += await d.check_ledger()
    out += await d.check_books()
    out += await d.check_trades()
    out += await d.self_limited()
    out += d.violations[n_viol:]
    after = d.counters()
    tally.resyncs += after["resyncs"] - before["resyncs"]
    tally.reconnects += after["reconnects"] - before["reconnects"]
    tally.trades += after["trades"] - before["trades"]
    if after["strategy_errors"] > before["strategy_errors"]:
        out.append(f"{after['strategy_errors'] - before['strategy_errors']} strategy callbacks raised")
    tally.violations += [f"cycle {tally.cycles} ({case.name}): {v}" for v in out]
    tally.cycles += 1
    await d.fault([{"type": "clear"}])


async def soak(venues: list[str], minutes: float, seed: int, *, max_rss_growth_mb: float, max_stall_ms: float,
               warmup_s: float, trade_s: float, faults: list[str] | None = None) -> dict[str, Any]:
    from venuelink.sim.server import running_simulator
    rng = random.Random(seed)
    t_start = time.monotonic()
    end = t_start + minutes * 60
    mon = StallMonitor()
    rss = {"start_mb": round(rss_mb(), 1)}
    tallies: list[VenueTally] = []
    with contextlib.ExitStack() as stack:
        drills = []
        for v in venues:
            sim = stack.enter_context(running_simulator(v, rate=50, seed=seed))
            lim = order_rate_limit(v)
            tallies.append(VenueTally(v, lim, 2 * lim))
            drills.append(Drill(v, sim, seed=seed))
        for d in drills:
            await d.start()
        mon.start()
        try:
            warm_until = time.monotonic() + warmup_s
            warm_taken = False

            async def run_venue(d: Drill, tally: VenueTally, vrng: random.Random) -> None:
                nonlocal warm_taken
                cases = [c for c in applicable(d.venue) if not faults or c.name in faults]
                if not cases:
                    return
                while time.monotonic() < end - trade_s:
                    await _cycle(d, vrng.choice(cases), tally, vrng, trade_s)
                    if not warm_taken and time.monotonic() >= warm_until:
                        warm_taken = True
                        rss["after_warmup_mb"] = round(rss_mb(), 1)
            await asyncio.gather(*(run_venue(d, t, random.Random(rng.random())) for d, t in zip(drills, tallies)))
        finally:
            mon.stop()
            for d in drills:
                d_fills = d.fills_delivered + sum(len(f) for f in d.fills.values())
                for t in tallies:
                    if t.venue == d.venue:
                        t.fills = d_fills
                await d.close()
    rss["end_mb"] = round(rss_mb(), 1)
    rss.setdefault("after_warmup_mb", rss["end_mb"])
    violations = [v for t in tallies for v in (f"{t.venue}: {x}" for x in t.violations)]
    growth = rss["end_mb"] - rss["after_warmup_mb"]
    if growth > max_rss_growth_mb:
        violations.append(f"resident memory grew {growth:.1f} MB after warm-up (bound {max_rss_growth_mb:g} MB)")
    if mon.max_ms > max_stall_ms:
        violations.append(f"event loop stalled {mon.max_ms:.0f} ms (bound {max_stall_ms:g} ms; "
                          f"{mon.cpu_s_during_max:.2f} s of CPU meanwhile; stack: "
                          f"{'in the report' if mon.stall_stack else 'none caught'})")
    for t in tallies:
        if t.cycles == 0:
            violations.append(f"{t.venue}: no cycle completed")
    return {
        "ok": not violations,
        "seed": seed,
        "minutes": minutes,
        "seconds": round(time.monotonic() - t_start, 1),
        "venues": [asdict(t) for t in tallies],
        "rss": rss,
        "rss_growth_bound_mb": max_rss_growth_mb,
        "max_loop_stall_ms": round(mon.max_ms, 1),
        "loop_stalls_over_100ms": mon.over_100ms,
        "cpu_s_during_max_stall": round(mon.cpu_s_during_max, 3),
        "stall_stack": mon.stall_stack,
        "loop_stall_bound_ms": max_stall_ms,
        "violations": violations,
    }


def add_parser(sub) -> None:
    s = sub.add_parser("soak", help="all venues simulated, orders at twice the rate limits, random faults; "
                                    "JSON report, non-zero exit on any violation",
                       description=__doc__.split("\n\n")[0])
    s.add_argument("--minutes", type=float, default=2.0, help="how long to run (default 2)")
    s.add_argument("--venues", nargs="+", help="venue ids (default: every registered venue)")
    s.add_argument("--seed", type=int, default=1, help="seed of the fault and order choices (default 1)")
    s.add_argument("--report", help="also write the JSON report to this file")
    s.add_argument("--max-rss-growth-mb", type=float, default=64.0,
                   help="bound on resident-memory growth after warm-up (default 64)")
    s.add_argument("--max-stall-ms", type=float, default=1000.0,
                   help="bound on the longest event-loop stall (default 1000)")
    s.add_argument("--warmup", type=float, default=30.0, help="seconds before the warm-up RSS is taken (default 30)")
    s.add_argument("--cycle", type=float, default=4.0, help="seconds of trading per fault cycle (default 4)")
    s.add_argument("--faults", nargs="+", metavar="CASE",
                   help="only these fault cases (default: every case the venue supports)")
    s.add_argument("--log-level", default="error", choices=["debug", "info", "warning", "error"],
                   help="log level on stderr (default error)")
    s.set_defaults(func=_cmd_soak)


def _cmd_soak(args: argparse.Namespace) -> int:
    from venuelink import registry
    venues = args.venues or registry.trading()          # the drills trade
    unknown = [v for v in venues if v not in registry.available()]
    if unknown:
        print(f"unknown venues {unknown}; available: {', '.join(registry.available())}", file=sys.stderr)
        return 2
    from venuelink.tools.drill import CASES_BY_NAME
    bad = [f for f in args.faults or () if f not in CASES_BY_NAME]
    if bad:
        print(f"unknown fault cases {bad}; available: {', '.join(CASES_BY_NAME)}", file=sys.stderr)
        return 2
    logging.basicConfig(level=getattr(logging, args.log_level.upper()), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        import uvloop
        runner = uvloop.run
    except ImportError:                     # pragma: no cover
        runner = asyncio.run
    report = runner(soak(venues, args.minutes, args.seed, max_rss_growth_mb=args.max_rss_growth_mb,
                         max_stall_ms=args.max_stall_ms, warmup_s=min(args.warmup, args.minutes * 30),
                         trade_s=args.cycle, faults=args.faults))
    text = json.dumps(report, indent=2)
    print(text)
    if args.report:
        with open(args.report, "w") as f:
            f.write(text + "\n")
    return 0 if report["ok"] else 1
