# SPDX-License-Identifier: Apache-2.0
# L2 order book on int64 fixed-point prices and sizes. C-level API for adapters and the engine.
from libc.stdint cimport int64_t
from venuelink.ext.types cimport px_t, qty_t, ts_ns_t

cdef struct Level:
    int64_t key      # bids: price; asks: -price -> both sides ascending, best level last
    qty_t qty

cdef struct Ladder:
    Level *lv        # levels live in lv[lo:hi], sorted by key ascending; lv[hi-1] is the best
    Py_ssize_t lo
    Py_ssize_t hi
    Py_ssize_t cap

# apply_level() results
cdef enum ApplyResult:
    APPLY_INSERTED = 1
    APPLY_UPDATED = 2
    APPLY_DELETED = 3
    APPLY_MISSING_DELETE = 4   # size 0 for a price we do not hold (normal after depth caps)
    APPLY_BEYOND_CAP = 5       # new level worse than every level of a full depth-capped side

cdef class L2Book:
    cdef Ladder _bids
    cdef Ladder _asks
    cdef readonly int px_scale
    """Fractional digits of price mantissas."""
    cdef readonly int qty_scale
    """Fractional digits of size mantissas."""
    cdef public Py_ssize_t depth_cap
    """Keep at most this many levels per side (venues that publish N levels); 0 = unlimited."""
    cdef public int64_t seq
    """Last applied venue sequence / update id (venue-defined; -1 before the first snapshot)."""
    cdef public int64_t prev_seq
    """Sequence the last applied message declared as its predecessor, where the venue sends one."""
    cdef public ts_ns_t ts_exchange_ns
    """Venue timestamp of the last applied message."""
    cdef public ts_ns_t ts_recv_ns
    """Local receive time of the last applied message."""
    cdef public int64_t n_updates
    """Level updates applied since creation."""

    cdef Ladder *_side(self, int side) noexcept nogil
    cdef int apply_level(self, int side, px_t px, qty_t qty) except -1 nogil
    cdef int set_side(self, int side, const px_t *px, const qty_t *qty, Py_ssize_t n) except -1 nogil
    cdef void clear_levels(self) noexcept nogil
    cdef void trim(self) noexcept nogil
    cdef Py_ssize_t count(self, int side) noexcept nogil
    cdef bint level_at(self, int side, Py_ssize_t i, px_t *px, qty_t *qty) noexcept nogil
    cdef bint crossed(self) noexcept nogil
