# SPDX-License-Identifier: Apache-2.0
"""Book synchronisation: snapshot + buffered deltas with the venue's continuity rule.

The documented procedure (Binance spot's wording; other venues are the same shape): buffer
deltas, fetch a snapshot, drop buffered deltas the snapshot already contains, require the
first remaining one to straddle the snapshot id, then require continuity for every delta.
A break is a gap: the book becomes INVALID (never handed out as live), deltas are buffered
again and one snapshot is requested through the listener, which rate-limits and jitters it.
"""
import logging

from libc.stdint cimport int64_t
from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING, PyBytes_GET_SIZE
from venuelink.ext.types cimport VlLevels, BID, ASK
from venuelink.ext.book cimport L2Book

cdef enum:
    DEFAULT_MAX_PENDING = 20000
    DEFAULT_MAX_STALE_RUN = 100     # consecutive "older than the book" updates that mean a reset

log = logging.getLogger("venuelink.sync")


cdef bytes _pack(const VlLevels *l):
    """px and qty arrays back to back (buffered deltas only: off the live path)."""
    cdef Py_ssize_t nb = l.n * sizeof(int64_t)
    cdef bytes out = PyBytes_FromStringAndSize(NULL, 2 * nb)
    cdef char *p = PyBytes_AS_STRING(out)
    if nb:
        memcpy(p, l.px, nb)
        memcpy(p + nb, l.qty, nb)
    return out


cdef extern from "string.h" nogil:
    void *memcpy(void *dst, const void *src, size_t n)


cdef inline void _view(bytes packed, VlLevels *out):
    cdef Py_ssize_t n = PyBytes_GET_SIZE(packed) // (2 * sizeof(int64_t))
    out.px = <int64_t *>PyBytes_AS_STRING(packed)
    out.qty = out.px + n
    out.n = n
    out.cap = n


