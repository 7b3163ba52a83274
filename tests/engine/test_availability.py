"""The venue-unavailable policy against the Binance simulator: the order REST breaker opens
(five 5xx answers), the policy is applied, a probe finds the venue back."""
import asyncio
import contextlib

import pytest

from venuelink.availability import VenueUnavailable
from venuelink.config import Config
from venuelink.engine import Engine
from venuelink.errors import ConfigError, ExecutionUnknown
from venuelink.model import OrderRequest, OrderState, OrderType, Side, VenueId
from venuelink.sim.server import running_simulator
from venuelink.ext.ratelimit import Priority
from tests.engine.conftest import admin, venue_config
from tests.engine.test_binance_engine import wait_for


@contextlib.asynccontextmanager
async def engine_with(policy: str, hold_timeout_s: float = 5.0):
    with running_simulator("binance", rate=20) as sim:
        vc = venue_config(sim)
        vc.unavailable_policy, vc.hold_timeout_s = policy, hold_timeout_s
        eng = Engine(Config(venues={"binance": vc}, metrics_port=0))
        try:
            await eng.start(market_data=False)
            yield eng, sim
        finally:
            await eng.close()


def limit(px: str) -> OrderRequest:
    return OrderRequest(VenueId.binance, "BTC/USDT", Side.BUY, OrderType.LIMIT, "0.001", px)


async def open_the_breaker(eng, sim):
    rt = eng.runtime("binance")
    await admin(sim, "POST", "/fault", {"type": "http_error", "status": 503, "count": 5, "path": "/api/v3/account"})
    for _ in range(5):
        with pytest.raises(ExecutionUnknown):
            await rt.rest.request("GET", "/api/v3/account", weights={"REQUEST_WEIGHT": 1}, priority=Priority.NEW_ORDER)
    assert await wait_for(lambda: not rt.availability.available, 5)


async def test_cancel_all_cancels_resting_orders_when_the_venue_fails_and_again_when_back():
    async with engine_with("cancel_all") as (eng, sim):
        states = []
        eng.subscribe_venue_state("binance", lambda v, ok, why: states.append((ok, why)))
        a = await eng.place(limit("1000"))
        b = await eng.place(limit("1001"))
        assert a.state == b.state == OrderState.NEW
        await open_the_breaker(eng, sim)
        assert await wait_for(lambda: a.state == b.state == OrderState.CANCELED, 10)   # cancels pass the breaker
        with pytest.raises(VenueUnavailable):
            await eng.place(limit("1002"))
        assert await wait_for(lambda: eng.runtime("binance").availability.available, 15)  # the probe found it back
        assert await wait_for(lambda: len(states) >= 2, 5)      # told once its cancels are through
        assert [ok for ok, _ in states] == [False, True] and "circuit" in states[0][1]


async def test_reject_new_refuses_at_once_and_keeps_resting_orders():
    async with engine_with("reject_new") as (eng, sim):
        a = await eng.place(limit("1000"))
        await open_the_breaker(eng, sim)
        with pytest.raises(VenueUnavailable, match="not sent"):
            await eng.place(limit("1003"))
        await asyncio.sleep(0.3)
        assert a.state == OrderState.NEW
        assert await wait_for(lambda: eng.runtime("binance").availability.available, 15)
        c = await eng.place(limit("1004"))
        assert c.state == OrderState.NEW


async def test_hold_waits_for_the_venue_then_sends():
    async with engine_with("hold", hold_timeout_s=20.0) as (eng, sim):
        a = await eng.place(limit("1000"))
        await open_the_breaker(eng, sim)
        o = await eng.place(limit("1005"))             # waits until the probe closes the breaker
        assert o.state == OrderState.NEW and eng.runtime("binance").availability.available
        assert a.state == OrderState.NEW


async def test_hold_refuses_after_its_timeout():
    async with engine_with("hold", hold_timeout_s=0.5) as (eng, sim):
        await open_the_breaker(eng, sim)
        with pytest.raises(VenueUnavailable):
            await eng.place(limit("1006"))


