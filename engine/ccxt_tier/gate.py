# SPDX-License-Identifier: Apache-2.0
"""The engine's rate budget for the CCXT tier: every REST request a worker's CCXT client makes
(order entry, queries, the markets load) is charged to the venue's VenueBudget before it leaves.

Design: the worker asks the engine. CCXT turns one dialect request into one or more REST
requests (an OKX create that only acknowledges is followed by a read; a markets load is several
requests, made before the engine can talk to the worker at all), and only inside CCXT is each
request, its endpoint and its cost known. So the worker wraps CCXT's one request path
(``fetch2``) and, before each request, asks the engine's gate (``POST /acquire`` on a
127.0.0.1 port the engine owns) to charge it; the gate answers once the budget admits it, or
refuses (not sent). The engine charging first and then telling the worker to send would have
to guess every request CCXT makes, and could not cover the markets load.

An ask names the request (``api``, ``method``, ``path``, CCXT's ``cost`` from its API table,
1 where none, and ``market``: the venue's instrument id when the request names one) and the
engine's ``token`` of the dialect request it belongs to. The engine registered that token with
the order's priority (cancel before new order before query) and its send window, so a place
that cannot be admitted before its deadline is refused exactly as a native one is
(BudgetTimeout: never sent, never sent late). Requests without a token (the markets load) are
queries.

Buckets: a venue with a native spec (Binance, OKX) has its native buckets, and CCXT's endpoints
are charged to them as the native adapter charges its own requests, so a ccxt-tier venue spends
the same budget model; any other venue has one conservative request-rate bucket made from
CCXT's ``rateLimit`` (ms per cost unit), charged CCXT's cost. A venue's rate refusal (CCXT's
RateLimitExceeded / DDoSProtection) is reported by the worker (``POST /refused``) before it
answers: 429 blocks the budget until Retry-After (1 s without one); 418 or "banned" blocks every
lane until the ban ends and opens the order breaker, as native.
"""
from __future__ import annotations

import itertools
import logging
import math
from typing import Any

from aiohttp import web

from venuelink.budget import SendWindow, VenueBudget, _send_window, send_window
from venuelink.ccxt_tier.errors import BAN_DEFAULT_S, is_ban
from venuelink.circuit import CircuitBreaker, FailureKind
from venuelink.errors import BudgetTimeout, CircuitOpen, EngineError
from venuelink.pacing import ConnectPacer
from venuelink.venue import BucketSpec
from venuelink.ext.ratelimit import BucketKind, Priority

log = logging.getLogger("venuelink.ccxt_tier.gate")
RATE_BUCKET = "CCXT_RATE"
MILLI = 1000                    # the CCXT_RATE bucket counts thousandths of CCXT's cost units
MIN_UNITS = 10                  # the CCXT_RATE window holds at least this many cost units
MAX_COST_UNITS = 5              # a request costing more is charged this much (the snapshot lane holds 5.1)


# ---------------------------------------------------------------------------- buckets and weights
def rate_bucket(rate_limit_ms: float) -> BucketSpec:
    """A sliding window admitting the cost units CCXT's ``rateLimit`` allows in it (one unit per
    ``rate_limit_ms``), counted in thousandths of a unit: at least one second long and at least
    MIN_UNITS units, so that after the budget's headroom and priority lanes every lane still
    holds a whole request (a one-unit window of a slow venue, Kraken's 1000 ms, would admit
    nothing at all). The average rate is CCXT's either way."""
    ms = max(1.0, float(rate_limit_ms or 1000.0))
    window_s = max(1.0, ms * MIN_UNITS / 1000.0)
    return BucketSpec(RATE_BUCKET, BucketKind.SLIDING_WINDOW, max(1, int(window_s * 1000.0 / ms * MILLI)), window_s)


