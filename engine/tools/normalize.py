# SPDX-License-Identifier: Apache-2.0
"""Offline replay of a recorded venue conversation through the live adapter code.

Input lines: a raw WebSocket frame exactly as the venue sent it, or a REST answer written as
{"rest": "<path and query>", "body": <the response JSON>}. Output: one JSON object per
normalized event (trade, book_snapshot, book_delta, top, resync). Bad lines are reported on
stderr with their line number and processing goes on.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import IO, Iterable

from venuelink import registry
from venuelink.adapter import RestKind
from venuelink.model import TopOfBook, Trade
from venuelink.ext.clock import now_ns
from venuelink.ext.feed import Control, FeedSymbol

TOP_LEVELS = 5


@dataclass
class NormalizeStats:
    lines: int = 0
    frames: int = 0
    rest: int = 0
    events: int = 0
    bad_lines: int = 0


class _Sink:
    """Parser sink + book-sync listener writing JSON lines."""

    def __init__(self, out: IO[str], with_book: bool, venue: str) -> None:
        self.out, self.with_book, self.venue = out, with_book, venue
        self.errors: list[str] = []
        self.events = 0
        self.closed = False
        self.venue_id = registry.venue_id(venue)
        self.controls: list[tuple[int, object, int]] | None = None    # recorded when a list is set

    def _emit(self, obj: dict) -> None:
        if self.closed:
            return
        try:
            self.out.write(json.dumps(obj, separators=(",", ":")) + "\n")
        except BrokenPipeError:
            self.closed = True                  # the reader went away (| head): stop quietly
            return
        self.events += 1

    # parser sink
    def on_delta(self, fs: FeedSymbol, first: int, last: int, ts_exchange: int, ts_recv: int) -> None:
        self._emit(_levels_event("book_delta", self.venue, fs, last, ts_exchange, ts_recv))

    def on_snapshot(self, fs: FeedSymbol, seq: int, ts_exchange: int, ts_recv: int) -> None:
        self._emit(_levels_event("book_snapshot", self.venue, fs, seq, ts_exchange, ts_recv))

    def on_book_applied(self, fs: FeedSymbol) -> None:
        if self.with_book and fs.sync.is_live:
            inst, b = fs.instrument, fs.book
            self._emit({"type": "top", "venue": self.venue, "symbol": inst.symbol,
                        "bids": [[inst.px_str(p), inst.qty_str(q)] for p, q in b.top(1, TOP_LEVELS)],
                        "asks": [[inst.px_str(p), inst.qty_str(q)] for p, q in b.top(2, TOP_LEVELS)],
                        **inst.contract_fields()})

    def on_trade(self, trade: Trade) -> None:
        self._emit(trade.to_json())

    def on_top(self, fs: FeedSymbol, bid_px: int, bid_qty: int, ask_px: int, ask_qty: int, seq: int,
               ts_exchange: int, ts_recv: int) -> None:
        self._emit(TopOfBook(self.venue_id, fs.instrument, [(bid_px, bid_qty)] if bid_qty else [],
                             [(ask_px, ask_qty)] if ask_qty else [], ts_exchange, ts_recv, seq).to_json())

    def on_derivative(self, ev) -> None:
        self._emit(ev.to_json())

    def on_control(self, kind: Control, topic: object, req_id: int, raw: bytes) -> None:
        if self.controls is not None:           # subscription replies and other control frames
            self.controls.append((int(kind), topic, req_id))

    def on_decode_error(self, exc: BaseException, raw: bytes) -> None:
        self.errors.append(f"{type(exc).__name__}: {exc}")

    # book-sync listener
    def on_need_snapshot(self, sync, reason: str) -> None:
        if reason != "initial sync":
            self._emit({"type": "resync", "venue": self.venue, "symbol": sync.key.symbol, "reason": reason})

    def on_state(self, sync, old: int, new: int) -> None:
        pass


def _levels_event(kind: str, venue: str, fs: FeedSymbol, seq: int, ts_exchange: int, ts_recv: int) -> dict:
    inst = fs.instrument
    bids, asks = fs.sync.current_levels()
    return {"type": kind, "venue": venue, "symbol": inst.symbol, "ts_exchange": ts_exchange, "ts_recv": ts_recv,
            "seq": seq, "bids": [[inst.px_str(p), inst.qty_str(q)] for p, q in bids],
            "asks": [[inst.px_str(p), inst.qty_str(q)] for p, q in asks], **inst.contract_fields()}


class Replayer:
    """One venue's adapter and parser fed line by line: the C parser, or with `reference` its
    pure-Python twin (adapter.make_reference_parser) for differential checks."""

    def __init__(self, venue: str, out: IO[str], *, with_book: bool = False, reference: bool = False) -> None:
        self.adapter = registry.create(venue)
        self.sink = _Sink(out, with_book, self.adapter.venue.name)
        self.parser = (self.adapter.make_reference_parser(self.sink) if reference
                       else self.adapter.make_parser(self.sink))

    def line(self, raw: str | bytes, ts_recv: int = 0) -> str | None:
        """Handle one recorded line; None, or why it was bad."""
        line = (raw.encode() if isinstance(raw, str) else raw).strip()
        if not line:
            return None
        rest = _as_rest(line)
        if rest is not None:
            path, body = rest
            try:
                _apply_rest(self.adapter, self.parser, self.sink, path, body, ts_recv or now_ns())
            except (Exception, RecursionError) as e:  # bad REST line: report and go on
                return f"REST {path}: {type(e).__name__}: {e}"
            return None
        parser, sink = self.parser, self.sink
        unknown_before = parser.n_unknown_symbol
        n_err = len(sink.errors)
        parser.feed(line, ts_recv or now_ns())
        if len(sink.errors) > n_err:
            return sink.errors[-1]
        if parser.n_unknown_symbol > unknown_before:
            return "frame for a symbol without instrument metadata (no instruments REST line before it?)"
        return None


def normalize(venue: str, lines: Iterable[str | bytes], out: IO[str] = sys.stdout, *, with_book: bool = False,
              err: IO[str] = sys.stderr, reference: bool = False) -> NormalizeStats:
    rp = Replayer(venue, out, with_book=with_book, reference=reference)
    stats = NormalizeStats()
    for lineno, raw in enumerate(lines, 1):
        if rp.sink.closed:
            break
        line = (raw.encode() if isinstance(raw, str) else raw).strip()
        stats.lines += 1
        if not line:
            continue
        if _as_rest(line) is not None:
            stats.rest += 1
        else:
            stats.frames += 1
        why = rp.line(line)
        if why is not None:
            stats.bad_lines += 1
            err.write(f"line {lineno}: {why}\n")
    stats.events = rp.sink.events
    return stats


def _as_rest(line: bytes) -> tuple[str, bytes] | None:
    if not line.startswith(b'{"rest"') and b'"rest"' not in line[:64]:
        return None
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if isinstance(obj, dict) and isinstance(obj.get("rest"), str) and "body" in obj:
        return obj["rest"], json.dumps(obj["body"]).encode()
    return None


def _apply_rest(adapter, parser, sink: _Sink, path: str, body: bytes, ts_recv: int) -> None:
    kind, venue_symbol = adapter.classify_rest(path)
    if kind == RestKind.INSTRUMENTS:
        insts = adapter.parse_instruments(body)
        if not insts:
            raise ValueError("no instruments in the answer")
        adapter.set_instruments(insts)
        for inst in insts:
            if parser.symbol(inst.venue_symbol) is None:
                fs = adapter.feed_symbol(inst, sink)
                fs.want_book = fs.want_deltas = fs.want_trades = fs.want_top = fs.want_derivs = True
                parser.add_symbol(fs)
    elif kind == RestKind.SNAPSHOT:
        fs = parser.symbol(venue_symbol or "")
        if fs is None:
            raise ValueError(f"snapshot for unknown symbol {venue_symbol!r} (instruments line missing?)")
        adapter.apply_snapshot(parser, fs, body, ts_recv)
    else:
        raise ValueError("not an instruments or snapshot endpoint of this venue")
