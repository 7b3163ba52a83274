"""Perpetual settlement in the shared simulator machinery, linear (USDT-margined, settled in the
quote) and inverse (coin-margined, settled in the base coin): the position math (open, add,
partial close, flip, realized PnL), and the engine's margin, fee and reduce-only rules over a
real ``MarketSim`` book, with every balance checked exactly.  Properties both kinds share are
parametrized over them; inverse-only tests use hand-computed numbers linear math would miss."""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_UP, Decimal
from fractions import Fraction
from math import ceil, floor

import pytest

from venuelink.sim.market import BUY, SELL, Batch, MarketSim, Trade
from venuelink.sim.matching import (BAD_ORDER, CANCELED, FILLED, LIMIT, MARKET, Account, BalanceEvent,
                                 MatchingEngine, Reject)
from venuelink.sim.core import SimVenue, SymbolSpec
from venuelink.sim.limits import RateLimiter
from venuelink.sim.positions import (INSUFFICIENT_MARGIN, REDUCE_ONLY_INCREASES, REDUCE_ONLY_NO_POSITION,
                                  InversePerpEngine, InversePosition, LinearPerpEngine, PerpEngine, Position)

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


def test_spot_engine_refuses_reduce_only():
    accts = {"a": Account("a", {"USDT": "100000", "BTC": "1"})}
    eng = MatchingEngine(MarketSim("BTC-USDT", "0.1", "0.00001", "60000", levels=20), "BTC", "USDT", accts)
    with pytest.raises(Reject) as e:
        eng.place("a", SELL, MARKET, 1000, reduce_only=True)
    assert e.value.reason == BAD_ORDER and not accts["a"].positions


# ---------------------------------------------------------------------------- both kinds
# linear: 0.01 BTC a contract, settled in USDT; inverse: 100 USD a contract (OKX BTC-USD-SWAP),
# settled in BTC.  Lots: 0.01 contract (linear), 1 contract (inverse).

KINDS = ("linear", "inverse")
SETUP = {   # engine, symbol, quote, lot, contract value, settle currency, its funds
    "linear": (LinearPerpEngine, "BTC-USDT-SWAP", "USDT", "0.01", "0.01", "USDT", "10000"),
    "inverse": (InversePerpEngine, "BTC-USD-SWAP", "USD", "1", "100", "BTC", "1"),
}
POSITIONS = {"linear": (Position, Decimal("0.0001")), "inverse": (InversePosition, Decimal("100"))}


def perp(kind: str, funds: str | None = None, leverage: int = 10, mid: str = "60000"):
    cls, symbol, quote, lot, ct, settle, default = SETUP[kind]
    accts = {"a": Account("a", {settle: funds or default})}
    events: list = []
    eng = cls(MarketSim(symbol, TICK, lot, mid, levels=60, seed=7), "BTC", quote, accts, events.append,
              contract_value=ct, leverage=leverage, taker_fee=TAKER, maker_fee=MAKER)
    return eng, accts["a"], events


def size_of(eng: PerpEngine, lots: int) -> Fraction:
    """Contracts x contract value: base currency (linear) or quote currency (inverse)."""
    return lots * Fraction(eng.market.qty_scale.step) * Fraction(eng.contract_value)


def value_of(eng: PerpEngine, ticks: int, lots: int) -> Fraction:
    """A fill's settle-currency value by hand: size x price (linear), size / price (inverse)."""
    price = ticks * Fraction(TICK)
    return size_of(eng, lots) / price if isinstance(eng, InversePerpEngine) else size_of(eng, lots) * price


def ceil8(x: Fraction) -> Decimal:
    return Decimal(ceil(x / Fraction(Q8))) * Q8


def floor8(x: Fraction) -> Decimal:
    return Decimal(floor(x / Fraction(Q8))) * Q8


def half8(x: Fraction) -> Decimal:
    return Decimal(round(x / Fraction(Q8))) * Q8


def through(eng: PerpEngine, taker_side: str, ticks: int, lots: int) -> None:
    """A public trade at ``ticks`` that trades through resting orders on the other side."""
    eng.on_market(Batch(eng.symbol, 0, 0, [], [], [Trade(99, ticks, lots, taker_side, 5)], 5))


