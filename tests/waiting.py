"""Waiting for a condition in an async test: polled, bounded, and the condition's final value
returned, so `assert await wait_for(...)` fails with the state as it was at the deadline."""
import asyncio
import time
from typing import Callable


async def wait_for(pred: Callable[[], object], timeout: float = 5.0, step: float = 0.02) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        await asyncio.sleep(step)
    return bool(pred())
