# SPDX-License-Identifier: Apache-2.0
"""Public trades missed while a market-data connection was down, fetched from the venue's
recent-trades endpoint and delivered once each, in id order, before the live stream goes on.

On a reconnect, for every symbol that had delivered a trade, the runtime calls `start(fs, last_id)`
with the last delivered id. From then on live trades of that symbol are held (bounded), the
venue's recent trades are fetched (market-data REST, snapshot priority, `timeout_s`), and then:

1. every fetched trade with `last_id < id < first held id` goes through the parser's own trade path
   (validation, dedupe: counted drops as for live frames) to the strategy;
2. the held live trades follow, in arrival order.

On venues whose ids go up by one per trade (`VenueSpec.trade_ids_consecutive`), a jump in the live
stream is a lost trade: that trade and the ones after it are held and the same backfill runs from
the last delivered id. Fetches for jumps start at most once per `min_gap_interval_s` per symbol
(a feed that keeps jumping must not spend the REST budget on them): a jump sooner than that is
held until the interval has passed and then backfilled, late rather than lost. Jumps of symbols
that cannot be backfilled are counted (`gaps_unfilled`, and their trades `unfilled_trades`).

When the history does not reach back to `last_id + 1` (more trades happened than one request
returns; venues whose ids are consecutive per symbol), the hole is counted (`incomplete`) and
logged with its size. A failed or late fetch releases the held trades at once (counted:
`failures`); a hold that reaches `MAX_HELD` trades is released early (`overflows`). Venues whose
trade ids are opaque (not increasing integers), or that have no recent-trades endpoint, are not
backfilled (`unsupported`).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Protocol
from urllib.parse import urlencode

from venuelink.adapter import HistoryTrade
from venuelink.ext.clock import now_ns
from venuelink.ext.events import Trade
from venuelink.ext.feed import BadMessage, FeedSymbol, TradeIds
from venuelink.hosts import FeedHost
from venuelink.tasks import cancel_all


class BackfillHost(FeedHost, Protocol):
    """What the backfill needs of its venue's runtime."""

    def on_trade(self, trade: Trade) -> None: ...

    def deliver_trade(self, trade: Trade) -> None: ...


log = logging.getLogger("venuelink.backfill")


