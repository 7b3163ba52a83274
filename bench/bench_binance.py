# SPDX-License-Identifier: Apache-2.0
"""Binance path: raw frames (combined-stream wrapper included) through the adapter's Cython
parser into the book / a normalized trade, side by side with the same frames through orjson +
Python dict handling (Decimal values, as an exact Python feed handler must) in the same run.

  binance-depth-frame   a 20-level diffDepth frame -> BookSync -> L2Book (p50/p99 in the table)
  binance-trade-frame   a trade frame -> normalized Trade event
  binanceusdm-depth-frame   a USD-M depthUpdate (T, pu chain) -> BookSync -> L2Book, against
                        msgspec + order-book by float (fastest, not exact) and orjson + Decimal
  binanceusdm-trade-frame   distinct aggTrade frames -> normalized Trade events
"""
from decimal import Decimal

import msgspec
import orjson
import pytest
from order_book import OrderBook

from venuelink.adapters.binance.adapter import BinanceAdapter
from venuelink.adapters.binance.symbols import parse_exchange_info
from bench.bench_json import _apply_dec
from bench.frames import depth_stream, Sink
from venuelink.ext.clock import now_ns

(SNAP_BIDS, SNAP_ASKS), RAW = depth_stream()
FRAMES = [b'{"stream":"btcusdt@depth@100ms","data":' + f + b"}" for f in RAW]
TRADE = (b'{"stream":"btcusdt@trade","data":{"e":"trade","E":1700000000250,"s":"BTCUSDT","t":5001,'
         b'"p":"27123.45000000","q":"0.01000000","T":1700000000249,"m":false,"M":true}}')
INFO = {"symbols": [{"symbol": "BTCUSDT", "status": "TRADING", "baseAsset": "BTC", "quoteAsset": "USDT",
                     "filters": [{"filterType": "PRICE_FILTER", "tickSize": "0.01000000"},
                                 {"filterType": "LOT_SIZE", "stepSize": "0.00000001", "minQty": "0.00000001"}]}]}


def _live_parser():
    a = BinanceAdapter()
    inst = parse_exchange_info(INFO)[0]
    sink = Sink()
    parser = a.make_parser(sink)
    fs = a.feed_symbol(inst, sink)
    fs.want_trades = True
    parser.add_symbol(fs)
    first = orjson.loads(RAW[0])["U"]
    snap = orjson.dumps({"lastUpdateId": first - 1, "bids": SNAP_BIDS, "asks": SNAP_ASKS})
    parser.feed(FRAMES[0])
    parser.on_snapshot(fs, snap)
    assert fs.sync.is_live
    return parser, fs, sink


(USDM_SNAP_BIDS, USDM_SNAP_ASKS), USDM_RAW = depth_stream(futures=True)
USDM_FRAMES = [b'{"stream":"btcusdt@depth@100ms","data":' + f + b"}" for f in USDM_RAW]
USDM_INFO = {"symbols": [{**INFO["symbols"][0], "contractType": "PERPETUAL", "marginAsset": "USDT"}]}


def _live_usdm_parser():
    """Binance USD-M: the same parser in futures mode, its frames with T and pu (the SEQ_PREV rule)."""
    from venuelink.adapters.binanceusdm.adapter import BinanceUsdmAdapter
    a = BinanceUsdmAdapter()
    inst = parse_exchange_info(USDM_INFO, a.venue)[0]
    sink = Sink()
    parser = a.make_parser(sink)
    fs = a.feed_symbol(inst, sink)
    fs.want_trades = True
    parser.add_symbol(fs)
    first = orjson.loads(USDM_RAW[0])["U"]
    snap = orjson.dumps({"lastUpdateId": first, "bids": USDM_SNAP_BIDS, "asks": USDM_SNAP_ASKS})
    parser.feed(USDM_FRAMES[0])
    parser.on_snapshot(fs, snap)
    assert fs.sync.is_live
    return parser, fs, sink


