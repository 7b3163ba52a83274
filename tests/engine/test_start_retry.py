"""A venue that cannot be reached at start does not stop the others: with retry_unreachable (what
`venuelink run` uses) it is retried in the background, its reason (the URL and the error) is kept
for the live view and the log, and it starts once it can be reached."""
import socket

import pytest

from venuelink.config import Config, VenueConfig
from venuelink.engine import Engine
from venuelink.rest import Unreachable
from venuelink.sim.server import in_process_simulator, running_simulator
from tests.waiting import wait_for


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _okx_at(port: int) -> VenueConfig:
    return VenueConfig(name="okx", rest_url=f"http://127.0.0.1:{port}", ws_url=f"ws://127.0.0.1:{port}/ws/v5/public",
                       symbols=["BTC/USDT"], request_timeout_s=2.0)


async def test_an_unreachable_venue_is_retried_while_the_others_run(caplog):
    port = _free_port()
    with running_simulator("binance", rate=20) as bsim:
        cfg = Config(venues={"binance": VenueConfig(name="binance", rest_url=bsim.rest_url, ws_url=bsim.ws_url,
                                                    symbols=["BTC/USDT"]),
                             "okx": _okx_at(port)}, metrics_port=0)
        eng = Engine(cfg)
        try:
            await eng.start(execution=False, retry_unreachable=True)
            assert eng.started == ["binance"]
            okx = eng.runtime("okx")
            assert f"cannot connect to http://127.0.0.1:{port}" in okx.start_error
            assert any(f"127.0.0.1:{port}" in r.getMessage() and "retrying" in r.getMessage()
                       for r in caplog.records)
            assert await wait_for(lambda: eng.runtime("binance").fs_by_symbol["BTC/USDT"].sync.is_live, 10)
            async with in_process_simulator("okx", port=port, rate=20):
                assert await wait_for(lambda: "okx" in eng.started, 15)
                assert await wait_for(lambda: okx.fs_by_symbol["BTC/USDT"].sync.is_live, 10)
                assert okx.start_error == ""
        finally:
            await eng.close()


async def test_without_retry_an_unreachable_venue_fails_the_start_naming_its_url():
    port = _free_port()
    eng = Engine(Config(venues={"okx": _okx_at(port)}, metrics_port=0))
    try:
        with pytest.raises(Unreachable, match=f"cannot connect to http://127.0.0.1:{port}"):
            await eng.start(execution=False)
        assert eng.started == []
    finally:
        await eng.close()