class TradeBackfill:
    MAX_HELD = 20_000
    """live trades held per symbol while its backfill runs; beyond, they are released early"""

    def __init__(self, rt: BackfillHost, *, timeout_s: float = 5.0, min_gap_interval_s: float = 2.0) -> None:
        self.rt, self.timeout_s, self.min_gap_interval_s = rt, timeout_s, min_gap_interval_s
        self.consecutive = rt.adapter.spec.trade_ids_consecutive
        self.last_ids: dict[str, int] = {}
        """symbol -> id of the last trade delivered (consecutive-id venues)"""
        self._last_gap: dict[str, float] = {}
        self.held: dict[str, list["Trade"]] = {}
        self._tasks: dict[str, asyncio.Task] = {}
        self._from: dict[str, int] = {}
        # counters
        self.runs = 0
        self.delivered = 0          # missed trades delivered from the history
        self.incomplete = 0         # runs whose history did not reach back to the last delivered id
        self.missing = 0            # trades known lost by those runs (consecutive-id venues)
        self.failures = 0           # fetch failed or timed out: nothing backfilled
        self.rejected = 0           # history rows the trade path refused (bad values)
        self.overflows = 0
        self.unsupported = 0
        self.gaps = 0               # jumps in a consecutive-id live stream
        self.gaps_delayed = 0       # of those, backfilled late (too soon after the previous fetch)
        self.gaps_unfilled = 0      # of those, not backfilled (no history to fetch from)
        self.unfilled_trades = 0    # the trades in those unfilled gaps: lost, and counted to the trade

    def stats(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in ("runs", "delivered", "incomplete", "missing", "failures",
                                              "rejected", "overflows", "unsupported", "gaps",
                                              "gaps_delayed", "gaps_unfilled", "unfilled_trades")}

    @property
    def holding(self) -> bool:
        return bool(self.held)

    def supported(self, fs: FeedSymbol) -> bool:
        return (fs.trade_ids == TradeIds.TRADE_IDS_INCREASING
                and self.rt.adapter.trade_history_request(fs.instrument) is not None)

    def gap(self, trade: "Trade", last_id: int) -> bool:
        """A live trade jumped past `last_id` + 1 (consecutive-id venues): True when it is held
        for a backfill of the trades in between."""
        self.gaps += 1
        sym = trade.instrument.symbol
        fs = self.rt.fs_by_symbol.get(sym)
        now = asyncio.get_running_loop().time()
        if fs is None or not self.supported(fs):
            self.gaps_unfilled += 1
            self.unfilled_trades += trade.trade_id_int - 1 - last_id
            log.warning("%s %s: trades %d..%d never arrived (not backfilled)", self.rt.venue.name, sym,
                        last_id + 1, trade.trade_id_int - 1)
            return False
        wait = max(0.0, self._last_gap.get(sym, -1e9) + self.min_gap_interval_s - now)
        self._last_gap[sym] = now + wait
        if wait:
            self.gaps_delayed += 1
        log.info("%s %s: trades %d..%d missing from the stream: backfilling%s", self.rt.venue.name, sym,
                 last_id + 1, trade.trade_id_int - 1, f" in {wait:.1f}s" if wait else "")
        self.start(fs, last_id, delay_s=wait)
        self.held[sym].append(trade)
        return True

    def start(self, fs: FeedSymbol, last_id: int, *, delay_s: float = 0.0) -> None:
        """A connection carrying `fs` was re-established; `last_id` is the last trade id delivered
        for it before (-1: none, nothing to backfill). Live trades are held from now on; the fetch
        starts after `delay_s`."""
        if last_id < 0:
            return
        inst = fs.instrument
        if not self.supported(fs):
            self.unsupported += 1
            return
        sym = inst.symbol
        prev = self._tasks.pop(sym, None)
        if prev is not None and not prev.done():
            prev.cancel()                   # a reconnect during a backfill: start over from the older id
            last_id = min(last_id, self._from.get(sym, last_id))
        self._from[sym] = last_id
        self.held.setdefault(sym, [])
        self._tasks[sym] = asyncio.get_running_loop().create_task(self._run(fs, last_id, delay_s))

    def hold(self, trade: "Trade") -> bool:
        """Called for every live trade while a backfill runs: True when it was held."""
        sym = trade.instrument.symbol
        lst = self.held.get(sym)
        if lst is None:
            return False
        if len(lst) >= self.MAX_HELD:
            self.overflows += 1
            log.warning("%s %s: %d live trades held during backfill: releasing them now",
                        self.rt.venue.name, sym, len(lst))
            t = self._tasks.pop(sym, None)
            if t is not None:
                t.cancel()
            self._release(sym, None, -1, [])
            return False
        lst.append(trade)
        return True

    async def close(self) -> None:
        await cancel_all(list(self._tasks.values()))
        self._tasks.clear()
        self.held.clear()

    async def _fetch(self, fs: FeedSymbol) -> list[HistoryTrade]:
        ad = self.rt.adapter
        req = ad.trade_history_request(fs.instrument)
        assert req is not None
        path, params = req
        w, prio = ad.rest_cost("GET", path, params)
        r = await self.rt.rest.request("GET", path, query=urlencode(params), weights=w, priority=prio,
                                       instrument=fs.instrument.venue_symbol)
        return ad.parse_trade_history(fs.instrument, r.body)

    async def _run(self, fs: FeedSymbol, last_id: int, delay_s: float = 0.0) -> None:
        sym = fs.instrument.symbol
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        self.runs += 1
        rows: list[HistoryTrade] = []
        try:
            rows = await asyncio.wait_for(self._fetch(fs), self.timeout_s)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            self.failures += 1
            log.warning("%s %s: trade backfill failed (%s: %s); trades since id %d may be missing",
                        self.rt.venue.name, sym, type(e).__name__, e, last_id)
        if self._tasks.get(sym) is asyncio.current_task():
            del self._tasks[sym]
            self._release(sym, fs, last_id, rows)

    def _release(self, sym: str, fs: FeedSymbol | None, last_id: int, rows: list[HistoryTrade]) -> None:
        """Hand over the held live trades, with the history's trades they lack merged in by id:
        those before the first held trade, and those between held ones (a jump while holding).
        Held trades go through the live trade path again, so a jump the history could not fill
        starts the next backfill. `fs` None: released early (overflow), held trades as they are."""
        held = self.held.pop(sym, [])
        self._from.pop(sym, None)
        if fs is None:
            for t in held:
                self.rt.deliver_trade(t)
            return
        fill: list[HistoryTrade] = []
        if rows:
            rows = sorted(rows, key=lambda r: r.trade_id)
            if rows[0].trade_id > last_id + 1:
                self.incomplete += 1
                self.missing += rows[0].trade_id - last_id - 1
                log.warning("%s %s: trade history reaches back to id %d only: %d trades after id %d lost",
                            self.rt.venue.name, sym, rows[0].trade_id, rows[0].trade_id - last_id - 1, last_id)
                if self.consecutive:
                    self.last_ids[sym] = rows[0].trade_id - 1     # counted once here, not again as a gap
            held_ids = {t.trade_id_int for t in held}
            top = max(held_ids) if held_ids else None        # later ones: the live stream brings them
            fill = [r for r in rows if r.trade_id > last_id and r.trade_id not in held_ids
                    and (top is None or r.trade_id < top)]
        parser = self.rt.parser_of[sym]
        i = 0
        for t in held:
            tid = t.trade_id_int
            while i < len(fill) and fill[i].trade_id < tid:
                self._emit(parser, fs, fill[i])
                i += 1
            self.rt.on_trade(t)
        for r in fill[i:]:
            self._emit(parser, fs, r)

    def _emit(self, parser, fs: FeedSymbol, r: HistoryTrade) -> None:
        """One history trade through the parser's trade path (validation, dedupe)."""
        try:
            parser.emit_trade_py(fs, r.trade_id, r.price, r.size, r.side, r.ts_exchange, now_ns())
            self.delivered += 1
        except BadMessage as e:
            self.rejected += 1
            log.warning("%s %s: history trade %d refused: %s", self.rt.venue.name, fs.instrument.symbol,
                        r.trade_id, e)
