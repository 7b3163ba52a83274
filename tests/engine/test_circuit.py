"""The circuit breaker's probe slot: a probe that never reports cannot wedge the breaker."""
import asyncio

import pytest

from venuelink.circuit import CircuitBreaker, CircuitState, FailureKind
from venuelink.errors import CircuitOpen
from venuelink.ext.ratelimit import Priority
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


def test_failures_of_requests_let_through_an_open_breaker_do_not_grow_its_cooldown():
    """Maintenance: the cancels and queries that go through an open breaker keep failing. Each
    used to re-open it with a doubled cooldown, so a 10-s outage kept new orders out for minutes."""
    c = Clock()
    br = CircuitBreaker("x", failure_threshold=2, cooldown_s=1.0, max_cooldown_s=300.0, clock=c)
    br.failure(FailureKind.VENUE_DOWN)
    br.failure(FailureKind.VENUE_DOWN)
    assert br.state == CircuitState.OPEN and br.retry_in() == pytest.approx(1.0)
    for _ in range(20):
        br.failure(FailureKind.VENUE_DOWN)
    assert br.retry_in() == pytest.approx(1.0) and br.opens == 1
    c.t += 1.1
    assert br.allow()
    br.failure(FailureKind.VENUE_DOWN)      # the probe failed: open again, twice as long
    assert br.retry_in() == pytest.approx(2.0) and br.opens == 2


def test_a_ban_after_recovery_opens_for_the_ban_not_for_an_earlier_open():
    """A success closes the breaker and forgets the old open's end: a later 2-s ban opens it for
    2 s. (It used to keep an earlier, longer open's end and refuse even cancels until then.)"""
    c = Clock()
    br = CircuitBreaker("x", failure_threshold=1, cooldown_s=300.0, clock=c)
    br.failure(FailureKind.VENUE_DOWN)
    assert br.retry_in() == pytest.approx(300.0)
    br.success()                            # a cancel through the open breaker was answered
    assert br.state == CircuitState.CLOSED
    br.failure(FailureKind.BANNED, open_for_s=2.0)
    assert br.banned and br.retry_in() == pytest.approx(2.0)
    c.t += 2.1
    assert not br.banned and br.allow()


def test_ban_in_force_is_its_own_length_whatever_else_keeps_the_breaker_open():
    c = Clock()
    br = CircuitBreaker("x", failure_threshold=1, cooldown_s=40.0, clock=c)
    br.failure(FailureKind.VENUE_DOWN)
    br.failure(FailureKind.BANNED, open_for_s=2.0)
    assert br.banned and br.state == CircuitState.OPEN
    c.t += 2.5
    assert not br.banned and br.state == CircuitState.OPEN   # still open for the venue being down


async def test_cancels_go_through_an_open_breaker_once_its_ban_is_over():
    async with client() as (srv, rest):
        br = rest.breaker
        br.failure(FailureKind.VENUE_DOWN, open_for_s=30.0)
        br.failure(FailureKind.BANNED, open_for_s=0.1)
        with pytest.raises(CircuitOpen):
            await rest.request("GET", "/api/v3/time", weights=W, priority=Priority.CANCEL)
        await asyncio.sleep(0.15)
        await rest.request("GET", "/api/v3/time", weights=W, priority=Priority.CANCEL)
        assert len(srv.arrivals) == 1 and br.state == CircuitState.CLOSED
