"""Venue-neutral simulator machinery, exercised with a second, non-Binance dialect over loopback."""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from venuelink.adapters.binance.spec import SPEC
from venuelink.sim.app import SimApp, SimConfig, make_venue
from venuelink.sim.core import SymbolSpec
from venuelink.sim.faults import Faults
from venuelink.sim.limits import ORDERS, RAW, WEIGHT, RateLimiter, rule_from_bucket, rules_from_buckets
from venuelink.sim.server import in_process_simulator
from venuelink.sim.streams import DiffStreams, DiffTopic
from venuelink.sim.wsconn import Control, ControlReply, Op, PingRule, Refusal, TopicControl, WsConn, WsHub
from venuelink.venue import BucketSpec
from venuelink.ext.ratelimit import BucketKind

T = aiohttp.ClientTimeout(total=10)


# ---------------------------------------------------------------------- an OKX-shaped test dialect
class ArgsDialect:
    """``{"op": "subscribe", "args": [{"channel": "books", "instId": "BTC-USDT"}], "id": "1"}``."""

    INSTRUMENTS = ("BTC-USDT", "ETH-USDT")
    CHANNELS = ("books", "trades")

    @staticmethod
    def _topic(arg: dict[str, Any]) -> str:
        return f"{arg.get('channel')}:{arg.get('instId')}"

    def parse(self, text: str) -> Control:
        try:
            msg = json.loads(text)
        except ValueError:
            raise ControlReply(json.dumps({"event": "error", "code": "60012", "msg": "Invalid request"})) from None
        op = {"subscribe": Op.SUBSCRIBE, "unsubscribe": Op.UNSUBSCRIBE, "list": Op.LIST}.get(msg.get("op"))
        if op is None:
            raise ControlReply(json.dumps({"event": "error", "code": "60012", "msg": "Invalid request",
                                           "id": msg.get("id")}))
        return Control(op, [self._topic(a) for a in msg.get("args", [])], msg.get("id"))

    def valid_topic(self, topic: str) -> bool:
        ch, _, inst = topic.partition(":")
        return ch in self.CHANNELS and inst in self.INSTRUMENTS

    def ack(self, conn: WsConn, ctl: Control) -> str:
        if ctl.op == Op.LIST:
            return json.dumps({"event": "list", "topics": sorted(conn.topics), "id": ctl.rid})
        return json.dumps({"event": ctl.op.name.lower(), "topics": ctl.topics, "id": ctl.rid})

    def refuse(self, conn: WsConn, ctl: Control, why: Refusal, topics: list[str]) -> str:
        return json.dumps({"event": "error", "why": why.name, "topics": topics, "id": ctl.rid})

    def other(self, conn: WsConn, ctl: Control) -> str:
        raise AssertionError("no OTHER ops in this dialect")


