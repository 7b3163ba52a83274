# SPDX-License-Identifier: Apache-2.0
"""Any venue's market-data frames decoded from its wire schema (venuelink.wire), in C: the schema
is compiled once into arrays of field operations (key, role, flags) that one loop executes per
frame with the simdjson On-Demand reader, no dict and no Python object per level. Its twin is
venuelink.wire_ref, which reads the same schema in plain Python; the decoder fuzz test holds the
two to the same events.

    parser = WireParser(venue, sink, wire=WIRE)

What a schema hands to Python (Kind.PYTHON channels, control frames: a few per second at most)
is decoded there, after the C reader has checked the frame whole.
"""
from libc.stdint cimport int64_t, uint32_t
from libc.string cimport memcmp, memchr, memset
from cpython.bytes cimport PyBytes_FromStringAndSize
from venuelink.ext.clock cimport now_ns, to_ns, rfc3339_at
from venuelink.ext.json cimport *
from venuelink.ext.json import FieldValueError, JSONError, MissingFieldError
from venuelink.ext.feed cimport FrameParser, FeedSymbol
from venuelink.model import Side
from venuelink.wire import Kind, Role, Rows, Span
from venuelink.derivatives import RATE_SCALE
import venuelink.ext.decimal as _fx
from venuelink import wire_ref as _ref

