"""Binance spot simulator over real loopback sockets (subprocess started by the harness)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import time
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
import yarl

from venuelink.adapters.binance.simulator import SIM, split_signed, verify_signature, ws_api_payload
from venuelink.sim.server import in_process_simulator, running_simulator

# published Binance REST/WS-API HMAC example key pair (rest-api.md / web-socket-api.md)
DOC_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
DOC_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
B1 = ("symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000"
      "&timestamp=1499827319559")
B1_SIG = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
B2 = ("symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96&side=BUY&type=LIMIT&timeInForce=GTC"
      "&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559")
B2_SIG = "e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3"
B3_QUERY = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC"
B3_BODY = "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
B3_SIG = "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"
B4_SIG = "aa1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24"
B5_SIG = "b33892ae8e687c939f4468c6268ddd4c40ac1af18ad19a064864c47bae0752cd"

T = aiohttp.ClientTimeout(total=10)


# ---------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def sim():
    # fast market and 10 ms diff cadence so a few hundred updates take a few seconds
    with running_simulator("binance", rate=200, seed=3, depth_fast_ms=10, max_inbound_per_s=50) as s:
        yield s


@pytest.fixture(scope="module")
def limited():
    with running_simulator("binance", rate=20, seed=5, weight_limit=40, ban_after=2, ban_base=2, orders_10s=3,
                           api_key=DOC_KEY, api_secret=DOC_SECRET) as s:
        yield s


@pytest.fixture(scope="module")
def keepalive():
    with running_simulator("binance", rate=20, ping_interval=0.3, pong_timeout=1.0, max_conn_age=2.5) as s:
        yield s


# ---------------------------------------------------------------------- helpers
def now_ms() -> int:
    return int(time.time() * 1000)


async def signed(session: aiohttp.ClientSession, sim, method: str, path: str, params: dict[str, Any] | None = None,
                 *, key: str | None = None, secret: str | None = None, ts: int | None = None,
                 recv_window: int | None = None, in_body: bool = False, timeout: float = 10):
    p = dict(params or {})
    if recv_window is not None:
        p["recvWindow"] = recv_window
    p["timestamp"] = ts if ts is not None else now_ms()
    qs = urlencode(p)
    sig = hmac.new((secret or sim.api_secret).encode(), qs.encode(), hashlib.sha256).hexdigest()
    headers = {"X-MBX-APIKEY": key or sim.api_key}
    if in_body:
        url = yarl.URL(sim.rest_url + path)
        data = f"{qs}&signature={sig}"
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    else:
        url = yarl.URL(f"{sim.rest_url}{path}?{qs}&signature={sig}", encoded=True)
        data = None
    async with session.request(method, url, data=data, headers=headers,
                               timeout=aiohttp.ClientTimeout(total=timeout)) as r:
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


class UserStream:
    """WS API user-data subscription; collects ``event`` payloads."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        self._new = asyncio.Event()
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.sub_id: int | None = None
        self._task: asyncio.Task | None = None
        self.responses: asyncio.Queue = asyncio.Queue()

    async def open(self, session, sim) -> "UserStream":
        self.ws = await session.ws_connect(sim.ws_api_url)
        params = {"apiKey": sim.api_key, "timestamp": now_ms()}
        params["signature"] = hmac.new(sim.api_secret.encode(), ws_api_payload(params).encode(),
                                       hashlib.sha256).hexdigest()
        await self.ws.send_str(json.dumps({"id": "sub-1", "method": "userDataStream.subscribe.signature",
                                           "params": params}))
        self._task = asyncio.get_running_loop().create_task(self._read())
        resp = await asyncio.wait_for(self.responses.get(), 5)
        assert resp["status"] == 200 and resp["id"] == "sub-1", resp
        self.sub_id = resp["result"]["subscriptionId"]
        return self

    async def request(self, method: str, params: dict[str, Any], rid: Any = 7) -> dict:
        await self.ws.send_str(json.dumps({"id": rid, "method": method, "params": params}))
        return await asyncio.wait_for(self.responses.get(), 5)

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            d = json.loads(msg.data)
            if "event" in d:
                assert d["subscriptionId"] == self.sub_id
                self.events.append(d["event"])
                self._new.set()
            else:
                await self.responses.put(d)

    async def wait(self, pred, timeout: float = 5.0) -> dict:
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for e in self.events[seen:]:
                if pred(e):
                    return e
            seen = len(self.events)
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no matching user event; got {self.events[-5:]}")
            self._new.clear()
            try:
                await asyncio.wait_for(self._new.wait(), left)
            except asyncio.TimeoutError:
                pass

    def reports(self, client_id: str | None = None, order_id: int | None = None) -> list[dict]:
        return [e for e in self.events if e.get("e") == "executionReport"
                and (client_id is None or client_id in (e["c"], e["C"]))
                and (order_id is None or e["i"] == order_id)]

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._task is not None:
            self._task.cancel()


def apply_levels(book: dict[Decimal, Decimal], levels) -> None:
    for p, q in levels:
        p, q = Decimal(p), Decimal(q)
        if q == 0:
            book.pop(p, None)
        else:
            book[p] = q


async def best_prices(session, sim, symbol="BTCUSDT") -> tuple[Decimal, Decimal]:
    async with session.get(f"{sim.rest_url}/api/v3/depth?symbol={symbol}&limit=5") as r:
        d = await r.json()
    return Decimal(d["bids"][0][0]), Decimal(d["asks"][0][0])


