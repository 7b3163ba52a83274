# SPDX-License-Identifier: Apache-2.0
"""The market-data frame path: picows frame -> venue parser -> emit_*() -> book and sink.

Parsers only decode. What every venue does with a decoded message lives here once: latency
stamps, the book-sync call, the checksum comparison after each applied message, trade-id dedupe,
dispatch to the sink, and the isolation of consumer errors (a strategy callback that raises is
counted as a sink error; it never turns into a dropped venue frame and never leaves per-message
state behind).

.. DANGER:: a picows frame's payload is only valid inside on_ws_frame; parsers copy what they
   keep (the JSON extractor copies the frame into its padded buffer first).
"""
import logging
from collections import deque

cimport cython
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t
from libc.string cimport memcmp, memset
from libc.stdlib cimport malloc, free
from cpython.bytes cimport PyBytes_FromStringAndSize
from picows.picows cimport WSListener, WSTransport, WSFrame, WSMsgType
from venuelink.ext.clock cimport now_ns, mono_ns, frame_clock, FrameClock
from venuelink.ext.book cimport L2Book
from venuelink.ext.sync cimport BookSync, SYNC_APPLIED, SYNC_GAP, SYNC_STALE_DROP, BOOK_LIVE, BOOK_STALE
from venuelink.ext.checksum cimport Checksum
from venuelink.ext.histogram cimport Histogram
from venuelink.ext.types cimport VlLevels
from venuelink.ext.events cimport Trade, new_trade, new_trade_str

log = logging.getLogger("venuelink.feed")

cdef enum:
    DEFAULT_RECENT_IDS = 4096      # opaque trade ids remembered per symbol
    RECENT_INT_IDS = 96            # integer trade ids remembered per symbol: the last 96 delivered
    TID_SLOTS = 256                # their hash table: one byte per slot, the id's place in the ring
    TID_MASK = TID_SLOTS - 1
    TID_EMPTY = 255
    TID_BYTES = RECENT_INT_IDS * 8 + TID_SLOTS     # 1 KiB per symbol, allocated on its first trade
    RAW_KEEP = 512                 # bytes of a bad frame kept for the error report
    CK_STATES = 32                 # sizeof FeedSymbol._ck_seq: verified (seq, checksum) states kept
    LATENCY_EVERY = 16             # emit_delta times one message in 16 per symbol (a power of two)

cdef int64_t TS_MIN = 946684800 * <int64_t>1000000000     # 2000-01-01: earlier is not a venue time
cdef int64_t TS_AHEAD = 86400 * <int64_t>1000000000       # a day ahead of our clock: not a venue time


class BadMessage(ValueError):
    """A decoded message with impossible values (non-positive price, negative size, a time that
    is not one, a crossed top of book): dropped and counted like any undecodable frame."""


cdef int _check_levels(const VlLevels *l, int64_t max_px, str side) except -1:
    # max_px: the instrument's highest valid price (0: none stated, any positive price passes)
    cdef size_t i
    for i in range(l.n):
        if l.qty[i] < 0 or l.px[i] <= 0:
            raise BadMessage(f"{side}[{i}]: negative size or non-positive price")
        if max_px and l.px[i] > max_px:
            raise BadMessage(f"{side}[{i}]: price mantissa {l.px[i]} above the instrument's maximum {max_px}")
    return 0


cdef inline int _check_ts(int64_t ts, int64_t ts_recv) except -1:
    if ts != 0 and (ts < TS_MIN or ts > ts_recv + TS_AHEAD):
        raise BadMessage(f"exchange time {ts} ns is not a time")
    return 0


cdef inline int _check_book_message(FeedSymbol fs, const VlLevels *bids, const VlLevels *asks,
                                    int64_t ts_exchange, int64_t ts_recv) except -1:
    _check_levels(bids, fs.max_px, "bids")
    _check_levels(asks, fs.max_px, "asks")
    return _check_ts(ts_exchange, ts_recv)


cdef inline uint32_t _tid_home(int64_t tid) noexcept:
    # Fibonacci hashing: the top 8 bits of id * 2^64/phi; consecutive ids land far apart
    return <uint32_t>((<uint64_t>tid * <uint64_t>0x9E3779B97F4A7C15ULL) >> 56)


cdef inline void _tid_index(const int64_t *ring, uint8_t *slots, uint8_t pos) noexcept:
    # Put ring[pos] in the linear-probing table (never full: 96 ids in 256 slots)
    cdef uint32_t h = _tid_home(ring[pos])
    while slots[h] != TID_EMPTY:
        h = (h + 1) & TID_MASK
    slots[h] = pos


