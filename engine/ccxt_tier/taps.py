# SPDX-License-Identifier: Apache-2.0
"""Checks on the venue's raw frames that CCXT does not make, inside the CCXT worker.

A tap sees every decoded WebSocket message before CCXT's own handler does (the worker wraps
the exchange's ``handle_message``) and keeps just what its check needs. It answers with
``Verdict``s: a symbol's book failed a check (the worker marks it invalid, counts it and makes
CCXT resubscribe that book), or a new snapshot of it arrived (the worker hands out its books
again from then on). A tap never changes the message and never raises into CCXT: a message it
cannot read is counted as unreadable by the worker and left to CCXT.

``bybit``: ``orderbook.{depth}.{symbol}`` has no previous-id field and its documentation no gap
rule; the rule here never accepts a missed delta: after a ``snapshot`` (or ``u == 1``, the
service restarted) every ``delta`` must carry ``u`` one above the previous message's and a
``seq`` not below it. Anything else is a doubtful gap, and the book is subscribed again (CCXT
4.5 applies every delta without looking at ``u``).

``kraken`` (WebSocket v2 ``book``): no sequence ids; the CRC32 (unsigned) of the top 10 asks
(low to high) then the top 10 bids (high to low), each price and quantity written with the
instrument's decimals, the point removed and leading zeros stripped, is the gap detection. The
book is truncated to the subscribed depth (10, CCXT's default) after every message, as the venue
expects. CCXT has this check but off by default. Prices arrive as JSON numbers: written with
the instrument's grid (venuelink.ccxt_tier.grid), a value off the grid counts as a failure.

``gate`` (``spot.obu``, order book v2): a ``full`` message is a snapshot; every increment's ``U``
must be one above the previous message's ``u`` (CCXT 4.5 only drops increments that are not
newer, and applies a gap).

``kucoin`` (``/market/level2``): every increment's ``sequenceStart`` must be one above the
previous increment's ``sequenceEnd`` (CCXT 4.5 only drops increments not newer than its book,
and applies a gap). The snapshot is REST, so the chain starts at a subscription's first increment.

``deribit`` (``book.{instrument}.{interval}``): a ``snapshot`` starts the chain, every ``change``
must name the previous message's ``change_id`` as its ``prev_change_id`` (CCXT 4.5 applies every
change without looking at either).

``mexc`` (``public.aggre.depth``, protobuf): every increment's ``fromVersion`` must be one above
the previous one's ``toVersion`` (CCXT 4.5 applies a gap). The tap sees the message as CCXT
decoded it.

``coinbase`` (Advanced Trade): every message of a connection carries ``sequence_num``, one above
the previous message's, across all channels; CCXT 4.5 reads none. A skipped number is a lost
message: every ``l2_data`` book of that connection is resubscribed (no book of it is trusted
until its next snapshot event).

``okx``: the ``books`` channels carry a CRC32 of the top 25 levels of each side, interleaved
``bidPx:bidSz:askPx:askSz:...`` from the strings as sent, as a signed 32-bit integer; CCXT 4.5
does not compare it. The tap keeps each instrument's book as the venue's strings and compares
the checksum of every message (0: not sent, nothing to compare).
"""
from __future__ import annotations

from bisect import bisect_left, insort
import zlib
from dataclasses import dataclass
from typing import Any, Callable, Protocol


@dataclass(frozen=True)
class Verdict:
    market_id: str          # the venue's instrument id
    ok: bool                # False: the book failed `reason`; True: a snapshot of it arrived
    reason: str = ""


class Tap(Protocol):
    def on_message(self, message: Any, conn: Any = None) -> list[Verdict]:
        """`conn`: the connection the message came on (for sequences counted per connection)."""
        ...


def signed32(x: int) -> int:
    return x - (1 << 32) if x >= 1 << 31 else x


