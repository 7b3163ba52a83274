"""Replays real-format Binance frames through `venuelink normalize` (the live adapter code)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURE = Path(__file__).parent.parent / "fixtures" / "binance" / "session.jsonl"


def run(*args, stdin=None):
    p = subprocess.run([sys.executable, "-m", "venuelink.tools.cli", "normalize", *args], input=stdin,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return [json.loads(line) for line in p.stdout.splitlines()], p.stderr


def strip(ev):
    ev = dict(ev)
    ev.pop("ts_recv", None)
    return ev


def test_session_replay_events_and_sync():
    events, err = run("binance", str(FIXTURE), "--book")
    kinds = [e["type"] for e in events]
    assert kinds.count("book_snapshot") == 2 and kinds.count("resync") == 1 and kinds.count("trade") == 2
    assert all(e["venue"] == "binance" and e["symbol"] == "BTC/USDT" for e in events)
    assert all(isinstance(e.get("ts_recv", 0), int) for e in events)
    # the first snapshot (1005) drops 1001..1003, replays 1004..1006 (straddles 1006)
    first_top = next(e for e in events if e["type"] == "top" and "seq" not in e)
    assert first_top["bids"] == [["37000.2", "1.25"], ["37000", "3"]]
    assert first_top["asks"] == [["37000.5", "0.4"], ["37000.6", "2"], ["37001", "5"]]
    trades = [strip(e) for e in events if e["type"] == "trade"]
    assert trades[0] == {"type": "trade", "venue": "binance", "symbol": "BTC/USDT",
                         "ts_exchange": 1700000000249000000, "price": "37000.5", "size": "0.01",
                         "side": "buy", "trade_id": "5001"}
    assert trades[1]["side"] == "sell"            # m=true: buyer is maker, taker sold
    # gap: resync, then no top until the next snapshot
    i = kinds.index("resync")
    assert events[i]["reason"].startswith("sequence gap")
    j = kinds.index("book_snapshot", i)
    assert "top" not in kinds[i:j]
    final_top = [e for e in events if e["type"] == "top" and "seq" not in e][-1]
    assert final_top == {"type": "top", "venue": "binance", "symbol": "BTC/USDT",
                         "bids": [["37000.3", "0.1"]], "asks": [["37000.5", "0.7"], ["37000.6", "1.5"]]}
    # bad lines are reported with their numbers and processing goes on
    assert "line 12: MalformedJSONError" in err
    assert "line 13: FieldValueError" in err and "'abc'" in err
    assert "line 14: frame for a symbol without instrument metadata" in err
    assert "3 bad lines" in err


def test_without_book_flag_no_book_tops():
    events, _ = run("binance", str(FIXTURE))
    assert not [e for e in events if e["type"] == "top" and "seq" not in e]


@pytest.mark.parametrize("line,expect", [
    ("not json at all", "MalformedJSONError"),
    ('{"stream":"x","data":[1]}', "FieldTypeError"),
    ('{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":"a","u":2,"b":[],"a":[]}', "FieldTypeError"),
    ('{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":5,"u":2,"b":[],"a":[]}', "u 2 < U 5"),
    ('{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"b":[["1","-1"]],"a":[]}', "negative size"),
    ('{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"a":[]}', "MissingFieldError"),
    ('{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"1.001","q":"1","T":1,"m":true}', "more fractional digits"),
    ('{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"1e400","q":"1","T":1,"m":true}', "FieldValueError"),
    ('{"rest":"/api/v3/depth?symbol=NOPE","body":{"lastUpdateId":1,"bids":[],"asks":[]}}', "unknown symbol"),
    # above PRICE_FILTER's maxPrice (1000000 for BTCUSDT): an impossible value, not a price
    ('{"e":"depthUpdate","E":1700000000001,"s":"BTCUSDT","U":1,"u":2,"b":[["99999999999.00","1"]],"a":[]}',
     "above the instrument's maximum"),
    ('{"e":"trade","E":1700000000001,"s":"BTCUSDT","t":1,"p":"1000000.01","q":"1","T":1700000000000,"m":true}',
     "above the instrument's maximum"),
    ('{"rest":"/api/v3/unknown","body":{}}', "not an instruments or snapshot endpoint"),
])
def test_bad_input_is_reported_not_fatal(line, expect):
    head = FIXTURE.read_text().splitlines()[0]        # exchangeInfo
    good = '{"e":"trade","E":1700000000001,"s":"BTCUSDT","t":9,"p":"1.5","q":"2","T":1700000000000,"m":false}'
    events, err = run("binance", "-", stdin="\n".join([head, line, good]) + "\n")
    assert f"line 2:" in err and expect in err
    assert events and events[-1]["type"] == "trade" and events[-1]["trade_id"] == "9"


def test_unknown_venue_is_a_clear_error():
    p = subprocess.run([sys.executable, "-m", "venuelink.tools.cli", "normalize", "nosuch", str(FIXTURE)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "unknown venue" in p.stderr


def test_trade_event_object():
    from venuelink.model import Side, Trade, VenueId
    from venuelink.adapters.binance.symbols import parse_exchange_info
    import json as _json
    inst = parse_exchange_info(_json.loads(FIXTURE.read_text().splitlines()[0])["body"])[0]
    t = Trade(VenueId.binance, inst, 42, 3700012, 150000, Side.SELL, 1, 2, 3)
    assert t.trade_id == "42" and t.trade_id_int == 42
    assert t.to_json() == {"type": "trade", "venue": "binance", "symbol": "BTC/USDT", "ts_exchange": 1, "ts_recv": 2,
                           "price": "37000.12", "size": "1.5", "side": "sell", "trade_id": "42"}
    assert Trade(VenueId.binance, inst, "abc-1", 1, 1, Side.BUY, 0, 0).trade_id == "abc-1"
    with pytest.raises(AttributeError):
        t.price = 5


def test_deeply_nested_and_overflowing_lines_are_bad_lines_not_a_crash():
    head = FIXTURE.read_text().splitlines()[0]
    deep = '{"rest":"/api/v3/depth?symbol=BTCUSDT","body":' + "[" * 100000 + "]" * 100000 + "}"
    huge_t = '{"e":"trade","E":1,"s":"BTCUSDT","t":8,"p":"1.5","q":"2","T":9223372036854775,"m":false}'
    good = '{"e":"trade","E":1700000000001,"s":"BTCUSDT","t":9,"p":"1.5","q":"2","T":1700000000000,"m":false}'
    events, err = run("binance", "-", stdin="\n".join([head, deep, huge_t, good]) + "\n")
    assert "line 3:" in err and "does not fit" in err
    assert events and events[-1]["trade_id"] == "9" and all(e.get("trade_id") != "8" for e in events)
    assert "Traceback" not in err


# ---------------------------------------------------------------------------- duplicate keys
class _Recorder:
    """A feed consumer that records what reaches it."""

    def __init__(self):
        self.errors, self.trades = [], []

    def on_need_snapshot(self, sync, reason):
        pass

    def on_state(self, sync, old, new):
        pass

    def on_book_applied(self, fs):
        pass

    def on_trade(self, t):
        self.trades.append(t)

    def on_decode_error(self, exc, raw):
        self.errors.append((type(exc).__name__, str(exc)))


def _live_book(reference):
    """A Binance parser (C or its twin) with BTCUSDT's book LIVE at update id 1002."""
    from venuelink.adapters.binance.adapter import BinanceAdapter
    from venuelink.adapters.binance.symbols import parse_exchange_info
    a = BinanceAdapter()
    inst = parse_exchange_info(json.loads(FIXTURE.read_text().splitlines()[0])["body"])[0]
    sink = _Recorder()
    p = a.make_reference_parser(sink) if reference else a.make_parser(sink)
    fs = a.feed_symbol(inst, sink)
    fs.want_trades = True
    p.add_symbol(fs)
    p.on_snapshot(fs, b'{"lastUpdateId":1000,"bids":[["37000.00","1"]],"asks":[["37001.00","2"]]}')
    assert p.feed(b'{"e":"depthUpdate","E":1700000000001,"s":"BTCUSDT","U":1001,"u":1002,'
                  b'"b":[["37000.50","3"]],"a":[]}') != -1
    assert fs.sync.is_live and fs.book.seq == 1002
    return p, fs, sink


