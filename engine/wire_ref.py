# SPDX-License-Identifier: Apache-2.0
"""Every venue's pure-Python reference parser: venuelink.wire's schema interpreted with
venuelink.ext.ref.json_ref (the C reader's acceptance rules in the open) and exact decimals, handed to the
same emit_*_py() bookkeeping as the Cython parsers. Slow and plain on purpose: the decoder fuzz
test requires a venue's Cython parser and this twin, reading the venue's ``WIRE``, to produce the
same events for every frame, or the Cython parser to refuse it with a counted reason.

    parser = WireRefParser(venue, sink, wire=WIRE)
"""
from __future__ import annotations

from typing import Any

from venuelink.derivatives import RATE_SCALE, FundingRate, IndexPrice, MarkPrice, OpenInterest, rate, size_scale_of
from venuelink.model import Side
from venuelink.wire import Channel, Field, Kind, Role, Rows, Span, Wire
from venuelink.ext.feed import Control, FeedSymbol, PyFrameParser
from venuelink.ext.json import JSONError
from venuelink.ext.json import FieldValueError
from venuelink.ext.ref import clock_ref, decimal_ref
from venuelink.ext.ref import json_ref as J

INT64_MAX = 2**63 - 1
INT32_MIN, INT32_MAX, UINT32_MAX = -(2**31), 2**31 - 1, 2**32 - 1


def to_ns(v: int, unit_ns: int) -> int:
    lim = INT64_MAX // unit_ns
    if v > lim or v < -lim:
        raise OverflowError(f"time {v} x {unit_ns} ns does not fit in int64 ns")
    return v * unit_ns


def derivative_events(venue: Any, fs: FeedSymbol, v: dict, unit_ns: int, ts_recv: int) -> list:
    """The events of a Kind.DERIVS message, from its values by role (the C parser builds them
    here too: a few per second per instrument)."""
    inst = fs.instrument
    ts = to_ns(v.get(Role.TS, 0), unit_ns)
    out: list = []
    if Role.MARK_PX in v:
        out.append(MarkPrice(venue, inst, ts, ts_recv, v[Role.MARK_PX]))
    if Role.INDEX_PX in v:
        out.append(IndexPrice(venue, inst, ts, ts_recv, v[Role.INDEX_PX]))
    if Role.FUNDING_RATE in v or Role.FUNDING_TIME in v:
        # a venue that pushes only what changed (Bybit tickers) sends the rate or its time alone:
        # the other is the symbol's last one (none yet: a time of 0, which the event refuses)
        kept = fs.channel_state.setdefault("funding", [None, 0])
        kept[:] = [v.get(Role.FUNDING_RATE, kept[0]), v.get(Role.FUNDING_TIME, kept[1])]
        if kept[0] is not None:
            nxt = v.get(Role.NEXT_FUNDING_RATE)
            out.append(FundingRate(venue, inst, ts, ts_recv, kept[0], to_ns(kept[1], unit_ns),
                                   to_ns(v.get(Role.NEXT_FUNDING_TIME, 0), unit_ns), rate(nxt) if nxt else None))
    if Role.OPEN_INTEREST in v:
        text = v[Role.OPEN_INTEREST]
        scale = size_scale_of(text, fs.qty_scale)
        out.append(OpenInterest(venue, inst, ts, ts_recv, decimal_ref.parse(text, scale), scale))
    return out


def _key(ch: Channel, role: Role) -> str:
    f = ch.field_of(role)
    return f.key if f is not None else role.name.lower()


def _path_str(doc: J.Obj, path: tuple[str, ...]) -> str:
    for k in path[:-1]:
        doc = J.enter(doc, k)
    return J.get_str(doc, path[-1])


def keyed_control(wire: Wire, frame: bytes) -> tuple[int, str | None, int] | None:
    """For a frame that lacks a field of the channel it names: its control reading when it carries
    the schema's control_key, else None (it stays a bad frame)."""
    if not wire.control_key:
        return None
    try:
        J.get_str(_unwrapped(wire, J.load(frame)), wire.control_key)
    except JSONError:
        return None
    return control_of(wire, frame)


