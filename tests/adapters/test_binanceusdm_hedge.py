"""Binance USD-M hedge mode against its simulator on loopback: the account switched to hedge
mode (POST /fapi/v1/positionSide/dual), a LONG and a SHORT leg of one symbol held at once and
reported as two Positions (positionRisk and the pushed ACCOUNT_UPDATE), a leg closed by the
opposite side on it, the venue's refusals (a BOTH order, closing more than the leg, a mode change
while a position is open) and reduce-only with a leg refused before anything is sent; one-way
mode as before once switched back."""
from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from venuelink.errors import Rejected
from venuelink.model import (Instrument, MarketKind, Order, OrderRequest, OrderState, OrderType, Position, PositionSide,
                          Side, TimeInForce, VenueId)
from venuelink.order_checks import checked_units
from venuelink.orders import OrderManager
from tests.adapters.test_binanceusdm_execution import PERP, VENUE_SYMBOL, order, text, usdm
from tests.waiting import wait_for

LONG, SHORT, NET = PositionSide.LONG, PositionSide.SHORT, PositionSide.NET


def leg(cid: str, side: Side, qty: str, ps: PositionSide, reduce_only: bool = False) -> Order:
    return replace(order(cid, side=side, qty=qty), position_side=ps, reduce_only=reduce_only)


async def entry_of(ex, venue_order_id: str) -> str:
    """The size-weighted price of one order's fills, as the venue reports them."""
    fills = [f for f in await ex.recent_fills(PERP, 0) if f.venue_order_id == venue_order_id]
    q = sum(Decimal(f.qty) for f in fills)
    return text(sum(Decimal(f.price) * Decimal(f.qty) for f in fills) / q)


async def test_hedge_legs_reported_closed_and_refused():
    async with usdm() as (sim, a, ex):
        pushed: list[Position] = []
        ex.on_position = pushed.append
        ex.start(sim.ws_private_url, lambda: None)
        assert await wait_for(lambda: ex.stream_connected)
        log = sim.sim_venue.request_log

        assert await ex.hedge_mode() is False
        await ex.set_hedge_mode(True)
        assert await ex.hedge_mode() is True
        await ex.set_hedge_mode(True)                    # already so (-4059): no error

        lo = await ex.place(leg("h-long", Side.BUY, "0.010", LONG))
        sh = await ex.place(leg("h-short", Side.SELL, "0.020", SHORT))
        assert lo.state is OrderState.FILLED and sh.state is OrderState.FILLED
        long_entry, short_entry = await entry_of(ex, lo.venue_order_id), await entry_of(ex, sh.venue_order_id)

        held = {p.side: p for p in await ex.positions()}
        assert set(held) == {LONG, SHORT}                # one symbol, two positions
        assert (held[LONG].symbol, held[LONG].qty, held[LONG].entry_price) == (PERP, "0.01", long_entry)
        assert (held[SHORT].symbol, held[SHORT].qty, held[SHORT].entry_price) == (PERP, "-0.02", short_entry)
        assert held[LONG].ts_exchange > 0 and held[SHORT].ts_exchange > 0
        assert held[LONG].to_json()["side"] == "LONG" and held[SHORT].settle == "USDT"

        # the same two legs pushed on the user stream (ACCOUNT_UPDATE after each fill)
        assert await wait_for(lambda: {p.side for p in pushed} == {LONG, SHORT}, 5.0)
        by_side = {p.side: p for p in pushed}
        assert (by_side[LONG].qty, by_side[LONG].entry_price) == ("0.01", long_entry)
        assert (by_side[SHORT].qty, by_side[SHORT].entry_price) == ("-0.02", short_entry)
        assert by_side[LONG].ts_exchange > 0 and by_side[SHORT].ts_exchange > 0

        # the venue's own order answer names the leg; reduceOnly is not how a leg closes
        d = await ex._signed("GET", ex.ORDER_PATH, [("symbol", VENUE_SYMBOL), ("origClientOrderId", "h-long")])
        assert (d["positionSide"], d["reduceOnly"]) == ("LONG", False)

        # refusals: a BOTH order in hedge mode, closing more than the leg holds, a mode change
        with pytest.raises(Rejected) as exc:
            await ex.place(order("h-both", qty="0.010"))
        assert exc.value.code == -4061
        with pytest.raises(Rejected) as exc:
            await ex.place(leg("h-over", Side.SELL, "0.020", LONG))
        assert exc.value.code == -2022
        with pytest.raises(Rejected) as exc:
            await ex.set_hedge_mode(False)
        assert exc.value.code == -4068
        # reduce-only with a leg: refused here, nothing reaches the venue
        n = len(log)
        with pytest.raises(Rejected, match="reduce-only"):
            await ex.place(leg("h-ro", Side.SELL, "0.010", LONG, reduce_only=True))
        assert len(log) == n

        # SELL on the LONG leg closes it; the SHORT leg stays as it was
        n = len(pushed)
        c = await ex.place(leg("h-close", Side.SELL, "0.010", LONG))
        assert c.state is OrderState.FILLED
        (left,) = await ex.positions()
        assert (left.side, left.qty, left.entry_price) == (SHORT, "-0.02", short_entry)
        assert await wait_for(lambda: any(p.side is LONG and p.qty == "0" for p in pushed[n:]), 5.0)
        assert all(p.side is LONG for p in pushed[n:])

        # flat again: back to one-way mode, where orders are as before and a leg is refused
        assert (await ex.place(leg("h-close2", Side.BUY, "0.020", SHORT))).state is OrderState.FILLED
        assert await ex.positions() == []
        await ex.set_hedge_mode(False)
        assert await ex.hedge_mode() is False
        with pytest.raises(Rejected) as exc:
            await ex.place(leg("ow-long", Side.BUY, "0.010", LONG))
        assert exc.value.code == -4061
        assert (await ex.place(order("ow-buy", qty="0.010"))).state is OrderState.FILLED
        (net,) = await ex.positions()
        assert (net.side, net.qty) == (NET, "0.01")
        ro = await ex.place(replace(order("ow-ro", side=Side.SELL, qty="0.010"), reduce_only=True))
        assert ro.state is OrderState.FILLED
        assert await ex.positions() == []


