# SPDX-License-Identifier: Apache-2.0
"""OKX order entry: pushes of the orders channel -> OrderUpdate/Fill, sCode answers -> engine
errors, the request bodies and signatures of place/cancel (REST and WebSocket), the private
login and heartbeat, the dead man's switch. Against a small OKX-shaped server on 127.0.0.1
that checks signatures with venuelink.adapters.okx.auth and answers with the documented JSON."""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import time
from pathlib import Path
from typing import Any, AsyncIterator

import pytest
from aiohttp import WSMsgType, web

from venuelink.adapters.okx import auth, errors
from venuelink.adapters.okx.adapter import OkxAdapter
from venuelink.adapters.okx.execution import OkxExecution, OkxPrivateDialect
from venuelink.adapters.okx.symbols import parse_instruments
from venuelink.budget import VenueBudget
from venuelink.config import ConfigError, Credentials, Secret, VenueConfig, load_config
from venuelink.deadman import DeadMansSwitch
from venuelink.tools.simconfig import passphrase_env, venue_config_for
from venuelink.errors import (AuthError, ExecutionUnknown, Rejected, TimestampError, UnknownOrder)
from venuelink.model import Order, OrderState, OrderType, Side, TimeInForce, VenueId
from venuelink.orders import ExecutionClient
from venuelink.private_ws import MsgKind, PrivateWsSession
from venuelink.rest import RestClient
from tests.waiting import wait_for

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "okx"
KEY, SECRET, PHRASE = "okx-key-5e1f", "okx-secret-0d9a77c1", "okx-phrase-31b"
MS = 1_000_000


def fixtures() -> dict[str, Any]:
    return {json.loads(l)["name"]: json.loads(l)["msg"] for l in (FIX / "private.jsonl").read_text().splitlines() if l}


F = fixtures()


def creds(secret: str = SECRET) -> Credentials:
    return Credentials(Secret(KEY), Secret(secret), passphrase=Secret(PHRASE))


def adapter() -> OkxAdapter:
    a = OkxAdapter()
    insts = []
    for line in (FIX / "session.jsonl").read_text().splitlines():
        if not line.startswith('{"rest"'):
            continue                            # frames of the public stream
        d = json.loads(line)
        if "/public/instruments" in d["rest"]:
            insts += parse_instruments(d["body"])
    a.set_instruments(insts)
    return a


def order(symbol="BTC/USDT", side=Side.BUY, type=OrderType.LIMIT, qty="0.01", price="30000.1",
          tif=TimeInForce.GTC, cid="vlabc123") -> Order:
    return Order(venue=VenueId.okx, symbol=symbol, client_order_id=cid, side=side, type=type, qty=qty, price=price,
                 tif=tif)


def rest_client(url: str, a: OkxAdapter) -> RestClient:
    return RestClient("okx", url, VenueBudget(a.spec), map_error=errors.map_error, classify=errors.classify_response)


# ---------------------------------------------------------------------------- a small OKX-shaped server

