"""Bybit v5 simulator (market data) over real loopback sockets: instruments and REST answers, the
orderbook streams applied to their snapshots against the venue's book, u counting pushes and
jumping on a gap fault, spot and linear as separate markets, control-frame replies (acks,
refusals, the three pong shapes), trades, tickers, liquidations, system status, idle close and
the IP limit's 403; the order side: signed REST (signature, time window and key errors), orders on
spot and linear placed, queried, amended and canceled, their refusals, fills with fees, positions,
the wallet, the per-endpoint limit headers, the private WebSocket's pushes, order entry over the
trade WebSocket and disconnect-cancel-all."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import time
from decimal import Decimal
from urllib.parse import urlencode

import aiohttp
from yarl import URL

from venuelink.sim.server import in_process_simulator

T = aiohttp.ClientTimeout(total=10)
FAST = dict(rate=100, seed=7, depth_fast_ms=20)
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
LINEAR_TICKER = {"symbol", "tickDirection", "price24hPcnt", "lastPrice", "prevPrice24h", "highPrice24h",
                 "lowPrice24h", "prevPrice1h", "markPrice", "indexPrice", "openInterest", "openInterestValue",
                 "turnover24h", "volume24h", "nextFundingTime", "fundingRate", "bid1Price", "bid1Size",
                 "ask1Price", "ask1Size"}
SPOT_TICKER = {"symbol", "lastPrice", "highPrice24h", "lowPrice24h", "prevPrice24h", "volume24h", "turnover24h",
               "price24hPcnt", "usdIndexPrice"}


# ---------------------------------------------------------------------- helpers
async def rest(s, sim, path, status=200):
    async with s.get(sim.rest_url + path) as r:
        assert r.status == status, await r.text()
        return await r.json()


async def admin(s, sim, path, body=None):
    if body is None:
        async with s.get(sim.admin_url + path) as r:
            assert r.status == 200, await r.text()
            return await r.json()
    async with s.post(sim.admin_url + path, json=body) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def recv(ws, timeout=3.0):
    m = await ws.receive(timeout=timeout)
    assert m.type == aiohttp.WSMsgType.TEXT, m
    return json.loads(m.data)


async def subscribe(ws, *topics, rid="s1"):
    await ws.send_str(json.dumps({"req_id": rid, "op": "subscribe", "args": list(topics)}))
    ack = await recv(ws)
    assert ack["success"] is True and ack["op"] == "subscribe" and ack["req_id"] == rid, ack
    return ack


class Book:
    """A client's copy of one orderbook.N topic, built from its snapshot and deltas."""

    def __init__(self, depth):
        self.depth = depth
        self.u = None
        self.b, self.a = {}, {}
        self.jumps = []          # (previous u, new u) where a delta did not follow by one

    def apply(self, msg):
        d = msg["data"]
        if msg["type"] == "snapshot":
            self.b, self.a = {}, {}
        elif self.u is not None and d["u"] != self.u + 1:
            self.jumps.append((self.u, d["u"]))
        for side, book in (("b", self.b), ("a", self.a)):
            for p, q in d[side]:
                if Decimal(q) == 0:
                    book.pop(Decimal(p), None)
                else:
                    book[Decimal(p)] = Decimal(q)
        self.u = d["u"]
        assert len(self.b) <= self.depth and len(self.a) <= self.depth, (len(self.b), len(self.a))

    def levels(self):
        return (sorted(self.b.items(), reverse=True), sorted(self.a.items()))


def dec_levels(rows):
    return [(Decimal(p), Decimal(q)) for p, q in rows]


# ---------------------------------------------------------------------- REST
async def test_instruments_rest_answers_and_the_report():
    async with in_process_simulator("bybit", **FAST) as sim:
        assert sim.ws_url == f"ws://127.0.0.1:{sim.port}"
        assert sim.market_names == {"BTC/USDT": "BTCUSDT", "ETH/USDT": "ETHUSDT",
                                    "BTC/USDT:USDT": "linear:BTCUSDT", "ETH/USDT:USDT": "linear:ETHUSDT"}
        async with aiohttp.ClientSession(timeout=T) as s:
            spot = await rest(s, sim, "/v5/market/instruments-info?category=spot")
            assert spot["retCode"] == 0 and spot["retMsg"] == "OK" and spot["retExtInfo"] == {}
            assert spot["result"]["category"] == "spot" and spot["result"]["nextPageCursor"] == ""
            by = {r["symbol"]: r for r in spot["result"]["list"]}
            assert set(by) == {"BTCUSDT", "ETHUSDT"}
            btc = by["BTCUSDT"]
            assert (btc["baseCoin"], btc["quoteCoin"], btc["status"], btc["marginTrading"]) == \
                ("BTC", "USDT", "Trading", "utaOnly")
            assert btc["lotSizeFilter"]["basePrecision"] == "0.000001"
            assert btc["lotSizeFilter"]["minOrderQty"] == "0.000048" and btc["lotSizeFilter"]["minOrderAmt"] == "1"
            assert btc["priceFilter"] == {"tickSize": "0.01"}
            assert by["ETHUSDT"]["lotSizeFilter"]["minOrderQty"] == "0.00062"
            assert btc["riskParameters"] == {"priceLimitRatioX": "0.01", "priceLimitRatioY": "0.02"}

            lin = await rest(s, sim, "/v5/market/instruments-info?category=linear")
            by = {r["symbol"]: r for r in lin["result"]["list"]}
            assert set(by) == {"BTCUSDT", "ETHUSDT"}
            b = by["BTCUSDT"]
            assert (b["contractType"], b["settleCoin"], b["priceScale"], b["fundingInterval"]) == \
                ("LinearPerpetual", "USDT", "2", 480)
            assert b["priceFilter"]["tickSize"] == "0.10" and b["lotSizeFilter"]["qtyStep"] == "0.001"
            assert b["lotSizeFilter"]["minNotionalValue"] == "5" and b["lotSizeFilter"]["minOrderQty"] == "0.001"
            assert b["unifiedMarginTrade"] is True and b["isPreListing"] is False and b["preListingInfo"] is None
            assert by["ETHUSDT"]["lotSizeFilter"]["qtyStep"] == "0.01"
            one = await rest(s, sim, "/v5/market/instruments-info?category=linear&symbol=ETHUSDT")
            assert [r["symbol"] for r in one["result"]["list"]] == ["ETHUSDT"]
            page = await rest(s, sim, "/v5/market/instruments-info?category=spot&limit=1")
            assert len(page["result"]["list"]) == 1 and page["result"]["nextPageCursor"]
            rest_page = await rest(s, sim, "/v5/market/instruments-info?category=spot&limit=1&cursor="
                                   + page["result"]["nextPageCursor"])
            assert rest_page["result"]["list"][0]["symbol"] != page["result"]["list"][0]["symbol"]

            for q in ("category=inverse", ""):   # business errors: HTTP 200, retCode 10001
                e = await rest(s, sim, "/v5/market/instruments-info?" + q)
                assert (e["retCode"], e["retMsg"], e["result"]) == (10001, "Illegal category", {})
            e = await rest(s, sim, "/v5/market/orderbook?category=spot&symbol=NOPEUSDT")
            assert e["retCode"] == 10001
            e = await rest(s, sim, "/v5/market/orderbook?category=spot&symbol=BTCUSDT&limit=201")
            assert e["retCode"] == 10001
            t = (await rest(s, sim, "/v5/market/time"))["result"]
            assert abs(int(t["timeSecond"]) - time.time()) < 5 and t["timeNano"].startswith(t["timeSecond"])
            assert (await rest(s, sim, "/v5/system/status"))["result"] == {"list": []}

            bk = (await rest(s, sim, "/v5/market/orderbook?category=spot&symbol=BTCUSDT"))["result"]
            assert len(bk["b"]) == 1 and len(bk["a"]) == 1 and bk["s"] == "BTCUSDT"   # spot default: 1 level
            bk = (await rest(s, sim, "/v5/market/orderbook?category=linear&symbol=BTCUSDT"))["result"]
            assert len(bk["b"]) == 25 and re.match(r"^\d+\.\d0$", bk["b"][0][0]) and bk["u"] > 0

            trades = []
            for _ in range(100):
                trades = (await rest(s, sim, "/v5/market/recent-trade?category=linear&symbol=BTCUSDT&limit=5")
                          )["result"]["list"]
                if len(trades) == 5:
                    break
                await asyncio.sleep(0.05)
            assert len(trades) == 5 and all(UUID_RE.match(t["execId"]) for t in trades)
            assert [int(t["time"]) for t in trades] == sorted((int(t["time"]) for t in trades), reverse=True)
            assert {t["side"] for t in trades} <= {"Buy", "Sell"} and trades[0]["isBlockTrade"] is False


