# SPDX-License-Identifier: Apache-2.0
"""The order ledger: the engine's view of every order of one venue account (``Order`` objects keyed
by client order id, with the bookkeeping beside each), and the one idempotent merge every piece of
information about an order goes through (the rules are venuelink.orders' module docstring): the
answers, the private stream, queries and the venue's lists, in any order, possibly duplicated or
late. Also here: adopting orders the engine never placed, fills fetched when a quantity outruns
them, pruning final orders, and each uncertain order's background reconciliation.
``venuelink.order_sync`` builds on it (the ledger against the venue's lists), ``OrderManager``
(venuelink.orders) on that (placing, canceling, amending)."""
from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Awaitable, Callable, Mapping, TypeVar

from venuelink.errors import AuthError, CircuitOpen, RateLimited, Rejected, TimestampError, UnknownOrder
from venuelink.execution import ExecutionClient
from venuelink.model import Fill, Order, OrderState, OrderType, OrderUpdate, Side, TimeInForce, VenueId
from venuelink.tasks import cancel_all

log = logging.getLogger("venuelink.orders")

NOT_PLACED = "not placed (venue has no such order)"
BUDGET_REFUSED = "refused locally: the local rate budget could not send the order in time; not sent"
UNRESOLVED = "unresolved"
VANISHED = "venue no longer knows the order; presumed closed"

# Refusals that prove the place/cancel request was not executed.
_NOT_EXECUTED = (Rejected, RateLimited, CircuitOpen, AuthError, TimestampError)

S = OrderState
_T = TypeVar("_T")


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


class OrderLedger:
    """Every order of one venue account, merged from whatever the venue says about it."""

    MAX_TOMBSTONES = 200_000
    """ids of pruned orders remembered, so a late repeat about one is counted, not adopted"""

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

    async def close(self) -> None:
        """Stop background reconciliation.  Orders keep their current state."""
        self._closed = True
        tasks = list(self._tasks)
        await cancel_all(tasks)
        self._tasks.clear()

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
