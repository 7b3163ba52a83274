"""Bybit order entry end to end: ``BybitExecution`` against the Bybit simulator on 127.0.0.1 (signed
REST, the order-entry socket /v5/trade and the private stream /v5/private): orders over the
socket while it is up and REST while it is down, a duplicate orderLinkId after a lost answer
reconciled as placed, PartiallyFilledCanceled as canceled with its fills, a wrong secret refused
without a secret in any message, the per-endpoint limit kept from the venue's own headers."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from decimal import Decimal
from typing import AsyncIterator

import aiohttp
import pytest

from venuelink.adapters.bybit.adapter import BybitAdapter
from venuelink.adapters.bybit.execution import BybitExecution, trade_socket_url
from venuelink.budget import VenueBudget
from venuelink.config import Credentials, Secret, VenueConfig
from venuelink.errors import AuthError, ExecutionUnknown, Rejected, UnknownOrder
from venuelink.model import Order, OrderState, OrderType, Side, TimeInForce, VenueId
from venuelink.rest import RestClient
from venuelink.sim.server import RunningSim, in_process_simulator
from tests.waiting import wait_for

SPOT, PERP = "BTC/USDT", "BTC/USDT:USDT"


@contextlib.asynccontextmanager
async def bybit(secret: str | None = None, **opts) -> AsyncIterator[tuple[RunningSim, BybitAdapter, BybitExecution]]:
    """The simulator in this process with a still market (rate 0), and an execution client on it."""
    async with in_process_simulator("bybit", rate=0, **opts) as sim:
        a = BybitAdapter()
        insts = []
        async with aiohttp.ClientSession() as s:
            for path, params in a.instrument_requests():
                async with s.get(sim.rest_url + path, params=params) as r:
                    insts += a.parse_instruments(await r.read())
        a.set_instruments(insts)
        rest = RestClient("bybit", sim.rest_url, VenueBudget(a.spec), map_error=a.map_error,
                          classify=a.classify_response)
        ex = a.make_execution(rest, Credentials(Secret(sim.api_key), Secret(secret or sim.api_secret)),
                              VenueConfig(name="bybit", rest_url=sim.rest_url))
        try:
            yield sim, a, ex
        finally:
            await ex.close()
            await rest.close()


def order(cid: str, symbol=SPOT, side=Side.BUY, qty="0.001", price: str | None = "1000",
          tif=TimeInForce.GTC) -> Order:
    return Order(venue=VenueId.bybit, symbol=symbol, client_order_id=cid, side=side,
                 type=OrderType.LIMIT if price is not None else OrderType.MARKET, qty=qty, price=price, tif=tif)


async def _sim(sim: RunningSim, method: str, path: str, body=None):
    async with aiohttp.ClientSession() as s:
        async with s.request(method, f"{sim.admin_url}{path}", json=body) as r:
            assert r.status == 200, await r.text()
            return await r.json()


async def test_rest_orders_queries_and_the_venues_refusals():
    async with bybit() as (sim, a, ex):
        await ex.sync_time()
        u = await ex.place(order("vlr1"))
        assert u.state is OrderState.NEW and u.venue_order_id and ex.rest_orders == 1
        q = await ex.query(order("vlr1"))
        assert (q.state, q.qty, q.price, q.side) == (OrderState.NEW, "0.001", "1000", Side.BUY)
        assert [o.client_order_id for o in await ex.open_orders(SPOT)] == ["vlr1"]
        # the same orderLinkId again: the order exists (a lost answer's retry), never placed twice
        with pytest.raises(ExecutionUnknown, match="110072"):
            await ex.place(order("vlr1"))
        assert len(await ex.open_orders(SPOT)) == 1
        a1 = await ex.amend(order("vlr1"), None, "1001")
        assert a1.price == "1001" and (await ex.query(order("vlr1"))).price == "1001"
        await ex.cancel(order("vlr1"))
        assert (await ex.query(order("vlr1"))).state is OrderState.CANCELED
        with pytest.raises(UnknownOrder):
            await ex.cancel(order("vlr1"))
        with pytest.raises(UnknownOrder):
            await ex.query(order("vl-never-placed"))
        with pytest.raises(Rejected):
            await ex.place(order("vlr2", qty="50000"))                  # far beyond the balance


async def test_a_perpetual_fills_with_its_fee_and_position_and_the_balances_follow():
    async with bybit() as (sim, a, ex):
        before = {b.asset: Decimal(b.free) for b in await ex.balances()}
        u = await ex.place(order("vlp1", symbol=PERP, side=Side.SELL, qty="0.010", price=None))
        assert u.state is OrderState.NEW
        q = await ex.query(order("vlp1", symbol=PERP))
        assert q.state is OrderState.FILLED and q.filled_qty == "0.01"
        fills = await ex.recent_fills(PERP, 0)
        assert fills and sum(Decimal(f.qty) for f in fills) == Decimal("0.01")
        assert all(f.symbol == PERP and f.fee_asset == "USDT" and Decimal(f.fee) > 0 and not f.is_maker for f in fills)
        pos = await ex.positions()
        assert [(p.symbol, p.qty, p.settle) for p in pos] == [(PERP, "-0.01", "USDT")]
        after = {b.asset: Decimal(b.free) for b in await ex.balances()}
        assert after["USDT"] < before["USDT"]                          # margin held, fee paid


async def test_orders_go_over_the_trade_socket_and_pushes_come_on_the_private_stream():
    async with bybit() as (sim, a, ex):
        got = []
        ex.on_update = got.append
        assert trade_socket_url("wss://stream.bybit.com/v5/private") == "wss://stream.bybit.com/v5/trade"
        await ex.sync_time()
        ex.start(sim.ws_api_url, lambda: None)
        assert await wait_for(lambda: ex.stream_connected and ex.orders_connected, 10)
        u = await ex.place(order("vlw1", price=None, qty="0.002"))       # a market buy: fills at once
        assert u.state is OrderState.NEW and (ex.ws_orders, ex.rest_orders) == (1, 0)
        assert await wait_for(lambda: any(x.fill is not None and x.client_order_id == "vlw1" for x in got), 10)
        assert await wait_for(lambda: any(x.state is OrderState.FILLED and x.client_order_id == "vlw1" for x in got), 10)
        fill = next(x.fill for x in got if x.fill is not None)
        assert fill.side is Side.BUY and fill.fee_asset == "BTC" and Decimal(fill.qty) > 0
        r = await ex.place(order("vlw2"))
        await ex.cancel(order("vlw2"))
        assert r.state is OrderState.NEW and (ex.ws_orders, ex.rest_orders) == (3, 0)
        assert await wait_for(lambda: any(x.state is OrderState.CANCELED and x.client_order_id == "vlw2" for x in got), 10)
        with pytest.raises(ExecutionUnknown, match="110072"):           # refused on the socket, as over REST
            await ex.place(order("vlw2"))
        # the order socket down: REST instead
        ex.orders_socket.session.backoff_min_s = 30.0
        await ex.orders_socket.session.close()
        assert not ex.orders_connected
        await ex.place(order("vlw3"))
        assert ex.rest_orders == 1


async def test_a_wrong_secret_is_an_auth_error_without_the_secret(caplog):
    caplog.set_level(logging.DEBUG)
    async with bybit(secret="not-the-secret-31") as (sim, a, ex):
        with pytest.raises(AuthError):
            await ex.place(order("vla1"))
        ex.start(sim.ws_api_url, lambda: None)
        assert await wait_for(lambda: ex.private_ws.login_failures >= 1, 10)
        assert isinstance(ex.private_ws.last_error, AuthError)
    assert "not-the-secret-31" not in caplog.text and sim.api_secret not in caplog.text


async def test_the_endpoint_limit_from_the_venues_headers_holds_the_bucket_not_the_others():
    async with bybit(limit=["SPOT_CREATE_1S=1"]) as (sim, a, ex):
        await ex.place(order("vll1"))
        # the answer said none are left in this second (X-Bapi-Limit-Status 0 of 1): the bucket is
        # full by the venue's count though ours allows 10, so the next place waits for the window
        # instead of being refused
        assert ex.rest.budget.utilization()["SPOT_CREATE_1S"] >= 1.0
        assert ex.rest.budget.utilization()["SPOT_CANCEL_1S"] == 0 and ex.rest.budget.utilization()["CREATE_1S"] == 0
        await ex.place(order("vll2"))
        log = (await _sim(sim, "GET", "/requests"))["requests"]
        assert [s for _, m, p, s, *_ in log if p == "/v5/order/create"] == [200, 200]
        await ex.cancel(order("vll1"))                                  # another endpoint: not held


async def test_disconnect_cancel_all_cancels_after_the_window_unless_disarmed():
    async with bybit() as (sim, a, ex):
        await ex.sync_time()
        ex.start(sim.ws_api_url, lambda: None)
        assert await wait_for(lambda: ex.stream_connected, 10)
        await ex.arm_dead_man(3)                                        # subscribes dcp.spot / dcp.future
        assert set(ex.private_ws.dialect.topics) >= {"dcp.spot", "dcp.future"}
        await ex.place(order("vld1"))
        await ex.arm_dead_man(0)                                        # a graceful close: unsubscribed
        await ex.arm_dead_man(3)                                        # armed again
        with pytest.raises(ValueError):
            await ex.arm_dead_man(301)
        # the process dies: its connections are gone without a word; Bybit cancels after the window
        ex.private_ws.backoff_min_s = ex.private_ws.backoff_max_s = 60.0
        await ex.private_ws.close()
        await ex.orders_socket.session.close()
        assert (await ex.query(order("vld1"))).state is OrderState.NEW  # inside the window: still open
        for _ in range(40):
            state = (await ex.query(order("vld1"))).state
            if state is not OrderState.NEW:
                break
            await asyncio.sleep(0.2)
        assert state is OrderState.CANCELED
