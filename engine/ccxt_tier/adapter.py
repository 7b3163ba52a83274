# SPDX-License-Identifier: Apache-2.0
"""CcxtAdapter: any CCXT exchange as an engine venue, through its worker process (the dialect is
described in venuelink.ccxt_tier). One WebSocket endpoint (the worker's), SEQ_NONE books whose
every message is a full top-N snapshot, resynced by resubscribing (the worker answers a book
subscription with its latest book), opaque trade ids deduplicated by the engine."""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from venuelink.adapter import Channel, VenueAdapter
from venuelink.ccxt_tier import GONE, ccxt_id
from venuelink.ccxt_tier.errors import TierConn
from venuelink.ccxt_tier.gate import BudgetGate, ccxt_buckets
from venuelink.ccxt_tier.supervisor import WorkerSupervisor
from venuelink.ccxt_tier.wire import decode_book
from venuelink.circuit import CircuitState, FailureKind
from venuelink.config import VenueConfig
from venuelink.errors import ConfigError, VenueError
from venuelink.model import Instrument, InstrumentStatus, MarketKind, Side, VenueHealth, VenueId
from venuelink.venue import BookSpec, BucketSpec, ResyncMethod, SnapshotSource, VenueSpec, WsEndpoint, min_mantissa, scale_of
from venuelink.ext.feed import Control, FeedSymbol, PyFrameParser, TradeIds
from venuelink.ext.ratelimit import BucketKind, Priority
from venuelink.ext.sync import SeqRule

log = logging.getLogger("venuelink.ccxt_tier")
STATS_POLL_S = 5.0
WINDOW_KEYS = frozenset({"window_messages", "handler_p50_ns", "handler_p99_ns", "handler_max_ns",
                         "watches", "watches_failing"})

DEPTH = 20                  # levels per side in every book frame
MS = 1_000_000
_KINDS = {"spot": MarketKind.SPOT, "swap": MarketKind.SWAP, "future": MarketKind.FUTURE, "option": MarketKind.OPTION}
_SIDES = {"buy": Side.BUY, "sell": Side.SELL}
_PLACEHOLDER = "127.0.0.1:0"       # until the worker reports its port


def _spec(venue: VenueId, rest_url: str, ws_url: str, venue_buckets: tuple[BucketSpec, ...] = ()) -> VenueSpec:
    """`venue_buckets`: the venue's own limits, which the worker's CCXT requests are charged to
    (venuelink.ccxt_tier.gate); LOCAL counts the engine's requests to the worker."""
    return VenueSpec(
        venue=venue, rest_url=rest_url, ws_url=ws_url,
        buckets=(BucketSpec("LOCAL", BucketKind.FIXED_WINDOW, 100_000, 1.0),) + tuple(venue_buckets),
        endpoints=(WsEndpoint("public", ws_url, max_topics_per_connection=600, max_topics_per_request=100,
                              max_msgs_per_s=100.0, ack_timeout_s=5.0, stale_after_s=10.0),),
        book=BookSpec(SeqRule.SEQ_NONE, SnapshotSource.IN_BAND, ResyncMethod.RESUBSCRIBE, depth=DEPTH,
                      snapshot_timeout_s=5.0),
        trade_ids=TradeIds.TRADE_IDS_OPAQUE,
    )


@dataclass(frozen=True, slots=True)
class BreakerReport:
    """One of the worker's circuit breakers as its last /stats answer gave it."""
    state: CircuitState
    health: VenueHealth
    last_failure: FailureKind | None
    failures: int = 0           # consecutive failures
    opens: int = 0              # transitions to OPEN, since the worker started
    closes: int = 0             # transitions back to CLOSED
    probes_lost: int = 0
    retry_in_s: float = 0.0     # until an OPEN breaker lets a probe through


