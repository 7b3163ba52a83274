# SPDX-License-Identifier: Apache-2.0
"""Engine configurations against the built-in simulators, for the tools (``venuelink run`` without
a config, ``venuelink sim``, the drill and the soak), the example strategy and the tests: a
venue's first instruments as its adapter reads them from the simulator, a venue config pointing
at a running simulator with its credentials passed in the environment."""
from __future__ import annotations

import contextlib
import os
import urllib.request
from typing import Any

from venuelink import registry
from venuelink.config import Config, VenueConfig
from venuelink.errors import ConfigError
from venuelink.sim.server import SIMULATORS, running_simulator


def passphrase_env(venue: str, info: dict[str, Any]) -> dict[str, str]:
    """For a simulator whose start-up report carries ``api_passphrase``: the passphrase put into
    VENUELINK_SIM_<VENUE>_PASSPHRASE and the config field naming it (nothing otherwise)."""
    if not info.get("api_passphrase"):
        return {}
    env = f"VENUELINK_SIM_{venue.upper()}_PASSPHRASE"
    os.environ[env] = info["api_passphrase"]
    return {"api_passphrase_env": env}


def venue_config_for(venue: str, sim: Any, symbols: list[str], **kw: Any) -> VenueConfig:
    """A venue config pointing at a running simulator, its credentials passed in the environment."""
    key_env, secret_env = f"VENUELINK_SIM_{venue.upper()}_KEY", f"VENUELINK_SIM_{venue.upper()}_SECRET"
    os.environ[key_env], os.environ[secret_env] = sim["api_key"], sim["api_secret"]
    extra = {"ws_api_url": sim["ws_api_url"]} if "ws_api_url" in sim.info else {}
    extra.update(passphrase_env(venue, sim.info))
    return VenueConfig(name=venue, rest_url=sim.rest_url, ws_url=sim.ws_url, api_key_env=key_env,
                       api_secret_env=secret_env, symbols=list(symbols), **extra, **kw)


def first_symbols(venue: str, rest_url: str, n: int) -> list[str]:
    """Unified symbols of the first `n` trading instruments, as the venue's adapter reads them
    from the (simulated) venue's own instruments endpoint."""
    adapter = registry.create(venue)
    insts = []
    for url in adapter.instrument_urls():
        with urllib.request.urlopen(rest_url.rstrip("/") + url, timeout=10) as r:
            insts += adapter.parse_instruments(r.read())
    return [i.symbol for i in insts if i.active][:n]


def sim_config(venues: list[str], rate: int, stack: contextlib.ExitStack) -> Config:
    """A config for ``venues`` (every simulator's by default), each against a built-in simulator
    started in ``stack`` at ``rate`` batches per second; credentials go into the environment."""
    names = venues or list(SIMULATORS)
    cfg = Config(venues={})
    for v in names:
        if v not in SIMULATORS:
            raise ConfigError(f"no built-in simulator for {v!r}; available: {', '.join(SIMULATORS)}")
        sim = stack.enter_context(running_simulator(v, rate=rate))
        syms = first_symbols(v, sim.rest_url, 3)
        if not registry.trades(v):              # market data only: no keys, no private stream
            cfg.venues[v] = VenueConfig(name=v, rest_url=sim.rest_url, ws_url=sim.ws_url, symbols=syms)
            continue
        key_env, secret_env = f"VENUELINK_SIM_{v.upper()}_KEY", f"VENUELINK_SIM_{v.upper()}_SECRET"
        os.environ[key_env], os.environ[secret_env] = sim["api_key"], sim["api_secret"]
        cfg.venues[v] = VenueConfig(name=v, rest_url=sim.rest_url, ws_url=sim.ws_url,
                                    ws_api_url=sim["ws_api_url"], api_key_env=key_env, api_secret_env=secret_env,
                                    symbols=syms, **passphrase_env(v, sim.info))
    return cfg
