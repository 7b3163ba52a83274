"""OrderManager against a small in-memory venue: lifecycle, lost acks, races, idempotent merge."""
from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections import deque
from dataclasses import dataclass
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from venuelink.errors import (
    AuthError,
    CircuitOpen,
    ExecutionUnknown,
    IpBanned,
    RateLimited,
    Rejected,
    TimestampError,
    UnknownOrder,
)
from venuelink.model import (Fill, Order, OrderRequest, OrderState, OrderType, OrderUpdate, PositionSide, Side,
                          TimeInForce, VenueId)
from venuelink.orders import (
    NOT_PLACED,
    UNRESOLVED,
    VANISHED,
    ExecutionClient,
    OrderManager,
    make_client_order_id,
    next_state,
)

S = OrderState
V = VenueId.binance
SYM = "BTC/USDT"
FAST = dict(ack_timeout_s=0.05, reconcile_interval_s=0.005, max_reconcile_attempts=8)


# ----------------------------------------------------------------------------- in-memory venue


@dataclass
class VOrder:
    cid: str
    vid: str
    symbol: str
    side: Side
    type: OrderType
    tif: TimeInForce
    qty: Decimal
    price: str
    state: OrderState = S.NEW
    filled: Decimal = Decimal(0)


class FakeVenue:
    """An honest, tiny venue.  Fault queues make single requests misbehave:

    ``place_faults``: "hang_after_exec" (executes, then never answers), "unknown_after_exec"
    (executes, then ExecutionUnknown), "unknown_not_sent" (ExecutionUnknown, never executed),
    "hang_not_sent", or an exception instance to raise without executing.
    ``query_faults`` / ``cancel_faults``: exception instances, "hang", or (cancel only)
    "unknown_after_exec".
    Stream: ``drop_stream`` loses events (kept in ``dropped``), ``hold_stream`` buffers them in
    ``held`` for a later out-of-order release, ``duplicate_stream`` delivers each twice.
    ``purge_closed``: closed orders are forgotten (query answers UnknownOrder).
    """

    venue = V

    def __init__(self) -> None:
        self.book: dict[str, VOrder] = {}
        self.fills: list[Fill] = []
        self.sink = None
        self.place_faults: deque = deque()
        self.query_faults: deque = deque()
        self.cancel_faults: deque = deque()
        self.drop_stream = False
        self.hold_stream = False
        self.duplicate_stream = False
        self.purge_closed = False
        self.dropped: list[OrderUpdate] = []
        self.held: list[OrderUpdate] = []
        self.calls = {"place": 0, "cancel": 0, "query": 0, "open_orders": 0, "recent_fills": 0}
        self._vid = itertools.count(1000)
        self._tid = itertools.count(1)

    # ---- lifecycle (the private stream is simulated by emit())
    @property
    def on_update(self):
        return self.sink

    @on_update.setter
    def on_update(self, cb) -> None:
        self.sink = cb

    @property
    def stream_connected(self) -> bool:
        return self.sink is not None

    def start(self, private_ws_url: str, on_reconnected) -> None:
        pass

    async def sync_time(self) -> None:
        pass

    async def close(self) -> None:
        self.sink = None

    # ---- helpers
    def new_client_order_id(self) -> str:
        return make_client_order_id("t")

    def _update(self, r: VOrder, fill: Fill | None = None) -> OrderUpdate:
        return OrderUpdate(venue=V, symbol=r.symbol, client_order_id=r.cid, venue_order_id=r.vid, state=r.state,
                           filled_qty=str(r.filled), qty=str(r.qty), price=r.price, side=r.side, fill=fill,
                           ts_exchange=time.time_ns())

    def emit(self, u: OrderUpdate) -> None:
        if self.drop_stream:
            self.dropped.append(u)
        elif self.hold_stream:
            self.held.append(u)
        elif self.sink is not None:
            self.sink(u)
            if self.duplicate_stream:
                self.sink(u)

    def release_held(self, order=None) -> None:
        evs, self.held = self.held, []
        for u in (order(evs) if order else evs):
            self.sink(u)

    def fill(self, cid: str, qty: str, price: str = "100") -> Fill:
        r = self.book[cid]
        assert not r.state.is_final
        q = min(Decimal(qty), r.qty - r.filled)
        r.filled += q
        r.state = S.FILLED if r.filled == r.qty else S.PARTIALLY_FILLED
        f = Fill(venue=V, symbol=r.symbol, client_order_id=r.cid, venue_order_id=r.vid,
                 trade_id=f"T{next(self._tid)}", price=price, qty=str(q), side=r.side, ts_exchange=time.time_ns())
        self.fills.append(f)
        self.emit(self._update(r, f))
        return f

    def execute(self, order: Order) -> VOrder:
        if order.client_order_id in self.book and not self.book[order.client_order_id].state.is_final:
            raise Rejected("duplicate client order id", venue="fake")
        r = VOrder(order.client_order_id, f"V{next(self._vid)}", order.symbol, order.side, order.type, order.tif,
                   Decimal(order.qty), order.price or "")
        self.book[r.cid] = r
        self.emit(self._update(r))
        if order.type is OrderType.MARKET:
            self.fill(r.cid, order.qty)
        elif order.tif is TimeInForce.IOC:
            r.state = S.EXPIRED
            self.emit(self._update(r))
        return r

    def _find(self, order: Order) -> VOrder:
        r = self.book.get(order.client_order_id)
        if r is None or (self.purge_closed and r.state.is_final):
            raise UnknownOrder("order does not exist", venue="fake")
        return r

    @staticmethod
    async def _fault(q: deque) -> str | None:
        if not q:
            return None
        f = q.popleft()
        if isinstance(f, BaseException):
            raise f
        if f == "hang":
            await asyncio.sleep(3600)
        return f

    # ---- ExecutionClient
    async def place(self, order: Order) -> OrderUpdate:
        self.calls["place"] += 1
        await asyncio.sleep(0)
        f = self.place_faults.popleft() if self.place_faults else None
        if isinstance(f, BaseException):
            raise f
        if f == "unknown_not_sent":
            raise ExecutionUnknown("connection reset", venue="fake")
        if f == "hang_not_sent":
            await asyncio.sleep(3600)
        r = self.execute(order)
        if f == "hang_after_exec":
            await asyncio.sleep(3600)
        if f == "unknown_after_exec":
            raise ExecutionUnknown("502 bad gateway", venue="fake", http_status=502)
        return self._update(r)

    async def cancel(self, order: Order) -> OrderUpdate:
        self.calls["cancel"] += 1
        await asyncio.sleep(0)
        f = await self._fault(self.cancel_faults)
        r = self.book.get(order.client_order_id)
        if r is None or r.state.is_final:
            raise UnknownOrder("unknown order sent", venue="fake")
        r.state = S.CANCELED
        self.emit(self._update(r))
        if f == "unknown_after_exec":
            raise ExecutionUnknown("timeout", venue="fake")
        return self._update(r)

    async def query(self, order: Order) -> OrderUpdate:
        self.calls["query"] += 1
        await asyncio.sleep(0)
        await self._fault(self.query_faults)
        return self._update(self._find(order))

    async def open_orders(self, symbol: str | None = None) -> list[OrderUpdate]:
        self.calls["open_orders"] += 1
        await asyncio.sleep(0)
        return [self._update(r) for r in self.book.values()
                if not r.state.is_final and (symbol is None or r.symbol == symbol)]

    async def recent_fills(self, symbol: str, since_ns: int) -> list[Fill]:
        self.calls["recent_fills"] += 1
        await asyncio.sleep(0)
        return [f for f in self.fills if f.symbol == symbol and f.ts_exchange >= since_ns]


