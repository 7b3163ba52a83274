# SPDX-License-Identifier: Apache-2.0
"""The CCXT worker process of one venue (the dialect it serves: venuelink.ccxt_tier).

    python -m venuelink.ccxt_tier.worker --spec '{"exchange": "binance", "symbols": ["BTC/USDT"],
        "depth": 20, "hosts": {}, "isolate": false, "options": {}, "port": 0, "timeout_ms": 4000,
        "credentials": "stdin", "budget_url": "http://127.0.0.1:40001"}'

`hosts` maps an exchange host (as it appears in CCXT's ``exchange.urls``, e.g.
``api.binance.com`` or ``stream.binance.com:9443``; CCXT's ``{hostname}`` placeholder filled in
first, so OKX's REST host is ``www.okx.com``) to the base URL that replaces its scheme and
host, the path kept; with `isolate`, every other URL in ``exchange.urls`` goes to a closed local
port, so the worker can reach nothing but the mapped hosts. `options` are CCXT's own exchange
options. CCXT's throttler is off: pacing is the engine's business, not CCXT's. With
`budget_url` (the engine's gate, venuelink.ccxt_tier.gate) every REST request is asked for there
before it is sent, and a venue's rate refusal is reported there at once. `timeout_ms` is
CCXT's own deadline for every REST request (the tier's deadline).

With ``"credentials": "stdin"`` the worker reads one JSON line from its stdin before anything
else, ``{"apiKey": ..., "secret": ..., "password": ...}``, and serves order entry (``POST
/orders``). Credentials never travel on the command line, and the worker never logs them.
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import logging
import os
import signal
import socket
import sys
import time
from decimal import Decimal
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from venuelink.ccxt_tier.entry import LocalBudgetRefused, OrderDesk, _last_http, budget_token, record_http_status
from venuelink.ccxt_tier.errors import BAN_DEFAULT_S, TierConn, error_chain, failure_kind, is_ban, scrub
from venuelink.circuit import CircuitBreaker, CircuitState, FailureKind
from venuelink.ccxt_tier.grid import Grid, OffGrid, decimals, exact, snap_levels, step_of
from venuelink.ccxt_tier.audit import DEFAULT_AUDIT_S, LEVELS as AUDIT_LEVELS, BookAudit
from venuelink.ccxt_tier.snapshots import BRIDGES
from venuelink.ccxt_tier.taps import Verdict, tap_for
from venuelink.ccxt_tier.wire import encode_book
from venuelink.ext.histogram import Histogram

log = logging.getLogger("venuelink.ccxt_worker")
BACKOFF_MIN_S, BACKOFF_MAX_S = 0.25, 5.0
RECENT_TRADE_IDS = 2000
TRADES_LIMIT = 10_000       # CCXT's trade cache per symbol (its default 1000): room for a slow read
#: exchanges whose public trades name the maker's side, which CCXT passes on as it is: the tier
#: hands out the taker's (Coinbase Advanced Trade market_trades, as its Exchange feed before it)
MAKER_SIDE_TRADES = frozenset({"coinbase"})
STREAM_SETTLE_S = 1.0
WORKER_NICE = 10            # the worker's CPU priority below the engine's (os.nice increment)
UNWATCH_TIMEOUT_S = 2.0     # an unsubscribe not acknowledged by then: the connection is closed instead       # a private watch waiting this long without an error counts as up
#: each connection type's breaker: (consecutive failures that open it, first cooldown, longest
#: cooldown in s). Public watches share a connection, so one drop fails several at once; the
#: REST one holds the markets load at start and the silence probes, so its longest wait is short
BREAKERS: dict[TierConn, tuple[int, float, float]] = {
    TierConn.PUBLIC: (5, 1.0, 60.0),
    TierConn.PRIVATE: (3, 1.0, 60.0),
    TierConn.REST: (5, 2.0, 30.0),
}
BAN_S = 120.0               # a ban that names no length keeps its breaker open this long
GATE_POLL_S = (0.05, 0.25)  # a watch kept out by an open breaker looks again within these bounds
OWN_CLOSE_GRACE_S = 1.0     # watches failing this soon after the worker closed a connection itself: no verdict


def rewrite_urls(urls, hosts: dict[str, str], closed: str | None):
    """`urls` with every URL of a mapped host moved to its base URL (path and query kept) and,
    when `closed` is given, every other URL to that closed local address. A WebSocket URL stays a
    WebSocket URL, with or without TLS as the mapping's base says (a venue serving REST and
    WebSocket on one host, as Deribit does, needs one mapping)."""
    if isinstance(urls, dict):
        return {k: rewrite_urls(v, hosts, closed) for k, v in urls.items()}
    if isinstance(urls, list):
        return [rewrite_urls(v, hosts, closed) for v in urls]
    if not isinstance(urls, str) or "://" not in urls:
        return urls
    p = urlsplit(urls)
    base = hosts.get(p.netloc)
    if base is None:
        if closed is None:
            return urls
        base = ("ws" if p.scheme in ("ws", "wss") else "http") + "://" + closed
    b = urlsplit(base if "://" in base else "http://" + base)
    tls = b.scheme in ("https", "wss")
    scheme = ("wss" if tls else "ws") if p.scheme in ("ws", "wss") else ("https" if tls else "http")
    return f"{scheme}://{b.netloc}{b.path.rstrip('/')}{p.path}" + ("?" + p.query if p.query else "")


def fill_hostname(urls, hostname: str | None):
    """`urls` with CCXT's ``{hostname}`` placeholder (OKX's ``https://{hostname}``) replaced by the
    exchange's hostname, so a host can be mapped by the name it really has (``www.okx.com``)."""
    if isinstance(urls, dict):
        return {k: fill_hostname(v, hostname) for k, v in urls.items()}
    if isinstance(urls, list):
        return [fill_hostname(v, hostname) for v in urls]
    if isinstance(urls, str) and hostname and "{hostname}" in urls:
        return urls.replace("{hostname}", hostname)
    return urls


def market_of(params) -> str:
    """The venue's instrument id a request names (OKX ``instId``, else ``symbol``), or ""."""
    if isinstance(params, list):
        params = params[0] if params else {}
    if not isinstance(params, dict):
        return ""
    return str(params.get("instId") or params.get("symbol") or "")


