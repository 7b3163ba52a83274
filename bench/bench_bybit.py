# SPDX-License-Identifier: Apache-2.0
"""Bybit v5 path: `orderbook.50` deltas (the consecutive-u rule: a delta applies only when its u is
the book's + 1) and `publicTrade` pushes through the generic wire parser (ext/wire.pyx reading
adapters/bybit/wire.py) into the book / normalized trades, side by side with what a Python feed
handler does for the same frames: msgspec into a typed Struct with float prices and sizes and the
`order-book` C extension keyed by float (the fastest pipeline people run, not exact), and orjson
with `order-book` keyed by Decimal (exact), each checking the u chain.

  bybit-depth-frame   a 20-level orderbook.50 delta (10 levels a side) -> checked, applied book
  bybit-trade-frame   a publicTrade push of 4 trades -> 4 normalized Trade events

The frames are Bybit's spot BTCUSDT as sent (prices at tick 0.01, sizes at 0.000001 as strings,
deletes as "0", bids best first, asks best first), generated from a fixed seed: a 50-level
snapshot, then deltas that insert as many levels as they delete on each side, so both books stay
at the venue's 50 levels and no row has to cut its book to the depth.

    .venv/bin/python bench/bench_bybit.py            # the interleaved table (rows of one run)
    .venv/bin/python bench/bench_bybit.py --quick    # a smoke run
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from decimal import Decimal
from pathlib import Path
from typing import Callable

if __package__ in (None, ""):          # run as a script: the checkout's root on the path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import msgspec  # noqa: E402
import orjson  # noqa: E402
from order_book import OrderBook  # noqa: E402

from venuelink.adapters.bybit.adapter import BybitAdapter  # noqa: E402
from venuelink.adapters.bybit.symbols import parse_instruments  # noqa: E402
from bench.frames import Sink  # noqa: E402
from bench.interleave import Row, interleave, table  # noqa: E402
from venuelink.ext.clock import now_ns  # noqa: E402

BID, ASK = 1, 2
DEPTH = 50                 # orderbook.50
MID = 6400000              # 64000.00 in cents
U0 = 18_521_288            # the snapshot's u; the deltas follow it one by one
TS0 = 1_699_999_900_100

# GET /v5/market/instruments-info?category=spot, as tests/fixtures/bybit/session.jsonl has it
INSTRUMENTS = {"retCode": 0, "retMsg": "OK", "result": {"category": "spot", "list": [{
    "symbol": "BTCUSDT", "baseCoin": "BTC", "quoteCoin": "USDT", "innovation": "0", "status": "Trading",
    "marginTrading": "both", "lotSizeFilter": {"basePrecision": "0.000001", "quotePrecision": "0.00000001",
                                               "minOrderQty": "0.000048", "maxOrderQty": "71.73956243",
                                               "minOrderAmt": "1", "maxOrderAmt": "2000000"},
    "priceFilter": {"tickSize": "0.01"}}]}, "retExtInfo": {}, "time": 1699999900000}


def _px(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _qty(m: int) -> str:
    return f"{m // 10**6}.{m % 10**6:06d}"


def book_stream(n_frames: int = 256, levels_per_side: int = 10, seed: int = 7, depth: int = DEPTH,
                mid: int = MID, u0: int = U0) -> list[bytes]:
    """[snapshot, delta x n_frames] of Bybit's `orderbook.50.BTCUSDT`: each side holds `depth`
    levels among the first 2 x depth ticks from the mid; every delta changes `levels_per_side`
    distinct levels a side (1 to 3 inserts into free ticks, as many deletes, the rest new sizes of
    held levels), its u the previous + 1, its seq (the cross sequence) rising by a few."""
    rng = random.Random(seed)
    held = {BID: set(range(0, 2 * depth, 2)), ASK: set(range(0, 2 * depth, 2))}
    size = {(s, t): rng.randint(1, 5_000_000) for s in (BID, ASK) for t in held[s]}

    def price(side: int, t: int) -> int:
        return mid - 1 - t if side == BID else mid + 1 + t

    def rows(side: int, ticks) -> list[list[str]]:
        # ticks from the top: best first on both sides
        return [[_px(price(side, t)), _qty(size[side, t]) if (side, t) in size else "0"] for t in sorted(ticks)]

    def frame(kind: str, b: list, a: list, u: int, seq: int, k: int) -> bytes:
        msg = {"topic": "orderbook.50.BTCUSDT", "ts": TS0 + 20 * k, "type": kind,
               "data": {"s": "BTCUSDT", "b": b, "a": a, "u": u, "seq": seq}, "cts": TS0 + 20 * k - 3}
        return json.dumps(msg, separators=(",", ":")).encode()

    seq = 7_961_638_724
    out = [frame("snapshot", rows(BID, held[BID]), rows(ASK, held[ASK]), u0, seq, 0)]
    for k in range(1, n_frames + 1):
        sides = []
        for side in (BID, ASK):
            h = held[side]
            free = [t for t in range(2 * depth) if t not in h]
            n_ins = rng.randint(1, 3)
            ins = rng.sample(free, n_ins)
            dels = rng.sample(sorted(h), n_ins)
            kept = sorted(h.difference(dels))
            chg = rng.sample(kept, levels_per_side - 2 * n_ins)
            for t in dels:
                h.discard(t)
                del size[side, t]
            for t in ins + chg:
                h.add(t)
                size[side, t] = rng.randint(1, 5_000_000)
            sides.append(rows(side, ins + dels + chg))
        seq += rng.randint(1, 12)
        out.append(frame("delta", sides[0], sides[1], u0 + k, seq, k))
    return out


def trade_stream(n_frames: int = 2048, per_frame: int = 4, seed: int = 11, first_id: int = 2_290_000_000_041,
                 mid: int = MID) -> list[bytes]:
    """`publicTrade.BTCUSDT` pushes of `per_frame` trades each, every trade a new id (spot's ids:
    numbers written as strings, which the adapter keeps as opaque text), its own price and size.
    n_frames x per_frame ids outnumber the 4096 recent ids a symbol remembers, so a benchmark
    cycling through the frames meets every id as new."""
    rng = random.Random(seed)
    out, t, tid = [], mid, first_id
    for k in range(n_frames):
        ts = TS0 + 50 * k
        rows = []
        for j in range(per_frame):
            t += rng.randint(-2, 2)
            rows.append({"i": str(tid), "T": ts - per_frame + j, "p": _px(t), "v": _qty(rng.randint(1, 2_000_000)),
                         "S": "Buy" if rng.random() < 0.5 else "Sell", "s": "BTCUSDT", "BT": False, "RPI": False,
                         "seq": 7_961_638_745 + k})
            tid += 1
        out.append(json.dumps({"topic": "publicTrade.BTCUSDT", "ts": ts, "type": "snapshot", "data": rows},
                              separators=(",", ":")).encode())
    return out


FRAMES = book_stream()
"""FRAMES[0] the snapshot, FRAMES[1:] the 256 deltas: `_bench_frames(FRAMES, 1)` hands over the deltas"""
N_DELTAS = len(FRAMES) - 1
TRADES = trade_stream()
TRADES_PER_FRAME = 4


def _live_parser():
    """As the engine builds it: the adapter's parser, the symbol's feed, the snapshot in-band."""
    a = BybitAdapter()
    a.set_instruments(parse_instruments(INSTRUMENTS, a.venue))
    inst = a.instrument("BTC/USDT")
    sink = Sink()
    parser = a.make_parser(sink)
    fs = a.feed_symbol(inst, sink)
    fs.want_trades = True
    parser.add_symbol(fs)
    parser.feed(FRAMES[0])
    assert fs.sync.is_live
    return parser, fs, sink


def _resnap(parser, fs) -> None:
    """Back to the snapshot (u = U0, the snapshot's levels), so every delta applies again."""
    parser.feed(FRAMES[0])
    assert fs.sync.is_live and fs.book.seq == U0


# ---- the Python pipelines -----------------------------------------------------------------------
class _Book(msgspec.Struct):
    s: str
    b: list[tuple[float, float]]
    a: list[tuple[float, float]]
    u: int
    seq: int


class _BookMsg(msgspec.Struct):
    topic: str
    ts: int
    type: str
    data: _Book


class _Trade(msgspec.Struct):
    i: str
    T: int
    p: float
    v: float
    S: str
    s: str


class _TradeMsg(msgspec.Struct):
    topic: str
    ts: int
    data: list[_Trade]


# strict=False: msgspec turns Bybit's number strings into floats while decoding (no float() per value)
BOOK_DECODER = msgspec.json.Decoder(_BookMsg, strict=False)
TRADE_DECODER = msgspec.json.Decoder(_TradeMsg, strict=False)


def _apply_float(side, rows) -> None:
    for px, qty in rows:
        if qty:
            side[px] = qty
        elif px in side:
            del side[px]


def _apply_dec(side, rows) -> None:
    for p, q in rows:
        px = Decimal(p)
        if q == "0":
            if px in side:
                del side[px]
        else:
            side[px] = Decimal(q)


class MsgspecFloatBook:
    """msgspec into a typed Struct (prices and sizes decoded as floats) and `order-book` keyed by
    float, the u chain checked: the fastest Python pipeline, not exact."""
    exact = False

    def __init__(self) -> None:
        self.ob, self.u, self.gaps = OrderBook(), -1, 0

    def handle(self, frame: bytes) -> None:
        m = BOOK_DECODER.decode(frame)
        d = m.data
        if m.type == "snapshot":
            self.ob = OrderBook()
        elif d.u != self.u + 1:
            self.gaps += 1
            return
        self.u = d.u
        _apply_float(self.ob.bids, d.b)
        _apply_float(self.ob.asks, d.a)


class OrjsonDecimalBook:
    """orjson, the strings to Decimal, `order-book` keyed by Decimal, the u chain checked: exact."""
    exact = True

    def __init__(self) -> None:
        self.ob, self.u, self.gaps = OrderBook(), -1, 0

    def handle(self, frame: bytes) -> None:
        m = orjson.loads(frame)
        d = m["data"]
        if m["type"] == "snapshot":
            self.ob = OrderBook()
        elif d["u"] != self.u + 1:
            self.gaps += 1
            return
        self.u = d["u"]
        _apply_dec(self.ob.bids, d["b"])
        _apply_dec(self.ob.asks, d["a"])

    def top(self, n: int = DEPTH) -> tuple[list, list]:
        """The first n levels a side as (price, size) mantissas (cents, 1e-6), as the L2Book keeps them."""
        def m(side, k):
            return [(int(p * 100), int(q * 10**6)) for p, q in (side.index(i) for i in range(min(n, len(side))))]
        return m(self.ob.bids, n), m(self.ob.asks, n)


def _trade_dicts_decimal(frame: bytes) -> list[dict]:
    """orjson, one normalized dict per trade with Decimal price and size (exact)."""
    m = orjson.loads(frame)
    ts_recv = now_ns()
    return [{"type": "trade", "venue": "bybit", "symbol": "BTC/USDT", "trade_id": d["i"], "price": Decimal(d["p"]),
             "size": Decimal(d["v"]), "side": "buy" if d["S"] == "Buy" else "sell",
             "ts_exchange": d["T"] * 1_000_000, "ts_recv": ts_recv} for d in m["data"]]


def _trade_dicts_float(frame: bytes) -> list[dict]:
    """msgspec into typed Structs, floats (not exact), one normalized dict per trade."""
    m = TRADE_DECODER.decode(frame)
    ts_recv = now_ns()
    return [{"type": "trade", "venue": "bybit", "symbol": "BTC/USDT", "trade_id": d.i, "price": d.p, "size": d.v,
             "side": "buy" if d.S == "Buy" else "sell", "ts_exchange": d.T * 1_000_000, "ts_recv": ts_recv}
            for d in m.data]


# ---- make bench (pytest-benchmark) ---------------------------------------------------------------
try:
    import pytest
except ImportError:                 # the script needs no pytest
    pytest = None

if pytest is not None:
    @pytest.mark.benchmark(group="bybit-depth-frame")
    def test_venuelink_parser_depth_from_c(benchmark):
        """256 deltas per round handed over from C, as picows does, each round after the snapshot
        (untimed); time per round / 256 = per frame."""
        parser, fs, _ = _live_parser()

        def run():
            assert parser._bench_frames(FRAMES, 1) == 0
        benchmark.pedantic(run, setup=lambda: _resnap(parser, fs), rounds=300, warmup_rounds=10)
        benchmark.extra_info["per_frame_ns"] = benchmark.stats.stats.median / N_DELTAS * 1e9
        benchmark.extra_info["exact"] = True
        assert fs.sync.n_gaps == 0 and parser.n_errors == 0 and fs.book.seq == U0 + N_DELTAS

    def _per_frame(benchmark, handle, snap):
        """One delta per call, cycling through the 256; the snapshot before the first of each cycle."""
        st = {"i": 1}

        def run():
            i = st["i"]
            if i == 1:
                snap()
            handle(FRAMES[i])
            st["i"] = i + 1 if i < N_DELTAS else 1
        benchmark(run)

    @pytest.mark.benchmark(group="bybit-depth-frame")
    def test_venuelink_parser_depth(benchmark):
        parser, fs, _ = _live_parser()
        _per_frame(benchmark, parser.feed, lambda: parser.feed(FRAMES[0]))
        benchmark.extra_info["exact"] = True
        assert fs.sync.n_gaps == 0 and parser.n_errors == 0 and fs.sync.is_live

    @pytest.mark.benchmark(group="bybit-depth-frame")
    def test_msgspec_struct_float_order_book(benchmark):
        """Not exact: floats. msgspec into a typed Struct and `order-book` keyed by float."""
        h = MsgspecFloatBook()
        _per_frame(benchmark, h.handle, lambda: h.handle(FRAMES[0]))
        benchmark.extra_info["exact"] = False
        assert h.gaps == 0

    @pytest.mark.benchmark(group="bybit-depth-frame")
    def test_orjson_decimal_order_book(benchmark):
        h = OrjsonDecimalBook()
        _per_frame(benchmark, h.handle, lambda: h.handle(FRAMES[0]))
        benchmark.extra_info["exact"] = True
        assert h.gaps == 0

    def _cycle(benchmark, handle) -> dict:
        st = {"i": 0, "n": 0}

        def run():
            i = st["i"]
            handle(TRADES[i])
            st["i"] = i + 1 if i + 1 < len(TRADES) else 0
            st["n"] += 1
        benchmark(run)
        return st

    @pytest.mark.benchmark(group="bybit-trade-frame")
    def test_venuelink_parser_trades(benchmark):
        """Distinct pushes of 4 trades (new ids, prices, sides), each trade a normalized Trade event."""
        parser, _, sink = _live_parser()
        st = _cycle(benchmark, parser.feed)
        benchmark.extra_info["exact"] = True
        assert parser.n_errors == 0 and sink.trades == TRADES_PER_FRAME * st["n"]

    @pytest.mark.benchmark(group="bybit-trade-frame")
    def test_msgspec_struct_float_trades(benchmark):
        """Not exact: floats."""
        _cycle(benchmark, _trade_dicts_float)
        benchmark.extra_info["exact"] = False

    @pytest.mark.benchmark(group="bybit-trade-frame")
    def test_orjson_decimal_trades(benchmark):
        _cycle(benchmark, _trade_dicts_decimal)
        benchmark.extra_info["exact"] = True


# ---- the interleaved table (script) -------------------------------------------------------------
def depth_rows() -> tuple[list[Row], Callable[[], None]]:
    """Each row applies the 256 deltas per batch after the snapshot (its setup, untimed)."""
    parser_c, fs_c, _ = _live_parser()
    parser_py, fs_py, _ = _live_parser()
    flt, dec = MsgspecFloatBook(), OrjsonDecimalBook()
    deltas = FRAMES[1:]

    def from_c() -> int:
        if parser_c._bench_frames(FRAMES, 1):
            raise AssertionError("venuelink from C dropped a frame")
        return N_DELTAS

    def batch(handle):
        def run() -> int:
            for f in deltas:
                handle(f)
            return N_DELTAS
        return run

    rows = [Row("venuelink, from C", from_c, exact=True, note="_bench_frames, as picows hands frames over",
                setup=lambda: _resnap(parser_c, fs_c)),
            Row("venuelink, parser.feed", batch(parser_py.feed), exact=True, note="one Python call a frame",
                setup=lambda: _resnap(parser_py, fs_py)),
            Row("msgspec + order-book", batch(flt.handle), exact=False, note="float keys",
                setup=lambda: flt.handle(FRAMES[0])),
            Row("orjson + order-book", batch(dec.handle), exact=True, note="Decimal keys",
                setup=lambda: dec.handle(FRAMES[0]))]

    def check() -> None:
        ref = dec.top()
        for p, fs in ((parser_c, fs_c), (parser_py, fs_py)):
            assert fs.sync.n_gaps == 0 and p.n_errors == 0 and fs.book.seq == U0 + N_DELTAS
            assert (fs.book.top(BID, DEPTH), fs.book.top(ASK, DEPTH)) == ref, "venuelink's book differs"
        assert flt.gaps == 0 and dec.gaps == 0
        assert len(flt.ob.bids) == len(flt.ob.asks) == DEPTH
    return rows, check


def trade_rows() -> list[Row]:
    parser, _, sink = _live_parser()
    n = len(TRADES)

    def batch(handle):
        def run() -> int:
            for f in TRADES:
                handle(f)
            return n
        return run

    def ours() -> int:
        before = sink.trades
        batch(parser.feed)()
        if sink.trades - before != TRADES_PER_FRAME * n or parser.n_errors:
            raise AssertionError("venuelink lost a trade")
        return n

    return [Row("venuelink, parser.feed", ours, exact=True, note=f"{TRADES_PER_FRAME} Trade events a frame"),
            Row("msgspec + dicts", batch(_trade_dicts_float), exact=False, note="floats"),
            Row("orjson + dicts", batch(_trade_dicts_decimal), exact=True, note="Decimal")]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 rounds: a smoke run")
    ap.add_argument("--rounds", type=int, default=None, help="default 25")
    args = ap.parse_args(argv)
    rounds = args.rounds or (3 if args.quick else 25)
    rows, check = depth_rows()
    interleave(rows, rounds, after_round=check, max_s=40.0)
    print(f"Bybit orderbook.50 delta, 20 levels a frame ({N_DELTAS} distinct deltas a batch after the 50+50-level "
          f"snapshot, applied untimed), {len(rows[0].per_round_ns)} interleaved rounds. After every round the "
          f"exact rows' books are compared: equal.\n")
    print(table(rows, title="per delta frame"))
    rows = interleave(trade_rows(), rounds, max_s=20.0)
    print(f"\nBybit publicTrade, {TRADES_PER_FRAME} trades a frame ({len(TRADES)} distinct frames a batch), "
          f"{len(rows[0].per_round_ns)} interleaved rounds.\n")
    print(table(rows, title="per trade frame"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
