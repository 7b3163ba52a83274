# SPDX-License-Identifier: Apache-2.0
"""Reference twin of venuelink.ext.sync.BookSync: the same rules over a dict book and a Python buffer."""
from venuelink.ext.ref.book_ref import ASK, BID, RefBook

FIRST_LAST, PREV, NONE = 1, 2, 3
SYNCING, LIVE, STALE, INVALID = 1, 2, 3, 4
APPLIED, BUFFERED, STALE_DROP, GAP, SNAPSHOT_OLD = 1, 2, 3, 4, 5


class RefSync:
    def __init__(self, rule: int, max_stale_run: int = 100, depth_cap: int = 0) -> None:
        self.rule = rule
        self.max_stale_run = max_stale_run
        self.stale_run = 0
        self.book = RefBook(0, 0, depth_cap)
        self.seq = -1
        self.state = SYNCING
        self.pending: list = []
        self.fresh = False
        self.requested = False
        self.requests: list[str] = []
        self.n_gaps = self.n_stale = self.n_snapshots = self.n_applied = 0

    def _check(self, first, last, prev):
        if self.rule == NONE:
            return APPLIED
        if self.rule == FIRST_LAST:
            if last <= self.seq:
                return STALE_DROP
            return APPLIED if first <= self.seq + 1 else GAP
        # PREV: continuity first (a legal sequence reset has last < prev == book id)
        if prev == self.seq:
            return APPLIED
        if self.fresh and first <= self.seq <= last:
            return APPLIED
        if last <= self.seq and prev <= last:
            return STALE_DROP
        return GAP

    def _apply(self, last, bids, asks):
        cap, self.book.depth_cap = self.book.depth_cap, 0      # the message whole, then cut to the depth
        for p, q in bids:
            self.book.apply(BID, p, q)
        for p, q in asks:
            self.book.apply(ASK, p, q)
        self.book.depth_cap = cap
        self.book._cap(BID)
        self.book._cap(ASK)
        if last >= 0:
            self.seq = last
        self.n_applied += 1
        self.fresh = False
        self.stale_run = 0

    def _request(self, reason):
        self.requested = True
        self.requests.append(reason)

    def _invalidate(self, reason):
        self.fresh = False
        self.state = INVALID
        self._request(reason)

    def delta(self, first, last, prev, bids, asks):
        if self.state in (SYNCING, INVALID):
            if self.rule == NONE:
                return BUFFERED
            self.pending.append((first, last, prev, list(bids), list(asks)))
            if not self.requested:
                self._request("sync")
            return BUFFERED
        r = self._check(first, last, prev)
        if r == APPLIED:
            self._apply(last, bids, asks)
            if self.state == STALE:
                self.state = LIVE
            if self.book.is_crossed():
                self._invalidate("crossed")
            return APPLIED
        if r == STALE_DROP:
            self.n_stale += 1
            self.stale_run += 1
            if self.stale_run < self.max_stale_run:
                return r
            self.stale_run = 0
        self.n_gaps += 1
        self._invalidate("gap")
        self.pending.append((first, last, prev, list(bids), list(asks)))
        return GAP

    def snapshot(self, seq, bids, asks):
        pending = self.pending
        if self.rule != NONE and pending:
            first0, prev0 = pending[0][0], pending[0][2]
            if (seq < first0 - 1) if self.rule == FIRST_LAST else (seq < first0 and prev0 != seq):
                self.pending = [p for p in pending if p[1] > seq]
                self._request("old")
                return SNAPSHOT_OLD
        self.book.snapshot(bids, asks)
        self.seq = seq
        self.n_snapshots += 1
        self.requested = False
        self.fresh = True
        self.stale_run = 0
        self.pending = []
        self.state = LIVE
        for i, (first, last, prev, b, a) in enumerate(pending):
            r = self._check(first, last, prev)
            if r == STALE_DROP:
                continue
            if r == GAP:
                self.n_gaps += 1
                self._invalidate("gap")
                self.pending = pending[i:]
                return GAP
            self._apply(last, b, a)
        if self.book.is_crossed():
            self._invalidate("crossed")
            return GAP
        return APPLIED
