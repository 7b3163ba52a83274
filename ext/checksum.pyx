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
from venuelink.ext.book cimport L2Book, Ladder, Level
from venuelink.ext.types cimport BID, ASK
from venuelink.ext.decimal cimport vl_format_fixed

cdef extern from "vl_crc32.h" nogil:
    uint32_t vl_crc32(uint32_t crc, const unsigned char *p, size_t n)
    int VL_CRC32_CLMUL

cdef enum:
    NUM_MAX = 64          # bytes one formatted number may take (sign, 19 digits, '.', padding)
    CACHE_BITS = 9
    CACHE_SLOTS = 512     # per kind (prices, sizes): direct-mapped by the mantissa's hash
    SLOT_TEXT = 24        # sizeof(NumSlot.text): longer texts are formatted every time
    LEVEL_BITS = 9
    LEVEL_SLOTS = 512     # whole levels (price and size), direct-mapped by both mantissas' hash
    LEVEL_TEXT = 40       # sizeof(LevelSlot.text)


# Every message's checksum covers the top levels of both sides (OKX: 50 levels, 100 numbers),
# while a message changes only a few of them. Two small direct-mapped caches keep texts: whole
# levels keyed by price and size (an unchanged level costs one lookup and a fixed 40-byte copy),
# and behind them single numbers keyed by mantissa and scale (a level whose size changed formats
# only the size). A collision just formats again.
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


cdef struct Ctx:
    # what one build() passes down to the levels that miss the level cache
    const ChecksumSpec *s
    NumSlot *slots
    char *out
    long long hits         # numbers found in the number caches
    long long misses       # levels not found in the level cache
    int px_scale
    int qty_scale
    int scales


cdef Py_ssize_t _put_level_miss(Ctx *c, Py_ssize_t pos, int64_t px, int64_t qty, LevelSlot *ls) noexcept nogil:
    # a level not in the level cache: its numbers through the number caches, then cached whole
    cdef Py_ssize_t start = pos, n
    cdef char *out = c.out
    c.misses += 1
    pos += _put_cached(c.s, c.slots, out + pos, px, c.px_scale, c.s.px_frac, &c.hits)
    if c.s.sep:
        out[pos] = c.s.sep
        pos += 1
    pos += _put_cached(c.s, c.slots + CACHE_SLOTS, out + pos, qty, c.qty_scale, c.s.qty_frac, &c.hits)
    n = pos - start
    if n <= LEVEL_TEXT:
        ls.px, ls.qty, ls.scales, ls.n = px, qty, c.scales, <int>n
        memcpy(ls.text, out + start, LEVEL_TEXT)
    return pos


cdef inline Py_ssize_t _put_level(Ctx *c, LevelSlot *lslots, char *out, char sep, int scales, Py_ssize_t pos,
                                  int64_t px, int64_t qty) noexcept nogil:
    # one level's text at out[pos], after a separator unless it is the first; most top levels are
    # as they were in the last message, so their whole text is one lookup and a fixed copy
    if pos and sep:
        out[pos] = sep
        pos += 1
    cdef LevelSlot *ls = &lslots[((<uint64_t>px * <uint64_t>0x9E3779B97F4A7C15ULL)
                                  ^ (<uint64_t>qty * <uint64_t>0xC2B2AE3D27D4EB4FULL)) >> (64 - LEVEL_BITS)]
    if ls.px == px and ls.qty == qty and ls.scales == scales:
        memcpy(out + pos, ls.text, LEVEL_TEXT)     # out has 2 * NUM_MAX + 1 bytes reserved per level
        return pos + ls.n
    return _put_level_miss(c, pos, px, qty, ls)


cdef inline Py_ssize_t _put_side(Ctx *c, LevelSlot *lslots, char *out, char sep, int scales, Py_ssize_t pos,
                                 const Level *top, Py_ssize_t n, bint ask) noexcept nogil:
    # n levels best-first from top (the best level; the next ones lie below it in memory)
    cdef Py_ssize_t i
    cdef int64_t qsign = -1 if ask and c.s.negate_ask_qty else 1
    for i in range(n):
        pos = _put_level(c, lslots, out, sep, scales, pos, -top[-i].key if ask else top[-i].key,
                         qsign * top[-i].qty)
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
        self.lslots = <LevelSlot *>calloc(LEVEL_SLOTS, sizeof(LevelSlot))
        if self.buf == NULL or self.slots == NULL or self.lslots == NULL:
            raise MemoryError()
        for i in range(2 * CACHE_SLOTS):
            self.slots[i].scale = -1                   # empty: no number has scale -1
        for i in range(LEVEL_SLOTS):
            self.lslots[i].scales = -1                 # empty: scales are never negative

    def __dealloc__(self):
        free(self.buf)
        free(self.slots)
        free(self.lslots)

    cdef Py_ssize_t build(self, L2Book book) noexcept nogil:
        """Write the string form into self.buf; returns its length."""
        cdef Py_ssize_t i, pos = 0
        cdef Ctx c
        c.s, c.slots, c.out, c.hits, c.misses = &self.spec, self.slots, self.buf, 0, 0
        c.px_scale, c.qty_scale = book.px_scale, book.qty_scale
        c.scales = book.px_scale << 8 | book.qty_scale
        cdef LevelSlot *ls = self.lslots
        cdef char *out = self.buf
        cdef char sep = self.spec.sep
        cdef int scales = c.scales
        cdef Py_ssize_t d = self.spec.depth
        cdef Py_ssize_t nb = min(d, book._bids.hi - book._bids.lo)
        cdef Py_ssize_t na = min(d, book._asks.hi - book._asks.lo)
        cdef const Level *bt = book._bids.lv + book._bids.hi - 1 if nb > 0 else NULL
        cdef const Level *at = book._asks.lv + book._asks.hi - 1 if na > 0 else NULL
        cdef int64_t aq = -1 if self.spec.negate_ask_qty else 1
        if self.spec.layout == INTERLEAVED:
            for i in range(min(nb, na)):
                pos = _put_level(&c, ls, out, sep, scales, pos, bt[-i].key, bt[-i].qty)
                pos = _put_level(&c, ls, out, sep, scales, pos, -at[-i].key, aq * at[-i].qty)
            if nb > na:                                  # the shorter side's missing levels skipped
                pos = _put_side(&c, ls, out, sep, scales, pos, bt - na, nb - na, False)
            elif na > nb:
                pos = _put_side(&c, ls, out, sep, scales, pos, at - nb, na - nb, True)
        elif self.spec.layout == ASKS_THEN_BIDS:
            pos = _put_side(&c, ls, out, sep, scales, pos, at, na, True)
            pos = _put_side(&c, ls, out, sep, scales, pos, bt, nb, False)
        else:
            pos = _put_side(&c, ls, out, sep, scales, pos, bt, nb, False)
            pos = _put_side(&c, ls, out, sep, scales, pos, at, na, True)
        self.cache_hits += c.hits + 2 * (nb + na - c.misses)
        self.level_hits += nb + na - c.misses
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
