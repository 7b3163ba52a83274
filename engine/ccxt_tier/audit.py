# SPDX-License-Identifier: Apache-2.0
"""The venue's REST book held against the stream's, for feeds whose frames cannot show a lost
update (no sequence number, no checksum: Gemini's v2 ``l2``, Bitstamp's ``diff_order_book``).

Nothing in such a feed tells a lost update from none, so the book it builds may be wrong with
every check passing. The worker asks the venue's REST book of each symbol now and then and
compares it with the stream's, level by level, over the top ``LEVELS`` of each side. The two
are never taken at the same instant, so a level is compared only when the stream has left it
alone from ``margin_s`` before the REST request was sent until the comparison, which waits
``margin_s`` after the answer: a change in flight on either path makes that level's difference
no evidence. Only the price range both books cover is compared (a REST answer or a stream book
cut at ``LEVELS`` says nothing beyond its last level). A level that differs anyway is a lost
update (or a venue whose REST book lags more than ``margin_s``): the book is invalidated and
subscribed again, counted as ``audit_failures``.

What the stream changed is found by comparing each book CCXT hands out with the one before (top
``LEVELS`` per side), so it works for any exchange without reading its frames.
"""
from __future__ import annotations

import time
from typing import Any, Callable

#: exchanges whose book feed carries no sequence or checksum, and how often (s) each of their
#: books is held against the REST book by default (one REST request per symbol per period)
DEFAULT_AUDIT_S: dict[str, float] = {"gemini": 30.0, "bitstamp": 30.0}
LEVELS = 25
MARGIN_S = 2.0


def _top(rows: Any, n: int) -> dict[float, float]:
    out: dict[float, float] = {}
    for row in rows[:n]:
        out[float(row[0])] = float(row[1])
    return out


class BookAudit:
    def __init__(self, margin_s: float = MARGIN_S, levels: int = LEVELS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.margin_s = margin_s
        self.levels = levels
        self.clock = clock
        self.seen: dict[str, tuple[dict[float, float], dict[float, float]]] = {}
        self.touched: dict[str, dict[tuple[int, float], float]] = {}   # (side, price) -> last change
        self.since: dict[str, float] = {}          # when the stream's current book of a symbol began

    def reset(self, symbol: str) -> None:
        """The stream's book of `symbol` starts over (invalid, or a new subscription)."""
        self.seen.pop(symbol, None)
        self.touched.pop(symbol, None)
        self.since.pop(symbol, None)

    def observe(self, symbol: str, ob: Any) -> None:
        """A book of `symbol` as CCXT handed it out (``bids`` / ``asks`` best first)."""
        now = self.clock()
        cur = (_top(ob["bids"], self.levels), _top(ob["asks"], self.levels))
        prev = self.seen.get(symbol)
        self.seen[symbol] = cur
        if prev is None:
            self.since[symbol] = now
            self.touched[symbol] = {}
            return
        touched = self.touched[symbol]
        for side in (0, 1):
            a, b = prev[side], cur[side]
            for p in a.keys() | b.keys():
                if a.get(p) != b.get(p):
                    touched[(side, p)] = now
        if len(touched) > 8 * self.levels:         # forget changes too old to matter
            old = now - 4 * self.margin_s
            for k in [k for k, t in touched.items() if t < old]:
                del touched[k]

    def ready(self, symbol: str) -> bool:
        """The stream's book of `symbol` is old enough to be compared."""
        since = self.since.get(symbol)
        return since is not None and self.clock() - since > self.margin_s

    def compare(self, symbol: str, rest: Any, asked_at: float) -> str:
        """"" when the REST book (asked at `asked_at`, this clock) agrees with the stream's on every
        level the stream left alone, else what differs."""
        since = self.since.get(symbol)
        cur = self.seen.get(symbol)
        if since is None or cur is None or since > asked_at - self.margin_s:
            return ""                       # a new book since the request: nothing to compare
        touched = self.touched.get(symbol, {})
        quiet_before = asked_at - self.margin_s
        for side, key in ((0, "bids"), (1, "asks")):
            venue = _top(rest[key], self.levels)
            mine = cur[side]
            if not venue and not mine:
                continue
            better = (lambda p, q: p > q) if side == 0 else (lambda p, q: p < q)
            # the range both cover: down to the nearer of the two books' cut-off levels
            cuts = [worst for book in (venue, mine) if len(book) >= self.levels
                    for worst in [min(book) if side == 0 else max(book)]]
            bound = (max(cuts) if side == 0 else min(cuts)) if cuts else None
            for p in venue.keys() | mine.keys():
                if bound is not None and better(bound, p):
                    continue
                if touched.get((side, p), float("-inf")) >= quiet_before:
                    continue
                if venue.get(p, 0.0) != mine.get(p, 0.0):
                    return (f"REST audit: {key[:-1]} {p:g}: the venue's book has {venue.get(p, 0.0):g}, "
                            f"the stream's {mine.get(p, 0.0):g} (unchanged for {self.margin_s:g}s before the request)")
        return ""
