"""Binance USD-M futures simulator over real loopback sockets (a subprocess, as the harness starts it)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
import yarl

from venuelink.sim import server
from venuelink.sim.server import running_simulator

MODULE = "venuelink.adapters.binanceusdm.simulator"
T = aiohttp.ClientTimeout(total=10)


@pytest.fixture(scope="module")
def sim():
    # until the venue's manifest lists it, the harness is told where the dialect lives
    server.SIMULATORS.setdefault("binanceusdm", MODULE)
    with running_simulator("binanceusdm", rate=100, seed=4, depth_fast_ms=10, max_inbound_per_s=50,
                           force_orders_per_min=600, mark_slow_ms=500) as s:
        yield s


# ---------------------------------------------------------------------- helpers
def now_ms() -> int:
    return int(time.time() * 1000)


async def signed(session: aiohttp.ClientSession, sim, method: str, path: str, params: dict[str, Any] | None = None,
                 *, secret: str | None = None) -> tuple[int, Any, Any]:
    p = dict(params or {})
    p["timestamp"] = now_ms()
    qs = urlencode(p)
    sig = hmac.new((secret or sim.api_secret).encode(), qs.encode(), hashlib.sha256).hexdigest()
    url = yarl.URL(f"{sim.rest_url}{path}?{qs}&signature={sig}", encoded=True)
    async with session.request(method, url, headers={"X-MBX-APIKEY": sim.api_key}) as r:
        return r.status, r.headers, await r.json(content_type=None)


async def admin(session, sim, path: str, body: Any = None):
    url = sim.admin_url + path
    if body is None:
        async with session.get(url) as r:
            assert r.status == 200, await r.text()
            return await r.json()
    async with session.post(url, json=body) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def recv(ws, timeout: float = 5) -> dict:
    m = await ws.receive(timeout=timeout)
    assert m.type == aiohttp.WSMsgType.TEXT, m
    return json.loads(m.data)


def apply_levels(book: dict[Decimal, Decimal], levels) -> None:
    for p, q in levels:
        p, q = Decimal(p), Decimal(q)
        if q == 0:
            book.pop(p, None)
        else:
            book[p] = q


async def best_prices(session, sim, symbol: str = "BTCUSDT") -> tuple[Decimal, Decimal]:
    async with session.get(f"{sim.rest_url}/fapi/v1/depth?symbol={symbol}&limit=5") as r:
        d = await r.json()
    return Decimal(d["bids"][0][0]), Decimal(d["asks"][0][0])


# ---------------------------------------------------------------------- market data
async def test_exchange_info_and_public_rest(sim):
    async with aiohttp.ClientSession(timeout=T) as s:
        async with s.get(sim.rest_url + "/fapi/v1/exchangeInfo") as r:
            assert r.status == 200
            assert r.headers["X-MBX-USED-WEIGHT-1M"].isdigit()
            info = await r.json()
        assert info["timezone"] == "UTC" and isinstance(info["serverTime"], int)
        limits = {(x["rateLimitType"], x["interval"], x["intervalNum"]): x["limit"] for x in info["rateLimits"]}
        assert limits == {("REQUEST_WEIGHT", "MINUTE", 1): 2400, ("ORDERS", "MINUTE", 1): 1200,
                          ("ORDERS", "SECOND", 10): 300}
        assert info["assets"][0]["asset"] == "USDT"
        syms = {x["symbol"]: x for x in info["symbols"]}
        btc = syms["BTCUSDT"]
        assert btc["contractType"] == "PERPETUAL" and btc["marginAsset"] == "USDT" and btc["pair"] == "BTCUSDT"
        assert btc["pricePrecision"] == 2 and btc["quantityPrecision"] == 3
        filters = {f["filterType"]: f for f in btc["filters"]}
        assert filters["PRICE_FILTER"]["tickSize"] == "0.10" and filters["LOT_SIZE"]["stepSize"] == "0.001"
        assert filters["MIN_NOTIONAL"]["notional"] == "100" and "PERCENT_PRICE" in filters
        assert "GTX" in btc["timeInForce"] and syms["ETHUSDT"]["contractType"] == "PERPETUAL"
        dated = [x for x in info["symbols"] if x["contractType"] == "CURRENT_QUARTER"]
        assert len(dated) == 1 and dated[0]["symbol"].startswith("BTCUSDT_") and dated[0]["pair"] == "BTCUSDT"
        assert dated[0]["deliveryDate"] > now_ms()
        delivery = time.gmtime(dated[0]["deliveryDate"] / 1000)
        assert delivery.tm_wday == 4 and delivery.tm_hour == 8 and delivery.tm_mon % 3 == 0
        assert dated[0]["symbol"] == "BTCUSDT_" + time.strftime("%y%m%d", delivery)

        async with s.get(sim.rest_url + "/fapi/v1/time") as r:
            assert abs((await r.json())["serverTime"] - now_ms()) < 2000
        async with s.get(sim.rest_url + "/fapi/v1/ping") as r:
            assert await r.json() == {}
        async with s.get(sim.rest_url + "/fapi/v1/depth?symbol=ETHUSDT&limit=5") as r:
            assert r.headers["X-MBX-USED-WEIGHT-1M"].isdigit()
            d = await r.json()
        assert set(d) == {"lastUpdateId", "E", "T", "bids", "asks"} and len(d["bids"]) == 5
        assert Decimal(d["bids"][0][0]) < Decimal(d["asks"][0][0])
        async with s.get(sim.rest_url + "/fapi/v1/depth?symbol=ETHUSDT&limit=7") as r:
            assert r.status == 400 and (await r.json())["code"] == -1130
        rows: list = []
        for _ in range(100):                      # a freshly started market has few trades yet
            async with s.get(sim.rest_url + "/fapi/v1/aggTrades?symbol=BTCUSDT&limit=20") as r:
                rows = await r.json()
            if len(rows) == 20:
                break
            await asyncio.sleep(0.1)
        assert len(rows) == 20 and set(rows[0]) == {"a", "p", "q", "f", "l", "T", "m"}
        assert [x["a"] for x in rows] == list(range(rows[0]["a"], rows[0]["a"] + 20))
        async with s.get(sim.rest_url + f"/fapi/v1/aggTrades?symbol=BTCUSDT&fromId={rows[5]['a']}&limit=3") as r:
            assert [x["a"] for x in await r.json()] == [x["a"] for x in rows[5:8]]
        async with s.get(sim.rest_url + "/fapi/v1/openInterest?symbol=BTCUSDT") as r:
            oi = await r.json()
        assert oi["symbol"] == "BTCUSDT" and Decimal(oi["openInterest"]) > 0
        async with s.get(sim.rest_url + "/fapi/v1/depth?symbol=NOPE") as r:
            assert r.status == 400 and await r.json() == {"code": -1121, "msg": "Invalid symbol."}


async def test_depth_snapshot_bridged_by_the_pu_chain(sim):
    async with aiohttp.ClientSession(timeout=T) as s:
        async with s.ws_connect(sim.ws_url + "/public/ws/btcusdt@depth@100ms") as ws:
            first = await recv(ws)
            assert first["e"] == "depthUpdate" and first["s"] == "BTCUSDT"
            assert {"E", "T", "U", "u", "pu", "b", "a"} <= set(first)
            buffered = [first]
            while True:
                async with s.get(sim.rest_url + "/fapi/v1/depth?symbol=BTCUSDT&limit=1000") as r:
                    snap = await r.json()
                if snap["lastUpdateId"] >= first["U"]:
                    break
            bids: dict[Decimal, Decimal] = {}
            asks: dict[Decimal, Decimal] = {}
            apply_levels(bids, snap["bids"])
            apply_levels(asks, snap["asks"])
            last_id = snap["lastUpdateId"]
            prev_u: int | None = None
            applied = 0

            def apply(ev: dict) -> None:
                nonlocal last_id, prev_u, applied
                if prev_u is None:
                    if ev["u"] < last_id:
                        return                                  # already in the snapshot
                    assert ev["U"] <= last_id <= ev["u"]         # the first one straddles it
                else:
                    assert ev["pu"] == prev_u, "pu chain broken"
                apply_levels(bids, ev["b"])
                apply_levels(asks, ev["a"])
                prev_u = ev["u"]
                applied += 1
                assert max(bids) < min(asks)

            for ev in buffered:
                apply(ev)
            while applied < 100:
                apply(await recv(ws))
            await admin(s, sim, "/market", {"action": "pause"})
            try:
                ref = await admin(s, sim, "/book?symbol=BTCUSDT")
                while prev_u < ref["seq"]:
                    apply(await recv(ws))
                assert prev_u == ref["seq"]
                assert sorted(bids.items(), reverse=True)[:100] == [(Decimal(p), Decimal(q))
                                                                    for p, q in ref["bids"][:100]]
                assert sorted(asks.items())[:100] == [(Decimal(p), Decimal(q)) for p, q in ref["asks"][:100]]
            finally:
                await admin(s, sim, "/market", {"action": "resume"})


async def test_gap_fault_breaks_the_pu_chain(sim):
    async with aiohttp.ClientSession(timeout=T) as s:
        async with s.ws_connect(sim.ws_url + "/public/stream?streams=ethusdt@depth@100ms") as ws:
            prev = (await recv(ws))["data"]
            for _ in range(3):
                ev = (await recv(ws))["data"]
                assert ev["pu"] == prev["u"]
                prev = ev
            await admin(s, sim, "/fault", {"type": "gap", "symbol": "ETHUSDT", "count": 1})
            breaks = 0
            for _ in range(10):
                d = await recv(ws)
                assert d["stream"] == "ethusdt@depth@100ms"
                ev = d["data"]
                if ev["pu"] != prev["u"]:
                    assert ev["pu"] > prev["u"]
                    breaks += 1
                prev = ev
            assert breaks == 1


async def test_split_endpoints_market_streams(sim):
    async with aiohttp.ClientSession(timeout=T) as s:
        streams = "btcusdt@aggTrade/btcusdt@markPrice@1s/btcusdt@forceOrder"
        async with s.ws_connect(f"{sim.ws_url}/market/stream?streams={streams}") as ws:
            seen: dict[str, list[dict]] = {}
            deadline = time.monotonic() + 6
            while time.monotonic() < deadline and not (
                    len(seen.get("btcusdt@aggTrade", [])) >= 20 and "btcusdt@markPrice@1s" in seen
                    and "btcusdt@forceOrder" in seen):
                d = await recv(ws)
                assert set(d) == {"stream", "data"}
                seen.setdefault(d["stream"], []).append(d["data"])
            aggs = seen["btcusdt@aggTrade"]
            assert all(a["e"] == "aggTrade" and a["s"] == "BTCUSDT" and isinstance(a["m"], bool) for a in aggs)
            ids = [a["a"] for a in aggs]
            assert ids == list(range(ids[0], ids[0] + len(ids)))          # consecutive per symbol
            mp = seen["btcusdt@markPrice@1s"][0]
            assert mp["e"] == "markPriceUpdate" and mp["s"] == "BTCUSDT"
            assert len(mp["r"].split(".")[1]) == 8 and mp["T"] % (8 * 3600 * 1000) == 0 and mp["T"] > now_ms()
            bid, ask = await best_prices(s, sim)
            assert bid * Decimal("0.99") < Decimal(mp["p"]) < ask * Decimal("1.01")
            fo = seen["btcusdt@forceOrder"][0]
            assert fo["e"] == "forceOrder" and fo["o"]["s"] == "BTCUSDT" and fo["o"]["X"] == "FILLED"
            assert fo["o"]["S"] in ("BUY", "SELL") and fo["o"]["z"] == fo["o"]["q"]
            # the 3 s stream, live-subscribed (500 ms here)
            await ws.send_str(json.dumps({"method": "SUBSCRIBE", "params": ["ethusdt@markPrice"], "id": 7}))
            got_ack = got_mark = False
            while not (got_ack and got_mark):
                d = await recv(ws)
                if d.get("id") == 7:
                    assert d == {"result": None, "id": 7}
                    got_ack = True
                elif d.get("stream") == "ethusdt@markPrice":
                    assert d["data"]["s"] == "ETHUSDT"
                    got_mark = True

        # a stream of the other path is accepted on /public and listed, and yields nothing
        async with s.ws_connect(sim.ws_url + "/public/ws") as ws:
            await ws.send_str(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@aggTrade", "btcusdt@bookTicker"],
                                          "id": 1}))
            assert await recv(ws) == {"result": None, "id": 1}
            await ws.send_str(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 2}))
            tickers = 0
            listed = None
            deadline = time.monotonic() + 1.5
            while time.monotonic() < deadline:
                try:
                    d = await recv(ws, timeout=deadline - time.monotonic())
                except asyncio.TimeoutError:
                    break
                if d.get("id") == 2:
                    listed = d["result"]
                else:
                    assert d["e"] == "bookTicker", d      # never an aggTrade
                    assert set(d) == {"e", "u", "E", "T", "s", "b", "B", "a", "A"}
                    tickers += 1
            assert listed == ["btcusdt@aggTrade", "btcusdt@bookTicker"] and tickers > 0
            await ws.send_str(json.dumps({"method": "UNSUBSCRIBE", "params": ["btcusdt@aggTrade"], "id": 3}))
            while (d := await recv(ws)).get("id") != 3:
                pass
            assert d == {"result": None, "id": 3}
            await ws.send_str(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 4}))
            while (d := await recv(ws)).get("id") != 4:
                pass
            assert d["code"] == 2 and "btcusdt@trade" in d["msg"]
        async with s.ws_connect(sim.ws_url + "/market/ws/btcusdt@bookTicker") as ws:
            with pytest.raises(asyncio.TimeoutError):
                await ws.receive(timeout=0.7)


# ---------------------------------------------------------------------- orders and user data
class UserStream:
    """listenKey + /private stream; collects the raw events."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self._task: asyncio.Task | None = None

    async def open(self, session, sim) -> "UserStream":
        async with session.post(sim.rest_url + "/fapi/v1/listenKey", headers={"X-MBX-APIKEY": sim.api_key}) as r:
            assert r.status == 200
            self.key = (await r.json())["listenKey"]
        assert len(self.key) == 60
        self.ws = await session.ws_connect(f"{sim.ws_url}/private/ws/{self.key}")
        self._task = asyncio.get_running_loop().create_task(self._reader())
        return self

    async def _reader(self) -> None:
        assert self.ws is not None
        async for m in self.ws:
            if m.type == aiohttp.WSMsgType.TEXT:
                self.events.append(json.loads(m.data))

    async def wait_for(self, pred, timeout: float = 5.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = [e for e in self.events if pred(e)]
            if got:
                return got
            await asyncio.sleep(0.02)
        raise AssertionError(f"no matching event in {self.events}")

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._task is not None:
            self._task.cancel()


ORDER_KEYS = {"clientOrderId", "cumQty", "cumQuote", "executedQty", "orderId", "avgPrice", "origQty", "price",
              "reduceOnly", "side", "positionSide", "status", "stopPrice", "closePosition", "symbol", "timeInForce",
              "type", "origType", "updateTime", "workingType", "priceProtect", "priceMatch",
              "selfTradePreventionMode", "goodTillDate"}


async def test_order_place_query_cancel_and_refusals(sim):
    async with aiohttp.ClientSession(timeout=T) as s:
        bid, ask = await best_prices(s, sim)
        far = (bid * Decimal("0.97")).quantize(Decimal("0.1"))
        st, h, o = await signed(s, sim, "POST", "/fapi/v1/order", {
            "symbol": "BTCUSDT", "side": "BUY", "positionSide": "BOTH", "type": "LIMIT", "timeInForce": "GTC",
            "quantity": "0.005", "price": str(far), "newClientOrderId": "rt.1:a/b_c-d"})
        assert st == 200, o
        assert set(o) == ORDER_KEYS
        assert o["status"] == "NEW" and o["clientOrderId"] == "rt.1:a/b_c-d" and o["origQty"] == "0.005"
        assert o["executedQty"] == "0.000" and o["positionSide"] == "BOTH" and o["reduceOnly"] is False
        assert Decimal(o["price"]) == far and o["type"] == o["origType"] == "LIMIT"
        assert h["X-MBX-ORDER-COUNT-10S"] == h["X-MBX-ORDER-COUNT-1M"] != "0"
        oid = o["orderId"]

        st, _, q = await signed(s, sim, "GET", "/fapi/v1/order", {"symbol": "BTCUSDT", "orderId": oid})
        assert st == 200 and q["status"] == "NEW" and q["time"] > 0 and set(q) == ORDER_KEYS | {"time"}
        st, _, opens = await signed(s, sim, "GET", "/fapi/v1/openOrders", {"symbol": "BTCUSDT"})
        assert [x["orderId"] for x in opens] == [oid]

        # a duplicate client id among open orders
        st, _, e = await signed(s, sim, "POST", "/fapi/v1/order", {
            "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.005",
            "price": str(far), "newClientOrderId": "rt.1:a/b_c-d"})
        assert st == 400 and e == {"code": -4116, "msg": "ClientOrderId is duplicated."}
        # hedge-mode position sides in one-way mode
        st, _, e = await signed(s, sim, "POST", "/fapi/v1/order", {
            "symbol": "BTCUSDT", "side": "BUY", "positionSide": "LONG", "type": "LIMIT", "timeInForce": "GTC",
            "quantity": "0.005", "price": str(far)})
        assert st == 400 and e["code"] == -4061
        # post-only that would take
        st, _, e = await signed(s, sim, "POST", "/fapi/v1/order", {
            "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTX", "quantity": "0.005",
            "price": str(ask + Decimal(5))})
        assert st == 400 and e["code"] == -5022 and "Post Only" in e["msg"]
        # a post-only that rests, reported as GTX
        st, _, g = await signed(s, sim, "POST", "/fapi/v1/order", {
            "symbol": "ETHUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "GTX", "quantity": "0.050",
            "price": "9000", "newOrderRespType": "RESULT"})
        assert st == 200 and g["timeInForce"] == "GTX" and g["status"] == "NEW"
        # reduce-only without a position
        st, _, e = await signed(s, sim, "POST", "/fapi/v1/order", {
            "symbol": "ETHUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.010", "reduceOnly": "true"})
        assert st == 400 and e == {"code": -2022, "msg": "ReduceOnly Order is rejected."}
        # bad signature, unknown key
        st, _, e = await signed(s, sim, "GET", "/fapi/v1/openOrders", {}, secret="x" * 64)
        assert st == 400 and e == {"code": -1022, "msg": "Signature for this request is not valid."}
        async with s.get(sim.rest_url + "/fapi/v1/openOrders?timestamp=1&signature=00",
                         headers={"X-MBX-APIKEY": "A" * 64}) as r:
            assert r.status == 401 and (await r.json())["code"] == -2015

        st, _, c = await signed(s, sim, "DELETE", "/fapi/v1/order", {"symbol": "BTCUSDT",
                                                                   "origClientOrderId": "rt.1:a/b_c-d"})
        assert st == 200 and c["status"] == "CANCELED" and c["orderId"] == oid and set(c) == ORDER_KEYS
        st, _, e = await signed(s, sim, "DELETE", "/fapi/v1/order", {"symbol": "BTCUSDT", "orderId": oid})
        assert st == 400 and e == {"code": -2011, "msg": "Unknown order sent."}
        st, _, e = await signed(s, sim, "GET", "/fapi/v1/order", {"symbol": "BTCUSDT", "orderId": 12345})
        assert st == 400 and e == {"code": -2013, "msg": "Order does not exist."}

        # countdown: arm, then let it cancel the symbol's open orders; 0 disarms
        st, _, cd = await signed(s, sim, "POST", "/fapi/v1/countdownCancelAll",
                                 {"symbol": "ETHUSDT", "countdownTime": 300})
        assert st == 200 and cd == {"symbol": "ETHUSDT", "countdownTime": "300"}
        await asyncio.sleep(0.6)
        st, _, q = await signed(s, sim, "GET", "/fapi/v1/order", {"symbol": "ETHUSDT", "orderId": g["orderId"]})
        assert q["status"] == "CANCELED"
        st, _, cd = await signed(s, sim, "POST", "/fapi/v1/countdownCancelAll",
                                 {"symbol": "ETHUSDT", "countdownTime": 0})
        assert cd == {"symbol": "ETHUSDT", "countdownTime": "0"}
        st, _, done = await signed(s, sim, "DELETE", "/fapi/v1/allOpenOrders", {"symbol": "BTCUSDT"})
        assert st == 200 and done == {"code": 200, "msg": "The operation of cancel all open order is done."}


async def test_fill_reaches_user_stream_position_and_balance(sim):
    async with aiohttp.ClientSession(timeout=T) as s:
        us = await UserStream().open(s, sim)
        try:
            st, _, before = await signed(s, sim, "GET", "/fapi/v2/balance")
            assert st == 200 and before[0]["asset"] == "USDT" and before[0]["marginAvailable"] is True
            st, _, o = await signed(s, sim, "POST", "/fapi/v1/order", {
                "symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.010",
                "newClientOrderId": "mkt-sell-1", "newOrderRespType": "RESULT"})
            assert st == 200 and o["status"] == "FILLED" and o["executedQty"] == "0.010"
            assert Decimal(o["avgPrice"]) > 0 and Decimal(o["cumQuote"]) > 0

            ups = await us.wait_for(lambda e: e.get("e") == "ACCOUNT_UPDATE")
            kinds = [e["e"] for e in us.events]
            first_trade = next(i for i, e in enumerate(us.events)
                               if e["e"] == "ORDER_TRADE_UPDATE" and e["o"]["x"] == "TRADE")
            assert kinds.index("ACCOUNT_UPDATE") > first_trade     # the order's update, then the account's
            news = [e for e in us.events if e["e"] == "ORDER_TRADE_UPDATE" and e["o"]["x"] == "NEW"]
            assert news and news[0]["o"]["c"] == "mkt-sell-1" and news[0]["o"]["ps"] == "BOTH"
            trade = us.events[first_trade]["o"]
            assert trade["s"] == "BTCUSDT" and trade["S"] == "SELL" and trade["o"] == "MARKET" and trade["t"] > 0
            assert trade["N"] == "USDT" and Decimal(trade["n"]) > 0 and trade["m"] is False
            assert Decimal(trade["l"]) > 0 and trade["X"] in ("PARTIALLY_FILLED", "FILLED")
            await us.wait_for(lambda e: e.get("e") == "ORDER_TRADE_UPDATE" and e["o"]["X"] == "FILLED")
            acct = ups[-1]["a"]
            assert acct["m"] == "ORDER" and acct["B"][0]["a"] == "USDT"
            pos = acct["P"][0]
            assert pos["s"] == "BTCUSDT" and pos["ps"] == "BOTH" and pos["mt"] == "cross"

            st, _, risk = await signed(s, sim, "GET", "/fapi/v3/positionRisk", {"symbol": "BTCUSDT"})
            assert st == 200 and len(risk) == 1
            r = risk[0]
            assert Decimal(r["positionAmt"]) == Decimal(pos["pa"]) and Decimal(r["positionAmt"]) < 0
            assert Decimal(r["entryPrice"]) > 0 and Decimal(r["notional"]) < 0 and r["positionSide"] == "BOTH"
            assert r["marginAsset"] == "USDT" and Decimal(r["initialMargin"]) > 0
            st, _, risk_all = await signed(s, sim, "GET", "/fapi/v3/positionRisk")
            assert all(Decimal(x["positionAmt"]) != 0 for x in risk_all)
            st, _, after = await signed(s, sim, "GET", "/fapi/v2/balance")
            # a taker fee was paid: the wallet shrank by it; the position's margin is no longer available
            assert Decimal(after[0]["balance"]) < Decimal(before[0]["balance"])
            assert Decimal(after[0]["availableBalance"]) < Decimal(after[0]["balance"])
            assert Decimal(acct["B"][0]["wb"]) == Decimal(after[0]["balance"])
            st, _, fills = await signed(s, sim, "GET", "/fapi/v1/userTrades", {"symbol": "BTCUSDT", "limit": 50})
            mine = [f for f in fills if f["orderId"] == o["orderId"]]
            assert mine and all(f["side"] == "SELL" and f["buyer"] is False and f["positionSide"] == "BOTH"
                                for f in mine)
            assert sum(Decimal(f["qty"]) for f in mine) == Decimal("0.010")

            # reduce-only now closes it
            st, _, c = await signed(s, sim, "POST", "/fapi/v1/order", {
                "symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.010", "reduceOnly": "true",
                "newOrderRespType": "RESULT"})
            assert st == 200 and c["status"] == "FILLED" and c["reduceOnly"] is True
            st, _, risk = await signed(s, sim, "GET", "/fapi/v3/positionRisk", {"symbol": "BTCUSDT"})
            assert risk == []
        finally:
            await us.close()
        async with s.put(sim.rest_url + "/fapi/v1/listenKey", headers={"X-MBX-APIKEY": sim.api_key}) as r:
            assert r.status == 200 and (await r.json())["listenKey"] == us.key
        async with s.delete(sim.rest_url + "/fapi/v1/listenKey", headers={"X-MBX-APIKEY": sim.api_key}) as r:
            assert r.status == 200
        with pytest.raises(aiohttp.WSServerHandshakeError) as exc:
            await s.ws_connect(f"{sim.ws_url}/private/ws?listenKey={us.key}")
        assert exc.value.status == 400


async def test_listen_key_expiry_event():
    server.SIMULATORS.setdefault("binanceusdm", MODULE)
    with running_simulator("binanceusdm", rate=20, listen_key_validity_s=1.0) as s2:
        async with aiohttp.ClientSession(timeout=T) as s:
            us = await UserStream().open(s, s2)
            try:
                ev = (await us.wait_for(lambda e: e.get("e") == "listenKeyExpired", timeout=4))[0]
                assert ev["listenKey"] == us.key and isinstance(ev["E"], int)
            finally:
                await us.close()


async def test_order_then_weight_limits():
    server.SIMULATORS.setdefault("binanceusdm", MODULE)
    with running_simulator("binanceusdm", rate=20, weight_limit=30, orders_10s=2, ban_after=5) as s2:
        async with aiohttp.ClientSession(timeout=T) as s:
            left = 10 - (time.time() % 10)             # stay inside one fixed window
            if left < 2:
                await asyncio.sleep(left + 0.05)
            order = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.005",
                     "price": "30000"}
            for n in (1, 2):
                st, h, _ = await signed(s, s2, "POST", "/fapi/v1/order", order)
                assert st == 200 and h["X-MBX-ORDER-COUNT-10S"] == h["X-MBX-ORDER-COUNT-1M"] == str(n)
            st, _, e = await signed(s, s2, "POST", "/fapi/v1/order", order)
            assert st == 429 and e["code"] == -1015

            left = 60 - (time.time() % 60)
            if left < 3:
                await asyncio.sleep(left + 0.05)
            async with s.get(s2.rest_url + "/fapi/v1/depth?symbol=BTCUSDT&limit=1000") as r:
                assert r.status == 200 and r.headers["X-MBX-USED-WEIGHT-1M"] == "20"
            async with s.get(s2.rest_url + "/fapi/v1/depth?symbol=BTCUSDT&limit=1000") as r:
                assert r.status == 429 and int(r.headers["Retry-After"]) > 0
                assert (await r.json())["code"] == -1003


