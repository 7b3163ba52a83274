"""The local rate budget under order bursts and across restarts, through the engine, against each
venue's own simulator on 127.0.0.1:

* a burst larger than the budget can serve before the orders' deadline: what is sent is
  acknowledged, the rest is refused locally with the reason (never sent), and no order becomes
  UNKNOWN for time it spent waiting here (the ack clock starts when the request leaves);
* a process started inside a venue window that a previous process filled takes over that
  usage from its state directory, so its own burst earns no rate refusal from the venue."""
from __future__ import annotations

import asyncio
import time

import pytest

from venuelink import registry
from venuelink.budget import STATE_DIR_ENV
from venuelink.config import Config
from venuelink.tools.simconfig import venue_config_for
from venuelink.errors import CircuitOpen
from venuelink.engine import Engine
from venuelink.model import OrderRequest, OrderState, OrderType, Side, VenueId
from venuelink.orders import BUDGET_REFUSED
from venuelink.sim.server import running_simulator
from venuelink.ext.ratelimit import Priority
from tests.venue_cases import btc, case, resting

S = OrderState
def engine_for(venue: str, sim) -> Engine:
    return Engine(Config(venues={venue: venue_config_for(venue, sim, [btc(venue)])}, metrics_port=0))


def request(venue: str, **kw) -> OrderRequest:
    return OrderRequest(VenueId.parse(venue), btc(venue), Side.BUY, OrderType.LIMIT, *resting(venue), **kw)


def order_lane(eng: Engine, venue: str) -> int:
    """How many new orders the engine's budget admits in one window of the order bucket."""
    b = eng.runtime(venue).budget
    b.cost({"PLACE_2S": 1}, "BTC-USDT") if venue == "okx" else None     # makes the instrument bucket
    return b.budget.lane_capacity(b.index[case(venue, "order_bucket")[0]], Priority.NEW_ORDER)


async def burst(eng: Engine, venue: str, n: int, **kw) -> list:
    return await asyncio.gather(*(eng.place(request(venue, **kw)) for _ in range(n)))


def venue_rate_refused(o) -> bool:
    return o.state is S.REJECTED and not o.error.startswith(BUDGET_REFUSED) and \
        any(code in o.error for code in ("-1015", "-1003", "50011", "50061", "429", "RateLimited"))


@pytest.mark.parametrize("venue", registry.trading())
async def test_burst_beyond_the_budget_is_refused_locally_never_unknown(venue):
    with running_simulator(venue, rate=20) as sim:
        eng = engine_for(venue, sim)
        try:
            await eng.start(market_data=False)
            rt = eng.runtime(venue)
            # more than the budget can send within the default 5 s deadline: windows start at
            # most every order-bucket window, each admits one lane's worth
            n = order_lane(eng, venue) * (int(5.0 / case(venue, "order_bucket")[1]) + 2) + 10
            orders = await burst(eng, venue, n)
            states = [o.state for o in orders]
            assert S.UNKNOWN not in states, [(o.state.name, o.error) for o in orders if o.state is S.UNKNOWN][:3]
            assert not [o for o in orders if o.error == "unresolved"]
            sent = [o for o in orders if o.state is S.NEW]
            refused = [o for o in orders if o.state is S.REJECTED]
            assert len(sent) + len(refused) == n
            assert sent and refused                            # the budget served some, not all
            assert all(o.error.startswith(BUDGET_REFUSED) for o in refused), refused[0].error
            assert all("local rate budget" in o.error for o in refused)
            assert rt.budget.rate_refusals == 0                # the venue refused nothing
            assert rt.budget.deadline_refusals == len(refused)
            # refused orders never reached the venue (its open-orders page may stop at 100)
            on_venue = {u.client_order_id for u in await rt.execution.open_orders(btc(venue))}
            assert on_venue <= {o.client_order_id for o in sent}
            assert len(on_venue) >= min(len(sent), 100)
            assert not on_venue & {o.client_order_id for o in refused}
        finally:
            await eng.close()


@pytest.mark.parametrize("venue", registry.trading())
async def test_an_order_with_its_own_short_deadline_is_refused_at_once_when_the_window_is_spent(venue):
    with running_simulator(venue, rate=20) as sim:
        eng = engine_for(venue, sim)
        try:
            await eng.start(market_data=False)
            lane = order_lane(eng, venue)
            first = await burst(eng, venue, lane + 10, queue_timeout_s=0.05)
            late = [o for o in first if o.state is S.REJECTED]
            assert late and all(o.error.startswith(BUDGET_REFUSED) for o in late)
            assert all(o.state in (S.NEW, S.REJECTED) for o in first)
            with pytest.raises(ValueError, match="queue_timeout_s"):
                await eng.place(request(venue, queue_timeout_s=0))
        finally:
            await eng.close()


async def _to_window_start(window_s: float, need_s: float) -> None:
    """Sleep until at least `need_s` of the venue's current window (epoch-aligned) is left."""
    left = window_s - time.time() % window_s
    if left < need_s:
        await asyncio.sleep(left + 0.02)