cdef inline void _tid_forget(const int64_t *ring, uint8_t *slots, uint8_t pos) noexcept:
    # Remove ring[pos] from the linear-probing table and shift the rest of its cluster back
    # (no tombstones: probe lengths stay those of a table holding only the live ids)
    cdef uint32_t i = _tid_home(ring[pos]), j, k
    cdef uint8_t s
    while slots[i] != pos:
        i = (i + 1) & TID_MASK
    j = i
    while True:
        j = (j + 1) & TID_MASK
        s = slots[j]
        if s == TID_EMPTY:
            break
        k = _tid_home(ring[s])
        if ((j - k) & TID_MASK) >= ((j - i) & TID_MASK):    # its home is at or before the hole
            slots[i] = s
            i = j
    slots[i] = TID_EMPTY


cdef bint _seen_int_trade(FeedSymbol fs, int64_t tid) except -1:
    # FeedSymbol.seen_trade for an integer id off the run's fast path
    cdef uint32_t h
    cdef uint8_t s, pos
    cdef Py_ssize_t i, run
    cdef uint64_t last
    cdef int64_t *ring = fs._ring
    cdef uint8_t *slots
    if ring == NULL:
        ring = fs._ring = <int64_t *>malloc(TID_BYTES)
        if ring == NULL:
            raise MemoryError()
        memset(ring + RECENT_INT_IDS, TID_EMPTY, TID_SLOTS)
    slots = <uint8_t *>(ring + RECENT_INT_IDS)
    # the run: the last `run` ids delivered are last-run+1 .. last (modulo 2^64); tid is not one
    last = <uint64_t>fs._tid_last
    run = fs._tid_run
    if fs._tid_nhash:
        h = _tid_home(tid)
        while True:
            s = slots[h]
            if s == TID_EMPTY:
                break
            if ring[s] == tid:
                fs.n_dup_trades += 1
                return True
            h = (h + 1) & TID_MASK
    pos = <uint8_t>fs._ring_pos
    if fs._ring_n == RECENT_INT_IDS:          # the oldest id leaves
        if run == RECENT_INT_IDS:
            run -= 1
        else:
            _tid_forget(ring, slots, pos)
            fs._tid_nhash -= 1
    else:
        fs._ring_n += 1
    if <uint64_t>tid != last + 1 or run == 0:
        # the run breaks: its ids (the `run` ring places before pos) go to the hash table
        fs._tid_nhash += run
        i = pos
        while run:
            i = (i if i else RECENT_INT_IDS) - 1
            _tid_index(ring, slots, <uint8_t>i)
            run -= 1
    ring[pos] = tid
    fs._tid_run = run + 1
    fs._tid_last = tid
    if tid > fs.last_trade_id:
        fs.last_trade_id = tid
    fs._ring_pos = 0 if pos + 1 == RECENT_INT_IDS else pos + 1
    return False


cdef bint _seen_opaque_trade(FeedSymbol fs, int64_t tid, str tid_str) except -1:
    key = tid_str if tid_str is not None else tid
    if key in fs._recent_ids:
        fs.n_dup_trades += 1
        return True
    fs._recent_ids.add(key)
    fs._recent_order.append(key)
    # the oldest out in O(1) (deleting a dict's first key leaves a run of dead slots that every
    # later first-key lookup walks: the cost of each new id grew with the ids forgotten)
    while len(fs._recent_ids) > fs.max_recent_ids:
        fs._recent_ids.discard(fs._recent_order.popleft())
    return False


