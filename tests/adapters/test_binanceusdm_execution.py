"""Binance USD-M order entry end to end: ``BinanceUsdmExecution`` against the USD-M simulator on
127.0.0.1 (signed REST and the listen-key user stream): orders modified in place, positions and
balances read back from the venue's own endpoints and checked exactly, open interest from REST."""
from __future__ import annotations

import contextlib
import json
from decimal import Decimal
from typing import AsyncIterator

import aiohttp
import pytest

from adapters.binanceusdm.adapter import BinanceUsdmAdapter
from adapters.binanceusdm.execution import BinanceUsdmExecution
from engine.budget import VenueBudget
from engine.config import Credentials, Secret, VenueConfig
from engine.derivatives import DerivKind
from engine.errors import Rejected, UnknownOrder
from engine.model import Balance, Order, OrderState, OrderType, Position, Side, TimeInForce, VenueId
from engine.rest import RestClient
from engine.sim.server import RunningSim, in_process_simulator
from tests.waiting import wait_for

PERP, VENUE_SYMBOL = "BTC/USDT:USDT", "BTCUSDT"
TAKER, LEVERAGE = Decimal("0.0005"), 20


@contextlib.asynccontextmanager
async def usdm(**opts) -> AsyncIterator[tuple[RunningSim, BinanceUsdmAdapter, BinanceUsdmExecution]]:
    """The simulator in this process with a still market (rate 0: it moves only when a test
    trades through it), and a BinanceUsdmExecution on it with the simulator's keys."""
    async with in_process_simulator("binanceusdm", rate=0, taker_fee=str(TAKER), leverage=LEVERAGE, **opts) as sim:
        a = BinanceUsdmAdapter()
        insts = []
        async with aiohttp.ClientSession() as s:
            for path, params in a.instrument_requests():
                async with s.get(sim.rest_url + path, params=params) as r:
                    insts += a.parse_instruments(await r.read())
        a.set_instruments(insts)
        rest = RestClient("binanceusdm", sim.rest_url, VenueBudget(a.spec), map_error=a.map_error,
                          classify=a.classify_response)
        ex = a.make_execution(rest, Credentials(Secret(sim.api_key), Secret(sim.api_secret)),
                              VenueConfig(name="binanceusdm", rest_url=sim.rest_url))
        try:
            yield sim, a, ex
        finally:
            await ex.close()
            await rest.close()


def order(cid: str, side=Side.BUY, qty="0.010", price: str | None = None, tif=TimeInForce.GTC) -> Order:
    return Order(venue=VenueId.binanceusdm, symbol=PERP, client_order_id=cid, side=side,
                 type=OrderType.LIMIT if price is not None else OrderType.MARKET, qty=qty, price=price, tif=tif)


def best(sim: RunningSim) -> tuple[Decimal, Decimal]:
    m = sim.sim_venue.markets[VENUE_SYMBOL]
    return m.price_scale.to_decimal(m.best_bid()[0]), m.price_scale.to_decimal(m.best_ask()[0])


