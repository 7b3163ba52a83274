# SPDX-License-Identifier: Apache-2.0
"""A venue's market-data wire format as data: which field names the channel and the symbol,
where each channel's values sit, in what units, and how its sequence ids span a book update.

A venue states its format once, in ``adapters/<venue>/wire.py``::

    WIRE = Wire(
        dispatch=("topic",), topic_sep=".",                 # "orderbook.50.BTCUSDT": channel . symbol
        channels=(
            Channel("orderbook.50", Kind.BOOK, data="data", action=Action("type", snapshot=("snapshot",),
                    delta=("delta",)), span=Span.CONSECUTIVE, restart_id=1, fields=(
                Field("s", Role.SYMBOL), Field("b", Role.BIDS), Field("a", Role.ASKS), Field("u", Role.LAST))),
            Channel("publicTrade", Kind.TRADES, data="data", rows=Rows.MANY, fields=(...)),
        ),
        control=decode_control)                              # replies, pongs, errors: plain Python

and that statement drives what would otherwise be written per venue several times over:
venuelink.wire_ref interprets it as every venue's pure-Python reference parser (the twin the
decoder fuzz test compares the Cython parser with); the venue's simulator renders its frames
from the same names. Fields are listed in the order the venue sends them (a reader that walks
the object once reads them in that order). What a schema cannot say (OKX's index-price lookup,
decoded derivatives) stays the venue's own Python, named by ``Kind.PYTHON`` channels and the
``control`` hook, both off the hot path.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Callable, Iterable

MS = 1_000_000
US = 1_000
NS = 1


class Kind(IntEnum):
    """What a channel carries."""
    BOOK = 1        # book levels: snapshot or delta (Action says which; none: always a delta)
    TRADES = 2      # one trade per row
    TOP = 3         # best bid and offer
    PYTHON = 4      # decoded by the venue's own function (liquidations, multi-event pushes)
    DERIVS = 5      # mark / index price, funding, open interest: an event for each role present


class Role(IntEnum):
    """What a field's value is to the engine; the role fixes how it is read."""
    SYMBOL = 1      # the venue's symbol (a string); checked against the envelope's where both exist
    TS = 2          # exchange time, an integer in the channel's unit (or its digits in a string: Field.text)
    FIRST = 3       # a book update's first id
    LAST = 4        # a book update's last id (its own id where it has one)
    PREV = 5        # the id of the update before it
    CHECKSUM = 6    # the venue's checksum of the book after the update (a signed or unsigned 32-bit int)
    BIDS = 7        # level rows [price, size, ...] (Field.cols: other columns)
    ASKS = 8
    TRADE_ID = 9    # an integer, or an opaque string (Field.text)
    PRICE = 10      # a decimal, exact at the instrument's price scale
    SIZE = 11       # a decimal, exact at the instrument's size scale
    SIDE = 12       # the taker's side: a string mapped by Field.values, or a "buyer is maker" bool
    BID_PX = 13
    BID_QTY = 14
    ASK_PX = 15
    ASK_QTY = 16
    TOP_ID = 17     # a top-of-book update's id
    CHECK = 18      # an integer read and checked, not used (Binance futures' event time E beside T)
    MARK_PX = 19    # DERIVS: a decimal at the price scale
    INDEX_PX = 20
    FUNDING_RATE = 21       # a decimal at venuelink.derivatives.RATE_SCALE
    FUNDING_TIME = 22       # when that rate settles (the channel's time unit)
    NEXT_FUNDING_TIME = 23
    NEXT_FUNDING_RATE = 24  # a string: the venue's forecast, "" for none
    OPEN_INTEREST = 25      # a decimal string kept at its own precision
    LEVELS = 26     # one array of objects each naming its side (Field.split): both sides of the book
    BLOCK = 27      # TRADES: a bool, true for a block trade (Bybit BT): the trade event's ``block`` flag


_SCALED = {Role.BIDS, Role.ASKS, Role.LEVELS, Role.PRICE, Role.SIZE, Role.BID_PX, Role.BID_QTY, Role.ASK_PX,
           Role.ASK_QTY,
           Role.MARK_PX, Role.INDEX_PX, Role.OPEN_INTEREST}


_DERIV_ROLES = {Role.MARK_PX, Role.INDEX_PX, Role.FUNDING_RATE, Role.OPEN_INTEREST}


class Span(IntEnum):
    """How a book update's ids become the (first, last, prev) that venuelink.ext.sync checks."""
    FIRST_LAST = 1      # [FIRST, LAST], PREV where sent (Binance U/u, USD-M pu)
    FROM_PREV = 2       # [PREV, LAST]: the update names its predecessor (OKX prevSeqId/seqId)
    CONSECUTIVE = 3     # one id per update, each the last + 1 (Bybit u): prev = LAST - 1