class Recorder:
    def __init__(self) -> None:
        self.updates: list[tuple[str, OrderState, Decimal, str]] = []
        self.fills: list[tuple[str, str]] = []
        self.latency: list[tuple[str, int]] = []

    def on_update(self, o: Order) -> None:
        self.updates.append((o.client_order_id, o.state, Decimal(o.filled_qty), o.error))

    def on_fill(self, o: Order, f: Fill) -> None:
        self.fills.append((o.client_order_id, f.trade_id))

    def on_latency(self, stage: str, ns: int) -> None:
        self.latency.append((stage, ns))

    def states(self, cid: str) -> list[OrderState]:
        return [s for c, s, _, _ in self.updates if c == cid]


def make_mgr(venue: FakeVenue | None = None, **kw) -> tuple[OrderManager, FakeVenue, Recorder]:
    venue = venue or FakeVenue()
    rec = Recorder()
    opts = dict(FAST)
    opts.update(kw)
    mgr = OrderManager(venue, on_update=rec.on_update, on_fill=rec.on_fill, on_latency=rec.on_latency, **opts)
    venue.sink = mgr.on_venue_update
    return mgr, venue, rec


def req(qty="1", price="100", type=OrderType.LIMIT, tif=TimeInForce.GTC, cid=None, side=Side.BUY) -> OrderRequest:
    return OrderRequest(venue=V, symbol=SYM, side=side, type=type, qty=qty,
                        price=price if type is OrderType.LIMIT else None, tif=tif, client_order_id=cid)


async def settle(pred, timeout=3.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.002)


def assert_updates_consistent(rec: Recorder) -> None:
    """Per order: no callback without a change, filled qty never decreases, a final state is kept."""
    last: dict[str, tuple] = {}
    for cid, state, filled, err in rec.updates:
        prev = last.get(cid)
        if prev is not None:
            assert (state, filled, err) != prev, f"on_update without a change for {cid}"
            assert filled >= prev[1]
            if prev[0].is_final:
                assert state == prev[0]
        last[cid] = (state, filled, err)


# ----------------------------------------------------------------------------- client ids


def test_client_order_ids_unique_and_legal():
    legal = re.compile(r"[A-Za-z0-9_-]{1,32}")
    ids = [make_client_order_id() for _ in range(100_000)]
    assert len(set(ids)) == len(ids)
    assert all(legal.fullmatch(i) for i in ids)
    assert all(i.isalnum() for i in ids)          # default ids also fit alphanumeric-only venues
    assert ids == sorted(ids)                      # time + sequence order within the process
    long = make_client_order_id("ab_cd-EF0123")
    assert len(long) == 32 and legal.fullmatch(long)
    assert make_client_order_id("")
    for bad in ("x" * 13, "a b", "é", "a.b"):
        with pytest.raises(ValueError):
            make_client_order_id(bad)


def test_fake_venue_is_an_execution_client():
    assert isinstance(FakeVenue(), ExecutionClient)


def test_execution_client_protocol_covers_the_lifecycle():
    class OrdersOnly:                      # order calls without start/close/sync_time: not a client
        venue = V
        on_update = None

        def new_client_order_id(self) -> str:
            return "x"

        async def place(self, order): ...
        async def cancel(self, order): ...
        async def query(self, order): ...
        async def open_orders(self, symbol=None): ...
        async def recent_fills(self, symbol, since_ns): ...

    assert not isinstance(OrdersOnly(), ExecutionClient)


# ----------------------------------------------------------------------------- place / lifecycle


async def test_place_new_partial_filled_with_latencies():
    mgr, venue, rec = make_mgr()
    o = await mgr.place(req(qty="3"))
    cid = o.client_order_id
    assert cid.startswith("t") and o.state is S.NEW and o.venue_order_id
    assert mgr.orders[cid] is o and mgr.open_orders() == [o]
    venue.fill(cid, "1")
    assert o.state is S.PARTIALLY_FILLED and o.filled_qty == "1"
    venue.fill(cid, "2")
    assert o.state is S.FILLED and o.filled_qty == "3"
    assert rec.states(cid) == [S.PENDING_NEW, S.NEW, S.PARTIALLY_FILLED, S.FILLED]
    assert rec.fills == [(cid, "T1"), (cid, "T2")]
    assert [f.trade_id for f in o.fills] == ["T1", "T2"]
    assert [s for s, _ in rec.latency] == ["submit_to_ack", "submit_to_first_fill"]
    assert all(ns >= 0 for _, ns in rec.latency)
    assert o.ts_submit_ns <= o.ts_ack_ns <= o.ts_first_fill_ns
    assert mgr.open_orders() == []
    assert_updates_consistent(rec)


