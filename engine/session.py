# SPDX-License-Identifier: Apache-2.0
"""One market-data WebSocket connection: picows client on the running (uv)loop, reconnect with
exponential backoff and jitter, stale-feed detection, rotation before the venue's maximum
connection age, and a resync of every book on the connection after each reconnect.

Outbound control is the session's too (venuelink.venue.WsEndpoint says what the venue allows):
subscribe/unsubscribe frames with request ids, acks and errors (control messages the parser
classifies), paced by the venue's message rate and its subscribe-operations budget per
connection, a resubscribe of one topic (the resync of venues whose snapshots come in-band) and
an application-level ping where the venue wants one."""
from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Awaitable, Callable

from picows import WSMsgType, ws_connect

from venuelink.circuit import CircuitBreaker, FailureKind
from venuelink.model import ConnState
from venuelink.pacing import ConnectPacer
from venuelink.tasks import cancel_and_wait, within
from venuelink.venue import ConnectInfo, SubscribeStyle, WsEndpoint
from venuelink.ext.clock import mono_ns, now_ns
from venuelink.ext.feed import Control, FeedListener, FrameParser
from venuelink.ext.ratelimit import BucketKind, Budget, Priority

log = logging.getLogger("venuelink.session")


class _Hooks:
    """Listener callbacks for one connection generation: a connection that has been replaced
    (rotation) can no longer disturb the session."""
    __slots__ = ("session", "gen")

    def __init__(self, session: "WsSession", gen: int) -> None:
        self.session, self.gen = session, gen

    def on_connected(self, transport) -> None:
        pass

    def on_disconnected(self) -> None:
        if self.gen == self.session.gen:
            self.session._disconnected.set()

    def on_close_frame(self, code, message) -> None:
        if self.gen == self.session.gen:
            self.session.close_reason = f"close frame {int(code) if code is not None else ''}"


FrameFn = Callable[[WsEndpoint, list[str], int], list[str]]


class _Pending:
    __slots__ = ("topics", "op", "sent_mono", "unanswered")

    def __init__(self, topics: list[str], op: str, sent_mono: int) -> None:
        self.topics, self.op, self.sent_mono = topics, op, sent_mono
        self.unanswered = set(topics)
        """topics not acknowledged yet, for venues that answer per topic without the request id"""


