"""Public trades missed while a connection was down come back from the venue's recent-trades
history, once each and in id order; what the history cannot cover is counted, never invented."""
from __future__ import annotations

from tests.engine.conftest import admin, engine_for
from tests.engine.test_binance_engine import BTC, wait_for


async def test_trades_missed_during_a_disconnect_are_backfilled_in_order(sim):
    async with engine_for(sim) as eng:
        got: list[int] = []
        eng.subscribe_trades("binance", BTC, lambda t: got.append(t.trade_id_int))
        await eng.start(execution=False)
        rt = eng.runtime("binance")
        assert await wait_for(lambda: len(got) > 50, 20)
        for _ in range(2):
            await admin(sim, "POST", "/fault", {"type": "silence", "enabled": True})
            assert await wait_for(lambda: rt.sessions[0].reconnects >= 1 and rt.backfill.runs >= 1, 15)
            await admin(sim, "POST", "/fault", {"type": "silence", "enabled": False})
            n = len(got)
            assert await wait_for(lambda: len(got) > n + 100 and not rt.backfill.holding, 20)
        # every trade the venue made from the first one delivered on is delivered, once, in order,
        # except those of a jump that came too soon after another to be backfilled (rate-limited
        # per symbol): those are counted to the trade, never silent
        bf = rt.backfill
        assert len(set(got)) == len(got) and got == sorted(got), "trades doubled or out of order"
        holes = sum(b - a - 1 for a, b in zip(got, got[1:]) if b - a > 1)
        assert holes == bf.unfilled_trades + bf.missing, (holes, bf.stats())
        assert holes <= 0.01 * len(got), (holes, len(got), bf.stats())
        assert bf.delivered > 0 and bf.failures == 0


async def test_a_hole_the_history_cannot_cover_is_counted(sim):
    async with engine_for(sim) as eng:
        got: list[int] = []
        eng.subscribe_trades("binance", BTC, lambda t: got.append(t.trade_id_int))
        await eng.start(execution=False)
        rt = eng.runtime("binance")
        assert await wait_for(lambda: len(got) > 20, 20)
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
        holes = sum(b - a - 1 for a, b in zip(got, got[1:]) if b - a > 1)
        assert holes == bf.missing, (holes, bf.stats())
