import logging
import os
import pickle

import pytest

from venuelink.config import Secret, load_config
from venuelink.errors import ConfigError

BASE = """
[venues.binance]
rest_url = "https://api.binance.com"
ws_url = "wss://stream.binance.com:9443"
"""


def write(tmp_path, text, name="c.toml", mode=0o600):
    p = tmp_path / name
    p.write_text(text)
    os.chmod(p, mode)
    return p


def test_env_credentials_and_redaction(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("K_ENV", "my-api-key-123")
    monkeypatch.setenv("S_ENV", "my-api-secret-456")
    cfg = load_config(write(tmp_path, BASE + 'api_key_env = "K_ENV"\napi_secret_env = "S_ENV"\n'))
    creds = cfg.venues["binance"].credentials()
    assert creds.api_key.reveal() == "my-api-key-123"
    logging.getLogger("t").warning("creds %s %r %s", creds, creds, f"{creds.api_secret}")
    text = repr(cfg) + str(creds) + repr(creds) + caplog.text + f"{creds.api_key}"
    assert "my-api-key-123" not in text and "my-api-secret-456" not in text
    with pytest.raises(TypeError):
        pickle.dumps(creds.api_secret)


def test_missing_env_is_clear(tmp_path, monkeypatch, caplog):
    monkeypatch.delenv("NOPE_K", raising=False)
    monkeypatch.delenv("NOPE_S", raising=False)
    cfg = load_config(write(tmp_path, BASE + 'api_key_env = "NOPE_K"\napi_secret_env = "NOPE_S"\n'))
    # every credential variable unset (an empty credentials.env): market data only, said once
    assert cfg.venues["binance"].credentials() is None and cfg.venues["binance"].credentials() is None
    said = [r.getMessage() for r in caplog.records if "market data only" in r.getMessage()]
    assert said == ["binance: NOPE_K and NOPE_S not set: market data only, no orders"]
    monkeypatch.setenv("NOPE_K", "k")           # one of the two set: the message names the other only
    monkeypatch.delenv("NOPE_S", raising=False)
    with pytest.raises(ConfigError, match=r"binance: NOPE_S not set") as e:
        cfg.venues["binance"].credentials()
    assert "NOPE_K" not in str(e.value)
    # no credentials at all: market data only, not an error
    assert load_config(write(tmp_path, BASE)).venues["binance"].credentials() is None


def test_secrets_file_must_be_0600(tmp_path):
    sec = write(tmp_path, 'api_key = "k-abc"\napi_secret = "s-def"\n', "sec.toml", 0o644)
    cfg = load_config(write(tmp_path, BASE + f'secrets_file = "{sec}"\n'))
    with pytest.raises(ConfigError, match="readable by others.*chmod 600") as ei:
        cfg.venues["binance"].credentials()
    assert "s-def" not in str(ei.value)
    os.chmod(sec, 0o600)
    assert cfg.venues["binance"].credentials().api_secret.reveal() == "s-def"


def test_bad_configs(tmp_path):
    with pytest.raises(ConfigError, match="unknown keys"):
        load_config(write(tmp_path, BASE + 'api_kye_env = "X"\n'))
    with pytest.raises(ConfigError, match=r"\[venues.nosuchvenue\]: unknown venue"):
        load_config(write(tmp_path, BASE.replace("binance", "nosuchvenue")))
    with pytest.raises(ConfigError, match="needs ws_url"):
        load_config(write(tmp_path, '[venues.binance]\nrest_url = "x"\n'))
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml")
    for bad in ("0.5", "true", '"30"', "7200"):
        with pytest.raises(ConfigError, match="order_audit_s"):
            load_config(write(tmp_path, BASE + f"order_audit_s = {bad}\n"))
    assert load_config(write(tmp_path, BASE + "order_audit_s = 0\n")).venues["binance"].order_audit_s == 0
    assert load_config(write(tmp_path, BASE)).venues["binance"].order_audit_s == 30.0
    for bad in ("-1", "5001", "true", '"250"'):
        with pytest.raises(ConfigError, match="rate_window_edge_ms must be 0..5000 ms"):
            load_config(write(tmp_path, BASE + f"rate_window_edge_ms = {bad}\n"))
    assert load_config(write(tmp_path, BASE + "rate_window_edge_ms = 40\n")).venues["binance"].rate_window_edge_ms == 40


def test_misspelled_tables_and_keys_are_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown table\(s\) or key\(s\) \['metricz'\]"):
        load_config(write(tmp_path, BASE + "[metricz]\nport = 9000\n"))
    with pytest.raises(ConfigError, match=r"\[metrics\]: unknown keys \['prot'\]"):
        load_config(write(tmp_path, BASE + "[metrics]\nprot = 9000\n"))
    for bad in ("70000", "-1", '"9000"', "true", "1.5"):
        with pytest.raises(ConfigError, match="port must be an integer 0..65535"):
            load_config(write(tmp_path, BASE + f"[metrics]\nport = {bad}\n"))
    with pytest.raises(ConfigError, match="host must be"):
        load_config(write(tmp_path, BASE + "[metrics]\nhost = 5\n"))
    c = load_config(write(tmp_path, BASE + '[metrics]\nport = 0\nhost = "0.0.0.0"\n'))
    assert (c.metrics_port, c.metrics_host) == (0, "0.0.0.0")


def test_secret_is_opaque():
    s = Secret("abc")
    assert "abc" not in repr(s) and "abc" not in str(s) and "abc" not in f"{s}" and s.reveal() == "abc"


async def test_demo_goes_to_a_venue_with_a_demo_flag_and_is_refused_elsewhere(sim):
    """OKX's execution sends its demo header when demo = true; Binance's test network is other
    URLs, so demo = true there is refused at start rather than silently trading production."""
    import dataclasses

    from venuelink import registry
    from venuelink.config import Config, Credentials
    from venuelink.engine import Engine
    from tests.engine.conftest import venue_config
    okx = registry.create("okx")
    creds = Credentials(Secret("k"), Secret("s"), None, Secret("p"))
    vc = dataclasses.replace(venue_config(sim), name="okx", demo=True)
    assert okx.make_execution(None, creds, vc).demo is True
    assert okx.make_execution(None, creds, dataclasses.replace(vc, demo=False)).demo is False
    eng = Engine(Config(venues={"binance": dataclasses.replace(venue_config(sim), demo=True)}, metrics_port=0))
    try:
        with pytest.raises(ConfigError, match="binance has no demo flag"):
            await eng.start()
    finally:
        await eng.close()


def test_an_unknown_venue_names_the_venues_that_run_today(tmp_path):
    with pytest.raises(ConfigError, match=r"\[venues.nosuch\]: unknown venue 'nosuch'; the venues that run today: "
                                          r"binance, .*okx") as e:
        load_config(write(tmp_path, '[venues.nosuch]\nsymbols = ["BTC/USD"]\n'))
    assert "bitmex" not in str(e.value)          # CCXT no longer ships it: it cannot run


def test_a_market_data_only_adapter_is_the_default_without_keys_and_the_ccxt_tier_with_them(tmp_path, monkeypatch):
    """A native adapter without order entry yet serves the venue's market data by default; a
    table that configures keys (it means to trade) gets the CCXT tier, and asking for the native
    tier with keys is refused with what to do."""
    from venuelink import catalog, registry
    from venuelink.model import VenueId
    monkeypatch.setattr(catalog, "MARKET_DATA_ONLY", {VenueId.okx})
    assert not registry.trades("okx") and "okx" not in registry.trading() and "okx" in registry.available()
    urls = 'rest_url = "https://www.okx.com"\nws_url = "wss://ws.okx.com:8443/ws/v5/public"\n'
    md = load_config(write(tmp_path, '[venues.okx]\nsymbols = ["BTC/USDT"]\n' + urls))
    assert md.venues["okx"].tier == "native"
    keyed = '[venues.okx]\nsymbols = ["BTC/USDT"]\napi_key_env = "K"\napi_secret_env = "S"\n'
    assert load_config(write(tmp_path, keyed)).venues["okx"].tier == "ccxt"
    with pytest.raises(ConfigError, match="market data only so far: drop the keys, or trade it with tier"):
        load_config(write(tmp_path, keyed + urls + 'tier = "native"\n'))
    monkeypatch.setattr(catalog, "MARKET_DATA_ONLY", set())
    assert load_config(write(tmp_path, keyed + urls)).venues["okx"].tier == "native"