@asynccontextmanager
async def serve_dialect(**control_kw: Any) -> AsyncIterator[tuple[str, WsHub, TopicControl]]:
    hub = WsHub()
    control = TopicControl(hub, ArgsDialect(), **control_kw)
    faults = Faults()

    async def handler(request: web.Request) -> web.StreamResponse:
        conn = WsConn(request, kind="market", faults=faults, hub=hub, max_inbound_per_s=0)
        return await conn.serve(control.on_text)

    app = web.Application()
    app.router.add_get("/ws", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"ws://127.0.0.1:{runner.addresses[0][1]}/ws", hub, control
    finally:
        await runner.cleanup()


def sub(op: str, *topics: tuple[str, str], rid: str = "1") -> str:
    return json.dumps({"op": op, "id": rid, "args": [{"channel": c, "instId": i} for c, i in topics]})


async def ask(ws: aiohttp.ClientWebSocketResponse, text: str) -> Any:
    await ws.send_str(text)
    m = await ws.receive(timeout=5)
    assert m.type == aiohttp.WSMsgType.TEXT, m
    return m.data


# ---------------------------------------------------------------------- control frames
async def test_subscribe_unsubscribe_list_and_fan_out_through_a_second_dialect():
    async with serve_dialect() as (url, hub, _), aiohttp.ClientSession(timeout=T) as s:
        async with s.ws_connect(url) as a, s.ws_connect(url) as b:
            assert json.loads(await ask(a, sub("subscribe", ("books", "BTC-USDT"), ("trades", "BTC-USDT")))) == \
                {"event": "subscribe", "topics": ["books:BTC-USDT", "trades:BTC-USDT"], "id": "1"}
            assert json.loads(await ask(b, sub("subscribe", ("books", "BTC-USDT"), rid="2")))["event"] == "subscribe"
            # one rendering per wrap, each subscriber gets the payload once
            b_conn = next(c for c in hub.subscribers("books:BTC-USDT") if c.topics == {"books:BTC-USDT"})
            b_conn.wrap = lambda topic, raw: json.dumps({"arg": topic, "data": json.loads(raw)})
            assert hub.publish("books:BTC-USDT", '{"x":1}') == 2
            assert json.loads((await a.receive(timeout=5)).data) == {"x": 1}
            assert json.loads((await b.receive(timeout=5)).data) == {"arg": "books:BTC-USDT", "data": {"x": 1}}
            assert hub.publish("books:ETH-USDT", '{"x":2}') == 0

            assert json.loads(await ask(a, sub("unsubscribe", ("trades", "BTC-USDT"), rid="3")))["event"] == \
                "unsubscribe"
            assert json.loads(await ask(a, json.dumps({"op": "list", "id": "4"})))["topics"] == ["books:BTC-USDT"]
            bad = json.loads(await ask(a, sub("subscribe", ("books", "NOPE-USDT"), rid="5")))
            assert bad == {"event": "error", "why": "BAD_TOPIC", "topics": ["books:NOPE-USDT"], "id": "5"}
            assert json.loads(await ask(a, "{not json"))["code"] == "60012"
        # closed connections leave no subscriptions behind
        for _ in range(50):
            if not hub.topics:
                break
            await asyncio.sleep(0.02)
        assert hub.topics == {} and not hub.conns


async def test_topic_cap_refuses_the_whole_request():
    async with serve_dialect(max_topics=2) as (url, hub, control), aiohttp.ClientSession(timeout=T) as s:
        async with s.ws_connect(url) as ws:
            assert json.loads(await ask(ws, sub("subscribe", ("books", "BTC-USDT"))))["event"] == "subscribe"
            r = json.loads(await ask(ws, sub("subscribe", ("books", "ETH-USDT"), ("trades", "ETH-USDT"), rid="2")))
            assert r["why"] == "TOO_MANY_TOPICS" and r["id"] == "2"
            lst = json.loads(await ask(ws, json.dumps({"op": "list", "id": "3"})))
            assert lst["topics"] == ["books:BTC-USDT"]  # nothing of the refused request was applied
            # re-subscribing a held topic does not count against the cap
            assert json.loads(await ask(ws, sub("subscribe", ("books", "BTC-USDT"), ("books", "ETH-USDT"),
                                                rid="4")))["event"] == "subscribe"
            assert control.refused == 1


async def test_subscribe_operations_budget_per_connection():
    now = [1000.0]
    async with serve_dialect(sub_ops=3, sub_window_s=3600, clock=lambda: now[0]) as (url, hub, control), \
            aiohttp.ClientSession(timeout=T) as s:
        async with s.ws_connect(url) as ws, s.ws_connect(url) as other:
            for i in range(3):
                op = "subscribe" if i % 2 == 0 else "unsubscribe"
                assert json.loads(await ask(ws, sub(op, ("trades", "BTC-USDT"), rid=str(i))))["event"] == op
            r = json.loads(await ask(ws, sub("subscribe", ("books", "BTC-USDT"), rid="x")))
            assert r == {"event": "error", "why": "SUB_BUDGET", "topics": ["books:BTC-USDT"], "id": "x"}
            # listing is not a subscribe operation; the budget is per connection
            assert json.loads(await ask(ws, json.dumps({"op": "list", "id": "l"})))["topics"] == ["trades:BTC-USDT"]
            assert json.loads(await ask(other, sub("subscribe", ("books", "BTC-USDT"))))["event"] == "subscribe"
            now[0] += 3600  # a new window
            assert json.loads(await ask(ws, sub("subscribe", ("books", "BTC-USDT"), rid="y")))["event"] == "subscribe"


async def test_application_ping_answered_before_parsing():
    text_ping = PingRule(match=lambda t: t == "ping", pong=lambda t: "pong")
    async with serve_dialect(ping=text_ping) as (url, _, control), aiohttp.ClientSession(timeout=T) as s:
        async with s.ws_connect(url) as ws:
            assert await ask(ws, "ping") == "pong"
            assert control.malformed == 0
            assert json.loads(await ask(ws, "pingx"))["code"] == "60012"  # not a ping: reaches the parser
            assert control.malformed == 1

    def json_pong(text: str) -> str:
        return json.dumps({"op": "pong", "req_id": json.loads(text).get("req_id")})

    json_ping = PingRule(match=lambda t: '"op":"ping"' in t.replace(" ", ""), pong=json_pong)
    async with serve_dialect(ping=json_ping) as (url, _, _c), aiohttp.ClientSession(timeout=T) as s:
        async with s.ws_connect(url) as ws:
            assert json.loads(await ask(ws, '{"req_id": "7", "op": "ping"}')) == {"op": "pong", "req_id": "7"}


# ---------------------------------------------------------------------- one bucket spec
def test_rules_come_from_the_engine_bucket_specs_at_the_real_limit():
    rules = rules_from_buckets(SPEC.buckets, {"REQUEST_WEIGHT": WEIGHT, "ORDERS_10S": ORDERS,
                                              "ORDERS_1D": ORDERS, "RAW_REQUESTS_5M": RAW})
    by_name = {r.name: r for r in rules}
    for b in SPEC.buckets:
        r = by_name[b.name]
        assert r.limit == b.limit and r.seconds == b.window_s  # no headroom on the venue side
    assert (by_name["REQUEST_WEIGHT"].tag, by_name["ORDERS_10S"].tag, by_name["ORDERS_1D"].tag,
            by_name["RAW_REQUESTS_5M"].tag) == ("1M", "10S", "1D", "5M")
    over = rules_from_buckets(SPEC.buckets, {"REQUEST_WEIGHT": WEIGHT}, {"REQUEST_WEIGHT": 7})
    assert [(r.name, r.limit) for r in over] == [("REQUEST_WEIGHT", 7)]
    lim = RateLimiter(over)
    assert [lim.check_request("ip", 7, now=60.0).allowed, lim.check_request("ip", 1, now=60.5).status] == [True, 429]


def test_bucket_specs_the_limiter_cannot_model_are_refused_clearly():
    with pytest.raises(ValueError, match="fixed windows only"):
        rule_from_bucket(BucketSpec(name="X", kind=BucketKind.SLIDING_WINDOW, limit=10, window_s=1), WEIGHT)
    with pytest.raises(ValueError, match="whole number of seconds"):
        rule_from_bucket(BucketSpec(name="X", kind=BucketKind.FIXED_WINDOW, limit=10, window_s=0.5), WEIGHT)
    with pytest.raises(ValueError, match="unknown rate-limit bucket"):
        rules_from_buckets(SPEC.buckets, {"NOPE": WEIGHT})
    with pytest.raises(ValueError, match="unknown rate-limit bucket"):
        rules_from_buckets(SPEC.buckets, {"REQUEST_WEIGHT": WEIGHT}, {"TYPO": 3})
    with pytest.raises(ValueError, match="positive integer"):
        rules_from_buckets(SPEC.buckets, {"REQUEST_WEIGHT": WEIGHT}, {"REQUEST_WEIGHT": 0})


async def test_binance_simulator_serves_the_spec_limits_and_takes_overrides_by_bucket_name():
    async with in_process_simulator("binance", rate=0, symbols="BTCUSDT") as sim:
        async with aiohttp.ClientSession(timeout=T) as s:
            async with s.get(sim.admin_url + "/status") as r:
                limits = (await r.json())["limits"]
            async with s.get(sim.rest_url + "/api/v3/exchangeInfo") as r:
                info = await r.json()
        assert {(x["name"], x["limit"]) for x in limits} == {(b.name, b.limit) for b in SPEC.buckets}
        assert {x["limit"] for x in info["rateLimits"]} == {b.limit for b in SPEC.buckets}
    async with in_process_simulator("binance", rate=0, symbols="BTCUSDT", limit=["REQUEST_WEIGHT=21"]) as sim:
        left = 60 - time.time() % 60  # keep the three requests inside one fixed minute window
        if left < 3:
            await asyncio.sleep(left + 0.05)
        async with aiohttp.ClientSession(timeout=T) as s:
            async with s.get(sim.rest_url + "/api/v3/exchangeInfo") as r:  # weight 20
                assert r.status == 200
            async with s.get(sim.rest_url + "/api/v3/time") as r:  # 21
                assert r.status == 200
            async with s.get(sim.rest_url + "/api/v3/time") as r:  # 22 > 21
                assert r.status == 429 and (await r.json())["code"] == -1003
    with pytest.raises(ValueError, match="BUCKET=positive integer"):
        async with in_process_simulator("binance", rate=0, limit=["REQUEST_WEIGHT"]):
            pass


# ---------------------------------------------------------------------- a whole second dialect on SimApp
class ToySim(SimApp):
    """A minimal venue with dashed symbols, one public REST route and OKX-shaped WS control frames."""

    BUCKETS = (BucketSpec(name="PUBLIC", kind=BucketKind.FIXED_WINDOW, limit=4, window_s=60),)

    def __init__(self) -> None:
        config = SimConfig(symbols=["BTC-USDT"], rate=0, levels=50, max_topics=4, balances={"USDT": "100"})
        specs = [SymbolSpec("BTC-USDT", "BTC", "USDT", "0.1", "0.001", "50000.0")]
        super().__init__(config, make_venue("toy", specs, config, rules_from_buckets(self.BUCKETS, {"PUBLIC": WEIGHT}),
                                            ["toy-1"]))
        self.diffs = DiffStreams(self.venue, self._classify, self._render)
        self.diff_cadences_ms = {0.0}
        self.hub.on_topic = self.diffs.on_topic
        self.venue.on_batch = lambda sym, batch, extra: self.diffs.on_batch(sym, batch)
        self.control = self.topic_control(ArgsDialect(), PingRule(lambda t: t == "ping", lambda t: "pong"))

    def is_api_path(self, path: str) -> bool:
        return path.startswith("/v5/")

    def add_routes(self, r: web.UrlDispatcher) -> None:
        r.add_get("/v5/ticker", self.h_ticker)
        r.add_get("/ws", self.h_ws)

    async def h_ticker(self, request: web.Request) -> web.Response:
        sym = self.param_symbol(request.query, "instId")
        m = self.venue.markets[sym]
        return self.json({"instId": sym, "bid": m.price_scale.plain(m.best_bid()[0])})

    async def h_ws(self, request: web.Request) -> web.StreamResponse:
        return await self.ws_conn(request, "market", inbound_cap=False).serve(self.control.on_text)

    @staticmethod
    def _classify(topic: str) -> DiffTopic | None:
        ch, _, inst = topic.partition(":")
        return DiffTopic(inst, ch, 0.0) if ch == "books" else None

    @staticmethod
    def _render(topic: str, sym: str, first: int, last: int, bids: list, asks: list) -> str:
        return json.dumps({"arg": topic, "prevSeqId": first - 1, "seqId": last, "n": len(bids) + len(asks)})


async def test_second_dialect_on_the_shared_app_skeleton():
    sim = ToySim()
    runner = web.AppRunner(sim.create_app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    left = 60 - time.time() % 60  # the REST requests below share one fixed minute window
    if left < 3:
        await asyncio.sleep(left + 0.05)
    try:
        async with aiohttp.ClientSession(timeout=T) as s:
            async with s.get(base + "/__sim/book?symbol=BTC-USDT&limit=3") as r:
                book = await r.json()
            assert set(book) == {"symbol", "seq", "bids", "asks"} and book["symbol"] == "BTC-USDT"
            async with s.get(base + "/v5/ticker?instId=BTC-USDT") as r:
                assert r.status == 200 and (await r.json())["bid"] == book["bids"][0][0]
            async with s.get(base + "/v5/ticker?instId=ETH-USDT") as r:
                assert r.status == 400 and "unknown symbol" in (await r.json())["msg"]
            async with s.post(base + "/__sim/fault", json={"type": "http_error", "status": 502}) as r:
                assert r.status == 200
            async with s.get(base + "/v5/ticker?instId=BTC-USDT") as r:  # answered before the limiter
                assert r.status == 502
            statuses = []
            for _ in range(3):  # units 3, 4 and 5 of 4
                async with s.get(base + "/v5/ticker?instId=BTC-USDT") as r:
                    statuses.append(r.status)
                    retry = r.headers.get("Retry-After", "")
            assert statuses == [200, 200, 429] and retry.isdigit()

            async with s.ws_connect(base.replace("http", "ws") + "/ws") as ws:
                assert await ask(ws, "ping") == "pong"
                assert json.loads(await ask(ws, sub("subscribe", ("books", "BTC-USDT"))))["event"] == "subscribe"
                async with s.post(base + "/__sim/market", json={"action": "step", "n": 3}) as r:
                    stepped = await r.json()
                diffs = [json.loads((await ws.receive(timeout=5)).data) for _ in range(3)]
                assert [d["prevSeqId"] for d in diffs[1:]] == [d["seqId"] for d in diffs[:-1]]
                assert diffs[-1]["seqId"] == stepped["seq"]["BTC-USDT"]
    finally:
        await runner.cleanup()


def test_the_simulator_process_gets_no_credentials(monkeypatch):
    import pathlib
    from venuelink.sim.server import running_simulator
    monkeypatch.setenv("BINANCE_API_SECRET", "real-secret-of-the-operator")
    monkeypatch.setenv("OKX_API_PASSPHRASE", "real-passphrase")
    monkeypatch.setenv("VL_HARMLESS_SETTING", "1")
    with running_simulator("binance", rate=5) as sim:
        env = pathlib.Path(f"/proc/{sim.proc.pid}/environ").read_bytes().split(b"\0")
    assert not [e for e in env if b"real-secret" in e or b"real-passphrase" in e]
    assert b"VL_HARMLESS_SETTING=1" in env


# ---------------------------------------------------------------------- request/response over WS
class _RpcDialect:
    """``{"id": .., "method": .., "params": ..}`` -> ``{"id": .., "result": ..}`` or ``{"id": .., "error": ..}``."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.methods = {"slow": self.slow, "fast": self.fast, "bad": self.bad}

    async def slow(self, conn: WsConn, params: Any) -> str:
        self.started.append("slow")
        await asyncio.sleep(1.5)          # an answer held back, as the order faults do
        return "slow done"

    async def fast(self, conn: WsConn, params: Any) -> str:
        self.started.append(f"fast{params}")
        return "fast done"

    async def bad(self, conn: WsConn, params: Any) -> str:
        from venuelink.sim.app import SimError
        raise SimError(-1, "refused")

    def parse(self, text: str):
        from venuelink.sim.rpc import RpcRequest
        m = json.loads(text)
        return RpcRequest(m["id"], m["method"], m.get("params"))

    def weight(self, req: Any) -> int:
        return 1

    def limit_error(self, dec: Any):
        from venuelink.sim.app import SimError
        return SimError(-2, "limit")

    def unknown_method(self, req: Any):
        from venuelink.sim.app import SimError
        return SimError(-3, f"unknown {req.method}")

    def result(self, req: Any, result: Any, dec: Any) -> str:
        return json.dumps({"id": req.rid, "result": result})

    def error(self, req: Any, e: Any, dec: Any) -> str:
        return json.dumps({"id": req.rid, "error": e.msg})


async def test_a_held_rpc_answer_does_not_stall_the_requests_behind_it():
    from venuelink.sim.rpc import RpcSocket

    dialect = _RpcDialect()
    rpc = RpcSocket(RateLimiter([]), dialect)
    hub, faults = WsHub(), Faults()

    async def handler(request: web.Request) -> web.StreamResponse:
        return await WsConn(request, kind="api", faults=faults, hub=hub, max_inbound_per_s=0).serve(rpc.on_text)

    app = web.Application()
    app.router.add_get("/ws", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        url = f"ws://127.0.0.1:{runner.addresses[0][1]}/ws"
        async with aiohttp.ClientSession(timeout=T) as s, s.ws_connect(url) as ws:
            t0 = time.monotonic()
            for i, (m, p) in enumerate([("slow", None), ("fast", 1), ("bad", None), ("nope", None), ("fast", 2)]):
                await ws.send_str(json.dumps({"id": i, "method": m, "params": p}))
            got = []
            for _ in range(5):
                msg = await ws.receive(timeout=5)
                got.append((json.loads(msg.data), time.monotonic() - t0))
    finally:
        await runner.cleanup()
    order = [d["id"] for d, _ in got]
    assert order[-1] == 0, order                          # the held answer comes last ...
    assert sorted(order) == [0, 1, 2, 3, 4]               # ... and every request is answered once
    early = [t for d, t in got if d["id"] != 0]
    assert max(early) < 1.0, got                          # the others did not wait behind it
    by_id = {d["id"]: d for d, _ in got}
    assert by_id[0] == {"id": 0, "result": "slow done"} and by_id[2] == {"id": 2, "error": "refused"}
    assert by_id[3] == {"id": 3, "error": "unknown nope"}
    assert dialect.started == ["slow", "fast1", "fast2"]  # methods start in arrival order
