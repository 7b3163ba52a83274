# SPDX-License-Identifier: Apache-2.0
"""One private WebSocket per venue account: log in, send requests with ids and wait for their
replies, receive pushed order/fill updates, and after a reconnect log in again, subscribe again
and let the runtime reconcile.

Every venue with a private WebSocket needs the same machinery (Binance WS API, OKX ``/private``,
Bybit ``/v5/private``, Kraken ``ws-auth``, Deribit JSON-RPC, ...); what differs is the wire
format, which a venue states in a small ``PrivateWsDialect``. The session owns the connection,
the request ids and futures, the backoff and the counters.

Guarantees:

* ``request`` returns the venue's result or raises: the dialect's error for a refusal,
  ``ExecutionUnknown`` when the reply does not come within the timeout or the connection closes
  while the request is in flight (an order whose answer is lost may exist: it is never
  presumed rejected), ``AuthError``/``CircuitOpen`` when the request was not sent at all because
  the session is not logged in.
* A pushed update reaches ``on_push`` in the order it arrived. A message the dialect cannot
  decode or classify is counted and logged (truncated, secrets scrubbed) and the session carries
  on; an exception raised by ``on_push`` is counted apart (it is not the venue's fault).
* Reconnects use exponential backoff with jitter; a refused login is an ``AuthError`` kept in
  ``last_error``, counted, and retried only after ``auth_backoff_s`` (a wrong key stays wrong).
* Secrets never appear in logs, exceptions or ``repr``.
* Make before break: when the venue announces that it will close the connection (the dialect
  classifies the notice as ``MsgKind.ROTATE``) or the connection nears the venue's maximum age
  (``PrivateWsDialect.max_connection_age_s``), a second connection is opened, logged in and
  subscribed; new requests then go to it, the old one stays open until the requests sent on it
  are answered (or time out) and is then closed. Pushes of both are delivered meanwhile, each
  once (``PrivateWsDialect.push_identity``). ``connected`` stays true throughout; should the old
  connection close before the new one is ready, the session reconnects as after any drop
  (``on_reconnected``: the runtime reconciles).

aiohttp is enough here: private traffic is a few messages per second, far from the market-data
rate that justifies picows in ``venuelink.session``.
"""
from __future__ import annotations

import abc
import asyncio
import itertools
import json
import logging
import random
from collections import deque
from enum import IntEnum
from typing import Any, Awaitable, Callable, Iterable
from urllib.parse import urlsplit

import aiohttp

from venuelink.config import Credentials
from venuelink.errors import AuthError, CircuitOpen, ExecutionUnknown, TimestampError, VenueError
from venuelink.model import ConnState
from venuelink.pacing import ConnectPacer
from venuelink.tasks import bounded, cancel_and_wait, within
from venuelink.venue import ConnectInfo
from venuelink.ext.clock import now_ns

__all__ = ["MsgKind", "PrivateWsDialect", "PrivateWsSession", "RotationCause"]

log = logging.getLogger("venuelink.private_ws")

_LOG_CHARS = 200


class MsgKind(IntEnum):
    """What an inbound private message is, as told by ``PrivateWsDialect.classify``."""
    REPLY = 1
    """The answer to one of our requests (``req_id`` set); success or error."""
    PUSH = 2
    """An account update pushed by the venue (order, fill, balance)."""
    PONG = 3
    """The answer to an application-level ping."""
    EVENT = 4
    """Anything the venue says that needs no action (subscription acks, notices)."""
    ERROR = 5
    """An error not tied to one of our requests."""
    UNKNOWN = 6
    """Not understood: counted and logged."""
    ROTATE = 7
    """The venue will close this connection soon (a service upgrade): move to a new one first."""


class RotationCause(IntEnum):
    """Why a session moved to a new connection while the old one still worked."""
    NOTICE = 1
    """the venue announced that it will close the connection"""
    AGE = 2
    """the connection neared the venue's maximum connection age"""


ROTATE_AT_AGE = 0.95
"""A connection is replaced at this fraction of the venue's maximum connection age."""
DEDUPE_WINDOW = 1024
"""Identities of recent pushes remembered to drop the second copy of a rotation's overlap."""
DEDUPE_TTL_S = 60.0
"""... for this long: a copy arrives within moments of the first, or not at all."""


