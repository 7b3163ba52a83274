"""The CCXT tier (venuelink.ccxt_tier) on loopback only: CCXT's own `binance` client pointed at the
Binance simulator (every other host of the exchange goes to a closed local port), behind an
engine venue configured with tier = "ccxt"."""
import asyncio
import json
import os
import signal
import textwrap
from decimal import Decimal

import aiohttp
import pytest

from venuelink import registry
from venuelink.ccxt_tier.adapter import DEPTH, CcxtAdapter
from venuelink.ccxt_tier.grid import Grid, OffGrid, snap_levels, step_of
from venuelink.ccxt_tier.wire import decode_book, encode_book
from venuelink.ccxt_tier.worker import Worker, rewrite_urls
from venuelink.config import load_config
from venuelink.engine import Engine
from venuelink.errors import ConfigError
from venuelink.model import BookState, VenueHealth
from venuelink.sim.server import running_simulator
from tests.engine.conftest import admin
from tests.waiting import wait_for

BTC, ETH = "BTC/USDT", "ETH/USDT"


# ---------------------------------------------------------------------------- grid snapping
def test_grid_keeps_exact_values_and_refuses_off_grid_ones():
    g = Grid("0.01", "0.00001")
    assert g.price(59999.95) == "59999.95" and g.price(60000) == "60000.00"
    assert g.price(59999.95) == "59999.95" and 59999.95 in g._prices     # the second time from the cache
    with pytest.raises(OffGrid):
        g.price(59999.955)                                              # off the grid: never cached
    assert 59999.955 not in g._prices
    assert g.size(1e-05) == "0.00001" and g.size(0.22945) == "0.22945"
    for bad in (59999.955, 0.0, -1.0, float("nan"), float("inf"), None):
        with pytest.raises(OffGrid):
            g.price(bad)
    with pytest.raises(OffGrid):
        g.size(0.000015)
    assert step_of(0.01, False) == Decimal("0.01") and step_of(3, True) == Decimal("0.001")
    levels, bad = snap_levels([[1.0, 0.1, 7], [1.005, 1.0], [0.99, 0.1]], g, 5)
    assert levels == [["1.00", "0.10000"], ["0.99", "0.10000"]] and len(bad) == 1 and "1.005" in bad[0]


def test_worker_counts_an_off_grid_book_value_and_marks_the_book_invalid():
    w = Worker({"exchange": "binance", "symbols": [BTC], "depth": 3})
    sent = []

    def send(topic, frame):                 # books go as binary frames (venuelink.ccxt_tier.wire)
        if isinstance(frame, bytes):
            sym, ts, ps, qs, bids, asks = decode_book(frame)
            frame = json.dumps({"type": "book", "symbol": sym, "ts": ts, "scales": [ps, qs], "bids": bids,
                                "asks": asks})
        sent.append((topic, json.loads(frame)))
    w.send = send
    g = w.grids[BTC] = Grid("0.01", "0.001")
    w.on_book(BTC, g, {"bids": [[100.0, 1.0], [99.99, 2.0]], "asks": [[100.01, 0.5]], "timestamp": 1700000000000})
    assert sent[-1] == ("book:" + BTC, {"type": "book", "symbol": BTC, "ts": 1700000000000, "scales": [2, 3],
                                        "bids": [[10000, 1000], [9999, 2000]], "asks": [[10001, 500]]})
    assert w.books[BTC]["bids"] == [["100.00", "1.000"], ["99.99", "2.000"]]     # the in-band snapshot: text
    assert BTC in w.books
    w.on_book(BTC, g, {"bids": [[100.0, 1.0], [99.995, 2.0]], "asks": [[100.01, 0.0005]], "timestamp": None})
    assert w.stats["off_grid"] == 2 and BTC not in w.books        # no valid book to hand out any more
    assert sent[-1][1]["type"] == "invalid" and "off the grid" in sent[-1][1]["reason"] and sent[-1][1]["off_grid"] == 2
    assert [f["type"] for _, f in sent] == ["book", "invalid"]   # nothing rounded, nothing sent as a book