async def wait_window(seconds: int, margin: float) -> None:
    """Avoid straddling a fixed rate-limit window boundary."""
    left = seconds - (time.time() % seconds)
    if left < margin:
        await asyncio.sleep(left + 0.05)


# ---------------------------------------------------------------------- signing vectors
def test_hmac_published_vectors():
    assert verify_signature(DOC_SECRET, B1, B1_SIG)
    assert verify_signature(DOC_SECRET, B2, B2_SIG)
    assert verify_signature(DOC_SECRET, B1, B1_SIG.upper())  # signature is not case sensitive
    assert not verify_signature(DOC_SECRET, B1.replace("0.1", "0.2"), B1_SIG)
    # REST totalParams extraction: signature last in the query string, or in the body, or mixed
    assert split_signed(f"{B1}&signature={B1_SIG}", "") == (B1, B1_SIG)
    assert split_signed("", f"{B2}&signature={B2_SIG}") == (B2, B2_SIG)
    payload, sig = split_signed(B3_QUERY, f"{B3_BODY}&signature={B3_SIG}")
    assert payload == B3_QUERY + B3_BODY and verify_signature(DOC_SECRET, payload, sig)
    assert split_signed(B1, "") == (B1, None)
    assert split_signed(f"signature={B1_SIG}&{B1}", "")[1] == ""  # not last -> unusable
    # WS API: sorted params, not percent-encoded
    b4 = {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01000000",
          "price": "52000.00", "recvWindow": 100, "timestamp": 1645423376532, "apiKey": DOC_KEY}
    assert ws_api_payload(b4).startswith("apiKey=" + DOC_KEY + "&price=52000.00&quantity=0.01000000")
    assert verify_signature(DOC_SECRET, ws_api_payload({**b4, "signature": "x"}), B4_SIG)
    b5 = {"symbol": "１２３４５６", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "1.00000000",
          "price": "0.10000000", "recvWindow": 5000, "timestamp": 1645423376532, "apiKey": DOC_KEY}
    assert verify_signature(DOC_SECRET, ws_api_payload(b5), B5_SIG)


async def test_published_vectors_accepted_by_the_server(limited):
    """Doc requests carry a 2017 timestamp: a valid signature gets past -1022 and stops at -1021."""
    async with aiohttp.ClientSession(timeout=T) as s:
        await admin(s, limited, "/limits", {"action": "reset"})
        h = {"X-MBX-APIKEY": DOC_KEY, "Content-Type": "application/x-www-form-urlencoded"}
        async with s.post(limited.rest_url + "/api/v3/order", data=f"{B1}&signature={B1_SIG}", headers=h) as r:
            assert (r.status, (await r.json())["code"]) == (400, -1021)
        url = yarl.URL(f"{limited.rest_url}/api/v3/order?{B2}&signature={B2_SIG}", encoded=True)
        async with s.post(url, headers=h) as r:
            assert (r.status, (await r.json())["code"]) == (400, -1021)
        url = yarl.URL(f"{limited.rest_url}/api/v3/order?{B3_QUERY}", encoded=True)
        async with s.post(url, data=f"{B3_BODY}&signature={B3_SIG}", headers=h) as r:
            assert (r.status, (await r.json())["code"]) == (400, -1021)
        async with s.post(limited.rest_url + "/api/v3/order", data=f"{B1}&signature={B1_SIG[:-1]}0",
                          headers=h) as r:
            body = await r.json()
            assert (r.status, body) == (400, {"code": -1022, "msg": "Signature for this request is not valid."})


# ---------------------------------------------------------------------- market data
async def test_depth_sync_procedure_matches_authoritative_book(sim):
    async with aiohttp.ClientSession(timeout=T) as s:
        async with s.ws_connect(sim.ws_url + "/ws/btcusdt@depth@100ms") as ws:

            async def recv() -> dict:
                m = await ws.receive(timeout=5)
                assert m.type == aiohttp.WSMsgType.TEXT, m
                return json.loads(m.data)

            first = await recv()
            assert first["e"] == "depthUpdate" and first["s"] == "BTCUSDT"
            buffered = [first]
            while True:
                async with s.get(sim.rest_url + "/api/v3/depth?symbol=BTCUSDT&limit=5000") as r:
                    assert r.status == 200
                    snap = await r.json()
                if snap["lastUpdateId"] >= first["U"]:
                    break
            assert all(len(p.split(".")[1]) == 8 for p, _ in snap["bids"][:5])
            bids: dict[Decimal, Decimal] = {}
            asks: dict[Decimal, Decimal] = {}
            apply_levels(bids, snap["bids"])
            apply_levels(asks, snap["asks"])
            local = snap["lastUpdateId"]
            started = False
            applied = 0

            def apply(ev: dict) -> None:
                nonlocal local, started, applied
                if ev["u"] <= local:
                    assert not started
                    return
                if not started:
                    assert ev["U"] <= local + 1 <= ev["u"]
                    started = True
                else:
                    assert ev["U"] == local + 1, "sequence gap"
                apply_levels(bids, ev["b"])
                apply_levels(asks, ev["a"])
                local = ev["u"]
                applied += 1
                assert max(bids) < min(asks)

            for ev in buffered:
                apply(ev)
            while applied < 300:
                apply(await recv())
            await admin(s, sim, "/market", {"action": "pause"})
            try:
                ref = await admin(s, sim, "/book?symbol=BTCUSDT")
                while local < ref["seq"]:
                    apply(await recv())
                assert local == ref["seq"]
                top_b = sorted(bids.items(), reverse=True)[:100]
                top_a = sorted(asks.items())[:100]
                assert top_b == [(Decimal(p), Decimal(q)) for p, q in ref["bids"][:100]]
                assert top_a == [(Decimal(p), Decimal(q)) for p, q in ref["asks"][:100]]
                assert len(ref["bids"]) >= 300  # hundreds of levels per side
            finally:
                await admin(s, sim, "/market", {"action": "resume"})