async def test_order_faults_unknown_status_and_lost_event(sim):
    async with aiohttp.ClientSession(timeout=T) as s:
        us = await UserStream().open(s, sim)
        try:
            base = {"symbol": "ETHUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.050",
                    "price": "1000"}
            await admin(s, sim, "/fault", {"type": "order", "mode": "unknown"})
            st, _, b = await signed(s, sim, "POST", "/fapi/v1/order", {**base, "newClientOrderId": "f-unknown"})
            assert st == 503 and b["code"] == -1007
            st, _, q = await signed(s, sim, "GET", "/fapi/v1/order", {"symbol": "ETHUSDT",
                                                                       "origClientOrderId": "f-unknown"})
            assert st == 200 and q["status"] == "NEW"
            await admin(s, sim, "/fault", {"type": "drop_user_event"})
            await signed(s, sim, "POST", "/fapi/v1/order", {**base, "newClientOrderId": "f-quiet"})
            await signed(s, sim, "POST", "/fapi/v1/order", {**base, "newClientOrderId": "f-loud"})
            await us.wait_for(lambda e: e.get("e") == "ORDER_TRADE_UPDATE" and e["o"]["c"] == "f-loud")
            assert not [e for e in us.events if e.get("o", {}).get("c") == "f-quiet"]
            acct = await admin(s, sim, "/account")
            assert {o["clientOrderId"] for o in acct["openOrders"]} >= {"f-unknown", "f-quiet", "f-loud"}
            st, _, done = await signed(s, sim, "DELETE", "/fapi/v1/allOpenOrders", {"symbol": "ETHUSDT"})
            assert done["code"] == 200
            st, _, opens = await signed(s, sim, "GET", "/fapi/v1/openOrders")
            assert [o for o in opens if o["symbol"] == "ETHUSDT"] == []
        finally:
            await us.close()


