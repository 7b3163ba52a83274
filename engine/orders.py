# SPDX-License-Identifier: Apache-2.0
"""Venue-agnostic order manager.

One ``OrderManager`` per venue account drives an ``ExecutionClient`` (the venue adapter) and owns
the engine's view of every order: ``Order`` objects keyed by client order id.

Information about an order reaches the manager from several places -- the place/cancel
responses, the private stream, ``query`` answers, ``open_orders``/``recent_fills`` snapshots --
in any order, possibly duplicated, possibly late.  All of it goes through one idempotent merge:

* ``filled_qty`` never decreases.  The cumulative quantity is the maximum of what we had, what
  the venue reported as cumulative, and the sum of the distinct fills we have seen (each of those
  is a lower bound of the truth, so their maximum is too).  Compared as ``decimal.Decimal``.
* A fill is applied once per order and ``trade_id``; repeats are ignored.
* The state only moves forward: PENDING_NEW < NEW < PARTIALLY_FILLED < (venue) CANCEL_PENDING <
  final.  An older state arriving late is ignored (NEW after PARTIALLY_FILLED, ...).  A final
  state (FILLED, CANCELED, REJECTED, EXPIRED) is never left; UNKNOWN may go anywhere.
* The state is derived from quantities when the venue's state lags: filled == qty -> FILLED,
  0 < filled -> at least PARTIALLY_FILLED.  A FILLED report implies filled == qty.
* CANCEL_PENDING is the manager's own overlay while a cancel is in flight.  Venue information
  received meanwhile updates the order underneath (filled qty, the state to restore if the cancel
  is refused); a final state ends the overlay.
* Orders the manager never placed (another session, a previous run) are adopted from the first
  update or fill that mentions them, so nothing is lost.

Placement is never retried automatically.  When a place times out or fails in a way that does
not prove the request was refused, the order goes to UNKNOWN and is reconciled with ``query``.
If the venue says it has no such order the order ends REJECTED ("not placed") and is *not* sent
again: the first request may still be travelling inside the venue (queued at a gateway, delayed
behind a matching-engine hiccup) and a second request would then place the order twice.  The
caller decides whether to place again (with a new client order id).  Should the venue later
report the order after all, that evidence wins over our inference and the order is reopened.
Cancels, being idempotent, are re-sent by reconciliation while the order is still open.

Callbacks: ``on_fill(order, fill)`` exactly once per distinct fill, then ``on_update(order)``
exactly once per change of state, filled quantity or error text.  Exceptions raised by callbacks
are logged and never disturb the manager.
"""

from __future__ import annotations

import asyncio
import logging
import time
from decimal import Decimal

from venuelink.budget import SendWindow, send_window
from venuelink.errors import BudgetTimeout, ExecutionUnknown, Rejected, UnknownOrder
from venuelink.execution import ExecutionClient
from venuelink.model import Order, OrderRequest, OrderType, OrderUpdate, PositionSide
from venuelink.order_ids import make_client_order_id
from venuelink.order_ledger import (BUDGET_REFUSED, NOT_PLACED, UNRESOLVED, VANISHED, S, _NOT_EXECUTED, _dec, _Entry,
                                    _fmt, _positive, _qty, next_state)
from venuelink.order_sync import OrderSync

__all__ = [
    "ExecutionClient",
    "OrderManager",
    "make_client_order_id",
    "next_state",
    "BUDGET_REFUSED",
    "NOT_PLACED",
    "UNRESOLVED",
    "VANISHED",
]

log = logging.getLogger("venuelink.orders")


async def _refuse(exc: BaseException) -> OrderUpdate:
    """A place refused here, before any request: the manager settles it as the venue's refusal."""
    raise exc


