# SPDX-License-Identifier: Apache-2.0
"""Binance USD-M futures adapter: Binance spot's adapter with the futures dialect (the parser's
futures mode, /fapi paths and weights, the split stream endpoints, derivatives streams)."""
from __future__ import annotations

import json
from typing import Any

from venuelink.adapters.binance.wire import USDM
from venuelink.adapters.binance.adapter import BinanceAdapter
from venuelink.adapters.binance.errors import FUTURES_REJECT_CODES, map_error
from venuelink.adapters.binanceusdm.spec import AGG_TRADES_LIMIT, ENDPOINTS, SNAPSHOT_LIMIT, SPEC, depth_weight
import venuelink.ext.decimal as fx
from venuelink.adapter import Channel, HistoryTrade
from venuelink.derivatives import OpenInterest, size_scale_of
from venuelink.model import Instrument, Side, VenueId
from venuelink.venue import WsEndpoint
from venuelink.ext.clock import now_ns
from venuelink.ext.feed import FrameParser
from venuelink.ext.ratelimit import Priority

_STREAM = {Channel.BOOK: "depth@100ms", Channel.TRADES: "aggTrade", Channel.TOP: "bookTicker"}
#: the endpoint of each channel since the stream URL split
_ENDPOINT = {Channel.BOOK: "public", Channel.TOP: "public", Channel.TRADES: "market", Channel.DERIVATIVES: "market"}
AGG_TRADES_PATH = "/fapi/v1/aggTrades"
DEPTH_PATH = "/fapi/v1/depth"
OPEN_INTEREST_PATH = "/fapi/v1/openInterest"


class BinanceUsdmAdapter(BinanceAdapter):
    venue = VenueId.binanceusdm
    spec = SPEC
    instruments_path = "/fapi/v1/exchangeInfo"
    execution_class = "venuelink.adapters.binanceusdm.execution:BinanceUsdmExecution"

    wire = USDM

    def topics(self, inst: Instrument, channels: tuple[Channel, ...]) -> list[str]:
        return [f"{inst.venue_symbol.lower()}@{_STREAM[c]}" for c in channels]

    def channel_endpoint(self, inst: Instrument, channel: Channel) -> str:
        return _ENDPOINT[channel]

    def endpoint_url(self, ep: WsEndpoint) -> str:
        """``<ws_url>/<endpoint>``: the configured ws_url is the streams' base (one setting moves
        /public and /market together); an endpoint set by name in the config wins."""
        if ep.name in self.config.endpoints:
            return self.config.endpoints[ep.name]
        return f"{(self.config.ws_url or self.spec.ws_url).rstrip('/')}/{ep.name}"

    def derivative_topics(self, inst: Instrument) -> list[str]:
        # mark price, index price and funding rate every second; the symbol's liquidations
        s = inst.venue_symbol.lower()
        return [f"{s}@markPrice@1s", f"{s}@forceOrder"]

    def snapshot_request_path(self) -> str:
        return DEPTH_PATH

    def snapshot_request(self, inst: Instrument) -> tuple[str, dict[str, str]]:
        return DEPTH_PATH, {"symbol": inst.venue_symbol, "limit": str(SNAPSHOT_LIMIT)}

    def trade_history_request(self, inst: Instrument) -> tuple[str, dict[str, str]] | None:
        return AGG_TRADES_PATH, {"symbol": inst.venue_symbol, "limit": str(AGG_TRADES_LIMIT)}

    def parse_trade_history(self, inst: Instrument, body: bytes) -> list[HistoryTrade]:
        # [{"a": 26129, "p": "0.01633102", "q": "4.70443515", "f": 27781, "l": 27781,
        #   "T": 1498793709153, "m": true}, ...]
        rows = json.loads(body)
        if not isinstance(rows, list):
            raise ValueError(f"aggregate trades: expected a list, got {type(rows).__name__}")
        out = []
        for r in rows:
            try:
                tid, t, maker = r["a"], r["T"], r["m"]
                if type(tid) is not int or type(t) is not int or type(maker) is not bool:
                    raise TypeError("a/T must be integers, m a boolean")
                out.append(HistoryTrade(tid, inst.px(r["p"]), inst.qty(r["q"]), Side.SELL if maker else Side.BUY,
                                        t * 1_000_000))
            except (KeyError, TypeError, ValueError) as e:
                raise ValueError(f"aggregate trades: bad row {str(r)[:120]}: {e}") from None
        return out

    def open_interest_request(self, inst: Instrument) -> tuple[str, dict[str, str]]:
        """GET /fapi/v1/openInterest (weight 1): the symbol's open interest now, in base units."""
        return OPEN_INTEREST_PATH, {"symbol": inst.venue_symbol}

    def parse_open_interest(self, inst: Instrument, body: bytes) -> OpenInterest:
        """``{"openInterest": "10659.509", "symbol": "BTCUSDT", "time": 1589437530011}`` -> an
        OpenInterest event at the scale its text needs (never rounded to the lot)."""
        try:
            d = json.loads(body)
            text, sym, t = d["openInterest"], d["symbol"], d["time"]
            if not isinstance(text, str) or type(t) is not int or t <= 0:
                raise TypeError("openInterest must be a string, time a positive integer")
            if sym != inst.venue_symbol:
                raise ValueError(f"answer for {sym!r}, asked for {inst.venue_symbol!r}")
            scale = size_scale_of(text, inst.qty_scale)
            ev = OpenInterest(self.venue, inst, t * 1_000_000, now_ns(), fx.parse(text, scale), scale)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise ValueError(f"open interest: bad answer {body[:120]!r}: {e}") from None
        why = ev.problem()
        if why is not None:
            raise ValueError(f"open interest: {why}")
        return ev

    def rest_cost(self, method: str, path: str, params: dict[str, str] | None = None, order: Any = None):
        if path == DEPTH_PATH:
            return {"REQUEST_WEIGHT": depth_weight(int((params or {}).get("limit", 500)))}, Priority.SNAPSHOT
        if (method, path) == ("GET", "/fapi/v1/openOrders") and not (params or {}).get("symbol"):
            return {"REQUEST_WEIGHT": 40}, Priority.QUERY
        w = ENDPOINTS.get((method, path))
        return w if w is not None else ({"REQUEST_WEIGHT": 1}, Priority.QUERY)

    def map_error(self, resp):
        return map_error(resp, self.venue.name, FUTURES_REJECT_CODES)

    def status_request(self):
        return None                       # no futures status endpoint: error codes and 5xx feed health

    def make_execution(self, rest, creds, config):
        from venuelink.adapters.binanceusdm.execution import BinanceUsdmExecution
        return BinanceUsdmExecution(self, rest, creds, recv_window_ms=config.recv_window_ms,
                                    ws_api_url=(getattr(config, "endpoints", None) or {}).get("ws_api", ""))