def test_url_rewrite_moves_mapped_hosts_and_closes_the_rest():
    urls = {"api": {"public": "https://api.x.com/api/v3", "fapi": "https://fapi.x.com/fapi/v1"},
            "ws": ["wss://stream.x.com:9443/ws"], "www": "https://www.x.com", "fees": 3}
    out = rewrite_urls(urls, {"api.x.com": "http://127.0.0.1:5000", "stream.x.com:9443": "ws://127.0.0.1:5000"},
                       "127.0.0.1:9")
    assert out == {"api": {"public": "http://127.0.0.1:5000/api/v3", "fapi": "http://127.0.0.1:9/fapi/v1"},
                   "ws": ["ws://127.0.0.1:5000/ws"], "www": "http://127.0.0.1:9", "fees": 3}
    # one host for REST and WebSocket (Deribit): the WebSocket URL stays one; TLS as the base says
    one = {"rest": "https://www.deribit.com", "ws": "wss://www.deribit.com/ws/api/v2"}
    assert rewrite_urls(one, {"www.deribit.com": "http://127.0.0.1:7"}, None) == {
        "rest": "http://127.0.0.1:7", "ws": "ws://127.0.0.1:7/ws/api/v2"}
    assert rewrite_urls(one, {"www.deribit.com": "https://gw.internal:8443/x"}, None) == {
        "rest": "https://gw.internal:8443/x", "ws": "wss://gw.internal:8443/x/ws/api/v2"}


# ---------------------------------------------------------------------------- configuration
def _load(tmp_path, text):
    p = tmp_path / "c.toml"
    p.write_text(textwrap.dedent(text))
    return load_config(p)


def test_config_tiers(tmp_path):
    c = _load(tmp_path, """
        [venues.binance]
        rest_url = "http://127.0.0.1:1"
        ws_url = "ws://127.0.0.1:1"
        [venues.kraken]
        symbols = ["BTC/USD"]
        [venues.gateio]
        symbols = ["BTC/USDT"]
    """)
    assert c.venues["binance"].tier == "native" and c.venues["kraken"].tier == "ccxt"
    assert "gateio" not in c.venues and c.venues["gate"].tier == "ccxt"
    a = registry.create("gate", c.venues["gate"])
    assert isinstance(a, CcxtAdapter) and a.ccxt_id == "gate" and a.worker_spec()["exchange"] == "gate"
    assert a.spec.book.depth == DEPTH
    c = _load(tmp_path, """
        [venues.binance]
        tier = "ccxt"
        symbols = ["BTC/USDT"]
    """)
    assert isinstance(registry.create("binance", c.venues["binance"]), CcxtAdapter)
    for text, msg in (('[venues.bitmex]\nsymbols = ["BTC/USD:BTC"]', "no longer ships"),
                      ('[venues.kraken]\ntier = "native"\nsymbols = ["BTC/USD"]', "no native adapter"),
                      ('[venues.kraken]\ntier = "fast"\nsymbols = ["BTC/USD"]', "tier must be"),
                      ('[venues.kraken]\nrest_url = "https://api.kraken.com"\nsymbols = ["BTC/USD"]', "not used"),
                      ('[venues.kraken]\nsymbols = []', "needs symbols"),
                      ('[venues.kraken]\nprivate_key_file = "k.pem"\nsymbols = ["BTC/USD"]', "has no private_key_file"),
                      ('[venues.kraken]\nccxt_timeout_s = 0\nsymbols = ["BTC/USD"]', "ccxt_timeout_s"),
                      ('[venues.gemini]\nccxt_book_audit_s = 0.5\nsymbols = ["BTC/USD"]', "ccxt_book_audit_s"),
                      ('[venues.gemini]\nccxt_book_audit_s = true\nsymbols = ["BTC/USD"]', "ccxt_book_audit_s")):
        with pytest.raises(ConfigError, match=msg):
            _load(tmp_path, text)


