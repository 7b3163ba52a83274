# SPDX-License-Identifier: Apache-2.0
"""Fault drills: one venue's simulator, the engine connected to it, a strategy that trades, the
simulator's faults injected, and the engine's invariants checked against the venue's own records.

Used by the fault-matrix tests (every fault x every registered venue) and by ``venuelink soak``
(random faults for minutes). Venue-neutral: everything venue-specific comes from the adapter
(topics, instruments) and from the simulator's admin API (``venuelink.sim.admin``), whose book and
ledger views have the same shape for every venue.

Invariants (each violation is a line of text in ``Drill.violations``):

* a book is never LIVE while crossed (checked on every applied update the strategy sees);
* no trade id is delivered twice for one symbol; no fill trade id twice for one order;
* after recovery every book is LIVE and equal to the simulator's (top levels);
* the order ledger is intact: every order final, placed once, its state and filled quantity
  equal to the venue's, each of its fills delivered once and none missing;
* no rate-limit rejection or ban caused by the engine's own traffic (``Drill.self_limited``).

Compressed time: ``Drill(..., time_scale=k)`` runs the engine on ``Timers().scaled(k)`` (its own
detection and recovery timers, venuelink.config.Timers) and scales what the cases wait on and promise
with it: each fault's hold, its "out of LIVE within" bound, the frame delay that must exceed the
lag threshold, the order hold timeout. A bound of 3 s on the real timers is a bound of 3 s x k on
compressed ones, so a detection that is broken still fails. The venue's own times (its retry
hints, ban lengths, ping intervals) and the order path's recovery (RECOVER_S) are never scaled.
The soak runs on the real timers (k = 1).
"""
from __future__ import annotations

import asyncio
import enum
import json
import logging
import random
import time
import urllib.request
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable

from venuelink import registry
from venuelink.adapter import Channel
from venuelink.circuit import CircuitState, FailureKind
from venuelink.config import Config, Timers, VenueConfig
from venuelink.engine import Engine
from venuelink.errors import EngineError
from venuelink.venue import SnapshotSource
from venuelink.model import BookState, Fill, Order, OrderRequest, OrderState, OrderType, Side, TimeInForce
from venuelink.tools.simconfig import first_symbols, venue_config_for

log = logging.getLogger("venuelink.drill")


class Expect(enum.Flag):
    """What a fault must visibly cause in the engine (besides the invariants, which always hold)."""
    NONE = 0
    NOT_LIVE = enum.auto()        # every affected book leaves LIVE while the fault lasts
    RESYNC = enum.auto()          # a book resync is counted
    RECONNECT = enum.auto()       # the market-data connection reconnects
    DECODE_DROP = enum.auto()     # undecodable / invalid frames are counted drops
    DUP_DROP = enum.auto()        # duplicate trades are counted drops
    STAYS_LIVE = enum.auto()      # no book leaves LIVE, no resync (a harmless fault)
    MD_BREAKER = enum.auto()      # the market-data REST breaker opens, the order breaker does not
    RATE_BLOCK = enum.auto()      # the venue's retry hint blocks the budget; the engine waits it out
    UNAVAILABLE = enum.auto()     # the venue is reported unavailable for orders, then available
    OTHER_LIVE = enum.auto()      # the drill's other symbols stay LIVE throughout
    CONSUMER_DROPS = enum.auto()  # a slow stream consumer loses its oldest items, counted
    TRADES_AGAIN = enum.auto()    # orders the venue refused for rate end refused (never unknown, never
                                  # sent twice) and the engine trades again once the block has passed
    REPLACED = enum.auto()        # the connection is replaced: on endpoints whose ids are global a
                                  # make-before-break rotation that keeps every book LIVE, else a reconnect


class Needs(enum.Flag):
    NOTHING = 0
    CHECKSUM = enum.auto()        # the venue publishes book checksums
    REST_SNAPSHOT = enum.auto()   # books are resynced from a REST snapshot
    RETRY_HINT = enum.auto()      # rate refusals carry a retry time the engine must honour
    WS_ORDERS = enum.auto()       # orders are placed over the venue's WebSocket API
    SHUTDOWN_NOTICE = enum.auto() # the venue announces a connection's close (VenueSpec.shutdown_notice)


@dataclass(frozen=True, slots=True)
class Target:
    """What a fault case aims at: the first symbol of the drill, with its wire names."""
    venue_symbol: str
    book_topic: str
    trade_topic: str
    all_topics: list[str]
    snapshot_path: str | None     # REST snapshot path, for venues that resync from one
    time_scale: float = 1.0       # the drill's timer scale: a fault whose size is an engine timer's scales with it