def native_buckets(venue_name: str) -> tuple[BucketSpec, ...] | None:
    """The native adapter's buckets of a venue that has a native spec (None otherwise)."""
    if venue_name == "binance":
        from venuelink.adapters.binance.spec import SPEC
    elif venue_name == "okx":
        from venuelink.adapters.okx.spec import SPEC
    else:
        return None
    return SPEC.buckets


def ccxt_rate_limit_ms(ccxt_id: str) -> float:
    """CCXT's ``rateLimit`` of an exchange (ms per cost unit); 1000 when it cannot be read."""
    try:
        import ccxt
        return float(getattr(ccxt, ccxt_id)().rateLimit or 1000.0)
    except Exception:                               # no such client: the worker will say so
        return 1000.0


def _api_name(api: Any) -> str:
    if isinstance(api, (list, tuple)):
        return str(api[0]) if api else ""
    return str(api or "")


def weights_for(venue_name: str, api: str, method: str, path: str, cost: float,
                market: str) -> tuple[dict[str, int], str | None]:
    """(bucket -> weight, instrument or None) of one CCXT REST request."""
    method = method.upper()
    if venue_name == "binance":
        from venuelink.adapters.binance.spec import ENDPOINTS
        if api in ("public", "private"):
            known = ENDPOINTS.get((method, "/api/v3/" + path))
            if known is not None:
                return dict(known[0]), None
        # CCXT's binance cost unit is 5 weight (rateLimit 50 ms against 6000 weight a minute)
        return {"REQUEST_WEIGHT": max(1, math.ceil(cost * 5 - 1e-9)), "RAW_REQUESTS_5M": 1}, None
    if venue_name == "okx":
        if api != "private":
            return {"PUBLIC_2S": 1}, None
        if path in ("trade/order", "trade/batch-orders") and market:
            return {"PLACE_2S": 1, "SUBACCOUNT_ORDERS_2S": 1}, market
        if path in ("trade/cancel-order", "trade/cancel-batch-orders") and market:
            return {"CANCEL_2S": 1}, market
        if path in ("trade/amend-order", "trade/amend-batch-orders") and market:
            return {"AMEND_2S": 1, "SUBACCOUNT_ORDERS_2S": 1}, market
        return {"PRIVATE_2S": 1}, None
    units = min(float(cost), MAX_COST_UNITS)
    return {RATE_BUCKET: max(1, math.ceil(units * MILLI - 1e-9))}, None


def connect_limit(venue_name: str) -> tuple[int, float]:
    """(new WebSocket connections, per seconds) the venue allows per IP: the native adapter's
    figure where there is one, else (0, 1.0): CCXT states none."""
    if venue_name == "binance":
        from venuelink.adapters.binance.spec import SPEC
    elif venue_name == "okx":
        from venuelink.adapters.okx.spec import SPEC
    else:
        return 0, 1.0
    return SPEC.max_connects, SPEC.connect_window_s


def ccxt_buckets(venue_name: str, ccxt_id: str) -> tuple[BucketSpec, ...]:
    return native_buckets(venue_name) or (rate_bucket(ccxt_rate_limit_ms(ccxt_id)),)


