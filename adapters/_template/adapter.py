# SPDX-License-Identifier: Apache-2.0
"""<Venue> adapter skeleton: fill in every NotImplementedError (see README.md beside this file)."""
from __future__ import annotations

from typing import Any

from engine.adapter import Channel, VenueAdapter
from engine.model import Instrument, VenueId
from ext.feed import FeedSymbol, FrameParser
from ext.sync import SeqRule


class TemplateAdapter(VenueAdapter):
    venue: VenueId                      # e.g. VenueId.okx
    spec: Any                           # engine.venue.VenueSpec from spec.py
    seq_rule = SeqRule.SEQ_PREV         # how the venue chains its deltas
    instruments_path = "/path/of/the/instruments/endpoint"

    def parse_instruments(self, body: bytes | dict) -> list[Instrument]:
        raise NotImplementedError

    def make_parser(self, sink: Any) -> FrameParser:
        raise NotImplementedError

    def stream_names(self, inst: Instrument, channels: tuple[Channel, ...]) -> list[str]:
        raise NotImplementedError

    def ws_url_for(self, streams: list[str]) -> str:
        raise NotImplementedError

    def snapshot_request_path(self) -> str:
        raise NotImplementedError

    def snapshot_request(self, inst: Instrument) -> tuple[str, dict[str, str]]:
        raise NotImplementedError

    def apply_snapshot(self, parser: FrameParser, fs: FeedSymbol, body: bytes, ts_recv: int) -> int:
        raise NotImplementedError

    def rest_cost(self, method: str, path: str, params: dict[str, str] | None = None):
        raise NotImplementedError

    def map_error(self, resp):
        raise NotImplementedError

    def make_execution(self, rest, creds, config):
        raise NotImplementedError
