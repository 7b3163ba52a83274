# SPDX-License-Identifier: Apache-2.0
"""REST through one keep-alive aiohttp session per venue. Every request passes the rate-limit
budget first and the venue's REST circuit breaker; answers feed the budget (usage headers) and
the breaker (failure classification). Errors are mapped by the adapter into engine errors:
`classify` looks at every answer (venues that answer errors, rate limits included, with HTTP
200 and a code in the body), `map_error` at non-2xx answers that classify left alone.

Signed requests: the caller signs, inside `signed_slot()`, with `nonce()`. The slot bounds the
signed requests in flight (max_signed_inflight) from the moment the nonce is taken until the
answer, so with a limit of 1 nonces reach the venue in the order they were issued."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, AsyncIterator, Callable, Mapping

import aiohttp

from venuelink.budget import VenueBudget
from venuelink.circuit import CircuitBreaker, FailureKind
from venuelink.tasks import bounded
from venuelink.errors import CircuitOpen, ExecutionUnknown, IpBanned, RateLimited, VenueError
from venuelink.ext.clock import mono_ns, now_ns
from venuelink.ext.ratelimit import Priority

log = logging.getLogger("venuelink.rest")


class Unreachable(VenueError):
    """The request never got an answer because the connection failed before sending."""


class RestResponse:
    __slots__ = ("status", "headers", "body")

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body


class NonceSource:
    """Strictly increasing nonces from the wall clock in ns: never the same value twice, even
    when the clock stalls or steps backwards (then it counts up from the last one given)."""
    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last = 0

    def __call__(self) -> int:
        n = now_ns()
        if n <= self._last:
            n = self._last + 1
        self._last = n
        return n


class RestClient:
    def __init__(self, venue: str, base_url: str, budget: VenueBudget, *,
                 map_error: Callable[[RestResponse], VenueError | None],
                 classify: Callable[[RestResponse], VenueError | None] | None = None,
                 max_signed_inflight: int = 0,
                 timeout_s: float = 10.0, on_latency: Callable[[str, int], None] | None = None,
                 md_cooldown_s: float = 1.0, md_max_cooldown_s: float = 4.0) -> None:
        if max_signed_inflight < 0:
            raise ValueError(f"max_signed_inflight must be >= 0, got {max_signed_inflight}")
        self.venue = venue
        self.base_url = base_url.rstrip("/")
        self.budget = budget
        self.map_error = map_error
        self.classify = classify
        self.max_signed_inflight = max_signed_inflight
        self._signed = asyncio.Semaphore(max_signed_inflight) if max_signed_inflight else None
        self.nonce = NonceSource()
        self.classify_failures = 0                  # answers the adapter's classify raised on
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.breaker = CircuitBreaker(f"{venue}/rest")
        """orders and account requests"""
        self.md_breaker = CircuitBreaker(f"{venue}/rest-md", cooldown_s=md_cooldown_s, max_cooldown_s=md_max_cooldown_s)
        """market-data requests (book snapshots): short cooldowns, so books recover within seconds
        of the endpoint answering again"""
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
            await bounded(self._session.close(), f"{self.venue}: closing the REST session")

    @contextlib.asynccontextmanager
    async def signed_slot(self) -> AsyncIterator[None]:
        """Hold one of the max_signed_inflight slots for a signed request. Enter it before
        taking the nonce / computing the signature, leave it after the answer:

            async with rest.signed_slot():
                nonce = rest.nonce()
                ... sign with nonce ...
                r = await rest.request(...)

        With no limit (0) the slot is free and never waits."""
        if self._signed is None:
            yield
            return
        async with self._signed:
            yield

    def _classify(self, resp: RestResponse, method: str, path: str) -> tuple[VenueError | None, bool]:
        """The adapter's classify of an answer: (error or None, whether classify itself failed).
        A classify that raises or returns something else than a VenueError is an adapter bug:
        counted, logged (exception type only), and the answer becomes an ExecutionUnknown."""
        if self.classify is None:
            return None, False
        try:
            err = self.classify(resp)
            if err is None or isinstance(err, VenueError):
                return err, False
            what = f"returned {type(err).__name__}"
        except Exception as e:
            what = f"raised {type(e).__name__}"
        self.classify_failures += 1
        log.error("%s: classify %s on the answer to %s %s (HTTP %d)", self.venue, what, method, path, resp.status)
        return ExecutionUnknown(f"{self.venue}: {method} {path}: answer could not be classified ({what})",
                                venue=self.venue, http_status=resp.status), True

    async def request(self, method: str, path: str, *, query: str = "", body: str = "",
                      headers: Mapping[str, str] | None = None, weights: Mapping[str, int],
                      priority: Priority, idempotent: bool = True,
                      instrument: str | None = None, breaker: CircuitBreaker | None = None) -> RestResponse:
        """Send once (no automatic retries: the caller knows whether a retry is safe).

        `instrument` selects the per-instrument buckets the weights name (required when they
        name one). Raises CircuitOpen (not sent), Unreachable (not sent: connect failed),
        ExecutionUnknown (sent, no usable answer: timeout, 5xx, connection lost mid-request,
        an answer the adapter could not classify), or the adapter's VenueError (from classify
        for any answer, from map_error for non-2xx). Returns the response otherwise.
        """
        # market-data REST (snapshots) and order REST fail apart: a snapshot endpoint answering
        # 5xx must not stop orders. An open order breaker stops new orders, never the safety
        # path: cancels, and the queries that resolve unknown orders, still go (while a ban is in
        # force excepted: the budget blocks every lane until it ends).
        # `breaker`: a caller's own (the status poll), so its answers move neither of these
        br = breaker or (self.md_breaker if priority == Priority.SNAPSHOT else self.breaker)
        allowed = br.allow()
        if not allowed and not (priority in (Priority.CANCEL, Priority.QUERY) and not br.banned):
            raise CircuitOpen(f"{self.venue}: REST circuit open ({br.last_failure.name if br.last_failure else ''})",
                              int(br.retry_in() * 1e9))
        probe = allowed and br.holds_probe      # this request is the half-open breaker's one probe
        try:
            return await self._send(br, method, path, query, body, headers, weights, priority, instrument)
        except BaseException:
            # a probe that ended without a verdict (not sent: budget refused, cancelled while
            # waiting) gives its slot back; one that got a verdict has already moved the breaker
            if probe and br.holds_probe:
                br.release()
            raise

    def _host(self) -> str:
        """scheme://host[:port] of the venue's REST base (never a path or query: no secret there)."""
        from urllib.parse import urlsplit
        u = urlsplit(self.base_url)
        return f"{u.scheme}://{u.netloc}"

    async def _send(self, br: CircuitBreaker, method: str, path: str, query: str, body: str,
                    headers: Mapping[str, str] | None, weights: Mapping[str, int], priority: Priority,
                    instrument: str | None) -> RestResponse:
        cost = await self.budget.acquire(weights, priority, instrument=instrument)
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
            br.failure(FailureKind.UNREACHABLE)
            why = getattr(e, "strerror", None) or e.__class__.__name__
            raise Unreachable(f"{self.venue}: cannot connect to {self._host()} ({e.__class__.__name__}: {why})",
                              venue=self.venue) from None
        except (asyncio.TimeoutError, aiohttp.ClientError, OSError) as e:
            self.errors += 1
            br.failure(FailureKind.UNREACHABLE)
            raise ExecutionUnknown(f"{self.venue}: {method} {self._host()}{path}: no answer ({e.__class__.__name__})",
                                   venue=self.venue) from None
        finally:
            if self.on_latency is not None:
                self.on_latency("rest_roundtrip", mono_ns() - t0)
        self.budget.sync_headers(resp.headers, cost)
        err, unclassified = self._classify(resp, method, path)
        from_body = err is not None         # the error came from classify, not from the HTTP status
        if err is None:
            if 200 <= resp.status < 300:
                br.success()
                return resp
            err = self.map_error(resp)
        self.errors += 1
        if isinstance(err, IpBanned):
            self.budget.block(err.retry_after_s or 120,
                              f"IP banned (code {err.code}, HTTP {resp.status})" if from_body else "IP banned (418)")
            br.failure(FailureKind.BANNED, open_for_s=err.retry_after_s or 120)
        elif isinstance(err, RateLimited):
            self.budget.rate_refused(cost, err.retry_after_s or 0.0,
                                     f"rate limited (code {err.code}, HTTP {resp.status})" if from_body
                                     else "rate limited (429)", buckets_only=err.buckets_only)
            br.success()
        elif resp.status >= 500 or (from_body and isinstance(err, ExecutionUnknown) and not unclassified):
            # 5xx, or the venue's own "busy / system error" code in the body: the venue is down
            br.failure(FailureKind.VENUE_DOWN)
            if err is None or not isinstance(err, ExecutionUnknown):
                err = ExecutionUnknown(f"{self.venue}: HTTP {resp.status} on {method} {path}",
                                       venue=self.venue, http_status=resp.status)
        elif unclassified:
            br.failure(FailureKind.DEGRADED)      # answered, but we cannot tell what
        else:
            br.success()          # a definite answer (4xx, or an error code): the venue is up
        if err is None:
            err = VenueError(f"{self.venue}: HTTP {resp.status} on {method} {path}", venue=self.venue,
                             http_status=resp.status)
        raise err
