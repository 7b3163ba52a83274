"""Linear-perpetual settlement in the shared simulator machinery: the position math (open, add,
partial close, flip, realized PnL), and the engine's margin, fee and reduce-only rules over a
real ``MarketSim`` book, with every balance checked exactly."""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_UP, Decimal

import pytest

from engine.sim.market import BUY, SELL, Batch, MarketSim, Trade
from engine.sim.matching import (BAD_ORDER, CANCELED, FILLED, LIMIT, MARKET, Account, BalanceEvent,
                                 MatchingEngine, Reject)
from engine.sim.positions import (INSUFFICIENT_MARGIN, REDUCE_ONLY_INCREASES, REDUCE_ONLY_NO_POSITION,
                                  LinearPerpEngine, Position)

Q8 = Decimal("0.00000001")
LOT_BASE = Decimal("0.0001")       # 0.01 contract per lot x 0.01 BTC per contract
TICK, LOT, CT = Decimal("0.1"), Decimal("0.01"), Decimal("0.01")
TAKER, MAKER = Decimal("0.0005"), Decimal("0.0002")


# ---------------------------------------------------------------------------- the position math

def test_open_add_partial_close_flip_and_close():
    p = Position("BTC-USDT-SWAP", LOT_BASE)
    assert p.apply(BUY, 100, Decimal("60000"), ts=1) == 0
    assert (p.qty, p.entry, p.direction, p.opened_ms) == (100, Decimal("60000"), 1, 1)
    assert p.apply(BUY, 100, Decimal("61000"), ts=2) == 0                 # add: size-weighted entry
    assert (p.qty, p.entry) == (200, Decimal("60500"))
    assert p.apply(SELL, 50, Decimal("62000"), ts=3) == Decimal("7.5")     # (62000-60500) x 50 x 0.0001
    assert (p.qty, p.entry, p.realized_pnl) == (150, Decimal("60500"), Decimal("7.5"))
    # a sell larger than the long closes it (-22.5) and opens a short with the rest at the fill price
    assert p.apply(SELL, 250, Decimal("59000"), ts=4) == Decimal("-22.5")
    assert (p.qty, p.entry, p.direction, p.opened_ms) == (-100, Decimal("59000"), -1, 4)
    assert p.upl(Decimal("58500")) == Decimal("5")                         # a short gains as the price falls
    assert p.notional(Decimal("58500")) == Decimal("585")
    assert p.reducible(BUY, 150) == 100 and p.reducible(SELL, 150) == 0
    assert p.apply(BUY, 100, Decimal("58000"), ts=5) == Decimal("10")
    assert (p.qty, p.entry, p.direction, p.realized_pnl) == (0, Decimal(0), 0, Decimal("-5"))
    assert p.upl(Decimal("1")) == 0 and p.reducible(BUY, 5) == 0
    with pytest.raises(ValueError):
        p.apply(BUY, 0, Decimal("1"))


def test_realized_pnl_is_quantized_to_the_settle_precision():
    p = Position("X", Decimal("0.001"))
    p.apply(BUY, 3, Decimal("100"))
    p.apply(BUY, 1, Decimal("101"))                          # entry 100.25
    assert p.entry == Decimal("100.25")
    assert p.apply(SELL, 1, Decimal("100.00001234"), quantum=Decimal("0.0001")) == Decimal("-0.0002")


# ---------------------------------------------------------------------------- the engine

def market() -> MarketSim:
    return MarketSim("BTC-USDT-SWAP", TICK, LOT, "60000", levels=60, seed=7)


def engine(usdt: str = "10000", leverage: int = 10):
    accts = {"a": Account("a", {"USDT": usdt})}
    events: list = []
    eng = LinearPerpEngine(market(), "BTC", "USDT", accts, events.append, contract_value=CT, leverage=leverage,
                           taker_fee=TAKER, maker_fee=MAKER)
    return eng, accts["a"], events


