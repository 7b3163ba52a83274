"""Circuit breakers of the CCXT tier per connection type: the worker owns them (it sees CCXT's
exceptions), gates its re-watches by them, reports them in /stats, and the engine side turns
them into health and metrics."""
import asyncio
import json
import textwrap

import ccxt
import pytest

from venuelink.ccxt_tier import worker as worker_mod
from venuelink.ccxt_tier.adapter import CcxtAdapter, breaker_reports
from venuelink.ccxt_tier.errors import TierConn, error_chain, failure_kind
from venuelink.ccxt_tier.grid import Grid
from venuelink.ccxt_tier.worker import Worker
from venuelink.circuit import CircuitState, FailureKind
from venuelink.config import VenueConfig, load_config
from venuelink.model import VenueHealth
from tests.waiting import wait_for

BTC, ETH = "BTC/USDT", "ETH/USDT"
BOOK = {"bids": [[100.0, 1.0]], "asks": [[100.01, 1.0]], "timestamp": 1700000000000}


class Clock:
    """The breakers' clock, stepped by the test."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class Ex:
    """CCXT's exchange as the watch loops use it: each call takes the next step of its method's
    script (an exception is raised, a value returned, None waits for ever)."""
    has: dict = {}

    def __init__(self, **scripts) -> None:
        self.scripts = {k: list(v) for k, v in scripts.items()}
        self.calls = {k: 0 for k in scripts}

    async def _step(self, name: str):
        self.calls[name] += 1
        script = self.scripts[name]
        step = script.pop(0) if script else None
        if isinstance(step, BaseException):
            raise step
        if step is None:
            await asyncio.Event().wait()
        return step

    def watch_order_book(self, symbol):
        return self._step("book")

    def watch_trades(self, symbol):
        return self._step("trades")

    def watch_orders(self):
        return self._step("orders")


class Desk:
    @staticmethod
    def scrub(text: str) -> str:
        return text


@pytest.fixture(autouse=True)
def fast(monkeypatch):
    """The worker's real-time waits shortened; the breakers' cooldowns run on the test's clock."""
    monkeypatch.setattr(worker_mod, "BACKOFF_MIN_S", 0.001)
    monkeypatch.setattr(worker_mod, "BACKOFF_MAX_S", 0.002)
    monkeypatch.setattr(worker_mod, "GATE_POLL_S", (0.005, 0.01))
    monkeypatch.setattr(worker_mod, "STREAM_SETTLE_S", 0.05)


def _worker(ex: Ex, clock: Clock) -> Worker:
    w = Worker({"exchange": "binance", "symbols": [BTC], "depth": 3}, clock=clock)
    w.exchange = ex
    w.grids[BTC] = Grid("0.01", "0.001")
    w.send = lambda topic, frame: None
    return w


async def _stop(*tasks: asyncio.Task) -> None:
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def test_ccxt_exceptions_classify_by_the_tiers_table():
    def kind(e, status=0):
        return failure_kind(error_chain(e), str(e), status)
    assert kind(ccxt.NetworkError("connection refused")) == FailureKind.UNREACHABLE
    assert kind(ccxt.RequestTimeout("timed out")) == FailureKind.UNREACHABLE
    assert kind(ccxt.OnMaintenance("system maintenance")) == FailureKind.VENUE_DOWN
    assert kind(ccxt.ExchangeNotAvailable("502 Bad Gateway")) == FailureKind.VENUE_DOWN
    assert kind(ccxt.DDoSProtection("418 I'm a teapot"), 418) == FailureKind.BANNED
    assert kind(ccxt.RateLimitExceeded("IP banned until 1700000000")) == FailureKind.BANNED
    assert kind(ccxt.RateLimitExceeded("too many requests"), 429) is None          # the venue answered
    assert kind(ccxt.AuthenticationError("invalid key")) == FailureKind.DEGRADED
    assert kind(ccxt.ExchangeError("unexpected")) == FailureKind.DEGRADED
    assert kind(TypeError("a bug in a CCXT method")) == FailureKind.DEGRADED
    assert failure_kind(["LocalBudgetRefused"]) is None                              # never sent


async def test_failing_book_watches_open_the_public_breaker_which_gates_rewatches_until_a_probe_works():
    clock = Clock()
    ex = Ex(book=[ccxt.NetworkError("connection refused")] * 5 + [BOOK])
    w = _worker(ex, clock)
    br = w.breakers[TierConn.PUBLIC]
    t = asyncio.ensure_future(w.watch_books(BTC))
    try:
        assert await wait_for(lambda: br.state == CircuitState.OPEN, 5)
        assert ex.calls["book"] == 5 and br.last_failure == FailureKind.UNREACHABLE
        assert br.health == VenueHealth.UNREACHABLE and w.breakers[TierConn.REST].state == CircuitState.CLOSED
        await asyncio.sleep(0.1)                            # open: no re-watch before the cooldown
        assert ex.calls["book"] == 5 and f"book:{BTC}" in w.backing_off and w.stats["ccxt_public_gated"] == 1
        clock.t += br.base_cooldown_s + 0.1                 # the cooldown is over: one probe
        assert await wait_for(lambda: br.state == CircuitState.CLOSED and BTC in w.books, 5)
        assert br.health == VenueHealth.UP and br.opens == 1 and br.closes == 1
        assert ex.calls["book"] == 7                        # the probe's book, then the watch goes on
        assert not w.backing_off
    finally:
        await _stop(t)


