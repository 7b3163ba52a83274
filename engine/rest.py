# SPDX-License-Identifier: Apache-2.0
"""REST through one keep-alive aiohttp session per venue. Every request passes the rate-limit
budget first and the venue's REST circuit breaker; answers feed the budget (usage headers) and
the breaker (failure classification). Errors are mapped by the adapter into engine errors."""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable, Mapping

import aiohttp

from engine.budget import VenueBudget
from engine.circuit import CircuitBreaker, FailureKind
from engine.errors import CircuitOpen, ExecutionUnknown, IpBanned, RateLimited, VenueError
from ext.clock import mono_ns
from ext.ratelimit import Priority

log = logging.getLogger("venuelink.rest")


class Unreachable(VenueError):
    """The request never got an answer because the connection failed before sending."""


class RestResponse:
    __slots__ = ("status", "headers", "body")

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body


class RestClient:
    def __init__(self, venue: str, base_url: str, budget: VenueBudget, *,
                 map_error: Callable[[RestResponse], VenueError | None],
                 timeout_s: float = 10.0, on_latency: Callable[[str, int], None] | None = None) -> None:
        self.venue = venue
        self.base_url = base_url.rstrip("/")
        self.budget = budget
        self.map_error = map_error
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.breaker = CircuitBreaker(f"{venue}/rest")
        self.on_latency = on_latency
        self._session: aiohttp.ClientSession | None = None
        self.requests = 0
        self.errors = 0

    async def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            conn = aiohttp.TCPConnector(limit=32, keepalive_timeout=60, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(connector=conn, timeout=self.timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def request(self, method: str, path: str, *, query: str = "", body: str = "",
                      headers: Mapping[str, str] | None = None, weights: Mapping[str, int],
                      priority: Priority, idempotent: bool = True) -> RestResponse:
        """Send once (no automatic retries: the caller knows whether a retry is safe).

        Raises CircuitOpen (not sent), Unreachable (not sent: connect failed), ExecutionUnknown
        (sent, no usable answer: timeout, 5xx, connection lost mid-request), or the adapter's
        mapped VenueError. Returns the response for 2xx.
        """
        if not self.breaker.allow():
            raise CircuitOpen(f"{self.venue}: REST circuit open ({self.breaker.last_failure.name if self.breaker.last_failure else ''})",
                              int(self.breaker.retry_in() * 1e9))
        await self.budget.acquire(weights, priority)
        url = f"{self.base_url}{path}" + (f"?{query}" if query else "")
        s = await self.session()
        t0 = mono_ns()
        self.requests += 1
        try:
            async with s.request(method, url, data=body or None, headers=headers) as r:
                data = await r.read()
                resp = RestResponse(r.status, r.headers, data)
        except aiohttp.ClientConnectorError as e:
            self.errors += 1
            self.breaker.failure(FailureKind.UNREACHABLE)
            raise Unreachable(f"{self.venue}: cannot connect ({e.__class__.__name__})", venue=self.venue) from None
        except (asyncio.TimeoutError, aiohttp.ClientError, OSError) as e:
            self.errors += 1
            self.breaker.failure(FailureKind.UNREACHABLE)
            raise ExecutionUnknown(f"{self.venue}: {method} {path}: no answer ({e.__class__.__name__})",
                                   venue=self.venue) from None
        finally:
            if self.on_latency is not None:
                self.on_latency("rest_roundtrip", mono_ns() - t0)
        self.budget.sync_headers(resp.headers)
        if 200 <= resp.status < 300:
            self.breaker.success()
            return resp
        self.errors += 1
        err = self.map_error(resp)
        if isinstance(err, IpBanned):
            self.budget.block(err.retry_after_s or 120, "IP banned (418)")
            self.breaker.failure(FailureKind.BANNED, open_for_s=err.retry_after_s or 120)
        elif isinstance(err, RateLimited):
            self.budget.block(err.retry_after_s or 1, "rate limited (429)")
            self.breaker.success()
        elif resp.status >= 500:
            self.breaker.failure(FailureKind.VENUE_DOWN)
            if err is None or not isinstance(err, ExecutionUnknown):
                err = ExecutionUnknown(f"{self.venue}: HTTP {resp.status} on {method} {path}",
                                       venue=self.venue, http_status=resp.status)
        else:
            self.breaker.success()          # a definite 4xx answer: the venue is up
        if err is None:
            err = VenueError(f"{self.venue}: HTTP {resp.status} on {method} {path}", venue=self.venue,
                             http_status=resp.status)
        raise err
