"""Binance USD-M's dialect through Binance's parser in futures mode and its Python twin, on the
documentation-shaped session fixture: the pu rule (the REST snapshot straddled, a broken chain
resynced), aggregate trades, the futures bookTicker, mark / index / funding and liquidations,
and bad frames dropped with a reason. Both parsers must agree on every event."""
import json
from pathlib import Path

import pytest

from venuelink.adapters.binanceusdm.adapter import BinanceUsdmAdapter
from venuelink.derivatives import FundingRate, IndexPrice, Liquidation, MarkPrice, rate_str
from venuelink.model import MarketKind, Side

FIXTURE = Path(__file__).parent.parent / "fixtures" / "binanceusdm" / "session.jsonl"


class Sink:
    def __init__(self):
        self.events, self.errors, self.snapshots_asked = [], [], []

    def on_need_snapshot(self, sync, reason):
        self.snapshots_asked.append(reason)
        self.events.append(("resync", reason.split(":")[0]))

    def on_state(self, sync, old, new):
        pass

    def on_book_applied(self, fs):
        self.events.append(("book", fs.book.seq, fs.sync.current_levels()))

    def on_delta(self, *a):
        pass

    def on_snapshot(self, *a):
        pass

    def on_trade(self, t):
        self.events.append(("trade", t.trade_id, t.instrument.px_str(t.price), t.instrument.qty_str(t.size),
                            t.side, t.ts_exchange))

    def on_top(self, fs, *top):
        self.events.append(("top", top))

    def on_derivative(self, ev):
        self.events.append(("deriv", repr(ev.to_json() | {"ts_recv": 0})))

    def on_control(self, kind, topic, req_id, raw):
        self.events.append(("control", int(kind), req_id))

    def on_decode_error(self, exc, raw):
        self.errors.append(f"{type(exc).__name__}: {exc}")


RECV = 1_700_000_001_000_000_000      # received after every frame of the fixture was sent


def replay(reference: bool):
    lines = FIXTURE.read_text().splitlines()
    a = BinanceUsdmAdapter()
    a.set_instruments(a.parse_instruments(json.loads(lines[0])["body"]))
    sink = Sink()
    parser = a.make_reference_parser(sink) if reference else a.make_parser(sink)
    inst = a.instrument("BTC/USDT:USDT")
    fs = a.feed_symbol(inst, sink)
    fs.want_book = fs.want_trades = fs.want_top = fs.want_derivs = True
    parser.add_symbol(fs)
    for n, line in enumerate(lines[1:], 2):
        if line.startswith('{"rest"'):
            msg = json.loads(line)
            a.apply_snapshot(parser, fs, json.dumps(msg["body"]).encode(), RECV)
        else:
            parser.feed(line.encode(), RECV)
    return a, fs, sink


def test_instruments_are_swaps_and_dated_futures_with_exact_grids():
    a, _, _ = replay(False)
    by = {i.symbol: i for i in a.instruments.values()}
    perp, dated = by["BTC/USDT:USDT"], by["BTC/USDT:USDT-261225"]
    assert (perp.kind, perp.venue_symbol, perp.settle, perp.px_str(perp.tick), perp.qty_str(perp.lot)) == \
        (MarketKind.SWAP, "BTCUSDT", "USDT", "0.1", "0.001")
    assert (dated.kind, dated.venue_symbol) == (MarketKind.FUTURE, "BTCUSDT_261225")
    assert perp.notional_str(perp.min_notional) == "100" and perp.contract_size == 0


