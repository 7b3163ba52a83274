"""Connection behaviour against the simulator: heartbeats, the venue closing old connections,
silent feeds, venue-announced shutdowns. Every case must end with a live book equal to the
venue's, reached through a resync.

The scenarios that wait on the engine's detection and recovery timers run them compressed
(`compressed_engine`, venuelink.config.Timers scaled by TIME_SCALE), with their waits and bounds
scaled alike; the real timers are asserted by tests/engine/test_timers.py."""
import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from venuelink.config import Config, Timers
from venuelink.engine import Engine
from venuelink.sim.server import running_simulator
from tests.engine.conftest import admin, engine_for, venue_config
from tests.engine.test_binance_engine import assert_book_equals_sim, fs_of, wait_for

TIME_SCALE = 0.4
"""the engine's own timers at this fraction of the real ones, in the tests that wait on them"""


@asynccontextmanager
async def compressed_engine(sim) -> AsyncIterator[Engine]:
    """engine_for(sim), on Timers().scaled(TIME_SCALE)."""
    vc = venue_config(sim)
    vc.timers = Timers().scaled(TIME_SCALE)
    eng = Engine(Config(venues={"binance": vc}, metrics_port=0))
    try:
        yield eng
    finally:
        await eng.close()


async def test_pings_are_answered_so_the_venue_keeps_us():
    with running_simulator("binance", rate=50, ping_interval=0.5, pong_timeout=1.0) as sim:
        async with engine_for(sim) as eng:
            await eng.start(execution=False)
            fs = fs_of(eng)
            assert await wait_for(lambda: fs.sync.is_live, 15)
            await asyncio.sleep(3.0)                 # six ping periods, three pong timeouts
            s = eng.runtime("binance").sessions[0]
            assert s.reconnects == 0 and fs.sync.is_live


async def test_venue_closes_old_connection_we_reconnect_and_resync():
    with running_simulator("binance", rate=50, max_conn_age=2.0, depth_fast_ms=20) as sim:
        async with engine_for(sim) as eng:
            await eng.start(execution=False)
            fs = fs_of(eng)
            s = eng.runtime("binance").sessions[0]
            assert await wait_for(lambda: s.reconnects >= 1, 15)
            assert await wait_for(lambda: fs.sync.is_live and fs.sync.n_snapshots >= 2, 15)
            await assert_book_equals_sim(eng, sim)


async def test_silent_feed_goes_stale_then_reconnects():
    with running_simulator("binance", rate=50, depth_fast_ms=20) as sim:
        async with engine_for(sim) as eng:
            rt = eng.runtime("binance")
            await eng.start(execution=False)
            fs = fs_of(eng)
            s = rt.sessions[0]
            s.stale_after_s = 0.6
            assert await wait_for(lambda: fs.sync.is_live, 15)
            states = []
            await admin(sim, "POST", "/fault", {"type": "silence", "enabled": True})
            assert await wait_for(lambda: fs.sync.state == 3, 5)          # STALE: not handed out as live
            states.append(fs.sync.state)
            assert await wait_for(lambda: s.stale_events >= 1, 5)
            await admin(sim, "POST", "/fault", {"type": "silence", "enabled": False})
            assert await wait_for(lambda: fs.sync.is_live, 15)
            assert s.reconnects >= 1
            await assert_book_equals_sim(eng, sim)


