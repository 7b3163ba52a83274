# SPDX-License-Identifier: Apache-2.0
"""The venue's own word on its state: its status endpoint, polled.

Venues publish maintenance before and while it happens (Binance ``/sapi/v1/system/status``, OKX
``/api/v5/system/status`` with scheduled and ongoing windows). The adapter names the request
(`VenueAdapter.status_request`) and reads the answer (`VenueAdapter.parse_status`); `StatusWatch`
polls it every `interval_s` on the venue's REST budget, on a breaker of its own (a status endpoint
that answers says nothing about the order endpoints, and one that fails must not stop orders).

A venue in maintenance by its own word is unavailable for orders (venuelink.availability applies the
policy) whatever its breakers say; scheduled maintenance is logged once per window and exported
(`venuelink_venue_status`), so an alert can fire before it starts. An answer the adapter cannot
read is counted (`unreadable`) and keeps the last known status no longer than `stale_after_s`.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from enum import IntEnum
from typing import Iterable
from urllib.parse import urlencode

from venuelink.circuit import CircuitBreaker
from venuelink.hosts import VenueHost
from venuelink.tasks import within


StatusHost = VenueHost
"""What the status watch needs of its venue's runtime."""


log = logging.getLogger("venuelink.status")


class StatusKind(IntEnum):
    UNKNOWN = 0         # not polled yet, unreadable, or the endpoint unreachable for a while
    NORMAL = 1
    SCHEDULED = 2       # maintenance announced, not started
    MAINTENANCE = 3     # in maintenance by the venue's word


@dataclass(frozen=True, slots=True)
class VenueStatus:
    kind: StatusKind
    begin_ns: int = 0       # the (next) maintenance window, epoch ns; 0: not said
    end_ns: int = 0
    detail: str = ""

    def describe(self) -> str:
        def t(ns: int) -> str:
            return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ns / 1e9)) if ns else "?"
        if self.kind in (StatusKind.SCHEDULED, StatusKind.MAINTENANCE) and (self.begin_ns or self.end_ns):
            return f"{self.kind.name.lower()} {t(self.begin_ns)} .. {t(self.end_ns)}" + (
                f" ({self.detail})" if self.detail else "")
        return self.kind.name.lower() + (f" ({self.detail})" if self.detail else "")


UNKNOWN = VenueStatus(StatusKind.UNKNOWN)


def ms_ns(v: object, what: str) -> int:
    """A status answer's time in ms (digits, as a string or an integer; "" or null: not said) as
    epoch ns; anything else is an unreadable answer (ValueError)."""
    if v in ("", None):
        return 0
    if isinstance(v, bool) or not isinstance(v, (str, int)) or not str(v).isdigit() or len(str(v)) > 15:
        raise ValueError(f"{what} {v!r} is not a millisecond timestamp")
    return int(v) * 1_000_000


def worst(statuses: Iterable[VenueStatus]) -> VenueStatus:
    """The status that matters most of a venue's events: maintenance over scheduled over normal,
    and of two alike the one that begins first."""
    out = VenueStatus(StatusKind.NORMAL)
    for st in statuses:
        if st.kind > out.kind or (st.kind == out.kind and st.begin_ns and (not out.begin_ns
                                                                          or st.begin_ns < out.begin_ns)):
            out = st
    return out


class StatusWatch:
    def __init__(self, rt: StatusHost, *, interval_s: float = 30.0, stale_after_s: float = 120.0,
                 timeout_s: float = 5.0) -> None:
        self.rt, self.interval_s, self.stale_after_s, self.timeout_s = rt, interval_s, stale_after_s, timeout_s
        self.current: VenueStatus = UNKNOWN
        self.breaker = CircuitBreaker(f"{rt.venue.name}/status", failure_threshold=3, cooldown_s=interval_s,
                                      max_cooldown_s=max(interval_s, 300.0))
        self.polls = 0
        self.failures = 0
        self.unreadable = 0
        self._last_ok = 0.0
        self._announced: tuple[int, int, int] | None = None
        self._task: asyncio.Task | None = None

    @property
    def in_maintenance(self) -> bool:
        return self.current.kind == StatusKind.MAINTENANCE

    def start(self) -> None:
        if self.rt.adapter.status_request() is not None:
            self._task = asyncio.ensure_future(self._run())

    async def close(self) -> None:
        from venuelink.tasks import cancel_and_wait
        await cancel_and_wait(self._task)

    async def _run(self) -> None:
        while True:
            await self.poll()
            await asyncio.sleep(self.interval_s)

    async def poll(self) -> VenueStatus:
        ad = self.rt.adapter
        req = ad.status_request()
        assert req is not None
        path, params = req
        w, prio = ad.rest_cost("GET", path, params)
        self.polls += 1
        try:
            # within, not wait_for: on 3.11 wait_for can return an answer that arrived with a
            # cancellation and drop the cancellation, and the watch then slept on through a close
            r = await within(self.rt.rest.request("GET", path, query=urlencode(params), weights=w, priority=prio,
                                                  breaker=self.breaker), self.timeout_s)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            self.failures += 1
            log.info("%s: status poll failed: %s: %s", self.rt.venue.name, type(e).__name__, e)
            self._expire()
            return self.current
        try:
            st = ad.parse_status(r.body)
        except Exception as e:
            self.unreadable += 1
            log.warning("%s: status answer unreadable (%s: %s): %r", self.rt.venue.name, type(e).__name__, e,
                        r.body[:200])
            self._expire()
            return self.current
        self._last_ok = time.monotonic()
        self._set(st)
        return st

    def _expire(self) -> None:
        if self.current.kind != StatusKind.UNKNOWN and time.monotonic() - self._last_ok > self.stale_after_s:
            log.warning("%s: venue status unknown (no readable answer for %.0f s)", self.rt.venue.name,
                        self.stale_after_s)
            self.current = UNKNOWN

    def _set(self, st: VenueStatus) -> None:
        prev, self.current = self.current, st
        if st.kind == StatusKind.SCHEDULED:
            key = (int(st.kind), st.begin_ns, st.end_ns)
            if key != self._announced:
                self._announced = key
                log.warning("%s: venue announced maintenance: %s", self.rt.venue.name, st.describe())
        elif st.kind != prev.kind:
            lvl = logging.WARNING if StatusKind.MAINTENANCE in (st.kind, prev.kind) else logging.INFO
            log.log(lvl, "%s: venue status %s (was %s)", self.rt.venue.name, st.describe(), prev.kind.name.lower())
