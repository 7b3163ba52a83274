"""Server side of one simulated WebSocket connection, plus the topic hub.

A ``WsConn`` owns:

* an outgoing frame queue drained by a writer task (the market loop never blocks on a slow
  client; a client that falls ``max_queue`` frames behind is disconnected, as venues do);
* server ping frames every ``ping_interval`` s and a disconnect when no pong arrives within
  ``pong_timeout`` s;
* an inbound message cap (``max_inbound_per_s``: text, ping and pong frames all count);
* a maximum connection age, and optionally an idle timeout (no client message for that long);
* the fault switches that apply to WS traffic (frame delay, silence, pings off).

``WsHub`` maps topics to connections and fans a rendered payload out to every subscriber
(through the connection's ``wrap``, when the dialect wraps payloads per connection).

``TopicControl`` is the market-data side every venue shares: client-sent subscribe /
unsubscribe / list frames, an optional application-level ping, a per-connection topic cap and a
per-connection budget of subscribe operations.  The dialect only parses a frame into a
``Control`` and renders the replies (see ``ControlDialect``).

Nothing here knows a venue's message format.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Iterable, Protocol

from aiohttp import WSMsgType, web

from venuelink.sim.faults import Faults, mutate_frame

log = logging.getLogger("venuelink.sim.ws")

OnText = Callable[["WsConn", str], Awaitable[None]]
# (topic, rendered payload) -> the frame one connection gets, e.g. a {"stream","data"} envelope
Wrap = Callable[[str, str], str]


class WsConn:
    def __init__(
        self,
        request: web.Request,
        *,
        kind: str,
        faults: Faults,
        hub: "WsHub",
        ping_interval: float = 20.0,
        pong_timeout: float = 60.0,
        max_inbound_per_s: int = 5,
        max_age_s: float = 86400.0,
        max_queue: int = 50_000,
        idle_timeout_s: float = 0.0,
        idle_close: tuple[int, bytes] = (1000, b"Idle timeout"),
    ) -> None:
        self.request = request
        self.kind = kind
        self.faults = faults
        self.hub = hub
        self.ping_interval = ping_interval
        self.pong_timeout = pong_timeout
        self.max_inbound_per_s = max_inbound_per_s
        self.max_age_s = max_age_s
        self.max_queue = max_queue
        # closed when the client sends nothing for idle_timeout_s (0 = never), with idle_close
        self.idle_timeout_s = idle_timeout_s
        self.idle_close = idle_close
        self.last_inbound = time.monotonic()
        self.ws = web.WebSocketResponse(autoping=False, max_msg_size=1 << 20)
        self.topics: set[str] = set()
        self.wrap: Wrap | None = None  # per-connection envelope for published payloads
        self.data: dict[str, Any] = {}  # dialect state (e.g. combined flag, subscriptions)
        self.opened = time.monotonic()
        self.closed = False
        self.close_reason = ""
        self.frames_out = 0
        self._buf: deque[tuple[float, str]] = deque()
        self._wake = asyncio.Event()
        self._ping_out: float | None = None
        self._in_window = 0
        self._in_count = 0
        self._transport: asyncio.Transport | None = None
        self._tasks: list[asyncio.Task] = []
        self._close_done: asyncio.Event | None = None  # set while close() runs in another task
        self.held: dict[str, str] = {}  # topic -> a data frame held back by the ``reorder`` fault

    @property
    def remote(self) -> str:
        return self.request.remote or "?"

    # ------------------------------------------------------------------ sending
    def send(self, text: str) -> None:
        """Queue one text frame (never blocks)."""
        if self.closed:
            return
        d = self.faults.ws_delay_ms
        due = time.monotonic() + d / 1000.0 if d else 0.0
        self._buf.append((due, text))
        if len(self._buf) > self.max_queue:
            self._buf.clear()
            asyncio.get_running_loop().create_task(self.close(1008, b"Send queue overflow"))
            return
        self._wake.set()

    async def _writer(self) -> None:
        ws = self.ws
        buf = self._buf
        try:
            while not self.closed:
                if not buf:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                due, text = buf[0]
                if due:
                    wait = due - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                        continue
                buf.popleft()
                if self.faults.silent:
                    continue
                await ws.send_str(text)
                self.frames_out += 1
        except (ConnectionError, RuntimeError, asyncio.CancelledError):
            pass
        except Exception:  # pragma: no cover - defensive
            log.exception("ws writer failed")

    # ------------------------------------------------------------------ keepalive / age
    async def _keepalive(self) -> None:
        tick = max(0.05, min(1.0, self.ping_interval / 2, self.pong_timeout / 2,
                             self.idle_timeout_s / 4 if self.idle_timeout_s > 0 else 1.0))
        next_ping = time.monotonic() + self.ping_interval
        try:
            while not self.closed:
                await asyncio.sleep(tick)
                now = time.monotonic()
                if now - self.opened >= self.max_age_s:
                    await self.close(1000, b"Connection max age reached")
                    return
                if self.idle_timeout_s > 0 and now - self.last_inbound > self.idle_timeout_s:
                    await self.close(*self.idle_close)
                    return
                if self._ping_out is not None and now - self._ping_out > self.pong_timeout:
                    await self.close(1008, b"Pong timeout")
                    return
                if now >= next_ping:
                    next_ping = now + self.ping_interval
                    if self.faults.pings_enabled and not self.faults.silent:
                        await self.ws.ping(str(time.time_ns() // 1_000_000).encode())
                        if self._ping_out is None:
                            self._ping_out = now
        except (ConnectionError, RuntimeError, asyncio.CancelledError):
            pass

    # ------------------------------------------------------------------ lifecycle
    async def serve(self, on_text: OnText, on_open: Callable[["WsConn"], None] | None = None) -> web.WebSocketResponse:
        ws = self.ws
        await ws.prepare(self.request)
        self._transport = self.request.transport
        self.hub.add(self)
        if on_open is not None:
            on_open(self)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._writer()), loop.create_task(self._keepalive())]
        try:
            async for msg in ws:
                if self.closed:
                    break
                self.last_inbound = time.monotonic()
                if self._inbound_exceeded():
                    await self.close(1008, b"Too many requests")
                    break
                t = msg.type
                if t == WSMsgType.TEXT:
                    if self.faults.silent:
                        continue
                    await on_text(self, msg.data)
                elif t == WSMsgType.BINARY:
                    if self.faults.silent:
                        continue
                    await on_text(self, msg.data.decode("utf-8", "replace"))
                elif t == WSMsgType.PING:
                    if not self.faults.silent:
                        await ws.pong(msg.data)
                elif t == WSMsgType.PONG:
                    self._ping_out = None
                else:
                    break
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            await self._teardown()
        return ws

    def hold(self, topic: str, text: str) -> None:
        """Send ``text`` only after the topic's next frame (the ``reorder`` fault)."""
        prev = self.held.pop(topic, None)
        if prev is not None:
            self.send(prev)
        self.held[topic] = text

    async def cut(self) -> None:
        """Write half of a text frame's bytes, then abort the TCP connection (disconnect mid-frame)."""
        if self.closed:
            return
        payload = b'{"stream":"cut","data":{"reason":"the connection breaks inside this frame"}}'
        n = len(payload)
        header = bytes((0x81, n)) if n < 126 else bytes((0x81, 126)) + n.to_bytes(2, "big")
        self.closed = True
        self.close_reason = "cut mid-frame"
        self._wake.set()
        if self._transport is not None:
            self._transport.write(header + payload[: n // 2])
            self._transport.abort()

    def _inbound_exceeded(self) -> bool:
        if self.max_inbound_per_s <= 0:
            return False
        w = int(time.monotonic())
        if w != self._in_window:
            self._in_window = w
            self._in_count = 0
        self._in_count += 1
        return self._in_count > self.max_inbound_per_s

    async def close(self, code: int = 1000, message: bytes = b"", close_frame: bool = True) -> None:
        if self.closed:
            return
        self.closed = True
        self.close_reason = message.decode("utf-8", "replace") or str(code)
        self._wake.set()
        done = self._close_done = asyncio.Event()
        try:
            if close_frame:
                try:
                    await asyncio.wait_for(self.ws.close(code=code, message=message), 2.0)
                except (asyncio.TimeoutError, ConnectionError, RuntimeError):
                    pass
            if not close_frame or not self.ws.closed:
                if self._transport is not None:
                    self._transport.abort()
        finally:
            done.set()

    async def _teardown(self) -> None:
        self.closed = True
        self._wake.set()
        self.hub.remove(self)
        # a close handshake started elsewhere must finish before the handler returns, or the
        # server would drop the TCP connection under the peer's close reply
        done = self._close_done
        if done is not None and not done.is_set():
            try:
                await asyncio.wait_for(done.wait(), 3.0)
            except asyncio.TimeoutError:
                pass
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):
                pass
        if not self.ws.closed:
            try:
                await asyncio.wait_for(self.ws.close(), 1.0)
            except (asyncio.TimeoutError, ConnectionError, RuntimeError):
                pass


class WsHub:
    """All live connections and topic -> subscribers; ``on_topic`` fires on 0 <-> 1 transitions."""

    def __init__(self, faults: Faults | None = None) -> None:
        self.faults = faults if faults is not None else Faults()
        self.conns: set[WsConn] = set()
        self.topics: dict[str, set[WsConn]] = {}
        self.on_topic: Callable[[str, bool], None] | None = None
        self.on_remove: list[Callable[[WsConn], None]] = []  # called once per connection that goes away

    def add(self, conn: WsConn) -> None:
        self.conns.add(conn)

    def remove(self, conn: WsConn) -> None:
        if conn not in self.conns:
            return
        self.conns.discard(conn)
        for topic in list(conn.topics):
            self.unsubscribe(conn, topic)
        for fn in self.on_remove:
            fn(conn)

    def subscribe(self, conn: WsConn, topic: str) -> None:
        if topic in conn.topics:
            return
        conn.topics.add(topic)
        subs = self.topics.get(topic)
        if subs is None:
            subs = self.topics[topic] = set()
        subs.add(conn)
        if len(subs) == 1 and self.on_topic is not None:
            self.on_topic(topic, True)

    def unsubscribe(self, conn: WsConn, topic: str) -> None:
        if topic not in conn.topics:
            return
        conn.topics.discard(topic)
        subs = self.topics.get(topic)
        if subs is None:
            return
        subs.discard(conn)
        if not subs:
            del self.topics[topic]
            if self.on_topic is not None:
                self.on_topic(topic, False)

    def subscribers(self, topic: str) -> set[WsConn] | None:
        return self.topics.get(topic)

    def publish(self, topic: str, raw: str) -> int:
        """Send ``raw`` to every subscriber of ``topic`` (wrapped per connection); returns the count."""
        subs = self.topics.get(topic)
        if not subs:
            return 0
        faults = self.faults
        if faults.muted and (topic in faults.muted or "*" in faults.muted):
            return 0
        fault = faults.take_frame_fault(topic) if faults.frame_faults else None
        wrapped: dict[Wrap | None, str] = {}
        for c in subs:
            w = c.wrap
            text = wrapped.get(w)
            if text is None:
                text = wrapped[w] = raw if w is None else w(topic, raw)
            if fault is None:
                c.send(text)
            elif fault == "duplicate":
                c.send(text)
                c.send(text)
            elif fault == "reorder":
                c.hold(topic, text)
                continue
            else:
                c.send(mutate_frame(fault, text))
            if c.held:
                held = c.held.pop(topic, None)
                if held is not None:
                    c.send(held)
        return len(subs)

    def broadcast(self, raw: str, *, kind: str | None = None, topic: str = "") -> int:
        """Send ``raw`` to every connection of ``kind`` (wrapped under ``topic`` where wrapped)."""
        n = 0
        for c in list(self.conns):
            if kind is None or c.kind == kind:
                c.send(raw if c.wrap is None else c.wrap(topic, raw))
                n += 1
        return n

    def count(self, kind: str | None = None) -> int:
        return sum(1 for c in self.conns if kind is None or c.kind == kind)

    async def cut_all(self, kind: str | None = None) -> int:
        victims = [c for c in self.conns if kind is None or c.kind == kind]
        for c in victims:
            await c.cut()
        return len(victims)

    async def close_all(self, kind: str | None = None, close_frame: bool = True, code: int = 1001,
                        message: bytes = b"Server closing connection") -> int:
        victims = [c for c in self.conns if kind is None or c.kind == kind]
        await asyncio.gather(*(c.close(code, message, close_frame) for c in victims), return_exceptions=True)
        return len(victims)


# ====================================================================== topic control frames
class Op(enum.Enum):
    SUBSCRIBE = 1
    UNSUBSCRIBE = 2
    LIST = 3  # list this connection's topics
    OTHER = 4  # a dialect-only request (e.g. a connection property); answered by ``ControlDialect.other``


class Refusal(enum.Enum):
    BAD_TOPIC = 1  # no such topic on this venue
    TOO_MANY_TOPICS = 2  # the per-connection topic cap
    SUB_BUDGET = 3  # the per-connection subscribe-operations budget is spent


@dataclass(slots=True)
class Control:
    """One inbound control frame, as the dialect parsed it."""

    op: Op
    topics: list[str] = field(default_factory=list)
    rid: Any = None  # request id echoed in the reply (dialect's type)
    msg: Any = None  # the parsed frame, for ``Op.OTHER``


class ControlReply(Exception):
    """Raised by ``ControlDialect.parse`` for a frame it cannot accept: ``reply`` goes back as is."""

    def __init__(self, reply: str | None) -> None:
        super().__init__("control frame refused")
        self.reply = reply


@dataclass(frozen=True, slots=True)
class PingRule:
    """Application-level ping: ``match(text)`` says an inbound text is a ping, ``pong(text)`` the answer
    (OKX: ``"ping"`` -> ``"pong"``; Bybit: ``{"op":"ping"}`` -> a JSON pong)."""

    match: Callable[[str], bool]
    pong: Callable[[str], str]


class ControlDialect(Protocol):
    def parse(self, text: str) -> Control:
        """Parse a client frame; raise ``ControlReply`` for malformed ones."""

    def valid_topic(self, topic: str) -> bool: ...

    def ack(self, conn: WsConn, ctl: Control) -> str | None:
        """Reply to a successful SUBSCRIBE / UNSUBSCRIBE / LIST (``conn.topics`` is already updated)."""

    def refuse(self, conn: WsConn, ctl: Control, why: Refusal, topics: list[str]) -> str | None:
        """Reply to a refused request; ``topics`` are the offending ones (BAD_TOPIC)."""

    def other(self, conn: WsConn, ctl: Control) -> str | None:
        """Reply to an ``Op.OTHER`` request."""


class TopicControl:
    """Handles a market-data connection's control frames for one dialect.

    * ``max_topics``: topics one connection may hold (0 = no cap); a SUBSCRIBE that would pass it
      is refused as a whole.
    * ``sub_ops`` per ``sub_window_s``: SUBSCRIBE / UNSUBSCRIBE frames one connection may send per
      window (0 = no budget), counted from the connection's first such frame (OKX: 480 per hour).
    * ``ping``: answered before the frame reaches the dialect's parser.
    """

    def __init__(
        self,
        hub: WsHub,
        dialect: ControlDialect,
        *,
        max_topics: int = 0,
        sub_ops: int = 0,
        sub_window_s: float = 3600.0,
        ping: PingRule | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.hub = hub
        self.dialect = dialect
        self.max_topics = max_topics
        self.sub_ops = sub_ops
        self.sub_window_s = sub_window_s
        self.ping = ping
        self.clock = clock
        self.refused = 0  # refused requests (all connections)
        self.malformed = 0  # frames the dialect could not parse

    def check_initial(self, topics: Iterable[str]) -> tuple[Refusal, list[str]] | None:
        """Validate topics given at connect time (e.g. in the URL); None when acceptable."""
        topics = list(dict.fromkeys(topics))
        bad = [t for t in topics if not self.dialect.valid_topic(t)]
        if bad:
            return Refusal.BAD_TOPIC, bad
        if self.max_topics and len(topics) > self.max_topics:
            return Refusal.TOO_MANY_TOPICS, topics[self.max_topics:]
        return None

    def opener(self, topics: Iterable[str]) -> Callable[[WsConn], None]:
        topics = list(topics)

        def on_open(conn: WsConn) -> None:
            for t in topics:
                self.hub.subscribe(conn, t)

        return on_open

    def _spend(self, conn: WsConn) -> bool:
        if self.sub_ops <= 0:
            return True
        now = self.clock()
        start, used = conn.data.get("_sub_ops", (now, 0))
        if now - start >= self.sub_window_s:
            start, used = now, 0
        if used >= self.sub_ops:
            conn.data["_sub_ops"] = (start, used)
            return False
        conn.data["_sub_ops"] = (start, used + 1)
        return True

    async def on_text(self, conn: WsConn, text: str) -> None:
        reply = self.handle(conn, text)
        if reply is not None:
            conn.send(reply)

    def handle(self, conn: WsConn, text: str) -> str | None:
        """Apply one inbound frame; returns the reply to send (or None)."""
        if self.ping is not None and self.ping.match(text):
            return self.ping.pong(text)
        d = self.dialect
        try:
            ctl = d.parse(text)
        except ControlReply as e:
            self.malformed += 1
            return e.reply
        if ctl.op == Op.LIST:
            return d.ack(conn, ctl)
        if ctl.op == Op.OTHER:
            return d.other(conn, ctl)
        if not self._spend(conn):
            self.refused += 1
            return d.refuse(conn, ctl, Refusal.SUB_BUDGET, ctl.topics)
        if ctl.op == Op.SUBSCRIBE:
            bad = [t for t in ctl.topics if not d.valid_topic(t)]
            if bad:
                self.refused += 1
                return d.refuse(conn, ctl, Refusal.BAD_TOPIC, bad)
            new = set(ctl.topics) - conn.topics
            if self.max_topics and len(conn.topics) + len(new) > self.max_topics:
                self.refused += 1
                return d.refuse(conn, ctl, Refusal.TOO_MANY_TOPICS, sorted(new))
            for t in ctl.topics:
                self.hub.subscribe(conn, t)
        else:
            for t in ctl.topics:
                self.hub.unsubscribe(conn, t)
        return d.ack(conn, ctl)