# ---------------------------------------------------------------------------- against the simulator
@pytest.fixture(scope="module")
def sim():
    with running_simulator("binance", rate=50, seed=5) as s:
        yield s


def ccxt_config(tmp_path, sim):
    return _load(tmp_path, f"""
        [venues.binance]
        tier = "ccxt"
        symbols = ["{BTC}", "{ETH}"]
        ccxt_isolate = true
        ccxt_hosts = {{ "api.binance.com" = "{sim.rest_url}", "stream.binance.com:9443" = "{sim.ws_url}" }}
        ccxt_options = {{ fetchMarkets = {{ types = ["spot"] }} }}
    """)


async def test_books_and_trades_through_the_worker_then_a_killed_worker_is_restarted(tmp_path, sim):
    eng = Engine(ccxt_config(tmp_path, sim))
    trades, states = [], []
    eng.subscribe_trades("binance", BTC, trades.append)
    eng.subscribe_book_state("binance", BTC, lambda s, st: states.append(st))
    rt = eng.runtime("binance")
    try:
        await eng.start()
        assert isinstance(rt.adapter, CcxtAdapter)
        fss = {fs.instrument.symbol: fs for fs in rt.feed_symbols()}
        assert await wait_for(lambda: all(fs.sync.is_live for fs in fss.values()), 20)
        assert await wait_for(lambda: len(trades) >= 20 and fss[BTC].sync.n_snapshots >= 20, 20)

        # top levels equal the simulator's authoritative book once its market stands still
        await admin(sim, "POST", "/market", {"action": "pause"})
        try:
            for sym, fs in fss.items():
                ref = await admin(sim, "GET", "/book?symbol=" + sym.replace("/", ""))
                inst = fs.instrument
                want = ([(Decimal(p), Decimal(q)) for p, q in ref["bids"][:DEPTH]],
                        [(Decimal(p), Decimal(q)) for p, q in ref["asks"][:DEPTH]])
                ours = lambda: ([(Decimal(inst.px_str(p)), Decimal(inst.qty_str(q))) for p, q in fs.book.top(1, DEPTH)],
                                [(Decimal(inst.px_str(p)), Decimal(inst.qty_str(q))) for p, q in fs.book.top(2, DEPTH)])
                assert await wait_for(lambda: ours() == want, 5), (sym, ours()[0][:3], want[0][:3])
                assert len(want[0]) == len(want[1]) == DEPTH
        finally:
            await admin(sim, "POST", "/market", {"action": "resume"})

        # trades: the taker's side, an id each, none twice; books never crossed, nothing dropped
        ids = [t.trade_id for t in trades]
        assert len(ids) == len(set(ids)) and all(str(i) for i in ids)
        assert {t.side.name for t in trades} <= {"BUY", "SELL"} and len({t.side for t in trades}) == 2
        assert all(fs.n_dup_trades == 0 and fs.sync.n_crossed == 0 for fs in fss.values())
        assert sum(p.n_errors for p in rt.parsers) == 0
        async with aiohttp.ClientSession() as s:
            async with s.get(rt.adapter.worker.report["rest_url"] + "/stats") as r:
                stats = await r.json()
        assert stats.get("off_grid", 0) == 0 and stats["books"] > 0
        c = rt.adapter.counters()
        assert (c["worker_starts"], c["worker_exits"]) == (1, 0)
        assert not {k: v for k, v in c.items() if k in ("books_invalidated", "off_grid_values", "trades_lost",
                                                         "worker_off_grid", "worker_tap_failures") and v}

        # the worker dies: every book of the venue leaves LIVE, the worker is started again, the
        # books come back LIVE and trades flow again
        sup = rt.adapter.worker
        old_pid, n_trades = sup.pid, len(trades)
        assert rt.ws_health() == VenueHealth.UP
        os.kill(old_pid, signal.SIGKILL)
        assert await wait_for(lambda: not any(fs.sync.is_live for fs in fss.values()), 10)
        assert await wait_for(lambda: rt.ws_health() == VenueHealth.UNREACHABLE or sup.pid != old_pid, 10)
        assert await wait_for(lambda: sup.pid not in (None, old_pid) and sup.starts == 2, 20)
        assert await wait_for(lambda: all(fs.sync.is_live for fs in fss.values()), 20)
        assert await wait_for(lambda: len(trades) > n_trades + 5, 20)
        assert rt.ws_health() == VenueHealth.UP
        ids = [t.trade_id for t in trades]
        assert len(ids) == len(set(ids))
        assert BookState.LIVE in states and states[-1] == BookState.LIVE
        assert any(st != BookState.LIVE for st in states[1:])
        assert rt.adapter.counters()["worker_exits"] == 1
        from venuelink.metrics import EngineCollector
        fams = {f.name: f for f in EngineCollector(eng).collect()}
        got = {s.labels["kind"]: s.value for s in fams["venuelink_adapter_events"].samples
               if s.labels["venue"] == "binance"}
        assert got["worker_starts"] == 2 and got["worker_exits"] == 1
    finally:
        await eng.close()
    assert rt.adapter.worker.pid is None             # closed with the engine