def breaker_reports(raw: Any) -> dict[TierConn, BreakerReport]:
    """The worker's /stats ``breakers`` ({conn: {state, health, last_failure, ...}}) read; a
    connection type or value this engine does not know is left out (logged)."""
    out: dict[TierConn, BreakerReport] = {}
    for name, r in (raw or {}).items() if isinstance(raw, dict) else ():
        try:
            lf = int(r.get("last_failure") or 0)
            out[TierConn(name)] = BreakerReport(
                CircuitState(int(r["state"])), VenueHealth(int(r["health"])), FailureKind(lf) if lf else None,
                int(r.get("failures") or 0), int(r.get("opens") or 0), int(r.get("closes") or 0),
                int(r.get("probes_lost") or 0), float(r.get("retry_in_s") or 0.0))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            log.warning("the CCXT worker's breaker %r could not be read: %s", name, e)
    return out


def _mantissa(text: str, scale: int) -> int:
    """`text` as a mantissa at `scale`; 0 when empty or finer than the scale (not stated exactly)."""
    if not text:
        return 0
    v = Decimal(text).scaleb(scale)
    return int(v) if v == v.to_integral_value() else 0


class CcxtParser(PyFrameParser):
    """Decodes the worker's frames into the same emit_* bookkeeping native parsers use."""
    counters: dict[str, int]        # the adapter's (CcxtAdapter.counters)

    def parse(self, frame: bytes, ts_recv: int, recv_mono: int) -> None:
        if frame[:1] == b"\x01":                         # a binary book frame (venuelink.ccxt_tier.wire)
            self.binary_book(frame, ts_recv)
            return
        m = json.loads(frame)
        kind = m.get("type")
        if kind is None:
            op = m.get("op")
            ctl = {"subscribed": Control.CTRL_SUBSCRIBED, "unsubscribed": Control.CTRL_UNSUBSCRIBED,
                   "error": Control.CTRL_ERROR}.get(op, Control.CTRL_OTHER)
            rid = m.get("id", -1)
            self.emit_control_py(ctl, m.get("msg"), rid if isinstance(rid, int) else -1, frame)
            return
        fs = self.lookup_py(m["symbol"].encode())
        if fs is None:
            return
        if kind == "book":
            self.book_frame(fs, m, ts_recv)
        elif kind == "trade":
            inst = fs.instrument
            side = _SIDES.get(m["side"])
            if side is None:
                raise ValueError(f"trade side {m['side']!r}")
            self.emit_trade_py(fs, str(m["id"]), inst.px(m["price"]), inst.qty(m["size"]), side,
                               int(m["ts"]) * MS, ts_recv)
        elif kind == "trades_lost":
            c = self.counters
            c["trades_lost"] = c.get("trades_lost", 0) + int(m.get("count") or 0)
            log.warning("%s: the CCXT worker lost %s trade(s) in CCXT's cache", m["symbol"], m.get("count"))
        elif kind == "invalid":
            c = self.counters
            c["books_invalidated"] = c.get("books_invalidated", 0) + 1
            c["off_grid_values"] = c.get("off_grid_values", 0) + int(m.get("off_grid") or 0)
            fs.sync.invalidate(f"CCXT worker: {m.get('reason', '')}")
        else:
            raise ValueError(f"unknown frame type {kind!r}")

    def binary_book(self, frame: bytes, ts_recv: int) -> None:
        symbol, ts, ps, qs, bids, asks = decode_book(frame)
        fs = self.lookup_py(symbol.encode())
        if fs is None:
            return
        inst = fs.instrument
        if (ps, qs) != (inst.px_scale, inst.qty_scale):
            raise ValueError(f"{symbol}: book frame at scales {ps}/{qs}, the instrument's are "
                             f"{inst.px_scale}/{inst.qty_scale}")
        self.emit_snapshot_py(fs, -1, bids, asks, ts * MS, ts_recv)
        if fs.want_top and bids and asks:
            self.emit_top_py(fs, bids[0][0], bids[0][1], asks[0][0], asks[0][1], -1, ts * MS, ts_recv)

    def book_frame(self, fs: FeedSymbol, m: dict, ts_recv: int) -> None:
        inst = fs.instrument
        bids = [(inst.px(p), inst.qty(q)) for p, q in m["bids"]]
        asks = [(inst.px(p), inst.qty(q)) for p, q in m["asks"]]
        self.emit_snapshot_py(fs, -1, bids, asks, int(m.get("ts") or 0) * MS, ts_recv)
        if fs.want_top and bids and asks:
            self.emit_top_py(fs, bids[0][0], bids[0][1], asks[0][0], asks[0][1], -1,
                             int(m.get("ts") or 0) * MS, ts_recv)


