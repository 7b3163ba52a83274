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
import contextlib
import logging
import re
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Awaitable, Callable, Mapping, Protocol, TypeVar, runtime_checkable

from venuelink.budget import SendWindow, send_window
from venuelink.errors import (
    AuthError,
    BudgetTimeout,
    CircuitOpen,
    ExecutionUnknown,
    RateLimited,
    Rejected,
    TimestampError,
    UnknownOrder,
)
from venuelink.tasks import cancel_all
from venuelink.model import (Fill, Order, OrderRequest, OrderState, OrderType, OrderUpdate, PositionSide, Side,
                          TimeInForce, VenueId)

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

NOT_PLACED = "not placed (venue has no such order)"
BUDGET_REFUSED = "refused locally: the local rate budget could not send the order in time; not sent"
UNRESOLVED = "unresolved"
VANISHED = "venue no longer knows the order; presumed closed"

# Refusals that prove the place/cancel request was not executed.
_NOT_EXECUTED = (Rejected, RateLimited, CircuitOpen, AuthError, TimestampError)

S = OrderState
_T = TypeVar("_T")


# ----------------------------------------------------------------------------- client protocol


@runtime_checkable
class ExecutionClient(Protocol):
    """What every venue adapter implements for order entry (async, venue-agnostic).

    A ``typing.Protocol`` (runtime-checkable) rather than an ABC: the order manager only needs the
    shape, so test doubles and adapters need no common base class, while an adapter that
    subclasses it explicitly (``class BinanceExecution(ExecutionClient)``) states the contract
    and gets it checked by mypy.

    Lifecycle, as the runtime drives it:

    1. the runtime sets ``on_update`` (the order manager's ``on_venue_update``);
    2. ``await sync_time()`` measures the venue clock offset used for signed timestamps (also
       called again by the adapter when the venue refuses a timestamp);
    3. ``start(private_ws_url, on_reconnected)`` starts the private stream in the background
       (pushed order/fill updates reach ``on_update``); ``on_reconnected()`` is called after each
       *re*connect, once logged in and subscribed again, so the runtime can reconcile the orders
       whose updates were missed while the stream was down. ``stream_connected`` tells whether
       the stream is currently up. An adapter may also offer ``reconnect_now() -> bool``: the
       runtime calls it when the venue's REST answers again while the stream is still waiting out
       a reconnect backoff, so the stream returns with the venue, not a backoff later;
    4. ``await close()`` stops the stream; requests still waiting end in ``ExecutionUnknown``.

    Optional: ``async amend(order, qty, price) -> OrderUpdate`` where the venue changes a resting
    order in place (same ids): ``qty`` the new total quantity (fills included) and/or ``price``
    the new limit price, as decimal strings, ``None`` for "unchanged". The answer carries the
    terms the venue now has (``qty``/``price``, empty for "as requested") and its exchange time.
    Errors as for ``cancel``: ``UnknownOrder`` when the venue has no such open order,
    ``Rejected`` (and the other not-executed refusals) for a refused amend, ``ExecutionUnknown``
    when unsure. A venue without amend simply lacks the method.

    Optional: ``async arm_dead_man(timeout_s: int)`` for a venue-side dead man's switch (the venue
    cancels every open order unless re-armed within ``timeout_s``; 0 disarms; ``ValueError`` for
    a timeout the venue does not accept), driven by ``venuelink.deadman`` when
    ``VenueConfig.dead_man_s`` is set.

    Optional: ``async cancel_all(symbol, orders) -> list[OrderUpdate]`` cancels the open orders of
    one symbol over REST in as few requests as the venue allows (its cancel-all where it has one,
    which also takes orders this manager does not know; else per-order batches of ``orders``),
    returning what the venue reported about them (possibly nothing: the open-orders listing
    afterwards is the check); a symbol without open orders is no error. And
    ``cancels_on_stream = True`` for a client whose ``cancel`` uses the private stream while it is
    up. ``OrderManager.cancel_open`` (shutdown) uses both.

    Error contract:

    * ``place``: ``Rejected`` for a definitive refusal; ``RateLimited``/``IpBanned``/
      ``CircuitOpen``/``AuthError``/``TimestampError`` when the request was not sent or was refused
      before execution; ``ExecutionUnknown`` (timeout, 5xx, network error after sending, venue
      "status unknown") when the order may or may not exist.
    * ``cancel``: ``UnknownOrder`` when the venue definitively has no such open order (e.g. it was
      already filled or canceled); ``ExecutionUnknown`` when unsure.
    * ``query``: ``UnknownOrder`` ONLY when the venue definitively says the order does not exist;
      timeouts and network errors are ``ExecutionUnknown`` and never mean "not found".

    A place refused as a *duplicate client order id* proves an order with that id exists: the
    manager never reuses the id of a live order, so adapters report that case as
    ``ExecutionUnknown`` (reconciliation then finds the order), not as ``Rejected``.
    """

    venue: VenueId
    on_update: Callable[[OrderUpdate], None] | None
    """Receives every pushed order update (with its fill, if any); set before ``start``."""
    # position_legs: bool (optional, False when absent): orders may name a hedge-mode leg
    # (OrderRequest.position_side); without it the manager refuses such an order unsent

    # ---- lifecycle
    def start(self, private_ws_url: str, on_reconnected: Callable[[], None]) -> None:
        """Start the private stream (background task; returns at once)."""
        ...

    @property
    def stream_connected(self) -> bool:
        """The private stream is logged in and receiving updates."""
        ...

    async def sync_time(self) -> None:
        """Measure the offset between the venue's clock and ours."""
        ...

    async def close(self) -> None:
        """Stop the private stream and any background work; idempotent."""
        ...

    # ---- orders
    def new_client_order_id(self) -> str:
        """A fresh client order id that is legal on this venue."""
        ...

    async def place(self, order: Order) -> OrderUpdate:
        ...

    async def cancel(self, order: Order) -> OrderUpdate:
        ...

    async def query(self, order: Order) -> OrderUpdate:
        ...

    async def open_orders(self, symbol: str | None = None) -> list[OrderUpdate]:
        ...

    async def recent_fills(self, symbol: str, since_ns: int) -> list[Fill]:
        """Own trades of ``symbol`` with ``ts_exchange >= since_ns`` (epoch ns)."""
        ...


