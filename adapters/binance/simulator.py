"""Binance spot simulator dialect.

Everything venue-neutral (book generator, matching, limits, faults, WS connections, topic
control frames and fan-out, diff streams, the app skeleton and middleware, admin API, process
harness) lives in ``venuelink.sim``; this module is only Binance's wire format.  Rate limits are
the engine's own ``venuelink.adapters.binance.spec.SPEC.buckets`` at their real values.

* REST ``/api/v3/...``: ping, time, exchangeInfo, depth, trades, order (POST/DELETE/GET), openOrders
  (GET, and DELETE: cancel a symbol's open orders), myTrades, account -- HMAC-SHA256 signatures, ``X-MBX-APIKEY``, timestamp/recvWindow, Binance
  error bodies and HTTP codes, request weights, ``X-MBX-USED-WEIGHT-1M`` /
  ``X-MBX-ORDER-COUNT-10S|1D`` headers, 429/418 with ``Retry-After``.
* Market-data WS: ``/ws/<stream>[/<stream>...]``, ``/ws`` and ``/stream?streams=a/b`` (combined
  ``{"stream","data"}`` wrapper), live SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS /
  SET_PROPERTY / GET_PROPERTY (parsed here, applied by ``venuelink.sim.wsconn.TopicControl``).  Streams ``<s>@depth@100ms``, ``<s>@depth`` (1000 ms),
  ``<s>@trade``, ``<s>@aggTrade``, ``<s>@bookTicker``.
* WS API ``/ws-api/v3``: ``userDataStream.subscribe.signature`` (events wrapped
  ``{"subscriptionId": n, "event": {...}}``), ``userDataStream.unsubscribe``,
  ``session.subscriptions``, ``ping``, ``time``, ``order.place``, ``order.cancel``,
  ``order.status``, ``openOrders.status``, ``account.status``.
  The REST listenKey endpoints answer ``410 Gone``: Binance retired them for spot in 2026-02.

Run: ``python -m venuelink.adapters.binance.simulator --host 127.0.0.1 --port 0 [--rate 50]
[--symbols BTCUSDT,ETHUSDT] [--seed 1] [--api-key K --api-secret S] [--ping-interval 20]
[--limit REQUEST_WEIGHT=30 | --weight-limit 30]``.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import itertools
import json as _json
import re
import time
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any, Callable, ClassVar, Mapping
from urllib.parse import parse_qsl, unquote

from aiohttp import web

from venuelink.adapters.binance.spec import ENDPOINTS, OPEN_ORDERS_ALL_WEIGHT, SPEC, depth_weight
from venuelink.sim.app import (
    DECIMAL_PATTERN,
    SimApp,
    SimConfig,
    SimError,
    dumps as _dumps,
    make_venue,
)
from venuelink.sim.core import Filter, FilterFailure, SymbolSpec
from venuelink.sim.dialect import SimDialect
from venuelink.sim.limits import ORDERS, RAW, WEIGHT, Decision, rules_from_buckets
from venuelink.sim.market import BUY, SELL, Batch, Trade, now_ms
from venuelink.sim.matching import (
    DUPLICATE_CLIENT_ID,
    FOK,
    GTC,
    INSUFFICIENT_BALANCE,
    IOC,
    LIMIT,
    MARKET,
    BalanceEvent,
    ExecEvent,
    MatchingEngine,
    Order,
    Reject,
)
from venuelink.sim.rpc import Method, RpcRequest, RpcSocket
from venuelink.sim.streams import AccountStreams, DiffStreams, DiffTopic, TopOfBook
from venuelink.sim.wsconn import Control, ControlReply, Op, Refusal, TopicControl, WsConn

VENUE = "binance"
ACCOUNT = "binance-sim"
LIMIT_MAKER = "LIMIT_MAKER"     # a LIMIT order that may only rest (the matching engine's LIMIT GTC)
# Simulator-only credentials (64 alphanumerics, like real keys). Override with --api-key/--api-secret.
DEFAULT_API_KEY = "vlSimBinanceApiKey0000000000000000000000000000000000000000000001"
DEFAULT_API_SECRET = "vlSimBinanceSecret0000000000000000000000000000000000000000000001"

SYMBOLS: dict[str, SymbolSpec] = {
    "BTCUSDT": SymbolSpec("BTCUSDT", "BTC", "USDT", "0.01", "0.00001", "60000.00",
                          max_qty="9000", max_price="1000000", mean_size=5000),
    "ETHUSDT": SymbolSpec("ETHUSDT", "ETH", "USDT", "0.01", "0.0001", "3000.00",
                          max_qty="9000", max_price="1000000", mean_size=5000),
    "SOLUSDT": SymbolSpec("SOLUSDT", "SOL", "USDT", "0.01", "0.001", "150.00",
                          max_qty="90000", max_price="100000", mean_size=5000),
}
DEFAULT_BALANCES = {"USDT": "1000000", "BTC": "10", "ETH": "100", "SOL": "1000", "BNB": "0"}

_KEY_RE = re.compile(r"^[A-Za-z0-9]{64}$")
_CLIENT_ID_RE = re.compile(r"^[a-zA-Z0-9-_]{1,36}$")
_MD_ID_STR_RE = re.compile(r"^[A-Za-z0-9]{1,36}$")
_Q8 = Decimal("0.00000001")
_ZERO8 = "0.00000000"

_RL_TYPE = {WEIGHT: "REQUEST_WEIGHT", ORDERS: "ORDERS", RAW: "RAW_REQUESTS"}

_FILTER_NAME = {Filter.PRICE: "PRICE_FILTER", Filter.QTY: "LOT_SIZE"}
_STREAM_KINDS = ("depth", "depth@100ms", "trade", "aggTrade", "bookTicker")
_MD_METHODS = {"SUBSCRIBE": Op.SUBSCRIBE, "UNSUBSCRIBE": Op.UNSUBSCRIBE, "LIST_SUBSCRIPTIONS": Op.LIST,
               "SET_PROPERTY": Op.OTHER, "GET_PROPERTY": Op.OTHER}

# HTTP status the venue uses for an error code (default 400)
_HTTP_FOR_CODE = {-2014: 401, -2015: 401, -1002: 401, -1003: 429, -1015: 429, -1007: 503, -1001: 503}


# ====================================================================== configuration
# bucket name (venuelink.adapters.binance.spec.SPEC.buckets) -> what the simulator counts against it
BUCKET_SCOPES = {
    "REQUEST_WEIGHT": WEIGHT,
    "ORDERS_10S": ORDERS,
    "ORDERS_1D": ORDERS,
    "RAW_REQUESTS_5M": RAW,
}


@dataclass(slots=True)
class BinanceSimConfig(SimConfig):
    symbols: list[str] = field(default_factory=lambda: ["BTCUSDT", "ETHUSDT", "SOLUSDT"])
    balances: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_BALANCES))
    api_key: str = DEFAULT_API_KEY
    api_secret: str = field(default=DEFAULT_API_SECRET, repr=False)  # never in a repr
    ed25519_public_key: str = ""  # PEM file: when set, signatures are Ed25519 (base64) for api_key
    max_topics: int = SPEC.endpoints[0].max_topics_per_connection
    max_inbound_per_s: int = int(SPEC.endpoints[0].max_msgs_per_s)
    ping_interval: float = SPEC.endpoints[0].server_ping_s
    max_conn_age: float = SPEC.endpoints[0].max_connection_age_s
    depth_fast_ms: float = 100.0  # <s>@depth@100ms cadence; 0 = one diff per change batch
    depth_slow_ms: float = 1000.0  # <s>@depth cadence

    LIMIT_OPTIONS: ClassVar[Mapping[str, str]] = {
        "weight_limit": "REQUEST_WEIGHT", "orders_10s": "ORDERS_10S", "orders_1d": "ORDERS_1D",
        "raw_5m": "RAW_REQUESTS_5M",
    }


def add_binance_args(p: argparse.ArgumentParser, d: BinanceSimConfig) -> None:
    """The options every Binance dialect takes (spot's and USD-M's), defaults from ``d``."""
    p.add_argument("--api-key", default=d.api_key)
    p.add_argument("--api-secret", default=d.api_secret)
    p.add_argument("--depth-fast-ms", type=float, default=d.depth_fast_ms, help="@depth@100ms cadence (0 = per batch)")
    p.add_argument("--depth-slow-ms", type=float, default=d.depth_slow_ms, help="@depth cadence")


def _spot_args(p: argparse.ArgumentParser, d: BinanceSimConfig) -> None:
    add_binance_args(p, d)
    p.add_argument("--ed25519-public-key", default="",
                   help="PEM file of an Ed25519 public key: the API key then signs with Ed25519")


def _spot_report(host: str, port: int, config: BinanceSimConfig) -> dict[str, Any]:
    return {"ws_api_url": f"ws://{host}:{port}/ws-api/v3", "api_key": config.api_key,
            "api_secret": config.api_secret}


# ====================================================================== signing
def hmac_hex(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def verify_signature(secret: str, payload: str, signature: str) -> bool:
    """HMAC-SHA256 hex check; the signature is not case sensitive."""
    return hmac.compare_digest(hmac_hex(secret, payload), signature.lower())


def verify_ed25519(public_key_pem: bytes, payload: str, signature: str) -> bool:
    """Ed25519 check of a base64 signature (already percent-decoded) over the payload bytes."""
    import base64

    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.serialization import load_pem_public_key
    try:
        load_pem_public_key(public_key_pem).verify(base64.b64decode(signature, validate=True), payload.encode())
        return True
    except (InvalidSignature, ValueError, TypeError):
        return False


def split_signed(query: str, body: str) -> tuple[str, str | None]:
    """(signed payload, signature) from the raw query string and raw body, as sent.

    The signed payload (``totalParams``) is the query string concatenated with the body, without
    separator, minus the ``signature`` parameter -- which must be the last parameter.
    Returns ``(payload, None)`` when there is no signature.
    """
    for part in ("body", "query"):
        text = body if part == "body" else query
        if not text:
            continue
        items = text.split("&")
        idx = [i for i, it in enumerate(items) if it.split("=", 1)[0] == "signature"]
        if not idx:
            continue
        i = idx[-1]
        sig = items[i].split("=", 1)[1] if "=" in items[i] else ""
        if i != len(items) - 1 or len(idx) > 1 or (part == "query" and body):
            return "", ""  # signature present but not last: cannot match
        rest = "&".join(items[:i])
        return (query + rest, sig) if part == "body" else (rest + body, sig)
    return query + body, None


def ws_api_payload(params: dict[str, Any]) -> str:
    """WebSocket API signing payload: all params but ``signature``, sorted, ``k=v`` joined by ``&``."""
    parts = []
    for k in sorted(params):
        if k == "signature":
            continue
        v = params[k]
        if isinstance(v, bool):
            v = "true" if v else "false"
        parts.append(f"{k}={v}")
    return "&".join(parts)


# ====================================================================== errors
class ApiError(SimError):
    """A Binance error answer: ``{"code": -1121, "msg": "Invalid symbol."}`` with the code's HTTP status."""

    @classmethod
    def status_for(cls, code: int | str) -> int:
        return _HTTP_FOR_CODE.get(int(code), 400)