async def test_market_order_filled_on_placement_stream_before_ack():
    mgr, venue, rec = make_mgr()
    venue.duplicate_stream = True
    o = await mgr.place(req(qty="2", type=OrderType.MARKET))
    assert o.state is S.FILLED and Decimal(o.filled_qty) == 2
    assert len(rec.fills) == 1 and len(o.fills) == 1
    assert rec.states(o.client_order_id) == [S.PENDING_NEW, S.NEW, S.FILLED]
    assert_updates_consistent(rec)


async def test_an_order_acknowledged_while_the_stream_is_down_is_queried_once():
    """What the venue pushes about an order before the private stream is logged in (at start,
    or while it reconnects) goes nowhere: a post-only order the venue cancels right after
    accepting it would stay NEW. Such an order is queried once; with the stream up it is not."""
    mgr, venue, rec = make_mgr(pushed=True)
    venue.sink = None                                      # the stream is not up: pushes are lost
    o = await mgr.place(req())
    assert o.state is S.NEW
    venue.book[o.client_order_id].state = S.CANCELED        # canceled at the venue, pushed to nobody
    await settle(lambda: o.state is S.CANCELED)
    assert venue.calls["query"] == 1
    await asyncio.sleep(FAST["reconcile_interval_s"] * 20)
    assert venue.calls["query"] == 1                        # one query settles it

    mgr, venue, rec = make_mgr(pushed=True)                # stream up: its pushes tell
    o = await mgr.place(req())
    await asyncio.sleep(FAST["reconcile_interval_s"] * 20)
    assert o.state is S.NEW and venue.calls["query"] == 0


async def test_ioc_expires():
    mgr, venue, rec = make_mgr()
    o = await mgr.place(req(tif=TimeInForce.IOC))
    assert o.state is S.EXPIRED
    assert rec.states(o.client_order_id) == [S.PENDING_NEW, S.NEW, S.EXPIRED]


async def test_a_hedge_mode_leg_is_refused_unsent_where_the_venue_client_has_none():
    mgr, venue, rec = make_mgr()
    assert not getattr(venue, "position_legs", False)
    r = req()
    r.position_side = PositionSide.LONG
    o = await mgr.place(r)
    assert o.state is S.REJECTED and "position side LONG names a hedge-mode leg" in o.error
    assert venue.book == {} and rec.states(o.client_order_id) == [S.PENDING_NEW, S.REJECTED]
    venue.position_legs = True                  # a client that takes legs gets the order
    o = await mgr.place(r)
    assert o.state is S.NEW and o.position_side is PositionSide.LONG and len(venue.book) == 1


async def test_rejected_by_venue():
    mgr, venue, rec = make_mgr()
    venue.place_faults.append(Rejected("insufficient balance", venue="fake", code=-2010))
    o = await mgr.place(req())
    assert o.state is S.REJECTED and o.error == "insufficient balance"
    assert rec.states(o.client_order_id) == [S.PENDING_NEW, S.REJECTED]
    assert venue.book == {}


async def test_rejected_ack_state_keeps_reason():
    class RejectingAck(FakeVenue):
        async def place(self, order):
            self.calls["place"] += 1
            return OrderUpdate(venue=V, symbol=order.symbol, client_order_id=order.client_order_id,
                               venue_order_id="", state=S.REJECTED, reason="post-only would cross")

    mgr, venue, rec = make_mgr(RejectingAck())
    o = await mgr.place(req())
    assert o.state is S.REJECTED and o.error == "post-only would cross"


@pytest.mark.parametrize("exc", [
    RateLimited("429 too many requests", retry_after_s=1.0),
    IpBanned("418 banned"),
    CircuitOpen("venue suspended"),
    AuthError("bad signature"),
    TimestampError("outside recvWindow"),
])
async def test_definitely_not_placed_errors_reject_without_resend(exc):
    mgr, venue, rec = make_mgr()
    venue.place_faults.append(exc)
    o = await mgr.place(req())
    assert o.state is S.REJECTED
    assert type(exc).__name__ in o.error and str(exc) in o.error
    await asyncio.sleep(0.05)
    assert venue.calls["place"] == 1 and venue.calls["query"] == 0 and not mgr._tasks


async def test_duplicate_live_client_id_refused_final_one_reusable():
    mgr, venue, rec = make_mgr()
    o = await mgr.place(req(cid="mine1"))
    with pytest.raises(ValueError):
        await mgr.place(req(cid="mine1"))
    await mgr.cancel("mine1")
    assert o.state is S.CANCELED
    o2 = await mgr.place(req(cid="mine1"))
    assert o2 is not o and o2.state is S.NEW and mgr.orders["mine1"] is o2


async def test_wrong_venue_and_closed_manager():
    mgr, venue, rec = make_mgr()
    with pytest.raises(ValueError):
        await mgr.place(OrderRequest(venue=VenueId.okx, symbol=SYM, side=Side.BUY, type=OrderType.MARKET, qty="1"))
    await mgr.close()
    with pytest.raises(RuntimeError):
        await mgr.place(req())


# ----------------------------------------------------------------------------- lost acks


@pytest.mark.parametrize("fault", ["hang_after_exec", "unknown_after_exec"])
@pytest.mark.parametrize("stream", ["dropped", "live"])
async def test_lost_ack_resolves_to_one_order_no_duplicate_fills(fault, stream):
    mgr, venue, rec = make_mgr()
    venue.drop_stream = stream == "dropped"
    venue.place_faults.append(fault)
    o = await mgr.place(req(qty="2", type=OrderType.MARKET))
    cid = o.client_order_id
    if stream == "dropped":
        assert o.state is S.UNKNOWN
        await settle(lambda: o.state is not S.UNKNOWN)
    assert o.state is S.FILLED and Decimal(o.filled_qty) == 2
    assert venue.calls["place"] == 1 and len(venue.book) == 1
    # the fills themselves come back through reconcile (or were streamed), exactly once
    venue.drop_stream = False
    await mgr.reconcile()
    await mgr.reconcile()
    for u in venue.dropped:
        mgr.on_venue_update(u)
    assert rec.fills == [(cid, "T1")] and len(o.fills) == 1
    assert venue.calls["place"] == 1
    assert_updates_consistent(rec)
    await mgr.close()


