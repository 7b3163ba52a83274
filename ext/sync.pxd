# SPDX-License-Identifier: Apache-2.0
# Snapshot + delta book synchronisation, shared by every venue. A venue parser decodes a frame
# into VlLevels and hands the ids to BookSync, which decides (C, per message): apply, buffer,
# drop as stale, or declare a gap. Rules are data (SeqRule), not per-venue code.
from libc.stdint cimport int64_t
from venuelink.ext.types cimport VlLevels
from venuelink.ext.book cimport L2Book

cpdef enum SeqRule:
    SEQ_FIRST_LAST = 1   # delta carries [first, last] ids; continuity first <= prev_last + 1 <= last (Binance spot U/u, Gate)
    SEQ_PREV = 2         # delta carries its predecessor's id: prev == book id (Binance USD-M pu, OKX prevSeqId, Deribit)
    SEQ_NONE = 3         # no ids: snapshots arrive in-band, integrity by checksum (Bybit, Kraken)

cpdef enum BookStateC:
    BOOK_SYNCING = 1     # no snapshot yet: deltas are buffered
    BOOK_LIVE = 2
    BOOK_STALE = 3       # live but silent past the stale timeout (set by the engine)
    BOOK_INVALID = 4     # gap / checksum / crossed: deltas buffered until a new snapshot

cpdef enum SyncResult:
    SYNC_APPLIED = 1
    SYNC_BUFFERED = 2
    SYNC_STALE_DROP = 3  # older than the book: dropped and counted
    SYNC_GAP = 4         # continuity broken: book invalid, snapshot requested
    SYNC_SNAPSHOT_OLD = 5  # snapshot older than the buffered stream: another one requested

cdef class BookSync:
    cdef readonly L2Book book
    cdef readonly int rule
    cdef readonly int state
    cdef readonly object key
    """Opaque handle of the owner (the instrument)."""
    cdef public object listener
    """Python object with on_need_snapshot(sync, reason) and on_state(sync, old, new)."""
    cdef list _pending
    cdef public Py_ssize_t max_pending
    cdef public Py_ssize_t max_stale_run
    """consecutive stale drops that are taken as a missed sequence reset (gap)"""
    cdef public bint buffering
    cdef public bint hold_stale
    """set by the frame path while the venue's data lags our clock: applied messages keep a
    STALE book STALE (and make a LIVE one STALE) instead of presenting old prices as live"""
    """buffer deltas while syncing (REST snapshots); False where the snapshot comes in-band"""
    cdef Py_ssize_t _stale_run
    cdef bint _fresh                  # first delta after a snapshot not yet applied
    cdef bint _snapshot_requested
    cdef readonly int64_t n_applied
    cdef readonly int64_t n_buffered
    cdef readonly int64_t n_stale
    cdef readonly int64_t n_gaps
    cdef readonly int64_t n_resyncs
    cdef readonly int64_t n_snapshots
    cdef readonly int64_t n_crossed
    cdef readonly int64_t n_checksum_failures
    cdef readonly int64_t n_dropped_syncing
    """deltas dropped while waiting for an in-band snapshot"""
    cdef readonly int64_t n_listener_errors
    cdef readonly int64_t ts_last_recv
    cdef const VlLevels *cur_bids      # levels of the message being applied (valid in callbacks)
    cdef const VlLevels *cur_asks

    cdef int on_delta(self, int64_t first, int64_t last, int64_t prev, const VlLevels *bids,
                      const VlLevels *asks, int64_t ts_exchange, int64_t ts_recv) except -1
    cdef int on_snapshot(self, int64_t seq, const VlLevels *bids, const VlLevels *asks,
                         int64_t ts_exchange, int64_t ts_recv) except -1
    cdef int _apply(self, int64_t last, const VlLevels *bids, const VlLevels *asks,
                    int64_t ts_exchange, int64_t ts_recv) except -1
    cdef int _check(self, int64_t first, int64_t last, int64_t prev) noexcept
    cdef void _set_state(self, int state)
    cdef void _invalidate(self, str reason)
    cdef void checksum_failed(self, str reason)
