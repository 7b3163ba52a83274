# SPDX-License-Identifier: Apache-2.0
"""The runtime drives a venue's dead man's switch from VenueConfig.dead_man_s: armed at start,
re-armed while running, disarmed on close; refused for a venue without one."""
from __future__ import annotations

import asyncio
import contextlib

import pytest

from venuelink.adapters.binance.execution import BinanceExecution
from venuelink.config import Config
from venuelink.engine import Engine
from venuelink.errors import ConfigError
from tests.engine.conftest import venue_config


@contextlib.asynccontextmanager
async def engine_for(sim, dead_man_s: int):
    vc = venue_config(sim)
    vc.dead_man_s = dead_man_s
    eng = Engine(Config(venues={"binance": vc}, metrics_port=0))
    try:
        yield eng
    finally:
        await eng.close()


async def test_a_venue_without_a_switch_refuses_dead_man_s(sim):
    async with engine_for(sim, dead_man_s=30) as eng:
        with pytest.raises(ConfigError, match="dead man"):
            await eng.start(market_data=False)


async def test_armed_at_start_rearmed_and_disarmed_on_close(sim, monkeypatch):
    calls: list[int] = []

    async def arm_dead_man(self, timeout_s: int) -> None:
        calls.append(timeout_s)

    monkeypatch.setattr(BinanceExecution, "arm_dead_man", arm_dead_man, raising=False)
    async with engine_for(sim, dead_man_s=30) as eng:
        await eng.start(market_data=False)
        dm = eng.runtime("binance").dead_man
        assert calls == [30] and dm.armed and dm.period_s == 10
        dm.period_s = 0.05
        dm._task.cancel()
        dm._task = asyncio.ensure_future(dm._loop())
        for _ in range(100):
            if len(calls) >= 3:
                break
            await asyncio.sleep(0.02)
        assert calls[:3] == [30, 30, 30]
    assert calls[-1] == 0 and not dm.armed
