# SPDX-License-Identifier: Apache-2.0
"""venuelink.wire: a schema that cannot be interpreted is refused when it is written, with the
reason; venuelink.wire_ref reads rows of objects and topic strings as the schema says."""
from __future__ import annotations

import pytest

from venuelink.model import Instrument, Side, VenueId
from venuelink.wire import NS, Action, Channel, Field, Kind, Role, Rows, Span, Split, Wire
from venuelink.wire_ref import WireRefParser
from venuelink.ext.wire import WireParser
from tests.fuzz.mutate import mutate
from venuelink.ext.feed import FeedSymbol, TradeIds
from venuelink.ext.sync import SeqRule

BOOK = (Field("b", Role.BIDS), Field("a", Role.ASKS), Field("u", Role.LAST))


def test_a_schema_that_cannot_be_read_is_refused_when_written():
    with pytest.raises(ValueError, match="named twice"):
        Wire(("e",), (Channel("x", Kind.BOOK, BOOK), Channel("x", Kind.BOOK, BOOK)), topic_sep=".")
    with pytest.raises(ValueError, match="BIDS and ASKS .or LEVELS. and LAST"):
        Wire(("e",), (Channel("x", Kind.BOOK, BOOK[:2]),), topic_sep=".")
    with pytest.raises(ValueError, match="PRICE, SIZE, SIDE and TRADE_ID"):
        Wire(("e",), (Channel("t", Kind.TRADES, (Field("p", Role.PRICE),)),), topic_sep=".")
    with pytest.raises(ValueError, match="no field and no envelope"):
        Wire(("e",), (Channel("x", Kind.BOOK, BOOK),))
    with pytest.raises(ValueError, match="before the symbol"):
        Wire(("e",), (Channel("x", Kind.BOOK, (BOOK[0], Field("s", Role.SYMBOL), *BOOK[1:])),))
    with pytest.raises(ValueError, match="role given twice"):
        Wire(("e",), (Channel("x", Kind.BOOK, (*BOOK, Field("v", Role.LAST))),), topic_sep=".")
    with pytest.raises(ValueError, match="FROM_PREV needs PREV"):
        Wire(("e",), (Channel("x", Kind.BOOK, BOOK, span=Span.FROM_PREV),), topic_sep=".")
    with pytest.raises(ValueError, match="BLOCK flags trades only"):
        Wire(("e",), (Channel("x", Kind.BOOK, (*BOOK, Field("bt", Role.BLOCK))),), topic_sep=".")
    with pytest.raises(ValueError, match="needs decode"):
        Wire(("e",), (Channel("x", Kind.PYTHON),), topic_sep=".")
    w = Wire(("topic",), (Channel("orderbook.50", Kind.BOOK, BOOK),), topic_sep=".")
    assert w.topic("orderbook", "50", "BTCUSDT") == "orderbook.50.BTCUSDT"


class Sink:
    def __init__(self) -> None:
        self.trades, self.errors, self.controls = [], [], []

    def on_trade(self, t):
        self.trades.append(t)

    def on_decode_error(self, e, raw):
        self.errors.append(f"{type(e).__name__}: {e}")

    def on_control(self, kind, topic, req_id, raw):
        self.controls.append(kind)

    def on_need_snapshot(self, sync, reason):
        pass

    def on_state(self, sync, old, new):
        pass


TRADES = Wire(
    dispatch=("topic",), topic_sep=".",
    channels=(Channel("publicTrade", Kind.TRADES, data="data", rows=Rows.MANY, fields=(
        Field("T", Role.TS), Field("s", Role.SYMBOL), Field("S", Role.SIDE, values=(("Buy", True), ("Sell", False))),
        Field("v", Role.SIZE), Field("p", Role.PRICE), Field("i", Role.TRADE_ID, opaque=True))),
        Channel("orderbook.50", Kind.BOOK, data="data", action=Action("type", ("snapshot",), ("delta",)),
                span=Span.CONSECUTIVE, restart_id=1, fields=BOOK)))


def _parser(reference: bool = True, wire: Wire = None, symbol: bytes = b"BTCUSDT"):
    sink = Sink()
    p = (WireRefParser if reference else WireParser)(VenueId.binance, sink, wire=wire or TRADES)
    fs = FeedSymbol(Instrument(VenueId.binance, symbol.decode(), "BTC/USDT", "BTC", "USDT", 2, 3, 1, 1), symbol,
                    SeqRule.SEQ_PREV, sink, 0, None, TradeIds.TRADE_IDS_OPAQUE)
    fs.want_trades = True
    fs.sync.buffering = False                 # snapshots come in the stream (as venuelink.adapter sets it)
    p.add_symbol(fs)
    return p, sink, fs


