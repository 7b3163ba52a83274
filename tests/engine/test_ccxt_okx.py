"""The CCXT tier's second dialect: CCXT's own `okx` client in the venue's worker process, against
the OKX simulator on loopback (every other host of the exchange goes to a closed local port),
for books, trades and orders over REST (the key's passphrase reaches the worker on its stdin
with the key and secret)."""
import asyncio
import os
import time
import urllib.request
import textwrap
from decimal import Decimal

import pytest

from venuelink.ccxt_tier.adapter import DEPTH, CcxtAdapter
from venuelink.ccxt_tier.entry import OrderDesk, negated
from venuelink.ccxt_tier.execution import CcxtExecution
from venuelink.ccxt_tier.worker import fill_hostname, rewrite_urls
from venuelink.config import load_config
from venuelink.engine import Engine
from venuelink.errors import UnknownOrder
from venuelink.model import Order, OrderRequest, OrderState, OrderType, Side, TimeInForce, VenueId
from venuelink.sim.server import running_simulator
from tests.engine.conftest import admin
from tests.tiers import sim_options
from tests.waiting import wait_for

BTC = "BTC/USDT"


def test_okx_hostname_placeholder_is_filled_before_hosts_are_mapped():
    urls = {"api": {"rest": "https://{hostname}", "ws": "wss://ws.okx.com:443/ws/v5"}, "www": "https://www.okx.com"}
    out = rewrite_urls(fill_hostname(urls, "www.okx.com"), {"www.okx.com": "http://127.0.0.1:5000",
                                                           "ws.okx.com:443": "ws://127.0.0.1:5000"}, "127.0.0.1:9")
    assert out == {"api": {"rest": "http://127.0.0.1:5000", "ws": "ws://127.0.0.1:5000/ws/v5"},
                   "www": "http://127.0.0.1:5000"}


def test_okx_raw_fields_are_read_as_strings():
    class Ex:
        has, handle_errors = {}, staticmethod(lambda *a: None)

    desk = OrderDesk(Ex(), "okx")
    order = {"info": {"ordId": "12", "clOrdId": "vlabc", "state": "partially_filled", "accFillSz": "0.00030000",
                      "sz": "0.001", "px": "60000.1", "uTime": "1700000000123"},
             "status": "open", "filled": 0.0003, "price": 60000.1, "side": "buy"}
    assert desk.order_out(order, BTC, "vlabc") == {
        "id": "12", "client_id": "vlabc", "symbol": BTC, "status": "partially_filled", "state": "PARTIALLY_FILLED",
        "filled": "0.0003", "amount": "0.001", "price": "60000.1", "side": "buy", "ts": 1700000000123}
    market = {"info": {**order["info"], "px": "", "state": "filled", "accFillSz": "0.001"}, "price": 60001.23}
    assert desk.order_out(market, BTC, "vlabc")["price"] == ""        # no limit price, not the average
    fill = {"info": {"tradeId": "81", "ordId": "12", "fillPx": "60000.1", "fillSz": "0.0003", "fee": "-0.0000003",
                     "feeCcy": "BTC", "execType": "M", "side": "sell", "ts": "1700000000123"},
            "fee": {"cost": 3e-07}, "amount": 0.0003}
    assert desk.trade_out(fill, BTC) == {"id": "81", "order_id": "12", "client_id": "", "symbol": BTC, "side": "sell",
                                         "price": "60000.1", "qty": "0.0003", "fee": "0.0000003", "fee_asset": "BTC",
                                         "maker": True, "ts": 1700000000123}
    # pushed (the orders channel): the fill's fee is fillFee, and the order's client id is there
    pushed = {"info": {**fill["info"], "clOrdId": "vlabc", "fillFee": "-0.0000002", "fillFeeCcy": "BTC",
                       "fillTime": "1700000000124"}, "amount": 0.0003}
    got = desk.trade_out(pushed, BTC, pushed=True)
    assert (got["client_id"], got["fee"], got["ts"]) == ("vlabc", "0.0000002", 1700000000124)
    assert negated("-0.1") == "0.1" and negated("0.2") == "-0.2" and negated("0") == "0"


