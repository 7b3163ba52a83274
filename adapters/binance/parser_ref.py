# SPDX-License-Identifier: Apache-2.0
"""Reference twin of adapters/binance/parser.pyx: the same frames decoded in plain Python with
ext.ref.json_ref (the decoder's acceptance rules stated in the open) and exact decimals from
ext.ref.decimal_ref, handed to the same emit_*_py() bookkeeping. Slow and obviously correct:
the decoder fuzz test requires both parsers to produce the same events for every frame, or the
C parser to reject it with a counted reason."""
from __future__ import annotations

from adapters.binance import derivatives as _deriv
from engine.model import Side
from ext.feed import Control, FeedSymbol, PyFrameParser
from ext.json import JSONError
from ext.ref import json_ref as J

MS = 1_000_000
INT64_MAX = 2**63 - 1


def to_ns(v: int, unit_ns: int) -> int:
    lim = INT64_MAX // unit_ns
    if v > lim or v < -lim:
        raise OverflowError(f"time {v} x {unit_ns} ns does not fit in int64 ns")
    return v * unit_ns


class BinanceRefParser(PyFrameParser):
    def __init__(self, venue=None, sink=None) -> None:
        self.ms_to_ns = MS
        self.futures = False
        if self.venue is None:
            raise ValueError("venue required")

    def parse(self, frame: bytes, ts_recv: int, recv_mono: int) -> None:
        doc = J.load(frame)
        try:
            J.get_str(doc, "stream")
        except J.MissingFieldError:
            pass
        else:
            doc = J.enter(doc, "data")
        try:
            event = J.get_str(doc, "e")
        except J.MissingFieldError:
            event = None
        if event is not None:
            if event == "depthUpdate":
                return self._depth(doc, ts_recv)
            if event == "trade":
                return self._trade(doc, ts_recv)
            if event == "aggTrade":
                return self._agg_trade(doc, ts_recv)
            if event == "bookTicker":
                return self._fut_book_ticker(doc, ts_recv)
            if event in _deriv.EVENTS:
                for fs, ev in _deriv.decode(frame, self.venue, self.symbol_of, ts_recv):
                    self.emit_derivative_py(fs, ev if fs.want_derivs else None)
                return
            if event == "serverShutdown":
                self.emit_control_py(Control.CTRL_SHUTDOWN, None, -1, frame)
                return
            self.emit_control_py(Control.CTRL_OTHER, event, -1, frame)
            return
        try:
            symbol = J.get_str(doc, "s")
        except JSONError:
            return self._reply(doc, frame)
        return self._book_ticker(doc, symbol, ts_recv)

    def _reply(self, doc: J.Obj, frame: bytes) -> None:
        try:
            J.get_int(doc, "code")
        except JSONError:
            pass
        else:
            try:
                rid = J.get_int(doc, "id")
            except JSONError:
                rid = -1
            self.emit_control_py(Control.CTRL_ERROR, None, rid, frame)
            return
        try:
            rid = J.get_int(doc, "id")
        except JSONError:
            self.emit_control_py(Control.CTRL_OTHER, None, -1, frame)
            return
        self.emit_control_py(Control.CTRL_SUBSCRIBED, None, rid, frame)

    def _sides(self, doc: J.Obj, bid_key: str, ask_key: str, fs: FeedSymbol):
        return (J.get_levels(doc, bid_key, fs.px_scale, fs.qty_scale),
                J.get_levels(doc, ask_key, fs.px_scale, fs.qty_scale))

    def _depth(self, doc: J.Obj, ts_recv: int) -> None:
        ev = J.get_int(doc, "E")
        if self.futures:
            ev = J.get_int(doc, "T")
        fs = self.lookup_py(J.get_str(doc, "s").encode())
        if fs is None:
            return
        first = J.get_int(doc, "U")
        last = J.get_int(doc, "u")
        if last < first:
            raise JSONError(f"depthUpdate with u {last} < U {first}")
        prev = -1
        if self.futures:
            prev = J.get_int(doc, "pu")
            if prev >= first:
                raise JSONError(f"depthUpdate with pu {prev} >= U {first}")
        bids, asks = self._sides(doc, "b", "a", fs)
        self.emit_delta_py(fs, first, last, prev, bids, asks, to_ns(ev, self.ms_to_ns), ts_recv)

    def _agg_trade(self, doc: J.Obj, ts_recv: int) -> None:
        tid = J.get_int(doc, "a")
        fs = self.lookup_py(J.get_str(doc, "s").encode())
        if fs is None:
            return
        if not fs.want_trades:
            self.emit_trade_py(fs, -1, 0, 0, None, 0, ts_recv)
            return
        self._trade_tail(doc, fs, tid, ts_recv)

    def _trade_tail(self, doc: J.Obj, fs: FeedSymbol, tid: int, ts_recv: int) -> None:
        px = J.get_fixed(doc, "p", fs.px_scale)
        qty = J.get_fixed(doc, "q", fs.qty_scale)
        tt = J.get_int(doc, "T")
        maker = J.get_bool(doc, "m")
        self.emit_trade_py(fs, tid, px, qty, Side.SELL if maker else Side.BUY, to_ns(tt, self.ms_to_ns), ts_recv)

    def _fut_book_ticker(self, doc: J.Obj, ts_recv: int) -> None:
        u = J.get_int(doc, "u")
        tt = J.get_int(doc, "T")
        fs = self.lookup_py(J.get_str(doc, "s").encode())
        if fs is None:
            return
        if not fs.want_top:
            self.emit_top_py(fs, 0, 0, 0, 0, -1, 0, ts_recv)
            return
        bp = J.get_fixed(doc, "b", fs.px_scale)
        bq = J.get_fixed(doc, "B", fs.qty_scale)
        ap = J.get_fixed(doc, "a", fs.px_scale)
        aq = J.get_fixed(doc, "A", fs.qty_scale)
        self.emit_top_py(fs, bp, bq, ap, aq, u, to_ns(tt, self.ms_to_ns), ts_recv)

    def _trade(self, doc: J.Obj, ts_recv: int) -> None:
        fs = self.lookup_py(J.get_str(doc, "s").encode())
        if fs is None:
            return
        if not fs.want_trades:
            self.emit_trade_py(fs, -1, 0, 0, None, 0, ts_recv)
            return
        tid = J.get_int(doc, "t")
        self._trade_tail(doc, fs, tid, ts_recv)

    def _book_ticker(self, doc: J.Obj, symbol: str, ts_recv: int) -> None:
        fs = self.lookup_py(symbol.encode())
        if fs is None:
            return
        if not fs.want_top:
            self.emit_top_py(fs, 0, 0, 0, 0, -1, 0, ts_recv)
            return
        u = J.get_int(doc, "u")
        bp = J.get_fixed(doc, "b", fs.px_scale)
        bq = J.get_fixed(doc, "B", fs.qty_scale)
        ap = J.get_fixed(doc, "a", fs.px_scale)
        aq = J.get_fixed(doc, "A", fs.qty_scale)
        self.emit_top_py(fs, bp, bq, ap, aq, u, 0, ts_recv)

    def on_snapshot(self, fs: FeedSymbol, data: bytes, ts_recv: int = 0) -> int:
        doc = J.load(bytes(data))
        last_id = J.get_int(doc, "lastUpdateId")
        bids, asks = self._sides(doc, "bids", "asks", fs)
        return self.emit_snapshot_py(fs, last_id, bids, asks, 0, ts_recv)