@dataclass(frozen=True, slots=True)
class FaultCase:
    name: str
    inject: Callable[[Target], list[dict[str, Any]]]
    expect: Expect
    clear: Callable[[Target], list[dict[str, Any]]] | None = None   # specs that end the fault
    hold_s: float = 0.0           # how long the fault lasts before ``clear`` (x the drill's time scale
                                  # unless ``fixed_hold``)
    needs: Needs = Needs.NOTHING
    orders: bool = False          # trade through the fault (order faults)
    fault_first: bool = False     # inject before the orders are sent (they carry the fault)
    classified: tuple[tuple[str, FailureKind], ...] = ()   # (component, kind) the engine must report
    live_within_s: float = 0.0    # NOT_LIVE: the book leaves LIVE this soon after the fault, before it is
                                  # cleared (0: at any time of the case)
    all_books: bool = False       # NOT_LIVE holds for every book of the drill, not only the first
    fixed_hold: bool = False      # hold_s waits on something other than the engine's timers (a flood
                                  # being delivered): never scaled


def _c(kind: str, **kw: Any) -> dict[str, Any]:
    return {"type": kind, **kw}


# Every fault of the simulator's fault API, with what it must cause. The matrix runs each on
# every registered venue that has what it needs.
CASES: list[FaultCase] = [
    FaultCase("disconnect_mid_frame", lambda t: [_c("cut", scope="market")], Expect.NOT_LIVE | Expect.RECONNECT),
    FaultCase("disconnect_clean", lambda t: [_c("disconnect", scope="market")], Expect.NOT_LIVE | Expect.RECONNECT),
    FaultCase("half_open_tcp", lambda t: [_c("silence", enabled=True)], Expect.NOT_LIVE | Expect.RECONNECT,
              clear=lambda t: [_c("silence", enabled=False)], hold_s=6.0,
              classified=(("ws", FailureKind.UNREACHABLE),)),
    FaultCase("slow_consumer_flood", lambda t: [_c("flood", steps=3000)], Expect.CONSUMER_DROPS, hold_s=1.0,
              fixed_hold=True),
    FaultCase("sequence_gap", lambda t: [_c("gap", symbol=t.venue_symbol, count=1)],
              Expect.RESYNC | Expect.NOT_LIVE | Expect.OTHER_LIVE),
    FaultCase("duplicated_frames", lambda t: [_c("duplicate", count=5, topic=t.book_topic),
                                              _c("duplicate", count=5, topic=t.trade_topic)],
              Expect.STAYS_LIVE | Expect.DUP_DROP),
    FaultCase("reordered_frames", lambda t: [_c("reorder", count=1, topic=t.book_topic)],
              Expect.RESYNC | Expect.OTHER_LIVE),
    FaultCase("checksum_corruption", lambda t: [_c("checksum", symbol=t.venue_symbol, count=1)],
              Expect.RESYNC | Expect.NOT_LIVE | Expect.OTHER_LIVE, needs=Needs.CHECKSUM),
    FaultCase("crossed_book", lambda t: [_c("crossed", symbol=t.venue_symbol)],
              Expect.RESYNC | Expect.NOT_LIVE | Expect.OTHER_LIVE),
    # one book's stream stops while the others flow: no longer LIVE within 10 s (probe-confirmed; x the
    # time scale)
    FaultCase("stale_feed", lambda t: [_c("mute", topics=[t.book_topic], enabled=True)],
              Expect.NOT_LIVE | Expect.OTHER_LIVE,
              clear=lambda t: [_c("mute", topics=[t.book_topic], enabled=False)], hold_s=10.0, live_within_s=10.0),
    # the venue stops every stream while the socket and its pings stay up: no book LIVE after 3 s (x the
    # time scale)
    FaultCase("data_silence_socket_alive", lambda t: [_c("mute", topics=["*"], enabled=True)], Expect.NOT_LIVE,
              clear=lambda t: [_c("mute", topics=["*"], enabled=False)], hold_s=4.0, live_within_s=3.0,
              all_books=True),
    # every frame later than the endpoint's max_data_lag_s (2 s x the time scale)
    FaultCase("delayed_frames", lambda t: [_c("delay", ms=round(3000 * t.time_scale))], Expect.NOT_LIVE,
              clear=lambda t: [_c("delay", ms=0)], hold_s=4.0),
    FaultCase("maintenance", lambda t: [_c("maintenance", enabled=True)],
              Expect.NOT_LIVE | Expect.RECONNECT | Expect.UNAVAILABLE,
              clear=lambda t: [_c("maintenance", enabled=False)], hold_s=4.0, orders=True,
              classified=(("rest_orders", FailureKind.VENUE_DOWN),)),
    FaultCase("5xx_burst_on_snapshots", lambda t: [_c("http_error", status=503, count=8, path=t.snapshot_path),
                                                   _c("gap", symbol=t.venue_symbol, count=1)],
              Expect.RESYNC | Expect.MD_BREAKER, orders=True, needs=Needs.REST_SNAPSHOT,
              classified=(("rest_market_data", FailureKind.VENUE_DOWN),)),
    FaultCase("429_storm", lambda t: [_c("rate_limit", count=2, retry_after_s=2)], Expect.RATE_BLOCK, orders=True,
              fault_first=True, needs=Needs.RETRY_HINT),
    # the venue refuses WebSocket orders for rate (OKX 50011 on the private socket, no retry time)
    FaultCase("ws_order_rate_limit", lambda t: [_c("rate_limit", count=2, retry_after_s=1, path="ws:order")],
              Expect.TRADES_AGAIN, orders=True, fault_first=True, needs=Needs.WS_ORDERS),
    FaultCase("ban", lambda t: [_c("ban", seconds=2)], Expect.RATE_BLOCK, orders=True, fault_first=True,
              classified=(("rest_orders", FailureKind.BANNED),), needs=Needs.RETRY_HINT),
    FaultCase("lost_order_ack", lambda t: [_c("order", mode="unknown", count=2)], Expect.NONE, orders=True,
              fault_first=True),
    FaultCase("ack_after_fill", lambda t: [_c("order", mode="late", count=2, hold_s=0.5)], Expect.NONE,
              orders=True, fault_first=True),
    FaultCase("duplicate_fills", lambda t: [_c("duplicate_user_event", count=12)], Expect.NONE, orders=True,
              fault_first=True),
    FaultCase("lost_stream_events", lambda t: [_c("drop_user_event", count=2)], Expect.NONE, orders=True,
              fault_first=True),
    FaultCase("rest_timeout_order_placed", lambda t: [_c("order", mode="timeout", count=1, hold_s=4.0)],
              Expect.NONE, orders=True, fault_first=True),
    FaultCase("malformed_json", lambda t: [_c("malformed", count=3, topic=t.book_topic)],
              Expect.DECODE_DROP | Expect.RESYNC | Expect.OTHER_LIVE),
    FaultCase("unknown_fields", lambda t: [_c("unknown_fields", count=20, topic=t.book_topic),
                                           _c("unknown_fields", count=20, topic=t.trade_topic)], Expect.STAYS_LIVE),
    FaultCase("changed_field_types", lambda t: [_c("type_change", count=2, topic=t.book_topic)],
              Expect.DECODE_DROP | Expect.RESYNC | Expect.OTHER_LIVE),
    FaultCase("server_shutdown_notice", lambda t: [_c("server_shutdown")], Expect.REPLACED,
              hold_s=2.5, needs=Needs.SHUTDOWN_NOTICE),        # the rotation starts at the session's next watch tick (<= 1 s)
]
CASES_BY_NAME = {c.name: c for c in CASES}