async def test_lost_ack_resting_order_becomes_new_then_cancelable():
    mgr, venue, rec = make_mgr()
    venue.drop_stream = True
    venue.place_faults.append("hang_after_exec")
    o = await mgr.place(req())
    assert o.state is S.UNKNOWN
    await settle(lambda: o.state is S.NEW)
    assert o.venue_order_id == venue.book[o.client_order_id].vid
    assert rec.states(o.client_order_id) == [S.PENDING_NEW, S.UNKNOWN, S.NEW]
    await mgr.cancel(o.client_order_id)
    assert o.state is S.CANCELED and venue.calls["place"] == 1


async def test_stream_ack_during_timeout_avoids_unknown():
    mgr, venue, rec = make_mgr()
    venue.place_faults.append("hang_after_exec")     # the stream still delivers NEW
    o = await mgr.place(req())
    assert o.state is S.NEW
    assert S.UNKNOWN not in rec.states(o.client_order_id)
    await asyncio.sleep(0.03)
    assert venue.calls["query"] == 0


@pytest.mark.parametrize("fault", ["unknown_not_sent", "hang_not_sent"])
async def test_place_that_never_reached_venue_ends_rejected_and_is_not_resent(fault):
    mgr, venue, rec = make_mgr()
    venue.place_faults.append(fault)
    o = await mgr.place(req())
    assert o.state is S.UNKNOWN
    await settle(lambda: o.state.is_final)
    assert o.state is S.REJECTED and o.error == NOT_PLACED
    await asyncio.sleep(0.05)
    assert venue.calls["place"] == 1 and venue.book == {}
    assert rec.states(o.client_order_id) == [S.PENDING_NEW, S.UNKNOWN, S.REJECTED]
    assert not mgr._tasks


async def test_inferred_not_placed_yields_to_late_venue_evidence():
    """A request delayed inside the venue executes after we concluded "not placed": follow the venue."""
    mgr, venue, rec = make_mgr()
    venue.place_faults.append("unknown_not_sent")
    o = await mgr.place(req())
    await settle(lambda: o.state is S.REJECTED)
    venue.execute(o)                                   # the delayed request lands; stream says NEW
    assert o.state is S.NEW and o.error == ""
    venue.fill(o.client_order_id, "1")
    assert o.state is S.FILLED and len(rec.fills) == 1
    assert venue.calls["place"] == 1


async def test_caller_cancelling_place_leaves_unknown_and_reconciles():
    mgr, venue, rec = make_mgr(ack_timeout_s=5.0)
    venue.drop_stream = True
    venue.place_faults.append("hang_after_exec")
    t = asyncio.create_task(mgr.place(req(cid="c1")))
    await settle(lambda: venue.calls["place"] == 1 and "c1" in venue.book)
    t.cancel()
    with pytest.raises(asyncio.CancelledError):
        await t
    o = mgr.orders["c1"]
    assert o.state is S.UNKNOWN
    await settle(lambda: o.state is S.NEW)
    await mgr.close()


# ----------------------------------------------------------------------------- network errors while querying


@pytest.mark.parametrize("err", [ExecutionUnknown("503"), OSError("connection reset"), "hang",
                                 RateLimited("429", retry_after_s=0.001)])
async def test_query_errors_never_count_as_not_found(err):
    mgr, venue, rec = make_mgr(max_reconcile_attempts=4)
    venue.place_faults.append("unknown_not_sent")       # the order really does not exist ...
    venue.query_faults.extend([err] * 10)               # ... but we never get a definite answer
    o = await mgr.place(req())
    await settle(lambda: o.error == UNRESOLVED)
    assert o.state is S.UNKNOWN
    assert venue.calls["query"] == 4 and venue.calls["place"] == 1
    assert rec.updates[-1][1:] == (S.UNKNOWN, Decimal(0), UNRESOLVED)
    assert not mgr._tasks
    # status() with a failing query propagates the error and changes nothing
    with pytest.raises((ExecutionUnknown, OSError, asyncio.TimeoutError, RateLimited)):
        await mgr.status(o.client_order_id)
    assert o.state is S.UNKNOWN
    # a definite answer later resolves it
    venue.query_faults.clear()
    await mgr.status(o.client_order_id)
    assert o.state is S.REJECTED and o.error == NOT_PLACED


async def test_query_errors_then_answer_resolves_lost_ack():
    mgr, venue, rec = make_mgr()
    venue.drop_stream = True
    venue.place_faults.append("hang_after_exec")
    venue.query_faults.extend([ExecutionUnknown("timeout"), OSError("reset"), "hang"])
    o = await mgr.place(req())
    await settle(lambda: o.state is S.NEW)
    assert venue.calls["query"] == 4 and o.error == ""


# ----------------------------------------------------------------------------- cancel


async def test_cancel_new_and_partially_filled():
    mgr, venue, rec = make_mgr()
    a = await mgr.place(req(qty="2"))
    b = await mgr.place(req(qty="2"))
    venue.fill(b.client_order_id, "1")
    assert (await mgr.cancel(a.client_order_id)).state is S.CANCELED
    assert (await mgr.cancel(b.client_order_id)).state is S.CANCELED
    assert Decimal(b.filled_qty) == 1
    assert rec.states(a.client_order_id) == [S.PENDING_NEW, S.NEW, S.CANCEL_PENDING, S.CANCELED]
    assert rec.states(b.client_order_id)[-3:] == [S.PARTIALLY_FILLED, S.CANCEL_PENDING, S.CANCELED]


