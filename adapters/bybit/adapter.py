# SPDX-License-Identifier: Apache-2.0
"""Bybit v5 adapter: spot and USDT perpetuals, each category on its own public WebSocket
(``<ws_url>/v5/public/spot``, ``/v5/public/linear``), subscribed by message; books snapshot-in-band
with the consecutive-``u`` rule (venuelink.adapters.bybit.wire); instruments from
/v5/market/instruments-info per category."""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

from venuelink.adapters.bybit import errors
from venuelink.adapters.bybit.spec import BOOK_PATH, CATEGORIES, INSTRUMENTS_PATH, SPEC
from venuelink.adapters.bybit.status import STATUS_PATH, parse_status
from venuelink.adapters.bybit.symbols import category, parse_instruments
from venuelink.adapters.bybit.wire import WIRE
from venuelink.adapter import Channel, RestKind, VenueAdapter
from venuelink.model import Instrument, MarketKind, VenueId
from venuelink.venue import WsEndpoint
from venuelink.ext.feed import FeedSymbol, FrameParser
from venuelink.ext.ratelimit import Priority

_PRIVATE = {
    "/v5/order/create": ("CREATE_1S", Priority.NEW_ORDER),
    "/v5/order/amend": ("AMEND_1S", Priority.NEW_ORDER),
    "/v5/order/cancel": ("CANCEL_1S", Priority.CANCEL),
    "/v5/order/cancel-all": ("CANCEL_1S", Priority.CANCEL),
}
_TOPIC = {Channel.BOOK: "orderbook.50", Channel.TRADES: "publicTrade", Channel.TOP: "orderbook.1"}
INSTRUMENTS_PAGE = 1000        # linear pages hold at most 1000 rows (spot answers all at once)
PROBE_DEPTH = 50


class BybitAdapter(VenueAdapter):
    venue = VenueId.bybit
    spec = SPEC
    instruments_path = INSTRUMENTS_PATH
    execution_class = "venuelink.adapters.bybit.execution:BybitExecution"
    wire = WIRE

    def instrument_requests(self) -> list[tuple[str, dict[str, str]]]:
        return [(INSTRUMENTS_PATH, {"category": c} | ({"limit": str(INSTRUMENTS_PAGE)} if c != "spot" else {}))
                for c in CATEGORIES]

    def parse_instruments(self, body: bytes | dict) -> list[Instrument]:
        return parse_instruments(body, self.venue)

    def next_instruments_page(self, params: dict[str, str], body: bytes) -> dict[str, str] | None:
        cursor = (json.loads(body).get("result") or {}).get("nextPageCursor")
        return {**params, "cursor": cursor} if isinstance(cursor, str) and cursor else None

    def endpoint_for(self, inst: Instrument) -> str:
        return category(inst)

    def endpoint_url(self, ep: WsEndpoint) -> str:
        """``<ws_url>/v5/public/<category>``: the configured ws_url is the streams' base; an
        endpoint set by name in the config wins."""
        if ep.name in self.config.endpoints:
            return self.config.endpoints[ep.name]
        return f"{(self.config.ws_url or self.spec.ws_url).rstrip('/')}/v5/public/{ep.name}"

    def topics(self, inst: Instrument, channels: tuple[Channel, ...]) -> list[str]:
        return [f"{_TOPIC[c]}.{inst.venue_symbol}" for c in channels]

    def derivative_topics(self, inst: Instrument) -> list[str]:
        if inst.kind != MarketKind.SWAP:
            return []
        return [f"tickers.{inst.venue_symbol}", f"allLiquidation.{inst.venue_symbol}"]

    def subscribe_frames(self, ep: WsEndpoint, topics: list[str], req_id: int) -> list[str]:
        return [json.dumps({"req_id": str(req_id), "op": "subscribe", "args": topics}, separators=(",", ":"))]

    def unsubscribe_frames(self, ep: WsEndpoint, topics: list[str], req_id: int) -> list[str]:
        return [json.dumps({"req_id": str(req_id), "op": "unsubscribe", "args": topics}, separators=(",", ":"))]

    # the REST book: `venuelink normalize --book` and silence probes (books sync in-band)
    def snapshot_request_path(self) -> str:
        return BOOK_PATH

    def book_probe_request(self, inst: Instrument) -> tuple[str, dict[str, str]]:
        return BOOK_PATH, {"category": category(inst), "symbol": inst.venue_symbol, "limit": str(PROBE_DEPTH)}

    def apply_snapshot(self, parser: FrameParser, fs: FeedSymbol, body: bytes, ts_recv: int) -> int:
        return parser.on_snapshot(fs, body, ts_recv)

    def classify_rest(self, path: str) -> tuple[RestKind, str | None]:
        parts = urlsplit(path)
        if parts.path == INSTRUMENTS_PATH:
            return RestKind.INSTRUMENTS, None
        if parts.path == BOOK_PATH:
            return RestKind.SNAPSHOT, parse_qs(parts.query).get("symbol", [None])[0]
        return RestKind.OTHER, None

    def rest_cost(self, method: str, path: str, params: dict[str, str] | None = None, order: Any = None):
        # every request counts against the IP's 600 per 5 s; private ones also against their
        # endpoint's per-UID 1-s window; market data and status only against the IP's
        private = _PRIVATE.get(path)
        if private is not None:
            bucket, prio = private
            if (params or {}).get("category") == "spot":
                bucket = "SPOT_" + bucket           # spot orders have limits of their own
            return {"IP_5S": 1, bucket: 1}, prio
        if path.startswith(("/v5/order/", "/v5/execution/", "/v5/account/", "/v5/position/")):
            return {"IP_5S": 1, "QUERY_1S": 1}, Priority.QUERY
        return {"IP_5S": 1}, (Priority.SNAPSHOT if path == BOOK_PATH else Priority.QUERY)

    def map_error(self, resp):
        return errors.map_error(resp)

    def classify_response(self, resp):
        return errors.classify_response(resp)

    def status_request(self):
        return STATUS_PATH, {}

    def parse_status(self, body: bytes):
        return parse_status(body)

    def sign_example(self, kind: str, creds: Any, inputs: dict[str, Any]) -> str:
        from venuelink.adapters.bybit import auth
        if kind == "rest":
            return auth.rest_headers(creds, inputs["payload"], inputs["ts_ms"], inputs["recv_window_ms"])["X-BAPI-SIGN"]
        if kind == "ws_auth":
            return json.loads(auth.ws_auth_frame(creds, inputs["expires_ms"]))["args"][2]
        raise ValueError(f"bybit signs no {kind!r}")

    def make_execution(self, rest, creds, config):
        from venuelink.adapters.bybit.execution import BybitExecution
        return BybitExecution(self, rest, creds, recv_window_ms=config.recv_window_ms,
                              trade_url=(getattr(config, "endpoints", None) or {}).get("trade", ""),
                              dead_man=getattr(config, "dead_man_s", 0) > 0)