# ---------------------------------------------------------------------------- the gate
class BudgetGate:
    """The engine end of the workers' budget asks (one per ccxt-tier venue)."""

    def __init__(self, venue_name: str, budget: VenueBudget, breaker: CircuitBreaker,
                 pacer: ConnectPacer | None = None) -> None:
        self.venue = venue_name
        self.budget = budget
        self.breaker = breaker
        self.pacer = pacer if pacer is not None else ConnectPacer(*connect_limit(venue_name))
        self.connects = 0                   # WebSocket connections the worker's CCXT client opened
        self.url = ""
        self.asked = 0                      # requests the worker asked to send
        self.admitted = 0
        self.refused = 0                    # refused here: never sent
        self.venue_refusals = 0             # rate refusals the venue answered (reported by the worker)
        self._tokens: dict[str, tuple[Priority, SendWindow | None]] = {}
        self._refusals: dict[str, EngineError] = {}
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        if self._runner is None:
            app = web.Application()
            app.router.add_post("/acquire", self.h_acquire)
            app.router.add_post("/refused", self.h_refused)
            app.router.add_post("/connect", self.h_connect)
            # an ask whose worker hung up (it died, or its call was cancelled) stops waiting
            self._runner = web.AppRunner(app, handle_signals=False, access_log=None, handler_cancellation=True,
                                         shutdown_timeout=0.5)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
        return self.url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ---- dialect requests --------------------------------------------------------------------
    def register(self, priority: Priority) -> str:
        """A token for one dialect request made now: its REST requests get `priority` and the
        caller's send window (the order manager's deadline of a place)."""
        token = f"t{next(self._ids)}"
        self._tokens[token] = (priority, _send_window.get())
        return token

    def done(self, token: str) -> EngineError | None:
        """Forget `token`; the budget's refusal of one of its requests, if there was one."""
        self._tokens.pop(token, None)
        return self._refusals.pop(token, None)

    # ---- the worker's asks -------------------------------------------------------------------
    def _weights(self, ask: dict) -> tuple[dict[str, int], str | None]:
        return weights_for(self.venue, _api_name(ask.get("api")), str(ask.get("method") or "GET"),
                           str(ask.get("path") or ""), float(ask.get("cost") or 1.0), str(ask.get("market") or ""))

    async def h_acquire(self, request: web.Request) -> web.Response:
        ask = await request.json()
        token = str(ask.get("token") or "")
        priority, win = self._tokens.get(token, (Priority.QUERY, None))
        self.asked += 1
        try:
            weights, instrument = self._weights(ask)
            if win is not None:
                with send_window(win):
                    await self.budget.acquire(weights, priority, instrument=instrument)
            else:
                await self.budget.acquire(weights, priority, instrument=instrument)
        except (BudgetTimeout, CircuitOpen) as e:
            self.refused += 1
            if token in self._tokens:
                self._refusals[token] = e
            return web.json_response({"ok": False, "msg": str(e)})
        except ValueError as e:                 # a weight the budget cannot charge: not sent
            self.refused += 1
            return web.json_response({"ok": False, "msg": f"{self.venue}: {e}"})
        self.admitted += 1
        return web.json_response({"ok": True})

    async def h_connect(self, request: web.Request) -> web.Response:
        """The worker's CCXT client is about to open a WebSocket connection to the venue: it waits
        here for a slot of the venue's connection rate (Binance 300 per 5 min, OKX 3 a second)."""
        await self.pacer.acquire()
        self.connects += 1
        return web.json_response({"ok": True})

    async def h_refused(self, request: web.Request) -> web.Response:
        r = await request.json()
        self.rate_refused(r, int(r.get("http_status") or 0), float(r.get("retry_after_s") or 0.0),
                          str(r.get("msg") or ""))
        return web.json_response({"ok": True})

    def rate_refused(self, ask: dict, status: int, retry_after_s: float, msg: str) -> None:
        """The venue refused a request for rate reasons: as native, a ban blocks every lane until
        its end and opens the order breaker; a 429 blocks the budget until Retry-After (1 s
        without one)."""
        self.venue_refusals += 1
        if is_ban(status, msg):
            seconds = retry_after_s or BAN_DEFAULT_S
            self.budget.rate_refusals += 1
            self.budget.block(seconds, f"IP banned (HTTP {status or '?'}, ccxt)")
            self.breaker.failure(FailureKind.BANNED, open_for_s=seconds)
            log.warning("%s: the venue banned the ccxt tier's requests for %.0fs", self.venue, seconds)
            return
        try:
            weights, instrument = self._weights(ask)
            cost = self.budget.cost(weights, instrument)
        except ValueError:
            cost = None
        self.budget.rate_refused(cost, retry_after_s or 1.0, f"rate limited (HTTP {status or '?'}, ccxt)")
        log.warning("%s: the venue refused a ccxt-tier request for rate (HTTP %s); blocked %.1fs", self.venue,
                    status, retry_after_s or 1.0)