async def test_server_shutdown_notice_rotates_make_before_break():
    """The venue announces it will close the connection: a new one is opened first and the old
    one closed once the new one delivers; the book never leaves LIVE, no resync, no trade twice."""
    with running_simulator("binance", rate=50, depth_fast_ms=20) as sim:
        async with engine_for(sim) as eng:
            trades: list[str] = []
            eng.subscribe_trades("binance", "BTC/USDT", lambda t: trades.append(t.trade_id))
            states: list = []
            eng.subscribe_book_state("binance", "BTC/USDT", lambda sym, st: states.append(st))
            await eng.start(execution=False)
            fs = fs_of(eng)
            s = eng.runtime("binance").sessions[0]
            assert await wait_for(lambda: fs.sync.is_live and len(trades) > 5, 15)
            snaps, n_states = fs.sync.n_snapshots, len(states)
            for k in range(3):
                await admin(sim, "POST", "/fault", {"type": "server_shutdown"})
                assert await wait_for(lambda: s.notice_rotations > k, 10), f"notice {k}: no rotation"
                await asyncio.sleep(0.5)
            assert s.reconnects == 0 and s.rotations == 3 and fs.sync.n_snapshots == snaps
            assert fs.sync.is_live and states[n_states:] == [] and len(trades) == len(set(trades))
            await assert_book_equals_sim(eng, sim)


async def test_a_shutdown_notice_whose_new_connection_fails_reconnects_on_the_announced_backoff():
    """The notice comes with a maintenance (new connections refused): the rotation cannot open a
    new connection, so the session reconnects as for an announced close, promptly once it ends."""
    with running_simulator("binance", rate=50, depth_fast_ms=20) as sim:
        async with engine_for(sim) as eng:
            await eng.start(execution=False)
            fs = fs_of(eng)
            s = eng.runtime("binance").sessions[0]
            assert await wait_for(lambda: fs.sync.is_live, 15)
            await admin(sim, "POST", "/fault", {"type": "maintenance", "enabled": True})
            assert await wait_for(lambda: not fs.sync.is_live, 10)
            await asyncio.sleep(1.0)
            await admin(sim, "POST", "/fault", {"type": "maintenance", "enabled": False})
            t0 = asyncio.get_running_loop().time()
            assert await wait_for(lambda: fs.sync.is_live, 30)
            assert asyncio.get_running_loop().time() - t0 < 4.0 and s.reconnects >= 1


async def test_a_short_maintenance_after_a_long_one_recovers_on_a_fresh_backoff():
    """A 10-s maintenance drives the connect backoff to ~13 s. The next maintenance starts with
    the venue's notice: its failed connects must back off from the start, not from 13 s (the soak
    saw "retry in 30.00s" after one failed connect, and books STALE past its recovery check).
    On compressed timers: every time here x TIME_SCALE."""
    k = TIME_SCALE
    with running_simulator("binance", rate=50, depth_fast_ms=20) as sim:
        async with compressed_engine(sim) as eng:
            await eng.start(execution=False)
            fs = fs_of(eng)
            assert await wait_for(lambda: fs.sync.is_live, 15)
            await admin(sim, "POST", "/fault", {"type": "maintenance", "enabled": True})
            await asyncio.sleep(10.0 * k)
            await admin(sim, "POST", "/fault", {"type": "maintenance", "enabled": False})
            assert await wait_for(lambda: fs.sync.is_live, 40)
            await asyncio.sleep(1.0 * k)
            await admin(sim, "POST", "/fault", {"type": "maintenance", "enabled": True})
            assert await wait_for(lambda: not fs.sync.is_live, 10)
            await asyncio.sleep(0.5 * k)
            await admin(sim, "POST", "/fault", {"type": "maintenance", "enabled": False})
            t0 = asyncio.get_running_loop().time()
            assert await wait_for(lambda: fs.sync.is_live, 40)
            took = asyncio.get_running_loop().time() - t0
            assert took < 4.0 * k, f"book live again {took:.2f} s after the second maintenance ended"


async def test_rotation_is_make_before_break_without_resync_or_duplicate_trades():
    with running_simulator("binance", rate=100, depth_fast_ms=20) as sim:
        async with engine_for(sim) as eng:
            await eng.start(execution=False)
            fs = fs_of(eng)
            s = eng.runtime("binance").sessions[0]
            trades = []
            eng.subscribe_trades("binance", "BTC/USDT", lambda t: trades.append(t.trade_id))
            assert await wait_for(lambda: fs.sync.is_live and len(trades) > 5, 15)
            snaps = fs.sync.n_snapshots
            s.max_age_s = 0.5                        # rotate now (the venue allows 24 h)
            assert await wait_for(lambda: s.rotations >= 2, 15)
            await asyncio.sleep(0.5)
            assert s.reconnects == 0 and fs.sync.n_snapshots == snaps and fs.sync.n_gaps == 0
            assert fs.sync.is_live and len(trades) == len(set(trades))
            await assert_book_equals_sim(eng, sim)


