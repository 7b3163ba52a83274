"""``SimApp``: the HTTP/WS application skeleton every venue dialect fills in.

The base owns what does not depend on the wire format:

* configuration common to all simulators (``SimConfig``) and its CLI / keyword-option plumbing;
* the aiohttp application: admin routes, ``app[SIM_VENUE_KEY]``, startup/shutdown of the venue,
  and of the ``DiffStreams`` flush timers;
* the REST middleware: admin paths pass through; then the ``http_error`` fault, the IP rate
  limit (``request_weight`` -> 429/418 through ``limit_error``), the handler, ``SimError`` ->
  the dialect's error body, and usage headers on every answer;
* parameter helpers (symbol / integer / decimal) that raise the dialect's errors;
* the "execution status unknown" order fault;
* WS connection construction from the config (``ws_conn``).

A dialect subclasses ``SimApp``, builds its ``SimVenue`` and overrides the hooks marked
*dialect* below.
"""

from __future__ import annotations

import argparse
import math
import time
import asyncio
import re
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any, Awaitable, Callable, ClassVar, Mapping, TypeVar

from aiohttp import web

from venuelink.sim.admin import add_admin_routes, is_admin_path
from venuelink.sim.core import SIM_VENUE_KEY, SimVenue, SymbolSpec
from venuelink.sim.faults import Faults
from venuelink.sim.limits import Decision, RateLimiter, Rule
from venuelink.sim.streams import DiffStreams
from venuelink.sim.wsconn import ControlDialect, PingRule, TopicControl, WsConn

try:
    import orjson

    def dumps(obj: Any) -> str:
        return orjson.dumps(obj).decode()

    def dumpb(obj: Any) -> bytes:
        return orjson.dumps(obj)

except ImportError:  # pragma: no cover
    import json

    def dumps(obj: Any) -> str:
        return json.dumps(obj, separators=(",", ":"))

    def dumpb(obj: Any) -> bytes:
        return dumps(obj).encode()


_DECIMAL_RE = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
DECIMAL_PATTERN = "^([0-9]{1,20})(\\.[0-9]{1,20})?$"
INT_PATTERN = "^[0-9]{1,20}$"


# where ``create_app`` stores the dialect object itself (in-process tests reach the venue's
# own state through it): ``app[SIM_APP_KEY]``
SIM_APP_KEY: web.AppKey[Any] = web.AppKey("sim_app")


# ====================================================================== configuration
@dataclass(slots=True)
class SimConfig:
    """Options every simulator takes; a dialect subclasses it (and may change the defaults)."""

    symbols: list[str] = field(default_factory=list)
    seed: int = 1
    rate: float = 50.0
    levels: int = 300
    ping_interval: float = 20.0
    pong_timeout: float = 60.0
    max_conn_age: float = 86400.0
    max_inbound_per_s: int = 5
    max_topics: int = 0  # market-data topics per connection (0 = no cap)
    sub_ops: int = 0  # subscribe/unsubscribe frames per connection per sub_window_s (0 = no budget)
    sub_window_s: float = 3600.0
    ban_after: int = 5
    ban_base: float = 120.0
    maker_fee: str = "0"
    taker_fee: str = "0"
    leverage: int = 10  # cross-margin leverage of every account on linear perpetuals
    balances: dict[str, str] = field(default_factory=dict)
    limits: dict[str, int] = field(default_factory=dict)  # bucket name -> limit, replacing the venue's
    unknown_status: int = 503  # HTTP status of the "execution status unknown" answer

    # dialect: option name -> bucket name, for per-bucket shortcut flags (``--weight-limit 30``)
    LIMIT_OPTIONS: ClassVar[Mapping[str, str]] = {}

    @classmethod
    def from_namespace(cls, ns: argparse.Namespace) -> "SimConfig":
        kw: dict[str, Any] = {}
        for f in fields(cls):
            if f.name in ("limits", "balances") or not hasattr(ns, f.name):
                continue
            kw[f.name] = getattr(ns, f.name)
        if "symbols" in kw:
            kw["symbols"] = parse_symbols(kw["symbols"])
        kw["limits"] = parse_limits(getattr(ns, "limit", None) or [])
        for opt, bucket in cls.LIMIT_OPTIONS.items():
            v = getattr(ns, opt, None)
            if v is not None:
                kw["limits"][bucket] = int(v)
        return cls(**kw)


def parse_symbols(v: str | list[str] | tuple[str, ...]) -> list[str]:
    items = v.split(",") if isinstance(v, str) else list(v)
    return [s.strip().upper() for s in items if s.strip()]


