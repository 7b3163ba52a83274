"""Bybit v5 simulator dialect, market data (spot and USDT perpetuals).

The machinery (book generator, limits, faults, WS connections, topic control, diff streams, app
skeleton, admin API, process harness) is ``engine.sim``'s; this module is only Bybit's wire
format.  Rate limits are ``adapters.bybit.spec.SPEC.buckets`` at their real values.

* REST ``/v5/...``: ``market/instruments-info``, ``market/orderbook``, ``market/recent-trade``,
  ``market/time``, ``system/status``, each by ``category`` (``spot`` | ``linear``).  Envelope
  ``{"retCode": 0, "retMsg": "OK", "result": {...}, "retExtInfo": {}, "time": <ms>}``; business
  errors in HTTP 200 with a nonzero retCode; beyond the IP limit HTTP 403 "access too frequent".
* Public WebSocket ``/v5/public/spot`` and ``/v5/public/linear``: ``op`` subscribe / unsubscribe
  / ping; ``orderbook.{1,50,200}.S`` (a snapshot, then deltas whose ``u`` counts the topic's
  pushes one by one; ``orderbook.1`` is snapshots only), ``publicTrade.S``, ``tickers.S`` and,
  linear only, ``allLiquidation.S``.  ``/v5/public/misc/status``: ``system.status``.
  A connection with no client frame for ``idle_timeout_s`` (10 minutes) is closed.

One venue holds every market, so the simulator names a market by its category: spot markets by
their symbol (``BTCUSDT``), linear ones ``linear:BTCUSDT`` (the admin API takes these names; the
start-up report maps CCXT symbols to them under ``market_names``).

Run: ``python -m adapters.bybit.simulator --host 127.0.0.1 --port 0 [--rate 50] [--seed 1]
[--symbols BTCUSDT,linear:BTCUSDT] [--idle-timeout-s 600] [--depth-fast-ms 20]``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import json as _json
import random
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar, Mapping

from aiohttp import web

from adapters.bybit.spec import BOOK_PATH, INSTRUMENTS_PATH, SPEC, STATUS_TOPIC
from engine.sim.app import SimApp, SimConfig, SimError, dumps as _dumps, make_venue
from engine.sim.core import SymbolSpec, cancel_tasks, every
from engine.sim.dialect import SimDialect
from engine.sim.limits import KEYED, WEIGHT, Decision, rules_from_buckets
from engine.sim.market import BUY, Batch, MarketSim, Trade, now_ms
from engine.sim.streams import DiffStreams, DiffTopic
from engine.sim.wsconn import Control, Op, Refusal, WsConn

VENUE = "bybit"
SPOT, LINEAR, MISC = "spot", "linear", "misc"
LINEAR_PREFIX = "linear:"                 # internal name of a linear market: "linear:BTCUSDT"

SPOT_MAX_ARGS = 10                        # topics per spot subscribe request
BOOK_DEPTHS = {SPOT: (1, 50, 200), LINEAR: (1, 50, 200)}
REST_BOOK_LIMIT = {SPOT: (1, 200), LINEAR: (25, 500)}       # (default, max) of market/orderbook
RECENT_LIMIT = {SPOT: (60, 60), LINEAR: (500, 1000)}        # (default, max) of market/recent-trade
CHANNELS = {SPOT: ("orderbook", "publicTrade", "tickers"),
            LINEAR: ("orderbook", "publicTrade", "tickers", "allLiquidation")}
BOOK1_RESEND_S = 3.0                      # an unchanged orderbook.1 is pushed again after 3 s
FUNDING_PERIOD_MS = 8 * 3600 * 1000
SPOT_TRADE_ID_BASE = 2_290_000_000_000    # spot trade ids are decimal strings of this magnitude
TOO_FREQUENT = "access too frequent"      # the gateway's text answer beyond the IP limit
STATUS_PATH = "/v5/system/status"


@dataclass(frozen=True, slots=True)
class BybitMarket:
    """One market: its category, Bybit symbol, the engine's spec and Bybit's instrument fields."""

    category: str
    symbol: str
    spec: SymbolSpec
    min_amt: str = ""                     # spot minOrderAmt / linear minNotionalValue
    launch: str = ""

    @property
    def unified(self) -> str:
        s = self.spec
        return f"{s.base}/{s.quote}" + (f":{s.quote}" if self.category == LINEAR else "")


def market_name(category: str, symbol: str) -> str:
    """The simulator's name of Bybit's (category, symbol)."""
    return LINEAR_PREFIX + symbol if category == LINEAR else symbol


def market_of(name: str) -> tuple[str, str]:
    """(category, symbol) of a simulator market name (the inverse of ``market_name``)."""
    return (LINEAR, name[len(LINEAR_PREFIX):]) if name.startswith(LINEAR_PREFIX) else (SPOT, name)


def _spot(sym: str, tick: str, lot: str, min_qty: str, max_qty: str, mid: str, mean: int) -> BybitMarket:
    spec = SymbolSpec(sym, sym[:-4], "USDT", tick, lot, mid, min_qty=min_qty, max_qty=max_qty,
                      max_price="10000000", mean_size=mean, first_trade_id=SPOT_TRADE_ID_BASE)
    return BybitMarket(SPOT, sym, spec, min_amt="1")


def _linear(sym: str, tick: str, lot: str, max_qty: str, max_price: str, mid: str, mean: int,
            launch: str) -> BybitMarket:
    spec = SymbolSpec(LINEAR_PREFIX + sym, sym[:-4], "USDT", tick, lot, mid, min_qty=lot, max_qty=max_qty,
                      min_price=tick, max_price=max_price, mean_size=mean, contract_value="1")
    return BybitMarket(LINEAR, sym, spec, min_amt="5", launch=launch)


MARKETS: dict[str, BybitMarket] = {m.spec.symbol: m for m in (
    _spot("BTCUSDT", "0.01", "0.000001", "0.000048", "71.739562", "60000", 400_000),
    _spot("ETHUSDT", "0.01", "0.00001", "0.00062", "1229.23363", "3000", 400_000),
    _linear("BTCUSDT", "0.10", "0.001", "1190.000", "1999999.80", "60000", 400, "1585526400000"),
    _linear("ETHUSDT", "0.01", "0.01", "7240.00", "199999.98", "3000", 400, "1615766400000"),
)}

# bucket name (adapters.bybit.spec.SPEC.buckets) -> what the simulator counts against it
BUCKET_SCOPES = {
    "IP_5S": WEIGHT,            # every /v5/ request of an IP weighs 1
    "CREATE_1S": KEYED,         # per account and endpoint (order routes, not served yet)
    "CANCEL_1S": KEYED,
    "AMEND_1S": KEYED,
    "QUERY_1S": KEYED,
}


# ====================================================================== configuration
@dataclass(slots=True)
class BybitSimConfig(SimConfig):
    symbols: list[str] = field(default_factory=lambda: list(MARKETS))
    max_inbound_per_s: int = 0          # Bybit documents no inbound cap on public streams
    ping_interval: float = 86400.0      # Bybit sends no protocol pings: the client pings in JSON
    max_conn_age: float = SPEC.endpoints[0].max_connection_age_s
    idle_timeout_s: float = 600.0       # cut after 10 minutes without a ping or other client frame
    depth_fast_ms: float = 20.0         # orderbook.50 cadence (0 = per change batch)
    depth_200_ms: float = 100.0         # orderbook.200 cadence
    depth_1_ms: float = 10.0            # orderbook.1 cadence
    tickers_ms: float = 100.0           # tickers cadence (when changed)
    liquidation_ms: float = 1000.0      # allLiquidation: one liquidation per symbol this often
    funding_change_s: float = 3.0       # the predicted funding rate moves this often

    LIMIT_OPTIONS: ClassVar[Mapping[str, str]] = {"ip_limit": "IP_5S"}

    def __post_init__(self) -> None:
        # the command line upper-cases symbols; the linear prefix is lower-case
        self.symbols = [LINEAR_PREFIX + s[len(LINEAR_PREFIX):].upper() if s.lower().startswith(LINEAR_PREFIX)
                        else s.upper() for s in self.symbols]


def _bybit_args(p: argparse.ArgumentParser, d: BybitSimConfig) -> None:
    p.add_argument("--idle-timeout-s", type=float, default=d.idle_timeout_s,
                   help="close a WebSocket after this long without a client frame (0 = never)")
    p.add_argument("--depth-fast-ms", type=float, default=d.depth_fast_ms, help="orderbook.50 cadence (0 = per batch)")
    p.add_argument("--depth-200-ms", type=float, default=d.depth_200_ms)
    p.add_argument("--depth-1-ms", type=float, default=d.depth_1_ms)
    p.add_argument("--tickers-ms", type=float, default=d.tickers_ms)
    p.add_argument("--liquidation-ms", type=float, default=d.liquidation_ms)
    p.add_argument("--funding-change-s", type=float, default=d.funding_change_s)


def _bybit_report(host: str, port: int, config: BybitSimConfig) -> dict[str, Any]:
    ws = f"ws://{host}:{port}"
    return {"ws_url": ws, "spot_ws_url": f"{ws}/v5/public/spot", "linear_ws_url": f"{ws}/v5/public/linear",
            "status_ws_url": f"{ws}/v5/public/misc/status",
            "market_names": {MARKETS[s].unified: s for s in config.symbols}}


# ====================================================================== errors and formats
class BybitError(SimError):
    """A Bybit envelope error: HTTP 200 unless stated, a nonzero retCode."""

    default_status = 200


class PlainText(str):
    """An error answer that is plain text, not the JSON envelope (the gateway's 403)."""


class TooFrequent(BybitError):
    """The IP limit (a ban too): HTTP 403 with the text "access too frequent"."""

    def __init__(self) -> None:
        super().__init__(403, TOO_FREQUENT, 403)


def _params(code: str) -> BybitError:
    return BybitError(10001, code)


def _dec(d: Decimal) -> str:
    """Shortest exact decimal string."""
    s = f"{d:f}"
    return s.rstrip("0").rstrip(".") if "." in s else s


def _digits(step: str) -> int:
    return len(step.partition(".")[2])


# ====================================================================== per-topic state
@dataclass(slots=True)
class _Book:
    """What the subscribers of one book topic hold: its top ``depth`` levels as last pushed."""

    wire: str
    market: str
    depth: int
    u: int
    seq: int
    last_id: int                          # the market id the last flush ended at
    bids: dict[int, int] = field(default_factory=dict)
    asks: dict[int, int] = field(default_factory=dict)
    lost: bool = False                    # a flush was withheld (gap fault): the next u skips one
    pushed: float = 0.0                   # monotonic time of the last push (orderbook.1)


@dataclass(slots=True)
class _Stats:
    """The day so far of one market (since the simulator started), and its funding state."""

    open: int
    high: int
    low: int
    last: int
    direction: str = "ZeroPlusTick"
    volume: int = 0                       # lots
    turnover: int = 0                     # ticks * lots
    oi: int = 0                           # open interest, lots
    funding: Decimal = Decimal("0.0001")

    def trade(self, t: Trade) -> str:
        """Count a public trade in; its tick direction (Plus/Minus, Zero* when the price repeats)."""
        if t.price != self.last:
            self.direction = "PlusTick" if t.price > self.last else "MinusTick"
        elif not self.direction.startswith("Zero"):
            self.direction = "Zero" + self.direction
        self.last, self.high, self.low = t.price, max(self.high, t.price), min(self.low, t.price)
        self.volume += t.qty
        self.turnover += t.qty * t.price
        return self.direction


class _BookVenue:
    """The venue as the book diff streams see it: a rendering that changes no level within the
    topic's depth ("") is not published."""

    def __init__(self, sim: "BybitSim") -> None:
        self.faults = sim.venue.faults
        self.markets = sim.venue.markets
        self.hub = self
        self._hub = sim.hub

    def publish(self, topic: str, raw: str) -> int:
        return self._hub.publish(topic, raw) if raw else 0


# ====================================================================== the dialect
class BybitSim(SimApp):
    def __init__(self, config: BybitSimConfig) -> None:
        unknown = [s for s in config.symbols if s not in MARKETS]
        if unknown or not config.symbols:
            raise ValueError(f"unknown markets {unknown}; available: {sorted(MARKETS)}")
        rules = rules_from_buckets(SPEC.buckets, BUCKET_SCOPES, config.limits)
        venue = make_venue(VENUE, [MARKETS[s].spec for s in config.symbols], config, rules, [])
        super().__init__(config, venue)
        self.config: BybitSimConfig = config
        self.markets = {s: MARKETS[s] for s in config.symbols}
        self.steps = {s: (Decimal(m.spec.tick), Decimal(m.spec.lot)) for s, m in self.markets.items()}
        self.books: dict[str, _Book] = {}             # hub topic -> book state (orderbook.N)
        self.tickers: dict[str, dict[str, str]] = {}  # hub topic -> ticker fields as last pushed
        self.stats = {s: _Stats(venue.markets[s].fair, venue.markets[s].fair, venue.markets[s].fair,
                                venue.markets[s].fair) for s in self.markets}
        self._rng = random.Random(config.seed * 7919 + 17)
        for s, st in self.stats.items():       # open interest to start from: 50,000 BTC, 900,000 ETH
            if self.markets[s].category == LINEAR:
                st.oi = 50_000_000 if s.endswith("BTCUSDT") else 90_000_000
        venue.on_batch = self._on_batch
        self.diffs = DiffStreams(_BookVenue(self), self._diff_topic, self._render_delta)  # type: ignore[arg-type]
        self.diff_cadences_ms = {config.depth_fast_ms, config.depth_200_ms}
        self.hub.on_topic = self._on_topic
        self.sockets = {c: _Endpoint(self, c) for c in (SPOT, LINEAR, MISC)}
        self._conn_ids = itertools.count(1)
        self._status_sent: list[dict[str, Any]] = []
        self._funding_at = time.monotonic()
        self._tasks: list[asyncio.Task] = []

    # ------------------------------------------------------------------ app
    def add_routes(self, r: web.UrlDispatcher) -> None:
        r.add_get(INSTRUMENTS_PATH, self.h_instruments)
        r.add_get(BOOK_PATH, self.h_orderbook)
        r.add_get("/v5/market/recent-trade", self.h_recent_trades)
        r.add_get("/v5/market/time", self.h_time)
        r.add_get("/v5/public/spot", self.h_ws(SPOT))
        r.add_get("/v5/public/linear", self.h_ws(LINEAR))
        r.add_get("/v5/public/misc/status", self.h_ws(MISC))

    async def _on_startup(self, app: web.Application) -> None:
        await super()._on_startup(app)
        loop = asyncio.get_running_loop()
        c = self.config
        for ms, fn in ((c.depth_1_ms, self._books1), (c.tickers_ms, self._tickers),
                       (c.liquidation_ms, self._liquidations), (1000.0, self._status_poll)):
            if ms > 0:
                self._tasks.append(loop.create_task(every(ms / 1000.0, fn)))

    async def _on_shutdown(self, app: web.Application) -> None:
        await cancel_tasks(self._tasks)
        await super()._on_shutdown(app)

    # ------------------------------------------------------------------ REST dialect
    status_path = STATUS_PATH

    def is_api_path(self, path: str) -> bool:
        return path.startswith("/v5/")

    @staticmethod
    def json(obj: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
        if isinstance(obj, PlainText):
            return web.Response(text=str(obj), status=status, headers=dict(headers) if headers else None)
        return SimApp.json(obj, status, headers)

    @staticmethod
    def ok(result: Any) -> dict[str, Any]:
        return {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": now_ms()}

    def error_body(self, e: SimError) -> Any:
        if isinstance(e, TooFrequent):
            return PlainText(e.msg)
        return {"retCode": e.code, "retMsg": e.msg, "result": {}, "retExtInfo": {}, "time": now_ms()}

    def limit_error(self, dec: Decision) -> SimError:
        if dec.status == 429 and dec.rule is None:
            # the rate_limit fault: the endpoint's own limit, 10006 with the window's reset time
            reset = now_ms() + 1000 * (dec.retry_after or 1)
            return BybitError(10006, "Too many visits!", 200, {"X-Bapi-Limit-Status": "0",
                                                                "X-Bapi-Limit-Reset-Timestamp": str(reset)})
        return TooFrequent()

    def internal_error(self, status: int) -> SimError:
        return BybitError(10016, "Internal server error.", status)

    def unknown_status_error(self, status: int) -> SimError:
        return BybitError(10016, "Service is restarting.", status)

    def maintenance_error(self) -> SimError:
        return BybitError(10016, "Service is under maintenance.", 503)

    def missing_param(self, name: str) -> SimError:
        return _params(f"params error: {name} is required")

    def bad_param(self, name: str, pattern: str) -> SimError:
        return _params(f"params error: {name} invalid")

    def unknown_symbol(self, symbol: str) -> SimError:
        return _params("params error: symbol invalid")

    def status_body(self, ongoing: bool, window: tuple[float, float] | None) -> Any:
        return self.ok({"list": self._status_rows(ongoing, window)})

    def _status_rows(self, ongoing: bool, window: tuple[float, float] | None) -> list[dict[str, Any]]:
        if not ongoing and window is None:
            return []
        begin = int(window[0] * 1000) if window else now_ms()
        end = int(window[1] * 1000) if window else begin + 3600_000
        return [{"id": str(uuid.UUID(int=begin, version=1)), "title": "System maintenance",
                 "state": "ongoing" if ongoing else "scheduled", "begin": str(begin), "end": str(end), "href": "",
                 "serviceTypes": [2, 3, 4, 5], "product": [1, 2], "uidSuffix": [], "maintainType": 1, "env": 1}]

    def _current_status(self) -> list[dict[str, Any]]:
        f, now = self.faults, time.time()
        win = f.maintenance_window
        ongoing = f.maintenance or (win is not None and win[0] <= now < win[1])
        return self._status_rows(ongoing, None if win is not None and now >= win[1] else win)

    # ------------------------------------------------------------------ parameters
    def _category(self, q: Mapping[str, str]) -> str:
        c = q.get("category", "")
        if c not in (SPOT, LINEAR):
            raise _params("Illegal category")
        return c

    def _market(self, q: Mapping[str, str], category: str) -> str:
        sym = q.get("symbol", "")
        if not sym:
            raise self.missing_param("symbol")
        name = market_name(category, sym)
        if name not in self.markets:
            raise self.unknown_symbol(sym)
        return name

    def _limit(self, q: Mapping[str, str], bounds: tuple[int, int]) -> int:
        v = q.get("limit", "")
        if not v:
            return bounds[0]
        if not v.isdigit() or not 1 <= int(v) <= bounds[1]:
            raise self.bad_param("limit", "")
        return int(v)

    # ------------------------------------------------------------------ formatting
    def _px(self, name: str, ticks: int) -> str:
        return f"{ticks * self.steps[name][0]:f}"

    def _sz(self, name: str, lots: int) -> str:
        return "0" if lots == 0 else f"{lots * self.steps[name][1]:f}"

    def _levels(self, name: str, levels: list[tuple[int, int]]) -> list[list[str]]:
        return [[self._px(name, p), self._sz(name, q)] for p, q in levels]

    def _mid(self, name: str) -> int:
        m = self.venue.markets[name]
        bb, ba = m.best_bid(), m.best_ask()
        if bb is None or ba is None:
            return (bb or ba or (m.fair, 0))[0]
        return (bb[0] + ba[0]) // 2

    # ------------------------------------------------------------------ REST handlers
    async def h_time(self, request: web.Request) -> web.Response:
        ns = time.time_ns()
        return self.json(self.ok({"timeSecond": str(ns // 1_000_000_000), "timeNano": str(ns)}))

    def instrument_json(self, name: str) -> dict[str, Any]:
        bm = self.markets[name]
        s = bm.spec
        if bm.category == SPOT:
            return {"symbol": bm.symbol, "baseCoin": s.base, "quoteCoin": s.quote, "innovation": "0",
                    "status": "Trading", "marginTrading": "utaOnly", "stTag": "0",
                    "lotSizeFilter": {"basePrecision": s.lot, "quotePrecision": "0.00000001",
                                      "minOrderQty": s.min_qty, "maxOrderQty": s.max_qty, "minOrderAmt": bm.min_amt,
                                      "maxOrderAmt": "2000000"},
                    "priceFilter": {"tickSize": s.tick},
                    "riskParameters": {"priceLimitRatioX": "0.01", "priceLimitRatioY": "0.02"}}
        mkt = f"{Decimal(s.max_qty) * Decimal('0.42'):.{_digits(s.lot)}f}"
        return {"symbol": bm.symbol, "contractType": "LinearPerpetual", "status": "Trading", "baseCoin": s.base,
                "quoteCoin": s.quote, "launchTime": bm.launch, "deliveryTime": "0", "deliveryFeeRate": "",
                "priceScale": str(_digits(s.tick)),
                "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
                "priceFilter": {"minPrice": s.min_price, "maxPrice": s.max_price, "tickSize": s.tick},
                "lotSizeFilter": {"maxOrderQty": s.max_qty, "maxMktOrderQty": mkt, "minOrderQty": s.min_qty,
                                  "qtyStep": s.lot, "postOnlyMaxOrderQty": s.max_qty, "minNotionalValue": bm.min_amt},
                "unifiedMarginTrade": True, "fundingInterval": 480, "settleCoin": s.quote, "copyTrading": "both",
                "upperFundingRate": "0.005", "lowerFundingRate": "-0.005", "isPreListing": False,
                "preListingInfo": None}

    async def h_instruments(self, request: web.Request) -> web.Response:
        q = request.query
        cat = self._category(q)
        sym = q.get("symbol", "")
        names = [n for n, m in self.markets.items() if m.category == cat and (not sym or m.symbol == sym)]
        limit = self._limit(q, (500, 1000))
        cursor = q.get("cursor", "")
        start = int(cursor) if cursor.isdigit() else 0
        page = names[start:start + limit]
        nxt = str(start + limit) if start + limit < len(names) else ""
        return self.json(self.ok({"category": cat, "list": [self.instrument_json(n) for n in page],
                                  "nextPageCursor": nxt}))

    async def h_orderbook(self, request: web.Request) -> web.Response:
        q = request.query
        cat = self._category(q)
        name = self._market(q, cat)
        limit = self._limit(q, REST_BOOK_LIMIT[cat])
        m = self.venue.markets[name]
        topic = f"{cat}|orderbook.50.{market_of(name)[1]}"
        self.diffs.flush_topic(topic)          # what the stream has pushed is the book now
        book = self.books.get(topic)
        seq, bids, asks = m.depth(limit)
        ts = now_ms()
        return self.json(self.ok({"s": market_of(name)[1], "b": self._levels(name, bids),
                                  "a": self._levels(name, asks), "ts": ts, "u": book.u if book else seq,
                                  "seq": seq, "cts": ts}))

    async def h_recent_trades(self, request: web.Request) -> web.Response:
        q = request.query
        cat = self._category(q)
        name = self._market(q, cat)
        limit = self._limit(q, RECENT_LIMIT[cat])
        recent = list(self.venue.recent_trades[name])[-limit:]
        sym = market_of(name)[1]
        return self.json(self.ok({"category": cat, "list": [
            {"execId": self._trade_id(name, t), "symbol": sym, "price": self._px(name, t.price),
             "size": self._sz(name, t.qty), "side": "Buy" if t.taker_side == BUY else "Sell", "time": str(t.ts),
             "isBlockTrade": False, "isRPITrade": False} for t in reversed(recent)]}))

    # ------------------------------------------------------------------ WebSocket
    def h_ws(self, category: str):
        endpoint = self.sockets[category]

        async def handler(request: web.Request) -> web.StreamResponse:
            conn = self.ws_conn(request, "market", idle_timeout_s=self.config.idle_timeout_s,
                                idle_close=(1000, b"Idle timeout"))
            return await conn.serve(endpoint.on_text, endpoint.on_open)
        return handler

    def conn_id(self, category: str) -> str:
        n = next(self._conn_ids)
        if category == MISC:            # the option / spread streams' shape: "cfcb4ocsvfriu23r3er0-1b"
            return f"{(n * 0x9E3779B97F4A7C15 + self.config.seed) % (1 << 96):020x}"[:20] + f"-{n % 256:x}"
        return str(uuid.UUID(int=(n * 0x9E3779B97F4A7C15 * 0x2545F4914F6CDD1D + self.config.seed) % (1 << 128),
                             version=4))

    def _on_topic(self, topic: str, active: bool) -> None:
        """Hub topic (``<category>|<wire topic>``) opened or closed: set up or drop its state."""
        self.diffs.on_topic(topic, active)
        if not active:
            self.books.pop(topic, None)
            self.tickers.pop(topic, None)
            return
        cat, wire = topic.split("|", 1)
        channel, _, sym = wire.rpartition(".")
        name = market_name(cat, sym)
        if channel.startswith("orderbook."):
            m = self.venue.markets[name]
            depth = int(channel.split(".")[1])
            _, bids, asks = m.depth(depth)
            self.books[topic] = _Book(wire, name, depth, m.update_id, m.update_id, m.update_id, dict(bids),
                                      dict(asks), pushed=time.monotonic())
        elif channel == "tickers":
            self.tickers[topic] = self._ticker_fields(name)

    def settle(self, topic: str) -> None:
        """Push what a topic has pending now, so that a new subscriber's snapshot joins the next push."""
        if topic in self.diffs.live:
            self.diffs.flush_topic(topic)
        elif topic in self.books:
            self._book1(topic, self.books[topic])
        elif topic in self.tickers:
            self._push_ticker(topic)

    def snapshot(self, topic: str) -> str | None:
        """The frame a new subscriber of ``topic`` gets first (None: nothing until the next push)."""
        book = self.books.get(topic)
        if book is not None:
            return self._book_frame(book, "snapshot", sorted(book.bids.items(), reverse=True),
                                    sorted(book.asks.items()))
        fields = self.tickers.get(topic)
        if fields is not None:
            return self._ticker_frame(topic, "snapshot", fields)
        if topic == f"{MISC}|{STATUS_TOPIC}":
            rows = self._current_status()
            return _dumps({"topic": STATUS_TOPIC, "ts": now_ms(), "data": rows}) if rows else None
        return None

    # ------------------------------------------------------------------ order books
    def _diff_topic(self, topic: str) -> DiffTopic | None:
        cat, _, wire = topic.partition("|")
        channel, _, sym = wire.rpartition(".")
        c = self.config
        ms = {"orderbook.50": c.depth_fast_ms, "orderbook.200": c.depth_200_ms}.get(channel)
        if ms is None or cat not in (SPOT, LINEAR):
            return None
        return DiffTopic(market_name(cat, sym), channel, ms)

    def _book_frame(self, book: _Book, kind: str, bids: list, asks: list) -> str:
        ts = now_ms()
        sym = market_of(book.market)[1]
        return _dumps({"topic": book.wire, "type": kind, "ts": ts, "data": {
            "s": sym, "b": self._levels(book.market, bids), "a": self._levels(book.market, asks), "u": book.u,
            "seq": book.seq}, "cts": ts})

    def _render_delta(self, topic: str, name: str, first: int, last: int, bids: list, asks: list) -> str:
        """The delta from what the topic's subscribers hold to the book's top ``depth`` levels now:
        levels that left the top-N deleted, levels that entered or changed with their size."""
        book = self.books[topic]
        if first != book.last_id + 1:           # a flush was withheld (gap fault): u skips it
            book.lost = True
        book.last_id = last
        m: MarketSim = self.venue.markets[name]
        _, nb, na = m.depth(book.depth)
        new_b, new_a = dict(nb), dict(na)
        # levels the diff has and the book has not: the crossed fault's bid at the best ask
        new_b.update((p, q) for p, q in bids if q and m.bids.get(p) != q)
        new_a.update((p, q) for p, q in asks if q and m.asks.get(p) != q)
        new_b = dict(sorted(new_b.items(), reverse=True)[:book.depth])
        new_a = dict(sorted(new_a.items())[:book.depth])
        db = _changes(book.bids, new_b, reverse=True)
        da = _changes(book.asks, new_a, reverse=False)
        if not db and not da:
            return ""
        book.u += 2 if book.lost else 1
        book.lost = False
        book.bids, book.asks, book.seq = new_b, new_a, last
        return self._book_frame(book, "delta", db, da)

    def _book1(self, topic: str, book: _Book) -> None:
        """orderbook.1: a snapshot when the best levels changed, the same again after 3 s."""
        m = self.venue.markets[book.market]
        bb, ba = m.best_bid(), m.best_ask()
        now = time.monotonic()
        top_b, top_a = dict([bb] if bb else []), dict([ba] if ba else [])
        if (top_b, top_a) != (book.bids, book.asks):
            book.bids, book.asks, book.seq = top_b, top_a, m.update_id
            book.u += 1
            if self.faults.take_md_drop(book.market, "orderbook.1"):
                return                          # withheld: the client sees u skip this push
        elif now - book.pushed < BOOK1_RESEND_S:
            return
        book.pushed = now
        self.hub.publish(topic, self._book_frame(book, "snapshot", list(top_b.items()), list(top_a.items())))

    def _books1(self) -> None:
        for topic, book in list(self.books.items()):
            if book.depth == 1:
                self._book1(topic, book)

    # ------------------------------------------------------------------ trades
    def _trade_id(self, name: str, t: Trade) -> str:
        if name.startswith(LINEAR_PREFIX):
            digest = hashlib.blake2b(f"{name}:{t.trade_id}".encode(), digest_size=16).digest()
            return str(uuid.UUID(bytes=digest, version=4))
        return str(t.trade_id)                  # spot markets count from SPOT_TRADE_ID_BASE

    def _on_batch(self, name: str, batch: Batch, extra: list[Trade]) -> None:
        trades = batch.trades + extra if extra else batch.trades
        if trades:
            cat, sym = market_of(name)
            topic = f"{cat}|publicTrade.{sym}"
            live = self.hub.subscribers(topic)
            seq = batch.last_id or self.venue.markets[name].update_id
            rows = []                           # one message per batch: all of its trades
            for t in trades:
                direction = self.stats[name].trade(t)
                if live:
                    rows.append({"T": t.ts, "s": sym, "S": "Buy" if t.taker_side == BUY else "Sell",
                                 "v": self._sz(name, t.qty), "p": self._px(name, t.price),
                                 **({"L": direction} if cat == LINEAR else {}), "i": self._trade_id(name, t),
                                 "BT": False, "RPI": False, "seq": seq})
            if rows:
                self.hub.publish(topic, _dumps({"topic": f"publicTrade.{sym}", "type": "snapshot",
                                                "ts": now_ms(), "data": rows}))
        if batch.has_changes:
            self.diffs.on_batch(name, batch)
            if self.config.depth_1_ms <= 0:
                self._books1()

    # ------------------------------------------------------------------ tickers
    def _ticker_fields(self, name: str) -> dict[str, str]:
        """The market's ticker now (pure: the open-interest and funding walks move in ``_tickers``)."""
        cat, sym = market_of(name)
        st, m = self.stats[name], self.venue.markets[name]
        tick, lot = self.steps[name]
        pcnt = f"{(Decimal(st.last - st.open) / Decimal(st.open)).quantize(Decimal('0.000001')):f}"
        turnover = _dec(st.turnover * tick * lot)
        mid = self._mid(name)
        if cat == SPOT:
            return {"symbol": sym, "lastPrice": self._px(name, st.last), "highPrice24h": self._px(name, st.high),
                    "lowPrice24h": self._px(name, st.low), "prevPrice24h": self._px(name, st.open),
                    "volume24h": self._sz(name, st.volume), "turnover24h": turnover,
                    "price24hPcnt": pcnt, "usdIndexPrice": self._px(name, mid)}
        off = max(1, mid // 20000)                  # the index a little off the mark, the sign flipping
        index = mid - off if (m.update_id // 64) % 2 == 0 else mid + off
        bb, ba = m.best_bid(), m.best_ask()
        nxt = (now_ms() // FUNDING_PERIOD_MS + 1) * FUNDING_PERIOD_MS
        oi = st.oi * lot
        return {"symbol": sym, "tickDirection": st.direction, "price24hPcnt": pcnt,
                "lastPrice": self._px(name, st.last), "prevPrice24h": self._px(name, st.open),
                "highPrice24h": self._px(name, st.high), "lowPrice24h": self._px(name, st.low),
                "prevPrice1h": self._px(name, st.open), "markPrice": self._px(name, mid),
                "indexPrice": self._px(name, index), "openInterest": f"{oi:f}",
                "openInterestValue": f"{(oi * mid * tick).quantize(Decimal('0.01')):f}",
                "turnover24h": turnover, "volume24h": self._sz(name, st.volume),
                "nextFundingTime": str(nxt), "fundingRate": f"{st.funding.quantize(Decimal('0.000001')):f}",
                "bid1Price": self._px(name, bb[0]) if bb else "", "bid1Size": self._sz(name, bb[1]) if bb else "",
                "ask1Price": self._px(name, ba[0]) if ba else "", "ask1Size": self._sz(name, ba[1]) if ba else ""}

    def _ticker_frame(self, topic: str, kind: str, data: dict[str, str]) -> str:
        cat, wire = topic.split("|", 1)
        name = market_name(cat, data["symbol"])
        return _dumps({"topic": wire, "type": kind, "data": data, "cs": self.venue.markets[name].update_id,
                       "ts": now_ms()})

    def _push_ticker(self, topic: str) -> None:
        """Linear: a delta of the fields that changed; spot: the whole ticker when anything did."""
        cat, wire = topic.split("|", 1)
        sym = wire.rpartition(".")[2]
        now = self._ticker_fields(market_name(cat, sym))
        sent = self.tickers[topic]
        if cat == LINEAR:
            changed = {k: v for k, v in now.items() if sent.get(k) != v}
            if changed:
                self.hub.publish(topic, self._ticker_frame(topic, "delta", {"symbol": sym, **changed}))
        elif now != sent:
            self.hub.publish(topic, self._ticker_frame(topic, "snapshot", now))
        self.tickers[topic] = now

    def _tickers(self) -> None:
        rng = self._rng
        move_funding = time.monotonic() - self._funding_at >= self.config.funding_change_s
        if move_funding:
            self._funding_at = time.monotonic()
        for name, st in self.stats.items():
            if self.markets[name].category != LINEAR:
                continue
            if rng.random() < 0.3:              # open interest: a slow walk
                st.oi = max(1000, st.oi + rng.randint(-40, 50))
            if move_funding:
                step = Decimal(rng.randint(-25, 25)).scaleb(-6)
                st.funding = min(Decimal("0.005"), max(Decimal("-0.005"), st.funding + step))
        for topic in list(self.tickers):
            self._push_ticker(topic)

    # ------------------------------------------------------------------ liquidations, status
    def _liquidations(self) -> None:
        for topic in list(self.hub.topics):
            cat, _, wire = topic.partition("|")
            if cat != LINEAR or not wire.startswith("allLiquidation."):
                continue
            sym = wire.rpartition(".")[2]
            name = market_name(cat, sym)
            mark = self._mid(name)
            long = self._rng.random() < 0.5     # "Buy": a long position was liquidated (sold below the mark)
            px = mark - mark // 500 if long else mark + mark // 500
            self.hub.publish(topic, _dumps({"topic": wire, "type": "snapshot", "ts": now_ms(), "data": [
                {"T": now_ms(), "s": sym, "S": "Buy" if long else "Sell",
                 "v": self._sz(name, self._rng.randint(1, 9)), "p": self._px(name, px)}]}))

    def _status_poll(self) -> None:
        """system.status: pushed when the maintenance state changes (a finished one as completed)."""
        rows = self._current_status()
        key = [(r["state"], r["begin"], r["end"]) for r in rows]
        if key == [(r["state"], r["begin"], r["end"]) for r in self._status_sent]:
            return
        out = rows or [dict(r, state="completed") for r in self._status_sent]
        self._status_sent = rows
        self.hub.publish(f"{MISC}|{STATUS_TOPIC}", _dumps({"topic": STATUS_TOPIC, "ts": now_ms(), "data": out}))


def _changes(old: dict[int, int], new: dict[int, int], reverse: bool) -> list[tuple[int, int]]:
    """Levels to send so that ``old`` becomes ``new``: removed ones with size 0, the rest as they are."""
    out = [(p, 0) for p in old if p not in new]
    out += [(p, q) for p, q in new.items() if old.get(p) != q]
    return sorted(out, reverse=reverse)


# ====================================================================== one public endpoint
class _Endpoint:
    """The control frames of ``/v5/public/<category>`` (``misc``: ``/v5/public/misc/status``): a
    ``ControlDialect``; hub topics are ``<category>|<wire topic>``, so the categories never mix."""

    def __init__(self, sim: BybitSim, category: str) -> None:
        self.sim = sim
        self.category = category
        self.control = sim.topic_control(self)
        self._held: set[str] = set()

    def on_open(self, conn: WsConn) -> None:
        conn.data["conn_id"] = self.sim.conn_id(self.category)

    async def on_text(self, conn: WsConn, text: str) -> None:
        self._held = set(conn.topics)          # what the connection had before this frame
        reply = self.control.handle(conn, text)
        if reply is not None:
            conn.send(reply)

    def _wire(self, topic: str) -> str:
        return topic.partition("|")[2]

    def _reply(self, conn: WsConn, op: str, rid: Any, success: bool, msg: str) -> str:
        d: dict[str, Any] = {"success": success, "ret_msg": msg, "conn_id": conn.data.get("conn_id", "")}
        if rid is not None or self.category != SPOT:
            d["req_id"] = "" if rid is None else rid
        d["op"] = op
        return _dumps(d)

    # ------------------------------------------------------------------ ControlDialect
    def parse(self, text: str) -> Control:
        try:
            msg = _json.loads(text)
        except ValueError:
            return Control(Op.OTHER, msg={"op": "", "error": "error:request not json"})
        if not isinstance(msg, dict):
            return Control(Op.OTHER, msg={"op": "", "error": "error:request not json"})
        op, rid, args = msg.get("op"), msg.get("req_id"), msg.get("args")
        rid = rid if isinstance(rid, str) or rid is None else str(rid)
        if op == "ping":
            return Control(Op.OTHER, rid=rid, msg={"op": "ping"})
        if op not in ("subscribe", "unsubscribe"):
            return Control(Op.OTHER, rid=rid, msg={"op": str(op or ""), "error": f"error:unknown op {op}"})
        if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
            return Control(Op.OTHER, rid=rid, msg={"op": op, "error": "error:args invalid"})
        if self.category == SPOT and len(args) > SPOT_MAX_ARGS:
            return Control(Op.OTHER, rid=rid, msg={"op": op, "error": f"args size >{SPOT_MAX_ARGS}"})
        topics = [f"{self.category}|{a}" for a in dict.fromkeys(args)]
        if op == "subscribe":
            for t in topics:                    # pending pushes first: the snapshot joins the next one
                if t in self.sim.hub.topics:
                    self.sim.settle(t)
        return Control(Op.SUBSCRIBE if op == "subscribe" else Op.UNSUBSCRIBE, topics, rid)

    def valid_topic(self, topic: str) -> bool:
        return self._bad(topic) is None

    def _bad(self, topic: str) -> str | None:
        """Why a hub topic is not served here (None: it is)."""
        wire = self._wire(topic)
        if self.category == MISC:
            return None if wire == STATUS_TOPIC else f"error:handler not found,topic:{wire}"
        channel, _, sym = wire.rpartition(".")
        base, _, depth = channel.partition(".")
        if base not in CHANNELS[self.category] or (base == "orderbook") != bool(depth) or (
                depth and (not depth.isdigit() or int(depth) not in BOOK_DEPTHS[self.category])):
            return f"error:handler not found,topic:{wire}"
        if market_name(self.category, sym) not in self.sim.markets:
            return f"Invalid symbol :[{wire}]"
        return None

    def ack(self, conn: WsConn, ctl: Control) -> str | None:
        op = "subscribe" if ctl.op == Op.SUBSCRIBE else "unsubscribe"
        conn.send(self._reply(conn, op, ctl.rid, True, op if self.category == SPOT else ""))
        if ctl.op == Op.SUBSCRIBE:
            for t in ctl.topics:
                if t not in self._held:
                    snap = self.sim.snapshot(t)
                    if snap is not None:
                        conn.send(snap)
        return None

    def refuse(self, conn: WsConn, ctl: Control, why: Refusal, topics: list[str]) -> str | None:
        op = "subscribe" if ctl.op == Op.SUBSCRIBE else "unsubscribe"
        if why == Refusal.BAD_TOPIC:
            msg = self._bad(topics[0]) or "error:topic invalid"
        elif why == Refusal.TOO_MANY_TOPICS:
            msg = "error:too many topics"
        else:
            msg = "error:too many requests"
        return self._reply(conn, op, ctl.rid, False, msg)

    def other(self, conn: WsConn, ctl: Control) -> str | None:
        msg = ctl.msg
        if msg["op"] != "ping":
            return self._reply(conn, msg["op"], ctl.rid, False, msg["error"])
        if self.category == MISC:
            return _dumps({"op": "pong", "args": [str(now_ms())], "conn_id": conn.data.get("conn_id", "")})
        return self._reply(conn, "ping", ctl.rid, True, "pong")


SIM = SimDialect(venue=VENUE, title="Bybit v5 simulator (market data)", config=BybitSimConfig, app=BybitSim,
                 extra_args=_bybit_args, report_extra=_bybit_report)

if __name__ == "__main__":
    SIM.main()
