"""OKX USDT swaps end to end: ``OkxExecution`` against the real OKX simulator on 127.0.0.1 (REST
and the private WebSocket), the simulated market trading through resting orders, positions and
balances read back from the venue's own endpoints and checked exactly."""
from __future__ import annotations

import asyncio
import contextlib
import time
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_UP, Decimal
from typing import AsyncIterator

import aiohttp
import pytest

from venuelink.adapters.okx import errors
from venuelink.adapters.okx.adapter import OkxAdapter
from venuelink.adapters.okx.execution import FILLS_PATH, ORDER_PATH, OkxExecution
from venuelink.budget import VenueBudget
from venuelink.config import Credentials, Secret, VenueConfig
from venuelink.errors import Rejected
from venuelink.model import Order, OrderState, OrderType, Side, TimeInForce, VenueId
from venuelink.rest import RestClient
from venuelink.sim.market import SELL, Batch
from venuelink.sim.server import RunningSim, in_process_simulator
from tests.waiting import wait_for

SWAP, INST = "BTC/USDT:USDT", "BTC-USDT-SWAP"
CT = Decimal("0.01")                          # BTC per contract (ctVal)
MAKER, TAKER = Decimal("0.0002"), Decimal("0.0005")
Q8 = Decimal("0.00000001")
POSITIONS_PATH, BALANCE_PATH = "/api/v5/account/positions", "/api/v5/account/balance"


@contextlib.asynccontextmanager
async def okx(**opts) -> AsyncIterator[tuple[RunningSim, OkxExecution]]:
    """The simulator in this process with a still market (rate 0: it moves only when a test
    trades through it), and an OkxExecution on it with the simulator's keys."""
    async with in_process_simulator("okx", rate=0, symbols="BTC-USDT-SWAP,BTC-USDT", maker_fee=str(MAKER),
                                    taker_fee=str(TAKER), **opts) as sim:
        a = OkxAdapter()
        insts = []
        async with aiohttp.ClientSession() as s:
            for path, params in a.instrument_requests():
                async with s.get(sim.rest_url + path, params=params) as r:
                    insts += a.parse_instruments(await r.read())
        a.set_instruments(insts)
        rest = RestClient("okx", sim.rest_url, VenueBudget(a.spec), map_error=errors.map_error,
                          classify=errors.classify_response)
        creds = Credentials(Secret(sim.api_key), Secret(sim.api_secret), passphrase=Secret(sim.api_passphrase))
        ex = a.make_execution(rest, creds, VenueConfig(name="okx", rest_url=sim.rest_url))
        try:
            yield sim, ex
        finally:
            await ex.close()
            await rest.close()


def order(cid: str, side=Side.BUY, qty="1", price: str | None = None, *, symbol=SWAP, reduce_only=False) -> Order:
    return Order(venue=VenueId.okx, symbol=symbol, client_order_id=cid, side=side,
                 type=OrderType.LIMIT if price is not None else OrderType.MARKET, qty=qty, price=price,
                 tif=TimeInForce.GTC, reduce_only=reduce_only)


def best(sim: RunningSim) -> tuple[Decimal, Decimal]:
    m = sim.sim_venue.markets[INST]
    return m.price_scale.to_decimal(m.best_bid()[0]), m.price_scale.to_decimal(m.best_ask()[0])