cdef class FeedSymbol:
    def __cinit__(self, instrument, bytes venue_symbol, int rule, object sync_listener=None,
                  Py_ssize_t depth_cap=0, Checksum checksum=None, int trade_ids=TRADE_IDS_INCREASING):
        if trade_ids not in (TRADE_IDS_INCREASING, TRADE_IDS_OPAQUE):
            raise ValueError(f"unknown trade id kind {trade_ids}")
        self.instrument = instrument
        self.venue_symbol = venue_symbol
        self.px_scale = instrument.px_scale
        self.qty_scale = instrument.qty_scale
        self.max_px = getattr(instrument, "max_px", 0) or 0
        self.book = L2Book(self.px_scale, self.qty_scale, depth_cap)
        self.sync = BookSync(self.book, rule, instrument, sync_listener)
        self.checksum = checksum
        self.trade_ids = trade_ids
        self.last_trade_id = -1
        self._recent_ids = set()
        self._recent_order = deque()
        self.channel_state = {}
        self.max_recent_ids = DEFAULT_RECENT_IDS

    def __dealloc__(self):
        free(self._ring)

    cdef bint seen_trade(self, int64_t tid, str tid_str) except -1:
        """True (and counted) for a trade id already delivered: replays, rotation overlap. Only
        delivered ids are remembered.

        Integer ids: a duplicate is an id among the last 96 delivered (since reset_trade_ids());
        an id delivered before those is no longer recognised. Any other id is new, whatever its
        order: above or below the highest seen, a reordered trade, a venue that restarts its ids,
        one absurd id and the normal ids after it. O(1) per trade whatever the order (1 KiB per
        symbol; ext/ref/tradeids_ref.py is the same rule in Python): the 96 ids sit in a ring,
        oldest evicted first. The newest of them that run consecutively (each the one before
        plus 1: the usual stream) are known by their range alone; the others are indexed by a
        256-slot open-addressing hash table, which a run enters when it breaks (each id at most
        once). Ids in order therefore cost no hashing, and a replay within the run one range test."""
        cdef uint64_t last = <uint64_t>self._tid_last
        cdef Py_ssize_t pos
        if tid_str is None and self.trade_ids == TRADE_IDS_INCREASING:
            if last - <uint64_t>tid < <uint64_t>self._tid_run:     # within the run: a replay
                self.n_dup_trades += 1
                return True
            if <uint64_t>tid == last + 1 and self._tid_run and self._tid_nhash == 0:
                # the run goes on and every remembered id is in it: nothing to look up or evict
                pos = self._ring_pos
                self._ring[pos] = tid
                if self._ring_n < RECENT_INT_IDS:
                    self._ring_n += 1
                    self._tid_run += 1
                self._tid_last = tid
                if tid > self.last_trade_id:
                    self.last_trade_id = tid
                self._ring_pos = 0 if pos + 1 == RECENT_INT_IDS else pos + 1
                return False
            return _seen_int_trade(self, tid)
        return _seen_opaque_trade(self, tid, tid_str)

    cdef void remember_state(self, int64_t seq, uint32_t crc) noexcept:
        self._ck_seq[self._ck_pos] = seq
        self._ck_crc[self._ck_pos] = crc
        self._ck_pos = (self._ck_pos + 1) % CK_STATES
        if self._ck_n < CK_STATES:
            self._ck_n += 1

    cdef bint known_state(self, int64_t seq, uint32_t crc) noexcept:
        cdef int i
        for i in range(self._ck_n):
            if self._ck_seq[i] == seq and self._ck_crc[i] == crc:
                return True
        return False

    def _bench_seen_trades(self, bytes ids) -> int:
        """Benchmark helper: the integer trade-id dedupe for each native int64 in ids, from C.
        Returns the number of duplicates."""
        cdef const int64_t *p = <const int64_t *><const char *>ids
        cdef Py_ssize_t i, n = len(ids) // <Py_ssize_t>sizeof(int64_t)
        cdef Py_ssize_t dups = 0
        for i in range(n):
            dups += self.seen_trade(p[i], None)
        return dups

    def reset_trade_ids(self) -> None:
        """Forget seen trade ids (a venue that restarts its ids, e.g. after maintenance)."""
        self.last_trade_id = -1
        self._ring_n = self._ring_pos = self._tid_run = self._tid_nhash = 0
        if self._ring != NULL:
            memset(self._ring + RECENT_INT_IDS, TID_EMPTY, TID_SLOTS)
        self._recent_ids.clear()
        self._recent_order.clear()

    @property
    def trade_id_window(self) -> int:
        """integer trade ids remembered for dedupe: an id delivered before the last this many is
        no longer recognised as a duplicate"""
        return RECENT_INT_IDS

    @property
    def trade_id_memory_bytes(self) -> int:
        """bytes held for integer trade-id dedupe (0 until the first integer trade id)"""
        return TID_BYTES if self._ring != NULL else 0

    def __repr__(self):
        return f"FeedSymbol({self.instrument.symbol}, state={self.sync.state}, seq={self.book.seq})"


cdef class FeedSink:
    cdef int on_delta(self, FeedSymbol fs, int64_t first, int64_t last, int64_t ts_exchange,
                      int64_t ts_recv) except -1:
        return 0

    cdef int on_snapshot(self, FeedSymbol fs, int64_t seq, int64_t ts_exchange, int64_t ts_recv) except -1:
        return 0

    cdef int on_book_applied(self, FeedSymbol fs) except -1:
        return 0

    cdef int on_trade(self, Trade trade) except -1:
        return 0

    cdef int on_top(self, FeedSymbol fs, int64_t bid_px, int64_t bid_qty, int64_t ask_px, int64_t ask_qty,
                    int64_t seq, int64_t ts_exchange, int64_t ts_recv) except -1:
        return 0

    cdef int on_derivative(self, object ev) except -1:
        return 0

    cdef int on_control(self, int kind, object topic, int64_t req_id, bytes raw) except -1:
        return 0

    cdef int on_decode_error(self, object exc, bytes raw) except -1:
        log.warning("dropped frame: %s: %r", exc, raw[:200])
        return 0


