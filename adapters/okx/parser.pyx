# SPDX-License-Identifier: Apache-2.0
"""OKX v5 public market-data frames -> book / trades / top of book, one pass, no dicts. The
parser only decodes; ext.feed's emit_*() does the bookkeeping (sync, checksum, latency, dedupe,
dispatch).

Frames (okx.com/docs-v5, WebSocket public channels)::

    {"arg":{"channel":"books","instId":"BTC-USDT"},"action":"snapshot","data":[{"asks":[["8476.98","415","0","13"]],
     "bids":[["8476.97","256","0","12"]],"ts":"1597026383085","checksum":-855196043,"prevSeqId":-1,"seqId":123456}]}
    {"arg":{...},"action":"update","data":[{...,"prevSeqId":123456,"seqId":123457}]}
    {"code":"0","msg":"","data":[{"asks":[...],"bids":[...],"ts":"1597026383085","seqId":123456}]}
                                                (GET /api/v5/market/books: the book's starting point)
    {"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT","tradeId":"130639474",
     "px":"42219.9","sz":"0.12060306","side":"buy","ts":"1630048897897","count":"3"}]}
    {"arg":{"channel":"bbo-tbt","instId":"BTC-USDT"},"data":[{"asks":[["111.06","55154","0","2"]],
     "bids":[["111.05","57745","0","2"]],"ts":"1670324386802","seqId":363996337}]}
    {"id":"1512","event":"subscribe","arg":{"channel":"books","instId":"BTC-USDT"},"connId":"a4d3ae55"}
    {"id":"1512","event":"error","code":"60012","msg":"Invalid request: ...","connId":"a4d3ae55"}
    {"event":"notice","code":"64008","msg":"The connection will soon be closed for a service upgrade...."}
    pong                                                          (text answer to our text ping)

Level rows are [px, sz, "0" (deprecated), numOrders]; only px and sz are read. Sizes of swaps are
contracts (Instrument.contract_size converts). `ts` is a millisecond string. `data` holds one
object per push on these channels; a frame with several is rejected (counted), never half-read.
"""
from libc.stdint cimport int64_t, int32_t, uint32_t
from libc.string cimport memcmp
from ext.clock cimport now_ns, to_ns
from ext.json cimport *
from ext.json import JSONError
from ext.feed cimport (FrameParser, FeedSymbol, CTRL_OTHER, CTRL_SHUTDOWN, CTRL_SUBSCRIBED, CTRL_UNSUBSCRIBED,
                       CTRL_ERROR, CTRL_PONG, CTRL_STATUS, CTRL_LOGIN)
from engine.model import Side, VenueId
from engine.derivatives import RATE_SCALE, FundingRate, IndexPrice, MarkPrice, OpenInterest, rate, size_scale_of
import ext.decimal as _fx
from adapters.okx import liquidations as _liq

cdef object _BUY = Side.BUY
cdef object _SELL = Side.SELL

cdef enum:
    MS = 1000000

cdef int64_t INT32_MIN = -2147483648
cdef int64_t INT32_MAX = 2147483647


cdef inline bint _eq(const char *p, size_t n, const char *lit, size_t ln) noexcept nogil:
    return n == ln and memcmp(p, lit, ln) == 0


cdef int64_t _digits(const char *p, size_t n) noexcept nogil:
    """A request id echoed as a string ("1512"): its value, or -1 if it is not 1-18 digits."""
    cdef int64_t v = 0
    cdef size_t i
    if n == 0 or n > 18:
        return -1
    for i in range(n):
        if p[i] < 48 or p[i] > 57:
            return -1
        v = v * 10 + (p[i] - 48)
    return v


