# SPDX-License-Identifier: Apache-2.0
"""The engine: one VenueRuntime per configured venue, and the venue-agnostic strategy API.

    async with Engine(config) as eng:
        eng.subscribe_book("binance", "BTC/USDT", on_book)     # on_book(BookView), live books only
        eng.subscribe_trades("binance", "BTC/USDT", on_trade)  # on_trade(Trade)
        await eng.start()
        order = await eng.place(OrderRequest(VenueId.binance, "BTC/USDT", Side.BUY, OrderType.LIMIT, "0.001", "25000"))
        await eng.cancel("binance", order.client_order_id)
"""
from __future__ import annotations

import asyncio
import logging
import random
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Callable

from venuelink import registry
from venuelink.adapter import Channel, VenueAdapter
from venuelink.availability import Availability
from venuelink.backfill import TradeBackfill
from venuelink.budget import VenueBudget
from venuelink.config import Config, Credentials, UnavailablePolicy, VenueConfig
from venuelink.deadman import DeadMansSwitch
from venuelink.derivatives import DerivEvent
from venuelink.open_interest import OpenInterestPoll
from venuelink.errors import AuthError, BookNotLive, CircuitOpen, ConfigError, EngineError, VenueError
from venuelink.model import (Balance, BookState, ConnState, Fill, Instrument, Order, OrderRequest, OrderUpdate, Position,
                          TopOfBook, Trade, VenueHealth, VenueId)
from venuelink.orders import OrderManager
from venuelink.pacing import ConnectPacer
from venuelink.rest import RestClient
from venuelink.session import WsSession
from venuelink.silence import SilenceWatch
from venuelink.status import StatusWatch
from venuelink.tasks import bounded, cancel_all
from venuelink.venue import ResyncMethod, SnapshotSource, WsEndpoint
from venuelink.ext.clock import now_ns
from venuelink.ext.feed import Control, FeedSymbol, FrameParser
from venuelink.ext.histogram import Histogram
from venuelink.ext.view import BookHandle
from venuelink.ext.ratelimit import Priority

log = logging.getLogger("venuelink.engine")
MAX_INSTRUMENT_PAGES = 50
"""pages of one instruments request at the most (a venue that keeps paging is refused, not followed forever)"""


class BookView(BookHandle):
    """What a strategy sees of a book: a handle on the live C book, made once per symbol and
    handed to every book callback (no object is built per message).

    It is not a copy: every read is the book as it is when read. Inside a book callback that is
    the LIVE book just updated; a view kept and read later shows whatever the book has become
    since, and `state` says what that is now (SYNCING, LIVE, STALE, INVALID: a book that is no
    longer LIVE is never presented as live). A strategy that keeps a book keeps `snapshot()`.

    `venue`, `instrument`, `symbol`, `state`, `seq`; `best_bid()` / `best_ask()` -> (price, size)
    mantissas or None; `best_bid_px()` / `best_ask_px()` -> the price mantissa alone or None (the
    cheapest read); `top(n)` -> (bids, asks) lists of (price, size) exact decimal strings, best
    first; `is_live`."""
    __slots__ = ()

    @property
    def state(self) -> BookState:
        return BookState(self.fs.sync.state)

    def snapshot(self, depth: int | None = None) -> "BookSnapshot":
        """A frozen copy of the book now (up to `depth` levels a side; None: all of them), with
        its state at this moment, for a strategy that keeps it past the callback."""
        book = self.fs.book
        n_bids, n_asks = book.depth(1), book.depth(2)
        if depth is not None:
            n_bids, n_asks = min(depth, n_bids), min(depth, n_asks)
        return BookSnapshot(self.venue, self.instrument, BookState(self.fs.sync.state), book.seq,
                            tuple(book.top(1, n_bids)), tuple(book.top(2, n_asks)),
                            book.ts_exchange_ns, book.ts_recv_ns)


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """A frozen copy of a book (BookView.snapshot()): the same reads as the view, of the book as
    it was when copied; `state` is its state then. Levels are (price, size) mantissas, best first."""
    venue: VenueId
    instrument: Instrument
    state: BookState
    seq: int
    bids: tuple[tuple[int, int], ...]
    asks: tuple[tuple[int, int], ...]
    ts_exchange_ns: int = 0
    ts_recv_ns: int = 0

    @property
    def symbol(self) -> str:
        return self.instrument.symbol

    @property
    def is_live(self) -> bool:
        return self.state == BookState.LIVE

    def best_bid(self) -> tuple[int, int] | None:
        return self.bids[0] if self.bids else None

    def best_ask(self) -> tuple[int, int] | None:
        return self.asks[0] if self.asks else None

    def best_bid_px(self) -> int | None:
        return self.bids[0][0] if self.bids else None

    def best_ask_px(self) -> int | None:
        return self.asks[0][0] if self.asks else None

    def top(self, n: int = 5) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        i = self.instrument
        return ([(i.px_str(p), i.qty_str(q)) for p, q in self.bids[:max(n, 0)]],
                [(i.px_str(p), i.qty_str(q)) for p, q in self.asks[:max(n, 0)]])


def _unified_hint(rt: "VenueRuntime", symbol: str) -> str:
    """" (the venue's name for X/Y)" when `symbol` is a venue symbol or a case variant of a known
    unified one; "" otherwise."""
    try:
        inst = rt.adapter.instrument(symbol)
    except KeyError:
        inst = None
    if inst is not None and inst.symbol != symbol:
        return f" (the venue's name for {inst.symbol})"
    same = [s for s in (rt.adapter.instruments or dict.fromkeys(rt.config.symbols)) if s.upper() == symbol.upper()]
    return f" (did you mean {same[0]}?)" if same and same[0] != symbol else ""


#: start() failures that say the configuration is wrong: never retried
_START_FATAL = (ConfigError, AuthError)
#: start() failures a venue recovers from (unreachable, no answer, 5xx, rate refusal, open breaker)
_START_TRANSIENT = (VenueError, CircuitOpen, OSError, asyncio.TimeoutError)


