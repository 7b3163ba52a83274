# SPDX-License-Identifier: Apache-2.0
"""Reference twin of venuelink.ext.checksum: the string form built with Python strings, CRC by zlib."""
import zlib

from venuelink.ext.ref import decimal_ref

INTERLEAVED, ASKS_THEN_BIDS, BIDS_THEN_ASKS = 1, 2, 3


def _num(v: int, scale: int, frac: int, strip: bool) -> str:
    try:
        s = decimal_ref.format(v, scale, frac)
    except ValueError:
        s = decimal_ref.format(v, scale, -1)
    if strip:
        neg = s.startswith("-")
        s = s.lstrip("-").replace(".", "").lstrip("0")
        s = ("-" if neg else "") + s
    return s


def string(bids, asks, scales, depth, layout=INTERLEAVED, sep=":", px_frac=-1, qty_frac=-1,
           strip_dot_zeros=False, negate_ask_qty=False) -> str:
    """bids/asks best-first lists of (px, qty) mantissas; scales = (px_scale, qty_scale)."""
    pxs, qs = scales

    def lvl(p, q, ask):
        q = -q if ask and negate_ask_qty else q
        return [_num(p, pxs, px_frac, strip_dot_zeros), _num(q, qs, qty_frac, strip_dot_zeros)]

    b = [lvl(p, q, False) for p, q in bids[:depth]]
    a = [lvl(p, q, True) for p, q in asks[:depth]]
    parts: list[str] = []
    if layout == INTERLEAVED:
        for i in range(depth):
            if i < len(b):
                parts += b[i]
            if i < len(a):
                parts += a[i]
    elif layout == ASKS_THEN_BIDS:
        for x in a + b:
            parts += x
    else:
        for x in b + a:
            parts += x
    return sep.join(parts)


def crc32(s: str) -> int:
    return zlib.crc32(s.encode())
