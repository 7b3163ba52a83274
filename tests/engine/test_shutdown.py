"""Every close path is bounded: a hung peer or a hung REST request never holds shutdown.

These are hang checks with a generous bound, not speed claims."""
import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from venuelink import tasks
from venuelink.config import Config
from venuelink.engine import Engine
from venuelink.model import OrderRequest, OrderType, Side, VenueId
from venuelink.sim.server import running_simulator
from tests.engine.conftest import admin, cli_config, venue_config
from tests.engine.test_binance_engine import wait_for

BOUND_S = 10.0


async def test_stuck_task_is_abandoned_with_a_count(caplog):
    release = asyncio.Event()

    async def deaf():
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                pass                      # ignores cancellation: the kind of task that hung shutdown
    t = asyncio.ensure_future(deaf())
    await asyncio.sleep(0)
    before = tasks.abandoned_tasks
    t0 = time.monotonic()
    assert await tasks.cancel_and_wait(t, timeout_s=0.3) is False
    assert time.monotonic() - t0 < BOUND_S
    assert tasks.abandoned_tasks == before + 1
    assert "abandoned" in caplog.text
    done = asyncio.ensure_future(asyncio.sleep(3600))
    await asyncio.sleep(0)
    assert await tasks.cancel_and_wait(done) is True
    assert await tasks.bounded(asyncio.sleep(3600), "sleeper", timeout_s=0.2) is False
    assert tasks.abandoned_tasks == before + 2
    release.set()                         # a real stuck task would stay behind: that is the point
    await t


async def test_close_with_every_connection_silent(sim):
    eng = Engine(Config(venues={"binance": venue_config(sim)}, metrics_port=0))
    try:
        await eng.start()
        rt = eng.runtime("binance")
        assert await wait_for(lambda: rt.execution.stream_connected and rt.sessions[0].listener is not None
                              and rt.sessions[0].listener.n_frames > 10, 20)
        await admin(sim, "POST", "/fault", {"type": "silence", "enabled": True})
        await asyncio.sleep(0.5)
        t0 = time.monotonic()
        await asyncio.wait_for(eng.close(), BOUND_S * 3)   # a hang fails here, not in the next test
        assert time.monotonic() - t0 < BOUND_S
    finally:
        await admin(sim, "POST", "/fault", {"type": "clear"})
        await eng.close()


async def test_close_with_a_rest_request_hanging(sim):
    vc = venue_config(sim)
    vc.request_timeout_s = 60.0            # the request itself would wait for the venue's answer
    eng = Engine(Config(venues={"binance": vc}, metrics_port=0))
    place = None
    try:
        await eng.start(market_data=False)
        rt = eng.runtime("binance")
        await admin(sim, "POST", "/fault", {"type": "order", "mode": "timeout", "hold_s": 60})
        n = rt.rest.requests
        place = asyncio.ensure_future(eng.place(OrderRequest(VenueId.binance, "BTC/USDT", Side.BUY,
                                                             OrderType.LIMIT, "0.001", "1000")))
        assert await wait_for(lambda: rt.rest.requests > n, 10)
        await asyncio.sleep(0.5)
        assert not place.done()
        t0 = time.monotonic()
        await asyncio.wait_for(eng.close(), BOUND_S * 3)
        assert time.monotonic() - t0 < BOUND_S
    finally:
        await admin(sim, "POST", "/fault", {"type": "clear"})
        if place is not None:
            place.cancel()
            await asyncio.gather(place, return_exceptions=True)
        await eng.close()


@pytest.mark.parametrize("fault", [{"type": "silence", "enabled": True},
                                   {"type": "order", "mode": "timeout", "hold_s": 60}])
