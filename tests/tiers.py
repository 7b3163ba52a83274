"""One venue, two tiers, one simulator: the engine configuration of a venue served natively (its
own adapter) or through the CCXT tier (CCXT's own client for the venue in the tier's worker,
every host of the exchange moved to the venue's simulator on loopback), for tests that run the
same checks over both side by side (ids ``binance-native``, ``binance-ccxt``, ...)."""
from __future__ import annotations

import urllib.request
from typing import Any

from venuelink import registry
from venuelink.config import VenueConfig

#: native venues whose CCXT client the tier is tested with against the venue's simulator:
#: CCXT host (as in its exchange.urls) -> the simulator's URL that serves it
CCXT_HOSTS = {
    "binance": lambda sim: {"api.binance.com": sim.rest_url, "stream.binance.com:9443": sim.ws_url,
                            "ws-api.binance.com:443": sim.ws_url},
    "okx": lambda sim: {"www.okx.com": sim.rest_url, "ws.okx.com:443": "ws://" + sim.rest_url.split("://", 1)[1]},
}
TIERS = ("native", "ccxt")
#: simulator options the CCXT tier needs for a venue beyond the native adapter's (none: OKX's books
#: as sent today, without a pushed snapshot, reach CCXT's client through the tier's REST snapshot,
#: venuelink.ccxt_tier.snapshots)
CCXT_SIM_OPTIONS: dict[str, dict[str, Any]] = {}


def sim_options(venue: str, tier: str) -> dict[str, Any]:
    """Options of the simulator a (venue, tier) case runs against (beyond the test's own)."""
    return CCXT_SIM_OPTIONS.get(venue, {}) if tier == "ccxt" else {}


def tier_cases(venues: list[str]) -> list[tuple[str, str]]:
    """(venue, tier) for every venue natively, and over the CCXT tier where its client is mapped."""
    return [(v, t) for v in venues for t in TIERS if t == "native" or v in CCXT_HOSTS]


def case_id(case: tuple[str, ...]) -> str:
    return "-".join(case)


def tier_config(venue: str, tier: str, sim: Any, symbols: list[str], **kw: Any) -> dict[str, Any]:
    """VenueConfig fields of ``venue`` on ``tier`` against its running simulator (besides name
    and symbols): the simulator's URLs for the native adapter; for the CCXT tier the exchange's
    hosts moved to the simulator, every other host closed, spot markets only."""
    if tier == "native":
        return {"rest_url": sim.rest_url, "ws_url": sim.ws_url, **kw}
    assert tier == "ccxt", tier
    return {"tier": "ccxt", "ccxt_isolate": True, "ccxt_hosts": CCXT_HOSTS[venue](sim),
            "ccxt_options": {"fetchMarkets": {"types": ["spot"]}}, **kw}


def venue_config(venue: str, tier: str, sim: Any, symbols: list[str], **kw: Any) -> VenueConfig:
    return VenueConfig(name=venue, symbols=list(symbols), **tier_config(venue, tier, sim, symbols, **kw))


def native_adapter(venue: str, sim: Any):
    """The venue's native adapter with the simulator's instruments: it knows the simulator's own
    names of symbols and topics (what its admin and fault API take), which the CCXT tier's
    instruments and topics do not (they carry CCXT's names)."""
    a = registry.create(venue)
    insts = []
    for url in a.instrument_urls():
        with urllib.request.urlopen(sim.rest_url.rstrip("/") + url, timeout=10) as r:
            insts += a.parse_instruments(r.read())
    a.set_instruments(insts)
    return a


def sim_symbols(venue: str, sim: Any) -> dict[str, str]:
    """Unified symbol -> the simulator's own name for it: the venue symbol, unless the simulator
    reports names of its own (``market_names``: Bybit's spot and linear BTCUSDT are two markets)."""
    names = sim.info.get("market_names") if hasattr(sim, "info") else None
    if names:
        return dict(names)
    return {sym: i.venue_symbol for sym, i in native_adapter(venue, sim).instruments.items()}