async def test_cancel_final_order_is_noop():
    mgr, venue, rec = make_mgr()
    o = await mgr.place(req(type=OrderType.MARKET))
    n = len(rec.updates)
    assert (await mgr.cancel(o.client_order_id)) is o
    assert o.state is S.FILLED and venue.calls["cancel"] == 0 and len(rec.updates) == n
    with pytest.raises(KeyError):
        await mgr.cancel("nope")


@pytest.mark.parametrize("purge", [False, True])
async def test_cancel_races_fill_ends_filled(purge):
    mgr, venue, rec = make_mgr()
    venue.purge_closed = purge                   # some venues forget closed orders
    o = await mgr.place(req(qty="2"))
    venue.drop_stream = True                     # the fill report is lost
    venue.fill(o.client_order_id, "2")
    out = await mgr.cancel(o.client_order_id)
    assert out.state is S.FILLED and Decimal(o.filled_qty) == 2 and o.error == ""
    assert rec.states(o.client_order_id)[-2:] == [S.CANCEL_PENDING, S.FILLED]
    if purge:                                    # the fill was recovered while resolving
        assert rec.fills == [(o.client_order_id, "T1")]
    venue.drop_stream = False
    await mgr.reconcile()
    for u in venue.dropped:
        mgr.on_venue_update(u)
    assert rec.fills == [(o.client_order_id, "T1")]
    assert_updates_consistent(rec)


async def test_cancel_of_vanished_unfilled_order_is_canceled():
    mgr, venue, rec = make_mgr()
    venue.purge_closed = True
    o = await mgr.place(req())
    venue.drop_stream = True
    venue.book[o.client_order_id].state = S.CANCELED   # closed elsewhere (e.g. kill switch), report lost
    await mgr.cancel(o.client_order_id)
    assert o.state is S.CANCELED and o.error == VANISHED


async def test_fill_during_cancel_keeps_cancel_pending_then_canceled():
    mgr, venue, rec = make_mgr()
    o = await mgr.place(req(qty="3"))
    cid = o.client_order_id
    orig_cancel = venue.cancel

    async def slow_cancel(order):
        venue.fill(cid, "1")                      # a fill arrives while the cancel is in flight
        assert order.state is S.CANCEL_PENDING and Decimal(order.filled_qty) == 1
        return await orig_cancel(order)

    venue.cancel = slow_cancel
    await mgr.cancel(cid)
    assert o.state is S.CANCELED and Decimal(o.filled_qty) == 1 and len(rec.fills) == 1
    assert_updates_consistent(rec)


async def test_cancel_outcome_unknown_but_executed():
    mgr, venue, rec = make_mgr()
    o = await mgr.place(req())
    venue.drop_stream = True
    venue.cancel_faults.append("unknown_after_exec")
    out = await mgr.cancel(o.client_order_id)
    assert out.state is S.CANCEL_PENDING
    await settle(lambda: o.state is S.CANCELED)
    assert venue.calls["cancel"] == 1


@pytest.mark.parametrize("err", [ExecutionUnknown("timeout"), "hang", OSError("reset")])
async def test_cancel_lost_before_venue_is_resent_by_reconciliation(err):
    mgr, venue, rec = make_mgr()
    o = await mgr.place(req())
    venue.cancel_faults.append(err)
    out = await mgr.cancel(o.client_order_id)
    assert out.state is S.CANCEL_PENDING
    await settle(lambda: o.state is S.CANCELED)
    assert venue.calls["cancel"] == 2
    assert rec.states(o.client_order_id)[-2:] == [S.CANCEL_PENDING, S.CANCELED]


async def test_cancel_refused_restores_state_and_raises():
    mgr, venue, rec = make_mgr()
    o = await mgr.place(req(qty="2"))
    venue.fill(o.client_order_id, "1")
    venue.cancel_faults.append(RateLimited("429"))
    with pytest.raises(RateLimited):
        await mgr.cancel(o.client_order_id)
    assert o.state is S.PARTIALLY_FILLED
    assert rec.states(o.client_order_id)[-2:] == [S.CANCEL_PENDING, S.PARTIALLY_FILLED]
    await asyncio.sleep(0.03)
    assert not mgr._tasks


async def test_cancel_unknown_order_queries_first():
    # never placed: the query settles it, no cancel is sent
    mgr, venue, rec = make_mgr(reconcile_interval_s=1.0)
    venue.place_faults.append("unknown_not_sent")
    o = await mgr.place(req())
    assert o.state is S.UNKNOWN
    await mgr.cancel(o.client_order_id)
    assert o.state is S.REJECTED and o.error == NOT_PLACED and venue.calls["cancel"] == 0
    # placed but unacknowledged: the query finds it, then it is canceled
    venue.drop_stream = True
    venue.place_faults.append("hang_after_exec")
    o2 = await mgr.place(req())
    assert o2.state is S.UNKNOWN
    await mgr.cancel(o2.client_order_id)
    assert o2.state is S.CANCELED and venue.calls["cancel"] == 1
    assert rec.states(o2.client_order_id) == [S.PENDING_NEW, S.UNKNOWN, S.NEW, S.CANCEL_PENDING, S.CANCELED]
    await mgr.close()


async def test_cancel_waits_for_place_in_flight():
    mgr, venue, rec = make_mgr()
    gate = asyncio.Event()
    orig = venue.place

    async def slow_place(order):
        await gate.wait()
        return await orig(order)

    venue.place = slow_place
    t = asyncio.create_task(mgr.place(req(cid="p1")))
    await asyncio.sleep(0)
    assert mgr.orders["p1"].state is S.PENDING_NEW
    c = asyncio.create_task(mgr.cancel("p1"))
    await asyncio.sleep(0.005)
    assert venue.calls["cancel"] == 0
    gate.set()
    await t
    assert (await c).state is S.CANCELED


# ----------------------------------------------------------------------------- stream merge rules


def _u(cid, state, filled="0", qty="3", fill=None, vid="V1") -> OrderUpdate:
    return OrderUpdate(venue=V, symbol=SYM, client_order_id=cid, venue_order_id=vid, state=state,
                       filled_qty=filled, qty=qty, price="100", side=Side.BUY, fill=fill)