cdef class PySink(FeedSink):
    """Forwards to a Python object's methods (each optional): on_delta(fs, first, last,
    ts_exchange, ts_recv), on_snapshot(fs, seq, ts_exchange, ts_recv) (levels: fs.sync.current_levels()),
    on_book_applied(fs), on_trade(trade), on_top(fs, bid_px, bid_qty, ask_px, ask_qty, seq,
    ts_exchange, ts_recv), on_derivative(event), on_control(kind, topic, req_id, raw),
    on_decode_error(exc, raw)."""

    def __cinit__(self, target):
        self.target = target
        self._delta = getattr(target, "on_delta", None)
        self._snapshot = getattr(target, "on_snapshot", None)
        self._applied = getattr(target, "on_book_applied", None)
        self._trade = getattr(target, "on_trade", None)
        self._top = getattr(target, "on_top", None)
        self._deriv = getattr(target, "on_derivative", None)
        self._control = getattr(target, "on_control", None)
        self._error = getattr(target, "on_decode_error", None)

    cdef int on_delta(self, FeedSymbol fs, int64_t first, int64_t last, int64_t ts_exchange,
                      int64_t ts_recv) except -1:
        if self._delta is not None:
            self._delta(fs, first, last, ts_exchange, ts_recv)
        return 0

    cdef int on_snapshot(self, FeedSymbol fs, int64_t seq, int64_t ts_exchange, int64_t ts_recv) except -1:
        if self._snapshot is not None:
            self._snapshot(fs, seq, ts_exchange, ts_recv)
        return 0

    cdef int on_book_applied(self, FeedSymbol fs) except -1:
        if self._applied is not None:
            self._applied(fs)
        return 0

    cdef int on_trade(self, Trade trade) except -1:
        if self._trade is not None:
            self._trade(trade)
        return 0

    cdef int on_top(self, FeedSymbol fs, int64_t bid_px, int64_t bid_qty, int64_t ask_px, int64_t ask_qty,
                    int64_t seq, int64_t ts_exchange, int64_t ts_recv) except -1:
        if self._top is not None:
            self._top(fs, bid_px, bid_qty, ask_px, ask_qty, seq, ts_exchange, ts_recv)
        return 0

    cdef int on_derivative(self, object ev) except -1:
        if self._deriv is not None:
            self._deriv(ev)
        return 0

    cdef int on_control(self, int kind, object topic, int64_t req_id, bytes raw) except -1:
        if self._control is not None:
            self._control(Control(kind), topic, req_id, raw)
        return 0

    cdef int on_decode_error(self, object exc, bytes raw) except -1:
        if self._error is not None:
            self._error(exc, raw)
        else:
            log.warning("dropped frame: %s: %r", exc, raw[:200])
        return 0


ZERO_CHECKSUM_RUN = 3
"""book messages in a row whose checksum field is 0 before validation is switched off (a real CRC of
0 comes once in 2^32 messages; three in a row is a venue that sends none)"""


