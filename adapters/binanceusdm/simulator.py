"""Binance USD-M futures simulator dialect.

Binance spot's simulator (``venuelink.adapters.binance.simulator``) with the futures wire format: only what
differs is here.  Signing (HMAC-SHA256 hex of query string + body, ``X-MBX-APIKEY``,
timestamp/recvWindow), error bodies and HTTP statuses, 429/418 with ``Retry-After``, the
market-data control frames (SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS / SET_PROPERTY) and the
combined ``{"stream","data"}`` wrapper are spot's.  Rate limits are the engine's own
``venuelink.adapters.binanceusdm.spec.SPEC.buckets``; request weights ``spec.ENDPOINTS`` / ``spec.depth_weight``.

Instruments: ``BTCUSDT`` and ``ETHUSDT`` perpetuals and one dated ``BTCUSDT_<yymmdd>``
(``CURRENT_QUARTER``, delivered the last Friday of the quarter at 08:00 UTC), margined in USDT,
sizes in the base asset; one-way (net) positions, ``positionSide`` ``BOTH``, unless the account
is switched to hedge mode (``POST /fapi/v1/positionSide/dual``): then every order names its leg
(``LONG`` / ``SHORT``), each leg is a position of its own (BUY+LONG opens, SELL+LONG closes, never
more than the leg holds: -2022), and ``reduceOnly`` may not be sent (-1106).

* REST ``/fapi``: ping, time, exchangeInfo, depth, aggTrades, openInterest; signed order
  (POST / PUT = modify / DELETE / GET), openOrders, allOpenOrders, countdownCancelAll, userTrades, ``/fapi/v2/balance``,
  ``/fapi/v3/positionRisk``, ``/fapi/v1/positionSide/dual`` (GET / POST; a change refused with
  -4068 while a position is open, -4067 while an order is, -4059 when already so);
  ``/fapi/v1/listenKey`` (POST / PUT / DELETE, API key only, 60 min
  validity).  Request weights and the ``X-MBX-USED-WEIGHT-1M`` / ``X-MBX-ORDER-COUNT-10S|1M``
  headers as on the venue.  Orders: LIMIT (GTC, IOC, FOK, GTX = post-only, refused with -5022 when
  it would take) and MARKET, ``reduceOnly`` (one-way mode), ``positionSide`` as the mode wants (-4061),
  ``newOrderRespType`` ACK (default) or RESULT, MIN_NOTIONAL unless reduce-only.
* Market-data WebSocket, split by path as the venue does since 2026:
  ``/public/ws/<streams>``, ``/public/stream?streams=`` carry ``<s>@depth`` (250 ms),
  ``<s>@depth@100ms``, ``<s>@depth@500ms`` and ``<s>@bookTicker``; ``/market/ws/...``,
  ``/market/stream?streams=`` carry ``<s>@aggTrade``, ``<s>@markPrice`` (3 s),
  ``<s>@markPrice@1s`` and ``<s>@forceOrder``.  A stream of the other path is accepted and
  listed, and yields nothing.  ``depthUpdate`` carries ``pu``, the previous update's ``u`` on the
  stream; update ids are the book's, shared with the REST snapshot's ``lastUpdateId``.
  ``markPriceUpdate``: mark = the book's mid, an index a few basis points off, funding rate and the
  next 00/08/16 UTC funding time (``"r": ""``, ``"T": 0`` for the dated contract, as the venue
  sends for delivery contracts).  ``forceOrder``: at most one a second per symbol, about
  ``--force-orders-per-min`` a minute.
* WebSocket API ``/ws-fapi/v1`` (order entry): ``order.place``, ``order.modify``, ``order.cancel``,
  ``order.status`` as ``{"id", "method", "params"}`` with the REST request's parameters plus
  ``apiKey``, ``timestamp`` and ``signature`` (over the parameters sorted by name), answered
  ``{"id", "status", "result" | "error", "rateLimits"}``; the REST handlers do the work, so weights,
  order counts, refusals and the ``order`` fault are REST's. The IP's limits are one for REST and
  the WebSocket API at the venue: the ``ban`` fault and a ``rate_limit`` fault without a path
  reach its requests too (418 / 429 with ``retryAfter`` in the error's ``data``), and each of its
  answers is logged in the request log as ``("WS", <method>, <status>, <Retry-After>)``.
* User data: ``/private/ws/<listenKey>`` or ``/private/ws?listenKey=`` (an unknown or expired key:
  HTTP 400), raw events ``ORDER_TRADE_UPDATE``, ``ACCOUNT_UPDATE`` after each fill, and
  ``listenKeyExpired``.

Run: ``python -m venuelink.adapters.binanceusdm.simulator --host 127.0.0.1 --port 0 [--rate 50]
[--symbols BTCUSDT,ETHUSDT] [--seed 1] [--api-key K --api-secret S] [--force-orders-per-min 3]``.
"""

from __future__ import annotations

import argparse
import asyncio
import calendar
import math
import random
import re
import string
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, ClassVar, Mapping

from aiohttp import web

from venuelink.adapters.binance.simulator import (
    _RL_TYPE,
    side_param,
    ApiError,
    BinanceSim,
    BinanceSimConfig,
    BinanceWsApi,
    _illegal,
    _mandatory,
    add_binance_args,
)
from venuelink.adapters.binanceusdm.spec import ENDPOINTS, OPEN_ORDERS_ALL_WEIGHT, SPEC, WS_API_PATH, WS_METHODS, depth_weight
from venuelink.sim.app import SimError, dumps as _dumps
from venuelink.sim.core import Filter, FilterFailure, SymbolSpec, cancel_tasks, every
from venuelink.sim.dialect import SimDialect
from venuelink.sim.limits import ORDERS, WEIGHT, Decision
from venuelink.sim.market import BUY, SELL, Trade, now_ms
from venuelink.sim.matching import (AMENDED, CANCELED, DUPLICATE_CLIENT_ID, FOK, GTC, INSUFFICIENT_BALANCE, IOC, LIMIT,
                                 MARKET, NEW, ExecEvent, Order, Reject)
from venuelink.sim.rpc import Method, RpcRequest, RpcSocket
from venuelink.sim.positions import (CLOSE_EXCEEDS_POSITION, INSUFFICIENT_MARGIN, REDUCE_ONLY_INCREASES,
                                  REDUCE_ONLY_NO_POSITION, PerpEngine, PerpPosition)
from venuelink.sim.streams import DiffTopic
from venuelink.sim.wsconn import Control, Op, Refusal, WsConn

VENUE = "binanceusdm"
ACCOUNT = "binanceusdm-sim"
# simulator-only credentials (64 alphanumerics, like real keys); override with --api-key/--api-secret
DEFAULT_API_KEY = "vlSimBinanceUsdmApiKey".ljust(63, "0") + "1"
DEFAULT_API_SECRET = "vlSimBinanceUsdmSecret".ljust(63, "0") + "1"

PERPETUAL_DELIVERY_MS = 4133404800000        # 2100-12-25: what the venue lists for perpetuals
FUNDING_PERIOD_MS = 8 * 3600 * 1000          # funding at 00:00, 08:00, 16:00 UTC

