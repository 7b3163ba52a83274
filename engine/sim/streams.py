"""Market-data streams every dialect renders: time-aggregated book diffs and top-of-book changes.

``DiffStreams`` keeps one ``DiffAccumulator`` per subscribed diff topic (created when the first
connection subscribes, dropped with the last one), feeds it every change batch of its symbol and
flushes it on the topic's cadence -- one timer per distinct cadence, or per batch for cadence 0.
A flush consults the ``gap`` fault (``Faults.take_md_drop``) and hands the merged diff to the
dialect's renderer; the rendered text is fanned out on the topic.

``TopOfBook`` answers "did the best bid/ask change since the last time I published it?".

``AccountStreams`` is the private side: which connections receive which account's events, each
under a per-connection subscription id, cleaned up when the connection goes away.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Callable

from venuelink.sim.core import SimVenue, cancel_tasks, every
from venuelink.sim.market import Batch, DiffAccumulator
from venuelink.sim.wsconn import WsConn, WsHub

# (topic, symbol, first id, last id, bids, asks) -> rendered payload; levels are (ticks, lots)
RenderDiff = Callable[[str, str, int, int, list, list], str]


@dataclass(frozen=True, slots=True)
class DiffTopic:
    """What a diff topic is: its symbol, the channel name gap faults match, its cadence (0 = per batch)."""

    symbol: str
    channel: str
    interval_ms: float


@dataclass(slots=True)
class _Live:
    topic: DiffTopic
    acc: DiffAccumulator = field(default_factory=DiffAccumulator)


class DiffStreams:
    def __init__(self, venue: SimVenue, classify: Callable[[str], DiffTopic | None], render: RenderDiff) -> None:
        """``classify(topic)`` says whether a hub topic is a diff stream (and which); ``render``
        turns a merged diff into the dialect's payload."""
        self.venue = venue
        self.classify = classify
        self.render = render
        self.live: dict[str, _Live] = {}
        self.dropped = 0  # diffs withheld by gap faults
        self._tasks: list[asyncio.Task] = []

    def on_topic(self, topic: str, active: bool) -> bool:
        """Hub topic transition; True when the topic was a diff stream."""
        kind = self.classify(topic)
        if kind is None:
            return False
        if active:
            self.live[topic] = _Live(kind)
        else:
            self.live.pop(topic, None)
        return True

    def on_batch(self, symbol: str, batch: Batch) -> None:
        if not batch.has_changes:
            return
        for topic, lv in list(self.live.items()):
            if lv.topic.symbol == symbol:
                lv.acc.add(batch)
                if lv.topic.interval_ms <= 0:
                    self._flush(topic, lv)

    def _flush(self, topic: str, lv: _Live) -> None:
        out = lv.acc.flush()
        if out is None:
            return
        if self.venue.faults.take_md_drop(lv.topic.symbol, lv.topic.channel):
            self.dropped += 1
            return
        first, last, bids, asks = out
        sym = lv.topic.symbol
        if self.venue.faults.crossed and self.venue.faults.take_crossed(sym):
            ask = self.venue.markets[sym].best_ask()
            if ask is not None:
                # a bid at the best ask: the diff crosses the book. It goes last and replaces any
                # change of that price in the diff (a price the fair crossed within the window
                # has a bid removal there, which would otherwise undo the crossing level).
                bids = [lv for lv in bids if lv[0] != ask[0]] + [(ask[0], max(1, ask[1]))]
        self.venue.hub.publish(topic, self.render(topic, sym, first, last, bids, asks))

    def flush_topic(self, topic: str) -> None:
        """Publish the topic's pending diff now, e.g. before a new subscriber gets a snapshot, so
        that the snapshot and the next diff join up for every connection."""
        lv = self.live.get(topic)
        if lv is not None:
            self._flush(topic, lv)

    def flush_cadence(self, interval_ms: float) -> None:
        for topic, lv in list(self.live.items()):
            if lv.topic.interval_ms == interval_ms:
                self._flush(topic, lv)

    def start(self, cadences_ms: set[float]) -> None:
        """One timer per positive cadence the dialect serves."""
        loop = asyncio.get_running_loop()
        for ms in sorted(cadences_ms):
            if ms > 0:
                self._tasks.append(loop.create_task(every(ms / 1000.0, lambda ms=ms: self.flush_cadence(ms))))

    async def stop(self) -> None:
        await cancel_tasks(self._tasks)


class TopOfBook:
    """Best bid/ask as last published, per symbol."""

    def __init__(self, venue: SimVenue) -> None:
        self.venue = venue
        self._last: dict[str, tuple] = {}

    def changed(self, symbol: str) -> tuple[tuple[int, int], tuple[int, int]] | None:
        """The new (best bid, best ask) if both sides exist and differ from the last call's."""
        m = self.venue.markets[symbol]
        bb, ba = m.best_bid(), m.best_ask()
        if bb is None or ba is None or self._last.get(symbol) == (bb, ba):
            return None
        self._last[symbol] = (bb, ba)
        return bb, ba


class AccountStreams:
    """Account-event subscriptions over WS connections of a hub."""

    def __init__(self, hub: WsHub) -> None:
        self._subs: dict[str, dict[WsConn, int]] = {}  # account -> {conn: subscription id}
        self._of_conn: dict[WsConn, dict[int, str]] = {}  # conn -> {subscription id: account}
        self._next: dict[WsConn, int] = {}
        hub.on_remove.append(self.drop)

    def subscribe(self, conn: WsConn, account: str) -> int | None:
        """A new subscription id (0, 1, ... per connection); None if ``conn`` already has ``account``."""
        by_conn = self._subs.setdefault(account, {})
        if conn in by_conn:
            return None
        sid = self._next.get(conn, 0)
        self._next[conn] = sid + 1
        by_conn[conn] = sid
        self._of_conn.setdefault(conn, {})[sid] = account
        return sid

    def unsubscribe(self, conn: WsConn, sid: int | None = None) -> list[int]:
        """Drop one subscription (or all of ``conn``'s with ``sid=None``); returns the ids dropped."""
        mine = self._of_conn.get(conn, {})
        gone = [s for s in mine if sid is None or s == sid]
        for s in gone:
            acct = mine.pop(s)
            self._subs.get(acct, {}).pop(conn, None)
        return gone

    def subscriptions(self, conn: WsConn) -> list[int]:
        return sorted(self._of_conn.get(conn, {}))

    def drop(self, conn: WsConn) -> None:
        self.unsubscribe(conn)
        self._of_conn.pop(conn, None)
        self._next.pop(conn, None)

    def publish(self, account: str, raw: str, wrap: Callable[[int, str], str] | None = None) -> int:
        """Send ``raw`` (``wrap(subscription id, raw)`` when given) to the account's subscribers."""
        subs = self._subs.get(account)
        if not subs:
            return 0
        for conn, sid in list(subs.items()):
            conn.send(raw if wrap is None else wrap(sid, raw))
        return len(subs)