@pytest.mark.parametrize("reference", [True, False], ids=["twin", "C"])
def test_rows_of_objects_each_a_trade_and_a_row_for_another_symbol_is_refused(reference):
    p, sink, _ = _parser(reference)
    p.feed(b'{"topic":"publicTrade.BTCUSDT","ts":1,"data":[{"T":1700000000001,"s":"BTCUSDT","S":"Buy","v":"0.5",'
           b'"p":"100.25","i":"a-1"},{"T":1700000000002,"s":"BTCUSDT","S":"Sell","v":"1","p":"100.2","i":"a-2"}]}')
    assert [(t.trade_id, t.price, t.size, t.side, t.ts_exchange) for t in sink.trades] == [
        ("a-1", 10025, 500, Side.BUY, 1700000000001000000), ("a-2", 10020, 1000, Side.SELL, 1700000000002000000)]
    p.feed(b'{"topic":"publicTrade.BTCUSDT","data":[{"T":1,"s":"ETHUSDT","S":"Buy","v":"1","p":"1","i":"b"}]}')
    p.feed(b'{"topic":"publicTrade.BTCUSDT","data":[{"T":1,"s":"BTCUSDT","S":"Up","v":"1","p":"1","i":"c"}]}')
    p.feed(b'{"topic":"publicTrade.BTCUSDT","data":[{"T":1,"s":"BTCUSDT","S":"Buy","v":"1","p":"1","i":""}]}')
    p.feed(b'{"topic":"publicTrade.BTCUSDT","data":[7]}')
    assert len(sink.trades) == 2 and len(sink.errors) == 4, sink.errors
    assert "'ETHUSDT' in a message for 'BTCUSDT'" in sink.errors[0] and "side 'Up'" in sink.errors[1]
    assert "empty trade id" in sink.errors[2] and "wrong JSON type" in sink.errors[3]
    p.feed(b'{"success":true,"op":"subscribe"}')                  # no channel: a control frame
    assert sink.controls == [0]


@pytest.mark.parametrize("reference", [True, False], ids=["twin", "C"])
def test_a_consecutive_book_and_the_restart_id_taken_as_a_whole_book(reference):
    p, sink, fs = _parser(reference)
    p.feed(b'{"topic":"orderbook.50.BTCUSDT","type":"snapshot","data":{"b":[["100","1"]],"a":[["101","1"]],"u":7}}')
    p.feed(b'{"topic":"orderbook.50.BTCUSDT","type":"delta","data":{"b":[["100","2"]],"a":[],"u":8}}')
    assert fs.sync.is_live and fs.book.seq == 8 and fs.book.best_bid() == (10000, 2000)
    p.feed(b'{"topic":"orderbook.50.BTCUSDT","type":"delta","data":{"b":[],"a":[],"u":10}}')     # 9 missed
    assert not fs.sync.is_live and fs.sync.n_gaps == 1
    p.feed(b'{"topic":"orderbook.50.BTCUSDT","type":"delta","data":{"b":[["99","1"]],"a":[["102","3"]],"u":1}}')
    assert fs.sync.is_live and fs.book.seq == 1 and fs.book.best_bid() == (9900, 1000)   # restarted: a book
    p.feed(b'{"topic":"orderbook.50.BTCUSDT","type":"partial","data":{"b":[],"a":[],"u":2}}')
    assert "unknown type 'partial'" in sink.errors[-1]


FRAMES = [
    b'{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":5,"data":[{"T":1700000000001,"s":"BTCUSDT","S":"Buy",'
    b'"v":"0.5","p":"100.25","i":"a-1"},{"T":1700000000002,"s":"BTCUSDT","S":"Sell","v":"1","p":"100.2","i":"a-2"},'
    b'{"T":1700000000003,"s":"BTCUSDT","S":"Buy","v":"0.001","p":"100.3","i":"a-3"}]}',
    b'{"topic":"orderbook.50.BTCUSDT","type":"snapshot","ts":6,"data":{"s":"BTCUSDT","b":[["100.2","1"],["100.1","2"]],'
    b'"a":[["100.3","1"]],"u":7,"seq":9}}',
    b'{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":7,"data":{"s":"BTCUSDT","b":[["100.2","0"]],"a":[],"u":8}}',
    b'{"success":true,"ret_msg":"pong","conn_id":"c1","op":"ping"}',
]


def _events(p, sink, fs, frame):
    n_err, n_tr, n_ctl = len(sink.errors), len(sink.trades), len(sink.controls)
    p.feed(frame)
    trades = [(t.trade_id, t.price, t.size, t.side, t.ts_exchange) for t in sink.trades[n_tr:]]
    return len(sink.errors) > n_err, trades, sink.controls[n_ctl:], fs.book.seq, fs.book.best_bid(), fs.book.best_ask()


