"""The CCXT tier spends the engine's rate budget: CCXT's own binance client in the worker, against
the Binance simulator on loopback, charged to the native Binance buckets before each request."""
import asyncio
import json
import time
import urllib.request

import pytest

from venuelink.ccxt_tier.gate import MAX_COST_UNITS, RATE_BUCKET, rate_bucket, weights_for
from venuelink.engine import Engine
from venuelink.model import OrderRequest, OrderState, OrderType, Side, VenueId
from venuelink.orders import BUDGET_REFUSED
from venuelink.sim.server import running_simulator
from venuelink.ext.ratelimit import BucketKind, Priority
from tests.engine.conftest import admin
from tests.engine.test_ccxt_orders import BTC, ccxt_config
from tests.waiting import wait_for

S = OrderState


@pytest.fixture(scope="module")
def sim():
    with running_simulator("binance", rate=20, seed=5) as s:
        yield s


def rest_request(**kw) -> OrderRequest:
    return OrderRequest(VenueId.binance, BTC, Side.BUY, OrderType.LIMIT, "0.001", "1000", **kw)


def _has_book(worker_url: str) -> bool:
    with urllib.request.urlopen(worker_url + "/stats") as r:
        return BTC in json.loads(r.read())["books_valid"]


async def _requests(sim) -> list:
    return (await admin(sim, "GET", "/requests"))["requests"]


def test_weights_from_the_native_table_or_ccxt_cost():
    assert weights_for("binance", "private", "POST", "order", 0.2, "BTCUSDT") == \
        ({"REQUEST_WEIGHT": 1, "ORDERS_10S": 1, "ORDERS_1D": 1, "RAW_REQUESTS_5M": 1}, None)
    assert weights_for("binance", "sapi", "GET", "capital/config/getall", 2, "") == \
        ({"REQUEST_WEIGHT": 10, "RAW_REQUESTS_5M": 1}, None)
    assert weights_for("okx", "private", "POST", "trade/order", 1 / 3, "BTC-USDT") == \
        ({"PLACE_2S": 1, "SUBACCOUNT_ORDERS_2S": 1}, "BTC-USDT")
    assert weights_for("okx", "public", "GET", "public/instruments", 1, "") == ({"PUBLIC_2S": 1}, None)
    assert weights_for("kraken", "private", "POST", "AddOrder", 0, "") == ({RATE_BUCKET: 1}, None)
    assert weights_for("kraken", "public", "GET", "Assets", 2, "") == ({RATE_BUCKET: 2000}, None)
    assert weights_for("kraken", "private", "POST", "Ledgers", 40, "") == ({RATE_BUCKET: 5000}, None)  # capped
    b = rate_bucket(1000)           # one cost unit a second, ten in a window
    assert (b.kind, b.limit, b.window_s) == (BucketKind.SLIDING_WINDOW, 10_000, 10.0)
    assert rate_bucket(50).limit == 20_000 and rate_bucket(50).window_s == 1.0
    assert rate_bucket(3000).window_s == 30.0 and rate_bucket(3000).limit == 10_000
    for ms in (7.5, 50, 1000, 3000):      # every lane holds the largest charge
        b = rate_bucket(ms)
        assert int(b.limit * (1 - b.headroom)) * 0.6 >= MAX_COST_UNITS * 1000


async def test_a_burst_beyond_the_budget_earns_no_venue_refusal_and_late_orders_are_not_sent(tmp_path, sim):
    await admin(sim, "POST", "/limits", {"action": "reset"})
    # The venue counts an order in the window it arrives in. Between the engine's admission and
    # that arrival are the worker's ask, CCXT and HTTP: on a loaded host, easily a few hundred
    # ms for a burst. Orders admitted within 1.5 s of the window's end also count in the next.
    eng = Engine(ccxt_config(tmp_path, sim, edge_ms=1500))
    try:
        await eng.start(market_data=False)
        rt = eng.runtime("binance")
        gate = rt.adapter.gate
        assert gate.admitted > 0                  # the worker's markets load went through the budget
        lane = rt.budget.budget.lane_capacity(rt.budget.index["ORDERS_10S"], Priority.NEW_ORDER)
        before = len(await _requests(sim))
        # more than the budget can send within the orders' 1-s deadline: that deadline sees the
        # start of at most one new window of the order bucket (10 s, aligned to the clock)
        n = 2 * lane + 10
        orders = await asyncio.gather(*(eng.place(rest_request(queue_timeout_s=1.0)) for _ in range(n)))
        sent = [o for o in orders if o.state is S.NEW]
        refused = [o for o in orders if o.state is S.REJECTED]
        assert len(sent) + len(refused) == n, [(o.state.name, o.error) for o in orders if o not in sent + refused][:3]
        assert sent and refused
        assert all(o.error.startswith(BUDGET_REFUSED) for o in refused), refused[0].error
        assert len(sent) <= 2 * lane
        # the venue refused nothing, and only the orders that were sent reached it
        assert rt.budget.rate_refusals == 0 and gate.venue_refusals == 0
        assert rt.budget.deadline_refusals == len(refused)
        new = (await _requests(sim))[before:]
        assert not [r for r in new if r[3] in (418, 429)], [r for r in new if r[3] in (418, 429)][:3]
        assert sum(1 for r in new if r[1] == "POST" and r[2] == "/api/v3/order") == len(sent)
        ledger = await admin(sim, "GET", "/ledger")
        on_venue = {x["clientOrderId"] for x in ledger["orders"]}
        assert {o.client_order_id for o in sent} <= on_venue
        assert not on_venue & {o.client_order_id for o in refused}
    finally:
        await eng.close()