cdef class OkxParser(FrameParser):
    cdef JsonDoc doc
    # a checksum field of 0 (OKX announced it stops filling it from 2026-06-23) goes to ext.feed
    # as it is: counted there (n_checksum_zero), never compared, and a run of them switches
    # validation off for the connection (logged, exported)

    def __cinit__(self, *args, **kwargs):
        self.doc = JsonDoc()
        if self.venue is None:
            self.venue = VenueId.okx

    cdef int _err(self, int rc, key) except -1:
        raise_json(self.doc, rc, key)
        return -1

    cdef int _unread(self, VlDoc *d) except -1:
        """A frame dropped without reading on (its instrument not followed, or only counted): the
        keys read so far must not repeat in it either, as the end of a frame read through checks."""
        cdef int rc = vl_doc_dups(d)
        if rc:
            return self._err(rc, None)
        return 0

    cdef int _sides(self, VlDoc *d, FeedSymbol fs) except -1:
        """asks then bids, in the order OKX sends them (books channel, bbo-tbt, REST books)."""
        cdef int rc = vl_doc_levels(d, "asks", fs.px_scale, fs.qty_scale, &self.doc.asks)
        if rc:
            raise_json(self.doc, rc, f"asks[{d.err_index}]", fs.qty_scale)
        rc = vl_doc_levels(d, "bids", fs.px_scale, fs.qty_scale, &self.doc.bids)
        if rc:
            raise_json(self.doc, rc, f"bids[{d.err_index}]", fs.qty_scale)
        return 0

    def on_snapshot(self, FeedSymbol fs, data, int64_t ts_recv=0) -> int:
        """Apply a GET /api/v5/market/books answer ({"code":"0","data":[{"asks","bids","ts","seqId"}]}):
        the book's starting point since OKX stopped pushing one on the stream. Its seqId bridges it
        with the buffered updates (prevSeqId <= seqId of the snapshot < seqId). Raises JSONError on
        bad input, an error answer, or an answer without seqId (it could not be bridged)."""
        cdef bytes b = bytes(data)
        cdef VlDoc *d = self.doc.d
        cdef const char *c = NULL
        cdef size_t cn = 0
        cdef int64_t ts = 0, seq = 0
        cdef int rc = vl_doc_load(d, b, len(b))
        if rc:
            return self._err(rc, None)
        rc = vl_doc_str(d, "code", &c, &cn)
        if rc:
            return self._err(rc, "code")
        if not _eq(c, cn, "0", 1):
            raise JSONError(f"books answer with code {c[:cn].decode('utf-8', 'replace')!r}")
        rc = vl_doc_enter_only(d, "data")
        if rc:
            return self._err(rc, "data")
        self._sides(d, fs)
        self._ts(d, &ts)
        rc = vl_doc_i64(d, "seqId", &seq)
        if rc == VL_J_MISSING:
            raise JSONError("books answer without seqId: it cannot be bridged with the stream")
        if rc:
            return self._err(rc, "seqId")
        if seq < 0:
            raise JSONError(f"books answer with seqId {seq}")
        self.doc.end()
        return self.emit_snapshot(fs, seq, &self.doc.bids, &self.doc.asks, ts, ts_recv or now_ns(), 0, False, 0)

    cdef int on_frame(self, const char *p, size_t n, int64_t ts_recv, int64_t recv_mono) except -1:
        cdef VlDoc *d = self.doc.d
        cdef const char *ch = NULL
        cdef const char *inst = NULL
        cdef size_t chn = 0, instn = 0
        cdef int rc, rc2
        if _eq(p, n, "pong", 4):                   # the text answer to our text "ping": not JSON
            return self.emit_control(CTRL_PONG, None, -1, p, n)
        rc = vl_doc_load(d, p, n)
        if rc:
            return self._err(rc, None)
        # data pushes open with "arg"; so do subscribe acks, which carry "event" instead of data
        rc = vl_doc_enter(d, "arg")
        if rc == VL_J_MISSING:
            return self._event(d, p, n)
        if rc:
            return self._err(rc, "arg")
        rc = vl_doc_str(d, "channel", &ch, &chn)
        if rc:
            return self._err(rc, "arg.channel")
        rc = vl_doc_str(d, "instId", &inst, &instn)
        if rc and rc != VL_J_MISSING:
            return self._err(rc, "arg.instId")
        rc2 = vl_doc_root(d)
        if rc2:
            return self._err(rc2, "arg")
        if rc == VL_J_MISSING:
            if _eq(ch, chn, "liquidation-orders", 18):      # per instType: no instId in arg
                return self._liquidations(d, p, n, ts_recv)
            return self._event(d, p, n)
        if _eq(ch, chn, "books", 5):
            return self._books(d, inst, instn, p, n, ts_recv, recv_mono)
        if _eq(ch, chn, "trades", 6):
            return self._trades(d, inst, instn, p, n, ts_recv)
        if _eq(ch, chn, "bbo-tbt", 7):
            return self._bbo(d, inst, instn, p, n, ts_recv)
        if _eq(ch, chn, "mark-price", 10):
            return self._mark(d, inst, instn, p, n, ts_recv)
        if _eq(ch, chn, "funding-rate", 12):
            return self._funding(d, inst, instn, p, n, ts_recv)
        if _eq(ch, chn, "open-interest", 13):
            return self._oi(d, inst, instn, p, n, ts_recv)
        if _eq(ch, chn, "index-tickers", 13):
            return self._index(d, inst, instn, p, n, ts_recv)
        return self._event(d, p, n)

    cdef int _event(self, VlDoc *d, const char *p, size_t n) except -1:
        """{"event": "subscribe" | "unsubscribe" | "error" | "notice" | "login" | ..., "id", "code", "msg"}"""
        cdef const char *ev = NULL
        cdef const char *s = NULL
        cdef size_t evn = 0, sn = 0
        cdef int64_t rid = -1
        cdef int rc
        # control replies are cold and mostly skipped, where On-Demand checks little: their shape
        # is checked in full first, so a damaged one is never taken for an acknowledgement
        if vl_json_shape(p, n):
            return self._err(VL_J_MALFORMED, None)
        rc = vl_doc_str(d, "event", &ev, &evn)
        if rc == VL_J_MISSING:
            self.doc.end()
            return self.emit_control(CTRL_OTHER, None, -1, p, n)
        if rc:
            return self._err(rc, "event")
        if vl_doc_str(d, "id", &s, &sn) == VL_J_OK:
            rid = _digits(s, sn)
        if _eq(ev, evn, "subscribe", 9):
            self.doc.end()
            return self.emit_control(CTRL_SUBSCRIBED, None, rid, p, n)
        if _eq(ev, evn, "unsubscribe", 11):
            self.doc.end()
            return self.emit_control(CTRL_UNSUBSCRIBED, None, rid, p, n)
        if _eq(ev, evn, "login", 5):
            self.doc.end()
            return self.emit_control(CTRL_LOGIN, None, rid, p, n)
        if _eq(ev, evn, "error", 5) or _eq(ev, evn, "notice", 6):
            rc = vl_doc_str(d, "code", &s, &sn)
            if rc:
                return self._err(rc, "code")
            code = s[:sn].decode("utf-8", "replace")
            rc = vl_doc_str(d, "msg", &s, &sn)
            if rc == VL_J_OK:
                msg = s[:sn].decode("utf-8", "replace")
            elif rc == VL_J_MISSING:
                msg = ""
            else:
                return self._err(rc, "msg")
            self.doc.end()
            topic = f"{code} {msg}" if msg else code
            if _eq(ev, evn, "error", 5):
                return self.emit_control(CTRL_ERROR, topic, rid, p, n)
            # 64008: this connection closes for a service upgrade in about 60 s: reconnect now
            return self.emit_control(CTRL_SHUTDOWN if code == "64008" else CTRL_STATUS, topic, rid, p, n)
        topic = ev[:evn].decode("utf-8", "replace")
        self.doc.end()
        return self.emit_control(CTRL_OTHER, topic, rid, p, n)

    cdef int _ts(self, VlDoc *d, int64_t *out) except -1:
        """`ts`: milliseconds as a decimal string -> ns."""
        cdef int64_t ms = 0
        cdef int rc = vl_doc_fixed(d, "ts", 0, &ms)
        if rc:
            raise_json(self.doc, rc, "ts", 0)
        out[0] = to_ns(ms, MS)
        return 0

    cdef int _books(self, VlDoc *d, const char *inst, size_t instn, const char *p, size_t n, int64_t ts_recv,
                    int64_t recv_mono) except -1:
        cdef const char *a = NULL
        cdef size_t an = 0
        cdef int64_t ts = 0, ck = 0, prev = 0, seq = 0
        cdef bint snapshot, has_ck = True
        cdef FeedSymbol fs
        cdef int rc = vl_doc_str(d, "action", &a, &an)
        if rc == VL_J_MISSING:
            return self._event(d, p, n)           # {"event":"subscribe","arg":{"channel":"books",...}}
        if rc:
            return self._err(rc, "action")
        if _eq(a, an, "snapshot", 8):
            snapshot = True
        elif _eq(a, an, "update", 6):
            snapshot = False
        else:
            raise JSONError(f"books: unknown action {a[:an].decode('utf-8', 'replace')!r}")
        fs = self.lookup(inst, instn)
        if fs is None:
            return self._unread(d)
        rc = vl_doc_enter_only(d, "data")
        if rc:
            return self._err(rc, "data")
        # fields in the order OKX sends them (asks bids ts checksum prevSeqId seqId): On-Demand
        # lookups then never wrap around the object
        self._sides(d, fs)
        self._ts(d, &ts)
        # the checksum, where OKX still sends it, comes before prevSeqId: looked for up to there
        # only, so a frame without it (production since early August 2026) is not walked twice
        rc = vl_doc_i64_before(d, "checksum", "prevSeqId", &ck)
        if rc == VL_J_MISSING:
            has_ck = False
        elif rc:
            return self._err(rc, "checksum")
        rc = vl_doc_i64(d, "prevSeqId", &prev)
        if rc:
            return self._err(rc, "prevSeqId")
        rc = vl_doc_i64(d, "seqId", &seq)
        if rc:
            return self._err(rc, "seqId")
        if not has_ck:
            # a checksum sent elsewhere in the object is still read and compared, never skipped
            rc = vl_doc_walk(d)
            if rc:
                return self._err(rc, None)
            if vl_doc_passed(d, "checksum"):
                rc = vl_doc_i64(d, "checksum", &ck)
                if rc == VL_J_OK:
                    has_ck = True
                elif rc != VL_J_MISSING:
                    return self._err(rc, "checksum")
        if ck < INT32_MIN or ck > INT32_MAX:
            raise JSONError(f"books: checksum {ck} is not a signed 32-bit integer")
        if seq < 0 or prev < -1:
            raise JSONError(f"books: seqId {seq} / prevSeqId {prev} out of range")
        if snapshot and prev != -1:
            raise JSONError(f"books snapshot with prevSeqId {prev} (must be -1)")
        if not snapshot and prev < 0:
            raise JSONError(f"books update with prevSeqId {prev}")
        self.doc.end()
        # the venue's CRC32 is a signed int32: compared as its unsigned bit pattern
        if snapshot:
            return self.emit_snapshot(fs, seq, &self.doc.bids, &self.doc.asks, ts, ts_recv, recv_mono,
                                      has_ck, <uint32_t><int32_t>ck)
        # prevSeqId == seqId with empty sides is OKX's keep-alive: continuity holds, nothing
        # changes; seqId < prevSeqId after maintenance is a legal reset (ext.sync SEQ_PREV)
        # [prevSeqId, seqId] as the delta's span: the first update after a REST snapshot is the one
        # with prevSeqId <= the snapshot's seqId < seqId (OKX's procedure), not only an exact chain
        return self.emit_delta(fs, prev, seq, prev, &self.doc.bids, &self.doc.asks, ts, ts_recv, recv_mono,
                               has_ck, <uint32_t><int32_t>ck)

    cdef int _trades(self, VlDoc *d, const char *inst, size_t instn, const char *p, size_t n,
                     int64_t ts_recv) except -1:
        cdef const char *s = NULL
        cdef size_t sn = 0
        cdef int64_t tid = 0, px = 0, qty = 0, ts = 0
        cdef object side
        cdef FeedSymbol fs
        cdef int rc = vl_doc_enter_only(d, "data")
        if rc == VL_J_MISSING:
            return self._event(d, p, n)
        if rc:
            return self._err(rc, "data")
        fs = self.lookup(inst, instn)
        if fs is None:
            return self._unread(d)
        if not fs.want_trades:
            self._unread(d)
            return self.emit_trade(fs, -1, None, 0, 0, None, 0, ts_recv)     # counted, not decoded
        # instId tradeId px sz side ts count: the order OKX sends them
        rc = vl_doc_fixed(d, "tradeId", 0, &tid)
        if rc:
            raise_json(self.doc, rc, "tradeId", 0)
        rc = vl_doc_fixed(d, "px", fs.px_scale, &px)
        if rc:
            raise_json(self.doc, rc, "px", fs.px_scale)
        rc = vl_doc_fixed(d, "sz", fs.qty_scale, &qty)
        if rc:
            raise_json(self.doc, rc, "sz", fs.qty_scale)
        rc = vl_doc_str(d, "side", &s, &sn)               # the taker's side
        if rc:
            return self._err(rc, "side")
        if _eq(s, sn, "buy", 3):
            side = _BUY
        elif _eq(s, sn, "sell", 4):
            side = _SELL
        else:
            raise JSONError(f"trade side {s[:sn].decode('utf-8', 'replace')!r}")
        self._ts(d, &ts)
        self.doc.end()
        return self.emit_trade(fs, tid, None, px, qty, side, ts, ts_recv)

    cdef int _bbo(self, VlDoc *d, const char *inst, size_t instn, const char *p, size_t n,
                  int64_t ts_recv) except -1:
        cdef int64_t ts = 0, seq = 0, bp = 0, bq = 0, ap = 0, aq = 0
        cdef FeedSymbol fs
        cdef int rc = vl_doc_enter_only(d, "data")
        if rc == VL_J_MISSING:
            return self._event(d, p, n)
        if rc:
            return self._err(rc, "data")
        fs = self.lookup(inst, instn)
        if fs is None:
            return self._unread(d)
        if not fs.want_top:
            self._unread(d)
            return self.emit_top(fs, 0, 0, 0, 0, -1, 0, ts_recv)               # counted, not decoded
        self._sides(d, fs)
        self._ts(d, &ts)
        rc = vl_doc_i64(d, "seqId", &seq)
        if rc:
            return self._err(rc, "seqId")
        self.doc.end()
        if self.doc.asks.n:
            ap, aq = self.doc.asks.px[0], self.doc.asks.qty[0]
        if self.doc.bids.n:
            bp, bq = self.doc.bids.px[0], self.doc.bids.qty[0]
        return self.emit_top(fs, bp, bq, ap, aq, seq, ts, ts_recv)

    # ---- derivatives (a few per second: the event is a Python object, engine.derivatives) ----
    cdef FeedSymbol _enter_deriv(self, VlDoc *d, const char *inst, size_t instn, const char *p, size_t n):
        """Enter the push's one data object and return its symbol; None when there is nothing to
        decode: a subscribe ack (handled as an event), an unknown symbol, or one whose
        derivatives nobody asked for (both counted)."""
        cdef FeedSymbol fs
        cdef int rc = vl_doc_enter_only(d, "data")
        if rc == VL_J_MISSING:
            self._event(d, p, n)
            return None
        if rc:
            self._err(rc, "data")
        fs = self.lookup(inst, instn)
        if fs is not None and not fs.want_derivs:
            self._unread(d)
            self.emit_derivative(fs, None)
            return None
        return fs

    cdef int _mark(self, VlDoc *d, const char *inst, size_t instn, const char *p, size_t n,
                   int64_t ts_recv) except -1:
        cdef int64_t px = 0, ts = 0
        cdef FeedSymbol fs
        cdef int rc
        fs = self._enter_deriv(d, inst, instn, p, n)
        if fs is None:
            return self._unread(d)
        # instType instId markPx ts
        rc = vl_doc_fixed(d, "markPx", fs.px_scale, &px)
        if rc:
            raise_json(self.doc, rc, "markPx", fs.px_scale)
        self._ts(d, &ts)
        self.doc.end()
        return self.emit_derivative(fs, MarkPrice(self.venue, fs.instrument, ts, ts_recv, px))

    cdef int _index(self, VlDoc *d, const char *inst, size_t instn, const char *p, size_t n,
                    int64_t ts_recv) except -1:
        """{"arg":{"channel":"index-tickers","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT","idxPx":"0.1",
        "high24h":"0.5","low24h":"0.1","open24h":"0.1","sodUtc0":"0.1","sodUtc8":"0.1","ts":"1597026383085"}]}"""
        cdef int64_t px = 0, ts = 0
        cdef FeedSymbol fs
        cdef int rc
        # arg.instId names the index ("BTC-USDT"), which is also the spot pair's instId. The price
        # belongs to the swap on that underlying (BTC/USDT:USDT): on this channel, and only here,
        # the symbol looked up is "<index>-SWAP" (a swap's instId is its underlying + "-SWAP"), so
        # an index push can never reach the spot symbol; one whose swap is not followed counts as
        # an unknown symbol, one whose swap wants no derivatives as not wanted.
        cdef bytes swap = inst[:instn] + b"-SWAP"
        fs = self._enter_deriv(d, swap, len(swap), p, n)
        if fs is None:
            return self._unread(d)
        # instId idxPx high24h low24h open24h sodUtc0 sodUtc8 ts: only the price and its time
        rc = vl_doc_fixed(d, "idxPx", fs.px_scale, &px)
        if rc:
            raise_json(self.doc, rc, "idxPx", fs.px_scale)
        self._ts(d, &ts)
        self.doc.end()
        return self.emit_derivative(fs, IndexPrice(self.venue, fs.instrument, ts, ts_recv, px))

    cdef int _funding(self, VlDoc *d, const char *inst, size_t instn, const char *p, size_t n,
                      int64_t ts_recv) except -1:
        cdef int64_t r = 0, ft = 0, nft = 0, ts = 0
        cdef const char *s = NULL
        cdef size_t sn = 0
        cdef FeedSymbol fs
        cdef int rc
        fs = self._enter_deriv(d, inst, instn, p, n)
        if fs is None:
            return self._unread(d)
        # fundingRate fundingTime instId instType ... nextFundingRate nextFundingTime ... ts
        rc = vl_doc_fixed(d, "fundingRate", RATE_SCALE, &r)
        if rc:
            raise_json(self.doc, rc, "fundingRate", RATE_SCALE)
        rc = vl_doc_fixed(d, "fundingTime", 0, &ft)
        if rc:
            raise_json(self.doc, rc, "fundingTime", 0)
        rc = vl_doc_str(d, "nextFundingRate", &s, &sn)     # "" where OKX gives no forecast
        if rc and rc != VL_J_MISSING:
            return self._err(rc, "nextFundingRate")
        nxt = rate(s[:sn].decode("ascii")) if rc == VL_J_OK and sn else None
        rc = vl_doc_fixed(d, "nextFundingTime", 0, &nft)
        if rc:
            raise_json(self.doc, rc, "nextFundingTime", 0)
        self._ts(d, &ts)
        self.doc.end()
        return self.emit_derivative(fs, FundingRate(self.venue, fs.instrument, ts, ts_recv, r, to_ns(ft, MS),
                                                    to_ns(nft, MS), nxt))

    cdef int _oi(self, VlDoc *d, const char *inst, size_t instn, const char *p, size_t n,
                 int64_t ts_recv) except -1:
        cdef int64_t ts = 0
        cdef const char *s = NULL
        cdef size_t sn = 0
        cdef FeedSymbol fs
        cdef int rc
        fs = self._enter_deriv(d, inst, instn, p, n)
        if fs is None:
            return self._unread(d)
        # instType instId oi oiCcy oiUsd ts; `oi` is contracts, at whatever precision OKX keeps
        rc = vl_doc_str(d, "oi", &s, &sn)
        if rc:
            return self._err(rc, "oi")
        text = s[:sn].decode("ascii", "replace")
        self._ts(d, &ts)
        self.doc.end()
        scale = size_scale_of(text, fs.qty_scale)
        return self.emit_derivative(fs, OpenInterest(self.venue, fs.instrument, ts, ts_recv, _fx.parse(text, scale),
                                                     scale))

    cdef int _liquidations(self, VlDoc *d, const char *p, size_t n, int64_t ts_recv) except -1:
        cdef FeedSymbol fs
        if vl_json_shape(p, n):                             # checked in full: decoded in Python
            return self._err(VL_J_MALFORMED, None)
        self.doc.end()
        evs = _liq.decode(p[:n], self.venue, self.symbol_of, ts_recv)
        for f, ev in evs:
            fs = <FeedSymbol>f
            if fs.want_derivs:
                self.emit_derivative(fs, ev)
            else:
                self.emit_derivative(fs, None)
        return 0
