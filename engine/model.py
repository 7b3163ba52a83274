# SPDX-License-Identifier: Apache-2.0
"""Normalized model shared by every venue.

Prices and sizes are exact fixed-point mantissas (int) at the instrument's px_scale/qty_scale;
`Instrument.px_str()`/`qty_str()` give canonical decimal strings. Timestamps are int
nanoseconds: ts_exchange (venue time, converted from ms/us/ISO), ts_recv (frame arrival, stamped
before decode, CLOCK_REALTIME) and ts_event (when normalized).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import ClassVar

from venuelink.ext import decimal as fx


_KNOWN_VENUES = ("binance", "binanceusdm", "okx", "bybit", "coinbase", "kraken", "bitfinex", "bitmex", "deribit",
                 "kucoin", "gate", "bitget", "htx", "bitstamp", "gemini", "cryptocom", "mexc")


class VenueId:
    """A venue by its CCXT exchange id (``VenueId.binance.name == "binance"``).

    Open, not an enum: the seventeen first-class venues are predefined attributes, and
    ``VenueId.register(name)`` adds another (a CCXT-backed long-tail venue) at run time. Ids are
    interned, so ``is`` and ``==`` agree and they hash as cheaply as ints."""
    __slots__ = ("name", "value")
    _by_name: ClassVar[dict[str, "VenueId"]] = {}
    binance: ClassVar["VenueId"]
    binanceusdm: ClassVar["VenueId"]
    okx: ClassVar["VenueId"]
    bybit: ClassVar["VenueId"]
    coinbase: ClassVar["VenueId"]
    kraken: ClassVar["VenueId"]
    bitfinex: ClassVar["VenueId"]
    bitmex: ClassVar["VenueId"]
    deribit: ClassVar["VenueId"]
    kucoin: ClassVar["VenueId"]
    gate: ClassVar["VenueId"]
    bitget: ClassVar["VenueId"]
    htx: ClassVar["VenueId"]
    bitstamp: ClassVar["VenueId"]
    gemini: ClassVar["VenueId"]
    cryptocom: ClassVar["VenueId"]
    mexc: ClassVar["VenueId"]

    name: str
    value: int

    def __new__(cls, name: str) -> "VenueId":
        return cls.parse(name)

    @classmethod
    def register(cls, name: str) -> "VenueId":
        """The id of `name`, created if new (lower-case CCXT ids: letters, digits, '_')."""
        v = cls._by_name.get(name)
        if v is not None:
            return v
        if not name or not all(c.islower() or c.isdigit() or c == "_" for c in name) or not name[0].isalpha():
            raise ValueError(f"invalid venue id {name!r}: lower-case letters, digits and '_'")
        v = object.__new__(cls)
        object.__setattr__(v, "name", name)
        object.__setattr__(v, "value", len(cls._by_name) + 1)
        cls._by_name[name] = v
        return v

    @classmethod
    def parse(cls, name: "str | VenueId") -> "VenueId":
        if isinstance(name, VenueId):
            return name
        v = cls._by_name.get(name)
        if v is None:
            raise ValueError(f"unknown venue {name!r}; known: {', '.join(cls._by_name)}")
        return v

    @classmethod
    def all(cls) -> list["VenueId"]:
        return list(cls._by_name.values())

    def __setattr__(self, key, value) -> None:
        raise AttributeError("VenueId is immutable")

    def __reduce__(self):
        return VenueId.register, (self.name,)

    def __repr__(self) -> str:
        return f"VenueId.{self.name}"

    def __str__(self) -> str:
        return self.name

    def __hash__(self) -> int:
        return self.value

    def __lt__(self, other: "VenueId") -> bool:
        return self.value < other.value


for _n in _KNOWN_VENUES:
    setattr(VenueId, _n, VenueId.register(_n))
del _n


class NamedIntEnum(IntEnum):
    """An IntEnum that prints as its name (``print(side)`` -> ``BUY``, ``f"{state}"`` ->
    ``FILLED``), while comparing, hashing, JSON-encoding and formatting with a spec (``:d``) as
    its integer, which is what the hot path and the metrics use."""

    def __str__(self) -> str:
        return self.name

    def __format__(self, spec: str) -> str:
        return self.name.__format__(spec) if not spec or spec[-1] not in "bcdoxXn%eEfFgG" else int.__format__(self, spec)


class InstrumentStatus(NamedIntEnum):
    """Whether an instrument takes orders now, as its venue's instruments endpoint says. Only
    TRADING takes new orders; a venue status text the adapter does not know is HALTED (never
    presumed tradable)."""
    TRADING = 1
    HALTED = 2        # listed, trading stopped for now (suspend, break, halt, end of day)
    PREOPEN = 3       # listed, not trading yet (pre-trading, call auction)
    DELISTED = 4      # being removed: closing only, or gone


class MarketKind(NamedIntEnum):
    """What an instrument is: venues reuse one venue symbol across kinds (Bybit spot and
    linear `BTCUSDT`), so instruments are told apart by (kind, venue symbol)."""
    SPOT = 1
    SWAP = 2          # perpetual
    FUTURE = 3        # dated
    OPTION = 4


class Side(NamedIntEnum):
    BUY = 1
    SELL = 2

    @property
    def wire(self) -> str:
        return "buy" if self is Side.BUY else "sell"


class PositionSide(NamedIntEnum):
    """Which position an order works on, or a position is. NET: the one signed position per
    instrument (one-way mode, and every venue without hedging); LONG / SHORT: the legs of a
    hedge-mode account, which holds both at once (Binance USD-M ``positionSide``). NET is the
    default of every order and position; zero is no side (an unset value never reads as one)."""
    NET = 1
    LONG = 2
    SHORT = 3


class OrderType(NamedIntEnum):
    LIMIT = 1
    MARKET = 2


class TimeInForce(NamedIntEnum):
    GTC = 1
    IOC = 2
    FOK = 3
    POST_ONLY = 4
    """rests like GTC, but only as a maker: refused by the venue when it would take liquidity
    (Binance ``LIMIT_MAKER``, OKX ``post_only``); limit orders only"""


class OrderState(NamedIntEnum):
    """Order lifecycle. UNKNOWN: an ack was lost or timed out; resolved by reconciliation."""
    PENDING_NEW = 1
    NEW = 2
    PARTIALLY_FILLED = 3
    FILLED = 4
    CANCEL_PENDING = 5
    CANCELED = 6
    REJECTED = 7
    EXPIRED = 8
    UNKNOWN = 9

    @property
    def wire(self) -> str:
        return self.name.lower()

    @property
    def is_final(self) -> bool:
        return self in (OrderState.FILLED, OrderState.CANCELED, OrderState.REJECTED, OrderState.EXPIRED)


class BookState(NamedIntEnum):
    """A book that is not LIVE is never handed out as if it were."""
    SYNCING = 1     # waiting for a snapshot / buffering deltas
    LIVE = 2
    STALE = 3       # no message within the stale timeout on a live channel
    INVALID = 4     # gap / checksum failure / crossed; resync scheduled


class ConnState(NamedIntEnum):
    DISCONNECTED = 0
    CONNECTING = 1
    CONNECTED = 2
    BACKOFF = 3
    CLOSED = 4


class VenueHealth(NamedIntEnum):
    UP = 1
    DEGRADED = 2        # venue answers but with errors / bad data
    DOWN = 3            # venue itself unavailable (maintenance, 5xx everywhere)
    UNREACHABLE = 4     # our connection is broken (network, DNS, TLS)


@dataclass(frozen=True, slots=True)
class Instrument:
    venue: VenueId
    venue_symbol: str          # as the venue writes it: "BTCUSDT"
    symbol: str                # CCXT unified: "BTC/USDT", "BTC/USDT:USDT", "BTC/USD:BTC"
    base: str
    quote: str
    px_scale: int              # fractional digits of price mantissas
    qty_scale: int
    tick: int                  # tick size as a price mantissa
    lot: int                   # lot size as a size mantissa
    settle: str = ""
    min_qty: int = 0
    status: InstrumentStatus = InstrumentStatus.TRADING
    kind: MarketKind = MarketKind.SPOT
    max_px: int = 0            # the venue's highest valid price (a mantissa; 0: it states none): a book
                               # level or trade above it is an impossible value, dropped and counted
    # Derivatives whose sizes are counted in contracts (OKX swaps: `ctVal` units of `ctValCcy`
    # each): one contract is contract_size (a mantissa at contract_scale) of contract_ccy.
    # 0: sizes are already in the base currency (spot, and venues that quote swaps in base).
    contract_size: int = 0
    contract_scale: int = 0
    contract_ccy: str = ""
    # smallest price x size of an order where sizes are in the base currency (a mantissa at
    # px_scale + qty_scale; 0: the venue states none)
    min_notional: int = 0
    # prices have at most this many significant digits besides lying on the tick (Bitfinex: 5;
    # 0: the tick alone decides)
    px_sig_digits: int = 0
    # the venue's numeric instrument id where its order entry wants one (OKX instIdCode; 0: none)
    venue_code: int = 0

    @property
    def active(self) -> bool:
        """Takes new orders now."""
        return self.status == InstrumentStatus.TRADING

    def notional_str(self, n: int) -> str:
        """A price x size mantissa (px_scale + qty_scale digits) as a decimal string."""
        from decimal import Decimal    # a product can pass int64, which fx.format is for
        d = Decimal(n).scaleb(-(self.px_scale + self.qty_scale))
        return "0" if not n else format(d.normalize(), "f")

    def contract_size_str(self) -> str:
        return fx.format(self.contract_size, self.contract_scale) if self.contract_size else ""

    def contract_fields(self) -> dict:
        """What a consumer needs to turn sizes in contracts into currency amounts (empty for
        instruments whose sizes are not in contracts): added to every normalized event."""
        if not self.contract_size:
            return {}
        return {"contract_size": self.contract_size_str(), "contract_ccy": self.contract_ccy}

    def size_in_ccy(self, qty: int) -> tuple[int, int]:
        """A size mantissa (contracts for contract instruments) as (mantissa, scale) of
        contract_ccy (of the base currency where sizes are not in contracts); exact."""
        if not self.contract_size:
            return qty, self.qty_scale
        return qty * self.contract_size, self.qty_scale + self.contract_scale

    def to_json(self) -> dict:
        """Exact decimal strings for every amount (tick, lot, minimums, contract size)."""
        return {"venue": self.venue.name, "symbol": self.symbol, "venue_symbol": self.venue_symbol,
                "kind": self.kind.name.lower(), "base": self.base, "quote": self.quote, "settle": self.settle,
                "tick": self.px_str(self.tick), "lot": self.qty_str(self.lot), "min_qty": self.qty_str(self.min_qty),
                "min_notional": self.notional_str(self.min_notional) if self.min_notional else "",
                "status": self.status.name.lower(), **self.contract_fields()}

    def px_str(self, px: int) -> str:
        return fx.format(px, self.px_scale)

    def qty_str(self, qty: int) -> str:
        return fx.format(qty, self.qty_scale)

    def px(self, text: str) -> int:
        return fx.parse(text, self.px_scale)

    def qty(self, text: str) -> int:
        return fx.parse(text, self.qty_scale)


# Trades are built on the hot path: a Cython final class with a free list (ext/events.pyx).
from venuelink.ext.events import Trade  # noqa: E402  (re-exported as part of the model)


@dataclass(slots=True)
class BookLevels:
    """bids/asks as (px, qty) mantissa pairs, best first (snapshot) or as sent (delta)."""
    venue: VenueId
    instrument: Instrument
    bids: list[tuple[int, int]]
    asks: list[tuple[int, int]]
    seq: int
    ts_exchange: int
    ts_recv: int
    is_snapshot: bool
    ts_event: int = 0

    def to_json(self) -> dict:
        i = self.instrument
        return {"type": "book_snapshot" if self.is_snapshot else "book_delta", "venue": self.venue.name,
                "symbol": i.symbol, "ts_exchange": self.ts_exchange, "ts_recv": self.ts_recv, "seq": self.seq,
                "bids": [[i.px_str(p), i.qty_str(q)] for p, q in self.bids],
                "asks": [[i.px_str(p), i.qty_str(q)] for p, q in self.asks], **i.contract_fields()}


@dataclass(slots=True)
class TopOfBook:
    venue: VenueId
    instrument: Instrument
    bids: list[tuple[int, int]]
    asks: list[tuple[int, int]]
    ts_exchange: int
    ts_recv: int
    seq: int = -1

    @property
    def best_bid(self) -> tuple[int, int] | None:
        return self.bids[0] if self.bids else None

    @property
    def best_ask(self) -> tuple[int, int] | None:
        return self.asks[0] if self.asks else None

    def to_json(self) -> dict:
        i = self.instrument
        return {"type": "top", "venue": self.venue.name, "symbol": i.symbol, "seq": self.seq,
                "ts_exchange": self.ts_exchange, "ts_recv": self.ts_recv,
                "bids": [[i.px_str(p), i.qty_str(q)] for p, q in self.bids],
                "asks": [[i.px_str(p), i.qty_str(q)] for p, q in self.asks], **i.contract_fields()}


@dataclass(slots=True)
class Resync:
    venue: VenueId
    instrument: Instrument
    reason: str
    ts_recv: int = 0

    def to_json(self) -> dict:
        return {"type": "resync", "venue": self.venue.name, "symbol": self.instrument.symbol, "reason": self.reason}


@dataclass(slots=True)
class OrderRequest:
    venue: VenueId
    symbol: str                 # unified symbol
    side: Side
    type: OrderType
    qty: str                    # decimal strings at the API edge; converted with the instrument
    price: str | None = None
    tif: TimeInForce = TimeInForce.GTC
    client_order_id: str | None = None
    reduce_only: bool = False   # derivatives: may only reduce the position (refused on spot)
    queue_timeout_s: float | None = None
    """How long the order may wait in the local rate budget before it is sent; past that it is
    refused locally (REJECTED, never sent). None: the order manager's default."""
    position_side: PositionSide = PositionSide.NET
    """hedge mode: the leg the order opens or closes (BUY+LONG opens a long, SELL+LONG closes
    it); NET in one-way mode (refused on spot)"""


