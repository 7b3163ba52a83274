# SPDX-License-Identifier: Apache-2.0
"""Order-book checksums: CRC32 of a venue-defined string form of the top levels.

Example (Kraken v2: top 10 asks then bids, '.' and leading zeros removed, fixed precision)::

    ck = Checksum(depth=10, layout=ChecksumLayout.ASKS_THEN_BIDS, px_frac=1, qty_frac=8,
                  strip_dot_zeros=True)
    ck.crc32_of(book) == venue_checksum
"""
from libc.stdint cimport uint32_t, int32_t, int64_t
from libc.stdlib cimport malloc, free
from ext.book cimport L2Book
from ext.types cimport BID, ASK
from ext.decimal cimport vl_format_fixed

cdef extern from "zlib.h" nogil:
    unsigned long zlib_crc32 "crc32"(unsigned long crc, const unsigned char *buf, unsigned int len)

cdef enum:
    NUM_MAX = 64          # bytes one formatted number may take (sign, 19 digits, '.', padding)


cdef inline Py_ssize_t _put_num(const ChecksumSpec *s, char *out, int64_t v, int scale, int frac) noexcept nogil:
    cdef char tmp[NUM_MAX]
    cdef int n, i, j = 0, start = 0
    if not s.strip_dot_zeros:                        # the string as it is: straight into out
        n = vl_format_fixed(v, scale, frac, out)     # (NUM_MAX bytes are reserved per number)
        if n < 0:
            n = vl_format_fixed(v, scale, -1, out)
        return n if n > 0 else 0
    n = vl_format_fixed(v, scale, frac if frac <= 40 else 40, tmp)
    if n < 0:
        n = vl_format_fixed(v, scale, -1, tmp)       # frac too small for the value: print it all
    if n <= 0:
        return 0                                      # invalid scale: L2Book never has one
    if not s.strip_dot_zeros:
        for i in range(n):
            out[i] = tmp[i]
        return n
    if n and tmp[0] == b'-':
        out[j] = b'-'
        j += 1
        start = 1
    cdef bint leading = True
    for i in range(start, n):
        if tmp[i] == b'.':
            continue
        if leading and tmp[i] == b'0':
            continue
        leading = False
        out[j] = tmp[i]
        j += 1
    return j


cdef inline Py_ssize_t _put_level(const ChecksumSpec *s, char *out, Py_ssize_t pos, L2Book book,
                                  int side, Py_ssize_t i) noexcept nogil:
    cdef int64_t px = 0, qty = 0
    if not book.level_at(side, i, &px, &qty):
        return pos
    if side == ASK and s.negate_ask_qty:
        qty = -qty
    if pos and s.sep:
        out[pos] = s.sep
        pos += 1
    pos += _put_num(s, out + pos, px, book.px_scale, s.px_frac)
    if s.sep:
        out[pos] = s.sep
        pos += 1
    pos += _put_num(s, out + pos, qty, book.qty_scale, s.qty_frac)
    return pos


cdef class Checksum:
    def __cinit__(self, int depth, int layout=INTERLEAVED, str sep=":", int px_frac=-1, int qty_frac=-1,
                  bint strip_dot_zeros=False, bint negate_ask_qty=False):
        if depth <= 0 or depth > 10000:
            raise ValueError("depth must be 1..10000")
        if layout not in (INTERLEAVED, ASKS_THEN_BIDS, BIDS_THEN_ASKS):
            raise ValueError(f"unknown layout {layout}")
        if len(sep) > 1:
            raise ValueError("sep must be one character or empty")
        if px_frac > 40 or qty_frac > 40:
            raise ValueError("frac must be <= 40")
        self.spec.depth = depth
        self.spec.layout = layout
        self.spec.sep = ord(sep) if sep else 0
        self.spec.px_frac = px_frac
        self.spec.qty_frac = qty_frac
        self.spec.strip_dot_zeros = strip_dot_zeros
        self.spec.negate_ask_qty = negate_ask_qty
        self.cap = depth * 2 * 2 * (NUM_MAX + 1) + 1
        self.buf = <char *>malloc(self.cap)
        if self.buf == NULL:
            raise MemoryError()

    def __dealloc__(self):
        free(self.buf)

    cdef Py_ssize_t build(self, L2Book book) noexcept nogil:
        """Write the string form into self.buf; returns its length."""
        cdef Py_ssize_t i, pos = 0
        cdef int d = self.spec.depth
        if self.spec.layout == INTERLEAVED:
            for i in range(d):
                pos = _put_level(&self.spec, self.buf, pos, book, BID, i)
                pos = _put_level(&self.spec, self.buf, pos, book, ASK, i)
        elif self.spec.layout == ASKS_THEN_BIDS:
            for i in range(d):
                pos = _put_level(&self.spec, self.buf, pos, book, ASK, i)
            for i in range(d):
                pos = _put_level(&self.spec, self.buf, pos, book, BID, i)
        else:
            for i in range(d):
                pos = _put_level(&self.spec, self.buf, pos, book, BID, i)
            for i in range(d):
                pos = _put_level(&self.spec, self.buf, pos, book, ASK, i)
        return pos

    cdef uint32_t crc32(self, L2Book book) noexcept nogil:
        cdef Py_ssize_t n = self.build(book)
        return <uint32_t>zlib_crc32(0, <const unsigned char *>self.buf, <unsigned int>n)

    def string(self, L2Book book) -> str:
        """The exact string the CRC is computed over (for debugging a mismatch)."""
        cdef Py_ssize_t n = self.build(book)
        return self.buf[:n].decode("ascii")

    def crc32_of(self, L2Book book) -> int:
        """CRC32 as an unsigned 32-bit integer (Kraken)."""
        return self.crc32(book)

    def crc32_signed_of(self, L2Book book) -> int:
        """CRC32 as a signed 32-bit integer (OKX, Bitfinex)."""
        return <int32_t>self.crc32(book)