def test_unknown_policy_is_a_config_error(tmp_path):
    from venuelink.config import load_config
    p = tmp_path / "c.toml"
    p.write_text('[venues.binance]\nrest_url = "x"\nws_url = "y"\nunavailable_policy = "panic"\n')
    with pytest.raises(ConfigError, match="unknown unavailable_policy"):
        load_config(p)


@pytest.mark.parametrize("policy", ["hold", "reject_new"])
async def test_an_order_right_after_the_breaker_opened_meets_the_policy_and_the_callback_comes_first(policy):
    """The breaker opens on the last of a run of lost answers; the very next order (before any poll
    of the watcher) is decided by the policy, never refused by the breaker as if the venue had
    answered, and the strategy has been told the venue is unavailable before that order's outcome."""
    async with engine_with(policy, hold_timeout_s=0.5) as (eng, sim):
        rt = eng.runtime("binance")
        assert await wait_for(lambda: not rt.availability.starting, 10)
        rt.availability.poll_s = 60.0               # the watcher never polls: only the order path looks
        await asyncio.sleep(0.2)                    # its first sleep has begun with the new period
        told = []
        eng.subscribe_venue_state("binance", lambda v, ok, why: told.append((ok, why)))
        await admin(sim, "POST", "/fault", {"type": "http_error", "status": 503, "count": 5, "path": "/api/v3/account"})
        for _ in range(5):
            with pytest.raises(ExecutionUnknown):
                await rt.rest.request("GET", "/api/v3/account", weights={"REQUEST_WEIGHT": 1},
                                      priority=Priority.NEW_ORDER)
        assert rt.availability.available           # not polled since the breaker opened
        with pytest.raises(VenueUnavailable, match=f"policy {policy}"):
            await eng.place(limit("1000"))
        assert told and told[0][0] is False and "circuit" in told[0][1]
        assert not (await admin(sim, "GET", "/account")).get("open_orders")       # nothing was sent


async def test_starting_is_not_an_outage(caplog):
    """The private stream's first connect after start is no outage: nobody is told "unavailable"
    then "available again", no warning is logged, and an order placed at once goes out."""
    caplog.set_level("INFO")
    with running_simulator("binance", rate=20) as sim:
        eng = Engine(Config(venues={"binance": venue_config(sim)}, metrics_port=0))
        told = []
        eng.subscribe_venue_state("binance", lambda v, ok, why: told.append((ok, why)))
        try:
            await eng.start(market_data=False)
            o = await eng.place(limit("1000"))
            assert o.state == OrderState.NEW
            av = eng.runtime("binance").availability
            assert await wait_for(lambda: av.available and not av.starting, 10)
            await asyncio.sleep(0.5)
        finally:
            await eng.close()
    assert told == []
    assert not [r for r in caplog.records if "for orders" in r.getMessage() and r.levelname == "WARNING"]


async def test_a_private_stream_that_never_comes_up_is_an_outage(monkeypatch):
    """A private stream whose first attempt fails (or that is not up within the start's grace) is
    an outage like any other: announced, and the policy decides the orders."""
    from venuelink.availability import Availability
    monkeypatch.setattr(Availability, "STARTING_GRACE_S", 0.5)
    with running_simulator("binance", rate=20) as sim:
        vc = venue_config(sim)
        vc.ws_api_url = "ws://127.0.0.1:9/ws-api/v3"          # nothing listens there
        vc.unavailable_policy = "reject_new"
        eng = Engine(Config(venues={"binance": vc}, metrics_port=0))
        told = []
        eng.subscribe_venue_state("binance", lambda v, ok, why: told.append((ok, why)))
        try:
            await eng.start(market_data=False)
            assert await wait_for(lambda: told, 10)
            assert told[0][0] is False and "private stream" in told[0][1]      # its first attempt failed
            with pytest.raises(VenueUnavailable, match="private stream"):
                await eng.place(limit("1000"))
        finally:
            await eng.close()
