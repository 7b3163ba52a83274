"""Binance USD-M order entry end to end: ``BinanceUsdmExecution`` against the USD-M simulator on
127.0.0.1 (signed REST, the WebSocket API and the listen-key user stream): orders modified in
place, over the WebSocket API while it is up and REST while it is down, a lost answer settled by
the order manager, positions and balances read back from the venue's own endpoints and checked
exactly, open interest from REST."""
from __future__ import annotations

import asyncio
import contextlib
import json
from decimal import Decimal
from typing import AsyncIterator

import aiohttp
import pytest

from venuelink.adapters.binanceusdm.adapter import BinanceUsdmAdapter
from venuelink.adapters.binance.usage import usage_headers
from venuelink.adapters.binanceusdm.execution import BinanceUsdmExecution, order_socket_url
from venuelink.budget import VenueBudget
from venuelink.config import Credentials, Secret, VenueConfig
from venuelink.derivatives import DerivKind
from venuelink.errors import ExecutionUnknown, Rejected, UnknownOrder
from venuelink.model import Balance, Order, OrderRequest, OrderState, OrderType, Position, Side, TimeInForce, VenueId
from venuelink.orders import OrderManager
from venuelink.rest import RestClient
from venuelink.sim.server import RunningSim, in_process_simulator
from tests.waiting import wait_for

PERP, VENUE_SYMBOL = "BTC/USDT:USDT", "BTCUSDT"
TAKER, LEVERAGE = Decimal("0.0005"), 20


@contextlib.asynccontextmanager
async def usdm(endpoints: dict[str, str] | None = None,
               **opts) -> AsyncIterator[tuple[RunningSim, BinanceUsdmAdapter, BinanceUsdmExecution]]:
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
                              VenueConfig(name="binanceusdm", rest_url=sim.rest_url, endpoints=endpoints or {}))
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
        (pos,) = await ex.positions()
        assert pos.ts_exchange > 0                                # positionRisk's updateTime, in ns
        assert pos == Position(VenueId.binanceusdm, PERP, "0.01", text(entry), text(upl), "USDT",
                               ts_exchange=pos.ts_exchange)

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


async def admin(sim: RunningSim, path: str, body: dict) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.post(sim.admin_url + path, json=body) as r:
            assert r.status == 200, await r.text()


def far_buy(sim: RunningSim, cid: str) -> Order:
    bid, _ = best(sim)
    return order(cid, qty="0.010", price=text((bid * Decimal("0.95")).quantize(Decimal("0.1"))))


def test_order_socket_url():
    prod = "wss://ws-fapi.binance.com/ws-fapi/v1"
    assert order_socket_url("", "wss://fstream.binance.com/private") == prod
    assert order_socket_url("", "") == prod
    assert order_socket_url("wss://elsewhere/ws-fapi/v1", "wss://fstream.binance.com/private") == "wss://elsewhere/ws-fapi/v1"
    # a user stream configured elsewhere (a simulator, a gateway): never production's order socket
    assert order_socket_url("", "ws://127.0.0.1:4100/private") == "ws://127.0.0.1:4100/ws-fapi/v1"


