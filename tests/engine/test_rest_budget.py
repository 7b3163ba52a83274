# SPDX-License-Identifier: Apache-2.0
"""RestClient and VenueBudget against a real aiohttp server on 127.0.0.1: errors in 200 bodies,
usage header kinds, signed requests in flight, rate-limit scopes."""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from dataclasses import dataclass, field
from typing import AsyncIterator, Callable

import pytest
from aiohttp import web

from venuelink.adapters.binance.errors import map_error as binance_map_error
from venuelink.adapters.binance.spec import ENDPOINTS, SPEC as BINANCE, depth_weight
from venuelink.budget import VenueBudget
from venuelink.circuit import CircuitState, FailureKind
from venuelink.errors import CircuitOpen, ExecutionUnknown, IpBanned, RateLimited, Rejected, VenueError
from venuelink.model import VenueId
from venuelink.rest import NonceSource, RestClient, RestResponse
from venuelink.venue import BucketScope, BucketSpec, HeaderKind, VenueSpec
from venuelink.ext.clock import now_ns
from venuelink.ext.ratelimit import BucketKind, Priority

FIXED, SLIDING = BucketKind.FIXED_WINDOW, BucketKind.SLIDING_WINDOW
W = {"REQ": 1}


@dataclass
class Answer:
    status: int = 200
    body: dict | list = field(default_factory=lambda: {"code": "0", "data": []})
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Server:
    """Answers from `script` in order (then `default`), recording every arrival."""
    url: str = ""
    script: list[Answer] = field(default_factory=list)
    default: Answer = field(default_factory=Answer)
    hold_s: float = 0.0                 # keep each request open this long (to provoke overlap)
    arrivals: list[tuple[int, str, str]] = field(default_factory=list)   # (now_ns, path, body)
    inflight: int = 0
    max_inflight: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.text()
        self.arrivals.append((now_ns(), request.path, body))
        self.inflight += 1
        self.max_inflight = max(self.max_inflight, self.inflight)
        try:
            if self.hold_s:
                await asyncio.sleep(self.hold_s * random.uniform(0.5, 1.0))
            a = self.script.pop(0) if self.script else self.default
            return web.Response(status=a.status, text=json.dumps(a.body), headers=a.headers,
                                content_type="application/json")
        finally:
            self.inflight -= 1


@contextlib.asynccontextmanager
async def serving() -> AsyncIterator[Server]:
    srv = Server()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", srv.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    srv.url = f"http://127.0.0.1:{port}"
    try:
        yield srv
    finally:
        await runner.cleanup()


def spec_of(*buckets: BucketSpec, venue: VenueId = VenueId.okx) -> VenueSpec:
    return VenueSpec(venue=venue, rest_url="", ws_url="",
                     buckets=buckets or (BucketSpec("REQ", FIXED, 1000, 60),))


def okx_style(resp: RestResponse) -> VenueError | None:
    """A classify in the shape of OKX's: errors come as {"code": "...", "msg": ...} with HTTP 200."""
    d = json.loads(resp.body)
    code = d.get("code") if isinstance(d, dict) else None
    if code in (None, "0"):
        return None
    kw = {"venue": "okx", "code": code, "http_status": resp.status}
    if code == "50011":
        return RateLimited("okx: rate limit reached", retry_after_s=float(d.get("retry", 1)), **kw)
    if code == "50013":
        return ExecutionUnknown("okx: systems busy", **kw)
    if code == "ban":
        return IpBanned("okx: banned", retry_after_s=60, **kw)
    return Rejected(f"okx: {d.get('msg', '')}", **kw)


def no_map(resp: RestResponse) -> VenueError | None:
    return None


@contextlib.asynccontextmanager
async def client(spec: VenueSpec | None = None, *, classify: Callable | None = okx_style,
                 map_error: Callable = no_map, max_wait_s: float = 5.0,
                 max_signed_inflight: int = 0) -> AsyncIterator[tuple[Server, RestClient]]:
    async with serving() as srv:
        budget = VenueBudget(spec or spec_of(), max_wait_s=max_wait_s)
        rest = RestClient("okx", srv.url, budget, map_error=map_error, classify=classify,
                          max_signed_inflight=max_signed_inflight, timeout_s=5.0)
        try:
            yield srv, rest
        finally:
            await rest.close()