@pytest.mark.benchmark(group="binance-depth-frame")
def test_venuelink_parser_depth(benchmark):
    parser, fs, _ = _live_parser()
    feed = parser.feed
    state = {"i": 1}

    def run():
        i = state["i"]
        feed(FRAMES[i])
        state["i"] = i + 1 if i + 1 < len(FRAMES) else 1
        if i + 1 >= len(FRAMES):           # wrap: re-sync the ids so every frame applies
            fs.book.seq = orjson.loads(RAW[0])["u"]
    benchmark(run)
    assert fs.sync.n_gaps == 0 and parser.n_errors == 0
    h = parser.recv_to_decoded
    benchmark.extra_info["decode_p50_ns"] = h.percentile(50)
    benchmark.extra_info["decode_p99_ns"] = h.percentile(99)
    benchmark.extra_info["apply_p50_ns"] = parser.decoded_to_applied.percentile(50)
    benchmark.extra_info["apply_p99_ns"] = parser.decoded_to_applied.percentile(99)


@pytest.mark.benchmark(group="binance-depth-frame")
def test_venuelink_parser_depth_from_c(benchmark):
    """255 frames per round handed over from C, as picows does; time per round / 255 = per frame."""
    parser, fs, _ = _live_parser()
    u0 = orjson.loads(RAW[0])["u"]

    def run():
        fs.book.seq = u0
        assert parser._bench_frames(FRAMES, 1) == 0
    benchmark(run)
    benchmark.extra_info["per_frame_ns"] = benchmark.stats.stats.median / (len(FRAMES) - 1) * 1e9
    assert fs.sync.n_gaps == 0


@pytest.mark.benchmark(group="binance-depth-frame")
def test_orjson_dict_order_book_depth(benchmark):
    ob = OrderBook()
    for p, q in SNAP_BIDS:
        ob.bids[Decimal(p)] = Decimal(q)
    for p, q in SNAP_ASKS:
        ob.asks[Decimal(p)] = Decimal(q)
    state = {"i": 1, "u": 0}

    def handle(frame):
        msg = orjson.loads(frame)
        d = msg["data"]
        if d["e"] != "depthUpdate" or d["s"] != "BTCUSDT":
            return
        if d["U"] > state["u"] + 1 and state["u"]:
            pass                           # a gap check as a Python feed handler does it
        state["u"] = d["u"]
        _apply_dec(ob.bids, d["b"])
        _apply_dec(ob.asks, d["a"])

    def run():
        i = state["i"]
        handle(FRAMES[i])
        state["i"] = i + 1 if i + 1 < len(FRAMES) else 1
    benchmark(run)


@pytest.mark.benchmark(group="binance-trade-frame")
def test_venuelink_parser_trade(benchmark):
    parser, _, sink = _live_parser()
    benchmark(parser.feed, TRADE)
    assert sink.trades > 0


@pytest.mark.benchmark(group="binance-trade-frame")
def test_orjson_dict_trade(benchmark):
    def handle(frame):
        d = orjson.loads(frame)["data"]
        return {"type": "trade", "venue": "binance", "symbol": "BTC/USDT", "trade_id": str(d["t"]),
                "price": Decimal(d["p"]), "size": Decimal(d["q"]), "side": "sell" if d["m"] else "buy",
                "ts_exchange": d["T"] * 1_000_000, "ts_recv": now_ns()}
    benchmark(handle, TRADE)


# ---- Binance USD-M: the same parser in futures mode ---------------------------------------------
class UsdmDepth(msgspec.Struct):
    e: str
    E: int
    T: int
    s: str
    U: int
    u: int
    pu: int
    b: list[tuple[str, str]]
    a: list[tuple[str, str]]


class UsdmFrame(msgspec.Struct):
    stream: str
    data: UsdmDepth


USDM_DECODER = msgspec.json.Decoder(UsdmFrame)
USDM_U0 = orjson.loads(USDM_RAW[0])["u"]


def _apply_float(side, rows) -> None:
    for p, q in rows:
        px, qty = float(p), float(q)
        if qty:
            side[px] = qty
        elif px in side:
            del side[px]


def _usdm_python(decode, key, apply):
    """A Python feed handler for the USD-M frames: the pu chain checked, levels into `order-book`
    keyed by `key` (Decimal: exact; float: the fastest pipeline people run)."""
    ob = OrderBook()
    for p, q in USDM_SNAP_BIDS:
        ob.bids[key(p)] = key(q)
    for p, q in USDM_SNAP_ASKS:
        ob.asks[key(p)] = key(q)
    state = {"i": 1, "u": USDM_U0, "gaps": 0}

    def run():
        i = state["i"]
        d = decode(USDM_FRAMES[i])
        if d.pu != state["u"]:
            state["gaps"] += 1
        state["u"] = d.u
        apply(ob.bids, d.b)
        apply(ob.asks, d.a)
        if i + 1 < len(USDM_FRAMES):
            state["i"] = i + 1
        else:                                  # wrap: the chain starts again at the first frame
            state["i"], state["u"] = 1, USDM_U0
    return run, state