async def test_orders_over_the_ws_api_rest_while_it_is_down():
    async with usdm() as (sim, a, ex):
        assert a.spec.ws_order_entry
        ex.start(sim.ws_private_url, lambda: None)
        assert ex.order_ws.url == sim.ws_fapi_url
        assert await wait_for(lambda: ex.stream_connected and ex.orders_connected)
        o = far_buy(sim, "ws-1")
        ack = await ex.place(o)
        assert ack.state is OrderState.NEW and ack.client_order_id == "ws-1" and ack.venue_order_id
        o.venue_order_id = ack.venue_order_id
        assert (ex.ws_orders, ex.rest_orders) == (1, 0)
        assert a.rest_cost("POST", "/fapi/v1/order")[0]["ORDERS_10S"] == 1
        assert ex.rest.budget.utilization()["ORDERS_10S"] > 0           # the REST budget is spent the same
        lower = text(Decimal(o.price) - Decimal("2.5"))
        u = await ex.amend(o, "0.020", lower)
        assert (u.venue_order_id, u.qty, u.price, u.state) == (ack.venue_order_id, "0.02", lower, OrderState.NEW)
        o.qty, o.price = "0.020", lower
        u = await ex.amend(o, "0.020", lower)                # nothing to change (-5027): the query answers
        assert (u.qty, u.price) == ("0.02", lower)
        assert (ex.ws_orders, ex.rest_orders) == (3, 0)

        # a refusal over the socket maps as over REST (the futures codes)
        _, ask = best(sim)
        with pytest.raises(Rejected) as exc:
            await ex.place(order("ws-gtx", qty="0.010", price=text(ask + Decimal(5)), tif=TimeInForce.POST_ONLY))
        assert exc.value.code == -5022 and ex.ws_orders == 4

        # the socket down (kept down: a long backoff): REST instead, the user stream aside
        ex.order_ws.backoff_min_s = 30.0
        await admin(sim, "/fault", {"type": "disconnect", "scope": "user"})
        assert await wait_for(lambda: not ex.orders_connected)
        c = await ex.cancel(o)
        assert c.state is OrderState.CANCELED and c.client_order_id == "ws-1"
        r = await ex.place(far_buy(sim, "rest-1"))
        assert r.state is OrderState.NEW and (ex.ws_orders, ex.rest_orders) == (4, 2)
        # the venue answers: reconnect at once, and orders go over the socket again
        ex.reconnect_now()
        assert await wait_for(lambda: ex.orders_connected)
        c = await ex.cancel(far_buy(sim, "rest-1"))
        assert c.state is OrderState.CANCELED and (ex.ws_orders, ex.rest_orders) == (5, 2)


async def test_configured_ws_api_endpoint_wins():
    async with usdm() as (sim, _, _x):
        url = sim.ws_fapi_url
    async with usdm(endpoints={"ws_api": "ws://127.0.0.1:9/ws-fapi/v1"}) as (sim, a, ex):
        assert ex.ws_api_url == "ws://127.0.0.1:9/ws-fapi/v1" != url
        ex.start(sim.ws_private_url, lambda: None)
        assert ex.order_ws.url == "ws://127.0.0.1:9/ws-fapi/v1"
        assert await wait_for(lambda: ex.stream_connected)
        # nothing listens there: orders go over REST
        assert (await ex.place(far_buy(sim, "cfg-1"))).state is OrderState.NEW
        assert (ex.ws_orders, ex.rest_orders) == (0, 1)


async def test_lost_ws_answer_is_reconciled_never_rejected():
    async with usdm() as (sim, a, ex):
        om = OrderManager(ex, reconcile_interval_s=0.05, ack_timeout_s=2.0)
        ex.on_update = om.on_venue_update
        ex.start(sim.ws_private_url, lambda: None)
        try:
            assert await wait_for(lambda: ex.stream_connected and ex.orders_connected)
            bid, _ = best(sim)
            px = text((bid * Decimal("0.95")).quantize(Decimal("0.1")))
            # executed by the venue, the answer never comes within the socket's timeout
            ex.ws_timeout_s = 0.3
            await admin(sim, "/fault", {"type": "order", "mode": "timeout", "hold_s": 1.5})
            o = await om.place(OrderRequest(VenueId.binanceusdm, PERP, Side.BUY, OrderType.LIMIT, "0.010", px))
            assert o.state is not OrderState.REJECTED and ex.ws_orders == 1 and ex.rest_orders == 0
            assert await wait_for(lambda: o.state is OrderState.NEW and o.venue_order_id != "")
            # the venue's "status unknown" answer on the socket: the same
            ex.ws_timeout_s = 5.0
            await admin(sim, "/fault", {"type": "order", "mode": "unknown"})
            with pytest.raises(ExecutionUnknown):
                await ex.place(far_buy(sim, "lost-2"))
            o2 = await om.place(OrderRequest(VenueId.binanceusdm, PERP, Side.BUY, OrderType.LIMIT, "0.010", px))
            assert o2.state is OrderState.NEW and ex.ws_orders == 3
            await admin(sim, "/fault", {"type": "order", "mode": "unknown"})
            o3 = await om.place(OrderRequest(VenueId.binanceusdm, PERP, Side.BUY, OrderType.LIMIT, "0.010", px))
            assert o3.state is not OrderState.REJECTED
            assert await wait_for(lambda: o3.state is OrderState.NEW)
            for x in (o, o2, o3):
                await om.cancel(x.client_order_id)
            assert await wait_for(lambda: all(x.state is OrderState.CANCELED for x in (o, o2, o3)))
        finally:
            await om.close()