# ---------------------------------------------------------------------------- errors in 200 bodies

async def test_rate_limit_in_200_body_blocks_next_request_until_retry_after():
    async with client() as (srv, rest):
        srv.script = [Answer(body={"code": "50011", "msg": "Rate limit reached", "retry": 0.3})]
        with pytest.raises(RateLimited) as ei:
            await rest.request("GET", "/api/v5/market/books", weights=W, priority=Priority.QUERY)
        assert ei.value.code == "50011" and ei.value.http_status == 200
        until = rest.budget.budget.blocked_until
        assert until > now_ns()
        assert rest.breaker.state == CircuitState.CLOSED and rest.breaker.failures == 0
        assert "50011" in rest.budget.blocked_reason
        r = await rest.request("GET", "/api/v5/market/books", weights=W, priority=Priority.QUERY)
        assert r.status == 200
        assert len(srv.arrivals) == 2 and srv.arrivals[1][0] >= until     # held back until then
        assert rest.budget.waits >= 1


async def test_rate_refusal_without_retry_time_blocks_the_charged_buckets_for_their_window():
    """OKX's 50011 says no retry time: the buckets of the refused request (place on that
    instrument, the sub-account cap) wait out their window; cancels and other buckets go on."""
    place = BucketSpec("PLACE", FIXED, 60, 0.6, headroom=0, scope=BucketScope.INSTRUMENT)
    sub = BucketSpec("SUB", FIXED, 1000, 0.6, headroom=0)
    cancel = BucketSpec("CANCEL", FIXED, 60, 0.6, headroom=0)
    async with client(spec_of(place, sub, cancel), max_wait_s=5.0) as (srv, rest):
        srv.script = [Answer(body={"code": "50011", "msg": "Rate limit reached", "retry": 0})]
        t0 = now_ns()
        with pytest.raises(RateLimited):
            await rest.request("POST", "/api/v5/trade/order", weights={"PLACE": 1, "SUB": 1},
                               priority=Priority.NEW_ORDER, instrument="BTC-USDT")
        assert rest.budget.budget.blocked_until <= now_ns()            # not every lane
        assert rest.budget.rate_refusals == 1 and "50011" in rest.budget.blocked_reason
        await rest.request("POST", "/api/v5/trade/cancel-order", weights={"CANCEL": 1},
                           priority=Priority.CANCEL)                    # at once
        assert srv.arrivals[1][0] - t0 < 500_000_000
        await rest.request("POST", "/api/v5/trade/order", weights={"PLACE": 1, "SUB": 1},
                           priority=Priority.NEW_ORDER, instrument="ETH-USDT")   # shares SUB: waits
        assert srv.arrivals[2][0] - srv.arrivals[0][0] >= 600_000_000 - 20_000_000


async def test_rate_limit_in_200_body_longer_than_max_wait_refuses_without_sending():
    async with client(max_wait_s=0.05) as (srv, rest):
        srv.script = [Answer(body={"code": "50011", "retry": 30})]
        with pytest.raises(RateLimited):
            await rest.request("GET", "/a", weights=W, priority=Priority.QUERY)
        with pytest.raises(CircuitOpen):
            await rest.request("GET", "/a", weights=W, priority=Priority.CANCEL)
        assert len(srv.arrivals) == 1


async def test_rejection_in_200_body_raises_it_and_venue_stays_up():
    async with client() as (srv, rest):
        srv.script = [Answer(body={"code": "51008", "msg": "Insufficient balance"})]
        with pytest.raises(Rejected) as ei:
            await rest.request("POST", "/api/v5/trade/order", weights=W, priority=Priority.NEW_ORDER)
        assert ei.value.code == "51008" and "Insufficient balance" in str(ei.value)
        assert rest.breaker.state == CircuitState.CLOSED and rest.breaker.last_failure is None
        assert rest.budget.budget.blocked_until == 0 and rest.errors == 1
        assert (await rest.request("GET", "/ok", weights=W, priority=Priority.QUERY)).status == 200


