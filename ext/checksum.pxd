# SPDX-License-Identifier: Apache-2.0
# CRC32 over a venue-defined string form of the top of an L2Book. A venue describes its form as a
# ChecksumSpec (data, not code); the string is built in a preallocated buffer without the GIL.
from libc.stdint cimport uint32_t, int32_t, int64_t
from venuelink.ext.book cimport L2Book

cpdef enum ChecksumLayout:
    INTERLEAVED = 1        # bid0, ask0, bid1, ask1, ... (a missing side is skipped): OKX, Bitfinex, Bitget
    ASKS_THEN_BIDS = 2     # asks best-first, then bids best-first: Kraken
    BIDS_THEN_ASKS = 3

cdef struct ChecksumSpec:
    int depth              # levels per side
    int layout             # ChecksumLayout
    char sep               # between every number (0: none)
    int px_frac            # fractional digits printed for prices; -1: canonical (no trailing zeros)
    int qty_frac           # same for sizes
    bint strip_dot_zeros   # drop '.' then leading zeros of each number (Kraken)
    bint negate_ask_qty    # ask sizes printed negative (Bitfinex)

cdef struct NumSlot:
    # one formatted number: price or size mantissa at its scale -> its text (scale -1: empty)
    int64_t v
    int scale
    int n
    char text[24]

cdef struct LevelSlot:
    # one level's text, "px<sep>qty" (one cache line): its price and size mantissas at the book's
    # scales -> the text (scales -1: empty)
    int64_t px
    int64_t qty
    int scales             # px_scale << 8 | qty_scale
    int n
    char text[40]

cdef class Checksum:
    cdef ChecksumSpec spec
    cdef char *buf
    cdef Py_ssize_t cap
    cdef NumSlot *slots        # CACHE_SLOTS for prices, then CACHE_SLOTS for sizes
    cdef LevelSlot *lslots     # LEVEL_SLOTS whole levels, looked up before the numbers
    cdef public long long cache_hits          # numbers whose text came from the cache
    cdef public long long level_hits          # levels whose whole text came from the cache
    cdef Py_ssize_t build(self, L2Book book) noexcept nogil
    cdef uint32_t crc32(self, L2Book book) noexcept nogil