class PrivateWsDialect(abc.ABC):
    """The venue's side of a private WebSocket. Stateless apart from configuration; every method
    is called on the event loop and must not block.

    An ABC rather than a Protocol: decoding, pings and preparation have sensible shared defaults
    that a venue overrides only where it differs.
    """

    venue: str = ""
    ping_interval_s: float = 0.0
    """Seconds between application-level pings (0: the venue wants none). With pings on, a
    connection on which nothing at all arrives for three intervals is closed and reopened."""
    heartbeat_s: float | None = 20.0
    """WebSocket protocol ping interval (aiohttp ``heartbeat``); None leaves it to the venue."""
    max_connection_age_s: float | None = None
    """The venue closes a connection after this long (None: it does not); the session moves to a
    new connection, make before break, at ``ROTATE_AT_AGE`` of it."""
    confirms_subscribe: bool = False
    """The venue acknowledges each subscribe frame (``is_subscribed``): a rotation's new connection
    counts as ready only once every subscription is confirmed, so no push falls between the two."""

    async def prepare(self, creds: Credentials) -> ConnectInfo | None:
        """Called before each connection attempt (rotations included): a venue that hands out a
        token or a server per connection over REST (KuCoin's bullet) returns where to connect and
        the ping interval it was given (ConnectInfo; the URL is never logged). None: the session's
        URL and the dialect's ping_interval_s."""
        return None

    def decode(self, text: str) -> Any:
        """Text frame -> message; raise ValueError for garbage. JSON unless the venue says otherwise."""
        return json.loads(text)

    @abc.abstractmethod
    def login_frames(self, creds: Credentials, now_ns: int) -> list[str]:
        """Frames that authenticate the connection (``now_ns``: venue-adjusted epoch ns). Empty
        when the venue needs no login message; then the connection counts as logged in at once."""

    @abc.abstractmethod
    def is_login_ok(self, msg: Any) -> bool:
        """True for the message that confirms the login."""

    @abc.abstractmethod
    def login_error(self, msg: Any) -> VenueError | None:
        """The error when ``msg`` refuses the login (``AuthError`` for bad keys/signatures), else None.
        The message must not contain credentials."""

    def subscribe_frames(self) -> list[str]:
        """Frames sent after the login on every connection (their acks are classified as usual)."""
        return []

    def is_subscribed(self, msg: Any) -> bool:
        """True for the venue's acknowledgement of one subscribe frame (see ``confirms_subscribe``)."""
        return False

    def push_identity(self, msg: Any, text: str) -> str:
        """What makes two pushes the same update: during a rotation both connections carry every
        push, and the copy arriving on the other connection is dropped. The frame's text unless
        the venue puts something per connection into it (a subscription id, a connection id)."""
        return text

    @abc.abstractmethod
    def request_frame(self, req_id: int, method: str, params: Any) -> str:
        """The frame of one request carrying ``req_id``."""

    @abc.abstractmethod
    def classify(self, msg: Any) -> tuple[MsgKind, int | None]:
        """(kind, request id or None). Must not raise for any decoded message."""

    @abc.abstractmethod
    def reply_result(self, msg: Any) -> Any:
        """The result carried by a successful reply."""

    @abc.abstractmethod
    def reply_error(self, msg: Any) -> VenueError | None:
        """The venue error carried by a reply, None when the reply is a success."""

    def ping_frame(self) -> str | None:
        """Application-level ping, or None."""
        return None



