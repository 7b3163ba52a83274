# SPDX-License-Identifier: Apache-2.0
"""L2 book apply: venuelink.ext.book from C vs sortedcontainers.SortedDict and the order-book C extension.

Group book-apply-level: 100k level updates within 50 levels of the top of a 1000-level book;
time per call / 100k = cost per level. venuelink.ext.book runs its loop in C (apply_many, nogil); the
alternatives run the per-level Python loop a Python feed handler would run, on Decimal keys
(exact values, as ours).
"""
import random
from array import array
from decimal import Decimal

import pytest
from order_book import OrderBook
from sortedcontainers import SortedDict

from venuelink.ext.book import L2Book
from venuelink.ext.types import Side

N = 100_000
rng = random.Random(3)
MID = 2_712_345
BOOK = 1000
DELTAS = [(MID - 1 - rng.randint(0, 49), 0 if rng.random() < 0.2 else rng.randint(1, 10**6)) for _ in range(N)]
PX = array("q", [p for p, _ in DELTAS])
QTY = array("q", [q for _, q in DELTAS])
DEC = [(Decimal(p).scaleb(-2), Decimal(q).scaleb(-8)) for p, q in DELTAS]


def _ext_book():
    b = L2Book(2, 8)
    b.snapshot([(MID - 1 - i, 100) for i in range(BOOK)], [(MID + 1 + i, 100) for i in range(BOOK)])
    return b


@pytest.mark.benchmark(group="book-apply-level")
def test_ext_book_apply_many_c(benchmark):
    b = _ext_book()
    benchmark(b.apply_many, Side.BID, PX, QTY)
    benchmark.extra_info["ns_per_level"] = benchmark.stats.stats.median / N * 1e9


@pytest.mark.benchmark(group="book-apply-level")
def test_ext_book_apply_python_loop(benchmark):
    b = _ext_book()
    apply = b.apply

    def run():
        for p, q in DELTAS:
            apply(1, p, q)
    benchmark(run)


@pytest.mark.benchmark(group="book-apply-level")
def test_sorteddict_decimal(benchmark):
    bids = SortedDict({Decimal(MID - 1 - i).scaleb(-2): Decimal(1) for i in range(BOOK)})

    def run():
        for p, q in DEC:
            if q:
                bids[p] = q
            else:
                bids.pop(p, None)
    benchmark(run)


@pytest.mark.benchmark(group="book-apply-level")
def test_order_book_ext_decimal(benchmark):
    ob = OrderBook()
    for i in range(BOOK):
        ob.bids[Decimal(MID - 1 - i).scaleb(-2)] = Decimal(1)
    bids = ob.bids

    def run():
        for p, q in DEC:
            if q:
                bids[p] = q
            elif p in bids:
                del bids[p]
    benchmark(run)


@pytest.mark.benchmark(group="book-top")
def test_ext_book_best_and_top5(benchmark):
    b = _ext_book()
    benchmark(lambda: (b.best_bid(), b.best_ask(), b.top(Side.BID, 5)))


@pytest.mark.benchmark(group="book-snapshot")
def test_ext_book_snapshot_5000(benchmark):
    b = L2Book(2, 8)
    px = array("q", [MID - 1 - i for i in range(5000)])
    qty = array("q", [100] * 5000)
    benchmark(b.set_levels, Side.BID, px, qty)


# ---- what a strategy sees: the engine's book view, and frames through the engine to one subscriber ----
# Binance 20-level depth frames (bench.bench_binance) handed from C to a parser whose sink is the
# engine's runtime (no sockets: the runtime is built offline, the book made live by a snapshot).

