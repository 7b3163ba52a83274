# SPDX-License-Identifier: Apache-2.0
"""OKX path: `books` update frames (prevSeqId chain, CRC32 of the first 25 levels checked on every
message) through the adapter's Cython parser into the book, side by side in the same run with
what a Python feed handler does for the same frames: orjson, the `order-book` C extension keyed by
Decimal (exact) or by float (the fastest), and the checksum string rebuilt from the top 25 levels
and compared with zlib.crc32.

  okx-books-frame   a 20-level update frame -> checked, applied book
  okx-books-frame-nock   the same frames as OKX sends them since early August 2026 (no checksum
                    field): prevSeqId chain only, on both sides
  okx-trade-frame   a trade frame -> normalized Trade event
"""
import zlib
from decimal import Decimal

import orjson
import pytest
from order_book import OrderBook

from venuelink.adapters.okx.adapter import OkxAdapter
from bench.frames import okx_book_stream, Sink
from venuelink.ext.clock import now_ns

SNAP, FRAMES = okx_book_stream()
SNAP_NOCK, FRAMES_NOCK = okx_book_stream(with_checksum=False)
SEQ0 = orjson.loads(SNAP)["data"][0]["seqId"]
TRADE = (b'{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT","tradeId":"130639474",'
         b'"px":"27123.45","sz":"0.0106","side":"buy","ts":"1700000000250","count":"1"}]}')
INSTRUMENTS = {"code": "0", "msg": "", "data": [{
    "instType": "SPOT", "instId": "BTC-USDT", "baseCcy": "BTC", "quoteCcy": "USDT", "settleCcy": "", "ctVal": "",
    "ctMult": "", "ctValCcy": "", "ctType": "", "tickSz": "0.01", "lotSz": "0.00000001", "minSz": "0.00001",
    "state": "live", "listTime": "1606468572000", "expTime": "", "uly": "", "instFamily": ""}]}


def _live_parser():
    a = OkxAdapter()
    a.set_instruments(a.parse_instruments(INSTRUMENTS))
    inst = a.instrument("BTC/USDT")
    sink = Sink()
    parser = a.make_parser(sink)
    fs = a.feed_symbol(inst, sink)
    fs.want_trades = True
    parser.add_symbol(fs)
    parser.feed(SNAP)
    assert fs.sync.is_live
    return parser, fs, sink


def _resnap(parser, fs, snap=SNAP):
    """Back to the snapshot, so the same updates apply again with their checksums."""
    parser.feed(snap)
    assert fs.sync.is_live


@pytest.mark.benchmark(group="okx-books-frame")
def test_venuelink_parser_books_from_c(benchmark):
    """256 frames per round handed over from C, as picows does; time per round / 256 = per frame."""
    parser, fs, _ = _live_parser()

    def run():
        _resnap(parser, fs)
        assert parser._bench_frames(FRAMES) == 0
    benchmark(run)
    benchmark.extra_info["per_frame_ns"] = benchmark.stats.stats.median / len(FRAMES) * 1e9
    assert fs.sync.n_gaps == 0 and fs.sync.n_checksum_failures == 0


@pytest.mark.benchmark(group="okx-books-frame-nock")
def test_venuelink_parser_books_nock_from_c(benchmark):
    """The frames OKX sends since early August 2026 (no checksum field), 256 per round from C."""
    parser, fs, _ = _live_parser()

    def run():
        _resnap(parser, fs, SNAP_NOCK)
        assert parser._bench_frames(FRAMES_NOCK) == 0
    benchmark(run)
    benchmark.extra_info["per_frame_ns"] = benchmark.stats.stats.median / len(FRAMES_NOCK) * 1e9
    assert fs.sync.n_gaps == 0 and parser.n_checksum_zero == 0


@pytest.mark.benchmark(group="okx-books-frame")
def test_venuelink_parser_books(benchmark):
    parser, fs, _ = _live_parser()
    feed = parser.feed
    state = {"i": 0}

    def run():
        i = state["i"]
        if i == 0:
            feed(SNAP)
        feed(FRAMES[i])
        state["i"] = i + 1 if i + 1 < len(FRAMES) else 0
    benchmark(run)
    assert fs.sync.n_gaps == 0 and fs.sync.n_checksum_failures == 0 and parser.n_errors == 0


