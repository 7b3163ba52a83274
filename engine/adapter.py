# SPDX-License-Identifier: Apache-2.0
"""The adapter interface: what a venue provides. The engine drives everything else
(connections, subscriptions, budgets, book state, resyncs, order manager, metrics) the same way
for every venue.

A venue is mostly data (venuelink.venue.VenueSpec: REST buckets, WebSocket endpoints, the book's
sync rule, snapshot source and resync method) plus small hooks:

* instruments: ``parse_instruments`` (the venue's instruments endpoint answer);
* market data: ``make_parser`` (a Cython FrameParser that only decodes) and its
  pure-Python twin ``make_reference_parser``, ``endpoint_for``
  (which connection kind an instrument's topics go to), ``topics``, ``subscribe_frames`` /
  ``unsubscribe_frames`` (MESSAGE-style endpoints) or ``ws_url`` (URL-style), ``checksum_for``;
* REST book snapshots, for SnapshotSource.REST only: ``snapshot_request`` / ``apply_snapshot``;
* public trade history, where the venue has it: ``trade_history_request`` /
  ``parse_trade_history`` (trades missed while a connection was down are backfilled from it);
* REST answers: ``rest_cost`` (buckets and priority, seeing the order where the venue charges
  by it), ``map_error`` (non-2xx) and ``classify_response`` (errors inside HTTP 200 bodies);
* execution: ``make_execution`` (a venuelink.execution.ExecutionClient).
"""
from __future__ import annotations

import abc
from dataclasses import dataclass
from enum import IntEnum
from typing import Any
from urllib.parse import parse_qs, urlsplit

from venuelink.config import Credentials, VenueConfig
from venuelink.errors import ConfigError
from venuelink.model import Instrument, MarketKind, Side, VenueId
from venuelink.venue import ConnectInfo, SnapshotSource, SubscribeStyle, VenueSpec, WsEndpoint
from venuelink.ext.checksum import Checksum
from venuelink.ext.feed import FeedSymbol, FrameParser


class Channel(IntEnum):
    BOOK = 1
    TRADES = 2
    TOP = 3
    DERIVATIVES = 4     # mark / index price, funding, open interest, liquidations (venuelink.derivatives)


class RestKind(IntEnum):
    OTHER = 0
    INSTRUMENTS = 1
    SNAPSHOT = 2


@dataclass(frozen=True, slots=True)
class HistoryTrade:
    """One trade from a venue's recent-trades endpoint; price and size as exact fixed-point ints
    at the instrument's scales, `ts_exchange` in ns."""
    trade_id: int
    price: int
    size: int
    side: Side          # the taker's
    ts_exchange: int