async def test_busy_code_in_200_body_counts_as_venue_down():
    async with client() as (srv, rest):
        srv.script = [Answer(body={"code": "50013", "msg": "Systems are busy"})] * 5
        for _ in range(5):
            with pytest.raises(ExecutionUnknown):
                await rest.request("POST", "/api/v5/trade/order", weights=W, priority=Priority.NEW_ORDER)
        assert rest.breaker.last_failure == FailureKind.VENUE_DOWN
        assert rest.breaker.state == CircuitState.OPEN            # 5 consecutive: threshold
        with pytest.raises(CircuitOpen):
            await rest.request("POST", "/ok", weights=W, priority=Priority.NEW_ORDER)
        assert len(srv.arrivals) == 5


async def test_ban_in_200_body_opens_the_circuit():
    async with client() as (srv, rest):
        srv.script = [Answer(body={"code": "ban"})]
        with pytest.raises(IpBanned):
            await rest.request("GET", "/a", weights=W, priority=Priority.QUERY)
        assert rest.breaker.state == CircuitState.OPEN and rest.breaker.last_failure == FailureKind.BANNED
        with pytest.raises(CircuitOpen):
            await rest.request("GET", "/a", weights=W, priority=Priority.CANCEL)
        assert len(srv.arrivals) == 1


async def test_classify_that_raises_is_counted_logged_and_an_execution_unknown(caplog):
    def broken(resp: RestResponse) -> VenueError | None:
        return {"x": 1}["missing"]                     # an adapter bug

    async with client(classify=broken) as (srv, rest):
        with caplog.at_level(logging.ERROR, logger="venuelink.rest"):
            with pytest.raises(ExecutionUnknown) as ei:
                await rest.request("GET", "/a", weights=W, priority=Priority.QUERY)
        assert "KeyError" in str(ei.value) and ei.value.http_status == 200
        assert rest.classify_failures == 1
        assert any("classify raised KeyError" in r.getMessage() for r in caplog.records)
        assert rest.breaker.last_failure == FailureKind.DEGRADED


async def test_classify_returning_a_non_error_is_an_adapter_bug_too():
    async with client(classify=lambda resp: "oops") as (srv, rest):
        with pytest.raises(ExecutionUnknown):
            await rest.request("GET", "/a", weights=W, priority=Priority.QUERY)
        assert rest.classify_failures == 1


async def test_non_2xx_still_goes_through_map_error_when_classify_lets_it_pass():
    async with client(map_error=binance_map_error, classify=lambda r: None) as (srv, rest):
        srv.script = [Answer(status=429, body={"code": -1003, "msg": "Too many requests"},
                             headers={"Retry-After": "0.2"}),
                      Answer(status=400, body={"code": -2010, "msg": "Account has insufficient balance"})]
        with pytest.raises(RateLimited) as ei:
            await rest.request("GET", "/a", weights=W, priority=Priority.QUERY)
        assert ei.value.code == -1003 and rest.budget.blocked_reason == "rate limited (429)"
        with pytest.raises(Rejected):
            await rest.request("POST", "/b", weights=W, priority=Priority.NEW_ORDER)
        assert rest.breaker.state == CircuitState.CLOSED


async def test_without_classify_a_200_body_is_returned_as_before():
    async with client(classify=None, map_error=binance_map_error) as (srv, rest):
        srv.script = [Answer(body={"code": "50011"})]
        r = await rest.request("GET", "/a", weights=W, priority=Priority.QUERY)
        assert r.status == 200 and json.loads(r.body)["code"] == "50011"


# ---------------------------------------------------------------------------- usage header kinds

async def test_used_header_sets_usage():
    spec = spec_of(BucketSpec("REQ", FIXED, 1000, 60, headroom=0, header="X-Used-Weight"))
    async with client(spec) as (srv, rest):
        srv.script = [Answer(headers={"X-Used-Weight": "640"})]
        await rest.request("GET", "/a", weights=W, priority=Priority.QUERY)
        assert rest.budget.budget.used(0, now_ns()) == 640


