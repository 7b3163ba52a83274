"""The venue's status endpoint: maintenance the venue announces makes it unavailable for orders
(the policy applies) and back when it ends; the poll has a breaker of its own, so it neither
stops orders when it fails nor reopens order traffic when it answers during an outage."""
import asyncio
import dataclasses
import urllib.request

import pytest

from venuelink.adapters.binance.adapter import BinanceAdapter
from venuelink.circuit import FailureKind
from venuelink.config import Config
from venuelink.engine import Engine
from venuelink.status import StatusKind
from tests.engine.conftest import admin, venue_config
from tests.engine.test_binance_engine import wait_for


async def test_announced_maintenance_makes_the_venue_unavailable_then_available(sim):
    cfg = dataclasses.replace(venue_config(sim), status_poll_s=1.0)
    eng = Engine(Config(venues={"binance": cfg}, metrics_port=0))
    seen: list[tuple[bool, str]] = []
    try:
        eng.subscribe_venue_state("binance", lambda v, ok, why: seen.append((ok, why)))
        await eng.start()
        rt = eng.runtime("binance")
        assert await wait_for(lambda: rt.status.current.kind == StatusKind.NORMAL, 10)
        await admin(sim, "POST", "/fault", {"type": "maintenance_notice", "in_s": 0, "for_s": 4})
        assert await wait_for(lambda: rt.status.in_maintenance and not rt.availability.available, 10)
        assert "venue maintenance" in rt.availability.reason
        assert seen and seen[-1][0] is False and "maintenance" in seen[-1][1]
        port = eng.serve_metrics("127.0.0.1", 0)
        body = await asyncio.to_thread(lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode())
        assert 'venuelink_venue_status{venue="binance"} 3.0' in body
        assert rt.rest.breaker.failures == 0          # the venue said so: no failure of ours
        assert await wait_for(lambda: rt.status.current.kind == StatusKind.NORMAL and rt.availability.available, 15)
        assert seen[-1][0] is True
    finally:
        await admin(sim, "POST", "/fault", {"type": "clear"})
        await eng.close()


async def test_status_polls_answering_during_an_outage_leave_the_order_breaker_alone(sim):
    cfg = dataclasses.replace(venue_config(sim), status_poll_s=1.0)
    eng = Engine(Config(venues={"binance": cfg}, metrics_port=0))
    try:
        await eng.start(execution=False)
        rt = eng.runtime("binance")
        br = rt.rest.breaker
        br.failure(FailureKind.VENUE_DOWN, open_for_s=30.0)     # orders found the venue down
        await admin(sim, "POST", "/fault", {"type": "maintenance", "enabled": True})
        polls = rt.status.polls
        assert await wait_for(lambda: rt.status.polls >= polls + 2 and rt.status.in_maintenance, 10)
        assert br.state.name == "OPEN"              # a status answer is not an order endpoint answering
        await admin(sim, "POST", "/fault", {"type": "maintenance", "enabled": False})
        assert await wait_for(lambda: rt.status.current.kind == StatusKind.NORMAL, 10)
        assert br.state.name == "OPEN" and rt.status.breaker.state.name == "CLOSED"
    finally:
        await admin(sim, "POST", "/fault", {"type": "clear"})
        await eng.close()


@pytest.mark.parametrize("body", [b"", b"[]", b'{"status": 2}', b'{"status": true}', b'{"msg": "normal"}', b"<html>"])
def test_an_unreadable_status_answer_is_refused(body):
    with pytest.raises(ValueError):
        BinanceAdapter().parse_status(body)


def test_status_poll_interval_is_checked(tmp_path):
    from venuelink.config import load_config
    from venuelink.errors import ConfigError
    p = tmp_path / "c.toml"
    for bad in ("-1", "0.5", "99999", '"30"'):
        p.write_text(f'[venues.binance]\nrest_url = "http://127.0.0.1:1"\nws_url = "ws://127.0.0.1:1"\n'
                     f'symbols = ["BTC/USDT"]\nstatus_poll_s = {bad}\n')
        with pytest.raises(ConfigError, match="status_poll_s"):
            load_config(p)


def test_open_interest_poll_interval_is_read_and_checked(tmp_path):
    from venuelink.config import load_config
    from venuelink.errors import ConfigError
    p = tmp_path / "c.toml"
    head = '[venues.binance]\nrest_url = "http://127.0.0.1:1"\nws_url = "ws://127.0.0.1:1"\nsymbols = ["BTC/USDT"]\n'
    p.write_text(head + "open_interest_poll_s = 2.5\n")
    assert load_config(p).venues["binance"].open_interest_poll_s == 2.5
    for bad in ("0", "0.5", "99999", '"10"', "true"):
        p.write_text(head + f"open_interest_poll_s = {bad}\n")
        with pytest.raises(ConfigError, match="open_interest_poll_s"):
            load_config(p)