PUBLIC_KINDS = ("depth", "depth@100ms", "depth@500ms", "bookTicker")
MARKET_KINDS = ("aggTrade", "markPrice", "markPrice@1s", "forceOrder")
ENDPOINT_KINDS = {"public": PUBLIC_KINDS, "market": MARKET_KINDS}
DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)
_CLIENT_ID_PATTERN = r"^[\.A-Z\:/a-z0-9_-]{1,36}$"
_CLIENT_ID_RE = re.compile(_CLIENT_ID_PATTERN)
_ALNUM = string.ascii_letters + string.digits
_MAINT = Decimal("0.025")                    # maintMarginPercent 2.5
_EXEC_TYPE = {AMENDED: "AMENDMENT"}          # the matching engine's execution types the venue names otherwise


def quarter_delivery(now: datetime) -> datetime:
    """The last Friday of ``now``'s quarter at 08:00 UTC (of the next quarter once that has passed)."""
    year, q_end = now.year, ((now.month - 1) // 3 + 1) * 3
    for _ in range(2):
        last = datetime(year, q_end, calendar.monthrange(year, q_end)[1], 8, tzinfo=timezone.utc)
        friday = last - timedelta(days=(last.weekday() - 4) % 7)
        if friday > now:
            return friday
        year, q_end = (year + 1, 3) if q_end == 12 else (year, q_end + 3)
    raise AssertionError("unreachable")


@dataclass(frozen=True, slots=True)
class FuturesInstrument:
    spec: SymbolSpec
    contract_type: str                # PERPETUAL | CURRENT_QUARTER
    delivery_ms: int
    onboard_ms: int
    price_precision: int
    qty_precision: int
    min_notional: str
    market_max_qty: str

    @property
    def pair(self) -> str:
        return self.spec.symbol.split("_")[0]


def _instruments(now: datetime) -> dict[str, FuturesInstrument]:
    delivery = quarter_delivery(now)
    dated = "BTCUSDT_" + delivery.strftime("%y%m%d")

    def spec(sym: str, base: str, tick: str, mid: str, min_price: str, max_price: str) -> SymbolSpec:
        return SymbolSpec(sym, base, "USDT", tick, "0.001", mid, min_qty="0.001", max_qty="1000",
                          min_price=min_price, max_price=max_price, mean_size=3000, contract_value="1")

    return {
        "BTCUSDT": FuturesInstrument(spec("BTCUSDT", "BTC", "0.10", "60000.00", "556.80", "4529764"),
                                     "PERPETUAL", PERPETUAL_DELIVERY_MS, 1569398400000, 2, 3, "100", "120"),
        "ETHUSDT": FuturesInstrument(spec("ETHUSDT", "ETH", "0.01", "3000.00", "39.86", "306177"),
                                     "PERPETUAL", PERPETUAL_DELIVERY_MS, 1569398400000, 2, 3, "20", "2000"),
        dated: FuturesInstrument(spec(dated, "BTC", "0.10", "60300.00", "576.30", "1000000"),
                                 "CURRENT_QUARTER", int(delivery.timestamp() * 1000),
                                 int((delivery - timedelta(days=91)).timestamp() * 1000), 1, 3, "5", "50"),
    }


INSTRUMENTS = _instruments(datetime.now(timezone.utc))

# bucket name (venuelink.adapters.binanceusdm.spec.SPEC.buckets) -> what the simulator counts against it
BUCKET_SCOPES = {"REQUEST_WEIGHT": WEIGHT, "ORDERS_10S": ORDERS, "ORDERS_1M": ORDERS}


# ====================================================================== configuration
@dataclass(slots=True)
class BinanceUsdmSimConfig(BinanceSimConfig):
    symbols: list[str] = field(default_factory=lambda: list(INSTRUMENTS))
    balances: dict[str, str] = field(default_factory=lambda: {"USDT": "100000"})
    api_key: str = DEFAULT_API_KEY
    api_secret: str = field(default=DEFAULT_API_SECRET, repr=False)  # never in a repr
    leverage: int = 20
    maker_fee: str = "0.0002"
    taker_fee: str = "0.0005"
    max_topics: int = SPEC.endpoints[0].max_topics_per_connection
    max_inbound_per_s: int = int(SPEC.endpoints[0].max_msgs_per_s)
    ping_interval: float = SPEC.endpoints[0].server_ping_s
    max_conn_age: float = SPEC.endpoints[0].max_connection_age_s
    depth_fast_ms: float = 100.0  # <s>@depth@100ms
    depth_slow_ms: float = 250.0  # <s>@depth
    depth_mid_ms: float = 500.0  # <s>@depth@500ms
    mark_fast_ms: float = 1000.0  # <s>@markPrice@1s
    mark_slow_ms: float = 3000.0  # <s>@markPrice
    force_orders_per_min: float = 3.0  # liquidations per symbol and minute on <s>@forceOrder
    listen_key_validity_s: float = 3600.0

    LIMIT_OPTIONS: ClassVar[Mapping[str, str]] = {
        "weight_limit": "REQUEST_WEIGHT", "orders_10s": "ORDERS_10S", "orders_1m": "ORDERS_1M",
    }


def _usdm_args(p: argparse.ArgumentParser, d: BinanceUsdmSimConfig) -> None:
    add_binance_args(p, d)
    p.add_argument("--depth-mid-ms", type=float, default=d.depth_mid_ms, help="@depth@500ms cadence")
    p.add_argument("--mark-fast-ms", type=float, default=d.mark_fast_ms, help="@markPrice@1s cadence")
    p.add_argument("--mark-slow-ms", type=float, default=d.mark_slow_ms, help="@markPrice cadence")
    p.add_argument("--force-orders-per-min", type=float, default=d.force_orders_per_min,
                   help="liquidations per symbol and minute on @forceOrder")
    p.add_argument("--listen-key-validity-s", type=float, default=d.listen_key_validity_s)


def _usdm_report(host: str, port: int, config: BinanceUsdmSimConfig) -> dict[str, Any]:
    ws = f"ws://{host}:{port}"
    return {"ws_public_url": f"{ws}/public", "ws_market_url": f"{ws}/market",
            "ws_private_url": f"{ws}/private", "ws_api_url": f"{ws}/private",   # where the engine finds its private stream
            "ws_fapi_url": f"{ws}{WS_API_PATH}",                                 # order entry (WebSocket API)
            "api_key": config.api_key, "api_secret": config.api_secret}


def _f8(d: Decimal) -> str:
    return f"{d:.8f}"


# ====================================================================== split stream endpoints
class StreamEndpoint:
    """One market-data path (``public`` or ``market``) as a control dialect over the spot one.

    Every stream name the venue has is accepted; a name served on the other path is held under a
    hub topic nothing publishes on (``<path>|<name>``), listed and unsubscribed by its own name."""

    def __init__(self, sim: "BinanceUsdmSim", name: str) -> None:
        self.sim = sim
        self.name = name
        self.kinds = ENDPOINT_KINDS[name]
        self.prefix = name + "|"
        self.control = sim.topic_control(self)

    def to_hub(self, stream: str) -> str:
        if stream.partition("@")[2] in self.kinds or not self.sim.valid_topic(stream):
            return stream
        return self.prefix + stream

    def to_wire(self, topic: str) -> str:
        return topic[len(self.prefix):] if topic.startswith(self.prefix) else topic

    # ControlDialect
    def parse(self, text: str) -> Control:
        ctl = self.sim.parse(text)
        if ctl.op in (Op.SUBSCRIBE, Op.UNSUBSCRIBE):
            ctl.topics = [self.to_hub(t) for t in ctl.topics]
        return ctl

    def valid_topic(self, topic: str) -> bool:
        return self.sim.valid_topic(self.to_wire(topic))

    def ack(self, conn: WsConn, ctl: Control) -> str:
        if ctl.op == Op.LIST:
            return _dumps({"result": sorted(self.to_wire(t) for t in conn.topics), "id": ctl.rid})
        return self.sim.ack(conn, ctl)

    def refuse(self, conn: WsConn, ctl: Control, why: Refusal, topics: list[str]) -> str:
        return self.sim.refuse(conn, ctl, why, [self.to_wire(t) for t in topics])

    def other(self, conn: WsConn, ctl: Control) -> str:
        return self.sim.other(conn, ctl)


# ====================================================================== the dialect
class BinanceUsdmSim(BinanceSim):
    venue_name = VENUE
    account_id = ACCOUNT
    symbol_specs = {s: i.spec for s, i in INSTRUMENTS.items()}
    buckets = SPEC.buckets
    bucket_scopes = BUCKET_SCOPES
    status_path = ""                    # no futures status endpoint

    def __init__(self, config: BinanceUsdmSimConfig) -> None:
        super().__init__(config)
        self.config: BinanceUsdmSimConfig = config
        self.diff_cadences_ms = {config.depth_fast_ms, config.depth_slow_ms, config.depth_mid_ms}
        self.endpoints = {name: StreamEndpoint(self, name) for name in ENDPOINT_KINDS}
        self._rng = random.Random(config.seed * 7919 + 17)
        self._tasks: list[asyncio.Task] = []
        # open interest per symbol, in lots: starts at a few hundred levels' worth, moved by trades
        self._oi = {s: 400 * self.venue.specs[s].mean_size for s in config.symbols}
        self._index_skew = {s: 0.0 for s in config.symbols}
        self._post_only: set[int] = set()           # ids of GTX orders (the engine's GTC, reported as GTX)
        self._placing_post_only = False
        self._countdowns: dict[str, asyncio.TimerHandle] = {}
        self._listen_key: str | None = None
        self._listen_key_expiry = 0.0               # time.monotonic() deadline
        self._key_rng = random.Random(config.seed * 104729 + 3)
        self.ws_fapi = RpcSocket(self.limiter, UsdmWsApi(self))
        self.dual_side = False                      # hedge mode (dualSidePosition), account-wide

    # ------------------------------------------------------------------ app
    API = "/fapi/v1"

    def add_routes(self, r: web.UrlDispatcher) -> None:
        self.add_shared_routes(r)
        r.add_get("/fapi/v1/aggTrades", self.h_agg_trades)
        r.add_get("/fapi/v1/openInterest", self.h_open_interest)
        r.add_put("/fapi/v1/order", self.h_order_modify)
        r.add_delete("/fapi/v1/allOpenOrders", self.private(self.op_cancel_all))
        r.add_post("/fapi/v1/countdownCancelAll", self.private(self.op_countdown_cancel_all))
        r.add_get("/fapi/v1/userTrades", self.private(self.op_user_trades))
        r.add_get("/fapi/v2/balance", self.private(self.op_balance))
        r.add_get("/fapi/v3/positionRisk", self.private(self.op_position_risk))
        r.add_get("/fapi/v1/positionSide/dual", self.private(self.op_get_dual))
        r.add_post("/fapi/v1/positionSide/dual", self.private(self.op_set_dual))
        for m in ("POST", "PUT", "DELETE"):
            r.add_route(m, "/fapi/v1/listenKey", self.h_listen_key)
        r.add_get(WS_API_PATH, self.h_ws_fapi)
        r.add_get("/private/ws", self.h_ws_private)
        r.add_get("/private/ws/{key}", self.h_ws_private)
        for name in ENDPOINT_KINDS:
            r.add_get(f"/{name}/ws", self._raw_handler(name))
            r.add_get(f"/{name}/ws/{{streams:.+}}", self._raw_handler(name))
            r.add_get(f"/{name}/stream", self._combined_handler(name))

    async def _on_startup(self, app: web.Application) -> None:
        await super()._on_startup(app)
        loop = asyncio.get_running_loop()
        c = self.config
        if c.mark_fast_ms > 0:
            self._tasks.append(loop.create_task(every(c.mark_fast_ms / 1000.0, lambda: self._marks("@markPrice@1s"))))
        if c.mark_slow_ms > 0:
            self._tasks.append(loop.create_task(every(c.mark_slow_ms / 1000.0, lambda: self._marks("@markPrice"))))
        if c.force_orders_per_min > 0:
            self._tasks.append(loop.create_task(every(1.0, self._force_orders)))
        self._tasks.append(loop.create_task(every(min(1.0, c.listen_key_validity_s / 4), self._expire_listen_key)))

    async def _on_shutdown(self, app: web.Application) -> None:
        await cancel_tasks(self._tasks)
        for h in self._countdowns.values():
            h.cancel()
        await super()._on_shutdown(app)

    # ------------------------------------------------------------------ REST dialect
    def is_api_path(self, path: str) -> bool:
        return path.startswith("/fapi/")

    def request_weight(self, request: web.Request) -> int:
        path, method, q = request.path, request.method, request.query
        if path == "/fapi/v1/depth":
            try:
                return depth_weight(int(q.get("limit", "500")))
            except ValueError:
                return depth_weight(500)
        if path == "/fapi/v1/openOrders" and not q.get("symbol"):
            return OPEN_ORDERS_ALL_WEIGHT
        weights, _ = ENDPOINTS.get((method, path), ({}, None))
        return weights.get("REQUEST_WEIGHT", 1)

    # ------------------------------------------------------------------ formatting
    def _inst(self, sym: str) -> FuturesInstrument:
        return INSTRUMENTS[sym]

    def _px(self, sym: str, ticks: int | None) -> str:
        pp = INSTRUMENTS[sym].price_precision
        return f"{self.venue.markets[sym].price_scale.to_decimal(ticks or 0):.{pp}f}"

    def _qty(self, sym: str, lots: int) -> str:
        return f"{self.venue.markets[sym].qty_scale.to_decimal(lots):.{INSTRUMENTS[sym].qty_precision}f}"

    def _mark(self, sym: str) -> Decimal:
        """Mark price: the book's mid on the tick grid."""
        m = self.venue.markets[sym]
        bb, ba = m.best_bid(), m.best_ask()
        ticks = (bb[0] + ba[0]) // 2 if bb and ba else m.fair
        return m.price_scale.to_decimal(ticks)

    # ------------------------------------------------------------------ public REST
    def exchange_info(self, symbols: list[str] | None = None) -> dict[str, Any]:
        out = []
        for s in symbols or list(self.venue.engines):
            i, sp = INSTRUMENTS[s], self.venue.specs[s]
            out.append({
                "symbol": s, "pair": i.pair, "contractType": i.contract_type, "deliveryDate": i.delivery_ms,
                "onboardDate": i.onboard_ms, "status": "TRADING", "maintMarginPercent": "2.5000",
                "requiredMarginPercent": "5.0000", "baseAsset": sp.base, "quoteAsset": sp.quote,
                "marginAsset": sp.quote, "pricePrecision": i.price_precision, "quantityPrecision": i.qty_precision,
                "baseAssetPrecision": 8, "quotePrecision": 8, "underlyingType": "COIN", "underlyingSubType": [],
                "settlePlan": 0, "triggerProtect": "0.0500", "liquidationFee": "0.012500",
                "marketTakeBound": "0.05", "maxMoveOrderLimit": 10000,
                "filters": [
                    {"filterType": "PRICE_FILTER", "maxPrice": sp.max_price, "minPrice": sp.min_price or sp.tick,
                     "tickSize": sp.tick},
                    {"filterType": "LOT_SIZE", "maxQty": sp.max_qty, "minQty": sp.min_qty or sp.lot,
                     "stepSize": sp.lot},
                    {"filterType": "MARKET_LOT_SIZE", "maxQty": i.market_max_qty, "minQty": sp.min_qty or sp.lot,
                     "stepSize": sp.lot},
                    {"filterType": "MAX_NUM_ORDERS", "limit": 200},
                    {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
                    {"filterType": "MIN_NOTIONAL", "notional": i.min_notional},
                    {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500",
                     "multiplierDecimal": "4"},
                ],
                "orderTypes": ["LIMIT", "MARKET"], "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
            })
        return {
            "timezone": "UTC", "serverTime": now_ms(),
            "futuresType": "U_MARGINED",
            "rateLimits": [{"rateLimitType": _RL_TYPE[r.kind], "interval": r.interval, "intervalNum": r.num,
                            "limit": r.limit} for r in self.limiter.rules],
            "exchangeFilters": [],
            "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"}],
            "symbols": out,
        }

    async def h_exchange_info(self, request: web.Request) -> web.Response:
        return self.json(self.exchange_info())

    async def h_depth(self, request: web.Request) -> web.Response:
        q = self._public_params(request)
        sym = self.param_symbol(q)
        limit = self.param_int(q, "limit")
        limit = 500 if limit is None else limit
        if limit not in DEPTH_LIMITS:
            raise ApiError(-1130, "Data sent for parameter 'limit' is not valid.")
        m = self.venue.markets[sym]
        uid, bids, asks = m.depth(limit)
        ts = now_ms()
        return self.json({"lastUpdateId": uid, "E": ts, "T": ts,
                          "bids": [[self._px(sym, p), self._qty(sym, s)] for p, s in bids],
                          "asks": [[self._px(sym, p), self._qty(sym, s)] for p, s in asks]})

    async def h_agg_trades(self, request: web.Request) -> web.Response:
        q = self._public_params(request)
        sym = self.param_symbol(q)
        limit = self.param_int(q, "limit")
        limit = 500 if limit is None else limit
        if limit <= 0:
            raise ApiError(-1130, "Data sent for parameter 'limit' is not valid.")
        limit = min(limit, 1000)
        from_id = self.param_int(q, "fromId")
        start, end = self.param_int(q, "startTime"), self.param_int(q, "endTime")
        rows = list(self.venue.recent_trades[sym])
        if from_id is not None:
            rows = [t for t in rows if t.trade_id >= from_id][:limit]
        elif start is not None or end is not None:
            rows = [t for t in rows if (start is None or t.ts >= start) and (end is None or t.ts <= end)][:limit]
        else:
            rows = rows[-limit:]
        return self.json([self._agg(sym, t) for t in rows])

    def _agg(self, sym: str, t: Trade) -> dict[str, Any]:
        return {"a": t.trade_id, "p": self._px(sym, t.price), "q": self._qty(sym, t.qty), "f": t.trade_id,
                "l": t.trade_id, "T": t.ts, "m": t.taker_side == SELL}

    async def h_open_interest(self, request: web.Request) -> web.Response:
        sym = self.param_symbol(self._public_params(request))
        return self.json({"openInterest": self._qty(sym, self._oi[sym]), "symbol": sym, "time": now_ms()})

    # ------------------------------------------------------------------ market-data WS
    def valid_topic(self, name: str) -> bool:
        sym, _, rest = name.partition("@")
        return sym in self._by_lower and (rest in PUBLIC_KINDS or rest in MARKET_KINDS)

    def _raw_handler(self, endpoint: str):
        async def handler(request: web.Request) -> web.StreamResponse:
            # as spot: a path segment not shaped as a stream name opens a plain connection
            streams = [s for s in request.match_info.get("streams", "").split("/") if "@" in s]
            return await self._endpoint_socket(request, endpoint, streams, False)
        return handler

    def _combined_handler(self, endpoint: str):
        async def handler(request: web.Request) -> web.StreamResponse:
            streams = [s for s in request.query.get("streams", "").split("/") if s]
            return await self._endpoint_socket(request, endpoint, streams, True)
        return handler

    async def _endpoint_socket(self, request: web.Request, endpoint: str, streams: list[str],
                               combined: bool) -> web.StreamResponse:
        ep = self.endpoints[endpoint]
        return await self._md_socket(request, [ep.to_hub(s) for s in streams], combined, ep.control)

    def _diff_topic(self, topic: str) -> DiffTopic | None:
        sym_l, _, rest = topic.partition("@")
        sym = self._by_lower.get(sym_l)
        cadence = {"depth": self.config.depth_slow_ms, "depth@100ms": self.config.depth_fast_ms,
                   "depth@500ms": self.config.depth_mid_ms}.get(rest)
        if sym is None or cadence is None:
            return None
        return DiffTopic(sym, rest, cadence)

    def _render_depth(self, topic: str, sym: str, first: int, last: int, bids: list, asks: list) -> str:
        # the book's update ids run on without holes from one diff of a stream to the next, so
        # the previous diff's u is first - 1 (a diff withheld by a gap fault leaves pu pointing at it)
        ts = now_ms()
        return _dumps({"e": "depthUpdate", "E": ts, "T": ts, "s": sym, "U": first, "u": last, "pu": first - 1,
                       "b": [[self._px(sym, p), self._qty(sym, q)] for p, q in bids],
                       "a": [[self._px(sym, p), self._qty(sym, q)] for p, q in asks]})

    def _publish_trades(self, sym: str, sl: str, trades: list[Trade]) -> None:
        oi = self._oi[sym]
        for t in trades:    # open interest wanders with the flow, never below a tenth of its start
            oi = max(40 * self.venue.specs[sym].mean_size, oi + (t.qty if self._rng.random() < 0.5 else -t.qty))
        self._oi[sym] = oi
        topic = sl + "@aggTrade"
        if self.hub.subscribers(topic):
            ts = now_ms()
            for t in trades:
                self.hub.publish(topic, _dumps({"e": "aggTrade", "E": ts, "s": sym, **self._agg(sym, t)}))

    def _publish_book_ticker(self, sym: str, sl: str) -> None:
        top = self.top.changed(sym)
        if top is None:
            return
        (bp, bq), (ap, aq) = top
        ts = now_ms()
        self.hub.publish(sl + "@bookTicker", _dumps({
            "e": "bookTicker", "u": self.venue.markets[sym].update_id, "E": ts, "T": ts, "s": sym,
            "b": self._px(sym, bp), "B": self._qty(sym, bq), "a": self._px(sym, ap), "A": self._qty(sym, aq)}))

    def _mark_update(self, sym: str) -> str:
        mark = self._mark(sym)
        # the index wanders a few basis points around the mark; the rate follows the premium
        skew = 0.8 * self._index_skew[sym] + self._rng.uniform(-0.0001, 0.0001)
        self._index_skew[sym] = skew
        index = mark * (1 - Decimal(repr(round(skew, 8))))
        ts = now_ms()
        if INSTRUMENTS[sym].contract_type == "PERPETUAL":
            rate = min(Decimal("0.003"), max(Decimal("-0.003"), Decimal("0.0001") + (mark - index) / index / 8))
            r, nxt = f"{rate:.8f}", (ts // FUNDING_PERIOD_MS + 1) * FUNDING_PERIOD_MS
        else:
            r, nxt = "", 0
        return _dumps({"e": "markPriceUpdate", "E": ts, "s": sym, "p": _f8(mark), "ap": _f8(mark),
                       "i": _f8(index), "P": _f8((mark + index) / 2), "r": r, "T": nxt})

    def _marks(self, suffix: str) -> None:
        for sym in self.venue.engines:
            topic = sym.lower() + suffix
            if self.hub.subscribers(topic):
                self.hub.publish(topic, self._mark_update(sym))

    def _force_orders(self) -> None:
        # the venue pushes the latest liquidation of a symbol, at most one a second
        chance = self.config.force_orders_per_min / 60.0
        for sym in self.venue.engines:
            topic = sym.lower() + "@forceOrder"
            if self._rng.random() >= chance or not self.hub.subscribers(topic):
                continue
            m = self.venue.markets[sym]
            side = SELL if self._rng.random() < 0.5 else BUY
            best = m.best_bid() if side == SELL else m.best_ask()
            if best is None:
                continue
            lots = max(1, int(self._rng.expovariate(1.0 / 50)))
            ts = now_ms()
            px, q = self._px(sym, best[0]), self._qty(sym, lots)
            self.hub.publish(topic, _dumps({"e": "forceOrder", "E": ts, "o": {
                "s": sym, "S": side, "o": "LIMIT", "f": "IOC", "q": q, "p": px, "ap": px, "X": "FILLED",
                "l": q, "z": q, "T": ts}}))

    # ------------------------------------------------------------------ orders
    def _avg(self, sym: str, cum_quote: int, executed: int) -> str:
        if not executed:
            return self._px(sym, 0)
        avg = self._eng(sym).quote_value(cum_quote) / self.venue.markets[sym].qty_scale.to_decimal(executed)
        return f"{avg:.{INSTRUMENTS[sym].price_precision + 3}f}"

    def _tif(self, o: Order) -> str:
        return "GTX" if o.order_id in self._post_only else o.tif

    def _order_json(self, o: Order, accepted_only: bool = False) -> dict[str, Any]:
        """The order object; ``accepted_only``: as just accepted (the ACK answer: NEW, nothing executed)."""
        s = o.symbol
        executed, cum_quote = (0, 0) if accepted_only else (o.executed, o.cum_quote)
        return {
            "orderId": o.order_id, "symbol": s, "status": NEW if accepted_only else o.status,
            "clientOrderId": o.client_id, "price": self._px(s, o.price), "avgPrice": self._avg(s, cum_quote, executed),
            "origQty": self._qty(s, o.qty), "executedQty": self._qty(s, executed), "cumQty": self._qty(s, executed),
            "cumQuote": f"{self._eng(s).quote_value(cum_quote):f}", "timeInForce": self._tif(o), "type": o.type,
            "reduceOnly": self._reduce_only(o), "closePosition": False, "side": o.side, "positionSide": self._ps(o),
            "stopPrice": "0", "workingType": "CONTRACT_PRICE", "priceProtect": False, "origType": o.type,
            "priceMatch": "NONE", "selfTradePreventionMode": "NONE", "goodTillDate": 0,
            "updateTime": o.created_ms if accepted_only else o.updated_ms,
        }

    def _ps(self, o: Order) -> str:
        """The order's ``positionSide``: its hedge leg, BOTH in one-way mode."""
        eng = self._eng(o.symbol)
        return (eng.leg(o.order_id) if isinstance(eng, PerpEngine) else "") or "BOTH"

    def _reduce_only(self, o: Order) -> bool:
        # a hedge leg's closing order reduces by its side, not by reduceOnly (never sent there)
        return o.reduce_only and self._ps(o) == "BOTH"

    def _order_with_time(self, o: Order) -> dict[str, Any]:
        return {**self._order_json(o), "time": o.created_ms}

    def _admit_order(self, sym: str, price: int, qty: int, reduce_only: bool) -> None:
        """A new or modified order's minimum notional (reduce-only is exempt) and the account's
        order-count limits, as the venue checks both."""
        m = self.venue.markets[sym]
        if not reduce_only:
            notional = m.price_scale.to_decimal(price) * m.qty_scale.to_decimal(qty)
            if notional < Decimal(INSTRUMENTS[sym].min_notional):
                raise ApiError(-4164, f"Order's notional must be no smaller than {INSTRUMENTS[sym].min_notional} "
                                      "(unless you choose reduce only).")
        dec = self.limiter.check_order(self.account_id)
        if not dec.allowed:
            r = dec.rule
            raise ApiError(-1015, f"Too many new orders; current limit is {r.limit} orders per {r.num} "
                                  f"{r.interval}.", 429, self._order_headers())

    def _order_units(self, sym: str, price_d: Any, qty_d: Any) -> tuple[int | None, int]:
        """Price and size as the market's mantissas; off the tick or the lot, the futures codes."""
        try:
            return self.venue.order_units(sym, price_d, qty_d)
        except FilterFailure as e:
            if e.filter == Filter.PRICE:
                raise ApiError(-4014, "Price not increased by tick size.") from None
            raise ApiError(-1111, "Precision is over the maximum defined for this asset.") from None

    def op_place(self, params: dict[str, Any]) -> tuple[dict[str, Any], Order]:
        sym = self.param_symbol(params)
        side = side_param(params)
        ps = params.get("positionSide") or "BOTH"
        if ps not in ("BOTH", "LONG", "SHORT"):
            raise ApiError(-1130, "Data sent for parameter 'positionSide' is not valid.")
        if (ps == "BOTH") == self.dual_side:
            raise ApiError(-4061, "Order's position side does not match user's setting.")
        if self.dual_side and params.get("reduceOnly") is not None:
            raise ApiError(-1106, "Parameter 'reduceonly' sent when not required.")
        leg = "" if ps == "BOTH" else ps
        otype = params.get("type")
        if otype in (None, ""):
            raise _mandatory("type")
        if otype not in (LIMIT, MARKET):
            raise ApiError(-1116, "Invalid orderType.")
        tif = params.get("timeInForce")
        price_d = self.param_decimal(params, "price")
        qty_d = self.param_decimal(params, "quantity")
        if qty_d is None:
            raise _mandatory("quantity")
        if otype == LIMIT:
            if tif in (None, ""):
                raise _mandatory("timeInForce")
            if tif not in (GTC, IOC, FOK, "GTX"):
                raise ApiError(-1115, "Invalid timeInForce.")
            if price_d is None:
                raise _mandatory("price")
        else:
            if price_d is not None:
                raise ApiError(-1106, "Parameter 'price' sent when not required.")
            tif = GTC
        reduce_raw = str(params.get("reduceOnly") or "false").lower()
        if reduce_raw not in ("true", "false"):
            raise ApiError(-1130, "Data sent for parameter 'reduceOnly' is not valid.")
        reduce_only = reduce_raw == "true"
        resp_type = params.get("newOrderRespType") or "ACK"
        if resp_type not in ("ACK", "RESULT"):
            raise ApiError(-1130, "Data sent for parameter 'newOrderRespType' is not valid.")
        cid = params.get("newClientOrderId")
        if cid is not None and not _CLIENT_ID_RE.match(str(cid)):
            raise _illegal("newClientOrderId", _CLIENT_ID_PATTERN)
        price, qty = self._order_units(sym, price_d, qty_d)
        m = self.venue.markets[sym]
        opp = m.best_ask() if side == BUY else m.best_bid()
        closes = leg != "" and (side == BUY) == (leg == "SHORT")
        self._admit_order(sym, price if price is not None else (opp[0] if opp else m.fair), qty,
                          reduce_only or closes)
        post_only = tif == "GTX"
        if post_only and opp is not None and (price >= opp[0] if side == BUY else price <= opp[0]):
            raise ApiError(-5022, "Due to the order could not be executed as maker, the Post Only order will "
                                  "be rejected.")
        self._placing_post_only = post_only
        try:
            res = self.venue.place(sym, self.account_id, side=side, type=otype, qty=qty, price=price,
                                   tif=GTC if post_only else tif, client_id=str(cid) if cid is not None else None,
                                   ts=now_ms(), reduce_only=reduce_only, **({"leg": leg} if leg else {}))
        except Reject as e:
            if e.reason == DUPLICATE_CLIENT_ID:
                raise ApiError(-4116, "ClientOrderId is duplicated.") from None
            if e.reason in (REDUCE_ONLY_NO_POSITION, REDUCE_ONLY_INCREASES, CLOSE_EXCEEDS_POSITION):
                raise ApiError(-2022, "ReduceOnly Order is rejected.") from None
            if e.reason in (INSUFFICIENT_MARGIN, INSUFFICIENT_BALANCE):
                raise ApiError(-2019, "Margin is insufficient.") from None
            raise ApiError(-1102, "A mandatory parameter was not sent, was empty/null, or malformed.") from None
        finally:
            self._placing_post_only = False
        return self._order_json(res.order, accepted_only=resp_type == "ACK"), res.order

    async def h_order_modify(self, request: web.Request) -> web.Response:
        params = await self.authenticate(request)
        body = self.op_modify(params)
        headers = self._order_headers()
        await self.order_fault()
        return self.json(body, 200, headers)

    def op_modify(self, params: dict[str, Any]) -> dict[str, Any]:
        """PUT /fapi/v1/order: a resting LIMIT order's new price and quantity (both mandatory; the
        quantity is the new total, what executed included), found by ``orderId`` (which wins) or
        ``origClientOrderId``; ids kept. Filter failures leave the order as it was; a quantity not
        above what executed, or a post-only (GTX) price that would take, cancels it. The answer
        is the order object; an ``ORDER_TRADE_UPDATE`` with ``x`` = ``AMENDMENT`` follows on the
        user stream. Counted like a new order (X-MBX-ORDER-COUNT-*), no IP weight."""
        sym, oid, cid = self._find(params)
        side = side_param(params)
        price_d = self.param_decimal(params, "price")
        qty_d = self.param_decimal(params, "quantity")
        if qty_d is None:
            raise _mandatory("quantity")
        if price_d is None:
            raise _mandatory("price")
        eng = self._eng(sym)
        o = eng.get(self.account_id, oid, None if oid is not None else cid)
        if o is None or not o.is_open:
            raise ApiError(-2013, "Order does not exist.")
        if o.side != side:
            raise ApiError(-1102, "A mandatory parameter was not sent, was empty/null, or malformed.")
        price, qty = self._order_units(sym, price_d, qty_d)
        if price == o.price and qty == o.qty:
            raise ApiError(-5027, "No need to modify the order.")
        m = self.venue.markets[sym]
        self._admit_order(sym, price, qty, o.reduce_only)
        if qty <= o.executed:
            return self._order_json(eng.cancel(self.account_id, o.order_id, None, None, now_ms()))
        opp = m.best_ask() if side == BUY else m.best_bid()
        if (o.order_id in self._post_only and opp is not None
                and (price >= opp[0] if side == BUY else price <= opp[0])):
            eng.cancel(self.account_id, o.order_id, None, None, now_ms())
            raise ApiError(-5022, "Due to the order could not be executed as maker, the Post Only order will "
                                  "be rejected.")
        try:
            self.venue.amend(sym, self.account_id, order_id=o.order_id, qty=qty, price=price, ts=now_ms())
        except Reject as e:
            if e.reason in (REDUCE_ONLY_NO_POSITION, REDUCE_ONLY_INCREASES, CLOSE_EXCEEDS_POSITION):
                raise ApiError(-2022, "ReduceOnly Order is rejected.") from None
            if e.reason in (INSUFFICIENT_MARGIN, INSUFFICIENT_BALANCE):
                raise ApiError(-2019, "Margin is insufficient.") from None
            raise ApiError(-2013, "Order does not exist.") from None
        return self._order_json(o)

    def op_cancel(self, params: dict[str, Any]) -> dict[str, Any]:
        sym, oid, cid = self._find(params)
        try:
            o = self._eng(sym).cancel(self.account_id, oid, cid, None, now_ms())
        except Reject:
            raise ApiError(-2011, "Unknown order sent.") from None
        return self._order_json(o)

    def op_query(self, params: dict[str, Any]) -> dict[str, Any]:
        sym, oid, cid = self._find(params)
        o = self._eng(sym).get(self.account_id, oid, cid)
        if o is None:
            raise ApiError(-2013, "Order does not exist.")
        return self._order_with_time(o)

    def op_open_orders(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        sym = self.param_symbol(params, required=False)
        engines = [self._eng(sym)] if sym else list(self.venue.engines.values())
        orders = sorted((o for e in engines for o in e.open_orders(self.account_id)),
                        key=lambda o: (o.created_ms, o.order_id))
        return [self._order_with_time(o) for o in orders]

    def _cancel_symbol(self, sym: str) -> int:
        eng = self._eng(sym)
        n = 0
        for o in sorted(eng.open_orders(self.account_id), key=lambda o: (o.created_ms, o.order_id)):
            try:
                eng.cancel(self.account_id, o.order_id, None, None, now_ms())
                n += 1
            except Reject:
                continue
        return n

    def op_cancel_all(self, params: dict[str, Any]) -> dict[str, Any]:
        self._cancel_symbol(self.param_symbol(params))
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    def op_countdown_cancel_all(self, params: dict[str, Any]) -> dict[str, Any]:
        sym = self.param_symbol(params)
        ms = self.param_int(params, "countdownTime")
        if ms is None:
            raise _mandatory("countdownTime")
        old = self._countdowns.pop(sym, None)
        if old is not None:
            old.cancel()
        if ms > 0:
            self._countdowns[sym] = asyncio.get_running_loop().call_later(ms / 1000.0, self._countdown_fired, sym)
        return {"symbol": sym, "countdownTime": str(ms)}

    def _countdown_fired(self, sym: str) -> None:
        self._countdowns.pop(sym, None)
        self._cancel_symbol(sym)

    def op_user_trades(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        sym = self.param_symbol(params)
        oid = self.param_int(params, "orderId")
        from_id = self.param_int(params, "fromId")
        start, end = self.param_int(params, "startTime"), self.param_int(params, "endTime")
        limit = max(1, min(self.param_int(params, "limit") or 500, 1000))
        fills = self._eng(sym).trades(self.account_id, oid, from_id, 10**9)
        if start is not None or end is not None:
            fills = [f for f in fills if (start is None or f.ts >= start) and (end is None or f.ts <= end)]
        fills = fills[:limit] if from_id is not None or start is not None else fills[-limit:]
        eng = self._eng(sym)
        legs = {f.order_id: (eng.leg(f.order_id) if isinstance(eng, PerpEngine) else "") or "BOTH" for f in fills}
        return [{
            "buyer": f.side == BUY, "commission": _f8(f.commission), "commissionAsset": f.commission_asset,
            "id": f.trade_id, "maker": f.is_maker, "orderId": f.order_id, "price": self._px(sym, f.price),
            "qty": self._qty(sym, f.qty), "quoteQty": f"{self._eng(sym).quote_value(f.quote):f}",
            "realizedPnl": _f8(f.realized_pnl), "side": f.side, "positionSide": legs[f.order_id], "symbol": sym,
            "time": f.ts,
        } for f in fills]

    # ------------------------------------------------------------------ account
    def _positions(self, sym: str | None = None) -> list[tuple[str, PerpEngine, str, PerpPosition]]:
        """(symbol, engine, positionSide, position) of every open position: BOTH, or a hedge leg."""
        out = []
        for s, eng in self.venue.engines.items():
            if sym not in (None, s) or not isinstance(eng, PerpEngine):
                continue
            for leg, pos in eng.positions(self.account_id):
                if pos.qty:
                    out.append((s, eng, leg or "BOTH", pos))
        return out

    def _wallet(self, asset: str = "USDT") -> tuple[Decimal, Decimal, Decimal]:
        """(wallet balance, available, unrealized PnL of all positions) of ``asset``."""
        b = self.venue.accounts[self.account_id].bal(asset)
        upl = sum((p.upl(self._mark(s)) for s, e, _, p in self._positions() if e.settle == asset), Decimal(0))
        return b.free + b.locked, b.free, upl

    def op_balance(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        acct = self.venue.accounts[self.account_id]
        out = []
        for asset in sorted(acct.balances):
            wallet, free, upl = self._wallet(asset)
            out.append({"accountAlias": "SgsR", "asset": asset, "balance": _f8(wallet),
                        "crossWalletBalance": _f8(wallet), "crossUnPnl": _f8(upl), "availableBalance": _f8(free),
                        "maxWithdrawAmount": _f8(free), "marginAvailable": True, "updateTime": acct.updated_ms})
        return out

    def op_position_risk(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        sym = self.param_symbol(params, required=False)
        out = []
        for s, eng, ps, pos in self._positions(sym):
            mark = self._mark(s)
            notional = pos.notional(mark) * pos.direction
            size = pos.size()
            # the entry moved by the fees paid, so that closing there breaks even
            bep = pos.entry + pos.direction * pos.fees / size if size else Decimal(0)
            out.append({
                "symbol": s, "positionSide": ps, "positionAmt": self._qty(s, pos.qty),
                "entryPrice": _f8(pos.entry), "breakEvenPrice": _f8(bep), "markPrice": _f8(mark),
                "unRealizedProfit": _f8(pos.upl(mark)), "liquidationPrice": "0", "isolatedMargin": "0",
                "notional": _f8(notional), "marginAsset": eng.settle, "isolatedWallet": "0",
                "initialMargin": _f8(abs(notional) / eng.leverage), "maintMargin": _f8(abs(notional) * _MAINT),
                "positionInitialMargin": _f8(abs(notional) / eng.leverage), "openOrderInitialMargin": "0",
                "adl": 0, "bidNotional": "0", "askNotional": "0", "updateTime": pos.updated_ms,
            })
        return out

    def op_get_dual(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"dualSidePosition": self.dual_side}

    def op_set_dual(self, params: dict[str, Any]) -> dict[str, Any]:
        """POST /fapi/v1/positionSide/dual: one-way (false) or hedge (true) mode, for the whole
        account; only while it holds no position and no open order."""
        raw = params.get("dualSidePosition")
        if raw in (None, ""):
            raise _mandatory("dualSidePosition")
        if str(raw).lower() not in ("true", "false"):
            raise ApiError(-1130, "Data sent for parameter 'dualSidePosition' is not valid.")
        dual = str(raw).lower() == "true"
        if dual == self.dual_side:
            raise ApiError(-4059, "No need to change position side.")
        if self._positions():
            raise ApiError(-4068, "Position side cannot be changed if there exists position.")
        if any(e.open_orders(self.account_id) for e in self.venue.engines.values()):
            raise ApiError(-4067, "Position side cannot be changed if there exists open orders.")
        self.dual_side = dual
        return {"code": 200, "msg": "success"}

    # ------------------------------------------------------------------ user data: listenKey + /private
    async def h_listen_key(self, request: web.Request) -> web.Response:
        self._check_key(request.headers.get("X-MBX-APIKEY"))
        live = self._listen_key is not None and time.monotonic() < self._listen_key_expiry
        if request.method == "DELETE":
            if live:
                self._close_listen_key()
            return self.json({})
        if request.method == "PUT" and not live:
            raise ApiError(-1125, "This listenKey does not exist.")
        if not live:
            self._listen_key = "".join(self._key_rng.choice(_ALNUM) for _ in range(60))
        self._listen_key_expiry = time.monotonic() + self.config.listen_key_validity_s
        return self.json({"listenKey": self._listen_key})

    def _key_conns(self) -> list[WsConn]:
        return [c for c in list(self.hub.conns) if c.kind == "user" and c.data.get("listenKey") == self._listen_key]

    def _close_listen_key(self) -> None:
        for c in self._key_conns():
            self.user_streams.unsubscribe(c)
        self._listen_key = None

    def _expire_listen_key(self) -> None:
        if self._listen_key is None or time.monotonic() < self._listen_key_expiry:
            return
        raw = _dumps({"e": "listenKeyExpired", "E": now_ms(), "listenKey": self._listen_key})
        for c in self._key_conns():
            c.send(raw)
        self._close_listen_key()

    async def h_ws_fapi(self, request: web.Request) -> web.StreamResponse:
        # a "user" connection: the user-scoped faults (disconnect) reach it as the user stream's
        conn = self.ws_conn(request, "user", inbound_cap=False)
        return await conn.serve(self.ws_fapi.on_text)

    async def h_ws_private(self, request: web.Request) -> web.StreamResponse:
        key = request.match_info.get("key") or request.query.get("listenKey", "")
        if not key or key != self._listen_key or time.monotonic() >= self._listen_key_expiry:
            return web.Response(status=400, text="Invalid listenKey")
        conn = self.ws_conn(request, "user", inbound_cap=False)

        def on_open(c: WsConn) -> None:
            c.data["listenKey"] = key
            self.user_streams.subscribe(c, self.account_id)

        async def on_text(c: WsConn, text: str) -> None:
            return None                     # the user-data stream takes no requests

        return await conn.serve(on_text, on_open)

    def _on_account_event(self, ev: object) -> None:
        if not isinstance(ev, ExecEvent):
            return                          # balances travel in ACCOUNT_UPDATE, after each fill
        o, f = ev.order, ev.fill
        if self._placing_post_only and ev.exec_type == NEW:
            self._post_only.add(o.order_id)
        s = o.symbol
        ts = ev.ts
        ps = self._ps(o)
        self.user_streams.publish(ev.account, _dumps({"e": "ORDER_TRADE_UPDATE", "E": ts, "T": ts, "o": {
            "s": s, "c": ev.client_id if ev.exec_type != CANCELED else o.client_id, "S": o.side, "o": o.type,
            "f": self._tif(o), "q": self._qty(s, o.qty), "p": self._px(s, o.price),
            "ap": self._avg(s, ev.cum_quote, ev.executed), "sp": "0",
            "x": _EXEC_TYPE.get(ev.exec_type, ev.exec_type), "X": ev.status,
            "i": o.order_id, "l": self._qty(s, f.qty if f else 0), "z": self._qty(s, ev.executed),
            "L": self._px(s, f.price if f else 0), "N": f.commission_asset if f else "USDT",
            "n": _f8(f.commission) if f else "0", "T": ts, "t": f.trade_id if f else 0, "b": "0", "a": "0",
            "m": f.is_maker if f else False, "R": self._reduce_only(o), "wt": "CONTRACT_PRICE", "ot": o.type, "ps": ps,
            "cp": False, "rp": _f8(f.realized_pnl) if f else "0", "pP": False, "si": 0, "ss": 0, "V": "NONE",
            "pm": "NONE", "gtd": 0}}))
        if f is None:
            return
        eng = self._eng(s)
        pos = eng.position(ev.account, "" if ps == "BOTH" else ps) if isinstance(eng, PerpEngine) else None
        wallet, _, _ = self._wallet(f.commission_asset)
        positions = []
        if pos is not None:
            positions.append({
                "s": s, "pa": self._qty(s, pos.qty), "ep": _f8(pos.entry),
                "bep": _f8(pos.entry + pos.direction * pos.fees / pos.size() if pos.qty else Decimal(0)),
                "cr": _f8(pos.realized_pnl), "up": _f8(pos.upl(self._mark(s))), "mt": "cross", "iw": "0",
                "ps": ps})
        self.user_streams.publish(ev.account, _dumps({"e": "ACCOUNT_UPDATE", "E": ts, "T": ts, "a": {
            "m": "ORDER", "B": [{"a": f.commission_asset, "wb": _f8(wallet), "cw": _f8(wallet), "bc": "0"}],
            "P": positions}}))


class UsdmWsApi(BinanceWsApi):
    """The USD-M WebSocket API: spot's request/answer machinery with the futures order methods,
    each the REST handler of the request it stands for (``spec.WS_METHODS``): the same checks,
    weights and order counts. A signature over anything but the sent parameters is refused
    (-1022), as over REST."""

    def __init__(self, sim: BinanceUsdmSim) -> None:
        self.sim = sim
        table: dict[str, Method] = {
            "order.place": self._counted(lambda p: sim.op_place(p)[0]),
            "order.modify": self._counted(sim.op_modify),
            "order.cancel": self._signed_op(sim.op_cancel),
            "order.status": self._signed_op(sim.op_query),
        }
        self.methods = {name: self._object_params(self._ip_faults(fn)) for name, fn in table.items()}

    def weight(self, req: RpcRequest) -> int:
        rest = WS_METHODS.get(req.method)
        weights, _ = ENDPOINTS.get(rest, ({}, None)) if rest is not None else ({}, None)
        return weights.get("REQUEST_WEIGHT", 1)

    def result(self, req: RpcRequest, result: Any, dec: Decision) -> str:
        self._log(req, 200, None)
        return super().result(req, result, dec)

    def error(self, req: RpcRequest, e: SimError, dec: Decision) -> str:
        self._log(req, e.status, e.headers.get("Retry-After"))
        return super().error(req, e, dec)

    def _log(self, req: RpcRequest, status: int, retry_after: str | None) -> None:
        self.sim.venue.request_log.append((time.time(), "WS", req.method, status, retry_after))

    def _ip_faults(self, fn: Method) -> Method:
        """The IP's ban and unnamed rate-limit faults, as REST meets them (a rate_limit fault
        naming ``ws:<method>`` was already taken by the socket)."""
        sim = self.sim

        async def call(conn: WsConn, params: Any) -> Any:
            faults = sim.faults
            left = faults.ban_left() if faults.banned_until else 0.0
            if left > 0:
                raise sim.limit_error(Decision(False, 418, max(1, math.ceil(left)), None, time.time() + left))
            retry = faults.take_rate_limit("ws:") if faults.rate_limits else None
            if retry is not None:
                raise sim.limit_error(Decision(False, 429, retry))
            return await fn(conn, params)
        return call

    def _counted(self, op) -> Method:
        """An order-counted request: its answer carries the order counts; the ``order`` fault
        hides it as it hides REST's."""
        sim = self.sim

        async def call(conn: WsConn, params: dict[str, Any]) -> tuple[Any, list]:
            body = op(sim._ws_signed(params))
            extra = [{"rateLimitType": "ORDERS", "interval": r.interval, "intervalNum": r.num, "limit": r.limit,
                      "count": n} for r, n in sim.limiter.usage(sim.account_id, ORDERS)]
            await sim.order_fault()
            return body, extra
        return call


SIM = SimDialect(venue=VENUE, title="Binance USD-M futures simulator", config=BinanceUsdmSimConfig,
                 app=BinanceUsdmSim, extra_args=_usdm_args, report_extra=_usdm_report)

if __name__ == "__main__":
    SIM.main()