class OrderManager(OrderSync):
    """Order lifecycle for one venue account: placing, canceling and amending on the ledger
    (venuelink.order_ledger), which merges everything the venue says and checks itself against
    the venue's lists (venuelink.order_sync).  See the module docstring for the merge rules."""

    async def place(self, req: OrderRequest) -> Order:
        """Send a new order; returns it in its acknowledged state, REJECTED, or UNKNOWN.

        UNKNOWN means the outcome could not be established; reconciliation runs in the background
        and the order is never sent again by the manager.
        """
        if self._closed:
            raise RuntimeError("order manager is closed")
        if req.venue != self._client.venue:
            raise ValueError(f"request for {req.venue.name} sent to the {self._client.venue.name} manager")
        cid = req.client_order_id or self._client.new_client_order_id()
        old = self._entries.get(cid)
        if old is not None and not old.order.state.is_final:
            raise ValueError(f"client order id {cid!r} is already in use by a live order")
        order = Order(venue=req.venue, symbol=req.symbol, client_order_id=cid, side=req.side, type=req.type,
                      qty=req.qty, price=req.price, tif=req.tif, state=S.PENDING_NEW, reduce_only=req.reduce_only,
                      position_side=req.position_side)
        e = _Entry(key=cid, order=order, submit_wall_ns=self._wall())
        loop = asyncio.get_running_loop()
        e.placing = loop.create_future()
        self._entries[cid] = e
        self._orders[cid] = order
        self._emit(e, None, ())
        order.ts_submit_ns = self._clock()
        queue_s = req.queue_timeout_s if req.queue_timeout_s is not None else self._queue_timeout_s
        if queue_s <= 0:
            raise ValueError(f"queue_timeout_s must be positive, got {queue_s}")
        win = SendWindow(deadline_ns=time.monotonic_ns() + int(queue_s * 1e9), admitted=loop.create_future())
        if req.position_side != PositionSide.NET and not getattr(self._client, "position_legs", False):
            sending = _refuse(Rejected(f"{req.symbol}: position side {req.position_side.name} names a hedge-mode "
                                       f"leg; {req.venue.name} orders here work on the net position only",
                                       venue=req.venue.name))
        else:
            sending = self._client.place(order)
        with send_window(win):                      # the request's task carries the window
            task = loop.create_task(sending, name=f"place:{cid}")
        try:
            try:
                ack = await self._await_ack(task, win)
            except BudgetTimeout as exc:
                self._place_refused(e, exc, BUDGET_REFUSED)
            except _NOT_EXECUTED as exc:
                self._place_refused(e, exc)
            except asyncio.CancelledError:
                if win.never_sent:
                    self._place_refused(e, asyncio.CancelledError(), "caller cancelled before the order was sent")
                else:
                    self._place_uncertain(e, "caller cancelled while the request was in flight")
                raise
            except asyncio.TimeoutError as exc:
                if win.never_sent:          # still waiting in the local budget: it never left
                    self._place_refused(e, exc, BUDGET_REFUSED)
                else:
                    self._place_uncertain(e, "no answer within the ack timeout")
            except Exception as exc:  # ExecutionUnknown, network, anything else: may exist
                self._place_uncertain(e, exc)
            else:
                if ack.state is S.UNKNOWN:
                    self._apply(e, ack, "ack")
                    self._place_uncertain(e, ack.reason or "venue reported status unknown")
                else:
                    self._apply(e, ack, "ack")
                    if self._pushed and not self._client.stream_connected and not order.state.is_final:
                        e.verify = True                 # its pushes may have been sent to nobody
                        self._ensure_reconciler(e)
                    # an answer that says more was executed than its fills show (a venue whose
                    # place answer carries no fills): the stream should bring them; if it lost
                    # them, the venue's fill history does, a moment later
                    if _dec(order.filled_qty) > e.fill_sum:
                        self._fills_later(e)
        finally:
            if not win.admitted.done():
                win.admitted.cancel()
            fut, e.placing = e.placing, None
            if fut is not None and not fut.done():
                fut.set_result(None)
        return order

    async def _await_ack(self, task: asyncio.Task, win: SendWindow) -> OrderUpdate:
        """The place task's answer. The ack timeout runs from the moment the local budget
        admitted the request (written right after); while the request waits in the budget the
        budget's own deadline applies (it refuses with BudgetTimeout). A client that never goes
        through the budget gets the ack timeout from the call. TimeoutError (the task cancelled)
        when the answer is late."""
        ack_ns = int(self._ack_timeout_s * 1e9)
        start = time.monotonic_ns()
        try:
            while True:
                if win.sent_ns:
                    limit = win.sent_ns + ack_ns
                elif win.queued:            # the budget refuses at its deadline; this is a safety net
                    limit = max(start + ack_ns, win.deadline_ns + 1_000_000_000)
                else:
                    limit = start + ack_ns
                left = (limit - time.monotonic_ns()) / 1e9
                if left <= 0:
                    break
                waiting = {task} if win.sent_ns or win.admitted is None or win.admitted.done() \
                    else {task, win.admitted}
                await asyncio.wait(waiting, timeout=left, return_when=asyncio.FIRST_COMPLETED)
                if task.done():
                    return task.result()
        except asyncio.CancelledError:
            task.cancel()
            await asyncio.wait({task})
            raise
        task.cancel()
        await asyncio.wait({task})
        if not task.cancelled():
            return task.result()            # answered (or failed) as it was being cancelled
        raise asyncio.TimeoutError()

    def _place_refused(self, e: _Entry, exc: BaseException, reason: str = "") -> None:
        o = e.order
        if reason:
            text = f"{reason} ({exc})" if str(exc) else reason
        else:
            text = str(exc) if isinstance(exc, Rejected) else f"{type(exc).__name__}: {exc}"
        if o.state in (S.PENDING_NEW, S.UNKNOWN) and not e.seen:
            before = self._snap(o)
            o.state = S.REJECTED
            o.error = text or type(exc).__name__
            self._emit(e, before, ())
        else:
            log.warning("%s: place of %s refused (%s) but the venue already reported it as %s; keeping that",
                        self.venue.name, o.client_order_id, text, o.state.name)

    def _place_uncertain(self, e: _Entry, why: object) -> None:
        o = e.order
        if o.state is S.PENDING_NEW:
            log.warning("%s: outcome of placing %s unknown (%s); reconciling",
                        self.venue.name, o.client_order_id, why)
            before = self._snap(o)
            o.state = S.UNKNOWN
            self._emit(e, before, ())
        if o.state is S.UNKNOWN:
            self._ensure_reconciler(e)

    async def cancel(self, client_order_id: str) -> Order:
        """Request cancellation.  Returns the order: CANCELED, another final state learned on the
        way, or CANCEL_PENDING while the outcome is being reconciled in the background.

        A final order is returned untouched.  An order whose place is still in flight is canceled
        once the place has concluded.  An UNKNOWN order is queried first.  Raises ``KeyError`` for an
        unknown id, and re-raises a definitive refusal of the cancel (``Rejected``, ``RateLimited``,
        ``CircuitOpen``, ``AuthError``, ``TimestampError``) after restoring the previous state.
        """
        e = self._entry(client_order_id)
        o = e.order
        if o.state.is_final:
            return o
        if e.placing is not None:
            await asyncio.shield(e.placing)
            if o.state.is_final:
                return o
        if o.state is S.UNKNOWN:
            try:
                u = await self._call(self._client.query(o))
            except UnknownOrder:
                await self._absent(e)
            except Exception as exc:
                log.info("%s: query before cancel of %s failed (%s); cancelling anyway",
                         self.venue.name, o.client_order_id, exc)
            else:
                self._apply(e, u, "query")
            if o.state.is_final:
                return o
        self._begin_cancel(e)
        try:
            u = await self._call(self._client.cancel(o))
        except UnknownOrder:
            await self._after_cancel_unknown(e)
        except _NOT_EXECUTED:
            self._end_cancel_overlay(e)
            raise
        except asyncio.CancelledError:
            self._ensure_reconciler(e)
            raise
        except Exception as exc:
            log.warning("%s: outcome of cancelling %s unknown (%s); reconciling",
                        self.venue.name, o.client_order_id, exc)
            self._ensure_reconciler(e)
        else:
            self._apply(e, u, "cancel")
            if not o.state.is_final:
                self._ensure_reconciler(e)
        return o

    def _begin_cancel(self, e: _Entry) -> None:
        o = e.order
        if o.state is S.CANCEL_PENDING and e.cancel_under is not None:
            return
        before = self._snap(o)
        e.cancel_under = o.state
        o.state = S.CANCEL_PENDING
        self._emit(e, before, ())

    def _end_cancel_overlay(self, e: _Entry) -> None:
        o = e.order
        if o.state is S.CANCEL_PENDING and e.cancel_under is not None:
            before = self._snap(o)
            o.state, e.cancel_under = e.cancel_under, None
            self._emit(e, before, ())
            if o.state is S.UNKNOWN:
                self._ensure_reconciler(e)

    async def _after_cancel_unknown(self, e: _Entry) -> None:
        """The venue has no such open order: learn what happened instead of assuming."""
        o = e.order
        try:
            u = await self._call(self._client.query(o))
        except UnknownOrder:
            await self._absent(e)
            return
        except Exception as exc:
            log.info("%s: query after cancel of %s failed (%s); reconciling", self.venue.name, o.client_order_id, exc)
            self._ensure_reconciler(e)
            return
        self._apply(e, u, "query")
        await self._backfill(e)              # it filled while its stream events were lost
        if not o.state.is_final:
            self._ensure_reconciler(e)

    async def amend(self, client_order_id: str, *, qty: Decimal | str | None = None,
                    price: Decimal | str | None = None) -> Order:
        """Change a resting order in place, keeping its ids: ``qty`` is the new *total* quantity
        (what has filled included, so it must exceed the filled quantity), ``price`` the new limit
        price. Returns the order carrying the terms the venue accepted.

        Raises ``NotImplementedError`` when the venue cannot amend, ``ValueError`` for a request
        that cannot be sent (nothing to change, a price for a market order, a quantity not above
        what has filled, an order that is not resting or already being amended), ``UnknownOrder``
        when the venue has no such open order (the order then shows what it became: filled,
        canceled), and re-raises a definitive refusal (``Rejected``, ``RateLimited``, ...) with
        the order unchanged. When the outcome cannot be established the order is queried and
        takes the terms the venue reports; should that query fail too, ``ExecutionUnknown`` is
        raised and the order's terms follow the venue's next report.
        """
        amend_fn = getattr(self._client, "amend", None)
        if amend_fn is None:
            raise NotImplementedError(f"{self.venue.name} offers no order amend")
        e = self._entry(client_order_id)
        o = e.order
        if e.placing is not None:
            await asyncio.shield(e.placing)
        new_qty = _positive(qty, "qty")
        new_px = _positive(price, "price")
        if new_qty is None and new_px is None:
            raise ValueError("amend needs a new qty or a new price")
        if new_px is not None and o.type is not OrderType.LIMIT:
            raise ValueError(f"{o.client_order_id} is a {o.type.name} order: it has no price to amend")
        if o.state not in (S.NEW, S.PARTIALLY_FILLED):
            if o.state.is_final:
                raise UnknownOrder(f"{o.client_order_id} is {o.state.name}: nothing rests to amend",
                                   venue=self.venue.name.lower())
            raise ValueError(f"{o.client_order_id} is {o.state.name}: amend once it rests")
        if e.amending:
            raise ValueError(f"an amend of {o.client_order_id} is already in flight")
        if new_qty is not None and new_qty <= max(_dec(o.filled_qty), e.fill_sum):
            raise ValueError(f"new qty {_fmt(new_qty)} of {o.client_order_id} must exceed its filled {o.filled_qty}")
        if new_qty is not None and _qty(o.qty) == new_qty:
            new_qty = None
        if new_px is not None and o.price is not None and _qty(o.price) == new_px:
            new_px = None
        if new_qty is None and new_px is None:
            return o                        # already so: nothing to send
        qty_text = None if new_qty is None else _fmt(new_qty)
        px_text = None if new_px is None else _fmt(new_px)
        e.amending = True
        t0 = self._clock()
        try:
            try:
                u = await self._call(amend_fn(o, qty_text, px_text))
            except UnknownOrder:
                await self._after_cancel_unknown(e)     # what it became instead
                raise
            except _NOT_EXECUTED:
                raise
            except asyncio.CancelledError:
                self._ensure_reconciler(e)
                raise
            except Exception as exc:
                log.warning("%s: outcome of amending %s unknown (%s); querying",
                            self.venue.name, o.client_order_id, exc)
                e.terms_ts = 0                          # the venue's next word on the terms wins
                e.amending = False
                try:
                    q = await self._call(self._client.query(o))
                except UnknownOrder:
                    await self._absent(e)
                    raise
                except Exception as exc2:
                    raise ExecutionUnknown(f"amend of {o.client_order_id}: outcome unknown ({exc}); "
                                           f"query failed too ({exc2})", venue=self.venue.name.lower()) from exc2
                self._apply(e, q, "query")
                await self._backfill(e)
                return o
            self._latency("amend_to_ack", self._clock() - t0)
            self._amended(e, u, qty_text, px_text)
        finally:
            e.amending = False
        return o

    def _amended(self, e: _Entry, u: OrderUpdate, qty_text: str | None, px_text: str | None) -> None:
        """The venue accepted the amend: the order has the new terms from the ack's time on."""
        o = e.order
        before = self._snap(o)
        if qty_text is not None:
            o.qty = u.qty or qty_text
        if px_text is not None:
            o.price = u.price or px_text
        if u.ts_exchange:
            e.terms_ts = max(e.terms_ts, u.ts_exchange)
        self._merge(e, u.state, u.filled_qty, u.reason, "amend")
        self._emit(e, before, ())

    def _adopt_terms(self, e: _Entry, u: OrderUpdate, source: str) -> None:
        """The order's quantity and price follow the venue's newest report (by exchange time): a
        report older than the terms we hold (a push from before an amend, arriving after its ack)
        leaves them alone; a report without exchange time changes them only when it is a
        snapshot (query / open orders). Missing terms are always filled in."""
        o = e.order
        rq = _qty(u.qty) if u.qty else None
        rp = _qty(u.price) if u.price and o.type is OrderType.LIMIT else None
        if not o.qty and u.qty:
            o.qty = u.qty
        if o.price is None and rp is not None:
            o.price = u.price
        if u.ts_exchange:
            if u.ts_exchange < e.terms_ts:
                return
            e.terms_ts = u.ts_exchange
        elif source not in ("query", "open"):
            return
        if e.amending:
            return                          # the amend's own answer decides
        if rq is not None and rq > 0 and rq != _qty(o.qty):
            o.qty = u.qty
        if rp is not None and rp > 0 and o.price is not None and rp != _qty(o.price):
            o.price = u.price

    async def status(self, client_order_id: str, refresh: bool = True) -> Order:
        """The order; with ``refresh`` its state is first queried from the venue (final orders are
        not queried unless their final state was inferred).  A failed query (timeout, network,
        ExecutionUnknown) propagates and leaves the order unchanged -- it never means "not found"."""
        e = self._entry(client_order_id)
        o = e.order
        if not refresh or (o.state.is_final and not e.inferred):
            return o
        try:
            u = await self._call(self._client.query(o))
        except UnknownOrder:
            await self._absent(e)
            return o
        self._apply(e, u, "query")
        await self._backfill(e)              # executed more than the fills seen: fetch them
        return o