# ---------------------------------------------------------------------------- against the simulator
@pytest.fixture(scope="module")
def sim():
    with running_simulator("okx", rate=50, seed=11, **sim_options("okx", "ccxt")) as s:
        yield s


@pytest.fixture(scope="module")
def legacy_sim():
    """OKX's books as sent until early August 2026: a pushed snapshot, and a checksum"""
    with running_simulator("okx", rate=50, seed=11, legacy_books=True, **sim_options("okx", "ccxt")) as s:
        yield s


def okx_config(tmp_path, sim, *, timeout_s=4.0, dead_man_s=0):
    os.environ["VL_OKX_KEY"] = sim["api_key"]
    os.environ["VL_OKX_SECRET"] = sim["api_secret"]
    os.environ["VL_OKX_PASSPHRASE"] = sim["api_passphrase"]
    host = sim.rest_url.split("://", 1)[1]
    p = tmp_path / "okx.toml"
    p.write_text(textwrap.dedent(f"""
        [venues.okx]
        tier = "ccxt"
        symbols = ["{BTC}"]
        api_key_env = "VL_OKX_KEY"
        api_secret_env = "VL_OKX_SECRET"
        api_passphrase_env = "VL_OKX_PASSPHRASE"
        ccxt_timeout_s = {timeout_s}
        dead_man_s = {dead_man_s}
        order_audit_s = 0
        ccxt_isolate = true
        ccxt_hosts = {{ "www.okx.com" = "{sim.rest_url}", "ws.okx.com:443" = "ws://{host}" }}
        ccxt_options = {{ fetchMarkets = {{ types = ["spot"] }} }}
    """))
    return load_config(p)


