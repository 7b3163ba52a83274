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
    from ext.ref import checksum_ref
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