class Rows(IntEnum):
    """How a channel's values sit under ``Channel.data``."""
    OBJECT = 1      # one object (or the frame itself when data is "")
    ONLY = 2        # an array of exactly one object (OKX data: [{...}])
    MANY = 3        # an array of objects, one event each (Bybit publicTrade: up to 1024)


@dataclass(frozen=True)
class Field:
    key: str
    role: Role
    optional: bool = False
    """absent is allowed (an optional checksum, an optional id)"""
    text: bool = False
    """an integer sent as a decimal token, string or number (OKX ts "1700000000250", tradeId)"""
    opaque: bool = False
    """TRADE_ID: a string kept as it is (Bybit's UUID-shaped ids); never empty"""
    signed: bool = False
    """CHECKSUM: a signed 32-bit integer (OKX); else signed or unsigned"""
    iso: bool = False
    """TS: an RFC 3339 string ("2023-02-09T20:32:50.714964855Z", Coinbase, Kraken v2), exact to the ns"""
    cols: tuple[int, int] = (0, 1)
    """BIDS / ASKS: the price's and the size's column in each row (Deribit ["new", price, size]: (1, 2))"""
    split: "Split | None" = None
    """LEVELS: how a row names its side, price and size"""
    values: tuple[tuple[str, bool], ...] = ()
    """SIDE as a string: (text, is_buy) pairs; empty: a bool that says the buyer was the maker"""


@dataclass(frozen=True)
class Split:
    """Rows of both sides in one array of objects (Coinbase {"side": "bid", "price_level",
    "new_quantity"}, BitMEX {"side": "Buy", "price", "size"}); a row without the size is a
    deletion where the venue says so (size_optional: BitMEX's delete action)."""
    side: str
    bid: str
    ask: str
    price: str
    size: str
    size_optional: bool = False


@dataclass(frozen=True)
class Action:
    """The frame-level field that says whether a BOOK message is a snapshot or a delta."""
    key: str
    snapshot: tuple[str, ...]
    delta: tuple[str, ...]


@dataclass(frozen=True)
class Channel:
    name: str
    """the dispatch value (Binance "depthUpdate", OKX "books", Bybit "orderbook.50")"""
    kind: Kind
    fields: tuple[Field, ...] = ()
    """read from the data object (each row of it), in the venue's order"""
    data: str = ""
    """the key under which the values sit ("" : the frame's own object)"""
    head: tuple[Field, ...] = ()
    """read from the frame itself before the data (Bybit's book time "ts"); never SYMBOL"""
    rows: Rows = Rows.OBJECT
    action: Action | None = None
    span: Span = Span.FIRST_LAST
    time_unit_ns: int = MS
    restart_id: int = -1
    """a delta with this LAST id is the venue's restart and carries a whole book (Bybit u == 1);
    -1: the venue has no such id"""
    decode: Callable[..., Iterable[tuple[Any, Any]] | None] | None = None
    """Kind.PYTHON: decode(frame, venue, symbol_of, ts_recv) -> [(FeedSymbol, event)], or None for
    a frame that carries no data (a subscribe acknowledgement: a control frame then)"""
    symbol_suffix: str = ""
    """looked up as the envelope's symbol + this (OKX index-tickers name the index "BTC-USDT";
    its price belongs to "BTC-USDT-SWAP"): never the spot pair of the same name"""

    def field_of(self, role: Role) -> Field | None:
        for f in self.fields:
            if f.role == role:
                return f
        return None


@dataclass(frozen=True)
class RestBook:
    """A REST book answer (the snapshot of venues that sync from REST, and `normalize --book`)."""
    data: str = ""
    rows: Rows = Rows.OBJECT
    fields: tuple[Field, ...] = ()
    envelope_ok: tuple[str, str] | None = None
    """(key, value) the answer's envelope must hold (OKX code "0", Bybit retCode 0)"""
    time_unit_ns: int = MS
    nonnegative: bool = False
    """an id below zero is refused (OKX's seqId)"""


