"""OKX v5 simulator dialect (spot and linear USDT swaps).

The machinery (book generator, matching, limits, faults, WS connections, topic control, diff
streams, app skeleton, admin API, process harness) is ``venuelink.sim``'s; this module is only OKX's
wire format.  Rate limits are ``venuelink.adapters.okx.spec.SPEC.buckets`` at their real values.

* REST ``/api/v5/...``: ``public/instruments`` (SPOT, SWAP), ``public/time``, ``system/status``,
  ``market/books``, ``market/trades``; signed ``trade/order`` (POST place, GET query),
  ``trade/batch-orders``, ``trade/cancel-order``, ``trade/cancel-batch-orders``, ``trade/amend-order``,
  ``trade/orders-pending``, ``trade/fills``, ``trade/fills-history``, ``trade/cancel-all-after``, ``account/balance``,
  ``account/positions``.  Envelopes ``{"code": "0", "msg": "", "data": [...]}``; order answers carry
  ``sCode``/``sMsg`` per item inside HTTP 200.  Signing: ``OK-ACCESS-KEY/-SIGN/-TIMESTAMP/-PASSPHRASE``,
  Base64(HMAC-SHA256(secret, timestamp + METHOD + requestPath[?query] + body)), ISO timestamps
  within 30 s.
* Public WebSocket ``/ws/v5/public``: ``op`` subscribe / unsubscribe with ``args``, one event per
  arg; channels ``books`` (100 ms updates chained by ``prevSeqId``/``seqId``, keep-alive updates;
  the book's start is ``market/books`` with its ``seqId``, as OKX has it since early August 2026;
  ``--legacy-books``: a snapshot on subscribe and the signed CRC32 of the top 25 levels, as before),
  ``trades``, ``bbo-tbt``, for swaps ``mark-price``, ``funding-rate``, ``open-interest`` and
  ``liquidation-orders`` (by instType), and ``index-tickers`` for the swaps' underlyings (the
  index ``BTC-USDT``, priced near the swap's mark).  Text ``ping`` ->
  ``pong``; 480 subscribe/unsubscribe per hour per connection; closed after 30 s without a client
  message; the 64008 notice before a service upgrade (public and private connections, closed
  ``--shutdown-close-s`` later).
* Private WebSocket ``/ws/v5/private``: ``login``, the ``orders`` channel, order entry
  (``order``, ``cancel-order``, ``amend-order``) answered by request id.

Swaps trade in the account's net (one-way) mode with cross margin (``tdMode`` ``cross``,
``posSide`` ``net``, ``sz`` in contracts, ``reduceOnly``), settled by ``venuelink.sim.positions``:
positions, margin, PnL and fees in USDT.  ``isolated`` is refused (51010: the simulated account
models cross margin only).

Run: ``python -m venuelink.adapters.okx.simulator --host 127.0.0.1 --port 0 [--rate 50] [--seed 1]
[--api-key K --api-secret S --api-passphrase P] [--idle-timeout-s 30] [--limit PLACE_2S=5]``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import calendar
import dataclasses
import hashlib
import hmac
import itertools
import json as _json
import re
import time
import zlib
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any, Callable, ClassVar, Mapping
from urllib.parse import parse_qsl

from aiohttp import web

from venuelink.adapters.okx.spec import SPEC
from venuelink.sim.app import (
    SimApp,
    SimConfig,
    SimError,
    dumps as _dumps,
    make_venue,
)
from venuelink.sim.core import FilterFailure, SymbolSpec, cancel_tasks, every
from venuelink.sim.dialect import SimDialect
from venuelink.sim.limits import KEYED, ORDERS, WEIGHT, Decision, rules_from_buckets
from venuelink.sim.market import BUY, SELL, Batch, Trade, now_ms
from venuelink.sim.matching import (
    AMENDED,
    CANCELED,
    DUPLICATE_CLIENT_ID,
    EXPIRED,
    FILLED,
    FOK,
    GTC,
    INSUFFICIENT_BALANCE,
    IOC,
    LIMIT,
    MARKET,
    NEW,
    PARTIALLY_FILLED,
    REJECTED,
    UNKNOWN_ORDER,
    ExecEvent,
    Order,
    Reject,
)
from venuelink.sim.positions import (INSUFFICIENT_MARGIN, REDUCE_ONLY_INCREASES, REDUCE_ONLY_NO_POSITION,
                                  PerpEngine, PerpPosition)
from venuelink.sim.rpc import RpcRequest, RpcSocket
from venuelink.sim.streams import AccountStreams, DiffStreams, DiffTopic, TopOfBook
from venuelink.sim.wsconn import Control, ControlReply, Op, PingRule, Refusal, WsConn

VENUE = "okx"
ACCOUNT = "okx-sim"
UID = "448652215632345678"
# simulator-only credentials, shaped like OKX's (a UUID key, a 32-hex secret); override with flags
DEFAULT_API_KEY = "5e1d0c3a-7b2f-4c6e-9a81-0f3b5d7e9c11"
DEFAULT_API_SECRET = "9C4E1A7D2B5F8E0C3A6D9B2E5F8A1C4D"
DEFAULT_PASSPHRASE = "vlSimOkxPass1"

BOOK_DEPTH = 400
CHECKSUM_DEPTH = 25
MAX_SKEW_S = 30.0
FUNDING_PERIOD_MS = 8 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class OkxInstrument:
    spec: SymbolSpec
    inst_type: str  # SPOT | SWAP
    ct_val: str = ""
    ct_val_ccy: str = ""
    settle: str = ""
    lever: str = "10"
    list_time: str = "1606468572000"
    code: int = 0           # instIdCode: the numeric id WebSocket order operations take since March 2026


def _spot(inst: str, tick: str, lot: str, min_sz: str, mid: str) -> OkxInstrument:
    base, quote = inst.split("-")
    return OkxInstrument(SymbolSpec(inst, base, quote, tick, lot, mid, min_qty=min_sz, max_qty="1000000",
                                    max_price="10000000", mean_size=5000), "SPOT")


def _swap(inst: str, tick: str, lot: str, mid: str, ct_val: str) -> OkxInstrument:
    base, quote, _ = inst.split("-")
    return OkxInstrument(SymbolSpec(inst, base, quote, tick, lot, mid, min_qty=lot, max_qty="100000000",
                                    max_price="10000000", mean_size=5000, contract_value=ct_val), "SWAP", ct_val,
                         base, quote, "100", "1611916828000")


INSTRUMENTS: dict[str, OkxInstrument] = {i.spec.symbol: dataclasses.replace(i, code=10001 + n) for n, i in enumerate((
    _spot("BTC-USDT", "0.1", "0.00000001", "0.00001", "60000.0"),
    _spot("ETH-USDT", "0.01", "0.000001", "0.001", "3000.00"),
    _swap("BTC-USDT-SWAP", "0.1", "0.01", "60010.0", "0.01"),
    _swap("ETH-USDT-SWAP", "0.01", "0.01", "3001.00", "0.1"),
))}
INST_BY_CODE = {i.code: s for s, i in INSTRUMENTS.items()}
DEFAULT_BALANCES = {"USDT": "1000000", "BTC": "10", "ETH": "100"}

PUBLIC_CHANNELS = ("books", "trades", "bbo-tbt", "mark-price", "funding-rate", "open-interest")
SWAP_ONLY = ("mark-price", "funding-rate", "open-interest")
LIQUIDATIONS = "liquidation-orders"      # subscribed per instType: topic "liquidation-orders:SWAP"
INDEX_TICKERS = "index-tickers"          # subscribed by index (a swap's uly): topic "index-tickers:BTC-USDT"
INDEX_QUIET_PUSH_S = 60.0                # an unchanged index is pushed again once a minute

_CLORDID_RE = re.compile(r"^[A-Za-z0-9]{1,32}$")
_TAG_RE = re.compile(r"^[A-Za-z0-9]{0,16}$")
_WS_ID_RE = re.compile(r"^[A-Za-z0-9]{1,32}$")
_DEC_RE = re.compile(r"^[0-9]{1,20}(\.[0-9]{1,20})?$")
_ISO_RE = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,3}))?Z$")

_STATE = {NEW: "live", PARTIALLY_FILLED: "partially_filled", FILLED: "filled", CANCELED: "canceled",
          EXPIRED: "canceled", REJECTED: "canceled"}
# ordType -> (engine type, time in force)
_ORD_TYPES = {"limit": (LIMIT, GTC), "market": (MARKET, GTC), "ioc": (LIMIT, IOC), "fok": (LIMIT, FOK),
              "post_only": (LIMIT, GTC)}

# the reject reasons of venuelink.sim.positions -> (sCode, sMsg) (okx.com/docs-v5 trade error codes)
_DERIV_REJECTS = {
    INSUFFICIENT_MARGIN: ("51008", "Order failed. Insufficient USDT margin in account"),
    REDUCE_ONLY_NO_POSITION: ("51169", "Order failed because you don't have any positions in this direction for "
                                       "this contract to reduce or close."),
    REDUCE_ONLY_INCREASES: ("51170", "Failed to place order. A reduce-only order can\u2019t be the same trading "
                                     "direction as your existing positions."),
}

RATE_MSG = "Rate limit reached. Please refer to API documentation and throttle requests accordingly."

# HTTP status of an error code where it is not 200 (okx.com/docs-v5 error-code tables)
_HTTP_FOR_CODE = {"50000": 400, "50001": 503, "50002": 400, "50004": 400, "50011": 429, "50013": 429,
                  "50014": 400, "50026": 500, "50061": 429, "51000": 400, "51054": 500,
                  "50102": 401, "50103": 401, "50104": 401, "50105": 401, "50106": 401, "50107": 401,
                  "50111": 401, "50112": 401, "50113": 401}


# ====================================================================== configuration
# bucket name (venuelink.adapters.okx.spec.SPEC.buckets) -> what the simulator counts against it
BUCKET_SCOPES = {
    "PUBLIC_2S": WEIGHT,               # per IP; public requests weigh 1, private ones and market/books 0
    "BOOKS_2S": KEYED,                 # market/books, per IP
    "PLACE_2S": KEYED,                 # per account and instId, REST and WebSocket together
    "CANCEL_2S": KEYED,
    "AMEND_2S": KEYED,
    "SUBACCOUNT_ORDERS_2S": ORDERS,    # new orders per account
    "PRIVATE_2S": KEYED,               # private queries per account
}


@dataclass(slots=True)
class OkxSimConfig(SimConfig):
    symbols: list[str] = field(default_factory=lambda: list(INSTRUMENTS))
    balances: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_BALANCES))
    api_key: str = DEFAULT_API_KEY
    api_secret: str = field(default=DEFAULT_API_SECRET, repr=False)  # never in a repr
    api_passphrase: str = field(default=DEFAULT_PASSPHRASE, repr=False)
    sub_ops: int = SPEC.endpoints[0].max_subscribe_ops_per_hour
    sub_window_s: float = 3600.0
    max_inbound_per_s: int = 0          # OKX documents no per-second inbound cap
    ping_interval: float = 86400.0      # OKX sends no protocol pings: the client pings in text
    max_conn_age: float = SPEC.endpoints[0].max_connection_age_s
    idle_timeout_s: float = 30.0        # closed after this long without a client message
    depth_fast_ms: float = 100.0        # books update cadence (0 = one update per change batch)
    book_keepalive_s: float = 60.0      # an empty update after this long without a book change
    deriv_interval_ms: float = 1000.0   # mark-price and index-tickers cadence (when changed)
    funding_interval_s: float = 30.0    # funding-rate cadence
    unknown_status: int = 400           # 50004 "endpoint request timeout" comes as HTTP 400
    shutdown_close_s: float = 60.0      # the 64008 notice comes this long before the close (0 = no close)
    legacy_books: bool = False          # books as before early August 2026: a snapshot pushed on
                                        # subscribe, and the checksum field on every push

    LIMIT_OPTIONS: ClassVar[Mapping[str, str]] = {
        "public_limit": "PUBLIC_2S", "place_limit": "PLACE_2S", "cancel_limit": "CANCEL_2S",
        "orders_limit": "SUBACCOUNT_ORDERS_2S", "private_limit": "PRIVATE_2S", "books_limit": "BOOKS_2S",
    }


def _okx_args(p: argparse.ArgumentParser, d: OkxSimConfig) -> None:
    p.add_argument("--api-key", default=d.api_key)
    p.add_argument("--api-secret", default=d.api_secret)
    p.add_argument("--api-passphrase", default=d.api_passphrase)
    p.add_argument("--idle-timeout-s", type=float, default=d.idle_timeout_s,
                   help="close a WebSocket after this long without a client message (0 = never)")
    p.add_argument("--depth-fast-ms", type=float, default=d.depth_fast_ms, help="books cadence (0 = per batch)")
    p.add_argument("--book-keepalive-s", type=float, default=d.book_keepalive_s)
    p.add_argument("--deriv-interval-ms", type=float, default=d.deriv_interval_ms)
    p.add_argument("--funding-interval-s", type=float, default=d.funding_interval_s)
    p.add_argument("--unknown-status", type=int, default=d.unknown_status)
    p.add_argument("--shutdown-close-s", type=float, default=d.shutdown_close_s,
                   help="close the connections this long after the 64008 notice (0 = leave them open)")
    p.add_argument("--legacy-books", action="store_true", default=d.legacy_books,
                   help="books as OKX sent them before early August 2026: a snapshot pushed on subscribe "
                        "and a checksum on every push")


def _okx_report(host: str, port: int, config: OkxSimConfig) -> dict[str, Any]:
    ws = f"ws://{host}:{port}"
    # ws_url is the public endpoint's full URL (the engine's ws_url stands for its first endpoint)
    return {"ws_url": f"{ws}/ws/v5/public", "public_ws_url": f"{ws}/ws/v5/public",
            "private_ws_url": f"{ws}/ws/v5/private", "ws_api_url": f"{ws}/ws/v5/private",
            "api_key": config.api_key, "api_secret": config.api_secret, "api_passphrase": config.api_passphrase}


# ====================================================================== signing, checksum, formats
def sign(secret: str, payload: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()).decode()


def parse_iso_ms(text: str) -> int | None:
    """Epoch ms of ``2020-12-08T09:08:57.715Z``; None when malformed."""
    m = _ISO_RE.match(text)
    if m is None:
        return None
    y, mo, d, h, mi, s = (int(x) for x in m.groups()[:6])
    frac = (m.group(7) or "0").ljust(3, "0")
    try:
        secs = calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0))
    except (ValueError, OverflowError):
        return None
    if not (1 <= mo <= 12 and 1 <= d <= 31 and h < 24 and mi < 60 and s < 61):
        return None
    return secs * 1000 + int(frac)


def book_checksum(bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> int:
    """OKX's checksum: CRC32 of ``bid1px:bid1sz:ask1px:ask1sz:...`` over the first 25 levels of
    each side (a shorter side's missing levels skipped), as a signed 32-bit integer."""
    parts: list[str] = []
    for i in range(CHECKSUM_DEPTH):
        if i < len(bids):
            parts += bids[i]
        if i < len(asks):
            parts += asks[i]
    crc = zlib.crc32(":".join(parts).encode())
    return crc - (1 << 32) if crc >= 1 << 31 else crc


def _dec(d: Decimal) -> str:
    """Shortest exact decimal string ("0.5", "-0.0001", "12")."""
    if d == 0:
        return "0"
    s = f"{d.normalize():f}"
    return s


def _us() -> str:
    return str(time.time_ns() // 1000)


# ====================================================================== errors
class OkxError(SimError):
    """An OKX envelope error: ``{"code": "51001", "msg": "...", "data": []}`` with the code's HTTP status."""

    @classmethod
    def status_for(cls, code: int | str) -> int:
        return _HTTP_FOR_CODE.get(str(code), 200)


class ItemError(Exception):
    """A refused order item: sCode/sMsg inside a code "1" envelope (HTTP 200)."""

    def __init__(self, s_code: str, s_msg: str, cl_ord_id: str = "", ord_id: str = "") -> None:
        super().__init__(s_code, s_msg)
        self.item = {"clOrdId": cl_ord_id, "ordId": ord_id, "tag": "", "ts": str(now_ms()), "sCode": s_code,
                     "sMsg": s_msg}


BATCH_MAX = 20
"""orders per batch request (batch-orders, cancel-batch-orders, amend-batch-orders)"""


def _empty(name: str) -> OkxError:
    return OkxError("50014", f"Parameter {name} can not be empty.")


def _ws_event(ev: str, conn: WsConn, rid: Any = None, **kw: Any) -> str:
    d: dict[str, Any] = {}
    if rid is not None:
        d["id"] = rid
    d["event"] = ev
    d.update(kw)
    d["connId"] = conn.data.get("connId", "")
    return _dumps(d)


# ====================================================================== the dialect
class OkxSim(SimApp):
    def __init__(self, config: OkxSimConfig) -> None:
        unknown = [s for s in config.symbols if s not in INSTRUMENTS]
        if unknown or not config.symbols:
            raise ValueError(f"unknown instruments {unknown}; available: {sorted(INSTRUMENTS)}")
        rules = rules_from_buckets(SPEC.buckets, BUCKET_SCOPES, config.limits)
        venue = make_venue(VENUE, [INSTRUMENTS[s].spec for s in config.symbols], config, rules, [ACCOUNT])
        super().__init__(config, venue)
        self.config: OkxSimConfig = config
        self.default_account = ACCOUNT
        self.insts = {s: INSTRUMENTS[s] for s in config.symbols}
        venue.on_batch = self._on_batch
        venue.on_account_event = self._on_account_event
        venue.on_shutdown_notice = self._shutdown_notice
        self.diffs = DiffStreams(venue, self._diff_topic, self._render_books)
        self.diff_cadences_ms = {config.depth_fast_ms}
        self.hub.on_topic = self.diffs.on_topic
        self.top = TopOfBook(venue)
        self.control = self.topic_control(self, ping=PingRule(lambda t: t == "ping", lambda t: "pong"))
        self.orders_streams = AccountStreams(self.hub)
        self.private_ws = RpcSocket(self.limiter, OkxPrivateWs(self))
        self._conn_ids = itertools.count(0x5A3D0001)
        self._meta: dict[int, dict[str, str]] = {}  # order id -> OKX fields the engine does not keep
        self._last_seq: dict[str, int] = {}          # books topic -> seqId of its last push
        self._last_push: dict[str, float] = {}       # books topic -> monotonic time of its last push
        self._last_mark: dict[str, int] = {}
        # index (uly) -> its swap; the index's last pushed price (ticks, monotonic time) and its
        # [open, high, low] since the simulator started (the 24 h window of a short-lived venue)
        self._index_swap = {f"{i.spec.base}-{i.spec.quote}": s for s, i in self.insts.items() if i.inst_type == "SWAP"}
        self._last_index: dict[str, tuple[int, float]] = {}
        self._index_day: dict[str, list[int]] = {}
        self._tasks: list[asyncio.Task] = []
        self._cancel_all: asyncio.TimerHandle | None = None
        self._cancel_all_at = 0
        self._pending_events: dict[int, list[ExecEvent]] = {}  # events of an order being placed

    # ------------------------------------------------------------------ app
    def add_routes(self, r: web.UrlDispatcher) -> None:
        r.add_get("/api/v5/public/instruments", self.h_instruments)
        r.add_get("/api/v5/public/time", self.h_time)
        r.add_get("/api/v5/market/books", self.h_books)
        r.add_get("/api/v5/market/trades", self.h_trades)
        r.add_post("/api/v5/trade/order", self.h_place)
        r.add_post("/api/v5/trade/batch-orders", self.h_place_batch)
        r.add_get("/api/v5/trade/order", self.query(self.op_query))
        r.add_post("/api/v5/trade/cancel-order", self.h_cancel)
        r.add_post("/api/v5/trade/cancel-batch-orders", self.h_cancel_batch)
        r.add_post("/api/v5/trade/amend-order", self.h_amend)
        r.add_get("/api/v5/trade/orders-pending", self.query(self.op_pending))
        r.add_get("/api/v5/trade/fills", self.query(self.op_fills))
        r.add_get("/api/v5/trade/fills-history", self.query(self.op_fills_history))
        r.add_get("/api/v5/account/balance", self.query(self.op_balance))
        r.add_get("/api/v5/account/positions", self.query(self.op_positions))
        r.add_post("/api/v5/trade/cancel-all-after", self.query(self.op_cancel_all_after))
        r.add_get("/ws/v5/public", self.h_ws_public)
        r.add_get("/ws/v5/private", self.h_ws_private)

    async def _on_startup(self, app: web.Application) -> None:
        await super()._on_startup(app)
        loop = asyncio.get_running_loop()
        ka = self.config.book_keepalive_s
        if ka > 0:
            self._tasks.append(loop.create_task(every(max(0.05, min(1.0, ka / 4)), self._book_keepalives)))
        if self.config.deriv_interval_ms > 0:
            self._tasks.append(loop.create_task(every(self.config.deriv_interval_ms / 1000.0, self._marks)))
        if self.config.funding_interval_s > 0:
            self._tasks.append(loop.create_task(every(self.config.funding_interval_s, self._fundings)))

    async def _on_shutdown(self, app: web.Application) -> None:
        await cancel_tasks(self._tasks)
        if self._cancel_all is not None:
            self._cancel_all.cancel()
        await super()._on_shutdown(app)

    # ------------------------------------------------------------------ REST dialect
    def is_api_path(self, path: str) -> bool:
        return path.startswith("/api/")

    status_path = "/api/v5/system/status"

    def status_body(self, ongoing: bool, window: tuple[float, float] | None) -> Any:
        events = []
        if ongoing or window is not None:
            begin = str(int(window[0] * 1000)) if window else str(now_ms())
            end = str(int(window[1] * 1000)) if window else ""
            events.append({"begin": begin, "end": end, "href": "", "maintType": "1", "env": "1",
                           "preOpenBegin": "", "scheDesc": "", "serviceType": "5", "state":
                           "ongoing" if ongoing else "scheduled", "system": "unified",
                           "title": "Trading account system upgrade"})
        return {"code": "0", "msg": "", "data": events}

    def request_weight(self, request: web.Request) -> int:
        p = request.path
        if p == "/api/v5/market/books":
            return 0                    # its own bucket (BOOKS_2S, h_books)
        return 1 if p.startswith(("/api/v5/public/", "/api/v5/market/")) or p == self.status_path else 0

    def error_body(self, e: SimError) -> Any:
        return {"code": str(e.code), "msg": e.msg, "data": e.data if isinstance(e.data, list) else []}

    def limit_error(self, dec: Decision) -> OkxError:
        # OKX answers every rate refusal (a ban too) with 50011; it sends no retry hint
        return OkxError("50011", RATE_MSG, 429)

    def maintenance_error(self) -> OkxError:
        return OkxError("50001", "Service temporarily unavailable. Please try again later.", 503)

    def internal_error(self, status: int) -> OkxError:
        if status == 503:
            return OkxError("50001", "Service temporarily unavailable. Please try again later.", 503)
        return OkxError("50026", "System error. Try again later.", status)

    def unknown_status_error(self, status: int) -> OkxError:
        return OkxError("50004", "API endpoint request timeout (does not mean that the request was successful "
                                 "or failed, please check the request result).", status)

    def missing_param(self, name: str) -> OkxError:
        return _empty(name)

    def bad_param(self, name: str, pattern: str) -> OkxError:
        return OkxError("51000", f"Parameter {name} error")

    def unknown_symbol(self, symbol: str) -> OkxError:
        return OkxError("51001", "Instrument ID does not exist.")

    async def authenticate(self, request: web.Request, *, batch: bool = False) -> Any:
        """The request's parameters once its signature is checked: the query of a GET, else the
        JSON body, an object (``batch``: an array of objects, the batch endpoints' body)."""
        h = request.headers
        key, sig = h.get("OK-ACCESS-KEY", ""), h.get("OK-ACCESS-SIGN", "")
        ts, phrase = h.get("OK-ACCESS-TIMESTAMP", ""), h.get("OK-ACCESS-PASSPHRASE", "")
        if not key:
            raise OkxError("50103", 'Request header "OK-ACCESS-KEY" cannot be empty.')
        if not phrase:
            raise OkxError("50104", 'Request header "OK-ACCESS-PASSPHRASE" cannot be empty.')
        if not sig:
            raise OkxError("50106", 'Request header "OK-ACCESS-SIGN" cannot be empty.')
        if not ts:
            raise OkxError("50107", 'Request header "OK-ACCESS-TIMESTAMP" cannot be empty.')
        if not hmac.compare_digest(key.encode(), self.config.api_key.encode()):
            raise OkxError("50111", "Invalid OK-ACCESS-KEY.")
        ms = parse_iso_ms(ts)
        if ms is None:
            raise OkxError("50112", "Invalid OK-ACCESS-TIMESTAMP.")
        if abs(now_ms() - ms) > MAX_SKEW_S * 1000:
            raise OkxError("50102", "Timestamp request expired.")
        if not hmac.compare_digest(phrase.encode(), self.config.api_passphrase.encode()):
            raise OkxError("50105", 'Request header "OK-ACCESS-PASSPHRASE" incorrect.')
        body = ""
        if request.method != "GET" and request.can_read_body:
            body = (await request.read()).decode("utf-8", "replace")
        payload = ts + request.method + request.rel_url.raw_path_qs + body
        if not hmac.compare_digest(sign(self.config.api_secret, payload).encode(), sig.encode()):
            raise OkxError("50113", "Invalid Sign.")
        if request.method == "GET":
            return dict(parse_qsl(request.rel_url.raw_query_string, keep_blank_values=True))
        if not body.strip():
            return {}
        try:
            params = _json.loads(body)
        except ValueError:
            raise OkxError("50002", "JSON syntax error") from None
        if batch:
            if not isinstance(params, list) or not all(isinstance(a, dict) for a in params):
                raise OkxError("50002", "JSON syntax error")
            return params
        if not isinstance(params, dict):
            raise OkxError("50002", "JSON syntax error")
        return params

    def query(self, op: Callable[[dict[str, Any]], list]) -> Callable[[web.Request], Any]:
        """A signed read (or account setting) on the private query budget: ``{"code":"0","data":[...]}``."""
        async def handler(request: web.Request) -> web.Response:
            params = await self.authenticate(request)
            self._check_keyed(ACCOUNT, "PRIVATE_2S")
            return self.json({"code": "0", "msg": "", "data": op(params)})
        return handler

    def _check_keyed(self, key: str, bucket: str) -> None:
        if not self.limiter.check_bucket(key, (bucket,)).allowed:
            raise OkxError("50011", RATE_MSG, 429)

    # ------------------------------------------------------------------ parameters
    @staticmethod
    def _str(params: Mapping[str, Any], name: str) -> str:
        v = params.get(name)
        if v is None or isinstance(v, (dict, list, bool)):
            return "" if v is None else "\x00"
        return str(v)

    def _inst(self, params: Mapping[str, Any]) -> str:
        s = self._str(params, "instId")
        if not s:
            raise _empty("instId")
        if s not in self.insts:
            raise self.unknown_symbol(s)
        return s

    @staticmethod
    def _decimal(text: str, name: str, cid: str) -> Decimal:
        if not _DEC_RE.match(text):
            raise ItemError("51000", f"Parameter {name} error", cid)
        return Decimal(text)

    @staticmethod
    def _bool(params: Mapping[str, Any], name: str, cid: str) -> bool:
        """A Boolean parameter: JSON true/false or the strings "true"/"false" (absent: false)."""
        v = params.get(name)
        if v is None or v is False or v == "false" or v == "":
            return False
        if v is True or v == "true":
            return True
        raise ItemError("51000", f"Parameter {name} error", cid)

    # ------------------------------------------------------------------ formatting
    def _lever(self, sym: str) -> str:
        eng = self.venue.engines[sym]
        return _dec(eng.leverage) if isinstance(eng, PerpEngine) else ""

    def _px(self, sym: str, ticks: int | None) -> str:
        return self.venue.markets[sym].price_scale.plain(ticks) if ticks else ""

    def _sz(self, sym: str, lots: int) -> str:
        return self.venue.markets[sym].qty_scale.plain(lots)

    def _levels(self, sym: str, levels: list[tuple[int, int]]) -> list[list[str]]:
        m = self.venue.markets[sym]
        pf, qf = m.price_scale.plain, m.qty_scale.plain
        return [[pf(p), qf(q), "0", str(1 + p % 5) if q else "0"] for p, q in levels]

    def _checksum(self, sym: str) -> int:
        m = self.venue.markets[sym]
        _, bids, asks = m.depth(CHECKSUM_DEPTH)
        pf, qf = m.price_scale.plain, m.qty_scale.plain
        ck = book_checksum([(pf(p), qf(q)) for p, q in bids], [(pf(p), qf(q)) for p, q in asks])
        if self.faults.checksum_bad and self.faults.take_checksum_bad(sym):
            ck = ck + 1 if ck < (1 << 31) - 1 else ck - 1
        return ck

    def _checksum_field(self, sym: str) -> dict[str, int]:
        """The checksum field of a books push: gone since early August 2026 (--legacy-books: sent)."""
        return {"checksum": self._checksum(sym)} if self.config.legacy_books else {}

    def _avg(self, o: Order, executed: int, cum_quote: int) -> str:
        if not executed:
            return ""
        eng = self.venue.engines[o.symbol]
        avg = eng.quote_value(cum_quote) / eng.base_value(executed)
        return _dec(avg.quantize(Decimal(self.venue.specs[o.symbol].tick) / 10000, rounding=ROUND_DOWN))

    def _order_obj(self, o: Order, status: str | None = None, executed: int | None = None,
                   cum_quote: int | None = None, ts: int | None = None) -> dict[str, Any]:
        s = o.symbol
        meta = self._meta.get(o.order_id, {})
        status = o.status if status is None else status
        executed = o.executed if executed is None else executed
        cum_quote = o.cum_quote if cum_quote is None else cum_quote
        fills = [f for f in o.fills if ts is None or f.ts <= ts]
        last = fills[-1] if fills else None
        fee = -sum((f.commission for f in fills), Decimal(0))
        swap = self.insts[s].inst_type == "SWAP"
        spec = self.venue.specs[s]
        fee_ccy = last.commission_asset if last else (spec.quote if swap or o.side == SELL else spec.base)
        pnl = sum((f.realized_pnl for f in fills), Decimal(0))
        return {
            "instType": self.insts[s].inst_type, "instId": s, "tgtCcy": meta.get("tgtCcy", ""), "ccy": "",
            "ordId": str(o.order_id), "clOrdId": meta.get("clOrdId", ""), "tag": meta.get("tag", ""),
            "px": self._px(s, o.price), "pxUsd": "", "pxVol": "", "pxType": "", "sz": meta.get("sz") or self._sz(s, o.qty),
            "pnl": _dec(pnl), "ordType": meta.get("ordType", "limit"), "side": o.side.lower(),
            "posSide": "net" if swap else "", "tdMode": meta.get("tdMode") or ("cross" if swap else "cash"),
            "accFillSz": self._sz(s, executed),
            "fillPx": self._px(s, last.price) if last else "", "tradeId": str(last.trade_id) if last else "",
            "fillSz": self._sz(s, last.qty) if last else "0", "fillTime": str(last.ts) if last else "",
            "avgPx": self._avg(o, executed, cum_quote), "state": _STATE.get(status, "live"),
            "lever": self._lever(s),
            "attachAlgoClOrdId": "", "tpTriggerPx": "", "tpTriggerPxType": "", "tpOrdPx": "", "slTriggerPx": "",
            "slTriggerPxType": "", "slOrdPx": "", "attachAlgoOrds": [], "linkedAlgoOrd": {"algoId": ""},
            "stpId": "", "stpMode": "cancel_maker", "feeCcy": fee_ccy, "fee": _dec(fee), "rebateCcy": fee_ccy,
            "rebate": "0", "source": "", "category": "normal", "reduceOnly": "true" if o.reduce_only else "false",
            "isTpLimit": "false",
            "cancelSource": "", "cancelSourceReason": "", "quickMgnType": "", "algoClOrdId": "", "algoId": "",
            "uTime": str(o.updated_ms or o.created_ms), "cTime": str(o.created_ms),
        }

    # ------------------------------------------------------------------ operations (REST + WS)
    def op_place(self, p: dict[str, Any]) -> dict[str, Any]:
        """One order item ``{"ordId", "clOrdId", "tag", "ts", "sCode": "0", "sMsg"}``; raises
        ``ItemError`` (a refused item) or ``OkxError`` (the request as a whole)."""
        sym = self._inst(p)
        cid = self._str(p, "clOrdId")
        if cid and not _CLORDID_RE.match(cid):
            raise ItemError("51000", "Parameter clOrdId error", cid)
        tag = self._str(p, "tag")
        if not _TAG_RE.match(tag):
            raise ItemError("51000", "Parameter tag error", cid)
        for name in ("tdMode", "side", "ordType", "sz"):
            if not self._str(p, name):
                raise _empty(name)
        self._check_keyed(f"{ACCOUNT}/{sym}", "PLACE_2S")
        if not self.limiter.check_order(ACCOUNT).allowed:
            raise OkxError("50061", "Sub-account rate limit exceeded.", 429)
        inst = self.insts[sym]
        td_mode, side, ord_type = self._str(p, "tdMode"), self._str(p, "side"), self._str(p, "ordType")
        if td_mode not in ("cash", "cross", "isolated", "spot_isolated"):
            raise ItemError("51000", "Parameter tdMode error", cid)
        swap = inst.inst_type == "SWAP"
        if swap and td_mode == "isolated":
            raise ItemError("51010", "Request unsupported under current account mode", cid)
        if td_mode not in (("cross",) if swap else ("cash", "cross")):
            raise ItemError("51000", "Parameter tdMode error", cid)
        reduce_only = self._bool(p, "reduceOnly", cid)
        if reduce_only and not swap:
            raise ItemError("51139", "Reduce-only feature is unavailable for the spot transactions by spot mode.", cid)
        if self._str(p, "posSide") not in ("", "net") or (self._str(p, "posSide") and not swap):
            raise ItemError("51000", "Parameter posSide error", cid)
        if side not in ("buy", "sell"):
            raise ItemError("51000", "Parameter side error", cid)
        if ord_type not in _ORD_TYPES:
            raise ItemError("51000", "Parameter ordType error", cid)
        etype, tif = _ORD_TYPES[ord_type]
        sz_text = self._str(p, "sz")
        sz = self._decimal(sz_text, "sz", cid)
        px_text = self._str(p, "px")
        price_d = None
        if etype == LIMIT:
            if not px_text:
                raise ItemError("51000", "Parameter px error", cid)
            price_d = self._decimal(px_text, "px", cid)
        tgt = self._str(p, "tgtCcy")
        # OKX: "only applicable to SPOT market orders": a spot limit order may carry it (unused)
        if tgt not in ("", "base_ccy", "quote_ccy") or (tgt and swap):
            raise ItemError("51000", "Parameter tgtCcy error", cid)
        m = self.venue.markets[sym]
        eside = BUY if side == "buy" else SELL
        qty_d = sz
        if not swap and etype == MARKET and (tgt == "quote_ccy" or (tgt == "" and eside == BUY)):
            # spot market orders default to a quote amount for buys: sized at the best opposite price
            top = m.best_ask() if eside == BUY else m.best_bid()
            if top is None:
                raise ItemError("51000", "Parameter sz error", cid)
            lot = m.qty_scale.step
            qty_d = (sz / m.price_scale.to_decimal(top[0]) / lot).to_integral_value(rounding=ROUND_DOWN) * lot
        try:
            price, qty = self.venue.order_units(sym, price_d, qty_d)
        except FilterFailure as e:
            name = "px" if e.filter.name == "PRICE" else "sz"
            raise ItemError("51000", f"Parameter {name} error", cid) from None
        if ord_type == "post_only":
            opp = m.best_ask() if eside == BUY else m.best_bid()
            if opp is not None and (price >= opp[0] if eside == BUY else price <= opp[0]):
                raise ItemError("51000", "Order failed. The post_only order would take liquidity.", cid)
        try:
            res = self.venue.place(sym, ACCOUNT, side=eside, type=etype, qty=qty, price=price, tif=tif,
                                   client_id=cid or None, ts=now_ms(), reduce_only=reduce_only)
        except Reject as e:
            if e.reason in _DERIV_REJECTS:
                raise ItemError(*_DERIV_REJECTS[e.reason], cid) from None
            if e.reason == DUPLICATE_CLIENT_ID:
                raise ItemError("51016", "Duplicated clOrdId", cid) from None
            if e.reason == INSUFFICIENT_BALANCE:
                ccy = inst.spec.quote if eside == BUY else inst.spec.base
                raise ItemError("51008", f"Order failed. Insufficient {ccy} balance in account.", cid) from None
            raise ItemError("51000", "Parameter sz error", cid) from None
        o = res.order
        return {"ordId": str(o.order_id), "clOrdId": cid, "tag": tag, "ts": str(o.created_ms), "sCode": "0",
                "sMsg": "Order placed"}

    def remember(self, p: dict[str, Any], ord_id: str) -> None:
        sym = str(p.get("instId"))
        meta = {"clOrdId": self._str(p, "clOrdId"), "tag": self._str(p, "tag"), "ordType": self._str(p, "ordType"),
                "tdMode": self._str(p, "tdMode"), "tgtCcy": self._str(p, "tgtCcy")}
        if meta["ordType"] == "market":
            meta["sz"] = self._str(p, "sz")
        self._meta[int(ord_id)] = meta
        o = self.venue.engines[sym].orders.get(int(ord_id))
        if o is not None:
            self._replay_events(o)

    def _find(self, p: dict[str, Any]) -> tuple[str, int | None, str | None]:
        sym = self._inst(p)
        oid_s, cid = self._str(p, "ordId"), self._str(p, "clOrdId")
        if not oid_s and not cid:
            raise _empty("ordId")
        oid = None
        if oid_s:
            if not oid_s.isdigit() or len(oid_s) > 19:
                raise OkxError("51000", "Parameter ordId error")
            oid = int(oid_s)
        return sym, oid, cid or None

    def _get(self, sym: str, oid: int | None, cid: str | None) -> Order | None:
        o = self.venue.engines[sym].get(ACCOUNT, oid, cid)
        if o is not None and cid is not None and self._meta.get(o.order_id, {}).get("clOrdId") != cid:
            return None
        if o is not None and oid is not None and cid is not None and o.order_id != oid:
            return None
        return o

    def op_cancel(self, p: dict[str, Any]) -> dict[str, Any]:
        sym, oid, cid = self._find(p)
        self._check_keyed(f"{ACCOUNT}/{sym}", "CANCEL_2S")
        o = self._get(sym, oid, cid)
        cl = cid or ""
        if o is None:
            raise ItemError("51400", "Order cancellation failed as the order has been filled, canceled or does "
                                     "not exist.", cl, str(oid or ""))
        cl = self._meta.get(o.order_id, {}).get("clOrdId", "")
        if o.status in (CANCELED, EXPIRED, REJECTED):
            raise ItemError("51401", "Order has been canceled.", cl, str(o.order_id))
        if o.status == FILLED:
            raise ItemError("51402", "Order has been filled.", cl, str(o.order_id))
        try:
            self.venue.engines[sym].cancel(ACCOUNT, o.order_id, None, None, now_ms())
        except Reject:
            raise ItemError("51400", "Order cancellation failed as the order has been filled, canceled or does "
                                     "not exist.", cl, str(o.order_id)) from None
        return {"ordId": str(o.order_id), "clOrdId": cl, "ts": str(now_ms()), "sCode": "0", "sMsg": ""}

    def op_amend(self, p: dict[str, Any]) -> dict[str, Any]:
        """amend-order: ``newSz`` (the new total, filled part included) and/or ``newPx`` of a
        resting order, found by ``ordId`` or ``clOrdId``; ``reqId`` echoed and carried by the
        orders-channel push that reports the amendment."""
        sym, oid, cid = self._find(p)
        req_id = self._str(p, "reqId")
        if req_id and not _CLORDID_RE.match(req_id):
            raise ItemError("51000", "Parameter reqId error", cid or "")
        self._check_keyed(f"{ACCOUNT}/{sym}", "AMEND_2S")
        if not self.limiter.check_order(ACCOUNT).allowed:
            raise OkxError("50061", "Sub-account rate limit exceeded.", 429)
        new_sz, new_px = self._str(p, "newSz"), self._str(p, "newPx")
        if not new_sz and not new_px:
            raise OkxError("50015", "Either parameter newSz or newPx is required")
        o = self._get(sym, oid, cid)
        cl = cid or ""
        gone = "Order modification failed as the order has been filled, canceled or does not exist."
        if o is None or not o.is_open:
            raise ItemError("51503", gone, cl if o is None else self._meta.get(o.order_id, {}).get("clOrdId", ""),
                            "" if o is None else str(o.order_id))
        meta = self._meta.get(o.order_id, {})
        cl = meta.get("clOrdId", "")
        m = self.venue.markets[sym]
        qty = price = None
        try:
            if new_sz:
                qty = self.venue.order_units(sym, None, self._decimal(new_sz, "newSz", cl))[1]
            if new_px:
                price = self.venue.order_units(sym, self._decimal(new_px, "newPx", cl), m.qty_scale.to_decimal(o.qty))[0]
        except FilterFailure as e:
            raise ItemError("51000", f"Parameter {'newPx' if e.filter.name == 'PRICE' else 'newSz'} error", cl) from None
        if qty is not None and qty <= o.executed:
            raise ItemError("51000", "Parameter newSz error", cl)
        if meta.get("ordType") == "post_only" and price is not None:
            opp = m.best_ask() if o.side == BUY else m.best_bid()
            if opp is not None and (price >= opp[0] if o.side == BUY else price <= opp[0]):
                raise ItemError("51000", "Order failed. The post_only order would take liquidity.", cl)
        meta["reqId"] = req_id
        try:
            self.venue.amend(sym, ACCOUNT, order_id=o.order_id, qty=qty, price=price, ts=now_ms())
        except Reject as e:
            if e.reason in _DERIV_REJECTS:
                raise ItemError(*_DERIV_REJECTS[e.reason], cl) from None
            if e.reason == INSUFFICIENT_BALANCE:
                raise ItemError("51008", "Order failed. Insufficient balance in account.", cl) from None
            if e.reason == UNKNOWN_ORDER:
                raise ItemError("51503", gone, cl, str(o.order_id)) from None
            raise ItemError("51000", "Parameter newSz error", cl) from None
        return {"ordId": str(o.order_id), "clOrdId": cl, "reqId": req_id, "ts": str(now_ms()), "sCode": "0",
                "sMsg": ""}

    def op_query(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        sym, oid, cid = self._find(p)
        o = self._get(sym, oid, cid)
        if o is None:
            raise OkxError("51603", "Order does not exist.")
        return [self._order_obj(o)]

    def _inst_type_filter(self, p: dict[str, Any]) -> tuple[str | None, str]:
        sym = self._str(p, "instId")
        if sym and sym not in self.insts:
            raise self.unknown_symbol(sym)
        it = self._str(p, "instType")
        if it and it not in ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION"):
            raise OkxError("51000", "Parameter instType error")
        return sym or None, it

    def op_pending(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        sym, it = self._inst_type_filter(p)
        engines = [self.venue.engines[sym]] if sym else list(self.venue.engines.values())
        orders = [o for e in engines for o in e.open_orders(ACCOUNT)
                  if not it or self.insts[o.symbol].inst_type == it]
        orders.sort(key=lambda o: (o.created_ms, o.order_id), reverse=True)   # newest first
        return [self._order_obj(o) for o in orders[:100]]

    def op_fills(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        sym, it = self._inst_type_filter(p)
        oid_s = self._str(p, "ordId")
        if oid_s and not oid_s.isdigit():
            raise OkxError("51000", "Parameter ordId error")
        begin = self._str(p, "begin")
        if begin and not begin.isdigit():
            raise OkxError("51000", "Parameter begin error")
        limit = self._str(p, "limit") or "100"
        if not limit.isdigit() or not 1 <= int(limit) <= 100:
            raise OkxError("51000", "Parameter limit error")
        # pagination by billId: `after` = older than that bill, `before` = newer
        after, before = self._str(p, "after"), self._str(p, "before")
        if (after and not after.isdigit()) or (before and not before.isdigit()):
            raise OkxError("51000", "Parameter after/before error")
        engines = [self.venue.engines[sym]] if sym else list(self.venue.engines.values())
        out = []
        for e in engines:
            if it and self.insts[e.symbol].inst_type != it:
                continue
            for f in e.trades(ACCOUNT, int(oid_s) if oid_s else None, None, 1_000_000):
                if begin and f.ts < int(begin):
                    continue
                bill = f.trade_id * 10 + 1
                if (after and bill >= int(after)) or (before and bill <= int(before)):
                    continue
                s = f.symbol
                out.append({
                    "instType": self.insts[s].inst_type, "instId": s, "tradeId": str(f.trade_id),
                    "ordId": str(f.order_id), "clOrdId": self._meta.get(f.order_id, {}).get("clOrdId", ""),
                    "billId": str(bill), "subType": "1", "tag": "", "fillPx": self._px(s, f.price),
                    "fillSz": self._sz(s, f.qty), "fillIdxPx": "", "fillPnl": _dec(f.realized_pnl), "fillPxVol": "",
                    "fillPxUsd": "", "fillMarkVol": "", "fillFwdPx": "", "fillMarkPx": "", "side": f.side.lower(),
                    "posSide": "net" if self.insts[s].inst_type == "SWAP" else "", "execType": "M" if f.is_maker else "T",
                    "feeCcy": f.commission_asset, "fee": _dec(-f.commission), "ts": str(f.ts),
                    "fillTime": str(f.ts)})
        out.sort(key=lambda d: int(d["billId"]), reverse=True)
        return out[:int(limit)]

    def _positions(self) -> list[tuple[str, PerpEngine, PerpPosition]]:
        """(instId, engine, position) of every open swap position of the account."""
        acct = self.venue.accounts[ACCOUNT]
        out = []
        for sym, pos in sorted(acct.positions.items()):
            eng = self.venue.engines[sym]
            if pos.qty and isinstance(eng, PerpEngine):
                out.append((sym, eng, pos))
        return out

    def _mark_px(self, sym: str) -> Decimal:
        return self.venue.markets[sym].price_scale.to_decimal(self._mark_ticks(sym))

    def op_balance(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        """Cross margin: a currency's ``frozenBal`` is its margin in use (``imr``, by positions)
        plus what its open orders hold (``ordFrozen``); ``eq`` adds the positions' ``upl``."""
        acct = self.venue.accounts[ACCOUNT]
        want = {c for c in self._str(p, "ccy").split(",") if c}
        ts = str(acct.updated_ms or now_ms())
        imr: dict[str, Decimal] = {}
        upl: dict[str, Decimal] = {}
        for sym, eng, pos in self._positions():
            imr[eng.settle] = imr.get(eng.settle, Decimal(0)) + pos.margin
            upl[eng.settle] = upl.get(eng.settle, Decimal(0)) + pos.upl(self._mark_px(sym))
        details = []
        for ccy, free, locked in acct.snapshot():
            if want and ccy not in want:
                continue
            im, u = imr.get(ccy, Decimal(0)), upl.get(ccy, Decimal(0))
            details.append({"ccy": ccy, "eq": _dec(free + locked + u), "cashBal": _dec(free + locked),
                            "availBal": _dec(free), "availEq": _dec(free), "frozenBal": _dec(locked),
                            "ordFrozen": _dec(locked - im), "imr": _dec(im) if im else "", "upl": _dec(u),
                            "eqUsd": "", "disEq": "", "uTime": ts})
        total_imr = sum(imr.values(), Decimal(0))
        total_upl = sum(upl.values(), Decimal(0))
        return [{"adjEq": "", "imr": _dec(total_imr) if imr else "", "mmr": "", "isoEq": "0", "mgnRatio": "",
                 "notionalUsd": "", "ordFroz": "", "totalEq": "", "upl": _dec(total_upl) if upl else "",
                 "uTime": ts, "details": details}]

    def op_positions(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        """``GET /api/v5/account/positions``: the open swap positions (net mode, cross margin)."""
        sym_filter, it = self._inst_type_filter(p)
        pos_ids = {x for x in self._str(p, "posId").split(",") if x}
        out = []
        for sym, eng, pos in self._positions():
            pid = str(400_000_000_000 + zlib.crc32(sym.encode()))
            if (sym_filter and sym != sym_filter) or (it and it != "SWAP") or (pos_ids and pid not in pos_ids):
                continue
            mark = self._mark_px(sym)
            u = pos.upl(mark)
            recent = self.venue.recent_trades.get(sym)
            out.append({
                "adl": "1", "availPos": "", "avgPx": _dec(pos.entry), "baseBal": "", "baseBorrowed": "",
                "baseInterest": "", "bePx": "", "bizRefId": "", "bizRefType": "", "cTime": str(pos.opened_ms),
                "ccy": eng.settle, "clSpotInUseAmt": "", "closeOrderAlgo": [], "deltaBS": "", "deltaPA": "",
                "fee": _dec(-pos.fees), "fundingFee": "0", "gammaBS": "", "gammaPA": "", "idxPx": "",
                "imr": _dec(pos.margin), "instId": sym, "instType": "SWAP", "interest": "",
                "last": self._px(sym, recent[-1].price) if recent else "", "lever": _dec(eng.leverage),
                "liab": "", "liabCcy": "", "liqPenalty": "0", "liqPx": "", "margin": "", "markPx": _dec(mark),
                "maxSpotInUseAmt": "", "mgnMode": "cross", "mgnRatio": "", "mmr": "",
                "notionalUsd": _dec(pos.notional(mark)), "optVal": "", "pendingCloseOrdLiabVal": "",
                "pnl": _dec(pos.realized_pnl), "pos": self._sz(sym, pos.qty), "posCcy": "", "posId": pid,
                "posSide": "net", "quoteBal": "", "quoteBorrowed": "", "quoteInterest": "",
                "realizedPnl": _dec(pos.realized_pnl - pos.fees), "spotInUseAmt": "", "spotInUseCcy": "",
                "thetaBS": "", "thetaPA": "", "tradeId": str(recent[-1].trade_id) if recent else "",
                "uTime": str(pos.updated_ms), "upl": _dec(u),
                "uplRatio": _dec((u / pos.margin).quantize(Decimal("0.0000000001"))) if pos.margin else "0",
                "usdPx": "", "vegaBS": "", "vegaPA": ""})
        return out

    def op_cancel_all_after(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        t = self._str(p, "timeOut")
        if not t:
            raise _empty("timeOut")
        if not t.isdigit() or not (int(t) == 0 or 10 <= int(t) <= 120):
            raise OkxError("51000", "Parameter timeOut error")
        if self._cancel_all is not None:
            self._cancel_all.cancel()
            self._cancel_all = None
        n = int(t)
        now = now_ms()
        if n:
            self._cancel_all = asyncio.get_running_loop().call_later(n, self._cancel_everything)
            self._cancel_all_at = now + n * 1000
        else:
            self._cancel_all_at = 0
        return [{"triggerTime": str(self._cancel_all_at) if n else "0", "tag": self._str(p, "tag"), "ts": str(now)}]

    def _cancel_everything(self) -> None:
        self._cancel_all = None
        self._cancel_all_at = 0
        for e in self.venue.engines.values():
            for o in e.open_orders(ACCOUNT):
                try:
                    e.cancel(ACCOUNT, o.order_id, None, None, now_ms())
                except Reject:
                    pass

    # ------------------------------------------------------------------ REST handlers
    async def h_time(self, request: web.Request) -> web.Response:
        return self.json({"code": "0", "msg": "", "data": [{"ts": str(now_ms())}]})

    def instrument_json(self, sym: str) -> dict[str, Any]:
        i = self.insts[sym]
        sp = i.spec
        swap = i.inst_type == "SWAP"
        return {"alias": "", "baseCcy": "" if swap else sp.base, "category": "1", "ctMult": "1" if swap else "",
                "ctType": "linear" if swap else "", "ctVal": i.ct_val, "ctValCcy": i.ct_val_ccy, "expTime": "",
                "instFamily": f"{sp.base}-{sp.quote}" if swap else "", "instId": sym, "instIdCode": i.code,
                "instType": i.inst_type,
                "lever": i.lever, "listTime": i.list_time, "lotSz": sp.lot, "maxIcebergSz": "9999999999",
                "maxLmtSz": "9999999999", "maxMktSz": "1000000", "maxStopSz": "1000000",
                "maxTriggerSz": "9999999999", "maxTwapSz": "9999999999", "minSz": sp.min_qty or sp.lot,
                "optType": "", "quoteCcy": "" if swap else sp.quote, "settleCcy": i.settle, "state": "live",
                "stk": "", "tickSz": sp.tick, "uly": f"{sp.base}-{sp.quote}" if swap else ""}

    async def h_instruments(self, request: web.Request) -> web.Response:
        q = dict(parse_qsl(request.rel_url.raw_query_string, keep_blank_values=True))
        it = q.get("instType", "")
        if not it:
            raise _empty("instType")
        if it not in ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION"):
            raise OkxError("51000", "Parameter instType error")
        inst = q.get("instId", "")
        data = [self.instrument_json(s) for s, i in self.insts.items()
                if i.inst_type == it and (not inst or s == inst)]
        return self.json({"code": "0", "msg": "", "data": data})

    async def h_books(self, request: web.Request) -> web.Response:
        q = dict(parse_qsl(request.rel_url.raw_query_string, keep_blank_values=True))
        self._check_keyed(f"{request.remote}/books", "BOOKS_2S")
        sym = self._inst(q)
        sz = q.get("sz", "1")
        if not sz.isdigit() or not 1 <= int(sz) <= BOOK_DEPTH:
            raise OkxError("51000", "Parameter sz error")
        seq, bids, asks = self.venue.markets[sym].depth(int(sz))
        return self.json({"code": "0", "msg": "", "data": [{"asks": self._levels(sym, asks),
                                                           "bids": self._levels(sym, bids), "ts": str(now_ms()),
                                                           "seqId": seq}]})

    async def h_trades(self, request: web.Request) -> web.Response:
        q = dict(parse_qsl(request.rel_url.raw_query_string, keep_blank_values=True))
        sym = self._inst(q)
        limit = q.get("limit", "100")
        if not limit.isdigit() or not 1 <= int(limit) <= 500:
            raise OkxError("51000", "Parameter limit error")
        recent = list(self.venue.recent_trades[sym])[-int(limit):]
        return self.json({"code": "0", "msg": "", "data": [self._trade_json(sym, t) for t in reversed(recent)]})

    def _trade_json(self, sym: str, t: Trade) -> dict[str, str]:
        return {"instId": sym, "side": t.taker_side.lower(), "sz": self._sz(sym, t.qty), "px": self._px(sym, t.price),
                "tradeId": str(t.trade_id), "ts": str(t.ts), "count": "1"}

    def op_fills_history(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        """fills-history (the last three months): trade/fills' rows, ``instType`` required."""
        if not self._str(p, "instType"):
            raise _empty("instType")
        return self.op_fills(p)

    async def h_place_batch(self, request: web.Request) -> web.Response:
        """batch-orders: a JSON array of up to 20 place-order bodies, each placed in turn; an item
        per order (sCode/sMsg), envelope code "0" all placed, "1" all failed, "2" some failed."""
        t_in = _us()
        items = await self.authenticate(request, batch=True)
        if not items:
            raise _empty("args")
        if len(items) > BATCH_MAX:
            raise OkxError("51000", f"Parameter args error: at most {BATCH_MAX} orders per batch")
        return self._batch_answer([(await self.place_request(p))[2] for p in items], t_in)

    def _batch_answer(self, data: list[dict[str, Any]], t_in: int) -> web.Response:
        """A batch's envelope by its items' sCode: "0" all done, "1" all failed, "2" some failed."""
        failed = sum(1 for d in data if d["sCode"] != "0")
        code, msg = ("0", "") if not failed else ("1", "Operation failed.") if failed == len(data) \
            else ("2", "Bulk operation partially succeeded.")
        return self.json({"code": code, "msg": msg, "data": data, "inTime": t_in, "outTime": _us()})

    async def h_place(self, request: web.Request) -> web.Response:
        t_in = _us()
        p = await self.authenticate(request)
        code, msg, item = await self.place_request(p)
        return self.json({"code": code, "msg": msg, "data": [item], "inTime": t_in, "outTime": _us()})

    async def place_request(self, p: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
        try:
            item = self.op_place(p)
        except ItemError as e:
            return "1", "Operation failed.", e.item
        self.remember(p, item["ordId"])
        await self.order_fault()
        return "0", "", item

    async def h_cancel(self, request: web.Request) -> web.Response:
        t_in = _us()
        p = await self.authenticate(request)
        code, msg, item = self.cancel_request(p)
        return self.json({"code": code, "msg": msg, "data": [item], "inTime": t_in, "outTime": _us()})

    async def h_cancel_batch(self, request: web.Request) -> web.Response:
        """cancel-batch-orders: a JSON array of up to 20 cancel-order bodies; an item per order
        (sCode/sMsg), envelope code "0" all accepted, "1" all failed, "2" some failed."""
        t_in = _us()
        items = await self.authenticate(request, batch=True)
        if not items:
            raise _empty("args")
        if len(items) > BATCH_MAX:
            raise OkxError("51000", f"Parameter args error: at most {BATCH_MAX} orders per batch")
        return self._batch_answer([self.cancel_request(p)[2] for p in items], t_in)

    def cancel_request(self, p: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
        try:
            return "0", "", self.op_cancel(p)
        except ItemError as e:
            return "1", "Operation failed.", e.item

    async def h_amend(self, request: web.Request) -> web.Response:
        t_in = _us()
        p = await self.authenticate(request)
        code, msg, item = await self.amend_request(p)
        return self.json({"code": code, "msg": msg, "data": [item], "inTime": t_in, "outTime": _us()})

    async def amend_request(self, p: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
        try:
            item = self.op_amend(p)
        except ItemError as e:
            return "1", "Operation failed.", e.item
        await self.order_fault()
        return "0", "", item

    # ------------------------------------------------------------------ public WebSocket
    def _open(self, conn: WsConn) -> None:
        conn.data["connId"] = format(next(self._conn_ids) * 2654435761 % (1 << 32), "08x")

    def _socket(self, request: web.Request, kind: str) -> WsConn:
        c = self.config
        conn = self.ws_conn(request, kind, idle_timeout_s=c.idle_timeout_s,
                            idle_close=(4004, b"No data received in 30s."))
        return conn

    async def h_ws_public(self, request: web.Request) -> web.StreamResponse:
        conn = self._socket(request, "market")
        return await conn.serve(self.control.on_text, self._open)

    def valid_topic(self, topic: str) -> bool:
        channel, _, inst = topic.partition(":")
        if channel == LIQUIDATIONS:
            return inst == "SWAP"
        if channel == INDEX_TICKERS:            # an index some listed swap is priced against
            return inst in self._index_swap
        i = self.insts.get(inst)
        return i is not None and channel in PUBLIC_CHANNELS and (channel not in SWAP_ONLY or i.inst_type == "SWAP")

    def parse(self, text: str) -> Control:
        try:
            msg = _json.loads(text)
        except ValueError:
            raise ControlReply(_dumps({"event": "error", "code": "60012", "msg": f"Invalid request: {text[:200]}",
                                       "connId": ""})) from None
        if not isinstance(msg, dict):
            raise ControlReply(_dumps({"event": "error", "code": "60012", "msg": f"Invalid request: {text[:200]}",
                                       "connId": ""}))
        rid = msg.get("id")
        bad = (rid is not None and not (isinstance(rid, str) and _WS_ID_RE.match(rid)))
        op = msg.get("op")
        args = msg.get("args")
        if bad or not isinstance(op, str):
            raise ControlReply(self._md_error(None, "60012", f"Invalid request: {text[:200]}"))
        if op not in ("subscribe", "unsubscribe"):
            raise ControlReply(self._md_error(rid, "60019", f"Invalid op: {op}"))
        def key(a: Any) -> str | None:
            """instId names the instrument; liquidation-orders is subscribed by instType"""
            if not isinstance(a, dict) or not isinstance(a.get("channel"), str):
                return None
            k = "instType" if a["channel"] == LIQUIDATIONS else "instId"
            return k if isinstance(a.get(k), str) else None
        keys = [key(a) for a in args] if isinstance(args, list) else []
        if not keys or None in keys:
            raise ControlReply(self._md_error(rid, "60012", f"Invalid request: {text[:200]}"))
        topics = [f"{a['channel']}:{a[k]}" for a, k in zip(args, keys)]
        if op == "subscribe":
            for t in topics:          # pending book changes go out first: the snapshot joins the next update
                self.diffs.flush_topic(t)
        return Control(Op.SUBSCRIBE if op == "subscribe" else Op.UNSUBSCRIBE, topics, rid,
                       [{"channel": a["channel"], k: a[k]} for a, k in zip(args, keys)])

    @staticmethod
    def _md_error(rid: Any, code: str, msg: str) -> str:
        d: dict[str, Any] = {"id": rid} if rid is not None else {}
        d.update({"event": "error", "code": code, "msg": msg, "connId": ""})
        return _dumps(d)

    def ack(self, conn: WsConn, ctl: Control) -> str | None:
        ev = "subscribe" if ctl.op == Op.SUBSCRIBE else "unsubscribe"
        for arg in ctl.msg:
            conn.send(_ws_event(ev, conn, ctl.rid, arg=arg))
        if ctl.op == Op.SUBSCRIBE:
            for t in ctl.topics:
                self._initial_push(conn, t)
        return None

    def refuse(self, conn: WsConn, ctl: Control, why: Refusal, topics: list[str]) -> str | None:
        if why == Refusal.SUB_BUDGET:
            return _ws_event("error", conn, ctl.rid, code="60014", msg="Requests too frequent.")
        if why == Refusal.BAD_TOPIC:
            channel, _, inst = topics[0].partition(":")
            return _ws_event("error", conn, ctl.rid, code="60018",
                             msg=f"Wrong URL or channel:{channel},instId:{inst} doesn't exist. Please use the correct "
                                 "URL, channel and parameters referring to API document.")
        return _ws_event("error", conn, ctl.rid, code="60012", msg="Invalid request: too many channels")

    def other(self, conn: WsConn, ctl: Control) -> str | None:
        return None

    def _initial_push(self, conn: WsConn, topic: str) -> None:
        channel, _, sym = topic.partition(":")
        if channel == "books" and not self.config.legacy_books:
            # no snapshot on the stream: the client starts from market/books; keep-alives chain
            # from the id the book is at
            self._last_seq[topic] = self.venue.markets[sym].update_id
            self._last_push[topic] = time.monotonic()
        elif channel == "books":
            m = self.venue.markets[sym]
            seq, bids, asks = m.depth(BOOK_DEPTH)
            self._last_seq[topic] = seq
            self._last_push[topic] = time.monotonic()
            conn.send(_dumps({"arg": {"channel": "books", "instId": sym}, "action": "snapshot", "data": [{
                "asks": self._levels(sym, asks), "bids": self._levels(sym, bids), "ts": str(now_ms()),
                "checksum": self._checksum(sym), "prevSeqId": -1, "seqId": seq}]}))
        elif channel == "bbo-tbt":
            raw = self._bbo(sym)
            if raw is not None:
                conn.send(raw)
        elif channel == "funding-rate":
            conn.send(self._funding(sym))
        elif channel == "mark-price":
            conn.send(self._mark(sym))
        elif channel == INDEX_TICKERS:
            conn.send(self._index(sym))

    # ------------------------------------------------------------------ market-data rendering
    def _diff_topic(self, topic: str) -> DiffTopic | None:
        channel, _, sym = topic.partition(":")
        if channel == "books" and sym in self.insts:
            return DiffTopic(sym, "books", self.config.depth_fast_ms)
        return None

    def _render_books(self, topic: str, sym: str, first: int, last: int, bids: list, asks: list) -> str:
        self._last_seq[topic] = last
        self._last_push[topic] = time.monotonic()
        # a withheld update (gap fault) leaves prevSeqId pointing past what the client has
        return _dumps({"arg": {"channel": "books", "instId": sym}, "action": "update", "data": [{
            "asks": self._levels(sym, asks), "bids": self._levels(sym, bids), "ts": str(now_ms()),
            **self._checksum_field(sym), "prevSeqId": first - 1, "seqId": last}]})

    def _book_keepalives(self) -> None:
        now = time.monotonic()
        ka = self.config.book_keepalive_s
        for topic, lv in list(self.diffs.live.items()):
            seq = self._last_seq.get(topic)
            if seq is None or lv.acc.first_id or now - self._last_push.get(topic, now) < ka:
                continue
            sym = lv.topic.symbol
            self._last_push[topic] = now
            self.hub.publish(topic, _dumps({"arg": {"channel": "books", "instId": sym}, "action": "update", "data": [{
                "asks": [], "bids": [], "ts": str(now_ms()), **self._checksum_field(sym), "prevSeqId": seq,
                "seqId": seq}]}))

    def _on_batch(self, sym: str, batch: Batch, extra: list[Trade]) -> None:
        trades = batch.trades + extra if extra else batch.trades
        topic = "trades:" + sym
        if trades and self.hub.subscribers(topic):
            for t in trades:
                self.hub.publish(topic, _dumps({"arg": {"channel": "trades", "instId": sym},
                                                "data": [self._trade_json(sym, t)]}))
        if batch.has_changes:
            self.diffs.on_batch(sym, batch)
            if self.hub.subscribers("bbo-tbt:" + sym):
                raw = self._bbo(sym, changed_only=True)
                if raw is not None:
                    self.hub.publish("bbo-tbt:" + sym, raw)

    def _bbo(self, sym: str, changed_only: bool = False) -> str | None:
        m = self.venue.markets[sym]
        if changed_only:
            top = self.top.changed(sym)
            if top is None:
                return None
            bb, ba = top
        else:
            bb, ba = m.best_bid(), m.best_ask()
            if bb is None or ba is None:
                return None
        return _dumps({"arg": {"channel": "bbo-tbt", "instId": sym}, "data": [{
            "asks": self._levels(sym, [ba]), "bids": self._levels(sym, [bb]), "ts": str(now_ms()),
            "seqId": m.update_id}]})

    def _mark_ticks(self, sym: str) -> int:
        m = self.venue.markets[sym]
        bb, ba = m.best_bid(), m.best_ask()
        if bb is None or ba is None:
            return (bb or ba or (1, 0))[0]
        return (bb[0] + ba[0]) // 2

    def _mark(self, sym: str) -> str:
        ticks = self._mark_ticks(sym)
        self._last_mark[sym] = ticks
        return _dumps({"arg": {"channel": "mark-price", "instId": sym}, "data": [{
            "instType": "SWAP", "instId": sym, "markPx": self._px(sym, ticks), "ts": str(now_ms())}]})

    def _marks(self) -> None:
        self._deriv_ticks = getattr(self, "_deriv_ticks", 0) + 1
        for sym, i in self.insts.items():
            if i.inst_type != "SWAP":
                continue
            topic = "mark-price:" + sym
            if self.hub.subscribers(topic) and self._mark_ticks(sym) != self._last_mark.get(sym):
                self.hub.publish(topic, self._mark(sym))
            if self.hub.subscribers("open-interest:" + sym):
                self.hub.publish("open-interest:" + sym, self._open_interest(sym))
        now = time.monotonic()
        for idx, sym in self._index_swap.items():
            topic = f"{INDEX_TICKERS}:{idx}"
            last = self._last_index.get(idx)
            if self.hub.subscribers(topic) and (last is None or self._index_ticks(sym) != last[0]
                                                or now - last[1] >= INDEX_QUIET_PUSH_S):
                self.hub.publish(topic, self._index(idx))
        if self._deriv_ticks % 3 == 0 and self.hub.subscribers(LIQUIDATIONS + ":SWAP"):
            self.hub.publish(LIQUIDATIONS + ":SWAP", self._liquidation())

    def _index_ticks(self, sym: str) -> int:
        """The swap's underlying index: 0.005 % off its mark, below it while the book's update
        count is even and above it while odd (a premium that changes sign)."""
        ticks = self._mark_ticks(sym)
        off = max(1, ticks // 20000)
        return ticks - off if self.venue.markets[sym].update_id % 2 == 0 else ticks + off

    def _index(self, idx: str) -> str:
        """An index-tickers push, the fields in the order of OKX's example; prices in the swap's
        tick, the shortest exact form ("60007", "60007.1")."""
        sym = self._index_swap[idx]
        ticks = max(1, self._index_ticks(sym))
        self._last_index[idx] = (ticks, time.monotonic())
        day = self._index_day.setdefault(idx, [ticks, ticks, ticks])
        day[1], day[2] = max(day[1], ticks), min(day[2], ticks)
        px = self.venue.markets[sym].price_scale.plain
        # both start-of-day prices are the first one seen: the simulator's day starts with it
        return _dumps({"arg": {"channel": INDEX_TICKERS, "instId": idx}, "data": [{
            "instId": idx, "idxPx": px(ticks), "high24h": px(day[1]), "low24h": px(day[2]), "open24h": px(day[0]),
            "sodUtc0": px(day[0]), "sodUtc8": px(day[0]), "ts": str(now_ms())}]})

    def _open_interest(self, sym: str) -> str:
        """Contracts open: a slow walk driven by the book's update count (0.01-contract steps)."""
        m = self.venue.markets[sym]
        oi = Decimal(200_000_000 + (m.update_id * 7919) % 50_000_000).scaleb(-2)
        ct = Decimal(self.insts[sym].ct_val or "1")
        mark = Decimal(self._px(sym, self._mark_ticks(sym)))
        return _dumps({"arg": {"channel": "open-interest", "instId": sym}, "data": [{
            "instType": "SWAP", "instId": sym, "oi": f"{oi:f}", "oiCcy": f"{(oi * ct).normalize():f}",
            "oiUsd": f"{(oi * ct * mark).quantize(Decimal('0.01')):f}", "ts": str(now_ms())}]})

    def _liquidation(self) -> str:
        """One liquidation on one swap in turn: a long closed by a sell below the mark, or a short
        by a buy above it (bankruptcy price 1 % away), every third derivatives tick."""
        swaps = sorted(s for s, i in self.insts.items() if i.inst_type == "SWAP")
        sym = swaps[(self._deriv_ticks // 3) % len(swaps)]
        long_side = (self._deriv_ticks // 3) % 2 == 0
        ticks = self._mark_ticks(sym)
        bk = ticks - ticks // 100 if long_side else ticks + ticks // 100
        base = sym.rsplit("-", 1)[0]
        return _dumps({"arg": {"channel": LIQUIDATIONS, "instType": "SWAP"}, "data": [{
            "details": [{"bkLoss": "0", "bkPx": self._px(sym, bk), "ccy": "", "posSide": "long" if long_side else "short",
                         "side": "sell" if long_side else "buy", "sz": str(1 + self._deriv_ticks % 7),
                         "ts": str(now_ms())}],
            "instFamily": base, "instId": sym, "instType": "SWAP", "uly": base}]})

    def _funding(self, sym: str) -> str:
        now = now_ms()
        ft = (now // FUNDING_PERIOD_MS + 1) * FUNDING_PERIOD_MS
        q16 = Decimal(1).scaleb(-16)
        # a small rate that moves with the mark price, 16 fractional digits as OKX sends it
        r = (Decimal(self._mark_ticks(sym) % 20001 - 10000) * Decimal("0.00000001234567")).quantize(q16)
        return _dumps({"arg": {"channel": "funding-rate", "instId": sym}, "data": [{
            "fundingRate": f"{r:f}", "fundingTime": str(ft), "instId": sym, "instType": "SWAP",
            "interestRate": "0.0001", "method": "current_period", "maxFundingRate": "0.00375",
            "minFundingRate": "-0.00375", "nextFundingRate": "", "nextFundingTime": str(ft + FUNDING_PERIOD_MS),
            "premium": f"{(r / 2).quantize(q16):f}", "settFundingRate": "0.0001", "settState": "settled",
            "ts": str(now)}]})

    def _fundings(self) -> None:
        for sym, i in self.insts.items():
            topic = "funding-rate:" + sym
            if i.inst_type == "SWAP" and self.hub.subscribers(topic):
                self.hub.publish(topic, self._funding(sym))

    async def _shutdown_notice(self) -> None:
        # public and private connections alike (OKX sends it on /ws/v5/public and /ws/v5/private),
        # then, shutdown_close_s later, the upgrade closes whichever of them are still open
        msg = "The connection will soon be closed for a service upgrade. Please reconnect."
        notified = [c for c in self.hub.conns if not c.closed]
        for c in notified:
            c.send(_ws_event("notice", c, None, code="64008", msg=msg))
        self._tasks = [t for t in self._tasks if not t.done()]
        if self.config.shutdown_close_s > 0 and notified:
            self._tasks.append(asyncio.get_running_loop().create_task(self._upgrade_close(notified)))

    async def _upgrade_close(self, conns: list[WsConn]) -> None:
        await asyncio.sleep(self.config.shutdown_close_s)
        for c in conns:
            if not c.closed:
                await c.close(1001, b"Service upgrade")

    # ------------------------------------------------------------------ private WebSocket
    async def h_ws_private(self, request: web.Request) -> web.StreamResponse:
        conn = self._socket(request, "user")
        return await conn.serve(self.private_ws.on_text, self._open)

    def _on_account_event(self, ev: object) -> None:
        if not isinstance(ev, ExecEvent):
            return
        o = ev.order
        if o.order_id not in self._meta:
            # the order's own placement: its OKX fields are recorded after the engine returns
            self._pending_events.setdefault(o.order_id, []).append(ev)
            return
        self._push_order(ev)

    def _replay_events(self, o: Order) -> None:
        for ev in self._pending_events.pop(o.order_id, []):
            self._push_order(ev)

    def _push_order(self, ev: ExecEvent) -> None:
        o = ev.order
        d = self._order_obj(o, ev.status, ev.executed, ev.cum_quote, ev.ts)
        f = ev.fill
        s = o.symbol
        d.update({"fillSz": self._sz(s, f.qty) if f else "0", "fillPx": self._px(s, f.price) if f else "",
                  "tradeId": str(f.trade_id) if f else "", "fillTime": str(f.ts) if f else "",
                  "fillFee": _dec(-f.commission) if f else "0", "fillFeeCcy": f.commission_asset if f else "",
                  "execType": ("M" if f.is_maker else "T") if f else "",
                  "fillPnl": _dec(f.realized_pnl) if f else "0", "fillNotionalUsd": "",
                  "fillMarkPx": "", "fillIdxPx": "", "fillFwdPx": "", "fillPxVol": "", "fillPxUsd": "",
                  "fillMarkVol": "", "notionalUsd": "",
                  "amendResult": "0" if ev.exec_type == AMENDED else "",
                  "amendSource": "1" if ev.exec_type == AMENDED else "",
                  "reqId": self._meta.get(o.order_id, {}).get("reqId", "") if ev.exec_type == AMENDED else "",
                  "code": "0", "msg": "", "lastPx": self._px(s, f.price) if f else "", "uTime": str(ev.ts)})
        raw = _dumps({"arg": {"channel": "orders", "instType": "ANY", "uid": UID}, "data": [d]})
        self.orders_streams.publish(ACCOUNT, raw)


class OkxPrivateWs:
    """``/ws/v5/private``: ``{"op": "login" | "subscribe" | "unsubscribe" | "order" | "cancel-order",
    "args": [...], "id"?}``; text ``ping`` -> ``pong``."""

    def __init__(self, sim: OkxSim) -> None:
        self.sim = sim
        self.methods = {"login": self.m_login, "subscribe": self.m_subscribe, "unsubscribe": self.m_unsubscribe,
                        "order": self.m_order, "cancel-order": self.m_cancel, "amend-order": self.m_amend}

    # ------------------------------------------------------------------ RpcDialect
    def parse(self, text: str) -> RpcRequest:
        if text == "ping":
            raise ControlReply("pong")
        try:
            msg = _json.loads(text)
        except ValueError:
            msg = None
        if not isinstance(msg, dict) or not isinstance(msg.get("op"), str):
            raise ControlReply(OkxSim._md_error(None, "60012", f"Invalid request: {text[:200]}"))
        rid = msg.get("id")
        if rid is not None and not (isinstance(rid, str) and _WS_ID_RE.match(rid)):
            raise ControlReply(OkxSim._md_error(None, "60012", f"Invalid request: {text[:200]}"))
        return RpcRequest(rid, msg["op"], msg.get("args"))

    def weight(self, req: RpcRequest) -> int:
        return 0          # order entry counts against the per-instrument buckets, not the IP

    def limit_error(self, dec: Decision) -> OkxError:
        return OkxError("50011", RATE_MSG, 429)

    def unknown_method(self, req: RpcRequest) -> OkxError:
        return OkxError("60019", f"Invalid op: {req.method}")

    def result(self, req: RpcRequest, result: Any, dec: Decision) -> str:
        if isinstance(result, str):
            return result
        d: dict[str, Any] = {"id": req.rid} if req.rid is not None else {}
        d.update(result)
        return _dumps(d)

    def error(self, req: RpcRequest, e: SimError, dec: Decision) -> str:
        conn = e.data.get("conn") if isinstance(e.data, dict) else None
        d: dict[str, Any] = {"id": req.rid} if req.rid is not None else {}
        if req.method in ("order", "cancel-order", "amend-order"):
            d.update({"op": req.method, "code": str(e.code), "msg": e.msg, "data": [], "inTime": _us(),
                      "outTime": _us()})
            return _dumps(d)
        d.update({"event": "error", "code": str(e.code), "msg": e.msg,
                  "connId": conn.data.get("connId", "") if conn is not None else ""})
        return _dumps(d)

    # ------------------------------------------------------------------ methods
    @staticmethod
    def _fail(conn: WsConn, code: str, msg: str) -> OkxError:
        return OkxError(code, msg, data={"conn": conn})

    async def m_login(self, conn: WsConn, args: Any) -> str:
        cfg = self.sim.config
        if not isinstance(args, list) or len(args) != 1 or not isinstance(args[0], dict):
            raise self._fail(conn, "60012", "Invalid request: login takes one argument")
        a = args[0]
        key, phrase, ts, sig = (str(a.get(k, "")) for k in ("apiKey", "passphrase", "timestamp", "sign"))
        if not key or not phrase or not ts or not sig:
            raise self._fail(conn, "60009", "Login failed.")
        if not hmac.compare_digest(key.encode(), cfg.api_key.encode()):
            raise self._fail(conn, "60005", "Invalid apiKey")
        try:
            t = Decimal(ts)
        except InvalidOperation:
            raise self._fail(conn, "60004", "Invalid timestamp") from None
        if not t.is_finite() or abs(Decimal(time.time()) - t) > Decimal(int(MAX_SKEW_S)):
            raise self._fail(conn, "60006", "Timestamp request expired")
        if not hmac.compare_digest(phrase.encode(), cfg.api_passphrase.encode()):
            raise self._fail(conn, "60024", "Wrong passphrase")
        if not hmac.compare_digest(sign(cfg.api_secret, ts + "GET" + "/users/self/verify").encode(), sig.encode()):
            raise self._fail(conn, "60007", "Invalid sign")
        conn.data["login"] = True
        return _ws_event("login", conn, None, code="0", msg="")

    def _private_args(self, conn: WsConn, args: Any) -> list[dict[str, str]]:
        if not conn.data.get("login"):
            raise self._fail(conn, "60011", "Please log in")
        if not isinstance(args, list) or not args or not all(isinstance(a, dict) for a in args):
            raise self._fail(conn, "60012", "Invalid request: args must be a list of objects")
        out = []
        for a in args:
            if a.get("channel") != "orders":
                raise self._fail(conn, "60018", f"Wrong URL or channel:{a.get('channel')} doesn't exist. Please use "
                                                "the correct URL, channel and parameters referring to API document.")
            it = a.get("instType", "")
            if it not in ("ANY", "SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION"):
                raise self._fail(conn, "60012", "Invalid request: instType")
            out.append({k: str(v) for k, v in a.items() if k in ("channel", "instType", "instFamily", "instId")})
        return out

    async def m_subscribe(self, conn: WsConn, args: Any) -> str:
        acks = self._private_args(conn, args)
        self.sim.orders_streams.subscribe(conn, ACCOUNT)
        for a in acks[:-1]:
            conn.send(_ws_event("subscribe", conn, None, arg=a))
        return _ws_event("subscribe", conn, None, arg=acks[-1])

    async def m_unsubscribe(self, conn: WsConn, args: Any) -> str:
        acks = self._private_args(conn, args)
        self.sim.orders_streams.unsubscribe(conn)
        for a in acks[:-1]:
            conn.send(_ws_event("unsubscribe", conn, None, arg=a))
        return _ws_event("unsubscribe", conn, None, arg=acks[-1])

    def _op_args(self, conn: WsConn, args: Any) -> dict[str, Any]:
        """The one order of a WebSocket order operation, named by ``instIdCode`` (an integer from the
        instruments endpoint): since March 2026 OKX ignores ``instId`` in these operations, so an
        order without the code is refused as OKX refuses it (50014)."""
        if not conn.data.get("login"):
            raise self._fail(conn, "60011", "Please log in")
        if not isinstance(args, list) or len(args) != 1 or not isinstance(args[0], dict):
            raise OkxError("60012", "Invalid request: one order per request")
        a = dict(args[0])
        code = a.get("instIdCode")
        if code is None or code == "":
            raise OkxError("50014", "Parameter instIdCode can not be empty")
        if isinstance(code, bool) or not isinstance(code, int) or code not in INST_BY_CODE:
            raise OkxError("51001", "Instrument ID, Instrument ID code, or Spread ID doesn't exist.")
        a["instId"] = INST_BY_CODE[code]
        return a

    async def m_order(self, conn: WsConn, args: Any) -> dict[str, Any]:
        t_in = _us()
        code, msg, item = await self.sim.place_request(self._op_args(conn, args))
        return {"op": "order", "data": [item], "code": code, "msg": msg, "inTime": t_in, "outTime": _us()}

    async def m_cancel(self, conn: WsConn, args: Any) -> dict[str, Any]:
        t_in = _us()
        code, msg, item = self.sim.cancel_request(self._op_args(conn, args))
        return {"op": "cancel-order", "data": [item], "code": code, "msg": msg, "inTime": t_in, "outTime": _us()}

    async def m_amend(self, conn: WsConn, args: Any) -> dict[str, Any]:
        t_in = _us()
        code, msg, item = await self.sim.amend_request(self._op_args(conn, args))
        return {"op": "amend-order", "data": [item], "code": code, "msg": msg, "inTime": t_in, "outTime": _us()}


SIM = SimDialect(venue=VENUE, title="OKX v5 simulator", config=OkxSimConfig, app=OkxSim, extra_args=_okx_args,
                 report_extra=_okx_report)

if __name__ == "__main__":
    SIM.main()
