"""Bybit v5 simulator dialect (spot and USDT perpetuals): market data and the order side.

The machinery (book generator, limits, faults, WS connections, topic control, diff streams, app
skeleton, admin API, process harness) is ``venuelink.sim``'s; this module is only Bybit's wire
format.  Rate limits are ``venuelink.adapters.bybit.spec.SPEC.buckets`` at their real values.

* REST ``/v5/...``: ``market/instruments-info``, ``market/orderbook``, ``market/recent-trade``,
  ``market/time``, ``system/status``, each by ``category`` (``spot`` | ``linear``).  Envelope
  ``{"retCode": 0, "retMsg": "OK", "result": {...}, "retExtInfo": {}, "time": <ms>}``; business
  errors in HTTP 200 with a nonzero retCode; beyond the IP limit HTTP 403 "access too frequent".
* Public WebSocket ``/v5/public/spot`` and ``/v5/public/linear``: ``op`` subscribe / unsubscribe
  / ping; ``orderbook.{1,50,200}.S`` (a snapshot, then deltas whose ``u`` counts the topic's
  pushes one by one; ``orderbook.1`` is snapshots only), ``publicTrade.S``, ``tickers.S`` and,
  linear only, ``allLiquidation.S``.  ``/v5/public/misc/status``: ``system.status``.
  A connection with no client frame for ``idle_timeout_s`` (10 minutes) is closed.
* Signed REST (one unified account, ``ACCOUNT``): ``X-BAPI-API-KEY``, ``X-BAPI-TIMESTAMP`` (ms),
  ``X-BAPI-RECV-WINDOW`` (5000 when absent), ``X-BAPI-SIGN`` = hex HMAC-SHA256(secret, timestamp +
  key + recv window as sent + payload), the payload being the raw query of a GET or the raw body
  of a POST; accepted while ``server - recv_window <= timestamp < server + 1000`` (else 10002);
  10003 (HTTP 401) for a missing or unknown key, 10004 for a bad signature.  ``order/create``,
  ``order/amend``, ``order/cancel``, ``order/cancel-all``, ``order/realtime``, ``order/history``,
  ``execution/list``, ``account/wallet-balance`` (UNIFIED), ``position/list`` (linear, one-way
  mode) and ``order/disconnected-cancel-all``.  Each endpoint has its own per-account 1-s limit
  (CREATE_1S, CANCEL_1S, AMEND_1S, QUERY_1S) reported in ``X-Bapi-Limit``,
  ``X-Bapi-Limit-Status`` and ``X-Bapi-Limit-Reset-Timestamp`` on every signed answer; beyond
  it retCode 10006.  Orders: Limit / Market, GTC / IOC / FOK / PostOnly (one that would take
  liquidity is accepted, then Cancelled with EC_PostOnlyWillTakeLiquidity), ``orderLinkId``
  never reusable (110072), ``reduceOnly`` on linear, spot market buys in quoteCoin by default;
  closed orders stay queryable by id.  Fees: positive when paid; spot buys pay in the base
  coin, sells in the quote coin, linear in USDT.
* Private WebSocket ``/v5/private``: ``auth`` (HMAC of "GET/realtime" + expires), ``subscribe``
  to ``order``, ``execution``, ``position``, ``wallet`` (or ``order.spot`` ... by category) and
  ``dcp.spot`` / ``dcp.future``; an order's ``order`` push comes before each of its fills'
  ``execution`` push, then ``position`` and ``wallet``.  When every private connection that
  subscribed a product's DCP topic is gone for its ``timeWindow``, that product's open orders
  are canceled (cancelType CancelByDCP).
* Trade WebSocket ``/v5/trade``: ``auth``, then ``order.create`` / ``order.amend`` /
  ``order.cancel`` with the REST bodies, limits (the same per-endpoint budget) and errors,
  answered with a ``header`` of the limit fields; a reqId seen before on the connection: 20006.

One venue holds every market, so the simulator names a market by its category: spot markets by
their symbol (``BTCUSDT``), linear ones ``linear:BTCUSDT`` (the admin API takes these names; the
start-up report maps CCXT symbols to them under ``market_names``).

Run: ``python -m venuelink.adapters.bybit.simulator --host 127.0.0.1 --port 0 [--rate 50] [--seed 1]
[--symbols BTCUSDT,linear:BTCUSDT] [--idle-timeout-s 600] [--depth-fast-ms 20] [--api-key K
--api-secret S] [--limit CREATE_1S=2]``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import itertools
import json as _json
import random
import re
import time
import uuid
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Callable, ClassVar, Mapping
from urllib.parse import parse_qsl

from aiohttp import web

from venuelink.adapters.bybit.spec import BOOK_PATH, INSTRUMENTS_PATH, SPEC, STATUS_TOPIC
from venuelink.sim.app import SimApp, SimConfig, SimError, dumps as _dumps, make_venue
from venuelink.sim.core import FilterFailure, SymbolSpec, cancel_tasks, every
from venuelink.sim.dialect import SimDialect
from venuelink.sim.limits import KEYED, WEIGHT, Decision, rules_from_buckets
from venuelink.sim.market import BUY, SELL, Batch, MarketSim, Trade, now_ms
from venuelink.sim.matching import (CANCELED, EXPIRED, FILLED, FOK, GTC, INSUFFICIENT_BALANCE, IOC, LIMIT, MARKET, NEW,
                                 OPEN_STATES, PARTIALLY_FILLED, REJECTED, UNKNOWN_ORDER, BalanceEvent, ExecEvent,
                                 Fill, Order, Reject)
from venuelink.sim.positions import INSUFFICIENT_MARGIN, REDUCE_ONLY_INCREASES, REDUCE_ONLY_NO_POSITION, PerpEngine
from venuelink.sim.rpc import RpcRequest, RpcSocket
from venuelink.sim.streams import AccountStreams, DiffStreams, DiffTopic
from venuelink.sim.wsconn import Control, ControlReply, Op, Refusal, WsConn

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

ACCOUNT = "bybit-sim"                     # the one unified trading account (UTA) the keys belong to
# simulator-only credentials shaped like Bybit's (an 18-character key, a 36-character secret)
DEFAULT_API_KEY = "VLSIMBYBITKEY00001"
DEFAULT_API_SECRET = "vlSimBybitSecret0123456789abcdefGHIJ"
DEFAULT_BALANCES = {"USDT": "1000000", "BTC": "10", "ETH": "100"}
RECV_WINDOW_MS = 5000                     # X-BAPI-RECV-WINDOW when the request has none
FUTURE_SKEW_MS = 1000                     # a timestamp may be at most this far ahead of the server
TOO_MANY = "Too many visits!"
_LINK_RE = re.compile(r"^[0-9A-Za-z_-]{1,36}$")
_DEC_RE = re.compile(r"^[0-9]{1,20}(\.[0-9]{1,20})?$")
_STATUS = {NEW: "New", PARTIALLY_FILLED: "PartiallyFilled", FILLED: "Filled", REJECTED: "Rejected"}
_TIFS = {"GTC": GTC, "PostOnly": GTC, "IOC": IOC, "FOK": FOK}
POST_ONLY_TAKES = "EC_PostOnlyWillTakeLiquidity"
# private WebSocket topics: data topics (all categories, or one) and the disconnect-cancel-all ones
DATA_TOPICS = ("order", "order.spot", "order.linear", "execution", "execution.spot", "execution.linear",
               "position", "position.linear", "wallet")
DCP_TOPICS = {"dcp.spot": "SPOT", "dcp.future": "DERIVATIVES", "dcp.option": "OPTIONS"}
DCP_CATEGORY = {"SPOT": SPOT, "DERIVATIVES": LINEAR}       # OPTIONS: accepted, no market of it here


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


def hub_topic(category: str, wire: str) -> str:
    """The hub's name of a category's topic: spot's are the wire's own ("orderbook.50.BTCUSDT",
    what the shared fault API is given), the other categories' are prefixed ("linear|...")."""
    return wire if category == SPOT else f"{category}|{wire}"