class VenueRuntime:
    """Everything for one venue account: budget, REST, market-data sessions, books, orders."""

    def __init__(self, engine: "Engine", adapter: VenueAdapter, config: VenueConfig) -> None:
        self.engine, self.adapter, self.config = engine, adapter, config
        self.venue = adapter.venue
        self.budget = VenueBudget(adapter.spec, state_dir=engine.config.state_dir or None,
                                  window_edge_s=config.rate_window_edge_ms / 1000)
        self.order_latency: dict[str, Histogram] = defaultdict(Histogram)
        self.timers = config.timers
        """the engine's own detection and recovery timers (the real ones, or compressed for tests)"""
        self.rest = RestClient(self.venue.name, config.rest_url, self.budget, map_error=adapter.map_error,
                               classify=adapter.classify_response, timeout_s=config.request_timeout_s,
                               on_latency=self._latency, max_signed_inflight=adapter.spec.max_signed_inflight,
                               md_cooldown_s=self.timers.md_breaker_cooldown_s,
                               md_max_cooldown_s=self.timers.md_breaker_max_cooldown_s)
        self.parsers: list[FrameParser] = []
        self.sessions: list[WsSession] = []
        self.last_trade: dict[str, Trade] = {}
        self.trade_counts: dict[str, int] = {}
        self.book_subs: dict[str, list[Callable]] = defaultdict(list)
        self.book_views: dict[str, BookView] = {}
        """each streamed symbol's view of its book, made with its FeedSymbol: the one handed to
        every book callback and returned by Engine.book()"""
        self.trade_subs: dict[str, list[Callable]] = defaultdict(list)
        self.top_subs: dict[str, list[Callable]] = defaultdict(list)
        self.deriv_subs: dict[str, list[Callable]] = defaultdict(list)
        self.state_subs: dict[str, list[Callable]] = defaultdict(list)
        self._snapshot_tasks: dict[str, asyncio.Task] = {}
        self._instruments_loaded = self._status_started = self._md_started = self._exec_started = False
        self.started = False
        """start() completed (Engine.start with retry_unreachable may still be trying)"""
        self.start_error = ""
        """why the last start attempt failed (shown by the live view while it is retried)"""
        self._watchdogs: dict[str, asyncio.Task] = {}       # in-band: first snapshot after a subscribe
        self._quiet_timers: dict[str, asyncio.TimerHandle] = {}   # REST: a snapshot for a book still quiet
        self.snapshot_requests = 0
        self.resubscribe_requests = 0
        self.strategy_errors = 0
        self.book_topics: dict[str, tuple[WsSession, str]] = {}      # symbol -> (session, book topic)
        self.top_topics: dict[str, tuple[WsSession, str]] = {}
        self.deriv_topics: dict[str, tuple[WsSession, list[str]]] = {}
        self.trade_sessions: dict[str, WsSession] = {}               # symbol -> the connection of its trades
        self.channel_sessions: dict[tuple[str, str], WsSession] = {}  # (symbol, endpoint) -> its connection there
        self.fs_by_symbol: dict[str, FeedSymbol] = {}
        self.parser_of: dict[str, FrameParser] = {}                   # symbol -> the parser of its book
        self.orders: OrderManager | None = None
        self.execution = None
        self.order_subs: list[Callable[[Order], None]] = []
        self.fill_subs: list[Callable[[Order, Fill], None]] = []
        self.position_subs: list[Callable[[Position], None]] = []
        self._prune_task: asyncio.Task | None = None
        self._audit_task: asyncio.Task | None = None
        spec = self.adapter.spec
        self.connect_pacer = ConnectPacer(spec.max_connects, spec.connect_window_s)
        """every WebSocket this venue account opens takes a slot: the venue's per-IP connection cap"""
        self.dead_man: DeadMansSwitch | None = None
        self.availability: Availability | None = None
        self.venue_state_subs: list[Callable[[str, bool, str], None]] = []
        self.backfill = TradeBackfill(self)
        self.status = StatusWatch(self, interval_s=config.status_poll_s or 30.0)
        self.silence = SilenceWatch(self, tick_s=self.timers.silence_tick_s, grace_s=self.timers.silence_grace_s)
        """books judged by their own data: silent ones probed, STALE or resynced"""
        self.open_interest = OpenInterestPoll(self, interval_s=config.open_interest_poll_s)
        """open interest a venue publishes only over REST, polled for symbols with derivatives
        subscribers every ``open_interest_poll_s`` of the venue's config"""

    def _latency(self, stage: str, ns: int) -> None:
        self.order_latency[stage].record(max(0, ns))

    def latency_histograms(self):
        for p in self.parsers:
            yield "recv_to_decoded", p.recv_to_decoded
            yield "decoded_to_applied", p.decoded_to_applied
        yield from list(self.order_latency.items())

    def feed_symbols(self) -> list[FeedSymbol]:
        """Every followed symbol once (a symbol whose channels a venue serves on several endpoints
        is known to each of their parsers)."""
        seen: dict[int, FeedSymbol] = {}
        for p in self.parsers:
            for fs in p.symbols():
                seen.setdefault(id(fs), fs)
        return list(seen.values())

    def ws_health(self) -> VenueHealth:
        """The worst market-data connection; a connection whose checksum validation had to be
        switched off is DEGRADED (its data can no longer be verified); an adapter whose sessions
        reach a local process (the CCXT tier's worker) adds the venue's side (`feed_health`)."""
        hs = [s.breaker.health for s in self.sessions] or [VenueHealth.UP]
        if any(p.checksum_off for p in self.parsers):
            hs.append(VenueHealth.DEGRADED)
        feed = getattr(self.adapter, "feed_health", None)      # what an adapter sees behind its sessions
        if feed is not None:
            hs.append(feed())
        return max(hs)

    # ---- start -----------------------------------------------------------------------------
    async def start(self, market_data: bool, execution: bool) -> None:
        """Instruments, status poll, market data, order entry; after a failure, called again, it
        goes on from the step that failed (a step done is not done twice)."""
        if not self._instruments_loaded:
            await self.load_instruments()
            self._instruments_loaded = True
        if self.config.status_poll_s > 0 and not self._status_started:
            self.status.start()
            self._status_started = True
        if market_data and not self._md_started:
            if not self.config.symbols:
                raise ConfigError(f"[venues.{self.venue.name}] needs symbols = [\"BTC/USDT\", ...] for market data")
            unknown = [s for s in self.config.symbols if s not in self.adapter.instruments]
            if unknown:
                raise ConfigError(f"{self.venue.name}: unknown symbols {unknown} (unified notation, e.g. BTC/USDT)")
            self.start_market_data(self.config.symbols)
            self.open_interest.start()      # a venue without an open-interest request is not polled
            self._md_started = True
        if execution and not self._exec_started:
            creds = self.config.credentials()
            if creds is not None:
                await self.start_execution(creds)
            self._exec_started = True
        self.started = True

    async def load_instruments(self) -> None:
        from urllib.parse import urlencode
        await self.adapter.prepare(self)
        insts = []
        for path, params in self.adapter.instrument_requests():
            for _ in range(MAX_INSTRUMENT_PAGES):
                w, prio = self.adapter.rest_cost("GET", path, params)
                r = await self.rest.request("GET", path, query=urlencode(params), weights=w, priority=prio)
                insts += self.adapter.parse_instruments(r.body)
                params = self.adapter.next_instruments_page(params, r.body)
                if params is None:
                    break
            else:
                raise EngineError(f"{self.venue.name}: {path} still paging after {MAX_INSTRUMENT_PAGES} pages")
        self.adapter.set_instruments(insts)

    def start_market_data(self, symbols: list[str]) -> None:
        """Each instrument's topics grouped by the WebSocket endpoint serving their channel (spot,
        linear, ...; a venue may serve a book and its trades on different endpoints), then split
        over connections by the endpoint's topic cap. Top-of-book topics only for symbols a
        strategy asked for (subscribe_top)."""
        spec = self.adapter.spec
        if spec.md_auth:
            self.adapter.md_credentials()       # refused now, with the reason, rather than on every subscribe
        by_ep: dict[str, dict[str, tuple[FeedSymbol, list[tuple[Channel, str]]]]] = defaultdict(dict)
        for s in symbols:
            inst = self.adapter.instrument(s)
            chans = self._channels_for(inst.symbol)
            topics = list(zip(chans, self.adapter.topics(inst, chans)))
            if self.deriv_subs.get(inst.symbol):
                self.check_derivatives(inst.symbol)
                topics += [(Channel.DERIVATIVES, t) for t in self.adapter.derivative_topics(inst)]
            fs = self._new_feed_symbol(inst)
            for chan, topic in topics:
                ep_name = self.adapter.channel_endpoint(inst, chan)
                by_ep[ep_name].setdefault(inst.symbol, (fs, []))[1].append((chan, topic))
        for ep_name, entries in by_ep.items():
            ep = spec.endpoint(ep_name)
            cap = ep.max_topics_per_connection - len(self.adapter.connection_topics(ep))
            group: list[tuple[FeedSymbol, list[tuple[Channel, str]]]] = []
            n_topics = 0
            for fs, topics in entries.values():
                if group and n_topics + len(topics) > cap:
                    self._open_connection(ep, group)
                    group, n_topics = [], 0
                group.append((fs, topics))
                n_topics += len(topics)
            if group:
                self._open_connection(ep, group)
        self.silence.start()

    def _new_feed_symbol(self, inst: Instrument) -> FeedSymbol:
        fs = self.adapter.feed_symbol(inst, self)
        timed = self.timers.endpoint(self.adapter.spec.endpoint(self.adapter.endpoint_for(inst)))
        fs.max_lag_ns = int(timed.max_data_lag_s * 1e9)
        # applied books reach Python only for a symbol someone subscribed to (subscribe_book turns
        # it on later); trades always do: the backfill, the last-trade view and the metrics read them
        fs.want_book = bool(self.book_subs.get(inst.symbol))
        fs.want_trades = True
        self.fs_by_symbol[inst.symbol] = fs
        self.book_views[inst.symbol] = BookView(self.venue, inst, fs)
        return fs

    def _channels_for(self, symbol: str) -> tuple[Channel, ...]:
        return (Channel.BOOK, Channel.TRADES) + ((Channel.TOP,) if self.top_subs.get(symbol) else ())

    def _open_connection(self, ep: WsEndpoint, group: list) -> None:
        parser = self.adapter.make_parser(self)
        topics: list[str] = []
        name = f"{self.venue.name}-{ep.name}{len(self.sessions)}"
        t = self.timers
        timed = t.endpoint(ep)        # the session judges by the engine's timers; the adapter knows the spec's `ep`
        s = WsSession(name, "", parser, endpoint=timed, stale_after_s=timed.stale_after_s,
                      connect_pacer=self.connect_pacer,
                      max_age_s=ep.max_connection_age_s * 0.98, seamless_rotation=ep.seamless_rotation,
                      backoff_min_s=t.reconnect_min_s, backoff_max_s=t.reconnect_max_s,
                      planned_reconnect_max_s=t.planned_reconnect_max_s, backoff_reset_s=t.backoff_reset_s,
                      subscribe_frames=self.adapter.subscribe_frames,
                      unsubscribe_frames=self.adapter.unsubscribe_frames,
                      on_connected=self._on_session_connected, on_control=self._on_control,
                      connect_hook=lambda: self.adapter.connect_info(ep, s.url, self.rest))
        books: set[int] = set()
        for fs, chan_topics in group:
            sym = fs.instrument.symbol
            fs.want_top = fs.want_top or any(c == Channel.TOP for c, _ in chan_topics)
            fs.want_derivs = fs.want_derivs or any(c == Channel.DERIVATIVES for c, _ in chan_topics)
            parser.add_symbol(fs)
            self.channel_sessions[(sym, ep.name)] = s
            for chan, topic in chan_topics:
                if topic not in topics:      # a topic several instruments share is sent once
                    topics.append(topic)
                if chan == Channel.BOOK:
                    self.book_topics[sym] = (s, topic)
                    self.parser_of[sym] = parser
                    books.add(id(fs))
                elif chan == Channel.TRADES:
                    self.trade_sessions[sym] = s
                elif chan == Channel.TOP:
                    self.top_topics[sym] = (s, topic)
                elif chan == Channel.DERIVATIVES:
                    self.deriv_topics.setdefault(sym, (s, []))[1].append(topic)
        # the books this connection keeps: only those go stale when it drops
        s.book_ids = books
        for t in self.adapter.connection_topics(ep):
            if t not in topics:
                topics.append(t)
        s.topics = topics
        s.url = self.adapter.ws_url(ep, topics)
        self.parsers.append(parser)
        self.sessions.append(s)
        s.start()

    def _session_for(self, fs: FeedSymbol, chan: Channel, topics: list[str]) -> WsSession:
        """The connection that carries `fs`'s channel `chan` (its endpoint's connection of the
        symbol, or a new one there), `topics` subscribed on it."""
        inst = fs.instrument
        ep = self.adapter.spec.endpoint(self.adapter.channel_endpoint(inst, chan))
        session = self.channel_sessions.get((inst.symbol, ep.name))
        if session is None:
            self._open_connection(ep, [(fs, [(chan, t) for t in topics])])
            return self.channel_sessions[(inst.symbol, ep.name)]
        session.parser.add_symbol(fs)
        session.subscribe(topics)
        return session

    def add_top(self, symbol: str) -> None:
        """Start the best-bid/offer channel of a symbol already streaming (subscribe_top after start)."""
        if symbol in self.top_topics or symbol not in self.fs_by_symbol:
            return
        fs = self.fs_by_symbol[symbol]
        topic = self.adapter.topics(fs.instrument, (Channel.TOP,))[0]
        fs.want_top = True
        self.top_topics[symbol] = (self._session_for(fs, Channel.TOP, [topic]), topic)

    def check_derivatives(self, symbol: str) -> None:
        if not self.adapter.derivative_topics(self.adapter.instrument(symbol)):
            raise EngineError(f"{self.venue.name} publishes no derivatives data for {symbol}")

    def add_derivatives(self, symbol: str) -> None:
        """Start the derivatives topics of a symbol already streaming (subscribe_derivatives after start)."""
        if symbol in self.deriv_topics or symbol not in self.fs_by_symbol:
            return
        fs = self.fs_by_symbol[symbol]
        topics = self.adapter.derivative_topics(fs.instrument)
        fs.want_derivs = True
        self.deriv_topics[symbol] = (self._session_for(fs, Channel.DERIVATIVES, topics), topics)

    def _on_control(self, session: WsSession, kind: Control, topic: object, req_id: int, raw: bytes) -> None:
        if kind == Control.CTRL_STATUS:
            log.warning("%s: venue status notice: %s", self.venue.name, raw[:300])

    def _on_session_connected(self, session: WsSession) -> None:
        # every book on a new connection starts over: a snapshot each (REST: buffered deltas and
        # one jittered request each; in-band: the subscribe brings it, a watchdog checks it came)
        in_band = self.adapter.spec.book.snapshot == SnapshotSource.IN_BAND
        for fs in session.parser.symbols():
            sym = fs.instrument.symbol
            if self.trade_sessions.get(sym) is session:
                last_id = self.backfill.last_ids.get(sym, fs.last_trade_id)
                fs.reset_trade_ids()            # a restarted venue counts its trade ids again
                if fs.want_trades:
                    self.backfill.start(fs, last_id)    # what happened while the connection was down
            if self.book_topics.get(sym, (None,))[0] is not session:
                continue                        # its book is kept on another connection
            for tasks in (self._snapshot_tasks, self._watchdogs):
                task = tasks.pop(sym, None)
                if task is not None:
                    task.cancel()
            fs.sync.reset()
            if in_band:
                self._watchdogs[sym] = asyncio.get_running_loop().create_task(
                    self._await_in_band(sym, resubscribe_first=False))
            else:
                old = self._quiet_timers.pop(sym, None)
                if old is not None:
                    old.cancel()
                self._quiet_timers[sym] = asyncio.get_running_loop().call_later(
                    self.timers.quiet_snapshot_s, self._snapshot_if_quiet, fs, session, session.gen)

    def _snapshot_if_quiet(self, fs, session: WsSession, gen: int) -> None:
        """A REST-snapshot book whose stream sent nothing since its connection opened (a quiet
        market): its snapshot is fetched now rather than at its first update, which may be a
        minute away (OKX's keep-alive) or longer. A book that heard an update already has one."""
        self._quiet_timers.pop(fs.instrument.symbol, None)
        if session.gen == gen and session.state == ConnState.CONNECTED and not fs.sync.is_live and \
                self.fs_by_symbol.get(fs.instrument.symbol) is fs:
            self.on_need_snapshot(fs.sync, "initial sync (no update yet)")

    @property
    def has_private_stream(self) -> bool:
        """Orders and fills are pushed: a configured private stream (ws_api_url), or an execution
        client with its own (the CCXT tier's worker)."""
        return bool(self.config.ws_api_url) or bool(getattr(self.execution, "private_stream", False))

    async def start_execution(self, creds: Credentials) -> None:
        if self.config.demo and not self.adapter.demo_by_flag:
            raise ConfigError(f"[venues.{self.venue.name}] demo = true: {self.venue.name} has no demo flag; its "
                              f"test network is other URLs: set rest_url, ws_url and ws_api_url to them "
                              f"(deploy/testnet.toml)")
        self.execution = self.adapter.make_execution(self.rest, creds, self.config)
        self.orders = OrderManager(self.execution, on_update=self._on_order, on_fill=self._on_fill,
                                   on_latency=self._latency, pushed=self.has_private_stream)
        self.execution.on_update = self.orders.on_venue_update
        self.execution.on_position = self._on_position      # where the venue pushes positions
        try:
            await self.execution.sync_time()
        except Exception as e:
            log.warning("%s: time sync failed: %s", self.venue.name, e)
        if self.has_private_stream:
            if hasattr(self.execution, "connect_pacer"):
                self.execution.connect_pacer = self.connect_pacer
            self.execution.start(self.config.ws_api_url, lambda: asyncio.ensure_future(self._reconcile()))
        self._prune_task = asyncio.ensure_future(self._prune_loop())
        if self.config.order_audit_s > 0:
            self._audit_task = asyncio.ensure_future(self._audit_loop(self.config.order_audit_s))
        if self.config.dead_man_s:
            self.dead_man = DeadMansSwitch(self.execution, self.config.dead_man_s, name=self.venue.name)
            await self.dead_man.start()
        self.availability = Availability(self, UnavailablePolicy.parse(self.config.unavailable_policy),
                                         hold_timeout_s=self.config.hold_timeout_s)
        self.availability.subs.extend(self.venue_state_subs)
        self.availability.start()

    async def _prune_loop(self) -> None:
        """Final orders are forgotten after order_retention_s: the table of a 24/7 process stays bounded."""
        period = max(1.0, min(60.0, self.config.order_retention_s / 4))
        while True:
            await asyncio.sleep(period)
            self.orders.prune(self.config.order_retention_s)

    async def _audit_loop(self, quiet_s: float) -> None:
        """Orders quiet for quiet_s are checked with the venue (OrderManager.audit), at most one
        open-orders request per period; while the private stream is down the reconnect's full
        reconcile covers them instead."""
        while True:
            await asyncio.sleep(max(1.0, quiet_s / 2))
            if self.execution is None or (self.has_private_stream and not self.execution.stream_connected):
                continue
            try:
                await self.orders.audit(quiet_s)
            except Exception as e:
                log.info("%s: order audit failed (%s); next period", self.venue.name, e)

    async def _reconcile(self) -> None:
        try:
            await self.orders.reconcile()
        except Exception as e:
            log.warning("%s: reconcile failed: %s", self.venue.name, e)

    def _on_order(self, order: Order) -> None:
        for cb in self.order_subs:
            cb(order)

    def _on_fill(self, order: Order, fill: Fill) -> None:
        for cb in self.fill_subs:
            cb(order, fill)

    def _on_position(self, pos: Position) -> None:
        self._deliver(self.position_subs, pos)

    async def cancel_open_orders(self, timeout_s: float = 8.0) -> list[str]:
        """Cancel every order of this venue account that may be open, and check with the venue
        (its open-orders listing) that none is left, within ``timeout_s``: the private socket
        first where the venue cancels on it and it is up, then the venue's REST cancels (its
        cancel-all per symbol where it has one: on Binance that takes every open order of the
        symbol, this session's or not). Returns the client ids of the orders possibly still open
        (the venue could not confirm them closed); empty when execution is off or nothing was
        open. Call before close()."""
        if self.orders is None:
            return []
        left = await self.orders.cancel_open(timeout_s)
        if left:
            log.error("%s: %d order(s) possibly still open at the venue after the shutdown cancels: %s",
                      self.venue.name, len(left), ", ".join(left))
        return left

    async def close(self) -> None:
        """Every step bounded (venuelink.tasks): a stuck task or socket is cancelled, then abandoned
        with a logged warning; close() never waits forever."""
        for h in self._quiet_timers.values():
            h.cancel()
        self._quiet_timers.clear()
        await cancel_all(list(self._snapshot_tasks.values()) + list(self._watchdogs.values())
                         + [t for t in (self._prune_task, self._audit_task) if t is not None])
        await bounded(self.backfill.close(), f"{self.venue.name}: trade backfill")
        await bounded(self.status.close(), f"{self.venue.name}: status watch")
        await bounded(self.open_interest.close(), f"{self.venue.name}: open interest poll")
        await bounded(self.silence.close(), f"{self.venue.name}: data silence watch")
        if self.availability is not None:
            await bounded(self.availability.close(), f"{self.venue.name}: availability")
        await asyncio.gather(*(bounded(s.close(), f"{s.name}: session") for s in self.sessions))
        if self.dead_man is not None:
            await bounded(self.dead_man.close(), f"{self.venue.name}: dead man's switch")
        if self.orders is not None:
            await bounded(self.orders.close(), f"{self.venue.name}: order manager")
        if self.execution is not None:
            await bounded(self.execution.close(), f"{self.venue.name}: execution")
        await self.rest.close()
        await bounded(self.adapter.close(), f"{self.venue.name}: adapter")

    # ---- book sync listener (called from C inside the parser: schedule, never block) ----------
    def on_need_snapshot(self, sync, reason: str) -> None:
        """A book needs a snapshot: by the venue's declared resync method, one task per symbol."""
        sym = sync.key.symbol
        w = self._watchdogs.pop(sym, None)
        if w is not None and not w.done():
            w.cancel()                      # waiting for a first snapshot: resync now instead
        t = self._snapshot_tasks.get(sym)
        if t is not None and not t.done():
            return
        if reason != "initial sync":
            log.info("%s %s: resync: %s", self.venue.name, sym, reason)
        book = self.adapter.spec.book
        loop = asyncio.get_running_loop()
        if book.resync == ResyncMethod.REST_SNAPSHOT:
            self._snapshot_tasks[sym] = loop.create_task(self._fetch_snapshot(sym))
        elif book.resync == ResyncMethod.RESUBSCRIBE:
            self._snapshot_tasks[sym] = loop.create_task(self._await_in_band(sym, resubscribe_first=True))
        else:
            entry = self.book_topics.get(sym)
            if entry is not None:
                entry[0].force_reconnect(f"resync {sym}: {reason}")

    async def _await_in_band(self, symbol: str, *, resubscribe_first: bool) -> None:
        """In-band snapshots: resubscribe the book's topic (the resync) and wait for its snapshot.
        Again with backoff while none comes (a refused or unanswered subscribe, a lost snapshot),
        and again soon when the new snapshot itself fails (a gap or checksum right after it).
        Resubscribes spend the connection's subscribe budget, which the session paces."""
        timeout = self.adapter.spec.book.snapshot_timeout_s
        again = 0.25
        loop = asyncio.get_running_loop()
        first = True
        while True:
            fs = self.fs_by_symbol.get(symbol)
            entry = self.book_topics.get(symbol)
            if fs is None or entry is None:
                return
            if resubscribe_first or not first:
                self.resubscribe_requests += 1
                entry[0].resubscribe([entry[1]])
            first = False
            failed_before = fs.sync.n_resyncs
            deadline = loop.time() + timeout
            while loop.time() < deadline and fs.sync.n_resyncs == failed_before:
                await asyncio.sleep(0.05)
                if fs.sync.is_live:
                    return
            if fs.sync.n_resyncs != failed_before:
                await asyncio.sleep(again * random.uniform(0.5, 1.5))   # the new snapshot failed too
                again = min(again * 2, 5.0)
                continue
            log.warning("%s %s: no book snapshot %.0fs after subscribing; subscribing again",
                        self.venue.name, symbol, timeout)
            timeout = min(timeout * 2, 120.0)

    def on_state(self, sync, old: int, new: int) -> None:
        subs = self.state_subs.get(sync.key.symbol)
        if subs:
            st = BookState(new)
            for cb in subs:
                try:
                    cb(sync.key.symbol, st)
                except Exception as e:
                    self.strategy_failed(cb, e)

    def strategy_failed(self, cb, e: Exception) -> None:
        self.strategy_errors += 1
        if self.strategy_errors <= 10 or self.strategy_errors % 1000 == 0:
            log.error("%s: strategy callback %s raised (%d so far): %s: %s", self.venue.name,
                      getattr(cb, "__qualname__", cb), self.strategy_errors, type(e).__name__, e)

    def _deliver(self, subs: list, item) -> None:
        for cb in subs:
            try:
                cb(item)
            except Exception as e:
                self.strategy_failed(cb, e)

    async def _fetch_snapshot(self, symbol: str) -> None:
        """One snapshot per symbol at a time, jittered, through the budget at SNAPSHOT priority
        (never a whole-feed burst), retried with backoff: a book without its snapshot is not
        tradable, so the backoff is capped at seconds (Timers.snapshot_retry_max_s), never minutes."""
        self.snapshot_requests += 1
        delay = self.timers.snapshot_retry_s
        await asyncio.sleep(random.uniform(0.0, 0.25))
        while True:
            fs = self.fs_by_symbol.get(symbol)
            if fs is None or fs.sync.is_live:
                return
            path, params = self.adapter.snapshot_request(fs.instrument)
            w, _ = self.adapter.rest_cost("GET", path, params)
            query = "&".join(f"{k}={v}" for k, v in params.items())
            try:
                r = await self.rest.request("GET", path, query=query, weights=w, priority=Priority.SNAPSHOT,
                                            headers=self.adapter.md_headers("GET", path, query))
                if fs.sync.is_live:
                    return              # a snapshot the venue pushed got there first (OKX while it still does)
                self.adapter.apply_snapshot(self.parser_of[symbol], fs, r.body, now_ns())
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("%s %s: snapshot failed: %s: %s", self.venue.name, symbol, type(e).__name__, e)
                await asyncio.sleep(delay * random.uniform(0.5, 1.5))
                delay = min(delay * 2, self.timers.snapshot_retry_max_s)
                continue
            if not fs.sync.is_live:
                # older than the buffered stream, or a gap while replaying: this task is the one
                # in flight, so it fetches again itself (the sync's request found it running)
                self.snapshot_requests += 1
                await asyncio.sleep(random.uniform(0.05, 0.25))

    # ---- parser sink -------------------------------------------------------------------------
    def on_delta(self, fs, first, last, ts_exchange, ts_recv) -> None:
        pass

    def on_snapshot(self, fs, seq, ts_exchange, ts_recv) -> None:
        pass

    def on_book_applied(self, fs: FeedSymbol) -> None:
        sym = fs.instrument.symbol
        subs = self.book_subs.get(sym)
        if subs and fs.sync.is_live:
            view = self.book_views[sym]
            for cb in subs:
                try:
                    cb(view)
                except Exception as e:
                    self.strategy_failed(cb, e)

    def on_trade(self, trade: Trade) -> None:
        bf = self.backfill
        if bf.held and bf.hold(trade):
            return                          # after the trades missed while disconnected
        if bf.consecutive:
            last = bf.last_ids.get(trade.instrument.symbol)
            if last is not None and trade.trade_id_int > last + 1 and bf.gap(trade, last):
                return
        self.deliver_trade(trade)

    def on_derivative(self, ev: DerivEvent) -> None:
        subs = self.deriv_subs.get(ev.instrument.symbol)
        if subs:
            self._deliver(subs, ev)

    def deliver_trade(self, trade: Trade) -> None:
        sym = trade.instrument.symbol
        if self.backfill.consecutive:
            self.backfill.last_ids[sym] = trade.trade_id_int
        self.last_trade[sym] = trade
        self.trade_counts[sym] = self.trade_counts.get(sym, 0) + 1
        subs = self.trade_subs.get(sym)
        if subs:
            self._deliver(subs, trade)

    def on_top(self, fs, bid_px: int, bid_qty: int, ask_px: int, ask_qty: int, seq: int, ts_exchange: int,
               ts_recv: int) -> None:
        subs = self.top_subs.get(fs.instrument.symbol)
        if subs:
            top = TopOfBook(self.venue, fs.instrument, [(bid_px, bid_qty)] if bid_qty else [],
                            [(ask_px, ask_qty)] if ask_qty else [], ts_exchange, ts_recv, seq)
            self._deliver(subs, top)

    def on_decode_error(self, exc: BaseException, raw: bytes) -> None:
        n = sum(p.n_errors for p in self.parsers)
        if n <= 10 or n % 1000 == 0:                 # counted always, logged sparingly
            log.warning("%s: dropped frame (%d so far): %s: %s", self.venue.name, n, type(exc).__name__, exc)


