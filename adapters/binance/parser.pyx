# SPDX-License-Identifier: Apache-2.0
"""Binance spot market-data frames -> book / trades / top of book, one pass, no dicts. The
parser only decodes; ext.feed's emit_*() does the bookkeeping (sync, latency, dedupe, dispatch).

Raw stream and combined-stream frames are both accepted::

    {"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1672515782136,"s":"BTCUSDT",
     "U":157,"u":160,"b":[["0.0024","10"]],"a":[["0.0026","100"]]}}
    {"e":"trade","E":1672515782136,"s":"BNBBTC","t":12345,"p":"0.001","q":"100",
     "T":1672515782136,"m":true,"M":true}                       (m: buyer is maker -> taker sold)
    {"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}
    {"result":null,"id":1}                                        (subscription reply)
    {"code":2,"msg":"Invalid request","id":1}                     (error reply)

Times are milliseconds (the default timeUnit) and become nanoseconds here.

With ``futures`` set (USD-M), the futures dialect of the same streams::

    {"e":"depthUpdate","E":123456789,"T":123456788,"s":"BTCUSDT","U":157,"u":160,"pu":149,
     "b":[["0.0024","10"]],"a":[["0.0026","100"]]}                (pu: the previous update's u)
    {"e":"aggTrade","E":123456789,"a":5933014,"s":"BTCUSDT","p":"0.001","q":"100","f":100,"l":105,
     "T":123456785,"m":true}                                     (a: the aggregate trade's id)
    {"e":"bookTicker","u":400900217,"E":1568014460893,"T":1568014460891,"s":"BNBUSDT",
     "b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}

A depth update's span is then ``[U, u]`` with ``pu`` as its predecessor (the SEQ_PREV rule), and
its time is ``T``, the transaction time. ``markPriceUpdate`` and ``forceOrder`` pushes are
decoded in Python (adapters.binance.derivatives), shared with the twin.
"""
from libc.stdint cimport int64_t
from libc.string cimport memcmp
from cpython.bytes cimport PyBytes_FromStringAndSize
from ext.clock cimport now_ns, to_ns
from ext.json cimport *
from ext.json import JSONError
from ext.feed cimport FrameParser, FeedSymbol, CTRL_OTHER, CTRL_SHUTDOWN, CTRL_SUBSCRIBED, CTRL_ERROR
from engine.model import Side, VenueId
from adapters.binance import derivatives as _deriv

cdef object _BUY = Side.BUY
cdef object _SELL = Side.SELL

cdef enum:
    MS = 1000000

cdef inline bint _eq(const char *p, size_t n, const char *lit, size_t ln) noexcept nogil:
    return n == ln and memcmp(p, lit, ln) == 0


