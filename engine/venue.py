# SPDX-License-Identifier: Apache-2.0
"""What a venue declares as data (VenueSpec) and helpers every adapter shares."""
from __future__ import annotations

from dataclasses import dataclass, field

from engine.model import VenueId
from ext.ratelimit import BucketKind


@dataclass(frozen=True)
class BucketSpec:
    """One rate-limit bucket: `limit` units per `window_s` seconds of kind `kind`.
    `header` names the response header in which the venue reports its own count."""
    name: str
    kind: BucketKind
    limit: int
    window_s: float
    headroom: float = 0.15
    header: str = ""


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
    buckets: tuple[BucketSpec, ...] = field(default_factory=tuple)


def scale_of(step: str) -> int:
    """Fractional digits a tick/lot size needs: "0.01000000" -> 2, "1.00000000" -> 0, "1e-8" -> 8."""
    from decimal import Decimal
    d = Decimal(step).normalize()
    if d <= 0:
        raise ValueError(f"step must be positive: {step!r}")
    exp = d.as_tuple().exponent
    return max(0, -int(exp))
