# SPDX-License-Identifier: Apache-2.0
"""Binance spot adapter: market data (diff depth + trades, bookTicker on request, on combined streams,
snapshot sync by the documented procedure) and execution (signed REST, WS API user stream)."""
from __future__ import annotations

import json
from typing import Any

from venuelink.adapters.binance.errors import map_error as _map_error
from venuelink.adapters.binance.spec import ENDPOINTS, SNAPSHOT_LIMIT, SPEC, depth_weight
from venuelink.adapters.binance.wire import SPOT
from venuelink.adapters.binance.symbols import parse_exchange_info
from venuelink.adapter import Channel, HistoryTrade, VenueAdapter
from venuelink.model import Instrument, Side, VenueId
from venuelink.status import StatusKind, VenueStatus
from venuelink.venue import WsEndpoint
from venuelink.ext.feed import FeedSymbol, FrameParser
from venuelink.ext.ratelimit import Priority

TRADES_PATH = "/api/v3/trades"       # recent trades: weight 25, up to 1000
TRADES_LIMIT = 1000
TRADES_WEIGHT = 25

_CHANNEL_STREAM = {Channel.BOOK: "depth@100ms", Channel.TRADES: "trade", Channel.TOP: "bookTicker"}


class BinanceAdapter(VenueAdapter):
    venue = VenueId.binance
    spec = SPEC
    instruments_path = "/api/v3/exchangeInfo"
    execution_class = "venuelink.adapters.binance.execution:BinanceExecution"

    def parse_instruments(self, body: bytes | dict) -> list[Instrument]:
        return parse_exchange_info(body, self.venue)

    wire = SPOT

    def topics(self, inst: Instrument, channels: tuple[Channel, ...]) -> list[str]:
        return [f"{inst.venue_symbol.lower()}@{_CHANNEL_STREAM[c]}" for c in channels]

    def ws_url(self, ep: WsEndpoint, topics: list[str]) -> str:
        return f"{self.endpoint_url(ep).rstrip('/')}/stream?streams={'/'.join(topics)}"

    def subscribe_frames(self, ep: WsEndpoint, topics: list[str], req_id: int) -> list[str]:
        return [json.dumps({"method": "SUBSCRIBE", "params": topics, "id": req_id})]

    def unsubscribe_frames(self, ep: WsEndpoint, topics: list[str], req_id: int) -> list[str]:
        return [json.dumps({"method": "UNSUBSCRIBE", "params": topics, "id": req_id})]

    def snapshot_request_path(self) -> str:
        return "/api/v3/depth"

    def snapshot_request(self, inst: Instrument) -> tuple[str, dict[str, str]]:
        return "/api/v3/depth", {"symbol": inst.venue_symbol, "limit": str(SNAPSHOT_LIMIT)}

    def apply_snapshot(self, parser: FrameParser, fs: FeedSymbol, body: bytes, ts_recv: int) -> int:
        return parser.on_snapshot(fs, body, ts_recv)

    def trade_history_request(self, inst: Instrument) -> tuple[str, dict[str, str]] | None:
        return TRADES_PATH, {"symbol": inst.venue_symbol, "limit": str(TRADES_LIMIT)}

    def parse_trade_history(self, inst: Instrument, body: bytes) -> list[HistoryTrade]:
        # [{"id": 28457, "price": "4.00000100", "qty": "12.00000000", "quoteQty": "48.000012",
        #   "time": 1499865549590, "isBuyerMaker": true, "isBestMatch": true}, ...]
        rows = json.loads(body)
        if not isinstance(rows, list):
            raise ValueError(f"recent trades: expected a list, got {type(rows).__name__}")
        out = []
        for r in rows:
            try:
                tid, t, maker = r["id"], r["time"], r["isBuyerMaker"]
                if type(tid) is not int or type(t) is not int or type(maker) is not bool:
                    raise TypeError("id/time must be integers, isBuyerMaker a boolean")
                out.append(HistoryTrade(tid, inst.px(r["price"]), inst.qty(r["qty"]),
                                        Side.SELL if maker else Side.BUY, t * 1_000_000))
            except (KeyError, TypeError, ValueError) as e:
                raise ValueError(f"recent trades: bad row {str(r)[:120]}: {e}") from None
        return out

    def rest_cost(self, method: str, path: str, params: dict[str, str] | None = None, order: Any = None):
        if path == TRADES_PATH:
            return {"REQUEST_WEIGHT": TRADES_WEIGHT, "RAW_REQUESTS_5M": 1}, Priority.SNAPSHOT
        if path == "/api/v3/depth":
            limit = int((params or {}).get("limit", 100))
            return {"REQUEST_WEIGHT": depth_weight(limit), "RAW_REQUESTS_5M": 1}, Priority.SNAPSHOT
        w = ENDPOINTS.get((method, path))
        if w is None:
            return {"REQUEST_WEIGHT": 1, "RAW_REQUESTS_5M": 1}, Priority.QUERY
        return w

    def status_request(self):
        return "/sapi/v1/system/status", {}

    def parse_status(self, body: bytes) -> VenueStatus:
        d = json.loads(body)
        st = d.get("status") if isinstance(d, dict) else None
        if isinstance(st, bool) or st not in (0, 1):
            raise ValueError(f"status {st!r} is neither 0 (normal) nor 1 (maintenance)")
        return VenueStatus(StatusKind.NORMAL if st == 0 else StatusKind.MAINTENANCE, detail=str(d.get("msg", ""))[:100])

    def map_error(self, resp):
        return _map_error(resp)

    def sign_example(self, kind: str, creds: Any, inputs: dict[str, Any]) -> str:
        from venuelink.adapters.binance import auth
        if kind == "payload":                   # REST: the exact query / body bytes signed
            return auth.sign(creds, inputs["payload"])
        if kind == "ws_api":                    # WebSocket API: its params, sorted, not encoded
            return auth.ws_api_signature(creds, inputs["params"])
        raise ValueError(f"binance signs no {kind!r}")

    def make_execution(self, rest, creds, config):
        from venuelink.adapters.binance.execution import BinanceExecution
        return BinanceExecution(self, rest, creds, recv_window_ms=config.recv_window_ms)
