# SPDX-License-Identifier: Apache-2.0
"""Venue id -> adapter: the native adapter a venue's manifest names (venuelink.catalog), or the
CCXT tier's; `register` adds others at run time."""
from __future__ import annotations

import importlib

from venuelink.catalog import ADAPTERS, available, register, trades, trading, venue_id
from venuelink.config import VenueConfig
from venuelink.model import VenueId

__all__ = ["ADAPTERS", "available", "create", "register", "trades", "trading", "venue_id"]


def create(venue: str | VenueId, config: VenueConfig | None = None):
    """The venue's adapter: its native one, or the CCXT tier's (venuelink.ccxt_tier) when the config
    says tier = "ccxt" or, given a config, when the venue has no native adapter."""
    vid = venue if isinstance(venue, VenueId) else VenueId.parse(venue)
    target = ADAPTERS.get(vid)
    if config is not None and (config.tier == "ccxt" or (target is None and config.tier != "native")):
        from venuelink.ccxt_tier.adapter import CcxtAdapter
        return CcxtAdapter(config)
    if target is None:
        raise ValueError(f"venue {vid.name!r} has no adapter yet; available: {', '.join(available())}")
    if isinstance(target, type):
        return target(config)
    mod, cls = target.split(":")
    return getattr(importlib.import_module(mod), cls)(config)
