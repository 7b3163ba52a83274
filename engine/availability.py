# SPDX-License-Identifier: Apache-2.0
"""What happens to orders while a venue is unavailable, per venue, chosen by the operator.

A venue is unavailable for orders while it says it is in maintenance (venuelink.status), while its
order REST breaker is open (venue down, our connection broken, banned) or, where execution has a
private stream, while that stream is down. The watcher notices both within `poll_s`, probes the venue after the breaker's cooldown
(a cheap time request: cancels and queries pass an open breaker, so a probe can close it), and
applies the policy:

* HOLD: resting orders stay; a new order waits up to `hold_timeout_s` for the venue, then is
  refused with VenueUnavailable (it was never sent).
* REJECT_NEW: resting orders stay; a new order is refused at once.
* CANCEL_ALL: every open order is cancelled when the venue becomes unavailable (cancels pass the
  breaker), and again when it is back (whatever the first attempt could not reach); new orders
  are refused meanwhile.
* CALLBACK: the strategy's callbacks decide (new orders are refused meanwhile, as REJECT_NEW).

Every transition reaches the subscribe_venue_state callbacks (`cb(venue, available, reason)`).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable, Protocol

from venuelink.circuit import CircuitState
from venuelink.config import UnavailablePolicy
from venuelink.errors import VenueUnavailable
from venuelink.model import OrderState, VenueId
from venuelink.orders import OrderManager
from venuelink.rest import RestClient
from venuelink.status import StatusWatch
from venuelink.tasks import cancel_and_wait, within


class AvailabilityHost(Protocol):
    """What availability needs of its venue's runtime."""
    venue: VenueId
    rest: RestClient
    status: StatusWatch
    orders: OrderManager | None
    execution: Any

    @property
    def has_private_stream(self) -> bool: ...

    def strategy_failed(self, cb: Callable, e: Exception) -> None: ...


log = logging.getLogger("venuelink.availability")