def parse_limits(items: list[str] | str) -> dict[str, int]:
    """``["REQUEST_WEIGHT=30", "ORDERS_10S=3"]`` (or one comma list) -> {name: limit}."""
    if isinstance(items, str):
        items = [items]
    out: dict[str, int] = {}
    for item in items:
        for part in str(item).split(","):
            if not part.strip():
                continue
            name, sep, num = part.partition("=")
            try:
                n = int(num)
            except ValueError:
                n = 0
            if not sep or not name.strip() or n <= 0:
                raise ValueError(f"bad --limit {part!r}: expected BUCKET=positive integer")
            out[name.strip()] = n
    return out


def add_sim_args(p: argparse.ArgumentParser, config_cls: type[SimConfig]) -> argparse.ArgumentParser:
    """Options of ``SimConfig`` beyond ``venuelink.sim.server.add_common_args``, defaults from ``config_cls``."""
    d = config_cls()
    p.add_argument("--symbols", default=",".join(d.symbols), help="comma list of venue symbols")
    p.add_argument("--maker-fee", default=d.maker_fee)
    p.add_argument("--taker-fee", default=d.taker_fee)
    p.add_argument("--leverage", type=int, default=d.leverage, help="cross-margin leverage on linear perpetuals")
    p.add_argument("--max-topics", type=int, default=d.max_topics, help="topics per WS connection (0 = no cap)")
    p.add_argument("--sub-ops", type=int, default=d.sub_ops,
                   help="subscribe/unsubscribe frames per connection per --sub-window-s (0 = no budget)")
    p.add_argument("--sub-window-s", type=float, default=d.sub_window_s)
    p.add_argument("--limit", action="append", default=[], metavar="BUCKET=N",
                   help="replace a rate-limit bucket's limit (repeatable; default: the venue's real limits)")
    for opt, bucket in config_cls.LIMIT_OPTIONS.items():
        p.add_argument("--" + opt.replace("_", "-"), type=int, default=None, help=f"limit of bucket {bucket}")
    # the dialect's defaults win over the generic ones of add_common_args (e.g. the venue's ping period)
    dests = {a.dest for a in p._actions}
    p.set_defaults(**{f.name: getattr(d, f.name) for f in fields(d)
                      if f.name in dests and f.name not in ("symbols", "limits", "balances")})
    return p


C = TypeVar("C", bound=SimConfig)


def config_from_options(parser: argparse.ArgumentParser, config_cls: type[C], venue: str, **opts: Any) -> C:
    """Keyword options as accepted by ``running_simulator`` (CLI names with underscores)."""
    ns = parser.parse_args([])
    for k, v in opts.items():
        if not hasattr(ns, k):
            raise TypeError(f"unknown {venue} simulator option {k!r}")
        if k == "symbols" and isinstance(v, (list, tuple)):
            v = ",".join(v)
        if k == "limit" and isinstance(v, Mapping):
            v = [f"{n}={x}" for n, x in v.items()]
        setattr(ns, k, v)
    return config_cls.from_namespace(ns)  # type: ignore[return-value]


def base_report(host: str, port: int, config: SimConfig) -> dict[str, Any]:
    base = f"{host}:{port}"
    return {
        "rest_url": f"http://{base}",
        "ws_url": f"ws://{base}",
        "admin_url": f"http://{base}/__sim",
        "host": host,
        "port": port,
        "symbols": list(config.symbols),
    }


def make_venue(name: str, specs: list[SymbolSpec], config: SimConfig, rules: list[Rule],
               accounts: list[str]) -> SimVenue:
    """A ``SimVenue`` configured from ``config`` (seed, rate, levels, fees, bans); every account
    starts with ``config.balances``."""
    limiter = RateLimiter(rules, ban_after=config.ban_after, ban_base_s=config.ban_base)
    return SimVenue(name, specs, limiter=limiter, accounts={a: dict(config.balances) for a in accounts},
                    seed=config.seed, rate=config.rate, levels=config.levels, maker_fee=config.maker_fee,
                    taker_fee=config.taker_fee, faults=Faults(), leverage=config.leverage)


# ====================================================================== errors
class SimError(Exception):
    """A venue error answer: the dialect's ``code`` and ``msg``, an HTTP status, extra headers and
    optional extra data.  ``SimApp.error_body`` renders it."""

    default_status: ClassVar[int] = 400

    def __init__(self, code: int | str, msg: str, status: int | None = None,
                 headers: dict[str, str] | None = None, data: dict[str, Any] | None = None) -> None:
        super().__init__(code, msg)
        self.code = code
        self.msg = msg
        self.status = status if status is not None else self.status_for(code)
        self.headers = headers or {}
        self.data = data

    @classmethod
    def status_for(cls, code: int | str) -> int:
        return cls.default_status