class LoginClockSync:
    """For a dialect whose login carries a timestamp: a login the venue refused for its time
    (``TimestampError``) makes the next connection attempt measure the venue's clock first
    (``sync_time``), once. Put it before the dialect's base and report refusals through
    ``login_refused``."""

    def __init__(self, sync_time: Callable[[], Awaitable[None]] | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self._sync_time = sync_time
        self._resync = False

    def login_refused(self, err: VenueError) -> VenueError:
        """Note a refused login; returns it."""
        self._resync = isinstance(err, TimestampError)
        return err

    async def prepare(self, creds: Credentials) -> ConnectInfo | None:
        if self._resync and self._sync_time is not None:
            self._resync = False            # the last login was refused for its timestamp: measure again
            try:
                await self._sync_time()
            except Exception as e:
                log.warning("%s private stream: time sync failed: %s: %s", getattr(self, "venue", "?"),
                            type(e).__name__, e)
        return None


class _Link:
    """One WebSocket of a session: the socket, the requests sent on it, its reader and pinger."""

    __slots__ = ("ws", "n", "opened_mono", "last_rx_mono", "inflight", "idle", "reader", "pinger", "closed",
                 "ping_s")

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, n: int, now_mono: float, ping_s: float = 0.0) -> None:
        self.ws, self.n = ws, n
        self.ping_s = ping_s
        """application ping interval on this connection (the dialect's, or what its connect gave)"""
        self.opened_mono = self.last_rx_mono = now_mono
        self.inflight: set[int] = set()
        """ids of the requests sent on this connection and not answered yet"""
        self.idle = asyncio.Event()
        self.idle.set()
        self.reader: asyncio.Task | None = None
        self.pinger: asyncio.Task | None = None
        self.closed = False