def split_topic(topic: str) -> tuple[str, str]:
    """(category, wire topic) of a hub topic (the inverse of ``hub_topic``)."""
    cat, sep, wire = topic.partition("|")
    return (cat, wire) if sep else (SPOT, topic)


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

# bucket name (venuelink.adapters.bybit.spec.SPEC.buckets) -> what the simulator counts against it
BUCKET_SCOPES = {
    "IP_5S": WEIGHT,            # every /v5/ request of an IP weighs 1
    "CREATE_1S": KEYED,         # per account and endpoint (REST and the trade WebSocket together)
    "CANCEL_1S": KEYED,
    "AMEND_1S": KEYED,
    "QUERY_1S": KEYED,
    "SPOT_CREATE_1S": KEYED,    # spot orders count apart from derivatives' (20/s by default)
    "SPOT_CANCEL_1S": KEYED,
    "SPOT_AMEND_1S": KEYED,
}


# ====================================================================== configuration
@dataclass(slots=True)
class BybitSimConfig(SimConfig):
    symbols: list[str] = field(default_factory=lambda: list(MARKETS))
    balances: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_BALANCES))
    api_key: str = DEFAULT_API_KEY
    api_secret: str = field(default=DEFAULT_API_SECRET, repr=False)  # never in a repr
    maker_fee: str = "0.0002"           # Bybit's base rates (derivatives), one for every market here
    taker_fee: str = "0.00055"
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
    p.add_argument("--api-key", default=d.api_key)
    p.add_argument("--api-secret", default=d.api_secret)
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
            "status_ws_url": f"{ws}/v5/public/misc/status", "private_ws_url": f"{ws}/v5/private",
            "ws_api_url": f"{ws}/v5/private", "trade_ws_url": f"{ws}/v5/trade",
            "api_key": config.api_key, "api_secret": config.api_secret,
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


def sign_hex(secret: str, payload: str) -> str:
    """Bybit's signature: lowercase hex HMAC-SHA256."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def _text(params: Mapping[str, Any], name: str) -> str:
    """A parameter as text ("" when absent; numbers as written; objects never match a pattern)."""
    v = params.get(name)
    if v is None:
        return ""
    if isinstance(v, bool) or isinstance(v, (dict, list)):
        return "\x00"
    return str(v)


def _decimal(params: Mapping[str, Any], name: str, required: bool = True) -> Decimal | None:
    t = _text(params, name)
    if not t:
        if required:
            raise _params(f"params error: {name} is required")
        return None
    if not _DEC_RE.match(t):
        raise _params(f"params error: {name} invalid")
    return Decimal(t)


def _flag(params: Mapping[str, Any], name: str) -> bool:
    v = params.get(name)
    if v is None or v is False or v in ("false", ""):
        return False
    if v is True or v == "true":
        return True
    raise _params(f"params error: {name} invalid")


def _money(d: Decimal, places: int = 8) -> str:
    """An amount rounded half-even to ``places`` decimals, shortest form ("0" for zero)."""
    q = d.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    return "0" if q == 0 else _dec(q)


def _window_error(ts: Any, server: int, recv: int) -> BybitError:
    return BybitError(10002, "invalid request, please check your server timestamp or recv_window param. "
                             f"req_timestamp[{ts}],server_timestamp[{server}],recv_window[{recv}]")


def check_window(ts: str, recv: str, server: int) -> None:
    """Bybit's receive window: ``server - recv_window <= timestamp < server + 1000`` (ms)."""
    rw = int(recv) if recv.isdigit() else -1
    if not ts.isdigit() or rw < 0 or not server - rw <= int(ts) < server + FUTURE_SKEW_MS:
        raise _window_error(ts, server, rw if rw >= 0 else recv)


