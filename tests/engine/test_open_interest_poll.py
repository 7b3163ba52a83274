"""Open interest a venue publishes only over REST (Binance USD-M: GET /fapi/v1/openInterest),
polled for symbols with derivatives subscribers and delivered to them like a streamed event:
the venue's value exactly, its timestamp, on the venue's budget; a failed poll is counted and
the next one delivers; the poll stops with the engine; a venue without the request is not polled."""
import asyncio
from decimal import Decimal

import aiohttp

from venuelink.config import Config, VenueConfig
from venuelink.derivatives import OpenInterest
from venuelink.open_interest import OPEN_INTEREST_POLL_S
from venuelink.tools.simconfig import venue_config_for
from venuelink.engine import Engine
from venuelink.sim.server import running_simulator
from venuelink.ext.ratelimit import Priority
from tests.engine.conftest import admin
from tests.waiting import wait_for

VENUE, SYM, VSYM = "binanceusdm", "BTC/USDT:USDT", "BTCUSDT"
OI_PATH = "/fapi/v1/openInterest"


def oi_events(seen: list) -> list[OpenInterest]:
    return [e for e in seen if isinstance(e, OpenInterest)]


async def rest_open_interest(sim) -> dict:
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{sim.rest_url}{OI_PATH}", params={"symbol": VSYM}) as r:
            assert r.status == 200, await r.text()
            return await r.json()


async def test_open_interest_polled_exact_and_survives_failures():
    with running_simulator(VENUE, rate=20) as sim:
        eng = Engine(Config(venues={VENUE: venue_config_for(VENUE, sim, [SYM])}, metrics_port=0))
        rt = eng.runtime(VENUE)
        assert rt.open_interest.interval_s == OPEN_INTEREST_POLL_S == 10.0     # the default
        rt.open_interest.interval_s = 0.2
        seen: list = []

        def broken(ev) -> None:
            raise RuntimeError("strategy bug")
        eng.subscribe_derivatives(VENUE, SYM, broken)          # must not stop the next subscriber
        eng.subscribe_derivatives(VENUE, SYM, seen.append)
        sent = []
        request = rt.rest.request

        def spy(method, path, **kw):
            if path == OI_PATH:
                sent.append((path, dict(kw["weights"]), kw["priority"]))
            return request(method, path, **kw)
        rt.rest.request = spy
        try:
            await eng.start(execution=False)
            poll = rt.open_interest
            assert await wait_for(lambda: len(oi_events(seen)) >= 3, 5.0)
            ev = oi_events(seen)[0]
            assert ev.venue.name == VENUE and ev.instrument.symbol == SYM
            assert ev.ts_exchange > 0 and ev.ts_exchange % 1_000_000 == 0        # the venue's ms time
            assert abs(ev.ts_recv - ev.ts_exchange) < 5_000_000_000

            # the venue's value, exact: the market paused, a poll after that, the venue asked directly
            await admin(sim, "POST", "/market", {"action": "pause"})
            n = len(oi_events(seen))
            assert await wait_for(lambda: len(oi_events(seen)) >= n + 2, 5.0)
            last = oi_events(seen)[-1]
            body = await rest_open_interest(sim)
            assert last.to_json()["size"] == body["openInterest"]
            assert Decimal(body["openInterest"]) > 0
            assert last.ts_exchange <= body["time"] * 1_000_000
            await admin(sim, "POST", "/market", {"action": "resume"})

            # every poll reached the venue through the runtime's REST client (its rate budget)
            reqs = [r for r in (await admin(sim, "GET", "/requests"))["requests"] if OI_PATH in str(r)]
            assert len(reqs) >= poll.delivered >= 3
            assert sent and all(s == (OI_PATH, {"REQUEST_WEIGHT": 1}, Priority.SNAPSHOT) for s in sent)

            # failed polls: counted, logged, the feed goes on
            await admin(sim, "POST", "/fault", {"type": "http_error", "status": 503, "count": 2, "path": OI_PATH})
            assert await wait_for(lambda: poll.failures >= 2, 5.0)
            n = len(oi_events(seen))
            assert await wait_for(lambda: len(oi_events(seen)) >= n + 2, 5.0)
            assert poll.failures == 2 and poll.unreadable == 0
            assert rt.strategy_errors >= len(oi_events(seen))
        finally:
            await eng.close()
        # the poll stops with the engine
        assert not rt.open_interest.running
        polls = rt.open_interest.polls
        await asyncio.sleep(0.5)
        assert rt.open_interest.polls == polls


async def test_a_new_subscriber_is_polled_at_once_and_an_idle_symbol_never():
    with running_simulator(VENUE, rate=20) as sim:
        eng = Engine(Config(venues={VENUE: venue_config_for(VENUE, sim, [SYM])}, metrics_port=0))
        rt = eng.runtime(VENUE)
        rt.open_interest.interval_s = 60.0
        try:
            await eng.start(execution=False)
            assert rt.open_interest.running
            await asyncio.sleep(0.3)
            assert rt.open_interest.polls == 0                 # nobody listens: nothing asked
            seen: list = []
            eng.subscribe_derivatives(VENUE, SYM, seen.append)
            assert await wait_for(lambda: oi_events(seen), 3.0)     # not a period later
            assert rt.open_interest.polls == 1
        finally:
            await eng.close()


async def test_a_venue_without_an_open_interest_request_is_not_polled():
    eng = Engine(Config(venues={"okx": VenueConfig(name="okx", symbols=["BTC/USDT:USDT"])}, metrics_port=0))
    rt = eng.runtime("okx")
    assert not rt.open_interest.supported            # OKX streams its open interest
    rt.open_interest.start()
    assert not rt.open_interest.running
    await eng.close()
