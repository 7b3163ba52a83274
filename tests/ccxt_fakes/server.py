# SPDX-License-Identifier: Apache-2.0
"""FakeVenue: the generic scripted REST + WebSocket fake (the fixture format is described in
tests.ccxt_fakes). Runs on the test's own event loop, bound to 127.0.0.1 on a free port.
A rule's ``topic`` may also be a list: one subscribe that carries several topics (Gemini's
``l2`` is book and trades at once) plays each topic's script."""
from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
_MISSING = object()


def dig(obj: Any, dotted: str) -> Any:
    """The value at a dotted path (``params.symbol.0``), or _MISSING."""
    for part in dotted.split("."):
        if isinstance(obj, dict) and part in obj:
            obj = obj[part]
        elif isinstance(obj, list) and part.lstrip("-").isdigit() and -len(obj) <= int(part) < len(obj):
            obj = obj[int(part)]
        else:
            return _MISSING
    return obj


def matches(frame: Any, match: dict) -> bool:
    return all(dig(frame, k) == v for k, v in match.items())


def fill(template: Any, frame: Any) -> Any:
    """`template` with every ``"$dotted.path"`` string replaced by that value of `frame`."""
    if isinstance(template, dict):
        return {k: fill(v, frame) for k, v in template.items()}
    if isinstance(template, list):
        return [fill(v, frame) for v in template]
    if isinstance(template, str) and template.startswith("$"):
        v = dig(frame, template[1:])
        return None if v is _MISSING else v
    return template


def read_script(path: Path) -> list[Any]:
    out = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("//"):
            out.append(json.loads(line))
    return out


def mexc_protobuf(frame: dict) -> bytes:
    """A stream frame written as MEXC's PushDataV3ApiWrapper in its JSON form, as the protobuf
    message MEXC sends (with the message classes CCXT ships for its MEXC client)."""
    from ccxt.protobuf.mexc import PushDataV3ApiWrapper_pb2
    from google.protobuf.json_format import ParseDict
    return ParseDict(frame, PushDataV3ApiWrapper_pb2.PushDataV3ApiWrapper()).SerializeToString()


#: ``stream_encoding`` in venue.json -> how script frames go on the wire (binary)
CODECS = {"mexc-protobuf": mexc_protobuf}