async def test_gap_fault_breaks_the_sequence(sim):
    async with aiohttp.ClientSession(timeout=T) as s:
        async with s.ws_connect(sim.ws_url + "/ws/ethusdt@depth@100ms") as ws:
            prev = json.loads((await ws.receive(timeout=5)).data)
            for _ in range(3):
                ev = json.loads((await ws.receive(timeout=5)).data)
                assert ev["U"] == prev["u"] + 1
                prev = ev
            await admin(s, sim, "/fault", {"type": "gap", "symbol": "ETHUSDT", "count": 1})
            gaps = 0
            for _ in range(10):
                ev = json.loads((await ws.receive(timeout=5)).data)
                if ev["U"] != prev["u"] + 1:
                    assert ev["U"] > prev["u"] + 1
                    gaps += 1
                prev = ev
            assert gaps == 1


async def test_streams_and_live_control_messages(sim):
    async with aiohttp.ClientSession(timeout=T) as s:
        async with s.ws_connect(sim.ws_url + "/stream?streams=btcusdt@trade/btcusdt@bookTicker") as ws:
            kinds = set()
            for _ in range(50):
                d = json.loads((await ws.receive(timeout=5)).data)
                assert set(d) == {"stream", "data"}
                kinds.add(d["stream"])
                if d["stream"] == "btcusdt@trade":
                    t = d["data"]
                    assert t["e"] == "trade" and t["M"] is True and isinstance(t["m"], bool) and t["t"] > 0
                else:
                    b = d["data"]
                    assert set(b) == {"u", "s", "b", "B", "a", "A"} and Decimal(b["b"]) < Decimal(b["a"])
                if len(kinds) == 2:
                    break
            assert kinds == {"btcusdt@trade", "btcusdt@bookTicker"}

        async with s.ws_connect(sim.ws_url + "/ws") as ws:

            async def ask(obj) -> dict:
                await ws.send_str(obj if isinstance(obj, str) else json.dumps(obj))
                while True:
                    d = json.loads((await ws.receive(timeout=5)).data)
                    if "e" not in d:
                        return d

            assert await ask({"method": "SUBSCRIBE", "params": ["solusdt@trade", "solusdt@depth"], "id": 1}) == \
                {"result": None, "id": 1}
            assert await ask({"method": "LIST_SUBSCRIPTIONS", "id": "abc"}) == \
                {"result": ["solusdt@depth", "solusdt@trade"], "id": "abc"}
            assert await ask({"method": "UNSUBSCRIBE", "params": ["solusdt@trade"], "id": 2}) == \
                {"result": None, "id": 2}
            assert (await ask("{bad json"))["code"] == 3
            r = await ask({"method": "SUBSCRIBEX", "params": [], "id": 3})
            assert r["code"] == 2 and r["id"] == 3 and "unknown variant" in r["msg"]
            assert (await ask({"method": "SUBSCRIBE", "params": ["nosuch@trade"], "id": 4}))["code"] == 2
            assert (await ask({"method": "LIST_SUBSCRIPTIONS", "id": 1.5}))["code"] == 2
            assert await ask({"method": "GET_PROPERTY", "params": ["combined"], "id": 5}) == {"result": False, "id": 5}
            # the 1000 ms diff stream of SOLUSDT: contiguous ids, raw payloads
            evs = []
            while len(evs) < 2:
                d = json.loads((await ws.receive(timeout=5)).data)
                if d.get("e") == "depthUpdate":
                    evs.append(d)
            assert evs[1]["U"] == evs[0]["u"] + 1
            assert await ask({"method": "SET_PROPERTY", "params": ["combined", True], "id": 6}) == \
                {"result": None, "id": 6}
            d = json.loads((await ws.receive(timeout=5)).data)
            assert d["stream"] == "solusdt@depth" and d["data"]["e"] == "depthUpdate"


