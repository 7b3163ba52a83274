# SPDX-License-Identifier: Apache-2.0
# Shared C types for the hot path. Prices and sizes are int64 fixed-point mantissas at a
# per-instrument scale (number of fractional decimal digits); time is int64 nanoseconds.
from libc.stdint cimport int64_t, uint64_t, int32_t, uint32_t

ctypedef int64_t px_t      # price mantissa: value * 10**px_scale
ctypedef int64_t qty_t     # size mantissa: value * 10**qty_scale
ctypedef int64_t ts_ns_t   # nanoseconds (epoch for wall clock, arbitrary origin for monotonic)

cpdef enum Side:
    BID = 1
    ASK = 2

cdef extern from "vl_levels.h" nogil:
    ctypedef struct VlLevels:
        int64_t *px
        int64_t *qty
        size_t n
        size_t cap
    int vl_levels_grow(VlLevels *l)
    int vl_levels_reserve(VlLevels *l, size_t n)
    void vl_levels_free(VlLevels *l)
