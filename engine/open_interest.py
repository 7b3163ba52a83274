# SPDX-License-Identifier: Apache-2.0
"""Open interest a venue publishes only over REST (Binance USD-M), polled for the symbols that have
derivatives subscribers and delivered to them as ``OpenInterest`` events (venuelink.derivatives),
like streamed ones."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Callable, Mapping, Protocol
from urllib.parse import urlencode

from venuelink.circuit import CircuitBreaker
from venuelink.derivatives import DerivEvent, OpenInterest
from venuelink.ext.ratelimit import Priority
from venuelink.hosts import VenueHost
from venuelink.tasks import within

log = logging.getLogger("venuelink.derivatives")


class PollHost(VenueHost, Protocol):
    """What the poll needs of its venue's runtime."""
    deriv_subs: Mapping[str, list[Callable]]

    def on_derivative(self, ev: DerivEvent) -> None: ...


OPEN_INTEREST_POLL_S = 10.0
"""how often open interest is asked where the venue publishes it only over REST"""


class OpenInterestPoll:
    """Open interest from REST, for a venue whose adapter has ``open_interest_request(inst)`` and
    ``parse_open_interest(inst, body)`` (Binance USD-M: GET /fapi/v1/openInterest): every symbol
    with a derivatives subscriber is asked every ``interval_s`` (at once when one subscribes), and
    each answer goes to those subscribers as an ``OpenInterest`` event, like a streamed one, with
    the venue's timestamp. Requests are weighed by the adapter's ``rest_cost`` on the venue's
    budget, in the market-data lane (never ahead of order traffic), on a breaker of their own (a
    failing open-interest endpoint moves neither the order nor the snapshot breaker). A failed or
    unreadable poll is counted (``failures``, ``unreadable``) and logged; the next period asks
    again. Stopped by ``close()`` (the runtime's)."""

    def __init__(self, rt: PollHost, *, interval_s: float = OPEN_INTEREST_POLL_S,
                 timeout_s: float = 10.0) -> None:
        self.rt, self.interval_s, self.timeout_s = rt, interval_s, timeout_s
        self.breaker = CircuitBreaker(f"{rt.venue.name}/open-interest", failure_threshold=3,
                                      cooldown_s=interval_s, max_cooldown_s=max(interval_s, 300.0))
        self.polls = 0
        self.delivered = 0
        self.failures = 0
        self.unreadable = 0
        self._task: asyncio.Task | None = None
        self._wake: asyncio.Event | None = None

    @property
    def supported(self) -> bool:
        """The venue publishes open interest over REST only: its adapter names the request."""
        ad = self.rt.adapter
        return callable(getattr(ad, "open_interest_request", None)) and \
            callable(getattr(ad, "parse_open_interest", None))

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self._task is None and self.supported:
            self.breaker = CircuitBreaker(f"{self.rt.venue.name}/open-interest", failure_threshold=3,
                                          cooldown_s=self.interval_s, max_cooldown_s=max(self.interval_s, 300.0))
            self._wake = asyncio.Event()
            self._task = asyncio.ensure_future(self._run())

    def wake(self) -> None:
        """A symbol got its first derivatives subscriber: ask now rather than a period later."""
        if self._wake is not None:
            self._wake.set()

    async def close(self) -> None:
        from venuelink.tasks import cancel_and_wait
        await cancel_and_wait(self._task)

    def symbols(self) -> list[str]:
        """The symbols polled now: those with a derivatives subscriber."""
        insts = self.rt.adapter.instruments
        return [s for s, subs in list(self.rt.deriv_subs.items()) if subs and s in insts]

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            self._wake.clear()
            for sym in self.symbols():
                await self.poll(sym)
            with contextlib.suppress(asyncio.TimeoutError):
                await within(self._wake.wait(), self.interval_s)

    def _failed(self, what: str, symbol: str, e: Exception) -> None:
        n = self.failures + self.unreadable
        if n <= 10 or n % 100 == 0:
            log.warning("%s %s: open interest %s (%d so far): %s: %s", self.rt.venue.name, symbol, what, n,
                        type(e).__name__, e)

    async def poll(self, symbol: str) -> OpenInterest | None:
        """Ask once and deliver; the event, or None when the poll failed (counted, logged)."""
        ad = self.rt.adapter
        inst = ad.instrument(symbol)
        path, params = ad.open_interest_request(inst)
        w, _ = ad.rest_cost("GET", path, params)
        query = urlencode(params)
        self.polls += 1
        try:
            r = await within(self.rt.rest.request(
                "GET", path, query=query, weights=w, priority=Priority.SNAPSHOT, breaker=self.breaker,
                headers=ad.md_headers("GET", path, query)), self.timeout_s)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            self.failures += 1
            self._failed("poll failed", symbol, e)
            return None
        try:
            ev = ad.parse_open_interest(inst, r.body)
        except Exception as e:
            self.unreadable += 1
            self._failed("answer unreadable", symbol, e)
            return None
        self.delivered += 1
        self.rt.on_derivative(ev)
        return ev
