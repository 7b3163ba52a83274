# SPDX-License-Identifier: Apache-2.0
"""Order requests over a venue's order-entry WebSocket, REST the fallback, written once.

A venue with WebSocket order entry (Binance's WS API, OKX ``/private`` ops, Bybit ``/v5/trade``)
sends an order request there while its socket is logged in, and over signed REST otherwise. What
happens around the request is the same everywhere and lives here: the rate budget is what the
REST request spends (venues count both together), a refusal for rate or an IP ban reaches the
budget and the order path's breaker as REST's would, a refused timestamp measures the venue's
clock again and hands the request back (REST signs anew), and a request that never left because
the socket went away is sent over REST instead. An answer lost on the socket is an unknown
outcome (``ExecutionUnknown``): the order manager asks the venue what became of the order.
"""
from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, Mapping

from venuelink.circuit import FailureKind
from venuelink.errors import CircuitOpen, ExecutionUnknown, IpBanned, RateLimited, TimestampError, VenueError
from venuelink.private_ws import PrivateWsSession
from venuelink.rest import RestClient
from venuelink.ext.ratelimit import Priority

log = logging.getLogger("venuelink.orders.socket")


class SocketOrders:
    """One order-entry socket of an execution client and what its requests did."""

    def __init__(self, rest: RestClient, sync_time: Callable[[], Awaitable[None]], *, timeout_s: float = 5.0,
                 name: str = "", headers_of: Callable[[Any], Mapping[str, str] | None] | None = None) -> None:
        self.rest = rest
        self.sync_time = sync_time
        self.headers_of = headers_of
        """the usage headers a reply carries (Bybit's ``header``), folded into the buckets charged"""
        self.timeout_s = timeout_s
        self.name = name
        self.session: PrivateWsSession | None = None
        self.sent = 0
        """requests sent on the socket (answered or not)"""

    @property
    def connected(self) -> bool:
        return self.session is not None and self.session.connected

    async def request(self, method: str, params: Any, weights: Mapping[str, int], priority: Priority, *,
                      instrument: str | None = None) -> Any | None:
        """``method`` on the socket while it is up: its answer's result (a refusal raises, as over
        REST). None when it was not sent there, or was refused for its timestamp before
        executing: the caller sends it over REST. ``params`` may be a function giving them, called
        once the budget admitted the request (a request signed with its time: Binance's WS API)."""
        ws = self.session
        if ws is None or not ws.connected:
            return None
        cost = await self.rest.budget.acquire(weights, priority, instrument=instrument)
        breaker = self.rest.breaker
        try:
            result = await ws.request(method, params() if callable(params) else params, timeout_s=self.timeout_s)
        except CircuitOpen:
            return None                     # the connection went away before sending: REST instead
        except TimestampError:
            self.sent += 1
            try:                            # refused before execution: measure the clock again
                await self.sync_time()
            except Exception as e:
                log.warning("%s: time sync failed: %s: %s", self.name, type(e).__name__, e)
            return None
        except IpBanned as e:
            self.sent += 1
            self.rest.budget.block(e.retry_after_s or 120, f"IP banned on the order socket (code {e.code})")
            breaker.failure(FailureKind.BANNED, open_for_s=e.retry_after_s or 120)
            raise
        except RateLimited as e:
            self.sent += 1
            self.rest.budget.rate_refused(cost, e.retry_after_s or 0.0, f"rate limited on the order socket "
                                          f"(code {e.code})", buckets_only=e.buckets_only)
            breaker.success()
            raise
        except ExecutionUnknown as e:
            self.sent += 1                  # its answer lost, or the venue's "status unknown"
            if e.code is not None:          # the venue's own word (Bybit 10019 restarting, 10016): it is down
                breaker.failure(FailureKind.VENUE_DOWN)
            raise
        except VenueError:
            self.sent += 1                  # a definite refusal: the venue is up
            breaker.success()
            raise
        self.sent += 1
        breaker.success()
        headers = self.headers_of(result) if self.headers_of is not None else None
        if headers:
            self.rest.budget.sync_headers(headers, cost)
        return result


class SocketOrdersOwner:
    """What an execution client with an order-entry socket (``self.orders_socket``) shows of it."""

    orders_socket: SocketOrders

    @property
    def order_ws(self) -> PrivateWsSession | None:
        """the order-entry connection"""
        return self.orders_socket.session

    @property
    def ws_orders(self) -> int:
        """order requests sent on the socket"""
        return self.orders_socket.sent

    @property
    def ws_timeout_s(self) -> float:
        """how long an answer on the socket is waited for (then: an unknown outcome)"""
        return self.orders_socket.timeout_s

    @ws_timeout_s.setter
    def ws_timeout_s(self, v: float) -> None:
        self.orders_socket.timeout_s = v

    @property
    def orders_connected(self) -> bool:
        """Orders go over the socket (else REST)."""
        return self.orders_socket.connected