async def test_a_run_serves_only_its_markets_on_each_category():
    async with in_process_simulator("bybit", rate=50, symbols=["BTCUSDT", "linear:ETHUSDT"]) as sim:
        assert sim.market_names == {"BTC/USDT": "BTCUSDT", "ETH/USDT:USDT": "linear:ETHUSDT"}
        async with aiohttp.ClientSession(timeout=T) as s:
            lin = await rest(s, sim, "/v5/market/instruments-info?category=linear")
            assert [r["symbol"] for r in lin["result"]["list"]] == ["ETHUSDT"]
            async with s.ws_connect(sim.ws_url + "/v5/public/spot") as ws:
                await ws.send_str(json.dumps({"req_id": "x", "op": "subscribe", "args": ["orderbook.50.ETHUSDT"]}))
                r = await recv(ws)
                assert r["success"] is False and r["ret_msg"] == "Invalid symbol :[orderbook.50.ETHUSDT]"
            async with s.ws_connect(sim.ws_url + "/v5/public/linear") as ws:
                await subscribe(ws, "orderbook.50.ETHUSDT")
                assert (await recv(ws))["data"]["s"] == "ETHUSDT"


async def test_ip_limit_answers_403_text_and_faults_their_envelopes():
    async with in_process_simulator("bybit", rate=20, limit={"IP_5S": 3}) as sim:
        async with aiohttp.ClientSession(timeout=T) as s:
            await admin(s, sim, "/limits", {"action": "reset"})
            for _ in range(3):
                await rest(s, sim, "/v5/market/time")
            async with s.get(sim.rest_url + "/v5/market/time") as r:
                assert r.status == 403 and await r.text() == "access too frequent"
            await admin(s, sim, "/limits", {"action": "reset"})
            await admin(s, sim, "/fault", {"type": "rate_limit", "retry_after_s": 2})
            async with s.get(sim.rest_url + "/v5/market/time") as r:
                body = await r.json()
                assert r.status == 200 and body["retCode"] == 10006
                assert int(r.headers["X-Bapi-Limit-Reset-Timestamp"]) > body["time"]
            await admin(s, sim, "/fault", {"type": "http_error", "status": 503})
            async with s.get(sim.rest_url + "/v5/market/time") as r:
                assert r.status == 503 and (await r.json())["retCode"] == 10016


# ---------------------------------------------------------------------- order books
async def test_book_streams_applied_to_their_snapshots_are_the_venues_book():
    async with in_process_simulator("bybit", **FAST) as sim:
        async with aiohttp.ClientSession(timeout=T) as s, s.ws_connect(sim.ws_url + "/v5/public/spot") as ws:
            await subscribe(ws, "orderbook.50.BTCUSDT", "orderbook.200.BTCUSDT")
            books = {"orderbook.50.BTCUSDT": Book(50), "orderbook.200.BTCUSDT": Book(200)}
            deltas = 0
            rest_u = None
            at_u = {}                                   # u -> the 50-level book after it
            end = time.monotonic() + 1.0
            while time.monotonic() < end or rest_u is None or books["orderbook.50.BTCUSDT"].u < rest_u["u"]:
                if rest_u is None and time.monotonic() > end - 0.5:
                    # the REST book's u is the stream's: the client's book at that u is the REST book
                    rest_u = (await rest(s, sim, "/v5/market/orderbook?category=spot&symbol=BTCUSDT&limit=50")
                              )["result"]
                msg = await recv(ws)
                bk = books[msg["topic"]]
                bk.apply(msg)
                if msg["type"] == "delta":
                    deltas += 1
                    assert msg["data"]["s"] == "BTCUSDT" and msg["data"]["seq"] >= 1
                if bk.depth == 50:
                    at_u[bk.u] = bk.levels()
            assert deltas > 20
            assert at_u[rest_u["u"]] == (dec_levels(rest_u["b"]), dec_levels(rest_u["a"]))
            await admin(s, sim, "/market", {"action": "pause"})
            await asyncio.sleep(0.35)                   # every pending change flushed
            while True:
                try:
                    msg = await recv(ws, timeout=0.3)
                except asyncio.TimeoutError:
                    break
                books[msg["topic"]].apply(msg)
            for topic, bk in books.items():
                assert bk.jumps == [], (topic, bk.jumps)
                ref = await admin(s, sim, f"/book?symbol=BTCUSDT&limit={bk.depth}")
                assert bk.levels() == (dec_levels(ref["bids"]), dec_levels(ref["asks"])), topic
                assert len(bk.b) == bk.depth
            # the paused book: the REST answer carries the 50-level topic's u
            r = (await rest(s, sim, "/v5/market/orderbook?category=spot&symbol=BTCUSDT&limit=50"))["result"]
            assert r["u"] == books["orderbook.50.BTCUSDT"].u


async def test_a_gap_fault_makes_u_jump():
    async with in_process_simulator("bybit", **FAST) as sim:
        async with aiohttp.ClientSession(timeout=T) as s, s.ws_connect(sim.ws_url + "/v5/public/spot") as ws:
            await subscribe(ws, "orderbook.50.BTCUSDT")
            bk = Book(50)
            bk.apply(await recv(ws))
            for _ in range(5):
                bk.apply(await recv(ws))
            assert bk.jumps == []
            await admin(s, sim, "/fault", {"type": "gap", "symbol": "BTCUSDT", "count": 1})
            for _ in range(20):
                bk.apply(await recv(ws))
            assert len(bk.jumps) == 1 and bk.jumps[0][1] == bk.jumps[0][0] + 2, bk.jumps


async def test_spot_and_linear_btcusdt_are_different_markets():
    async with in_process_simulator("bybit", **FAST) as sim:
        async with aiohttp.ClientSession(timeout=T) as s:
            await admin(s, sim, "/market", {"action": "pause"})
            snaps = {}
            for cat in ("spot", "linear"):
                async with s.ws_connect(sim.ws_url + f"/v5/public/{cat}") as ws:
                    await subscribe(ws, "orderbook.50.BTCUSDT")
                    snaps[cat] = await recv(ws)
                    assert snaps[cat]["type"] == "snapshot" and snaps[cat]["topic"] == "orderbook.50.BTCUSDT"
            for cat, name in (("spot", "BTCUSDT"), ("linear", "linear:BTCUSDT")):
                ref = await admin(s, sim, f"/book?symbol={name}&limit=50")
                d = snaps[cat]["data"]
                assert (dec_levels(d["b"]), dec_levels(d["a"])) == (dec_levels(ref["bids"]), dec_levels(ref["asks"]))
                assert d["seq"] == ref["seq"]
            assert snaps["spot"]["data"]["b"] != snaps["linear"]["data"]["b"]
            assert re.match(r"^\d+\.\d{6}$", snaps["spot"]["data"]["b"][0][1])      # basePrecision 0.000001
            assert re.match(r"^\d+\.\d{3}$", snaps["linear"]["data"]["b"][0][1])    # qtyStep 0.001
            assert re.match(r"^\d+\.\d0$", snaps["linear"]["data"]["b"][0][0])      # tick 0.10


async def test_orderbook_1_is_snapshots_of_the_best_levels():
    async with in_process_simulator("bybit", **FAST) as sim:
        async with aiohttp.ClientSession(timeout=T) as s, s.ws_connect(sim.ws_url + "/v5/public/linear") as ws:
            await subscribe(ws, "orderbook.1.BTCUSDT")
            us, tops = [], []
            for _ in range(15):
                m = await recv(ws)
                assert m["type"] == "snapshot" and m["topic"] == "orderbook.1.BTCUSDT"
                assert len(m["data"]["b"]) == 1 and len(m["data"]["a"]) == 1
                us.append(m["data"]["u"])
                tops.append((m["data"]["b"], m["data"]["a"]))
            assert all(b == a + 1 for a, b in zip(us, us[1:])), us
            assert all(x != y for x, y in zip(tops, tops[1:]))          # pushed when the best changed


