"""Public trades missed while a connection was down come back from the venue's recent-trades
history, once each and in id order; what the history cannot cover is counted, never invented."""
from __future__ import annotations

import asyncio

import contextlib

from tests.engine.conftest import admin, engine_for
from tests.engine.test_binance_engine import BTC, wait_for


@contextlib.asynccontextmanager
async def trading(sim, warm: int):
    """The engine on the simulator, BTC trade ids collected, `warm` trades in: (runtime, ids)."""
    async with engine_for(sim) as eng:
        got: list[int] = []
        eng.subscribe_trades("binance", BTC, lambda t: got.append(t.trade_id_int))
        await eng.start(execution=False)
        assert await wait_for(lambda: len(got) > warm, 20)
        yield eng.runtime("binance"), got


def holes_in(ids: list[int]) -> int:
    return sum(b - a - 1 for a, b in zip(ids, ids[1:]) if b - a > 1)


async def test_trades_missed_during_a_disconnect_are_backfilled_in_order(sim):
    async with trading(sim, 50) as (rt, got):
        for _ in range(2):
            await admin(sim, "POST", "/fault", {"type": "silence", "enabled": True})
            assert await wait_for(lambda: rt.sessions[0].reconnects >= 1 and rt.backfill.runs >= 1, 15)
            await admin(sim, "POST", "/fault", {"type": "silence", "enabled": False})
            n = len(got)
            assert await wait_for(lambda: len(got) > n + 100 and not rt.backfill.holding, 20)
        # every trade the venue made from the first one delivered on is delivered, once, in order
        bf = rt.backfill
        assert len(set(got)) == len(got) and got == sorted(got), "trades doubled or out of order"
        holes = holes_in(got)
        assert holes == 0 and bf.unfilled_trades == 0 and bf.missing == 0, (holes, bf.stats())
        assert bf.delivered > 0 and bf.failures == 0


async def test_jumps_in_quick_succession_are_all_backfilled_the_later_ones_late(sim):
    """Trades lost on a live connection (ids jump) come back from the history; a jump sooner than
    min_gap_interval_s after the previous fetch waits for it instead of being given up."""
    async with trading(sim, 20) as (rt, got):
        bf = rt.backfill
        first = got[0]
        for _ in range(3):                 # three jumps well within one min_gap_interval_s
            g = bf.gaps
            await admin(sim, "POST", "/fault", {"type": "mute", "topics": ["btcusdt@trade"], "enabled": True})
            await asyncio.sleep(0.2)
            await admin(sim, "POST", "/fault", {"type": "mute", "topics": ["btcusdt@trade"], "enabled": False})
            assert await wait_for(lambda: bf.gaps > g, 10)
            assert await wait_for(lambda: not bf.holding, 10)
        assert bf.gaps >= 3 and bf.gaps_delayed >= 1, bf.stats()
        assert await wait_for(lambda: not bf.holding, 15)
        n = len(got)
        assert await wait_for(lambda: len(got) > n + 20, 20)
        assert got[0] == first and len(set(got)) == len(got) and got == sorted(got)
        holes = holes_in(got)
        assert holes == 0 and bf.gaps_unfilled == 0, (holes, bf.stats())


async def test_a_hole_the_history_cannot_cover_is_counted(sim):
    async with trading(sim, 20) as (rt, got):
        await admin(sim, "POST", "/fault", {"type": "silence", "enabled": True})
        await admin(sim, "POST", "/fault", {"type": "flood", "steps": 4000})   # far more than 1000 trades
        assert await wait_for(lambda: rt.backfill.runs >= 1 and not rt.backfill.holding, 20)
        await admin(sim, "POST", "/fault", {"type": "silence", "enabled": False})
        n = len(got)
        assert await wait_for(lambda: len(got) > n + 50, 20)
        bf = rt.backfill
        assert bf.incomplete >= 1 and bf.missing > 0, bf.stats()
        assert bf.delivered > 0
        assert len(set(got)) == len(got) and got == sorted(got)   # nothing doubled, nothing reordered
        # every hole in what was delivered is one the backfill counted as lost, to the trade
        holes = holes_in(got)
        assert holes == bf.missing, (holes, bf.stats())
