# SPDX-License-Identifier: Apache-2.0
"""What a venue declares as data (VenueSpec) and helpers every adapter shares."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from urllib.parse import urlsplit

from venuelink.model import VenueId
from venuelink.ext.feed import TradeIds
from venuelink.ext.ratelimit import BucketKind
from venuelink.ext.sync import SeqRule


class SubscribeStyle(IntEnum):
    URL = 1          # topics in the connection URL (Binance combined streams); additions by message
    MESSAGE = 2      # subscribe frames after connecting (OKX, Bybit, Kraken, Coinbase)


class SnapshotSource(IntEnum):
    REST = 1         # GET a snapshot and replay the buffered deltas (Binance)
    IN_BAND = 2      # the venue sends the snapshot on the stream after a subscribe (OKX, Bybit, Kraken)


class ResyncMethod(IntEnum):
    REST_SNAPSHOT = 1   # fetch a new REST snapshot for that symbol
    RESUBSCRIBE = 2     # unsubscribe + subscribe that one topic on the live connection
    RECONNECT = 3       # no per-topic way: the connection starts over (every book on it resyncs)


@dataclass(frozen=True)
class PingSpec:
    """An application-level ping the venue requires (beyond WebSocket ping frames)."""
    frame: str                 # e.g. "ping" (OKX), '{"op":"ping"}' (Bybit)
    interval_s: float


@dataclass(frozen=True)
class WsEndpoint:
    """One kind of market-data connection. Instruments are grouped by endpoint (spot, linear,
    business, ...), then split over connections by max_topics_per_connection."""
    name: str
    url: str
    subscribe: SubscribeStyle = SubscribeStyle.MESSAGE
    max_topics_per_connection: int = 200
    max_topics_per_request: int = 50
    max_msgs_per_s: float = 5.0            # outbound messages per second per connection
    max_subscribe_ops_per_hour: int = 0    # subscribe/unsubscribe operations per connection (OKX 480)
    ack_timeout_s: float = 10.0
    ping: PingSpec | None = None
    server_ping_s: float = 0.0             # the venue pings this often and drops us if unanswered
    max_connection_age_s: float = 24 * 3600
    seamless_rotation: bool = False        # ids are global, not per connection: make-before-break
    stale_after_s: float = 10.0
    max_data_lag_s: float = 2.0            # exchange time this far behind our clock: the data is stale
    probe_after_s: float = 2.0             # a connection silent this long gets a WebSocket ping (0: never);
    probe_timeout_s: float = 2.0           # no frame at all within this after it: the peer is gone
                                           # (half-open TCP), reconnect without waiting for stale_after_s
    data_silence_s: float = 2.5            # no book message for any book of a connection this long: its
                                           # books are STALE, whatever pings and pongs do (venuelink.silence)
    book_quiet_s: float = 5.0              # one book without a message of its own this long while the
                                           # connection carries data: probed (REST book) before it is judged


@dataclass(frozen=True)
class BookSpec:
    """How a venue's L2 book is kept in sync. A sequence that counts per connection rather than
    per book (Coinbase) is checked by the parser with FrameParser.check_conn_seq(): a gap there
    invalidates every book of the connection, each resynced by `resync`."""
    seq_rule: SeqRule = SeqRule.SEQ_FIRST_LAST
    snapshot: SnapshotSource = SnapshotSource.REST
    resync: ResyncMethod = ResyncMethod.REST_SNAPSHOT
    depth: int = 0                 # levels kept per side (the subscribed depth; checksums cover it)
    checksum: bool = False         # the adapter gives each instrument a Checksum (checksum_for)
    snapshot_timeout_s: float = 10.0   # in-band: no snapshot this long after a subscribe -> resync again

    def __post_init__(self) -> None:
        if self.snapshot == SnapshotSource.IN_BAND and self.resync == ResyncMethod.REST_SNAPSHOT:
            raise ValueError("a venue whose snapshots come in-band cannot resync by REST snapshot")
        if self.seq_rule == SeqRule.SEQ_NONE and self.snapshot == SnapshotSource.REST:
            raise ValueError("SEQ_NONE books have no ids to bridge a REST snapshot with the stream")


@dataclass(frozen=True)
class ConnectInfo:
    """Where and how one connection attempt connects, as a venue's connect hook says (a token
    fetched over REST before every connect: KuCoin's bullet, Kraken's WebSocket token). The URL may
    hold that token: it is never in a repr or a log line (sessions log their name, never the URL)."""
    url: str
    ping_interval_s: float = 0.0    # the interval the venue gave for this connection (0: the endpoint's)

    def __repr__(self) -> str:
        return f"ConnectInfo(host={urlsplit(self.url).netloc!r}, ping_interval_s={self.ping_interval_s})"


class HeaderKind(IntEnum):
    """What the number in a bucket's usage header counts."""
    USED = 1            # units used in the current window (Binance X-MBX-USED-WEIGHT-1M)
    REMAINING = 2       # units left in the current window (Bybit X-Bapi-Limit-Status)