def _engine_runtime():
    """(runtime, parser, feed symbol, first update id) of an offline Binance engine, book LIVE."""
    import orjson
    from bench.bench_binance import INFO, RAW, SNAP_ASKS, SNAP_BIDS
    from venuelink.adapters.binance.symbols import parse_exchange_info
    from venuelink.config import Config, VenueConfig
    from venuelink.engine import Engine

    eng = Engine(Config(venues={"binance": VenueConfig(name="binance", rest_url="http://x", ws_url="ws://x",
                                                         symbols=["BTC/USDT"])}))
    rt = eng.runtime("binance")
    fs = rt._new_feed_symbol(parse_exchange_info(INFO)[0])
    fs.max_lag_ns = 0                  # recorded venue stamps are years old: no lag check
    parser = rt.adapter.make_parser(rt)
    parser.add_symbol(fs)
    parser.on_snapshot(fs, orjson.dumps({"lastUpdateId": orjson.loads(RAW[0])["u"],
                                         "bids": SNAP_BIDS, "asks": SNAP_ASKS}))
    assert fs.sync.is_live
    return eng, rt, parser, fs, orjson.loads(RAW[0])["u"]


CALLS = range(100)          # x10 calls per iteration: per call = time / 1000


def _view():
    eng, rt, parser, fs, _ = _engine_runtime()
    return rt, eng.book("binance", fs.instrument.symbol)


@pytest.mark.benchmark(group="book-view")
def test_view_best_bid(benchmark):
    rt, v = _view()
    f = v.best_bid

    def run():
        for _ in CALLS:
            f(); f(); f(); f(); f(); f(); f(); f(); f(); f()    # noqa: E702
    benchmark(run)
    benchmark.extra_info["ns_per_call"] = benchmark.stats.stats.median / 1000 * 1e9


@pytest.mark.benchmark(group="book-view")
def test_view_best_bid_px(benchmark):
    rt, v = _view()
    f = v.best_bid_px

    def run():
        for _ in CALLS:
            f(); f(); f(); f(); f(); f(); f(); f(); f(); f()    # noqa: E702
    benchmark(run)
    benchmark.extra_info["ns_per_call"] = benchmark.stats.stats.median / 1000 * 1e9


@pytest.mark.benchmark(group="book-view")
def test_view_top5(benchmark):
    rt, v = _view()
    f = v.top
    assert len(f(5)[0]) == 5 and len(f(5)[1]) == 5

    def run():
        for _ in CALLS:
            f(5); f(5); f(5); f(5); f(5); f(5); f(5); f(5); f(5); f(5)    # noqa: E702
    benchmark(run)
    benchmark.extra_info["ns_per_call"] = benchmark.stats.stats.median / 1000 * 1e9


def _frames_to_subscriber(benchmark, callback):
    """255 frames per round from C through the engine's runtime to `callback` (None: no
    subscriber); per frame = time per round / 254."""
    from bench.bench_binance import FRAMES
    eng, rt, parser, fs, u0 = _engine_runtime()
    if callback is not None:
        eng.subscribe_book("binance", fs.instrument.symbol, callback)

    def run():
        fs.book.seq = u0
        assert parser._bench_frames(FRAMES, 1) == 0
    benchmark(run)
    assert fs.sync.n_gaps == 0 and rt.strategy_errors == 0 and fs.sync.is_live
    benchmark.extra_info["ns_per_frame"] = benchmark.stats.stats.median / (len(FRAMES) - 1) * 1e9


@pytest.mark.benchmark(group="engine-book-subscriber")
def test_frames_engine_no_subscriber(benchmark):
    _frames_to_subscriber(benchmark, None)


@pytest.mark.benchmark(group="engine-book-subscriber")
def test_frames_engine_one_subscriber(benchmark):
    _frames_to_subscriber(benchmark, lambda v: None)


@pytest.mark.benchmark(group="engine-book-subscriber")
def test_frames_engine_subscriber_reads_best(benchmark):
    def on_book(v):
        v.best_bid()
        v.best_ask()
    _frames_to_subscriber(benchmark, on_book)


@pytest.mark.benchmark(group="engine-book-subscriber")
def test_frames_engine_subscriber_reads_top5(benchmark):
    _frames_to_subscriber(benchmark, lambda v: v.top(5))
