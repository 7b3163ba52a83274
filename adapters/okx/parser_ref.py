# SPDX-License-Identifier: Apache-2.0
"""Reference twin of adapters/okx/parser.pyx: the same frames decoded in plain Python with
ext.ref.json_ref and exact decimals from ext.ref.decimal_ref, read in the same field order and
handed to the same emit_*_py() bookkeeping. The decoder fuzz test requires both parsers to
produce the same events for every frame, or the C parser to reject it with a counted reason."""
from __future__ import annotations

from adapters.okx import liquidations
from engine.derivatives import RATE_SCALE, FundingRate, IndexPrice, MarkPrice, OpenInterest, rate, size_scale_of
from ext.ref import decimal_ref
from engine.model import Side
from ext.clock import now_ns
from ext.feed import Control, FeedSymbol, PyFrameParser
from ext.json import JSONError
from ext.ref import json_ref as J

MS = 1_000_000
INT64_MAX = 2**63 - 1
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def to_ns(v: int, unit_ns: int) -> int:
    lim = INT64_MAX // unit_ns
    if v > lim or v < -lim:
        raise OverflowError(f"time {v} x {unit_ns} ns does not fit in int64 ns")
    return v * unit_ns


def digits(s: str) -> int:
    """A request id echoed as a string: its value, or -1 if it is not 1-18 ASCII digits."""
    if not 0 < len(s) <= 18 or not all("0" <= c <= "9" for c in s):
        return -1
    return int(s)