def _mandatory(name: str) -> ApiError:
    return ApiError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def _illegal(name: str, rng: str) -> ApiError:
    return ApiError(-1100, f"Illegal characters found in parameter '{name}'; legal range is '{rng}'.")


def side_param(params: dict[str, Any]) -> str:
    """An order's ``side``: mandatory, BUY or SELL (-1117 otherwise), on spot and futures alike."""
    side = params.get("side")
    if side in (None, ""):
        raise _mandatory("side")
    if side not in (BUY, SELL):
        raise ApiError(-1117, "Invalid side.")
    return side


def _md_error(code: int, msg: str, rid: Any = ...) -> str:
    """Market-data control error: ``{"code": 2, "msg": "...", "id": 1}`` (no id when it was unreadable)."""
    body: dict[str, Any] = {"code": code, "msg": msg}
    if rid is not ...:
        body["id"] = rid
    return _dumps(body)


def _combined(stream: str, raw: str) -> str:
    """The combined-stream envelope (``/stream?streams=`` or ``SET_PROPERTY combined``)."""
    return '{"stream":"%s","data":%s}' % (stream, raw)


def _user_event(sid: int, raw: str) -> str:
    """WS API user-data envelope: ``{"subscriptionId": 0, "event": {...}}``."""
    return '{"subscriptionId":%d,"event":%s}' % (sid, raw)


def _fmt8(d: Decimal) -> str:
    return f"{d.quantize(_Q8, rounding=ROUND_DOWN):f}"