class Engine:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.runtimes: dict[VenueId, VenueRuntime] = {}
        for name, vc in config.venues.items():
            adapter = registry.create(name, vc)
            self.runtimes[adapter.venue] = VenueRuntime(self, adapter, vc)
        self.metrics_server = None
        self.stream_drops = 0
        self._start_retries: dict[VenueId, asyncio.Task] = {}

    def runtime(self, venue: str | VenueId) -> VenueRuntime:
        """The venue's runtime (sessions, books, budget, order manager): for tools and tests;
        strategies use the calls below. EngineError for a venue not configured."""
        vid = venue if isinstance(venue, VenueId) else VenueId.parse(venue)
        rt = self.runtimes.get(vid)
        if rt is None:
            raise EngineError(f"venue {vid.name} is not configured")
        return rt

    def _streamed(self, venue: str | VenueId, symbol: str) -> VenueRuntime:
        """The venue's runtime, for a subscription to `symbol`: one of the venue's configured
        symbols, in unified notation. Anything else would never fire: refused here, saying which
        symbols the venue streams."""
        rt = self.runtime(venue)
        if symbol not in rt.config.symbols:
            hint = _unified_hint(rt, symbol)
            raise EngineError(f"{rt.venue.name}: {symbol!r} is not among its configured symbols "
                              f"{rt.config.symbols}{hint}: subscriptions take a configured symbol in unified "
                              f"notation (BTC/USDT, BTC/USDT:USDT)")
        return rt

    async def start(self, *, market_data: bool = True, execution: bool = True,
                    retry_unreachable: bool = False) -> None:
        """Start every configured venue: instruments, market data, order entry.

        A configuration the engine cannot run (unknown symbols, missing credentials for signed
        data, a refused key) raises ConfigError / AuthError. A venue that cannot be reached (no
        route, no answer, 5xx, rate refusal) raises too, unless `retry_unreachable`: then it is
        retried in the background with backoff (Engine.START_RETRY_MAX_S at most between tries,
        every failure logged with the URL and reason) while the other venues run; `started`
        tells which venues are up."""
        for rt in self.runtimes.values():
            try:
                await rt.start(market_data, execution)
            except _START_FATAL:
                raise
            except _START_TRANSIENT as e:
                if not retry_unreachable:
                    raise
                rt.start_error = str(e)
                log.warning("%s: cannot start: %s; retrying in the background, the other venues run meanwhile",
                            rt.venue.name, e)
                self._start_retries[rt.venue] = asyncio.ensure_future(self._retry_start(rt, market_data, execution))

    START_RETRY_MAX_S = 60.0

    async def _retry_start(self, rt: "VenueRuntime", market_data: bool, execution: bool) -> None:
        delay = 1.0
        while True:
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            try:
                await rt.start(market_data, execution)
            except _START_TRANSIENT as e:
                rt.start_error = str(e)
                delay = min(delay * 2, self.START_RETRY_MAX_S)
                log.warning("%s: cannot start: %s; next try in %.0f s", rt.venue.name, e, delay)
                continue
            except Exception as e:
                log.error("%s: cannot start: %s: %s; not retried (fix the configuration)", rt.venue.name,
                          type(e).__name__, e)
                return
            rt.start_error = ""
            log.warning("%s: started", rt.venue.name)
            return

    @property
    def started(self) -> list[str]:
        """Names of the venues whose start completed (market data and order entry as asked)."""
        return [rt.venue.name for rt in self.runtimes.values() if rt.started]

    def serve_metrics(self, host: str | None = None, port: int | None = None) -> int:
        """Serve Prometheus metrics (/metrics) on host:port (the config's by default; port 0: any
        free one); returns the port."""
        from venuelink.metrics import serve
        self.metrics_server, _ = serve(self, host or self.config.metrics_host,
                                       self.config.metrics_port if port is None else port)
        return self.metrics_server.server_port

    async def cancel_open_orders(self, timeout_s: float = 8.0) -> dict[str, list[str]]:
        """VenueRuntime.cancel_open_orders for every venue at once, all within ``timeout_s``:
        venue name -> client ids of the orders possibly still open there (venues with none
        left out)."""
        rts = list(self.runtimes.values())
        res = await asyncio.gather(*(rt.cancel_open_orders(timeout_s) for rt in rts), return_exceptions=True)
        out: dict[str, list[str]] = {}
        for rt, r in zip(rts, res):
            if isinstance(r, BaseException):       # a bug, not the venue: every open order is in doubt
                log.error("%s: shutdown cancels failed: %s: %s", rt.venue.name, type(r).__name__, r)
                r = sorted(o.client_order_id for o in rt.orders.open_orders()) if rt.orders is not None else []
            if r:
                out[rt.venue.name] = r
        return out

    async def close(self) -> None:
        """Stop every venue: sockets, tasks, the CCXT workers, the metrics server. Bounded in
        time; open orders are left as they are (cancel_all / cancel_open_orders first to close them)."""
        await cancel_all(list(self._start_retries.values()))
        for rt in self.runtimes.values():
            await rt.close()
        if self.metrics_server is not None:
            self.metrics_server.shutdown()
            self.metrics_server.server_close()

    async def __aenter__(self) -> "Engine":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    # ---- strategy API -------------------------------------------------------------------------
    def subscribe_book(self, venue: str, symbol: str, callback: Callable[[BookView], None]) -> None:
        """callback(BookView) after every update applied to a LIVE book of `symbol` (one of the
        venue's configured symbols, unified notation; EngineError otherwise)."""
        rt = self._streamed(venue, symbol)
        rt.book_subs[symbol].append(callback)
        fs = rt.fs_by_symbol.get(symbol)
        if fs is not None:
            fs.want_book = True

    def subscribe_trades(self, venue: str, symbol: str, callback: Callable[[Trade], None]) -> None:
        """callback(Trade) for every public trade of `symbol` (configured, unified notation)."""
        self._streamed(venue, symbol).trade_subs[symbol].append(callback)

    def subscribe_top(self, venue: str, symbol: str, callback: Callable[[TopOfBook], None]) -> None:
        """callback(TopOfBook) for the venue's best-bid/offer channel (Binance bookTicker). The
        channel is only subscribed for symbols someone listens to, also after start()."""
        rt = self._streamed(venue, symbol)
        rt.top_subs[symbol].append(callback)
        rt.add_top(symbol)

    def subscribe_derivatives(self, venue: str, symbol: str, callback: Callable[[DerivEvent], None]) -> None:
        """callback(event) for the instrument's mark and index price, funding rate, open interest
        and liquidations, as the venue publishes them (venuelink.derivatives). Open interest a venue
        publishes only over REST (Binance USD-M) is polled every ``open_interest.interval_s`` of
        the venue's runtime (10 s) while the symbol has a subscriber, on the venue's rate budget.
        Raises EngineError for an instrument the venue publishes none for (spot)."""
        rt = self._streamed(venue, symbol)
        if rt.adapter.instruments:          # started: check now (else start() checks)
            rt.check_derivatives(symbol)
        rt.deriv_subs[symbol].append(callback)
        rt.add_derivatives(symbol)
        rt.open_interest.wake()

    def subscribe_book_state(self, venue: str, symbol: str, callback: Callable[[str, BookState], None]) -> None:
        """callback(symbol, state) on every change: SYNCING, LIVE, STALE, INVALID. A strategy pulls
        its quotes when a book stops being LIVE (gap, stale feed, reconnect, venue outage)."""
        self._streamed(venue, symbol).state_subs[symbol].append(callback)

    def subscribe_orders(self, venue: str, on_update: Callable[[Order], None] | None = None,
                         on_fill: Callable[[Order, Fill], None] | None = None) -> None:
        """on_update(order) on every state change of an order this engine placed or adopted;
        on_fill(order, fill) once per fill (duplicates from the stream and queries merged)."""
        rt = self.runtime(venue)
        if on_update:
            rt.order_subs.append(on_update)
        if on_fill:
            rt.fill_subs.append(on_fill)

    def subscribe_positions(self, venue: str, callback: Callable[[Position], None]) -> None:
        """callback(Position) for every position change the venue pushes on its private stream
        (Binance USD-M: ACCOUNT_UPDATE): signed size, entry price, unrealized PnL, exact strings; a
        closed position comes with qty "0". A callback that raises is counted and logged, the
        feed goes on. Venues that push no positions never call it: ``positions()`` asks."""
        self.runtime(venue).position_subs.append(callback)

    async def stream(self, venue: str, symbol: str, kind: str = "trades", maxsize: int = 10000):
        """Async iterator over "trades" (Trade), "books" (BookView of a live book) or "derivatives"
        (venuelink.derivatives events) for one symbol.

        A consumer that falls behind by more than `maxsize` items loses the oldest ones; the loss
        is counted in `Engine.stream_drops` (books: only the latest view matters anyway).
        """
        q: asyncio.Queue = asyncio.Queue(maxsize)

        def put(item) -> None:
            if q.full():
                q.get_nowait()
                self.stream_drops += 1
            q.put_nowait(item)
        if kind == "trades":
            self.subscribe_trades(venue, symbol, put)
        elif kind == "books":
            self.subscribe_book(venue, symbol, put)
        elif kind == "derivatives":
            self.subscribe_derivatives(venue, symbol, put)
        else:
            raise ValueError("kind must be 'trades', 'books' or 'derivatives'")
        while True:
            yield await q.get()

    def book(self, venue: str, symbol: str) -> BookView:
        """The current book of a streamed symbol; BookNotLive while it is not LIVE (never a book
        that may be wrong), EngineError for a symbol not streamed."""
        rt = self.runtime(venue)
        fs = rt.fs_by_symbol.get(symbol)
        if fs is None:
            raise EngineError(f"{venue} {symbol} is not subscribed")
        if not fs.sync.is_live:
            raise BookNotLive(f"{venue} {symbol} book is {BookState(fs.sync.state).name}")
        view = rt.book_views.get(symbol)
        if view is None or view.fs is not fs:
            view = rt.book_views[symbol] = BookView(rt.venue, fs.instrument, fs)
        return view

    def _om(self, venue) -> OrderManager:
        rt = self.runtime(venue)
        if rt.orders is None:
            raise EngineError(f"{rt.venue.name}: no credentials configured: execution is off")
        return rt.orders

    async def place(self, req: OrderRequest) -> Order:
        """Raises VenueUnavailable (not sent) while the venue cannot take orders, by its
        unavailable_policy (hold waits up to hold_timeout_s first). EngineError (nothing sent) for
        a symbol that is not one of the venue's instruments in unified notation."""
        rt = self.runtime(req.venue)
        if rt.adapter.instruments and req.symbol not in rt.adapter.instruments:
            raise EngineError(f"{rt.venue.name}: no instrument {req.symbol!r}{_unified_hint(rt, req.symbol)}: "
                              f"orders take a unified symbol (BTC/USDT, BTC/USDT:USDT); nothing was sent")
        om = self._om(req.venue)
        av = self.runtime(req.venue).availability
        if av is not None:
            await av.admit()
        return await om.place(req)

    def instruments(self, venue: str) -> list[Instrument]:
        """The venue's instruments as loaded at start (unified symbol, venue symbol, exact tick and
        lot scales, minimums, contract size, status), sorted by symbol."""
        rt = self.runtime(venue)
        if not rt.adapter.instruments:
            raise EngineError(f"{rt.venue.name}: instruments not loaded yet (start() loads them)")
        return [rt.adapter.instruments[s] for s in sorted(rt.adapter.instruments)]

    async def balances(self, venue: str) -> list[Balance]:
        """The account's assets at the venue (free and locked, exact strings), asked now."""
        rt = self.runtime(venue)
        self._om(venue)
        fn = getattr(rt.execution, "balances", None)
        if fn is None:
            raise EngineError(f"{rt.venue.name}: balances are not offered on this tier yet")
        return await fn()

    async def positions(self, venue: str) -> list[Position]:
        """The account's open derivatives positions at the venue (signed size, entry price,
        unrealized PnL, exact strings), asked now; none on a spot-only venue."""
        rt = self.runtime(venue)
        self._om(venue)
        fn = getattr(rt.execution, "positions", None)
        if fn is None:
            raise EngineError(f"{rt.venue.name}: positions are not offered on this tier yet")
        return await fn()

    async def open_orders(self, venue: str, symbol: str | None = None) -> list[OrderUpdate]:
        """The venue's open orders now (all, or of one unified symbol), whoever placed them."""
        rt = self.runtime(venue)
        self._om(venue)
        if symbol is not None and symbol not in rt.adapter.instruments:
            raise EngineError(f"{rt.venue.name}: no instrument {symbol!r}{_unified_hint(rt, symbol)}")
        return await rt.execution.open_orders(symbol)

    async def cancel_all(self, venue: str, timeout_s: float = 8.0) -> list[str]:
        """Cancel every open order of the account at the venue, whoever placed it (the venue's open
        orders are adopted first), and check with the venue (its cancel-all where it has one); the
        client ids still possibly open afterwards."""
        om = self._om(venue)
        await om.reconcile()
        return await self.runtime(venue).cancel_open_orders(timeout_s)

    def subscribe_venue_state(self, venue: str, callback: Callable[[str, bool, str], None]) -> None:
        """callback(venue, available, reason) whenever the venue becomes unavailable for orders
        or available again (the unavailable_policy has been applied by then)."""
        rt = self.runtime(venue)
        rt.venue_state_subs.append(callback)
        if rt.availability is not None:
            rt.availability.subs.append(callback)

    async def cancel(self, venue: str | VenueId, client_order_id: str) -> Order:
        """Cancel one order by its client id; the order in the state the venue's answer leaves it
        (CANCELED, or CANCEL_PENDING until the venue confirms; a lost answer is settled by a query).
        Cancels pass an open order breaker: they are the safety path."""
        return await self._om(venue).cancel(client_order_id)

    async def amend(self, venue: str | VenueId, client_order_id: str, *, qty: Decimal | str | None = None,
                    price: Decimal | str | None = None) -> Order:
        """Change a resting order's total quantity and/or limit price in place (see
        ``OrderManager.amend``); admitted like a new order while the venue is unavailable."""
        av = self.runtime(venue).availability
        if av is not None:
            await av.admit()
        return await self._om(venue).amend(client_order_id, qty=qty, price=price)

    async def status(self, venue: str | VenueId, client_order_id: str) -> Order:
        """The order as the venue has it now (queried), by its client id."""
        return await self._om(venue).status(client_order_id)