# ---------------------------------------------------------------------- control frames
async def test_pongs_acks_and_refusals():
    async with in_process_simulator("bybit", **FAST) as sim:
        async with aiohttp.ClientSession(timeout=T) as s:
            async with s.ws_connect(sim.ws_url + "/v5/public/spot") as ws:
                await ws.send_str('{"op":"ping"}')
                p = await recv(ws)
                assert set(p) == {"success", "ret_msg", "conn_id", "op"} and p["ret_msg"] == "pong" and p["conn_id"]
                spot_conn = p["conn_id"]
                await ws.send_str('{"req_id":"100001","op":"ping"}')
                assert (await recv(ws))["req_id"] == "100001"
                ack = await subscribe(ws, "tickers.BTCUSDT", rid="a1")
                assert ack["ret_msg"] == "subscribe" and ack["conn_id"] == spot_conn
                assert (await recv(ws))["topic"] == "tickers.BTCUSDT"
                args = [f"publicTrade.{x}" for x in ("BTCUSDT", "ETHUSDT")] * 3 + \
                       [f"orderbook.{d}.BTCUSDT" for d in (1, 50, 200)] + ["orderbook.1.ETHUSDT", "tickers.ETHUSDT"]
                await ws.send_str(json.dumps({"req_id": "big", "op": "subscribe", "args": args}))
                while True:                                   # skip the tickers pushes
                    r = await recv(ws)
                    if "op" in r:
                        break
                assert r == {"success": False, "ret_msg": "args size >10", "conn_id": spot_conn, "req_id": "big",
                             "op": "subscribe"}
                st = await admin(s, sim, "/status")
                assert st["topics"] == ["tickers.BTCUSDT"]          # nothing of the refused request
                await ws.send_str(json.dumps({"req_id": "u", "op": "unsubscribe", "args": ["tickers.BTCUSDT"]}))
                while (r := await recv(ws)).get("op") != "unsubscribe":
                    pass
                assert r["success"] is True and r["req_id"] == "u"
                for bad, why in (("allLiquidation.BTCUSDT", "error:handler not found,topic:allLiquidation.BTCUSDT"),
                                 ("orderbook.50.NOPEUSDT", "Invalid symbol :[orderbook.50.NOPEUSDT]"),
                                 ("orderbook.7.BTCUSDT", "error:handler not found,topic:orderbook.7.BTCUSDT")):
                    await ws.send_str(json.dumps({"req_id": "b", "op": "subscribe", "args": [bad]}))
                    r = await recv(ws)
                    assert (r["success"], r["ret_msg"], r["op"]) == (False, why, "subscribe")
                await ws.send_str("not json")
                assert (await recv(ws))["success"] is False
                await ws.send_str('{"op":"dance"}')
                assert (await recv(ws))["success"] is False
            async with s.ws_connect(sim.ws_url + "/v5/public/linear") as ws:
                await ws.send_str('{"op":"ping"}')
                p = await recv(ws)
                assert p == {"success": True, "ret_msg": "pong", "conn_id": p["conn_id"], "req_id": "", "op": "ping"}
                assert p["conn_id"] != spot_conn
                ack = await subscribe(ws, *[f"publicTrade.BTCUSDT"] + [f"orderbook.{d}.ETHUSDT" for d in (1, 50, 200)]
                                      + ["tickers.BTCUSDT", "tickers.ETHUSDT", "allLiquidation.BTCUSDT",
                                         "allLiquidation.ETHUSDT", "publicTrade.ETHUSDT", "orderbook.1.BTCUSDT",
                                         "orderbook.50.BTCUSDT"])
                assert ack["ret_msg"] == ""                      # linear takes more than 10 args
            async with s.ws_connect(sim.ws_url + "/v5/public/misc/status") as ws:
                await ws.send_str('{"op":"ping"}')
                p = await recv(ws)
                assert set(p) == {"op", "args", "conn_id"} and p["op"] == "pong"
                assert abs(int(p["args"][0]) - time.time() * 1000) < 5000


async def test_a_connection_without_client_frames_is_closed():
    async with in_process_simulator("bybit", rate=20, idle_timeout_s=0.4) as sim:
        async with aiohttp.ClientSession(timeout=T) as s:
            async with s.ws_connect(sim.ws_url + "/v5/public/linear") as quiet, \
                    s.ws_connect(sim.ws_url + "/v5/public/linear") as pinger:
                t0 = time.monotonic()
                closed = None
                while time.monotonic() - t0 < 1.5:
                    await pinger.send_str('{"op":"ping"}')
                    assert (await recv(pinger))["ret_msg"] == "pong"
                    if closed is None and quiet.closed is False:
                        try:
                            m = await quiet.receive(timeout=0.15)
                            if m.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                                closed = time.monotonic() - t0
                        except asyncio.TimeoutError:
                            pass
                    else:
                        await asyncio.sleep(0.15)
                assert closed is not None and 0.3 < closed < 1.5
                assert not pinger.closed


# ---------------------------------------------------------------------- trades, tickers, liquidations, status
async def test_public_trades_batch_rows_with_distinct_ids():
    async with in_process_simulator("bybit", **FAST) as sim:
        async with aiohttp.ClientSession(timeout=T) as s:
            for cat in ("linear", "spot"):
                async with s.ws_connect(sim.ws_url + f"/v5/public/{cat}") as ws:
                    await subscribe(ws, "publicTrade.BTCUSDT")
                    rows, multi = [], 0
                    while multi < 3 or len(rows) < 20:
                        m = await recv(ws)
                        assert m["topic"] == "publicTrade.BTCUSDT" and m["type"] == "snapshot"
                        multi += len(m["data"]) > 1
                        rows += m["data"]
                    ids = [r["i"] for r in rows]
                    assert len(set(ids)) == len(ids) and all(ids)
                    for r in rows:
                        assert r["s"] == "BTCUSDT" and r["S"] in ("Buy", "Sell") and r["BT"] is False
                        assert r["RPI"] is False and isinstance(r["seq"], int) and isinstance(r["T"], int)
                        assert ("L" in r) == (cat == "linear")
                    if cat == "linear":
                        assert all(UUID_RE.match(i) for i in ids)
                        assert {r["L"] for r in rows} <= {"PlusTick", "MinusTick", "ZeroPlusTick", "ZeroMinusTick"}
                    else:
                        assert all(i.isdigit() for i in ids) and [int(i) for i in ids] == sorted(int(i) for i in ids)
                    recent = (await rest(s, sim, f"/v5/market/recent-trade?category={cat}&symbol=BTCUSDT&limit=60")
                              )["result"]["list"]
                    assert ids[-1] in {t["execId"] for t in recent}


async def test_linear_tickers_snapshot_then_deltas_of_changed_fields():
    async with in_process_simulator("bybit", funding_change_s=0.3, **FAST) as sim:
        async with aiohttp.ClientSession(timeout=T) as s:
            async with s.ws_connect(sim.ws_url + "/v5/public/linear") as ws:
                await subscribe(ws, "tickers.BTCUSDT")
                snap = await recv(ws)
                assert snap["type"] == "snapshot" and snap["topic"] == "tickers.BTCUSDT"
                assert set(snap["data"]) == LINEAR_TICKER and isinstance(snap["cs"], int)
                state = dict(snap["data"])
                nft = int(state["nextFundingTime"])
                assert nft % (8 * 3600 * 1000) == 0 and 0 < nft - time.time() * 1000 <= 8 * 3600 * 1000
                assert re.match(r"^-?0\.\d{6}$", state["fundingRate"])
                seen, deltas = set(), 0
                end = time.monotonic() + 1.2
                while time.monotonic() < end:
                    m = await recv(ws)
                    assert m["type"] == "delta" and m["data"]["symbol"] == "BTCUSDT"
                    changed = {k: v for k, v in m["data"].items() if k != "symbol"}
                    assert changed and set(changed) < LINEAR_TICKER
                    assert all(state[k] != v for k, v in changed.items()), changed    # only what changed
                    state.update(changed)
                    seen |= set(changed)
                    deltas += 1
                assert deltas >= 5 and {"markPrice", "openInterest", "fundingRate"} <= seen
                assert "nextFundingTime" not in seen and "prevPrice1h" not in seen
                assert re.match(r"^\d+\.\d{3}$", state["openInterest"])
                assert abs(Decimal(state["indexPrice"]) - Decimal(state["markPrice"])) < 20
            async with s.ws_connect(sim.ws_url + "/v5/public/spot") as ws:
                await subscribe(ws, "tickers.ETHUSDT")
                for _ in range(3):
                    m = await recv(ws)
                    assert m["type"] == "snapshot" and set(m["data"]) == SPOT_TICKER