async def test_a_book_subscribed_again_is_a_resync_not_the_cached_book():
    """The engine subscribes a book topic again only to resync it: the worker's cached book (of
    the very stream in doubt) is not handed back; CCXT is made to subscribe again instead."""
    w = Worker({"exchange": "binance", "symbols": [BTC], "depth": 3})
    w.grids[BTC] = Grid("0.01", "0.001")
    w.books[BTC] = {"type": "book", "symbol": BTC, "ts": 1, "bids": [["1.00", "1.000"]], "asks": [["1.01", "1.000"]]}
    resyncs = []
    w.resubscribe = lambda sym: resyncs.append(sym) or asyncio.sleep(0)

    class WS:
        def __init__(self):
            self.sent = []

        async def send_str(self, text):
            self.sent.append(json.loads(text))
    ws, topics, had = WS(), set(), set()
    await w.on_request(ws, topics, json.dumps({"op": "subscribe", "id": 1, "topics": ["book:" + BTC]}), had)
    assert [m.get("type") or m.get("op") for m in ws.sent] == ["subscribed", "book"]      # the in-band snapshot
    await w.on_request(ws, topics, json.dumps({"op": "unsubscribe", "id": 2, "topics": ["book:" + BTC]}), had)
    ws.sent.clear()
    await w.on_request(ws, topics, json.dumps({"op": "subscribe", "id": 3, "topics": ["book:" + BTC]}), had)
    await asyncio.sleep(0)
    assert [m.get("type") or m.get("op") for m in ws.sent] == ["subscribed"]
    assert resyncs == [BTC] and BTC not in w.books and BTC in w.resyncing
    w.on_book(BTC, w.grids[BTC], {"bids": [[1.0, 1.0]], "asks": [[1.01, 1.0]], "timestamp": 2})
    assert BTC not in w.books and w.stats["books_held"] == 1        # the old subscription's books are held


def test_the_bybit_tap_accepts_only_consecutive_update_ids():
    from venuelink.ccxt_tier.taps import BybitBookTap

    def msg(kind, u, seq):
        return {"topic": "orderbook.50.BTCUSDT", "type": kind, "data": {"s": "BTCUSDT", "b": [], "a": [], "u": u, "seq": seq}}
    tap = BybitBookTap()
    assert tap.on_message(msg("delta", 7, 1)) == []                     # before a snapshot: nothing to check
    assert [v.ok for v in tap.on_message(msg("snapshot", 100, 10))] == [True]
    assert tap.on_message(msg("delta", 101, 11)) == [] and tap.on_message(msg("delta", 102, 11)) == []
    gap = tap.on_message(msg("delta", 104, 12))
    assert len(gap) == 1 and not gap[0].ok and gap[0].market_id == "BTCUSDT" and "102 -> 104" in gap[0].reason
    assert tap.on_message(msg("delta", 105, 13)) == []                  # no book until the next snapshot
    assert [v.ok for v in tap.on_message(msg("delta", 1, 14))] == [True]  # u == 1: the service restarted
    assert not tap.on_message(msg("delta", 2, 9))[0].ok                 # seq went backwards
    assert tap.on_message({"topic": "publicTrade.BTCUSDT", "data": []}) == [] and tap.on_message("pong") == []


