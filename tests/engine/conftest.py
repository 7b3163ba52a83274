import contextlib
import os

import aiohttp
import pytest

from venuelink.config import Config, VenueConfig
from venuelink.engine import Engine
from venuelink.sim.server import running_simulator


@pytest.fixture(scope="module")
def sim():
    with running_simulator("binance", rate=200, seed=11, depth_fast_ms=10) as s:
        yield s


def venue_config(sim, *, secret: str | None = None, symbols=("BTC/USDT",)) -> VenueConfig:
    os.environ["VL_TEST_KEY"] = sim["api_key"]
    os.environ["VL_TEST_SECRET"] = secret if secret is not None else sim["api_secret"]
    return VenueConfig(name="binance", rest_url=sim.rest_url, ws_url=sim.ws_url, ws_api_url=sim["ws_api_url"],
                       api_key_env="VL_TEST_KEY", api_secret_env="VL_TEST_SECRET", symbols=list(symbols),
                       request_timeout_s=3.0)


def cli_config(tmp_path, sim, extra: str = "", venue: str = "binance"):
    """A venues.toml for `venuelink order ...` against a venue's simulator (credentials from
    VL_CLI_KEY / VL_CLI_SECRET, and VL_CLI_PASSPHRASE where the venue's keys have one)."""
    cfg = tmp_path / "c.toml"
    phrase = 'api_passphrase_env = "VL_CLI_PASSPHRASE"' if "api_passphrase" in sim.info else ""
    cfg.write_text(f"""
[venues.{venue}]
rest_url = "{sim.rest_url}"
ws_url = "{sim.ws_url}"
ws_api_url = "{sim['ws_api_url']}"
api_key_env = "VL_CLI_KEY"
api_secret_env = "VL_CLI_SECRET"
{phrase}
{extra}""")
    return cfg


@contextlib.asynccontextmanager
async def engine_for(sim, **kw):
    eng = Engine(Config(venues={"binance": venue_config(sim, **kw)}, metrics_port=0))
    try:
        yield eng
    finally:
        await eng.close()


async def admin(sim, method: str, path: str, body=None):
    async with aiohttp.ClientSession() as s:
        async with s.request(method, f"{sim['admin_url']}{path}", json=body) as r:
            assert r.status == 200, await r.text()
            return await r.json()


def count_reconciles(rt) -> list:
    """The runtime's order reconciliations from now on: one entry per call of its manager's
    reconcile (which still runs)."""
    calls: list = []
    orig = rt.orders.reconcile

    async def spy(*a, **k):
        calls.append(1)
        return await orig(*a, **k)
    rt.orders.reconcile = spy
    return calls