def mark(sim: RunningSim) -> Decimal:
    """The simulator's mark price: the mid of the book in whole ticks."""
    m = sim.sim_venue.markets[INST]
    return m.price_scale.to_decimal((m.best_bid()[0] + m.best_ask()[0]) // 2)


def sell_through(sim: RunningSim, price: Decimal, contracts: Decimal) -> None:
    """A public sell of ``contracts`` at ``price``: fills resting buys above it (as maker)."""
    v = sim.sim_venue
    m = v.markets[INST]
    t = m.record_trade(m.price_scale.parse(price), m.qty_scale.parse(contracts), SELL)
    batch = Batch(INST, 0, 0, [], [], [t], t.ts)
    v.publish(INST, batch, v.engines[INST].on_market(batch))




def fee(price: Decimal, contracts: Decimal, rate: Decimal) -> Decimal:
    return (price * contracts * CT * rate).quantize(Q8, rounding=ROUND_DOWN)


async def test_swap_limit_order_fills_as_the_market_trades_through_it_ws_and_rest():
    async with okx() as (sim, ex):
        got = []
        ex.on_update = got.append
        ex.start(sim.private_ws_url, lambda: None)
        assert await wait_for(lambda: ex.stream_connected)
        bid, _ = best(sim)
        u = await ex.place(order("swapws1", qty="2", price=str(bid)))
        assert u.state is OrderState.NEW and ex.ws_orders == 1 and ex.rest_orders == 0
        mine = lambda st: [x for x in got if x.client_order_id == "swapws1" and x.state is st]
        assert await wait_for(lambda: mine(OrderState.NEW))
        new = mine(OrderState.NEW)[0]
        assert (new.symbol, new.qty, new.filled_qty, new.contract_size) == (SWAP, "2", "0", "0.01")
        # the market sells 0.5 contract below the order's price: a partial maker fill
        sell_through(sim, bid - Decimal("0.1"), Decimal("0.5"))
        assert await wait_for(lambda: mine(OrderState.PARTIALLY_FILLED))
        part = mine(OrderState.PARTIALLY_FILLED)[0]
        f = part.fill
        assert part.filled_qty == "0.5" and f is not None
        assert (f.symbol, f.qty, Decimal(f.price), f.side, f.is_maker, f.fee_asset, f.contract_size) == \
            (SWAP, "0.5", bid, Side.BUY, True, "USDT", "0.01")
        assert Decimal(f.fee) == fee(bid, Decimal("0.5"), MAKER)
        # then more than the rest: filled
        sell_through(sim, bid - Decimal("0.1"), Decimal("5"))
        assert await wait_for(lambda: mine(OrderState.FILLED))
        done = mine(OrderState.FILLED)[0]
        assert (done.filled_qty, done.fill.qty) == ("2", "1.5")
        # a second order canceled over the WebSocket
        far = str(bid - 100)
        await ex.place(order("swapws2", price=far))
        c = await ex.cancel(order("swapws2", price=far))
        assert c.state is OrderState.UNKNOWN and ex.ws_orders == 3
        assert await wait_for(lambda: any(x.client_order_id == "swapws2" and x.state is OrderState.CANCELED
                                          for x in got))
        # refusals come back over the WebSocket too
        with pytest.raises(Rejected) as e:
            await ex.place(order("swapws3", side=Side.BUY, qty="1", reduce_only=True))     # adds to the long
        assert e.value.code == 51170
        # the stream down: REST for orders, queries and fills, sizes still in contracts
        await ex.private_ws.close()
        await ex.place(order("swaprest1", price=far))
        assert ex.rest_orders == 1
        q = await ex.query(order("swaprest1", price=far))
        assert (q.state, q.symbol, q.qty, q.price, q.contract_size) == (OrderState.NEW, SWAP, "1", far, "0.01")
        await ex.cancel(order("swaprest1", price=far))
        assert (await ex.query(order("swaprest1", price=far))).state is OrderState.CANCELED
        fills = [x for x in await ex.recent_fills(SWAP, 0) if x.client_order_id == "swapws1"]
        assert sorted(x.qty for x in fills) == ["0.5", "1.5"]
        assert all(x.fee_asset == "USDT" and x.contract_size == "0.01" and x.is_maker for x in fills)
        assert sum(Decimal(x.fee) for x in fills) == fee(bid, Decimal("0.5"), MAKER) + fee(bid, Decimal("1.5"), MAKER)
        (pos,) = await ex._signed("GET", POSITIONS_PATH, {"instId": INST})
        assert (pos["pos"], Decimal(pos["avgPx"]), pos["posSide"], pos["mgnMode"]) == ("2", bid, "net", "cross")


async def test_market_open_then_reduce_only_close_position_and_balance_exactly():
    async with okx() as (sim, ex):
        start = Decimal(sim.sim_venue.accounts["okx-sim"].bal("USDT").free)
        await ex.place(order("open1", qty="3"))
        f1 = [f for f in await ex.recent_fills(SWAP, 0) if f.client_order_id == "open1"]
        assert f1 and sum(Decimal(f.qty) for f in f1) == 3 and all(not f.is_maker for f in f1)
        value = sum(Decimal(f.price) * Decimal(f.qty) * CT for f in f1)
        fee1 = sum(fee(Decimal(f.price), Decimal(f.qty), TAKER) for f in f1)
        assert sum(Decimal(f.fee) for f in f1) == fee1
        entry = value / (3 * CT)
        imr = (3 * CT * entry / 10).quantize(Q8, rounding=ROUND_UP)
        mk = mark(sim)
        (pos,) = await ex._signed("GET", POSITIONS_PATH, {"instType": "SWAP"})
        assert (pos["instId"], pos["instType"], pos["pos"], pos["posSide"], pos["mgnMode"], pos["lever"],
                pos["ccy"]) == (INST, "SWAP", "3", "net", "cross", "10", "USDT")
        assert Decimal(pos["avgPx"]) == entry and Decimal(pos["imr"]) == imr
        assert Decimal(pos["markPx"]) == mk and Decimal(pos["upl"]) == (mk - entry) * 3 * CT
        assert Decimal(pos["fee"]) == -fee1 and Decimal(pos["realizedPnl"]) == -fee1
        (bal,) = await ex._signed("GET", BALANCE_PATH, {"ccy": "USDT"})
        (usdt,) = bal["details"]
        assert Decimal(usdt["cashBal"]) == start - fee1
        assert (Decimal(usdt["frozenBal"]), Decimal(usdt["imr"]), Decimal(usdt["ordFrozen"])) == (imr, imr, 0)
        assert Decimal(usdt["availBal"]) == start - fee1 - imr
        assert Decimal(usdt["eq"]) == start - fee1 + (mk - entry) * 3 * CT

        # close with a reduce-only market sell
        u = await ex.place(order("close1", side=Side.SELL, qty="3", reduce_only=True))
        assert u.state is OrderState.NEW
        raw = [r for r in await ex._signed("GET", FILLS_PATH, {"instType": "SWAP"}) if r["clOrdId"] == "close1"]
        assert raw and all(r["posSide"] == "net" and r["feeCcy"] == "USDT" for r in raw)
        pnl = sum(((Decimal(r["fillPx"]) - entry) * Decimal(r["fillSz"]) * CT).quantize(Q8, rounding=ROUND_HALF_EVEN)
                  for r in raw)
        fee2 = sum(fee(Decimal(r["fillPx"]), Decimal(r["fillSz"]), TAKER) for r in raw)
        assert sum(Decimal(r["fillPnl"]) for r in raw) == pnl and -sum(Decimal(r["fee"]) for r in raw) == fee2
        (o,) = await ex._signed("GET", ORDER_PATH, {"instId": INST, "clOrdId": "close1"})
        assert (o["state"], o["reduceOnly"], o["accFillSz"], o["tdMode"], o["posSide"]) == \
            ("filled", "true", "3", "cross", "net")
        assert Decimal(o["pnl"]) == pnl and o["feeCcy"] == "USDT"
        assert await ex._signed("GET", POSITIONS_PATH, {"instId": INST}) == []
        (bal,) = await ex._signed("GET", BALANCE_PATH, {"ccy": "USDT"})
        (usdt,) = bal["details"]
        assert Decimal(usdt["cashBal"]) == Decimal(usdt["availBal"]) == start - fee1 - fee2 + pnl
        assert Decimal(usdt["frozenBal"]) == 0 and usdt["imr"] == ""


async def test_insufficient_margin_reduce_only_and_margin_mode_refusals():
    async with okx() as (sim, ex):
        acct = sim.sim_venue.accounts["okx-sim"]
        acct.bal("USDT").free = Decimal("50")          # 1 contract ~ 600 USDT: 60 of margin at 10x
        bid, _ = best(sim)
        for o in (order("m1", qty="1", price=str(bid)), order("m2", qty="1")):
            with pytest.raises(Rejected) as e:
                await ex.place(o)
            assert e.value.code == 51008 and "margin" in str(e.value)
        with pytest.raises(Rejected) as e:
            await ex.place(order("r1", side=Side.SELL, qty="1", reduce_only=True))
        assert e.value.code == 51169
        await ex.place(order("ok1", qty="0.5"))                      # 30 USDT of margin: fits
        with pytest.raises(Rejected) as e:
            await ex.place(order("r2", qty="0.1", price=str(bid), reduce_only=True))
        assert e.value.code == 51170
        # reduce-only sell of more than the long: fills the long, the rest is canceled
        await ex.place(order("r3", side=Side.SELL, qty="2", reduce_only=True))
        (o,) = await ex._signed("GET", ORDER_PATH, {"instId": INST, "clOrdId": "r3"})
        assert (o["accFillSz"], o["state"]) == ("0.5", "canceled")
        assert await ex._signed("GET", POSITIONS_PATH, {}) == []
        with pytest.raises(Rejected) as e:
            await ex._signed("POST", ORDER_PATH, body={"instId": INST, "tdMode": "isolated", "side": "buy",
                                                        "ordType": "market", "sz": "0.1"}, inst_id=INST, idempotent=False)
        assert e.value.code == 51010
        sent = len(sim.sim_venue.request_log)
        with pytest.raises(Rejected):                                 # reduce-only on spot: never sent
            await ex.place(order("s1", symbol="BTC/USDT", qty="0.001", reduce_only=True))
        assert len(sim.sim_venue.request_log) == sent