@pytest.mark.benchmark(group="binanceusdm-depth-frame")
def test_usdm_venuelink_parser_depth_from_c(benchmark):
    """255 USD-M frames (T, pu) per round handed over from C; time per round / 255 = per frame."""
    parser, fs, _ = _live_usdm_parser()

    def run():
        fs.book.seq = USDM_U0
        assert parser._bench_frames(USDM_FRAMES, 1) == 0
    benchmark(run)
    benchmark.extra_info["per_frame_ns"] = benchmark.stats.stats.median / (len(USDM_FRAMES) - 1) * 1e9
    assert fs.sync.n_gaps == 0


@pytest.mark.benchmark(group="binanceusdm-depth-frame")
def test_usdm_venuelink_parser_depth(benchmark):
    parser, fs, _ = _live_usdm_parser()
    state = {"i": 1}

    def run():
        i = state["i"]
        parser.feed(USDM_FRAMES[i])
        if i + 1 < len(USDM_FRAMES):
            state["i"] = i + 1
        else:
            state["i"], fs.book.seq = 1, USDM_U0
    benchmark(run)
    assert fs.sync.n_gaps == 0 and parser.n_errors == 0


@pytest.mark.benchmark(group="binanceusdm-depth-frame")
def test_usdm_msgspec_struct_float_order_book(benchmark):
    """Not exact: floats. msgspec into a typed Struct and `order-book` keyed by float."""
    run, state = _usdm_python(lambda f: USDM_DECODER.decode(f).data, float, _apply_float)
    benchmark(run)
    assert state["gaps"] == 0


@pytest.mark.benchmark(group="binanceusdm-depth-frame")
def test_usdm_orjson_decimal_order_book(benchmark):
    run, state = _usdm_python(lambda f: _Attrs(orjson.loads(f)["data"]), Decimal, _apply_dec)
    benchmark(run)
    assert state["gaps"] == 0


class _Attrs:
    __slots__ = ("pu", "u", "b", "a")

    def __init__(self, d: dict) -> None:
        self.pu, self.u, self.b, self.a = d["pu"], d["u"], d["b"], d["a"]


USDM_AGG = [(b'{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":%d,"a":%d,"s":"BTCUSDT","p":"%d.%02d",'
             b'"q":"0.%03d","f":%d,"l":%d,"T":%d,"m":%s}}'
             % (1700000000250 + k, 5001 + k, 37000 + k % 7, k % 100, 1 + k % 900, 7001 + 2 * k, 7002 + 2 * k,
                1700000000249 + k, b"true" if k % 3 == 0 else b"false")) for k in range(4096)]


@pytest.mark.benchmark(group="binanceusdm-trade-frame")
def test_usdm_venuelink_parser_agg_trade(benchmark):
    """Distinct aggTrade frames (new ids, prices, sides), each a normalized Trade event."""
    parser, _, sink = _live_usdm_parser()
    state = {"i": 0}

    def run():
        i = state["i"]
        parser.feed(USDM_AGG[i])
        state["i"] = i + 1 if i + 1 < len(USDM_AGG) else 0
    benchmark(run)
    assert sink.trades > 0 and parser.n_errors == 0


@pytest.mark.benchmark(group="binanceusdm-trade-frame")
def test_usdm_orjson_dict_agg_trade(benchmark):
    state = {"i": 0}

    def run():
        i = state["i"]
        d = orjson.loads(USDM_AGG[i])["data"]
        state["i"] = i + 1 if i + 1 < len(USDM_AGG) else 0
        return {"type": "trade", "venue": "binanceusdm", "symbol": "BTC/USDT:USDT", "trade_id": str(d["a"]),
                "price": Decimal(d["p"]), "size": Decimal(d["q"]), "side": "sell" if d["m"] else "buy",
                "ts_exchange": d["T"] * 1_000_000, "ts_recv": now_ns()}
    benchmark(run)
