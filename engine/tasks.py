# SPDX-License-Identifier: Apache-2.0
"""Small asyncio helpers shared by the engine's long-running components."""
from __future__ import annotations

import asyncio


async def cancel_and_wait(task: asyncio.Task | None) -> None:
    """Cancel a background task and wait until it has stopped; whatever it raised on the way out
    is its own business (it has logged what matters)."""
    if task is None:
        return
    task.cancel()
    try:
        await task
    except (asyncio.CancelledError, Exception):
        pass
