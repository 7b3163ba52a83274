# SPDX-License-Identifier: Apache-2.0
"""Deterministic venue-format frames for benchmarks: a Binance diff-depth stream walking a book."""
import json
import random

TICK = 1  # 0.01 at scale 2


def depth_stream(n_frames: int = 256, levels_per_side: int = 10, seed: int = 7,
                 mid_ticks: int = 2712345, book_levels: int = 1000, futures: bool = False):
    """(snapshot, frames): snapshot = (bids, asks) as [price_str, qty_str] lists best-first;
    frames = bytes of depthUpdate messages with `levels_per_side` levels per side, all within
    50 levels of the top, mixing updates, inserts and deletes (qty "0.00000000"). `futures`:
    USD-M's form, with the transaction time T and pu (the previous message's u)."""
    rng = random.Random(seed)

    def px(t: int) -> str:
        return f"{t // 100}.{t % 100:02d}000000"

    def qty() -> str:
        return f"{rng.randint(1, 5_000_000) / 1e8:.8f}"

    bid_top, ask_top = mid_ticks - 1, mid_ticks + 1
    bids = [[px(bid_top - i), qty()] for i in range(book_levels)]
    asks = [[px(ask_top + i), qty()] for i in range(book_levels)]
    frames = []
    u = 1000
    for k in range(n_frames):
        b, a = [], []
        for _ in range(levels_per_side):
            d = rng.randint(0, 49)
            b.append([px(bid_top - d), "0.00000000" if rng.random() < 0.2 else qty()])
            d = rng.randint(0, 49)
            a.append([px(ask_top + d), "0.00000000" if rng.random() < 0.2 else qty()])
        if futures:
            msg = {"e": "depthUpdate", "E": 1672515782136 + k, "T": 1672515782134 + k, "s": "BTCUSDT",
                   "U": u + 1, "u": u + 2 * levels_per_side, "pu": u, "b": b, "a": a}
        else:
            msg = {"e": "depthUpdate", "E": 1672515782136 + k, "s": "BTCUSDT",
                   "U": u + 1, "u": u + 2 * levels_per_side, "b": b, "a": a}
        frames.append(json.dumps(msg, separators=(",", ":")).encode())
        u += 2 * levels_per_side
    return (bids, asks), frames


def _okx_num(mantissa: int, scale: int) -> str:
    """A decimal as OKX writes it: no trailing zeros, no trailing point."""
    s = f"{mantissa // 10**scale}.{mantissa % 10**scale:0{scale}d}" if scale else str(mantissa)
    return s.rstrip("0").rstrip(".") if "." in s else s


def okx_book_stream(n_frames: int = 256, levels_per_side: int = 10, seed: int = 7, mid_ticks: int = 2712345,
                    book_levels: int = 400, inst_id: str = "BTC-USDT", with_checksum: bool = True):
    """(snapshot frame, update frames) of the OKX `books` channel walking one book: prices at
    scale 2 (tick 0.1 x 10 ... as `mid_ticks` cents), sizes at scale 8, `levels_per_side` changes
    per side per update within 50 levels of the top (20 % deletes), prevSeqId chained, and the
    checksum of the book after each message computed as OKX does (first 25 levels, interleaved);
    with_checksum=False: no checksum field, as OKX sends `books` since early August 2026."""
    from venuelink.ext.ref import checksum_ref
    rng = random.Random(seed)
    bids = {mid_ticks - 1 - i: rng.randint(1, 5_000_000) for i in range(book_levels)}
    asks = {mid_ticks + 1 + i: rng.randint(1, 5_000_000) for i in range(book_levels)}

    def row(p: int, q: int) -> list[str]:
        return [_okx_num(p, 2), _okx_num(q, 8), "0", str(rng.randint(1, 20))]

    def checksum() -> int:
        b = sorted(bids.items(), reverse=True)[:25]
        a = sorted(asks.items())[:25]
        c = checksum_ref.crc32(checksum_ref.string(b, a, (2, 8), 25))
        return c - 2**32 if c >= 2**31 else c

    def frame(action: str, b: list, a: list, prev: int, seq: int, k: int) -> bytes:
        d = {"asks": a, "bids": b, "ts": str(1700000000000 + k)}
        if with_checksum:
            d["checksum"] = checksum()
        d["prevSeqId"], d["seqId"] = prev, seq
        return json.dumps({"arg": {"channel": "books", "instId": inst_id}, "action": action, "data": [d]},
                          separators=(",", ":")).encode()

    seq = 1000
    snap = frame("snapshot", [row(p, q) for p, q in sorted(bids.items(), reverse=True)],
                 [row(p, q) for p, q in sorted(asks.items())], -1, seq, 0)
    frames = []
    for k in range(n_frames):
        b, a = [], []
        for side, out, top, sign in ((bids, b, max(bids), -1), (asks, a, min(asks), 1)):
            changed: dict[int, list[str]] = {}
            while len(changed) < levels_per_side:
                p = top + sign * rng.randint(0, 49)
                if p in changed:
                    continue
                if rng.random() < 0.2 and p in side and len(side) > 60:
                    del side[p]
                    changed[p] = [_okx_num(p, 2), "0", "0", "0"]
                else:
                    side[p] = rng.randint(1, 5_000_000)
                    changed[p] = row(p, side[p])
            out += [changed[p] for p in sorted(changed, key=lambda t: sign * t)]   # best first
        prev, seq = seq, seq + 1 + rng.randint(0, 3)
        frames.append(frame("update", b, a, prev, seq, k + 1))
    return snap, frames