def mark(sim: RunningSim) -> Decimal:
    """The simulator's mark price: the mid of the book in whole ticks."""
    m = sim.sim_venue.markets[VENUE_SYMBOL]
    return m.price_scale.to_decimal((m.best_bid()[0] + m.best_ask()[0]) // 2)


def text(d: Decimal) -> str:
    """A decimal as the engine writes it: no exponent, no trailing zeros."""
    s = f"{d:f}"
    return s.rstrip("0").rstrip(".") if "." in s else s


async def test_amend_price_and_qty_in_place():
    async with usdm() as (sim, a, ex):
        updates = []
        ex.on_update = updates.append
        ex.start(sim.ws_private_url, lambda: None)
        assert await wait_for(lambda: ex.stream_connected)
        bid, _ = best(sim)
        far = text((bid * Decimal("0.95")).quantize(Decimal("0.1")))
        o = order("am-1", qty="0.010", price=far)
        ack = await ex.place(o)
        assert ack.state is OrderState.NEW and ack.venue_order_id
        o.venue_order_id, o.state = ack.venue_order_id, ack.state

        lower = text(Decimal(far) - Decimal("2.5"))
        u = await ex.amend(o, None, lower)                   # the price only: the qty is sent as it is
        assert (u.client_order_id, u.venue_order_id) == ("am-1", ack.venue_order_id)
        assert u.state is OrderState.NEW and u.price == lower and u.qty == "0.01" and u.ts_exchange > 0
        o.price = lower
        u = await ex.amend(o, "0.025", None)                 # the qty only
        assert u.qty == "0.025" and u.price == lower and u.venue_order_id == ack.venue_order_id
        o.qty = "0.025"
        q = await ex.query(o)                                # the venue's own word
        assert (q.state, q.qty, q.price, q.filled_qty) == (OrderState.NEW, "0.025", lower, "0")
        # the user stream reports each modification with the new terms, no fill
        assert await wait_for(lambda: any(x.qty == "0.025" and x.price == lower for x in updates))
        assert all(x.fill is None and x.client_order_id == "am-1" for x in updates)

        # the terms it already has: the venue says there is nothing to do; the query answers
        u = await ex.amend(o, "0.025", lower)
        assert (u.state, u.qty, u.price) == (OrderState.NEW, "0.025", lower)
        # off the tick: refused before sending
        with pytest.raises(Rejected, match="tick"):
            await ex.amend(o, None, text(Decimal(lower) + Decimal("0.05")))

        c = await ex.cancel(o)
        assert c.state is OrderState.CANCELED
        with pytest.raises(UnknownOrder) as exc:
            await ex.amend(o, None, far)
        assert exc.value.code == -2013


async def test_amend_cost_is_an_order():
    a = BinanceUsdmAdapter()
    assert a.rest_cost("PUT", "/fapi/v1/order") == a.rest_cost("POST", "/fapi/v1/order")
    w, _ = a.rest_cost("PUT", "/fapi/v1/order")
    assert w == {"REQUEST_WEIGHT": 0, "ORDERS_10S": 1, "ORDERS_1M": 1}


async def test_amend_crossing_price_trades_and_post_only_that_would_take_is_canceled():
    async with usdm() as (sim, a, ex):
        bid, ask = best(sim)
        o = order("am-x", qty="0.010", price=text(bid - Decimal(50)))
        o.venue_order_id = (await ex.place(o)).venue_order_id
        u = await ex.amend(o, None, text(ask + Decimal(5)))   # now crosses: takes at once
        assert u.state is OrderState.FILLED and u.filled_qty == "0.01"

        g = order("am-gtx", side=Side.SELL, qty="0.010", price=text(ask + Decimal(100)), tif=TimeInForce.POST_ONLY)
        g.venue_order_id = (await ex.place(g)).venue_order_id
        bid, ask = best(sim)
        with pytest.raises(UnknownOrder) as exc:
            await ex.amend(g, None, text(bid - Decimal(5)))
        assert exc.value.code == -5022
        assert (await ex.query(g)).state is OrderState.CANCELED


async def test_positions_and_balances_exact():
    async with usdm() as (sim, a, ex):
        assert await ex.positions() == []
        assert await ex.balances() == [Balance(VenueId.binanceusdm, "USDT", "100000", "0")]

        _, ask = best(sim)
        u = await ex.place(order("pos-open", qty="0.010"))       # a market buy opens a long
        assert u.state is OrderState.FILLED
        fills = await ex.recent_fills(PERP, 0)
        assert fills and sum(Decimal(f.qty) for f in fills) == Decimal("0.01")
        entry = sum(Decimal(f.price) * Decimal(f.qty) for f in fills) / Decimal("0.01")
        assert entry == ask                                       # one level deep enough: the best ask
        m = mark(sim)
        upl = (Decimal("0.01") * (m - entry)).quantize(Decimal("0.00000001"))
        assert await ex.positions() == [Position(VenueId.binanceusdm, PERP, "0.01", text(entry), text(upl), "USDT")]

        notional = Decimal("0.01") * entry
        fee = sum(Decimal(f.fee) for f in fills)
        assert fee == notional * TAKER and {f.fee_asset for f in fills} == {"USDT"}
        margin = notional / LEVERAGE
        assert await ex.balances() == [Balance(VenueId.binanceusdm, "USDT", text(Decimal(100000) - fee - margin),
                                               text(margin))]

        u = await ex.place(order("pos-close", side=Side.SELL, qty="0.010"))   # a sell closes it
        assert u.state is OrderState.FILLED
        assert await ex.positions() == []
        [b] = await ex.balances()
        assert b.locked == "0" and Decimal(b.free) < Decimal(100000)


async def test_open_interest_from_rest():
    async with usdm() as (sim, a, ex):
        inst = a.instrument(PERP)
        path, params = a.open_interest_request(inst)
        assert (path, params) == ("/fapi/v1/openInterest", {"symbol": VENUE_SYMBOL})
        assert a.rest_cost("GET", path, params)[0] == {"REQUEST_WEIGHT": 1}
        async with aiohttp.ClientSession() as s:
            async with s.get(sim.rest_url + path, params=params) as r:
                body = await r.read()
        raw = json.loads(body)["openInterest"]
        ev = a.parse_open_interest(inst, body)
        assert ev.instrument is inst and ev.kind is DerivKind.OPEN_INTEREST and ev.ts_exchange > 0
        assert ev.problem() is None and Decimal(ev.to_json()["size"]) == Decimal(raw)
        # finer than the lot: its own scale, never rounded
        fine = a.parse_open_interest(inst, b'{"openInterest":"10659.50912","symbol":"BTCUSDT","time":1589437530011}')
        assert (fine.size, fine.scale, fine.size_scale) == (1065950912, 5, 5)
        assert fine.ts_exchange == 1589437530011 * 1_000_000 and fine.to_json()["size"] == "10659.50912"
        coarse = a.parse_open_interest(inst, b'{"openInterest":"10","symbol":"BTCUSDT","time":1}')
        assert coarse.scale == inst.qty_scale and coarse.to_json()["size"] == "10"
        for bad in (b'{"openInterest":"1.0","symbol":"ETHUSDT","time":1}',
                    b'{"openInterest":"-1","symbol":"BTCUSDT","time":1}',
                    b'{"openInterest":1.5,"symbol":"BTCUSDT","time":1}', b'{"symbol":"BTCUSDT","time":1}', b"[]"):
            with pytest.raises(ValueError, match="open interest"):
                a.parse_open_interest(inst, bad)