def test_the_kraken_tap_reproduces_the_documented_checksum_and_truncates_to_the_depth():
    """Kraken's published v2 example (BTC/USD, 1 price decimal, 8 quantity decimals): 3310070434."""
    from venuelink.ccxt_tier.taps import KrakenBookTap
    asks = [(45285.2, 0.001), (45286.4, 1.54571953), (45286.6, 1.54571109), (45289.6, 1.54560911),
            (45290.2, 0.1589066), (45291.8, 1.54553491), (45294.7, 0.04454749), (45296.1, 0.3538),
            (45297.5, 0.09945542), (45299.5, 0.18772827)]
    bids = [(45283.5, 0.1), (45283.4, 1.54582015), (45282.1, 0.1), (45281.0, 0.1), (45280.3, 1.54592586),
            (45279.0, 0.0799), (45277.6, 0.03310103), (45277.5, 0.3), (45277.3, 1.54602737), (45276.6, 0.15445238)]
    grid = Grid("0.1", "0.00000001")
    tap = KrakenBookTap(lambda sym: grid if sym == "BTC/USD" else None)

    def book(kind, b, a, checksum):
        return {"channel": "book", "type": kind, "data": [{"symbol": "BTC/USD", "checksum": checksum,
                "bids": [{"price": p, "qty": q} for p, q in b], "asks": [{"price": p, "qty": q} for p, q in a]}]}
    assert [v.ok for v in tap.on_message(book("snapshot", bids, asks, 3310070434))] == [True]
    # an eleventh bid above the worst pushes 45276.6 out of the 10-level book: the checksum is
    # over the truncated book, and the level is gone for good once it fell out
    new_bids = [(45283.6, 0.5)] + bids[:9]
    expect = KrakenBookTap.checksum([(grid.price(p), grid.size(q)) for p, q in new_bids],
                                    [(grid.price(p), grid.size(q)) for p, q in asks])
    assert tap.on_message(book("update", [(45283.6, 0.5)], [], expect)) == []
    assert tap.on_message(book("update", [(45283.6, 0)], [], 1)) != []        # wrong: a failure
    assert tap.on_message(book("update", [], [], 1)) == []                    # no book until a snapshot
    bad = tap.on_message(book("snapshot", [(45283.55, 1.0)], asks, 0))        # off the price grid
    assert [v.ok for v in bad] == [True, False] and "unreadable" in bad[1].reason


def test_trades_are_taken_from_ccxts_cache_after_every_message_even_when_it_replaces_the_cache():
    """Deribit's CCXT client makes a new trade cache per message: two messages handled before the
    watch is awaited again left the first one's trades unhanded. The worker takes them from the
    cache after each message, each once, in order."""
    w = Worker({"exchange": "deribit", "symbols": [BTC], "depth": 3})
    w.grids[BTC] = Grid("0.5", "10")
    sent = []
    w.send = lambda topic, text: sent.append(json.loads(text)["id"])
    w.trade_symbols.add(BTC)

    def trade(i):
        return {"id": str(i), "side": "buy", "price": 64000.5, "amount": 10.0, "timestamp": i}

    class Ex:
        trades: dict = {}
    w.exchange = Ex()
    w.capture_trades()                                  # nothing cached yet
    Ex.trades[BTC] = [trade(1)]                         # message 1
    w.capture_trades()
    Ex.trades[BTC] = [trade(2), trade(3)]               # message 2: a new cache (Deribit)
    w.capture_trades()
    Ex.trades[BTC].append(trade(4))                     # message 3: the same cache grows
    w.capture_trades()
    w.capture_trades()                                  # a message without trades
    Ex.trades[BTC] = [dict(t) for t in Ex.trades[BTC]]  # a copy with the old trades again: ids dedupe
    w.capture_trades()
    assert sent == ["1", "2", "3", "4"] and w.stats["trades_repeated"] == 3