async def test_a_dead_venue_makes_books_not_live_at_once():
    # kill -9 the venue and keep it down: the connection sits in backoff, and no book may keep
    # saying LIVE with its last prices meanwhile
    import signal
    with running_simulator("binance", rate=50, depth_fast_ms=20) as sim:
        async with engine_for(sim) as eng:
            states = []
            eng.subscribe_book_state("binance", "BTC/USDT", lambda sym, st: states.append(st))
            await eng.start(execution=False)
            fs = fs_of(eng)
            assert await wait_for(lambda: fs.sync.is_live, 15)
            sim.proc.send_signal(signal.SIGKILL)
            assert await wait_for(lambda: not fs.sync.is_live, 1.0)
            await asyncio.sleep(1.0)
            assert not fs.sync.is_live and states[-1] != 2


async def test_delayed_data_is_stale_while_the_socket_is_fine():
    # every frame 3 s late (x TIME_SCALE, as the lag threshold): the socket is healthy, the prices
    # are not current
    k = TIME_SCALE
    with running_simulator("binance", rate=50, depth_fast_ms=20) as sim:
        async with compressed_engine(sim) as eng:
            await eng.start(execution=False)
            fs = fs_of(eng)
            views = []
            eng.subscribe_book("binance", "BTC/USDT", lambda v: views.append(v.state))
            assert await wait_for(lambda: fs.sync.is_live, 15)
            await admin(sim, "POST", "/fault", {"type": "delay", "ms": round(3000 * k)})
            assert await wait_for(lambda: fs.sync.state == 3, 10)            # STALE, not LIVE
            views.clear()
            await asyncio.sleep(1.0 * k)
            assert fs.sync.state == 3 and fs.n_lagging > 0 and not views       # nothing handed out as live
            await admin(sim, "POST", "/fault", {"type": "delay", "ms": 0})
            assert await wait_for(lambda: fs.sync.is_live, 15)
            assert eng.runtime("binance").sessions[0].reconnects == 0


async def test_books_recover_within_seconds_of_a_failing_snapshot_endpoint():
    # on compressed timers: the snapshot retry backoff and the market-data breaker's cooldowns
    with running_simulator("binance", rate=50, depth_fast_ms=20) as sim:
        async with compressed_engine(sim) as eng:
            await eng.start(execution=False)
            fs = fs_of(eng)
            assert await wait_for(lambda: fs.sync.is_live, 15)
            await admin(sim, "POST", "/fault", {"type": "http_error", "status": 503, "count": 8,
                                                "path": "/api/v3/depth"})
            await admin(sim, "POST", "/fault", {"type": "gap", "symbol": "BTCUSDT", "count": 1})
            # the gap shows with the symbol's next diff after the dropped one (a loaded host: later)
            if not await wait_for(lambda: fs.sync.n_resyncs >= 1, 30):
                # say whether the venue withheld an update at all (the fault still pending) or the
                # book missed one without noticing (the worst failure: a confident lie)
                pytest.fail(f"no resync after a gap: book {fs!r} seq {fs.book.seq}, state {fs.sync.state}, "
                            f"gaps {fs.sync.n_gaps}, the venue's faults {await admin(sim, 'GET', '/faults')}, "
                            f"status {await admin(sim, 'GET', '/status')}")
            # eight 503s, then the endpoint answers: the book is live again in seconds, not minutes
            assert await wait_for(lambda: fs.sync.is_live, 40 * TIME_SCALE)
            assert eng.runtime("binance").rest.breaker.state == 0        # orders were never blocked