@dataclass(slots=True)
class _Ord:
    """An order as Bybit shows it: the engine's ``Order`` plus the fields the engine does not keep."""

    uid: str                              # orderId
    link: str                             # orderLinkId ("" when the client gave none)
    name: str                             # the simulator's market name
    category: str
    order: Order
    order_type: str = "Limit"             # Limit | Market
    tif: str = "GTC"                      # GTC | IOC | FOK | PostOnly
    qty_text: str = ""                    # a spot market order in quoteCoin: its amount as sent
    reject: str = "EC_NoError"
    cancel_type: str = ""                 # set when the simulator cancels it (a user, DCP)


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
        venue = make_venue(VENUE, [MARKETS[s].spec for s in config.symbols], config, rules, [ACCOUNT])
        super().__init__(config, venue)
        self.config: BybitSimConfig = config
        self.default_account = ACCOUNT
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
        # the order side
        venue.on_account_event = self._on_account_event
        self.streams = {t: AccountStreams(self.hub) for t in DATA_TOPICS}
        self.private_ws = _PrivateWs(self)
        self.trade_ws = _TradeWs(self)
        self._orders: dict[str, _Ord] = {}            # orderId -> order
        self._links: dict[str, _Ord] = {}             # orderLinkId -> order (a link id is never reused)
        self._by_oid: dict[int, _Ord] = {}            # engine order id -> order
        self._synthetic_ids = itertools.count(-1, -1)  # orders the engine never saw (PostOnly refusals)
        self._held: list[object] | None = None        # account events of an order being placed
        self._dirty: set[str] = set()                 # linear markets whose position a fill changed
        self._fill_info: dict[tuple[str, int], tuple[int, int]] = {}  # (market, trade id) -> (closed lots, seq)
        self._seq = itertools.count(1)                 # the account's event sequence (seq)
        self._last_seq = 0
        self._dcp_window: dict[str, int] = {}         # product -> timeWindow (s)
        self._dcp_conns: dict[str, set[WsConn]] = {p: set() for p in DCP_TOPICS.values()}
        self._dcp_timers: dict[str, asyncio.TimerHandle] = {}
        self.dcp_fired: list[tuple[str, int]] = []    # (product, orders canceled) per trigger
        self.hub.on_remove.append(self._conn_gone)

    # ------------------------------------------------------------------ app
    def add_routes(self, r: web.UrlDispatcher) -> None:
        r.add_get(INSTRUMENTS_PATH, self.h_instruments)
        r.add_get(BOOK_PATH, self.h_orderbook)
        r.add_get("/v5/market/recent-trade", self.h_recent_trades)
        r.add_get("/v5/market/time", self.h_time)
        r.add_get("/v5/public/spot", self.h_ws(SPOT))
        r.add_get("/v5/public/linear", self.h_ws(LINEAR))
        r.add_get("/v5/public/misc/status", self.h_ws(MISC))
        r.add_get("/v5/private", self.h_ws_private)
        r.add_get("/v5/trade", self.h_ws_trade)
        for path, (method, bucket, op, fault) in self._signed_routes().items():
            (r.add_post if method == "POST" else r.add_get)(path, self.signed(path, bucket, op, fault))

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
        for h in self._dcp_timers.values():
            h.cancel()
        self._dcp_timers.clear()
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
        topic = hub_topic(cat, f"orderbook.50.{market_of(name)[1]}")
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

    # ------------------------------------------------------------------ signed REST
    def _signed_routes(self) -> dict[str, tuple[str, str, Callable[[dict[str, Any]], Any], bool]]:
        """path -> (method, rate-limit bucket, operation, whether the order fault applies)."""
        return {
            "/v5/order/create": ("POST", "CREATE_1S", self.op_create, True),
            "/v5/order/amend": ("POST", "AMEND_1S", self.op_amend, True),
            "/v5/order/cancel": ("POST", "CANCEL_1S", self.op_cancel, False),
            "/v5/order/cancel-all": ("POST", "CANCEL_1S", self.op_cancel_all, False),
            "/v5/order/realtime": ("GET", "QUERY_1S", self.op_realtime, False),
            "/v5/order/history": ("GET", "QUERY_1S", self.op_history, False),
            "/v5/execution/list": ("GET", "QUERY_1S", self.op_executions, False),
            "/v5/account/wallet-balance": ("GET", "QUERY_1S", self.op_wallet, False),
            "/v5/position/list": ("GET", "QUERY_1S", self.op_positions, False),
            "/v5/order/disconnected-cancel-all": ("POST", "QUERY_1S", self.op_dcp, False),
        }

    async def authenticate(self, request: web.Request) -> dict[str, Any]:
        """The request's parameters once its key, time and signature are checked: the query of a
        GET, else the JSON body.  The signed payload is the query string exactly as received, or
        the body as received."""
        h = request.headers
        key = h.get("X-BAPI-API-KEY", "")
        if not key or not hmac.compare_digest(key.encode(), self.config.api_key.encode()):
            raise BybitError(10003, "API key is invalid.", 401)
        ts, recv = h.get("X-BAPI-TIMESTAMP", ""), h.get("X-BAPI-RECV-WINDOW", "")
        check_window(ts, recv or str(RECV_WINDOW_MS), now_ms())
        if request.method == "GET":
            payload = request.rel_url.raw_query_string
        else:
            payload = (await request.read()).decode("utf-8", "replace") if request.can_read_body else ""
        origin = ts + key + recv + payload
        sig = h.get("X-BAPI-SIGN", "")
        if not hmac.compare_digest(sign_hex(self.config.api_secret, origin).encode(), sig.encode()):
            raise BybitError(10004, f"error sign! origin_string[{origin}]")
        if request.method == "GET":
            return dict(parse_qsl(payload, keep_blank_values=True))
        if not payload.strip():
            return {}
        try:
            params = _json.loads(payload)
        except ValueError:
            raise _params("params error: the body is not JSON") from None
        if not isinstance(params, dict):
            raise _params("params error: the body is not a JSON object")
        return params

    def _check_keyed(self, endpoint: str, bucket: str) -> dict[str, str]:
        """Count one request against the endpoint's per-account limit; its X-Bapi-Limit headers
        (10006 with them beyond the limit).  REST and the trade WebSocket share the count."""
        now = time.time()
        dec = self.limiter.check_bucket(f"{ACCOUNT}|{endpoint}", (bucket,), now)
        if not dec.used:
            return {}
        rule, count = dec.used[0]
        headers = {"X-Bapi-Limit": str(rule.limit), "X-Bapi-Limit-Status": str(max(0, rule.limit - count)),
                   "X-Bapi-Limit-Reset-Timestamp": str((rule.window(now) + 1) * rule.seconds * 1000)}
        if not dec.allowed:
            raise BybitError(10006, TOO_MANY, 200, headers)
        return headers

    async def run_signed(self, endpoint: str, bucket: str, op: Callable[[dict[str, Any]], Any], fault: bool,
                         params: dict[str, Any]) -> tuple[Any, dict[str, str]]:
        """One authenticated operation, REST or WebSocket alike: the endpoint's limit, the
        operation, the order fault; (result, limit headers).  Errors carry the headers too."""
        if params.get("category") == SPOT and bucket in ("CREATE_1S", "CANCEL_1S", "AMEND_1S"):
            bucket = "SPOT_" + bucket               # spot orders have limits of their own
        headers = self._check_keyed(f"{endpoint}|{bucket}", bucket)
        try:
            result = op(params)
            if fault:
                await self.order_fault()
        except BybitError as e:
            e.headers = {**headers, **e.headers}
            raise
        return result, headers

    def signed(self, endpoint: str, bucket: str, op: Callable[[dict[str, Any]], Any], fault: bool
               ) -> Callable[[web.Request], Any]:
        async def handler(request: web.Request) -> web.Response:
            params = await self.authenticate(request)
            result, headers = await self.run_signed(endpoint, bucket, op, fault, params)
            return self.json(self.ok(result), headers=headers)
        return handler

    # ------------------------------------------------------------------ orders: records and rendering
    def _uid(self, oid: int) -> str:
        digest = hashlib.blake2b(f"{self.config.seed}:order:{oid}".encode(), digest_size=16).digest()
        return str(uuid.UUID(bytes=digest, version=4))

    def _register(self, name: str, o: Order, **kw: Any) -> _Ord:
        r = _Ord(self._uid(o.order_id), kw.pop("link", ""), name, market_of(name)[0], o, **kw)
        self._orders[r.uid] = r
        self._by_oid[o.order_id] = r
        if r.link:
            self._links[r.link] = r
        return r

    def _rec(self, o: Order) -> _Ord:
        """The record of an engine order (one placed some other way, e.g. the admin API, gets one)."""
        r = self._by_oid.get(o.order_id)
        if r is None:
            r = self._register(o.symbol, o, order_type="Limit" if o.type == LIMIT else "Market",
                               tif="IOC" if o.type == MARKET else o.tif)
        return r

    def _state(self, r: _Ord, status: str, executed: int) -> str:
        if status in (CANCELED, EXPIRED):
            return "PartiallyFilledCanceled" if executed and r.category == SPOT else "Cancelled"
        return _STATUS.get(status, "New")

    def _price_text(self, name: str, d: Decimal) -> str:
        """A price that need not sit on the tick (an average): the tick's digits at least, up to
        four more when they are not zeros."""
        digits = _digits(self.markets[name].spec.tick)
        s = f"{d.quantize(Decimal(1).scaleb(-(digits + 4)), rounding=ROUND_HALF_EVEN):f}"
        whole, _, frac = s.partition(".")
        frac = frac.rstrip("0").ljust(digits, "0")
        return f"{whole}.{frac}" if frac else whole

    def _avg(self, r: _Ord, executed: int, cum_quote: int) -> str:
        if not executed:
            return "" if r.category == SPOT else "0"
        eng = self.venue.engines[r.name]
        return self._price_text(r.name, eng.quote_value(cum_quote) / eng.base_value(executed))

    @staticmethod
    def _fills_upto(o: Order, executed: int) -> list[Fill]:
        out, n = [], 0
        for f in o.fills:
            if n >= executed:
                break
            out.append(f)
            n += f.qty
        return out

    def _fee_coin(self, r: _Ord) -> str:
        spec = self.markets[r.name].spec
        return spec.quote if r.category == LINEAR or r.order.side == SELL else spec.base

    def _order_obj(self, r: _Ord, status: str | None = None, executed: int | None = None,
                   cum_quote: int | None = None, ts: int | None = None) -> dict[str, Any]:
        o, name = r.order, r.name
        status = o.status if status is None else status
        executed = o.executed if executed is None else executed
        cum_quote = o.cum_quote if cum_quote is None else cum_quote
        eng = self.venue.engines[name]
        fee = sum((f.commission for f in self._fills_upto(o, executed)), Decimal(0))
        leaves = o.qty - executed if status in OPEN_STATES else 0
        cancel = "UNKNOWN"
        if status in (CANCELED, EXPIRED):
            cancel = r.cancel_type or ("CancelByReduceOnly" if o.reduce_only and status == CANCELED else "UNKNOWN")
        return {
            "orderId": r.uid, "orderLinkId": r.link, "blockTradeId": "", "symbol": market_of(name)[1],
            "price": self._px(name, o.price) if o.price is not None else "0",
            "qty": r.qty_text or self._sz(name, o.qty), "side": "Buy" if o.side == BUY else "Sell",
            "isLeverage": "0" if r.category == SPOT else "", "positionIdx": 0,
            "orderStatus": self._state(r, status, executed), "cancelType": cancel, "rejectReason": r.reject,
            "avgPrice": self._avg(r, executed, cum_quote), "leavesQty": self._sz(name, leaves),
            "leavesValue": _dec(eng.quote_value(o.price * leaves)) if o.price is not None and leaves else "0",
            "cumExecQty": self._sz(name, executed), "cumExecValue": _dec(eng.quote_value(cum_quote)),
            "cumExecFee": _dec(fee) if fee else "0", "timeInForce": r.tif, "orderType": r.order_type,
            "stopOrderType": "", "orderIv": "", "triggerPrice": "0", "takeProfit": "0", "stopLoss": "0",
            "tpTriggerBy": "", "slTriggerBy": "", "triggerDirection": 0, "triggerBy": "", "lastPriceOnCreated": "",
            "reduceOnly": o.reduce_only, "closeOnTrigger": False, "smpType": "None", "smpGroup": 0,
            "smpOrderId": "", "tpslMode": "", "tpLimitPrice": "", "slLimitPrice": "", "placeType": "",
            "createdTime": str(o.created_ms), "updatedTime": str(ts if ts is not None else o.updated_ms or o.created_ms),
            "category": r.category,
        }

    def _exec_row(self, f: Fill, push: bool = False) -> dict[str, Any]:
        name = f.symbol
        eng = self.venue.engines[name]
        r = self._rec(eng.orders[f.order_id])
        o = r.order
        done = 0
        for g in o.fills:
            done += g.qty
            if g is f:
                break
        closed, seq = self._fill_info.get((name, f.trade_id), (0, f.trade_id))
        linear = r.category == LINEAR
        row: dict[str, Any] = {
            "symbol": market_of(name)[1], "orderId": r.uid, "orderLinkId": r.link,
            "side": "Buy" if f.side == BUY else "Sell",
            "orderPrice": self._px(name, o.price) if o.price is not None else "0",
            "orderQty": r.qty_text or self._sz(name, o.qty), "leavesQty": self._sz(name, max(0, o.qty - done)),
            "createType": "CreateByUser", "orderType": r.order_type, "stopOrderType": "",
            "execFee": _dec(f.commission) if f.commission else "0",
            "execId": self._exec_id(name, f.trade_id), "execPrice": self._px(name, f.price),
            "execQty": self._sz(name, f.qty), "execType": "Trade", "execValue": _dec(eng.quote_value(f.quote)),
            "execTime": str(f.ts), "feeCurrency": f.commission_asset, "isMaker": f.is_maker,
            "feeRate": _dec(eng.maker_fee if f.is_maker else eng.taker_fee),
            "tradeIv": "", "markIv": "", "markPrice": self._px(name, self._mid(name)) if linear else "",
            "indexPrice": "", "underlyingPrice": "", "blockTradeId": "",
            "closedSize": self._sz(name, closed) if linear else "", "seq": seq,
        }
        if push:
            row = {"category": r.category, **row, "isLeverage": "0" if r.category == SPOT else ""}
        return row

    def _exec_id(self, name: str, trade_id: int) -> str:
        """An execution's id is its public trade's id (spot: the number; linear: a UUID)."""
        if name.startswith(LINEAR_PREFIX):
            digest = hashlib.blake2b(f"{name}:{trade_id}".encode(), digest_size=16).digest()
            return str(uuid.UUID(bytes=digest, version=4))
        return str(trade_id)

    # ------------------------------------------------------------------ orders: parameters
    def _find(self, p: Mapping[str, Any], name: str) -> _Ord | None:
        """The order named by orderId and/or orderLinkId in market ``name`` (None: no such order)."""
        oid, link = _text(p, "orderId"), _text(p, "orderLinkId")
        if not oid and not link:
            raise _params("params error: orderId or orderLinkId is required")
        r = self._orders.get(oid) if oid else self._links.get(link)
        if r is None or (oid and link and r.link != link) or r.name != name:
            return None
        return r

    def _gone(self, category: str, amend: bool = False) -> BybitError:
        if category == SPOT and not amend:
            return BybitError(170213, "Order does not exist.")
        return BybitError(110001, "order not exists or too late to " + ("replace" if amend else "cancel"))

    def _refusal(self, reason: str, category: str, amend: bool = False) -> BybitError:
        if reason == INSUFFICIENT_BALANCE:
            return BybitError(170131, "Insufficient balance.")
        if reason == INSUFFICIENT_MARGIN:
            return BybitError(110007, "ab not enough for new order")
        if reason == REDUCE_ONLY_INCREASES:
            return BybitError(110017, "reduce-only order has same side with current position")
        if reason == REDUCE_ONLY_NO_POSITION:
            return BybitError(110017, "current position is zero, cannot fix reduce-only order qty")
        if reason == UNKNOWN_ORDER:
            return self._gone(category, amend)
        return _params("params error: order invalid")

    def _lots_for_amount(self, name: str, side: str, amount: Decimal) -> int:
        """Lots a spot market order of ``amount`` quote coin takes from the book now (rounded down)."""
        m = self.venue.markets[name]
        tick, lot = self.steps[name]
        _, bids, asks = m.depth()
        lots, left = 0, amount
        for p, q in asks if side == BUY else bids:
            unit = p * tick * lot                   # one lot's value at this level
            n = min(q, int(left / unit))
            lots += n
            left -= n * unit
            if n < q:
                break
        return lots

    def _crosses(self, name: str, side: str, price: int) -> bool:
        m = self.venue.markets[name]
        opp = m.best_ask() if side == BUY else m.best_bid()
        return opp is not None and (price >= opp[0] if side == BUY else price <= opp[0])

    # ------------------------------------------------------------------ orders: operations (REST + WS)
    def op_create(self, p: dict[str, Any]) -> dict[str, str]:
        cat = self._category(p)
        name = self._market(p, cat)
        side, otype = _text(p, "side"), _text(p, "orderType")
        if side not in ("Buy", "Sell"):
            raise _params("params error: side invalid")
        if otype not in ("Limit", "Market"):
            raise _params("params error: orderType invalid")
        link = _text(p, "orderLinkId")
        if link and not _LINK_RE.match(link):
            raise _params("params error: orderLinkId invalid")
        if link in self._links:
            raise BybitError(110072, "OrderLinkedID is duplicate")
        reduce_only = _flag(p, "reduceOnly")
        if reduce_only and cat == SPOT:
            raise _params("params error: reduceOnly is not supported for spot")
        if _text(p, "positionIdx") not in ("", "0"):
            raise _params("params error: position idx not match position mode")
        tif = _text(p, "timeInForce") or "GTC"
        if tif not in _TIFS:
            raise _params("params error: timeInForce invalid")
        if otype == "Market":
            tif = "IOC"                             # a market order is always immediate-or-cancel
        unit = _text(p, "marketUnit")
        if unit not in ("", "baseCoin", "quoteCoin"):
            raise _params("params error: marketUnit invalid")
        eside = BUY if side == "Buy" else SELL
        bm = self.markets[name]
        qty_d = _decimal(p, "qty")
        assert qty_d is not None
        price_d = _decimal(p, "price", required=otype == "Limit") if otype == "Limit" else None
        qty_text = ""
        if otype == "Market" and cat == SPOT and (unit or ("quoteCoin" if eside == BUY else "baseCoin")) == "quoteCoin":
            if qty_d < Decimal(bm.min_amt):
                raise _params(f"params error: order value below the minimum {bm.min_amt}")
            qty_text = _dec(qty_d)
            qty_d = self._lots_for_amount(name, eside, qty_d) * self.steps[name][1]
        try:
            price, qty = self.venue.order_units(name, price_d, qty_d)
        except FilterFailure as e:
            raise _params(f"params error: {'price' if e.filter.name == 'PRICE' else 'qty'} invalid") from None
        ref = price
        if ref is None:
            top = self.venue.markets[name].best_ask() if eside == BUY else self.venue.markets[name].best_bid()
            ref = top[0] if top else self.venue.markets[name].fair
        if not qty_text and qty * ref * self.steps[name][0] * self.steps[name][1] < Decimal(bm.min_amt):
            raise _params(f"params error: order value below the minimum {bm.min_amt}")
        ts = now_ms()
        if tif == "PostOnly" and price is not None and self._crosses(name, eside, price):
            # accepted, then canceled at once without trading: never reaches the book
            o = Order(next(self._synthetic_ids), link, ACCOUNT, name, eside, LIMIT, GTC, price, qty, ts,
                      status=CANCELED, updated_ms=ts, reduce_only=reduce_only)
            r = self._register(name, o, link=link, order_type=otype, tif=tif, reject=POST_ONLY_TAKES)
            self._publish("order", r.category, [self._push_order(r)])
            return {"orderId": r.uid, "orderLinkId": r.link}
        self._held = []
        try:
            res = self.venue.place(name, ACCOUNT, side=eside, type=LIMIT if otype == "Limit" else MARKET, qty=qty,
                                   price=price, tif=_TIFS[tif], client_id=link or None, ts=ts,
                                   reduce_only=reduce_only)
        except Reject as e:
            raise self._refusal(e.reason, cat) from None
        finally:
            held, self._held = self._held, None
        r = self._register(name, res.order, link=link, order_type=otype, tif=tif, qty_text=qty_text)
        for ev in held:
            self._dispatch(ev)
        return {"orderId": r.uid, "orderLinkId": r.link}

    def op_cancel(self, p: dict[str, Any]) -> dict[str, str]:
        cat = self._category(p)
        name = self._market(p, cat)
        r = self._find(p, name)
        if r is None or not r.order.is_open:
            raise self._gone(cat)
        self._cancel(r, "CancelByUser")
        return {"orderId": r.uid, "orderLinkId": r.link}

    def _cancel(self, r: _Ord, why: str) -> bool:
        before = r.cancel_type
        r.cancel_type = why
        try:
            self.venue.engines[r.name].cancel(ACCOUNT, r.order.order_id, None, None, now_ms())
        except Reject:
            r.cancel_type = before
            return False
        return True

    def op_amend(self, p: dict[str, Any]) -> dict[str, str]:
        cat = self._category(p)
        name = self._market(p, cat)
        r = self._find(p, name)
        if r is None or not r.order.is_open:
            raise self._gone(cat, amend=True)
        o = r.order
        qty_d, price_d = _decimal(p, "qty", required=False), _decimal(p, "price", required=False)
        m = self.venue.markets[name]
        try:
            qty = self.venue.order_units(name, None, qty_d)[1] if qty_d is not None else None
            price = self.venue.order_units(name, price_d, m.qty_scale.to_decimal(o.qty))[0] \
                if price_d is not None else None
        except FilterFailure as e:
            raise _params(f"params error: {'price' if e.filter.name == 'PRICE' else 'qty'} invalid") from None
        if (qty is None or qty == o.qty) and (price is None or price == o.price):
            raise _params("params error: order not modified")
        if r.order_type != "Limit" or (qty is not None and qty <= o.executed):
            raise _params("params error: qty invalid")
        if r.tif == "PostOnly" and price is not None and self._crosses(name, o.side, price):
            raise _params("params error: the PostOnly order would take liquidity")
        try:
            self.venue.amend(name, ACCOUNT, order_id=o.order_id, qty=qty, price=price, ts=now_ms())
        except Reject as e:
            raise self._refusal(e.reason, cat, amend=True) from None
        return {"orderId": r.uid, "orderLinkId": r.link}

    def _scope(self, p: Mapping[str, Any], cat: str) -> list[str]:
        """Markets of the category, narrowed by symbol / baseCoin / settleCoin when given."""
        sym = _text(p, "symbol")
        if sym:
            return [self._market(p, cat)]
        base, settle = _text(p, "baseCoin"), _text(p, "settleCoin")
        return [n for n, m in self.markets.items() if m.category == cat
                and (not base or m.spec.base == base) and (not settle or (cat == LINEAR and m.spec.quote == settle))]

    def op_cancel_all(self, p: dict[str, Any]) -> dict[str, Any]:
        cat = self._category(p)
        out = []
        for name in self._scope(p, cat):
            for o in self.venue.engines[name].open_orders(ACCOUNT):
                r = self._rec(o)
                if self._cancel(r, "CancelByUser"):
                    out.append({"orderId": r.uid, "orderLinkId": r.link})
        return {"list": out, "success": "1"}

    def _page(self, p: Mapping[str, Any], rows: list[Any], bounds: tuple[int, int]) -> tuple[list[Any], str]:
        limit = self._limit(p, bounds)
        cursor = _text(p, "cursor")
        if cursor and not cursor.isdigit():
            raise _params("params error: cursor invalid")
        start = int(cursor) if cursor else 0
        nxt = str(start + limit) if start + limit < len(rows) else ""
        return rows[start:start + limit], nxt

    def _order_list(self, p: Mapping[str, Any], closed: bool) -> dict[str, Any]:
        cat = self._category(p)
        names = set(self._scope(p, cat))
        if _text(p, "orderId") or _text(p, "orderLinkId"):
            found = [self._find(p, n) for n in names]
            rows = [r for r in found if r is not None]
        elif closed:
            rows = [r for r in self._orders.values() if r.name in names and not r.order.is_open]
        else:
            rows = [self._rec(o) for n in names for o in self.venue.engines[n].open_orders(ACCOUNT)]
        rows.sort(key=lambda r: (r.order.created_ms, r.order.order_id), reverse=True)    # newest first
        page, nxt = self._page(p, rows, (20, 50))
        return {"category": cat, "list": [self._order_obj(r) for r in page], "nextPageCursor": nxt}

    def op_realtime(self, p: dict[str, Any]) -> dict[str, Any]:
        if _text(p, "openOnly") not in ("", "0", "1", "2"):
            raise _params("params error: openOnly invalid")
        return self._order_list(p, closed=False)

    def op_history(self, p: dict[str, Any]) -> dict[str, Any]:
        return self._order_list(p, closed=True)

    def op_executions(self, p: dict[str, Any]) -> dict[str, Any]:
        cat = self._category(p)
        names = self._scope(p, cat)
        oid = _text(p, "orderId")
        r = self._orders.get(oid) if oid else None
        start, end = _text(p, "startTime"), _text(p, "endTime")
        if (start and not start.isdigit()) or (end and not end.isdigit()):
            raise _params("params error: startTime or endTime invalid")
        fills = []
        for n in names:
            for f in self.venue.engines[n].trades(ACCOUNT, limit=10 ** 9):
                if oid and (r is None or f.order_id != r.order.order_id):
                    continue
                if (start and f.ts < int(start)) or (end and f.ts > int(end)):
                    continue
                fills.append(f)
        fills.sort(key=lambda f: (f.ts, f.trade_id), reverse=True)            # newest first
        page, nxt = self._page(p, fills, (50, 100))
        return {"category": cat, "list": [self._exec_row(f) for f in page], "nextPageCursor": nxt}

    # ------------------------------------------------------------------ account
    def _usd_price(self, coin: str) -> Decimal:
        if coin in ("USDT", "USDC", "USD"):
            return Decimal(1)
        for name in (f"{coin}USDT", f"{LINEAR_PREFIX}{coin}USDT"):
            if name in self.markets:
                return self._mid(name) * self.steps[name][0]
        return Decimal(0)

    def _wallet(self, coins: set[str] | None = None) -> dict[str, Any]:
        """The unified account: cash per coin (``walletBalance``), spot orders' hold (``locked``),
        the linear orders' and positions' initial margin, unrealised PnL at the mid."""
        acct = self.venue.accounts[ACCOUNT]
        zero = Decimal(0)
        order_im: dict[str, Decimal] = {}
        pos_im: dict[str, Decimal] = {}
        pos_mm: dict[str, Decimal] = {}
        upl: dict[str, Decimal] = {}
        cum: dict[str, Decimal] = {}
        for name, eng in self.venue.engines.items():
            if not isinstance(eng, PerpEngine):
                continue
            s = eng.settle
            order_im[s] = order_im.get(s, zero) + sum((o.reserved for o in eng.open_orders(ACCOUNT)), zero)
            pos = eng.position(ACCOUNT)
            if pos is not None:
                mark = self._mid(name) * self.steps[name][0]
                pos_im[s] = pos_im.get(s, zero) + pos.margin
                pos_mm[s] = pos_mm.get(s, zero) + pos.notional(mark) * Decimal("0.005")
                upl[s] = upl.get(s, zero) + pos.upl(mark)
                cum[s] = cum.get(s, zero) + pos.realized_pnl - pos.fees
        rows = []
        tot_eq = tot_wallet = tot_upl = tot_im = tot_mm = zero
        for ccy, free, locked in acct.snapshot():
            if coins and ccy not in coins:
                continue
            wallet = free + locked
            oim, pim, u = order_im.get(ccy, zero), pos_im.get(ccy, zero), upl.get(ccy, zero)
            equity = wallet + u
            px = self._usd_price(ccy)
            tot_eq += equity * px
            tot_wallet += wallet * px
            tot_upl += u * px
            tot_im += (oim + pim) * px
            tot_mm += pos_mm.get(ccy, zero) * px
            rows.append({"coin": ccy, "equity": _money(equity), "usdValue": _money(equity * px),
                         "walletBalance": _money(wallet), "free": "", "locked": _money(locked - oim - pim),
                         "spotHedgingQty": "0", "borrowAmount": "0", "availableToWithdraw": "",
                         "accruedInterest": "0", "totalOrderIM": _money(oim), "totalPositionIM": _money(pim),
                         "totalPositionMM": _money(pos_mm.get(ccy, zero)), "unrealisedPnl": _money(u),
                         "cumRealisedPnl": _money(cum.get(ccy, zero)), "bonus": "0", "marginCollateral": True,
                         "collateralSwitch": True, "availableToBorrow": ""})
        margin_bal = tot_wallet + tot_upl
        return {"accountType": "UNIFIED", "accountLTV": "0", "accountIMRate": _money(tot_im / margin_bal, 4)
                if margin_bal else "0", "accountMMRate": _money(tot_mm / margin_bal, 4) if margin_bal else "0",
                "totalEquity": _money(tot_eq), "totalWalletBalance": _money(tot_wallet),
                "totalMarginBalance": _money(margin_bal), "totalAvailableBalance": _money(margin_bal - tot_im),
                "totalPerpUPL": _money(tot_upl), "totalInitialMargin": _money(tot_im),
                "totalMaintenanceMargin": _money(tot_mm), "coin": rows}

    def op_wallet(self, p: dict[str, Any]) -> dict[str, Any]:
        if _text(p, "accountType") != "UNIFIED":
            raise _params("accountType only support UNIFIED.")
        coins = {c for c in _text(p, "coin").split(",") if c}
        return {"list": [self._wallet(coins or None)]}

    def _position_row(self, name: str) -> dict[str, Any]:
        eng = self.venue.engines[name]
        assert isinstance(eng, PerpEngine)
        pos = eng.position(ACCOUNT)
        qty = pos.qty if pos is not None else 0
        mark = self._mid(name) * self.steps[name][0]
        value = pos.notional(pos.entry) if pos is not None and qty else Decimal(0)
        pnl = pos.realized_pnl - pos.fees if pos is not None else Decimal(0)
        return {
            "positionIdx": 0, "riskId": 1, "riskLimitValue": "2000000", "symbol": market_of(name)[1],
            "side": "Buy" if qty > 0 else "Sell" if qty < 0 else "", "size": self._sz(name, abs(qty)),
            "avgPrice": self._price_text(name, pos.entry) if pos is not None and qty else "0",
            "positionValue": _money(value), "tradeMode": 0, "autoAddMargin": 0, "positionStatus": "Normal",
            "leverage": _dec(eng.leverage), "markPrice": self._px(name, self._mid(name)), "liqPrice": "",
            "bustPrice": "", "positionIM": _money(pos.margin) if pos is not None else "0",
            "positionMM": _money(pos.notional(mark) * Decimal("0.005")) if pos is not None else "0",
            "positionBalance": _money(pos.margin) if pos is not None else "0", "tpslMode": "Full",
            "takeProfit": "0", "stopLoss": "0", "trailingStop": "0", "sessionAvgPrice": "",
            "unrealisedPnl": _money(pos.upl(mark)) if pos is not None else "0",
            "curRealisedPnl": _money(pnl), "cumRealisedPnl": _money(pnl), "adlRankIndicator": 2 if qty else 0,
            "isReduceOnly": False, "mmrSysUpdatedTime": "", "leverageSysUpdatedTime": "",
            "createdTime": str(pos.opened_ms if pos is not None else 0),
            "updatedTime": str(pos.updated_ms if pos is not None else 0), "seq": self._last_seq,
        }

    def _next_seq(self) -> int:
        self._last_seq = next(self._seq)
        return self._last_seq

    def _has_position(self, name: str) -> bool:
        eng = self.venue.engines[name]
        pos = eng.position(ACCOUNT) if isinstance(eng, PerpEngine) else None
        return pos is not None and pos.qty != 0

    def op_positions(self, p: dict[str, Any]) -> dict[str, Any]:
        if _text(p, "category") != LINEAR:
            raise _params("Illegal category")
        sym, settle = _text(p, "symbol"), _text(p, "settleCoin")
        if sym:
            rows = [self._position_row(self._market(p, LINEAR))]
        elif settle:
            rows = [self._position_row(n) for n in self._scope(p, LINEAR) if self._has_position(n)]
        else:
            raise _params("params error: symbol or settleCoin is required")
        return {"category": LINEAR, "list": rows, "nextPageCursor": ""}

    # ------------------------------------------------------------------ disconnect-cancel-all
    def op_dcp(self, p: dict[str, Any]) -> dict[str, Any]:
        product = _text(p, "product") or "OPTIONS"
        if product not in DCP_TOPICS.values():
            raise _params("params error: product invalid")
        w = _text(p, "timeWindow")
        if not w.isdigit() or not 3 <= int(w) <= 300:
            raise _params("params error: timeWindow invalid")
        self._dcp_window[product] = int(w)
        return {}

    def _dcp_subscribed(self, conn: WsConn, product: str) -> None:
        conn.data.setdefault("dcp", set()).add(product)
        self._dcp_conns[product].add(conn)
        h = self._dcp_timers.pop(product, None)
        if h is not None:
            h.cancel()

    def _dcp_dropped(self, conn: WsConn, product: str) -> None:
        conn.data.get("dcp", set()).discard(product)
        self._dcp_conns[product].discard(conn)

    def _conn_gone(self, conn: WsConn) -> None:
        """A private connection went away: a product whose last DCP subscriber it was starts its
        window; its open orders are canceled unless a connection subscribes again in time."""
        for product in list(conn.data.get("dcp", ())):
            self._dcp_conns[product].discard(conn)
            window = self._dcp_window.get(product)
            if not self._dcp_conns[product] and window and product not in self._dcp_timers:
                self._dcp_timers[product] = asyncio.get_running_loop().call_later(window, self._dcp_fire, product)

    def _dcp_fire(self, product: str) -> None:
        self._dcp_timers.pop(product, None)
        cat = DCP_CATEGORY.get(product)
        n = 0
        for name, bm in self.markets.items():
            if bm.category != cat:
                continue
            for o in self.venue.engines[name].open_orders(ACCOUNT):
                n += self._cancel(self._rec(o), "CancelByDCP")
        self.dcp_fired.append((product, n))

    # ------------------------------------------------------------------ private pushes
    def _on_account_event(self, ev: object) -> None:
        if self._held is not None:              # an order being placed: its record comes first
            self._held.append(ev)
            return
        self._dispatch(ev)

    def _push_order(self, r: _Ord, ev: ExecEvent | None = None) -> dict[str, Any]:
        d = self._order_obj(r, ev.status, ev.executed, ev.cum_quote, ev.ts) if ev is not None else self._order_obj(r)
        d["feeCurrency"] = self._fee_coin(r) if r.category == SPOT else ""
        return d

    def _dispatch(self, ev: object) -> None:
        if isinstance(ev, ExecEvent):
            r = self._rec(ev.order)
            seq = self._next_seq()
            f = ev.fill
            if f is not None and r.category == LINEAR:
                eng = self.venue.engines[r.name]
                pos = eng.position(ACCOUNT) if isinstance(eng, PerpEngine) else None
                after = pos.qty if pos is not None else 0
                before = after - (f.qty if f.side == BUY else -f.qty)
                closed = min(f.qty, abs(before)) if before and (before > 0) != (f.side == BUY) else 0
                self._fill_info[(r.name, f.trade_id)] = (closed, seq)
                self._dirty.add(r.name)
            elif f is not None:
                self._fill_info[(r.name, f.trade_id)] = (0, seq)
            self._publish("order", r.category, [self._push_order(r, ev)])
            if f is not None:
                self._publish("execution", r.category, [self._exec_row(f, push=True)])
        elif isinstance(ev, BalanceEvent):
            for name in sorted(self._dirty):
                self._publish("position", LINEAR, [{"category": LINEAR, **self._position_row(name)}])
            self._dirty.clear()
            self._publish("wallet", "", [self._wallet({a for a, _, _ in ev.assets})])

    def _publish(self, kind: str, category: str, rows: list[dict[str, Any]]) -> None:
        for topic in (kind, f"{kind}.{category}") if category else (kind,):
            stream = self.streams.get(topic)
            if stream is not None:
                stream.publish(ACCOUNT, _dumps({"id": str(uuid.uuid4()), "topic": topic,
                                                "creationTime": now_ms(), "data": rows}))

    # ------------------------------------------------------------------ private and trade WebSockets
    def _open_private(self, conn: WsConn) -> None:
        conn.data["conn_id"] = self.conn_id(MISC)

    def _private_socket(self, request: web.Request) -> WsConn:
        return self.ws_conn(request, "user", inbound_cap=False, idle_timeout_s=self.config.idle_timeout_s,
                            idle_close=(1000, b"Idle timeout"))

    async def h_ws_private(self, request: web.Request) -> web.StreamResponse:
        return await self._private_socket(request).serve(self.private_ws.on_text, self._open_private)

    async def h_ws_trade(self, request: web.Request) -> web.StreamResponse:
        return await self._private_socket(request).serve(self.trade_ws.on_text, self._open_private)

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
        cat, wire = split_topic(topic)
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
        if topic == hub_topic(MISC, STATUS_TOPIC):
            rows = self._current_status()
            return _dumps({"topic": STATUS_TOPIC, "ts": now_ms(), "data": rows}) if rows else None
        return None

    # ------------------------------------------------------------------ order books
    def _diff_topic(self, topic: str) -> DiffTopic | None:
        cat, wire = split_topic(topic)
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
            topic = hub_topic(cat, f"publicTrade.{sym}")
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
        cat, wire = split_topic(topic)
        name = market_name(cat, data["symbol"])
        return _dumps({"topic": wire, "type": kind, "data": data, "cs": self.venue.markets[name].update_id,
                       "ts": now_ms()})

    def _push_ticker(self, topic: str) -> None:
        """Linear: a delta of the fields that changed; spot: the whole ticker when anything did."""
        cat, wire = split_topic(topic)
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
            cat, wire = split_topic(topic)
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
        self.hub.publish(hub_topic(MISC, STATUS_TOPIC), _dumps({"topic": STATUS_TOPIC, "ts": now_ms(), "data": out}))


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
        return split_topic(topic)[1]

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
        topics = [hub_topic(self.category, a) for a in dict.fromkeys(args)]
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


