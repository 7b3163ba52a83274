# SPDX-License-Identifier: Apache-2.0
"""Deterministic venue-format frames for benchmarks: a Binance diff-depth stream walking a book."""
import json
import random

TICK = 1  # 0.01 at scale 2


def depth_stream(n_frames: int = 256, levels_per_side: int = 10, seed: int = 7,
                 mid_ticks: int = 2712345, book_levels: int = 1000):
    """(snapshot, frames): snapshot = (bids, asks) as [price_str, qty_str] lists best-first;
    frames = bytes of depthUpdate messages with `levels_per_side` levels per side, all within
    50 levels of the top, mixing updates, inserts and deletes (qty "0.00000000")."""
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
        frames.append(json.dumps({"e": "depthUpdate", "E": 1672515782136 + k, "s": "BTCUSDT",
                                  "U": u + 1, "u": u + 2 * levels_per_side, "b": b, "a": a},
                                 separators=(",", ":")).encode())
        u += 2 * levels_per_side
    return (bids, asks), frames