def test_session_through_the_c_parser_and_its_twin_alike():
    _, fs, c = replay(False)
    _, _, ref = replay(True)
    assert c.events == ref.events
    assert [e.split(":")[0] for e in c.errors] == [e.split(":")[0] for e in ref.errors]
    books = [e for e in c.events if e[0] == "book"]
    # the snapshot (1011) drops 1001..1003 and is straddled by 1010..1012 (pu 1003); 1020 follows
    assert [b[1] for b in books[:2]] == [1012, 1020]
    assert ("top", (370003, 100, 370005, 400, 1020, 1_700_000_000_299_000_000, RECV)) in c.events
    assert ("resync", "sequence gap") in c.events          # pu 1025 after u 1020
    trades = [e for e in c.events if e[0] == "trade"]
    assert [t[1:5] for t in trades] == [("5001", "37000.5", "0.01", Side.BUY), ("5002", "37000.2", "0.2", Side.SELL)]
    assert trades[0][5] == 1_700_000_000_249_000_000
    derivs = [json.loads(e[1].replace("'", '"').replace("None", "null")) for e in c.events if e[0] == "deriv"]
    assert [(d["type"], d.get("price") or d.get("rate")) for d in derivs] == [
        ("mark_price", "37000.41234567"), ("index_price", "36998.12345678"), ("funding_rate", "0.0001"),
        ("liquidation", "36990")]
    assert derivs[2]["funding_time"] == 1_700_006_400_000_000_000
    assert derivs[3]["side"] == "sell" and derivs[3]["size"] == "0.014"
    # the price off the tick and the truncated frame are refused with their reasons; the
    # unfollowed symbol is counted, not an error; the chain after the refused frame resyncs
    assert len(c.errors) == 2 and "fractional digits" in c.errors[0]
    assert c.events.count(("resync", "sequence gap")) == 2
    assert not fs.sync.is_live                            # no snapshot after the last gap


@pytest.mark.parametrize("frame,why", [
    ('{"e":"depthUpdate","E":1,"T":1,"s":"BTCUSDT","U":5,"u":6,"b":[],"a":[]}', "MissingFieldError"),
    ('{"e":"depthUpdate","E":1,"T":1,"s":"BTCUSDT","U":5,"u":6,"pu":5,"b":[],"a":[]}', "pu 5 >= U 5"),
    ('{"e":"markPriceUpdate","E":1,"s":"BTCUSDT","p":"-1","i":"1","r":"0","T":2}', "not positive"),
    ('{"e":"forceOrder","E":1,"o":{"s":"BTCUSDT","S":"HOLD","p":"1","q":"1","T":1}}', "neither BUY nor SELL"),
    ('{"e":"markPriceUpdate","E":1,"s":"BTCUSDT","s":"ETHUSDT","p":"1","i":"1","r":"0","T":2}', "duplicate key"),
])
def test_bad_futures_frames_are_refused_with_a_reason(frame, why):
    for reference in (False, True):
        a = BinanceUsdmAdapter()
        lines = FIXTURE.read_text().splitlines()
        a.set_instruments(a.parse_instruments(json.loads(lines[0])["body"]))
        sink = Sink()
        p = a.make_reference_parser(sink) if reference else a.make_parser(sink)
        fs = a.feed_symbol(a.instrument("BTC/USDT:USDT"), sink)
        fs.want_book = fs.want_derivs = True
        p.add_symbol(fs)
        p.feed(frame.encode(), RECV)
        assert len(sink.errors) == 1 and why in sink.errors[0], (reference, sink.errors)


def test_a_delivery_contract_has_mark_and_index_but_no_funding():
    a = BinanceUsdmAdapter()
    lines = FIXTURE.read_text().splitlines()
    a.set_instruments(a.parse_instruments(json.loads(lines[0])["body"]))
    for reference in (False, True):
        sink = Sink()
        p = a.make_reference_parser(sink) if reference else a.make_parser(sink)
        fs = a.feed_symbol(a.instrument("BTC/USDT:USDT-261225"), sink)
        fs.want_derivs = True
        p.add_symbol(fs)
        p.feed(b'{"e":"markPriceUpdate","E":1700000000400,"s":"BTCUSDT_261225","p":"37100.10000000",'
               b'"ap":"37100.1","i":"36998.12345678","P":"37010.0","r":"","T":0}', RECV)
        assert sink.errors == [] and [json.loads(e[1].replace("'", '"'))["type"] for e in sink.events] == [
            "mark_price", "index_price"]