@dataclass(slots=True)
class Fill:
    venue: VenueId
    symbol: str
    client_order_id: str
    venue_order_id: str
    trade_id: str
    price: str
    qty: str
    side: Side
    fee: str = "0"
    fee_asset: str = ""
    is_maker: bool = False
    ts_exchange: int = 0
    ts_recv: int = 0
    contract_size: str = ""     # where qty counts contracts: base per contract (Instrument.contract_size_str)


@dataclass(slots=True)
class Balance:
    """One asset of the account as the venue reports it: exact decimal strings."""
    venue: VenueId
    asset: str
    free: str                   # available for new orders
    locked: str                 # held by open orders (and, on margin venues, positions' margin)

    def to_json(self) -> dict:
        return {"venue": self.venue.name, "asset": self.asset, "free": self.free, "locked": self.locked}


@dataclass(slots=True)
class Position:
    """An open derivatives position as the venue reports it: exact decimal strings."""
    venue: VenueId
    symbol: str                 # unified, e.g. BTC/USDT:USDT
    qty: str                    # signed: positive long, negative short; contracts where the venue counts them
    entry_price: str            # average entry price
    unrealized_pnl: str         # at the venue's mark price, in `settle`
    settle: str = ""            # the currency margin and PnL are in
    contract_size: str = ""     # where qty counts contracts: base per contract
    side: PositionSide = PositionSide.NET   # hedge mode: the leg (LONG qty >= 0, SHORT qty <= 0)
    ts_exchange: int = 0        # venue time of the report (ns); 0 where the venue gives none

    def to_json(self) -> dict:
        return {"venue": self.venue.name, "symbol": self.symbol, "side": self.side.name, "qty": self.qty,
                "entry_price": self.entry_price, "unrealized_pnl": self.unrealized_pnl, "settle": self.settle,
                "contract_size": self.contract_size, "ts_exchange": self.ts_exchange}


