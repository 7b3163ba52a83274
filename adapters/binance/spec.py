# SPDX-License-Identifier: Apache-2.0
"""Binance spot as data: endpoints, stream limits, request weights, rate-limit buckets.

Facts from binance-spot-api-docs (rest-api.md, web-socket-streams.md, web-socket-api.md).
"""
from venuelink.venue import (BookSpec, BucketScope, BucketSpec, ResyncMethod, SnapshotSource, SubscribeStyle, VenueSpec,
                          WsEndpoint)
from venuelink.model import VenueId
from venuelink.ext.ratelimit import BucketKind, Priority
from venuelink.ext.sync import SeqRule

SPEC = VenueSpec(
    venue=VenueId.binance,
    shutdown_notice=True,                  # serverShutdown before a service upgrade closes a connection
    rest_url="https://api.binance.com",
    ws_url="wss://stream.binance.com:9443",
    ws_api_url="wss://ws-api.binance.com:443/ws-api/v3",
    trade_ids_consecutive=True,            # per symbol, as /api/v3/historicalTrades?fromId pages them
    max_connects=300, connect_window_s=300.0,   # new connections per IP per 5 minutes
    endpoints=(
        WsEndpoint(
            "public", "wss://stream.binance.com:9443",
            subscribe=SubscribeStyle.URL,      # /stream?streams=a/b/c; later additions by SUBSCRIBE
            max_topics_per_connection=1024,
            max_topics_per_request=200,
            max_msgs_per_s=5,                  # messages we send; more disconnects, repeated -> IP ban
            server_ping_s=20,                  # a pong must follow within a minute
            max_connection_age_s=24 * 3600,    # the venue closes connections after 24 h: we rotate before
            seamless_rotation=True,            # update ids and trade ids are per symbol, not per connection
            stale_after_s=10.0),               # the server pings every 20 s; data flows far more often
    ),
    book=BookSpec(SeqRule.SEQ_FIRST_LAST, SnapshotSource.REST, ResyncMethod.REST_SNAPSHOT),
    buckets=(
        # per IP request weight per minute, aligned to the minute (X-MBX-USED-WEIGHT-1M)
        BucketSpec("REQUEST_WEIGHT", BucketKind.FIXED_WINDOW, 6000, 60, header="x-mbx-used-weight-1m"),
        # per account unfilled order count (X-MBX-ORDER-COUNT-10S / -1D)
        BucketSpec("ORDERS_10S", BucketKind.FIXED_WINDOW, 100, 10, header="x-mbx-order-count-10s",
                   scope=BucketScope.ACCOUNT),
        BucketSpec("ORDERS_1D", BucketKind.FIXED_WINDOW, 200000, 86400, header="x-mbx-order-count-1d",
                   scope=BucketScope.ACCOUNT),
        BucketSpec("RAW_REQUESTS_5M", BucketKind.FIXED_WINDOW, 61000, 300),
    ),
)

# (method, path) -> ({bucket: weight}, priority). Depth weight depends on limit: see depth_weight().
ENDPOINTS = {
    ("GET", "/api/v3/exchangeInfo"): ({"REQUEST_WEIGHT": 20, "RAW_REQUESTS_5M": 1}, Priority.QUERY),
    ("GET", "/api/v3/time"): ({"REQUEST_WEIGHT": 1, "RAW_REQUESTS_5M": 1}, Priority.QUERY),
    ("POST", "/api/v3/order"): ({"REQUEST_WEIGHT": 1, "ORDERS_10S": 1, "ORDERS_1D": 1, "RAW_REQUESTS_5M": 1},
                                Priority.NEW_ORDER),
    ("DELETE", "/api/v3/order"): ({"REQUEST_WEIGHT": 1, "RAW_REQUESTS_5M": 1}, Priority.CANCEL),
    # cancel every open order of one symbol (the venue's cancel-all; `symbol` is mandatory)
    ("DELETE", "/api/v3/openOrders"): ({"REQUEST_WEIGHT": 1, "RAW_REQUESTS_5M": 1}, Priority.CANCEL),
    ("GET", "/api/v3/order"): ({"REQUEST_WEIGHT": 4, "RAW_REQUESTS_5M": 1}, Priority.QUERY),
    ("GET", "/api/v3/openOrders"): ({"REQUEST_WEIGHT": 6, "RAW_REQUESTS_5M": 1}, Priority.QUERY),
    ("GET", "/api/v3/myTrades"): ({"REQUEST_WEIGHT": 20, "RAW_REQUESTS_5M": 1}, Priority.QUERY),
    ("GET", "/api/v3/account"): ({"REQUEST_WEIGHT": 20, "RAW_REQUESTS_5M": 1}, Priority.QUERY),
}

OPEN_ORDERS_ALL_WEIGHT = 80           # openOrders without a symbol
SNAPSHOT_LIMIT = 1000                 # levels requested per snapshot (weight 50)


def depth_weight(limit: int) -> int:
    """GET /api/v3/depth weight by limit band: 1-100: 5, 101-500: 25, 501-1000: 50, 1001-5000: 250."""
    if limit <= 100:
        return 5
    if limit <= 500:
        return 25
    if limit <= 1000:
        return 50
    return 250