async def test_all_liquidation_frames():
    async with in_process_simulator("bybit", liquidation_ms=100, **FAST) as sim:
        async with aiohttp.ClientSession(timeout=T) as s, s.ws_connect(sim.ws_url + "/v5/public/linear") as ws:
            await subscribe(ws, "allLiquidation.ETHUSDT")
            for _ in range(4):
                m = await recv(ws)
                assert m["topic"] == "allLiquidation.ETHUSDT" and m["type"] == "snapshot"
                (row,) = m["data"]
                assert set(row) == {"T", "s", "S", "v", "p"} and row["s"] == "ETHUSDT"
                bk = (await rest(s, sim, "/v5/market/orderbook?category=linear&symbol=ETHUSDT&limit=1"))["result"]
                mid = (Decimal(bk["b"][0][0]) + Decimal(bk["a"][0][0])) / 2
                p = Decimal(row["p"])
                assert (p < mid) if row["S"] == "Buy" else (p > mid)     # a long is closed below the mark
                assert abs(p - mid) / mid < Decimal("0.01") and Decimal(row["v"]) > 0


async def test_system_status_stream_and_rest():
    async with in_process_simulator("bybit", rate=20) as sim:
        async with aiohttp.ClientSession(timeout=T) as s:
            async with s.ws_connect(sim.ws_url + "/v5/public/misc/status") as ws:
                await subscribe(ws, "system.status")
                await admin(s, sim, "/fault", {"type": "maintenance_notice", "in_s": 60, "for_s": 120})
                m = await recv(ws, timeout=3)
                (row,) = m["data"]
                assert m["topic"] == "system.status" and row["state"] == "scheduled"
                assert int(row["end"]) - int(row["begin"]) == 120_000 and row["serviceTypes"] == [2, 3, 4, 5]
                assert (await rest(s, sim, "/v5/system/status"))["result"]["list"] == [row]
                await admin(s, sim, "/fault", {"type": "maintenance_notice", "in_s": -1, "for_s": 60})
                m = await recv(ws, timeout=3)
                assert m["data"][0]["state"] == "ongoing"
            async with s.ws_connect(sim.ws_url + "/v5/public/misc/status") as ws:
                await subscribe(ws, "system.status")
                assert (await recv(ws))["data"][0]["state"] == "ongoing"      # pushed on subscribe


# ---------------------------------------------------------------------- the order side
ORDERS = dict(rate=20, seed=11, limit={"CREATE_1S": 100, "SPOT_CREATE_1S": 100})    # more orders a second than Bybit allows
ORDER_KEYS = {"orderId", "orderLinkId", "blockTradeId", "symbol", "price", "qty", "side", "isLeverage", "positionIdx",
              "orderStatus", "cancelType", "rejectReason", "avgPrice", "leavesQty", "leavesValue", "cumExecQty",
              "cumExecValue", "cumExecFee", "timeInForce", "orderType", "stopOrderType", "orderIv", "triggerPrice",
              "takeProfit", "stopLoss", "tpTriggerBy", "slTriggerBy", "triggerDirection", "triggerBy",
              "lastPriceOnCreated", "reduceOnly", "closeOnTrigger", "smpType", "smpGroup", "smpOrderId", "tpslMode",
              "tpLimitPrice", "slLimitPrice", "placeType", "createdTime", "updatedTime", "category"}
EXEC_KEYS = {"symbol", "orderId", "orderLinkId", "side", "orderPrice", "orderQty", "leavesQty", "createType",
             "orderType", "stopOrderType", "execFee", "execId", "execPrice", "execQty", "execType", "execValue",
             "execTime", "feeCurrency", "isMaker", "feeRate", "tradeIv", "markIv", "markPrice", "indexPrice",
             "underlyingPrice", "blockTradeId", "closedSize", "seq"}


def _hex(secret, payload):
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


async def signed(s, sim, method, path, params=None, *, secret=None, key=None, ts_ms=None, recv="5000"):
    """A signed v5 request: (HTTP status, body, headers)."""
    ts = str(ts_ms if ts_ms is not None else int(time.time() * 1000))
    key = sim.api_key if key is None else key
    if method == "GET":
        payload = urlencode(params or {})
        url, data = sim.rest_url + path + ("?" + payload if payload else ""), None
    else:
        payload = json.dumps(params or {})
        url, data = sim.rest_url + path, payload
    h = {"X-BAPI-TIMESTAMP": ts, "X-BAPI-RECV-WINDOW": recv, "Content-Type": "application/json",
         "X-BAPI-SIGN": _hex(secret or sim.api_secret, ts + key + recv + payload)}
    if key:
        h["X-BAPI-API-KEY"] = key
    async with s.request(method, URL(url, encoded=True), data=data, headers=h) as r:     # sent as signed
        return r.status, await r.json(), r.headers


async def ok(s, sim, method, path, params=None):
    status, body, _ = await signed(s, sim, method, path, params)
    assert status == 200 and body["retCode"] == 0 and body["retMsg"] == "OK", body
    assert body["retExtInfo"] == {} and isinstance(body["time"], int)
    return body["result"]


async def best(s, sim, cat, symbol="BTCUSDT"):
    bk = (await rest(s, sim, f"/v5/market/orderbook?category={cat}&symbol={symbol}&limit=1"))["result"]
    return Decimal(bk["b"][0][0]), Decimal(bk["a"][0][0])


async def create(s, sim, **body):
    status, r, _ = await signed(s, sim, "POST", "/v5/order/create", body)
    assert status == 200, r
    return r


async def one_order(s, sim, cat, **ident):
    res = await ok(s, sim, "GET", "/v5/order/realtime", {"category": cat, **ident})
    (o,) = res["list"]
    assert set(o) == ORDER_KEYS, set(o) ^ ORDER_KEYS
    return o


async def test_signed_requests_key_signature_and_time_window():
    async with in_process_simulator("bybit", **ORDERS) as sim:
        assert sim.ws_api_url == f"ws://127.0.0.1:{sim.port}/v5/private"
        assert sim.trade_ws_url == f"ws://127.0.0.1:{sim.port}/v5/trade"
        assert sim.api_key and sim.api_secret and sim.api_secret not in repr(sim.sim_app.config)
        async with aiohttp.ClientSession(timeout=T) as s:
            q = {"accountType": "UNIFIED"}
            assert (await ok(s, sim, "GET", "/v5/account/wallet-balance", q))["list"][0]["accountType"] == "UNIFIED"
            status, body, _ = await signed(s, sim, "GET", "/v5/account/wallet-balance", q, secret="wrong" * 4)
            assert status == 200 and body["retCode"] == 10004
            assert body["retMsg"].startswith("error sign! origin_string[") and "accountType=UNIFIED]" in body["retMsg"]
            old = int(time.time() * 1000) - 6000
            status, body, _ = await signed(s, sim, "GET", "/v5/account/wallet-balance", q, ts_ms=old)
            assert status == 200 and body["retCode"] == 10002
            assert f"req_timestamp[{old}]" in body["retMsg"] and "recv_window[5000]" in body["retMsg"]
            # a wider window takes the same timestamp; one from the future is refused
            assert (await signed(s, sim, "GET", "/v5/account/wallet-balance", q, ts_ms=old, recv="10000")
                    )[1]["retCode"] == 0
            ahead = int(time.time() * 1000) + 3000
            assert (await signed(s, sim, "GET", "/v5/account/wallet-balance", q, ts_ms=ahead))[1]["retCode"] == 10002
            for key in ("", "NOTTHEKEY"):
                status, body, _ = await signed(s, sim, "GET", "/v5/account/wallet-balance", q, key=key)
                assert (status, body["retCode"], body["retMsg"]) == (401, 10003, "API key is invalid.")
            # the body of a POST is what is signed
            h = {"X-BAPI-API-KEY": sim.api_key, "X-BAPI-TIMESTAMP": str(int(time.time() * 1000)),
                 "X-BAPI-RECV-WINDOW": "5000", "Content-Type": "application/json"}
            body = '{"category":"spot","symbol":"BTCUSDT"}'
            h["X-BAPI-SIGN"] = _hex(sim.api_secret, h["X-BAPI-TIMESTAMP"] + sim.api_key + "5000" + body + " ")
            async with s.post(sim.rest_url + "/v5/order/cancel-all", data=body, headers=h) as r:
                assert (await r.json())["retCode"] == 10004
            t = await rest(s, sim, "/v5/market/time")
            assert set(t["result"]) == {"timeSecond", "timeNano"} and isinstance(t["time"], int)