class BucketScope(IntEnum):
    """Whose requests a bucket counts."""
    IP = 1              # every request from this host (Binance REQUEST_WEIGHT)
    ACCOUNT = 2         # every request of the account / API key
    ENDPOINT = 3        # one endpoint of the account (Bybit per-UID per-endpoint, OKX per-endpoint)
    INSTRUMENT = 4      # one instrument: one bucket per (spec, instrument), made on first use
                        # (Kraken per-pair trading counter, OKX per-instId order limits)


@dataclass(frozen=True)
class BucketSpec:
    """One rate-limit bucket: `limit` units per `window_s` seconds of kind `kind`.

    `header` names the response header in which the venue reports its own count, and
    `header_kind` whether that number is the usage or what is left of `limit`. A header is
    folded into IP and ACCOUNT buckets on every answer that carries it, into ENDPOINT and
    INSTRUMENT buckets only on answers to requests that were charged to them (venues send
    the same header name for each endpoint's own limit).

    `reset_header` names a header with the time (ms since the epoch) at which the bucket's
    count resets (Bybit X-Bapi-Limit-Reset-Timestamp): when the usage header says the limit
    is used up, requests charged to this bucket wait until then."""
    name: str
    kind: BucketKind
    limit: int
    window_s: float
    headroom: float = 0.15
    header: str = ""
    header_kind: HeaderKind = HeaderKind.USED
    reset_header: str = ""
    scope: BucketScope = BucketScope.IP


@dataclass(frozen=True)
class VenueSpec:
    venue: VenueId
    rest_url: str
    ws_url: str
    ws_api_url: str = ""
    max_signed_inflight: int = 0        # signed REST requests in flight at once (0 = no own limit;
                                        # 1 where nonces must arrive in order, e.g. Kraken)
    buckets: tuple[BucketSpec, ...] = field(default_factory=tuple)
    endpoints: tuple[WsEndpoint, ...] = field(default_factory=tuple)
    book: BookSpec = field(default_factory=BookSpec)
    trade_ids: TradeIds = TradeIds.TRADE_IDS_INCREASING
    max_connects: int = 0                   # new WebSocket connections per IP per connect_window_s
    connect_window_s: float = 1.0           # (0: the venue states no cap), see venuelink.pacing
    ws_order_entry: bool = False            # orders are placed over the venue's WebSocket API (REST the fallback)
    retry_hint: bool = True                 # a rate refusal says when to retry (Retry-After, a retry
                                            # time); without one the engine waits out the bucket's window
    trade_ids_consecutive: bool = False     # ids go up by exactly one per trade and symbol: a jump is
                                            # a lost trade, backfilled from the recent-trades history
    md_auth: bool = False                   # market-data subscriptions are signed (Coinbase's JWT per
                                            # subscribe): they need the venue's credentials
    shutdown_notice: bool = False           # the venue announces a connection's close for an upgrade
                                            # (Binance serverShutdown, OKX 64008): moved from at once

    def endpoint(self, name: str) -> WsEndpoint:
        for e in self.endpoints:
            if e.name == name:
                return e
        raise KeyError(f"{self.venue.name}: no WebSocket endpoint {name!r}")


def log_skipped_instruments(venue: str, skipped: list[tuple[str, str]]) -> None:
    """Rows of an instruments answer an adapter could not read, as one warning per load (the
    count and the first few with their reason): such an instrument cannot be traded or booked,
    and saying so beats an instrument that silently is not there."""
    if skipped:
        import logging
        shown = "; ".join(f"{sym or '?'}: {why}" for sym, why in skipped[:5])
        logging.getLogger(f"venuelink.{venue}").warning(
            "%s instruments: %d row(s) skipped, unreadable (%s%s)", venue, len(skipped), shown,
            "; ..." if len(skipped) > 5 else "")


def min_mantissa(text: str, scale: int) -> int:
    """A venue's minimum ("5.00000000", "1e-7") as a mantissa at `scale`, rounded up when it is
    finer than the scale: at that scale, values at least the result are those at least the text."""
    from decimal import ROUND_CEILING, Decimal
    d = Decimal(text or "0")
    if not d.is_finite() or d < 0:
        raise ValueError(f"not a minimum: {text!r}")
    return int(d.scaleb(scale).to_integral_value(ROUND_CEILING))


def scale_of(step: str) -> int:
    """Fractional digits a tick/lot size needs: "0.01000000" -> 2, "1.00000000" -> 0, "1e-8" -> 8."""
    from decimal import Decimal
    d = Decimal(step).normalize()
    if d <= 0:
        raise ValueError(f"step must be positive: {step!r}")
    exp = d.as_tuple().exponent
    return max(0, -int(exp))
