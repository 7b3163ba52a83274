# SPDX-License-Identifier: Apache-2.0
"""Any venue's market-data frames decoded from its wire schema (engine.wire), in C: the schema
is compiled once into arrays of field operations (key, role, flags) that one loop executes per
frame with the simdjson On-Demand reader, no dict and no Python object per level. Its twin is
engine.wire_ref, which reads the same schema in plain Python; the decoder fuzz test holds the
two to the same events.

    parser = WireParser(venue, sink, wire=WIRE)

What a schema hands to Python (Kind.PYTHON channels, control frames: a few per second at most)
is decoded there, after the C reader has checked the frame whole.
"""
from libc.stdint cimport int64_t, uint32_t
from libc.string cimport memcmp, memchr
from cpython.bytes cimport PyBytes_FromStringAndSize
from ext.clock cimport now_ns, to_ns
from ext.json cimport *
from ext.json import JSONError
from ext.feed cimport FrameParser, FeedSymbol
from engine.model import Side
from engine.wire import Kind, Role, Rows, Span
from engine import wire_ref as _ref

cdef object _BUY = Side.BUY
cdef object _SELL = Side.SELL

cdef class WireParser(FrameParser):
    def __cinit__(self, *args, **kwargs):
        self.doc = JsonDoc()

    def __init__(self, venue=None, sink=None, *, wire) -> None:
        if self.venue is None:
            raise ValueError("venue required")
        self.wire = wire
        self._keep = []
        self._decoders = []
        self._raw = list(wire.raw)
        if len(wire.dispatch) not in (1, 2):
            raise ValueError("the dispatch field must sit in the frame or one object down")
        self._n_dispatch = len(wire.dispatch)
        for i, k in enumerate(wire.dispatch):
            self._dispatch[i] = self._c(k)
        self._symbol_key = NULL
        if wire.symbol:
            sp, dp = tuple(wire.symbol), tuple(wire.dispatch)
            if sp[:len(sp) - 1] != dp[:len(dp) - 1]:
                raise ValueError("the envelope's symbol must sit beside the dispatch field")
            self._symbol_key = self._c(sp[len(sp) - 1])
        if len(wire.topic_sep) > 1:
            raise ValueError("topic separator: one character")
        self._sep = ord(wire.topic_sep) if wire.topic_sep else 0
        self._wrap_name = self._wrap_data = NULL
        if wire.wrapper is not None:
            self._wrap_name, self._wrap_data = self._c(wire.wrapper[0]), self._c(wire.wrapper[1])
        if len(wire.channels) > MAX_CHANNELS:
            raise ValueError(f"more than {MAX_CHANNELS} channels")
        self._n_ch = 0
        for ch in wire.channels:
            self._compile(&self._ch[self._n_ch], ch)
            self._decoders.append(ch.decode if ch.kind == Kind.PYTHON else None)
            self._n_ch += 1
        self._has_fallback = wire.fallback is not None
        if self._has_fallback:
            self._fallback_key = self._c(wire.fallback[0])
            self._compile(&self._fallback, wire.fallback[1])
        self._has_rest = wire.rest_book is not None
        if self._has_rest:
            rb = wire.rest_book
            if rb.envelope_ok is not None or rb.rows not in (Rows.OBJECT, Rows.ONLY):
                raise ValueError("REST books with an envelope check are read by the twin only so far")
            self._compile_fields(&self._rest, (), rb.fields, rb.data, rb.rows, rb.time_unit_ns)

    cdef const char *_c(self, str s) except NULL:
        cdef bytes b = s.encode()
        if b"\0" in b:
            raise ValueError(f"a key with a NUL byte: {s!r}")
        self._keep.append(b)
        return <const char *>b

    cdef int _compile_ops(self, FieldOp *ops, int *n, fields) except -1:
        if len(fields) > MAX_FIELDS:
            raise ValueError(f"more than {MAX_FIELDS} fields")
        n[0] = 0
        for f in fields:
            op = &ops[n[0]]
            op.key = self._c(f.key)
            op.role = int(f.role)
            op.flags = (F_OPTIONAL if f.optional else 0) | (F_TEXT if f.text else 0) | (F_OPAQUE if f.opaque else 0)
            if len(f.values) > MAX_VALUES:
                raise ValueError(f"more than {MAX_VALUES} side words")
            op.n_values = len(f.values)
            for i, (text, is_buy) in enumerate(f.values):
                op.values[i] = self._c(text)
                op.value_len[i] = len(text.encode())
                op.value_buy[i] = bool(is_buy)
            n[0] += 1
        return 0

    cdef int _compile_fields(self, ChanOp *c, head, fields, str data, rows, int64_t unit) except -1:
        self._compile_ops(c.head, &c.n_head, head)
        self._compile_ops(c.fields, &c.n_fields, fields)
        c.data = self._c(data) if data else NULL
        c.rows = int(rows)
        c.unit = unit
        c.has_first = c.has_prev = False
        c.key_first = c.key_last = c.key_prev = b"?"
        for f in fields:
            if f.role == Role.FIRST:
                c.has_first, c.key_first = True, self._c(f.key)
            elif f.role == Role.PREV:
                c.has_prev, c.key_prev = True, self._c(f.key)
            elif f.role == Role.LAST:
                c.key_last = self._c(f.key)
        return 0

    cdef int _compile(self, ChanOp *c, ch) except -1:
        c.name = self._c(ch.name)
        c.name_len = len(ch.name.encode())
        c.kind = int(ch.kind)
        c.span = int(ch.span)
        c.restart_id = ch.restart_id
        c.action = NULL
        c.n_snap = c.n_delta = 0
        if ch.action is not None:
            if len(ch.action.snapshot) > MAX_VALUES or len(ch.action.delta) > MAX_VALUES:
                raise ValueError(f"{ch.name}: more than {MAX_VALUES} action words")
            c.action = self._c(ch.action.key)
            for w in ch.action.snapshot:
                c.snap[c.n_snap], c.snap_len[c.n_snap] = self._c(w), len(w.encode())
                c.n_snap += 1
            for w in ch.action.delta:
                c.delta[c.n_delta], c.delta_len[c.n_delta] = self._c(w), len(w.encode())
                c.n_delta += 1
        self._compile_fields(c, ch.head, ch.fields, ch.data, ch.rows, ch.time_unit_ns)
        return 0

    # ---- one frame -------------------------------------------------------------------------------
    cdef int _err(self, int rc, key, int scale=-1) except -1:
        raise_json(self.doc, rc, key, scale)
        return -1

    cdef int on_frame(self, const char *p, size_t n, int64_t ts_recv, int64_t recv_mono) except -1:
        cdef VlDoc *d = self.doc.d
        cdef const char *s = NULL
        cdef size_t sn = 0
        cdef const char *sym = NULL
        cdef size_t symn = 0
        cdef const char *cut
        cdef ChanOp *c = NULL
        cdef int i = 0, rc
        cdef bint snapshot = False
        if self._raw:
            for raw, kind in self._raw:
                if <size_t>len(raw) == n and memcmp(<const char *>raw, p, n) == 0:
                    return self.emit_control(kind, None, -1, p, n)
        rc = vl_doc_load(d, p, n)
        if rc:
            return self._err(rc, None)
        if self._wrap_name != NULL:
            rc = vl_doc_str(d, self._wrap_name, &s, &sn)
            if rc == VL_J_OK:
                rc = vl_doc_enter(d, self._wrap_data)
                if rc:
                    return self._err(rc, self._wrap_data.decode())
            elif rc != VL_J_MISSING:
                return self._err(rc, self._wrap_name.decode())
        if self._n_dispatch == 2:
            rc = vl_doc_enter(d, self._dispatch[0])
            if rc == VL_J_MISSING:
                return self._control(p, n)
            if rc:
                return self._err(rc, self._dispatch[0].decode())
        rc = vl_doc_str(d, self._dispatch[self._n_dispatch - 1], &s, &sn)
        if rc == VL_J_MISSING:
            if not self._has_fallback:
                return self._control(p, n)
            rc = vl_doc_str(d, self._fallback_key, &sym, &symn)
            if rc != VL_J_OK:               # absent, or not a string: not that channel's frame
                return self._control(p, n)
            return self._channel(&self._fallback, d, sym, symn, False, True, p, n, ts_recv, recv_mono)
        if rc:
            return self._err(rc, self._dispatch[self._n_dispatch - 1].decode())
        if self._sep:
            cut = <const char *>memchr(s, self._sep, sn)
            if cut != NULL:
                sym = s + sn                # the symbol: after the last separator
                while (sym - 1)[0] != self._sep:
                    sym -= 1
                symn = <size_t>(s + sn - sym)
                sn = <size_t>(cut - s)
        for i in range(self._n_ch):
            if self._ch[i].name_len == sn and memcmp(self._ch[i].name, s, sn) == 0:
                c = &self._ch[i]
                break
        if c == NULL:
            if self._has_fallback and self._fallback.name_len == sn and memcmp(self._fallback.name, s, sn) == 0:
                c = &self._fallback
            else:
                return self._control(p, n)
        if c.kind == K_PYTHON:
            return self._python(p, n, i, ts_recv)
        if self._symbol_key != NULL:
            rc = vl_doc_str(d, self._symbol_key, &sym, &symn)
            if rc == VL_J_MISSING:
                return self._control(p, n)
            if rc:
                return self._err(rc, self._symbol_key.decode())
        if self._n_dispatch == 2:
            rc = vl_doc_root(d)
            if rc:
                return self._err(rc, None)
        if c.action != NULL:
            rc = vl_doc_str(d, c.action, &s, &sn)
            if rc == VL_J_MISSING:
                return self._control(p, n)
            if rc:
                return self._err(rc, c.action.decode())
            if _word(s, sn, c.snap, c.snap_len, c.n_snap):
                snapshot = True
            elif not _word(s, sn, c.delta, c.delta_len, c.n_delta):
                raise JSONError(f"{c.name.decode()}: unknown {c.action.decode()} "
                                f"{PyBytes_FromStringAndSize(s, sn).decode('utf-8', 'replace')!r}")
        return self._channel(c, d, sym, symn, snapshot, False, p, n, ts_recv, recv_mono)

    cdef int _control(self, const char *p, size_t n) except -1:
        """Not a channel's frame: checked whole here, classified by the schema's control hook."""
        self.doc.end()
        kind, topic, rid = _ref.control_of(self.wire, PyBytes_FromStringAndSize(p, n))
        return self.emit_control(kind, topic, rid, p, n)

    cdef int _python(self, const char *p, size_t n, int i, int64_t ts_recv) except -1:
        cdef FeedSymbol fs
        if vl_json_shape(p, n):                             # checked in full: decoded in Python
            return self._err(VL_J_MALFORMED, None)
        self.doc.end()
        for f, ev in self._decoders[i](p[:n], self.venue, self.symbol_of, ts_recv):
            fs = <FeedSymbol>f
            self.emit_derivative(fs, ev if fs.want_derivs else None)
        return 0

    cdef int _unread(self, VlDoc *d) except -1:
        """Dropped without reading on: the keys read so far must not repeat either."""
        cdef int rc = vl_doc_dups(d)
        if rc:
            return self._err(rc, None)
        return 0

    cdef FeedSymbol _open(self, ChanOp *c, VlDoc *d, const char *s, size_t sn, int64_t ts_recv):
        """The instrument named; None when not followed or not wanted (then counted)."""
        cdef FeedSymbol fs = self.lookup(s, sn)
        if fs is None:
            self._unread(d)
            return None
        if c.kind == K_TRADES and not fs.want_trades:
            self._unread(d)
            self.emit_trade(fs, -1, None, 0, 0, None, 0, ts_recv)       # counted, not decoded
            return None
        if c.kind == K_TOP and not fs.want_top:
            self._unread(d)
            self.emit_top(fs, 0, 0, 0, 0, -1, 0, ts_recv)
            return None
        return fs

    cdef int _fields(self, ChanOp *c, FieldOp *ops, int n_ops, VlDoc *d, const char *env, size_t envn,
                     int64_t ts_recv) except -1:
        """The fields in order into the role slots (the instrument: self._fs, found at SYMBOL
        when the envelope named none); 1 when the frame was dropped (its symbol not followed or
        not wanted), else 0."""
        cdef FieldOp *op
        cdef const char *s = NULL
        cdef size_t sn = 0
        cdef int64_t v = 0
        cdef int rc, i, j, scale
        cdef int b = 0
        cdef FeedSymbol fs = self._fs
        for i in range(n_ops):
            op = &ops[i]
            r = op.role
            if r == R_SYMBOL:
                rc = vl_doc_str(d, op.key, &s, &sn)
                if rc:
                    return self._err(rc, op.key.decode())
                if env != NULL and (sn != envn or memcmp(s, env, sn) != 0):
                    raise JSONError(f"{c.name.decode()}: symbol {PyBytes_FromStringAndSize(s, sn).decode('utf-8', 'replace')!r}"
                                    f" in a message for {PyBytes_FromStringAndSize(env, envn).decode('utf-8', 'replace')!r}")
                if fs is None:
                    fs = self._open(c, d, s, sn, ts_recv)
                    if fs is None:
                        return 1
                    self._fs = fs
                continue
            if r == R_BIDS or r == R_ASKS:
                rc = vl_doc_levels(d, op.key, fs.px_scale, fs.qty_scale,
                                   &self.doc.bids if r == R_BIDS else &self.doc.asks)
                if rc == VL_J_MISSING and op.flags & F_OPTIONAL:
                    continue
                if rc:
                    return self._err(rc, f"{op.key.decode()}[{d.err_index}]" if rc != VL_J_MISSING else op.key.decode())
                self._have[r] = True
                continue
            if r == R_SIDE:
                if op.n_values:
                    rc = vl_doc_str(d, op.key, &s, &sn)
                    if rc == VL_J_OK:
                        for j in range(op.n_values):
                            if op.value_len[j] == sn and memcmp(op.values[j], s, sn) == 0:
                                self._side = _BUY if op.value_buy[j] else _SELL
                                break
                        else:
                            raise JSONError(f"{c.name.decode()}: side "
                                            f"{PyBytes_FromStringAndSize(s, sn).decode('utf-8', 'replace')!r}")
                else:
                    rc = vl_doc_bool(d, op.key, &b)
                    if rc == VL_J_OK:
                        self._side = _SELL if b else _BUY               # the buyer was the maker
                if rc == VL_J_MISSING and op.flags & F_OPTIONAL:
                    continue
                if rc:
                    return self._err(rc, op.key.decode())
                self._have[r] = True
                continue
            if r == R_TRADE_ID and op.flags & F_OPAQUE:
                rc = vl_doc_str(d, op.key, &s, &sn)
                if rc == VL_J_MISSING and op.flags & F_OPTIONAL:
                    continue
                if rc:
                    return self._err(rc, op.key.decode())
                if sn == 0:
                    raise JSONError(f"{c.name.decode()}: empty trade id")
                self._tid_str = PyBytes_FromStringAndSize(s, sn).decode("utf-8", "replace")
                self._have[r] = True
                continue
            if r == R_PRICE or r == R_BID_PX or r == R_ASK_PX:
                scale = fs.px_scale
                rc = vl_doc_fixed(d, op.key, scale, &v)
            elif r == R_SIZE or r == R_BID_QTY or r == R_ASK_QTY:
                scale = fs.qty_scale
                rc = vl_doc_fixed(d, op.key, scale, &v)
            elif op.flags & F_TEXT:
                scale = 0
                rc = vl_doc_fixed(d, op.key, 0, &v)
            else:
                scale = -1
                rc = vl_doc_i64(d, op.key, &v)
            if rc == VL_J_MISSING and op.flags & F_OPTIONAL:
                continue
            if rc:
                return self._err(rc, op.key.decode(), scale)
            self._v[r] = v
            self._have[r] = True
        return 0

    cdef int _channel(self, ChanOp *c, VlDoc *d, const char *env, size_t envn, bint snapshot,
                      bint fallback, const char *p, size_t n, int64_t ts_recv, int64_t recv_mono) except -1:
        cdef FeedSymbol fs
        cdef int rc, i
        for i in range(N_ROLES):
            self._have[i] = False
        self._tid_str = None
        self._fs = None
        if fallback:
            env = NULL                      # the fallback key was only a test; the SYMBOL field reads it
        if self._fields(c, c.head, c.n_head, d, NULL, 0, ts_recv):
            return 0
        if c.data != NULL:
            if c.rows == 3:                 # Rows.MANY
                rc = vl_doc_objects(d, c.data)
            elif c.rows == 2:               # Rows.ONLY
                rc = vl_doc_enter_only(d, c.data)
            else:
                rc = vl_doc_enter(d, c.data)
            if rc == VL_J_MISSING:
                return self._control(p, n)
            if rc:
                return self._err(rc, c.data.decode())
        if env != NULL:
            self._fs = self._open(c, d, env, envn, ts_recv)
            if self._fs is None:
                return 0
        if c.rows == 3:
            return self._trade_rows(c, d, env, envn, ts_recv)
        if self._fields(c, c.fields, c.n_fields, d, env, envn, ts_recv):
            return 0
        fs = self._fs
        self._fs = None
        if fs is None:
            raise JSONError(f"{c.name.decode()}: no symbol")
        if c.kind == K_BOOK:
            return self._book(c, fs, snapshot, ts_recv, recv_mono)
        if c.kind == K_TRADES:
            return self._trade(c, fs, ts_recv)
        return self._top(c, fs, ts_recv)

    cdef int _book(self, ChanOp *c, FeedSymbol fs, bint snapshot, int64_t ts_recv, int64_t recv_mono) except -1:
        cdef int64_t last = self._v[R_LAST]
        cdef int64_t first, prev
        cdef int64_t ts = to_ns(self._v[R_TS], c.unit) if self._have[R_TS] else 0
        cdef bint has_ck = self._have[R_CHECKSUM]
        cdef int64_t ck = self._v[R_CHECKSUM] if has_ck else 0
        if has_ck and (ck < -2147483648 or ck > 4294967295):
            raise JSONError(f"{c.name.decode()}: checksum {ck} is not a 32-bit integer")
        if not snapshot and last == c.restart_id:
            snapshot = True                 # the venue restarted: this delta is a whole book
        if c.span == 2:                     # Span.FROM_PREV
            prev = self._v[R_PREV]
            if last < 0 or prev < -1:
                raise JSONError(f"{c.name.decode()}: ids {prev}/{last} out of range")
            if snapshot and prev != -1:
                raise JSONError(f"{c.name.decode()}: snapshot with previous id {prev}")
            if not snapshot and prev < 0:
                raise JSONError(f"{c.name.decode()}: update with previous id {prev}")
            first = prev
        elif c.span == 3:                   # Span.CONSECUTIVE
            if last < 1:
                raise JSONError(f"{c.name.decode()}: id {last} out of range")
            first, prev = last, last - 1
        else:
            first = self._v[R_FIRST] if self._have[R_FIRST] else last
            prev = self._v[R_PREV] if self._have[R_PREV] else -1
            if last < first:
                raise JSONError(f"{c.name.decode()} with {c.key_last.decode()} {last} < {c.key_first.decode()} {first}")
            if self._have[R_PREV] and prev >= first:
                raise JSONError(f"{c.name.decode()} with {c.key_prev.decode()} {prev} >= {c.key_first.decode()} {first}")
        self.doc.end()
        if snapshot:
            return self.emit_snapshot(fs, last, &self.doc.bids, &self.doc.asks, ts, ts_recv, recv_mono,
                                      has_ck, <uint32_t>ck)
        return self.emit_delta(fs, first, last, prev, &self.doc.bids, &self.doc.asks, ts, ts_recv, recv_mono,
                               has_ck, <uint32_t>ck)

    cdef int _trade(self, ChanOp *c, FeedSymbol fs, int64_t ts_recv) except -1:
        cdef int64_t ts = to_ns(self._v[R_TS], c.unit) if self._have[R_TS] else 0
        self.doc.end()
        if self._tid_str is not None:
            tid_str, self._tid_str = self._tid_str, None
            return self.emit_trade(fs, -1, tid_str, self._v[R_PRICE], self._v[R_SIZE], self._side, ts, ts_recv)
        return self.emit_trade(fs, self._v[R_TRADE_ID], None, self._v[R_PRICE], self._v[R_SIZE], self._side, ts,
                               ts_recv)

    cdef int _trade_rows(self, ChanOp *c, VlDoc *d, const char *env, size_t envn, int64_t ts_recv) except -1:
        """Every row decoded first, then the frame checked whole, then the trades emitted: a bad
        row refuses the message, never half of it."""
        cdef FeedSymbol fs = self._fs
        cdef int64_t ts
        cdef int rc, i
        cdef list rows = []
        while True:
            rc = vl_doc_next_object(d)
            if rc == VL_J_MISSING:
                break
            if rc:
                return self._err(rc, f"{c.data.decode()}[{len(rows)}]")
            for i in range(N_ROLES):
                self._have[i] = False
            self._tid_str = None
            self._fields(c, c.fields, c.n_fields, d, env, envn, ts_recv)
            ts = to_ns(self._v[R_TS], c.unit) if self._have[R_TS] else 0
            rows.append((self._tid_str if self._tid_str is not None else self._v[R_TRADE_ID],
                         self._v[R_PRICE], self._v[R_SIZE], self._side, ts))
        self._fs = None
        self._tid_str = None
        self.doc.end()
        for tid, px, qty, side, ts in rows:
            if isinstance(tid, str):
                self.emit_trade(fs, -1, tid, px, qty, side, ts, ts_recv)
            else:
                self.emit_trade(fs, tid, None, px, qty, side, ts, ts_recv)
        return 0

    cdef int _top(self, ChanOp *c, FeedSymbol fs, int64_t ts_recv) except -1:
        cdef int64_t bp, bq, ap, aq
        cdef int64_t ts = to_ns(self._v[R_TS], c.unit) if self._have[R_TS] else 0
        if self._have[R_BIDS]:
            bp = self.doc.bids.px[0] if self.doc.bids.n else 0
            bq = self.doc.bids.qty[0] if self.doc.bids.n else 0
            ap = self.doc.asks.px[0] if self.doc.asks.n else 0
            aq = self.doc.asks.qty[0] if self.doc.asks.n else 0
        else:
            bp, bq, ap, aq = self._v[R_BID_PX], self._v[R_BID_QTY], self._v[R_ASK_PX], self._v[R_ASK_QTY]
        self.doc.end()
        return self.emit_top(fs, bp, bq, ap, aq, self._v[R_TOP_ID] if self._have[R_TOP_ID] else -1, ts, ts_recv)

    # ---- the REST book ---------------------------------------------------------------------------
    def on_snapshot(self, FeedSymbol fs, data, int64_t ts_recv=0) -> int:
        cdef bytes b = bytes(data)
        cdef VlDoc *d = self.doc.d
        cdef ChanOp *c = &self._rest
        cdef int rc, i
        if not self._has_rest:
            raise JSONError(f"{self.venue.name}: no REST book in this venue's wire")
        rc = vl_doc_load(d, b, len(b))
        if rc:
            return self._err(rc, None)
        if c.data != NULL:
            rc = vl_doc_enter_only(d, c.data) if c.rows == 2 else vl_doc_enter(d, c.data)
            if rc:
                return self._err(rc, c.data.decode())
        for i in range(N_ROLES):
            self._have[i] = False
        self._fs = fs
        try:
            self._fields(c, c.fields, c.n_fields, d, NULL, 0, ts_recv)
        finally:
            self._fs = None
        self.doc.end()
        return self.emit_snapshot(fs, self._v[R_LAST], &self.doc.bids, &self.doc.asks,
                                  to_ns(self._v[R_TS], c.unit) if self._have[R_TS] else 0,
                                  ts_recv or now_ns(), 0, False, 0)


cdef inline bint _word(const char *s, size_t n, const char **words, size_t *lens, int count) noexcept:
    cdef int i
    for i in range(count):
        if lens[i] == n and memcmp(words[i], s, n) == 0:
            return True
    return False
