# SPDX-License-Identifier: Apache-2.0
"""Every registered venue's simulator states its command line, config and report once, as an
``venuelink.sim.dialect.SimDialect`` (``SIM``), and the engine derives the rest from it."""
import argparse
import dataclasses
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from venuelink import registry
from venuelink.sim.app import SimApp, SimConfig, add_sim_args, base_report
from venuelink.sim.dialect import SimDialect
from venuelink.sim.server import SIMULATORS, add_common_args, in_process_simulator

ROOT = Path(__file__).resolve().parents[2]
VENUES = registry.available()

COMMON = ("--host", "--port", "--rate", "--seed", "--levels", "--ping-interval", "--max-inbound-per-s",
          "--exit-with-parent", "--log-level", "--symbols", "--maker-fee", "--leverage", "--max-topics",
          "--sub-ops", "--limit")
# a few options each venue must keep (a venue not listed is held to the generic checks only)
OWN = {
    "binance": ("--api-key", "--api-secret", "--ed25519-public-key", "--depth-fast-ms", "--depth-slow-ms",
                "--weight-limit", "--raw-5m"),
    "binanceusdm": ("--api-key", "--depth-fast-ms", "--depth-mid-ms", "--mark-fast-ms", "--mark-slow-ms",
                    "--force-orders-per-min", "--listen-key-validity-s", "--orders-1m"),
    "okx": ("--api-key", "--api-passphrase", "--idle-timeout-s", "--legacy-books", "--book-keepalive-s",
            "--shutdown-close-s", "--place-limit"),
}
REPORT_EXTRAS = {
    "binance": ("ws_api_url", "api_key", "api_secret"),
    "binanceusdm": ("ws_public_url", "ws_market_url", "ws_private_url", "ws_api_url", "ws_fapi_url", "api_key"),
    "okx": ("public_ws_url", "private_ws_url", "ws_api_url", "api_key", "api_passphrase"),
}
# options that configure the process, not the venue (no config field behind them)
PROCESS_OPTIONS = {"host", "port", "exit_with_parent", "log_level", "help", "limit"}


def dialect(venue: str) -> SimDialect:
    return importlib.import_module(SIMULATORS[venue]).SIM


def own_options(sim: SimDialect) -> dict[str, argparse.Action]:
    """The venue's options: those of its parser beyond the ones every simulator has."""
    bare = add_sim_args(add_common_args(argparse.ArgumentParser()), SimConfig)
    common = {s for a in bare._actions for s in a.option_strings}
    return {a.option_strings[-1]: a for a in sim.arg_parser()._actions
            if a.option_strings and not set(a.option_strings) & common}


def changed(value):
    """A value of the same type as ``value`` that differs from it."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 3
    return str(value) + "x"


def test_every_registered_venue_has_a_simulator_description():
    assert VENUES
    for venue in VENUES:
        sim = dialect(venue)
        assert isinstance(sim, SimDialect) and sim.venue == venue
        assert issubclass(sim.config, SimConfig) and sim.title
        assert isinstance(sim.app(sim.config()), SimApp)
        assert sim.prog == f"python -m {SIMULATORS[venue]}"
        mod = importlib.import_module(SIMULATORS[venue])
        for gone in ("build_arg_parser", "config_from_args", "config_from_options", "report", "create_app", "main"):
            assert not hasattr(mod, gone), f"{venue}: {gone} is derived from SIM, not written again"


@pytest.mark.parametrize("venue", VENUES)
def test_help_lists_the_common_options_and_the_venues_own(venue):
    out = subprocess.run([sys.executable, "-m", SIMULATORS[venue], "--help"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, check=True).stdout
    assert out.startswith(f"usage: python -m {SIMULATORS[venue]} ")
    assert dialect(venue).title in out
    for opt in COMMON + OWN.get(venue, ()):
        assert f"{opt} " in out or f"{opt}\n" in out, f"{venue} --help lacks {opt}"
    assert own_options(dialect(venue)).keys() >= set(OWN.get(venue, ()))


@pytest.mark.parametrize("venue", VENUES)
def test_every_option_reaches_the_config(venue):
    sim = dialect(venue)
    names = {f.name for f in dataclasses.fields(sim.config)} | set(sim.config.LIMIT_OPTIONS)
    for a in sim.arg_parser()._actions:
        assert a.dest in names | PROCESS_OPTIONS, f"{venue}: --{a.dest} sets nothing in {sim.config.__name__}"


@pytest.mark.parametrize("venue", VENUES)
def test_config_from_options_round_trips(venue):
    sim = dialect(venue)
    d = sim.config()
    assert sim.config_from_options() == d
    c = sim.config_from_options(seed=d.seed + 6, symbols=d.symbols[:1], limit={"SOME_BUCKET": 7})
    assert (c.seed, c.symbols, c.limits) == (d.seed + 6, d.symbols[:1], {"SOME_BUCKET": 7})
    own = {a.dest: a for a in own_options(sim).values() if a.dest in {f.name for f in dataclasses.fields(d)}}
    assert own, f"{venue} has no option of its own"
    for dest in own:
        v = changed(getattr(d, dest))
        assert getattr(sim.config_from_options(**{dest: v}), dest) == v != getattr(d, dest), dest
    for opt, bucket in sim.config.LIMIT_OPTIONS.items():
        assert sim.config_from_options(**{opt: 9}).limits == {bucket: 9}
    # the parsed command line gives the same config as the keyword options
    argv = ["--seed", str(d.seed + 6), "--symbols", d.symbols[0], "--limit", "SOME_BUCKET=7"]
    assert sim.config_from_args(sim.arg_parser().parse_args(argv)) == c
    with pytest.raises(TypeError, match=venue):
        sim.config_from_options(no_such_option=1)


@pytest.mark.parametrize("venue", VENUES)
def test_report_has_the_urls_and_the_venues_extras(venue):
    sim = dialect(venue)
    config = sim.config()
    r = sim.report("127.0.0.1", 4321, config)
    assert r["rest_url"] == "http://127.0.0.1:4321"
    assert r["ws_url"].startswith("ws://127.0.0.1:4321")
    assert r["admin_url"] == "http://127.0.0.1:4321/__sim" and r["symbols"] == config.symbols
    extras = dict(sim.report_extra("127.0.0.1", 4321, config)) if sim.report_extra else {}
    assert set(r) == set(base_report("127.0.0.1", 4321, config)) | set(extras)
    assert {k: r[k] for k in extras} == extras
    assert set(REPORT_EXTRAS.get(venue, ())) <= set(extras), f"{venue} report lost keys"
    for k, v in r.items():
        if k.endswith("_url"):
            assert v.split("://", 1)[1].startswith("127.0.0.1:4321"), (k, v)
    json.dumps(r)                                   # printed as one JSON line


@pytest.mark.parametrize("venue", VENUES)
async def test_the_runner_serves_what_the_description_says(venue):
    sim = dialect(venue)
    async with in_process_simulator(venue, rate=5, seed=4) as run:
        assert run.venue == venue and run.info["rest_url"] == f"http://127.0.0.1:{run.port}"
        assert set(run.info) == {"venue", "pid"} | set(sim.report("127.0.0.1", run.port, sim.config()))
        app = run.sim_app
        assert isinstance(app, SimApp) and type(app) is type(sim.app(sim.config()))
        assert (app.config.seed, app.config.rate) == (4, 5)