class Availability:
    STARTING_GRACE_S = 10.0
    """the private stream's first connect after start is not an outage: nobody is told it is down
    while it connects, unless it is not up within this or its first attempt failed (then it is
    one, announced and decided by the policy as any other)"""

    def __init__(self, rt: AvailabilityHost, policy: UnavailablePolicy, *, hold_timeout_s: float = 5.0,
                 poll_s: float = 0.1) -> None:
        self.rt, self.policy, self.hold_timeout_s, self.poll_s = rt, policy, hold_timeout_s, poll_s
        self.available = True
        self.reason = ""
        self.transitions = 0
        self.cancels_sent = 0
        self.stream_wakes = 0
        self._last_wake = -1e9
        self.subs: list[Callable[[str, bool, str], None]] = []
        self._back = asyncio.Event()
        self._back.set()
        self._task: asyncio.Task | None = None
        self._announcing: set[asyncio.Task] = set()
        self.starting = False
        self._started_at = 0.0

    def start(self) -> None:
        self._started_at = asyncio.get_running_loop().time()
        ex = self.rt.execution
        if ex is not None and self.rt.has_private_stream and not getattr(ex, "stream_connected", True):
            self.starting = True
        self._task = asyncio.ensure_future(self._watch())

    async def close(self) -> None:
        await cancel_and_wait(self._task)
        for t in list(self._announcing):
            await cancel_and_wait(t)

    # ---- the gate new orders pass ----------------------------------------------------------
    async def admit(self) -> None:
        self.refresh()
        if self.available:
            return
        if self.policy == UnavailablePolicy.HOLD:
            try:
                await within(self._back.wait(), self.hold_timeout_s)
                return
            except asyncio.TimeoutError:
                pass
        raise VenueUnavailable(f"{self.rt.venue.name}: unavailable for orders ({self.reason}); "
                               f"policy {self.policy.name.lower()}: not sent")

    def refresh(self) -> None:
        """Bring the state up to date now, not at the next poll: a breaker that opened since (the
        last lost answers) makes the venue unavailable before the order at hand is sent, so the
        policy decides that order and the callbacks hear of it first. Only the breaker is read here:
        the other signals (status, the private stream) are the watcher's, which probes first."""
        if self.available:
            why = self._breaker_why()
            if why:
                self._changed(why)

    def _changed(self, why: str) -> None:
        self.available = not why
        self.reason = why
        self.transitions += 1
        if self.available:
            self._back.set()
            log.warning("%s: available for orders again", self.rt.venue.name)
        else:
            self._back.clear()
            log.warning("%s: unavailable for orders: %s; policy %s", self.rt.venue.name, why,
                        self.policy.name.lower())
        if self.policy == UnavailablePolicy.CANCEL_ALL:
            # the cancels go first, then the callbacks (the policy has been applied by then)
            t = asyncio.ensure_future(self._cancel_then_tell(self.available, why))
            self._announcing.add(t)
            t.add_done_callback(self._announcing.discard)
        else:
            self._tell(self.available, why)

    async def _cancel_then_tell(self, available: bool, why: str) -> None:
        await self._cancel_all()
        self._tell(available, why)

    def _tell(self, available: bool, why: str) -> None:
        for cb in list(self.subs):
            try:
                cb(self.rt.venue.name, available, why)
            except Exception as e:
                self.rt.strategy_failed(cb, e)

    # ---- watching ------------------------------------------------------------------------
    def _breaker_why(self) -> str:
        br = self.rt.rest.breaker
        if br.state != CircuitState.CLOSED:
            return f"order REST circuit {br.state.name.lower()} ({br.last_failure.name.lower() if br.last_failure else ''})"
        return ""

    def _why_unavailable(self) -> str:
        st = self.rt.status
        if st.in_maintenance:
            return f"venue maintenance ({st.current.describe()})"
        why = self._breaker_why()
        if why:
            return why
        ex = self.rt.execution
        if ex is not None and self.rt.has_private_stream and not getattr(ex, "stream_connected", True):
            return "private stream down"
        return ""

    def _settle_start(self) -> None:
        """End the start once the private stream is up (quietly: starting is not an outage), or
        once it is overdue, its first attempt failed or something else is wrong (then announced
        and decided by the policy as any outage)."""
        why = self._why_unavailable()
        if not why:
            self.starting = False
            log.info("%s: ready for orders", self.rt.venue.name)
            return
        failed = getattr(getattr(self.rt.execution, "private_ws", None), "last_error", None) is not None
        if why == "private stream down" and not failed and \
                asyncio.get_running_loop().time() - self._started_at < self.STARTING_GRACE_S:
            return
        self.starting = False
        self._changed(why if why != "private stream down" or failed else "private stream not connected since start")

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            if self.starting:
                self._settle_start()
                continue
            why = self._why_unavailable()
            br = self.rt.rest.breaker
            if why and br.state != CircuitState.CLOSED and br.retry_in() <= 0:
                await self._probe()
                why = self._why_unavailable()
                if br.state == CircuitState.CLOSED:
                    self._last_wake = -1e9          # the venue answers again: the stream follows now
            if why and br.state == CircuitState.CLOSED:
                self._wake_stream()
            if bool(why) == (not self.available):
                continue
            self._changed(why)

    WAKE_EVERY_S = 5.0
    """while REST answers and the private stream is still down, cut its reconnect backoff at most
    this often (at once after a probe found the venue back)"""

    def _wake_stream(self) -> None:
        wake = getattr(self.rt.execution, "reconnect_now", None)
        now = asyncio.get_running_loop().time()
        if wake is None or now - self._last_wake < self.WAKE_EVERY_S:
            return
        self._last_wake = now
        if wake():
            self.stream_wakes += 1
            log.info("%s: REST answers, private stream down: reconnecting it now", self.rt.venue.name)

    async def _probe(self) -> None:
        try:
            await self.rt.execution.sync_time()
        except Exception as e:
            log.info("%s: probe failed: %s", self.rt.venue.name, e)

    async def _cancel_all(self) -> None:
        om = self.rt.orders
        if om is None:
            return
        opened = [o for o in om.open_orders() if o.state is not OrderState.CANCEL_PENDING]
        for o in opened:
            self.cancels_sent += 1
            try:
                await om.cancel(o.client_order_id)
            except Exception as e:
                log.warning("%s: cancel of %s failed (%s); retried when the venue is back",
                            self.rt.venue.name, o.client_order_id, e)