async def test_remaining_header_is_turned_into_usage():
    spec = spec_of(BucketSpec("REQ", SLIDING, 10, 1, headroom=0, header="X-Bapi-Limit-Status",
                              header_kind=HeaderKind.REMAINING))
    async with client(spec) as (srv, rest):
        srv.script = [Answer(headers={"X-Bapi-Limit-Status": "3"})]
        await rest.request("GET", "/a", weights=W, priority=Priority.QUERY)
        b = rest.budget.budget
        assert b.used(0, now_ns()) == 7                        # 10 - 3 left
        # more left than the limit, garbage and negatives: used never goes below local usage;
        # bad values are counted and ignored
        srv.script = [Answer(headers={"X-Bapi-Limit-Status": "50"}),
                      Answer(headers={"X-Bapi-Limit-Status": "abc"}),
                      Answer(headers={"X-Bapi-Limit-Status": "-4"})]
        for _ in range(3):
            await rest.request("GET", "/a", weights=W, priority=Priority.CANCEL)
        assert rest.budget.header_errors == 2
        assert b.used(0, now_ns()) >= 7


async def test_endpoint_scoped_header_only_updates_the_bucket_charged():
    spec = spec_of(
        BucketSpec("CREATE", SLIDING, 10, 1, headroom=0, header="X-Bapi-Limit-Status",
                   header_kind=HeaderKind.REMAINING, scope=BucketScope.ENDPOINT),
        BucketSpec("CANCEL", SLIDING, 10, 1, headroom=0, header="X-Bapi-Limit-Status",
                   header_kind=HeaderKind.REMAINING, scope=BucketScope.ENDPOINT),
        BucketSpec("IP", FIXED, 600, 5, headroom=0))
    async with client(spec) as (srv, rest):
        srv.script = [Answer(headers={"X-Bapi-Limit-Status": "2"})]
        await rest.request("POST", "/v5/order/create", weights={"CREATE": 1, "IP": 1},
                           priority=Priority.NEW_ORDER)
        b, now = rest.budget.budget, now_ns()
        assert b.used(rest.budget.index["CREATE"], now) == 8
        assert b.used(rest.budget.index["CANCEL"], now) == 0


async def test_reset_header_holds_an_exhausted_bucket_until_the_venue_resets_it():
    # the local window (0.1 s) would free the bucket long before the venue's reset (2 s)
    create = BucketSpec("CREATE", FIXED, 10, 0.1, headroom=0, header="X-Bapi-Limit-Status",
                        header_kind=HeaderKind.REMAINING, reset_header="X-Bapi-Limit-Reset-Timestamp",
                        scope=BucketScope.ENDPOINT)
    other = BucketSpec("QUERY", FIXED, 10, 0.1, headroom=0, scope=BucketScope.ENDPOINT)
    async with client(spec_of(create, other), max_wait_s=0.5) as (srv, rest):
        reset_ms = now_ns() // 1_000_000 + 2_000
        srv.script = [Answer(headers={"X-Bapi-Limit-Status": "0",
                                      "X-Bapi-Limit-Reset-Timestamp": str(reset_ms)})]
        await rest.request("POST", "/v5/order/create", weights={"CREATE": 1}, priority=Priority.NEW_ORDER)
        with pytest.raises(CircuitOpen):
            await rest.request("POST", "/v5/order/create", weights={"CREATE": 1}, priority=Priority.CANCEL)
        await rest.request("GET", "/v5/order/realtime", weights={"QUERY": 1}, priority=Priority.QUERY)
        assert len(srv.arrivals) == 2 and rest.budget.header_errors == 0
        # a reset time that is no time within the window (a day away, garbage) is counted and ignored
        rest.budget.budget.unblock()
        await asyncio.sleep(0.11)
        srv.script = [Answer(headers={"X-Bapi-Limit-Status": "0",
                                      "X-Bapi-Limit-Reset-Timestamp": str(reset_ms + 86_400_000)}),
                      Answer(headers={"X-Bapi-Limit-Status": "0", "X-Bapi-Limit-Reset-Timestamp": "soon"})]
        for _ in range(2):
            await rest.request("POST", "/v5/order/create", weights={"CREATE": 1}, priority=Priority.CANCEL)
            await asyncio.sleep(0.11)
        assert rest.budget.header_errors == 2


