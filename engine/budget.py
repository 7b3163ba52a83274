# SPDX-License-Identifier: Apache-2.0
"""A venue account's rate-limit budget: the VenueSpec buckets in an ext.ratelimit.Budget, used
by every REST request before it leaves the host.

Windows are fixed to the wall clock (CLOCK_REALTIME), like the venues' own: Binance's weight
per minute resets on the minute. The venue's usage headers are folded in (the larger of local
and reported usage wins), and 429/418 block every lane until Retry-After has passed.
"""
from __future__ import annotations

import asyncio
import logging
import random
from typing import Mapping

from engine.errors import CircuitOpen
from engine.venue import VenueSpec
from ext.clock import now_ns
from ext.ratelimit import Budget, Cost, Priority

log = logging.getLogger("venuelink.budget")
NS = 1_000_000_000


class VenueBudget:
    def __init__(self, spec: VenueSpec, *, headroom: float | None = None, max_wait_s: float = 30.0) -> None:
        self.venue = spec.venue
        self.budget = Budget()
        self.index: dict[str, int] = {}
        self.headers: dict[str, int] = {}          # lower-case header -> bucket index
        for b in spec.buckets:
            i = self.budget.add_bucket(b.name, b.kind, b.limit, int(b.window_s * NS),
                                       b.headroom if headroom is None else headroom)
            self.index[b.name] = i
            if b.header:
                self.headers[b.header.lower()] = i
        self.max_wait_s = max_wait_s
        self._costs: dict[tuple, Cost] = {}
        self.waits = 0                              # requests that had to wait for budget
        self.blocked_reason = ""

    def cost(self, weights: Mapping[str, int]) -> Cost:
        key = tuple(sorted(weights.items()))
        c = self._costs.get(key)
        if c is None:
            c = self._costs[key] = self.budget.make_cost([(self.index[n], w) for n, w in key if n in self.index])
        return c

    async def acquire(self, weights: Mapping[str, int], priority: Priority) -> None:
        """Wait until the request fits every bucket (never longer than max_wait_s: then
        CircuitOpen, so callers do not queue forever behind a ban)."""
        cost = self.cost(weights)
        waited = 0.0
        while True:
            now = now_ns()
            wait = self.budget.acquire(cost, now, priority)
            if wait == 0:
                return
            if self.budget.blocked_until > now and self.budget.blocked_until - now > self.max_wait_s * NS:
                raise CircuitOpen(f"{self.venue.name}: requests blocked ({self.blocked_reason})",
                                  self.budget.blocked_until)
            if waited + wait / NS > self.max_wait_s:
                raise CircuitOpen(f"{self.venue.name}: rate budget exhausted for {wait / NS:.1f}s", now + wait)
            self.waits += 1
            # a little jitter so that many waiters released at a window boundary do not burst
            delay = wait / NS + random.uniform(0, 0.005)
            waited += delay
            await asyncio.sleep(delay)

    def sync_headers(self, headers: Mapping[str, str]) -> None:
        now = now_ns()
        for name, idx in self.headers.items():
            v = headers.get(name)
            if v is not None:
                try:
                    self.budget.sync(idx, int(v), now)
                except ValueError:
                    log.warning("%s: unparsable usage header %s=%r", self.venue.name, name, v)

    def block(self, seconds: float, reason: str) -> None:
        self.blocked_reason = reason
        self.budget.block_until(now_ns() + int(seconds * NS))

    def utilization(self) -> dict[str, float]:
        now = now_ns()
        return {name: self.budget.utilization(i, now) for name, i in self.index.items()}