def value(fills) -> Decimal:
    return sum((Decimal(f.price) * TICK * Decimal(f.qty) * LOT * CT for f in fills), Decimal(0))


def taker_fee(fills) -> Decimal:
    return sum(((Decimal(f.price) * TICK * Decimal(f.qty) * LOT * CT * TAKER).quantize(Q8, rounding=ROUND_DOWN)
                for f in fills), Decimal(0))


def test_market_open_then_reduce_only_close_moves_margin_pnl_and_fees_exactly():
    eng, acct, events = engine()
    usdt = acct.bal("USDT")
    res = eng.place("a", BUY, MARKET, 300)                      # 3 contracts = 0.03 BTC
    assert res.order.status == FILLED and res.fills and all(not f.is_maker for f in res.fills)
    pos = eng.position("a")
    base = Decimal("0.03")
    entry = value(res.fills) / base
    margin = (base * entry / 10).quantize(Q8, rounding=ROUND_UP)
    fee1 = taker_fee(res.fills)
    assert (pos.qty, pos.entry, pos.margin, pos.fees) == (300, entry, margin, fee1)
    assert all(f.commission_asset == "USDT" and f.realized_pnl == 0 for f in res.fills)
    assert (usdt.free, usdt.locked) == (Decimal("10000") - margin - fee1, margin)
    assert "BTC" not in acct.balances                          # a swap moves the settle currency only
    bal_events = [e for e in events if isinstance(e, BalanceEvent)]
    assert bal_events[-1].assets == [("USDT", usdt.free, usdt.locked)]

    close = eng.place("a", SELL, MARKET, 300, reduce_only=True)
    assert close.order.status == FILLED
    pnl = sum(((Decimal(f.price) * TICK - entry) * f.qty * LOT_BASE).quantize(Q8) for f in close.fills)
    fee2 = taker_fee(close.fills)
    assert sum((f.realized_pnl for f in close.fills), Decimal(0)) == pnl
    assert (pos.qty, pos.margin, pos.realized_pnl, pos.fees) == (0, Decimal(0), pnl, fee1 + fee2)
    assert (usdt.free, usdt.locked) == (Decimal("10000") - fee1 - fee2 + pnl, Decimal(0))


def test_limit_orders_hold_the_margin_of_their_opening_part_and_release_it():
    eng, acct, _ = engine()
    usdt = acct.bal("USDT")
    bid = eng.market.best_bid()[0]
    far = bid - 5000                                            # 500 USDT under the best bid
    o = eng.place("a", BUY, LIMIT, 200, far).order
    need = (Decimal(far) * TICK * Decimal("0.02") / 10).quantize(Q8, rounding=ROUND_UP)
    assert o.is_open and o.reserved == need and (usdt.free, usdt.locked) == (Decimal("10000") - need, need)
    eng.cancel("a", o.order_id)
    assert o.status == CANCELED and o.reserved == 0 and (usdt.free, usdt.locked) == (Decimal("10000"), Decimal(0))
    # with a long of 100 lots a resting sell of 100 only closes (no margin), of 150 opens 50
    eng.place("a", BUY, MARKET, 100)
    pos_margin = eng.position("a").margin
    ask = eng.market.best_ask()[0]
    s1 = eng.place("a", SELL, LIMIT, 100, ask + 5000).order
    assert s1.reserved == 0
    s2 = eng.place("a", SELL, LIMIT, 150, ask + 6000).order
    assert s2.reserved == (Decimal(ask + 6000) * TICK * Decimal("0.005") / 10).quantize(Q8, rounding=ROUND_UP)
    assert usdt.locked == pos_margin + s2.reserved