async def test_order_modify_in_place(sim):
    async with aiohttp.ClientSession(timeout=T) as s:
        us = await UserStream().open(s, sim)
        try:
            bid, ask = await best_prices(s, sim, "ETHUSDT")
            far = (bid * Decimal("0.9")).quantize(Decimal("0.01"))
            st, _, o = await signed(s, sim, "POST", "/fapi/v1/order", {
                "symbol": "ETHUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.050",
                "price": str(far), "newClientOrderId": "mod-1"})
            assert st == 200, o
            oid = o["orderId"]
            lower = far - Decimal("1.5")
            st, h, m = await signed(s, sim, "PUT", "/fapi/v1/order", {
                "symbol": "ETHUSDT", "origClientOrderId": "mod-1", "side": "BUY", "quantity": "0.080",
                "price": str(lower)})
            assert st == 200, m
            assert set(m) == ORDER_KEYS and m["orderId"] == oid and m["clientOrderId"] == "mod-1"
            assert m["status"] == "NEW" and m["origQty"] == "0.080" and Decimal(m["price"]) == lower
            assert h["X-MBX-ORDER-COUNT-10S"] != "0"           # counted like an order
            ev = (await us.wait_for(lambda e: e.get("e") == "ORDER_TRADE_UPDATE" and e["o"]["x"] == "AMENDMENT"))[0]
            assert ev["o"]["i"] == oid and ev["o"]["c"] == "mod-1" and ev["o"]["X"] == "NEW"
            assert ev["o"]["q"] == "0.080" and Decimal(ev["o"]["p"]) == lower
            st, _, q = await signed(s, sim, "GET", "/fapi/v1/order", {"symbol": "ETHUSDT", "orderId": oid})
            assert q["origQty"] == "0.080" and Decimal(q["price"]) == lower

            # nothing changes; off the tick; both terms are mandatory; the order's side must be named
            same = {"symbol": "ETHUSDT", "orderId": oid, "side": "BUY", "quantity": "0.080", "price": str(lower)}
            st, _, e = await signed(s, sim, "PUT", "/fapi/v1/order", same)
            assert st == 400 and e == {"code": -5027, "msg": "No need to modify the order."}
            st, _, e = await signed(s, sim, "PUT", "/fapi/v1/order", {**same, "price": str(lower + Decimal("0.005"))})
            assert st == 400 and e["code"] == -4014
            st, _, e = await signed(s, sim, "PUT", "/fapi/v1/order", {k: v for k, v in same.items() if k != "price"})
            assert st == 400 and e["code"] == -1102
            st, _, q = await signed(s, sim, "GET", "/fapi/v1/order", {"symbol": "ETHUSDT", "orderId": oid})
            assert q["status"] == "NEW" and q["origQty"] == "0.080"      # the refusals left it as it was

            # a price that now crosses trades at once, as a taker
            bid, ask = await best_prices(s, sim, "ETHUSDT")
            st, _, x = await signed(s, sim, "PUT", "/fapi/v1/order", {**same, "quantity": "0.010",
                                                                      "price": str(ask + Decimal(5))})
            assert st == 200 and x["status"] == "FILLED" and x["executedQty"] == "0.010", x
            st, _, c = await signed(s, sim, "POST", "/fapi/v1/order", {
                "symbol": "ETHUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.010", "reduceOnly": "true"})
            assert st == 200
            # no longer open
            st, _, e = await signed(s, sim, "PUT", "/fapi/v1/order", same)
            assert st == 400 and e == {"code": -2013, "msg": "Order does not exist."}

            # a post-only order whose new price would take is canceled
            st, _, g = await signed(s, sim, "POST", "/fapi/v1/order", {
                "symbol": "ETHUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "GTX", "quantity": "0.050",
                "price": str((ask * Decimal("1.1")).quantize(Decimal("0.01")))})
            assert st == 200
            st, _, e = await signed(s, sim, "PUT", "/fapi/v1/order", {
                "symbol": "ETHUSDT", "orderId": g["orderId"], "side": "SELL", "quantity": "0.050",
                "price": str(bid - Decimal(5))})
            assert st == 400 and e["code"] == -5022
            st, _, q = await signed(s, sim, "GET", "/fapi/v1/order", {"symbol": "ETHUSDT", "orderId": g["orderId"]})
            assert q["status"] == "CANCELED"
        finally:
            await us.close()


