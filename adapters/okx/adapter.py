# SPDX-License-Identifier: Apache-2.0
"""OKX v5 adapter: public market data (books from a REST snapshot bridged by seqId/prevSeqId, trades,
bbo-tbt) on the public WebSocket, subscribed by message; instruments from /api/v5/public/instruments for
SPOT and SWAP."""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

from venuelink.adapters.okx import errors
from venuelink.adapters.okx.wire import WIRE
from venuelink.adapters.okx.status import STATUS_PATH, parse_status
from venuelink.adapters.okx.spec import CHECKSUM_DEPTH, INSTRUMENT_TYPES, INSTRUMENTS_PATH, SPEC
from venuelink.adapters.okx.symbols import parse_instruments
from venuelink.adapter import Channel, RestKind, VenueAdapter
from venuelink.model import Instrument, MarketKind, VenueId
from venuelink.venue import WsEndpoint
from venuelink.ext.checksum import Checksum, ChecksumLayout
from venuelink.ext.feed import FeedSymbol, FrameParser
from venuelink.ext.ratelimit import Priority

_TRADE_COST = {
    "/api/v5/trade/order": ({"PRIVATE_2S": 1}, Priority.QUERY),
    "/api/v5/trade/cancel-order": ({"CANCEL_2S": 1}, Priority.CANCEL),
    "/api/v5/trade/cancel-batch-orders": ({"CANCEL_2S": 1}, Priority.CANCEL),
    "/api/v5/trade/amend-order": ({"AMEND_2S": 1, "SUBACCOUNT_ORDERS_2S": 1}, Priority.NEW_ORDER),
    "/api/v5/trade/cancel-all-after": ({"PRIVATE_2S": 1}, Priority.CANCEL),
}
_PLACE_COST = ({"PLACE_2S": 1, "SUBACCOUNT_ORDERS_2S": 1}, Priority.NEW_ORDER)

BOOKS_PATH = "/api/v5/market/books"

_CHANNEL = {Channel.BOOK: "books", Channel.TRADES: "trades", Channel.TOP: "bbo-tbt"}


def topic(channel: str, inst_id: str) -> str:
    """A subscription as one string, "channel:instId" (instIds never contain ':')."""
    return f"{channel}:{inst_id}"


# channels subscribed per instrument type, not per instrument: "channel:instType"
_BY_INST_TYPE = frozenset({"liquidation-orders"})


INDEX_CHANNEL = "index-tickers"


def index_of(inst: Instrument) -> str:
    """The index a swap is priced against, as index-tickers names it: its underlying (uly), which
    Instrument does not keep, derived from the instId instead (BTC-USDT-SWAP -> BTC-USDT,
    BTC-USD-SWAP -> BTC-USD: a swap's instId is always its underlying + "-SWAP")."""
    return inst.venue_symbol.removesuffix("-SWAP")


def topic_arg(t: str) -> dict[str, str]:
    channel, _, inst_id = t.partition(":")
    return {"channel": channel, "instType" if channel in _BY_INST_TYPE else "instId": inst_id}