@dataclass(frozen=True)
class Wire:
    dispatch: tuple[str, ...]
    """the path of the string that names the channel (("e",), ("arg", "channel"), ("topic",))"""
    channels: tuple[Channel, ...]
    topic_sep: str = ""
    """the dispatch string is "<channel><sep><symbol>", the symbol after the last separator and
    the channel all before it (Bybit "orderbook.50.BTCUSDT": channel "orderbook.50", so the
    venue's 1-level book, "orderbook.1", is another channel than its 50-level one)"""
    symbol: tuple[str, ...] = ()
    """the path of the venue symbol in the frame's envelope (OKX ("arg", "instId")), if it has one"""
    wrapper: tuple[str, str] | None = None
    """(name key, data key): frames may come wrapped ({"stream": ..., "data": {...}}: Binance)"""
    control: Callable[[Any, bytes], tuple[int, str | None, int]] | None = None
    """frames that are no channel's: (doc, raw) -> (venuelink.ext.feed Control kind, topic, request id)"""
    rest_book: RestBook | None = None
    fallback: tuple[str, Channel] | None = None
    """(key, channel): a frame without the dispatch field but with this key is that channel's
    (Binance spot's bookTicker, which names no event type)"""
    control_key: str = ""
    """a frame that names a channel but lacks one of its fields is a control frame when it has this
    key (the toy venue's {"event": "subscribe", "topic": ...}); looked for only then, off the hot path"""
    raw: tuple[tuple[bytes, int], ...] = ()
    """whole frames that are not JSON, with their Control kind (OKX b"pong")"""
    by_name: dict[str, Channel] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for c in self.channels:
            if c.name in self.by_name:
                raise ValueError(f"channel {c.name!r} named twice")
            self.by_name[c.name] = c
            roles = [f.role for f in c.fields]
            if len(set(roles)) != len(roles):
                raise ValueError(f"channel {c.name!r}: a role given twice")
            if c.kind == Kind.BOOK and not ({Role.BIDS, Role.ASKS} <= set(roles) or Role.LEVELS in roles) \
                    or c.kind == Kind.BOOK and Role.LAST not in roles:
                raise ValueError(f"channel {c.name!r}: a book needs BIDS and ASKS (or LEVELS) and LAST")
            if Role.LEVELS in roles and (Role.BIDS in roles or Role.ASKS in roles):
                raise ValueError(f"channel {c.name!r}: LEVELS holds both sides; no BIDS or ASKS beside it")
            for f in (*c.head, *c.fields):
                if (f.role == Role.LEVELS) != (f.split is not None):
                    raise ValueError(f"channel {c.name!r}: {f.key!r}: LEVELS, and only LEVELS, has a split")
                if f.iso and (f.role != Role.TS or c.time_unit_ns != NS):
                    raise ValueError(f"channel {c.name!r}: {f.key!r}: an RFC 3339 time is a TS in a ns channel")
                if f.cols != (0, 1) and (f.role not in (Role.BIDS, Role.ASKS) or min(f.cols) < 0
                                         or f.cols[0] == f.cols[1]):
                    raise ValueError(f"channel {c.name!r}: {f.key!r}: columns are two for BIDS / ASKS")
            if Role.BLOCK in roles and c.kind != Kind.TRADES:
                raise ValueError(f"channel {c.name!r}: BLOCK flags trades only")
            if c.kind == Kind.TRADES and not {Role.PRICE, Role.SIZE, Role.SIDE, Role.TRADE_ID} <= set(roles):
                raise ValueError(f"channel {c.name!r}: trades need PRICE, SIZE, SIDE and TRADE_ID")
            if c.kind == Kind.DERIVS and not set(roles) & _DERIV_ROLES:
                raise ValueError(f"channel {c.name!r}: derivatives channel without a derivatives field")
            if Role.FUNDING_RATE in roles and Role.FUNDING_TIME not in roles:
                raise ValueError(f"channel {c.name!r}: a funding rate needs its FUNDING_TIME")
            if c.symbol_suffix and not (self.symbol or self.topic_sep):
                raise ValueError(f"channel {c.name!r}: a symbol suffix applies to the envelope's symbol")
            if c.kind == Kind.PYTHON and c.decode is None:
                raise ValueError(f"channel {c.name!r}: Kind.PYTHON needs decode")
            if c.span == Span.FROM_PREV and Role.PREV not in roles:
                raise ValueError(f"channel {c.name!r}: Span.FROM_PREV needs PREV")
            if Role.SYMBOL not in roles and not self.symbol and not self.topic_sep and c.kind != Kind.PYTHON:
                raise ValueError(f"channel {c.name!r}: no field and no envelope names the symbol")
            if c.rows == Rows.MANY and (c.kind != Kind.TRADES or not (self.symbol or self.topic_sep)):
                raise ValueError(f"channel {c.name!r}: rows of many objects are trades of the symbol the "
                                 f"envelope names")
            if any(f.role == Role.SYMBOL for f in c.head):
                raise ValueError(f"channel {c.name!r}: the symbol is read with the data, not in head")
            if Role.SYMBOL in roles and not (self.symbol or self.topic_sep):
                before = roles[:roles.index(Role.SYMBOL)]
                if set(before) & _SCALED:
                    raise ValueError(f"channel {c.name!r}: prices or sizes before the symbol that scales them")

    def topic(self, channel: str, *parts: str) -> str:
        """The dispatch string of a channel for a symbol (the subscribe argument where the venue
        subscribes by it): topic("orderbook", "50", "BTCUSDT") -> "orderbook.50.BTCUSDT"."""
        if not self.topic_sep:
            raise ValueError("this wire names channels without a topic string")
        return self.topic_sep.join((channel, *parts))