async def test_spot_and_linear_orders_placed_queried_amended_canceled():
    async with in_process_simulator("bybit", **ORDERS) as sim:
        async with aiohttp.ClientSession(timeout=T) as s:
            await admin(s, sim, "/market", {"action": "pause"})
            for cat, qty, link in (("spot", "0.001", "spot-a_1"), ("linear", "0.010", "lin-a_1")):
                bid, _ = await best(s, sim, cat)
                px = bid - 1000
                r = await create(s, sim, category=cat, symbol="BTCUSDT", side="Buy", orderType="Limit", qty=qty,
                                 price=str(px), timeInForce="GTC", orderLinkId=link)
                assert r["retCode"] == 0 and set(r["result"]) == {"orderId", "orderLinkId"}, r
                oid = r["result"]["orderId"]
                assert UUID_RE.match(oid) and r["result"]["orderLinkId"] == link
                o = await one_order(s, sim, cat, orderLinkId=link)
                assert (o["orderId"], o["symbol"], o["side"], o["orderType"], o["timeInForce"]) == \
                    (oid, "BTCUSDT", "Buy", "Limit", "GTC")
                assert (o["orderStatus"], o["cancelType"], o["rejectReason"], o["category"]) == \
                    ("New", "UNKNOWN", "EC_NoError", cat)
                assert Decimal(o["price"]) == px and Decimal(o["qty"]) == Decimal(o["leavesQty"]) == Decimal(qty)
                assert re.match(r"^\d+\.\d{6}$" if cat == "spot" else r"^\d+\.\d{3}$", o["qty"])    # precision
                assert o["cumExecQty"] == "0" and o["avgPrice"] in ("", "0") and o["reduceOnly"] is False
                assert Decimal(o["leavesValue"]) == px * Decimal(qty)
                assert (await one_order(s, sim, cat, orderId=oid))["orderLinkId"] == link
                opened = await ok(s, sim, "GET", "/v5/order/realtime", {"category": cat})
                assert [x["orderId"] for x in opened["list"]] == [oid] and opened["nextPageCursor"] == ""
                # amend: a new price and quantity, the ids kept
                new_px, new_qty = px - 5, ("0.002" if cat == "spot" else "0.020")
                a = await ok(s, sim, "POST", "/v5/order/amend", {"category": cat, "symbol": "BTCUSDT",
                                                                 "orderId": oid, "price": str(new_px), "qty": new_qty})
                assert a == {"orderId": oid, "orderLinkId": link}
                o = await one_order(s, sim, cat, orderId=oid)
                assert (Decimal(o["price"]), Decimal(o["qty"]), o["orderStatus"]) == (new_px, Decimal(new_qty), "New")
                _, e, _ = await signed(s, sim, "POST", "/v5/order/amend", {"category": cat, "symbol": "BTCUSDT",
                                                                          "orderId": oid, "price": str(new_px)})
                assert e["retCode"] == 10001                      # nothing changed
                c = await ok(s, sim, "POST", "/v5/order/cancel", {"category": cat, "symbol": "BTCUSDT",
                                                                  "orderLinkId": link})
                assert c == {"orderId": oid, "orderLinkId": link}
                o = await one_order(s, sim, cat, orderLinkId=link)       # a closed order is still found by id
                assert (o["orderStatus"], o["cancelType"], o["leavesQty"]) == ("Cancelled", "CancelByUser", "0")
                assert (await ok(s, sim, "GET", "/v5/order/realtime", {"category": cat}))["list"] == []
                hist = await ok(s, sim, "GET", "/v5/order/history", {"category": cat})
                assert [x["orderId"] for x in hist["list"]] == [oid]
                # gone: cancel and amend again
                _, e, _ = await signed(s, sim, "POST", "/v5/order/cancel", {"category": cat, "symbol": "BTCUSDT",
                                                                           "orderId": oid})
                assert e["retCode"] == (170213 if cat == "spot" else 110001), e
                _, e, _ = await signed(s, sim, "POST", "/v5/order/amend", {"category": cat, "symbol": "BTCUSDT",
                                                                          "orderId": oid, "qty": qty})
                assert e["retCode"] == 110001
                # the link id is spent: the order is not placed again
                r = await create(s, sim, category=cat, symbol="BTCUSDT", side="Buy", orderType="Limit", qty=qty,
                                 price=str(px), orderLinkId=link)
                assert (r["retCode"], r["retMsg"]) == (110072, "OrderLinkedID is duplicate")
                hist = await ok(s, sim, "GET", "/v5/order/history", {"category": cat})
                assert len(hist["list"]) == 1
                _, e, _ = await signed(s, sim, "POST", "/v5/order/cancel", {"category": cat, "symbol": "BTCUSDT",
                                                                           "orderLinkId": "never-placed"})
                assert e["retCode"] == (170213 if cat == "spot" else 110001)
            # paging of open orders and cancel-all
            bid, _ = await best(s, sim, "spot")
            ids = []
            for i in range(3):
                ids.append((await ok(s, sim, "POST", "/v5/order/create", {
                    "category": "spot", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.001",
                    "price": str(bid - 100 - i)}))["orderId"])
            p1 = await ok(s, sim, "GET", "/v5/order/realtime", {"category": "spot", "limit": "2"})
            assert len(p1["list"]) == 2 and p1["nextPageCursor"]
            p2 = await ok(s, sim, "GET", "/v5/order/realtime", {"category": "spot", "limit": "2",
                                                                 "cursor": p1["nextPageCursor"]})
            assert {o["orderId"] for o in p1["list"] + p2["list"]} == set(ids) and p2["nextPageCursor"] == ""
            out = await ok(s, sim, "POST", "/v5/order/cancel-all", {"category": "spot"})
            assert out["success"] == "1" and {x["orderId"] for x in out["list"]} == set(ids)
            assert all(x["orderLinkId"] == "" for x in out["list"])


async def test_order_refusals():
    async with in_process_simulator("bybit", **ORDERS) as sim:
        async with aiohttp.ClientSession(timeout=T) as s:
            await admin(s, sim, "/market", {"action": "pause"})
            bid, ask = await best(s, sim, "spot")
            lbid, lask = await best(s, sim, "linear")
            base = dict(symbol="BTCUSDT", side="Buy", orderType="Limit")
            cases = [
                (dict(category="spot", qty="0.0010001", price=str(bid)), 10001),       # off the lot
                (dict(category="spot", qty="0.001", price=str(bid) + "1"), 10001),     # off the tick
                (dict(category="spot", qty="0.00001", price=str(bid)), 10001),         # below minOrderQty
                (dict(category="linear", qty="0.0005", price=str(lbid)), 10001),       # below minOrderQty
                (dict(category="linear", qty="0.01", price=str(lbid), positionIdx=1), 10001),   # hedge mode
                (dict(category="spot", qty="0.001", price=str(bid), reduceOnly=True), 10001),
                (dict(category="spot", qty="0.001", price=str(bid), orderLinkId="x" * 37), 10001),
                (dict(category="spot", qty="0.001", price=str(bid), orderLinkId="no spaces"), 10001),
                (dict(category="spot", qty="50", price=str(bid)), 170131),             # 3,000,000 USDT
                (dict(category="linear", qty="200", price=str(lbid)), 110007),         # 1.2M USDT of margin
                (dict(category="linear", qty="0.01", price=str(lbid), reduceOnly=True), 110017),
                (dict(category="inverse", qty="1", price="1"), 10001),
            ]
            for body, code in cases:
                r = await create(s, sim, **{**base, **body})
                assert r["retCode"] == code and r["result"] == {}, (body, r)
            assert (await ok(s, sim, "GET", "/v5/order/history", {"category": "spot"}))["list"] == []
            # a crossing PostOnly order is accepted, then canceled without trading
            for cat, px, qty in (("spot", ask, "0.001"), ("linear", lask, "0.010")):
                r = await create(s, sim, **{**base, "category": cat, "qty": qty, "price": str(px),
                                            "timeInForce": "PostOnly", "orderLinkId": f"po-{cat}"})
                assert r["retCode"] == 0, r
                o = await one_order(s, sim, cat, orderLinkId=f"po-{cat}")
                assert (o["orderStatus"], o["rejectReason"], o["cumExecQty"], o["timeInForce"]) == \
                    ("Cancelled", "EC_PostOnlyWillTakeLiquidity", "0", "PostOnly")
                _, e, _ = await signed(s, sim, "POST", "/v5/order/cancel", {"category": cat, "symbol": "BTCUSDT",
                                                                           "orderLinkId": f"po-{cat}"})
                assert e["retCode"] in (110001, 170213)
            # one that does not cross rests
            r = await create(s, sim, **{**base, "category": "spot", "qty": "0.001", "price": str(bid),
                                        "timeInForce": "PostOnly"})
            assert (await one_order(s, sim, "spot", orderId=r["result"]["orderId"]))["orderStatus"] == "New"