RECOVER_S = 6.0
"""after an outage ends, the venue must be reported available for orders within this (never
scaled: the order path's breaker and private-stream backoff are not among the compressed timers)"""


def venue_needs(venue: str) -> Needs:
    """What a venue offers of the ``Needs`` a case may have."""
    spec = registry.create(venue).spec
    have = Needs.CHECKSUM if spec.book.checksum else Needs.NOTHING
    if spec.book.snapshot == SnapshotSource.REST:
        have |= Needs.REST_SNAPSHOT
    if spec.retry_hint:
        have |= Needs.RETRY_HINT
    if spec.ws_order_entry:
        have |= Needs.WS_ORDERS
    if spec.shutdown_notice:
        have |= Needs.SHUTDOWN_NOTICE
    return have


def applicable(venue: str) -> list[FaultCase]:
    have = venue_needs(venue)
    return [c for c in CASES if (c.needs & have) == c.needs]


@dataclass(slots=True)
class CaseResult:
    case: str
    venue: str
    ok: bool
    violations: list[str]
    observed: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


class Drill:
    """Engine + strategy against one running simulator (``venuelink.sim.server.running_simulator``)."""

    def __init__(self, venue: str, sim: Any, *, n_symbols: int = 2, order_qty_lots: int = 3,
                 venue_config: dict[str, Any] | None = None, seed: int = 1, time_scale: float = 1.0) -> None:
        """time_scale: the engine runs on Timers().scaled(time_scale) and the cases' holds and bounds
        scale with it (1: the real timers)."""
        self.venue, self.sim = venue, sim
        self.time_scale = time_scale
        self.timers = Timers().scaled(time_scale)
        self.n_symbols = n_symbols
        self.order_qty_lots = order_qty_lots
        self.venue_config = venue_config or {}
        self.rng = random.Random(seed)
        self.engine: Engine | None = None
        self.symbols: list[str] = []
        self.violations: list[str] = []
        self.trade_ids: dict[str, set] = {}
        self.trades = 0
        self.case_trades: dict[str, list[int]] = {}  # integer trade ids delivered since the case began
        self.fills: dict[str, list[str]] = {}        # client order id -> fill trade ids delivered
        self.state_log: dict[str, list[tuple[float, BookState]]] = {}
        self.venue_state_log: list[tuple[float, bool, str]] = []
        self.placed: list[Order] = []
        self.not_sent = 0
        self._monitor: asyncio.Task | None = None
        self.breaker_log: list[tuple[float, str, CircuitState]] = []
        self._rejections0 = 0
        self._rejected_by0: dict[str, int] = {}
        self.classified: set[tuple[str, FailureKind]] = set()   # (component, failure kind) seen
        self.verified: set[str] = set()             # client order ids whose ledger check passed
        self.fills_delivered = 0                    # fills of verified orders
        self._orders0: set[int] = set()

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self.symbols = first_symbols(self.venue, self.sim.rest_url, self.n_symbols)
        scaled = {"timers": self.timers,
                  "hold_timeout_s": VenueConfig(self.venue).hold_timeout_s * self.time_scale}
        vc = venue_config_for(self.venue, self.sim, self.symbols, **(scaled | self.venue_config))
        eng = self.engine = Engine(Config(venues={self.venue: vc}, metrics_port=0))
        for s in self.symbols:
            self.trade_ids[s] = set()
            self.case_trades[s] = []
            self.state_log[s] = []
            eng.subscribe_trades(self.venue, s, self._on_trade)
            eng.subscribe_book(self.venue, s, self._on_book)
            eng.subscribe_book_state(self.venue, s, self._on_state)
        eng.subscribe_orders(self.venue, None, self._on_fill)
        eng.subscribe_venue_state(self.venue, lambda v, ok, why: self.venue_state_log.append((time.monotonic(), ok, why)))
        st = await self.admin("GET", "/status")
        self._rejections0 = st.get("limit_rejections", 0)
        self._rejected_by0 = dict(st.get("limit_rejected_by", {}))
        ledger = await self.admin("GET", "/ledger")
        self._orders0 = {r["orderId"] for r in ledger["orders"]}
        await eng.start()
        self._monitor = asyncio.ensure_future(self._watch_breakers())
        if not await self.wait(self.all_live, 30):
            raise EngineError(f"{self.venue}: books did not go live: {self.book_states()}")
        # A book goes LIVE on its snapshot, which may be newer than every diff still on the way:
        # those are rightly dropped as old, and a one-shot fault riding on one of them would
        # never reach the book. Cases start once every book has applied a diff after going live
        # (or a new whole book, where a venue sends only those).
        def updates() -> list[int]:
            return [fs.sync.n_applied + fs.sync.n_snapshots for fs in self.feed_symbols()]
        at_live = updates()
        if not await self.wait(lambda: all(n > n0 for n, n0 in zip(updates(), at_live)), 10):
            raise EngineError(f"{self.venue}: books went live but applied no update after: {self.book_states()}")

    async def close(self) -> None:
        if self._monitor is not None:
            self._monitor.cancel()
        if self.engine is not None:
            await self.engine.close()

    async def __aenter__(self) -> "Drill":
        try:
            await self.start()
        except BaseException:               # a start that failed half way (books never live): stop what runs
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    @property
    def rt(self):
        assert self.engine is not None
        return self.engine.runtime(self.venue)

    # ------------------------------------------------------------------ observers
    def _on_trade(self, t) -> None:
        sym = t.instrument.symbol
        seen = self.trade_ids[sym]
        if t.trade_id in seen:
            self.violations.append(f"trade {sym} {t.trade_id} delivered twice")
        seen.add(t.trade_id)
        ct = self.case_trades.get(sym)
        if ct is not None and len(ct) < 100_000:
            ct.append(t.trade_id_int)
        if len(seen) > 200_000:
            seen.clear()
        self.trades += 1

    def _on_book(self, view) -> None:
        if view.state != BookState.LIVE:
            return
        b, a = view.best_bid(), view.best_ask()
        if b is not None and a is not None and b[0] >= a[0]:
            self.violations.append(f"book {view.symbol} LIVE while crossed: bid {b[0]} >= ask {a[0]}")

    def _on_state(self, symbol: str, state: BookState) -> None:
        self.state_log[symbol].append((time.monotonic(), BookState(state)))

    def _on_fill(self, order: Order, fill: Fill) -> None:
        got = self.fills.setdefault(order.client_order_id, [])
        if fill.trade_id in got:
            self.violations.append(f"fill {fill.trade_id} of {order.client_order_id} delivered twice")
        got.append(fill.trade_id)

    async def _watch_breakers(self) -> None:
        last: dict[str, CircuitState] = {}
        while True:
            rt = self.rt
            rest = rt.rest
            for name, br in (("orders", rest.breaker), ("market_data", rest.md_breaker)):
                st = CircuitState(br.state)
                if last.get(name) != st:
                    last[name] = st
                    self.breaker_log.append((time.monotonic(), name, st))
                if br.last_failure is not None:
                    self.classified.add(("rest_" + name, FailureKind(br.last_failure)))
            for s in rt.sessions:
                if s.breaker.last_failure is not None:
                    self.classified.add(("ws", FailureKind(s.breaker.last_failure)))
            await asyncio.sleep(0.02)

    # ------------------------------------------------------------------ views
    def feed_symbols(self):
        return [self.rt.fs_by_symbol[s] for s in self.symbols]

    def all_live(self) -> bool:
        return all(fs.sync.is_live for fs in self.feed_symbols())

    def book_states(self) -> dict[str, str]:
        return {fs.instrument.symbol: BookState(fs.sync.state).name for fs in self.feed_symbols()}

    def counters(self) -> dict[str, int]:
        fss = self.feed_symbols()
        rt = self.rt
        return {
            "resyncs": sum(fs.sync.n_resyncs for fs in fss),
            "resyncs_first": fss[0].sync.n_resyncs,
            "resyncs_others": sum(fs.sync.n_resyncs for fs in fss[1:]),
            "decode_drops": sum(p.n_errors for p in rt.parsers),
            "dup_trades": sum(fs.n_dup_trades for fs in fss),
            "reconnects": sum(s.reconnects for s in rt.sessions),
            "notice_rotations": sum(s.notice_rotations for s in rt.sessions),
            "rest_errors": rt.rest.errors if hasattr(rt.rest, "errors") else 0,
            "trades": self.trades,
            "strategy_errors": rt.strategy_errors,
            "stream_drops": self.engine.stream_drops,
        }

    @staticmethod
    async def wait(pred: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if pred():
                return True
            await asyncio.sleep(step)
        return pred()

    def sim_name(self, inst: Any) -> str:
        """The simulator's name of an instrument's market (what its admin and fault API take): its
        venue symbol, unless the simulator names markets its own way (``market_names``: Bybit's
        spot and linear BTCUSDT are two markets)."""
        return (self.sim.info.get("market_names") or {}).get(inst.symbol, inst.venue_symbol)

    def target(self) -> Target:
        a = self.rt.adapter
        inst = a.instrument(self.symbols[0])
        book_t, trade_t = a.topics(inst, (Channel.BOOK, Channel.TRADES))
        everything = [t for s in self.symbols for t in a.topics(a.instrument(s), (Channel.BOOK, Channel.TRADES))]
        snap = a.snapshot_request(inst)[0] if a.spec.book.snapshot == SnapshotSource.REST else None
        return Target(self.sim_name(inst), book_t, trade_t, everything, snap, self.time_scale)

    # ------------------------------------------------------------------ simulator admin
    async def admin(self, method: str, path: str, body: Any = None) -> Any:
        def call() -> Any:
            data = json.dumps(body).encode() if body is not None else None
            req = urllib.request.Request(self.sim["admin_url"] + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=10) as r:
                return json.loads(r.read())
        return await asyncio.get_running_loop().run_in_executor(None, call)

    async def fault(self, specs: list[dict[str, Any]]) -> None:
        await self.admin("POST", "/fault", specs)

    ONE_SHOT = ("md_drops", "crossed", "checksum", "frame_faults")
    """fault switches the simulator spends on the next matching message"""

    async def _until_taken(self, timeout: float = 10.0) -> None:
        """Wait until the simulator has spent the one-shot faults just injected (they act on the
        next message of their topic, which a loaded host may send late), so the case judges the
        engine after the fault happened, not before it."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            st = await self.admin("GET", "/faults")
            if not any(st.get(k) for k in self.ONE_SHOT):
                return
            await asyncio.sleep(0.05)

    # ------------------------------------------------------------------ trading
    async def trade_round(self, n: int = 4) -> None:
        """Place ``n`` orders on the first symbol: marketable ones (fill at once) and resting ones
        (cancelled by ``finish_orders``). An order the engine refuses to send is counted, not an error."""
        assert self.engine is not None
        sym = self.symbols[0]
        inst = self.rt.adapter.instrument(sym)
        book = await self.admin("GET", f"/book?symbol={self.sim_name(inst)}&limit=1")
        qty = inst.qty_str(max(inst.lot * self.order_qty_lots, inst.min_qty))
        far = _far_price(inst, Decimal(book["bids"][0][0]))
        reqs = []
        for i in range(n):
            if i % 2 == 0:
                reqs.append(OrderRequest(self.rt.venue, sym, Side.BUY if i % 4 == 0 else Side.SELL, OrderType.MARKET, qty))
            else:
                reqs.append(OrderRequest(self.rt.venue, sym, Side.BUY, OrderType.LIMIT, qty, far, TimeInForce.GTC))
        results = await asyncio.gather(*(self.engine.place(r) for r in reqs), return_exceptions=True)
        for r in results:
            if isinstance(r, Order):
                self.placed.append(r)
            elif isinstance(r, EngineError):
                self.not_sent += 1
            else:
                raise r

    async def finish_orders(self, timeout: float = 30.0) -> None:
        """Cancel what rests and wait until every order is final at the engine."""
        assert self.engine is not None
        om = self.rt.orders

        def open_ones() -> list[Order]:
            return [o for o in om.orders.values() if not o.state.is_final]
        end = time.monotonic() + timeout
        while open_ones() and time.monotonic() < end:
            for o in open_ones():
                if o.state in (OrderState.NEW, OrderState.PARTIALLY_FILLED):
                    try:
                        await self.engine.cancel(self.venue, o.client_order_id)
                    except EngineError as e:
                        log.info("cancel %s: %s", o.client_order_id, e)
                elif o.state == OrderState.UNKNOWN:
                    try:
                        await self.engine.status(self.venue, o.client_order_id)
                    except EngineError as e:
                        log.info("status %s: %s", o.client_order_id, e)
            await asyncio.sleep(0.2)

    # ------------------------------------------------------------------ checks
    async def check_trades(self, settle_s: float = 8.0) -> list[str]:
        """No public trade lost across the fault: every trade the venue made between the first and
        the last trade delivered since the case began was delivered (venues with a recent-trades
        history to backfill from; ids increasing per symbol)."""
        rt = self.rt
        deadline = time.monotonic() + settle_s
        while rt.backfill.holding and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        out = []
        for sym in self.symbols:
            fs = rt.fs_by_symbol[sym]
            got = self.case_trades[sym]
            self.case_trades[sym] = []
            if rt.adapter.trade_history_request(fs.instrument) is None or len(got) < 2:
                continue
            hist = await self.admin("GET", f"/trades?symbol={self.sim_name(fs.instrument)}")
            ids = [row[0] for row in hist["trades"]]
            if not ids:
                continue
            lo, hi = max(min(got), ids[0]), max(got)
            missing = sorted(i for i in set(ids) - set(got) if lo <= i <= hi)
            if missing:
                out.append(f"{len(missing)} public trades of {sym} never delivered (ids {missing[:5]}...; "
                           f"backfill {rt.backfill.stats()})")
        return out

    async def check_ledger(self, settle_s: float = 10.0) -> list[str]:
        """Every order final and equal to the venue's record; placed once; fills exactly once."""
        out: list[str] = []
        om = self.rt.orders
        mine = {o.client_order_id: o for o in om.orders.values() if o.client_order_id not in self.verified}
        deadline = time.monotonic() + settle_s
        while True:
            ledger = await self.admin("GET", "/ledger")
            by_cid: dict[str, list[dict]] = {}
            for rec in ledger["orders"]:
                by_cid.setdefault(rec["clientOrderId"], []).append(rec)
            out = []
            for cid, o in mine.items():
                recs = by_cid.get(cid, [])
                if not o.state.is_final:
                    out.append(f"order {cid} not final: {o.state.name}")
                    continue
                if not recs:
                    if o.venue_order_id:
                        out.append(f"order {cid} {o.state.name} has a venue id but the venue has no record")
                    elif o.state != OrderState.REJECTED:
                        out.append(f"order {cid} {o.state.name} never reached the venue")
                    continue
                if len(recs) > 1:
                    out.append(f"order {cid} placed {len(recs)} times")
                rec = recs[0]
                if rec["status"] != o.state.name:
                    out.append(f"order {cid}: engine {o.state.name}, venue {rec['status']}")
                if Decimal(rec["executed"]) != Decimal(o.filled_qty):
                    out.append(f"order {cid}: engine filled {o.filled_qty}, venue {rec['executed']}")
                want = sorted(str(t) for t in rec["trades"])
                got = sorted(str(t) for t in self.fills.get(cid, []))
                if want != got:
                    out.append(f"order {cid}: fills delivered {got}, venue has {want}")
            for rec in ledger["orders"]:
                if (rec["orderId"] not in self._orders0 and rec["clientOrderId"] not in mine
                        and rec["clientOrderId"] not in self.verified):
                    out.append(f"venue holds order {rec['clientOrderId']} the engine does not know")
            if not out or time.monotonic() > deadline:
                if not out:                        # checked once: later checks look at new orders only
                    self.verified.update(mine)
                    self.fills_delivered += sum(len(self.fills.pop(c, ())) for c in mine)
                return out
            await asyncio.sleep(0.3)

    async def check_books(self, depth: int = 50, timeout: float = 30.0) -> list[str]:
        """Every book LIVE and equal to the venue's top ``depth`` levels (market paused meanwhile)."""
        out: list[str] = []
        if not await self.wait(self.all_live, timeout):
            return [f"books not live after recovery: {self.book_states()}"]
        await self.admin("POST", "/market", {"action": "pause"})
        try:
            for fs in self.feed_symbols():
                inst = fs.instrument
                ref = await self.admin("GET", f"/book?symbol={self.sim_name(inst)}&limit={depth}")
                canon = lambda lv: [(inst.px_str(inst.px(p)), inst.qty_str(inst.qty(q))) for p, q in lv]
                want = canon(ref["bids"])[:depth], canon(ref["asks"])[:depth]
                ours = lambda: ([(inst.px_str(p), inst.qty_str(q)) for p, q in fs.book.levels(1)][:depth],
                                [(inst.px_str(p), inst.qty_str(q)) for p, q in fs.book.levels(2)][:depth])
                # the market is paused: the pushes in flight must bring the book to the venue's,
                # LIVE (venue ids need not be the simulator's: Bybit's u counts a topic's pushes)
                if not await self.wait(lambda: fs.sync.is_live and ours() == want, 15):
                    out.append(f"book {inst.symbol} differs from the venue's (seq {fs.book.seq}, venue's "
                               f"{ref['seq']}), state {BookState(fs.sync.state).name}")
        finally:
            await self.admin("POST", "/market", {"action": "resume"})
        return out

    async def self_limited(self) -> list[str]:
        """Rate-limit rejections the engine caused itself (not injected): must be none."""
        st = await self.admin("GET", "/status")
        n = st.get("limit_rejections", 0) - self._rejections0
        if not n:
            return []
        by = {k: v - self._rejected_by0.get(k, 0) for k, v in st.get("limit_rejected_by", {}).items()}
        which = ", ".join(f"{k}: {v}" for k, v in sorted(by.items()) if v)
        return [f"the venue rejected {n} requests for rate limits ({which})"]

    async def _slow_consumer(self) -> None:
        """A strategy reading trades through ``Engine.stream`` far slower than they come."""
        assert self.engine is not None
        async for _ in self.engine.stream(self.venue, self.symbols[0], "trades", maxsize=20):
            await asyncio.sleep(0.01)

    async def _check_retry_hints(self, since: float) -> list[str]:
        """After each 429 / 418 the venue answered, no REST request may arrive before its
        Retry-After has passed (0.1 s slack for clocks), and the engine's traffic went on after it."""
        reqs = [r for r in (await self.admin("GET", "/requests"))["requests"] if r[0] >= since]
        out = []
        limited = [(t, float(ra)) for t, _m, _p, st, ra in reqs if st in (429, 418) and ra]
        if not limited:
            return ["the venue never answered a 429 / 418"]
        for t, ra in limited:
            early = [r for r in reqs if t + 0.05 < r[0] < t + ra - 0.1]
            if early:
                out.append(f"{len(early)} requests sent within the venue's Retry-After of {ra:g}s: {early[:3]}")
        if not any(r[3] < 400 for r in reqs if r[0] > limited[-1][0]):
            out.append("no request succeeded after the rate-limit answers")
        return out

    # ------------------------------------------------------------------ one case
    async def run_case(self, case: FaultCase) -> CaseResult:
        t0 = time.monotonic()
        t0_wall = time.time()
        tgt = self.target()
        slow = asyncio.ensure_future(self._slow_consumer()) if case.expect & Expect.CONSUMER_DROPS else None
        before = self.counters()
        n_viol = len(self.violations)
        self.breaker_log.clear()
        self.classified.clear()
        self.venue_state_log.clear()
        for log_ in self.state_log.values():
            log_.clear()
        for ct in self.case_trades.values():
            ct.clear()
        observed: dict[str, Any] = {}
        out: list[str] = []
        n_placed, n_not_sent = len(self.placed), self.not_sent
        if case.orders and case.fault_first:
            await self.fault(case.inject(tgt))
            await self.trade_round()
        else:
            if case.orders:
                await self.trade_round(2)
            await self.fault(case.inject(tgt))
            if case.orders:
                await self.trade_round()
        t_fault = time.monotonic()
        hold_s = case.hold_s if case.fixed_hold else case.hold_s * self.time_scale
        live_within_s = case.live_within_s * self.time_scale
        if not case.hold_s and not case.orders:
            await self._until_taken()
        if case.hold_s:
            await asyncio.sleep(hold_s)
            if case.expect & Expect.UNAVAILABLE and self.rt.orders is not None:
                await self.trade_round(2)           # sent into the outage: the policy decides
        t_clear = time.monotonic()
        if case.clear is not None:
            await self.fault(case.clear(tgt))
            t_clear = time.monotonic()
            if case.expect & Expect.UNAVAILABLE:
                # back within seconds of the venue: not a reconnect backoff grown during the outage
                while not self.rt.availability.available and time.monotonic() - t_clear < RECOVER_S:
                    await asyncio.sleep(0.05)
                observed["available_again_s"] = round(time.monotonic() - t_clear, 2)
        if case.expect & Expect.TRADES_AGAIN:
            refused = [o for o in self.placed[n_placed:] if o.state == OrderState.REJECTED]
            if not refused and self.not_sent == n_not_sent:
                out.append("no order was refused: the fault never reached the order path")
            await asyncio.sleep(1.5)
            sent = len(self.placed)
            await self.trade_round(2)
            if not any(o.state != OrderState.REJECTED for o in self.placed[sent:]):
                out.append(f"the engine did not trade again after the rate block ({self.not_sent} refused)")
        if case.expect & Expect.RATE_BLOCK:       # the engine trades again once the venue's hint has passed
            await asyncio.sleep(2.5)
            sent = len(self.placed)
            await self.trade_round(2)
            if len(self.placed) == sent:
                out.append(f"no order was sent after the venue's retry hint had passed ({self.not_sent} refused)")
        await asyncio.sleep(0.5)
        if slow is not None:
            slow.cancel()
        out += await self.check_books()
        out += await self.check_trades()
        if case.orders or self.placed:
            await self.finish_orders()
            out += await self.check_ledger()
        after = self.counters()
        d = {k: after[k] - before[k] for k in after}
        observed["delta"] = d
        observed["states"] = {s: [st.name for _, st in lg] for s, lg in self.state_log.items()}
        observed["breakers"] = [(n, st.name) for _, n, st in self.breaker_log]
        observed["classified"] = sorted(f"{c}:{k.name}" for c, k in self.classified)
        for want in case.classified:
            if want not in self.classified:
                out.append(f"not classified as {want[0]}:{want[1].name}; seen {observed['classified']}")
        first = self.symbols[0]
        left_live = any(st != BookState.LIVE for _, st in self.state_log[first])
        others_left = any(st != BookState.LIVE for s in self.symbols[1:] for _, st in self.state_log[s])
        e = case.expect
        if e & Expect.NOT_LIVE and not left_live:
            out.append("the book stayed LIVE through the fault")
        if e & Expect.NOT_LIVE and case.live_within_s:
            for s in (self.symbols if case.all_books else [first]):
                left = [t for t, st in self.state_log[s] if st != BookState.LIVE and t >= t_fault - 0.05]
                if not left or left[0] > min(t_fault + live_within_s, t_clear):
                    when = f"after {left[0] - t_fault:.2f}s" if left else "never"
                    out.append(f"{s}: the book left LIVE {when}; the fault must take it out of LIVE within "
                               f"{live_within_s:g}s (time scale {self.time_scale:g}), while it lasts")
        if e & Expect.RESYNC and d["resyncs_first"] < 1:
            out.append("no resync was counted")
        if e & Expect.RECONNECT and d["reconnects"] < 1:
            out.append("no reconnect was counted")
        if e & Expect.REPLACED:
            seamless = all(sess.seamless_rotation for sess in self.rt.sessions)
            if seamless and (d["notice_rotations"] < 1 or left_live or d["resyncs"]):
                out.append(f"no make-before-break rotation with books LIVE: rotations {d['notice_rotations']}, "
                           f"states {observed['states']}, resyncs {d['resyncs']}")
            if not seamless and d["reconnects"] < 1:
                out.append("no reconnect was counted")
        if e & Expect.DECODE_DROP and d["decode_drops"] < 1:
            out.append("no bad frame was counted")
        if e & Expect.DUP_DROP and d["dup_trades"] < 1:
            out.append("no duplicate trade was counted")
        if e & Expect.STAYS_LIVE and (left_live or d["resyncs"]):
            out.append(f"a harmless fault disturbed the book: states {observed['states']}, resyncs {d['resyncs']}")
        if e & Expect.OTHER_LIVE and (others_left or d["resyncs_others"]):
            out.append(f"another symbol's book was disturbed: {observed['states']}")
        if e & Expect.MD_BREAKER:
            opened = [n for _, n, st in self.breaker_log if st == CircuitState.OPEN]
            if "market_data" not in opened:
                out.append(f"the market-data breaker never opened: {observed['breakers']}")
            if "orders" in opened:
                out.append("the order breaker opened on market-data errors")
        if e & Expect.UNAVAILABLE:
            states = [ok for _, ok, _ in self.venue_state_log]
            if False not in states:
                out.append("the venue was never reported unavailable")
            elif not self.rt.availability.available:
                out.append(f"the venue was not reported available again within {RECOVER_S:g} s of the fault's end")
        if e & Expect.RATE_BLOCK:
            out += await self._check_retry_hints(t0_wall)
        if e & Expect.CONSUMER_DROPS and d["stream_drops"] < 1:
            out.append("the slow consumer lost nothing: its queue bound was never reached")
        if d["strategy_errors"]:
            out.append(f"{d['strategy_errors']} strategy callbacks raised")
        out += self.violations[n_viol:]
        out += await self.self_limited()
        return CaseResult(case.name, self.venue, not out, out, observed, time.monotonic() - t0)


def _far_price(inst, best_bid: Decimal) -> str:
    """A buy price well below the book (rests, never fills), on the tick grid."""
    p = inst.px(str(best_bid)) * 8 // 10
    return inst.px_str(p - p % inst.tick)
