# SPDX-License-Identifier: Apache-2.0
"""New-connection pacing per venue and host IP: the venues cap how fast one IP may open
WebSocket connections (OKX 3 per second, Binance 300 per 5 minutes, Bybit 500 per 5 minutes,
Coinbase 8 per second), and a reconnect storm after a network blip -- every market-data
connection and the private socket at once -- must not trip that cap and turn a blip into a
refused reconnect or a ban. Every connection the engine opens to a venue, market data and
private, first takes a slot here; a slot is free when fewer than ``limit`` connections were
opened in the last ``window_s`` seconds.

Connections are rare (a handful per minute at worst), so this is plain Python on the event
loop's monotonic clock, not the venuelink.ext.ratelimit hot path.
"""
from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Callable

__all__ = ["ConnectPacer"]


class ConnectPacer:
    """A sliding window of connection starts; ``limit`` 0 means the venue states no cap."""

    def __init__(self, limit: int, window_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        if limit < 0 or (limit and window_s <= 0):
            raise ValueError(f"connection pacing needs limit >= 0 and a positive window, got {limit}/{window_s}")
        self.limit, self.window_s = limit, window_s
        self._clock = clock
        self._starts: deque[float] = deque()
        self._lock = asyncio.Lock()
        self.waits = 0              # connection attempts that had to wait for a slot
        self.waited_s = 0.0         # total time spent waiting

    def __repr__(self) -> str:
        return f"ConnectPacer({self.limit} per {self.window_s:g}s, waits={self.waits})"

    def delay(self) -> float:
        """Seconds until a slot is free (0: now)."""
        if not self.limit:
            return 0.0
        now = self._clock()
        while self._starts and self._starts[0] <= now - self.window_s:
            self._starts.popleft()
        if len(self._starts) < self.limit:
            return 0.0
        return self._starts[0] + self.window_s - now

    async def acquire(self) -> None:
        """Wait for a slot and take it (first come, first served)."""
        if not self.limit:
            return
        async with self._lock:
            d = self.delay()
            if d > 0:
                self.waits += 1
                self.waited_s += d
                await asyncio.sleep(d)
                d = self.delay()
                while d > 0:                    # the sleep may end a hair early
                    await asyncio.sleep(d)
                    d = self.delay()
            self._starts.append(self._clock())