def test_trades_ccxt_dropped_from_its_cache_are_counted_and_told_to_the_engine():
    """CCXT hands a lagging reader only the last tradesLimit trades: the rest are counted, logged
    and sent to the engine as trades_lost (read from the cache's own count of new trades)."""
    w = Worker({"exchange": "binance", "symbols": [BTC], "depth": 3})
    sent = []
    w.send = lambda topic, text: sent.append((topic, json.loads(text)))

    class Cache(list):
        _new_updates_by_symbol = {BTC: 1250}

    class Ex:
        trades = {BTC: Cache()}
    w.exchange = Ex()
    assert w.check_overflow(BTC, 1000) == 250 and w.stats["trades_lost"] == 250
    assert sent == [("trades:" + BTC, {"type": "trades_lost", "symbol": BTC, "count": 250})]
    Ex.trades[BTC]._new_updates_by_symbol = {BTC: 3}
    assert w.check_overflow(BTC, 3) == 0 and len(sent) == 1
    # CCXT's own cache, as its watch_trades uses it: three new trades, room for two
    from ccxt.async_support.base.ws.cache import ArrayCache
    real = ArrayCache(2)
    for i in range(3):
        real.append({"symbol": BTC, "id": str(i)})
    assert real.getLimit(BTC, None) == 3 and len(real) == 2
    Ex.trades[BTC] = real
    assert w.check_overflow(BTC, len(real)) == 1 and w.stats["trades_lost"] == 251
    # the engine side counts what the worker reports
    from venuelink.config import VenueConfig
    from venuelink.model import Instrument, VenueId
    a = CcxtAdapter(VenueConfig(name="kraken", tier="ccxt", symbols=[BTC]))
    p = a.make_parser(sink=None)
    p.add_symbol(a.feed_symbol(Instrument(VenueId.kraken, BTC, BTC, "BTC", "USDT", 2, 3, 1, 1), None))
    p.parse(json.dumps(sent[0][1]).encode(), 0, 0)
    assert a.counters()["trades_lost"] == 250


async def test_an_exception_in_ccxts_handler_fails_the_connections_watches_and_closes_it():
    """CCXT's handler raising (Crypto.com's ChecksumError inside its receive callback) would stop
    the connection being read while the socket stays open: the worker fails every watch on it
    and closes it instead, so the watches start over."""
    from ccxt.base.errors import ChecksumError, NetworkError
    w = Worker({"exchange": "cryptocom", "symbols": [BTC], "depth": 3})

    class Client:
        def __init__(self):
            self.reset_with, self.closed_ = None, False

        def reset(self, error):
            self.reset_with = error

        async def close(self):
            self.closed_ = True

    class Ex:
        def handle_message(self, client, message):
            raise ChecksumError("cryptocom book.update pu does not match")
    ex = Ex()
    w.install_tap(ex)
    c = Client()
    assert ex.handle_message(c, {"method": "subscribe"}) is None          # not raised into CCXT's loop
    await asyncio.sleep(0)
    assert isinstance(c.reset_with, NetworkError) and c.closed_ and w.stats["handler_errors"] == 1


def test_the_gate_tap_wants_each_increment_to_start_where_the_last_ended():
    from venuelink.ccxt_tier.taps import GateBookTap

    def msg(u, first=None, full=False):
        r = {"s": "ob.BTC_USDT.50", "u": u, "b": [], "a": []}
        r.update({"full": True} if full else {"U": first})
        return {"channel": "spot.obu", "result": r, "event": "update"}
    tap = GateBookTap()
    assert tap.on_message(msg(5, 4)) == []                              # before a full book
    assert [(v.market_id, v.ok) for v in tap.on_message(msg(100, full=True))] == [("BTC_USDT", True)]
    assert tap.on_message(msg(103, 101)) == [] and tap.on_message(msg(104, 104)) == []
    gap = tap.on_message(msg(110, 106))
    assert len(gap) == 1 and not gap[0].ok and "last 104, next starts at 106" in gap[0].reason
    assert tap.on_message(msg(111, 111)) == []                          # nothing until the next full book


