# SPDX-License-Identifier: Apache-2.0
"""Signed REST requests and the venue's clock, written once for every execution client.

A venue that signs its private requests with a timestamp refuses one outside its receive window
(Binance -1021, OKX 50102, Bybit 10002): refused before it executed, so it is safe to send again.
``SignedRest`` keeps the offset between the venue's clock and ours (``sync_time`` against the
venue's time endpoint, ``venue_ms``) and sends a signed request once more, signed anew after
measuring the clock, when the first was refused for its time. The venue supplies how its time
endpoint answers (``server_ms``) and, per request, how to sign (a function of the venue time).
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

from venuelink.errors import ExecutionUnknown, TimestampError
from venuelink.rest import RestClient, RestResponse
from venuelink.ext.clock import now_ns
from venuelink.ext.ratelimit import Priority

MS = 1_000_000


class SignedRest:
    rest: RestClient
    adapter: Any
    time_path: str = ""
    """the venue's server-time endpoint (GET, public)"""
    clock_offset_ms: int = 0
    """venue time - local time, measured by sync_time()"""

    def server_ms(self, body: bytes) -> int:
        """The venue's time (epoch ms) in its time endpoint's answer; raise for anything else."""
        raise NotImplementedError

    def venue_ms(self) -> int:
        return now_ns() // MS + self.clock_offset_ms

    def venue_ns(self) -> int:
        return now_ns() + self.clock_offset_ms * MS

    async def sync_time(self) -> None:
        """Measure the offset: the venue's time against the middle of our request's round trip."""
        w, prio = self.adapter.rest_cost("GET", self.time_path)
        t0 = now_ns()
        r = await self.rest.request("GET", self.time_path, weights=w, priority=prio)
        t1 = now_ns()
        try:
            server = self.server_ms(r.body)
        except (KeyError, IndexError, TypeError, ValueError) as e:
            raise ExecutionUnknown(f"{self.adapter.venue.name}: unexpected answer to {self.time_path}: "
                                   f"{type(e).__name__}", venue=self.adapter.venue.name) from None
        self.clock_offset_ms = int(server - (t0 + t1) / 2 / MS)

    async def signed(self, method: str, path: str, sign: Callable[[int], tuple[str, Mapping[str, str]]], *,
                     body: str = "", weights: Mapping[str, int], priority: Priority, idempotent: bool = True,
                     instrument: str | None = None) -> RestResponse:
        """One signed request, resent once, signed anew after a clock measurement, when the venue
        refused its timestamp. ``sign(venue_ms)`` gives its query string and headers (the
        signature goes in either, as the venue wants it)."""
        for attempt in (0, 1):
            query, headers = sign(self.venue_ms())
            try:
                return await self.rest.request(method, path, query=query, body=body, headers=dict(headers),
                                               weights=weights, priority=priority, idempotent=idempotent,
                                               instrument=instrument)
            except TimestampError:
                if attempt:
                    raise
                await self.sync_time()
        raise AssertionError("unreachable")