@pytest.mark.parametrize("venue", registry.trading())
async def test_a_restart_inside_a_spent_window_earns_no_rate_refusal(venue, tmp_path, monkeypatch):
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path))
    _, window_s = case(venue, "order_bucket")
    with running_simulator(venue, rate=20) as sim:
        first = engine_for(venue, sim)
        try:
            await first.start(market_data=False)
            lane = order_lane(first, venue)
            await _to_window_start(window_s, window_s if venue == "okx" else 6.0)
            run1 = await burst(first, venue, lane, queue_timeout_s=2.0)      # spend the window; a loaded
                                                                              # host may queue some a while
            assert sum(o.state is S.NEW for o in run1) >= lane - 2
        finally:
            await first.close()
        assert (tmp_path / f"{venue}-ratelimit.json").exists()
        second = engine_for(venue, sim)                   # a new process's budget, same state dir
        try:
            rt = second.runtime(venue)
            assert rt.budget.restored.get(case(venue, "order_bucket")[0], 0) >= lane - 2
            await second.start(market_data=False)
            run2 = await burst(second, venue, lane, queue_timeout_s=0.05)
            refused_by_venue = [o.error for o in run2 if venue_rate_refused(o)]
            assert not refused_by_venue and rt.budget.rate_refusals == 0, refused_by_venue[:3]
            assert all(o.state is S.NEW or o.error.startswith(BUDGET_REFUSED) for o in run2)
        finally:
            await second.close()
    assert [p.name for p in tmp_path.iterdir()] == [f"{venue}-ratelimit.json"]


# ---------------------------------------------------------------------------- the state file itself

def _spec():
    from venuelink.venue import BucketSpec, VenueSpec
    from venuelink.ext.ratelimit import BucketKind
    return VenueSpec(venue=VenueId.okx, rest_url="", ws_url="",
                     buckets=(BucketSpec("DAY", BucketKind.FIXED_WINDOW, 1000, 86400, headroom=0),
                              BucketSpec("SLIDE", BucketKind.SLIDING_WINDOW, 100, 600, headroom=0)))


async def test_state_file_carries_usage_and_blocks_and_is_off_without_a_directory(tmp_path, monkeypatch):
    from venuelink.budget import VenueBudget
    monkeypatch.delenv(STATE_DIR_ENV, raising=False)
    off = VenueBudget(_spec())
    await off.acquire({"DAY": 5}, Priority.QUERY)
    assert off.state_path is None and not list(tmp_path.iterdir())

    b = VenueBudget(_spec(), state_dir=tmp_path)
    await b.acquire({"DAY": 7, "SLIDE": 3}, Priority.QUERY)
    b.rate_refused(b.cost({"SLIDE": 1}), 0.0, "rate limited (test)")     # SLIDE blocked for its window
    await asyncio.sleep(0)                                                # the write after the loop step
    path = tmp_path / "okx-ratelimit.json"
    assert path.stat().st_mode & 0o777 == 0o600

    again = VenueBudget(_spec(), state_dir=tmp_path)
    assert again.restored == {"DAY": 7, "SLIDE": 3}
    with pytest.raises(CircuitOpen):                                     # SLIDE still blocked
        from venuelink.budget import SendWindow, send_window
        with send_window(SendWindow(deadline_ns=time.monotonic_ns() + 50_000_000)):
            await again.acquire({"SLIDE": 1}, Priority.QUERY)

    path.write_text("{not json")
    broken = VenueBudget(_spec(), state_dir=tmp_path)
    assert broken.state_errors == 1 and broken.restored == {}


def test_the_window_edge_reaches_the_fixed_buckets_only_and_at_most_half_a_window():
    from venuelink.budget import VenueBudget
    from venuelink.venue import BucketSpec, VenueSpec
    from venuelink.ext.ratelimit import BucketKind
    spec = VenueSpec(venue=VenueId.okx, rest_url="", ws_url="",
                     buckets=(BucketSpec("SEC", BucketKind.FIXED_WINDOW, 100, 1, headroom=0),
                              BucketSpec("SLIDE", BucketKind.SLIDING_WINDOW, 100, 1, headroom=0)))
    vb = VenueBudget(spec, window_edge_s=0.8)               # capped at half of SEC's 1-s window
    b, sec, slide = vb.budget, vb.index["SEC"], vb.index["SLIDE"]
    cost = b.make_cost([(sec, 1), (slide, 1)])
    S = 1_000_000_000
    assert b.acquire(cost, 10 * S + S // 2 - 1, Priority.CANCEL) == 0      # before the edge
    assert b.acquire(cost, 10 * S + S // 2, Priority.CANCEL) == 0          # its first ns
    assert b.used(sec, 11 * S) == 1                       # only the edge's charge is carried
    assert b.used(slide, 11 * S) == 2                     # the sliding bucket counts both anyway
    assert b.used(sec, 12 * S) == 0


async def test_a_refusal_of_one_limit_with_its_reset_time_blocks_that_bucket_alone():
    """Bybit's 10006 names one endpoint's limit and when its window resets: the buckets the
    request was charged to wait until then; another endpoint's requests go on at once. A
    refusal with a time that is not one limit's blocks every lane."""
    from venuelink.budget import SendWindow, VenueBudget, send_window
    from venuelink.venue import BucketSpec, VenueSpec
    from venuelink.ext.ratelimit import BucketKind
    spec = VenueSpec(venue=VenueId.bybit, rest_url="", ws_url="",
                     buckets=(BucketSpec("CREATE_1S", BucketKind.FIXED_WINDOW, 10, 1, headroom=0),
                              BucketSpec("CANCEL_1S", BucketKind.FIXED_WINDOW, 10, 1, headroom=0)))

    async def refused(b: VenueBudget, name: str) -> bool:
        try:
            with send_window(SendWindow(deadline_ns=time.monotonic_ns() + 50_000_000)):
                await b.acquire({name: 1}, Priority.CANCEL)
        except CircuitOpen:
            return True
        return False

    one = VenueBudget(spec)
    one.rate_refused(one.cost({"CREATE_1S": 1}), 0.4, "10006", buckets_only=True)
    assert await refused(one, "CREATE_1S") and not await refused(one, "CANCEL_1S")
    every = VenueBudget(spec)
    every.rate_refused(every.cost({"CREATE_1S": 1}), 0.4, "429")
    assert await refused(every, "CANCEL_1S")
