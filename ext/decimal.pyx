# SPDX-License-Identifier: Apache-2.0
"""Exact fixed-point decimals: a value at scale s is the int64 mantissa value * 10**s.

Venues send prices and sizes as decimal strings ("27123.45000000", "0.00012", "1e-8", "-3.5").
`parse(text, scale)` turns them into mantissas exactly or raises a DecimalError subclass;
`format(mantissa, scale)` gives the canonical string back.
"""
from libc.stdint cimport int64_t
from libc.string cimport memcpy, memset
from libc.stdlib cimport malloc, free
from cpython.object cimport PyObject
from cpython.sequence cimport PySequence_Fast_ITEMS

cdef extern from "Python.h":
    # on borrowed references: no reference counting
    const char *_bytes_data "PyBytes_AS_STRING" (PyObject *o)
    Py_ssize_t _bytes_size "PyBytes_GET_SIZE" (PyObject *o)
    bint _is_bytes "PyBytes_CheckExact" (PyObject *o)
from venuelink.ext.decimal cimport vl_parse_fixed, vl_parse_fixed_pad, vl_format_fixed, VL_FX_OK, VL_FX_EMPTY, VL_FX_SYNTAX, \
    VL_FX_OVERFLOW, VL_FX_PRECISION, VL_FX_SCALE

MAX_SCALE = 18


class DecimalError(ValueError):
    """A decimal string could not be represented exactly at the requested scale."""


class DecimalSyntaxError(DecimalError):
    """Empty input or not a decimal number (garbage, whitespace, NaN, hex ...)."""


class DecimalOverflowError(DecimalError):
    """The value does not fit an int64 mantissa at the requested scale."""


class DecimalPrecisionError(DecimalError):
    """More significant fractional digits than the scale can hold (would lose value)."""


cdef int raise_fx(int code, const char *s, size_t n, int scale) except -1:
    cdef size_t shown = n if n < 64 else 64
    text = s[:shown].decode("ascii", "replace") + ("..." if n > 64 else "")
    if code == VL_FX_EMPTY:
        raise DecimalSyntaxError("empty decimal string")
    if code == VL_FX_SYNTAX:
        raise DecimalSyntaxError(f"not a decimal number: {text!r}")
    if code == VL_FX_OVERFLOW:
        raise DecimalOverflowError(f"{text!r} overflows int64 at scale {scale}")
    if code == VL_FX_PRECISION:
        raise DecimalPrecisionError(f"{text!r} has more fractional digits than scale {scale}")
    if code == VL_FX_SCALE:
        raise ValueError(f"scale must be 0..18, got {scale}")
    raise DecimalError(f"decimal error {code} for {text!r}")


cpdef int64_t parse(text, int scale) except? -1:
    """Parse an ASCII decimal (str or bytes) into an int64 mantissa at `scale` fractional digits.

    Raises DecimalSyntaxError, DecimalOverflowError or DecimalPrecisionError; never rounds.
    """
    cdef const unsigned char[::1] view
    cdef bytes b
    cdef int64_t out = 0
    cdef int rc
    if isinstance(text, str):
        b = (<str>text).encode("ascii", "replace")
        rc = vl_parse_fixed(<const char *>b, len(b), scale, &out)
        if rc != VL_FX_OK:
            raise_fx(rc, <const char *>b, len(b), scale)
        return out
    view = text
    if view.shape[0] == 0:
        raise_fx(VL_FX_EMPTY, b"", 0, scale)
    rc = vl_parse_fixed(<const char *>&view[0], view.shape[0], scale, &out)
    if rc != VL_FX_OK:
        raise_fx(rc, <const char *>&view[0], view.shape[0], scale)
    return out


cpdef str format(int64_t mantissa, int scale, int frac=-1):
    """Canonical decimal string of `mantissa` at `scale` (trailing zeros dropped: "27123.45").

    With frac >= 0, exactly `frac` fractional digits (venue checksum forms such as "0.10").
    """
    cdef char buf[64]
    cdef int n
    if scale < 0 or scale > 18:
        raise ValueError(f"scale must be 0..18, got {scale}")
    if frac > 40:
        raise ValueError("frac must be <= 40")
    n = vl_format_fixed(mantissa, scale, frac, buf)
    if n < 0:
        raise DecimalPrecisionError(f"{mantissa} at scale {scale} needs more than {frac} fractional digits")
    return buf[:n].decode("ascii")


def rescale(int64_t mantissa, int from_scale, int to_scale) -> int:
    """Exact change of scale; raises DecimalPrecisionError/DecimalOverflowError instead of rounding."""
    cdef char buf[64]
    cdef int n = vl_format_fixed(mantissa, from_scale, -1, buf)
    return parse(buf[:n], to_scale)


def parse_padded(bytes text, int scale) -> int:
    """parse() by the path the JSON decoders take (vl_parse_fixed_pad: the text sits in a buffer
    readable 16 bytes past its start, so the common shape is read by SIMD): for differential tests."""
    cdef char buf[96]
    cdef int64_t out = 0
    cdef Py_ssize_t n = len(text)
    cdef int rc
    if n > 64 or n == 0:
        return parse(text, scale)
    memset(buf, 0x35, sizeof(buf))                 # '5': digits past the end must not be read as digits
    memcpy(buf, <const char *>text, n)
    rc = vl_parse_fixed_pad(buf, n, scale, &out)
    if rc != VL_FX_OK:
        raise_fx(rc, buf, n, scale)
    return out


def _bench_parse_padded(list items, int scale, Py_ssize_t rounds) -> int:
    """Benchmark helper: vl_parse_fixed_pad over every item, laid out in one padded buffer as in a
    frame copy, `rounds` times from C; returns a checksum."""
    cdef bytes joined = b"".join(items) + b"\0" * 16
    cdef const char *base = joined
    cdef Py_ssize_t r, i, k = len(items)
    cdef Py_ssize_t *off = <Py_ssize_t *>malloc((k + 1) * sizeof(Py_ssize_t))
    cdef int64_t out = 0, acc = 0
    if off == NULL:
        raise MemoryError()
    off[0] = 0
    for i in range(k):
        off[i + 1] = off[i] + len(<bytes>items[i])
    for r in range(rounds):
        for i in range(k):
            vl_parse_fixed_pad(base + off[i], <size_t>(off[i + 1] - off[i]), scale, &out)
            acc += out
    free(off)
    return acc


def _bench_parse(list items, int scale, Py_ssize_t rounds) -> int:
    """Benchmark helper: parse every bytes item `rounds` times from C; returns a checksum. The items
    are read through the list's borrowed references (no reference counting per item), so the
    instruction count is the parser's and little else."""
    cdef Py_ssize_t r, i, k = len(items)
    cdef int64_t out = 0, acc = 0
    cdef PyObject **it = PySequence_Fast_ITEMS(items)
    cdef PyObject *o
    for r in range(rounds):
        for i in range(k):
            o = it[i]
            if not _is_bytes(o):
                raise TypeError(f"item {i}: bytes expected")
            vl_parse_fixed(_bytes_data(o), <size_t>_bytes_size(o), scale, &out)
            acc += out
    return acc