cdef class BookSync:
    def __cinit__(self, L2Book book, int rule, object key=None, object listener=None):
        if rule not in (SEQ_FIRST_LAST, SEQ_PREV, SEQ_NONE):
            raise ValueError(f"unknown sequence rule {rule}")
        self.book = book
        self.rule = rule
        self.key = key
        self.listener = listener
        self.state = BOOK_SYNCING
        self._pending = []
        self.max_pending = DEFAULT_MAX_PENDING
        self.max_stale_run = DEFAULT_MAX_STALE_RUN
        self.buffering = True

    # ---- the per-message path ------------------------------------------------------------
    cdef int _check(self, int64_t first, int64_t last, int64_t prev) noexcept:
        """SYNC_APPLIED if the delta continues the book, SYNC_STALE_DROP if it is old,
        SYNC_GAP otherwise. Continuity is tested before staleness: a venue may restart its
        sequence lower (OKX after maintenance: seqId < prevSeqId == the book's id), which is
        legal and must be applied, not dropped as old."""
        cdef int64_t cur = self.book.seq
        if self.rule == SEQ_NONE:
            return SYNC_APPLIED
        if self.rule == SEQ_FIRST_LAST:
            if last <= cur:
                return SYNC_STALE_DROP
            return SYNC_APPLIED if first <= cur + 1 else SYNC_GAP
        # SEQ_PREV: `prev` is the predecessor's id; `first` the delta's own first id (or its last)
        if prev == cur:
            return SYNC_APPLIED
        if self._fresh and first <= cur and cur <= last:
            return SYNC_APPLIED            # first delta after a REST snapshot straddles it
        if last <= cur and prev <= last:
            return SYNC_STALE_DROP         # an ordinary message older than the book
        return SYNC_GAP                    # forward gap, or a sequence reset we cannot bridge

    cdef int _apply(self, int64_t last, const VlLevels *bids, const VlLevels *asks,
                    int64_t ts_exchange, int64_t ts_recv) except -1:
        cdef size_t i
        cdef L2Book b = self.book
        cdef Py_ssize_t cap = b.depth_cap
        # a message is applied whole, then cut to the depth: the levels it moves into and out of
        # a venue's N-level window may come in any order (an insertion listed before the deletion
        # that makes room for it must not be refused as beyond a full book)
        b.depth_cap = 0
        for i in range(bids.n):
            b.apply_level(BID, bids.px[i], bids.qty[i])
        for i in range(asks.n):
            b.apply_level(ASK, asks.px[i], asks.qty[i])
        b.depth_cap = cap
        b.trim()
        if last >= 0:
            b.seq = last
        b.ts_exchange_ns = ts_exchange
        b.ts_recv_ns = ts_recv
        self.n_applied += 1
        self._fresh = False
        self._stale_run = 0
        return 0

    cdef int on_delta(self, int64_t first, int64_t last, int64_t prev, const VlLevels *bids,
                      const VlLevels *asks, int64_t ts_exchange, int64_t ts_recv) except -1:
        cdef int r
        self.ts_last_recv = ts_recv
        if self.state == BOOK_SYNCING or self.state == BOOK_INVALID:
            if self.rule == SEQ_NONE or not self.buffering:
                # nothing to replay against: the snapshot arrives in-band after (re)subscribing
                self.n_dropped_syncing += 1
                return SYNC_BUFFERED
            if len(self._pending) >= self.max_pending:
                self._pending.clear()         # snapshot is not coming: start over
                self._request_snapshot("buffer overflow while syncing")
            self._pending.append((first, last, prev, ts_exchange, ts_recv, _pack(bids), _pack(asks)))
            self.n_buffered += 1
            if not self._snapshot_requested:
                self._request_snapshot("initial sync" if self.state == BOOK_SYNCING else "resync")
            return SYNC_BUFFERED
        r = self._check(first, last, prev)
        if r == SYNC_APPLIED:
            self.cur_bids = bids
            self.cur_asks = asks
            self._apply(last, bids, asks, ts_exchange, ts_recv)
            if self.hold_stale:
                if self.state == BOOK_LIVE:
                    self._set_state(BOOK_STALE)
            elif self.state == BOOK_STALE:
                self._set_state(BOOK_LIVE)
            if self.book.crossed():
                self.n_crossed += 1
                self._invalidate("crossed book")
            return SYNC_APPLIED
        if r == SYNC_STALE_DROP:
            self.n_stale += 1
            self._stale_run += 1
            if self._stale_run < self.max_stale_run:
                return r
            # every update is "older" than the book: the venue's sequence went backwards and the
            # reset itself was missed. Dropping forever would freeze a book that claims to be live.
            self._stale_run = 0
            reason = (f"{self.max_stale_run} consecutive updates older than the book (at {self.book.seq}, "
                      f"last {first}..{last}): sequence reset")
        else:
            reason = f"sequence gap: book at {self.book.seq}, delta {first}..{last} prev {prev}"
        self.n_gaps += 1
        self._invalidate(reason)
        if self.buffering and self.rule != SEQ_NONE:
            self._pending.append((first, last, prev, ts_exchange, ts_recv, _pack(bids), _pack(asks)))
        return SYNC_GAP

    cdef int on_snapshot(self, int64_t seq, const VlLevels *bids, const VlLevels *asks,
                         int64_t ts_exchange, int64_t ts_recv) except -1:
        """Install a snapshot, then replay the buffered deltas by the rule."""
        cdef L2Book b = self.book
        cdef VlLevels vb, va
        cdef int r
        cdef list pending = self._pending
        cdef Py_ssize_t i, n = len(pending)
        # a snapshot older than the buffered stream cannot be bridged: ask again, keep buffering
        if self.rule != SEQ_NONE and n:
            first0 = pending[0][0]
            prev0 = pending[0][2]
            if seq < first0 - 1 if self.rule == SEQ_FIRST_LAST else (seq < first0 and prev0 != seq):
                self._pending = [p for p in pending if p[1] > seq]
                self._request_snapshot("snapshot older than the buffered deltas")
                return SYNC_SNAPSHOT_OLD
        b.set_side(BID, bids.px, bids.qty, bids.n)
        b.set_side(ASK, asks.px, asks.qty, asks.n)
        b.seq = seq
        b.ts_exchange_ns = ts_exchange
        b.ts_recv_ns = ts_recv
        self.n_snapshots += 1
        self._snapshot_requested = False
        self._fresh = True
        self._stale_run = 0
        self._pending = []
        self._set_state(BOOK_LIVE)
        for i in range(n):
            first, last, prev, te, tr, pb, pa = pending[i]
            r = self._check(first, last, prev)
            if r == SYNC_STALE_DROP:
                continue
            if r == SYNC_GAP:
                self.n_gaps += 1
                self._invalidate(f"sequence gap replaying buffer: book at {b.seq}, delta {first}..{last}")
                self._pending = pending[i:]
                return SYNC_GAP
            _view(pb, &vb)
            _view(pa, &va)
            self._apply(last, &vb, &va, te, tr)
        if b.crossed():
            self.n_crossed += 1
            self._invalidate("crossed book after snapshot")
            return SYNC_GAP
        return SYNC_APPLIED

    # ---- state ----------------------------------------------------------------------------
    cdef void _set_state(self, int state):
        cdef int old = self.state
        if old == state:
            return
        self.state = state
        if self.listener is not None:
            try:
                self.listener.on_state(self, old, state)
            except Exception as e:
                # the listener isolates strategy callbacks itself; whatever still escapes is
                # counted and logged here, and never stops the state change
                self.n_listener_errors += 1
                if self.n_listener_errors <= 10 or self.n_listener_errors % 1000 == 0:
                    log.error("book state listener failed (%d so far): %s: %s", self.n_listener_errors,
                              type(e).__name__, e)

    cdef void _invalidate(self, str reason):
        self.n_resyncs += 1
        self._fresh = False
        self._set_state(BOOK_INVALID)
        self._request_snapshot(reason)

    def _request_snapshot(self, str reason):
        self._snapshot_requested = True
        if self.listener is not None:
            self.listener.on_need_snapshot(self, reason)

    # ---- Python API ------------------------------------------------------------------------
    def invalidate(self, str reason) -> None:
        """Mark the book invalid (venue reset, connection-level gap) and request a snapshot."""
        self._invalidate(reason)

    cdef void checksum_failed(self, str reason):
        self.n_checksum_failures += 1
        self._invalidate(reason)

    def mark_stale(self) -> None:
        if self.state == BOOK_LIVE:
            self._set_state(BOOK_STALE)

    def confirm_live(self) -> bool:
        """The venue's own book was found equal to this one (a quiet market, not a lost stream):
        a STALE book is LIVE again, unless its data is lagging. True if the state changed."""
        if self.state == BOOK_STALE and not self.hold_stale:
            self._set_state(BOOK_LIVE)
            return True
        return False

    def reset(self) -> None:
        """Back to SYNCING with an empty book (after a reconnect)."""
        self._pending = []
        self._snapshot_requested = False
        self._fresh = False
        self._stale_run = 0
        self.book.clear()
        self._set_state(BOOK_SYNCING)

    @property
    def is_live(self) -> bool:
        return self.state == BOOK_LIVE

    @property
    def pending(self) -> int:
        return len(self._pending)

    def current_levels(self) -> tuple:
        """(bids, asks) of the message being applied, as (px, qty) lists (inside callbacks)."""
        cdef size_t i
        if self.cur_bids == NULL:
            return [], []
        return ([(self.cur_bids.px[i], self.cur_bids.qty[i]) for i in range(self.cur_bids.n)],
                [(self.cur_asks.px[i], self.cur_asks.qty[i]) for i in range(self.cur_asks.n)])

    def delta(self, int64_t first, int64_t last, int64_t prev, bids, asks, int64_t ts_exchange=0,
              int64_t ts_recv=0) -> int:
        """Python entry (tests, reference comparisons): bids/asks as (px, qty) lists."""
        cdef VlLevels vb, va
        cdef bytes pb = _pack_list(bids), pa = _pack_list(asks)
        _view(pb, &vb)
        _view(pa, &va)
        r = self.on_delta(first, last, prev, &vb, &va, ts_exchange, ts_recv)
        self.cur_bids = NULL
        self.cur_asks = NULL
        return r

    def snapshot(self, int64_t seq, bids, asks, int64_t ts_exchange=0, int64_t ts_recv=0) -> int:
        cdef VlLevels vb, va
        cdef bytes pb = _pack_list(bids), pa = _pack_list(asks)
        _view(pb, &vb)
        _view(pa, &va)
        return self.on_snapshot(seq, &vb, &va, ts_exchange, ts_recv)


cdef bytes _pack_list(levels):
    from array import array
    levels = list(levels)
    px = array("q", [p for p, _ in levels])
    qty = array("q", [q for _, q in levels])
    return px.tobytes() + qty.tobytes()
