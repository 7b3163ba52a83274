"""The exact decimal parser's shortcut for the common shape of venue numbers (up to 16 bytes of
digits with at most one '.'), against the reference twin: every length and '.' position around the
8- and 16-byte boundaries, every scale, int64 limits, every error, and texts that end (or start)
exactly at the edge of readable memory."""
import ctypes
import mmap
import platform

import pytest

from venuelink.ext import decimal as fx
from venuelink.ext.ref import decimal_ref as ref

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
DIGITS = "1234567890987654321012345"


def _kind(exc: Exception) -> str:
    if isinstance(exc, fx.DecimalSyntaxError):
        return "syntax"
    if isinstance(exc, fx.DecimalOverflowError):
        return "overflow"
    if isinstance(exc, fx.DecimalPrecisionError):
        return "precision"
    if isinstance(exc, fx.DecimalError):
        return "other"
    return "scale"


def outcome(fn, text, scale):
    try:
        return fn(text, scale)
    except ValueError as e:
        return _kind(e)


def expected(text: str, scale: int):
    try:
        return ref.parse(text, scale)
    except ValueError as e:
        return str(e)


def check(text: str, scale: int) -> None:
    want = expected(text, scale)
    raw = text.encode("latin-1")
    got = outcome(fx.parse, raw, scale)
    got_pad = outcome(fx.parse_padded, raw, scale)
    got_str = outcome(fx.parse, text, scale) if text.isascii() else got
    for g in (got, got_pad, got_str):
        # the reference says overflow or precision when both apply; either class is right
        assert g == want or {g, want} <= {"overflow", "precision"}, (text, scale, want, got, got_pad)


def texts_every_dot():
    """Digit runs of every length 1..24 (mixed digits, all '0', all '9', with a nonzero last digit),
    with a '.' at every position and without one."""
    bodies = []
    for n in range(1, 25):
        bodies += [DIGITS[:n], "0" * n, "9" * n, "0" * (n - 1) + "1", "1" + "0" * (n - 1)]
    out = set()
    for b in bodies:
        out.add(b)
        for i in range(len(b) + 1):
            out.add(b[:i] + "." + b[i:])
    return sorted(out)


@pytest.mark.parametrize("scale", list(range(-1, 20)))
def test_every_length_and_dot_position(scale):
    for t in texts_every_dot():
        check(t, scale)


@pytest.mark.parametrize("scale", [0, 2, 8, 15, 16, 18])
def test_digits_past_the_scale(scale):
    """Fractional digits past the scale: '0's are dropped, any other digit at any position past the
    scale is a precision error (checked at each position, each digit)."""
    for ni in range(0, 9):
        for nf in range(0, 17):
            base = list(DIGITS[:ni] + "." + "0" * nf)
            check("".join(base), scale)
            for pos in range(ni + 1, ni + 1 + nf):
                for dg in "19":
                    t = base.copy()
                    t[pos] = dg
                    check("".join(t), scale)


def test_venue_shapes():
    for t, scale, v in [("27123.45000000", 2, 2712345), ("27123.45000000", 8, 2712345000000),
                        ("0.00354810", 8, 354810), ("0.00000000", 8, 0), ("0", 8, 0), ("3", 0, 3),
                        ("15", 3, 15000), (".5", 1, 5), ("5.", 0, 5), ("999999999999999", 0, 999999999999999),
                        ("9999999.99999999", 8, 999999999999999), ("0.000000000000001", 15, 1),
                        ("1.000000000000000", 0, 1), ("123456789012345", 0, 123456789012345)]:
        assert fx.parse(t, scale) == v
        assert fx.parse(t.encode(), scale) == v
        assert fx.parse_padded(t.encode(), scale) == v
        check(t, scale)


def test_int64_limits():
    for t in ["9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
              "922337203685477580.7", "92233720368.54775807", "92233720368.54775808", "9.223372036854775807",
              "9.223372036854775808", "0.9223372036854775807", "99999999999999999", "999999999999999999",
              "9999999999999999999", "10000000000000000000", "9999999999999999", "999999999.9999999"]:
        for scale in range(0, 19):
            check(t, scale)


BAD = ["", ".", "..", "-", "+", "-.", "+.", "e", "1e", "1e+", ".e1", "1..2", "1.2.3", "..5", "5..",
       "1 ", " 1", "1\x00", "\x002", "1,5", "1_0", "0x10", "NaN", "inf", "--1", "+-1", "1-", "1+", "1.-2",
       "1/2", "1:2", "12345678/", "1234567:", "123456789012345/", "1234567890123456:", "/1234567890123456",
       "\xff", "1\xfa", "12345678\x80", "1" * 40, "0." + "0" * 30 + "1", "1e-9", "1e30", "1e99999999"]


@pytest.mark.parametrize("scale", [-1, 0, 2, 8, 16, 18, 19])
def test_errors(scale):
    for t in BAD:
        if t or 0 <= scale <= 18:       # parse(b"", bad scale) reports the empty text first
            check(t, scale)
        for pad in ("0", "5", "00000000"):          # the same with digits before and after
            check(pad + t, scale)
            check(t + pad, scale)


def test_signs_and_exponents_still_parse():
    for t in ["-27123.45000000", "+27123.45", "-0.00354810", "-0", "+0", "1e3", "1.5E-2", "-1e-8", "0.5e1"]:
        for scale in (0, 2, 8):
            check(t, scale)


def test_bytes_neighbouring_digits_at_every_position():
    """Bytes just outside '0'..'9' and '.' ('/', ':', '-', 0x80, 0xFF, 0xFE...) at every position
    of texts of every length up to 17: never read as a digit or a '.'."""
    for n in range(1, 18):
        body = DIGITS[:n]
        for i in range(n):
            for c in "/:-+ \x00\x7f\x80\xfe\xff\xd0":   # (an "e" would make exponents in the billions)
                for b in (body, body[:n // 2] + "." + body[n // 2:]):
                    check(b[:i] + c + b[i + 1:], 8)


@pytest.mark.skipif(platform.system() != "Linux", reason="mprotect through ctypes")
def test_text_at_the_edge_of_readable_memory():
    """Texts that end at the last readable byte before a page with no access (and start at the
    first readable byte after one): a read past the text (or before it) would crash the test."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    page = mmap.PAGESIZE
    m = mmap.mmap(-1, 3 * page)
    base = ctypes.addressof(ctypes.c_char.from_buffer(m))
    try:
        assert libc.mprotect(base, page, 0) == 0
        assert libc.mprotect(base + 2 * page, page, 0) == 0
        mid = base + page
        samples = [t for t in texts_every_dot() if len(t) <= 20] + BAD[1:] + ["-1.5", "1e3", "7"]
        for t in samples:
            raw = t.encode("latin-1")
            n = len(raw)
            for addr in (mid + page - n, mid):             # ends at the guard page / starts after one
                ctypes.memmove(addr, raw, n)
                view = memoryview((ctypes.c_char * n).from_address(addr)).cast("B")
                for scale in (0, 2, 8):
                    want = expected(t, scale)
                    got = outcome(fx.parse, view, scale)
                    assert got == want or {got, want} <= {"overflow", "precision"}, (t, scale)
    finally:
        libc.mprotect(base, 3 * page, mmap.PROT_READ | mmap.PROT_WRITE)
        m.close()