class OkxRefParser(PyFrameParser):
    def __init__(self, venue=None, sink=None) -> None:
        if self.venue is None:
            raise ValueError("venue required")

    def parse(self, frame: bytes, ts_recv: int, recv_mono: int) -> None:
        if frame == b"pong":
            self.emit_control_py(Control.CTRL_PONG, None, -1, frame)
            return
        root = J.load(frame)
        try:
            arg = J.enter(root, "arg")
        except J.MissingFieldError:
            return self._event(root, frame)
        channel = J.get_str(arg, "channel")
        try:
            inst = J.get_str(arg, "instId")
        except J.MissingFieldError:
            if channel == liquidations.CHANNEL:
                for fs, ev in liquidations.decode(frame, self.venue, self.symbol_of, ts_recv):
                    self.emit_derivative_py(fs, ev if fs.want_derivs else None)
                return
            return self._event(root, frame)
        if channel == "books":
            return self._books(root, inst, frame, ts_recv)
        if channel == "trades":
            return self._trades(root, inst, frame, ts_recv)
        if channel == "bbo-tbt":
            return self._bbo(root, inst, frame, ts_recv)
        if channel == "mark-price":
            return self._mark(root, inst, frame, ts_recv)
        if channel == "funding-rate":
            return self._funding(root, inst, frame, ts_recv)
        if channel == "open-interest":
            return self._oi(root, inst, frame, ts_recv)
        if channel == "index-tickers":
            return self._index(root, inst, frame, ts_recv)
        return self._event(root, frame)

    def _event(self, doc: J.Obj, frame: bytes) -> None:
        try:
            ev = J.get_str(doc, "event")
        except J.MissingFieldError:
            self.emit_control_py(Control.CTRL_OTHER, None, -1, frame)
            return
        rid = -1
        try:
            rid = digits(J.get_str(doc, "id"))
        except JSONError:
            pass
        kinds = {"subscribe": Control.CTRL_SUBSCRIBED, "unsubscribe": Control.CTRL_UNSUBSCRIBED,
                 "login": Control.CTRL_LOGIN}
        if ev in kinds:
            self.emit_control_py(kinds[ev], None, rid, frame)
            return
        if ev in ("error", "notice"):
            code = J.get_str(doc, "code")
            try:
                msg = J.get_str(doc, "msg")
            except J.MissingFieldError:
                msg = ""
            topic = f"{code} {msg}" if msg else code
            if ev == "error":
                kind = Control.CTRL_ERROR
            else:
                kind = Control.CTRL_SHUTDOWN if code == "64008" else Control.CTRL_STATUS
            self.emit_control_py(kind, topic, rid, frame)
            return
        self.emit_control_py(Control.CTRL_OTHER, ev, rid, frame)

    def _ts(self, doc: J.Obj) -> int:
        return to_ns(J.get_fixed(doc, "ts", 0), MS)

    def on_snapshot(self, fs: FeedSymbol, data: bytes, ts_recv: int = 0) -> int:
        root = J.load(bytes(data))
        code = J.get_str(root, "code")
        if code != "0":
            raise JSONError(f"books answer with code {code!r}")
        d = J.enter_only(root, "data")
        asks = J.get_levels(d, "asks", fs.px_scale, fs.qty_scale)
        bids = J.get_levels(d, "bids", fs.px_scale, fs.qty_scale)
        ts = self._ts(d)
        try:
            seq = J.get_int(d, "seqId")
        except J.MissingFieldError:
            raise JSONError("books answer without seqId: it cannot be bridged with the stream") from None
        if seq < 0:
            raise JSONError(f"books answer with seqId {seq}")
        return self.emit_snapshot_py(fs, seq, bids, asks, ts, ts_recv or now_ns())

    def _books(self, root: J.Obj, inst: str, frame: bytes, ts_recv: int) -> None:
        try:
            action = J.get_str(root, "action")
        except J.MissingFieldError:
            return self._event(root, frame)
        if action not in ("snapshot", "update"):
            raise JSONError(f"books: unknown action {action!r}")
        snapshot = action == "snapshot"
        fs = self.lookup_py(inst.encode())
        if fs is None:
            return
        d = J.enter_only(root, "data")
        asks = J.get_levels(d, "asks", fs.px_scale, fs.qty_scale)
        bids = J.get_levels(d, "bids", fs.px_scale, fs.qty_scale)
        ts = self._ts(d)
        try:
            ck = J.get_int(d, "checksum")
        except J.MissingFieldError:
            ck = None                       # the field removed (production, early August 2026)
        if ck is not None and (ck < INT32_MIN or ck > INT32_MAX):
            raise JSONError(f"books: checksum {ck} is not a signed 32-bit integer")
        prev = J.get_int(d, "prevSeqId")
        seq = J.get_int(d, "seqId")
        if seq < 0 or prev < -1:
            raise JSONError(f"books: seqId {seq} / prevSeqId {prev} out of range")
        if snapshot and prev != -1:
            raise JSONError(f"books snapshot with prevSeqId {prev} (must be -1)")
        if not snapshot and prev < 0:
            raise JSONError(f"books update with prevSeqId {prev}")
        checksum = ck                        # 0 ("not provided"): ext.feed counts it; None: no field
        if snapshot:
            self.emit_snapshot_py(fs, seq, bids, asks, ts, ts_recv, checksum)
        else:
            self.emit_delta_py(fs, prev, seq, prev, bids, asks, ts, ts_recv, checksum)   # span [prevSeqId, seqId]

    def _trades(self, root: J.Obj, inst: str, frame: bytes, ts_recv: int) -> None:
        try:
            d = J.enter_only(root, "data")
        except J.MissingFieldError:
            return self._event(root, frame)
        fs = self.lookup_py(inst.encode())
        if fs is None:
            return
        if not fs.want_trades:
            self.emit_trade_py(fs, -1, 0, 0, None, 0, ts_recv)
            return
        tid = J.get_fixed(d, "tradeId", 0)
        px = J.get_fixed(d, "px", fs.px_scale)
        qty = J.get_fixed(d, "sz", fs.qty_scale)
        side = J.get_str(d, "side")
        if side not in ("buy", "sell"):
            raise JSONError(f"trade side {side!r}")
        ts = self._ts(d)
        self.emit_trade_py(fs, tid, px, qty, Side.BUY if side == "buy" else Side.SELL, ts, ts_recv)

    def _bbo(self, root: J.Obj, inst: str, frame: bytes, ts_recv: int) -> None:
        try:
            d = J.enter_only(root, "data")
        except J.MissingFieldError:
            return self._event(root, frame)
        fs = self.lookup_py(inst.encode())
        if fs is None:
            return
        if not fs.want_top:
            self.emit_top_py(fs, 0, 0, 0, 0, -1, 0, ts_recv)
            return
        asks = J.get_levels(d, "asks", fs.px_scale, fs.qty_scale)
        bids = J.get_levels(d, "bids", fs.px_scale, fs.qty_scale)
        ts = self._ts(d)
        seq = J.get_int(d, "seqId")
        ap, aq = asks[0] if asks else (0, 0)
        bp, bq = bids[0] if bids else (0, 0)
        self.emit_top_py(fs, bp, bq, ap, aq, seq, ts, ts_recv)

    def _enter_deriv(self, root: J.Obj, inst: str, frame: bytes):
        """(data object, symbol), or None when there is nothing to decode (as parser.pyx)."""
        try:
            d = J.enter_only(root, "data")
        except J.MissingFieldError:
            self._event(root, frame)
            return None
        fs = self.lookup_py(inst.encode())
        if fs is not None and not fs.want_derivs:
            self.emit_derivative_py(fs, None)
            return None
        return (d, fs) if fs is not None else None

    def _mark(self, root: J.Obj, inst: str, frame: bytes, ts_recv: int) -> None:
        got = self._enter_deriv(root, inst, frame)
        if got is None:
            return
        d, fs = got
        px = J.get_fixed(d, "markPx", fs.px_scale)
        ts = self._ts(d)
        self.emit_derivative_py(fs, MarkPrice(self.venue, fs.instrument, ts, ts_recv, px))

    def _index(self, root: J.Obj, inst: str, frame: bytes, ts_recv: int) -> None:
        # instId is the index ("BTC-USDT", also the spot pair's instId): the price is the swap's,
        # looked up as "<index>-SWAP" on this channel only (as parser.pyx)
        got = self._enter_deriv(root, inst + "-SWAP", frame)
        if got is None:
            return
        d, fs = got
        px = J.get_fixed(d, "idxPx", fs.px_scale)
        ts = self._ts(d)
        self.emit_derivative_py(fs, IndexPrice(self.venue, fs.instrument, ts, ts_recv, px))

    def _funding(self, root: J.Obj, inst: str, frame: bytes, ts_recv: int) -> None:
        got = self._enter_deriv(root, inst, frame)
        if got is None:
            return
        d, fs = got
        r = J.get_fixed(d, "fundingRate", RATE_SCALE)
        ft = J.get_fixed(d, "fundingTime", 0)
        try:
            s = J.get_str(d, "nextFundingRate")
            nxt = rate(s) if s else None
        except J.MissingFieldError:
            nxt = None
        nft = J.get_fixed(d, "nextFundingTime", 0)
        ts = self._ts(d)
        self.emit_derivative_py(fs, FundingRate(self.venue, fs.instrument, ts, ts_recv, r, to_ns(ft, MS),
                                                to_ns(nft, MS), nxt))

    def _oi(self, root: J.Obj, inst: str, frame: bytes, ts_recv: int) -> None:
        got = self._enter_deriv(root, inst, frame)
        if got is None:
            return
        d, fs = got
        text = J.get_str(d, "oi")
        ts = self._ts(d)
        scale = size_scale_of(text, fs.qty_scale)
        self.emit_derivative_py(fs, OpenInterest(self.venue, fs.instrument, ts, ts_recv,
                                                 decimal_ref.parse(text, scale), scale))