async def test_rate_refusal_and_ban_on_the_ws_api_block_the_budget_as_over_rest():
    from venuelink.circuit import CircuitState, FailureKind
    from venuelink.errors import IpBanned, RateLimited
    async with usdm() as (sim, a, ex):
        ex.start(sim.ws_private_url, lambda: None)
        assert await wait_for(lambda: ex.orders_connected)
        await admin(sim, "/fault", {"type": "rate_limit", "retry_after_s": 2})
        with pytest.raises(RateLimited) as exc:
            await ex.place(far_buy(sim, "rl-1"))
        assert 1 <= exc.value.retry_after_s <= 2 and ex.rest.breaker.state == CircuitState.CLOSED
        assert ex.rest.budget.rate_refusals == 1
        await admin(sim, "/fault", {"type": "clear"})
        await admin(sim, "/fault", {"type": "ban", "seconds": 3})
        await asyncio.sleep(2.1)                     # the rate block over
        with pytest.raises(IpBanned) as exc:
            await ex.place(far_buy(sim, "ban-1"))
        # the order path's breaker opens for the ban, as after REST's 418
        assert exc.value.retry_after_s >= 1
        assert ex.rest.breaker.state == CircuitState.OPEN and ex.rest.breaker.last_failure == FailureKind.BANNED
        assert ex.ws_orders == 2 and ex.rest_orders == 0


def test_ws_api_rate_limits_read_as_the_rest_headers_of_the_same_counters():
    headers, bad = usage_headers([
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400, "count": 71},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300, "count": 3},
        {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000, "count": 9},
        {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000, "count": 4},
        {"rateLimitType": "ORDERS", "interval": "WEEK", "intervalNum": 1, "limit": 1, "count": 1},
        {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200, "count": "7"},
        "junk",
    ])
    assert headers == {"x-mbx-used-weight-1m": "71", "x-mbx-order-count-10s": "3", "x-mbx-order-count-1d": "9"}
    assert bad == 3
    assert usage_headers(None) == ({}, 0) and usage_headers({"count": 1}) == ({}, 1)


async def test_ws_api_replies_keep_the_budget_at_the_venues_count():
    """Weight spent at the venue by someone else on this IP (another process, a tool) is in the
    budget after one order over the WebSocket API: the reply's rateLimits are its headers."""
    async with usdm() as (sim, a, ex):
        ex.start(sim.ws_private_url, lambda: None)
        assert await wait_for(lambda: ex.stream_connected and ex.orders_connected)
        async with aiohttp.ClientSession() as s:          # outside the engine's budget
            for _ in range(12):
                async with s.get(sim.rest_url + "/fapi/v1/depth", params={"symbol": VENUE_SYMBOL, "limit": "1000"}) as r:
                    assert r.status == 200
                    venue_weight = int(r.headers["X-MBX-USED-WEIGHT-1M"])
        assert venue_weight >= 12 * 20
        before = ex.rest.budget.utilization()["REQUEST_WEIGHT"]
        assert before * 2400 < 12 * 20                    # the budget never saw those requests
        ack = await ex.place(far_buy(sim, "ws-usage"))
        assert ack.state is OrderState.NEW and ex.ws_orders == 1 and ex.rest_orders == 0
        assert ex.rest.budget.utilization()["REQUEST_WEIGHT"] * 2400 >= venue_weight
        assert ex.order_ws.dialect.usage_errors == 0
