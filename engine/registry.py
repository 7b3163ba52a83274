# SPDX-License-Identifier: Apache-2.0
"""Venue id -> adapter class, from the venues' manifests (adapters/<venue>/__init__.py, read
by engine.manifests); `register` adds others at run time."""
from __future__ import annotations

import importlib

from engine.config import VenueConfig
from engine.model import VenueId

def _from_manifests() -> dict[VenueId, str | type]:
    from engine.manifests import manifests
    return {VenueId.parse(m.venue): m.adapter for m in manifests()}


ADAPTERS: dict[VenueId, str | type] = _from_manifests()


def available() -> list[str]:
    return [v.name for v in ADAPTERS]


def register(venue: str | VenueId, adapter: str | type) -> VenueId:
    """Add (or replace) a venue's adapter: a class or "module:Class". An unknown name becomes a
    new VenueId (a long-tail venue)."""
    vid = venue if isinstance(venue, VenueId) else VenueId.register(venue)
    ADAPTERS[vid] = adapter
    return vid


def venue_id(venue: str | VenueId) -> VenueId:
    return VenueId.parse(venue)


def create(venue: str | VenueId, config: VenueConfig | None = None):
    """The venue's adapter: its native one, or the CCXT tier's (engine.ccxt_tier) when the config
    says tier = "ccxt" or, given a config, when the venue has no native adapter."""
    vid = venue if isinstance(venue, VenueId) else VenueId.parse(venue)
    target = ADAPTERS.get(vid)
    if config is not None and (config.tier == "ccxt" or (target is None and config.tier != "native")):
        from engine.ccxt_tier.adapter import CcxtAdapter
        return CcxtAdapter(config)
    if target is None:
        raise ValueError(f"venue {vid.name!r} has no adapter yet; available: {', '.join(available())}")
    if isinstance(target, type):
        return target(config)
    mod, cls = target.split(":")
    return getattr(importlib.import_module(mod), cls)(config)
