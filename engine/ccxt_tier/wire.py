# SPDX-License-Identifier: Apache-2.0
"""The compact binary book frame the CCXT worker sends the engine (a WebSocket binary frame; every
other frame of the dialect is JSON text, venuelink.ccxt_tier).

Little-endian: ``u8 1`` (a book), ``u8`` length + the symbol's UTF-8, ``i64`` the exchange's time
in ms (0: unknown), ``u8`` price scale, ``u8`` size scale, ``u16`` bids, ``u16`` asks, then for each
bid and then each ask two ``i64``: price and size as integer mantissas at those scales (the
instrument's tick and lot decimals: the worker's grid-checked text with its point removed). The
engine reads it without JSON or a decimal conversion per value; a frame whose scales are not its
instrument's is refused.
"""
from __future__ import annotations

import struct

BOOK = 1
_HEAD = struct.Struct("<BB")              # kind, symbol length
_MID = struct.Struct("<qBBHH")            # ts ms, price scale, size scale, bids, asks
MAX_LEVELS = 65535


def mantissa(text: str) -> int:
    """A grid-checked decimal text (fixed decimals, no exponent) as its integer mantissa."""
    return int(text.replace(".", "", 1))


def encode_book(symbol: str, ts_ms: int, px_scale: int, qty_scale: int,
                bids: list[list[str]], asks: list[list[str]]) -> bytes:
    name = symbol.encode()
    if len(name) > 255 or len(bids) > MAX_LEVELS or len(asks) > MAX_LEVELS:
        raise ValueError("symbol or level count out of the frame's range")
    nums: list[int] = []
    for p, q in bids:
        nums += (mantissa(p), mantissa(q))
    for p, q in asks:
        nums += (mantissa(p), mantissa(q))
    return b"".join((_HEAD.pack(BOOK, len(name)), name, _MID.pack(ts_ms, px_scale, qty_scale, len(bids), len(asks)),
                     struct.pack(f"<{len(nums)}q", *nums)))


def decode_book(buf: bytes) -> tuple[str, int, int, int, list[tuple[int, int]], list[tuple[int, int]]]:
    """(symbol, ts_ms, price scale, size scale, bids, asks); ValueError for a malformed frame."""
    try:
        kind, n = _HEAD.unpack_from(buf, 0)
        if kind != BOOK:
            raise ValueError(f"unknown binary frame kind {kind}")
        symbol = bytes(buf[2:2 + n]).decode()
        ts, ps, qs, nb, na = _MID.unpack_from(buf, 2 + n)
        off = 2 + n + _MID.size
        if len(buf) != off + 16 * (nb + na):
            raise ValueError(f"binary book frame of {len(buf)} bytes, {off + 16 * (nb + na)} expected")
        v = struct.unpack_from(f"<{2 * (nb + na)}q", buf, off)
    except struct.error as e:
        raise ValueError(f"truncated binary book frame: {e}") from None
    pairs = list(zip(v[0::2], v[1::2]))
    return symbol, ts, ps, qs, pairs[:nb], pairs[nb:]