@pytest.mark.parametrize("kind", KINDS)
def test_the_entry_keeps_the_value_of_the_fills_and_a_close_at_entry_realizes_nothing(kind):
    cls, lot_value = POSITIONS[kind]
    p = cls("X", lot_value)
    fills = [(3, Decimal("61000")), (5, Decimal("59000.5")), (2, Decimal("60250.1"))]
    for n, px in fills:
        p.apply(BUY, n, px)
    paid = sum((cls.value(n * lot_value, px) for n, px in fills), Fraction(0))
    assert abs(cls.value(p.size(), p.entry) - paid) < Fraction(1, 10**20)
    assert p.apply(SELL, 10, p.entry, quantum=Q8) == 0 and p.qty == 0 and p.entry == 0


@pytest.mark.parametrize("kind", KINDS)
def test_a_long_gains_as_the_price_rises_and_a_short_as_it_falls(kind):
    cls, lot_value = POSITIONS[kind]
    long, short = cls("X", lot_value), cls("X", lot_value)
    long.apply(BUY, 2, Decimal("50000"))
    short.apply(SELL, 2, Decimal("50000"))
    up, down = Decimal("55000"), Decimal("45000")
    assert long.upl(up) > 0 > long.upl(down) and short.upl(down) > 0 > short.upl(up)
    assert short.upl(up) == -long.upl(up) and long.upl(Decimal("50000")) == 0
    assert (long.reducible(SELL, 5), long.reducible(BUY, 5), short.reducible(BUY, 1)) == (2, 0, 1)


@pytest.mark.parametrize("kind", KINDS)
def test_market_open_then_reduce_only_close_moves_margin_pnl_and_fees_exactly(kind):
    eng, acct, events = perp(kind)
    settle = SETUP[kind][5]
    funds = Decimal(SETUP[kind][6])
    bal = acct.bal(settle)
    lots = 300 if kind == "linear" else 3000                   # 0.03 BTC / 300,000 USD: several levels
    res = eng.place("a", BUY, MARKET, lots)
    assert res.order.status == FILLED and len(res.fills) > 1 and all(not f.is_maker for f in res.fills)
    assert all(f.commission_asset == settle and f.realized_pnl == 0 for f in res.fills)
    # the average entry: arithmetic for linear contracts, harmonic for inverse ones
    if kind == "linear":
        entry = Fraction(sum(f.price * f.qty for f in res.fills), lots) * Fraction(TICK)
    else:
        entry = lots / sum(Fraction(f.qty) / (f.price * Fraction(TICK)) for f in res.fills)
    pos = eng.position("a")
    assert abs(Fraction(pos.entry) - entry) < Fraction(1, 10**18)
    entry = Fraction(pos.entry)                                # as booked (a 28-digit quotient)
    # the margin: the position's value at its entry over the leverage, the fills' values added up
    paid = sum((value_of(eng, f.price, f.qty) for f in res.fills), Fraction(0))
    at_entry = size_of(eng, lots) / entry if kind == "inverse" else size_of(eng, lots) * entry
    margin = ceil8(at_entry / 10)
    assert abs(at_entry - paid) < Fraction(1, 10**18) and abs(margin - ceil8(paid / 10)) <= Q8
    fee1 = sum((floor8(value_of(eng, f.price, f.qty) * Fraction(TAKER)) for f in res.fills), Decimal(0))
    assert (pos.qty, pos.margin, pos.fees) == (lots, margin, fee1)
    assert (bal.free, bal.locked) == (funds - margin - fee1, margin)
    assert list(acct.balances) == [settle]                     # a swap moves the settle currency only
    bal_events = [e for e in events if isinstance(e, BalanceEvent)]
    assert bal_events[-1].assets == [(settle, bal.free, bal.locked)]

    close = eng.place("a", SELL, MARKET, lots, reduce_only=True)
    assert close.order.status == FILLED
    if kind == "linear":                                       # size x (P - E)
        gains = [size_of(eng, f.qty) * (f.price * Fraction(TICK) - entry) for f in close.fills]
    else:                                                      # size x (1/E - 1/P)
        gains = [size_of(eng, f.qty) * (1 / entry - 1 / (f.price * Fraction(TICK))) for f in close.fills]
    pnl = sum((half8(g) for g in gains), Decimal(0))
    fee2 = sum((floor8(value_of(eng, f.price, f.qty) * Fraction(TAKER)) for f in close.fills), Decimal(0))
    assert sum((f.realized_pnl for f in close.fills), Decimal(0)) == pnl
    assert (pos.qty, pos.margin, pos.realized_pnl, pos.fees) == (0, Decimal(0), pnl, fee1 + fee2)
    assert (bal.free, bal.locked) == (funds - fee1 - fee2 + pnl, Decimal(0))