def _book(fs):
    return fs.book.levels(1), fs.book.levels(2), fs.book.seq


DEPTH_OK = (b'{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1700000000002,"s":"BTCUSDT",'
            b'"U":1003,"u":1004,"b":[["37000.60","4"]],"a":[["37001.00","0"]]}}')


@pytest.mark.parametrize("reference", [False, True])
@pytest.mark.parametrize("dup,key", [
    # read first-wins, U=1003 would chain on 1002; read last-wins it would be a gap: neither
    (DEPTH_OK.replace(b'"U":1003,', b'"U":1003,"U":1,'), "U"),
    # the second one after every field the parser reads: found when the object is walked to its end
    (DEPTH_OK.replace(b'"a":[["37001.00","0"]]}', b'"a":[["37001.00","0"]],"U":1}'), "U"),
    # before the first one: met while the parser looks for another key
    (DEPTH_OK.replace(b'"e":"depthUpdate",', b'"U":7,"e":"depthUpdate",'), "U"),
    (DEPTH_OK.replace(b'"a":[', b'"b":[["1.00","1"]],"a":['), "b"),
    (DEPTH_OK.replace(b'"data":{', b'"stream":"x","data":{'), "stream"),
    # the first names a symbol not followed: the frame is refused, not dropped as that symbol's
    (DEPTH_OK.replace(b'"s":"BTCUSDT",', b'"s":"ETHUSDT",').replace(b'"a":[', b'"s":"BTCUSDT","a":['), "s"),
])
def test_a_depth_frame_with_a_duplicated_key_is_a_counted_drop_the_book_unchanged(reference, dup, key):
    """JSON leaves a duplicated key's value undefined and a plain reader takes the first: the
    frame is refused (DuplicateKeyError, counted, reported to the consumer), never applied, and
    the next well-formed update still chains onto the book."""
    p, fs, sink = _live_book(reference)
    before = _book(fs)
    assert p.feed(dup) == -1
    assert p.n_errors == 1 and sink.errors[-1][0] == "DuplicateKeyError"
    assert f"duplicate key '{key}'" in sink.errors[-1][1]
    assert _book(fs) == before and fs.sync.is_live
    assert p.feed(DEPTH_OK) != -1 and p.n_errors == 1
    assert fs.book.seq == 1004 and fs.book.levels(1)[0] == (3700060, 400000)