# ====================================================================== private and trade WebSockets
class _PrivateWs:
    """``/v5/private`` as an ``RpcDialect``: ``{"req_id", "op": "auth" | "subscribe" | "unsubscribe" |
    "ping", "args"}``, each answered ``{"success", "ret_msg", "op", "conn_id", "req_id"}`` (ping:
    ``{"req_id", "op": "pong", "args": [<ms>], "conn_id"}``)."""

    def __init__(self, sim: BybitSim) -> None:
        self.sim = sim
        self.methods = {"auth": self.m_auth, "subscribe": self.m_subscribe, "unsubscribe": self.m_unsubscribe,
                        "ping": self.m_ping}
        self.rpc = RpcSocket(sim.limiter, self)
        self._conn: WsConn | None = None           # the connection whose frame is being read

    async def on_text(self, conn: WsConn, text: str) -> None:
        self._conn = conn
        try:
            await self.rpc.on_text(conn, text)
        finally:
            self._conn = None

    def _reply(self, conn: WsConn | None, op: str, rid: Any, success: bool, msg: str) -> str:
        conn = conn if conn is not None else self._conn
        d: dict[str, Any] = {"success": success, "ret_msg": msg, "op": op,
                             "conn_id": conn.data.get("conn_id", "") if conn is not None else ""}
        if rid is not None:
            d["req_id"] = rid
        return _dumps(d)

    # ------------------------------------------------------------------ RpcDialect
    def parse(self, text: str) -> RpcRequest:
        try:
            msg = _json.loads(text)
        except ValueError:
            msg = None
        if not isinstance(msg, dict) or not isinstance(msg.get("op"), str):
            raise ControlReply(self._reply(None, "", None, False, "error:request not json"))
        rid = msg.get("req_id")
        msg["req_id"] = rid if rid is None or isinstance(rid, str) else str(rid)
        return RpcRequest(msg["req_id"], msg["op"], msg)

    def weight(self, req: RpcRequest) -> int:
        return 0

    def limit_error(self, dec: Decision) -> BybitError:
        return BybitError(10006, TOO_MANY)

    def unknown_method(self, req: RpcRequest) -> BybitError:
        return BybitError(10001, f"error:unknown op {req.method}")

    def result(self, req: RpcRequest, result: Any, dec: Decision) -> str:
        return result

    def error(self, req: RpcRequest, e: SimError, dec: Decision) -> str:
        conn = e.data.get("conn") if isinstance(e.data, dict) else None
        return self._reply(conn, req.method, req.rid, False, e.msg)

    # ------------------------------------------------------------------ methods
    @staticmethod
    def _fail(conn: WsConn, msg: str) -> BybitError:
        return BybitError(10001, msg, data={"conn": conn})

    async def m_ping(self, conn: WsConn, msg: dict[str, Any]) -> str:
        d: dict[str, Any] = {"op": "pong", "args": [str(now_ms())], "conn_id": conn.data.get("conn_id", "")}
        return _dumps({"req_id": msg["req_id"], **d} if msg["req_id"] is not None else d)

    async def m_auth(self, conn: WsConn, msg: dict[str, Any]) -> str:
        args = msg.get("args")
        if conn.data.get("auth"):
            raise self._fail(conn, "Repeat auth")
        if not isinstance(args, list) or len(args) != 3 or not all(
                isinstance(a, (str, int)) and not isinstance(a, bool) for a in args):
            raise self._fail(conn, "Params Error")
        key, expires, sig = (str(a) for a in args)
        if not expires.isdigit() or int(expires) <= now_ms():
            raise self._fail(conn, "Params Error")
        cfg = self.sim.config
        if not hmac.compare_digest(key.encode(), cfg.api_key.encode()) or not hmac.compare_digest(
                sign_hex(cfg.api_secret, "GET/realtime" + expires).encode(), sig.encode()):
            raise self._fail(conn, "Request not authorized")
        conn.data["auth"] = True
        return self._reply(conn, "auth", msg["req_id"], True, "")

    def _topics(self, conn: WsConn, args: Any) -> list[str]:
        if not conn.data.get("auth"):
            raise self._fail(conn, "Request not authorized")
        if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
            raise self._fail(conn, "error:args invalid")
        for a in args:
            if a not in DATA_TOPICS and a not in DCP_TOPICS:
                raise self._fail(conn, f"error:handler not found,topic:{a}")
        return list(dict.fromkeys(args))

    async def m_subscribe(self, conn: WsConn, msg: dict[str, Any]) -> str:
        for t in self._topics(conn, msg.get("args")):
            if t in DCP_TOPICS:
                self.sim._dcp_subscribed(conn, DCP_TOPICS[t])
            else:
                self.sim.streams[t].subscribe(conn, ACCOUNT)
        return self._reply(conn, "subscribe", msg["req_id"], True, "")

    async def m_unsubscribe(self, conn: WsConn, msg: dict[str, Any]) -> str:
        for t in self._topics(conn, msg.get("args")):
            if t in DCP_TOPICS:
                self.sim._dcp_dropped(conn, DCP_TOPICS[t])
            else:
                self.sim.streams[t].unsubscribe(conn)
        return self._reply(conn, "unsubscribe", msg["req_id"], True, "")