class VenueAdapter(abc.ABC):
    venue: VenueId
    spec: VenueSpec
    instruments_path: str
    #: "module:Class" of what make_execution returns ("" when unknown): `venuelink venues` reads
    #: the venue's order-entry features off that class without making one
    execution_class: str = ""

    def __init__(self, config: VenueConfig | None = None) -> None:
        self.config = config or VenueConfig(name=self.venue.name, rest_url=self.spec.rest_url)
        self.instruments: dict[str, Instrument] = {}                          # unified symbol -> Instrument
        self.by_venue_symbol: dict[tuple[MarketKind, str], Instrument] = {}  # venue symbols repeat across kinds
        self._venue_symbols: dict[str, list[Instrument]] = {}

    # ---- instruments ---------------------------------------------------------------------
    def instrument_requests(self) -> list[tuple[str, dict[str, str]]]:
        """(path, params) of every request that together list the venue's instruments (OKX: one
        per instType); each answer goes to parse_instruments()."""
        return [(self.instruments_path, {})]

    def next_instruments_page(self, params: dict[str, str], body: bytes) -> dict[str, str] | None:
        """The params of the next page of an instruments answer that is paged (Bybit's
        nextPageCursor), None for the last page (the default: answers are whole)."""
        return None

    def instrument_urls(self) -> list[str]:
        """instrument_requests() as path?query strings."""
        from urllib.parse import urlencode
        return [p + ("?" + urlencode(q) if q else "") for p, q in self.instrument_requests()]

    @abc.abstractmethod
    def parse_instruments(self, body: bytes | dict) -> list[Instrument]:
        """Instruments from the venue's instruments endpoint answer."""

    def set_instruments(self, instruments: list[Instrument]) -> None:
        for i in instruments:
            self.instruments[i.symbol] = i
            self.by_venue_symbol[(i.kind, i.venue_symbol)] = i
            same = [x for x in self._venue_symbols.get(i.venue_symbol, ()) if x.kind != i.kind]
            self._venue_symbols[i.venue_symbol] = same + [i]

    def instrument(self, symbol: str, kind: MarketKind | None = None) -> Instrument:
        """By unified symbol (BTC/USDT), or by venue symbol (BTCUSDT) with its kind where the
        venue uses one venue symbol for several kinds."""
        inst = self.instruments.get(symbol)
        if inst is not None:
            return inst
        if kind is not None:
            inst = self.by_venue_symbol.get((kind, symbol))
        else:
            found = self._venue_symbols.get(symbol, ())
            if len(found) > 1:
                raise KeyError(f"{self.venue.name}: venue symbol {symbol!r} is ambiguous "
                               f"({', '.join(i.symbol for i in found)}): use the unified symbol")
            inst = found[0] if found else None
        if inst is None:
            raise KeyError(f"{self.venue.name}: unknown symbol {symbol!r}")
        return inst

    # ---- process lifecycle -------------------------------------------------------------------
    async def prepare(self, runtime: Any) -> None:
        """Before the first request: start what the venue needs besides sockets (the CCXT tier's
        worker process, venuelink.ccxt_tier). Nothing for native venues."""

    async def close(self) -> None:
        """After the venue's sessions are closed: stop what prepare() started."""

    def counters(self) -> dict[str, int]:
        """The adapter's own event counts (kind -> count), exported as venuelink_adapter_events."""
        return {}

    # ---- market data ---------------------------------------------------------------------
    wire: Any = None
    """the venue's market-data wire schema (venuelink.wire.Wire; adapters/<venue>/wire.py): with it,
    make_parser and make_reference_parser need no venue code"""

    def make_parser(self, sink: Any) -> FrameParser:
        """A parser for one connection's frames: venuelink.ext.wire's, reading the venue's schema, unless
        the venue keeps a hand-written one (the instruction-count gate decides which is faster)."""
        if self.wire is None:
            raise NotImplementedError(f"{self.venue.name}: no wire schema and no parser of its own")
        from venuelink.ext.wire import WireParser
        return WireParser(self.venue, sink, wire=self.wire)

    def make_reference_parser(self, sink: Any) -> FrameParser:
        """The parser's pure-Python twin (a PyFrameParser on venuelink.ext.ref.json_ref): the same frames to
        the same events, for the decoder fuzz test and `venuelink normalize --reference`."""
        if self.wire is None:
            raise NotImplementedError(f"{self.venue.name} has no reference parser")
        from venuelink.wire_ref import WireRefParser
        return WireRefParser(self.venue, sink, wire=self.wire)

    def checksum_for(self, inst: Instrument) -> Checksum | None:
        """The venue's book checksum for `inst` (spec.book.checksum venues; may depend on the
        instrument's precision, as Kraken's)."""
        return None

    def feed_symbol(self, inst: Instrument, sync_listener: Any) -> FeedSymbol:
        b = self.spec.book
        fs = FeedSymbol(inst, inst.venue_symbol.encode(), b.seq_rule, sync_listener, b.depth,
                        self.checksum_for(inst) if b.checksum else None, self.spec.trade_ids)
        fs.sync.buffering = b.snapshot == SnapshotSource.REST
        return fs

    def endpoint_for(self, inst: Instrument) -> str:
        """Name of the WebSocket endpoint carrying `inst`'s market data."""
        return self.spec.endpoints[0].name

    def channel_endpoint(self, inst: Instrument, channel: "Channel") -> str:
        """Name of the WebSocket endpoint carrying `inst`'s `channel` (a venue that serves books
        and trades on different endpoints says so here); by default `endpoint_for(inst)`. The
        symbol's book, trades and derivatives may then arrive on different connections, each
        judged on its own: a connection that drops resyncs only the books it carries, and
        backfills only the trades it carries."""
        return self.endpoint_for(inst)

    def endpoint_url(self, ep: WsEndpoint) -> str:
        return self.config.endpoint_url(ep.name, ep.url, ep.name == self.spec.endpoints[0].name)

    @abc.abstractmethod
    def topics(self, inst: Instrument, channels: tuple[Channel, ...]) -> list[str]:
        """Venue topic (stream/channel) names for an instrument, one per channel, in order."""

    def derivative_topics(self, inst: Instrument) -> list[str]:
        """The topics carrying `inst`'s derivatives events (venuelink.derivatives), on the endpoint
        of its book; empty where the venue publishes none for it (spot)."""
        return []

    def ws_url(self, ep: WsEndpoint, topics: list[str]) -> str:
        """URL of one market-data connection; URL-style endpoints put `topics` in it."""
        if ep.subscribe == SubscribeStyle.URL:
            raise NotImplementedError(f"{self.venue.name}: URL-style endpoint {ep.name} needs ws_url()")
        return self.endpoint_url(ep)

    def connection_topics(self, ep: WsEndpoint) -> list[str]:
        """Topics every connection of `ep` subscribes besides its instruments' (Coinbase's
        `heartbeats`, a venue-wide status channel): sent with them on every (re)connect, once per
        connection, never counted against an instrument. None by default."""
        return []

    def md_credentials(self) -> Credentials:
        """The credentials that sign market-data subscriptions (spec.md_auth venues): read once
        from the venue's config (env vars or its 0600 secrets file) and kept; a clear ConfigError
        when none are configured. subscribe_frames signs with them and the current time."""
        creds = getattr(self, "_md_creds", None)
        if creds is None:
            creds = self.config.credentials()
            if creds is None:
                raise ConfigError(f"{self.venue.name}: its market data is signed: set api_key_env and "
                                  f"api_secret_env (or secrets_file) for it")
            self._md_creds = creds
        return creds

    async def connect_info(self, ep: WsEndpoint, url: str, rest: Any) -> ConnectInfo | None:
        """Run before every connect (reconnects and rotations included) of a market-data connection
        of `ep`, whose configured URL is `url`: venues that hand out a token or a server per
        connection over REST (KuCoin's bullet, Kraken's WebSocket token) fetch it with `rest` (the
        venue's budgeted RestClient) and return the URL to use and the ping interval they were
        given (applied to the endpoint's PingSpec frame). An exception fails that attempt, which is
        retried on the session's backoff. None (the default): connect to `url` as it is."""
        return None

    def subscribe_frames(self, ep: WsEndpoint, topics: list[str], req_id: int) -> list[str]:
        """Frames subscribing `topics` (at most ep.max_topics_per_request) with request id `req_id`."""
        raise NotImplementedError(f"{self.venue.name}: endpoint {ep.name} cannot subscribe by message")

    def unsubscribe_frames(self, ep: WsEndpoint, topics: list[str], req_id: int) -> list[str]:
        raise NotImplementedError(f"{self.venue.name}: endpoint {ep.name} cannot unsubscribe by message")

    # ---- REST book snapshots (SnapshotSource.REST) ------------------------------------------
    def snapshot_request(self, inst: Instrument) -> tuple[str, dict[str, str]]:
        """(path, params) of the REST book snapshot; its cost comes from rest_cost()."""
        raise NotImplementedError(f"{self.venue.name} has no REST book snapshot")

    def apply_snapshot(self, parser: FrameParser, fs: FeedSymbol, body: bytes, ts_recv: int) -> int:
        """Apply a snapshot answer through the parser (replays buffered deltas)."""
        raise NotImplementedError(f"{self.venue.name} has no REST book snapshot")

    def snapshot_request_path(self) -> str:
        return ""

    def md_headers(self, method: str, path: str, query: str) -> dict[str, str] | None:
        """Headers for a market-data REST request (book snapshots, silence probes) on venues that
        sign those (KuCoin's full-depth book): signed with md_credentials() and the clock. None:
        the request goes unsigned (the default)."""
        return None

    def book_probe_request(self, inst: Instrument) -> tuple[str, dict[str, str]]:
        """(path, params) of a REST book read to check a silent book against (venuelink.silence);
        its answer goes through apply_snapshot. The REST snapshot by default."""
        return self.snapshot_request(inst)

    # ---- public trade history (backfill after a reconnect) ------------------------------------
    def trade_history_request(self, inst: Instrument) -> tuple[str, dict[str, str]] | None:
        """(path, params) of the venue's recent-trades endpoint for `inst` (most recent trades,
        as many as one request gets), or None where the venue has none: trades missed while a
        connection was down are then lost, and counted as not backfilled."""
        return None

    def parse_trade_history(self, inst: Instrument, body: bytes) -> list[HistoryTrade]:
        """The recent-trades answer as HistoryTrades, in any order (the engine sorts by id).
        Raise ValueError for an answer that is not what the venue documents."""
        raise NotImplementedError(f"{self.venue.name} has no public trade history")

    def status_request(self) -> tuple[str, dict[str, str]] | None:
        """(path, params) of the venue's system-status endpoint; None where it has none."""
        return None

    def parse_status(self, body: bytes) -> Any:
        """The status endpoint's answer -> venuelink.status.VenueStatus (raise on an unreadable one)."""
        raise NotImplementedError

    def classify_rest(self, path: str) -> tuple[RestKind, str | None]:
        """What a recorded REST line holds: instruments, a snapshot (with its venue symbol)..."""
        parts = urlsplit(path)
        if parts.path == self.instruments_path:
            return RestKind.INSTRUMENTS, None
        snap = self.snapshot_request_path()
        if snap and parts.path == snap:
            sym = parse_qs(parts.query).get("symbol", [None])[0]
            return RestKind.SNAPSHOT, sym
        return RestKind.OTHER, None

    # ---- REST and execution -----------------------------------------------------------------
    @abc.abstractmethod
    def rest_cost(self, method: str, path: str, params: dict[str, str] | None = None,
                  order: Any = None) -> tuple[dict[str, int], Any]:
        """({bucket: weight}, Priority) of a REST request; `order` is the venuelink.model.Order an
        order request is about, for venues that charge by it (Kraken: cancels by order age)."""

    @abc.abstractmethod
    def map_error(self, resp: Any) -> Any:
        """venuelink.rest.RestResponse (non-2xx) -> venuelink.errors.VenueError."""

    def classify_response(self, resp: Any) -> Any:
        """A venuelink.errors.VenueError for an error carried in a 2xx answer's body (OKX `code`,
        Bybit `retCode`, Kraken `error`), rate limits included; None for a real success."""
        return None

    #: the venue selects its demo-trading environment by a flag on each request (VenueConfig.demo)
    demo_by_flag: bool = False

    def sign_example(self, kind: str, creds: Any, inputs: dict[str, Any]) -> str:
        """The signature the venue's own algorithm gives for one published example (its kinds:
        "payload", "ws_api", "rest", "ws_login", ...; inputs as the venue's documentation states
        them). tests/test_sign_vectors.py holds every venue to its examples in
        tests/fixtures/<venue>/sign_vectors.json."""
        raise NotImplementedError(f"{self.venue.name} signs nothing")

    @abc.abstractmethod
    def make_execution(self, rest: Any, creds: Any, config: VenueConfig) -> Any:
        """A venuelink.execution.ExecutionClient for this venue."""
