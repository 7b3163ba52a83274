# SPDX-License-Identifier: Apache-2.0
# Latency histogram: C-level API for other Cython modules (cimport venuelink.ext.histogram).
#
# Bucket layout (log-linear, HDR style, SUB_BITS = 7):
#   * values 0 .. 255 ns: one bucket per nanosecond (exact), bucket index == value.
#   * every power of two [2^k, 2^(k+1)) with k >= 8 is split into 128 equal linear
#     sub-buckets of width 2^(k-7).
#   index(v) = (s << 7) + (v >> s) with s = 56 - clzll(v | 255), i.e. s = max(0, msb(v) - 7).
#   A bucket of width w = 2^s starts at lo >= 128 * w, so its midpoint lo + w/2 is within
#   w/2 / lo <= 1/256 (0.39 %) of every value in the bucket (0 % below 256 ns). Using the
#   inclusive upper bound instead would be <= 1/128 (0.78 %).
#   Tracked range 0 .. MAX_VALUE_NS = 60 s; that needs HIST_NBUCKETS = index(60e9) + 1 = 3808
#   uint64 counters (29.75 KiB) stored inline in the object -- no Python objects per bucket.
#   Values > 60 s are counted in `overflow` (and in total_count / sum / max), not in a bucket.
#
# Hot path: h.record_ns(v) (inline, nogil, O(1)). It is named record_ns, not record, because
# the Python-level `record()` (which raises ValueError on negatives) is a different def
# method and Cython cannot give a cdef and a def method the same name: a Cython caller
# writing h.record(v) would silently get the Python method. In C, negative values clamp
# to 0 (bucket 0, and 0 is what min/sum see); they never raise.
# Not thread-safe: one writer per Histogram (merge per-thread histograms instead).
cimport cython
from libc.stdint cimport int64_t, uint64_t


cdef extern from "vl_common.h":
    bint VL_UNLIKELY(bint) nogil
    bint VL_LIKELY(bint) nogil


cdef extern from *:
    """
    #ifndef VL_HISTOGRAM_LAYOUT
    #define VL_HISTOGRAM_LAYOUT
    #define VL_HIST_MAX_VALUE_NS INT64_C(60000000000)
    #endif
    """
    const int64_t VL_HIST_MAX_VALUE_NS
    int __builtin_clzll(unsigned long long) nogil


cdef enum:
    HIST_SUB_BITS = 7
    HIST_SUB_COUNT = 128          # 1 << HIST_SUB_BITS: linear sub-buckets per power of two
    HIST_EXACT_LIMIT = 256        # values below this have their own bucket
    HIST_NBUCKETS = 3808          # hist_bucket_index(VL_HIST_MAX_VALUE_NS) + 1


cdef inline Py_ssize_t hist_bucket_index(uint64_t v) noexcept nogil:
    """Bucket of a value 0 <= v <= VL_HIST_MAX_VALUE_NS; O(1), branch free."""
    cdef int s = (63 - HIST_SUB_BITS) - __builtin_clzll(v | <uint64_t>(HIST_EXACT_LIMIT - 1))
    return (<Py_ssize_t>s << HIST_SUB_BITS) + <Py_ssize_t>(v >> s)


cdef inline int hist_bucket_shift(Py_ssize_t i) noexcept nogil:
    """log2 of the width of bucket i."""
    cdef Py_ssize_t s = (i >> HIST_SUB_BITS) - 1
    return <int>(s if s > 0 else 0)


cdef inline int64_t hist_bucket_lower(Py_ssize_t i) noexcept nogil:
    """Smallest value that maps to bucket i."""
    cdef int s = hist_bucket_shift(i)
    return <int64_t>(i - (<Py_ssize_t>s << HIST_SUB_BITS)) << s


cdef inline int64_t hist_bucket_upper(Py_ssize_t i) noexcept nogil:
    """Largest value that maps to bucket i (inclusive; the last bucket stops at 60 s)."""
    cdef int64_t u = hist_bucket_lower(i) + ((<int64_t>1 << hist_bucket_shift(i)) - 1)
    return u if u < VL_HIST_MAX_VALUE_NS else VL_HIST_MAX_VALUE_NS


cdef inline int64_t hist_bucket_mid(Py_ssize_t i) noexcept nogil:
    """Representative value of bucket i: lower + width/2 (== the value itself below 256)."""
    return hist_bucket_lower(i) + ((<int64_t>1 << hist_bucket_shift(i)) >> 1)


@cython.final
cdef class Histogram:
    cdef uint64_t total_count      # every recorded value, overflow included
    cdef uint64_t overflow         # values > VL_HIST_MAX_VALUE_NS
    cdef uint64_t sum_lo           # 128-bit exact sum of recorded values (after clamping)
    cdef uint64_t sum_hi
    cdef int64_t min_ns            # INT64_MAX while empty
    cdef int64_t max_ns            # 0 while empty
    cdef uint64_t counts[HIST_NBUCKETS]

    cdef inline void record_ns(self, int64_t value_ns) noexcept nogil:
        """Record one value in ns. O(1). Negative -> clamped to 0; > 60 s -> overflow."""
        cdef uint64_t v, old
        if VL_UNLIKELY(value_ns < 0):
            value_ns = 0
        v = <uint64_t>value_ns
        self.total_count += 1
        old = self.sum_lo
        self.sum_lo = old + v
        self.sum_hi += self.sum_lo < old
        if value_ns < self.min_ns:
            self.min_ns = value_ns
        if value_ns > self.max_ns:
            self.max_ns = value_ns
        if VL_UNLIKELY(value_ns > VL_HIST_MAX_VALUE_NS):
            self.overflow += 1
            return
        self.counts[hist_bucket_index(v)] += 1

    # Nearest-rank quantile, q in [0, 1] (values outside are clamped, NaN acts as 0):
    # the bucket holding the ceil(q * count)-th smallest value, reported as its midpoint,
    # clamped to [min, max] actually recorded. Rank 1 -> min and rank count -> max (exact);
    # a rank that falls in the overflow (> 60 s) -> max. Empty -> 0.
    cdef int64_t value_at_quantile(self, double q) noexcept nogil
    # Number of recorded values <= bound_ns, counting only whole buckets: exact when
    # bound_ns is a bucket's upper bound, < min, >= max or in 0..255; otherwise values in
    # the bucket straddling bound_ns count as above it (exact count at a bound lower by
    # less than 1/128 of bound_ns). Overflow values count only once bound_ns >= max.
    cdef uint64_t count_at_or_below(self, int64_t bound_ns) noexcept nogil
    # self += other (other must not be None). Merging a histogram into itself doubles it.
    cdef void merge_from(self, Histogram other) noexcept nogil
    cpdef void reset(self) noexcept nogil