def _f(cid, tid, qty, vid="V1") -> Fill:
    return Fill(venue=V, symbol=SYM, client_order_id=cid, venue_order_id=vid, trade_id=tid, price="100",
                qty=qty, side=Side.BUY)


def test_next_state_rules():
    z, one = Decimal(0), Decimal(1)
    assert next_state(S.PARTIALLY_FILLED, S.NEW, one, Decimal(3)) is S.PARTIALLY_FILLED
    assert next_state(S.FILLED, S.NEW, one, Decimal(3)) is S.FILLED
    assert next_state(S.CANCELED, S.PARTIALLY_FILLED, one, Decimal(3)) is S.CANCELED
    for s in (S.NEW, S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.REJECTED, S.EXPIRED, S.PENDING_NEW):
        assert next_state(S.UNKNOWN, s, z, Decimal(3)) is s
    assert next_state(S.NEW, S.NEW, Decimal(3), Decimal(3)) is S.FILLED        # venue state lags
    assert next_state(S.NEW, S.UNKNOWN, one, Decimal(3)) is S.PARTIALLY_FILLED
    assert next_state(S.UNKNOWN, S.UNKNOWN, z, None) is S.UNKNOWN
    assert next_state(S.CANCEL_PENDING, S.PARTIALLY_FILLED, one, Decimal(3)) is S.CANCEL_PENDING
    assert next_state(S.PENDING_NEW, S.NEW, z, None) is S.NEW


def test_stream_rules_adoption_and_decimal_compare():
    rec = Recorder()
    mgr = OrderManager(FakeVenue(), on_update=rec.on_update, on_fill=rec.on_fill)
    mgr.on_venue_update(_u("x", S.PARTIALLY_FILLED, "1", fill=_f("x", "a", "1")))
    o = mgr.orders["x"]                                           # adopted from another session
    assert o.state is S.PARTIALLY_FILLED and o.qty == "3" and o.venue_order_id == "V1"
    assert len(rec.updates) == 1 and rec.fills == [("x", "a")]
    mgr.on_venue_update(_u("x", S.NEW))                           # stale
    mgr.on_venue_update(_u("x", S.PARTIALLY_FILLED, "1.000"))     # same quantity, other spelling
    mgr.on_venue_update(_u("x", S.PARTIALLY_FILLED, "0.5"))       # older cumulative
    mgr.on_venue_update(_u("x", S.PARTIALLY_FILLED, "1", fill=_f("x", "a", "1")))  # duplicate fill
    assert len(rec.updates) == 1 and len(rec.fills) == 1 and o.state is S.PARTIALLY_FILLED
    mgr.on_venue_update(_u("x", S.NEW, "3.0"))                    # lagging state, full quantity
    assert o.state is S.FILLED and Decimal(o.filled_qty) == 3
    mgr.on_venue_update(_u("x", S.CANCELED, "3"))                 # final is never left
    assert o.state is S.FILLED
    mgr.on_venue_update(_u("x", S.PARTIALLY_FILLED, "3", fill=_f("x", "b", "2")))  # late fill: reported once
    assert rec.fills == [("x", "a"), ("x", "b")] and len(rec.updates) == 2
    # fill-only events with lagging cumulative do not double count
    mgr.on_venue_update(_u("y", S.NEW, "0", vid="V2"))
    mgr.on_venue_update(_u("y", S.UNKNOWN, "0", fill=_f("y", "c", "1", vid="V2"), vid="V2"))
    mgr.on_venue_update(_u("y", S.PARTIALLY_FILLED, "1", vid="V2"))
    mgr.on_venue_update(_u("y", S.PARTIALLY_FILLED, "0", fill=_f("y", "d", "1", vid="V2"), vid="V2"))
    assert mgr.orders["y"].filled_qty == "2" and mgr.orders["y"].state is S.PARTIALLY_FILLED
    # events from another venue are ignored
    mgr.on_venue_update(OrderUpdate(venue=VenueId.okx, symbol=SYM, client_order_id="z", venue_order_id="9",
                                    state=S.NEW))
    assert "z" not in mgr.orders
    assert_updates_consistent(rec)


def test_filled_report_implies_full_quantity_and_reused_id_routing():
    rec = Recorder()
    mgr = OrderManager(FakeVenue(), on_update=rec.on_update, on_fill=rec.on_fill)
    mgr.on_venue_update(_u("r", S.NEW, vid="V1"))
    mgr.on_venue_update(_u("r", S.FILLED, "0", vid="V1"))         # lazy report: no cumulative
    assert mgr.orders["r"].state is S.FILLED and mgr.orders["r"].filled_qty == "3"
    # an event for another venue order under the same client id is not merged into the first
    mgr.on_venue_update(_u("r", S.NEW, vid="V7"))
    assert mgr.orders["r"].state is S.FILLED
    assert mgr.orders["~V7"].state is S.NEW and mgr.orders["~V7"].venue_order_id == "V7"


def test_callback_exceptions_do_not_break_manager():
    def boom(*a):
        raise RuntimeError("strategy bug")

    mgr = OrderManager(FakeVenue(), on_update=boom, on_fill=boom)
    mgr.on_venue_update(_u("x", S.PARTIALLY_FILLED, "1", fill=_f("x", "a", "1")))
    mgr.on_venue_update(_u("x", S.FILLED, "3"))
    assert mgr.orders["x"].state is S.FILLED