async def test_exchange_info_and_public_endpoints(sim):
    async with aiohttp.ClientSession(timeout=T) as s:
        async with s.get(sim.rest_url + "/api/v3/exchangeInfo") as r:
            info = await r.json()
            assert r.headers["X-MBX-USED-WEIGHT-1M"].isdigit()
        assert info["timezone"] == "UTC" and isinstance(info["serverTime"], int)
        assert info["rateLimits"] == [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
            {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
        ]
        syms = {x["symbol"]: x for x in info["symbols"]}
        assert set(syms) == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}
        btc = syms["BTCUSDT"]
        assert (btc["status"], btc["baseAsset"], btc["quoteAsset"]) == ("TRADING", "BTC", "USDT")
        assert btc["baseAssetPrecision"] == 8 and btc["quoteAssetPrecision"] == 8
        assert {"LIMIT", "MARKET"} <= set(btc["orderTypes"])
        f = {x["filterType"]: x for x in btc["filters"]}
        assert f["PRICE_FILTER"]["tickSize"] == "0.01000000" and f["LOT_SIZE"]["stepSize"] == "0.00001000"
        assert f["LOT_SIZE"]["minQty"] == "0.00001000"
        assert {x["filterType"]: x for x in syms["ETHUSDT"]["filters"]}["LOT_SIZE"]["stepSize"] == "0.00010000"
        async with s.get(sim.rest_url + "/api/v3/exchangeInfo?symbol=ETHUSDT") as r:
            assert [x["symbol"] for x in (await r.json())["symbols"]] == ["ETHUSDT"]
        async with s.get(sim.rest_url + "/api/v3/exchangeInfo", params={"symbols": '["ETHUSDT","BTCUSDT"]'}) as r:
            assert [x["symbol"] for x in (await r.json())["symbols"]] == ["ETHUSDT", "BTCUSDT"]
        async with s.get(sim.rest_url + "/api/v3/exchangeInfo?symbol=NOPE") as r:
            assert (r.status, await r.json()) == (400, {"code": -1121, "msg": "Invalid symbol."})
        async with s.get(sim.rest_url + "/api/v3/ping") as r:
            assert await r.json() == {}
        async with s.get(sim.rest_url + "/api/v3/time") as r:
            assert abs((await r.json())["serverTime"] - now_ms()) < 5000
        async with s.get(sim.rest_url + "/api/v3/depth?symbol=BTCUSDT&limit=7") as r:
            d = await r.json()
            assert len(d["bids"]) == 7 and len(d["asks"]) == 7 and d["bids"][0][0] < d["asks"][0][0]
        async with s.post(sim.rest_url + "/api/v3/userDataStream", headers={"X-MBX-APIKEY": sim.api_key}) as r:
            assert r.status == 410  # spot listenKeys are retired


# ---------------------------------------------------------------------- trading
async def test_signed_order_round_trip_with_user_stream(sim):
    async with aiohttp.ClientSession(timeout=T) as s:
        us = await UserStream().open(s, sim)
        try:
            bid, ask = await best_prices(s, sim)
            far = (bid * Decimal("0.9")).quantize(Decimal("0.01"))
            st, h, o1 = await signed(s, sim, "POST", "/api/v3/order", {
                "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01",
                "price": str(far), "newClientOrderId": "rt-limit-1", "newOrderRespType": "RESULT"})
            assert st == 200, o1
            assert o1["status"] == "NEW" and o1["clientOrderId"] == "rt-limit-1" and "fills" not in o1
            assert o1["price"] == f"{far:.8f}" and o1["origQty"] == "0.01000000" and o1["executedQty"] == "0.00000000"
            assert h["X-MBX-ORDER-COUNT-10S"].isdigit() and h["X-MBX-ORDER-COUNT-1D"].isdigit()
            assert "X-MBX-USED-WEIGHT-1M" in h
            ev = await us.wait(lambda e: e.get("e") == "executionReport" and e["c"] == "rt-limit-1")
            assert (ev["x"], ev["X"], ev["i"], ev["S"], ev["o"], ev["f"]) == ("NEW", "NEW", o1["orderId"], "BUY",
                                                                              "LIMIT", "GTC")
            assert ev["q"] == "0.01000000" and ev["p"] == f"{far:.8f}" and ev["w"] is True and ev["t"] == -1

            # marketable order: FILLED with fills (FULL is the default response type)
            st, _, o2 = await signed(s, sim, "POST", "/api/v3/order", {
                "symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.002",
                "newClientOrderId": "rt-mkt-1"}, in_body=True)
            assert st == 200, o2
            assert o2["status"] == "FILLED" and o2["executedQty"] == "0.00200000" and o2["fills"]
            assert sum(Decimal(f["qty"]) for f in o2["fills"]) == Decimal("0.002")
            cq = sum(Decimal(f["qty"]) * Decimal(f["price"]) for f in o2["fills"])
            assert Decimal(o2["cummulativeQuoteQty"]) == cq
            ev = await us.wait(lambda e: e.get("e") == "executionReport" and e["c"] == "rt-mkt-1" and e["X"] == "FILLED")
            assert ev["x"] == "TRADE" and ev["z"] == "0.00200000" and ev["m"] is False and ev["t"] > 0
            seq = [(e["x"], e["X"]) for e in us.reports("rt-mkt-1")]
            assert seq[0] == ("NEW", "NEW") and all(x == "TRADE" for x, _ in seq[1:])
            assert sum(Decimal(e["l"]) for e in us.reports("rt-mkt-1")) == Decimal("0.002")
            await us.wait(lambda e: e.get("e") == "outboundAccountPosition")

            # query + open orders
            st, _, q = await signed(s, sim, "GET", "/api/v3/order", {"symbol": "BTCUSDT",
                                                                      "origClientOrderId": "rt-limit-1"})
            assert st == 200 and q["orderId"] == o1["orderId"] and q["status"] == "NEW" and q["isWorking"] is True
            st, _, q = await signed(s, sim, "GET", "/api/v3/order", {"symbol": "BTCUSDT", "orderId": o2["orderId"]})
            assert q["status"] == "FILLED"
            st, _, oo = await signed(s, sim, "GET", "/api/v3/openOrders", {"symbol": "BTCUSDT"})
            assert st == 200 and o1["orderId"] in [o["orderId"] for o in oo]
            st, _, oo_all = await signed(s, sim, "GET", "/api/v3/openOrders")
            assert st == 200 and len(oo_all) >= len(oo)

            # trades + account
            st, _, tr = await signed(s, sim, "GET", "/api/v3/myTrades", {"symbol": "BTCUSDT",
                                                                          "orderId": o2["orderId"]})
            assert st == 200 and [t["id"] for t in tr] == [f["tradeId"] for f in o2["fills"]]
            assert all(t["isBuyer"] and not t["isMaker"] for t in tr)
            st, _, acct = await signed(s, sim, "GET", "/api/v3/account")
            bal = {b["asset"]: b for b in acct["balances"]}
            assert Decimal(bal["BTC"]["free"]) >= Decimal("10.002")
            assert Decimal(bal["USDT"]["locked"]) >= far * Decimal("0.01")

            # cancel: CANCELED, user event carries the original client id in "C"
            st, _, c = await signed(s, sim, "DELETE", "/api/v3/order", {"symbol": "BTCUSDT",
                                                                         "origClientOrderId": "rt-limit-1",
                                                                         "newClientOrderId": "rt-cxl-1"})
            assert st == 200 and c["status"] == "CANCELED" and c["origClientOrderId"] == "rt-limit-1"
            assert c["clientOrderId"] == "rt-cxl-1"
            ev = await us.wait(lambda e: e.get("e") == "executionReport" and e["x"] == "CANCELED"
                               and e["i"] == o1["orderId"])
            assert ev["c"] == "rt-cxl-1" and ev["C"] == "rt-limit-1" and ev["X"] == "CANCELED"
            st, _, c = await signed(s, sim, "DELETE", "/api/v3/order", {"symbol": "BTCUSDT", "orderId": o1["orderId"]})
            assert (st, c) == (400, {"code": -2011, "msg": "Unknown order sent."})
            st, _, q = await signed(s, sim, "GET", "/api/v3/order", {"symbol": "BTCUSDT", "orderId": 1})
            assert (st, q) == (400, {"code": -2013, "msg": "Order does not exist."})

            # WS API order entry on the same connection
            p = {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.001",
                 "price": str((ask * Decimal("1.1")).quantize(Decimal("0.01"))), "newClientOrderId": "rt-ws-1",
                 "apiKey": sim.api_key, "timestamp": now_ms()}
            p["signature"] = hmac.new(sim.api_secret.encode(), ws_api_payload(p).encode(), hashlib.sha256).hexdigest()
            r = await us.request("order.place", p, rid="ws-1")
            assert r["status"] == 200 and r["id"] == "ws-1" and r["result"]["status"] == "NEW"
            assert {x["rateLimitType"] for x in r["rateLimits"]} == {"REQUEST_WEIGHT", "ORDERS"}
            await us.wait(lambda e: e.get("e") == "executionReport" and e["c"] == "rt-ws-1")
            r = await us.request("session.subscriptions", {})
            assert r["result"] == [{"subscriptionId": us.sub_id}]
        finally:
            await us.close()