@pytest.mark.parametrize("reference", [False, True])
def test_a_trade_with_a_duplicated_price_is_dropped_and_a_repeated_unread_key_is_not(reference):
    p, fs, sink = _live_book(reference)
    trade = (b'{"e":"trade","E":1700000000250,"s":"BTCUSDT","t":5001,"p":"37000.50","q":"0.01",'
             b'"T":1700000000249,"m":false,"M":true}')
    assert p.feed(trade.replace(b'"q":', b'"p":"1.00","q":')) == -1
    assert p.n_errors == 1 and sink.errors[-1][0] == "DuplicateKeyError" and sink.trades == []
    # "M" is not read: its repetition misleads nothing, and the same key in another object is another key
    assert p.feed(trade.replace(b'"M":true', b'"M":true,"M":false')) != -1
    assert p.feed(b'{"stream":"btcusdt@trade","data":' + trade.replace(b'"t":5001', b'"t":5002') + b'}') != -1
    assert p.n_errors == 1 and [t.trade_id for t in sink.trades] == ["5001", "5002"]


def test_a_duplicated_key_in_a_rest_snapshot_is_refused():
    p, fs, sink = _live_book(False)
    before = _book(fs)
    from venuelink.ext.json import DuplicateKeyError
    with pytest.raises(DuplicateKeyError):
        p.on_snapshot(fs, b'{"lastUpdateId":2000,"bids":[["1.00","1"]],"asks":[],"lastUpdateId":1}')
    assert _book(fs) == before