class _StringSide:
    """One side of a book as the venue's own strings, its prices kept sorted (float keys: the
    order and identity of decimal prices of up to 15 digits, which every venue's are)."""

    __slots__ = ("levels", "keys", "descending")

    def __init__(self, descending: bool) -> None:
        self.levels: dict[float, tuple[str, str]] = {}
        self.keys: list[float] = []               # ascending
        self.descending = descending

    def set(self, key: float, px: str, sz: str, zero: bool) -> None:
        if zero:
            if self.levels.pop(key, None) is not None:
                del self.keys[bisect_left(self.keys, key)]
        else:
            if key not in self.levels:
                insort(self.keys, key)
            self.levels[key] = (px, sz)

    def apply(self, rows: list) -> None:
        for row in rows:
            px, sz = row[0], row[1]
            self.set(float(px), px, sz, float(sz) == 0)

    def top(self, n: int) -> list[tuple[str, str]]:
        ks = self.keys[:-n - 1:-1] if self.descending else self.keys[:n]
        return [self.levels[k] for k in ks]

    def truncate(self, n: int) -> None:
        """Keep the best `n` levels only."""
        if len(self.keys) > n:
            drop = self.keys[:-n] if self.descending else self.keys[n:]
            for k in drop:
                del self.levels[k]
            self.keys = self.keys[-n:] if self.descending else self.keys[:n]


