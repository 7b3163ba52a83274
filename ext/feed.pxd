# SPDX-License-Identifier: Apache-2.0
# Frame path shared by every venue: picows listener -> venue FrameParser (C vtable call) ->
# emit_*() (the one place for per-message bookkeeping: latency stamps, book sync, checksum,
# trade dedupe, dispatch) -> FeedSink (cdef methods; PySink forwards to a Python object).
# A venue parser subclasses FrameParser, overrides on_frame() and only decodes.
cimport cython
from libc.stdint cimport int64_t, uint32_t
from picows.picows cimport WSListener, WSTransport, WSFrame
from venuelink.ext.book cimport L2Book
from venuelink.ext.sync cimport BookSync
from venuelink.ext.checksum cimport Checksum
from venuelink.ext.histogram cimport Histogram
from venuelink.ext.clock cimport FrameClock
from venuelink.ext.types cimport VlLevels
from venuelink.ext.events cimport Trade

cpdef enum TradeIds:
    TRADE_IDS_INCREASING = 1   # integer ids that only grow per symbol: replays dropped by comparison
    TRADE_IDS_OPAQUE = 2       # string / unordered ids (Bybit UUIDs): a bounded window of recent ids

cpdef enum Control:
    CTRL_OTHER = 0             # anything else the venue sends that is not market data
    CTRL_SUBSCRIBED = 1        # subscribe acknowledged (req_id / topic)
    CTRL_UNSUBSCRIBED = 2
    CTRL_ERROR = 3             # an error reply (subscribe refused, bad request, rate limited)
    CTRL_PONG = 4              # answer to an application-level ping
    CTRL_SHUTDOWN = 5          # the venue announces it will close this connection
    CTRL_STATUS = 6            # venue status / maintenance notice
    CTRL_LOGIN = 7             # login acknowledged

cdef class FeedSymbol:
    cdef readonly object instrument
    """venuelink.model.Instrument"""
    cdef readonly bytes venue_symbol
    cdef readonly L2Book book
    cdef readonly BookSync sync
    cdef readonly int px_scale
    cdef readonly int qty_scale
    cdef readonly int64_t max_px
    """the instrument's highest valid price (mantissa; 0: none): above it a value is impossible"""
    cdef public Checksum checksum
    """the venue's book checksum for this instrument (None: the venue publishes none)"""
    cdef public bint want_book
    """emit on_book_applied() after every applied book message"""
    cdef public bint want_deltas
    """emit on_delta()/on_snapshot() with the decoded levels before they are applied (replay)"""
    cdef public bint want_trades
    cdef public bint want_top
    cdef public bint want_derivs
    """emit on_derivative() for mark / index price, funding, open interest, liquidations"""
    cdef readonly int64_t n_msgs
    cdef public dict channel_state
    """what a venue's Python-decoded channel remembers of this symbol between pushes (Bybit's
    tickers send only the fields that changed): {} until it keeps something; off the hot path"""
    cdef public int64_t max_lag_ns
    """data older than this (receive time - exchange time) is stale, whatever the socket does
    (0: not checked)"""
    cdef readonly int64_t n_lagging
    cdef readonly int trade_ids
    """TradeIds"""
    cdef public int64_t last_trade_id
    """highest trade id delivered (TRADE_IDS_INCREASING; -1: none since the last reset). Dedupe
    does not depend on it: replays and rotation overlap are found among the recent ids"""
    cdef readonly int64_t n_dup_trades
    cdef set _recent_ids               # TRADE_IDS_OPAQUE: the ids remembered ...
    cdef object _recent_order          # ... and the same ids oldest first (a deque: O(1) at both ends)
    cdef public Py_ssize_t max_recent_ids
    cdef int64_t *_ring                # TRADE_IDS_INCREASING: the last RECENT_INT_IDS ids delivered, then
                                       # their TID_SLOTS-byte hash table (one TID_BYTES block, lazily)
    cdef Py_ssize_t _ring_n
    cdef Py_ssize_t _ring_pos          # the next ring place written (the oldest id once full)
    cdef int64_t _tid_last             # the last id delivered
    cdef Py_ssize_t _tid_run           # the newest ids that run consecutively up to _tid_last
    cdef Py_ssize_t _tid_nhash         # ids in the hash table (the others of the ring)
    cdef readonly int64_t last_data_mono
    """monotonic ns of the last book message of this symbol (snapshot, update or keep-alive): data
    silence is judged from this, never from pings or other channels (0: none yet)"""
    cdef int64_t _ck_seq[32]           # the last CK_STATES verified book states: (seq, venue checksum)
    cdef uint32_t _ck_crc[32]
    cdef int _ck_n
    cdef int _ck_pos
    cdef readonly int64_t n_unknown_old_states
    """old updates whose checksum matches no recent state of the book: a missed sequence reset"""

    cdef bint seen_trade(self, int64_t tid, str tid_str) except -1
    cdef void remember_state(self, int64_t seq, uint32_t crc) noexcept
    cdef bint known_state(self, int64_t seq, uint32_t crc) noexcept

