# SPDX-License-Identifier: Apache-2.0
"""Small asyncio helpers shared by the engine's long-running components.

Every close path is bounded: a background task is cancelled, then awaited for at most
`CLOSE_TIMEOUT_S`; one that is still running after that (stuck in a call that ignores
cancellation) is abandoned with a logged warning and counted in `abandoned_tasks`, never awaited
forever."""
from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, TypeVar

T = TypeVar("T")

log = logging.getLogger("venuelink.tasks")

CLOSE_TIMEOUT_S = 2.0
"""how long one close step may take before it is abandoned"""

abandoned_tasks = 0
"""close steps given up on because they did not finish within their bound (process-wide)"""


def _abandoned(what: str, bound_s: float) -> None:
    global abandoned_tasks
    abandoned_tasks += 1
    log.warning("%s did not stop within %.1fs of being cancelled: abandoned", what, bound_s)


async def cancel_and_wait(task: asyncio.Task | None, timeout_s: float = CLOSE_TIMEOUT_S) -> bool:
    """Cancel a background task and wait until it has stopped, at most `timeout_s`; whatever it
    raised on the way out is its own business (it has logged what matters). Returns False when
    the task had to be abandoned (logged, counted)."""
    if task is None or task.done():
        return True
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=timeout_s)
    if not done:
        _abandoned(f"task {task.get_name()}", timeout_s)
        return False
    if not task.cancelled():
        task.exception()                  # retrieved: never "exception was never retrieved"
    return True


async def within(aw: Awaitable[T], timeout_s: float | None) -> T:
    """``aw`` awaited for at most ``timeout_s`` (TimeoutError beyond it; None: no limit). Unlike
    ``asyncio.wait_for`` on Python 3.11, a cancellation that arrives as ``aw`` completes is never
    dropped: a loop waiting here stops when it is cancelled instead of sleeping on through a close."""
    async with asyncio.timeout(timeout_s):
        return await aw


async def bounded(aw: Awaitable[object], what: str, timeout_s: float = CLOSE_TIMEOUT_S) -> bool:
    """Await one close step (closing a socket, an HTTP session) for at most `timeout_s`; a step
    that hangs or fails is logged and the caller goes on with the rest of its shutdown."""
    task = asyncio.ensure_future(aw)
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout_s)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not done:
        task.cancel()
        _abandoned(what, timeout_s)
        return False
    if not task.cancelled() and task.exception() is not None:
        log.warning("%s failed while closing: %s: %s", what, type(task.exception()).__name__, task.exception())
    return True


async def cancel_all(tasks: list[asyncio.Task], timeout_s: float = CLOSE_TIMEOUT_S) -> bool:
    """cancel_and_wait for several tasks at once, under one bound."""
    live = [t for t in tasks if t is not None and not t.done()]
    if not live:
        return True
    for t in live:
        t.cancel()
    done, pending = await asyncio.wait(live, timeout=timeout_s)
    for t in done:
        if not t.cancelled():
            t.exception()
    for t in pending:
        _abandoned(f"task {t.get_name()}", timeout_s)
    return not pending