cdef class FrameParser:
    def __cinit__(self, venue=None, sink=None, *args, **kwargs):
        self.venue = venue
        self.sink = sink
        self._symbols = {}
        self.conn_seq = -1
        self.max_checksum_streak = 8
        self.n_checksum_zero = 0
        self.zero_checksum_run = 0
        self.recv_to_decoded = Histogram()
        self.decoded_to_applied = Histogram()

    @property
    def sink(self):
        """The consumer: a FeedSink, or the Python object a PySink forwards to."""
        if isinstance(self._sink, PySink):
            return (<PySink>self._sink).target
        return self._sink

    @sink.setter
    def sink(self, value):
        if value is None or isinstance(value, FeedSink):
            self._sink = value
        else:
            self._sink = PySink(value)

    def add_symbol(self, FeedSymbol fs) -> None:
        self._symbols[fs.venue_symbol] = fs

    def symbol(self, venue_symbol) -> FeedSymbol | None:
        if isinstance(venue_symbol, str):
            venue_symbol = venue_symbol.encode()
        return self._symbols.get(venue_symbol)

    def symbols(self) -> list:
        return list(self._symbols.values())

    def reset_connection(self) -> None:
        """A new connection: connection-scoped sequences start over."""
        self.conn_seq = -1

    def lookup_py(self, bytes venue_symbol) -> FeedSymbol | None:
        """lookup() for Python parsers: a symbol without metadata is counted (n_unknown_symbol)."""
        return self.lookup(venue_symbol, len(venue_symbol))

    def symbol_of(self, bytes venue_symbol) -> FeedSymbol | None:
        """The symbol's state, or None without counting it unknown: for channels that carry
        every instrument of a market (liquidations), where most are not followed on purpose."""
        return self._symbols.get(venue_symbol)

    cdef FeedSymbol lookup(self, const char *s, size_t n):
        cdef FeedSymbol last = self._last
        if last is not None and <size_t>len(last.venue_symbol) == n and \
                memcmp(<const char *>last.venue_symbol, s, n) == 0:
            return last
        cdef object fs = self._symbols.get(PyBytes_FromStringAndSize(s, n))
        if fs is None:
            self.n_unknown_symbol += 1
            return None
        self._last = <FeedSymbol>fs
        return self._last

    cdef int on_frame(self, const char *p, size_t n, int64_t ts_recv, int64_t recv_mono) except -1:
        raise NotImplementedError

    cdef int handle(self, const char *p, size_t n, int64_t ts_recv, int64_t recv_mono) noexcept:
        """on_frame() with every decoding error turned into a counted, reported drop: a bad
        frame never takes the feed down."""
        self.n_frames += 1
        try:
            return self.on_frame(p, n, ts_recv, recv_mono)
        except BaseException as e:
            self.n_errors += 1
            try:
                raw = PyBytes_FromStringAndSize(p, n if n < RAW_KEEP else RAW_KEEP)
                if self._sink is not None:
                    self._sink.on_decode_error(e, raw)
                else:
                    log.warning("dropped frame: %s: %r", e, raw[:200])
            except BaseException as e2:
                self.sink_failed(e2)
            return -1

    cdef void sink_failed(self, BaseException e):
        self.n_sink_errors += 1
        if self.n_sink_errors <= 10 or self.n_sink_errors % 1000 == 0:
            try:
                log.error("%s: consumer callback failed (%d so far): %s: %s",
                          getattr(self.venue, "name", self.venue), self.n_sink_errors, type(e).__name__, e)
            except BaseException:
                pass

    # ---- emit: the shared per-message bookkeeping ------------------------------------------
    @cython.final
    cdef int _check_old(self, FeedSymbol fs, int64_t seq, uint32_t checksum) except -1:
        """An update the sequence rule dropped as older than the book. A true replay (rotation
        overlap, a duplicate) carries the checksum of a state this book had at that seq. One that
        matches no recent state is the venue's sequence gone somewhere this book never followed (a
        reset whose first message was lost): the book is wrong now, whatever the sequence rule
        says, so it is invalidated at once rather than after a run of drops."""
        if fs.checksum is None or self.checksum_off or checksum == 0:
            return SYNC_STALE_DROP
        if fs.sync.state != BOOK_LIVE and fs.sync.state != BOOK_STALE:
            return SYNC_STALE_DROP
        if fs.known_state(seq, checksum):
            return SYNC_STALE_DROP
        fs.n_unknown_old_states += 1
        self.n_checksum_failures += 1
        fs.sync.checksum_failed(f"update {seq} older than the book ({fs.book.seq}) with checksum {checksum}, "
                                f"a state this book never had: sequence reset missed")
        return SYNC_GAP

    @cython.final
    cdef int _verify(self, FeedSymbol fs, uint32_t checksum) except -1:
        """After an applied message: the venue's checksum against ours; a mismatch makes the
        book INVALID (counted) and resyncs that symbol. Returns 1 when the book is good.

        A venue whose checksums keep failing right after fresh snapshots (its sequences intact,
        or its checksum field turned to 0) would be resynced in a loop forever: after
        `max_checksum_streak` failures without one success in between, validation is switched
        off for this connection (`checksum_off`, logged, exported) and the books stay live on
        their sequence rule alone."""
        cdef uint32_t ours
        if fs.checksum is None or self.checksum_off:
            return 1
        if checksum == 0:
            # a checksum field of 0 is a venue that stopped computing it (OKX), not a CRC: not
            # checked, counted; ZERO_CHECKSUM_RUN in a row switch validation off for this
            # connection (logged, exported: the venue is degraded, its books live on sequences)
            self.n_checksum_zero += 1
            self.zero_checksum_run += 1
            if self.zero_checksum_run >= ZERO_CHECKSUM_RUN:
                self.checksum_off = True
                log.error("%s: the venue sends checksum 0 (%d in a row): checksum validation off for this "
                          "connection; books keep their sequence checks",
                          getattr(self.venue, "name", self.venue), self.zero_checksum_run)
            return 1
        self.zero_checksum_run = 0
        ours = fs.checksum.crc32(fs.book)
        if ours == checksum:
            self.checksum_streak = 0
            fs.remember_state(fs.book.seq, checksum)
            return 1
        self.n_checksum_failures += 1
        self.checksum_streak += 1
        if self.checksum_streak >= self.max_checksum_streak:
            self.checksum_off = True
            log.error("%s: %d checksum failures in a row with no success (venue %d, book %d): checksum "
                      "validation off for this connection; books keep their sequence checks",
                      getattr(self.venue, "name", self.venue), self.checksum_streak, checksum, ours)
            return 1
        fs.sync.checksum_failed(f"checksum mismatch at {fs.book.seq}: venue {checksum}, book {ours}")
        return 0

    @cython.final
    cdef int _applied(self, FeedSymbol fs) except -1:
        """A message applied, the book live and its checksum good: tell the consumer."""
        if fs.want_book and self._sink is not None:
            try:
                self._sink.on_book_applied(fs)
            except BaseException as e:
                self.sink_failed(e)
        return SYNC_APPLIED

    @cython.final
    cdef int emit_delta(self, FeedSymbol fs, int64_t first, int64_t last, int64_t prev,
                        const VlLevels *bids, const VlLevels *asks, int64_t ts_exchange, int64_t ts_recv,
                        int64_t recv_mono, bint has_checksum, uint32_t checksum) except -1:
        cdef int64_t t_dec = 0
        cdef int rc
        cdef BookSync sync = fs.sync
        # the stage latencies read the clock twice more: timed for one message in LATENCY_EVERY
        # of each symbol (its first included) and until a first one was applied
        cdef bint timed = (fs.n_msgs & (LATENCY_EVERY - 1)) == 0 or self.decoded_to_applied.total_count == 0
        fs.n_msgs += 1
        _check_book_message(fs, bids, asks, ts_exchange, ts_recv)
        if timed or not recv_mono:
            t_dec = mono_ns()
        fs.last_data_mono = recv_mono if recv_mono else t_dec
        if timed:
            self.recv_to_decoded.record_ns(t_dec - recv_mono)
        if fs.max_lag_ns and ts_exchange and ts_recv - ts_exchange > fs.max_lag_ns:
            fs.n_lagging += 1
            sync.hold_stale = True
        elif sync.hold_stale:
            sync.hold_stale = False
        try:
            if fs.want_deltas and self._sink is not None:
                sync.cur_bids = bids
                sync.cur_asks = asks
                try:
                    self._sink.on_delta(fs, first, last, ts_exchange, ts_recv)
                except BaseException as e:
                    self.sink_failed(e)
            rc = sync.on_delta(first, last, prev, bids, asks, ts_exchange, ts_recv)
            if rc == SYNC_STALE_DROP and has_checksum:
                return self._check_old(fs, last, checksum)
            if rc != SYNC_APPLIED or sync.state != 2:       # applied and still LIVE (not crossed)
                return rc
            if has_checksum and not self._verify(fs, checksum):
                return SYNC_GAP
            if timed:
                self.decoded_to_applied.record_ns(mono_ns() - t_dec)
            if fs.want_book:
                self._applied(fs)
            return rc
        finally:
            sync.cur_bids = NULL
            sync.cur_asks = NULL

    @cython.final
    cdef int emit_snapshot(self, FeedSymbol fs, int64_t seq, const VlLevels *bids, const VlLevels *asks,
                           int64_t ts_exchange, int64_t ts_recv, int64_t recv_mono, bint has_checksum,
                           uint32_t checksum) except -1:
        cdef int rc
        cdef BookSync sync = fs.sync
        fs.n_msgs += 1
        _check_book_message(fs, bids, asks, ts_exchange, ts_recv)
        fs.last_data_mono = recv_mono if recv_mono else mono_ns()
        if recv_mono:
            self.recv_to_decoded.record_ns(mono_ns() - recv_mono)
        try:
            if fs.want_deltas and self._sink is not None:
                sync.cur_bids = bids
                sync.cur_asks = asks
                try:
                    self._sink.on_snapshot(fs, seq, ts_exchange, ts_recv)
                except BaseException as e:
                    self.sink_failed(e)
            rc = sync.on_snapshot(seq, bids, asks, ts_exchange, ts_recv)
            if rc != SYNC_APPLIED or sync.state != 2:
                return rc
            if has_checksum and not self._verify(fs, checksum):
                return SYNC_GAP
            return self._applied(fs)
        finally:
            sync.cur_bids = NULL
            sync.cur_asks = NULL

    @cython.final
    cdef int emit_trade(self, FeedSymbol fs, int64_t trade_id, str trade_id_str, int64_t price, int64_t size,
                        object side, int64_t ts_exchange, int64_t ts_recv) except -1:
        cdef Trade t
        fs.n_msgs += 1
        if not fs.want_trades or self._sink is None:
            return 0
        if price <= 0 or size <= 0:
            raise BadMessage(f"trade {trade_id_str or trade_id}: non-positive price or size")
        if fs.max_px and price > fs.max_px:
            raise BadMessage(f"trade {trade_id_str or trade_id}: price mantissa {price} above the instrument's "
                             f"maximum {fs.max_px}")
        _check_ts(ts_exchange, ts_recv)
        if fs.seen_trade(trade_id, trade_id_str):
            return 0
        if trade_id_str is None:
            t = new_trade(self.venue, fs.instrument, trade_id, price, size, side, ts_exchange, ts_recv, now_ns())
        else:
            t = new_trade_str(self.venue, fs.instrument, trade_id_str, price, size, side, ts_exchange, ts_recv,
                              now_ns())
        t.block = self.trade_block
        try:
            self._sink.on_trade(t)
        except BaseException as e:
            self.sink_failed(e)
        return 0

    @cython.final
    cdef int emit_top(self, FeedSymbol fs, int64_t bid_px, int64_t bid_qty, int64_t ask_px, int64_t ask_qty,
                      int64_t seq, int64_t ts_exchange, int64_t ts_recv) except -1:
        fs.n_msgs += 1
        if not fs.want_top or self._sink is None:
            return 0
        if bid_qty < 0 or ask_qty < 0 or (bid_qty and bid_px <= 0) or (ask_qty and ask_px <= 0):
            raise BadMessage("top of book: negative size or non-positive price")
        if bid_qty and ask_qty and bid_px >= ask_px:
            raise BadMessage(f"top of book crossed: bid {bid_px} >= ask {ask_px}")
        _check_ts(ts_exchange, ts_recv)
        try:
            self._sink.on_top(fs, bid_px, bid_qty, ask_px, ask_qty, seq, ts_exchange, ts_recv)
        except BaseException as e:
            self.sink_failed(e)
        return 0

    @cython.final
    cdef int emit_derivative(self, FeedSymbol fs, object ev) except -1:
        """A venuelink.derivatives event the venue's parser built (a few per second: a Python object
        is fine here); one that cannot be true is refused like any bad frame."""
        fs.n_msgs += 1
        if not fs.want_derivs or self._sink is None:
            return 0
        why = ev.problem()
        if why is not None:
            raise BadMessage(f"{ev.kind.name.lower()}: {why}")
        _check_ts(ev.ts_exchange, ev.ts_recv)
        try:
            self._sink.on_derivative(ev)
        except BaseException as e:
            self.sink_failed(e)
        return 0

    @cython.final
    cdef int emit_control(self, int kind, object topic, int64_t req_id, const char *p, size_t n) except -1:
        self.n_control += 1
        raw = PyBytes_FromStringAndSize(p, n if n < 4096 else 4096)
        try:
            if self.control is not None:
                self.control.on_control(Control(kind), topic, req_id, raw)
            elif self._sink is not None:
                self._sink.on_control(kind, topic, req_id, raw)
        except BaseException as e:
            self.sink_failed(e)
        return 0

    @cython.final
    cdef int check_conn_seq(self, int64_t seq) except -1:
        """A sequence that counts per connection across every channel and product (Coinbase):
        a gap means messages were lost for any book on it, so every book is invalidated."""
        cdef int64_t expected = self.conn_seq + 1
        cdef FeedSymbol fs
        self.conn_seq = seq
        if expected == 0 or seq == expected:
            return 1
        if seq < expected:
            return 1                      # repeated / reordered older message: nothing lost
        self.n_conn_gaps += 1
        for fs in self._symbols.values():
            if fs.sync.state != 1:        # SYNCING books wait for their snapshot anyway
                fs.sync.invalidate(f"connection sequence gap: expected {expected}, got {seq}")
        return 0

    # ---- Python-level entry points (replay, tests, Python parsers) ----------------------------
    def emit_delta_py(self, FeedSymbol fs, int64_t first, int64_t last, int64_t prev, bids, asks,
                      int64_t ts_exchange=0, int64_t ts_recv=0, checksum=None) -> int:
        """emit_delta() for levels given as (px, qty) mantissa pairs; checksum: the venue's
        value (signed or unsigned 32-bit) or None."""
        cdef VlLevels vb, va
        cdef bytes pb = _pack(bids), pa = _pack(asks)
        _view(pb, &vb)
        _view(pa, &va)
        return self.emit_delta(fs, first, last, prev, &vb, &va, ts_exchange, ts_recv or now_ns(), mono_ns(),
                               checksum is not None, <uint32_t>(<int64_t>(checksum or 0) & 0xFFFFFFFF))

    def emit_snapshot_py(self, FeedSymbol fs, int64_t seq, bids, asks, int64_t ts_exchange=0,
                         int64_t ts_recv=0, checksum=None) -> int:
        cdef VlLevels vb, va
        cdef bytes pb = _pack(bids), pa = _pack(asks)
        _view(pb, &vb)
        _view(pa, &va)
        return self.emit_snapshot(fs, seq, &vb, &va, ts_exchange, ts_recv or now_ns(), mono_ns(),
                                  checksum is not None, <uint32_t>(<int64_t>(checksum or 0) & 0xFFFFFFFF))

    def emit_trade_py(self, FeedSymbol fs, trade_id, int64_t price, int64_t size, side,
                      int64_t ts_exchange=0, int64_t ts_recv=0, bint block=False) -> int:
        self.trade_block = block
        try:
            if isinstance(trade_id, int):
                return self.emit_trade(fs, trade_id, None, price, size, side, ts_exchange, ts_recv or now_ns())
            return self.emit_trade(fs, -1, str(trade_id), price, size, side, ts_exchange, ts_recv or now_ns())
        finally:
            self.trade_block = False

    def emit_top_py(self, FeedSymbol fs, int64_t bid_px, int64_t bid_qty, int64_t ask_px, int64_t ask_qty,
                    int64_t seq=-1, int64_t ts_exchange=0, int64_t ts_recv=0) -> int:
        return self.emit_top(fs, bid_px, bid_qty, ask_px, ask_qty, seq, ts_exchange, ts_recv or now_ns())

    def emit_derivative_py(self, FeedSymbol fs, ev) -> int:
        return self.emit_derivative(fs, ev)

    def emit_control_py(self, int kind, topic=None, int64_t req_id=-1, bytes raw=b"") -> int:
        return self.emit_control(kind, topic, req_id, raw, len(raw))

    def check_conn_seq_py(self, int64_t seq) -> int:
        return self.check_conn_seq(seq)

    def feed(self, data, int64_t ts_recv=0) -> int:
        """Handle one frame given as bytes (replay, tests). Errors are counted and reported to
        the sink, never raised. Returns -1 for a dropped frame."""
        cdef bytes b = bytes(data)
        if ts_recv == 0:
            ts_recv = now_ns()
        return self.handle(b, len(b), ts_recv, mono_ns())

    def _bench_frames(self, list frames, Py_ssize_t start=0, Py_ssize_t count=-1) -> int:
        """Benchmark helper: hand frames[start:start+count] to the parser from C, as the picows
        listener does (no Python call per frame). Returns the number of dropped frames."""
        cdef Py_ssize_t i, end = len(frames) if count < 0 else min(len(frames), start + count)
        cdef bytes b
        cdef int drops = 0
        cdef FrameClock clock
        cdef int64_t ts_recv = 0, recv_mono
        clock.anchored = 0
        for i in range(start, end):
            b = <bytes>frames[i]
            recv_mono = frame_clock(&clock, &ts_recv)
            if self.handle(b, len(b), ts_recv, recv_mono) < 0:
                drops += 1
        return drops