def test_the_kucoin_tap_chains_increments_from_a_subscriptions_first():
    from venuelink.ccxt_tier.taps import KucoinLevel2Tap

    def msg(first, last, symbol="BTC-USDT"):
        return {"type": "message", "topic": f"/market/level2:{symbol}", "subject": "trade.l2update",
                "data": {"changes": {"asks": [], "bids": []}, "sequenceStart": first, "sequenceEnd": last,
                         "symbol": symbol, "time": 1}}
    tap = KucoinLevel2Tap()
    assert tap.on_message(msg(40, 41)) == [] and tap.on_message(msg(42, 45)) == []
    assert tap.on_message(msg(7, 7, "ETH-USDT")) == []                  # its own chain
    gap = tap.on_message(msg(47, 47))
    assert [(v.market_id, v.ok) for v in gap] == [("BTC-USDT", False)] and "last 45, next starts at 47" in gap[0].reason
    assert tap.on_message(msg(60, 61)) == [] and tap.on_message(msg(62, 62)) == []   # a new subscription's chain
    assert tap.on_message({"type": "message", "subject": "trade.l3match", "data": {}}) == []


def test_the_coinbase_tap_counts_every_message_of_a_connection():
    from venuelink.ccxt_tier.taps import CoinbaseSequenceTap
    tap, a, b = CoinbaseSequenceTap(), object(), object()

    def msg(seq, channel="l2_data", kind="update", product="BTC-USD"):
        return {"channel": channel, "sequence_num": seq, "events": [{"type": kind, "product_id": product}]}
    assert [v.ok for v in tap.on_message(msg(0, kind="snapshot"), a)] == [True]
    assert tap.on_message(msg(1, channel="market_trades"), a) == []      # any channel counts
    assert tap.on_message(msg(0, kind="snapshot", product="ETH-USD"), b)[0].ok    # its own count
    assert tap.on_message(msg(2), a) == []
    lost = tap.on_message(msg(4), a)                                    # 3 never came
    assert [(v.market_id, v.ok) for v in lost] == [("BTC-USD", False)] and "2 -> 4" in lost[0].reason
    assert tap.on_message(msg(1), b) == []                              # the other connection is fine
    assert tap.on_message({"channel": "subscriptions", "events": []}, a) == []   # unnumbered: not counted


def test_the_binary_book_frame_round_trips_and_refuses_damage():
    f = encode_book("BTC/USDT", 1700000000123, 2, 5, [["60000.01", "0.50000"]], [["60000.02", "1.25000"], ["60001.00", "0.00001"]])
    assert decode_book(f) == ("BTC/USDT", 1700000000123, 2, 5, [(6000001, 50000)], [(6000002, 125000), (6000100, 1)])
    for bad in (f[:-1], f + b"\0", b"\x02" + f[1:], f[:3]):
        with pytest.raises(ValueError):
            decode_book(bad)


def test_the_venues_feed_health_comes_from_the_workers_watches():
    """Its sessions only reach the local worker: the venue's side is what the worker's watches see."""
    from venuelink.config import VenueConfig
    a = CcxtAdapter(VenueConfig(name="kraken", tier="ccxt", symbols=[BTC]))
    assert a.feed_health() == VenueHealth.UNREACHABLE                   # no worker running

    class Proc:
        returncode = None

    class Sup:
        proc = Proc()
    a.worker = Sup()
    for nums, want in (({"watches": 2, "watches_failing": 0}, VenueHealth.UP),
                       ({"watches": 2, "watches_failing": 1}, VenueHealth.DEGRADED),
                       ({"watches": 2, "watches_failing": 2}, VenueHealth.UNREACHABLE)):
        a._window(nums)
        assert a.feed_health() == want
