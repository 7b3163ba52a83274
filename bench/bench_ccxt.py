# SPDX-License-Identifier: Apache-2.0
"""Native tier against the CCXT tier, measured side by side in the same run.

Per book update (CPU, in process, the same distinct OKX `books` update frames of 20 levels as
bench_okx.py, each applied once after a snapshot):

  native          the OKX adapter's Cython parser from Python: frame -> checked (prevSeqId, CRC32)
                  and applied book, exactly as bench_okx.py measures it
  ccxt tier       the whole tier path for the same frame: json.loads, CCXT's own okx handler
                  (`exchange.handle_message` of a real `ccxt.pro.okx`, markets set from the
                  instruments answer, a `Client` from `exchange.client(url)` that is never
                  connected) behind the worker's checksum tap, the worker's `on_book` (top 20
                  snapped onto the tick/lot grid, JSON encoded; the frame is captured instead of
                  sent), and the engine-side CcxtParser applying that frame to the engine's book
  ccxt + tap      json.loads + the worker's checksum tap + CCXT's handler (no on_book, no engine)
  ccxt alone      json.loads + CCXT's handler of a plain `ccxt.pro.okx` (no tap)

Both tiers are exact: the native parser keeps fixed point, the tier snaps CCXT's floats back
onto the instrument's grid (a value off it invalidates the book); after every batch the two
engine books' top 20 levels are compared and must be equal.

Per order round trip over loopback (place a limit buy far from the market, then cancel it): two
Engines on the same Binance simulator, one native, one on the CCXT tier (CCXT's binance client
in the worker process), in interleaved rounds.

    .venv/bin/python bench/bench_ccxt.py            # both tables, about a minute
    .venv/bin/python bench/bench_ccxt.py --quick    # tiny counts (a smoke run)
    .venv/bin/python bench/bench_ccxt.py --books-only

`make bench` collects the per-book-update rows below (pytest-benchmark, group
okx-books-frame-tier); the round trips run only from this script.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):          # run as a script: the checkout's root on the path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_okx import INSTRUMENTS, SNAP, FRAMES, Sink, _live_parser  # noqa: E402
from bench.interleave import Row, fmt_ns, interleave, table  # noqa: E402

SYMBOL = "BTC/USDT"
BID, ASK = 1, 2


# ---------------------------------------------------------------------------------------- books
class NativePath:
    """The OKX adapter's parser, fed from Python (bench_okx.py's `test_venuelink_parser_books`)."""

    def __init__(self) -> None:
        self.parser, self.fs, _ = _live_parser()
        self.feed = self.parser.feed

    def snap(self) -> None:
        self.feed(SNAP)

    def update(self, frame: bytes) -> None:
        self.feed(frame)

    def check(self) -> None:
        s = self.fs.sync
        assert s.is_live and s.n_gaps == 0 and s.n_checksum_failures == 0 and self.parser.n_errors == 0

    def top(self) -> tuple[list, list]:
        return self.fs.book.top(BID, 20), self.fs.book.top(ASK, 20)


class CcxtPath:
    """CCXT's okx handler, optionally behind the worker's tap, and optionally followed by the
    worker's on_book and the engine's CcxtParser. Build it inside a running event loop (CCXT's
    `client()` wants one); the handler itself runs synchronously."""

    def __init__(self, *, tap: bool, tier: bool) -> None:
        from venuelink.ccxt_tier.grid import Grid
        from venuelink.ccxt_tier.worker import Worker, instrument_of
        self.worker = Worker({"exchange": "okx", "symbols": [SYMBOL], "depth": 20})
        if tap:
            ex = self.worker.make_exchange()       # the worker's exchange: its tap wraps handle_message
        else:
            import ccxt.pro
            ex = ccxt.pro.okx({"enableRateLimit": False, "newUpdates": True})
        self.worker.exchange = ex
        ex.set_markets(ex.parse_markets(INSTRUMENTS["data"]))
        self.ex = ex
        self.client = ex.client(ex.get_url("books", "public"))      # never connected
        self.client.subscriptions["books:" + SYMBOL] = True          # what watch_order_book registers
        self.handle = ex.handle_message
        self.tier = tier
        self.fs = None
        if tier:
            inst = instrument_of(ex.markets[SYMBOL], False)
            self.worker.grids = {SYMBOL: Grid(inst["tick"], inst["lot"])}
            self.grid = self.worker.grids[SYMBOL]
            self.sent: list[str | bytes] = []
            self.worker.send = lambda topic, frame: self.sent.append(frame)  # captured, not sent
            self.parser, self.fs = _engine_parser(inst)

    def snap(self) -> None:
        self.handle(self.client, json.loads(SNAP))
        self._after()

    def update(self, frame: bytes) -> None:
        self.handle(self.client, json.loads(frame))
        if self.tier:
            self._after()

    def _after(self) -> None:
        if not self.tier:
            return
        self.worker.on_book(SYMBOL, self.grid, self.ex.orderbooks[SYMBOL].limit())
        f = self.sent.pop()
        self.parser.feed(f if isinstance(f, bytes) else f.encode())

    def check(self) -> None:
        st = self.worker.stats
        assert SYMBOL in self.ex.orderbooks, "CCXT dropped the book (a sequence gap)"
        assert st["tap_failures"] == 0 and st["tap_unreadable"] == 0 and st["off_grid"] == 0, dict(st)
        if self.tier:
            assert self.fs.sync.is_live and not self.sent
            assert self.parser.n_errors == 0

    def top(self) -> tuple[list, list]:
        return self.fs.book.top(BID, 20), self.fs.book.top(ASK, 20)

    async def close(self) -> None:
        await self.ex.close()


def _engine_parser(inst: dict):
    """The engine side of the tier: CcxtAdapter's parser with one live symbol."""
    from venuelink.ccxt_tier.adapter import CcxtAdapter
    from venuelink.config import VenueConfig
    a = CcxtAdapter(VenueConfig(name="okx", tier="ccxt", symbols=[SYMBOL]))
    a.set_instruments(a.parse_instruments({"exchange": "okx", "instruments": [inst]}))
    sink = Sink()
    parser = a.make_parser(sink)
    fs = a.feed_symbol(a.instrument(SYMBOL), sink)
    parser.add_symbol(fs)
    return parser, fs