def _python_handler(key):
    """orjson + order-book + the checksum rebuilt from the received strings, as Python feed
    handlers do it; `key` is Decimal (exact) or float."""
    state = {"seq": -1, "bad": 0, "ob": OrderBook(), "text": {}}

    def side_apply(side, text, rows):
        for r in rows:
            k = key(r[0])
            if r[1] == "0":
                if k in side:
                    del side[k]
                text.pop(k, None)
            else:
                side[k] = key(r[1])
                text[k] = r[1]

    def handle(frame):
        msg = orjson.loads(frame)
        d = msg["data"][0]
        if msg["action"] == "snapshot":
            state["ob"], state["text"] = OrderBook(), {}
        elif d["prevSeqId"] != state["seq"]:
            state["bad"] += 1
        state["seq"] = d["seqId"]
        ob, text = state["ob"], state["text"]
        bt = text.setdefault("b", {})
        at = text.setdefault("a", {})
        side_apply(ob.bids, bt, d["bids"])
        side_apply(ob.asks, at, d["asks"])
        if "checksum" not in d:
            return                           # OKX since early August 2026: the chain is the check
        nb, na = min(25, len(ob.bids)), min(25, len(ob.asks))
        parts = []
        for i in range(25):
            if i < nb:
                k = ob.bids.index(i)[0]
                parts += (prices[k], bt[k])
            if i < na:
                k = ob.asks.index(i)[0]
                parts += (prices[k], at[k])
        c = zlib.crc32(":".join(parts).encode())
        if (c - 2**32 if c >= 2**31 else c) != d["checksum"]:
            state["bad"] += 1

    prices: dict = _PriceText(key)
    return handle, state


class _PriceText(dict):
    """price key -> the price string as received (OKX's strings carry no trailing zeros, so the
    key's canonical text is that string)."""

    def __init__(self, key):
        super().__init__()
        self.key = key

    def __missing__(self, k):
        s = format(k, "f") if isinstance(k, Decimal) else repr(k)
        s = s.rstrip("0").rstrip(".") if "." in s else s
        self[k] = s
        return s


def _bench_python(benchmark, key, snap=SNAP, frames=FRAMES):
    handle, state = _python_handler(key)
    handle(snap)
    st = {"i": 0}

    def run():
        i = st["i"]
        if i == 0:
            handle(snap)
        handle(frames[i])
        st["i"] = i + 1 if i + 1 < len(frames) else 0
    benchmark(run)
    assert state["bad"] == 0


@pytest.mark.benchmark(group="okx-books-frame")
def test_orjson_decimal_order_book_checksum(benchmark):
    _bench_python(benchmark, Decimal)


@pytest.mark.benchmark(group="okx-books-frame")
def test_orjson_float_order_book_checksum(benchmark):
    _bench_python(benchmark, float)


@pytest.mark.benchmark(group="okx-books-frame-nock")
def test_orjson_decimal_order_book_nock(benchmark):
    _bench_python(benchmark, Decimal, SNAP_NOCK, FRAMES_NOCK)


@pytest.mark.benchmark(group="okx-books-frame-nock")
def test_orjson_float_order_book_nock(benchmark):
    _bench_python(benchmark, float, SNAP_NOCK, FRAMES_NOCK)


@pytest.mark.benchmark(group="okx-trade-frame")
def test_venuelink_parser_trade(benchmark):
    parser, _, sink = _live_parser()
    benchmark(parser.feed, TRADE)
    assert sink.trades > 0


@pytest.mark.benchmark(group="okx-trade-frame")
def test_orjson_dict_trade(benchmark):
    def handle(frame):
        d = orjson.loads(frame)["data"][0]
        return {"type": "trade", "venue": "okx", "symbol": "BTC/USDT", "trade_id": d["tradeId"],
                "price": Decimal(d["px"]), "size": Decimal(d["sz"]), "side": d["side"],
                "ts_exchange": int(d["ts"]) * 1_000_000, "ts_recv": now_ns()}
    benchmark(handle, TRADE)
