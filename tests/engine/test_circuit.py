"""The circuit breaker's probe slot: a probe that never reports cannot wedge the breaker."""
import asyncio

import pytest

from engine.circuit import CircuitBreaker, CircuitState, FailureKind
from engine.errors import CircuitOpen
from ext.ratelimit import Priority
from tests.engine.test_rest_budget import W, client


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_half_open_lets_one_probe_and_a_lost_probe_expires():
    c = Clock()
    br = CircuitBreaker("x", cooldown_s=1.0, probe_lease_s=5.0, clock=c)
    br.failure(FailureKind.BANNED, open_for_s=2.0)
    assert br.state == CircuitState.OPEN and not br.allow()
    c.t += 2.1
    assert br.allow() and br.state == CircuitState.HALF_OPEN and br.holds_probe
    assert not br.allow()                  # only one probe at a time
    c.t += 4.0
    assert not br.allow()                  # still within the lease
    c.t += 1.5                              # the probe never reported: presumed lost
    assert br.allow() and br.probes_lost == 1
    br.success()
    assert br.state == CircuitState.CLOSED and br.allow()


def test_release_frees_the_probe():
    c = Clock()
    br = CircuitBreaker("x", cooldown_s=1.0, clock=c)
    br.failure(FailureKind.VENUE_DOWN, open_for_s=1.0)
    c.t += 1.5
    assert br.allow()
    br.release()
    assert br.allow() and br.probes_lost == 1
    br.failure(FailureKind.VENUE_DOWN)     # the probe failed: open again
    assert br.state == CircuitState.OPEN and not br.holds_probe
    br.release()                            # no probe out: nothing to release
    assert br.probes_lost == 1


async def test_probe_refused_by_the_budget_gives_its_slot_back():
    """A half-open probe that the budget refuses (never sent) must not leave the breaker
    waiting forever for a verdict: the next request is the probe, reaches the venue, closes it."""
    async with client(max_wait_s=0.1) as (srv, rest):
        br = rest.breaker
        br.failure(FailureKind.BANNED, open_for_s=0.05)
        await asyncio.sleep(0.1)
        rest.budget.block(0.4, "IP banned (418)")     # the venue's ban outlives the breaker's cooldown
        with pytest.raises(CircuitOpen):
            await rest.request("GET", "/api/v3/time", weights=W, priority=Priority.NEW_ORDER)
        assert br.state == CircuitState.HALF_OPEN and not br.holds_probe and br.probes_lost == 1
        assert srv.arrivals == []
        await asyncio.sleep(0.45)
        await rest.request("GET", "/api/v3/time", weights=W, priority=Priority.NEW_ORDER)
        assert len(srv.arrivals) == 1 and br.state == CircuitState.CLOSED


async def test_cancelled_probe_gives_its_slot_back():
    async with client() as (srv, rest):
        srv.hold_s = 2.0
        br = rest.breaker
        br.failure(FailureKind.VENUE_DOWN, open_for_s=0.05)
        await asyncio.sleep(0.1)
        t = asyncio.ensure_future(rest.request("GET", "/api/v3/time", weights=W, priority=Priority.NEW_ORDER))
        await asyncio.sleep(0.2)
        assert br.holds_probe
        t.cancel()
        with pytest.raises(asyncio.CancelledError):
            await t
        assert br.state == CircuitState.HALF_OPEN and not br.holds_probe
        srv.hold_s = 0.0
        await rest.request("GET", "/api/v3/time", weights=W, priority=Priority.NEW_ORDER)
        assert br.state == CircuitState.CLOSED
