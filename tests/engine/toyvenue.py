"""A small venue of the shape most exchanges after Binance have, for the engine's lifecycle tests:
subscribe frames after connecting, acks with request ids, the book snapshot sent in-band after
each subscribe, deltas chained by predecessor id (or none at all), a CRC32 over the top levels'
strings, an application-level "ping"/"pong" and a subscribe-operation budget.

The server keeps its book as the strings it sends and computes its checksum from them with
zlib, independently of the engine's C checksum. The adapter is the venue kit's smallest user:
its frames are a wire schema (TOY_WIRE), read by venuelink.ext.wire, with no parser code of its own."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import time
import zlib
from decimal import Decimal

from aiohttp import WSMsgType, web

from venuelink.adapter import Channel, VenueAdapter
from venuelink.model import Instrument, Side, VenueId
from venuelink.venue import (BookSpec, BucketSpec, ConnectInfo, PingSpec, ResyncMethod, SnapshotSource, VenueSpec,
                          WsEndpoint, scale_of)
from venuelink.ext.checksum import Checksum, ChecksumLayout
from venuelink.ext.clock import now_ns
from venuelink.wire import Action, Channel as WireChannel, Field, Kind, Role, Wire
from venuelink.ext.feed import Control
from venuelink.ext.ref import json_ref as J
from venuelink.ext.ratelimit import BucketKind, Priority
from venuelink.ext.sync import SeqRule

TOY = VenueId.register("toyvenue")
SYMBOLS = {"AAA-USD": ("100.0", "0.1", "0.001"), "BBB-USD": ("20.00", "0.01", "0.01")}
DEPTH = 10


# ---------------------------------------------------------------------------------------- venue
class ToyServer:
    def __init__(self, *, seq_rule: SeqRule, ops_per_hour: int = 0, seed: int = 3) -> None:
        self.seq_rule = seq_rule
        self.ops_per_hour = ops_per_hour
        self.rng = random.Random(seed)
        self.books: dict[str, dict] = {}
        for sym, (mid, tick, lot) in SYMBOLS.items():
            t, m = Decimal(tick), Decimal(mid)
            bids = {m - t * i: Decimal(lot) * (i + 1) for i in range(1, 15)}
            asks = {m + t * i: Decimal(lot) * (i + 2) for i in range(1, 15)}
            self.books[sym] = {"bids": bids, "asks": asks, "seq": 1000, "tick": t, "lot": Decimal(lot)}
        self.conns: list[dict] = []
        self.ops: list[tuple[str, str]] = []         # (op, topic) as received
        self.pings = 0
        self.rest_hits: list[str] = []
        self.drop_next: set[str] = set()
        self.corrupt_next: set[str] = set()
        self.corrupt_all = False                     # every checksum wrong (a venue with a broken checksum)
        self.refuse: set[str] = set()
        self.bad_mark_next: set[str] = set()         # the next mark price of these symbols is negative
        self.marks: list[tuple[str, str, int]] = []  # (symbol, mark price, ts ms) as sent
        self.fundings: list[tuple[str, str, int]] = []  # (symbol, rate, funding time ms) as sent
        self.url = ""
        # token mode: every connection needs a one-time token from POST /bullet (KuCoin's shape)
        self.require_token = False
        self.token_ping_ms = 200
        self.tokens: dict[str, bool] = {}            # token -> used by a connection
        self.bullet_failures = 0                     # the next N token requests answer 503
        self.refused_tokens = 0
        self.ack_by_topic = False                    # answer each topic alone, without the request id
        self.md_secret = ""                          # set: every subscribe must carry a valid signature
        self.bad_signatures = 0
        self.ping_times: list[float] = []

    # wire helpers
    def _fmt(self, sym: str, px: Decimal, qty: Decimal) -> list[str]:
        b = self.books[sym]
        return [str(px.quantize(b["tick"])), str(qty.quantize(b["lot"]))]

    def _levels(self, sym: str, side: str) -> list[list[str]]:
        book = self.books[sym][side]
        keys = sorted(book, reverse=(side == "bids"))[:DEPTH]
        return [self._fmt(sym, k, book[k]) for k in keys]

    def checksum(self, sym: str) -> int:
        b, a = self._levels(sym, "bids"), self._levels(sym, "asks")
        parts = []
        for i in range(DEPTH):
            if i < len(b):
                parts += b[i]
            if i < len(a):
                parts += a[i]
        return zlib.crc32(":".join(parts).encode())

    def book_top(self, sym: str) -> tuple[list, list]:
        return self._levels(sym, "bids"), self._levels(sym, "asks")

    def _snapshot(self, sym: str) -> str:
        b = self.books[sym]
        msg = {"topic": f"book:{sym}", "type": "snapshot", "bids": self._levels(sym, "bids"),
               "asks": self._levels(sym, "asks"), "cs": self.checksum(sym) ^ (0x5A5A if self.corrupt_all else 0)}
        if self.seq_rule != SeqRule.SEQ_NONE:
            msg["seq"] = b["seq"]
        return json.dumps(msg)

    def _step(self, sym: str) -> dict:
        """One random change at the top of the book; the message that reports it."""
        b = self.books[sym]
        side = self.rng.choice(("bids", "asks"))
        book = b[side]
        keys = sorted(book, reverse=(side == "bids"))[:DEPTH]
        k = self.rng.choice(keys[1:])                  # never the best level: the book cannot cross
        changes = []
        if self.rng.random() < 0.3 and len(book) > DEPTH + 2:
            # a level leaves the published depth: the one that enters it is sent too, as venues
            # with a depth-limited book do
            del book[k]
            changes.append(self._fmt(sym, k, Decimal(0)))
            k10 = sorted(book, reverse=(side == "bids"))[DEPTH - 1]
            changes.append(self._fmt(sym, k10, book[k10]))
            far = sorted(book, reverse=(side == "bids"))[-1]   # keep the venue's book deep
            book[far + (-b["tick"] if side == "bids" else b["tick"])] = b["lot"]
        else:
            book[k] = b["lot"] * self.rng.randint(1, 50)
            changes.append(self._fmt(sym, k, book[k]))
        prev, b["seq"] = b["seq"], b["seq"] + self.rng.randint(1, 3)
        msg = {"topic": f"book:{sym}", "type": "update", "bids": changes if side == "bids" else [],
               "asks": changes if side == "asks" else [], "cs": self.checksum(sym)}
        if self.seq_rule != SeqRule.SEQ_NONE:
            msg["seq"], msg["prev"] = b["seq"], prev
        return msg

    async def _market(self) -> None:
        while True:
            await asyncio.sleep(0.01)
            for sym in self.books:
                msg = self._step(sym)
                if sym in self.corrupt_next or self.corrupt_all:
                    self.corrupt_next.discard(sym)
                    msg["cs"] ^= 0x5A5A
                drop = sym in self.drop_next
                self.drop_next.discard(sym)
                text = json.dumps(msg)
                for c in list(self.conns):
                    try:
                        if f"book:{sym}" in c["topics"] and not drop:
                            await c["ws"].send_str(text)
                        if f"trades:{sym}" in c["topics"] and self.rng.random() < 0.2:
                            c["trade_id"] = c.get("trade_id", 0) + 1      # ids count per connection
                            await c["ws"].send_str(json.dumps({
                                "topic": f"trades:{sym}", "id": f"t-{sym}-{c['trade_id']}",
                                "px": str(sorted(self.books[sym]["bids"])[-1]), "qty": "0.1", "side": "sell"}))
                        await self._derivatives(c, sym)
                    except (ConnectionError, RuntimeError):
                        pass                                # closing: its handler removes it

    async def _derivatives(self, c: dict, sym: str) -> None:
        """Mark prices and funding rates, as a derivatives venue pushes them (ts in ms)."""
        ts = 1_700_000_000_000 + len(self.marks) * 100
        if f"mark:{sym}" in c["topics"] and self.rng.random() < 0.3:
            px = str(sorted(self.books[sym]["bids"])[-1])
            if sym in self.bad_mark_next:
                self.bad_mark_next.discard(sym)
                px = "-" + px
            else:
                self.marks.append((sym, px, ts))
            await c["ws"].send_str(json.dumps({"topic": f"mark:{sym}", "markPx": px, "ts": str(ts)}))
        if f"funding:{sym}" in c["topics"] and self.rng.random() < 0.1:
            rate = f"{self.rng.randint(-99999, 99999) / 10**9:.9f}"
            t = 1_700_006_400_000
            self.fundings.append((sym, rate, t))
            await c["ws"].send_str(json.dumps({"topic": f"funding:{sym}", "fundingRate": rate,
                                               "fundingTime": str(t), "nextFundingTime": str(t + 28_800_000),
                                               "ts": str(ts)}))

    async def h_bullet(self, request: web.Request) -> web.Response:
        if self.bullet_failures:
            self.bullet_failures -= 1
            return web.json_response({"error": "busy"}, status=503)
        token = f"tok{len(self.tokens) + 1}x{self.rng.randrange(1 << 30):08x}"
        self.tokens[token] = False
        return web.json_response({"token": token, "endpoint": self.url, "pingInterval": self.token_ping_ms})

    async def h_ws(self, request: web.Request) -> web.WebSocketResponse:
        if self.require_token:
            token = request.query.get("token", "")
            if self.tokens.get(token) is not False:          # unknown, or used before
                self.refused_tokens += 1
                raise web.HTTPUnauthorized()
            self.tokens[token] = True
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        conn = {"ws": ws, "topics": set(), "ops": 0}
        self.conns.append(conn)
        try:
            async for m in ws:
                if m.type != WSMsgType.TEXT:
                    continue
                if m.data == "ping":
                    self.pings += 1
                    self.ping_times.append(asyncio.get_running_loop().time())
                    await ws.send_str("pong")
                    continue
                req = json.loads(m.data)
                op, topics, rid = req["op"], req["args"], req["id"]
                if self.md_secret and not _signed_ok(self.md_secret, req):
                    self.bad_signatures += 1
                    await ws.send_str(json.dumps({"event": "error", "id": rid, "msg": "bad signature"}))
                    continue
                conn["ops"] += 1
                if self.ops_per_hour and conn["ops"] > self.ops_per_hour:
                    await ws.send_str(json.dumps({"event": "error", "id": rid, "msg": "too many subscribe ops"}))
                    await ws.close()
                    break
                for t in topics:
                    self.ops.append((op, t))
                bad = [t for t in topics if t in self.refuse or
                       (t.split(":", 1)[-1] not in self.books and t != "status:all")]
                if bad and self.ack_by_topic:
                    for t in bad:
                        await ws.send_str(json.dumps({"event": "error", "topic": t, "msg": f"unknown topic {t}"}))
                    topics = [t for t in topics if t not in bad]
                elif bad:
                    await ws.send_str(json.dumps({"event": "error", "id": rid, "msg": f"unknown topic {bad[0]}"}))
                    continue
                if self.ack_by_topic:
                    for t in topics:
                        await ws.send_str(json.dumps({"event": op, "topic": t}))
                else:
                    await ws.send_str(json.dumps({"event": op, "id": rid}))
                for t in topics:
                    if op == "subscribe":
                        conn["topics"].add(t)
                        if t.startswith("book:"):
                            await ws.send_str(self._snapshot(t.split(":", 1)[1]))
                    else:
                        conn["topics"].discard(t)
        finally:
            self.conns.remove(conn)
        return ws

    async def h_instruments(self, request: web.Request) -> web.Response:
        self.rest_hits.append(request.path)
        return web.json_response({"instruments": [{"id": s, "tick": t, "lot": lot}
                                                  for s, (_, t, lot) in SYMBOLS.items()]})

    async def h_other(self, request: web.Request) -> web.Response:
        self.rest_hits.append(request.path)
        return web.json_response({"error": "no such endpoint"}, status=404)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/ws", self.h_ws)
        app.router.add_get("/instruments", self.h_instruments)
        app.router.add_post("/bullet", self.h_bullet)
        app.router.add_route("*", "/{tail:.*}", self.h_other)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.rest_url, self.url = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws"
        self._task = asyncio.ensure_future(self._market())

    async def stop(self) -> None:
        self._task.cancel()
        for c in list(self.conns):
            await c["ws"].close()
        await self.runner.cleanup()


# -------------------------------------------------------------------------------------- adapter
def _control(doc: J.Obj, raw: bytes) -> tuple[int, str | None, int]:
    """{"event": "subscribe" | "unsubscribe" | "error", "id" or "topic", "msg"}"""
    try:
        ev = J.get_str(doc, "event")
    except J.MissingFieldError:
        return Control.CTRL_OTHER, None, -1
    kind = {"subscribe": Control.CTRL_SUBSCRIBED, "unsubscribe": Control.CTRL_UNSUBSCRIBED}.get(ev, Control.CTRL_ERROR)
    topic = rid = None
    try:
        topic = J.get_str(doc, "topic")
    except J.MissingFieldError:
        pass
    try:
        rid = J.get_int(doc, "id")
    except J.MissingFieldError:
        pass
    return kind, topic, -1 if rid is None else rid


_MS_TEXT = Field("ts", Role.TS, text=True)
#: the toy's frames as data: "<channel>:<symbol>" topics; books with an optional id (none under
#: SEQ_NONE) and a CRC32; trades with string ids; mark and funding with ms times as strings
TOY_WIRE = Wire(
    dispatch=("topic",), topic_sep=":", control=_control, control_key="event", raw=((b"pong", Control.CTRL_PONG),),
    channels=(
        WireChannel("book", Kind.BOOK, action=Action("type", ("snapshot",), ("update",)), fields=(
            Field("bids", Role.BIDS), Field("asks", Role.ASKS), Field("cs", Role.CHECKSUM),
            Field("seq", Role.LAST, optional=True), Field("prev", Role.PREV, optional=True))),
        WireChannel("trades", Kind.TRADES, fields=(
            Field("id", Role.TRADE_ID, opaque=True), Field("px", Role.PRICE), Field("qty", Role.SIZE),
            Field("side", Role.SIDE, values=(("buy", True), ("sell", False))))),
        WireChannel("mark", Kind.DERIVS, fields=(Field("markPx", Role.MARK_PX), _MS_TEXT)),
        WireChannel("funding", Kind.DERIVS, fields=(
            Field("fundingRate", Role.FUNDING_RATE), Field("fundingTime", Role.FUNDING_TIME, text=True),
            Field("nextFundingTime", Role.NEXT_FUNDING_TIME, text=True), _MS_TEXT)),
    ),
)


def _sign(secret: str, ts: int, topics: list[str]) -> str:
    return hmac.new(secret.encode(), f"{ts}{','.join(topics)}".encode(), hashlib.sha256).hexdigest()


def _signed_ok(secret: str, req: dict) -> bool:
    """A signed subscribe: the key, a timestamp within 5 s, the HMAC of both with the topics."""
    ts = req.get("ts")
    return (isinstance(ts, int) and abs(ts - int(time.time() * 1000)) < 5000 and req.get("key") == "toy-key"
            and hmac.compare_digest(str(req.get("sig", "")), _sign(secret, ts, req["args"])))


def make_adapter(server: ToyServer, *, ping_s: float = 0.0, ops_per_hour: int = 0, token: bool = False,
                 conn_topics: tuple[str, ...] = (), md_auth: bool = False, split: bool = False):
    """`split`: trades and derivatives on a second endpoint ("market"), books and tops on "public"
    (as Binance USD-M splits its streams)."""
    def endpoint(name: str) -> WsEndpoint:
        return WsEndpoint(name, server.url, max_topics_per_connection=10, max_topics_per_request=5,
                          max_msgs_per_s=50, max_subscribe_ops_per_hour=ops_per_hour, ack_timeout_s=2.0,
                          ping=PingSpec("ping", ping_s) if ping_s else None, stale_after_s=5.0)
    spec = VenueSpec(
        venue=TOY, rest_url=server.rest_url, ws_url=server.url,
        buckets=(BucketSpec("WEIGHT", BucketKind.FIXED_WINDOW, 1000, 60),),
        endpoints=(endpoint("public"),) + ((endpoint("market"),) if split else ()),
        book=BookSpec(server.seq_rule, SnapshotSource.IN_BAND, ResyncMethod.RESUBSCRIBE, depth=DEPTH,
                      checksum=True, snapshot_timeout_s=2.0),
        md_auth=md_auth,
    )

    class ToyAdapter(VenueAdapter):
        venue = TOY
        wire = TOY_WIRE
        instruments_path = "/instruments"

        def parse_instruments(self, body):
            data = json.loads(body) if isinstance(body, (bytes, str)) else body
            out = []
            for d in data["instruments"]:
                ps, qs = scale_of(d["tick"]), scale_of(d["lot"])
                base, quote = d["id"].split("-")
                out.append(Instrument(TOY, d["id"], f"{base}/{quote}", base, quote, ps, qs,
                                      1, 1))
            return out

        async def connect_info(self, ep, url, rest):
            if not token:
                return None
            # a fresh one-time token and the venue's ping interval for every connection
            r = await rest.request("POST", "/bullet", weights={"WEIGHT": 1}, priority=Priority.QUERY)
            d = json.loads(r.body)
            return ConnectInfo(f"{d['endpoint']}?token={d['token']}", d["pingInterval"] / 1000)

        def checksum_for(self, inst):
            # strings at the instrument's precision, as the venue prints them
            return Checksum(DEPTH, ChecksumLayout.INTERLEAVED, ":", px_frac=inst.px_scale, qty_frac=inst.qty_scale)

        def topics(self, inst, channels):
            names = {Channel.BOOK: "book", Channel.TRADES: "trades", Channel.TOP: "top"}
            return [f"{names[c]}:{inst.venue_symbol}" for c in channels]

        def channel_endpoint(self, inst, channel):
            return "market" if split and channel in (Channel.TRADES, Channel.DERIVATIVES) else "public"

        def derivative_topics(self, inst):
            return [f"mark:{inst.venue_symbol}", f"funding:{inst.venue_symbol}"]

        def connection_topics(self, ep):
            return list(conn_topics)

        def subscribe_frames(self, ep, topics, req_id):
            if not md_auth:
                return [json.dumps({"op": "subscribe", "args": topics, "id": req_id})]
            creds = self.md_credentials()
            ts = now_ns() // 1_000_000
            return [json.dumps({"op": "subscribe", "args": topics, "id": req_id, "key": creds.api_key.reveal(),
                                "ts": ts, "sig": _sign(creds.api_secret.reveal(), ts, topics)})]

        def unsubscribe_frames(self, ep, topics, req_id):
            return [json.dumps({"op": "unsubscribe", "args": topics, "id": req_id})]

        def rest_cost(self, method, path, params=None, order=None):
            return {"WEIGHT": 1}, Priority.QUERY

        def map_error(self, resp):
            return None

        def make_execution(self, rest, creds, config):
            raise NotImplementedError

    ToyAdapter.spec = spec
    return ToyAdapter