def trade_stream(n_frames: int = 4096, seed: int = 11, symbol: str = "BTCUSDT", first_id: int = 3_000_000,
                 mid_ticks: int = 2712345) -> list[bytes]:
    """Binance `trade` events as the combined stream sends them: every frame a new trade id, a price
    walking around the mid and its own size, so no pipeline can short-cut on a repeated frame."""
    rng = random.Random(seed)
    out = []
    t = mid_ticks
    for k in range(n_frames):
        t += rng.randint(-3, 3)
        q = rng.randint(1, 5_000_000)
        ts = 1672515782136 + 7 * k
        d = {"e": "trade", "E": ts + 1, "s": symbol, "t": first_id + k, "p": f"{t // 100}.{t % 100:02d}000000",
             "q": f"{q // 10**8}.{q % 10**8:08d}", "T": ts, "m": rng.random() < 0.5, "M": True}
        out.append(b'{"stream":"%s@trade","data":' % symbol.lower().encode()
                   + json.dumps(d, separators=(",", ":")).encode() + b"}")
    return out


class GridSide:
    """One side of a book on a grid of ticks counted from the top: `depth` levels held on every
    other tick of the first 2 x depth, so an update can land anywhere in the book. Updates touch
    the first `window` ticks (the whole side when None) and are an insert, a change and a delete
    in turn, as a full-depth feed sends them, so the side stays within one level of `depth`."""

    def __init__(self, rng: random.Random, depth: int, window: int | None = None):
        w = 2 * depth if window is None else min(window, 2 * depth)
        self.rng = rng
        self.held = list(range(0, w, 2))
        self.free = list(range(1, w, 2))
        self.turn = 0

    @staticmethod
    def _take(rng: random.Random, slots: list[int], avoid: set[int]) -> int:
        """A random slot not in `avoid`, removed from `slots` (swap with the last: O(1))."""
        while True:
            i = rng.randrange(len(slots))
            if slots[i] not in avoid:
                slots[i], slots[-1] = slots[-1], slots[i]
                return slots.pop()

    def updates(self, n: int) -> list[tuple[int, int]]:
        """n updates at distinct ticks as (ticks from the top, size mantissa); size 0 deletes."""
        rng, out, seen = self.rng, [], set()
        for _ in range(n):
            op = self.turn % 3
            self.turn += 1
            if op == 0:                              # insert into a free tick
                t = self._take(rng, self.free, seen)
                self.held.append(t)
                out.append((t, rng.randint(1, 5_000_000)))
            elif op == 1:                            # change a held level's size
                t = self._take(rng, self.held, seen)
                self.held.append(t)
                out.append((t, rng.randint(1, 5_000_000)))
            else:                                    # delete a held level
                t = self._take(rng, self.held, seen)
                self.free.append(t)
                out.append((t, 0))
            seen.add(t)
        return out


def grid_snapshot(depth: int, mid_ticks: int = 2712345) -> tuple[list, list]:
    """(bids, asks) as (price, size) mantissa pairs, best first: GridSide's starting book, the
    same for every symbol (sizes from the tick, cheap to build for ten thousand books)."""
    bids = [(mid_ticks - 1 - t, 1 + t * 7919 % 5_000_000) for t in range(0, 2 * depth, 2)]
    asks = [(mid_ticks + 1 + t, 1 + t * 6271 % 5_000_000) for t in range(0, 2 * depth, 2)]
    return bids, asks


def grid_depth_frames(symbols: list[str], n_frames: int, levels_per_frame: int, depth: int, seed: int = 5,
                      window: int | None = None, first_u: int = 1000, mid_ticks: int = 2712345) -> list[bytes]:
    """Binance combined-stream depthUpdate frames over books that start as grid_snapshot(depth)
    with lastUpdateId first_u: each frame for one symbol drawn at random among `symbols`, its
    update ids chained per symbol, `levels_per_frame` distinct levels split between the sides (a
    1-level frame picks a side), from GridSide (inserts, changes and deletes in turn)."""
    rng = random.Random(seed)
    sides: dict[str, tuple[GridSide, GridSide]] = {}
    last_u: dict[str, int] = {}

    def px(t: int) -> str:
        return f"{t // 100}.{t % 100:02d}000000"

    def qty(q: int) -> str:
        return f"{q // 10**8}.{q % 10**8:08d}"

    frames = []
    for k in range(n_frames):
        s = symbols[rng.randrange(len(symbols))]
        if s not in sides:
            sides[s] = (GridSide(rng, depth, window), GridSide(rng, depth, window))
        bid_side, ask_side = sides[s]
        if levels_per_frame == 1:
            nb = rng.randrange(2)
            na = 1 - nb
        else:
            nb = levels_per_frame // 2
            na = levels_per_frame - nb
        b = [[px(mid_ticks - 1 - t), qty(q)] for t, q in sorted(bid_side.updates(nb))]
        a = [[px(mid_ticks + 1 + t), qty(q)] for t, q in sorted(ask_side.updates(na))]
        u = last_u.get(s, first_u)
        last_u[s] = u + levels_per_frame
        msg = {"e": "depthUpdate", "E": 1672515782136 + k, "s": s, "U": u + 1, "u": u + levels_per_frame,
               "b": b, "a": a}
        frames.append(b'{"stream":"%s@depth@100ms","data":' % s.lower().encode()
                      + json.dumps(msg, separators=(",", ":")).encode() + b"}")
    return frames


class Sink:
    """What a benchmarked parser hands its events to: trades counted, a decode error fails the run."""

    def __init__(self):
        self.trades = 0

    def on_trade(self, t):
        self.trades += 1

    def on_need_snapshot(self, sync, reason):
        pass

    def on_state(self, sync, old, new):
        pass

    def on_decode_error(self, e, raw):
        raise AssertionError(e)