async def test_maintenance_is_venue_down_and_a_half_open_breaker_lets_one_rewatch_through():
    clock = Clock()
    ex = Ex(book=[ccxt.OnMaintenance("binance system maintenance")] * 5)   # then every watch waits, no error
    w = _worker(ex, clock)
    w.grids[ETH] = Grid("0.01", "0.001")
    br = w.breakers[TierConn.PUBLIC]
    tasks = [asyncio.ensure_future(w.watch_books(BTC))]
    try:
        assert await wait_for(lambda: br.state == CircuitState.OPEN, 5)
        assert br.last_failure == FailureKind.VENUE_DOWN and br.health == VenueHealth.DOWN
        tasks.append(asyncio.ensure_future(w.watch_books(ETH, fresh=True)))   # a resync's new watch: gated too
        await asyncio.sleep(0.05)
        assert ex.calls["book"] == 5 and {f"book:{BTC}", f"book:{ETH}"} <= w.backing_off
        # half-open: exactly one of the two watches goes (it waits without an error: the venue
        # took the subscription); only once it settled does the other follow
        clock.t += br.base_cooldown_s + 0.1
        assert await wait_for(lambda: ex.calls["book"] == 6, 5)
        assert br.state == CircuitState.HALF_OPEN and br.holds_probe
        assert await wait_for(lambda: br.state == CircuitState.CLOSED, 5)
        assert await wait_for(lambda: ex.calls["book"] == 7, 5)
        assert br.health == VenueHealth.UP and not w.backing_off
    finally:
        await _stop(*tasks)


async def test_a_failing_private_stream_opens_only_the_private_breaker():
    clock = Clock()
    ex = Ex(orders=[ccxt.NetworkError("private stream dropped")] * 3)
    w = _worker(ex, clock)
    w.desk = Desk()
    t = asyncio.ensure_future(w.watch_private("orders"))
    try:
        assert await wait_for(lambda: TierConn.PRIVATE in w.breakers
                              and w.breakers[TierConn.PRIVATE].state == CircuitState.OPEN, 5)
        priv = w.breakers[TierConn.PRIVATE]
        assert priv.last_failure == FailureKind.UNREACHABLE and not w.private_up()
        for c in (TierConn.PUBLIC, TierConn.REST):
            assert w.breakers[c].state == CircuitState.CLOSED and w.breakers[c].health == VenueHealth.UP
        await asyncio.sleep(0.05)
        assert ex.calls["orders"] == 3                      # gated while open
        clock.t += priv.base_cooldown_s + 0.1
        assert await wait_for(lambda: priv.state == CircuitState.CLOSED and w.private_up(), 5)
        assert ex.calls["orders"] == 4
    finally:
        await _stop(t)


class _Proc:
    returncode = None


class _Sup:
    """A running worker's supervisor, as the adapter reads it."""
    proc = _Proc()
    starts, exits = 1, 0


async def test_stats_carry_the_breakers_and_the_adapter_maps_them_to_health():
    clock = Clock()
    w = _worker(Ex(), clock)
    w.breakers[TierConn.PRIVATE] = w.new_breaker(TierConn.PRIVATE)
    for _ in range(5):
        w.breaker_failed(TierConn.PUBLIC, ccxt.OnMaintenance("maintenance"))
    w.breaker_failed(TierConn.REST, ccxt.RequestTimeout("timed out"))      # one failure: still closed
    body = json.loads((await w.h_stats(None)).text)
    got = body["breakers"]
    assert set(got) == {"ccxt_public", "ccxt_private", "ccxt_rest"}
    assert got["ccxt_public"]["state"] == int(CircuitState.OPEN) and got["ccxt_public"]["opens"] == 1
    assert got["ccxt_public"]["last_failure"] == int(FailureKind.VENUE_DOWN) and got["ccxt_public"]["retry_in_s"] > 0
    assert got["ccxt_rest"]["state"] == int(CircuitState.CLOSED) and got["ccxt_rest"]["failures"] == 1

    a = CcxtAdapter(VenueConfig(name="kraken", tier="ccxt", symbols=[BTC]))
    a.breakers = breaker_reports(body["breakers"])
    assert a.breaker_health() == {TierConn.PUBLIC: VenueHealth.UNREACHABLE, TierConn.PRIVATE: VenueHealth.UNREACHABLE,
                                  TierConn.REST: VenueHealth.UNREACHABLE}          # no worker running
    a.worker = _Sup()
    a._window({"watches": 2, "watches_failing": 2})
    assert a.breaker_health() == {TierConn.PUBLIC: VenueHealth.DOWN, TierConn.PRIVATE: VenueHealth.UP,
                                  TierConn.REST: VenueHealth.DEGRADED}
    assert a.feed_health() == VenueHealth.DOWN          # every watch failing, and the breaker says why
    assert a.breakers[TierConn.PUBLIC].last_failure == FailureKind.VENUE_DOWN
    # the public breaker closed again, one watch still failing: degraded
    w.breaker_ok(TierConn.PUBLIC)
    a.breakers = breaker_reports(json.loads((await w.h_stats(None)).text)["breakers"])
    a._window({"watches": 2, "watches_failing": 1})
    assert a.breaker_health()[TierConn.PUBLIC] == VenueHealth.UP and a.feed_health() == VenueHealth.DEGRADED
    assert a.breakers[TierConn.PUBLIC].closes == 1
    # a worker newer than this engine: an unknown connection type is left out
    assert breaker_reports({"ccxt_other": {"state": 0, "health": 1}, "ccxt_rest": {"state": 9}}) == {}