cdef class PyFrameParser(FrameParser):
    """A parser written in Python (long-tail venues, tests): parse(frame, ts_recv, recv_mono)
    decodes and calls the emit_*_py() methods; errors it raises are counted drops as for any
    parser. Slower than a Cython parser by the Python calls, with the same bookkeeping."""

    cdef int on_frame(self, const char *p, size_t n, int64_t ts_recv, int64_t recv_mono) except -1:
        self.parse(PyBytes_FromStringAndSize(p, n), ts_recv, recv_mono)
        return 0

    def parse(self, bytes frame, int64_t ts_recv, int64_t recv_mono) -> None:
        raise NotImplementedError


cdef bytes _pack(levels):
    from array import array
    levels = list(levels)
    return array("q", [p for p, _ in levels]).tobytes() + array("q", [q for _, q in levels]).tobytes()


cdef inline void _view(bytes packed, VlLevels *out):
    cdef Py_ssize_t n = len(packed) // 16
    out.px = <int64_t *><char *>packed
    out.qty = out.px + n
    out.n = n
    out.cap = n


cdef class FeedListener(WSListener):
    """picows listener: stamps arrival time and hands the payload pointer to the parser."""

    def __init__(self, FrameParser parser, session=None):
        self.parser = parser
        self.session = session

    cpdef on_ws_connected(self, WSTransport transport):
        if self.session is not None:
            self.session.on_connected(transport)

    cpdef on_ws_frame(self, WSTransport transport, WSFrame frame):
        cdef int64_t ts_recv = 0
        cdef int64_t recv_mono = frame_clock(&self.clock, &ts_recv)     # the frame's one clock read
        self.last_frame_mono = recv_mono
        self.n_frames += 1
        if frame.msg_type == WSMsgType.TEXT or frame.msg_type == WSMsgType.BINARY:
            self.parser.handle(frame.payload_ptr, frame.payload_size, ts_recv, recv_mono)
        elif frame.msg_type == WSMsgType.PING:
            transport.send_pong(frame.get_payload_as_bytes())
        elif frame.msg_type == WSMsgType.CLOSE:
            if self.session is not None:
                self.session.on_close_frame(frame.get_close_code(), frame.get_close_message())
            transport.send_close(frame.get_close_code())
            transport.disconnect()

    cpdef on_ws_disconnected(self, WSTransport transport):
        if self.session is not None:
            self.session.on_disconnected()