# ---------------------------------------------------------------------------- signed requests

async def _signed_burst(rest: RestClient, n: int) -> list[int]:
    async def one() -> int:
        async with rest.signed_slot():
            nonce = rest.nonce()                        # the caller signs inside the slot
            await asyncio.sleep(0)                      # signing may yield; order must hold anyway
            r = await rest.request("POST", "/0/private/AddOrder", body=f"nonce={nonce}",
                                   weights=W, priority=Priority.NEW_ORDER, idempotent=False)
            assert r.status == 200
            return nonce
    return await asyncio.gather(*(one() for _ in range(n)))


async def test_one_signed_request_in_flight_keeps_nonce_order():
    async with client(max_signed_inflight=1) as (srv, rest):
        srv.hold_s = 0.01
        sent = await _signed_burst(rest, 20)
        seen = [int(body.split("=")[1]) for _, _, body in srv.arrivals]
        assert len(seen) == 20 and sorted(seen) == sorted(sent)
        assert all(a < b for a, b in zip(seen, seen[1:]))          # strictly in nonce order
        assert srv.max_inflight == 1                                # never overlapping


async def test_signed_inflight_limit_bounds_concurrency_and_zero_means_none():
    async with client(max_signed_inflight=3) as (srv, rest):
        srv.hold_s = 0.02
        await _signed_burst(rest, 12)
        assert srv.max_inflight == 3
    async with client(max_signed_inflight=0) as (srv, rest):
        srv.hold_s = 0.02
        await _signed_burst(rest, 12)
        assert srv.max_inflight > 3                                 # the control: no limit of its own
    with pytest.raises(ValueError):
        RestClient("x", "http://127.0.0.1:1", VenueBudget(spec_of()), map_error=no_map,
                   max_signed_inflight=-1)


def test_nonce_never_repeats_when_the_clock_stalls_or_steps_back(monkeypatch):
    import venuelink.rest as rest_mod
    ticks = iter([1_000, 1_000, 1_000, 400, 2_000, 2_000])
    monkeypatch.setattr(rest_mod, "now_ns", lambda: next(ticks))
    n = NonceSource()
    assert [n() for _ in range(6)] == [1_000, 1_001, 1_002, 1_003, 2_000, 2_001]


def test_nonce_from_the_real_clock_is_strictly_increasing():
    n = NonceSource()
    vals = [n() for _ in range(10_000)]
    assert all(a < b for a, b in zip(vals, vals[1:]))


# ---------------------------------------------------------------------------- scopes

def pair_spec(limit: int = 2) -> VenueSpec:
    return spec_of(BucketSpec("REQ", FIXED, 1000, 60, headroom=0),
                   BucketSpec("PAIR", FIXED, limit, 60, headroom=0, scope=BucketScope.INSTRUMENT,
                              header="X-Pair-Used"),
                   venue=VenueId.kraken)


async def test_instrument_buckets_are_independent():
    vb = VenueBudget(pair_spec(), max_wait_s=0.01)
    w = {"REQ": 1, "PAIR": 1}
    for _ in range(2):
        await vb.acquire(w, Priority.CANCEL, instrument="BTC/USD")
    with pytest.raises(CircuitOpen):                       # BTC/USD's pair counter is full
        await vb.acquire(w, Priority.CANCEL, instrument="BTC/USD")
    await vb.acquire(w, Priority.CANCEL, instrument="ETH/USD")  # ETH/USD is not
    await vb.acquire({"REQ": 1}, Priority.CANCEL)               # no pair bucket: no instrument needed
    u = vb.utilization()
    assert u["PAIR:BTC/USD"] == 1.0 and u["PAIR:ETH/USD"] == 0.5 and u["REQ"] == pytest.approx(0.004)
    assert "PAIR" not in u


async def test_instrument_bucket_needs_an_instrument_and_unknown_buckets_are_errors():
    vb = VenueBudget(pair_spec())
    with pytest.raises(ValueError, match="per instrument"):
        await vb.acquire({"PAIR": 1}, Priority.QUERY)
    with pytest.raises(ValueError, match="unknown rate-limit bucket 'ORDERS'"):
        vb.cost({"REQ": 1, "ORDERS": 1})
    with pytest.raises(ValueError, match="without ':'"):
        VenueBudget(spec_of(BucketSpec("A:B", FIXED, 10, 1)))


