# SPDX-License-Identifier: Apache-2.0
"""The market-data frame path: picows frame -> venue parser -> book, without copying the frame.

.. DANGER:: a picows frame's payload is only valid inside on_ws_frame; parsers copy what they
   keep (the JSON extractor copies the frame into its padded buffer first).
"""
import logging

from libc.stdint cimport int64_t
from libc.string cimport memcmp
from cpython.bytes cimport PyBytes_FromStringAndSize
from picows.picows cimport WSListener, WSTransport, WSFrame, WSMsgType
from ext.clock cimport now_ns, mono_ns
from ext.book cimport L2Book
from ext.sync cimport BookSync
from ext.histogram cimport Histogram

log = logging.getLogger("venuelink.feed")


cdef class FeedSymbol:
    def __cinit__(self, instrument, bytes venue_symbol, int rule, object sync_listener=None,
                  Py_ssize_t depth_cap=0):
        self.instrument = instrument
        self.venue_symbol = venue_symbol
        self.px_scale = instrument.px_scale
        self.qty_scale = instrument.qty_scale
        self.book = L2Book(self.px_scale, self.qty_scale, depth_cap)
        self.sync = BookSync(self.book, rule, instrument, sync_listener)
        self.want_book = False
        self.want_trades = False
        self.want_top = False
        self.last_trade_id = -1

    def __repr__(self):
        return f"FeedSymbol({self.instrument.symbol}, state={self.sync.state}, seq={self.book.seq})"


cdef class FrameParser:
    def __cinit__(self, venue=None, sink=None, *args, **kwargs):
        self.venue = venue
        self.sink = sink
        self._symbols = {}
        self.recv_to_decoded = Histogram()
        self.decoded_to_applied = Histogram()

    def add_symbol(self, FeedSymbol fs) -> None:
        self._symbols[fs.venue_symbol] = fs

    def symbol(self, venue_symbol) -> FeedSymbol | None:
        if isinstance(venue_symbol, str):
            venue_symbol = venue_symbol.encode()
        return self._symbols.get(venue_symbol)

    def symbols(self) -> list:
        return list(self._symbols.values())

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
        """on_frame() with every error turned into a counted, reported drop: a bad frame never
        takes the feed down."""
        self.n_frames += 1
        try:
            return self.on_frame(p, n, ts_recv, recv_mono)
        except BaseException as e:
            self.n_errors += 1
            try:
                raw = PyBytes_FromStringAndSize(p, n if n < 512 else 512)
                if self.sink is not None:
                    self.sink.on_decode_error(e, raw)
                else:
                    log.warning("dropped frame: %s: %r", e, raw[:200])
            except BaseException:
                pass
            return -1

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
        for i in range(start, end):
            b = <bytes>frames[i]
            if self.handle(b, len(b), now_ns(), mono_ns()) < 0:
                drops += 1
        return drops


cdef class FeedListener(WSListener):
    """picows listener: stamps arrival time and hands the payload pointer to the parser."""

    def __init__(self, FrameParser parser, session=None):
        self.parser = parser
        self.session = session

    cpdef on_ws_connected(self, WSTransport transport):
        if self.session is not None:
            self.session.on_connected(transport)

    cpdef on_ws_frame(self, WSTransport transport, WSFrame frame):
        cdef int64_t ts_recv = now_ns()
        cdef int64_t recv_mono = mono_ns()
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
