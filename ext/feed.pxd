# SPDX-License-Identifier: Apache-2.0
# Frame path shared by every venue: picows listener -> venue FrameParser (C vtable call) ->
# BookSync/L2Book. A venue parser subclasses FrameParser and overrides on_frame().
from libc.stdint cimport int64_t
from picows.picows cimport WSListener, WSTransport, WSFrame
from ext.book cimport L2Book
from ext.sync cimport BookSync
from ext.histogram cimport Histogram

cdef class FeedSymbol:
    cdef readonly object instrument
    """engine.model.Instrument"""
    cdef readonly bytes venue_symbol
    cdef readonly L2Book book
    cdef readonly BookSync sync
    cdef readonly int px_scale
    cdef readonly int qty_scale
    cdef public bint want_book
    """emit on_book() after every applied book message"""
    cdef public bint want_trades
    cdef public bint want_top
    cdef readonly int64_t n_msgs
    cdef public int64_t last_trade_id
    """highest trade id seen (venues with increasing ids): drops replays and rotation overlap"""
    cdef readonly int64_t n_dup_trades

cdef class FrameParser:
    cdef readonly object venue
    cdef public object sink
    """Python object receiving events: on_delta(fs, first, last, ts_exchange, ts_recv) and
    on_snapshot(fs, seq, ts_exchange, ts_recv) as decoded (levels: fs.sync.current_levels()),
    on_book_applied(fs), on_trade(trade), on_top(fs, bids, asks, seq, ts_exchange, ts_recv),
    on_venue_message(kind, raw), on_decode_error(exc, raw)."""
    cdef dict _symbols                 # venue symbol bytes -> FeedSymbol
    cdef FeedSymbol _last              # last symbol looked up: most frames repeat it
    cdef readonly int64_t n_frames
    cdef readonly int64_t n_errors
    cdef readonly int64_t n_unknown_symbol
    cdef readonly Histogram recv_to_decoded
    """frame arrival -> fields decoded (ns)"""
    cdef readonly Histogram decoded_to_applied
    """fields decoded -> book applied (ns)"""
    cdef int on_frame(self, const char *p, size_t n, int64_t ts_recv, int64_t recv_mono) except -1
    cdef int handle(self, const char *p, size_t n, int64_t ts_recv, int64_t recv_mono) noexcept
    cdef FeedSymbol lookup(self, const char *s, size_t n)

cdef class FeedListener(WSListener):
    cdef readonly FrameParser parser
    cdef public object session
    """Python object: on_connected(transport), on_disconnected(), on_control_frame(frame_type)"""
    cdef readonly int64_t last_frame_mono
    cdef readonly int64_t n_frames