def tap_is_live(path: CcxtPath) -> None:
    """The tap really checks: a frame with a wrong checksum is caught (then a snapshot again)."""
    bad = json.loads(FRAMES[0])
    bad["data"][0]["checksum"] ^= 1
    path.worker.resyncing = set()
    path.worker.resubscribe = lambda symbol: asyncio.sleep(0)   # no venue to ask again
    path.snap()
    log = logging.getLogger("venuelink.ccxt_worker")
    level = log.level
    log.setLevel(logging.ERROR)             # the mismatch is expected here
    try:
        path.handle(path.client, bad)
    finally:
        log.setLevel(level)
    assert path.worker.stats["tap_failures"] == 1
    path.worker.stats["tap_failures"] = 0
    path.worker.stats["invalid"] = 0
    path.sent.clear()
    path.worker.resyncing.clear()


def interleave_batches(rows: list[Row], paths: dict[str, object], frames: list[bytes], rounds: int,
                       warmup: int = 1, max_s: float = 40.0) -> list[Row]:
    """bench.interleave's rounds with a rotating row order, where each row's snapshot is applied
    untimed before its batch (the row's setup), so a row's time is that of the update frames
    alone; after every round each path checks its book and the exact rows' books must agree."""
    def batch_of(p):
        def run() -> int:
            for f in frames:
                p.update(f)
            return len(frames)
        return run

    for r in rows:
        r.run, r.setup = batch_of(paths[r.name]), paths[r.name].snap

    def after_round() -> None:
        for p in paths.values():
            p.check()
        tops = {n: p.top() for n, p in paths.items() if getattr(p, "fs", None) is not None}
        ref = next(iter(tops.values()))
        for n, t in tops.items():
            assert t == ref, f"{n}: the book differs from the native one"

    return interleave(rows, rounds, warmup, max_s, after_round=after_round)


async def book_rows(rounds: int, n_frames: int) -> list[Row]:
    native = NativePath()
    tier = CcxtPath(tap=True, tier=True)
    tapped = CcxtPath(tap=True, tier=False)
    alone = CcxtPath(tap=False, tier=False)
    try:
        tap_is_live(tier)
        paths = {"native": native, "ccxt tier": tier, "ccxt + tap": tapped, "ccxt alone": alone}
        rows = [Row("native", None, exact=True),
                Row("ccxt tier", None, exact=True, note="tap + CCXT + on_book + engine parser"),
                Row("ccxt + tap", None, exact=False, note="CCXT's book: floats"),
                Row("ccxt alone", None, exact=False, note="CCXT's book: floats")]
        return interleave_batches(rows, paths, FRAMES[:n_frames], rounds)
    finally:
        for p in (tier, tapped, alone):
            await p.close()