class FakeVenue:
    def __init__(self, venue: str, fixtures: Path = FIXTURES) -> None:
        self.dir = fixtures / venue
        self.cfg = json.loads((self.dir / "venue.json").read_text())
        # a key may name a list of files: its n-th request gets the n-th (the last one again after
        # that), as a venue's REST book answers a later snapshot later on (Bitstamp's order_book)
        self.rest = {key: [json.loads((self.dir / n).read_text()) for n in ([name] if isinstance(name, str) else name)]
                     for key, name in self.cfg["rest"].items()}
        self._rest_asked: dict[str, int] = {}   # rest key -> requests answered so far
        self.streams = {topic: [read_script(self.dir / n) for n in names]
                        for topic, names in self.cfg["streams"].items()}
        self.unknown: list[str] = []            # requests and frames the fake had no answer for
        self.requests: list[str] = []           # every REST request, "GET /path"
        self.received: list[Any] = []           # every WebSocket frame from clients
        self.subscribes: dict[str, int] = {}    # topic -> subscribes so far
        self.sent: dict[str, int] = {}          # topic -> script frames sent
        self._gates: dict[str, asyncio.Event] = {}
        self._tasks: set[asyncio.Task] = set()
        self._sockets: set[web.WebSocketResponse] = set()
        self._numbers: dict[web.WebSocketResponse, int] = {}      # per connection: the next sequence number
        self._replied: dict[int, int] = {}      # rule -> matches answered so far (rules with "replies")
        self.runner: web.AppRunner | None = None
        self.port = 0

    # ---- the test's handles ----------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def release(self, name: str) -> None:
        self._gate(name).set()

    def _gate(self, name: str) -> asyncio.Event:
        return self._gates.setdefault(name, asyncio.Event())

    # ---- server --------------------------------------------------------------------------
    async def start(self) -> "FakeVenue":
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for ws in list(self._sockets):
            with contextlib.suppress(Exception):
                await ws.close()
        if self.runner is not None:
            await self.runner.cleanup()

    async def __aenter__(self) -> "FakeVenue":
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.close()

    def is_ws_path(self, path: str) -> bool:
        paths = self.cfg["ws_path"]
        return any(path == p or (p.endswith("*") and path.startswith(p[:-1]))
                   for p in ([paths] if isinstance(paths, str) else paths))

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self.is_ws_path(request.path) and request.headers.get("Upgrade", "").lower() == "websocket":
            return await self.websocket(request)
        key = f"{request.method} {request.path}"
        self.requests.append(key)
        exact = f"{key}?{request.query_string}"
        for k in (exact, key):                      # a key with its query string is matched first
            if k in self.rest:
                n = self._rest_asked.get(k, 0)
                self._rest_asked[k] = n + 1
                answers = self.rest[k]
                text = json.dumps(answers[min(n, len(answers) - 1)])
                # "@fake@" in an answer is this fake's own address (KuCoin's token answer names
                # the WebSocket server to connect to)
                return web.Response(text=text.replace("@fake@", f"127.0.0.1:{self.port}"),
                                    content_type="application/json")
        self.unknown.append(f"{key}?{request.query_string}")
        return web.json_response({"error": "not scripted"}, status=404)

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=None, autoping=True)
        await ws.prepare(request)
        self._sockets.add(ws)
        for frame in self.cfg.get("on_connect", []):
            await self.send(ws, json.dumps(frame))
        try:
            async for m in ws:
                if m.type != WSMsgType.TEXT:
                    continue
                await self.on_frame(ws, m.data)
        finally:
            self._sockets.discard(ws)
        return ws

    async def on_frame(self, ws: web.WebSocketResponse, text: str) -> None:
        try:
            frame = json.loads(text)
        except ValueError:
            frame = text                          # a bare "ping" some venues use
        self.received.append(frame)
        for rule in self.cfg["ws_rules"]:
            if (rule["match"] == frame) if isinstance(frame, str) else (isinstance(rule["match"], dict)
                                                                        and matches(frame, rule["match"])):
                break
        else:
            self.unknown.append(f"WS {text[:300]}")
            return
        if "replies" in rule:                     # the n-th match gets the n-th (the last one again after)
            n = self._replied.get(id(rule), 0)
            self._replied[id(rule)] = n + 1
            rule = {**rule, "reply": rule["replies"][min(n, len(rule["replies"]) - 1)]}
        if "reply" in rule:
            reply = rule["reply"]
            await self.send(ws, reply if isinstance(reply, str) else json.dumps(self.numbered(ws, fill(reply, frame))))
        topics = rule.get("topic") or []
        for topic in [topics] if isinstance(topics, str) else topics:   # one subscribe may carry several
            n = self.subscribes.get(topic, 0)
            self.subscribes[topic] = n + 1
            scripts = self.streams.get(topic) or [[]]
            t = asyncio.ensure_future(self.play(ws, topic, scripts[min(n, len(scripts) - 1)]))
            self._tasks.add(t)
            t.add_done_callback(self._tasks.discard)

    async def send(self, ws: web.WebSocketResponse, text: str) -> None:
        """A frame as the venue sends it: text, or with ``"compress": "gzip"`` in venue.json a
        binary frame of the gzipped text (HTX)."""
        if self.cfg.get("compress") == "gzip":
            await ws.send_bytes(gzip.compress(text.encode()))
        else:
            await ws.send_str(text)

    def numbered(self, ws: web.WebSocketResponse, frame: Any) -> Any:
        """With ``sequence`` in venue.json (a field name): every frame sent on a connection gets
        that field, counting from 0 per connection (Coinbase's sequence_num)."""
        field = self.cfg.get("sequence")
        if not field or not isinstance(frame, dict):
            return frame
        n = self._numbers.get(ws, 0)
        self._numbers[ws] = n + 1
        return {**frame, field: n}

    async def play(self, ws: web.WebSocketResponse, topic: str, script: list[Any]) -> None:
        for step in script:
            if ws.closed:
                return
            if isinstance(step, dict) and "_sleep" in step:
                await asyncio.sleep(float(step["_sleep"]))
            elif isinstance(step, dict) and "_hold" in step:
                await self._gate(step["_hold"]).wait()
            elif isinstance(step, dict) and "_close" in step:
                await ws.close()
                return
            elif isinstance(step, dict) and "_skip" in step:
                self._numbers[ws] = self._numbers.get(ws, 0) + int(step["_skip"])   # messages "lost"
            else:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    codec = CODECS.get(self.cfg.get("stream_encoding", ""))
                    if codec is not None:
                        await ws.send_bytes(codec(step))
                    else:
                        await self.send(ws, json.dumps(self.numbered(ws, step)))
                self.sent[topic] = self.sent.get(topic, 0) + 1