async def test_mode_change_refused_while_an_order_is_open():
    async with usdm() as (sim, a, ex):
        bid = sim.sim_venue.markets[VENUE_SYMBOL].price_scale.to_decimal(
            sim.sim_venue.markets[VENUE_SYMBOL].best_bid()[0])
        o = order("rest-1", qty="0.010", price=text((bid * Decimal("0.95")).quantize(Decimal("0.1"))))
        assert (await ex.place(o)).state is OrderState.NEW
        with pytest.raises(Rejected) as exc:
            await ex.set_hedge_mode(True)
        assert exc.value.code == -4067
        assert await ex.hedge_mode() is False


async def test_leg_travels_from_request_to_wire_through_the_order_manager():
    async with usdm() as (sim, a, ex):
        await ex.set_hedge_mode(True)
        om = OrderManager(ex, reconcile_interval_s=0.05, ack_timeout_s=2.0)
        try:
            o = await om.place(OrderRequest(VenueId.binanceusdm, PERP, Side.SELL, OrderType.MARKET, "0.010",
                                            position_side=SHORT))
            assert o.state is OrderState.FILLED and o.position_side is SHORT
            assert o.to_json()["position_side"] == "SHORT"
            (p,) = await ex.positions()
            assert (p.side, p.qty) == (SHORT, "-0.01")
            # both reduce-only and a leg: REJECTED by the manager, never sent
            n = len(sim.sim_venue.request_log)
            r = await om.place(OrderRequest(VenueId.binanceusdm, PERP, Side.BUY, OrderType.MARKET, "0.010",
                                            reduce_only=True, position_side=SHORT))
            assert r.state is OrderState.REJECTED and "reduce-only" in r.error
            assert len(sim.sim_venue.request_log) == n
        finally:
            await om.close()


async def test_account_update_sides_and_time():
    async with usdm() as (sim, a, ex):
        seen: list[Position] = []
        ex.on_position = seen.append
        row = {"s": VENUE_SYMBOL, "pa": "0.010", "ep": "60000.10", "bep": "0", "cr": "0", "up": "1.5",
               "mt": "cross", "iw": "0"}
        bad = ex.bad_events
        ex._on_push({"e": "ACCOUNT_UPDATE", "E": 1700000000123, "T": 1700000000100, "a": {"m": "ORDER", "P": [
            {**row, "ps": "LONG"}, {**row, "pa": "-0.020", "ps": "SHORT"}, {**row, "ps": "BOTH"}, row,
            {**row, "ps": "SIDEWAYS"}]}})
        assert ex.bad_events == bad + 1                  # an unknown side: counted and dropped
        assert [(p.side, p.qty) for p in seen] == [(LONG, "0.01"), (SHORT, "-0.02"), (NET, "0.01"), (NET, "0.01")]
        assert {p.ts_exchange for p in seen} == {1700000000100 * 1_000_000}     # T, in ns
        seen.clear()
        ex._on_push({"e": "ACCOUNT_UPDATE", "E": 1700000000123, "a": {"P": [row]}})
        assert seen[0].ts_exchange == 1700000000123 * 1_000_000                 # E where T is absent
        assert Position(VenueId.binanceusdm, PERP, "0", "0", "0").to_json()["side"] == "NET"


def test_position_side_refused_on_spot():
    spot = Instrument(VenueId.binance, "BTCUSDT", "BTC/USDT", "BTC", "USDT", 2, 5, 1, 1)
    o = Order(VenueId.binance, "BTC/USDT", "s-1", Side.BUY, OrderType.LIMIT, "0.001", "60000", TimeInForce.GTC)
    assert checked_units(spot, o, "binance") == (100, 6000000)
    with pytest.raises(Rejected, match="spot"):
        checked_units(spot, replace(o, position_side=LONG), "binance")
    swap = replace(spot, kind=MarketKind.SWAP)
    assert checked_units(swap, replace(o, position_side=LONG), "binance") == (100, 6000000)
