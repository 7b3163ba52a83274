# SPDX-License-Identifier: Apache-2.0
"""What a venue declares as data (VenueSpec) and helpers every adapter shares."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from engine.model import VenueId
from ext.ratelimit import BucketKind


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
    max_streams_per_connection: int = 200
    max_ws_messages_per_s: int = 5
    max_connection_age_s: float = 24 * 3600
    server_ping_interval_s: float = 20
    stale_after_s: float = 10.0
    seamless_rotation: bool = False     # ids are global, not per connection: rotate make-before-break
    max_signed_inflight: int = 0        # signed REST requests in flight at once (0 = no own limit;
                                        # 1 where nonces must arrive in order, e.g. Kraken)
    buckets: tuple[BucketSpec, ...] = field(default_factory=tuple)


def scale_of(step: str) -> int:
    """Fractional digits a tick/lot size needs: "0.01000000" -> 2, "1.00000000" -> 0, "1e-8" -> 8."""
    from decimal import Decimal
    d = Decimal(step).normalize()
    if d <= 0:
        raise ValueError(f"step must be positive: {step!r}")
    exp = d.as_tuple().exponent
    return max(0, -int(exp))