async def _refuse(exc: BaseException) -> OrderUpdate:
    """A place refused here, before any request: the manager settles it as the venue's refusal."""
    raise exc


# ----------------------------------------------------------------------------- client order ids

_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_PREFIX_RE = re.compile(r"[A-Za-z0-9_-]{0,12}")
_SEQ_SPAN = 36 ** 3
_RAND_SPAN = 36 ** 8
_id_lock = threading.Lock()
_id_last_ms = 0
_id_seq = 0


def _b36(n: int, width: int) -> str:
    out = []
    for _ in range(width):
        n, r = divmod(n, 36)
        out.append(_B36[r])
    return "".join(reversed(out))


def make_client_order_id(prefix: str = "vl") -> str:
    """``prefix`` + 9 base36 chars of epoch ms + 3 base36 chars of sequence + 8 random base36 chars.

    At most 32 characters from [A-Za-z0-9_-] (all alphanumeric with an alphanumeric prefix, which
    suits the strictest common venue rules).  Within a process the (ms, sequence) pair strictly
    increases -- the millisecond never goes backwards even if the wall clock does, and borrows the
    next millisecond when 46656 ids were made in one -- so ids never repeat.  Across processes and
    restarts, uniqueness rests on the timestamp plus 41 random bits.
    """
    global _id_last_ms, _id_seq
    if not _PREFIX_RE.fullmatch(prefix):
        raise ValueError(f"client order id prefix must be 0-12 chars of [A-Za-z0-9_-], got {prefix!r}")
    now_ms = time.time_ns() // 1_000_000
    with _id_lock:
        if now_ms > _id_last_ms:
            _id_last_ms, _id_seq = now_ms, 0
        else:
            _id_seq += 1
            if _id_seq >= _SEQ_SPAN:
                _id_last_ms, _id_seq = _id_last_ms + 1, 0
        ms, seq = _id_last_ms, _id_seq
    return prefix + _b36(ms, 9) + _b36(seq, 3) + _b36(secrets.randbelow(_RAND_SPAN), 8)


# ----------------------------------------------------------------------------- state merge

_RANK = {S.PENDING_NEW: 0, S.NEW: 1, S.PARTIALLY_FILLED: 2, S.CANCEL_PENDING: 3}
_ZERO = Decimal(0)


def next_state(cur: OrderState, incoming: OrderState, filled: Decimal, qty: Decimal | None) -> OrderState:
    """The venue-side state after learning ``incoming`` with cumulative ``filled`` of ``qty``.

    ``incoming == UNKNOWN`` carries no state information (e.g. a bare fill).  Pure function.
    """
    if cur.is_final:
        return cur
    s = cur
    if incoming is not S.UNKNOWN:
        if cur is S.UNKNOWN or incoming.is_final or _RANK[incoming] >= _RANK[cur]:
            s = incoming
    if not s.is_final:
        if qty is not None and qty > 0 and filled >= qty:
            s = S.FILLED
        elif filled > 0 and s in (S.PENDING_NEW, S.NEW, S.UNKNOWN):
            s = S.PARTIALLY_FILLED
    return s


def _dec(text: str | None) -> Decimal:
    if not text:
        return _ZERO
    try:
        d = Decimal(text)
    except (InvalidOperation, TypeError, ValueError):
        log.warning("unparsable quantity %r ignored", text)
        return _ZERO
    return d if d.is_finite() else _ZERO


def _qty(text: str | None) -> Decimal | None:
    d = _dec(text)
    return d if d > 0 else None


def _fmt(d: Decimal) -> str:
    return format(d, "f")


def _positive(v: Decimal | str | None, name: str) -> Decimal | None:
    if v is None:
        return None
    try:
        d = v if isinstance(v, Decimal) else Decimal(str(v).strip())
    except InvalidOperation:
        raise ValueError(f"{name} {v!r} is not a decimal number") from None
    if not d.is_finite() or d <= 0:
        raise ValueError(f"{name} {v!r} must be a positive number")
    return d


# ----------------------------------------------------------------------------- manager


