# SPDX-License-Identifier: Apache-2.0
"""Reference twin of venuelink.ext.clock's RFC 3339 reader (include/vl_time.h), in plain Python.

The same rules: ``YYYY-MM-DD``, ``T``/``t``/space, ``HH:MM:SS``, an optional ``.`` and 1-9
fraction digits, then ``Z``/``z`` or ``+HH:MM``/``-HH:MM``; fields range-checked (leap years
included, no leap second); the result must fit int64 nanoseconds. Errors are ValueError."""
from __future__ import annotations

import re

_RE = re.compile(r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:([Zz])|([+-])(\d\d):(\d\d))", re.ASCII)
_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_INT64 = 2**63


def _leap(y: int) -> bool:
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)


def _days_before_year(y: int) -> int:
    """Days from 1970-01-01 to y-01-01 (negative before 1970), counted year by year's rule."""
    def upto(y: int) -> int:            # days in years 1..y-1 of the proleptic calendar
        z = y - 1
        return z * 365 + z // 4 - z // 100 + z // 400
    return upto(y) - upto(1970)


def rfc3339_ns(text: str | bytes) -> int:
    s = text.decode("latin-1") if isinstance(text, (bytes, bytearray)) else text
    m = _RE.fullmatch(s)
    if m is None or not s.isascii():
        raise ValueError(f"time {s!r}: not an RFC 3339 date-time")
    y, mo, d, h, mi, sec = (int(m.group(i)) for i in range(1, 7))
    frac = m.group(7) or ""
    if len(frac) > 9:
        raise ValueError(f"time {s!r}: a fraction finer than a nanosecond")
    oh, om = (int(m.group(10)), int(m.group(11))) if m.group(9) else (0, 0)
    if not (1 <= mo <= 12) or not (1 <= d <= _DAYS[mo - 1] + (mo == 2 and _leap(y))) or h > 23 or mi > 59 \
            or sec > 59 or oh > 23 or om > 59:
        raise ValueError(f"time {s!r}: a field out of range")
    days = _days_before_year(y) + sum(_DAYS[:mo - 1]) + (mo > 2 and _leap(y)) + d - 1
    sign = -1 if m.group(9) == "-" else 1
    t = (days * 86400 + h * 3600 + mi * 60 + sec - (sign * (oh * 3600 + om * 60) if m.group(9) else 0)) * 10**9
    t += int(frac.ljust(9, "0")) if frac else 0
    if not -_INT64 <= t < _INT64:
        raise ValueError(f"time {s!r}: outside int64 nanoseconds")
    return t
