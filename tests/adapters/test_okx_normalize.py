"""Replays real-format OKX frames (shaped as okx.com/docs-v5 shows them) through `venuelink
normalize okx` and checks the decoder's own rules: books by seqId/prevSeqId with the signed
CRC32, keep-alives and sequence resets, trades with the taker side, bbo-tbt, contract sizes of
swaps, control frames and bad lines."""
import json
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from venuelink.adapters.okx.adapter import OkxAdapter
from venuelink import registry
from venuelink.model import MarketKind, VenueId
from venuelink.tools.normalize import Replayer
from venuelink.ext.feed import Control
from venuelink.ext.json import JSONError

FIXTURE = Path(__file__).parent.parent / "fixtures" / "okx" / "session.jsonl"
LINES = FIXTURE.read_text().splitlines()

def run(*args, stdin=None):
    p = subprocess.run([sys.executable, "-m", "venuelink.tools.cli", "normalize", *args], input=stdin, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return [json.loads(line) for line in p.stdout.splitlines()], p.stderr


@pytest.fixture
def okx_registered():
    assert registry.ADAPTERS[VenueId.okx] == "venuelink.adapters.okx.adapter:OkxAdapter"


def tops(events, symbol="BTC/USDT"):
    return [e for e in events if e["type"] == "top" and "seq" not in e and e["symbol"] == symbol]


def test_session_replay_books_trades_and_resyncs():
    events, err = run("okx", str(FIXTURE), "--book")
    kinds = [e["type"] for e in events]
    assert kinds.count("book_snapshot") == 3 and kinds.count("trade") == 4 and kinds.count("resync") == 2
    assert all(e["venue"] == "okx" and isinstance(e.get("ts_recv", 0), int) for e in events)
    first = next(e for e in events if e["type"] == "book_snapshot")
    assert (first["seq"], first["ts_exchange"]) == (1000, 1_700_000_000_100_000_000)
    deltas = [e for e in events if e["type"] == "book_delta" and e["symbol"] == "BTC/USDT"]
    # keep-alive (prevSeqId == seqId, no levels) applied; the reset to seqId 15 is legal and applied
    assert [d["seq"] for d in deltas[:6]] == [1001, 1002, 1002, 15, 16, 17]
    assert deltas[2]["bids"] == [] and deltas[2]["asks"] == []
    t = tops(events)
    assert len(t) == 9          # every BTC-USDT message up to the bad checksum, then the new snapshot and one more
    assert t[7]["bids"] == [["37000.3", "0.1"], ["37000", "3"]]
    assert t[6]["asks"] == [["37000.5", "0.4"], ["37000.6", "1.5"], ["37000.7", "0.8"], ["37000.8", "0.3"]]
    resyncs = [e for e in events if e["type"] == "resync"]
    assert resyncs[0]["reason"].startswith("checksum mismatch at 18: venue 123456789")
    assert resyncs[1]["reason"].startswith("sequence gap: book at 31")
    # no book top between the gap and the end (the book stays invalid until the next snapshot)
    i = kinds.index("resync", kinds.index("resync") + 1)
    assert not tops(events[i:])
    trades = [e for e in events if e["type"] == "trade"]
    t0 = dict(trades[0])
    t0.pop("ts_recv")
    assert t0 == {"type": "trade", "venue": "okx", "symbol": "BTC/USDT", "ts_exchange": 1_700_000_000_249_000_000,
                  "price": "37000.5", "size": "0.01", "side": "buy", "trade_id": "130639474"}
    assert trades[1]["side"] == "sell" and trades[-1]["trade_id"] == "130639479"
    bbo = next(e for e in events if e["type"] == "top" and "seq" in e)
    assert (bbo["seq"], bbo["bids"], bbo["asks"]) == (34, [["37000.3", "0.1"]], [["37000.5", "0.7"]])
    # bad lines: reported with their numbers, processing goes on
    assert "line 28: MalformedJSONError" in err
    assert "line 29: FieldValueError" in err and "37000.55" in err
    assert "line 30: frame for a symbol without instrument metadata" in err
    assert "line 31: FieldCountError" in err
    assert "4 bad lines" in err


def test_swap_events_carry_the_contract_size():
    events, _ = run("okx", str(FIXTURE), "--book")
    swap = [e for e in events if e["symbol"] == "BTC/USDT:USDT"]
    assert {e["type"] for e in swap} == {"book_snapshot", "book_delta", "top", "trade"}
    assert all(e["contract_size"] == "0.01" and e["contract_ccy"] == "BTC" for e in swap)
    trade = next(e for e in swap if e["type"] == "trade")
    assert (trade["size"], trade["trade_id"]) == ("20", "881234567")
    assert all("contract_size" not in e for e in events if e["symbol"] == "BTC/USDT")


def test_instruments_from_both_requests(okx_registered):
    a = OkxAdapter()
    assert a.instrument_requests() == [("/api/v5/public/instruments", {"instType": "SPOT"}),
                                       ("/api/v5/public/instruments", {"instType": "SWAP"})]
    rp = Replayer("okx", open("/dev/null", "w"))
    assert rp.line(LINES[0]) is None and rp.line(LINES[1]) is None
    swap = rp.adapter.instrument("BTC/USDT:USDT")
    assert (swap.kind, swap.venue_symbol, swap.contract_size, swap.contract_scale, swap.contract_ccy) == (
        MarketKind.SWAP, "BTC-USDT-SWAP", 1, 2, "BTC")
    assert swap.size_in_ccy(swap.qty("20")) == (2000, 4)          # 20 contracts x 0.01 BTC = 0.2 BTC
    assert rp.adapter.instrument("BTC/USDT").contract_fields() == {}


class Controls:
    def __init__(self):
        self.got = []

    def on_control(self, kind, topic, req_id, raw):
        self.got.append((kind, topic, req_id))


@pytest.mark.parametrize("reference", [False, True])
@pytest.mark.parametrize("frame,expect", [
    (b"pong", (Control.CTRL_PONG, None, -1)),
    (b'{"id":"1512","event":"subscribe","arg":{"channel":"books","instId":"BTC-USDT"},"connId":"a4d3ae55"}',
     (Control.CTRL_SUBSCRIBED, None, 1512)),
    (b'{"id":"77","event":"unsubscribe","arg":{"channel":"trades","instId":"BTC-USDT"},"connId":"a4d3ae55"}',
     (Control.CTRL_UNSUBSCRIBED, None, 77)),
    (b'{"id":"1512","event":"error","code":"60012","msg":"Invalid request","connId":"a4d3ae55"}',
     (Control.CTRL_ERROR, "60012 Invalid request", 1512)),
    (b'{"event":"error","code":"60018","msg":"Wrong URL or channel","connId":"a4d3ae55"}',
     (Control.CTRL_ERROR, "60018 Wrong URL or channel", -1)),
    (b'{"event":"notice","code":"64008","msg":"The connection will soon be closed for a service upgrade. '
     b'Please reconnect.","connId":"a4d3ae55"}',
     (Control.CTRL_SHUTDOWN, "64008 The connection will soon be closed for a service upgrade. Please reconnect.", -1)),
    (b'{"event":"notice","code":"64099","msg":"other","connId":"a4d3ae55"}', (Control.CTRL_STATUS, "64099 other", -1)),
    (b'{"event":"channel-conn-count","channel":"orders","connCount":"2","connId":"a4d3ae55"}',
     (Control.CTRL_OTHER, "channel-conn-count", -1)),
    (b'{"id":"abc","event":"subscribe","arg":{"channel":"bbo-tbt","instId":"BTC-USDT"}}',
     (Control.CTRL_SUBSCRIBED, None, -1)),
])
def test_control_frames(okx_registered, frame, expect, reference):
    a = OkxAdapter()
    c = Controls()
    p = a.make_reference_parser(None) if reference else a.make_parser(None)
    p.control = c
    assert p.feed(frame) == 0 and p.n_errors == 0
    assert c.got == [expect]
    assert isinstance(c.got[0][0], Control)


@pytest.mark.parametrize("reference", [False, True])
def test_zero_checksum_is_counted_as_not_provided(okx_registered, reference):
    rp = Replayer("okx", open("/dev/null", "w"), reference=reference)
    for ln in LINES[:13]:
        assert rp.line(ln) is None
    assert rp.parser.n_checksum_zero == 1 and rp.parser.n_checksum_failures == 0
    assert rp.parser.symbol("BTC-USDT").sync.is_live and not rp.parser.checksum_off


@pytest.mark.parametrize("reference", [False, True])
def test_a_venue_sending_checksum_0_is_downgraded_not_resynced(okx_registered, reference):
    """Checksum 0 on every message (OKX since it stopped filling the field): never a mismatch,
    never a resync; after three in a row validation is off for the connection (the engine
    reports the venue degraded), and the book stays live on its sequence rule."""
    rp = Replayer("okx", open("/dev/null", "w"), reference=reference)
    for ln in LINES[:2]:                             # the instruments
        rp.line(ln)
    snap = {"arg": {"channel": "books", "instId": "BTC-USDT"}, "action": "snapshot",
            "data": [{"asks": [["41006.8", "0.6", "0", "1"]], "bids": [["41006.3", "0.3", "0", "1"]],
                      "ts": "1700000000000", "checksum": 0, "prevSeqId": -1, "seqId": 100}]}
    rp.line(json.dumps(snap))
    for k in range(4):
        upd = {"arg": {"channel": "books", "instId": "BTC-USDT"}, "action": "update",
               "data": [{"asks": [], "bids": [[f"41006.{2 - k % 2}", f"0.{k + 1}", "0", "1"]],
                         "ts": str(1700000000100 + k), "checksum": 0, "prevSeqId": 100 + k, "seqId": 101 + k}]}
        assert rp.line(json.dumps(upd)) is None
    p = rp.parser
    fs = p.symbol("BTC-USDT")
    assert p.n_checksum_zero == 3 and p.n_checksum_failures == 0 and p.checksum_off   # off from the third
    assert fs.sync.is_live and fs.sync.n_resyncs == 0


@pytest.mark.parametrize("reference", [False, True])
def test_books_without_the_checksum_field_are_read_as_not_sent(okx_registered, reference):
    """OKX removed the checksum field from the books channel (production, early August 2026): a
    message without it is read, nothing compared and nothing counted as a zero checksum (so no
    connection is reported as sending zeros), never dropped as undecodable; the book follows its
    sequence rule."""
    rp = Replayer("okx", open("/dev/null", "w"), reference=reference)
    for ln in LINES[:2]:                             # the instruments
        rp.line(ln)
    snap = {"arg": {"channel": "books", "instId": "BTC-USDT"}, "action": "snapshot",
            "data": [{"asks": [["41006.8", "0.6", "0", "1"]], "bids": [["41006.3", "0.3", "0", "1"]],
                      "ts": "1700000000000", "prevSeqId": -1, "seqId": 100}]}
    rp.line(json.dumps(snap))
    upd = {"arg": {"channel": "books", "instId": "BTC-USDT"}, "action": "update",
           "data": [{"asks": [], "bids": [["41006.2", "0.5", "0", "1"]], "ts": "1700000000100",
                     "prevSeqId": 100, "seqId": 101}]}
    assert rp.line(json.dumps(upd)) is None
    p = rp.parser
    fs = p.symbol("BTC-USDT")
    assert p.n_errors == 0 and p.n_checksum_zero == 0 and p.n_checksum_failures == 0 and not p.checksum_off
    assert fs.sync.is_live and fs.book.seq == 101 and fs.book.top(1, 5)[1] == (410062, 50000000)


@pytest.mark.parametrize("line,expect", [
    ('{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"snapshot","data":[{"asks":[],"bids":[],"ts":"1",'
     '"checksum":0,"prevSeqId":5,"seqId":6}]}', "prevSeqId 5 (must be -1)"),
    ('{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":[],"bids":[],"ts":"1",'
     '"checksum":4294967295,"prevSeqId":5,"seqId":6}]}', "not a signed 32-bit integer"),
    ('{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"replace","data":[]}', "unknown action"),
    ('{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[]}', "FieldCountError"),
    ('{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":[["1","-1","0","1"]],'
     '"bids":[],"ts":"1700000000000","checksum":0,"prevSeqId":1,"seqId":2}]}', "negative size"),
    ('{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT","tradeId":"9","px":"1.5",'
     '"sz":"2","side":"taker","ts":"1700000000000"}]}', "trades: side 'taker'"),
    ('{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT","tradeId":"9","px":"1.5",'
     '"sz":"2","side":"buy","ts":1700000000000.5}]}', "FieldValueError"),
    ('{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":{"tradeId":"9"}}', "FieldTypeError"),
    # a key the parser reads, given twice: never first-wins, whether the frame is read through or not
    ('{"arg":{"channel":"books","channel":"trades","instId":"BTC-USDT"},"action":"update","data":[]}',
     "DuplicateKeyError"),
    ('{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":[],"bids":[],'
     '"ts":"1700000000000","prevSeqId":1,"seqId":2,"seqId":3}]}', "DuplicateKeyError"),
    ('{"arg":{"channel":"books","instId":"DOGE-USDT"},"action":"update","action":"snapshot","data":[]}',
     "DuplicateKeyError"),
    ('{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":[],"bids":[],'
     '"ts":"1700000000000","checksum":1,"prevSeqId":1,"seqId":2,"checksum":2}]}', "DuplicateKeyError"),
    ('{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":[],"bids":[],'
     '"ts":"1700000000000","prevSeqId":1,"seqId":2,"prevSeqId":0}]}', "DuplicateKeyError"),
])
def test_bad_input_is_reported_not_fatal(line, expect):
    good = ('{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT","tradeId":"9",'
            '"px":"1.5","sz":"2","side":"buy","ts":"1700000000000","count":"1"}]}')
    events, err = run("okx", "-", stdin="\n".join([LINES[0], line, good]) + "\n")
    assert "line 2:" in err and expect in err
    assert events and events[-1]["type"] == "trade" and events[-1]["trade_id"] == "9"


def test_subscribe_frames_are_okx_ops():
    a = OkxAdapter()
    inst = a.parse_instruments(json.loads(LINES[1])["body"])[0]
    from venuelink.adapter import Channel
    topics = a.topics(inst, (Channel.BOOK, Channel.TRADES, Channel.TOP))
    ep = a.spec.endpoints[0]
    assert json.loads(a.subscribe_frames(ep, topics, 42)[0]) == {"id": "42", "op": "subscribe", "args": [
        {"channel": "books", "instId": "BTC-USDT-SWAP"}, {"channel": "trades", "instId": "BTC-USDT-SWAP"},
        {"channel": "bbo-tbt", "instId": "BTC-USDT-SWAP"}]}
    assert json.loads(a.unsubscribe_frames(ep, topics[:1], 43)[0])["op"] == "unsubscribe"


@pytest.mark.parametrize("reference", [False, True])
@pytest.mark.parametrize("bids,asks,crc", [
    # okx.com/docs-v5 checksum examples (the docs give the strings; the CRCs computed from them)
    ('[["3366.1","7","0","1"],["3366","6","0","1"]]', '[["3366.8","9","0","1"],["3368","8","0","1"]]', -1881014294),
    ('[["3366.1","7","0","1"]]', '[["3366.8","9","0","1"],["3368","8","0","1"],["3372","8","0","1"]]', 831078360),
])
def test_documented_checksums_through_the_parser(okx_registered, bids, asks, crc, reference):
    rp = Replayer("okx", open("/dev/null", "w"), reference=reference)
    assert rp.line(LINES[0]) is None
    frame = ('{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"snapshot","data":[{"asks":%s,"bids":%s,'
             '"ts":"1700000000000","checksum":%d,"prevSeqId":-1,"seqId":7}]}')
    fs = rp.parser.symbol("BTC-USDT")
    assert rp.line(frame % (asks, bids, crc)) is None
    assert fs.sync.is_live and rp.parser.n_checksum_failures == 0
    assert rp.line(frame % (asks, bids, crc + 1)) is None         # one bit off: the book is invalid
    assert not fs.sync.is_live and rp.parser.n_checksum_failures == 1


def test_engine_loads_instruments_from_every_request():
    """VenueRuntime.load_instruments() sends each of the adapter's instrument requests (OKX: SPOT
    and SWAP) and keeps the instruments of all answers; Binance keeps its one request."""
    import asyncio
    from types import SimpleNamespace
    from venuelink.adapters.binance.adapter import BinanceAdapter
    from venuelink.engine import VenueRuntime

    assert BinanceAdapter().instrument_requests() == [("/api/v3/exchangeInfo", {})]
    assert BinanceAdapter().instrument_urls() == ["/api/v3/exchangeInfo"]
    answers = {"instType=SPOT": json.dumps(json.loads(LINES[0])["body"]).encode(),
               "instType=SWAP": json.dumps(json.loads(LINES[1])["body"]).encode()}
    sent = []

    class Rest:
        async def request(self, method, path, *, query="", weights, priority, **kw):
            sent.append((method, path, query))
            return SimpleNamespace(body=answers[query])

    rt = SimpleNamespace(adapter=OkxAdapter(), rest=Rest())
    asyncio.run(VenueRuntime.load_instruments(rt))
    assert sent == [("GET", "/api/v5/public/instruments", "instType=SPOT"),
                    ("GET", "/api/v5/public/instruments", "instType=SWAP")]
    assert sorted(rt.adapter.instruments) == ["BTC/USDT", "BTC/USDT:USDT", "ETH/USDT"]
    assert OkxAdapter().instrument_urls()[1] == "/api/v5/public/instruments?instType=SWAP"


DERIVS = Path(__file__).parent.parent / "fixtures" / "okx" / "derivatives.jsonl"


def test_derivatives_replay_mark_price_and_funding_exact():
    events, err = run("okx", str(DERIVS))
    marks = [e for e in events if e["type"] == "mark_price"]
    funding = [e for e in events if e["type"] == "funding_rate"]
    for e in marks + funding:
        e.pop("ts_recv")
    assert marks == [
        {"type": "mark_price", "venue": "okx", "symbol": "BTC/USDT:USDT", "ts_exchange": 1_700_000_004_100_000_000,
         "contract_size": "0.01", "contract_ccy": "BTC", "price": "37010.3"},
        {"type": "mark_price", "venue": "okx", "symbol": "BTC/USDT:USDT", "ts_exchange": 1_700_000_004_300_000_000,
         "contract_size": "0.01", "contract_ccy": "BTC", "price": "37011.8"}]
    # 16 fractional digits kept exactly; "" (no forecast) is None, a forecast is a rate
    assert [(f["rate"], f["next_rate"], f["funding_time"], f["next_funding_time"]) for f in funding] == [
        ("0.0001875391284828", None, 1_700_006_400_000_000_000, 1_700_035_200_000_000_000),
        ("-0.00002", "0.00001", 1_700_006_400_000_000_000, 1_700_035_200_000_000_000)]
    # the impossible ones are numbered drops, the feed goes on
    assert "line 9: BadMessage: mark_price: mark price" in err
    assert "line 10: BadMessage: funding_rate: next funding time not after" in err
    assert "line 11: frame for a symbol without instrument metadata" in err
    # open interest in contracts, at its own precision where it is finer than the lot
    ois = [(e["size"], e["ts_exchange"], e["contract_size"]) for e in events if e["type"] == "open_interest"]
    assert ois == [("2216113.01", 1_700_000_005_500_000_000, "0.01"), ("2216120.0347", 1_700_000_005_700_000_000, "0.01")]
    assert "line 15: BadMessage: open_interest: open interest -500 negative" in err
    # liquidations: one push for every swap; only the followed instruments' details, each exact
    liq = [(e["symbol"], e["side"], e["price"], e["size"], e["ts_exchange"]) for e in events if e["type"] == "liquidation"]
    assert liq == [("BTC/USDT:USDT", "sell", "37005.1", "3", 1_700_000_006_100_000_000),
                   ("BTC/USDT:USDT", "buy", "37100", "12.5", 1_700_000_006_150_000_000)]
    assert "line 18: JSONError: liquidation-orders: data[0].details[0]: liquidation price" in err
    assert "line 19: JSONError: liquidation-orders: data[0].details[0].side 'long'" in err


def test_derivative_topics_only_for_swaps(okx_registered):
    a = OkxAdapter()
    a.set_instruments(a.parse_instruments(json.loads(LINES[0])["body"]) + a.parse_instruments(json.loads(LINES[1])["body"]))
    assert a.derivative_topics(a.instrument("BTC/USDT")) == []
    assert a.derivative_topics(a.instrument("BTC/USDT:USDT")) == ["mark-price:BTC-USDT-SWAP", "funding-rate:BTC-USDT-SWAP",
                                                                  "open-interest:BTC-USDT-SWAP",
                                                                  "index-tickers:BTC-USDT",
                                                                  "liquidation-orders:SWAP"]
    frames = a.subscribe_frames(a.spec.endpoints[0], a.derivative_topics(a.instrument("BTC/USDT:USDT"))[-2:], 3)
    # the index is subscribed by its name (the swap's underlying), liquidations by instType
    assert json.loads(frames[0])["args"] == [{"channel": "index-tickers", "instId": "BTC-USDT"},
                                             {"channel": "liquidation-orders", "instType": "SWAP"}]


def test_index_of_a_swap_is_its_underlying():
    from venuelink.adapters.okx.adapter import index_of
    from venuelink.adapters.okx.symbols import parse_instruments
    linear = json.loads(LINES[1])["body"]["data"][0]
    inverse = dict(linear, instId="BTC-USD-SWAP", uly="BTC-USD", settleCcy="BTC", ctVal="100", ctValCcy="USD")
    insts = {i.venue_symbol: i for i in parse_instruments({"code": "0", "data": [linear, inverse]})}
    assert index_of(insts["BTC-USDT-SWAP"]) == "BTC-USDT" and index_of(insts["BTC-USD-SWAP"]) == "BTC-USD"


def test_derivatives_replay_index_price_of_the_swap_never_the_spot():
    """index-tickers names the index, "BTC-USDT", which is the spot pair's instId too: every
    index price goes to the swap BTC/USDT:USDT, exact, at the exchange time in ns; the bad pushes
    are numbered drops and the replay goes on."""
    events, err = run("okx", str(DERIVS))
    idx = [e for e in events if e["type"] == "index_price"]
    for e in idx:
        assert isinstance(e.pop("ts_recv"), int)
    head = {"type": "index_price", "venue": "okx", "symbol": "BTC/USDT:USDT", "contract_size": "0.01",
            "contract_ccy": "BTC"}
    assert idx == [{**head, "ts_exchange": 1_597_026_383_085_000_000, "price": "0.1"},     # the docs' own example
                   {**head, "ts_exchange": 1_700_000_006_700_000_000, "price": "37008.4"},
                   {**head, "ts_exchange": 1_700_000_008_100_000_000, "price": "37009.1"}]
    assert not any(e["symbol"] == "BTC/USDT" for e in events)       # nothing on the spot pair
    assert "line 23: MissingFieldError: missing field 'idxPx'" in err
    assert "line 24: FieldValueError: field 'idxPx': not a decimal number: 'n/a'" in err
    assert "line 25: FieldValueError: field 'ts': not a decimal number: 'soon'" in err
    assert "line 26: BadMessage: index_price: index price 0 not positive" in err
    # finer than the swap's tick: refused, never rounded
    assert "line 27: FieldValueError: field 'idxPx': '37008.45' has more fractional digits than scale 1" in err
    # ETH-USDT is a listed spot pair, but no ETH-USDT-SWAP is: not attributed to the spot pair
    assert "line 28: frame for a symbol without instrument metadata" in err


class Derivs:
    def __init__(self):
        self.got = []

    def on_derivative(self, ev):
        self.got.append(ev)


INDEX_PUSH = (b'{"arg":{"channel":"index-tickers","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT","idxPx":"37008.4",'
              b'"high24h":"37611.9","low24h":"36520.2","open24h":"36903.3","sodUtc0":"36950.7","sodUtc8":"36880",'
              b'"ts":"1700000006700"}]}')


@pytest.mark.parametrize("reference", [False, True])
def test_index_push_for_an_unfollowed_swap_is_counted_never_the_spots(okx_registered, reference):
    """The engine's parser holds only the followed symbols: with the spot BTC-USDT alone the push
    is an unknown symbol (counted); with the swap followed for its book only it is not wanted
    (counted on the swap); with its derivatives wanted it is the swap's IndexPrice. No error, and
    never an event for the spot pair."""
    from venuelink.derivatives import IndexPrice
    a = OkxAdapter()
    a.set_instruments([i for ln in LINES[:2] for i in a.parse_instruments(json.loads(ln)["body"])])
    sink = Derivs()
    p = a.make_reference_parser(sink) if reference else a.make_parser(sink)
    spot = a.feed_symbol(a.instrument("BTC/USDT"), sink)
    spot.want_book = spot.want_trades = spot.want_derivs = True
    p.add_symbol(spot)
    assert p.feed(INDEX_PUSH) == 0
    assert (p.n_unknown_symbol, p.n_errors, spot.n_msgs, sink.got) == (1, 0, 0, [])
    swap = a.feed_symbol(a.instrument("BTC/USDT:USDT"), sink)
    swap.want_book = swap.want_trades = True
    p.add_symbol(swap)
    assert p.feed(INDEX_PUSH) == 0
    assert (p.n_unknown_symbol, p.n_errors, swap.n_msgs, spot.n_msgs, sink.got) == (1, 0, 1, 0, [])
    swap.want_derivs = True
    assert p.feed(INDEX_PUSH, 1_700_000_006_800_000_000) == 0
    assert p.n_errors == 0 and spot.n_msgs == 0
    assert sink.got == [IndexPrice(VenueId.okx, a.instrument("BTC/USDT:USDT"), 1_700_000_006_700_000_000,
                                   1_700_000_006_800_000_000, 370084)]


def test_rest_book_snapshot_bridges_the_buffered_updates_by_seq_id():
    """OKX's procedure as recorded: updates buffered before the GET /api/v5/market/books answer, the
    one the snapshot already holds dropped, the one straddling its seqId (prevSeqId <= 123456 <
    seqId) applied, then the chain; error answers, unknown instruments and an answer without seqId
    (which nothing could bridge) are bad lines, not crashes."""
    fixture = FIXTURE.parent / "rest_book.jsonl"
    events, err = run("okx", str(fixture), "--book")
    snap = next(e for e in events if e["type"] == "book_snapshot")
    assert (snap["symbol"], snap["seq"], snap["ts_exchange"]) == ("BTC/USDT", 123456, 1_629_966_436_396_000_000)
    assert snap["bids"] == [["41006.3", "0.30178218"], ["41006", "0.5"]]
    assert snap["asks"] == [["41006.8", "0.60038921"], ["41006.9", "1.2"]]
    t = [e for e in events if e["type"] == "top"]
    # 123455 (already in the snapshot) dropped: 41007.5 never appears; 123458 applied over it
    assert t[0]["bids"] == [["41006.4", "2"], ["41006.3", "0.30178218"], ["41006", "0.5"]]
    assert t[0]["asks"] == [["41006.8", "0.60038921"]]
    assert t[-1]["bids"] == [["41006.4", "2"], ["41006", "0.5"]] and len(t) == 2
    assert not [e for e in events if e["type"] == "resync"]
    assert "line 6:" in err and "code 51001" in err
    assert "line 7:" in err and "DOGE-USDT" in err
    assert "line 8:" in err and "missing field 'seqId'" in err
    assert "line 9:" in err and "41006.85" in err and "4 bad lines" in err


@pytest.mark.parametrize("reference", [False, True])
def test_rest_book_snapshot_in_c_and_in_the_twin(okx_registered, reference):
    a = OkxAdapter()
    a.set_instruments(a.parse_instruments(json.loads(LINES[0])["body"]))
    inst = a.instrument("BTC/USDT")
    got = []

    class Sink:
        def __getattr__(self, name):
            return lambda *args: got.append((name, args))

    parser = (a.make_reference_parser if reference else a.make_parser)(None)
    fs = a.feed_symbol(inst, Sink())
    fs.want_book = True
    parser.add_symbol(fs)
    body = json.dumps(json.loads((FIXTURE.parent / "rest_book.jsonl").read_text().splitlines()[3])["body"]).encode()
    a.apply_snapshot(parser, fs, body, 0)
    assert fs.book.seq == 123456 and fs.sync.is_live
    assert fs.book.best_bid() == (inst.px("41006.3"), inst.qty("0.30178218"))
    assert fs.book.best_ask() == (inst.px("41006.8"), inst.qty("0.60038921"))
    with pytest.raises(Exception, match="51001"):
        a.apply_snapshot(parser, fs, b'{"code":"51001","msg":"Instrument ID does not exist","data":[]}', 0)
    with pytest.raises(JSONError, match="missing field 'seqId'"):
        a.apply_snapshot(parser, fs, b'{"code":"0","msg":"","data":[{"asks":[],"bids":[],"ts":"1"}]}', 0)
    with pytest.raises(JSONError, match="seqId -2"):
        a.apply_snapshot(parser, fs, b'{"code":"0","msg":"","data":[{"asks":[],"bids":[],"ts":"1","seqId":-2}]}', 0)


def _okx_crc(bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> int:
    parts = []
    for i in range(max(len(bids), len(asks))):
        if i < len(bids):
            parts += bids[i]
        if i < len(asks):
            parts += asks[i]
    c = zlib.crc32(":".join(parts).encode())
    return c - (1 << 32) if c >= 1 << 31 else c


def _books(action: str, prev: int, seq: int, bids, asks, ck: int) -> str:
    return json.dumps({"arg": {"channel": "books", "instId": "BTC-USDT"}, "action": action,
                       "data": [{"asks": [[p, q, "0", "1"] for p, q in asks], "bids": [[p, q, "0", "1"] for p, q in bids],
                                 "ts": "1700000000000", "checksum": ck, "prevSeqId": prev, "seqId": seq}]})


@pytest.mark.parametrize("reference", [False, True])
def test_a_missed_sequence_reset_invalidates_on_the_first_checksum_not_after_a_run_of_drops(okx_registered, reference):
    rp = Replayer("okx", open("/dev/null", "w"), reference=reference)
    rp.line(LINES[0])
    fs = rp.parser.symbol("BTC-USDT")
    bid, ask = [("41006.3", "0.3")], [("41006.8", "0.6")]
    rp.line(_books("snapshot", -1, 100, bid, ask, _okx_crc(bid, ask)))
    states = []
    for seq, b, a in ((101, [("41006.3", "0.4")], ask), (102, [("41006.3", "0.4")], [("41006.8", "0.7")])):
        upd = _books("update", seq - 1, seq, b if b != bid else [], a if a != ask else [], _okx_crc(b, a))
        states.append(upd)
        assert rp.line(upd) is None
        bid, ask = b, a
    assert fs.sync.is_live and rp.parser.n_checksum_failures == 0
    # a true replay (rotation overlap, a duplicate): its checksum is a state this book had: dropped, still live
    assert rp.line(states[0]) is None
    assert fs.sync.is_live and fs.sync.n_resyncs == 0 and fs.n_unknown_old_states == 0
    # OKX reset its sequence after maintenance and the reset message (prev 102 -> seq 5) was lost: the
    # next update looks older than the book; its checksum shows the venue's book is not ours
    venue_bids = [("41006.3", "0.4"), ("41006.2", "0.5")]
    assert rp.line(_books("update", 5, 6, [("41006.2", "0.5")], [], _okx_crc(venue_bids, ask))) is None
    assert not fs.sync.is_live, "a book the venue's checksum contradicts must not stay LIVE"
    assert fs.sync.n_resyncs == 1 and fs.n_unknown_old_states == 1 and rp.parser.n_checksum_failures == 1


@pytest.mark.parametrize("reference", [False, True])
@pytest.mark.parametrize("where", ["before_prev", "after_prev", "last", "first", "absent"])
def test_the_books_checksum_is_compared_wherever_the_object_holds_it(okx_registered, reference, where):
    """The C parser looks for the checksum only up to prevSeqId (where OKX sends it), so a frame
    without it is not walked twice; a checksum elsewhere in the object is still found and compared
    (a wrong one is a counted mismatch, never skipped), as its twin does."""
    rp = Replayer("okx", open("/dev/null", "w"), reference=reference)
    for ln in LINES[:2]:
        rp.line(ln)
    snap = {"arg": {"channel": "books", "instId": "BTC-USDT"}, "action": "snapshot",
            "data": [{"asks": [["41006.8", "0.6", "0", "1"]], "bids": [["41006.3", "0.3", "0", "1"]],
                      "ts": "1700000000000", "prevSeqId": -1, "seqId": 100}]}
    rp.line(json.dumps(snap))
    fields = [("asks", []), ("bids", [["41006.2", "0.5", "0", "1"]]), ("ts", "1700000000100"),
              ("prevSeqId", 100), ("seqId", 101)]
    at = {"first": 0, "before_prev": 3, "after_prev": 4, "last": 5}.get(where)
    if at is not None:
        fields.insert(at, ("checksum", 12345))           # not the book's CRC32
    upd = {"arg": {"channel": "books", "instId": "BTC-USDT"}, "action": "update", "data": [dict(fields)]}
    text = json.dumps(upd)
    assert list(json.loads(text)["data"][0]) == [k for k, _ in fields]
    rp.line(text)
    p = rp.parser
    assert p.n_errors == 0
    assert p.n_checksum_failures == (0 if where == "absent" else 1)
    assert p.symbol("BTC-USDT").sync.is_live == (where == "absent")