# ---------------------------------------------------------------------- WebSocket API (order entry)
class WsApi:
    """A client of ``/ws-fapi/v1``: signed requests (the parameters sorted by name, ``k=v`` joined
    by ``&``, HMAC-SHA256 hex), answers matched by id."""

    def __init__(self, ws, sim) -> None:
        self.ws, self.sim, self.n = ws, sim, 0

    async def call(self, method: str, params: dict[str, Any], *, secret: str | None = None,
                   timeout: float = 5) -> dict:
        p = {**{k: str(v) for k, v in params.items()}, "apiKey": self.sim.api_key, "timestamp": str(now_ms())}
        payload = "&".join(f"{k}={p[k]}" for k in sorted(p))
        p["signature"] = hmac.new((secret or self.sim.api_secret).encode(), payload.encode(), hashlib.sha256).hexdigest()
        self.n += 1
        rid = self.n
        await self.ws.send_str(json.dumps({"id": rid, "method": method, "params": p}))
        while True:
            msg = await recv(self.ws, timeout)
            if msg.get("id") == rid:
                return msg


async def test_ws_api_place_modify_status_cancel(sim):
    async with aiohttp.ClientSession(timeout=T) as s:
        assert sim.ws_fapi_url == sim.ws_url + "/ws-fapi/v1"
        async with s.ws_connect(sim.ws_fapi_url) as ws:
            api = WsApi(ws, sim)
            bid, _ = await best_prices(s, sim, "ETHUSDT")
            far = (bid * Decimal("0.9")).quantize(Decimal("0.01"))
            r = await api.call("order.place", {
                "symbol": "ETHUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.050",
                "price": str(far), "newClientOrderId": "ws-1", "newOrderRespType": "RESULT"})
            assert r["status"] == 200, r
            o = r["result"]
            assert set(o) == ORDER_KEYS and o["status"] == "NEW" and o["clientOrderId"] == "ws-1"
            assert o["origQty"] == "0.050" and Decimal(o["price"]) == far
            # the order counts as REST's, and the request weight (0 for a new order)
            kinds = {x["rateLimitType"]: x for x in r["rateLimits"]}
            assert kinds["ORDERS"]["count"] >= 1 and "REQUEST_WEIGHT" in kinds
            oid = o["orderId"]

            # the REST view of the same order
            st, _, q = await signed(s, sim, "GET", "/fapi/v1/order", {"symbol": "ETHUSDT", "orderId": oid})
            assert st == 200 and q["clientOrderId"] == "ws-1" and q["status"] == "NEW"

            lower = far - Decimal("1.5")
            r = await api.call("order.modify", {"symbol": "ETHUSDT", "origClientOrderId": "ws-1", "side": "BUY",
                                                "quantity": "0.080", "price": str(lower)})
            assert r["status"] == 200, r
            assert r["result"]["orderId"] == oid and r["result"]["origQty"] == "0.080"
            assert Decimal(r["result"]["price"]) == lower
            r = await api.call("order.modify", {"symbol": "ETHUSDT", "orderId": oid, "side": "BUY",
                                                "quantity": "0.080", "price": str(lower)})
            assert r["status"] == 400 and r["error"] == {"code": -5027, "msg": "No need to modify the order."}

            r = await api.call("order.status", {"symbol": "ETHUSDT", "orderId": oid})
            assert r["status"] == 200 and r["result"]["origQty"] == "0.080" and r["result"]["time"] > 0
            assert set(r["result"]) == ORDER_KEYS | {"time"}

            r = await api.call("order.cancel", {"symbol": "ETHUSDT", "origClientOrderId": "ws-1"})
            assert r["status"] == 200 and r["result"]["status"] == "CANCELED" and r["result"]["orderId"] == oid
            r = await api.call("order.cancel", {"symbol": "ETHUSDT", "orderId": oid})
            assert r["status"] == 400 and r["error"] == {"code": -2011, "msg": "Unknown order sent."}
            r = await api.call("order.status", {"symbol": "ETHUSDT", "orderId": 12345})
            assert r["status"] == 400 and r["error"]["code"] == -2013

            # refused as over REST: a post-only that would take
            _, ask = await best_prices(s, sim, "ETHUSDT")
            r = await api.call("order.place", {"symbol": "ETHUSDT", "side": "BUY", "type": "LIMIT",
                                               "timeInForce": "GTX", "quantity": "0.050",
                                               "price": str(ask + Decimal(5))})
            assert r["status"] == 400 and r["error"]["code"] == -5022

            # a bad signature, an unknown key
            r = await api.call("order.status", {"symbol": "ETHUSDT", "orderId": oid}, secret="x" * 64)
            assert r["status"] == 400 and r["error"] == {"code": -1022, "msg": "Signature for this request is not valid."}
            r = await api.call("order.place", {"symbol": "ETHUSDT", "side": "BUY", "type": "MARKET",
                                               "quantity": "0.050"}, secret="x" * 64)
            assert r["status"] == 400 and r["error"]["code"] == -1022
            st, _, opens = await signed(s, sim, "GET", "/fapi/v1/openOrders", {"symbol": "ETHUSDT"})
            assert st == 200 and opens == []                 # the refused place left nothing
            r = await api.call("order.place.nope", {"symbol": "ETHUSDT"})
            assert r["status"] == 400 and r["error"]["code"] == -1020