@pytest.mark.parametrize("kind", KINDS)
def test_an_order_is_refused_exactly_when_its_opening_margin_exceeds_the_free_balance(kind):
    settle = SETUP[kind][5]
    eng, _, _ = perp(kind)
    px = eng.market.best_bid()[0] - 1000
    lots = 300
    need = ceil8(value_of(eng, px, lots) / 10)
    _, _, asks = eng.market.depth()
    taken, left = Fraction(0), lots
    for p, q in asks:                                          # a market order opens level by level
        t = min(q, left)
        taken, left = taken + value_of(eng, p, t), left - t
        if not left:
            break
    need_market = ceil8(taken / 10)
    for type, price, amount in ((LIMIT, px, need), (MARKET, None, need_market)):
        eng, acct, _ = perp(kind, funds=str(amount - Q8))
        with pytest.raises(Reject) as e:
            eng.place("a", BUY, type, lots, price)
        assert e.value.reason == INSUFFICIENT_MARGIN and acct.bal(settle).free == amount - Q8 and not eng.orders
        eng, acct, _ = perp(kind, funds=str(amount))
        o = eng.place("a", BUY, type, lots, price).order
        if type == LIMIT:
            assert o.is_open and o.reserved == need and (acct.bal(settle).free, acct.bal(settle).locked) == (0, need)
        else:
            assert o.status == FILLED and eng.position("a").qty == lots


@pytest.mark.parametrize("kind", KINDS)
def test_reduce_only_never_flips_and_is_canceled_with_its_position(kind):
    eng, acct, events = perp(kind)
    bal = acct.bal(SETUP[kind][5])
    with pytest.raises(Reject) as e:
        eng.place("a", SELL, MARKET, 10, reduce_only=True)
    assert e.value.reason == REDUCE_ONLY_NO_POSITION and not eng.orders
    eng.place("a", BUY, MARKET, 100)
    with pytest.raises(Reject) as e:
        eng.place("a", BUY, LIMIT, 10, eng.market.best_bid()[0] - 100, reduce_only=True)
    assert e.value.reason == REDUCE_ONLY_INCREASES
    big = eng.place("a", SELL, MARKET, 250, reduce_only=True)   # fills up to the position, the rest expires
    assert big.order.executed == 100 and big.order.status == "EXPIRED" and eng.position("a").qty == 0
    eng.place("a", BUY, MARKET, 100)
    ask = eng.market.best_ask()[0]
    r = eng.place("a", SELL, LIMIT, 100, ask + 5000, reduce_only=True).order
    assert r.is_open and r.reserved == 0
    eng.place("a", SELL, MARKET, 100)                           # the long is closed by another order
    assert r.status == CANCELED and eng.position("a").qty == 0
    assert [e.exec_type for e in events if getattr(e, "order", None) is r][-1] == CANCELED
    assert bal.locked == 0
    # an order that only closes needs no margin, even with nothing free
    eng.place("a", SELL, MARKET, 100)
    kept, bal.free = bal.free, Decimal(0)
    assert eng.place("a", BUY, MARKET, 100).order.status == FILLED and eng.position("a").qty == 0
    assert bal.locked == 0 and bal.free < kept


# ---------------------------------------------------------------------------- inverse contracts by hand
# 100 USD a contract (OKX BTC-USD-SWAP); numbers computed by hand from N*V/P, N*V*(1/E - 1/P)
# and the harmonic average entry; linear math would give USD amounts tens of thousands of times
# larger, and an arithmetic entry.

