# SPDX-License-Identifier: Apache-2.0
"""The adapter interface: what a venue provides. The engine drives everything else
(connections, budgets, book state, order manager, metrics) the same way for every venue.

Market data: instruments from the venue's instruments endpoint, a FrameParser (Cython) that
turns frames into book/trade events, stream naming and subscription frames, the snapshot
request. Execution: an engine.orders.ExecutionClient.
"""
from __future__ import annotations

import abc
from enum import IntEnum
from typing import Any
from urllib.parse import parse_qs, urlsplit

from engine.config import VenueConfig
from engine.model import Instrument, VenueId
from engine.venue import VenueSpec
from ext.feed import FeedSymbol, FrameParser


class Channel(IntEnum):
    BOOK = 1
    TRADES = 2
    TOP = 3


class RestKind(IntEnum):
    OTHER = 0
    INSTRUMENTS = 1
    SNAPSHOT = 2


class VenueAdapter(abc.ABC):
    venue: VenueId
    spec: VenueSpec
    seq_rule: int
    instruments_path: str
    depth_cap: int = 0

    def __init__(self, config: VenueConfig | None = None) -> None:
        self.config = config or VenueConfig(name=self.venue.name, rest_url=self.spec.rest_url,
                                            ws_url=self.spec.ws_url)
        self.instruments: dict[str, Instrument] = {}       # unified symbol -> Instrument
        self.by_venue_symbol: dict[str, Instrument] = {}

    # ---- instruments ---------------------------------------------------------------------
    @abc.abstractmethod
    def parse_instruments(self, body: bytes | dict) -> list[Instrument]:
        """Instruments from the venue's instruments endpoint answer."""

    def set_instruments(self, instruments: list[Instrument]) -> None:
        for i in instruments:
            self.instruments[i.symbol] = i
            self.by_venue_symbol[i.venue_symbol] = i

    def instrument(self, symbol: str) -> Instrument:
        """By unified symbol (BTC/USDT) or venue symbol (BTCUSDT)."""
        inst = self.instruments.get(symbol) or self.by_venue_symbol.get(symbol)
        if inst is None:
            raise KeyError(f"{self.venue.name}: unknown symbol {symbol!r}")
        return inst

    # ---- market data ---------------------------------------------------------------------
    @abc.abstractmethod
    def make_parser(self, sink: Any) -> FrameParser:
        """A parser for one connection's frames."""

    def feed_symbol(self, inst: Instrument, sync_listener: Any) -> FeedSymbol:
        return FeedSymbol(inst, inst.venue_symbol.encode(), self.seq_rule, sync_listener, self.depth_cap)

    @abc.abstractmethod
    def stream_names(self, inst: Instrument, channels: tuple[Channel, ...]) -> list[str]:
        """Venue stream/channel names for an instrument."""

    @abc.abstractmethod
    def ws_url_for(self, streams: list[str]) -> str:
        """URL of one market-data connection carrying `streams`."""

    @abc.abstractmethod
    def snapshot_request(self, inst: Instrument) -> tuple[str, dict[str, str]]:
        """(path, params) of the REST book snapshot; its cost comes from rest_cost()."""

    @abc.abstractmethod
    def apply_snapshot(self, parser: FrameParser, fs: FeedSymbol, body: bytes, ts_recv: int) -> int:
        """Apply a snapshot answer through the parser (replays buffered deltas)."""

    def classify_rest(self, path: str) -> tuple[RestKind, str | None]:
        """What a recorded REST line holds: instruments, a snapshot (with its venue symbol)..."""
        parts = urlsplit(path)
        if parts.path == self.instruments_path:
            return RestKind.INSTRUMENTS, None
        if parts.path == self.snapshot_request_path():
            sym = parse_qs(parts.query).get("symbol", [None])[0]
            return RestKind.SNAPSHOT, sym
        return RestKind.OTHER, None

    @abc.abstractmethod
    def snapshot_request_path(self) -> str:
        ...

    # ---- REST and execution -----------------------------------------------------------------
    @abc.abstractmethod
    def rest_cost(self, method: str, path: str, params: dict[str, str] | None = None) -> tuple[dict[str, int], Any]:
        """({bucket: weight}, Priority) of a REST request."""

    @abc.abstractmethod
    def map_error(self, resp: Any) -> Any:
        """engine.rest.RestResponse (non-2xx) -> engine.errors.VenueError."""

    @abc.abstractmethod
    def make_execution(self, rest: Any, creds: Any, config: VenueConfig) -> Any:
        """An engine.orders.ExecutionClient for this venue."""
