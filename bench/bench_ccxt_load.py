# SPDX-License-Identifier: Apache-2.0
"""The native tier's per-frame latency with ten CCXT-tier venues running next to it, and without.

    .venv/bin/python bench/bench_ccxt_load.py            # about 2 minutes
    .venv/bin/python bench/bench_ccxt_load.py --quick    # a smoke run: 2 CCXT venues, short phases

A native Binance engine follows BTCUSDT and ETHUSDT on the Binance simulator (diff-depth and
trades); its own histograms give the time from a frame's receipt to its decoding and from decoding
to the book applied, per frame. Phases: alone, with N CCXT-tier OKX venues (each its own engine on
the same event loop and its own worker process, following the OKX simulator's books and trades:
the engine side of the tier runs on the native engine's loop, the workers compete for the same
CPUs), then alone again. Each phase starts from empty histograms after the venues are live.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from venuelink.config import Config, VenueConfig  # noqa: E402
from venuelink.engine import Engine  # noqa: E402
from venuelink.sim.server import running_simulator  # noqa: E402
from venuelink.ext.histogram import Histogram  # noqa: E402

NATIVE_SYMBOLS = ["BTC/USDT", "ETH/USDT"]


def _native(sim) -> Engine:
    vc = VenueConfig(name="binance", rest_url=sim.rest_url, ws_url=sim.ws_url, symbols=list(NATIVE_SYMBOLS))
    return Engine(Config(venues={"binance": vc}, metrics_port=0))


def _ccxt_okx(sim) -> Engine:
    host = sim.rest_url.split("://", 1)[1]
    vc = VenueConfig(name="okx", tier="ccxt", symbols=["BTC/USDT"], ccxt_isolate=True,
                     ccxt_hosts={"www.okx.com": sim.rest_url, "ws.okx.com:443": f"ws://{host}"},
                     ccxt_options={"fetchMarkets": {"types": ["spot"]}}, order_audit_s=0)
    return Engine(Config(venues={"okx": vc}, metrics_port=0))


async def _live(engines: list[Engine], venue: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    for e in engines:
        for fs in e.runtime(venue).feed_symbols():
            while not fs.sync.is_live:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{venue}: {fs.instrument.symbol} not live after {timeout_s:.0f}s")
                await asyncio.sleep(0.05)


def _hists(eng: Engine):
    return {stage: h for stage, h in eng.runtime("binance").latency_histograms()
            if stage in ("recv_to_decoded", "decoded_to_applied")}


async def _phase(native: Engine, seconds: float, trade_lat: list[int]) -> dict:
    """`seconds` of the native engine: its per-frame histograms, the event loop's lateness (a
    1-ms timer's overshoot: what delays every frame's handling) and the trades' time from the
    venue's stamp to their receipt (ms stamps: the loop's delays included)."""
    hs = _hists(native)
    for h in hs.values():
        h.reset()
    trade_lat.clear()
    lag = Histogram()
    frames0 = sum(p.n_frames for p in native.runtime("binance").parsers)
    t0 = time.monotonic()
    end = t0 + seconds
    while time.monotonic() < end:
        a = time.perf_counter_ns()
        await asyncio.sleep(0.001)
        lag.record(max(0, time.perf_counter_ns() - a - 1_000_000))
    out = {"frames/s": (sum(p.n_frames for p in native.runtime("binance").parsers) - frames0) / (time.monotonic() - t0)}
    for stage, h in list(hs.items()) + [("loop_lag", lag)]:
        p50, p99, p999 = h.percentiles((50, 99, 99.9))
        out[stage] = (p50, p99, p999, h.max, h.count)
    t = sorted(trade_lat)
    out["trade_latency"] = (t[len(t) // 2], t[min(len(t) - 1, int(0.99 * len(t)))], len(t)) if t else (0, 0, 0)
    return out


def _us(ns: int) -> str:
    return f"{ns / 1000:.1f} us" if ns < 1_000_000 else f"{ns / 1e6:.2f} ms"


async def run(n_ccxt: int, seconds: float) -> list[tuple[str, dict]]:
    with running_simulator("binance", rate=200, seed=3) as bsim, running_simulator("okx", rate=20, seed=4) as osim:
        native = _native(bsim)
        trade_lat: list[int] = []
        for sym in NATIVE_SYMBOLS:
            native.subscribe_trades("binance", sym, lambda t: trade_lat.append(t.ts_recv - t.ts_exchange))
        await native.start(execution=False)
        rows = []
        try:
            await _live([native], "binance", 30)
            await asyncio.sleep(1.0)
            rows.append(("native alone", await _phase(native, seconds, trade_lat)))
            tier = [_ccxt_okx(osim) for _ in range(n_ccxt)]
            try:
                for e in tier:
                    await e.start(execution=False)
                await _live(tier, "okx", 60)
                await asyncio.sleep(1.0)
                rows.append((f"with {n_ccxt} CCXT-tier venues", await _phase(native, seconds, trade_lat)))
            finally:
                for e in tier:
                    await e.close()
            await asyncio.sleep(1.0)
            rows.append(("native alone, again", await _phase(native, seconds, trade_lat)))
        finally:
            await native.close()
    return rows


def table(rows: list[tuple[str, dict]]) -> str:
    out = ["| phase | frames/s | event-loop lateness p50 / p99 / max | venue stamp -> trade received p50 / p99 "
           "| receipt -> decoded p50 / p99 | decoded -> book applied p50 / p99 |",
           "|---|---|---|---|---|---|"]
    for name, r in rows:
        lag = r["loop_lag"]
        tl = r["trade_latency"]
        cells = [f"{r['frames/s']:.0f}", f"{_us(lag[0])} / {_us(lag[1])} / {_us(lag[3])}",
                 f"{_us(tl[0])} / {_us(tl[1])} ({tl[2]} trades)"]
        for stage in ("recv_to_decoded", "decoded_to_applied"):
            p50, p99, p999, mx, n = r[stage]
            cells.append(f"{_us(p50)} / {_us(p99)}")
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 CCXT venues, 3-s phases")
    ap.add_argument("--venues", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    a = ap.parse_args(argv)
    n, secs = (2, 3.0) if a.quick else (a.venues, a.seconds)
    rows = asyncio.run(run(n, secs))
    print(f"{os.cpu_count()} CPUs; native Binance engine (2 symbols, simulator rate 200) on the same event loop as "
          f"{n} CCXT-tier OKX engines (each with its worker process); {secs:.0f} s per phase")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