# ====================================================================== the application skeleton
class SimApp:
    """Base of a venue dialect's application (see the module docstring)."""

    def __init__(self, config: SimConfig, venue: SimVenue) -> None:
        self.config = config
        self.venue = venue
        self.faults = venue.faults
        self.hub = venue.hub
        self.limiter = venue.limiter
        self.default_account: str | None = None  # the admin API's account when none is named
        self.diffs: DiffStreams | None = None  # set by dialects that serve diff streams
        self.diff_cadences_ms: set[float] = set()

    # ------------------------------------------------------------------ dialect hooks
    def add_routes(self, router: web.UrlDispatcher) -> None:
        """*dialect*: the venue's REST and WS routes."""

    status_path = ""
    """*dialect*: the venue's system-status endpoint ("" = it has none); answered by
    ``status_body`` from the maintenance faults, during a maintenance too"""

    def status_body(self, ongoing: bool, window: tuple[float, float] | None) -> Any:
        """*dialect*: the status endpoint's answer (``window``: announced maintenance, epoch s)."""
        raise NotImplementedError

    async def h_status(self, request: web.Request) -> web.Response:
        f = self.faults
        win = f.maintenance_window
        now = time.time()
        ongoing = f.maintenance or (win is not None and win[0] <= now < win[1])
        if win is not None and now >= win[1]:
            win = None
        return self.json(self.status_body(ongoing, win))

    def is_api_path(self, path: str) -> bool:
        """*dialect*: paths the middleware limits and fault-injects (default: all but admin)."""
        return True

    def request_weight(self, request: web.Request) -> int:
        """*dialect*: request weight of one REST request."""
        return 1

    def limit_error(self, dec: Decision) -> SimError:
        """*dialect*: the error for a request refused by the IP limiter (429 / 418)."""
        return SimError(429 if dec.status != 418 else 418, "rate limited", dec.status,
                        {"Retry-After": str(dec.retry_after or 1)})

    def internal_error(self, status: int) -> SimError:
        """*dialect*: the answer of an injected 5xx (``http_error`` fault)."""
        return SimError(status, "internal error", status)

    def unknown_status_error(self, status: int) -> SimError:
        """*dialect*: the answer when an executed order's outcome is hidden (``order`` fault)."""
        return SimError(status, "execution status unknown", status)

    def maintenance_error(self) -> SimError:
        """*dialect*: the answer to any request while the venue is in maintenance (``maintenance`` fault)."""
        return SimError(503, "service under maintenance", 503)

    def error_body(self, e: SimError) -> Any:
        """*dialect*: JSON body of an error answer."""
        return {"code": e.code, "msg": e.msg}

    async def authenticate(self, request: web.Request) -> dict[str, str]:
        """*dialect*: check a private request's key and signature; return its parameters."""
        raise SimError(401, "private endpoints are not served")

    def usage_headers(self, ip: str) -> dict[str, str]:
        """*dialect*: rate-limit usage headers added to every REST answer."""
        return {}

    def missing_param(self, name: str) -> SimError:
        """*dialect*: a mandatory parameter is absent or empty."""
        return SimError(400, f"missing parameter {name!r}")

    def bad_param(self, name: str, pattern: str) -> SimError:
        """*dialect*: a parameter does not match ``pattern``."""
        return SimError(400, f"parameter {name!r} must match {pattern}")

    def unknown_symbol(self, symbol: str) -> SimError:
        """*dialect*: a symbol the venue does not list."""
        return SimError(400, f"unknown symbol {symbol!r}")

    # ------------------------------------------------------------------ application
    def create_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app[SIM_VENUE_KEY] = self.venue
        app[SIM_APP_KEY] = self
        self.add_routes(app.router)
        if self.status_path:
            app.router.add_get(self.status_path, self.h_status)
        add_admin_routes(app, self.venue, self.default_account)
        app.on_startup.append(self._on_startup)
        app.on_shutdown.append(self._on_shutdown)
        return app

    async def _on_startup(self, app: web.Application) -> None:
        await self.venue.start()
        if self.diffs is not None:
            self.diffs.start(self.diff_cadences_ms)

    async def _on_shutdown(self, app: web.Application) -> None:
        if self.diffs is not None:
            await self.diffs.stop()
        await self.venue.stop()

    # ------------------------------------------------------------------ REST plumbing
    @web.middleware
    async def _middleware(self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                          ) -> web.StreamResponse:
        path = request.path
        if is_admin_path(path):
            return await handler(request)
        faults = self.faults
        if faults.maintenance and path != self.status_path:     # REST and WebSocket upgrades alike
            e = self.maintenance_error()
            return self.json(self.error_body(e), e.status, e.headers)
        if not self.is_api_path(path):
            return await handler(request)
        ip = request.remote or "?"
        resp: web.StreamResponse
        log = self.venue.request_log
        try:
            status = faults.take_http_error(path)
            if status is not None:
                raise self.internal_error(status)
            left = faults.ban_left() if faults.banned_until else 0.0
            if left > 0:
                raise self.limit_error(Decision(False, 418, max(1, math.ceil(left)), None, time.time() + left))
            retry = faults.take_rate_limit(path) if faults.rate_limits else None
            if retry is not None:
                raise self.limit_error(Decision(False, 429, retry))
            dec = self.limiter.check_request(ip, self.request_weight(request))
            if not dec.allowed:
                raise self.limit_error(dec)
            resp = await handler(request)
        except SimError as e:
            resp = self.json(self.error_body(e), e.status, e.headers)
        except web.HTTPException as e:
            resp = e
        log.append((time.time(), request.method, path, resp.status, resp.headers.get("Retry-After")))
        for k, v in self.usage_headers(ip).items():
            resp.headers[k] = v
        return resp

    def private(self, op: Callable[[dict[str, str]], Any]) -> Callable[[web.Request], Awaitable[web.Response]]:
        """A route handler: ``authenticate``, run ``op(params)``, answer its result as JSON."""
        async def handler(request: web.Request) -> web.Response:
            return self.json(op(await self.authenticate(request)))
        return handler

    @staticmethod
    def json(obj: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
        return web.Response(body=dumpb(obj), status=status, headers=dict(headers) if headers else None,
                            content_type="application/json", charset="UTF-8")

    def ws_conn(self, request: web.Request, kind: str, *, inbound_cap: bool = True, **kw: Any) -> WsConn:
        """A ``WsConn`` with the configured keepalive, age and (if ``inbound_cap``) inbound cap;
        ``kw`` passes further ``WsConn`` options (e.g. ``idle_timeout_s``, ``idle_close``)."""
        c = self.config
        return WsConn(request, kind=kind, faults=self.faults, hub=self.hub, ping_interval=c.ping_interval,
                      pong_timeout=c.pong_timeout, max_inbound_per_s=c.max_inbound_per_s if inbound_cap else 0,
                      max_age_s=c.max_conn_age, **kw)

    def topic_control(self, dialect: ControlDialect, ping: PingRule | None = None) -> TopicControl:
        """Control-frame handling for ``dialect`` with the configured topic cap and subscribe budget."""
        c = self.config
        return TopicControl(self.hub, dialect, max_topics=c.max_topics, sub_ops=c.sub_ops,
                            sub_window_s=c.sub_window_s, ping=ping)

    async def order_fault(self) -> None:
        """Call after an order was executed: a pending ``order`` fault hides the answer."""
        fault = self.faults.take_order_fault()
        if fault is not None:
            if fault.mode in ("timeout", "late") and fault.hold_s > 0:
                await asyncio.sleep(fault.hold_s)
            if fault.mode == "late":
                return                              # the real answer, after the stream's events
            raise self.unknown_status_error(fault.status or self.config.unknown_status)

    # ------------------------------------------------------------------ parameters
    def param_symbol(self, params: Mapping[str, Any], name: str = "symbol", required: bool = True) -> str | None:
        s = params.get(name)
        if s in (None, ""):
            if required:
                raise self.missing_param(name)
            return None
        s = str(s)
        if s not in self.venue.engines:
            raise self.unknown_symbol(s)
        return s

    def param_int(self, params: Mapping[str, Any], name: str) -> int | None:
        v = params.get(name)
        if v in (None, ""):
            return None
        try:
            return int(str(v))
        except ValueError:
            raise self.bad_param(name, INT_PATTERN) from None

    def param_decimal(self, params: Mapping[str, Any], name: str) -> Decimal | None:
        v = params.get(name)
        if v in (None, ""):
            return None
        s = str(v)
        if not _DECIMAL_RE.match(s):
            raise self.bad_param(name, DECIMAL_PATTERN)
        return Decimal(s)