async def test_many_instruments_beyond_sixteen_buckets():
    vb = VenueBudget(pair_spec(limit=5), max_wait_s=0.01)
    insts = [f"C{n}/USD" for n in range(40)]
    for k, inst in enumerate(insts):
        for _ in range(1 + k % 5):
            await vb.acquire({"REQ": 1, "PAIR": 1}, Priority.CANCEL, instrument=inst)
    assert len(vb.budget) == 41
    u = vb.utilization()
    assert all(u[f"PAIR:{inst}"] == pytest.approx((1 + k % 5) / 5) for k, inst in enumerate(insts))
    assert u["REQ"] == pytest.approx(sum(1 + k % 5 for k in range(40)) / 1000)


async def test_instrument_header_updates_only_that_instrument_over_http():
    async with client(pair_spec(limit=10)) as (srv, rest):
        await rest.request("POST", "/a", weights={"REQ": 1, "PAIR": 1}, priority=Priority.NEW_ORDER,
                           instrument="ETH/USD")
        srv.script = [Answer(headers={"X-Pair-Used": "7"})]
        await rest.request("POST", "/a", weights={"REQ": 1, "PAIR": 1}, priority=Priority.NEW_ORDER,
                           instrument="BTC/USD")
        u = rest.budget.utilization()
        assert u["PAIR:BTC/USD"] == pytest.approx(0.7) and u["PAIR:ETH/USD"] == pytest.approx(0.1)


def test_binance_weights_all_name_buckets_of_its_spec():
    vb = VenueBudget(BINANCE)
    for (method, path), (weights, _prio) in ENDPOINTS.items():
        assert len(vb.cost(weights)) == len(weights), (method, path)
    for limit in (100, 500, 1000, 5000):
        vb.cost({"REQUEST_WEIGHT": depth_weight(limit), "RAW_REQUESTS_5M": 1})
    assert set(vb.headers) == {"x-mbx-used-weight-1m", "x-mbx-order-count-10s", "x-mbx-order-count-1d"}
    with pytest.raises(ValueError):
        vb.cost({"REQUEST_WEIGHT_1M": 1})


# ------------------------------------------------------------------------ breakers: safety path

async def test_an_open_order_breaker_stops_new_orders_never_cancels():
    async with client(classify=None) as (srv, rest):
        srv.script = [Answer(status=503, body={"msg": "busy"}) for _ in range(5)]
        for _ in range(5):
            with pytest.raises(ExecutionUnknown):
                await rest.request("POST", "/order", weights=W, priority=Priority.NEW_ORDER)
        assert rest.breaker.state == CircuitState.OPEN
        n = len(srv.arrivals)
        with pytest.raises(CircuitOpen):
            await rest.request("POST", "/order", weights=W, priority=Priority.NEW_ORDER)
        assert len(srv.arrivals) == n                         # a new order never left the host
        r = await rest.request("DELETE", "/order", weights=W, priority=Priority.CANCEL)
        assert r.status == 200 and len(srv.arrivals) == n + 1  # the cancel did
        await rest.request("GET", "/order", weights=W, priority=Priority.QUERY)
        assert len(srv.arrivals) == n + 2


async def test_a_failing_snapshot_endpoint_does_not_stop_orders():
    async with client(classify=None) as (srv, rest):
        srv.script = [Answer(status=503, body={"msg": "busy"}) for _ in range(5)]
        for _ in range(5):
            with pytest.raises(ExecutionUnknown):
                await rest.request("GET", "/depth", weights=W, priority=Priority.SNAPSHOT)
        assert rest.md_breaker.state == CircuitState.OPEN and rest.breaker.state == CircuitState.CLOSED
        with pytest.raises(CircuitOpen):
            await rest.request("GET", "/depth", weights=W, priority=Priority.SNAPSHOT)
        r = await rest.request("POST", "/order", weights=W, priority=Priority.NEW_ORDER)
        assert r.status == 200
