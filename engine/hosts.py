# SPDX-License-Identifier: Apache-2.0
"""What the runtime's pieces (status, silence, backfill, open interest, availability) need of
their venue's runtime, as protocols: each piece names the part it uses, and none imports the
runtime (venuelink.engine's VenueRuntime satisfies them all)."""
from __future__ import annotations

from typing import Protocol

from venuelink.adapter import VenueAdapter
from venuelink.ext.feed import FeedSymbol, FrameParser
from venuelink.model import VenueId
from venuelink.rest import RestClient


class VenueHost(Protocol):
    """The venue, its adapter and its REST client."""
    venue: VenueId
    adapter: VenueAdapter
    rest: RestClient


class FeedHost(VenueHost, Protocol):
    """... and its books: each streamed symbol's feed state and the parser of its book."""
    fs_by_symbol: dict[str, FeedSymbol]
    parser_of: dict[str, FrameParser]