cdef class BinanceParser(FrameParser):
    cdef JsonDoc doc
    cdef public int64_t ms_to_ns
    """1_000_000 for the default millisecond streams; 1_000 with timeUnit=MICROSECOND."""
    cdef public bint futures
    """the futures dialect (USD-M): pu and T on depth updates, aggTrade, bookTicker with an event type"""

    def __cinit__(self, *args, **kwargs):
        self.doc = JsonDoc()
        self.ms_to_ns = MS
        if self.venue is None:
            self.venue = VenueId.binance

    cdef int _err(self, int rc, key) except -1:
        raise_json(self.doc, rc, key)
        return -1

    cdef int on_frame(self, const char *p, size_t n, int64_t ts_recv, int64_t recv_mono) except -1:
        cdef VlDoc *d = self.doc.d
        cdef const char *s = NULL
        cdef size_t sn = 0
        cdef int rc = vl_doc_load(d, p, n)
        if rc:
            return self._err(rc, None)
        rc = vl_doc_str(d, "stream", &s, &sn)
        if rc == VL_J_OK:
            rc = vl_doc_enter(d, "data")
            if rc:
                return self._err(rc, "data")
        elif rc != VL_J_MISSING:
            return self._err(rc, "stream")
        rc = vl_doc_str(d, "e", &s, &sn)
        if rc == VL_J_OK:
            if _eq(s, sn, "depthUpdate", 11):
                return self._depth(d, ts_recv, recv_mono)
            if _eq(s, sn, "trade", 5):
                return self._trade(d, ts_recv)
            if _eq(s, sn, "aggTrade", 8):
                return self._agg_trade(d, ts_recv)
            if _eq(s, sn, "bookTicker", 10):
                return self._fut_book_ticker(d, ts_recv)
            if _eq(s, sn, "markPriceUpdate", 15) or _eq(s, sn, "forceOrder", 10):
                return self._derivatives(d, p, n, ts_recv)
            if _eq(s, sn, "serverShutdown", 14):
                self.doc.end()
                return self.emit_control(CTRL_SHUTDOWN, None, -1, p, n)
            topic = PyBytes_FromStringAndSize(s, sn).decode()
            self.doc.end()
            return self.emit_control(CTRL_OTHER, topic, -1, p, n)
        if rc != VL_J_MISSING:
            return self._err(rc, "e")
        rc = vl_doc_str(d, "s", &s, &sn)           # bookTicker carries no event type
        if rc == VL_J_OK:
            return self._book_ticker(d, s, sn, ts_recv)
        return self._reply(d, p, n)

    cdef int _unread(self, VlDoc *d) except -1:
        """A frame dropped without reading on (its symbol not followed, or only counted): the
        keys read so far must not repeat in it either (a duplicated "s" would have picked the
        symbol), as the end of a frame read through would check."""
        cdef int rc = vl_doc_dups(d)
        if rc:
            return self._err(rc, None)
        return 0

    cdef int _sides(self, VlDoc *d, const char *bid_key, const char *ask_key, FeedSymbol fs) except -1:
        """Both sides' [price, size] arrays into the decoder's scratch levels, validated."""
        cdef int rc = vl_doc_levels(d, bid_key, fs.px_scale, fs.qty_scale, &self.doc.bids)
        if rc:
            return self._err(rc, f"{bid_key.decode()}[{d.err_index}]")
        rc = vl_doc_levels(d, ask_key, fs.px_scale, fs.qty_scale, &self.doc.asks)
        if rc:
            return self._err(rc, f"{ask_key.decode()}[{d.err_index}]")
        return 0

    cdef int _reply(self, VlDoc *d, const char *p, size_t n) except -1:
        """{"result": null, "id": N} acknowledges a request; {"code", "msg", "id"} refuses it."""
        cdef int64_t rid = -1, code = 0
        if vl_doc_i64(d, "code", &code) == VL_J_OK:
            vl_doc_i64(d, "id", &rid)
            self.doc.end()
            return self.emit_control(CTRL_ERROR, None, rid, p, n)
        if vl_doc_i64(d, "id", &rid) == VL_J_OK:
            self.doc.end()
            return self.emit_control(CTRL_SUBSCRIBED, None, rid, p, n)
        self.doc.end()
        return self.emit_control(CTRL_OTHER, None, -1, p, n)

    cdef int _depth(self, VlDoc *d, int64_t ts_recv, int64_t recv_mono) except -1:
        cdef const char *s = NULL
        cdef size_t sn = 0
        cdef int64_t first = 0, last = 0, ev = 0, prev = -1
        cdef FeedSymbol fs
        # fields are read in the order the venue sends them (e E s U u b a; futures e E T s U u
        # pu b a): On-Demand lookups then never wrap around the object
        cdef int rc = vl_doc_i64(d, "E", &ev)
        if rc:
            return self._err(rc, "E")
        if self.futures:
            rc = vl_doc_i64(d, "T", &ev)            # the transaction time, not the event's
            if rc:
                return self._err(rc, "T")
        rc = vl_doc_str(d, "s", &s, &sn)
        if rc:
            return self._err(rc, "s")
        fs = self.lookup(s, sn)
        if fs is None:
            return self._unread(d)
        rc = vl_doc_i64(d, "U", &first)
        if rc:
            return self._err(rc, "U")
        rc = vl_doc_i64(d, "u", &last)
        if rc:
            return self._err(rc, "u")
        if last < first:
            raise JSONError(f"depthUpdate with u {last} < U {first}")
        if self.futures:
            rc = vl_doc_i64(d, "pu", &prev)
            if rc:
                return self._err(rc, "pu")
            if prev >= first:
                raise JSONError(f"depthUpdate with pu {prev} >= U {first}")
        self._sides(d, "b", "a", fs)
        self.doc.end()
        return self.emit_delta(fs, first, last, prev, &self.doc.bids, &self.doc.asks, to_ns(ev, self.ms_to_ns),
                               ts_recv, recv_mono, False, 0)

    cdef int _agg_trade(self, VlDoc *d, int64_t ts_recv) except -1:
        cdef const char *s = NULL
        cdef size_t sn = 0
        cdef int64_t tid = 0
        cdef FeedSymbol fs
        # e E a s p q f l T m (nq)
        cdef int rc = vl_doc_i64(d, "a", &tid)
        if rc:
            return self._err(rc, "a")
        rc = vl_doc_str(d, "s", &s, &sn)
        if rc:
            return self._err(rc, "s")
        fs = self.lookup(s, sn)
        if fs is None:
            return self._unread(d)
        if not fs.want_trades:
            self._unread(d)
            return self.emit_trade(fs, -1, None, 0, 0, None, 0, ts_recv)     # counted, not decoded
        return self._trade_tail(d, fs, tid, ts_recv)

    cdef int _fut_book_ticker(self, VlDoc *d, int64_t ts_recv) except -1:
        cdef const char *s = NULL
        cdef size_t sn = 0
        cdef int64_t u = 0, tt = 0, bp = 0, bq = 0, ap = 0, aq = 0
        cdef FeedSymbol fs
        # e u E T s b B a A
        cdef int rc = vl_doc_i64(d, "u", &u)
        if rc:
            return self._err(rc, "u")
        rc = vl_doc_i64(d, "T", &tt)
        if rc:
            return self._err(rc, "T")
        rc = vl_doc_str(d, "s", &s, &sn)
        if rc:
            return self._err(rc, "s")
        fs = self.lookup(s, sn)
        if fs is None:
            return self._unread(d)
        if not fs.want_top:
            self._unread(d)
            return self.emit_top(fs, 0, 0, 0, 0, -1, 0, ts_recv)               # counted, not decoded
        rc = vl_doc_fixed(d, "b", fs.px_scale, &bp)
        if rc == VL_J_OK:
            rc = vl_doc_fixed(d, "B", fs.qty_scale, &bq)
        if rc == VL_J_OK:
            rc = vl_doc_fixed(d, "a", fs.px_scale, &ap)
        if rc == VL_J_OK:
            rc = vl_doc_fixed(d, "A", fs.qty_scale, &aq)
        if rc:
            return self._err(rc, "bookTicker")
        self.doc.end()
        return self.emit_top(fs, bp, bq, ap, aq, u, to_ns(tt, self.ms_to_ns), ts_recv)

    cdef int _derivatives(self, VlDoc *d, const char *p, size_t n, int64_t ts_recv) except -1:
        cdef FeedSymbol fs
        if vl_json_shape(p, n):                             # checked in full: decoded in Python
            return self._err(VL_J_MALFORMED, None)
        self.doc.end()
        for f, ev in _deriv.decode(p[:n], self.venue, self.symbol_of, ts_recv):
            fs = <FeedSymbol>f
            self.emit_derivative(fs, ev if fs.want_derivs else None)
        return 0

    cdef int _trade(self, VlDoc *d, int64_t ts_recv) except -1:
        cdef const char *s = NULL
        cdef size_t sn = 0
        cdef int64_t tid = 0
        cdef FeedSymbol fs
        cdef int rc = vl_doc_str(d, "s", &s, &sn)
        if rc:
            return self._err(rc, "s")
        fs = self.lookup(s, sn)
        if fs is None:
            return self._unread(d)
        if not fs.want_trades:
            self._unread(d)
            return self.emit_trade(fs, -1, None, 0, 0, None, 0, ts_recv)     # counted, not decoded
        rc = vl_doc_i64(d, "t", &tid)
        if rc:
            return self._err(rc, "t")
        return self._trade_tail(d, fs, tid, ts_recv)

    cdef int _trade_tail(self, VlDoc *d, FeedSymbol fs, int64_t tid, int64_t ts_recv) except -1:
        """p q T m of a trade or an aggregate trade (both name them alike), then the event."""
        cdef int64_t px = 0, qty = 0, tt = 0
        cdef int maker = 0
        cdef int rc = vl_doc_fixed(d, "p", fs.px_scale, &px)
        if rc:
            raise_json(self.doc, rc, "p", fs.px_scale)
        rc = vl_doc_fixed(d, "q", fs.qty_scale, &qty)
        if rc:
            raise_json(self.doc, rc, "q", fs.qty_scale)
        rc = vl_doc_i64(d, "T", &tt)
        if rc:
            return self._err(rc, "T")
        rc = vl_doc_bool(d, "m", &maker)
        if rc:
            return self._err(rc, "m")
        self.doc.end()
        return self.emit_trade(fs, tid, None, px, qty, _SELL if maker else _BUY, to_ns(tt, self.ms_to_ns), ts_recv)

    cdef int _book_ticker(self, VlDoc *d, const char *s, size_t sn, int64_t ts_recv) except -1:
        cdef int64_t u = 0, bp = 0, bq = 0, ap = 0, aq = 0
        cdef FeedSymbol fs = self.lookup(s, sn)
        cdef int rc
        if fs is None:
            return self._unread(d)
        if not fs.want_top:
            self._unread(d)
            return self.emit_top(fs, 0, 0, 0, 0, -1, 0, ts_recv)               # counted, not decoded
        rc = vl_doc_i64(d, "u", &u)
        if rc:
            return self._err(rc, "u")
        rc = vl_doc_fixed(d, "b", fs.px_scale, &bp)
        if rc == VL_J_OK:
            rc = vl_doc_fixed(d, "B", fs.qty_scale, &bq)
        if rc == VL_J_OK:
            rc = vl_doc_fixed(d, "a", fs.px_scale, &ap)
        if rc == VL_J_OK:
            rc = vl_doc_fixed(d, "A", fs.qty_scale, &aq)
        if rc:
            return self._err(rc, "bookTicker")
        self.doc.end()
        return self.emit_top(fs, bp, bq, ap, aq, u, 0, ts_recv)

    def on_snapshot(self, FeedSymbol fs, data, int64_t ts_recv=0) -> int:
        """Apply a GET /api/v3/depth answer ({"lastUpdateId", "bids", "asks"}) to fs's book by
        the documented procedure (buffered deltas are replayed). Raises JSONError on bad input."""
        cdef bytes b = bytes(data)
        cdef VlDoc *d = self.doc.d
        cdef int64_t last_id = 0
        cdef int rc = vl_doc_load(d, b, len(b))
        if rc:
            return self._err(rc, None)
        rc = vl_doc_i64(d, "lastUpdateId", &last_id)
        if rc:
            return self._err(rc, "lastUpdateId")
        self._sides(d, "bids", "asks", fs)
        self.doc.end()
        return self.emit_snapshot(fs, last_id, &self.doc.bids, &self.doc.asks, 0, ts_recv or now_ns(), 0,
                                  False, 0)