def test_inverse_position_harmonic_entry_pnl_in_the_base_coin_and_flip():
    p = InversePosition("BTC-USD-SWAP", Decimal("100"))
    assert p.lot_quote == Decimal("100")
    assert p.apply(BUY, 1, Decimal("60000"), ts=1) == 0
    assert p.apply(BUY, 2, Decimal("40000"), ts=2) == 0
    # harmonic: 3 / (1/60000 + 2/40000) = 3 / (4/60000) = 45000; arithmetic would be 46666.67
    assert (p.qty, p.entry, p.direction, p.opened_ms) == (3, Decimal("45000"), 1, 1)
    assert p.notional(p.entry) == Decimal(1) / 150                # 300 / 45000 BTC = 100/60000 + 200/40000
    assert p.notional(Decimal("60000")) == Decimal("0.005")       # 300 USD at 60000
    assert p.upl(Decimal("50000")) == Decimal(1) / 1500           # 300 x (1/45000 - 1/50000)
    assert p.upl(Decimal("36000")) == Decimal(-1) / 600           # 300 x (1/45000 - 1/36000)
    # close 1 at 50000: 100 x (1/45000 - 1/50000) = 1/4500 = 0.000222222.. BTC; the entry stays
    assert p.apply(SELL, 1, Decimal("50000"), ts=3, quantum=Q8) == Decimal("0.00022222")
    assert (p.qty, p.entry) == (2, Decimal("45000"))
    # sell 3 at 30000: closes 2 for 200 x (1/45000 - 1/30000) = -1/450 and opens a short of 1 at 30000
    assert p.apply(SELL, 3, Decimal("30000"), ts=4, quantum=Q8) == Decimal("-0.00222222")
    assert (p.qty, p.entry, p.direction, p.opened_ms) == (-1, Decimal("30000"), -1, 4)
    assert p.upl(Decimal("25000")) == Decimal(1) / 1500           # -100 x (1/30000 - 1/25000): a short gains
    assert p.upl(Decimal("40000")) == Decimal(-1) / 1200          # -100 x (1/30000 - 1/40000)
    # add to the short at 20000: 2 / (1/30000 + 1/20000) = 24000 (arithmetic: 25000)
    assert p.apply(SELL, 1, Decimal("20000"), ts=5) == 0
    assert (p.qty, p.entry) == (-2, Decimal("24000"))
    # buy back 2 at 16000: -200 x (1/24000 - 1/16000) = 1/240 = 0.00416666.. BTC
    assert p.apply(BUY, 2, Decimal("16000"), ts=6, quantum=Q8) == Decimal("0.00416667")
    assert (p.qty, p.entry, p.direction) == (0, Decimal(0), 0)
    assert p.realized_pnl == Decimal("0.00022222") - Decimal("0.00222222") + Decimal("0.00416667")
    assert p.upl(Decimal("1")) == 0 and p.notional(Decimal("1")) == 0


def test_inverse_engine_margin_fees_and_pnl_in_btc_by_hand():
    eng, acct, _ = perp("inverse", mid="80000")
    btc = acct.bal("BTC")
    assert (eng.settle, eng.assets(), eng.lot_value) == ("BTC", ["BTC"], Decimal("100"))
    # two resting buys under the market: margin N*V/(P*leverage) in BTC, rounded up to a satoshi
    o1 = eng.place("a", BUY, LIMIT, 1, 600000).order           # 100/60000/10 = 0.000166666..
    o2 = eng.place("a", BUY, LIMIT, 2, 400000).order           # 200/40000/10 = 0.0005
    assert (o1.reserved, o2.reserved) == (Decimal("0.00016667"), Decimal("0.0005"))
    assert (btc.free, btc.locked) == (Decimal("0.99933333"), Decimal("0.00066667"))
    through(eng, SELL, 599999, 1)
    through(eng, SELL, 399999, 2)
    assert not o1.is_open and not o2.is_open
    # maker fees in BTC on N*V/P: 0.0002 x 100/60000 = 0.000000333.. -> 0.00000033 (down);
    # 0.0002 x 200/40000 = 0.000001
    assert [(f.commission, f.commission_asset) for f in o1.fills + o2.fills] == [
        (Decimal("0.00000033"), "BTC"), (Decimal("0.00000100"), "BTC")]
    pos = eng.position("a")
    assert isinstance(pos, InversePosition)
    # harmonic entry 45000; margin 300/45000/10 = 1/1500 -> 0.00066667, the fills' margins added up
    assert (pos.qty, pos.entry, pos.margin, pos.fees) == (3, Decimal("45000"), Decimal("0.00066667"),
                                                         Decimal("0.00000133"))
    assert (btc.free, btc.locked) == (Decimal("0.99933200"), Decimal("0.00066667"))
    # a reduce-only sell above the market holds no margin; it closes 1 at 90000:
    # 100 x (1/45000 - 1/90000) = 1/900 BTC -> 0.00111111; fee 0.0002 x 100/90000 -> 0.00000022;
    # margin 200/45000/10 = 0.000444.. -> 0.00044445
    r = eng.place("a", SELL, LIMIT, 1, 900000, reduce_only=True).order
    assert r.reserved == 0
    through(eng, BUY, 900001, 1)
    assert (r.fills[0].realized_pnl, r.fills[0].commission) == (Decimal("0.00111111"), Decimal("0.00000022"))
    assert (pos.qty, pos.entry, pos.margin) == (2, Decimal("45000"), Decimal("0.00044445"))
    assert (btc.free, btc.locked) == (Decimal("1.00066511"), Decimal("0.00044445"))
    # a reduce-only sell of 5 fills only the 2 left at 100000 and is canceled:
    # 200 x (1/45000 - 1/100000) = 0.00244444..; fee 0.0002 x 200/100000 = 0.0000004
    r = eng.place("a", SELL, LIMIT, 5, 1000000, reduce_only=True).order
    through(eng, BUY, 1000001, 5)
    assert (r.executed, r.status) == (2, CANCELED)
    assert (r.fills[0].realized_pnl, r.fills[0].commission) == (Decimal("0.00244444"), Decimal("0.00000040"))
    assert (pos.qty, pos.margin, pos.realized_pnl, pos.fees) == (0, 0, Decimal("0.00355555"), Decimal("0.00000195"))
    assert (btc.free, btc.locked) == (Decimal("1.00355360"), 0)