async def test_fills_executions_positions_and_the_wallet():
    async with in_process_simulator("bybit", **ORDERS) as sim:
        async with aiohttp.ClientSession(timeout=T) as s:
            await admin(s, sim, "/market", {"action": "pause"})
            w0 = {c["coin"]: c for c in (await ok(s, sim, "GET", "/v5/account/wallet-balance",
                                                   {"accountType": "UNIFIED"}))["list"][0]["coin"]}
            assert Decimal(w0["USDT"]["walletBalance"]) == 1_000_000 and Decimal(w0["BTC"]["walletBalance"]) == 10
            # spot: a marketable limit buy fills as taker; its fee is in the base coin
            _, ask = await best(s, sim, "spot")
            r = await ok(s, sim, "POST", "/v5/order/create", {"category": "spot", "symbol": "BTCUSDT", "side": "Buy",
                                                             "orderType": "Limit", "qty": "0.010000",
                                                             "price": str(ask + 50), "orderLinkId": "take-1"})
            o = await one_order(s, sim, "spot", orderLinkId="take-1")
            assert (o["orderStatus"], Decimal(o["cumExecQty"]), o["leavesQty"]) == ("Filled", Decimal("0.01"), "0")
            assert Decimal(o["avgPrice"]) >= ask and Decimal(o["cumExecFee"]) == Decimal("0.01") * Decimal("0.00055")
            ex = (await ok(s, sim, "GET", "/v5/execution/list", {"category": "spot", "orderId": r["orderId"]}))["list"]
            assert ex and all(set(e) == EXEC_KEYS for e in ex)
            e = ex[0]
            assert (e["orderId"], e["orderLinkId"], e["side"], e["execType"], e["isMaker"], e["feeCurrency"]) == \
                (r["orderId"], "take-1", "Buy", "Trade", False, "BTC")
            assert e["feeRate"] == "0.00055" and Decimal(e["execFee"]) > 0 and e["execId"].isdigit()
            assert sum(Decimal(x["execQty"]) for x in ex) == Decimal("0.01")
            assert sum(Decimal(x["execFee"]) for x in ex) == Decimal(o["cumExecFee"])
            assert Decimal(e["execValue"]) == Decimal(e["execPrice"]) * Decimal(e["execQty"])
            w1 = {c["coin"]: c for c in (await ok(s, sim, "GET", "/v5/account/wallet-balance",
                                                   {"accountType": "UNIFIED", "coin": "BTC,USDT"}))["list"][0]["coin"]}
            assert set(w1) == {"BTC", "USDT"}
            assert Decimal(w1["BTC"]["walletBalance"]) == 10 + Decimal("0.01") - Decimal(o["cumExecFee"])
            assert Decimal(w1["USDT"]["walletBalance"]) == 1_000_000 - Decimal(o["cumExecValue"])
            # a spot market buy in quoteCoin (the default): the qty is the amount spent
            r = await ok(s, sim, "POST", "/v5/order/create", {"category": "spot", "symbol": "BTCUSDT", "side": "Buy",
                                                             "orderType": "Market", "qty": "100"})
            o = await one_order(s, sim, "spot", orderId=r["orderId"])
            assert (o["orderStatus"], o["qty"], o["timeInForce"]) == ("Filled", "100", "IOC")
            assert 99 < Decimal(o["cumExecValue"]) <= 100
            # a resting spot sell holds its base coin in `locked`
            bid, _ = await best(s, sim, "spot")
            await ok(s, sim, "POST", "/v5/order/create", {"category": "spot", "symbol": "BTCUSDT", "side": "Sell",
                                                         "orderType": "Limit", "qty": "0.5", "price": str(bid + 500)})
            w2 = {c["coin"]: c for c in (await ok(s, sim, "GET", "/v5/account/wallet-balance",
                                                   {"accountType": "UNIFIED"}))["list"][0]["coin"]}
            assert Decimal(w2["BTC"]["locked"]) == Decimal("0.5")

            # linear: a market buy opens a long; the position, its fee in USDT, and closing it
            empty = (await ok(s, sim, "GET", "/v5/position/list", {"category": "linear", "symbol": "BTCUSDT"}))["list"]
            assert [(p["side"], p["size"], p["avgPrice"]) for p in empty] == [("", "0", "0")]
            assert (await ok(s, sim, "GET", "/v5/position/list", {"category": "linear", "settleCoin": "USDT"})
                    )["list"] == []
            r = await ok(s, sim, "POST", "/v5/order/create", {"category": "linear", "symbol": "BTCUSDT",
                                                             "side": "Buy", "orderType": "Market", "qty": "0.100"})
            o = await one_order(s, sim, "linear", orderId=r["orderId"])
            assert o["orderStatus"] == "Filled" and o["cumExecQty"] == "0.100"
            (pos,) = (await ok(s, sim, "GET", "/v5/position/list", {"category": "linear", "settleCoin": "USDT"}))["list"]
            assert (pos["symbol"], pos["side"], pos["size"], pos["positionIdx"], pos["leverage"]) == \
                ("BTCUSDT", "Buy", "0.100", 0, "10")
            assert Decimal(pos["avgPrice"]) == Decimal(o["avgPrice"])
            assert Decimal(pos["positionValue"]) == Decimal(pos["avgPrice"]) * Decimal("0.1")
            assert Decimal(pos["cumRealisedPnl"]) == -Decimal(o["cumExecFee"]) < 0
            ex = (await ok(s, sim, "GET", "/v5/execution/list", {"category": "linear"}))["list"]
            assert all(UUID_RE.match(x["execId"]) and x["feeCurrency"] == "USDT" for x in ex)
            assert {x["closedSize"] for x in ex} == {"0"}               # nothing closed
            w3 = (await ok(s, sim, "GET", "/v5/account/wallet-balance", {"accountType": "UNIFIED", "coin": "USDT"})
                  )["list"][0]["coin"][0]
            assert Decimal(w3["totalPositionIM"]) > 0
            # reduceOnly on the long's side is refused; a reduceOnly sell closes it
            r2 = await create(s, sim, category="linear", symbol="BTCUSDT", side="Buy", orderType="Market",
                              qty="0.100", reduceOnly=True)
            assert r2["retCode"] == 110017
            await ok(s, sim, "POST", "/v5/order/create", {"category": "linear", "symbol": "BTCUSDT", "side": "Sell",
                                                         "orderType": "Market", "qty": "0.100", "reduceOnly": True})
            (pos,) = (await ok(s, sim, "GET", "/v5/position/list", {"category": "linear", "symbol": "BTCUSDT"}))["list"]
            assert (pos["side"], pos["size"]) == ("", "0")
            ex = (await ok(s, sim, "GET", "/v5/execution/list", {"category": "linear", "limit": "1"}))["list"]
            assert ex[0]["side"] == "Sell" and ex[0]["closedSize"] == ex[0]["execQty"]       # newest first