def test_order_cli_returns_with_a_hung_venue(tmp_path, fault):
    with running_simulator("binance", rate=20) as sim:
        cfg = cli_config(tmp_path, sim, "request_timeout_s = 5.0")
        import urllib.request
        req = urllib.request.Request(f"{sim['admin_url']}/fault", data=json.dumps(fault).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        urllib.request.urlopen(req, timeout=5).read()
        env = {**os.environ, "VL_CLI_KEY": sim["api_key"], "VL_CLI_SECRET": sim["api_secret"]}
        t0 = time.monotonic()
        p = subprocess.run([sys.executable, "-m", "venuelink.tools.cli", "order", "place", "--config", str(cfg),
                            "--venue", "binance", "--symbol", "BTC/USDT", "--side", "buy", "--qty", "0.001",
                            "--price", "1000", "--client-id", "cliHang1", "--wait", "1"],
                           capture_output=True, text=True, timeout=90, env=env)
        took = time.monotonic() - t0
        # process start-up and the request's own timeout (5 s) come on top of the shutdown bound
        assert took < 5.0 + BOUND_S + 10.0, (took, p.stderr[-2000:])
        out = json.loads(p.stdout)
        assert out["client_order_id"] == "cliHang1"


def _admin_get(sim, path: str) -> dict:
    import urllib.request
    return json.loads(urllib.request.urlopen(f"{sim['admin_url']}{path}", timeout=5).read())


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("venue", ["binance", "okx"])
def test_an_interrupted_order_place_prints_unknown_with_its_client_id_and_exits_3(tmp_path, venue, sig):
    """The venue has the order and holds its answer; the operator interrupts the tool: it must not
    lose the order (no traceback, no silence) but say it may exist, under which id, and how to look."""
    import urllib.request
    with running_simulator(venue, rate=20) as sim:
        cfg = cli_config(tmp_path, sim, venue=venue)
        req = urllib.request.Request(f"{sim['admin_url']}/fault", method="POST",
                                     data=json.dumps({"type": "order", "mode": "timeout", "hold_s": 60}).encode(),
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=5).read()
        env = {**os.environ, "VL_CLI_KEY": sim["api_key"], "VL_CLI_SECRET": sim["api_secret"],
               "VL_CLI_PASSPHRASE": sim.info.get("api_passphrase", "")}
        p = subprocess.Popen([sys.executable, "-m", "venuelink.tools.cli", "order", "place", "--config", str(cfg),
                              "--venue", venue, "--symbol", "BTC/USDT", "--side", "buy", "--qty", "0.001",
                              "--price", "1000", "--wait", "30"],          # no --client-id: the tool makes one
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        try:
            deadline = time.monotonic() + 30
            while not _admin_get(sim, "/ledger").get("orders"):         # the venue has placed it
                assert p.poll() is None and time.monotonic() < deadline, p.stderr.read() if p.poll() else "timeout"
                time.sleep(0.1)
            time.sleep(0.5)
            p.send_signal(sig)
            out, err = p.communicate(timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
        placed = _admin_get(sim, "/ledger")["orders"]
        assert p.returncode == 3, (p.returncode, out, err[-2000:])
        assert "Traceback" not in err
        o = json.loads(out)
        assert o["state"] == "unknown" and sig.name in o["error"]
        cids = {row.get("client_order_id") or row.get("clientOrderId") for row in placed}
        assert o["client_order_id"] and o["client_order_id"] in cids, (o, placed)
        assert "venuelink order status" in err and o["client_order_id"] in err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_order_place_interrupted_before_anything_was_sent_says_so(tmp_path, sig):
    """A venue that accepts the connection and never answers (the instruments load hangs): an
    interrupt then stops the tool before the order was sent. Not a refusal by the venue and no
    order to wonder about: "sent": false, state not_sent, exit 128 + the signal."""
    import socket
    import threading
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    held = []
    stop = threading.Event()

    def accept():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])        # never answered
            except OSError:
                pass
    t = threading.Thread(target=accept, daemon=True)
    t.start()
    port = srv.getsockname()[1]
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[venues.binance]\nrest_url = "http://127.0.0.1:{port}"\nws_url = "ws://127.0.0.1:{port}"\n'
                   'api_key_env = "VL_CLI_KEY"\napi_secret_env = "VL_CLI_SECRET"\n')
    env = {**os.environ, "VL_CLI_KEY": "k" * 64, "VL_CLI_SECRET": "s" * 64}
    try:
        p = subprocess.Popen([sys.executable, "-m", "venuelink.tools.cli", "order", "place", "--config", str(cfg),
                              "--venue", "binance", "--symbol", "BTC/USDT", "--side", "buy", "--qty", "0.001",
                              "--price", "1000", "--client-id", "cliNever1"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        deadline = time.monotonic() + 20
        while not held and time.monotonic() < deadline:     # the engine is waiting on the venue
            time.sleep(0.05)
        time.sleep(0.3)
        p.send_signal(sig)
        out, err = p.communicate(timeout=30)
    finally:
        stop.set()
        t.join(2)
        for c in held:
            c.close()
        srv.close()
    assert p.returncode == 128 + int(sig), (p.returncode, out, err[-2000:])
    o = json.loads(out)
    assert (o["state"], o["sent"], o["client_order_id"]) == ("not_sent", False, "cliNever1")
    assert sig.name in o["error"] and "Traceback" not in err
