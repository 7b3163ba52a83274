# SPDX-License-Identifier: Apache-2.0
"""Order-book checksums: CRC32 of a venue-defined string form of the top levels.

Example (Kraken v2: top 10 asks then bids, '.' and leading zeros removed, fixed precision)::

    ck = Checksum(depth=10, layout=ChecksumLayout.ASKS_THEN_BIDS, px_frac=1, qty_frac=8,
                  strip_dot_zeros=True)
    ck.crc32_of(book) == venue_checksum
"""
from libc.stdint cimport uint32_t, int32_t, int64_t, uint64_t
from libc.stdlib cimport malloc, free, calloc
from libc.string cimport memcpy
from ext.book cimport L2Book, Ladder, Level
from ext.types cimport BID, ASK
from ext.decimal cimport vl_format_fixed

cdef extern from "vl_crc32.h" nogil:
    uint32_t vl_crc32(uint32_t crc, const unsigned char *p, size_t n)
    int VL_CRC32_CLMUL

cdef enum:
    NUM_MAX = 64          # bytes one formatted number may take (sign, 19 digits, '.', padding)
    CACHE_BITS = 9
    CACHE_SLOTS = 512     # per kind (prices, sizes): direct-mapped by the mantissa's hash
    SLOT_TEXT = 24        # sizeof(NumSlot.text): longer texts are formatted every time


# Every message's checksum covers the top levels of both sides (OKX: 50 levels, 100 numbers),
# while a message changes only a few of them: the text of each number is kept in a small
# direct-mapped cache keyed by its mantissa and scale, so an unchanged level costs a lookup and
# a fixed 24-byte copy instead of formatting. A collision just formats again.
cdef inline Py_ssize_t _put_cached(const ChecksumSpec *s, NumSlot *slots, char *out, int64_t v, int scale,
                                   int frac, long long *hits) noexcept nogil:
    cdef NumSlot *slot = &slots[(<uint64_t>v * <uint64_t>0x9E3779B97F4A7C15ULL) >> (64 - CACHE_BITS)]
    cdef Py_ssize_t n
    if slot.v == v and slot.scale == scale:
        memcpy(out, slot.text, SLOT_TEXT)          # out has NUM_MAX bytes reserved per number
        hits[0] += 1
        return slot.n
    n = _put_num(s, out, v, scale, frac)
    if n <= SLOT_TEXT:
        slot.v, slot.scale, slot.n = v, scale, <int>n
        memcpy(slot.text, out, SLOT_TEXT)
    return n


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


cdef inline Py_ssize_t _put_level(const ChecksumSpec *s, NumSlot *slots, long long *hits, char *out,
                                  Py_ssize_t pos, const Ladder *l, int side, Py_ssize_t i, int px_scale,
                                  int qty_scale) noexcept nogil:
    # i-th level from the top of a ladder (best last in lv[lo:hi]); read in place, no call
    if i >= l.hi - l.lo:
        return pos
    cdef const Level *lv = &l.lv[l.hi - 1 - i]
    cdef int64_t px = lv.key if side == BID else -lv.key
    cdef int64_t qty = lv.qty
    if side == ASK and s.negate_ask_qty:
        qty = -qty
    if pos and s.sep:
        out[pos] = s.sep
        pos += 1
    pos += _put_cached(s, slots, out + pos, px, px_scale, s.px_frac, hits)
    if s.sep:
        out[pos] = s.sep
        pos += 1
    pos += _put_cached(s, slots + CACHE_SLOTS, out + pos, qty, qty_scale, s.qty_frac, hits)
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
        self.slots = <NumSlot *>calloc(2 * CACHE_SLOTS, sizeof(NumSlot))
        if self.buf == NULL or self.slots == NULL:
            raise MemoryError()
        for i in range(2 * CACHE_SLOTS):
            self.slots[i].scale = -1                   # empty: no number has scale -1

    def __dealloc__(self):
        free(self.buf)
        free(self.slots)

    cdef Py_ssize_t build(self, L2Book book) noexcept nogil:
        """Write the string form into self.buf; returns its length."""
        cdef Py_ssize_t i, pos = 0
        cdef int d = self.spec.depth
        cdef long long hits = 0
        cdef const ChecksumSpec *sp = &self.spec
        cdef NumSlot *sl = self.slots
        cdef const Ladder *b = &book._bids
        cdef const Ladder *a = &book._asks
        cdef int ps = book.px_scale, qs = book.qty_scale
        if sp.layout == INTERLEAVED:
            for i in range(d):
                pos = _put_level(sp, sl, &hits, self.buf, pos, b, BID, i, ps, qs)
                pos = _put_level(sp, sl, &hits, self.buf, pos, a, ASK, i, ps, qs)
        elif sp.layout == ASKS_THEN_BIDS:
            for i in range(d):
                pos = _put_level(sp, sl, &hits, self.buf, pos, a, ASK, i, ps, qs)
            for i in range(d):
                pos = _put_level(sp, sl, &hits, self.buf, pos, b, BID, i, ps, qs)
        else:
            for i in range(d):
                pos = _put_level(sp, sl, &hits, self.buf, pos, b, BID, i, ps, qs)
            for i in range(d):
                pos = _put_level(sp, sl, &hits, self.buf, pos, a, ASK, i, ps, qs)
        self.cache_hits += hits
        return pos

    cdef uint32_t crc32(self, L2Book book) noexcept nogil:
        cdef Py_ssize_t n = self.build(book)
        return vl_crc32(0, <const unsigned char *>self.buf, <size_t>n)

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


def crc32(data, uint32_t crc=0) -> int:
    """zlib.crc32(data, crc), computed as the checksums compute it (carry-less multiplication
    where the CPU has it); for differential tests."""
    cdef const unsigned char[:] v = memoryview(data).cast("B") if len(data) else b"\0"
    if not len(data):
        return crc
    return vl_crc32(crc, &v[0], <size_t>len(data))


CLMUL_BUILT = bool(VL_CRC32_CLMUL)   # the folding path is compiled in (used when the CPU has PCLMULQDQ)