cdef int64_t INT32_MIN_ = -2147483648
cdef int64_t INT32_MAX_ = 2147483647
cdef int64_t UINT32_MAX_ = 4294967295
cdef object _BUY = Side.BUY
_ROLES = {int(r): r for r in Role}
_NOT_INT = frozenset({Role.SYMBOL, Role.BIDS, Role.ASKS, Role.SIDE, Role.PRICE, Role.SIZE, Role.BID_PX, Role.BID_QTY,
                      Role.ASK_PX, Role.ASK_QTY, Role.MARK_PX, Role.INDEX_PX, Role.FUNDING_RATE,
                      Role.NEXT_FUNDING_RATE, Role.OPEN_INTEREST, Role.BLOCK})
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
        if len(wire.raw) > MAX_VALUES:
            raise ValueError(f"more than {MAX_VALUES} raw frames")
        self._n_raw = 0
        self._raw_max = 0
        for raw, kind in wire.raw:
            self._keep.append(raw)
            self._raw[self._n_raw], self._raw_len[self._n_raw], self._raw_kind[self._n_raw] = raw, len(raw), int(kind)
            self._raw_max = max(self._raw_max, len(raw))
            self._n_raw += 1
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
        self._strs = {}
        self._control_key = bool(wire.control_key)
        self._has_fallback = wire.fallback is not None
        if self._has_fallback:
            self._fallback_key = self._c(wire.fallback[0])
            self._compile(&self._fallback, wire.fallback[1])
        self._has_rest = wire.rest_book is not None
        if self._has_rest:
            rb = wire.rest_book
            if rb.rows not in (Rows.OBJECT, Rows.ONLY):
                raise ValueError("a REST book is one object")
            self._rest.suffix = NULL
            self._rest.name = self._c("rest-book")
            self._rest.kind = K_BOOK
            self._compile_fields(&self._rest, (), rb.fields, rb.data, rb.rows, rb.time_unit_ns)
            self._rest_ok_key = NULL
            self._rest_nonneg = rb.nonnegative
            if rb.envelope_ok is not None:
                key, want = rb.envelope_ok
                self._rest_ok_key = self._c(key)
                self._rest_ok_text = None if want.lstrip("-").isdigit() else want.encode()
                self._rest_ok = int(want) if self._rest_ok_text is None else 0

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
        fields = tuple(fields)
        for k, f in enumerate(fields):
            op = &ops[n[0]]
            op.key = self._c(f.key)
            # an optional integer with a field after it: looked for up to that field only, so a
            # message without it is not walked twice (found later all the same: see _fields)
            op.stop = NULL
            op.scale = SC_NONE
            if f.optional and not f.text and k + 1 < len(fields) and f.role not in _NOT_INT:
                op.stop = self._c(fields[k + 1].key)
                op.read = RD_BEFORE
            elif f.role == Role.SYMBOL:
                op.read = RD_SYMBOL
            elif f.role in (Role.BIDS, Role.ASKS):
                op.read = RD_LEVELS if tuple(f.cols) == (0, 1) else RD_COLS
                op.px_col, op.qty_col = f.cols
            elif f.role == Role.LEVELS:
                op.read = RD_SPLIT
                sp = f.split
                for j, text in enumerate((sp.side, sp.bid, sp.ask, sp.price, sp.size)):
                    op.split[j] = self._c(text)
                op.size_optional = sp.size_optional
            elif f.role == Role.TS and f.iso:
                op.read = RD_ISO
            elif f.role == Role.SIDE:
                op.read = RD_SIDE
            elif f.role == Role.BLOCK:
                op.read = RD_BOOL
            elif f.role == Role.TRADE_ID and f.opaque:
                op.read = RD_OPAQUE
            elif f.role in (Role.NEXT_FUNDING_RATE, Role.OPEN_INTEREST):
                op.read = RD_STR
            elif f.role in (Role.PRICE, Role.BID_PX, Role.ASK_PX, Role.MARK_PX, Role.INDEX_PX):
                op.read, op.scale = RD_FIXED, SC_PX
            elif f.role in (Role.SIZE, Role.BID_QTY, Role.ASK_QTY):
                op.read, op.scale = RD_FIXED, SC_QTY
            elif f.role == Role.FUNDING_RATE:
                op.read, op.scale = RD_FIXED, SC_RATE
            elif f.text:
                op.read = RD_FIXED
            else:
                op.read = RD_I64
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
        c.has_first = c.has_prev = c.signed_ck = False
        c.key_first = c.key_last = c.key_prev = b"?"
        for f in fields:
            if f.role == Role.FIRST:
                c.has_first, c.key_first = True, self._c(f.key)
            elif f.role == Role.PREV:
                c.has_prev, c.key_prev = True, self._c(f.key)
            elif f.role == Role.LAST:
                c.key_last = self._c(f.key)
            elif f.role == Role.CHECKSUM:
                c.signed_ck = f.signed
        return 0

    cdef int _compile(self, ChanOp *c, ch) except -1:
        c.name = self._c(ch.name)
        c.name_len = len(ch.name.encode())
        c.suffix = self._c(ch.symbol_suffix) if ch.symbol_suffix else NULL
        c.suffix_len = len(ch.symbol_suffix.encode())
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
        if n <= self._raw_max:
            for i in range(self._n_raw):
                if self._raw_len[i] == n and memcmp(self._raw[i], p, n) == 0:
                    return self.emit_control(self._raw_kind[i], None, -1, p, n)
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
                sn = <size_t>(sym - 1 - s)  # the channel: all before it ("orderbook.50")
        for i in range(self._n_ch):
            if self._ch[i].name_len == sn and self._ch[i].name[0] == s[0] and memcmp(self._ch[i].name, s, sn) == 0:
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
        if c.suffix != NULL and sym != NULL:
            self._symbuf = PyBytes_FromStringAndSize(sym, symn) + c.suffix[:c.suffix_len]
            sym, symn = <const char *>self._symbuf, len(self._symbuf)
        if not self._control_key:
            return self._channel(c, d, sym, symn, snapshot, False, p, n, ts_recv, recv_mono)
        try:
            return self._channel(c, d, sym, symn, snapshot, False, p, n, ts_recv, recv_mono)
        except MissingFieldError:
            got = _ref.keyed_control(self.wire, PyBytes_FromStringAndSize(p, n))
            if got is None:
                raise
            return self.emit_control(got[0], got[1], got[2], p, n)

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
        got = self._decoders[i](p[:n], self.venue, self.symbol_of, ts_recv)
        if got is None:                                     # no data in it: an acknowledgement
            kind, topic, rid = _ref.control_of(self.wire, PyBytes_FromStringAndSize(p, n))
            return self.emit_control(kind, topic, rid, p, n)
        for f, ev in got:
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
        if c.kind == K_DERIVS and not fs.want_derivs:
            self._unread(d)
            self.emit_derivative(fs, None)
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
        cdef int rc, i, j, r, rd, scale
        cdef int b = 0
        cdef FieldOp *deferred = NULL
        cdef FeedSymbol fs = self._fs
        for i in range(n_ops):
            op = &ops[i]
            r = op.role
            rd = op.read
            if rd == RD_I64 or rd == RD_FIXED:      # the common reads first: ids, times, prices
                if rd == RD_I64:
                    scale = -1
                    rc = vl_doc_i64(d, op.key, &v)
                else:
                    scale = 0 if op.scale == SC_NONE else fs.px_scale if op.scale == SC_PX else \
                        fs.qty_scale if op.scale == SC_QTY else RATE_SCALE
                    rc = vl_doc_fixed(d, op.key, scale, &v)
                if rc:
                    if rc == VL_J_MISSING and op.flags & F_OPTIONAL:
                        continue
                    return self._err(rc, op.key.decode(), scale)
                self._v[r] = v
                self._have[r] = True
                continue
            if rd == RD_LEVELS:
                rc = vl_doc_levels(d, op.key, fs.px_scale, fs.qty_scale,
                                   &self.doc.bids if r == R_BIDS else &self.doc.asks)
                if rc:
                    if rc == VL_J_MISSING and op.flags & F_OPTIONAL:
                        continue
                    return self._err(rc, f"{op.key.decode()}[{d.err_index}]" if rc != VL_J_MISSING else op.key.decode(),
                                     self._level_scale(d, fs) if rc == VL_J_NUMBER else -1)
                self._have[r] = True
                continue
            if rd == RD_COLS or rd == RD_SPLIT:
                if rd == RD_COLS:
                    rc = vl_doc_levels_cols(d, op.key, op.px_col, op.qty_col, fs.px_scale, fs.qty_scale,
                                            &self.doc.bids if r == R_BIDS else &self.doc.asks)
                else:
                    rc = vl_doc_levels_sides(d, op.key, op.split[0], op.split[1], op.split[2], op.split[3],
                                             op.split[4], op.size_optional, fs.px_scale, fs.qty_scale,
                                             &self.doc.bids, &self.doc.asks)
                if rc:
                    if rc == VL_J_MISSING and op.flags & F_OPTIONAL:
                        continue
                    return self._err(rc, f"{op.key.decode()}[{d.err_index}]" if rc != VL_J_MISSING else op.key.decode(),
                                     self._level_scale(d, fs) if rc == VL_J_NUMBER else -1)
                if rd == RD_SPLIT:
                    self._have[R_BIDS] = self._have[R_ASKS] = True
                else:
                    self._have[r] = True
                continue
            if rd == RD_ISO:
                rc = vl_doc_str(d, op.key, &s, &sn)
                if rc:
                    if rc == VL_J_MISSING and op.flags & F_OPTIONAL:
                        continue
                    return self._err(rc, op.key.decode())
                try:
                    self._v[r] = rfc3339_at(s, sn)
                except ValueError as e:
                    raise FieldValueError(f"field {op.key.decode()!r}: {e}") from None
                self._have[r] = True
                continue
            if rd == RD_BEFORE:                 # optional integer, looked for up to the next field only
                rc = vl_doc_i64_before(d, op.key, op.stop, &v)
                if rc == VL_J_MISSING:
                    deferred = op
                    continue
                if rc:
                    return self._err(rc, op.key.decode())
                self._v[r] = v
                self._have[r] = True
                continue
            if rd == RD_SYMBOL:
                rc = vl_doc_str(d, op.key, &s, &sn)
                if rc:
                    return self._err(rc, op.key.decode())
                if env != NULL and (sn != envn or memcmp(s, env, sn) != 0):
                    got = PyBytes_FromStringAndSize(s, sn).decode('utf-8', 'replace')
                    want = PyBytes_FromStringAndSize(env, envn).decode('utf-8', 'replace')
                    raise JSONError(f"{c.name.decode()}: symbol {got!r} in a message for {want!r}")
                if fs is None:
                    fs = self._open(c, d, s, sn, ts_recv)
                    if fs is None:
                        return 1
                    self._fs = fs
                continue
            if rd == RD_SIDE:
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
            if rd == RD_BOOL:
                rc = vl_doc_bool(d, op.key, &b)
                if rc == VL_J_MISSING and op.flags & F_OPTIONAL:
                    continue
                if rc:
                    return self._err(rc, op.key.decode())
                self._v[r] = 1 if b else 0
                self._have[r] = True
                continue
            # RD_OPAQUE (a trade id kept as text) or RD_STR (open interest, a funding forecast)
            rc = vl_doc_str(d, op.key, &s, &sn)
            if rc == VL_J_MISSING and op.flags & F_OPTIONAL:
                continue
            if rc:
                return self._err(rc, op.key.decode())
            if rd == RD_OPAQUE:
                if sn == 0:
                    raise JSONError(f"{c.name.decode()}: empty trade id")
                self._tid_str = PyBytes_FromStringAndSize(s, sn).decode("utf-8", "replace")
            else:
                self._strs[r] = PyBytes_FromStringAndSize(s, sn).decode("utf-8", "replace")
            self._have[r] = True
        if deferred != NULL:
            # not met before the field after it: sent elsewhere in the object, it is still read
            rc = vl_doc_walk(d)
            if rc:
                return self._err(rc, None)
            if vl_doc_passed(d, deferred.key):
                rc = vl_doc_i64(d, deferred.key, &v)
                if rc == VL_J_OK:
                    self._v[deferred.role] = v
                    self._have[deferred.role] = True
                elif rc != VL_J_MISSING:
                    return self._err(rc, deferred.key.decode())
        return 0

    cdef int _channel(self, ChanOp *c, VlDoc *d, const char *env, size_t envn, bint snapshot,
                      bint fallback, const char *p, size_t n, int64_t ts_recv, int64_t recv_mono) except -1:
        cdef FeedSymbol fs
        cdef int rc, i
        memset(self._have, 0, sizeof(self._have))
        self._tid_str = None
        self._fs = None
        if self._strs:
            self._strs.clear()
        if fallback:
            env = NULL                      # the fallback key was only a test; the SYMBOL field reads it
        if c.n_head and self._fields(c, c.head, c.n_head, d, NULL, 0, ts_recv):
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
        if c.kind == K_DERIVS:
            return self._derivs(c, fs, ts_recv)
        return self._top(c, fs, ts_recv)

    cdef int _derivs(self, ChanOp *c, FeedSymbol fs, int64_t ts_recv) except -1:
        cdef int r
        self.doc.end()
        v = {}
        for r in range(1, N_ROLES):
            if self._have[r]:
                v[_ROLES[r]] = self._strs[r] if r == R_NEXT_FUNDING_RATE or r == R_OPEN_INTEREST else self._v[r]
        for ev in _ref.derivative_events(self.venue, fs, v, c.unit, ts_recv):
            self.emit_derivative(fs, ev)
        return 0

    cdef int _book(self, ChanOp *c, FeedSymbol fs, bint snapshot, int64_t ts_recv, int64_t recv_mono) except -1:
        cdef int64_t last = self._v[R_LAST] if self._have[R_LAST] else -1    # -1: a venue without ids
        cdef int64_t first, prev
        cdef int64_t ts = to_ns(self._v[R_TS], c.unit) if self._have[R_TS] else 0
        cdef bint has_ck = self._have[R_CHECKSUM]
        cdef int64_t ck = self._v[R_CHECKSUM] if has_ck else 0
        cdef int64_t ck_max = INT32_MAX_ if c.signed_ck else UINT32_MAX_
        if has_ck and (ck < INT32_MIN_ or ck > ck_max):
            raise JSONError(f"{c.name.decode()}: checksum {ck} is not a {'signed ' if c.signed_ck else ''}"
                            f"32-bit integer")
        if not snapshot and c.restart_id >= 0 and last == c.restart_id:
            snapshot = True                 # the venue restarted: this delta is a whole book
        if c.span == 2:                     # Span.FROM_PREV
            prev = self._v[R_PREV]
            if last < 0 or prev < -1:
                raise JSONError(f"{c.name.decode()}: {c.key_last.decode()} {last} / {c.key_prev.decode()} {prev} "
                                f"out of range")
            if snapshot and prev != -1:
                raise JSONError(f"{c.name.decode()} snapshot with {c.key_prev.decode()} {prev} (must be -1)")
            if not snapshot and prev < 0:
                raise JSONError(f"{c.name.decode()} update with {c.key_prev.decode()} {prev}")
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
                raise JSONError(f"{c.name.decode()} with {c.key_prev.decode()} {prev} >= "
                                f"{c.key_first.decode()} {first}")
        self.doc.end()
        if snapshot:
            return self.emit_snapshot(fs, last, &self.doc.bids, &self.doc.asks, ts, ts_recv, recv_mono,
                                      has_ck, <uint32_t>ck)
        return self.emit_delta(fs, first, last, prev, &self.doc.bids, &self.doc.asks, ts, ts_recv, recv_mono,
                               has_ck, <uint32_t>ck)

    cdef int _trade(self, ChanOp *c, FeedSymbol fs, int64_t ts_recv) except -1:
        cdef int64_t ts = to_ns(self._v[R_TS], c.unit) if self._have[R_TS] else 0
        self.doc.end()
        self.trade_block = self._have[R_BLOCK] and self._v[R_BLOCK] != 0
        try:
            if self._tid_str is not None:
                tid_str, self._tid_str = self._tid_str, None
                return self.emit_trade(fs, -1, tid_str, self._v[R_PRICE], self._v[R_SIZE], self._side, ts, ts_recv)
            return self.emit_trade(fs, self._v[R_TRADE_ID], None, self._v[R_PRICE], self._v[R_SIZE], self._side, ts,
                                   ts_recv)
        finally:
            self.trade_block = False

    cdef int _level_scale(self, VlDoc *d, FeedSymbol fs) except? -2:
        """The scale of the level value that failed: its price's if the token is no price either
        (prices are read first), else its size's."""
        try:
            _fx.parse(d.err_tok[:d.err_len].decode("utf-8", "replace"), fs.px_scale)
        except (ValueError, OverflowError):
            return fs.px_scale
        return fs.qty_scale

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
                         self._v[R_PRICE], self._v[R_SIZE], self._side, ts,
                         self._have[R_BLOCK] and self._v[R_BLOCK] != 0))
        self._fs = None
        self._tid_str = None
        self.doc.end()
        try:
            for tid, px, qty, side, ts, block in rows:
                self.trade_block = block
                if isinstance(tid, str):
                    self.emit_trade(fs, -1, tid, px, qty, side, ts, ts_recv)
                else:
                    self.emit_trade(fs, tid, None, px, qty, side, ts, ts_recv)
        finally:
            self.trade_block = False
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
        cdef const char *s = NULL
        cdef size_t sn = 0
        cdef int64_t got = 0
        rc = vl_doc_load(d, b, len(b))
        if rc:
            return self._err(rc, None)
        if self._rest_ok_key != NULL:
            if self._rest_ok_text is None:
                rc = vl_doc_fixed(d, self._rest_ok_key, 0, &got)
                if rc:
                    return self._err(rc, self._rest_ok_key.decode(), 0)
                if got != self._rest_ok:
                    raise JSONError(f"book answer with {self._rest_ok_key.decode()} {got}")
            else:
                rc = vl_doc_str(d, self._rest_ok_key, &s, &sn)
                if rc:
                    return self._err(rc, self._rest_ok_key.decode())
                if s[:sn] != self._rest_ok_text:
                    raise JSONError(f"book answer with {self._rest_ok_key.decode()} "
                                    f"{s[:sn].decode('utf-8', 'replace')!r}")
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
        if self._rest_nonneg and self._v[R_LAST] < 0:
            raise JSONError(f"book answer with {c.key_last.decode()} {self._v[R_LAST]}")
        self.doc.end()
        return self.emit_snapshot(fs, self._v[R_LAST], &self.doc.bids, &self.doc.asks,
                                  to_ns(self._v[R_TS], c.unit) if self._have[R_TS] else 0,
                                  ts_recv or now_ns(), 0, False, 0)


cdef inline bint _word(const char *s, size_t n, const char **words, size_t *lens, int count) noexcept:
    cdef int i
    for i in range(count):
        if lens[i] == n and (n == 0 or words[i][0] == s[0]) and memcmp(words[i], s, n) == 0:
            return True
    return False