async def test_a_venue_429_blocks_until_its_retry_after_and_utilization_is_exported(tmp_path, sim):
    await admin(sim, "POST", "/limits", {"action": "reset"})
    eng = Engine(ccxt_config(tmp_path, sim))
    try:
        await eng.start(market_data=False)
        port = eng.serve_metrics(port=0)
        rt = eng.runtime("binance")
        # the worker's own book snapshot (a REST request it makes once its stream is up) is
        # done, so the fault's one 429 goes to the order
        worker_url = rt.adapter.worker.report["rest_url"]
        assert await wait_for(lambda: _has_book(worker_url), 15)
        await admin(sim, "POST", "/fault", {"type": "rate_limit", "count": 1, "retry_after_s": 2})
        t0 = time.time()            # the module's sim keeps earlier tests' requests (and 429s)
        first = await eng.place(rest_request())
        assert first.state is S.REJECTED and "RateLimited" in first.error, first.error
        assert rt.adapter.counters().get("order_error_throttled") == 1       # the error table's class, counted
        assert rt.budget.rate_refusals == 1 and rt.adapter.gate.venue_refusals == 1
        # the next orders and a query wait out the Retry-After in the engine's budget
        more = await asyncio.gather(*(eng.place(rest_request()) for _ in range(3)),
                                    rt.execution.open_orders(BTC))
        assert all(o.state is S.NEW for o in more[:3]), [(o.state.name, o.error) for o in more[:3]]
        log = [r for r in await _requests(sim) if r[0] >= t0]
        refusal = [r for r in log if r[3] == 429]
        assert len(refusal) == 1
        after = log[log.index(refusal[0]) + 1:]
        assert len(after) >= 4
        assert all(r[0] >= refusal[0][0] + 2.0 - 0.01 for r in after), (refusal[0], after[:3])

        body = await asyncio.to_thread(lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode())
        line = next(x for x in body.splitlines()
                    if x.startswith('venuelink_ratelimit_utilization{bucket="ORDERS_10S",venue="binance"}'))
        assert float(line.rsplit(" ", 1)[1]) > 0
        assert 'venuelink_ratelimit_utilization{bucket="REQUEST_WEIGHT",venue="binance"}' in body
    finally:
        await eng.close()


async def test_a_venue_ban_blocks_every_lane_opens_the_order_breaker_and_the_probe_closes_it(tmp_path, sim):
    await admin(sim, "POST", "/limits", {"action": "reset"})
    eng = Engine(ccxt_config(tmp_path, sim))
    try:
        await eng.start(market_data=False)
        rt = eng.runtime("binance")
        worker_url = rt.adapter.worker.report["rest_url"]
        assert await wait_for(lambda: _has_book(worker_url), 15)
        await admin(sim, "POST", "/fault", {"type": "ban", "seconds": 2})
        first = await eng.place(rest_request())
        assert first.state is S.REJECTED and "IpBanned" in first.error, first.error
        assert rt.rest.breaker.banned and rt.budget.budget.blocked_until > 0
        # the open order breaker holds the next order (policy hold); the availability watcher's probe
        # (one cheap request through the worker) finds the venue back once the ban is over, and
        # the held order goes then; a query waits in the budget until the ban's end
        second, _ = await asyncio.gather(eng.place(rest_request()), rt.execution.open_orders(BTC))
        assert second.state is S.NEW, second.error
        assert rt.rest.breaker.state == 0 and rt.availability.available
        log = await _requests(sim)
        ban = [r for r in log if r[3] == 418][0]
        after = log[log.index(ban) + 1:]
        assert [r for r in after if r[2] == "/api/v3/order"]                    # sent, but only after the ban
        assert all(r[0] >= ban[0] + 2.0 - 0.01 for r in after), (ban, after[:3])
    finally:
        await admin(sim, "POST", "/fault", {"type": "clear"})
        await eng.close()


async def test_the_workers_connects_wait_for_the_venues_connection_rate():
    """The gate's /connect: a slot of the venue's connection rate per WebSocket CCXT opens."""
    import aiohttp
    from venuelink.ccxt_tier.gate import BudgetGate, connect_limit
    from venuelink.circuit import CircuitBreaker
    from venuelink.pacing import ConnectPacer
    assert connect_limit("okx") == (3, 1.0) and connect_limit("binance") == (300, 300.0)
    assert connect_limit("kraken") == (0, 1.0)                   # CCXT states none: not paced
    gate = BudgetGate("okx", None, CircuitBreaker("okx/rest"), pacer=ConnectPacer(1, 0.5))
    url = await gate.start()
    try:
        async with aiohttp.ClientSession() as s:
            async def ask():
                async with s.post(url + "/connect", json={"url": "wss://ws.okx.com/ws/v5/public"}) as r:
                    assert (await r.json())["ok"]
                return time.monotonic()
            t0 = time.monotonic()
            done = sorted(await asyncio.gather(ask(), ask()))
        assert done[1] - t0 >= 0.45                             # the second waited for the window
        assert gate.connects == 2 and gate.pacer.waits == 1
    finally:
        await gate.close()