async def test_per_endpoint_limit_headers_count_down_then_10006():
    async with in_process_simulator("bybit", rate=20, limit={"SPOT_CREATE_1S": 3, "QUERY_1S": 50}) as sim:
        async with aiohttp.ClientSession(timeout=T) as s:
            await admin(s, sim, "/market", {"action": "pause"})
            bid, _ = await best(s, sim, "spot")
            body = {"category": "spot", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.001",
                    "price": str(bid - 100)}
            while time.time() % 1 > 0.6:                # all four in one 1-s window
                await asyncio.sleep(0.05)
            seen = []
            for _ in range(4):
                _, r, h = await signed(s, sim, "POST", "/v5/order/create", body)
                seen.append((r["retCode"], h["X-Bapi-Limit"], h["X-Bapi-Limit-Status"]))
                reset = int(h["X-Bapi-Limit-Reset-Timestamp"])
                assert reset % 1000 == 0 and 0 < reset - r["time"] <= 1000
            assert seen == [(0, "3", "2"), (0, "3", "1"), (0, "3", "0"), (10006, "3", "0")]
            assert r["retMsg"] == "Too many visits!"
            # another endpoint has its own count; the open orders are the three placed
            _, r, h = await signed(s, sim, "GET", "/v5/order/realtime", {"category": "spot"})
            assert (h["X-Bapi-Limit"], h["X-Bapi-Limit-Status"]) == ("50", "49") and len(r["result"]["list"]) == 3
            await asyncio.sleep(max(0.0, reset / 1000 - time.time()) + 0.05)
            _, r, h = await signed(s, sim, "POST", "/v5/order/create", body)
            assert r["retCode"] == 0 and h["X-Bapi-Limit-Status"] == "2"


# ---------------------------------------------------------------------- private and trade WebSockets
async def ws_auth(ws, sim, rid="auth-1", trade=False, expires=None, secret=None):
    expires = expires if expires is not None else int(time.time() * 1000) + 10_000
    sig = _hex(secret or sim.api_secret, f"GET/realtime{expires}")
    await ws.send_str(json.dumps({("reqId" if trade else "req_id"): rid, "op": "auth",
                                  "args": [sim.api_key, expires, sig]}))
    return await recv(ws)


async def test_private_stream_auth_subscribe_and_order_then_execution_pushes():
    async with in_process_simulator("bybit", **ORDERS) as sim:
        async with aiohttp.ClientSession(timeout=T) as s, s.ws_connect(sim.ws_api_url) as ws:
            await admin(s, sim, "/market", {"action": "pause"})
            await ws.send_str('{"req_id":"p1","op":"ping"}')
            pong = await recv(ws)
            assert set(pong) == {"req_id", "op", "args", "conn_id"} and pong["op"] == "pong" and pong["req_id"] == "p1"
            assert abs(int(pong["args"][0]) - time.time() * 1000) < 5000 and pong["conn_id"]
            await ws.send_str(json.dumps({"req_id": "s0", "op": "subscribe", "args": ["order"]}))
            r = await recv(ws)
            assert (r["success"], r["op"], r["req_id"]) == (False, "subscribe", "s0")     # not authenticated
            r = await ws_auth(ws, sim, expires=int(time.time() * 1000) - 1000)
            assert r["success"] is False and r["op"] == "auth"
            r = await ws_auth(ws, sim, secret="x" * 36)
            assert (r["success"], r["ret_msg"]) == (False, "Request not authorized")
            r = await ws_auth(ws, sim)
            assert r == {"success": True, "ret_msg": "", "op": "auth", "conn_id": pong["conn_id"], "req_id": "auth-1"}
            await ws.send_str(json.dumps({"req_id": "s1", "op": "subscribe",
                                          "args": ["order", "execution", "position", "wallet"]}))
            assert await recv(ws) == {"success": True, "ret_msg": "", "op": "subscribe", "conn_id": pong["conn_id"],
                                      "req_id": "s1"}
            await ws.send_str(json.dumps({"req_id": "s2", "op": "subscribe", "args": ["orderbook.50.BTCUSDT"]}))
            assert (await recv(ws))["success"] is False
            # a resting order: one order push (New), then the wallet
            bid, ask = await best(s, sim, "linear")
            rest_id = (await ok(s, sim, "POST", "/v5/order/create", {
                "category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.010",
                "price": str(bid - 100), "orderLinkId": "ws-rest"}))["orderId"]
            m = await recv(ws)
            assert m["topic"] == "order" and UUID_RE.match(m["id"]) and isinstance(m["creationTime"], int)
            (d,) = m["data"]
            assert set(d) == ORDER_KEYS | {"feeCurrency"}
            assert (d["orderId"], d["orderLinkId"], d["orderStatus"], d["category"]) == (rest_id, "ws-rest", "New",
                                                                                        "linear")
            assert (await recv(ws))["topic"] == "wallet"
            # a taker order: order pushes, each fill's execution after its order push, then position, wallet
            take_id = (await ok(s, sim, "POST", "/v5/order/create", {
                "category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.050",
                "price": str(ask + 20), "orderLinkId": "ws-take"}))["orderId"]
            msgs = []
            while not msgs or msgs[-1]["topic"] != "wallet":
                msgs.append(await recv(ws))
            topics = [m["topic"] for m in msgs]
            assert topics[0] == "order" and msgs[0]["data"][0]["orderStatus"] == "New"
            assert topics[-2:] == ["position", "wallet"] and "execution" in topics
            for i, t in enumerate(topics):
                if t == "execution":
                    assert topics[i - 1] == "order"         # its order push first
                    (x,) = msgs[i]["data"]
                    assert set(x) >= EXEC_KEYS | {"category", "isLeverage"} and x["orderId"] == take_id
                    assert x["execType"] == "Trade" and x["isMaker"] is False and x["feeCurrency"] == "USDT"
                    assert msgs[i - 1]["data"][0]["cumExecQty"] != "0"
            last = [m["data"][0] for m in msgs if m["topic"] == "order"][-1]
            assert last["orderStatus"] == "Filled" and last["leavesQty"] == "0"
            (p,) = msgs[-2]["data"]
            assert (p["symbol"], p["side"], p["size"], p["category"]) == ("BTCUSDT", "Buy", "0.050", "linear")
            w = msgs[-1]["data"][0]
            assert w["accountType"] == "UNIFIED" and [c["coin"] for c in w["coin"]] == ["USDT"]
            execs = sum(len(m["data"]) for m in msgs if m["topic"] == "execution")
            listed = (await ok(s, sim, "GET", "/v5/execution/list", {"category": "linear", "orderId": take_id}))["list"]
            assert len(listed) == execs and {x["execId"] for x in listed} == {
                m["data"][0]["execId"] for m in msgs if m["topic"] == "execution"}
            # a cancel: one order push with the cancel type
            await ok(s, sim, "POST", "/v5/order/cancel", {"category": "linear", "symbol": "BTCUSDT",
                                                         "orderId": rest_id})
            m = await recv(ws)
            assert m["topic"] == "order" and (m["data"][0]["orderStatus"], m["data"][0]["cancelType"]) == \
                ("Cancelled", "CancelByUser")