def test_inverse_engine_short_margin_upl_and_close_by_hand():
    eng, acct, _ = perp("inverse", mid="80000")
    btc = acct.bal("BTC")
    s = eng.place("a", SELL, LIMIT, 2, 900000).order            # 200/90000/10 = 0.000222.. -> 0.00022223
    assert s.reserved == Decimal("0.00022223")
    through(eng, BUY, 900001, 2)
    pos = eng.position("a")
    assert (pos.qty, pos.entry, pos.margin, pos.fees) == (-2, Decimal("90000"), Decimal("0.00022223"),
                                                          Decimal("0.00000044"))
    assert pos.upl(Decimal("100000")) == Decimal(-1) / 4500       # -200 x (1/90000 - 1/100000)
    assert pos.upl(Decimal("60000")) == Decimal(1) / 900          # -200 x (1/90000 - 1/60000)
    # a buy that closes the short needs no margin even with nothing free
    btc.free, btc.locked = Decimal(0), btc.locked
    b = eng.place("a", BUY, LIMIT, 2, 600000).order
    assert b.reserved == 0
    through(eng, SELL, 599999, 2)                                # 1/900 -> 0.00111111; fee 200/60000 x 0.0002
    assert (b.fills[0].realized_pnl, b.fills[0].commission) == (Decimal("0.00111111"), Decimal("0.00000066"))
    assert (pos.qty, pos.margin, btc.locked) == (0, 0, 0)
    assert btc.free == Decimal("0.00022223") + Decimal("0.00111111") - Decimal("0.00000066")


def test_inverse_margin_refusal_in_btc():
    # 1 contract at 60000 needs 100/60000/10 = 0.00016667 BTC: a satoshi less is refused
    eng, acct, _ = perp("inverse", funds="0.00016666", mid="80000")
    with pytest.raises(Reject) as e:
        eng.place("a", BUY, LIMIT, 1, 600000)
    assert e.value.reason == INSUFFICIENT_MARGIN
    eng, acct, _ = perp("inverse", funds="0.00016667", mid="80000")
    o = eng.place("a", BUY, LIMIT, 1, 600000).order
    assert o.reserved == Decimal("0.00016667") and acct.bal("BTC").free == 0
    # the same coins margin twice the contracts at twice the price (200/120000/10); linear: 4x the margin
    eng, acct, _ = perp("inverse", funds="0.00016667", mid="200000")
    assert eng.place("a", BUY, LIMIT, 2, 1200000).order.reserved == Decimal("0.00016667")


# ---------------------------------------------------------------------------- wiring

def test_a_symbol_spec_declares_an_inverse_perpetual():
    specs = [SymbolSpec("BTC-USD-SWAP", "BTC", "USD", "0.1", "1", "60000", contract_value="100", inverse=True),
             SymbolSpec("BTC-USDT-SWAP", "BTC", "USDT", "0.1", "0.01", "60000", contract_value="0.01"),
             SymbolSpec("BTC-USDT", "BTC", "USDT", "0.1", "0.00001", "60000")]
    venue = SimVenue("t", specs, limiter=RateLimiter([]), accounts={"a": {"BTC": "1", "USDT": "10000"}})
    inv, lin, spot = (venue.engines[s.symbol] for s in specs)
    assert type(inv) is InversePerpEngine and (inv.settle, inv.contract_value) == ("BTC", Decimal("100"))
    assert type(lin) is LinearPerpEngine and lin.settle == "USDT"
    assert type(spot) is MatchingEngine
    inv.place("a", SELL, MARKET, 10)
    view = venue.account_view("a")
    assert [(p["symbol"], p["qty"]) for p in view["positions"]] == [("BTC-USD-SWAP", "-10")]
    with pytest.raises(ValueError):
        SimVenue("t", [SymbolSpec("X", "BTC", "USD", "0.1", "1", "60000", inverse=True)],
                 limiter=RateLimiter([]), accounts={})