#: Coinbase-shaped (one array of rows naming their side, RFC 3339 times) and Deribit-shaped
#: (rows ["new", price, size] at columns 1 and 2) books
SIDES = Wire(
    dispatch=("channel",), symbol=("product_id",),
    channels=(Channel("l2_data", Kind.BOOK, action=Action("type", ("snapshot",), ("update",)), span=Span.CONSECUTIVE,
                      time_unit_ns=NS, fields=(
                          Field("timestamp", Role.TS, iso=True), Field("sequence_num", Role.LAST),
                          Field("updates", Role.LEVELS, split=Split("side", "bid", "offer", "price_level",
                                                                      "new_quantity")))),))
COLS = Wire(
    dispatch=("channel",), symbol=("instrument_name",),
    channels=(Channel("book", Kind.BOOK, data="data", span=Span.FROM_PREV,
                      action=Action("type", ("snapshot",), ("change",)), fields=(
        Field("timestamp", Role.TS), Field("prev_change_id", Role.PREV), Field("change_id", Role.LAST),
        Field("bids", Role.BIDS, cols=(1, 2)), Field("asks", Role.ASKS, cols=(1, 2)))),))

CASES = {
    "bybit-shaped": (TRADES, b"BTCUSDT", FRAMES),
    "coinbase-shaped": (SIDES, b"BTC-USD", [
        b'{"channel":"l2_data","product_id":"BTC-USD","type":"snapshot","timestamp":"2023-02-09T20:32:50.714964855Z",'
        b'"sequence_num":4,"updates":[{"side":"bid","price_level":"100.2","new_quantity":"1"},'
        b'{"side":"offer","price_level":"100.3","new_quantity":"2"}]}',
        b'{"channel":"l2_data","product_id":"BTC-USD","type":"update","timestamp":"2023-02-09T20:32:51Z",'
        b'"sequence_num":5,"updates":[{"side":"bid","price_level":"100.2","new_quantity":"0"},'
        b'{"side":"bid","price_level":"100.1","new_quantity":"3"}]}',
        b'{"channel":"subscriptions","events":[]}']),
    "deribit-shaped": (COLS, b"BTC-PERPETUAL", [
        b'{"channel":"book","instrument_name":"BTC-PERPETUAL","type":"snapshot","data":{"timestamp":1700000000001,'
        b'"prev_change_id":-1,"change_id":7,"bids":[["new","100.2","1"],["new","100.1","2"]],'
        b'"asks":[["new","100.3","1"]]}}',
        b'{"channel":"book","instrument_name":"BTC-PERPETUAL","type":"change","data":{"timestamp":1700000000002,'
        b'"prev_change_id":7,"change_id":9,"bids":[["delete","100.2","0"]],"asks":[["change","100.3","4"]]}}']),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_c_parser_and_its_twin_agree_on_damaged_frames(case):
    """Shapes new to the C reader (rows of objects, rows naming their side, level columns, RFC
    3339 times): 2,000 damaged frames each, the same events or a refusal by both (C may refuse
    what the twin takes, never the reverse, and then nothing of the frame is delivered)."""
    import random
    wire, symbol, frames = CASES[case]
    rng = random.Random(5)
    agree = refused = stricter = 0
    c0, _, fs0 = _parser(False, wire, symbol)
    for f in frames:                                    # undamaged, the frames do what they say
        c0.feed(f)
    assert fs0.n_msgs >= 2 and c0.n_errors == 0
    for k in range(2000):
        c, cs, cfs = _parser(False, wire, symbol)
        r, rs, rfs = _parser(True, wire, symbol)
        at = rng.randrange(len(frames))
        for i, f in enumerate(frames):
            frame = mutate(f, rng) if i == at else f
            ce, re_ = _events(c, cs, cfs, frame), _events(r, rs, rfs, frame)
            if ce[0] and not re_[0]:
                stricter += 1
                assert ce[1] == [], "C delivered part of a frame it refused"
                break
            assert ce == re_, (frame, ce, re_)
            if i == at:
                refused += ce[0]
                agree += not ce[0]
    print(f"{case}: agree {agree}, refused by both {refused}, C stricter {stricter}")
    assert agree > 200 and refused > 200 and stricter <= 10, (agree, refused, stricter)


def test_rows_naming_their_side_columns_and_rfc3339_times_decode_exactly():
    p, sink, fs = _parser(False, SIDES, b"BTC-USD")
    p.feed(CASES["coinbase-shaped"][2][0])
    assert fs.sync.is_live and fs.book.best_bid() == (10020, 1000) and fs.book.best_ask() == (10030, 2000)
    assert fs.book.ts_exchange_ns == 1675974770714964855
    p, sink, fs = _parser(False, COLS, b"BTC-PERPETUAL")
    for f in CASES["deribit-shaped"][2]:
        p.feed(f)
    assert fs.book.seq == 9 and fs.book.best_bid() == (10010, 2000) and fs.book.best_ask() == (10030, 4000)