def test_the_tiers_breakers_are_exported_per_connection_type(tmp_path):
    from venuelink.engine import Engine
    from venuelink.metrics import EngineCollector
    p = tmp_path / "c.toml"
    p.write_text(textwrap.dedent(f"""
        [venues.kraken]
        symbols = ["{BTC}"]
    """))
    eng = Engine(load_config(p))
    a = eng.runtime("kraken").adapter
    assert isinstance(a, CcxtAdapter)
    a.worker = _Sup()
    a.breakers = breaker_reports({
        "ccxt_public": {"state": 1, "health": 3, "last_failure": 2, "failures": 5, "opens": 2, "closes": 1,
                        "probes_lost": 0, "retry_in_s": 1.0},
        "ccxt_private": {"state": 0, "health": 1, "last_failure": 0, "opens": 0, "closes": 0, "probes_lost": 1}})
    fams = {f.name: f for f in EngineCollector(eng).collect()}
    health = {s.labels["path"]: s.value for s in fams["venuelink_venue_health"].samples if s.labels["venue"] == "kraken"}
    assert health["ccxt_public"] == int(VenueHealth.DOWN) and health["ccxt_private"] == int(VenueHealth.UP)
    assert "rest" in health and "ws" in health                      # the runtime's own paths stay
    moves = {(s.labels["path"], s.labels["to"]): s.value for s in fams["venuelink_ccxt_breaker_transitions"].samples
             if s.name.endswith("_total")}
    assert moves[("ccxt_public", "open")] == 2 and moves[("ccxt_public", "closed")] == 1
    assert moves[("ccxt_private", "open")] == 0
    lost = {s.labels["breaker"]: s.value for s in fams["venuelink_breaker_probes_lost"].samples
            if s.name.endswith("_total") and s.labels["venue"] == "kraken"}
    assert lost["ccxt_private"] == 1


async def test_a_request_admitted_before_a_ban_was_known_is_not_sent_after_it():
    """Concurrent requests admitted by the engine's budget before the venue's 418 came back were
    still sent after it (the fault matrix caught two inside the ban). Once the worker has seen
    the ban, an admitted request is held back locally, never sent, until the ban's end."""
    from aiohttp import web
    from ccxt.base.errors import DDoSProtection

    from venuelink.ccxt_tier.entry import LocalBudgetRefused, _last_http
    from venuelink.ccxt_tier.worker import Worker

    asked, refused = [], []

    async def acquire(request):
        asked.append(await request.json())
        return web.json_response({"ok": True})

    async def on_refused(request):
        refused.append(await request.json())
        return web.json_response({"ok": True})
    app = web.Application()
    app.router.add_post("/acquire", acquire)
    app.router.add_post("/refused", on_refused)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    sent = []

    class Ex:
        def calculate_rate_limiter_cost(self, *a):
            return 1

        async def fetch2(self, path, api="public", method="GET", params=None, config=None, *more):
            sent.append(path)
            if path == "order":
                box = _last_http.get()
                box["http_status"], box["retry_after_s"] = 418, 30.0
                raise DDoSProtection("binance 418 I'm a Teapot {\"code\":-1003,\"msg\":\"IP banned until ...\"}")
            return {"ok": 1}

        def client(self, url):
            raise AssertionError("no WebSocket here")

    w = Worker({"exchange": "binance", "symbols": ["BTC/USDT"], "depth": 3})
    ex = Ex()
    try:
        w.charge_requests(ex, f"http://127.0.0.1:{port}")
        assert await ex.fetch2("time") == {"ok": 1}
        with pytest.raises(DDoSProtection):
            await ex.fetch2("order", "private", "POST")
        with pytest.raises(LocalBudgetRefused, match="banned"):
            await ex.fetch2("openOrders", "private", "GET")          # admitted, then held: not sent
        assert sent == ["time", "order"] and w.stats["held_by_ban"] == 1
        assert len(asked) == 3 and refused[0]["http_status"] == 418
        w.banned_until = 0.0                                          # the ban's end
        assert await ex.fetch2("time") == {"ok": 1} and sent[-1] == "time"
    finally:
        for s in w._budget_http:
            await s.close()
        await runner.cleanup()
