# SPDX-License-Identifier: Apache-2.0
"""Data silence: a book is LIVE only while its own data says so.

A socket can stay open and answer every ping while the venue has stopped sending market data, for
every stream or for one. Any frame at all (a pong, an ack, another symbol's trade) proves nothing
about a book, so silence is judged per book from its own book messages (snapshots, updates and the
venue's keep-alive updates: `FeedSymbol.last_data_mono`), on a timer that fires whether or not
anything arrives:

* **The whole connection silent** (no book message for any of its books for the endpoint's
  `data_silence_s`): every LIVE book on it is marked STALE at once, and each is probed. A book a
  probe has confirmed since its last message (a quiet market) is instead probed again every
  `book_quiet_s`, and stays LIVE while the venue's book stays the same.
* **One book silent** (`book_quiet_s` without a message of its own while the connection carries
  data): the book is probed; a probe that has no answer within `probe_timeout_s` marks it STALE.

A quiet market is not a dead one, so silence alone never invalidates a book. The probe asks the
venue: its REST book (the adapter's `book_probe_request`) is read into a scratch book and compared
with ours, by sequence id where the venue's REST book carries one (the venue's id not newer than
ours: nothing was missed), otherwise level by level over the top levels. The same book: the market
is quiet and the book is confirmed (a STALE book is LIVE again, and stays so for another
`book_quiet_s` without data). A different book with no message for ours in the probe's grace
period: the stream is lost, so the book is invalidated (counted, resynced by the venue's method)
and its topic resubscribed. A venue whose REST book cannot be read leaves the book STALE, never
LIVE: when unsure, the book is not handed out as live.

A connection that stays silent for `stale_after_s` while the probes show the venue's books moving
is reconnected: the venue is up, this connection is not delivering.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Protocol

from venuelink.budget import Priority
from venuelink.ext.clock import mono_ns, now_ns
from venuelink.ext.feed import FeedSymbol
from venuelink.ext.sync import BookStateC
from venuelink.hosts import FeedHost
from venuelink.model import ConnState
from venuelink.session import WsSession
from venuelink.tasks import within
from venuelink.venue import ResyncMethod


class SilenceHost(FeedHost, Protocol):
    """What the silence watch needs of its venue's runtime."""
    book_topics: dict[str, tuple[WsSession, str]]


log = logging.getLogger("venuelink.silence")

PROBE_LEVELS = 10          # levels per side compared when the venue's REST book has no sequence id
LIVE, STALE = int(BookStateC.BOOK_LIVE), int(BookStateC.BOOK_STALE)


@dataclass(slots=True)
class SilenceCounters:
    connection_silences: int = 0     # books marked STALE because their whole connection went silent
    book_silences: int = 0           # probes started for one silent book
    probes_same: int = 0             # the venue's book equals ours: a quiet market
    probes_moved: int = 0            # the venue's book moved and ours heard nothing: stream lost
    probes_failed: int = 0           # no readable answer: the book stays STALE
    reconnects: int = 0              # connections silent while the venue's books moved
    per_symbol: dict[str, int] = field(default_factory=dict)   # invalidations per symbol


def same_book(ours, theirs, levels: int = PROBE_LEVELS) -> bool:
    """The venue's REST book says nothing ours missed: by sequence id where it has one, else the
    top `levels` of each side equal."""
    if theirs.seq > 0 and ours.seq > 0:
        return theirs.seq <= ours.seq
    for side in (0, 1):
        if ours.top(side, levels) != theirs.top(side, levels):
            return False
    return True


