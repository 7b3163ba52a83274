# SPDX-License-Identifier: Apache-2.0
"""Scaling: cost per unit of work as the work grows, so growth shows as a ratio between rows.

  scaling-depth-top      venuelink.ext.book apply_many: updates within 50 levels of the top, one side at
                         20 / 200 / 1,000 / 5,000 / 50,000 levels (time per call / updates = per level)
  scaling-depth-spread   the same books, updates anywhere in the side
  scaling-symbols        20-level Binance frames handed over from C (_bench_frames), each for one
                         symbol drawn among 1 / 100 / 10,000 subscribed on one parser
  scaling-frame-size     Binance frames of 1 / 20 / 1,000 levels over a 1,000-level book, per level

Updates are an insert, a change and a delete in turn at distinct ticks (bench/frames.py
GridSide), so a book keeps its depth. Every round starts from the same book (rebuilt untimed), so
each round applies exactly the same inserts, changes and deletes. The instruction-count gate
(bench/callgrind_workload.py) measures the same cases from the builders here.
"""
import random
from array import array

import orjson
import pytest

from bench.frames import GridSide, grid_depth_frames, grid_snapshot, Sink
from venuelink.ext.types import Side

MID = 2_712_345
TOP_WINDOW = 100            # ticks from the top: levels within about 50 of the best
DEPTHS = (20, 200, 1_000, 5_000, 50_000)
# updates per case: bounded so the 50,000-level spread case stays short under callgrind too
UPDATES = {("top", d): 10_000 for d in DEPTHS} | {
    ("spread", 20): 10_000, ("spread", 200): 10_000, ("spread", 1_000): 4_000, ("spread", 5_000): 2_000,
    ("spread", 50_000): 300}
SYMBOLS = (1, 100, 10_000)
SYMBOL_FRAMES, SYMBOL_DEPTH, SYMBOL_LEVELS = 256, 50, 20
FRAME_SIZES = (1, 20, 1_000)
FRAME_SIZE_FRAMES = {1: 2_000, 20: 256, 1_000: 16}
FRAME_SIZE_DEPTH = 1_000
FIRST_U = 1000


class DepthCase:
    """One bid side of `depth` levels and updates `where` ("top" or "spread") for apply_many."""

    def __init__(self, depth: int, where: str, n: int | None = None, seed: int = 21):
        from venuelink.ext.book import L2Book
        n = UPDATES[where, depth] if n is None else n
        bids, _ = grid_snapshot(depth, MID)
        self.snap_px = array("q", [p for p, _ in bids])
        self.snap_qty = array("q", [q for _, q in bids])
        side = GridSide(random.Random(seed + depth), depth, TOP_WINDOW if where == "top" else None)
        ups = [u for _ in range(n) for u in side.updates(1)]
        self.px = array("q", [MID - 1 - t for t, _ in ups])
        self.qty = array("q", [q for _, q in ups])
        self.n = n
        self.book = L2Book(2, 8)
        self.reset()

    def reset(self) -> None:
        self.book.set_levels(Side.BID, self.snap_px, self.snap_qty)

    def run(self) -> None:
        self.book.apply_many(Side.BID, self.px, self.qty)


def symbol_names(n: int) -> list[str]:
    return ["BTCUSDT"] + [f"X{i:05d}USDT" for i in range(1, n)]


class FrameCase:
    """A Binance parser with `n_symbols` live books of `depth` levels a side and frames for them."""

    def __init__(self, n_symbols: int, n_frames: int, levels_per_frame: int, depth: int,
                 window: int | None, seed: int = 9):
        from venuelink.adapters.binance.adapter import BinanceAdapter
        from venuelink.adapters.binance.symbols import parse_exchange_info
        from bench.bench_binance import INFO
        names = symbol_names(n_symbols)
        self.frames = grid_depth_frames(names, n_frames, levels_per_frame, depth, seed, window, FIRST_U, MID)
        self.n_frames, self.levels = n_frames, n_frames * levels_per_frame
        a = BinanceAdapter()
        row = INFO["symbols"][0]
        info = {"symbols": [{**row, "symbol": s, "baseAsset": s[:-4]} for s in names]}
        self.parser = a.make_parser(Sink())
        self.bids, self.asks = grid_snapshot(depth, MID)
        self.fs = {}
        for inst in parse_exchange_info(info):
            fs = a.feed_symbol(inst, self.parser.sink)
            self.parser.add_symbol(fs)
            self.fs[inst.venue_symbol] = fs
        self.touched = [self.fs[s] for s in sorted({orjson.loads(f)["data"]["s"] for f in self.frames})]
        for fs in self.fs.values():
            fs.sync.snapshot(FIRST_U, self.bids, self.asks)

    def reset(self) -> None:
        """Every book the frames touch back to its starting snapshot (the others never moved)."""
        for fs in self.touched:
            fs.sync.snapshot(FIRST_U, self.bids, self.asks)

    def run(self) -> int:
        return self.parser._bench_frames(self.frames)

    def check(self) -> None:
        assert all(fs.sync.is_live and fs.sync.n_gaps == 0 for fs in self.touched)
        assert self.parser.n_errors == 0


def symbols_case(n_symbols: int) -> FrameCase:
    return FrameCase(n_symbols, SYMBOL_FRAMES, SYMBOL_LEVELS, SYMBOL_DEPTH, TOP_WINDOW)


def frame_size_case(levels: int) -> FrameCase:
    return FrameCase(1, FRAME_SIZE_FRAMES[levels], levels, FRAME_SIZE_DEPTH, None)


def _pedantic(benchmark, case, units: int, unit: str) -> None:
    benchmark.pedantic(case.run, setup=case.reset, rounds=30, iterations=1, warmup_rounds=2)
    benchmark.extra_info[f"ns_per_{unit}"] = benchmark.stats.stats.median / units * 1e9


@pytest.mark.benchmark(group="scaling-depth-top")
@pytest.mark.parametrize("depth", DEPTHS)
def test_depth_top(benchmark, depth):
    case = DepthCase(depth, "top")
    _pedantic(benchmark, case, case.n, "level")


@pytest.mark.benchmark(group="scaling-depth-spread")
@pytest.mark.parametrize("depth", DEPTHS)
def test_depth_spread(benchmark, depth):
    case = DepthCase(depth, "spread")
    _pedantic(benchmark, case, case.n, "level")
    assert abs(case.book.depth(Side.BID) - depth) <= 1


@pytest.mark.benchmark(group="scaling-symbols")
@pytest.mark.parametrize("n_symbols", SYMBOLS)
def test_symbols(benchmark, n_symbols):
    case = symbols_case(n_symbols)
    _pedantic(benchmark, case, case.n_frames, "frame")
    case.check()


@pytest.mark.benchmark(group="scaling-frame-size")
@pytest.mark.parametrize("levels", FRAME_SIZES)
def test_frame_size(benchmark, levels):
    case = frame_size_case(levels)
    _pedantic(benchmark, case, case.levels, "level")
    case.check()