class OkxAdapter(VenueAdapter):
    venue = VenueId.okx
    spec = SPEC
    instruments_path = INSTRUMENTS_PATH
    execution_class = "venuelink.adapters.okx.execution:OkxExecution"
    demo_by_flag = True            # demo trading: x-simulated-trading: 1 on REST, wspap.okx.com sockets

    def instrument_requests(self) -> list[tuple[str, dict[str, str]]]:
        return [(INSTRUMENTS_PATH, {"instType": t}) for t in INSTRUMENT_TYPES]

    def parse_instruments(self, body: bytes | dict) -> list[Instrument]:
        return parse_instruments(body, self.venue)

    wire = WIRE

    def checksum_for(self, inst: Instrument) -> Checksum | None:
        # bid1px:bid1sz:ask1px:ask1sz:bid2px:... over the first 25 levels of each side, the
        # shorter side's missing levels skipped; numbers as OKX writes them (no trailing zeros)
        return Checksum(CHECKSUM_DEPTH, ChecksumLayout.INTERLEAVED, ":", -1, -1)

    def topics(self, inst: Instrument, channels: tuple[Channel, ...]) -> list[str]:
        return [topic(_CHANNEL[c], inst.venue_symbol) for c in channels]

    def derivative_topics(self, inst: Instrument) -> list[str]:
        if inst.kind != MarketKind.SWAP:
            return []
        # liquidations come on one topic for all swaps: every swap names it, the engine
        # subscribes it once per connection; the index price comes by the swap's underlying
        return [topic(c, inst.venue_symbol) for c in ("mark-price", "funding-rate", "open-interest")] + \
            [topic(INDEX_CHANNEL, index_of(inst)), topic("liquidation-orders", "SWAP")]

    def subscribe_frames(self, ep: WsEndpoint, topics: list[str], req_id: int) -> list[str]:
        return [json.dumps({"id": str(req_id), "op": "subscribe", "args": [topic_arg(t) for t in topics]},
                           separators=(",", ":"))]

    def unsubscribe_frames(self, ep: WsEndpoint, topics: list[str], req_id: int) -> list[str]:
        return [json.dumps({"id": str(req_id), "op": "unsubscribe", "args": [topic_arg(t) for t in topics]},
                           separators=(",", ":"))]

    def classify_rest(self, path: str) -> tuple[RestKind, str | None]:
        parts = urlsplit(path)
        if parts.path == INSTRUMENTS_PATH:
            return RestKind.INSTRUMENTS, None
        if parts.path == BOOKS_PATH:
            return RestKind.SNAPSHOT, parse_qs(parts.query).get("instId", [None])[0]
        return RestKind.OTHER, None

    # the REST book is the starting point of every book, and its resync (GET /api/v5/market/books,
    # 400 levels, with the seqId that bridges it with the buffered updates)
    def snapshot_request(self, inst: Instrument) -> tuple[str, dict[str, str]]:
        return BOOKS_PATH, {"instId": inst.venue_symbol, "sz": str(SPEC.book.depth)}

    def snapshot_request_path(self) -> str:
        return BOOKS_PATH

    def apply_snapshot(self, parser: FrameParser, fs: FeedSymbol, body: bytes, ts_recv: int) -> int:
        return parser.on_snapshot(fs, body, ts_recv)

    def book_probe_request(self, inst: Instrument) -> tuple[str, dict[str, str]]:
        return BOOKS_PATH, {"instId": inst.venue_symbol, "sz": "25"}

    def rest_cost(self, method: str, path: str, params: dict[str, str] | None = None, order: Any = None):
        # order entry: per user id and instId (the request names its instrument), shared by REST
        # and WebSocket; new and amended orders also count against the sub-account cap
        if method == "POST" and path == "/api/v5/trade/order":
            return _PLACE_COST
        trade = _TRADE_COST.get(path)
        if trade is not None:
            return trade
        if path == "/api/v5/public/time":
            return {"PUBLIC_2S": 1}, Priority.QUERY
        if path == BOOKS_PATH:
            return {"BOOKS_2S": 1}, Priority.SNAPSHOT
        if path.startswith("/api/v5/public/") or path.startswith("/api/v5/market/"):
            return {"PUBLIC_2S": 1}, Priority.SNAPSHOT
        if path == STATUS_PATH:
            return {"PUBLIC_2S": 1}, Priority.QUERY
        return {"PRIVATE_2S": 1}, Priority.QUERY

    def map_error(self, resp):
        return errors.map_error(resp)

    def classify_response(self, resp):
        return errors.classify_response(resp)

    def status_request(self):
        return STATUS_PATH, {}

    def parse_status(self, body: bytes):
        return parse_status(body)

    def sign_example(self, kind: str, creds: Any, inputs: dict[str, Any]) -> str:
        from venuelink.adapters.okx import auth
        if kind == "rest":
            return auth.rest_headers(creds, inputs["method"], inputs["path"], inputs["body"],
                                     inputs["ts_ms"])["OK-ACCESS-SIGN"]
        if kind == "ws_login":
            return json.loads(auth.ws_login_frame(creds, inputs["ts_s"]))["args"][0]["sign"]
        raise ValueError(f"okx signs no {kind!r}")

    def make_execution(self, rest, creds, config):
        from venuelink.adapters.okx.execution import OkxExecution
        return OkxExecution(self, rest, creds, demo=config.demo)
