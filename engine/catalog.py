# SPDX-License-Identifier: Apache-2.0
"""The venues with a native adapter, from their manifests (adapters/<venue>/__init__.py, read by
venuelink.manifests as files): which venues there are, which of them trade. Plain data about the
venues, importing neither the adapters nor the configuration (which consults it to choose a
venue's tier); venuelink.registry builds adapters from it. `register` adds others at run time."""
from __future__ import annotations

from venuelink.model import VenueId


def _from_manifests() -> tuple[dict[VenueId, str | type], set[VenueId]]:
    from venuelink.manifests import manifests
    found = manifests()
    return ({VenueId.parse(m.venue): m.adapter for m in found},
            {VenueId.parse(m.venue) for m in found if not m.orders})


ADAPTERS, MARKET_DATA_ONLY = _from_manifests()
"""native adapters; those of them without order entry yet (their venue trades through the CCXT tier)"""


def available() -> list[str]:
    """Every venue with a native adapter (market data at least)."""
    return [v.name for v in ADAPTERS]


def trading() -> list[str]:
    """The native adapters that place orders."""
    return [v.name for v in ADAPTERS if v not in MARKET_DATA_ONLY]


def trades(venue: str | VenueId) -> bool:
    vid = venue if isinstance(venue, VenueId) else VenueId.parse(venue)
    return vid in ADAPTERS and vid not in MARKET_DATA_ONLY


def register(venue: str | VenueId, adapter: str | type) -> VenueId:
    """Add (or replace) a venue's adapter: a class or "module:Class". An unknown name becomes a
    new VenueId (a long-tail venue)."""
    vid = venue if isinstance(venue, VenueId) else VenueId.register(venue)
    ADAPTERS[vid] = adapter
    return vid


def venue_id(venue: str | VenueId) -> VenueId:
    return VenueId.parse(venue)