def _cmdline(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().decode(errors="replace")


async def test_okx_books_and_trades_through_the_worker(tmp_path, sim):
    eng = Engine(okx_config(tmp_path, sim))
    trades = []
    eng.subscribe_trades("okx", BTC, trades.append)
    rt = eng.runtime("okx")
    try:
        await eng.start(execution=False)
        assert isinstance(rt.adapter, CcxtAdapter) and rt.adapter.ccxt_id == "okx"
        fs = next(iter(rt.feed_symbols()))
        assert await wait_for(lambda: fs.sync.is_live, 20)
        assert await wait_for(lambda: len(trades) >= 20 and fs.sync.n_snapshots >= 10, 20)
        # OKX pushes no snapshot on `books` today: CCXT's client got its first book from REST
        assert await wait_for(lambda: rt.adapter.counters().get("worker_rest_snapshots", 0) >= 1, 8)
        assert rt.adapter.counters().get("worker_rest_snapshot_failed", 0) == 0
        # the worker's WebSocket connection to the venue waited for the engine's pacing of OKX's
        # 3 connections a second
        gate = rt.adapter.gate
        assert gate.connects >= 1 and (gate.pacer.limit, gate.pacer.window_s) == (3, 1.0)

        await admin(sim, "POST", "/market", {"action": "pause"})
        try:
            ref = await admin(sim, "GET", "/book?symbol=BTC-USDT")
            inst = fs.instrument
            want = ([(Decimal(p), Decimal(q)) for p, q in ref["bids"][:DEPTH]],
                    [(Decimal(p), Decimal(q)) for p, q in ref["asks"][:DEPTH]])
            ours = lambda: ([(Decimal(inst.px_str(p)), Decimal(inst.qty_str(q))) for p, q in fs.book.top(1, DEPTH)],
                            [(Decimal(inst.px_str(p)), Decimal(inst.qty_str(q))) for p, q in fs.book.top(2, DEPTH)])
            assert await wait_for(lambda: ours() == want, 5), (ours()[0][:3], want[0][:3])
            assert len(want[0]) == len(want[1]) == DEPTH and fs.sync.is_live
        finally:
            await admin(sim, "POST", "/market", {"action": "resume"})

        ids = [t.trade_id for t in trades]
        assert len(ids) == len(set(ids)) and all(ids)
        assert {t.side for t in trades} == {Side.BUY, Side.SELL}
        # every trade is one the venue printed, with its taker side
        printed = {str(t[0]): t for t in (await admin(sim, "GET", "/trades?symbol=BTC-USDT"))["trades"]}
        seen = [t for t in trades if t.trade_id in printed]
        assert len(seen) >= 10
        assert all(printed[t.trade_id][3] == t.side.name.lower() for t in seen)
        assert fs.n_dup_trades == 0 and fs.sync.n_crossed == 0 and sum(p.n_errors for p in rt.parsers) == 0
    finally:
        await eng.close()


async def test_okx_orders_new_canceled_filled_and_a_lost_answer_placed_once(tmp_path, sim):
    eng = Engine(okx_config(tmp_path, sim, timeout_s=1.0))
    fills, states = [], []
    eng.subscribe_orders("okx", on_update=lambda o: states.append((o.client_order_id, o.state)),
                         on_fill=lambda order, f: fills.append(f))
    try:
        await eng.start(market_data=False)
        rt = eng.runtime("okx")
        assert isinstance(rt.execution, CcxtExecution)
        pid = rt.adapter.worker.pid
        for secret in (sim["api_key"], sim["api_secret"], sim["api_passphrase"]):
            assert secret not in _cmdline(pid) and secret not in repr(rt.adapter.worker) + repr(rt.execution)

        # a resting limit order: NEW with our id as OKX's clOrdId, then CANCELED
        o = await eng.place(OrderRequest(VenueId.okx, BTC, Side.BUY, OrderType.LIMIT, "0.001", "1000"))
        assert o.state == OrderState.NEW and o.venue_order_id, o.error
        assert o.client_order_id.isalnum() and len(o.client_order_id) <= 32
        ledger = await admin(sim, "GET", "/ledger")
        mine = [x for x in ledger["orders"] if x["clientOrderId"] == o.client_order_id]
        assert len(mine) == 1 and str(mine[0]["orderId"]) == o.venue_order_id and Decimal(mine[0]["qty"]) == Decimal("0.001")
        opened = await rt.execution.open_orders(BTC)
        assert [u.client_order_id for u in opened if u.client_order_id == o.client_order_id] == [o.client_order_id]
        o = await eng.cancel("okx", o.client_order_id)
        assert o.state == OrderState.CANCELED

        # a market order: FILLED, its fills the venue's own, exactly
        o = await eng.place(OrderRequest(VenueId.okx, BTC, Side.BUY, OrderType.MARKET, "0.0005"))
        assert o.state == OrderState.FILLED and Decimal(o.filled_qty) == Decimal("0.0005"), o.error
        assert await wait_for(lambda: any(f.client_order_id == o.client_order_id for f in fills), 5)
        mine = [f for f in fills if f.client_order_id == o.client_order_id]
        ledger = await admin(sim, "GET", "/ledger")
        venue_fills = {str(f["tradeId"]): f for f in ledger["fills"] if str(f["orderId"]) == o.venue_order_id}
        assert venue_fills and sorted(f.trade_id for f in mine) == sorted(venue_fills)
        assert all(Decimal(f.price) == Decimal(venue_fills[f.trade_id]["price"])
                   and Decimal(f.qty) == Decimal(venue_fills[f.trade_id]["qty"]) for f in mine)
        assert sum(Decimal(f.qty) for f in mine) == Decimal("0.0005")
        trades = await rt.execution.recent_fills(BTC, 0)
        assert {f.trade_id for f in mine} <= {t.trade_id for t in trades}

        ghost = Order(venue=VenueId.okx, symbol=BTC, client_order_id="vlnosuchorder", side=Side.BUY,
                      type=OrderType.LIMIT, qty="0.001", price="1000", tif=TimeInForce.GTC)
        with pytest.raises(UnknownOrder):
            await rt.execution.query(ghost)

        # the orders channel pushed them too (CCXT's watch_orders / watch_my_trades)
        assert rt.execution.stream_connected and rt.execution.pushed > 0 and rt.execution.unusable == 0

        # the place answer is lost: the private stream's report, or the reconcile by client id,
        # says what happened; on the venue exactly once
        await admin(sim, "POST", "/fault", {"type": "order", "mode": "timeout", "count": 1, "hold_s": 3})
        o = await eng.place(OrderRequest(VenueId.okx, BTC, Side.BUY, OrderType.LIMIT, "0.001", "1001"))
        assert o.state in (OrderState.UNKNOWN, OrderState.NEW)
        assert await wait_for(lambda: o.state == OrderState.NEW, 15), (o.state, o.error)
        ledger = await admin(sim, "GET", "/ledger")
        mine = [x for x in ledger["orders"] if x["clientOrderId"] == o.client_order_id]
        assert len(mine) == 1 and mine[0]["status"] == "NEW" and str(mine[0]["orderId"]) == o.venue_order_id
        assert (o.client_order_id, OrderState.REJECTED) not in states
        o = await eng.cancel("okx", o.client_order_id)
        assert o.state == OrderState.CANCELED
    finally:
        await eng.close()


# ---------------------------------------------------------------------------- raw-frame checks
def test_the_okx_tap_checks_every_books_message_against_the_venues_strings():
    from venuelink.ccxt_tier.taps import OkxBooksTap, signed32
    import zlib
    tap = OkxBooksTap()
    bids, asks = [["8476.98", "415", "0", "13"], ["8475.55", "101", "0", "1"]], [["8476.99", "0.10", "0", "1"]]
    # the checksum is over the strings as sent: "0.10", not "0.1"
    good = signed32(zlib.crc32(b"8476.98:415:8476.99:0.10:8475.55:101"))
    arg = {"channel": "books", "instId": "BTC-USDT"}
    snap = {"arg": arg, "action": "snapshot", "data": [{"bids": bids, "asks": asks, "checksum": good}]}
    assert [(v.market_id, v.ok) for v in tap.on_message(snap)] == [("BTC-USDT", True)]
    # an update removing a bid and adding an ask: checked on the updated book
    upd = {"arg": arg, "action": "update",
           "data": [{"bids": [["8475.55", "0", "0", "0"]], "asks": [["8477.5", "2", "0", "1"]],
                     "checksum": signed32(zlib.crc32(b"8476.98:415:8476.99:0.10:8477.5:2"))}]}
    assert tap.on_message(upd) == []
    assert tap.on_message({**upd, "data": [{"bids": [], "asks": [], "checksum": 0}]}) == []   # 0: not sent
    bad = tap.on_message({**upd, "data": [{"bids": [["8476.5", "1", "0", "1"]], "asks": [], "checksum": 12345}]})
    assert len(bad) == 1 and not bad[0].ok and "checksum mismatch" in bad[0].reason
    assert tap.on_message(upd) == []                 # no book to check until the next snapshot
    for other in ({"arg": {"channel": "trades", "instId": "BTC-USDT"}, "data": [{}]}, "pong", {"event": "login"}):
        assert tap.on_message(other) == []


async def test_a_wrong_okx_checksum_invalidates_the_book_and_ccxt_resubscribes_it(tmp_path, legacy_sim):
    """CCXT 4.5 does not compare OKX's checksum: the worker's tap does. A wrong one makes the
    engine's book INVALID at once (never a LIVE wrong book), CCXT resubscribes, the book is
    LIVE again from the new snapshot and equal to the venue's."""
    eng = Engine(okx_config(tmp_path, legacy_sim))
    rt = eng.runtime("okx")
    try:
        await eng.start(execution=False)
        fs = next(iter(rt.feed_symbols()))
        assert await wait_for(lambda: fs.sync.is_live, 20)
        worker_url = rt.adapter.worker.report["rest_url"]
        await admin(legacy_sim, "POST", "/fault", {"type": "checksum", "symbol": "BTC-USDT", "count": 1})

        async def stats():
            import aiohttp
            async with aiohttp.ClientSession() as s:
                async with s.get(worker_url + "/stats") as r:
                    return await r.json()
        got = {}

        async def failed():
            got.update(await stats())
            return got.get("tap_failures", 0) >= 1
        for _ in range(100):
            if await failed():
                break
            await asyncio.sleep(0.1)
        assert got.get("tap_failures") == 1 and got.get("resubscribes") == 1, got
        assert rt.adapter.counters().get("books_invalidated", 0) >= 1
        assert await wait_for(lambda: fs.sync.is_live, 20)
        got = await stats()
        assert got.get("tap_failures") == 1 and got.get("tap_unreadable", 0) == 0, got
        # the worker's counters reach the engine's metrics
        assert await wait_for(lambda: rt.adapter.counters().get("worker_tap_failures") == 1, 8)
        port = eng.serve_metrics(port=0)
        body = await asyncio.to_thread(lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode())
        assert 'venuelink_adapter_events_total{kind="worker_tap_failures",venue="okx"} 1.0' in body
        # the worker's handler time per venue message and the messages per handed-out update
        g = rt.adapter.gauges()
        assert 0 < g["handler_p50_seconds"] <= g["handler_p99_seconds"] <= g["handler_max_seconds"] < 1.0
        assert g["messages_per_update"] > 0
        assert 'venuelink_ccxt_worker{kind="handler_p99_seconds",venue="okx"}' in body
    finally:
        await eng.close()


async def test_amend_cancel_all_and_the_dead_mans_switch_where_ccxt_has_them(tmp_path, sim):
    """CCXT's okx has edit_order (OKX amend-order), cancel_all_orders_after (cancel-all-after)
    and batch cancels: the tier offers amend, the dead man's switch and cancel-all through them."""
    eng = Engine(okx_config(tmp_path, sim, dead_man_s=30))
    try:
        await eng.start(market_data=False)
        rt = eng.runtime("okx")
        ex = rt.execution
        assert callable(getattr(ex, "amend", None)) and callable(getattr(ex, "cancel_all", None))
        # the switch is armed at start (OKX's cancel-all-after with the configured timeout)
        assert rt.dead_man is not None and rt.dead_man.armed
        t0 = time.time() - 60
        o = await eng.place(OrderRequest(VenueId.okx, BTC, Side.BUY, OrderType.LIMIT, "0.001", "1000"))
        assert o.state == OrderState.NEW, o.error
        a = await eng.amend("okx", o.client_order_id, price="1001")
        assert a.state == OrderState.NEW and Decimal(a.price) == Decimal("1001"), (a.state, a.price, a.error)
        on_venue = await ex.query(o)                      # the venue's own word
        assert Decimal(on_venue.price) == Decimal("1001") and on_venue.state == OrderState.NEW
        p = await eng.place(OrderRequest(VenueId.okx, BTC, Side.BUY, OrderType.LIMIT, "0.001", "999"))
        left = await eng.cancel_open_orders(timeout_s=8.0)
        assert left == {} or not any(left.values()), left
        assert o.state == OrderState.CANCELED and p.state == OrderState.CANCELED
        assert not [x for x in (await admin(sim, "GET", "/ledger"))["orders"]
                    if x["clientOrderId"] in (o.client_order_id, p.client_order_id) and x["status"] in ("NEW", "live")]
    finally:
        await eng.close()
    assert not rt.dead_man.armed                          # disarmed on close
    arms = [r for r in (await admin(sim, "GET", "/requests"))["requests"]
            if r[2] == "/api/v5/trade/cancel-all-after" and r[0] >= t0 and r[3] == 200]
    assert len(arms) >= 2                                 # armed at start, disarmed at close


# ---------------------------------------------------------------------------- REST snapshot bridge
class _FakeOkx:
    """what the bridge uses of CCXT's okx client: its books, its symbol lookup and the REST call
    (answered from `answers`, in order; an exception is raised)"""

    def __init__(self, answers):
        self.orderbooks, self.answers, self.asked = {}, list(answers), []
        self.release = asyncio.Event()      # the answer is on its way until this is set
        self.release.set()

    def safe_symbol(self, inst):
        return inst.replace("-", "/")

    async def public_get_market_books(self, params):
        self.asked.append(params)
        await self.release.wait()
        a = self.answers.pop(0)
        if isinstance(a, Exception):
            raise a
        return a


def _upd(prev, seq, bids=()):
    return {"arg": {"channel": "books", "instId": "BTC-USDT"}, "action": "update",
            "data": [{"bids": [list(b) for b in bids], "asks": [], "ts": "1", "prevSeqId": prev, "seqId": seq}]}


def _bridge(answers, clock=lambda: 0.0):
    import collections
    from venuelink.ccxt_tier.snapshots import OkxRestSnapshot
    ex = _FakeOkx(answers)
    fed, tasks = [], []

    def feed(client, msg):           # CCXT's handler, as far as the bridge cares: a snapshot makes a book
        fed.append(msg)
        if msg["action"] == "snapshot":
            ex.orderbooks["BTC/USDT"] = {"nonce": msg["data"][0]["seqId"]}
        elif "BTC/USDT" in ex.orderbooks:
            d = msg["data"][0]
            ob = ex.orderbooks["BTC/USDT"]
            assert d["prevSeqId"] == ob["nonce"], (d, ob)      # CCXT's own continuity check
            ob["nonce"] = d["seqId"]
    b = OkxRestSnapshot(ex, feed, lambda c: tasks.append(asyncio.ensure_future(c)), collections.Counter(), clock)
    return b, ex, fed, tasks


def _books_answer(seq):
    return {"code": "0", "data": [{"bids": [["100", "1", "0", "1"]], "asks": [["101", "2", "0", "1"]],
                                   "ts": "5", "seqId": seq}]}


async def test_okx_books_without_a_pushed_snapshot_start_from_rest_and_bridge_the_straddle():
    b, ex, fed, tasks = _bridge([_books_answer(12)])
    ex.release.clear()
    # updates before the answer are held, not handed to CCXT (it would drop them: no book yet)
    assert not b.admit("c", _upd(9, 10)) and not b.admit("c", _upd(10, 11))
    await asyncio.sleep(0)
    assert ex.asked == [{"instId": "BTC-USDT", "sz": "400"}]
    assert not b.admit("c", _upd(11, 13))          # straddles the snapshot (11 <= 12 < 13)
    ex.release.set()
    await asyncio.gather(*tasks)
    assert [m["action"] for m in fed] == ["snapshot", "update"]
    assert fed[0]["data"][0]["seqId"] == 12 and fed[1]["data"][0]["seqId"] == 13
    assert b.stats["rest_snapshot_older_dropped"] == 2
    assert ex.orderbooks["BTC/USDT"]["nonce"] == 13
    # from then on CCXT's own chain: the next update passes, a gap too (CCXT refuses it)
    assert b.admit("c", _upd(13, 14)) and b.admit("c", _upd(20, 21))


async def test_okx_update_that_does_not_reach_the_rest_snapshot_is_left_to_ccxt_to_refuse():
    b, ex, fed, tasks = _bridge([_books_answer(12)])
    assert not b.admit("c", _upd(9, 10))
    await asyncio.gather(*tasks)
    assert b.admit("c", _upd(14, 15))              # a gap after the snapshot: nonce untouched
    assert ex.orderbooks["BTC/USDT"]["nonce"] == 12


async def test_a_pushed_okx_snapshot_wins_over_a_rest_answer_still_on_its_way():
    b, ex, fed, tasks = _bridge([_books_answer(12)])
    assert not b.admit("c", _upd(9, 10))
    snap = {"arg": {"channel": "books", "instId": "BTC-USDT"}, "action": "snapshot",
            "data": [{"bids": [], "asks": [], "seqId": 30, "prevSeqId": -1}]}
    assert b.admit("c", snap)
    await asyncio.gather(*tasks)
    assert fed == [] and b.stats["rest_snapshot_unused"] == 1


async def test_a_failed_okx_rest_snapshot_is_counted_and_asked_again_later():
    now = [0.0]
    b, ex, fed, tasks = _bridge([OSError("refused"), _books_answer(12)], clock=lambda: now[0])
    assert not b.admit("c", _upd(9, 10))
    await asyncio.gather(*tasks)
    assert b.stats["rest_snapshot_failed"] == 1 and fed == []
    assert not b.admit("c", _upd(10, 11)) and len(ex.asked) == 1     # not before RETRY_S
    now[0] = b.RETRY_S + 0.1
    assert not b.admit("c", _upd(11, 13))
    await asyncio.sleep(0)
    assert len(ex.asked) == 2
    await asyncio.gather(*tasks)
    assert [m["action"] for m in fed] == ["snapshot", "update"] and ex.orderbooks["BTC/USDT"]["nonce"] == 13