cdef class FeedSink:
    """Receives what the parsers emit. Subclass in Cython and override the cdef methods for a
    C-level consumer; PySink forwards to a Python object."""
    cdef int on_delta(self, FeedSymbol fs, int64_t first, int64_t last, int64_t ts_exchange,
                      int64_t ts_recv) except -1
    cdef int on_snapshot(self, FeedSymbol fs, int64_t seq, int64_t ts_exchange, int64_t ts_recv) except -1
    cdef int on_book_applied(self, FeedSymbol fs) except -1
    cdef int on_trade(self, Trade trade) except -1
    cdef int on_top(self, FeedSymbol fs, int64_t bid_px, int64_t bid_qty, int64_t ask_px, int64_t ask_qty,
                    int64_t seq, int64_t ts_exchange, int64_t ts_recv) except -1
    cdef int on_derivative(self, object ev) except -1
    cdef int on_control(self, int kind, object topic, int64_t req_id, bytes raw) except -1
    cdef int on_decode_error(self, object exc, bytes raw) except -1

cdef class PySink(FeedSink):
    cdef readonly object target
    cdef object _delta, _snapshot, _applied, _trade, _top, _deriv, _control, _error

cdef class FrameParser:
    cdef readonly object venue
    cdef FeedSink _sink
    cdef public object control
    """Python object with on_control(kind, topic, req_id, raw) for control messages of this
    connection (the session: acks, errors, pongs, shutdown notices); None: they go to the sink."""
    cdef dict _symbols                 # venue symbol bytes -> FeedSymbol
    cdef FeedSymbol _last              # last symbol looked up: most frames repeat it
    cdef readonly int64_t n_frames
    cdef readonly int64_t n_errors
    """frames dropped because they could not be decoded (venue or wire fault)"""
    cdef readonly int64_t n_sink_errors
    """exceptions raised by consumers (strategy callbacks): counted apart from venue faults"""
    cdef readonly int64_t n_unknown_symbol
    cdef readonly int64_t n_control
    cdef readonly int64_t n_checksum_failures
    cdef readonly int64_t checksum_streak
    cdef readonly int64_t n_checksum_zero
    """book messages whose checksum field was 0 (not checked)"""
    cdef readonly int64_t zero_checksum_run
    cdef public int64_t max_checksum_streak
    cdef public bint checksum_off
    """checksum validation switched off after a run of failures (the venue's checksums are wrong)"""
    cdef readonly int64_t conn_seq
    """last connection-scoped sequence number (-1: none yet on this connection)"""
    cdef readonly int64_t n_conn_gaps
    cdef public bint trade_block
    """set by a parser around emit_trade: the trade is a block trade (Trade.block)"""
    cdef readonly Histogram recv_to_decoded
    """frame arrival -> fields decoded (ns)"""
    cdef readonly Histogram decoded_to_applied
    """fields decoded -> book applied (ns)"""
    cdef int on_frame(self, const char *p, size_t n, int64_t ts_recv, int64_t recv_mono) except -1
    cdef int handle(self, const char *p, size_t n, int64_t ts_recv, int64_t recv_mono) noexcept
    cdef FeedSymbol lookup(self, const char *s, size_t n)
    cdef void sink_failed(self, BaseException e)
    # ---- what parsers call once a message is decoded ----
    @cython.final
    cdef int emit_delta(self, FeedSymbol fs, int64_t first, int64_t last, int64_t prev,
                        const VlLevels *bids, const VlLevels *asks, int64_t ts_exchange, int64_t ts_recv,
                        int64_t recv_mono, bint has_checksum, uint32_t checksum) except -1
    @cython.final
    cdef int emit_snapshot(self, FeedSymbol fs, int64_t seq, const VlLevels *bids, const VlLevels *asks,
                           int64_t ts_exchange, int64_t ts_recv, int64_t recv_mono, bint has_checksum,
                           uint32_t checksum) except -1
    @cython.final
    cdef int emit_trade(self, FeedSymbol fs, int64_t trade_id, str trade_id_str, int64_t price, int64_t size,
                        object side, int64_t ts_exchange, int64_t ts_recv) except -1
    @cython.final
    cdef int emit_top(self, FeedSymbol fs, int64_t bid_px, int64_t bid_qty, int64_t ask_px, int64_t ask_qty,
                      int64_t seq, int64_t ts_exchange, int64_t ts_recv) except -1
    @cython.final
    cdef int emit_derivative(self, FeedSymbol fs, object ev) except -1
    @cython.final
    cdef int emit_control(self, int kind, object topic, int64_t req_id, const char *p, size_t n) except -1
    @cython.final
    cdef int check_conn_seq(self, int64_t seq) except -1
    @cython.final
    cdef int _check_old(self, FeedSymbol fs, int64_t seq, uint32_t checksum) except -1
    @cython.final
    cdef int _verify(self, FeedSymbol fs, uint32_t checksum) except -1
    @cython.final
    cdef int _applied(self, FeedSymbol fs) except -1

cdef class FeedListener(WSListener):
    cdef readonly FrameParser parser
    cdef public object session
    """Python object: on_connected(transport), on_disconnected(), on_close_frame(code, msg)"""
    cdef readonly int64_t last_frame_mono
    cdef FrameClock clock
    cdef readonly int64_t n_frames