async def test_request_errors(sim):
    async with aiohttp.ClientSession(timeout=T) as s:
        bid, _ = await best_prices(s, sim)
        far = str((bid * Decimal("0.8")).quantize(Decimal("0.01")))
        base = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.001",
                "price": far}
        st, _, b = await signed(s, sim, "POST", "/api/v3/order", base, secret="x" * 64)
        assert (st, b) == (400, {"code": -1022, "msg": "Signature for this request is not valid."})
        st, _, b = await signed(s, sim, "POST", "/api/v3/order", base, key="A" * 64)
        assert (st, b["code"]) == (401, -2015)
        st, _, b = await signed(s, sim, "POST", "/api/v3/order", base, key="short")
        assert (st, b["code"]) == (401, -2014)
        st, _, b = await signed(s, sim, "POST", "/api/v3/order", base, ts=now_ms() - 10_000, recv_window=5000)
        assert (st, b) == (400, {"code": -1021, "msg": "Timestamp for this request is outside of the recvWindow."})
        st, _, b = await signed(s, sim, "POST", "/api/v3/order", base, ts=now_ms() + 5000)
        assert (st, b["code"]) == (400, -1021) and "ahead" in b["msg"]
        st, _, b = await signed(s, sim, "POST", "/api/v3/order", base, ts=now_ms() - 10_000, recv_window=20_000)
        assert st == 200, b  # a wider recvWindow accepts it
        st, _, b = await signed(s, sim, "POST", "/api/v3/order", {**base, "newClientOrderId": "dup-1"})
        assert st == 200
        st, _, b = await signed(s, sim, "POST", "/api/v3/order", {**base, "newClientOrderId": "dup-1"})
        assert (st, b) == (400, {"code": -2010, "msg": "Duplicate order sent."})
        st, _, b = await signed(s, sim, "POST", "/api/v3/order", {**base, "quantity": "5000"})
        assert (st, b) == (400, {"code": -2010, "msg": "Account has insufficient balance for requested action."})
        st, _, b = await signed(s, sim, "POST", "/api/v3/order", {**base, "price": far + "1"})
        assert (st, b) == (400, {"code": -1013, "msg": "Filter failure: PRICE_FILTER"})
        st, _, b = await signed(s, sim, "POST", "/api/v3/order", {**base, "quantity": "0.000001"})
        assert (st, b) == (400, {"code": -1013, "msg": "Filter failure: LOT_SIZE"})
        st, _, b = await signed(s, sim, "POST", "/api/v3/order", {**base, "symbol": "NOPE"})
        assert (st, b) == (400, {"code": -1121, "msg": "Invalid symbol."})
        st, _, b = await signed(s, sim, "POST", "/api/v3/order", {k: v for k, v in base.items() if k != "price"})
        assert (st, b["code"]) == (400, -1102) and "'price'" in b["msg"]
        async with s.post(sim.rest_url + "/api/v3/order?symbol=BTCUSDT&timestamp=1",
                          headers={"X-MBX-APIKEY": sim.api_key}) as r:
            assert (r.status, (await r.json())["code"]) == (400, -1102)
        # clean up the resting orders of this test
        st, _, oo = await signed(s, sim, "GET", "/api/v3/openOrders", {"symbol": "BTCUSDT"})
        for o in oo:
            await signed(s, sim, "DELETE", "/api/v3/order", {"symbol": "BTCUSDT", "orderId": o["orderId"]})