def test_resting_orders_fill_as_maker_and_are_repriced_when_the_position_changes():
    eng, acct, _ = engine()
    usdt = acct.bal("USDT")
    bid = eng.market.best_bid()[0]
    px = bid - 3000
    o = eng.place("a", BUY, LIMIT, 200, px).order
    sell_through = Batch(eng.symbol, 0, 0, [], [], [Trade(1, px - 10, 120, SELL, 5)], 5)
    eng.on_market(sell_through)
    f = o.fills[-1]
    assert (f.price, f.qty, f.is_maker, o.executed, o.is_open) == (px, 120, True, 120, True)
    maker_fee = (Decimal(px) * TICK * Decimal("0.012") * MAKER).quantize(Q8, rounding=ROUND_DOWN)
    pos = eng.position("a")
    pos_margin = (Decimal("0.012") * Decimal(px) * TICK / 10).quantize(Q8, rounding=ROUND_UP)
    left = (Decimal(px) * TICK * Decimal("0.008") / 10).quantize(Q8, rounding=ROUND_UP)
    assert (pos.qty, pos.margin, o.reserved) == (120, pos_margin, left)
    assert (usdt.free, usdt.locked) == (Decimal("10000") - maker_fee - pos_margin - left, pos_margin + left)
    # a resting sell that now reduces the long holds nothing
    ask = eng.market.best_ask()[0]
    s = eng.place("a", SELL, LIMIT, 120, ask + 4000).order
    assert s.reserved == 0


def test_refusals_insufficient_margin_and_reduce_only():
    eng, acct, _ = engine(usdt="50")
    ask = eng.market.best_ask()[0]
    with pytest.raises(Reject) as e:                            # 1 contract ~ 600 USDT: 60 margin at 10x
        eng.place("a", BUY, MARKET, 100)
    assert e.value.reason == INSUFFICIENT_MARGIN
    with pytest.raises(Reject) as e:
        eng.place("a", BUY, LIMIT, 100, ask)
    assert e.value.reason == INSUFFICIENT_MARGIN
    with pytest.raises(Reject) as e:
        eng.place("a", SELL, MARKET, 10, reduce_only=True)
    assert e.value.reason == REDUCE_ONLY_NO_POSITION
    assert acct.bal("USDT").free == Decimal("50") and not eng.orders
    eng.place("a", BUY, MARKET, 50)                             # 30 USDT margin: fits
    with pytest.raises(Reject) as e:
        eng.place("a", BUY, LIMIT, 10, eng.market.best_bid()[0] - 100, reduce_only=True)
    assert e.value.reason == REDUCE_ONLY_INCREASES
    # a closing order needs no margin even when the free balance could not open it
    eng2, acct2, _ = engine(usdt="1000", leverage=1)
    eng2.place("a", BUY, MARKET, 100)
    free = acct2.bal("USDT").free
    assert free < 600
    assert eng2.place("a", SELL, MARKET, 100).order.status == FILLED
    assert eng2.position("a").qty == 0


def test_reduce_only_never_flips_and_is_canceled_with_its_position():
    eng, acct, events = engine()
    eng.place("a", BUY, MARKET, 100)
    big = eng.place("a", SELL, MARKET, 250, reduce_only=True)   # fills up to the position, the rest expires
    assert big.order.executed == 100 and big.order.status == "EXPIRED" and eng.position("a").qty == 0
    eng.place("a", BUY, MARKET, 100)
    ask = eng.market.best_ask()[0]
    r = eng.place("a", SELL, LIMIT, 100, ask + 5000, reduce_only=True).order
    assert r.is_open and r.reserved == 0
    eng.place("a", SELL, MARKET, 100)                           # the long is closed by another order
    assert r.status == CANCELED and eng.position("a").qty == 0
    assert [e.exec_type for e in events if getattr(e, "order", None) is r][-1] == CANCELED
    assert acct.bal("USDT").locked == 0


def test_spot_engine_refuses_reduce_only():
    accts = {"a": Account("a", {"USDT": "100000", "BTC": "1"})}
    eng = MatchingEngine(MarketSim("BTC-USDT", "0.1", "0.00001", "60000", levels=20), "BTC", "USDT", accts)
    with pytest.raises(Reject) as e:
        eng.place("a", SELL, MARKET, 1000, reduce_only=True)
    assert e.value.reason == BAD_ORDER and not accts["a"].positions
