# SPDX-License-Identifier: Apache-2.0
"""OKX v5 as data: public market-data endpoint, subscribe pacing, book rules, rate buckets.

Facts from okx.com/docs-v5 (WebSocket overview, order book channel, rate limits)."""
from venuelink.model import VenueId
from venuelink.venue import (BookSpec, BucketScope, BucketSpec, PingSpec, ResyncMethod, SnapshotSource, SubscribeStyle,
                          VenueSpec, WsEndpoint)
from venuelink.ext.ratelimit import BucketKind
from venuelink.ext.sync import SeqRule

BOOK_DEPTH = 400          # the `books` channel: 400 levels of incremental updates; the REST book sz=400
CHECKSUM_DEPTH = 25       # the CRC covers the first 25 levels of each side

SPEC = VenueSpec(
    venue=VenueId.okx,
    shutdown_notice=True,                  # 64008 before a service upgrade closes a connection
    rest_url="https://www.okx.com",
    ws_url="wss://ws.okx.com:8443",
    # the private stream (login, `orders` channel) and WebSocket order entry: set it as the
    # venue's ws_api_url to enable them
    ws_api_url="wss://ws.okx.com:8443/ws/v5/private",
    endpoints=(
        WsEndpoint(
            "public", "wss://ws.okx.com:8443/ws/v5/public",
            subscribe=SubscribeStyle.MESSAGE,
            max_topics_per_connection=240,     # the args of one request are capped at 64 KB; kept well below
            max_topics_per_request=20,
            max_msgs_per_s=3,                  # stays inside 480 subscribe/unsubscribe/login ops per hour
            max_subscribe_ops_per_hour=480,
            ping=PingSpec("ping", 25.0),       # text "ping" before 30 s of silence; "pong" comes back
            max_connection_age_s=24 * 3600,
            seamless_rotation=True,            # seqId is per channel+instId, the same on every connection
            stale_after_s=10.0),
    ),
    # prevSeqId == previous seqId. The book starts from GET /api/v5/market/books (its seqId bridges
    # the buffered updates: prevSeqId <= snapshot seqId < seqId) since OKX stopped pushing a snapshot
    # and the checksum on `books` (production, early August 2026); a snapshot still pushed is used as
    # well. A gap re-fetches that book's snapshot while the stream keeps flowing. A checksum field
    # of 0 (or none) is "not provided"; a nonzero one is compared.
    book=BookSpec(SeqRule.SEQ_PREV, SnapshotSource.REST, ResyncMethod.REST_SNAPSHOT, depth=BOOK_DEPTH,
                  checksum=True),
    max_connects=3, connect_window_s=1.0,   # new connections: 3 per second per IP
    # 50011 / 429 says nothing of when to retry: the engine waits out the bucket's 2-s window
    retry_hint=False,
    ws_order_entry=True,
    buckets=(
        # public REST: per IP, per endpoint, 20 requests / 2 s (instruments, status, trades)
        BucketSpec("PUBLIC_2S", BucketKind.FIXED_WINDOW, 20, 2),
        # GET /api/v5/market/books: 40 requests / 2 s per IP (book snapshots and silence probes)
        BucketSpec("BOOKS_2S", BucketKind.FIXED_WINDOW, 40, 2),
        # place order: 60 / 2 s per user id and instId, shared by REST and WebSocket
        BucketSpec("PLACE_2S", BucketKind.FIXED_WINDOW, 60, 2, scope=BucketScope.INSTRUMENT),
        BucketSpec("CANCEL_2S", BucketKind.FIXED_WINDOW, 60, 2, scope=BucketScope.INSTRUMENT),
        BucketSpec("AMEND_2S", BucketKind.FIXED_WINDOW, 60, 2, scope=BucketScope.INSTRUMENT),
        # sub-account cap: 1000 new + amended orders / 2 s (50061)
        BucketSpec("SUBACCOUNT_ORDERS_2S", BucketKind.FIXED_WINDOW, 1000, 2, scope=BucketScope.ACCOUNT),
        # private REST queries per user id
        BucketSpec("PRIVATE_2S", BucketKind.FIXED_WINDOW, 60, 2, scope=BucketScope.ACCOUNT),
    ),
)

INSTRUMENTS_PATH = "/api/v5/public/instruments"
INSTRUMENT_TYPES = ("SPOT", "SWAP")    # one request per instType