async def test_order_faults_unknown_status_lost_event_and_5xx(sim):
    async with aiohttp.ClientSession(timeout=T) as s:
        us = await UserStream().open(s, sim)
        try:
            bid, _ = await best_prices(s, sim)
            far = str((bid * Decimal("0.8")).quantize(Decimal("0.01")))
            base = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.001",
                    "price": far}
            # "execution status unknown": the answer is -1007 / 5xx, but the order exists
            await admin(s, sim, "/fault", {"type": "order", "mode": "unknown"})
            st, _, b = await signed(s, sim, "POST", "/api/v3/order", {**base, "newClientOrderId": "f-unknown"})
            assert st == 503 and b["code"] == -1007 and "execution status unknown" in b["msg"]
            st, _, q = await signed(s, sim, "GET", "/api/v3/order", {"symbol": "BTCUSDT",
                                                                      "origClientOrderId": "f-unknown"})
            assert st == 200 and q["status"] == "NEW"
            # timeout: the request hangs past the client's timeout, the order is placed anyway
            await admin(s, sim, "/fault", {"type": "order", "mode": "timeout", "hold_s": 1.0})
            with pytest.raises(asyncio.TimeoutError):
                await signed(s, sim, "POST", "/api/v3/order", {**base, "newClientOrderId": "f-timeout"}, timeout=0.3)
            st, _, q = await signed(s, sim, "GET", "/api/v3/order", {"symbol": "BTCUSDT",
                                                                      "origClientOrderId": "f-timeout"})
            assert st == 200 and q["status"] == "NEW"
            # lost user-data event for the next order only
            await admin(s, sim, "/fault", {"type": "drop_user_event"})
            st, _, a = await signed(s, sim, "POST", "/api/v3/order", {**base, "newClientOrderId": "f-quiet"})
            st, _, b2 = await signed(s, sim, "POST", "/api/v3/order", {**base, "newClientOrderId": "f-loud"})
            await us.wait(lambda e: e.get("e") == "executionReport" and e["c"] == "f-loud")
            assert us.reports("f-quiet") == []
            st, _, _ = await signed(s, sim, "DELETE", "/api/v3/order", {"symbol": "BTCUSDT", "orderId": a["orderId"]})
            await us.wait(lambda e: e.get("e") == "executionReport" and e["C"] == "f-quiet")
            # plain 5xx, not executed
            await admin(s, sim, "/fault", {"type": "http_error", "status": 502, "path": "/api/v3/time"})
            async with s.get(sim.rest_url + "/api/v3/time") as r:
                assert r.status == 502
            async with s.get(sim.rest_url + "/api/v3/time") as r:
                assert r.status == 200
            state = await admin(s, sim, "/faults")
            assert state["order_faults"] == [] and state["http_faults"] == [] and state["user_event_drops"] == 0
            acct = await admin(s, sim, "/account")
            assert {o["clientOrderId"] for o in acct["openOrders"]} >= {"f-unknown", "f-timeout", "f-loud"}
            for o in acct["openOrders"]:
                await signed(s, sim, "DELETE", "/api/v3/order", {"symbol": o["symbol"], "orderId": o["orderId"]})
        finally:
            await us.close()


async def test_connection_faults(sim):
    async with aiohttp.ClientSession(timeout=T) as s:
        # serverShutdown notice, raw and combined
        async with s.ws_connect(sim.ws_url + "/ws/solusdt@trade") as raw, \
                s.ws_connect(sim.ws_url + "/stream?streams=solusdt@trade") as comb:
            await admin(s, sim, "/fault", {"type": "server_shutdown"})
            for ws, wrapped in ((raw, False), (comb, True)):
                for _ in range(200):
                    d = json.loads((await ws.receive(timeout=5)).data)
                    if wrapped and d["stream"] == "!serverShutdown":
                        assert d["data"]["e"] == "serverShutdown"
                        break
                    if not wrapped and d.get("e") == "serverShutdown":
                        assert isinstance(d["E"], int)
                        break
                else:
                    raise AssertionError("no serverShutdown event")
        # frame delay
        async with s.ws_connect(sim.ws_url + "/ws") as ws:
            await admin(s, sim, "/fault", {"type": "delay", "ms": 300})
            try:
                t0 = time.monotonic()
                await ws.send_str(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 1}))
                assert json.loads((await ws.receive(timeout=5)).data) == {"result": [], "id": 1}
                assert time.monotonic() - t0 >= 0.28
            finally:
                await admin(s, sim, "/fault", {"type": "delay", "ms": 0})
        # disconnect all, with and without a close frame
        for close_frame in (True, False):
            async with s.ws_connect(sim.ws_url + "/ws/btcusdt@trade") as ws:
                await ws.receive(timeout=5)
                res = await admin(s, sim, "/fault", {"type": "disconnect", "close_frame": close_frame})
                assert res["applied"][0]["closed"] >= 1
                while True:
                    m = await ws.receive(timeout=5)
                    if m.type != aiohttp.WSMsgType.TEXT:
                        break
                if close_frame:
                    # the close frame carries 1001; ws.close_code may already read 1006 when the
                    # TCP close races the client's reply, so assert on the frame itself
                    assert m.type == aiohttp.WSMsgType.CLOSE and m.data == 1001
                else:
                    assert m.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
                    assert ws.close_code in (None, 1006)