# ---------------------------------------------------------------------------------- round trips
def _native_config(sim):
    from venuelink.config import VenueConfig
    return VenueConfig(name="binance", rest_url=sim.rest_url, ws_url=sim.ws_url, ws_api_url=sim["ws_api_url"],
                       api_key_env="VL_BENCH_KEY", api_secret_env="VL_BENCH_SECRET", symbols=[SYMBOL],
                       request_timeout_s=3.0, order_audit_s=0)


def _ccxt_config(sim):
    from venuelink.config import VenueConfig
    return VenueConfig(name="binance", tier="ccxt", symbols=[SYMBOL], api_key_env="VL_BENCH_KEY",
                       api_secret_env="VL_BENCH_SECRET", ccxt_timeout_s=4.0, order_audit_s=0, ccxt_isolate=True,
                       ccxt_hosts={"api.binance.com": sim.rest_url, "stream.binance.com:9443": sim.ws_url,
                                   "ws-api.binance.com:443": sim.ws_url},
                       ccxt_options={"fetchMarkets": {"types": ["spot"]}})


async def _round_trip(eng) -> tuple[int, int]:
    """(place ns, cancel ns) of one limit buy far below the market, placed then canceled."""
    from venuelink.model import OrderRequest, OrderState, OrderType, Side, VenueId
    t0 = time.perf_counter_ns()
    o = await eng.place(OrderRequest(VenueId.binance, SYMBOL, Side.BUY, OrderType.LIMIT, "0.001", "1000"))
    t1 = time.perf_counter_ns()
    if o.state != OrderState.NEW:
        raise RuntimeError(f"place: {o.state.name} {o.error}")
    c = await eng.cancel("binance", o.client_order_id)
    t2 = time.perf_counter_ns()
    if c.state != OrderState.CANCELED:
        raise RuntimeError(f"cancel: {c.state.name} {c.error}")
    return t1 - t0, t2 - t1


async def order_rows(sim, n: int, rounds: int, pace_s: float) -> tuple[dict, dict]:
    """Interleaved rounds: each engine does `n` round trips in turn (which goes first alternates);
    a round starts at most every `pace_s` seconds, so neither engine's own budget (Binance's 100
    orders per 10 s) ever has to hold an order. Returns (per engine: [(place, cancel)], notes)."""
    from venuelink.config import Config
    from venuelink.engine import Engine
    os.environ["VL_BENCH_KEY"] = sim["api_key"]
    os.environ["VL_BENCH_SECRET"] = sim["api_secret"]
    engines = {"native": Engine(Config(venues={"binance": _native_config(sim)}, metrics_port=0)),
               "ccxt tier": Engine(Config(venues={"binance": _ccxt_config(sim)}, metrics_port=0))}
    out: dict[str, list[tuple[int, int]]] = {k: [] for k in engines}
    notes = {}
    try:
        for name, eng in engines.items():
            await eng.start(market_data=False)
            notes[name] = type(eng.runtime("binance").execution).__name__
        for name, eng in engines.items():          # both venues open for orders (private streams up)
            av = eng.runtime("binance").availability
            deadline = time.monotonic() + 15.0
            while av is not None and (not av.available or av._why_unavailable()):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name}: not available for orders: {av._why_unavailable()}")
                await asyncio.sleep(0.05)
        for eng in engines.values():               # warm-up: connections, first signatures
            for _ in range(2):
                await _round_trip(eng)
        changes0 = {k: _transitions(e) for k, e in engines.items()}
        names = list(engines)
        for k in range(rounds):
            t_round = time.monotonic()
            for name in (names if k % 2 == 0 else names[::-1]):
                for _ in range(n):
                    out[name].append(await _round_trip(engines[name]))
            left = pace_s - (time.monotonic() - t_round)
            if left > 0 and k + 1 < rounds:
                await asyncio.sleep(left)
        for name, eng in engines.items():
            if _transitions(eng) != changes0[name]:
                raise RuntimeError(f"{name}: the venue's availability changed during the timed rounds")
    finally:
        for eng in engines.values():
            await eng.close()
    return out, notes


def _transitions(eng) -> int:
    av = eng.runtime("binance").availability
    return av.transitions if av is not None else 0


def _p(values: list[int], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))]


