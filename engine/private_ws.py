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

aiohttp is enough here: private traffic is a few messages per second, far from the market-data
rate that justifies picows in ``engine.session``.
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
from typing import Any, Awaitable, Callable
from urllib.parse import urlsplit

import aiohttp

from engine.config import Credentials
from engine.errors import AuthError, CircuitOpen, ExecutionUnknown, VenueError
from engine.model import ConnState
from engine.tasks import bounded, cancel_and_wait
from ext.clock import now_ns

__all__ = ["MsgKind", "PrivateWsDialect", "PrivateWsSession"]

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

    async def prepare(self, creds: Credentials) -> None:
        """Called before each connection attempt (e.g. to fetch a login token over REST)."""

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


class PrivateWsSession:
    """Connection, login, requests and pushes for one private WebSocket.

    Callbacks (all synchronous, called on the loop; schedule work rather than block):
    ``on_push(msg)`` per pushed message, ``on_state(connected)`` when the session becomes usable
    or stops being so, ``on_reconnected()`` after a reconnect is logged in and subscribed again
    (the runtime reconciles orders there: pushes may have been missed while down).
    """

    def __init__(self, url: str, dialect: PrivateWsDialect, creds: Credentials, *,
                 on_push: Callable[[Any], None] | None = None,
                 on_reconnected: Callable[[], None] | None = None,
                 on_state: Callable[[bool], None] | None = None,
                 clock_ns: Callable[[], int] = now_ns,
                 http: Callable[[], Awaitable[aiohttp.ClientSession]] | None = None,
                 login_timeout_s: float = 10.0, backoff_min_s: float = 0.2, backoff_max_s: float = 30.0,
                 auth_backoff_s: float = 30.0, name: str = "") -> None:
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
        self.recent_backoffs_s: deque[float] = deque(maxlen=16)
        """The last waits before a reconnect attempt (jitter included), newest last."""
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future] = {}
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._task: asyncio.Task | None = None
        self._stop = False
        self._logged_in_once = False
        self._last_rx_mono = 0.0
        self._wake = asyncio.Event()
        self._auth_wait = False
        self.early_reconnects = 0
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

    def stats(self) -> dict[str, int]:
        return {"state": int(self.state), "connects": self.connects, "reconnects": self.reconnects,
                "login_failures": self.login_failures, "timeouts": self.timeouts,
                "unknown_messages": self.unknown_messages, "venue_errors": self.venue_errors,
                "callback_errors": self.callback_errors, "stray_replies": self.stray_replies,
                "pushes": self.pushes, "pending": len(self._pending)}

    async def close(self) -> None:
        self._stop = True
        if self._ws is not None:
            # a hung peer never answers the close handshake: the wait for it is bounded
            await bounded(self._ws.close(), f"{self.name}: closing the WebSocket")
        await cancel_and_wait(self._task)
        self._task = None
        self._fail_pending("session closed")
        self._set_state(ConnState.CLOSED)
        if self._own_http is not None:
            await bounded(self._own_http.close(), f"{self.name}: closing its HTTP session")
            self._own_http = None

    # ---- requests -------------------------------------------------------------------------
    async def request(self, method: str, params: Any, timeout_s: float = 10.0) -> Any:
        """Send one request and return the venue's result (see the module doc for the errors)."""
        ws = self._ws
        if not self.connected or ws is None or ws.closed:
            if isinstance(self.last_error, AuthError):
                raise AuthError(f"{self.name}: not logged in: {self.last_error}", venue=self.dialect.venue,
                                code=self.last_error.code)
            raise CircuitOpen(f"{self.name}: not connected; {method} not sent")
        req_id = next(self._ids)
        frame = self.dialect.request_frame(req_id, method, params)
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self._pending[req_id] = fut
        try:
            try:
                await ws.send_str(frame)
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

    def _fail_pending(self, why: str) -> None:
        pending, self._pending = self._pending, {}
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
                self._ws = None
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
                await asyncio.wait_for(self._wake.wait(), wait_s)
            except asyncio.TimeoutError:
                pass

    async def _connection(self) -> None:
        await self.dialect.prepare(self._creds)
        http = await self._client()
        async with http.ws_connect(self.url, heartbeat=self.dialect.heartbeat_s, autoping=True) as ws:
            self._ws = ws
            self._last_rx_mono = asyncio.get_running_loop().time()
            try:
                await self._login(ws)
            except Exception:
                self.login_failures += 1
                raise
            for frame in self.dialect.subscribe_frames():
                await ws.send_str(frame)
            self.last_error = None
            self.connects += 1
            reconnected = self._logged_in_once
            self._logged_in_once = True
            self._set_state(ConnState.CONNECTED)
            if reconnected:
                self.reconnects += 1
                if self.on_reconnected is not None:
                    try:
                        self.on_reconnected()
                    except Exception:
                        self.callback_errors += 1
                        log.exception("%s: on_reconnected callback failed", self.name)
            pinger = asyncio.ensure_future(self._ping_loop(ws)) if self.dialect.ping_interval_s > 0 else None
            try:
                async for m in ws:
                    if m.type == aiohttp.WSMsgType.TEXT:
                        self._on_text(m.data)
                    elif m.type == aiohttp.WSMsgType.BINARY:
                        self._unknown("binary frame", repr(m.data[:_LOG_CHARS]))
                    elif m.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED,
                                    aiohttp.WSMsgType.ERROR):
                        break
            finally:
                if pinger is not None:
                    pinger.cancel()
            if not self._stop:
                log.warning("%s: connection closed (code %s)", self.name, ws.close_code)

    async def _login(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        frames = self.dialect.login_frames(self._creds, self.clock_ns())
        if not frames:
            return
        for frame in frames:
            await ws.send_str(frame)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.login_timeout_s
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise ExecutionUnknown(f"{self.name}: no login answer within {self.login_timeout_s:g} s",
                                       venue=self.dialect.venue)
            try:
                m = await asyncio.wait_for(ws.receive(), left)
            except asyncio.TimeoutError:
                continue
            if m.type != aiohttp.WSMsgType.TEXT:
                if m.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED,
                              aiohttp.WSMsgType.ERROR):
                    raise ExecutionUnknown(f"{self.name}: connection closed during login (code {ws.close_code})",
                                           venue=self.dialect.venue)
                continue
            msg = self._decode(m.data)
            if msg is None:
                continue
            if self.dialect.is_login_ok(msg):
                return
            err = self.dialect.login_error(msg)
            if err is not None:
                raise err
            self._dispatch(msg, m.data)        # anything else that arrives meanwhile is handled as usual

    async def _ping_loop(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        interval = self.dialect.ping_interval_s
        loop = asyncio.get_running_loop()
        while not ws.closed:
            await asyncio.sleep(interval)
            if loop.time() - self._last_rx_mono > 3 * interval:
                # pings went unanswered: the connection is dead even if TCP has not noticed yet
                log.warning("%s: nothing received for %.3g s, reconnecting", self.name, 3 * interval)
                await ws.close()
                return
            frame = self.dialect.ping_frame()
            if frame is not None:
                await ws.send_str(frame)

    # ---- inbound ----------------------------------------------------------------------------
    def _decode(self, text: str) -> Any:
        self._last_rx_mono = asyncio.get_running_loop().time()
        try:
            return self.dialect.decode(text)
        except (ValueError, TypeError) as e:
            self._unknown(f"undecodable ({type(e).__name__})", text)
            return None

    def _on_text(self, text: str) -> None:
        msg = self._decode(text)
        if msg is not None:
            self._dispatch(msg, text)

    def _dispatch(self, msg: Any, text: str) -> None:
        try:
            kind, req_id = self.dialect.classify(msg)
        except Exception as e:             # a dialect bug must not end the session
            self._unknown(f"unclassifiable ({type(e).__name__})", text)
            return
        if kind is MsgKind.PUSH:
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
        elif kind is MsgKind.ERROR:
            self.venue_errors += 1
            if req_id is not None and req_id in self._pending:
                self._on_reply(req_id, msg, text)
            else:
                log.warning("%s: venue error: %s", self.name, self._scrub(text[:_LOG_CHARS]))
        else:
            self._unknown("unknown message", text)

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
    the runtime about it (``engine.orders.ExecutionClient``'s lifecycle), written once: whether it
    is up, an immediate reconnect when the venue answers again, closing, and ``on_stream_state``."""

    private_ws: PrivateWsSession | None = None
    on_stream_state: Callable[[bool], None] | None = None

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