# ---------------------------------------------------------------------- rate limits
async def test_weight_limit_429_then_418(limited):
    async with aiohttp.ClientSession(timeout=T) as s:
        await wait_window(60, 8)
        await admin(s, limited, "/limits", {"action": "reset"})
        used = []
        for path in ["/api/v3/ping"] * 5 + ["/api/v3/depth?symbol=BTCUSDT&limit=100",
                                            "/api/v3/exchangeInfo", "/api/v3/ping", "/api/v3/time"]:
            async with s.get(limited.rest_url + path) as r:
                assert r.status == 200
                used.append(int(r.headers["X-MBX-USED-WEIGHT-1M"]))
        assert used == [1, 2, 3, 4, 5, 10, 30, 31, 32]
        async with s.get(limited.rest_url + "/api/v3/depth?symbol=BTCUSDT&limit=101") as r:  # 25 -> 57 > 40
            assert r.status == 429
            assert 0 < int(r.headers["Retry-After"]) <= 60
            assert int(r.headers["X-MBX-USED-WEIGHT-1M"]) == 57
            b = await r.json()
            assert b["code"] == -1003 and "current limit is 40 request weight per 1 MINUTE" in b["msg"]
        async with s.get(limited.rest_url + "/api/v3/ping") as r:
            assert r.status == 429  # second 429 (ban_after=2)
        async with s.get(limited.rest_url + "/api/v3/ping") as r:
            assert r.status == 418
            assert int(r.headers["Retry-After"]) == 2
            b = await r.json()
            assert b["code"] == -1003 and "IP banned until" in b["msg"]
        async with s.get(limited.rest_url + "/api/v3/time") as r:
            assert r.status == 418
        await asyncio.sleep(2.1)
        async with s.get(limited.rest_url + "/api/v3/ping") as r:
            assert r.status == 429  # ban over, minute window still exhausted
        await admin(s, limited, "/limits", {"action": "reset"})


async def test_order_count_limit(limited):
    async with aiohttp.ClientSession(timeout=T) as s:
        await wait_window(10, 3)
        await admin(s, limited, "/limits", {"action": "reset"})
        bid, _ = await best_prices(s, limited)
        p = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.001",
             "price": str((bid * Decimal("0.8")).quantize(Decimal("0.01")))}
        counts = []
        for _ in range(3):
            st, h, b = await signed(s, limited, "POST", "/api/v3/order", p)
            assert st == 200, b
            counts.append((int(h["X-MBX-ORDER-COUNT-10S"]), int(h["X-MBX-ORDER-COUNT-1D"])))
        assert counts == [(1, 1), (2, 2), (3, 3)]
        st, h, b = await signed(s, limited, "POST", "/api/v3/order", p)
        assert st == 429 and b["code"] == -1015 and "Retry-After" not in h
        await admin(s, limited, "/limits", {"action": "reset"})


# ---------------------------------------------------------------------- keepalive / limits on WS
async def test_pings_pong_timeout_and_max_age(keepalive):
    async with aiohttp.ClientSession(timeout=T) as s:

        async def silent_client() -> float:
            async with s.ws_connect(keepalive.ws_url + "/ws/btcusdt@trade", autoping=False) as ws:
                t0 = time.monotonic()
                pings = 0
                while True:
                    m = await ws.receive(timeout=5)
                    if m.type == aiohttp.WSMsgType.PING:
                        pings += 1
                    elif m.type != aiohttp.WSMsgType.TEXT:
                        break
                assert pings >= 2
                return time.monotonic() - t0

        async def polite_client() -> float:
            async with s.ws_connect(keepalive.ws_url + "/ws/btcusdt@trade") as ws:  # aiohttp answers pings
                t0 = time.monotonic()
                while True:
                    m = await ws.receive(timeout=5)
                    if m.type != aiohttp.WSMsgType.TEXT:
                        break
                return time.monotonic() - t0

        silent, polite = await asyncio.gather(silent_client(), polite_client())
        assert 1.0 <= silent < 2.3  # first ping at 0.3 s + 1.0 s pong timeout
        assert 2.3 <= polite < 4.0  # survives pong checks, closed at max age 2.5 s


async def test_inbound_message_cap_and_pings_off(keepalive):
    async with aiohttp.ClientSession(timeout=T) as s:
        async with s.ws_connect(keepalive.ws_url + "/ws") as ws:
            for i in range(12):
                await ws.send_str(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}))
            while True:
                m = await ws.receive(timeout=5)
                if m.type != aiohttp.WSMsgType.TEXT:
                    break
            assert m.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        await admin(s, keepalive, "/fault", {"type": "pings", "enabled": False})
        try:
            async with s.ws_connect(keepalive.ws_url + "/ws", autoping=False) as ws:
                with pytest.raises(asyncio.TimeoutError):
                    await ws.receive(timeout=0.8)
        finally:
            await admin(s, keepalive, "/fault", {"type": "pings", "enabled": True})


