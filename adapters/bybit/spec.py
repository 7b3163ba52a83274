# SPDX-License-Identifier: Apache-2.0
"""Bybit v5 as data: one public WebSocket per category (spot, linear), the subscribe limits, the
book rule, and the REST rate limits.

Facts from bybit-exchange.github.io/docs/v5 (WebSocket connect, orderbook, rate limit rules)."""
from venuelink.model import VenueId
from venuelink.venue import (BookSpec, BucketScope, BucketSpec, HeaderKind, PingSpec, ResyncMethod, SnapshotSource,
                          SubscribeStyle, VenueSpec, WsEndpoint)
from venuelink.ext.feed import TradeIds
from venuelink.ext.ratelimit import BucketKind
from venuelink.ext.sync import SeqRule

BOOK_DEPTH = 50           # orderbook.50: 50 levels per side, pushed every 20 ms (spot and linear alike)
CATEGORIES = ("spot", "linear")
PING = '{"op":"ping"}'

_LIMIT = "x-bapi-limit-status"                 # what is left of the endpoint's limit in this window
_RESET = "x-bapi-limit-reset-timestamp"        # when that window ends (ms)


def _endpoint(name: str, limit: int) -> BucketSpec:
    return BucketSpec(name, BucketKind.FIXED_WINDOW, limit, 1, header=_LIMIT, header_kind=HeaderKind.REMAINING,
                      reset_header=_RESET, scope=BucketScope.ENDPOINT)


def _public(category: str, per_request: int) -> WsEndpoint:
    return WsEndpoint(
        category, f"wss://stream.bybit.com/v5/public/{category}",
        subscribe=SubscribeStyle.MESSAGE,
        # the args of one connection may not exceed 21,000 characters ("orderbook.50.BTCUSDT"
        # is 20): 300 topics stay well inside it
        max_topics_per_connection=300,
        max_topics_per_request=per_request,
        max_msgs_per_s=10,
        ping=PingSpec(PING, 20.0),             # recommended every 20 s; silence for 10 min is cut
        max_connection_age_s=24 * 3600,
        seamless_rotation=True,                # u and seq are per topic, the same on every connection
        stale_after_s=10.0)


SPEC = VenueSpec(
    venue=VenueId.bybit,
    rest_url="https://api.bybit.com",
    ws_url="wss://stream.bybit.com",             # the base of every stream path (/v5/public/<category>)
    ws_api_url="wss://stream.bybit.com/v5/private",
    endpoints=(_public("spot", 10),            # spot takes at most 10 args per subscribe request
               _public("linear", 50)),
    # The snapshot comes in the stream after subscribing, and again whenever Bybit sends one (it
    # replaces the book); u == 1 is a restarted service's whole book. Bybit documents no gap rule:
    # u counts the topic's pushes one by one, so a delta is applied only when its u is the
    # book's + 1 (Span.CONSECUTIVE: prev = u - 1); anything else resubscribes that topic for a
    # fresh snapshot. No checksum is published.
    book=BookSpec(SeqRule.SEQ_PREV, SnapshotSource.IN_BAND, ResyncMethod.RESUBSCRIBE, depth=BOOK_DEPTH,
                  snapshot_timeout_s=5.0),
    trade_ids=TradeIds.TRADE_IDS_OPAQUE,       # spot ids are numbers, derivatives' UUIDs: kept as text
    max_connects=500, connect_window_s=300.0,  # 500 connections per 5 minutes per domain
    # 10006 names its endpoint's window reset (one bucket waits: RateLimited.buckets_only); no
    # answer carries a Retry-After, and the IP limit's 403 bans for 10 minutes
    retry_hint=False,
    ws_order_entry=True,                       # /v5/trade: order.create / amend / cancel, REST the fallback
    buckets=(
        # every REST request of this host: 600 per 5 s; beyond it HTTP 403 and a ban of 10 minutes
        BucketSpec("IP_5S", BucketKind.FIXED_WINDOW, 600, 5, headroom=0.25),
        # per UID and endpoint, 1-s windows, synced from X-Bapi-Limit-Status / -Reset-Timestamp;
        # order endpoints count spot apart from derivatives (20/s and 10/s by default)
        *(_endpoint(name, n) for name, n in (("CREATE_1S", 10), ("CANCEL_1S", 10), ("AMEND_1S", 10),
                                             ("SPOT_CREATE_1S", 20), ("SPOT_CANCEL_1S", 20), ("SPOT_AMEND_1S", 20),
                                             ("QUERY_1S", 50))),
    ),
)

INSTRUMENTS_PATH = "/v5/market/instruments-info"
BOOK_PATH = "/v5/market/orderbook"
STATUS_TOPIC = "system.status"
