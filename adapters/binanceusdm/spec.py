# SPDX-License-Identifier: Apache-2.0
"""Binance USD-M futures as data: the split stream endpoints, the pu book rule, rate buckets and
request weights.

Facts from Binance's USD-M futures documentation (WebSocket market streams, "How to manage a local
order book correctly", general info on limits). Since the 2026 stream URL split, books and
best bid/offer come on ``/public``, aggregate trades, mark prices and liquidations on ``/market``,
user data on ``/private``; a stream subscribed on the wrong one yields nothing.
"""
from venuelink.model import VenueId
from venuelink.venue import (BookSpec, BucketScope, BucketSpec, ResyncMethod, SnapshotSource, SubscribeStyle, VenueSpec,
                          WsEndpoint)
from venuelink.ext.ratelimit import BucketKind, Priority
from venuelink.ext.sync import SeqRule

REST_URL = "https://fapi.binance.com"
WS_BASE = "wss://fstream.binance.com"
WS_API_URL = "wss://ws-fapi.binance.com/ws-fapi/v1"
"""order entry over the WebSocket API (the venue config's endpoint ``ws_api`` moves it)"""
WS_API_PATH = "/ws-fapi/v1"


def _endpoint(name: str) -> WsEndpoint:
    return WsEndpoint(
        name, f"{WS_BASE}/{name}",
        subscribe=SubscribeStyle.URL,          # /<name>/stream?streams=a/b/c; later additions by SUBSCRIBE
        max_topics_per_connection=1024,
        max_topics_per_request=200,
        max_msgs_per_s=10,                     # messages we send; more disconnects
        server_ping_s=180,                     # the server pings every 3 min; no pong for 10 min: closed
        max_connection_age_s=24 * 3600,
        seamless_rotation=True,                # update ids and trade ids are per symbol, not per connection
        stale_after_s=10.0)


SPEC = VenueSpec(
    venue=VenueId.binanceusdm,
    shutdown_notice=True,                  # serverShutdown before a service upgrade closes a connection
    rest_url=REST_URL,
    ws_url=WS_BASE,                        # the base of every stream path: /public, /market, /private
    ws_api_url=f"{WS_BASE}/private",       # the user data stream (a listen key names the connection)
    ws_order_entry=True,                   # orders over the WebSocket API (WS_API_URL), REST the fallback
    trade_ids_consecutive=True,            # aggregate trade ids, per symbol, as /fapi/v1/aggTrades pages them
    max_connects=300, connect_window_s=300.0,
    endpoints=(_endpoint("public"), _endpoint("market")),
    # pu: each update names the previous one's u; the first after the REST snapshot straddles it
    # (U <= lastUpdateId <= u)
    book=BookSpec(SeqRule.SEQ_PREV, SnapshotSource.REST, ResyncMethod.REST_SNAPSHOT),
    buckets=(
        # per IP request weight per minute (X-MBX-USED-WEIGHT-1M)
        BucketSpec("REQUEST_WEIGHT", BucketKind.FIXED_WINDOW, 2400, 60, header="x-mbx-used-weight-1m"),
        # per account order counts (X-MBX-ORDER-COUNT-10S / -1M)
        BucketSpec("ORDERS_10S", BucketKind.FIXED_WINDOW, 300, 10, header="x-mbx-order-count-10s",
                   scope=BucketScope.ACCOUNT),
        BucketSpec("ORDERS_1M", BucketKind.FIXED_WINDOW, 1200, 60, header="x-mbx-order-count-1m",
                   scope=BucketScope.ACCOUNT),
    ),
)

ORDER = {"REQUEST_WEIGHT": 0, "ORDERS_10S": 1, "ORDERS_1M": 1}
# (method, path) -> ({bucket: weight}, priority). Depth weight depends on limit: see depth_weight().
ENDPOINTS = {
    ("GET", "/fapi/v1/exchangeInfo"): ({"REQUEST_WEIGHT": 1}, Priority.QUERY),
    ("GET", "/fapi/v1/time"): ({"REQUEST_WEIGHT": 1}, Priority.QUERY),
    ("POST", "/fapi/v1/order"): (ORDER, Priority.NEW_ORDER),
    ("PUT", "/fapi/v1/order"): (ORDER, Priority.NEW_ORDER),
    ("DELETE", "/fapi/v1/order"): ({"REQUEST_WEIGHT": 1}, Priority.CANCEL),
    ("DELETE", "/fapi/v1/allOpenOrders"): ({"REQUEST_WEIGHT": 1}, Priority.CANCEL),
    ("POST", "/fapi/v1/countdownCancelAll"): ({"REQUEST_WEIGHT": 10}, Priority.CANCEL),
    ("GET", "/fapi/v1/order"): ({"REQUEST_WEIGHT": 1}, Priority.QUERY),
    ("GET", "/fapi/v1/openOrders"): ({"REQUEST_WEIGHT": 1}, Priority.QUERY),
    ("GET", "/fapi/v1/userTrades"): ({"REQUEST_WEIGHT": 5}, Priority.QUERY),
    ("GET", "/fapi/v2/balance"): ({"REQUEST_WEIGHT": 5}, Priority.QUERY),
    ("GET", "/fapi/v3/positionRisk"): ({"REQUEST_WEIGHT": 5}, Priority.QUERY),
    ("GET", "/fapi/v1/openInterest"): ({"REQUEST_WEIGHT": 1}, Priority.QUERY),
    ("POST", "/fapi/v1/listenKey"): ({"REQUEST_WEIGHT": 1}, Priority.QUERY),
    ("PUT", "/fapi/v1/listenKey"): ({"REQUEST_WEIGHT": 1}, Priority.QUERY),
    ("DELETE", "/fapi/v1/listenKey"): ({"REQUEST_WEIGHT": 1}, Priority.QUERY),
    ("GET", "/fapi/v1/aggTrades"): ({"REQUEST_WEIGHT": 20}, Priority.SNAPSHOT),
}

#: WebSocket API method -> the REST request it stands for: the same parameters, weights and order
#: counts, the same answer
WS_METHODS = {
    "order.place": ("POST", "/fapi/v1/order"),
    "order.modify": ("PUT", "/fapi/v1/order"),
    "order.cancel": ("DELETE", "/fapi/v1/order"),
    "order.status": ("GET", "/fapi/v1/order"),
}

OPEN_ORDERS_ALL_WEIGHT = 40           # openOrders without a symbol
SNAPSHOT_LIMIT = 1000                 # levels requested per snapshot (weight 20)
AGG_TRADES_LIMIT = 1000


def depth_weight(limit: int) -> int:
    """GET /fapi/v1/depth weight by limit: 5-50: 2, 100: 5, 500: 10, 1000: 20."""
    if limit <= 50:
        return 2
    if limit <= 100:
        return 5
    if limit <= 500:
        return 10
    return 20