def order_table(res: dict[str, list[tuple[int, int]]]) -> str:
    base = statistics.median([p + c for p, c in res["native"]])
    out = ["| per order round trip (place + cancel) | median | p90 | place median | cancel median | n | vs native |",
           "|---|---|---|---|---|---|---|"]
    for name, rt in res.items():
        both = [p + c for p, c in rt]
        med = statistics.median(both)
        out.append(f"| {name} | {fmt_ns(med)} | {fmt_ns(_p(both, 0.9))} | {fmt_ns(statistics.median(p for p, _ in rt))} | "
                   f"{fmt_ns(statistics.median(c for _, c in rt))} | {len(rt)} | {med / base:.2f}x |")
    return "\n".join(out)


def machine_note() -> str:
    cpu = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import ccxt
    return (f"{os.cpu_count()} CPUs ({cpu or platform.machine()}), shared; Python {platform.python_version()}, "
            f"ccxt {ccxt.__version__}. Rows of one table come from the same run, interleaved: read the ratios.")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny counts: a smoke run of both tables")
    ap.add_argument("--books-only", action="store_true")
    ap.add_argument("--orders-only", action="store_true")
    ap.add_argument("--rounds", type=int, default=None, help="book rounds (default 15; quick 3)")
    ap.add_argument("--n", type=int, default=None, help="round trips per engine per round (default 10; quick 2)")
    ap.add_argument("--order-rounds", type=int, default=None, help="default 12; quick 2")
    args = ap.parse_args(argv)
    q = args.quick
    print(machine_note())
    if not args.orders_only:
        rounds = args.rounds or (3 if q else 15)
        n_frames = 32 if q else len(FRAMES)
        rows = asyncio.run(book_rows(rounds, n_frames))
        print(f"\nOKX `books` update, 20 levels per frame ({n_frames} distinct frames per batch after a 400+400-level "
              f"snapshot applied untimed), {len(rows[0].per_round_ns)} interleaved rounds; CPU time in process, "
              f"no network. The two exact rows' books are compared after every batch: equal.\n")
        print(table(rows, title="per book update"))
    if not args.books_only:
        from venuelink.sim.server import running_simulator
        n = args.n or (2 if q else 10)
        rounds = args.order_rounds or (2 if q else 12)
        pace = 0.0 if q else 2.0
        limit = 1000
        with running_simulator("binance", rate=10, seed=7, orders_10s=limit) as sim:
            res, notes = asyncio.run(order_rows(sim, n, rounds, pace))
        paced = "" if q else f"; rounds start at most every {pace:g} s, so it never holds an order"
        print(f"\nOrder round trip over loopback: Binance simulator, ORDERS_10S raised to {limit} (the two engines "
              f"share its key; each engine's own budget still keeps Binance's 100 per 10 s{paced}). "
              f"{rounds} interleaved rounds of {n} place (limit buy far below the market) + cancel per engine. "
              f"native: {notes['native']} (engine -> simulator, signed REST); ccxt tier: {notes['ccxt tier']} "
              f"(engine -> worker HTTP -> CCXT's binance -> simulator REST). The venue stayed available "
              f"throughout the timed rounds.\n")
        print(order_table(res))
    return 0


# ------------------------------------------------------------------------ make bench (pytest-benchmark)
def _bench_path(benchmark, path) -> None:
    st = {"i": 0}

    def run():
        i = st["i"]
        if i == 0:
            path.snap()
        path.update(FRAMES[i])
        st["i"] = i + 1 if i + 1 < len(FRAMES) else 0
    benchmark(run)
    path.check()


def _with_ccxt(benchmark, **kw) -> None:
    loop = asyncio.new_event_loop()
    try:
        async def make():
            return CcxtPath(**kw)
        path = loop.run_until_complete(make())
        try:
            _bench_path(benchmark, path)
        finally:
            loop.run_until_complete(path.close())
    finally:
        loop.close()


try:
    import pytest
except ImportError:                 # the script needs no pytest
    pytest = None

if pytest is not None:
    @pytest.mark.benchmark(group="okx-books-frame-tier")
    def test_native_books(benchmark):
        _bench_path(benchmark, NativePath())

    @pytest.mark.benchmark(group="okx-books-frame-tier")
    def test_ccxt_tier_books(benchmark):
        _with_ccxt(benchmark, tap=True, tier=True)

    @pytest.mark.benchmark(group="okx-books-frame-tier")
    def test_ccxt_with_tap_books(benchmark):
        _with_ccxt(benchmark, tap=True, tier=False)

    @pytest.mark.benchmark(group="okx-books-frame-tier")
    def test_ccxt_alone_books(benchmark):
        _with_ccxt(benchmark, tap=False, tier=False)


if __name__ == "__main__":
    sys.exit(main())