@st.composite
def update_sequences(draw):
    """A valid venue update sequence for one order, then shuffled with duplicates."""
    lot = Decimal("0.001")
    sizes = draw(st.lists(st.integers(1, 50), min_size=0, max_size=6))
    end = draw(st.sampled_from([S.FILLED, S.CANCELED, S.EXPIRED]))
    if end is S.FILLED and not sizes:
        sizes = [draw(st.integers(1, 50))]
    total = sum(sizes)
    qty = total if end is S.FILLED else total + draw(st.integers(1, 20))
    spell = draw(st.booleans())                               # venues spell decimals differently

    def q(n):
        d = Decimal(n) * lot
        return f"{d:f}0" if spell else f"{d:f}"

    seq = [_u("h", S.NEW, "0", q(qty))]
    cum = 0
    for i, n in enumerate(sizes):
        cum += n
        state = S.FILLED if (end is S.FILLED and i == len(sizes) - 1) else S.PARTIALLY_FILLED
        seq.append(_u("h", state, q(cum), q(qty), fill=_f("h", f"t{i}", q(n))))
        if draw(st.booleans()):                                 # a snapshot-style report, no fill
            seq.append(_u("h", S.PARTIALLY_FILLED if state is not S.FILLED else S.FILLED, q(cum), q(qty)))
    if end is not S.FILLED:
        seq.append(_u("h", end, q(cum), q(qty)))
    extra = draw(st.lists(st.sampled_from(seq), max_size=2 * len(seq)))
    events = draw(st.permutations(seq + extra))
    return events, end, Decimal(total) * lot, [f"t{i}" for i in range(len(sizes))]


class AckOnly(FakeVenue):
    async def place(self, order):
        return OrderUpdate(venue=V, symbol=order.symbol, client_order_id=order.client_order_id,
                           venue_order_id="V1", state=S.NEW, qty=order.qty)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(update_sequences(), st.booleans())
def test_permuted_duplicated_updates_converge(case, tracked):
    events, end, total, trade_ids = case
    rec = Recorder()
    mgr = OrderManager(AckOnly(), on_update=rec.on_update, on_fill=rec.on_fill)
    if tracked:                                                  # placed by this manager first
        qty = events[0].qty
        asyncio.run(mgr.place(OrderRequest(venue=V, symbol=SYM, side=Side.BUY, type=OrderType.LIMIT, qty=qty,
                                           price="100", client_order_id="h")))
    for u in events:
        mgr.on_venue_update(u)
    o = mgr.orders["h"]
    assert len(mgr.orders) == 1
    assert o.state is end
    assert Decimal(o.filled_qty) == total
    assert sorted(t for _, t in rec.fills) == trade_ids
    assert sorted(f.trade_id for f in o.fills) == trade_ids
    assert_updates_consistent(rec)
    assert rec.updates[-1][1:3] == (end, total)


# ----------------------------------------------------------------------------- reconcile after reconnect


async def test_reconcile_after_reconnect_recovers_missed_events_once():
    mgr, venue, rec = make_mgr()
    a = await mgr.place(req(qty="3"))      # partially filled while disconnected
    b = await mgr.place(req(qty="2"))      # filled while disconnected
    c = await mgr.place(req(qty="1"))      # canceled elsewhere while disconnected
    d = await mgr.place(req(qty="1"))      # untouched
    venue.fill(a.client_order_id, "1")
    venue.drop_stream = True               # --- disconnected
    venue.fill(a.client_order_id, "1")
    venue.fill(b.client_order_id, "1.5")
    venue.fill(b.client_order_id, "0.5")
    venue.book[c.client_order_id].state = S.CANCELED
    foreign = VOrder("other-session", "V9", SYM, Side.SELL, OrderType.LIMIT, TimeInForce.GTC, Decimal(5), "101")
    venue.book[foreign.cid] = foreign
    venue.drop_stream = False              # --- reconnected
    await mgr.reconcile()
    assert a.state is S.PARTIALLY_FILLED and Decimal(a.filled_qty) == 2
    assert b.state is S.FILLED and Decimal(b.filled_qty) == 2
    assert c.state is S.CANCELED and d.state is S.NEW
    assert mgr.orders["other-session"].state is S.NEW and mgr.orders["other-session"].side is Side.SELL
    expected = sorted(f.trade_id for f in venue.fills)
    assert sorted(t for _, t in rec.fills) == expected
    # again, and the late replay of the dropped stream: nothing new
    n_upd = len(rec.updates)
    await mgr.reconcile()
    await mgr.reconcile(SYM)
    for u in venue.dropped + venue.dropped[::-1]:
        mgr.on_venue_update(u)
    assert sorted(t for _, t in rec.fills) == expected and len(rec.updates) == n_upd
    assert_updates_consistent(rec)


async def test_reconcile_adopts_fills_of_unknown_orders_and_resolves_unknown():
    mgr, venue, rec = make_mgr(reconcile_interval_s=5.0)    # background loop stays asleep
    venue.drop_stream = True
    venue.place_faults.append("unknown_after_exec")
    o = await mgr.place(req(qty="2", type=OrderType.MARKET))
    assert o.state is S.UNKNOWN
    # a market order of another session filled meanwhile and is gone from the open list
    other = Order(venue=V, symbol=SYM, client_order_id="ext-1", side=Side.SELL, type=OrderType.MARKET, qty="4",
                  price=None, tif=TimeInForce.GTC)
    venue.execute(other)
    await mgr.reconcile()
    assert o.state is S.FILLED and Decimal(o.filled_qty) == 2
    assert mgr.orders["ext-1"].state is S.FILLED and mgr.orders["ext-1"].qty == "4"
    assert sorted(t for _, t in rec.fills) == sorted(f.trade_id for f in venue.fills)
    assert venue.calls["place"] == 1
    await mgr.close()


async def test_reconcile_query_error_keeps_order_and_schedules_retry():
    mgr, venue, rec = make_mgr()
    o = await mgr.place(req())
    venue.drop_stream = True
    venue.book[o.client_order_id].state = S.CANCELED
    venue.query_faults.append(ExecutionUnknown("timeout"))
    await mgr.reconcile()
    assert o.state is S.NEW                        # not assumed gone
    await settle(lambda: o.state is S.CANCELED)   # resolved by the follow-up


async def test_close_cancels_background_reconciliation():
    mgr, venue, rec = make_mgr(reconcile_interval_s=10.0)
    venue.place_faults.append("unknown_not_sent")
    o = await mgr.place(req())
    assert o.state is S.UNKNOWN and len(mgr._tasks) == 1
    await mgr.close()
    assert not mgr._tasks and o.state is S.UNKNOWN and venue.calls["query"] == 0