async def test_ws_api_order_fault_hides_the_answer(sim):
    async with aiohttp.ClientSession(timeout=T) as s:
        async with s.ws_connect(sim.ws_fapi_url) as ws:
            api = WsApi(ws, sim)
            await admin(s, sim, "/fault", {"type": "order", "mode": "unknown"})
            r = await api.call("order.place", {"symbol": "ETHUSDT", "side": "BUY", "type": "LIMIT",
                                               "timeInForce": "GTC", "quantity": "0.050", "price": "1000",
                                               "newClientOrderId": "ws-unknown"})
            assert r["status"] == 503 and r["error"]["code"] == -1007
            r = await api.call("order.status", {"symbol": "ETHUSDT", "origClientOrderId": "ws-unknown"})
            assert r["status"] == 200 and r["result"]["status"] == "NEW"      # it was placed all the same
            await admin(s, sim, "/fault", {"type": "rate_limit", "path": "ws:order", "retry_after_s": 1})
            r = await api.call("order.cancel", {"symbol": "ETHUSDT", "origClientOrderId": "ws-unknown"})
            assert r["status"] == 429 and r["error"]["code"] == -1003
            r = await api.call("order.cancel", {"symbol": "ETHUSDT", "origClientOrderId": "ws-unknown"})
            assert r["status"] == 200 and r["result"]["status"] == "CANCELED"
            # the IP's faults are one for REST and the WebSocket API: a rate limit without a path, a ban
            await admin(s, sim, "/fault", {"type": "rate_limit", "retry_after_s": 2})
            t0 = now_ms()
            r = await api.call("order.status", {"symbol": "ETHUSDT", "origClientOrderId": "ws-unknown"})
            assert r["status"] == 429 and r["error"]["code"] == -1003
            assert r["error"]["data"]["retryAfter"] >= t0 + 1900
            await admin(s, sim, "/fault", {"type": "ban", "seconds": 2})
            r = await api.call("order.status", {"symbol": "ETHUSDT", "origClientOrderId": "ws-unknown"})
            assert r["status"] == 418 and r["error"]["code"] == -1003 and r["error"]["data"]["retryAfter"] > t0
            await admin(s, sim, "/fault", {"type": "clear"})
            # every answer in the request log, as REST's
            log = [x for x in (await admin(s, sim, "/requests"))["requests"] if x[1] == "WS"]
            assert [x[2:4] for x in log[-3:]] == [["order.cancel", 200], ["order.status", 429], ["order.status", 418]]
            assert log[-1][4] is not None and log[-2][4] == "2"
