# SPDX-License-Identifier: Apache-2.0
"""engine.wire: a schema that cannot be interpreted is refused when it is written, with the
reason; engine.wire_ref reads rows of objects and topic strings as the schema says."""
from __future__ import annotations

import pytest

from engine.model import Instrument, Side, VenueId
from engine.wire import Action, Channel, Field, Kind, Role, Rows, Span, Wire
from engine.wire_ref import WireRefParser
from ext.wire import WireParser
from tests.fuzz.mutate import mutate
from ext.feed import FeedSymbol, TradeIds
from ext.sync import SeqRule

BOOK = (Field("b", Role.BIDS), Field("a", Role.ASKS), Field("u", Role.LAST))


def test_a_schema_that_cannot_be_read_is_refused_when_written():
    with pytest.raises(ValueError, match="named twice"):
        Wire(("e",), (Channel("x", Kind.BOOK, BOOK), Channel("x", Kind.BOOK, BOOK)), topic_sep=".")
    with pytest.raises(ValueError, match="BIDS, ASKS and LAST"):
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
    with pytest.raises(ValueError, match="needs decode"):
        Wire(("e",), (Channel("x", Kind.PYTHON),), topic_sep=".")
    w = Wire(("topic",), (Channel("orderbook", Kind.BOOK, BOOK),), topic_sep=".")
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
        Channel("orderbook", Kind.BOOK, data="data", action=Action("type", ("snapshot",), ("delta",)),
                span=Span.CONSECUTIVE, restart_id=1, fields=BOOK)))


def _parser(reference: bool = True):
    sink = Sink()
    p = (WireRefParser if reference else WireParser)(VenueId.binance, sink, wire=TRADES)
    fs = FeedSymbol(Instrument(VenueId.binance, "BTCUSDT", "BTC/USDT", "BTC", "USDT", 2, 3, 1, 1), b"BTCUSDT",
                    SeqRule.SEQ_PREV, sink, 0, None, TradeIds.TRADE_IDS_OPAQUE)
    fs.want_trades = True
    fs.sync.buffering = False                 # snapshots come in the stream (as engine.adapter sets it)
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


def test_the_c_parser_and_its_twin_agree_on_damaged_rows_and_books():
    """Rows of objects are new to the C reader: 3,000 damaged frames, the same events or a
    refusal by both (C may refuse what the twin takes, never the reverse, and then nothing of
    the frame is delivered)."""
    import random
    rng = random.Random(5)
    agree = refused = stricter = 0
    for k in range(3000):
        c, cs, cfs = _parser(False)
        r, rs, rfs = _parser(True)
        at = rng.randrange(len(FRAMES))
        for i, f in enumerate(FRAMES):
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
    print(f"agree {agree}, refused by both {refused}, C stricter {stricter}")
    assert agree > 300 and refused > 300 and stricter <= 15, (agree, refused, stricter)
