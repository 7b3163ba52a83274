# SPDX-License-Identifier: Apache-2.0
"""Binance spot adapter: market data (diff depth + trades + bookTicker on combined streams,
snapshot sync by the documented procedure) and execution (signed REST, WS API user stream)."""
from __future__ import annotations

from typing import Any

from adapters.binance.parser import BinanceParser
from adapters.binance.spec import SNAPSHOT_LIMIT, SPEC
from adapters.binance.symbols import parse_exchange_info
from engine.adapter import Channel, VenueAdapter
from engine.model import Instrument, VenueId
from ext.feed import FeedSymbol, FrameParser
from ext.sync import SeqRule

_CHANNEL_STREAM = {Channel.BOOK: "depth@100ms", Channel.TRADES: "trade", Channel.TOP: "bookTicker"}


class BinanceAdapter(VenueAdapter):
    venue = VenueId.binance
    spec = SPEC
    seq_rule = SeqRule.SEQ_FIRST_LAST
    instruments_path = "/api/v3/exchangeInfo"

    def parse_instruments(self, body: bytes | dict) -> list[Instrument]:
        return parse_exchange_info(body, self.venue)

    def make_parser(self, sink: Any) -> FrameParser:
        return BinanceParser(self.venue, sink)

    def stream_names(self, inst: Instrument, channels: tuple[Channel, ...]) -> list[str]:
        return [f"{inst.venue_symbol.lower()}@{_CHANNEL_STREAM[c]}" for c in channels]

    def ws_url_for(self, streams: list[str]) -> str:
        return f"{self.config.ws_url.rstrip('/')}/stream?streams={'/'.join(streams)}"

    def snapshot_request_path(self) -> str:
        return "/api/v3/depth"

    def snapshot_request(self, inst: Instrument) -> tuple[str, dict[str, str]]:
        return "/api/v3/depth", {"symbol": inst.venue_symbol, "limit": str(SNAPSHOT_LIMIT)}

    def apply_snapshot(self, parser: FrameParser, fs: FeedSymbol, body: bytes, ts_recv: int) -> int:
        return parser.on_snapshot(fs, body, ts_recv)