def closed_port() -> tuple[socket.socket, str]:
    """A local address that refuses every connection: a socket bound and never listening (held
    for the life of the process, so no one else can take the port)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    return s, f"127.0.0.1:{s.getsockname()[1]}"


def instrument_of(m: dict, decimal_places: bool, significant: bool = False) -> dict:
    """One CCXT market as an instruments-answer entry (raises OffGrid when its tick or lot is
    not known exactly). `significant`: CCXT states prices in significant digits (Bitfinex: 5,
    and at most 8 decimals): the tick is the market's least price (CCXT's price limit, a power
    of ten), every price must also have at most that many significant digits (``px_sig``), and
    amounts are in decimal places."""
    prec = m.get("precision") or {}
    limits = m.get("limits") or {}
    px_sig = 0
    if significant:
        px_sig = int(exact(prec.get("price")))
        tick = exact((limits.get("price") or {}).get("min"))
        if px_sig <= 0 or tick <= 0 or tick != Decimal(1).scaleb(tick.adjusted()):
            raise OffGrid(f"significant digits {prec.get('price')!r} with least price {tick}: no exact grid")
        lot = step_of(prec.get("amount"), True)
    else:
        tick = step_of(prec.get("price"), decimal_places)
        lot = step_of(prec.get("amount"), decimal_places)
    min_qty = (limits.get("amount") or {}).get("min")
    cs = m.get("contractSize") if m.get("contract") else None
    # CCXT's cost limit is price x amount in the quote currency; for contracts it counts the
    # contract size too, which the engine's check leaves to the venue
    min_cost = None if cs else (limits.get("cost") or {}).get("min")
    return {"symbol": m["symbol"], "id": m.get("id", ""), "type": m.get("type") or "spot",
            "base": m.get("base") or "", "quote": m.get("quote") or "", "settle": m.get("settle") or "",
            "tick": format(tick, "f"), "lot": format(lot, "f"),
            "min_qty": format(exact(min_qty), "f") if min_qty else "",
            "contract_size": format(exact(cs), "f") if cs else "",
            "min_notional": format(exact(min_cost), "f") if min_cost else "",
            "px_sig": px_sig,
            "active": m.get("active") is not False}


class Worker:
    def __init__(self, spec: dict, credentials: dict | None = None, *, clock=time.monotonic) -> None:
        """`clock`: the breakers' clock (tests step it)."""
        self.spec = spec
        self._credentials = credentials
        self.desk: OrderDesk | None = None
        self.symbols: list[str] = list(spec["symbols"])
        self.depth = int(spec.get("depth", 20))
        self.exchange = None
        self.instruments: list[dict] = []
        self.grids: dict[str, Grid] = {}
        self.books: dict[str, dict] = {}            # symbol -> latest valid book frame
        self.clients: dict[web.WebSocketResponse, set[str]] = {}
        self.recent_ids: dict[str, tuple[collections.deque, set]] = {}
        self.trade_symbols: set[str] = set()        # symbols whose trades are watched
        self.banned_until = 0.0                     # monotonic: the venue banned this host's requests until then
        self.trade_last: dict[str, dict] = {}       # symbol -> the newest trade taken from CCXT's cache
        self.unnamed_trades: dict[str, int] = {}    # symbol -> trades numbered here (the venue sent no id)
        self.stats = collections.Counter()
        self.watch_up: dict[str, bool] = {}         # private watch -> up
        self.backing_off: set[str] = set()          # watches waiting to be made again after a failure
        self.handler_ns = Histogram()               # per venue message: the tap and CCXT's handler, since the last /stats
        self.book_tasks: dict[str, asyncio.Task] = {}
        self.resyncing: set[str] = set()            # symbols whose book failed a tap's check: no books until a snapshot
        audit_s = spec.get("audit_s")
        self.audit_s = float(DEFAULT_AUDIT_S.get(spec["exchange"], 0.0) if audit_s is None or audit_s < 0 else audit_s)
        self.audit = BookAudit(margin_s=float(spec.get("audit_margin_s", 2.0))) if self.audit_s > 0 else None
        self._closed_sock = None
        self._tasks: set[asyncio.Task] = set()     # running background work (done ones drop out)
        self.clock = clock
        self.closed_own_at = float("-inf")         # (breaker clock) when the worker last closed a connection for a resync
        # one breaker per connection type in use (the private one once its stream is watched)
        self.breakers: dict[TierConn, CircuitBreaker] = {c: self.new_breaker(c) for c in (TierConn.PUBLIC, TierConn.REST)}

    # ---- circuit breakers ------------------------------------------------------------------
    def new_breaker(self, conn: TierConn) -> CircuitBreaker:
        threshold, cooldown, longest = BREAKERS[conn]
        return CircuitBreaker(f"{self.spec['exchange']}/{conn.value}", failure_threshold=threshold,
                              cooldown_s=cooldown, max_cooldown_s=longest, clock=self.clock)

    async def admitted(self, conn: TierConn, watch: str) -> bool:
        """Waits until `conn`'s breaker lets this (re)watch go; True when it goes as the
        half-open breaker's one probe. While kept out the watch counts as failing."""
        br = self.breakers[conn]
        if not br.allow():
            self.stats[f"{conn.value}_gated"] += 1
            self.backing_off.add(watch)
            try:
                while not br.allow():
                    await asyncio.sleep(min(max(br.retry_in(), GATE_POLL_S[0]), GATE_POLL_S[1]))
            finally:
                self.backing_off.discard(watch)
        return br.holds_probe

    def breaker_ok(self, conn: TierConn) -> None:
        """A watch or call of `conn` worked: its breaker closes (cheap while it is closed and clean)."""
        br = self.breakers[conn]
        if br.state != CircuitState.CLOSED or br.failures or br.last_failure is not None:
            if br.state != CircuitState.CLOSED:
                log.info("%s breaker closed", conn.value)
            br.success()

    def breaker_failed(self, conn: TierConn, e: BaseException) -> FailureKind | None:
        """A watch or call of `conn` failed with CCXT's `e`: classified by the tier's table
        (venuelink.ccxt_tier.errors.failure_kind); no verdict gives a half-open probe's slot back.
        A watch failing right after the worker closed a connection itself (a resync) is no news."""
        br = self.breakers[conn]
        box = _last_http.get() or {}
        kind = failure_kind(error_chain(e), str(e), int(box.get("http_status") or 0))
        if conn != TierConn.REST and self.clock() - self.closed_own_at < OWN_CLOSE_GRACE_S:
            kind = None
        if kind is None:
            br.release()
            return None
        was = br.state
        if kind == FailureKind.BANNED:
            br.failure(kind, open_for_s=float(box.get("retry_after_s") or 0.0) or BAN_S)
        else:
            br.failure(kind)
        if br.state == CircuitState.OPEN and was != CircuitState.OPEN:
            log.warning("%s breaker open for %.1fs (%s)", conn.value, br.retry_in(), kind.name)
        return kind

    def breaker_report(self) -> dict[str, dict]:
        """Each breaker's state for /stats (the engine side: CcxtAdapter.breaker_health)."""
        return {c.value: {"state": int(br.state), "health": int(br.health),
                          "last_failure": int(br.last_failure) if br.last_failure is not None else 0,
                          "failures": br.failures, "opens": br.opens, "closes": br.closes,
                          "probes_lost": br.probes_lost, "retry_in_s": round(br.retry_in(), 3)}
                for c, br in self.breakers.items()}

    # ---- CCXT ------------------------------------------------------------------------------
    def make_exchange(self):
        import ccxt.pro as ccxtpro
        cls = getattr(ccxtpro, self.spec["exchange"], None)
        if cls is None:
            raise SystemExit(f"ccxt.pro has no exchange {self.spec['exchange']!r}")
        # an all-symbols open-orders query is asked knowingly (Engine.open_orders(venue)); its
        # higher weight is charged to the engine's budget like any other cost
        options = {"tradesLimit": TRADES_LIMIT, "warnOnFetchOpenOrdersWithoutSymbol": False,
                   **dict(self.spec.get("options") or {})}
        config = {"enableRateLimit": False, "newUpdates": True, "options": options}
        if self.spec.get("timeout_ms"):
            config["timeout"] = int(self.spec["timeout_ms"])
        ex = cls(config)
        closed = None
        if self.spec.get("isolate"):
            self._closed_sock, closed = closed_port()
        hosts = self.spec.get("hosts") or {}
        if hosts or closed:
            ex.urls = rewrite_urls(fill_hostname(ex.urls, getattr(ex, "hostname", None)), hosts, closed)
        record_http_status(ex)
        if self.spec.get("budget_url"):
            self.charge_requests(ex, self.spec["budget_url"])
        self.install_tap(ex)
        return ex

    def install_tap(self, ex) -> None:
        """Every decoded message goes through the exchange's raw-frame checks (venuelink.ccxt_tier.taps)
        before CCXT's own handler, and CCXT's handler is guarded: CCXT binds it to each connection
        when it opens one, so this runs before any.

        An exception out of CCXT's handler (its ChecksumError on a Crypto.com sequence break, a
        message it cannot read) would end the connection's receive loop while the socket stays
        open: every watch on it would hang until a keepalive timeout. Here it is counted, every
        watch on that connection fails at once (its books are invalidated by the watch loops)
        and the connection is closed, so the watches start over with new snapshots.

        Where the venue no longer sends a book's snapshot in-band but CCXT's client waits for one
        (OKX's ``books`` since August 2026), a bridge (venuelink.ccxt_tier.snapshots) holds the
        first updates, gets the snapshot from REST and feeds it through here before them."""
        tap = tap_for(self.spec["exchange"], lambda symbol: self.grids.get(symbol))
        inner = ex.handle_message

        def handle_message(client, message):
            t0 = time.perf_counter_ns()
            try:
                return checked(client, message)
            finally:
                self.handler_ns.record(time.perf_counter_ns() - t0)
                self.stats["messages"] += 1

        def run_tap(client, message) -> None:
            try:
                verdicts = tap.on_message(message, client)
            except Exception as e:          # left to CCXT; counted
                self.stats["tap_unreadable"] += 1
                log.debug("tap: a message could not be read: %s", type(e).__name__)
                verdicts = []
            for v in verdicts:
                self.on_verdict(v)

        # a binary message CCXT decodes itself (MEXC's protobuf) reaches the tap decoded, once
        inner_pb = getattr(ex, "handle_protobuf_message", None) if tap is not None else None
        if inner_pb is not None:
            def handle_protobuf_message(client, message):
                run_tap(client, message)
                return inner_pb(client, message)
            ex.handle_protobuf_message = handle_protobuf_message

        def fed(client, message):
            if tap is not None and not (inner_pb is not None and isinstance(message, (bytes, bytearray))):
                run_tap(client, message)
            try:
                out = inner(client, message)
            except Exception as e:
                self.on_handler_error(client, e)
                return None
            self.capture_trades()
            return out

        # where the venue no longer sends a book's snapshot in-band, CCXT's client gets one from REST
        make_bridge = BRIDGES.get(self.spec["exchange"])
        bridge = make_bridge(ex, fed, self.spawn, self.stats) if make_bridge is not None else None

        def checked(client, message):
            if bridge is not None and not bridge.admit(client, message):
                return None
            return fed(client, message)

        ex.handle_message = handle_message

    def on_handler_error(self, client, e: Exception) -> None:
        from ccxt.base.errors import NetworkError
        self.stats["handler_errors"] += 1
        log.warning("CCXT's message handler failed (%s: %s): the connection is closed and watched anew",
                    type(e).__name__, scrub(str(e))[:200])
        client.reset(NetworkError(f"CCXT's message handler failed: {type(e).__name__}"))

        async def close() -> None:
            with contextlib.suppress(Exception):
                await client.close()
        self.spawn(close())

    def on_verdict(self, v: Verdict) -> None:
        symbol = self.exchange.safe_symbol(v.market_id) if self.exchange is not None else v.market_id
        if symbol not in self.grids:
            return
        if v.ok:
            self.resyncing.discard(symbol)
            return
        self.stats["tap_failures"] += 1
        log.warning("%s: %s: resubscribing the book", symbol, v.reason)
        self.invalidate(symbol, v.reason)
        if symbol not in self.resyncing:
            self.resyncing.add(symbol)
            self.spawn(self.resubscribe(symbol))

    def spawn(self, coro) -> asyncio.Task:
        """Background work of the worker, cancelled when it stops; a finished task is let go, so a
        worker that resyncs for weeks does not keep every task it ever ran."""
        return self._keep(asyncio.ensure_future(coro))

    def _keep(self, t: asyncio.Task) -> asyncio.Task:
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)
        return t

    async def resubscribe(self, symbol: str) -> None:
        """CCXT drops its book of `symbol` and asks the venue again (a new snapshot): the book's
        watch is stopped, CCXT's unwatch sent where it has one (else the connection carrying the
        book is closed, so every watch on it starts over), and a new watch started, whose first
        book ends the resync."""
        self.stats["resubscribes"] += 1
        task = self.book_tasks.pop(symbol, None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        try:
            if self.exchange.has.get("unWatchOrderBook"):
                await asyncio.wait_for(self.exchange.un_watch_order_book(symbol), UNWATCH_TIMEOUT_S)
            else:
                raise NotImplementedError("no unwatch")
        except Exception as e:
            log.info("%s: unwatch: %s: closing its connection", symbol, type(e).__name__)
            for client in list(self.exchange.clients.values()):
                if any(symbol in str(h) for h in list(client.futures) + list(client.subscriptions)):
                    self.closed_own_at = self.clock()
                    with contextlib.suppress(Exception):
                        await client.close()
        # not every exchange's unwatch forgets its book (Deribit's does not, and CCXT applies the
        # new subscription's snapshot onto the old levels as changes): the next watch starts empty
        self.exchange.orderbooks.pop(symbol, None)
        self.start_book_watch(symbol, fresh=True)

    def start_book_watch(self, symbol: str, fresh: bool = False) -> None:
        t = asyncio.ensure_future(self.watch_books(symbol, fresh))
        self.book_tasks[symbol] = t
        self._keep(t)

    def charge_requests(self, ex, budget_url: str) -> None:
        """Every REST request of `ex` goes through CCXT's one request path (``fetch2``): ask the
        engine's budget before it is sent (venuelink.ccxt_tier.gate), and tell the engine at once
        when the venue refuses it for rate."""
        import aiohttp
        from ccxt.base.errors import DDoSProtection
        inner = ex.fetch2
        http: list[aiohttp.ClientSession] = []

        async def post(what: str, body: dict) -> dict:
            if not http:
                http.append(aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)))
            async with http[0].post(budget_url + what, json=body) as r:
                return await r.json()

        self.pace_connects(ex, post)

        async def fetch2(path, api="public", method="GET", params=None, config=None, *more):
            params = {} if params is None else params
            config = {} if config is None else config
            ask = {"token": budget_token.get(), "api": api if isinstance(api, str) else list(api),
                   "method": method, "path": path, "market": market_of(params)}
            try:
                ask["cost"] = float(ex.calculate_rate_limiter_cost(api, method, path, params, config) or 1)
            except Exception:
                ask["cost"] = 1.0
            try:
                answer = await post("/acquire", ask)
            except asyncio.CancelledError:
                raise
            except Exception as e:          # the engine cannot be asked: nothing goes out
                raise LocalBudgetRefused(f"the engine's rate budget cannot be reached ({type(e).__name__})") from None
            if not answer.get("ok"):
                self.stats["budget_refused"] += 1
                raise LocalBudgetRefused(str(answer.get("msg") or "refused by the engine's rate budget"))
            self.stats["budget_admitted"] += 1
            # admitted before a ban was known, but not sent yet: once the venue has banned this
            # host, nothing more goes out until the ban's end (the engine's budget holds the rest)
            if time.monotonic() < self.banned_until:
                self.stats["held_by_ban"] += 1
                raise LocalBudgetRefused("the venue banned this host's requests; not sent")
            box = _last_http.get()
            if box is None:
                box = {}
                _last_http.set(box)
            box.pop("http_status", None)
            box.pop("retry_after_s", None)
            try:
                return await inner(path, api, method, params, config, *more)
            except Exception as e:
                status = int(box.get("http_status") or 0)
                if isinstance(e, DDoSProtection) or status in (418, 429):
                    self.stats["rate_refused"] += 1
                    if is_ban(status, str(e)):
                        ban_s = float(box.get("retry_after_s") or 0.0) or BAN_DEFAULT_S
                        self.banned_until = max(self.banned_until, time.monotonic() + ban_s)
                    with contextlib.suppress(Exception):
                        await post("/refused", {**ask, "http_status": status, "msg": scrub(str(e))[:300],
                                                "retry_after_s": float(box.get("retry_after_s") or 0.0)})
                raise

        ex.fetch2 = fetch2
        self._budget_http = http

    def pace_connects(self, ex, post) -> None:
        """Every WebSocket connection CCXT opens waits for the engine's pacing of the venue's
        connection rate first (the gate's ``/connect``); an engine that cannot be asked fails
        the connect, as an unreachable venue would (CCXT retries it)."""
        from ccxt.base.errors import NetworkError
        inner_client = ex.client

        def client(url):
            c = inner_client(url)
            if getattr(c, "_vl_paced", False):
                return c
            c._vl_paced = True
            inner_open = c.open

            async def open(session, backoff_delay=0):
                if backoff_delay:
                    await asyncio.sleep(backoff_delay)
                try:
                    await post("/connect", {"url": url.split("?", 1)[0]})
                except asyncio.CancelledError:
                    raise
                except Exception as e:
                    self.stats["connects_refused"] += 1
                    c.on_error(NetworkError(f"the engine's connection pacing cannot be reached ({type(e).__name__})"))
                    return
                self.stats["connects"] += 1
                return await inner_open(session, 0)

            c.open = open
            return c

        ex.client = client

    async def load_markets(self, retry: bool = True) -> None:
        """CCXT's markets as the dialect's instruments; again with backoff until it works (or,
        without `retry`, the first failure raises)."""
        from ccxt.base.decimal_to_precision import DECIMAL_PLACES, SIGNIFICANT_DIGITS, TICK_SIZE
        delay = BACKOFF_MIN_S
        while True:
            probe = await self.admitted(TierConn.REST, "markets")
            try:
                markets = await self.exchange.load_markets()
                self.breaker_ok(TierConn.REST)
                break
            except asyncio.CancelledError:
                if probe:
                    self.breakers[TierConn.REST].release()
                raise
            except Exception as e:
                self.stats["markets_errors"] += 1
                self.breaker_failed(TierConn.REST, e)
                if not retry:
                    raise
                log.warning("load_markets failed: %s: %s", type(e).__name__, scrub(str(e)))
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX_S)
        mode = self.exchange.precisionMode
        if mode not in (TICK_SIZE, DECIMAL_PLACES, SIGNIFICANT_DIGITS):
            raise SystemExit(f"{self.spec['exchange']}: CCXT's precision mode {mode!r} is not known here")
        out = []
        for m in markets.values():
            try:
                out.append(instrument_of(m, mode == DECIMAL_PLACES, mode == SIGNIFICANT_DIGITS))
            except (OffGrid, KeyError, TypeError) as e:
                self.stats["markets_skipped"] += 1
                log.debug("market %s left out: %s", m.get("symbol"), e)
        self.instruments = out
        by = {i["symbol"]: i for i in out}
        missing = [s for s in self.symbols if s not in by]
        if missing:
            raise SystemExit(f"{self.spec['exchange']}: no such market (or no exact tick/lot): {missing}")
        self.grids = {s: Grid(by[s]["tick"], by[s]["lot"], by[s]["px_sig"]) for s in self.symbols}

    async def watch_books(self, symbol: str, fresh: bool = False) -> None:
        """`fresh`: a resync's new watch (its first book ends the resync)."""
        delay = BACKOFF_MIN_S
        grid = self.grids[symbol]
        rewatched = fresh
        _last_http.set({})                  # the HTTP status of CCXT's REST calls for this watch (a ban's)
        while True:
            # a watch made again (after a failure, or a resync's) waits for the public breaker
            probe = await self.admitted(TierConn.PUBLIC, f"book:{symbol}") if rewatched else False
            try:
                ob = await self.watch(TierConn.PUBLIC, self.exchange.watch_order_book(symbol), probe)
                delay = BACKOFF_MIN_S
            except asyncio.CancelledError:
                if probe:
                    self.breakers[TierConn.PUBLIC].release()
                raise
            except Exception as e:
                self.stats["book_watch_errors"] += 1
                log.warning("%s: watch_order_book failed: %s: %s", symbol, type(e).__name__, e)
                self.breaker_failed(TierConn.PUBLIC, e)
                if symbol not in self.resyncing:     # a resync's own unwatch is no news to the engine
                    self.invalidate(symbol, f"the exchange's book stream failed: {type(e).__name__}")
                rewatched = True
                await self.backoff(f"book:{symbol}", delay)
                delay = min(delay * 2, BACKOFF_MAX_S)
                continue
            if rewatched:                   # the first book of a new subscription: a snapshot
                rewatched = False
                self.resyncing.discard(symbol)
                if self.audit is not None:
                    self.audit.reset(symbol)
            self.on_book(symbol, grid, ob)

    async def watch(self, conn: TierConn, call, probe: bool):
        """CCXT's watch `call` awaited; it closes `conn`'s breaker when it returns, or, as a
        half-open probe, once it has waited STREAM_SETTLE_S without an error (a quiet market's
        trade watch may not return for long)."""
        if not probe:
            out = await call
            self.breaker_ok(conn)
            return out
        task = asyncio.ensure_future(call)
        try:
            done, _ = await asyncio.wait({task}, timeout=STREAM_SETTLE_S)
            if not done:
                self.breaker_ok(conn)
            out = await task
        except asyncio.CancelledError:
            task.cancel()
            raise
        self.breaker_ok(conn)
        return out

    async def backoff(self, watch: str, delay: float) -> None:
        """A failed watch waits before it is made again (``backing_off`` says which are waiting)."""
        self.backing_off.add(watch)
        try:
            await asyncio.sleep(delay)
        finally:
            self.backing_off.discard(watch)

    def request_resync(self, symbol: str) -> None:
        """The engine asked for a new snapshot (it subscribed the book topic again): the cached
        book is not handed out, CCXT subscribes the book again, and its next snapshot is the
        answer. Handing back the cached book would confirm the very stream in doubt."""
        self.stats["resyncs_asked"] += 1
        self.books.pop(symbol, None)
        if symbol not in self.resyncing:
            self.resyncing.add(symbol)
            self.spawn(self.resubscribe(symbol))

    async def h_probe(self, request: web.Request) -> web.Response:
        """The exchange's REST book of a symbol, snapped to its grid (the engine's data-silence
        watch compares a quiet book with it): the venue's answer, never the worker's own copy."""
        symbol = request.query.get("symbol", "")
        grid = self.grids.get(symbol)
        if grid is None:
            return web.json_response({"error": f"unknown symbol {symbol!r}"}, status=404)
        self.stats["probes"] += 1
        br = self.breakers[TierConn.REST]
        if not br.allow():                  # the venue's REST is failing: not asked until the cooldown ends
            self.stats["probes_gated"] += 1
            kind = br.last_failure.name if br.last_failure is not None else ""
            return web.json_response({"error": f"circuit open ({kind}), retry in {br.retry_in():.1f}s"}, status=503)
        probe = br.holds_probe
        try:
            ob = await self.exchange.fetch_order_book(symbol, self.depth)
            self.breaker_ok(TierConn.REST)
        except Exception as e:
            self.stats["probes_failed"] += 1
            self.breaker_failed(TierConn.REST, e)
            return web.json_response({"error": f"{type(e).__name__}: {scrub(str(e))[:200]}"}, status=503)
        finally:
            if probe and br.holds_probe:    # ended without a verdict (cancelled)
                br.release()
        bids, bad_b = snap_levels(ob["bids"], grid, self.depth)
        asks, bad_a = snap_levels(ob["asks"], grid, self.depth)
        if bad_b or bad_a:
            self.stats["off_grid"] += len(bad_b) + len(bad_a)
            return web.json_response({"error": f"off the grid: {(bad_b + bad_a)[0]}"}, status=503)
        return web.json_response({"type": "book", "symbol": symbol, "ts": int(ob.get("timestamp") or 0),
                                  "bids": bids, "asks": asks})

    async def audit_books(self) -> None:
        """Each symbol's stream book held against the venue's REST book every `audit_s`
        (venuelink.ccxt_tier.audit), the symbols spread over the period; a REST request the budget
        or the REST breaker holds back is skipped (counted), never waited for."""
        assert self.audit is not None
        audit = self.audit
        while True:
            for symbol in self.symbols:
                await asyncio.sleep(self.audit_s / len(self.symbols))
                if symbol not in self.books or symbol in self.resyncing or not audit.ready(symbol):
                    continue
                br = self.breakers[TierConn.REST]
                if not br.allow():
                    self.stats["audits_gated"] += 1
                    continue
                probe = br.holds_probe
                asked_at = audit.clock()
                try:
                    rest = await self.exchange.fetch_order_book(symbol, AUDIT_LEVELS)
                    self.breaker_ok(TierConn.REST)
                except asyncio.CancelledError:
                    if probe and br.holds_probe:
                        br.release()
                    raise
                except Exception as e:
                    self.stats["audits_failed"] += 1
                    if not isinstance(e, LocalBudgetRefused):
                        self.breaker_failed(TierConn.REST, e)
                    elif probe and br.holds_probe:
                        br.release()
                    continue
                await asyncio.sleep(audit.margin_s)
                self.stats["audits"] += 1
                reason = audit.compare(symbol, rest, asked_at)
                if reason and symbol in self.books and symbol not in self.resyncing:
                    self.stats["audit_failures"] += 1
                    log.warning("%s: %s: resubscribing the book", symbol, reason)
                    self.invalidate(symbol, reason)
                    self.resyncing.add(symbol)
                    self.spawn(self.resubscribe(symbol))

    def on_book(self, symbol: str, grid: Grid, ob: dict) -> None:
        if symbol in self.resyncing:        # a check failed: nothing until its new snapshot
            self.stats["books_held"] += 1
            return
        bids, bad_b = snap_levels(ob["bids"], grid, self.depth)
        asks, bad_a = snap_levels(ob["asks"], grid, self.depth)
        bad = bad_b + bad_a
        if bad:
            self.stats["off_grid"] += len(bad)
            self.invalidate(symbol, f"{len(bad)} value(s) off the grid: {bad[0]}", off_grid=len(bad))
            return
        if self.audit is not None:
            self.audit.observe(symbol, ob)
        frame = {"type": "book", "symbol": symbol, "ts": int(ob.get("timestamp") or 0), "bids": bids, "asks": asks}
        self.books[symbol] = frame
        self.stats["books"] += 1
        self.send(f"book:{symbol}", encode_book(symbol, frame["ts"], grid.px_decimals, grid.qty_decimals, bids, asks))

    def invalidate(self, symbol: str, reason: str, off_grid: int = 0) -> None:
        """No valid book of `symbol` until the next good one: the engine hears it at once."""
        self.books.pop(symbol, None)
        if self.audit is not None:
            self.audit.reset(symbol)
        self.stats["invalid"] += 1
        self.send(f"book:{symbol}", json.dumps({"type": "invalid", "symbol": symbol, "reason": reason,
                                                "off_grid": off_grid}))

    async def watch_trades(self, symbol: str) -> None:
        """Keeps CCXT's trade watch of `symbol` going. Trades are taken from CCXT's cache right
        after each venue message is handled (``capture_trades``), so none depends on a watch being
        awaited at that moment; where an exchange keeps no cache under the symbol, what the watch
        hands over is used, and trades CCXT's count says it dropped are reported."""
        delay = BACKOFF_MIN_S
        self.trade_symbols.add(symbol)
        rewatched = False
        _last_http.set({})
        while True:
            probe = await self.admitted(TierConn.PUBLIC, f"trades:{symbol}") if rewatched else False
            try:
                trades = await self.watch(TierConn.PUBLIC, self.exchange.watch_trades(symbol), probe)
                delay = BACKOFF_MIN_S
                rewatched = False
            except asyncio.CancelledError:
                if probe:
                    self.breakers[TierConn.PUBLIC].release()
                raise
            except Exception as e:
                self.stats["trade_watch_errors"] += 1
                log.warning("%s: watch_trades failed: %s: %s", symbol, type(e).__name__, e)
                self.breaker_failed(TierConn.PUBLIC, e)
                rewatched = True
                await self.backoff(f"trades:{symbol}", delay)
                delay = min(delay * 2, BACKOFF_MAX_S)
                continue
            self.capture_trades()           # (an exchange may add to its cache after its handler returned)
            if symbol in self.trade_last:
                continue                    # taken from the cache
            self.check_overflow(symbol, len(trades))
            self.emit_trades(symbol, trades)

    def capture_trades(self) -> None:
        """After each venue message: the trades CCXT has added to a watched symbol's cache since
        the last look, walked back from its newest to the newest one already taken (by identity:
        CCXT keeps the objects it parsed). CCXT's own hand-over can skip some: Deribit's client
        makes a new cache per message, so a second message handled before the watch is awaited
        again replaced the first one's trades, which were never handed out."""
        caches = getattr(self.exchange, "trades", None)
        if not caches or not self.trade_symbols:
            return
        for symbol in self.trade_symbols:
            cache = caches.get(symbol)
            if not isinstance(cache, list) or not cache:
                continue
            newest, last = cache[-1], self.trade_last.get(symbol)
            if newest is last:
                continue
            fresh = []
            for t in reversed(cache):
                if t is last:
                    break
                fresh.append(t)
            self.trade_last[symbol] = newest
            fresh.reverse()
            self.emit_trades(symbol, fresh, captured=True)

    def emit_trades(self, symbol: str, trades: list, captured: bool = False) -> None:
        """Trades to the engine, each once (by id), on the symbol's grid, sides the taker's.
        Captured trades are each new by construction (taken from the cache once), so a venue
        whose public trades carry no id (MEXC's deals) gets one here: its exchange time in ms,
        '-' and a running count of such trades of the symbol."""
        grid = self.grids[symbol]
        ids, seen = self.recent_ids.setdefault(symbol, (collections.deque(), set()))
        flip = self.spec["exchange"] in MAKER_SIDE_TRADES
        for t in trades:
            tid, side = t.get("id"), t.get("side")
            if tid is None and captured:
                n = self.unnamed_trades[symbol] = self.unnamed_trades.get(symbol, 0) + 1
                tid = f"{int(t.get('timestamp') or 0)}-{n}"
            if flip and side in ("buy", "sell"):
                side = "sell" if side == "buy" else "buy"       # the taker is the maker's other side
            if tid is None or side not in ("buy", "sell"):
                self.stats["trades_unusable"] += 1         # no id to dedupe by, or no taker side
                continue
            tid = str(tid)
            if tid in seen:
                self.stats["trades_repeated"] += 1
                continue
            try:
                px, sz = grid.price(t.get("price")), grid.size(t.get("amount"))
            except OffGrid as e:
                self.stats["off_grid"] += 1
                self.stats["trades_off_grid"] += 1
                log.warning("%s: trade %s dropped: %s", symbol, tid, e)
                continue
            seen.add(tid)
            ids.append(tid)
            if len(ids) > RECENT_TRADE_IDS:
                seen.discard(ids.popleft())
            self.stats["trades"] += 1
            self.send(f"trades:{symbol}", json.dumps(
                {"type": "trade", "symbol": symbol, "id": tid, "side": side, "price": px, "size": sz,
                 "ts": int(t.get("timestamp") or 0)}, separators=(",", ":")))

    def check_overflow(self, symbol: str, got: int) -> int:
        """CCXT keeps the last ``tradesLimit`` trades of a symbol and hands a lagging consumer only
        those: what it counted as new since the last call beyond what it handed over is lost.
        Read right after the call returns (nothing ran in between), counted, logged and told to
        the engine, never silent."""
        cache = (getattr(self.exchange, "trades", None) or {}).get(symbol)
        counts = getattr(cache, "_new_updates_by_symbol", None)
        new = counts.get(symbol, got) if isinstance(counts, dict) else got
        lost = max(0, int(new) - got)
        if lost:
            self.stats["trades_lost"] += lost
            log.warning("%s: %d trade(s) dropped by CCXT's trade cache before they could be read", symbol, lost)
            self.send(f"trades:{symbol}", json.dumps({"type": "trades_lost", "symbol": symbol, "count": lost}))
        return lost

    # ---- private stream ------------------------------------------------------------------------
    @property
    def private_stream(self) -> bool:
        """Orders and fills are pushed: credentials, and CCXT watches the exchange's orders."""
        return self.desk is not None and bool(self.exchange.has.get("watchOrders"))

    def stream_state(self, what: str, up: bool, reason: str = "") -> None:
        """One private watch (``orders`` or ``fills``) went up or down: the engine hears it on the
        ``orders`` topic, and the stream is up while every watch is."""
        was = self.private_up()
        self.watch_up[what] = up
        now = self.private_up()
        if now != was:
            self.stats["stream_ups" if now else "stream_downs"] += 1
            self.send("orders", json.dumps({"type": "stream", "up": now, "reason": reason}))

    def private_up(self) -> bool:
        return bool(self.watch_up) and all(self.watch_up.values())

    async def watch_private(self, what: str) -> None:
        """CCXT's watch_orders (``orders``) or watch_my_trades (``fills``), pushed as ``order`` /
        ``fill`` frames. CCXT does not say when its subscription is acknowledged: a watch waiting
        STREAM_SETTLE_S without an error counts as up; any error is down until that holds again."""
        fn = self.exchange.watch_orders if what == "orders" else self.exchange.watch_my_trades
        delay = BACKOFF_MIN_S
        self.watch_up[what] = False
        if TierConn.PRIVATE not in self.breakers:
            self.breakers[TierConn.PRIVATE] = self.new_breaker(TierConn.PRIVATE)
        br = self.breakers[TierConn.PRIVATE]
        rewatched = False
        _last_http.set({})
        while True:
            # made again after a failure: the private breaker decides when (one probe half-open)
            probe = await self.admitted(TierConn.PRIVATE, what) if rewatched else False
            task = asyncio.ensure_future(fn())
            try:
                done, _ = await asyncio.wait({task}, timeout=STREAM_SETTLE_S)
                if not done:
                    self.stream_state(what, True)
                    self.breaker_ok(TierConn.PRIVATE)
                rows = await task
                self.stream_state(what, True)
                self.breaker_ok(TierConn.PRIVATE)
                delay = BACKOFF_MIN_S
                rewatched = False
            except asyncio.CancelledError:
                task.cancel()
                if probe:
                    br.release()
                raise
            except Exception as e:
                self.stats[f"{what}_watch_errors"] += 1
                reason = f"{type(e).__name__}: {self.desk.scrub(str(e))[:200]}"
                log.warning("private %s watch failed: %s", what, reason)
                self.breaker_failed(TierConn.PRIVATE, e)
                rewatched = True
                self.stream_state(what, False, reason)
                await self.backoff(what, delay)
                delay = min(delay * 2, BACKOFF_MAX_S)
                continue
            for row in rows:
                try:
                    if what == "orders":
                        frame = {"type": "order", **self.desk.order_out(row, row.get("symbol") or "", "", pushed=True)}
                    else:
                        frame = {"type": "fill", **self.desk.trade_out(row, row.get("symbol") or "", pushed=True)}
                except (KeyError, TypeError, ValueError) as e:
                    self.stats[f"{what}_unusable"] += 1
                    log.warning("private %s: an update could not be read (%s): dropped", what, type(e).__name__)
                    continue
                self.stats[f"pushed_{what}"] += 1
                self.send("orders", json.dumps(frame, separators=(",", ":")))

    # ---- local server ------------------------------------------------------------------------
    def send(self, topic: str, frame: str | bytes) -> None:
        """To every engine connection subscribed to `topic`: JSON text, or a binary book frame
        (venuelink.ccxt_tier.wire)."""
        for ws, topics in list(self.clients.items()):
            if topic in topics and not ws.closed:
                asyncio.ensure_future(self._send(ws, frame))

    async def _send(self, ws: web.WebSocketResponse, frame: str | bytes) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            if isinstance(frame, bytes):
                await ws.send_bytes(frame)
            else:
                await ws.send_str(frame)

    async def h_ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        topics: set[str] = set()
        had: set[str] = set()
        self.clients[ws] = topics
        try:
            async for m in ws:
                if m.type != WSMsgType.TEXT:
                    continue
                await self.on_request(ws, topics, m.data, had)
        finally:
            self.clients.pop(ws, None)
        return ws

    async def on_request(self, ws, topics: set[str], text: str, had: set[str] | None = None) -> None:
        """One request of the engine; `had`: the topics this connection ever subscribed."""
        had = set() if had is None else had
        try:
            req = json.loads(text)
            op, rid, asked = req["op"], req["id"], req["topics"]
            if op not in ("subscribe", "unsubscribe") or not isinstance(asked, list):
                raise ValueError(f"unknown op {op!r}")
        except (ValueError, KeyError, TypeError) as e:
            await ws.send_str(json.dumps({"op": "error", "id": -1, "msg": f"bad request: {e}"}))
            return
        bad = [t for t in asked if not (t == "orders" and self.private_stream) and (
               not isinstance(t, str) or t.partition(":")[0] not in ("book", "trades", "top")
               or t.partition(":")[2] not in self.grids)]
        if bad:
            await ws.send_str(json.dumps({"op": "error", "id": rid, "msg": f"unknown topic {bad[0]!r}"}))
            return
        if op == "unsubscribe":
            topics.difference_update(asked)
            await ws.send_str(json.dumps({"op": "unsubscribed", "id": rid}))
            return
        topics.update(asked)
        await ws.send_str(json.dumps({"op": "subscribed", "id": rid}))
        for t in asked:
            if t == "orders":               # where the private stream stands now
                await ws.send_str(json.dumps({"type": "stream", "up": self.private_up(), "reason": ""}))
                continue
            kind, _, sym = t.partition(":")
            if kind == "book" and t in had:  # subscribed again on this connection: a resync
                self.request_resync(sym)
                continue
            had.add(t)
            if kind == "book" and sym in self.books:
                await ws.send_str(json.dumps(self.books[sym], separators=(",", ":")))

    async def h_instruments(self, request: web.Request) -> web.Response:
        return web.json_response({"exchange": self.spec["exchange"], "instruments": self.instruments})

    async def h_book(self, request: web.Request) -> web.Response:
        frame = self.books.get(request.query.get("symbol", ""))
        if frame is None:
            return web.json_response({"error": "no valid book"}, status=404)
        return web.json_response(frame)

    async def h_orders(self, request: web.Request) -> web.Response:
        """One order request of the dialect: always 200 with {"ok": true, "result"} or
        {"ok": false, "error"} (a transport failure is the only other outcome the engine sees)."""
        if self.desk is None:
            return web.json_response({"ok": False, "error": {"chain": ["AuthenticationError"],
                                                             "msg": "the worker has no credentials"}})
        try:
            req = await request.json()
            if not isinstance(req, dict):
                raise ValueError("not an object")
        except ValueError as e:
            return web.json_response({"ok": False, "error": {"chain": ["BadRequest"], "msg": f"bad request: {e}"}})
        self.stats["order_requests"] += 1
        answer = await self.desk.handle(req)
        if not answer["ok"]:
            self.stats["order_errors"] += 1
            log.info("order %s failed: %s: %s", req.get("op"), answer["error"]["chain"][:1], answer["error"]["msg"])
        return web.json_response(answer)

    async def h_stats(self, request: web.Request) -> web.Response:
        """The counters, and the handler time per venue message since the last call (p50, p99,
        max in ns; ``window_messages``): the engine polls this every few seconds."""
        h = self.handler_ns
        window = {"window_messages": h.count, "watches": len(self.symbols) * 2,
                  "watches_failing": len([w for w in self.backing_off if w.startswith(("book:", "trades:"))])}
        if h.count:
            p50, p99 = h.percentiles((50, 99))
            window.update(handler_p50_ns=p50, handler_p99_ns=p99, handler_max_ns=h.max)
        h.reset()
        return web.json_response({**self.stats, **window, "pid": os.getpid(), "books_valid": sorted(self.books),
                                  "breakers": self.breaker_report()})

    async def run(self) -> None:
        self.exchange = self.make_exchange()
        try:
            await self.load_markets()
            if self._credentials:
                # set only now: with a key, CCXT's load_markets would also ask for private data
                for k in ("apiKey", "secret", "password"):
                    if self._credentials.get(k):
                        setattr(self.exchange, k, self._credentials[k])
                self.desk = OrderDesk(self.exchange, self.spec["exchange"],
                                      tuple(v for v in self._credentials.values() if isinstance(v, str)))
            self._credentials = None
            app = web.Application()
            app.router.add_get("/ws", self.h_ws)
            app.router.add_get("/instruments", self.h_instruments)
            app.router.add_get("/book", self.h_book)
            app.router.add_get("/probe", self.h_probe)
            app.router.add_get("/stats", self.h_stats)
            app.router.add_post("/orders", self.h_orders)
            runner = web.AppRunner(app, handle_signals=False, access_log=None)
            await runner.setup()
            port = int(self.spec.get("port", 0))
            try:
                site = web.TCPSite(runner, "127.0.0.1", port)
                await site.start()
            except OSError:                 # the previous port is taken: any free one
                site = web.TCPSite(runner, "127.0.0.1", 0)
                await site.start()
            port = site._server.sockets[0].getsockname()[1]
            for s in self.symbols:
                self.start_book_watch(s)
                self.spawn(self.watch_trades(s))
            if self.audit is not None:
                self.spawn(self.audit_books())
            if self.private_stream:
                self.spawn(self.watch_private("orders"))
                if self.exchange.has.get("watchMyTrades"):
                    self.spawn(self.watch_private("fills"))
            sys.stdout.write(json.dumps({"pid": os.getpid(), "port": port, "rest_url": f"http://127.0.0.1:{port}",
                                         "ws_url": f"ws://127.0.0.1:{port}/ws",
                                         "private_stream": self.private_stream,
                                         "can": self.desk.capabilities if self.desk else {}}) + "\n")
            sys.stdout.flush()
            await _until_stopped()
        finally:
            tasks = list(self._tasks)
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.exchange.close(), 1.0)
            for h in getattr(self, "_budget_http", []):
                with contextlib.suppress(Exception):
                    await h.close()