async def test_trade_stream_order_entry():
    async with in_process_simulator("bybit", rate=20, limit={"SPOT_CREATE_1S": 2}) as sim:
        async with aiohttp.ClientSession(timeout=T) as s, s.ws_connect(sim.trade_ws_url) as ws:
            await admin(s, sim, "/market", {"action": "pause"})
            bid, _ = await best(s, sim, "spot")

            def order(rid, link, ts=None):
                return json.dumps({"reqId": rid, "header": {"X-BAPI-TIMESTAMP": str(ts or int(time.time() * 1000)),
                                                            "X-BAPI-RECV-WINDOW": "5000"},
                                   "op": "order.create", "args": [{
                                       "category": "spot", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit",
                                       "qty": "0.001", "price": str(bid - 100), "orderLinkId": link}]})
            await ws.send_str(order("early", "t-0"))
            r = await recv(ws)
            assert (r["reqId"], r["retCode"], r["op"]) == ("early", 10003, "order.create")
            r = await ws_auth(ws, sim, rid="a1", trade=True, secret="y" * 36)
            assert (r["retCode"], r["op"]) == (10004, "auth")
            r = await ws_auth(ws, sim, rid="a2", trade=True)
            assert set(r) == {"reqId", "retCode", "retMsg", "op", "connId"} and (r["retCode"], r["retMsg"]) == (0, "OK")
            conn = r["connId"]
            assert (await ws_auth(ws, sim, rid="a3", trade=True))["retCode"] == 20001         # repeat auth
            while time.time() % 1 > 0.6:
                await asyncio.sleep(0.05)
            await ws.send_str(order("r1", "t-1"))
            r = await recv(ws)
            assert set(r) == {"reqId", "retCode", "retMsg", "op", "data", "retExtInfo", "header", "connId"}
            assert (r["reqId"], r["retCode"], r["retMsg"], r["op"], r["connId"]) == ("r1", 0, "OK", "order.create", conn)
            assert r["data"]["orderLinkId"] == "t-1" and UUID_RE.match(r["data"]["orderId"])
            h = r["header"]
            assert (h["X-Bapi-Limit"], h["X-Bapi-Limit-Status"]) == ("2", "1")
            assert re.match(r"^[0-9a-f]{32}$", h["Traceid"]) and int(h["X-Bapi-Limit-Reset-Timestamp"]) > 0
            assert abs(int(h["Timenow"]) - time.time() * 1000) < 5000
            o = await one_order(s, sim, "spot", orderLinkId="t-1")                  # REST sees the same order
            assert o["orderId"] == r["data"]["orderId"]
            # the budget is REST's: the REST create below spends the last one, the next WS one is refused
            _, rr, hh = await signed(s, sim, "POST", "/v5/order/create", {
                "category": "spot", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.001",
                "price": str(bid - 100)})
            assert rr["retCode"] == 0 and hh["X-Bapi-Limit-Status"] == "0"
            await ws.send_str(order("r2", "t-2"))
            r = await recv(ws)
            assert (r["retCode"], r["retMsg"], r["header"]["X-Bapi-Limit-Status"]) == (10006, "Too many visits!", "0")
            await ws.send_str(order("r1", "t-3"))
            r = await recv(ws)
            assert (r["reqId"], r["retCode"], r["data"]) == ("r1", 20006, {})
            await ws.send_str(order("r4", "t-4", ts=int(time.time() * 1000) - 60_000))
            assert (await recv(ws))["retCode"] == 10002
            # cancel over the socket (its own budget), errors in the same shape
            await ws.send_str(json.dumps({"reqId": "c1", "header": {"X-BAPI-TIMESTAMP": str(int(time.time() * 1000))},
                                          "op": "order.cancel", "args": [{"category": "spot", "symbol": "BTCUSDT",
                                                                          "orderLinkId": "t-1"}]}))
            r = await recv(ws)
            assert (r["retCode"], r["op"], r["data"]["orderLinkId"]) == (0, "order.cancel", "t-1")
            await ws.send_str(json.dumps({"reqId": "c2", "header": {"X-BAPI-TIMESTAMP": str(int(time.time() * 1000))},
                                          "op": "order.cancel", "args": [{"category": "spot", "symbol": "BTCUSDT",
                                                                          "orderLinkId": "t-1"}]}))
            r = await recv(ws)
            assert (r["retCode"], r["data"], r["retExtInfo"]) == (170213, {}, {})
            await ws.send_str('{"op":"ping"}')
            p = await recv(ws)
            assert p["op"] == "pong" and p["connId"] == conn and p["retCode"] == 0


async def test_disconnect_cancel_all_cancels_open_spot_orders_after_the_window():
    async with in_process_simulator("bybit", **ORDERS) as sim:
        app = sim.sim_app
        async with aiohttp.ClientSession(timeout=T) as s:
            await admin(s, sim, "/market", {"action": "pause"})
            for bad in (2, 301):
                _, r, _ = await signed(s, sim, "POST", "/v5/order/disconnected-cancel-all",
                                       {"product": "SPOT", "timeWindow": bad})
                assert r["retCode"] == 10001
            assert await ok(s, sim, "POST", "/v5/order/disconnected-cancel-all",
                            {"product": "SPOT", "timeWindow": 3}) == {}
            bid, _ = await best(s, sim, "spot")
            lbid, _ = await best(s, sim, "linear")
            spot_id = (await ok(s, sim, "POST", "/v5/order/create", {
                "category": "spot", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.001",
                "price": str(bid - 100)}))["orderId"]
            lin_id = (await ok(s, sim, "POST", "/v5/order/create", {
                "category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.010",
                "price": str(lbid - 100)}))["orderId"]
            async with s.ws_connect(sim.ws_api_url) as ws:
                assert (await ws_auth(ws, sim))["success"] is True
                await ws.send_str(json.dumps({"req_id": "d", "op": "subscribe", "args": ["dcp.spot"]}))
                assert (await recv(ws))["success"] is True
            t0 = time.monotonic()
            await asyncio.sleep(1.0)
            assert (await one_order(s, sim, "spot", orderId=spot_id))["orderStatus"] == "New"   # within the window
            while not app.dcp_fired and time.monotonic() - t0 < 6:
                await asyncio.sleep(0.1)
            assert app.dcp_fired == [("SPOT", 1)] and 2.8 < time.monotonic() - t0 < 5
            o = await one_order(s, sim, "spot", orderId=spot_id)
            assert (o["orderStatus"], o["cancelType"]) == ("Cancelled", "CancelByDCP")
            assert (await one_order(s, sim, "linear", orderId=lin_id))["orderStatus"] == "New"   # DERIVATIVES: untouched


async def test_partial_fills_then_cancel_and_a_lost_answer():
    async with in_process_simulator("bybit", **ORDERS) as sim:
        async with aiohttp.ClientSession(timeout=T) as s:
            await admin(s, sim, "/market", {"action": "pause"})
            # an IOC order larger than the best level: that level fills, the rest is canceled --
            # spot says PartiallyFilledCanceled, linear Cancelled with what it executed
            for cat, step in (("spot", Decimal("0.000001")), ("linear", Decimal("0.001"))):
                a = (await rest(s, sim, f"/v5/market/orderbook?category={cat}&symbol=BTCUSDT&limit=1"))["result"]["a"][0]
                r = await ok(s, sim, "POST", "/v5/order/create", {
                    "category": cat, "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "timeInForce": "IOC",
                    "qty": str(Decimal(a[1]) + 1000 * step), "price": a[0]})
                o = await one_order(s, sim, cat, orderId=r["orderId"])
                assert o["orderStatus"] == ("PartiallyFilledCanceled" if cat == "spot" else "Cancelled"), o
                assert Decimal(o["cumExecQty"]) == Decimal(a[1]) and o["leavesQty"] == "0"
                assert Decimal(o["avgPrice"]) == Decimal(a[0]) and o["timeInForce"] == "IOC"
            # the order fault: executed, but answered 10016 (REST) -- the order is there by its link id
            bid, _ = await best(s, sim, "linear")
            body = {"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.010",
                    "price": str(bid - 100), "orderLinkId": "lost-1"}
            await admin(s, sim, "/fault", {"type": "order", "mode": "unknown"})
            status, r, _ = await signed(s, sim, "POST", "/v5/order/create", body)
            assert (status, r["retCode"]) == (503, 10016)
            assert (await one_order(s, sim, "linear", orderLinkId="lost-1"))["orderStatus"] == "New"
            r = await create(s, sim, **body)                   # sent again: already placed
            assert r["retCode"] == 110072
            async with s.ws_connect(sim.trade_ws_url) as ws:
                assert (await ws_auth(ws, sim, trade=True))["retCode"] == 0
                await admin(s, sim, "/fault", {"type": "order", "mode": "unknown"})
                await ws.send_str(json.dumps({"reqId": "x1", "header": {"X-BAPI-TIMESTAMP": str(int(time.time() * 1000))},
                                              "op": "order.create", "args": [{**body, "orderLinkId": "lost-2"}]}))
                r = await recv(ws)
                assert (r["reqId"], r["retCode"], r["data"]) == ("x1", 10016, {})
                assert (await one_order(s, sim, "linear", orderLinkId="lost-2"))["orderStatus"] == "New"
