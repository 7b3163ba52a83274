# SPDX-License-Identifier: Apache-2.0
"""Binance's user data stream on the shared private WS session, against the Binance simulator."""
from __future__ import annotations

import logging

from venuelink.adapters.binance.execution import BinanceExecution, BinanceUserStreamDialect
from venuelink.errors import AuthError, TimestampError
from venuelink.model import OrderState, OrderType, OrderRequest, Side, VenueId
from venuelink.orders import ExecutionClient
from venuelink.private_ws import MsgKind
from tests.engine.conftest import admin, engine_for
from tests.engine.test_binance_engine import wait_for

BTC = "BTC/USDT"


def test_binance_execution_states_the_execution_client_protocol():
    assert ExecutionClient in BinanceExecution.__mro__        # explicit, so mypy checks the signatures
    d = BinanceUserStreamDialect()
    assert d.classify({"subscriptionId": 0, "event": {"e": "executionReport"}}) == (MsgKind.PUSH, None)
    assert d.classify({"id": 7, "status": 200, "result": {}}) == (MsgKind.REPLY, 7)
    assert d.classify({"id": None, "status": 400, "error": {"code": -1135, "msg": "Invalid JSON"}})[0] is MsgKind.ERROR
    assert d.classify([1])[0] is MsgKind.UNKNOWN and d.classify({"id": True, "status": 200})[0] is MsgKind.UNKNOWN
    err = d.login_error({"id": "uds", "status": 400, "error": {"code": -1021, "msg": "Timestamp outside recvWindow"}})
    assert isinstance(err, TimestampError) and "subscribe refused" in str(err)


async def test_wrong_secret_user_stream_login_is_a_counted_auth_error(sim, caplog):
    caplog.set_level(logging.DEBUG)
    async with engine_for(sim, secret="not-the-secret-0123456789") as eng:
        await eng.start(market_data=False)
        rt = eng.runtime("binance")
        ws = rt.execution.private_ws
        assert await wait_for(lambda: ws.login_failures >= 1, 10)
        assert isinstance(ws.last_error, AuthError) and ws.last_error.code == -1022
        assert "subscribe refused" in str(ws.last_error)
        assert not rt.execution.stream_connected and ws.connects == 0
        text = caplog.text + repr(rt.execution) + repr(ws) + str(ws.last_error)
        assert sim["api_key"] not in text and "not-the-secret-0123456789" not in text


async def test_login_refused_for_its_timestamp_resyncs_the_clock_and_reconnects(sim):
    async with engine_for(sim) as eng:
        await eng.start(market_data=False)
        rt = eng.runtime("binance")
        ws = rt.execution.private_ws
        assert await wait_for(lambda: rt.execution.stream_connected, 10)
        rt.execution.clock_offset_ms -= 120_000        # our idea of the venue clock drifted two minutes
        await admin(sim, "POST", "/fault", {"type": "disconnect", "scope": "user"})
        assert await wait_for(lambda: ws.login_failures >= 1, 10)
        assert await wait_for(lambda: rt.execution.stream_connected and ws.reconnects == 1, 15)
        assert abs(rt.execution.clock_offset_ms) < 60_000
        # and the stream carries updates again
        seen = []
        eng.subscribe_orders("binance", on_update=lambda o: seen.append(o.state))
        o = await eng.place(OrderRequest(VenueId.binance, BTC, Side.BUY, OrderType.LIMIT, "0.001", "1000"))
        assert o.state == OrderState.NEW
        await eng.cancel("binance", o.client_order_id)
        assert await wait_for(lambda: o.state == OrderState.CANCELED, 10)
