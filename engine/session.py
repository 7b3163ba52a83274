# SPDX-License-Identifier: Apache-2.0
"""One market-data WebSocket connection: picows client on the running (uv)loop, reconnect with
exponential backoff and jitter, stale-feed detection, rotation before the venue's maximum
connection age, and a resync of every book on the connection after each reconnect."""
from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Callable

from picows import ws_connect

from engine.circuit import CircuitBreaker, FailureKind
from engine.model import ConnState
from ext.clock import mono_ns
from ext.feed import FeedListener, FrameParser

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


class WsSession:
    """seamless_rotation: the venue's ids are global (not per connection), so a rotation opens the
    new connection first, lets both feed the same parser (the overlap is dropped as stale deltas
    and already-seen trade ids) and closes the old one: no resync, no gap."""

    def __init__(self, name: str, url: str, parser: FrameParser, *, stale_after_s: float = 10.0,
                 max_age_s: float = 23.5 * 3600, backoff_min_s: float = 0.1, backoff_max_s: float = 30.0,
                 seamless_rotation: bool = False,
                 on_connected: Callable[["WsSession"], None] | None = None,
                 on_disconnected: Callable[["WsSession"], None] | None = None) -> None:
        self.name, self.url, self.parser = name, url, parser
        self.stale_after_s, self.max_age_s = stale_after_s, max_age_s
        self.backoff_min_s, self.backoff_max_s = backoff_min_s, backoff_max_s
        self.on_connected_cb, self.on_disconnected_cb = on_connected, on_disconnected
        self.seamless_rotation = seamless_rotation
        self.gen = 0
        self.rotations = 0
        self.state = ConnState.DISCONNECTED
        self.breaker = CircuitBreaker(f"{name}/ws", failure_threshold=3, cooldown_s=1.0, max_cooldown_s=60.0)
        self.listener: FeedListener | None = None
        self.transport = None
        self.connects = 0
        self.reconnects = 0
        self.stale_events = 0
        self.connected_at = 0.0
        self.close_reason = ""
        self._task: asyncio.Task | None = None
        self._disconnected = asyncio.Event()
        self._stop = False

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def close(self) -> None:
        self._stop = True
        if self.transport is not None:
            self.transport.disconnect()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        self.state = ConnState.CLOSED

    def force_reconnect(self, reason: str) -> None:
        self.close_reason = reason
        if self.transport is not None:
            self.transport.disconnect()

    async def _run(self) -> None:
        delay = self.backoff_min_s
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
            if self.on_connected_cb:
                self.on_connected_cb(self)
            await self._watch()
            self.state = ConnState.DISCONNECTED
            if self.on_disconnected_cb:
                self.on_disconnected_cb(self)
            if self._stop:
                break
            log.info("%s: disconnected (%s); reconnecting", self.name, self.close_reason or "peer closed")
            # a connection that lived a while resets the backoff; a flapping one backs off
            lived = time.monotonic() - self.connected_at
            delay = self.backoff_min_s if lived > 30 else min(delay * 2, self.backoff_max_s)
            await asyncio.sleep(delay * random.uniform(0.5, 1.5))

    async def _connect(self, gen: int):
        return await ws_connect(lambda: FeedListener(self.parser, _Hooks(self, gen)), self.url,
                                enable_auto_pong=False, websocket_handshake_timeout=5)

    async def _rotate(self) -> None:
        """Make before break: the new connection must deliver data before the old one closes."""
        try:
            transport, listener = await self._connect(self.gen + 1)
        except Exception as e:
            log.warning("%s: rotation: new connection failed (%s); reconnecting instead", self.name, e)
            self.force_reconnect("rotation before the venue's maximum connection age")
            return
        deadline = time.monotonic() + 5.0
        while listener.n_frames == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        old = self.transport
        self.gen += 1
        self.transport, self.listener = transport, listener
        self.connected_at = time.monotonic()
        self.rotations += 1
        old.disconnect()
        log.info("%s: rotated to a new connection", self.name)

    async def _watch(self) -> None:
        """Until disconnected: stale detection and rotation."""
        check = min(1.0, self.stale_after_s / 4)
        while not self._disconnected.is_set():
            try:
                await asyncio.wait_for(self._disconnected.wait(), check)
                break
            except asyncio.TimeoutError:
                pass
            age = time.monotonic() - self.connected_at
            if age > self.max_age_s:
                if self.seamless_rotation:
                    await self._rotate()
                else:
                    self.force_reconnect("rotation before the venue's maximum connection age")
                continue
            last = self.listener.last_frame_mono if self.listener is not None else 0
            silent_s = (mono_ns() - last) / 1e9 if last else age
            if silent_s > self.stale_after_s:
                for fs in self.parser.symbols():
                    fs.sync.mark_stale()
                if silent_s > 2 * self.stale_after_s:
                    self.stale_events += 1
                    self.breaker.failure(FailureKind.DEGRADED)
                    self.force_reconnect(f"no message for {silent_s:.1f}s")
