# SPDX-License-Identifier: Apache-2.0
"""The venue-side dead man's switch: the venue cancels every open order of the account unless
it is re-armed in time (OKX cancel-all-after, Bybit/Kraken/Deribit have the same idea).

An execution client that offers one has ``async arm_dead_man(timeout_s: int)`` (0 disarms; a
timeout the venue does not accept raises ``ValueError``). The runtime arms it when
``VenueConfig.dead_man_s`` is set and re-arms it every third of the timeout, so two re-arms in a
row may fail (a slow answer, one dropped request) before the venue acts. A graceful close
disarms it; a process that dies leaves it armed, which is the point.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from venuelink.errors import ConfigError
from venuelink.tasks import bounded, cancel_and_wait, within

log = logging.getLogger("venuelink.deadman")


class DeadMansSwitch:
    def __init__(self, client: Any, timeout_s: int, *, name: str = "") -> None:
        if timeout_s <= 0:
            raise ValueError("the dead man's switch needs a positive timeout")
        if not callable(getattr(client, "arm_dead_man", None)):
            raise ConfigError(f"{name or 'venue'}: dead_man_s is set but the venue has no dead man's switch")
        self.client, self.timeout_s, self.name = client, int(timeout_s), name or "venue"
        self.period_s = max(1.0, self.timeout_s / 3)
        self.arms = 0
        self.failures = 0
        self.armed = False
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        """Arm once now (a timeout the venue refuses is a ConfigError; any other failure is
        logged and retried by the loop), then keep re-arming in the background."""
        try:
            await self._arm()
        except ValueError as e:
            raise ConfigError(f"{self.name}: dead_man_s: {e}") from None
        except Exception as e:
            self._failed(e)
        self._task = asyncio.ensure_future(self._loop())

    async def _arm(self) -> None:
        await self.client.arm_dead_man(self.timeout_s)
        self.arms += 1
        self.armed = True

    def _failed(self, e: BaseException) -> None:
        self.failures += 1
        log.warning("%s: arming the dead man's switch failed: %s: %s", self.name, type(e).__name__, e)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.period_s)
            try:
                await within(self._arm(), self.period_s)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self._failed(e)

    async def close(self) -> None:
        """Stop re-arming and disarm (bounded: a venue that does not answer leaves it armed)."""
        await cancel_and_wait(self._task)
        self._task = None
        if self.armed:
            if await bounded(self.client.arm_dead_man(0), f"{self.name}: disarming the dead man's switch"):
                self.armed = False
