"""Venue-neutral simulator machinery: market generator, matching, limits, faults."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from venuelink.sim.faults import FaultError, Faults
from venuelink.sim.limits import ORDERS, RAW, WEIGHT, RateLimiter, Rule
from venuelink.sim.market import BUY, SELL, DiffAccumulator, MarketSim, Scale
from venuelink.sim.matching import (
    AMENDED,
    CANCELED,
    DUPLICATE_CLIENT_ID,
    EXPIRED,
    FILLED,
    FOK,
    GTC,
    INSUFFICIENT_BALANCE,
    IOC,
    LIMIT,
    MARKET,
    NEW,
    PARTIALLY_FILLED,
    TRADE,
    UNKNOWN_ORDER,
    Account,
    BalanceEvent,
    ExecEvent,
    MatchingEngine,
    Reject,
)


def make(seed: int = 7, levels: int = 300) -> MarketSim:
    return MarketSim("BTCUSDT", "0.01", "0.00001", "60000.00", levels=levels, seed=seed)


# ---------------------------------------------------------------------- Scale
def test_scale_format_parse_roundtrip():
    s = Scale("0.01")
    assert s.format(6000001) == "60000.01000000"
    assert s.plain(6000001) == "60000.01"
    assert s.plain(6000000) == "60000"
    assert s.parse("60000.01") == 6000001
    assert s.parse("60000.010") == 6000001
    assert s.parse("60000.015") is None  # not on the tick
    assert s.parse("abc") is None
    q = Scale("0.00001")
    assert q.format(1) == "0.00001000"
    assert q.parse(Decimal("1.5")) == 150000
    with pytest.raises(ValueError):
        Scale("0.000000001")  # needs 9 decimals


# ---------------------------------------------------------------------- MarketSim
def test_deterministic_for_a_seed():
    a, b, c = make(11), make(11), make(12)
    assert a.depth() == b.depth()
    ka = [a.step(ts=0).key() for _ in range(400)]
    kb = [b.step(ts=0).key() for _ in range(400)]
    kc = [c.step(ts=0).key() for _ in range(400)]
    assert ka == kb
    assert ka != kc
    assert a.bids == b.bids and a.asks == b.asks


def test_never_crossed_ids_contiguous_and_batches_replay_the_book():
    m = make(3)
    uid, bids0, asks0 = m.depth()
    bids, asks = dict(bids0), dict(asks0)
    last_uid, last_tid = uid, 0
    n_changes = 0
    for _ in range(3000):
        b = m.step(ts=1)
        assert not m.is_crossed()
        assert m.best_bid()[0] < m.fair < m.best_ask()[0]
        if b.has_changes:
            assert b.first_id == last_uid + 1
            assert b.last_id - b.first_id + 1 == len(b.bids) + len(b.asks)
            last_uid = b.last_id
        for t in b.trades:
            assert t.trade_id > last_tid and t.qty > 0
            last_tid = t.trade_id
        for p, q in b.bids:
            assert q >= 0
            if q:
                bids[p] = q
            else:
                bids.pop(p, None)
        for p, q in b.asks:
            if q:
                asks[p] = q
            else:
                asks.pop(p, None)
        n_changes += len(b.bids) + len(b.asks)
    assert m.update_id == last_uid
    assert bids == m.bids and asks == m.asks
    assert n_changes > 3000  # several level changes per batch on average
    assert 300 <= len(m.bids) <= 332 and 300 <= len(m.asks) <= 332


def test_changes_concentrated_near_the_top():
    m = make(5)
    near = far = 0
    for _ in range(1500):
        before_b = sorted(m.bids, reverse=True)
        before_a = sorted(m.asks)
        b = m.step(ts=0)
        for p, _ in b.bids:
            rank = sum(1 for x in before_b if x > p)
            near, far = (near + 1, far) if rank < 20 else (near, far + 1)
        for p, _ in b.asks:
            rank = sum(1 for x in before_a if x < p)
            near, far = (near + 1, far) if rank < 20 else (near, far + 1)
    assert near > 2 * far


def test_mid_drifts():
    m = make(9)
    start = m.fair
    seen = {m.fair}
    for _ in range(3000):
        m.step(ts=0)
        seen.add(m.fair)
    assert len(seen) > 20 and m.fair != start


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10**6), levels=st.integers(5, 60))
def test_invariants_any_seed(seed, levels):
    m = MarketSim("X", "0.1", "0.001", "1000", levels=levels, seed=seed)
    for _ in range(200):
        m.step(ts=0)
        assert not m.is_crossed()
        assert len(m.bids) >= levels and len(m.asks) >= levels
        assert all(q > 0 for q in m.bids.values()) and all(q > 0 for q in m.asks.values())


def test_take_consumes_displayed_liquidity():
    m = make(4)
    uid0, _, asks = m.depth(5)
    want = asks[0][1] + asks[1][1] // 2
    fills, batch = m.take(BUY, want, None, ts=5)
    assert [f[0] for f in fills] == [asks[0][0], asks[1][0]]
    assert sum(f[1] for f in fills) == want
    assert asks[0][0] not in m.asks and m.asks[asks[1][0]] == asks[1][1] - asks[1][1] // 2
    assert batch.first_id == uid0 + 1 and batch.asks == [(asks[0][0], 0), (asks[1][0], m.asks[asks[1][0]])]
    assert [t.taker_side for t in batch.trades] == [BUY, BUY]
    # a limit stops the sweep
    _, bids, _ = m.depth(3)
    fills, _ = m.take(SELL, 10**12, bids[1][0], ts=5)
    assert [f[0] for f in fills] == [bids[0][0], bids[1][0]]
    assert not m.is_crossed()


def test_diff_accumulator_equals_sequential_application():
    m = make(8)
    _, b0, a0 = m.depth()
    bids, asks = dict(b0), dict(a0)
    acc = DiffAccumulator()
    for _ in range(50):
        acc.add(m.step(ts=0))
    first, last, db, da = acc.flush()
    assert last == m.update_id and first > 0
    for p, q in db:
        bids.pop(p, None) if q == 0 else bids.__setitem__(p, q)
    for p, q in da:
        asks.pop(p, None) if q == 0 else asks.__setitem__(p, q)
    assert bids == m.bids and asks == m.asks
    assert acc.flush() is None


# ---------------------------------------------------------------------- MatchingEngine
def engine(balances=None):
    m = make(21, levels=50)
    events: list = []
    accounts = {"a": Account("a", balances or {"USDT": "1000000", "BTC": "10"})}
    return MatchingEngine(m, "BTC", "USDT", accounts, events.append), m, events, accounts["a"]


def execs(events):
    return [(e.exec_type, e.status) for e in events if isinstance(e, ExecEvent)]


def test_limit_rests_then_cancel_unlocks():
    eng, m, ev, acct = engine()
    bb = m.best_bid()[0]
    res = eng.place("a", BUY, LIMIT, 100, bb - 100, client_id="c1")
    o = res.order
    assert o.status == NEW and o.is_working and not res.fills and res.batch.trades == []
    assert acct.bal("USDT").locked == eng.quote_value((bb - 100) * 100)
    assert eng.open_orders("a") == [o]
    with pytest.raises(Reject) as e:
        eng.place("a", BUY, LIMIT, 100, bb - 100, client_id="c1")
    assert e.value.reason == DUPLICATE_CLIENT_ID
    eng.cancel("a", client_id="c1", cancel_client_id="x1")
    assert o.status == CANCELED and acct.bal("USDT").locked == 0
    assert acct.bal("USDT").free == Decimal("1000000")
    assert execs(ev) == [(NEW, NEW), (CANCELED, CANCELED)]
    cancel_ev = [e for e in ev if isinstance(e, ExecEvent)][-1]
    assert cancel_ev.client_id == "x1" and cancel_ev.orig_client_id == "c1"
    assert any(isinstance(e, BalanceEvent) for e in ev)
    # client id reusable once the order is closed
    eng.place("a", BUY, LIMIT, 100, bb - 100, client_id="c1")
    with pytest.raises(Reject):
        eng.cancel("a", order_id=o.order_id)


def test_amend_in_place_moves_the_reservation_and_takes_when_it_crosses():
    eng, m, ev, acct = engine({"USDT": "1000", "BTC": "10"})
    bb, ba = m.best_bid()[0], m.best_ask()[0]
    o = eng.place("a", BUY, LIMIT, 100, bb - 100, client_id="c1").order
    usdt = acct.bal("USDT")
    assert usdt.locked == eng.quote_value((bb - 100) * 100)
    res = eng.amend("a", client_id="c1", qty=150, price=bb - 200)
    assert res.order is o and (o.qty, o.price, o.status) == (150, bb - 200, NEW) and not res.fills
    assert usdt.locked == eng.quote_value((bb - 200) * 150) and usdt.free + usdt.locked == Decimal("1000")
    assert execs(ev)[-1] == (AMENDED, NEW)
    with pytest.raises(Reject) as e:                      # more than the account holds: unchanged
        eng.amend("a", order_id=o.order_id, qty=10 ** 9)
    assert e.value.reason == INSUFFICIENT_BALANCE and o.qty == 150
    assert usdt.locked == eng.quote_value((bb - 200) * 150)
    with pytest.raises(Reject):                           # not above what executed
        eng.amend("a", order_id=o.order_id, qty=0)
    res = eng.amend("a", order_id=o.order_id, qty=1, price=ba)   # now crosses: trades as a taker
    assert res.fills and o.status == FILLED and usdt.locked == 0
    with pytest.raises(Reject) as e:
        eng.amend("a", order_id=o.order_id, price=bb)
    assert e.value.reason == UNKNOWN_ORDER


def test_marketable_orders_fill_against_the_book():
    eng, m, ev, acct = engine()
    _, _, asks = m.depth(3)
    qty = asks[0][1] + 1
    res = eng.place("a", BUY, MARKET, qty)
    o = res.order
    assert o.status == FILLED and o.executed == qty
    assert [(f.price, f.qty) for f in res.fills] == [(asks[0][0], asks[0][1]), (asks[1][0], 1)]
    assert all(not f.is_maker for f in res.fills)
    assert acct.bal("BTC").free == Decimal(10) + Decimal(qty) * Decimal("0.00001")
    spent = eng.quote_value(asks[0][0] * asks[0][1] + asks[1][0])
    assert acct.bal("USDT").free == Decimal(1000000) - spent
    assert execs(ev) == [(NEW, NEW), (TRADE, PARTIALLY_FILLED), (TRADE, FILLED)]
    # public trades match the fills
    assert [(t.price, t.qty, t.trade_id) for t in res.batch.trades] == [(f.price, f.qty, f.trade_id) for f in res.fills]


def test_ioc_fok_and_limit_remainder():
    eng, m, ev, acct = engine()
    _, bids, _ = m.depth(2)
    # IOC sell limited to the best bid: partial fill, rest expires
    res = eng.place("a", SELL, LIMIT, bids[0][1] + 5, bids[0][0], IOC)
    assert res.order.status == EXPIRED and res.order.executed == bids[0][1]
    assert acct.bal("BTC").locked == 0
    # FOK that cannot be filled completely: expires untouched, book unchanged
    uid = m.update_id
    _, bids, _ = m.depth(1)
    res = eng.place("a", SELL, LIMIT, bids[0][1] + 5, bids[0][0], FOK)
    assert res.order.status == EXPIRED and res.order.executed == 0 and m.update_id == uid
    # GTC limit crossing one level: fills that level, rests the remainder at its price
    _, _, asks = m.depth(2)
    res = eng.place("a", BUY, LIMIT, asks[0][1] + 7, asks[0][0], GTC)
    assert res.order.status == PARTIALLY_FILLED and res.order.remaining == 7 and res.order.is_working
    assert acct.bal("USDT").locked == eng.quote_value(asks[0][0] * 7)


def test_insufficient_balance():
    eng, m, ev, acct = engine({"USDT": "10", "BTC": "0.0001"})
    with pytest.raises(Reject) as e:
        eng.place("a", BUY, LIMIT, 1000, m.best_bid()[0])
    assert e.value.reason == INSUFFICIENT_BALANCE
    with pytest.raises(Reject):
        eng.place("a", SELL, MARKET, 11)
    with pytest.raises(Reject):
        eng.place("a", BUY, MARKET, 1000)
    assert not eng.orders and not ev


def test_resting_order_fills_when_market_trades_through():
    eng, m, ev, acct = engine()
    bb = m.best_bid()[0]
    res = eng.place("a", BUY, LIMIT, 50, bb - 3)
    o = res.order
    # push the market down through the order
    m.fair = bb - 40
    extra_all = []
    for _ in range(20):
        batch = m.step(ts=0)
        extra_all += eng.on_market(batch, 0)
        if o.status == FILLED:
            break
    assert o.status == FILLED
    assert all(f.is_maker and f.price == bb - 3 for f in o.fills)
    assert extra_all and all(t.price == bb - 3 and t.taker_side == SELL for t in extra_all)
    assert acct.bal("USDT").locked == 0
    assert acct.bal("BTC").free == Decimal(10) + Decimal(50) * Decimal("0.00001")


def test_fees_in_received_asset():
    m = make(2, levels=20)
    accounts = {"a": Account("a", {"USDT": "1000000", "BTC": "1"})}
    eng = MatchingEngine(m, "BTC", "USDT", accounts, None, taker_fee="0.001")
    res = eng.place("a", BUY, MARKET, 1000)
    f = res.fills[0]
    assert f.commission_asset == "BTC"
    assert f.commission == (Decimal(f.qty) * Decimal("0.00001") * Decimal("0.001")).quantize(Decimal("1e-8"))


# ---------------------------------------------------------------------- RateLimiter
class Clock:
    def __init__(self, t: float = 1_000_040.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_weight_limit_429_then_418_ban_growing():
    clk = Clock()
    lim = RateLimiter([Rule(WEIGHT, "MINUTE", 1, 10), Rule(RAW, "MINUTE", 5, 1000)], ban_after=2, ban_base_s=2,
                      clock=clk)
    for i in range(5):
        d = lim.check_request("ip", 2)
        assert d.allowed and d.used[0][1] == 2 * (i + 1)
    d = lim.check_request("ip", 1)
    assert d.status == 429 and d.retry_after == 40 and d.rule.kind == WEIGHT
    assert lim.check_request("ip", 1).status == 429  # second 429 (ban_after=2)
    d = lim.check_request("ip", 1)
    assert d.status == 418 and d.retry_after == 2
    clk.t += 1
    assert lim.check_request("ip", 1).status == 418
    clk.t += 1.5  # ban over, still in the same minute -> 429 again
    assert lim.check_request("ip", 1).status == 429
    assert lim.check_request("ip", 1).status == 429
    d = lim.check_request("ip", 1)
    assert d.status == 418 and d.retry_after == 4  # second ban lasts twice as long
    assert lim.check_request("other-ip", 1).allowed  # per IP
    clk.t += 60  # next window, ban over
    d = lim.check_request("ip", 1)
    assert d.allowed and d.used[0][1] == 1


def test_order_limit_per_account_no_retry_after():
    clk = Clock(1_000_000.0)
    lim = RateLimiter([Rule(ORDERS, "SECOND", 10, 2), Rule(ORDERS, "DAY", 1, 100)], clock=clk)
    assert lim.check_order("a").allowed and lim.check_order("a").allowed
    d = lim.check_order("a")
    assert d.status == 429 and d.retry_after is None and d.rule.num == 10
    assert [n for _, n in d.used] == [3, 3]
    assert lim.check_order("b").allowed
    clk.t += 10
    assert lim.check_order("a").allowed
    assert [n for _, n in lim.usage("a", ORDERS)] == [1, 4]
    assert lim.check_request("ip", 1).allowed  # order counts do not affect IP limits


def test_rule_tags():
    assert Rule(WEIGHT, "MINUTE", 1, 6000).tag == "1M"
    assert Rule(ORDERS, "SECOND", 10, 100).tag == "10S"
    assert Rule(ORDERS, "DAY", 1, 1).tag == "1D"
    with pytest.raises(ValueError):
        Rule("bogus", "MINUTE", 1, 1)


# ---------------------------------------------------------------------- Faults
def test_faults_apply_and_consume():
    f = Faults()
    f.apply({"type": "gap", "symbol": "BTCUSDT", "count": 2})
    f.apply({"type": "gap", "symbol": "ETHUSDT", "channel": "depth@100ms"})
    assert not f.take_md_drop("ETHUSDT", "depth")
    assert f.take_md_drop("ETHUSDT", "depth@100ms") and not f.take_md_drop("ETHUSDT", "depth@100ms")
    assert f.take_md_drop("BTCUSDT", "depth") and f.take_md_drop("BTCUSDT") and not f.take_md_drop("BTCUSDT")
    f.apply({"type": "order", "mode": "timeout", "hold_s": 0.5, "count": 2})
    assert f.take_order_fault().hold_s == 0.5 and f.take_order_fault() and f.take_order_fault() is None
    f.apply({"type": "http_error", "status": 502, "path": "/api/v3/order"})
    assert f.take_http_error("/api/v3/depth") is None
    assert f.take_http_error("/api/v3/order") == 502 and f.take_http_error("/api/v3/order") is None
    f.apply({"type": "drop_user_event"})
    assert f.take_user_drop() and not f.take_user_drop()
    f.apply({"type": "delay", "ms": 50})
    f.apply({"type": "pings", "enabled": False})
    f.apply({"type": "silence", "enabled": True})
    assert f.state()["ws_delay_ms"] == 50 and not f.pings_enabled and f.silent
    f.apply({"type": "clear"})
    assert f.ws_delay_ms == 0 and f.pings_enabled and not f.silent
    for bad in ({"type": "nope"}, {"type": "gap"}, {"type": "http_error", "status": 404},
                {"type": "order", "mode": "x"}, {"type": "gap", "symbol": "X", "count": 0}, []):
        with pytest.raises(FaultError):
            f.apply(bad)