class OkxBooksTap:
    """CRC32 of OKX's ``books`` / ``books-l2-tbt`` / ``books50-l2-tbt`` messages."""

    CHANNELS = frozenset({"books", "books-l2-tbt", "books50-l2-tbt"})
    DEPTH = 25

    def __init__(self) -> None:
        self.books: dict[str, tuple[_StringSide, _StringSide]] = {}

    def on_message(self, message: Any, conn: Any = None) -> list[Verdict]:
        if not isinstance(message, dict):
            return []
        arg = message.get("arg")
        if not isinstance(arg, dict) or arg.get("channel") not in self.CHANNELS:
            return []
        inst = str(arg.get("instId") or "")
        action = message.get("action")
        out = []
        for d in message.get("data") or []:
            if action == "snapshot":
                book = self.books[inst] = (_StringSide(True), _StringSide(False))
                out.append(Verdict(inst, True))
            else:
                book = self.books.get(inst)
                if book is None:            # an update before any snapshot: CCXT drops it too
                    continue
            book[0].apply(d.get("bids") or [])
            book[1].apply(d.get("asks") or [])
            sent = int(d.get("checksum") or 0)
            if sent == 0:
                continue
            mine = self.checksum(book[0].top(self.DEPTH), book[1].top(self.DEPTH))
            if mine != sent:
                del self.books[inst]        # nothing to compare against until the next snapshot
                out.append(Verdict(inst, False, f"checksum mismatch: the venue sent {sent}, the book gives {mine}"))
                break
        return out

    @staticmethod
    def checksum(bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> int:
        parts: list[str] = []
        for i in range(max(len(bids), len(asks))):
            if i < len(bids):
                parts += bids[i]
            if i < len(asks):
                parts += asks[i]
        return signed32(zlib.crc32(":".join(parts).encode()))


class BybitBookTap:
    """``u`` continuity of Bybit v5 ``orderbook.*`` messages (spot and derivatives alike)."""

    def __init__(self) -> None:
        self.last: dict[str, tuple[int, int]] = {}     # topic -> (u, seq) of its last message

    def on_message(self, message: Any, conn: Any = None) -> list[Verdict]:
        if not isinstance(message, dict):
            return []
        topic = message.get("topic")
        if not isinstance(topic, str) or not topic.startswith("orderbook."):
            return []
        d = message.get("data") or {}
        market_id = str(d.get("s") or topic.rsplit(".", 1)[-1])
        u, seq = int(d["u"]), int(d.get("seq") or 0)
        if message.get("type") == "snapshot" or u == 1:
            self.last[topic] = (u, seq)
            return [Verdict(market_id, True)]
        prev = self.last.get(topic)
        if prev is None:                    # a delta before any snapshot: CCXT drops it too
            return []
        if u != prev[0] + 1 or (seq and seq < prev[1]):
            del self.last[topic]            # nothing to continue from until the next snapshot
            return [Verdict(market_id, False, f"update id gap: u {prev[0]} -> {u} (seq {prev[1]} -> {seq})")]
        self.last[topic] = (u, seq)
        return []


class KrakenBookTap:
    """CRC32 of Kraken v2 ``book`` messages over the instrument-formatted top 10 levels."""

    DEPTH = 10

    def __init__(self, grid_of: Callable[[str], Any]) -> None:
        self.grid_of = grid_of              # symbol -> venuelink.ccxt_tier.grid.Grid (or None)
        self.books: dict[str, tuple[_StringSide, _StringSide]] = {}

    def on_message(self, message: Any, conn: Any = None) -> list[Verdict]:
        if not isinstance(message, dict) or message.get("channel") != "book":
            return []
        kind = message.get("type")
        out = []
        for d in message.get("data") or []:
            sym = str(d.get("symbol") or "")
            grid = self.grid_of(sym)
            if grid is None:
                continue
            if kind == "snapshot":
                book = self.books[sym] = (_StringSide(True), _StringSide(False))
                out.append(Verdict(sym, True))
            elif kind == "update":
                book = self.books.get(sym)
                if book is None:
                    continue
            else:
                continue
            try:
                for side, rows in ((book[0], d.get("bids") or []), (book[1], d.get("asks") or [])):
                    for row in rows:
                        px = grid.price(row["price"])
                        zero = float(row["qty"]) == 0
                        side.set(float(px), px, "" if zero else grid.size(row["qty"]), zero)
                    side.truncate(self.DEPTH)           # to the subscribed depth, as Kraken expects
            except Exception as e:          # off the grid, or not a level: no trusted book
                del self.books[sym]
                out.append(Verdict(sym, False, f"unreadable book level: {type(e).__name__}: {e}"))
                continue
            bids, asks = book[0].top(self.DEPTH), book[1].top(self.DEPTH)
            sent = d.get("checksum")
            if sent is None:
                continue
            mine = self.checksum(bids, asks)
            if mine != int(sent):
                del self.books[sym]
                out.append(Verdict(sym, False, f"checksum mismatch: the venue sent {sent}, the book gives {mine}"))
        return out

    @staticmethod
    def checksum(bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> int:
        def text(v: str) -> str:
            return v.replace(".", "").lstrip("0")
        s = "".join(text(p) + text(q) for p, q in asks) + "".join(text(p) + text(q) for p, q in bids)
        return zlib.crc32(s.encode())


class _UpdateIdChain:
    """Continuity of book increments that carry the first and last update id they cover: each
    must start one above the previous one's last, per stream. A snapshot message (where a venue
    sends them in-band) starts the chain; otherwise the first increment of a subscription does
    (the venue's REST snapshot is CCXT's to bridge). A venue's tap says where the ids are."""

    starts_chain = False
    """True where no snapshot comes in-band: the first increment after (re)subscribing starts it"""

    def __init__(self) -> None:
        self.last: dict[str, int] = {}                 # stream -> last update id

    def ids(self, message: Any) -> tuple[str, str, int, int, bool] | None:
        """(stream, market id, first id, last id, is a snapshot) of a book message, else None."""
        raise NotImplementedError

    def on_message(self, message: Any, conn: Any = None) -> list[Verdict]:
        got = self.ids(message)
        if got is None:
            return []
        stream, market_id, first, last, snapshot = got
        if snapshot:
            self.last[stream] = last
            return [Verdict(market_id, True)]
        prev = self.last.get(stream)
        if prev is None:                    # the chain's first increment
            if not self.starts_chain:
                return []
            self.last[stream] = last
            return []
        if first != prev + 1:
            del self.last[stream]
            return [Verdict(market_id, False, f"update id gap: last {prev}, next starts at {first}")]
        self.last[stream] = last
        return []


class GateBookTap(_UpdateIdChain):
    """``U``/``u`` continuity of Gate's ``spot.obu`` book messages (``full``: a snapshot)."""

    def ids(self, message: Any) -> tuple[str, str, int, int, bool] | None:
        if not isinstance(message, dict) or message.get("channel") != "spot.obu":
            return None
        r = message.get("result")
        if not isinstance(r, dict) or "u" not in r:
            return None
        stream = str(r.get("s") or "")
        parts = stream.split(".")
        return stream, parts[1] if len(parts) >= 2 else stream, int(r.get("U", -1)), int(r["u"]), bool(r.get("full"))


class KucoinLevel2Tap(_UpdateIdChain):
    """``sequenceStart``/``sequenceEnd`` continuity of KuCoin's ``/market/level2`` increments (the
    snapshot is REST, so the first increment of a subscription starts the chain)."""

    starts_chain = True

    def ids(self, message: Any) -> tuple[str, str, int, int, bool] | None:
        if not isinstance(message, dict) or message.get("subject") != "trade.l2update":
            return None
        d = message.get("data")
        if not isinstance(d, dict) or "sequenceStart" not in d or "sequenceEnd" not in d:
            return None
        topic = str(message.get("topic") or "")
        market_id = str(d.get("symbol") or topic.partition(":")[2])
        return topic, market_id, int(d["sequenceStart"]), int(d["sequenceEnd"]), False


class DeribitBookTap(_UpdateIdChain):
    """``prev_change_id`` continuity of Deribit's ``book.{instrument}.{interval}`` notifications
    (``type: snapshot`` starts the chain; every ``change`` names the change before it)."""

    def ids(self, message: Any) -> tuple[str, str, int, int, bool] | None:
        if not isinstance(message, dict) or message.get("method") != "subscription":
            return None
        p = message.get("params")
        if not isinstance(p, dict) or not str(p.get("channel") or "").startswith("book."):
            return None
        d = p.get("data")
        if not isinstance(d, dict) or "change_id" not in d:
            return None
        snapshot = d.get("type") == "snapshot"
        first = int(d["change_id"]) if snapshot else int(d.get("prev_change_id", -2)) + 1
        return str(p["channel"]), str(d.get("instrument_name") or ""), first, int(d["change_id"]), snapshot


class MexcDepthTap(_UpdateIdChain):
    """``fromVersion``/``toVersion`` continuity of MEXC's ``public.aggre.depth`` increments (the
    protobuf message as CCXT decodes it; the snapshot is REST, so a subscription's first increment
    starts the chain)."""

    starts_chain = True

    def ids(self, message: Any) -> tuple[str, str, int, int, bool] | None:
        if not isinstance(message, dict):
            return None
        d = message.get("publicAggreDepths")
        if not isinstance(d, dict) or "fromVersion" not in d or "toVersion" not in d:
            return None
        channel = str(message.get("channel") or "")
        market_id = str(message.get("symbol") or channel.rpartition("@")[2])
        return channel, market_id, int(d["fromVersion"]), int(d["toVersion"]), False


class CoinbaseSequenceTap:
    """Per-connection ``sequence_num`` continuity of Coinbase Advanced Trade."""

    def __init__(self) -> None:
        self.last: dict[int, int] = {}                  # connection -> last sequence_num
        self.books: dict[int, set[str]] = {}            # connection -> products with an l2_data book

    def on_message(self, message: Any, conn: Any = None) -> list[Verdict]:
        if not isinstance(message, dict) or "sequence_num" not in message:
            return []
        key = id(conn)
        seq = int(message["sequence_num"])
        prev = self.last.get(key)
        self.last[key] = seq
        books = self.books.setdefault(key, set())
        out: list[Verdict] = []
        if prev is not None and seq != prev + 1:
            out = [Verdict(p, False, f"message lost on the connection: sequence_num {prev} -> {seq}")
                   for p in sorted(books)]
            books.clear()
        if message.get("channel") == "l2_data":
            for ev in message.get("events") or []:
                if isinstance(ev, dict) and ev.get("type") == "snapshot" and ev.get("product_id"):
                    books.add(str(ev["product_id"]))
                    out.append(Verdict(str(ev["product_id"]), True))
        return out


#: exchange id -> the tap for it (made with the worker's symbol -> grid lookup)
TAPS: dict[str, Callable[[Callable[[str], Any]], Tap]] = {
    "okx": lambda grid_of: OkxBooksTap(),
    "bybit": lambda grid_of: BybitBookTap(),
    "gate": lambda grid_of: GateBookTap(),
    "kucoin": lambda grid_of: KucoinLevel2Tap(),
    "deribit": lambda grid_of: DeribitBookTap(),
    "mexc": lambda grid_of: MexcDepthTap(),
    "coinbase": lambda grid_of: CoinbaseSequenceTap(),
    "kraken": KrakenBookTap,
}


def tap_for(exchange_id: str, grid_of: Callable[[str], Any]) -> Tap | None:
    make = TAPS.get(exchange_id)
    return make(grid_of) if make is not None else None