def test_order_terms_follow_the_newest_venue_report():
    """qty/price change with the venue's reports in exchange-time order: a push from before an
    amend, arriving after it, never reverts the terms; a report without time changes them only
    as a snapshot (query / open orders)."""
    rec = Recorder()
    mgr = OrderManager(FakeVenue(), on_update=rec.on_update, on_fill=rec.on_fill)

    def u(qty, price, ts, state=S.NEW):
        return OrderUpdate(venue=V, symbol=SYM, client_order_id="t", venue_order_id="V1", state=state,
                           qty=qty, price=price, side=Side.BUY, ts_exchange=ts)

    mgr.on_venue_update(u("3", "100", 1000))
    o = mgr.orders["t"]
    assert (o.qty, o.price) == ("3", "100") and len(rec.updates) == 1
    mgr.on_venue_update(u("5", "99.5", 2000))                    # amended on the venue
    assert (o.qty, o.price) == ("5", "99.5") and len(rec.updates) == 2
    mgr.on_venue_update(u("3", "100", 1500))                     # late push from before
    assert (o.qty, o.price) == ("5", "99.5") and len(rec.updates) == 2
    mgr.on_venue_update(u("5.000", "99.50", 2500))               # same terms, other spelling
    assert (o.qty, o.price) == ("5", "99.5") and len(rec.updates) == 2
    mgr.on_venue_update(u("4", "98", 0))                         # stream report without time
    assert (o.qty, o.price) == ("5", "99.5")
    mgr.on_venue_update(u("5", "99.5", 3000, S.PARTIALLY_FILLED))
    mgr.on_venue_update(u("0", "", 3100, S.PARTIALLY_FILLED))    # empty / zero terms never erase
    assert (o.qty, o.price) == ("5", "99.5") and o.state is S.PARTIALLY_FILLED


async def test_amend_refusals_before_sending_and_a_venue_without_amend():
    mgr, venue, rec = make_mgr()
    o = await mgr.place(req(qty="3", price="100"))
    with pytest.raises(NotImplementedError, match="amend"):      # FakeVenue has no amend
        await mgr.amend(o.client_order_id, price="101")

    class Amending(FakeVenue):
        def __init__(self):
            super().__init__()
            self.amends = []

        async def amend(self, order, qty, price):
            self.amends.append((qty, price))
            v = self.book[order.client_order_id]
            if v.state.is_final:
                raise UnknownOrder("no such open order")
            if qty is not None:
                v.qty = Decimal(qty)
            if price is not None:
                v.price = price
            return OrderUpdate(venue=V, symbol=order.symbol, client_order_id=v.cid, venue_order_id=v.vid,
                               state=S.UNKNOWN, qty=qty or "", price=price or "", ts_exchange=time.time_ns())

    mgr, venue, rec = make_mgr(Amending())
    o = await mgr.place(req(qty="3", price="100"))
    venue.fill(o.client_order_id, "1")
    await settle(lambda: o.state is S.PARTIALLY_FILLED)
    with pytest.raises(ValueError, match="must exceed its filled"):
        await mgr.amend(o.client_order_id, qty="1")
    with pytest.raises(ValueError, match="qty or a new price"):
        await mgr.amend(o.client_order_id)
    with pytest.raises(ValueError, match="MARKET|price to amend"):
        m = await mgr.place(req(type=OrderType.MARKET, qty="1", tif=TimeInForce.IOC))
        await mgr.amend(m.client_order_id, price="1")
    for bad in ("-1", "NaN", "x", "0"):
        with pytest.raises(ValueError):
            await mgr.amend(o.client_order_id, qty=bad)
    assert (await mgr.amend(o.client_order_id, qty="3.0", price="100")) is o and venue.amends == []  # already so
    n = len(rec.updates)
    await mgr.amend(o.client_order_id, qty="4", price="101.5")
    assert (o.qty, o.price) == ("4", "101.5") and venue.amends == [("4", "101.5")] and len(rec.updates) == n + 1
    assert [s for s, _ in rec.latency if s == "amend_to_ack"] == ["amend_to_ack"]
    await mgr.cancel(o.client_order_id)
    await settle(lambda: o.state is S.CANCELED)
    with pytest.raises(UnknownOrder, match="CANCELED"):
        await mgr.amend(o.client_order_id, price="99")
    assert len(venue.amends) == 1                                # refused without asking the venue


async def test_audit_finds_what_lost_pushes_hid_and_asks_nothing_when_all_is_fresh():
    mgr, venue, rec = make_mgr()
    a = await mgr.place(req(qty="3", price="100"))
    b = await mgr.place(req(qty="2", price="99"))
    c = await mgr.place(req(qty="1", price="98"))
    assert await mgr.audit(quiet_s=60) == 0 and venue.calls["open_orders"] == 0   # all fresh: no request
    venue.drop_stream = True                     # the venue's pushes are lost, the stream stays up
    venue.fill(a.client_order_id, "1")           # a: partly filled, still open
    venue.fill(b.client_order_id, "2")           # b: filled, no longer open
    venue.book[c.client_order_id].state = S.CANCELED   # c: canceled on the venue (cancel-all, expiry)
    assert (a.state, b.state, c.state) == (S.NEW, S.NEW, S.NEW)
    assert await mgr.audit(quiet_s=0) == 3
    assert venue.calls["open_orders"] == 1 and venue.calls["query"] == 2          # b and c, not listed
    assert a.state is S.PARTIALLY_FILLED and a.filled_qty == "1" and len(a.fills) == 1
    assert b.state is S.FILLED and len(b.fills) == 1 and c.state is S.CANCELED
    assert mgr.audit_corrections == 3 and mgr.audits == 1
    assert sorted(cid for cid, _ in rec.fills) == sorted([a.client_order_id, b.client_order_id])
    venue.drop_stream = False
    assert await mgr.audit(quiet_s=0) == 1 and mgr.audit_corrections == 3            # a: unchanged
    assert_updates_consistent(rec)