@dataclass(slots=True, eq=False)
class _Entry:
    """Bookkeeping the manager keeps beside each Order."""
    key: str
    order: Order
    submit_wall_ns: int = 0
    fill_keys: set = field(default_factory=set)
    fill_sum: Decimal = _ZERO
    seen: bool = False                      # the venue has shown evidence that the order exists
    cancel_under: OrderState | None = None  # venue-side state while the CANCEL_PENDING overlay is on
    inferred: str = ""                      # "not_placed" / "vanished": final state we concluded ourselves
    verify: bool = False                    # missing from the venue's open list, not yet confirmed
    placing: asyncio.Future | None = None   # set while the place request is in flight
    task: asyncio.Task | None = None        # background reconciliation
    amending: bool = False                  # an amend request is in flight
    heard_ns: int = 0                       # clock when the venue last said anything about it
    terms_ts: int = 0                       # exchange time of the newest qty/price we adopted
    final_since_ns: int | None = None       # clock at the first prune pass that saw the order final


_Snap = tuple[OrderState, Decimal, str, str, str | None]


class OrderManager:
    """Order lifecycle for one venue account.  See the module docstring for the merge rules."""

    def __init__(
        self,
        client: ExecutionClient,
        *,
        on_update: Callable[[Order], None] | None = None,
        on_fill: Callable[[Order, Fill], None] | None = None,
        ack_timeout_s: float = 5.0,
        reconcile_interval_s: float = 1.0,
        max_reconcile_attempts: int = 20,
        clock: Callable[[], int] = time.monotonic_ns,
        on_latency: Callable[[str, int], None] | None = None,
        wall_clock: Callable[[], int] = time.time_ns,
        fills_lookback_margin_s: float = 5.0,
        reconcile_concurrency: int = 4,
        queue_timeout_s: float | None = None,
        pushed: bool = False,
    ) -> None:
        """`ack_timeout_s` runs from the moment a place request leaves the local rate budget;
        `queue_timeout_s` (default: `ack_timeout_s`) is how long it may wait in that budget
        first: an order not sent by then is refused locally (REJECTED, BUDGET_REFUSED).
        `pushed`: the client has a private stream that pushes order changes; an order the venue
        acknowledges while that stream is not up (not yet logged in at start, or reconnecting)
        is queried once `reconcile_interval_s` later, since whatever the venue pushed about it
        meanwhile (a post-only order canceled at once, an immediate fill) went nowhere."""
        if ack_timeout_s <= 0 or reconcile_interval_s <= 0 or max_reconcile_attempts < 1:
            raise ValueError("timeouts and intervals must be positive, max_reconcile_attempts >= 1")
        if queue_timeout_s is not None and queue_timeout_s <= 0:
            raise ValueError(f"queue_timeout_s must be positive, got {queue_timeout_s}")
        self._queue_timeout_s = ack_timeout_s if queue_timeout_s is None else queue_timeout_s
        self._client = client
        self._pushed = pushed
        self._on_update = on_update
        self._on_fill = on_fill
        self._on_latency = on_latency
        self._ack_timeout_s = ack_timeout_s
        self._interval_s = reconcile_interval_s
        self._backoff_cap_s = max(reconcile_interval_s, min(30.0, reconcile_interval_s * 16))
        self._max_attempts = max_reconcile_attempts
        self._clock = clock
        self._wall = wall_clock
        self._margin_ns = int(fills_lookback_margin_s * 1e9)
        self._concurrency = max(1, reconcile_concurrency)
        self._entries: dict[str, _Entry] = {}
        self._orders: dict[str, Order] = {}
        self._by_vid: dict[str, _Entry] = {}
        self._tasks: set[asyncio.Task] = set()
        self._closed = False
        self._pruned: OrderedDict[str, None] = OrderedDict()   # ids of forgotten final orders
        self.pruned = 0
        self.late_after_prune = 0
        self.missing_fills: set[str] = set()        # orders whose executed quantity lacks fills still
        self.audits = 0                             # audit() rounds that asked the venue
        self.audit_corrections = 0                  # orders an audit found changed

    # ------------------------------------------------------------------ views

    @property
    def venue(self) -> VenueId:
        return self._client.venue

    @property
    def orders(self) -> Mapping[str, Order]:
        """client order id -> Order (read-only view).  Orders adopted without a client id are
        keyed ``"~" + venue_order_id``."""
        return MappingProxyType(self._orders)

    def open_orders(self) -> list[Order]:
        """Every order not in a final state (PENDING_NEW, NEW, PARTIALLY_FILLED, CANCEL_PENDING, UNKNOWN)."""
        return [o for o in self._orders.values() if not o.state.is_final]

    # ------------------------------------------------------------------ place

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

    # ------------------------------------------------------------------ cancel

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

    # ------------------------------------------------------------------ amend

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

    # ------------------------------------------------------------------ status / stream

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

    def on_venue_update(self, update: OrderUpdate) -> None:
        """Apply a stream event (execution report).  Idempotent; safe against reordering and repeats.
        Call it on the event loop's thread."""
        if update.venue != self._client.venue:
            log.warning("%s manager ignored an update for %s", self._client.venue.name, update.venue.name)
            return
        e = self._route(update.client_order_id, update.venue_order_id)
        fresh = e is None
        if e is None:
            if self._was_pruned(update.client_order_id, update.venue_order_id):
                self.late_after_prune += 1          # a late repeat about an order already final
                return
            e = self._adopt_update(update)
        self._apply(e, update, "stream", fresh)

    # ------------------------------------------------------------------ pruning

    MAX_TOMBSTONES = 200_000

    def prune(self, older_than_s: float = 600.0) -> int:
        """Forget orders that have been final for longer than older_than_s, so the table of a
        process that runs for weeks does not grow without bound. Their ids are kept as bounded
        tombstones: a late repeat of a stream event for a forgotten order is counted and dropped
        instead of being adopted as a new order. Orders whose final state the manager inferred
        itself (not placed / vanished) are kept: later venue evidence may still overturn them.
        Returns the number of orders forgotten."""
        now = self._clock()
        limit = int(older_than_s * 1e9)
        n = 0
        for key, e in list(self._entries.items()):
            o = e.order
            busy = e.placing is not None or (e.task is not None and not e.task.done())
            if not o.state.is_final or busy or e.inferred:
                e.final_since_ns = None
                continue
            if e.final_since_ns is None:
                e.final_since_ns = now
                continue
            if now - e.final_since_ns < limit:
                continue
            del self._entries[key]
            self._orders.pop(key, None)
            for k in (key, o.client_order_id, o.venue_order_id):
                if k:
                    self._pruned[k] = None
                    self._pruned.move_to_end(k)
            if o.venue_order_id and self._by_vid.get(o.venue_order_id) is e:
                del self._by_vid[o.venue_order_id]
            n += 1
        while len(self._pruned) > self.MAX_TOMBSTONES:
            self._pruned.popitem(last=False)
        self.pruned += n
        return n

    def _was_pruned(self, cid: str, vid: str) -> bool:
        return bool((vid and vid in self._pruned) or (cid and cid in self._pruned and not vid))

    # ------------------------------------------------------------------ reconcile

    async def reconcile(self, symbol: str | None = None) -> None:
        """Re-synchronise with the venue (after a reconnect): open orders, then recent fills since the
        oldest live order was submitted, everything through the idempotent merge.  Live orders the
        venue does not list as open are queried one by one.  Errors fetching the open list or the
        fills propagate (nothing is lost; call again)."""
        cands = [e for e in list(self._entries.values())
                 if not e.order.state.is_final and e.placing is None
                 and (symbol is None or e.order.symbol == symbol)]
        listed: set[int] = set()
        for u in await self._call(self._client.open_orders(symbol)):
            e = self._route(u.client_order_id, u.venue_order_id)
            fresh = e is None
            if e is None:
                e = self._adopt_update(u)
            listed.add(id(e))
            self._apply(e, u, "open", fresh)
        since: dict[str, int] = {}
        for e in cands:
            t = e.submit_wall_ns - self._margin_ns
            since[e.order.symbol] = min(since.get(e.order.symbol, t), t)
        stubs: list[_Entry] = []
        for sym in sorted(since):
            for f in await self._call(self._client.recent_fills(sym, since[sym])):
                e = self._route(f.client_order_id, f.venue_order_id)
                fresh = e is None
                if e is None and self._was_pruned(f.client_order_id, f.venue_order_id):
                    continue                        # counted before it was forgotten
                if e is None:
                    e = self._adopt_fill(f)
                    stubs.append(e)
                self._apply_fill(e, f, "fills", fresh)
        await self._query_each([e for e in cands + stubs if id(e) not in listed], "reconcile")

    async def _query_each(self, entries: list[_Entry], why: str) -> None:
        """Live orders the venue did not list as open: queried (a bounded number at once) and
        their answers merged; a failed query leaves the order to its background reconciler."""
        sem = asyncio.Semaphore(self._concurrency)

        async def resolve(e: _Entry) -> None:
            async with sem:
                if e.order.state.is_final or e.placing is not None:
                    return
                try:
                    u = await self._call(self._client.query(e.order))
                except UnknownOrder:
                    await self._absent(e)
                    return
                except Exception as exc:
                    log.info("%s: query of %s during %s failed (%s)", self.venue.name, e.key, why, exc)
                    e.verify = True
                    self._ensure_reconciler(e)
                    return
                self._apply(e, u, "query")
                await self._backfill(e)
                if self._needs_reconcile(e):
                    self._ensure_reconciler(e)

        if entries:
            await asyncio.gather(*(resolve(e) for e in entries))

    async def audit(self, quiet_s: float) -> int:
        """Check the live orders the venue has said nothing about for ``quiet_s`` against the
        venue: a pushed update can be lost without the stream dropping (the venue skipped it, a
        gateway restarted), and an order would then look resting forever while it filled or was
        canceled. One open-orders request covers them all; the listed ones merge that answer (a
        cumulative fill beyond the fills seen fetches the missing fills), the unlisted ones are
        queried one by one. Nothing is asked when no order is quiet. Returns how many orders were
        checked; ``audit_corrections`` counts those the audit changed (each also logged)."""
        horizon = self._clock() - int(quiet_s * 1e9)
        quiet = [e for e in list(self._entries.values())
                 if e.order.state in (S.NEW, S.PARTIALLY_FILLED) and e.placing is None and not e.amending
                 and e.cancel_under is None and (e.task is None or e.task.done()) and e.heard_ns <= horizon]
        if not quiet:
            return 0
        self.audits += 1
        before = {id(e): self._snap(e.order) for e in quiet}
        symbols = {e.order.symbol for e in quiet}
        listed: set[int] = set()
        for u in await self._call(self._client.open_orders(next(iter(symbols)) if len(symbols) == 1 else None)):
            e = self._route(u.client_order_id, u.venue_order_id)
            if e is None or id(e) not in before:
                continue                    # not quiet: the stream speaks for it
            listed.add(id(e))
            self._apply(e, u, "open")
            await self._backfill(e)
        await self._query_each([e for e in quiet if id(e) not in listed], "audit")
        for e in quiet:
            if self._snap(e.order) != before[id(e)]:
                self.audit_corrections += 1
                log.warning("%s: audit found %s %s (filled %s) after its updates were lost on the stream",
                            self.venue.name, e.key, e.order.state.name, e.order.filled_qty)
        return len(quiet)

    # ------------------------------------------------------------------ shutdown

    async def cancel_open(self, timeout_s: float, *, stream_s: float = 1.0, retry_s: float = 0.25) -> list[str]:
        """Cancel every order that may be open and check the result with the venue, within
        ``timeout_s``; returns the client ids (``~venue id`` for an order without one) of the
        orders that may still be open at the venue (empty: the venue's open-orders listing,
        taken after the cancels, shows none of them).

        1. A client whose cancels travel on its private stream (``cancels_on_stream``), while
           that stream is up, and a client without a bulk cancel: each open order is cancelled
           the usual way, for at most ``stream_s`` (a silent socket does not hold the rest up).
        2. Per symbol, whatever is not final yet: the client's REST bulk cancel
           (``cancel_all(symbol, orders)``: the venue's cancel-all, or its per-order batches),
           else one cancel per order; then the venue's open orders of that symbol, merged like
           any listing (orders it lists that this manager never placed are adopted, and
           cancelled in the next round). A symbol is settled when the listing shows none open.
        3. Rounds repeat, ``retry_s`` apart, until every symbol is settled or the time is up: a
           failing cancel or listing (socket gone, REST refusing) is tried again meanwhile.

        An order whose place request is still in flight counts as possibly open (the request may
        still land) unless it ended final. Never raises for a venue failure: what could not be
        confirmed is what the returned list names."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, timeout_s)

        def left() -> float:
            return deadline - loop.time()

        def live(e: _Entry) -> bool:
            return not e.order.state.is_final or e.placing is not None

        cands = [e for e in list(self._entries.values()) if live(e)]
        if not cands:
            return []
        placing = [e.placing for e in cands if e.placing is not None]
        if placing:
            await asyncio.wait(placing, timeout=max(0.0, min(stream_s, left() / 4)))
        tasks: list[asyncio.Task] = []
        bulk = getattr(self._client, "cancel_all", None)
        on_stream = getattr(self._client, "cancels_on_stream", False) and self._client.stream_connected
        if bulk is None or on_stream:
            tasks = [loop.create_task(self._cancel_quietly(e.key), name=f"shutdown-cancel:{e.key}")
                     for e in cands if not e.order.state.is_final]
            if tasks:
                await asyncio.wait(tasks, timeout=max(0.0, min(stream_s, left() / 3)))
        symbols = {e.order.symbol for e in cands}
        settled: set[str] = set()
        rounds = 0
        try:
            while symbols - settled and left() > 0:
                for sym in sorted(symbols - settled):
                    if left() <= 0:
                        break
                    if await self._cancel_symbol(sym, bulk, left(), logging.WARNING if not rounds else logging.INFO):
                        settled.add(sym)
                rounds += 1
                if symbols - settled:
                    await asyncio.sleep(max(0.0, min(retry_s, left())))
            unlisted = [e for e in cands if e.order.symbol in settled and not e.order.state.is_final
                        and e.placing is None]
            if unlisted and left() > 0:     # gone from the venue's list: learn how they ended
                with contextlib.suppress(Exception, asyncio.TimeoutError):
                    await asyncio.wait_for(self._query_each(unlisted, "shutdown"), left())
        finally:
            await cancel_all(tasks)
        out = []
        for e in list(self._entries.values()):
            if e.order.symbol in symbols and e.order.symbol not in settled and live(e):
                out.append(e.order.client_order_id or e.key)
        for e in cands:                     # settled by the listing, but a place may still land
            if e.order.symbol in settled and e.placing is not None and not e.order.state.is_final:
                out.append(e.order.client_order_id or e.key)
        return sorted(set(out))

    async def _cancel_quietly(self, key: str) -> None:
        try:
            await self.cancel(key)
        except Exception as exc:
            log.info("%s: shutdown cancel of %s on the fast path failed (%s)", self.venue.name, key, exc)

    async def _cancel_symbol(self, symbol: str, bulk, budget_s: float, level: int) -> bool:
        """One round for one symbol: cancel what is not final, then list the venue's open orders.
        True when the listing shows none open (every order's outcome then known to the venue)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + budget_s
        pending = [e for e in list(self._entries.values())
                   if e.order.symbol == symbol and not e.order.state.is_final]
        try:
            if pending and bulk is not None:
                for u in await asyncio.wait_for(bulk(symbol, [e.order for e in pending]), max(0.0, end - loop.time())):
                    self._merge_listed(u, "cancel")
            elif pending:
                await asyncio.wait_for(asyncio.gather(*(self._client.cancel(e.order) for e in pending),
                                                      return_exceptions=True), max(0.0, end - loop.time()))
        except Exception as exc:
            log.log(level, "%s: cancelling the open orders of %s at shutdown failed (%s); checking the venue",
                    self.venue.name, symbol, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        try:
            listed = await asyncio.wait_for(self._client.open_orders(symbol), max(0.0, end - loop.time()))
        except Exception as exc:
            log.log(level, "%s: open orders of %s unavailable at shutdown (%s); trying again while time is left",
                    self.venue.name, symbol, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
            return False
        open_ids = {id(self._merge_listed(u, "open")) for u in listed if not u.state.is_final}
        for e in pending:
            if id(e) not in open_ids and not e.order.state.is_final and e.placing is None:
                e.verify = True             # not open at the venue: canceled or filled; a query tells
        return not open_ids

    def _merge_listed(self, u: OrderUpdate, source: str) -> _Entry:
        e = self._route(u.client_order_id, u.venue_order_id)
        fresh = e is None
        if e is None:
            e = self._adopt_update(u)
        self._apply(e, u, source, fresh)
        return e

    # ------------------------------------------------------------------ lifecycle

    async def close(self) -> None:
        """Stop background reconciliation.  Orders keep their current state."""
        self._closed = True
        tasks = list(self._tasks)
        await cancel_all(tasks)
        self._tasks.clear()

    # ------------------------------------------------------------------ internals: routing

    def _entry(self, client_order_id: str) -> _Entry:
        try:
            return self._entries[client_order_id]
        except KeyError:
            raise KeyError(f"unknown client order id {client_order_id!r}") from None

    def _route(self, cid: str, vid: str) -> _Entry | None:
        if vid:
            e = self._by_vid.get(vid)
            if e is not None:
                return e
        if cid:
            e = self._entries.get(cid)
            if e is not None and vid and e.order.venue_order_id and e.order.venue_order_id != vid:
                return None  # same client id, different venue order (a reused id)
            return e
        return None

    def _new_key(self, cid: str, vid: str) -> str:
        if cid and cid not in self._entries:
            return cid
        return "~" + (vid or cid)

    def _register(self, e: _Entry) -> None:
        self._entries[e.key] = e
        self._orders[e.key] = e.order
        if e.order.venue_order_id:
            self._by_vid[e.order.venue_order_id] = e

    def _adopt_update(self, u: OrderUpdate) -> _Entry:
        side = u.side or (u.fill.side if u.fill is not None else Side.BUY)
        o = Order(venue=u.venue, symbol=u.symbol, client_order_id=u.client_order_id, side=side,
                  type=OrderType.LIMIT if u.price else OrderType.MARKET, qty=u.qty, price=u.price or None,
                  tif=TimeInForce.GTC, state=S.UNKNOWN, venue_order_id=u.venue_order_id)
        e = _Entry(key=self._new_key(u.client_order_id, u.venue_order_id), order=o, submit_wall_ns=self._wall())
        self._register(e)
        log.info("%s: adopted order %s (venue id %s) not placed by this manager",
                 self.venue.name, u.client_order_id, u.venue_order_id)
        return e

    def _adopt_fill(self, f: Fill) -> _Entry:
        o = Order(venue=f.venue, symbol=f.symbol, client_order_id=f.client_order_id, side=f.side,
                  type=OrderType.LIMIT, qty="", price=None, tif=TimeInForce.GTC, state=S.UNKNOWN,
                  venue_order_id=f.venue_order_id)
        e = _Entry(key=self._new_key(f.client_order_id, f.venue_order_id), order=o, submit_wall_ns=self._wall())
        self._register(e)
        log.info("%s: adopted order %s (venue id %s) from a fill", self.venue.name, f.client_order_id, f.venue_order_id)
        return e

    # ------------------------------------------------------------------ internals: merge

    @staticmethod
    def _snap(o: Order) -> _Snap:
        return (o.state, _dec(o.filled_qty), o.error, o.qty, o.price)

    def _record_fill(self, e: _Entry, f: Fill) -> bool:
        key = f.trade_id or f"{f.price}|{f.qty}|{f.ts_exchange}"
        if key in e.fill_keys:
            return False
        e.fill_keys.add(key)
        # a fill the venue pushed by its own order id only (CCXT's own trades) names ours too
        if not f.client_order_id:
            f.client_order_id = e.order.client_order_id
        if not f.venue_order_id:
            f.venue_order_id = e.order.venue_order_id
        e.fill_sum += _dec(f.qty)
        e.order.fills.append(f)
        return True

    def _apply_fill(self, e: _Entry, f: Fill, source: str, fresh: bool = False) -> None:
        before = None if fresh else self._snap(e.order)
        e.heard_ns = self._clock()
        if e.order.venue_order_id == "" and f.venue_order_id:
            e.order.venue_order_id = f.venue_order_id
            self._by_vid[f.venue_order_id] = e
        new = [f] if self._record_fill(e, f) else []
        e.seen = True
        self._merge(e, S.UNKNOWN, "", "", source)
        self._stamp(e, source, fill_evidence=True)
        self._emit(e, before, new)

    def _apply(self, e: _Entry, u: OrderUpdate, source: str, fresh: bool = False) -> None:
        o = e.order
        before = None if fresh else self._snap(o)
        e.heard_ns = self._clock()
        if u.venue_order_id and not o.venue_order_id:
            o.venue_order_id = u.venue_order_id
            self._by_vid[u.venue_order_id] = e
        self._adopt_terms(e, u, source)
        new: list[Fill] = []
        if u.fill is not None and self._record_fill(e, u.fill):
            new.append(u.fill)
        if u.state is not S.UNKNOWN or u.fill is not None:
            e.seen = True
        self._merge(e, u.state, u.filled_qty, u.reason, source)
        if u.state is not S.UNKNOWN or u.fill is not None:
            self._stamp(e, source, fill_evidence=u.fill is not None)
        self._emit(e, before, new)

    def _merge(self, e: _Entry, inc: OrderState, filled_text: str, reason: str, source: str) -> None:
        o = e.order
        qty = _qty(o.qty)
        cur_filled = _dec(o.filled_qty)
        rep_filled = _dec(filled_text)
        cum = max(cur_filled, rep_filled, e.fill_sum)
        if o.state.is_final and e.inferred:
            self._maybe_reopen(e, inc, cum, qty, source)
        if e.cancel_under is not None and o.state is S.CANCEL_PENDING:
            under = next_state(e.cancel_under, inc, cum, qty)
            if under.is_final:
                o.state, e.cancel_under = under, None
            else:
                e.cancel_under = under
        else:
            o.state = next_state(o.state, inc, cum, qty)
        if o.state is S.FILLED and qty is not None and cum < qty:
            cum = qty  # FILLED means all of it, whatever cumulative the report carried
        if cum != cur_filled:
            if cum == rep_filled and filled_text:
                o.filled_qty = filled_text
            elif cum == qty:
                o.filled_qty = o.qty
            else:
                o.filled_qty = _fmt(cum)
        if o.state is S.REJECTED and not o.error:
            o.error = reason or "rejected"
        if o.error == UNRESOLVED and o.state is not S.UNKNOWN:
            o.error = ""

    def _maybe_reopen(self, e: _Entry, inc: OrderState, cum: Decimal, qty: Decimal | None, source: str) -> None:
        """Our own inference of a final state yields to later venue evidence."""
        o = e.order
        if e.inferred == "not_placed":
            exists = (inc is not S.UNKNOWN and inc is not S.REJECTED) or cum > 0
        else:  # vanished: only an authoritative snapshot may reopen; fills may complete it
            exists = (source in ("query", "open") and inc is not S.UNKNOWN and not inc.is_final) \
                or inc is S.FILLED or (qty is not None and cum >= qty)
        if not exists:
            return
        log.warning("%s: venue reports order %s after we had concluded %r; following the venue",
                    self.venue.name, o.client_order_id, o.error)
        e.inferred = ""
        o.error = ""
        o.state = S.UNKNOWN

    def _stamp(self, e: _Entry, source: str, fill_evidence: bool) -> None:
        o = e.order
        live = source in ("ack", "stream") and o.ts_submit_ns > 0
        if not o.ts_ack_ns and o.ts_submit_ns:
            o.ts_ack_ns = self._clock()
            if live:
                self._latency("submit_to_ack", o.ts_ack_ns - o.ts_submit_ns)
        if not o.ts_first_fill_ns and o.ts_submit_ns and (fill_evidence or _dec(o.filled_qty) > 0):
            o.ts_first_fill_ns = self._clock()
            if live:
                self._latency("submit_to_first_fill", o.ts_first_fill_ns - o.ts_submit_ns)

    def _finalize(self, e: _Entry, state: OrderState, error: str, inferred: str) -> None:
        o = e.order
        before = self._snap(o)
        o.state, o.error, e.inferred, e.cancel_under = state, error, inferred, None
        self._emit(e, before, ())

    async def _fetch_fills(self, e: _Entry) -> None:
        """The venue's recent fills of this order, each applied once (raises when unavailable)."""
        o = e.order
        since = e.submit_wall_ns - self._margin_ns
        for f in await self._call(self._client.recent_fills(o.symbol, since)):
            if (o.venue_order_id and f.venue_order_id == o.venue_order_id) or \
                    (o.client_order_id and f.client_order_id == o.client_order_id):
                self._apply_fill(e, f, "fills")

    async def _backfill(self, e: _Entry) -> None:
        """The venue reports more executed than the fills delivered (their events were lost, and
        a query answer carries only the quantity): fetch the order's fills and deliver each
        missing one, once (fills are deduplicated by trade id)."""
        o = e.order
        if _dec(o.filled_qty) <= e.fill_sum:
            return
        try:
            await self._fetch_fills(e)
        except Exception as exc:
            log.info("%s: fills of %s unavailable (%s); asking again later", self.venue.name, e.key, exc)
        if _dec(o.filled_qty) <= e.fill_sum:
            self.missing_fills.discard(e.key)
            return
        # not in the venue's history yet, or the request failed: ask again a few times
        self._fills_later(e)

    def _fills_later(self, e: _Entry) -> None:
        """The order's fills are asked from the venue's history a few times, from one interval on,
        until its executed quantity is covered (the stream usually covers it first)."""
        if e.key not in self.missing_fills and not self._closed:
            self.missing_fills.add(e.key)
            t = asyncio.get_running_loop().create_task(self._backfill_later(e), name=f"fills:{e.key}")
            self._tasks.add(t)
            t.add_done_callback(self._tasks.discard)

    async def _backfill_later(self, e: _Entry) -> None:
        delay = self._interval_s
        for _ in range(4):
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._backoff_cap_s)
            if _dec(e.order.filled_qty) <= e.fill_sum:
                break
            try:
                await self._fetch_fills(e)
            except Exception as exc:
                log.info("%s: fills of %s unavailable (%s)", self.venue.name, e.key, exc)
        if _dec(e.order.filled_qty) <= e.fill_sum:
            self.missing_fills.discard(e.key)
        else:
            log.warning("%s: order %s executed %s but only %s in fills were found", self.venue.name, e.key,
                        e.order.filled_qty, e.fill_sum)

    async def _absent(self, e: _Entry) -> None:
        """The venue definitively has no such order."""
        o = e.order
        if o.state.is_final or e.placing is not None:
            return  # final already, or the place request is still in flight: nothing to conclude
        if not e.seen:
            # Never acknowledged and the venue does not know it: it was not placed.  Not re-sent.
            self._finalize(e, S.REJECTED, NOT_PLACED, "not_placed")
            return
        # The venue knew the order and has forgotten it (some venues purge closed orders): it is
        # closed.  Recover fills that may have completed it before settling for CANCELED.
        try:
            await self._fetch_fills(e)
        except Exception as exc:
            log.info("%s: fills for vanished order %s unavailable (%s)", self.venue.name, e.key, exc)
        if not o.state.is_final:
            self._finalize(e, S.CANCELED, VANISHED, "vanished")

    # ------------------------------------------------------------------ internals: background

    def _needs_reconcile(self, e: _Entry) -> bool:
        o = e.order
        return not o.state.is_final and (o.state is S.UNKNOWN or e.cancel_under is not None or e.verify)

    def _ensure_reconciler(self, e: _Entry) -> None:
        if self._closed or (e.task is not None and not e.task.done()):
            return
        t = asyncio.get_running_loop().create_task(self._reconcile_loop(e), name=f"reconcile:{e.key}")
        e.task = t
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    async def _reconcile_loop(self, e: _Entry) -> None:
        o = e.order
        delay = self._interval_s
        try:
            for _ in range(self._max_attempts):
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._backoff_cap_s)
                if e.placing is not None:
                    await asyncio.shield(e.placing)
                if not self._needs_reconcile(e):
                    return
                try:
                    u = await self._call(self._client.query(o))
                except UnknownOrder:
                    e.verify = False
                    await self._absent(e)
                    if not self._needs_reconcile(e):
                        return
                    continue
                except Exception as exc:  # never "not found"
                    if isinstance(exc, RateLimited) and exc.retry_after_s > delay:
                        delay = exc.retry_after_s
                    log.info("%s: reconcile query of %s failed (%s)", self.venue.name, e.key, exc)
                    continue
                e.verify = False
                self._apply(e, u, "query")
                await self._backfill(e)
                if not self._needs_reconcile(e):
                    return
                if e.cancel_under is not None and e.cancel_under is not S.UNKNOWN:
                    # The order is open and we still want it canceled; cancels are safe to repeat.
                    try:
                        u = await self._call(self._client.cancel(o))
                    except Exception as exc:
                        log.info("%s: re-sent cancel of %s failed (%s)", self.venue.name, e.key, exc)
                        continue
                    self._apply(e, u, "cancel")
                    if not self._needs_reconcile(e):
                        return
            if self._needs_reconcile(e):
                log.error("%s: order %s unresolved after %d attempts (state %s)",
                          self.venue.name, e.key, self._max_attempts, o.state.name)
                before = self._snap(o)
                o.error = UNRESOLVED
                self._emit(e, before, ())
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s: reconciliation of %s crashed", self.venue.name, e.key)

    async def _call(self, aw: Awaitable[_T]) -> _T:
        return await asyncio.wait_for(aw, self._ack_timeout_s)

    # ------------------------------------------------------------------ internals: callbacks

    def _latency(self, stage: str, ns: int) -> None:
        if self._on_latency is not None:
            try:
                self._on_latency(stage, ns)
            except Exception:
                log.exception("on_latency callback failed")

    def _emit(self, e: _Entry, before: _Snap | None, new_fills) -> None:
        o = e.order
        if self._on_fill is not None:
            for f in new_fills:
                try:
                    self._on_fill(o, f)
                except Exception:
                    log.exception("on_fill callback failed")
        if self._on_update is not None and (before is None or before != self._snap(o)):
            try:
                self._on_update(o)
            except Exception:
                log.exception("on_update callback failed")
