"""The engine's real detection and recovery timers (venuelink.config.Timers) are the numbers the README
documents, and compressed time (``Timers().scaled(k)``, which the fault matrix and the session tests
run on) can never reach a production engine: a config file cannot set it, a default VenueConfig
carries the real timers, and the drill runs on them unless told otherwise (the soak)."""
import dataclasses
from pathlib import Path

import pytest

from venuelink import registry
from venuelink.config import ENDPOINT_DETECTION_TIMERS, Config, Timers, VenueConfig, load_config
from venuelink.tools.drill import Drill
from venuelink.engine import Engine
from venuelink.errors import ConfigError
from venuelink.rest import RestClient
from venuelink.session import WsSession
from venuelink.venue import PingSpec, WsEndpoint

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_the_real_timers_are_the_documented_ones():
    t = Timers()
    assert t.endpoint_scale == 1.0
    assert (t.silence_tick_s, t.silence_grace_s) == (0.25, 1.0)
    assert (t.reconnect_min_s, t.reconnect_max_s) == (0.1, 30.0)
    assert (t.planned_reconnect_max_s, t.backoff_reset_s) == (2.0, 30.0)
    # README: "snapshots retried (0.25 s doubling to 2 s)", "market-data breaker opens (1-4 s)"
    assert (t.snapshot_retry_s, t.snapshot_retry_max_s, t.quiet_snapshot_s) == (0.25, 2.0, 1.0)
    assert (t.md_breaker_cooldown_s, t.md_breaker_max_cooldown_s) == (1.0, 4.0)
    assert "snapshots retried (0.25 s doubling to 2 s)" in README
    assert "market-data breaker opens (1-4 s)" in README


def test_the_endpoint_detection_defaults_are_the_documented_ones():
    ep = WsEndpoint("default", "ws://x")
    want = {"stale_after_s": 10.0, "max_data_lag_s": 2.0, "probe_after_s": 2.0, "probe_timeout_s": 2.0,
            "data_silence_s": 2.5, "book_quiet_s": 5.0}
    assert {n: getattr(ep, n) for n in ENDPOINT_DETECTION_TIMERS} == want
    for name, v in want.items():
        if name != "stale_after_s":          # the README names the others with their value
            assert f"`{name}` ({v:g} s)" in README, name


def test_the_real_timers_leave_every_venue_endpoint_as_its_spec_says():
    for vid in registry.ADAPTERS:
        for ep in registry.create(vid).spec.endpoints:
            assert Timers().endpoint(ep) is ep


def test_the_engine_timer_defaults_elsewhere_agree():
    """Code that builds a session, a REST client or a silence watch without the engine's Timers
    uses the same numbers."""
    t = Timers()
    kw = WsSession.__init__.__kwdefaults__
    assert (kw["backoff_min_s"], kw["backoff_max_s"]) == (t.reconnect_min_s, t.reconnect_max_s)
    assert (kw["planned_reconnect_max_s"], kw["backoff_reset_s"]) == (t.planned_reconnect_max_s, t.backoff_reset_s)
    assert kw["stale_after_s"] == WsEndpoint("default", "ws://x").stale_after_s
    rest = RestClient("x", "http://127.0.0.1:1", None, map_error=lambda r: None)
    assert (rest.md_breaker.base_cooldown_s, rest.md_breaker.max_cooldown_s) == (t.md_breaker_cooldown_s,
                                                                                 t.md_breaker_max_cooldown_s)


async def test_a_default_venue_config_runs_the_engine_on_the_real_timers():
    vc = VenueConfig(name="binance", rest_url="http://127.0.0.1:1", ws_url="ws://127.0.0.1:1")
    assert vc.timers == Timers()
    eng = Engine(Config(venues={"binance": vc}, metrics_port=0))
    rt = eng.runtime("binance")
    assert rt.timers == Timers()
    assert (rt.silence.tick_s, rt.silence.grace_s) == (0.25, 1.0)
    assert (rt.rest.md_breaker.base_cooldown_s, rt.rest.md_breaker.max_cooldown_s) == (1.0, 4.0)
    await eng.close()


def test_a_config_file_cannot_set_the_timers(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[venues.binance]\nrest_url = "http://127.0.0.1:1"\nws_url = "ws://127.0.0.1:1"\n'
                   'timers = { endpoint_scale = 0.1 }\n')
    with pytest.raises(ConfigError, match="unknown keys"):
        load_config(cfg)


def test_the_drill_runs_on_the_real_timers_unless_told():
    assert Drill("binance", None).timers == Timers()
    assert Drill("binance", None, time_scale=0.4).timers == Timers().scaled(0.4)


def test_scaled_multiplies_every_timer_and_only_the_engines_own():
    t = Timers().scaled(0.4)
    for f in dataclasses.fields(Timers):
        assert getattr(t, f.name) == pytest.approx(getattr(Timers(), f.name) * 0.4), f.name
    assert Timers().scaled(1.0) == Timers()
    for k in (0.0, -1.0, 1.5):
        with pytest.raises(ValueError):
            Timers().scaled(k)
    ep = WsEndpoint("public", "ws://x", ping=PingSpec("ping", 25.0), server_ping_s=20.0, max_msgs_per_s=3.0,
                    max_subscribe_ops_per_hour=480)
    fast = t.endpoint(ep)
    for f in dataclasses.fields(WsEndpoint):
        have, was = getattr(fast, f.name), getattr(ep, f.name)
        if f.name in ENDPOINT_DETECTION_TIMERS:
            assert have == pytest.approx(was * 0.4), f.name
        else:                   # the venue's facts: its pings, connection age, message rates, ack wait
            assert have == was, f.name