class CcxtAdapter(VenueAdapter):
    instruments_path = "/instruments"
    execution_class = "venuelink.ccxt_tier.execution:CcxtExecution"

    def __init__(self, config: VenueConfig | None = None) -> None:
        if config is None:
            raise ValueError("the CCXT tier needs the venue's config (symbols, hosts)")
        if config.name in GONE:
            raise ConfigError(f"[venues.{config.name}]: {GONE[config.name]}")
        self.venue = VenueId.parse(config.name)
        self.ccxt_id = ccxt_id(config.name)
        self.venue_buckets = ccxt_buckets(self.venue.name, self.ccxt_id)
        self.spec = _spec(self.venue, f"http://{_PLACEHOLDER}", f"ws://{_PLACEHOLDER}/ws", self.venue_buckets)
        super().__init__(config)
        self.worker: WorkerSupervisor | None = None
        self.gate: BudgetGate | None = None
        self.runtime: Any = None
        self._counters: dict[str, int] = {}        # books_invalidated, off_grid_values (parsers count)
        self.worker_stats: dict[str, int] = {}     # the worker's own counters, polled
        self.worker_gauges: dict[str, float] = {}  # its handler time and merge ratio over the last poll
        self._watch_state = (0, 0)                  # (failing, all) book and trade watches at the last poll
        self.breakers: dict[TierConn, BreakerReport] = {}   # the worker's breakers per connection type, polled
        self._stats_task: asyncio.Task | None = None

    # ---- the worker ------------------------------------------------------------------------
    def worker_spec(self) -> dict:
        c = self.config
        return {"exchange": self.ccxt_id, "symbols": list(c.symbols), "depth": DEPTH,
                "hosts": dict(c.ccxt_hosts), "isolate": bool(c.ccxt_isolate), "options": dict(c.ccxt_options),
                "timeout_ms": int(c.ccxt_timeout_s * 1000), "budget_url": self.gate.url if self.gate else "",
                "audit_s": c.ccxt_book_audit_s}

    async def prepare(self, runtime: Any) -> None:
        if self.worker is not None:
            return
        if not self.config.symbols:
            raise ConfigError(f"[venues.{self.venue.name}] needs symbols = [...]: the CCXT worker watches them")
        self.runtime = runtime
        # the worker's CCXT requests ask the engine's budget first, the markets load included
        self.gate = BudgetGate(self.venue.name, runtime.budget, runtime.rest.breaker)
        await self.gate.start()
        # order entry: the worker gets the credentials on its stdin when it starts
        self.worker = WorkerSupervisor(self.venue.name, self.worker_spec(), on_restart=self._moved,
                                       credentials=self.config.credentials())
        self._use(await self.worker.start())
        self._stats_task = asyncio.ensure_future(self._poll_stats())

    async def _poll_stats(self) -> None:
        """The worker's own counters (tap failures, resubscribes, probes, dropped trades, private
        stream transitions ...), read every STATS_POLL_S for the metrics (venuelink.metrics exports
        `counters()` as venuelink_adapter_events{kind="worker_..."})."""
        import aiohttp
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while True:
                url = (self.worker.report or {}).get("rest_url") if self.worker is not None else None
                if url:
                    try:
                        async with http.get(url + "/stats") as r:
                            body = await r.json()
                        nums = {k: int(v) for k, v in body.items()
                                if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "pid"}
                        self._window(nums)
                        self.breakers = breaker_reports(body.get("breakers"))
                        self.worker_stats = {k: v for k, v in nums.items() if k not in WINDOW_KEYS}
                    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
                        pass                # the supervisor restarts a dead worker; keep the last numbers
                await asyncio.sleep(STATS_POLL_S)

    def _window(self, nums: dict[str, int]) -> None:
        """The worker's handler time per venue message over the last poll, and how many venue
        messages went into each update handed to the engine (CCXT merges deltas into books)."""
        self._watch_state = (nums.get("watches_failing", 0), nums.get("watches", 0))
        before = self.worker_stats
        out = sum(nums.get(k, 0) - before.get(k, 0) for k in ("books", "trades"))
        g: dict[str, float] = {}
        if nums.get("window_messages"):
            g.update(handler_p50_seconds=nums.get("handler_p50_ns", 0) / 1e9,
                     handler_p99_seconds=nums.get("handler_p99_ns", 0) / 1e9,
                     handler_max_seconds=nums.get("handler_max_ns", 0) / 1e9)
            if out > 0:
                g["messages_per_update"] = nums["window_messages"] / out
        self.worker_gauges = g

    def worker_running(self) -> bool:
        w = self.worker
        return w is not None and w.proc is not None and w.proc.returncode is None

    def feed_health(self) -> VenueHealth:
        """The venue's market data as the worker sees it (VenueRuntime.ws_health takes the worst
        of this and its own connections, which here only reach the local worker): UNREACHABLE
        while no worker runs or every watch of the venue is failing, DEGRADED while some are.
        An open public breaker says why (its classification: DOWN for a venue in maintenance or
        answering 5xx, UNREACHABLE for no answer); otherwise the worse of the two counts."""
        if not self.worker_running():
            return VenueHealth.UNREACHABLE
        failing, total = self._watch_state
        if total and failing >= total:
            watches = VenueHealth.UNREACHABLE
        else:
            watches = VenueHealth.DEGRADED if failing else VenueHealth.UP
        public = self.breakers.get(TierConn.PUBLIC)
        if public is None:
            return watches
        if public.state != CircuitState.CLOSED and public.health in (VenueHealth.DOWN, VenueHealth.UNREACHABLE):
            return public.health
        return max(watches, public.health)

    def breaker_health(self) -> dict[TierConn, VenueHealth]:
        """Health per connection type of the worker (public watches, private stream, its own REST
        calls), from its breakers (venuelink.metrics exports it as venuelink_venue_health{path=
        "ccxt_public" ...}): every one UNREACHABLE while no worker runs."""
        if not self.worker_running():
            return {c: VenueHealth.UNREACHABLE for c in self.breakers}
        return {c: r.health for c, r in self.breakers.items()}

    def gauges(self) -> dict[str, float]:
        """Recent figures of the worker (venuelink.metrics exports them as venuelink_ccxt_worker)."""
        return dict(self.worker_gauges)

    def _use(self, report: dict) -> None:
        self.spec = _spec(self.venue, report["rest_url"], report["ws_url"], self.venue_buckets)
        if self.runtime is not None:
            self.runtime.rest.base_url = report["rest_url"]

    def _moved(self, report: dict) -> None:
        """The restarted worker could not have its old port back: every connection follows it."""
        self._use(report)
        if self.runtime is not None:
            for s in self.runtime.sessions:
                s.url = report["ws_url"]

    async def close(self) -> None:
        if self._stats_task is not None:
            self._stats_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._stats_task
            self._stats_task = None
        # at once: the engine bounds an adapter's close (2 s), and the worker's stop takes the most
        await asyncio.gather(*(c.close() for c in (self.worker, self.gate) if c is not None))

    def endpoint_url(self, ep: WsEndpoint) -> str:
        return self.spec.ws_url

    # ---- instruments -----------------------------------------------------------------------
    def parse_instruments(self, body: bytes | dict) -> list[Instrument]:
        data = json.loads(body) if isinstance(body, (bytes, str)) else body
        out = []
        for d in data["instruments"]:
            kind = _KINDS.get(d["type"])
            if kind is None:
                continue
            ps, qs = scale_of(d["tick"]), scale_of(d["lot"])
            cs = d.get("contract_size") or ""
            out.append(Instrument(
                self.venue, d["symbol"], d["symbol"], d["base"], d["quote"], ps, qs,
                int(Decimal(d["tick"]).scaleb(ps)), int(Decimal(d["lot"]).scaleb(qs)), settle=d.get("settle", ""),
                min_qty=_mantissa(d.get("min_qty") or "", qs),
                min_notional=min_mantissa(d.get("min_notional") or "0", ps + qs),
                px_sig_digits=int(d.get("px_sig") or 0),
                # CCXT knows a market is open or not, nothing finer
                status=InstrumentStatus.TRADING if d.get("active", True) else InstrumentStatus.HALTED, kind=kind,
                contract_size=int(Decimal(cs).scaleb(scale_of(cs))) if cs else 0,
                contract_scale=scale_of(cs) if cs else 0, contract_ccy=d["base"] if cs else ""))
        return out

    # ---- market data -----------------------------------------------------------------------
    def make_parser(self, sink: Any) -> CcxtParser:
        p = CcxtParser(self.venue, sink)
        p.counters = self._counters
        return p

    def make_reference_parser(self, sink: Any) -> CcxtParser:
        return self.make_parser(sink)

    def counters(self) -> dict[str, int]:
        w = self.worker
        ex = getattr(self.runtime, "execution", None)
        outcomes = {"order_error_" + k: n for k, n in (getattr(ex, "outcomes", None) or {}).items()}
        return {**self._counters, **{"worker_" + k: v for k, v in self.worker_stats.items()}, **outcomes,
                "worker_starts": w.starts if w else 0, "worker_exits": w.exits if w else 0}

    def topics(self, inst: Instrument, channels: tuple[Channel, ...]) -> list[str]:
        names = {Channel.BOOK: "book", Channel.TRADES: "trades", Channel.TOP: "top"}
        out = []
        for c in channels:
            if c not in names:
                raise VenueError(f"{self.venue.name}: the CCXT tier serves books and trades only", venue=self.venue.name)
            out.append(f"{names[c]}:{inst.venue_symbol}")
        return out

    def subscribe_frames(self, ep: WsEndpoint, topics: list[str], req_id: int) -> list[str]:
        return [json.dumps({"op": "subscribe", "id": req_id, "topics": topics})]

    def unsubscribe_frames(self, ep: WsEndpoint, topics: list[str], req_id: int) -> list[str]:
        return [json.dumps({"op": "unsubscribe", "id": req_id, "topics": topics})]

    def book_probe_request(self, inst: Instrument) -> tuple[str, dict[str, str]]:
        """The exchange's REST book through the worker (venuelink.silence checks a quiet book
        against it); never the worker's own copy, which shares the stream in doubt."""
        return "/probe", {"symbol": inst.symbol}

    def apply_snapshot(self, parser: CcxtParser, fs: FeedSymbol, body: bytes, ts_recv: int) -> int:
        parser.book_frame(fs, json.loads(body), ts_recv)
        return 0

    # ---- REST and execution ------------------------------------------------------------------
    def rest_cost(self, method: str, path: str, params: dict[str, str] | None = None,
                  order: Any = None) -> tuple[dict[str, int], Any]:
        return {"LOCAL": 1}, Priority.QUERY

    def map_error(self, resp: Any) -> Any:
        return VenueError(f"{self.venue.name} CCXT worker answered HTTP {resp.status}: {resp.body[:200]!r}",
                          venue=self.venue.name, http_status=resp.status)

    def make_execution(self, rest: Any, creds: Any, config: VenueConfig) -> Any:
        """Orders over CCXT's REST methods in the worker (which got ``creds`` when it started)."""
        from venuelink.ccxt_tier.execution import CcxtExecution
        if self.worker is None or self.worker._credentials is None:
            raise ConfigError(f"[venues.{self.venue.name}]: the CCXT worker was started without credentials")
        return CcxtExecution(self, timeout_s=config.ccxt_timeout_s, rest=rest)