# ====================================================================== the dialect
class BinanceSim(SimApp):
    # what a Binance dialect is made of (a derived dialect names its own)
    venue_name: ClassVar[str] = VENUE
    account_id: ClassVar[str] = ACCOUNT
    symbol_specs: ClassVar[Mapping[str, SymbolSpec]] = SYMBOLS
    buckets: ClassVar[tuple] = SPEC.buckets
    bucket_scopes: ClassVar[Mapping[str, str]] = BUCKET_SCOPES

    def __init__(self, config: BinanceSimConfig) -> None:
        specs = self.symbol_specs
        unknown = [s for s in config.symbols if s not in specs]
        if unknown or not config.symbols:
            raise ValueError(f"unknown symbols {unknown}; available: {sorted(specs)}")
        rules = rules_from_buckets(self.buckets, self.bucket_scopes, config.limits)
        venue = make_venue(self.venue_name, [specs[s] for s in config.symbols], config, rules, [self.account_id])
        super().__init__(config, venue)
        self.config: BinanceSimConfig = config
        self.default_account = self.account_id
        venue.on_batch = self._on_batch
        venue.on_account_event = self._on_account_event
        venue.on_shutdown_notice = self._shutdown_notice
        self._by_lower = {s.lower(): s for s in config.symbols}
        self.diffs = DiffStreams(venue, self._diff_topic, self._render_depth)
        self.diff_cadences_ms = {config.depth_fast_ms, config.depth_slow_ms}
        self.hub.on_topic = self.diffs.on_topic
        self.top = TopOfBook(venue)
        self.control = self.topic_control(self)
        self.user_streams = AccountStreams(self.hub)
        self.ws_api = RpcSocket(self.limiter, BinanceWsApi(self))
        self._ed25519_pem: bytes | None = None
        self._makers: set[int] = set()              # ids of LIMIT_MAKER orders (reported as such)
        self._ignore_seq = itertools.count(1)

    # ------------------------------------------------------------------ app
    API = "/api/v3"
    """the REST API's path prefix; the routes both markets share sit under it"""

    def add_shared_routes(self, r: web.UrlDispatcher) -> None:
        """What spot and futures both answer, each under its own prefix."""
        for path, handler in (("ping", self.h_ping), ("time", self.h_time), ("exchangeInfo", self.h_exchange_info),
                              ("depth", self.h_depth), ("openOrders", self.private(self.op_open_orders))):
            r.add_get(f"{self.API}/{path}", handler)
        r.add_post(f"{self.API}/order", self.h_order_new)
        r.add_delete(f"{self.API}/order", self.private(self.op_cancel))
        r.add_get(f"{self.API}/order", self.private(self.op_query))

    def add_routes(self, r: web.UrlDispatcher) -> None:
        self.add_shared_routes(r)
        r.add_get("/api/v3/trades", self.h_trades)
        r.add_delete("/api/v3/openOrders", self.private(self.op_cancel_open_orders))
        r.add_get("/api/v3/myTrades", self.private(self.op_my_trades))
        r.add_get("/api/v3/account", self.private(self.op_account))
        for m in ("POST", "PUT", "DELETE"):
            r.add_route(m, "/api/v3/userDataStream", self.h_listen_key_gone)
        r.add_get("/ws", self.h_ws_raw)
        r.add_get("/ws/{streams:.+}", self.h_ws_raw)
        r.add_get("/stream", self.h_ws_combined)
        r.add_get("/ws-api/v3", self.h_ws_api)

    # ------------------------------------------------------------------ REST dialect
    def is_api_path(self, path: str) -> bool:
        return path.startswith("/api/")

    status_path = "/sapi/v1/system/status"

    def status_body(self, ongoing: bool, window: tuple[float, float] | None) -> Any:
        # Binance says only "now": 0 normal, 1 system maintenance (no announced window)
        return {"status": 1, "msg": "system_maintenance"} if ongoing else {"status": 0, "msg": "normal"}

    def request_weight(self, request: web.Request) -> int:
        path, method, q = request.path, request.method, request.query
        if path == "/api/v3/depth":
            try:
                limit = int(q.get("limit", "100"))
            except ValueError:
                limit = 100
            return depth_weight(limit)
        if path == "/api/v3/trades":
            return 25
        if path == "/api/v3/openOrders" and not q.get("symbol"):
            return OPEN_ORDERS_ALL_WEIGHT
        if path == "/api/v3/myTrades":
            return 5 if q.get("orderId") else 20
        if path == "/api/v3/userDataStream":
            return 2
        weights, _ = ENDPOINTS.get((method, path), ({}, None))
        return weights.get("REQUEST_WEIGHT", 1)

    def usage_headers(self, ip: str) -> dict[str, str]:
        return {f"X-MBX-USED-WEIGHT-{r.tag}": str(n) for r, n in self.limiter.usage(ip, WEIGHT)}

    def _order_headers(self) -> dict[str, str]:
        return {f"X-MBX-ORDER-COUNT-{r.tag}": str(n) for r, n in self.limiter.usage(self.account_id, ORDERS)}

    def limit_error(self, dec: Decision) -> ApiError:
        rule = dec.rule
        if dec.status == 418:
            until = int((dec.banned_until or time.time()) * 1000)
            return ApiError(-1003, f"Way too much request weight used; IP banned until {until}. "
                                   "Please use WebSocket Streams for live updates to avoid bans.",
                            418, {"Retry-After": str(dec.retry_after)},
                            {"serverTime": now_ms(), "retryAfter": until})
        per = f"{rule.num} {rule.interval}" if rule else "1 MINUTE"
        if rule is not None and rule.kind == RAW:
            msg = f"Too many requests; current limit is {rule.limit} requests per {per}."
        else:
            msg = (f"Too much request weight used; current limit is {rule.limit if rule else 0} request weight "
                   f"per {per}. Please use WebSocket Streams for live updates to avoid polling the API.")
        retry_ms = now_ms() + 1000 * (dec.retry_after or 1)
        return ApiError(-1003, msg, 429, {"Retry-After": str(dec.retry_after)},
                        {"serverTime": now_ms(), "retryAfter": retry_ms})

    def maintenance_error(self) -> ApiError:
        # rest-api.md: HTTP 503 "Service Unavailable" -- the request was not sent to the matching engine
        return ApiError(-1001, "Service Unavailable.", 503)

    def internal_error(self, status: int) -> ApiError:
        return ApiError(-1001, "Internal error; unable to process your request. Please try again.", status)

    def unknown_status_error(self, status: int) -> ApiError:
        return ApiError(-1007, "Timeout waiting for response from backend server. Send status unknown; "
                               "execution status unknown.", status)

    def missing_param(self, name: str) -> ApiError:
        return _mandatory(name)

    def bad_param(self, name: str, pattern: str) -> ApiError:
        return _illegal(name, pattern)

    def unknown_symbol(self, symbol: str) -> ApiError:
        return ApiError(-1121, "Invalid symbol.")

    @staticmethod
    def _public_params(request: web.Request) -> dict[str, str]:
        return dict(parse_qsl(request.rel_url.raw_query_string, keep_blank_values=True))

    def _verify(self, payload: str, sig: str) -> bool:
        if self.config.ed25519_public_key:
            if self._ed25519_pem is None:
                with open(self.config.ed25519_public_key, "rb") as f:
                    self._ed25519_pem = f.read()
            return verify_ed25519(self._ed25519_pem, payload, sig)
        return verify_signature(self.config.api_secret, payload, sig)

    async def authenticate(self, request: web.Request) -> dict[str, str]:
        self._check_key(request.headers.get("X-MBX-APIKEY"))
        query = request.rel_url.raw_query_string
        body = ""
        if request.method != "GET" and request.can_read_body:
            body = (await request.read()).decode("utf-8", "replace")
        payload, sig = split_signed(query, body)
        if sig is None:
            raise _mandatory("signature")
        if not sig or not self._verify(payload, unquote(sig)):
            raise ApiError(-1022, "Signature for this request is not valid.")
        params = dict(parse_qsl(body, keep_blank_values=True))
        params.update(parse_qsl(query, keep_blank_values=True))  # query string wins
        params.pop("signature", None)
        self._check_timestamp(params)
        return params

    def _check_key(self, key: str | None) -> None:
        if not key or not _KEY_RE.match(key):
            raise ApiError(-2014, "API-key format invalid.")
        if not hmac.compare_digest(key, self.config.api_key):
            raise ApiError(-2015, "Invalid API-key, IP, or permissions for action.")

    @staticmethod
    def _check_timestamp(params: dict[str, Any]) -> None:
        raw = params.get("timestamp")
        try:
            ts = int(str(raw))
        except (TypeError, ValueError):
            raise _mandatory("timestamp") from None
        rw_raw = params.get("recvWindow")
        try:
            rw = Decimal(str(rw_raw)) if rw_raw not in (None, "") else Decimal(5000)
        except InvalidOperation:
            raise _illegal("recvWindow", DECIMAL_PATTERN) from None
        if rw <= 0 or rw > 60000:
            raise ApiError(-1131, "recvWindow must be less than 60000")
        if ts >= 10**14:  # microseconds
            now = time.time_ns() // 1000
            ahead, window = 1_000_000, rw * 1000
        else:
            now = time.time_ns() // 1_000_000
            ahead, window = 1000, rw
        if ts >= now + ahead:
            raise ApiError(-1021, "Timestamp for this request was 1000ms ahead of the server's time.")
        if now - ts > window:
            raise ApiError(-1021, "Timestamp for this request is outside of the recvWindow.")

    # ------------------------------------------------------------------ formatting
    def _eng(self, sym: str) -> MatchingEngine:
        return self.venue.engines[sym]

    def _px(self, sym: str, ticks: int | None) -> str:
        return self.venue.markets[sym].price_scale.format(ticks) if ticks else _ZERO8

    def _qty(self, sym: str, lots: int) -> str:
        return self.venue.markets[sym].qty_scale.format(lots)

    def _otype(self, o: Order) -> str:
        return "LIMIT_MAKER" if o.order_id in self._makers else o.type

    def _quote(self, sym: str, units: int) -> str:
        return _fmt8(self._eng(sym).quote_value(units))

    def _order_json(self, o: Order) -> dict[str, Any]:
        s = o.symbol
        return {
            "symbol": s, "orderId": o.order_id, "orderListId": -1, "clientOrderId": o.client_id,
            "price": self._px(s, o.price), "origQty": self._qty(s, o.qty), "executedQty": self._qty(s, o.executed),
            "cummulativeQuoteQty": self._quote(s, o.cum_quote), "status": o.status, "timeInForce": o.tif,
            "type": self._otype(o), "side": o.side, "stopPrice": _ZERO8, "icebergQty": _ZERO8, "time": o.created_ms,
            "updateTime": o.updated_ms, "isWorking": o.is_working,
            "workingTime": o.working_ms if o.working_ms is not None else -1,
            "origQuoteOrderQty": _ZERO8, "selfTradePreventionMode": "NONE",
        }

    def _place_json(self, o: Order, fills: list, resp_type: str) -> dict[str, Any]:
        s = o.symbol
        out: dict[str, Any] = {"symbol": s, "orderId": o.order_id, "orderListId": -1,
                               "clientOrderId": o.client_id, "transactTime": o.created_ms}
        if resp_type == "ACK":
            return out
        out.update({
            "price": self._px(s, o.price), "origQty": self._qty(s, o.qty), "executedQty": self._qty(s, o.executed),
            "origQuoteOrderQty": _ZERO8, "cummulativeQuoteQty": self._quote(s, o.cum_quote), "status": o.status,
            "timeInForce": o.tif, "type": self._otype(o), "side": o.side, "workingTime": o.working_ms or o.created_ms,
            "selfTradePreventionMode": "NONE",
        })
        if resp_type == "FULL":
            out["fills"] = [
                {"price": self._px(s, f.price), "qty": self._qty(s, f.qty), "commission": _fmt8(f.commission),
                 "commissionAsset": f.commission_asset, "tradeId": f.trade_id}
                for f in fills
            ]
        return out

    # ------------------------------------------------------------------ operations (REST + WS API)
    def op_place(self, params: dict[str, Any]) -> tuple[dict[str, Any], Order]:
        sym = self.param_symbol(params)
        side = side_param(params)
        otype = params.get("type")
        if otype in (None, ""):
            raise _mandatory("type")
        if otype not in (LIMIT, MARKET, LIMIT_MAKER):
            raise ApiError(-1116, "Invalid orderType.")
        tif = params.get("timeInForce")
        price_d = self.param_decimal(params, "price")
        qty_d = self.param_decimal(params, "quantity")
        maker = otype == LIMIT_MAKER
        if maker:
            # a limit order that may only rest: no timeInForce, refused when it would take
            if tif not in (None, ""):
                raise ApiError(-1106, "Parameter 'timeInForce' sent when not required.")
            if qty_d is None:
                raise _mandatory("quantity")
            if price_d is None:
                raise _mandatory("price")
            otype, tif = LIMIT, GTC
        elif otype == LIMIT:
            if tif in (None, ""):
                raise _mandatory("timeInForce")
            if tif not in (GTC, IOC, FOK):
                raise ApiError(-1115, "Invalid timeInForce.")
            if qty_d is None:
                raise _mandatory("quantity")
            if price_d is None:
                raise _mandatory("price")
        else:
            if tif not in (None, ""):
                raise ApiError(-1106, "Parameter 'timeInForce' sent when not required.")
            if price_d is not None:
                raise ApiError(-1106, "Parameter 'price' sent when not required.")
            if params.get("quoteOrderQty") not in (None, ""):
                raise ApiError(-2010, "Quote order qty market orders are not support for this symbol.")
            if qty_d is None:
                raise ApiError(-1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!")
            tif = None
        resp_type = params.get("newOrderRespType") or "FULL"
        if resp_type not in ("ACK", "RESULT", "FULL"):
            raise ApiError(-1130, "Data sent for parameter 'newOrderRespType' is not valid.")
        cid = params.get("newClientOrderId")
        if cid in ("",):
            raise ApiError(-1118, "New client order ID was empty.")
        if cid is not None and not _CLIENT_ID_RE.match(str(cid)):
            raise _illegal("newClientOrderId", "^[a-zA-Z0-9-_]{1,36}$")
        try:
            price, qty = self.venue.order_units(sym, price_d, qty_d)
        except FilterFailure as e:
            raise ApiError(-1013, f"Filter failure: {_FILTER_NAME[e.filter]}") from None
        dec = self.limiter.check_order(ACCOUNT)
        if not dec.allowed:
            r = dec.rule
            raise ApiError(-1015, f"Too many new orders; current limit is {r.limit} orders per {r.num} "
                                  f"{r.interval}.", 429, self._order_headers())
        if maker:
            m = self.venue.markets[sym]
            opp = m.best_ask() if side == BUY else m.best_bid()
            if opp is not None and (price >= opp[0] if side == BUY else price <= opp[0]):
                raise ApiError(-2010, "Order would immediately match and take.")
        try:
            res = self.venue.place(sym, ACCOUNT, side=side, type=otype, qty=qty, price=price,
                                   tif=tif or GTC, client_id=str(cid) if cid is not None else None, ts=now_ms())
        except Reject as e:
            if e.reason == DUPLICATE_CLIENT_ID:
                raise ApiError(-2010, "Duplicate order sent.") from None
            if e.reason == INSUFFICIENT_BALANCE:
                raise ApiError(-2010, "Account has insufficient balance for requested action.") from None
            raise ApiError(-1013, "Invalid order.") from None
        if maker:
            self._makers.add(res.order.order_id)
        return self._place_json(res.order, res.fills, resp_type), res.order

    def _find(self, params: dict[str, Any], orig_name: str = "origClientOrderId") -> tuple[str, int | None, str | None]:
        sym = self.param_symbol(params)
        oid = self.param_int(params, "orderId")
        cid = params.get(orig_name)
        if cid == "":
            raise ApiError(-1119, "Original client order ID was empty.")
        if oid is None and cid is None:
            raise ApiError(-1102, f"Param '{orig_name}' or 'orderId' must be sent, but both were empty/null!")
        return sym, oid, cid

    def op_cancel(self, params: dict[str, Any]) -> dict[str, Any]:
        sym, oid, cid = self._find(params)
        new_cid = params.get("newClientOrderId")
        if new_cid is not None and not _CLIENT_ID_RE.match(str(new_cid)):
            raise _illegal("newClientOrderId", "^[a-zA-Z0-9-_]{1,36}$")
        eng = self._eng(sym)
        cancel_id = str(new_cid) if new_cid else eng.new_client_id()
        try:
            o = eng.cancel(ACCOUNT, oid, cid, cancel_id, now_ms())
        except Reject:
            raise ApiError(-2011, "Unknown order sent.") from None
        j = self._order_json(o)
        return {
            "symbol": sym, "origClientOrderId": o.client_id, "orderId": o.order_id, "orderListId": -1,
            "clientOrderId": cancel_id, "transactTime": o.updated_ms, "price": j["price"], "origQty": j["origQty"],
            "executedQty": j["executedQty"], "origQuoteOrderQty": _ZERO8,
            "cummulativeQuoteQty": j["cummulativeQuoteQty"], "status": o.status, "timeInForce": o.tif,
            "type": self._otype(o), "side": o.side, "selfTradePreventionMode": "NONE",
        }

    def op_query(self, params: dict[str, Any]) -> dict[str, Any]:
        sym, oid, cid = self._find(params)
        o = self._eng(sym).get(ACCOUNT, oid, cid)
        if o is None:
            raise ApiError(-2013, "Order does not exist.")
        return self._order_json(o)

    def op_open_orders(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        sym = self.param_symbol(params, required=False)
        engines = [self._eng(sym)] if sym else list(self.venue.engines.values())
        orders = sorted((o for e in engines for o in e.open_orders(ACCOUNT)), key=lambda o: (o.created_ms, o.order_id))
        return [self._order_json(o) for o in orders]

    def op_cancel_open_orders(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """DELETE /api/v3/openOrders: cancel every open order of the (mandatory) symbol; the answer
        lists each canceled order as DELETE /api/v3/order answers it. No open order: -2011."""
        sym = self.param_symbol(params)
        eng = self._eng(sym)
        out = []
        for o in sorted(eng.open_orders(ACCOUNT), key=lambda o: (o.created_ms, o.order_id)):
            cancel_id = eng.new_client_id()
            try:
                o = eng.cancel(ACCOUNT, o.order_id, None, cancel_id, now_ms())
            except Reject:
                continue
            j = self._order_json(o)
            out.append({
                "symbol": sym, "origClientOrderId": o.client_id, "orderId": o.order_id, "orderListId": -1,
                "clientOrderId": cancel_id, "transactTime": o.updated_ms, "price": j["price"],
                "origQty": j["origQty"], "executedQty": j["executedQty"], "origQuoteOrderQty": _ZERO8,
                "cummulativeQuoteQty": j["cummulativeQuoteQty"], "status": o.status, "timeInForce": o.tif,
                "type": self._otype(o), "side": o.side, "selfTradePreventionMode": "NONE",
            })
        if not out:
            raise ApiError(-2011, "Unknown order sent.")
        return out

    def op_my_trades(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        sym = self.param_symbol(params)
        oid = self.param_int(params, "orderId")
        from_id = self.param_int(params, "fromId")
        limit = self.param_int(params, "limit") or 500
        limit = max(1, min(limit, 1000))
        eng = self._eng(sym)
        out = []
        for f in eng.trades(ACCOUNT, oid, from_id, limit):
            out.append({
                "symbol": sym, "id": f.trade_id, "orderId": f.order_id, "orderListId": -1,
                "price": self._px(sym, f.price), "qty": self._qty(sym, f.qty), "quoteQty": self._quote(sym, f.quote),
                "commission": _fmt8(f.commission), "commissionAsset": f.commission_asset, "time": f.ts,
                "isBuyer": f.side == BUY, "isMaker": f.is_maker, "isBestMatch": True,
            })
        return out

    def op_account(self, params: dict[str, Any]) -> dict[str, Any]:
        acct = self.venue.accounts[ACCOUNT]
        omit = str(params.get("omitZeroBalances", "false")).lower() == "true"
        bals = [{"asset": a, "free": _fmt8(f), "locked": _fmt8(l)} for a, f, l in acct.snapshot()
                if not (omit and f == 0 and l == 0)]
        mk = int(Decimal(self.config.maker_fee) * 10000)
        tk = int(Decimal(self.config.taker_fee) * 10000)
        return {
            "makerCommission": mk, "takerCommission": tk, "buyerCommission": 0, "sellerCommission": 0,
            "commissionRates": {"maker": _fmt8(Decimal(self.config.maker_fee)),
                                "taker": _fmt8(Decimal(self.config.taker_fee)), "buyer": _ZERO8, "seller": _ZERO8},
            "canTrade": True, "canWithdraw": True, "canDeposit": True, "brokered": False,
            "requireSelfTradePrevention": False, "preventSor": False, "updateTime": acct.updated_ms,
            "accountType": "SPOT", "balances": bals, "permissions": ["SPOT"], "uid": 100000001,
        }

    # ------------------------------------------------------------------ REST handlers
    async def h_ping(self, request: web.Request) -> web.Response:
        return self.json({})

    async def h_time(self, request: web.Request) -> web.Response:
        return self.json({"serverTime": now_ms()})

    def exchange_info(self, symbols: list[str] | None = None) -> dict[str, Any]:
        syms = symbols or list(self.venue.engines)
        out = []
        for s in syms:
            sp = self.venue.specs[s]
            out.append({
                "symbol": s, "status": "TRADING", "baseAsset": sp.base, "baseAssetPrecision": 8,
                "quoteAsset": sp.quote, "quotePrecision": 8, "quoteAssetPrecision": 8,
                "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
                "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"], "icebergAllowed": False, "ocoAllowed": False,
                "otoAllowed": False, "quoteOrderQtyMarketAllowed": False, "allowTrailingStop": False,
                "cancelReplaceAllowed": False, "amendAllowed": False, "isSpotTradingAllowed": True,
                "isMarginTradingAllowed": False,
                "filters": [
                    {"filterType": "PRICE_FILTER", "minPrice": _fmt8(Decimal(sp.min_price or sp.tick)),
                     "maxPrice": _fmt8(Decimal(sp.max_price)), "tickSize": _fmt8(Decimal(sp.tick))},
                    {"filterType": "LOT_SIZE", "minQty": _fmt8(Decimal(sp.min_qty or sp.lot)),
                     "maxQty": _fmt8(Decimal(sp.max_qty)), "stepSize": _fmt8(Decimal(sp.lot))},
                ],
                "permissions": [], "permissionSets": [["SPOT"]],
                "defaultSelfTradePreventionMode": "NONE",
                "allowedSelfTradePreventionModes": ["NONE"],
            })
        return {
            "timezone": "UTC",
            "serverTime": now_ms(),
            "rateLimits": [
                {"rateLimitType": _RL_TYPE[r.kind], "interval": r.interval, "intervalNum": r.num, "limit": r.limit}
                for r in self.limiter.rules
            ],
            "exchangeFilters": [],
            "symbols": out,
        }

    async def h_exchange_info(self, request: web.Request) -> web.Response:
        q = self._public_params(request)
        sym, syms = q.get("symbol"), q.get("symbols")
        if sym and syms:
            raise ApiError(-1128, "Combination of optional parameters invalid.")
        names: list[str] | None = None
        if sym:
            names = [sym]
        elif syms:
            try:
                names = _json.loads(syms)
            except ValueError:
                raise ApiError(-1100, "Illegal characters found in parameter 'symbols'; legal range is "
                                      "'^\\[(\"[A-Z0-9-_.]{1,20}\"(,\"[A-Z0-9-_.]{1,20}\"){0,}){0,1}\\]$'.") from None
            if not isinstance(names, list) or not all(isinstance(x, str) for x in names):
                raise ApiError(-1100, "Illegal characters found in parameter 'symbols'.")
        if names is not None:
            for n in names:
                if n not in self.venue.engines:
                    raise ApiError(-1121, "Invalid symbol.")
        return self.json(self.exchange_info(names))

    def _symbol_and_limit(self, request: web.Request, default: int, cap: int) -> tuple[str, int]:
        q = self._public_params(request)
        sym = self.param_symbol(q)
        limit = self.param_int(q, "limit")
        limit = default if limit is None else limit
        if limit <= 0:
            raise _illegal("limit", "^[0-9]{1,20}$")
        return sym, min(limit, cap)

    async def h_depth(self, request: web.Request) -> web.Response:
        sym, limit = self._symbol_and_limit(request, 100, 5000)
        m = self.venue.markets[sym]
        uid, bids, asks = m.depth(limit)
        pf, qf = m.price_scale.format, m.qty_scale.format
        return self.json({"lastUpdateId": uid, "bids": [[pf(p), qf(s)] for p, s in bids],
                           "asks": [[pf(p), qf(s)] for p, s in asks]})

    async def h_trades(self, request: web.Request) -> web.Response:
        sym, limit = self._symbol_and_limit(request, 500, 1000)
        m = self.venue.markets[sym]
        pf, qf = m.price_scale.format, m.qty_scale.format
        recent = list(self.venue.recent_trades[sym])[-limit:]
        return self.json([{"id": t.trade_id, "price": pf(t.price), "qty": qf(t.qty),
                           "quoteQty": str(Decimal(pf(t.price)) * Decimal(qf(t.qty))), "time": t.ts,
                           "isBuyerMaker": t.taker_side == SELL, "isBestMatch": True} for t in recent])

    async def h_order_new(self, request: web.Request) -> web.Response:
        params = await self.authenticate(request)
        body, _ = self.op_place(params)
        headers = self._order_headers()
        await self.order_fault()
        return self.json(body, 200, headers)

    async def h_listen_key_gone(self, request: web.Request) -> web.Response:
        # Spot listenKeys were retired (2026-02-20); the real endpoint now answers 410 Gone.
        return web.Response(status=410, text="<html><head><title>410 Gone</title></head><body>"
                                              "<center><h1>410 Gone</h1></center></body></html>",
                            content_type="text/html")

    # ------------------------------------------------------------------ market-data WS
    def valid_topic(self, name: str) -> bool:
        sym, _, rest = name.partition("@")
        return sym in self._by_lower and rest in _STREAM_KINDS

    async def _md_socket(self, request: web.Request, streams: list[str], combined: bool,
                         control: TopicControl | None = None) -> web.StreamResponse:
        control = control or self.control
        bad = control.check_initial(streams)
        if bad is not None:
            why, names = bad
            if why == Refusal.BAD_TOPIC:
                return web.Response(status=400, text=f"Invalid stream name(s): {','.join(names)}")
            return web.Response(status=400, text=f"Too many streams (max {self.config.max_topics})")
        conn = self.ws_conn(request, "market")
        conn.wrap = _combined if combined else None
        return await conn.serve(control.on_text, control.opener(streams))

    async def h_ws_raw(self, request: web.Request) -> web.StreamResponse:
        # A path segment that is not shaped as a stream name (`<symbol>@<kind>`) opens a plain
        # connection, as on the venue: clients such as CCXT connect to `/ws/<their own label>` and
        # SUBSCRIBE afterwards. Stream-shaped names that do not exist are still refused.
        path = request.match_info.get("streams", "")
        streams = [s for s in path.split("/") if "@" in s]
        return await self._md_socket(request, streams, False)

    async def h_ws_combined(self, request: web.Request) -> web.StreamResponse:
        streams = [s for s in request.query.get("streams", "").split("/") if s]
        return await self._md_socket(request, streams, True)

    # control frames: {"method": "SUBSCRIBE", "params": [...], "id": 1} (web-socket-streams.md)
    def parse(self, text: str) -> Control:
        try:
            msg = _json.loads(text)
        except ValueError as e:
            line, col = getattr(e, "lineno", 1), getattr(e, "colno", 1)
            raise ControlReply(_md_error(3, f"Invalid JSON: expected value at line {line} column {col}")) from None
        if not isinstance(msg, dict):
            raise ControlReply(_md_error(2, "Invalid request: expected an object"))
        if "method" not in msg:
            raise ControlReply(_md_error(2, f"Invalid request: missing field `method` at line 1 column {len(text)}"))
        rid = msg.get("id", ...)
        if rid is ... or not (rid is None or (isinstance(rid, int) and not isinstance(rid, bool)
                                             and -(2**63) <= rid < 2**63)
                              or (isinstance(rid, str) and _MD_ID_STR_RE.match(rid))):
            raise ControlReply(_md_error(2, "Invalid request: request ID must be an unsigned integer"))
        method = msg["method"]
        params = msg.get("params", [])
        op = _MD_METHODS.get(method) if isinstance(method, str) else None
        if op is None:
            raise ControlReply(_md_error(
                2, f"Invalid request: unknown variant `{method}`, expected one of `SUBSCRIBE`, `UNSUBSCRIBE`, "
                   "`LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY` at line 1 column 28", rid))
        if not isinstance(params, list):
            raise ControlReply(_md_error(2, "Invalid request: params must be an array", rid))
        if op in (Op.SUBSCRIBE, Op.UNSUBSCRIBE):
            if not all(isinstance(p, str) for p in params):
                raise ControlReply(_md_error(2, "Invalid request: stream names must be strings", rid))
            return Control(op, list(params), rid)
        return Control(op, [], rid, (method, params))

    def ack(self, conn: WsConn, ctl: Control) -> str:
        if ctl.op == Op.LIST:
            return _dumps({"result": sorted(conn.topics), "id": ctl.rid})
        return _dumps({"result": None, "id": ctl.rid})

    def refuse(self, conn: WsConn, ctl: Control, why: Refusal, topics: list[str]) -> str:
        if why == Refusal.BAD_TOPIC:
            return _md_error(2, f"Invalid request: invalid stream name `{topics[0]}`", ctl.rid)
        if why == Refusal.SUB_BUDGET:  # only with --sub-ops: Binance itself has no such budget
            return _md_error(2, "Invalid request: too many subscription requests", ctl.rid)
        return _md_error(2, f"Invalid request: too many streams (max {self.config.max_topics})", ctl.rid)

    def other(self, conn: WsConn, ctl: Control) -> str:
        method, params = ctl.msg
        rid = ctl.rid
        if not params or not isinstance(params[0], str):
            return _md_error(2, "Invalid request: property name must be a string", rid)
        if params[0] != "combined":
            return _md_error(0, "Unknown property", rid)
        if method == "GET_PROPERTY":
            return _dumps({"result": conn.wrap is not None, "id": rid})
        if len(params) != 2 or not isinstance(params[1], bool):
            return _md_error(1, "Invalid value type: expected Boolean", rid)
        conn.wrap = _combined if params[1] else None
        return _dumps({"result": None, "id": rid})

    # ------------------------------------------------------------------ market-data rendering
    def _diff_topic(self, topic: str) -> DiffTopic | None:
        sym_l, _, rest = topic.partition("@")
        if rest == "depth@100ms":
            return DiffTopic(self._by_lower[sym_l], rest, self.config.depth_fast_ms)
        if rest == "depth":
            return DiffTopic(self._by_lower[sym_l], rest, self.config.depth_slow_ms)
        return None

    def _render_depth(self, topic: str, sym: str, first: int, last: int, bids: list, asks: list) -> str:
        m = self.venue.markets[sym]
        pf, qf = m.price_scale.format, m.qty_scale.format
        return _dumps({"e": "depthUpdate", "E": now_ms(), "s": sym, "U": first, "u": last,
                       "b": [[pf(p), qf(q)] for p, q in bids], "a": [[pf(p), qf(q)] for p, q in asks]})

    def _on_batch(self, sym: str, batch: Batch, extra: list[Trade]) -> None:
        sl = sym.lower()
        trades = batch.trades + extra if extra else batch.trades
        if trades:
            self._publish_trades(sym, sl, trades)
        if batch.has_changes:
            self.diffs.on_batch(sym, batch)
            if self.hub.subscribers(sl + "@bookTicker"):
                self._publish_book_ticker(sym, sl)

    def _publish_trades(self, sym: str, sl: str, trades: list[Trade]) -> None:
        m = self.venue.markets[sym]
        pf, qf = m.price_scale.format, m.qty_scale.format
        ts = now_ms()
        if self.hub.subscribers(sl + "@trade"):
            for t in trades:
                self.hub.publish(sl + "@trade", _dumps({
                    "e": "trade", "E": ts, "s": sym, "t": t.trade_id, "p": pf(t.price), "q": qf(t.qty),
                    "T": t.ts, "m": t.taker_side == SELL, "M": True}))
        if self.hub.subscribers(sl + "@aggTrade"):
            for t in trades:
                self.hub.publish(sl + "@aggTrade", _dumps({
                    "e": "aggTrade", "E": ts, "s": sym, "a": t.trade_id, "p": pf(t.price), "q": qf(t.qty),
                    "f": t.trade_id, "l": t.trade_id, "T": t.ts, "m": t.taker_side == SELL, "M": True}))

    def _publish_book_ticker(self, sym: str, sl: str) -> None:
        top = self.top.changed(sym)
        if top is None:
            return
        (bp, bq), (ap, aq) = top
        m = self.venue.markets[sym]
        pf, qf = m.price_scale.format, m.qty_scale.format
        self.hub.publish(sl + "@bookTicker", _dumps({
            "u": m.update_id, "s": sym, "b": pf(bp), "B": qf(bq), "a": pf(ap), "A": qf(aq)}))

    async def _shutdown_notice(self) -> None:
        self.hub.broadcast(_dumps({"e": "serverShutdown", "E": now_ms()}), kind="market", topic="!serverShutdown")

    # ------------------------------------------------------------------ user data (WS API)
    def _on_account_event(self, ev: object) -> None:
        if isinstance(ev, ExecEvent):
            payload = self._execution_report(ev)
            account = ev.account
        elif isinstance(ev, BalanceEvent):
            payload = {"e": "outboundAccountPosition", "E": ev.ts, "u": ev.ts,
                       "B": [{"a": a, "f": _fmt8(f), "l": _fmt8(l)} for a, f, l in ev.assets]}
            account = ev.account
        else:
            return
        self.user_streams.publish(account, _dumps(payload), _user_event)

    def _execution_report(self, ev: ExecEvent) -> dict[str, Any]:
        o = ev.order
        s = o.symbol
        f = ev.fill
        d: dict[str, Any] = {
            "e": "executionReport", "E": ev.ts, "s": s, "c": ev.client_id, "S": o.side, "o": self._otype(o),
            "f": o.tif, "q": self._qty(s, o.qty), "p": self._px(s, o.price), "P": _ZERO8, "F": _ZERO8, "g": -1,
            "C": ev.orig_client_id, "x": ev.exec_type, "X": ev.status, "r": ev.reject_reason or "NONE",
            "i": o.order_id, "l": self._qty(s, f.qty) if f else _ZERO8, "z": self._qty(s, ev.executed),
            "L": self._px(s, f.price) if f else _ZERO8, "n": _fmt8(f.commission) if f else "0",
            "N": f.commission_asset if f else None, "T": ev.ts, "t": f.trade_id if f else -1,
            "I": next(self._ignore_seq), "w": ev.is_working, "m": f.is_maker if f else False, "M": False,
            "O": o.created_ms, "Z": self._quote(s, ev.cum_quote), "Y": self._quote(s, f.quote) if f else _ZERO8,
            "Q": _ZERO8, "V": "NONE",
        }
        if ev.is_working and o.working_ms is not None:
            d["W"] = o.working_ms
        return d

    async def h_ws_api(self, request: web.Request) -> web.StreamResponse:
        # the 5 msg/s inbound cap applies to market-data streams; the WS API is limited by request weight
        conn = self.ws_conn(request, "user", inbound_cap=False)
        self.limiter.check_request(request.remote or "?", 1)  # connecting costs weight
        return await conn.serve(self.ws_api.on_text)

    def _ws_signed(self, params: dict[str, Any]) -> dict[str, Any]:
        self._check_key(params.get("apiKey"))
        sig = params.get("signature")
        if not isinstance(sig, str) or not sig:
            raise _mandatory("signature")
        if not self._verify(ws_api_payload(params), sig):
            raise ApiError(-1022, "Signature for this request is not valid.")
        self._check_timestamp(params)
        return {k: (("true" if v else "false") if isinstance(v, bool) else str(v))
                for k, v in params.items() if k not in ("signature", "apiKey")}


class BinanceWsApi:
    """The WS API dialect (web-socket-api.md): ``{"id", "method", "params"}`` requests, answers
    ``{"id", "status", "result" | "error", "rateLimits"}``.  Methods return (result, extra rateLimits)."""

    WEIGHTS = {
        "ping": 1, "time": 1, "userDataStream.subscribe.signature": 2, "userDataStream.unsubscribe": 2,
        "session.subscriptions": 2, "order.place": 1, "order.cancel": 1, "order.status": 4, "account.status": 20,
    }

    def __init__(self, sim: BinanceSim) -> None:
        self.sim = sim
        table = {
            "ping": self.m_ping, "time": self.m_time,
            "userDataStream.subscribe.signature": self.m_subscribe, "userDataStream.unsubscribe": self.m_unsubscribe,
            "session.subscriptions": self.m_subscriptions, "order.place": self.m_place,
            "order.cancel": self._signed_op(sim.op_cancel), "order.status": self._signed_op(sim.op_query),
            "openOrders.status": self._signed_op(sim.op_open_orders), "account.status": self._signed_op(sim.op_account),
        }
        self.methods = {name: self._object_params(fn) for name, fn in table.items()}

    # ------------------------------------------------------------------ RpcDialect
    def parse(self, text: str) -> RpcRequest:
        try:
            msg = _json.loads(text)
        except ValueError:
            msg = None
        if not isinstance(msg, dict):
            raise ControlReply(_dumps({"id": None, "status": 400,
                                       "error": {"code": -1135, "msg": "Invalid JSON Request"}}))
        method = msg.get("method")
        method = method if isinstance(method, str) else ""
        if method.startswith("v3/"):
            method = method[3:]
        return RpcRequest(msg.get("id"), method, msg.get("params") or {})

    def weight(self, req: RpcRequest) -> int:
        if req.method == "openOrders.status":
            return 6 if isinstance(req.params, dict) and req.params.get("symbol") else OPEN_ORDERS_ALL_WEIGHT
        return self.WEIGHTS.get(req.method, 1)

    def limit_error(self, dec: Decision) -> ApiError:
        return self.sim.limit_error(dec)

    def unknown_method(self, req: RpcRequest) -> ApiError:
        return ApiError(-1020, "This operation is not supported.")

    @staticmethod
    def _limits(dec: Decision) -> list[dict[str, Any]]:
        return [{"rateLimitType": "REQUEST_WEIGHT", "interval": r.interval, "intervalNum": r.num,
                 "limit": r.limit, "count": n} for r, n in dec.used]

    def result(self, req: RpcRequest, result: Any, dec: Decision) -> str:
        body, extra = result
        return _dumps({"id": req.rid, "status": 200, "result": body, "rateLimits": self._limits(dec) + extra})

    def error(self, req: RpcRequest, e: SimError, dec: Decision) -> str:
        err: dict[str, Any] = {"code": e.code, "msg": e.msg}
        if e.data:
            err["data"] = e.data
        return _dumps({"id": req.rid, "status": e.status, "error": err, "rateLimits": self._limits(dec)})

    # ------------------------------------------------------------------ methods
    @staticmethod
    def _object_params(fn: Method) -> Method:
        async def call(conn: WsConn, params: Any) -> Any:
            if not isinstance(params, dict):
                raise ApiError(-1130, "Data sent for parameter 'params' is not valid.")
            return await fn(conn, params)
        return call

    def _signed_op(self, op: Callable[[dict[str, Any]], Any]) -> Method:
        async def call(conn: WsConn, params: dict[str, Any]) -> tuple[Any, list]:
            return op(self.sim._ws_signed(params)), []
        return call

    async def m_ping(self, conn: WsConn, params: dict[str, Any]) -> tuple[Any, list]:
        return {}, []

    async def m_time(self, conn: WsConn, params: dict[str, Any]) -> tuple[Any, list]:
        return {"serverTime": now_ms()}, []

    async def m_subscribe(self, conn: WsConn, params: dict[str, Any]) -> tuple[Any, list]:
        self.sim._ws_signed(params)
        sid = self.sim.user_streams.subscribe(conn, ACCOUNT)
        if sid is None:
            # [unconfirmed] exact error for a second subscription of one account on one connection
            raise ApiError(-1020, "This operation is not supported.")
        return {"subscriptionId": sid}, []

    async def m_unsubscribe(self, conn: WsConn, params: dict[str, Any]) -> tuple[Any, list]:
        want = params.get("subscriptionId")
        if want is None or isinstance(want, int):
            self.sim.user_streams.unsubscribe(conn, want)
        return {}, []

    async def m_subscriptions(self, conn: WsConn, params: dict[str, Any]) -> tuple[Any, list]:
        return [{"subscriptionId": sid} for sid in self.sim.user_streams.subscriptions(conn)], []

    async def m_place(self, conn: WsConn, params: dict[str, Any]) -> tuple[Any, list]:
        sim = self.sim
        body, _ = sim.op_place(sim._ws_signed(params))
        extra = [{"rateLimitType": "ORDERS", "interval": r.interval, "intervalNum": r.num, "limit": r.limit,
                  "count": n} for r, n in sim.limiter.usage(ACCOUNT, ORDERS)]
        await sim.order_fault()
        return body, extra


SIM = SimDialect(venue=VENUE, title="Binance spot simulator", config=BinanceSimConfig, app=BinanceSim,
                 extra_args=_spot_args, report_extra=_spot_report)

if __name__ == "__main__":
    SIM.main()