class Okx:
    """Records every request; checks REST signatures and the WS login; answers from `answers`
    (path -> fixture or callable) or the documented success shapes."""

    def __init__(self, *, ahead_ms: int = 0) -> None:
        self.ahead_ms = ahead_ms
        self.rest: list[dict] = []
        self.ws_frames: list[Any] = []
        self.answers: dict[str, Any] = {}
        self.bad_signatures = 0
        self.ws_reply = True
        self.conns: list[web.WebSocketResponse] = []
        self.url = self.ws_url = ""

    async def rest_handler(self, request: web.Request) -> web.Response:
        body = await request.text()
        path = request.path_qs
        ts = request.headers.get("OK-ACCESS-TIMESTAMP", "")
        want = auth.hmac_b64(SECRET, auth.prehash(ts, request.method, path, body)) if ts else None
        ok = (request.headers.get("OK-ACCESS-SIGN") == want and request.headers.get("OK-ACCESS-KEY") == KEY
              and request.headers.get("OK-ACCESS-PASSPHRASE") == PHRASE)
        if request.path != "/api/v5/public/time" and not ok:
            self.bad_signatures += 1
            return web.json_response({"code": "50113", "msg": "Invalid Sign", "data": []}, status=401)
        self.rest.append({"method": request.method, "path": request.path, "query": dict(request.query),
                          "body": json.loads(body) if body else None, "ts": ts, "signed": ok})
        a = self.answers.get(request.path)
        if callable(a):
            a = a(self.rest[-1])
        if a is None:
            a = self.default(request.path)
        return web.json_response(a)

    def default(self, path: str) -> dict:
        if path == "/api/v5/public/time":
            return {"code": "0", "msg": "", "data": [{"ts": str(time.time_ns() // MS + self.ahead_ms)}]}
        if path == "/api/v5/trade/order" and self.rest[-1]["method"] == "POST":
            return F["place_ack"]
        if path == "/api/v5/trade/cancel-order":
            return F["cancel_ok"]
        if path == "/api/v5/trade/order":
            return F["order_detail"]
        if path == "/api/v5/trade/cancel-all-after":
            return {"code": "0", "msg": "", "data": [{"triggerTime": "1587971460", "tag": "", "ts": "1587971400"}]}
        return {"code": "0", "msg": "", "data": []}

    async def ws_handler(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.conns.append(ws)
        try:
            async for m in ws:
                if m.type != WSMsgType.TEXT:
                    continue
                if m.data == "ping":
                    self.ws_frames.append("ping")
                    await ws.send_str("pong")
                    continue
                msg = json.loads(m.data)
                self.ws_frames.append(msg)
                if msg.get("op") == "login":
                    a = msg["args"][0]
                    good = (a["apiKey"] == KEY and a["passphrase"] == PHRASE and a["sign"] ==
                            auth.hmac_b64(SECRET, a["timestamp"] + "GET/users/self/verify"))
                    await ws.send_str(json.dumps(F["login_ok"] if good else F["login_failed"]))
                elif msg.get("op") == "subscribe":
                    await ws.send_str(json.dumps(F["subscribed"]))
                elif msg.get("op") in ("order", "cancel-order") and self.ws_reply:
                    a = msg["args"][0]
                    item = {"clOrdId": a["clOrdId"], "ordId": "680800019749904384", "tag": "", "ts": "1700000000000",
                            "sCode": "0", "sMsg": ""}
                    if a.get("sz") == "999":
                        item.update(sCode="51008", sMsg="Order failed. Insufficient USDT balance in account.")
                    await ws.send_str(json.dumps({"id": msg["id"], "op": msg["op"], "code": "0" if item["sCode"] == "0"
                                                  else "1", "msg": "", "data": [item]}))
        finally:
            self.conns.remove(ws)
        return ws

    async def push(self, msg: Any) -> None:
        for ws in list(self.conns):
            await ws.send_str(msg if isinstance(msg, str) else json.dumps(msg))


@contextlib.asynccontextmanager
async def serving(**kw) -> AsyncIterator[Okx]:
    srv = Okx(**kw)
    app = web.Application()
    app.router.add_get("/ws/v5/private", srv.ws_handler)
    app.router.add_route("*", "/api/{tail:.*}", srv.rest_handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    srv.url, srv.ws_url = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws/v5/private"
    try:
        yield srv
    finally:
        for ws in list(srv.conns):
            await ws.close()
        await runner.cleanup()


@contextlib.asynccontextmanager
async def client(srv: Okx, secret: str = SECRET) -> AsyncIterator[OkxExecution]:
    a = adapter()
    rest = rest_client(srv.url, a)
    ex = a.make_execution(rest, creds(secret), VenueConfig(name="okx", rest_url=srv.url))
    try:
        yield ex
    finally:
        await ex.close()
        await rest.close()




# ---------------------------------------------------------------------------- ids and pushes

def test_client_order_ids_are_1_to_32_alphanumerics_and_unique():
    ex = OkxExecution(adapter(), rest_client("http://127.0.0.1:1", OkxAdapter()), creds())
    ids = [ex.new_client_order_id() for _ in range(5000)]
    assert all(re.fullmatch(r"[A-Za-z0-9]{1,32}", i) for i in ids)
    assert len(set(ids)) == len(ids)
    assert ExecutionClient in OkxExecution.__mro__ and isinstance(ex, ExecutionClient)


def pushed(names: list[str]) -> tuple[OkxExecution, list]:
    ex = OkxExecution(adapter(), rest_client("http://127.0.0.1:1", OkxAdapter()), creds())
    got: list = []
    ex.on_update = got.append
    d = OkxPrivateDialect()
    for n in names:
        msg = d.decode(json.dumps(F[n]))
        assert d.classify(msg) == (MsgKind.PUSH, None)
        ex._on_push(msg)
    return ex, got


def test_every_order_state_of_the_orders_channel():
    ex, got = pushed(["live", "partially_filled", "filled", "canceled", "mmp_canceled"])
    assert [u.state for u in got] == [OrderState.NEW, OrderState.PARTIALLY_FILLED, OrderState.FILLED,
                                      OrderState.CANCELED, OrderState.CANCELED]
    live = got[0]
    assert (live.symbol, live.client_order_id, live.venue_order_id) == ("BTC/USDT", "vlabc123", "680800019749904384")
    assert (live.qty, live.price, live.filled_qty, live.side) == ("0.01", "30000.1", "0", Side.BUY)
    assert live.ts_exchange == 1700000000100 * MS and live.fill is None
    assert got[2].filled_qty == "0.01" and got[3].fill is None
    assert got[4].symbol == "BTC/USDT:USDT" and got[4].qty == "3" and got[4].client_order_id == "vlswap1"
    assert ex.bad_events == 0


def test_fills_from_pushes_fee_sign_maker_and_time():
    _, got = pushed(["partially_filled", "filled", "swap_fill_rebate"])
    f1, f2, f3 = (u.fill for u in got)
    assert (f1.trade_id, f1.price, f1.qty, f1.side) == ("242589207", "30000.1", "0.004", Side.BUY)
    assert (f1.fee, f1.fee_asset, f1.is_maker) == ("0.000004", "BTC", True)       # -0.000004 paid -> +
    assert f1.ts_exchange == 1700000000200 * MS and f1.client_order_id == "vlabc123"
    assert (f2.trade_id, f2.qty, f2.fee, f2.is_maker) == ("242589208", "0.006", "0.0000102", False)
    # a swap: size in contracts as sent, a positive fillFee is a rebate (negative paid)
    assert (f3.symbol, f3.qty, f3.fee, f3.fee_asset, f3.is_maker) == ("BTC/USDT:USDT", "1", "-0.0015", "USDT", True)
    # contracts: the instrument's contract size travels with the update and its fill; spot has none
    assert f3.contract_size == got[2].contract_size == "0.01" and f1.contract_size == got[0].contract_size == ""


def test_malformed_and_unknown_pushes_are_counted_never_raised(caplog):
    caplog.set_level(logging.WARNING)
    ex, got = pushed(["live"])
    bad_state = json.loads(json.dumps(F["live"]))
    bad_state["data"][0]["state"] = "exploded"
    no_id = json.loads(json.dumps(F["live"]))
    del no_id["data"][0]["ordId"]
    bad_num = json.loads(json.dumps(F["partially_filled"]))
    bad_num["data"][0]["fillSz"] = "1e"
    for m in (bad_state, no_id, bad_num, {"arg": {"channel": "orders"}, "data": [7]}):
        ex._on_push(m)
    assert ex.bad_events == 4 and len(got) == 1
    assert "bad order dropped" in caplog.text
    ex._on_push({"arg": {"channel": "account"}, "data": [{"ccy": "BTC"}]})   # not ours: ignored
    assert ex.bad_events == 4 and len(got) == 1


# ---------------------------------------------------------------------------- dialect

def test_dialect_login_heartbeat_and_frames():
    d = OkxPrivateDialect()
    assert d.ping_frame() == "ping" and 0 < d.ping_interval_s < 30
    assert d.classify(d.decode("pong")) == (MsgKind.PONG, None)
    with pytest.raises(ValueError):
        d.decode("pong!")
    frame = json.loads(d.login_frames(creds(), 1538054050_123456789)[0])
    assert frame["op"] == "login" and frame["args"][0]["timestamp"] == "1538054050"
    assert frame["args"][0]["sign"] == auth.hmac_b64(SECRET, "1538054050GET/users/self/verify")
    assert json.loads(d.subscribe_frames()[0]) == {"op": "subscribe", "args": [{"channel": "orders", "instType": "ANY"}]}
    assert d.is_login_ok(F["login_ok"]) and not d.is_login_ok(F["login_failed"])
    assert d.login_error(F["login_ok"]) is None
    for name in ("login_failed", "login_wrong_passphrase"):
        err = d.login_error(F[name])
        assert isinstance(err, AuthError) and "login refused" in str(err)
        assert KEY not in str(err) and SECRET not in str(err) and PHRASE not in str(err)
    assert isinstance(d.login_error(F["login_expired"]), TimestampError)
    assert d.classify(F["subscribed"])[0] is MsgKind.EVENT and d.is_subscribed(F["subscribed"])
    assert d.classify(F["notice"]) == (MsgKind.ROTATE, None)          # 64008: move to a new connection
    assert d.classify(dict(F["notice"], code="64099"))[0] is MsgKind.EVENT and not d.is_subscribed(F["login_ok"])
    # the same update received on two connections is one update, whatever its bytes
    p1 = F["partially_filled"]
    assert d.push_identity(p1, json.dumps(p1)) == d.push_identity(p1, json.dumps(p1, indent=1))
    assert d.push_identity(p1, "") != d.push_identity(F["filled"], "")
    assert d.classify([1])[0] is MsgKind.UNKNOWN and d.classify({"op": "order", "id": "x-1", "code": "0"})[0] is MsgKind.UNKNOWN


def test_dialect_requests_carry_string_ids_and_replies_map_scode():
    d = OkxPrivateDialect()
    f = json.loads(d.request_frame(1512, "order", {"instId": "BTC-USDT"}))
    assert f == {"id": "1512", "op": "order", "args": [{"instId": "BTC-USDT"}]}
    assert re.fullmatch(r"[A-Za-z0-9]{1,32}", f["id"])
    assert d.classify(F["ws_order_ok"]) == (MsgKind.REPLY, 1512)
    assert d.reply_error(F["ws_order_ok"]) is None and d.reply_result(F["ws_order_ok"])[0]["sCode"] == "0"
    assert isinstance(d.reply_error(F["ws_order_refused"]), Rejected) and d.reply_error(F["ws_order_refused"]).code == 51008
    assert isinstance(d.reply_error(F["ws_order_bad_args"]), Rejected)
    dup = dict(F["ws_order_refused"], data=[dict(F["ws_order_refused"]["data"][0], sCode="51016")])
    assert isinstance(d.reply_error(dup), ExecutionUnknown)


# ---------------------------------------------------------------------------- REST

async def test_rest_place_bodies_signatures_and_clock_offset():
    async with serving(ahead_ms=3_600_000) as srv, client(srv) as ex:
        await ex.sync_time()
        assert abs(ex.clock_offset_ms - 3_600_000) < 5_000
        u = await ex.place(order())
        assert (u.state, u.venue_order_id, u.client_order_id) == (OrderState.NEW, "680800019749904384", "vlabc123")
        await ex.place(order(tif=TimeInForce.IOC, cid="vl2"))
        await ex.place(order(tif=TimeInForce.FOK, cid="vl3", side=Side.SELL))
        await ex.place(order(type=OrderType.MARKET, price=None, cid="vl4"))
        await ex.place(order(symbol="BTC/USDT:USDT", qty="2", price="30001.5", cid="vl5"))
        places = [r for r in srv.rest if r["path"] == "/api/v5/trade/order"]
        assert places[0]["body"] == {"instId": "BTC-USDT", "tdMode": "cash", "clOrdId": "vlabc123", "side": "buy",
                                     "ordType": "limit", "sz": "0.01", "px": "30000.1"}
        assert [p["body"]["ordType"] for p in places] == ["limit", "ioc", "fok", "market", "limit"]
        assert places[2]["body"]["side"] == "sell"
        assert "px" not in places[3]["body"] and places[3]["body"]["tgtCcy"] == "base_ccy"
        assert places[4]["body"] == {"instId": "BTC-USDT-SWAP", "tdMode": "cross", "clOrdId": "vl5", "side": "buy",
                                     "ordType": "limit", "sz": "2", "px": "30001.5"}
        ro = order(symbol="BTC/USDT:USDT", side=Side.SELL, type=OrderType.MARKET, qty="2", price=None, cid="vl6")
        ro.reduce_only = True
        await ex.place(ro)
        assert srv.rest[-1]["body"] == {"instId": "BTC-USDT-SWAP", "tdMode": "cross", "clOrdId": "vl6", "side": "sell",
                                        "ordType": "market", "sz": "2", "reduceOnly": True}
        assert all(p["signed"] for p in places) and srv.bad_signatures == 0
        # the timestamp is the venue's clock (an hour ahead of ours), ISO with milliseconds
        ts = places[0]["ts"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", ts)
        sent = time.mktime(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
        assert abs(sent - (time.time() + 3600)) < 30
        # per-instrument place buckets and the sub-account cap were spent
        util = ex.rest.budget.utilization()
        assert util["PLACE_2S:BTC-USDT"] > 0 and util["PLACE_2S:BTC-USDT-SWAP"] > 0
        assert util["SUBACCOUNT_ORDERS_2S"] > 0 and ex.rest_orders == 6


async def test_rest_cancel_query_open_orders_and_fills():
    async with serving() as srv, client(srv) as ex:
        u = await ex.cancel(order())
        c = srv.rest[-1]
        assert (c["method"], c["path"], c["body"]) == ("POST", "/api/v5/trade/cancel-order",
                                                       {"instId": "BTC-USDT", "clOrdId": "vlabc123"})
        assert c["signed"] and u.state is OrderState.UNKNOWN and u.venue_order_id == "680800019749904384"
        assert ex.rest.budget.utilization()["CANCEL_2S:BTC-USDT"] > 0
        q = await ex.query(order())
        assert srv.rest[-1]["query"] == {"instId": "BTC-USDT", "clOrdId": "vlabc123"} and srv.rest[-1]["signed"]
        assert (q.state, q.filled_qty, q.qty, q.fill) == (OrderState.PARTIALLY_FILLED, "0.004", "0.01", None)
        srv.answers["/api/v5/trade/orders-pending"] = F["live"] | {"code": "0", "msg": ""}
        opens = await ex.open_orders("BTC/USDT")
        assert srv.rest[-1]["query"] == {"limit": "100", "instId": "BTC-USDT"}
        assert [o.state for o in opens] == [OrderState.NEW]
        srv.answers["/api/v5/trade/fills"] = F["fills"]
        fills = await ex.recent_fills("BTC/USDT", 1700000000000 * MS)
        assert srv.rest[-1]["query"]["begin"] == str(1700000000000 - 1000)
        assert srv.rest[-1]["query"]["instType"] == "SPOT"
        (f,) = fills
        assert (f.trade_id, f.venue_order_id, f.client_order_id, f.price, f.qty, f.fee, f.is_maker) == \
            ("242589207", "680800019749904384", "vlabc123", "30000.1", "0.004", "0.000004", True)
        assert f.ts_exchange == 1700000000200 * MS


@pytest.mark.parametrize("name,path,call,exc,code", [
    ("place_insufficient", "/api/v5/trade/order", "place", Rejected, 51008),
    ("place_duplicate", "/api/v5/trade/order", "place", ExecutionUnknown, 51016),
    ("place_timeout", "/api/v5/trade/order", "place", ExecutionUnknown, 50004),
    ("cancel_done", "/api/v5/trade/cancel-order", "cancel", UnknownOrder, 51400),
    ("query_missing", "/api/v5/trade/order", "query", UnknownOrder, 51603),
    ("cancel_done", "/api/v5/trade/order", "query", ExecutionUnknown, 51400),
])
async def test_scode_answers_map_to_the_error_contract(name, path, call, exc, code):
    async with serving() as srv, client(srv) as ex:
        srv.answers[path] = F[name]
        with pytest.raises(exc) as ei:
            await getattr(ex, call)(order())
        assert type(ei.value) is exc and ei.value.code == code


async def test_invalid_order_is_refused_before_sending():
    async with serving() as srv, client(srv) as ex:
        for o in (order(qty="0.000000001"), order(price="30000.15"), order(price=None)):
            with pytest.raises(Rejected):
                await ex.place(o)
        assert srv.rest == []


# ---------------------------------------------------------------------------- private WebSocket

async def test_private_stream_login_pushes_ws_orders_and_rest_fallback():
    async with serving() as srv, client(srv) as ex:
        got: list = []
        ex.on_update = got.append
        ex.start(srv.ws_url, lambda: None)
        assert await wait_for(lambda: ex.stream_connected)
        login = srv.ws_frames[0]
        assert login["op"] == "login" and abs(int(login["args"][0]["timestamp"]) - time.time()) < 30
        assert srv.ws_frames[1] == {"op": "subscribe", "args": [{"channel": "orders", "instType": "ANY"}]}
        await srv.push(F["partially_filled"])
        assert await wait_for(lambda: len(got) == 1)
        assert got[0].fill is not None and got[0].fill.trade_id == "242589207"
        await srv.push("not json")
        await srv.push({"event": "notice", "code": "64008", "msg": "upgrade", "connId": "a"})
        # the upgrade notice: a second connection, logged in and subscribed, replaces the first
        assert await wait_for(lambda: ex.private_ws.rotations == 1 and len(srv.conns) == 1)
        assert [f["op"] for f in srv.ws_frames if isinstance(f, dict)][-2:] == ["login", "subscribe"]
        assert ex.private_ws.unknown_messages == 1 and ex.stream_connected
        # place and cancel go over the WebSocket with string ids, no REST
        u = await ex.place(order(cid="vlws1"))
        frame = srv.ws_frames[-1]
        assert frame["op"] == "order" and re.fullmatch(r"\d{1,32}", frame["id"])
        # instIdCode names the instrument (OKX ignores instId in WebSocket order operations since March 2026)
        assert frame["args"] == [{"instId": "BTC-USDT", "tdMode": "cash", "clOrdId": "vlws1", "side": "buy",
                                  "ordType": "limit", "sz": "0.01", "px": "30000.1", "instIdCode": 10001}]
        assert u.client_order_id == "vlws1" and u.state is OrderState.NEW
        await ex.cancel(order(cid="vlws1"))
        assert srv.ws_frames[-1]["op"] == "cancel-order" and srv.ws_frames[-1]["args"] == [
            {"instId": "BTC-USDT", "clOrdId": "vlws1", "instIdCode": 10001}]
        with pytest.raises(Rejected):                                   # sent on the socket, refused there
            await ex.place(order(qty="999", cid="vlws2"))
        assert ex.ws_orders == 3 and not [r for r in srv.rest if r["path"].startswith("/api/v5/trade/")]
        assert ex.rest.budget.utilization()["PLACE_2S:BTC-USDT"] > 0        # shared with REST
        # a lost answer is an unknown outcome, never a refusal
        srv.ws_reply = False
        ex.ws_timeout_s = 0.3
        with pytest.raises(ExecutionUnknown):
            await ex.place(order(cid="vlws3"))
        # the stream down: REST instead
        await ex.private_ws.close()
        assert not ex.stream_connected
        await ex.place(order(cid="vlrest1"))
        assert srv.rest[-1]["path"] == "/api/v5/trade/order" and srv.rest[-1]["body"]["clOrdId"] == "vlrest1"


async def test_private_stream_wrong_secret_is_an_auth_error_without_secrets(caplog):
    caplog.set_level(logging.DEBUG)
    async with serving() as srv, client(srv, secret="wrong-secret-77") as ex:
        ex.start(srv.ws_url, lambda: None)
        ws = ex.private_ws
        assert await wait_for(lambda: ws.login_failures >= 1)
        assert isinstance(ws.last_error, AuthError) and ws.last_error.code == 60009
        assert not ex.stream_connected
        with pytest.raises(AuthError):                  # not sent: the session is not logged in
            await ws.request("order", {})
        text = caplog.text + repr(ex) + repr(ws) + str(ws.last_error)
        assert "wrong-secret-77" not in text and PHRASE not in text


async def test_ping_is_the_text_ping():
    async with serving() as srv, client(srv) as ex:
        d = OkxPrivateDialect()
        d.ping_interval_s = 0.05                          # 25 s on the venue
        s = PrivateWsSession(srv.ws_url, d, creds(), http=ex.rest.session)
        s.start()
        try:
            assert await wait_for(lambda: srv.ws_frames.count("ping") >= 2)
            assert s.connected and s.unknown_messages == 0        # the "pong"s decoded fine
        finally:
            await s.close()


# ---------------------------------------------------------------------------- dead man's switch, config

async def test_cancel_all_after_arms_and_refuses_out_of_range():
    async with serving() as srv, client(srv) as ex:
        await ex.arm_dead_man(60)
        await ex.arm_dead_man(0)
        assert [(r["path"], r["body"]) for r in srv.rest] == [
            ("/api/v5/trade/cancel-all-after", {"timeOut": "60"}), ("/api/v5/trade/cancel-all-after", {"timeOut": "0"})]
        for bad in (5, 121):
            with pytest.raises(ValueError):
                await ex.arm_dead_man(bad)
        dm = DeadMansSwitch(ex, 30, name="okx")
        dm.period_s = 0.05
        await dm.start()
        assert await wait_for(lambda: dm.arms >= 3)
        await dm.close()
        bodies = [r["body"]["timeOut"] for r in srv.rest if r["path"] == "/api/v5/trade/cancel-all-after"]
        assert bodies[-1] == "0" and set(bodies[2:-1]) == {"30"} and not dm.armed
        with pytest.raises(ConfigError):
            await DeadMansSwitch(ex, 5, name="okx").start()


def test_dead_man_needs_a_venue_hook_and_a_valid_config(tmp_path):
    with pytest.raises(ConfigError):
        DeadMansSwitch(object(), 60)
    p = tmp_path / "c.toml"
    p.write_text('[venues.okx]\nrest_url = "https://www.okx.com"\nws_url = "wss://x"\ndead_man_s = 60\n')
    assert load_config(p).venues["okx"].dead_man_s == 60
    for bad in ("-1", "1.5", "true", "99999"):
        p.write_text(f'[venues.okx]\nrest_url = "https://www.okx.com"\nws_url = "wss://x"\ndead_man_s = {bad}\n')
        with pytest.raises(ConfigError):
            load_config(p)


def test_simulator_passphrase_reaches_the_venue_config(monkeypatch):
    class Sim:
        rest_url, ws_url = "http://127.0.0.1:1", "ws://127.0.0.1:1/ws/v5/public"

        def __init__(self, info):
            self.info = info

        def __getitem__(self, k):
            return self.info[k]

    monkeypatch.delenv("VENUELINK_SIM_OKX_PASSPHRASE", raising=False)
    vc = venue_config_for("okx", Sim({"api_key": "k", "api_secret": "s", "api_passphrase": "p-1"}), ["BTC/USDT"])
    assert vc.api_passphrase_env == "VENUELINK_SIM_OKX_PASSPHRASE" and os.environ[vc.api_passphrase_env] == "p-1"
    assert vc.credentials().passphrase.reveal() == "p-1"
    vc = venue_config_for("binance", Sim({"api_key": "k", "api_secret": "s"}), ["BTC/USDT"])
    assert vc.api_passphrase_env == "" and passphrase_env("binance", {}) == {}


async def test_order_manager_over_okx_place_cancel_and_reconcile():
    from venuelink.model import OrderRequest
    from venuelink.orders import OrderManager
    async with serving() as srv, client(srv) as ex:
        canceled = json.loads(json.dumps(F["order_detail"]))
        canceled["data"][0].update(state="canceled", accFillSz="0")

        def order_answer(r):
            if r["method"] == "POST":
                return {**F["place_ack"], "data": [dict(F["place_ack"]["data"][0], clOrdId=r["body"]["clOrdId"])]}
            return {**canceled, "data": [dict(canceled["data"][0], clOrdId=r["query"]["clOrdId"])]}

        srv.answers["/api/v5/trade/order"] = order_answer
        om = OrderManager(ex, reconcile_interval_s=0.05, ack_timeout_s=2.0)
        ex.on_update = om.on_venue_update
        try:
            o = await om.place(OrderRequest(VenueId.okx, "BTC/USDT", Side.BUY, OrderType.LIMIT, "0.01", "30000.1"))
            assert o.state is OrderState.NEW and re.fullmatch(r"[A-Za-z0-9]{1,32}", o.client_order_id)
            assert o.venue_order_id == "680800019749904384"
            o = await om.cancel(o.client_order_id)
            assert o.state is OrderState.CANCEL_PENDING          # the cancel ack is not the final state
            assert await wait_for(lambda: o.state is OrderState.CANCELED)
            assert any(r["method"] == "GET" and r["path"] == "/api/v5/trade/order" for r in srv.rest)
            # a duplicate clOrdId after a lost answer: an outcome to reconcile, never "rejected"
            srv.answers["/api/v5/trade/order"] = lambda r: F["place_duplicate"] if r["method"] == "POST" else \
                {**F["order_detail"], "data": [dict(F["order_detail"]["data"][0], clOrdId=r["query"]["clOrdId"])]}
            o2 = await om.place(OrderRequest(VenueId.okx, "BTC/USDT", Side.BUY, OrderType.LIMIT, "0.01", "30000.1"))
            assert o2.state is OrderState.UNKNOWN
            assert await wait_for(lambda: o2.state is OrderState.PARTIALLY_FILLED)
            assert o2.filled_qty == "0.004"
        finally:
            await om.close()


# ---------------------------------------------------------------------------- rotation on the simulator

def private_logins(okx) -> list[int]:
    """Wraps the simulator's private ``login``: per successful login, how many other logged-in
    private connections were open at that moment."""
    seen: list[int] = []
    methods = okx.private_ws.dialect.methods
    login = methods["login"]

    async def counted(conn, args):
        answer = await login(conn, args)
        seen.append(sum(1 for c in okx.hub.conns
                        if c.kind == "user" and c is not conn and c.data.get("login") and not c.closed))
        return answer
    methods["login"] = counted
    return seen


async def sim_fault(sim, spec: dict) -> None:
    import aiohttp
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{sim['admin_url']}/fault", json=spec) as r:
            assert r.status == 200, await r.text()


@contextlib.asynccontextmanager
async def engine_on(sim) -> AsyncIterator[Any]:
    from venuelink.config import Config
    from venuelink.tools.simconfig import venue_config_for
    from venuelink.engine import Engine
    eng = Engine(Config(venues={"okx": venue_config_for("okx", sim, ["BTC/USDT"])}, metrics_port=0))
    try:
        await eng.start(market_data=False)
        assert await wait_for(lambda: eng.runtime("okx").execution.stream_connected)
        yield eng
    finally:
        await eng.close()


def resting_buy():
    from venuelink.model import OrderRequest
    return OrderRequest(VenueId.okx, "BTC/USDT", Side.BUY, OrderType.LIMIT, "0.001", "30000.0")   # far below 60000


async def test_notice_on_the_private_socket_moves_requests_and_pushes_to_a_new_connection():
    from venuelink.sim.server import in_process_simulator
    async with in_process_simulator("okx", rate=0, shutdown_close_s=30.0) as sim:
        okx = sim.sim_app
        logins = private_logins(okx)
        async with engine_on(sim) as eng:
            rt = eng.runtime("okx")
            ex, ws = rt.execution, rt.execution.private_ws
            stream_states: list[bool] = []
            ex.on_stream_state = stream_states.append
            venue_states: list[bool] = []
            eng.subscribe_venue_state("okx", lambda v, ok, why: venue_states.append(ok))
            updates: list = []
            to_manager = ex.on_update

            def seen(u) -> None:
                updates.append(u)
                to_manager(u)
            ex.on_update = seen
            assert logins == [0]
            before = await eng.place(resting_buy())
            # the next order's answer is held 3 s by the venue: in flight on the first connection
            await sim_fault(sim, {"type": "order", "mode": "late", "hold_s": 3.0})
            held = asyncio.ensure_future(eng.place(resting_buy()))
            assert await wait_for(lambda: ws.stats()["pending"] == 1)
            await sim_fault(sim, {"type": "server_shutdown"})
            during = asyncio.ensure_future(eng.place(resting_buy()))
            assert await wait_for(lambda: ws.rotations == 1)
            # the second login happened while the first connection was open and logged in; the
            # first stays open for the answer it owes
            assert logins == [0, 1]
            assert ws.stats()["connections"] == 2 and not held.done()
            after = await eng.place(resting_buy())          # on the new connection
            await eng.cancel("okx", after.client_order_id)
            orders = [before, await held, await during, after]
            assert all(o.state in (OrderState.NEW, OrderState.CANCEL_PENDING, OrderState.CANCELED) for o in orders)
            om = rt.orders
            assert await wait_for(lambda: om.orders[after.client_order_id].state is OrderState.CANCELED)
            # the first connection closes once its answer came, long before the venue's 30 s
            assert await wait_for(lambda: ws.stats()["connections"] == 1)
            # and the venue sees it go (its side of the close lands a moment later)
            assert await wait_for(lambda: sum(1 for c in okx.hub.conns if c.kind == "user" and not c.closed) == 1)
            # pushes of the overlap came on both connections and reached the client once
            assert ws.duplicate_pushes >= 1
            keys = [(u.client_order_id, u.state, u.filled_qty, u.ts_exchange) for u in updates]
            assert len(keys) == len(set(keys)), keys
            mine = [u.state for u in updates if u.client_order_id == after.client_order_id]
            assert mine == [OrderState.NEW, OrderState.CANCELED]
            assert {u.client_order_id for u in updates} >= {o.client_order_id for o in orders}
            st = ws.stats()
            assert st["rotations"] == 1 and st["rotations_notice"] == 1 and st["rotations_abandoned"] == 0
            assert ws.reconnects == 0 and ws.timeouts == 0 and ex.ws_orders == 5 and ex.rest_orders == 0
            assert stream_states == [] and False not in venue_states and ex.stream_connected
            # requests keep going on the new connection
            last = await eng.place(resting_buy())
            assert last.state is OrderState.NEW and logins == [0, 1]
            import urllib.request
            port = eng.serve_metrics(port=0)
            body = await asyncio.to_thread(
                lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode())
            assert 'venuelink_rotations_total{connection="private",venue="okx"} 1.0' in body


async def test_old_socket_closed_before_the_new_one_is_ready_reconnects_and_reconciles():
    from venuelink.sim.server import in_process_simulator
    async with in_process_simulator("okx", rate=0, shutdown_close_s=0.3) as sim:
        okx = sim.sim_app
        async with engine_on(sim) as eng:
            rt = eng.runtime("okx")
            ex, ws = rt.execution, rt.execution.private_ws
            stream_states: list[bool] = []
            ex.on_stream_state = stream_states.append
            pushed: list = []
            to_manager = ex.on_update

            def seen(u) -> None:
                pushed.append(u)
                to_manager(u)
            ex.on_update = seen
            o = await eng.place(resting_buy())
            assert await wait_for(lambda: any(u.client_order_id == o.client_order_id for u in pushed))
            first = [c for c in okx.hub.conns if c.kind == "user" and not c.closed]
            assert len(first) == 1
            methods = okx.private_ws.dialect.methods
            login = methods["login"]
            canceled: list = []

            async def slow_login(conn, args):
                # the venue logs the replacement in only after the old connection is gone, and
                # meanwhile the order is canceled on the venue: its push reaches no connection
                while not first[0].closed:
                    await asyncio.sleep(0.01)
                if not canceled:
                    canceled.append(okx.op_cancel({"instId": "BTC-USDT", "clOrdId": o.client_order_id}))
                return await login(conn, args)
            methods["login"] = slow_login
            await sim_fault(sim, {"type": "server_shutdown"})
            assert await wait_for(lambda: ws.reconnects == 1 and ws.connected)
            assert canceled and ws.rotations == 0 and ws.rotations_abandoned == 1
            assert stream_states == [False, True]           # the normal reconnect path
            # the runtime reconciled after the reconnect: the cancel it never saw pushed
            om = rt.orders
            assert await wait_for(lambda: om.orders[o.client_order_id].state is OrderState.CANCELED)
            assert not [u for u in pushed if u.client_order_id == o.client_order_id
                        and u.state is OrderState.CANCELED]
            assert ws.stats()["connections"] == 1
