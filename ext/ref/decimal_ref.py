# SPDX-License-Identifier: Apache-2.0
"""Reference twin of venuelink.ext.decimal built on Python's decimal module (slow, obviously correct)."""
from decimal import Decimal, InvalidOperation, Overflow, Underflow, localcontext

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_ALLOWED = set("0123456789+-.eE")


def parse(text: str, scale: int) -> int:
    """Mantissa of `text` at `scale`; raises ValueError with a kind prefix on any problem."""
    if not 0 <= scale <= 18:
        raise ValueError("scale")
    if not text or any(c not in _ALLOWED for c in text):
        raise ValueError("syntax")
    with localcontext() as ctx:
        ctx.prec = 400
        ctx.Emax = 10**6
        ctx.Emin = -(10**6)
        ctx.traps[Underflow] = True
        try:
            d = Decimal(text)
        except InvalidOperation:
            raise ValueError("syntax") from None
        if not d.is_finite():
            raise ValueError("syntax")
        try:
            m = d.scaleb(scale)
        except Overflow:                   # exponent beyond any int64 (e.g. "1e2000000")
            raise ValueError("overflow") from None
        except Underflow:                  # digits far below the scale (e.g. "1e-2000000")
            raise ValueError("precision") from None
        if m != m.to_integral_value():
            raise ValueError("precision")
        v = int(m)
    if not INT64_MIN <= v <= INT64_MAX:
        raise ValueError("overflow")
    return v


def format(mantissa: int, scale: int, frac: int = -1) -> str:
    with localcontext() as ctx:
        ctx.prec = 100
        return _format(mantissa, scale, frac)


def _format(mantissa: int, scale: int, frac: int) -> str:
    d = Decimal(mantissa).scaleb(-scale)
    if frac < 0:
        s = f"{d:f}"
        if "." in s:
            s = s.rstrip("0").rstrip(".")
        return "0" if s in ("-0", "") else s
    q = d.quantize(Decimal(1).scaleb(-frac)) if frac else d.quantize(Decimal(1))
    if q != d:
        raise ValueError("precision")
    s = f"{q:f}"
    return s