class SilenceWatch:
    def __init__(self, rt: SilenceHost, *, tick_s: float, grace_s: float) -> None:
        """tick_s, grace_s: the engine's timers (venuelink.config.Timers silence_tick_s, silence_grace_s)."""
        self.rt = rt
        self.tick_s = tick_s
        self.grace_s = grace_s
        self.counters = SilenceCounters()
        self._task: asyncio.Task | None = None
        self._probes: dict[str, asyncio.Task] = {}
        self._confirmed: dict[str, int] = {}        # symbol -> mono ns of the last confirming probe
        self._moved_at: dict[int, int] = {}         # id(session) -> mono ns a probe last saw the venue move
        self._not_before: dict[str, int] = {}       # symbol -> mono ns before which it is not probed again

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        tasks = [t for t in (self._task, *self._probes.values()) if t is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._task = None
        self._probes.clear()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            try:
                self.tick(mono_ns())
            except Exception:                       # a bug here must not end the watch
                log.exception("%s: data silence check failed", self.rt.venue.name)

    def _books_by_session(self) -> dict[int, tuple["WsSession", list[tuple[str, "FeedSymbol"]]]]:
        out: dict[int, tuple[WsSession, list]] = {}
        for sym, (sess, _topic) in self.rt.book_topics.items():
            fs = self.rt.fs_by_symbol.get(sym)
            if fs is not None:
                out.setdefault(id(sess), (sess, []))[1].append((sym, fs))
        return out

    def tick(self, now: int) -> None:
        for sess, books in self._books_by_session().values():
            if sess.state != ConnState.CONNECTED:
                continue
            ep = sess.endpoint
            conn_ns = int(ep.data_silence_s * 1e9)
            quiet_ns = int(ep.book_quiet_s * 1e9)
            probe_ns = int(ep.probe_timeout_s * 1e9)
            since = int(sess.connected_at * 1e9)      # time.monotonic(): the clock of mono_ns
            last_conn = max([fs.last_data_mono for _, fs in books] + [since])
            conn_silent = now - last_conn > conn_ns
            for sym, fs in books:
                state = fs.sync.state
                if state != LIVE and state != STALE:
                    continue                        # syncing or invalid: the resync owns it
                confirmed = self._confirmed.get(sym, 0)
                heard = max(fs.last_data_mono, confirmed, since)
                if confirmed > fs.last_data_mono:
                    # the latest evidence is a probe's confirmation (a quiet market): probed again
                    # after book_quiet_s, STALE only if that probe has not confirmed it in time
                    if now - heard > quiet_ns:
                        self._probe(sess, sym, fs)
                    if now - heard > quiet_ns + probe_ns and state == LIVE:
                        fs.sync.mark_stale()
                    continue
                if conn_silent and now - heard > conn_ns:
                    if state == LIVE:
                        self.counters.connection_silences += 1
                        log.warning("%s %s: no book data on %s for %.1fs: STALE", self.rt.venue.name, sym,
                                    sess.name, (now - last_conn) / 1e9)
                        fs.sync.mark_stale()
                    self._probe(sess, sym, fs)
                elif now - heard > quiet_ns:
                    if sym not in self._probes:
                        self.counters.book_silences += 1
                    self._probe(sess, sym, fs)
            moved = self._moved_at.get(id(sess), 0)
            if (conn_silent and moved > last_conn and now - last_conn > int(sess.stale_after_s * 1e9)):
                self.counters.reconnects += 1
                self._moved_at.pop(id(sess), None)
                sess.force_reconnect(f"no book data for {(now - last_conn) / 1e9:.1f}s while the venue's books "
                                     f"moved")

    def _probe(self, sess: "WsSession", sym: str, fs: "FeedSymbol") -> None:
        t = self._probes.get(sym)
        if t is not None and not t.done():
            return
        now = mono_ns()
        if now < self._not_before.get(sym, 0):
            return                                  # a failed probe is not repeated every tick
        self._not_before[sym] = now + int(sess.endpoint.book_quiet_s * 1e9)
        self._probes[sym] = asyncio.get_running_loop().create_task(self._run_probe(sess, sym, fs))

    async def _run_probe(self, sess: "WsSession", sym: str, fs: "FeedSymbol") -> None:
        rt = self.rt
        started = mono_ns()
        timeout = sess.endpoint.probe_timeout_s
        try:
            theirs = await within(self._venue_book(fs), timeout)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            self.counters.probes_failed += 1
            fs.sync.mark_stale()
            log.warning("%s %s: book probe failed (%s: %s): STALE until data arrives", rt.venue.name, sym,
                        type(e).__name__, e)
            return
        if fs.last_data_mono > started:
            return                                  # data arrived meanwhile: the stream lives
        if same_book(fs.book, theirs):
            self.counters.probes_same += 1
            self._confirmed[sym] = mono_ns()
            fs.sync.confirm_live()
            return
        await asyncio.sleep(self.grace_s)           # updates in flight reach us within this
        if fs.last_data_mono > started:
            return
        self.counters.probes_moved += 1
        self._moved_at[id(sess)] = mono_ns()
        self.counters.per_symbol[sym] = self.counters.per_symbol.get(sym, 0) + 1
        entry = rt.book_topics.get(sym)
        fs.sync.invalidate(f"no book data for {(mono_ns() - fs.last_data_mono) / 1e9:.1f}s while the venue's book "
                           f"moved: stream lost")
        if entry is not None and rt.adapter.spec.book.resync == ResyncMethod.REST_SNAPSHOT:
            entry[0].resubscribe([entry[1]])        # in-band venues resubscribe as their resync

    async def _venue_book(self, fs: "FeedSymbol"):
        rt = self.rt
        path, params = rt.adapter.book_probe_request(fs.instrument)
        w, _ = rt.adapter.rest_cost("GET", path, params)
        query = "&".join(f"{k}={v}" for k, v in params.items())
        r = await rt.rest.request("GET", path, query=query, weights=w, priority=Priority.SNAPSHOT,
                                  headers=rt.adapter.md_headers("GET", path, query))
        scratch = rt.adapter.feed_symbol(fs.instrument, None)
        parser = rt.parser_of[fs.instrument.symbol]
        rt.adapter.apply_snapshot(parser, scratch, r.body, now_ns())
        return scratch.book


__all__ = ["SilenceWatch", "SilenceCounters", "same_book", "PROBE_LEVELS"]