# ---------------------------------------------------------------------- harness
def test_harness_reports_urls_and_leaves_no_process():
    with running_simulator("binance", rate=10, symbols="ETHUSDT") as s:
        pid = s.pid
        assert s.rest_url.startswith("http://127.0.0.1:") and s["ws_url"].startswith("ws://127.0.0.1:")
        assert s.admin_url.endswith("/__sim") and s.symbols == ["ETHUSDT"]
        os.kill(pid, 0)
    assert s.proc.poll() is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_in_process_simulator_and_admin_views():
    async with in_process_simulator("binance", rate=50, symbols="BTCUSDT") as sim:
        venue = sim.sim_venue
        async with aiohttp.ClientSession(timeout=T) as s:
            st = await admin(s, sim, "/status")
            assert st["venue"] == "binance" and st["symbols"] == ["BTCUSDT"]
            paused = await admin(s, sim, "/market", {"action": "pause"})
            stepped = await admin(s, sim, "/market", {"action": "step", "n": 5})
            assert stepped["steps"] == paused["steps"] + 5
            book = await admin(s, sim, "/book?symbol=BTCUSDT")
            # venue-neutral shape: sequence number and decimal-string levels, best first
            assert set(book) == {"symbol", "seq", "bids", "asks"} and book["symbol"] == "BTCUSDT"
            assert book["seq"] == venue.markets["BTCUSDT"].update_id == stepped["seq"]["BTCUSDT"]
            assert all(isinstance(p, str) and isinstance(q, str) for p, q in book["bids"] + book["asks"])
            assert Decimal(book["bids"][0][0]) > Decimal(book["bids"][1][0])
            assert Decimal(book["asks"][0][0]) < Decimal(book["asks"][1][0])
            assert Decimal(book["bids"][0][0]) < Decimal(book["asks"][0][0])
            assert len(book["bids"]) == len(venue.markets["BTCUSDT"].bids)
            acct = await admin(s, sim, "/account")
            assert {b["asset"]: b["free"] for b in acct["balances"]}["USDT"] == "1000000"
            async with s.post(sim.admin_url + "/fault", json={"type": "bogus"}) as r:
                assert r.status == 400


def test_config_repr_keeps_the_secret_out():
    c = SIM.config_from_options(api_secret="S" * 64)
    assert "S" * 64 not in repr(c) and c.api_secret == "S" * 64
    assert SIM.config_from_options().api_secret not in repr(SIM.config_from_options())


async def test_stream_cap_and_subscribe_budget_through_the_shared_control():
    async with in_process_simulator("binance", rate=20, symbols="BTCUSDT", max_topics=2, sub_ops=2) as sim:
        async with aiohttp.ClientSession(timeout=T) as s:
            async with s.get(sim.ws_url + "/ws/btcusdt@trade/btcusdt@depth/btcusdt@bookTicker") as r:
                assert r.status == 400 and "Too many streams" in await r.text()
            async with s.ws_connect(sim.ws_url + "/ws/btcusdt@trade") as ws:

                async def ask(obj) -> dict:
                    await ws.send_str(json.dumps(obj))
                    while True:
                        d = json.loads((await ws.receive(timeout=5)).data)
                        if "e" not in d:
                            return d

                r = await ask({"method": "SUBSCRIBE", "params": ["btcusdt@depth", "btcusdt@aggTrade"], "id": 1})
                assert r["code"] == 2 and r["id"] == 1 and "too many streams" in r["msg"]
                assert await ask({"method": "SUBSCRIBE", "params": ["btcusdt@depth"], "id": 2}) == \
                    {"result": None, "id": 2}
                r = await ask({"method": "UNSUBSCRIBE", "params": ["btcusdt@depth"], "id": 3})
                assert r["code"] == 2 and "too many subscription requests" in r["msg"]
                assert await ask({"method": "LIST_SUBSCRIPTIONS", "id": 4}) == \
                    {"result": ["btcusdt@depth", "btcusdt@trade"], "id": 4}


async def test_ws_api_requests_spend_the_rest_weight_budget():
    async with in_process_simulator("binance", rate=0, symbols="BTCUSDT", weight_limit=4) as sim:
        left = 60 - time.time() % 60  # stay inside one fixed minute window
        if left < 3:
            await asyncio.sleep(left + 0.05)
        async with aiohttp.ClientSession(timeout=T) as s:
            async with s.ws_connect(sim.ws_api_url) as ws:  # connecting costs 1
                answers = []
                for i in range(4):
                    await ws.send_str(json.dumps({"id": i, "method": "time"}))
                    answers.append(json.loads((await ws.receive(timeout=5)).data))
                await ws.send_str("[1, 2]")
                bad = json.loads((await ws.receive(timeout=5)).data)
        assert [a["status"] for a in answers] == [200, 200, 200, 429]
        assert answers[3]["error"]["code"] == -1003 and answers[3]["id"] == 3
        assert [a["rateLimits"][0]["count"] for a in answers] == [2, 3, 4, 5]
        assert bad == {"id": None, "status": 400, "error": {"code": -1135, "msg": "Invalid JSON Request"}}