class _TradeWs:
    """``/v5/trade`` (order entry) as an ``RpcDialect``: ``auth``, then ``{"reqId", "header":
    {"X-BAPI-TIMESTAMP", "X-BAPI-RECV-WINDOW"}, "op": "order.create" | "order.amend" |
    "order.cancel", "args": [<one REST body>]}`` answered ``{"reqId", "retCode", "retMsg", "op",
    "data", "retExtInfo", "header", "connId"}``; the operations, their limits and errors are the
    REST ones (``BybitSim.run_signed``)."""

    OPS = {"order.create": ("/v5/order/create", "CREATE_1S", "op_create", True),
           "order.amend": ("/v5/order/amend", "AMEND_1S", "op_amend", True),
           "order.cancel": ("/v5/order/cancel", "CANCEL_1S", "op_cancel", False)}

    def __init__(self, sim: BybitSim) -> None:
        self.sim = sim
        self.methods = {"auth": self.m_auth, "ping": self.m_ping, **{op: self._order_method(op) for op in self.OPS}}
        self.rpc = RpcSocket(sim.limiter, self)
        self._conn: WsConn | None = None
        self._trace = itertools.count(1)

    async def on_text(self, conn: WsConn, text: str) -> None:
        self._conn = conn
        try:
            await self.rpc.on_text(conn, text)
        finally:
            self._conn = None

    def _cid(self, conn: WsConn | None) -> str:
        conn = conn if conn is not None else self._conn
        return conn.data.get("conn_id", "") if conn is not None else ""

    @staticmethod
    def _head(rid: Any) -> dict[str, Any]:
        return {"reqId": rid} if rid is not None else {}

    def _answer(self, conn: WsConn | None, rid: Any, op: str, code: int, msg: str, data: Any,
                headers: Mapping[str, str] | None) -> str:
        d: dict[str, Any] = {**self._head(rid), "retCode": code, "retMsg": msg, "op": op}
        if op == "auth":
            return _dumps({**d, "connId": self._cid(conn)})
        trace = hashlib.blake2b(f"{self.sim.config.seed}:{next(self._trace)}".encode(), digest_size=16).hexdigest()
        head = {**(headers or {}), "Traceid": trace, "Timenow": str(now_ms())}
        return _dumps({**d, "data": data, "retExtInfo": {}, "header": head, "connId": self._cid(conn)})

    # ------------------------------------------------------------------ RpcDialect
    def parse(self, text: str) -> RpcRequest:
        try:
            msg = _json.loads(text)
        except ValueError:
            msg = None
        if not isinstance(msg, dict) or not isinstance(msg.get("op"), str):
            raise ControlReply(self._answer(None, None, "", 10001, "params error: the request is not JSON", {}, None))
        rid = msg.get("reqId")
        msg["reqId"] = rid if rid is None or isinstance(rid, str) else str(rid)
        return RpcRequest(msg["reqId"], msg["op"], msg)

    def weight(self, req: RpcRequest) -> int:
        return 0          # order entry counts against the per-endpoint budgets, not the IP

    def limit_error(self, dec: Decision) -> BybitError:
        return BybitError(10006, TOO_MANY)

    def unknown_method(self, req: RpcRequest) -> BybitError:
        return BybitError(10001, f"params error: op {req.method} invalid")

    def result(self, req: RpcRequest, result: Any, dec: Decision) -> str:
        return result

    def error(self, req: RpcRequest, e: SimError, dec: Decision) -> str:
        conn = e.data.get("conn") if isinstance(e.data, dict) else None
        return self._answer(conn, req.rid, req.method, int(e.code), e.msg, {}, e.headers)

    # ------------------------------------------------------------------ methods
    async def m_ping(self, conn: WsConn, msg: dict[str, Any]) -> str:
        return _dumps({**self._head(msg["reqId"]), "retCode": 0, "retMsg": "OK", "op": "pong",
                       "data": [str(now_ms())], "connId": self._cid(conn)})

    async def m_auth(self, conn: WsConn, msg: dict[str, Any]) -> str:
        def fail(code: int, text: str) -> BybitError:
            return BybitError(code, text, data={"conn": conn})
        if conn.data.get("auth"):
            raise fail(20001, "Repeat auth")
        args = msg.get("args")
        if not isinstance(args, list) or len(args) != 3 or not all(
                isinstance(a, (str, int)) and not isinstance(a, bool) for a in args):
            raise fail(10001, "Params Error")
        key, expires, sig = (str(a) for a in args)
        if not expires.isdigit() or int(expires) <= now_ms():
            raise fail(10001, "Params Error")
        cfg = self.sim.config
        if not hmac.compare_digest(key.encode(), cfg.api_key.encode()):
            raise fail(10003, "API key is invalid.")
        if not hmac.compare_digest(sign_hex(cfg.api_secret, "GET/realtime" + expires).encode(), sig.encode()):
            raise fail(10004, "Invalid sign")
        conn.data["auth"] = True
        return self._answer(conn, msg["reqId"], "auth", 0, "OK", None, None)

    def _order_method(self, op: str) -> Callable[[WsConn, dict[str, Any]], Any]:
        endpoint, bucket, fn, fault = self.OPS[op]

        async def call(conn: WsConn, msg: dict[str, Any]) -> str:
            def fail(code: int, text: str) -> BybitError:
                return BybitError(code, text, data={"conn": conn})
            if not conn.data.get("auth"):
                raise fail(10003, "Request not authorized")
            rid = msg["reqId"]
            if rid is not None:
                if len(rid) > 36:
                    raise fail(10001, "params error: reqId is longer than 36 characters")
                seen = conn.data.setdefault("req_ids", set())
                if rid in seen:
                    raise fail(20006, "reqId is duplicated")
                seen.add(rid)
            header = msg.get("header")
            if not isinstance(header, dict):
                raise fail(10001, "params error: header is required")
            try:
                check_window(str(header.get("X-BAPI-TIMESTAMP", "")),
                             str(header.get("X-BAPI-RECV-WINDOW") or RECV_WINDOW_MS), now_ms())
            except BybitError as e:
                raise fail(int(e.code), e.msg) from None
            args = msg.get("args")
            if not isinstance(args, list) or len(args) != 1 or not isinstance(args[0], dict):
                raise fail(10001, "params error: args takes one order")
            try:
                result, headers = await self.sim.run_signed(endpoint, bucket, getattr(self.sim, fn), fault,
                                                            dict(args[0]))
            except BybitError as e:
                e.data = {"conn": conn}
                raise
            return self._answer(conn, rid, op, 0, "OK", result, headers)
        return call


SIM = SimDialect(venue=VENUE, title="Bybit v5 simulator", config=BybitSimConfig, app=BybitSim,
                 extra_args=_bybit_args, report_extra=_bybit_report)

if __name__ == "__main__":
    SIM.main()