async def _until_stopped() -> None:
    """Until SIGTERM/SIGINT, or until the parent process is gone."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    parent = os.getppid()
    while not stop.is_set():
        if os.getppid() != parent:
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)


def _yield_cpu(increment: int) -> None:
    """The worker runs at a lower CPU priority than the engine (``nice`` + `increment`): where CPUs
    are short, the native engine's frames go first and the CCXT tier waits."""
    if increment > 0:
        with contextlib.suppress(OSError):
            os.nice(increment)


def _die_with_parent() -> None:
    """Linux: the kernel sends SIGTERM when the parent exits (the polling above is the fallback)."""
    with contextlib.suppress(Exception):
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)     # PR_SET_PDEATHSIG


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m venuelink.ccxt_tier.worker")
    p.add_argument("--spec", required=True, help="JSON: exchange, symbols, depth, hosts, isolate, options, port, timeout_ms, credentials")
    args = p.parse_args(argv)
    spec = json.loads(args.spec)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format=f"%(asctime)s ccxt-worker[{spec.get('exchange')}] %(levelname)s %(message)s")
    _die_with_parent()
    _yield_cpu(int(spec.get("nice", WORKER_NICE)))
    credentials = None
    if spec.get("credentials") == "stdin":
        try:
            credentials = json.loads(sys.stdin.readline())
        except ValueError:
            raise SystemExit("credentials on stdin: not one JSON line") from None
        if not isinstance(credentials, dict):
            raise SystemExit("credentials on stdin: not a JSON object")
    asyncio.run(Worker(spec, credentials).run())


if __name__ == "__main__":
    main()