@dataclass(slots=True)
class OrderUpdate:
    """What the venue says about an order (ack, query answer, stream event)."""
    venue: VenueId
    symbol: str
    client_order_id: str
    venue_order_id: str
    state: OrderState
    filled_qty: str = "0"
    qty: str = ""
    price: str = ""
    side: Side | None = None
    fill: Fill | None = None
    ts_exchange: int = 0
    ts_recv: int = 0
    reason: str = ""
    contract_size: str = ""     # where qty / filled_qty count contracts: base per contract


@dataclass(slots=True)
class Order:
    """The engine's view of one order (owned by the order manager)."""
    venue: VenueId
    symbol: str
    client_order_id: str
    side: Side
    type: OrderType
    qty: str
    price: str | None
    tif: TimeInForce
    state: OrderState = OrderState.PENDING_NEW
    venue_order_id: str = ""
    filled_qty: str = "0"
    error: str = ""
    fills: list[Fill] = field(default_factory=list)
    ts_submit_ns: int = 0       # monotonic
    ts_ack_ns: int = 0
    ts_first_fill_ns: int = 0
    reduce_only: bool = False
    position_side: PositionSide = PositionSide.NET   # hedge mode: the leg it opens or closes

    def to_json(self) -> dict:
        d = {"venue": self.venue.name, "symbol": self.symbol, "client_order_id": self.client_order_id,
             "venue_order_id": self.venue_order_id, "state": self.state.wire, "side": self.side.wire,
             "type": self.type.name.lower(), "qty": self.qty, "price": self.price, "tif": self.tif.name,
             "filled_qty": self.filled_qty}
        if self.reduce_only:
            d["reduce_only"] = True
        if self.position_side != PositionSide.NET:
            d["position_side"] = self.position_side.name
        if self.error:
            d["error"] = self.error
        return d