def _unwrapped(wire: Wire, doc: J.Obj) -> J.Obj:
    if wire.wrapper is not None:
        try:
            J.get_str(doc, wire.wrapper[0])
        except J.MissingFieldError:
            return doc
        return J.enter(doc, wire.wrapper[1])
    return doc


def control_of(wire: Wire, frame: bytes) -> tuple[int, str | None, int]:
    """A frame that is no channel's, as the schema's control hook classifies it (the Cython
    parser asks here too: control frames are few, and both parsers then agree by construction)."""
    if wire.control is None:
        return Control.CTRL_OTHER, None, -1
    return wire.control(_unwrapped(wire, J.load(frame)), frame)


class WireRefParser(PyFrameParser):
    def __init__(self, venue=None, sink=None, *, wire: Wire) -> None:
        if self.venue is None:
            raise ValueError("venue required")
        self.wire = wire

    # ---- one frame -------------------------------------------------------------------------
    def parse(self, frame: bytes, ts_recv: int, recv_mono: int) -> None:
        w = self.wire
        for raw, kind in w.raw:
            if frame == raw:
                self.emit_control_py(kind, None, -1, frame)
                return
        doc = J.load(frame)
        if w.wrapper is not None:
            try:
                J.get_str(doc, w.wrapper[0])
            except J.MissingFieldError:
                pass
            else:
                doc = J.enter(doc, w.wrapper[1])
        try:
            name = _path_str(doc, w.dispatch)
        except J.MissingFieldError:
            if w.fallback is None:
                return self._control(doc, frame)
            try:
                J.get_str(doc, w.fallback[0])
            except JSONError:                   # absent, or not a string: not that channel's frame
                return self._control(doc, frame)
            name = w.fallback[1].name
        symbol = None
        if w.topic_sep:
            head, sep, tail = name.rpartition(w.topic_sep)
            if sep:
                name, symbol = head, tail     # the channel is all before the symbol ("orderbook.50")
        ch = w.by_name.get(name)
        if ch is None and w.fallback is not None and name == w.fallback[1].name:
            ch = w.fallback[1]
        if ch is None:
            return self._control(doc, frame)
        if ch.kind == Kind.PYTHON:
            got = ch.decode(frame, self.venue, self.symbol_of, ts_recv)
            if got is None:
                return self._control(doc, frame)
            for fs, ev in got:
                self.emit_derivative_py(fs, ev if fs.want_derivs else None)
            return
        if w.symbol:
            try:
                symbol = _path_str(doc, w.symbol)
            except J.MissingFieldError:
                return self._control(doc, frame)
        snapshot = False
        if ch.action is not None:
            try:
                a = J.get_str(doc, ch.action.key)
            except J.MissingFieldError:
                return self._control(doc, frame)
            if a in ch.action.snapshot:
                snapshot = True
            elif a not in ch.action.delta:
                raise JSONError(f"{ch.name}: unknown {ch.action.key} {a!r}")
        try:
            self._channel(ch, doc, frame, symbol, snapshot, ts_recv)
        except J.MissingFieldError:
            got = keyed_control(w, frame)
            if got is None:
                raise
            self.emit_control_py(got[0], got[1], got[2], frame)

    def _channel(self, ch: Channel, doc: J.Obj, frame: bytes, symbol: str | None, snapshot: bool,
                 ts_recv: int) -> None:
        self._ts_recv = ts_recv
        head: dict[Role, Any] = {}
        self._fields(doc, ch, ch.head, None, None, head)
        if ch.data:
            try:
                if ch.rows == Rows.OBJECT:
                    rows = [J.enter(doc, ch.data)]
                elif ch.rows == Rows.ONLY:
                    rows = [J.enter_only(doc, ch.data)]
                else:
                    rows = J.get_array(doc, ch.data)       # its rows read one by one, as C does
            except J.MissingFieldError:
                return self._control(doc, frame)
        else:
            rows = [doc]
        if symbol is not None and ch.symbol_suffix:
            symbol += ch.symbol_suffix
        if ch.kind == Kind.BOOK:
            self._book(ch, rows[0], symbol, head, snapshot, ts_recv)
        elif ch.kind == Kind.TRADES:
            self._trades(ch, rows, symbol, head, ts_recv)
        elif ch.kind == Kind.DERIVS:
            self._derivs(ch, rows[0], symbol, head, ts_recv)
        else:
            self._top(ch, rows[0], symbol, head, ts_recv)

    def _control(self, doc: J.Obj, frame: bytes) -> None:
        kind, topic, rid = (Control.CTRL_OTHER, None, -1) if self.wire.control is None else \
            self.wire.control(doc, frame)
        self.emit_control_py(kind, topic, rid, frame)

    # ---- values ------------------------------------------------------------------------------
    def _fields(self, obj: J.Obj, ch: Channel, fields: tuple[Field, ...], fs: FeedSymbol | None,
                envelope: str | None, out: dict[Role, Any]) -> FeedSymbol | None:
        """The fields in order into `out`; a SYMBOL field is checked against the envelope's and,
        where the envelope named none, looks the instrument up: None (reading stopped there)
        when it is not followed. Returns the instrument."""
        for f in fields:
            if f.role == Role.SYMBOL:
                s = J.get_str(obj, f.key)
                if envelope is not None and s != envelope:
                    raise JSONError(f"{ch.name}: symbol {s!r} in a message for {envelope!r}")
                if fs is None:
                    fs = self.lookup_py(s.encode())
                    if fs is None:
                        return None
                    if not self._wanted(ch, fs):
                        return None
                continue
            try:
                out[f.role] = self._value(obj, f, fs, ch)
            except J.MissingFieldError:
                if not f.optional:
                    raise
        return fs

    def _wanted(self, ch: Channel, fs: FeedSymbol) -> bool:
        """Trades and tops nobody follows are counted, not decoded."""
        if ch.kind == Kind.TRADES and not fs.want_trades:
            self.emit_trade_py(fs, -1, 0, 0, None, 0, self._ts_recv)
            return False
        if ch.kind == Kind.TOP and not fs.want_top:
            self.emit_top_py(fs, 0, 0, 0, 0, -1, 0, self._ts_recv)
            return False
        if ch.kind == Kind.DERIVS and not fs.want_derivs:
            self.emit_derivative_py(fs, None)
            return False
        return True

    def _value(self, obj: J.Obj, f: Field, fs: FeedSymbol | None, ch: Channel) -> Any:
        r = f.role
        if r in (Role.NEXT_FUNDING_RATE, Role.OPEN_INTEREST):
            return J.get_str(obj, f.key)
        if r == Role.FUNDING_RATE:
            return J.get_fixed(obj, f.key, RATE_SCALE)
        if r in (Role.PRICE, Role.BID_PX, Role.ASK_PX, Role.MARK_PX, Role.INDEX_PX):
            return J.get_fixed(obj, f.key, fs.px_scale)
        if r in (Role.SIZE, Role.BID_QTY, Role.ASK_QTY):
            return J.get_fixed(obj, f.key, fs.qty_scale)
        if r in (Role.BIDS, Role.ASKS):
            if f.cols != (0, 1):
                return J.get_levels_cols(obj, f.key, f.cols[0], f.cols[1], fs.px_scale, fs.qty_scale)
            return J.get_levels(obj, f.key, fs.px_scale, fs.qty_scale)
        if r == Role.LEVELS:
            sp = f.split
            return J.get_levels_sides(obj, f.key, sp.side, sp.bid, sp.ask, sp.price, sp.size, sp.size_optional,
                                      fs.px_scale, fs.qty_scale)
        if r == Role.TS and f.iso:
            text = J.get_str(obj, f.key)
            try:
                return clock_ref.rfc3339_ns(text)
            except ValueError as e:
                raise FieldValueError(f"field {f.key!r}: {e}") from None
        if r == Role.SIDE:
            if not f.values:
                return Side.SELL if J.get_bool(obj, f.key) else Side.BUY
            s = J.get_str(obj, f.key)
            for text, is_buy in f.values:
                if s == text:
                    return Side.BUY if is_buy else Side.SELL
            raise JSONError(f"{ch.name}: side {s!r}")
        if r == Role.BLOCK:
            return J.get_bool(obj, f.key)
        if r == Role.TRADE_ID and f.opaque:
            s = J.get_str(obj, f.key)
            if not s:
                raise JSONError(f"{ch.name}: empty trade id")
            return s
        return J.get_fixed(obj, f.key, 0) if f.text else J.get_int(obj, f.key)

    def _open(self, ch: Channel, envelope: str | None) -> FeedSymbol | None:
        """The instrument the envelope names (None: not followed, or not wanted: counted)."""
        fs = self.lookup_py(envelope.encode())
        return fs if fs is not None and self._wanted(ch, fs) else None

    # ---- channels ------------------------------------------------------------------------------
    def _decode(self, ch: Channel, obj: J.Obj, envelope: str | None, v: dict) -> FeedSymbol | None:
        """One object's fields into `v`: the instrument (the envelope's, or its SYMBOL field's), or
        None when it is not followed or not wanted (counted)."""
        fs = self._open(ch, envelope) if envelope is not None else None
        if envelope is not None and fs is None:
            return None
        return self._fields(obj, ch, ch.fields, fs, envelope, v)

    def _book(self, ch: Channel, obj: J.Obj, envelope: str | None, v: dict, snapshot: bool,
              ts_recv: int) -> None:
        fs = self._decode(ch, obj, envelope, v)
        if fs is None:
            return
        if Role.LEVELS in v:
            v[Role.BIDS], v[Role.ASKS] = v.pop(Role.LEVELS)
        last = v.get(Role.LAST, -1)             # -1: a venue without ids (an optional LAST not sent)
        ts = to_ns(v.get(Role.TS, 0), ch.time_unit_ns)
        ck = v.get(Role.CHECKSUM)
        if ck is not None and not INT32_MIN <= ck <= (INT32_MAX if ch.field_of(Role.CHECKSUM).signed else UINT32_MAX):
            raise JSONError(f"{ch.name}: checksum {ck} is not a {'signed ' * ch.field_of(Role.CHECKSUM).signed}"
                            f"32-bit integer")
        if not snapshot and ch.restart_id >= 0 and last == ch.restart_id:
            snapshot = True                       # the venue restarted: this delta is a whole book
        if ch.span == Span.FROM_PREV:
            prev = v[Role.PREV]
            if last < 0 or prev < -1:
                raise JSONError(f"{ch.name}: {_key(ch, Role.LAST)} {last} / {_key(ch, Role.PREV)} {prev} out of range")
            if snapshot and prev != -1:
                raise JSONError(f"{ch.name} snapshot with {_key(ch, Role.PREV)} {prev} (must be -1)")
            if not snapshot and prev < 0:
                raise JSONError(f"{ch.name} update with {_key(ch, Role.PREV)} {prev}")
            first = prev
        elif ch.span == Span.CONSECUTIVE:
            if last < 1:
                raise JSONError(f"{ch.name}: id {last} out of range")
            first, prev = last, last - 1
        else:
            first = v.get(Role.FIRST, last)
            prev = v.get(Role.PREV, -1)
            if last < first:
                raise JSONError(f"{ch.name} with {_key(ch, Role.LAST)} {last} < {_key(ch, Role.FIRST)} {first}")
            if Role.PREV in v and prev >= first:
                raise JSONError(f"{ch.name} with {_key(ch, Role.PREV)} {prev} >= {_key(ch, Role.FIRST)} {first}")
        if snapshot:
            self.emit_snapshot_py(fs, last, v[Role.BIDS], v[Role.ASKS], ts, ts_recv, ck)
        else:
            self.emit_delta_py(fs, first, last, prev, v[Role.BIDS], v[Role.ASKS], ts, ts_recv, ck)

    def _trades(self, ch: Channel, rows: list[J.Obj], envelope: str | None, head: dict, ts_recv: int) -> None:
        fs = None
        if envelope is not None:
            fs = self._open(ch, envelope)
            if fs is None:
                return
        out = []                                # every row decoded before any is emitted
        for i in range(len(rows)):
            obj = J.object_at(rows, i, ch.data) if ch.rows == Rows.MANY else rows[i]
            v = dict(head)
            row_fs = self._fields(obj, ch, ch.fields, fs, envelope, v)
            if row_fs is None:
                continue
            out.append((row_fs, v[Role.TRADE_ID], v[Role.PRICE], v[Role.SIZE], v[Role.SIDE],
                        to_ns(v.get(Role.TS, 0), ch.time_unit_ns), bool(v.get(Role.BLOCK))))
        for row_fs, tid, px, qty, side, ts, block in out:
            self.emit_trade_py(row_fs, tid, px, qty, side, ts, ts_recv, block)

    def _derivs(self, ch: Channel, obj: J.Obj, envelope: str | None, v: dict, ts_recv: int) -> None:
        fs = self._decode(ch, obj, envelope, v)
        if fs is None:
            return
        for ev in derivative_events(self.venue, fs, v, ch.time_unit_ns, ts_recv):
            self.emit_derivative_py(fs, ev)

    def _top(self, ch: Channel, obj: J.Obj, envelope: str | None, v: dict, ts_recv: int) -> None:
        fs = self._decode(ch, obj, envelope, v)
        if fs is None:
            return
        if Role.BIDS in v:
            bp, bq = v[Role.BIDS][0] if v[Role.BIDS] else (0, 0)
            ap, aq = v[Role.ASKS][0] if v[Role.ASKS] else (0, 0)
        else:
            bp, bq, ap, aq = v[Role.BID_PX], v[Role.BID_QTY], v[Role.ASK_PX], v[Role.ASK_QTY]
        self.emit_top_py(fs, bp, bq, ap, aq, v.get(Role.TOP_ID, -1), to_ns(v.get(Role.TS, 0), ch.time_unit_ns),
                         ts_recv)

    # ---- the REST book ---------------------------------------------------------------------------
    def on_snapshot(self, fs: FeedSymbol, data: bytes, ts_recv: int = 0) -> int:
        rb = self.wire.rest_book
        if rb is None:
            raise JSONError(f"{self.venue.name}: no REST book in this venue's wire")
        doc = J.load(bytes(data))
        if rb.envelope_ok is not None:
            key, want = rb.envelope_ok
            if want.lstrip("-").isdigit():
                got = J.get_fixed(doc, key, 0)
                if got != int(want):
                    raise JSONError(f"book answer with {key} {got}")
            else:
                got = J.get_str(doc, key)
                if got != want:
                    raise JSONError(f"book answer with {key} {got!r}")
        obj = doc
        if rb.data:
            obj = J.enter_only(doc, rb.data) if rb.rows == Rows.ONLY else J.enter(doc, rb.data)
        ch = Channel("rest-book", Kind.BOOK)
        v: dict[Role, Any] = {}
        self._fields(obj, ch, rb.fields, fs, None, v)
        if Role.LEVELS in v:
            v[Role.BIDS], v[Role.ASKS] = v.pop(Role.LEVELS)
        if rb.nonnegative and v[Role.LAST] < 0:
            last_key = next(f.key for f in rb.fields if f.role == Role.LAST)
            raise JSONError(f"book answer with {last_key} {v[Role.LAST]}")
        ts = to_ns(v.get(Role.TS, 0), rb.time_unit_ns)
        return self.emit_snapshot_py(fs, v[Role.LAST], v[Role.BIDS], v[Role.ASKS], ts, ts_recv)
