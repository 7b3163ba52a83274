"""The soak's stall monitor names what blocked the event loop (the stack caught during the stall),
so a stall in a soak report is a lead, not a mystery."""
import asyncio
import time

from venuelink.tools.soak import StallMonitor


def _blocks_the_loop_on_purpose() -> None:
    time.sleep(1.3)


async def test_a_stall_is_measured_and_its_stack_caught():
    mon = StallMonitor(dump_after_s=0.5)
    mon.start()
    await asyncio.sleep(0.1)
    _blocks_the_loop_on_purpose()
    await asyncio.sleep(0.1)
    mon.stop()
    assert mon.max_ms > 1000 and mon.over_100ms >= 1
    assert "_blocks_the_loop_on_purpose" in mon.stall_stack, mon.stall_stack[:2000]


async def test_no_stall_no_stack():
    mon = StallMonitor(dump_after_s=0.5)
    mon.start()
    await asyncio.sleep(0.3)
    mon.stop()
    assert mon.max_ms < 500 and mon.stall_stack == ""