class WsSession:
    """seamless_rotation: the venue's ids are global (not per connection), so a rotation opens the
    new connection first, lets both feed the same parser (the overlap is dropped as stale deltas
    and already-seen trade ids) and closes the old one: no resync, no gap.

    topics: what this connection carries. URL-style endpoints have them in `url`; MESSAGE-style
    ones get subscribe frames (from `subscribe_frames`) after every connect."""

    def __init__(self, name: str, url: str, parser: FrameParser, *, stale_after_s: float = 10.0,
                 max_age_s: float = 23.5 * 3600, backoff_min_s: float = 0.1, backoff_max_s: float = 30.0,
                 planned_reconnect_max_s: float = 2.0, backoff_reset_s: float = 30.0,
                 seamless_rotation: bool = False, endpoint: WsEndpoint | None = None,
                 topics: list[str] | None = None, subscribe_frames: FrameFn | None = None,
                 unsubscribe_frames: FrameFn | None = None,
                 on_connected: Callable[["WsSession"], None] | None = None,
                 on_disconnected: Callable[["WsSession"], None] | None = None,
                 on_control: Callable[["WsSession", Control, object, int, bytes], None] | None = None,
                 connect_pacer: ConnectPacer | None = None,
                 connect_hook: Callable[[], Awaitable[ConnectInfo | None]] | None = None,
                 connect_hook_timeout_s: float = 10.0) -> None:
        self.name, self.url, self.parser = name, url, parser
        self.book_ids: set[int] | None = None
        """ids of the FeedSymbols whose books this connection keeps (None: every symbol of its
        parser); only they go stale when it drops or falls silent"""
        self.connect_hook, self.connect_hook_timeout_s = connect_hook, connect_hook_timeout_s
        """run before every connect (rotations too): the venue's per-connection URL and ping interval"""
        self.ping_interval_s = endpoint.ping.interval_s if endpoint is not None and endpoint.ping else 0.0
        """the current connection's application ping interval (the endpoint's, or its hook's)"""
        self.connect_hook_failures = 0
        self.stale_after_s, self.max_age_s = stale_after_s, max_age_s
        self.backoff_min_s, self.backoff_max_s = backoff_min_s, backoff_max_s
        self.planned_reconnect_max_s = planned_reconnect_max_s
        """a close the venue announced (maintenance restart, connection migration) is not a failure:
        reconnect within this bound however often it repeats, not on the failure backoff, so the
        books are back in seconds (repeats still double from backoff_min_s up to it)"""
        self.backoff_reset_s = backoff_reset_s
        """a connection that lived this long resets the backoff; a flapping one backs off"""
        self.on_connected_cb, self.on_disconnected_cb = on_connected, on_disconnected
        self.on_control_cb = on_control
        self.seamless_rotation = seamless_rotation
        self.connect_pacer = connect_pacer
        self.endpoint = endpoint or WsEndpoint("default", url, SubscribeStyle.URL)
        self.topics: list[str] = list(topics or [])
        self._subscribe_frames, self._unsubscribe_frames = subscribe_frames, unsubscribe_frames
        parser.control = self
        # outbound pacing: the venue's message rate, and its subscribe operations per hour
        ep = self.endpoint
        self._pace = Budget()
        if ep.max_msgs_per_s >= 1:
            rate, window_ns = int(ep.max_msgs_per_s), 1_000_000_000
        else:                                 # fewer than one a second: one per 1/rate seconds
            rate, window_ns = 1, int(1e9 / ep.max_msgs_per_s)
        self._pace.add_bucket("msgs", BucketKind.SLIDING_WINDOW, rate, window_ns, 0.2 if rate >= 5 else 0.0)
        items = [(0, 1)]
        if ep.max_subscribe_ops_per_hour:
            self._pace.add_bucket("subscribe_ops", BucketKind.SLIDING_WINDOW, ep.max_subscribe_ops_per_hour,
                                  3600 * 1_000_000_000, 0.1)
            items.append((1, 1))
        self._msg_cost = self._pace.make_cost([(0, 1)])
        self._op_cost = self._pace.make_cost(items)
        self._out: asyncio.Queue = asyncio.Queue()
        # Bounded by construction: subscribe operations are at most two per topic (resubscribes
        # coalesce per topic, frames for a connection that is gone are dropped unsent); other frames
        # (pings, user frames) beyond MAX_QUEUED_FRAMES waiting are dropped and counted.
        self.out_drops = 0
        self._sender: asyncio.Task | None = None
        self._pinger: asyncio.Task | None = None
        self._req_id = 0
        self._pending: dict[int, _Pending] = {}
        self._url_topics: set[str] = set()
        self.subscribed: set[str] = set()
        self.msgs_sent = 0
        self.sub_acks = 0
        self.sub_errors = 0
        self.sub_timeouts = 0
        self.pongs = 0
        self.last_pong_mono = 0
        self.resubscribes = 0
        self.resubscribes_coalesced = 0
        self._resub_queued: set[str] = set()     # topics whose resubscribe is queued, not yet sent
        self.gen = 0
        self.rotations = 0
        self.notice_rotations = 0       # of those, for a shutdown notice of the venue
        self.state = ConnState.DISCONNECTED
        self.breaker = CircuitBreaker(f"{name}/ws", failure_threshold=3, cooldown_s=1.0, max_cooldown_s=60.0)
        self.listener: FeedListener | None = None
        self.transport = None
        self.connects = 0
        self.reconnects = 0
        self.stale_events = 0
        self.probes = 0                           # WebSocket pings sent to a silent connection
        self.probe_failures = 0                   # ... that got no answer: reconnected
        self.connected_at = 0.0
        self.close_reason = ""
        self._planned_close = False
        self._rotate_requested = False
        """a shutdown notice on a seamless endpoint: the watch loop rotates at its next tick"""
        self._task: asyncio.Task | None = None
        self._disconnected = asyncio.Event()
        self._stop = False

    def _by_message(self) -> list[str]:
        """Topics a new connection must subscribe by message: all of them on MESSAGE endpoints,
        those added after the URL was built on URL endpoints."""
        if self.endpoint.subscribe == SubscribeStyle.MESSAGE:
            return list(self.topics)
        return [t for t in self.topics if t not in self._url_topics]

    def start(self) -> None:
        self._url_topics = set(self.topics) if self.endpoint.subscribe == SubscribeStyle.URL else set()
        self._task = asyncio.ensure_future(self._run())
        self._sender = asyncio.ensure_future(self._send_loop())
        if self.endpoint.ping is not None:
            self._pinger = asyncio.ensure_future(self._ping_loop())

    async def close(self) -> None:
        self._stop = True
        if self.transport is not None:
            self.transport.disconnect()
        for t in (self._task, self._sender, self._pinger):
            await cancel_and_wait(t)
        self.state = ConnState.CLOSED
        # the run loop was cancelled before its own disconnect handling: nothing keeps these
        # books current any more, so none of them may still say LIVE
        for fs in self.books():
            fs.sync.mark_stale()

    def books(self) -> list:
        """The FeedSymbols whose books this connection keeps."""
        ids = self.book_ids
        return [fs for fs in self.parser.symbols() if ids is None or id(fs) in ids]

    # ---- outbound control -------------------------------------------------------------------
    def next_req_id(self) -> int:
        self._req_id += 1
        return self._req_id

    def subscribe(self, topics: list[str]) -> None:
        """Subscribe `topics` on this connection (now if connected, and after every reconnect)."""
        new = [t for t in topics if t not in self.topics]
        self.topics += new
        if self.state == ConnState.CONNECTED and new:
            self._queue_op("subscribe", new)

    def resubscribe(self, topics: list[str]) -> None:
        """Unsubscribe then subscribe `topics` again: venues answer a subscribe with a fresh
        snapshot, which is how their books resync without dropping the connection."""
        if self.state != ConnState.CONNECTED:
            return                            # the reconnect subscribes everything anyway
        topics = [t for t in topics if t not in self._resub_queued]
        if not topics:
            self.resubscribes_coalesced += 1  # one is already waiting for the venue's budget
            return
        self._resub_queued.update(topics)
        self.resubscribes += 1
        if self._unsubscribe_frames is not None:
            self._queue_op("unsubscribe", topics)
        self._queue_op("subscribe", topics)

    def _queue_op(self, op: str, topics: list[str]) -> None:
        fn = self._subscribe_frames if op == "subscribe" else self._unsubscribe_frames
        if fn is None:
            raise RuntimeError(f"{self.name}: endpoint {self.endpoint.name} has no {op} frames")
        n = max(1, self.endpoint.max_topics_per_request)
        for k in range(0, len(topics), n):
            chunk = topics[k:k + n]
            rid = self.next_req_id()
            for frame in fn(self.endpoint, chunk, rid):
                self._out.put_nowait((frame, True, rid, chunk, op, self.gen))

    MAX_QUEUED_FRAMES = 1024

    def send_text(self, frame: str) -> None:
        """Queue one frame (paced like every other outbound message); dropped and counted when
        MAX_QUEUED_FRAMES are already waiting for the venue's message budget."""
        if self._out.qsize() >= self.MAX_QUEUED_FRAMES:
            self.out_drops += 1
            if self.out_drops == 1 or self.out_drops % 1000 == 0:
                log.warning("%s: %d outbound frames waiting for the message budget: dropped one (%d so far)",
                            self.name, self._out.qsize(), self.out_drops)
            return
        self._out.put_nowait((frame, False, 0, None, "", self.gen))

    async def _send_loop(self) -> None:
        while True:
            frame, is_op, rid, topics, op, gen = await self._out.get()
            if op == "subscribe":
                self._resub_queued.difference_update(topics)
            gone = False
            while True:
                if gen != self.gen or self.transport is None or self.state != ConnState.CONNECTED:
                    gone = True               # for a connection that is gone: the reconnect redoes it,
                    break                     # and it must not spend the venue's budget meanwhile
                wait = self._pace.acquire(self._op_cost if is_op else self._msg_cost, now_ns(), Priority.CANCEL)
                if wait == 0:
                    break
                await asyncio.sleep(wait / 1e9)
            if gone:
                continue
            try:
                self.transport.send(WSMsgType.TEXT, frame.encode() if isinstance(frame, str) else frame)
            except Exception as e:
                log.warning("%s: send failed: %s", self.name, e)
                continue
            self.msgs_sent += 1
            if is_op:
                self._pending[rid] = _Pending(topics, op, mono_ns())

    async def _ping_loop(self) -> None:
        # the interval may change with each connection (a connect hook's): looked at every second
        ping = self.endpoint.ping
        last = time.monotonic()
        while True:
            await asyncio.sleep(min(self.ping_interval_s or ping.interval_s, 1.0))
            if time.monotonic() - last >= (self.ping_interval_s or ping.interval_s) and \
                    self.state == ConnState.CONNECTED:
                self.send_text(ping.frame)
                last = time.monotonic()

    def on_control(self, kind: Control, topic: object, req_id: int, raw: bytes) -> None:
        """Control messages of this connection, as the parser classified them."""
        if kind == Control.CTRL_PONG:
            self.pongs += 1
            self.last_pong_mono = mono_ns()
        elif kind in (Control.CTRL_SUBSCRIBED, Control.CTRL_UNSUBSCRIBED):
            p = self._pending.pop(req_id, None)
            self.sub_acks += 1
            if p is not None and p.op == "subscribe":
                self.subscribed.update(p.topics)
            elif p is not None:
                self.subscribed.difference_update(p.topics)
            elif isinstance(topic, str):
                # no request id (Kraken, Coinbase, Bitstamp answer per channel): the oldest request
                # of that op naming the topic is answered for it, and done once every topic is
                self._answer_by_topic("subscribe" if kind == Control.CTRL_SUBSCRIBED else "unsubscribe", topic)
                (self.subscribed.add if kind == Control.CTRL_SUBSCRIBED else self.subscribed.discard)(topic)
        elif kind == Control.CTRL_ERROR:
            p = self._pending.pop(req_id, None)
            if p is None and isinstance(topic, str):
                p = self._answer_by_topic(None, topic)
            self.sub_errors += 1
            log.warning("%s: venue refused %s: %s", self.name,
                        f"{p.op} {p.topics[:5]}" if p is not None else "a request", raw[:300])
        elif kind == Control.CTRL_SHUTDOWN:
            if self.seamless_rotation and self.state == ConnState.CONNECTED:
                # ids are global: open the new connection before this one goes (make before
                # break), from the watch loop; books stay live throughout
                log.warning("%s: venue announced it will close this connection; rotating to a new one", self.name)
                self._rotate_requested = True
                self._planned_close = True      # should the venue close it before the new one is up
            else:
                log.warning("%s: venue announced it will close this connection; reconnecting", self.name)
                self._planned_close = True
                self.force_reconnect("venue shutdown notice")
        if self.on_control_cb is not None:
            self.on_control_cb(self, kind, topic, req_id, raw)

    def _answer_by_topic(self, op: str | None, topic: str) -> _Pending | None:
        """The oldest pending request (of `op`, or any) still waiting for `topic`'s answer: marked
        answered for it, and no longer pending once every topic of it is."""
        for rid, p in self._pending.items():
            if (op is None or p.op == op) and topic in p.unanswered:
                p.unanswered.discard(topic)
                if not p.unanswered:
                    del self._pending[rid]
                return p
        return None

    def _expire_pending(self) -> None:
        """Requests the venue never answered: counted, logged; their topics are retried by the
        book watchdog (a book without its snapshot resyncs) or the next reconnect."""
        if not self._pending:
            return
        limit = int(self.endpoint.ack_timeout_s * 1e9)
        now = mono_ns()
        for rid in [r for r, p in self._pending.items() if now - p.sent_mono > limit]:
            p = self._pending.pop(rid)
            self.sub_timeouts += 1
            log.warning("%s: no answer to %s %s within %.0fs", self.name, p.op, p.topics[:5],
                        self.endpoint.ack_timeout_s)

    def force_reconnect(self, reason: str) -> None:
        self.close_reason = reason
        if self.transport is not None:
            self.transport.disconnect()

    async def _run(self) -> None:
        delay = self.backoff_min_s
        planned_delay = self.backoff_min_s
        self._planned_close = False
        while not self._stop:
            self.state = ConnState.CONNECTING
            self._disconnected.clear()
            try:
                self.gen += 1
                self.transport, self.listener = await self._connect(self.gen)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self.breaker.failure(FailureKind.UNREACHABLE)
                self.state = ConnState.BACKOFF
                log.warning("%s: connect failed: %s: %s; retry in %.2fs", self.name, type(e).__name__, e, delay)
                await asyncio.sleep(delay * random.uniform(0.5, 1.5))
                delay = min(delay * 2, self.backoff_max_s)
                continue
            self.connects += 1
            if self.connects > 1:
                self.reconnects += 1
            self.breaker.success()
            self.state = ConnState.CONNECTED
            self.connected_at = time.monotonic()
            self.close_reason = ""
            self.parser.reset_connection()
            self._pending.clear()
            self._resub_queued.clear()
            self.subscribed.clear()
            if self.on_connected_cb:
                self.on_connected_cb(self)
            self.subscribed.update(self._url_topics)
            extra = self._by_message()
            if extra:
                self._queue_op("subscribe", extra)
            await self._watch()
            self.state = ConnState.DISCONNECTED
            # a closed connection's books are not live, at once: nothing keeps them current
            for fs in self.books():
                fs.sync.mark_stale()
            if self.on_disconnected_cb:
                self.on_disconnected_cb(self)
            if self._stop:
                break
            log.info("%s: disconnected (%s); reconnecting", self.name, self.close_reason or "peer closed")
            # a connection that lived a while resets the backoff; a flapping one backs off
            lived = time.monotonic() - self.connected_at
            if self._planned_close:
                # connects failing after an announced close are a new episode: they back off from
                # the start, not from where the last outage left the failure backoff
                delay = self.backoff_min_s
                self._planned_close = False
                planned_delay = (self.backoff_min_s if lived > self.backoff_reset_s else
                                 min(planned_delay * 2, self.planned_reconnect_max_s))
                await asyncio.sleep(planned_delay * random.uniform(0.5, 1.0))
                continue
            delay = self.backoff_min_s if lived > self.backoff_reset_s else min(delay * 2, self.backoff_max_s)
            await asyncio.sleep(delay * random.uniform(0.5, 1.5))

    async def _connect(self, gen: int):
        url = self.url
        if self.connect_hook is not None:
            try:
                info = await asyncio.wait_for(self.connect_hook(), self.connect_hook_timeout_s)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self.connect_hook_failures += 1
                # the hook's own message only: the URL it may have built holds a token
                raise ConnectionError(f"connect hook failed: {type(e).__name__}: {e}") from None
            if info is not None:
                url = info.url
                if info.ping_interval_s > 0:
                    self.ping_interval_s = info.ping_interval_s
        if self.connect_pacer is not None:
            await self.connect_pacer.acquire()      # the venue's cap on new connections per IP
        return await ws_connect(lambda: FeedListener(self.parser, _Hooks(self, gen)), url,
                                enable_auto_pong=False, websocket_handshake_timeout=5)

    async def _rotate(self, planned: bool = False) -> None:
        """Make before break: the new connection must deliver data before the old one closes.
        `planned`: the venue announced the close (a failed rotation then reconnects on the
        announced-close backoff, not the failure one)."""
        try:
            transport, listener = await self._connect(self.gen + 1)
        except Exception as e:
            log.warning("%s: rotation: new connection failed (%s); reconnecting instead", self.name, e)
            self._planned_close = planned
            self.force_reconnect("venue shutdown notice" if planned else
                                 "rotation before the venue's maximum connection age")
            return
        extra = self._by_message()
        if extra and self._subscribe_frames is not None:
            n = max(1, self.endpoint.max_topics_per_request)
            for k in range(0, len(extra), n):
                for frame in self._subscribe_frames(self.endpoint, extra[k:k + n], self.next_req_id()):
                    transport.send(WSMsgType.TEXT, frame.encode())
        deadline = time.monotonic() + 5.0
        while listener.n_frames == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        old = self.transport
        self.gen += 1
        self.transport, self.listener = transport, listener
        self.connected_at = time.monotonic()
        self.rotations += 1
        self._planned_close = False
        old.disconnect()
        log.info("%s: rotated to a new connection", self.name)

    async def _watch(self) -> None:
        """Until disconnected: stale detection and rotation."""
        check = min(1.0, self.stale_after_s / 4)
        probe_after = self.endpoint.probe_after_s
        if probe_after > 0:
            check = min(check, probe_after / 2, self.endpoint.probe_timeout_s / 2)
        probe_sent = 0.0                          # monotonic s of the unanswered probe, 0: none
        while not self._disconnected.is_set():
            try:
                await within(self._disconnected.wait(), check)
                break
            except asyncio.TimeoutError:
                pass
            self._expire_pending()
            age = time.monotonic() - self.connected_at
            if self._rotate_requested:
                self._rotate_requested = False
                self.notice_rotations += 1
                await self._rotate(planned=True)
                continue
            if age > self.max_age_s:
                if self.seamless_rotation:
                    await self._rotate()
                else:
                    self.force_reconnect("rotation before the venue's maximum connection age")
                continue
            last = self.listener.last_frame_mono if self.listener is not None else 0
            silent_s = (mono_ns() - last) / 1e9 if last else age
            if probe_after > 0:
                now = time.monotonic()
                if silent_s < probe_after:
                    probe_sent = 0.0
                elif not probe_sent:
                    probe_sent = now
                    self.probes += 1
                    try:
                        self.transport.send_ping(b"vl")
                    except Exception as e:          # a transport that is already gone
                        log.info("%s: probe ping failed: %s", self.name, e)
                elif now - probe_sent > self.endpoint.probe_timeout_s:
                    for fs in self.books():
                        fs.sync.mark_stale()
                    self.probe_failures += 1
                    self.breaker.failure(FailureKind.UNREACHABLE)
                    self.force_reconnect(f"no answer to a ping for {now - probe_sent:.1f}s (silent {silent_s:.1f}s)")
                    continue
            if silent_s > self.stale_after_s:
                for fs in self.books():
                    fs.sync.mark_stale()
                if silent_s > 2 * self.stale_after_s:
                    self.stale_events += 1
                    self.breaker.failure(FailureKind.DEGRADED)
                    self.force_reconnect(f"no message for {silent_s:.1f}s")
