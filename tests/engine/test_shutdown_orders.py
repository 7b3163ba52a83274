"""At shutdown the engine cancels what is open and checks it with the venue: the private socket
silent, disconnected or holding order acks, the cancels go over REST (the venue's cancel-all or
its batches); what the venue could not confirm closed is named, and `venuelink run --strategy`
then exits non-zero listing those client ids. Real simulators, no mocks; every wait bounded."""
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from venuelink.config import Config, VenueConfig
from venuelink.engine import Engine
from venuelink.model import OrderRequest, OrderState, OrderType, Side, VenueId
from venuelink.sim.server import running_simulator
from tests.engine.test_binance_engine import wait_for

VENUES = ["binance", "okx"]
CANCEL_S = 4.0


@pytest.fixture(scope="module", params=VENUES)
def vsim(request):
    with running_simulator(request.param, rate=20, seed=5) as s:
        yield request.param, s


def _admin(sim, method: str, path: str, body=None):
    req = urllib.request.Request(f"{sim['admin_url']}{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


def _open_at_venue(sim) -> list[dict]:
    return _admin(sim, "GET", "/account")["openOrders"]


def _config(venue: str, sim) -> VenueConfig:
    tag = venue.upper()
    os.environ[f"VL_SD_{tag}_KEY"] = sim["api_key"]
    os.environ[f"VL_SD_{tag}_SECRET"] = sim["api_secret"]
    extra = {}
    if sim.info.get("api_passphrase"):
        os.environ[f"VL_SD_{tag}_PHRASE"] = sim.info["api_passphrase"]
        extra["api_passphrase_env"] = f"VL_SD_{tag}_PHRASE"
    return VenueConfig(name=venue, rest_url=sim.rest_url, ws_url=sim.ws_url, ws_api_url=sim["ws_api_url"],
                       api_key_env=f"VL_SD_{tag}_KEY", api_secret_env=f"VL_SD_{tag}_SECRET",
                       symbols=["BTC/USDT"], request_timeout_s=2.0, **extra)


def _bid(venue: str, price: str = "1000") -> OrderRequest:
    return OrderRequest(VenueId.parse(venue), "BTC/USDT", Side.BUY, OrderType.LIMIT, "0.001", price)


FAULTS = {
    "silence": [{"type": "silence", "enabled": True}],
    "acks_held": [{"type": "order", "mode": "timeout", "hold_s": 60}],
    "user_socket_gone": [{"type": "disconnect", "scope": "user", "close_frame": False}],
}


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_shutdown_cancels_resting_orders_over_rest_when_the_socket_fails(vsim, fault):
    venue, sim = vsim
    _admin(sim, "POST", "/fault", {"type": "clear"})
    eng = Engine(Config(venues={venue: _config(venue, sim)}, metrics_port=0))
    placing = None
    before = {o["orderId"] for o in _open_at_venue(sim)}     # left by another case: not this one's
    try:
        await eng.start(market_data=False)
        rt = eng.runtime(venue)
        assert await wait_for(lambda: rt.execution.stream_connected, 10)
        resting = [await eng.place(_bid(venue, px)) for px in ("1000", "1001")]
        assert all(o.state is OrderState.NEW for o in resting), resting
        for f in FAULTS[fault]:
            _admin(sim, "POST", "/fault", f)
        if fault == "acks_held":
            # a third order the venue takes but does not answer; the caller gives up on it (as
            # a strategy cancelled at SIGINT does): open at the venue, UNKNOWN here
            n = len(_open_at_venue(sim))
            placing = asyncio.ensure_future(eng.place(_bid(venue, "1002")))
            assert await wait_for(lambda: len(_open_at_venue(sim)) > n, 10)
            placing.cancel()
            await asyncio.gather(placing, return_exceptions=True)
        else:
            await asyncio.sleep(0.3)
        mine = [o for o in _open_at_venue(sim) if o["orderId"] not in before]
        assert len(mine) == (3 if fault == "acks_held" else 2), mine
        left = await asyncio.wait_for(eng.cancel_open_orders(CANCEL_S), CANCEL_S + 10)
        assert left == {}, left
        assert [o for o in _open_at_venue(sim) if o["orderId"] not in before] == []
        assert all(o.state.is_final for o in resting), resting
    finally:
        _admin(sim, "POST", "/fault", {"type": "clear"})
        await eng.close()


async def test_shutdown_with_rest_refusing_too_names_the_open_orders(vsim):
    venue, sim = vsim
    _admin(sim, "POST", "/fault", {"type": "clear"})
    eng = Engine(Config(venues={venue: _config(venue, sim)}, metrics_port=0))
    rt = eng.runtime(venue)
    before = {o["orderId"] for o in _open_at_venue(sim)}
    try:
        await eng.start(market_data=False)
        assert await wait_for(lambda: rt.execution.stream_connected, 10)
        orders = [await eng.place(_bid(venue, px)) for px in ("1000", "1001")]
        _admin(sim, "POST", "/fault", {"type": "silence", "enabled": True})
        _admin(sim, "POST", "/fault", {"type": "http_error", "status": 503, "count": 10_000})
        left = await asyncio.wait_for(eng.cancel_open_orders(2.0), 20)
        assert left == {venue: sorted(o.client_order_id for o in orders)}, left
        at_venue = {o["clientOrderId"] for o in _open_at_venue(sim) if o["orderId"] not in before}
        assert at_venue == set(left[venue])
    finally:
        _admin(sim, "POST", "/fault", {"type": "clear"})
        for o in list(rt.orders.open_orders()) if rt.orders is not None else []:
            await eng.cancel(venue, o.client_order_id)
        await eng.close()


def _start_run(tmp_path, venue, sim) -> subprocess.Popen:
    """`venuelink run --strategy` against the simulator (the strategy quotes its first symbol)."""
    cfg = tmp_path / "run.toml"
    phrase = 'api_passphrase_env = "VL_RUN_PHRASE"' if sim.info.get("api_passphrase") else ""
    cfg.write_text(f"""
[venues.{venue}]
rest_url = "{sim.rest_url}"
ws_url = "{sim.ws_url}"
ws_api_url = "{sim['ws_api_url']}"
api_key_env = "VL_RUN_KEY"
api_secret_env = "VL_RUN_SECRET"
{phrase}
symbols = ["BTC/USDT"]
request_timeout_s = 2.0
""")
    env = {**os.environ, "VL_RUN_KEY": sim["api_key"], "VL_RUN_SECRET": sim["api_secret"],
           "VL_RUN_PHRASE": sim.info.get("api_passphrase", "")}
    return subprocess.Popen([sys.executable, "-m", "venuelink.tools.cli", "run", "--config", str(cfg), "--strategy", "--plain",
                             "--metrics-port", "0", "--cancel-timeout", "3"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _until_quote_rests(p: subprocess.Popen, sim) -> None:
    deadline = time.monotonic() + 30
    while not _open_at_venue(sim):
        assert p.poll() is None and time.monotonic() < deadline, p.stderr.read() if p.poll() else "timeout"
        time.sleep(0.2)


def _stop(p: subprocess.Popen, sig: signal.Signals) -> tuple[str, str]:
    try:
        p.send_signal(sig)
        return p.communicate(timeout=40)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()


@pytest.mark.parametrize("venue", VENUES)
def test_run_strategy_sigint_while_the_venue_holds_the_ack_leaves_nothing_open(tmp_path, venue):
    """The strategy's first quote is taken by the venue, its answer held; SIGINT: the order the
    engine knows only as UNKNOWN is cancelled all the same, and the exit is clean."""
    with running_simulator(venue, rate=1, seed=5) as sim:
        _admin(sim, "POST", "/fault", {"type": "order", "mode": "timeout", "hold_s": 60})
        p = _start_run(tmp_path, venue, sim)
        _until_quote_rests(p, sim)
        out, err = _stop(p, signal.SIGINT)
        assert _open_at_venue(sim) == [], err[-3000:]
        assert p.returncode == 0, (p.returncode, err[-3000:])
        assert "possibly still open" not in err and "Traceback" not in err, err[-3000:]


@pytest.mark.parametrize("venue", VENUES)
def test_run_strategy_exits_nonzero_and_prints_the_orders_possibly_open(tmp_path, venue):
    """SIGTERM while the venue's REST is in maintenance and its sockets are gone: the orders the
    strategy has resting cannot be cancelled; the exit says which, and is not 0. A slow market
    (its own simulator), so that the quote rests rather than fills."""
    with running_simulator(venue, rate=1, seed=5) as sim:
        p = _start_run(tmp_path, venue, sim)
        _until_quote_rests(p, sim)
        _admin(sim, "POST", "/fault", {"type": "maintenance", "enabled": True})
        time.sleep(0.3)
        out, err = _stop(p, signal.SIGTERM)
        _admin(sim, "POST", "/fault", {"type": "clear"})
        at_venue = _open_at_venue(sim)
    assert at_venue, "the maintenance should have kept the quote open"
    assert p.returncode == 3, (p.returncode, err[-3000:])
    assert "Traceback" not in err, err[-3000:]
    line = next((ln for ln in err.splitlines() if ln.startswith("venuelink:") and "possibly still open" in ln), "")
    assert f"at {venue}" in line, err[-3000:]
    printed = set(line.split("canceled): ", 1)[-1].split(";")[0].split())
    assert {o["clientOrderId"] for o in at_venue} <= printed, (printed, at_venue)