class PrivateWsSession:
    """Connection, login, requests and pushes for one private WebSocket.

    Callbacks (all synchronous, called on the loop; schedule work rather than block):
    ``on_push(msg)`` per pushed message, ``on_state(connected)`` when the session becomes usable
    or stops being so, ``on_reconnected()`` after a reconnect is logged in and subscribed again
    (the runtime reconciles orders there: pushes may have been missed while down). A rotation
    (make before break) calls none of them: nothing was missed and requests could go on.
    """

    def __init__(self, url: str, dialect: PrivateWsDialect, creds: Credentials, *,
                 on_push: Callable[[Any], None] | None = None,
                 on_reconnected: Callable[[], None] | None = None,
                 on_state: Callable[[bool], None] | None = None,
                 clock_ns: Callable[[], int] = now_ns,
                 http: Callable[[], Awaitable[aiohttp.ClientSession]] | None = None,
                 login_timeout_s: float = 10.0, backoff_min_s: float = 0.2, backoff_max_s: float = 30.0,
                 auth_backoff_s: float = 30.0, name: str = "", connect_pacer: ConnectPacer | None = None) -> None:
        self.url, self.dialect, self._creds = url, dialect, creds
        self.name = name or f"{dialect.venue or 'venue'}/private"
        self.on_push, self.on_reconnected, self.on_state = on_push, on_reconnected, on_state
        self.clock_ns = clock_ns
        self._http = http
        self._own_http: aiohttp.ClientSession | None = None
        self.login_timeout_s = login_timeout_s
        self.backoff_min_s, self.backoff_max_s, self.auth_backoff_s = backoff_min_s, backoff_max_s, auth_backoff_s
        self.state = ConnState.DISCONNECTED
        self.last_error: BaseException | None = None
        # counters
        self.connects = 0
        self.reconnects = 0
        self.login_failures = 0
        self.timeouts = 0
        self.unknown_messages = 0
        self.venue_errors = 0
        self.callback_errors = 0
        self.stray_replies = 0
        self.pushes = 0
        self.rotations = 0
        """moves to a new connection completed while the old one still worked"""
        self.rotations_by_cause: dict[RotationCause, int] = {c: 0 for c in RotationCause}
        self.rotation_failures = 0
        """new connections of a rotation that could not be opened, logged in or subscribed (retried)"""
        self.rotations_abandoned = 0
        """rotations overtaken by the old connection closing first (then: the reconnect path)"""
        self.duplicate_pushes = 0
        """second copies of a push, received on the other connection of a rotation, dropped"""
        self.recent_backoffs_s: deque[float] = deque(maxlen=16)
        """The last waits before a reconnect attempt (jitter included), newest last."""
        self._ids = itertools.count(1)
        self._link_ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future] = {}
        self._links: set[_Link] = set()
        """every open connection: the current one, one being opened, ones being drained"""
        self._current: _Link | None = None
        self._lost = asyncio.Event()
        """set when the current connection closes"""
        self._rotation: asyncio.Task | None = None
        self._drains: set[asyncio.Task] = set()
        self._recent_pushes: dict[str, tuple[int, float]] = {}
        """push identity -> (connection number, monotonic s) while connections overlap"""
        self._task: asyncio.Task | None = None
        self._stop = False
        self._logged_in_once = False
        self._wake = asyncio.Event()
        self._auth_wait = False
        self.early_reconnects = 0
        self.connect_pacer = connect_pacer
        """the venue's new-connection cap, shared with its market-data connections"""
        """backoffs cut short by `reconnect_now` (the venue was seen answering again)"""

    def __repr__(self) -> str:
        # host only: some venues put a token or listen key into the path or query
        return f"PrivateWsSession({self.name!r}, host={urlsplit(self.url).netloc!r}, state={self.state.name})"

    # ---- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._stop = False
            self._task = asyncio.ensure_future(self._run())

    def reconnect_now(self) -> bool:
        """Cut the current reconnect backoff short: the venue is known to answer again (its REST
        came back), so waiting out a backoff grown during the outage only keeps orders blind.
        Not after a refused login (a wrong key stays wrong). Returns whether a wait was cut."""
        if self.state is ConnState.BACKOFF and not self._auth_wait and not self._wake.is_set():
            self._wake.set()
            self.early_reconnects += 1
            return True
        return False

    @property
    def connected(self) -> bool:
        """Logged in (and subscribed): requests can be sent."""
        return self.state is ConnState.CONNECTED

    @property
    def rotating(self) -> bool:
        """A rotation is under way: a new connection is being opened, or an old one drained."""
        return self._rotation is not None or bool(self._drains)

    def stats(self) -> dict[str, int]:
        return {"state": int(self.state), "connects": self.connects, "reconnects": self.reconnects,
                "login_failures": self.login_failures, "timeouts": self.timeouts,
                "unknown_messages": self.unknown_messages, "venue_errors": self.venue_errors,
                "callback_errors": self.callback_errors, "stray_replies": self.stray_replies,
                "pushes": self.pushes, "pending": len(self._pending), "rotations": self.rotations,
                "rotations_notice": self.rotations_by_cause[RotationCause.NOTICE],
                "rotations_age": self.rotations_by_cause[RotationCause.AGE],
                "rotation_failures": self.rotation_failures, "rotations_abandoned": self.rotations_abandoned,
                "duplicate_pushes": self.duplicate_pushes, "connections": len(self._links)}

    async def close(self) -> None:
        self._stop = True
        for link in list(self._links):
            # a hung peer never answers the close handshake: the wait for it is bounded
            await bounded(link.ws.close(), f"{self.name}: closing the WebSocket")
        await cancel_and_wait(self._task)
        self._task = None
        await self._end_rotations()
        self._fail_pending("session closed")
        self._set_state(ConnState.CLOSED)
        if self._own_http is not None:
            await bounded(self._own_http.close(), f"{self.name}: closing its HTTP session")
            self._own_http = None

    # ---- requests -------------------------------------------------------------------------
    async def request(self, method: str, params: Any, timeout_s: float = 10.0) -> Any:
        """Send one request and return the venue's result (see the module doc for the errors).
        It goes to the current connection; during a rotation, the new one as soon as it is ready."""
        link = self._current
        if not self.connected or link is None or link.closed or link.ws.closed:
            if isinstance(self.last_error, AuthError):
                raise AuthError(f"{self.name}: not logged in: {self.last_error}", venue=self.dialect.venue,
                                code=self.last_error.code)
            raise CircuitOpen(f"{self.name}: not connected; {method} not sent")
        req_id = next(self._ids)
        frame = self.dialect.request_frame(req_id, method, params)
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self._pending[req_id] = fut
        link.inflight.add(req_id)
        link.idle.clear()
        try:
            try:
                await link.ws.send_str(frame)
            except Exception as e:        # the frame may have been partly written: unknown, not refused
                raise ExecutionUnknown(f"{self.name}: {method} send failed: {type(e).__name__}",
                                       venue=self.dialect.venue) from None
            try:
                return await asyncio.wait_for(fut, timeout_s)
            except asyncio.TimeoutError:
                self.timeouts += 1
                raise ExecutionUnknown(f"{self.name}: no reply to {method} (id {req_id}) within {timeout_s:g} s",
                                       venue=self.dialect.venue) from None
        finally:
            self._pending.pop(req_id, None)
            link.inflight.discard(req_id)
            if not link.inflight:
                link.idle.set()

    def _fail_pending(self, why: str, ids: Iterable[int] | None = None) -> None:
        if ids is None:
            pending, self._pending = self._pending, {}
        else:
            pending = {i: f for i in list(ids) if (f := self._pending.get(i)) is not None}
        for req_id, fut in pending.items():
            if not fut.done():
                fut.set_exception(ExecutionUnknown(f"{self.name}: {why} before the reply to request {req_id}",
                                                   venue=self.dialect.venue))

    # ---- connection loop ------------------------------------------------------------------
    def _set_state(self, state: ConnState) -> None:
        was = self.state is ConnState.CONNECTED
        self.state = state
        now = state is ConnState.CONNECTED
        if was != now and self.on_state is not None:
            try:
                self.on_state(now)
            except Exception:
                self.callback_errors += 1
                log.exception("%s: on_state callback failed", self.name)

    async def _client(self) -> aiohttp.ClientSession:
        if self._http is not None:
            return await self._http()
        if self._own_http is None or self._own_http.closed:
            self._own_http = aiohttp.ClientSession()
        return self._own_http

    async def _run(self) -> None:
        delay = self.backoff_min_s
        while not self._stop:
            self._set_state(ConnState.CONNECTING)
            wait_s = 0.0
            try:
                await self._connection()
            except asyncio.CancelledError:
                raise
            except AuthError as e:
                # a wrong key stays wrong: retry slowly, without hammering the venue's login limits
                self.last_error = e
                log.error("%s: login refused: %s", self.name, self._scrub(str(e)))
                wait_s = self.auth_backoff_s
            except Exception as e:  # network, handshake, login timeout, venue error: back off and retry
                self.last_error = e
                log.warning("%s: %s: %s", self.name, type(e).__name__, self._scrub(str(e)))
            else:
                delay = self.backoff_min_s          # a connection that logged in resets the backoff
            finally:
                self._current = None
                self._fail_pending("connection closed")
            if self._stop:
                break
            self._auth_wait = wait_s > 0
            wait_s = max(wait_s, delay) * random.uniform(0.5, 1.5)
            delay = min(delay * 2, self.backoff_max_s)
            self.recent_backoffs_s.append(wait_s)
            self._wake.clear()
            self._set_state(ConnState.BACKOFF)
            try:
                await within(self._wake.wait(), wait_s)
            except asyncio.TimeoutError:
                pass

    async def _connection(self) -> None:
        """One connected episode: from the first connection's login until the current connection
        (after rotations, a later one) closes."""
        link = await self._open_link()
        self.last_error = None
        self.connects += 1
        reconnected = self._logged_in_once
        self._logged_in_once = True
        self._lost.clear()
        self._current = link
        self._serve(link)
        self._set_state(ConnState.CONNECTED)
        if reconnected:
            self.reconnects += 1
            if self.on_reconnected is not None:
                try:
                    self.on_reconnected()
                except Exception:
                    self.callback_errors += 1
                    log.exception("%s: on_reconnected callback failed", self.name)
        loop = asyncio.get_running_loop()
        max_age = self.dialect.max_connection_age_s
        rotate_after = max_age * ROTATE_AT_AGE if max_age else None
        try:
            while not self._lost.is_set():
                timeout = None
                if rotate_after is not None and self._current is not None:
                    left = self._current.opened_mono + rotate_after - loop.time()
                    timeout = max(0.5 if self._rotation is not None else 0.01, left)
                try:
                    await within(self._lost.wait(), timeout)
                except asyncio.TimeoutError:
                    cur = self._current
                    if rotate_after is not None and cur is not None and \
                            loop.time() - cur.opened_mono >= rotate_after:
                        self._begin_rotation(RotationCause.AGE)
        finally:
            if self._rotation is not None and not self._rotation.done() and not self._stop:
                self.rotations_abandoned += 1
                log.warning("%s: the connection closed before its replacement was ready; reconnecting",
                            self.name)
            await self._end_rotations()
            for other in list(self._links):
                await self._close_link(other)
        if not self._stop:
            cur = self._current or link
            log.warning("%s: connection closed (code %s)", self.name, cur.ws.close_code)

    async def _open_link(self) -> _Link:
        """Connect, log in and subscribe; on any failure the socket is closed again."""
        info = await self.dialect.prepare(self._creds)
        http = await self._client()
        if self.connect_pacer is not None:
            await self.connect_pacer.acquire()      # the venue's cap on new connections per IP
        url = info.url if info is not None else self.url
        ping_s = self.dialect.ping_interval_s
        if info is not None and info.ping_interval_s > 0:
            ping_s = info.ping_interval_s
        ws = await http.ws_connect(url, heartbeat=self.dialect.heartbeat_s, autoping=True)
        link = _Link(ws, next(self._link_ids), asyncio.get_running_loop().time(), ping_s)
        self._links.add(link)
        try:
            try:
                await self._login(link)
            except Exception as e:
                # the error is known as soon as the failure is counted (closing the link still
                # awaits before the run loop records it)
                self.last_error = e
                self.login_failures += 1
                raise
            frames = self.dialect.subscribe_frames()
            for frame in frames:
                await ws.send_str(frame)
            if frames and self.dialect.confirms_subscribe and self._current is not None:
                # a replacement is ready only once it receives what the old connection receives
                acks = [0]

                def subscribed(msg: Any) -> bool:
                    if self.dialect.is_subscribed(msg):
                        acks[0] += 1
                    return acks[0] >= len(frames)
                await self._receive_until(link, subscribed, "subscribe answer")
        except BaseException:
            await self._close_link(link)
            raise
        return link

    def _serve(self, link: _Link) -> None:
        link.reader = asyncio.ensure_future(self._read(link))
        if link.ping_s > 0:
            link.pinger = asyncio.ensure_future(self._ping_loop(link))

    async def _read(self, link: _Link) -> None:
        ws = link.ws
        try:
            async for m in ws:
                if m.type == aiohttp.WSMsgType.TEXT:
                    self._on_text(m.data, link)
                elif m.type == aiohttp.WSMsgType.BINARY:
                    self._unknown("binary frame", repr(m.data[:_LOG_CHARS]))
                elif m.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED,
                                aiohttp.WSMsgType.ERROR):
                    break
        except Exception as e:                  # a read error ends this connection like a close
            log.warning("%s: read failed: %s: %s", self.name, type(e).__name__, self._scrub(str(e)))
        finally:
            link.closed = True
            self._links.discard(link)
            if link.pinger is not None:
                link.pinger.cancel()
            # the answers to requests sent on it can no longer come
            self._fail_pending("connection closed", link.inflight)
            if link is self._current:
                self._lost.set()

    async def _close_link(self, link: _Link) -> None:
        link.closed = True
        self._links.discard(link)
        if link.pinger is not None:
            link.pinger.cancel()
        await bounded(link.ws.close(), f"{self.name}: closing the WebSocket")
        if link.reader is not None and link.reader is not asyncio.current_task():
            await cancel_and_wait(link.reader)
        self._fail_pending("connection closed", link.inflight)

    # ---- rotation (make before break) ---------------------------------------------------------
    def _begin_rotation(self, cause: RotationCause) -> None:
        if self._rotation is not None or self._stop or self.state is not ConnState.CONNECTED:
            return
        log.info("%s: moving to a new connection (%s)", self.name,
                 "the venue will close this one" if cause is RotationCause.NOTICE else "maximum connection age")
        self._rotation = asyncio.ensure_future(self._rotate(cause))

    async def _rotate(self, cause: RotationCause) -> None:
        """Open, log in and subscribe the replacement (retried with backoff while the old
        connection lasts), make it current, then drain the old one. The connection loop cancels
        this when the old connection closes first."""
        old = self._current
        delay = self.backoff_min_s
        try:
            while True:
                try:
                    new = await self._open_link()
                    break
                except asyncio.CancelledError:
                    raise
                except Exception as e:
                    self.rotation_failures += 1
                    log.warning("%s: rotation: the new connection failed: %s: %s; the old one serves on",
                                self.name, type(e).__name__, self._scrub(str(e)))
                    await asyncio.sleep(delay * random.uniform(0.5, 1.5))
                    delay = min(delay * 2, self.backoff_max_s)
            if old is None or old.closed or self._current is not old or self._stop:
                await self._close_link(new)        # overtaken: the reconnect path has it
                return
            self._current = new
            self._serve(new)
            self.rotations += 1
            self.rotations_by_cause[cause] += 1
            log.info("%s: requests now go to the new connection; the old one closes once its %d "
                     "request(s) are answered", self.name, len(old.inflight))
            drain = asyncio.ensure_future(self._drain(old))
            self._drains.add(drain)
            drain.add_done_callback(self._drains.discard)
        finally:
            self._rotation = None

    async def _drain(self, link: _Link) -> None:
        """The replaced connection stays open (its pushes and replies delivered) until every
        request sent on it is answered or timed out, then closes."""
        if link.reader is not None and not link.reader.done():
            idle = asyncio.ensure_future(link.idle.wait())
            try:
                await asyncio.wait({idle, link.reader}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                idle.cancel()
        await self._close_link(link)

    async def _end_rotations(self) -> None:
        if self._rotation is not None:
            await cancel_and_wait(self._rotation)
            self._rotation = None
        for t in list(self._drains):
            await cancel_and_wait(t)
        self._drains.clear()

    # ---- login and receiving outside the reader ------------------------------------------------
    async def _login(self, link: _Link) -> None:
        frames = self.dialect.login_frames(self._creds, self.clock_ns())
        if not frames:
            return
        for frame in frames:
            await link.ws.send_str(frame)

        def logged_in(msg: Any) -> bool:
            if self.dialect.is_login_ok(msg):
                return True
            err = self.dialect.login_error(msg)
            if err is not None:
                raise err
            return False
        await self._receive_until(link, logged_in, "login answer")

    async def _receive_until(self, link: _Link, done: Callable[[Any], bool], what: str) -> None:
        """Read ``link`` until ``done(msg)``; anything else that arrives meanwhile is handled as
        usual. Bounded by ``login_timeout_s``."""
        ws = link.ws
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.login_timeout_s
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise ExecutionUnknown(f"{self.name}: no {what} within {self.login_timeout_s:g} s",
                                       venue=self.dialect.venue)
            try:
                m = await asyncio.wait_for(ws.receive(), left)
            except asyncio.TimeoutError:
                continue
            if m.type != aiohttp.WSMsgType.TEXT:
                if m.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED,
                              aiohttp.WSMsgType.ERROR):
                    raise ExecutionUnknown(f"{self.name}: connection closed waiting for the {what} "
                                           f"(code {ws.close_code})", venue=self.dialect.venue)
                continue
            msg = self._decode(m.data, link)
            if msg is None:
                continue
            if done(msg):
                return
            self._dispatch(msg, m.data, link)

    async def _ping_loop(self, link: _Link) -> None:
        interval = link.ping_s
        loop = asyncio.get_running_loop()
        ws = link.ws
        while not ws.closed:
            await asyncio.sleep(interval)
            if loop.time() - link.last_rx_mono > 3 * interval:
                # pings went unanswered: the connection is dead even if TCP has not noticed yet
                log.warning("%s: nothing received for %.3g s, reconnecting", self.name, 3 * interval)
                await ws.close()
                return
            frame = self.dialect.ping_frame()
            if frame is not None:
                await ws.send_str(frame)

    # ---- inbound ----------------------------------------------------------------------------
    def _decode(self, text: str, link: _Link) -> Any:
        link.last_rx_mono = asyncio.get_running_loop().time()
        try:
            return self.dialect.decode(text)
        except (ValueError, TypeError) as e:
            self._unknown(f"undecodable ({type(e).__name__})", text)
            return None

    def _on_text(self, text: str, link: _Link) -> None:
        msg = self._decode(text, link)
        if msg is not None:
            self._dispatch(msg, text, link)

    def _dispatch(self, msg: Any, text: str, link: _Link) -> None:
        try:
            kind, req_id = self.dialect.classify(msg)
        except Exception as e:             # a dialect bug must not end the session
            self._unknown(f"unclassifiable ({type(e).__name__})", text)
            return
        if kind is MsgKind.PUSH:
            if self._is_copy(msg, text, link):
                return
            self.pushes += 1
            if self.on_push is not None:
                try:
                    self.on_push(msg)
                except Exception:
                    self.callback_errors += 1
                    log.exception("%s: push handler failed", self.name)
        elif kind is MsgKind.REPLY:
            self._on_reply(req_id, msg, text)
        elif kind is MsgKind.PONG or kind is MsgKind.EVENT:
            log.debug("%s: %s %s", self.name, kind.name, self._scrub(text[:_LOG_CHARS]))
        elif kind is MsgKind.ROTATE:
            if link is self._current:
                log.warning("%s: the venue will close this connection: %s", self.name,
                            self._scrub(text[:_LOG_CHARS]))
                self._begin_rotation(RotationCause.NOTICE)
            else:                          # on a connection already being replaced or not yet in use
                log.info("%s: closing notice on a connection not in use: %s", self.name,
                         self._scrub(text[:_LOG_CHARS]))
        elif kind is MsgKind.ERROR:
            self.venue_errors += 1
            if req_id is not None and req_id in self._pending:
                self._on_reply(req_id, msg, text)
            else:
                log.warning("%s: venue error: %s", self.name, self._scrub(text[:_LOG_CHARS]))
        else:
            self._unknown("unknown message", text)

    def _is_copy(self, msg: Any, text: str, link: _Link) -> bool:
        """True for the second copy of a push that arrived on another connection while two were
        open (a rotation). Pushes are remembered only while connections overlap; a venue's own
        repeat on one connection is passed on (the order manager merges it idempotently)."""
        seen = self._recent_pushes
        if len(self._links) < 2 and not seen:
            return False
        try:
            key = self.dialect.push_identity(msg, text)
        except Exception as e:             # a dialect bug: deliver it rather than lose an update
            log.warning("%s: push identity failed: %s", self.name, type(e).__name__)
            return False
        now = asyncio.get_running_loop().time()
        while seen:
            first = next(iter(seen))
            if len(seen) < DEDUPE_WINDOW and now - seen[first][1] < DEDUPE_TTL_S:
                break
            del seen[first]
        prev = seen.get(key)
        if prev is not None and prev[0] != link.n and now - prev[1] < DEDUPE_TTL_S:
            self.duplicate_pushes += 1     # kept: a third connection's copy goes the same way
            return True
        if len(self._links) >= 2:
            seen[key] = (link.n, now)
        return False

    def _on_reply(self, req_id: int | None, msg: Any, text: str) -> None:
        fut = self._pending.get(req_id) if req_id is not None else None
        if fut is None or fut.done():
            # late (after its timeout) or not ours: the caller already got ExecutionUnknown
            self.stray_replies += 1
            log.warning("%s: reply to no waiting request (id %s): %s", self.name, req_id,
                        self._scrub(text[:_LOG_CHARS]))
            return
        try:
            err = self.dialect.reply_error(msg)
            if err is not None:
                fut.set_exception(err)
            else:
                fut.set_result(self.dialect.reply_result(msg))
        except Exception as e:              # a malformed reply: its request's outcome is unknown
            self._unknown(f"malformed reply ({type(e).__name__})", text)
            fut.set_exception(ExecutionUnknown(f"{self.name}: malformed reply to request {req_id}",
                                               venue=self.dialect.venue))

    def _unknown(self, what: str, text: str) -> None:
        self.unknown_messages += 1
        log.warning("%s: %s dropped: %s", self.name, what, self._scrub(text[:_LOG_CHARS]))

    def _scrub(self, text: str) -> str:
        """Belt and braces: a venue echoing a request back must not put a key into our logs."""
        c = self._creds
        for s in (c.api_key, c.api_secret, c.private_key, c.passphrase):
            v = s.reveal() if s else ""
            if v and len(v) >= 4:
                text = text.replace(v, "***")
        return text


class PrivateStreamOwner:
    """What an execution client that keeps one ``PrivateWsSession`` in ``self.private_ws`` offers
    the runtime about it (``venuelink.execution.ExecutionClient``'s lifecycle), written once: whether it
    is up, an immediate reconnect when the venue answers again, closing, and ``on_stream_state``."""

    private_ws: PrivateWsSession | None = None
    on_stream_state: Callable[[bool], None] | None = None
    connect_pacer: ConnectPacer | None = None
    """set by the runtime before ``start``: the session's connections take their slots from it"""

    @property
    def stream_connected(self) -> bool:
        return self.private_ws is not None and self.private_ws.connected

    def reconnect_now(self) -> bool:
        """The venue answers again: reconnect the stream without waiting out its backoff."""
        return self.private_ws is not None and self.private_ws.reconnect_now()

    async def close(self) -> None:
        if self.private_ws is not None:
            await self.private_ws.close()

    def _on_state(self, connected: bool) -> None:
        if self.on_stream_state is not None:
            self.on_stream_state(connected)
